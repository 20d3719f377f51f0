//! The admin command engine: every admin decision as a pure function.
//!
//! A key design decision of this module: the admin API has the edge's shape. The caller, the
//! command, the records it reads (through the small [`Store`] trait), the clock and a source of
//! fresh ids and secrets ([`Mint`]) go in; an [`Outcome`] comes out: the answer, and the
//! [`Write`]s that make it true. The `Registry` Durable Object only reads rows for the store,
//! applies the writes in one transaction, and pushes the changed edge records out. So every
//! rule — who may do what, delegation limits, quotas, the lifecycle, the views — is unit-tested
//! here, natively and in a browser, without storage.
//!
//! - [`Caller`]: the operator, or a key with `keys:manage` acting for its own account within
//!   its own limits ([`delegation`]).
//! - [`Command`]: one admin request, its body already parsed as JSON but not yet validated.
//! - [`execute`]: authorisation, validation, the new records, the answer.

mod activity;
mod delegation;
mod events;
mod quota;
#[cfg(test)]
mod tests;
mod views;

use crate::admin::{self, KeyTemplate};
use crate::config::GatewayConfig;
use crate::error::{Error, FieldError};
use crate::github;
use crate::keys::{Environment, IssuedKey, KeyHash, KeyKind, parse_key};
use crate::model::{Account, Actor, Agreement, ApiKey, EdgeRecord, Entitlement, KeyStatus};
use crate::page::{ListPage, PageParams};
use crate::random::SecureRandom;
use crate::webhook;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use activity::{
    DENIAL_RETENTION_SECONDS, Denial, IpSeen, KeyUse, MAX_IPS_SEEN, Usage,
    WOULD_DENY_DEDUP_SECONDS, WouldDeny,
};
pub use events::{EVENT_TYPES, Event, changes};
pub use quota::{DEFAULT_MANAGER_WRITES_PER_MINUTE, WriteRate};
pub use views::{account_view, entitlement_view, key_view};

/// Default of `MAX_KEYS_PER_ACCOUNT`.
pub const DEFAULT_MAX_KEYS_PER_ACCOUNT: usize = 1_000;

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

/// A key as stored: the record and the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    pub key: ApiKey,
    pub hash: KeyHash,
}

/// What the engine reads. Implemented over SQLite by the `Registry` Durable Object, and over
/// vectors by the tests.
pub trait Store {
    fn account(&self, id: &str) -> Result<Option<Account>, Error>;
    /// A page of accounts in creation order, and whether more follow.
    fn accounts(&self, page: &PageParams) -> Result<(Vec<Account>, bool), Error>;
    /// The account's entitlements, by product id.
    fn entitlements(&self, account_id: &str) -> Result<Vec<Entitlement>, Error>;
    /// The entitlement whose test or live product key is `token`.
    fn entitlement_by_product_key(&self, token: &str) -> Result<Option<Entitlement>, Error>;
    fn key(&self, id: &str) -> Result<Option<StoredKey>, Error>;
    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, Error>;
    /// The key that was rolled to `successor_id`, if any.
    fn predecessor(&self, successor_id: &str) -> Result<Option<StoredKey>, Error>;
    /// A page of the account's keys in creation order, and whether more follow.
    fn keys(&self, account_id: &str, page: &PageParams) -> Result<(Vec<ApiKey>, bool), Error>;
    /// How many keys the account holds (revoked keys count until deleted).
    fn key_count(&self, account_id: &str) -> Result<usize, Error>;
    /// A page of the account's events, newest first, optionally of one type or one key.
    fn events(
        &self,
        account_id: &str,
        kind: Option<&str>,
        key_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error>;
    fn usage(&self, key_id: &str) -> Result<Option<Usage>, Error>;
    fn denial(&self, request_id: &str) -> Result<Option<Denial>, Error>;
    /// The webhook delivery log of an event; `None` if it was never queued (unknown event, or
    /// recorded while webhooks were not configured).
    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error>;
    /// Whether an `ip.would_deny` event for this key and address was recorded since `since`.
    fn would_deny_since(&self, key_id: &str, ip: &str, since: i64) -> Result<bool, Error>;
}

/// Fresh ids and secrets. The worker's draws from the platform's CSPRNG; tests use seeds.
pub trait Mint {
    /// `prefix` followed by random base62, e.g. `id("key_")`.
    fn id(&mut self, prefix: &str) -> Result<String, Error>;
    fn key(&mut self, kind: KeyKind, environment: Environment) -> Result<IssuedKey, Error>;
}

/// Ids and keys drawn from a secure generator (the worker passes the platform's).
pub struct RandomMint<'a>(pub &'a dyn SecureRandom);

