//! Trial 5: ip_mode is validated and shown.

use super::*;

pub(crate) fn ip_mode_is_validated_and_shown(c: &Ctx) {
    let gw = &c.gw;
    let a = test_account(gw, "ip_mode", json!({}));
    let account_path = format!("/accounts/{}", a.id);
    let keys_path = format!("/accounts/{}/keys", a.id);
    assert_eq!(view(gw, &account_path)["ip_mode"], "enforce", "the default");
    let k = key(gw, &a.id, "default", json!({}));
    assert_eq!(k.view["ip_mode"], "enforce", "the default: {}", k.view);
    let key_path = format!("/keys/{}", k.id);

    // Anything but the two modes: 400 naming ip_mode, nothing changed.
    let key_before = view(gw, &key_path);
    let account_before = view(gw, &account_path);
    let count_before = key_list(gw, &a.id).len();
    for bad in [
        json!("Report"),
        json!("ENFORCE"),
        json!(""),
        json!("report "),
        json!("audit"),
        json!("off"),
        json!(null),
        json!(true),
        json!(1),
        json!(["report"]),
        json!({"mode": "report"}),
    ] {
        let body = json!({"name": "bad", "environment": "test", "ip_mode": bad});
        let r = op(gw, "POST", &keys_path, Some(&body));
        assert_eq!(r.status, 400, "key create with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let r = op(gw, "PATCH", &key_path, Some(&json!({"ip_mode": bad})));
        assert_eq!(r.status, 400, "key patch with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let body = json!({"name": "bad", "agreement": "test", "ip_mode": bad});
        let r = op(gw, "POST", "/accounts", Some(&body));
        assert_eq!(r.status, 400, "account create with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
        let r = op(gw, "PATCH", &account_path, Some(&json!({"ip_mode": bad})));
        assert_eq!(r.status, 400, "account patch with ip_mode {bad}: {r}");
        refused(&r, 400, &["ip_mode"]);
    }
    assert_eq!(
        without_usage(&view(gw, &key_path)),
        without_usage(&key_before),
        "refused patches changed the key"
    );
    assert_eq!(
        view(gw, &account_path),
        account_before,
        "refused patches changed the account"
    );
    assert_eq!(
        key_list(gw, &a.id).len(),
        count_before,
        "refused creates made keys"
    );

    // Both modes are accepted everywhere and shown on every view.
    for mode in ["report", "enforce", "report"] {
        let r = patch(gw, &key_path, json!({"ip_mode": mode}));
        assert_eq!(r["ip_mode"], mode, "{r}");
        assert_eq!(view(gw, &key_path)["ip_mode"], mode);
        let listed = key_list(gw, &a.id);
        let entry = listed.iter().find(|e| e["id"] == json!(k.id)).unwrap();
        assert_eq!(entry["ip_mode"], mode, "the list: {entry}");
        let r = patch(gw, &account_path, json!({"ip_mode": mode}));
        assert_eq!(r["ip_mode"], mode, "{r}");
        assert_eq!(view(gw, &account_path)["ip_mode"], mode);
    }
    let created = key(gw, &a.id, "created reporting", json!({"ip_mode": "report"}));
    assert_eq!(created.view["ip_mode"], "report", "{}", created.view);
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "created enforcing", "agreement": "test", "ip_mode": "enforce"})),
    );
    r.expect_status(201);
    assert_eq!(r.json["ip_mode"], "enforce", "{r}");
    let id = r.json["id"].as_str().expect("account id");
    let r = op(gw, "GET", "/accounts?limit=100", None);
    r.expect_status(200);
    let listed = r.json["data"].as_array().expect("data");
    for (account, mode) in [(id, "enforce"), (a.id.as_str(), "report")] {
        let entry = listed
            .iter()
            .find(|e| e["id"] == json!(account))
            .unwrap_or_else(|| panic!("{account} not in the first 100 accounts: {r}"));
        assert_eq!(entry["ip_mode"], mode, "the account list: {entry}");
    }
}
