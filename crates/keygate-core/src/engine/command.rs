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
    Manager { key_id: String },
    /// The worker itself, reporting what the edge saw (`RecordActivity`). The admin API never
    /// builds this caller.
    Edge,
}

/// One admin request. Bodies are raw JSON; the engine validates them.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Command {
    CreateAccount {
        body: Value,
    },
    ListAccounts {
        page: PageParams,
    },
    GetAccount {
        account_id: String,
    },
    UpdateAccount {
        account_id: String,
        body: Value,
    },
    GetEntitlement {
        account_id: String,
        product_id: String,
    },
    Entitle {
        account_id: String,
        product_id: String,
    },
    Withdraw {
        account_id: String,
        product_id: String,
    },
    CreateKey {
        account_id: String,
        body: Value,
    },
    ListKeys {
        account_id: String,
        page: PageParams,
    },
    GetKey {
        key_id: String,
    },
    UpdateKey {
        key_id: String,
        body: Value,
    },
    RollKey {
        key_id: String,
        body: Option<Value>,
    },
    LeakKey {
        key_id: String,
        body: Option<Value>,
    },
    DeleteKey {
        key_id: String,
    },
    LeakReport {
        body: Value,
    },
    ListEvents {
        account_id: String,
        page: PageParams,
        /// Only events of this type.
        kind: Option<String>,
        /// Only events about this key.
        key_id: Option<String>,
    },
    /// The true reason of a refused edge request.
    GetRequest {
        request_id: String,
    },
    /// The webhook delivery log of one event.
    GetDeliveries {
        event_id: String,
    },
    /// What isolates saw at the edge (from [`Caller::Edge`] only).
    RecordActivity {
        uses: Vec<KeyUse>,
        denials: Vec<Denial>,
        would_deny: Vec<WouldDeny>,
        /// Secret keys that arrived over plain HTTP where HTTPS is required.
        #[serde(default)]
        exposed: Vec<KeyHash>,
        /// (key id, when): first edge uses of keys that were waited for.
        #[serde(default)]
        first_uses: Vec<(String, i64)>,
    },
    /// GitHub's secret-scanning report, its signature verified by the worker ([`Caller::Edge`]).
    GithubReport {
        matches: Vec<github::Match>,
    },
}

impl Command {
    /// Whether the command can change anything (and so counts against a manager's write rate).
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
        )
    }
}