impl Mint for RandomMint<'_> {
    fn id(&mut self, prefix: &str) -> Result<String, Error> {
        crate::ids::new_id(prefix, self.0)
    }

    fn key(&mut self, kind: KeyKind, environment: Environment) -> Result<IssuedKey, Error> {
        IssuedKey::generate(kind, environment, self.0)
    }
}

/// A change to the system of record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write {
    /// Insert or replace the account (by id).
    PutAccount(Account),
    /// Insert or replace the entitlement (by account and product).
    PutEntitlement(Entitlement),
    DeleteEntitlement {
        account_id: String,
        product_id: String,
    },
    /// Insert or replace the key (by id).
    PutKey(StoredKey),
    DeleteKey(StoredKey),
    /// Insert or replace a key's usage.
    PutUsage {
        key_id: String,
        usage: Usage,
    },
    PutDenial(Denial),
}

/// Which edge records a write changes: one key's, or every key's of an account (each carries
/// a copy of the account and its product keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EdgeScope<'a> {
    Key(&'a KeyHash),
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
            Write::PutUsage { .. } | Write::PutDenial(_) => None,
        }
    }
}

/// The engine's answer: an HTTP status and JSON body (`None` for 204), and the writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub status: u16,
    pub body: Option<Value>,
    pub writes: Vec<Write>,
    /// What the writes mean, one event per changed record (stored with the writes).
    pub events: Vec<Event>,
}

impl Outcome {
    fn json(status: u16, body: Value) -> Self {
        Self {
            status,
            body: Some(body),
            writes: Vec::new(),
            events: Vec::new(),
        }
    }

    fn with(mut self, writes: Vec<Write>) -> Self {
        self.writes = writes;
        self
    }
}

/// What a command runs against besides the store.
pub struct Context<'a> {
    pub now: i64,
    pub config: &'a GatewayConfig,
    /// `MAX_KEYS_PER_ACCOUNT`: a create or roll beyond it is 409.
    pub max_keys_per_account: usize,
    /// The id of the request that carries the command, recorded in its events.
    pub request_id: &'a str,
}

/// A caller resolved against the store.
enum Principal {
    Operator,
    Manager(Box<Manager>),
    Edge,
}

/// A manager key that may act now.
pub(crate) struct Manager {
    key: ApiKey,
}

impl Principal {
    fn actor(&self) -> Actor {
        match self {
            Principal::Operator | Principal::Edge => Actor::Operator,
            Principal::Manager(m) => Actor::Key {
                key_id: m.key.id.clone(),
            },
        }
    }

    fn operator_only(&self) -> Result<(), Error> {
        match self {
            Principal::Operator => Ok(()),
            Principal::Manager(_) | Principal::Edge => Err(Error::forbidden(
                "This endpoint needs the operator's admin token; a `keys:manage` key may only \
                 manage its own account's keys.",
            )),
        }
    }

    /// A manager sees only its own account: anything else is "not found", never "forbidden",
    /// so no answer confirms that another tenant's id exists.
    fn sees(&self, account_id: &str) -> bool {
        match self {
            Principal::Operator | Principal::Edge => true,
            Principal::Manager(m) => m.key.account_id == account_id,
        }
    }
}

fn account_not_found() -> Error {
    Error::not_found("No account with this id.")
}

fn key_not_found() -> Error {
    Error::not_found("No API key with this id.")
}

fn not_entitled() -> Error {
    Error::not_found("This account is not entitled to this product.")
}

fn resolve(caller: &Caller, store: &impl Store, now: i64) -> Result<Principal, Error> {
    match caller {
        Caller::Operator => Ok(Principal::Operator),
        Caller::Edge => Ok(Principal::Edge),
        Caller::Manager { key_id } => {
            let unknown = || {
                Error::unauthorized(
                    "Unknown API key. It may have been deleted. Use a current key with \
                     `keys:manage`, or the admin token.",
                )
            };
            let stored = store.key(key_id)?.ok_or_else(unknown)?;
            let account = store.account(&stored.key.account_id)?.ok_or_else(unknown)?;
            delegation::check_can_manage(&stored.key, &account, now)?;
            Ok(Principal::Manager(Box::new(Manager { key: stored.key })))
        }
    }
}

