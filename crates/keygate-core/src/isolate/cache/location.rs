//! The location tier: copies of records in the location's Cache API (`caches.default`), which
//! every isolate of one location reads and writes, each copy stamped with the generation of the
//! log its writer had applied. The format of a copy, the rules for trusting one, and the
//! writes the worker owes the location are here; the worker only moves bytes.
//!
//! A key design decision of this module: a copy is trusted for what its stamp proves, never
//! for when it was written. Writes race (an isolate behind on the log may write an old record
//! after another wrote the new one), and the Cache API keeps whatever came last; so a reader
//! takes a copy only if the stamp is at or above its floor and at or above every change to that
//! hash it still knows of (module `coverage`), and its own pin, if it holds one, wins over any
//! copy. A late, stale write is then harmless to every isolate that has applied the change, and
//! a copy can live for minutes: the log, not a time-to-live, says when it stops being good.
//!
//! The one time-based rule is a backstop: a copy whose record was last confirmed by KV or the
//! log more than [`COPY_MAX_AGE_MS`] ago is a miss, however often it was renewed. What KV
//! answers is only as fresh as KV (an account-wide change reaches KV in batches); the bound
//! keeps a copy from holding on to such an answer longer than KV itself would.

use super::{EdgeCache, refused_for_key};
use crate::error::Error;
use crate::keys::KeyHash;
use crate::model::EdgeRecord;
use crate::policy::PreparedRecord;
use crate::revocation::PIN_MS;
use serde::{Deserialize, Serialize};
use std::rc::Rc;

/// How long after KV (or the log) last confirmed a record its location copy may be used:
/// renewing a copy's stamp does not extend it. Each location reads KV for a key in use about
/// once per this interval.
pub const COPY_MAX_AGE_MS: u64 = 300_000;

/// A copy trusted at a stamp older than this, in the reader's own history of the log, is
/// written again with the reader's generation: the location's floors pass a stamp about
/// [`PIN_MS`] after it was current, so a copy in use is renewed with half of that to spare,
/// and at most about once per this interval per key and location.
pub const REFRESH_AFTER_MS: u64 = PIN_MS / 2;

/// Location writes an isolate queues at most between two drains; further ones are dropped.
/// Dropping one is safe: no rule depends on a write arriving, only on what a copy's stamp says.
pub const MAX_PENDING_WRITES: usize = 1_000;

/// Where the worker keeps the copy of `hash`'s record in the location's cache: a path, to be
/// put after the worker's own origin (`https://<its host>`), as the Cache API wants a key on the
/// zone's host. `v1` is the format of the body: a new format takes a new path, so isolates of
/// two versions never read each other's copies.
pub fn location_path(hash: &KeyHash) -> String {
    format!("/.keygate/location/v1/sk/{}", hash.to_hex())
}

/// What the location held for a hash, as the isolate takes it.
#[derive(Debug, Clone)]
pub enum Located {
    /// A record to answer with: the isolate's pin, or a copy it trusts.
    Record(Rc<PreparedRecord>),
    /// No key under the hash: a deleted key's pin, or a trusted copy that says so.
    Missing,
    /// Nothing the isolate may trust: read KV ([`EdgeCache::accept`]).
    Miss,
}

/// A copy the worker must put into the location's cache: the body under
/// `https://<its host>` + `path`, with `Cache-Control: max-age=<max_age_s>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationWrite {
    /// The key's path ([`location_path`]).
    pub path: String,
    /// The body: JSON
    /// `{"hash": "<hex>", "generation": g, "read_at_ms": t, "record": {…} | null}`.
    pub body: String,
    /// How long the Cache API should keep it: what is left of [`COPY_MAX_AGE_MS`].
    pub max_age_s: u64,
}

/// A copy as it is read and written: the hash it is the copy of (checked against the one
/// looked up, so a copy filed under the wrong key is a miss), its stamp, when KV or the log
/// last confirmed its record, and the record (`None`: no key under the hash).
#[derive(Serialize, Deserialize)]
struct Entry<R> {
    hash: KeyHash,
    generation: u64,
    read_at_ms: u64,
    record: Option<R>,
}

/// A write waiting for the worker. The record is serialised when it is taken, with the newest
/// account copy the isolate holds by then (a change read in the same batch may come later).
#[derive(Debug)]
pub(super) struct Pending {
    record: Option<Rc<PreparedRecord>>,
    generation: u64,
    read_at_ms: u64,
}

impl Entry<EdgeRecord> {
    /// The copy of `hash` in `body`; `None` (a miss) for a body that does not parse or names
    /// another hash.
    fn parse(body: &str, hash: &KeyHash) -> Option<Self> {
        serde_json::from_str::<Self>(body)
            .ok()
            .filter(|entry| entry.hash == *hash)
    }
}

