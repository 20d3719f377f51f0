//! A location's mirror of the revocation log: one object per location keeps a copy of the
//! log's recent entries and answers that location's isolates, so the primary log is read by
//! locations, not by every isolate (docs/scaling.md).
//!
//! The mirror refreshes its copy from the primary at most every [`MIRROR_REFRESH_MS`] while it
//! is asked, and answers only while its last successful refresh is at most
//! [`MIRROR_STALE_MAX_MS`] old; otherwise, or for a generation older than its copy, it answers
//! nothing and the isolate asks the primary itself. A revocation therefore reaches an isolate
//! within its own interval plus [`MIRROR_STALE_MAX_MS`] and the calls' latency.

use super::PIN_MS;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How often a mirror that is being asked refreshes its copy from the primary.
pub const MIRROR_REFRESH_MS: u64 = 250;
/// The oldest copy a mirror answers from.
pub const MIRROR_STALE_MAX_MS: u64 = 500;
/// How long the log keeps an entry, in the primary and in every mirror (far above any
/// isolate's interval).
pub const KEEP_MS: u64 = 10 * 60 * 1000;

/// One entry of the log: the edge changes of one admin command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// Its place in the log; increasing.
    pub generation: u64,
    /// When the primary appended it, in unix milliseconds.
    pub at_ms: u64,
    /// The `EdgeUpdate` array, as JSON.
    pub body: String,
}

/// What the primary sends a mirror: the entries after the mirror's latest generation, or, for
/// a new copy (or one the primary no longer reaches back to), the entries of the last
/// [`PIN_MS`] and where they start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogTail {
    /// The copy is to be replaced, not extended: it starts after `base`.
    pub fresh_copy: bool,
    /// The generation the entries follow (meaningful with `fresh_copy`).
    pub base: u64,
    /// The newest generation of the log.
    pub latest: u64,
    /// Oldest first.
    pub entries: Vec<LogEntry>,
}

/// What an isolate is answered: the changes after its generation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changes {
    /// The generation the isolate is at once it applied `entries`.
    pub generation: u64,
    /// The isolate's generation is no longer in the log: it drops everything cached.
    pub reset: bool,
    /// The entries' `EdgeUpdate` arrays, oldest first.
    pub entries: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Copy {
    base: u64,
    latest: u64,
    entries: VecDeque<LogEntry>,
}

/// One location's copy of the log, and when it was refreshed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogMirror {
    copy: Option<Copy>,
    last_attempt_ms: Option<u64>,
    last_success_ms: Option<u64>,
}

