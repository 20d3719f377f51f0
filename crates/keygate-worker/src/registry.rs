//! The `Registry` Durable Object: the system of record for accounts, entitlements and keys
//! (SQLite storage), and the only writer of the edge's KV records.
//!
//! It decides nothing: `keygate_core::engine` does, over [`SqlStore`]. This file reads rows,
//! applies the engine's writes in one `transactionSync` (all or nothing, together with the
//! outbox rows of the edge records they change), and writes the outbox through to KV.
//!
//! Write-through is bounded so that no tenant stalls another (docs/storage.md): a command
//! flushes the records of the keys it wrote itself, then at most [`FLUSH_BATCH`] of any
//! backlog; an account-wide change (a suspension of an account with 10,000 keys) leaves its
//! keys in the outbox, and the alarm drains them a batch per turn of the lock, so other
//! commands interleave. The isolate that served a write updates its cache from the reply at
//! once, account-wide changes included ([`EdgeUpdate::Account`]).

use crate::config::gateway_config;
use crate::demo;
use crate::durable;
use crate::http::{error_response, raw_json_response};
use crate::keystore::{self, EdgeUpdate, KV_BINDING};
use crate::lock::WriteLock;
use crate::random::PlatformRandom;
use crate::revocations;
use crate::settings;
use futures_util::future::{Either, select};
use keygate_core::engine::{
    self, Caller, Command, Context, DENIAL_RETENTION_SECONDS, Denial, EdgeScope, Event, RandomMint,
    Store, StoredKey, Usage, Write, WriteRate,
};
use keygate_core::keys::KeyHash;
use keygate_core::model::{Account, ApiKey, Entitlement};
use keygate_core::page::PageParams;
use keygate_core::webhook;
use keygate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::time::Duration;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::{
    Delay, DurableObject, Env, Fetch, Headers, Method, Request, RequestInit, RequestRedirect,
    Response, SqlStorage, SqlStorageValue, State, durable_object, js_sys,
};

pub const DO_BINDING: &str = "REGISTRY";
/// One registry for the deployment: admin writes are rare, and one object gives global
/// uniqueness, listing and leak lookups by hash without cross-object coordination.
const REGISTRY_NAME: &str = "registry";
const OUTBOX_RETRY_MS: i64 = 10_000;
/// Edge records written through per turn of the lock, beyond a command's own keys.
pub const FLUSH_BATCH: usize = 25;

/// Tenant limits, from the worker's variables (docs/admin-api.md).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    pub max_keys_per_account: usize,
    pub manager_writes_per_minute: u32,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub caller: Caller,
    pub now: i64,
    pub demo_seed: bool,
    pub limits: Limits,
    /// Local development and tests only (`REQUIRE_HTTPS=false`): fail the transaction after
    /// this many writes, to prove that a command is applied all or nothing.
    pub fail_after_writes: Option<usize>,
    /// The admin request's id, recorded in the command's events.
    pub request_id: String,
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

#[wasm_bindgen]
extern "C" {
    /// The storage object's `transactionSync`, which workers-rs 0.8.7 does not bind.
    #[wasm_bindgen(extends = js_sys::Object)]
    type TransactionalStorage;

    #[wasm_bindgen(method, catch, js_name = transactionSync)]
    fn transaction_sync(
        this: &TransactionalStorage,
        work: &js_sys::Function,
    ) -> Result<JsValue, JsValue>;
}

#[durable_object]
pub struct Registry {
    state: Rc<State>,
    env: Env,
    lock: WriteLock,
    schema_ready: Cell<bool>,
    manager_writes: RefCell<WriteRate>,
}

