//! What one isolate knows changed, and from which generation of the log on it knows it all:
//! the pins, the changed-hash markers, the isolate's history of generations and its floor.
//!
//! A key design decision of this module: knowledge of a change is never dropped before
//! [`PIN_MS`] has passed since the isolate applied it. A pin (the change's record) that must
//! make room keeps a marker (a 64-bit prefix of the hash, until when, and the change's
//! generation), and markers that must make room close what they covered instead of being
//! forgotten: KV answers for a marked hash are refused (503 for that key), and a full table of
//! live markers refuses every KV answer and raises the floor until the last of them would have
//! expired. The isolate therefore never takes a stale answer because it ran out of room; it
//! answers 503 for the keys it can no longer vouch for, and only for [`PIN_MS`].

use crate::keys::KeyHash;
use crate::policy::PreparedRecord;
use crate::revocation::PIN_MS;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;

/// Changed-hash markers an isolate keeps at most: ten times [`CAPACITY`](super::CAPACITY)
/// (about 3 MB: an 8-byte prefix, a time and a generation each). Only an isolate that applies
/// more than this many key changes within [`PIN_MS`] fills it.
pub const MARKER_CAPACITY: usize = 100_000;

/// How far apart the points of the generation history are: at most `PIN_MS / HISTORY_STEP_MS`
/// points are kept.
const HISTORY_STEP_MS: u64 = 1_000;

/// The generation of a change the isolate learnt from an admin answer: the log has not
/// numbered it for this isolate yet, so no copy stamped by another isolate is known to
/// include it.
pub(super) const UNNUMBERED: u64 = u64::MAX;

/// A record learnt from the log or an admin answer (`None`: the key was deleted), until when
/// it outranks every other tier, and the generation of the change (an upper bound: the
/// generation the isolate reached by the read that brought it, or [`UNNUMBERED`]).
#[derive(Debug)]
pub(super) struct Pin {
    pub(super) record: Option<Rc<PreparedRecord>>,
    pub(super) until_ms: u64,
    pub(super) generation: u64,
}

/// What is left of a pin that had to make room: no record, only that the hash changed.
#[derive(Debug, Clone, Copy)]
struct Marker {
    until_ms: u64,
    generation: u64,
}

/// One isolate's knowledge of recent changes. See the module documentation.
#[derive(Debug)]
pub(super) struct Coverage {
    pins: HashMap<KeyHash, Pin>,
    /// Keyed by the hash's first 8 bytes: two hashes that share them share a marker, which
    /// can only refuse more, never trust more.
    markers: HashMap<u64, Marker>,
    capacity: usize,
    marker_capacity: usize,
    /// `(since_ms, generation)`: the highest generation the isolate reached from `since_ms`
    /// until the next point. Rounded up, never down: the floor may only come out higher.
    history: VecDeque<(u64, u64)>,
    /// The lowest floor the isolate may have: its first generation, raised by a reset, an
    /// entry it could not read, and markers it had to drop. `None` before the first read of
    /// the log.
    floor: Option<u64>,
    /// Until when every KV answer is refused (markers were dropped before their time).
    kv_closed_until_ms: u64,
    /// Until when no location copy is trusted (dropped markers included changes the log had
    /// not numbered yet).
    location_closed_until_ms: u64,
    /// Until when the isolate writes nothing to the location (it skipped an entry of the log
    /// that it could not read, so its answers may not include that change).
    silent_until_ms: u64,
}

impl Coverage {
    pub(super) fn new(capacity: usize, marker_capacity: usize) -> Self {
        Self {
            pins: HashMap::new(),
            markers: HashMap::new(),
            capacity: capacity.max(1),
            marker_capacity: marker_capacity.max(1),
            history: VecDeque::new(),
            floor: None,
            kv_closed_until_ms: 0,
            location_closed_until_ms: 0,
            silent_until_ms: 0,
        }
    }

    /// The live pin of `hash` at `now_ms`.
    pub(super) fn pin(&self, hash: &KeyHash, now_ms: u64) -> Option<&Pin> {
        self.pins.get(hash).filter(|pin| pin.until_ms > now_ms)
    }

    /// Every pin, to give their records a newer account copy.
    pub(super) fn pins_mut(&mut self) -> impl Iterator<Item = &mut Pin> {
        self.pins.values_mut()
    }

    /// Pins `record` for `hash` from `now_ms` for [`PIN_MS`]. A full map of live pins first
    /// turns the quarter that expires soonest into markers.
    pub(super) fn insert_pin(
        &mut self,
        hash: KeyHash,
        record: Option<Rc<PreparedRecord>>,
        generation: u64,
        now_ms: u64,
    ) {
        if !self.pins.contains_key(&hash) {
            self.make_room_for_pin(now_ms);
        }
        self.pins.insert(
            hash,
            Pin {
                record,
                until_ms: now_ms.saturating_add(PIN_MS),
                generation,
            },
        );
    }

    fn make_room_for_pin(&mut self, now_ms: u64) {
        if self.pins.len() < self.capacity {
            return;
        }
        self.pins.retain(|_, pin| pin.until_ms > now_ms);
        if self.pins.len() < self.capacity {
            return;
        }
        let mut untils: Vec<u64> = self.pins.values().map(|pin| pin.until_ms).collect();
        let nth = (self.capacity.div_ceil(4).max(1) - 1).min(untils.len().saturating_sub(1));
        let (_, cut, _) = untils.select_nth_unstable(nth);
        let cut = *cut;
        let soonest: Vec<KeyHash> = self
            .pins
            .iter()
            .filter(|(_, pin)| pin.until_ms <= cut)
            .map(|(hash, _)| *hash)
            .collect();
        for hash in soonest {
            if let Some(pin) = self.pins.remove(&hash) {
                self.mark(&hash, pin.until_ms, pin.generation, now_ms);
            }
        }
    }

