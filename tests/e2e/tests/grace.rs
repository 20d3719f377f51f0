//! Grace from first use (SPEC §12, docs/key-safety.md) end to end: real workerd through
//! `wrangler dev`, HTTP only. `POST /admin/v1/keys/{id}/roll` with
//! `{"grace": "after_first_use", "grace_seconds": n}` makes a successor; the old key keeps
//! working at the edge until the successor is first used there, then `n` seconds more, and
//! never past 7 days after the roll. The old key's view shows
//! `grace: {kind, seconds, waiting, cap}` and `revoke_at` (the cap while waiting, the
//! successor's `first_used_at` + n afterwards); the successor's view shows `first_used_at`.
//! A fixed grace (`{"grace_seconds": n}`, `"grace": "fixed"`) is unchanged; bad bodies are 400
//! naming the fields and roll nothing.
//!
//! One gateway shared by the trials (each makes its own account), and a `quiet` one that only
//! [`the_first_use_is_reported_without_further_edge_traffic`] uses: there no other trial's edge
//! request can carry the first-use report along. Edge requests use a test key against the
//! sandbox (`GET /v1/accounts`, bank_data): 200 when granted, 401 once revoked. Every answer
//! goes through [`audit`]. Times are unix seconds of this machine's clock (workerd runs on it).

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{self, audit, op, refused};
use keygate_e2e::clock::unix_now_f as now_f;
use keygate_e2e::{
    Gateway, Resp, Tenant, Value, assert_error, json, key, run, start_together, tenant, tests,
};

/// 7 days: the longest grace, and how long after the roll a first-use grace may wait.
const GRACE_MAX: i64 = 604_800;
/// How late after `revoke_at` the edge may still serve the old key (revocation log sync).
const REFUSAL_BOUND: f64 = 2.0;
/// How long the first use may take to show in the views (reported within about a second).
const REPORT_PATIENCE: Duration = Duration::from_secs(10);
/// How long the first use may take to be reported when no other request reaches the edge.
const QUIET_PATIENCE: Duration = Duration::from_secs(5);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// View fields that edge traffic changes (written back asynchronously), not a roll.
const USAGE: [&str; 3] = ["last_used_at", "last_used_ip", "ips_seen"];

struct Ctx {
    gw: Gateway,
    /// Only [`the_first_use_is_reported_without_further_edge_traffic`] sends requests to it.
    quiet: Gateway,
}

