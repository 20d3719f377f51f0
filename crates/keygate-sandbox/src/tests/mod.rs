//! Tests of the sandbox. Each runs natively (`cargo test`) and in headless Chromium
//! (`cargo test --target wasm32-unknown-unknown` with wasm-bindgen-test-runner): every test
//! carries both attributes.

mod api;
mod data;
mod events;
mod hooks;
mod ledger;
mod named;
mod time;
mod units;
mod writes;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

use crate::{AccountState, Hooks, Sandbox, SandboxRequest, SandboxResponse};
use keygate_core::random::{SecureRandom, Unavailable};
use serde_json::Value;
use std::cell::Cell;

/// 2026-10-31 12:00:00 UTC: the files' `balance_date`, so the shipped records are as the files
/// say until a test moves the clock (the ledger books from the next day).
pub(crate) const NOW: i64 = 1_793_448_000;

pub(crate) fn sandbox() -> &'static Sandbox {
    match Sandbox::load_embedded() {
        Ok(sandbox) => sandbox,
        Err(e) => panic!("the embedded data does not load: {e}"),
    }
}

/// The embedded files as owned strings, to build altered datasets from.
pub(crate) fn files() -> Vec<(String, String)> {
    crate::EMBEDDED_FILES
        .iter()
        .map(|(n, t)| (n.to_string(), t.to_string()))
        .collect()
}

pub(crate) fn load(files: &[(String, String)]) -> Result<Sandbox, String> {
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    Sandbox::from_json_files(&borrowed).map_err(|e| e.to_string())
}

/// Applies `edit` to the parsed JSON of one file of `files`.
pub(crate) fn edit(files: &mut [(String, String)], name: &str, edit: impl FnOnce(&mut Value)) {
    let (_, text) = files
        .iter_mut()
        .find(|(n, _)| n == name)
        .expect("file exists");
    let mut value: Value = serde_json::from_str(text).expect("valid JSON");
    edit(&mut value);
    *text = value.to_string();
}

/// The static records of one file of the embedded data.
pub(crate) fn records(file: &str) -> Vec<Value> {
    let (_, text) = crate::EMBEDDED_FILES
        .iter()
        .find(|(n, _)| *n == file)
        .expect("file exists");
    serde_json::from_str(text).expect("valid JSON")
}

/// Distinct bytes on every draw (a counter), for the secrets tests make: the sandbox only
/// needs them unguessable in production, where the worker passes the platform's generator.
#[derive(Default)]
pub(crate) struct TestRandom(Cell<u64>);

impl SecureRandom for TestRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), Unavailable> {
        for chunk in buf.chunks_mut(8) {
            let n = self.0.get() + 1;
            self.0.set(n);
            let bytes = crate::ledger::mix(n).to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// A test account: its state, a clock and a counter for ids.
pub(crate) struct Client<'s> {
    pub sandbox: &'s Sandbox,
    pub state: AccountState,
    /// Its webhook endpoints and what is queued for them.
    pub hooks: Hooks,
    pub now: i64,
    /// Where HTTPS is required (webhook URLs must be public https); on unless a test says.
    pub require_https: bool,
    random: TestRandom,
    next_id: u32,
    /// What the event feed may show: `None` for every collection.
    pub readable: Option<Vec<String>>,
}

impl<'s> Client<'s> {
    pub(crate) fn new() -> Client<'static> {
        Client::with(sandbox())
    }

    pub(crate) fn with(sandbox: &'s Sandbox) -> Self {
        Client {
            sandbox,
            state: AccountState::default(),
            hooks: Hooks::default(),
            now: NOW,
            require_https: true,
            random: TestRandom::default(),
            next_id: 0,
            readable: None,
        }
    }

    /// Sends a request without the invariant checks of [`Client::send`].
    pub(crate) fn send_raw(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
        key: Option<&str>,
        scenario: Option<&str>,
    ) -> SandboxResponse {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let req = SandboxRequest {
            method,
            path,
            query,
            body,
            idempotency_key: key,
            scenario,
            readable: match &self.readable {
                Some(names) => crate::Readable::Only(names),
                None => crate::Readable::All,
            },
            require_https: self.require_https,
        };
        let next_id = &mut self.next_id;
        let mut ids = |prefix: &str| {
            *next_id += 1;
            format!("{prefix}test{:06}", *next_id)
        };
        self.sandbox.handle(
            &req,
            &mut self.state,
            &mut self.hooks,
            self.now,
            &mut ids,
            &self.random,
        )
    }

