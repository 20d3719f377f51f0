//! Step `scope` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn scope_missing_is_403_naming_the_scope(c: &Ctx) {
    let marker = "scope_missing_403";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let (_, test) = key(
        &c.gw,
        &t,
        "test",
        json!({"scopes": ["accounts:read", "payment_orders:read"]}),
    );
    for (secret, pk) in [(&live, &t.pk_live), (&test, &t.pk_test)] {
        let r = get_tx(&c.gw, secret, pk, marker);
        let message = assert_error(&r, 403);
        assert!(message.contains("transactions:read"), "{r}");
        // The scope it has works.
        let r =
            c.gw.get(&trace_path("/v1/accounts", secret, &format!("{marker}-ok")))
                .bearer(secret)
                .product_key(pk)
                .send();
        assert_eq!(r.status, 200, "{r}");
    }
    let r =
        c.gw.post(&format!("/v1/payment_orders?trace={marker}"))
            .bearer(&test)
            .product_key(&t.pay_test)
            .json(&json!({"amount": 100}))
            .send();
    assert!(
        assert_error(&r, 403).contains("payment_orders:write"),
        "{r}"
    );
    c.origin.assert_got_nothing("", &format!("trace={marker}&"));
    assert!(c.origin.got("", &format!("trace={marker}")).len() <= 1);
}

pub(crate) fn scope_missing_is_404_with_hide_forbidden(c: &Ctx) {
    let gw = &c.secure;
    let marker = "scope_hidden_404";
    let t = tenant(gw, marker, json!({}));
    let (_, live) = key(gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let (_, test) = key(gw, &t, "test", json!({"scopes": ["accounts:read"]}));
    for (secret, pk) in [(&live, &t.pk_live), (&test, &t.pk_test)] {
        let unknown_route = gw.get("/v1/no_such_route").bearer(secret).send();
        let unknown_message = assert_error(&unknown_route, 404);
        let r = get_tx(gw, secret, pk, marker);
        let message = assert_error(&r, 404);
        // Indistinguishable from a route that does not exist.
        assert_eq!(message, unknown_message);
        assert_eq!(r.json.get("errors"), unknown_route.json.get("errors"));
        assert!(!r.text().contains("transactions:read"), "{r}");
        // The scope it has still works.
        let r = gw.get("/v1/accounts").bearer(secret).product_key(pk).send();
        assert_eq!(r.status, 200, "{r}");
    }
    assert!(
        !c.demo.log().contains(marker),
        "the origin received a hidden-403 request:\n{}",
        c.demo.log()
    );
}

pub(crate) fn scope_wildcards_grant(c: &Ctx) {
    let marker = "scope_wildcards";
    let t = tenant(&c.gw, marker, json!({}));
    for scopes in [
        json!(["transactions:*"]),
        json!(["*:read"]),
        json!(["*"]),
        json!(["accounts:read", "transactions:read"]),
    ] {
        let (_, live) = key(&c.gw, &t, "live", json!({"scopes": scopes}));
        let (_, test) = key(&c.gw, &t, "test", json!({"scopes": scopes}));
        assert_from_origin(&get_tx(&c.gw, &live, &t.pk_live, marker));
        assert_sandbox(&get_tx(&c.gw, &test, &t.pk_test, marker));
    }
    // A read wildcard does not grant a write.
    let (_, reader) = key(&c.gw, &t, "live", json!({"scopes": ["*:read"]}));
    let r =
        c.gw.post(&format!("/v1/payment_orders?trace={marker}-refused"))
            .bearer(&reader)
            .product_key(&t.pay_live)
            .json(&json!({"amount": 1}))
            .send();
    assert!(
        assert_error(&r, 403).contains("payment_orders:write"),
        "{r}"
    );
    let (_, other) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:*"]}));
    assert_error(
        &get_tx(&c.gw, &other, &t.pk_live, &format!("{marker}-refused")),
        403,
    );
    c.origin
        .assert_got_nothing("", &format!("{marker}-refused"));
}
