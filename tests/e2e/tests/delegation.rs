//! Delegation (`keys:manage`, SPEC §9) and tenant limits end to end: real workerd through
//! `wrangler dev`, HTTP only. A manager acts for its own account within its own limits; the
//! operator's decisions bind it; quotas, write rates and all-or-nothing commands hold; and an
//! account-wide change to a large account does not stall another tenant's revocation.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`     — the harness defaults (trials on delegation rules).
//! * `limits` — `MAX_KEYS_PER_ACCOUNT=5`, `MANAGER_WRITES_PER_MINUTE=3` (quota and write rate;
//!   the quota trial writes as the operator, which is not rate limited).
//! * `faulty` — `KEYGATE_TEST_FAIL_AFTER_WRITES=1`: every admin command fails at its 2nd write.
//! * `big`    — the defaults, for the large-account measurement alone.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Manager and edge requests are sent from
//! [`INSIDE`] (`CF-Connecting-IP`, which `wrangler dev` passes through), an address inside
//! every allowlist these trials set.

use std::panic::resume_unwind;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    self, Account, Key, as_key, get_accounts, key, key_body, key_from, op, refused, test_account,
};
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};

const DAY: i64 = 24 * 60 * 60;
/// The client address of manager and edge requests.
const INSIDE: &str = "10.1.2.3";
/// `MAX_KEYS_PER_ACCOUNT` and `MANAGER_WRITES_PER_MINUTE` of the `limits` gateway.
const MAX_KEYS: usize = 5;
const WRITES_PER_MINUTE: usize = 3;
/// Keys of the large account (the default `MAX_KEYS_PER_ACCOUNT`).
const LARGE: usize = 1_000;
/// How long the worker's isolate trusts an edge record it cached (`CACHE_TTL_MS`,
/// docs/storage.md).
const ISOLATE_CACHE_TTL: Duration = Duration::from_secs(10);

struct Ctx {
    gw: Gateway,
    limits: Gateway,
    faulty: Gateway,
    big: Gateway,
}

