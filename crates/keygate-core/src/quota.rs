//! Quotas and credits (docs/quotas.md): a volume per calendar period, counted exactly across
//! isolates by leases drawn from one ledger per account.
//!
//! This module is the pure part: the limits as the admin API writes them, the calendar
//! periods in UTC, and the [`Ledger`] an account's counter object keeps. A lease is granted
//! only from what is neither used nor leased, so the isolates together never grant more than a
//! counter's limit (the overshoot bound is zero); a lease that is never settled counts as used
//! when it expires, which keeps the bound at the price of an undershoot of at most that lease.

use crate::calendar::{civil_from_days, days_from_civil};
use crate::error::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::Value;

mod leases;
mod ledger;

pub use leases::{
    FULL_FOR_MS, Leases, Owed, QuotaStatus, RefusedCount, SETTLE_AFTER_MS, Settlement,
    USABLE_FOR_MS,
};
pub use ledger::{
    Crossing, CrossingKind, Effects, Lane, LeaseReply, Ledger, MAX_OPEN_LEASES, Standing, Tally,
};

/// Largest `requests` of a quota (and `remaining`/`amount` of credits).
pub const MAX_VOLUME: u64 = 1_000_000_000;
/// Below this many free units a lease is of exactly one request: the last requests of a
/// period are decided one by one.
pub const EXACT_BELOW: u64 = 64;
/// The largest lease.
pub const MAX_LEASE: u64 = 100;
/// Seconds a lease may be drawn from before it counts as used.
pub const LEASE_SECONDS: i64 = 10;

/// A calendar period in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    /// From 00:00 UTC.
    Day,
    /// From the first of the month, 00:00 UTC.
    Month,
}

impl Period {
    /// The start of the period that `at` (Unix seconds) is in.
    pub fn start(self, at: i64) -> i64 {
        let day = at.div_euclid(86_400);
        match self {
            Period::Day => day * 86_400,
            Period::Month => {
                let (y, m, _) = civil_from_days(day);
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    /// The start of the next period: when a count starts afresh (`Retry-After`'s target).
    pub fn end(self, at: i64) -> i64 {
        let start = self.start(at);
        match self {
            Period::Day => start + 86_400,
            Period::Month => {
                let (y, m, _) = civil_from_days(start.div_euclid(86_400));
                let (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                days_from_civil(y, m, 1) * 86_400
            }
        }
    }

    fn parse(field: &str, value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<Self> {
        match value.and_then(Value::as_str) {
            Some("day") => Some(Period::Day),
            Some("month") => Some(Period::Month),
            _ => {
                errors.push(FieldError::new(field, "is required: \"day\" or \"month\""));
                None
            }
        }
    }
}

/// `{"requests": n, "period": "day"|"month", "product": "payments"}`: at most `requests`
/// granted requests per period, of one product's routes or of all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quota {
    /// 1 to [`MAX_VOLUME`].
    pub requests: u64,
    /// The calendar period counted.
    pub period: Period,
    /// Only this product's routes count; `None`: every route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
}

impl Quota {
    /// Reads the admin API's `quota` field (`null`: none). Errors name `field.requests`,
    /// `field.period`, `field.product`; whether the product exists is the caller's to check.
    pub fn from_json(field: &str, value: &Value) -> Result<Option<Quota>, Vec<FieldError>> {
        let Some(map) = object_or_null(
            field,
            value,
            "{\"requests\": n, \"period\": \"day\"|\"month\"}",
        )?
        else {
            return Ok(None);
        };
        let mut errors = unknown_fields(field, map, &["requests", "period", "product"]);
        let requests = volume(
            &format!("{field}.requests"),
            map.get("requests"),
            &mut errors,
        );
        let period = Period::parse(&format!("{field}.period"), map.get("period"), &mut errors);
        let product = match map.get("product") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) if !p.is_empty() => Some(p.clone()),
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{field}.product"),
                    "must be a product id, or left out for every route",
                ));
                None
            }
        };
        match (requests, period) {
            (Some(requests), Some(period)) if errors.is_empty() => Ok(Some(Quota {
                requests,
                period,
                product,
            })),
            _ => Err(errors),
        }
    }

    /// Whether `other` is no larger: the same period and product (or `self` of all routes),
    /// at most as many requests. A manager may give a child key only what it has itself.
    pub fn covers(&self, other: &Quota) -> bool {
        self.period == other.period
            && (self.product.is_none() || self.product == other.product)
            && other.requests <= self.requests
    }
}

