//! The origin snippet: scripts/demo-origin.mjs.

use super::*;

pub(crate) fn demo_origin_verifies_gateway_requests_and_refuses_forged_ones(c: &Ctx) {
    let gw = &c.secure;
    let marker = "demo_origin";
    let t = tenant(gw, marker, json!({}));
    let (kid, live) = key(gw, &t, "live", json!({}));
    // Through the gateway: verified.
    let r = gw
        .get(&format!("/v1/transactions?trace={marker}&limit=3"))
        .bearer(&live)
        .product_key(&t.pk_live)
        .send();
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["verified"], json!(true), "{r}");
    assert_eq!(r.json["identity"]["account"], json!(t.id), "{r}");
    assert_eq!(r.json["identity"]["key"], json!(kid), "{r}");
    assert_eq!(r.json["identity"]["environment"], json!("live"), "{r}");
    assert_eq!(r.json["identity"]["product"], json!("bank_data"), "{r}");
    assert_eq!(
        r.json["identity"]["requestId"].as_str(),
        r.request_id(),
        "{r}"
    );
    assert_eq!(r.json["received_credentials"], json!([]), "{r}");
    assert_eq!(
        r.json["path"],
        json!(format!("/v1/transactions?trace={marker}&limit=3"))
    );
    let body = vec![b'z'; 200_000];
    let r = gw
        .post(&format!("/v1/payment_orders?trace={marker}"))
        .api_key(&live)
        .product_key(&t.pay_live)
        .header("Content-Type", "application/octet-stream")
        .body(body.clone())
        .send();
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["verified"], json!(true), "{r}");
    assert_eq!(r.json["identity"]["product"], json!("payments"), "{r}");
    assert_eq!(r.json["body_bytes"], json!(body.len()), "{r}");

    // Straight to the origin: forged.
    let ts = unix_now().to_string();
    let path = format!("/v1/transactions?trace={marker}-forged");
    let headers = |sig: &str| {
        let mut req = http("GET", &format!("{}{path}", c.demo.url()));
        for (k, v) in [
            ("X-Keygate-Account", t.id.as_str()),
            ("X-Keygate-Key", kid.as_str()),
            ("X-Keygate-Environment", "live"),
            ("X-Keygate-Product", "bank_data"),
            ("X-Request-Id", "req_forged"),
            ("X-Keygate-Timestamp", ts.as_str()),
            ("X-Keygate-Signature", sig),
        ] {
            req = req.header(k, v);
        }
        req
    };
    let right = |secret: &str, p: &str| {
        sign(
            secret,
            &ts,
            "req_forged",
            &t.id,
            &kid,
            "live",
            "bank_data",
            "GET",
            p,
        )
    };
    let forged = [
        http("GET", &format!("{}{path}", c.demo.url())).send(),
        http("GET", &format!("{}{path}", c.demo.url()))
            .bearer(&live)
            .send(),
        headers(&"0".repeat(64)).send(),
        headers(&right("not-the-secret", &path)).send(),
        headers(&right(ORIGIN_SIGNING_SECRET, "/v1/transactions")).send(),
        headers(&right(ORIGIN_SIGNING_SECRET, &path))
            .header("X-Keygate-Account", "x")
            .send(),
    ];
    for r in &forged {
        assert_eq!(r.status, 401, "forged request accepted: {r}");
        assert_eq!(r.json["verified"], json!(false), "{r}");
    }
    // Signed with the real secret by this test (independent of the gateway): verified, which
    // shows the test's canonical string and the snippet's are the same.
    let r = headers(&right(ORIGIN_SIGNING_SECRET, &path)).send();
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json["verified"], json!(true), "{r}");
}

