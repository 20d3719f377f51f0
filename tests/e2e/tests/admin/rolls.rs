//! Keys: rolls and their grace, leak marks, deletion.

use super::*;

pub(crate) fn roll_with_zero_grace_replaces_the_key_at_once(c: &Ctx) {
    let account = account_id(c, "roll zero", "test");
    let pk = pk_test(&entitle(c, &account, "bank_data"));
    let expires = now() + 30 * DAY;
    let (old, old_secret) = create_key(
        c,
        &account,
        &json!({"name": "rolled", "environment": "test", "scopes": ["accounts:*"],
                "allowed_ips": ["203.0.113.0/24"], "products": ["bank_data"],
                "expires_at": expires}),
    );
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&old)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    let obj = r.json.as_object().unwrap();
    assert_eq!(
        obj.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        BTreeSet::from(["key", "previous", "secret"]),
        "{r}"
    );
    let new = r.json["key"].clone();
    let previous = r.json["previous"].clone();
    let secret = r.json["secret"].as_str().unwrap().to_string();
    assert_key_format(&secret, "sk_test_");
    assert_ne!(secret, old_secret);
    assert_ne!(id_of(&new), id_of(&old));
    assert_eq!(new["start"], json!(&secret[..12]));
    assert_eq!(new["end"], json!(&secret[KEY_LEN - 4..]));
    // Same settings.
    for same in [
        "account_id",
        "name",
        "environment",
        "scopes",
        "allowed_ips",
        "products",
        "expires_at",
    ] {
        assert_eq!(new[same], old[same], "{same} carried over");
    }
    assert_eq!(new["status"], "active");
    assert!(
        new["rolled_to"].is_null() && new["revoke_at"].is_null(),
        "{new}"
    );
    // The previous key points to its successor and is revoked now.
    assert_eq!(previous["id"], old["id"]);
    assert_eq!(previous["rolled_to"], new["id"]);
    assert_near(&previous["revoke_at"], t0, "revoke_at");
    assert!(previous["revoke_at"].as_i64().unwrap() <= now());
    assert_eq!(
        without_usage(&admin(c, "GET", &format!("/keys/{}", id_of(&old)), None).json),
        without_usage(&previous)
    );

    let get = |secret: &str| {
        let r =
            c.gw.get("/v1/accounts")
                .bearer(secret)
                .product_key(&pk)
                .client_ip("203.0.113.5")
                .send();
        audit(&r);
        r
    };
    let r = get(&old_secret);
    assert_eq!(r.status, 401, "{r}");
    assert!(
        r.json["message"].as_str().unwrap().contains("rolled"),
        "{r}"
    );
    assert_eq!(get(&secret).status, 200);

    // Both are listed, without secrets.
    let r = admin(c, "GET", &format!("/accounts/{account}/keys"), None);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [id_of(&old), id_of(&new)]);
}

pub(crate) fn roll_grace_keeps_the_old_key_until_it_ends(c: &Ctx) {
    let s = sandboxed(c, "roll grace");
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&s.key)),
        Some(&json!({"grace_seconds": GRACE})),
    );
    r.expect_status(200);
    let revoke_at = r.json["previous"]["revoke_at"].as_i64().expect("revoke_at");
    assert!(
        revoke_at >= t0 + GRACE && revoke_at <= now() + GRACE,
        "revoke_at {revoke_at} should be {GRACE} s after the roll: {r}"
    );
    let secret = r.json["secret"].as_str().unwrap().to_string();
    // During the grace period both work.
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &secret, &s.product_key);
    sleep_until_after(revoke_at);
    assert_refused(c, &s.secret, &s.product_key, "rolled");
    assert_sandbox_ok(c, &secret, &s.product_key);

    // The default grace is 24 hours; the maximum is 7 days.
    let mut t0 = None;
    for (name, body, grace, what) in [
        ("default", None, DAY, "default roll grace"),
        ("empty body", Some(json!({})), DAY, "{} means the default"),
        (
            "max",
            Some(json!({"grace_seconds": 7 * DAY})),
            7 * DAY,
            "7 days",
        ),
    ] {
        let (k, _) = create_key(c, &s.account, &json!({"name": name, "environment": "test"}));
        // The time of the first of these rolls.
        let t0 = *t0.get_or_insert_with(now);
        let r = admin(
            c,
            "POST",
            &format!("/keys/{}/roll", id_of(&k)),
            body.as_ref(),
        );
        r.expect_status(200);
        assert_near(&r.json["previous"]["revoke_at"], t0 + grace, what);
    }
}