impl LogMirror {
    /// `Some(after)` when the copy is to be refreshed before answering, asking the primary for
    /// the entries after `after` (`None`: a new copy); records the attempt, so concurrent
    /// requests do not all refresh.
    pub fn refresh_due(&mut self, now_ms: u64) -> Option<Option<u64>> {
        let due = self
            .last_attempt_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= MIRROR_REFRESH_MS);
        if !due {
            return None;
        }
        self.last_attempt_ms = Some(now_ms);
        Some(self.copy.as_ref().map(|c| c.latest))
    }

    /// Takes what the primary answered to a refresh started at `started_ms`.
    pub fn refreshed(&mut self, tail: LogTail, started_ms: u64) {
        let copy = match (&mut self.copy, tail.fresh_copy) {
            (Some(copy), false) => {
                let latest = copy.latest;
                copy.entries
                    .extend(tail.entries.into_iter().filter(|e| e.generation > latest));
                copy.latest = copy.latest.max(tail.latest);
                copy
            }
            (slot, _) => slot.insert(Copy {
                base: tail.base,
                latest: tail.latest,
                entries: tail.entries.into(),
            }),
        };
        // The primary keeps entries as long; a copy older than that could not answer anyway.
        while copy
            .entries
            .front()
            .is_some_and(|e| e.at_ms.saturating_add(KEEP_MS) < started_ms)
        {
            if let Some(pruned) = copy.entries.pop_front() {
                copy.base = pruned.generation;
            }
        }
        self.last_success_ms = Some(
            self.last_success_ms
                .map_or(started_ms, |at| at.max(started_ms)),
        );
    }

    /// The changes after `generation` (`None`: a new isolate, which gets the last [`PIN_MS`]),
    /// from the copy; `None` when the copy is too old or does not reach back to `generation`:
    /// the isolate then asks the primary.
    pub fn answer(&self, generation: Option<u64>, now_ms: u64) -> Option<Changes> {
        let fresh = self
            .last_success_ms
            .is_some_and(|at| now_ms.saturating_sub(at) <= MIRROR_STALE_MAX_MS);
        let copy = self.copy.as_ref().filter(|_| fresh)?;
        let entries: Vec<String> = match generation {
            Some(g) if g < copy.base => return None,
            Some(g) => copy
                .entries
                .iter()
                .filter(|e| e.generation > g)
                .map(|e| e.body.clone())
                .collect(),
            None => copy
                .entries
                .iter()
                .filter(|e| e.at_ms.saturating_add(PIN_MS) >= now_ms)
                .map(|e| e.body.clone())
                .collect(),
        };
        Some(Changes {
            generation: copy.latest.max(generation.unwrap_or(0)),
            reset: false,
            entries,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const T0: u64 = 1_700_000_000_000;

    fn entry(generation: u64, at_ms: u64) -> LogEntry {
        LogEntry {
            generation,
            at_ms,
            body: format!("[{generation}]"),
        }
    }

    fn tail(fresh_copy: bool, base: u64, entries: Vec<LogEntry>) -> LogTail {
        LogTail {
            fresh_copy,
            base,
            latest: entries.last().map_or(base, |e| e.generation),
            entries,
        }
    }

    fn mirror_at(now: u64) -> LogMirror {
        let mut m = LogMirror::default();
        assert_eq!(
            m.refresh_due(now),
            Some(None),
            "a new mirror asks for a new copy"
        );
        m.refreshed(
            tail(true, 4, vec![entry(5, now - 1_000), entry(6, now - 10)]),
            now,
        );
        m
    }

    #[test]
    fn an_isolate_gets_what_came_after_its_generation() {
        let mut m = mirror_at(T0);
        let c = m.answer(Some(5), T0).unwrap();
        assert_eq!(
            (c.generation, c.reset, c.entries),
            (6, false, vec!["[6]".into()])
        );
        assert_eq!(m.answer(Some(6), T0).unwrap().entries.len(), 0);
        // Ahead of the copy (it asked the primary once): never moved back.
        assert_eq!(m.answer(Some(9), T0).unwrap().generation, 9);
        // A new isolate: the entries of the pin window.
        assert_eq!(m.answer(None, T0).unwrap().entries, ["[5]", "[6]"]);
        let later = T0 + PIN_MS - 500;
        m.refresh_due(later);
        m.refreshed(tail(false, 6, vec![]), later);
        assert_eq!(m.answer(None, later).unwrap().entries, ["[6]"]);
    }

    #[test]
    fn a_generation_older_than_the_copy_goes_to_the_primary() {
        let m = mirror_at(T0);
        assert_eq!(m.answer(Some(3), T0), None);
        assert!(m.answer(Some(4), T0).is_some());
    }

    #[test]
    fn refreshes_are_spaced_and_a_stale_copy_is_not_answered_from() {
        let mut m = mirror_at(T0);
        assert_eq!(m.refresh_due(T0 + MIRROR_REFRESH_MS - 1), None);
        assert_eq!(m.refresh_due(T0 + MIRROR_REFRESH_MS), Some(Some(6)));
        // That refresh failed, and so do the next: the copy ages out.
        assert!(m.answer(Some(6), T0 + MIRROR_STALE_MAX_MS).is_some());
        assert_eq!(m.answer(Some(6), T0 + MIRROR_STALE_MAX_MS + 1), None);
        // A later refresh extends the copy.
        let later = T0 + 2_000;
        assert_eq!(m.refresh_due(later), Some(Some(6)));
        m.refreshed(tail(false, 6, vec![entry(7, later - 5)]), later);
        assert_eq!(m.answer(Some(6), later).unwrap().entries, ["[7]"]);
    }

    #[test]
    fn an_answer_never_skips_an_entry_of_a_refresh_that_repeats_some() {
        let mut m = mirror_at(T0);
        let later = T0 + 300;
        m.refresh_due(later);
        m.refreshed(
            tail(false, 5, vec![entry(6, T0 - 10), entry(7, later)]),
            later,
        );
        assert_eq!(m.answer(Some(5), later).unwrap().entries, ["[6]", "[7]"]);
    }

    #[test]
    fn old_entries_are_pruned_and_the_copy_then_starts_later() {
        let mut m = mirror_at(T0);
        let later = T0 + KEEP_MS + 2_000;
        m.refresh_due(later);
        m.refreshed(tail(false, 6, vec![]), later);
        assert_eq!(m.answer(Some(5), later), None, "5 and 6 were pruned");
        assert!(m.answer(Some(6), later).is_some());
    }

    #[test]
    fn a_fresh_copy_replaces_the_old_one() {
        let mut m = mirror_at(T0);
        let later = T0 + 1_000;
        m.refresh_due(later);
        m.refreshed(tail(true, 40, vec![entry(41, later)]), later);
        assert_eq!(m.answer(Some(6), later), None);
        assert_eq!(m.answer(Some(40), later).unwrap().entries, ["[41]"]);
    }
}