/// Runs one command. Errors are answers too (4xx, or 503 from the store); a returned
/// [`Outcome`]'s writes (and its events) must all be applied, or none.
pub fn execute(
    caller: &Caller,
    command: Command,
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Outcome, Error> {
    let principal = resolve(caller, store, cx.now)?;
    let leak_source = match &command {
        Command::LeakReport { .. } => Some("leak_report"),
        Command::GithubReport { .. } => Some("github"),
        Command::RecordActivity { .. } => Some("plain_http"),
        _ => None,
    };
    let mut outcome = decide(&principal, command, store, cx, mint)?;
    let derived = derive_events(&principal, leak_source, &outcome.writes, store, cx, mint)?;
    outcome.events.extend(derived);
    Ok(outcome)
}

/// The events of a command, derived from what it writes compared with what the store held:
/// one per record created, changed (only the fields that changed) or deleted.
fn derive_events(
    principal: &Principal,
    leak_source: Option<&str>,
    writes: &[Write],
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    let mut reported: Vec<(String, Vec<String>)> = Vec::new();
    for write in writes {
        let (kind, account_id, key_id, data) = match write {
            Write::PutAccount(account) => {
                let after = account_view(account, &[]);
                match store.account(&account.id)? {
                    None => (
                        "account.created",
                        &account.id,
                        None,
                        changes(&json!({}), &after),
                    ),
                    Some(before) => {
                        let data = changes(&account_view(&before, &[]), &after);
                        if data["after"].as_object().is_none_or(|m| m.is_empty()) {
                            continue; // only bookkeeping: the entitlement's own event says it
                        }
                        ("account.updated", &account.id, None, data)
                    }
                }
            }
            Write::PutEntitlement(e) => {
                let product = json!({ "product_id": e.product_id, "live": e.live_key.is_some() });
                match find_entitlement(store, &e.account_id, &e.product_id)? {
                    None => (
                        "entitlement.created",
                        &e.account_id,
                        None,
                        changes(&json!({}), &product),
                    ),
                    Some(before) => {
                        let was = json!({ "product_id": before.product_id, "live": before.live_key.is_some() });
                        (
                            "entitlement.updated",
                            &e.account_id,
                            None,
                            changes(&was, &product),
                        )
                    }
                }
            }
            Write::DeleteEntitlement {
                account_id,
                product_id,
            } => (
                "entitlement.deleted",
                account_id,
                None,
                changes(&json!({ "product_id": product_id }), &json!({})),
            ),
            Write::PutKey(stored) => {
                let key = &stored.key;
                let after = key_view(key);
                let before = store.key(&key.id)?.map(|s| s.key);
                let kind = match &before {
                    None => "key.created",
                    Some(b) if b.rolled_to.is_none() && key.rolled_to.is_some() => "key.rolled",
                    Some(b) if b.leaked_at != key.leaked_at => "key.leaked",
                    Some(b)
                        if b.status == KeyStatus::Active && key.status == KeyStatus::Disabled =>
                    {
                        "key.disabled"
                    }
                    Some(b)
                        if b.status == KeyStatus::Disabled && key.status == KeyStatus::Active =>
                    {
                        "key.enabled"
                    }
                    Some(_) => "key.updated",
                };
                let was = before.as_ref().map_or(json!({}), key_view);
                let data = changes(&was, &after);
                if before.is_some() && data["after"].as_object().is_none_or(|m| m.is_empty()) {
                    continue; // nothing a view shows changed: a re-report, a no-op update
                }
                if kind == "key.leaked" && leak_source.is_some() {
                    match reported.iter_mut().find(|(a, _)| *a == key.account_id) {
                        Some((_, ids)) => ids.push(key.id.clone()),
                        None => reported.push((key.account_id.clone(), vec![key.id.clone()])),
                    }
                }
                (kind, &key.account_id, Some(&key.id), data)
            }
            Write::PutUsage { .. } | Write::PutDenial(_) => continue,
            Write::DeleteKey(stored) => (
                "key.deleted",
                &stored.key.account_id,
                Some(&stored.key.id),
                changes(&key_view(&stored.key), &json!({})),
            ),
        };
        events.push(event(principal, cx, mint, kind, account_id, key_id, data)?);
    }
    for (account_id, key_ids) in reported {
        let data = json!({ "before": {}, "after": { "key_ids": key_ids, "source": leak_source } });
        events.push(event(
            principal,
            cx,
            mint,
            "leak.reported",
            &account_id,
            None,
            data,
        )?);
    }
    Ok(events)
}

fn event(
    principal: &Principal,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    kind: &str,
    account_id: &str,
    key_id: Option<&String>,
    data: Value,
) -> Result<Event, Error> {
    Ok(Event {
        id: mint.id("evt_")?,
        kind: kind.to_string(),
        account_id: account_id.to_string(),
        key_id: key_id.cloned(),
        actor: principal.actor(),
        request_id: Some(cx.request_id.to_string()),
        created_at: cx.now,
        data,
    })
}

/// `key.revoked` for a key whose grace period (after a roll or a leak report) has ended: the
/// edge refused it from that second on; this records it for the account.
pub fn grace_ended(key: &ApiKey, mint: &mut impl Mint) -> Result<Event, Error> {
    let why = if key.leaked_at.is_some() {
        "leaked"
    } else if key.rolled_to.is_some() {
        "rolled"
    } else {
        "revoked"
    };
    Ok(Event {
        id: mint.id("evt_")?,
        kind: "key.revoked".into(),
        account_id: key.account_id.clone(),
        key_id: Some(key.id.clone()),
        actor: Actor::Operator,
        request_id: None,
        created_at: key.revoke_at.unwrap_or_default(),
        data: json!({ "before": {}, "after": { "revoke_at": key.revoke_at, "because": why } }),
    })
}

fn decide(
    principal: &Principal,
    command: Command,
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Outcome, Error> {
    let now = cx.now;
    match command {
        Command::CreateAccount { body } => {
            principal.operator_only()?;
            let account = admin::new_account(&body)?.into_account(mint.id("acct_")?, now);
            let view = account_view(&account, &[]);
            Ok(Outcome::json(201, view).with(vec![Write::PutAccount(account)]))
        }
        Command::ListAccounts { page } => {
            // A manager's list is its own account: the console signs a customer in without
            // asking for an account id, and no other tenant's id is revealed.
            if let Principal::Manager(manager) = &principal {
                let account_id = &manager.key.account_id;
                let account = store.account(account_id)?.ok_or_else(account_not_found)?;
                let view = account_view(&account, &store.entitlements(account_id)?);
                return Ok(Outcome::json(200, list(vec![view], false)));
            }
            let (accounts, has_more) = store.accounts(&page)?;
            let data = accounts
                .iter()
                .map(|a| Ok(account_view(a, &store.entitlements(&a.id)?)))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Outcome::json(200, list(data, has_more)))
        }
        Command::GetAccount { account_id } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            let view = account_view(&account, &store.entitlements(&account.id)?);
            Ok(Outcome::json(200, view))
        }
        Command::UpdateAccount { account_id, body } => {
            principal.operator_only()?;
            let patch = admin::account_patch(&body)?;
            let mut account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            patch.apply(&mut account, now);
            let view = account_view(&account, &store.entitlements(&account.id)?);
            Ok(Outcome::json(200, view).with(vec![Write::PutAccount(account)]))
        }
        Command::GetEntitlement {
            account_id,
            product_id,
        } => {
            // A manager reads its own account's product keys: its callers send them.
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let entitlement =
                find_entitlement(store, &account_id, &product_id)?.ok_or_else(not_entitled)?;
            Ok(Outcome::json(200, entitlement_view(&entitlement)))
        }
        Command::Entitle {
            account_id,
            product_id,
        } => {
            principal.operator_only()?;
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            entitle(store, cx, mint, &account, &product_id)
        }
        Command::Withdraw {
            account_id,
            product_id,
        } => {
            principal.operator_only()?;
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            find_entitlement(store, &account_id, &product_id)?.ok_or_else(not_entitled)?;
            Ok(no_content(vec![
                Write::DeleteEntitlement {
                    account_id,
                    product_id,
                },
                touched(&account, now),
            ]))
        }
        Command::CreateKey { account_id, body } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            let account = store.account(&account_id)?.ok_or_else(account_not_found)?;
            let template = admin::new_key(&body, &account, cx.config, now)?.into_template();
            if let Principal::Manager(manager) = &principal {
                delegation::check_environment(manager, template.environment)?;
            }
            let issued = issue(store, cx, mint, &account, template)?;
            if let Principal::Manager(manager) = &principal {
                delegation::check_within(&manager.key, &issued.stored.key)?;
            }
            let view = used_key_view(store, &issued.stored.key)?;
            let body = json!({ "key": view, "secret": issued.secret });
            Ok(Outcome::json(201, body).with(vec![Write::PutKey(issued.stored)]))
        }
        Command::ListKeys { account_id, page } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let (keys, has_more) = store.keys(&account_id, &page)?;
            let data = keys
                .iter()
                .map(|key| used_key_view(store, key))
                .collect::<Result<Vec<_>, Error>>()?;
            Ok(Outcome::json(200, list(data, has_more)))
        }
        Command::GetKey { key_id } => {
            let stored = visible_key(principal, store, &key_id)?;
            Ok(Outcome::json(200, used_key_view(store, &stored.key)?))
        }
        Command::UpdateKey { key_id, body } => {
            let patch = admin::key_patch(&body, cx.config, now)?;
            let stored = managed_key(principal, store, &key_id)?;
            let mut key = stored.key.clone();
            patch.apply(&mut key, now)?;
            match (stored.key.status, key.status) {
                (KeyStatus::Active, KeyStatus::Disabled) => {
                    key.disabled_by = Some(principal.actor())
                }
                (_, KeyStatus::Active) => key.disabled_by = None,
                _ => {}
            }
            if let Principal::Manager(manager) = principal
                && !delegation::only_disables(&stored.key, &key)
            {
                check_reenable(&stored.key, &key)?;
                delegation::check_within(&manager.key, &key)?;
            }
            let view = used_key_view(store, &key)?;
            Ok(Outcome::json(200, view).with(vec![Write::PutKey(StoredKey { key, ..stored })]))
        }
        Command::RollKey { key_id, body } => {
            let grace = admin::roll_grace(body.as_ref())?;
            let stored = managed_key(principal, store, &key_id)?;
            // The successor's secret goes to the caller with the old key's settings.
            if let Principal::Manager(manager) = &principal {
                delegation::check_within(&manager.key, &stored.key)?;
            }
            let account = store
                .account(&stored.key.account_id)?
                .ok_or_else(account_not_found)?;
            let mut old = stored.key.clone();
            // Refusals of the roll itself (revoked, disabled, …) come before the quota.
            admin::roll(&mut old.clone(), "", now, grace)?;
            let mut issued = issue(store, cx, mint, &account, KeyTemplate::from_key(&old))?;
            admin::roll(&mut old, &issued.stored.key.id, now, grace)?;
            // The old key's grace starts with the successor's first use: the edge reports it.
            issued.stored.key.report_first_use = old.grace.is_some();
            let body = json!({
                "key": used_key_view(store, &issued.stored.key)?,
                "secret": issued.secret,
                "previous": used_key_view(store, &old)?,
            });
            // Successor first: should the writes ever be applied one by one, a failure leaves
            // a harmless extra key rather than one pointing at a key that does not exist.
            Ok(Outcome::json(200, body).with(vec![
                Write::PutKey(issued.stored),
                Write::PutKey(StoredKey { key: old, ..stored }),
            ]))
        }
        Command::LeakKey { key_id, body } => {
            let grace = admin::grace_seconds(body.as_ref(), admin::LEAK_GRACE_DEFAULT)?;
            let mut stored = managed_key(principal, store, &key_id)?;
            admin::mark_leaked(&mut stored.key, now, grace);
            let view = used_key_view(store, &stored.key)?;
            Ok(Outcome::json(200, view).with(vec![Write::PutKey(stored)]))
        }
        Command::DeleteKey { key_id } => {
            let stored = managed_key(principal, store, &key_id)?;
            Ok(no_content(vec![Write::DeleteKey(stored)]))
        }
        Command::ListEvents {
            account_id,
            page,
            kind,
            key_id,
        } => {
            if !principal.sees(&account_id) {
                return Err(account_not_found());
            }
            if let Some(kind) = &kind {
                events::check_type(kind)?;
            }
            if key_id.as_deref().is_some_and(str::is_empty) {
                return Err(Error::invalid(vec![FieldError::new(
                    "key_id",
                    "must be a key id (key_…); leave it out for every key",
                )]));
            }
            store.account(&account_id)?.ok_or_else(account_not_found)?;
            let (events, has_more) =
                store.events(&account_id, kind.as_deref(), key_id.as_deref(), &page)?;
            let data = events
                .iter()
                .map(|e| serde_json::to_value(e).unwrap_or(Value::Null))
                .collect();
            Ok(Outcome::json(200, list(data, has_more)))
        }
        Command::GetRequest { request_id } => {
            let unknown = || {
                Error::not_found(
                    "No refused request with this id for your account (refusals are kept 7 \
                     days; requests refused before their key was identified are not recorded).",
                )
            };
            let denial = store.denial(&request_id)?.ok_or_else(unknown)?;
            if !principal.sees(&denial.account_id) {
                return Err(unknown());
            }
            Ok(Outcome::json(200, denial.view()))
        }
        Command::GetDeliveries { event_id } => {
            let unknown = || {
                Error::not_found(
                    "No webhook deliveries for this event id in your account (events are \
                     queued for delivery only while WEBHOOK_URL is set).",
                )
            };
            let log = store.deliveries(&event_id)?.ok_or_else(unknown)?;
            if !principal.sees(&log.account_id) {
                return Err(unknown());
            }
            Ok(Outcome::json(200, log.view()))
        }
        Command::RecordActivity {
            uses,
            denials,
            would_deny,
            exposed: hashes,
            first_uses,
        } => {
            if !matches!(principal, Principal::Edge) {
                return Err(Error::forbidden(
                    "Only the gateway itself reports activity.",
                ));
            }
            let mut outcome = record_activity(store, mint, uses, denials, would_deny)?;
            outcome.writes.extend(exposed(store, now, &hashes)?);
            outcome.writes.extend(first_used(store, &first_uses)?);
            Ok(outcome)
        }
        Command::GithubReport { matches } => {
            if !matches!(principal, Principal::Edge) {
                return Err(Error::forbidden(
                    "Only a report signed by GitHub is accepted.",
                ));
            }
            github_report(store, now, &matches)
        }
        Command::LeakReport { body } => {
            principal.operator_only()?;
            leak_report(store, now, &body)
        }
    }
}