    fn mark(&mut self, hash: &KeyHash, until_ms: u64, generation: u64, now_ms: u64) {
        let key = prefix(hash);
        if !self.markers.contains_key(&key) && self.markers.len() >= self.marker_capacity {
            self.markers.retain(|_, marker| marker.until_ms > now_ms);
            if self.markers.len() >= self.marker_capacity {
                self.close_for_dropped_markers();
            }
        }
        let marker = self.markers.entry(key).or_insert(Marker {
            until_ms: 0,
            generation: 0,
        });
        marker.until_ms = marker.until_ms.max(until_ms);
        marker.generation = marker.generation.max(generation);
    }

    /// Drops every marker, and closes what they covered until the last would have expired:
    /// KV for every key, location copies older than the newest dropped generation, and every
    /// location copy if one of them had no generation yet.
    fn close_for_dropped_markers(&mut self) {
        for (_, marker) in self.markers.drain() {
            self.kv_closed_until_ms = self.kv_closed_until_ms.max(marker.until_ms);
            if marker.generation == UNNUMBERED {
                self.location_closed_until_ms = self.location_closed_until_ms.max(marker.until_ms);
            } else {
                self.floor = Some(self.floor.unwrap_or(0).max(marker.generation));
            }
        }
    }

    fn marker(&self, hash: &KeyHash, now_ms: u64) -> Option<Marker> {
        self.markers
            .get(&prefix(hash))
            .filter(|marker| marker.until_ms > now_ms)
            .copied()
    }

    /// Whether a KV answer for `hash` (not pinned) must be refused at `now_ms`: the hash
    /// changed within [`PIN_MS`] and the isolate no longer holds its record, or markers were
    /// dropped.
    pub(super) fn kv_refused(&self, hash: &KeyHash, now_ms: u64) -> bool {
        now_ms < self.kv_closed_until_ms || self.marker(hash, now_ms).is_some()
    }

    /// Whether a location copy of `hash` (not pinned) stamped `stamp` may be trusted at
    /// `now_ms`: stamped at or above the floor, and after any change to the hash the isolate
    /// still knows of.
    pub(super) fn location_trusts(&self, hash: &KeyHash, stamp: u64, now_ms: u64) -> bool {
        now_ms >= self.location_closed_until_ms
            && self.floor(now_ms).is_some_and(|floor| stamp >= floor)
            && self
                .marker(hash, now_ms)
                .is_none_or(|marker| stamp >= marker.generation)
    }

    /// The floor at `now_ms`: location copies stamped below it are not trusted. Every change
    /// the isolate applied above it, it still holds (a pin or a marker): those it applied more
    /// than [`PIN_MS`] ago are at or below the generation it had reached then.
    pub(super) fn floor(&self, now_ms: u64) -> Option<u64> {
        let base = self.floor?;
        let aged = self.generation_at(now_ms.saturating_sub(PIN_MS));
        Some(base.max(aged.unwrap_or(0)))
    }

    /// Whether a copy stamped `stamp`, trusted at `now_ms`, should be written again with the
    /// isolate's generation: it is older than `refresh_after_ms` in this isolate's history, so
    /// the floors of the location's isolates will pass it within `PIN_MS - refresh_after_ms`.
    pub(super) fn refresh_due(&self, stamp: u64, refresh_after_ms: u64, now_ms: u64) -> bool {
        self.generation_at(now_ms.saturating_sub(refresh_after_ms))
            .is_some_and(|then| stamp < then)
    }

    /// Whether the isolate may write to the location at `now_ms`.
    pub(super) fn may_write(&self, now_ms: u64) -> bool {
        now_ms >= self.silent_until_ms
    }

    /// Records a read of the log at `now_ms` that reached `generation`. `complete` is false
    /// when the isolate may have missed changes since its last read (a first read, a reset, an
    /// entry it could not read): the floor then rises to `generation`. After an unreadable
    /// entry (`readable` false) the isolate also stops writing to the location for `PIN_MS`.
    pub(super) fn synced(&mut self, generation: u64, complete: bool, readable: bool, now_ms: u64) {
        if !complete || !readable || self.floor.is_none() {
            self.floor = Some(self.floor.unwrap_or(0).max(generation));
        }
        if !readable {
            self.silent_until_ms = now_ms.saturating_add(PIN_MS);
        }
        match self.history.back_mut() {
            Some((since, reached)) if now_ms < since.saturating_add(HISTORY_STEP_MS) => {
                *reached = (*reached).max(generation);
            }
            _ => self.history.push_back((now_ms, generation)),
        }
        // Keep the newest point at or before `now - PIN_MS` (the floor reads it) and the rest.
        let oldest_needed = now_ms.saturating_sub(PIN_MS);
        while self
            .history
            .get(1)
            .is_some_and(|(since, _)| *since <= oldest_needed)
        {
            self.history.pop_front();
        }
    }

    /// The generation the isolate had reached at `at_ms` (rounded up), if it was reading the
    /// log then.
    fn generation_at(&self, at_ms: u64) -> Option<u64> {
        self.history
            .iter()
            .rev()
            .find(|(since, _)| *since <= at_ms)
            .map(|(_, reached)| *reached)
    }

    #[cfg(test)]
    pub(super) fn counts(&self) -> (usize, usize) {
        (self.pins.len(), self.markers.len())
    }
}

/// The first 8 bytes of a hash: what a marker keeps of it.
fn prefix(hash: &KeyHash) -> u64 {
    let b = hash.as_bytes();
    u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
}
