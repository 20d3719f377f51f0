use super::*;
use crate::keys::Environment;
use crate::model::{AccountStatus, KeyStatus};
use crate::revocation::{FAIL_CLOSED_AFTER_MS, PIN_MS, SYNC_INTERVAL_MS};
use crate::testing::{account, key};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const T0: u64 = 1_700_000_000_000;

fn hash(n: usize) -> KeyHash {
    KeyHash::of(&format!("sk_live_{n}"))
}

/// The live key's record as KV holds it before any change: active, account revision 1.
fn record() -> EdgeRecord {
    EdgeRecord::assemble(key(Environment::Live), account(), &[])
}

fn disabled() -> EdgeRecord {
    let mut record = record();
    record.key.status = KeyStatus::Disabled;
    record
}

fn suspended() -> Account {
    let mut account = account();
    account.status = AccountStatus::Suspended;
    account.revision = 2;
    account
}

fn json(record: &EdgeRecord) -> String {
    serde_json::to_string(record).unwrap()
}

fn key_update(n: usize, record: Option<EdgeRecord>) -> EdgeUpdate {
    EdgeUpdate::Key {
        hash: hash(n),
        record: record.map(Box::new),
    }
}

fn account_update(account: Option<Account>) -> EdgeUpdate {
    EdgeUpdate::Account {
        account_id: "acct_1".into(),
        account,
        product_keys: vec![],
    }
}

/// A cache that read the log at `T0`.
fn synced() -> EdgeCache {
    let mut cache = EdgeCache::default();
    cache.begin_sync(T0);
    cache.synced(1, false, &[], T0);
    cache
}

fn plain(record: &PreparedRecord) -> EdgeRecord {
    EdgeRecord::clone(record)
}

fn held_record(cache: &EdgeCache, n: usize, now: u64) -> Option<EdgeRecord> {
    match cache.held(&hash(n), now).unwrap() {
        Held::Record(record) => Some(EdgeRecord::clone(&record)),
        Held::Missing | Held::Nothing => None,
    }
}

#[test]
fn a_record_read_from_kv_is_trusted_for_the_cache_ttl() {
    let mut cache = synced();
    let got = cache.accept(&hash(1), Some(&json(&record())), T0).unwrap();
    assert_eq!(got.as_deref().map(plain), Some(record()));
    for (now, trusted) in [
        (T0, true),
        (T0 + CACHE_TTL_MS - 1, true),
        (T0 + CACHE_TTL_MS, false),
    ] {
        assert_eq!(cache.cached(&hash(1), now).is_some(), trusted, "{now}");
    }
    assert!(matches!(
        cache.held(&hash(1), T0 + CACHE_TTL_MS),
        Ok(Held::Nothing)
    ));
}

#[test]
fn a_record_kv_cannot_decode_fails_closed() {
    let mut cache = synced();
    let error = cache.accept(&hash(1), Some("{not json"), T0).unwrap_err();
    assert_eq!(error.status, 503);
    assert!(cache.cached(&hash(1), T0).is_none());
}

#[test]
fn a_missing_key_is_remembered_for_the_cache_ttl_and_a_creation_clears_it() {
    let mut cache = synced();
    assert!(cache.accept(&hash(1), None, T0).unwrap().is_none());
    assert!(matches!(cache.held(&hash(1), T0 + 1), Ok(Held::Missing)));
    assert!(cache.known_missing(&hash(1), T0 + CACHE_TTL_MS - 1));
    assert!(!cache.known_missing(&hash(1), T0 + CACHE_TTL_MS));
    // Remembered again, then the key is created: it works at once.
    cache.accept(&hash(1), None, T0 + 100).unwrap();
    cache.apply(vec![key_update(1, Some(record()))], T0 + 200);
    assert!(!cache.known_missing(&hash(1), T0 + 200));
    assert_eq!(held_record(&cache, 1, T0 + 200), Some(record()));
}

