//! Rate limits at the edge and the admin budgets of `keys:manage` keys, in `RateLimiter`
//! Durable Objects that each hold a set of windows (`keygate_core::ratelimit::AccountWindows`).
//! The edge's windows of an account (the account's own, and those of its keys that carry a
//! limit of their own) are counted per location: one object per account and location
//! (`Location::limiter`), as the rate-limit contract says ("within one deployment location"),
//! so no single object serialises a hot key's worldwide traffic. The admin budgets are counted
//! once per account (an object named by the account id), since they guard the one Registry. A
//! Durable Object runs one request at a time, so one call counts a request in all its windows
//! at once, exactly.
//!
//! The windows' grants are also kept in the object's SQLite storage (`window_grants`: the window's
//! name and the grant's time, one row per window and grant): an object evicted after an idle spell reloads them, so a period
//! longer than the spell is still honoured. Requests no limit applies to never reach this file
//! (the JS fast path serves them). Before windows were per account the grants lived in a table
//! `grants` of one object per key; those objects are no longer addressed, and a window is at
//! most an hour old, so nothing was carried over.

use crate::durable;
use keygate_core::Error;
use keygate_core::ratelimit::{AccountWindows, Count, MAX_PERIOD_SECONDS, RateDecision};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use worker::{DurableObject, Env, Request, Response, SqlStorageValue, State, durable_object};

pub const DO_BINDING: &str = "RATE_LIMITER";
/// Grants older than the longest period are deleted every this many grants.
const PRUNE_EVERY: u32 = 256;

/// What the worker sends: the windows to count one request in, all or none. The reply is the
/// core's `Option<RateDecision>`.
#[derive(Serialize, Deserialize)]
struct Message {
    counts: Vec<Count>,
}

fn unavailable() -> Error {
    Error::unavailable(
        "The rate limiter is not available, so the request could not be counted. Retry shortly.",
    )
    .with_retry_after(1)
}

/// Counts one request in `counts` at the limiter object `limiter` (`Location::limiter` for
/// the edge's windows, the account id for the admin budgets); fails closed (503) when it
/// cannot. `None` when `counts` is empty.
pub async fn take(
    env: &Env,
    limiter: &str,
    counts: Vec<Count>,
) -> Result<Option<RateDecision>, Error> {
    if counts.is_empty() {
        return Ok(None);
    }
    durable::call(env, DO_BINDING, limiter, &Message { counts }, unavailable).await
}

#[derive(Deserialize)]
struct Grant {
    name: String,
    at: i64,
}

#[durable_object]
pub struct RateLimiter {
    state: State,
    windows: RefCell<Option<AccountWindows>>,
    since_prune: Cell<u32>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            windows: RefCell::new(None),
            since_prune: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: Message = req.json().await?;
        match self.take(&message.counts) {
            Ok(decision) => Response::from_json(&decision),
            Err(_) => Response::error("rate limiter storage failed", 503),
        }
    }
}

impl RateLimiter {
    fn take(&self, counts: &[Count]) -> worker::Result<Option<RateDecision>> {
        let sql = self.state.storage().sql();
        let now = worker::Date::now().as_millis() as i64;
        let oldest = now - i64::from(MAX_PERIOD_SECONDS) * 1000;
        let mut windows = self.windows.borrow_mut();
        if windows.is_none() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS window_grants \
                 (name TEXT NOT NULL, at INTEGER NOT NULL)",
                None,
            )?;
            let grants: Vec<Grant> = sql
                .exec(
                    "SELECT name, at FROM window_grants WHERE at > ? ORDER BY at",
                    vec![SqlStorageValue::from(oldest)],
                )?
                .to_array()?;
            *windows = Some(AccountWindows::from_grants(
                grants.into_iter().map(|g| (g.name, g.at)),
            ));
        }
        let windows = windows.get_or_insert_with(AccountWindows::default);
        let decision = windows.take(counts, now);
        if decision.is_some_and(|d| d.allowed) {
            for count in counts {
                sql.exec(
                    "INSERT INTO window_grants (name, at) VALUES (?, ?)",
                    vec![count.window.as_str().into(), now.into()],
                )?;
            }
            let count = self.since_prune.get() + 1;
            self.since_prune.set(count % PRUNE_EVERY);
            if count >= PRUNE_EVERY {
                sql.exec(
                    "DELETE FROM window_grants WHERE at <= ?",
                    vec![oldest.into()],
                )?;
            }
        }
        Ok(decision)
    }
}
