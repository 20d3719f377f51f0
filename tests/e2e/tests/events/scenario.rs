//! One change of every kind, logged as it is made.

use super::*;

/// What [`every_kind`] did: its account's events, those of a second account it reported a
/// key of, and the secrets it was given.
pub(crate) struct Scenario {
    pub(crate) log: Log,
    pub(crate) other: Log,
    pub(crate) secrets: Vec<String>,
    pub(crate) since: i64,
}

/// Every kind of event, by the operator, in one account (keys of `environment`): account
/// created and renamed `a` → `b`; bank_data entitled, the agreement upgraded, bank_data
/// entitled again (a live product key); a key created and renamed `a` → `b`, disabled,
/// re-enabled, rolled; the successor reported leaked; a leak report naming two keys of this
/// account, one of a second account, a product key and a token not ours; the entitlement
/// withdrawn and the successor deleted.
pub(crate) fn every_kind(gw: &Gateway, environment: &str) -> Scenario {
    let o = Who::Operator;
    let since = now();
    let mut secrets = Vec::new();
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "a", "agreement": "test"})),
    );
    r.expect_status(201);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let mut log = Log::new(&id);
    log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let account_path = format!("/accounts/{id}");

    let r = op(gw, "PATCH", &account_path, Some(&json!({"name": "b"})));
    r.expect_status(200);
    let renamed = json!({"before": {"name": "a"}, "after": {"name": "b"}});
    log.push(&r, o, "account.updated", None, Want::Exact(renamed.clone()));

    let entitlement = format!("/accounts/{id}/products/bank_data");
    let r = op(gw, "PUT", &entitlement, None);
    r.expect_status(201);
    let pk = r.json["product_keys"]["test"]
        .as_str()
        .expect("test product key")
        .to_string();
    log.push(
        &r,
        o,
        "entitlement.created",
        None,
        Want::Product("bank_data"),
    );

    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"agreement": "production"})),
    );
    r.expect_status(200);
    let upgraded = json!({"before": {"agreement": "test"}, "after": {"agreement": "production"}});
    log.push(&r, o, "account.updated", None, Want::Exact(upgraded));

    let r = op(gw, "PUT", &entitlement, None);
    r.expect_status(200);
    assert!(
        r.json["product_keys"]["live"].is_string(),
        "a live product key after the upgrade: {r}"
    );
    log.push(
        &r,
        o,
        "entitlement.updated",
        None,
        Want::Product("bank_data"),
    );
    // Entitled already, with both keys: nothing changes, no event.
    op(gw, "PUT", &entitlement, None).expect_status(200);

    let keys_path = format!("/accounts/{id}/keys");
    let new_key = |name: &str| {
        let body = json!({"name": name, "environment": environment});
        op(gw, "POST", &keys_path, Some(&body))
    };
    let k1 = log.created_key(&new_key("a"), o, 201);
    let k1_path = format!("/keys/{}", k1.id);

    let r = op(gw, "PATCH", &k1_path, Some(&json!({"name": "b"})));
    r.expect_status(200);
    log.push(&r, o, "key.updated", Some(&k1.id), Want::Exact(renamed));
    let mut last = r.json.clone();
    for (status, kind) in [("disabled", "key.disabled"), ("active", "key.enabled")] {
        let r = op(gw, "PATCH", &k1_path, Some(&json!({"status": status})));
        r.expect_status(200);
        log.push(
            &r,
            o,
            kind,
            Some(&k1.id),
            Want::Exact(changed(&last, &r.json)),
        );
        last = r.json.clone();
    }

    let r = op(gw, "POST", &format!("{k1_path}/roll"), None);
    let k2 = log.rolled_key(&r, o, &k1.id, &last);
    let k1_last = r.json["previous"].clone();

    let r = op(gw, "POST", &format!("/keys/{}/leaked", k2.id), None);
    r.expect_status(200);
    let leaked = changed(&k2.view, &r.json);
    log.push(&r, o, "key.leaked", Some(&k2.id), Want::Exact(leaked));
    let k2_last = r.json.clone();

    // A leak report: key.leaked per key of ours, one leak.reported per account.
    let k3 = log.created_key(&new_key("reported"), o, 201);
    let r = new_account(gw, "other");
    let other_id = r.json["id"].as_str().expect("account id").to_string();
    let mut other = Log::new(&other_id);
    other.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let body = json!({"name": "other's", "environment": "test"});
    let r = op(
        gw,
        "POST",
        &format!("/accounts/{other_id}/keys"),
        Some(&body),
    );
    let kb = other.created_key(&r, o, 201);
    let report = json!({"tokens": [
        {"token": k3.secret}, {"token": kb.secret}, {"token": k1.secret},
        {"token": pk}, {"token": "not-a-key-of-ours"},
    ]});
    let r = op(gw, "POST", "/leaks", Some(&report));
    r.expect_status(200);
    let ours: Vec<&Value> = (0..5).map(|i| &r.json["results"][i]["ours"]).collect();
    assert_eq!(
        ours,
        [
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(false)
        ],
        "{r}"
    );
    for (k, before, ours) in [
        (&k3, &k3.view, true),
        (&kb, &kb.view, false),
        (&k1, &k1_last, true),
    ] {
        let after = view(gw, &format!("/keys/{}", k.id));
        let data = Want::Exact(changed(before, &after));
        let log = if ours { &mut log } else { &mut other };
        log.push(&r, o, "key.leaked", Some(&k.id), data);
    }
    let reported = vec![k3.id.clone(), k1.id.clone()];
    log.push(&r, o, "leak.reported", None, Want::Reported(reported));
    other.push(
        &r,
        o,
        "leak.reported",
        None,
        Want::Reported(vec![kb.id.clone()]),
    );

    let r = op(gw, "DELETE", &entitlement, None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "entitlement.deleted",
        None,
        Want::Product("bank_data"),
    );
    let r = op(gw, "DELETE", &format!("/keys/{}", k2.id), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&k2.id),
        Want::Exact(deleted(&k2_last)),
    );

    for k in [k1, k2, k3, kb] {
        secrets.push(k.secret);
    }
    Scenario {
        log,
        other,
        secrets,
        since,
    }
}
