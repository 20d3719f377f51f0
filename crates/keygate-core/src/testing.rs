//! Fixtures shared by the unit tests.

use crate::admin::KeyTemplate;
use crate::config::GatewayConfig;
use crate::keys::Environment;
use crate::model::{Account, AccountStatus, Agreement, ApiKey};
use crate::random::{SecureRandom, Unavailable};
use sha2::{Digest, Sha256};
use std::cell::Cell;

pub(crate) const CONFIG: &str = r#"{
  "products": [
    {"id": "bank_data", "name": "Bank data"},
    {"id": "insurance", "name": "Insurance"}
  ],
  "routes": [
    {"method": "GET", "path": "/v1/accounts", "scope": "accounts:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*", "scope": "accounts:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*/transactions", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/accounts/*/quotes", "scope": "quotes:read", "product": "insurance"},
    {"method": "GET", "path": "/v1/accounts/search", "scope": "search:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/transactions", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/transactions/*", "scope": "transactions:read", "product": "bank_data"},
    {"method": "GET", "path": "/v1/quotes", "scope": "quotes:read", "product": "insurance"},
    {"method": "GET", "path": "/v1/quotes/*", "scope": "quotes:read", "product": "insurance"},
    {"method": "POST", "path": "/v1/quotes", "scope": "quotes:write", "product": "insurance"},
    {"method": "POST", "path": "/v1/sandbox/reset", "scope": "sandbox:write", "product": null, "environments": ["test"]},
    {"method": "GET", "path": "/", "scope": "meta:read", "product": null}
  ]
}"#;

pub(crate) fn config() -> GatewayConfig {
    GatewayConfig::from_json(CONFIG).unwrap()
}

pub(crate) fn account() -> Account {
    Account {
        id: "acct_1".into(),
        name: "Acme".into(),
        agreement: Agreement::Production,
        status: AccountStatus::Active,
        allowed_ips: vec![],
        created_at: 1_000,
        updated_at: 1_000,
        revision: 1,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
    }
}

pub(crate) fn key(environment: Environment) -> ApiKey {
    KeyTemplate {
        environment,
        name: "backend".into(),
        scopes: vec!["*".into()],
        allowed_ips: vec![],
        products: vec![],
        expires_at: None,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
        credits: None,
    }
    .into_key(
        "key_1".into(),
        "acct_1",
        "sk_test_abcd".into(),
        "wxyz".into(),
        1_000,
    )
}

/// A reproducible byte stream (SHA-256 of a seed and a counter): distinct draws, same run
/// after run.
pub(crate) struct Seeded {
    seed: u64,
    counter: Cell<u64>,
}

impl Seeded {
    pub(crate) fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: Cell::new(0),
        }
    }
}

impl SecureRandom for Seeded {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Unavailable> {
        for chunk in buf.chunks_mut(32) {
            let n = self.counter.get();
            self.counter.set(n + 1);
            let block = Sha256::new()
                .chain_update(self.seed.to_le_bytes())
                .chain_update(n.to_le_bytes())
                .finalize();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
        Ok(())
    }
}

/// A generator that always fails.
pub(crate) struct Broken;

impl SecureRandom for Broken {
    fn fill(&self, _: &mut [u8]) -> Result<(), Unavailable> {
        Err(Unavailable)
    }
}

/// A generator stuck on one byte value.
pub(crate) struct Constant(pub(crate) u8);

impl SecureRandom for Constant {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Unavailable> {
        buf.fill(self.0);
        Ok(())
    }
}
