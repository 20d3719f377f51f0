//! What one isolate saw at the edge, waiting to be reported to the Registry: each key's use,
//! the true reasons of refused requests, addresses a report-only allowlist let through, keys
//! that crossed a network in clear, and first uses that a roll waits for.
//!
//! A key design decision of this module: no report waits for later traffic. Recording says
//! when the buffer must next be sent ([`ActivityBuffer::schedule`]); the worker arms one timer
//! for it inside the request that recorded it (`ctx.waitUntil`), so a refusal's reason reaches
//! the Registry about [`SEND_AFTER_MS`] after the refusal, and a key's use at most
//! [`USE_EVERY_MS`] after it, with no other request needed. Every timer that fires sends all
//! that is waiting ([`ActivityBuffer::take`]): one message per isolate per flush, however many
//! keys.
//!
//! The buffer is bounded, and counts instead of keeping: past [`DENIALS_PER_KEY`] refusals of a
//! key per flush (one for 429s), and past [`WOULD_DENY_PER_KEY`] distinct addresses, a record
//! is only counted for its key ([`Counted`]), and the Registry adds the counts to the key's
//! usage. Only what arrives for more than [`MAX_KEYS`] keys at once, past the caps, is lost.

use crate::engine::{Command, Counted, Denial, FirstUse, IpSeen, KeyUse, WouldDeny};
use crate::keys::KeyHash;
use std::collections::HashMap;
use std::net::IpAddr;

/// Refusals, would-deny reports, plain-HTTP exposures and first uses are sent this long after
/// the first of them was recorded.
pub const SEND_AFTER_MS: u64 = 1_000;
/// A key this isolate reported within this long is reported again at most this late; a key it
/// did not is reported after [`SEND_AFTER_MS`]. Below the platform's 30 s `waitUntil` limit.
pub const USE_EVERY_MS: u64 = 20_000;
/// Refusals of one key sent whole per flush; the rest are counted.
pub const DENIALS_PER_KEY: usize = 10;
/// Rate-limit refusals (429) of one key sent whole per flush: a limited key refused in a burst
/// is one record and a count.
pub const RATE_LIMITED_PER_KEY: usize = 1;
/// Distinct would-deny addresses of one key sent whole per flush; the rest are counted.
pub const WOULD_DENY_PER_KEY: usize = 20;
/// Whole refusals waiting, all keys together.
pub const MAX_DENIALS: usize = 400;
/// Keys with uses or counts waiting. Past it, records of further keys are dropped: the one
/// loss the bound costs (a flush is at most a second away, so it takes that many keys refused
/// within one second in one isolate).
pub const MAX_KEYS: usize = 1_000;
/// Addresses one key's waiting use remembers.
const MAX_BUFFERED_IPS: usize = 64;
/// Keys whose last report time is remembered.
const MAX_REPORTED: usize = 1_024;
/// A flush that has not run this long after its time is taken as lost (its request's
/// `waitUntil` was cancelled), and the next record arms a new one.
pub const LOST_FLUSH_MS: u64 = 5_000;

/// One isolate's unsent activity. The worker keeps one per isolate; every method takes the
/// time, in unix milliseconds.
#[derive(Debug, Default)]
pub struct ActivityBuffer {
    uses: HashMap<String, KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
    counted: HashMap<String, Counted>,
    exposed: Vec<KeyHash>,
    first_uses: Vec<FirstUse>,
    /// When the oldest record that is sent after [`SEND_AFTER_MS`] was recorded.
    prompt_since_ms: Option<u64>,
    /// When the oldest use that may wait [`USE_EVERY_MS`] was recorded.
    uses_since_ms: Option<u64>,
    /// When each key's use was last taken for sending.
    reported_ms: HashMap<String, u64>,
    /// When the armed flush is due, until it runs.
    scheduled_ms: Option<u64>,
}

impl ActivityBuffer {
    /// A granted request of `key_id` (of `account_id`) from `ip`. `first_use_awaited`: the key
    /// is a successor whose predecessor's grace starts at its first use.
    pub fn used(
        &mut self,
        key_id: &str,
        account_id: &str,
        ip: Option<IpAddr>,
        first_use_awaited: bool,
        now_ms: u64,
    ) {
        let now_s = seconds(now_ms);
        if first_use_awaited && !self.first_uses.iter().any(|f| f.key_id == key_id) {
            self.first_uses.push(FirstUse {
                key_id: key_id.to_string(),
                account_id: account_id.to_string(),
                at: now_s,
            });
            self.prompt(now_ms);
        }
        let waiting = self.uses.contains_key(key_id);
        if !waiting && !self.has_room_for(key_id) {
            return;
        }
        let recently_reported = self
            .reported_ms
            .get(key_id)
            .is_some_and(|&at| now_ms.saturating_sub(at) < USE_EVERY_MS);
        if waiting || recently_reported {
            self.uses_since_ms.get_or_insert(now_ms);
        } else {
            // A key this isolate has not reported lately: its use shows within a second.
            self.prompt(now_ms);
        }
        let entry = self
            .uses
            .entry(key_id.to_string())
            .or_insert_with(|| KeyUse {
                key_id: key_id.to_string(),
                account_id: account_id.to_string(),
                last_used_at: now_s,
                last_used_ip: None,
                ips: Vec::new(),
            });
        entry.last_used_at = entry.last_used_at.max(now_s);
        let Some(ip) = ip else {
            return;
        };
        let ip = ip.to_string();
        entry.last_used_ip = Some(ip.clone());
        if let Some(seen) = entry.ips.iter_mut().find(|seen| seen.ip == ip) {
            seen.count += 1;
            seen.last_seen_at = now_s;
            return;
        }
        // The views keep the most recent addresses, so the oldest here makes room (its count
        // is lost, not the newcomer).
        if entry.ips.len() >= MAX_BUFFERED_IPS
            && let Some(oldest) = (0..entry.ips.len()).min_by_key(|&i| entry.ips[i].last_seen_at)
        {
            entry.ips.swap_remove(oldest);
        }
        entry.ips.push(IpSeen {
            ip,
            count: 1,
            last_seen_at: now_s,
        });
    }

