//! The admin API (SPEC §6) end to end: real workerd through `wrangler dev`, local storage,
//! HTTP only. Every answer from the admin API goes through [`audit`], which fails the test if
//! it carries secret material it must not (a full `sk_…` outside the one create/roll response
//! field, or anything that looks like a 64-hex hash), lacks `X-Request-Id`, or is not JSON.
//!
//! Trials run in parallel against one shared gateway, so each makes its own accounts; only the
//! demo-seed trials start gateways of their own.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{ADMIN_TOKEN, Gateway, Resp, Value, WithOrigin, json, repo_root, run, tests};

/// One gateway forwarding live keys to a recording origin.
type Ctx = WithOrigin;

fn main() {
    run(
        WithOrigin::start,
        tests![
            // The checker every answer goes through.
            audit_detects_secret_material,
            // Authentication and authorisation.
            admin_requires_the_operator_token,
            admin_over_plain_http_is_refused_when_https_is_required,
            manager_key_manages_its_own_accounts_keys,
            manager_key_gets_404_for_other_accounts_ids,
            manager_key_cannot_use_operator_endpoints,
            manager_key_must_hold_keys_manage_and_be_usable,
            manager_key_grants_only_scopes_it_holds,
            test_manager_key_manages_test_keys_only,
            // Accounts.
            account_create_read_update,
            account_list_paginates,
            account_validation_names_each_field,
            account_suspension_refuses_its_keys_until_reactivated,
            agreement_change_governs_live_keys,
            unknown_account_is_404,
            no_demo_account_without_demo_seed,
            // Entitlements.
            entitlement_yields_product_keys,
            withdrawn_entitlement_stops_its_product_keys,
            // Keys.
            key_create_returns_the_secret_once,
            key_create_with_every_setting,
            key_validation_names_each_field,
            live_key_for_test_agreement_is_403,
            key_list_paginates,
            key_update_changes_what_the_edge_allows,
            key_disable_and_reenable,
            expired_key_is_refused_and_expiry_can_be_cleared,
            roll_with_zero_grace_replaces_the_key_at_once,
            roll_grace_keeps_the_old_key_until_it_ends,
            roll_grace_is_validated,
            roll_never_extends_an_earlier_revocation,
            roll_refuses_rolled_disabled_and_revoked_keys,
            leaked_default_grace_is_three_days,
            leaked_grace_ends_in_revocation,
            delete_key_revokes_it_now,
            unknown_key_is_404,
            // Leak reports.
            leak_report_marks_our_keys_and_names_them_by_fragment,
            leak_report_validation,
            // Protocol.
            malformed_json_is_400,
            wrong_method_is_405_with_allow,
            unknown_methods_are_refused_not_read_as_get,
            unknown_admin_path_is_404,
            oversized_body_is_413,
            no_response_carries_secret_material,
            // Tenant isolation and concurrency.
            tenant_isolation,
            twenty_concurrent_key_creations_lose_none,
            concurrent_writes_to_one_account_lose_no_update,
            concurrent_patches_to_one_key_lose_no_update,
            // Demo seed and the README flow.
            demo_seed_matches_demo_env_and_seeds_once,
            demo_seed_is_refused_when_https_is_required,
            readme_flow_with_curl,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

const DAY: i64 = 24 * 60 * 60;
/// `sk_test_` + 38 base62 characters (32 body + 6 checksum).
const KEY_LEN: usize = 46;
/// Slack for comparing the worker's timestamps with this machine's clock (same clock; the
/// slack only covers the time a request takes under a loaded test run).
const CLOCK_SLACK: i64 = 30;
/// The short grace (or expiry) of the trials that wait for a key to stop working: long enough
/// that the "still works" requests made right after the change finish well within it.
const GRACE: i64 = 8;

/// Sleeps until the unix second `t` has passed on this machine's clock.
fn sleep_until_after(t: i64) {
    while now() <= t {
        thread::sleep(Duration::from_millis(200));
    }
}

fn assert_near(actual: &Value, expected: i64, what: &str) {
    let got = actual
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: expected unix seconds, got {actual}"));
    assert!(
        (got - expected).abs() <= CLOCK_SLACK,
        "{what}: {got} is not within {CLOCK_SLACK} s of {expected}"
    );
}

/// Every full secret key (`sk_test_`/`sk_live_` + 38 base62 characters) in `text`.
fn full_secret_keys(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["sk_test_", "sk_live_"] {
        let mut from = 0;
        while let Some(at) = text[from..].find(prefix) {
            let start = from + at;
            let body = &text.as_bytes()[start + prefix.len()..];
            let run = body
                .iter()
                .take_while(|b| b.is_ascii_alphanumeric())
                .count();
            if run >= KEY_LEN - prefix.len() {
                found.push(text[start..start + KEY_LEN].to_string());
            }
            from = start + prefix.len();
        }
    }
    found
}

/// The longest run of hexadecimal digits in `text` (a SHA-256 hash is 64).
fn longest_hex_run(text: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_hexdigit() {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

/// Is `r` one of the two answers allowed to carry a secret: key creation or roll?
fn issues_a_secret(r: &Resp) -> bool {
    let path = r.url.split('?').next().unwrap_or_default();
    r.method == "POST"
        && path.contains("/admin/v1/")
        && ((r.status == 201 && path.ends_with("/keys"))
            || (r.status == 200 && path.ends_with("/roll")))
}

/// Fails unless `cond`, with the message and the whole answer.
macro_rules! ensure {
    ($cond:expr, $r:expr, $($what:tt)+) => {
        if !$cond {
            return Err(format!("{}: {}", format!($($what)+), $r));
        }
    };
}

/// What is wrong with an answer, if anything: no request id, secret material outside
/// create/roll's `secret`, or (for the admin API) a body that is not JSON in the SPEC §4 shape.
fn audit_problem(r: &Resp) -> Result<(), String> {
    ensure!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        r,
        "no X-Request-Id"
    );
    let text = r.text();
    let secrets = full_secret_keys(&text);
    if issues_a_secret(r) {
        ensure!(secrets.len() == 1, r, "one secret, once, expected");
        ensure!(
            r.json["secret"].as_str() == Some(secrets[0].as_str()),
            r,
            "the secret should be in `secret`"
        );
    } else {
        ensure!(secrets.is_empty(), r, "a full secret key in an answer");
    }
    if !r.url.contains("/admin/") {
        return Ok(());
    }
    ensure!(
        longest_hex_run(&text) < 64,
        r,
        "something that looks like a 64-hex hash"
    );
    if r.status == 204 {
        ensure!(r.body.is_empty(), r, "204 with a body");
        return Ok(());
    }
    ensure!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        r,
        "not application/json"
    );
    ensure!(r.json.is_object(), r, "not a JSON object");
    if r.status >= 400 {
        ensure!(
            r.json["status"] == json!(r.status),
            r,
            "`status` should repeat the HTTP status"
        );
        ensure!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            r,
            "error without a message"
        );
    }
    Ok(())
}

/// Panics if [`audit_problem`] finds anything.
fn audit(r: &Resp) {
    if let Err(problem) = audit_problem(r) {
        panic!("{problem}");
    }
}

/// An operator request, audited.
fn admin(c: &Ctx, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut req = c.gw.admin(method, path);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// An operator request with a raw JSON body, audited.
fn admin_raw(c: &Ctx, method: &str, path: &str, body: &str) -> Resp {
    let r =
        c.gw.admin(method, path)
            .header("Content-Type", "application/json")
            .body(body.as_bytes().to_vec())
            .send();
    audit(&r);
    r
}

/// A request to the admin API authenticated with a secret key (a `keys:manage` key), audited.
fn manage(c: &Ctx, secret: &str, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut req =
        c.gw.request(method, &format!("/admin/v1{path}"))
            .bearer(secret);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// `GET path` at the edge with a secret key and (optionally) a product key, audited.
fn edge(c: &Ctx, secret: &str, path: &str, product_key: Option<&str>) -> Resp {
    let mut req = c.gw.get(path).bearer(secret);
    if let Some(pk) = product_key {
        req = req.product_key(pk);
    }
    let r = req.send();
    audit(&r);
    r
}

/// The key works in the sandbox (`GET /v1/accounts` of bank_data).
fn assert_sandbox_ok(c: &Ctx, secret: &str, product_key: &str) {
    let r = edge(c, secret, "/v1/accounts", Some(product_key));
    assert_eq!(r.status, 200, "the key should work in the sandbox: {r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
}

/// The key is refused at the edge with 401 and a message containing `why`.
fn assert_refused(c: &Ctx, secret: &str, product_key: &str, why: &str) {
    let r = edge(c, secret, "/v1/accounts", Some(product_key));
    assert_eq!(r.status, 401, "the key should be refused ({why}): {r}");
    let message = r.json["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains(why),
        "expected a message about `{why}`: {r}"
    );
}

fn create_account(c: &Ctx, name: &str, agreement: &str) -> Value {
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(&json!({"name": name, "agreement": agreement})),
    );
    r.expect_status(201);
    r.json.clone()
}

fn account_id(c: &Ctx, name: &str, agreement: &str) -> String {
    create_account(c, name, agreement)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Entitles the account and returns the entitlement.
fn entitle(c: &Ctx, account: &str, product: &str) -> Value {
    let r = admin(
        c,
        "PUT",
        &format!("/accounts/{account}/products/{product}"),
        None,
    );
    r.expect_success();
    r.json.clone()
}

fn pk_test(entitlement: &Value) -> String {
    entitlement["product_keys"]["test"]
        .as_str()
        .unwrap_or_else(|| panic!("no test product key: {entitlement}"))
        .to_string()
}

fn create_key(c: &Ctx, account: &str, body: &Value) -> (Value, String) {
    let r = admin(c, "POST", &format!("/accounts/{account}/keys"), Some(body));
    r.expect_status(201);
    (
        r.json["key"].clone(),
        r.json["secret"].as_str().unwrap().to_string(),
    )
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_string()
}

/// A test-agreement account entitled to bank_data with one `*` test key.
struct Sandboxed {
    account: String,
    product_key: String,
    key: Value,
    secret: String,
}

fn sandboxed(c: &Ctx, name: &str) -> Sandboxed {
    let account = account_id(c, name, "test");
    let product_key = pk_test(&entitle(c, &account, "bank_data"));
    let (key, secret) = create_key(c, &account, &json!({"name": name, "environment": "test"}));
    Sandboxed {
        account,
        product_key,
        key,
        secret,
    }
}

/// 400 whose `errors` name exactly `fields` (in any order).
fn assert_invalid(r: &Resp, fields: &[&str]) {
    assert_eq!(r.status, 400, "expected 400 naming {fields:?}: {r}");
    let got: BTreeSet<String> = r.json["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("no `errors` list: {r}"))
        .iter()
        .map(|e| {
            assert!(
                e["message"].as_str().is_some_and(|m| !m.is_empty()),
                "field error without a message: {r}"
            );
            e["field"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    let want: BTreeSet<String> = fields.iter().map(|f| f.to_string()).collect();
    assert_eq!(got, want, "fields named in `errors`: {r}");
}

/// Walks a list endpoint with `limit` and returns every id, checking the page shape.
fn walk(c: &Ctx, path: &str, limit: usize) -> Vec<String> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let url = match &after {
            None => format!("{path}?limit={limit}"),
            Some(a) => format!("{path}?limit={limit}&starting_after={a}"),
        };
        let r = admin(c, "GET", &url, None);
        r.expect_status(200);
        assert_eq!(r.json["object"], "list", "{r}");
        let data = r.json["data"].as_array().expect("data");
        assert!(data.len() <= limit, "more than limit={limit}: {r}");
        let has_more = r.json["has_more"].as_bool().expect("has_more");
        ids.extend(data.iter().map(id_of));
        if !has_more {
            break;
        }
        assert_eq!(data.len(), limit, "a short page with has_more: {r}");
        after = ids.last().cloned();
    }
    ids
}

fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn assert_key_format(key: &str, prefix: &str) {
    assert!(key.starts_with(prefix), "{key} should start with {prefix}");
    assert_eq!(key.len(), KEY_LEN, "{key}");
    assert!(is_base62(&key[prefix.len()..]), "{key}");
}

/// [`audit`] is what makes "no secret leaves" testable: check it finds what it must.
fn audit_detects_secret_material(_c: &Ctx) {
    let key = "sk_live_4eC39HqLyjWDarjtT1zdp7dcAbCdEfGhIjKlMn";
    assert_eq!(key.len(), KEY_LEN);
    assert_eq!(full_secret_keys(&format!("{{\"x\":\"{key}\"}}")), [key]);
    assert_eq!(full_secret_keys(&format!("a{key}b")).len(), 1);
    assert!(full_secret_keys("sk_test_4eC3…x9Qz and sk_live_short").is_empty());
    assert!(full_secret_keys(&key.replace("sk_", "pk_")).is_empty());
    let hash = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    assert_eq!(longest_hex_run(&format!("\"{hash}\"")), 64);
    assert!(longest_hex_run("key_0123456789abcdef0123") < 64);

    let resp = |method: &str, url: &str, status: u16, body: &Value| Resp {
        method: method.into(),
        url: url.into(),
        status,
        headers: vec![
            ("x-request-id".into(), "req_1".into()),
            ("content-type".into(), "application/json".into()),
        ],
        body: serde_json::to_vec(body).unwrap(),
        json: body.clone(),
        elapsed: Duration::ZERO,
    };
    let fails = |r: Resp| audit_problem(&r).is_err();
    let created = json!({"key": {"id": "key_1"}, "secret": key});
    let keys_url = "http://h/admin/v1/accounts/acct_1/keys";
    assert!(!fails(resp("POST", keys_url, 201, &created)));
    assert!(!fails(resp(
        "POST",
        "http://h/admin/v1/keys/key_1/roll",
        200,
        &created
    )));
    assert!(
        fails(resp("GET", keys_url, 200, &created)),
        "a secret in a list"
    );
    assert!(fails(resp(
        "POST",
        "http://h/admin/v1/leaks",
        200,
        &created
    )));
    let twice = json!({"key": {"id": "key_1", "name": key}, "secret": key});
    assert!(
        fails(resp("POST", keys_url, 201, &twice)),
        "a secret outside `secret`"
    );
    let hashed = json!({"id": "key_1", "hash": hash});
    assert!(fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        200,
        &hashed
    )));
    let error = json!({"status": 404, "message": "No such key."});
    assert!(!fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        404,
        &error
    )));
    assert!(fails(resp(
        "GET",
        "http://h/admin/v1/keys/key_1",
        400,
        &error
    )));
}

// ------------------------------------------------------------------------------------------
// Authentication and authorisation
// ------------------------------------------------------------------------------------------

fn admin_requires_the_operator_token(c: &Ctx) {
    let r = c.gw.get("/admin/v1/accounts").send();
    audit(&r);
    assert_eq!(r.status, 401, "no credential: {r}");

    let wrong = "not-the-admin-token-but-close";
    let r = c.gw.get("/admin/v1/accounts").bearer(wrong).send();
    audit(&r);
    assert_eq!(r.status, 401, "wrong token: {r}");
    assert!(!r.text().contains(wrong), "the token echoed: {r}");

    // A prefix of the real token is not the token (no prefix comparison).
    let r =
        c.gw.get("/admin/v1/accounts")
            .bearer(&ADMIN_TOKEN[..ADMIN_TOKEN.len() - 1])
            .send();
    audit(&r);
    assert_eq!(r.status, 401, "{r}");

    // Writes are refused too, and nothing is created.
    let r =
        c.gw.post("/admin/v1/accounts")
            .bearer(wrong)
            .json(&json!({"name": "intruder", "agreement": "production"}))
            .send();
    audit(&r);
    assert_eq!(r.status, 401, "{r}");

    // A well-formed but unknown secret key.
    let s = sandboxed(c, "auth-unknown-key");
    admin(c, "DELETE", &format!("/keys/{}", id_of(&s.key)), None).expect_status(204);
    let r = manage(
        c,
        &s.secret,
        "GET",
        &format!("/accounts/{}/keys", s.account),
        None,
    );
    assert_eq!(r.status, 401, "a deleted key: {r}");

    // The right token works.
    admin(c, "GET", "/accounts", None).expect_status(200);
}

/// HTTPS comes first for admin requests too: a token sent in clear is refused, not served,
/// and never redirected. (wrangler.toml's `[vars]` has `REQUIRE_HTTPS = "true"`.)
fn admin_over_plain_http_is_refused_when_https_is_required(_c: &Ctx) {
    let gw = Gateway::builder().unset("REQUIRE_HTTPS").start();
    for (method, path) in [
        ("GET", "/admin/v1/accounts"),
        ("POST", "/admin/v1/accounts"),
        ("POST", "/admin/v1/leaks"),
    ] {
        let r = gw
            .admin(method, path)
            .json(&json!({"name": "clear text", "agreement": "test"}))
            .send();
        audit(&r);
        assert_eq!(r.status, 403, "{method} {path} over http: {r}");
        assert!(r.header("location").is_none(), "a redirect: {r}");
        assert!(
            r.json["message"]
                .as_str()
                .unwrap_or_default()
                .contains("HTTPS"),
            "{r}"
        );
    }
}

fn manager_key_manages_its_own_accounts_keys(c: &Ctx) {
    let account = account_id(c, "manager-own", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let (manager, m) = create_key(
        c,
        &account,
        &json!({"name": "ci rotation", "environment": "test",
                "scopes": ["keys:manage", "accounts:read"]}),
    );
    assert_eq!(manager["scopes"], json!(["keys:manage", "accounts:read"]));

    // Create.
    let r = manage(
        c,
        &m,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(
            &json!({"name": "made by the manager", "environment": "test",
                     "scopes": ["accounts:read"]}),
        ),
    );
    r.expect_status(201);
    let key = r.json["key"].clone();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    let key_id = id_of(&key);
    assert_eq!(key["account_id"], json!(account));
    assert_sandbox_ok(c, &secret, &pk);

    // List and read.
    let r = manage(c, &m, "GET", &format!("/accounts/{account}/keys"), None);
    r.expect_status(200);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&manager), key_id.clone()], "{r}");
    let r = manage(c, &m, "GET", &format!("/keys/{key_id}"), None);
    r.expect_status(200);
    assert_eq!(r.json, key);

    // Update (disable, re-enable).
    let r = manage(
        c,
        &m,
        "PATCH",
        &format!("/keys/{key_id}"),
        Some(&json!({"status": "disabled"})),
    );
    r.expect_status(200);
    assert_refused(c, &secret, &pk, "disabled");
    manage(
        c,
        &m,
        "PATCH",
        &format!("/keys/{key_id}"),
        Some(&json!({"status": "active"})),
    )
    .expect_status(200);
    assert_sandbox_ok(c, &secret, &pk);

    // Roll, mark leaked, delete.
    let r = manage(
        c,
        &m,
        "POST",
        &format!("/keys/{key_id}/roll"),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    let rolled = r.json["key"].clone();
    let rolled_secret = r.json["secret"].as_str().unwrap().to_string();
    assert_refused(c, &secret, &pk, "rolled");
    assert_sandbox_ok(c, &rolled_secret, &pk);
    let r = manage(
        c,
        &m,
        "POST",
        &format!("/keys/{}/leaked", id_of(&rolled)),
        None,
    );
    r.expect_status(200);
    assert!(r.json["leaked_at"].is_i64(), "{r}");
    manage(c, &m, "DELETE", &format!("/keys/{}", id_of(&rolled)), None).expect_status(204);
    assert_refused(c, &rolled_secret, &pk, "unknown");

    // Basic and X-API-Key carry the manager key as well as Bearer.
    let path = format!("/admin/v1/accounts/{account}/keys");
    let r = c.gw.get(&path).basic(&m, "").send();
    audit(&r);
    assert_eq!(r.status, 200, "{r}");
    let r = c.gw.get(&path).api_key(&m).send();
    audit(&r);
    assert_eq!(r.status, 200, "{r}");
}

fn manager_key_gets_404_for_other_accounts_ids(c: &Ctx) {
    let mine = account_id(c, "manager-mine", "test");
    let (_, m) = create_key(
        c,
        &mine,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    let other = sandboxed(c, "manager-other");
    let theirs = id_of(&other.key);

    let missing_account = "acct_doesnotexist000000";
    let missing_key = "key_doesnotexist0000000";
    let body = json!({"name": "x", "environment": "test", "scopes": ["accounts:read"]});
    let cases: Vec<(&str, String, String, Option<Value>)> = vec![
        (
            "GET",
            format!("/accounts/{}/keys", other.account),
            format!("/accounts/{missing_account}/keys"),
            None,
        ),
        (
            "POST",
            format!("/accounts/{}/keys", other.account),
            format!("/accounts/{missing_account}/keys"),
            Some(body.clone()),
        ),
        (
            "GET",
            format!("/keys/{theirs}"),
            format!("/keys/{missing_key}"),
            None,
        ),
        (
            "PATCH",
            format!("/keys/{theirs}"),
            format!("/keys/{missing_key}"),
            Some(json!({"status": "disabled"})),
        ),
        (
            "POST",
            format!("/keys/{theirs}/roll"),
            format!("/keys/{missing_key}/roll"),
            Some(json!({"grace_seconds": 0})),
        ),
        (
            "POST",
            format!("/keys/{theirs}/leaked"),
            format!("/keys/{missing_key}/leaked"),
            Some(json!({"grace_seconds": 0})),
        ),
        (
            "DELETE",
            format!("/keys/{theirs}"),
            format!("/keys/{missing_key}"),
            None,
        ),
    ];
    for (method, path, missing_path, body) in &cases {
        let r = manage(c, &m, method, path, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path} of another account: {r}");
        // Indistinguishable from an id that does not exist.
        let n = manage(c, &m, method, missing_path, body.as_ref());
        assert_eq!(n.status, 404, "{n}");
        assert_eq!(r.json["message"], n.json["message"], "{r}\n{n}");
    }

    // Nothing happened to the other account.
    let r = admin(c, "GET", &format!("/keys/{theirs}"), None);
    r.expect_status(200);
    assert_eq!(r.json, other.key, "the other account's key changed");
    let r = admin(c, "GET", &format!("/accounts/{}/keys", other.account), None);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1, "{r}");
    assert_sandbox_ok(c, &other.secret, &other.product_key);
}

fn manager_key_cannot_use_operator_endpoints(c: &Ctx) {
    let mine = account_id(c, "manager-no-operator", "production");
    let (_, m) = create_key(
        c,
        &mine,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    let other = account_id(c, "manager-no-operator-other", "test");
    let before = admin(c, "GET", "/accounts?limit=100", None);

    let cases: Vec<(&str, String, Option<Value>)> = vec![
        (
            "POST",
            "/accounts".into(),
            Some(json!({"name": "made by a key", "agreement": "production"})),
        ),
        (
            "PATCH",
            format!("/accounts/{mine}"),
            Some(json!({"agreement": "production", "status": "active"})),
        ),
        ("PUT", format!("/accounts/{mine}/products/bank_data"), None),
        ("PUT", format!("/accounts/{other}/products/bank_data"), None),
        (
            "DELETE",
            format!("/accounts/{mine}/products/bank_data"),
            None,
        ),
        ("POST", "/leaks".into(), Some(json!([{"token": m.clone()}]))),
    ];
    for (method, path, body) in &cases {
        let r = manage(c, &m, method, path, body.as_ref());
        assert_eq!(r.status, 403, "{method} {path} with a keys:manage key: {r}");
    }

    // Reads of its own account are allowed (the console signs a customer in with them);
    // another tenant's account is "not found", as its keys are.
    let r = manage(c, &m, "GET", "/accounts", None);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["data"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r.json["data"][0]["id"], json!(mine), "{r}");
    let r = manage(c, &m, "GET", &format!("/accounts/{mine}"), None);
    assert_eq!(r.status, 200, "{r}");
    let r = manage(c, &m, "GET", &format!("/accounts/{other}"), None);
    assert_eq!(r.status, 404, "{r}");
    let r = manage(
        c,
        &m,
        "GET",
        &format!("/accounts/{other}/products/bank_data"),
        None,
    );
    assert_eq!(r.status, 404, "{r}");

    // Nothing was created or changed.
    let r = admin(c, "GET", &format!("/accounts/{mine}"), None);
    assert_eq!(r.json["products"], json!([]), "{r}");
    let r = admin(c, "GET", &format!("/accounts/{other}"), None);
    assert_eq!(r.json["products"], json!([]), "{r}");
    let after = admin(c, "GET", "/accounts?limit=100", None);
    let names = |r: &Resp| -> usize {
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["name"] == "made by a key")
            .count()
    };
    assert_eq!(names(&before), 0);
    assert_eq!(names(&after), 0, "an account was created by a key");
    let r = admin(c, "GET", &format!("/accounts/{mine}/keys"), None);
    let key = &r.json["data"][0];
    assert!(
        key["leaked_at"].is_null(),
        "the leak report was applied: {r}"
    );
}

fn manager_key_must_hold_keys_manage_and_be_usable(c: &Ctx) {
    let account = account_id(c, "manager-requirements", "test");
    let keys_path = format!("/accounts/{account}/keys");

    // Without the scope: 403.
    let (_, reader) = create_key(
        c,
        &account,
        &json!({"name": "reader", "environment": "test", "scopes": ["accounts:read"]}),
    );
    let r = manage(c, &reader, "GET", &keys_path, None);
    assert_eq!(r.status, 403, "a key without keys:manage: {r}");

    // `*` includes keys:manage; `keys:*` too.
    let (_, star) = create_key(c, &account, &json!({"name": "star", "environment": "test"}));
    manage(c, &star, "GET", &keys_path, None).expect_status(200);
    let (_, keys_any) = create_key(
        c,
        &account,
        &json!({"name": "keys any", "environment": "test", "scopes": ["keys:*"]}),
    );
    manage(c, &keys_any, "GET", &keys_path, None).expect_status(200);

    // A disabled manager key: 401.
    let (manager, m) = create_key(
        c,
        &account,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    manage(c, &m, "GET", &keys_path, None).expect_status(200);
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&manager)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    let r = manage(c, &m, "GET", &keys_path, None);
    assert_eq!(r.status, 401, "a disabled manager key: {r}");
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&manager)),
        Some(&json!({"status": "active"})),
    )
    .expect_status(200);

    // The key's IP allowlist applies to the admin API too.
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&manager)),
        Some(&json!({"allowed_ips": ["203.0.113.0/24"]})),
    )
    .expect_status(200);
    let r =
        c.gw.get(&format!("/admin/v1{keys_path}"))
            .bearer(&m)
            .client_ip("198.51.100.7")
            .send();
    audit(&r);
    assert_eq!(
        r.status, 403,
        "a manager key from outside its allowlist: {r}"
    );
    let r =
        c.gw.get(&format!("/admin/v1{keys_path}"))
            .bearer(&m)
            .client_ip("203.0.113.7")
            .send();
    audit(&r);
    assert_eq!(r.status, 200, "{r}");

    // A suspended account's manager key: 401.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"status": "suspended"})),
    )
    .expect_status(200);
    let r = manage(c, &star, "GET", &keys_path, None);
    assert_eq!(r.status, 401, "a suspended account's key: {r}");
}