impl DurableObject for Registry {
    fn new(state: State, env: Env) -> Self {
        Self {
            state: Rc::new(state),
            env,
            lock: WriteLock::default(),
            schema_ready: Cell::new(false),
            manager_writes: RefCell::default(),
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
        let now = (worker::Date::now().as_millis() / 1000) as i64;
        {
            let _guard = self.lock.acquire().await;
            if let Err(error) = self.ensure_schema() {
                return Ok(error_response(&error));
            }
            self.publish_outbox().await;
            self.flush(&[]).await;
            if let Err(error) = self.sweep_grace_ends(now, self.webhooks().is_some()) {
                worker::console_error!("grace sweep: {} {}", error.status, error.message);
            }
            self.schedule_sweep(now).await;
        }
        // Outside the lock: a slow receiver must not hold up admin commands.
        self.deliver_webhooks().await;
        Response::ok("flushed")
    }
}

impl Registry {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    fn ensure_schema(&self) -> Result<(), Error> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.sql();
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
            "CREATE TABLE IF NOT EXISTS revocation_outbox (
                seq INTEGER PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
                key_id TEXT, type TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS events_by_account ON events (account_id, seq)",
            "CREATE INDEX IF NOT EXISTS events_by_time ON events (created_at)",
            "CREATE INDEX IF NOT EXISTS events_by_key ON events (key_id, type, created_at)",
            "CREATE TABLE IF NOT EXISTS usage (key_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS denials (
                request_id TEXT PRIMARY KEY, account_id TEXT NOT NULL, at INTEGER NOT NULL,
                doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS denials_by_time ON denials (at)",
            "CREATE TABLE IF NOT EXISTS webhook_outbox (
                seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, account_id TEXT NOT NULL,
                body TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL,
                delivered_at INTEGER, last_status INTEGER)",
            "CREATE INDEX IF NOT EXISTS webhook_pending
                ON webhook_outbox (account_id, delivered_at, seq)",
            "CREATE INDEX IF NOT EXISTS webhook_by_event ON webhook_outbox (event_id)",
            "CREATE TABLE IF NOT EXISTS webhook_attempts (
                event_id TEXT NOT NULL, at INTEGER NOT NULL, status INTEGER)",
            "CREATE INDEX IF NOT EXISTS webhook_attempts_by_event ON webhook_attempts (event_id, at)",
        ] {
            exec(&sql, statement, Vec::new())?;
        }
        self.schema_ready.set(true);
        Ok(())
    }

    async fn execute(&self, envelope: Envelope) -> Result<Reply, Error> {
        let _guard = self.lock.acquire().await;
        self.ensure_schema()?;
        let config = gateway_config()?;
        if envelope.demo_seed
            && SqlStore::new(&self.sql())
                .account(demo::ACCOUNT_ID)?
                .is_none()
        {
            self.transaction(
                demo::seed(config, envelope.now),
                Vec::new(),
                envelope.now,
                None,
            )?;
        }
        if let Caller::Manager { key_id } = &envelope.caller
            && envelope.command.is_write()
        {
            self.manager_writes.borrow_mut().admit(
                key_id,
                envelope.now,
                envelope.limits.manager_writes_per_minute,
            )?;
        }
        let context = Context {
            now: envelope.now,
            config,
            max_keys_per_account: envelope.limits.max_keys_per_account,
            request_id: &envelope.request_id,
        };
        let outcome = {
            let sql = self.sql();
            engine::execute(
                &envelope.caller,
                envelope.command,
                &SqlStore::new(&sql),
                &context,
                &mut RandomMint(&PlatformRandom),
            )
        };
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(error) => return Ok(Reply::error(&error)),
        };
        let own: Vec<KeyHash> = outcome
            .writes
            .iter()
            .filter_map(|w| match w.edge_scope() {
                Some(EdgeScope::Key(hash)) => Some(*hash),
                Some(EdgeScope::Account(_)) | None => None,
            })
            .collect();
        self.transaction(
            outcome.writes.clone(),
            outcome.events.clone(),
            envelope.now,
            envelope.fail_after_writes,
        )?;
        let edge = self.edge_updates(&outcome.writes)?;
        if !edge.is_empty() {
            self.publish(&edge).await?;
        }
        self.flush(&own).await;
        self.schedule_sweep(envelope.now).await;
        if !outcome.events.is_empty() && self.webhooks().is_some() {
            self.wake_at(envelope.now).await;
        }
        Ok(Reply {
            status: outcome.status,
            body: outcome.body.map(|body| body.to_string()),
            headers: Vec::new(),
            edge,
        })
    }

    /// Appends a command's changed edge records to the revocation log before the command is
    /// answered, so every isolate refuses a revoked key within a second of the answer. What the
    /// log could not take waits in `revocation_outbox` (retried first, in order, by the next
    /// command and by the alarm); the change itself is committed either way.
    async fn publish(&self, edge: &[EdgeUpdate]) -> Result<(), Error> {
        let body = serde_json::to_string(edge).map_err(|_| Error::internal())?;
        let sql = self.sql();
        exec(
            &sql,
            "INSERT INTO revocation_outbox (body) VALUES (?)",
            vec![body.into()],
        )?;
        self.publish_outbox().await;
        Ok(())
    }

    async fn publish_outbox(&self) {
        let sql = self.sql();
        let Ok(pending) = rows::<Pending>(
            &sql,
            "SELECT seq, body FROM revocation_outbox ORDER BY seq",
            Vec::new(),
        ) else {
            return;
        };
        for entry in pending {
            if revocations::append(&self.env, entry.body).await.is_err() {
                self.retry_later(OUTBOX_RETRY_MS).await;
                return;
            }
            let _ = exec(
                &sql,
                "DELETE FROM revocation_outbox WHERE seq = ?",
                vec![entry.seq.into()],
            );
        }
    }

    /// Applies `writes`, records `events` and queues the edge records they change, all or
    /// nothing.
    fn transaction(
        &self,
        writes: Vec<Write>,
        events: Vec<Event>,
        now: i64,
        fail_after: Option<usize>,
    ) -> Result<(), Error> {
        let webhooks = self.webhooks().is_some();
        let state = Rc::clone(&self.state);
        let result: Rc<RefCell<Option<Result<(), Error>>>> = Rc::default();
        let slot = Rc::clone(&result);
        let mut pending = Some((writes, events));
        let work = Closure::<dyn FnMut() -> Result<JsValue, JsValue>>::new(move || {
            let outcome = match pending.take() {
                Some((writes, events)) => {
                    let sql = state.storage().sql();
                    apply(&sql, &writes, fail_after)
                        .and_then(|()| record(&sql, &events, now, webhooks))
                }
                None => Err(Error::internal()),
            };
            let failed = outcome.is_err();
            *slot.borrow_mut() = Some(outcome);
            // Throwing is what makes transactionSync roll back.
            if failed {
                Err(JsValue::from_str("admin command rolled back"))
            } else {
                Ok(JsValue::UNDEFINED)
            }
        });
        let storage = self.state.storage();
        let storage: &TransactionalStorage = storage.as_raw().unchecked_ref();
        let thrown = storage
            .transaction_sync(work.as_ref().unchecked_ref())
            .is_err();
        match result.borrow_mut().take() {
            Some(Err(error)) => Err(error),
            Some(Ok(())) if !thrown => Ok(()),
            _ => Err(store_unavailable()),
        }
    }

    /// What the calling isolate should know at once: each written key's record, and each
    /// account-wide change as one entry (not one per key of the account).
    fn edge_updates(&self, writes: &[Write]) -> Result<Vec<EdgeUpdate>, Error> {
        let sql = self.sql();
        let store = SqlStore::new(&sql);
        let mut updates = Vec::new();
        for write in writes {
            let Some(scope) = write.edge_scope() else {
                continue;
            };
            match scope {
                EdgeScope::Key(hash) => {
                    let record = match store.key_by_hash(hash)? {
                        Some(stored) => engine::edge_record(&store, &stored)?,
                        None => None,
                    };
                    updates.push(EdgeUpdate::Key {
                        hash: *hash,
                        record: record.map(Box::new),
                    });
                }
                EdgeScope::Account(account_id) => {
                    let update = EdgeUpdate::account(
                        account_id,
                        store.account(account_id)?,
                        &store.entitlements(account_id)?,
                    );
                    if !updates.contains(&update) {
                        updates.push(update);
                    }
                }
            }
        }
        Ok(updates)
    }

    /// Writes the queued edge records through to KV: `own` first (the command's keys), then at
    /// most [`FLUSH_BATCH`] of the backlog; an alarm takes the rest, a batch per turn.
    async fn flush(&self, own: &[KeyHash]) {
        let sql = self.sql();
        let store = SqlStore::new(&sql);
        let Ok(backlog) = rows::<HashRow>(
            &sql,
            "SELECT hash FROM kv_outbox LIMIT ?",
            vec![(own.len() + FLUSH_BATCH + 1) as i64]
                .into_iter()
                .map(Into::into)
                .collect(),
        ) else {
            self.retry_later(OUTBOX_RETRY_MS).await;
            return;
        };
        let mut batch: Vec<KeyHash> = own.to_vec();
        for row in &backlog {
            if let Some(hash) = KeyHash::from_hex(&row.hash)
                && !batch.contains(&hash)
                && batch.len() < own.len() + FLUSH_BATCH
            {
                batch.push(hash);
            }
        }
        let more = backlog.len() > batch.len();
        if batch.is_empty() {
            return;
        }
        let Ok(kv) = self.env.kv(KV_BINDING) else {
            self.retry_later(OUTBOX_RETRY_MS).await;
            return;
        };
        let mut failed = false;
        for hash in batch {
            let record = match store.key_by_hash(&hash) {
                Ok(Some(stored)) => engine::edge_record(&store, &stored),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            };
            let Ok(record) = record else {
                failed = true;
                continue;
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
                let _ = exec(
                    &sql,
                    "DELETE FROM kv_outbox WHERE hash = ?",
                    vec![hash.to_hex().into()],
                );
            } else {
                failed = true;
            }
        }
        if failed {
            self.retry_later(OUTBOX_RETRY_MS).await;
        } else if more {
            // Let waiting commands take the lock, then go on.
            self.retry_later(0).await;
        }
    }

    /// Records `key.revoked` for every key whose grace period (after a roll or a leak report)
    /// ended and that has no such event yet: the edge refused it from that second on, and the
    /// account should see it happen, not only when someone looks.
    fn sweep_grace_ends(&self, now: i64, webhooks: bool) -> Result<(), Error> {
        let sql = self.sql();
        let due: Vec<Doc> = rows(
            &sql,
            "SELECT doc FROM api_keys
             WHERE json_extract(doc, '$.revoke_at') <= ?
               AND id NOT IN (SELECT key_id FROM events WHERE type = 'key.revoked')
             LIMIT 100",
            vec![now.into()],
        )?;
        let mut events = Vec::with_capacity(due.len());
        for doc in due {
            let key: ApiKey = parse_doc(&doc.doc)?;
            events.push(engine::grace_ended(&key, &mut RandomMint(&PlatformRandom))?);
        }
        record(&sql, &events, now, webhooks)
    }

    /// Sets the alarm for the next grace period to end, unless one is set earlier.
    async fn schedule_sweep(&self, now: i64) {
        let next: Result<Vec<Number>, Error> = rows(
            &self.sql(),
            "SELECT MIN(json_extract(doc, '$.revoke_at')) AS n FROM api_keys
             WHERE json_extract(doc, '$.revoke_at') > ?
                OR (json_extract(doc, '$.revoke_at') <= ?
                    AND id NOT IN (SELECT key_id FROM events WHERE type = 'key.revoked'))",
            vec![now.into(), now.into()],
        );
        let Some(at) = next.ok().and_then(|rows| rows.first().and_then(|r| r.n)) else {
            return;
        };
        let at_ms = at.max(now) * 1000;
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        if current.is_none_or(|set| set > at_ms) {
            // `set_alarm` takes an offset from now.
            let now_ms = worker::Date::now().as_millis() as i64;
            let _ = storage.set_alarm((at_ms - now_ms).max(1)).await;
        }
    }

    /// `(WEBHOOK_URL, WEBHOOK_SIGNING_SECRET, first retry delay)` when webhooks are configured.
    fn webhooks(&self) -> Option<(String, String, i64)> {
        let text = |name: &str| settings::text(&self.env, name);
        let base = text("WEBHOOK_RETRY_SECONDS")
            .and_then(|v| v.trim().parse().ok())
            .filter(|&s: &i64| (1..=3600).contains(&s))
            .unwrap_or(DEFAULT_WEBHOOK_RETRY_SECONDS);
        Some((text("WEBHOOK_URL")?, text("WEBHOOK_SIGNING_SECRET")?, base))
    }

    /// Sets the alarm for `at` (unix seconds) unless one is set earlier.
    async fn wake_at(&self, at: i64) {
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        let at_ms = at * 1000;
        if current.is_none_or(|set| set > at_ms) {
            let now_ms = worker::Date::now().as_millis() as i64;
            let _ = storage.set_alarm((at_ms - now_ms).max(1)).await;
        }
    }

    /// POSTs due events, the oldest undelivered of each account first, so that an account's
    /// events arrive in order: a failed event holds back that account's later ones until it is
    /// acknowledged. Failures are retried with exponential backoff (`webhook::backoff`), for as
    /// long as it takes.
    async fn deliver_webhooks(&self) {
        let Some((url, secret, base)) = self.webhooks() else {
            return;
        };
        let sql = self.sql();
        for _ in 0..WEBHOOK_ROUNDS {
            let now = (worker::Date::now().as_millis() / 1000) as i64;
            let Ok(due) = rows::<Pending>(
                &sql,
                "SELECT w.seq AS seq, w.event_id AS event_id, w.body AS body, w.attempts AS attempts
                 FROM webhook_outbox w
                 WHERE w.delivered_at IS NULL AND w.next_at <= ?
                   AND w.seq = (SELECT MIN(seq) FROM webhook_outbox
                                WHERE account_id = w.account_id AND delivered_at IS NULL)
                 ORDER BY w.seq LIMIT 10",
                vec![now.into()],
            ) else {
                return;
            };
            if due.is_empty() {
                break;
            }
            for entry in due {
                let status = post_webhook(&url, &secret, now, &entry.body).await;
                let attempts = entry.attempts.unwrap_or(0) + 1;
                let delivered = status.is_some_and(|s| (200..300).contains(&s));
                let next = now + webhook::backoff(attempts as u32, base);
                let _ = exec(
                    &sql,
                    "UPDATE webhook_outbox SET attempts = ?, last_status = ?,
                       delivered_at = CASE WHEN ? THEN ? ELSE NULL END, next_at = ?
                     WHERE seq = ?",
                    vec![
                        attempts.into(),
                        status.map(i64::from).into(),
                        i64::from(delivered).into(),
                        now.into(),
                        next.into(),
                        entry.seq.into(),
                    ],
                );
                let _ = exec(
                    &sql,
                    "INSERT INTO webhook_attempts (event_id, at, status) VALUES (?, ?, ?)",
                    vec![
                        entry.event_id.as_deref().unwrap_or_default().into(),
                        now.into(),
                        status.map(i64::from).into(),
                    ],
                );
            }
        }
        let next: Result<Vec<Number>, Error> = rows(
            &sql,
            "SELECT MIN(next_at) AS n FROM webhook_outbox WHERE delivered_at IS NULL",
            Vec::new(),
        );
        if let Some(at) = next.ok().and_then(|rows| rows.first().and_then(|r| r.n)) {
            self.wake_at(at).await;
        }
    }

    async fn retry_later(&self, ms: i64) {
        let _ = self.state.storage().set_alarm(ms.max(1)).await;
    }
}

