//! Keys: creation, validation, listing, updates, disabling and expiry.

use super::*;

pub(crate) fn key_create_returns_the_secret_once(c: &Ctx) {
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

pub(crate) fn key_create_with_every_setting(c: &Ctx) {
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

pub(crate) fn key_validation_names_each_field(c: &Ctx) {
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
    assert_eq!(
        without_usage(&r.json),
        without_usage(&key),
        "a refused PATCH changed the key"
    );
}

pub(crate) fn live_key_for_test_agreement_is_403(c: &Ctx) {
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

pub(crate) fn key_list_paginates(c: &Ctx) {
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

pub(crate) fn key_update_changes_what_the_edge_allows(c: &Ctx) {
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
    // The same key apart from its usage, which the edge writes on its own within about a
    // second of the sandbox request above (it may land between the PATCH and this GET).
    assert_eq!(
        without_usage(&admin(c, "GET", &path, None).json),
        without_usage(&k)
    );

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

pub(crate) fn key_disable_and_reenable(c: &Ctx) {
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

pub(crate) fn expired_key_is_refused_and_expiry_can_be_cleared(c: &Ctx) {
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