fn main() {
    run(
        || {
            let [gw, limits, faulty, big] = start_together([
                Gateway::builder(),
                Gateway::builder()
                    .var("MAX_KEYS_PER_ACCOUNT", "5")
                    .var("MANAGER_WRITES_PER_MINUTE", "3"),
                Gateway::builder().var("KEYGATE_TEST_FAIL_AFTER_WRITES", "1"),
                Gateway::builder(),
            ]);
            Ctx {
                gw,
                limits,
                faulty,
                big,
            }
        },
        tests![
            // First: it waits for the end of a one-minute window (up to ~75 s).
            manager_writes_are_rate_limited_per_key,
            // §9 delegation.
            only_the_operator_re_enables_what_the_operator_disabled,
            manager_cannot_loosen_another_key_but_may_take_it_away,
            manager_mints_keys_only_within_its_own_limits,
            manager_cannot_loosen_itself,
            leaked_or_rolled_manager_cannot_manage,
            // Tenant limits and atomicity.
            keys_per_account_are_capped,
            a_failed_command_changes_nothing,
            // Last: heavy (1,000 keys), on its own gateway.
            large_account_suspension_does_not_stall_other_tenants,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// A manager key's admin request from [`INSIDE`], audited.
fn manage(gw: &Gateway, secret: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    as_key(gw, INSIDE, secret, method, path, body)
}

/// A manager key or (`None`) the operator.
type Who<'a> = Option<&'a Key>;

/// Target key's scopes, disabled by, re-enabled by, expected status, fields named.
type ReenableCase<'a> = (&'a [&'a str], Who<'a>, Who<'a>, u16, &'a [&'a str]);

fn act(gw: &Gateway, who: Who<'_>, method: &str, path: &str, body: Option<&Value>) -> Resp {
    match who {
        None => op(gw, method, path, body),
        Some(k) => manage(gw, &k.secret, method, path, body),
    }
}

/// `GET /v1/accounts` (bank_data, sandbox) with a test key from `ip`, audited.
fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    get_accounts(gw, INSIDE, secret, pk)
}

#[track_caller]
fn assert_works(gw: &Gateway, secret: &str, pk: &str, what: &str) {
    let r = edge(gw, secret, pk);
    assert_eq!(
        r.status, 200,
        "{what}: the key should work at the edge: {r}"
    );
}

#[track_caller]
fn assert_refused(gw: &Gateway, secret: &str, pk: &str, what: &str) {
    let r = edge(gw, secret, pk);
    assert_eq!(r.status, 401, "{what}: the key should be refused: {r}");
}

fn account(gw: &Gateway, name: &str) -> Account {
    test_account(gw, name, json!({}))
}

/// A key's current view, read by the operator.
fn view(gw: &Gateway, id: &str) -> Value {
    audited::view(gw, &format!("/keys/{id}"))
}

/// Every key of the account (operator view), in creation order.
fn keys(gw: &Gateway, account: &str) -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    loop {
        let mut path = format!("/accounts/{account}/keys?limit=100");
        if let Some(last) = all.last() {
            path.push_str(&format!("&starting_after={}", last["id"].as_str().unwrap()));
        }
        let r = op(gw, "GET", &path, None);
        r.expect_status(200);
        all.extend(r.json["data"].as_array().expect("data").iter().cloned());
        if r.json["has_more"] != json!(true) {
            return all;
        }
    }
}

fn ids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

// ------------------------------------------------------------------------------------------
// §9: a key disabled by the operator can be re-enabled only by the operator
// ------------------------------------------------------------------------------------------

fn only_the_operator_re_enables_what_the_operator_disabled(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "re-enable");
    let narrow = key(
        gw,
        &a.id,
        "narrow manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let star = key(gw, &a.id, "star manager", json!({}));
    let (n, s) = (Some(&narrow), Some(&star));

    let cases: [ReenableCase; 8] = [
        (&["*"], None, n, 403, &[]),
        (&["*"], None, s, 403, &[]),
        (&["*"], None, None, 200, &[]),
        (&["accounts:read"], None, n, 403, &[]),
        (&["*"], s, s, 200, &[]),
        (&["accounts:read"], n, n, 200, &[]),
        // Re-enabling is a change: the result must be within the manager's limits…
        (&["*"], n, n, 403, &["scopes"]),
        // …but a key a manager disabled is not the operator's to keep disabled.
        (&["*"], n, s, 200, &[]),
    ];
    let name = |w: Who| w.map_or("operator".to_string(), |k| k.view["name"].to_string());
    for (scopes, disabler, enabler, status, fields) in cases {
        let what = format!(
            "{scopes:?} key disabled by {}, re-enabled by {}",
            name(disabler),
            name(enabler)
        );
        let t = key(gw, &a.id, "target", json!({"scopes": scopes}));
        let path = format!("/keys/{}", t.id);
        assert_works(gw, &t.secret, &a.pk, &what);
        let r = act(
            gw,
            disabler,
            "PATCH",
            &path,
            Some(&json!({"status": "disabled"})),
        );
        assert_eq!(r.status, 200, "{what}: {r}");
        let by = match disabler {
            None => json!({"type": "operator"}),
            Some(k) => json!({"type": "key", "key_id": k.id}),
        };
        assert_eq!(r.json["disabled_by"], by, "{what}: {r}");
        let disabled = view(gw, &t.id);
        assert_eq!(disabled, r.json, "{what}");
        assert_refused(gw, &t.secret, &a.pk, &what);

        let r = act(
            gw,
            enabler,
            "PATCH",
            &path,
            Some(&json!({"status": "active"})),
        );
        if status == 200 {
            assert_eq!(r.status, 200, "{what}: {r}");
            assert_eq!(r.json["status"], "active", "{what}: {r}");
            assert!(r.json["disabled_by"].is_null(), "{what}: {r}");
            assert_works(gw, &t.secret, &a.pk, &what);
        } else {
            let message = refused(&r, status, fields);
            if disabler.is_none() && enabler.is_some_and(|k| k.id == star.id) {
                assert!(
                    message.contains("admin token"),
                    "{what}: the refusal should say the operator's token is needed: {r}"
                );
            }
            assert_eq!(
                view(gw, &t.id),
                disabled,
                "{what}: the refusal changed the key"
            );
            assert_refused(gw, &t.secret, &a.pk, &what);
        }
    }
}

// ------------------------------------------------------------------------------------------
// §9: changes to other keys stay within the manager's limits; taking power away does not
// ------------------------------------------------------------------------------------------

fn manager_cannot_loosen_another_key_but_may_take_it_away(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "loosen others");
    let limit = now() + 2 * DAY;
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"],
               "allowed_ips": ["10.0.0.0/8"], "expires_at": limit}),
    );
    let wider = key(
        gw,
        &a.id,
        "wider",
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": limit - DAY}),
    );
    let narrower = key(
        gw,
        &a.id,
        "narrower",
        json!({"scopes": ["accounts:read"], "allowed_ips": ["10.1.0.0/16"],
               "expires_at": limit - DAY}),
    );

    // (key, patch, fields named)
    let cases: [(&Key, Value, &[&str]); 6] = [
        (
            &wider,
            json!({"allowed_ips": [], "expires_at": null}),
            &["scopes", "allowed_ips", "expires_at"],
        ),
        // The key is wider than the manager already: any change but a disable is refused.
        (&wider, json!({"name": "renamed"}), &["scopes"]),
        (
            &narrower,
            json!({"allowed_ips": [], "expires_at": null}),
            &["allowed_ips", "expires_at"],
        ),
        (
            &narrower,
            json!({"allowed_ips": ["0.0.0.0/0"]}),
            &["allowed_ips"],
        ),
        (
            &narrower,
            json!({"expires_at": limit + DAY}),
            &["expires_at"],
        ),
        (&narrower, json!({"scopes": ["accounts:*"]}), &["scopes"]),
    ];
    for (k, patch, fields) in cases {
        let before = view(gw, &k.id);
        let r = manage(
            gw,
            &m.secret,
            "PATCH",
            &format!("/keys/{}", k.id),
            Some(&patch),
        );
        refused(&r, 403, fields);
        assert_eq!(
            view(gw, &k.id),
            before,
            "the refused {patch} changed the key"
        );
        assert_works(gw, &k.secret, &a.pk, "after a refused change");
    }
    // Within its limits: fine.
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &format!("/keys/{}", narrower.id),
        Some(&json!({"allowed_ips": ["10.2.0.0/16", "10.1.2.3"], "expires_at": limit})),
    );
    assert_eq!(r.status, 200, "a change within the manager's limits: {r}");

    // Taking the wider key's power away is allowed: disable, report leaked, delete.
    let path = format!("/keys/{}", wider.id);
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &path,
        Some(&json!({"status": "disabled"})),
    );
    assert_eq!(r.status, 200, "disable: {r}");
    assert_refused(gw, &wider.secret, &a.pk, "disabled by the manager");
    let r = manage(gw, &m.secret, "POST", &format!("{path}/leaked"), None);
    assert_eq!(r.status, 200, "report leaked: {r}");
    assert!(r.json["leaked_at"].is_i64(), "{r}");
    let r = manage(gw, &m.secret, "DELETE", &path, None);
    assert_eq!(r.status, 204, "delete: {r}");
    op(gw, "GET", &path, None).expect_status(404);
    assert_refused(gw, &wider.secret, &a.pk, "deleted by the manager");
}

