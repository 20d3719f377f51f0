//! The `Directory` Durable Object: what crosses accounts (docs/sharding.md). It holds an index
//! (key ids, secret-key hashes, product keys, stored refusals and webhook events → their
//! account) and a copy of each account's view for the operator's list; each account's Registry
//! keeps it current through its `directory_outbox`.
//!
//! It decides nothing about records: `keygate_core::shard` says where a command goes, and the
//! account's Registry runs it. The directory only finds the account, forwards the command,
//! and merges the answers of a report that named several accounts. An id it does not know is
//! answered by the engine over an empty store, so "not found" reads the same wherever it is
//! decided.

use crate::config::gateway_config;
use crate::durable::{self, Outgoing};
use crate::http::now_seconds;
use crate::random::PlatformRandom;
use crate::registry::{self, Message, Reply, SqlStore, exec, rows};
use keygate_core::Error;
use keygate_core::engine::{self, Command, Context, EmptyStore, RandomMint};
use keygate_core::shard::{self, DIRECTORY_NAME, IndexChange, IndexKey, Placement};
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use worker::{DurableObject, Env, Request, Response, SqlStorage, State, durable_object};

pub const DO_BINDING: &str = "DIRECTORY";

/// What the directory is asked.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DirectoryMessage {
    /// An account's Registry reports what its committed commands changed, in order.
    Index(Vec<IndexChange>),
    /// A command no caller could address to one account (`shard::place`).
    Route(Box<Message>),
}

fn unavailable() -> Error {
    Error::unavailable("The account directory is not available. Retry later.")
}

/// `message` on its way to the directory.
pub fn outgoing(message: &DirectoryMessage) -> Result<Outgoing<'static>, Error> {
    Outgoing::new(DO_BINDING, DIRECTORY_NAME, message)
}

/// Applies index changes; `Ok` once they are stored.
pub async fn index(env: &Env, changes: Vec<IndexChange>) -> Result<(), Error> {
    let _: Indexed = durable::send(
        env,
        outgoing(&DirectoryMessage::Index(changes))?,
        unavailable,
    )
    .await?;
    Ok(())
}

/// The directory's answer to [`DirectoryMessage::Index`].
#[derive(Debug, Serialize, Deserialize)]
struct Indexed {
    applied: usize,
}

/// Index rows whose record has been deleted by retention, removed per index write.
const SWEEP_BATCH: i64 = 200;

#[derive(Deserialize)]
struct Found {
    account_id: String,
}

#[durable_object]
pub struct Directory {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
}

impl DurableObject for Directory {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: DirectoryMessage = req.json().await?;
        if let Err(error) = self.ensure_schema() {
            return Response::from_json(&Reply::error(&error));
        }
        match message {
            DirectoryMessage::Index(changes) => match self.apply(&changes) {
                Ok(()) => Response::from_json(&Indexed {
                    applied: changes.len(),
                }),
                // Not a reply the Registry accepts: its outbox keeps the changes.
                Err(error) => Response::error(error.message, 503),
            },
            DirectoryMessage::Route(message) => {
                let reply = match self.route(*message).await {
                    Ok(reply) => reply,
                    Err(error) => Reply::error(&error),
                };
                Response::from_json(&reply)
            }
        }
    }
}

