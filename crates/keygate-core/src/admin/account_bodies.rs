//! Account bodies: create and patch.

use super::*;
use crate::error::Error;
use crate::model::{Account, AccountStatus, Agreement, IpMode};
use crate::quota::Quota;
use crate::ratelimit::RateLimit;
use serde_json::Value;

/// A validated `POST /admin/v1/accounts` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// Trimmed, 1 to [`MAX_NAME_CHARS`] characters, no control characters.
    pub name: String,
    /// Test or production: which key environments the account may hold.
    pub agreement: Agreement,
    /// Canonical CIDR strings.
    pub allowed_ips: Vec<String>,
    /// The default limit of the account's keys that have none.
    pub rate_limit: Option<RateLimit>,
    /// What the allowlist does with an address outside it; `enforce` when absent.
    pub ip_mode: IpMode,
    /// Granted requests per period, shared by all the account's keys.
    pub quota: Option<Quota>,
}

impl NewAccount {
    /// The active account this body creates, at revision 1; `id` is a fresh `acct_` id.
    pub fn into_account(self, id: String, now: i64) -> Account {
        Account {
            id,
            name: self.name,
            agreement: self.agreement,
            status: AccountStatus::Active,
            allowed_ips: self.allowed_ips,
            created_at: now,
            updated_at: now,
            revision: 1,
            rate_limit: self.rate_limit,
            ip_mode: self.ip_mode,
            quota: self.quota,
        }
    }
}

/// `{name, agreement, allowed_ips?, rate_limit?, ip_mode?, quota?}`.
pub fn new_account(body: &Value) -> Result<NewAccount, Error> {
    let mut r = Reader::new(body, &bodies::ACCOUNT_CREATE)?;
    let name = r.name("name");
    let agreement = r.choice("agreement", &AGREEMENTS);
    let allowed_ips = if r.map.contains_key("allowed_ips") {
        r.allowed_ips()
    } else {
        Some(Vec::new())
    };
    let rate_limit = r.rate_limit().unwrap_or(None);
    let ip_mode = r.ip_mode().unwrap_or_default();
    let quota = r.quota().unwrap_or(None);
    r.finish()?;
    match (name, agreement, allowed_ips) {
        (Some(name), Some(agreement), Some(allowed_ips)) => Ok(NewAccount {
            name,
            agreement,
            allowed_ips,
            rate_limit,
            ip_mode,
            quota,
        }),
        // Unreachable: every None above recorded an error and `finish` returned it.
        _ => Err(Error::internal()),
    }
}

/// A validated `PATCH /admin/v1/accounts/{id}` body; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    /// A new name, validated like [`NewAccount::name`].
    pub name: Option<String>,
    /// A new agreement; a downgrade to `test` leaves live keys in place but refused.
    pub agreement: Option<Agreement>,
    /// Suspends or reactivates every key of the account at once.
    pub status: Option<AccountStatus>,
    /// A new allowlist (canonical CIDR strings); an empty list allows any address.
    pub allowed_ips: Option<Vec<String>>,
    /// `Some(None)` removes the account's limit (shared by all its keys).
    pub rate_limit: Option<Option<RateLimit>>,
    /// A new allowlist mode.
    pub ip_mode: Option<IpMode>,
    /// `Some(None)` removes the account's quota.
    pub quota: Option<Option<Quota>>,
}

impl AccountPatch {
    /// Applies the patch and records the change ([`Account::touch`]); it cannot fail.
    pub fn apply(&self, account: &mut Account, now: i64) {
        if let Some(name) = &self.name {
            account.name = name.clone();
        }
        if let Some(agreement) = self.agreement {
            // A downgrade to `test` leaves live keys in place; the edge refuses them (401) until
            // the agreement is production again, so nothing is destroyed by a mistaken PATCH.
            account.agreement = agreement;
        }
        if let Some(status) = self.status {
            account.status = status;
        }
        if let Some(ips) = &self.allowed_ips {
            account.allowed_ips = ips.clone();
        }
        if let Some(limit) = self.rate_limit {
            account.rate_limit = limit;
        }
        if let Some(mode) = self.ip_mode {
            account.ip_mode = mode;
        }
        if let Some(quota) = &self.quota {
            account.quota = quota.clone();
        }
        account.touch(now);
    }
}

/// `{name?, agreement?, status?, allowed_ips?, rate_limit?, ip_mode?, quota?}`.
pub fn account_patch(body: &Value) -> Result<AccountPatch, Error> {
    let mut r = Reader::new(body, &bodies::ACCOUNT_UPDATE)?;
    let patch = AccountPatch {
        name: r.name("name"),
        agreement: r.choice("agreement", &AGREEMENTS),
        status: r.choice("status", &ACCOUNT_STATUSES),
        allowed_ips: r.allowed_ips(),
        rate_limit: r.rate_limit(),
        ip_mode: r.ip_mode(),
        quota: r.quota(),
    };
    r.finish()?;
    Ok(patch)
}
