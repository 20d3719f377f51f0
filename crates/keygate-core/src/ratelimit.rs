//! Rate limits: `{"requests": n, "period_seconds": s}` on a key, or on an account (one budget
//! shared by all its keys), enforced as sliding windows; and the admin budgets of an account's
//! `keys:manage` keys, counted the same way.
//!
//! A key design decision of this module: the window slides. A fixed window (or a token bucket
//! of capacity `n`) lets `2n` requests through around a window boundary; the contract is that
//! a key never gets more than `n` in *any* period of `s` seconds. So the limiter keeps the
//! times of the grants still inside the window — at most `n` of them, bounded by
//! [`MAX_REQUESTS`] — and a request passes only while fewer than `n` are.
//!
//! The second decision: an account's windows live together. [`AccountWindows`] holds the
//! account's window, the windows of its keys that carry a limit of their own, and the admin
//! budgets; one request is a list of [`Count`]s (its key's window, its account's) taken in one
//! step: granted only if every window has room, and then counted in all of them; a refused
//! request is counted in none. So no number of keys, children of a manager or roll successors
//! gets an account more than its `n`, and a key's own limit can only be tighter. The worker
//! keeps one [`AccountWindows`] per account in a Durable Object named by the account id, which
//! serialises the account's requests in one location; the clock is passed in.

use crate::error::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

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

/// Whose limit a window holds: it decides the refusal's message (and nothing else).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WindowKind {
    /// A key's own `rate_limit`.
    Key,
    /// The account's `rate_limit`, shared by all its keys.
    Account,
    /// The admin writes of the account's `keys:manage` keys (`MANAGER_WRITES_PER_MINUTE`).
    AdminWrites,
    /// The admin reads of the account's `keys:manage` keys (`MANAGER_READS_PER_MINUTE`).
    AdminReads,
}

/// One request counted against one window of an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Count {
    /// The window's name within the account: `key:<key_id>`, `account`, `admin:writes`,
    /// `admin:reads`.
    pub window: String,
    /// Whose limit it is.
    pub kind: WindowKind,
    /// The limit to count against.
    pub limit: RateLimit,
}

impl Count {
    /// Against a key's own limit.
    pub fn key(key_id: &str, limit: RateLimit) -> Self {
        Self {
            window: format!("key:{key_id}"),
            kind: WindowKind::Key,
            limit,
        }
    }

    /// Against the account's limit, shared by all its keys.
    pub fn account(limit: RateLimit) -> Self {
        Self {
            window: "account".into(),
            kind: WindowKind::Account,
            limit,
        }
    }

    /// Against one of the account's admin budgets: `per_minute` requests in any 60 s.
    pub fn admin(kind: WindowKind, per_minute: u32) -> Self {
        let window = match kind {
            WindowKind::AdminReads => "admin:reads",
            _ => "admin:writes",
        };
        Self {
            window: window.into(),
            kind,
            limit: RateLimit {
                requests: per_minute.clamp(1, MAX_REQUESTS),
                period_seconds: 60,
            },
        }
    }
}

/// The limiter's answer for one request, and the `RateLimit-*` header values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateDecision {
    /// Whether this request is within the limit (else 429).
    pub allowed: bool,
    /// The window these values describe: when granted, the binding one (fewest remaining);
    /// when refused, the refusing one that frees up last.
    pub kind: WindowKind,
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

    /// The 429 for a refused request, with `Retry-After`; the message names whose limit it is.
    pub fn refusal(&self) -> Error {
        let n = self.limit;
        let message = match self.kind {
            WindowKind::Key => format!(
                "This API key made {n} requests in the last period, the most its rate limit \
                 allows. Retry after the time in Retry-After, or ask for a higher limit."
            ),
            WindowKind::Account => format!(
                "This account's keys made {n} requests in the last period, the most the \
                 account's rate limit allows (one limit shared by all its keys). Retry after the \
                 time in Retry-After, or ask for a higher limit."
            ),
            WindowKind::AdminWrites => format!(
                "This account's keys:manage keys made {n} admin changes in the last minute, the \
                 account's budget (MANAGER_WRITES_PER_MINUTE, shared by every manager key of the \
                 account and the keys it minted). Retry after the time in Retry-After."
            ),
            WindowKind::AdminReads => format!(
                "This account's keys:manage keys made {n} admin reads in the last minute, the \
                 account's budget (MANAGER_READS_PER_MINUTE, shared by every manager key of the \
                 account and the keys it minted). Retry after the time in Retry-After."
            ),
        };
        Error::too_many_requests(message, self.reset_seconds.max(1))
    }
}

