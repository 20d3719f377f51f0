//! The ledger of one account: its counters, the leases drawn from them, and what each change
//! means for the usage export and the threshold events. The worker keeps one per account, in
//! the account's Registry, which runs one command at a time.
//!
//! A lease is of whole requests of one [`Lane`] (a key, a product, a costed route, a UTC day),
//! reserved in every counter the request is counted in at once: `requests × cost` units of
//! each. It is granted only from what no counter has used or leased, so what the isolates may
//! grant together never exceeds a limit. A lease never outlives its day or a counter's period.

use super::{Counter, CounterKind, LEASE_SECONDS, lease_size};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Open leases an account may hold at once; beyond, a lease is refused as busy (503), which
/// bounds the ledger whatever the number of isolates.
pub const MAX_OPEN_LEASES: usize = 1_000;

/// Where granted requests are billed: one row of the usage export.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Lane {
    /// The key that made them.
    pub key_id: String,
    /// The route's product, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// The route (`GET /v1/…`), where it has a cost of its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// The UTC day, as Unix seconds of its midnight.
    pub day: i64,
}

/// Requests of a lane: granted, refused (by a quota or the credits), and lapsed (leased by an
/// isolate that never said how many it granted: counted as used, since it may have).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Granted, as settled by the isolate that granted them.
    pub granted: u64,
    /// Refused for a quota or the credits.
    pub refused: u64,
    /// Reserved by a lease that expired unsettled.
    pub lapsed: u64,
}

/// A counter as it stands: what an answer's `Keygate-Quota-*` headers and the usage export
/// show of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Standing {
    /// The counter's name ([`Counter::name`]).
    pub name: String,
    /// Quota or credits.
    pub kind: CounterKind,
    /// The key's counter, or the account's (`None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// The product a quota is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    /// Units in the period.
    pub limit: u64,
    /// Units used (settled or lapsed).
    pub used: u64,
    /// Units held by open leases.
    pub reserved: u64,
    /// Units neither used nor reserved.
    pub free: u64,
    /// Units one request of the lane takes.
    pub cost: u64,
    /// The period's start.
    pub period_start: i64,
    /// The reset; `None` for credits that are never refilled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_end: Option<i64>,
}

/// The ledger's answer to a lease request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum LeaseReply {
    /// `requests` may be granted by the isolate until `expires_at`.
    Granted {
        /// The lease's number, to settle it by.
        id: u64,
        /// Requests reserved (at least 1).
        requests: u64,
        /// Unix seconds after which it counts as fully used.
        expires_at: i64,
        /// Every counter of the request, after the lease.
        counters: Vec<Standing>,
    },
    /// A counter has no room for one more request: refused, and counted as refused.
    Full {
        /// The counter that is full (the first, in the order the request named them).
        full: Standing,
    },
    /// Too many open leases ([`MAX_OPEN_LEASES`]): refused (503), not counted.
    Busy,
}

/// A threshold event owed: a counter crossed 80% or 100% of its limit, or credits were
/// refilled, once per period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Crossing {
    /// Which threshold.
    pub kind: CrossingKind,
    /// The counter, when it crossed.
    pub counter: Standing,
    /// The key whose request (or lease) made it cross.
    pub by_key: String,
}

/// The thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CrossingKind {
    /// 80% of the limit used.
    Warning,
    /// The whole limit used.
    Exhausted,
    /// Credits refilled at a period's start.
    Refilled,
}

impl CrossingKind {
    fn bit(self) -> u8 {
        match self {
            CrossingKind::Warning => 1,
            CrossingKind::Exhausted => 2,
            CrossingKind::Refilled => 4,
        }
    }
}

/// What a change to the ledger means beyond it: usage rows to add to, events to record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Per lane, what to add to its usage row.
    pub usage: BTreeMap<Lane, Tally>,
    /// Thresholds crossed, in order.
    pub crossings: Vec<Crossing>,
}

