//! Step `https` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn https_required_refuses_plain_http_without_redirect(c: &Ctx) {
    let marker = "https_required_refuses";
    // A well-formed key: the refusal must come before the credential is even looked at.
    let key = mint_key("sk_live_", marker);
    let pk = mint_key("pk_live_", marker);
    let requests = [
        c.strict
            .get(&format!("/v1/transactions?trace={marker}"))
            .bearer(&key)
            .product_key(&pk),
        c.strict.get(&format!("/v1/transactions?trace={marker}")),
        c.strict
            .post(&format!("/v1/payment_orders?trace={marker}"))
            .api_key(&key)
            .json(&json!({})),
        c.strict.get("/"),
        c.strict.admin("GET", "/accounts"),
        c.strict
            .admin("POST", "/accounts")
            .json(&json!({"name": "x", "agreement": "test"})),
        // What a client or a proxy in front says about the scheme does not count.
        c.strict
            .get(&format!("/v1/transactions?trace={marker}"))
            .bearer(&key)
            .product_key(&pk)
            .header("X-Forwarded-Proto", "https")
            .header("X-Forwarded-Ssl", "on")
            .header("CF-Visitor", r#"{"scheme":"https"}"#)
            .header("Forwarded", "proto=https"),
    ];
    for req in requests {
        let r = req.send();
        let message = assert_error(&r, 403);
        assert!(message.contains("HTTPS is required"), "{r}");
        assert!(r.header("location").is_none(), "must not redirect: {r}");
        assert_no_secret(&r, &[&key]);
    }
    c.origin.assert_got_nothing("", marker);
}

pub(crate) fn https_required_lets_https_through(c: &Ctx) {
    let gw = &c.secure;
    assert!(gw.base_url().starts_with("https://"));
    let marker = "https_required_lets_https_through";
    let t = tenant(gw, marker, json!({}));
    let (_, test) = key(gw, &t, "test", json!({}));
    let (kid, live) = key(gw, &t, "live", json!({}));
    assert_sandbox(
        &gw.get("/v1/transactions")
            .bearer(&test)
            .product_key(&t.pk_test)
            .send(),
    );
    let r = get_tx(gw, &live, &t.pk_live, marker);
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["verified"], json!(true), "{r}");
    assert_eq!(r.json["identity"]["key"], json!(kid), "{r}");
}