/// The grants of one window still inside it, oldest first, in unix milliseconds.
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
        self.forget(limit, now_ms);
        let allowed = self.has_room(limit);
        if allowed {
            self.grants.push_back(now_ms);
        }
        self.state(WindowKind::Key, limit, now_ms, allowed)
    }

    /// Drops grants that left the window, and (a lowered limit) the oldest beyond its size.
    fn forget(&mut self, limit: RateLimit, now_ms: i64) {
        let period_ms = i64::from(limit.period_seconds) * 1000;
        while self
            .grants
            .front()
            .is_some_and(|&at| at <= now_ms - period_ms)
        {
            self.grants.pop_front();
        }
        while self.grants.len() > limit.requests as usize {
            self.grants.pop_front();
        }
    }

    fn has_room(&self, limit: RateLimit) -> bool {
        self.grants.len() < limit.requests as usize
    }

    fn state(
        &self,
        kind: WindowKind,
        limit: RateLimit,
        now_ms: i64,
        allowed: bool,
    ) -> RateDecision {
        let period_ms = i64::from(limit.period_seconds) * 1000;
        let remaining = (limit.requests as usize).saturating_sub(self.grants.len());
        // When the oldest grant leaves the window, one more request fits again.
        let reset_seconds = self.grants.front().map_or(0, |&oldest| {
            let ms = (oldest + period_ms - now_ms).max(0);
            u32::try_from((ms + 999) / 1000).unwrap_or(u32::MAX)
        });
        RateDecision {
            allowed,
            kind,
            limit: limit.requests,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset_seconds,
        }
    }

    /// Whether no grant of any period could still be inside the window.
    fn is_idle(&self, now_ms: i64) -> bool {
        self.grants
            .back()
            .is_none_or(|&last| last <= now_ms - i64::from(MAX_PERIOD_SECONDS) * 1000)
    }
}

/// Idle windows are dropped every this many takes.
const DROP_IDLE_EVERY: u32 = 256;

/// Every window of one account, by name ([`Count::window`]).
#[derive(Debug, Clone, Default)]
pub struct AccountWindows {
    windows: HashMap<String, SlidingWindow>,
    takes: u32,
}

impl AccountWindows {
    /// The windows from grants kept elsewhere: `(window name, unix ms)`, oldest first.
    pub fn from_grants(grants: impl IntoIterator<Item = (String, i64)>) -> Self {
        let mut windows: HashMap<String, SlidingWindow> = HashMap::new();
        for (name, at) in grants {
            windows.entry(name).or_default().grants.push_back(at);
        }
        Self { windows, takes: 0 }
    }

    /// How many windows are held (idle ones are dropped as takes go on).
    pub fn len(&self) -> usize {
        self.windows.len()
    }

    /// Whether no window is held.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Counts one request at `now_ms` against every one of `counts` at once: granted only if
    /// each window has room, and then recorded in all of them; refused, it is recorded in
    /// none. Granted, the answer describes the binding window (fewest remaining, then the
    /// latest reset); refused, the refusing window that frees up last, so that `Retry-After` is
    /// when the request could pass. `None` when `counts` is empty (nothing limits it).
    pub fn take(&mut self, counts: &[Count], now_ms: i64) -> Option<RateDecision> {
        self.takes = self.takes.wrapping_add(1);
        if self.takes.is_multiple_of(DROP_IDLE_EVERY) {
            self.windows.retain(|_, w| !w.is_idle(now_ms));
        }
        for count in counts {
            self.windows
                .entry(count.window.clone())
                .or_default()
                .forget(count.limit, now_ms);
        }
        let allowed = counts.iter().all(|count| {
            self.windows
                .get(&count.window)
                .is_some_and(|w| w.has_room(count.limit))
        });
        let mut answer: Option<RateDecision> = None;
        for count in counts {
            let Some(window) = self.windows.get_mut(&count.window) else {
                continue;
            };
            if allowed {
                window.grants.push_back(now_ms);
            } else if window.has_room(count.limit) {
                continue; // not what refuses it
            }
            let state = window.state(count.kind, count.limit, now_ms, allowed);
            let binds = answer.is_none_or(|best| {
                (state.remaining, std::cmp::Reverse(state.reset_seconds))
                    < (best.remaining, std::cmp::Reverse(best.reset_seconds))
            });
            if binds {
                answer = Some(state);
            }
        }
        answer
    }

    /// The grants of `window`, oldest first (for tests and storage checks).
    pub fn grants(&self, window: &str) -> Vec<i64> {
        self.windows
            .get(window)
            .map(|w| w.grants.iter().copied().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests;
