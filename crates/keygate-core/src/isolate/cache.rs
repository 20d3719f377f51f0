//! What one isolate holds of the key store between requests: records read from KV, records
//! learnt from the revocation log or an admin answer (pins), the newest copy of each account,
//! the hashes KV holds no key under, and the isolate's position in the log.
//!
//! A key design decision of this module: a change learnt from the log outranks KV, never the
//! reverse. KV may serve the old record for up to [`PIN_MS`] after a change (its propagation
//! plus its read cache), so a record learnt from the log is pinned that long and a KV answer
//! for a pinned key is never decoded, only replaced by the pin ([`EdgeCache::accept`]); an
//! account copy learnt that way replaces any older copy a KV record carries. Everything else
//! is a short cache: a record read from KV is trusted for [`CACHE_TTL_MS`], and so is KV's "no
//! such key". The isolate reads the log every [`SYNC_INTERVAL_MS`](crate::revocation::SYNC_INTERVAL_MS) and
//! refuses every keyed request once it could not for
//! [`FAIL_CLOSED_AFTER_MS`](crate::revocation::FAIL_CLOSED_AFTER_MS)
//! ([`EdgeCache::check_fresh`]).
//!
//! The worker keeps one `EdgeCache` per isolate and does only the I/O (the KV read, the call to
//! the log); every method takes the time, in unix milliseconds. Each map holds at most
//! [`CAPACITY`] entries (see [`EdgeCache::apply`] for what a full map of live pins costs).

use crate::error::Error;
use crate::keys::KeyHash;
use crate::model::{Account, EdgeRecord, Entitlement, ProductKeyRef};
use crate::policy::{self, PreparedRecord};
use crate::revocation::{PIN_MS, SyncState};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::rc::Rc;

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
    /// A record it trusts now.
    Record(Rc<PreparedRecord>),
    /// KV said, less than [`CACHE_TTL_MS`] ago, that no key is stored under the hash.
    Missing,
    /// Nothing: KV must be read.
    Nothing,
}

#[derive(Debug)]
struct Entry {
    record: Rc<PreparedRecord>,
    fetched_at_ms: u64,
}

/// A record learnt from the log or an admin answer (`None`: the key was deleted), and the time
/// until which it outranks KV.
#[derive(Debug)]
struct Pin {
    record: Option<Rc<PreparedRecord>>,
    until_ms: u64,
}

/// One isolate's view of the key store. See the module documentation for the rules.
#[derive(Debug, Default)]
pub struct EdgeCache {
    records: HashMap<KeyHash, Entry>,
    /// The newest copy of each account an update carried. An account-wide change reaches KV
    /// record by record in the background, so a key read from KV meanwhile may carry the older
    /// copy: this one replaces it.
    accounts: HashMap<String, (Account, Vec<ProductKeyRef>)>,
    pins: HashMap<KeyHash, Pin>,
    /// Hashes KV holds no key under, and until when that is trusted. Only a creation can turn
    /// such a hash into a key, and a creation arrives as an update ([`EdgeCache::apply`]),
    /// which clears it.
    missing: HashMap<KeyHash, u64>,
    sync: SyncState,
}

impl EdgeCache {
    /// What the isolate holds for `hash` at `now_ms`, once it has checked that it may still
    /// trust what it holds ([`EdgeCache::check_fresh`]): the hot path's one call.
    pub fn held(&self, hash: &KeyHash, now_ms: u64) -> Result<Held, Error> {
        self.check_fresh(now_ms)?;
        Ok(match self.cached(hash, now_ms) {
            Some(record) => Held::Record(record),
            None if self.known_missing(hash, now_ms) => Held::Missing,
            None => Held::Nothing,
        })
    }

    /// The record the isolate trusts for `hash` at `now_ms`, if any.
    pub fn cached(&self, hash: &KeyHash, now_ms: u64) -> Option<Rc<PreparedRecord>> {
        self.records
            .get(hash)
            .filter(|entry| now_ms.saturating_sub(entry.fetched_at_ms) < CACHE_TTL_MS)
            .map(|entry| Rc::clone(&entry.record))
    }

    /// Whether KV said, less than [`CACHE_TTL_MS`] before `now_ms`, that no key is stored
    /// under `hash`.
    pub fn known_missing(&self, hash: &KeyHash, now_ms: u64) -> bool {
        self.missing.get(hash).is_some_and(|until| *until > now_ms)
    }

