//! The one base62 alphabet and the one random-string sampler behind keys and ids.

use crate::random::{SecureRandom, Unavailable};
use sha2::{Digest, Sha256};
use std::convert::Infallible;

/// `0-9A-Za-z`, in ASCII order so that fixed-width encodings sort like the numbers they encode.
pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The largest multiple of 62 that fits in a byte. Bytes at or above it are thrown away, so that
/// `byte % 62` is exactly uniform (a plain modulo would favour the first 8 symbols).
const ACCEPT_BELOW: u8 = 248;

/// A working OS generator needs one refill for a 32-character string with overwhelming
/// probability; this many refills without finishing means the source is broken, not unlucky.
const MAX_REFILLS: u32 = 64;

pub(crate) fn is_symbol(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
}

/// Draws `len` uniformly distributed base62 symbols from `fill` by rejection sampling.
fn sample<E>(len: usize, mut fill: impl FnMut(&mut [u8]) -> Result<(), E>) -> Result<String, E> {
    let mut out = String::with_capacity(len);
    let mut buf = [0u8; 64];
    while out.len() < len {
        fill(&mut buf)?;
        for &byte in buf.iter().filter(|&&b| b < ACCEPT_BELOW) {
            out.push(char::from(ALPHABET[usize::from(byte % 62)]));
            if out.len() == len {
                break;
            }
        }
    }
    Ok(out)
}

/// `len` base62 symbols from `random`.
pub(crate) fn random(len: usize, random: &dyn SecureRandom) -> Result<String, Unavailable> {
    let mut refills = 0u32;
    sample(len, |buf| {
        refills += 1;
        if refills > MAX_REFILLS {
            return Err(Unavailable);
        }
        random.fill(buf)
    })
}

/// `len` base62 symbols expanded deterministically from a 256-bit seed (SHA-256 in counter
/// mode, domain-separated by `context`). As unpredictable as the seed, and reproducible.
pub(crate) fn from_seed(len: usize, context: &[u8], seed: &[u8; 32]) -> String {
    let mut counter = 0u64;
    let result: Result<String, Infallible> = sample(len, |buf| {
        for chunk in buf.chunks_mut(32) {
            let block = Sha256::new()
                .chain_update(context)
                .chain_update(seed)
                .chain_update(counter.to_be_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
            counter += 1;
        }
        Ok(())
    });
    match result {
        Ok(text) => text,
        Err(never) => match never {},
    }
}

/// `value` as exactly `width` base62 digits, most significant first, zero-padded.
/// `width` must be large enough for `u32::MAX` (6 digits) for the encoding to be injective.
pub(crate) fn encode_fixed(mut value: u32, width: usize) -> String {
    let mut digits = vec![b'0'; width];
    for slot in digits.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    digits.into_iter().map(char::from).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn random_strings_have_the_length_and_alphabet_asked_for() {
        let source = testing::Seeded::new(1);
        for len in [0, 1, 20, 32, 100] {
            let s = random(len, &source).unwrap();
            assert_eq!(s.len(), len);
            assert!(s.bytes().all(is_symbol));
        }
        assert_ne!(random(32, &source).unwrap(), random(32, &source).unwrap());
    }

    #[test]
    fn a_failing_source_fails_the_draw() {
        assert_eq!(random(32, &testing::Broken), Err(Unavailable));
    }

    #[test]
    fn rejection_sampling_skips_biased_bytes() {
        // 247 is the last accepted byte (247 % 62 = 61 → 'z'); 248..=255 must be skipped.
        let mut calls = 0;
        let s: Result<String, ()> = sample(3, |buf| {
            calls += 1;
            buf.fill(if calls == 1 { 255 } else { 247 });
            Ok(())
        });
        assert_eq!(s.unwrap(), "zzz");
        assert_eq!(calls, 2);
    }

    #[test]
    fn a_source_that_only_yields_rejected_bytes_fails_instead_of_looping() {
        assert_eq!(random(1, &testing::Constant(250)), Err(Unavailable));
        assert_eq!(random(3, &testing::Constant(247)).unwrap(), "zzz");
    }

    #[test]
    fn every_symbol_is_reachable_and_roughly_uniform() {
        let s = from_seed(62 * 200, b"test", &[7; 32]);
        let mut counts = [0u32; 62];
        for b in s.bytes() {
            let i = ALPHABET.iter().position(|&a| a == b).unwrap();
            counts[i] += 1;
        }
        // Expected 200 each; a modulo-biased sampler would put ~8% more on '0'..'7'.
        assert!(
            counts.iter().all(|&c| (140..=260).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn seeded_expansion_is_deterministic_and_separated_by_context() {
        let a = from_seed(40, b"one", &[1; 32]);
        assert_eq!(a, from_seed(40, b"one", &[1; 32]));
        assert_ne!(a, from_seed(40, b"two", &[1; 32]));
        assert_ne!(a, from_seed(40, b"one", &[2; 32]));
        // A longer draw extends a shorter one: the stream does not depend on the length.
        assert!(from_seed(100, b"one", &[1; 32]).starts_with(&a));
    }

    #[test]
    fn fixed_width_encoding() {
        assert_eq!(encode_fixed(0, 6), "000000");
        assert_eq!(encode_fixed(61, 6), "00000z");
        assert_eq!(encode_fixed(62, 6), "000010");
        // 62^6 > 2^32, so six digits hold every u32.
        assert_eq!(encode_fixed(u32::MAX, 6), "4gfFC3");
    }
}
