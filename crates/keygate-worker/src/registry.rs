//! The `Registry` Durable Object: the system of record for accounts, entitlements and keys
//! (SQLite storage), and the only writer of the edge's KV records.
//!
//! Every change runs under one [`WriteLock`]: the SQL change is applied synchronously (atomic
//! in a Durable Object), the affected key hashes are queued in `kv_outbox` in the same step,
//! then the outbox is written through to KV. A KV failure leaves the hashes queued and an
//! alarm retries, so KV converges to SQL and never runs ahead of it. See docs/storage.md.

use crate::config::gateway_config;
use crate::demo;
use crate::durable;
use crate::http::{error_response, raw_json_response};
use crate::keystore::{self, EdgeUpdate, KV_BINDING};
use crate::lock::WriteLock;
use keygate_core::admin;
use keygate_core::ids::new_id;
use keygate_core::keys::{Environment, IssuedKey, KeyHash, KeyKind, generate_key, parse_key};
use keygate_core::model::{Account, Agreement, ApiKey, EdgeRecord, ProductKeyRef};
use keygate_core::page::{ListPage, PageParams};
use keygate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::cell::Cell;
use worker::{
    DurableObject, Env, Request, Response, SqlStorage, SqlStorageValue, State, durable_object,
};

pub const DO_BINDING: &str = "REGISTRY";
/// One registry for the deployment: admin writes are rare, and one object gives global
/// uniqueness, listing and leak lookups by hash without cross-object coordination.
const REGISTRY_NAME: &str = "registry";
const OUTBOX_RETRY_MS: i64 = 10_000;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Principal {
    Operator,
    /// A key with `keys:manage`: its account, the scopes it may hand on, and its environment.
    KeyManager {
        account_id: String,
        scopes: Vec<String>,
        environment: Environment,
    },
}

#[derive(Debug, Serialize, Deserialize)]
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
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub principal: Principal,
    pub now: i64,
    pub demo_seed: bool,
    pub command: Command,
}

/// The Registry's answer: the HTTP response to relay, plus the edge records it changed so
/// the calling isolate can refresh its cache at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub status: u16,
    pub body: Option<String>,
    pub headers: Vec<(String, String)>,
    pub edge: Vec<EdgeUpdate>,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            body: Some(value.to_string()),
            headers: Vec::new(),
            edge: Vec::new(),
        }
    }

    fn no_content() -> Self {
        Self {
            status: 204,
            body: None,
            headers: Vec::new(),
            edge: Vec::new(),
        }
    }

    fn error(error: &Error) -> Self {
        Self {
            status: error.status,
            body: Some(error.to_json()),
            headers: error
                .headers()
                .into_iter()
                .filter(|(name, _)| *name != "Content-Type")
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            edge: Vec::new(),
        }
    }

    pub fn into_response(self) -> Response {
        let mut response = match self.body {
            Some(body) => raw_json_response(self.status, body.into_bytes()),
            None => Response::builder().with_status(self.status).empty(),
        };
        for (name, value) in &self.headers {
            let _ = response.headers_mut().set(name, value);
        }
        response
    }
}

fn store_unavailable() -> Error {
    Error::unavailable("The key registry is not available. Retry later.")
}

/// Sends one command to the Registry and returns its reply.
pub async fn call(env: &Env, envelope: &Envelope) -> Result<Reply, Error> {
    durable::call(env, DO_BINDING, REGISTRY_NAME, envelope, store_unavailable).await
}

#[durable_object]
pub struct Registry {
    state: State,
    env: Env,
    lock: WriteLock,
    schema_ready: Cell<bool>,
}

impl DurableObject for Registry {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            lock: WriteLock::default(),
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let envelope: Envelope = req.json().await?;
        let reply = match self.execute(envelope).await {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        };
        Response::from_json(&reply)
    }

    async fn alarm(&self) -> worker::Result<Response> {
        let _guard = self.lock.acquire().await;
        if let Err(error) = self.ensure_schema() {
            return Ok(error_response(&error));
        }
        self.flush().await;
        Response::ok("flushed")
    }
}

