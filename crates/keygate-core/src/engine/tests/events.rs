//! Events and edge activity: what is recorded, listed and looked up.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Every command that changes something leaves one event per changed record, with the actor,
/// the request id and only the changed fields; none carries a secret or a hash.
#[test]
fn every_change_is_an_event_and_no_event_carries_a_secret_or_a_hash() {
    let mut w = World::new();
    let account = w.account();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let created = w.ok(&m, create(&w, key_body(json!({"name": "made by a key"}))));
    let body = created.body.unwrap();
    let (id, secret) = (
        body["key"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    );
    w.patch(&Caller::Operator, &id, json!({"name": "renamed"}))
        .unwrap();
    w.patch(&Caller::Operator, &id, json!({"status": "disabled"}))
        .unwrap();
    w.patch(&Caller::Operator, &id, json!({"status": "active"}))
        .unwrap();
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: id.clone(),
            body: None,
        },
    );
    let successor_secret = rolled.body.unwrap()["secret"].as_str().unwrap().to_string();
    w.ok(
        &Caller::Operator,
        Command::LeakReport {
            body: json!([{"token": successor_secret}]),
        },
    );
    w.ok(
        &Caller::Operator,
        Command::LeakKey {
            key_id: id.clone(),
            body: None,
        },
    );
    w.ok(&Caller::Operator, Command::DeleteKey { key_id: id.clone() });
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: account.clone(),
            body: json!({"name": "Acme 2"}),
        },
    );
    w.ok(
        &Caller::Operator,
        Command::Withdraw {
            account_id: account.clone(),
            product_id: "insurance".into(),
        },
    );
    // An upgraded agreement adds the live product key to an entitlement.
    let up = w.new_account("Upgrading", "test");
    let entitle = |account_id: &str| Command::Entitle {
        account_id: account_id.into(),
        product_id: "bank_data".into(),
    };
    w.ok(&Caller::Operator, entitle(&up));
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: up.clone(),
            body: json!({"agreement": "production"}),
        },
    );
    w.ok(&Caller::Operator, entitle(&up));
    let live = w.key(key_body(json!({})));
    w.ok(
        &Caller::Edge,
        activity(&w.account(), &live, vec![], vec![], vec!["203.0.113.9"]),
    );
    // The clock ends a grace period: the Registry's sweep records it.
    let leaked = w.key(key_body(json!({})));
    w.ok(
        &Caller::Operator,
        Command::LeakKey {
            key_id: leaked.clone(),
            body: Some(json!({"grace_seconds": 0})),
        },
    );
    let ended = grace_ended(&w.store.key_by_id(&leaked), &mut w.mint).unwrap();
    assert_eq!(ended.request_id, None);
    assert_eq!(ended.data["after"]["because"], "leaked");
    w.store.events.push(ended);

    // A key's credits run out (80%, 100%), and are refilled the next day.
    let metered = w.key(key_body(json!({
        "credits": {"remaining": 5, "refill": {"amount": 5, "period": "day"}}
    })));
    let record = w.store.key_by_id(&metered);
    let lease = |at: i64| {
        let grant_counters =
            crate::quota::counters(None, &record.id, None, record.credits.as_ref(), None, 1, at);
        Command::Lease {
            account_id: record.account_id.clone(),
            lane: Some(crate::quota::Lane {
                key_id: record.id.clone(),
                product: None,
                route: None,
                day: crate::quota::Period::Day.start(at),
            }),
            counters: grant_counters,
            settle: Vec::new(),
            refused: Vec::new(),
        }
    };
    let mut settle = Vec::new();
    for _ in 0..5 {
        let body = w.ok(&Caller::Edge, lease(NOW)).body.unwrap();
        let id = body["lease"]["id"].as_u64().unwrap();
        settle.push(crate::quota::Settlement { id, granted: 1 });
    }
    w.ok(
        &Caller::Edge,
        Command::Lease {
            account_id: record.account_id.clone(),
            lane: None,
            counters: Vec::new(),
            settle,
            refused: Vec::new(),
        },
    );
    w.ok(&Caller::Edge, lease(NOW + 86_400));

    let kinds: Vec<&str> = w.store.events.iter().map(|e| e.kind.as_str()).collect();
    for kind in EVENT_TYPES {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let minted = w
        .store
        .events
        .iter()
        .find(|e| e.key_id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(minted.kind, "key.created");
    assert!(matches!(&minted.actor, Actor::Key { .. }), "{minted:?}");
    assert_eq!(minted.request_id.as_deref(), Some("req_test"));
    let renamed = w
        .store
        .events
        .iter()
        .find(|e| e.kind == "key.updated")
        .unwrap();
    assert_eq!(
        renamed.data,
        json!({"before": {"name": "made by a key"}, "after": {"name": "renamed"}})
    );
    assert_eq!(renamed.actor, Actor::Operator);

    let hashes: Vec<String> = w.store.keys.iter().map(|k| k.hash.to_hex()).collect();
    for event in &w.store.events {
        let text = serde_json::to_string(event).unwrap();
        for s in [&secret, &successor_secret] {
            assert!(!text.contains(&s[8..]), "{text}");
        }
        assert!(!hashes.iter().any(|h| text.contains(h.as_str())), "{text}");
        let hex_run = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max();
        assert!(hex_run.unwrap_or(0) < 64, "{text}");
    }
}

#[test]
fn events_are_listed_newest_first_filtered_and_confined_to_the_managers_account() {
    let mut w = World::new();
    let account = w.account();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    let other = w.new_account("Other", "test");
    let list = |w: &mut World, caller: &Caller, account_id: &str, kind: Option<&str>| {
        w.run(
            caller,
            Command::ListEvents {
                account_id: account_id.into(),
                page: PageParams::default(),
                kind: kind.map(Into::into),
                key_id: None,
            },
        )
    };
    let all = list(&mut w, &m, &account, None).unwrap().body.unwrap();
    let kinds: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"key.created"),
        "newest first: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"account.created"));
    let only = list(&mut w, &m, &account, Some("entitlement.created"))
        .unwrap()
        .body
        .unwrap();
    assert_eq!(only["data"].as_array().unwrap().len(), 2);
    assert_eq!(list(&mut w, &m, &other, None).unwrap_err().status, 404);
    let empty_key = w.run(
        &m,
        Command::ListEvents {
            account_id: account.clone(),
            page: PageParams::default(),
            kind: None,
            key_id: Some(String::new()),
        },
    );
    assert_eq!(empty_key.unwrap_err().errors[0].field, "key_id");
    assert_eq!(
        list(&mut w, &Caller::Operator, &account, Some("key.nope"))
            .unwrap_err()
            .status,
        400
    );
    assert!(list(&mut w, &Caller::Operator, &other, None).is_ok());
}

