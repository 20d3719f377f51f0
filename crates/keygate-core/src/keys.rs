//! The key format (docs/key-format.md): `{sk|pk}_{test|live}_` + 32 random base62 characters + a
//! 6-character base62 CRC32 of everything before it. See `docs/key-format.md`.
//!
//! Only [`KeyHash`] (SHA-256 of the full key text) is ever stored. Nothing in this module puts a
//! key's text into an error message or a `Debug` rendering.

use crate::base62;
use crate::error::Error;
use crate::random::SecureRandom;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::fmt;
use subtle::ConstantTimeEq;

/// Random base62 characters in a key: 62^32 ≈ 2^190, comfortably above the 160 bits a key needs.
pub const BODY_LEN: usize = 32;
/// Base62 digits of the CRC32 checksum; 62^6 > 2^32, so every checksum fits.
pub const CHECKSUM_LEN: usize = 6;
/// `sk_test_` and its three siblings are all this long.
pub const PREFIX_LEN: usize = 8;
/// Total length of every key.
pub const KEY_LEN: usize = PREFIX_LEN + BODY_LEN + CHECKSUM_LEN;
/// Characters shown as `start`: the prefix and four body characters (`sk_test_4eC3`).
const START_LEN: usize = PREFIX_LEN + 4;
/// Characters shown as `end`.
const END_LEN: usize = 4;

/// The regular expression secret scanners use to find keygate keys (published in the README
/// and `docs/key-format.md`). The `{38}` is `BODY_LEN + CHECKSUM_LEN`.
pub const KEY_PATTERN: &str = r"\b(?:sk|pk)_(?:test|live)_[0-9A-Za-z]{38}\b";

/// Domain separation for keys expanded from a seed, so a seed reused elsewhere yields
/// unrelated bytes.
const SEED_CONTEXT: &[u8] = b"keygate key body v1";

/// Which side of the API a key reaches: `test` keys are answered by the sandbox, `live` keys
/// are proxied to the origin. Part of the key text (`sk_test_`, `sk_live_`, …). JSON: `"test"`
/// or `"live"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// The sandbox: never reaches the origin.
    Test,
    /// Production: proxied to the origin, signed.
    Live,
}

impl Environment {
    /// Both, test first.
    pub const ALL: [Environment; 2] = [Environment::Test, Environment::Live];

    /// The spelling in keys, JSON and config: `"test"` or `"live"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Test => "test",
            Environment::Live => "live",
        }
    }

    /// Exactly `test` or `live`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "test" => Some(Environment::Test),
            "live" => Some(Environment::Live),
            _ => None,
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret key authenticates; a product key only identifies (account, product, environment).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// `sk_`: the credential a request authenticates with; stored only as its hash.
    Secret,
    /// `pk_`: names an entitlement (account, product, environment); not a secret.
    Product,
}

impl KeyKind {
    /// The two letters before the first `_`: `"sk"` or `"pk"`.
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Secret => "sk",
            KeyKind::Product => "pk",
        }
    }
}

/// SHA-256 of a key's full text: the only form in which a key is stored or looked up.
///
/// `PartialEq` is not constant-time; that is fine for a lookup key. Where a hash is compared
/// against one supplied by a caller, use [`KeyHash::ct_eq`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Hashes a key's text. Any text: the result is only useful for text that parsed.
    pub fn of(text: &str) -> Self {
        Self(Sha256::digest(text.as_bytes()).into())
    }

    /// Takes 32 bytes as they are, without hashing them (a digest computed elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits: the storage key.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// The inverse of [`KeyHash::to_hex`]: exactly 64 lowercase hex digits. Uppercase is
    /// refused so that one hash has one spelling as a storage key.
    pub fn from_hex(hex: &str) -> Option<Self> {
        fn nibble(c: u8) -> Option<u8> {
            match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            }
        }
        let bytes = hex.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
            *slot = nibble(pair[0])? << 4 | nibble(pair[1])?;
        }
        Some(Self(out))
    }

    /// Constant-time equality.
    pub fn ct_eq(&self, other: &KeyHash) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_hex())
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl Serialize for KeyHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = KeyHash;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("64 lowercase hex digits")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<KeyHash, E> {
                KeyHash::from_hex(v)
                    .ok_or_else(|| E::invalid_value(serde::de::Unexpected::Str(v), &self))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// A key whose prefix, length, alphabet and checksum are right. Says nothing about whether it
/// exists: that takes a lookup of [`ParsedKey::hash`].
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ParsedKey<'a> {
    text: &'a str,
    kind: KeyKind,
    environment: Environment,
}

