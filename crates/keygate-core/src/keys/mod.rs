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
mod tests;
