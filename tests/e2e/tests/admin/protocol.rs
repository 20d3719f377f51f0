//! Protocol: bodies, methods, paths and sizes the admin API refuses, and no secret in any answer.

use super::*;

pub(crate) fn malformed_json_is_400(c: &Ctx) {
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

pub(crate) fn wrong_method_is_405_with_allow(c: &Ctx) {
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

pub(crate) fn unknown_admin_path_is_404(c: &Ctx) {
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

pub(crate) fn oversized_body_is_413(c: &Ctx) {
    let body = json!({"name": "x".repeat(100 * 1024), "agreement": "test"});
    let r = admin(c, "POST", "/accounts", Some(&body));
    assert_eq!(r.status, 413, "{r}");
}

/// Walks every read endpoint after keys were created, rolled, leaked and refused, and checks
/// (through [`audit`]) that none of them carries a secret or a hash; then the gateway's log.
pub(crate) fn no_response_carries_secret_material(c: &Ctx) {
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

/// `worker::Method` reads a method it does not know as GET: `QUERY /admin/v1/accounts` once
/// answered the account list. Unknown methods are 405 on the admin API and at the edge, on the
/// fast path and on the workers-rs path (a rate-limited key takes the latter).
pub(crate) fn unknown_methods_are_refused_not_read_as_get(c: &Ctx) {
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
