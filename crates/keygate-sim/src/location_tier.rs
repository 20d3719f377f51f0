//! The per-location Cache API tier between an isolate's cache and KV, with the stamp rule that
//! keeps it from undoing a revocation. This module stands in for the core's type until the
//! `location-cache` branch is merged; swap it for that type then (only `sim/edge.rs` calls it).
//!
//! The rule modelled:
//!
//! - **Stamps.** Every entry carries the log generation its writer had applied when it wrote
//!   (the `stamp`). A writer writes only what its `EdgeCache` accepted, so a pinned change wins
//!   over the KV answer it read: the entry reflects every change up to its stamp.
//! - **Overwrite on apply.** An isolate that applies a key's change from the log writes the new
//!   record to its location's entry, stamped with its new generation. A location's entry is then
//!   replaced within one log read of the change, whatever its lifetime.
//! - **Readers check the stamp.** An isolate at generation `g` trusts an entry stamped `s` only
//!   if it is younger than the tier's lifetime, `g - s` is within what the isolate remembers of
//!   the log (`memory` entries: the hashes and accounts each entry changed), and no change it
//!   remembers in `(s, g]` touched the key or its account. Otherwise the entry is a miss: KV is
//!   read, and the entry rewritten. So an entry written by an isolate that had not yet seen a
//!   change (a stale writer racing the overwrite) is refused by every isolate that has.
//!
//! What the core's type will need beyond `EdgeCache` for this: the remembered changes (hash or
//! account, and generation) for the tier's lifetime plus `FAIL_CLOSED_AFTER_MS`, at most
//! `memory` of them; a new isolate trusts no entry stamped before its first log read.

use crate::queue::Micros;
use crate::rng::IdMap;

#[derive(Debug, Clone, Copy)]
struct Entry {
    version: u8,
    stamp: u64,
    written_at: Micros,
}

/// What a read of the tier found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A trusted entry: the key's record at this version.
    Hit(u8),
    /// Nothing stored for the key.
    Absent,
    /// An entry older than the tier's lifetime.
    Expired,
    /// An entry the stamp rule refuses: the reader knows of a change after its stamp, or the
    /// stamp is older than what the reader remembers.
    Untrusted,
}

/// One location's tier.
#[derive(Debug)]
pub struct LocationTier {
    ttl: Micros,
    memory: u64,
    entries: IdMap<u32, Entry>,
}

impl LocationTier {
    /// A tier whose entries live `ttl`, read by isolates that remember `memory` log entries.
    pub fn new(ttl: Micros, memory: u64) -> Self {
        Self {
            ttl,
            memory,
            entries: IdMap::default(),
        }
    }

    /// Reads `key` at `now` for an isolate at generation `reader`; `changed(s, g)` says whether
    /// a log entry in `(s, g]` touched the key or its account.
    pub fn get(
        &self,
        key: u32,
        now: Micros,
        reader: u64,
        changed: impl FnOnce(u64, u64) -> bool,
    ) -> Lookup {
        let Some(entry) = self.entries.get(&key) else {
            return Lookup::Absent;
        };
        if now.saturating_sub(entry.written_at) >= self.ttl {
            return Lookup::Expired;
        }
        let forgotten = reader.saturating_sub(entry.stamp) > self.memory;
        if forgotten || (entry.stamp < reader && changed(entry.stamp, reader)) {
            return Lookup::Untrusted;
        }
        Lookup::Hit(entry.version)
    }

    /// Writes `key`'s record at `version`, stamped `stamp`, at `now` (last writer wins, as the
    /// Cache API does).
    pub fn put(&mut self, key: u32, version: u8, stamp: u64, now: Micros) {
        self.entries.insert(
            key,
            Entry {
                version,
                stamp,
                written_at: now,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::SECOND;

    /// Key 1 changed at generation 10.
    fn changed(s: u64, g: u64) -> bool {
        (s + 1..=g).contains(&10)
    }

    #[test]
    fn a_stale_writer_racing_the_overwrite_is_refused_by_readers_that_saw_the_change() {
        let mut tier = LocationTier::new(300 * SECOND, 10_000);
        // An isolate applies change 10 and overwrites the entry.
        tier.put(1, 1, 10, 5 * SECOND);
        // An isolate still at generation 9 read KV's old record and writes it after.
        tier.put(1, 0, 9, 5 * SECOND + 1);
        // Long after every pin expired, a reader at generation 12 refuses it...
        assert_eq!(tier.get(1, 200 * SECOND, 12, changed), Lookup::Untrusted);
        // ...and one still before the change (not yet refusing the key anyway) takes it.
        assert_eq!(tier.get(1, 6 * SECOND, 9, changed), Lookup::Hit(0));
        // Rewritten after a KV read by an isolate at 12, it is trusted again.
        tier.put(1, 1, 12, 200 * SECOND);
        assert_eq!(tier.get(1, 201 * SECOND, 13, changed), Lookup::Hit(1));
    }

    #[test]
    fn entries_expire_are_absent_or_forgotten() {
        let mut tier = LocationTier::new(300 * SECOND, 100);
        let never = |_, _| false;
        assert_eq!(tier.get(2, 0, 0, never), Lookup::Absent);
        tier.put(2, 0, 50, 0);
        // Rows: when, the reader's generation, what it finds.
        for (now, reader, found) in [
            (299 * SECOND, 50, Lookup::Hit(0)),
            (299 * SECOND, 40, Lookup::Hit(0)),
            (299 * SECOND, 150, Lookup::Hit(0)),
            (299 * SECOND, 151, Lookup::Untrusted),
            (300 * SECOND, 50, Lookup::Expired),
        ] {
            assert_eq!(tier.get(2, now, reader, never), found, "{now} {reader}");
        }
    }
}