#[test]
fn a_pinned_record_outranks_kv_for_the_pin_window_then_kv_is_taken() {
    // Rows: the change, then what `accept` returns for a stale KV answer inside the window.
    for (change, expected) in [(Some(disabled()), Some(disabled())), (None, None)] {
        let mut cache = synced();
        cache.accept(&hash(1), Some(&json(&record())), T0).unwrap();
        cache.apply(vec![key_update(1, change.clone())], T0 + 10);
        // The change replaced the cached record at once.
        assert_eq!(held_record(&cache, 1, T0 + 10), change);
        for now in [T0 + 10 + CACHE_TTL_MS, T0 + 10 + PIN_MS - 1] {
            cache.synced(1, false, &[], now);
            let got = cache.accept(&hash(1), Some(&json(&record())), now).unwrap();
            assert_eq!(got.as_deref().map(plain), expected, "{now}");
        }
        // KV has caught up long since: after the window its answer is taken again.
        let after = T0 + 10 + PIN_MS;
        cache.synced(1, false, &[], after);
        let got = cache
            .accept(&hash(1), Some(&json(&record())), after)
            .unwrap();
        assert_eq!(got.as_deref().map(plain), Some(record()));
    }
}

#[test]
fn a_newer_account_copy_replaces_older_ones_cached_and_answered_later() {
    let mut cache = synced();
    cache.accept(&hash(1), Some(&json(&record())), T0).unwrap();
    cache.apply(vec![account_update(Some(suspended()))], T0 + 1);
    let cached = held_record(&cache, 1, T0 + 1).unwrap();
    assert_eq!(cached.account, suspended());
    // Long after the cache's lifetime and any pin, KV's older copy still loses.
    let later = T0 + 10 * PIN_MS;
    cache.synced(1, false, &[], later);
    let got = cache
        .accept(&hash(2), Some(&json(&record())), later)
        .unwrap()
        .unwrap();
    assert_eq!(got.account, suspended());
    // An older copy than the one held changes nothing.
    let mut older = account();
    older.revision = 1;
    cache.apply(vec![account_update(Some(older))], later);
    assert_eq!(held_record(&cache, 2, later).unwrap().account, suspended());
    // A deleted account's records are dropped.
    cache.apply(vec![account_update(None)], later);
    assert!(matches!(cache.held(&hash(2), later), Ok(Held::Nothing)));
}

#[test]
fn the_log_is_due_every_interval_and_the_isolate_fails_closed_without_it() {
    let mut cache = EdgeCache::default();
    // A new isolate reads the log before it serves, and refuses until it has.
    assert!(cache.sync_due(T0));
    assert_eq!(cache.held(&hash(1), T0).unwrap_err().status, 503);
    assert_eq!(cache.begin_sync(T0), None);
    assert!(!cache.sync_due(T0 + 1));
    cache.synced(7, false, &[], T0 + 50);
    assert!(cache.held(&hash(1), T0 + 50).is_ok());
    assert!(cache.sync_due(T0 + 50 + SYNC_INTERVAL_MS));
    // Reads that never answer: due every interval, served for a bounded time, then refused.
    let mut now = T0 + 50;
    while now + SYNC_INTERVAL_MS <= T0 + 50 + FAIL_CLOSED_AFTER_MS {
        now += SYNC_INTERVAL_MS;
        assert!(cache.sync_due(now));
        assert_eq!(cache.begin_sync(now), Some(7));
        assert!(cache.check_fresh(now).is_ok(), "{now}");
    }
    let late = T0 + 50 + FAIL_CLOSED_AFTER_MS + 1;
    let error = cache.held(&hash(1), late).unwrap_err();
    assert_eq!((error.status, error.retry_after), (503, Some(1)));
}

#[test]
fn a_reset_or_an_unreadable_entry_drops_the_cache_but_keeps_the_pins() {
    for (reset, entries) in [
        (true, vec![]),
        (false, vec!["[{\"scope\":\"new\"}]".to_string()]),
    ] {
        let mut cache = synced();
        cache.accept(&hash(1), Some(&json(&record())), T0).unwrap();
        cache.accept(&hash(2), None, T0).unwrap();
        cache.apply(vec![key_update(3, None)], T0);
        cache.synced(2, reset, &entries, T0 + 1);
        assert!(matches!(cache.held(&hash(1), T0 + 1), Ok(Held::Nothing)));
        assert!(matches!(cache.held(&hash(2), T0 + 1), Ok(Held::Nothing)));
        let stale = cache
            .accept(&hash(3), Some(&json(&record())), T0 + 2)
            .unwrap();
        assert!(stale.is_none(), "the deleted key's pin survives");
        assert_eq!(cache.begin_sync(T0 + 2), Some(2));
    }
}

