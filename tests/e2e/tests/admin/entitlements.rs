//! Entitlements: product keys come and go with them.

use super::*;

pub(crate) fn entitlement_yields_product_keys(c: &Ctx) {
    let account = account_id(c, "entitled", "production");
    let t0 = now();
    let path = format!("/accounts/{account}/products/bank_data");
    let r = admin(c, "PUT", &path, None);
    r.expect_status(201);
    let e = r.json.clone();
    assert_eq!(e["object"], "entitlement");
    assert_eq!(e["account_id"], json!(account));
    assert_eq!(e["product_id"], "bank_data");
    assert_near(&e["created_at"], t0, "created_at");
    let test = pk_test(&e);
    let live = e["product_keys"]["live"]
        .as_str()
        .expect("a live product key")
        .to_string();
    assert_key_format(&test, "pk_test_");
    assert_key_format(&live, "pk_live_");

    // Idempotent: 200 with the same keys.
    let r = admin(c, "PUT", &path, None);
    r.expect_status(200);
    assert_eq!(r.json, e);
    let r = admin(c, "GET", &path, None);
    r.expect_status(200);
    assert_eq!(r.json, e);

    // Each product has its own keys; the account lists its products.
    let payments = entitle(c, &account, "payments");
    assert_ne!(pk_test(&payments), test);
    let insurance = entitle(c, &account, "insurance");
    let r = admin(c, "GET", &format!("/accounts/{account}"), None);
    let mut products: Vec<String> = r.json["products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_string())
        .collect();
    products.sort();
    assert_eq!(products, ["bank_data", "insurance", "payments"], "{r}");

    // A test agreement: test product keys only.
    let t = account_id(c, "entitled test", "test");
    let r = admin(c, "PUT", &format!("/accounts/{t}/products/insurance"), None);
    r.expect_status(201);
    assert_key_format(&pk_test(&r.json), "pk_test_");
    assert!(r.json["product_keys"]["live"].is_null(), "{r}");

    // Each product key works for its product only.
    let (_, secret) = create_key(c, &account, &json!({"name": "k", "environment": "test"}));
    assert_sandbox_ok(c, &secret, &test);
    let r = edge(c, &secret, "/v1/accounts", Some(&pk_test(&insurance)));
    assert_eq!(r.status, 404, "insurance's key on a bank_data route: {r}");
    let r = edge(c, &secret, "/v1/statements", Some(&pk_test(&payments)));
    assert_eq!(r.status, 200, "{r}");

    // Unknown product: 404, and nothing entitled.
    let r = admin(c, "PUT", &format!("/accounts/{account}/products/crm"), None);
    assert_eq!(r.status, 404, "{r}");
    let r = admin(c, "GET", &format!("/accounts/{t}/products/bank_data"), None);
    assert_eq!(r.status, 404, "not entitled: {r}");
}

pub(crate) fn withdrawn_entitlement_stops_its_product_keys(c: &Ctx) {
    let s = sandboxed(c, "withdrawn");
    let payments = pk_test(&entitle(c, &s.account, "payments"));
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    let path = format!("/accounts/{}/products/bank_data", s.account);
    admin(c, "DELETE", &path, None).expect_status(204);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 404, "a withdrawn product key: {r}");
    // The other product is unaffected.
    let r = edge(c, &s.secret, "/v1/statements", Some(&payments));
    assert_eq!(r.status, 200, "{r}");
    let r = admin(c, "GET", &format!("/accounts/{}", s.account), None);
    assert_eq!(r.json["products"], json!(["payments"]), "{r}");
    assert_eq!(admin(c, "GET", &path, None).status, 404);
    assert_eq!(admin(c, "DELETE", &path, None).status, 404, "twice");

    // Entitling again issues new product keys; the old one stays dead.
    let again = entitle(c, &s.account, "bank_data");
    let new_pk = pk_test(&again);
    assert_ne!(new_pk, s.product_key);
    assert_sandbox_ok(c, &s.secret, &new_pk);
    let r = edge(c, &s.secret, "/v1/accounts", Some(&s.product_key));
    assert_eq!(r.status, 404, "{r}");
}
