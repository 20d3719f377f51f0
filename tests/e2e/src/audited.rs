//! Admin-API helpers shared by the suites that attack it: every answer goes through [`audit`],
//! which fails the trial if the answer carries secret material it must not, lacks
//! `X-Request-Id`, or (an admin answer) is not a JSON object.

use crate::{Gateway, Resp, Value, json, merge};
use std::collections::BTreeSet;

/// Every full secret key (`sk_test_`/`sk_live_` + 38 base62 characters) in `text`.
pub fn full_secrets(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    (0..b.len())
        .filter(|&i| b[i..].starts_with(b"sk_test_") || b[i..].starts_with(b"sk_live_"))
        .filter(|&i| {
            b[i + 8..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count()
                >= 38
        })
        .map(|i| &text[i..i + 46])
        .collect()
}

/// Panics unless `r` has a request id, carries a full secret only as create/roll's `secret`,
/// and (admin answers) has no 64-hex run and is JSON.
pub fn audit(r: &Resp) {
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "no X-Request-Id: {r}"
    );
    let text = r.text();
    let secrets = full_secrets(&text);
    let path = r.url.split('?').next().unwrap_or_default();
    let issues = r.method == "POST"
        && ((r.status == 201 && path.ends_with("/keys"))
            || (r.status == 200 && path.ends_with("/roll")));
    if issues {
        assert!(
            secrets.len() == 1 && r.json["secret"].as_str() == Some(secrets[0]),
            "one secret, once, in `secret` expected: {r}"
        );
    } else {
        assert!(secrets.is_empty(), "a full secret key in an answer: {r}");
    }
    if !path.contains("/admin/") {
        return;
    }
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max();
    assert!(hex_run.unwrap_or(0) < 64, "a hash-like hex run: {r}");
    if r.status != 204 {
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json"))
                && r.json.is_object(),
            "not a JSON object: {r}"
        );
    }
}