/// `keys:manage` must not be a way to mint a more powerful key: a manager may create, patch
/// or roll only keys whose scopes it holds itself (docs/admin-api.md, core `check_delegation`).
fn manager_key_grants_only_scopes_it_holds(c: &Ctx) {
    let account = account_id(c, "delegation", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let (_, m) = create_key(
        c,
        &account,
        &json!({"name": "manager", "environment": "test",
                "scopes": ["keys:manage", "accounts:read"]}),
    );
    let keys = format!("/accounts/{account}/keys");
    let create = |body: Value| manage(c, &m, "POST", &keys, Some(&body));

    // More than it holds: 403, and nothing is issued.
    for scopes in [
        json!(["*"]),
        json!(["accounts:*"]),
        json!(["accounts:read", "transactions:read"]),
    ] {
        let r = create(json!({"name": "wider", "environment": "test", "scopes": scopes}));
        assert_eq!(r.status, 403, "a manager granting {scopes}: {r}");
    }
    // No scopes means `*`.
    let r = create(json!({"name": "default", "environment": "test"}));
    assert_eq!(r.status, 403, "a manager granting the default [\"*\"]: {r}");
    let before = admin(c, "GET", &keys, None).json["data"].clone();
    assert_eq!(
        before.as_array().unwrap().len(),
        1,
        "only the manager: {before}"
    );

    // What it holds: fine.
    let r = create(json!({"name": "narrow", "environment": "test", "scopes": ["accounts:read"]}));
    r.expect_status(201);
    let narrow = r.json["key"].clone();
    let r = manage(
        c,
        &m,
        "PATCH",
        &format!("/keys/{}", id_of(&narrow)),
        Some(&json!({"scopes": ["*"]})),
    );
    assert_eq!(r.status, 403, "a manager widening a key: {r}");
    assert_eq!(
        admin(c, "GET", &format!("/keys/{}", id_of(&narrow)), None).json["scopes"],
        json!(["accounts:read"])
    );
    let r = manage(
        c,
        &m,
        "POST",
        &format!("/keys/{}/roll", id_of(&narrow)),
        None,
    );
    r.expect_status(200);

    // Rolling the operator's `*` key would hand the manager a `*` secret: 403.
    let (wide, wide_secret) =
        create_key(c, &account, &json!({"name": "wide", "environment": "test"}));
    let r = manage(
        c,
        &m,
        "POST",
        &format!("/keys/{}/roll", id_of(&wide)),
        Some(&json!({"grace_seconds": 0})),
    );
    assert_eq!(
        r.status, 403,
        "a manager rolling a key wider than itself: {r}"
    );
    let after = admin(c, "GET", &format!("/keys/{}", id_of(&wide)), None);
    assert_eq!(after.json, wide, "the refused roll changed the key");
    assert_sandbox_ok(c, &wide_secret, &pk);
    // It may still disable or delete it (that only takes access away).
    manage(
        c,
        &m,
        "PATCH",
        &format!("/keys/{}", id_of(&wide)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    manage(c, &m, "DELETE", &format!("/keys/{}", id_of(&wide)), None).expect_status(204);
}

// ------------------------------------------------------------------------------------------
// Accounts
// ------------------------------------------------------------------------------------------

fn account_create_read_update(c: &Ctx) {
    let t0 = now();
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(
            &json!({"name": "  Acme Insurance  ", "agreement": "production",
                     "allowed_ips": ["203.0.113.7", "2001:db8::/32", "::ffff:198.51.100.0/120"]}),
        ),
    );
    r.expect_status(201);
    let a = r.json.clone();
    let id = id_of(&a);
    assert!(id.starts_with("acct_") && id.len() > 10, "{a}");
    assert_eq!(a["object"], "account");
    assert_eq!(a["name"], "Acme Insurance", "names are trimmed");
    assert_eq!(a["agreement"], "production");
    assert_eq!(a["status"], "active");
    assert_eq!(
        a["allowed_ips"],
        json!(["203.0.113.7/32", "2001:db8::/32", "198.51.100.0/24"]),
        "canonical CIDRs"
    );
    assert_eq!(a["products"], json!([]));
    assert_near(&a["created_at"], t0, "created_at");
    assert_eq!(a["updated_at"], a["created_at"]);

    // Read.
    let r = admin(c, "GET", &format!("/accounts/{id}"), None);
    r.expect_status(200);
    assert_eq!(r.json, a);

    // A second account gets another id; defaults.
    let b = create_account(c, "Beta", "test");
    assert_ne!(id_of(&b), id);
    assert_eq!(b["allowed_ips"], json!([]));
    assert_eq!(b["agreement"], "test");

    // Update each field; absent fields stay.
    let r = admin(
        c,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"name": "Acme Insurance AG"})),
    );
    r.expect_status(200);
    assert_eq!(r.json["name"], "Acme Insurance AG");
    assert_eq!(r.json["allowed_ips"], a["allowed_ips"]);
    assert_eq!(r.json["agreement"], "production");
    assert_eq!(r.json["created_at"], a["created_at"]);
    assert!(r.json["updated_at"].as_i64() >= a["updated_at"].as_i64());

    let r = admin(
        c,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"agreement": "test", "status": "suspended", "allowed_ips": []})),
    );
    r.expect_status(200);
    assert_eq!(r.json["agreement"], "test");
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["allowed_ips"], json!([]));
    assert_eq!(r.json["name"], "Acme Insurance AG");

    // An empty patch changes nothing but is fine.
    let r = admin(c, "PATCH", &format!("/accounts/{id}"), Some(&json!({})));
    r.expect_status(200);
    assert_eq!(r.json["status"], "suspended");

    // The read shows the stored state.
    let r = admin(c, "GET", &format!("/accounts/{id}"), None);
    assert_eq!(r.json["name"], "Acme Insurance AG");
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["agreement"], "test");

    // Names: 200 characters (not bytes) are fine.
    let long = "é".repeat(200);
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(&json!({"name": long, "agreement": "test"})),
    );
    r.expect_status(201);
    assert_eq!(r.json["name"], json!(long));
}

