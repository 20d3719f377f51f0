//! Step `credential` (docs/edge-pipeline.md).

use super::*;

/// `r` is the origin's answer to the request marked `marker`, which reached it as the key `kid`
/// and without the credential's `header`.
#[track_caller]
pub(crate) fn assert_forwarded_as(c: &Ctx, r: &Resp, marker: &str, kid: &str, header: &str) {
    assert_from_origin(r);
    let q = c.origin.one(marker);
    assert_eq!(q.header("x-keygate-key"), Some(kid));
    assert!(!q.has_header(header), "{q:#?}");
}

pub(crate) fn credential_basic_with_key_as_username(c: &Ctx) {
    let marker = "credential_basic";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (kid, live) = key(&c.gw, &t, "live", json!({}));
    for password in ["", "ignored-password"] {
        let r =
            c.gw.get("/v1/transactions")
                .basic(&test, password)
                .product_key(&t.pk_test)
                .send();
        assert_sandbox(&r);
        let m = format!("{marker}-{}", password.len());
        let r =
            c.gw.get(&format!("/v1/transactions?trace={m}"))
                .basic(&live, password)
                .product_key(&t.pk_live)
                .send();
        assert_forwarded_as(c, &r, &m, &kid, "authorization");
    }
    // Basic without the colon is the same username.
    use base64::Engine;
    let enc = base64::engine::general_purpose::STANDARD.encode(&test);
    let r =
        c.gw.get("/v1/transactions")
            .header("Authorization", &format!("Basic {enc}"))
            .product_key(&t.pk_test)
            .send();
    assert_sandbox(&r);
    // The key as the password (empty username) is not the documented form.
    let r =
        c.gw.get(&format!("/v1/transactions?trace={marker}-pw"))
            .basic("", &live)
            .product_key(&t.pk_live)
            .send();
    assert!(r.status == 400 || r.status == 401, "{r}");
    assert_error(&r, r.status);
    assert_no_secret(&r, &[&live]);
    c.origin.assert_got_nothing("", &format!("{marker}-pw"));
}