fn main() {
    run(
        || {
            let [gw, quiet] = start_together([Gateway::builder(), Gateway::builder()]);
            Ctx { gw, quiet }
        },
        tests![
            // The long ones first (~10 s each, mostly waiting).
            the_old_key_works_until_the_successor_is_used_then_for_the_grace,
            a_successor_used_many_times_starts_the_grace_once,
            a_zero_grace_ends_at_the_successors_first_use,
            a_fixed_grace_is_unchanged,
            the_first_use_is_reported_without_further_edge_traffic,
            the_first_use_grace_defaults_to_a_day_and_takes_up_to_7_days,
            bad_grace_bodies_are_400_and_change_nothing,
            a_bad_roll_body_names_every_bad_field_at_once,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// A key: its id and secret.
struct Key {
    id: String,
    secret: String,
}

/// A fresh account (production, entitled to bank_data) with one test key.
fn account_with_key(gw: &Gateway, name: &str) -> (Tenant, Key) {
    let t = tenant(gw, &format!("grace: {name}"), json!({}));
    let (id, secret) = key(gw, &t, "test", json!({}));
    (t, Key { id, secret })
}

/// `GET /v1/accounts` with `secret` and the account's test product key, audited.
fn edge(gw: &Gateway, t: &Tenant, secret: &str) -> Resp {
    let r = gw
        .get("/v1/accounts")
        .bearer(secret)
        .product_key(&t.pk_test)
        .send();
    audit(&r);
    r
}

/// The edge request with `secret` is granted (the sandbox answers 200).
#[track_caller]
fn assert_served(gw: &Gateway, t: &Tenant, secret: &str, what: &str) {
    let r = edge(gw, t, secret);
    assert_eq!(r.status, 200, "{what}: expected the key to be served: {r}");
}

/// The key's view (`GET /keys/{id}`), read by the operator.
fn view(gw: &Gateway, key_id: &str) -> Value {
    audited::view(gw, &format!("/keys/{key_id}"))
}

/// The view without the fields edge traffic changes.
fn without_usage(mut v: Value) -> Value {
    if let Some(map) = v.as_object_mut() {
        for field in USAGE {
            map.remove(field);
        }
    }
    v
}

/// How many keys the account has.
fn key_count(gw: &Gateway, account: &str) -> usize {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/keys?limit=100"),
        None,
    );
    r.expect_status(200);
    assert_ne!(r.json["has_more"], json!(true), "more than 100 keys: {r}");
    r.json["data"].as_array().expect("key list data").len()
}

/// `field` of a view as an integer, or a panic showing the view.
#[track_caller]
fn int(v: &Value, field: &str, what: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: `{field}` is not an integer: {v}"))
}

/// The field is absent or null.
fn absent(v: &Value, field: &str) -> bool {
    v.get(field).is_none_or(Value::is_null)
}

/// A roll answered 200: the successor and both views, with the client's time around it.
struct Rolled {
    successor: Key,
    /// The answer's `key`.
    new_view: Value,
    /// The answer's `previous`.
    old_view: Value,
    /// Before the request was sent / after its answer arrived.
    sent: f64,
    answered: f64,
}

#[track_caller]
fn roll(gw: &Gateway, old: &Key, body: &Value) -> Rolled {
    let sent = now_f();
    let r = op(gw, "POST", &format!("/keys/{}/roll", old.id), Some(body));
    let answered = now_f();
    assert_eq!(r.status, 200, "roll with {body}: {r}");
    let successor = Key {
        id: r.json["key"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no key.id in the roll answer: {r}"))
            .to_string(),
        secret: r.json["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no secret in the roll answer: {r}"))
            .to_string(),
    };
    assert_ne!(successor.id, old.id, "the successor is a new key: {r}");
    assert_ne!(
        successor.secret, old.secret,
        "the successor has a new secret: {r}"
    );
    assert_eq!(
        r.json["previous"]["id"],
        json!(old.id),
        "`previous` is the rolled key: {r}"
    );
    assert_eq!(
        r.json["previous"]["rolled_to"],
        json!(successor.id),
        "`previous.rolled_to` names the successor: {r}"
    );
    assert!(
        absent(&r.json["key"], "first_used_at"),
        "a new successor has not been used: {r}"
    );
    Rolled {
        new_view: r.json["key"].clone(),
        old_view: r.json["previous"].clone(),
        successor,
        sent,
        answered,
    }
}

/// A time the server took between `sent` and `answered` (whole seconds, ± 1 s of slack) plus
/// `offset` contains `value`.
#[track_caller]
fn assert_at(value: i64, sent: f64, answered: f64, offset: i64, what: &str) {
    let (lo, hi) = (
        sent.floor() as i64 + offset,
        answered.floor() as i64 + offset,
    );
    assert!(
        (lo - 1..=hi + 1).contains(&value),
        "{what}: {value} is not within [{lo}, {hi}] (± 1 s) — the request was sent at \
         {sent:.2} and answered at {answered:.2}, plus {offset} s"
    );
}

/// The first-use grace object a view must carry.
fn grace(seconds: i64, waiting: bool, cap: i64) -> Value {
    json!({"kind": "after_first_use", "seconds": seconds, "waiting": waiting, "cap": cap})
}

/// Checks the answer and views of a roll with a first-use grace of `seconds` that still waits:
/// `grace` with `waiting: true`, `revoke_at` = `cap` = the roll + 7 days. Returns the cap.
#[track_caller]
fn assert_waiting_roll(gw: &Gateway, old: &Key, rolled: &Rolled, seconds: i64) -> i64 {
    let v = &rolled.old_view;
    let cap = v["grace"]["cap"]
        .as_i64()
        .unwrap_or_else(|| panic!("the roll answer's `previous` has no grace.cap: {v}"));
    assert_at(
        cap,
        rolled.sent,
        rolled.answered,
        GRACE_MAX,
        "grace.cap (roll + 7 days)",
    );
    assert_eq!(
        v["grace"],
        grace(seconds, true, cap),
        "the roll answer's `previous.grace`: {v}"
    );
    assert_eq!(
        v["revoke_at"],
        json!(cap),
        "while the grace waits, `revoke_at` is its cap: {v}"
    );
    // As stored, not only as answered.
    let stored = view(gw, &old.id);
    assert_eq!(
        stored["grace"],
        grace(seconds, true, cap),
        "GET of the rolled key: {stored}"
    );
    assert_eq!(
        stored["revoke_at"],
        json!(cap),
        "GET of the rolled key: {stored}"
    );
    assert_eq!(
        stored["rolled_to"],
        json!(rolled.successor.id),
        "GET of the rolled key: {stored}"
    );
    let new = view(gw, &rolled.successor.id);
    assert!(
        absent(&new, "first_used_at"),
        "GET of an unused successor shows first_used_at: {new}"
    );
    assert!(
        absent(&new, "grace") && absent(&new, "revoke_at"),
        "the successor itself has no grace and no revocation: {new}"
    );
    cap
}

/// Uses the successor once at the edge; returns the client's time around the request.
#[track_caller]
fn use_successor(gw: &Gateway, t: &Tenant, successor: &Key, what: &str) -> (f64, f64) {
    let sent = now_f();
    let r = edge(gw, t, &successor.secret);
    let answered = now_f();
    assert_eq!(r.status, 200, "{what}: the successor is served: {r}");
    (sent, answered)
}

/// Polls the old key's view until its grace no longer waits; while waiting, `between` runs
/// (e.g. an edge request with the old key). Returns the view and the seconds it took.
///
/// The edge sends a buffered first use along with a later edge request (see
/// [`the_first_use_is_reported_without_further_edge_traffic`]), so on the shared gateway
/// `between` makes one: the trial does not depend on other trials' traffic.
#[track_caller]
fn wait_for_first_use(
    gw: &Gateway,
    old: &Key,
    since: f64,
    mut between: impl FnMut(),
    what: &str,
) -> (Value, f64) {
    let started = Instant::now();
    loop {
        let v = view(gw, &old.id);
        if v["grace"]["waiting"] == json!(false) {
            return (v, now_f() - since);
        }
        assert_eq!(
            v["grace"]["waiting"],
            json!(true),
            "{what}: the rolled key's grace should still be there, waiting: {v}"
        );
        assert!(
            started.elapsed() < REPORT_PATIENCE,
            "{what}: the successor was used at {since:.2} but {:.1} s later the rolled key's \
             grace still waits for its first use: {v}",
            now_f() - since
        );
        between();
        thread::sleep(POLL_EVERY);
    }
}

/// Sends the old key's request every [`POLL_EVERY`] until it is refused: served while before
/// `revoke_at`, refused (401) only from `revoke_at` on and at most [`REFUSAL_BOUND`] after it.
/// Returns (requests served, seconds from `revoke_at` to the refusal).
#[track_caller]
fn served_until(gw: &Gateway, t: &Tenant, secret: &str, revoke_at: i64, what: &str) -> (u32, f64) {
    let at = revoke_at as f64;
    let mut served = 0;
    loop {
        let sent = now_f();
        let r = edge(gw, t, secret);
        let answered = now_f();
        match r.status {
            200 => {
                assert!(
                    sent < at + REFUSAL_BOUND,
                    "{what}: still served {:.2} s after revoke_at {revoke_at} (at most \
                     {REFUSAL_BOUND} s expected): {r}",
                    sent - at
                );
                served += 1;
            }
            401 => {
                assert_error(&r, 401);
                assert!(
                    answered >= at - 0.05,
                    "{what}: refused {:.2} s before revoke_at {revoke_at}: {r}",
                    at - answered
                );
                return (served, answered - at);
            }
            _ => panic!("{what}: neither served (200) nor refused as revoked (401): {r}"),
        }
        thread::sleep(POLL_EVERY);
    }
}

// ------------------------------------------------------------------------------------------
// Grace from first use
// ------------------------------------------------------------------------------------------

fn the_old_key_works_until_the_successor_is_used_then_for_the_grace(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "first use");
    assert_served(gw, &t, &old.secret, "the key before the roll");

    let rolled = roll(
        gw,
        &old,
        &json!({"grace": "after_first_use", "grace_seconds": 3}),
    );
    let successor = &rolled.successor;
    let cap = assert_waiting_roll(gw, &old, &rolled, 3);

    // More than the 3 s grace without any use of the successor: the grace has not started.
    while now_f() < rolled.answered + 4.2 {
        assert_served(
            gw,
            &t,
            &old.secret,
            "the old key while the successor is unused (its grace waits for the first use)",
        );
        thread::sleep(Duration::from_millis(700));
    }
    assert_served(
        gw,
        &t,
        &old.secret,
        "the old key 4 s after a roll with a 3 s first-use grace, successor unused",
    );
    let still = view(gw, &old.id);
    assert_eq!(
        (&still["grace"], &still["revoke_at"]),
        (&grace(3, true, cap), &json!(cap)),
        "4 s after the roll, successor unused: the grace still waits: {still}"
    );
    let unused = view(gw, &successor.id);
    assert!(
        absent(&unused, "first_used_at"),
        "4 s after the roll the successor was never used, yet: {unused}"
    );

    // The successor's first use starts the grace; the old key keeps working meanwhile.
    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    assert_served(
        gw,
        &t,
        &old.secret,
        "the old key right after the successor's first use",
    );
    let (old_view, took) = wait_for_first_use(
        gw,
        &old,
        used,
        || {
            assert_served(
                gw,
                &t,
                &old.secret,
                "the old key while its grace (3 s after the successor's first use) runs",
            )
        },
        "grace 3",
    );
    eprintln!("measured: the successor's first use showed in the old key's view after {took:.2} s");
    let new_view = view(gw, &successor.id);
    let first = int(
        &new_view,
        "first_used_at",
        "the successor after its first use",
    );
    assert_at(
        first,
        used,
        used_answered,
        0,
        "the successor's first_used_at",
    );
    assert_eq!(
        old_view["grace"],
        grace(3, false, cap),
        "after the successor's first use the grace no longer waits (cap unchanged): {old_view}"
    );
    assert_eq!(
        old_view["revoke_at"],
        json!(first + 3),
        "revoke_at = the successor's first_used_at ({first}) + 3: {old_view}"
    );
    assert_eq!(old_view["rolled_to"], json!(successor.id), "{old_view}");

    // Served until revoke_at, refused from then on.
    let (served, late) = served_until(gw, &t, &old.secret, first + 3, "the old key, grace 3");
    eprintln!(
        "measured: the old key was served {served} more times and refused {late:.2} s after \
         its revoke_at"
    );
    assert_served(
        gw,
        &t,
        &successor.secret,
        "the successor after the old key's grace",
    );
    let after = view(gw, &old.id);
    assert_eq!(
        after["revoke_at"],
        json!(first + 3),
        "revoke_at does not move: {after}"
    );
    let again = view(gw, &successor.id);
    assert_eq!(
        again["first_used_at"],
        json!(first),
        "first_used_at does not move: {again}"
    );
}

fn a_successor_used_many_times_starts_the_grace_once(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "many uses");
    // A long grace: the old key must work throughout.
    let rolled = roll(
        gw,
        &old,
        &json!({"grace": "after_first_use", "grace_seconds": 30}),
    );
    let successor = &rolled.successor;
    let cap = assert_waiting_roll(gw, &old, &rolled, 30);

    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    // A second use in a later second, while the edge may still hold the successor's record
    // that asks for its first use to be reported: it may be reported again, and must not count.
    thread::sleep(Duration::from_millis(1_200));
    let (second, _) = use_successor(gw, &t, successor, "second use, 1.2 s later");
    let (old_view, _) = wait_for_first_use(
        gw,
        &old,
        used,
        || assert_served(gw, &t, &old.secret, "the old key, grace 30"),
        "grace 30",
    );
    let first = int(
        &view(gw, &successor.id),
        "first_used_at",
        "the successor after its first use",
    );
    assert_at(
        first,
        used,
        used_answered,
        0,
        "the successor's first_used_at",
    );
    assert!(
        (first as f64) < second.floor(),
        "the first and second uses are in different seconds ({first} / {second:.2})"
    );
    assert_eq!(old_view["revoke_at"], json!(first + 30), "{old_view}");
    assert_eq!(old_view["grace"], grace(30, false, cap), "{old_view}");

    // More uses, and requests more than a second apart so that whatever the edge still
    // buffered is sent; then nothing may have moved.
    for i in 0..3 {
        thread::sleep(Duration::from_millis(1_100));
        use_successor(gw, &t, successor, &format!("use {} after the first", i + 2));
        assert_served(gw, &t, &old.secret, "the old key, 30 s grace running");
    }
    thread::sleep(Duration::from_millis(1_000));
    assert_served(gw, &t, &old.secret, "the old key, 30 s grace running");
    let new_view = view(gw, &successor.id);
    assert_eq!(
        new_view["first_used_at"],
        json!(first),
        "later uses must not move the successor's first_used_at: {new_view}"
    );
    let old_view = view(gw, &old.id);
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first + 30), &grace(30, false, cap)),
        "later uses of the successor must not move the old key's grace: {old_view}"
    );
}