fn account_list_paginates(c: &Ctx) {
    let mine: Vec<String> = (0..12)
        .map(|i| account_id(c, &format!("paginated {i:02}"), "test"))
        .collect();

    // Default limit 10; more exist, so has_more.
    let r = admin(c, "GET", "/accounts", None);
    r.expect_status(200);
    assert_eq!(r.json["object"], "list");
    assert_eq!(r.json["data"].as_array().unwrap().len(), 10, "{r}");
    assert_eq!(r.json["has_more"], true);
    for a in r.json["data"].as_array().unwrap() {
        assert_eq!(a["object"], "account", "{a}");
        assert!(a["products"].is_array(), "{a}");
    }

    // Walking with small pages sees every account once, mine in creation order.
    for limit in [1, 3, 100] {
        let all = walk(c, "/accounts", limit);
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "duplicates with limit={limit}");
        let seen: Vec<&String> = all.iter().filter(|id| mine.contains(id)).collect();
        assert_eq!(
            seen,
            mine.iter().collect::<Vec<_>>(),
            "limit={limit}: all of mine, in order"
        );
    }

    // starting_after the last of mine: nothing of mine after it.
    let r = admin(
        c,
        "GET",
        &format!("/accounts?limit=100&starting_after={}", mine[11]),
        None,
    );
    r.expect_status(200);
    assert!(
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !mine.contains(&id_of(a))),
        "{r}"
    );
    let r = admin(
        c,
        "GET",
        &format!("/accounts?limit=2&starting_after={}", mine[3]),
        None,
    );
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [mine[4].clone(), mine[5].clone()], "{r}");
    assert_eq!(r.json["has_more"], true);

    // Bounds.
    for bad in ["0", "101", "-1", "ten", "", "1.5"] {
        let r = admin(c, "GET", &format!("/accounts?limit={bad}"), None);
        assert_invalid(&r, &["limit"]);
    }
    let r = admin(c, "GET", "/accounts?limit=100", None);
    r.expect_status(200);
    let r = admin(
        c,
        "GET",
        "/accounts?starting_after=acct_doesnotexist000000",
        None,
    );
    assert_invalid(&r, &["starting_after"]);
    let r = admin(c, "GET", "/accounts?page=2", None);
    assert_invalid(&r, &["page"]);
}

fn account_validation_names_each_field(c: &Ctx) {
    let post = |body: Value| admin(c, "POST", "/accounts", Some(&body));
    let long = "x".repeat(201);

    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "plan": "gold"})),
        &["plan"],
    );
    assert_invalid(&post(json!({"name": 7, "agreement": "test"})), &["name"]);
    assert_invalid(
        &post(json!({"name": "A", "agreement": "gold"})),
        &["agreement"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": true})),
        &["agreement"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": "10.0.0.1"})),
        &["allowed_ips"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": ["10.0.0.1", 7]})),
        &["allowed_ips[1]"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": [
            "10.0.0.1", "300.1.2.3", "10.0.0.0/33", "10.0.0.1/8", "2001:db8::/129",
            "not-an-ip", "", " 10.0.0.2"]})),
        &[
            "allowed_ips[1]",
            "allowed_ips[2]",
            "allowed_ips[3]",
            "allowed_ips[4]",
            "allowed_ips[5]",
            "allowed_ips[6]",
            "allowed_ips[7]",
        ],
    );
    assert_invalid(&post(json!({"name": long, "agreement": "test"})), &["name"]);
    assert_invalid(
        &post(json!({"name": "   ", "agreement": "test"})),
        &["name"],
    );
    assert_invalid(&post(json!({})), &["name", "agreement"]);
    // Every problem at once.
    assert_invalid(
        &post(
            json!({"name": long, "agreement": 1, "allowed_ips": ["1.2.3.4/40"],
                     "status": "active"}),
        ),
        &["status", "name", "agreement", "allowed_ips[0]"],
    );
    // Not an object.
    for body in [json!([]), json!("Acme"), json!(null), json!(42)] {
        let r = post(body.clone());
        assert_eq!(r.status, 400, "{body}: {r}");
    }
    let r = c.gw.admin("POST", "/accounts").send();
    audit(&r);
    assert_eq!(r.status, 400, "no body: {r}");

    // PATCH validates the same way, and a refused patch changes nothing.
    let a = create_account(c, "validated patch", "test");
    let path = format!("/accounts/{}", id_of(&a));
    let patch = |body: Value| admin(c, "PATCH", &path, Some(&body));
    assert_invalid(&patch(json!({"status": "deleted"})), &["status"]);
    assert_invalid(&patch(json!({"id": "acct_other"})), &["id"]);
    assert_invalid(&patch(json!({"created_at": 1})), &["created_at"]);
    assert_invalid(
        &patch(json!({"agreement": "gold", "name": ""})),
        &["agreement", "name"],
    );
    assert_invalid(
        &patch(json!({"name": "ok", "allowed_ips": ["10.0.0.0/33"]})),
        &["allowed_ips[0]"],
    );
    assert_invalid(&patch(json!({"name": long})), &["name"]);
    assert_invalid(&patch(json!({"status": null})), &["status"]);
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json, a, "a refused PATCH changed the account");
}

