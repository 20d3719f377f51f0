//! Where each admin command runs: one Registry per account, and a directory for what crosses
//! accounts (docs/sharding.md).
//!
//! A key design decision of this module: a command is sent to the Registry of the account it
//! is about whenever the caller or the path names that account, which is every command but the
//! operator's lookups by a bare id, the account list and the reports about tokens. A manager
//! key's commands always go to its own account's Registry, so no tenant's command is ever
//! executed where another tenant's records are: a cross-tenant read is not refused there, it
//! has nothing to read. The directory only routes: it maps ids and hashes to accounts and holds
//! a copy of each account's view for the list. Every decision is still the engine's, in the
//! account's Registry; a stale directory row can send a command to an account that answers "not
//! found", never to one that acts on another's records.

use crate::engine::{Caller, Command, Event, Write};
use crate::error::{Answer, Error};
use crate::keys::{KeyKind, parse_key, secret_key_hash};
use crate::{admin, page};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The directory object's name.
pub const DIRECTORY_NAME: &str = "directory";

/// The name of the Registry object that holds `account_id`'s records.
pub fn registry_name(account_id: &str) -> String {
    format!("account:{account_id}")
}

/// Something the directory can find the account of.
// Externally tagged (serde's default), here and below: the cheapest form to parse in the wasm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexKey {
    /// A key, by its `key_` id.
    Key(String),
    /// A secret key, by the hex of its hash (leak reports, exposures).
    Secret(String),
    /// A product key, by its `pk_` text (an identifier, not a secret).
    ProductKey(String),
    /// An event with webhook deliveries, by its `evt_` id.
    Event(String),
    /// A stored refusal, by its `req_` id.
    Request(String),
}

impl IndexKey {
    /// The kind's column value in the directory's table.
    pub fn kind(&self) -> &'static str {
        match self {
            IndexKey::Key(_) => "key",
            IndexKey::Secret(_) => "secret",
            IndexKey::ProductKey(_) => "product_key",
            IndexKey::Event(_) => "event",
            IndexKey::Request(_) => "request",
        }
    }

    /// The id, hash or token.
    pub fn value(&self) -> &str {
        match self {
            IndexKey::Key(v)
            | IndexKey::Secret(v)
            | IndexKey::ProductKey(v)
            | IndexKey::Event(v)
            | IndexKey::Request(v) => v,
        }
    }
}

/// A change an account's Registry makes to the directory, after the transaction it follows
/// from has committed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndexChange {
    /// The account's view as the operator's list shows it (inserted or replaced).
    Account {
        /// The `acct_` id.
        id: String,
        /// [`crate::engine::account_view`] of the account with its entitlements.
        view: Value,
    },
    /// `key` finds `account_id`; forgotten after `expires_at` (unix s), if set.
    Put {
        /// What is found by it.
        key: IndexKey,
        /// The `acct_` id of the account that holds it.
        account_id: String,
        /// When the record it finds is deleted by retention.
        expires_at: Option<i64>,
    },
    /// `key` no longer finds anything.
    Remove {
        /// What was found by it.
        key: IndexKey,
    },
}

/// The directory changes that follow from one committed command: new and deleted keys, product
/// keys, stored refusals, events queued for webhooks (only those have deliveries to look up)
/// and every account whose view changed, rendered by `view`.
pub fn index_changes(
    writes: &[Write],
    events: &[Event],
    webhooks: bool,
    view: impl Fn(&str) -> Result<Value, Error>,
) -> Result<Vec<IndexChange>, Error> {
    let mut changes = Vec::new();
    let mut accounts: Vec<&str> = Vec::new();
    let put = |key, account_id: &str, expires_at| IndexChange::Put {
        key,
        account_id: account_id.to_string(),
        expires_at,
    };
    for write in writes {
        match write {
            Write::PutAccount(account) => accounts.push(&account.id),
            Write::PutEntitlement(entitlement) => {
                accounts.push(&entitlement.account_id);
                let account_id = &entitlement.account_id;
                changes.push(put(
                    IndexKey::ProductKey(entitlement.test_key.clone()),
                    account_id,
                    None,
                ));
                if let Some(live) = &entitlement.live_key {
                    changes.push(put(IndexKey::ProductKey(live.clone()), account_id, None));
                }
            }
            // A withdrawn entitlement's product keys keep their rows: a report of one reaches
            // the account, whose Registry answers that it is no longer ours.
            Write::DeleteEntitlement { account_id, .. } => accounts.push(account_id),
            Write::PutKey(stored) => {
                let account_id = &stored.key.account_id;
                changes.push(put(IndexKey::Key(stored.key.id.clone()), account_id, None));
                changes.push(put(
                    IndexKey::Secret(stored.hash.to_hex()),
                    account_id,
                    None,
                ));
            }
            Write::DeleteKey(stored) => {
                changes.push(IndexChange::Remove {
                    key: IndexKey::Key(stored.key.id.clone()),
                });
                changes.push(IndexChange::Remove {
                    key: IndexKey::Secret(stored.hash.to_hex()),
                });
            }
            Write::PutDenial(denial) => changes.push(put(
                IndexKey::Request(denial.request_id.clone()),
                &denial.account_id,
                Some(denial.at + crate::engine::DENIAL_RETENTION_SECONDS),
            )),
            Write::PutUsage { .. }
            | Write::CountSimilar { .. }
            | Write::PutLedger { .. }
            | Write::AddUsage { .. } => {}
        }
    }
    if webhooks {
        for event in events {
            changes.push(put(
                IndexKey::Event(event.id.clone()),
                &event.account_id,
                Some(event.created_at + crate::engine::EVENT_RETENTION_SECONDS),
            ));
        }
    }
    accounts.sort_unstable();
    accounts.dedup();
    for id in accounts {
        changes.push(IndexChange::Account {
            id: id.to_string(),
            view: view(id)?,
        });
    }
    // A key put and deleted by one command (none today) ends deleted: removals last.
    changes.sort_by_key(|c| matches!(c, IndexChange::Remove { .. }));
    Ok(changes)
}