/// `{"amount": m, "period": "day"|"month"}`: the balance is set to `amount` at the start of
/// every period after the one the credits were set in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refill {
    /// 1 to [`MAX_VOLUME`].
    pub amount: u64,
    /// When the balance is refilled.
    pub period: Period,
}

/// A key's credits: `{"remaining": n, "refill": {...}|null}`, each granted request costing
/// its route's `cost`. `set_at` (not written by the admin API: the time of the write that set
/// the credits) names the balance, so setting credits again starts a fresh balance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credits {
    /// The balance from `set_at` to the end of its period (or for ever, without refill).
    pub remaining: u64,
    /// The refill, if the balance is refilled.
    #[serde(default)]
    pub refill: Option<Refill>,
    /// Unix seconds of the write that set the credits.
    #[serde(default)]
    pub set_at: i64,
    /// The key the balance was set on: a roll's successor keeps it, and so draws from the
    /// same balance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance_of: Option<String>,
    /// How many times the key's credits were set before: with `set_at`, names the balance, so
    /// two top-ups within one second are two balances.
    #[serde(default)]
    pub serial: u64,
}

impl Credits {
    /// These credits, set on `key_id` unless they were set on a key already (a roll).
    pub fn of(mut self, key_id: &str) -> Self {
        if self.balance_of.is_none() {
            self.balance_of = Some(key_id.to_string());
        }
        self
    }

    /// Reads the admin API's `credits` field (`null`: none); `set_at` is `now`. `remaining`
    /// may be 0 (a key that must be topped up before its first call).
    pub fn from_json(
        field: &str,
        value: &Value,
        now: i64,
    ) -> Result<Option<Credits>, Vec<FieldError>> {
        let Some(map) = object_or_null(
            field,
            value,
            "{\"remaining\": n, \"refill\": {\"amount\": m, \"period\": \"day\"|\"month\"}}",
        )?
        else {
            return Ok(None);
        };
        let mut errors = unknown_fields(field, map, &["remaining", "refill"]);
        let remaining = match map.get("remaining").and_then(Value::as_u64) {
            Some(n) if n <= MAX_VOLUME => Some(n),
            _ => {
                errors.push(FieldError::new(
                    format!("{field}.remaining"),
                    format!("is required: a whole number from 0 to {MAX_VOLUME}"),
                ));
                None
            }
        };
        let refill = match map.get("refill") {
            None | Some(Value::Null) => None,
            Some(Value::Object(refill)) => {
                let prefix = format!("{field}.refill");
                errors.extend(unknown_fields(&prefix, refill, &["amount", "period"]));
                let amount = volume(
                    &format!("{prefix}.amount"),
                    refill.get("amount"),
                    &mut errors,
                );
                let period = Period::parse(
                    &format!("{prefix}.period"),
                    refill.get("period"),
                    &mut errors,
                );
                amount
                    .zip(period)
                    .map(|(amount, period)| Refill { amount, period })
            }
            Some(_) => {
                errors.push(FieldError::new(
                    format!("{field}.refill"),
                    "must be {\"amount\": m, \"period\": \"day\"|\"month\"} or null",
                ));
                None
            }
        };
        match remaining {
            Some(remaining) if errors.is_empty() => Ok(Some(Credits {
                remaining,
                refill,
                set_at: now,
                balance_of: None,
                serial: 0,
            })),
            _ => Err(errors),
        }
    }