impl Effects {
    /// `requests` of `lane` an isolate refused on its own while the ledger's "full" held:
    /// counted as refused, as if each had asked. No counter moves: a refusal consumes nothing.
    pub fn refused(&mut self, lane: &Lane, requests: u64) {
        let tally = self.usage.entry(lane.clone()).or_default();
        tally.refused = tally.refused.saturating_add(requests);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Count {
    kind: CounterKind,
    key_id: Option<String>,
    product: Option<String>,
    limit: u64,
    period_start: i64,
    period_end: Option<i64>,
    used: u64,
    /// Thresholds already fired this period ([`CrossingKind::bit`]).
    fired: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Held {
    lane: Lane,
    requests: u64,
    expires_at: i64,
    /// The counters it reserved in: name, period start, units per request.
    counters: Vec<(String, i64, u64)>,
}

/// The counters and open leases of one account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ledger {
    counts: BTreeMap<String, Count>,
    leases: BTreeMap<u64, Held>,
    next_lease: u64,
}

impl Ledger {
    /// Reserves requests of `lane` in every one of `counters` at `now`: as many as
    /// [`lease_size`] allows of the tightest counter's free requests. A counter whose period
    /// changed starts afresh (credits refilled); expired leases lapse before anything is free.
    pub fn lease(
        &mut self,
        lane: &Lane,
        counters: &[Counter],
        now: i64,
        effects: &mut Effects,
    ) -> LeaseReply {
        // Rolled before the expiry prunes ended periods, so a refill is seen as one.
        for counter in counters {
            self.roll(counter, &lane.key_id, effects);
        }
        self.expire(now, effects);
        if self.leases.len() >= MAX_OPEN_LEASES {
            return LeaseReply::Busy;
        }
        let mut requests = u64::MAX;
        for counter in counters {
            let standing = self.standing(&counter.name(), counter.cost);
            let free_requests = standing.free / counter.cost.max(1);
            if free_requests == 0 {
                effects.usage.entry(lane.clone()).or_default().refused += 1;
                return LeaseReply::Full { full: standing };
            }
            requests = requests.min(lease_size(free_requests));
        }
        if counters.is_empty() {
            requests = 0;
        }
        let ends = counters.iter().filter_map(|c| c.period_end);
        let expires_at = ends
            .chain([now + LEASE_SECONDS, lane.day + 86_400])
            .min()
            .unwrap_or(now + LEASE_SECONDS);
        self.next_lease += 1;
        let id = self.next_lease;
        self.leases.insert(
            id,
            Held {
                lane: lane.clone(),
                requests,
                expires_at,
                counters: counters
                    .iter()
                    .map(|c| (c.name(), c.period_start, c.cost.max(1)))
                    .collect(),
            },
        );
        LeaseReply::Granted {
            id,
            requests,
            expires_at,
            counters: counters
                .iter()
                .map(|c| self.standing(&c.name(), c.cost))
                .collect(),
        }
    }

    /// Settles lease `id`: `granted` of its requests were granted, the rest are free again.
    /// A lease already settled, lapsed or unknown changes nothing (a settlement sent twice).
    pub fn settle(&mut self, id: u64, granted: u64, effects: &mut Effects) {
        if let Some(held) = self.leases.remove(&id) {
            let granted = granted.min(held.requests);
            effects.usage.entry(held.lane.clone()).or_default().granted += granted;
            self.use_units(&held, granted, effects);
        }
    }

    /// Leases past their time lapse: counted as fully used, since their isolate may have
    /// granted them all.
    pub fn expire(&mut self, now: i64, effects: &mut Effects) {
        let lapsed: Vec<u64> = self
            .leases
            .iter()
            .filter(|(_, held)| held.expires_at <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in lapsed {
            if let Some(held) = self.leases.remove(&id) {
                effects.usage.entry(held.lane.clone()).or_default().lapsed += held.requests;
                self.use_units(&held, held.requests, effects);
            }
        }
        // Counters whose period is over and that no lease holds are done with.
        let held: Vec<&str> = self
            .leases
            .values()
            .flat_map(|h| h.counters.iter().map(|(name, _, _)| name.as_str()))
            .collect();
        let over: Vec<String> = self
            .counts
            .iter()
            .filter(|(name, count)| {
                count.period_end.is_some_and(|end| end <= now) && !held.contains(&name.as_str())
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in over {
            self.counts.remove(&name);
        }
    }

    /// Every counter as it stands (the usage export's `counters`), by name.
    pub fn standings(&self) -> Vec<Standing> {
        self.counts
            .keys()
            .map(|name| self.standing(name, 1))
            .collect()
    }

    /// Open leases.
    pub fn open_leases(&self) -> usize {
        self.leases.len()
    }

    fn use_units(&mut self, held: &Held, requests: u64, effects: &mut Effects) {
        for (name, period_start, cost) in &held.counters {
            let Some(count) = self.counts.get_mut(name) else {
                continue;
            };
            // A lease of a past period counts in that period, which is over.
            if count.period_start != *period_start {
                continue;
            }
            count.used = count.used.saturating_add(requests.saturating_mul(*cost));
            let mut crossed = Vec::new();
            for (kind, reached) in [
                (
                    CrossingKind::Warning,
                    count.used.saturating_mul(5) >= count.limit.saturating_mul(4),
                ),
                (CrossingKind::Exhausted, count.used >= count.limit),
            ] {
                if reached && count.fired & kind.bit() == 0 {
                    count.fired |= kind.bit();
                    crossed.push(kind);
                }
            }
            for kind in crossed {
                effects.crossings.push(Crossing {
                    kind,
                    counter: self.standing(name, 1),
                    by_key: held.lane.key_id.clone(),
                });
            }
        }
    }

    /// Creates `counter`'s count, or starts its new period; takes its limit as the edge states
    /// it (a raised limit is room at once).
    fn roll(&mut self, counter: &Counter, by_key: &str, effects: &mut Effects) {
        let name = counter.name();
        let fresh = Count {
            kind: counter.kind,
            key_id: counter.key_id.clone(),
            product: counter.product.clone(),
            limit: counter.limit,
            period_start: counter.period_start,
            period_end: counter.period_end,
            used: 0,
            fired: 0,
        };
        match self.counts.get_mut(&name) {
            Some(count) if count.period_start == counter.period_start => {
                count.limit = counter.limit;
            }
            Some(count) if count.period_start < counter.period_start => {
                *count = fresh;
                if counter.kind == CounterKind::Credits {
                    count.fired |= CrossingKind::Refilled.bit();
                    let standing = self.standing(&name, counter.cost);
                    effects.crossings.push(Crossing {
                        kind: CrossingKind::Refilled,
                        counter: standing,
                        by_key: by_key.to_string(),
                    });
                }
            }
            // A period earlier than the one counted: an isolate with a slow clock; the
            // current period stands.
            Some(_) => {}
            None => {
                self.counts.insert(name, fresh);
            }
        }
    }

    fn standing(&self, name: &str, cost: u64) -> Standing {
        let reserved: u64 = self
            .leases
            .values()
            .flat_map(|held| {
                held.counters
                    .iter()
                    .filter(|(n, _, _)| n == name)
                    .map(move |(_, _, cost)| held.requests.saturating_mul(*cost))
            })
            .sum();
        let count = self.counts.get(name);
        let limit = count.map_or(0, |c| c.limit);
        let used = count.map_or(0, |c| c.used);
        Standing {
            name: name.to_string(),
            kind: count.map_or(CounterKind::Quota, |c| c.kind),
            key_id: count.and_then(|c| c.key_id.clone()),
            product: count.and_then(|c| c.product.clone()),
            limit,
            used,
            reserved,
            free: limit.saturating_sub(used.saturating_add(reserved)),
            cost: cost.max(1),
            period_start: count.map_or(0, |c| c.period_start),
            period_end: count.and_then(|c| c.period_end),
        }
    }
}
