//! The demo account of local development (`scripts/dev`, `DEMO_SEED=true`).
//!
//! Its keys are derived from fixed entropy so the README can show them. They are public by
//! design, so `settings.rs` refuses to seed on any deployment that enforces HTTPS, and the
//! account has a test agreement: its key can only ever reach the sandbox.

use crate::config::gateway_config;
use crate::registry::Registry;
use keygate_core::Error;
use keygate_core::admin::{KeyTemplate, NewAccount};
use keygate_core::keys::{Environment, IssuedKey, KeyKind, key_from_entropy};
use keygate_core::model::Agreement;

pub const ACCOUNT_ID: &str = "acct_demo";
pub const KEY_ID: &str = "key_demo";

/// `sk_test_…` shown in the README.
fn secret_key() -> IssuedKey {
    IssuedKey::from_entropy(KeyKind::Secret, Environment::Test, &[0x6b; 32])
}

/// The demo account's test product key for the product at `index` in `gateway.json`.
fn product_key(index: usize) -> String {
    key_from_entropy(
        KeyKind::Product,
        Environment::Test,
        &[0x70u8.wrapping_add(index as u8); 32],
    )
}

pub fn seed(registry: &Registry, now: i64) -> Result<(), Error> {
    if registry.account(ACCOUNT_ID)?.is_some() {
        return Ok(());
    }
    let account = NewAccount {
        name: "Demo integrator (test agreement)".into(),
        agreement: Agreement::Test,
        allowed_ips: Vec::new(),
    }
    .into_account(ACCOUNT_ID.into(), now);
    registry.insert_account(&account)?;
    for (index, product) in gateway_config()?.products().iter().enumerate() {
        registry.insert_entitlement_row(ACCOUNT_ID, &product.id, &product_key(index), now)?;
    }
    let secret = secret_key();
    let template = KeyTemplate {
        environment: Environment::Test,
        name: "Demo test key".into(),
        scopes: vec!["*".into()],
        allowed_ips: Vec::new(),
        products: Vec::new(),
        expires_at: None,
    };
    let key = template.into_key(KEY_ID.into(), ACCOUNT_ID, secret.start, secret.end, now);
    registry.insert_key(&key, &secret.hash)
}
