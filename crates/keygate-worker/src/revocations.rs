//! The revocation log (`keygate_core::revocation`): `LOG_COPIES` primary `Revocations` Durable
//! Objects per deployment, and one mirror per location. The `Registry` appends the edge records
//! each admin command changed to every copy; every isolate asks its location's mirror for what
//! came after its generation at most twice a second (`keystore::sync`), and its location's copy
//! itself when the mirror cannot answer. The mirrors read their location's copy
//! (`keygate_core::revocation::LogMirror` decides when, and what a copy can answer), so each
//! copy is read by a third of the locations, not by every isolate.
//!
//! The primary keeps entries for `KEEP_MS`; an isolate whose generation is older than the
//! oldest entry kept gets `reset` and drops its key cache. A new isolate gets the entries of
//! the last `PIN_MS`, the time during which KV may still serve an older record somewhere.

use crate::durable::{self, Outgoing};
use keygate_core::Error;
use keygate_core::location::Location;
use keygate_core::revocation::{
    Changes, KEEP_MS, LOG_COPIES, LogEntry, LogMirror, LogTail, PIN_MS, log_name,
};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use worker::{DurableObject, Env, Request, Response, SqlStorage, State, durable_object};

pub const DO_BINDING: &str = "REVOCATIONS";

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Message {
    /// To the primary: one admin command's changed edge records (a JSON array of `EdgeUpdate`s).
    Append { updates: String },
    /// To the primary: what came after `generation` (`None`: a new isolate).
    Since { generation: Option<u64> },
    /// To the primary, from a mirror: the entries after `after` (`None`: a new copy).
    Tail { after: Option<u64> },
    /// To a mirror: what came after `generation`, from its copy of the log copy `copy`; 503
    /// when it cannot tell.
    MirrorSince {
        generation: Option<u64>,
        #[serde(default)]
        copy: u8,
    },
}

fn unavailable() -> Error {
    Error::unavailable("The revocation log is not available. Retry shortly.").with_retry_after(1)
}

/// Appends one command's changes to the log copy `copy`.
pub async fn append(env: &Env, copy: u8, updates: String) -> Result<u64, Error> {
    durable::call(
        env,
        DO_BINDING,
        &log_name(copy),
        &Message::Append { updates },
        unavailable,
    )
    .await
}

/// Every copy of the log, by number.
pub fn copies() -> impl Iterator<Item = u8> {
    0..LOG_COPIES
}

/// The `Since` message of [`since`] to `location`'s copy of the log, for the fast path to send
/// (`keystore::begin_sync`).
pub fn since_message(
    location: &Location,
    generation: Option<u64>,
) -> Result<Outgoing<'static>, Error> {
    Outgoing::new(
        DO_BINDING,
        log_name(location.log_copy()),
        &Message::Since { generation },
    )
}

/// The `MirrorSince` message of [`mirror_since`] to `location`'s mirror.
pub fn mirror_since_message(
    location: &Location,
    generation: Option<u64>,
) -> Result<Outgoing<'static>, Error> {
    Outgoing::new(
        DO_BINDING,
        location.log_mirror(),
        &Message::MirrorSince {
            generation,
            copy: location.log_copy(),
        },
    )
}

/// What came after `generation`, from `location`'s copy of the log itself.
pub async fn since(
    env: &Env,
    location: &Location,
    generation: Option<u64>,
) -> Result<Changes, Error> {
    durable::send(env, since_message(location, generation)?, unavailable).await
}

/// What came after `generation`, from `location`'s mirror; an error when the mirror cannot
/// tell (the caller then asks the primary).
pub async fn mirror_since(
    env: &Env,
    location: &Location,
    generation: Option<u64>,
) -> Result<Changes, Error> {
    durable::send(
        env,
        mirror_since_message(location, generation)?,
        unavailable,
    )
    .await
}

#[derive(Deserialize)]
struct Row {
    generation: i64,
    at: i64,
    body: String,
}

#[derive(Deserialize)]
struct Number {
    n: Option<i64>,
}

/// The primary log (its table) or a location's mirror (its copy, in memory): which one an
/// object is follows from the messages it is sent.
#[durable_object]
pub struct Revocations {
    state: State,
    env: Env,
    schema_ready: Cell<bool>,
    mirror: RefCell<LogMirror>,
}

