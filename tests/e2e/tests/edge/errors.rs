//! Errors (docs/edge-pipeline.md "Errors and panics").

use super::*;

pub(crate) fn unknown_route_is_404_json(c: &Ctx) {
    let marker = "unknown_route";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    for secret in [&live, &test] {
        for path in [
            "/",
            "/v1",
            "/v1/no_such_route",
            "/v2/transactions",
            "/v1/transactionsX",
            "/favicon.ico",
        ] {
            let r =
                c.gw.get(&format!("{path}?trace={marker}"))
                    .bearer(secret)
                    .product_key(&t.pk_live)
                    .send();
            assert_error(&r, 404);
        }
    }
    // Sandbox-only routes do not exist for live keys.
    let r =
        c.gw.get(&format!("/v1/sandbox/scenarios?trace={marker}"))
            .bearer(&live)
            .send();
    assert_error(&r, 404);
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn method_not_allowed_is_405_with_allow(c: &Ctx) {
    let marker = "method_not_allowed";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    for (secret, pk, pay) in [
        (&live, &t.pk_live, &t.pay_live),
        (&test, &t.pk_test, &t.pay_test),
    ] {
        for (method, path, pk, allow) in [
            ("POST", "/v1/transactions", pk, vec!["GET", "HEAD"]),
            ("DELETE", "/v1/transactions/tx_1", pk, vec!["GET", "HEAD"]),
            (
                "PUT",
                "/v1/payment_orders",
                pay,
                vec!["GET", "HEAD", "POST"],
            ),
            (
                "PATCH",
                "/v1/payment_orders",
                pay,
                vec!["GET", "HEAD", "POST"],
            ),
        ] {
            let r =
                c.gw.request(method, &format!("{path}?trace={marker}"))
                    .bearer(secret)
                    .product_key(pk)
                    .json(&json!({}))
                    .send();
            assert_error(&r, 405);
            let header = r.header("allow").unwrap_or_else(|| panic!("no Allow: {r}"));
            let mut listed: Vec<&str> = header.split(',').map(str::trim).collect();
            listed.sort();
            assert_eq!(listed, allow, "{r}");
        }
    }
    c.origin.assert_got_nothing(&t.id, marker);
}

/// HEAD is answered by a path's GET route (RFC 9110 §9.3.2): a live key's HEAD reaches the
/// origin as HEAD, a test key's is the sandbox's GET answer without a body.
pub(crate) fn head_is_answered_like_get(c: &Ctx) {
    let marker = "head_like_get";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));

    let r =
        c.gw.head(&format!("/v1/transactions?trace={marker}"))
            .bearer(&live)
            .product_key(&t.pk_live)
            .send();
    assert_eq!(r.status, 200, "{r}");
    assert!(r.body.is_empty(), "HEAD has no body: {r}");
    assert_eq!(c.origin.one(marker).method, "HEAD");

    let r =
        c.gw.head("/v1/owners")
            .bearer(&test)
            .product_key(&t.pk_test)
            .send();
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    assert!(r.body.is_empty(), "HEAD has no body: {r}");
    assert!(r.request_id().is_some(), "{r}");
}

pub(crate) fn odd_and_oversized_headers_are_4xx_never_5xx(c: &Ctx) {
    let marker = "odd_headers";
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["0.0.0.0/0", "::/0"]}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let path = format!("/v1/transactions?trace={marker}");
    let big = "a".repeat(8 * 1024);
    let huge = "b".repeat(64 * 1024);
    let reqs = vec![
        c.gw.get(&path)
            .header("Authorization", &format!("Bearer {big}")),
        c.gw.get(&path)
            .header("Authorization", &format!("Basic {big}")),
        c.gw.get(&path).api_key(&big),
        c.gw.get(&path).bearer(&live).product_key(&big),
        c.gw.get(&path)
            .bearer(&live)
            .client_ip(&big)
            .product_key(&t.pk_live),
        c.gw.get(&path)
            .bearer(&live)
            .product_key(&t.pk_live)
            .client_ip("::ffff:zz"),
        c.gw.get(&path).header("Authorization", &huge),
        c.gw.get(&path)
            .bearer(&test)
            .product_key(&t.pk_test)
            .header("X-Filler", &huge),
        c.gw.get(&path).header("Authorization", "Basic ////"),
    ];
    for req in reqs {
        let r = req.send();
        assert!((400..500).contains(&r.status), "expected 4xx: {r}");
        if r.request_id().is_some() {
            assert_error(&r, r.status);
        }
    }
    // Bytes a client library would not send: obs-text, non-UTF-8.
    let port = c.gw.port();
    let with_bytes = |name: &str, value: &[u8]| {
        [
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{name}: ").as_bytes(),
            value,
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat()
    };
    let key_with_accent = format!("{}\u{e9}{}", &live[..20], &live[21..]);
    let raw_reqs: Vec<Vec<u8>> = vec![
        with_bytes("Authorization", b"Bearer \x7f"),
        with_bytes("Authorization", format!("Bearer {key_with_accent}").as_bytes()),
        with_bytes("X-API-Key", key_with_accent.as_bytes()),
        with_bytes("X-API-Key", b"sk_live_\x01abc"),
        [
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: sk_live_").as_bytes(),
            b"\xff\xfe\xfd",
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        [
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ").as_bytes(),
            b"\xc3\x28\xa0\xa1",
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        [
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {live}\r\nX-Product-Key: ").as_bytes(),
            b"pk_live_\xff",
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        [
            format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {live}\r\nX-Product-Key: {}\r\nCF-Connecting-IP: ", t.pk_live).as_bytes(),
            b"\xff\xff",
            b"\r\nConnection: close\r\n\r\n",
        ]
        .concat(),
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key:\r\nConnection: close\r\n\r\n")
            .into_bytes(),
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {live}\r\nX-Product-Key: {}\r\n{}Connection: close\r\n\r\n",
            t.pk_live,
            (0..150).map(|i| format!("X-Many-{i}: {i}\r\n")).collect::<String>()
        )
        .into_bytes(),
    ];
    for (i, req) in raw_reqs.iter().enumerate() {
        let r = raw(port, req);
        // The last one is a valid request with many headers: it is forwarded.
        if i == raw_reqs.len() - 1 {
            assert_eq!(r.status, 200, "{r}");
        } else {
            assert!(
                (400..500).contains(&r.status),
                "request {i}: expected 4xx: {r}"
            );
        }
    }
}
