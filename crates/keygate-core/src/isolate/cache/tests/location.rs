//! The location tier's rules, one test each: the copy's format, the floor, pins over copies,
//! markers, the writes an isolate owes the location, the renewal of copies in use and the
//! bound on their age.

use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// A location copy of key `n` as another isolate wrote it, its record read at `T0`.
fn body(n: usize, generation: u64, record: Option<&EdgeRecord>) -> String {
    read_at(n, generation, record, T0)
}

fn read_at(n: usize, generation: u64, record: Option<&EdgeRecord>, at: u64) -> String {
    serde_json::json!({
        "hash": hash(n), "generation": generation, "read_at_ms": at, "record": record
    })
    .to_string()
}

fn entry(updates: Vec<EdgeUpdate>) -> String {
    serde_json::to_string(&updates).unwrap()
}

/// A cache that first read the log at `T0`, reaching `generation`.
fn born(capacity: usize, markers: usize, generation: u64) -> EdgeCache {
    let mut cache = EdgeCache::with_capacity(capacity, markers);
    cache.begin_sync(T0);
    cache.synced(generation, false, &[], T0);
    cache
}

/// A read of the log at `now` that reached `generation` with `updates` as one entry.
fn sync(cache: &mut EdgeCache, generation: u64, updates: Vec<EdgeUpdate>, now: u64) {
    cache.begin_sync(now);
    cache.synced(generation, false, &[entry(updates)], now);
}

#[derive(Debug, PartialEq)]
#[expect(
    clippy::large_enum_variant,
    reason = "a test's answers, compared and dropped"
)]
enum Got {
    Record(EdgeRecord),
    Missing,
    Miss,
    Refused(u16),
}

fn located(cache: &mut EdgeCache, n: usize, body: Option<&str>, now: u64) -> Got {
    match cache.accept_location(&hash(n), body, now) {
        Ok(Located::Record(record)) => Got::Record(plain(&record)),
        Ok(Located::Missing) => Got::Missing,
        Ok(Located::Miss) => Got::Miss,
        Err(error) => Got::Refused(error.status),
    }
}

fn kv(cache: &mut EdgeCache, n: usize, record: Option<&EdgeRecord>, now: u64) -> Got {
    let text = record.map(json);
    match cache.accept(&hash(n), text.as_deref(), now) {
        Ok(Some(record)) => Got::Record(plain(&record)),
        Ok(None) => Got::Missing,
        Err(error) => Got::Refused(error.status),
    }
}

/// The writes queued, as (key number, stamp, record), checked against their path.
fn writes(cache: &mut EdgeCache) -> Vec<(usize, u64, Option<EdgeRecord>)> {
    let mut out: Vec<_> = cache
        .take_location_writes(usize::MAX, T0)
        .into_iter()
        .map(|write| {
            let value: serde_json::Value = serde_json::from_str(&write.body).unwrap();
            let n = (0..100)
                .find(|n| value["hash"] == serde_json::json!(hash(*n)))
                .unwrap();
            assert_eq!(write.path, location_path(&hash(n)));
            let record = serde_json::from_value(value["record"].clone()).unwrap();
            (n, value["generation"].as_u64().unwrap(), record)
        })
        .collect();
    out.sort_by_key(|(n, _, _)| *n);
    out
}

#[test]
fn a_copy_keeps_its_format_and_its_path() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 4);
    cache.accept(&hash(1), None, T0).unwrap();
    let written = cache.take_location_writes(usize::MAX, T0 + 1_500);
    let hex = hash(1).to_hex();
    assert_eq!(
        written,
        vec![LocationWrite {
            path: format!("/.keygate/location/v1/sk/{hex}"),
            body: format!(r#"{{"hash":"{hex}","generation":4,"read_at_ms":{T0},"record":null}}"#),
            max_age_s: (COPY_MAX_AGE_MS - 1_500) / 1_000,
        }]
    );
}

