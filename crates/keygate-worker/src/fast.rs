//! The edge's fast path: what the JS entry (`js/entry.mjs`, `js/fast-path.mjs`) calls instead of
//! the workers-rs `fetch` event.
//!
//! A key design decision of this file: per request, JavaScript and wasm cross once (twice when
//! the key is not in this isolate's cache and KV must be read between the two calls, or when
//! the revocation log is due). The entry hands over the method, the URL and every header as
//! one text block; the answer comes back as one text, a [`Step`] of the fast path's protocol
//! (`src/protocol.rs`, where its grammar is stated): a complete response, a KV key to read, a
//! planned origin request, a Durable Object message to send first, or `full` for what only the
//! workers-rs path serves (the admin API, sandbox requests that need the account's state
//! object, and keys with a rate limit, a quota or credits, counted by a Durable Object). The workers-rs framework
//! costs ~50 µs of CPU per request before any of our code runs, and ~2 ms at an isolate's first
//! request (docs/performance.md): edge requests, and the isolate's own housekeeping (the
//! revocation log's reads, the activity's sends), never need it.
//!
//! The order of a request's steps is decided here: each call of [`edge`] after the first
//! brings back the resume token of the step it follows, and [`protocol::may_follow`] refuses
//! a step the order does not allow. Every step of a request carries the activity flush the
//! request must arm, if any (`flush=`); when that timer fires, [`edge_flush`] gives the `send`
//! steps, one per object (`src/activity.rs`).
//!
//! The decisions are the same functions the workers-rs path calls (`edge::admit`,
//! `sandbox::stateless`, `origin::plan`, `origin::relayed_headers`): this file only turns them
//! into steps.

use crate::durable::{OBJECT_URL, Outgoing};
use crate::edge::{self, Lookup, Next};
use crate::facts::CredentialHeaders;
use crate::http::log_server_error;
use crate::keystore::{self, KV_CACHE_TTL_S, kv_key};
use crate::protocol::{self, ObjectPost, Resume, Resumed, Step};
use crate::revocations;
use crate::settings::Vars;
use crate::{activity, origin, registry, sandbox};
use keygate_core::ids::new_request_id;
use keygate_core::keys::Environment;
use keygate_core::location::TEST_LOCATION_HEADER;
use keygate_core::policy;
use keygate_core::revocation::Changes;
use keygate_core::target::{is_admin_path, split_url};
use keygate_core::{Answer, Error};
use wasm_bindgen::prelude::*;
use worker::Env;

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

/// One step of a request: the first call (`resume` absent), or the call after the step whose
/// token `resume` is, with whether that step worked (`ok`) and its text (KV's record, the
/// object's reply). `colo` is the platform's location of the request (`request.cf.colo`).
/// Answers a [`Step`], encoded.
#[wasm_bindgen]
#[allow(
    clippy::too_many_arguments,
    reason = "one crossing: the request and the resumed step"
)]
pub fn edge(
    env: &Env,
    method: &str,
    url: &str,
    headers: &str,
    colo: Option<String>,
    resume: Option<String>,
    ok: bool,
    text: Option<String>,
) -> String {
    let request_id = new_request_id(&crate::random::PlatformRandom);
    let resumed = Resumed::from_js(resume.as_deref(), ok, text);
    let answer = if resumed == Resumed::Unexpected {
        // The JS entry's fault: fail closed, as when KV fails.
        Err(policy::store_unavailable().with_reason("fast path: a resume token never given"))
    } else {
        run(
            env,
            method,
            url,
            headers,
            colo.as_deref(),
            resumed,
            &request_id,
        )
    };
    answer.unwrap_or_else(|error| {
        log_server_error(&request_id, &error);
        respond_error(&error, &request_id, false, flush_after())
    })
}

/// The delay, in milliseconds, of the activity flush this request must arm (`waitUntil`), if
/// one is needed: asked once the request's step is known, so everything it recorded is in.
fn flush_after() -> Option<u32> {
    activity::flush_after()
        .or_else(keystore::writes_after)
        .map(|ms| u32::try_from(ms).unwrap_or(u32::MAX))
}

