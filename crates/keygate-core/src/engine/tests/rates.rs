//! Rate limits on keys: shown, kept by a roll, no looser than the manager.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn a_rate_limited_manager_mints_keys_no_looser_than_itself() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["*"],
        "rate_limit": {"requests": 10, "period_seconds": 60},
    })));
    for (limit, allowed) in [
        (json!({"requests": 10, "period_seconds": 60}), true),
        (json!({"requests": 5, "period_seconds": 60}), true),
        (json!({"requests": 10, "period_seconds": 600}), true),
        (json!(null), false),
        (json!({"requests": 11, "period_seconds": 120}), false),
        (json!({"requests": 5, "period_seconds": 10}), false),
    ] {
        let outcome = w.run(&m, create(&w, key_body(json!({"rate_limit": limit}))));
        match outcome {
            Ok(_) => assert!(allowed, "{limit} was allowed"),
            Err(e) => {
                assert!(!allowed, "{limit} was refused: {e:?}");
                assert_eq!(fields(&e), ["rate_limit"], "{limit}");
            }
        }
    }
}

#[test]
fn rate_limits_are_shown_kept_by_a_roll_and_cleared_with_null() {
    let mut w = World::new();
    let id = w.key(key_body(
        json!({"rate_limit": {"requests": 3, "period_seconds": 10}}),
    ));
    let limit = json!({"requests": 3, "period_seconds": 10});
    assert_eq!(
        key_view(&w.store.key_by_id(&id)).unwrap()["rate_limit"],
        limit
    );
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: id.clone(),
            body: None,
        },
    );
    assert_eq!(rolled.body.unwrap()["key"]["rate_limit"], limit);
    w.patch(&Caller::Operator, &id, json!({"rate_limit": null}))
        .unwrap();
    assert_eq!(
        key_view(&w.store.key_by_id(&id)).unwrap()["rate_limit"],
        Value::Null
    );
    let account = w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"rate_limit": {"requests": 100, "period_seconds": 60}}),
        },
    );
    assert_eq!(account.body.unwrap()["rate_limit"]["requests"], 100);
    let e = w.refused(
        &Caller::Operator,
        create(&w, key_body(json!({"rate_limit": {"requests": 0}}))),
    );
    assert_eq!(
        fields(&e),
        ["rate_limit.requests", "rate_limit.period_seconds"]
    );
}