#[test]
fn a_copy_is_trusted_from_the_floor_on_and_cached_like_a_kv_answer() {
    // Rows: the copy's stamp, and what the isolate born at generation 5 makes of it.
    for (stamp, expected) in [
        (4, Got::Miss),
        (5, Got::Record(record())),
        (9, Got::Record(record())),
    ] {
        let mut cache = born(CAPACITY, MARKER_CAPACITY, 5);
        let got = located(&mut cache, 1, Some(&body(1, stamp, Some(&record()))), T0);
        assert_eq!(got, expected, "stamped {stamp}");
        let cached = held_record(&cache, 1, T0 + CACHE_TTL_MS - 1).is_some();
        assert_eq!(cached, expected != Got::Miss, "stamped {stamp}");
        assert!(held_record(&cache, 1, T0 + CACHE_TTL_MS).is_none());
    }
    // A copy that says no key is stored under the hash is remembered like KV's "no such key".
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 5);
    assert_eq!(
        located(&mut cache, 1, Some(&body(1, 5, None)), T0),
        Got::Missing
    );
    assert!(matches!(cache.held(&hash(1), T0 + 1), Ok(Held::Missing)));
}

#[test]
fn a_body_that_does_not_parse_or_names_another_hash_is_a_miss() {
    let another = body(2, 9, Some(&record()));
    let wrong_record = format!(
        r#"{{"hash":"{}","generation":9,"record":{{"x":1}}}}"#,
        hash(1)
    );
    let no_stamp = format!(r#"{{"hash":"{}","record":null}}"#, hash(1));
    for text in [
        None,
        Some(""),
        Some("{"),
        Some("null"),
        Some(no_stamp.as_str()),
        Some(wrong_record.as_str()),
        Some(another.as_str()),
    ] {
        let mut cache = born(CAPACITY, MARKER_CAPACITY, 5);
        assert_eq!(located(&mut cache, 1, text, T0), Got::Miss, "{text:?}");
    }
}

#[test]
fn the_floor_is_the_generation_the_isolate_had_reached_pin_ms_ago() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 5);
    sync(&mut cache, 8, vec![], T0 + 1_000);
    sync(&mut cache, 12, vec![], T0 + 2_000);
    // Rows: when, the stamp, whether the copy is trusted.
    for (now, stamp, trusted) in [
        (T0 + 1_000 + PIN_MS - 1, 5, true),
        (T0 + 1_000 + PIN_MS, 5, false),
        (T0 + 1_000 + PIN_MS, 8, true),
        (T0 + 2_000 + PIN_MS, 8, false),
        (T0 + 2_000 + PIN_MS, 12, true),
    ] {
        let got = located(&mut cache, 1, Some(&body(1, stamp, Some(&record()))), now);
        assert_eq!(
            got != Got::Miss,
            trusted,
            "at +{} stamped {stamp}",
            now - T0
        );
    }
    // A reset or an entry this version cannot read raises the floor at once: the isolate may
    // have missed changes up to the generation it reached.
    for (reset, entries) in [(true, vec![]), (false, vec!["{".to_string()])] {
        let mut cache = born(CAPACITY, MARKER_CAPACITY, 5);
        cache.synced(20, reset, &entries, T0 + 10);
        let stale = body(1, 19, Some(&record()));
        assert_eq!(located(&mut cache, 1, Some(&stale), T0 + 10), Got::Miss);
        let fresh = body(1, 20, Some(&record()));
        assert_eq!(
            located(&mut cache, 1, Some(&fresh), T0 + 10),
            Got::Record(record())
        );
    }
    // Before its first read of the log an isolate trusts no copy.
    let mut cache = EdgeCache::default();
    assert_eq!(
        located(&mut cache, 1, Some(&body(1, 9, Some(&record()))), T0),
        Got::Miss
    );
}

#[test]
fn a_pin_outranks_every_copy_and_overwrites_one_older_than_its_change() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    sync(
        &mut cache,
        3,
        vec![key_update(1, Some(disabled())), key_update(2, None)],
        T0 + 1,
    );
    writes(&mut cache);
    // Rows: the copy, what is answered, whether the copy is overwritten (stamped 3).
    let older = body(1, 2, Some(&record()));
    let same = body(1, 3, Some(&record()));
    let newer = body(1, 7, Some(&record()));
    for (copy, overwritten) in [(None, true), (Some(&older), true), (Some(&same), false)] {
        let got = located(&mut cache, 1, copy.map(String::as_str), T0 + 2);
        assert_eq!(got, Got::Record(disabled()));
        let expected = [(1, 3, Some(disabled()))];
        assert_eq!(writes(&mut cache), &expected[..usize::from(overwritten)]);
    }
    // Even a copy stamped after the isolate's generation loses to the pin it holds.
    let got = located(&mut cache, 1, Some(&newer), T0 + 2);
    assert_eq!(got, Got::Record(disabled()));
    assert_eq!(
        located(&mut cache, 2, Some(&body(2, 7, Some(&record()))), T0 + 2),
        Got::Missing
    );
    // KV's answer loses to it too.
    assert_eq!(
        kv(&mut cache, 1, Some(&record()), T0 + 2),
        Got::Record(disabled())
    );
}