// ------------------------------------------------------------------------------------------
// §9: every key a manager creates is within its scopes, products, allowlist and expiry
// ------------------------------------------------------------------------------------------

fn manager_mints_keys_only_within_its_own_limits(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "mint within");
    let limit = now() + 2 * DAY;
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"], "allowed_ips": ["10.0.0.0/8"],
               "expires_at": limit, "products": ["bank_data"]}),
    );
    let path = format!("/accounts/{}/keys", a.id);

    // From outside its own allowlist the manager cannot even ask.
    let ok = key_body(
        "minted",
        json!({"scopes": ["accounts:read"], "allowed_ips": ["10.1.0.0/16"],
               "expires_at": limit - 3600, "products": ["bank_data"]}),
    );
    let r = as_key(gw, "11.1.2.3", &m.secret, "POST", &path, Some(&ok));
    assert_eq!(r.status, 403, "a manager outside its allowlist: {r}");

    // `ok` with the fields of the change replaced; a null leaves the field out.
    let variant = |change: Value| {
        let mut b = ok.clone();
        for (field, value) in change.as_object().unwrap() {
            match value {
                Value::Null => b.as_object_mut().unwrap().remove(field),
                v => b.as_object_mut().unwrap().insert(field.clone(), v.clone()),
            };
        }
        b
    };
    let cases: [(Value, &[&str]); 13] = [
        (json!({"allowed_ips": null}), &["allowed_ips"]),
        (json!({"allowed_ips": ["11.0.0.0/8"]}), &["allowed_ips"]),
        (json!({"allowed_ips": ["0.0.0.0/0"]}), &["allowed_ips"]),
        (
            json!({"allowed_ips": ["10.0.0.0/8", "11.0.0.0/8"]}),
            &["allowed_ips"],
        ),
        (json!({"allowed_ips": ["::/0"]}), &["allowed_ips"]),
        (json!({"expires_at": null}), &["expires_at"]),
        (json!({"expires_at": limit + 3600}), &["expires_at"]),
        (json!({"products": []}), &["products"]),
        (json!({"products": null}), &["products"]),
        (json!({"products": ["payments"]}), &["products"]),
        (
            json!({"products": ["bank_data", "payments"]}),
            &["products"],
        ),
        (json!({"scopes": null}), &["scopes"]),
        (
            json!({"scopes": null, "allowed_ips": null, "expires_at": null, "products": null}),
            &["scopes", "allowed_ips", "expires_at", "products"],
        ),
    ];
    for (change, fields) in cases {
        let r = manage(gw, &m.secret, "POST", &path, Some(&variant(change.clone())));
        refused(&r, 403, fields);
    }
    assert_eq!(
        ids(&keys(gw, &a.id)),
        std::slice::from_ref(&m.id),
        "a refused create issued a key"
    );

    // Within every limit, and exactly at them: 201.
    let within = key_from(&manage(gw, &m.secret, "POST", &path, Some(&ok)), 201);
    for field in ["scopes", "allowed_ips", "expires_at", "products"] {
        assert_eq!(within.view[field], ok[field], "{field} of the minted key");
    }
    assert_works(gw, &within.secret, &a.pk, "a minted key");
    let r = get_accounts(gw, "10.2.0.1", &within.secret, &a.pk);
    assert_eq!(r.status, 403, "the minted key's allowlist applies: {r}");
    let at = variant(json!({"allowed_ips": ["10.0.0.0/8"], "expires_at": limit}));
    key_from(&manage(gw, &m.secret, "POST", &path, Some(&at)), 201);
}