fn a_zero_grace_ends_at_the_successors_first_use(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "zero");
    let rolled = roll(
        gw,
        &old,
        &json!({"grace": "after_first_use", "grace_seconds": 0}),
    );
    let successor = &rolled.successor;
    let cap = assert_waiting_roll(gw, &old, &rolled, 0);
    // Unlike a fixed grace of 0, the old key still works while the successor is unused.
    while now_f() < rolled.answered + 2.0 {
        assert_served(
            gw,
            &t,
            &old.secret,
            "the old key after a roll with a 0 s first-use grace, successor unused",
        );
        thread::sleep(Duration::from_millis(300));
    }

    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    // The old key's own requests carry the report along; it may be refused at any time now.
    let mut refused_at = None;
    let (old_view, _) = wait_for_first_use(
        gw,
        &old,
        used,
        || {
            if refused_at.is_none() {
                let r = edge(gw, &t, &old.secret);
                match r.status {
                    200 => {}
                    401 => refused_at = Some(now_f()),
                    _ => panic!("the old key, grace 0: neither 200 nor 401: {r}"),
                }
            }
        },
        "grace 0",
    );
    let first = int(
        &view(gw, &successor.id),
        "first_used_at",
        "the successor after its first use",
    );
    assert_at(
        first,
        used,
        used_answered,
        0,
        "the successor's first_used_at",
    );
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first), &grace(0, false, cap)),
        "grace 0: revoked at the successor's first use: {old_view}"
    );
    if let Some(at) = refused_at {
        assert!(
            at >= first as f64,
            "the old key was refused at {at:.2}, before the successor's first use ({first})"
        );
    }
    served_until(gw, &t, &old.secret, first, "the old key, grace 0");
    assert_served(gw, &t, &successor.secret, "the successor");
}

