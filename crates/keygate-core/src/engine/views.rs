//! The admin API's JSON views. Records serialise without secrets or hashes by construction
//! (`ApiKey` holds neither); these add what a view shows beyond the record.

use crate::error::Error;
use crate::model::{Account, ApiKey, Entitlement};
use serde_json::{Value, json};

/// An account with the ids of the products it is entitled to.
pub fn account_view(account: &Account, entitlements: &[Entitlement]) -> Result<Value, Error> {
    let mut value = to_value(account)?;
    if let Some(object) = value.as_object_mut() {
        object.remove("revision");
        let products: Vec<&str> = entitlements.iter().map(|e| e.product_id.as_str()).collect();
        object.insert("products".into(), json!(products));
    }
    Ok(value)
}

/// An entitlement with its product keys (identifiers, shown again on every read).
pub fn entitlement_view(entitlement: &Entitlement) -> Value {
    json!({
        "object": "entitlement",
        "account_id": entitlement.account_id,
        "product_id": entitlement.product_id,
        "product_keys": { "test": entitlement.test_key, "live": entitlement.live_key },
        "created_at": entitlement.created_at,
    })
}

/// A key as the admin API shows it: its record, which holds no secret and no hash. Usage
/// fields ([`super::Usage::view_fields`]) are added by the caller.
pub fn key_view(key: &ApiKey) -> Result<Value, Error> {
    to_value(key)
}

/// A record as JSON. Our records always serialise (string keys, no failing `Serialize`); were
/// one not to, the command fails with 500 instead of answering `null`.
pub(super) fn to_value(value: &impl serde::Serialize) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|_| Error::internal())
}
