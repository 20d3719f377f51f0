//! Trial 6: an unlimited key's answers carry no RateLimit-* header.

use super::*;

pub(crate) fn unlimited_keys_carry_no_rate_limit_headers(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "unlimited", json!({}));
    let test = key(gw, &a.id, "unlimited test", json!({}));
    let live = key(gw, &a.id, "unlimited live", json!({"environment": "live"}));
    for i in 0..3 {
        let r = edge(gw, &test.secret, &a.pk);
        assert_eq!(r.status, 200, "test key, request {i}: {r}");
        assert_unlimited(&r, "test key");
        let r = edge(gw, &live.secret, &a.pk_live);
        assert_eq!(
            r.json,
            json!({"origin": "ok"}),
            "live key, request {i}: {r}"
        );
        assert_unlimited(&r, "live key");
    }
    let r = gw
        .get("/v1/accounts")
        .bearer(&test.secret)
        .product_key(&a.pk_live)
        .client_ip(INSIDE)
        .send();
    assert_eq!(r.status, 404, "{r}");
    assert_unlimited(&r, "a refused request of an unlimited key");
}
