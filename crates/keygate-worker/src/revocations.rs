//! The revocation log (`keygate_core::revocation`): one `Revocations` Durable Object per
//! deployment. The `Registry` appends the edge records each admin command changed; every
//! isolate asks for what came after its generation at most twice a second (`keystore::sync`).
//!
//! Entries are kept for [`KEEP_MS`]; an isolate whose generation is older than the oldest
//! entry kept gets `reset` and drops its key cache. A new isolate gets the entries of the last
//! `PIN_MS`, the time during which KV may still serve an older record somewhere.

use crate::durable::{self, Outgoing};
use keygate_core::Error;
use keygate_core::revocation::PIN_MS;
use serde::{Deserialize, Serialize};
use std::cell::Cell;
use worker::{DurableObject, Env, Request, Response, SqlStorage, State, durable_object};

pub const DO_BINDING: &str = "REVOCATIONS";
const LOG_NAME: &str = "revocations";
/// Entries older than this are pruned (far above any isolate's check interval).
const KEEP_MS: i64 = 10 * 60 * 1000;

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Message {
    /// One admin command's changed edge records (a JSON array of `EdgeUpdate`s).
    Append { updates: String },
    /// What came after `generation` (`None`: a new isolate).
    Since { generation: Option<u64> },
}

/// The log's answer to `Since`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Changes {
    pub generation: u64,
    /// The isolate's generation is no longer in the log: drop everything cached.
    pub reset: bool,
    /// The entries' `EdgeUpdate` arrays, oldest first.
    pub entries: Vec<String>,
}

fn unavailable() -> Error {
    Error::unavailable("The revocation log is not available. Retry shortly.").with_retry_after(1)
}

pub async fn append(env: &Env, updates: String) -> Result<u64, Error> {
    durable::call(
        env,
        DO_BINDING,
        LOG_NAME,
        &Message::Append { updates },
        unavailable,
    )
    .await
}

/// The `Since` message of [`since`], for the fast path to send (`keystore::begin_sync`).
pub fn since_message(generation: Option<u64>) -> Result<Outgoing<'static>, Error> {
    Outgoing::new(DO_BINDING, LOG_NAME, &Message::Since { generation })
}

pub async fn since(env: &Env, generation: Option<u64>) -> Result<Changes, Error> {
    durable::send(env, since_message(generation)?, unavailable).await
}

#[derive(Deserialize)]
struct Entry {
    generation: i64,
    body: String,
}

#[derive(Deserialize)]
struct Number {
    n: Option<i64>,
}

#[durable_object]
pub struct Revocations {
    state: State,
    schema_ready: Cell<bool>,
}

impl DurableObject for Revocations {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            schema_ready: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: Message = req.json().await?;
        let sql = self.state.storage().sql();
        if !self.schema_ready.get() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS log (
                    generation INTEGER PRIMARY KEY AUTOINCREMENT,
                    at INTEGER NOT NULL, body TEXT NOT NULL)",
                None,
            )?;
            self.schema_ready.set(true);
        }
        let now = worker::Date::now().as_millis() as i64;
        match message {
            Message::Append { updates } => {
                sql.exec(
                    "INSERT INTO log (at, body) VALUES (?, ?)",
                    vec![now.into(), updates.into()],
                )?;
                sql.exec(
                    "DELETE FROM log WHERE at < ? AND generation < (SELECT MAX(generation) FROM log)",
                    vec![(now - KEEP_MS).into()],
                )?;
                Response::from_json(&latest(&sql)?)
            }
            Message::Since { generation } => Response::from_json(&since_in(&sql, generation, now)?),
        }
    }
}

fn number(sql: &SqlStorage, query: &str) -> worker::Result<Option<i64>> {
    let rows: Vec<Number> = sql.exec(query, None)?.to_array()?;
    Ok(rows.first().and_then(|r| r.n))
}

fn latest(sql: &SqlStorage) -> worker::Result<u64> {
    Ok(number(sql, "SELECT MAX(generation) AS n FROM log")?.unwrap_or(0) as u64)
}

fn since_in(sql: &SqlStorage, generation: Option<u64>, now: i64) -> worker::Result<Changes> {
    let latest = latest(sql)?;
    let oldest = number(sql, "SELECT MIN(generation) AS n FROM log")?.unwrap_or(0) as u64;
    // Entries between `generation` and the oldest kept were pruned: the isolate missed them.
    let reset = generation.is_some_and(|g| g + 1 < oldest && g < latest);
    let entries: Vec<Entry> = match generation {
        Some(g) if !reset => sql
            .exec(
                "SELECT generation, body FROM log WHERE generation > ? ORDER BY generation",
                vec![(g as i64).into()],
            )?
            .to_array()?,
        _ => sql
            .exec(
                "SELECT generation, body FROM log WHERE at >= ? ORDER BY generation",
                vec![(now - PIN_MS as i64).into()],
            )?
            .to_array()?,
    };
    let generation = entries
        .last()
        .map_or(latest, |e| (e.generation as u64).max(latest));
    Ok(Changes {
        generation,
        reset,
        entries: entries.into_iter().map(|e| e.body).collect(),
    })
}
