//! A sandbox's webhook endpoints and what is owed to each: the events queued for it, oldest
//! first, and the log of every attempt. Pure data, like [`AccountState`](crate::AccountState),
//! kept beside it by the worker (its own stored value, so a backlog never eats into the
//! sandbox's objects) and handed to [`Sandbox::handle`](crate::Sandbox::handle) with each
//! request.
//!
//! Each endpoint holds a cursor into the sandbox's event feed: the sandbox time it has been
//! scanned through and the ids it has seen since that day began. A scan (after every change,
//! and as the sandbox's days pass) queues what the feed shows beyond it, rendered as
//! `GET /v1/events/{id}` shows it. Events appear in the feed only at or after the start of the
//! day a scan last reached (writes at the sandbox's now, what days passing do on their day), so
//! the ids of that day are all a cursor must remember. An endpoint sends one event at a time,
//! its queue's head, and the next only once a receiver answered 2xx: in order, nothing skipped.

use keygate_core::webhook;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// Most webhook endpoints one sandbox holds; another is a 409.
pub const MAX_WEBHOOK_ENDPOINTS: usize = 5;
/// Most events queued for one endpoint. Beyond it the cursor waits: the feed keeps the events,
/// and they are queued as the receiver catches up.
pub const MAX_QUEUED_EVENTS: usize = 200;
/// Most bytes of event bodies queued for one endpoint, whatever their count.
pub const MAX_QUEUED_BYTES: usize = 128 * 1024;
/// Attempts kept in an endpoint's delivery log, newest kept.
pub const MAX_DELIVERY_LOG: usize = 100;
/// The wait after a first failed attempt, doubling to an hour (`keygate_core::webhook::backoff`).
pub const WEBHOOK_FIRST_RETRY_SECONDS: i64 = 5;

/// The webhook endpoints of one sandbox. `Default` is none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hooks {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) endpoints: Vec<Endpoint>,
}

/// One registered endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Endpoint {
    pub id: String,
    /// Canonical form (`keygate_core::outbound::callable_url`).
    pub url: String,
    /// Signs every delivery; shown once, when the endpoint is created.
    pub secret: String,
    /// Event types it receives; `*` for all.
    pub enabled_events: Vec<String>,
    /// The collections whose objects it may be sent: those the key that registered it could
    /// read (a key limited to one product registers an endpoint limited to it).
    pub readable: Vec<String>,
    /// Sandbox time it was registered at.
    pub created: i64,
    /// The sandbox time the feed has been scanned through.
    pub through: i64,
    /// (id, sandbox time) of the events it has been given (or was registered after) since
    /// the day of `through` began.
    pub seen: Vec<(String, i64)>,
    pub queue: VecDeque<Queued>,
    pub log: VecDeque<Attempt>,
}

/// An event owed to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Queued {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// The event's JSON, as `GET /v1/events/{id}` shows it.
    pub body: String,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Real Unix seconds from which it may be tried (again).
    pub next_at: i64,
}

/// One try to deliver an event, as the delivery log shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Attempt {
    pub event_id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// 1 for the first try of this event.
    pub attempt: u32,
    /// Real Unix seconds.
    pub at: i64,
    /// The receiver's status; `None` when it could not be reached or did not answer in time.
    pub status: Option<u16>,
}

/// A delivery due now: the head of one endpoint's queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The endpoint's `we_` id.
    pub endpoint_id: String,
    /// Where to POST it: the endpoint's URL, judged again before each attempt by the caller.
    pub url: String,
    /// The `evt_` id of the event.
    pub event_id: String,
    /// The event's JSON, the request body.
    pub body: String,
    /// The `Keygate-Signature` header for this body at this time, under the endpoint's secret.
    pub signature: String,
}

impl Hooks {
    /// No endpoint registered: nothing to scan, nothing to deliver.
    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }

    /// The head of every endpoint whose head is due at `now` (real Unix seconds), signed at
    /// `now`: at most one per endpoint, so each receives its events in order.
    pub fn due(&self, now: i64) -> Vec<Delivery> {
        self.endpoints
            .iter()
            .filter_map(|endpoint| {
                let head = endpoint.queue.front().filter(|q| q.next_at <= now)?;
                Some(Delivery {
                    endpoint_id: endpoint.id.clone(),
                    url: endpoint.url.clone(),
                    event_id: head.event_id.clone(),
                    body: head.body.clone(),
                    signature: webhook::signature(endpoint.secret.as_bytes(), now, &head.body),
                })
            })
            .collect()
    }

    /// Records the outcome of an attempt to deliver `delivery`: a 2xx takes it off the queue,
    /// anything else (or no answer) sets when to try again, `first_retry` seconds doubling. An
    /// endpoint deleted meanwhile, or a head that changed, is left alone.
    pub fn record(&mut self, delivery: &Delivery, status: Option<u16>, now: i64, first_retry: i64) {
        let Some(endpoint) = self
            .endpoints
            .iter_mut()
            .find(|e| e.id == delivery.endpoint_id)
        else {
            return;
        };
        let Some(head) = endpoint
            .queue
            .front_mut()
            .filter(|q| q.event_id == delivery.event_id)
        else {
            return;
        };
        head.attempts += 1;
        let attempt = Attempt {
            event_id: head.event_id.clone(),
            kind: head.kind.clone(),
            attempt: head.attempts,
            at: now,
            status,
        };
        if status.is_some_and(|s| (200..300).contains(&s)) {
            endpoint.queue.pop_front();
        } else {
            head.next_at = now.saturating_add(webhook::backoff(head.attempts, first_retry));
        }
        if endpoint.log.len() == MAX_DELIVERY_LOG {
            endpoint.log.pop_front();
        }
        endpoint.log.push_back(attempt);
    }

    /// When the next queued delivery is due (real Unix seconds), if any is queued.
    pub fn next_attempt(&self) -> Option<i64> {
        self.endpoints
            .iter()
            .filter_map(|e| e.queue.front().map(|q| q.next_at))
            .min()
    }
}

