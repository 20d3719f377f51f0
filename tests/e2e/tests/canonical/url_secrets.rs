//! Secrets in URLs.

use super::*;

pub(crate) fn secret_keys_in_the_url_are_refused_however_encoded(c: &Ctx) {
    let marker = "secret_in_url";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let (_, other) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let (_, test) = key(&c.gw, &t, "test", json!({"scopes": ["*"]}));
    let mut failures = Vec::new();
    let mut n = 0;
    for leaked in [&live, &other, &test] {
        let first_encoded = format!("%73{}", &leaked[1..]);
        let all_upper: String = leaked.bytes().map(|b| format!("%{b:02X}")).collect();
        let all_lower: String = leaked.bytes().map(|b| format!("%{b:02x}")).collect();
        let double = format!("%2573{}", &leaked[1..]);
        let targets = [
            format!("/v1/accounts/{leaked}"),
            format!("/v1/accounts/{first_encoded}"),
            format!("/v1/accounts/{all_upper}"),
            format!("/v1/accounts/{all_lower}"),
            format!("/v1/accounts/x{leaked}y/transactions"),
            format!("/v1/accounts?k={leaked}"),
            format!("/v1/accounts?k={first_encoded}"),
            format!("/v1/accounts?k={all_upper}"),
            format!("/v1/accounts?k={double}"),
            format!("/v1/accounts?note=x{leaked}&limit=2"),
            format!("/v1/accounts?{leaked}"),
        ];
        for target in targets {
            n += 1;
            let trace = format!("{marker}-{n}");
            let r = send_traced(&c.gw, target.as_bytes(), &live, &t.pk_live, &trace);
            let resp = r.to_resp(&format!("GET {target}"));
            let text = format!("{r}");
            if r.status != 400
                || r.json()["errors"][0]["field"] != "url"
                || r.header("x-request-id").is_none()
            {
                failures.push(format!(
                    "{target}: expected 400 with errors[0].field \"url\": {resp}"
                ));
            } else if text.contains(leaked.as_str()) || text.contains(&leaked[8..]) {
                failures.push(format!("{target}: the answer repeats the key: {resp}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    c.origin.assert_got_nothing(&t.id, marker);
}
