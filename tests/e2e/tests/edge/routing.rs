//! Step `dispatch` (docs/edge-pipeline.md): live keys to the origin, as sent and signed.

use super::*;

pub(crate) fn live_request_is_forwarded_with_method_path_query_body_and_headers(c: &Ctx) {
    let marker = "forwarded_as_sent";
    let t = tenant(&c.gw, marker, json!({}));
    let (kid, live) = key(&c.gw, &t, "live", json!({}));
    c.origin.respond(
        &format!("/v1/payment_orders?trace={marker}"),
        Reply::json(201, &json!({"id": "po_1", "created": true}))
            .header("X-Origin-Header", "from-origin")
            .header("Cache-Control", "no-store"),
    );
    let body = json!({"amount": 1250, "currency": "EUR", "note": "ünïcode & spaces"});
    let path = format!("/v1/payment_orders?trace={marker}&b=2&a=1&sp=a%20b&e=&x=%C3%BC");
    let r =
        c.gw.post(&path)
            .bearer(&live)
            .product_key(&t.pay_live)
            .header("X-Custom", "custom value, with comma")
            .header("Idempotency-Key", "idem-123")
            .header("Accept", "application/json")
            .header("Accept-Language", "de-CH")
            .header("User-Agent", "keygate-e2e/1")
            .json(&body)
            .send();
    assert_eq!(r.status, 201, "{r}");
    assert_eq!(r.json, json!({"id": "po_1", "created": true}));
    assert_eq!(r.header("x-origin-header"), Some("from-origin"), "{r}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");

    let q = c.origin.one(marker);
    assert_eq!(q.method, "POST");
    assert_eq!(q.path, path);
    assert_eq!(serde_json::from_slice::<Value>(&q.body).unwrap(), body);
    assert_eq!(q.body, serde_json::to_vec(&body).unwrap(), "body bytes");
    assert_eq!(q.header("content-type"), Some("application/json"));
    assert_eq!(q.header("x-custom"), Some("custom value, with comma"));
    assert_eq!(q.header("idempotency-key"), Some("idem-123"));
    assert_eq!(q.header("accept"), Some("application/json"));
    assert_eq!(q.header("accept-language"), Some("de-CH"));
    assert_eq!(q.header("user-agent"), Some("keygate-e2e/1"));
    assert_eq!(q.header("x-keygate-key"), Some(kid.as_str()));
    assert_eq!(q.header("x-keygate-product"), Some("payments"));

    // A nested GET path with a query.
    let path = format!("/v1/accounts/acc_123/transactions?limit=2&trace={marker}-nested");
    let r = c.gw.get(&path).bearer(&live).product_key(&t.pk_live).send();
    assert_from_origin(&r);
    let q = c.origin.one(&format!("{marker}-nested"));
    assert_eq!(q.method, "GET");
    assert_eq!(q.path, path);
    assert!(q.body.is_empty());
    assert_eq!(q.header("x-keygate-product"), Some("bank_data"));
}

pub(crate) fn live_request_large_body_reaches_origin_intact(c: &Ctx) {
    let marker = "large_body";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    // 3 MiB of every byte value: far over any JSON limit the gateway has for itself.
    let body: Vec<u8> = (0..3 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let r =
        c.gw.post(&format!("/v1/payment_orders?trace={marker}"))
            .bearer(&live)
            .product_key(&t.pay_live)
            .header("Content-Type", "application/octet-stream")
            .body(body.clone())
            .send();
    assert_from_origin(&r);
    let q = c.origin.one(marker);
    assert_eq!(q.body.len(), body.len());
    assert!(q.body == body, "the body changed on the way");
    assert_eq!(q.header("content-type"), Some("application/octet-stream"));
}

pub(crate) fn live_request_chunked_body_reaches_origin_intact(c: &Ctx) {
    let marker = "chunked_body";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let chunks = ["{\"amount\":", "12", "50,\"note\":\"chun", "ked\"}"];
    let mut req = format!(
        "POST /v1/payment_orders?trace={marker} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {live}\r\nX-Product-Key: {}\r\nContent-Type: application/json\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        c.gw.port(),
        t.pay_live
    );
    for chunk in chunks {
        req.push_str(&format!("{:x}\r\n{chunk}\r\n", chunk.len()));
    }
    req.push_str("0\r\n\r\n");
    let r = raw(c.gw.port(), req.as_bytes());
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json(), json!({"origin": "ok"}), "{r}");
    let q = c.origin.one(marker);
    assert_eq!(q.text(), chunks.concat());
}

