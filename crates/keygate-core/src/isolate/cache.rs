//! What one isolate holds of the key store between requests, and its rules for the tiers a
//! lookup may read. A secret key's record is taken from the first tier that has one it may
//! trust:
//!
//! 1. **Pins**: records learnt from the revocation log or an admin answer, for
//!    [`PIN_MS`](crate::revocation::PIN_MS) (a deleted key is pinned as deleted). They
//!    outrank every tier below.
//! 2. **The isolate's cache**: records, and "no such key", read from a tier below, for
//!    [`CACHE_TTL_MS`]; and the newest copy of each account an update carried, which
//!    replaces any older copy a record from any tier carries.
//! 3. **The location's cache** (the Cache API, shared by the isolates of one location):
//!    copies stamped with the log generation of the isolate that wrote them, trusted by what
//!    the stamp proves ([`EdgeCache::accept_location`], module `location`).
//! 4. **KV**: the store of record for keys that did not change within `PIN_MS`
//!    ([`EdgeCache::accept`]).
//!
//! A key design decision of this module: a change learnt from the log outranks every tier,
//! never the reverse. KV may serve the old record for up to `PIN_MS` after a change (its
//! propagation plus its read cache), and a location copy may have been written, or written
//! again after a fresher one, by an isolate that had not heard of the change yet. So a pinned
//! key is answered from its pin, and the isolate remembers every change it applied within
//! `PIN_MS` (module `coverage`): as a pin or, when the pins are full, as a marker that refuses
//! KV for that key (503) until the change is `PIN_MS` old. A location copy carries the log
//! generation its writer had applied (its *stamp*), and is taken only when the stamp is at or
//! above the reader's *floor* (the generation below which the reader has forgotten changes:
//! those older than `PIN_MS`, which KV has, and any it may have missed) and at or above every
//! change to that key the reader still knows of. Nothing is dropped for lack of room in a way
//! that lets a stale answer through: markers that must make room close KV instead.
//!
//! The isolate reads the log every [`SYNC_INTERVAL_MS`](crate::revocation::SYNC_INTERVAL_MS)
//! and refuses every keyed request once it could not for
//! [`FAIL_CLOSED_AFTER_MS`](crate::revocation::FAIL_CLOSED_AFTER_MS)
//! ([`EdgeCache::check_fresh`]).
//!
//! The worker keeps one `EdgeCache` per isolate and does only the I/O; every method takes the
//! time, in unix milliseconds. Per keyed request: [`EdgeCache::held`]; on
//! [`Held::Nothing`], the location's copy ([`location_path`]) to
//! [`EdgeCache::accept_location`]; on [`Located::Miss`], KV to [`EdgeCache::accept`]; once
//! answered, a put of each [`LocationWrite`] that [`EdgeCache::take_location_writes`] hands
//! out. The log's answers go to [`EdgeCache::synced`], an admin answer's changes to
//! [`EdgeCache::apply`]. Each map holds at most [`CAPACITY`] entries, the markers
//! [`MARKER_CAPACITY`]. The rules and their cost are in docs/storage.md ("The isolate's
//! tiers").

use crate::error::Error;
use crate::keys::KeyHash;
use crate::model::{Account, EdgeRecord, Entitlement, ProductKeyRef};
use crate::policy::{self, PreparedRecord};
use crate::revocation::SyncState;
use coverage::{Coverage, UNNUMBERED};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::rc::Rc;

mod coverage;
mod location;

pub use coverage::MARKER_CAPACITY;
pub use location::{
    COPY_MAX_AGE_MS, Located, LocationWrite, MAX_PENDING_WRITES, REFRESH_AFTER_MS, location_path,
};

/// How long an isolate trusts a record it read from KV, and KV's answer that no key is stored
/// under a hash.
pub const CACHE_TTL_MS: u64 = 10_000;
/// Entries each of the isolate's maps (records, pins, accounts, missing hashes) holds at most.
pub const CAPACITY: usize = 10_000;

/// A change the Registry made, as the revocation log and admin answers carry it (JSON, tagged
/// by `scope`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum EdgeUpdate {
    /// One key's record; `None` once the key is gone.
    Key {
        /// The hash of the key's secret.
        hash: KeyHash,
        /// The key's record now.
        record: Option<Box<EdgeRecord>>,
    },
    /// Everything every key of an account carries: the account and its product keys.
    Account {
        /// The account's id.
        account_id: String,
        /// The account now; `None` once it is gone.
        account: Option<Account>,
        /// The product keys of its current entitlements.
        product_keys: Vec<ProductKeyRef>,
    },
}