fn account_suspension_refuses_its_keys_until_reactivated(c: &Ctx) {
    let s = sandboxed(c, "suspension");
    let (_, second) = create_key(
        c,
        &s.account,
        &json!({"name": "second", "environment": "test"}),
    );
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &second, &s.product_key);

    let path = format!("/accounts/{}", s.account);
    let r = admin(c, "PATCH", &path, Some(&json!({"status": "suspended"})));
    r.expect_status(200);
    assert_eq!(r.json["status"], "suspended");
    assert_refused(c, &s.secret, &s.product_key, "suspended");
    assert_refused(c, &second, &s.product_key, "suspended");
    // The keys themselves are untouched.
    let r = admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None);
    assert_eq!(r.json["status"], "active");

    admin(c, "PATCH", &path, Some(&json!({"status": "active"}))).expect_status(200);
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &second, &s.product_key);
}

fn agreement_change_governs_live_keys(c: &Ctx) {
    let account = account_id(c, "agreement change", "test");
    let first = entitle(c, &account, "bank_data");
    assert!(first["product_keys"]["live"].is_null(), "{first}");
    let r = admin(
        c,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(&json!({"name": "live", "environment": "live"})),
    );
    assert_eq!(r.status, 403, "a live key for a test agreement: {r}");

    // Upgrade: the entitlement gains a live product key, the test one stays.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "production"})),
    )
    .expect_status(200);
    let r = admin(
        c,
        "PUT",
        &format!("/accounts/{account}/products/bank_data"),
        None,
    );
    r.expect_status(200);
    assert_eq!(
        r.json["product_keys"]["test"],
        first["product_keys"]["test"]
    );
    let pk_live = r.json["product_keys"]["live"]
        .as_str()
        .unwrap_or_else(|| panic!("no live product key after the upgrade: {r}"))
        .to_string();
    assert_key_format(&pk_live, "pk_live_");

    let (live, secret) = create_key(c, &account, &json!({"name": "live", "environment": "live"}));
    assert_key_format(&secret, "sk_live_");
    assert_eq!(live["environment"], "live");
    let r = edge(
        c,
        &secret,
        "/v1/accounts?agreement_change=1",
        Some(&pk_live),
    );
    assert_eq!(r.status, 200, "a live key of a production account: {r}");
    assert_eq!(r.json, json!({"origin": "ok"}), "{r}");
    let got = c.origin.requests_where(|q| {
        q.header("x-keygate-key") == live["id"].as_str() && q.path.contains("agreement_change")
    });
    assert_eq!(got.len(), 1, "the origin should have seen the request once");
    assert_eq!(got[0].header("x-keygate-account"), Some(account.as_str()));
    // The test product key does not work with a live key.
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_test(&first)));
    assert_eq!(r.status, 404, "{r}");

    // Downgrade: the live key is refused at the edge, but kept.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "test"})),
    )
    .expect_status(200);
    assert_refused(c, &secret, &pk_live, "production agreement");
    let r = admin(c, "GET", &format!("/keys/{}", id_of(&live)), None);
    r.expect_status(200);
    assert_eq!(r.json["status"], "active");

    // And back.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "production"})),
    )
    .expect_status(200);
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_live));
    assert_eq!(r.status, 200, "{r}");
}

fn unknown_account_is_404(c: &Ctx) {
    let missing = "acct_doesnotexist000000";
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/accounts/{missing}"), None),
        (
            "PATCH",
            format!("/accounts/{missing}"),
            Some(json!({"name": "x"})),
        ),
        (
            "PUT",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        (
            "GET",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        (
            "DELETE",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        ("GET", format!("/accounts/{missing}/keys"), None),
        (
            "POST",
            format!("/accounts/{missing}/keys"),
            Some(json!({"name": "x", "environment": "test"})),
        ),
    ];
    for (method, path, body) in &cases {
        let r = admin(c, method, path, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path}: {r}");
    }
}

fn no_demo_account_without_demo_seed(c: &Ctx) {
    let r = admin(c, "GET", "/accounts/acct_demo", None);
    assert_eq!(r.status, 404, "DEMO_SEED is not set on this gateway: {r}");
    let env = demo_env();
    let r = edge(
        c,
        &env["DEMO_SECRET_KEY"],
        &env["DEMO_PATH"],
        Some(env["DEMO_PRODUCT_KEY"].as_str()),
    );
    assert_eq!(r.status, 401, "{r}");
}

// ------------------------------------------------------------------------------------------
// Entitlements
// ------------------------------------------------------------------------------------------

fn entitlement_yields_product_keys(c: &Ctx) {
    let account = account_id(c, "entitled", "production");
    let t0 = now();
    let path = format!("/accounts/{account}/products/bank_data");
    let r = admin(c, "PUT", &path, None);
    r.expect_status(201);
    let e = r.json.clone();
    assert_eq!(e["object"], "entitlement");
    assert_eq!(e["account_id"], json!(account));
    assert_eq!(e["product_id"], "bank_data");
    assert_near(&e["created_at"], t0, "created_at");
    let test = pk_test(&e);
    let live = e["product_keys"]["live"]
        .as_str()
        .expect("a live product key")
        .to_string();
    assert_key_format(&test, "pk_test_");
    assert_key_format(&live, "pk_live_");

    // Idempotent: 200 with the same keys.
    let r = admin(c, "PUT", &path, None);
    r.expect_status(200);
    assert_eq!(r.json, e);
    let r = admin(c, "GET", &path, None);
    r.expect_status(200);
    assert_eq!(r.json, e);

    // Each product has its own keys; the account lists its products.
    let payments = entitle(c, &account, "payments");
    assert_ne!(pk_test(&payments), test);
    let insurance = entitle(c, &account, "insurance");
    let r = admin(c, "GET", &format!("/accounts/{account}"), None);
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");

    // A test agreement: test product keys only.
    let t = account_id(c, "entitled test", "test");
    let r = admin(c, "PUT", &format!("/accounts/{t}/products/insurance"), None);
    r.expect_status(201);
    assert_key_format(&pk_test(&r.json), "pk_test_");
    assert!(r.json["product_keys"]["live"].is_null(), "{r}");

    // Each product key works for its product only.
    let (_, secret) = create_key(c, &account, &json!({"name": "k", "environment": "test"}));
    assert_sandbox_ok(c, &secret, &test);
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_test(&insurance)));
    assert_eq!(r.status, 404, "insurance's key on a bank_data route: {r}");
    let r = edge(c, &secret, "/v1/statements", Some(&pk_test(&payments)));
    assert_eq!(r.status, 200, "{r}");

    // Unknown product: 404, and nothing entitled.
    let r = admin(c, "PUT", &format!("/accounts/{account}/products/crm"), None);
    assert_eq!(r.status, 404, "{r}");
    let r = admin(c, "GET", &format!("/accounts/{t}/products/bank_data"), None);
    assert_eq!(r.status, 404, "not entitled: {r}");
}

fn withdrawn_entitlement_stops_its_product_keys(c: &Ctx) {
    let s = sandboxed(c, "withdrawn");
    let payments = pk_test(&entitle(c, &s.account, "payments"));
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    let path = format!("/accounts/{}/products/bank_data", s.account);
    admin(c, "DELETE", &path, None).expect_status(204);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 404, "a withdrawn product key: {r}");
    // The other product is unaffected.
    let r = edge(c, &s.secret, "/v1/statements", Some(&payments));
    assert_eq!(r.status, 200, "{r}");
    let r = admin(c, "GET", &format!("/accounts/{}", s.account), None);
    assert_eq!(r.json["products"], json!(["payments"]), "{r}");
    assert_eq!(admin(c, "GET", &path, None).status, 404);
    assert_eq!(admin(c, "DELETE", &path, None).status, 404, "twice");

    // Entitling again issues new product keys; the old one stays dead.
    let again = entitle(c, &s.account, "bank_data");
    let new_pk = pk_test(&again);
    assert_ne!(new_pk, s.product_key);
    assert_sandbox_ok(c, &s.secret, &new_pk);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 404, "{r}");
}

// ------------------------------------------------------------------------------------------
// Keys
// ------------------------------------------------------------------------------------------

fn key_create_returns_the_secret_once(c: &Ctx) {
    let account = account_id(c, "key create", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(&json!({"name": "backend", "environment": "test"})),
    );
    r.expect_status(201);
    let obj = r.json.as_object().unwrap();
    assert_eq!(
        obj.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["key", "secret"]),
        "{r}"
    );
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_key_format(&secret, "sk_test_");
    let key = r.json["key"].clone();
    let id = id_of(&key);
    assert!(id.starts_with("key_"), "{key}");
    assert_eq!(key["object"], "api_key");
    assert_eq!(key["account_id"], json!(account));
    assert_eq!(key["name"], "backend");
    assert_eq!(key["environment"], "test");
    assert_eq!(key["status"], "active");
    assert_eq!(key["scopes"], json!(["*"]), "default scopes");
    assert_eq!(key["allowed_ips"], json!([]));
    assert_eq!(key["products"], json!([]));
    assert_near(&key["created_at"], t0, "created_at");
    for absent in ["expires_at", "leaked_at", "revoke_at", "rolled_to"] {
        assert!(key[absent].is_null(), "{absent}: {key}");
    }
    assert_eq!(key["start"], json!(&secret[..12]), "start fragment");
    assert_eq!(key["end"], json!(&secret[KEY_LEN - 4..]), "end fragment");
    for hidden in ["secret", "hash", "secret_hash", "key_hash"] {
        assert!(key.get(hidden).is_none(), "{hidden} in the key: {key}");
    }

    // Read and list: the same object, no secret.
    let r = admin(c, "GET", &format!("/keys/{id}"), None);
    r.expect_status(200);
    assert_eq!(r.json, key);
    let r = admin(c, "GET", &format!("/accounts/{account}/keys"), None);
    r.expect_status(200);
    assert_eq!(r.json["data"], json!([key]));
    assert_eq!(r.json["has_more"], false);

    // The secret works, in each accepted header.
    assert_sandbox_ok(c, &secret, &pk);
    let r =
        c.gw.get("/v1/accounts")
            .basic(&secret, "")
            .product_key(&pk)
            .send();
    audit(&r);
    assert_eq!(r.status, 200, "{r}");

    // Two keys: different secrets and ids.
    let (k2, s2) = create_key(
        c,
        &account,
        &json!({"name": "backend", "environment": "test"}),
    );
    assert_ne!(s2, secret);
    assert_ne!(id_of(&k2), id);
}

fn key_create_with_every_setting(c: &Ctx) {
    let account = account_id(c, "key settings", "production");
    let pk_bank = pk_test(&entitle(c, &account, "bank_data"));
    let pk_ins = pk_test(&entitle(c, &account, "insurance"));
    let expires = now() + 30 * DAY;
    let (key, secret) = create_key(
        c,
        &account,
        &json!({
            "name": "restricted",
            "environment": "test",
            "scopes": ["accounts:read", "transactions:*", "accounts:read"],
            "allowed_ips": ["203.0.113.0/24", "2001:db8::1"],
            "products": ["bank_data"],
            "expires_at": expires,
        }),
    );
    assert_eq!(
        key["scopes"],
        json!(["accounts:read", "transactions:*"]),
        "deduplicated"
    );
    assert_eq!(
        key["allowed_ips"],
        json!(["203.0.113.0/24", "2001:db8::1/128"])
    );
    assert_eq!(key["products"], json!(["bank_data"]));
    assert_eq!(key["expires_at"], json!(expires));

    let get = |path: &str, pk: &str, ip: &str| {
        let r =
            c.gw.get(path)
                .bearer(&secret)
                .product_key(pk)
                .client_ip(ip)
                .send();
        audit(&r);
        r
    };
    assert_eq!(get("/v1/accounts", &pk_bank, "203.0.113.9").status, 200);
    assert_eq!(get("/v1/transactions", &pk_bank, "2001:db8::1").status, 200);
    // Outside the allowlist.
    assert_eq!(get("/v1/accounts", &pk_bank, "198.51.100.1").status, 403);
    // A scope it lacks.
    assert_eq!(get("/v1/owners", &pk_bank, "203.0.113.9").status, 403);
    // A product the account has but the key may not use.
    assert_eq!(
        get("/v1/insurance_products", &pk_ins, "203.0.113.9").status,
        404
    );
}

