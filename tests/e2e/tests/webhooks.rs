//! Webhooks (docs/admin-api.md "Events") end to end: real workerd through `wrangler dev`, HTTP
//! only. With `WEBHOOK_URL` and `WEBHOOK_SIGNING_SECRET` set, every event the events list shows is
//! POSTed to the receiver, byte for byte the list's JSON, signed `Keygate-Signature: t=…,v1=…`
//! (HMAC-SHA256 of `t.body`, re-derived here independently of keygate-core), in order per account,
//! and retried until the receiver answers 2xx: a receiver that fails loses nothing and sees no
//! later event of that account before the one it refused.
//!
//! Security events (`key.leaked`, `key.revoked`, `leak.reported`) take a lane of their own: in order among themselves, ahead of the account's pending routine
//! events, so a backlog cannot delay a `key.leaked` by more than the round of deliveries in
//! flight; a key's earlier pending `key.*` events go with it, so one key's events never reorder.
//!
//! Three gateways, each with its own receiver path on one recording server: `steady` answers
//! 200, `flaky` answers 503 until the trial lets it recover (its retries start after 1 s), `slow`
//! answers 200 after [`SLOW_RECEIVER`].

use std::collections::BTreeSet;
use std::time::Duration;

use keygate_e2e::audited::{audit, bank_data_account, create_account, key, op, product_key};
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::offline::keygate_signature;
use keygate_e2e::{
    Gateway, Origin, OriginRequest, Reply, Value, json, node, run, start_together, tests,
};
use sha2::{Digest, Sha256};

const SECRET: &str = "whsec_e2e_5f1c9a";
/// How long a receiver waits for deliveries that should come within a second or two.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long the `slow` receiver takes to acknowledge each delivery.
const SLOW_RECEIVER: Duration = Duration::from_millis(200);
/// The bound on how long a security event waits behind a backlog (docs/key-safety.md
/// "Webhooks"): the round of deliveries in flight (here one slow acknowledgement; at most the
/// 10 s timeout) and its own delivery, with slack for this shared machine.
const SECURITY_LANE_BOUND: Duration = Duration::from_secs(5);

struct Ctx {
    receiver: Origin,
    steady: Gateway,
    flaky: Gateway,
    slow: Gateway,
}

fn main() {
    run(
        || {
            let receiver = Origin::start();
            receiver.respond("/slow", Reply::ok().delay(SLOW_RECEIVER));
            let gateway = |path: &str| {
                Gateway::builder()
                    .var("WEBHOOK_URL", &format!("{}{path}", receiver.url()))
                    .var("WEBHOOK_SIGNING_SECRET", SECRET)
                    .var("WEBHOOK_RETRY_SECONDS", "1")
            };
            let [steady, flaky, slow] =
                start_together([gateway("/steady"), gateway("/flaky"), gateway("/slow")]);
            Ctx {
                receiver,
                steady,
                flaky,
                slow,
            }
        },
        tests![
            every_event_arrives_signed_in_order_and_as_listed,
            a_failing_receiver_loses_nothing_and_keeps_the_order,
            the_demo_receivers_verifier_accepts_real_deliveries_only,
            a_key_leaked_overtakes_a_backlog_of_routine_events,
            a_key_leaked_after_a_quiet_spell_does_not_wait_for_a_grace_end,
            a_quotas_80_and_100_percent_are_delivered_once_each,
        ],
    );
}

/// An account with a key that is disabled and enabled again, by the operator: five events.
/// Returns the account id and the key's secret.
fn account_with_history(gw: &Gateway, name: &str) -> (String, String) {
    let account = create_account(gw, &json!({"name": name, "agreement": "test"}));
    let id = account.json["id"].as_str().expect("account id").to_string();
    let k = key(gw, &id, "k", json!({}));
    for status in ["disabled", "active"] {
        op(
            gw,
            "PATCH",
            &format!("/keys/{}", k.id),
            Some(&json!({ "status": status })),
        )
        .expect_status(200);
    }
    op(
        gw,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"name": format!("{name} renamed")})),
    )
    .expect_status(200);
    (id, k.secret)
}

