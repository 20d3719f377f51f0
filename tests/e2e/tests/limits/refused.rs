//! Trial 5: refused requests are not counted.

use super::*;

pub(crate) fn refused_requests_are_not_counted(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "refusals", json!({}));
    let other = account(gw, "refusals, other", json!({}));
    let k = key(
        gw,
        &a.id,
        "2 per minute",
        json!({"rate_limit": limit(2, 60), "allowed_ips": ["10.0.0.0/8"],
               "scopes": ["accounts:read"]}),
    );
    let path = format!("/keys/{}", k.id);

    // (what, request, expected status): each refused 5 times.
    let get = |path: &str, pk: &str, ip: &str| {
        gw.get(path).bearer(&k.secret).product_key(pk).client_ip(ip)
    };
    let cases = [
        (
            "another account's product key",
            get("/v1/accounts", &other.pk, INSIDE),
            404,
        ),
        (
            "the live product key with a test key",
            get("/v1/accounts", &a.pk_live, INSIDE),
            404,
        ),
        (
            "an address outside the allowlist",
            get("/v1/accounts", &a.pk, OUTSIDE),
            403,
        ),
        (
            "a scope the key lacks",
            get("/v1/transactions", &a.pk, INSIDE),
            403,
        ),
    ];
    for (what, req, status) in &cases {
        for _ in 0..5 {
            let r = req.clone().send();
            audit(&r);
            assert_eq!(r.status, *status, "{what}: {r}");
        }
    }
    // Refused while disabled (401): not counted either.
    op(gw, "PATCH", &path, Some(&json!({"status": "disabled"}))).expect_status(200);
    for _ in 0..5 {
        let r = edge(gw, &k.secret, &a.pk);
        assert_eq!(r.status, 401, "disabled: {r}");
    }
    op(gw, "PATCH", &path, Some(&json!({"status": "active"}))).expect_status(200);

    // 22 refusals later, both requests the limit allows pass.
    assert_eq!(
        assert_granted(&edge(gw, &k.secret, &a.pk), 2, 60, "good 1").0,
        1
    );
    assert_eq!(
        assert_granted(&edge(gw, &k.secret, &a.pk), 2, 60, "good 2").0,
        0
    );
    assert_limited(&edge(gw, &k.secret, &a.pk), 2, 60, "good 3");
}