impl EdgeCache {
    /// Takes what the location's cache holds for `hash` (`None`: nothing, or its body could not
    /// be read) at `now_ms`, when the isolate holds nothing for it
    /// ([`Held::Nothing`](super::Held::Nothing)).
    ///
    /// A pinned key gets its pin, whatever the copy says (and a copy that may predate the pin's
    /// change is overwritten). A copy is trusted when its stamp is at or above the isolate's
    /// floor and at or above the generation of any change to the hash the isolate still knows
    /// of, and KV or the log confirmed its record less than [`COPY_MAX_AGE_MS`] ago; it is then
    /// cached like a KV answer, and written again with the isolate's generation when its stamp
    /// has grown old ([`REFRESH_AFTER_MS`]). Anything else is a [`Located::Miss`]: read KV. A
    /// body that does not parse is a miss, never an error. The one error is 503, when KV may
    /// not be read for this key either ([`EdgeCache::accept`]).
    pub fn accept_location(
        &mut self,
        hash: &KeyHash,
        body: Option<&str>,
        now_ms: u64,
    ) -> Result<Located, Error> {
        let entry = body.and_then(|body| Entry::parse(body, hash));
        if let Some(pin) = self.coverage.pin(hash, now_ms) {
            // A copy stamped at or after the change includes it. One the log has not numbered
            // yet is newer than the isolate's generation, so only later stamps may include it.
            let (record, changed_at) = (pin.record.clone(), pin.generation);
            let next = self.sync.generation.unwrap_or(0).saturating_add(1);
            if entry
                .as_ref()
                .is_none_or(|entry| entry.generation < changed_at.min(next))
            {
                self.write(hash, record.clone(), now_ms);
            }
            return Ok(match record {
                Some(record) => {
                    let record = self.with_newest_account(record);
                    self.remember(*hash, Rc::clone(&record), now_ms);
                    Located::Record(record)
                }
                None => Located::Missing,
            });
        }
        let Some(entry) = entry.filter(|entry| {
            now_ms.saturating_sub(entry.read_at_ms) < COPY_MAX_AGE_MS
                && self
                    .coverage
                    .location_trusts(hash, entry.generation, now_ms)
        }) else {
            if self.coverage.kv_refused(hash, now_ms) {
                return Err(refused_for_key());
            }
            return Ok(Located::Miss);
        };
        let renew = self
            .coverage
            .refresh_due(entry.generation, REFRESH_AFTER_MS, now_ms);
        let record = entry
            .record
            .map(|record| self.with_newest_account(Rc::new(PreparedRecord::new(record))));
        match &record {
            Some(record) => self.remember(*hash, Rc::clone(record), now_ms),
            None => self.remember_missing(*hash, now_ms),
        }
        if renew && let Some(generation) = self.sync.generation {
            self.write_stamped(hash, record.clone(), generation, entry.read_at_ms, now_ms);
        }
        Ok(record.map_or(Located::Missing, Located::Record))
    }

    /// Whether location writes are queued ([`EdgeCache::take_location_writes`] has some).
    pub fn has_location_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    /// The location writes queued since the last call, at most `max` of them (the rest stay
    /// queued), at `now_ms`: the worker puts each ([`LocationWrite`]) after it answered
    /// (`waitUntil`). A write that fails needs no retry.
    pub fn take_location_writes(&mut self, max: usize, now_ms: u64) -> Vec<LocationWrite> {
        let hashes: Vec<KeyHash> = self.writes.keys().take(max).copied().collect();
        let mut out = Vec::with_capacity(hashes.len());
        for hash in hashes {
            let Some(pending) = self.writes.remove(&hash) else {
                continue;
            };
            let left_ms = (pending.read_at_ms.saturating_add(COPY_MAX_AGE_MS))
                .saturating_sub(now_ms.max(pending.read_at_ms));
            let record = pending
                .record
                .map(|record| self.with_newest_account(record));
            let entry = Entry {
                hash,
                generation: pending.generation,
                read_at_ms: pending.read_at_ms,
                record: record.as_deref().map(|record| &**record),
            };
            if let (true, Ok(body)) = (left_ms >= 1_000, serde_json::to_string(&entry)) {
                out.push(LocationWrite {
                    path: location_path(&hash),
                    body,
                    max_age_s: left_ms / 1_000,
                });
            }
        }
        out
    }

    /// Queues the copy of `hash` that this isolate would answer with, confirmed at `now_ms`,
    /// stamped with its generation. Nothing is written before the isolate has read the log.
    pub(super) fn write(
        &mut self,
        hash: &KeyHash,
        record: Option<Rc<PreparedRecord>>,
        now_ms: u64,
    ) {
        if let Some(generation) = self.sync.generation {
            self.write_stamped(hash, record, generation, now_ms, now_ms);
        }
    }

    /// [`EdgeCache::write`] with the stamp and the time of confirmation given. Nothing is
    /// written for `PIN_MS` after the isolate skipped an entry of the log it could not read
    /// (its answers may miss that change); the latest write per hash replaces the one queued.
    pub(super) fn write_stamped(
        &mut self,
        hash: &KeyHash,
        record: Option<Rc<PreparedRecord>>,
        generation: u64,
        read_at_ms: u64,
        now_ms: u64,
    ) {
        if !self.coverage.may_write(now_ms)
            || (self.writes.len() >= MAX_PENDING_WRITES && !self.writes.contains_key(hash))
        {
            return;
        }
        self.writes.insert(
            *hash,
            Pending {
                record,
                generation,
                read_at_ms,
            },
        );
    }
}
