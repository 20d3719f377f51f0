//! Object ids (`acct_…`, `key_…`) and request ids (`req_…`), from the same base62 sampler as
//! the keys.

use crate::base62;
use crate::error::Error;
use sha2::{Digest, Sha256};
use std::sync::atomic::{AtomicU64, Ordering};

/// Random characters in an object id: 62^20 ≈ 2^119, so ids never collide in practice and
/// cannot be enumerated.
pub const ID_RANDOM_LEN: usize = 20;
/// Random characters in a request id.
pub const REQUEST_ID_RANDOM_LEN: usize = 24;

/// `prefix` followed by [`ID_RANDOM_LEN`] random base62 characters, e.g. `new_id("acct_")`.
/// Fails (500) only if the platform has no randomness; nothing should then be created.
pub fn new_id(prefix: &str) -> Result<String, Error> {
    Ok(format!("{prefix}{}", base62::random(ID_RANDOM_LEN)?))
}

/// A fresh `req_` id. Never fails: an error response still needs an id, so if the platform's
/// randomness fails this falls back to a hash of a per-isolate counter and the addresses of a
/// static and a stack slot — unique within the isolate, and unlikely to repeat across isolates.
pub fn new_request_id() -> String {
    match base62::random(REQUEST_ID_RANDOM_LEN) {
        Ok(random) => format!("req_{random}"),
        Err(_) => format!("req_{}", fallback(REQUEST_ID_RANDOM_LEN)),
    }
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
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn is_base62(s: &str) -> bool {
        s.bytes().all(|b| b.is_ascii_alphanumeric())
    }

    #[test]
    fn object_ids() {
        let id = new_id("acct_").unwrap();
        assert!(id.starts_with("acct_"));
        assert_eq!(id.len(), 5 + ID_RANDOM_LEN);
        assert!(is_base62(&id[5..]));
        assert_ne!(id, new_id("acct_").unwrap());
    }

    #[test]
    fn request_ids() {
        let id = new_request_id();
        assert!(id.starts_with("req_"));
        assert_eq!(id.len(), 4 + REQUEST_ID_RANDOM_LEN);
        assert!(is_base62(&id[4..]));
        assert_ne!(id, new_request_id());
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
