//! Products: a nested list needs the product of what it lists.

use super::*;

pub(crate) fn nested_lists_need_the_product_of_what_they_list(c: &Ctx) {
    let marker = "nested_product";
    let (id, entitlements) = account_with(&c.gw, marker, &["bank_data"]);
    let bank = &entitlements[0].1;
    let (bank_live, bank_test) = (product_key_of(bank, "live"), product_key_of(bank, "test"));
    let (_, live) = key_of(&c.gw, &id, "live", json!(["*"]));
    let (_, test) = key_of(&c.gw, &id, "test", json!(["*"]));
    let lists = [
        "/v1/accounts/acc_np/payment_orders",
        "/v1/accounts/acc_np/statements",
        "/v1/transactions/tx_np/payment_orders",
    ];
    let refused = format!("{marker}-refused");
    for (secret, pk) in [(&live, &bank_live), (&test, &bank_test)] {
        for path in lists {
            let url = format!("{path}?trace={refused}");
            // The bank_data product key does not open a payments list.
            let r = c.gw.get(&url).bearer(secret).product_key(pk).send();
            let message = assert_error(&r, 404);
            assert_no_secret(&r, &[secret, pk]);
            // The same 404 as any product key that is not valid here.
            let bogus = format!("{}{}", &pk[..8], "0".repeat(pk.len() - 8));
            let r2 = c.gw.get(&url).bearer(secret).product_key(&bogus).send();
            assert_eq!(
                message,
                assert_error(&r2, 404),
                "a product-key 404 must not differ by key: {r}\n{r2}"
            );
            // No product key at all: 400 naming the header.
            let r = c.gw.get(&url).bearer(secret).send();
            assert_product_key_missing(&r);
        }
    }
    c.origin.assert_got_nothing(&id, &refused);

    // What the account is entitled to works.
    let r =
        c.gw.get(&format!(
            "/v1/accounts/acc_np/transactions?trace={marker}-bank"
        ))
        .bearer(&live)
        .product_key(&bank_live)
        .send();
    assert_from_origin(&r);
    let q = c.origin.one(&format!("{marker}-bank"));
    assert_eq!(q.header("x-keygate-product"), Some("bank_data"), "{q:#?}");

    // Entitled to payments too: the payments product key opens the payments lists.
    let pay_live = product_key_of(&c.gw.entitle(&id, "payments"), "live");
    for (i, path) in lists.iter().enumerate() {
        let trace = format!("{marker}-pay{i}");
        let r =
            c.gw.get(&format!("{path}?trace={trace}"))
                .bearer(&live)
                .product_key(&pay_live)
                .send();
        assert_from_origin(&r);
        let q = c.origin.one(&format!("trace={trace}"));
        assert_eq!(path_of(&q), *path);
        assert_eq!(q.header("x-keygate-product"), Some("payments"), "{q:#?}");
        assert_eq!(q.header("x-keygate-account"), Some(id.as_str()), "{q:#?}");
        // And the bank_data product key still does not.
        let r =
            c.gw.get(&format!("{path}?trace={refused}"))
                .bearer(&live)
                .product_key(&bank_live)
                .send();
        assert_error(&r, 404);
    }
    c.origin.assert_got_nothing("", &refused);
}
