//! Step `dispatch` (docs/edge-pipeline.md): what the origin answers is relayed; when there is no answer, the gateway's error;
//! test keys never reach it.

use super::*;

pub(crate) fn origin_answers_are_relayed_not_followed(c: &Ctx) {
    let marker = "origin_answers_relayed";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let cases = [
        (
            "404",
            Reply::json(404, &json!({"error": "no such transaction"})).header("X-From", "origin"),
        ),
        ("422", Reply::json(422, &json!({"error": "invalid"}))),
        ("500", Reply::json(500, &json!({"error": "origin blew up"}))),
        (
            "302",
            Reply::json(302, &json!({})).header("Location", "http://127.0.0.1:9/elsewhere"),
        ),
        (
            "text",
            Reply {
                status: 200,
                headers: vec![("Content-Type".into(), "text/plain; charset=utf-8".into())],
                body: b"plain text answer".to_vec(),
                delay: Duration::ZERO,
            },
        ),
    ];
    let bare = |status: u16, headers: &[(&str, &str)]| Reply {
        status,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        body: Vec::new(),
        delay: Duration::ZERO,
    };
    let cases = cases.into_iter().chain([
        ("204", bare(204, &[("X-Deleted", "yes")])),
        ("304", bare(304, &[("ETag", "\"v1\"")])),
        (
            "cookies",
            bare(
                200,
                &[
                    ("Set-Cookie", "a=1; Path=/"),
                    ("Set-Cookie", "b=2; Path=/"),
                    ("Content-Type", "application/json"),
                ],
            )
            .body("{}"),
        ),
    ]);
    for (name, reply) in cases {
        let path = format!("/v1/transactions/{marker}-{name}");
        c.origin.respond(&path, reply.clone());
        let r = c.gw.get(&path).bearer(&live).product_key(&t.pk_live).send();
        assert_eq!(r.status, reply.status, "{r}");
        assert_eq!(r.body, reply.body, "{r}");
        for (k, _) in &reply.headers {
            let sent: Vec<&str> = reply
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case(k))
                .map(|(_, v)| v.as_str())
                .collect();
            assert_eq!(r.header_all(k), sent, "{r}");
        }
        assert!(r.request_id().is_some(), "{r}");
        // Once: a redirect is handed to the client, not followed.
        assert_eq!(c.origin.got("", &path).len(), 1);
    }
    // A gzip-encoded answer reaches a client that accepts only identity as the same JSON,
    // never as gzip bytes, nor as plain bytes still labelled gzip.
    let json_body = serde_json::to_vec(&json!({"compressed": "y".repeat(3000)})).unwrap();
    let path = format!("/v1/transactions/{marker}-gzip");
    c.origin.respond(
        &path,
        Reply {
            status: 200,
            headers: vec![
                ("Content-Type".into(), "application/json".into()),
                ("Content-Encoding".into(), "gzip".into()),
            ],
            body: gzip_stored(&json_body),
            delay: Duration::ZERO,
        },
    );
    let r =
        c.gw.get(&path)
            .bearer(&live)
            .product_key(&t.pk_live)
            .header("Accept-Encoding", "identity")
            .send();
    assert_eq!(r.status, 200, "{r}");
    assert!(
        r.header("content-encoding").is_none_or(|e| e == "identity"),
        "{r}"
    );
    assert_eq!(r.body, json_body, "{r}");
}

