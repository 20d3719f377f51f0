//! What the edge reports back about keys: their use (`last_used_at`, `last_used_ip`,
//! `ips_seen`), the true reasons of refused requests, and addresses a report-only allowlist
//! would have refused. Isolates collect these off the hot path and send them in batches
//! (`Command::RecordActivity`, from the worker itself, never from the admin API); the account
//! reads them back on the key view, at `GET /admin/v1/requests/{id}`, and as `ip.would_deny`
//! events.
//!
//! A key design decision of this module: what one tenant's traffic can store is bounded, and
//! what is not stored is counted, never silently lost (docs/admin-api.md "Bounded storage").
//! The Registry is the authority (many isolates report): a refusal is stored whole only while
//! its key has fewer than [`REFUSALS_PER_KEY_PER_MINUTE`] and its account fewer than
//! [`REFUSALS_PER_ACCOUNT_PER_MINUTE`] stored in the same UTC minute, and a rate-limit refusal
//! (429) only as its key's first of that minute. The rest add to the key's `refusals.counted`
//! and to `similar_not_stored` of the key's latest stored refusal of that minute (an update,
//! never a new row). An `ip.would_deny` event is recorded once per key, address block
//! ([`crate::ip::prefix`]: /24, /64) and UTC day; later reports add to `would_deny.counted`.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Addresses kept per key in `ips_seen` (the most recent).
pub const MAX_IPS_SEEN: usize = 20;
/// How long a refused request's reason can be looked up.
pub const DENIAL_RETENTION_SECONDS: i64 = 7 * 24 * 60 * 60;
/// Refusals of one key stored whole per UTC minute; past it they are counted.
pub const REFUSALS_PER_KEY_PER_MINUTE: u64 = 10;
/// Refusals of one account (all its keys) stored whole per UTC minute; past it they are counted.
pub const REFUSALS_PER_ACCOUNT_PER_MINUTE: u64 = 100;
/// The status of a rate-limit refusal: only a key's first of a minute is stored whole.
pub const RATE_LIMITED_STATUS: u16 = 429;
/// One `ip.would_deny` event per key and address block per UTC day of this many seconds.
pub const WOULD_DENY_PERIOD_SECONDS: i64 = 24 * 60 * 60;

/// The UTC minute of `at` (unix seconds), as minutes since the epoch: refusal caps count per
/// minute.
pub fn minute_of(at: i64) -> i64 {
    at.div_euclid(60)
}

/// The UTC day of `at` (unix seconds), as days since the epoch: `ip.would_deny` events are
/// recorded once per key and address block per day.
pub fn day_of(at: i64) -> i64 {
    at.div_euclid(WOULD_DENY_PERIOD_SECONDS)
}

/// A key's use as one isolate saw it since its last report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUse {
    /// The `key_` id that was used.
    pub key_id: String,
    /// Its account's `acct_` id.
    pub account_id: String,
    /// Unix seconds of the latest use in the report.
    pub last_used_at: i64,
    /// The address of the latest use (`CF-Connecting-IP`), when known.
    pub last_used_ip: Option<String>,
    /// Addresses seen since the last report: requests from each, and when the last was.
    pub ips: Vec<IpSeen>,
}

/// A successor's first use at the edge, which starts its predecessor's "after first use" grace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstUse {
    /// The successor's `key_` id.
    pub key_id: String,
    /// Its account's `acct_` id.
    pub account_id: String,
    /// When (unix s).
    pub at: i64,
}

/// `{key_id, account_id, refusals, would_deny}`: per key, how many refusals and would-deny
/// reports the isolate counted without sending them whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counted {
    /// The `key_` id the refusals and reports were about.
    pub key_id: String,
    /// Its account's `acct_` id.
    pub account_id: String,
    /// Refused requests of the key the isolate did not send whole.
    pub refusals: u64,
    /// Would-deny reports of the key the isolate did not send whole.
    pub would_deny: u64,
}