/// An operator request, audited.
pub fn op(gw: &Gateway, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut req = gw.admin(method, path);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// An error answer (README "How a request is checked") with `status` whose `errors` name exactly
/// `fields` (none when empty); returns the message.
#[track_caller]
pub fn refused(r: &Resp, status: u16, fields: &[&str]) -> String {
    assert_eq!(r.status, status, "expected {status} naming {fields:?}: {r}");
    assert_eq!(r.json["status"], json!(status), "{r}");
    let message = r.json["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error without a message: {r}");
    let named: BTreeSet<&str> = r.json["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    assert!(
                        e["message"].as_str().is_some_and(|m| !m.is_empty()),
                        "an errors entry without a message: {r}"
                    );
                    e["field"].as_str().unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let want: BTreeSet<&str> = fields.iter().copied().collect();
    assert_eq!(named, want, "fields named in `errors`: {r}");
    message.to_string()
}

/// A key: its view when made, and its secret.
pub struct Key {
    pub id: String,
    pub view: Value,
    pub secret: String,
}

/// The key and secret of a create (201) or roll (200) answer.
pub fn key_from(r: &Resp, status: u16) -> Key {
    r.expect_status(status);
    Key {
        id: r.json["key"]["id"].as_str().expect("key id").to_string(),
        view: r.json["key"].clone(),
        secret: r.json["secret"].as_str().expect("secret").to_string(),
    }
}

/// `{"name": name, "environment": "test"}` with the fields of `extra` added.
pub fn key_body(name: &str, extra: Value) -> Value {
    let mut body = json!({"name": name, "environment": "test"});
    merge(&mut body, extra);
    body
}

/// A key (test unless `extra` says otherwise) the operator creates in `account` with `extra`
/// settings.
pub fn key(gw: &Gateway, account: &str, name: &str, extra: Value) -> Key {
    let path = format!("/accounts/{account}/keys");
    key_from(&op(gw, "POST", &path, Some(&key_body(name, extra))), 201)
}

/// A new account of the operator's, made with `body`; returns the answer (201 checked).
pub fn create_account(gw: &Gateway, body: &Value) -> Resp {
    let r = op(gw, "POST", "/accounts", Some(body));
    r.expect_status(201);
    r
}

/// An account made with `body`, entitled to bank_data: its id and the entitlement answer (see
/// [`product_key`]).
pub fn bank_data_account(gw: &Gateway, body: &Value) -> (String, Resp) {
    let r = create_account(gw, body);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let r = op(
        gw,
        "PUT",
        &format!("/accounts/{id}/products/bank_data"),
        None,
    );
    r.expect_success();
    (id, r)
}

/// The `env` (`test` or `live`) product key of an entitlement answer.
#[track_caller]
pub fn product_key(entitled: &Resp, env: &str) -> String {
    entitled.json["product_keys"][env]
        .as_str()
        .unwrap_or_else(|| panic!("no {env} product key: {entitled}"))
        .to_string()
}

/// A test-agreement account entitled to bank_data.
pub struct Account {
    pub id: String,
    /// Its bank_data test product key.
    pub pk: String,
}

/// A test-agreement account named `name`, with `extra` fields (e.g. `ip_mode`), entitled to
/// bank_data.
pub fn test_account(gw: &Gateway, name: &str, extra: Value) -> Account {
    let mut body = json!({"name": name, "agreement": "test"});
    merge(&mut body, extra);
    let (id, entitled) = bank_data_account(gw, &body);
    Account {
        pk: product_key(&entitled, "test"),
        id,
    }
}

/// A view (`/keys/{id}`, `/accounts/{id}`), read by the operator.
pub fn view(gw: &Gateway, path: &str) -> Value {
    let r = op(gw, "GET", path, None);
    r.expect_status(200);
    r.json.clone()
}

/// The fields an event has (docs/admin-api.md "Events"): all of them in a key's event, all
/// but `key_id` in an account's.
pub const EVENT_FIELDS: [&str; 9] = [
    "object",
    "id",
    "type",
    "account_id",
    "key_id",
    "actor",
    "request_id",
    "created_at",
    "data",
];

/// Every key of the account (operator view, at most 100), in creation order.
pub fn key_list(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/keys?limit=100"),
        None,
    );
    r.expect_status(200);
    assert_ne!(r.json["has_more"], json!(true), "more than 100 keys: {r}");
    r.json["data"].as_array().expect("data").clone()
}

/// An admin request (path relative to `/admin/v1`) authenticated by the key `secret` (a
/// manager) from `ip`, audited.
pub fn as_key(
    gw: &Gateway,
    ip: &str,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    let mut req = gw
        .request(method, &format!("/admin/v1{path}"))
        .bearer(secret)
        .client_ip(ip);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// `GET /v1/accounts` (bank_data, `accounts:read`; the sandbox answers a test key) with `secret`
/// and product key `pk` from `ip`, audited.
pub fn get_accounts(gw: &Gateway, ip: &str, secret: &str, pk: &str) -> Resp {
    let r = gw
        .get("/v1/accounts")
        .bearer(secret)
        .product_key(pk)
        .client_ip(ip)
        .send();
    audit(&r);
    r
}

/// The fields of a key view that the edge writes by itself, on its own schedule (about a
/// second after a request): its usage and its refusal and would-deny counts.
pub const USAGE_FIELDS: [&str; 5] = [
    "last_used_at",
    "last_used_ip",
    "ips_seen",
    "refusals",
    "would_deny",
];

/// A key view without [`USAGE_FIELDS`]: what admin commands alone decide. Compare these when
/// asserting that a refused command left a key as it was, since an earlier edge request's
/// usage may land in between.
pub fn without_usage(view: &Value) -> Value {
    let mut view = view.clone();
    if let Some(fields) = view.as_object_mut() {
        for name in USAGE_FIELDS {
            fields.remove(name);
        }
    }
    view
}
