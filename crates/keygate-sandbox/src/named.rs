//! Named sandboxes: the `Keygate-Sandbox` request header selects an isolated sandbox inside a
//! test account, with its own objects, updates, idempotency keys and clock, so parallel CI jobs
//! sharing a test key never see each other's. Without the header, the account's default sandbox
//! answers. Each sandbox is its own [`AccountState`](crate::AccountState); this module holds
//! what is decided about their names: the one parser of the header, and the account's
//! [`SandboxIndex`] (which named sandboxes exist, the cap, and the routes that list and delete
//! them). Where the states are kept is the worker's business (docs/sandbox.md, "Named
//! sandboxes").

use crate::SandboxResponse;
use crate::clock;
use crate::handle::to_json;
use crate::rules::shown;
use keygate_core::Error;
use keygate_core::page::ListPage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The request header that names a sandbox.
pub const SANDBOX_HEADER: &str = "Keygate-Sandbox";
/// The longest name.
pub const MAX_SANDBOX_NAME_LENGTH: usize = 64;
/// How many named sandboxes one test account may hold at once.
pub const MAX_NAMED_SANDBOXES: usize = 50;

/// `GET /v1/sandbox/sandboxes`; `DELETE /v1/sandbox/sandboxes/{name}` below it.
pub const SANDBOXES_PATH: &str = "/v1/sandbox/sandboxes";

/// A checked sandbox name: 1–64 of `A–Z a–z 0–9 _ -`. Nothing else can name a sandbox, so a
/// name can never spell a path, a storage key's separator or another account.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SandboxName(String);

impl SandboxName {
    /// The name a `Keygate-Sandbox` header (or a path segment) gives, or the 400 that says
    /// what a name may be.
    pub fn parse(value: &str) -> Result<Self, Error> {
        let valid = (1..=MAX_SANDBOX_NAME_LENGTH).contains(&value.len())
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if valid {
            Ok(Self(value.to_string()))
        } else {
            Err(Error::bad_request(format!(
                "A sandbox name is 1 to {MAX_SANDBOX_NAME_LENGTH} of A-Z, a-z, 0-9, `_` and `-`; \
                 got `{}`. Send it in the {SANDBOX_HEADER} header.",
                shown(value)
            )))
        }
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The name of the store that keeps `sandbox`'s state in the test account `account_id`: the
/// account id for its default sandbox, `{account_id}/{name}` for a named one. Account ids have
/// no `/` and names cannot have one, so two sandboxes never share a store.
pub fn store_name(account_id: &str, sandbox: Option<&SandboxName>) -> String {
    match sandbox {
        None => account_id.to_string(),
        Some(name) => format!("{account_id}/{}", name.as_str()),
    }
}

/// The named sandboxes of one test account: name → when it was first used (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxIndex {
    #[serde(default)]
    named: BTreeMap<String, i64>,
}

/// A request to the account's index of sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRequest {
    /// `GET /v1/sandbox/sandboxes`
    List,
    /// `DELETE /v1/sandbox/sandboxes/{name}`
    Delete(SandboxName),
}

impl IndexRequest {
    /// The index request `method` and `path` make, if the path is under
    /// [`SANDBOXES_PATH`]: the answer is decided by the account's index, whatever sandbox the
    /// request names. A known path with another method is a 405; a bad name a 400.
    pub fn parse(method: &str, path: &str) -> Option<Result<Self, Error>> {
        let rest = path.strip_prefix(SANDBOXES_PATH)?;
        if rest.is_empty() {
            return Some(match method {
                "GET" | "HEAD" => Ok(Self::List),
                _ => Err(Error::method_not_allowed("GET, HEAD")),
            });
        }
        let name = rest.strip_prefix('/')?;
        Some(match method {
            "DELETE" => SandboxName::parse(name).map(Self::Delete),
            _ => Err(Error::method_not_allowed("DELETE")),
        })
    }
}

#[derive(Serialize)]
struct Listed<'a> {
    object: &'static str,
    name: &'a str,
    created: i64,
    created_at: String,
}

impl SandboxIndex {
    /// Lets `name` be used from `now` on: `true` if it is new (the index changed), a 409 when
    /// the account already holds [`MAX_NAMED_SANDBOXES`] others.
    pub fn register(&mut self, name: &SandboxName, now: i64) -> Result<bool, Error> {
        if self.named.contains_key(name.as_str()) {
            return Ok(false);
        }
        if self.named.len() >= MAX_NAMED_SANDBOXES {
            return Err(Error::conflict(format!(
                "This test account holds {MAX_NAMED_SANDBOXES} named sandboxes, the most it may. \
                 Delete one you no longer need (DELETE {SANDBOXES_PATH}/{{name}}; GET \
                 {SANDBOXES_PATH} lists them), or reuse a name."
            )));
        }
        self.named.insert(name.0.clone(), now);
        Ok(true)
    }

    /// Forgets `name`; answers when it was created, if it was there.
    pub fn remove(&mut self, name: &SandboxName) -> Option<i64> {
        self.named.remove(name.as_str())
    }

    /// Puts back what [`remove`](Self::remove) took, when wiping the sandbox failed.
    pub fn restore(&mut self, name: &SandboxName, created: i64) {
        self.named.insert(name.0.clone(), created);
    }

    /// How many named sandboxes the account holds.
    pub fn len(&self) -> usize {
        self.named.len()
    }

    /// Whether the account holds none.
    pub fn is_empty(&self) -> bool {
        self.named.is_empty()
    }

    /// Whether `name` is one of them.
    pub fn contains(&self, name: &SandboxName) -> bool {
        self.named.contains_key(name.as_str())
    }

    /// The answer to `GET /v1/sandbox/sandboxes`: every named sandbox, by name (at most
    /// [`MAX_NAMED_SANDBOXES`], so one page).
    pub fn list(&self) -> Result<SandboxResponse, Error> {
        let data: Vec<Listed> = self
            .named
            .iter()
            .map(|(name, created)| Listed {
                object: "sandbox",
                name,
                created: *created,
                created_at: clock::rfc3339(*created),
            })
            .collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(data, false))?,
        ))
    }

    /// The 404 for a sandbox name the account does not hold.
    pub fn no_such(name: &SandboxName) -> Error {
        Error::not_found(format!(
            "This test account has no sandbox named `{}`. GET {SANDBOXES_PATH} lists them.",
            name.as_str()
        ))
    }

    /// The answer to a delete that removed `name` (after its state was wiped).
    pub fn deleted(name: &SandboxName) -> Result<SandboxResponse, Error> {
        #[derive(Serialize)]
        struct Deleted<'a> {
            object: &'static str,
            name: &'a str,
            deleted: bool,
        }
        let body = to_json(&Deleted {
            object: "sandbox",
            name: name.as_str(),
            deleted: true,
        })?;
        Ok(SandboxResponse::json(200, body))
    }
}