fn a_fixed_grace_is_unchanged(c: &Ctx) {
    let gw = &c.gw;
    let (t, plain) = account_with_key(gw, "fixed");
    let (id, secret) = key(gw, &t, "test", json!({}));
    let named = Key { id, secret };

    let cases = [
        (&plain, json!({"grace_seconds": 2}), true),
        (&named, json!({"grace": "fixed", "grace_seconds": 2}), false),
    ];
    let mut rolls = Vec::new();
    for (old, body, use_it) in &cases {
        let rolled = roll(gw, old, body);
        let what = format!("roll with {body}");
        for (v, whose) in [(&rolled.old_view, "answer"), (&view(gw, &old.id), "GET")] {
            assert!(
                absent(v, "grace"),
                "{what}: a fixed grace has no `grace` object ({whose}): {v}"
            );
            assert_eq!(
                v["rolled_to"],
                json!(rolled.successor.id),
                "{what} ({whose}): {v}"
            );
        }
        let revoke_at = int(&rolled.old_view, "revoke_at", &what);
        assert_at(
            revoke_at,
            rolled.sent,
            rolled.answered,
            2,
            &format!("{what}: revoke_at"),
        );
        assert!(
            absent(&rolled.new_view, "grace") && absent(&rolled.new_view, "revoke_at"),
            "{what}: the successor: {}",
            rolled.new_view
        );
        // Right after the roll (more than a second before revoke_at) the old key works.
        assert_served(
            gw,
            &t,
            &old.secret,
            &format!("{what}: the old key right away"),
        );
        if *use_it {
            use_successor(gw, &t, &rolled.successor, &what);
        }
        rolls.push((*old, rolled, revoke_at, what, *use_it));
    }
    for (old, rolled, revoke_at, what, use_it) in &rolls {
        let (_, late) = served_until(gw, &t, &old.secret, *revoke_at, &format!("{what}: old key"));
        eprintln!("measured: {what}: the old key was refused {late:.2} s after its revoke_at");
        let v = view(gw, &old.id);
        assert_eq!(
            v["revoke_at"],
            json!(revoke_at),
            "{what}: revoke_at does not move (successor used: {use_it}): {v}"
        );
        assert!(absent(&v, "grace"), "{what}: {v}");
        assert_served(
            gw,
            &t,
            &rolled.successor.secret,
            &format!("{what}: successor"),
        );
    }
}

