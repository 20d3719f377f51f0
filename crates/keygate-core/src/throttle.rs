//! Failed admin authentications, throttled per client address (docs/admin-api.md
//! "Authentication throttle").
//!
//! A key design decision of this module: only failures are counted, and only after the
//! credential was checked. The operator's correct token (and a valid `keys:manage` key) is
//! never throttled and costs nothing extra, so a flood of guesses from an address can never
//! lock the operator out, even from that same address. What a failure costs the guesser
//! grows in two tiers, counted per [`crate::ip::throttle_prefix`] bucket in fixed one-minute
//! windows by the platform's rate-limit binding (which keeps no state of ours in storage, so
//! the throttle itself cannot be made to fill it):
//!
//! | failures of the bucket in the minute | answer |
//! |---|---|
//! | up to [`SOFT_FAILURES_PER_MINUTE`] | 401 at once |
//! | up to [`HARD_FAILURES_PER_MINUTE`] | 401 after [`SLOW_DOWN_MS`] |
//! | beyond | 429, `Retry-After: 60`, also after [`SLOW_DOWN_MS`] (never faster than being slowed) |
//!
//! The throttle does not make a weak token safe: a correct guess is still accepted. It bounds
//! the work and noise a flood causes and slows serial guessing; `ADMIN_TOKEN` must be long and
//! random.

use crate::error::Error;

/// Failures per bucket per minute answered at once.
pub const SOFT_FAILURES_PER_MINUTE: u32 = 10;
/// Failures per bucket per minute answered at all (slowed); beyond, 429.
pub const HARD_FAILURES_PER_MINUTE: u32 = 30;
/// How long a failure past the soft limit waits before its answer.
pub const SLOW_DOWN_MS: u32 = 1_000;
/// `Retry-After` of a refusal: the binding's window.
pub const REFUSE_SECONDS: u32 = 60;

/// What a failed admin authentication gets, given whether its bucket was still within each
/// limit (the binding's answer for this failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthThrottle {
    /// The 401, at once.
    Answer,
    /// The 401, after [`SLOW_DOWN_MS`].
    Slow,
    /// 429 after [`SLOW_DOWN_MS`], with `Retry-After`.
    Refuse,
}

impl AuthThrottle {
    /// The tier of one failure: `within_soft` and `within_hard` are the two limits' answers.
    pub fn after_failure(within_soft: bool, within_hard: bool) -> Self {
        match (within_soft, within_hard) {
            (_, false) => AuthThrottle::Refuse,
            (false, true) => AuthThrottle::Slow,
            (true, true) => AuthThrottle::Answer,
        }
    }

    /// Milliseconds to wait before answering.
    pub fn delay_ms(self) -> u32 {
        match self {
            AuthThrottle::Answer => 0,
            AuthThrottle::Slow | AuthThrottle::Refuse => SLOW_DOWN_MS,
        }
    }

    /// The answer: the failure itself, or the 429 that replaces it.
    pub fn answer(self, failure: Error) -> Error {
        match self {
            AuthThrottle::Answer | AuthThrottle::Slow => failure,
            AuthThrottle::Refuse => Error::too_many_requests(
                "Too many failed admin authentications from this address. Retry after the time \
                 in Retry-After with a valid token.",
                REFUSE_SECONDS,
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn tiers() {
        let failure = || Error::unauthorized("The admin token is not valid.");
        for (soft, hard, tier, delay, status) in [
            (true, true, AuthThrottle::Answer, 0, 401),
            (false, true, AuthThrottle::Slow, SLOW_DOWN_MS, 401),
            (false, false, AuthThrottle::Refuse, SLOW_DOWN_MS, 429),
            // The hard limit decides, whatever the soft one says (windows may split).
            (true, false, AuthThrottle::Refuse, SLOW_DOWN_MS, 429),
        ] {
            let got = AuthThrottle::after_failure(soft, hard);
            assert_eq!(got, tier, "{soft} {hard}");
            assert_eq!(got.delay_ms(), delay);
            let answer = got.answer(failure());
            assert_eq!(answer.status, status);
            if status == 429 {
                assert_eq!(answer.retry_after, Some(REFUSE_SECONDS));
            }
        }
        const { assert!(SOFT_FAILURES_PER_MINUTE < HARD_FAILURES_PER_MINUTE) };
    }

    /// The platform counts; these constants only document and test the tiers. They must say
    /// the same thing.
    #[test]
    fn the_bindings_in_wrangler_toml_have_these_limits() {
        let toml = include_str!("../../../wrangler.toml");
        for (name, limit) in [
            ("ADMIN_AUTH_SOFT", SOFT_FAILURES_PER_MINUTE),
            ("ADMIN_AUTH_HARD", HARD_FAILURES_PER_MINUTE),
        ] {
            let block = toml
                .split("[[ratelimits]]")
                .find(|b| b.contains(&format!("name = \"{name}\"")))
                .unwrap_or_else(|| panic!("no [[ratelimits]] {name} in wrangler.toml"));
            let simple = format!("simple = {{ limit = {limit}, period = {REFUSE_SECONDS} }}");
            assert!(block.contains(&simple), "{name}: expected `{simple}`");
        }
    }
}