impl<'a> ParsedKey<'a> {
    /// Secret or product key, from the prefix.
    pub fn kind(&self) -> KeyKind {
        self.kind
    }
    /// Test or live, from the prefix.
    pub fn environment(&self) -> Environment {
        self.environment
    }
    /// The full key text. Handle with care: it is a secret for `sk_` keys.
    pub fn as_str(&self) -> &'a str {
        self.text
    }
    /// The hash the key is stored and looked up under.
    pub fn hash(&self) -> KeyHash {
        KeyHash::of(self.text)
    }
    /// Display fragment: the prefix and four body characters, e.g. `sk_test_4eC3`.
    pub fn start(&self) -> String {
        self.text.get(..START_LEN).unwrap_or_default().to_string()
    }
    /// Display fragment: the last four characters.
    pub fn end(&self) -> String {
        self.text
            .get(KEY_LEN - END_LEN..)
            .unwrap_or_default()
            .to_string()
    }
}

impl fmt::Debug for ParsedKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedKey")
            .field("kind", &self.kind)
            .field("environment", &self.environment)
            .field("start", &self.start())
            .field("end", &self.end())
            .finish_non_exhaustive()
    }
}

/// Checks a key offline: prefix, then length, then alphabet, then checksum; the first failure
/// answers 401. Messages never contain the key (it may be someone's real secret with a typo).
pub fn parse_key(text: &str) -> Result<ParsedKey<'_>, Error> {
    let (kind, environment) = match text.get(..PREFIX_LEN) {
        Some("sk_test_") => (KeyKind::Secret, Environment::Test),
        Some("sk_live_") => (KeyKind::Secret, Environment::Live),
        Some("pk_test_") => (KeyKind::Product, Environment::Test),
        Some("pk_live_") => (KeyKind::Product, Environment::Live),
        _ => {
            return Err(Error::unauthorized(
                "The API key does not start with sk_test_, sk_live_, pk_test_ or pk_live_. \
                 Check that you are sending a key issued for this API, copied whole.",
            ));
        }
    };
    let length = text.chars().count();
    if length != KEY_LEN {
        return Err(Error::unauthorized(format!(
            "The API key is {length} characters long; keys for this API are exactly {KEY_LEN}. \
             Check for a copy-paste error (a character missing or added)."
        )));
    }
    // Length in chars matched; all-ASCII now makes it KEY_LEN bytes too, so slicing is safe.
    let rest = &text.as_bytes()[PREFIX_LEN..];
    if !rest.iter().all(|&b| base62::is_symbol(b)) {
        return Err(Error::unauthorized(
            "The API key contains a character that cannot occur in a key (after the prefix only \
             0-9, A-Z and a-z do). Check for a copy-paste error such as a quote, space or dash.",
        ));
    }
    let (signed, checksum) = text.split_at(KEY_LEN - CHECKSUM_LEN);
    if checksum
        .as_bytes()
        .ct_eq(checksum_of(signed).as_bytes())
        .unwrap_u8()
        != 1
    {
        return Err(Error::unauthorized(
            "The API key's checksum does not match: a character was changed. Check for a \
             copy-paste error, and copy the key again from where it was issued.",
        ));
    }
    Ok(ParsedKey {
        text,
        kind,
        environment,
    })
}