/// The armed flush's puts into the location's cache, under the host of `url` (the request
/// that armed it): a JSON array of `{url, body, max_age_s}`; nothing when none is queued.
#[wasm_bindgen]
pub fn edge_location_writes(url: &str) -> Option<String> {
    let puts = keystore::take_puts(keystore::host_of(url));
    if puts.is_empty() {
        return None;
    }
    serde_json::to_string(&puts).ok()
}

/// The armed flush's steps: one `send` per object the waiting activity goes to (each
/// account's Registry; the directory for secrets exposed over plain HTTP); none when nothing
/// waits. The JS entry sends them all at once.
#[wasm_bindgen]
pub fn edge_flush(env: &Env) -> Vec<String> {
    activity::take_messages(Vars::get(env).limits)
        .into_iter()
        .filter_map(|message| match registry::address(message, None) {
            Ok(outgoing) => Some(
                Step::Send {
                    post: object_post(&outgoing),
                }
                .encode(None),
            ),
            Err(error) => {
                worker::console_error!("activity not recorded: {}", error.message);
                None
            }
        })
        .collect()
}

/// The headers of the origin's answer (same block format) as they go back to the client.
#[wasm_bindgen]
pub fn edge_relay(headers: &str, request_id: &str) -> String {
    let block = HeaderBlock::parse(headers);
    let mut out = String::with_capacity(headers.len() + 48);
    let relayed = origin::relayed_headers(block.0.iter().copied());
    for (name, value) in relayed.into_iter().chain([("X-Request-Id", request_id)]) {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push('\n');
    }
    out
}

/// The answer when the origin could not be reached (or, `timed_out`, did not answer in time):
/// a `respond` step.
#[wasm_bindgen]
pub fn edge_origin_failed(timed_out: bool, request_id: &str) -> String {
    let error = if timed_out {
        origin::timed_out()
    } else {
        origin::unreachable()
    };
    respond_error(&error, request_id, false, None)
}

/// The request's next step, encoded; refused (a 503, fail closed) when the order of steps
/// does not allow it after `resumed`.
fn checked(resumed: &Resumed, step: &Step<'_>) -> Result<String, Error> {
    if protocol::may_follow(resumed, step) {
        Ok(step.encode(flush_after()))
    } else {
        Err(policy::store_unavailable().with_reason("fast path: a step out of order"))
    }
}