// ------------------------------------------------------------------------------------------
// §9: a manager cannot loosen its own restrictions
// ------------------------------------------------------------------------------------------

fn manager_cannot_loosen_itself(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "loosen itself");
    let limit = now() + 2 * DAY;
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"], "allowed_ips": ["10.0.0.0/8"],
               "expires_at": limit, "products": ["bank_data"]}),
    );
    let path = format!("/keys/{}", m.id);
    let loosen = |patch: Value, fields: &[&str]| {
        let before = view(gw, &m.id);
        let r = manage(gw, &m.secret, "PATCH", &path, Some(&patch));
        refused(&r, 403, fields);
        assert_eq!(
            view(gw, &m.id),
            before,
            "the refused {patch} changed the key"
        );
    };
    let cases: [(Value, &[&str]); 8] = [
        (json!({"allowed_ips": []}), &["allowed_ips"]),
        (
            json!({"allowed_ips": ["10.0.0.0/8", "11.0.0.0/8"]}),
            &["allowed_ips"],
        ),
        (json!({"expires_at": null}), &["expires_at"]),
        (json!({"expires_at": limit + DAY}), &["expires_at"]),
        (
            json!({"allowed_ips": [], "expires_at": null}),
            &["allowed_ips", "expires_at"],
        ),
        (json!({"scopes": ["*"]}), &["scopes"]),
        (json!({"products": []}), &["products"]),
        (
            json!({"products": ["bank_data", "payments"]}),
            &["products"],
        ),
    ];
    for (patch, fields) in cases {
        loosen(patch, fields);
    }

    // Tightening itself is fine, and then binds it.
    let tighter = json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": limit - 3600});
    let r = manage(gw, &m.secret, "PATCH", &path, Some(&tighter));
    assert_eq!(r.status, 200, "tightening itself: {r}");
    assert_eq!(r.json["allowed_ips"], tighter["allowed_ips"], "{r}");
    assert_eq!(r.json["expires_at"], tighter["expires_at"], "{r}");
    loosen(json!({"allowed_ips": ["10.0.0.0/8"]}), &["allowed_ips"]);
    loosen(json!({"expires_at": limit}), &["expires_at"]);
    assert_works(gw, &m.secret, &a.pk, "the tightened manager");
}

