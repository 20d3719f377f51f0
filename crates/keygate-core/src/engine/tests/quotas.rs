//! Quotas: keys per account.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn keys_per_account_are_capped_for_everyone() {
    let mut w = World::new();
    w.max_keys = 3;
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let first = w.key(key_body(json!({})));
    w.key(key_body(json!({})));
    let e = w.refused(&Caller::Operator, create(&w, key_body(json!({}))));
    assert_eq!(e.status, 409);
    assert!(e.message.contains("MAX_KEYS_PER_ACCOUNT"), "{e:?}");
    assert_eq!(w.refused(&m, create(&w, key_body(json!({})))).status, 409);
    // A roll needs room for its successor too; deleting a key makes room.
    assert_eq!(
        w.refused(
            &Caller::Operator,
            Command::RollKey {
                key_id: first.clone(),
                body: None
            }
        )
        .status,
        409
    );
    w.ok(&Caller::Operator, Command::DeleteKey { key_id: first });
    w.ok(&m, create(&w, key_body(json!({}))));
}

#[test]
fn the_quota_does_not_hide_a_roll_refusal() {
    let mut w = World::new();
    w.max_keys = 1;
    let only = w.key(key_body(json!({})));
    w.patch(&Caller::Operator, &only, json!({"status": "disabled"}))
        .unwrap();
    let e = w.refused(
        &Caller::Operator,
        Command::RollKey {
            key_id: only,
            body: None,
        },
    );
    assert_eq!(e.status, 409);
    assert!(e.message.contains("disabled"), "{e:?}");
}
