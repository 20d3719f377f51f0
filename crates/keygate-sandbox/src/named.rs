//! Named sandboxes: the `Keygate-Sandbox` request header selects an isolated sandbox inside a
//! test account, with its own objects, updates, idempotency keys and clock, so parallel CI jobs
//! sharing a test key never see each other's. Without the header, the account's default sandbox
//! answers. Each sandbox is its own [`AccountState`](crate::AccountState); this module holds
//! what is decided about their names: the one parser of the header, and the account's
//! [`SandboxIndex`] (which named sandboxes exist, the cap, and the routes that list and delete
//! them). Where the states are kept is the worker's business (docs/sandbox.md, "Named
//! sandboxes").

use crate::clock::{self, MAX_CLOCK_AHEAD_DAYS};
use crate::date;
use crate::handle::to_json;
use crate::rules::shown;
use crate::{Repeatable, SandboxResponse};
use keygate_core::page::ListPage;
use keygate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The request header that names a sandbox.
pub const SANDBOX_HEADER: &str = "Keygate-Sandbox";
/// The longest name.
pub const MAX_SANDBOX_NAME_LENGTH: usize = 64;
/// How many named sandboxes one test account may hold at once.
pub const MAX_NAMED_SANDBOXES: usize = 50;

/// A named sandbox written to for none of this many seconds is deleted, its name freed: a CI
/// that names a sandbox per run does not fill the account's [`MAX_NAMED_SANDBOXES`].
pub const NAMED_SANDBOX_IDLE_SECONDS: i64 = 30 * 86_400;

/// When a named sandbox last written at `last_write` must be looked at again, or `None` if it
/// has been idle for `idle` seconds by `now` and goes.
pub fn idle_until(last_write: i64, now: i64, idle: i64) -> Option<i64> {
    let due = last_write.saturating_add(idle);
    (due > now).then_some(due)
}

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

/// The named sandboxes of one test account, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SandboxIndex {
    #[serde(default)]
    named: BTreeMap<String, Entry>,
}

/// One named sandbox: when it was created (first used, or `POST /v1/sandbox/sandboxes`), in
/// real Unix seconds, and what makes it repeatable, if it was created so.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeatable: Option<Repeatable>,
}

/// The largest seed: what a JSON number holds exactly in every client.
pub const MAX_SEED: u64 = (1 << 53) - 1;

/// A request to the account's index of sandboxes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IndexRequest {
    /// `GET /v1/sandbox/sandboxes`
    List,
    /// `POST /v1/sandbox/sandboxes`: a repeatable sandbox, from a seed and a clock start.
    Create,
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
                "POST" => Ok(Self::Create),
                _ => Err(Error::method_not_allowed("GET, HEAD, POST")),
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
    repeatable: Option<ShownRepeatable>,
}

#[derive(Serialize)]
struct ShownRepeatable {
    seed: u64,
    clock_start: String,
}

impl<'a> Listed<'a> {
    fn new(name: &'a str, entry: &Entry) -> Self {
        Listed {
            object: "sandbox",
            name,
            created: entry.created,
            created_at: clock::rfc3339(entry.created),
            repeatable: entry.repeatable.map(|r| ShownRepeatable {
                seed: r.seed,
                clock_start: clock::rfc3339(r.start),
            }),
        }
    }
}

/// `{"name": "snapshots", "seed": 42, "clock": "2027-01-04"}`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Create {
    name: serde_json::Value,
    seed: serde_json::Value,
    clock: serde_json::Value,
}

impl SandboxIndex {
    /// Lets `name` be used from `now` on: `true` if it is new (the index changed), a 409 when
    /// the account already holds [`MAX_NAMED_SANDBOXES`] others.
    pub fn register(&mut self, name: &SandboxName, now: i64) -> Result<bool, Error> {
        if self.named.contains_key(name.as_str()) {
            return Ok(false);
        }
        self.check_room()?;
        let entry = Entry {
            created: now,
            repeatable: None,
        };
        self.named.insert(name.0.clone(), entry);
        Ok(true)
    }