    /// Whether `other` is no larger: no more remaining, and a refill no larger of the same
    /// period (or none). A manager may give a child key only what it holds itself.
    pub fn covers(&self, other: &Credits) -> bool {
        let refill = match (self.refill, other.refill) {
            (_, None) => true,
            (Some(own), Some(child)) => own.period == child.period && child.amount <= own.amount,
            (None, Some(_)) => false,
        };
        refill && other.remaining <= self.remaining
    }
}

/// What a counter counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CounterKind {
    /// Granted requests in a calendar period.
    Quota,
    /// A key's credits: the cost of its granted requests.
    Credits,
}

/// One counter a request is counted in, as the edge states it from the key's record: which,
/// its limit in the current period, and what one request costs in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counter {
    /// Quota or credits.
    pub kind: CounterKind,
    /// The key whose counter it is; `None`: the account's quota, shared by all its keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The product a quota is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Units in the current period.
    pub limit: u64,
    /// Unix seconds: the start of the current period.
    pub period_start: i64,
    /// Unix seconds: its end (the reset); `None`: credits that are never refilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<i64>,
    /// Units one request takes: 1 for a quota, the route's cost for credits.
    pub cost: u64,
    /// The day/month period, or the credits' `set_at`: part of the counter's name, so a
    /// changed period or a new balance is a new counter.
    pub basis: String,
}

impl Counter {
    /// The counter's name in the account's ledger.
    pub fn name(&self) -> String {
        let kind = match self.kind {
            CounterKind::Quota => "quota",
            CounterKind::Credits => "credits",
        };
        format!(
            "{kind}:{}:{}:{}",
            self.key_id.as_deref().unwrap_or("account"),
            self.product.as_deref().unwrap_or("*"),
            self.basis
        )
    }
}

/// The counters a granted request of a key is counted in at `now`: the account's quota and
/// the key's (each if it applies to the route's `product`), and the key's credits at the
/// route's `cost`. Empty: the request is not metered.
pub fn counters(
    account_quota: Option<&Quota>,
    key_id: &str,
    key_quota: Option<&Quota>,
    credits: Option<&Credits>,
    product: Option<&str>,
    cost: u64,
    now: i64,
) -> Vec<Counter> {
    let quota = |quota: &Quota, key_id: Option<&str>| {
        let applies = quota.product.as_deref().is_none_or(|p| Some(p) == product);
        applies.then(|| Counter {
            kind: CounterKind::Quota,
            key_id: key_id.map(str::to_string),
            product: quota.product.clone(),
            limit: quota.requests,
            period_start: quota.period.start(now),
            period_end: Some(quota.period.end(now)),
            cost: 1,
            basis: period_name(quota.period).to_string(),
        })
    };
    let credits = credits.map(|credits| {
        let (period_start, period_end, limit) = match credits.refill {
            Some(refill) => {
                let start = refill.period.start(now);
                // The balance set in this period holds until its end; a refill after.
                let limit = if credits.set_at >= start {
                    credits.remaining
                } else {
                    refill.amount
                };
                (start, Some(refill.period.end(now)), limit)
            }
            None => (credits.set_at, None, credits.remaining),
        };
        Counter {
            kind: CounterKind::Credits,
            key_id: Some(credits.balance_of.as_deref().unwrap_or(key_id).to_string()),
            product: None,
            limit,
            period_start,
            period_end,
            cost: cost.max(1),
            basis: format!("{}.{}", credits.set_at, credits.serial),
        }
    });
    account_quota
        .and_then(|q| quota(q, None))
        .into_iter()
        .chain(key_quota.and_then(|q| quota(q, Some(key_id))))
        .chain(credits)
        .collect()
}

fn period_name(period: Period) -> &'static str {
    match period {
        Period::Day => "day",
        Period::Month => "month",
    }
}