fn key_validation_names_each_field(c: &Ctx) {
    let account = account_id(c, "key validation", "production");
    let path = format!("/accounts/{account}/keys");
    let post = |body: Value| admin(c, "POST", &path, Some(&body));
    let ok = |extra: Value| {
        let mut body = json!({"name": "k", "environment": "test"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let long = "k".repeat(201);

    assert_invalid(&post(ok(json!({"expire_at": now() + DAY}))), &["expire_at"]);
    assert_invalid(&post(ok(json!({"secret": "sk_test_x"}))), &["secret"]);
    assert_invalid(
        &post(json!({"name": 5, "environment": "prod"})),
        &["name", "environment"],
    );
    assert_invalid(&post(json!({"environment": "test"})), &["name"]);
    assert_invalid(&post(json!({"name": "k"})), &["environment"]);
    assert_invalid(&post(ok(json!({"name": long}))), &["name"]);
    assert_invalid(&post(ok(json!({"scopes": "accounts:read"}))), &["scopes"]);
    assert_invalid(&post(ok(json!({"scopes": []}))), &["scopes"]);
    assert_invalid(&post(ok(json!({"scopes": [1]}))), &["scopes[0]"]);
    assert_invalid(
        &post(ok(
            json!({"scopes": ["accounts:read", "foo:bar", "nocolon", "a:b:c"]}),
        )),
        &["scopes[1]", "scopes[2]", "scopes[3]"],
    );
    assert_invalid(&post(ok(json!({"products": "bank_data"}))), &["products"]);
    assert_invalid(
        &post(ok(json!({"products": ["bank_data", "crm"]}))),
        &["products[1]"],
    );
    assert_invalid(
        &post(ok(json!({"allowed_ips": ["10.0.0.0/33", "10.1.2.3"]}))),
        &["allowed_ips[0]"],
    );
    assert_invalid(
        &post(ok(json!({"allowed_ips": [null]}))),
        &["allowed_ips[0]"],
    );
    assert_invalid(
        &post(ok(json!({"expires_at": now() - 60}))),
        &["expires_at"],
    );
    assert_invalid(
        &post(ok(json!({"expires_at": "tomorrow"}))),
        &["expires_at"],
    );
    assert_invalid(&post(ok(json!({"expires_at": 1.5e9}))), &["expires_at"]);
    // Every problem at once.
    assert_invalid(
        &post(
            json!({"name": long, "environment": "staging", "scopes": ["nope:nope"],
                     "allowed_ips": ["1.2.3.4/40"], "products": ["crm"],
                     "expires_at": 1, "status": "active"}),
        ),
        &[
            "status",
            "name",
            "environment",
            "scopes[0]",
            "allowed_ips[0]",
            "products[0]",
            "expires_at",
        ],
    );
    // Nothing was created by any of these.
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json["data"], json!([]), "{r}");

    // PATCH validates the same way; a refused patch changes nothing.
    let (key, _) = create_key(
        c,
        &account,
        &json!({"name": "target", "environment": "test"}),
    );
    let key_path = format!("/keys/{}", id_of(&key));
    let patch = |body: Value| admin(c, "PATCH", &key_path, Some(&body));
    assert_invalid(&patch(json!({"status": "revoked"})), &["status"]);
    assert_invalid(&patch(json!({"environment": "live"})), &["environment"]);
    assert_invalid(&patch(json!({"account_id": account})), &["account_id"]);
    assert_invalid(&patch(json!({"scopes": ["nope:nope"]})), &["scopes[0]"]);
    assert_invalid(&patch(json!({"products": ["crm"]})), &["products[0]"]);
    assert_invalid(
        &patch(json!({"allowed_ips": ["::1/129"]})),
        &["allowed_ips[0]"],
    );
    assert_invalid(&patch(json!({"expires_at": now() - 1})), &["expires_at"]);
    assert_invalid(&patch(json!({"name": long})), &["name"]);
    assert_invalid(
        &patch(json!({"name": "", "status": "on", "scopes": "x"})),
        &["name", "status", "scopes"],
    );
    let r = admin(c, "GET", &key_path, None);
    assert_eq!(r.json, key, "a refused PATCH changed the key");
}

fn live_key_for_test_agreement_is_403(c: &Ctx) {
    let account = account_id(c, "live on test", "test");
    let path = format!("/accounts/{account}/keys");
    let r = admin(
        c,
        "POST",
        &path,
        Some(&json!({"name": "live", "environment": "live"})),
    );
    assert_eq!(r.status, 403, "{r}");
    // An invalid body is still a 400 first.
    let r = admin(
        c,
        "POST",
        &path,
        Some(&json!({"name": "live", "environment": "live", "scopes": ["nope:nope"]})),
    );
    assert_invalid(&r, &["scopes[0]"]);
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json["data"], json!([]), "{r}");
    // Test keys are fine.
    create_key(c, &account, &json!({"name": "test", "environment": "test"}));
}

fn key_list_paginates(c: &Ctx) {
    let account = account_id(c, "key pages", "test");
    let path = format!("/accounts/{account}/keys");
    let ids: Vec<String> = (0..12)
        .map(|i| {
            id_of(
                &create_key(
                    c,
                    &account,
                    &json!({"name": format!("k{i}"), "environment": "test"}),
                )
                .0,
            )
        })
        .collect();

    let r = admin(c, "GET", &path, None);
    r.expect_status(200);
    let first: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(first, ids[..10], "default limit 10, creation order");
    assert_eq!(r.json["has_more"], true);

    for limit in [1, 5, 12, 100] {
        assert_eq!(walk(c, &path, limit), ids, "limit={limit}");
    }
    let r = admin(c, "GET", &format!("{path}?limit=12"), None);
    assert_eq!(r.json["has_more"], false, "exactly 12: {r}");
    let r = admin(
        c,
        "GET",
        &format!("{path}?starting_after={}", ids[11]),
        None,
    );
    assert_eq!(r.json["data"], json!([]));
    assert_eq!(r.json["has_more"], false);

    for bad in ["0", "101", "x"] {
        assert_invalid(
            &admin(c, "GET", &format!("{path}?limit={bad}"), None),
            &["limit"],
        );
    }
    // A cursor from another account's list is not a cursor of this one.
    let other = sandboxed(c, "key pages other");
    let r = admin(
        c,
        "GET",
        &format!("{path}?starting_after={}", id_of(&other.key)),
        None,
    );
    assert_invalid(&r, &["starting_after"]);
}

fn key_update_changes_what_the_edge_allows(c: &Ctx) {
    let s = sandboxed(c, "key update");
    let path = format!("/keys/{}", id_of(&s.key));
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    let expires = now() + 7 * DAY;
    let r = admin(
        c,
        "PATCH",
        &path,
        Some(&json!({"name": "renamed", "scopes": ["owners:read"],
                     "allowed_ips": ["198.51.100.0/24"], "products": ["bank_data", "payments"],
                     "expires_at": expires})),
    );
    r.expect_status(200);
    let k = r.json.clone();
    assert_eq!(k["name"], "renamed");
    assert_eq!(k["scopes"], json!(["owners:read"]));
    assert_eq!(k["allowed_ips"], json!(["198.51.100.0/24"]));
    assert_eq!(k["products"], json!(["bank_data", "payments"]));
    assert_eq!(k["expires_at"], json!(expires));
    // What does not change.
    for same in [
        "id",
        "account_id",
        "environment",
        "status",
        "created_at",
        "start",
        "end",
    ] {
        assert_eq!(k[same], s.key[same], "{same}");
    }
    assert_eq!(admin(c, "GET", &path, None).json, k);

    let get = |path: &str, ip: &str| {
        let r =
            c.gw.get(path)
                .bearer(&s.secret)
                .product_key(&s.product_key)
                .client_ip(ip)
                .send();
        audit(&r);
        r.status
    };
    assert_eq!(get("/v1/owners", "198.51.100.20"), 200);
    assert_eq!(get("/v1/accounts", "198.51.100.20"), 403, "scope removed");
    assert_eq!(
        get("/v1/owners", "203.0.113.20"),
        403,
        "outside the allowlist"
    );

    // The account's allowlist applies as well.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{}", s.account),
        Some(&json!({"allowed_ips": ["198.51.100.128/25"]})),
    )
    .expect_status(200);
    assert_eq!(
        get("/v1/owners", "198.51.100.20"),
        403,
        "outside the account's list"
    );
    assert_eq!(get("/v1/owners", "198.51.100.200"), 200);

    // Clearing restrictions.
    let r = admin(
        c,
        "PATCH",
        &path,
        Some(&json!({"scopes": ["*"], "allowed_ips": [], "products": [], "expires_at": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["allowed_ips"], json!([]));
    assert!(r.json["expires_at"].is_null(), "{r}");
    assert_eq!(get("/v1/accounts", "198.51.100.200"), 200);
}

fn key_disable_and_reenable(c: &Ctx) {
    let s = sandboxed(c, "disable");
    let path = format!("/keys/{}", id_of(&s.key));
    for _ in 0..2 {
        let r = admin(c, "PATCH", &path, Some(&json!({"status": "disabled"})));
        r.expect_status(200);
        assert_eq!(r.json["status"], "disabled");
        assert_refused(c, &s.secret, &s.product_key, "disabled");
        assert_eq!(admin(c, "GET", &path, None).json["status"], "disabled");

        let r = admin(c, "PATCH", &path, Some(&json!({"status": "active"})));
        r.expect_status(200);
        assert_eq!(r.json["status"], "active");
        assert_sandbox_ok(c, &s.secret, &s.product_key);
    }
}

fn expired_key_is_refused_and_expiry_can_be_cleared(c: &Ctx) {
    let s = sandboxed(c, "expiry");
    let expires = now() + GRACE;
    let (expiring, secret) = create_key(
        c,
        &s.account,
        &json!({"name": "short-lived", "environment": "test", "expires_at": expires}),
    );
    assert_eq!(expiring["expires_at"], json!(expires));
    assert_sandbox_ok(c, &secret, &s.product_key);
    let (cleared, cleared_secret) = create_key(
        c,
        &s.account,
        &json!({"name": "cleared", "environment": "test", "expires_at": expires}),
    );
    let r = admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&cleared)),
        Some(&json!({"expires_at": null})),
    );
    r.expect_status(200);
    assert!(r.json["expires_at"].is_null(), "{r}");
    sleep_until_after(expires);
    assert_refused(c, &secret, &s.product_key, "expired");
    assert_sandbox_ok(c, &cleared_secret, &s.product_key);
    // An expired key cannot be rolled into a fresh one.
    let r = admin(c, "POST", &format!("/keys/{}/roll", id_of(&expiring)), None);
    assert_eq!(r.status, 409, "{r}");
}

fn roll_with_zero_grace_replaces_the_key_at_once(c: &Ctx) {
    let account = account_id(c, "roll zero", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let expires = now() + 30 * DAY;
    let (old, old_secret) = create_key(
        c,
        &account,
        &json!({"name": "rolled", "environment": "test", "scopes": ["accounts:*"],
                "allowed_ips": ["203.0.113.0/24"], "products": ["bank_data"],
                "expires_at": expires}),
    );
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&old)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    let obj = r.json.as_object().unwrap();
    assert_eq!(
        obj.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["key", "previous", "secret"]),
        "{r}"
    );
    let new = r.json["key"].clone();
    let previous = r.json["previous"].clone();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_key_format(&secret, "sk_test_");
    assert_ne!(secret, old_secret);
    assert_ne!(id_of(&new), id_of(&old));
    assert_eq!(new["start"], json!(&secret[..12]));
    assert_eq!(new["end"], json!(&secret[KEY_LEN - 4..]));
    // Same settings.
    for same in [
        "account_id",
        "name",
        "environment",
        "scopes",
        "allowed_ips",
        "products",
        "expires_at",
    ] {
        assert_eq!(new[same], old[same], "{same} carried over");
    }
    assert_eq!(new["status"], "active");
    assert!(
        new["rolled_to"].is_null() && new["revoke_at"].is_null(),
        "{new}"
    );
    // The previous key points to its successor and is revoked now.
    assert_eq!(previous["id"], old["id"]);
    assert_eq!(previous["rolled_to"], new["id"]);
    assert_near(&previous["revoke_at"], t0, "revoke_at");
    assert!(previous["revoke_at"].as_i64().unwrap() <= now());
    assert_eq!(
        admin(c, "GET", &format!("/keys/{}", id_of(&old)), None).json,
        previous
    );

    let get = |secret: &str| {
        let r =
            c.gw.get("/v1/accounts")
                .bearer(secret)
                .product_key(&pk)
                .client_ip("203.0.113.5")
                .send();
        audit(&r);
        r
    };
    let r = get(&old_secret);
    assert_eq!(r.status, 401, "{r}");
    assert!(
        r.json["message"].as_str().unwrap().contains("rolled"),
        "{r}"
    );
    assert_eq!(get(&secret).status, 200);

    // Both are listed, without secrets.
    let r = admin(c, "GET", &format!("/accounts/{account}/keys"), None);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&old), id_of(&new)]);
}