    /// A refused request made with one of our keys.
    pub fn denied(&mut self, denial: Denial, now_ms: u64) {
        let rate_limited = denial.status == 429;
        let cap = if rate_limited {
            RATE_LIMITED_PER_KEY
        } else {
            DENIALS_PER_KEY
        };
        let whole = self
            .denials
            .iter()
            .filter(|d| d.key_id == denial.key_id && (d.status == 429) == rate_limited)
            .count();
        if whole < cap && self.denials.len() < MAX_DENIALS {
            self.denials.push(denial);
        } else {
            self.count(&denial.key_id, &denial.account_id, |c| c.refusals += 1);
        }
        self.prompt(now_ms);
    }

    /// An address outside an allowlist in report mode, let through.
    pub fn would_deny(&mut self, report: WouldDeny, now_ms: u64) {
        let mut addresses = 0;
        let mut seen = false;
        for waiting in self.would_deny.iter().filter(|w| w.key_id == report.key_id) {
            addresses += 1;
            seen |= waiting.ip == report.ip;
        }
        if !seen && addresses < WOULD_DENY_PER_KEY {
            self.would_deny.push(report);
        } else {
            self.count(&report.key_id, &report.account_id, |c| c.would_deny += 1);
        }
        self.prompt(now_ms);
    }

    /// One of our secret keys arrived over plain HTTP where HTTPS is required.
    pub fn exposed(&mut self, hash: KeyHash, now_ms: u64) {
        if !self.exposed.contains(&hash) && self.exposed.len() < MAX_KEYS {
            self.exposed.push(hash);
            self.prompt(now_ms);
        }
    }

    /// When the next flush must run, if no timer is armed for it yet: the delay in
    /// milliseconds, for the caller to arm one (and this buffer counts it as armed). `None`:
    /// nothing is waiting, or an armed timer will send it in time.
    pub fn schedule(&mut self, now_ms: u64) -> Option<u64> {
        let due = self.due_ms()?;
        if let Some(armed) = self.scheduled_ms
            && armed <= due
            && now_ms < armed.saturating_add(LOST_FLUSH_MS)
        {
            return None;
        }
        self.scheduled_ms = Some(due);
        Some(due.saturating_sub(now_ms))
    }

    /// Everything waiting, as one report for the Registry (`None` when nothing is): what any
    /// flush sends, whichever record it was armed for.
    pub fn take(&mut self, now_ms: u64) -> Option<Command> {
        self.scheduled_ms = None;
        self.prompt_since_ms = None;
        self.uses_since_ms = None;
        if self.reported_ms.len() + self.uses.len() > MAX_REPORTED {
            self.reported_ms
                .retain(|_, at| now_ms.saturating_sub(*at) < USE_EVERY_MS);
            if self.reported_ms.len() + self.uses.len() > MAX_REPORTED {
                // Forgetting makes the next use of those keys report sooner, never later.
                self.reported_ms.clear();
            }
        }
        let empty = self.uses.is_empty()
            && self.denials.is_empty()
            && self.would_deny.is_empty()
            && self.exposed.is_empty()
            && self.first_uses.is_empty()
            && self.counted.is_empty();
        if empty {
            return None;
        }
        for key_id in self.uses.keys() {
            self.reported_ms.insert(key_id.clone(), now_ms);
        }
        Some(Command::RecordActivity {
            uses: self.uses.drain().map(|(_, used)| used).collect(),
            denials: std::mem::take(&mut self.denials),
            would_deny: std::mem::take(&mut self.would_deny),
            exposed: std::mem::take(&mut self.exposed),
            first_uses: std::mem::take(&mut self.first_uses),
            counted: self.counted.drain().map(|(_, counted)| counted).collect(),
        })
    }

    /// When what is waiting must be sent, if anything is.
    fn due_ms(&self) -> Option<u64> {
        let prompt = self.prompt_since_ms.map(|at| at + SEND_AFTER_MS);
        let uses = self.uses_since_ms.map(|at| at + USE_EVERY_MS);
        match (prompt, uses) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn prompt(&mut self, now_ms: u64) {
        self.prompt_since_ms.get_or_insert(now_ms);
    }

    fn has_room_for(&self, key_id: &str) -> bool {
        self.uses.len() + self.counted.len() < MAX_KEYS || self.counted.contains_key(key_id)
    }

    fn count(&mut self, key_id: &str, account_id: &str, add: impl FnOnce(&mut Counted)) {
        if !self.counted.contains_key(key_id) && !self.has_room_for(key_id) {
            return;
        }
        let counted = self
            .counted
            .entry(key_id.to_string())
            .or_insert_with(|| Counted {
                key_id: key_id.to_string(),
                account_id: account_id.to_string(),
                refusals: 0,
                would_deny: 0,
            });
        add(counted);
    }
}

fn seconds(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
