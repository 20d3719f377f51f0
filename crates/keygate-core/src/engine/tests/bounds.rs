//! Bounded storage per tenant (docs/admin-api.md "Bounded storage"): refusals stored whole
//! within the per-key and per-account caps of a UTC minute and counted past them, a key's
//! rate-limit refusals collapsed into counts, one `ip.would_deny` event per key, address block
//! and UTC day, and what isolates counted added to the key.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The start of a UTC minute, so that a few seconds after it stay in it.
const MINUTE: i64 = NOW - NOW.rem_euclid(60);

/// A refusal of `key_id` (in the first account) with `status` at `at`, answered as `request_id`.
fn refusal(w: &World, key_id: &str, request_id: &str, status: u16, at: i64) -> Denial {
    Denial {
        request_id: request_id.into(),
        account_id: w.store.key_by_id(key_id).account_id,
        key_id: key_id.into(),
        status,
        reason: "missing scope `transactions:read`".into(),
        method: "GET".into(),
        path: "/v1/transactions".into(),
        ip: Some("203.0.113.9".into()),
        at,
    }
}

fn report(denials: Vec<Denial>, would_deny: Vec<WouldDeny>, counted: Vec<Counted>) -> Command {
    Command::RecordActivity {
        uses: vec![],
        denials,
        would_deny,
        exposed: vec![],
        first_uses: vec![],
        counted,
    }
}

/// `n` refusals of `key_id` with `status`, ids `{tag}-0…`, all at `at`, sent as one report.
fn refuse(w: &mut World, key_id: &str, tag: &str, n: usize, status: u16, at: i64) -> Outcome {
    let denials = (0..n)
        .map(|i| refusal(w, key_id, &format!("{tag}-{i}"), status, at))
        .collect();
    w.ok(&Caller::Edge, report(denials, vec![], vec![]))
}

/// The stored refusal `request_id`, if any, as the lookup shows it.
fn lookup(w: &mut World, request_id: &str) -> Option<Value> {
    w.run(
        &Caller::Operator,
        Command::GetRequest {
            request_id: request_id.into(),
        },
    )
    .ok()
    .and_then(|o| o.body)
}

fn key_view(w: &mut World, key_id: &str) -> Value {
    w.ok(
        &Caller::Operator,
        Command::GetKey {
            key_id: key_id.into(),
        },
    )
    .body
    .unwrap()
}

fn stored_of(w: &World, key_id: &str) -> usize {
    w.store
        .denials
        .iter()
        .filter(|d| d.denial.key_id == key_id)
        .count()
}

#[test]
fn a_key_stores_ten_refusals_a_minute_and_counts_the_rest_on_its_latest() {
    let mut w = World::new();
    let id = w.key(key_body(json!({})));
    let cap = REFUSALS_PER_KEY_PER_MINUTE as usize;
    // 300 in one report: 10 rows, and the 10th counts the other 290.
    let outcome = refuse(&mut w, &id, "a", 300, 403, MINUTE + 1);
    let inserts = outcome
        .writes
        .iter()
        .filter(|w| matches!(w, Write::PutDenial(_)))
        .count();
    assert_eq!(inserts, cap);
    assert_eq!(stored_of(&w, &id), cap);
    let last = lookup(&mut w, &format!("a-{}", cap - 1)).unwrap();
    assert_eq!(last["similar_not_stored"], 300 - cap);
    assert_eq!(lookup(&mut w, "a-0").unwrap()["similar_not_stored"], 0);
    assert_eq!(lookup(&mut w, &format!("a-{cap}")), None);
    let e = w.refused(
        &Caller::Operator,
        Command::GetRequest {
            request_id: format!("a-{cap}"),
        },
    );
    assert_eq!(e.status, 404);
    assert!(e.message.contains("refusals.counted"), "{}", e.message);
    assert_eq!(
        key_view(&mut w, &id)["refusals"],
        json!({"stored": cap, "counted": 300 - cap})
    );

    // Later reports of the same minute: only updates of the latest row.
    let outcome = refuse(&mut w, &id, "b", 5, 403, MINUTE + 30);
    assert_eq!(
        outcome
            .writes
            .iter()
            .filter(|w| matches!(w, Write::PutDenial(_)))
            .count(),
        0
    );
    assert_eq!(stored_of(&w, &id), cap);
    assert_eq!(
        lookup(&mut w, &format!("a-{}", cap - 1)).unwrap()["similar_not_stored"],
        300 - cap + 5
    );

    // A new minute stores again.
    refuse(&mut w, &id, "c", 12, 403, MINUTE + 60);
    assert_eq!(stored_of(&w, &id), 2 * cap);
    assert_eq!(
        lookup(&mut w, &format!("c-{}", cap - 1)).unwrap()["similar_not_stored"],
        2
    );
    assert_eq!(
        key_view(&mut w, &id)["refusals"],
        json!({"stored": 2 * cap, "counted": 300 - cap + 5 + 2})
    );
}