/// Applies the writes and queues what they change at the edge; with `fail_after`, fails after
/// that many writes (the atomicity test).
fn apply(sql: &SqlStorage, writes: &[Write], fail_after: Option<usize>) -> Result<(), Error> {
    for (done, write) in writes.iter().enumerate() {
        if fail_after == Some(done) {
            return Err(Error::unavailable(
                "Injected failure (KEYGATE_TEST_FAIL_AFTER_WRITES): nothing was changed.",
            ));
        }
        match write {
            Write::PutAccount(account) => exec(
                sql,
                "INSERT INTO accounts (id, doc) VALUES (?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                vec![account.id.as_str().into(), to_doc(account)?.into()],
            )?,
            Write::PutEntitlement(e) => exec(
                sql,
                "INSERT INTO entitlements (account_id, product_id, test_key, live_key, created_at)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (account_id, product_id) DO UPDATE SET
                   test_key = excluded.test_key, live_key = excluded.live_key",
                vec![
                    e.account_id.as_str().into(),
                    e.product_id.as_str().into(),
                    e.test_key.as_str().into(),
                    e.live_key.clone().into(),
                    e.created_at.into(),
                ],
            )?,
            Write::DeleteEntitlement {
                account_id,
                product_id,
            } => exec(
                sql,
                "DELETE FROM entitlements WHERE account_id = ? AND product_id = ?",
                vec![account_id.as_str().into(), product_id.as_str().into()],
            )?,
            Write::PutKey(stored) => exec(
                sql,
                "INSERT INTO api_keys (id, account_id, hash, doc) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                vec![
                    stored.key.id.as_str().into(),
                    stored.key.account_id.as_str().into(),
                    stored.hash.to_hex().into(),
                    to_doc(&stored.key)?.into(),
                ],
            )?,
            Write::DeleteKey(stored) => {
                exec(
                    sql,
                    "DELETE FROM api_keys WHERE id = ?",
                    vec![stored.key.id.as_str().into()],
                )?;
                exec(
                    sql,
                    "DELETE FROM usage WHERE key_id = ?",
                    vec![stored.key.id.as_str().into()],
                )?
            }
            Write::PutUsage { key_id, usage } => exec(
                sql,
                "INSERT INTO usage (key_id, doc) VALUES (?, ?)
                 ON CONFLICT (key_id) DO UPDATE SET doc = excluded.doc",
                vec![key_id.as_str().into(), to_doc(usage)?.into()],
            )?,
            Write::PutDenial(denial) => {
                exec(
                    sql,
                    "INSERT OR IGNORE INTO denials (request_id, account_id, at, doc)
                     VALUES (?, ?, ?, ?)",
                    vec![
                        denial.request_id.as_str().into(),
                        denial.account_id.as_str().into(),
                        denial.at.into(),
                        to_doc(denial)?.into(),
                    ],
                )?;
                exec(
                    sql,
                    "DELETE FROM denials WHERE at < ?",
                    vec![(denial.at - DENIAL_RETENTION_SECONDS).into()],
                )?
            }
        };
        match write.edge_scope() {
            Some(EdgeScope::Key(hash)) => exec(
                sql,
                "INSERT OR IGNORE INTO kv_outbox (hash) VALUES (?)",
                vec![hash.to_hex().into()],
            )?,
            // Every key of the account carries a copy of the account and its product keys.
            Some(EdgeScope::Account(account_id)) => exec(
                sql,
                "INSERT OR IGNORE INTO kv_outbox (hash)
                 SELECT hash FROM api_keys WHERE account_id = ?",
                vec![account_id.into()],
            )?,
            None => {}
        };
    }
    Ok(())
}

