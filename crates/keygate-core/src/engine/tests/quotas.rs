//! Quotas: keys per account; and that reads write nothing (the Registry runs them unlocked).

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

/// The Registry runs commands that are not writes without its write lock: they must never
/// produce a write or an event, for any caller, found or not.
#[test]
fn reads_never_write() {
    use crate::page::PageParams;
    let mut w = World::new();
    let key = w.key(key_body(json!({})));
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let account = w.account();
    let reads = |account: &str, key: &str| {
        vec![
            Command::ListAccounts {
                page: PageParams::default(),
            },
            Command::GetAccount {
                account_id: account.into(),
            },
            Command::GetEntitlement {
                account_id: account.into(),
                product_id: "bank_data".into(),
            },
            Command::ListKeys {
                account_id: account.into(),
                page: PageParams::default(),
            },
            Command::GetKey { key_id: key.into() },
            Command::ListEvents {
                account_id: account.into(),
                page: PageParams::default(),
                kind: None,
                key_id: None,
            },
            Command::GetRequest {
                request_id: "req_unknown".into(),
            },
            Command::GetDeliveries {
                event_id: "evt_unknown".into(),
            },
        ]
    };
    for caller in [Caller::Operator, m] {
        for (account, key) in [(account.as_str(), key.as_str()), ("acct_none", "key_none")] {
            for command in reads(account, key) {
                assert!(!command.is_write(), "{command:?}");
                let what = format!("{caller:?} {command:?}");
                if let Ok(outcome) = w.run(&caller, command) {
                    assert!(outcome.writes.is_empty(), "{what}: {outcome:?}");
                    assert!(outcome.events.is_empty(), "{what}: {outcome:?}");
                }
            }
        }
    }
}
