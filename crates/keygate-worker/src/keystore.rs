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
use keygate_core::isolate::{EdgeCache, LocationWrite, MAX_PENDING_WRITES};
pub use keygate_core::isolate::{EdgeUpdate, Held, Located};
use keygate_core::keys::KeyHash;
use keygate_core::location::Location;
use keygate_core::policy;
use keygate_core::policy::PreparedRecord;
use keygate_core::revocation::Changes;
use serde::Serialize;
use std::cell::{Cell, RefCell};
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
    /// Whether a request has armed the put of the queued location writes.
    static WRITES_ARMED: Cell<bool> = const { Cell::new(false) };
}

/// How long after the request that queued them the location writes are put: with the
/// activity's flush, when one is due about then.
pub const WRITES_AFTER_MS: u64 = 1_000;

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
        Err(_) => revocations::since(env, location, generation).await,
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

/// The URL of `hash`'s copy in the location's cache (`caches.default`): under the request's
/// own host, as the Cache API wants, at the core's path, with the location named so that one
/// local runtime keeps its test locations apart, and the copy of the log whose generations its
/// stamp counts (were a location ever to read another copy, no old stamp would be compared
/// with the new copy's numbers). Built from the request's host and our own words only.
pub fn location_url(host: &str, location: &Location, path: &str) -> String {
    format!(
        "https://{host}{path}?location={location}&log={}",
        location.log_copy()
    )
}

/// The URL of `hash`'s copy in `location`'s cache, under `host` ([`location_url`]).
pub fn copy_url(host: &str, location: &Location, hash: &KeyHash) -> String {
    location_url(host, location, &keygate_core::isolate::location_path(hash))
}

/// The host of a request URL (`scheme://host/...`), as the runtime gives it.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or_default()
}

/// Takes what the location's cache answered for `hash` (`EdgeCache::accept_location`): a
/// record to answer with, no key, or a miss (read KV).
pub fn located(location: &Location, hash: &KeyHash, body: Option<&str>) -> Result<Located, Error> {
    let now = now_ms();
    with_cache(location, |cache| cache.accept_location(hash, body, now))
}

/// The delay of the put of the queued location writes, once per batch: `Some` when writes are
/// queued and no request has armed their put yet.
pub fn writes_after() -> Option<u64> {
    let pending = CACHES.with(|caches| {
        caches
            .borrow()
            .iter()
            .any(|(_, cache)| cache.has_location_writes())
    });
    (pending && !WRITES_ARMED.replace(true)).then_some(WRITES_AFTER_MS)
}

/// One put for the location's cache.
#[derive(Serialize)]
pub struct Put {
    pub url: String,
    pub body: String,
    /// Seconds the Cache API keeps it (`Cache-Control: max-age`).
    pub max_age_s: u64,
}

/// Every queued location write, of every location this isolate serves, as puts under `host`.
pub fn take_puts(host: &str) -> Vec<Put> {
    WRITES_ARMED.set(false);
    let now = now_ms();
    CACHES.with(|caches| {
        let mut caches = caches.borrow_mut();
        let mut puts = Vec::new();
        for (location, cache) in caches.iter_mut() {
            let writes = cache.take_location_writes(MAX_PENDING_WRITES, now);
            puts.extend(writes.into_iter().map(|write: LocationWrite| Put {
                url: location_url(host, location, &write.path),
                body: write.body,
                max_age_s: write.max_age_s,
            }));
        }
        puts
    })
}

/// The workers-rs path's read of the location's copy of `hash`: its body, `None` on a miss or
/// any failure (a miss: KV is read).
pub async fn location_get(host: &str, location: &Location, hash: &KeyHash) -> Option<String> {
    let url = copy_url(host, location, hash);
    let mut response = worker::Cache::default().get(url, false).await.ok()??;
    response.text().await.ok()
}

/// The workers-rs path's put of the queued location writes (in the request's `waitUntil`).
/// A put that fails is dropped: nothing depends on a copy arriving.
pub async fn put_location_writes(host: String) {
    let cache = worker::Cache::default();
    for put in take_puts(&host) {
        let headers = worker::Headers::new();
        let _ = headers.set("Cache-Control", &format!("max-age={}", put.max_age_s));
        let Ok(response) = worker::Response::ok(put.body).map(|r| r.with_headers(headers)) else {
            continue;
        };
        if let Err(error) = cache.put(put.url, response).await {
            worker::console_error!("location copy not written: {error}");
        }
    }
}