#[test]
fn a_manager_with_an_enforced_allowlist_cannot_mint_a_key_in_report_mode() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["*"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let body = |mode: &str| key_body(json!({"allowed_ips": ["10.1.0.0/16"], "ip_mode": mode}));
    let e = w.refused(&m, create(&w, body("report")));
    assert_eq!(fields(&e), ["ip_mode"]);
    w.ok(&m, create(&w, body("enforce")));
    let e = w.refused(&Caller::Operator, create(&w, body("sometimes")));
    assert_eq!(fields(&e), ["ip_mode"]);
}

fn activity(
    account: &str,
    key_id: &str,
    uses: Vec<(i64, &str)>,
    denials: Vec<&str>,
    would_deny: Vec<&str>,
) -> Command {
    Command::RecordActivity {
        uses: uses
            .into_iter()
            .map(|(at, ip)| KeyUse {
                key_id: key_id.into(),
                account_id: account.into(),
                last_used_at: at,
                last_used_ip: Some(ip.into()),
                ips: vec![IpSeen {
                    ip: ip.into(),
                    count: 1,
                    last_seen_at: at,
                }],
            })
            .collect(),
        denials: denials
            .into_iter()
            .map(|request_id| Denial {
                request_id: request_id.into(),
                account_id: account.into(),
                key_id: key_id.into(),
                status: 404,
                reason: "missing scope `transactions:read` (answered as an unknown route)".into(),
                method: "GET".into(),
                path: "/v1/transactions".into(),
                ip: Some("203.0.113.9".into()),
                at: NOW,
            })
            .collect(),
        would_deny: would_deny
            .into_iter()
            .map(|ip| WouldDeny {
                account_id: account.into(),
                key_id: key_id.into(),
                ip: ip.into(),
                request_id: "req_edge".into(),
                at: NOW,
            })
            .collect(),
        exposed: vec![],
        first_uses: vec![],
        counted: vec![],
    }
}