fn checksum_of(signed: &str) -> String {
    base62::encode_fixed(crc32fast::hash(signed.as_bytes()), CHECKSUM_LEN)
}

fn assemble(kind: KeyKind, environment: Environment, body: &str) -> String {
    let mut text = String::with_capacity(KEY_LEN);
    text.push_str(kind.prefix());
    text.push('_');
    text.push_str(environment.as_str());
    text.push('_');
    text.push_str(body);
    let checksum = checksum_of(&text);
    text.push_str(&checksum);
    text
}

/// A freshly generated key with everything the issuer needs: the text to hand out once, the
/// hash to store, and the display fragments. `Debug` shows only the fragments.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedKey {
    /// The whole key, [`KEY_LEN`] characters: handed out once, never stored.
    pub text: String,
    /// Secret or product key.
    pub kind: KeyKind,
    /// Test or live.
    pub environment: Environment,
    /// What is stored instead of `text`.
    pub hash: KeyHash,
    /// Display fragment: the prefix and four body characters, e.g. `sk_test_4eC3`.
    pub start: String,
    /// Display fragment: the last four characters.
    pub end: String,
}

impl IssuedKey {
    /// A new key drawn from `random`. Fails (500) if the generator does.
    pub fn generate(
        kind: KeyKind,
        environment: Environment,
        random: &dyn SecureRandom,
    ) -> Result<Self, Error> {
        let body = base62::random(BODY_LEN, random)?;
        Ok(Self::from_text(
            kind,
            environment,
            assemble(kind, environment, &body),
        ))
    }

    /// The key that `seed` deterministically yields: for tests and the fixed demo key.
    pub fn from_entropy(kind: KeyKind, environment: Environment, seed: &[u8; 32]) -> Self {
        let body = base62::from_seed(BODY_LEN, SEED_CONTEXT, seed);
        Self::from_text(kind, environment, assemble(kind, environment, &body))
    }

    fn from_text(kind: KeyKind, environment: Environment, text: String) -> Self {
        let hash = KeyHash::of(&text);
        let start = text.get(..START_LEN).unwrap_or_default().to_string();
        let end = text
            .get(KEY_LEN - END_LEN..)
            .unwrap_or_default()
            .to_string();
        Self {
            text,
            kind,
            environment,
            hash,
            start,
            end,
        }
    }
}

impl fmt::Debug for IssuedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuedKey")
            .field("kind", &self.kind)
            .field("environment", &self.environment)
            .field("hash", &self.hash)
            .field("start", &self.start)
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// The hash to look up for a reported token, if it is a well-formed secret key of ours in
/// shape. Product keys are identifiers and are not revoked; anything else is not ours.
pub fn secret_key_hash(token: &str) -> Option<KeyHash> {
    parse_key(token)
        .ok()
        .filter(|k| k.kind() == KeyKind::Secret)
        .map(|k| k.hash())
}

/// The key text that `seed` deterministically yields (see [`IssuedKey::from_entropy`]).
pub fn key_from_entropy(kind: KeyKind, environment: Environment, seed: &[u8; 32]) -> String {
    IssuedKey::from_entropy(kind, environment, seed).text
}

