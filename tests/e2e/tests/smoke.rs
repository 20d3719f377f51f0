//! Smoke: the built worker starts in workerd and answers; the harness's own pieces work.
//! Product behaviour lives in the other suites (admin, edge, sandbox, …).

use std::time::Duration;

use keygate_e2e::{Gateway, Reply, Resp, Value, WithOrigin, http, json, run, tests};

/// One gateway forwarding live keys to a recording origin.
type Ctx = WithOrigin;

fn main() {
    run(
        WithOrigin::start,
        tests![
            worker_answers_root,
            worker_answers_unknown_paths_without_a_runtime_error,
            worker_answers_concurrent_requests,
            gateway_captures_wrangler_output,
            https_gateway_answers_over_tls,
            origin_records_method_path_headers_body,
            origin_replies_are_programmable,
            client_does_not_follow_redirects,
            client_sends_credentials_as_asked,
            the_openapi_document_and_the_console_are_served,
        ],
    );
}

/// Any HTTP answer that is not the runtime's own error page (workerd/wrangler answer an
/// uncaught exception with a 500 HTML page).
fn assert_worker_answered(r: &Resp) {
    assert!(r.status < 500, "worker did not answer normally: {r}");
    let ctype = r.header("content-type").unwrap_or("");
    assert!(
        !ctype.contains("text/html"),
        "runtime error page instead of the worker: {r}"
    );
}

fn worker_answers_root(c: &Ctx) {
    let r = c.gw.get("/").send();
    assert_worker_answered(&r);
}

fn worker_answers_unknown_paths_without_a_runtime_error(c: &Ctx) {
    for path in ["/no/such/route", "/v1/%00%ff?x=%zz", "/admin/v1/nope"] {
        let r = c.gw.get(path).send();
        assert_worker_answered(&r);
    }
}

fn worker_answers_concurrent_requests(c: &Ctx) {
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| s.spawn(move || c.gw.get(&format!("/concurrent/{i}")).send()))
            .collect();
        for h in handles {
            assert_worker_answered(&h.join().unwrap());
        }
    });
}

fn gateway_captures_wrangler_output(c: &Ctx) {
    let logs = c.gw.logs();
    assert!(
        logs.contains("Ready on"),
        "wrangler output not captured:\n{logs}"
    );
    assert!(c.gw.startup_time() > Duration::ZERO);
}

fn https_gateway_answers_over_tls(_c: &Ctx) {
    let gw = Gateway::builder().https().start();
    assert!(gw.base_url().starts_with("https://"), "{}", gw.base_url());
    let r = gw.get("/").send();
    assert_worker_answered(&r);
}

fn origin_records_method_path_headers_body(c: &Ctx) {
    let marker = "origin_records_method_path_headers_body";
    let r = http("POST", &format!("{}/v1/echo?t={marker}", c.origin.url()))
        .header("X-Test", "yes")
        .json(&json!({"a": 1}))
        .send();
    r.expect_status(200);
    assert_eq!(r.json, json!({"origin": "ok"}));
    let got = c
        .origin
        .wait_for(1, Duration::from_secs(5), |q| q.path.contains(marker));
    assert_eq!(got.len(), 1, "{:?}", c.origin.requests());
    let q = &got[0];
    assert_eq!(q.method, "POST");
    assert_eq!(q.path, format!("/v1/echo?t={marker}"));
    assert_eq!(q.header("x-test"), Some("yes"));
    assert_eq!(q.header("content-type"), Some("application/json"));
    assert_eq!(q.text(), r#"{"a":1}"#);
}

fn origin_replies_are_programmable(c: &Ctx) {
    let prefix = "/v1/programmable";
    c.origin.respond(
        prefix,
        Reply::json(503, &json!({"down": true}))
            .header("Retry-After", "7")
            .delay(Duration::from_millis(300)),
    );
    let r = http("GET", &format!("{}{prefix}/x", c.origin.url())).send();
    assert_eq!(r.status, 503, "{r}");
    assert_eq!(r.header("retry-after"), Some("7"));
    assert_eq!(r.json, json!({"down": true}));
    assert!(r.elapsed >= Duration::from_millis(300), "{:?}", r.elapsed);
    // Other paths keep the default answer.
    let r = http("GET", &format!("{}/v1/other", c.origin.url())).send();
    assert_eq!(r.status, 200, "{r}");
}

fn client_does_not_follow_redirects(c: &Ctx) {
    let prefix = "/v1/redirecting";
    c.origin.respond(
        prefix,
        Reply::json(302, &json!({})).header("Location", "/elsewhere"),
    );
    let r = http("GET", &format!("{}{prefix}", c.origin.url())).send();
    assert_eq!(r.status, 302, "{r}");
    assert_eq!(r.header("location"), Some("/elsewhere"));
}

fn client_sends_credentials_as_asked(c: &Ctx) {
    let marker = "client_sends_credentials_as_asked";
    http("GET", &format!("{}/v1/creds?t={marker}", c.origin.url()))
        .basic("sk_test_abc", "")
        .api_key("sk_test_def")
        .product_key("pk_test_ghi")
        .client_ip("203.0.113.7")
        .send()
        .expect_status(200);
    let got = c
        .origin
        .wait_for(1, Duration::from_secs(5), |q| q.path.contains(marker));
    let q = &got[0];
    // base64("sk_test_abc:")
    assert_eq!(q.header("authorization"), Some("Basic c2tfdGVzdF9hYmM6"));
    assert_eq!(q.header("x-api-key"), Some("sk_test_def"));
    assert_eq!(q.header("x-product-key"), Some("pk_test_ghi"));
    assert_eq!(q.header("cf-connecting-ip"), Some("203.0.113.7"));
}

/// The static assets (`public/`): `/openapi.json` is the file in the repository, the console
/// comes with its CSP, and a request id like every answer; no other path reaches them.
fn the_openapi_document_and_the_console_are_served(c: &Ctx) {
    let r = c.gw.get("/openapi.json").send();
    r.expect_status(200);
    let file: Value = serde_json::from_slice(
        &std::fs::read(keygate_e2e::repo_root().join("public/openapi.json")).expect("file"),
    )
    .expect("JSON file");
    assert_eq!(
        r.json, file,
        "served document differs from public/openapi.json"
    );
    assert!(
        r.header("x-request-id")
            .is_some_and(|id| id.starts_with("req_")),
        "{r}"
    );
    let page = c.gw.get("/console/").send();
    page.expect_status(200);
    assert!(
        page.header("content-type")
            .unwrap_or_default()
            .starts_with("text/html")
    );
    let csp = page.header("content-security-policy").expect("CSP");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    // Only those paths: a POST, or a path that merely starts alike, is the gateway's.
    for (method, path) in [
        ("POST", "/openapi.json"),
        ("GET", "/consoles"),
        ("GET", "/console.json"),
    ] {
        let r = c.gw.request(method, path).send();
        assert!(
            r.header("content-security-policy").is_none(),
            "{method} {path}: {r}"
        );
        assert!(r.status >= 400, "{method} {path}: {r}");
    }
}
