//! Webhooks: every event is POSTed to the provider's `WEBHOOK_URL`, signed, at least once and in
//! order per account, retried with exponential backoff until a 2xx.
//!
//! `Keygate-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">` under
//! `WEBHOOK_SIGNING_SECRET`; a receiver recomputes it and rejects old timestamps (replays).
//! `scripts/demo-origin.mjs` has a copy-paste verifier.
//!
//! Two lanes per account (docs/key-safety.md "Webhooks"): the events of
//! [`SECURITY_EVENT_TYPES`] go first, in order among themselves, ahead of the account's other
//! pending events (which keep their own order), so a backlog of routine events (say,
//! `ip.would_deny` from many address blocks) cannot hold back a `key.leaked`. A security
//! event about a key takes that key's earlier pending `key.*` events into its lane with it
//! ([`promotes`]), so the events of one key are never reordered.

use crate::keys::constant_time_eq;
use crate::signing::hmac_hex;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// Event types delivered in the security lane, ahead of the account's other pending events:
/// what the account learns only from us, and must act on. A key found leaked (by a scanner,
/// GitHub, or its use over plain HTTP: `key.leaked`, `leak.reported`) has a grace period in
/// which to roll it; `key.revoked` says a grace ended. Changes made through the admin API
/// (`key.disabled`, `key.deleted`, …) stay routine: the caller that made them has its answer.
pub const SECURITY_EVENT_TYPES: [&str; 3] = ["key.leaked", "key.revoked", "leak.reported"];

/// The delivery lane of an event type: 0 (security, first) or 1 (everything else).
pub fn lane(kind: &str) -> u8 {
    if SECURITY_EVENT_TYPES.contains(&kind) {
        0
    } else {
        1
    }
}

/// Whether a pending routine event of type `kind` about the same key moves into the security
/// lane ahead of a security event about that key: the `key.*` events, which change the key a
/// receiver may be tracking, so that their order is kept. Observations (`ip.would_deny`) stay.
pub fn promotes(kind: &str) -> bool {
    kind.starts_with("key.")
}

/// An undelivered event, as [`next_attempt`] sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Undelivered<'a> {
    /// The account whose receiver gets it: each account sends one event at a time.
    pub account_id: &'a str,
    /// Its lane as queued (0 security, 1 routine): [`lane`] of its type, or 0 when a security
    /// event about its key took it along ([`promotes`]).
    pub lane: u8,
    /// Its place in the outbox: a lower one was queued first.
    pub seq: i64,
    /// When it may next be tried, unix seconds: when it was queued, or after its last failed
    /// attempt plus [`backoff`].
    pub next_at: i64,
}

/// When the next delivery is due, unix seconds: the earliest `next_at` among the heads of the
/// accounts, an account's head being the one event it may send (the oldest of its security lane
/// if that has any, else the oldest of its routine lane). `None` when nothing is undelivered.
///
/// Only heads count. An event behind a head waits for the head to be acknowledged, whatever its
/// own `next_at`, so it must not wake the sender: a head backing off after failures keeps its
/// account quiet until the head's next attempt, instead of a wake-up every moment for events
/// that may not be sent yet. A security event queued behind a routine head that backs off is
/// itself the head (its lane goes first), so it is due at once, never at the routine backoff.
pub fn next_attempt<'a>(undelivered: impl IntoIterator<Item = Undelivered<'a>>) -> Option<i64> {
    let mut heads: BTreeMap<&str, Undelivered<'a>> = BTreeMap::new();
    for event in undelivered {
        heads
            .entry(event.account_id)
            .and_modify(|head| {
                if (event.lane, event.seq) < (head.lane, head.seq) {
                    *head = event;
                }
            })
            .or_insert(event);
    }
    heads.values().map(|head| head.next_at).min()
}

/// The longest wait between two attempts.
pub const MAX_BACKOFF_SECONDS: i64 = 3_600;

/// The `Keygate-Signature` header for `body` sent at `t`.
pub fn signature(secret: &[u8], t: i64, body: &str) -> String {
    format!("t={t},v1={}", hmac_hex(secret, &format!("{t}.{body}")))
}

/// Whether `header` signs `body` under `secret`, at most `tolerance` seconds from `now`.
pub fn verify(secret: &[u8], header: &str, body: &str, now: i64, tolerance: i64) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", value)) => t = value.parse::<i64>().ok(),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let expected = hmac_hex(secret, &format!("{t}.{body}"));
    (now - t).abs() <= tolerance && constant_time_eq(expected.as_bytes(), v1.as_bytes())
}

/// Seconds to wait after the `attempts`-th failed attempt: `base`, doubling, at most an hour.
pub fn backoff(attempts: u32, base: i64) -> i64 {
    let doubling = 1i64
        .checked_shl(attempts.saturating_sub(1).min(30))
        .unwrap_or(i64::MAX);
    base.max(1)
        .saturating_mul(doubling)
        .min(MAX_BACKOFF_SECONDS)
}

/// One try to deliver an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds.
    pub at: i64,
    /// The receiver's HTTP status; `None` when it could not be reached or did not answer in time.
    pub status: Option<u16>,
}