/// First retry delay of a failed webhook (`WEBHOOK_RETRY_SECONDS`), doubling to an hour.
const DEFAULT_WEBHOOK_RETRY_SECONDS: i64 = 5;
/// Batches of deliveries per alarm before it yields (the next alarm goes on).
const WEBHOOK_ROUNDS: usize = 10;
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs one event, signed; the receiver's status, or `None` if it could not be reached in time.
async fn post_webhook(url: &str, secret: &str, now: i64, body: &str) -> Option<u16> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json").ok()?;
    headers
        .set(
            "Keygate-Signature",
            &webhook::signature(secret.as_bytes(), now, body),
        )
        .ok()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).ok()?;
    let fetch = Fetch::Request(request);
    let sent = Box::pin(fetch.send());
    let deadline = Box::pin(Delay::from(WEBHOOK_TIMEOUT));
    match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => Some(response.status_code()),
        _ => None,
    }
}

/// How long events are kept.
pub const EVENT_RETENTION_SECONDS: i64 = 90 * 24 * 60 * 60;

/// Stores a command's events (and, with webhooks configured, queues each for delivery) and
/// prunes those past [`EVENT_RETENTION_SECONDS`].
fn record(sql: &SqlStorage, events: &[Event], now: i64, webhooks: bool) -> Result<(), Error> {
    for event in events {
        exec(
            sql,
            "INSERT INTO events (id, account_id, key_id, type, created_at, doc)
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                event.id.as_str().into(),
                event.account_id.as_str().into(),
                event.key_id.clone().into(),
                event.kind.as_str().into(),
                event.created_at.into(),
                to_doc(event)?.into(),
            ],
        )?;
        if webhooks {
            exec(
                sql,
                "INSERT INTO webhook_outbox (event_id, account_id, body, attempts, next_at)
                 VALUES (?, ?, ?, 0, ?)",
                vec![
                    event.id.as_str().into(),
                    event.account_id.as_str().into(),
                    to_doc(event)?.into(),
                    now.into(),
                ],
            )?;
        }
    }
    if !events.is_empty() {
        let before = now - EVENT_RETENTION_SECONDS;
        exec(
            sql,
            "DELETE FROM events WHERE created_at < ?",
            vec![before.into()],
        )?;
        exec(
            sql,
            "DELETE FROM webhook_outbox WHERE delivered_at < ?",
            vec![before.into()],
        )?;
        exec(
            sql,
            "DELETE FROM webhook_attempts WHERE at < ?
               AND event_id NOT IN (SELECT event_id FROM webhook_outbox)",
            vec![before.into()],
        )?;
    }
    Ok(())
}