/// Rows read back from SQLite.
#[derive(Deserialize)]
struct Doc {
    doc: String,
}

#[derive(Deserialize)]
struct KeyRow {
    doc: String,
    hash: String,
}

#[derive(Deserialize)]
struct HashRow {
    hash: String,
}

#[derive(Deserialize)]
struct Seq {
    seq: i64,
}

#[derive(Deserialize, Clone)]
struct EntitlementRow {
    account_id: String,
    product_id: String,
    test_key: String,
    live_key: Option<String>,
    created_at: i64,
}

impl EntitlementRow {
    fn view(&self) -> Value {
        json!({
            "object": "entitlement",
            "account_id": self.account_id,
            "product_id": self.product_id,
            "product_keys": { "test": self.test_key, "live": self.live_key },
            "created_at": self.created_at,
        })
    }
}

fn sql_error(_: worker::Error) -> Error {
    store_unavailable()
}

fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, Error> {
    serde_json::from_str(doc).map_err(|_| Error::internal())
}

fn to_doc<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

fn view<T: Serialize>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value).map_err(|_| Error::internal())
}

fn account_not_found() -> Error {
    Error::not_found("No account with this id.")
}

fn key_not_found() -> Error {
    Error::not_found("No API key with this id.")
}

fn operator_only(principal: &Principal) -> Result<(), Error> {
    match principal {
        Principal::Operator => Ok(()),
        Principal::KeyManager { .. } => Err(Error::forbidden(
            "This endpoint needs the operator's admin token; a `keys:manage` key may only manage \
             its own account's keys.",
        )),
    }
}

/// A `keys:manage` key sees only its own account: anything else is "not found".
fn visible(principal: &Principal, account_id: &str) -> bool {
    match principal {
        Principal::Operator => true,
        Principal::KeyManager {
            account_id: own, ..
        } => own == account_id,
    }
}

/// A key manager may only grant scopes it holds itself, so `keys:manage` cannot mint a `*` key.
fn check_grantable(principal: &Principal, requested: Option<&[String]>) -> Result<(), Error> {
    match (principal, requested) {
        (Principal::KeyManager { scopes, .. }, Some(requested)) => {
            admin::check_delegation(scopes, requested)
        }
        _ => Ok(()),
    }
}

/// A test key with `keys:manage` may change test keys only: test keys sit in CI settings and on
/// laptops, and must not be a way to mint or take over live credentials.
fn check_manageable(principal: &Principal, environment: Environment) -> Result<(), Error> {
    match principal {
        Principal::KeyManager {
            environment: Environment::Test,
            ..
        } if environment == Environment::Live => Err(Error::forbidden(
            "A test key can manage only test keys. Use a live key with `keys:manage`, or the \
             admin token.",
        )),
        _ => Ok(()),
    }
}

impl Registry {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn exec(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<worker::SqlCursor, Error> {
        self.sql().exec(query, bindings).map_err(sql_error)
    }

    fn rows<T: serde::de::DeserializeOwned>(
        &self,
        query: &str,
        bindings: Vec<SqlStorageValue>,
    ) -> Result<Vec<T>, Error> {
        self.exec(query, bindings)?.to_array().map_err(sql_error)
    }

    fn ensure_schema(&self) -> Result<(), Error> {
        if self.schema_ready.get() {
            return Ok(());
        }
        for statement in [
            "CREATE TABLE IF NOT EXISTS accounts (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS api_keys (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account_id, seq)",
            "CREATE TABLE IF NOT EXISTS entitlements (
                account_id TEXT NOT NULL, product_id TEXT NOT NULL, test_key TEXT NOT NULL,
                live_key TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (account_id, product_id))",
            "CREATE TABLE IF NOT EXISTS kv_outbox (hash TEXT PRIMARY KEY)",
        ] {
            self.exec(statement, Vec::new())?;
        }
        self.schema_ready.set(true);
        Ok(())
    }