/// The delivery log of one event: every attempt, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliveries {
    /// The `evt_` id of the event delivered.
    pub event_id: String,
    /// The event's account: only it may read the log.
    pub account_id: String,
    /// Oldest first.
    pub attempts: Vec<Attempt>,
    /// Unix seconds of the attempt that succeeded; `None` while undelivered.
    pub delivered_at: Option<i64>,
    /// When the next attempt is due, while it is not delivered.
    pub next_attempt_at: Option<i64>,
}

impl Deliveries {
    /// `GET /admin/v1/events/{id}/deliveries`.
    pub fn view(&self) -> Value {
        json!({
            "object": "webhook_deliveries",
            "event_id": self.event_id,
            "state": if self.delivered_at.is_some() { "delivered" } else { "pending" },
            "delivered_at": self.delivered_at,
            "next_attempt_at": if self.delivered_at.is_some() { None } else { self.next_attempt_at },
            "attempts": self.attempts,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn signatures_verify_and_tampering_does_not() {
        let body = r#"{"id":"evt_1"}"#;
        let header = signature(b"whsec", 1_700_000_000, body);
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify(b"whsec", &header, body, 1_700_000_100, 300));
        // (secret, header, body, now): another body, secret, a stale time, no timestamp.
        for (secret, header, body, now) in [
            (
                &b"whsec"[..],
                header.as_str(),
                r#"{"id":"evt_2"}"#,
                1_700_000_100,
            ),
            (b"other", &header, body, 1_700_000_100),
            (b"whsec", &header, body, 1_700_001_000),
            (b"whsec", "v1=00", body, 1_700_000_000),
        ] {
            assert!(!verify(secret, header, body, now, 300), "{header} at {now}");
        }
    }

    #[test]
    fn a_log_says_pending_until_delivered() {
        let mut log = Deliveries {
            event_id: "evt_1".into(),
            account_id: "acct_1".into(),
            attempts: vec![Attempt {
                at: 10,
                status: Some(503),
            }],
            delivered_at: None,
            next_attempt_at: Some(15),
        };
        assert_eq!(log.view()["state"], "pending");
        assert_eq!(log.view()["next_attempt_at"], 15);
        log.attempts.push(Attempt {
            at: 15,
            status: Some(200),
        });
        log.delivered_at = Some(15);
        let view = log.view();
        assert_eq!(view["state"], "delivered");
        assert!(view["next_attempt_at"].is_null());
        assert_eq!(view["attempts"][0], json!({"at": 10, "status": 503}));
        assert!(view.get("account_id").is_none());
    }

    #[test]
    fn backoff_doubles_up_to_an_hour() {
        let waits: Vec<i64> = (1..=12).map(|n| backoff(n, 5)).collect();
        assert_eq!(&waits[..5], [5, 10, 20, 40, 80]);
        assert_eq!(*waits.last().unwrap(), MAX_BACKOFF_SECONDS);
        assert_eq!(backoff(100, 5), MAX_BACKOFF_SECONDS);
        assert_eq!(backoff(1, 0), 1);
    }

    fn queued(account_id: &str, lane: u8, seq: i64, next_at: i64) -> Undelivered<'_> {
        Undelivered {
            account_id,
            lane,
            seq,
            next_at,
        }
    }

    #[test]
    fn only_an_accounts_head_says_when_the_next_delivery_is_due() {
        assert_eq!(next_attempt([]), None);
        // A refused head backing off until 160; the events queued behind it at 100 wait for it.
        let refused = [
            queued("acct_a", 1, 1, 160),
            queued("acct_a", 1, 2, 100),
            queued("acct_a", 1, 3, 101),
        ];
        assert_eq!(next_attempt(refused), Some(160));
        // Another account's head due sooner wakes the sender sooner; order of rows is irrelevant.
        let two = [
            queued("acct_b", 1, 7, 130),
            queued("acct_a", 1, 2, 100),
            queued("acct_a", 1, 1, 160),
            queued("acct_b", 1, 9, 100),
        ];
        assert_eq!(next_attempt(two), Some(130));
    }

    #[test]
    fn a_security_event_is_due_at_once_behind_a_routine_head_that_backs_off() {
        // The routine head failed and waits an hour; key.leaked was queued at 200, after it.
        let rows = [
            queued("acct_a", 1, 1, 3_800),
            queued("acct_a", 1, 2, 150),
            queued("acct_a", 0, 3, 200),
        ];
        assert_eq!(next_attempt(rows), Some(200));
        // A security head that backs off holds its account, routine events included.
        let rows = [queued("acct_a", 0, 3, 900), queued("acct_a", 1, 1, 150)];
        assert_eq!(next_attempt(rows), Some(900));
    }

    #[test]
    fn security_events_take_the_first_lane() {
        for (kind, want, promoted) in [
            ("key.leaked", 0, true),
            ("key.revoked", 0, true),
            ("leak.reported", 0, false),
            ("key.disabled", 1, true),
            ("key.deleted", 1, true),
            ("key.enabled", 1, true),
            ("key.updated", 1, true),
            ("key.rolled", 1, true),
            ("key.created", 1, true),
            ("ip.would_deny", 1, false),
            ("account.updated", 1, false),
        ] {
            assert_eq!(lane(kind), want, "{kind}");
            assert_eq!(promotes(kind), promoted, "{kind}");
        }
    }
}
