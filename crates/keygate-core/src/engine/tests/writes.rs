//! Writes and the edge records they name; views; reads told from writes.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn writes_name_the_edge_records_they_change() {
    let mut w = World::new();
    let outcome = w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    assert_eq!(outcome.writes.len(), 1);
    assert_eq!(
        outcome.writes[0].edge_scope().unwrap(),
        EdgeScope::Account(&w.account())
    );
    let key = w.key(key_body(json!({})));
    let outcome = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: key,
            body: None,
        },
    );
    assert_eq!(outcome.writes.len(), 2);
    assert!(
        outcome
            .writes
            .iter()
            .all(|x| matches!(x.edge_scope(), Some(EdgeScope::Key(_))))
    );
}

#[test]
fn edge_records_carry_the_accounts_product_keys() {
    let mut w = World::new();
    let id = w.key(key_body(json!({})));
    let stored = w.store.key(&id).unwrap().unwrap();
    let record = edge_record(&w.store, &stored).unwrap().unwrap();
    // Two products, each with a test and a live product key.
    assert_eq!(record.product_keys.len(), 4);
    assert_eq!(record.account.id, w.account());
    w.store.accounts.clear();
    assert_eq!(edge_record(&w.store, &stored).unwrap(), None);
}

#[test]
fn a_leak_report_naming_a_key_twice_changes_it_once() {
    let mut w = World::new();
    let outcome = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let secret = outcome.body.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let outcome = w.ok(
        &Caller::Operator,
        Command::LeakReport {
            body: json!([{"token": secret}, {"token": secret}, {"token": "nope"}]),
        },
    );
    assert_eq!(outcome.writes.len(), 1);
    let text = outcome.body.unwrap().to_string();
    assert!(!text.contains(&secret[8..]), "{text}");
}

#[test]
fn views_never_contain_a_secret_or_a_hash() {
    let mut w = World::new();
    let outcome = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let body = outcome.body.unwrap();
    let secret = body["secret"].as_str().unwrap().to_string();
    let id = body["key"]["id"].as_str().unwrap().to_string();
    let hash = w.store.key(&id).unwrap().unwrap().hash.to_hex();
    for command in [
        Command::GetKey { key_id: id.clone() },
        Command::ListKeys {
            account_id: w.account(),
            page: PageParams::default(),
        },
        Command::UpdateKey {
            key_id: id.clone(),
            body: json!({"name": "renamed"}),
        },
        Command::LeakKey {
            key_id: id.clone(),
            body: None,
        },
    ] {
        let text = w.ok(&Caller::Operator, command).body.unwrap().to_string();
        assert!(
            !text.contains(&secret[8..]) && !text.contains(&hash),
            "{text}"
        );
    }
}

#[test]
fn reads_and_writes_are_told_apart() {
    assert!(!Command::GetKey { key_id: "k".into() }.is_write());
    assert!(Command::DeleteKey { key_id: "k".into() }.is_write());
    assert!(Command::LeakReport { body: json!([]) }.is_write());
}

#[test]
fn suspended_accounts_stay_suspended_for_managers() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    assert_eq!(w.store.accounts[0].status, AccountStatus::Suspended);
    assert_eq!(
        w.refused(&m, Command::GetKey { key_id: "x".into() }).status,
        401
    );
}