/// The account's events, oldest first, as the events list answers them.
fn listed(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(gw, "GET", &format!("/accounts/{account}/events"), None);
    r.expect_status(200);
    audit(&r);
    let mut events = r.json["data"].as_array().expect("event list").clone();
    events.reverse();
    events
}

/// The deliveries to `path` that carry an event of `account`, in arrival order.
fn deliveries(receiver: &Origin, path: &str, account: &str, n: usize) -> Vec<OriginRequest> {
    receiver.wait_for(n, PATIENCE, |r| of_account(r, path, account))
}

fn of_account(r: &OriginRequest, path: &str, account: &str) -> bool {
    r.path == path
        && serde_json::from_slice::<Value>(&r.body)
            .is_ok_and(|event| event["account_id"] == account)
}

fn event_id(r: &OriginRequest) -> String {
    let event: Value = serde_json::from_slice(&r.body).expect("a JSON event");
    event["id"].as_str().expect("event id").to_string()
}

/// Panics unless `r` is a POST of JSON signed under [`SECRET`] within the last minute.
#[track_caller]
fn assert_signed(r: &OriginRequest) {
    assert_eq!(r.method, "POST");
    assert_eq!(r.header("content-type"), Some("application/json"));
    let header = r.header("keygate-signature").expect("Keygate-Signature");
    let (t, v1) = header
        .split_once(',')
        .and_then(|(t, v1)| Some((t.strip_prefix("t=")?, v1.strip_prefix("v1=")?)))
        .unwrap_or_else(|| panic!("signature not t=…,v1=…: {header}"));
    let sent: i64 = t.parse().expect("t is unix seconds");
    assert!((now() - sent).abs() <= 60, "t={sent} is not now");
    let expected = keygate_signature(SECRET, t, &r.body);
    assert_eq!(v1, expected, "signature does not sign the body");
}

fn every_event_arrives_signed_in_order_and_as_listed(c: &Ctx) {
    let (account, secret) = account_with_history(&c.steady, "webhook steady");
    let events = listed(&c.steady, &account);
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "account.created",
            "key.created",
            "key.disabled",
            "key.enabled",
            "account.updated"
        ]
    );

    let got = deliveries(&c.receiver, "/steady", &account, events.len());
    assert_eq!(got.len(), events.len(), "not every event was delivered");
    let hash: String = Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    for (delivery, event) in got.iter().zip(&events) {
        assert_signed(delivery);
        let body: Value = serde_json::from_slice(&delivery.body).unwrap();
        assert_eq!(&body, event, "delivered out of order, or not as listed");
        let text = delivery.text();
        assert!(!text.contains(&secret) && !text.contains(&hash), "{text}");
    }
    // Nothing delivered twice to a receiver that acknowledged it.
    std::thread::sleep(Duration::from_secs(3));
    let again = c
        .receiver
        .requests_where(|r| of_account(r, "/steady", &account));
    assert_eq!(
        again.len(),
        events.len(),
        "an acknowledged event came again"
    );
}

