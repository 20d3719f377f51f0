//! What the edge reports back (SPEC §11) end to end: real workerd through `wrangler dev`, HTTP
//! only. A key's use shows on every key view (`last_used_at`, `last_used_ip`, `ips_seen`: the
//! most recent addresses first, at most 20, with counts), at most about a minute late, for
//! granted requests only. A request refused after its key was identified can be looked up at
//! `GET /admin/v1/requests/{X-Request-Id}` with its true reason — by the operator and the
//! account's own `keys:manage` keys only — even when `HIDE_FORBIDDEN` answered it as an unknown
//! route. An allowlist in `ip_mode: "report"` lets an outside address through and records one
//! `ip.would_deny` event per key and address per hour; `"enforce"` refuses it.
//!
//! Isolates send what they saw off the hot path, after a later request once something is due
//! (a refusal ~1 s after it happened, a key's use at most once a minute): every wait here keeps
//! an unauthenticated edge request going ([`pump`], refused before any key is identified, so
//! it records nothing) while it polls the admin API.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`     — the harness defaults (`HIDE_FORBIDDEN=false`); test keys, answered by the
//!   sandbox, so no origin is needed.
//! * `hidden` — `HIDE_FORBIDDEN=true`.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Edge and manager requests carry
//! `CF-Connecting-IP`, which `wrangler dev` passes through.

use std::collections::BTreeSet;
use std::panic::resume_unwind;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    Account, Key, as_key, audit, key, key_list, op, refused, test_account, view,
};
use keygate_e2e::clock::unix_now_f as now_f;
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};

/// The client address of manager requests and of edge requests inside the allowlists.
const INSIDE: &str = "10.1.2.3";
/// Slack on times the gateway reports against this machine's clock (workerd runs on the same
/// one; the gateway counts whole seconds).
const CLOCK_SLACK: f64 = 2.0;
/// SPEC §11 / the contract: usage is written back at most once a minute per key per isolate,
/// sent after a later request once due. How long after a trial's first granted request its
/// usage must show.
const USAGE_DEADLINE: Duration = Duration::from_secs(72);
/// How long a refusal or an `ip.would_deny` report may take to be readable.
const REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// The fields of a request lookup.
const LOOKUP_FIELDS: [&str; 10] = [
    "object",
    "request_id",
    "key_id",
    "decision",
    "status",
    "reason",
    "method",
    "path",
    "ip",
    "at",
];
/// Most addresses `ips_seen` lists.
const MAX_IPS_SEEN: usize = 20;

struct Ctx {
    gw: Gateway,
    hidden: Gateway,
}