    /// Sends a request and checks what holds for every response: a JSON body with its
    /// Content-Type, error bodies of `status`, `message` and `errors`, and a state that only
    /// changes when announced.
    pub(crate) fn send(
        &mut self,
        method: &str,
        target: &str,
        body: &[u8],
        key: Option<&str>,
        scenario: Option<&str>,
    ) -> SandboxResponse {
        let before = self.state.clone();
        let hooks_before = self.hooks.clone();
        let response = self.send_raw(method, target, body, key, scenario);
        check_response(&response);
        assert_eq!(
            response.hooks_changed,
            self.hooks != hooks_before,
            "{method} {target}: hooks_changed must say whether the hooks changed"
        );
        if !response.state_changed {
            assert_eq!(
                self.state, before,
                "{method} {target}: the state changed but state_changed is false"
            );
        } else {
            assert_ne!(
                self.state, before,
                "{method} {target}: state_changed but the state is the same"
            );
        }
        response
    }

    pub(crate) fn get(&mut self, target: &str) -> (u16, Value) {
        let response = self.send("GET", target, b"", None, None);
        (response.status, json(&response))
    }

    pub(crate) fn post(&mut self, target: &str, body: &Value) -> (u16, Value) {
        let response = self.send("POST", target, body.to_string().as_bytes(), None, None);
        (response.status, json(&response))
    }

    pub(crate) fn post_with_key(
        &mut self,
        target: &str,
        body: &Value,
        key: &str,
    ) -> SandboxResponse {
        self.send("POST", target, body.to_string().as_bytes(), Some(key), None)
    }

    /// Every object of a list, walking all pages.
    pub(crate) fn list_all(&mut self, target: &str) -> Vec<Value> {
        let separator = if target.contains('?') { '&' } else { '?' };
        let mut all: Vec<Value> = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => format!("{target}{separator}limit=100"),
                Some(after) => format!("{target}{separator}limit=100&starting_after={after}"),
            };
            let (status, page) = self.get(&url);
            assert_eq!(status, 200, "{url}: {page}");
            let data = page["data"].as_array().expect("data").clone();
            cursor = data
                .last()
                .map(|o| o["id"].as_str().expect("id").to_string());
            all.extend(data);
            if page["has_more"] != Value::Bool(true) {
                return all;
            }
        }
    }
}

pub(crate) fn json(response: &SandboxResponse) -> Value {
    serde_json::from_str(&response.body)
        .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", response.body))
}

pub(crate) fn check_response(response: &SandboxResponse) {
    let body = json(response);
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    assert!(response.header("X-Sandbox").is_none() && response.header("X-Request-Id").is_none());
    if response.status >= 400 {
        assert_eq!(body["status"], response.status, "{}", response.body);
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{}",
            response.body
        );
        if let Some(errors) = body.get("errors") {
            let errors = errors.as_array().expect("errors is an array");
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e["field"].is_string() && e["message"].is_string(), "{e}");
            }
        }
    } else {
        assert!(body.is_object(), "{}", response.body);
    }
    if response.status == 405 {
        assert!(response.header("Allow").is_some());
    }
    if response.status == 429 || response.status == 503 {
        assert!(response.header("Retry-After").is_some());
    }
}

/// The `errors[].field` values of an error body.
pub(crate) fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The message of the error entry for `field`.
pub(crate) fn error_for(body: &Value, field: &str) -> String {
    body["errors"]
        .as_array()
        .and_then(|errors| errors.iter().find(|e| e["field"] == field))
        .and_then(|e| e["message"].as_str())
        .unwrap_or_else(|| panic!("no error for {field} in {body}"))
        .to_string()
}

/// The first static record of `file` for which `pick` holds.
pub(crate) fn first(file: &str, pick: impl Fn(&Value) -> bool) -> Value {
    records(file)
        .into_iter()
        .find(|r| pick(r))
        .expect("a matching record")
}

/// A small deterministic generator for generated sequences (the same in every run, native and
/// wasm, where proptest does not run).
pub(crate) struct Draws(pub u64);

impl Draws {
    pub(crate) fn next(&mut self, below: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % below
    }
}