pub(crate) fn credentials_never_reach_the_origin(c: &Ctx) {
    let marker = "credentials_stripped";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let forms: [(&str, Req); 4] = [
        (
            "basic",
            c.gw.get(&format!("/v1/transactions?trace={marker}-basic"))
                .basic(&live, "pw-secret"),
        ),
        (
            "bearer",
            c.gw.get(&format!("/v1/transactions?trace={marker}-bearer"))
                .bearer(&live),
        ),
        (
            "xapikey",
            c.gw.get(&format!("/v1/transactions?trace={marker}-xapikey"))
                .api_key(&live),
        ),
        (
            "both",
            c.gw.get(&format!("/v1/transactions?trace={marker}-both"))
                .bearer(&live)
                .header("x-api-key", &live)
                .header("Proxy-Authorization", &format!("Bearer {live}")),
        ),
    ];
    for (name, req) in forms {
        let r = req.product_key(&t.pk_live).send();
        assert_from_origin(&r);
        let q = c.origin.one(&format!("{marker}-{name}"));
        for h in [
            "authorization",
            "x-api-key",
            "x-product-key",
            "proxy-authorization",
        ] {
            assert!(!q.has_header(h), "{h} reached the origin: {q:#?}");
        }
        for (k, v) in &q.headers {
            assert!(
                !v.contains(&live) && !v.contains(&t.pk_live) && !v.contains("pw-secret"),
                "credential material in {k}: {q:#?}"
            );
            assert!(!v.contains(&live[8..]), "key body in {k}: {q:#?}");
        }
        assert!(!q.path.contains(&live) && !q.text().contains(&live));
    }
}

pub(crate) fn hop_by_hop_headers_are_not_forwarded(c: &Ctx) {
    let marker = "hop_by_hop";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let req = format!(
        "GET /v1/transactions?trace={marker} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {live}\r\nX-Product-Key: {}\r\n\
         Connection: close, X-Hop-Named\r\nX-Hop-Named: must-not-pass\r\n\
         Keep-Alive: timeout=99\r\nTE: trailers\r\nTrailer: X-Later\r\n\
         Proxy-Connection: keep-alive\r\nProxy-Authorization: Basic c2VjcmV0\r\n\
         X-End-To-End: passes\r\n\r\n",
        c.gw.port(),
        t.pk_live
    );
    let r = raw(c.gw.port(), req.as_bytes());
    assert_eq!(r.status, 200, "{r}");
    let q = c.origin.one(marker);
    // The client's `Connection` value never reaches the worker (the runtime replaces it; on
    // Cloudflare it always reads `Keep-Alive`), so a header the client names there cannot be
    // recognised by the worker and is not asserted on. The header itself must not pass.
    assert!(
        q.header("connection")
            .is_none_or(|v| !v.to_ascii_lowercase().contains("x-hop-named")),
        "{q:#?}"
    );
    for h in [
        "keep-alive",
        "te",
        "trailer",
        "proxy-connection",
        "proxy-authorization",
    ] {
        assert!(!q.has_header(h), "hop-by-hop {h} forwarded: {q:#?}");
    }
    assert!(
        q.headers
            .iter()
            .all(|(_, v)| !v.contains("timeout=99") && !v.contains("c2VjcmV0")),
        "{q:#?}"
    );
    assert_eq!(q.header("x-end-to-end"), Some("passes"));
}