#[test]
fn held_answers_a_pin_before_any_tier() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    sync(
        &mut cache,
        2,
        vec![key_update(1, Some(disabled())), key_update(2, None)],
        T0,
    );
    // Long after the isolate's cache let go of them, the pins still answer without a read.
    let later = T0 + CACHE_TTL_MS + 1;
    cache.synced(2, false, &[], later);
    assert_eq!(held_record(&cache, 1, later), Some(disabled()));
    assert!(matches!(cache.held(&hash(2), later), Ok(Held::Missing)));
    let after = T0 + PIN_MS;
    cache.synced(2, false, &[], after);
    assert!(matches!(cache.held(&hash(1), after), Ok(Held::Nothing)));
    assert!(matches!(cache.held(&hash(2), after), Ok(Held::Nothing)));
}

#[test]
fn a_marked_key_takes_only_a_copy_stamped_after_its_change_and_no_kv_answer() {
    // Two pins at most: the third change leaves key 1 (the first to expire) only a marker.
    let mut cache = born(2, MARKER_CAPACITY, 1);
    for (generation, n) in [(2, 1), (3, 2), (4, 3)] {
        sync(
            &mut cache,
            generation,
            vec![key_update(n, Some(disabled()))],
            T0 + n as u64,
        );
    }
    assert_eq!(cache.coverage.counts(), (2, 1));
    let now = T0 + CACHE_TTL_MS + 10;
    // Rows: the tier's answer, what the isolate makes of it.
    let before = body(1, 1, Some(&record()));
    let after = body(1, 2, Some(&disabled()));
    assert_eq!(
        located(&mut cache, 1, Some(&before), now),
        Got::Refused(503)
    );
    assert_eq!(located(&mut cache, 1, None, now), Got::Refused(503));
    assert_eq!(kv(&mut cache, 1, Some(&record()), now), Got::Refused(503));
    assert_eq!(kv(&mut cache, 1, None, now), Got::Refused(503));
    assert_eq!(
        located(&mut cache, 1, Some(&after), now),
        Got::Record(disabled())
    );
    // Other keys are not affected.
    assert_eq!(
        kv(&mut cache, 9, Some(&record()), now),
        Got::Record(record())
    );
    // Once the change is PIN_MS old, KV has it: its answer is taken again.
    let expired = T0 + 1 + PIN_MS;
    cache.synced(4, false, &[], expired);
    assert_eq!(
        kv(&mut cache, 1, Some(&disabled()), expired),
        Got::Record(disabled())
    );
}

#[test]
fn markers_that_must_make_room_close_kv_and_raise_the_floor() {
    // One pin and one marker at most: the third change drops the first one's marker.
    let mut cache = born(1, 1, 1);
    for (generation, n) in [(2, 1), (3, 2), (4, 3)] {
        sync(
            &mut cache,
            generation,
            vec![key_update(n, Some(disabled()))],
            T0 + n as u64,
        );
    }
    assert_eq!(cache.coverage.counts(), (1, 1));
    let now = T0 + CACHE_TTL_MS + 10;
    // KV is refused for every key that is not pinned, until the dropped change is PIN_MS old.
    assert_eq!(kv(&mut cache, 9, Some(&record()), now), Got::Refused(503));
    // Copies stamped at or after the dropped change are still taken; older ones are not.
    assert_eq!(
        located(&mut cache, 9, Some(&body(9, 1, Some(&record()))), now),
        Got::Refused(503)
    );
    assert_eq!(
        located(&mut cache, 9, Some(&body(9, 2, Some(&record()))), now),
        Got::Record(record())
    );
    assert_eq!(
        located(&mut cache, 2, Some(&body(2, 2, Some(&record()))), now),
        Got::Refused(503)
    );
    assert_eq!(
        located(&mut cache, 2, Some(&body(2, 3, Some(&disabled()))), now),
        Got::Record(disabled())
    );
    let reopened = T0 + 1 + PIN_MS;
    cache.synced(4, false, &[], reopened);
    assert_eq!(
        kv(&mut cache, 9, Some(&record()), reopened),
        Got::Record(record())
    );
}

