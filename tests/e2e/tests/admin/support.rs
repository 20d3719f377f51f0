//! Helpers of the admin trials: time, and requests and accounts made through the audited operator,
//! manager and edge calls.

use super::*;

pub(crate) const DAY: i64 = 24 * 60 * 60;
/// `sk_test_` + 38 base62 characters (32 body + 6 checksum).
pub(crate) const KEY_LEN: usize = 46;
/// Slack for comparing the worker's timestamps with this machine's clock (same clock; the
/// slack only covers the time a request takes under a loaded test run).
pub(crate) const CLOCK_SLACK: i64 = 30;
/// The short grace (or expiry) of the trials that wait for a key to stop working: long enough
/// that the "still works" requests made right after the change finish well within it.
pub(crate) const GRACE: i64 = 8;

/// Sleeps until the unix second `t` has passed on this machine's clock.
pub(crate) fn sleep_until_after(t: i64) {
    while now() <= t {
        thread::sleep(Duration::from_millis(200));
    }
}

pub(crate) fn assert_near(actual: &Value, expected: i64, what: &str) {
    let got = actual
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: expected unix seconds, got {actual}"));
    assert!(
        (got - expected).abs() <= CLOCK_SLACK,
        "{what}: {got} is not within {CLOCK_SLACK} s of {expected}"
    );
}

/// An operator request, audited.
pub(crate) fn admin(c: &Ctx, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut req = c.gw.admin(method, path);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// An operator request with a raw JSON body, audited.
pub(crate) fn admin_raw(c: &Ctx, method: &str, path: &str, body: &str) -> Resp {
    let r =
        c.gw.admin(method, path)
            .header("Content-Type", "application/json")
            .body(body.as_bytes().to_vec())
            .send();
    audit(&r);
    r
}

/// A request to the admin API authenticated with a secret key (a `keys:manage` key), audited.
pub(crate) fn manage(
    c: &Ctx,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
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
pub(crate) fn edge(c: &Ctx, secret: &str, path: &str, product_key: Option<&str>) -> Resp {
    let mut req = c.gw.get(path).bearer(secret);
    if let Some(pk) = product_key {
        req = req.product_key(pk);
    }
    let r = req.send();
    audit(&r);
    r
}

/// The key works in the sandbox (`GET /v1/accounts` of bank_data).
pub(crate) fn assert_sandbox_ok(c: &Ctx, secret: &str, product_key: &str) {
    let r = edge(c, secret, "/v1/accounts", Some(product_key));
    assert_eq!(r.status, 200, "the key should work in the sandbox: {r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
}

/// The key is refused at the edge with 401 and a message containing `why`.
pub(crate) fn assert_refused(c: &Ctx, secret: &str, product_key: &str, why: &str) {
    let r = edge(c, secret, "/v1/accounts", Some(product_key));
    assert_eq!(r.status, 401, "the key should be refused ({why}): {r}");
    let message = r.json["message"].as_str().unwrap_or_default();
    assert!(
        message.to_lowercase().contains(why),
        "expected a message about `{why}`: {r}"
    );
}

pub(crate) fn create_account(c: &Ctx, name: &str, agreement: &str) -> Value {
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(&json!({"name": name, "agreement": agreement})),
    );
    r.expect_status(201);
    r.json.clone()
}

pub(crate) fn account_id(c: &Ctx, name: &str, agreement: &str) -> String {
    create_account(c, name, agreement)["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Entitles the account and returns the entitlement.
pub(crate) fn entitle(c: &Ctx, account: &str, product: &str) -> Value {
    let r = admin(
        c,
        "PUT",
        &format!("/accounts/{account}/products/{product}"),
        None,
    );
    r.expect_success();
    r.json.clone()
}

pub(crate) fn pk_test(entitlement: &Value) -> String {
    entitlement["product_keys"]["test"]
        .as_str()
        .unwrap_or_else(|| panic!("no test product key: {entitlement}"))
        .to_string()
}

pub(crate) fn create_key(c: &Ctx, account: &str, body: &Value) -> (Value, String) {
    let r = admin(c, "POST", &format!("/accounts/{account}/keys"), Some(body));
    r.expect_status(201);
    (
        r.json["key"].clone(),
        r.json["secret"].as_str().unwrap().to_string(),
    )
}

pub(crate) fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_string()
}

/// A test-agreement account entitled to bank_data with one `*` test key.
pub(crate) struct Sandboxed {
    pub(crate) account: String,
    pub(crate) product_key: String,
    pub(crate) key: Value,
    pub(crate) secret: String,
}

pub(crate) fn sandboxed(c: &Ctx, name: &str) -> Sandboxed {
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
pub(crate) fn assert_invalid(r: &Resp, fields: &[&str]) {
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
pub(crate) fn walk(c: &Ctx, path: &str, limit: usize) -> Vec<String> {
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

pub(crate) fn is_base62(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub(crate) fn assert_key_format(key: &str, prefix: &str) {
    assert!(key.starts_with(prefix), "{key} should start with {prefix}");
    assert_eq!(key.len(), KEY_LEN, "{key}");
    assert!(is_base62(&key[prefix.len()..]), "{key}");
}