// ------------------------------------------------------------------------------------------
// §9: a key reported leaked, or rolled, cannot act as a manager
// ------------------------------------------------------------------------------------------

fn leaked_or_rolled_manager_cannot_manage(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "leaked or rolled");
    let scopes = json!({"scopes": ["keys:manage", "accounts:read"]});
    let leaked = key(gw, &a.id, "leaked manager", scopes.clone());
    let rolled = key(gw, &a.id, "rolled manager", scopes);
    let path = format!("/accounts/{}/keys", a.id);
    let create = json!({"name": "made", "environment": "test", "scopes": ["accounts:read"]});

    let r = op(gw, "POST", &format!("/keys/{}/leaked", leaked.id), None);
    r.expect_status(200);
    let revoke_at = r.json["revoke_at"].as_i64().expect("revoke_at");
    assert!(
        (revoke_at - (now() + 3 * DAY)).abs() < 60,
        "default leak grace is 3 days: {r}"
    );
    let r = op(
        gw,
        "POST",
        &format!("/keys/{}/roll", rolled.id),
        Some(&json!({})),
    );
    r.expect_status(200);
    let successor = r.json["secret"].as_str().expect("secret").to_string();

    for (k, why) in [(&leaked, "leaked"), (&rolled, "rolled")] {
        assert_works(gw, &k.secret, &a.pk, &format!("{why}, in its grace period"));
        let r = manage(gw, &k.secret, "POST", &path, Some(&create));
        let message = refused(&r, 403, &[]);
        assert!(
            message.contains(why),
            "the refusal should say the key was {why}: {r}"
        );
    }
    let before = keys(gw, &a.id).len();
    assert_eq!(before, 3, "the refused creates issued a key");
    key_from(&manage(gw, &successor, "POST", &path, Some(&create)), 201);
}

// ------------------------------------------------------------------------------------------
// §9 tenant limits: MAX_KEYS_PER_ACCOUNT and MANAGER_WRITES_PER_MINUTE
// ------------------------------------------------------------------------------------------

fn keys_per_account_are_capped(c: &Ctx) {
    let gw = &c.limits;
    let a = account(gw, "capped");
    let other = account(gw, "not capped");
    let path = format!("/accounts/{}/keys", a.id);
    let make = |i: usize| {
        op(
            gw,
            "POST",
            &path,
            Some(&key_body(&format!("k{i}"), json!({}))),
        )
    };
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let mut made = 1;
    let full = loop {
        let r = make(made);
        if r.status != 201 {
            break r;
        }
        made += 1;
        assert!(made <= MAX_KEYS, "more than {MAX_KEYS} keys were created");
    };
    assert_eq!(made, MAX_KEYS, "the cap came early: {full}");
    let message = refused(&full, 409, &[]);
    assert!(message.contains("MAX_KEYS_PER_ACCOUNT"), "{full}");
    let at_cap = keys(gw, &a.id);

    // A manager's create and a roll need a key too: 409, and nothing changes.
    let r = manage(
        gw,
        &manager.secret,
        "POST",
        &path,
        Some(&key_body("m", json!({}))),
    );
    refused(&r, 409, &[]);
    let last = at_cap.last().unwrap()["id"].as_str().unwrap().to_string();
    let r = op(gw, "POST", &format!("/keys/{last}/roll"), Some(&json!({})));
    refused(&r, 409, &[]);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("MAX_KEYS_PER_ACCOUNT")
    );
    assert_eq!(
        keys(gw, &a.id),
        at_cap,
        "a refused create or roll changed the keys"
    );

    // Another account is unaffected; after a delete there is room for one more.
    key(gw, &other.id, "other", json!({}));
    op(gw, "DELETE", &format!("/keys/{last}"), None).expect_status(204);
    make(MAX_KEYS + 1).expect_status(201);
    refused(&make(MAX_KEYS + 2), 409, &[]);
}