/// Constant-time comparison for secrets compared directly (the admin token). Runs in time
/// independent of the content; a length difference returns early, which reveals only the
/// length of the expected value — not useful against a random token of fixed length.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    fn demo(kind: KeyKind, env: Environment) -> String {
        key_from_entropy(kind, env, &[42; 32])
    }

    #[test]
    fn generated_keys_have_the_documented_shape() {
        let random = crate::testing::Seeded::new(7);
        for kind in [KeyKind::Secret, KeyKind::Product] {
            for env in Environment::ALL {
                let key = IssuedKey::generate(kind, env, &random).unwrap().text;
                assert_eq!(key.len(), KEY_LEN);
                assert!(key.starts_with(&format!("{}_{}_", kind.prefix(), env.as_str())));
                let parsed = parse_key(&key).unwrap();
                assert_eq!(parsed.kind(), kind);
                assert_eq!(parsed.environment(), env);
                assert_eq!(parsed.as_str(), key);
            }
        }
        assert_ne!(
            IssuedKey::generate(KeyKind::Secret, Environment::Test, &random)
                .unwrap()
                .text,
            IssuedKey::generate(KeyKind::Secret, Environment::Test, &random)
                .unwrap()
                .text
        );
    }

    #[test]
    fn key_pattern_says_38_characters_after_the_prefix() {
        assert_eq!(BODY_LEN + CHECKSUM_LEN, 38);
        assert!(KEY_PATTERN.contains("{38}"));
    }

    #[test]
    fn seeded_keys_are_deterministic_and_valid() {
        let a = demo(KeyKind::Secret, Environment::Test);
        assert_eq!(a, demo(KeyKind::Secret, Environment::Test));
        assert_ne!(
            a,
            key_from_entropy(KeyKind::Secret, Environment::Test, &[43; 32])
        );
        // The body does not depend on kind or environment; the checksum does.
        let pk = demo(KeyKind::Product, Environment::Test);
        assert_eq!(
            a[PREFIX_LEN..KEY_LEN - CHECKSUM_LEN],
            pk[PREFIX_LEN..KEY_LEN - CHECKSUM_LEN]
        );
        assert_ne!(a[KEY_LEN - CHECKSUM_LEN..], pk[KEY_LEN - CHECKSUM_LEN..]);
        parse_key(&pk).unwrap();
    }

    #[test]
    fn fragments_and_hash() {
        let key = demo(KeyKind::Secret, Environment::Live);
        let parsed = parse_key(&key).unwrap();
        assert_eq!(parsed.start(), key[..12]);
        assert!(parsed.start().starts_with("sk_live_"));
        assert_eq!(parsed.end(), key[42..]);
        assert_eq!(parsed.hash(), KeyHash::of(&key));
        let issued = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[42; 32]);
        assert_eq!(issued.text, key);
        assert_eq!(issued.hash, parsed.hash());
        assert_eq!(issued.start, parsed.start());
        assert_eq!(issued.end, parsed.end());
    }

    #[test]
    fn wrong_prefix() {
        for bad in [
            "",
            "sk",
            "sk_test",
            "SK_TEST_aaaa",
            "rk_test_",
            "sk_prod_x",
            "sk-test-x",
            "é",
        ] {
            let e = parse_key(bad).unwrap_err();
            assert_eq!(e.status, 401);
            assert!(
                e.message.contains("does not start with"),
                "{bad}: {}",
                e.message
            );
        }
        // A multi-byte character straddling the prefix boundary must not panic.
        assert_eq!(parse_key("sk_test_\u{e9}").unwrap_err().status, 401);
        assert_eq!(parse_key("sk_tes\u{e9}xxxxxxxx").unwrap_err().status, 401);
    }

    #[test]
    fn wrong_length() {
        let key = demo(KeyKind::Secret, Environment::Test);
        for bad in [&key[..KEY_LEN - 1], &format!("{key}A"), "sk_test_"] {
            let e = parse_key(bad).unwrap_err();
            assert_eq!(e.status, 401);
            assert!(e.message.contains("characters long"), "{}", e.message);
            assert!(!e.message.contains(&key[8..20]));
        }
    }

    #[test]
    fn bad_alphabet() {
        let key = demo(KeyKind::Secret, Environment::Test);
        for replacement in ["-", "_", " ", "\"", "+", "\u{0}"] {
            let bad = format!("{}{}{}", &key[..20], replacement, &key[21..]);
            let e = parse_key(&bad).unwrap_err();
            assert_eq!(e.status, 401);
            assert!(e.message.contains("cannot occur"), "{}", e.message);
        }
        // Same number of characters, more bytes: rejected as alphabet, not sliced mid-char.
        let bad = format!("{}é{}", &key[..20], &key[21..]);
        assert!(
            parse_key(&bad)
                .unwrap_err()
                .message
                .contains("cannot occur")
        );
    }

    #[test]
    fn checksum_mismatch() {
        let key = demo(KeyKind::Secret, Environment::Test);
        let mut bytes = key.clone().into_bytes();
        bytes[10] = if bytes[10] == b'a' { b'b' } else { b'a' };
        let bad = String::from_utf8(bytes).unwrap();
        let e = parse_key(&bad).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("checksum"), "{}", e.message);
        assert!(e.message.contains("copy-paste"));
        // Changing the environment invalidates the checksum too: the prefix is covered.
        let relabelled = key.replacen("sk_test_", "sk_live_", 1);
        assert!(
            parse_key(&relabelled)
                .unwrap_err()
                .message
                .contains("checksum")
        );
        let relabelled = key.replacen("sk_", "pk_", 1);
        assert!(
            parse_key(&relabelled)
                .unwrap_err()
                .message
                .contains("checksum")
        );
    }

    /// Exhaustive, so it runs in the browser too (proptest runs natively only): every position,
    /// every base62 symbol and a few non-alphabet characters, and every adjacent transposition,
    /// for keys of each kind.
    #[test]
    fn every_single_substitution_or_adjacent_swap_is_rejected() {
        let others = ['-', '_', ' ', '/', '+', '=', '\u{e9}'];
        for (kind, env, seed) in [
            (KeyKind::Secret, Environment::Test, 3u8),
            (KeyKind::Product, Environment::Live, 4),
        ] {
            let key = key_from_entropy(kind, env, &[seed; 32]);
            for position in 0..KEY_LEN {
                let original = char::from(key.as_bytes()[position]);
                let replacements = base62::ALPHABET
                    .iter()
                    .map(|&b| char::from(b))
                    .chain(others);
                for replacement in replacements.filter(|&c| c != original) {
                    let mut edited: Vec<char> = key.chars().collect();
                    edited[position] = replacement;
                    let edited: String = edited.into_iter().collect();
                    assert!(parse_key(&edited).is_err(), "{position} -> {replacement:?}");
                }
                if position + 1 < KEY_LEN
                    && key.as_bytes()[position] != key.as_bytes()[position + 1]
                {
                    let mut swapped = key.clone().into_bytes();
                    swapped.swap(position, position + 1);
                    let swapped = String::from_utf8(swapped).unwrap();
                    assert!(parse_key(&swapped).is_err(), "swap at {position}");
                }
            }
        }
    }

    #[test]
    fn hash_hex_round_trip_and_strictness() {
        let h = KeyHash::of("sk_test_x");
        let hex = h.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(
            hex.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(KeyHash::from_hex(&hex), Some(h));
        assert_eq!(KeyHash::from_hex(&hex.to_uppercase()), None);
        assert_eq!(KeyHash::from_hex(&hex[..63]), None);
        assert_eq!(KeyHash::from_hex(&format!("{}g", &hex[..63])), None);
        assert_eq!(KeyHash::from_hex(&format!("{}é", &hex[..62])), None);
        // SHA-256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            KeyHash::of("abc").to_hex(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn hash_serde_is_a_hex_string() {
        let h = KeyHash::of("k");
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), h);
        assert!(serde_json::from_str::<KeyHash>("\"abc\"").is_err());
        assert!(serde_json::from_str::<KeyHash>("42").is_err());
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        let issued = IssuedKey::from_entropy(KeyKind::Secret, Environment::Test, &[9; 32]);
        let parsed = parse_key(&issued.text).unwrap();
        let body = &issued.text[PREFIX_LEN..];
        for rendered in [
            format!("{issued:?}"),
            format!("{parsed:?}"),
            format!("{issued:#?}"),
        ] {
            assert!(!rendered.contains(body), "{rendered}");
            assert!(!rendered.contains(&issued.text[12..30]), "{rendered}");
            assert!(rendered.contains(&issued.start));
        }
    }

    #[test]
    fn environment_serde_and_parse() {
        assert_eq!(
            serde_json::to_string(&Environment::Live).unwrap(),
            "\"live\""
        );
        assert_eq!(
            serde_json::from_str::<Environment>("\"test\"").unwrap(),
            Environment::Test
        );
        assert!(serde_json::from_str::<Environment>("\"Test\"").is_err());
        assert_eq!(Environment::parse("live"), Some(Environment::Live));
        assert_eq!(Environment::parse("prod"), None);
    }

    #[test]
    fn constant_time_eq_semantics() {
        assert!(constant_time_eq(b"token", b"token"));
        assert!(!constant_time_eq(b"token", b"tokem"));
        assert!(!constant_time_eq(b"token", b"token2"));
        assert!(!constant_time_eq(b"", b"x"));
        assert!(constant_time_eq(b"", b""));
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn kind() -> impl Strategy<Value = KeyKind> {
        prop_oneof![Just(KeyKind::Secret), Just(KeyKind::Product)]
    }
    fn env() -> impl Strategy<Value = Environment> {
        prop_oneof![Just(Environment::Test), Just(Environment::Live)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn generated_keys_parse_back(kind in kind(), env in env(), seed in any::<[u8; 32]>()) {
            let key = key_from_entropy(kind, env, &seed);
            let parsed = parse_key(&key).unwrap();
            prop_assert_eq!(parsed.kind(), kind);
            prop_assert_eq!(parsed.environment(), env);
            prop_assert_eq!(parsed.hash(), KeyHash::of(&key));
            prop_assert_eq!(parsed.hash(), parse_key(&key).unwrap().hash());
            let re = regex::Regex::new(KEY_PATTERN).unwrap();
            let haystack = format!("token = \"{key}\";");
            prop_assert_eq!(re.find(&haystack).map(|m| m.as_str()), Some(key.as_str()));
        }

        /// CRC32 detects every single-symbol error in a message this short, and a substitution
        /// outside the alphabet or in the prefix fails earlier checks: no edit slips through.
        #[test]
        fn any_single_substitution_is_rejected(
            kind in kind(), env in env(), seed in any::<[u8; 32]>(),
            position in 0..KEY_LEN, replacement in any::<char>(),
        ) {
            let key = key_from_entropy(kind, env, &seed);
            let original = key.as_bytes()[position] as char;
            prop_assume!(replacement != original);
            let mut edited: Vec<char> = key.chars().collect();
            edited[position] = replacement;
            let edited: String = edited.into_iter().collect();
            let e = parse_key(&edited).unwrap_err();
            prop_assert_eq!(e.status, 401);
        }

        #[test]
        fn every_base62_substitution_is_rejected_by_the_checksum(
            seed in any::<[u8; 32]>(), position in PREFIX_LEN..KEY_LEN, symbol in 0usize..62,
        ) {
            let key = key_from_entropy(KeyKind::Secret, Environment::Live, &seed);
            let mut bytes = key.clone().into_bytes();
            prop_assume!(bytes[position] != base62::ALPHABET[symbol]);
            bytes[position] = base62::ALPHABET[symbol];
            let edited = String::from_utf8(bytes).unwrap();
            prop_assert!(parse_key(&edited).unwrap_err().message.contains("checksum"));
        }

        #[test]
        fn random_strings_are_rejected(text in ".{0,60}") {
            prop_assert!(parse_key(&text).is_err());
        }

        #[test]
        fn random_well_shaped_strings_are_rejected(
            prefix in prop_oneof![Just("sk_test_"), Just("sk_live_"), Just("pk_test_"), Just("pk_live_")],
            rest in "[0-9A-Za-z]{38}",
        ) {
            // A random body passes the checksum with probability 2^-32: treat a pass as a bug.
            let text = format!("{prefix}{rest}");
            prop_assert!(parse_key(&text).unwrap_err().message.contains("checksum"));
        }
    }
}