fn exec(sql: &SqlStorage, query: &str, bindings: Vec<SqlStorageValue>) -> Result<(), Error> {
    sql.exec(query, bindings).map(drop).map_err(sql_error)
}

fn rows<T: serde::de::DeserializeOwned>(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<Vec<T>, Error> {
    sql.exec(query, bindings)
        .and_then(|cursor| cursor.to_array())
        .map_err(sql_error)
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

#[derive(Deserialize)]
struct Pending {
    seq: i64,
    body: String,
    #[serde(default)]
    attempts: Option<i64>,
    #[serde(default)]
    event_id: Option<String>,
}

#[derive(Deserialize)]
struct Queued {
    account_id: String,
    delivered_at: Option<i64>,
    next_at: i64,
}

#[derive(Deserialize)]
struct Tried {
    at: i64,
    status: Option<i64>,
}

#[derive(Deserialize)]
struct Number {
    n: Option<i64>,
}

#[derive(Deserialize)]
struct Count {
    n: i64,
}

/// The engine's [`Store`] over the Registry's SQLite tables.
struct SqlStore<'a> {
    sql: &'a SqlStorage,
}

impl<'a> SqlStore<'a> {
    fn new(sql: &'a SqlStorage) -> Self {
        Self { sql }
    }

    fn stored_key(&self, column: &str, value: String) -> Result<Option<StoredKey>, Error> {
        let found: Vec<KeyRow> = rows(
            self.sql,
            &format!("SELECT doc, hash FROM api_keys WHERE {column} = ?"),
            vec![value.into()],
        )?;
        found
            .first()
            .map(|row| {
                Ok(StoredKey {
                    key: parse_doc(&row.doc)?,
                    hash: KeyHash::from_hex(&row.hash).ok_or_else(Error::internal)?,
                })
            })
            .transpose()
    }

    /// One page of `table` whose columns equal `filters`, in creation order (oldest or newest
    /// first), after the row named by `starting_after`.
    fn page<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        filters: Vec<(&str, SqlStorageValue)>,
        newest_first: bool,
        page: &PageParams,
    ) -> Result<(Vec<T>, bool), Error> {
        let mut filter = String::from("1 = 1");
        let mut bindings: Vec<SqlStorageValue> = Vec::new();
        for (column, value) in filters {
            filter.push_str(&format!(" AND {column} = ?"));
            bindings.push(value);
        }
        if let Some(after) = &page.starting_after {
            let mut seq_bindings = bindings.clone();
            seq_bindings.push(after.as_str().into());
            let seqs: Vec<Seq> = rows(
                self.sql,
                &format!("SELECT seq FROM {table} WHERE {filter} AND id = ?"),
                seq_bindings,
            )?;
            let seq = seqs.first().ok_or_else(|| {
                Error::invalid(vec![FieldError::new(
                    "starting_after",
                    "no object with this id in the list",
                )])
            })?;
            filter.push_str(if newest_first {
                " AND seq < ?"
            } else {
                " AND seq > ?"
            });
            bindings.push(seq.seq.into());
        }
        bindings.push((page.limit as i64 + 1).into());
        let order = if newest_first { "DESC" } else { "ASC" };
        let docs: Vec<Doc> = rows(
            self.sql,
            &format!("SELECT doc FROM {table} WHERE {filter} ORDER BY seq {order} LIMIT ?"),
            bindings,
        )?;
        let has_more = docs.len() > page.limit;
        let items = docs
            .iter()
            .take(page.limit)
            .map(|d| parse_doc(&d.doc))
            .collect::<Result<Vec<T>, Error>>()?;
        Ok((items, has_more))
    }
}