#[test]
fn the_log_entries_apply_in_order() {
    let mut cache = synced();
    let entries = [
        serde_json::to_string(&vec![key_update(1, Some(record()))]).unwrap(),
        serde_json::to_string(&vec![key_update(1, Some(disabled()))]).unwrap(),
    ];
    cache.synced(3, false, &entries, T0 + 1);
    assert_eq!(held_record(&cache, 1, T0 + 1), Some(disabled()));
}

#[test]
fn each_map_stays_within_its_bound() {
    let mut cache = synced();
    // Records: expired ones make room first; a map full of live ones starts over.
    for n in 0..CAPACITY {
        cache.remember(hash(n), Rc::new(PreparedRecord::new(record())), T0);
    }
    cache.remember(
        hash(CAPACITY),
        Rc::new(PreparedRecord::new(record())),
        T0 + 1,
    );
    assert_eq!(cache.records.len(), 1);
    for n in 1..CAPACITY {
        cache.remember(hash(n), Rc::new(PreparedRecord::new(record())), T0 + 2);
    }
    // Full again; only the first one is over when the next arrives.
    let later = T0 + 1 + CACHE_TTL_MS;
    cache.remember(
        hash(CAPACITY + 1),
        Rc::new(PreparedRecord::new(record())),
        later,
    );
    assert_eq!(cache.records.len(), CAPACITY);
    assert!(cache.cached(&hash(CAPACITY), later).is_none());
    // Missing hashes: the same rule.
    for n in 0..=CAPACITY {
        cache.accept(&hash(n), None, T0).unwrap();
    }
    assert_eq!(cache.missing.len(), 1);
    // Pins: a map full of live pins keeps only a marker of the quarter that expires first;
    // nothing cached is dropped.
    cache.accept(&hash(0), Some(&json(&record())), T0).unwrap();
    for n in 0..=CAPACITY {
        cache.apply(vec![key_update(CAPACITY + n, None)], T0 + n as u64);
    }
    let quarter = CAPACITY / 4;
    assert_eq!(cache.coverage.counts(), (CAPACITY + 1 - quarter, quarter));
    assert!(cache.cached(&hash(0), T0 + 1).is_some());
    // Accounts: full, and a new one arrives: start over.
    for n in 0..CAPACITY {
        cache
            .accounts
            .insert(format!("acct_other_{n}"), (account(), vec![]));
    }
    cache.apply(vec![account_update(Some(suspended()))], T0);
    assert_eq!(cache.accounts.len(), 1);
}