/// A nested object of the admin API, or `null` (`None`); anything else is refused as not
/// `shape`.
fn object_or_null<'a>(
    field: &str,
    value: &'a Value,
    shape: &str,
) -> Result<Option<&'a serde_json::Map<String, Value>>, Vec<FieldError>> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) => Ok(Some(map)),
        _ => Err(vec![FieldError::new(
            field,
            format!("must be {shape} or null"),
        )]),
    }
}

fn unknown_fields(
    field: &str,
    map: &serde_json::Map<String, Value>,
    known: &[&str],
) -> Vec<FieldError> {
    let expected = known.join(", ");
    map.keys()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| FieldError::unknown(field, name, &expected))
        .collect()
}

fn volume(field: &str, value: Option<&Value>, errors: &mut Vec<FieldError>) -> Option<u64> {
    match value.and_then(Value::as_u64) {
        Some(n) if (1..=MAX_VOLUME).contains(&n) => Some(n),
        _ => {
            errors.push(FieldError::new(
                field,
                format!("is required: a whole number from 1 to {MAX_VOLUME}"),
            ));
            None
        }
    }
}

impl QuotaStatus {
    /// `Keygate-Quota-Limit`, `-Remaining` and `-Reset` (seconds until the reset, as
    /// `RateLimit-Reset`; absent for credits that are never refilled).
    pub fn headers(&self, now: i64) -> Vec<(&'static str, String)> {
        let mut headers = vec![
            ("Keygate-Quota-Limit", self.limit.to_string()),
            ("Keygate-Quota-Remaining", self.remaining.to_string()),
        ];
        if let Some(reset) = self.reset {
            headers.push((
                "Keygate-Quota-Reset",
                reset.saturating_sub(now).max(0).to_string(),
            ));
        }
        headers
    }
}

/// The 429 for a request the counter `full` has no room for, with `Retry-After` until its
/// reset, and the counter as the answer's quota headers show it. The message names whose
/// counter it is.
pub fn refusal(full: &Standing, now: i64) -> (Error, QuotaStatus) {
    let n = full.limit;
    let per = match full.period_end.map(|end| end - full.period_start) {
        Some(span) if span <= 86_400 => "today (UTC)",
        _ => "this month (UTC)",
    };
    let of = full
        .product
        .as_deref()
        .map(|p| format!(" of the product `{p}`"))
        .unwrap_or_default();
    let message = match (full.kind, &full.key_id) {
        (CounterKind::Credits, _) => format!(
            "This API key has {} credits left, and this request costs {}. {}",
            full.free,
            full.cost,
            if full.period_end.is_some() {
                "They are refilled at the time in Retry-After; or ask for a top-up."
            } else {
                "Ask for a top-up."
            }
        ),
        (CounterKind::Quota, Some(_)) => format!(
            "This API key has made {n} requests{of} {per}, its quota. Retry after the time in \
             Retry-After, or ask for a larger quota."
        ),
        (CounterKind::Quota, None) => format!(
            "This account's keys have made {n} requests{of} {per}, the account's quota (one \
             quota shared by all its keys). Retry after the time in Retry-After, or ask for a \
             larger quota."
        ),
    };
    let mut error = Error::new(429, message);
    if let Some(end) = full.period_end {
        error = error.with_retry_after(u32::try_from((end - now).max(1)).unwrap_or(u32::MAX));
    }
    let status = QuotaStatus {
        limit: full.limit,
        remaining: full.free,
        reset: full.period_end,
    };
    (error, status)
}

/// How many units a lease may take when `free` are free: exactly one near the end, a share of
/// what is free before.
pub fn lease_size(free: u64) -> u64 {
    if free < EXACT_BELOW {
        free.min(1)
    } else {
        (free / 16).clamp(1, MAX_LEASE)
    }
}

#[cfg(test)]
mod tests;