#[test]
fn a_change_from_an_admin_answer_is_in_no_copy_the_isolate_did_not_write() {
    let mut cache = born(1, MARKER_CAPACITY, 5);
    cache.apply(vec![key_update(1, Some(disabled()))], T0 + 1);
    // Its copy is written at once, stamped with the generation the isolate has reached.
    assert_eq!(writes(&mut cache), vec![(1, 5, Some(disabled()))]);
    // A copy at the isolate's generation was written without it: the pin overwrites it.
    let got = located(&mut cache, 1, Some(&body(1, 5, Some(&record()))), T0 + 2);
    assert_eq!(got, Got::Record(disabled()));
    assert_eq!(writes(&mut cache), vec![(1, 5, Some(disabled()))]);
    let got = located(&mut cache, 1, Some(&body(1, 6, Some(&record()))), T0 + 2);
    assert_eq!(got, Got::Record(disabled()));
    assert!(writes(&mut cache).is_empty());
    // Once only a marker is left, no copy is known to include the change.
    sync(&mut cache, 6, vec![key_update(2, Some(disabled()))], T0 + 3);
    let now = T0 + CACHE_TTL_MS + 10;
    let far_ahead = body(1, 1_000, Some(&record()));
    assert_eq!(
        located(&mut cache, 1, Some(&far_ahead), now),
        Got::Refused(503)
    );
}

#[test]
fn applying_a_change_writes_its_copy_stamped_with_the_generation_reached() {
    // A first read brings changes the location has long had: nothing to write.
    let mut cache = EdgeCache::default();
    cache.begin_sync(T0);
    cache.synced(1, false, &[entry(vec![key_update(1, None)])], T0);
    assert!(writes(&mut cache).is_empty());
    // A read of the log writes each changed key once, as the last change left it.
    let entries = [
        entry(vec![key_update(2, Some(disabled())), key_update(3, None)]),
        entry(vec![key_update(2, Some(record()))]),
        entry(vec![account_update(Some(suspended()))]),
    ];
    cache.begin_sync(T0 + 1);
    cache.synced(4, false, &entries, T0 + 1);
    let mut back = record();
    back.refresh_account(&suspended(), &[]);
    assert_eq!(
        writes(&mut cache),
        vec![(2, 4, Some(back.clone())), (3, 4, None)]
    );
    // An admin answer: stamped with the generation the isolate has reached.
    cache.apply(vec![key_update(5, Some(disabled()))], T0 + 2);
    let mut disabled_now = disabled();
    disabled_now.refresh_account(&suspended(), &[]);
    assert_eq!(writes(&mut cache), vec![(5, 4, Some(disabled_now))]);
    // A reset's changes are not new to the location either.
    cache.synced(9, true, &[entry(vec![key_update(6, None)])], T0 + 3);
    assert!(writes(&mut cache).is_empty());
    // After an entry it could not read, the isolate writes nothing for PIN_MS, not even what
    // KV answered: its answers may miss that change.
    let entries = ["{".to_string(), entry(vec![key_update(7, None)])];
    cache.synced(10, false, &entries, T0 + 4);
    assert_eq!(
        kv(&mut cache, 8, Some(&record()), T0 + 5),
        Got::Record(back.clone())
    );
    assert!(writes(&mut cache).is_empty());
    let later = T0 + 4 + PIN_MS;
    cache.synced(10, false, &[], later);
    kv(&mut cache, 8, Some(&record()), later);
    assert_eq!(writes(&mut cache), vec![(8, 10, Some(back))]);
}

#[test]
fn every_kv_answer_taken_is_written_as_the_isolate_answers_it() {
    // Before the first read of the log nothing is written.
    let mut cache = EdgeCache::default();
    cache.accept(&hash(1), Some(&json(&record())), T0).unwrap();
    assert!(writes(&mut cache).is_empty());
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 2);
    sync(&mut cache, 3, vec![account_update(Some(suspended()))], T0);
    // KV's record carries the older account: the copy carries the newer one.
    kv(&mut cache, 1, Some(&record()), T0 + 1);
    kv(&mut cache, 2, None, T0 + 1);
    assert!(cache.accept(&hash(4), Some("{"), T0 + 1).is_err());
    let mut answered = record();
    answered.refresh_account(&suspended(), &[]);
    assert_eq!(
        writes(&mut cache),
        vec![(1, 3, Some(answered)), (2, 3, None)]
    );
}