fn roll_grace_keeps_the_old_key_until_it_ends(c: &Ctx) {
    let s = sandboxed(c, "roll grace");
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&s.key)),
        Some(&json!({"grace_seconds": GRACE})),
    );
    r.expect_status(200);
    let revoke_at = r.json["previous"]["revoke_at"].as_i64().expect("revoke_at");
    assert!(
        revoke_at >= t0 + GRACE && revoke_at <= now() + GRACE,
        "revoke_at {revoke_at} should be {GRACE} s after the roll: {r}"
    );
    let secret = r.json["secret"].as_str().unwrap().to_string();
    // During the grace period both work.
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &secret, &s.product_key);
    sleep_until_after(revoke_at);
    assert_refused(c, &s.secret, &s.product_key, "rolled");
    assert_sandbox_ok(c, &secret, &s.product_key);

    // The default grace is 24 hours; the maximum is 7 days.
    let (k, _) = create_key(
        c,
        &s.account,
        &json!({"name": "default", "environment": "test"}),
    );
    let t0 = now();
    let r = admin(c, "POST", &format!("/keys/{}/roll", id_of(&k)), None);
    r.expect_status(200);
    assert_near(
        &r.json["previous"]["revoke_at"],
        t0 + DAY,
        "default roll grace",
    );
    let (k, _) = create_key(
        c,
        &s.account,
        &json!({"name": "empty body", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&k)),
        Some(&json!({})),
    );
    r.expect_status(200);
    assert_near(
        &r.json["previous"]["revoke_at"],
        t0 + DAY,
        "{} means the default",
    );
    let (k, _) = create_key(
        c,
        &s.account,
        &json!({"name": "max", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&k)),
        Some(&json!({"grace_seconds": 7 * DAY})),
    );
    r.expect_status(200);
    assert_near(&r.json["previous"]["revoke_at"], t0 + 7 * DAY, "7 days");
}

fn roll_grace_is_validated(c: &Ctx) {
    let s = sandboxed(c, "roll validation");
    let key_id = id_of(&s.key);
    for (what, path) in [
        ("roll", format!("/keys/{key_id}/roll")),
        ("leaked", format!("/keys/{key_id}/leaked")),
    ] {
        for bad in [
            json!({"grace_seconds": -1}),
            json!({"grace_seconds": 7 * DAY + 1}),
            json!({"grace_seconds": "60"}),
            json!({"grace_seconds": 1.5}),
            json!({"grace_seconds": null}),
        ] {
            let r = admin(c, "POST", &path, Some(&bad));
            assert_eq!(r.status, 400, "{what} with {bad}: {r}");
            assert_invalid(&r, &["grace_seconds"]);
        }
        assert_invalid(
            &admin(c, "POST", &path, Some(&json!({"grace": 60}))),
            &["grace"],
        );
        let r = admin(c, "POST", &path, Some(&json!([60])));
        assert_eq!(r.status, 400, "{what}: {r}");
    }
    // None of these changed the key.
    let r = admin(c, "GET", &format!("/keys/{key_id}"), None);
    assert_eq!(r.json, s.key);
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    assert_eq!(
        r.json["data"].as_array().unwrap().len(),
        1,
        "no successor: {r}"
    );
}

fn roll_never_extends_an_earlier_revocation(c: &Ctx) {
    let s = sandboxed(c, "roll after leak");
    // Leaked with a minute to go: a roll with a week of grace keeps that minute.
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 60})),
    );
    r.expect_status(200);
    let leaked_revoke_at = r.json["revoke_at"].clone();
    assert_near(&leaked_revoke_at, t0 + 60, "leaked revoke_at");
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&s.key)),
        Some(&json!({"grace_seconds": 7 * DAY})),
    );
    r.expect_status(200);
    assert_eq!(r.json["previous"]["revoke_at"], leaked_revoke_at, "{r}");
    assert_near(&r.json["previous"]["leaked_at"], t0, "still marked leaked");
    // The successor is a fresh key: not leaked, not revoked.
    assert!(r.json["key"]["leaked_at"].is_null(), "{r}");
    assert!(r.json["key"]["revoke_at"].is_null(), "{r}");

    // Leaked with three days to go: a default roll brings it to one day.
    let (k, _) = create_key(c, &s.account, &json!({"name": "k", "environment": "test"}));
    let t0 = now();
    admin(c, "POST", &format!("/keys/{}/leaked", id_of(&k)), None).expect_status(200);
    let r = admin(c, "POST", &format!("/keys/{}/roll", id_of(&k)), None);
    r.expect_status(200);
    assert_near(
        &r.json["previous"]["revoke_at"],
        t0 + DAY,
        "the shorter grace wins",
    );
}

fn roll_refuses_rolled_disabled_and_revoked_keys(c: &Ctx) {
    let s = sandboxed(c, "roll refusals");
    let roll = |id: &str| admin(c, "POST", &format!("/keys/{id}/roll"), None);

    // Already rolled (still in grace): 409, no second successor.
    let r = roll(&id_of(&s.key));
    r.expect_status(200);
    let successor = r.json["key"].clone();
    let r = roll(&id_of(&s.key));
    assert_eq!(r.status, 409, "{r}");

    // Disabled: 409; revoked: 409 and cannot be re-enabled either.
    let (k, _) = create_key(
        c,
        &s.account,
        &json!({"name": "disabled", "environment": "test"}),
    );
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    assert_eq!(roll(&id_of(&k)).status, 409);

    let (k, secret) = create_key(
        c,
        &s.account,
        &json!({"name": "revoked", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&k)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    assert_eq!(roll(&id_of(&k)).status, 409);
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    let r = admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "active"})),
    );
    assert_eq!(r.status, 409, "re-enabling a revoked key: {r}");
    assert_refused(c, &secret, &s.product_key, "disabled");

    // Three created, one successor: nothing else was issued.
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids.len(), 4, "{r}");
    assert!(ids.contains(&id_of(&successor)));
}

fn leaked_default_grace_is_three_days(c: &Ctx) {
    let s = sandboxed(c, "leaked default");
    let t0 = now();
    let r = admin(c, "POST", &format!("/keys/{}/leaked", id_of(&s.key)), None);
    r.expect_status(200);
    assert_eq!(r.json["object"], "api_key");
    assert_eq!(r.json["id"], s.key["id"]);
    assert_near(&r.json["leaked_at"], t0, "leaked_at");
    assert_near(&r.json["revoke_at"], t0 + 3 * DAY, "revoke_at");
    assert_eq!(r.json["status"], "active");
    assert_eq!(
        admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None).json,
        r.json
    );
    // Still works during the grace period.
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    // A second report can only bring revocation closer and keeps the first time.
    let first = r.json.clone();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 7 * DAY})),
    );
    r.expect_status(200);
    assert_eq!(r.json["revoke_at"], first["revoke_at"], "not postponed");
    assert_eq!(r.json["leaked_at"], first["leaked_at"]);
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    assert!(r.json["revoke_at"].as_i64().unwrap() <= now(), "{r}");
    assert_refused(c, &s.secret, &s.product_key, "leaked");
}

fn leaked_grace_ends_in_revocation(c: &Ctx) {
    let s = sandboxed(c, "leaked grace");
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": GRACE})),
    );
    r.expect_status(200);
    let revoke_at = r.json["revoke_at"].as_i64().unwrap();
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    sleep_until_after(revoke_at);
    assert_refused(c, &s.secret, &s.product_key, "leaked");
    // The customer replaces it with a new key.
    let (_, fresh) = create_key(
        c,
        &s.account,
        &json!({"name": "fresh", "environment": "test"}),
    );
    assert_sandbox_ok(c, &fresh, &s.product_key);
}

fn delete_key_revokes_it_now(c: &Ctx) {
    let s = sandboxed(c, "delete");
    let (other, other_secret) = create_key(
        c,
        &s.account,
        &json!({"name": "stays", "environment": "test"}),
    );
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    let path = format!("/keys/{}", id_of(&s.key));
    let r = admin(c, "DELETE", &path, None);
    r.expect_status(204);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 401, "a deleted key: {r}");
    assert_eq!(admin(c, "GET", &path, None).status, 404);
    assert_eq!(admin(c, "DELETE", &path, None).status, 404, "twice");
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    assert_eq!(r.json["data"], json!([other]), "{r}");
    assert_sandbox_ok(c, &other_secret, &s.product_key);
}

fn unknown_key_is_404(c: &Ctx) {
    for id in [
        "key_doesnotexist0000000",
        "nonsense",
        "acct_doesnotexist000000",
    ] {
        let cases: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/keys/{id}"), None),
            ("PATCH", format!("/keys/{id}"), Some(json!({"name": "x"}))),
            ("DELETE", format!("/keys/{id}"), None),
            ("POST", format!("/keys/{id}/roll"), None),
            ("POST", format!("/keys/{id}/leaked"), None),
        ];
        for (method, path, body) in &cases {
            let r = admin(c, method, path, body.as_ref());
            assert_eq!(r.status, 404, "{method} {path}: {r}");
        }
    }
}

// ------------------------------------------------------------------------------------------
// Leak reports
// ------------------------------------------------------------------------------------------

fn leak_report_marks_our_keys_and_names_them_by_fragment(c: &Ctx) {
    let s = sandboxed(c, "leak report");
    let (gone, gone_secret) = create_key(
        c,
        &s.account,
        &json!({"name": "gone", "environment": "test"}),
    );
    admin(c, "DELETE", &format!("/keys/{}", id_of(&gone)), None).expect_status(204);
    let t0 = now();
    let report = json!([
        {"token": s.secret, "url": "https://github.com/acme/app/blob/main/.env", "source": "content"},
        {"token": gone_secret, "type": "keygate_secret_key"},
        {"token": "hello-world"},
        {"token": s.product_key, "url": "https://gist.github.com/x"},
    ]);
    let r = admin(c, "POST", "/leaks", Some(&report));
    r.expect_status(200);
    assert_eq!(r.json["object"], "leak_report");
    let results = r.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{r}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], json!(i), "{r}");
    }

    let ours = &results[0];
    assert_eq!(ours["ours"], true, "{r}");
    assert_eq!(ours["type"], "secret_key");
    assert_eq!(ours["key_id"], s.key["id"]);
    assert_eq!(ours["account_id"], json!(s.account));
    assert_near(
        &ours["revoke_at"],
        t0 + 3 * DAY,
        "revoke_at of a reported key",
    );
    assert_eq!(
        ours["token"],
        json!(format!("{}…{}", &s.secret[..12], &s.secret[KEY_LEN - 4..])),
        "the token by its display fragments"
    );
    // Well-formed but not (any more) ours.
    assert_eq!(results[1]["ours"], false, "{r}");
    assert!(results[1]["key_id"].is_null(), "{r}");
    assert_eq!(results[2]["ours"], false, "{r}");
    // A product key is recognised; it identifies, so there is nothing to revoke.
    assert_eq!(results[3]["ours"], true, "{r}");
    assert_eq!(results[3]["type"], "product_key");
    assert_eq!(results[3]["account_id"], json!(s.account));
    for (i, token) in [&s.secret, &gone_secret, &s.product_key].iter().enumerate() {
        assert!(
            !r.text().contains(token.as_str()),
            "token {i} repeated: {r}"
        );
    }

    // The key is marked leaked and keeps working for the grace period.
    let k = admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None).json;
    assert_near(&k["leaked_at"], t0, "leaked_at");
    assert_eq!(k["revoke_at"], ours["revoke_at"]);
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    // The `{"tokens": [...]}` form and an empty report.
    let (k2, s2) = create_key(
        c,
        &s.account,
        &json!({"name": "second", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        "/leaks",
        Some(&json!({"tokens": [{"token": s2}]})),
    );
    r.expect_status(200);
    assert_eq!(r.json["results"][0]["key_id"], k2["id"], "{r}");
    let r = admin(c, "POST", "/leaks", Some(&json!([])));
    r.expect_status(200);
    assert_eq!(r.json["results"], json!([]));
}

fn leak_report_validation(c: &Ctx) {
    let post = |body: Value| admin(c, "POST", "/leaks", Some(&body));
    for bad in [
        json!({"token": "x"}),
        json!("sk_test_x"),
        json!({"tokens": "x"}),
    ] {
        let r = post(bad.clone());
        assert_eq!(r.status, 400, "{bad}: {r}");
    }
    assert_invalid(&post(json!([{"url": "https://x"}])), &["[0].token"]);
    assert_invalid(&post(json!([{"token": 7}])), &["[0].token"]);
    assert_invalid(&post(json!([{"token": "a"}, 5])), &["[1]"]);
    assert_invalid(&post(json!([{"token": "a", "url": 5}])), &["[0].url"]);
    let r = admin_raw(c, "POST", "/leaks", "[{\"token\": ");
    assert_eq!(r.status, 400, "{r}");
}

// ------------------------------------------------------------------------------------------
// Protocol
// ------------------------------------------------------------------------------------------

fn malformed_json_is_400(c: &Ctx) {
    let s = sandboxed(c, "malformed");
    let key = id_of(&s.key);
    let cases = [
        ("POST", "/accounts".to_string()),
        ("PATCH", format!("/accounts/{}", s.account)),
        ("POST", format!("/accounts/{}/keys", s.account)),
        ("PATCH", format!("/keys/{key}")),
        ("POST", format!("/keys/{key}/roll")),
        ("POST", format!("/keys/{key}/leaked")),
        ("POST", "/leaks".to_string()),
    ];
    for (method, path) in &cases {
        for body in ["{\"name\": ", "{'name': 'x'}", "not json", "{\"a\":1}}"] {
            let r = admin_raw(c, method, path, body);
            assert_eq!(r.status, 400, "{method} {path} with {body:?}: {r}");
        }
    }
    // Nothing happened to the key.
    assert_eq!(admin(c, "GET", &format!("/keys/{key}"), None).json, s.key);
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1);
}

