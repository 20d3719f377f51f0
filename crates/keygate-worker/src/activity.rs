//! What this isolate saw at the edge, collected off the hot path and sent to the `Registry` in
//! batches (`Command::RecordActivity`, `keygate_core::engine::activity`): each key's use
//! (written back at most once a minute per key from this isolate), the true reasons of
//! refused requests made with our keys, and addresses a report-only allowlist let through.
//!
//! Recording is a push into a buffer; the send happens in `ctx.wait_until` when the next
//! request finds something due (on the fast path the JS entry sends the message that
//! [`take_message`] builds; `src/fast.rs`), so no request waits for it. A refusal is sent
//! about a second after it happened; an isolate that is evicted first loses at most that
//! second of records (docs/admin-api.md).

use crate::registry::{self, Message};
use crate::settings::Limits;
use keygate_core::Error;
use keygate_core::credentials::extract_credential;
use keygate_core::engine::{Caller, Command, Denial, IpSeen, KeyUse, WouldDeny};
use keygate_core::keys::{KeyHash, KeyKind, parse_key};
use keygate_core::model::EdgeRecord;
use keygate_core::policy::RequestFacts;
use std::cell::RefCell;
use std::collections::HashMap;
use worker::Env;

/// Refusals and reports wait at most this long for a send.
const SEND_AFTER_MS: u64 = 1_000;
/// A key's use is written back at most this often from one isolate.
const USE_EVERY_MS: u64 = 60_000;
/// More than this many refusals waiting are sent at once, and past twice this new ones are
/// dropped (a flood of refused requests must not grow memory without bound).
const BATCH: usize = 200;
/// Addresses one key's buffered use remembers between write-backs.
const MAX_BUFFERED_IPS: usize = 64;

#[derive(Default)]
struct Buffer {
    uses: HashMap<String, KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
    exposed: Vec<KeyHash>,
    first_uses: Vec<(String, i64)>,
    /// When the oldest waiting refusal or report was recorded.
    waiting_since_ms: Option<u64>,
    uses_sent_ms: u64,
}

thread_local! {
    static BUFFER: RefCell<Buffer> = RefCell::new(Buffer::default());
}

fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

/// A granted request of `record`'s key from `ip`.
pub fn used(record: &EdgeRecord, ip: Option<&str>, now_s: i64) {
    // A successor whose predecessor's grace waits for its first use: say so promptly.
    if record.key.report_first_use {
        let id = &record.key.id;
        waiting(|buffer| {
            if !buffer.first_uses.iter().any(|(k, _)| k == id) {
                buffer.first_uses.push((id.clone(), now_s));
            }
        });
    }
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        if buffer.uses_sent_ms == 0 {
            buffer.uses_sent_ms = now_ms();
        }
        let entry = buffer
            .uses
            .entry(record.key.id.clone())
            .or_insert_with(|| KeyUse {
                key_id: record.key.id.clone(),
                account_id: record.key.account_id.clone(),
                last_used_at: now_s,
                last_used_ip: None,
                ips: Vec::new(),
            });
        entry.last_used_at = entry.last_used_at.max(now_s);
        if let Some(ip) = ip {
            entry.last_used_ip = Some(ip.to_string());
            if let Some(seen) = entry.ips.iter_mut().find(|seen| seen.ip == ip) {
                seen.count += 1;
                seen.last_seen_at = now_s;
            } else {
                // Bounded between reports; the views keep the most recent addresses, so the
                // oldest here makes room (its count is lost, not the newcomer).
                if entry.ips.len() >= MAX_BUFFERED_IPS
                    && let Some(oldest) =
                        (0..entry.ips.len()).min_by_key(|&i| entry.ips[i].last_seen_at)
                {
                    entry.ips.swap_remove(oldest);
                }
                entry.ips.push(IpSeen {
                    ip: ip.to_string(),
                    count: 1,
                    last_seen_at: now_s,
                });
            }
        }
    });
}