#[test]
fn refusals_below_the_cap_split_across_reports_are_all_stored() {
    let mut w = World::new();
    let id = w.key(key_body(json!({})));
    refuse(&mut w, &id, "a", 4, 401, MINUTE);
    refuse(&mut w, &id, "b", 4, 401, MINUTE + 59);
    assert_eq!(stored_of(&w, &id), 8);
    refuse(&mut w, &id, "c", 4, 401, MINUTE + 59);
    assert_eq!(stored_of(&w, &id), 10);
    // The count goes on the latest stored: c-1.
    assert_eq!(lookup(&mut w, "c-1").unwrap()["similar_not_stored"], 2);
    assert_eq!(lookup(&mut w, "b-3").unwrap()["similar_not_stored"], 0);
}

#[test]
fn an_account_stores_a_hundred_refusals_a_minute_over_all_its_keys() {
    let mut w = World::new();
    let keys: Vec<String> = (0..12)
        .map(|i| w.key(key_body(json!({"name": format!("k{i}")}))))
        .collect();
    let mut denials = Vec::new();
    for (k, id) in keys.iter().enumerate() {
        for i in 0..10 {
            denials.push(refusal(&w, id, &format!("k{k}-{i}"), 403, MINUTE + 5));
        }
    }
    w.ok(&Caller::Edge, report(denials, vec![], vec![]));
    assert_eq!(
        w.store.denials.len() as u64,
        REFUSALS_PER_ACCOUNT_PER_MINUTE
    );
    // The first ten keys filled the account's minute; the last two stored nothing and have
    // nothing to count on, but their key views count every refusal.
    for (k, id) in keys.iter().enumerate() {
        let want = if k < 10 {
            json!({"stored": 10, "counted": 0})
        } else {
            json!({"stored": 0, "counted": 10})
        };
        assert_eq!(key_view(&mut w, id)["refusals"], want, "key {k}");
    }
    // Another account is not held back by this one.
    let other = w.new_account("Other", "production");
    let theirs = w.key_in(other, key_body(json!({})));
    refuse(&mut w, &theirs, "o", 3, 403, MINUTE + 6);
    assert_eq!(stored_of(&w, &theirs), 3);
}

#[test]
fn a_rate_limited_key_stores_its_first_429_of_a_minute_and_counts_the_rest() {
    let mut w = World::new();
    let id = w.key(key_body(json!({})));
    refuse(&mut w, &id, "a", 50, 429, MINUTE);
    refuse(&mut w, &id, "b", 50, 429, MINUTE + 10);
    assert_eq!(stored_of(&w, &id), 1);
    assert_eq!(lookup(&mut w, "a-0").unwrap()["similar_not_stored"], 99);
    // Other refusals of the key still have their own room in the minute.
    refuse(&mut w, &id, "c", 2, 403, MINUTE + 20);
    assert_eq!(stored_of(&w, &id), 3);
    // The next minute stores one 429 again.
    refuse(&mut w, &id, "d", 3, 429, MINUTE + 60);
    assert_eq!(stored_of(&w, &id), 4);
    assert_eq!(lookup(&mut w, "d-0").unwrap()["similar_not_stored"], 2);
    assert_eq!(
        key_view(&mut w, &id)["refusals"],
        json!({"stored": 4, "counted": 99 + 2})
    );
}

#[test]
fn what_an_isolate_counted_after_its_whole_refusals_counts_on_the_latest_stored() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    // One flush: the isolate's first three refusals of the key whole, 290 more only counted.
    let denials = (0..3)
        .map(|i| refusal(&w, &id, &format!("f-{i}"), 403, MINUTE))
        .collect();
    let counted = Counted {
        key_id: id.clone(),
        account_id: account,
        refusals: 290,
        would_deny: 0,
    };
    w.ok(&Caller::Edge, report(denials, vec![], vec![counted]));
    assert_eq!(lookup(&mut w, "f-2").unwrap()["similar_not_stored"], 290);
    assert_eq!(lookup(&mut w, "f-0").unwrap()["similar_not_stored"], 0);
    assert_eq!(
        key_view(&mut w, &id)["refusals"],
        json!({"stored": 3, "counted": 290})
    );
}

