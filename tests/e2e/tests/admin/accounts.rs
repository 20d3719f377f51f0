//! Accounts: create, read, update, list, validation, suspension and agreement.

use super::*;

pub(crate) fn account_create_read_update(c: &Ctx) {
    let t0 = now();
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(
            &json!({"name": "  Acme Insurance  ", "agreement": "production",
                     "allowed_ips": ["203.0.113.7", "2001:db8::/32", "::ffff:198.51.100.0/120"]}),
        ),
    );
    r.expect_status(201);
    let a = r.json.clone();
    let id = id_of(&a);
    assert!(id.starts_with("acct_") && id.len() > 10, "{a}");
    assert_eq!(a["object"], "account");
    assert_eq!(a["name"], "Acme Insurance", "names are trimmed");
    assert_eq!(a["agreement"], "production");
    assert_eq!(a["status"], "active");
    assert_eq!(
        a["allowed_ips"],
        json!(["203.0.113.7/32", "2001:db8::/32", "198.51.100.0/24"]),
        "canonical CIDRs"
    );
    assert_eq!(a["products"], json!([]));
    assert_near(&a["created_at"], t0, "created_at");
    assert_eq!(a["updated_at"], a["created_at"]);

    // Read.
    let r = admin(c, "GET", &format!("/accounts/{id}"), None);
    r.expect_status(200);
    assert_eq!(r.json, a);

    // A second account gets another id; defaults.
    let b = create_account(c, "Beta", "test");
    assert_ne!(id_of(&b), id);
    assert_eq!(b["allowed_ips"], json!([]));
    assert_eq!(b["agreement"], "test");

    // Update each field; absent fields stay.
    let r = admin(
        c,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"name": "Acme Insurance AG"})),
    );
    r.expect_status(200);
    assert_eq!(r.json["name"], "Acme Insurance AG");
    assert_eq!(r.json["allowed_ips"], a["allowed_ips"]);
    assert_eq!(r.json["agreement"], "production");
    assert_eq!(r.json["created_at"], a["created_at"]);
    assert!(r.json["updated_at"].as_i64() >= a["updated_at"].as_i64());

    let r = admin(
        c,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"agreement": "test", "status": "suspended", "allowed_ips": []})),
    );
    r.expect_status(200);
    assert_eq!(r.json["agreement"], "test");
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["allowed_ips"], json!([]));
    assert_eq!(r.json["name"], "Acme Insurance AG");

    // An empty patch changes nothing but is fine.
    let r = admin(c, "PATCH", &format!("/accounts/{id}"), Some(&json!({})));
    r.expect_status(200);
    assert_eq!(r.json["status"], "suspended");

    // The read shows the stored state.
    let r = admin(c, "GET", &format!("/accounts/{id}"), None);
    assert_eq!(r.json["name"], "Acme Insurance AG");
    assert_eq!(r.json["status"], "suspended");
    assert_eq!(r.json["agreement"], "test");

    // Names: 200 characters (not bytes) are fine.
    let long = "é".repeat(200);
    let r = admin(
        c,
        "POST",
        "/accounts",
        Some(&json!({"name": long, "agreement": "test"})),
    );
    r.expect_status(201);
    assert_eq!(r.json["name"], json!(long));
}

pub(crate) fn account_list_paginates(c: &Ctx) {
    let mine: Vec<String> = (0..12)
        .map(|i| account_id(c, &format!("paginated {i:02}"), "test"))
        .collect();

    // Default limit 10; more exist, so has_more.
    let r = admin(c, "GET", "/accounts", None);
    r.expect_status(200);
    assert_eq!(r.json["object"], "list");
    assert_eq!(r.json["data"].as_array().unwrap().len(), 10, "{r}");
    assert_eq!(r.json["has_more"], true);
    for a in r.json["data"].as_array().unwrap() {
        assert_eq!(a["object"], "account", "{a}");
        assert!(a["products"].is_array(), "{a}");
    }

    // Walking with small pages sees every account once, mine in creation order.
    for limit in [1, 3, 100] {
        let all = walk(c, "/accounts", limit);
        let unique: HashSet<&String> = all.iter().collect();
        assert_eq!(unique.len(), all.len(), "duplicates with limit={limit}");
        let seen: Vec<&String> = all.iter().filter(|id| mine.contains(id)).collect();
        assert_eq!(
            seen,
            mine.iter().collect::<Vec<_>>(),
            "limit={limit}: all of mine, in order"
        );
    }

    // starting_after the last of mine: nothing of mine after it.
    let r = admin(
        c,
        "GET",
        &format!("/accounts?limit=100&starting_after={}", mine[11]),
        None,
    );
    r.expect_status(200);
    assert!(
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| !mine.contains(&id_of(a))),
        "{r}"
    );
    let r = admin(
        c,
        "GET",
        &format!("/accounts?limit=2&starting_after={}", mine[3]),
        None,
    );
    let ids: Vec<String> = r.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    assert_eq!(ids, [mine[4].clone(), mine[5].clone()], "{r}");
    assert_eq!(r.json["has_more"], true);

    // Bounds.
    for bad in ["0", "101", "-1", "ten", "", "1.5"] {
        let r = admin(c, "GET", &format!("/accounts?limit={bad}"), None);
        assert_invalid(&r, &["limit"]);
    }
    let r = admin(c, "GET", "/accounts?limit=100", None);
    r.expect_status(200);
    let r = admin(
        c,
        "GET",
        "/accounts?starting_after=acct_doesnotexist000000",
        None,
    );
    assert_invalid(&r, &["starting_after"]);
    let r = admin(c, "GET", "/accounts?page=2", None);
    assert_invalid(&r, &["page"]);
}

