//! Step `format` (docs/edge-pipeline.md).

use super::*;

pub(crate) fn format_tampered_or_malformed_key_is_401(c: &Ctx) {
    let marker = "format_tampered";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({}));
    let (_, test) = key(&c.gw, &t, "test", json!({}));
    // The real keys work.
    assert_from_origin(&get_tx(&c.gw, &live, &t.pk_live, &format!("{marker}-ok")));
    let mut bad: Vec<String> = Vec::new();
    for at in [8, 20, 39, 40, 45] {
        bad.push(tamper(&live, at));
        bad.push(tamper(&test, at));
    }
    bad.extend([
        live.replacen("sk_live_", "sk_prod_", 1),
        live.replacen("sk_live_", "sk_test_", 1),
        live.replacen("sk_live_", "SK_LIVE_", 1),
        live[..live.len() - 1].to_string(),
        format!("{live}0"),
        live[8..].to_string(),
        format!("{}-{}", &live[..20], &live[21..]),
        "sk_live_".to_string(),
        "sk_live_short".to_string(),
        // A product key is not a credential.
        t.pk_live.clone(),
    ]);
    let mut format_message = None;
    for k in &bad {
        for req in [
            c.gw.get(&format!("/v1/transactions?trace={marker}-refused"))
                .bearer(k),
            c.gw.get(&format!("/v1/transactions?trace={marker}-refused"))
                .api_key(k),
        ] {
            let r = req.product_key(&t.pk_live).send();
            let message = assert_error(&r, 401);
            assert_no_secret(&r, &[k, &live]);
            if *k == tamper(&live, 20) {
                format_message = Some(message);
            }
        }
    }
    // A tampered key is refused by its format, not as an unknown key.
    let unknown = get_tx(
        &c.gw,
        &mint_key("sk_live_", marker),
        &t.pk_live,
        &format!("{marker}-refused"),
    );
    let unknown_message = assert_error(&unknown, 401);
    assert_ne!(format_message.unwrap(), unknown_message);
    c.origin
        .assert_got_nothing("", &format!("{marker}-refused"));
}
