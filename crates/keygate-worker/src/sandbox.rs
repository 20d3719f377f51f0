//! Test keys end here: the request is answered by the compiled-in sandbox, with the sandbox's
//! state kept in a `SandboxStore` Durable Object: one per test account for its default sandbox
//! (which also keeps the account's index of named sandboxes), and one per named sandbox
//! (`Keygate-Sandbox`; the object's name is `keygate_sandbox::store_name`). Nothing in this
//! file can reach the origin.

use crate::config::gateway_config;
use crate::durable;
use crate::http::{answer_response, bounded_body, header, log_server_error, now_seconds};
use crate::random::PlatformRandom;
use crate::settings::Vars;
use keygate_core::EdgeRecord;
use keygate_core::ids::new_unique_id;
use keygate_core::outbound;
use keygate_core::policy::{self, Grant};
use keygate_core::target::Target;
use keygate_core::{Answer, Error, MAX_JSON_BODY_BYTES};
use keygate_sandbox::{
    AccountState, Hooks, IndexRequest, Readable, Repeatable, SANDBOX_HEADER, Sandbox, SandboxIndex,
    SandboxName, SandboxRequest, SandboxResponse, idle_until, store_name,
};
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::time::Duration;
use worker::{DurableObject, Env, Method, Request, Response, State, durable_object};

pub const DO_BINDING: &str = "SANDBOX";
const STATE_KEY: &str = "state";
/// The sandbox's webhook endpoints and their queues (`keygate_sandbox::Hooks`), stored apart
/// from its objects so that a receiver's backlog never counts against them.
const HOOKS_KEY: &str = "hooks";
/// How long a receiver has to answer a sandbox webhook.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);
/// Rounds of deliveries per alarm (one event per endpoint each) before the next alarm goes on.
const DELIVERY_ROUNDS: usize = 20;
/// In the account's object: its named sandboxes (`SandboxIndex`).
const INDEX_KEY: &str = "sandboxes";
/// In a named sandbox's object: its account and name, once the account's index took the name.
const REGISTERED_KEY: &str = "registered";
/// In a named sandbox's object: when its state last changed (real Unix seconds); it goes
/// after `SANDBOX_IDLE_SECONDS` without a change.
const LAST_WRITE_KEY: &str = "last_write";

/// What a named sandbox's object knows of itself.
#[derive(Serialize, Deserialize)]
struct Registration {
    account_id: String,
    name: String,
}

/// What a `SandboxStore` is asked.
#[derive(Serialize, Deserialize)]
enum Call {
    /// A sandbox request, to the object of the sandbox it names.
    Serve(Message),
    /// `GET /v1/sandbox/sandboxes`, `DELETE /v1/sandbox/sandboxes/{name}`: to the account's object.
    Index {
        method: String,
        path: String,
        account_id: String,
        body: String,
    },
    /// From a named sandbox's object on its first request, to the account's: take the name.
    Register { name: String },
    /// From a named sandbox's object that has been idle too long, to the account's: free the
    /// name.
    Unregister { name: String },
    /// From the account's object, to a named sandbox's being deleted: forget everything.
    Wipe,
    /// From the account's object, to a repeatable sandbox's being created: start it empty,
    /// from its seed and clock.
    Init {
        repeatable: Repeatable,
        account_id: String,
        name: String,
    },
}

