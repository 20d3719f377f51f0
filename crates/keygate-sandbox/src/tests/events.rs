//! The sandbox's events: every write and every change days bring, oldest first, with stable
//! ids, each object as it was, and only what the caller may read.

use super::writes::{order, travel_quote};
use super::*;
use crate::date;
use serde_json::json;
use std::collections::BTreeSet;

const DAY: i64 = 86_400;

fn advance(client: &mut Client, days: i64) {
    let (status, body) = client.post("/v1/sandbox/clock", &json!({"advance": {"days": days}}));
    assert_eq!(status, 200, "{body}");
}

fn day(offset: i64) -> String {
    date::format(date::today(NOW) + offset)
}

/// A session with one of each kind of event, and its clock 40 days on.
fn busy() -> (Client<'static>, Vec<Value>) {
    let mut client = Client::new();
    let mut due = order(12_345);
    due["requested_execution_date"] = json!(day(3));
    let (status, due) = client.post("/v1/payment_orders", &due);
    assert_eq!(status, 201, "{due}");
    let (_, cancelled) = client.post("/v1/payment_orders", &order(500));
    let (status, _) = client.post(
        &format!(
            "/v1/payment_orders/{}/cancel",
            cancelled["id"].as_str().unwrap()
        ),
        &json!({}),
    );
    assert_eq!(status, 200);
    let (_, offered) = client.post("/v1/quotes", &travel_quote("IT"));
    let (_, bound) = client.post("/v1/quotes", &travel_quote("FR"));
    let (status, policy) = client.post(
        "/v1/policies",
        &json!({"quote_id": bound["id"], "start_date": day(2)}),
    );
    assert_eq!(status, 201, "{policy}");
    advance(&mut client, 40);
    (client, vec![due, cancelled, offered, bound, policy])
}