#[test]
fn a_trusted_copy_is_written_again_once_its_stamp_is_old() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    sync(&mut cache, 2, vec![], T0 + 1_000);
    sync(&mut cache, 3, vec![], T0 + 2_000);
    let now = T0 + 1_000 + REFRESH_AFTER_MS;
    // Rows: the stamp, whether the copy is written again (stamped 3).
    for (stamp, renewed) in [(1, true), (2, false), (3, false)] {
        let got = located(&mut cache, 1, Some(&body(1, stamp, Some(&record()))), now);
        assert_eq!(got, Got::Record(record()));
        let expected = [(1, 3, Some(record()))];
        assert_eq!(
            writes(&mut cache),
            &expected[..usize::from(renewed)],
            "{stamp}"
        );
    }
    // While the log is quiet a copy does not age: nothing to renew.
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    let later = T0 + 2 * PIN_MS;
    cache.synced(1, false, &[], later);
    let got = located(&mut cache, 1, Some(&body(1, 1, None)), later);
    assert_eq!(got, Got::Missing);
    assert!(writes(&mut cache).is_empty());
}

#[test]
fn writes_are_handed_out_in_bounded_batches_and_queued_within_a_bound() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    for n in 0..5 {
        kv(&mut cache, n, Some(&record()), T0);
    }
    assert_eq!(cache.take_location_writes(2, T0).len(), 2);
    assert_eq!(cache.take_location_writes(10, T0).len(), 3);
    assert!(cache.take_location_writes(10, T0).is_empty());
    // Past the bound new keys are not queued; a key already queued still gets its last state.
    for n in 0..=MAX_PENDING_WRITES {
        cache.accept(&hash(n), None, T0).unwrap();
    }
    assert_eq!(cache.writes.len(), MAX_PENDING_WRITES);
    let queued = (0..MAX_PENDING_WRITES)
        .find(|n| cache.writes.contains_key(&hash(*n)))
        .unwrap();
    kv(&mut cache, queued, Some(&record()), T0);
    let written = cache.take_location_writes(usize::MAX, T0);
    let body = &written
        .iter()
        .find(|write| write.path == location_path(&hash(queued)))
        .unwrap()
        .body;
    assert!(body.contains(r#""status":"active""#), "{body}");
}

#[test]
fn a_copy_is_used_for_copy_max_age_after_its_record_was_read_however_often_renewed() {
    let mut cache = born(CAPACITY, MARKER_CAPACITY, 1);
    sync(&mut cache, 2, vec![], T0 + 1_000);
    // Renewed (its stamp is old), but it keeps the time its record was read.
    let now = T0 + 1_000 + REFRESH_AFTER_MS;
    let copy = read_at(1, 1, Some(&record()), T0);
    assert_eq!(
        located(&mut cache, 1, Some(&copy), now),
        Got::Record(record())
    );
    let written = cache.take_location_writes(usize::MAX, now);
    assert_eq!(written.len(), 1);
    let renewed: serde_json::Value = serde_json::from_str(&written[0].body).unwrap();
    assert_eq!(
        (
            renewed["generation"].as_u64(),
            renewed["read_at_ms"].as_u64()
        ),
        (Some(2), Some(T0))
    );
    assert_eq!(written[0].max_age_s, (T0 + COPY_MAX_AGE_MS - now) / 1_000);
    // Rows: when it is looked at, whether it is used.
    for (now, used) in [
        (T0 + COPY_MAX_AGE_MS - 1, true),
        (T0 + COPY_MAX_AGE_MS, false),
    ] {
        let got = located(&mut cache, 1, Some(&written[0].body), now);
        assert_eq!(got != Got::Miss, used, "at +{}", now - T0);
    }
    // A write with less than a second left is not handed out.
    kv(&mut cache, 3, Some(&record()), T0);
    assert!(
        cache
            .take_location_writes(usize::MAX, T0 + COPY_MAX_AGE_MS - 999)
            .is_empty()
    );
}