/// A key the principal may see; any other is "not found".
fn visible_key(
    principal: &Principal,
    store: &impl Store,
    key_id: &str,
) -> Result<StoredKey, Error> {
    let stored = store.key(key_id)?.ok_or_else(key_not_found)?;
    if !principal.sees(&stored.key.account_id) {
        return Err(key_not_found());
    }
    Ok(stored)
}

/// A key the principal may change: visible, and of an environment it may manage.
fn managed_key(
    principal: &Principal,
    store: &impl Store,
    key_id: &str,
) -> Result<StoredKey, Error> {
    let stored = visible_key(principal, store, key_id)?;
    if let Principal::Manager(manager) = principal {
        delegation::check_environment(manager, stored.key.environment)?;
    }
    Ok(stored)
}

/// A key the operator disabled stays disabled until the operator re-enables it.
fn check_reenable(before: &ApiKey, after: &ApiKey) -> Result<(), Error> {
    if before.status == KeyStatus::Disabled
        && after.status == KeyStatus::Active
        && before.disabled_by == Some(Actor::Operator)
    {
        return Err(Error::forbidden(
            "This key was disabled by the API provider and can be re-enabled only with the \
             admin token.",
        ));
    }
    Ok(())
}

struct Issued {
    stored: StoredKey,
    secret: String,
}

