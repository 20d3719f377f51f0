//! When an isolate must ask whether anything was revoked, and when it must stop trusting what it
//! holds.
//!
//! A key design decision of this module: revocation is pushed into a log and pulled by every
//! isolate, instead of waiting for caches to expire. The `Registry` appends each admin change
//! that can refuse a key (the edge records it changed) to one log with increasing generations;
//! an isolate asks for the entries after its generation at most every [`SYNC_INTERVAL_MS`]
//! before it trusts its cache, and applies them. Between checks the hot path reads nothing.
//! If the log cannot be read, the isolate keeps serving from what it holds for at most
//! [`FAIL_CLOSED_AFTER_MS`] since its last successful check, then refuses (503); an isolate
//! that never reached the log refuses at once. The clock is passed in.

use crate::error::Error;

mod mirror;
pub use mirror::*;

/// Copies of the log: the Registry appends every change to each, and the mirrors of a location
/// read one ([`crate::location::Location::log_copy`]), so no copy is read by more than about a
/// third of the locations. Each copy numbers its entries itself; a location always reads the
/// same copy, so the generations it compares are one copy's.
pub const LOG_COPIES: u8 = 3;

/// The name of the log copy `copy` (`0` is the one log of earlier versions).
pub fn log_name(copy: u8) -> String {
    match copy {
        0 => "revocations".to_string(),
        n => format!("revocations#{n}"),
    }
}

/// How often an isolate asks the log for changes while it serves requests.
pub const SYNC_INTERVAL_MS: u64 = 500;
/// How long an isolate keeps serving without a successful check.
pub const FAIL_CLOSED_AFTER_MS: u64 = 10_000;
/// How long a record learnt from the log (or an admin answer) outranks KV: KV documents up to
/// 60 s for a write to reach every location, plus its 30 s read cache.
pub const PIN_MS: u64 = 90_000;

/// One isolate's position in the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncState {
    /// The last generation applied; `None` before the first successful check.
    pub generation: Option<u64>,
    last_attempt_ms: Option<u64>,
    last_success_ms: Option<u64>,
}

impl SyncState {
    /// Whether a check is due before the next request is decided.
    pub fn due(&self, now_ms: u64) -> bool {
        self.last_attempt_ms
            .is_none_or(|at| now_ms.saturating_sub(at) >= SYNC_INTERVAL_MS)
    }

    /// Records a check started at `now_ms` (unix milliseconds), so the next waits its interval
    /// even if this one fails.
    pub fn attempted(&mut self, now_ms: u64) {
        self.last_attempt_ms = Some(now_ms);
    }

    /// Records a successful check at `now_ms` that applied the log up to `generation`.
    pub fn succeeded(&mut self, generation: u64, now_ms: u64) {
        self.generation = Some(generation);
        self.last_attempt_ms = Some(now_ms);
        self.last_success_ms = Some(now_ms);
    }

    /// Ok while what the isolate holds may still be trusted; else 503 (fail closed).
    pub fn check_fresh(&self, now_ms: u64) -> Result<(), Error> {
        match self.last_success_ms {
            Some(at) if now_ms.saturating_sub(at) <= FAIL_CLOSED_AFTER_MS => Ok(()),
            _ => Err(Error::unavailable(
                "The gateway cannot confirm that this key was not revoked, so the request was \
                 not authorised. Retry shortly.",
            )
            .with_retry_after(1)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_fresh_isolate_must_check_before_it_serves() {
        let s = SyncState::default();
        assert!(s.due(0));
        assert_eq!(s.check_fresh(0).unwrap_err().status, 503);
    }

    #[test]
    fn checks_are_due_every_interval_whether_they_succeed_or_not() {
        let mut s = SyncState::default();
        s.succeeded(7, 1_000);
        assert!(!s.due(1_000 + SYNC_INTERVAL_MS - 1));
        assert!(s.due(1_000 + SYNC_INTERVAL_MS));
        s.attempted(2_000);
        assert!(!s.due(2_100));
        assert_eq!(s.generation, Some(7));
    }

    #[test]
    fn a_log_out_of_reach_is_tolerated_for_a_bounded_time_then_refused() {
        let mut s = SyncState::default();
        s.succeeded(1, 10_000);
        for t in (10_500..=10_000 + FAIL_CLOSED_AFTER_MS).step_by(500) {
            s.attempted(t);
            assert!(s.check_fresh(t).is_ok(), "{t}");
        }
        let late = 10_000 + FAIL_CLOSED_AFTER_MS + 1;
        let e = s.check_fresh(late).unwrap_err();
        assert_eq!((e.status, e.retry_after), (503, Some(1)));
        s.succeeded(2, late + 10);
        assert!(s.check_fresh(late + 10).is_ok());
    }
}