/// Where a command goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The Registry of this account.
    Account(String),
    /// The directory finds the account of this id, and the command goes there; an id it does
    /// not know is not found.
    Find(IndexKey),
    /// The operator's list of every account: the directory's copy.
    Accounts,
    /// A new account: its id is minted first ([`assign_account_id`]), and it goes there.
    NewAccount,
    /// A report about tokens: to every account that holds one of them (none: answered as by
    /// an empty store), their answers merged ([`merge_answers`]).
    Tokens(Vec<IndexKey>),
    /// Edge activity about several accounts: split it first ([`split_activity`]).
    Split,
}

/// Where `command` from `caller` runs. `manager_account` is the manager key's account, which
/// the worker read from the key's edge record when it authenticated it.
pub fn place(caller: &Caller, manager_account: Option<&str>, command: &Command) -> Placement {
    if let (Caller::Manager { .. }, Some(account_id)) = (caller, manager_account) {
        return Placement::Account(account_id.to_string());
    }
    match command {
        Command::CreateAccount { account_id, .. } => match account_id {
            Some(id) => Placement::Account(id.clone()),
            None => Placement::NewAccount,
        },
        Command::ListAccounts { .. } => Placement::Accounts,
        Command::GetAccount { account_id }
        | Command::UpdateAccount { account_id, .. }
        | Command::GetEntitlement { account_id, .. }
        | Command::Entitle { account_id, .. }
        | Command::Withdraw { account_id, .. }
        | Command::CreateKey { account_id, .. }
        | Command::ListKeys { account_id, .. }
        | Command::ListEvents { account_id, .. }
        | Command::ListUsage { account_id, .. }
        | Command::Lease { account_id, .. } => Placement::Account(account_id.clone()),
        Command::GetKey { key_id }
        | Command::UpdateKey { key_id, .. }
        | Command::RollKey { key_id, .. }
        | Command::LeakKey { key_id, .. }
        | Command::DeleteKey { key_id } => Placement::Find(IndexKey::Key(key_id.clone())),
        Command::GetRequest { request_id } => {
            Placement::Find(IndexKey::Request(request_id.clone()))
        }
        Command::GetDeliveries { event_id } => Placement::Find(IndexKey::Event(event_id.clone())),
        // An invalid report has no tokens: it goes nowhere, and the empty store's answer is
        // the engine's 400.
        Command::LeakReport { body } => Placement::Tokens(
            admin::leak_report(body)
                .map(|tokens| tokens.iter().filter_map(|t| token_key(&t.token)).collect())
                .unwrap_or_default(),
        ),
        Command::GithubReport { matches } => Placement::Tokens(
            matches
                .iter()
                .filter_map(|m| secret_key_hash(&m.token))
                .map(|hash| IndexKey::Secret(hash.to_hex()))
                .collect(),
        ),
        Command::RecordActivity { .. } => activity_placement(command),
    }
}

/// What finds the owner of a reported token: a secret key by its hash, a product key by its
/// text; anything else is not ours.
fn token_key(token: &str) -> Option<IndexKey> {
    let parsed = parse_key(token).ok()?;
    Some(match parsed.kind() {
        KeyKind::Secret => IndexKey::Secret(parsed.hash().to_hex()),
        KeyKind::Product => IndexKey::ProductKey(token.to_string()),
    })
}

/// Every account a `RecordActivity` report is about, in order of first mention.
fn activity_accounts(command: &Command) -> Vec<&str> {
    let Command::RecordActivity {
        uses,
        denials,
        would_deny,
        first_uses,
        counted,
        ..
    } = command
    else {
        return Vec::new();
    };
    let mut accounts: Vec<&str> = Vec::new();
    let named = uses
        .iter()
        .map(|u| u.account_id.as_str())
        .chain(denials.iter().map(|d| d.account_id.as_str()))
        .chain(would_deny.iter().map(|w| w.account_id.as_str()))
        .chain(first_uses.iter().map(|f| f.account_id.as_str()))
        .chain(counted.iter().map(|c| c.account_id.as_str()));
    for account in named {
        if !accounts.contains(&account) {
            accounts.push(account);
        }
    }
    accounts
}