    /// Takes what KV answered for `hash` (`None`: no such key) at `now_ms` and caches it. A
    /// key pinned at `now_ms` gets its pin instead, whatever KV said: KV may still hold the
    /// older record. A record whose account is older than a copy the isolate learnt gets that
    /// copy. An unknown key is remembered as missing for [`CACHE_TTL_MS`]. A record that does
    /// not decode fails closed (503).
    pub fn accept(
        &mut self,
        hash: &KeyHash,
        text: Option<&str>,
        now_ms: u64,
    ) -> Result<Option<Rc<PreparedRecord>>, Error> {
        let pinned = self
            .pins
            .get(hash)
            .filter(|pin| pin.until_ms > now_ms)
            .map(|pin| pin.record.clone());
        let record = match (pinned, text) {
            (Some(pinned), _) => pinned,
            (None, None) => None,
            (None, Some(text)) => Some(Rc::new(PreparedRecord::new(
                serde_json::from_str(text).map_err(|_| policy::store_unavailable())?,
            ))),
        };
        let Some(mut record) = record else {
            // Full of live entries: someone is sending many different unknown keys, and each
            // of those costs a KV read anyway.
            make_room(&mut self.missing, |until| *until > now_ms);
            self.missing.insert(*hash, now_ms + CACHE_TTL_MS);
            return Ok(None);
        };
        if let Some((account, product_keys)) = self.accounts.get(&record.account.id)
            && account.revision > record.account.revision
        {
            record = refreshed(&record, account, product_keys);
        }
        self.remember(*hash, Rc::clone(&record), now_ms);
        Ok(Some(record))
    }

    /// Applies changes the Registry made (from the log or an admin answer) at `now_ms`. A
    /// key's record is cached and pinned for [`PIN_MS`] (a deleted key is pinned as deleted);
    /// an account's copy replaces older copies in every cached record and in every record KV
    /// answers later; a deleted account's records are dropped. Should the pins fill up with
    /// live ones ([`CAPACITY`] keys changed within [`PIN_MS`]), they are all dropped together
    /// with every cached record. That is the one gap the bound costs: past it, a stale KV
    /// answer for a key changed in the last [`PIN_MS`] is taken again.
    pub fn apply(&mut self, updates: Vec<EdgeUpdate>, now_ms: u64) {
        for update in updates {
            match update {
                EdgeUpdate::Key { hash, record } => {
                    self.missing.remove(&hash);
                    let record = record.map(|record| Rc::new(PreparedRecord::new(*record)));
                    match &record {
                        Some(record) => self.remember(hash, Rc::clone(record), now_ms),
                        None => {
                            self.records.remove(&hash);
                        }
                    }
                    self.pin(hash, record, now_ms);
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
    /// [`EdgeUpdate`]s, oldest first) up to `generation`. `reset` (the isolate fell behind the
    /// log) and an entry this version cannot read drop every cached record and missing hash:
    /// nothing cached is trusted rather than a change skipped. Pins stay.
    pub fn synced(&mut self, generation: u64, reset: bool, entries: &[String], now_ms: u64) {
        if reset {
            self.forget_cached();
        }
        for entry in entries {
            match serde_json::from_str::<Vec<EdgeUpdate>>(entry) {
                Ok(updates) => self.apply(updates, now_ms),
                Err(_) => self.forget_cached(),
            }
        }
        self.sync.succeeded(generation, now_ms);
    }

    fn apply_account(
        &mut self,
        account_id: String,
        account: Account,
        product_keys: Vec<ProductKeyRef>,
    ) {
        for entry in self.records.values_mut() {
            if entry.record.account.id == account_id
                && entry.record.account.revision < account.revision
            {
                entry.record = refreshed(&entry.record, &account, &product_keys);
            }
        }
        if self.accounts.len() >= CAPACITY && !self.accounts.contains_key(&account_id) {
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

    /// Drops every cached record and every cached "no such key".
    fn forget_cached(&mut self) {
        self.records.clear();
        self.missing.clear();
    }

    fn pin(&mut self, hash: KeyHash, record: Option<Rc<PreparedRecord>>, now_ms: u64) {
        if make_room(&mut self.pins, |pin| pin.until_ms > now_ms) {
            self.forget_cached();
        }
        self.pins.insert(
            hash,
            Pin {
                record,
                until_ms: now_ms + PIN_MS,
            },
        );
    }

    fn remember(&mut self, hash: KeyHash, record: Rc<PreparedRecord>, now_ms: u64) {
        make_room(&mut self.records, |entry| {
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
}

/// Keeps a map within [`CAPACITY`] before an insert: when it is full, drops the entries `live`
/// says are over, and if it is still full, all of them. Returns whether it dropped them all.
fn make_room<V>(map: &mut HashMap<KeyHash, V>, mut live: impl FnMut(&V) -> bool) -> bool {
    if map.len() < CAPACITY {
        return false;
    }
    map.retain(|_, value| live(value));
    if map.len() < CAPACITY {
        return false;
    }
    map.clear();
    true
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
