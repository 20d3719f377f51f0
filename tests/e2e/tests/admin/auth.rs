//! Authentication and authorisation: the operator token, HTTPS, and what a `keys:manage` key may
//! do.

use super::*;

pub(crate) fn admin_requires_the_operator_token(c: &Ctx) {
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
pub(crate) fn admin_over_plain_http_is_refused_when_https_is_required(_c: &Ctx) {
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

pub(crate) fn manager_key_manages_its_own_accounts_keys(c: &Ctx) {
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

pub(crate) fn manager_key_gets_404_for_other_accounts_ids(c: &Ctx) {
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

pub(crate) fn manager_key_cannot_use_operator_endpoints(c: &Ctx) {
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

pub(crate) fn manager_key_must_hold_keys_manage_and_be_usable(c: &Ctx) {
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
pub(crate) fn manager_key_grants_only_scopes_it_holds(c: &Ctx) {
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
    assert_eq!(
        without_usage(&after.json),
        without_usage(&wide),
        "the refused roll changed the key"
    );
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

/// Test keys live in CI settings and on laptops: one with `keys:manage` must not be a way to
/// mint or take over a live key of a production account. A live manager may manage both.
pub(crate) fn test_manager_key_manages_test_keys_only(c: &Ctx) {
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