/// `data` as a gzip member of stored (uncompressed) deflate blocks.
pub(crate) fn gzip_stored(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    let mut chunks = data.chunks(65_535).peekable();
    while let Some(chunk) = chunks.next() {
        let last = u8::from(chunks.peek().is_none());
        let len = chunk.len() as u16;
        out.push(last);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&(!len).to_le_bytes());
        out.extend_from_slice(chunk);
    }
    out.extend_from_slice(&crc32(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    out
}

pub(crate) fn origin_unreachable_is_502(c: &Ctx) {
    let gw = &c.broken;
    let t = tenant(gw, "origin_unreachable", json!({}));
    let (_, live) = key(gw, &t, "live", json!({}));
    let (_, test) = key(gw, &t, "test", json!({}));
    let before = c.closer.accepted.load(Ordering::SeqCst);
    let r = gw
        .get("/v1/transactions")
        .bearer(&live)
        .product_key(&t.pk_live)
        .send();
    let message = assert_error(&r, 502);
    assert_no_secret(&r, &[&live]);
    assert!(!message.contains("127.0.0.1"), "origin address leaked: {r}");
    let r = gw
        .post("/v1/payment_orders")
        .bearer(&live)
        .product_key(&t.pay_live)
        .json(&json!({"amount": 1}))
        .send();
    assert_error(&r, 502);
    assert!(
        c.closer.accepted.load(Ordering::SeqCst) > before,
        "the broken origin was never tried"
    );
    // Hop-by-hop headers of the origin's answer stay on that hop.
    let r = gw
        .get(RAW_HOP_PATH)
        .bearer(&live)
        .product_key(&t.pk_live)
        .send();
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-end-to-end"), Some("passes"), "{r}");
    for h in [
        "x-secret-hop",
        "keep-alive",
        "proxy-authenticate",
        "proxy-connection",
    ] {
        assert!(r.header(h).is_none(), "hop-by-hop {h} relayed: {r}");
    }
    assert!(
        r.header("connection")
            .is_none_or(|v| !v.to_ascii_lowercase().contains("x-secret-hop")),
        "{r}"
    );
    // Test keys never touch the origin, broken or not.
    assert_sandbox(
        &gw.get("/v1/transactions")
            .bearer(&test)
            .product_key(&t.pk_test)
            .send(),
    );
}

pub(crate) fn origin_timeout_is_504(c: &Ctx) {
    let marker = "origin_timeout";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let path = format!("/v1/transactions/{marker}");
    // ORIGIN_TIMEOUT_SECONDS is 2 on this gateway.
    c.origin
        .respond(&path, Reply::ok().delay(Duration::from_secs(6)));
    let r = c.gw.get(&path).bearer(&live).product_key(&t.pk_live).send();
    assert_error(&r, 504);
    assert_no_secret(&r, &[&live]);
    assert_eq!(
        c.origin.got("", &path).len(),
        1,
        "the origin was asked once"
    );
}

pub(crate) fn origin_url_unset_is_503(c: &Ctx) {
    let gw = &c.no_origin;
    let t = tenant(gw, "origin_url_unset", json!({}));
    let (_, live) = key(gw, &t, "live", json!({}));
    let (_, test) = key(gw, &t, "test", json!({}));
    let r = gw
        .get("/v1/transactions")
        .bearer(&live)
        .product_key(&t.pk_live)
        .send();
    assert_error(&r, 503);
    assert_no_secret(&r, &[&live]);
    let r = gw
        .post("/v1/payment_orders")
        .bearer(&live)
        .product_key(&t.pay_live)
        .json(&json!({"amount": 1}))
        .send();
    assert_error(&r, 503);
    // The checks before routing still answer first.
    assert_error(&gw.get("/v1/transactions").bearer(&live).send(), 400);
    assert_error(
        &gw.get("/v1/transactions").bearer(&tamper(&live, 20)).send(),
        401,
    );
    // Test keys do not need an origin.
    assert_sandbox(
        &gw.get("/v1/transactions")
            .bearer(&test)
            .product_key(&t.pk_test)
            .send(),
    );
}

pub(crate) fn test_keys_never_reach_the_origin(c: &Ctx) {
    let marker = "test_keys_never_reach";
    let t = tenant(&c.gw, marker, json!({}));
    let (tid, test) = key(&c.gw, &t, "test", json!({}));
    // An account with a test agreement, whose keys are all test keys.
    let ta =
        c.gw.create_account(&json!({"name": marker, "agreement": "test"}));
    let ta_id = ta["id"].as_str().unwrap().to_string();
    let ta_pk = c.gw.entitle(&ta_id, "bank_data")["product_keys"]["test"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, ta_key) =
        c.gw.create_key(&ta_id, &json!({"name": "t", "environment": "test"}));

    let origin_host = format!("127.0.0.1:{}", c.origin.port());
    let paths = [
        "/".to_string(),
        "/v1/transactions".to_string(),
        "/v1/transactions/tx_1".to_string(),
        "/v1/payment_orders".to_string(),
        "/v1/no_such_route".to_string(),
        "/v1/transactions/../transactions".to_string(),
        "/v1/../v1/transactions".to_string(),
        "/v1/%2e%2e/v1/transactions".to_string(),
        "/v1/%2E%2E/%2e/transactions".to_string(),
        "/v1/transactions%2f..%2f..%2fanything".to_string(),
        "//127.0.0.1/v1/transactions".to_string(),
        format!("//{origin_host}/v1/transactions"),
        "/v1//transactions".to_string(),
        "/v1/transactions\\..\\x".to_string(),
        format!("/v1/transactions?url=http://{origin_host}/&next=//{origin_host}"),
        "/v1/transactions/%252e%252e/x".to_string(),
        "/@127.0.0.1/v1/transactions".to_string(),
        "/v1/sandbox/scenarios".to_string(),
        "/v1/sandbox/reset".to_string(),
        "/admin/../v1/transactions".to_string(),
    ];
    let methods = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "PURGE",
    ];
    let mut n = 0;
    for (secret, pk) in [(&test, &t.pk_test), (&ta_key, &ta_pk)] {
        for path in &paths {
            for method in methods {
                n += 1;
                // The marker travels in a header and the body: the sandbox refuses unknown
                // query parameters, and the requests should reach it as written.
                let target = path;
                let body = if method == "GET" || method == "HEAD" {
                    String::new()
                } else {
                    format!("{{\"amount\":1,\"trace\":\"{marker}\"}}")
                };
                let req = format!(
                    "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-API-Key: {secret}\r\n\
                     X-Product-Key: {pk}\r\nX-Trace: {marker}-{n}\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    c.gw.port(),
                    body.len()
                );
                let r = raw(c.gw.port(), req.as_bytes());
                assert!(
                    r.status < 500 || r.header("x-sandbox") == Some("true"),
                    "{method} {target}: {r}"
                );
                assert!(
                    !String::from_utf8_lossy(&r.body).contains("\"origin\":\"ok\""),
                    "{method} {target} answered by the origin: {r}"
                );
            }
        }
        // Absolute-form request targets naming the origin, and a Host header naming it.
        for target in [
            format!("http://{origin_host}/v1/transactions?trace={marker}-abs"),
            format!(
                "http://127.0.0.1:{}/v1/transactions?trace={marker}-abs2",
                c.gw.port()
            ),
        ] {
            let req = format!(
                "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nX-API-Key: {secret}\r\n\
                 X-Product-Key: {pk}\r\nX-Trace: {marker}\r\nConnection: close\r\n\r\n",
                c.gw.port()
            );
            let r = raw(c.gw.port(), req.as_bytes());
            // workerd itself refuses an absolute-form target before the worker runs (its own
            // 500, without our request id); what matters is that nothing reaches the origin.
            if r.header("x-request-id").is_some() {
                assert!(r.status < 500, "{target}: {r}");
            }
        }
        let req = format!(
            "GET /v1/transactions?trace={marker}-host HTTP/1.1\r\nHost: {origin_host}\r\n\
             X-Forwarded-Host: {origin_host}\r\nX-API-Key: {secret}\r\nX-Product-Key: {pk}\r\n\
             X-Trace: {marker}\r\nConnection: close\r\n\r\n"
        );
        let r = raw(c.gw.port(), req.as_bytes());
        assert!(r.status < 500, "{r}");
        // Scenarios that answer with errors do so in the sandbox too.
        for scenario in ["server_error", "unavailable", "rate_limited"] {
            let r =
                c.gw.get("/v1/transactions")
                    .header("X-Trace", marker)
                    .api_key(secret)
                    .product_key(pk)
                    .header("X-Sandbox-Scenario", scenario)
                    .send();
            assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
        }
    }
    let leaked = c.origin.requests_where(|q| {
        q.header("x-keygate-key") == Some(tid.as_str())
            || q.header("x-keygate-account") == Some(t.id.as_str())
            || q.header("x-keygate-account") == Some(ta_id.as_str())
            || q.header("x-keygate-environment") == Some("test")
            || q.path.contains(marker)
            || q.headers.iter().any(|(_, v)| v.contains(marker))
            || q.text().contains(marker)
    });
    assert!(
        leaked.is_empty(),
        "test keys reached the origin: {leaked:#?}"
    );
}
