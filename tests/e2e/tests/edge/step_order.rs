//! The order of the steps: the first failure answers.

use super::*;

pub(crate) fn steps_answer_in_spec_order(c: &Ctx) {
    let marker = "steps_in_order";
    let t = tenant(&c.gw, marker, json!({"allowed_ips": ["198.51.100.0/24"]}));
    let (kid, live) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let (_, other) = key(&c.gw, &t, "live", json!({}));
    let good_ip = "198.51.100.1";
    let bad_ip = "203.0.113.1";
    let path = format!("/v1/transactions?trace={marker}");

    // 2 before 3: plain HTTP on a strict gateway answers 403 even without a key.
    assert!(assert_error(&c.strict.get(&path).send(), 403).contains("HTTPS"));
    // 3 before 4: two keys, one of them malformed, is the ambiguity.
    let r =
        c.gw.get(&path)
            .bearer(&live)
            .api_key(&tamper(&other, 20))
            .send();
    assert_error(&r, 400);
    // 4 before 5…9: a tampered key from a bad address without product key is 401.
    let r =
        c.gw.get(&path)
            .bearer(&tamper(&live, 20))
            .client_ip(bad_ip)
            .send();
    assert_error(&r, 401);
    // 6 before 7: a disabled key from a disallowed address is 401.
    c.gw.admin_patch(&format!("/keys/{kid}"), &json!({"status": "disabled"}))
        .expect_status(200);
    assert_error(&c.gw.get(&path).bearer(&live).client_ip(bad_ip).send(), 401);
    c.gw.admin_patch(&format!("/keys/{kid}"), &json!({"status": "active"}))
        .expect_status(200);
    // 7 before 8: a disallowed address without product key is 403.
    let r = c.gw.get(&path).bearer(&live).client_ip(bad_ip).send();
    assert_error(&r, 403);
    assert!(r.json.get("errors").is_none(), "{r}");
    // 8 before 9: missing product key and missing scope is the product key's 400.
    let r = c.gw.get(&path).bearer(&live).client_ip(good_ip).send();
    assert_error(&r, 400);
    // …and another account's product key with a missing scope is 404.
    let u = tenant(&c.gw, marker, json!({}));
    let r =
        c.gw.get(&path)
            .bearer(&live)
            .client_ip(good_ip)
            .product_key(&u.pk_live)
            .send();
    assert_error(&r, 404);
    // 9: everything else right, the scope missing.
    let r =
        c.gw.get(&path)
            .bearer(&live)
            .client_ip(good_ip)
            .product_key(&t.pk_live)
            .send();
    assert_error(&r, 403);
    assert!(r.text().contains("transactions:read"), "{r}");
    c.origin.assert_got_nothing("", marker);
}
