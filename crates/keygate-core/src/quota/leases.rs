//! What one isolate holds of the ledgers: the leases it drew, the requests it granted from
//! them, and the settlements it owes. Pure: the worker passes the time in milliseconds.
//!
//! An isolate grants from a lease only while it is well inside the lease's time
//! ([`USABLE_FOR_MS`], and never later than 4 s before the ledger lapses it), so a settlement
//! sent when it stops reaches the ledger before the lease lapses, and what it granted is
//! billed as granted. A lease spent, or no longer usable, is settled by the flush the request
//! arms ([`Leases::arm`]), or rides on the isolate's next lease request for the account.
//!
//! A lane the ledger found full is refused here, without a call, for [`FULL_FOR_MS`]: a flood
//! of requests over a quota costs the account's Registry about one call a second per isolate,
//! not one per request. The refusals are counted and reported with the settlements, so the
//! usage export still counts every one. The price: units another isolate gives back within
//! that second are not granted here until it ends (an undershoot, never an overshoot).

use super::ledger::{Lane, Standing};
use serde::{Deserialize, Serialize};

/// How long after it is drawn a lease may be granted from.
pub const USABLE_FOR_MS: i64 = 6_000;
/// A lease is not granted from in its last this many milliseconds before it lapses.
const LAPSE_MARGIN_MS: i64 = 4_000;
/// How soon after a lease is spent its settlement is sent.
pub const SETTLE_AFTER_MS: u64 = 1_000;
/// Leases one isolate holds at most; beyond, the oldest is settled early.
const MAX_HELD: usize = 256;
/// How long an isolate refuses a lane the ledger found full before it asks again.
pub const FULL_FOR_MS: i64 = 1_000;

/// One lease's settlement: how many of its requests were granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Settlement {
    /// The lease's number in its account's ledger.
    pub id: u64,
    /// Requests granted from it.
    pub granted: u64,
}

/// Requests of a lane refused by an isolate on its own, while the ledger's "full" held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedCount {
    /// The lane.
    pub lane: Lane,
    /// How many.
    pub requests: u64,
}

/// What an isolate owes one account's ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owed {
    /// Leases given back.
    pub settle: Vec<Settlement>,
    /// Refusals made without asking.
    pub refused: Vec<RefusedCount>,
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

#[derive(Debug, Clone)]
struct Refusing {
    account_id: String,
    lane_name: String,
    lane: Lane,
    full: Standing,
    until_ms: i64,
    unreported: u64,
}

/// The leases of one isolate, over all accounts, and the lanes it refuses for a moment.
#[derive(Debug, Default)]
pub struct Leases {
    held: Vec<Local>,
    refusing: Vec<Refusing>,
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

    /// A request of `lane` refused without a call, if the ledger found the lane full less
    /// than [`FULL_FOR_MS`] ago: the full counter, and the refusal is counted for the report.
    pub fn refuse(&mut self, account_id: &str, lane: &str, now_ms: i64) -> Option<Standing> {
        let refusing = self
            .refusing
            .iter_mut()
            .find(|r| r.account_id == account_id && r.lane_name == lane && now_ms < r.until_ms)?;
        refusing.unreported += 1;
        Some(refusing.full.clone())
    }

    /// The ledger found `lane` full (and counted that refusal itself): refuse it here for a
    /// moment, never past the counter's reset.
    pub fn full(
        &mut self,
        account_id: &str,
        lane_name: &str,
        lane: Lane,
        full: Standing,
        now_ms: i64,
    ) {
        self.refusing
            .retain(|r| r.unreported > 0 || now_ms < r.until_ms);
        if self.refusing.len() >= MAX_HELD {
            return;
        }
        let reset_ms = full
            .period_end
            .map_or(i64::MAX, |end| end.saturating_mul(1000));
        self.refusing.push(Refusing {
            account_id: account_id.to_string(),
            lane_name: lane_name.to_string(),
            lane,
            full,
            until_ms: (now_ms + FULL_FOR_MS).min(reset_ms),
            unreported: 0,
        });
    }

    /// What is owed now, by account (of `account_id` only, or of every account): leases spent
    /// or no longer usable (with `everything`, all), and the refusals made without asking.
    /// Taken out of what the isolate holds.
    pub fn settlements(
        &mut self,
        account_id: Option<&str>,
        now_ms: i64,
        everything: bool,
    ) -> Vec<(String, Owed)> {
        let mut owed: Vec<(String, Owed)> = Vec::new();
        fn entry<'o>(owed: &'o mut Vec<(String, Owed)>, account: &str) -> &'o mut Owed {
            let index = match owed.iter().position(|(a, _)| a == account) {
                Some(index) => index,
                None => {
                    owed.push((account.to_string(), Owed::default()));
                    owed.len() - 1
                }
            };
            &mut owed[index].1
        }
        let mine = |a: &str| account_id.is_none_or(|wanted| wanted == a);
        self.held.retain(|local| {
            if !mine(&local.account_id) || (!everything && local.usable(now_ms)) {
                return true;
            }
            entry(&mut owed, &local.account_id).settle.push(Settlement {
                id: local.id,
                granted: local.granted,
            });
            false
        });
        for refusing in self.refusing.iter_mut().filter(|r| mine(&r.account_id)) {
            if refusing.unreported > 0 {
                entry(&mut owed, &refusing.account_id)
                    .refused
                    .push(RefusedCount {
                        lane: refusing.lane.clone(),
                        requests: refusing.unreported,
                    });
                refusing.unreported = 0;
            }
        }
        self.refusing.retain(|r| now_ms < r.until_ms);
        owed
    }

    /// Milliseconds until a settlement is owed, if the isolate holds a lease or unreported
    /// refusals: a spent lease's and the refusals' are owed [`SETTLE_AFTER_MS`] from now, a
    /// usable lease's when it stops being usable.
    pub fn next_due(&mut self, now_ms: i64) -> Option<u64> {
        let refusals = self
            .refusing
            .iter()
            .any(|r| r.unreported > 0)
            .then_some(SETTLE_AFTER_MS);
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
            .chain(refusals)
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