/// On a gateway that gets no other edge traffic: the successor's single use must reach the
/// registry by itself (the brief: reported within about a second), not only when some later
/// edge request happens to carry the buffered report along.
fn the_first_use_is_reported_without_further_edge_traffic(c: &Ctx) {
    let gw = &c.quiet;
    let (t, old) = account_with_key(gw, "quiet");
    let rolled = roll(
        gw,
        &old,
        &json!({"grace": "after_first_use", "grace_seconds": 2}),
    );
    let cap = assert_waiting_roll(gw, &old, &rolled, 2);
    // Let everything the roll and the setup did settle; then one edge request, and only
    // admin reads afterwards.
    thread::sleep(Duration::from_millis(1_500));
    let (used, used_answered) = use_successor(gw, &t, &rolled.successor, "the only edge request");
    // Admin reads only: nothing else reaches the edge.
    let reported = |patience: Duration| {
        let started = Instant::now();
        loop {
            let v = view(gw, &old.id);
            if v["grace"]["waiting"] == json!(false) || started.elapsed() >= patience {
                return v;
            }
            thread::sleep(POLL_EVERY);
        }
    };
    let old_view = reported(QUIET_PATIENCE);
    if old_view["grace"]["waiting"] != json!(false) {
        // Diagnose: does one more edge request (the old key's) carry the report along?
        let nudged = now_f();
        let r = edge(gw, &t, &old.secret);
        let after = reported(Duration::from_secs(3));
        let diagnosis = if after["grace"]["waiting"] == json!(false) {
            format!(
                "it was reported {:.1} s after one more edge request ({} with the old key) — \
                 the edge sends the buffered first use only along with a later edge request",
                now_f() - nudged,
                r.status
            )
        } else {
            format!(
                "not even after one more edge request ({}): {after}",
                r.status
            )
        };
        panic!(
            "the successor was used once at {used:.2} on a gateway that got no other edge \
             request; {QUIET_PATIENCE:?} later the rolled key's grace still waits for that \
             first use ({old_view}); {diagnosis}"
        );
    }
    let took = now_f() - used;
    eprintln!("measured: quiet gateway: first use reported after {took:.2} s");
    let first = int(
        &view(gw, &rolled.successor.id),
        "first_used_at",
        "the successor after its first use",
    );
    assert_at(
        first,
        used,
        used_answered,
        0,
        "the successor's first_used_at",
    );
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first + 2), &grace(2, false, cap)),
        "{old_view}"
    );
}