fn of_type<'v>(events: &'v [Value], kind: &str) -> Vec<&'v Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_write_and_every_change_of_the_days_is_an_event_in_order() {
    let (mut client, objects) = busy();
    let [due, cancelled, offered, bound, policy] = &objects[..] else {
        unreachable!()
    };
    let events = client.list_all("/v1/events");
    // In the order they happened, each once.
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["created"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
    let ids: BTreeSet<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), events.len());
    for event in &events {
        assert_eq!(event["object"], "event");
        assert!(event["id"].as_str().unwrap().starts_with("evt_"));
        let object = &event["data"]["object"];
        let kind = event["type"].as_str().unwrap();
        assert!(
            kind.starts_with(object["object"].as_str().unwrap()),
            "{event}"
        );
    }
    // The writes, each with the object as the write answered it.
    let created = of_type(&events, "payment_order.created");
    assert_eq!(created.len(), 2);
    assert_eq!(&created[0]["data"]["object"], due);
    assert_eq!(created[0]["data"]["object"]["status"], "pending");
    let cancel = of_type(&events, "payment_order.cancelled");
    assert_eq!(cancel.len(), 1);
    assert_eq!(cancel[0]["data"]["object"]["id"], cancelled["id"]);
    assert_eq!(cancel[0]["data"]["object"]["status"], "cancelled");
    assert_eq!(of_type(&events, "quote.created").len(), 2);
    let updated = of_type(&events, "quote.updated");
    assert_eq!(updated.len(), 1);
    assert_eq!(updated[0]["data"]["object"]["id"], bound["id"]);
    assert_eq!(updated[0]["data"]["object"]["status"], "accepted");
    assert_eq!(updated[0]["data"]["object"]["policy_id"], policy["id"]);
    // What the days did: the order ran on its day, the offered quote expired, the policy began.
    let executed = of_type(&events, "payment_order.executed");
    assert_eq!(executed.len(), 1);
    let executed = executed[0];
    assert_eq!(executed["data"]["object"]["id"], due["id"]);
    assert_eq!(executed["data"]["object"]["status"], "executed");
    let transaction = executed["data"]["object"]["transaction_id"]
        .as_str()
        .unwrap();
    assert_eq!(
        date::today(executed["created"].as_i64().unwrap()),
        date::today(NOW) + 3
    );
    let booked = of_type(&events, "transaction.created");
    assert!(
        booked
            .iter()
            .any(|e| e["data"]["object"]["id"] == transaction)
    );
    assert!(
        booked.len() > 40,
        "a transaction event per booking: {}",
        booked.len()
    );
    let expired = of_type(&events, "quote.expired");
    assert!(
        expired
            .iter()
            .any(|e| e["data"]["object"]["id"] == offered["id"])
    );
    let expired_ours = expired
        .iter()
        .find(|e| e["data"]["object"]["id"] == offered["id"])
        .unwrap();
    assert_eq!(expired_ours["data"]["object"]["status"], "expired");
    assert_eq!(
        expired_ours["created"].as_i64().unwrap() % DAY,
        0,
        "a transition by date happens at the start of its day"
    );
    let active = of_type(&events, "policy.active");
    assert!(
        active
            .iter()
            .any(|e| e["data"]["object"]["id"] == policy["id"])
    );
    assert!(
        !of_type(&events, "statement.created").is_empty(),
        "November ended"
    );
    // The same feed on every read: ids are stable.
    assert_eq!(client.list_all("/v1/events"), events);
    // One by id, as listed.
    let (status, one) = client.get(&format!("/v1/events/{}", executed["id"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(&one, executed);
    let (status, _) = client.get("/v1/events/evt_nope");
    assert_eq!(status, 404);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_feed_filters_by_type_and_pages_and_refuses_bad_queries() {
    let (mut client, _) = busy();
    let all = client.list_all("/v1/events");
    let quotes = client.list_all("/v1/events?type=quote.expired");
    assert_eq!(
        quotes,
        of_type(&all, "quote.expired")
            .into_iter()
            .cloned()
            .collect::<Vec<_>>()
    );
    let (status, page) = client.get("/v1/events?limit=3");
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap()[..], all[..3]);
    assert_eq!(page["has_more"], true);
    for bad in [
        "/v1/events?status=x",
        "/v1/events?type=a&type=b",
        "/v1/events?type=",
        "/v1/events?limit=0",
        "/v1/events?starting_after=evt_unknown",
    ] {
        let (status, body) = client.get(bad);
        assert_eq!(status, 400, "{bad}: {body}");
    }
    let (status, _) = client.post("/v1/events", &json!({}));
    assert_eq!(status, 405);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_feed_shows_only_the_collections_the_caller_may_read() {
    let (mut client, _) = busy();
    client.readable = Some(vec!["quotes".to_string()]);
    let events = client.list_all("/v1/events");
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("quote.")),
        "{events:?}"
    );
    // Another collection's event is not found by id either.
    client.readable = None;
    let all = client.list_all("/v1/events");
    let order_event = of_type(&all, "payment_order.created")[0]["id"].clone();
    client.readable = Some(vec!["quotes".to_string()]);
    let (status, _) = client.get(&format!("/v1/events/{}", order_event.as_str().unwrap()));
    assert_eq!(status, 404);
    client.readable = Some(Vec::new());
    assert!(client.list_all("/v1/events").is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_fresh_sandbox_shows_only_what_the_files_do_after_their_day_and_a_reset_clears_writes() {
    let mut client = Client::new();
    // On the files' day, nothing has happened yet.
    assert!(client.list_all("/v1/events").is_empty());
    advance(&mut client, 30);
    let events = client.list_all("/v1/events");
    assert!(!events.is_empty());
    assert!(
        events
            .iter()
            .all(|e| e["created"].as_i64().unwrap() > NOW - NOW % DAY),
        "nothing from before the files' day"
    );
    client.post("/v1/payment_orders", &order(100));
    client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert!(
        client.list_all("/v1/events").is_empty(),
        "a reset clears the writes and returns the clock"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_worker_works_out_what_a_key_may_read_for_the_feeds_paths_only() {
    let sandbox = sandbox();
    for feed in ["/v1/events", "/v1/events/evt_123"] {
        assert!(sandbox.reads_events(feed), "{feed}");
    }
    for other in [
        "/v1/events/",
        "/v1/eventsx",
        "/v1/events/a/b",
        "/v1/quotes",
        "/v1/sandbox/clock",
    ] {
        assert!(!sandbox.reads_events(other), "{other}");
    }
}