fn activity_placement(command: &Command) -> Placement {
    let Command::RecordActivity { exposed, .. } = command else {
        return Placement::Split;
    };
    let accounts = activity_accounts(command);
    match (accounts.as_slice(), exposed.is_empty()) {
        ([account], true) => Placement::Account(account.to_string()),
        ([], false) => Placement::Tokens(
            exposed
                .iter()
                .map(|hash| IndexKey::Secret(hash.to_hex()))
                .collect(),
        ),
        // Nothing to record goes nowhere.
        ([], true) => Placement::Tokens(Vec::new()),
        _ => Placement::Split,
    }
}

/// An isolate's report split into one report per account, and one of the exposed secrets
/// (whose accounts only the directory knows), each of which [`place`] sends to one object.
pub fn split_activity(command: Command) -> Vec<Command> {
    let accounts: Vec<String> = activity_accounts(&command)
        .into_iter()
        .map(str::to_string)
        .collect();
    let Command::RecordActivity {
        uses,
        denials,
        would_deny,
        exposed,
        first_uses,
        counted,
    } = command
    else {
        return vec![command];
    };
    let mut reports: Vec<Command> = accounts
        .iter()
        .map(|account| Command::RecordActivity {
            uses: uses
                .iter()
                .filter(|u| &u.account_id == account)
                .cloned()
                .collect(),
            denials: denials
                .iter()
                .filter(|d| &d.account_id == account)
                .cloned()
                .collect(),
            would_deny: would_deny
                .iter()
                .filter(|w| &w.account_id == account)
                .cloned()
                .collect(),
            exposed: Vec::new(),
            first_uses: first_uses
                .iter()
                .filter(|f| &f.account_id == account)
                .cloned()
                .collect(),
            counted: counted
                .iter()
                .filter(|c| &c.account_id == account)
                .cloned()
                .collect(),
        })
        .collect();
    if !exposed.is_empty() {
        reports.push(Command::RecordActivity {
            uses: Vec::new(),
            denials: Vec::new(),
            would_deny: Vec::new(),
            exposed,
            first_uses: Vec::new(),
            counted: Vec::new(),
        });
    }
    reports
}

/// `command` with the id a new account will have ([`Placement::NewAccount`]): its Registry is
/// named after it before the account exists.
pub fn assign_account_id(command: Command, id: String) -> Command {
    match command {
        Command::CreateAccount { body, .. } => Command::CreateAccount {
            body,
            account_id: Some(id),
        },
        other => other,
    }
}

/// The operator's account list from the directory's copies of the accounts' views.
pub fn account_list(views: Vec<Value>, has_more: bool) -> Result<Answer, Error> {
    let body = serde_json::to_string(&page::ListPage::new(views, has_more))
        .map_err(|_| Error::internal())?;
    Ok(Answer::json(200, body))
}

/// One answer from the answers of every account a token report went to
/// ([`Placement::Tokens`]): each account's Registry knows only its own keys, so an item is ours
/// if any account says so. A failed answer is the answer: the report can be sent again (a key
/// marked leaked twice is marked once).
pub fn merge_answers(answers: Vec<Answer>) -> Answer {
    let mut answers = answers.into_iter();
    let Some(mut merged) = answers.next() else {
        return Answer::from(&Error::internal());
    };
    for answer in answers {
        if !is_success(merged.status) {
            return merged;
        }
        if !is_success(answer.status) {
            return answer;
        }
        merged.body = match (merged.body.as_deref(), answer.body.as_deref()) {
            (Some(a), Some(b)) => merge_bodies(a, b).or(merged.body),
            _ => merged.body,
        };
    }
    merged
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status)
}

/// Two accounts' answers to one report, item by item: ours wins. A leak report's body is
/// `{"object": "leak_report", "results": [{"ours", …}]}`; GitHub's is its feedback array
/// (`label` `true_positive` is ours).
fn merge_bodies(a: &str, b: &str) -> Option<String> {
    let mut merged: Value = serde_json::from_str(a).ok()?;
    let other: Value = serde_json::from_str(b).ok()?;
    let ours = |item: &Value| item["ours"] == true || item["label"] == "true_positive";
    let (items, others) = match (&mut merged, &other) {
        (Value::Array(items), Value::Array(others)) => (items, others),
        (Value::Object(map), Value::Object(other_map)) => {
            match (map.get_mut("results"), other_map.get("results")) {
                (Some(Value::Array(items)), Some(Value::Array(others))) => (items, others),
                _ => return None,
            }
        }
        _ => return None,
    };
    if items.len() != others.len() {
        return None;
    }
    for (item, other) in items.iter_mut().zip(others) {
        if !ours(item) && ours(other) {
            *item = other.clone();
        }
    }
    serde_json::to_string(&merged).ok()
}

#[cfg(test)]
mod tests;
