//! The `Registry` Durable Object: the system of record for one account, its entitlements and
//! keys (SQLite storage), and the only writer of their edge records in KV. There is one per
//! account, named by `keygate_core::shard::registry_name`; what crosses accounts goes through
//! the `Directory` (docs/sharding.md), which each Registry keeps current through its
//! `directory_outbox`.
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

mod alarm;
mod index;
mod outbox;
mod store;
mod tables;

pub(crate) use store::{SqlStore, exec, rows};

use crate::config::gateway_config;
use crate::demo;
use crate::directory::{self, DirectoryMessage};
use crate::durable::{self, Outgoing};
use crate::http::{answer_response, error_response};
use crate::keystore::EdgeUpdate;
use crate::lock::WriteLock;
use crate::random::PlatformRandom;
use crate::settings::{Limits, Vars};
use keygate_core::engine::{
    self, Caller, Command, Context, EdgeScope, Event, RandomMint, Store, Write,
};
use keygate_core::ids::new_id;
use keygate_core::keys::KeyHash;
use keygate_core::shard::{self, Placement};
use keygate_core::{Answer, Error};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use store::*;
use tables::*;
use wasm_bindgen::prelude::*;
use worker::wasm_bindgen::JsCast;
use worker::{DurableObject, Env, Request, Response, SqlStorage, State, durable_object, js_sys};

pub const DO_BINDING: &str = "REGISTRY";
const OUTBOX_RETRY_MS: i64 = 10_000;
/// Edge records written through per turn of the lock, beyond a command's own keys.
pub const FLUSH_BATCH: usize = 25;

#[derive(Debug, Serialize, Deserialize)]
pub struct Message {
    pub caller: Caller,
    pub now: i64,
    /// Seed the demo account if it is missing: honoured only by the demo account's own
    /// Registry, for a read of that account (`crate::admin`'s first admin request of an
    /// isolate, where `DEMO_SEED` is set).
    pub demo_seed: bool,
    pub limits: Limits,
    /// The e2e suites' hooks; never sent by a deployment that enforces HTTPS, and ignored by a
    /// Registry whose own settings have no test hooks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test: Option<MessageHooks>,
    /// The admin request's id, recorded in the command's events.
    pub request_id: String,
    pub command: Command,
}

/// What a test gateway asks of the Registry for one command (settings.rs `TestHooks`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct MessageHooks {
    /// Fail the transaction after this many writes, to prove that a command is applied all or
    /// nothing (`KEYGATE_TEST_FAIL_AFTER_WRITES`).
    pub fail_after_writes: usize,
}

impl MessageHooks {
    /// This gateway's hooks for a Registry message, if it has any.
    pub fn from_vars(vars: &Vars) -> Option<Self> {
        let fail_after_writes = vars.test_hooks.as_ref()?.fail_after_writes?;
        Some(Self { fail_after_writes })
    }
}

/// The Registry's answer: the HTTP response to relay, plus the edge records it changed so
/// the calling isolate can refresh its cache at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reply {
    pub answer: Answer,
    pub edge: Vec<EdgeUpdate>,
}

impl Reply {
    fn with_edge(mut self, mut first: Vec<EdgeUpdate>) -> Self {
        first.append(&mut self.edge);
        self.edge = first;
        self
    }

    pub(crate) fn error(error: &Error) -> Self {
        Self {
            answer: Answer::from(error),
            edge: Vec::new(),
        }
    }

    pub fn into_response(self) -> Response {
        answer_response(self.answer)
    }
}

pub(crate) fn outcome_answer(status: u16, body: Option<serde_json::Value>) -> Answer {
    match body {
        Some(body) => Answer::json(status, body.to_string()),
        None => Answer {
            status,
            headers: Vec::new(),
            body: None,
        },
    }
}

fn store_unavailable() -> Error {
    Error::unavailable("The key registry is not available. Retry later.")
}

/// `message` on its way to where `keygate_core::shard::place` says it runs: its account's
/// Registry, or the directory (which finds the account, or several). A new account's id is
/// minted here, so its Registry is named before the account exists. What [`call`] sends, and
/// what the fast path hands the JS entry to send (`activity::take_messages`).
/// `manager_account`: the account of a manager key, read from its edge record.
pub fn address(
    mut message: Message,
    manager_account: Option<&str>,
) -> Result<Outgoing<'static>, Error> {
    match shard::place(&message.caller, manager_account, &message.command) {
        Placement::Account(account_id) => account_outgoing(&account_id, &message),
        Placement::NewAccount => {
            let account_id = new_id("acct_", &PlatformRandom)?;
            message.command = shard::assign_account_id(message.command, account_id.clone());
            account_outgoing(&account_id, &message)
        }
        Placement::Accounts | Placement::Find(_) | Placement::Tokens(_) | Placement::Split => {
            directory::outgoing(&DirectoryMessage::Route(Box::new(message)))
        }
    }
}

fn account_outgoing(account_id: &str, message: &Message) -> Result<Outgoing<'static>, Error> {
    Outgoing::new(DO_BINDING, shard::registry_name(account_id), message)
}

/// Sends one command where it runs ([`address`]) and returns the reply.
pub async fn call(
    env: &Env,
    message: Message,
    manager_account: Option<&str>,
) -> Result<Reply, Error> {
    durable::send(env, address(message, manager_account)?, store_unavailable).await
}

