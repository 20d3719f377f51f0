//! The edge's fast path: what the JS entry (`js/entry.mjs`, `js/fast-path.mjs`) calls instead of
//! the workers-rs `fetch` event.
//!
//! A key design decision of this file: per request, JavaScript and wasm cross once (twice when
//! the key is not in this isolate's cache and KV must be read between the two calls). The
//! entry hands over the method, the URL and every header as one text block; the answer comes
//! back as one text — a complete response, a KV key to read, a planned origin request, a
//! Durable Object message to send first, or `full` for what only the workers-rs path serves
//! (the admin API, sandbox requests that need the account's state object, and keys with a
//! rate limit, counted by a Durable Object). The workers-rs framework costs ~50 µs of CPU per
//! request before any of our code runs, and ~2 ms at an isolate's first request
//! (docs/performance.md): edge requests, and the isolate's own housekeeping (the revocation
//! log's reads, the activity's sends), never need it.
//!
//! The decisions are the same functions the workers-rs path calls (`edge::decide`,
//! `sandbox::stateless`, `origin::plan`, `origin::relayed_headers`): this file only encodes.
//!
//! Answers (`\n`-separated; header values never contain a newline):
//! - `respond <status> <delay_ms>`, header lines `Name: value`, a blank line, the body;
//! - `lookup <cache_ttl_seconds> <kv key>`: read KV, then call [`edge`] again with the result;
//! - `origin <request id> <timeout_ms>`, the target URL, header lines, a blank line;
//! - `sync <binding> <object name> <url>`, then the message: POST it, hand the reply's text to
//!   [`edge_synced`], then call [`edge`] again at stage 3 (the revocation log);
//! - `full`.
//!
//! After its answer, every request asks [`edge_flush_after`] whether it must arm the isolate's
//! activity flush; when the timer fires, [`edge_flush`] gives the message to send (the same
//! `send <binding> <object name> <url>` block), and the JS POSTs it without waiting for the
//! reply (`src/activity.rs`).

use crate::durable::{OBJECT_URL, Outgoing};
use crate::edge::{self, Lookup, Next};
use crate::facts::CredentialHeaders;
use crate::http::log_server_error;
use crate::keystore::{self, KV_CACHE_TTL_S, kv_key};
use crate::revocations::{self, Changes};
use crate::settings::Vars;
use crate::{activity, origin, registry, sandbox};
use keygate_core::ids::new_request_id;
use keygate_core::keys::Environment;
use keygate_core::policy;
use keygate_core::target::{is_admin_path, split_url};
use keygate_core::{Answer, Error};
use std::fmt::Write as _;
use wasm_bindgen::prelude::*;
use worker::Env;

const FULL: &str = "full";

/// The request's headers as the JS entry sends them: `name: value` lines, names in lower case
/// (as `Headers` iterates them, repeated headers already joined with `, `).
struct HeaderBlock<'a>(Vec<(&'a str, &'a str)>);

impl<'a> HeaderBlock<'a> {
    fn parse(text: &'a str) -> Self {
        Self(
            text.lines()
                .filter_map(|line| line.split_once(": "))
                .collect(),
        )
    }

    fn get(&self, name: &str) -> Option<&'a str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    }
}

/// Where the JS entry is with a request, the `stage` of [`edge`]. The revocation log is asked
/// for before the KV read, at most once: a request sees at most one `sync`, never after its KV
/// read.
#[derive(Clone, Copy, PartialEq)]
enum Stage {
    /// 0: the first call: a `sync` or the request's own answer.
    New,
    /// 3: the first call again, the revocation log read: the request's own answer.
    Synced,
    /// 1: KV has answered (`record` is its text, absent for an unknown key).
    Looked,
    /// 2: KV failed.
    LookupFailed,
}

impl Stage {
    fn from_js(stage: u8) -> Self {
        match stage {
            0 => Self::New,
            3 => Self::Synced,
            1 => Self::Looked,
            // Anything else would be the JS entry's fault: fail closed, as when KV fails.
            _ => Self::LookupFailed,
        }
    }
}

#[wasm_bindgen]
pub fn edge(
    env: &Env,
    method: &str,
    url: &str,
    headers: &str,
    stage: u8,
    record: Option<String>,
) -> String {
    let request_id = new_request_id(&crate::random::PlatformRandom);
    match run(
        env,
        method,
        url,
        headers,
        Stage::from_js(stage),
        record,
        &request_id,
    ) {
        Ok(answer) => answer,
        Err(error) => {
            log_server_error(&request_id, &error);
            respond_error(&error, &request_id, false)
        }
    }
}

/// The revocation log's reply to a `sync` answer (`None`: it could not be reached or did not
/// answer 200). A failure is only recorded, as on the workers-rs path: `keystore::check_fresh`
/// decides how long the isolate may go on without.
#[wasm_bindgen]
pub fn edge_synced(reply: Option<String>) {
    if let Some(changes) = reply.and_then(|text| serde_json::from_str::<Changes>(&text).ok()) {
        keystore::finish_sync(&changes);
    }
}

/// The delay, in milliseconds, of the activity flush this request must arm (`waitUntil`), or
/// nothing when none is needed.
#[wasm_bindgen]
pub fn edge_flush_after() -> Option<u32> {
    activity::flush_after().map(|ms| u32::try_from(ms).unwrap_or(u32::MAX))
}

