//! Per-key rate limits: `{"requests": n, "period_seconds": s}` on a key, or as its account's
//! default, enforced as a sliding window.
//!
//! A key design decision of this module: the window slides. A fixed window (or a token bucket
//! of capacity `n`) lets `2n` requests through around a window boundary; the contract is that
//! a key never gets more than `n` in *any* period of `s` seconds. So the limiter keeps the
//! times of the grants still inside the window — at most `n` of them, bounded by
//! [`MAX_REQUESTS`] — and a request passes only while fewer than `n` are. The worker keeps one
//! [`SlidingWindow`] per key in a Durable Object, which serialises the key's requests in one
//! location; the clock is passed in.

use crate::error::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::VecDeque;

/// Largest `requests` a limit may name: the window remembers one timestamp per request.
pub const MAX_REQUESTS: u32 = 100_000;
/// Longest `period_seconds`.
pub const MAX_PERIOD_SECONDS: u32 = 3_600;

/// At most `requests` in any `period_seconds`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimit {
    /// 1 to [`MAX_REQUESTS`] requests.
    pub requests: u32,
    /// The window, 1 to [`MAX_PERIOD_SECONDS`] seconds.
    pub period_seconds: u32,
}

impl RateLimit {
    /// Reads `{"requests": n, "period_seconds": s}` (`null` is `None`: no limit). Errors name
    /// `field.requests` / `field.period_seconds`.
    pub fn from_json(field: &str, value: &Value) -> Result<Option<RateLimit>, Vec<FieldError>> {
        let Value::Object(map) = value else {
            if value.is_null() {
                return Ok(None);
            }
            return Err(vec![FieldError::new(
                field,
                "must be {\"requests\": n, \"period_seconds\": s} or null",
            )]);
        };
        let mut errors = Vec::new();
        for name in map.keys() {
            if name != "requests" && name != "period_seconds" {
                errors.push(FieldError::new(
                    format!("{field}.{name}"),
                    "unknown field; expected requests and period_seconds",
                ));
            }
        }
        let mut number = |name: &str, max: u32| -> Option<u32> {
            match map.get(name).and_then(Value::as_u64) {
                Some(n) if (1..=u64::from(max)).contains(&n) => u32::try_from(n).ok(),
                _ => {
                    errors.push(FieldError::new(
                        format!("{field}.{name}"),
                        format!("is required: a whole number from 1 to {max}"),
                    ));
                    None
                }
            }
        };
        let requests = number("requests", MAX_REQUESTS);
        let period_seconds = number("period_seconds", MAX_PERIOD_SECONDS);
        match (requests, period_seconds) {
            (Some(requests), Some(period_seconds)) if errors.is_empty() => Ok(Some(RateLimit {
                requests,
                period_seconds,
            })),
            _ => Err(errors),
        }
    }
}

/// The limiter's answer for one request, and the `RateLimit-*` header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    /// Whether this request is within the limit (else 429).
    pub allowed: bool,
    /// `RateLimit-Limit`: the limit's `requests`.
    pub limit: u32,
    /// `RateLimit-Remaining`: requests still allowed in the window after this one.
    pub remaining: u32,
    /// Whole seconds until the oldest counted request leaves the window, freeing one more
    /// (`RateLimit-Reset`, and `Retry-After` on a refusal); 0 when none is counted.
    pub reset_seconds: u32,
}

impl RateDecision {
    /// `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset`.
    pub fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("RateLimit-Limit", self.limit.to_string()),
            ("RateLimit-Remaining", self.remaining.to_string()),
            ("RateLimit-Reset", self.reset_seconds.to_string()),
        ]
    }

    /// The 429 for a refused request, with `Retry-After` and the `RateLimit-*` values.
    pub fn refusal(&self) -> Error {
        Error::too_many_requests(
            format!(
                "This API key made {} requests in the last period, the most its rate limit \
                 allows. Retry after the time in Retry-After, or ask for a higher limit.",
                self.limit
            ),
            self.reset_seconds.max(1),
        )
    }
}

/// The grants of one key still inside its window, oldest first, in unix milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlidingWindow {
    grants: VecDeque<i64>,
}

impl SlidingWindow {
    /// A window from grants kept elsewhere (oldest first).
    pub fn from_grants(grants: impl IntoIterator<Item = i64>) -> Self {
        Self {
            grants: grants.into_iter().collect(),
        }
    }

