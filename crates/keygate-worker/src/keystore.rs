//! The edge's read path: one KV read per secret-key hash, behind a short in-isolate cache.
//!
//! KV holds one denormalised `EdgeRecord` per secret key under `sk:<sha256 hex>`, written
//! through by the `Registry` Durable Object. This isolate's cache is updated directly by admin
//! writes that this isolate served, so those take effect here at once, and by the revocation
//! log ([`sync`]), which every isolate reads at most twice a second: a change reaches every
//! isolate within a second, and records learnt that way outrank KV until KV has caught up
//! (see docs/storage.md).

use crate::revocations::{self, Changes};
use keygate_core::Error;
use keygate_core::keys::KeyHash;
use keygate_core::model::{Account, EdgeRecord, Entitlement, ProductKeyRef};
use keygate_core::policy;
use keygate_core::policy::PreparedRecord;
use keygate_core::revocation::{PIN_MS, SyncState};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::Env;

pub const KV_BINDING: &str = "KEYS";
/// How long this isolate trusts a record it read from KV.
pub const CACHE_TTL_MS: u64 = 10_000;
/// KV's own edge cache for reads; 30 s is the minimum KV accepts.
pub const KV_CACHE_TTL_S: u64 = 30;
const CACHE_CAPACITY: usize = 10_000;

pub fn kv_key(hash: &KeyHash) -> String {
    format!("sk:{}", hash.to_hex())
}

/// A change the Registry made, handed back so this isolate's cache reflects it at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum EdgeUpdate {
    /// One key's record; `None` once the key is gone.
    Key {
        hash: KeyHash,
        record: Option<Box<EdgeRecord>>,
    },
    /// Everything every key of an account carries: the account and its product keys.
    /// `account` is `None` once the account is gone.
    Account {
        account_id: String,
        account: Option<Account>,
        product_keys: Vec<ProductKeyRef>,
    },
}

