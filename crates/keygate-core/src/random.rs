//! Randomness is passed in, like time: the core never draws it itself, so the platform's
//! generator is chosen in one place (the worker) and every test can be reproduced.
//!
//! One policy for a generator that fails: whatever is a secret or is stored under its id
//! (keys, account, key and event ids) is not made — the command answers 500 and writes
//! nothing. Only identifiers whose one job is to be unique and that an answer cannot do
//! without (request ids, sandbox object ids) fall back to a hash of a counter (`ids`).

use crate::error::Error;

/// A cryptographically secure source of random bytes (rustls' `SecureRandom` is the model).
pub trait SecureRandom {
    /// Fills `buf` entirely with random bytes, or fails without a partial promise.
    fn fill(&self, buf: &mut [u8]) -> Result<(), Unavailable>;
}

/// The generator could not deliver (in a Worker: `crypto.getRandomValues` threw).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unavailable;

impl From<Unavailable> for Error {
    fn from(_: Unavailable) -> Self {
        Error::new(
            500,
            "No secure random numbers were available, so nothing was created. Retry the request.",
        )
    }
}