/// A fresh key from `template`, within the account's key quota. The plaintext secret is
/// returned once, for the answer; only its hash is stored.
fn issue(
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    account: &Account,
    template: KeyTemplate,
) -> Result<Issued, Error> {
    if store.key_count(&account.id)? >= cx.max_keys_per_account {
        return Err(Error::conflict(format!(
            "This account already holds {} keys, the most one account may hold \
             (MAX_KEYS_PER_ACCOUNT). Delete keys it no longer needs (revoked keys count until \
             deleted), then try again.",
            cx.max_keys_per_account
        )));
    }
    let issued = mint.key(KeyKind::Secret, template.environment)?;
    let key = template.into_key(
        mint.id("key_")?,
        &account.id,
        issued.start,
        issued.end,
        cx.now,
    );
    Ok(Issued {
        stored: StoredKey {
            key,
            hash: issued.hash,
        },
        secret: issued.text,
    })
}

fn find_entitlement(
    store: &impl Store,
    account_id: &str,
    product_id: &str,
) -> Result<Option<Entitlement>, Error> {
    Ok(store
        .entitlements(account_id)?
        .into_iter()
        .find(|e| e.product_id == product_id))
}

/// `PUT` on an entitlement: creates it with its product keys (201), or answers the existing
/// one (200), adding the live product key an upgraded agreement now allows.
fn entitle(
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    account: &Account,
    product_id: &str,
) -> Result<Outcome, Error> {
    if cx.config.product(product_id).is_none() {
        return Err(Error::not_found(
            "No product with this id in the gateway configuration.",
        ));
    }
    let wants_live = account.agreement == Agreement::Production;
    let mut product_key = |environment| -> Result<String, Error> {
        Ok(mint.key(KeyKind::Product, environment)?.text)
    };
    if let Some(mut existing) = find_entitlement(store, &account.id, product_id)? {
        if !(wants_live && existing.live_key.is_none()) {
            return Ok(Outcome::json(200, entitlement_view(&existing)));
        }
        existing.live_key = Some(product_key(Environment::Live)?);
        let view = entitlement_view(&existing);
        return Ok(Outcome::json(200, view).with(vec![
            Write::PutEntitlement(existing),
            touched(account, cx.now),
        ]));
    }
    let entitlement = Entitlement {
        account_id: account.id.clone(),
        product_id: product_id.to_string(),
        test_key: product_key(Environment::Test)?,
        live_key: if wants_live {
            Some(product_key(Environment::Live)?)
        } else {
            None
        },
        created_at: cx.now,
    };
    let view = entitlement_view(&entitlement);
    Ok(Outcome::json(201, view).with(vec![
        Write::PutEntitlement(entitlement),
        touched(account, cx.now),
    ]))
}

