//! Key safety: GitHub reports, plain-HTTP exposure, grace after first use.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

#[test]
fn a_github_report_marks_our_keys_leaked_and_answers_in_githubs_format() {
    let mut w = World::new();
    let created = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let body = created.body.unwrap();
    let (id, secret) = (
        body["key"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    );
    let other = w.key(key_body(json!({})));
    let stranger = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[99; 32]).text;
    let matches: Vec<github::Match> = [secret.as_str(), stranger.as_str(), "some_token"]
        .iter()
        .map(|token| github::Match {
            token: token.to_string(),
            kind: "keygate_secret_key".into(),
            url: "https://github.com/o/r/blob/x".into(),
            source: "commit".into(),
        })
        .collect();
    let outcome = w.ok(
        &Caller::Edge,
        Command::GithubReport {
            matches: matches.clone(),
        },
    );
    let labels: Vec<&str> = outcome
        .body
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["true_positive", "false_positive", "false_positive"]
    );
    assert!(w.store.key_by_id(&id).leaked_at.is_some());
    assert!(w.store.key_by_id(&other).leaked_at.is_none());
    let reported = w
        .store
        .events
        .iter()
        .find(|e| e.kind == "leak.reported")
        .unwrap();
    assert_eq!(reported.data["after"]["source"], "github");
    // The same secret reported again (another place it turned up): true positive, nothing
    // written, no event, the grace unmoved.
    let events = w.store.events.len();
    let revoke_at = w.store.key_by_id(&id).revoke_at;
    let again = w.ok(
        &Caller::Edge,
        Command::GithubReport {
            matches: matches[..1].to_vec(),
        },
    );
    assert_eq!(again.body.unwrap()[0]["label"], "true_positive");
    assert!(again.writes.is_empty() && again.events.is_empty());
    assert_eq!(w.store.events.len(), events);
    assert_eq!(w.store.key_by_id(&id).revoke_at, revoke_at);
    // Twice in one report: one leak, once.
    let other_secret = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let mut fresh = vec![matches[0].clone(), matches[0].clone()];
    fresh[0].token = other_secret.body.unwrap()["secret"]
        .as_str()
        .unwrap()
        .into();
    fresh[1].token = fresh[0].token.clone();
    let both = w.ok(&Caller::Edge, Command::GithubReport { matches: fresh });
    assert_eq!(both.writes.len(), 1);
    assert_eq!(
        both.events
            .iter()
            .filter(|e| e.kind == "key.leaked")
            .count(),
        1
    );
    // Only the gateway, after checking GitHub's signature, may send one.
    assert_eq!(
        w.refused(&Caller::Operator, Command::GithubReport { matches })
            .status,
        403
    );
}

#[test]
fn a_key_sent_over_plain_http_is_marked_leaked_once() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let hash = w.store.key(&id).unwrap().unwrap().hash;
    let report = |hashes: Vec<KeyHash>| Command::RecordActivity {
        uses: vec![],
        denials: vec![],
        would_deny: vec![],
        exposed: hashes,
        first_uses: vec![],
        counted: vec![],
    };
    w.ok(
        &Caller::Edge,
        report(vec![hash, hash, KeyHash::of("unknown")]),
    );
    let key = w.store.key_by_id(&id);
    assert_eq!(key.leaked_at, Some(NOW));
    assert_eq!(key.revoke_at, Some(NOW + admin::LEAK_GRACE_DEFAULT));
    let leaked: Vec<&Event> = w
        .store
        .events
        .iter()
        .filter(|e| e.kind == "key.leaked")
        .collect();
    assert_eq!(leaked.len(), 1);
    // A second exposure changes nothing.
    let again = w.ok(&Caller::Edge, report(vec![hash]));
    assert!(again.writes.is_empty());
    let _ = account;
}

#[test]
fn a_grace_after_first_use_starts_when_the_successor_is_first_used() {
    let mut w = World::new();
    let old = w.key(key_body(json!({})));
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: old.clone(),
            body: Some(json!({"grace": "after_first_use", "grace_seconds": 600})),
        },
    );
    let body = rolled.body.unwrap();
    let successor = body["key"]["id"].as_str().unwrap().to_string();
    let cap = NOW + admin::GRACE_MAX;
    assert_eq!(
        body["previous"]["grace"],
        json!({"kind": "after_first_use", "seconds": 600, "waiting": true, "cap": cap})
    );
    assert_eq!(body["previous"]["revoke_at"], cap);
    assert!(w.store.key_by_id(&successor).report_first_use);
    // The edge reports the successor's first use (twice, from two isolates): the grace starts.
    let used = NOW + 3_600;
    let account_id = w.account();
    let report = |at| Command::RecordActivity {
        uses: vec![],
        denials: vec![],
        would_deny: vec![],
        exposed: vec![],
        first_uses: vec![FirstUse {
            key_id: successor.clone(),
            account_id: account_id.clone(),
            at,
        }],
        counted: vec![],
    };
    w.ok(&Caller::Edge, report(used));
    w.ok(&Caller::Edge, report(used + 50));
    let old_key = w.store.key_by_id(&old);
    assert_eq!(old_key.revoke_at, Some(used + 600));
    assert_eq!(old_key.grace.as_ref().map(|g| g.waiting), Some(false));
    let new_key = w.store.key_by_id(&successor);
    assert_eq!(
        (new_key.first_used_at, new_key.report_first_use),
        (Some(used), false)
    );
    // Never past the cap: a first use six days and 23 hours after the roll still ends at it.
    let late = w.key(key_body(json!({})));
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: late.clone(),
            body: Some(json!({"grace": "after_first_use", "grace_seconds": 86_400})),
        },
    );
    let late_successor = rolled.body.unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.ok(
        &Caller::Edge,
        Command::RecordActivity {
            uses: vec![],
            denials: vec![],
            would_deny: vec![],
            exposed: vec![],
            first_uses: vec![FirstUse {
                key_id: late_successor,
                account_id: w.account(),
                at: cap - 3_600,
            }],
            counted: vec![],
        },
    );
    assert_eq!(w.store.key_by_id(&late).revoke_at, Some(cap));
    // A fixed grace is the default; a bad kind is 400.
    let another = w.key(key_body(json!({})));
    let e = w.refused(
        &Caller::Operator,
        Command::RollKey {
            key_id: another,
            body: Some(json!({"grace": "sometime"})),
        },
    );
    assert_eq!(fields(&e), ["grace"]);
}
