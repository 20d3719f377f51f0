//! What comes in: who sends a command, and the command.

use super::*;
use crate::github;
use crate::keys::KeyHash;
use crate::page::PageParams;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Who sends a command.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Caller {
    /// The admin token.
    Operator,
    /// A secret key with `keys:manage`, by id. Its record is read from the store for every
    /// command, so a manager disabled a moment ago cannot act on a stale cached copy.
    Manager {
        /// The manager key's `key_` id.
        key_id: String,
    },
    /// The worker itself, reporting what the edge saw (`RecordActivity`). The admin API never
    /// builds this caller.
    Edge,
}

/// One admin request. Bodies are raw JSON; the engine validates them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    /// `POST /admin/v1/accounts`.
    CreateAccount {
        /// Validated by [`crate::admin::new_account`].
        body: Value,
        /// The new account's id, minted by the worker so that the account's Registry is named
        /// before it exists (`crate::shard`); minted by the engine when `None`.
        #[serde(default)]
        account_id: Option<String>,
    },
    /// `GET /admin/v1/accounts`: the accounts the caller can see, oldest first.
    ListAccounts {
        /// The page asked for (`limit`, `starting_after`).
        page: PageParams,
    },
    /// `GET /admin/v1/accounts/{id}`.
    GetAccount {
        /// The `acct_` id from the path.
        account_id: String,
    },
    /// `PATCH /admin/v1/accounts/{id}`.
    UpdateAccount {
        /// The `acct_` id from the path.
        account_id: String,
        /// Validated by [`crate::admin::account_patch`].
        body: Value,
    },
    /// `GET /admin/v1/accounts/{id}/products/{product}`.
    GetEntitlement {
        /// The `acct_` id from the path.
        account_id: String,
        /// A product id of the gateway config, from the path.
        product_id: String,
    },
    /// `PUT /admin/v1/accounts/{id}/products/{product}`: entitles the account to the product,
    /// minting its product keys; idempotent.
    Entitle {
        /// The `acct_` id from the path.
        account_id: String,
        /// A product id of the gateway config, from the path.
        product_id: String,
    },
    /// `DELETE /admin/v1/accounts/{id}/products/{product}`: ends the entitlement.
    Withdraw {
        /// The `acct_` id from the path.
        account_id: String,
        /// A product id of the gateway config, from the path.
        product_id: String,
    },
    /// `POST /admin/v1/accounts/{id}/keys`: answers the secret, the only time it is shown.
    CreateKey {
        /// The `acct_` id from the path.
        account_id: String,
        /// Validated by [`crate::admin::new_key`].
        body: Value,
    },
    /// `GET /admin/v1/accounts/{id}/keys`.
    ListKeys {
        /// The `acct_` id from the path.
        account_id: String,
        /// The page asked for (`limit`, `starting_after`).
        page: PageParams,
    },
    /// `GET /admin/v1/keys/{id}`.
    GetKey {
        /// The `key_` id from the path.
        key_id: String,
    },
    /// `PATCH /admin/v1/keys/{id}`.
    UpdateKey {
        /// The `key_` id from the path.
        key_id: String,
        /// Validated by [`crate::admin::key_patch`].
        body: Value,
    },
    /// `POST /admin/v1/keys/{id}/roll`: a successor with the same settings; the old key works
    /// on for a grace period.
    RollKey {
        /// The `key_` id from the path.
        key_id: String,
        /// Validated by [`crate::admin::roll_grace`]; `None` for an empty body.
        body: Option<Value>,
    },
    /// `POST /admin/v1/keys/{id}/leaked`: the key is revoked after a grace period.
    LeakKey {
        /// The `key_` id from the path.
        key_id: String,
        /// Validated by [`crate::admin::grace_seconds`]; `None` for an empty body.
        body: Option<Value>,
    },
    /// `DELETE /admin/v1/keys/{id}`: removes the key and, with it, its edge record.
    DeleteKey {
        /// The `key_` id from the path.
        key_id: String,
    },
    /// `POST /admin/v1/leaks`: a secret scanner's report of leaked tokens.
    LeakReport {
        /// Validated by [`crate::admin::leak_report`].
        body: Value,
    },
    /// `GET /admin/v1/accounts/{id}/events`: the account's event log, newest first.
    ListEvents {
        /// The `acct_` id from the path.
        account_id: String,
        /// The page asked for (`limit`, `starting_after`).
        page: PageParams,
        /// Only events of this type.
        kind: Option<String>,
        /// Only events about this key.
        key_id: Option<String>,
    },
    /// The true reason of a refused edge request.
    GetRequest {
        /// The `req_` id the refusal was answered with (`X-Request-Id`).
        request_id: String,
    },
    /// The webhook delivery log of one event.
    GetDeliveries {
        /// The `evt_` id of the event.
        event_id: String,
    },
    /// What isolates saw at the edge (from [`Caller::Edge`] only).
    RecordActivity {
        /// Per-key use counts and addresses since the last report.
        uses: Vec<KeyUse>,
        /// Refused requests, kept for `GET /admin/v1/requests/{id}`.
        denials: Vec<Denial>,
        /// Addresses a `report`-mode allowlist would have refused.
        would_deny: Vec<WouldDeny>,
        /// Secret keys that arrived over plain HTTP where HTTPS is required.
        #[serde(default)]
        exposed: Vec<KeyHash>,
        /// First edge uses of keys that were waited for.
        #[serde(default)]
        first_uses: Vec<FirstUse>,
        /// Refusals and would-deny reports an isolate counted but did not send whole.
        #[serde(default)]
        counted: Vec<Counted>,
    },
    /// An isolate's settlements of the leases it held on the account's ledger, and a lease for
    /// one lane, if it needs one (from [`Caller::Edge`] only; docs/quotas.md).
    Lease {
        /// The account whose ledger it is.
        account_id: String,
        /// The lane a lease is wanted for; `None`: settlements only.
        #[serde(default)]
        lane: Option<crate::quota::Lane>,
        /// The counters a request of the lane is counted in, as its key's record states them.
        #[serde(default)]
        counters: Vec<crate::quota::Counter>,
        /// What the isolate granted from the leases it gives back.
        #[serde(default)]
        settle: Vec<crate::quota::Settlement>,
        /// Requests it refused on its own while the ledger's "full" held.
        #[serde(default)]
        refused: Vec<crate::quota::RefusedCount>,
    },
    /// `GET /admin/v1/accounts/{id}/usage`: usage rows per key, product, costed route and day.
    ListUsage {
        /// The `acct_` id from the path.
        account_id: String,
        /// The first day, `YYYY-MM-DD` (UTC); default 29 days before `to`.
        from: Option<String>,
        /// The last day (included); default today.
        to: Option<String>,
        /// The page asked for (`limit`, `starting_after`).
        page: PageParams,
    },
    /// GitHub's secret-scanning report, its signature verified by the worker ([`Caller::Edge`]).
    GithubReport {
        /// The tokens GitHub found, each with where it found them.
        matches: Vec<github::Match>,
    },
}

impl Command {
    /// Whether the command can change anything: it counts against the account's admin write
    /// budget, and the Registry runs it under its write lock. Every other command only reads.
    pub fn is_write(&self) -> bool {
        !matches!(
            self,
            Command::ListAccounts { .. }
                | Command::GetAccount { .. }
                | Command::GetEntitlement { .. }
                | Command::ListKeys { .. }
                | Command::GetKey { .. }
                | Command::ListEvents { .. }
                | Command::GetRequest { .. }
                | Command::GetDeliveries { .. }
                | Command::ListUsage { .. }
        )
    }
}
