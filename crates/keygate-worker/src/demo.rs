//! The demo account of local development (`scripts/dev`, `DEMO_SEED=true`).
//!
//! Its keys are derived from fixed entropy so the README can show them. They are public by
//! design, so `settings.rs` refuses to seed on any deployment that enforces HTTPS, and the
//! account has a test agreement: its key can only ever reach the sandbox. The seed is a list
//! of writes like any admin command's, applied by the Registry in one transaction.

use keygate_core::admin::{KeyTemplate, NewAccount};
use keygate_core::config::GatewayConfig;
use keygate_core::engine::{Command, StoredKey, Write};
use keygate_core::keys::{Environment, IssuedKey, KeyKind, key_from_entropy};
use keygate_core::model::{Agreement, Entitlement};

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

/// The writes that create the demo account, its entitlements and its key.
pub fn seed(config: &GatewayConfig, now: i64) -> Vec<Write> {
    let account = NewAccount {
        name: "Demo integrator (test agreement)".into(),
        agreement: Agreement::Test,
        allowed_ips: Vec::new(),
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
    }
    .into_account(ACCOUNT_ID.into(), now);
    let mut writes = vec![Write::PutAccount(account)];
    for (index, product) in config.products().iter().enumerate() {
        writes.push(Write::PutEntitlement(Entitlement {
            account_id: ACCOUNT_ID.into(),
            product_id: product.id.clone(),
            test_key: product_key(index),
            live_key: None,
            created_at: now,
        }));
    }
    let secret = secret_key();
    let template = KeyTemplate {
        environment: Environment::Test,
        name: "Demo test key".into(),
        scopes: vec!["*".into()],
        allowed_ips: Vec::new(),
        products: Vec::new(),
        expires_at: None,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
        credits: None,
    };
    let key = template.into_key(KEY_ID.into(), ACCOUNT_ID, secret.start, secret.end, now);
    writes.push(Write::PutKey(StoredKey {
        key,
        hash: secret.hash,
    }));
    writes
}

/// Whether `command` is the one that may seed the demo account: a read of it, sent to its own
/// Registry (so no other account's Registry ever holds the demo account).
pub fn seeds(command: &Command) -> bool {
    matches!(command, Command::GetAccount { account_id } if account_id == ACCOUNT_ID)
}

/// The command the first admin request of an isolate sends, with `demo_seed`, where
/// `DEMO_SEED` is set.
pub fn seed_command() -> Command {
    Command::GetAccount {
        account_id: ACCOUNT_ID.into(),
    }
}
