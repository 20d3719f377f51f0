//! The platform's generator (`crypto.getRandomValues` through getrandom), the one the core's
//! ids and keys are drawn from.

use keygate_core::random::{SecureRandom, Unavailable};

/// `crypto.getRandomValues`.
pub(crate) struct PlatformRandom;

impl SecureRandom for PlatformRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Unavailable> {
        getrandom::fill(buf).map_err(|_| Unavailable)
    }
}