pub(crate) fn demo_origin_exports_verify_keygate_request(c: &Ctx) {
    let _ = c;
    let now = unix_now();
    let ts = now.to_string();
    let stale = (now - 3600).to_string();
    let secret = "snippet-secret";
    let sig = |ts: &str, method: &str, path: &str| {
        sign(
            secret,
            ts,
            "req_1",
            "acct_1",
            "key_1",
            "live",
            "bank_data",
            method,
            path,
        )
    };
    let headers = |ts: &str, s: String| {
        json!({
            "x-keygate-account": "acct_1",
            "x-keygate-key": "key_1",
            "x-keygate-environment": "live",
            "x-keygate-product": "bank_data",
            "x-request-id": "req_1",
            "x-keygate-timestamp": ts,
            "x-keygate-signature": s,
        })
    };
    let p = "/v1/accounts?limit=5";
    let cases = json!([
        {"secret": secret, "headers": headers(&ts, sig(&ts, "GET", p)), "method": "GET", "pathAndQuery": p},
        {"secret": secret, "headers": headers(&ts, sig(&ts, "GET", p)), "method": "get", "pathAndQuery": p},
        {"secret": secret, "headers": headers(&ts, sig(&ts, "GET", p)), "method": "POST", "pathAndQuery": p},
        {"secret": secret, "headers": headers(&ts, sig(&ts, "GET", p)), "method": "GET", "pathAndQuery": "/v1/accounts?limit=6"},
        {"secret": "other", "headers": headers(&ts, sig(&ts, "GET", p)), "method": "GET", "pathAndQuery": p},
        {"secret": secret, "headers": headers(&stale, sig(&stale, "GET", p)), "method": "GET", "pathAndQuery": p},
        {"secret": secret, "headers": {}, "method": "GET", "pathAndQuery": p},
    ]);
    let script = r#"
        import { pathToFileURL } from "node:url";
        const m = await import(pathToFileURL(process.env.DEMO_ORIGIN).href);
        if (typeof m.verifyKeygateRequest !== "function") throw new Error("no verifyKeygateRequest export");
        const out = JSON.parse(process.env.CASES).map((c) => m.verifyKeygateRequest(c));
        console.log(JSON.stringify(out));
    "#;
    let out = node::with_demo_origin(script, &cases);
    // Importing the module must not start a server (the process would not exit).
    assert!(
        out.status.success(),
        "node failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON from node");
    let identity = json!({
        "account": "acct_1", "key": "key_1", "environment": "live",
        "product": "bank_data", "requestId": "req_1"
    });
    assert_eq!(
        results,
        json!([identity, identity, null, null, null, null, null]),
        "verifyKeygateRequest results"
    );
}

pub(crate) fn signature_covers_the_target_the_origin_receives_for_odd_characters(c: &Ctx) {
    let marker = "odd_targets";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let targets: Vec<Vec<u8>> = vec![
        b"/v1/transactions?a='&b=\"&c=<>&d=`&e={}&f=|&g=^&h=%7e&i=~&j=[]&k=\\".to_vec(),
        b"/v1/transactions?q=\xc3\xbc\xe2\x82\xac&r=%zz&s=%&t=+&u=a+b".to_vec(),
        b"/v1/transactions?".to_vec(),
        b"/v1/transactions?&&=&a==b".to_vec(),
        b"/v1/accounts/a'b~c!$&()*+,;=:@x/transactions?z=1".to_vec(),
        b"/v1/transactions/%41%62%7E%21".to_vec(),
        b"/v1/transactions/tx_1/".to_vec(),
        b"/v1/accounts/%C3%BC/transactions".to_vec(),
    ];
    for (i, target) in targets.iter().enumerate() {
        let req = [
            b"GET ".as_slice(),
            target,
            format!(
                " HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {live}\r\n\
                 X-Product-Key: {}\r\nX-Trace: {marker}-{i}\r\nConnection: close\r\n\r\n",
                c.gw.port(),
                t.pk_live
            )
            .as_bytes(),
        ]
        .concat();
        let shown = String::from_utf8_lossy(target);
        let r = raw(c.gw.port(), &req);
        if r.status != 200 {
            // Refused (a path the gateway does not accept): then it must not reach the origin.
            assert!((400..500).contains(&r.status), "{shown}: {r}");
            c.origin.assert_got_nothing("", &format!("{marker}-{i}"));
            continue;
        }
        let got = c
            .origin
            .requests_where(|q| q.header("x-trace") == Some(format!("{marker}-{i}").as_str()));
        assert_eq!(got.len(), 1, "{shown}: {got:#?}");
        let q = &got[0];
        assert_eq!(
            q.header("x-keygate-signature").unwrap_or(""),
            expected_signature(q, ORIGIN_SIGNING_SECRET),
            "{shown}: the origin received {:?}, which is not what was signed",
            q.path
        );
    }
}