impl Endpoint {
    /// Whether it receives events of type `kind` about objects of `collection`.
    pub(crate) fn wants(&self, kind: &str, collection: &str) -> bool {
        self.readable.iter().any(|c| c == collection)
            && self.enabled_events.iter().any(|e| e == "*" || e == kind)
    }

    /// Bytes of event bodies queued.
    pub(crate) fn queued_bytes(&self) -> usize {
        self.queue.iter().map(|q| q.body.len()).sum()
    }

    /// Whether one more event of `size` bytes fits its queue. An empty queue takes any one
    /// event, so none is too large ever to be sent.
    pub(crate) fn has_room(&self, size: usize) -> bool {
        self.queue.is_empty()
            || (self.queue.len() < MAX_QUEUED_EVENTS
                && self.queued_bytes() + size <= MAX_QUEUED_BYTES)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn endpoint(id: &str, events: &[&str]) -> Endpoint {
        Endpoint {
            id: id.into(),
            url: "https://hooks.example.com/".into(),
            secret: "whsec_test".into(),
            enabled_events: events.iter().map(|e| e.to_string()).collect(),
            readable: vec!["payment_orders".into()],
            created: 0,
            through: 0,
            seen: Vec::new(),
            queue: VecDeque::new(),
            log: VecDeque::new(),
        }
    }

    fn queued(id: &str, next_at: i64) -> Queued {
        Queued {
            event_id: id.into(),
            kind: "payment_order.created".into(),
            body: format!(r#"{{"id":"{id}"}}"#),
            attempts: 0,
            next_at,
        }
    }

    #[test]
    fn an_endpoint_sends_its_head_only_and_retries_it_with_backoff_until_acknowledged() {
        let mut e = endpoint("we_1", &["*"]);
        e.queue.extend([queued("evt_1", 100), queued("evt_2", 100)]);
        let mut hooks = Hooks { endpoints: vec![e] };
        let due = hooks.due(100);
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].event_id, "evt_1");
        assert!(webhook::verify(
            b"whsec_test",
            &due[0].signature,
            &due[0].body,
            100,
            300
        ));

        hooks.record(&due[0], Some(503), 100, 5);
        assert!(
            hooks.due(104).is_empty(),
            "backing off: the second waits too"
        );
        assert_eq!(hooks.next_attempt(), Some(105));
        hooks.record(&hooks.due(105)[0].clone(), None, 105, 5);
        assert_eq!(hooks.next_attempt(), Some(115));
        let third = hooks.due(115).remove(0);
        hooks.record(&third, Some(204), 115, 5);
        assert_eq!(hooks.due(115)[0].event_id, "evt_2");

        let log: Vec<(u32, Option<u16>)> = hooks.endpoints[0]
            .log
            .iter()
            .map(|a| (a.attempt, a.status))
            .collect();
        assert_eq!(log, [(1, Some(503)), (2, None), (3, Some(204))]);
    }

    #[test]
    fn an_outcome_for_a_head_that_is_gone_changes_nothing() {
        let mut e = endpoint("we_1", &["*"]);
        e.queue.push_back(queued("evt_1", 0));
        let mut hooks = Hooks { endpoints: vec![e] };
        let stale = Delivery {
            endpoint_id: "we_1".into(),
            url: String::new(),
            event_id: "evt_0".into(),
            body: String::new(),
            signature: String::new(),
        };
        let before = hooks.clone();
        hooks.record(&stale, Some(200), 1, 5);
        let other = Delivery {
            endpoint_id: "we_gone".into(),
            ..stale
        };
        hooks.record(&other, Some(200), 1, 5);
        assert_eq!(hooks, before);
    }

    #[test]
    fn the_delivery_log_keeps_the_newest_attempts() {
        let mut e = endpoint("we_1", &["*"]);
        e.queue.push_back(queued("evt_1", 0));
        let mut hooks = Hooks { endpoints: vec![e] };
        for n in 0..(MAX_DELIVERY_LOG as i64 + 7) {
            let head = hooks.due(i64::MAX).remove(0);
            hooks.record(&head, Some(500), n, 1);
        }
        let log = &hooks.endpoints[0].log;
        assert_eq!(log.len(), MAX_DELIVERY_LOG);
        assert_eq!(log.back().unwrap().attempt, MAX_DELIVERY_LOG as u32 + 7);
    }

    #[test]
    fn an_empty_queue_takes_any_event_and_a_full_one_waits() {
        let mut e = endpoint("we_1", &["*"]);
        assert!(
            e.has_room(MAX_QUEUED_BYTES + 1),
            "never stuck on one large event"
        );
        e.queue.push_back(queued("evt_1", 0));
        assert!(e.has_room(10));
        assert!(!e.has_room(MAX_QUEUED_BYTES));
        for n in 1..MAX_QUEUED_EVENTS {
            e.queue.push_back(queued(&format!("evt_{}", n + 1), 0));
        }
        assert!(!e.has_room(1));
    }

    #[test]
    fn an_endpoint_wants_its_types_of_the_collections_it_may_read() {
        let e = endpoint("we_1", &["payment_order.executed"]);
        assert!(e.wants("payment_order.executed", "payment_orders"));
        assert!(!e.wants("payment_order.created", "payment_orders"));
        assert!(!e.wants("payment_order.executed", "quotes"));
        assert!(endpoint("we_2", &["*"]).wants("payment_order.created", "payment_orders"));
    }
}
