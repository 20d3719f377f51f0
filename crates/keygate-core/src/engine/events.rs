//! Events: every admin change, with who made it, the request it came in, and the fields it
//! changed before and after. Built from the admin views, which hold no secret and no hash, so
//! an event cannot carry one either (tested for every type).

use crate::error::{Error, FieldError};
use crate::model::Actor;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// How long events are kept: the Registry prunes older ones as new ones are written, and the
/// directory forgets their ids then too.
pub const EVENT_RETENTION_SECONDS: i64 = 90 * 24 * 60 * 60;

/// The event types, as `GET /admin/v1/accounts/{id}/events?type=` accepts them.
pub const EVENT_TYPES: [&str; 17] = [
    "account.created",
    "account.updated",
    "entitlement.created",
    "entitlement.updated",
    "entitlement.deleted",
    "key.created",
    "key.updated",
    "key.disabled",
    "key.enabled",
    "key.rolled",
    "key.leaked",
    "key.deleted",
    "key.revoked",
    "leak.reported",
    "ip.would_deny",
    "quota.threshold_reached",
    "credits.refilled",
];

/// One event. Serialised with `"object": "event"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "event")]
pub struct Event {
    /// `evt_` + 20 base62 characters.
    pub id: String,
    /// One of [`EVENT_TYPES`]; JSON field `type`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The account the changed record belongs to.
    pub account_id: String,
    /// The key concerned, for `key.*` and `ip.would_deny` events; absent otherwise (a leak report
    /// lists its keys in `data`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Who made the change: `{"type": "operator"}` or `{"type": "key", "key_id": …}`.
    pub actor: Actor,
    /// The admin (or edge) request that caused it; `null` for what the clock did (a grace
    /// period ending).
    pub request_id: Option<String>,
    /// When it happened, unix seconds (for `key.revoked`, the end of the grace period).
    pub created_at: i64,
    /// `{"before": {...}, "after": {...}}`: the fields that changed (all of them for a creation
    /// or a deletion).
    pub data: Value,
}

/// Fields that change with every write and say nothing about what changed.
const BOOKKEEPING: [&str; 2] = ["updated_at", "revision"];

/// `{"before": {...}, "after": {...}}` with the fields of two views that differ (for a creation
/// `before` is empty, for a deletion `after`).
pub fn changes(before: &Value, after: &Value) -> Value {
    let empty = Map::new();
    let (b, a) = (
        before.as_object().unwrap_or(&empty),
        after.as_object().unwrap_or(&empty),
    );
    let mut was = Map::new();
    let mut now = Map::new();
    for key in b.keys().chain(a.keys().filter(|k| !b.contains_key(*k))) {
        if BOOKKEEPING.contains(&key.as_str()) {
            continue;
        }
        let (old, new) = (b.get(key), a.get(key));
        if old == new {
            continue;
        }
        // A creation has nothing before and a deletion nothing after; within an update a
        // field that disappeared (or appeared) reads as null.
        if !b.is_empty() {
            was.insert(key.clone(), old.cloned().unwrap_or(Value::Null));
        }
        if !a.is_empty() {
            now.insert(key.clone(), new.cloned().unwrap_or(Value::Null));
        }
    }
    serde_json::json!({ "before": was, "after": now })
}

/// The `type` filter of an event list: one of [`EVENT_TYPES`].
pub(super) fn check_type(kind: &str) -> Result<(), Error> {
    if EVENT_TYPES.contains(&kind) {
        return Ok(());
    }
    Err(Error::invalid(vec![FieldError::new(
        "type",
        format!("must be one of {}", EVENT_TYPES.join(", ")),
    )]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn changes_name_only_what_changed() {
        let before = json!({"name": "a", "status": "active", "updated_at": 1, "scopes": ["*"]});
        let after = json!({"name": "b", "status": "active", "updated_at": 2, "scopes": ["*"], "disabled_by": {"type": "operator"}});
        assert_eq!(
            changes(&before, &after),
            json!({"before": {"name": "a", "disabled_by": null}, "after": {"name": "b", "disabled_by": {"type": "operator"}}})
        );
        assert_eq!(
            changes(&json!({}), &json!({"id": "k"})),
            json!({"before": {}, "after": {"id": "k"}})
        );
        assert_eq!(
            changes(&json!({"id": "k"}), &json!({})),
            json!({"before": {"id": "k"}, "after": {}})
        );
    }
}
