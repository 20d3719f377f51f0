//! Accounts and keys, their leak marks and events as the operator reads them, and edge requests.

use super::*;

/// A production account entitled to bank_data: `(id, test product key, live product key)`.
pub(crate) fn account(gw: &Gateway, name: &str) -> (String, String, String) {
    let body = json!({"name": name, "agreement": "production"});
    let (id, entitled) = bank_data_account(gw, &body);
    let (pk, pk_live) = (
        product_key(&entitled, "test"),
        product_key(&entitled, "live"),
    );
    (id, pk, pk_live)
}

/// A key named `name` in `environment`.
pub(crate) fn key(gw: &Gateway, account: &str, name: &str, environment: &str) -> Key {
    audited::key(gw, account, name, json!({"environment": environment}))
}

/// The operator's view of a key.
pub(crate) fn view(gw: &Gateway, key_id: &str) -> Value {
    audited::view(gw, &format!("/keys/{key_id}"))
}

/// `(leaked_at, revoke_at)` of a key; `None` for a null or absent field.
pub(crate) fn leak_fields(gw: &Gateway, key_id: &str) -> (Option<i64>, Option<i64>) {
    let v = view(gw, key_id);
    let field = |name: &str| match &v[name] {
        Value::Null => None,
        other => Some(
            other
                .as_i64()
                .unwrap_or_else(|| panic!("{name} is not a whole number: {v}")),
        ),
    };
    (field("leaked_at"), field("revoke_at"))
}

/// Panics unless the key has neither `leaked_at` nor `revoke_at`.
#[track_caller]
pub(crate) fn assert_untouched(gw: &Gateway, key_id: &str, what: &str) {
    assert_eq!(
        leak_fields(gw, key_id),
        (None, None),
        "{what}: the key must not be marked leaked: {}",
        view(gw, key_id)
    );
}

/// Panics unless the key was marked leaked within `[from, to]` with the default grace.
/// Returns `leaked_at`.
#[track_caller]
pub(crate) fn assert_leaked(gw: &Gateway, key_id: &str, from: i64, to: i64, what: &str) -> i64 {
    let v = view(gw, key_id);
    let (leaked_at, revoke_at) = leak_fields(gw, key_id);
    let leaked_at = leaked_at.unwrap_or_else(|| panic!("{what}: no leaked_at: {v}"));
    assert!(
        (from - CLOCK_SLACK..=to + CLOCK_SLACK).contains(&leaked_at),
        "{what}: leaked_at {leaked_at} is not the time of the report ({from}..={to}): {v}"
    );
    assert_eq!(
        revoke_at,
        Some(leaked_at + LEAK_GRACE),
        "{what}: revoke_at must be leaked_at + 3 days (the default grace): {v}"
    );
    leaked_at
}

/// Every event of the account (at most 100), newest first.
pub(crate) fn events(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/events?limit=100"),
        None,
    );
    r.expect_status(200);
    assert_ne!(r.json["has_more"], json!(true), "more than 100 events: {r}");
    r.json["data"].as_array().expect("data").clone()
}

/// The events of `kind` among `events`.
pub(crate) fn of_kind<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

/// Panics unless the leak events among `events` are exactly one `key.leaked` per key of
/// `key_ids` and `leak.reported` events from `source` naming each of them once.
#[track_caller]
pub(crate) fn assert_leak_events(events: &[Value], key_ids: &[&str], source: &str, what: &str) {
    let lines = || {
        events
            .iter()
            .map(Value::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let mut leaked: Vec<&str> = of_kind(events, "key.leaked")
        .iter()
        .map(|e| e["key_id"].as_str().unwrap_or_default())
        .collect();
    leaked.sort_unstable();
    let mut want: Vec<&str> = key_ids.to_vec();
    want.sort_unstable();
    assert_eq!(
        leaked,
        want,
        "{what}: one key.leaked per leaked key:\n{}",
        lines()
    );
    let mut reported: Vec<&str> = Vec::new();
    for e in of_kind(events, "leak.reported") {
        assert_eq!(
            e["data"]["after"]["source"],
            json!(source),
            "{what}: leak.reported source:\n{}",
            lines()
        );
        let ids = e["data"]["after"]["key_ids"]
            .as_array()
            .unwrap_or_else(|| panic!("{what}: leak.reported without key_ids: {e}"));
        reported.extend(ids.iter().map(|id| id.as_str().unwrap_or_default()));
    }
    reported.sort_unstable();
    assert_eq!(
        reported,
        want,
        "{what}: leak.reported must name each leaked key once:\n{}",
        lines()
    );
}

/// An edge request with `secret` and product key `pk`, audited (`GET /v1/accounts`, answered
/// by the sandbox for a test key).
pub(crate) fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    get_accounts(gw, INSIDE, secret, pk)
}

/// Panics unless `r` is the plain-HTTP refusal: 403 "HTTPS is required", no redirect.
#[track_caller]
pub(crate) fn assert_https_required(r: &Resp) {
    audit(r);
    let message = refused(r, 403, &[]);
    assert!(message.contains("HTTPS is required"), "{r}");
    assert!(r.header("location").is_none(), "must not redirect: {r}");
}
