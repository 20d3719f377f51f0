//! Per-key rate limits at the edge: one `RateLimiter` Durable Object per limited key, holding
//! the key's sliding window (`keygate_core::ratelimit`). A Durable Object runs one request at
//! a time, so concurrent requests of a key are counted exactly within a location.
//!
//! The window's grants are also kept in the object's SQLite storage: an object evicted after
//! an idle spell reloads them, so a period longer than the spell is still honoured. Keys
//! without a limit never reach this file (the JS fast path serves them).

use crate::durable;
use keygate_core::Error;
use keygate_core::ratelimit::{MAX_PERIOD_SECONDS, RateDecision, RateLimit, SlidingWindow};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use worker::{DurableObject, Env, Request, Response, SqlStorageValue, State, durable_object};

pub const DO_BINDING: &str = "RATE_LIMITER";
/// Grants older than the longest period are deleted every this many grants.
const PRUNE_EVERY: u32 = 256;

/// What the worker sends: the limit to count one request against. The reply is the core's
/// `RateDecision`.
#[derive(Serialize, Deserialize)]
struct Message {
    limit: RateLimit,
}

fn unavailable() -> Error {
    Error::unavailable(
        "The rate limiter is not available, so the request could not be counted. Retry shortly.",
    )
    .with_retry_after(1)
}

/// Counts one request of `key_id` against `limit` (fails closed: 503 when it cannot).
pub async fn take(env: &Env, key_id: &str, limit: RateLimit) -> Result<RateDecision, Error> {
    durable::call(env, DO_BINDING, key_id, &Message { limit }, unavailable).await
}

#[derive(Deserialize)]
struct Grant {
    at: i64,
}

#[durable_object]
pub struct RateLimiter {
    state: State,
    window: RefCell<Option<SlidingWindow>>,
    since_prune: Cell<u32>,
}

impl DurableObject for RateLimiter {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            window: RefCell::new(None),
            since_prune: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let message: Message = req.json().await?;
        match self.take(message.limit) {
            Ok(decision) => Response::from_json(&decision),
            Err(_) => Response::error("rate limiter storage failed", 503),
        }
    }
}

impl RateLimiter {
    fn take(&self, limit: RateLimit) -> worker::Result<RateDecision> {
        let sql = self.state.storage().sql();
        let now = worker::Date::now().as_millis() as i64;
        let mut window = self.window.borrow_mut();
        if window.is_none() {
            sql.exec(
                "CREATE TABLE IF NOT EXISTS grants (at INTEGER NOT NULL)",
                None,
            )?;
            let since = now - i64::from(MAX_PERIOD_SECONDS) * 1000;
            let grants: Vec<Grant> = sql
                .exec(
                    "SELECT at FROM grants WHERE at > ? ORDER BY at",
                    vec![SqlStorageValue::from(since)],
                )?
                .to_array()?;
            *window = Some(SlidingWindow::from_grants(grants.iter().map(|g| g.at)));
        }
        let window = window.get_or_insert_with(SlidingWindow::default);
        let decision = window.take(limit, now);
        if decision.allowed {
            sql.exec("INSERT INTO grants (at) VALUES (?)", vec![now.into()])?;
            let count = self.since_prune.get() + 1;
            self.since_prune.set(count % PRUNE_EVERY);
            if count >= PRUNE_EVERY {
                let before = now - i64::from(MAX_PERIOD_SECONDS) * 1000;
                sql.exec("DELETE FROM grants WHERE at <= ?", vec![before.into()])?;
            }
        }
        Ok(decision)
    }
}
