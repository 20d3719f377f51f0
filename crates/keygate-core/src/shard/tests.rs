use super::*;
use crate::engine::{Counted, Denial, FirstUse, KeyUse, WouldDeny};
use crate::keys::KeyHash;
use crate::page::PageParams;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn page() -> PageParams {
    PageParams::default()
}

/// One of each command, naming ids of `other`'s account wherever a command names an id.
fn every_command(other: &str) -> Vec<Command> {
    let key = "key_other".to_string();
    vec![
        Command::CreateAccount {
            body: json!({}),
            account_id: Some(other.into()),
        },
        Command::ListAccounts { page: page() },
        Command::GetAccount {
            account_id: other.into(),
        },
        Command::UpdateAccount {
            account_id: other.into(),
            body: json!({}),
        },
        Command::GetEntitlement {
            account_id: other.into(),
            product_id: "bank_data".into(),
        },
        Command::Entitle {
            account_id: other.into(),
            product_id: "bank_data".into(),
        },
        Command::Withdraw {
            account_id: other.into(),
            product_id: "bank_data".into(),
        },
        Command::CreateKey {
            account_id: other.into(),
            body: json!({}),
        },
        Command::ListKeys {
            account_id: other.into(),
            page: page(),
        },
        Command::GetKey {
            key_id: key.clone(),
        },
        Command::UpdateKey {
            key_id: key.clone(),
            body: json!({}),
        },
        Command::RollKey {
            key_id: key.clone(),
            body: None,
        },
        Command::LeakKey {
            key_id: key.clone(),
            body: None,
        },
        Command::DeleteKey { key_id: key },
        Command::LeakReport {
            body: json!({"tokens": [{"token": "sk_live_x"}]}),
        },
        Command::ListEvents {
            account_id: other.into(),
            page: page(),
            kind: None,
            key_id: None,
        },
        Command::GetRequest {
            request_id: "req_other".into(),
        },
        Command::GetDeliveries {
            event_id: "evt_other".into(),
        },
        Command::GithubReport { matches: vec![] },
    ]
}

#[test]
fn a_manager_command_never_leaves_its_own_account() {
    let manager = Caller::Manager {
        key_id: "key_manager".into(),
    };
    for command in every_command("acct_other") {
        assert_eq!(
            place(&manager, Some("acct_mine"), &command),
            Placement::Account("acct_mine".into()),
            "{command:?}"
        );
    }
}

#[test]
fn the_operator_is_sent_where_the_path_or_the_directory_says() {
    let placed: Vec<Placement> = every_command("acct_other")
        .iter()
        .map(|c| place(&Caller::Operator, None, c))
        .collect();
    let account = || Placement::Account("acct_other".into());
    let key = || Placement::Find(IndexKey::Key("key_other".into()));
    assert_eq!(
        placed,
        [
            account(),
            Placement::Accounts,
            account(),
            account(),
            account(),
            account(),
            account(),
            account(),
            account(),
            key(),
            key(),
            key(),
            key(),
            key(),
            // `sk_live_x` is not a key in shape: nothing to find.
            Placement::Tokens(vec![]),
            account(),
            Placement::Find(IndexKey::Request("req_other".into())),
            Placement::Find(IndexKey::Event("evt_other".into())),
            Placement::Tokens(vec![]),
        ]
    );
    let create = Command::CreateAccount {
        body: json!({}),
        account_id: None,
    };
    assert_eq!(
        place(&Caller::Operator, None, &create),
        Placement::NewAccount
    );
    let assigned = assign_account_id(create, "acct_new".into());
    assert_eq!(
        place(&Caller::Operator, None, &assigned),
        Placement::Account("acct_new".into())
    );
}

#[test]
fn a_report_finds_secrets_by_hash_and_product_keys_by_text() {
    let secret =
        crate::keys::key_from_entropy(KeyKind::Secret, crate::keys::Environment::Live, &[1; 32]);
    let product =
        crate::keys::key_from_entropy(KeyKind::Product, crate::keys::Environment::Test, &[2; 32]);
    let hash = secret_key_hash(&secret).unwrap().to_hex();
    let report = Command::LeakReport {
        body: json!([{"token": secret}, {"token": product}, {"token": "not ours"}]),
    };
    assert_eq!(
        place(&Caller::Operator, None, &report),
        Placement::Tokens(vec![
            IndexKey::Secret(hash.clone()),
            IndexKey::ProductKey(product.clone())
        ])
    );
    // The secret itself is never what the directory is asked for.
    assert!(!format!("{:?}", place(&Caller::Operator, None, &report)).contains(&secret));
    let github = Command::GithubReport {
        matches: serde_json::from_value(json!([
            {"token": secret, "type": "t"}, {"token": product, "type": "t"}
        ]))
        .unwrap(),
    };
    assert_eq!(
        place(&Caller::Edge, None, &github),
        Placement::Tokens(vec![IndexKey::Secret(hash)])
    );
    let invalid = Command::LeakReport {
        body: json!({"tokens": "sk_live"}),
    };
    assert_eq!(
        place(&Caller::Operator, None, &invalid),
        Placement::Tokens(vec![])
    );
}

fn use_of(key: &str, account: &str) -> KeyUse {
    KeyUse {
        key_id: key.into(),
        account_id: account.into(),
        last_used_at: 1,
        last_used_ip: None,
        ips: vec![],
    }
}

fn denial_of(request: &str, key: &str, account: &str) -> Denial {
    Denial {
        request_id: request.into(),
        account_id: account.into(),
        key_id: key.into(),
        status: 403,
        reason: "r".into(),
        method: "GET".into(),
        path: "/".into(),
        ip: None,
        at: 1,
    }
}