fn run(
    env: &Env,
    method: &str,
    url: &str,
    headers: &str,
    colo: Option<&str>,
    mut resumed: Resumed,
    request_id: &str,
) -> Result<String, Error> {
    let vars = Vars::get(env);
    let url_text = url;
    let url = split_url(url).ok_or_else(|| Error::bad_request("The request URL is invalid."))?;
    // A refused plain-HTTP request may carry a key to mark leaked: the workers-rs path does it.
    if policy::check_https(url.https, &vars.settings).is_err() || is_admin_path(url.path) {
        return checked(&resumed, &Step::Full);
    }
    let block = HeaderBlock::parse(headers);
    let location = vars.location(colo, block.get(TEST_LOCATION_HEADER));
    let lookup = match &mut resumed {
        // Before the decision, as on the workers-rs path: the revocation log at most twice a
        // second, through the location's mirror. The JS entry reads it and resumes
        // `after_mirror_sync`.
        Resumed::New if keystore::sync_due(&location) => {
            let since =
                revocations::mirror_since_message(&location, keystore::begin_sync(&location))?;
            let step = Step::Sync {
                post: object_post(&since),
                resume: Resume::Mirror,
            };
            return checked(&resumed, &step);
        }
        // The mirror could not answer: the primary, once, for the same generation.
        Resumed::MirrorSynced(None) => {
            let since = revocations::since_message(&location, keystore::begin_sync(&location))?;
            let step = Step::Sync {
                post: object_post(&since),
                resume: Resume::Log,
            };
            return checked(&resumed, &step);
        }
        Resumed::New => Lookup::NotYet,
        Resumed::Unexpected => {
            return Err(
                policy::store_unavailable().with_reason("fast path: a resume token never given")
            );
        }
        // A failure is only recorded, as on the workers-rs path: `EdgeCache::check_fresh`
        // decides how long the isolate may go on without.
        Resumed::Synced(reply) | Resumed::MirrorSynced(reply) => {
            let changes = reply
                .as_deref()
                .and_then(|text| serde_json::from_str::<Changes>(text).ok());
            if let Some(changes) = changes {
                keystore::finish_sync(&location, &changes);
            }
            Lookup::NotYet
        }
        // Taken, not copied: what `resumed` still says is only which step this follows.
        Resumed::Located(copy) => Lookup::Located(copy.take()),
        Resumed::Looked(Ok(record)) => Lookup::Done(Ok(record.take())),
        Resumed::Looked(Err(())) => Lookup::Done(Err(policy::store_unavailable())),
    };
    let credentials = CredentialHeaders::from_getter(|name| Ok(block.get(name).map(Into::into)))?;
    let facts = credentials.facts(&url, method);
    let (grant, target, record) = match edge::admit(&facts, &location, vars, lookup, request_id)? {
        Next::Locate(hash) => {
            let copy = keystore::copy_url(keystore::host_of(url_text), &location, &hash);
            let step = Step::Locate {
                url: &copy,
                resume: Resume::Location,
            };
            return checked(&resumed, &step);
        }
        Next::Lookup(hash) => {
            let key = kv_key(&hash);
            let step = Step::Lookup {
                cache_ttl_s: KV_CACHE_TTL_S,
                key: &key,
                resume: Resume::Kv,
            };
            return checked(&resumed, &step);
        }
        Next::Granted(grant, target, record) => (*grant, target, record),
    };
    // A limited or metered key's requests are counted by a Durable Object: the workers-rs
    // path does it.
    if grant.is_rate_limited() || grant.is_metered() {
        return checked(&resumed, &Step::Full);
    }
    match grant.environment {
        Environment::Test => {
            let answer = sandbox::stateless(
                method,
                &target,
                block.get("idempotency-key"),
                block.get("x-sandbox-scenario"),
                block.get("keygate-sandbox"),
            );
            if !matches!(answer, Ok(None)) {
                edge::record_use(&record, &facts, &grant, request_id);
            }
            match answer {
                Ok(Some(answer)) => {
                    let mut headers = sandbox::answer_headers(&answer.headers);
                    headers.push(("X-Request-Id", request_id));
                    let step = Step::Respond {
                        status: answer.status,
                        delay_ms: answer.delay_ms,
                        headers,
                        body: &answer.body,
                    };
                    checked(&resumed, &step)
                }
                Ok(None) => checked(&resumed, &Step::Full),
                Err(error) => {
                    log_server_error(request_id, &error);
                    Ok(respond_error(&error, request_id, true, flush_after()))
                }
            }
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
            let step = Step::Origin {
                request_id,
                timeout_ms: u64::try_from(plan.timeout.as_millis()).unwrap_or(u64::MAX),
                url: &plan.url,
                headers: plan
                    .headers
                    .iter()
                    .map(|(n, v)| (n.as_str(), v.as_str()))
                    .collect(),
            };
            checked(&resumed, &step)
        }
    }
}

fn object_post<'a>(outgoing: &'a Outgoing<'_>) -> ObjectPost<'a> {
    ObjectPost {
        binding: outgoing.binding,
        object: &outgoing.object_name,
        url: OBJECT_URL,
        body: &outgoing.body,
    }
}

fn respond_error(
    error: &Error,
    request_id: &str,
    sandboxed: bool,
    flush_after_ms: Option<u32>,
) -> String {
    let answer = Answer::from(error);
    // Room for the two pushed below: no reallocation on the way.
    let mut headers = Vec::with_capacity(answer.headers.len() + 2);
    headers.extend(answer.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    if sandboxed {
        headers.push(("X-Sandbox", "true"));
    }
    headers.push(("X-Request-Id", request_id));
    Step::Respond {
        status: answer.status,
        delay_ms: 0,
        headers,
        body: answer.body.as_deref().unwrap_or_default(),
    }
    .encode(flush_after_ms)
}