/// Waits, if needed, so that at least `margin` seconds remain in the current minute.
fn with_margin_in_this_minute(margin: i64) {
    let left = 60 - now().rem_euclid(60);
    if left < margin {
        thread::sleep(Duration::from_millis(left as u64 * 1000 + 200));
    }
}

fn manager_writes_are_rate_limited_per_key(c: &Ctx) {
    let gw = &c.limits;
    let a = account(gw, "rate limited");
    let manager = |name| {
        key(
            gw,
            &a.id,
            name,
            json!({"scopes": ["keys:manage", "accounts:read"]}),
        )
    };
    let (m1, m2) = (manager("m1"), manager("m2"));
    let t = key(gw, &a.id, "target", json!({"scopes": ["accounts:read"]}));
    let path = format!("/keys/{}", t.id);
    let rename = |who: Who, name: &str| act(gw, who, "PATCH", &path, Some(&json!({"name": name})));

    with_margin_in_this_minute(15);
    for i in 1..=WRITES_PER_MINUTE {
        let r = rename(Some(&m1), &format!("w{i}"));
        assert_eq!(r.status, 200, "write {i} of {WRITES_PER_MINUTE}: {r}");
        // Reads do not count.
        manage(gw, &m1.secret, "GET", &path, None).expect_status(200);
    }
    let r = rename(Some(&m1), "w4");
    let refused_at = Instant::now();
    let left = 60 - now().rem_euclid(60);
    let message = refused(&r, 429, &[]);
    assert!(message.contains("MANAGER_WRITES_PER_MINUTE"), "{r}");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without an integer Retry-After: {r}"));
    assert!((1..=60).contains(&retry), "Retry-After out of 1..=60: {r}");
    assert!(
        (retry as i64 - left).abs() <= 2,
        "Retry-After {retry} should be the {left} s left in the minute: {r}"
    );
    // Every kind of write counts; nothing was applied.
    let create = key_body("more", json!({"scopes": ["accounts:read"]}));
    let accounts_keys = format!("/accounts/{}/keys", a.id);
    refused(
        &manage(gw, &m1.secret, "POST", &accounts_keys, Some(&create)),
        429,
        &[],
    );
    assert_eq!(view(gw, &t.id)["name"], "w3");
    assert_eq!(
        keys(gw, &a.id).len(),
        3,
        "a rate-limited create issued a key"
    );
    // Reads still pass; another manager key and the operator are not limited by m1's count.
    manage(gw, &m1.secret, "GET", &path, None).expect_status(200);
    manage(gw, &m1.secret, "GET", &accounts_keys, None).expect_status(200);
    rename(Some(&m2), "m2").expect_status(200);
    for i in 0..=WRITES_PER_MINUTE {
        rename(None, &format!("operator {i}")).expect_status(200);
    }

    // Retry-After is honest: after it, a write passes.
    let wait = Duration::from_secs(retry).saturating_sub(refused_at.elapsed());
    eprintln!("measured: Retry-After {retry} s; waiting {wait:?}");
    thread::sleep(wait);
    let r = rename(Some(&m1), "after the window");
    assert_eq!(r.status, 200, "a write after Retry-After: {r}");
}

// ------------------------------------------------------------------------------------------
// Atomicity: a command that fails half way changes nothing
// ------------------------------------------------------------------------------------------