/// The account, marked changed: its product keys are part of every key's edge record.
fn touched(account: &Account, now: i64) -> Write {
    let mut account = account.clone();
    account.touch(now);
    Write::PutAccount(account)
}

/// Marks every reported token that is one of our secret keys leaked. The answer names tokens
/// only by their display fragments: a report must not become a place secrets are repeated.
fn leak_report(store: &impl Store, now: i64, body: &Value) -> Result<Outcome, Error> {
    let tokens = admin::leak_report(body)?;
    let mut results = Vec::with_capacity(tokens.len());
    // A key reported twice in one report is changed once, from its latest state.
    let mut changed: Vec<StoredKey> = Vec::new();
    for (index, leaked) in tokens.iter().enumerate() {
        let Ok(parsed) = parse_key(&leaked.token) else {
            results.push(json!({ "index": index, "ours": false }));
            continue;
        };
        let fragment = format!("{}…{}", parsed.start(), parsed.end());
        let result = match parsed.kind() {
            KeyKind::Secret => {
                match mark_secret_leaked(store, now, &mut changed, &parsed.hash())? {
                    None => json!({ "index": index, "token": fragment, "ours": false }),
                    Some(key) => json!({
                        "index": index, "token": fragment, "ours": true,
                        "type": "secret_key", "key_id": key.id,
                        "account_id": key.account_id, "revoke_at": key.revoke_at,
                    }),
                }
            }
            // Product keys identify, they do not authenticate: nothing to revoke.
            KeyKind::Product => match store.entitlement_by_product_key(&leaked.token)? {
                Some(e) => json!({
                    "index": index, "token": fragment, "ours": true, "type": "product_key",
                    "account_id": e.account_id, "product_id": e.product_id,
                }),
                None => json!({ "index": index, "token": fragment, "ours": false }),
            },
        };
        results.push(result);
    }
    let body = json!({ "object": "leak_report", "results": results });
    Ok(Outcome::json(200, body).with(changed.into_iter().map(Write::PutKey).collect()))
}