    /// Grants one request at `now_ms` if fewer than `limit.requests` were granted in the
    /// `period_seconds` before it.
    pub fn take(&mut self, limit: RateLimit, now_ms: i64) -> RateDecision {
        let period_ms = i64::from(limit.period_seconds) * 1000;
        let n = limit.requests as usize;
        while self
            .grants
            .front()
            .is_some_and(|&at| at <= now_ms - period_ms)
        {
            self.grants.pop_front();
        }
        // A lowered limit: forget the oldest grants beyond the new size.
        while self.grants.len() > n {
            self.grants.pop_front();
        }
        let allowed = self.grants.len() < n;
        if allowed {
            self.grants.push_back(now_ms);
        }
        let remaining = n - self.grants.len();
        // When the oldest grant leaves the window, one more request fits again.
        let reset_seconds = self.grants.front().map_or(0, |&oldest| {
            let ms = (oldest + period_ms - now_ms).max(0);
            u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX)
        });
        RateDecision {
            allowed,
            limit: limit.requests,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_seconds,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const LIMIT: RateLimit = RateLimit {
        requests: 3,
        period_seconds: 10,
    };

    #[test]
    fn n_pass_then_429_until_the_oldest_grant_leaves_the_window() {
        let mut w = SlidingWindow::default();
        let t = 1_000_000;
        let d = [
            w.take(LIMIT, t),
            w.take(LIMIT, t + 100),
            w.take(LIMIT, t + 2_500),
        ];
        assert!(d.iter().all(|d| d.allowed));
        assert_eq!(d.map(|d| d.remaining), [2, 1, 0]);
        // The first grant leaves the window at t + 10 s.
        assert_eq!(d.map(|d| d.reset_seconds), [10, 10, 8]);
        let refused = w.take(LIMIT, t + 4_000);
        assert!(!refused.allowed);
        assert_eq!(refused.remaining, 0);
        assert_eq!(refused.reset_seconds, 6); // t + 10 s is when the first grant leaves
        assert_eq!(refused.refusal().retry_after, Some(6));
        assert!(w.take(LIMIT, t + 10_000).allowed);
        assert!(!w.take(LIMIT, t + 10_050).allowed);
        assert!(w.take(LIMIT, t + 10_100).allowed);
    }

    /// The contract: in no window of `period` are more than `n` requests granted, whatever
    /// the arrival pattern (a boundary burst is where a fixed window fails).
    #[test]
    fn no_period_ever_sees_more_than_n_grants() {
        let mut w = SlidingWindow::default();
        let mut granted = Vec::new();
        let mut t = 5_000_000i64;
        for i in 0..2_000i64 {
            t += (i * 7919) % 1_300; // irregular gaps, bursts included
            if w.take(LIMIT, t).allowed {
                granted.push(t);
            }
        }
        for (i, &start) in granted.iter().enumerate() {
            let inside = granted[i..]
                .iter()
                .take_while(|&&at| at < start + 10_000)
                .count();
            assert!(inside <= 3, "{inside} grants in the 10 s from {start}");
        }
        assert!(granted.len() > 100);
    }

    #[test]
    fn a_lowered_limit_applies_at_once() {
        let mut w = SlidingWindow::default();
        for i in 0..5 {
            assert!(
                w.take(
                    RateLimit {
                        requests: 5,
                        period_seconds: 60
                    },
                    i
                )
                .allowed
            );
        }
        let lower = RateLimit {
            requests: 2,
            period_seconds: 60,
        };
        assert!(!w.take(lower, 10).allowed);
    }

    #[test]
    fn limits_parse_strictly() {
        assert_eq!(RateLimit::from_json("rate_limit", &json!(null)), Ok(None));
        assert_eq!(
            RateLimit::from_json("rate_limit", &json!({"requests": 5, "period_seconds": 60})),
            Ok(Some(RateLimit {
                requests: 5,
                period_seconds: 60
            }))
        );
        for (bad, fields) in [
            (json!(5), vec!["rate_limit"]),
            (
                json!({}),
                vec!["rate_limit.requests", "rate_limit.period_seconds"],
            ),
            (
                json!({"requests": 0, "period_seconds": 60}),
                vec!["rate_limit.requests"],
            ),
            (
                json!({"requests": 5, "period_seconds": 3601}),
                vec!["rate_limit.period_seconds"],
            ),
            (
                json!({"requests": 5.5, "period_seconds": 1}),
                vec!["rate_limit.requests"],
            ),
            (
                json!({"requests": 5, "period_seconds": 1, "burst": 2}),
                vec!["rate_limit.burst"],
            ),
        ] {
            let errors = RateLimit::from_json("rate_limit", &bad).unwrap_err();
            let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(got, fields, "{bad}");
        }
    }
}