/// The armed flush's message: `send <binding> <object name> <url>`, then the Registry message
/// with everything waiting; nothing when nothing is.
#[wasm_bindgen]
pub fn edge_flush(env: &Env) -> Option<String> {
    let message = activity::take_message(Vars::get(env).limits)?;
    match registry::outgoing(&message) {
        Ok(outgoing) => Some(object_message("send", &outgoing)),
        Err(error) => {
            worker::console_error!("activity not recorded: {}", error.message);
            None
        }
    }
}

/// The headers of the origin's answer (same block format) as they go back to the client.
#[wasm_bindgen]
pub fn edge_relay(headers: &str, request_id: &str) -> String {
    let block = HeaderBlock::parse(headers);
    let mut out = String::with_capacity(headers.len() + 48);
    for (name, value) in origin::relayed_headers(block.0.iter().copied()) {
        header_line(&mut out, name, value);
    }
    header_line(&mut out, "X-Request-Id", request_id);
    out
}

/// The answer when the origin could not be reached (or, `timed_out`, did not answer in time).
#[wasm_bindgen]
pub fn edge_origin_failed(timed_out: bool, request_id: &str) -> String {
    let error = if timed_out {
        origin::timed_out()
    } else {
        origin::unreachable()
    };
    respond_error(&error, request_id, false)
}

fn run(
    env: &Env,
    method: &str,
    url: &str,
    headers: &str,
    stage: Stage,
    record: Option<String>,
    request_id: &str,
) -> Result<String, Error> {
    let vars = Vars::get(env);
    let url = split_url(url).ok_or_else(|| Error::bad_request("The request URL is invalid."))?;
    // A refused plain-HTTP request may carry a key to mark leaked: the workers-rs path does it.
    if policy::check_https(url.https, &vars.settings).is_err() {
        return Ok(FULL.into());
    }
    if is_admin_path(url.path) {
        return Ok(FULL.into());
    }
    // Before the decision, as on the workers-rs path: the revocation log at most twice a
    // second. The JS entry reads it and calls again.
    if stage == Stage::New && keystore::sync_due() {
        let since = revocations::since_message(keystore::begin_sync())?;
        return Ok(object_message("sync", &since));
    }
    let block = HeaderBlock::parse(headers);
    let credentials = CredentialHeaders::from_getter(|name| Ok(block.get(name).map(Into::into)))?;
    let facts = credentials.facts(&url, method);
    let lookup = match stage {
        Stage::New | Stage::Synced => Lookup::NotYet,
        Stage::Looked => Lookup::Done(Ok(record)),
        Stage::LookupFailed => Lookup::Done(Err(policy::store_unavailable())),
    };
    let (grant, target, record) = match edge::decide(&facts, vars, lookup, request_id)? {
        Next::Lookup(hash) => return Ok(format!("lookup {KV_CACHE_TTL_S} {}", kv_key(&hash))),
        Next::Granted(grant, target, record) => (grant, target, record),
    };
    // A limited key's requests are counted by a Durable Object: the workers-rs path does it.
    if grant.is_rate_limited() {
        return Ok(FULL.into());
    }
    match grant.environment {
        Environment::Test => {
            let answer = sandbox::stateless(
                method,
                &target,
                block.get("idempotency-key"),
                block.get("x-sandbox-scenario"),
            );
            if !matches!(answer, Ok(None)) {
                edge::record_use(&record, &facts, &grant, request_id);
            }
            Ok(match answer {
                Ok(Some(answer)) => respond(
                    answer.status,
                    answer.delay_ms,
                    sandbox::answer_headers(&answer.headers),
                    request_id,
                    &answer.body,
                ),
                Ok(None) => FULL.into(),
                Err(error) => {
                    log_server_error(request_id, &error);
                    respond_error(&error, request_id, true)
                }
            })
        }
        Environment::Live => {
            edge::record_use(&record, &facts, &grant, request_id);
            let plan = origin::plan(
                vars,
                &grant,
                &target,
                request_id,
                method,
                block.0.iter().copied(),
                block.get("connection").unwrap_or_default(),
            )?;
            let mut out = format!(
                "origin {request_id} {}\n{}\n",
                plan.timeout.as_millis(),
                plan.url
            );
            for (name, value) in &plan.headers {
                header_line(&mut out, name, value);
            }
            out.push('\n');
            Ok(out)
        }
    }
}

fn object_message(kind: &str, outgoing: &Outgoing<'_>) -> String {
    format!(
        "{kind} {} {} {OBJECT_URL}\n{}",
        outgoing.binding, outgoing.object_name, outgoing.body
    )
}

fn header_line(out: &mut String, name: &str, value: &str) {
    let _ = writeln!(out, "{name}: {value}");
}

fn respond<'h>(
    status: u16,
    delay_ms: u32,
    headers: impl IntoIterator<Item = (&'h str, &'h str)>,
    request_id: &str,
    body: &str,
) -> String {
    let mut out = String::with_capacity(body.len() + 160);
    let _ = writeln!(out, "respond {status} {delay_ms}");
    for (name, value) in headers {
        header_line(&mut out, name, value);
    }
    header_line(&mut out, "X-Request-Id", request_id);
    out.push('\n');
    out.push_str(body);
    out
}

fn respond_error(error: &Error, request_id: &str, sandboxed: bool) -> String {
    let answer = Answer::from(error);
    let mut lines: Vec<(&str, &str)> = answer
        .headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    if sandboxed {
        lines.push(("X-Sandbox", "true"));
    }
    let body = answer.body.as_deref().unwrap_or_default();
    respond(answer.status, 0, lines, request_id, body)
}
