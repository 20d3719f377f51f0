//! Quotas and credits (docs/quotas.md): a volume per calendar period, counted exactly across
//! isolates by leases drawn from one ledger per account.
//!
//! This module is the pure part: the limits as the admin API writes them, the calendar
//! periods in UTC, and the [`Ledger`] an account's counter object keeps. A lease is granted
//! only from what is neither used nor leased, so the isolates together never grant more than a
//! counter's limit (the overshoot bound is zero); a lease that is never settled counts as used
//! when it expires, which keeps the bound at the price of an undershoot of at most that lease.

use crate::calendar::{civil_from_days, days_from_civil};
use crate::error::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

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
        let map = match value {
            Value::Null => return Ok(None),
            Value::Object(map) => map,
            _ => {
                return Err(vec![FieldError::new(
                    field,
                    "must be {\"requests\": n, \"period\": \"day\"|\"month\"} or null",
                )]);
            }
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

fn unknown_fields(
    field: &str,
    map: &serde_json::Map<String, Value>,
    known: &[&str],
) -> Vec<FieldError> {
    map.keys()
        .filter(|name| !known.contains(&name.as_str()))
        .map(|name| {
            FieldError::new(
                format!("{field}.{name}"),
                format!("unknown field; expected {}", known.join(", ")),
            )
        })
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

/// A lease: requests an isolate may grant alone until `expires_at`, in the period that
/// started at `period_start`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Its number within the ledger.
    pub id: u64,
    /// Units reserved; 0 when the counter is full (the request is refused).
    pub units: u64,
    /// The period it belongs to: it grants nothing in another.
    pub period_start: i64,
    /// Unix seconds after which it counts as fully used.
    pub expires_at: i64,
}

/// One counter's period: what was used and what is leased out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Count {
    period_start: i64,
    used: u64,
    leased: BTreeMap<u64, (u64, i64)>,
}

impl Count {
    fn reserved(&self) -> u64 {
        self.leased.values().map(|(units, _)| units).sum()
    }
}

/// The counters of one account, by name (`quota:account`, `quota:key:<id>`, …). The worker
/// keeps one per account in a Durable Object, which runs one call at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    counts: BTreeMap<String, Count>,
    next_lease: u64,
}

impl Ledger {
    /// Reserves up to `want` units of counter `name` (limit `limit` per `period`) at `now`:
    /// as many as [`lease_size`] allows of what is neither used nor leased. `units` 0 means
    /// the counter is full.
    pub fn lease(&mut self, name: &str, limit: u64, period: Period, want: u64, now: i64) -> Lease {
        self.expire(now);
        let period_start = period.start(now);
        let count = self.counts.entry(name.to_string()).or_default();
        if count.period_start != period_start {
            *count = Count {
                period_start,
                ..Count::default()
            };
        }
        let free = limit.saturating_sub(count.used + count.reserved());
        let units = want.min(lease_size(free));
        self.next_lease += 1;
        let lease = Lease {
            id: self.next_lease,
            units,
            period_start,
            expires_at: now + LEASE_SECONDS,
        };
        if units > 0 {
            count.leased.insert(lease.id, (units, lease.expires_at));
        }
        lease
    }

    /// Settles lease `id` of counter `name`: `used` of its units were granted, the rest are
    /// free again. A lease of a past period, already expired or unknown changes nothing.
    pub fn settle(&mut self, name: &str, id: u64, used: u64) {
        let Some(count) = self.counts.get_mut(name) else {
            return;
        };
        if let Some((units, _)) = count.leased.remove(&id) {
            count.used += used.min(units);
        }
    }

    /// Leases past their time count as fully used: their isolate may have granted them all.
    pub fn expire(&mut self, now: i64) {
        for count in self.counts.values_mut() {
            let expired: Vec<(u64, u64)> = count
                .leased
                .iter()
                .filter(|(_, (_, expires_at))| *expires_at <= now)
                .map(|(id, (units, _))| (*id, *units))
                .collect();
            for (id, units) in expired {
                count.leased.remove(&id);
                count.used += units;
            }
        }
    }

    /// Units used of counter `name` in the period that started at `period_start`.
    pub fn used(&self, name: &str, period_start: i64) -> u64 {
        self.counts
            .get(name)
            .filter(|c| c.period_start == period_start)
            .map_or(0, |c| c.used)
    }
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