    async fn execute(&self, envelope: Envelope) -> Result<Reply, Error> {
        let _guard = self.lock.acquire().await;
        self.ensure_schema()?;
        // Anything a failed write-through left behind goes out before new work.
        let mut edge = self.flush().await;
        if envelope.demo_seed {
            demo::seed(self, envelope.now)?;
            edge.extend(self.flush().await);
        }
        let mut reply = match self.run(&envelope.principal, envelope.command, envelope.now) {
            Ok(reply) => reply,
            Err(error) => Reply::error(&error),
        };
        edge.extend(self.flush().await);
        reply.edge = edge;
        Ok(reply)
    }

    fn run(&self, principal: &Principal, command: Command, now: i64) -> Result<Reply, Error> {
        match command {
            Command::CreateAccount { body } => {
                operator_only(principal)?;
                let account = admin::new_account(&body)?.into_account(new_id("acct_")?, now);
                self.insert_account(&account)?;
                Ok(Reply::json(201, &self.account_view(&account)?))
            }
            Command::ListAccounts { page } => {
                operator_only(principal)?;
                let (docs, has_more) = self.page_rows("accounts", None, &page)?;
                let data = docs
                    .iter()
                    .map(|doc| parse_doc::<Account>(doc).and_then(|a| self.account_view(&a)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Reply::json(200, &view(&ListPage::new(data, has_more))?))
            }
            Command::GetAccount { account_id } => {
                operator_only(principal)?;
                let account = self.account(&account_id)?.ok_or_else(account_not_found)?;
                Ok(Reply::json(200, &self.account_view(&account)?))
            }
            Command::UpdateAccount { account_id, body } => {
                operator_only(principal)?;
                let patch = admin::account_patch(&body)?;
                let mut account = self.account(&account_id)?.ok_or_else(account_not_found)?;
                patch.apply(&mut account, now);
                self.save_account(&account)?;
                self.queue_account_keys(&account.id)?;
                Ok(Reply::json(200, &self.account_view(&account)?))
            }
            Command::GetEntitlement {
                account_id,
                product_id,
            } => {
                operator_only(principal)?;
                self.account(&account_id)?.ok_or_else(account_not_found)?;
                let row = self.entitlement(&account_id, &product_id)?.ok_or_else(|| {
                    Error::not_found("This account is not entitled to this product.")
                })?;
                Ok(Reply::json(200, &row.view()))
            }
            Command::Entitle {
                account_id,
                product_id,
            } => {
                operator_only(principal)?;
                let account = self.account(&account_id)?.ok_or_else(account_not_found)?;
                self.entitle(&account, &product_id, now)
            }
            Command::Withdraw {
                account_id,
                product_id,
            } => {
                operator_only(principal)?;
                self.account(&account_id)?.ok_or_else(account_not_found)?;
                self.entitlement(&account_id, &product_id)?.ok_or_else(|| {
                    Error::not_found("This account is not entitled to this product.")
                })?;
                self.exec(
                    "DELETE FROM entitlements WHERE account_id = ? AND product_id = ?",
                    vec![account_id.as_str().into(), product_id.as_str().into()],
                )?;
                self.queue_account_keys(&account_id)?;
                Ok(Reply::no_content())
            }
            Command::CreateKey { account_id, body } => {
                if !visible(principal, &account_id) {
                    return Err(account_not_found());
                }
                let account = self.account(&account_id)?.ok_or_else(account_not_found)?;
                let new = admin::new_key(&body, &account, gateway_config()?, now)?;
                check_grantable(principal, Some(&new.template.scopes))?;
                check_manageable(principal, new.template.environment)?;
                let (key, secret, hash) = self.issue_key(&account, new.into_template(), now)?;
                self.insert_key(&key, &hash)?;
                Ok(Reply::json(
                    201,
                    &json!({ "key": view(&key)?, "secret": secret }),
                ))
            }
            Command::ListKeys { account_id, page } => {
                if !visible(principal, &account_id) {
                    return Err(account_not_found());
                }
                self.account(&account_id)?.ok_or_else(account_not_found)?;
                let (docs, has_more) = self.page_rows("api_keys", Some(&account_id), &page)?;
                let data = docs
                    .iter()
                    .map(|doc| parse_doc::<ApiKey>(doc).and_then(|k| view(&k)))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Reply::json(200, &view(&ListPage::new(data, has_more))?))
            }
            Command::GetKey { key_id } => {
                let (key, _) = self.visible_key(principal, &key_id)?;
                Ok(Reply::json(200, &view(&key)?))
            }
            Command::UpdateKey { key_id, body } => {
                let patch = admin::key_patch(&body, gateway_config()?, now)?;
                let (mut key, hash) = self.managed_key(principal, &key_id)?;
                check_grantable(principal, patch.scopes.as_deref())?;
                patch.apply(&mut key, now)?;
                self.save_key(&key, &hash)?;
                Ok(Reply::json(200, &view(&key)?))
            }
            Command::RollKey { key_id, body } => {
                let grace = admin::grace_seconds(body.as_ref(), admin::ROLL_GRACE_DEFAULT)?;
                let (mut old, old_hash) = self.managed_key(principal, &key_id)?;
                // The successor's secret goes to the caller with the old key's scopes.
                check_grantable(principal, Some(&old.scopes))?;
                let account = self
                    .account(&old.account_id)?
                    .ok_or_else(account_not_found)?;
                let (successor, secret, hash) =
                    self.issue_key(&account, admin::KeyTemplate::from_key(&old), now)?;
                admin::roll(&mut old, &successor.id, now, grace)?;
                // Successor first: should the second write fail, the old key is untouched
                // rather than pointing at a key that does not exist.
                self.insert_key(&successor, &hash)?;
                self.save_key(&old, &old_hash)?;
                Ok(Reply::json(
                    200,
                    &json!({ "key": view(&successor)?, "secret": secret, "previous": view(&old)? }),
                ))
            }
            Command::LeakKey { key_id, body } => {
                let grace = admin::grace_seconds(body.as_ref(), admin::LEAK_GRACE_DEFAULT)?;
                let (mut key, hash) = self.managed_key(principal, &key_id)?;
                admin::mark_leaked(&mut key, now, grace);
                self.save_key(&key, &hash)?;
                Ok(Reply::json(200, &view(&key)?))
            }
            Command::DeleteKey { key_id } => {
                let (_, hash) = self.managed_key(principal, &key_id)?;
                self.exec(
                    "DELETE FROM api_keys WHERE id = ?",
                    vec![key_id.as_str().into()],
                )?;
                self.queue(&hash)?;
                Ok(Reply::no_content())
            }
            Command::LeakReport { body } => {
                operator_only(principal)?;
                let tokens = admin::leak_report(&body)?;
                let mut results = Vec::with_capacity(tokens.len());
                for (index, leaked) in tokens.iter().enumerate() {
                    results.push(self.report_leak(index, &leaked.token, now)?);
                }
                Ok(Reply::json(
                    200,
                    &json!({ "object": "leak_report", "results": results }),
                ))
            }
        }
    }

