//! Step `ip-allowlist` (docs/edge-pipeline.md).

use super::*;

/// Live and test requests from `ip` (None: no CF-Connecting-IP sent) with extra headers.
pub(crate) fn from_ip(
    c: &Ctx,
    secret: &str,
    pk: &str,
    ip: Option<&str>,
    marker: &str,
    extra: &[(&str, &str)],
) -> Resp {
    let mut req =
        c.gw.get(&trace_path("/v1/transactions", secret, marker))
            .bearer(secret)
            .product_key(pk);
    if let Some(ip) = ip {
        req = req.client_ip(ip);
    }
    for (k, v) in extra {
        req = req.header(k, v);
    }
    req.send()
}

#[track_caller]
pub(crate) fn assert_ip_allowed(r: &Resp) {
    assert_eq!(r.status, 200, "{r}");
}

#[track_caller]
pub(crate) fn assert_ip_denied(r: &Resp) {
    assert_error(r, 403);
}

pub(crate) fn ip_v4_address_allowlist_of_account(c: &Ctx) {
    let marker = "ip_v4_account";
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["198.51.100.7"]}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let ok = format!("{marker}-ok");
    assert_ip_allowed(&from_ip(
        c,
        &live,
        &t.pk_live,
        Some("198.51.100.7"),
        &ok,
        &[],
    ));
    assert_ip_allowed(&from_ip(
        c,
        &test,
        &t.pk_test,
        Some("198.51.100.7"),
        &ok,
        &[],
    ));
    let no = format!("{marker}-denied");
    for ip in [
        "198.51.100.8",
        "198.51.100.70",
        "203.0.113.7",
        "2001:db8::7",
    ] {
        assert_ip_denied(&from_ip(c, &live, &t.pk_live, Some(ip), &no, &[]));
        assert_ip_denied(&from_ip(c, &test, &t.pk_test, Some(ip), &no, &[]));
    }
    // Without CF-Connecting-IP, workerd (locally) reports 127.0.0.1: not on the list.
    assert_ip_denied(&from_ip(c, &live, &t.pk_live, None, &no, &[]));
    c.origin.assert_got_nothing("", &no);
    assert_eq!(c.origin.got("", &ok).len(), 1);
    // A changed list applies to the next request.
    c.gw.admin_patch(
        &format!("/accounts/{}", t.id),
        &json!({"allowed_ips": ["203.0.113.7"]}),
    )
    .expect_status(200);
    let now_ok = format!("{marker}-now-ok");
    let now_no = format!("{marker}-now-denied");
    assert_ip_allowed(&from_ip(
        c,
        &live,
        &t.pk_live,
        Some("203.0.113.7"),
        &now_ok,
        &[],
    ));
    assert_ip_denied(&from_ip(
        c,
        &live,
        &t.pk_live,
        Some("198.51.100.7"),
        &now_no,
        &[],
    ));
    c.gw.admin_patch(&format!("/accounts/{}", t.id), &json!({"allowed_ips": []}))
        .expect_status(200);
    assert_ip_allowed(&from_ip(
        c,
        &live,
        &t.pk_live,
        Some("192.0.2.99"),
        &now_ok,
        &[],
    ));
    c.origin.assert_got_nothing("", &now_no);
}

pub(crate) fn ip_cidr_allowlist_of_key_and_both_lists_must_pass(c: &Ctx) {
    let marker = "ip_cidr_key";
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["10.0.0.0/8"]}));
    let (_, narrow) = key(&c.gw, &t, "live", json!({"allowed_ips": ["10.1.0.0/16"]}));
    let (_, open) = key(&c.gw, &t, "live", json!({}));
    let ok = format!("{marker}-ok");
    let no = format!("{marker}-denied");
    for ip in ["10.1.0.0", "10.1.2.3", "10.1.255.255"] {
        assert_ip_allowed(&from_ip(c, &narrow, &t.pk_live, Some(ip), &ok, &[]));
    }
    // In the account's range but not the key's.
    for ip in ["10.2.0.1", "10.0.255.255"] {
        assert_ip_denied(&from_ip(c, &narrow, &t.pk_live, Some(ip), &no, &[]));
        assert_ip_allowed(&from_ip(c, &open, &t.pk_live, Some(ip), &ok, &[]));
    }
    // Outside the account's range: every key is refused.
    for ip in ["11.1.2.3", "192.0.2.1"] {
        assert_ip_denied(&from_ip(c, &narrow, &t.pk_live, Some(ip), &no, &[]));
        assert_ip_denied(&from_ip(c, &open, &t.pk_live, Some(ip), &no, &[]));
    }
    // A key's own list applies when the account has none.
    let u = tenant(&c.gw, marker, json!({}));
    let (_, keyed) = key(&c.gw, &u, "test", json!({"allowed_ips": ["192.0.2.0/24"]}));
    assert_ip_allowed(&from_ip(
        c,
        &keyed,
        &u.pk_test,
        Some("192.0.2.200"),
        &ok,
        &[],
    ));
    assert_ip_denied(&from_ip(c, &keyed, &u.pk_test, Some("192.0.3.1"), &no, &[]));
    c.origin.assert_got_nothing("", &no);
}

