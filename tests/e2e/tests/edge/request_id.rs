//! Step `request-id` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn request_id_is_fresh_on_every_kind_of_response(c: &Ctx) {
    let marker = "request_id_is_fresh";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let spoof = "req_client_chosen_id";
    c.origin.respond(
        &format!("/v1/transactions/{marker}-origin-id"),
        Reply::ok().header("X-Request-Id", "req_set_by_origin"),
    );

    let with = |r: Req| r.header("X-Request-Id", spoof).send();
    let answers = [
        // error: no key
        with(c.gw.get("/v1/transactions")),
        // error: unknown route
        with(c.gw.get("/v1/no_such_route").bearer(&test)),
        // sandbox
        with(
            c.gw.get("/v1/transactions")
                .bearer(&test)
                .product_key(&t.pk_test),
        ),
        with(
            c.gw.get("/v1/transactions")
                .bearer(&test)
                .product_key(&t.pk_test),
        ),
        // proxied
        with(
            c.gw.get(&format!("/v1/transactions?trace={marker}-1"))
                .bearer(&live)
                .product_key(&t.pk_live),
        ),
        with(
            c.gw.get(&format!("/v1/transactions/{marker}-origin-id"))
                .bearer(&live)
                .product_key(&t.pk_live),
        ),
        // admin, for completeness
        with(c.gw.get("/admin/v1/accounts")),
    ];
    assert_eq!(answers[0].status, 401, "{}", answers[0]);
    assert_eq!(answers[1].status, 404, "{}", answers[1]);
    assert_sandbox(&answers[2]);
    assert_sandbox(&answers[3]);
    assert_from_origin(&answers[4]);
    assert_from_origin(&answers[5]);
    assert_eq!(answers[6].status, 401, "{}", answers[6]);

    let mut seen = std::collections::HashSet::new();
    for r in &answers {
        let ids = r.header_all("x-request-id");
        assert_eq!(ids.len(), 1, "exactly one X-Request-Id: {r}");
        let id = ids[0];
        assert!(!id.is_empty() && id != spoof, "request id not fresh: {r}");
        assert_ne!(id, "req_set_by_origin", "origin's id passed through: {r}");
        assert!(seen.insert(id.to_string()), "request id reused: {r}");
    }
    // The origin is told the gateway's id, the same the client sees.
    for (r, m) in [
        (&answers[4], format!("{marker}-1")),
        (&answers[5], format!("{marker}-origin-id")),
    ] {
        let q = c.origin.one(&m);
        assert_eq!(q.header("x-request-id"), r.request_id(), "{q:#?}");
        assert_eq!(
            q.headers
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("x-request-id"))
                .count(),
            1,
            "{q:#?}"
        );
    }
}