    /// Marks one reported token leaked if it is a secret key of ours. The answer names the
    /// token only by its display fragments: a report must not become a place secrets repeat.
    fn report_leak(&self, index: usize, token: &str, now: i64) -> Result<Value, Error> {
        let Ok(parsed) = parse_key(token) else {
            return Ok(json!({ "index": index, "ours": false }));
        };
        let fragment = format!("{}…{}", parsed.start(), parsed.end());
        match parsed.kind() {
            KeyKind::Secret => {
                let hash = parsed.hash();
                let Some((mut key, _)) = self.key_by_hash(&hash)? else {
                    return Ok(json!({ "index": index, "token": fragment, "ours": false }));
                };
                admin::mark_leaked(&mut key, now, admin::LEAK_GRACE_DEFAULT);
                self.save_key(&key, &hash)?;
                Ok(json!({
                    "index": index, "token": fragment, "ours": true, "type": "secret_key",
                    "key_id": key.id, "account_id": key.account_id, "revoke_at": key.revoke_at,
                }))
            }
            KeyKind::Product => {
                let column = match parsed.environment() {
                    Environment::Test => "test_key",
                    Environment::Live => "live_key",
                };
                let found: Vec<EntitlementRow> = self.rows(
                    &format!("SELECT * FROM entitlements WHERE {column} = ?"),
                    vec![token.into()],
                )?;
                Ok(match found.first() {
                    // Product keys identify, they do not authenticate: nothing to revoke.
                    Some(row) => json!({
                        "index": index, "token": fragment, "ours": true, "type": "product_key",
                        "account_id": row.account_id, "product_id": row.product_id,
                    }),
                    None => json!({ "index": index, "token": fragment, "ours": false }),
                })
            }
        }
    }

