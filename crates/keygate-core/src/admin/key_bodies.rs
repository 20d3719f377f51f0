//! Key bodies: the settings a key is created from, create and patch.

use super::*;
use crate::config::GatewayConfig;
use crate::error::Error;
use crate::keys::Environment;
use crate::model::{Account, ApiKey, IpMode, KeyStatus};
use crate::quota::{Credits, Quota};
use crate::ratelimit::RateLimit;
use serde_json::Value;

/// A key's settings, without identity or secret: what a new key is created from, and what a
/// roll copies from the old key to its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    /// Test or live: fixed for the key's life, a roll keeps it.
    pub environment: Environment,
    /// Trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
    pub name: String,
    /// Known scopes of the route table, deduplicated; `["*"]` means every permission.
    pub scopes: Vec<String>,
    /// Canonical CIDR strings; empty means no restriction beyond the account's.
    pub allowed_ips: Vec<String>,
    /// Product ids of the gateway config, deduplicated; empty means every entitled product.
    pub products: Vec<String>,
    /// Unix seconds, in the future when set; `None` never expires.
    pub expires_at: Option<i64>,
    /// The key's own limit, counted besides the account's; `None`: only the account's.
    pub rate_limit: Option<RateLimit>,
    /// What the allowlist does with an address outside it.
    pub ip_mode: IpMode,
    /// The key's own quota, counted besides the account's.
    pub quota: Option<Quota>,
    /// The key's credits. A roll carries the balance itself over ([`Credits::balance_of`]):
    /// the successor draws from the same balance, so a roll mints no credits.
    pub credits: Option<Credits>,
}

impl KeyTemplate {
    /// The settings a roll carries over.
    pub fn from_key(key: &ApiKey) -> Self {
        Self {
            environment: key.environment,
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            allowed_ips: key.allowed_ips.clone(),
            products: key.products.clone(),
            expires_at: key.expires_at,
            rate_limit: key.rate_limit,
            ip_mode: key.ip_mode,
            quota: key.quota.clone(),
            credits: key.credits.clone(),
        }
    }

    /// An active key with these settings. `start` and `end` are the display fragments of its
    /// secret ([`crate::keys::ParsedKey::start`] / `end`).
    pub fn into_key(
        self,
        id: String,
        account_id: &str,
        start: String,
        end: String,
        now: i64,
    ) -> ApiKey {
        let credits = self.credits.map(|credits| credits.of(&id));
        ApiKey {
            id,
            account_id: account_id.to_string(),
            name: self.name,
            environment: self.environment,
            status: KeyStatus::Active,
            scopes: self.scopes,
            allowed_ips: self.allowed_ips,
            products: self.products,
            created_at: now,
            updated_at: now,
            expires_at: self.expires_at,
            leaked_at: None,
            revoke_at: None,
            rolled_to: None,
            disabled_by: None,
            rate_limit: self.rate_limit,
            ip_mode: self.ip_mode,
            quota: self.quota,
            credits,
            grace: None,
            first_used_at: None,
            report_first_use: false,
            start,
            end,
        }
    }
}

/// A validated `POST /admin/v1/accounts/{id}/keys` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// The settings of the key to create.
    pub template: KeyTemplate,
}

impl NewKey {
    /// The settings the key is created from.
    pub fn into_template(self) -> KeyTemplate {
        self.template
    }
}

/// `{name, environment, scopes?, allowed_ips?, products?, expires_at?, rate_limit?, ip_mode?,
/// quota?, credits?}`. `scopes`
/// defaults to `["*"]` (`["*"]` means all), the lists to empty (no extra restriction). A live key
/// for an account with a test agreement is 403, after the body itself is valid.
pub fn new_key(
    body: &Value,
    account: &Account,
    config: &GatewayConfig,
    now: i64,
) -> Result<NewKey, Error> {
    let mut r = Reader::new(body, &bodies::KEY_CREATE)?;
    let name = r.name("name");
    let environment = r.choice("environment", &ENVIRONMENTS);
    let present = |r: &Reader<'_>, f: &str| r.map.contains_key(f);
    let scopes = if present(&r, "scopes") {
        r.scopes(config)
    } else {
        Some(vec!["*".to_string()])
    };
    let allowed_ips = if present(&r, "allowed_ips") {
        r.allowed_ips()
    } else {
        Some(Vec::new())
    };
    let products = if present(&r, "products") {
        r.products(config)
    } else {
        Some(Vec::new())
    };
    let expires_at = r.expires_at(now).unwrap_or(None);
    let rate_limit = r.rate_limit().unwrap_or(None);
    let ip_mode = r.ip_mode().unwrap_or_default();
    let quota = r.quota().unwrap_or(None);
    let credits = r.credits(now).unwrap_or(None);
    r.finish()?;
    let (Some(name), Some(environment), Some(scopes), Some(allowed_ips), Some(products)) =
        (name, environment, scopes, allowed_ips, products)
    else {
        return Err(Error::internal());
    };
    if !account.agreement.allows(environment) {
        return Err(Error::forbidden(
            "This account has a test agreement, so it can hold test keys only. Create a test key, \
             or change the account's agreement to production first.",
        ));
    }
    Ok(NewKey {
        template: KeyTemplate {
            environment,
            name,
            scopes,
            allowed_ips,
            products,
            expires_at,
            rate_limit,
            ip_mode,
            quota,
            credits,
        },
    })
}

