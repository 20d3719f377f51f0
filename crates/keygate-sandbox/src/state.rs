//! What one test account has done to its sandbox: the objects it created, the changes its
//! creates made to other records (a quote bound to a policy becomes `accepted`), and its
//! idempotency records. Pure data: the worker persists it (one Durable Object per test account)
//! and hands it back on the next request.

use crate::clock::Now;
use crate::ledger;
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
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
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
    /// Seconds the account's sandbox clock is ahead of real time (0: real time). Only ever
    /// raised, by `POST /v1/sandbox/clock`; a reset sets it back to 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) clock_ahead_seconds: i64,
    /// The events of the account's writes (created, updated, an action's transition), oldest
    /// first, each with the object as it was then; what days passing do is computed on read
    /// (`handle/events.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) log: Vec<Logged>,
    /// A repeatable sandbox's seed and clock start; kept through a reset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) repeatable: Option<Repeatable>,
    /// An upper bound of [`AccountState::serialized_size`], kept so a write need not
    /// re-serialise the whole state: measured exactly on the first write after a load, then
    /// raised by each write's (over-)estimate and re-measured before refusing one. Not stored.
    #[serde(skip)]
    size_bound: Option<usize>,
}

/// Equality of content; the size cache does not count.
impl PartialEq for AccountState {
    fn eq(&self, other: &Self) -> bool {
        self.created == other.created
            && self.updated == other.updated
            && self.idempotency == other.idempotency
            && self.clock_ahead_seconds == other.clock_ahead_seconds
            && self.repeatable == other.repeatable
            && self.log == other.log
    }
}

/// An event of a write, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Logged {
    /// Sandbox time, Unix seconds.
    pub at: i64,
    /// `payment_order.created`, `quote.updated`, `payment_order.cancelled`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The object's collection and id.
    pub collection: String,
    pub id: String,
    /// The object as the write's answer showed it (JSON text).
    pub object: String,
}

/// What makes a sandbox answer the same to the same requests: ids drawn from `seed` (and how
/// many objects it holds), and a clock that starts at `start` and stands still between moves,
/// so every `created` and default date is the same too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repeatable {
    /// The seed ids are drawn from.
    pub seed: u64,
    /// The sandbox time it starts at (Unix seconds).
    pub start: i64,
}

impl Repeatable {
    /// The `call`th id a request asks for when the sandbox holds `held` objects: the same
    /// requests in the same order give the same ids, a reset gives them again.
    pub(crate) fn id(self, prefix: &str, held: u64, call: u64) -> String {
        let draw = ledger::mix(self.seed ^ ledger::mix(held ^ ledger::mix(call)));
        format!("{prefix}{}", ledger::id_chars(draw))
    }
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
    /// True when the account has created nothing, holds no idempotency record and its clock
    /// reads real time.
    pub fn is_empty(&self) -> bool {
        self.created_count() == 0
            && self.updated.values().all(BTreeMap::is_empty)
            && self.idempotency.is_empty()
            && self.clock_ahead_seconds == 0
            && self.repeatable.is_none()
            && self.log.is_empty()
    }

    /// An empty repeatable sandbox (`POST /v1/sandbox/sandboxes` with a seed and a clock).
    pub fn repeatable(repeatable: Repeatable) -> Self {
        Self {
            repeatable: Some(repeatable),
            ..Self::default()
        }
    }

    /// The seed and clock start of a repeatable sandbox.
    pub fn repeatable_as(&self) -> Option<Repeatable> {
        self.repeatable
    }

    /// The times a request that arrives at `real` (Unix seconds) is answered at.
    pub(crate) fn now(&self, real: i64) -> Now {
        let (base, frozen) = match self.repeatable {
            Some(r) => (r.start, true),
            None => (real, false),
        };
        Now {
            real,
            sandbox: base.saturating_add(self.clock_ahead_seconds),
            base,
            frozen,
        }
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

    pub(crate) fn prune_idempotency(&mut self, now: i64) {
        let mut removed = 0;
        self.idempotency.retain(|r| {
            let keep = now.saturating_sub(r.at) < IDEMPOTENCY_TTL_SECONDS;
            if !keep {
                removed += json_size(r) + 1;
            }
            keep
        });
        // Removing a record and its comma shrinks the JSON by at least that much.
        self.size_bound = self.size_bound.map(|bound| bound.saturating_sub(removed));
    }

    #[cfg(test)]
    pub(crate) fn size_bound(&self) -> Option<usize> {
        self.size_bound
    }

    /// An upper bound of how many bytes the serialised state grows by when an object of
    /// `object_size` bytes (0 = none) is added to `collection`, the `changes` (collection, id,
    /// fields) are merged into records, and `record` is remembered. Counts the keys, brackets
    /// and commas each piece brings; a merge adds at most the size of its own JSON object.
    pub(crate) fn growth_of_create(
        &self,
        collection: &str,
        object_size: usize,
        changes: &[(String, String, Record)],
        record: Option<&IdempotencyRecord>,
        logged: &[Logged],
    ) -> usize {
        // `"name":[` … `]` plus a comma, and `"created":{` … `}` plus a comma for the first.
        let new_list =
            |map_empty: bool, name: &str| name.len() + 6 + if map_empty { 13 } else { 0 };
        let mut growth = 0;
        if object_size > 0 {
            growth += object_size
                + match self.created.get(collection) {
                    Some(list) if !list.is_empty() => 1,
                    _ => new_list(self.created.is_empty(), collection),
                };
        }
        for (target, id, fields) in changes {
            let size = json_size(fields);
            let in_created = self.created.get(target).is_some_and(|l| {
                l.iter()
                    .any(|r| r.get("id").and_then(|v| v.as_str()) == Some(id))
            });
            let patched = self.updated.get(target).is_some_and(|u| u.contains_key(id));
            growth += size
                + if in_created || patched {
                    0
                } else {
                    // `"id":{…}` plus a comma, inside a possibly new `"target":{…}` map.
                    id.len() + 4 + new_list(self.updated.is_empty(), target)
                };
        }
        if let Some(record) = record {
            growth += json_size(record) + if self.idempotency.is_empty() { 17 } else { 1 };
        }
        for (n, entry) in logged.iter().enumerate() {
            // `"log":[` … `]` and a comma for the first, a comma for the others.
            growth += json_size(entry) + if n == 0 && self.log.is_empty() { 9 } else { 1 };
        }
        growth
    }

    /// Makes room for a write that grows the serialised state by at most `growth` bytes:
    /// `false` if the state would then pass [`MAX_STATE_BYTES`]. Call right before the write.
    pub(crate) fn reserve(&mut self, growth: usize) -> bool {
        let bound = match self.size_bound {
            Some(bound) if bound + growth <= MAX_STATE_BYTES => bound,
            // Unknown, or the estimate says full: measure before deciding.
            _ => self.serialized_size(),
        };
        if bound + growth > MAX_STATE_BYTES {
            self.size_bound = Some(bound);
            return false;
        }
        self.size_bound = Some(bound + growth);
        true
    }

    pub(crate) fn find_idempotency(&self, key: &str, now: i64) -> Option<&IdempotencyRecord> {
        self.idempotency
            .iter()
            .find(|r| r.key == key && now.saturating_sub(r.at) < IDEMPOTENCY_TTL_SECONDS)
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
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
