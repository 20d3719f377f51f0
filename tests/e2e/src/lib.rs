//! keygate end-to-end harness: the real worker in workerd (`wrangler dev`), driven over HTTP.
//!
//! A test file is a `harness = false` binary whose `main` calls [`run`]:
//!
//! ```no_run
//! use keygate_e2e::{Gateway, Origin, run, tests};
//!
//! struct Ctx { gw: Gateway, origin: Origin }
//!
//! fn answers_with_request_id(c: &Ctx) {
//!     let r = c.gw.get("/").send();
//!     assert!(r.header("x-request-id").is_some(), "{r}");
//! }
//!
//! fn main() {
//!     run(|| {
//!         let origin = Origin::start();
//!         let gw = Gateway::start(&[("ORIGIN_URL", &origin.url())]);
//!         Ctx { gw, origin }
//!     }, tests![answers_with_request_id]);
//! }
//! ```
//!
//! * The setup runs once per binary, lazily (not at all for `--list` or when a filter selects
//!   no test of this file), and its value is dropped — gateways killed — before the exit.
//! * Trials run in parallel threads (`--test-threads`, default = cores) against the shared
//!   gateway: make each trial independent (its own account, its own keys).
//! * Every gateway gets fresh local storage (`--persist-to` a temp dir), a free port, and the
//!   variables [`ADMIN_TOKEN`], [`ORIGIN_SIGNING_SECRET`], `REQUIRE_HTTPS=false`,
//!   `HIDE_FORBIDDEN=false` unless overridden. `ORIGIN_URL` is unset unless given.
//!   The developer's `.dev.vars` is never read.
//! * The worker is built before the first gateway starts: unless `KEYGATE_PREBUILT=1` is in the
//!   environment (scripts/test sets it after building), the harness runs `scripts/build-worker`
//!   once per test binary (it returns at once when `build/` is up to date with the sources).
//!   Gateways run a copy of wrangler.toml without its `[build]` section, so starting one
//!   never builds, and editing `crates/` while a suite runs does not restart its workers.
//! * A failing trial's message ends with the last lines of every running gateway's output.
//!   `KEYGATE_E2E_VERBOSE=1` streams wrangler's output to stderr as it comes.
//! * Cases that share one course and differ in data are a table: [`table`] makes one trial per
//!   row, each under its own name (chain it with [`tests!`]'s list).
//! * A large suite is a directory: `tests/<name>/main.rs` (doc, context, setup, trial list) and
//!   one module per section, each with `use super::*;`. Helpers several suites need live here.

mod answers;
pub mod audited;
mod client;
pub mod clock;
pub mod dates;
mod gateway;
pub mod node;
pub mod offline;
mod origin;
mod raw;
mod runner;
mod setup;
mod tenants;

pub use answers::*;
pub use client::*;
pub use gateway::*;
pub use origin::*;
pub use raw::*;
pub use runner::*;
pub use setup::{WithOrigin, start_together};
pub use tenants::*;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use serde_json::{Value, json};

/// Admin token every gateway gets unless overridden.
pub const ADMIN_TOKEN: &str = "e2e-admin-token";
/// Origin signing secret every gateway gets unless overridden.
pub const ORIGIN_SIGNING_SECRET: &str = "e2e-origin-signing-secret";

/// How long a gateway may take to answer its first request.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// Default timeout of one HTTP request made by the harness.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The repository root (where wrangler.toml lives).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("repository root")
}

/// A free TCP port on 127.0.0.1 (bound then released: a tiny race is possible).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0")
}
