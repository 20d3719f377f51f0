//! Trial 1: validation, views, roll, null.

use super::*;

/// Bad `rate_limit` values and the fields a 400 must name.
pub(crate) fn bad_limits() -> Vec<(Value, Vec<&'static str>)> {
    let rq = "rate_limit.requests";
    let ps = "rate_limit.period_seconds";
    vec![
        (json!(5), vec!["rate_limit"]),
        (json!("10/60"), vec!["rate_limit"]),
        (json!([10, 60]), vec!["rate_limit"]),
        (json!(true), vec!["rate_limit"]),
        (json!({}), vec![rq, ps]),
        (json!({"requests": 10}), vec![ps]),
        (json!({"period_seconds": 60}), vec![rq]),
        (limit(0, 60), vec![rq]),
        (limit(100_001, 60), vec![rq]),
        (json!({"requests": -1, "period_seconds": 60}), vec![rq]),
        (json!({"requests": 5.5, "period_seconds": 60}), vec![rq]),
        (json!({"requests": "10", "period_seconds": 60}), vec![rq]),
        (json!({"requests": null, "period_seconds": 60}), vec![rq]),
        (limit(10, 0), vec![ps]),
        (limit(10, 3601), vec![ps]),
        (json!({"requests": 10, "period_seconds": "60"}), vec![ps]),
        (json!({"requests": 10, "period_seconds": 1.5}), vec![ps]),
        (limit(0, 0), vec![rq, ps]),
        (
            json!({"requests": 10, "period_seconds": 60, "burst": 5}),
            vec!["rate_limit.burst"],
        ),
        (
            json!({"requests": 10, "period": 60}),
            vec![ps, "rate_limit.period"],
        ),
    ]
}

pub(crate) fn rate_limits_validate_show_roll_and_clear(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "rate limit validation", json!({}));
    let k = key(gw, &a.id, "target", json!({}));
    let key_path = format!("/keys/{}", k.id);
    let account_path = format!("/accounts/{}", a.id);
    let keys_path = format!("/accounts/{}/keys", a.id);
    assert_eq!(k.view["rate_limit"], Value::Null, "no limit shows null");
    assert_eq!(
        view(gw, &account_path)["rate_limit"],
        Value::Null,
        "no account default shows null"
    );

    // Refused everywhere, naming the fields, changing nothing.
    let keys_before = key_list(gw, &a.id);
    let key_before = view(gw, &key_path);
    let account_before = view(gw, &account_path);
    for (bad, fields) in bad_limits() {
        let what = |endpoint: &str| format!("{endpoint} with rate_limit {bad}");
        let r = op(
            gw,
            "POST",
            &keys_path,
            Some(&key_body("bad", json!({"rate_limit": bad}))),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("key create"));
        refused(&r, 400, &fields);
        let r = op(gw, "PATCH", &key_path, Some(&json!({"rate_limit": bad})));
        assert_eq!(r.status, 400, "{}: {r}", what("key patch"));
        refused(&r, 400, &fields);
        let r = op(
            gw,
            "POST",
            "/accounts",
            Some(&json!({"name": "bad", "agreement": "test", "rate_limit": bad})),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("account create"));
        refused(&r, 400, &fields);
        let r = op(
            gw,
            "PATCH",
            &account_path,
            Some(&json!({"rate_limit": bad})),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("account patch"));
        refused(&r, 400, &fields);
    }
    assert_eq!(
        key_list(gw, &a.id),
        keys_before,
        "a refused create made a key"
    );
    assert_eq!(
        without_usage(&view(gw, &key_path)),
        without_usage(&key_before),
        "a refused patch changed it"
    );
    assert_eq!(
        view(gw, &account_path),
        account_before,
        "a refused patch changed the account"
    );

    // Accepted, at the bounds too: shown in the answer, the view and the list.
    for good in [limit(1, 1), limit(100_000, 3_600), limit(10, 60)] {
        let made = key(gw, &a.id, "limited", json!({"rate_limit": good}));
        assert_eq!(made.view["rate_limit"], good, "key create answer");
        assert_eq!(view(gw, &format!("/keys/{}", made.id))["rate_limit"], good);
        let listed = key_list(gw, &a.id);
        let entry = listed
            .iter()
            .find(|v| v["id"] == json!(made.id))
            .expect("the key in the list");
        assert_eq!(entry["rate_limit"], good, "key list: {entry}");

        let r = op(gw, "PATCH", &key_path, Some(&json!({"rate_limit": good})));
        r.expect_status(200);
        assert_eq!(r.json["rate_limit"], good, "key patch answer: {r}");
        assert_eq!(view(gw, &key_path)["rate_limit"], good);

        let r = op(
            gw,
            "POST",
            "/accounts",
            Some(&json!({"name": "limited", "agreement": "test", "rate_limit": good})),
        );
        r.expect_status(201);
        assert_eq!(r.json["rate_limit"], good, "account create answer: {r}");
        let other = format!("/accounts/{}", r.json["id"].as_str().expect("id"));
        assert_eq!(view(gw, &other)["rate_limit"], good);

        let r = op(
            gw,
            "PATCH",
            &account_path,
            Some(&json!({"rate_limit": good})),
        );
        r.expect_status(200);
        assert_eq!(r.json["rate_limit"], good, "account patch answer: {r}");
        assert_eq!(view(gw, &account_path)["rate_limit"], good);
    }

    // Other changes keep it.
    let kept = limit(10, 60);
    let r = op(gw, "PATCH", &key_path, Some(&json!({"name": "renamed"})));
    assert_eq!(
        r.json["rate_limit"], kept,
        "a rename dropped the limit: {r}"
    );
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(
        r.json["rate_limit"], kept,
        "a rename dropped the limit: {r}"
    );

    // A roll keeps it: on the successor and on the old key.
    let r = op(gw, "POST", &format!("{key_path}/roll"), Some(&json!({})));
    r.expect_status(200);
    let successor = r.json["key"]["id"]
        .as_str()
        .expect("successor id")
        .to_string();
    assert_ne!(
        successor, k.id,
        "the roll answer's key is the successor: {r}"
    );
    assert_eq!(r.json["key"]["rate_limit"], kept, "roll answer: {r}");
    let successor_path = format!("/keys/{successor}");
    assert_eq!(view(gw, &successor_path)["rate_limit"], kept, "successor");
    assert_eq!(view(gw, &key_path)["rate_limit"], kept, "rolled key");
    let secret = r.json["secret"].as_str().expect("secret").to_string();
    let r = edge(gw, &secret, &a.pk);
    assert_granted(&r, 10, 60, "the successor is limited");

    // `null` clears it; absent leaves it; a key created with null has none.
    let r = op(
        gw,
        "PATCH",
        &successor_path,
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "cleared: {r}");
    assert_eq!(view(gw, &successor_path)["rate_limit"], Value::Null);
    // The account's default (also 10 per 60 s) applies now; the key's grant still counts.
    let r = edge(gw, &secret, &a.pk);
    assert_eq!(
        assert_granted(&r, 10, 60, "the account default").0,
        8,
        "{r}"
    );
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "cleared: {r}");
    assert_eq!(view(gw, &account_path)["rate_limit"], Value::Null);
    assert_unlimited(&edge(gw, &secret, &a.pk), "no limit left");
    let none = key(gw, &a.id, "null", json!({"rate_limit": null}));
    assert_eq!(none.view["rate_limit"], Value::Null);
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "null", "agreement": "test", "rate_limit": null})),
    );
    r.expect_status(201);
    assert_eq!(r.json["rate_limit"], Value::Null, "{r}");
}