fn a_failing_receiver_loses_nothing_and_keeps_the_order(c: &Ctx) {
    c.receiver
        .respond("/flaky", Reply::json(503, &json!({"error": "down"})));
    let (account, _) = account_with_history(&c.flaky, "webhook flaky");
    let events = listed(&c.flaky, &account);
    let order: Vec<String> = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();

    // The first event is tried again and again (1 s, then 2 s), and nothing after it is sent.
    let refused = deliveries(&c.receiver, "/flaky", &account, 3);
    assert!(refused.len() >= 3, "no retries of a refused event");
    for r in &refused {
        assert_signed(r);
        assert_eq!(
            event_id(r),
            order[0],
            "a later event overtook a refused one"
        );
    }
    let gaps: Vec<Duration> = refused
        .windows(2)
        .map(|w| w[1].received_at - w[0].received_at)
        .collect();
    assert!(
        gaps[1] > gaps[0],
        "retries do not back off: {gaps:?} between attempts"
    );

    c.receiver.respond("/flaky", Reply::ok());
    let all = deliveries(
        &c.receiver,
        "/flaky",
        &account,
        refused.len() + events.len(),
    );
    let sequence: Vec<usize> = all
        .iter()
        .map(|r| {
            assert_signed(r);
            order
                .iter()
                .position(|id| *id == event_id(r))
                .expect("a delivered event the list does not show")
        })
        .collect();
    assert!(
        sequence.windows(2).all(|w| w[0] <= w[1]),
        "deliveries out of order: {sequence:?}"
    );
    let delivered: BTreeSet<usize> = sequence.into_iter().collect();
    assert_eq!(delivered.len(), events.len(), "an event was lost");

    // The delivery log shows every refused attempt, then the acknowledgement.
    let log = op(
        &c.flaky,
        "GET",
        &format!("/events/{}/deliveries", order[0]),
        None,
    );
    log.expect_status(200);
    assert_eq!(log.json["state"], "delivered", "{}", log.json);
    let statuses: Vec<Value> = log.json["attempts"]
        .as_array()
        .expect("attempts")
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert!(statuses.len() > refused.len() - 1, "{statuses:?}");
    let (last, before) = statuses.split_last().unwrap();
    assert_eq!(*last, json!(200));
    // Each attempt before the acknowledgement was refused: the receiver's 503, or no answer
    // at all (`null`: a connection that failed or stayed silent for `WEBHOOK_TIMEOUT`, which a
    // loaded machine can produce); never a success the log calls a failure.
    assert!(
        before.iter().all(|s| *s == json!(503) || s.is_null()),
        "{statuses:?}"
    );
    assert!(
        before.iter().filter(|s| **s == json!(503)).count() >= refused.len() - 1,
        "the refused attempts the receiver answered are not all in the log: {statuses:?}"
    );
    assert!(log.json["next_attempt_at"].is_null());
    op(&c.flaky, "GET", "/events/evt_unknown/deliveries", None).expect_status(404);
}