pub(crate) fn account_validation_names_each_field(c: &Ctx) {
    let post = |body: Value| admin(c, "POST", "/accounts", Some(&body));
    let long = "x".repeat(201);

    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "plan": "gold"})),
        &["plan"],
    );
    assert_invalid(&post(json!({"name": 7, "agreement": "test"})), &["name"]);
    assert_invalid(
        &post(json!({"name": "A", "agreement": "gold"})),
        &["agreement"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": true})),
        &["agreement"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": "10.0.0.1"})),
        &["allowed_ips"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": ["10.0.0.1", 7]})),
        &["allowed_ips[1]"],
    );
    assert_invalid(
        &post(json!({"name": "A", "agreement": "test", "allowed_ips": [
            "10.0.0.1", "300.1.2.3", "10.0.0.0/33", "10.0.0.1/8", "2001:db8::/129",
            "not-an-ip", "", " 10.0.0.2"]})),
        &[
            "allowed_ips[1]",
            "allowed_ips[2]",
            "allowed_ips[3]",
            "allowed_ips[4]",
            "allowed_ips[5]",
            "allowed_ips[6]",
            "allowed_ips[7]",
        ],
    );
    assert_invalid(&post(json!({"name": long, "agreement": "test"})), &["name"]);
    assert_invalid(
        &post(json!({"name": "   ", "agreement": "test"})),
        &["name"],
    );
    assert_invalid(&post(json!({})), &["name", "agreement"]);
    // Every problem at once.
    assert_invalid(
        &post(
            json!({"name": long, "agreement": 1, "allowed_ips": ["1.2.3.4/40"],
                     "status": "active"}),
        ),
        &["status", "name", "agreement", "allowed_ips[0]"],
    );
    // Not an object.
    for body in [json!([]), json!("Acme"), json!(null), json!(42)] {
        let r = post(body.clone());
        assert_eq!(r.status, 400, "{body}: {r}");
    }
    let r = c.gw.admin("POST", "/accounts").send();
    audit(&r);
    assert_eq!(r.status, 400, "no body: {r}");

    // PATCH validates the same way, and a refused patch changes nothing.
    let a = create_account(c, "validated patch", "test");
    let path = format!("/accounts/{}", id_of(&a));
    let patch = |body: Value| admin(c, "PATCH", &path, Some(&body));
    assert_invalid(&patch(json!({"status": "deleted"})), &["status"]);
    assert_invalid(&patch(json!({"id": "acct_other"})), &["id"]);
    assert_invalid(&patch(json!({"created_at": 1})), &["created_at"]);
    assert_invalid(
        &patch(json!({"agreement": "gold", "name": ""})),
        &["agreement", "name"],
    );
    assert_invalid(
        &patch(json!({"name": "ok", "allowed_ips": ["10.0.0.0/33"]})),
        &["allowed_ips[0]"],
    );
    assert_invalid(&patch(json!({"name": long})), &["name"]);
    assert_invalid(&patch(json!({"status": null})), &["status"]);
    let r = admin(c, "GET", &path, None);
    assert_eq!(r.json, a, "a refused PATCH changed the account");
}

pub(crate) fn account_suspension_refuses_its_keys_until_reactivated(c: &Ctx) {
    let s = sandboxed(c, "suspension");
    let (_, second) = create_key(
        c,
        &s.account,
        &json!({"name": "second", "environment": "test"}),
    );
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &second, &s.product_key);

    let path = format!("/accounts/{}", s.account);
    let r = admin(c, "PATCH", &path, Some(&json!({"status": "suspended"})));
    r.expect_status(200);
    assert_eq!(r.json["status"], "suspended");
    assert_refused(c, &s.secret, &s.product_key, "suspended");
    assert_refused(c, &second, &s.product_key, "suspended");
    // The keys themselves are untouched.
    let r = admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None);
    assert_eq!(r.json["status"], "active");

    admin(c, "PATCH", &path, Some(&json!({"status": "active"}))).expect_status(200);
    assert_sandbox_ok(c, &s.secret, &s.product_key);
    assert_sandbox_ok(c, &second, &s.product_key);
}

