//! Step `product-key` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn product_key_missing_is_400_naming_the_header(c: &Ctx) {
    let marker = "product_key_missing";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    for secret in [&live, &test] {
        for req in [
            c.gw.get(&format!("/v1/transactions?trace={marker}")),
            c.gw.get(&format!("/v1/accounts/acc_1/transactions?trace={marker}")),
            c.gw.get(&format!("/v1/statements?trace={marker}")),
            c.gw.post(&format!("/v1/payment_orders?trace={marker}"))
                .json(&json!({})),
            c.gw.get(&format!("/v1/transactions?trace={marker}"))
                .product_key(""),
        ] {
            let r = req.bearer(secret).send();
            assert_product_key_missing(&r);
        }
    }
    c.origin.assert_got_nothing(&t.id, marker);
}

/// Sends `pk` with a valid live (and test) key of `t` and returns the 404 message(s).
#[track_caller]
pub(crate) fn assert_product_key_404(c: &Ctx, secret: &str, pk: &str, path: &str) -> String {
    let r = c.gw.get(path).bearer(secret).product_key(pk).send();
    let message = assert_error(&r, 404);
    assert_no_secret(&r, &[secret, pk]);
    message
}

/// The one message of every product-key 404 (from a minted, never-issued product key).
pub(crate) fn unknown_product_key_message(c: &Ctx, t: &Tenant, secret: &str, env: &str) -> String {
    let minted = mint_key(&format!("pk_{env}_"), &t.id);
    assert_product_key_404(c, secret, &minted, "/v1/transactions?trace=unknown_pk")
}

/// [`unknown_product_key_message`] for the live and the test key of `t`.
pub(crate) fn unknown_product_key_messages(
    c: &Ctx,
    t: &Tenant,
    live: &str,
    test: &str,
) -> (String, String) {
    let unknown_live = unknown_product_key_message(c, t, live, "live");
    let unknown_test = unknown_product_key_message(c, t, test, "test");
    (unknown_live, unknown_test)
}

/// `pk` sent with `secret` is a 404 with the message of an unknown product key.
#[track_caller]
pub(crate) fn assert_unknown_to_the_key(
    c: &Ctx,
    secret: &str,
    pk: &str,
    path: &str,
    unknown: &str,
) {
    assert_eq!(assert_product_key_404(c, secret, pk, path), unknown);
}

pub(crate) fn product_key_malformed_or_unknown_is_404(c: &Ctx) {
    let marker = "product_key_malformed";
    let path = format!("/v1/transactions?trace={marker}");
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    for (secret, real, env) in [(&live, &t.pk_live, "live"), (&test, &t.pk_test, "test")] {
        let unknown = unknown_product_key_message(c, &t, secret, env);
        for pk in [
            tamper(real, 20),
            real[..real.len() - 1].to_string(),
            format!("{real}x"),
            "pk_live_nonsense".to_string(),
            "not a product key".to_string(),
            real.replacen("pk_", "sk_", 1),
            secret.to_string(),
            "x".repeat(2000),
        ] {
            assert_eq!(assert_product_key_404(c, secret, &pk, &path), unknown);
        }
    }
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn product_key_of_another_account_is_404(c: &Ctx) {
    let marker = "product_key_other_account";
    let path = format!("/v1/transactions?trace={marker}");
    let t = tenant(&c.gw, marker, json!({}));
    let other = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (unknown_live, unknown_test) = unknown_product_key_messages(c, &t, &live, &test);
    assert_unknown_to_the_key(c, &live, &other.pk_live, &path, &unknown_live);
    assert_unknown_to_the_key(c, &test, &other.pk_test, &path, &unknown_test);
    // The other account's product key on its own product's other route, too.
    let pay = format!("/v1/statements?trace={marker}");
    assert_unknown_to_the_key(c, &live, &other.pay_live, &pay, &unknown_live);
    // Its own product key still works.
    assert_from_origin(&get_tx(&c.gw, &live, &t.pk_live, &format!("{marker}-ok")));
    c.origin.assert_got_nothing(&other.id, "");
    // Only the request with its own product key reached the origin.
    let got = c.origin.got(&t.id, "");
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].path.ends_with(&format!("{marker}-ok")), "{got:#?}");
}

pub(crate) fn product_key_of_the_other_environment_is_404(c: &Ctx) {
    let marker = "product_key_other_env";
    let path = format!("/v1/transactions?trace={marker}");
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (unknown_live, unknown_test) = unknown_product_key_messages(c, &t, &live, &test);
    assert_unknown_to_the_key(c, &live, &t.pk_test, &path, &unknown_live);
    assert_unknown_to_the_key(c, &test, &t.pk_live, &path, &unknown_test);
    c.origin.assert_got_nothing(&t.id, marker);
}

pub(crate) fn product_key_of_another_product_or_not_allowed_for_the_key_is_404(c: &Ctx) {
    let marker = "product_key_other_product";
    let path = format!("/v1/transactions?trace={marker}");
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    let (unknown_live, unknown_test) = unknown_product_key_messages(c, &t, &live, &test);
    // The payments product key on a bank_data route.
    assert_unknown_to_the_key(c, &live, &t.pay_live, &path, &unknown_live);
    assert_unknown_to_the_key(c, &test, &t.pay_test, &path, &unknown_test);
    // A key restricted to payments, with the right bank_data product key.
    let (_, pay_only) = key(&c.gw, &t, "live", json!({"products": ["payments"]}));
    assert_unknown_to_the_key(c, &pay_only, &t.pk_live, &path, &unknown_live);
    // …while it may use payments.
    let r =
        c.gw.get(&format!("/v1/statements?trace={marker}-ok"))
            .bearer(&pay_only)
            .product_key(&t.pay_live)
            .send();
    assert_from_origin(&r);
    // Insurance: not entitled at all.
    let r =
        c.gw.get(&format!("/v1/quotes?trace={marker}"))
            .bearer(&live)
            .product_key(&t.pk_live)
            .send();
    assert_eq!(assert_error(&r, 404), unknown_live);
    c.origin.assert_got_nothing("", &format!("trace={marker}&"));
    assert!(
        c.origin
            .got("", marker)
            .iter()
            .all(|q| q.path.contains(&format!("{marker}-ok"))),
        "{:#?}",
        c.origin.got("", marker)
    );
}

pub(crate) fn product_key_of_a_withdrawn_entitlement_is_404(c: &Ctx) {
    let marker = "product_key_withdrawn";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    assert_from_origin(&get_tx(
        &c.gw,
        &live,
        &t.pk_live,
        &format!("{marker}-before"),
    ));
    let (unknown_live, unknown_test) = unknown_product_key_messages(c, &t, &live, &test);
    c.gw.admin_delete(&format!("/accounts/{}/products/bank_data", t.id))
        .expect_status(204);
    let path = format!("/v1/transactions?trace={marker}-refused");
    assert_unknown_to_the_key(c, &live, &t.pk_live, &path, &unknown_live);
    assert_unknown_to_the_key(c, &test, &t.pk_test, &path, &unknown_test);
    c.origin
        .assert_got_nothing("", &format!("{marker}-refused"));
}
