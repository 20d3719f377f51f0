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

/// Where HTTPS is required, a sandbox webhook endpoint is a way to make the gateway call out:
/// a private, loopback or link-local address, in any spelling, or plain `http`, is refused;
/// a public `https` URL is taken. (The URL judgement itself is unit- and property-tested in
/// `keygate_core::outbound`.)
pub(crate) fn https_required_refuses_webhook_urls_to_private_addresses(c: &Ctx) {
    let gw = &c.secure;
    let t = tenant(gw, "https_webhook_urls", json!({}));
    let (_, test) = key(gw, &t, "test", json!({}));
    let register = |url: &str| {
        gw.post("/v1/webhook_endpoints")
            .bearer(&test)
            .json(&json!({"url": url, "enabled_events": ["*"]}))
            .send()
    };
    for url in [
        format!("http://127.0.0.1:{}/hook", c.origin.port()),
        format!("https://127.0.0.1:{}/hook", c.origin.port()),
        "https://2130706433/hook".to_string(),
        "https://0x7f.1/hook".to_string(),
        "https://10.0.0.8/hook".to_string(),
        "https://192.168.1.1/hook".to_string(),
        "https://169.254.169.254/latest/meta-data".to_string(),
        "https://[::1]/hook".to_string(),
        "https://[::ffff:127.0.0.1]/hook".to_string(),
        "https://localhost/hook".to_string(),
        "https://hooks.example.com@127.0.0.1/hook".to_string(),
    ] {
        let r = register(&url);
        assert_eq!(r.status, 400, "{url}: {r}");
        assert_eq!(r.json["errors"][0]["field"], "url", "{url}: {r}");
        assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    }
    let r = register("https://hooks.example.com/keygate");
    assert_eq!(r.status, 201, "{r}");
    c.origin.assert_got_nothing("", "/hook");
}