pub(crate) fn agreement_change_governs_live_keys(c: &Ctx) {
    let account = account_id(c, "agreement change", "test");
    let first = entitle(c, &account, "bank_data");
    assert!(first["product_keys"]["live"].is_null(), "{first}");
    let r = admin(
        c,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(&json!({"name": "live", "environment": "live"})),
    );
    assert_eq!(r.status, 403, "a live key for a test agreement: {r}");

    // Upgrade: the entitlement gains a live product key, the test one stays.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "production"})),
    )
    .expect_status(200);
    let r = admin(
        c,
        "PUT",
        &format!("/accounts/{account}/products/bank_data"),
        None,
    );
    r.expect_status(200);
    assert_eq!(
        r.json["product_keys"]["test"],
        first["product_keys"]["test"]
    );
    let pk_live = r.json["product_keys"]["live"]
        .as_str()
        .unwrap_or_else(|| panic!("no live product key after the upgrade: {r}"))
        .to_string();
    assert_key_format(&pk_live, "pk_live_");

    let (live, secret) = create_key(c, &account, &json!({"name": "live", "environment": "live"}));
    assert_key_format(&secret, "sk_live_");
    assert_eq!(live["environment"], "live");
    let r = edge(
        c,
        &secret,
        "/v1/accounts?agreement_change=1",
        Some(&pk_live),
    );
    assert_eq!(r.status, 200, "a live key of a production account: {r}");
    assert_eq!(r.json, json!({"origin": "ok"}), "{r}");
    let got = c.origin.requests_where(|q| {
        q.header("x-keygate-key") == live["id"].as_str() && q.path.contains("agreement_change")
    });
    assert_eq!(got.len(), 1, "the origin should have seen the request once");
    assert_eq!(got[0].header("x-keygate-account"), Some(account.as_str()));
    // The test product key does not work with a live key.
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_test(&first)));
    assert_eq!(r.status, 404, "{r}");

    // Downgrade: the live key is refused at the edge, but kept.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "test"})),
    )
    .expect_status(200);
    assert_refused(c, &secret, &pk_live, "production agreement");
    let r = admin(c, "GET", &format!("/keys/{}", id_of(&live)), None);
    r.expect_status(200);
    assert_eq!(r.json["status"], "active");

    // And back.
    admin(
        c,
        "PATCH",
        &format!("/accounts/{account}"),
        Some(&json!({"agreement": "production"})),
    )
    .expect_status(200);
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_live));
    assert_eq!(r.status, 200, "{r}");
}

pub(crate) fn unknown_account_is_404(c: &Ctx) {
    let missing = "acct_doesnotexist000000";
    let cases: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", format!("/accounts/{missing}"), None),
        (
            "PATCH",
            format!("/accounts/{missing}"),
            Some(json!({"name": "x"})),
        ),
        (
            "PUT",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        (
            "GET",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        (
            "DELETE",
            format!("/accounts/{missing}/products/bank_data"),
            None,
        ),
        ("GET", format!("/accounts/{missing}/keys"), None),
        (
            "POST",
            format!("/accounts/{missing}/keys"),
            Some(json!({"name": "x", "environment": "test"})),
        ),
    ];
    for (method, path, body) in &cases {
        let r = admin(c, method, path, body.as_ref());
        assert_eq!(r.status, 404, "{method} {path}: {r}");
    }
}

pub(crate) fn no_demo_account_without_demo_seed(c: &Ctx) {
    let r = admin(c, "GET", "/accounts/acct_demo", None);
    assert_eq!(r.status, 404, "DEMO_SEED is not set on this gateway: {r}");
    let env = demo_env();
    let r = edge(
        c,
        &env["DEMO_SECRET_KEY"],
        &env["DEMO_PATH"],
        Some(env["DEMO_PRODUCT_KEY"].as_str()),
    );
    assert_eq!(r.status, 401, "{r}");
}
