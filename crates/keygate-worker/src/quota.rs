//! Quotas and credits at the edge (docs/quotas.md): this isolate's leases on the accounts'
//! ledgers (`keygate_core::quota::Leases`, where the rules are), the lease request to the
//! account's Registry when none is usable, and the flush that settles what it granted.
//!
//! A request with a usable lease is decided here without any call, and so is one of a lane the
//! ledger found full less than a second ago (refused, and counted for the next report);
//! otherwise it waits for one call to its account's Registry, which takes what this isolate
//! owes that account and leases (or refuses: the ledger counts the refusal). Every step fails
//! closed: a Registry that cannot answer is a 503, never a grant.

use crate::registry::{self, Message};
use crate::settings::Limits;
use keygate_core::Error;
use keygate_core::engine::{Caller, Command, LeaseAnswer};
use keygate_core::policy::Grant;
use keygate_core::quota::{self, LeaseReply, Leases, Owed, QuotaStatus};
use std::cell::RefCell;
use std::time::Duration;
use worker::{Context, Delay, Env};

thread_local! {
    static LEASES: RefCell<Leases> = RefCell::default();
}

/// How long one armed flush keeps settling before it hands over to the next request's.
const FLUSH_RUNS_FOR_MS: i64 = 20_000;

fn now_ms() -> i64 {
    worker::Date::now().as_millis() as i64
}

fn unavailable() -> Error {
    Error::unavailable(
        "The quota could not be checked, so the request was not served. Retry shortly.",
    )
    .with_retry_after(1)
}

/// What the ledger decided for one request.
pub enum Metered {
    /// No quota or credits apply.
    Unmetered,
    /// Granted; the tightest counter, for the answer's headers.
    Granted(Option<QuotaStatus>),
    /// Refused: the 429, and the full counter for its headers.
    Refused(Error, QuotaStatus),
}

/// Counts `grant` in its account's ledger, from a lease this isolate holds or a new one.
pub async fn admit(
    env: &Env,
    limits: Limits,
    grant: &Grant,
    request_id: &str,
) -> Result<Metered, Error> {
    let now_ms = now_ms();
    let now = now_ms / 1000;
    let counters = grant.counters(now);
    if counters.is_empty() {
        return Ok(Metered::Unmetered);
    }
    let lane = grant.lane(now);
    // Its counters are part of the lane's name: a lease drawn under other limits (the key's
    // record changed) is never granted from again.
    let lane_name = serde_json::to_string(&(&lane, &counters)).map_err(|_| Error::internal())?;
    let account_id = grant.account_id.as_str();
    let held = LEASES.with(|leases| leases.borrow_mut().take(account_id, &lane_name, now_ms));
    if let Some(status) = held {
        return Ok(Metered::Granted(Some(status)));
    }
    let refusing = LEASES.with(|leases| leases.borrow_mut().refuse(account_id, &lane_name, now_ms));
    if let Some(full) = refusing {
        let (error, status) = quota::refusal(&full, now);
        return Ok(Metered::Refused(error, status));
    }
    let Owed { settle, refused } = owed(Some(account_id), now_ms)
        .into_iter()
        .map(|(_, owed)| owed)
        .next()
        .unwrap_or_default();
    let command = Command::Lease {
        account_id: account_id.to_string(),
        lane: Some(lane.clone()),
        counters,
        settle,
        refused,
    };
    match call(env, limits, command, request_id).await? {
        Some(LeaseReply::Granted {
            id,
            requests,
            expires_at,
            counters,
        }) => {
            let status = LEASES.with(|leases| {
                leases.borrow_mut().add(
                    account_id, &lane_name, id, requests, expires_at, counters, now_ms,
                )
            });
            Ok(Metered::Granted(status))
        }
        Some(LeaseReply::Full { full }) => {
            let (error, status) = quota::refusal(&full, now);
            LEASES.with(|leases| {
                leases
                    .borrow_mut()
                    .full(account_id, &lane_name, lane, full, now_ms)
            });
            Ok(Metered::Refused(error, status))
        }
        Some(LeaseReply::Busy) | None => Err(unavailable()),
    }
}

fn owed(account_id: Option<&str>, now_ms: i64) -> Vec<(String, Owed)> {
    LEASES.with(|leases| leases.borrow_mut().settlements(account_id, now_ms, false))
}

async fn call(
    env: &Env,
    limits: Limits,
    command: Command,
    request_id: &str,
) -> Result<Option<LeaseReply>, Error> {
    let message = Message {
        caller: Caller::Edge,
        now: now_ms() / 1000,
        demo_seed: false,
        limits,
        test: None,
        request_id: request_id.to_string(),
        command,
    };
    let reply = registry::call(env, message, None).await?;
    if reply.answer.status != 200 {
        return Err(unavailable());
    }
    let body = reply.answer.body.as_deref().unwrap_or("");
    let answer: LeaseAnswer = serde_json::from_str(body).map_err(|_| unavailable())?;
    Ok(answer.lease)
}

/// Arms, in this request's `waitUntil`, the flush that settles this isolate's leases once
/// they are spent or stop being usable, if none is armed: it runs until nothing is held (or
/// for [`FLUSH_RUNS_FOR_MS`], after which the next request arms another).
pub fn arm(env: &Env, ctx: &Context, limits: Limits) {
    let Some(first) = LEASES.with(|leases| leases.borrow_mut().arm(now_ms())) else {
        return;
    };
    let env = env.clone();
    ctx.wait_until(async move {
        let started = now_ms();
        let mut delay = first;
        loop {
            Delay::from(Duration::from_millis(delay.max(50))).await;
            settle(&env, limits).await;
            let next = LEASES.with(|leases| leases.borrow_mut().next_due(now_ms()));
            match next {
                Some(due) if now_ms() - started < FLUSH_RUNS_FOR_MS => delay = due,
                _ => break,
            }
        }
        LEASES.with(|leases| leases.borrow_mut().disarm());
    });
}

/// Sends what this isolate owes, each account's to its Registry at once. A settlement that
/// fails is lost, and its lease lapses in the ledger: counted as used, never as free (and the
/// refusals it reported are missing from the export).
async fn settle(env: &Env, limits: Limits) {
    let sends = owed(None, now_ms()).into_iter().map(|(account_id, owed)| {
        let command = Command::Lease {
            account_id,
            lane: None,
            counters: Vec::new(),
            settle: owed.settle,
            refused: owed.refused,
        };
        call(env, limits, command, "")
    });
    for result in futures_util::future::join_all(sends).await {
        if let Err(error) = result {
            worker::console_error!("quota settlement lost: {} {}", error.status, error.message);
        }
    }
}