/// A validated `PATCH /admin/v1/keys/{id}` body; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    /// A new name, validated like [`KeyTemplate::name`].
    pub name: Option<String>,
    /// A new scope list; never empty.
    pub scopes: Option<Vec<String>>,
    /// A new allowlist; an empty list removes the key's own restriction.
    pub allowed_ips: Option<Vec<String>>,
    /// A new product list; an empty list allows every entitled product.
    pub products: Option<Vec<String>>,
    /// Disable, or re-enable (not a revoked key: [`KeyPatch::apply`] refuses that).
    pub status: Option<KeyStatus>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<i64>>,
    /// `Some(None)` removes the key's own limit (the account's limit alone then applies).
    pub rate_limit: Option<Option<RateLimit>>,
    /// A new allowlist mode.
    pub ip_mode: Option<IpMode>,
    /// `Some(None)` removes the key's own quota.
    pub quota: Option<Option<Quota>>,
    /// New credits (a fresh balance: a top-up), or `Some(None)` to remove them.
    pub credits: Option<Option<Credits>>,
}

impl KeyPatch {
    /// Applies the patch, or changes nothing and answers 409 if it would re-enable a revoked
    /// key: revocation is final, a replacement comes from a roll or a new key.
    pub fn apply(&self, key: &mut ApiKey, now: i64) -> Result<(), Error> {
        if self.status == Some(KeyStatus::Active) && key.is_revoked(now) {
            return Err(Error::conflict(
                "This key has been revoked and cannot be re-enabled. Create a new key, or use the \
                 key it was rolled to.",
            ));
        }
        if let Some(name) = &self.name {
            key.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            key.scopes = scopes.clone();
        }
        if let Some(ips) = &self.allowed_ips {
            key.allowed_ips = ips.clone();
        }
        if let Some(products) = &self.products {
            key.products = products.clone();
        }
        if let Some(status) = self.status {
            key.status = status;
        }
        if let Some(expires_at) = self.expires_at {
            key.expires_at = expires_at;
        }
        if let Some(limit) = self.rate_limit {
            key.rate_limit = limit;
        }
        if let Some(mode) = self.ip_mode {
            key.ip_mode = mode;
        }
        if let Some(quota) = &self.quota {
            key.quota = quota.clone();
        }
        if let Some(credits) = &self.credits {
            let serial = key.credits.as_ref().map_or(0, |c| c.serial + 1);
            key.credits = credits
                .clone()
                .map(|credits| Credits { serial, ..credits }.of(&key.id));
        }
        key.updated_at = now;
        Ok(())
    }
}

/// `{name?, scopes?, allowed_ips?, products?, status?, expires_at?, rate_limit?, ip_mode?,
/// quota?, credits?}`.
pub fn key_patch(body: &Value, config: &GatewayConfig, now: i64) -> Result<KeyPatch, Error> {
    let mut r = Reader::new(body, &bodies::KEY_UPDATE)?;
    let patch = KeyPatch {
        name: r.name("name"),
        scopes: r.scopes(config),
        allowed_ips: r.allowed_ips(),
        products: r.products(config),
        status: r.choice("status", &KEY_STATUSES),
        expires_at: r.expires_at(now),
        rate_limit: r.rate_limit(),
        ip_mode: r.ip_mode(),
        quota: r.quota(),
        credits: r.credits(now),
    };
    r.finish()?;
    Ok(patch)
}