/// One sandbox request as the worker hands it to the sandbox's Durable Object.
#[derive(Serialize, Deserialize)]
struct Message {
    method: String,
    path: String,
    query: String,
    body: String,
    idempotency_key: Option<String>,
    scenario: Option<String>,
    account_id: String,
    /// `None`: the account's default sandbox.
    sandbox: Option<String>,
    /// The collections the key may read itself: what its event feed may show.
    readable: Vec<String>,
    /// `REQUIRE_HTTPS`: webhook URLs must then be public `https`.
    require_https: bool,
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
            readable: Readable::Only(&self.readable),
            require_https: self.require_https,
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
    record: &EdgeRecord,
    target: &Target<'_>,
    request_id: &str,
) -> Response {
    match answer(req, env, grant, record, target).await {
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
    named: Option<&str>,
) -> Result<Option<SandboxResponse>, Error> {
    // A named sandbox is answered by its own object, the index by the account's; a bad name
    // is refused here already, by the one parser.
    if let Some(name) = named {
        SandboxName::parse(name)?;
        return Ok(None);
    }
    if IndexRequest::parse(method, target.path()).is_some() {
        return Ok(None);
    }
    let sandbox = Sandbox::embedded()?;
    let request = SandboxRequest {
        method,
        path: target.path(),
        query: target.query().unwrap_or_default(),
        body: b"",
        idempotency_key,
        scenario,
        // Never an event feed or a webhook endpoint: those need the sandbox's state.
        readable: Readable::Only(&[]),
        require_https: true,
    };
    if sandbox.needs_state(&request) {
        return Ok(None);
    }
    Ok(Some(sandbox.handle(
        &request,
        &mut AccountState::default(),
        &mut Hooks::default(),
        now_seconds(),
        &mut fresh_id,
        &PlatformRandom,
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
    record: &EdgeRecord,
    target: &Target<'_>,
) -> Result<Response, Error> {
    let method = req.method();
    let idempotency_key = header(&req, "Idempotency-Key")?;
    let scenario = header(&req, "X-Sandbox-Scenario")?;
    let named = header(&req, SANDBOX_HEADER)?;
    let sandbox = named.as_deref().map(SandboxName::parse).transpose()?;
    let index = IndexRequest::parse(method.as_ref(), target.path()).transpose()?;
    let reply = match stateless(
        method.as_ref(),
        target,
        idempotency_key.as_deref(),
        scenario.as_deref(),
        named.as_deref(),
    )? {
        Some(response) => Reply::from(response),
        // The account's sandboxes are the account's business, whatever sandbox is named.
        None if index.is_some() => {
            match Sandbox::embedded()?.scenario_effect(scenario.as_deref()) {
                Err(failure) => Reply::from(failure),
                Ok(delay_ms) => {
                    let body = match method {
                        Method::Post => utf8_body(&mut req).await?,
                        _ => String::new(),
                    };
                    let call = Call::Index {
                        method: method.to_string(),
                        path: target.path().to_string(),
                        account_id: grant.account_id.clone(),
                        body,
                    };
                    let mut reply: Reply = call_store(env, &grant.account_id, &call).await?;
                    reply.delay_ms = delay_ms;
                    reply
                }
            }
        }
        None => {
            let body = match method {
                Method::Get | Method::Head | Method::Options => String::new(),
                _ => utf8_body(&mut req).await?,
            };
            let message = Message {
                method: method.to_string(),
                path: target.path().to_string(),
                query: target.query().unwrap_or_default().to_string(),
                body,
                idempotency_key,
                scenario,
                account_id: grant.account_id.clone(),
                sandbox: sandbox.as_ref().map(|name| name.as_str().to_string()),
                readable: readable(record, target)?,
                require_https: Vars::get(env).settings.require_https,
            };
            let store = store_name(&grant.account_id, sandbox.as_ref());
            call_store(env, &store, &Call::Serve(message)).await?
        }
    };
    if reply.delay_ms > 0 {
        worker::Delay::from(Duration::from_millis(u64::from(reply.delay_ms))).await;
    }
    let mut answer = reply.answer;
    if let Some(name) = sandbox.filter(|_| index.is_none()) {
        answer
            .headers
            .push((SANDBOX_HEADER.into(), name.as_str().into()));
    }
    answer.headers = answer_headers(&answer.headers)
        .into_iter()
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    Ok(answer_response(answer))
}

/// The request's body, at most 64 KiB of UTF-8.
async fn utf8_body(req: &mut Request) -> Result<String, Error> {
    String::from_utf8(bounded_body(req, MAX_JSON_BODY_BYTES).await?)
        .map_err(|_| Error::bad_request("The body must be UTF-8 JSON."))
}

/// The collections whose objects the event feed may show this key: those it could list
/// itself (`policy::may_read`). Worked out for the feed's paths only; every other route is
/// authorised as it is.
fn readable(record: &EdgeRecord, target: &Target<'_>) -> Result<Vec<String>, Error> {
    let sandbox = Sandbox::embedded()?;
    if !sandbox.reads_events(target.path()) {
        return Ok(Vec::new());
    }
    let config = gateway_config()?;
    Ok(sandbox
        .collection_names()
        .filter(|name| policy::may_read(record, config, &format!("/v1/{name}")))
        .map(str::to_string)
        .collect())
}

async fn call_store(env: &Env, store: &str, call: &Call) -> Result<Reply, Error> {
    durable::call(env, DO_BINDING, store, call, unavailable).await
}

/// One sandbox's state (the account's default one, or a named one). Requests are applied one
/// at a time in memory (the sandbox is synchronous), then persisted before answering. The
/// account's object also keeps the index of its named sandboxes.
#[durable_object]
pub struct SandboxStore {
    state: State,
    env: Env,
    account_state: RefCell<Option<AccountState>>,
    /// Its webhook endpoints, loaded with the state.
    hooks: RefCell<Option<Hooks>>,
    /// A named sandbox's object: whether the account's index holds its name (known once read).
    registered: Cell<bool>,
    /// A named sandbox's object is being deleted for idleness: requests get a 503 until it is.
    expiring: Cell<bool>,
}

impl DurableObject for SandboxStore {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            account_state: RefCell::new(None),
            hooks: RefCell::new(None),
            registered: Cell::new(false),
            expiring: Cell::new(false),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let call: Call = req.json().await?;
        let answer = match call {
            Call::Serve(message) => self.run(&message).await,
            Call::Index {
                method,
                path,
                account_id,
                body,
            } => self.index(&method, &path, &account_id, &body).await,
            Call::Register { name } => self.register(&name).await,
            Call::Unregister { name } => self.unregister(&name).await,
            Call::Wipe => self.wipe().await,
            Call::Init {
                repeatable,
                account_id,
                name,
            } => self.init(repeatable, &account_id, &name).await,
        };
        let answer =
            answer.unwrap_or_else(|error| Reply::from(SandboxResponse::from_error(&error)));
        Response::from_json(&answer)
    }

    /// A named sandbox's object whose idle time may be up goes if no write came since; any
    /// sandbox with webhook endpoints looks at its feed (a new day may have brought events)
    /// and delivers what is due. Then the alarm is set for what comes next.
    async fn alarm(&self) -> worker::Result<Response> {
        let outcome = match self.expire_if_idle().await {
            Ok(true) => return Response::ok(""),
            Ok(false) => self.deliver().await,
            Err(error) => Err(error),
        };
        match outcome {
            Ok(()) => self.arm().await,
            Err(error) => {
                worker::console_error!("sandbox alarm: {} {}", error.status, error.message);
                self.set_alarm(now_seconds() + 60).await;
            }
        }
        Response::ok("")
    }
}

impl SandboxStore {
    async fn run(&self, call: &Message) -> Result<Reply, Error> {
        let sandbox = Sandbox::embedded()?;
        if self.expiring.get() {
            return Err(Error::unavailable(
                "This named sandbox is being deleted after its idle time; retry to start it \
                 afresh.",
            ));
        }
        if let Some(name) = &call.sandbox {
            self.ensure_registered(&call.account_id, name).await?;
        }
        self.load().await?;
        let request = call.request();
        let (response, snapshot) = {
            let mut state_guard = self.account_state.borrow_mut();
            let state = state_guard.get_or_insert_with(AccountState::default);
            let mut hooks_guard = self.hooks.borrow_mut();
            let hooks = hooks_guard.get_or_insert_with(Hooks::default);
            let response = sandbox.handle(
                &request,
                state,
                hooks,
                now_seconds(),
                &mut fresh_id,
                &PlatformRandom,
            );
            let snapshot = if response.state_changed {
                Some(serde_json::to_string(state).map_err(|_| Error::internal())?)
            } else {
                None
            };
            (response, snapshot)
        };
        let storage = self.state.storage();
        if let Some(snapshot) = snapshot {
            let written = match storage.put(STATE_KEY, snapshot).await {
                Ok(()) if call.sandbox.is_some() => {
                    storage.put(LAST_WRITE_KEY, now_seconds()).await
                }
                other => other,
            };
            if written.is_err() {
                self.forget();
                return Err(unavailable());
            }
        }
        if response.hooks_changed {
            self.save_hooks().await?;
            // Something may be owed now: the alarm delivers it.
            self.arm_at(now_seconds()).await;
        }
        Ok(Reply::from(response))
    }

    /// Loads the sandbox's state and webhook endpoints, unless they are in memory.
    async fn load(&self) -> Result<(), Error> {
        if self.account_state.borrow().is_some() && self.hooks.borrow().is_some() {
            return Ok(());
        }
        let storage = self.state.storage();
        let state: Option<String> = storage.get(STATE_KEY).await.map_err(|_| unavailable())?;
        let hooks: Option<String> = storage.get(HOOKS_KEY).await.map_err(|_| unavailable())?;
        let state = match state {
            Some(text) => serde_json::from_str(&text).map_err(|_| Error::internal())?,
            None => AccountState::default(),
        };
        let hooks = match hooks {
            Some(text) => serde_json::from_str(&text).map_err(|_| Error::internal())?,
            None => Hooks::default(),
        };
        // Another request may have loaded them while we awaited; keep the first.
        self.account_state.borrow_mut().get_or_insert(state);
        self.hooks.borrow_mut().get_or_insert(hooks);
        Ok(())
    }

    /// Memory must not run ahead of storage: after a failed write, the next request reloads
    /// what was persisted.
    fn forget(&self) {
        *self.account_state.borrow_mut() = None;
        *self.hooks.borrow_mut() = None;
    }

    /// Queues what the feed shows beyond each endpoint's cursor (a day may have passed), then
    /// sends what is due, one event per endpoint at a time, each signed with its endpoint's
    /// secret; a round's posts run at once. The outcome of every attempt is persisted before
    /// the next round.
    async fn deliver(&self) -> Result<(), Error> {
        self.load().await?;
        let sandbox = Sandbox::embedded()?;
        let vars = Vars::get(&self.env);
        let scanned = {
            let state = self.account_state.borrow();
            let mut hooks = self.hooks.borrow_mut();
            match (state.as_ref(), hooks.as_mut()) {
                (Some(state), Some(hooks)) => sandbox.scan_hooks(state, hooks, now_seconds()),
                _ => false,
            }
        };
        if scanned {
            self.save_hooks().await?;
        }
        for _ in 0..DELIVERY_ROUNDS {
            let now = now_seconds();
            let due = self
                .hooks
                .borrow()
                .as_ref()
                .map(|h| h.due(now))
                .unwrap_or_default();
            if due.is_empty() {
                break;
            }
            let require_https = vars.settings.require_https;
            let posted = futures_util::future::join_all(due.iter().map(|delivery| async move {
                // Judged again at each attempt: the deployment's rules may have changed.
                let url = outbound::callable_url(&delivery.url, require_https).ok()?;
                crate::webhooks::post_signed(
                    &url,
                    &delivery.signature,
                    &delivery.body,
                    DELIVERY_TIMEOUT,
                )
                .await
            }))
            .await;
            if let Some(hooks) = self.hooks.borrow_mut().as_mut() {
                for (delivery, status) in due.iter().zip(posted) {
                    hooks.record(delivery, status, now, vars.sandbox_webhook_retry_seconds);
                }
            }
            self.save_hooks().await?;
        }
        Ok(())
    }

    /// Persists the webhook endpoints as they are in memory; should that fail, memory is
    /// forgotten (it must not run ahead of storage) and the answer is a 503.
    async fn save_hooks(&self) -> Result<(), Error> {
        let text = match self.hooks.borrow().as_ref() {
            Some(hooks) => serde_json::to_string(hooks).map_err(|_| Error::internal())?,
            None => return Ok(()),
        };
        if self.state.storage().put(HOOKS_KEY, text).await.is_err() {
            self.forget();
            return Err(unavailable());
        }
        Ok(())
    }

    /// Sets the alarm for what comes next: a named sandbox's idle time running out, the next
    /// queued delivery, and, while it has webhook endpoints, the next time its feed grows by
    /// itself (`Sandbox::next_change_at`). No alarm when none of these is ahead.
    async fn arm(&self) {
        let now = now_seconds();
        let mut next: Option<i64> = None;
        let mut consider = |at: Option<i64>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n| n.min(at)));
            }
        };
        consider(self.idle_deadline().await.unwrap_or(Some(now + 60)));
        if let (Some(state), Some(hooks)) = (
            self.account_state.borrow().as_ref(),
            self.hooks.borrow().as_ref(),
        ) && !hooks.is_empty()
        {
            consider(hooks.next_attempt());
            if let Ok(sandbox) = Sandbox::embedded() {
                consider(sandbox.next_change_at(state, now));
            }
        }
        match next {
            Some(at) => self.set_alarm(at.max(now)).await,
            None => {
                let _ = self.state.storage().delete_alarm().await;
            }
        }
    }

    /// Brings the alarm forward to `at`, unless it is set earlier already.
    async fn arm_at(&self, at: i64) {
        let set: Option<i64> = self.state.storage().get_alarm().await.ok().flatten();
        if set.is_none_or(|ms| ms / 1000 > at) {
            self.set_alarm(at).await;
        }
    }

    /// When a named sandbox's idle time runs out (`None` for the account's default one).
    async fn idle_deadline(&self) -> Result<Option<i64>, Error> {
        let now = now_seconds();
        Ok(self
            .idleness()
            .await?
            .map(|(_, until)| until.unwrap_or(now)))
    }

    /// A named sandbox's registration, and until when it is within its idle time (`None`:
    /// idle now, since its last write is `SANDBOX_IDLE_SECONDS` old); `None` for the
    /// account's default sandbox.
    async fn idleness(&self) -> Result<Option<(Registration, Option<i64>)>, Error> {
        let storage = self.state.storage();
        let registration: Option<Registration> = storage
            .get(REGISTERED_KEY)
            .await
            .map_err(|_| unavailable())?;
        let Some(registration) = registration else {
            return Ok(None);
        };
        let last_write: Option<i64> = storage
            .get(LAST_WRITE_KEY)
            .await
            .map_err(|_| unavailable())?;
        let now = now_seconds();
        let idle = Vars::get(&self.env).sandbox_idle_seconds;
        Ok(Some((
            registration,
            idle_until(last_write.unwrap_or(now), now, idle),
        )))
    }

    /// Asks the object `store` to do `call`: done, or its refusal (any answer but 200) or the
    /// failure to reach it, as an error.
    async fn ask(&self, store: &str, call: &Call) -> Result<(), Error> {
        let reply: Reply = durable::call(&self.env, DO_BINDING, store, call, unavailable).await?;
        if reply.answer.status == 200 {
            Ok(())
        } else {
            Err(refusal(reply))
        }
    }

    async fn set_alarm(&self, at: i64) {
        let at = worker::ScheduledTime::new(worker::js_sys::Date::new(
            &wasm_bindgen::JsValue::from_f64((at as f64) * 1000.0),
        ));
        if let Err(error) = self.state.storage().set_alarm(at).await {
            worker::console_error!("sandbox alarm not set: {error}");
        }
    }

    /// Deletes this named sandbox if it has been idle for `SANDBOX_IDLE_SECONDS`: the account's
    /// index frees the name first, then the state goes. Requests meanwhile get a 503, so none
    /// is answered from a state about to go. `true` once it is gone.
    async fn expire_if_idle(&self) -> Result<bool, Error> {
        let Some((registration, None)) = self.idleness().await? else {
            return Ok(false);
        };
        self.expiring.set(true);
        let call = Call::Unregister {
            name: registration.name,
        };
        let result = match self.ask(&registration.account_id, &call).await {
            Ok(()) => self.wipe().await.map(|_| true),
            Err(error) => Err(error),
        };
        self.expiring.set(false);
        result
    }

    /// Records that the account's index holds this sandbox's name, when it was last written
    /// (now), and when to look at its idle time.
    async fn note_registered(&self, account_id: &str, name: &str) -> Result<(), Error> {
        let storage = self.state.storage();
        let registration = Registration {
            account_id: account_id.to_string(),
            name: name.to_string(),
        };
        storage
            .put(REGISTERED_KEY, registration)
            .await
            .map_err(|_| unavailable())?;
        let now = now_seconds();
        storage
            .put(LAST_WRITE_KEY, now)
            .await
            .map_err(|_| unavailable())?;
        let idle = Vars::get(&self.env).sandbox_idle_seconds;
        self.arm_at(now.saturating_add(idle)).await;
        Ok(())
    }

    /// A named sandbox's object, before its first request is answered: the account's index
    /// must hold its name (the cap is decided there), and it says so once.
    async fn ensure_registered(&self, account_id: &str, name: &str) -> Result<(), Error> {
        if self.registered.get() {
            return Ok(());
        }
        let storage = self.state.storage();
        let stored: Option<Registration> = storage
            .get(REGISTERED_KEY)
            .await
            .map_err(|_| unavailable())?;
        if stored.is_none() {
            let call = Call::Register {
                name: name.to_string(),
            };
            self.ask(account_id, &call).await?;
            self.note_registered(account_id, name).await?;
        }
        self.registered.set(true);
        Ok(())
    }

    /// The account's object: a named sandbox that went idle gives its name back.
    async fn unregister(&self, name: &str) -> Result<Reply, Error> {
        let name = SandboxName::parse(name)?;
        let mut index = self.load_index().await?;
        if index.remove(&name).is_some() {
            self.save_index(&index).await?;
        }
        Ok(done())
    }

    async fn load_index(&self) -> Result<SandboxIndex, Error> {
        let stored: Option<String> = self
            .state
            .storage()
            .get(INDEX_KEY)
            .await
            .map_err(|_| unavailable())?;
        match stored {
            Some(text) => serde_json::from_str(&text).map_err(|_| Error::internal()),
            None => Ok(SandboxIndex::default()),
        }
    }

    async fn save_index(&self, index: &SandboxIndex) -> Result<(), Error> {
        let text = serde_json::to_string(index).map_err(|_| Error::internal())?;
        self.state
            .storage()
            .put(INDEX_KEY, text)
            .await
            .map_err(|_| unavailable())
    }

    /// The account's object: a named sandbox takes its name, or is refused at the cap.
    async fn register(&self, name: &str) -> Result<Reply, Error> {
        let name = SandboxName::parse(name)?;
        let mut index = self.load_index().await?;
        if index.register(&name, now_seconds())? {
            self.save_index(&index).await?;
        }
        Ok(done())
    }

    /// The account's object: list its named sandboxes, or delete one. A delete takes the name
    /// out of the index first, then wipes the sandbox's object: a request that comes in between
    /// takes the name again and finds the sandbox empty, never a state the index does not
    /// count. Should the wipe fail, the name goes back and the delete is a 503 to retry.
    async fn index(
        &self,
        method: &str,
        path: &str,
        account_id: &str,
        body: &str,
    ) -> Result<Reply, Error> {
        let request = IndexRequest::parse(method, path).ok_or_else(Error::internal)??;
        let mut index = self.load_index().await?;
        let response = match request {
            IndexRequest::List => index.list()?,
            // The name is taken first, then the sandbox's object set up; should that fail, the
            // name is given back and the create is a 503 to retry.
            IndexRequest::Create => {
                let (name, repeatable) = index.create(body.as_bytes(), now_seconds())?;
                self.save_index(&index).await?;
                let store = store_name(account_id, Some(&name));
                let call = Call::Init {
                    repeatable,
                    account_id: account_id.to_string(),
                    name: name.as_str().to_string(),
                };
                if self.ask(&store, &call).await.is_err() {
                    index.remove(&name);
                    self.save_index(&index).await?;
                    return Err(unavailable());
                }
                index.created(&name)?
            }
            IndexRequest::Delete(name) => {
                let Some(created) = index.remove(&name) else {
                    return Err(SandboxIndex::no_such(&name));
                };
                self.save_index(&index).await?;
                let store = store_name(account_id, Some(&name));
                if self.ask(&store, &Call::Wipe).await.is_err() {
                    index.restore(&name, created);
                    self.save_index(&index).await?;
                    return Err(unavailable());
                }
                SandboxIndex::deleted(&name)?
            }
        };
        Ok(Reply::from(response))
    }

    /// A repeatable sandbox's object, being created: whatever it held goes, and it starts
    /// empty from its seed and clock start, its name taken.
    async fn init(
        &self,
        repeatable: Repeatable,
        account_id: &str,
        name: &str,
    ) -> Result<Reply, Error> {
        let storage = self.state.storage();
        storage.delete_all().await.map_err(|_| unavailable())?;
        let state = AccountState::repeatable(repeatable);
        let text = serde_json::to_string(&state).map_err(|_| Error::internal())?;
        storage
            .put(STATE_KEY, text)
            .await
            .map_err(|_| unavailable())?;
        self.note_registered(account_id, name).await?;
        *self.account_state.borrow_mut() = Some(state);
        *self.hooks.borrow_mut() = Some(Hooks::default());
        self.registered.set(true);
        Ok(done())
    }

    /// A named sandbox's object, being deleted: its state, idempotency keys, clock and
    /// registration go.
    async fn wipe(&self) -> Result<Reply, Error> {
        self.state
            .storage()
            .delete_all()
            .await
            .map_err(|_| unavailable())?;
        self.forget();
        self.registered.set(false);
        Ok(done())
    }
}

/// The answer to one object's call to another that did what it asked.
fn done() -> Reply {
    Reply::from(SandboxResponse::json(200, "{}".into()))
}

/// A refusal another object answered, relayed as the error it is.
fn refusal(reply: Reply) -> Error {
    let message = reply
        .answer
        .body
        .as_deref()
        .and_then(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .and_then(|body| body["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| "The sandbox could not be used.".into());
    Error::new(reply.answer.status, message)
}