fn wrong_method_is_405_with_allow(c: &Ctx) {
    let s = sandboxed(c, "methods");
    let key = id_of(&s.key);
    let a = &s.account;
    let cases: Vec<(&str, String, &[&str])> = vec![
        ("DELETE", "/accounts".into(), &["GET", "POST"]),
        ("PUT", "/accounts".into(), &["GET", "POST"]),
        ("POST", format!("/accounts/{a}"), &["GET", "PATCH"]),
        ("DELETE", format!("/accounts/{a}"), &["GET", "PATCH"]),
        ("PUT", format!("/accounts/{a}"), &["GET", "PATCH"]),
        (
            "POST",
            format!("/accounts/{a}/products/bank_data"),
            &["PUT", "DELETE"],
        ),
        ("PATCH", format!("/accounts/{a}/keys"), &["GET", "POST"]),
        ("DELETE", format!("/accounts/{a}/keys"), &["GET", "POST"]),
        ("POST", format!("/keys/{key}"), &["GET", "PATCH", "DELETE"]),
        ("PUT", format!("/keys/{key}"), &["GET", "PATCH", "DELETE"]),
        ("GET", format!("/keys/{key}/roll"), &["POST"]),
        ("DELETE", format!("/keys/{key}/leaked"), &["POST"]),
        ("GET", "/leaks".into(), &["POST"]),
    ];
    for (method, path, must_allow) in &cases {
        let r = admin(c, method, path, None);
        assert_eq!(r.status, 405, "{method} {path}: {r}");
        let allow = r
            .header("allow")
            .unwrap_or_else(|| panic!("405 without Allow: {r}"));
        let allowed: BTreeSet<&str> = allow.split(',').map(str::trim).collect();
        for m in *must_allow {
            assert!(allowed.contains(m), "Allow should list {m}: {r}");
        }
        assert!(
            !allowed.contains(method),
            "Allow lists the refused method: {r}"
        );
    }
    // The key was not touched by any of these.
    assert_eq!(admin(c, "GET", &format!("/keys/{key}"), None).json, s.key);
}

fn unknown_admin_path_is_404(c: &Ctx) {
    for path in [
        "/admin/v1",
        "/admin/v1/",
        "/admin/v1/nope",
        "/admin/v1/accounts/",
        "/admin/v1/accounts/acct_x/unknown",
        "/admin/v1/keys/key_x/unroll",
        "/admin/v2/accounts",
    ] {
        let r = c.gw.admin("GET", path).send();
        audit(&r);
        assert_eq!(r.status, 404, "{path}: {r}");
    }
}

fn oversized_body_is_413(c: &Ctx) {
    let body = json!({"name": "x".repeat(100 * 1024), "agreement": "test"});
    let r = admin(c, "POST", "/accounts", Some(&body));
    assert_eq!(r.status, 413, "{r}");
}

/// Walks every read endpoint after keys were created, rolled, leaked and refused, and checks
/// (through [`audit`]) that none of them carries a secret or a hash; then the gateway's log.
fn no_response_carries_secret_material(c: &Ctx) {
    let account = account_id(c, "no secrets", "production");
    let e = entitle(c, &account, "bank_data");
    let (k1, s1) = create_key(c, &account, &json!({"name": "one", "environment": "test"}));
    let (k2, s2) = create_key(c, &account, &json!({"name": "two", "environment": "live"}));
    let r = admin(c, "POST", &format!("/keys/{}/roll", id_of(&k1)), None);
    let s3 = r.json["secret"].as_str().unwrap().to_string();
    let k3 = r.json["key"].clone();
    admin(c, "POST", &format!("/keys/{}/leaked", id_of(&k2)), None).expect_status(200);
    admin(c, "POST", "/leaks", Some(&json!([{"token": s3}]))).expect_status(200);
    let secrets = [s1.clone(), s2.clone(), s3.clone()];

    let mut answers: Vec<Resp> = Vec::new();
    for path in [
        "/accounts?limit=100".to_string(),
        format!("/accounts/{account}"),
        format!("/accounts/{account}/keys?limit=100"),
        format!("/accounts/{account}/products/bank_data"),
        format!("/keys/{}", id_of(&k1)),
        format!("/keys/{}", id_of(&k2)),
        format!("/keys/{}", id_of(&k3)),
    ] {
        answers.push(admin(c, "GET", &path, None));
    }
    // Error answers that had a secret in the request.
    answers.push(manage(c, &s1, "GET", "/accounts", None));
    answers.push(manage(
        c,
        &s2,
        "GET",
        &format!("/accounts/{account}/keys"),
        None,
    ));
    let r =
        c.gw.get("/admin/v1/accounts")
            .bearer(&s1)
            .api_key(&s2)
            .send();
    audit(&r);
    answers.push(r);
    answers.push(admin(
        c,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(
            &json!({"name": "bad", "environment": "test", "allowed_ips": [s1],
                     "scopes": [s2], "products": [s3]}),
        ),
    ));
    answers.push(admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k3)),
        Some(&json!({"expires_at": s1})),
    ));
    answers.push(edge(c, &s2, "/v1/accounts", Some(&pk_test(&e))));
    for r in &answers {
        for (i, s) in secrets.iter().enumerate() {
            assert!(!r.text().contains(s.as_str()), "secret {i} in: {r}");
        }
    }
    // Key views show display fragments only.
    let list = admin(c, "GET", &format!("/accounts/{account}/keys"), None);
    for k in list.json["data"].as_array().unwrap() {
        assert_eq!(k["start"].as_str().unwrap().len(), 12, "{k}");
        assert_eq!(k["end"].as_str().unwrap().len(), 4, "{k}");
    }
    // Nor does the gateway's log carry a secret.
    let logs = c.gw.logs();
    for (i, s) in secrets.iter().enumerate() {
        assert!(
            !logs.contains(s.as_str()),
            "secret {i} in the gateway's log"
        );
    }
    assert!(
        full_secret_keys(&logs).is_empty(),
        "a secret key in the gateway's log"
    );
}

// ------------------------------------------------------------------------------------------
// Tenant isolation and concurrency
// ------------------------------------------------------------------------------------------

fn tenant_isolation(c: &Ctx) {
    let a = sandboxed(c, "tenant a");
    let b = sandboxed(c, "tenant b");
    assert_ne!(a.product_key, b.product_key);

    // A's secret with B's product key: 404, like an unknown product key.
    let cross = edge(c, &a.secret, "/v1/accounts", Some(&b.product_key));
    assert_eq!(cross.status, 404, "{cross}");
    let unknown = edge(
        c,
        &a.secret,
        "/v1/accounts",
        Some("pk_test_00000000000000000000000000000000000000"),
    );
    assert_eq!(unknown.status, 404, "{unknown}");
    assert_eq!(cross.json["message"], unknown.json["message"]);

    // Each account lists its own keys only.
    for s in [&a, &b] {
        let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
        assert_eq!(r.json["data"], json!([s.key]), "{r}");
    }

    // Changes to B do not touch A.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{}", b.account),
        Some(&json!({"status": "suspended"})),
    )
    .expect_status(200);
    admin(
        c,
        "DELETE",
        &format!("/accounts/{}/products/bank_data", b.account),
        None,
    )
    .expect_status(204);
    assert_sandbox_ok(c, &a.secret, &a.product_key);
    let r = admin(c, "GET", &format!("/accounts/{}", a.account), None);
    assert_eq!(r.json["status"], "active");
    assert_eq!(r.json["products"], json!(["bank_data"]));

    // A manager key of A cannot reach B, even by B's product of the same id.
    let (_, m) = create_key(
        c,
        &a.account,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    let r = manage(c, &m, "GET", &format!("/keys/{}", id_of(&b.key)), None);
    assert_eq!(r.status, 404, "{r}");
}