    fn entitle(&self, account: &Account, product_id: &str, now: i64) -> Result<Reply, Error> {
        if gateway_config()?.product(product_id).is_none() {
            return Err(Error::not_found(
                "No product with this id in the gateway configuration.",
            ));
        }
        let wants_live = account.agreement == Agreement::Production;
        if let Some(mut row) = self.entitlement(&account.id, product_id)? {
            if wants_live && row.live_key.is_none() {
                let live = generate_key(KeyKind::Product, Environment::Live)?;
                self.exec(
                    "UPDATE entitlements SET live_key = ? WHERE account_id = ? AND product_id = ?",
                    vec![
                        live.as_str().into(),
                        account.id.as_str().into(),
                        product_id.into(),
                    ],
                )?;
                row.live_key = Some(live);
                self.queue_account_keys(&account.id)?;
            }
            return Ok(Reply::json(200, &row.view()));
        }
        let row = EntitlementRow {
            account_id: account.id.clone(),
            product_id: product_id.to_string(),
            test_key: generate_key(KeyKind::Product, Environment::Test)?,
            live_key: if wants_live {
                Some(generate_key(KeyKind::Product, Environment::Live)?)
            } else {
                None
            },
            created_at: now,
        };
        self.insert_entitlement(&row)?;
        self.queue_account_keys(&account.id)?;
        Ok(Reply::json(201, &row.view()))
    }

    fn insert_entitlement(&self, row: &EntitlementRow) -> Result<(), Error> {
        self.exec(
            "INSERT INTO entitlements (account_id, product_id, test_key, live_key, created_at)
             VALUES (?, ?, ?, ?, ?)",
            vec![
                row.account_id.as_str().into(),
                row.product_id.as_str().into(),
                row.test_key.as_str().into(),
                row.live_key.clone().into(),
                row.created_at.into(),
            ],
        )?;
        Ok(())
    }

    /// A fresh secret for `template`'s settings. Returns the record, the plaintext (shown
    /// once, in this response only) and the hash that is all we keep.
    fn issue_key(
        &self,
        account: &Account,
        template: admin::KeyTemplate,
        now: i64,
    ) -> Result<(ApiKey, String, KeyHash), Error> {
        let issued = IssuedKey::generate(KeyKind::Secret, template.environment)?;
        let key = template.into_key(new_id("key_")?, &account.id, issued.start, issued.end, now);
        Ok((key, issued.text, issued.hash))
    }

