//! Tenants and keys, made through the admin API.

use super::*;

use serde_json::{Value, json};

/// One production account entitled to bank_data and payments, on one gateway.
pub struct Tenant {
    pub id: String,
    /// bank_data product keys.
    pub pk_test: String,
    pub pk_live: String,
    /// payments product keys.
    pub pay_test: String,
    pub pay_live: String,
}

/// A production account named `name` (with `extra` account fields, e.g. `allowed_ips`),
/// entitled to bank_data and payments.
pub fn tenant(gw: &Gateway, name: &str, extra: Value) -> Tenant {
    let mut body = json!({"name": name, "agreement": "production"});
    merge(&mut body, extra);
    let acct = gw.create_account(&body);
    let id = acct["id"].as_str().expect("account id").to_string();
    let bank = gw.entitle(&id, "bank_data");
    let pay = gw.entitle(&id, "payments");
    Tenant {
        pk_test: product_key_of(&bank, "test"),
        pk_live: product_key_of(&bank, "live"),
        pay_test: product_key_of(&pay, "test"),
        pay_live: product_key_of(&pay, "live"),
        id,
    }
}

/// The `env` (`test` or `live`) product key of an entitlement answer ([`Gateway::entitle`]).
#[track_caller]
pub fn product_key_of(entitlement: &Value, env: &str) -> String {
    entitlement["product_keys"][env]
        .as_str()
        .unwrap_or_else(|| panic!("no {env} product key in {entitlement}"))
        .to_string()
}

/// A key of `t` in `environment`, with `extra` fields (scopes, allowed_ips, …):
/// `(key id, secret)`.
pub fn key(gw: &Gateway, t: &Tenant, environment: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": format!("{environment} key"), "environment": environment});
    merge(&mut body, extra);
    let (k, secret) = gw.create_key(&t.id, &body);
    (k["id"].as_str().expect("key id").to_string(), secret)
}

/// Adds the fields of the object `extra` to the object `into` (replacing same-named ones).
pub fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

// ------------------------------------------------------------------------------------------