fn main() {
    run(
        || {
            let [gw, hidden] = start_together([
                Gateway::builder(),
                Gateway::builder().var("HIDE_FORBIDDEN", "true"),
            ]);
            Ctx { gw, hidden }
        },
        tests![
            // First: it waits for the once-a-minute write-back (~60 s).
            usage_shows_on_every_key_view_within_a_minute,
            // The rest wait a few seconds at most.
            refusals_can_be_looked_up_with_their_true_reason,
            a_hidden_scope_refusal_is_looked_up_with_its_scope,
            report_mode_lets_through_and_records_would_deny_once,
            ip_mode_is_validated_and_shown,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

fn now() -> i64 {
    now_f() as i64
}

/// An operator PATCH (path relative to `/admin/v1`) that must succeed; returns the answer.
fn patch(gw: &Gateway, path: &str, body: Value) -> Value {
    let r = op(gw, "PATCH", path, Some(&body));
    assert_eq!(r.status, 200, "PATCH {path} {body}: {r}");
    r.json.clone()
}

/// An edge request, audited: `method path` with `secret` (if any), product key `pk` (if any)
/// from `ip`.
fn edge(gw: &Gateway, method: &str, path: &str, secret: &str, pk: &str, ip: &str) -> Resp {
    let mut req = gw.request(method, path).client_ip(ip);
    if !secret.is_empty() {
        req = req.bearer(secret);
    }
    if !pk.is_empty() {
        req = req.product_key(pk);
    }
    let r = req.send();
    audit(&r);
    r
}

/// `GET /v1/accounts` (bank_data, `accounts:read`, served by the sandbox for a test key).
fn get_accounts(gw: &Gateway, k: &Key, a: &Account, ip: &str) -> Resp {
    edge(gw, "GET", "/v1/accounts", &k.secret, &a.pk, ip)
}

/// An edge request that gives the isolate the occasion to send what it collected: no
/// credential, so it is refused (401) before any key is identified and records nothing.
fn pump(gw: &Gateway) {
    let r = gw.get("/v1/accounts").client_ip(INSIDE).send();
    audit(&r);
    assert_eq!(r.status, 401, "the pump request: {r}");
}

/// Polls `probe` every `every` (pumping in between) until it gives a value; `None` once
/// `deadline` has passed.
fn poll<T>(
    gw: &Gateway,
    every: Duration,
    deadline: Instant,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        pump(gw);
        thread::sleep(every);
    }
}

/// Who makes an admin request: the operator, or a key (a manager, from [`INSIDE`]).
#[derive(Clone, Copy)]
enum Who<'a> {
    Operator,
    Key(&'a Key),
}

/// An admin GET (path relative to `/admin/v1`) by `who`, audited.
fn get_as(gw: &Gateway, who: Who<'_>, path: &str) -> Resp {
    match who {
        Who::Operator => op(gw, "GET", path, None),
        Who::Key(k) => as_key(gw, INSIDE, &k.secret, "GET", path, None),
    }
}

/// `GET /admin/v1/requests/{id}` by `who`.
fn lookup(gw: &Gateway, who: Who<'_>, request_id: &str) -> Resp {
    get_as(gw, who, &format!("/requests/{request_id}"))
}

/// The X-Request-Id of an (audited) answer.
fn rid(r: &Resp) -> String {
    r.request_id().expect("audited").to_string()
}

/// The account's `ip.would_deny` events (operator view), newest first.
fn would_deny_events(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/events?type=ip.would_deny&limit=100"),
        None,
    );
    assert_eq!(r.status, 200, "events?type=ip.would_deny: {r}");
    assert_ne!(r.json["has_more"], json!(true), "{r}");
    r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {r}"))
        .clone()
}

/// The usage fields of a key view.
fn usage(view: &Value) -> Value {
    json!({
        "last_used_at": view["last_used_at"],
        "last_used_ip": view["last_used_ip"],
        "ips_seen": view["ips_seen"],
    })
}

/// Panics unless the view has the three usage fields, empty (a key never used).
#[track_caller]
fn assert_unused(view: &Value, what: &str) {
    let object = view
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {view}"));
    for name in ["last_used_at", "last_used_ip", "ips_seen"] {
        assert!(object.contains_key(name), "{what}: no {name}: {view}");
    }
    assert_eq!(
        usage(view),
        json!({"last_used_at": null, "last_used_ip": null, "ips_seen": []}),
        "{what}: a key never used: {view}"
    );
}

// ------------------------------------------------------------------------------------------
// Trial 1: usage shows on every key view within about a minute
// ------------------------------------------------------------------------------------------

/// One address's expected entry in `ips_seen`: how many granted requests, and when the last
/// one was sent and answered (this machine's clock).
struct Seen {
    ip: String,
    count: u64,
    sent: f64,
    answered: f64,
}

/// Sends `n` granted requests of `k` from `ip`; returns its expected entry.
fn use_from(gw: &Gateway, k: &Key, a: &Account, ip: &str, n: u64) -> Seen {
    let mut seen = Seen {
        ip: ip.to_string(),
        count: n,
        sent: 0.0,
        answered: 0.0,
    };
    for i in 0..n {
        seen.sent = now_f();
        let r = get_accounts(gw, k, a, ip);
        seen.answered = now_f();
        assert_eq!(r.status, 200, "{} from {ip}, request {i}: {r}", k.id);
    }
    seen
}

/// Whether `at` (whole seconds from the gateway) may be a time between `sent` and `answered`.
fn within(at: &Value, sent: f64, answered: f64) -> bool {
    at.as_f64()
        .is_some_and(|at| at >= sent.floor() - CLOCK_SLACK && at <= answered + CLOCK_SLACK)
}

/// The differences between a key's usage and what its requests should show: `expected` is the
/// addresses most recent first (the first is the last address used), counts exact, at most
/// [`MAX_IPS_SEEN`], each `last_seen_at` when its last request was made.
fn usage_problems(what: &str, view: &Value, expected: &[Seen]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(format!("{what}: {p}"));
    let last = &expected[0];
    if view["last_used_ip"] != json!(last.ip) {
        problem(format!(
            "last_used_ip {} (expected {:?}, the address of its last granted request)",
            view["last_used_ip"], last.ip
        ));
    }
    if !within(&view["last_used_at"], last.sent, last.answered) {
        problem(format!(
            "last_used_at {} (expected its last granted request's time, {:.0}..{:.0})",
            view["last_used_at"], last.sent, last.answered
        ));
    }
    let Some(listed) = view["ips_seen"].as_array() else {
        problem(format!("ips_seen is not an array: {}", view["ips_seen"]));
        return problems;
    };
    let want: Vec<&Seen> = expected.iter().take(MAX_IPS_SEEN).collect();
    let got_ips: Vec<&str> = listed
        .iter()
        .map(|s| s["ip"].as_str().unwrap_or("?"))
        .collect();
    let want_ips: Vec<&str> = want.iter().map(|s| s.ip.as_str()).collect();
    if got_ips != want_ips {
        problem(format!(
            "ips_seen lists {got_ips:?}; expected the {} most recent, most recent first: \
             {want_ips:?}",
            want.len()
        ));
    }
    let mut previous: Option<i64> = None;
    let mut late = Vec::new();
    for entry in listed {
        let fields: BTreeSet<&str> = entry
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if fields != BTreeSet::from(["ip", "count", "last_seen_at"]) {
            problem(format!("an ips_seen entry's fields: {entry}"));
        }
        let at = entry["last_seen_at"].as_i64();
        if let (Some(at), Some(before)) = (at, previous)
            && at > before
        {
            problem(format!("ips_seen is not most recent first: {listed:?}"));
        }
        previous = at.or(previous);
        let Some(seen) = expected.iter().find(|s| entry["ip"] == json!(s.ip)) else {
            problem(format!("an address it was not used from: {entry}"));
            continue;
        };
        if entry["count"] != json!(seen.count) {
            problem(format!(
                "{} granted requests from {}, ips_seen says {}",
                seen.count, seen.ip, entry["count"]
            ));
        }
        if !within(&entry["last_seen_at"], seen.sent, seen.answered) {
            late.push(format!(
                "{} {} (expected {:.0}..{:.0})",
                seen.ip, entry["last_seen_at"], seen.sent, seen.answered
            ));
        }
    }
    if !late.is_empty() {
        problem(format!(
            "last_seen_at is not the time of the address's last request (the key's last use \
             was {:.0}): {}",
            last.answered,
            late.join(", ")
        ));
    }
    problems
}

fn usage_shows_on_every_key_view_within_a_minute(c: &Ctx) {
    let gw = &c.gw;
    let a = test_account(gw, "usage", json!({}));
    let other = test_account(gw, "usage, other", json!({}));
    let plain = key(gw, &a.id, "three addresses", json!({}));
    let limited = key(
        gw,
        &a.id,
        "rate limited",
        json!({"rate_limit": {"requests": 2, "period_seconds": 3600}}),
    );
    let many = key(gw, &a.id, "many addresses", json!({}));
    let unused = key(gw, &a.id, "never used", json!({}));
    for k in [&plain, &limited, &many, &unused] {
        assert_unused(&k.view, &format!("the create answer of {}", k.id));
    }

    let started = Instant::now();
    let (plain_seen, limited_seen, many_seen) = thread::scope(|s| {
        // 25 addresses, one request each, more than a second apart: the 20 most recent are
        // listed, each with its own time.
        let spread = s.spawn(|| {
            let mut seen = Vec::new();
            for i in 1..=25 {
                let at = Instant::now();
                seen.push(use_from(gw, &many, &a, &format!("198.18.0.{i}"), 1));
                thread::sleep(Duration::from_millis(1100).saturating_sub(at.elapsed()));
            }
            seen.reverse();
            seen
        });
        // A rate-limited key (its requests are counted by a Durable Object): two granted
        // from one address, then one refused (429) from another, which is no use.
        let mut limited_seen = vec![use_from(gw, &limited, &a, "198.51.100.6", 2)];
        let r = get_accounts(gw, &limited, &a, "198.51.100.7");
        assert_eq!(r.status, 429, "the third request of a 2/hour key: {r}");
        // Three addresses, more than a second apart, the busiest first (so that neither the
        // counts nor the first-seen order can pass for most recent first); refused requests
        // from a fourth address in between count for nothing.
        let mut plain_seen = Vec::new();
        let mut group = Instant::now();
        for (i, (ip, n)) in [
            ("198.51.100.1", 3),
            ("198.51.100.2", 2),
            ("198.51.100.3", 1),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                thread::sleep(Duration::from_millis(1100).saturating_sub(group.elapsed()));
            }
            group = Instant::now();
            plain_seen.push(use_from(gw, &plain, &a, ip, n));
            for (path, pk) in [("/v1/accounts", other.pk.as_str()), ("/v1/nowhere", "")] {
                let r = edge(gw, "GET", path, &plain.secret, pk, "198.51.100.5");
                assert_eq!(r.status, 404, "refused: {r}");
            }
        }
        limited_seen.reverse();
        plain_seen.reverse();
        let many_seen = spread.join().unwrap_or_else(|p| resume_unwind(p));
        (plain_seen, limited_seen, many_seen)
    });
    let made = started.elapsed();

    // Nothing is shown before a write-back; once the last address used shows, all is sent.
    let key_path = |k: &Key| format!("/keys/{}", k.id);
    let shown = poll(gw, Duration::from_secs(2), started + USAGE_DEADLINE, || {
        let views: Vec<Value> = [&plain, &limited, &many]
            .iter()
            .map(|k| view(gw, &key_path(k)))
            .collect();
        let arrived = views[0]["last_used_ip"] == json!("198.51.100.3")
            && views[2]["last_used_ip"] == json!("198.18.0.25")
            && !views[1]["last_used_at"].is_null();
        arrived.then_some(views)
    });
    let views = shown.unwrap_or_else(|| {
        panic!(
            "usage not shown {USAGE_DEADLINE:?} after the first granted request (requests made \
             in {made:?}):\n  {}\n  {}\n  {}",
            usage(&view(gw, &key_path(&plain))),
            usage(&view(gw, &key_path(&limited))),
            usage(&view(gw, &key_path(&many))),
        )
    });
    eprintln!(
        "measured: usage shown {:.1} s after the first granted request",
        started.elapsed().as_secs_f64()
    );

    let mut problems = Vec::new();
    problems.extend(usage_problems(
        "a key used from 3 addresses",
        &views[0],
        &plain_seen,
    ));
    problems.extend(usage_problems(
        "a rate-limited key (2 granted, 1 refused)",
        &views[1],
        &limited_seen,
    ));
    problems.extend(usage_problems(
        "a key used from 25 addresses",
        &views[2],
        &many_seen,
    ));
    let unused_view = view(gw, &key_path(&unused));
    if usage(&unused_view) != json!({"last_used_at": null, "last_used_ip": null, "ips_seen": []}) {
        problems.push(format!("a key never used shows usage: {unused_view}"));
    }

    // Every view shows the same usage: the list, a PATCH answer, a manager's view.
    let listed = key_list(gw, &a.id);
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    for (k, shown) in [&plain, &limited, &many, &unused]
        .into_iter()
        .zip(views.iter().chain([&unused_view]))
    {
        let entry = listed
            .iter()
            .find(|e| e["id"] == json!(k.id))
            .unwrap_or_else(|| panic!("{} not listed", k.id));
        if usage(entry) != usage(shown) {
            problems.push(format!(
                "the list shows {} for {}, GET shows {}",
                usage(entry),
                k.id,
                usage(shown)
            ));
        }
        let by_manager = get_as(gw, Who::Key(&manager), &key_path(k));
        assert_eq!(by_manager.status, 200, "the manager's view: {by_manager}");
        if usage(&by_manager.json) != usage(shown) {
            problems.push(format!(
                "the manager sees {} for {}, the operator {}",
                usage(&by_manager.json),
                k.id,
                usage(shown)
            ));
        }
        let patched = patch(gw, &key_path(k), json!({"name": "renamed"}));
        if usage(&patched) != usage(shown) {
            problems.push(format!(
                "a PATCH answer shows {} for {}, GET shows {}",
                usage(&patched),
                k.id,
                usage(shown)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "usage differs from the requests made:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// Trial 2: refused requests can be looked up with their true reason, by their account only
// ------------------------------------------------------------------------------------------

/// A refused request of one of our keys: what it was, the answer, the key, the address, the
/// status, and words its reason must contain (case-insensitive).
struct Refusal<'a> {
    what: &'static str,
    answer: Resp,
    key: &'a Key,
    ip: &'static str,
    method: &'static str,
    path: &'static str,
    status: u16,
    mentions: &'static [&'static str],
    /// Words the reason must not contain.
    not: &'static [&'static str],
}

/// The differences between a lookup and the refusal it is about.
fn lookup_problems(found: &Value, refusal: &Refusal<'_>, since: i64) -> Vec<String> {
    let mut problems = Vec::new();
    let fields: BTreeSet<&str> = found
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let want_fields: BTreeSet<&str> = LOOKUP_FIELDS.into_iter().collect();
    if fields != want_fields {
        problems.push(format!("fields {fields:?}, expected {want_fields:?}"));
    }
    let expect = [
        ("object", json!("request")),
        ("request_id", json!(rid(&refusal.answer))),
        ("key_id", json!(refusal.key.id)),
        ("decision", json!("denied")),
        ("status", json!(refusal.status)),
        ("method", json!(refusal.method)),
        ("path", json!(refusal.path)),
        ("ip", json!(refusal.ip)),
    ];
    for (name, want) in expect {
        if found[name] != want {
            problems.push(format!("{name} is {}, expected {want}", found[name]));
        }
    }
    let reason = found["reason"].as_str().unwrap_or_default().to_lowercase();
    for word in refusal.mentions {
        if !reason.contains(&word.to_lowercase()) {
            problems.push(format!(
                "reason {:?} does not mention {word:?}",
                found["reason"]
            ));
        }
    }
    for word in refusal.not {
        if reason.contains(&word.to_lowercase()) {
            problems.push(format!("reason {:?} mentions {word:?}", found["reason"]));
        }
    }
    let at = found["at"].as_i64().unwrap_or_default();
    if !(since - CLOCK_SLACK as i64..=now() + CLOCK_SLACK as i64).contains(&at) {
        problems.push(format!("at {at} is not within this trial (since {since})"));
    }
    problems
}

fn refusals_can_be_looked_up_with_their_true_reason(c: &Ctx) {
    let gw = &c.gw;
    let since = now();
    let a = test_account(gw, "denials", json!({}));
    let other = test_account(gw, "denials, other", json!({}));
    let suspended = test_account(gw, "denials, suspended", json!({}));
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let other_manager = key(
        gw,
        &other.id,
        "other manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let plain_reader = key(gw, &a.id, "no keys:manage", json!({"scopes": ["*:read"]}));
    let expiring = key(
        gw,
        &a.id,
        "expiring",
        json!({"expires_at": now() + 2, "scopes": ["accounts:read"]}),
    );
    let plain = key(gw, &a.id, "plain", json!({}));
    let disabled = key(gw, &a.id, "disabled", json!({}));
    let rolled = key(gw, &a.id, "rolled", json!({}));
    let leaked = key(gw, &a.id, "leaked", json!({}));
    let fenced = key(gw, &a.id, "fenced", json!({"allowed_ips": ["10.0.0.0/8"]}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let limited = key(
        gw,
        &a.id,
        "limited",
        json!({"rate_limit": {"requests": 1, "period_seconds": 3600}}),
    );
    let in_suspended = key(gw, &suspended.id, "suspended", json!({}));
    let deleted = key(gw, &a.id, "deleted", json!({}));

    // Refused before any key was identified: nothing to look up.
    let r = op(gw, "DELETE", &format!("/keys/{}", deleted.id), None);
    r.expect_status(204);
    let unidentified: Vec<(&str, Resp)> = vec![
        (
            "no credential",
            edge(gw, "GET", "/v1/accounts", "", &a.pk, INSIDE),
        ),
        (
            "a malformed key",
            edge(gw, "GET", "/v1/accounts", "sk_test_short", &a.pk, INSIDE),
        ),
        (
            "a deleted (unknown) key",
            edge(gw, "GET", "/v1/accounts", &deleted.secret, &a.pk, INSIDE),
        ),
    ];
    for (what, r) in &unidentified {
        assert_eq!(r.status, 401, "{what}: {r}");
    }
    // A granted request is not a refusal either.
    let granted = get_accounts(gw, &plain, &a, INSIDE);
    assert_eq!(granted.status, 200, "{granted}");

    // The refusals.
    patch(
        gw,
        &format!("/keys/{}", disabled.id),
        json!({"status": "disabled"}),
    );
    op(
        gw,
        "POST",
        &format!("/keys/{}/roll", rolled.id),
        Some(&json!({"grace_seconds": 0})),
    )
    .expect_status(200);
    op(
        gw,
        "POST",
        &format!("/keys/{}/leaked", leaked.id),
        Some(&json!({"grace_seconds": 0})),
    )
    .expect_status(200);
    patch(
        gw,
        &format!("/accounts/{}", suspended.id),
        json!({"status": "suspended"}),
    );
    let first = get_accounts(gw, &limited, &a, INSIDE);
    assert_eq!(
        first.status, 200,
        "the one request a 1/hour key may make: {first}"
    );

    let ip = "198.51.100.40";
    let outside = "192.0.2.1";
    let send = |k: &Key, method: &str, path: &str, pk: &str, from: &str| {
        edge(gw, method, path, &k.secret, pk, from)
    };
    let mut refusals = vec![
        Refusal {
            what: "a disabled key",
            answer: send(&disabled, "GET", "/v1/accounts", &a.pk, ip),
            key: &disabled,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 401,
            mentions: &["disabled"],
            not: &[],
        },
        Refusal {
            what: "a key rolled with no grace",
            answer: send(&rolled, "GET", "/v1/accounts", &a.pk, ip),
            key: &rolled,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 401,
            mentions: &["rolled"],
            not: &[],
        },
        Refusal {
            what: "a key reported leaked with no grace",
            answer: send(&leaked, "GET", "/v1/accounts", &a.pk, ip),
            key: &leaked,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 401,
            mentions: &["leaked"],
            not: &[],
        },
        Refusal {
            what: "a key of a suspended account",
            answer: send(&in_suspended, "GET", "/v1/accounts", &suspended.pk, ip),
            key: &in_suspended,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 401,
            mentions: &["suspended"],
            not: &[],
        },
        Refusal {
            what: "an address outside the key's allowlist",
            answer: send(&fenced, "GET", "/v1/accounts", &a.pk, outside),
            key: &fenced,
            ip: outside,
            method: "GET",
            path: "/v1/accounts",
            status: 403,
            mentions: &["192.0.2.1", "allowlist"],
            not: &[],
        },
        Refusal {
            what: "another account's product key",
            answer: send(&plain, "GET", "/v1/accounts", &other.pk, ip),
            key: &plain,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 404,
            mentions: &["product key"],
            not: &[],
        },
        Refusal {
            what: "no product key",
            answer: send(&plain, "GET", "/v1/transactions", "", ip),
            key: &plain,
            ip,
            method: "GET",
            path: "/v1/transactions",
            status: 400,
            mentions: &["X-Product-Key"],
            not: &[],
        },
        Refusal {
            what: "a scope the key lacks",
            answer: send(&narrow, "GET", "/v1/transactions", &a.pk, ip),
            key: &narrow,
            ip,
            method: "GET",
            path: "/v1/transactions",
            status: 403,
            mentions: &["transactions:read"],
            not: &["HIDE_FORBIDDEN", "hidden"],
        },
        Refusal {
            what: "an unknown route",
            answer: send(&plain, "GET", "/v1/no_such_route", &a.pk, ip),
            key: &plain,
            ip,
            method: "GET",
            path: "/v1/no_such_route",
            status: 404,
            mentions: &["route"],
            not: &[],
        },
        Refusal {
            what: "a method the route does not have",
            answer: send(&plain, "DELETE", "/v1/accounts", &a.pk, ip),
            key: &plain,
            ip,
            method: "DELETE",
            path: "/v1/accounts",
            status: 405,
            mentions: &["method"],
            not: &[],
        },
        Refusal {
            what: "the rate limit",
            answer: send(&limited, "GET", "/v1/accounts", &a.pk, ip),
            key: &limited,
            ip,
            method: "GET",
            path: "/v1/accounts",
            status: 429,
            mentions: &["rate limit"],
            not: &[],
        },
    ];
    // Expired: wait for the expiry (2 s after its creation), then ask.
    let expires_at = expiring.view["expires_at"].as_i64().expect("expires_at");
    thread::sleep(Duration::from_secs_f64(
        (expires_at as f64 + 1.1 - now_f()).max(0.0),
    ));
    refusals.push(Refusal {
        what: "an expired key",
        answer: send(&expiring, "GET", "/v1/accounts", &a.pk, ip),
        key: &expiring,
        ip,
        method: "GET",
        path: "/v1/accounts",
        status: 401,
        mentions: &["expired"],
        not: &[],
    });
    for f in &refusals {
        assert_eq!(f.answer.status, f.status, "{}: {}", f.what, f.answer);
        let fields: &[&str] = if f.status == 400 {
            &["X-Product-Key"]
        } else {
            &[]
        };
        refused(&f.answer, f.status, fields);
    }

    // Each is readable by the operator within a few seconds.
    let deadline = Instant::now() + REPORT_DEADLINE;
    let mut found: Vec<Option<Value>> = vec![None; refusals.len()];
    poll(gw, Duration::from_millis(300), deadline, || {
        for (f, slot) in refusals.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                let r = lookup(gw, Who::Operator, &rid(&f.answer));
                match r.status {
                    200 => *slot = Some(r.json.clone()),
                    404 => {
                        refused(&r, 404, &[]);
                    }
                    _ => panic!("{}: the operator's lookup: {r}", f.what),
                }
            }
        }
        found.iter().all(Option::is_some).then_some(())
    });
    let mut problems = Vec::new();
    for (f, found) in refusals.iter().zip(&found) {
        let Some(found) = found else {
            problems.push(format!(
                "{} ({}): not readable {REPORT_DEADLINE:?} after the refusal",
                f.what,
                rid(&f.answer)
            ));
            continue;
        };
        for p in lookup_problems(found, f, since) {
            problems.push(format!("{} ({}): {p}", f.what, rid(&f.answer)));
        }
        // The account's manager reads the same; another account's manager, nothing. (The
        // suspended account's own managers are refused with it: only the operator reads its
        // refusals.)
        let suspended_key = f.key.id == in_suspended.id;
        let (own, foreign) = if suspended_key {
            (None, vec![&manager, &other_manager])
        } else {
            (Some(&manager), vec![&other_manager])
        };
        if let Some(own) = own {
            let r = lookup(gw, Who::Key(own), &rid(&f.answer));
            if r.status != 200 || r.json != *found {
                problems.push(format!("{}: the account's manager reads: {r}", f.what));
            }
        }
        for m in foreign {
            let r = lookup(gw, Who::Key(m), &rid(&f.answer));
            if r.status != 404 {
                problems.push(format!("{}: another account's manager reads: {r}", f.what));
            } else {
                refused(&r, 404, &[]);
            }
        }
        // A key of the account without keys:manage may not read it.
        let r = lookup(gw, Who::Key(&plain_reader), &rid(&f.answer));
        if !matches!(r.status, 403 | 404) {
            problems.push(format!("{}: a key without keys:manage reads: {r}", f.what));
        }
    }
    assert!(
        problems.is_empty(),
        "request lookups differ from the refusals:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Refused before the key was identified, granted, or unknown: 404 to everyone (all of them
    // were answered before the refusals above became readable, so they would have been sent).
    let mut nothing: Vec<(String, String)> = unidentified
        .iter()
        .map(|(what, r)| (what.to_string(), rid(r)))
        .collect();
    nothing.push(("a granted request".into(), rid(&granted)));
    nothing.push(("an unknown id".into(), "req_doesnotexist".into()));
    nothing.push(("an empty-looking id".into(), "req_".into()));
    for (what, id) in &nothing {
        for who in [Who::Operator, Who::Key(&manager)] {
            let r = lookup(gw, who, id);
            assert_eq!(r.status, 404, "{what} ({id}): {r}");
            refused(&r, 404, &[]);
        }
    }
    // GET only.
    let id = rid(&refusals[0].answer);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = op(gw, method, &format!("/requests/{id}"), Some(&json!({})));
        refused(&r, 405, &[]);
        assert_eq!(r.header("allow"), Some("GET"), "{r}");
    }
    // Nobody: 401.
    let r = gw.get(&format!("/admin/v1/requests/{id}")).send();
    audit(&r);
    refused(&r, 401, &[]);
}

// ------------------------------------------------------------------------------------------
// Trial 3: HIDE_FORBIDDEN — answered as an unknown route, looked up with the missing scope
// ------------------------------------------------------------------------------------------

/// An answer's headers without its request id (and the date), sorted.
fn headers_but_id(r: &Resp) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("x-request-id") && !name.eq_ignore_ascii_case("date")
        })
        .cloned()
        .collect();
    headers.sort();
    headers
}