#[test]
fn edge_activity_shows_on_the_key_and_in_the_request_lookup() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            &id,
            vec![(NOW - 5, "10.0.0.1"), (NOW, "10.0.0.2")],
            vec!["req_denied"],
            vec![],
        ),
    );
    let view = w
        .ok(&m, Command::GetKey { key_id: id.clone() })
        .body
        .unwrap();
    assert_eq!(view["last_used_at"], NOW);
    assert_eq!(view["last_used_ip"], "10.0.0.2");
    assert_eq!(view["ips_seen"].as_array().unwrap().len(), 2);
    let listed = w
        .ok(
            &Caller::Operator,
            Command::ListKeys {
                account_id: account.clone(),
                page: PageParams::default(),
            },
        )
        .body
        .unwrap();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["last_used_ip"] == "10.0.0.2")
    );

    let request = w
        .ok(
            &m,
            Command::GetRequest {
                request_id: "req_denied".into(),
            },
        )
        .body
        .unwrap();
    assert_eq!(request["decision"], "denied");
    assert!(
        request["reason"]
            .as_str()
            .unwrap()
            .contains("transactions:read")
    );
    assert_eq!(
        w.refused(
            &m,
            Command::GetRequest {
                request_id: "req_other".into()
            }
        )
        .status,
        404
    );
    // Another account's manager cannot read it.
    let other = w.new_account("O", "production");
    let theirs = w.key_in(other, key_body(json!({"scopes": ["keys:manage"]})));
    let stranger = Caller::Manager { key_id: theirs };
    assert_eq!(
        w.refused(
            &stranger,
            Command::GetRequest {
                request_id: "req_denied".into()
            }
        )
        .status,
        404
    );

    // Webhook delivery logs: the account's manager and the operator, nobody else.
    w.store.deliveries.push(webhook::Deliveries {
        event_id: "evt_1".into(),
        account_id: account.clone(),
        attempts: vec![webhook::Attempt {
            at: NOW,
            status: None,
        }],
        delivered_at: None,
        next_attempt_at: Some(NOW + 5),
    });
    let deliveries = |event_id: &str| Command::GetDeliveries {
        event_id: event_id.into(),
    };
    for caller in [&Caller::Operator, &m] {
        let log = w.ok(caller, deliveries("evt_1")).body.unwrap();
        assert_eq!(log["state"], "pending");
        assert!(log["attempts"][0]["status"].is_null());
    }
    assert_eq!(w.refused(&stranger, deliveries("evt_1")).status, 404);
    assert_eq!(w.refused(&m, deliveries("evt_2")).status, 404);
    assert!(!deliveries("evt_1").is_write());
    // Only the gateway reports activity.
    for caller in [Caller::Operator, m] {
        assert_eq!(
            w.refused(&caller, activity(&account, &id, vec![], vec![], vec![]))
                .status,
            403
        );
    }
}

#[test]
fn would_deny_is_one_event_per_key_and_address_per_hour() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            &id,
            vec![],
            vec![],
            vec!["10.9.9.9", "10.9.9.9", "10.8.8.8"],
        ),
    );
    w.ok(
        &Caller::Edge,
        activity(&account, &id, vec![], vec![], vec!["10.9.9.9"]),
    );
    let ips: Vec<String> = w
        .store
        .events
        .iter()
        .filter(|e| e.kind == "ip.would_deny")
        .map(|e| e.data["after"]["ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips, ["10.9.9.9", "10.8.8.8"]);
    // Reports about a key that no longer exists are dropped.
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            "key_gone",
            vec![(NOW, "10.0.0.1")],
            vec![],
            vec![],
        ),
    );
    assert!(w.store.usage.iter().all(|(k, _)| k != "key_gone"));
}
