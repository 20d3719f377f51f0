//! Keys made offline (docs/key-format.md), independently of keygate-core: well-formed keys that
//! were never issued, and issued keys with one character changed.

use sha2::{Digest, Sha256};

use crate::clock::unix_now;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// CRC-32 (IEEE), the checksum of a key and of a gzip member.
pub fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A well-formed key (`prefix` + 32 base62 + CRC32 in 6 base62 digits) that was never issued.
pub fn mint_key(prefix: &str, seed: &str) -> String {
    let digest = Sha256::digest(format!("{seed}/{}", unix_now()).as_bytes());
    let mut text = prefix.to_string();
    for i in 0..32 {
        text.push(char::from(
            BASE62[usize::from(digest[i % 32] ^ (i as u8)) % 62],
        ));
    }
    let mut sum = crc32(text.as_bytes());
    let mut digits = [b'0'; 6];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(sum % 62) as usize];
        sum /= 62;
    }
    text.push_str(std::str::from_utf8(&digits).unwrap());
    text
}

/// `key` with one body character changed (so its checksum no longer matches).
pub fn tamper(key: &str, at: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[at] = if bytes[at] == b'a' { b'b' } else { b'a' };
    String::from_utf8(bytes).unwrap()
}

/// The hex HMAC-SHA256 of `t.body` under `secret`: the `v1` of a `Keygate-Signature`, derived
/// here with `hmac` independently of keygate-core.
pub fn keygate_signature(secret: &str, t: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