impl EdgeUpdate {
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

/// A pinned record (`None`: the key was deleted) and the time, in ms, until which it holds.
type Pin = (Option<Rc<PreparedRecord>>, u64);

struct Entry {
    record: Rc<PreparedRecord>,
    fetched_at_ms: u64,
}

thread_local! {
    static CACHE: RefCell<HashMap<KeyHash, Entry>> = RefCell::new(HashMap::new());
    /// The newest copy of each account an admin answer handed this isolate. An account-wide
    /// change reaches KV record by record in the background (docs/storage.md), so a key read
    /// from KV meanwhile may carry the older copy: this one replaces it.
    static ACCOUNTS: RefCell<HashMap<String, (Account, Vec<ProductKeyRef>)>> =
        RefCell::new(HashMap::new());
    /// Key records learnt from the revocation log or an admin answer (`None`: deleted), which
    /// outrank what KV answers until they expire: KV may still hold the older record.
    static PINNED: RefCell<HashMap<KeyHash, Pin>> = RefCell::new(HashMap::new());
    static SYNC: RefCell<SyncState> = RefCell::new(SyncState::default());
    /// Hashes KV holds no key under, and until when (ms) that is trusted: a client that keeps
    /// sending a deleted or mistyped key costs one KV read per [`CACHE_TTL_MS`], not one per
    /// request. Only a creation can turn such a hash into a key, and a creation reaches this
    /// isolate through the revocation log or an admin answer ([`apply`]), which clears it.
    static MISSING: RefCell<HashMap<KeyHash, u64>> = RefCell::new(HashMap::new());
}

/// Drops every cached record and every cached "no such key": nothing cached is trusted.
fn forget_cached() {
    CACHE.with(|cache| cache.borrow_mut().clear());
    MISSING.with(|missing| missing.borrow_mut().clear());
}

/// Whether KV said, less than [`CACHE_TTL_MS`] ago, that no key is stored under `hash`.
pub fn known_missing(hash: &KeyHash) -> bool {
    let now = now_ms();
    MISSING.with(|missing| missing.borrow().get(hash).is_some_and(|until| *until > now))
}

fn remember_missing(hash: KeyHash, now: u64) {
    MISSING.with(|missing| {
        let mut missing = missing.borrow_mut();
        // Full of live entries: someone is sending many different unknown keys, and each of
        // those costs a KV read anyway.
        make_room(&mut missing, |until| *until > now);
        missing.insert(hash, now + CACHE_TTL_MS);
    });
}

/// Keeps a per-isolate map within [`CACHE_CAPACITY`] before an insert: when it is full, drops
/// the entries `live` says are over, and if it is still full, all of them. Returns whether it
/// dropped them all.
fn make_room<V>(map: &mut HashMap<KeyHash, V>, mut live: impl FnMut(&V) -> bool) -> bool {
    if map.len() < CACHE_CAPACITY {
        return false;
    }
    map.retain(|_, value| live(value));
    if map.len() < CACHE_CAPACITY {
        return false;
    }
    map.clear();
    true
}

/// Whether this isolate must read the revocation log before deciding the next request.
pub fn sync_due() -> bool {
    SYNC.with(|sync| sync.borrow().due(now_ms()))
}

/// 503 when the revocation log has not been read for too long (docs/storage.md).
pub fn check_fresh() -> Result<(), Error> {
    SYNC.with(|sync| sync.borrow().check_fresh(now_ms()))
}

/// Reads the revocation log from this isolate's generation on and applies what changed. A
/// failure is only recorded: [`check_fresh`] decides how long the isolate may go on without.
pub async fn sync(env: &Env) {
    let generation = begin_sync();
    if let Ok(changes) = revocations::since(env, generation).await {
        finish_sync(&changes);
    }
}

/// Starts a read of the revocation log: records the attempt (the next one waits its interval
/// even if this one never finishes) and returns the generation to read from.
pub fn begin_sync() -> Option<u64> {
    SYNC.with(|sync| {
        let mut sync = sync.borrow_mut();
        sync.attempted(now_ms());
        sync.generation
    })
}

/// Applies what the log answered to a read that [`begin_sync`] started.
pub fn finish_sync(changes: &Changes) {
    if changes.reset {
        forget_cached();
    }
    for entry in &changes.entries {
        match serde_json::from_str::<Vec<EdgeUpdate>>(entry) {
            Ok(updates) => apply(updates),
            // An entry this version cannot read: trust nothing cached rather than skip it.
            Err(_) => forget_cached(),
        }
    }
    SYNC.with(|sync| sync.borrow_mut().succeeded(changes.generation, now_ms()));
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// The record this isolate trusts for `hash` now, if any: no storage read.
pub fn cached(hash: &KeyHash) -> Option<Rc<PreparedRecord>> {
    let now = now_ms();
    CACHE.with(|cache| {
        cache
            .borrow()
            .get(hash)
            .filter(|entry| now.saturating_sub(entry.fetched_at_ms) < CACHE_TTL_MS)
            .map(|entry| Rc::clone(&entry.record))
    })
}

/// The KV text under `hash`: `Ok(None)` for an unknown key, `Err` (503) when KV cannot answer.
pub async fn kv_get(env: &Env, hash: &KeyHash) -> Result<Option<String>, Error> {
    let kv = env
        .kv(KV_BINDING)
        .map_err(|_| policy::store_unavailable())?;
    kv.get(&kv_key(hash))
        .cache_ttl(KV_CACHE_TTL_S)
        .text()
        .await
        .map_err(|_| policy::store_unavailable())
}

/// The record for `hash`: from this isolate's cache, else from KV.
pub async fn lookup(env: &Env, hash: &KeyHash) -> Result<Option<Rc<PreparedRecord>>, Error> {
    if let Some(record) = cached(hash) {
        return Ok(Some(record));
    }
    let text = kv_get(env, hash).await?;
    accept(hash, text.as_deref())
}

/// Decodes what KV answered for `hash` and caches it, unless a newer record of the key (or of
/// its account) was learnt meanwhile from the revocation log or an admin answer: KV may still
/// hold the older one. An unknown key is remembered as missing for [`CACHE_TTL_MS`] (see
/// `MISSING`). A record that does not decode fails closed (503).
pub fn accept(hash: &KeyHash, text: Option<&str>) -> Result<Option<Rc<PreparedRecord>>, Error> {
    let now = now_ms();
    let pinned = PINNED.with(|pins| {
        pins.borrow()
            .get(hash)
            .filter(|(_, until)| *until > now)
            .map(|(record, _)| record.clone())
    });
    let record = match (pinned, text) {
        (Some(pinned), _) => pinned,
        (None, None) => None,
        (None, Some(text)) => Some(Rc::new(PreparedRecord::new(
            serde_json::from_str(text).map_err(|_| policy::store_unavailable())?,
        ))),
    };
    let Some(mut record) = record else {
        remember_missing(*hash, now);
        return Ok(None);
    };
    ACCOUNTS.with(|accounts| {
        if let Some((account, product_keys)) = accounts.borrow().get(&record.account.id)
            && account.revision > record.account.revision
        {
            record = refreshed(&record, account, product_keys);
        }
    });
    remember(*hash, Rc::clone(&record), now);
    Ok(Some(record))
}

fn pin(hash: KeyHash, record: Option<Rc<PreparedRecord>>, now: u64) {
    PINNED.with(|pins| {
        let mut pins = pins.borrow_mut();
        if make_room(&mut pins, |(_, until)| *until > now) {
            // It was full of live pins: drop the cache they protected too, rather than trust
            // KV for a key that may have just been revoked.
            forget_cached();
        }
        pins.insert(hash, (record, now + PIN_MS));
    });
}

fn remember(hash: KeyHash, record: Rc<PreparedRecord>, now: u64) {
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        make_room(&mut cache, |entry| {
            now.saturating_sub(entry.fetched_at_ms) < CACHE_TTL_MS
        });
        cache.insert(
            hash,
            Entry {
                record,
                fetched_at_ms: now,
            },
        );
    });
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

/// Applies the Registry's write-through results to this isolate's cache.
pub fn apply(updates: Vec<EdgeUpdate>) {
    let now = now_ms();
    for update in updates {
        match update {
            EdgeUpdate::Key { hash, record } => {
                MISSING.with(|missing| missing.borrow_mut().remove(&hash));
                let record = record.map(|record| Rc::new(PreparedRecord::new(*record)));
                match &record {
                    Some(record) => remember(hash, Rc::clone(record), now),
                    None => CACHE.with(|cache| {
                        cache.borrow_mut().remove(&hash);
                    }),
                }
                pin(hash, record, now);
            }
            EdgeUpdate::Account {
                account_id,
                account,
                product_keys,
            } => match account {
                Some(account) => {
                    CACHE.with(|cache| {
                        for entry in cache.borrow_mut().values_mut() {
                            if entry.record.account.id == account_id
                                && entry.record.account.revision < account.revision
                            {
                                entry.record = refreshed(&entry.record, &account, &product_keys);
                            }
                        }
                    });
                    ACCOUNTS.with(|accounts| {
                        let mut accounts = accounts.borrow_mut();
                        if accounts.len() >= CACHE_CAPACITY && !accounts.contains_key(&account_id) {
                            accounts.clear();
                        }
                        let newer = accounts
                            .get(&account_id)
                            .is_none_or(|(held, _)| held.revision < account.revision);
                        if newer {
                            accounts.insert(account_id, (account, product_keys));
                        }
                    });
                }
                None => CACHE.with(|cache| {
                    cache
                        .borrow_mut()
                        .retain(|_, entry| entry.record.account.id != account_id)
                }),
            },
        }
    }
}
