//! What one isolate holds of the ledgers: the leases it drew, the requests it granted from
//! them, and the settlements it owes. Pure: the worker passes the time in milliseconds.
//!
//! An isolate grants from a lease only while it is well inside the lease's time
//! ([`USABLE_FOR_MS`], and never later than 4 s before the ledger lapses it), so a settlement
//! sent when it stops reaches the ledger before the lease lapses, and what it granted is
//! billed as granted. A lease spent, or no longer usable, is settled by the flush the request
//! arms ([`Leases::arm`]), or rides on the isolate's next lease request for the account.

use super::ledger::Standing;
use serde::{Deserialize, Serialize};

/// How long after it is drawn a lease may be granted from.
pub const USABLE_FOR_MS: i64 = 6_000;
/// A lease is not granted from in its last this many milliseconds before it lapses.
const LAPSE_MARGIN_MS: i64 = 4_000;
/// How soon after a lease is spent its settlement is sent.
pub const SETTLE_AFTER_MS: u64 = 1_000;
/// Leases one isolate holds at most; beyond, the oldest is settled early.
const MAX_HELD: usize = 256;

/// One lease's settlement: how many of its requests were granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The lease's number in its account's ledger.
    pub id: u64,
    /// Requests granted from it.
    pub granted: u64,
}

/// The tightest counter of a request, for its `Keygate-Quota-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaStatus {
    /// Units in the period.
    pub limit: u64,
    /// Units left, as far as this isolate knows (other isolates may hold some).
    pub remaining: u64,
    /// Unix seconds of the reset; `None` for credits that are never refilled.
    pub reset: Option<i64>,
}

impl QuotaStatus {
    /// The tightest of `counters` (fewest requests left), `extra` requests of its own lease
    /// added back to what the ledger counted free.
    pub fn tightest(counters: &[Standing], extra: u64) -> Option<QuotaStatus> {
        counters
            .iter()
            .map(|c| {
                let remaining = c.free.saturating_add(extra.saturating_mul(c.cost));
                (remaining / c.cost.max(1), c, remaining)
            })
            .min_by_key(|(requests, _, _)| *requests)
            .map(|(_, c, remaining)| QuotaStatus {
                limit: c.limit,
                remaining,
                reset: c.period_end,
            })
    }
}

#[derive(Debug, Clone)]
struct Local {
    account_id: String,
    lane: String,
    id: u64,
    requests: u64,
    granted: u64,
    usable_until_ms: i64,
    counters: Vec<Standing>,
}

impl Local {
    fn usable(&self, now_ms: i64) -> bool {
        self.granted < self.requests && now_ms < self.usable_until_ms
    }

    fn status(&self) -> Option<QuotaStatus> {
        QuotaStatus::tightest(&self.counters, self.requests - self.granted)
    }
}

/// The leases of one isolate, over all accounts.
#[derive(Debug, Default)]
pub struct Leases {
    held: Vec<Local>,
    armed: bool,
}

impl Leases {
    /// Grants one request of `lane` (the worker's name for a lane and its counters) from a
    /// lease this isolate holds, if one is usable.
    pub fn take(&mut self, account_id: &str, lane: &str, now_ms: i64) -> Option<QuotaStatus> {
        let local = self
            .held
            .iter_mut()
            .find(|l| l.account_id == account_id && l.lane == lane && l.usable(now_ms))?;
        local.granted += 1;
        local.status()
    }

    /// Holds a lease the ledger granted (`expires_at` in Unix seconds), and grants one request
    /// from it.
    #[allow(
        clippy::too_many_arguments,
        reason = "the lease's fields, as the ledger answers them"
    )]
    pub fn add(
        &mut self,
        account_id: &str,
        lane: &str,
        id: u64,
        requests: u64,
        expires_at: i64,
        counters: Vec<Standing>,
        now_ms: i64,
    ) -> Option<QuotaStatus> {
        if self.held.len() >= MAX_HELD {
            // The oldest is marked spent: the next flush settles it.
            if let Some(oldest) = self.held.first_mut() {
                oldest.usable_until_ms = i64::MIN;
            }
        }
        let lapse = expires_at.saturating_mul(1000) - LAPSE_MARGIN_MS;
        let local = Local {
            account_id: account_id.to_string(),
            lane: lane.to_string(),
            id,
            requests,
            granted: 1.min(requests),
            usable_until_ms: (now_ms + USABLE_FOR_MS).min(lapse),
            counters,
        };
        let status = local.status();
        self.held.push(local);
        status
    }

    /// The settlements owed now: leases spent or no longer usable (with `everything`, all),
    /// of `account_id` only or of every account, removed from what the isolate holds.
    pub fn settlements(
        &mut self,
        account_id: Option<&str>,
        now_ms: i64,
        everything: bool,
    ) -> Vec<(String, Vec<Settlement>)> {
        let mut owed: Vec<(String, Vec<Settlement>)> = Vec::new();
        self.held.retain(|local| {
            let mine = account_id.is_none_or(|a| a == local.account_id);
            if !mine || (!everything && local.usable(now_ms)) {
                return true;
            }
            let settlement = Settlement {
                id: local.id,
                granted: local.granted,
            };
            match owed.iter_mut().find(|(a, _)| *a == local.account_id) {
                Some((_, list)) => list.push(settlement),
                None => owed.push((local.account_id.clone(), vec![settlement])),
            }
            false
        });
        owed
    }

    /// Milliseconds until a settlement is owed, if the isolate holds a lease: a spent lease's
    /// is owed [`SETTLE_AFTER_MS`] from now, a usable one's when it stops being usable.
    pub fn next_due(&mut self, now_ms: i64) -> Option<u64> {
        let due = self
            .held
            .iter()
            .map(|l| {
                if l.usable(now_ms) {
                    l.usable_until_ms.saturating_sub(now_ms).max(0) as u64
                } else {
                    SETTLE_AFTER_MS
                }
            })
            .min();
        if due.is_none() {
            self.armed = false;
        }
        due
    }

    /// Whether a request must arm the flush (none is armed, and a lease is held), and in how
    /// many milliseconds it is due; the flush then runs until nothing is held.
    pub fn arm(&mut self, now_ms: i64) -> Option<u64> {
        if self.armed {
            return None;
        }
        let due = self.next_due(now_ms)?;
        self.armed = true;
        Some(due)
    }

    /// The armed flush has stopped (it runs for a bounded time): the next request arms one.
    pub fn disarm(&mut self) {
        self.armed = false;
    }
}