fn twenty_concurrent_key_creations_lose_none(c: &Ctx) {
    const N: usize = 20;
    let account = account_id(c, "twenty at once", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let barrier = Barrier::new(N);
    let created: Vec<(Value, String)> = thread::scope(|scope| {
        let handles: Vec<_> = (0..N)
            .map(|i| {
                let barrier = &barrier;
                let account = &account;
                scope.spawn(move || {
                    barrier.wait();
                    create_key(
                        c,
                        account,
                        &json!({"name": format!("concurrent {i:02}"), "environment": "test"}),
                    )
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ids: BTreeSet<String> = created.iter().map(|(k, _)| id_of(k)).collect();
    let secrets: BTreeSet<&String> = created.iter().map(|(_, s)| s).collect();
    assert_eq!(ids.len(), N, "distinct ids");
    assert_eq!(secrets.len(), N, "distinct secrets");

    // All twenty are stored: the list has exactly them, each once.
    let r = admin(
        c,
        "GET",
        &format!("/accounts/{account}/keys?limit=100"),
        None,
    );
    let listed: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(listed.len(), N, "{r}");
    assert_eq!(listed.iter().cloned().collect::<BTreeSet<_>>(), ids);
    let names: BTreeSet<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), N, "{r}");
    assert_eq!(walk(c, &format!("/accounts/{account}/keys"), 7), listed);

    // Each one reads back and works at the edge.
    for (key, secret) in &created {
        assert_eq!(
            &admin(c, "GET", &format!("/keys/{}", id_of(key)), None).json,
            key
        );
        assert_sandbox_ok(c, secret, &pk);
    }
}

fn concurrent_writes_to_one_account_lose_no_update(c: &Ctx) {
    let account = account_id(c, "concurrent writes", "production");
    let path = format!("/accounts/{account}");
    let writes: Vec<(&str, String, Option<Value>)> = vec![
        (
            "PATCH",
            path.clone(),
            Some(json!({"name": "renamed concurrently"})),
        ),
        (
            "PATCH",
            path.clone(),
            Some(json!({"allowed_ips": ["203.0.113.0/24"]})),
        ),
        ("PATCH", path.clone(), Some(json!({"status": "suspended"}))),
        ("PUT", format!("{path}/products/bank_data"), None),
        ("PUT", format!("{path}/products/payments"), None),
        ("PUT", format!("{path}/products/insurance"), None),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k1", "environment": "test"})),
        ),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k2", "environment": "live"})),
        ),
        (
            "POST",
            format!("{path}/keys"),
            Some(json!({"name": "k3", "environment": "test"})),
        ),
    ];
    let barrier = Barrier::new(writes.len());
    thread::scope(|scope| {
        for (method, path, body) in &writes {
            let barrier = &barrier;
            scope.spawn(move || {
                barrier.wait();
                let r = admin(c, method, path, body.as_ref());
                assert!((200..300).contains(&r.status), "{r}");
            });
        }
    });
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json["name"], "renamed concurrently", "{r}");
    assert_eq!(r.json["allowed_ips"], json!(["203.0.113.0/24"]), "{r}");
    assert_eq!(r.json["status"], "suspended", "{r}");
    assert_eq!(r.json["agreement"], "production", "{r}");
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");
    let r = admin(c, "GET", &format!("{path}/keys"), None);
    let mut names: Vec<&str> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["k1", "k2", "k3"], "{r}");
}

fn concurrent_patches_to_one_key_lose_no_update(c: &Ctx) {
    let s = sandboxed(c, "concurrent key patches");
    let path = format!("/keys/{}", id_of(&s.key));
    let expires = now() + 10 * DAY;
    let patches = [
        json!({"name": "patched concurrently"}),
        json!({"scopes": ["accounts:read"]}),
        json!({"allowed_ips": ["192.0.2.0/24"]}),
        json!({"products": ["bank_data"]}),
        json!({"expires_at": expires}),
        json!({"status": "disabled"}),
    ];
    let barrier = Barrier::new(patches.len());
    thread::scope(|scope| {
        for body in &patches {
            let barrier = &barrier;
            let path = &path;
            scope.spawn(move || {
                barrier.wait();
                admin(c, "PATCH", path, Some(body)).expect_status(200);
            });
        }
    });
    let k = admin(c, "GET", &path, None).json;
    assert_eq!(k["name"], "patched concurrently", "{k}");
    assert_eq!(k["scopes"], json!(["accounts:read"]), "{k}");
    assert_eq!(k["allowed_ips"], json!(["192.0.2.0/24"]), "{k}");
    assert_eq!(k["products"], json!(["bank_data"]), "{k}");
    assert_eq!(k["expires_at"], json!(expires), "{k}");
    assert_eq!(k["status"], "disabled", "{k}");
}

// ------------------------------------------------------------------------------------------
// Demo seed and the README flow
// ------------------------------------------------------------------------------------------

/// `scripts/demo.env` as a map.
fn demo_env() -> BTreeMap<String, String> {
    let path = repo_root().join("scripts/demo.env");
    let text = std::fs::read_to_string(&path).expect("scripts/demo.env");
    let env: BTreeMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for name in [
        "DEMO_ACCOUNT_ID",
        "DEMO_SECRET_KEY",
        "DEMO_PRODUCT_KEY",
        "DEMO_PAYMENTS_PRODUCT_KEY",
        "DEMO_INSURANCE_PRODUCT_KEY",
        "DEMO_PATH",
    ] {
        assert!(
            env.contains_key(name),
            "{name} missing from scripts/demo.env"
        );
    }
    env
}

/// Checks a demo gateway: the seeded account, entitlements, the one key, and that the demo key
/// works in the sandbox. Returns the ids of all accounts.
fn check_demo(gw: &Gateway, env: &BTreeMap<String, String>) -> Vec<String> {
    let get = |path: &str| {
        let r = gw.admin("GET", path).send();
        audit(&r);
        r
    };
    let acct = &env["DEMO_ACCOUNT_ID"];
    let accounts = get("/accounts?limit=100");
    accounts.expect_status(200);
    let ids: Vec<String> = accounts.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(
        ids.iter().filter(|id| *id == acct).count(),
        1,
        "one demo account: {accounts}"
    );

    let r = get(&format!("/accounts/{acct}"));
    r.expect_status(200);
    assert_eq!(r.json["agreement"], "test", "{r}");
    assert_eq!(r.json["status"], "active", "{r}");
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");

    for (product, var) in [
        ("bank_data", "DEMO_PRODUCT_KEY"),
        ("payments", "DEMO_PAYMENTS_PRODUCT_KEY"),
        ("insurance", "DEMO_INSURANCE_PRODUCT_KEY"),
    ] {
        let r = get(&format!("/accounts/{acct}/products/{product}"));
        r.expect_status(200);
        assert_eq!(
            r.json["product_keys"]["test"],
            json!(env[var]),
            "{var}: {r}"
        );
        assert!(r.json["product_keys"]["live"].is_null(), "{r}");
    }

    let secret = &env["DEMO_SECRET_KEY"];
    let r = get(&format!("/accounts/{acct}/keys?limit=100"));
    let keys = r.json["data"].as_array().unwrap();
    assert_eq!(keys.len(), 1, "one demo key: {r}");
    assert_eq!(keys[0]["environment"], "test");
    assert_eq!(keys[0]["status"], "active");
    assert_eq!(keys[0]["start"], json!(&secret[..12]), "{r}");
    assert_eq!(keys[0]["end"], json!(&secret[KEY_LEN - 4..]), "{r}");

    let r = gw
        .get(&env["DEMO_PATH"])
        .bearer(secret)
        .product_key(&env["DEMO_PRODUCT_KEY"])
        .send();
    audit(&r);
    assert_eq!(r.status, 200, "the demo request: {r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    for (path, var) in [
        ("/v1/statements", "DEMO_PAYMENTS_PRODUCT_KEY"),
        ("/v1/insurance_products", "DEMO_INSURANCE_PRODUCT_KEY"),
    ] {
        let r = gw.get(path).basic(secret, "").product_key(&env[var]).send();
        audit(&r);
        assert_eq!(r.status, 200, "{path} with {var}: {r}");
        assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    }
    ids
}

fn demo_seed_matches_demo_env_and_seeds_once(_c: &Ctx) {
    let env = demo_env();
    assert_eq!(env["DEMO_ACCOUNT_ID"], "acct_demo");
    assert_key_format(&env["DEMO_SECRET_KEY"], "sk_test_");
    for var in [
        "DEMO_PRODUCT_KEY",
        "DEMO_PAYMENTS_PRODUCT_KEY",
        "DEMO_INSURANCE_PRODUCT_KEY",
    ] {
        assert_key_format(&env[var], "pk_test_");
    }

    let state = tempfile::tempdir().expect("temp dir");
    let start = || {
        Gateway::builder()
            .var("DEMO_SEED", "true")
            .var("REQUIRE_HTTPS", "false")
            .persist_to(state.path().join("state"))
            .start()
    };
    let gw = start();
    // The first admin request seeds; the next ones do not seed again.
    let first = check_demo(&gw, &env);
    let r = gw
        .admin("POST", "/accounts")
        .json(&json!({"name": "after the seed", "agreement": "test"}))
        .send();
    audit(&r);
    r.expect_status(201);
    let mine = id_of(&r.json);
    let second = check_demo(&gw, &env);
    assert_eq!(second.len(), first.len() + 1, "{first:?} {second:?}");
    gw.stop();

    // A restart on the same storage seeds nothing new and keeps what was there.
    let gw = start();
    let third = check_demo(&gw, &env);
    assert_eq!(third, second, "accounts after a restart");
    assert!(third.contains(&mine));
}

fn demo_seed_is_refused_when_https_is_required(_c: &Ctx) {
    let env = demo_env();
    let gw = Gateway::builder()
        .https()
        .var("DEMO_SEED", "true")
        .var("REQUIRE_HTTPS", "true")
        .start();
    let r = gw.admin("GET", "/accounts?limit=100").send();
    audit(&r);
    r.expect_status(200);
    let r = gw.admin("GET", "/accounts/acct_demo").send();
    audit(&r);
    assert_eq!(
        r.status, 404,
        "the public demo key must not exist here: {r}"
    );
    let r = gw
        .get(&env["DEMO_PATH"])
        .bearer(&env["DEMO_SECRET_KEY"])
        .product_key(&env["DEMO_PRODUCT_KEY"])
        .send();
    audit(&r);
    assert_eq!(r.status, 401, "{r}");
}

/// Runs curl; returns (status, parsed body) and audits the body for secrets.
fn curl(args: &[&str], issues_secret: bool) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "60", "-w", "\n%{http_code}"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("status line");
    let status: u16 = code.trim().parse().expect("status");
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let secrets = full_secret_keys(body);
    if issues_secret {
        assert_eq!(secrets.len(), 1, "{body}");
    } else {
        assert!(secrets.is_empty(), "a secret in: {body}");
    }
    (status, json)
}

fn readme_flow_with_curl(c: &Ctx) {
    let base = c.gw.base_url();
    let auth = format!("Authorization: Bearer {ADMIN_TOKEN}");
    let ctype = "Content-Type: application/json";
    let str_of = |v: &Value, what: &str| {
        v.as_str()
            .unwrap_or_else(|| panic!("{what} missing"))
            .to_string()
    };

    // 1. An account.
    let (status, account) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/accounts"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"name": "Newcomer GmbH", "agreement": "test"}"#,
        ],
        false,
    );
    assert_eq!(status, 201, "{account}");
    let acct = str_of(&account["id"], "account id");

    // 2. Its product, for the product key.
    let (status, entitlement) = curl(
        &[
            "-X",
            "PUT",
            &format!("{base}/admin/v1/accounts/{acct}/products/bank_data"),
            "-H",
            &auth,
        ],
        false,
    );
    assert_eq!(status, 201, "{entitlement}");
    let pk = str_of(&entitlement["product_keys"]["test"], "product key");

    // 3. A key; the secret is shown once.
    let (status, created) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/accounts/{acct}/keys"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"name": "my first key", "environment": "test"}"#,
        ],
        true,
    );
    assert_eq!(status, 201, "{created}");
    let key_id = str_of(&created["key"]["id"], "key id");
    let secret = str_of(&created["secret"], "secret");

    let call = |secret: &str| {
        curl(
            &[
                &format!("{base}/v1/accounts"),
                "-u",
                &format!("{secret}:"),
                "-H",
                &format!("X-Product-Key: {pk}"),
            ],
            false,
        )
    };
    let (status, data) = call(&secret);
    assert_eq!(status, 200, "{data}");
    assert_eq!(data["object"], "list", "{data}");

    // 4. Roll it (default grace: the old key keeps working for now).
    let (status, rolled) = curl(
        &[
            "-X",
            "POST",
            &format!("{base}/admin/v1/keys/{key_id}/roll"),
            "-H",
            &auth,
        ],
        true,
    );
    assert_eq!(status, 200, "{rolled}");
    let new_id = str_of(&rolled["key"]["id"], "new key id");
    let new_secret = str_of(&rolled["secret"], "new secret");
    assert_eq!(rolled["previous"]["rolled_to"], json!(new_id));
    assert_eq!(call(&new_secret).0, 200);
    assert_eq!(call(&secret).0, 200, "the old key during its grace period");

    // 5. Disable the new key.
    let (status, disabled) = curl(
        &[
            "-X",
            "PATCH",
            &format!("{base}/admin/v1/keys/{new_id}"),
            "-H",
            &auth,
            "-H",
            ctype,
            "-d",
            r#"{"status": "disabled"}"#,
        ],
        false,
    );
    assert_eq!(status, 200, "{disabled}");
    assert_eq!(disabled["status"], "disabled");
    let (status, refused) = call(&new_secret);
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or_default()
            .contains("disabled"),
        "{refused}"
    );

    // The listing shows both keys, without secrets.
    let (status, list) = curl(
        &[
            &format!("{base}/admin/v1/accounts/{acct}/keys"),
            "-H",
            &auth,
        ],
        false,
    );
    assert_eq!(status, 200, "{list}");
    let ids: Vec<String> = list["data"].as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids, [key_id, new_id]);
}

/// Test keys live in CI settings and on laptops: one with `keys:manage` must not be a way to
/// mint or take over a live key of a production account. A live manager may manage both.
fn test_manager_key_manages_test_keys_only(c: &Ctx) {
    let account = account_id(c, "environments", "production");
    let manager_scopes = json!(["keys:manage", "accounts:read"]);
    let (_, test_manager) = create_key(
        c,
        &account,
        &json!({"name": "test manager", "environment": "test", "scopes": manager_scopes}),
    );
    let (_, live_manager) = create_key(
        c,
        &account,
        &json!({"name": "live manager", "environment": "live", "scopes": manager_scopes}),
    );
    let keys = format!("/accounts/{account}/keys");
    let narrow = |environment: &str| {
        json!({"name": format!("{environment} reader"), "environment": environment,
               "scopes": ["accounts:read"]})
    };

    let r = manage(c, &test_manager, "POST", &keys, Some(&narrow("live")));
    assert_eq!(r.status, 403, "a test manager minting a live key: {r}");
    assert!(r.json.get("secret").is_none(), "{r}");
    manage(c, &test_manager, "POST", &keys, Some(&narrow("test"))).expect_status(201);

    let r = manage(c, &live_manager, "POST", &keys, Some(&narrow("live")));
    r.expect_status(201);
    let live_key = id_of(&r.json["key"]);
    manage(c, &live_manager, "POST", &keys, Some(&narrow("test"))).expect_status(201);

    // Nor may it change, roll, leak or delete the live key; reading it is harmless.
    let key_path = format!("/keys/{live_key}");
    let attempts = [
        (
            "PATCH",
            key_path.clone(),
            Some(json!({"status": "disabled"})),
        ),
        ("POST", format!("{key_path}/roll"), None),
        ("POST", format!("{key_path}/leaked"), None),
        ("DELETE", key_path.clone(), None),
    ];
    for (method, path, body) in &attempts {
        let r = manage(c, &test_manager, method, path, body.as_ref());
        assert_eq!(r.status, 403, "a test manager: {method} {path}: {r}");
    }
    manage(c, &test_manager, "GET", &key_path, None).expect_status(200);
    let after = admin(c, "GET", &key_path, None);
    assert_eq!(after.json["status"], "active", "{after}");
    assert!(after.json["revoke_at"].is_null(), "{after}");
    assert!(after.json["rolled_to"].is_null(), "{after}");
}

/// `worker::Method` reads a method it does not know as GET: `QUERY /admin/v1/accounts` once
/// answered the account list. Unknown methods are 405 on the admin API and at the edge, on the
/// fast path and on the workers-rs path (a rate-limited key takes the latter).
fn unknown_methods_are_refused_not_read_as_get(c: &Ctx) {
    let s = sandboxed(c, "unknown-methods");
    let a = &s.account;
    for (path, allow) in [
        ("/accounts".to_string(), "GET, POST"),
        (format!("/accounts/{a}"), "GET, PATCH"),
        (format!("/keys/{}", id_of(&s.key)), "GET, PATCH, DELETE"),
    ] {
        let r = admin(c, "QUERY", &path, None);
        assert_eq!(r.status, 405, "QUERY {path}: {r}");
        assert_eq!(r.header("allow"), Some(allow), "QUERY {path}: {r}");
        assert!(r.json.get("data").is_none(), "QUERY {path} was read: {r}");
    }
    let (_, limited) = create_key(
        c,
        a,
        &json!({"name": "limited", "environment": "test",
                "rate_limit": {"requests": 1000, "period_seconds": 60}}),
    );
    for (secret, why) in [(&s.secret, "fast path"), (&limited, "rate-limited key")] {
        let r =
            c.gw.request("QUERY", "/v1/accounts")
                .bearer(secret)
                .product_key(&s.product_key)
                .send();
        assert_eq!(r.status, 405, "QUERY /v1/accounts ({why}): {r}");
        assert!(
            r.json.get("data").is_none(),
            "QUERY was read as GET ({why}): {r}"
        );
    }
}