    pub(crate) fn account(&self, id: &str) -> Result<Option<Account>, Error> {
        let docs: Vec<Doc> = self.rows("SELECT doc FROM accounts WHERE id = ?", vec![id.into()])?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    pub(crate) fn insert_account(&self, account: &Account) -> Result<(), Error> {
        self.exec(
            "INSERT INTO accounts (id, doc) VALUES (?, ?)",
            vec![account.id.as_str().into(), to_doc(account)?.into()],
        )?;
        Ok(())
    }

    fn save_account(&self, account: &Account) -> Result<(), Error> {
        self.exec(
            "UPDATE accounts SET doc = ? WHERE id = ?",
            vec![to_doc(account)?.into(), account.id.as_str().into()],
        )?;
        Ok(())
    }

    fn account_view(&self, account: &Account) -> Result<Value, Error> {
        let mut value = view(account)?;
        let products: Vec<String> = self
            .entitlements(&account.id)?
            .into_iter()
            .map(|row| row.product_id)
            .collect();
        if let Some(object) = value.as_object_mut() {
            object.insert("products".into(), json!(products));
        }
        Ok(value)
    }

    fn entitlement(
        &self,
        account_id: &str,
        product_id: &str,
    ) -> Result<Option<EntitlementRow>, Error> {
        let rows: Vec<EntitlementRow> = self.rows(
            "SELECT * FROM entitlements WHERE account_id = ? AND product_id = ?",
            vec![account_id.into(), product_id.into()],
        )?;
        Ok(rows.into_iter().next())
    }

    fn entitlements(&self, account_id: &str) -> Result<Vec<EntitlementRow>, Error> {
        self.rows(
            "SELECT * FROM entitlements WHERE account_id = ? ORDER BY product_id",
            vec![account_id.into()],
        )
    }

    pub(crate) fn insert_entitlement_row(
        &self,
        account_id: &str,
        product_id: &str,
        test_key: &str,
        now: i64,
    ) -> Result<(), Error> {
        self.insert_entitlement(&EntitlementRow {
            account_id: account_id.into(),
            product_id: product_id.into(),
            test_key: test_key.into(),
            live_key: None,
            created_at: now,
        })
    }

    pub(crate) fn insert_key(&self, key: &ApiKey, hash: &KeyHash) -> Result<(), Error> {
        self.exec(
            "INSERT INTO api_keys (id, account_id, hash, doc) VALUES (?, ?, ?, ?)",
            vec![
                key.id.as_str().into(),
                key.account_id.as_str().into(),
                hash.to_hex().into(),
                to_doc(key)?.into(),
            ],
        )?;
        self.queue(hash)
    }

    fn save_key(&self, key: &ApiKey, hash: &KeyHash) -> Result<(), Error> {
        self.exec(
            "UPDATE api_keys SET doc = ? WHERE id = ?",
            vec![to_doc(key)?.into(), key.id.as_str().into()],
        )?;
        self.queue(hash)
    }

    /// A key the principal may change: visible to it, and of an environment it may manage.
    fn managed_key(&self, principal: &Principal, key_id: &str) -> Result<(ApiKey, KeyHash), Error> {
        let (key, hash) = self.visible_key(principal, key_id)?;
        check_manageable(principal, key.environment)?;
        Ok((key, hash))
    }

    fn visible_key(&self, principal: &Principal, key_id: &str) -> Result<(ApiKey, KeyHash), Error> {
        let rows: Vec<KeyRow> = self.rows(
            "SELECT doc, hash FROM api_keys WHERE id = ?",
            vec![key_id.into()],
        )?;
        let row = rows.first().ok_or_else(key_not_found)?;
        let key: ApiKey = parse_doc(&row.doc)?;
        if !visible(principal, &key.account_id) {
            return Err(key_not_found());
        }
        Ok((
            key,
            KeyHash::from_hex(&row.hash).ok_or_else(Error::internal)?,
        ))
    }

    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<(ApiKey, String)>, Error> {
        let rows: Vec<KeyRow> = self.rows(
            "SELECT doc, hash FROM api_keys WHERE hash = ?",
            vec![hash.to_hex().into()],
        )?;
        rows.first()
            .map(|row| Ok((parse_doc(&row.doc)?, row.hash.clone())))
            .transpose()
    }

    /// One page of `table` in creation order, optionally within one account.
    fn page_rows(
        &self,
        table: &str,
        account_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<String>, bool), Error> {
        let mut filter = String::from("1 = 1");
        let mut bindings: Vec<SqlStorageValue> = Vec::new();
        if let Some(account_id) = account_id {
            filter.push_str(" AND account_id = ?");
            bindings.push(account_id.into());
        }
        if let Some(after) = &page.starting_after {
            let mut seq_bindings = bindings.clone();
            seq_bindings.push(after.as_str().into());
            let seqs: Vec<Seq> = self.rows(
                &format!("SELECT seq FROM {table} WHERE {filter} AND id = ?"),
                seq_bindings,
            )?;
            let seq = seqs.first().ok_or_else(|| {
                Error::invalid(vec![FieldError::new(
                    "starting_after",
                    "no object with this id in the list",
                )])
            })?;
            filter.push_str(" AND seq > ?");
            bindings.push(seq.seq.into());
        }
        bindings.push((page.limit as i64 + 1).into());
        let docs: Vec<Doc> = self.rows(
            &format!("SELECT doc FROM {table} WHERE {filter} ORDER BY seq LIMIT ?"),
            bindings,
        )?;
        let has_more = docs.len() > page.limit;
        Ok((
            docs.into_iter().take(page.limit).map(|d| d.doc).collect(),
            has_more,
        ))
    }

    fn queue(&self, hash: &KeyHash) -> Result<(), Error> {
        self.exec(
            "INSERT OR IGNORE INTO kv_outbox (hash) VALUES (?)",
            vec![hash.to_hex().into()],
        )?;
        Ok(())
    }

    /// Every key of the account carries a copy of the account in its edge record.
    fn queue_account_keys(&self, account_id: &str) -> Result<(), Error> {
        self.exec(
            "INSERT OR IGNORE INTO kv_outbox (hash) SELECT hash FROM api_keys WHERE account_id = ?",
            vec![account_id.into()],
        )?;
        Ok(())
    }

    /// The edge record for `hash` as SQL has it now; `None` when the key no longer exists.
    fn edge_record(&self, hash: &str) -> Result<Option<EdgeRecord>, Error> {
        let rows: Vec<Doc> =
            self.rows("SELECT doc FROM api_keys WHERE hash = ?", vec![hash.into()])?;
        let Some(row) = rows.first() else {
            return Ok(None);
        };
        let key: ApiKey = parse_doc(&row.doc)?;
        let Some(account) = self.account(&key.account_id)? else {
            return Ok(None);
        };
        let mut product_keys = Vec::new();
        for row in self.entitlements(&account.id)? {
            let keys = [
                (Environment::Test, Some(&row.test_key)),
                (Environment::Live, row.live_key.as_ref()),
            ];
            for (environment, text) in keys {
                if let Some(parsed) = text.and_then(|t| parse_key(t).ok()) {
                    product_keys.push(ProductKeyRef {
                        product_id: row.product_id.clone(),
                        environment,
                        hash: parsed.hash(),
                    });
                }
            }
        }
        Ok(Some(EdgeRecord {
            key,
            account,
            product_keys,
        }))
    }

    /// Writes every queued hash's current record to KV (or deletes it). Returns what changed
    /// so the caller's isolate can update its cache even if KV is slow to converge.
    async fn flush(&self) -> Vec<EdgeUpdate> {
        let mut updates = Vec::new();
        let Ok(queued) = self.rows::<HashRow>("SELECT hash FROM kv_outbox", Vec::new()) else {
            return updates;
        };
        if queued.is_empty() {
            return updates;
        }
        let Ok(kv) = self.env.kv(KV_BINDING) else {
            self.retry_later().await;
            return updates;
        };
        let mut failed = false;
        for HashRow { hash: hex } in queued {
            let Some(hash) = KeyHash::from_hex(&hex) else {
                continue;
            };
            let record = match self.edge_record(&hex) {
                Ok(record) => record,
                Err(_) => {
                    failed = true;
                    continue;
                }
            };
            let kv_key = keystore::kv_key(&hash);
            let written = match &record {
                Some(record) => match serde_json::to_string(record) {
                    Ok(text) => match kv.put(&kv_key, text) {
                        Ok(put) => put.execute().await.is_ok(),
                        Err(_) => false,
                    },
                    Err(_) => false,
                },
                None => kv.delete(&kv_key).await.is_ok(),
            };
            if written {
                let _ = self.exec(
                    "DELETE FROM kv_outbox WHERE hash = ?",
                    vec![hex.as_str().into()],
                );
            } else {
                failed = true;
            }
            updates.push(EdgeUpdate { hash, record });
        }
        if failed {
            self.retry_later().await;
        }
        updates
    }

    async fn retry_later(&self) {
        let _ = self.state.storage().set_alarm(OUTBOX_RETRY_MS).await;
    }
}