/// Marks the secret key with `hash` leaked (default grace), if it is ours; `changed` holds the
/// keys this command already changed, so a key reported twice is changed once, from its
/// latest state. Returns the key as marked.
fn mark_secret_leaked(
    store: &impl Store,
    now: i64,
    changed: &mut Vec<StoredKey>,
    hash: &KeyHash,
) -> Result<Option<ApiKey>, Error> {
    if let Some(stored) = changed.iter_mut().find(|s| s.hash == *hash) {
        admin::mark_leaked(&mut stored.key, now, admin::LEAK_GRACE_DEFAULT);
        return Ok(Some(stored.key.clone()));
    }
    let Some(mut stored) = store.key_by_hash(hash)? else {
        return Ok(None);
    };
    let before = (stored.key.leaked_at, stored.key.revoke_at);
    admin::mark_leaked(&mut stored.key, now, admin::LEAK_GRACE_DEFAULT);
    let key = stored.key.clone();
    // Reported again (GitHub reports each place a secret turns up): nothing to write.
    if (key.leaked_at, key.revoke_at) != before {
        changed.push(stored);
    }
    Ok(Some(key))
}

/// GitHub's secret-scanning report (signature already verified): every secret key of ours in
/// it is marked leaked; the answer is GitHub's feedback array.
fn github_report(
    store: &impl Store,
    now: i64,
    matches: &[github::Match],
) -> Result<Outcome, Error> {
    let mut changed: Vec<StoredKey> = Vec::new();
    let mut feedback = Vec::with_capacity(matches.len());
    for m in matches {
        let ours = match parse_key(&m.token) {
            Ok(parsed) if parsed.kind() == KeyKind::Secret => {
                mark_secret_leaked(store, now, &mut changed, &parsed.hash())?.is_some()
            }
            _ => false,
        };
        feedback.push(github::feedback(m, ours));
    }
    Ok(Outcome::json(200, Value::Array(feedback))
        .with(changed.into_iter().map(Write::PutKey).collect()))
}

