//! The edge's read path: one KV read per secret-key hash, behind a short in-isolate cache.
//!
//! KV holds one denormalised `EdgeRecord` per secret key under `sk:<sha256 hex>`, written
//! through by the `Registry` Durable Object. This isolate's cache (one per location it serves:
//! one once deployed) is updated directly by admin writes that this isolate served, so those
//! take effect here at once, and by the revocation log ([`sync`]), which every isolate reads at
//! most twice a second through its location's mirror: a change reaches every isolate within a
//! second, and records learnt that way outrank KV until KV has caught up
//! (see docs/storage.md). Those rules are `keygate_core::isolate::EdgeCache`'s; this module
//! keeps its one instance, reads the clock and does the I/O.

use crate::revocations;
use keygate_core::Error;
use keygate_core::isolate::EdgeCache;
pub use keygate_core::isolate::{EdgeUpdate, Held};
use keygate_core::keys::KeyHash;
use keygate_core::location::Location;
use keygate_core::policy;
use keygate_core::policy::PreparedRecord;
use keygate_core::revocation::Changes;
use std::cell::RefCell;
use std::rc::Rc;
use worker::Env;

pub const KV_BINDING: &str = "KEYS";
/// KV's own edge cache for reads; 30 s is the minimum KV accepts.
pub const KV_CACHE_TTL_S: u64 = 30;
/// Locations one isolate keeps a cache for. A deployed isolate serves one; the end-to-end
/// suites name a few (`KEYGATE_TEST_LOCATIONS`).
const MAX_LOCATIONS: usize = 8;

pub fn kv_key(hash: &KeyHash) -> String {
    format!("sk:{}", hash.to_hex())
}

thread_local! {
    /// This isolate's records, pins, account copies, missing hashes and position in the log,
    /// per location it serves (one, once deployed): every rule is `EdgeCache`'s; this module
    /// only passes it the time and what KV and the log answered.
    static CACHES: RefCell<Vec<(Location, EdgeCache)>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` on `location`'s cache.
fn with_cache<R>(location: &Location, f: impl FnOnce(&mut EdgeCache) -> R) -> R {
    CACHES.with(|caches| f(cache_of(&mut caches.borrow_mut(), location)))
}

/// `location`'s cache, made when new. A location new to a full map starts the map afresh: an
/// empty cache is always safe (it must read the log before it serves). Not generic, so each
/// caller of [`with_cache`] shares this code (wasm size).
#[inline(never)]
fn cache_of<'c>(
    caches: &'c mut Vec<(Location, EdgeCache)>,
    location: &Location,
) -> &'c mut EdgeCache {
    let at = match caches.iter().position(|(known, _)| known == location) {
        Some(at) => at,
        None => {
            if caches.len() >= MAX_LOCATIONS {
                caches.clear();
            }
            caches.push((location.clone(), EdgeCache::default()));
            caches.len() - 1
        }
    };
    &mut caches[at].1
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// What this isolate holds for `hash`, once it has checked that it may still trust what it
/// holds (503 when the revocation log has not been read for too long): no storage read.
pub fn held(location: &Location, hash: &KeyHash) -> Result<Held, Error> {
    let now = now_ms();
    with_cache(location, |cache| cache.held(hash, now))
}

/// Whether this isolate must read the revocation log before deciding the next request.
pub fn sync_due(location: &Location) -> bool {
    let now = now_ms();
    with_cache(location, |cache| cache.sync_due(now))
}

/// Reads the revocation log from this isolate's generation on, through the location's mirror
/// (the primary when the mirror cannot answer), and applies what changed. A failure is only
/// recorded: `EdgeCache::check_fresh` decides how long the isolate may go on without.
pub async fn sync(env: &Env, location: &Location) {
    let generation = begin_sync(location);
    let changes = match revocations::mirror_since(env, location, generation).await {
        Ok(changes) => Ok(changes),
        Err(_) => revocations::since(env, generation).await,
    };
    if let Ok(changes) = changes {
        finish_sync(location, &changes);
    }
}

/// Starts a read of the revocation log: records the attempt (the next one waits its interval
/// even if this one never finishes) and returns the generation to read from.
pub fn begin_sync(location: &Location) -> Option<u64> {
    let now = now_ms();
    with_cache(location, |cache| cache.begin_sync(now))
}

/// Applies what the log answered to a read that [`begin_sync`] started.
pub fn finish_sync(location: &Location, changes: &Changes) {
    let now = now_ms();
    with_cache(location, |cache| {
        cache.synced(changes.generation, changes.reset, &changes.entries, now)
    });
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
pub async fn lookup(
    env: &Env,
    location: &Location,
    hash: &KeyHash,
) -> Result<Option<Rc<PreparedRecord>>, Error> {
    let cached = {
        let now = now_ms();
        with_cache(location, |cache| cache.cached(hash, now))
    };
    if let Some(record) = cached {
        return Ok(Some(record));
    }
    let text = kv_get(env, hash).await?;
    accept(location, hash, text.as_deref())
}

/// Takes what KV answered for `hash` (`EdgeCache::accept`: a pinned key gets its pin, an
/// unknown key is remembered as missing, an undecodable record is a 503).
pub fn accept(
    location: &Location,
    hash: &KeyHash,
    text: Option<&str>,
) -> Result<Option<Rc<PreparedRecord>>, Error> {
    let now = now_ms();
    with_cache(location, |cache| cache.accept(hash, text, now))
}

/// Applies the Registry's write-through results (an admin answer this isolate served at
/// `location`).
pub fn apply(location: &Location, updates: Vec<EdgeUpdate>) {
    let now = now_ms();
    with_cache(location, |cache| cache.apply(updates, now));
}