#[test]
fn activity_is_split_into_one_report_per_account_and_one_of_exposures() {
    let exposed = KeyHash::from_hex(&"ab".repeat(32)).unwrap();
    let mixed = Command::RecordActivity {
        uses: vec![use_of("key_a1", "acct_a"), use_of("key_b1", "acct_b")],
        denials: vec![denial_of("req_1", "key_b1", "acct_b")],
        would_deny: vec![WouldDeny {
            account_id: "acct_c".into(),
            key_id: "key_c1".into(),
            ip: "192.0.2.1".into(),
            request_id: "req_2".into(),
            at: 1,
        }],
        exposed: vec![exposed],
        first_uses: vec![FirstUse {
            key_id: "key_a2".into(),
            account_id: "acct_a".into(),
            at: 1,
        }],
        counted: vec![Counted {
            key_id: "key_b1".into(),
            account_id: "acct_b".into(),
            refusals: 3,
            would_deny: 0,
        }],
    };
    assert_eq!(place(&Caller::Edge, None, &mixed), Placement::Split);
    let reports = split_activity(mixed);
    let placed: Vec<Placement> = reports
        .iter()
        .map(|r| place(&Caller::Edge, None, r))
        .collect();
    assert_eq!(
        placed,
        [
            Placement::Account("acct_a".into()),
            Placement::Account("acct_b".into()),
            Placement::Account("acct_c".into()),
            Placement::Tokens(vec![IndexKey::Secret(exposed.to_hex())]),
        ]
    );
    let Command::RecordActivity {
        uses,
        first_uses,
        denials,
        counted,
        ..
    } = &reports[0]
    else {
        panic!()
    };
    assert_eq!((uses.len(), first_uses.len()), (1, 1));
    assert!(denials.is_empty() && counted.is_empty());
    let Command::RecordActivity {
        denials, counted, ..
    } = &reports[1]
    else {
        panic!()
    };
    assert_eq!((denials.len(), counted.len()), (1, 1));
}

#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever an isolate saw, every record lands in exactly one report, and that report
        /// goes to the record's own account.
        #[test]
        fn every_record_reaches_its_own_account_once(
            uses in proptest::collection::vec((0u8..4, 0u8..3), 0..12),
            denials in proptest::collection::vec((0u8..4, 0u8..3), 0..12),
        ) {
            let account = |a: u8| format!("acct_{a}");
            let command = Command::RecordActivity {
                uses: uses.iter().map(|(k, a)| use_of(&format!("key_{k}"), &account(*a))).collect(),
                denials: denials
                    .iter()
                    .enumerate()
                    .map(|(i, (k, a))| denial_of(&format!("req_{i}"), &format!("key_{k}"), &account(*a)))
                    .collect(),
                would_deny: vec![],
                exposed: vec![],
                first_uses: vec![],
                counted: vec![],
            };
            let reports = split_activity(command);
            let (mut seen_uses, mut seen_denials) = (0, 0);
            for report in &reports {
                let Placement::Account(to) = place(&Caller::Edge, None, report) else {
                    panic!("not placed on one account: {report:?}");
                };
                let Command::RecordActivity { uses, denials, .. } = report else { panic!() };
                prop_assert!(uses.iter().all(|u| u.account_id == to));
                prop_assert!(denials.iter().all(|d| d.account_id == to));
                seen_uses += uses.len();
                seen_denials += denials.len();
            }
            prop_assert_eq!((seen_uses, seen_denials), (uses.len(), denials.len()));
        }
    }
}

#[test]
fn an_item_of_a_report_is_ours_if_any_account_says_so() {
    let a = Answer::json(
        200,
        json!({"object": "leak_report", "results": [
            {"index": 0, "ours": true, "key_id": "key_a"},
            {"index": 1, "ours": false},
            {"index": 2, "ours": false}
        ]})
        .to_string(),
    );
    let b = Answer::json(
        200,
        json!({"object": "leak_report", "results": [
            {"index": 0, "ours": false},
            {"index": 1, "ours": true, "key_id": "key_b"},
            {"index": 2, "ours": false}
        ]})
        .to_string(),
    );
    let merged: Value = serde_json::from_str(&merge_answers(vec![a, b]).body.unwrap()).unwrap();
    let results = merged["results"].as_array().unwrap();
    assert_eq!(results[0]["key_id"], "key_a");
    assert_eq!(results[1]["key_id"], "key_b");
    assert_eq!(results[2]["ours"], false);

    let github = |labels: [&str; 2]| {
        Answer::json(
            200,
            json!([{"token_raw": "t0", "label": labels[0]}, {"token_raw": "t1", "label": labels[1]}])
                .to_string(),
        )
    };
    let merged = merge_answers(vec![
        github(["true_positive", "false_positive"]),
        github(["false_positive", "true_positive"]),
    ]);
    let merged: Value = serde_json::from_str(&merged.body.unwrap()).unwrap();
    assert_eq!(merged[0]["label"], "true_positive");
    assert_eq!(merged[1]["label"], "true_positive");
}

#[test]
fn a_failed_account_fails_the_report() {
    let ok = Answer::json(200, json!([]).to_string());
    let failed = Answer::from(&Error::unavailable("down"));
    assert_eq!(merge_answers(vec![ok.clone(), failed.clone()]).status, 503);
    assert_eq!(merge_answers(vec![failed, ok]).status, 503);
    let none = Answer {
        status: 204,
        headers: vec![],
        body: None,
    };
    assert_eq!(merge_answers(vec![none.clone(), none]).status, 204);
}