impl EdgeUpdate {
    /// The update of `account_id` to `account` with these `entitlements`.
    pub fn account(
        account_id: &str,
        account: Option<Account>,
        entitlements: &[Entitlement],
    ) -> Self {
        Self::Account {
            account_id: account_id.to_string(),
            account,
            product_keys: entitlements
                .iter()
                .flat_map(Entitlement::product_key_refs)
                .collect(),
        }
    }
}

/// What an isolate holds for a hash, without reading storage.
#[derive(Debug, Clone)]
pub enum Held {
    /// A record it trusts now: its pin, or a record it cached.
    Record(Rc<PreparedRecord>),
    /// The key was deleted within `PIN_MS`, or a tier said, less than [`CACHE_TTL_MS`] ago,
    /// that no key is stored under the hash.
    Missing,
    /// Nothing: the location's cache, then KV, must be read.
    Nothing,
}

#[derive(Debug)]
struct Entry {
    record: Rc<PreparedRecord>,
    fetched_at_ms: u64,
}

/// One isolate's view of the key store. See the module documentation for the rules.
#[derive(Debug)]
pub struct EdgeCache {
    records: HashMap<KeyHash, Entry>,
    /// The newest copy of each account an update carried. An account-wide change reaches KV
    /// record by record in the background, so a key read from KV (or a location copy written
    /// from it) meanwhile may carry the older copy: this one replaces it.
    accounts: HashMap<String, (Account, Vec<ProductKeyRef>)>,
    /// Hashes a tier holds no key under, and until when that is trusted. Only a creation can
    /// turn such a hash into a key, and a creation arrives as an update ([`EdgeCache::apply`]),
    /// which clears it.
    missing: HashMap<KeyHash, u64>,
    /// The pins, the markers, the floor: what the isolate knows changed.
    coverage: Coverage,
    /// Location writes not yet taken by the worker, the latest per hash.
    writes: HashMap<KeyHash, location::Pending>,
    capacity: usize,
    sync: SyncState,
}

impl Default for EdgeCache {
    fn default() -> Self {
        Self::with_capacity(CAPACITY, MARKER_CAPACITY)
    }
}

impl EdgeCache {
    /// A cache whose maps hold at most `capacity` entries each and whose markers hold at most
    /// `markers` ([`EdgeCache::default`]: [`CAPACITY`] and [`MARKER_CAPACITY`]). Tests use
    /// small ones to reach the bounds.
    pub fn with_capacity(capacity: usize, markers: usize) -> Self {
        Self {
            records: HashMap::new(),
            accounts: HashMap::new(),
            missing: HashMap::new(),
            coverage: Coverage::new(capacity, markers),
            writes: HashMap::new(),
            capacity: capacity.max(1),
            sync: SyncState::default(),
        }
    }

    /// What the isolate holds for `hash` at `now_ms`, once it has checked that it may still
    /// trust what it holds ([`EdgeCache::check_fresh`]): the hot path's one call. A pin comes
    /// first: a pinned key is never looked up in another tier.
    pub fn held(&self, hash: &KeyHash, now_ms: u64) -> Result<Held, Error> {
        self.check_fresh(now_ms)?;
        if let Some(pin) = self.coverage.pin(hash, now_ms) {
            return Ok(match &pin.record {
                Some(record) => Held::Record(Rc::clone(record)),
                None => Held::Missing,
            });
        }
        Ok(match self.cached(hash, now_ms) {
            Some(record) => Held::Record(record),
            None if self.known_missing(hash, now_ms) => Held::Missing,
            None => Held::Nothing,
        })
    }

    /// The record the isolate trusts for `hash` at `now_ms`, if any: its pin, else what it
    /// cached.
    pub fn cached(&self, hash: &KeyHash, now_ms: u64) -> Option<Rc<PreparedRecord>> {
        if let Some(pin) = self.coverage.pin(hash, now_ms) {
            return pin.record.clone();
        }
        self.records
            .get(hash)
            .filter(|entry| now_ms.saturating_sub(entry.fetched_at_ms) < CACHE_TTL_MS)
            .map(|entry| Rc::clone(&entry.record))
    }

    /// Whether a tier said, less than [`CACHE_TTL_MS`] before `now_ms`, that no key is stored
    /// under `hash`.
    pub fn known_missing(&self, hash: &KeyHash, now_ms: u64) -> bool {
        self.missing.get(hash).is_some_and(|until| *until > now_ms)
    }