    fn check_room(&self) -> Result<(), Error> {
        if self.named.len() >= MAX_NAMED_SANDBOXES {
            return Err(Error::conflict(format!(
                "This test account holds {MAX_NAMED_SANDBOXES} named sandboxes, the most it may. \
                 Delete one you no longer need (DELETE {SANDBOXES_PATH}/{{name}}; GET \
                 {SANDBOXES_PATH} lists them), or reuse a name."
            )));
        }
        Ok(())
    }

    /// `POST /v1/sandbox/sandboxes`: takes the name for a repeatable sandbox, and answers what
    /// its object must be set up with (the worker does that, then answers
    /// [`created`](Self::created)). A name in use is a 409: delete it first.
    pub fn create(&mut self, body: &[u8], now: i64) -> Result<(SandboxName, Repeatable), Error> {
        let usage = "Send {\"name\": \"snapshots\", \"seed\": 42, \"clock\": \"2027-01-04\"}.";
        let body: Create = serde_json::from_slice(body).map_err(|e| {
            Error::bad_request(format!(
                "The body is not a sandbox to create ({e}). {usage}"
            ))
        })?;
        let mut errors = Vec::new();
        let name = match body.name.as_str().map(SandboxName::parse) {
            Some(Ok(name)) => Some(name),
            _ => {
                errors.push(FieldError::new(
                    "name",
                    format!("must be 1 to {MAX_SANDBOX_NAME_LENGTH} of A-Z, a-z, 0-9, `_` and `-`"),
                ));
                None
            }
        };
        let seed = body.seed.as_u64().filter(|seed| *seed <= MAX_SEED);
        if seed.is_none() {
            errors.push(FieldError::new(
                "seed",
                format!("must be a whole number from 0 to {MAX_SEED}"),
            ));
        }
        let today = date::today(now);
        let day = body.clock.as_str().and_then(date::parse);
        let start = match day {
            Some(day) if (day - today).abs() <= MAX_CLOCK_AHEAD_DAYS => Some(day * 86_400),
            _ => {
                errors.push(FieldError::new(
                    "clock",
                    format!(
                        "must be a date (YYYY-MM-DD) within {MAX_CLOCK_AHEAD_DAYS} days of today"
                    ),
                ));
                None
            }
        };
        let (Some(name), Some(seed), Some(start)) = (name, seed, start) else {
            return Err(Error::invalid(errors));
        };
        if self.named.contains_key(name.as_str()) {
            return Err(Error::conflict(format!(
                "This test account already has a sandbox named `{}`. Delete it first (DELETE \
                 {SANDBOXES_PATH}/{}) or choose another name.",
                name.as_str(),
                name.as_str()
            )));
        }
        self.check_room()?;
        let repeatable = Repeatable { seed, start };
        let entry = Entry {
            created: now,
            repeatable: Some(repeatable),
        };
        self.named.insert(name.0.clone(), entry);
        Ok((name, repeatable))
    }

    /// The 201 for a repeatable sandbox that [`create`](Self::create) made.
    pub fn created(&self, name: &SandboxName) -> Result<SandboxResponse, Error> {
        let entry = self.named.get(name.as_str()).ok_or_else(Error::internal)?;
        Ok(SandboxResponse::json(
            201,
            to_json(&Listed::new(name.as_str(), entry))?,
        ))
    }

    /// Forgets `name`; answers what it was, if it was there.
    pub fn remove(&mut self, name: &SandboxName) -> Option<Entry> {
        self.named.remove(name.as_str())
    }

    /// Puts back what [`remove`](Self::remove) took, when wiping the sandbox failed.
    pub fn restore(&mut self, name: &SandboxName, entry: Entry) {
        self.named.insert(name.0.clone(), entry);
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
            .map(|(name, entry)| Listed::new(name, entry))
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
