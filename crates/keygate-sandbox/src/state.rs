//! What one test account has done to its sandbox: the objects it created, the changes its
//! creates made to other records (a quote bound to a policy becomes `accepted`), and its
//! idempotency records. Pure data: the worker persists it (one Durable Object per test account)
//! and hands it back on the next request.

use crate::rules::Record;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Most objects one account's sandbox keeps (all collections together). A create beyond it is
/// refused with 409 until `POST /v1/sandbox/reset`.
pub const MAX_CREATED_OBJECTS: usize = 500;
/// Most idempotency records kept at once; each expires [`IDEMPOTENCY_TTL_SECONDS`] after its
/// request. A POST with a new key beyond it is refused with 409 until records expire or a reset.
pub const MAX_IDEMPOTENCY_KEYS: usize = 500;
/// How long an `Idempotency-Key` is remembered: 24 hours.
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;
/// Most bytes the serialised state may take (`serde_json::to_string(&state)`), whatever the
/// counts: a write that would pass it is refused with 409 until `POST /v1/sandbox/reset`.
pub const MAX_STATE_BYTES: usize = 1024 * 1024;

/// The sandbox state of one test account. `Default` is the empty state (nothing created).
/// Serialised with serde; unknown fields are ignored and missing ones default, so a state blob
/// written by an older version still loads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AccountState {
    /// Created objects per collection name, oldest first (the list order).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) created: BTreeMap<String, Vec<Record>>,
    /// Field changes to static records per collection name and id, merged over the record.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) updated: BTreeMap<String, BTreeMap<String, Record>>,
    /// Idempotency records, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) idempotency: Vec<IdempotencyRecord>,
}

/// The stored outcome of a POST made with an `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct IdempotencyRecord {
    pub key: String,
    /// FNV-1a 64 (hex) of method, path and the canonical JSON of the body.
    pub fingerprint: String,
    /// Unix seconds of the original request.
    pub at: i64,
    pub status: u16,
    pub body: String,
}

impl AccountState {
    /// True when the account has created nothing and holds no idempotency record.
    pub fn is_empty(&self) -> bool {
        self.created_count() == 0
            && self.updated.values().all(BTreeMap::is_empty)
            && self.idempotency.is_empty()
    }

    /// Objects created, all collections together.
    pub fn created_count(&self) -> usize {
        self.created.values().map(Vec::len).sum()
    }

    /// Idempotency records held (expired ones are dropped on the next keyed POST).
    pub fn idempotency_count(&self) -> usize {
        self.idempotency.len()
    }

    /// The length of `serde_json::to_string(self)`, without building the string.
    pub fn serialized_size(&self) -> usize {
        json_size(self)
    }

    pub(crate) fn live_idempotency_count(&self, now: i64) -> usize {
        self.idempotency
            .iter()
            .filter(|r| now.saturating_sub(r.at) < IDEMPOTENCY_TTL_SECONDS)
            .count()
    }

    pub(crate) fn prune_idempotency(&mut self, now: i64) -> bool {
        let before = self.idempotency.len();
        self.idempotency
            .retain(|r| now.saturating_sub(r.at) < IDEMPOTENCY_TTL_SECONDS);
        before != self.idempotency.len()
    }

    pub(crate) fn find_idempotency(&self, key: &str, now: i64) -> Option<&IdempotencyRecord> {
        self.idempotency
            .iter()
            .find(|r| r.key == key && now.saturating_sub(r.at) < IDEMPOTENCY_TTL_SECONDS)
    }
}

/// The length of the compact JSON of `value`, counted without allocating it.
pub(crate) fn json_size<T: Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    // Serialising maps, strings and numbers into a counter cannot fail.
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}
