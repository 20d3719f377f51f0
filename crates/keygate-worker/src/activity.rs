//! What this isolate saw at the edge, held in the core's `ActivityBuffer`
//! (`keygate_core::isolate`, where the rules and bounds are) and sent to the `Registry` as
//! `Command::RecordActivity`.
//!
//! Every request that records something asks [`flush_after`] whether a flush must be armed, and
//! if so arms it in its own `waitUntil` (here through [`arm`]; on the fast path the JS entry does
//! it when a step carries `flush=`, and the timer takes the `send` step from `edge_flush`,
//! `src/protocol.rs`). So nothing waits for later traffic: a
//! refusal is sent about a second after it happened, a key's use within `USE_EVERY_MS`. What can
//! still be lost: a flush whose send fails (the records are reports, not decisions: logged and
//! dropped), and what an isolate held when it was killed before its timer ran.

use crate::registry::{self, Message};
use crate::settings::Limits;
use keygate_core::Error;
use keygate_core::credentials::extract_credential;
use keygate_core::engine::{Caller, Denial, WouldDeny};
use keygate_core::isolate::ActivityBuffer;
use keygate_core::keys::{KeyKind, parse_key};
use keygate_core::model::EdgeRecord;
use keygate_core::policy::RequestFacts;
use keygate_core::shard::split_activity;
use std::cell::RefCell;
use std::net::IpAddr;
use std::time::Duration;
use worker::{Context, Delay, Env};

thread_local! {
    static BUFFER: RefCell<ActivityBuffer> = RefCell::default();
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

fn with_buffer<T>(f: impl FnOnce(&mut ActivityBuffer, u64) -> T) -> T {
    BUFFER.with(|buffer| f(&mut buffer.borrow_mut(), now_ms()))
}

/// A granted request of `record`'s key from `ip`.
pub fn used(record: &EdgeRecord, ip: Option<IpAddr>) {
    let key = &record.key;
    with_buffer(|buffer, now| {
        buffer.used(&key.id, &key.account_id, ip, key.report_first_use, now);
    });
}

/// A request of `record`'s key refused with `error`.
pub fn denied(record: &EdgeRecord, facts: &RequestFacts<'_>, error: &Error, request_id: &str) {
    with_buffer(|buffer, now| {
        let denial = Denial {
            request_id: request_id.to_string(),
            account_id: record.key.account_id.clone(),
            key_id: record.key.id.clone(),
            status: error.status,
            reason: error.true_reason().to_string(),
            method: facts.method.to_string(),
            path: facts.path.to_string(),
            ip: facts.client_ip.map(|ip| ip.to_string()),
            at: seconds(now),
        };
        buffer.denied(denial, now);
    });
}

/// `ip` was outside an allowlist in report mode and let through.
pub fn would_deny(record: &EdgeRecord, ip: &str, request_id: &str) {
    with_buffer(|buffer, now| {
        let report = WouldDeny {
            account_id: record.key.account_id.clone(),
            key_id: record.key.id.clone(),
            ip: ip.to_string(),
            request_id: request_id.to_string(),
            at: seconds(now),
        };
        buffer.would_deny(report, now);
    });
}

/// The request came over plain HTTP to a deployment that requires HTTPS: if it carries one of
/// our secret keys (well-formed; whether it exists is the Registry's to say), that key crossed a
/// network in clear and will be marked leaked.
pub fn exposed(authorization: Option<&str>, x_api_key: Option<&str>) {
    let Ok(text) = extract_credential(authorization, x_api_key) else {
        return;
    };
    let Ok(parsed) = parse_key(&text) else {
        return;
    };
    if parsed.kind() == KeyKind::Secret {
        with_buffer(|buffer, now| buffer.exposed(parsed.hash(), now));
    }
}

/// The delay of the flush that this request must arm, if any (once per due time: the buffer
/// counts it as armed).
pub fn flush_after() -> Option<u64> {
    with_buffer(|buffer, now| buffer.schedule(now))
}

/// Everything waiting, as messages to send: one per account the records are about (to its
/// Registry), and one of the secrets exposed over plain HTTP (to the directory, which knows
/// their accounts). `keygate_core::shard::split_activity` splits.
pub fn take_messages(limits: Limits) -> Vec<Message> {
    let Some(command) = with_buffer(|buffer, now| buffer.take(now)) else {
        return Vec::new();
    };
    let now = seconds(now_ms());
    split_activity(command)
        .into_iter()
        .map(|command| Message {
            caller: Caller::Edge,
            now,
            demo_seed: false,
            limits,
            test: None,
            request_id: String::new(),
            command,
        })
        .collect()
}

/// The workers-rs path's [`flush_after`]: arms the flush in this request's `waitUntil`.
pub fn arm(env: &Env, ctx: &Context, limits: Limits) {
    if let Some(delay_ms) = flush_after() {
        let env = env.clone();
        ctx.wait_until(async move {
            Delay::from(Duration::from_millis(delay_ms)).await;
            send(env, limits).await;
        });
    }
}

/// Sends what is waiting, each account's to its Registry at once. A failure only loses those
/// records (they are reports, not decisions).
async fn send(env: Env, limits: Limits) {
    let sends = take_messages(limits)
        .into_iter()
        .map(|message| registry::call(&env, message, None));
    for result in futures_util::future::join_all(sends).await {
        if let Err(error) = result {
            worker::console_error!("activity not recorded: {} {}", error.status, error.message);
        }
    }
}

fn seconds(ms: u64) -> i64 {
    i64::try_from(ms / 1000).unwrap_or(i64::MAX)
}
