//! Usage plans in the engine: quotas and credits set, bounded by delegation, kept by a roll;
//! the edge's leases and the usage export they feed.

use super::*;
use crate::quota::{Lane, Period, Settlement, counters};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn daily(n: u64) -> Value {
    json!({"requests": n, "period": "day"})
}

#[test]
fn a_metered_manager_mints_keys_within_its_quota_and_credits_only() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["*"],
        "quota": daily(100),
        "credits": {"remaining": 50, "refill": {"amount": 50, "period": "month"}},
    })));
    let credits = json!({"remaining": 10});
    for (extra, refused_field) in [
        (json!({"quota": daily(100), "credits": credits}), None),
        (json!({"quota": daily(10), "credits": credits}), None),
        (json!({"credits": credits}), Some("quota")),
        (
            json!({"quota": daily(101), "credits": credits}),
            Some("quota"),
        ),
        (
            json!({"quota": {"requests": 10, "period": "month"}, "credits": credits}),
            Some("quota"),
        ),
        (json!({"quota": daily(10)}), Some("credits")),
        (
            json!({"quota": daily(10), "credits": {"remaining": 51}}),
            Some("credits"),
        ),
        (
            json!({"quota": daily(10), "credits": {"remaining": 5, "refill": {"amount": 5, "period": "day"}}}),
            Some("credits"),
        ),
    ] {
        match (
            w.run(&m, create(&w, key_body(extra.clone()))),
            refused_field,
        ) {
            (Ok(_), None) => {}
            (Err(e), Some(field)) => assert_eq!(fields(&e), [field], "{extra}"),
            (other, _) => panic!("{extra}: {other:?}"),
        }
    }
}

#[test]
fn only_the_operator_tops_up_and_a_top_up_is_a_fresh_balance() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let id = w.key(key_body(json!({"credits": {"remaining": 5}})));
    let e = w
        .patch(&m, &id, json!({"credits": {"remaining": 500}}))
        .unwrap_err();
    assert_eq!((e.status, fields(&e)), (403, vec!["credits"]));
    // A manager's other changes leave the credits as they are, and pass.
    w.patch(&m, &id, json!({"name": "renamed"})).unwrap();
    let before = w.store.key_by_id(&id).credits.unwrap();
    w.patch(&Caller::Operator, &id, json!({"credits": {"remaining": 5}}))
        .unwrap();
    let after = w.store.key_by_id(&id).credits.unwrap();
    assert_eq!(after.remaining, 5);
    // The same amount in the same second is still a new balance: another counter.
    let name =
        |c: &crate::quota::Credits| counters(None, &id, None, Some(c), None, 1, NOW)[0].name();
    assert_ne!(name(&before), name(&after));
}

#[test]
fn a_roll_shares_the_credit_balance_and_keeps_the_quota() {
    let mut w = World::new();
    let id = w.key(key_body(
        json!({"quota": daily(7), "credits": {"remaining": 9}}),
    ));
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: id.clone(),
            body: None,
        },
    );
    let successor = rolled.body.unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let old = w.store.key_by_id(&id);
    let new = w.store.key_by_id(&successor);
    assert_eq!(new.quota, old.quota);
    let credits_counter = |key: &crate::model::ApiKey| {
        counters(None, &key.id, None, key.credits.as_ref(), None, 1, NOW)[0].name()
    };
    assert_eq!(credits_counter(&old), credits_counter(&new), "one balance");
}

#[test]
fn a_quota_names_a_product_of_the_gateway() {
    let mut w = World::new();
    let bad = w.refused(
        &Caller::Operator,
        create(
            &w,
            key_body(json!({"quota": {"requests": 5, "period": "day", "product": "nope"}})),
        ),
    );
    assert_eq!(fields(&bad), ["quota.product"]);
    w.key(key_body(
        json!({"quota": {"requests": 5, "period": "day", "product": "bank_data"}}),
    ));
}

#[test]
fn leases_are_the_edges_alone_and_the_export_is_the_counters() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let id = w.key(key_body(json!({"quota": daily(3)})));
    let key = w.store.key_by_id(&id);
    let lane = Lane {
        key_id: id.clone(),
        product: None,
        route: None,
        day: Period::Day.start(NOW),
    };
    let lease = |settle: Vec<Settlement>| Command::Lease {
        account_id: key.account_id.clone(),
        lane: Some(lane.clone()),
        counters: counters(None, &id, key.quota.as_ref(), None, None, 1, NOW),
        settle,
        refused: Vec::new(),
    };
    assert_eq!(w.refused(&m, lease(Vec::new())).status, 403);
    assert_eq!(w.refused(&Caller::Operator, lease(Vec::new())).status, 403);
    let mut settle = Vec::new();
    for _ in 0..3 {
        let body = w.ok(&Caller::Edge, lease(settle.clone())).body.unwrap();
        assert_eq!(body["lease"]["outcome"], "granted", "{body}");
        settle = vec![Settlement {
            id: body["lease"]["id"].as_u64().unwrap(),
            granted: 1,
        }];
    }
    let full = w.ok(&Caller::Edge, lease(settle)).body.unwrap();
    assert_eq!(full["lease"]["outcome"], "full", "{full}");
    let export = w
        .ok(
            &m,
            Command::ListUsage {
                account_id: key.account_id.clone(),
                from: None,
                to: None,
                page: PageParams::default(),
            },
        )
        .body
        .unwrap();
    let row = &export["data"][0];
    assert_eq!(
        (row["granted"].clone(), row["refused"].clone()),
        (json!(3), json!(1))
    );
    assert_eq!(export["counters"][0]["used"], 3);
    assert_eq!(export["counters"][0]["remaining"], 0);
    // Dates are checked, and a range is bounded.
    for (from, to) in [
        ("2026-02-30", "2026-03-01"),
        ("2026-1-01", "2026-01-02"),
        ("2026-03-01", "2026-02-01"),
        ("2024-01-01", "2026-01-01"),
    ] {
        let e = w.refused(
            &Caller::Operator,
            Command::ListUsage {
                account_id: key.account_id.clone(),
                from: Some(from.into()),
                to: Some(to.into()),
                page: PageParams::default(),
            },
        );
        assert_eq!(e.status, 400, "{from} {to}");
    }
}

#[test]
fn the_csv_export_quotes_what_needs_quoting() {
    let row = |route: &str| {
        UsageRow::new(
            &Lane {
                key_id: "key_1".into(),
                product: Some("bank_data".into()),
                route: Some(route.into()),
                day: 0,
            },
            crate::quota::Tally {
                granted: 2,
                refused: 1,
                lapsed: 0,
            },
        )
    };
    let csv = usage_csv(&[row("GET /v1/a"), row("GET /v1/\"b\",c")]);
    assert_eq!(
        csv,
        "date,key_id,product,route,granted,refused,lapsed\r\n\
         1970-01-01,key_1,bank_data,GET /v1/a,2,1,0\r\n\
         1970-01-01,key_1,bank_data,\"GET /v1/\"\"b\"\",c\",2,1,0\r\n"
    );
}
