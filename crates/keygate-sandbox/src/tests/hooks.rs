//! Webhooks in the sandbox: endpoints as an attacker would register them, and deliveries that
//! carry every event the feed shows after registration, once each, in the feed's order.

use super::writes::{order, travel_quote};
use super::*;
use crate::{MAX_QUEUED_EVENTS, MAX_WEBHOOK_ENDPOINTS, date};
use keygate_core::webhook;
use serde_json::json;

fn advance(client: &mut Client, days: i64) {
    let (status, body) = client.post("/v1/sandbox/clock", &json!({"advance": {"days": days}}));
    assert_eq!(status, 200, "{body}");
}

fn register(client: &mut Client, events: &[&str]) -> Value {
    let (status, body) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "https://hooks.example.com/keygate", "enabled_events": events}),
    );
    assert_eq!(status, 201, "{body}");
    body
}

/// Delivers everything due, answering `status`, until nothing more is queued or due; the
/// bodies received, in order, with their signatures checked against `secret`.
fn deliver_all(client: &mut Client, secret: &str) -> Vec<Value> {
    let mut received = Vec::new();
    loop {
        client
            .sandbox
            .scan_hooks(&client.state, &mut client.hooks, client.now);
        let due = client.hooks.due(i64::MAX);
        if due.is_empty() {
            return received;
        }
        for delivery in due {
            assert!(
                webhook::verify(
                    secret.as_bytes(),
                    &delivery.signature,
                    &delivery.body,
                    i64::MAX,
                    0
                ),
                "signed with the endpoint's secret"
            );
            received.push(serde_json::from_str(&delivery.body).unwrap());
            client.hooks.record(&delivery, Some(200), client.now, 5);
        }
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// The feed's events after `after` (an event id; `None`: all of them).
fn feed_after(client: &mut Client, after: Option<&str>) -> Vec<Value> {
    let feed = client.list_all("/v1/events");
    let start = after.map_or(0, |id| {
        feed.iter()
            .position(|e| e["id"] == id)
            .expect("in the feed")
            + 1
    });
    feed[start..].to_vec()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_create_advance_execute_flow_delivers_every_event_once_in_order_with_the_feeds_bodies() {
    let mut client = Client::new();
    // History before registration is not owed.
    client.post("/v1/quotes", &travel_quote("IT"));
    let last_before = client.list_all("/v1/events").last().cloned().unwrap();
    let endpoint = register(&mut client, &["*"]);
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));

    let mut due = order(12_345);
    due["requested_execution_date"] = json!(date::format(date::today(NOW) + 2));
    let (status, created) = client.post("/v1/payment_orders", &due);
    assert_eq!(status, 201);
    let mut received = deliver_all(&mut client, &secret);
    for step in [1, 1, 5, 30] {
        advance(&mut client, step);
        client.post("/v1/quotes", &travel_quote("FR"));
        received.extend(deliver_all(&mut client, &secret));
    }
    let feed = feed_after(&mut client, last_before["id"].as_str());
    assert_eq!(
        ids(&received),
        ids(&feed),
        "every event once, in the feed's order"
    );
    assert_eq!(received, feed, "each body as GET /v1/events shows it");
    let kinds: Vec<&str> = received
        .iter()
        .filter(|e| e["data"]["object"]["id"] == created["id"])
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["payment_order.created", "payment_order.executed"]);
    assert!(received.iter().any(|e| e["type"] == "transaction.created"));
    // The delivery log keeps the newest attempts, each the first and delivered.
    let id = endpoint["id"].as_str().unwrap();
    let (status, log) = client.get(&format!("/v1/webhook_endpoints/{id}/deliveries"));
    assert_eq!(status, 200);
    let log = log["data"].as_array().unwrap();
    assert!(received.len() > crate::MAX_DELIVERY_LOG);
    assert_eq!(log.len(), crate::MAX_DELIVERY_LOG);
    let newest = &received[received.len() - log.len()..];
    let logged: Vec<&str> = log
        .iter()
        .map(|a| a["event_id"].as_str().unwrap())
        .collect();
    assert_eq!(logged, ids(newest));
    let first_try_delivered =
        |a: &Value| a["delivered"] == true && a["attempt"] == 1 && a["status"] == 200;
    assert!(log.iter().all(first_try_delivered));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_full_queue_holds_the_cursor_and_nothing_is_lost() {
    let mut client = Client::new();
    let endpoint = register(&mut client, &["transaction.created"]);
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    let last_before = client.list_all("/v1/events").last().cloned();
    advance(&mut client, 120);
    let queued = client.hooks.endpoints[0].queue.len();
    assert_eq!(
        queued, MAX_QUEUED_EVENTS,
        "the scan after the move filled the queue"
    );
    let received = deliver_all(&mut client, &secret);
    let feed: Vec<Value> = feed_after(
        &mut client,
        last_before.as_ref().and_then(|e| e["id"].as_str()),
    )
    .into_iter()
    .filter(|e| e["type"] == "transaction.created")
    .collect();
    assert!(feed.len() > MAX_QUEUED_EVENTS, "{}", feed.len());
    assert_eq!(ids(&received), ids(&feed));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_endpoint_gets_only_its_types_of_what_its_key_could_read() {
    let mut client = Client::new();
    client.readable = Some(vec!["quotes".into(), "policies".into()]);
    let quotes_only = register(&mut client, &["*"]);
    client.readable = None;
    let executed = register(&mut client, &["payment_order.executed"]);
    let mut due = order(100);
    due["requested_execution_date"] = json!(date::format(date::today(NOW) + 1));
    client.post("/v1/payment_orders", &due);
    client.post("/v1/quotes", &travel_quote("IT"));
    advance(&mut client, 3);
    let kinds = |n: usize, client: &Client| -> Vec<String> {
        client.hooks.endpoints[n]
            .queue
            .iter()
            .map(|q| q.kind.clone())
            .collect()
    };
    assert_eq!(kinds(0, &client), ["quote.created"]);
    assert_eq!(kinds(1, &client), ["payment_order.executed"]);
    assert!(quotes_only["secret"] != executed["secret"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_receiver_that_fails_gets_backed_off_retries_and_then_everything_in_order() {
    let mut client = Client::new();
    register(&mut client, &["quote.created"]);
    for country in ["IT", "FR", "ES"] {
        client.post("/v1/quotes", &travel_quote(country));
    }
    let mut t = client.now;
    let mut waits = Vec::new();
    for _ in 0..4 {
        let due = client.hooks.due(t);
        assert_eq!(due.len(), 1, "one at a time per endpoint");
        client.hooks.record(&due[0], Some(503), t, 5);
        let next = client.hooks.next_attempt().unwrap();
        waits.push(next - t);
        t = next;
    }
    assert_eq!(waits, [5, 10, 20, 40]);
    let mut order_seen = Vec::new();
    while let Some(delivery) = client.hooks.due(t).pop() {
        order_seen.push(delivery.event_id.clone());
        client.hooks.record(&delivery, Some(200), t, 5);
    }
    let feed: Vec<String> = client
        .list_all("/v1/events?type=quote.created")
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order_seen, feed);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_endpoint_url_is_judged_as_an_attackers_input() {
    let mut client = Client::new();
    for url in [
        "http://hooks.example.com/",
        "https://127.0.0.1/",
        "https://2130706433/",
        "https://[::ffff:10.0.0.1]/",
        "https://169.254.169.254/",
        "https://localhost:8443/",
        "https://user:pw@hooks.example.com/",
        "gopher://hooks.example.com/",
    ] {
        let (status, body) = client.post(
            "/v1/webhook_endpoints",
            &json!({"url": url, "enabled_events": ["*"]}),
        );
        assert_eq!(status, 400, "{url}: {body}");
        assert_eq!(error_fields(&body), ["url"], "{url}");
    }
    // Local development may register a local http receiver.
    client.require_https = false;
    let (status, body) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "http://127.0.0.1:9999/hook", "enabled_events": ["*"]}),
    );
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["url"], "http://127.0.0.1:9999/hook");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn endpoints_are_listed_without_their_secret_capped_and_deleted_with_what_they_were_owed() {
    let mut client = Client::new();
    let (status, body) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "https://hooks.example.com/", "enabled_events": ["quote.created", "nope.made"]}),
    );
    assert_eq!(status, 400);
    assert_eq!(error_fields(&body), ["enabled_events[1]"]);
    let (status, _) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "https://hooks.example.com/", "enabled_events": []}),
    );
    assert_eq!(status, 400);
    let (status, _) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "https://hooks.example.com/", "enabled_events": ["*"], "secret": "mine"}),
    );
    assert_eq!(status, 400, "an integrator does not choose the secret");
    let first = register(&mut client, &["*"]);
    for _ in 1..MAX_WEBHOOK_ENDPOINTS {
        register(&mut client, &["quote.created"]);
    }
    let (status, body) = client.post(
        "/v1/webhook_endpoints",
        &json!({"url": "https://hooks.example.com/", "enabled_events": ["*"]}),
    );
    assert_eq!(status, 409, "{body}");
    let listed = client.list_all("/v1/webhook_endpoints");
    assert_eq!(listed.len(), MAX_WEBHOOK_ENDPOINTS);
    assert!(listed.iter().all(|e| e.get("secret").is_none()));
    let id = first["id"].as_str().unwrap();
    let (status, shown) = client.get(&format!("/v1/webhook_endpoints/{id}"));
    assert_eq!(status, 200);
    assert!(shown.get("secret").is_none());
    client.post("/v1/quotes", &travel_quote("IT"));
    assert_eq!(shown["pending"], 0);
    let response = client.send(
        "DELETE",
        &format!("/v1/webhook_endpoints/{id}"),
        b"",
        None,
        None,
    );
    assert_eq!(response.status, 200);
    assert_eq!(client.get(&format!("/v1/webhook_endpoints/{id}")).0, 404);
    assert_eq!(
        client.list_all("/v1/webhook_endpoints").len(),
        MAX_WEBHOOK_ENDPOINTS - 1
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_test_tool_makes_an_event_of_any_type_and_sends_a_past_one_again() {
    let mut client = Client::new();
    let endpoint = register(&mut client, &["payment_order.executed"]);
    let (status, event) = client.post(
        "/v1/sandbox/events",
        &json!({"type": "payment_order.executed"}),
    );
    assert_eq!(status, 201, "{event}");
    assert_eq!(event["type"], "payment_order.executed");
    assert_eq!(event["data"]["object"]["object"], "payment_order");
    let (status, shown) = client.get(&format!("/v1/events/{}", event["id"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(shown, event, "in the feed like any other");
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    assert_eq!(
        ids(&deliver_all(&mut client, &secret)),
        [event["id"].as_str().unwrap()]
    );

    let (status, resent) = client.post("/v1/sandbox/events", &json!({"event": event["id"]}));
    assert_eq!(status, 202, "{resent}");
    assert_eq!(resent["endpoints"], json!([endpoint["id"]]));
    assert_eq!(
        deliver_all(&mut client, &secret),
        std::slice::from_ref(&event)
    );

    for (body, field) in [
        (json!({"type": "nope.made"}), "type"),
        (
            json!({"type": "payment_order.executed", "event": event["id"]}),
            "",
        ),
        (json!({}), ""),
    ] {
        let (status, answer) = client.post("/v1/sandbox/events", &body);
        assert_eq!(status, 400, "{body}: {answer}");
        if !field.is_empty() {
            assert_eq!(error_fields(&answer), [field]);
        }
    }
    assert_eq!(
        client
            .post("/v1/sandbox/events", &json!({"event": "evt_nope"}))
            .0,
        404
    );
    client.readable = Some(vec!["quotes".into()]);
    let (status, _) = client.post(
        "/v1/sandbox/events",
        &json!({"type": "payment_order.executed"}),
    );
    assert_eq!(
        status, 403,
        "a key that may not read payment orders may not make their events"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn after_a_reset_a_repeatable_sandbox_delivers_its_same_events_again() {
    let mut client = Client::new();
    client.state = AccountState::repeatable(crate::Repeatable {
        seed: 7,
        start: NOW,
    });
    let endpoint = register(&mut client, &["quote.created"]);
    let secret = endpoint["secret"].as_str().unwrap().to_string();
    client.post("/v1/quotes", &travel_quote("IT"));
    let first = deliver_all(&mut client, &secret);
    client.post("/v1/sandbox/reset", &json!({}));
    client.post("/v1/quotes", &travel_quote("IT"));
    let second = deliver_all(&mut client, &secret);
    assert_eq!(first.len(), 1);
    assert_eq!(first, second, "the same event, owed again after the reset");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_sandbox_says_when_its_feed_next_grows_unless_its_clock_is_frozen() {
    let mut client = Client::new();
    // The files' day: nothing is booked before midnight.
    let next = client.sandbox.next_change_at(&client.state, NOW).unwrap();
    assert_eq!(next, (date::today(NOW) + 1) * 86_400);
    // 03:00 the next day: the day's bookings are made, and their events come at their time.
    let (status, _) = client.post("/v1/sandbox/clock", &json!({"advance": {"hours": 15}}));
    assert_eq!(status, 200);
    let now = client.state.now(NOW).sandbox;
    let next = client.sandbox.next_change_at(&client.state, NOW).unwrap();
    let first_booking = next - NOW + now;
    assert!(first_booking > now && first_booking < (date::today(now) + 1) * 86_400);
    let events = client.list_all("/v1/events?type=transaction.created");
    assert!(events.iter().all(|e| e["created"].as_i64().unwrap() <= now));
    // Real time reaches it: it is in the feed.
    client.now += first_booking - now;
    let later = client.list_all("/v1/events?type=transaction.created");
    assert!(later.len() > events.len());
    assert!(later.iter().any(|e| e["created"] == first_booking));
    let frozen = AccountState::repeatable(crate::Repeatable {
        seed: 1,
        start: NOW,
    });
    assert_eq!(client.sandbox.next_change_at(&frozen, NOW), None);
}

/// One step of a generated session: the clock moved (days or hours), real time passing (the
/// alarm's scan at a new day), an order (due within ten days), a quote, a cancel, a made event,
/// or a delivery of what is due.
fn session_step(client: &mut Client, draws: &mut Draws, secret: &str, got: &mut Vec<Value>) {
    match draws.next(8) {
        0 => advance(client, 1 + draws.next(9) as i64),
        1 => {
            let hours = 1 + draws.next(30);
            let (status, body) =
                client.post("/v1/sandbox/clock", &json!({"advance": {"hours": hours}}));
            assert_eq!(status, 200, "{body}");
        }
        2 => {
            client.now += 3_600 * (1 + draws.next(20) as i64);
            client
                .sandbox
                .scan_hooks(&client.state, &mut client.hooks, client.now);
        }
        3 | 4 => {
            let (_, clock) = client.get("/v1/sandbox/clock");
            let today = date::parse(clock["today"].as_str().unwrap()).unwrap();
            let mut body = order(1 + draws.next(400_000) as i64);
            body["requested_execution_date"] = json!(date::format(today + draws.next(10) as i64));
            let (status, created) = client.post("/v1/payment_orders", &body);
            assert_eq!(status, 201, "{created}");
            if draws.next(4) == 0 {
                let id = created["id"].as_str().unwrap();
                client.post(&format!("/v1/payment_orders/{id}/cancel"), &json!({}));
            }
        }
        5 => {
            client.post("/v1/quotes", &travel_quote("IT"));
        }
        6 => {
            let (status, body) =
                client.post("/v1/sandbox/events", &json!({"type": "quote.expired"}));
            assert_eq!(status, 201, "{body}");
        }
        _ => got.extend(deliver_all(client, secret)),
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn whatever_a_session_does_an_endpoint_gets_the_feed_after_its_registration_once_in_order() {
    for seed in 1..=10u64 {
        let mut client = Client::new();
        // Every other session in a repeatable sandbox, whose frozen clock puts many events in
        // one second.
        if seed % 2 == 0 {
            client.state = AccountState::repeatable(crate::Repeatable { seed, start: NOW });
        }
        let mut draws = Draws(seed);
        client.post("/v1/quotes", &travel_quote("FR"));
        let last_before = client.list_all("/v1/events").last().cloned().unwrap();
        let endpoint = register(&mut client, &["*"]);
        let secret = endpoint["secret"].as_str().unwrap().to_string();
        let mut got = Vec::new();
        for _ in 0..25 {
            session_step(&mut client, &mut draws, &secret, &mut got);
        }
        got.extend(deliver_all(&mut client, &secret));
        let feed = feed_after(&mut client, last_before["id"].as_str());
        let show = |events: &[Value]| -> Vec<String> {
            events
                .iter()
                .map(|e| {
                    format!(
                        "{} {} {}",
                        e["created"], e["type"], e["data"]["object"]["id"]
                    )
                })
                .collect()
        };
        assert_eq!(show(&got), show(&feed), "seed {seed}");
        assert_eq!(got, feed, "seed {seed}: bodies as the feed shows them");
    }
}