#[test]
fn what_isolates_counted_adds_to_the_key_and_keys_gone_are_dropped() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let counted = |key_id: &str, refusals, would_deny| Counted {
        key_id: key_id.into(),
        account_id: account.clone(),
        refusals,
        would_deny,
    };
    refuse(&mut w, &id, "a", 2, 403, MINUTE);
    w.ok(
        &Caller::Edge,
        report(
            vec![],
            vec![],
            vec![counted(&id, 7, 3), counted("key_gone", 5, 5)],
        ),
    );
    w.ok(
        &Caller::Edge,
        report(vec![], vec![], vec![counted(&id, 1, 0)]),
    );
    let view = key_view(&mut w, &id);
    assert_eq!(view["refusals"], json!({"stored": 2, "counted": 8}));
    assert_eq!(view["would_deny"], json!({"events": 0, "counted": 3}));
    // Counting never made the key look used.
    assert_eq!(view["last_used_at"], Value::Null);
    assert!(w.store.usage.iter().all(|(k, _)| k != "key_gone"));
    // A key gone: its refusals are still stored within the caps, nothing else is kept.
    let gone = Denial {
        request_id: "gone-0".into(),
        account_id: account.clone(),
        key_id: "key_gone".into(),
        ..refusal(&w, &id, "x", 403, MINUTE)
    };
    let wd = WouldDeny {
        account_id: account.clone(),
        key_id: "key_gone".into(),
        ip: "192.0.2.1".into(),
        request_id: "req_gone".into(),
        at: MINUTE,
    };
    let outcome = w.ok(&Caller::Edge, report(vec![gone], vec![wd], vec![]));
    assert!(outcome.events.is_empty());
    assert!(lookup(&mut w, "gone-0").is_some());
    assert!(w.store.usage.iter().all(|(k, _)| k != "key_gone"));
}

#[test]
fn would_deny_is_one_event_per_key_address_block_and_utc_day() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let other = w.key(key_body(json!({"name": "other"})));
    let day_start = NOW - NOW.rem_euclid(DAY);
    let wd = |key_id: &str, ip: String, at: i64| WouldDeny {
        account_id: account.clone(),
        key_id: key_id.into(),
        ip,
        request_id: "req_edge".into(),
        at,
    };
    // 200 addresses of one /64, in two reports: one event.
    let block: Vec<WouldDeny> = (0..200)
        .map(|i| wd(&id, format!("2001:db8:1:2::{i:x}"), day_start + 10))
        .collect();
    let (first, rest) = block.split_at(50);
    w.ok(&Caller::Edge, report(vec![], first.to_vec(), vec![]));
    w.ok(&Caller::Edge, report(vec![], rest.to_vec(), vec![]));
    let events = |w: &World| -> Vec<(String, String, String)> {
        w.store
            .events
            .iter()
            .filter(|e| e.kind == "ip.would_deny")
            .map(|e| {
                (
                    e.key_id.clone().unwrap(),
                    e.data["after"]["ip"].as_str().unwrap().to_string(),
                    e.data["after"]["prefix"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        events(&w),
        [(
            id.clone(),
            "2001:db8:1:2::0".into(),
            "2001:db8:1:2::/64".into()
        )]
    );
    assert_eq!(
        key_view(&mut w, &id)["would_deny"],
        json!({"events": 1, "counted": 199})
    );
    // IPv4 by /24, mapped IPv6 as IPv4; another key has its own; the next UTC day starts over.
    w.ok(
        &Caller::Edge,
        report(
            vec![],
            vec![
                wd(&id, "198.51.100.7".into(), day_start + 20),
                wd(&id, "::ffff:198.51.100.8".into(), day_start + 21),
                wd(&id, "198.51.101.7".into(), day_start + 22),
                wd(&other, "198.51.100.9".into(), day_start + 23),
                wd(&id, "2001:db8:1:2::ffff".into(), day_start + DAY - 1),
                wd(&id, "2001:db8:1:2::1".into(), day_start + DAY),
            ],
            vec![],
        ),
    );
    let got: Vec<(String, String)> = events(&w)
        .into_iter()
        .skip(1)
        .map(|(k, _, p)| (k, p))
        .collect();
    assert_eq!(
        got,
        [
            (id.clone(), "198.51.100.0/24".to_string()),
            (id.clone(), "198.51.101.0/24".to_string()),
            (other.clone(), "198.51.100.0/24".to_string()),
            (id.clone(), "2001:db8:1:2::/64".to_string()),
        ]
    );
    assert_eq!(
        key_view(&mut w, &id)["would_deny"],
        json!({"events": 4, "counted": 201})
    );
}
