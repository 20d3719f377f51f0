//! `Idempotency-Key` on a create: the same request again within 24 hours gets the stored
//! answer, byte for byte; the same key on another request is a 409. A request is identified by
//! a fingerprint of its path and its body's canonical JSON, so the same object serialised by
//! another client library still matches. Only processed requests are remembered (a 201 or a
//! magic-value refusal): a client can fix a refused body and retry with the same key.

use crate::rules::Record;
use crate::state::{IdempotencyRecord, MAX_IDEMPOTENCY_KEYS};
use crate::{AccountState, MAX_IDEMPOTENCY_KEY_LENGTH, SandboxResponse};
use keygate_core::Error;
use serde_json::Value;

/// A create's checked `Idempotency-Key`, with the fingerprint of the request it names.
pub(super) struct IdempotencyKey<'r> {
    key: &'r str,
    fingerprint: String,
}

impl<'r> IdempotencyKey<'r> {
    /// The key of a request to `path` with `body`, already checked by [`check_key`].
    pub(super) fn new(key: &'r str, path: &str, body: &Record) -> Self {
        Self {
            key,
            fingerprint: fingerprint(path, body),
        }
    }

    /// The stored answer if this key was used for this very request within the last 24 hours,
    /// marked `Idempotent-Replayed`; a 409 if it was used for another request.
    pub(super) fn replay(
        &self,
        state: &AccountState,
        now: i64,
    ) -> Result<Option<SandboxResponse>, Error> {
        let Some(record) = state.find_idempotency(self.key, now) else {
            return Ok(None);
        };
        if record.fingerprint != self.fingerprint {
            return Err(Error::conflict(
                "This Idempotency-Key was used in the last 24 hours for a different request \
                 (another path or body). Send a new key for a new request.",
            ));
        }
        let mut response = SandboxResponse::json(record.status, record.body.clone());
        response
            .headers
            .push(("Idempotent-Replayed".to_string(), "true".to_string()));
        Ok(Some(response))
    }

    /// The record that remembers `response` as the answer to this key's request.
    pub(super) fn record(self, response: &SandboxResponse, now: i64) -> IdempotencyRecord {
        IdempotencyRecord {
            key: self.key.to_string(),
            fingerprint: self.fingerprint,
            at: now,
            status: response.status,
            body: response.body.clone(),
        }
    }
}

/// A 409 when a new key would pass [`MAX_IDEMPOTENCY_KEYS`] live records.
pub(super) fn check_room(state: &AccountState, now: i64) -> Result<(), Error> {
    if state.live_idempotency_count(now) < MAX_IDEMPOTENCY_KEYS {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "This test account's sandbox already remembers {MAX_IDEMPOTENCY_KEYS} \
         idempotency keys of the last 24 hours, the most it keeps. POST \
         /v1/sandbox/reset to clear them, or retry without a new key later."
    )))
}

/// The `Idempotency-Key` header as sent, if it is 1–255 printable ASCII characters; else 400.
pub(super) fn check_key(key: &str) -> Result<&str, Error> {
    let problem = if key.is_empty() {
        Some("must not be empty".to_string())
    } else if key.len() > MAX_IDEMPOTENCY_KEY_LENGTH {
        Some(format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters; a UUID is a good key"
        ))
    } else if !key.bytes().all(|c| c.is_ascii_graphic() || c == b' ') {
        Some("must be printable ASCII; a UUID is a good key".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(key),
        Some(message) => Err(Error::bad_request("The Idempotency-Key header is invalid.")
            .with_field("Idempotency-Key", message)),
    }
}

/// Adds `record` to the state, dropping the records that have expired.
pub(super) fn remember(state: &mut AccountState, record: IdempotencyRecord, now: i64) {
    state.prune_idempotency(now);
    state.idempotency.push(record);
}

/// FNV-1a 64 of the path and the canonical JSON of the body (keys sorted, no whitespace), so
/// the same object sent with other spacing or key order counts as the same request.
fn fingerprint(path: &str, body: &Record) -> String {
    let mut canonical = String::new();
    write_canonical(&mut canonical, &Value::Object(body.clone()));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes().chain([b'\n']).chain(canonical.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// JSON with every object's keys sorted, written out explicitly: maps keep insertion order
/// (serde_json `preserve_order`), so serialising as-is would depend on the sender's key order.
fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(out, value);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}