pub(crate) fn origin_receives_exactly_the_signed_identity(c: &Ctx) {
    let marker = "signed_identity";
    let t = tenant(&c.gw, marker, json!({}));
    let (kid, live) = key(&c.gw, &t, "live", json!({}));
    let spoofs: &[(&str, &str)] = &[
        ("X-Keygate-Account", "acct_spoofed"),
        ("X-Keygate-Key", "key_spoofed"),
        ("X-Keygate-Environment", "test"),
        ("X-Keygate-Product", "insurance"),
        ("X-Keygate-Timestamp", "1"),
        ("X-Keygate-Signature", &"0".repeat(64)),
        ("X-Keygate-Scope", "*"),
        ("X-Request-Id", "req_spoofed"),
        // Headers that claim to describe the caller are the gateway's to set, not the client's
        // (docs/origin-signing.md).
        ("X-Forwarded-For", "203.0.113.66"),
        ("X-Forwarded-Host", "spoofed.example"),
        ("X-Real-IP", "203.0.113.66"),
        ("Forwarded", "for=203.0.113.66;host=spoofed.example"),
        ("CF-Connecting-IP", "203.0.113.66"),
        ("CF-Ray", "spoofed-ray"),
    ];
    for (method, path, pk) in [
        (
            "GET",
            format!("/v1/transactions?trace={marker}-get&limit=5"),
            &t.pk_live,
        ),
        (
            "POST",
            format!("/v1/payment_orders?trace={marker}-post"),
            &t.pay_live,
        ),
        (
            "GET",
            format!("/v1/owners/own_1/accounts?trace={marker}-nested"),
            &t.pk_live,
        ),
    ] {
        let mut req = c.gw.request(method, &path).bearer(&live).product_key(pk);
        for (k, v) in spoofs {
            req = req.header(k, v);
        }
        if method == "POST" {
            req = req.json(&json!({"amount": 5}));
        }
        let r = req.send();
        assert_from_origin(&r);
        let q = c.origin.one(
            path.split("trace=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap(),
        );
        let product = if path.starts_with("/v1/payment_orders") {
            "payments"
        } else {
            "bank_data"
        };
        let one = |name: &str| {
            let values: Vec<&str> = q
                .headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(values.len(), 1, "exactly one {name}: {q:#?}");
            values[0].to_string()
        };
        assert_eq!(one("x-keygate-account"), t.id);
        assert_eq!(one("x-keygate-key"), kid);
        assert_eq!(one("x-keygate-environment"), "live");
        assert_eq!(one("x-keygate-product"), product);
        assert_eq!(one("x-request-id"), r.request_id().unwrap());
        let ts: i64 = one("x-keygate-timestamp")
            .parse()
            .expect("numeric timestamp");
        assert!((ts - unix_now()).abs() < 300, "timestamp {ts} is not now");
        let signature = one("x-keygate-signature");
        assert_eq!(signature.len(), 64, "hex HMAC-SHA256: {signature}");
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(q.path, path);
        assert_eq!(q.method, method);
        assert_eq!(
            signature,
            expected_signature(&q, ORIGIN_SIGNING_SECRET),
            "signature does not match the documented canonical string: {q:#?}"
        );
        // Only the documented identity headers are added.
        let keygate: Vec<String> = q
            .headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .filter(|k| k.starts_with("x-keygate-"))
            .collect();
        let mut keygate_sorted = keygate.clone();
        keygate_sorted.sort();
        assert_eq!(
            keygate_sorted,
            [
                "x-keygate-account",
                "x-keygate-environment",
                "x-keygate-key",
                "x-keygate-product",
                "x-keygate-signature",
                "x-keygate-timestamp"
            ],
            "{q:#?}"
        );
        // The signature binds every field: changing any one breaks it.
        let h = |n: &str| q.header(n).unwrap().to_string();
        let fields = [
            h("x-keygate-timestamp"),
            h("x-request-id"),
            h("x-keygate-account"),
            h("x-keygate-key"),
            h("x-keygate-environment"),
            h("x-keygate-product"),
            q.method.clone(),
            q.path.clone(),
        ];
        for i in 0..fields.len() {
            let mut f = fields.clone();
            f[i].push('x');
            let forged = sign(
                ORIGIN_SIGNING_SECRET,
                &f[0],
                &f[1],
                &f[2],
                &f[3],
                &f[4],
                &f[5],
                &f[6],
                &f[7],
            );
            assert_ne!(forged, signature, "field {i} is not covered");
        }
        assert_ne!(expected_signature(&q, "another-secret"), signature);
        for (k, v) in &q.headers {
            for spoofed in ["203.0.113.66", "spoofed"] {
                assert!(
                    !v.contains(spoofed),
                    "client-sent {k}: {v} reached the origin"
                );
            }
        }
    }
}
