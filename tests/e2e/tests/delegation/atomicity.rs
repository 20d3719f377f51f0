//! Atomicity: a command that fails half way changes nothing.

use super::*;

pub(crate) fn a_failed_command_changes_nothing(c: &Ctx) {
    let gw = &c.faulty;
    // Account and key creation are one write each: they pass. An entitlement writes the
    // entitlement and the account (whose product keys every edge record carries): it fails
    // whole, and the account stays without products.
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "all or nothing", "agreement": "test"})),
    );
    r.expect_status(201);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let r = op(
        gw,
        "PUT",
        &format!("/accounts/{id}/products/bank_data"),
        None,
    );
    refused(&r, 503, &[]);
    let r = op(gw, "GET", &format!("/accounts/{id}"), None);
    assert_eq!(
        r.json["products"],
        json!([]),
        "a failed entitlement left a product: {r}"
    );
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{id}/products/bank_data"),
        None,
    );
    assert_eq!(
        r.status, 404,
        "a failed entitlement left an entitlement: {r}"
    );
    // Without a product, the sandbox's own tools (no product key) prove a key still works.
    let a = Account {
        id,
        pk: String::new(),
    };
    let m = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read", "sandbox:read"]}),
    );
    let k = key(
        gw,
        &a.id,
        "rolled",
        json!({"scopes": ["accounts:read", "sandbox:read"]}),
    );
    let assert_works = |gw: &Gateway, secret: &str, _pk: &str, what: &str| {
        let r = gw
            .get("/v1/sandbox/scenarios")
            .bearer(secret)
            .client_ip(INSIDE)
            .send();
        assert_eq!(
            r.status, 200,
            "{what}: the key should work at the edge: {r}"
        );
    };
    let before = keys(gw, &a.id);

    // A roll writes the successor, then the old key; a leak report of two keys, two keys.
    let check = |what: &str, r: Resp| {
        refused(&r, 503, &[]);
        let after = keys(gw, &a.id);
        let admin_fields = |keys: &[Value]| keys.iter().map(without_usage).collect::<Vec<_>>();
        assert_eq!(
            admin_fields(&after),
            admin_fields(&before),
            "{what} failed but changed the keys"
        );
        let old = &after[1];
        assert!(
            old["rolled_to"].is_null() && old["revoke_at"].is_null() && old["leaked_at"].is_null(),
            "{what}: {old}"
        );
        assert_works(gw, &k.secret, &a.pk, what);
        assert_works(gw, &m.secret, &a.pk, what);
    };
    let roll = format!("/keys/{}/roll", k.id);
    check("operator roll", op(gw, "POST", &roll, Some(&json!({}))));
    let grace = json!({"grace_seconds": 0});
    check(
        "manager roll",
        manage(gw, &m.secret, "POST", &roll, Some(&grace)),
    );
    let report = json!([{"token": k.secret}, {"token": m.secret}]);
    check("leak report", op(gw, "POST", "/leaks", Some(&report)));

    // A single-write command passes.
    let r = manage(
        gw,
        &m.secret,
        "PATCH",
        &format!("/keys/{}", k.id),
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(r.status, 200, "a one-write command: {r}");
    assert_eq!(view(gw, &k.id)["name"], "renamed");
}
