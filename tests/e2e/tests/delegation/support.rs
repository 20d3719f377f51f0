//! Helpers of the delegation trials: requests as a manager or the operator, from inside the
//! allowlists, and keys at the edge.

use super::*;

/// A manager key's admin request from [`INSIDE`], audited.
pub(crate) fn manage(
    gw: &Gateway,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    as_key(gw, INSIDE, secret, method, path, body)
}

/// A manager key or (`None`) the operator.
pub(crate) type Who<'a> = Option<&'a Key>;

/// Target key's scopes, disabled by, re-enabled by, expected status, fields named.
pub(crate) type ReenableCase<'a> = (&'a [&'a str], Who<'a>, Who<'a>, u16, &'a [&'a str]);

pub(crate) fn act(
    gw: &Gateway,
    who: Who<'_>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    match who {
        None => op(gw, method, path, body),
        Some(k) => manage(gw, &k.secret, method, path, body),
    }
}

/// `GET /v1/accounts` (bank_data, sandbox) with a test key from `ip`, audited.
pub(crate) fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    get_accounts(gw, INSIDE, secret, pk)
}

#[track_caller]
pub(crate) fn assert_works(gw: &Gateway, secret: &str, pk: &str, what: &str) {
    let r = edge(gw, secret, pk);
    assert_eq!(
        r.status, 200,
        "{what}: the key should work at the edge: {r}"
    );
}

#[track_caller]
pub(crate) fn assert_refused(gw: &Gateway, secret: &str, pk: &str, what: &str) {
    let r = edge(gw, secret, pk);
    assert_eq!(r.status, 401, "{what}: the key should be refused: {r}");
}

pub(crate) fn account(gw: &Gateway, name: &str) -> Account {
    test_account(gw, name, json!({}))
}

/// A key's current view, read by the operator.
pub(crate) fn view(gw: &Gateway, id: &str) -> Value {
    audited::view(gw, &format!("/keys/{id}"))
}

/// Every key of the account (operator view), in creation order.
pub(crate) fn keys(gw: &Gateway, account: &str) -> Vec<Value> {
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

pub(crate) fn ids(keys: &[Value]) -> Vec<String> {
    keys.iter()
        .map(|k| k["id"].as_str().unwrap().to_string())
        .collect()
}

/// A manager of `a` held to `accounts:read`, 10.0.0.0/8, bank_data and an expiry two days on;
/// returns it and that expiry.
pub(crate) fn fenced_manager(gw: &Gateway, a: &Account) -> (Key, i64) {
    let limit = now() + 2 * DAY;
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"], "allowed_ips": ["10.0.0.0/8"],
               "expires_at": limit, "products": ["bank_data"]}),
    );
    (m, limit)
}