/// A key's use, as stored: the latest use, the most recent addresses with counts, and how
/// many of its refusals and would-deny reports were stored or only counted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Unix seconds of the latest use; `None` before the first.
    pub last_used_at: Option<i64>,
    /// The address of the latest use, when known.
    pub last_used_ip: Option<String>,
    /// Most recent first: `{ip, count, last_seen_at}`.
    pub ips_seen: Vec<IpSeen>,
    /// The key's refused requests since it was created: stored whole, or counted past the caps.
    #[serde(default)]
    pub refusals: RefusalCounts,
    /// The key's would-deny reports: recorded as events, or counted (same block, same day).
    #[serde(default)]
    pub would_deny: WouldDenyCounts,
}

/// A key's refused requests. JSON: `{"stored", "counted"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusalCounts {
    /// Stored whole, each readable at `GET /admin/v1/requests/{id}` for 7 days.
    pub stored: u64,
    /// Past the caps (or not sent whole by an isolate): counted only.
    pub counted: u64,
}

/// A key's would-deny reports. JSON: `{"events", "counted"}`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldDenyCounts {
    /// Recorded as `ip.would_deny` events.
    pub events: u64,
    /// Of an address block that already had its event that day (or not sent whole by an
    /// isolate): counted only.
    pub counted: u64,
}

/// One address a key was used from. JSON: `{"ip", "count", "last_seen_at"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpSeen {
    /// The client address, as `CF-Connecting-IP` gave it.
    pub ip: String,
    /// Requests from it with this key.
    pub count: u64,
    /// Unix seconds of the latest of them.
    pub last_seen_at: i64,
}

impl Usage {
    /// Adds one report. Reports from several isolates may arrive out of order: the latest use
    /// wins, counts add up, and the list keeps the [`MAX_IPS_SEEN`] most recently seen.
    pub fn merge(&mut self, report: &KeyUse) {
        if self.last_used_at.is_none_or(|at| report.last_used_at >= at) {
            self.last_used_at = Some(report.last_used_at);
            self.last_used_ip = report.last_used_ip.clone();
        }
        for reported in &report.ips {
            match self.ips_seen.iter_mut().find(|seen| seen.ip == reported.ip) {
                Some(seen) => {
                    seen.count += reported.count;
                    seen.last_seen_at = seen.last_seen_at.max(reported.last_seen_at);
                }
                None => self.ips_seen.push(reported.clone()),
            }
        }
        self.ips_seen.sort_by(|a, b| {
            b.last_seen_at
                .cmp(&a.last_seen_at)
                .then(b.count.cmp(&a.count))
        });
        self.ips_seen.truncate(MAX_IPS_SEEN);
    }

    /// The fields the key view shows.
    pub fn view_fields(&self) -> [(&'static str, Value); 5] {
        [
            ("last_used_at", json!(self.last_used_at)),
            ("last_used_ip", json!(self.last_used_ip)),
            ("ips_seen", json!(self.ips_seen)),
            ("refusals", json!(self.refusals)),
            ("would_deny", json!(self.would_deny)),
        ]
    }
}

/// A refused edge request made with one of our keys, with its true reason (the public answer
/// may be a uniform 404 under `HIDE_FORBIDDEN`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Denial {
    /// The `req_` id the client was answered with; how the account looks the denial up.
    pub request_id: String,
    /// The key's account: only it may look the denial up.
    pub account_id: String,
    /// The key the request was made with.
    pub key_id: String,
    /// The status the client got.
    pub status: u16,
    /// The true reason ([`Error::true_reason`](crate::Error::true_reason)), even when the answer
    /// hid it.
    pub reason: String,
    /// The request method, as sent.
    pub method: String,
    /// The request path as sent, without the query string.
    pub path: String,
    /// The client address (`CF-Connecting-IP`), when known.
    pub ip: Option<String>,
    /// When it was refused, unix seconds.
    pub at: i64,
}

/// A refusal as stored: the refusal, and how many later refusals of its key in the same UTC
/// minute were counted instead of stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDenial {
    /// The refusal as reported.
    pub denial: Denial,
    /// Later refusals of the same key in the same UTC minute that were past the caps: counted
    /// on this, the key's latest stored refusal of that minute, instead of stored.
    pub similar_not_stored: u64,
}