pub(crate) fn roll_grace_is_validated(c: &Ctx) {
    let s = sandboxed(c, "roll validation");
    let key_id = id_of(&s.key);
    for (what, path) in [
        ("roll", format!("/keys/{key_id}/roll")),
        ("leaked", format!("/keys/{key_id}/leaked")),
    ] {
        for bad in [
            json!({"grace_seconds": -1}),
            json!({"grace_seconds": 7 * DAY + 1}),
            json!({"grace_seconds": "60"}),
            json!({"grace_seconds": 1.5}),
            json!({"grace_seconds": null}),
        ] {
            let r = admin(c, "POST", &path, Some(&bad));
            assert_eq!(r.status, 400, "{what} with {bad}: {r}");
            assert_invalid(&r, &["grace_seconds"]);
        }
        assert_invalid(
            &admin(c, "POST", &path, Some(&json!({"grace": 60}))),
            &["grace"],
        );
        let r = admin(c, "POST", &path, Some(&json!([60])));
        assert_eq!(r.status, 400, "{what}: {r}");
    }
    // None of these changed the key.
    let r = admin(c, "GET", &format!("/keys/{key_id}"), None);
    assert_eq!(r.json, s.key);
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    assert_eq!(
        r.json["data"].as_array().unwrap().len(),
        1,
        "no successor: {r}"
    );
}

pub(crate) fn roll_never_extends_an_earlier_revocation(c: &Ctx) {
    let s = sandboxed(c, "roll after leak");
    // Leaked with a minute to go: a roll with a week of grace keeps that minute.
    let t0 = now();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 60})),
    );
    r.expect_status(200);
    let leaked_revoke_at = r.json["revoke_at"].clone();
    assert_near(&leaked_revoke_at, t0 + 60, "leaked revoke_at");
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/roll", id_of(&s.key)),
        Some(&json!({"grace_seconds": 7 * DAY})),
    );
    r.expect_status(200);
    assert_eq!(r.json["previous"]["revoke_at"], leaked_revoke_at, "{r}");
    assert_near(&r.json["previous"]["leaked_at"], t0, "still marked leaked");
    // The successor is a fresh key: not leaked, not revoked.
    assert!(r.json["key"]["leaked_at"].is_null(), "{r}");
    assert!(r.json["key"]["revoke_at"].is_null(), "{r}");

    // Leaked with three days to go: a default roll brings it to one day.
    let (k, _) = create_key(c, &s.account, &json!({"name": "k", "environment": "test"}));
    let t0 = now();
    admin(c, "POST", &format!("/keys/{}/leaked", id_of(&k)), None).expect_status(200);
    let r = admin(c, "POST", &format!("/keys/{}/roll", id_of(&k)), None);
    r.expect_status(200);
    assert_near(
        &r.json["previous"]["revoke_at"],
        t0 + DAY,
        "the shorter grace wins",
    );
}

pub(crate) fn roll_refuses_rolled_disabled_and_revoked_keys(c: &Ctx) {
    let s = sandboxed(c, "roll refusals");
    let roll = |id: &str| admin(c, "POST", &format!("/keys/{id}/roll"), None);

    // Already rolled (still in grace): 409, no second successor.
    let r = roll(&id_of(&s.key));
    r.expect_status(200);
    let successor = r.json["key"].clone();
    let r = roll(&id_of(&s.key));
    assert_eq!(r.status, 409, "{r}");

    // Disabled: 409; revoked: 409 and cannot be re-enabled either.
    let (k, _) = create_key(
        c,
        &s.account,
        &json!({"name": "disabled", "environment": "test"}),
    );
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    assert_eq!(roll(&id_of(&k)).status, 409);

    let (k, secret) = create_key(
        c,
        &s.account,
        &json!({"name": "revoked", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&k)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    assert_eq!(roll(&id_of(&k)).status, 409);
    admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "disabled"})),
    )
    .expect_status(200);
    let r = admin(
        c,
        "PATCH",
        &format!("/keys/{}", id_of(&k)),
        Some(&json!({"status": "active"})),
    );
    assert_eq!(r.status, 409, "re-enabling a revoked key: {r}");
    assert_refused(c, &secret, &s.product_key, "disabled");

    // Three created, one successor: nothing else was issued.
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids.len(), 4, "{r}");
    assert!(ids.contains(&id_of(&successor)));
}

