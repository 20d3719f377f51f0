//! Step `lookup` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn lookup_unknown_well_formed_key_is_401(c: &Ctx) {
    let marker = "lookup_unknown";
    let t = tenant(&c.gw, marker, json!({}));
    for (k, pk) in [
        (mint_key("sk_live_", marker), &t.pk_live),
        (mint_key("sk_test_", marker), &t.pk_test),
    ] {
        for req in [
            c.gw.get(&format!("/v1/transactions?trace={marker}"))
                .bearer(&k),
            c.gw.get(&format!("/v1/transactions?trace={marker}"))
                .basic(&k, ""),
            c.gw.get(&format!("/v1/transactions?trace={marker}"))
                .api_key(&k),
        ] {
            let r = req.product_key(pk).send();
            assert_error(&r, 401);
            assert_no_secret(&r, &[&k]);
        }
    }
    // A key issued by another deployment (its own storage) is unknown here.
    let other = tenant(&c.no_origin, marker, json!({}));
    let (_, foreign) = key(&c.no_origin, &other, "live", json!({}));
    assert_error(&get_tx(&c.gw, &foreign, &t.pk_live, marker), 401);
    c.origin.assert_got_nothing(&t.id, marker);
}