impl StoredDenial {
    /// `GET /admin/v1/requests/{request_id}`.
    pub fn view(&self) -> Value {
        let d = &self.denial;
        json!({
            "object": "request",
            "request_id": d.request_id,
            "key_id": d.key_id,
            "decision": "denied",
            "status": d.status,
            "reason": d.reason,
            "method": d.method,
            "path": d.path,
            "ip": d.ip,
            "at": d.at,
            "similar_not_stored": self.similar_not_stored,
        })
    }
}

/// What one key and its account have stored of refusals in one UTC minute: what the caps are
/// checked against.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefusalMinute {
    /// Refusals of the account (all its keys) stored in the minute.
    pub account_stored: u64,
    /// Refusals of the key stored in the minute.
    pub key_stored: u64,
    /// Whether one of them is a rate-limit refusal ([`RATE_LIMITED_STATUS`]).
    pub key_rate_limited: bool,
    /// The `req_` id of the key's latest stored refusal of the minute, which counts the rest.
    pub latest: Option<String>,
}

/// An address outside an allowlist in report mode, let through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WouldDeny {
    /// The key's account, which the `ip.would_deny` event is recorded for.
    pub account_id: String,
    /// The key that was used.
    pub key_id: String,
    /// The address outside the allowlist (`CF-Connecting-IP`).
    pub ip: String,
    /// The `req_` id of the request that was let through.
    pub request_id: String,
    /// When it was let through, unix seconds.
    pub at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A report whose addresses were last seen in the order given, the last one at `at`.
    fn report(at: i64, ips: &[(&str, u64)]) -> KeyUse {
        let first = at - ips.len() as i64 + 1;
        KeyUse {
            key_id: "key_1".into(),
            account_id: "acct_1".into(),
            last_used_at: at,
            last_used_ip: ips.last().map(|(ip, _)| ip.to_string()),
            ips: ips
                .iter()
                .zip(first..)
                .map(|((ip, n), last_seen_at)| IpSeen {
                    ip: ip.to_string(),
                    count: *n,
                    last_seen_at,
                })
                .collect(),
        }
    }

    #[test]
    fn reports_merge_in_any_order() {
        let mut usage = Usage::default();
        usage.merge(&report(200, &[("10.0.0.1", 3)]));
        usage.merge(&report(100, &[("10.0.0.1", 2), ("10.0.0.2", 1)]));
        assert_eq!(usage.last_used_at, Some(200));
        assert_eq!(usage.last_used_ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(usage.ips_seen[0].ip, "10.0.0.1");
        assert_eq!(usage.ips_seen[0].count, 5);
        assert_eq!(usage.ips_seen[1].count, 1);
    }

    #[test]
    fn addresses_of_one_report_keep_their_own_times() {
        let mut usage = Usage::default();
        usage.merge(&report(
            100,
            &[("10.0.0.1", 3), ("10.0.0.2", 2), ("10.0.0.3", 1)],
        ));
        let order: Vec<(&str, i64)> = usage
            .ips_seen
            .iter()
            .map(|s| (s.ip.as_str(), s.last_seen_at))
            .collect();
        assert_eq!(
            order,
            [("10.0.0.3", 100), ("10.0.0.2", 99), ("10.0.0.1", 98)]
        );
    }

    #[test]
    fn the_most_recent_addresses_are_kept() {
        let mut usage = Usage::default();
        for i in 0..(MAX_IPS_SEEN as i64 + 5) {
            usage.merge(&report(i, &[(&format!("10.0.0.{i}"), 1)]));
        }
        assert_eq!(usage.ips_seen.len(), MAX_IPS_SEEN);
        assert_eq!(usage.ips_seen[0].ip, format!("10.0.0.{}", MAX_IPS_SEEN + 4));
        assert!(usage.ips_seen.iter().all(|s| s.last_seen_at >= 5));
    }
}