fn a_failed_command_changes_nothing(c: &Ctx) {
    let gw = &c.faulty;
    // Account and key creation are one write each: they pass. An entitlement writes the
    // entitlement and the account (whose product keys every edge record carries): it fails
    // whole, and the account stays without products.
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "all or nothing", "agreement": "test"})),
    );
    r.expect_status(201);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let r = op(
        gw,
        "PUT",
        &format!("/accounts/{id}/products/bank_data"),
        None,
    );
    refused(&r, 503, &[]);
    let r = op(gw, "GET", &format!("/accounts/{id}"), None);
    assert_eq!(
        r.json["products"],
        json!([]),
        "a failed entitlement left a product: {r}"
    );
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{id}/products/bank_data"),
        None,
    );
    assert_eq!(
        r.status, 404,
        "a failed entitlement left an entitlement: {r}"
    );
    // Without a product, the sandbox's own tools (no product key) prove a key still works.
    let a = Account {
        id,
        pk: String::new(),
    };
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read", "sandbox:read"]}),
    );
    let k = key(
        gw,
        &a.id,
        "rolled",
        json!({"scopes": ["accounts:read", "sandbox:read"]}),
    );
    let assert_works = |gw: &Gateway, secret: &str, _pk: &str, what: &str| {
        let r = gw
            .get("/v1/sandbox/scenarios")
            .bearer(secret)
            .client_ip(INSIDE)
            .send();
        assert_eq!(
            r.status, 200,
            "{what}: the key should work at the edge: {r}"
        );
    };
    let before = keys(gw, &a.id);

    // A roll writes the successor, then the old key; a leak report of two keys, two keys.
    let check = |what: &str, r: Resp| {
        refused(&r, 503, &[]);
        let after = keys(gw, &a.id);
        assert_eq!(after, before, "{what} failed but changed the keys");
        let old = &after[1];
        assert!(
            old["rolled_to"].is_null() && old["revoke_at"].is_null() && old["leaked_at"].is_null(),
            "{what}: {old}"
        );
        assert_works(gw, &k.secret, &a.pk, what);
        assert_works(gw, &m.secret, &a.pk, what);
    };
    let roll = format!("/keys/{}/roll", k.id);
    check("operator roll", op(gw, "POST", &roll, Some(&json!({}))));
    let grace = json!({"grace_seconds": 0});
    check(
        "manager roll",
        manage(gw, &m.secret, "POST", &roll, Some(&grace)),
    );
    let report = json!([{"token": k.secret}, {"token": m.secret}]);
    check("leak report", op(gw, "POST", "/leaks", Some(&report)));

    // A single-write command passes.
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &format!("/keys/{}", k.id),
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(r.status, 200, "a one-write command: {r}");
    assert_eq!(view(gw, &k.id)["name"], "renamed");
}

// ------------------------------------------------------------------------------------------
// §9: an account-wide change to a large account does not stall other tenants
// ------------------------------------------------------------------------------------------