impl Directory {
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
            "CREATE TABLE IF NOT EXISTS found_by (
                kind TEXT NOT NULL, value TEXT NOT NULL, account_id TEXT NOT NULL,
                expires_at INTEGER, PRIMARY KEY (kind, value))",
            "CREATE INDEX IF NOT EXISTS found_by_expiry ON found_by (expires_at)
                WHERE expires_at IS NOT NULL",
        ] {
            exec(&sql, statement, Vec::new())?;
        }
        self.schema_ready.set(true);
        Ok(())
    }

    /// Stores index changes. Each is idempotent, so a batch the Registry sends again (its
    /// outbox row outlived a lost reply) changes nothing more.
    fn apply(&self, changes: &[IndexChange]) -> Result<(), Error> {
        let sql = self.sql();
        for change in changes {
            match change {
                IndexChange::Account { id, view } => exec(
                    &sql,
                    "INSERT INTO accounts (id, doc) VALUES (?, ?)
                     ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                    vec![id.as_str().into(), view.to_string().into()],
                )?,
                IndexChange::Put {
                    key,
                    account_id,
                    expires_at,
                } => exec(
                    &sql,
                    "INSERT INTO found_by (kind, value, account_id, expires_at) VALUES (?, ?, ?, ?)
                     ON CONFLICT (kind, value) DO UPDATE SET
                       account_id = excluded.account_id, expires_at = excluded.expires_at",
                    vec![
                        key.kind().into(),
                        key.value().into(),
                        account_id.as_str().into(),
                        (*expires_at).into(),
                    ],
                )?,
                IndexChange::Remove { key } => exec(
                    &sql,
                    "DELETE FROM found_by WHERE kind = ? AND value = ?",
                    vec![key.kind().into(), key.value().into()],
                )?,
            }
        }
        exec(
            &sql,
            "DELETE FROM found_by WHERE rowid IN (
                SELECT rowid FROM found_by WHERE expires_at <= ? LIMIT ?)",
            vec![now_seconds().into(), SWEEP_BATCH.into()],
        )
    }

    /// The account that holds `key`, if the index knows one.
    fn find(&self, key: &IndexKey) -> Result<Option<String>, Error> {
        let found: Vec<Found> = rows(
            &self.sql(),
            "SELECT account_id FROM found_by WHERE kind = ? AND value = ?
               AND (expires_at IS NULL OR expires_at > ?)",
            vec![key.kind().into(), key.value().into(), now_seconds().into()],
        )?;
        Ok(found.into_iter().next().map(|f| f.account_id))
    }

    async fn route(&self, message: Message) -> Result<Reply, Error> {
        match shard::place(&message.caller, None, &message.command) {
            Placement::Account(account_id) => {
                registry::call_account(&self.env, &account_id, &message).await
            }
            Placement::NewAccount => registry::call(&self.env, message, None).await,
            Placement::Accounts => self.accounts(&message.command),
            Placement::Find(key) => match self.find(&key)? {
                Some(account_id) => registry::call_account(&self.env, &account_id, &message).await,
                None => empty(message),
            },
            Placement::Tokens(keys) => {
                let mut accounts: Vec<String> = Vec::new();
                for key in &keys {
                    if let Some(account_id) = self.find(key)?
                        && !accounts.contains(&account_id)
                    {
                        accounts.push(account_id);
                    }
                }
                if accounts.is_empty() {
                    return empty(message);
                }
                let mut answers = Vec::with_capacity(accounts.len());
                let mut edge = Vec::new();
                for account_id in &accounts {
                    let reply = registry::call_account(&self.env, account_id, &message).await?;
                    answers.push(reply.answer);
                    edge.extend(reply.edge);
                }
                Ok(Reply {
                    answer: shard::merge_answers(answers),
                    edge,
                })
            }
            Placement::Split => {
                let Message {
                    caller,
                    now,
                    limits,
                    request_id,
                    command,
                    ..
                } = message;
                let mut answers = Vec::new();
                let mut edge = Vec::new();
                for report in shard::split_activity(command) {
                    let part = Message {
                        caller: caller.clone(),
                        now,
                        demo_seed: false,
                        limits,
                        test: None,
                        request_id: request_id.clone(),
                        command: report,
                    };
                    let reply = Box::pin(self.route(part)).await?;
                    answers.push(reply.answer);
                    edge.extend(reply.edge);
                }
                Ok(Reply {
                    answer: shard::merge_answers(answers),
                    edge,
                })
            }
        }
    }

    /// The operator's list of accounts, from the accounts' own views.
    fn accounts(&self, command: &Command) -> Result<Reply, Error> {
        let Command::ListAccounts { page } = command else {
            return Err(Error::internal());
        };
        let sql = self.sql();
        let (views, has_more) =
            SqlStore::new(&sql).page::<serde_json::Value>("accounts", Vec::new(), false, page)?;
        Ok(Reply {
            answer: shard::account_list(views, has_more)?,
            edge: Vec::new(),
        })
    }
}

/// The answer to a command about ids no account holds: the engine's, over an empty store.
fn empty(message: Message) -> Result<Reply, Error> {
    let context = Context {
        now: message.now,
        config: gateway_config()?,
        max_keys_per_account: message.limits.max_keys_per_account,
        request_id: &message.request_id,
    };
    let outcome = match engine::execute(
        &message.caller,
        message.command,
        &EmptyStore,
        &context,
        &mut RandomMint(&PlatformRandom),
    ) {
        Ok(outcome) => outcome,
        Err(error) => return Ok(Reply::error(&error)),
    };
    if !outcome.writes.is_empty() || !outcome.events.is_empty() {
        worker::console_error!("a command over the empty store produced writes; refused");
        return Err(Error::internal());
    }
    Ok(Reply {
        answer: registry::outcome_answer(outcome.status, outcome.body),
        edge: Vec::new(),
    })
}