/// Sends one command to the Registry of `account_id`, as the directory does once it has
/// found the account.
pub async fn call_account(env: &Env, account_id: &str, message: &Message) -> Result<Reply, Error> {
    durable::send(
        env,
        account_outgoing(account_id, message)?,
        store_unavailable,
    )
    .await
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
    /// When an outbox asked to be tried again (unix ms), until an alarm run tries it.
    retry_at: Cell<Option<i64>>,
}

impl DurableObject for Registry {
    fn new(state: State, env: Env) -> Self {
        Self {
            state: Rc::new(state),
            env,
            lock: WriteLock::default(),
            schema_ready: Cell::new(false),
            retry_at: Cell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: Message = req.json().await?;
        let reply = match self.execute(message).await {
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
            // This run tries the outboxes; a failure asks again.
            self.retry_at.set(None);
            self.publish_outbox().await;
            self.push_index().await;
            self.flush(&[]).await;
            if let Err(error) = self.sweep_grace_ends(now, self.webhooks().is_some()) {
                worker::console_error!("grace sweep: {} {}", error.status, error.message);
            }
        }
        // Outside the lock: a slow receiver must not hold up admin commands.
        self.deliver_webhooks().await;
        // Whatever is left (events queued meanwhile included) gets its alarm: this run's alarm
        // is deleted when it returns, unless set again.
        self.arm().await;
        Response::ok("flushed")
    }
}

impl Registry {
    fn sql(&self) -> SqlStorage {
        self.state.storage().sql()
    }

    async fn execute(&self, message: Message) -> Result<Reply, Error> {
        self.ensure_schema()?;
        let config = gateway_config()?;
        let seed = message.demo_seed && demo::seeds(&message.command) && self.demo_missing()?;
        if !message.command.is_write() && !seed {
            return self.read(message);
        }
        let _guard = self.lock.acquire().await;
        // The demo account's keys reach every isolate like any other write's: through the
        // revocation log (an isolate may have refused the demo key as unknown a moment ago).
        // Checked again under the lock: another command may have seeded it while we waited.
        let mut seeded = Vec::new();
        if seed && self.demo_missing()? {
            let writes = demo::seed(config, message.now);
            self.transaction(writes.clone(), Vec::new(), message.now, None)?;
            seeded = self.edge_updates(&writes)?;
            self.publish(&seeded).await?;
            self.push_index().await;
        }
        if !message.command.is_write() {
            return Ok(self.read(message)?.with_edge(seeded));
        }
        // A hook is honoured only where this object's own settings have test hooks.
        let fail_after_writes = message
            .test
            .filter(|_| Vars::get(&self.env).test_hooks.is_some())
            .map(|hooks| hooks.fail_after_writes);
        let now = message.now;
        let outcome = match self.decide(message)? {
            Ok(outcome) => outcome,
            Err(refused) => return Ok(refused),
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
            now,
            fail_after_writes,
        )?;
        let edge = match self.edge_updates(&outcome.writes) {
            Ok(edge) if !edge.is_empty() => self.publish(&edge).await.map(|()| edge),
            other => other,
        };
        if edge.is_ok() {
            self.flush(&own).await;
        }
        // Before the answer, so the operator can find what this command created by its id
        // alone as soon as it is answered; a failure waits in the outbox for the alarm.
        self.push_index().await;
        // The alarm for what the command left to do: its events' deliveries, a grace period it
        // started, the write-through it could not finish. Set after the write-through (so its
        // own edge records do not count as waiting), and on an error too: the command is
        // committed either way.
        self.arm().await;
        let edge = [seeded, edge?].concat();
        Ok(Reply {
            answer: outcome_answer(outcome.status, outcome.body),
            edge,
        })
    }

    /// The engine's decision on `message` over the stored rows: the outcome to apply, or the
    /// refusal to answer with (`Err` of the outer result: the configuration failed to load).
    fn decide(&self, message: Message) -> Result<Result<engine::Outcome, Reply>, Error> {
        let context = Context {
            now: message.now,
            config: gateway_config()?,
            max_keys_per_account: message.limits.max_keys_per_account,
            request_id: &message.request_id,
        };
        let sql = self.sql();
        let outcome = engine::execute(
            &message.caller,
            message.command,
            &SqlStore::new(&sql),
            &context,
            &mut RandomMint(&PlatformRandom),
        );
        Ok(outcome.map_err(|error| Reply::error(&error)))
    }

    fn demo_missing(&self) -> Result<bool, Error> {
        Ok(SqlStore::new(&self.sql())
            .account(demo::ACCOUNT_ID)?
            .is_none())
    }

    /// A command that changes nothing ([`Command::is_write`] false), without the write lock, so
    /// reads never queue behind writes and their KV write-through. This is consistent: it runs
    /// synchronously from here to its answer (no await), so it sees the SQL state between two
    /// commands' transactions, and a write's transaction (`transactionSync`) commits before
    /// that write awaits anything (its KV write-through, its alarm). A read therefore sees a
    /// write whole or not at all, and what it sees is the system of record, never behind KV.
    fn read(&self, message: Message) -> Result<Reply, Error> {
        let outcome = match self.decide(message)? {
            Ok(outcome) => outcome,
            Err(refused) => return Ok(refused),
        };
        if !outcome.writes.is_empty() || !outcome.events.is_empty() {
            // A read never writes; if one ever did, it must not without the lock.
            worker::console_error!("a read command produced writes; refused");
            return Err(Error::internal());
        }
        Ok(Reply {
            answer: outcome_answer(outcome.status, outcome.body),
            edge: Vec::new(),
        })
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
                        .and_then(|()| index::queue(&sql, &writes, &events, webhooks))
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
}
