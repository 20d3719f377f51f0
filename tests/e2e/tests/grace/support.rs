//! Helpers of the grace trials: a key, its edge requests and views, a roll with the client's time
//! around it, and waits for the first use and for the refusal.

use super::*;

/// A key: its id and secret.
pub(crate) struct Key {
    pub(crate) id: String,
    pub(crate) secret: String,
}

/// A fresh account (production, entitled to bank_data) with one test key.
pub(crate) fn account_with_key(gw: &Gateway, name: &str) -> (Tenant, Key) {
    let t = tenant(gw, &format!("grace: {name}"), json!({}));
    let (id, secret) = key(gw, &t, "test", json!({}));
    (t, Key { id, secret })
}

/// `GET /v1/accounts` with `secret` and the account's test product key, audited.
pub(crate) fn edge(gw: &Gateway, t: &Tenant, secret: &str) -> Resp {
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
pub(crate) fn assert_served(gw: &Gateway, t: &Tenant, secret: &str, what: &str) {
    let r = edge(gw, t, secret);
    assert_eq!(r.status, 200, "{what}: expected the key to be served: {r}");
}

/// The key's view (`GET /keys/{id}`), read by the operator.
pub(crate) fn view(gw: &Gateway, key_id: &str) -> Value {
    audited::view(gw, &format!("/keys/{key_id}"))
}

/// How many keys the account has.
pub(crate) fn key_count(gw: &Gateway, account: &str) -> usize {
    audited::key_list(gw, account).len()
}

/// `field` of a view as an integer, or a panic showing the view.
#[track_caller]
pub(crate) fn int(v: &Value, field: &str, what: &str) -> i64 {
    v[field]
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: `{field}` is not an integer: {v}"))
}

/// The field is absent or null.
pub(crate) fn absent(v: &Value, field: &str) -> bool {
    v.get(field).is_none_or(Value::is_null)
}

/// A roll answered 200: the successor and both views, with the client's time around it.
pub(crate) struct Rolled {
    pub(crate) successor: Key,
    /// The answer's `key`.
    pub(crate) new_view: Value,
    /// The answer's `previous`.
    pub(crate) old_view: Value,
    /// Before the request was sent / after its answer arrived.
    pub(crate) sent: f64,
    pub(crate) answered: f64,
}

#[track_caller]
pub(crate) fn roll(gw: &Gateway, old: &Key, body: &Value) -> Rolled {
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

/// Rolls `old` with a first-use grace of `seconds` that must still wait (see
/// [`assert_waiting_roll`]): the roll and the grace's cap.
#[track_caller]
pub(crate) fn roll_after_first_use(gw: &Gateway, old: &Key, seconds: i64) -> (Rolled, i64) {
    let body = json!({"grace": "after_first_use", "grace_seconds": seconds});
    let rolled = roll(gw, old, &body);
    let cap = assert_waiting_roll(gw, old, &rolled, seconds);
    (rolled, cap)
}

/// Sends the request with `secret` every `every` until `until` (this machine's clock): each
/// is served.
#[track_caller]
pub(crate) fn served_meanwhile(
    gw: &Gateway,
    t: &Tenant,
    secret: &str,
    until: f64,
    every: Duration,
    what: &str,
) {
    while now_f() < until {
        assert_served(gw, t, secret, what);
        thread::sleep(every);
    }
}

/// The successor's `first_used_at` in `view`, checked to be the second of its first use (sent
/// at `sent`, answered at `answered`).
#[track_caller]
pub(crate) fn successor_first_used_at(view: &Value, sent: f64, answered: f64) -> i64 {
    let first = int(view, "first_used_at", "the successor after its first use");
    assert_at(first, sent, answered, 0, "the successor's first_used_at");
    first
}

/// A time the server took between `sent` and `answered` (whole seconds, ± 1 s of slack) plus
/// `offset` contains `value`.
#[track_caller]
pub(crate) fn assert_at(value: i64, sent: f64, answered: f64, offset: i64, what: &str) {
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
pub(crate) fn grace(seconds: i64, waiting: bool, cap: i64) -> Value {
    json!({"kind": "after_first_use", "seconds": seconds, "waiting": waiting, "cap": cap})
}

/// Checks the answer and views of a roll with a first-use grace of `seconds` that still waits:
/// `grace` with `waiting: true`, `revoke_at` = `cap` = the roll + 7 days. Returns the cap.
#[track_caller]
pub(crate) fn assert_waiting_roll(gw: &Gateway, old: &Key, rolled: &Rolled, seconds: i64) -> i64 {
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
pub(crate) fn use_successor(gw: &Gateway, t: &Tenant, successor: &Key, what: &str) -> (f64, f64) {
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
pub(crate) fn wait_for_first_use(
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
pub(crate) fn served_until(
    gw: &Gateway,
    t: &Tenant,
    secret: &str,
    revoke_at: i64,
    what: &str,
) -> (u32, f64) {
    served_until_learned(gw, t, secret, revoke_at, revoke_at as f64, what)
}

/// [`served_until`] for a `revoke_at` the gateway decided at `decided` (seconds): a grace of
/// 0 that waited for the successor's first use ends at that use, but the gateway learns of the
/// use only when it is reported (about a second later), so the old key may be served until
/// [`REFUSAL_BOUND`] after the decision, not after `revoke_at`. Still never refused before
/// `revoke_at`.
#[track_caller]
pub(crate) fn served_until_learned(
    gw: &Gateway,
    t: &Tenant,
    secret: &str,
    revoke_at: i64,
    decided: f64,
    what: &str,
) -> (u32, f64) {
    let at = revoke_at as f64;
    let bound_from = decided.max(at);
    let mut served = 0;
    loop {
        let sent = now_f();
        let r = edge(gw, t, secret);
        let answered = now_f();
        match r.status {
            200 => {
                assert!(
                    sent < bound_from + REFUSAL_BOUND,
                    "{what}: still served {:.2} s after revoke_at {revoke_at}, {:.2} s after \
                     the gateway decided it (at most {REFUSAL_BOUND} s expected): {r}",
                    sent - at,
                    sent - bound_from
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