#[test]
fn edge_updates_keep_their_wire_format() {
    let text = serde_json::to_string(&vec![account_update(None)]).unwrap();
    assert_eq!(
        text,
        r#"[{"scope":"account","account_id":"acct_1","account":null,"product_keys":[]}]"#
    );
    let text = serde_json::to_string(&vec![key_update(1, None)]).unwrap();
    assert!(text.starts_with(r#"[{"scope":"key","hash":"#), "{text}");
    assert!(text.ends_with(r#","record":null}]"#), "{text}");
}

#[cfg(not(target_arch = "wasm32"))]
mod interleavings;
mod location;

#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;
    use proptest::prelude::*;

    /// How the key stops working.
    #[derive(Debug, Clone, Copy)]
    pub(super) enum Revocation {
        Disable,
        Delete,
        Suspend,
    }

    impl Revocation {
        pub(super) fn update(self) -> EdgeUpdate {
            match self {
                Self::Disable => key_update(1, Some(disabled())),
                Self::Delete => key_update(1, None),
                Self::Suspend => account_update(Some(suspended())),
            }
        }

        /// What KV holds once it has caught up.
        pub(super) fn fresh(self) -> Option<String> {
            match self {
                Self::Disable => Some(json(&disabled())),
                Self::Delete => None,
                Self::Suspend => {
                    let mut record = record();
                    record.refresh_account(&suspended(), &[]);
                    Some(json(&record))
                }
            }
        }
    }

    #[derive(Debug, Clone)]
    pub(super) enum Kv {
        /// The record as it was before the change: KV serves it for up to 60 s after.
        Stale,
        Fresh,
        Missing,
    }

    #[derive(Debug, Clone)]
    enum Event {
        /// The change arrives, through the log (`true`) or an admin answer this isolate served.
        Revoked {
            through_log: bool,
        },
        /// A read of the log that brought nothing, a reset, or an entry this version cannot read.
        Synced {
            reset: bool,
            unreadable: bool,
        },
        /// A KV read for the key answers, and the isolate takes the answer.
        Answer(Kv),
        /// Another key changes (a pin the bound must make room for).
        Other(usize),
        /// A request looks the key up.
        Lookup,
        Wait(u64),
    }

    pub(super) fn revocation() -> impl Strategy<Value = Revocation> {
        prop_oneof![
            Just(Revocation::Disable),
            Just(Revocation::Delete),
            Just(Revocation::Suspend)
        ]
    }

    pub(super) fn kv() -> impl Strategy<Value = Kv> {
        prop_oneof![Just(Kv::Stale), Just(Kv::Fresh), Just(Kv::Missing)]
    }

    fn event() -> impl Strategy<Value = Event> {
        prop_oneof![
            1 => any::<bool>().prop_map(|through_log| Event::Revoked { through_log }),
            2 => (any::<bool>(), any::<bool>())
                .prop_map(|(reset, unreadable)| Event::Synced { reset, unreadable }),
            4 => kv().prop_map(Event::Answer),
            1 => (2..6usize).prop_map(Event::Other),
            4 => Just(Event::Lookup),
            3 => prop_oneof![0..1_000u64, 0..CACHE_TTL_MS + 1_000, 0..PIN_MS / 2]
                .prop_map(Event::Wait),
        ]
    }

    /// The record as it was before the change: the key and its account both active.
    pub(super) fn is_old(record: &PreparedRecord) -> bool {
        record.key.status == KeyStatus::Active && record.account.status == AccountStatus::Active
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        /// Once the change is applied, no lookup within the pin window returns the old record:
        /// not from the cache, not from a KV answer, stale or not, arriving in any order.
        #[test]
        fn a_revoked_record_never_comes_back_within_the_pin_window(
            revocation in revocation(),
            events in prop::collection::vec(event(), 1..80),
        ) {
            let mut cache = synced();
            let mut now = T0;
            let mut generation = 1;
            let mut revoked_at: Option<u64> = None;
            for event in events {
                let mut seen: Option<Rc<PreparedRecord>> = None;
                match event {
                    Event::Revoked { through_log } => {
                        if through_log {
                            generation += 1;
                            let entry = serde_json::to_string(&vec![revocation.update()]).unwrap();
                            cache.begin_sync(now);
                            cache.synced(generation, false, &[entry], now);
                        } else {
                            cache.apply(vec![revocation.update()], now);
                        }
                        revoked_at.get_or_insert(now);
                    }
                    Event::Synced { reset, unreadable } => {
                        generation += 1;
                        let entries = if unreadable { vec!["{".to_string()] } else { vec![] };
                        cache.begin_sync(now);
                        cache.synced(generation, reset, &entries, now);
                    }
                    Event::Answer(kv) => {
                        let text = match kv {
                            Kv::Stale => Some(json(&record())),
                            Kv::Fresh if revoked_at.is_some() => revocation.fresh(),
                            Kv::Fresh => Some(json(&record())),
                            Kv::Missing => None,
                        };
                        seen = cache.accept(&hash(1), text.as_deref(), now).unwrap();
                    }
                    Event::Other(n) => cache.apply(vec![key_update(n, Some(disabled()))], now),
                    Event::Lookup => {
                        seen = cache.cached(&hash(1), now);
                        if let Ok(Held::Record(record)) = cache.held(&hash(1), now) {
                            prop_assert!(seen.as_ref().is_some_and(|s| Rc::ptr_eq(s, &record)));
                        }
                    }
                    Event::Wait(ms) => now += ms,
                }
                if let (Some(at), Some(record)) = (revoked_at, &seen)
                    && now < at + PIN_MS
                {
                    prop_assert!(
                        !is_old(record),
                        "{revocation:?} applied at +{} ms, the old record returned at +{} ms",
                        at - T0,
                        now - T0
                    );
                }
            }
        }
    }
}