fn large_account_suspension_does_not_stall_other_tenants(c: &Ctx) {
    let gw = &c.big;
    let large = account(gw, "large");
    let small = account(gw, "small");

    // 1,000 keys, created by 8 threads.
    let started = Instant::now();
    let threads = 8;
    let mut made: Vec<(usize, Key)> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let id = &large.id;
                s.spawn(move || {
                    (t..LARGE)
                        .step_by(threads)
                        .map(|i| {
                            let scopes = json!({"scopes": ["accounts:read"]});
                            (i, key(gw, id, &format!("bulk {i}"), scopes))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect()
    });
    made.sort_by_key(|(i, _)| *i);
    let created = Instant::now();
    let creation = created - started;
    eprintln!(
        "measured: created {LARGE} keys in one account with {threads} threads in {:.1} s \
         ({:.1} ms per key)",
        creation.as_secs_f64(),
        creation.as_secs_f64() * 1000.0 / LARGE as f64
    );
    assert_eq!(keys(gw, &large.id).len(), LARGE);
    let b = key(
        gw,
        &small.id,
        "other tenant",
        json!({"scopes": ["accounts:read"]}),
    );
    assert_works(gw, &b.secret, &small.pk, "the other tenant's key");

    // Two samples of the large account: `cold` keys are not read at the edge after their
    // creation, so by the suspension the isolate no longer trusts the records it cached when
    // they were created (CACHE_TTL_MS, docs/storage.md) and reads them again; `warm` keys are
    // read just before the suspension.
    let cold = [0, LARGE / 4, LARGE / 2, 3 * LARGE / 4, LARGE - 1];
    let warm = [
        1,
        LARGE / 4 + 1,
        LARGE / 2 + 1,
        3 * LARGE / 4 + 1,
        LARGE - 2,
    ];
    thread::sleep((ISOLATE_CACHE_TTL + Duration::from_secs(1)).saturating_sub(created.elapsed()));
    for i in warm {
        assert_works(
            gw,
            &made[i].1.secret,
            &large.pk,
            "a key of the large account",
        );
    }
    let statuses = |sample: &[usize]| -> Vec<u16> {
        sample
            .iter()
            .map(|&i| edge(gw, &made[i].1.secret, &large.pk).status)
            .collect()
    };

    // Suspend the large account; ~50 ms later, disable the other tenant's key.
    let (suspend, suspended_in, suspend_answered, disable, disabled_in, b_first, b_refused_in) =
        thread::scope(|s| {
            let suspending = s.spawn(|| {
                let t = Instant::now();
                let r = op(
                    gw,
                    "PATCH",
                    &format!("/accounts/{}", large.id),
                    Some(&json!({"status": "suspended"})),
                );
                (r, t.elapsed(), Instant::now())
            });
            thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            let r = op(
                gw,
                "PATCH",
                &format!("/keys/{}", b.id),
                Some(&json!({"status": "disabled"})),
            );
            let disabled_in = t.elapsed();
            // The first edge request after the answer must be refused; poll only to measure.
            let first = edge(gw, &b.secret, &small.pk).status;
            let mut refused_in = (first == 401).then(|| t.elapsed());
            while refused_in.is_none() && t.elapsed() < Duration::from_secs(30) {
                thread::sleep(Duration::from_millis(50));
                if edge(gw, &b.secret, &small.pk).status == 401 {
                    refused_in = Some(t.elapsed());
                }
            }
            let (suspend, suspended_in, answered) =
                suspending.join().unwrap_or_else(|p| resume_unwind(p));
            (
                suspend,
                suspended_in,
                answered,
                r,
                disabled_in,
                first,
                refused_in,
            )
        });
    // Right after the suspension answered, then polled to measure.
    let cold_now = statuses(&cold);
    let warm_now = statuses(&warm);
    let since_answer = suspend_answered.elapsed();
    let mut cold_refused_in = None;
    while suspend_answered.elapsed() < Duration::from_secs(30) {
        if statuses(&cold).iter().all(|&s| s == 401) {
            cold_refused_in = Some(suspend_answered.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "measured: suspend of the {LARGE}-key account answered in {} ms; the other tenant's \
         disable (sent ~50 ms later) answered in {} ms; its key refused at the edge {:?} after \
         the disable was sent (first request after the answer: {b_first})",
        suspended_in.as_millis(),
        disabled_in.as_millis(),
        b_refused_in,
    );
    eprintln!(
        "measured: the large account's keys, read within {since_answer:?} after the suspend \
         answered: cold {cold:?} -> {cold_now:?}, warm {warm:?} -> {warm_now:?}; every cold \
         one refused {cold_refused_in:?} after the answer"
    );
    suspend.expect_status(200);
    assert_eq!(suspend.json["status"], "suspended", "{suspend}");
    disable.expect_status(200);
    assert!(
        disabled_in < Duration::from_secs(2),
        "the other tenant's disable took {disabled_in:?} behind a {LARGE}-key suspension"
    );
    assert_eq!(
        b_first, 401,
        "the other tenant's disabled key was accepted right after the disable answered \
         (refused after {b_refused_in:?})"
    );
    assert!(
        warm_now.iter().all(|&s| s == 401),
        "recently read keys of the suspended account accepted after the suspension answered: \
         {warm:?} -> {warm_now:?}"
    );
    assert!(
        cold_now.iter().all(|&s| s == 401),
        "keys of the suspended account not read for {ISOLATE_CACHE_TTL:?} were accepted right \
         after the suspension answered: {cold:?} -> {cold_now:?}; all refused only \
         {cold_refused_in:?} after the answer"
    );
}