pub(crate) fn leaked_default_grace_is_three_days(c: &Ctx) {
    let s = sandboxed(c, "leaked default");
    let t0 = now();
    let r = admin(c, "POST", &format!("/keys/{}/leaked", id_of(&s.key)), None);
    r.expect_status(200);
    assert_eq!(r.json["object"], "api_key");
    assert_eq!(r.json["id"], s.key["id"]);
    assert_near(&r.json["leaked_at"], t0, "leaked_at");
    assert_near(&r.json["revoke_at"], t0 + 3 * DAY, "revoke_at");
    assert_eq!(r.json["status"], "active");
    assert_eq!(
        without_usage(&admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None).json),
        without_usage(&r.json)
    );
    // Still works during the grace period.
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    // A second report can only bring revocation closer and keeps the first time.
    let first = r.json.clone();
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 7 * DAY})),
    );
    r.expect_status(200);
    assert_eq!(r.json["revoke_at"], first["revoke_at"], "not postponed");
    assert_eq!(r.json["leaked_at"], first["leaked_at"]);
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": 0})),
    );
    r.expect_status(200);
    assert!(r.json["revoke_at"].as_i64().unwrap() <= now(), "{r}");
    assert_refused(c, &s.secret, &s.product_key, "leaked");
}

pub(crate) fn leaked_grace_ends_in_revocation(c: &Ctx) {
    let s = sandboxed(c, "leaked grace");
    let r = admin(
        c,
        "POST",
        &format!("/keys/{}/leaked", id_of(&s.key)),
        Some(&json!({"grace_seconds": GRACE})),
    );
    r.expect_status(200);
    let revoke_at = r.json["revoke_at"].as_i64().unwrap();
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    sleep_until_after(revoke_at);
    assert_refused(c, &s.secret, &s.product_key, "leaked");
    // The customer replaces it with a new key.
    let (_, fresh) = create_key(
        c,
        &s.account,
        &json!({"name": "fresh", "environment": "test"}),
    );
    assert_sandbox_ok(c, &fresh, &s.product_key);
}

pub(crate) fn delete_key_revokes_it_now(c: &Ctx) {
    let s = sandboxed(c, "delete");
    let (other, other_secret) = create_key(
        c,
        &s.account,
        &json!({"name": "stays", "environment": "test"}),
    );
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    let path = format!("/keys/{}", id_of(&s.key));
    let r = admin(c, "DELETE", &path, None);
    r.expect_status(204);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 401, "a deleted key: {r}");
    assert_eq!(admin(c, "GET", &path, None).status, 404);
    assert_eq!(admin(c, "DELETE", &path, None).status, 404, "twice");
    let r = admin(c, "GET", &format!("/accounts/{}/keys", s.account), None);
    assert_eq!(r.json["data"], json!([other]), "{r}");
    assert_sandbox_ok(c, &other_secret, &s.product_key);
}

pub(crate) fn unknown_key_is_404(c: &Ctx) {
    for id in [
        "key_doesnotexist0000000",
        "nonsense",
        "acct_doesnotexist000000",
    ] {
        let cases: Vec<(&str, String, Option<Value>)> = vec![
            ("GET", format!("/keys/{id}"), None),
            ("PATCH", format!("/keys/{id}"), Some(json!({"name": "x"}))),
            ("DELETE", format!("/keys/{id}"), None),
            ("POST", format!("/keys/{id}/roll"), None),
            ("POST", format!("/keys/{id}/leaked"), None),
        ];
        for (method, path, body) in &cases {
            let r = admin(c, method, path, body.as_ref());
            assert_eq!(r.status, 404, "{method} {path}: {r}");
        }
    }
}
