//! The location's Cache API, as far as the platform goes: one store per sampled location,
//! shared by its isolates, holding the bodies the core handed out as location writes under
//! their paths. What a copy says, when one is written and whether a reader trusts it are the
//! core's (`EdgeCache::accept_location`, `EdgeCache::take_location_writes`); the simulator only
//! moves the bytes, as the worker does.
//!
//! What is modelled here: the last put of a path wins (the Cache API keeps whichever came
//! last, so a put by an isolate behind on the log may land after a fresher one), an entry is
//! gone once its `max-age` has passed, and nothing is evicted before that. Puts land when they
//! are made; reads take their latency where they are made (`sim/edge.rs`).

use std::collections::HashMap;

use keygate_core::isolate::LocationWrite;

use crate::queue::{Micros, SECOND};

#[derive(Debug)]
struct Entry {
    body: String,
    expires_at: Micros,
}

/// One location's Cache API.
#[derive(Debug, Default)]
pub struct LocationTier {
    entries: HashMap<String, Entry>,
}

impl LocationTier {
    /// The body stored under `path` at `now`, if a put left one that has not expired.
    pub fn get(&self, path: &str, now: Micros) -> Option<&str> {
        self.entries
            .get(path)
            .filter(|entry| now < entry.expires_at)
            .map(|entry| entry.body.as_str())
    }

    /// Puts `write` at `now`: it replaces whatever the path held, for `max_age_s`.
    pub fn put(&mut self, write: LocationWrite, now: Micros) {
        self.entries.insert(
            write.path,
            Entry {
                body: write.body,
                expires_at: now.saturating_add(write.max_age_s * SECOND),
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(body: &str, max_age_s: u64) -> LocationWrite {
        LocationWrite {
            path: "/p".into(),
            body: body.into(),
            max_age_s,
        }
    }

    #[test]
    fn the_last_put_wins_and_an_entry_is_gone_after_its_max_age() {
        let mut tier = LocationTier::default();
        assert_eq!(tier.get("/p", 0), None);
        tier.put(write("new", 300), 5 * SECOND);
        // A put made later with an older body replaces it: the Cache API keeps the last.
        tier.put(write("old", 10), 6 * SECOND);
        assert_eq!(tier.get("/p", 15 * SECOND), Some("old"));
        assert_eq!(tier.get("/p", 16 * SECOND), None);
        assert_eq!(tier.get("/q", 7 * SECOND), None);
    }
}