fn the_first_use_grace_defaults_to_a_day_and_takes_up_to_7_days(c: &Ctx) {
    let gw = &c.gw;
    let (t, day) = account_with_key(gw, "defaults");
    let (id, secret) = key(gw, &t, "test", json!({}));
    let week = Key { id, secret };
    // README: grace_seconds defaults to 86400.
    let rolled = roll(gw, &day, &json!({"grace": "after_first_use"}));
    assert_waiting_roll(gw, &day, &rolled, 86_400);
    let rolled = roll(
        gw,
        &week,
        &json!({"grace": "after_first_use", "grace_seconds": GRACE_MAX}),
    );
    let cap = assert_waiting_roll(gw, &week, &rolled, GRACE_MAX);
    // First use: first_use + 7 days is past the cap, so the cap stays.
    let (used, _) = use_successor(gw, &t, &rolled.successor, "first use");
    let (v, _) = wait_for_first_use(
        gw,
        &week,
        used,
        || assert_served(gw, &t, &week.secret, "the old key, grace 7 days"),
        "grace 7 days",
    );
    assert_eq!(
        (&v["revoke_at"], &v["grace"]),
        (&json!(cap), &grace(GRACE_MAX, false, cap)),
        "never past 7 days after the roll: revoke_at stays the cap: {v}"
    );
    assert_served(gw, &t, &week.secret, "the old key, grace 7 days");
}