/// Successors used at the edge for the first time: each records it, and the key it replaced
/// starts its "after first use" grace (docs/admin-api.md).
fn first_used(store: &impl Store, uses: &[(String, i64)]) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    for (key_id, at) in uses {
        let Some(mut successor) = store.key(key_id)? else {
            continue;
        };
        if successor.key.first_used_at.is_some() {
            continue; // reported by several isolates: the first report counts
        }
        successor.key.first_used_at = Some(*at);
        successor.key.report_first_use = false;
        if let Some(mut old) = store.predecessor(key_id)? {
            admin::successor_used(&mut old.key, *at);
            writes.push(Write::PutKey(old));
        }
        writes.push(Write::PutKey(successor));
    }
    Ok(writes)
}

/// A secret key sent over plain HTTP to a deployment that requires HTTPS: it crossed a network
/// in clear, so it is marked leaked (default grace), once.
fn exposed(store: &impl Store, now: i64, hashes: &[KeyHash]) -> Result<Vec<Write>, Error> {
    let mut changed: Vec<StoredKey> = Vec::new();
    for hash in hashes {
        let already = changed.iter().any(|s| s.hash == *hash);
        let leaked = already
            || store
                .key_by_hash(hash)?
                .is_none_or(|stored| stored.key.leaked_at.is_some());
        if !leaked {
            mark_secret_leaked(store, now, &mut changed, hash)?;
        }
    }
    Ok(changed.into_iter().map(Write::PutKey).collect())
}

/// A key's view with its usage (`last_used_at`, `last_used_ip`, `ips_seen`): every answer
/// that shows a key shows the same fields.
fn used_key_view(store: &impl Store, key: &ApiKey) -> Result<Value, Error> {
    let mut view = key_view(key);
    let usage = store.usage(&key.id)?.unwrap_or_default();
    if let Some(object) = view.as_object_mut() {
        for (name, value) in usage.view_fields() {
            object.insert(name.into(), value);
        }
    }
    Ok(view)
}

/// Usage merged into what is stored, refusals kept for lookup, and one `ip.would_deny` event
/// per key and address per hour. Reports about keys that no longer exist are dropped.
fn record_activity(
    store: &impl Store,
    mint: &mut impl Mint,
    uses: Vec<KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
) -> Result<Outcome, Error> {
    let mut writes = Vec::new();
    let mut merged: Vec<(String, Usage)> = Vec::new();
    for report in &uses {
        if store.key(&report.key_id)?.is_none() {
            continue;
        }
        let i = match merged.iter().position(|(k, _)| *k == report.key_id) {
            Some(i) => i,
            None => {
                let stored = store.usage(&report.key_id)?.unwrap_or_default();
                merged.push((report.key_id.clone(), stored));
                merged.len() - 1
            }
        };
        merged[i].1.merge(report);
    }
    writes.extend(
        merged
            .into_iter()
            .map(|(key_id, usage)| Write::PutUsage { key_id, usage }),
    );
    writes.extend(denials.into_iter().map(Write::PutDenial));
    let mut events: Vec<Event> = Vec::new();
    for report in would_deny {
        let since = report.at - WOULD_DENY_DEDUP_SECONDS;
        let seen_now = events.iter().any(|e| {
            e.key_id.as_deref() == Some(report.key_id.as_str())
                && e.data["after"]["ip"] == report.ip
        });
        if seen_now || store.would_deny_since(&report.key_id, &report.ip, since)? {
            continue;
        }
        events.push(Event {
            id: mint.id("evt_")?,
            kind: "ip.would_deny".into(),
            account_id: report.account_id,
            key_id: Some(report.key_id.clone()),
            actor: Actor::Key {
                key_id: report.key_id,
            },
            request_id: Some(report.request_id),
            created_at: report.at,
            data: json!({ "before": {}, "after": { "ip": report.ip } }),
        });
    }
    Ok(Outcome {
        status: 204,
        body: None,
        writes,
        events,
    })
}

fn list(data: Vec<Value>, has_more: bool) -> Value {
    serde_json::to_value(ListPage::new(data, has_more)).unwrap_or(Value::Null)
}

fn no_content(writes: Vec<Write>) -> Outcome {
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