/// `verifyKeygateWebhook` of `scripts/demo-origin.mjs` (the snippet receivers copy), run by
/// node on a delivery the gateway really made, and on that delivery altered.
fn the_demo_receivers_verifier_accepts_real_deliveries_only(c: &Ctx) {
    let (account, _) = account_with_history(&c.steady, "webhook verifier");
    let delivery = deliveries(&c.receiver, "/steady", &account, 1)
        .into_iter()
        .next()
        .expect("a delivery");
    let header = delivery.header("keygate-signature").unwrap().to_string();
    let body = delivery.text();
    let t: i64 = header[2..header.find(',').unwrap()].parse().unwrap();
    let cases = json!([
        {"secret": SECRET, "header": header, "body": body},
        {"secret": SECRET, "header": header, "body": body.replacen("account", "acc0unt", 1)},
        {"secret": "whsec_other", "header": header, "body": body},
        {"secret": SECRET, "header": header, "body": body, "now": (t + 301) * 1000},
        {"secret": SECRET, "header": header.replacen(&format!("t={t}"), &format!("t={}", t + 1), 1), "body": body},
        {"secret": SECRET, "header": "", "body": body},
        {"secret": SECRET, "body": body},
    ]);
    let script = r#"
        import { pathToFileURL } from "node:url";
        const m = await import(pathToFileURL(process.env.DEMO_ORIGIN).href);
        const out = JSON.parse(process.env.CASES).map((c) => m.verifyKeygateWebhook(c));
        console.log(JSON.stringify(out));
    "#;
    let out = node::with_demo_origin(script, &cases);
    assert!(
        out.status.success(),
        "node failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Value = serde_json::from_slice(&out.stdout).expect("JSON from node");
    assert_eq!(
        results,
        json!([true, false, false, false, false, false, false])
    );
}

/// A backlog of routine events of one account (40 `key.updated` of a noisy key) behind a slow
/// receiver; then a key of that account is renamed and reported leaked. Its `key.leaked`
/// arrives within [`SECURITY_LANE_BOUND`], long before the backlog is drained; its own earlier
/// `key.updated` comes just before it (one key's events keep their order); the routine events
/// keep theirs, and none is lost.
fn a_key_leaked_overtakes_a_backlog_of_routine_events(c: &Ctx) {
    const BACKLOG: usize = 40;
    let gw = &c.slow;
    let account = create_account(gw, &json!({"name": "webhook backlog", "agreement": "test"}));
    let account = account.json["id"].as_str().expect("account id").to_string();
    let noisy = key(gw, &account, "noisy", json!({}));
    let victim = key(gw, &account, "victim", json!({}));
    for i in 0..BACKLOG {
        op(
            gw,
            "PATCH",
            &format!("/keys/{}", noisy.id),
            Some(&json!({"name": format!("noisy {i}")})),
        )
        .expect_status(200);
    }
    op(
        gw,
        "PATCH",
        &format!("/keys/{}", victim.id),
        Some(&json!({"name": "victim, about to leak"})),
    )
    .expect_status(200);
    let leaked_at = std::time::Instant::now();
    op(
        gw,
        "POST",
        &format!("/keys/{}/leaked", victim.id),
        Some(&json!({"grace_seconds": 3600})),
    )
    .expect_status(200);

    let kind = |r: &OriginRequest| -> (String, Option<String>) {
        let event: Value = serde_json::from_slice(&r.body).expect("a JSON event");
        (
            event["type"].as_str().unwrap_or_default().to_string(),
            event["key_id"].as_str().map(str::to_string),
        )
    };
    let is_leak = |r: &OriginRequest| of_account(r, "/slow", &account) && kind(r).0 == "key.leaked";
    let leak = c
        .receiver
        .wait_for(1, PATIENCE, is_leak)
        .into_iter()
        .next()
        .expect("the key.leaked webhook");
    let waited = leak.received_at.saturating_duration_since(leaked_at);
    let before: Vec<(String, Option<String>)> = c
        .receiver
        .requests_where(|r| of_account(r, "/slow", &account) && r.received_at < leak.received_at)
        .iter()
        .map(kind)
        .collect();
    let noisy_before = before
        .iter()
        .filter(|(_, k)| k.as_deref() == Some(noisy.id.as_str()))
        .count();
    println!(
        "    key.leaked arrived {waited:?} after the leak answer, with {noisy_before} of the \
         {BACKLOG} backlog events delivered before it"
    );
    assert!(
        waited <= SECURITY_LANE_BOUND,
        "key.leaked waited {waited:?} behind the backlog (bound {SECURITY_LANE_BOUND:?})"
    );
    assert!(
        noisy_before < BACKLOG,
        "key.leaked came only after the whole backlog: {before:?}"
    );
    // The victim's own events keep their order: its rename came just before the leak.
    let victim_events: Vec<&str> = before
        .iter()
        .filter(|(_, k)| k.as_deref() == Some(victim.id.as_str()))
        .map(|(t, _)| t.as_str())
        .collect();
    assert_eq!(
        victim_events,
        ["key.created", "key.updated"],
        "the leaked key's earlier events should arrive before its key.leaked"
    );

    // Then the backlog drains, in order and complete.
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/events?limit=100"),
        None,
    );
    r.expect_status(200);
    let events = r.json["data"].as_array().expect("event list").len();
    assert_eq!(
        events,
        1 + 2 + BACKLOG + 2,
        "account, keys, renames, leak: {r}"
    );
    let all = deliveries(&c.receiver, "/slow", &account, events);
    assert_eq!(all.len(), events, "an event was lost");
    if let Some(last) = all.last() {
        println!(
            "    the backlog drained {:?} after the leak answer",
            last.received_at.saturating_duration_since(leaked_at)
        );
    }
    let names: Vec<String> = all
        .iter()
        .filter(|r| kind(r).1.as_deref() == Some(noisy.id.as_str()) && kind(r).0 == "key.updated")
        .map(|r| {
            let event: Value = serde_json::from_slice(&r.body).expect("JSON");
            event["data"]["after"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let want: Vec<String> = (0..BACKLOG).map(|i| format!("noisy {i}")).collect();
    assert_eq!(names, want, "routine events out of order");
    for r in &all {
        assert_signed(r);
    }
}

/// A key of an account is reported leaked, and its events are all delivered: the Registry's alarm
/// then waits only for that key's grace period to end, an hour ahead. A second key reported
/// leaked after that quiet spell must not wait for it: its `key.leaked` arrives within
/// [`SECURITY_LANE_BOUND`] (the alarm is set afresh, earlier, by the command that queued it).
fn a_key_leaked_after_a_quiet_spell_does_not_wait_for_a_grace_end(c: &Ctx) {
    let gw = &c.steady;
    let account = create_account(gw, &json!({"name": "webhook quiet", "agreement": "test"}));
    let account = account.json["id"].as_str().expect("account id").to_string();
    let first = key(gw, &account, "first", json!({}));
    let second = key(gw, &account, "second", json!({}));
    let report = |id: &str| {
        op(
            gw,
            "POST",
            &format!("/keys/{id}/leaked"),
            Some(&json!({"grace_seconds": 3600})),
        )
        .expect_status(200);
    };
    report(&first.id);
    // account.created, two key.created and the first key.leaked.
    let earlier = deliveries(&c.receiver, "/steady", &account, 4);
    assert_eq!(
        earlier.len(),
        4,
        "the account's first events were not delivered"
    );
    std::thread::sleep(Duration::from_secs(1));

    let leaked_at = std::time::Instant::now();
    report(&second.id);
    let is_second_leak = |r: &OriginRequest| {
        of_account(r, "/steady", &account)
            && serde_json::from_slice::<Value>(&r.body).is_ok_and(|event| {
                event["type"] == "key.leaked" && event["key_id"] == second.id.as_str()
            })
    };
    let leak = c
        .receiver
        .wait_for(1, PATIENCE, is_second_leak)
        .into_iter()
        .next()
        .expect("the second key.leaked webhook");
    let waited = leak.received_at.saturating_duration_since(leaked_at);
    println!("    the second key.leaked arrived {waited:?} after the leak answer");
    assert!(
        waited <= SECURITY_LANE_BOUND,
        "key.leaked waited {waited:?} after a quiet spell (bound {SECURITY_LANE_BOUND:?})"
    );
}

/// Usage plans (docs/quotas.md "Thresholds"): a key's quota of 5 a day, asked 8 times, crosses
/// 80% and 100% once each, whatever the requests refused after it.
fn a_quotas_80_and_100_percent_are_delivered_once_each(c: &Ctx) {
    let gw = &c.steady;
    let (id, entitled) = bank_data_account(gw, &json!({"name": "thresholds", "agreement": "test"}));
    let pk = product_key(&entitled, "test");
    let k = key(
        gw,
        &id,
        "metered",
        json!({"quota": {"requests": 5, "period": "day"}}),
    );
    let statuses: Vec<u16> = (0..8)
        .map(|_| {
            let r = gw
                .get("/v1/accounts")
                .bearer(&k.secret)
                .product_key(&pk)
                .send();
            audit(&r);
            r.status
        })
        .collect();
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    let threshold = |r: &OriginRequest| {
        of_account(r, "/steady", &id)
            && serde_json::from_slice::<Value>(&r.body)
                .is_ok_and(|e| e["type"] == "quota.threshold_reached")
    };
    let arrived = c.receiver.wait_for(2, PATIENCE, threshold);
    let crossed: Vec<Value> = arrived
        .iter()
        .map(|r| {
            assert_signed(r);
            let event: Value = serde_json::from_slice(&r.body).expect("JSON");
            event["data"]["after"].clone()
        })
        .collect();
    let thresholds: Vec<&Value> = crossed.iter().map(|a| &a["threshold"]).collect();
    assert_eq!(thresholds, [&json!(80), &json!(100)], "{crossed:?}");
    for after in &crossed {
        assert_eq!(after["key_id"], k.id.as_str());
        assert_eq!(after["limit"], 5);
    }
    // Once each: more refusals and the settlements still to come add none.
    std::thread::sleep(Duration::from_secs(3));
    let later = c.receiver.requests().into_iter().filter(threshold).count();
    assert_eq!(later, 2, "each threshold once");
}
