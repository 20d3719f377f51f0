//! Object ids (`acct_…`, `key_…`) and request ids (`req_…`), from the same base62 sampler as
//! the keys.

use crate::base62;
use crate::error::Error;
use crate::random::SecureRandom;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// Random characters in an object id: 62^20 ≈ 2^119, so ids never collide in practice and
/// cannot be enumerated.
pub const ID_RANDOM_LEN: usize = 20;
/// Random characters in a request id.
pub const REQUEST_ID_RANDOM_LEN: usize = 24;

/// `prefix` followed by [`ID_RANDOM_LEN`] random base62 characters, e.g. `new_id("acct_", …)`,
/// for anything stored under its id. Fails (500) if the generator does: nothing should then
/// be created (the policy is in [`crate::random`]).
pub fn new_id(prefix: &str, random: &dyn SecureRandom) -> Result<String, Error> {
    Ok(format!(
        "{prefix}{}",
        base62::random(ID_RANDOM_LEN, random)?
    ))
}

/// A fresh `req_` id. Never fails: an error response still needs an id.
pub fn new_request_id(random: &dyn SecureRandom) -> String {
    unique_id("req_", REQUEST_ID_RANDOM_LEN, random)
}

/// `prefix` and [`ID_RANDOM_LEN`] base62 characters for an identifier that must be unique but
/// guards nothing (a sandbox object's id). Never fails.
pub fn new_unique_id(prefix: &str, random: &dyn SecureRandom) -> String {
    unique_id(prefix, ID_RANDOM_LEN, random)
}

/// Random if the generator works; otherwise a hash of a per-isolate counter and the addresses
/// of a static and a stack slot — unique within the isolate, unlikely to repeat across isolates.
fn unique_id(prefix: &str, len: usize, random: &dyn SecureRandom) -> String {
    let body = base62::random(len, random).unwrap_or_else(|_| fallback(len));
    format!("{prefix}{body}")
}

fn fallback(len: usize) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stack_slot = 0u8;
    let seed: [u8; 32] = Sha256::new()
        .chain_update(count.to_le_bytes())
        .chain_update((&raw const COUNTER as usize).to_le_bytes())
        .chain_update((&raw const stack_slot as usize).to_le_bytes())
        .finalize()
        .into();
    base62::from_seed(len, b"keygate request id fallback", &seed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn is_base62(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn object_ids() {
        let random = testing::Seeded::new(1);
        let id = new_id("acct_", &random).unwrap();
        assert!(id.starts_with("acct_"));
        assert_eq!(id.len(), 5 + ID_RANDOM_LEN);
        assert!(is_base62(&id[5..]));
        assert_ne!(id, new_id("acct_", &random).unwrap());
    }

    #[test]
    fn no_stored_id_without_randomness() {
        assert_eq!(new_id("acct_", &testing::Broken).unwrap_err().status, 500);
    }

    #[test]
    fn request_ids() {
        let random = testing::Seeded::new(1);
        let id = new_request_id(&random);
        assert!(id.starts_with("req_"));
        assert_eq!(id.len(), 4 + REQUEST_ID_RANDOM_LEN);
        assert!(is_base62(&id[4..]));
        assert_ne!(id, new_request_id(&random));
    }

    #[test]
    fn unique_ids_fall_back_when_the_generator_fails() {
        for (a, b, len) in [
            (
                new_request_id(&testing::Broken),
                new_request_id(&testing::Broken),
                4 + REQUEST_ID_RANDOM_LEN,
            ),
            (
                new_unique_id("qt_", &testing::Broken),
                new_unique_id("qt_", &testing::Broken),
                3 + ID_RANDOM_LEN,
            ),
        ] {
            assert_eq!(a.len(), len, "{a}");
            assert!(is_base62(&a[a.find('_').unwrap() + 1..]), "{a}");
            assert_ne!(a, b);
        }
    }

    #[test]
    fn fallback_ids_are_well_formed_and_distinct() {
        let a = fallback(REQUEST_ID_RANDOM_LEN);
        let b = fallback(REQUEST_ID_RANDOM_LEN);
        assert_eq!(a.len(), REQUEST_ID_RANDOM_LEN);
        assert!(is_base62(&a));
        assert_ne!(a, b);
    }
}