    /// Takes what KV answered for `hash` (`None`: no such key) at `now_ms` and caches it. A
    /// key pinned at `now_ms` gets its pin instead, whatever KV said: KV may still hold the
    /// older record. A key that changed within `PIN_MS` and whose record the isolate no
    /// longer holds (a marker: the pins were full) is refused with 503 whatever KV said, and so
    /// is every key while markers that had to be dropped early would still be live. A record
    /// whose account is older than a copy the isolate learnt gets that copy. An unknown key is
    /// remembered as missing for [`CACHE_TTL_MS`]. A record that does not decode fails closed
    /// (503). What the isolate answers is queued for the location
    /// ([`EdgeCache::take_location_writes`]).
    pub fn accept(
        &mut self,
        hash: &KeyHash,
        text: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Rc<PreparedRecord>>, Error> {
        let record = match (self.coverage.pin(hash, now_ms), text) {
            (Some(pin), _) => pin.record.clone(),
            (None, _) if self.coverage.kv_refused(hash, now_ms) => return Err(refused_for_key()),
            (None, None) => None,
            (None, Some(text)) => Some(Rc::new(PreparedRecord::new(
                serde_json::from_str(text).map_err(|_| policy::store_unavailable())?,
            ))),
        };
        let Some(record) = record else {
            self.remember_missing(*hash, now_ms);
            self.write(hash, None, now_ms);
            return Ok(None);
        };
        let record = self.with_newest_account(record);
        self.remember(*hash, Rc::clone(&record), now_ms);
        self.write(hash, Some(Rc::clone(&record)), now_ms);
        Ok(Some(record))
    }

    /// Applies changes the Registry made that an admin answer carried (this isolate served the
    /// command) at `now_ms`: see [`EdgeCache::synced`] for what a change does. The log has not
    /// numbered these changes for this isolate yet, so until a read of the log brings them
    /// again, no location copy stamped by another isolate is taken for their keys.
    pub fn apply(&mut self, updates: Vec<EdgeUpdate>, now_ms: u64) {
        let stamp = self.sync.generation;
        self.apply_at(updates, UNNUMBERED, stamp, now_ms);
    }

    /// Whether the isolate must read the revocation log before deciding a request at `now_ms`.
    pub fn sync_due(&self, now_ms: u64) -> bool {
        self.sync.due(now_ms)
    }

    /// Ok while what the isolate holds may still be trusted at `now_ms`; else 503 (fail
    /// closed): see [`SyncState::check_fresh`].
    pub fn check_fresh(&self, now_ms: u64) -> Result<(), Error> {
        self.sync.check_fresh(now_ms)
    }

    /// Starts a read of the log at `now_ms`: the next one waits its interval even if this one
    /// never finishes. Returns the generation to read from (`None`: a new isolate).
    pub fn begin_sync(&mut self, now_ms: u64) -> Option<u64> {
        self.sync.attempted(now_ms);
        self.sync.generation
    }

    /// Applies what the log answered at `now_ms`: its `entries` (each a JSON array of
    /// [`EdgeUpdate`]s, oldest first) up to `generation`.
    ///
    /// A key's record is cached and pinned for `PIN_MS` (a deleted key is pinned as
    /// deleted), and its location copy is overwritten, stamped `generation`; an account's copy
    /// replaces older copies in every cached and pinned record and in every record a tier
    /// answers later; a deleted account's cached records are dropped. Should the pins be full
    /// of live ones, those that expire soonest keep only a marker (see [`EdgeCache::accept`]).
    ///
    /// `reset` (the isolate fell behind the log) and an entry this version cannot read drop
    /// every cached record and missing hash (nothing cached is trusted rather than a change
    /// skipped) and raise the floor to `generation`; pins stay. After an unreadable entry the
    /// isolate writes nothing to the location for `PIN_MS`. A first read and a reset write
    /// no copies: the changes they bring are not new to the location.
    pub fn synced(&mut self, generation: u64, reset: bool, entries: &[String], now_ms: u64) {
        let first = self.sync.generation.is_none();
        if reset {
            self.forget_cached();
        }
        let entries: Vec<Option<Vec<EdgeUpdate>>> = entries
            .iter()
            .map(|entry| serde_json::from_str(entry).ok())
            .collect();
        let readable = entries.iter().all(Option::is_some);
        let stamp = (readable && !reset && !first).then_some(generation);
        for entry in entries {
            match entry {
                Some(updates) => self.apply_at(updates, generation, stamp, now_ms),
                None => self.forget_cached(),
            }
        }
        self.coverage
            .synced(generation, !reset && !first, readable, now_ms);
        self.sync.succeeded(generation, now_ms);
    }

    /// Applies `updates`, pinning keys as changed at `changed_at` (a generation, or
    /// [`UNNUMBERED`]), and queues their location copies stamped `stamp` (`None`: none).
    fn apply_at(
        &mut self,
        updates: Vec<EdgeUpdate>,
        changed_at: u64,
        stamp: Option<u64>,
        now_ms: u64,
    ) {
        for update in updates {
            match update {
                EdgeUpdate::Key { hash, record } => {
                    self.missing.remove(&hash);
                    let record = record.map(|record| {
                        self.with_newest_account(Rc::new(PreparedRecord::new(*record)))
                    });
                    match &record {
                        Some(record) => self.remember(hash, Rc::clone(record), now_ms),
                        None => {
                            self.records.remove(&hash);
                        }
                    }
                    if let Some(stamp) = stamp {
                        self.write_stamped(&hash, record.clone(), stamp, now_ms, now_ms);
                    }
                    self.coverage.insert_pin(hash, record, changed_at, now_ms);
                }
                EdgeUpdate::Account {
                    account_id,
                    account: Some(account),
                    product_keys,
                } => self.apply_account(account_id, account, product_keys),
                EdgeUpdate::Account {
                    account_id,
                    account: None,
                    ..
                } => self
                    .records
                    .retain(|_, entry| entry.record.account.id != account_id),
            }
        }
    }

    fn apply_account(
        &mut self,
        account_id: String,
        account: Account,
        product_keys: Vec<ProductKeyRef>,
    ) {
        let older = |record: &PreparedRecord| {
            record.account.id == account_id && record.account.revision < account.revision
        };
        for entry in self.records.values_mut() {
            if older(&entry.record) {
                entry.record = refreshed(&entry.record, &account, &product_keys);
            }
        }
        for pin in self.coverage.pins_mut() {
            if let Some(record) = pin.record.as_mut().filter(|record| older(record)) {
                *record = refreshed(record, &account, &product_keys);
            }
        }
        if self.accounts.len() >= self.capacity && !self.accounts.contains_key(&account_id) {
            self.accounts.clear();
        }
        let newer = self
            .accounts
            .get(&account_id)
            .is_none_or(|(held, _)| held.revision < account.revision);
        if newer {
            self.accounts.insert(account_id, (account, product_keys));
        }
    }

    /// `record`, with the newest copy of its account the isolate holds if that is newer.
    fn with_newest_account(&self, record: Rc<PreparedRecord>) -> Rc<PreparedRecord> {
        match self.accounts.get(&record.account.id) {
            Some((account, product_keys)) if account.revision > record.account.revision => {
                refreshed(&record, account, product_keys)
            }
            _ => record,
        }
    }

    /// Drops every cached record and every cached "no such key".
    fn forget_cached(&mut self) {
        self.records.clear();
        self.missing.clear();
    }

    fn remember(&mut self, hash: KeyHash, record: Rc<PreparedRecord>, now_ms: u64) {
        make_room(&mut self.records, self.capacity, |entry| {
            now_ms.saturating_sub(entry.fetched_at_ms) < CACHE_TTL_MS
        });
        self.records.insert(
            hash,
            Entry {
                record,
                fetched_at_ms: now_ms,
            },
        );
    }

    fn remember_missing(&mut self, hash: KeyHash, now_ms: u64) {
        // Full of live entries: someone is sending many different unknown keys, and each of
        // those costs a read anyway.
        make_room(&mut self.missing, self.capacity, |until| *until > now_ms);
        self.missing.insert(hash, now_ms + CACHE_TTL_MS);
    }
}

/// The 503 of a key that changed within `PIN_MS` and whose record the isolate no longer
/// holds: no tier's answer for it can be checked, so none is taken.
fn refused_for_key() -> Error {
    Error::unavailable(
        "This key changed moments ago and the gateway cannot confirm its current state, so the \
         request was not authorised. Retry shortly.",
    )
    .with_retry_after(1)
    .with_reason("isolate: the key's recent change is only marked (pins full)")
}

/// Keeps a map within `capacity` before an insert: when it is full, drops the entries `live`
/// says are over, and if it is still full, all of them (a cache: dropping only costs reads).
fn make_room<V>(map: &mut HashMap<KeyHash, V>, capacity: usize, mut live: impl FnMut(&V) -> bool) {
    if map.len() < capacity {
        return;
    }
    map.retain(|_, value| live(value));
    if map.len() >= capacity {
        map.clear();
    }
}

/// `record` with a newer copy of its account, prepared again (its allowlist may have changed).
fn refreshed(
    record: &PreparedRecord,
    account: &Account,
    product_keys: &[ProductKeyRef],
) -> Rc<PreparedRecord> {
    let mut record = EdgeRecord::clone(record);
    record.refresh_account(account, product_keys);
    Rc::new(PreparedRecord::new(record))
}

#[cfg(test)]
mod tests;