pub(crate) fn ip_v6_allowlist(c: &Ctx) {
    let marker = "ip_v6";
    let t = tenant(
        &c.gw,
        marker,
        json!({"allowed_ips": ["2001:db8::/32", "2001:db9::5"]}),
    );
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let ok = format!("{marker}-ok");
    let no = format!("{marker}-denied");
    for ip in [
        "2001:db8::1",
        "2001:db8:ffff::abcd",
        "2001:0db8:0000::0001",
        "2001:db9::5",
    ] {
        assert_ip_allowed(&from_ip(c, &live, &t.pk_live, Some(ip), &ok, &[]));
    }
    for ip in ["2001:db9::6", "2001:dba::1", "::1", "198.51.100.1"] {
        assert_ip_denied(&from_ip(c, &live, &t.pk_live, Some(ip), &no, &[]));
    }
    c.origin.assert_got_nothing("", &no);
}

pub(crate) fn ip_v4_mapped_v6_matches_v4_rules(c: &Ctx) {
    let marker = "ip_v4_mapped";
    let ok = format!("{marker}-ok");
    let no = format!("{marker}-denied");
    // IPv4 rule, client arrives as IPv4-mapped IPv6.
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["198.51.100.0/24"]}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    for ip in [
        "::ffff:198.51.100.9",
        "::FFFF:198.51.100.200",
        "::ffff:c633:6409",
    ] {
        assert_ip_allowed(&from_ip(c, &live, &t.pk_live, Some(ip), &ok, &[]));
    }
    assert_ip_denied(&from_ip(
        c,
        &live,
        &t.pk_live,
        Some("::ffff:198.51.101.9"),
        &no,
        &[],
    ));
    // IPv4-mapped rule, client arrives as plain IPv4.
    let u = tenant(&c.gw, marker, json!({}));
    let (_, keyed) = key(
        &c.gw,
        &u,
        "live",
        json!({"allowed_ips": ["::ffff:203.0.113.0/120"]}),
    );
    assert_ip_allowed(&from_ip(
        c,
        &keyed,
        &u.pk_live,
        Some("203.0.113.77"),
        &ok,
        &[],
    ));
    assert_ip_allowed(&from_ip(
        c,
        &keyed,
        &u.pk_live,
        Some("::ffff:203.0.113.78"),
        &ok,
        &[],
    ));
    assert_ip_denied(&from_ip(
        c,
        &keyed,
        &u.pk_live,
        Some("203.0.114.1"),
        &no,
        &[],
    ));
    c.origin.assert_got_nothing("", &no);
}

pub(crate) fn ip_forwarded_headers_cannot_spoof_the_client_address(c: &Ctx) {
    let marker = "ip_spoof";
    let no = format!("{marker}-denied");
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["198.51.100.7"]}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let spoofs: &[(&str, &str)] = &[
        ("X-Forwarded-For", "198.51.100.7"),
        ("X-Real-IP", "198.51.100.7"),
        ("True-Client-IP", "198.51.100.7"),
        ("Forwarded", "for=198.51.100.7"),
        ("X-Client-IP", "198.51.100.7"),
    ];
    for (secret, pk) in [(&live, &t.pk_live), (&test, &t.pk_test)] {
        // From a disallowed address, and from none (127.0.0.1 locally).
        for ip in [Some("203.0.113.9"), None] {
            assert_ip_denied(&from_ip(c, secret, pk, ip, &no, spoofs));
            for one in spoofs {
                assert_ip_denied(&from_ip(c, secret, pk, ip, &no, &[*one]));
            }
        }
    }
    // The reverse: allowed CF-Connecting-IP with a disallowed X-Forwarded-For still passes.
    let ok = format!("{marker}-ok");
    let r = from_ip(
        c,
        &live,
        &t.pk_live,
        Some("198.51.100.7"),
        &ok,
        &[("X-Forwarded-For", "203.0.113.9")],
    );
    assert_ip_allowed(&r);
    c.origin.assert_got_nothing("", &no);
}

/// An address that cannot be parsed is no client address: it is refused (400, naming
/// `CF-Connecting-IP`) before anything compares or stores it, whether or not a list is set
/// (issue 20: a refusal record or `ips_seen` must never hold client-chosen text).
pub(crate) fn ip_unparsable_address_is_refused_with_or_without_a_list(c: &Ctx) {
    let marker = "ip_unparsable";
    let no = format!("{marker}-denied");
    let fenced = tenant(&c.gw, marker, json!({"allowed_ips": ["0.0.0.0/0", "::/0"]}));
    let open = tenant(&c.gw, &format!("{marker}-open"), json!({}));
    for t in [&fenced, &open] {
        let (_, live) = key(&c.gw, t, "live", json!({}));
        // Any real address passes…
        assert_ip_allowed(&from_ip(
            c,
            &live,
            &t.pk_live,
            Some("192.0.2.1"),
            &format!("{marker}-ok"),
            &[],
        ));
        // …but an address that cannot be parsed is refused as malformed.
        for ip in [
            "not-an-ip",
            "198.51.100.7, 10.0.0.1",
            "999.1.1.1",
            "198.51.100.7:443",
            "unknown",
        ] {
            let r = from_ip(c, &live, &t.pk_live, Some(ip), &no, &[]);
            assert_error(&r, 400);
            assert_eq!(
                r.json["errors"][0]["field"],
                json!("CF-Connecting-IP"),
                "{r}"
            );
            assert!(!r.text().contains(ip), "the address is echoed: {r}");
        }
    }
    c.origin.assert_got_nothing("", &no);
}
