//! Headers and the origin.

use super::*;

pub(crate) fn every_sandbox_answer_has_x_sandbox_and_a_fresh_request_id(c: &Ctx) {
    let t = c.tenant("headers");
    let product = c.data.available_products()[0];
    let big = json!({"creditor_name": "x".repeat(70 * 1024)});
    let reqs: Vec<(u16, Req)> = vec![
        (200, c.req(&t, "GET", "/v1/owners")),
        (200, c.req(&t, "GET", "/v1/sandbox/scenarios")),
        (
            201,
            c.req(&t, "POST", "/v1/quotes")
                .json(&c.data.quote_body(product)),
        ),
        (404, c.req(&t, "GET", "/v1/owners/own_doesnotexist")),
        (400, c.req(&t, "GET", "/v1/owners?limit=0")),
        (
            400,
            c.req(&t, "POST", "/v1/payment_orders").json(&json!({})),
        ),
        (413, c.req(&t, "POST", "/v1/payment_orders").json(&big)),
        (
            409,
            c.req(&t, "POST", "/v1/policies")
                .json(&json!({"quote_id": c.data.records("quotes")[0]["id"]})),
        ),
        (
            422,
            c.req(&t, "POST", "/v1/payment_orders")
                .json(&c.data.order_body(66_666)),
        ),
        (
            429,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "rate_limited"),
        ),
        (
            500,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "server_error"),
        ),
        (
            503,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "unavailable"),
        ),
        (
            400,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "nope"),
        ),
        (200, c.req(&t, "POST", "/v1/sandbox/reset")),
    ];
    let mut seen = HashSet::new();
    let mut clocks = Vec::new();
    for (status, req) in reqs {
        // An incoming X-Request-Id is not ours: it must not be echoed.
        let r = sandboxed(req.header("X-Request-Id", "client-chosen-id").send());
        assert_eq!(r.status, status, "{r}");
        // Every answer the account's sandbox computes shows its clock; the scenario list is the
        // same for every account, and a body over 64 KiB is refused before the sandbox reads it.
        let clock = r.header("x-sandbox-clock");
        if r.status == 413 || r.json["object"] == "sandbox_scenarios" {
            assert_eq!(clock, None, "{r}");
        } else {
            let clock = clock.unwrap_or_else(|| panic!("no X-Sandbox-Clock: {r}"));
            assert!(clock.len() == 20 && clock.ends_with('Z'), "{r}");
            clocks.push(clock.to_string());
        }
        let id = r.request_id().unwrap().to_string();
        assert_ne!(id, "client-chosen-id", "{r}");
        assert_eq!(r.header_all("x-request-id").len(), 1, "{r}");
        assert!(seen.insert(id.clone()), "request id {id} repeated: {r}");
    }
    let mut sorted = clocks.clone();
    sorted.sort();
    assert_eq!(
        clocks, sorted,
        "the clock reads real time, and never goes back"
    );
    c.assert_origin_untouched();
}

pub(crate) fn test_keys_never_reach_the_origin(c: &Ctx) {
    let t = c.tenant("no-origin");
    // Whatever the path, method or scenario: nothing goes out.
    let paths = [
        "/v1/owners",
        "/v1/accounts/ba_x/transactions",
        "/v1/quotes?status=offered",
        "/v1/nowhere",
        "/v1/sandbox/nothing",
        "/",
        "/v2/owners",
    ];
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let r = c.req(&t, method, path).json(&json!({})).send();
            assert!(r.request_id().is_some(), "{r}");
            assert!(r.status < 500, "{r}");
        }
    }
    c.post(&t, "/v1/payment_orders", &c.data.order_body(1))
        .expect_status(201);
    // Give a stray proxied request time to arrive before concluding there was none.
    let stray = c.origin.wait_for(1, Duration::from_millis(500), |_| true);
    assert!(stray.is_empty(), "{stray:?}");
    c.assert_origin_untouched();
}
