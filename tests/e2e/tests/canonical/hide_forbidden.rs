//! HIDE_FORBIDDEN.

use super::*;

/// Status, body and headers, without the per-request `X-Request-Id` and `Date`.
pub(crate) fn comparable(r: &Resp) -> (u16, Vec<u8>, BTreeSet<(String, String)>) {
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-request-id") && !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    (r.status, r.body.clone(), headers)
}

pub(crate) fn hidden_forbidden_routes_are_indistinguishable_from_unknown_ones(c: &Ctx) {
    let gw = &c.hidden;
    let marker = "hidden_same";
    let t = tenant(gw, marker, json!({}));
    let other = tenant(gw, &format!("{marker}-other"), json!({}));
    let (_, live) = key(gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let unknown = gw.get("/v1/nothing_here").bearer(&live).send();
    assert_error(&unknown, 404);
    let reference = comparable(&unknown);

    let body = Some(json!({"amount": 100, "currency": "EUR"}));
    let nested = "/v1/accounts/acc_hidden/transactions";
    let (bank, pay) = (t.pk_live.as_str(), t.pay_live.as_str());
    let cases: Vec<(&str, &str, Option<&str>, Option<Value>)> = vec![
        ("GET", "/v1/transactions", Some(bank), None),
        ("GET", "/v1/transactions", None, None),
        (
            "GET",
            "/v1/transactions",
            Some(other.pk_live.as_str()),
            None,
        ),
        ("GET", "/v1/transactions", Some("pk_live_malformed"), None),
        ("GET", "/v1/transactions/tx_1", Some(bank), None),
        ("POST", "/v1/payment_orders", Some(pay), body.clone()),
        ("POST", "/v1/payment_orders", Some(pay), None),
        ("POST", "/v1/payment_orders", None, body.clone()),
        (
            "POST",
            "/v1/payment_orders",
            Some(&other.pay_live),
            body.clone(),
        ),
        ("GET", "/v1/payment_orders", Some(pay), None),
        ("DELETE", "/v1/transactions", Some(bank), None),
        ("DELETE", "/v1/transactions", None, None),
        ("PUT", "/v1/transactions/tx_1", Some(bank), body.clone()),
        ("GET", nested, Some(bank), None),
        ("GET", nested, None, None),
        ("GET", nested, Some(other.pk_live.as_str()), None),
        ("GET", nested, Some(pay), None),
        (
            "GET",
            "/v1/accounts/acc_hidden/payment_orders",
            Some(pay),
            None,
        ),
        ("GET", "/v1/accounts/acc_hidden/payment_orders", None, None),
        ("GET", "/v1/sandbox/reset", None, None),
        ("POST", "/v1/sandbox/reset", None, None),
        ("GET", "/v1/sandbox/scenarios", None, None),
        // The unknown route itself, however asked.
        ("GET", "/v1/nothing_here", Some(bank), None),
        ("POST", "/v1/nothing_here", None, body.clone()),
        ("DELETE", "/v1/nothing_here", None, None),
    ];
    let mut failures = Vec::new();
    for (method, path, pk, body) in cases {
        let mut req = gw
            .request(method, &format!("{path}?trace={marker}"))
            .bearer(&live);
        if let Some(pk) = pk {
            req = req.product_key(pk);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let r = req.send();
        if comparable(&r) != reference {
            failures.push(format!(
                "{method} {path} (product key {pk:?}, body {}):\n{r}",
                body.is_some()
            ));
        }
        if r.request_id()
            .is_none_or(|id| Some(id) == unknown.request_id())
        {
            failures.push(format!("{method} {path}: no fresh X-Request-Id: {r}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers differ from the unknown route's:\n{unknown}\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn hidden_forbidden_keeps_405_for_a_path_the_key_can_use(c: &Ctx) {
    let gw = &c.hidden;
    let marker = "hidden_405";
    let t = tenant(gw, marker, json!({}));
    let (_, live) = key(gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    for path in ["/v1/accounts", "/v1/accounts/acc_h405"] {
        let r = gw
            .delete(&format!("{path}?trace={marker}"))
            .bearer(&live)
            .product_key(&t.pk_live)
            .send();
        assert_error(&r, 405);
        let allow = r.header("allow").unwrap_or_else(|| panic!("no Allow: {r}"));
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, ["GET", "HEAD"], "{r}");
    }
    c.origin.assert_got_nothing(&t.id, marker);
}
