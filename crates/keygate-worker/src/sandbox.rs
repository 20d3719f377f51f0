//! Test keys end here: the request is answered by the compiled-in sandbox, with the account's
//! sandbox state kept in a `SandboxStore` Durable Object (one per test account). Nothing in
//! this file can reach the origin.

use crate::durable;
use crate::http::{answer_response, bounded_body, header, log_server_error, now_seconds};
use crate::random::PlatformRandom;
use keygate_core::ids::new_unique_id;
use keygate_core::policy::Grant;
use keygate_core::target::Target;
use keygate_core::{Answer, Error, MAX_JSON_BODY_BYTES};
use keygate_sandbox::{AccountState, Sandbox, SandboxRequest, SandboxResponse};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::time::Duration;
use worker::{DurableObject, Env, Method, Request, Response, State, durable_object};

pub const DO_BINDING: &str = "SANDBOX";
const STATE_KEY: &str = "state";

/// One sandbox request as the worker hands it to the account's Durable Object.
#[derive(Serialize, Deserialize)]
struct Message {
    method: String,
    path: String,
    query: String,
    body: String,
    idempotency_key: Option<String>,
    scenario: Option<String>,
}

/// The object's answer, and how long the worker waits before relaying it (the `slow` and
/// `timeout` scenarios).
#[derive(Serialize, Deserialize)]
struct Reply {
    answer: Answer,
    delay_ms: u32,
}

impl Message {
    fn request(&self) -> SandboxRequest<'_> {
        SandboxRequest {
            method: &self.method,
            path: &self.path,
            query: &self.query,
            body: self.body.as_bytes(),
            idempotency_key: self.idempotency_key.as_deref(),
            scenario: self.scenario.as_deref(),
        }
    }
}

impl From<SandboxResponse> for Reply {
    fn from(response: SandboxResponse) -> Self {
        Self {
            answer: Answer {
                status: response.status,
                headers: response.headers,
                body: Some(response.body),
            },
            delay_ms: response.delay_ms,
        }
    }
}

/// Ids for created sandbox objects: they guard nothing, so a failing generator falls back
/// (the policy is in `keygate_core::random`).
fn fresh_id(prefix: &str) -> String {
    new_unique_id(prefix, &PlatformRandom)
}

fn unavailable() -> Error {
    Error::unavailable("The sandbox state store is not available. Retry later.")
}

/// Answers a test key's request. Every answer is a sandbox answer with `X-Sandbox: true`
/// (docs/sandbox.md), the sandbox's refusals of the request itself included (a body over 64 KiB, a
/// body that is not UTF-8, the state store unavailable), not only those the sandbox crate renders.
pub async fn serve(
    req: Request,
    env: &Env,
    grant: &Grant,
    target: &Target<'_>,
    request_id: &str,
) -> Response {
    match answer(req, env, grant, target).await {
        Ok(response) => response,
        Err(error) => {
            log_server_error(request_id, &error);
            let mut answer = Answer::from(&error);
            answer.headers.push(("X-Sandbox".into(), "true".into()));
            answer_response(answer)
        }
    }
}

/// The answer to a request that needs no account state (reads of collections no account can
/// write, the scenarios list, refusals), computed in place; `None` when the account's
/// `SandboxStore` must answer.
pub fn stateless(
    method: &str,
    target: &Target<'_>,
    idempotency_key: Option<&str>,
    scenario: Option<&str>,
) -> Result<Option<SandboxResponse>, Error> {
    let sandbox = Sandbox::embedded()?;
    let request = SandboxRequest {
        method,
        path: target.path(),
        query: target.query().unwrap_or_default(),
        body: b"",
        idempotency_key,
        scenario,
    };
    if sandbox.needs_state(&request) {
        return Ok(None);
    }
    Ok(Some(sandbox.handle(
        &request,
        &mut AccountState::default(),
        now_seconds(),
        &mut fresh_id,
    )))
}