impl Store for SqlStore<'_> {
    fn account(&self, id: &str) -> Result<Option<Account>, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM accounts WHERE id = ?",
            vec![id.into()],
        )?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    fn accounts(&self, page: &PageParams) -> Result<(Vec<Account>, bool), Error> {
        self.page("accounts", Vec::new(), false, page)
    }

    fn entitlements(&self, account_id: &str) -> Result<Vec<Entitlement>, Error> {
        rows(
            self.sql,
            "SELECT * FROM entitlements WHERE account_id = ? ORDER BY product_id",
            vec![account_id.into()],
        )
    }

    fn entitlement_by_product_key(&self, token: &str) -> Result<Option<Entitlement>, Error> {
        let found: Vec<Entitlement> = rows(
            self.sql,
            "SELECT * FROM entitlements WHERE test_key = ? OR live_key = ?",
            vec![token.into(), token.into()],
        )?;
        Ok(found.into_iter().next())
    }

    fn key(&self, id: &str) -> Result<Option<StoredKey>, Error> {
        self.stored_key("id", id.to_string())
    }

    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, Error> {
        self.stored_key("hash", hash.to_hex())
    }

    fn predecessor(&self, successor_id: &str) -> Result<Option<StoredKey>, Error> {
        self.stored_key("json_extract(doc, '$.rolled_to')", successor_id.to_string())
    }

    fn keys(&self, account_id: &str, page: &PageParams) -> Result<(Vec<ApiKey>, bool), Error> {
        self.page(
            "api_keys",
            vec![("account_id", account_id.into())],
            false,
            page,
        )
    }

    fn events(
        &self,
        account_id: &str,
        kind: Option<&str>,
        key_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error> {
        let mut filters: Vec<(&str, SqlStorageValue)> = vec![("account_id", account_id.into())];
        if let Some(kind) = kind {
            filters.push(("type", kind.into()));
        }
        if let Some(key_id) = key_id {
            filters.push(("key_id", key_id.into()));
        }
        self.page("events", filters, true, page)
    }

    fn usage(&self, key_id: &str) -> Result<Option<Usage>, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM usage WHERE key_id = ?",
            vec![key_id.into()],
        )?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    fn denial(&self, request_id: &str) -> Result<Option<Denial>, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM denials WHERE request_id = ?",
            vec![request_id.into()],
        )?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error> {
        let queued: Vec<Queued> = rows(
            self.sql,
            "SELECT account_id, delivered_at, next_at FROM webhook_outbox WHERE event_id = ?",
            vec![event_id.into()],
        )?;
        let Some(queued) = queued.into_iter().next() else {
            return Ok(None);
        };
        let tried: Vec<Tried> = rows(
            self.sql,
            "SELECT at, status FROM webhook_attempts WHERE event_id = ? ORDER BY at, rowid",
            vec![event_id.into()],
        )?;
        Ok(Some(webhook::Deliveries {
            event_id: event_id.to_string(),
            account_id: queued.account_id,
            attempts: tried
                .into_iter()
                .map(|t| webhook::Attempt {
                    at: t.at,
                    status: t.status.and_then(|s| u16::try_from(s).ok()),
                })
                .collect(),
            delivered_at: queued.delivered_at,
            next_attempt_at: Some(queued.next_at),
        }))
    }

    fn would_deny_since(&self, key_id: &str, ip: &str, since: i64) -> Result<bool, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM events WHERE key_id = ? AND type = 'ip.would_deny' AND created_at >= ?",
            vec![key_id.into(), since.into()],
        )?;
        for doc in docs {
            let event: Event = parse_doc(&doc.doc)?;
            if event.data["after"]["ip"] == ip {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn key_count(&self, account_id: &str) -> Result<usize, Error> {
        let counted: Vec<Count> = rows(
            self.sql,
            "SELECT COUNT(*) AS n FROM api_keys WHERE account_id = ?",
            vec![account_id.into()],
        )?;
        Ok(counted.first().map_or(0, |c| c.n.max(0) as usize))
    }
}