impl DurableObject for Revocations {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            schema_ready: Cell::new(false),
            mirror: RefCell::new(LogMirror::default()),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: Message = req.json().await?;
        let now = worker::Date::now().as_millis();
        if let Message::MirrorSince { generation, copy } = message {
            return self.mirror_since(generation, copy, now).await;
        }
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
        let now = now as i64;
        match message {
            Message::Append { updates } => {
                sql.exec(
                    "INSERT INTO log (at, body) VALUES (?, ?)",
                    vec![now.into(), updates.into()],
                )?;
                sql.exec(
                    "DELETE FROM log WHERE at < ? AND generation < (SELECT MAX(generation) FROM log)",
                    vec![(now - KEEP_MS as i64).into()],
                )?;
                Response::from_json(&latest(&sql)?)
            }
            Message::Since { generation } => Response::from_json(&since_in(&sql, generation, now)?),
            Message::Tail { after } => Response::from_json(&tail_in(&sql, after, now)?),
            Message::MirrorSince { .. } => Response::error("not a primary message", 400),
        }
    }
}

impl Revocations {
    /// A mirror's answer: refreshed from the primary first when due; 503 when its copy cannot
    /// answer (too old, or not reaching back to `generation`).
    async fn mirror_since(
        &self,
        generation: Option<u64>,
        copy: u8,
        now: u64,
    ) -> worker::Result<Response> {
        let due = self.mirror.borrow_mut().refresh_due(now);
        if let Some(after) = due {
            let tail: Result<LogTail, Error> = durable::call(
                &self.env,
                DO_BINDING,
                &log_name(copy),
                &Message::Tail { after },
                unavailable,
            )
            .await;
            match tail {
                Ok(tail) => self.mirror.borrow_mut().refreshed(tail, now),
                Err(error) => worker::console_error!("log mirror: {}", error.message),
            }
        }
        let answer = self
            .mirror
            .borrow()
            .answer(generation, worker::Date::now().as_millis());
        match answer {
            Some(changes) => Response::from_json(&changes),
            None => Response::error("the mirror cannot answer; ask the primary", 503),
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

/// The entries of the pin window: what a new isolate or a new mirror copy starts from.
fn pin_window(sql: &SqlStorage, now: i64) -> worker::Result<Vec<Row>> {
    sql.exec(
        "SELECT generation, at, body FROM log WHERE at >= ? ORDER BY generation",
        vec![(now - PIN_MS as i64).into()],
    )?
    .to_array()
}

fn after(sql: &SqlStorage, generation: u64) -> worker::Result<Vec<Row>> {
    sql.exec(
        "SELECT generation, at, body FROM log WHERE generation > ? ORDER BY generation",
        vec![(generation as i64).into()],
    )?
    .to_array()
}

/// Whether entries after `generation` were pruned: a reader at `generation` missed them.
fn missed(sql: &SqlStorage, generation: u64, latest: u64) -> worker::Result<bool> {
    let oldest = number(sql, "SELECT MIN(generation) AS n FROM log")?.unwrap_or(0) as u64;
    Ok(generation + 1 < oldest && generation < latest)
}

fn since_in(sql: &SqlStorage, generation: Option<u64>, now: i64) -> worker::Result<Changes> {
    let latest = latest(sql)?;
    let reset = match generation {
        Some(g) => missed(sql, g, latest)?,
        None => false,
    };
    let rows = match generation {
        Some(g) if !reset => after(sql, g)?,
        _ => pin_window(sql, now)?,
    };
    let generation = rows
        .last()
        .map_or(latest, |r| (r.generation as u64).max(latest));
    Ok(Changes {
        generation,
        reset,
        entries: rows.into_iter().map(|r| r.body).collect(),
    })
}

fn tail_in(sql: &SqlStorage, after_generation: Option<u64>, now: i64) -> worker::Result<LogTail> {
    let latest = latest(sql)?;
    let extend = match after_generation {
        Some(g) => !missed(sql, g, latest)?,
        None => false,
    };
    let (rows, base) = match after_generation {
        Some(g) if extend => (after(sql, g)?, g),
        _ => {
            let rows = pin_window(sql, now)?;
            let base = rows
                .first()
                .map_or(latest, |r| (r.generation as u64).saturating_sub(1));
            (rows, base)
        }
    };
    Ok(LogTail {
        fresh_copy: !extend,
        base,
        latest: rows
            .last()
            .map_or(latest, |r| (r.generation as u64).max(latest)),
        entries: rows
            .into_iter()
            .map(|r| LogEntry {
                generation: r.generation as u64,
                at_ms: r.at as u64,
                body: r.body,
            })
            .collect(),
    })
}
