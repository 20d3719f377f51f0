//! Answering one request: the `X-Sandbox-Scenario` header first (a simulated failure processes
//! nothing), then the route, then a read, a create or one of the test tools. Every module below
//! adds methods to [`Sandbox`]; they share its parsed datasets and never keep state of their
//! own, since the account's state comes in with each request.

mod act;
mod create;
mod events;
mod hooks;
mod idempotency;
mod read;
mod render;
mod route;
mod tools;

use crate::clock::{self, CLOCK_HEADER};
use crate::data::{Collection, Scenario};
use crate::rules::shown;
use crate::{AccountState, Hooks, SCENARIO_HEADER, Sandbox, SandboxRequest, SandboxResponse};
use keygate_core::Error;
use keygate_core::random::SecureRandom;
use route::Route;

pub(crate) use render::to_json;
pub(crate) use tools::scenarios_body;

impl Sandbox {
    /// Answers one request. Never panics; every failure is answered as a JSON [`Error`]. `now`
    /// is real time in Unix seconds (the account's clock is read from its state); `new_id` gets
    /// an id prefix such as `"qt_"` and returns a fresh id with it; `random` draws what must
    /// not be guessed (a webhook endpoint's secret). After a change, what the event feed shows
    /// beyond each webhook endpoint's cursor is queued for it (`hooks_changed`).
    pub fn handle(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        hooks: &mut Hooks,
        now: i64,
        new_id: &mut dyn FnMut(&str) -> String,
        random: &dyn SecureRandom,
    ) -> SandboxResponse {
        // A repeatable sandbox draws its own ids, so the same requests get the same ones.
        let held = state.created_count() as u64;
        let mut calls = 0;
        let mut repeatable_ids = state.repeatable.map(|r| {
            move |prefix: &str| {
                calls += 1;
                r.id(prefix, held, calls)
            }
        });
        let new_id: &mut dyn FnMut(&str) -> String = match repeatable_ids.as_mut() {
            Some(ids) => ids,
            None => new_id,
        };
        let mut response = self.answer(req, state, hooks, now, new_id, random);
        if response.state_changed && self.scan_hooks(state, hooks, now) {
            response.hooks_changed = true;
        }
        if self.needs_state(req) {
            // After the request: a clock move shows where the clock went.
            let clock = clock::rfc3339(state.now(now).sandbox);
            response.headers.push((CLOCK_HEADER.to_string(), clock));
        }
        response
    }

    fn answer(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        hooks: &mut Hooks,
        now: i64,
        new_id: &mut dyn FnMut(&str) -> String,
        random: &dyn SecureRandom,
    ) -> SandboxResponse {
        let delay_ms = match self.scenario_effect(req.scenario) {
            Ok(delay_ms) => delay_ms,
            Err(failure) => return failure,
        };
        let now = state.now(now);
        let mut response = self
            .route(req, state, hooks, now, new_id, random)
            .unwrap_or_else(|e| SandboxResponse::from_error(&e));
        response.delay_ms = delay_ms;
        response
    }

    /// What the `X-Sandbox-Scenario` header does to a request: `Ok` with the delay before its
    /// answer (0 but for `slow`) when it goes through, or the simulated failure (or the 400 for
    /// an unknown name) that replaces it, decided before anything is processed. Public for the
    /// requests the worker answers itself (the index of named sandboxes), so that every
    /// sandbox request honours the header the same way.
    pub fn scenario_effect(&self, scenario: Option<&str>) -> Result<u32, SandboxResponse> {
        let scenario = self
            .scenario(scenario)
            .map_err(|error| SandboxResponse::from_error(&error))?;
        let Some(s) = scenario else {
            return Ok(0);
        };
        if let Some(status) = s.status {
            let mut error = Error::new(status, s.message.clone());
            error.retry_after = s.retry_after;
            let mut response = SandboxResponse::from_error(&error);
            response.delay_ms = s.delay_ms;
            return Err(response);
        }
        Ok(s.delay_ms)
    }

    /// Whether [`Sandbox::handle`] reads the account's state for this request: for every path
    /// the sandbox serves but the list of scenarios, since every collection is seen through the
    /// account's clock (and its answers carry `X-Sandbox-Clock`). For the others the worker may
    /// skip loading the state and pass `AccountState::default()`: the answer is the same.
    pub fn needs_state(&self, req: &SandboxRequest) -> bool {
        !matches!(self.resolve(req.path), Err(_) | Ok(Route::Scenarios))
    }

    /// The scenario the `X-Sandbox-Scenario` header names, if any. An unknown name is a 400
    /// listing the valid ones: a typo must not silently test the happy path.
    fn scenario(&self, header: Option<&str>) -> Result<Option<&Scenario>, Error> {
        let Some(name) = header else {
            return Ok(None);
        };
        if let Some(scenario) = self.scenarios.iter().find(|s| s.name == name) {
            return Ok(Some(scenario));
        }
        let names: Vec<&str> = self.scenarios.iter().map(|s| s.name.as_str()).collect();
        Err(Error::bad_request(format!(
            "Unknown {SCENARIO_HEADER}; leave the header out or use one of the values in errors."
        ))
        .with_field(
            SCENARIO_HEADER,
            format!(
                "unknown scenario `{}`; valid scenarios: {}",
                shown(name),
                names.join(", ")
            ),
        ))
    }

    /// A collection by its index; indexes come from the loaded data, so a miss is a 500.
    fn collection(&self, c: usize) -> Result<&Collection, Error> {
        self.collections.get(c).ok_or_else(Error::internal)
    }
}