/// The headers of every sandbox answer: JSON, the sandbox's own, and `X-Sandbox: true`.
pub fn answer_headers(own: &[(String, String)]) -> Vec<(&str, &str)> {
    // Room for the fast path's `X-Request-Id` too (src/fast.rs).
    let mut headers = Vec::with_capacity(own.len() + 3);
    // The sandbox's own answer may name its type already; a second copy would be appended.
    if !own
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
    {
        headers.push(("Content-Type", "application/json"));
    }
    headers.extend(own.iter().map(|(n, v)| (n.as_str(), v.as_str())));
    headers.push(("X-Sandbox", "true"));
    headers
}

async fn answer(
    mut req: Request,
    env: &Env,
    grant: &Grant,
    target: &Target<'_>,
) -> Result<Response, Error> {
    let method = req.method();
    let idempotency_key = header(&req, "Idempotency-Key")?;
    let scenario = header(&req, "X-Sandbox-Scenario")?;
    let reply = match stateless(
        method.as_ref(),
        target,
        idempotency_key.as_deref(),
        scenario.as_deref(),
    )? {
        Some(response) => Reply::from(response),
        None => {
            let body = match method {
                Method::Get | Method::Head | Method::Options => String::new(),
                _ => String::from_utf8(bounded_body(&mut req, MAX_JSON_BODY_BYTES).await?)
                    .map_err(|_| Error::bad_request("The body must be UTF-8 JSON."))?,
            };
            let message = Message {
                method: method.to_string(),
                path: target.path().to_string(),
                query: target.query().unwrap_or_default().to_string(),
                body,
                idempotency_key,
                scenario,
            };
            call_store(env, &grant.account_id, &message).await?
        }
    };
    if reply.delay_ms > 0 {
        worker::Delay::from(Duration::from_millis(u64::from(reply.delay_ms))).await;
    }
    let mut answer = reply.answer;
    answer.headers = answer_headers(&answer.headers)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Ok(answer_response(answer))
}

async fn call_store(env: &Env, account_id: &str, message: &Message) -> Result<Reply, Error> {
    durable::call(env, DO_BINDING, account_id, message, unavailable).await
}

/// The per-account sandbox state. Requests are applied one at a time in memory (the sandbox is
/// synchronous), then persisted before answering.
#[durable_object]
pub struct SandboxStore {
    state: State,
    account_state: RefCell<Option<AccountState>>,
}

impl DurableObject for SandboxStore {
    fn new(state: State, _env: Env) -> Self {
        Self {
            state,
            account_state: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let call: Message = req.json().await?;
        let answer = match self.run(&call).await {
            Ok(answer) => answer,
            Err(error) => Reply::from(SandboxResponse::from_error(&error)),
        };
        Response::from_json(&answer)
    }
}

impl SandboxStore {
    async fn run(&self, call: &Message) -> Result<Reply, Error> {
        let sandbox = Sandbox::embedded()?;
        if self.account_state.borrow().is_none() {
            let stored: Option<String> = self
                .state
                .storage()
                .get(STATE_KEY)
                .await
                .map_err(|_| unavailable())?;
            let loaded = match stored {
                Some(text) => serde_json::from_str(&text).map_err(|_| Error::internal())?,
                None => AccountState::default(),
            };
            // Another request may have loaded it while we awaited; keep the first.
            self.account_state.borrow_mut().get_or_insert(loaded);
        }
        let request = call.request();
        let (response, snapshot) = {
            let mut guard = self.account_state.borrow_mut();
            let state = guard.get_or_insert_with(AccountState::default);
            let response = sandbox.handle(&request, state, now_seconds(), &mut fresh_id);
            let snapshot = if response.state_changed {
                Some(serde_json::to_string(state).map_err(|_| Error::internal())?)
            } else {
                None
            };
            (response, snapshot)
        };
        if let Some(snapshot) = snapshot
            && self.state.storage().put(STATE_KEY, snapshot).await.is_err()
        {
            // Memory must not run ahead of storage: reload from what was persisted.
            *self.account_state.borrow_mut() = None;
            return Err(unavailable());
        }
        Ok(Reply::from(response))
    }
}
