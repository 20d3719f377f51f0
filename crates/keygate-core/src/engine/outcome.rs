//! What comes out: the answer, and the writes that make it true.

use super::*;
use crate::error::Error;
use crate::keys::KeyHash;
use crate::model::{Account, EdgeRecord, Entitlement};
use crate::page::ListPage;
use serde_json::Value;

/// A change to the system of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Insert or replace the account (by id).
    PutAccount(Account),
    /// Insert or replace the entitlement (by account and product).
    PutEntitlement(Entitlement),
    /// Remove the entitlement (by account and product), and with it the account's product keys.
    DeleteEntitlement {
        /// The [`Account::id`].
        account_id: String,
        /// The product id.
        product_id: String,
    },
    /// Insert or replace the key (by id).
    PutKey(StoredKey),
    /// Remove the key (by id); its edge record goes with it (by `hash`).
    DeleteKey(StoredKey),
    /// Insert or replace a key's usage.
    PutUsage {
        /// The [`ApiKey::id`](crate::model::ApiKey::id).
        key_id: String,
        /// The merged usage that replaces the stored one.
        usage: Usage,
    },
    /// Store a refused request's true reason, for [`DENIAL_RETENTION_SECONDS`], with no
    /// similar refusals counted on it yet.
    PutDenial(Denial),
    /// Replace the account's ledger of quotas and credits.
    PutLedger {
        /// The account.
        account_id: String,
        /// The ledger as it now stands.
        ledger: crate::quota::Ledger,
    },
    /// Add a tally to a usage row (created at zero if absent).
    AddUsage {
        /// The account.
        account_id: String,
        /// The row's lane and what to add.
        row: UsageRow,
    },
    /// Add `more` to `similar_not_stored` of the stored refusal `request_id`: later refusals
    /// of its key in its minute, past the caps (an update, never a new row).
    CountSimilar {
        /// The `req_` id of the key's latest stored refusal of the minute.
        request_id: String,
        /// How many more were counted on it.
        more: u64,
    },
}

/// Which edge records a write changes: one key's, or every key's of an account (each carries
/// a copy of the account and its product keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeScope<'a> {
    /// The edge record stored under this secret-key hash.
    Key(&'a KeyHash),
    /// The edge records of every key of the account with this id.
    Account(&'a str),
}

impl Write {
    /// The edge records the write changes, if any (usage and denials change none).
    pub fn edge_scope(&self) -> Option<EdgeScope<'_>> {
        match self {
            Write::PutAccount(account) => Some(EdgeScope::Account(&account.id)),
            Write::PutEntitlement(e) => Some(EdgeScope::Account(&e.account_id)),
            Write::DeleteEntitlement { account_id, .. } => Some(EdgeScope::Account(account_id)),
            Write::PutKey(stored) | Write::DeleteKey(stored) => Some(EdgeScope::Key(&stored.hash)),
            Write::PutUsage { .. }
            | Write::PutDenial(_)
            | Write::CountSimilar { .. }
            | Write::PutLedger { .. }
            | Write::AddUsage { .. } => None,
        }
    }
}

/// The engine's answer: an HTTP status and JSON body (`None` for 204), and the writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The HTTP status: 200, 201, or 204 with no body.
    pub status: u16,
    /// The JSON body; `None` for 204.
    pub body: Option<Value>,
    /// Every write must be applied, in one transaction, or none.
    pub writes: Vec<Write>,
    /// What the writes mean, one event per changed record (stored with the writes).
    pub events: Vec<Event>,
}

impl Outcome {
    pub(super) fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            writes: Vec::new(),
            events: Vec::new(),
        }
    }

    pub(super) fn with(mut self, writes: Vec<Write>) -> Self {
        self.writes = writes;
        self
    }
}

pub(super) fn list(data: Vec<Value>, has_more: bool) -> Result<Value, Error> {
    super::views::to_value(&ListPage::new(data, has_more))
}

pub(super) fn no_content(writes: Vec<Write>) -> Outcome {
    Outcome {
        status: 204,
        body: None,
        writes,
        events: Vec::new(),
    }
}

/// The edge record of a stored key, or `None` when its account is gone.
pub fn edge_record(store: &impl Store, stored: &StoredKey) -> Result<Option<EdgeRecord>, Error> {
    let Some(account) = store.account(&stored.key.account_id)? else {
        return Ok(None);
    };
    let entitlements = store.entitlements(&account.id)?;
    Ok(Some(EdgeRecord::assemble(
        stored.key.clone(),
        account,
        &entitlements,
    )))
}