fn a_hidden_scope_refusal_is_looked_up_with_its_scope(c: &Ctx) {
    let gw = &c.hidden;
    let since = now();
    let a = test_account(gw, "hidden", json!({}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let ip = "198.51.100.50";
    let r = get_accounts(gw, &narrow, &a, ip);
    assert_eq!(r.status, 200, "the scope it has: {r}");

    let hidden = edge(gw, "GET", "/v1/transactions", &narrow.secret, &a.pk, ip);
    let unknown = edge(gw, "GET", "/v1/no_such_route", &narrow.secret, &a.pk, ip);
    refused(&hidden, 404, &[]);
    refused(&unknown, 404, &[]);
    assert_eq!(
        (hidden.body.clone(), headers_but_id(&hidden)),
        (unknown.body.clone(), headers_but_id(&unknown)),
        "a missing scope must answer exactly like an unknown route:\n{hidden}\n{unknown}"
    );

    let refusals = [
        Refusal {
            what: "a hidden missing scope",
            answer: hidden,
            key: &narrow,
            ip,
            method: "GET",
            path: "/v1/transactions",
            status: 404,
            mentions: &["transactions:read"],
            not: &[],
        },
        Refusal {
            what: "an unknown route",
            answer: unknown,
            key: &narrow,
            ip,
            method: "GET",
            path: "/v1/no_such_route",
            status: 404,
            mentions: &["route"],
            not: &["transactions:read", "scope", "HIDE_FORBIDDEN"],
        },
    ];
    let deadline = Instant::now() + REPORT_DEADLINE;
    let found: Vec<Value> = refusals
        .iter()
        .map(|f| {
            poll(gw, Duration::from_millis(300), deadline, || {
                let r = lookup(gw, Who::Operator, &rid(&f.answer));
                (r.status == 200).then(|| r.json.clone())
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: not readable {REPORT_DEADLINE:?} after the refusal: {}",
                    f.what,
                    lookup(gw, Who::Operator, &rid(&f.answer))
                )
            })
        })
        .collect();
    let mut problems = Vec::new();
    for (f, found) in refusals.iter().zip(&found) {
        for p in lookup_problems(found, f, since) {
            problems.push(format!("{}: {p}", f.what));
        }
    }
    // It says the scope was hidden, not only which one.
    let reason = found[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    if !(reason.contains("hidden") || reason.contains("hide_forbidden")) {
        problems.push(format!(
            "a hidden missing scope: reason {:?} does not say it was answered as an unknown \
             route (hidden / HIDE_FORBIDDEN)",
            found[0]["reason"]
        ));
    }
    assert!(
        problems.is_empty(),
        "HIDE_FORBIDDEN lookups:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

// ------------------------------------------------------------------------------------------
// Trial 4: report mode lets through and records one ip.would_deny per address; enforce refuses
// ------------------------------------------------------------------------------------------

/// Polls until the account has `n` `ip.would_deny` events; returns them (newest first).
#[track_caller]
fn wait_for_events(gw: &Gateway, account: &str, n: usize, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + REPORT_DEADLINE;
    poll(gw, Duration::from_millis(300), deadline, || {
        let events = would_deny_events(gw, account);
        (events.len() >= n).then_some(events)
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: expected {n} ip.would_deny events within {REPORT_DEADLINE:?}, have {:#?}",
            would_deny_events(gw, account)
        )
    })
}

/// Panics unless `e` is the `ip.would_deny` event of `k` let through from `ip` by the request
/// answered `r`.
#[track_caller]
fn assert_would_deny(e: &Value, account: &str, k: &Key, ip: &str, r: &Resp, since: i64) {
    let fields: BTreeSet<&str> = e
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        fields,
        BTreeSet::from([
            "object",
            "id",
            "type",
            "account_id",
            "key_id",
            "actor",
            "request_id",
            "created_at",
            "data"
        ]),
        "{e}"
    );
    assert_eq!(e["object"], "event", "{e}");
    assert!(
        e["id"].as_str().is_some_and(|id| id.starts_with("evt_")),
        "{e}"
    );
    assert_eq!(e["type"], "ip.would_deny", "{e}");
    assert_eq!(e["account_id"], json!(account), "{e}");
    assert_eq!(e["key_id"], json!(k.id), "{e}");
    assert_eq!(e["actor"], json!({"type": "key", "key_id": k.id}), "{e}");
    assert_eq!(e["data"], json!({"before": {}, "after": {"ip": ip}}), "{e}");
    let at = e["created_at"].as_i64().unwrap_or_default();
    assert!(
        (since - CLOCK_SLACK as i64..=now() + CLOCK_SLACK as i64).contains(&at),
        "created_at {at} not within this trial (since {since}): {e}"
    );
    assert_eq!(
        e["request_id"],
        json!(rid(r)),
        "the event's request_id should be the X-Request-Id of the request let through from \
         {ip}: {r}\nevent: {e}"
    );
}

fn report_mode_lets_through_and_records_would_deny_once(c: &Ctx) {
    let gw = &c.gw;
    let since = now();

    // A key's list in report mode.
    let a = test_account(gw, "report mode", json!({}));
    let k = key(
        gw,
        &a.id,
        "reported",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report"}),
    );
    assert_eq!(k.view["ip_mode"], "report", "{}", k.view);
    let inside = get_accounts(gw, &k, &a, INSIDE);
    assert_eq!(inside.status, 200, "inside the list: {inside}");
    let first = get_accounts(gw, &k, &a, "203.0.113.7");
    assert_eq!(first.status, 200, "report mode lets it through: {first}");
    let events = wait_for_events(gw, &a.id, 1, "the first outside address");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_would_deny(&events[0], &a.id, &k, "203.0.113.7", &first, since);

    // The same address again: no new event; another address: one more.
    for i in 0..3 {
        let r = get_accounts(gw, &k, &a, "203.0.113.7");
        assert_eq!(r.status, 200, "the same address again ({i}): {r}");
    }
    let second = get_accounts(gw, &k, &a, "198.51.100.9");
    assert_eq!(second.status, 200, "another outside address: {second}");
    for i in 0..2 {
        let r = get_accounts(gw, &k, &a, "198.51.100.9");
        assert_eq!(r.status, 200, "that address again ({i}): {r}");
    }
    let events = wait_for_events(gw, &a.id, 2, "a second outside address");
    // The repeats were made before the second address, so they have been sent too; a moment
    // more for any stray event.
    thread::sleep(Duration::from_millis(1200));
    pump(gw);
    thread::sleep(Duration::from_millis(500));
    let events_later = would_deny_events(gw, &a.id);
    assert_eq!(
        events_later.len(),
        2,
        "one event per address within the hour: {events_later:#?}"
    );
    assert_eq!(events, events_later);
    assert_would_deny(&events[0], &a.id, &k, "198.51.100.9", &second, since);
    assert_would_deny(&events[1], &a.id, &k, "203.0.113.7", &first, since);

    // Enforce: the same address is refused on the next request; inside still passes.
    let patched = patch(
        gw,
        &format!("/keys/{}", k.id),
        json!({"ip_mode": "enforce"}),
    );
    assert_eq!(patched["ip_mode"], "enforce", "{patched}");
    let r = get_accounts(gw, &k, &a, "203.0.113.7");
    refused(&r, 403, &[]);
    let r = get_accounts(gw, &k, &a, INSIDE);
    assert_eq!(r.status, 200, "inside the enforced list: {r}");

    // The account's list in report mode, for a key without a list of its own.
    let b = test_account(
        gw,
        "report mode, account",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report"}),
    );
    assert_eq!(
        view(gw, &format!("/accounts/{}", b.id))["ip_mode"],
        "report"
    );
    let kb = key(gw, &b.id, "under the account's list", json!({}));
    assert_eq!(
        kb.view["ip_mode"], "enforce",
        "a key's default: {}",
        kb.view
    );
    let first_b = get_accounts(gw, &kb, &b, "203.0.113.8");
    assert_eq!(
        first_b.status, 200,
        "the account's list in report mode: {first_b}"
    );
    let r = get_accounts(gw, &kb, &b, "203.0.113.8");
    assert_eq!(r.status, 200, "{r}");
    let events = wait_for_events(gw, &b.id, 1, "the account's list");
    assert_would_deny(&events[0], &b.id, &kb, "203.0.113.8", &first_b, since);
    let patched = patch(
        gw,
        &format!("/accounts/{}", b.id),
        json!({"ip_mode": "enforce"}),
    );
    assert_eq!(patched["ip_mode"], "enforce", "{patched}");
    let r = get_accounts(gw, &kb, &b, "203.0.113.8");
    refused(&r, 403, &[]);
    let r = get_accounts(gw, &kb, &b, INSIDE);
    assert_eq!(r.status, 200, "inside the account's enforced list: {r}");

    // Both lists must pass: an enforced account list still refuses what a reported key list
    // would only record.
    let d = test_account(
        gw,
        "enforced account",
        json!({"allowed_ips": ["10.0.0.0/8"]}),
    );
    let kd = key(
        gw,
        &d.id,
        "reported within",
        json!({"allowed_ips": ["10.1.0.0/16"], "ip_mode": "report"}),
    );
    let r = get_accounts(gw, &kd, &d, "192.0.2.77");
    refused(&r, 403, &[]);
    let let_through = get_accounts(gw, &kd, &d, "10.2.0.1");
    assert_eq!(
        let_through.status, 200,
        "the account allows it: {let_through}"
    );
    let events = wait_for_events(gw, &d.id, 1, "a key list inside an account list");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_would_deny(&events[0], &d.id, &kd, "10.2.0.1", &let_through, since);

    // A rate-limited key in report mode (its requests are counted by a Durable Object): the
    // event names the request that was let through too. Each is sent right after a request
    // inside the list, so that the isolate has just read its revocation log and decides it on
    // its fast path first.
    let l = test_account(gw, "report mode, limited", json!({}));
    let ke = key(
        gw,
        &l.id,
        "reported and limited",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report",
               "rate_limit": {"requests": 100, "period_seconds": 3600}}),
    );
    let mut let_through = Vec::new();
    for ip in ["203.0.113.21", "203.0.113.22", "203.0.113.23"] {
        let r = get_accounts(gw, &ke, &l, INSIDE);
        assert_eq!(r.status, 200, "{r}");
        let r = get_accounts(gw, &ke, &l, ip);
        assert_eq!(r.status, 200, "{r}");
        let_through.push((ip, r));
    }
    let events = wait_for_events(gw, &l.id, 3, "a rate-limited key");
    assert_eq!(events.len(), 3, "{events:#?}");
    let mismatched: Vec<String> = let_through
        .iter()
        .filter_map(|(ip, r)| {
            let e = events
                .iter()
                .find(|e| e["data"]["after"]["ip"] == json!(ip))
                .unwrap_or_else(|| panic!("no event for {ip}: {events:#?}"));
            (e["request_id"] != json!(rid(r))).then(|| {
                format!(
                    "  {ip}: answered with X-Request-Id {}, the event names {}",
                    rid(r),
                    e["request_id"]
                )
            })
        })
        .collect();
    assert!(
        mismatched.is_empty(),
        "a rate-limited key in report mode: each ip.would_deny event should name the request \
         let through (its X-Request-Id):\n{}",
        mismatched.join("\n")
    );
    for (ip, r) in &let_through {
        let e = events
            .iter()
            .find(|e| e["data"]["after"]["ip"] == json!(ip))
            .expect("found above");
        assert_would_deny(e, &l.id, &ke, ip, r, since);
    }
}

// ------------------------------------------------------------------------------------------
// Trial 5: ip_mode is validated and shown
// ------------------------------------------------------------------------------------------

fn ip_mode_is_validated_and_shown(c: &Ctx) {
    let gw = &c.gw;
    let a = test_account(gw, "ip_mode", json!({}));
    let account_path = format!("/accounts/{}", a.id);
    let keys_path = format!("/accounts/{}/keys", a.id);
    assert_eq!(view(gw, &account_path)["ip_mode"], "enforce", "the default");
    let k = key(gw, &a.id, "default", json!({}));
    assert_eq!(k.view["ip_mode"], "enforce", "the default: {}", k.view);
    let key_path = format!("/keys/{}", k.id);

    // Anything but the two modes: 400 naming ip_mode, nothing changed.
    let key_before = view(gw, &key_path);
    let account_before = view(gw, &account_path);
    let count_before = key_list(gw, &a.id).len();
    for bad in [
        json!("Report"),
        json!("ENFORCE"),
        json!(""),
        json!("report "),
        json!("audit"),
        json!("off"),
        json!(null),
        json!(true),
        json!(1),
        json!(["report"]),
        json!({"mode": "report"}),
    ] {
        let body = json!({"name": "bad", "environment": "test", "ip_mode": bad});
        let r = op(gw, "POST", &keys_path, Some(&body));
        assert_eq!(r.status, 400, "key create with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let r = op(gw, "PATCH", &key_path, Some(&json!({"ip_mode": bad})));
        assert_eq!(r.status, 400, "key patch with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let body = json!({"name": "bad", "agreement": "test", "ip_mode": bad});
        let r = op(gw, "POST", "/accounts", Some(&body));
        assert_eq!(r.status, 400, "account create with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let r = op(gw, "PATCH", &account_path, Some(&json!({"ip_mode": bad})));
        assert_eq!(r.status, 400, "account patch with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
    }
    assert_eq!(
        view(gw, &key_path),
        key_before,
        "refused patches changed the key"
    );
    assert_eq!(
        view(gw, &account_path),
        account_before,
        "refused patches changed the account"
    );
    assert_eq!(
        key_list(gw, &a.id).len(),
        count_before,
        "refused creates made keys"
    );

    // Both modes are accepted everywhere and shown on every view.
    for mode in ["report", "enforce", "report"] {
        let r = patch(gw, &key_path, json!({"ip_mode": mode}));
        assert_eq!(r["ip_mode"], mode, "{r}");
        assert_eq!(view(gw, &key_path)["ip_mode"], mode);
        let listed = key_list(gw, &a.id);
        let entry = listed.iter().find(|e| e["id"] == json!(k.id)).unwrap();
        assert_eq!(entry["ip_mode"], mode, "the list: {entry}");
        let r = patch(gw, &account_path, json!({"ip_mode": mode}));
        assert_eq!(r["ip_mode"], mode, "{r}");
        assert_eq!(view(gw, &account_path)["ip_mode"], mode);
    }
    let created = key(gw, &a.id, "created reporting", json!({"ip_mode": "report"}));
    assert_eq!(created.view["ip_mode"], "report", "{}", created.view);
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "created enforcing", "agreement": "test", "ip_mode": "enforce"})),
    );
    r.expect_status(201);
    assert_eq!(r.json["ip_mode"], "enforce", "{r}");
    let id = r.json["id"].as_str().expect("account id");
    let r = op(gw, "GET", "/accounts?limit=100", None);
    r.expect_status(200);
    let listed = r.json["data"].as_array().expect("data");
    for (account, mode) in [(id, "enforce"), (a.id.as_str(), "report")] {
        let entry = listed
            .iter()
            .find(|e| e["id"] == json!(account))
            .unwrap_or_else(|| panic!("{account} not in the first 100 accounts: {r}"));
        assert_eq!(entry["ip_mode"], mode, "the account list: {entry}");
    }
}