/// A roll body that must be refused, and the fields its 400 must name.
type Bad = (Value, &'static [&'static str]);

/// Every roll body in `bad` is 400 naming its fields, and leaves the key as it was: not rolled,
/// no successor, still served.
fn assert_refused_and_unchanged(gw: &Gateway, bad: &[Bad], what: &str) {
    let (t, k) = account_with_key(gw, what);
    assert_served(gw, &t, &k.secret, "before any roll");
    let before = without_usage(view(gw, &k.id));
    assert!(absent(&before, "rolled_to"), "a new key: {before}");
    let count = key_count(gw, &t.id);
    assert_eq!(count, 1, "a new account has its one key");
    let mut failures = Vec::new();
    for (body, fields) in bad {
        let r = op(gw, "POST", &format!("/keys/{}/roll", k.id), Some(body));
        let named: BTreeSet<&str> = r.json["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        if r.status == 400 && named == fields.iter().copied().collect() {
            // The rest of SPEC §4: status in the body, a message, every entry explained.
            refused(&r, 400, fields);
        } else {
            failures.push(format!(
                "  {body}: expected 400 naming exactly {fields:?}; got {} {}",
                r.status,
                r.text()
            ));
        }
        let after = without_usage(view(gw, &k.id));
        assert!(
            absent(&after, "rolled_to") && absent(&after, "revoke_at") && absent(&after, "grace"),
            "{body} was refused ({}) yet the key was rolled: {after}",
            r.status
        );
        assert_eq!(after, before, "{body} ({}) changed the key", r.status);
        assert_eq!(
            key_count(gw, &t.id),
            count,
            "{body} ({}) made a successor anyway",
            r.status
        );
    }
    assert_served(gw, &t, &k.secret, "after the refused rolls");
    assert!(
        failures.is_empty(),
        "{what}: roll bodies not refused as expected:\n{}",
        failures.join("\n")
    );
}

fn bad_grace_bodies_are_400_and_change_nothing(c: &Ctx) {
    let bad: Vec<Bad> = vec![
        (json!({"grace": "later", "grace_seconds": 3}), &["grace"]),
        (json!({"grace": "later"}), &["grace"]),
        (json!({"grace": 5, "grace_seconds": 3}), &["grace"]),
        (json!({"grace": true}), &["grace"]),
        (json!({"grace": ["after_first_use"]}), &["grace"]),
        (json!({"grace": "AFTER_FIRST_USE"}), &["grace"]),
        (
            json!({"grace": "after_first_use", "grace_seconds": 3, "graceful": true}),
            &["graceful"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": -1}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": GRACE_MAX + 1}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": "3"}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": 2.5}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "fixed", "grace_seconds": -5}),
            &["grace_seconds"],
        ),
        (json!({"grace_seconds": -1}), &["grace_seconds"]),
        (json!({"grace_seconds": GRACE_MAX + 1}), &["grace_seconds"]),
    ];
    assert_refused_and_unchanged(&c.gw, &bad, "bad grace bodies");
}

/// docs/admin-api.md: bodies are validated field by field, all errors at once.
fn a_bad_roll_body_names_every_bad_field_at_once(c: &Ctx) {
    let bad: Vec<Bad> = vec![
        (
            json!({"grace": "later", "grace_seconds": -1}),
            &["grace", "grace_seconds"],
        ),
        (
            json!({"grace": 5, "grace_seconds": GRACE_MAX + 1, "graceful": true}),
            &["grace", "grace_seconds", "graceful"],
        ),
        (
            json!({"grace_seconds": -1, "graceful": true}),
            &["grace_seconds", "graceful"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": "soon", "graceful": 1}),
            &["grace_seconds", "graceful"],
        ),
    ];
    assert_refused_and_unchanged(&c.gw, &bad, "several bad fields");
}