/// A fresh account's test key, sent as `as_test` puts it, is answered by the sandbox; its live
/// key, sent as `as_live` puts it, reaches the origin as itself and without `header` (see
/// [`assert_forwarded_as`]). Returns the account and the live key.
pub(crate) fn sent_as(
    c: &Ctx,
    marker: &str,
    as_test: impl Fn(Req, &str) -> Req,
    as_live: impl Fn(Req, &str) -> Req,
    header: &str,
) -> (Tenant, String) {
    let t = tenant(&c.gw, marker, json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (kid, live) = key(&c.gw, &t, "live", json!({}));
    let req = as_test(c.gw.get("/v1/transactions"), &test);
    assert_sandbox(&req.product_key(&t.pk_test).send());
    let req = as_live(c.gw.get(&format!("/v1/transactions?trace={marker}")), &live);
    let r = req.product_key(&t.pk_live).send();
    assert_forwarded_as(c, &r, marker, &kid, header);
    (t, live)
}

pub(crate) fn credential_bearer(c: &Ctx) {
    let bearer = |req: Req, key: &str| req.header("Authorization", &format!("bearer {key}"));
    sent_as(c, "credential_bearer", Req::bearer, bearer, "authorization");
}

pub(crate) fn credential_x_api_key(c: &Ctx) {
    let marker = "credential_x_api_key";
    let (t, live) = sent_as(c, marker, Req::api_key, Req::api_key, "x-api-key");
    // The same key in two places is one key, not an ambiguity.
    let r =
        c.gw.get(&format!("/v1/transactions?trace={marker}-twice"))
            .bearer(&live)
            .api_key(&live)
            .product_key(&t.pk_live)
            .send();
    assert_from_origin(&r);
}

pub(crate) fn credential_missing_is_401_with_basic_challenge(c: &Ctx) {
    let t = tenant(&c.gw, "credential_missing", json!({}));
    for req in [
        c.gw.get("/v1/transactions"),
        c.gw.get("/v1/transactions").product_key(&t.pk_live),
        c.gw.post("/v1/payment_orders").json(&json!({"amount": 1})),
        c.gw.get("/"),
        c.gw.get("/v1/no_such_route"),
    ] {
        let r = req.send();
        assert_error(&r, 401);
        assert_eq!(
            r.header("www-authenticate"),
            Some(r#"Basic realm="keygate""#),
            "{r}"
        );
    }
    c.origin.assert_got_nothing(&t.id, "credential_missing");
}

pub(crate) fn credential_two_different_keys_is_400(c: &Ctx) {
    let marker = "credential_two_keys";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live_a) = key(&c.gw, &t, "live", json!({}));
    let (_, live_b) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let path = format!("/v1/transactions?trace={marker}");
    for req in [
        c.gw.get(&path).bearer(&live_a).api_key(&live_b),
        c.gw.get(&path).basic(&live_a, "").api_key(&live_b),
        c.gw.get(&path).bearer(&live_a).api_key(&test),
        c.gw.get(&path).api_key(&test).basic(&live_a, ""),
        // The same header twice with two keys (joined by the runtime) is ambiguous too.
        c.gw.get(&path).api_key(&live_a).api_key(&live_b),
        c.gw.get(&path).bearer(&live_a).bearer(&live_b),
    ] {
        let r = req.product_key(&t.pk_live).send();
        assert_error(&r, 400);
        assert_no_secret(&r, &[&live_a, &live_b, &test]);
    }
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn credential_odd_authorization_headers_are_refused(c: &Ctx) {
    let marker = "credential_odd_authorization";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let path = format!("/v1/transactions?trace={marker}");
    let cases: Vec<(String, u16)> = vec![
        // Unknown schemes are not credentials.
        (format!("Token {live}"), 401),
        (format!("Digest username=\"{live}\""), 401),
        // A bare key without a scheme.
        (live.clone(), 401),
        // Malformed Basic / Bearer.
        ("Basic !!!not-base64!!!".into(), 400),
        ("Bearer".into(), 400),
        (format!("Bearer {live} extra"), 400),
    ];
    for (value, status) in cases {
        let r =
            c.gw.get(&path)
                .header("Authorization", &value)
                .product_key(&t.pk_live)
                .send();
        assert_error(&r, status);
        assert_no_secret(&r, &[&live]);
    }
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn credential_in_query_string_is_never_accepted(c: &Ctx) {
    let marker = "credential_in_query";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    for name in [
        "api_key",
        "apikey",
        "key",
        "access_token",
        "token",
        "x-api-key",
        "X-API-Key",
        "authorization",
    ] {
        for (secret, pk) in [(&live, &t.pk_live), (&test, &t.pk_test)] {
            let r =
                c.gw.get(&format!("/v1/transactions?{name}={secret}&trace={marker}"))
                    .product_key(pk)
                    .send();
            assert_error(&r, 401);
            assert_eq!(
                r.header("www-authenticate"),
                Some(r#"Basic realm="keygate""#),
                "{r}"
            );
            assert_no_secret(&r, &[secret]);
        }
    }
    // Nor in the path, nor as a product-key query parameter.
    let r =
        c.gw.get(&format!(
            "/v1/transactions/{live}?product_key={}",
            t.pk_live
        ))
        .send();
    assert_error(&r, 401);
    // With a header credential too, a secret in the URL is refused rather than forwarded
    // into the origin's logs.
    for (secret, pk) in [(&live, &t.pk_live), (&test, &t.pk_test)] {
        let r =
            c.gw.get(&format!("/v1/transactions?api_key={secret}&trace={marker}"))
                .bearer(secret)
                .product_key(pk)
                .send();
        assert_error(&r, 400);
        assert_eq!(r.json["errors"][0]["field"], "url", "{r}");
        assert_no_secret(&r, &[secret]);
    }
    c.origin.assert_got_nothing(&t.id, marker);
}