/// A request of `record`'s key refused with `error`.
pub fn denied(
    record: &EdgeRecord,
    facts: &RequestFacts<'_>,
    error: &Error,
    request_id: &str,
    now_s: i64,
) {
    waiting(|buffer| {
        if buffer.denials.len() < 2 * BATCH {
            buffer.denials.push(Denial {
                request_id: request_id.to_string(),
                account_id: record.key.account_id.clone(),
                key_id: record.key.id.clone(),
                status: error.status,
                reason: error.true_reason().to_string(),
                method: facts.method.to_string(),
                path: facts.path.to_string(),
                ip: facts.cf_connecting_ip.map(str::to_string),
                at: now_s,
            });
        }
    });
}

/// `ip` was outside an allowlist in report mode and let through.
pub fn would_deny(record: &EdgeRecord, ip: &str, request_id: &str, now_s: i64) {
    waiting(|buffer| {
        let seen = buffer
            .would_deny
            .iter()
            .any(|w| w.key_id == record.key.id && w.ip == ip);
        if !seen && buffer.would_deny.len() < 2 * BATCH {
            buffer.would_deny.push(WouldDeny {
                account_id: record.key.account_id.clone(),
                key_id: record.key.id.clone(),
                ip: ip.to_string(),
                request_id: request_id.to_string(),
                at: now_s,
            });
        }
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
    if parsed.kind() != KeyKind::Secret {
        return;
    }
    let hash = parsed.hash();
    waiting(|buffer| {
        if !buffer.exposed.contains(&hash) && buffer.exposed.len() < 2 * BATCH {
            buffer.exposed.push(hash);
        }
    });
}

fn waiting(add: impl FnOnce(&mut Buffer)) {
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        buffer.waiting_since_ms.get_or_insert_with(now_ms);
        add(&mut buffer);
    });
}

/// Whether something should be sent now.
pub fn due() -> bool {
    let now = now_ms();
    BUFFER.with(|buffer| {
        let buffer = buffer.borrow();
        buffer
            .waiting_since_ms
            .is_some_and(|since| now.saturating_sub(since) >= SEND_AFTER_MS)
            || buffer.denials.len() >= BATCH
            || (!buffer.uses.is_empty() && now.saturating_sub(buffer.uses_sent_ms) >= USE_EVERY_MS)
    })
}

/// Takes what is due out of the buffer as one command.
fn take() -> Option<Command> {
    let now = now_ms();
    BUFFER.with(|buffer| {
        let mut buffer = buffer.borrow_mut();
        let uses: Vec<KeyUse> = if now.saturating_sub(buffer.uses_sent_ms) >= USE_EVERY_MS {
            buffer.uses_sent_ms = now;
            buffer.uses.drain().map(|(_, used)| used).collect()
        } else {
            Vec::new()
        };
        let denials = std::mem::take(&mut buffer.denials);
        let would_deny = std::mem::take(&mut buffer.would_deny);
        let exposed = std::mem::take(&mut buffer.exposed);
        let first_uses = std::mem::take(&mut buffer.first_uses);
        buffer.waiting_since_ms = None;
        let any = !uses.is_empty()
            || !denials.is_empty()
            || !would_deny.is_empty()
            || !exposed.is_empty()
            || !first_uses.is_empty();
        any.then_some(Command::RecordActivity {
            uses,
            denials,
            would_deny,
            exposed,
            first_uses,
            counted: Vec::new(),
        })
    })
}

/// What is ready to send, taken out of the buffer as one Registry message.
pub fn take_message(limits: Limits, now_s: i64) -> Option<Message> {
    take().map(|command| Message {
        caller: Caller::Edge,
        now: now_s,
        demo_seed: false,
        limits,
        fail_after_writes: None,
        request_id: String::new(),
        command,
    })
}

/// Sends what is ready to the Registry. Meant for `ctx.wait_until`: a failure only loses these
/// records (they are reports, not decisions).
pub async fn send(env: Env, limits: Limits, now_s: i64) {
    let Some(message) = take_message(limits, now_s) else {
        return;
    };
    if let Err(error) = registry::call(&env, &message).await {
        worker::console_error!("activity not recorded: {} {}", error.status, error.message);
    }
}
