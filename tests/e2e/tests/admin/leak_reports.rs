//! Leak reports.

use super::*;

pub(crate) fn leak_report_marks_our_keys_and_names_them_by_fragment(c: &Ctx) {
    let s = sandboxed(c, "leak report");
    let (gone, gone_secret) = create_key(
        c,
        &s.account,
        &json!({"name": "gone", "environment": "test"}),
    );
    admin(c, "DELETE", &format!("/keys/{}", id_of(&gone)), None).expect_status(204);
    let t0 = now();
    let report = json!([
        {"token": s.secret, "url": "https://github.com/acme/app/blob/main/.env", "source": "content"},
        {"token": gone_secret, "type": "keygate_secret_key"},
        {"token": "hello-world"},
        {"token": s.product_key, "url": "https://gist.github.com/x"},
    ]);
    let r = admin(c, "POST", "/leaks", Some(&report));
    r.expect_status(200);
    assert_eq!(r.json["object"], "leak_report");
    let results = r.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{r}");
    for (i, result) in results.iter().enumerate() {
        assert_eq!(result["index"], json!(i), "{r}");
    }

    let ours = &results[0];
    assert_eq!(ours["ours"], true, "{r}");
    assert_eq!(ours["type"], "secret_key");
    assert_eq!(ours["key_id"], s.key["id"]);
    assert_eq!(ours["account_id"], json!(s.account));
    assert_near(
        &ours["revoke_at"],
        t0 + 3 * DAY,
        "revoke_at of a reported key",
    );
    assert_eq!(
        ours["token"],
        json!(format!("{}…{}", &s.secret[..12], &s.secret[KEY_LEN - 4..])),
        "the token by its display fragments"
    );
    // Well-formed but not (any more) ours.
    assert_eq!(results[1]["ours"], false, "{r}");
    assert!(results[1]["key_id"].is_null(), "{r}");
    assert_eq!(results[2]["ours"], false, "{r}");
    // A product key is recognised; it identifies, so there is nothing to revoke.
    assert_eq!(results[3]["ours"], true, "{r}");
    assert_eq!(results[3]["type"], "product_key");
    assert_eq!(results[3]["account_id"], json!(s.account));
    for (i, token) in [&s.secret, &gone_secret, &s.product_key].iter().enumerate() {
        assert!(
            !r.text().contains(token.as_str()),
            "token {i} repeated: {r}"
        );
    }

    // The key is marked leaked and keeps working for the grace period.
    let k = admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None).json;
    assert_near(&k["leaked_at"], t0, "leaked_at");
    assert_eq!(k["revoke_at"], ours["revoke_at"]);
    assert_sandbox_ok(c, &s.secret, &s.product_key);

    // The `{"tokens": [...]}` form and an empty report.
    let (k2, s2) = create_key(
        c,
        &s.account,
        &json!({"name": "second", "environment": "test"}),
    );
    let r = admin(
        c,
        "POST",
        "/leaks",
        Some(&json!({"tokens": [{"token": s2}]})),
    );
    r.expect_status(200);
    assert_eq!(r.json["results"][0]["key_id"], k2["id"], "{r}");
    let r = admin(c, "POST", "/leaks", Some(&json!([])));
    r.expect_status(200);
    assert_eq!(r.json["results"], json!([]));
}

/// Each account's records live in its own Registry: one report naming keys of two accounts is
/// sent to both, and each item answered by the account that holds it, in the report's order.
pub(crate) fn one_leak_report_reaches_every_account_it_names(c: &Ctx) {
    let first = sandboxed(c, "leak report first");
    let second = sandboxed(c, "leak report second");
    let report = json!([
        {"token": second.secret},
        {"token": "not ours"},
        {"token": first.secret},
        {"token": second.product_key},
    ]);
    let r = admin(c, "POST", "/leaks", Some(&report));
    r.expect_status(200);
    let results = r.json["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{r}");
    let owners: Vec<_> = results
        .iter()
        .map(|item| {
            (
                item["index"].clone(),
                item["ours"].clone(),
                item["account_id"].clone(),
            )
        })
        .collect();
    assert_eq!(
        owners,
        vec![
            (json!(0), json!(true), json!(second.account)),
            (json!(1), json!(false), Value::Null),
            (json!(2), json!(true), json!(first.account)),
            (json!(3), json!(true), json!(second.account)),
        ],
        "{r}"
    );
    // Each account marked its own key, and only its own.
    for (s, item) in [(&first, &results[2]), (&second, &results[0])] {
        assert_eq!(item["key_id"], s.key["id"], "{r}");
        let k = admin(c, "GET", &format!("/keys/{}", id_of(&s.key)), None);
        k.expect_status(200);
        assert_eq!(k.json["account_id"], json!(s.account), "{k}");
        assert_eq!(k.json["revoke_at"], item["revoke_at"], "{k}");
    }
}

pub(crate) fn leak_report_validation(c: &Ctx) {
    let post = |body: Value| admin(c, "POST", "/leaks", Some(&body));
    for bad in [
        json!({"token": "x"}),
        json!("sk_test_x"),
        json!({"tokens": "x"}),
    ] {
        let r = post(bad.clone());
        assert_eq!(r.status, 400, "{bad}: {r}");
    }
    assert_invalid(&post(json!([{"url": "https://x"}])), &["[0].token"]);
    assert_invalid(&post(json!([{"token": 7}])), &["[0].token"]);
    assert_invalid(&post(json!([{"token": "a"}, 5])), &["[1]"]);
    assert_invalid(&post(json!([{"token": "a", "url": 5}])), &["[0].url"]);
    let r = admin_raw(c, "POST", "/leaks", "[{\"token\": ");
    assert_eq!(r.status, 400, "{r}");
}
