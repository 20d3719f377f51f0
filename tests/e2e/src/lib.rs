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
//!   Gateways always start wrangler with `KEYGATE_PREBUILT=1`, so starting one never builds.
//! * A failing trial's message ends with the last lines of every running gateway's output.
//!   `KEYGATE_E2E_VERBOSE=1` streams wrangler's output to stderr as it comes.
//! * Cases that share one course and differ in data are a table: [`table`] makes one trial per
//!   row, each under its own name (chain it with [`tests!`]'s list).
//! * A large suite is a directory: `tests/<name>/main.rs` (doc, context, setup, trial list) and
//!   one module per section, each with `use super::*;`. Helpers several suites need live here.

pub mod audited;
pub mod clock;
pub mod node;
pub mod offline;
mod setup;

pub use setup::{WithOrigin, start_together};

use std::collections::BTreeMap;
use std::fmt;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex, OnceLock, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

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

// ------------------------------------------------------------------------------------------
// Test runner
// ------------------------------------------------------------------------------------------

/// One trial: its name and what it runs with the suite's context.
pub type TestFn<C> = (&'static str, Box<dyn Fn(&C) + Send + Sync>);

/// The trial `name` running `f` (what [`tests!`] makes of each name).
pub fn trial<C: 'static>(name: &'static str, f: fn(&C)) -> TestFn<C> {
    (name, Box::new(f))
}

/// `tests![a, b, c]` → `vec![trial("a", a), trial("b", b), trial("c", c)]` for [`run`].
#[macro_export]
macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        vec![$($crate::trial(stringify!($name), $name)),*]
    };
}

/// One trial per row of a table: named `name(row)`, running `f(ctx, row)`. For cases that share
/// one course and differ in data, each still reported (and filtered) by its own name.
pub fn table<C: 'static, T: Sync>(
    rows: &'static [T],
    name: fn(&T) -> &'static str,
    f: fn(&C, &T),
) -> Vec<TestFn<C>> {
    rows.iter()
        .map(|row| -> TestFn<C> { (name(row), Box::new(move |c: &C| f(c, row))) })
        .collect()
}

/// Runs the trials of one test binary with libtest-style output and exits.
///
/// `setup` is called once, on first use, and its result is shared by all trials; it is dropped
/// (gateways and origins shut down) before the process exits with libtest's exit code.
pub fn run<C, S>(setup: S, tests: impl IntoIterator<Item = TestFn<C>>) -> !
where
    C: Send + Sync + 'static,
    S: FnOnce() -> C + Send + 'static,
{
    let args = libtest_mimic::Arguments::from_args();
    let shared: Arc<Shared<C, S>> = Arc::new(Shared {
        setup: Mutex::new(Some(setup)),
        ctx: Mutex::new(None),
    });
    let trials = tests
        .into_iter()
        .map(|(name, f)| {
            let shared = shared.clone();
            libtest_mimic::Trial::test(name, move || {
                let ctx = shared.get()?;
                match catch_unwind(AssertUnwindSafe(|| f(&ctx))) {
                    Ok(()) => Ok(()),
                    Err(panic) => {
                        Err(
                            format!("{}{}", panic_message(&panic), gateway_logs_for_failure())
                                .into(),
                        )
                    }
                }
            })
        })
        .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    // Tear down before exit(): process::exit does not run destructors.
    let ctx = shared.ctx.lock().unwrap().take();
    drop(ctx);
    conclusion.exit()
}

struct Shared<C, S> {
    setup: Mutex<Option<S>>,
    ctx: Mutex<Option<Result<Arc<C>, String>>>,
}

impl<C, S: FnOnce() -> C> Shared<C, S> {
    fn get(&self) -> Result<Arc<C>, libtest_mimic::Failed> {
        // Holding the lock during setup makes the other trials wait for it.
        let mut ctx = self.ctx.lock().unwrap_or_else(|e| e.into_inner());
        if ctx.is_none() {
            let setup = self.setup.lock().unwrap().take().expect("setup runs once");
            let started = Instant::now();
            let made = ensure_worker_built().and_then(|()| {
                catch_unwind(AssertUnwindSafe(setup))
                    .map_err(|p| format!("suite setup failed: {}", panic_message(&p)))
            });
            if made.is_ok() {
                eprintln!(
                    "e2e: suite setup took {:.1} s",
                    started.elapsed().as_secs_f64()
                );
            }
            *ctx = Some(made.map(Arc::new));
        }
        match ctx.as_ref().unwrap() {
            Ok(c) => Ok(c.clone()),
            Err(e) => Err(e.clone().into()),
        }
    }
}

fn panic_message(p: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_string()
    }
}

/// Builds the worker with scripts/build-worker once per process, unless KEYGATE_PREBUILT=1.
fn ensure_worker_built() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            if std::env::var("KEYGATE_PREBUILT").as_deref() == Ok("1") {
                return Ok(());
            }
            eprintln!("e2e: building the worker (scripts/build-worker; KEYGATE_PREBUILT=1 skips)");
            let status = Command::new("bash")
                .arg(repo_root().join("scripts/build-worker"))
                .current_dir(repo_root())
                .stdout(Stdio::inherit())
                .stderr(Stdio::inherit())
                .status()
                .map_err(|e| format!("cannot run scripts/build-worker: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("scripts/build-worker failed ({status})"))
            }
        })
        .clone()
}

// ------------------------------------------------------------------------------------------
// Gateway: wrangler dev + workerd
// ------------------------------------------------------------------------------------------

type LogBuf = Arc<Mutex<String>>;

/// Output buffers of the gateways alive in this process (for failure messages).
static LIVE_GATEWAYS: Mutex<Vec<(u16, Weak<Mutex<String>>)>> = Mutex::new(Vec::new());

fn gateway_logs_for_failure() -> String {
    let live = LIVE_GATEWAYS.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = String::new();
    for (port, buf) in live.iter() {
        if let Some(buf) = buf.upgrade() {
            let text = buf.lock().unwrap_or_else(|e| e.into_inner()).clone();
            out.push_str(&format!(
                "\n--- gateway :{port} output (last 30 lines) ---\n{}",
                tail_lines(&text, 30)
            ));
        }
    }
    out
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Options of a gateway to start; see [`Gateway::builder`].
#[derive(Debug, Clone)]
pub struct GatewayBuilder {
    vars: BTreeMap<String, Option<String>>,
    persist_to: Option<PathBuf>,
    ready_timeout: Duration,
    https: bool,
}

impl GatewayBuilder {
    /// Sets a worker variable (`--var NAME:VALUE`), overriding the harness default.
    pub fn var(mut self, name: &str, value: &str) -> Self {
        self.vars.insert(name.to_string(), Some(value.to_string()));
        self
    }

    /// Does not pass this variable (for the harness defaults ADMIN_TOKEN,
    /// ORIGIN_SIGNING_SECRET, REQUIRE_HTTPS, HIDE_FORBIDDEN). Variables declared in
    /// wrangler.toml `[vars]` (REQUIRE_HTTPS, HIDE_FORBIDDEN) then take that value.
    pub fn unset(mut self, name: &str) -> Self {
        self.vars.insert(name.to_string(), None);
        self
    }

    /// Uses this directory for local storage instead of a fresh one (e.g. to restart a gateway
    /// on the state of a previous one: `builder().persist_to(old.persist_dir())`).
    /// The directory is not deleted by the harness.
    pub fn persist_to(mut self, dir: impl Into<PathBuf>) -> Self {
        self.persist_to = Some(dir.into());
        self
    }

    /// Serves HTTPS (`--local-protocol https`, a self-signed certificate the harness's client
    /// accepts), so the worker sees `https://` URLs: for `REQUIRE_HTTPS=true` tests.
    pub fn https(mut self) -> Self {
        self.https = true;
        self
    }

    /// How long to wait for the first answer (default [`READY_TIMEOUT`]).
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the gateway; panics with wrangler's output if it does not come up.
    pub fn start(self) -> Gateway {
        match self.try_start() {
            Ok(gw) => gw,
            Err(e) => panic!("{e}"),
        }
    }

    /// Starts the gateway; the error carries wrangler's output.
    pub fn try_start(self) -> Result<Gateway, String> {
        ensure_worker_built()?;
        let root = repo_root();
        let tmp = tempfile::Builder::new()
            .prefix("keygate-e2e-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let persist_dir = match &self.persist_to {
            Some(d) => d.clone(),
            None => tmp.path().join("state"),
        };
        // An explicit (empty) env file stops wrangler from reading the developer's .dev.vars.
        let env_file = tmp.path().join("empty.env");
        std::fs::write(&env_file, "").map_err(|e| format!("write {}: {e}", env_file.display()))?;

        let port = free_port();
        let wrangler = root.join("node_modules/.bin/wrangler");
        if !wrangler.exists() {
            return Err(format!(
                "{} is missing: run scripts/setup",
                wrangler.display()
            ));
        }
        let mut args: Vec<String> = vec![
            "dev".into(),
            "--ip".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--persist-to".into(),
            persist_dir.display().to_string(),
            // Its own devtools port: the default 9229 is raced for by gateways starting at once.
            "--inspector-port".into(),
            free_port().to_string(),
            "--env-file".into(),
            env_file.display().to_string(),
            "--show-interactive-dev-session=false".into(),
            "--log-level".into(),
            "log".into(),
        ];
        if self.https {
            args.push("--local-protocol".into());
            args.push("https".into());
        }
        for (name, value) in &self.vars {
            if let Some(value) = value {
                args.push("--var".into());
                args.push(format!("{name}:{value}"));
            }
        }

        // The shell is the process-group leader. It runs wrangler (which starts workerd in the
        // same group) and a watcher that kills the whole group when its stdin reaches EOF, i.e.
        // when this process exits by any means (even SIGKILL) without running Drop.
        let script = r#"exec 3<&0
( cat <&3 >/dev/null; kill -TERM -$$ ) &
"$@" </dev/null 3<&-
"#;
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(script)
            .arg("keygate-gateway")
            .arg(&wrangler)
            .args(&args)
            .current_dir(&root)
            .env("KEYGATE_PREBUILT", "1")
            .env("WRANGLER_SEND_METRICS", "false")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("WRANGLER_HIDE_BANNER", "true")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .env("CI", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        let started = Instant::now();
        let mut child = cmd.spawn().map_err(|e| format!("spawn wrangler: {e}"))?;
        let pgid = child.id() as i32;
        let logs: LogBuf = Arc::new(Mutex::new(String::new()));
        let verbose = std::env::var("KEYGATE_E2E_VERBOSE").as_deref() == Ok("1");
        let readers = [
            spawn_reader(child.stdout.take().unwrap(), logs.clone(), port, verbose),
            spawn_reader(child.stderr.take().unwrap(), logs.clone(), port, verbose),
        ];
        let stdin = child.stdin.take();

        let mut gw = Gateway {
            port,
            base_url: format!(
                "{}://127.0.0.1:{port}",
                if self.https { "https" } else { "http" }
            ),
            child,
            pgid,
            stdin,
            readers: readers.into_iter().collect(),
            logs,
            persist_dir,
            _tmp: tmp,
            agent: new_agent(),
            startup: Duration::ZERO,
        };
        LIVE_GATEWAYS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((port, Arc::downgrade(&gw.logs)));

        let deadline = started + self.ready_timeout;
        loop {
            if let Ok(Some(status)) = gw.child.try_wait() {
                thread::sleep(Duration::from_millis(200)); // let the readers drain
                return Err(format!(
                    "wrangler dev exited ({status}) before answering on port {port}.\n\
                     --- wrangler output ---\n{}",
                    gw.logs()
                ));
            }
            let probe = gw.get("/").timeout(Duration::from_secs(10)).try_send();
            if probe.is_ok() {
                break;
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "wrangler dev did not answer GET / on port {port} within {:?} \
                     (last error: {}).\n--- wrangler output ---\n{}",
                    self.ready_timeout,
                    probe.err().unwrap_or_default(),
                    gw.logs()
                ));
            }
            thread::sleep(Duration::from_millis(250));
        }
        gw.startup = started.elapsed();
        eprintln!(
            "e2e: gateway on {} ready in {:.1} s",
            gw.base_url,
            gw.startup.as_secs_f64()
        );
        Ok(gw)
    }
}

fn spawn_reader(
    stream: impl Read + Send + 'static,
    logs: LogBuf,
    port: u16,
    verbose: bool,
) -> JoinHandle<()> {
    thread::spawn(move || {
        let mut reader = BufReader::new(stream);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let text = String::from_utf8_lossy(&line);
                    if verbose {
                        eprint!("[gw:{port}] {text}");
                    }
                    logs.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push_str(&text);
                }
            }
        }
    })
}

/// A running `wrangler dev` (workerd) serving the worker on `http://127.0.0.1:<port>`.
/// Dropping it kills wrangler and workerd (the whole process group).
pub struct Gateway {
    port: u16,
    base_url: String,
    child: Child,
    pgid: i32,
    stdin: Option<std::process::ChildStdin>,
    readers: Vec<JoinHandle<()>>,
    logs: LogBuf,
    persist_dir: PathBuf,
    _tmp: tempfile::TempDir,
    agent: ureq::Agent,
    startup: Duration,
}

impl Gateway {
    /// Starts a gateway with the harness defaults overridden/extended by `vars`, e.g.
    /// `Gateway::start(&[("ORIGIN_URL", &origin.url()), ("HIDE_FORBIDDEN", "true")])`.
    /// Panics (with wrangler's output) if it is not answering within [`READY_TIMEOUT`].
    pub fn start(vars: &[(&str, &str)]) -> Gateway {
        let mut b = Gateway::builder();
        for (k, v) in vars {
            b = b.var(k, v);
        }
        b.start()
    }

    /// A builder with the harness defaults: ADMIN_TOKEN, ORIGIN_SIGNING_SECRET,
    /// REQUIRE_HTTPS=false, HIDE_FORBIDDEN=false; fresh storage.
    pub fn builder() -> GatewayBuilder {
        let mut vars = BTreeMap::new();
        for (k, v) in [
            ("ADMIN_TOKEN", ADMIN_TOKEN),
            ("ORIGIN_SIGNING_SECRET", ORIGIN_SIGNING_SECRET),
            ("REQUIRE_HTTPS", "false"),
            ("HIDE_FORBIDDEN", "false"),
        ] {
            vars.insert(k.to_string(), Some(v.to_string()));
        }
        GatewayBuilder {
            vars,
            persist_to: None,
            ready_timeout: READY_TIMEOUT,
            https: false,
        }
    }

    /// `http://127.0.0.1:<port>` (`https://` for [`GatewayBuilder::https`]).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The base URL joined with `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The local storage directory (`--persist-to`).
    pub fn persist_dir(&self) -> &Path {
        &self.persist_dir
    }

    /// Time from spawning wrangler to the first answer.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// Everything wrangler and the worker printed so far (stdout and stderr, with
    /// `console.log` lines of the worker).
    pub fn logs(&self) -> String {
        self.logs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A request to this gateway; `path` may include a query string.
    pub fn request(&self, method: &str, path: &str) -> Req {
        Req::new(self.agent.clone(), method, self.url(path))
    }

    pub fn get(&self, path: &str) -> Req {
        self.request("GET", path)
    }
    pub fn head(&self, path: &str) -> Req {
        self.request("HEAD", path)
    }
    pub fn post(&self, path: &str) -> Req {
        self.request("POST", path)
    }
    pub fn put(&self, path: &str) -> Req {
        self.request("PUT", path)
    }
    pub fn patch(&self, path: &str) -> Req {
        self.request("PATCH", path)
    }
    pub fn delete(&self, path: &str) -> Req {
        self.request("DELETE", path)
    }
    pub fn options(&self, path: &str) -> Req {
        self.request("OPTIONS", path)
    }

    /// An admin request with `Authorization: Bearer ADMIN_TOKEN`. `path` is either absolute
    /// (`/admin/v1/accounts`) or relative to `/admin/v1` (`/accounts`).
    pub fn admin(&self, method: &str, path: &str) -> Req {
        let path = if path.starts_with("/admin/") {
            path.to_string()
        } else {
            format!("/admin/v1{path}")
        };
        self.request(method, &path).bearer(ADMIN_TOKEN)
    }

    pub fn admin_get(&self, path: &str) -> Resp {
        self.admin("GET", path).send()
    }
    pub fn admin_post(&self, path: &str, body: &Value) -> Resp {
        self.admin("POST", path).json(body).send()
    }
    pub fn admin_patch(&self, path: &str, body: &Value) -> Resp {
        self.admin("PATCH", path).json(body).send()
    }
    pub fn admin_put(&self, path: &str) -> Resp {
        self.admin("PUT", path).send()
    }
    pub fn admin_delete(&self, path: &str) -> Resp {
        self.admin("DELETE", path).send()
    }

    /// `POST /admin/v1/accounts` with `body` (e.g. `json!({"name": "Acme", "agreement":
    /// "production"})`); asserts 201 and returns the account object.
    pub fn create_account(&self, body: &Value) -> Value {
        self.admin_post("/accounts", body)
            .expect_status(201)
            .json
            .clone()
    }

    /// `PUT /admin/v1/accounts/{account_id}/products/{product_id}`; asserts 2xx and returns
    /// the body (with the product keys).
    pub fn entitle(&self, account_id: &str, product_id: &str) -> Value {
        self.admin_put(&format!("/accounts/{account_id}/products/{product_id}"))
            .expect_success()
            .json
            .clone()
    }

    /// `POST /admin/v1/accounts/{account_id}/keys` with `body` (e.g. `json!({"name": "ci",
    /// "environment": "test"})`); asserts 201 and returns `(key object, secret)`.
    pub fn create_key(&self, account_id: &str, body: &Value) -> (Value, String) {
        let r = self.admin_post(&format!("/accounts/{account_id}/keys"), body);
        r.expect_status(201);
        let secret = r.json["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no \"secret\" in key creation answer: {r}"))
            .to_string();
        (r.json["key"].clone(), secret)
    }

    /// Stops the gateway now (same as dropping it).
    pub fn stop(self) {}
}

impl Drop for Gateway {
    fn drop(&mut self) {
        // SIGTERM the group (wrangler stops workerd), then SIGKILL whatever is left.
        signal_group(self.pgid, libc::SIGTERM);
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline && group_alive(self.pgid) {
            thread::sleep(Duration::from_millis(50));
        }
        if group_alive(self.pgid) {
            signal_group(self.pgid, libc::SIGKILL);
        }
        let _ = self.child.wait();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        LIVE_GATEWAYS
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(p, _)| *p != self.port);
    }
}

// The only unsafe code in the tree: std can signal a child but not its process group, and
// wrangler's workerd must not outlive a test. Both calls take plain integers and a local.
#[expect(
    unsafe_code,
    reason = "libc process-group signals; std has no safe equivalent"
)]
fn signal_group(pgid: i32, signal: i32) -> bool {
    unsafe { libc::kill(-pgid, signal) == 0 }
}

fn group_alive(pgid: i32) -> bool {
    // Reap the leader if it exited, or it stays a zombie and kill(…, 0) keeps succeeding.
    reap(pgid);
    signal_group(pgid, 0)
}

#[expect(
    unsafe_code,
    reason = "libc waitpid on our own child; std's Child::try_wait needs the Child"
)]
fn reap(pid: i32) {
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

// ------------------------------------------------------------------------------------------
// HTTP client
// ------------------------------------------------------------------------------------------

fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .timeout_global(Some(REQUEST_TIMEOUT))
        // Only local servers are contacted; HTTPS gateways use a self-signed certificate.
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .into()
}

/// A request to send: `gw.get("/v1/accounts").bearer(&key).send()`.
#[derive(Clone)]
pub struct Req {
    agent: ureq::Agent,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
    timeout: Option<Duration>,
}

impl Req {
    fn new(agent: ureq::Agent, method: &str, url: String) -> Req {
        Req {
            agent,
            method: method.to_string(),
            url,
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// Adds a header (repeatable: two calls with one name send it twice).
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    /// `Authorization: Bearer <token>`
    pub fn bearer(self, token: &str) -> Self {
        self.header("Authorization", &format!("Bearer {token}"))
    }

    /// `Authorization: Basic base64(user:password)`
    pub fn basic(self, user: &str, password: &str) -> Self {
        use base64::Engine;
        let enc = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        self.header("Authorization", &format!("Basic {enc}"))
    }

    /// `X-API-Key: <key>`
    pub fn api_key(self, key: &str) -> Self {
        self.header("X-API-Key", key)
    }

    /// `X-Product-Key: <key>`
    pub fn product_key(self, key: &str) -> Self {
        self.header("X-Product-Key", key)
    }

    /// `CF-Connecting-IP: <ip>` (the client address the worker trusts).
    pub fn client_ip(self, ip: &str) -> Self {
        self.header("CF-Connecting-IP", ip)
    }

    /// JSON body with `Content-Type: application/json`.
    pub fn json(self, body: &Value) -> Self {
        self.header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).unwrap())
    }

    /// Raw body (set Content-Type yourself).
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = Some(body.into());
        self
    }

    /// Overrides [`REQUEST_TIMEOUT`] for this request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends; panics on a transport error (connection refused, timeout). Any HTTP status is
    /// a normal answer; redirects are not followed.
    pub fn send(self) -> Resp {
        let what = format!("{} {}", self.method, self.url);
        match self.try_send() {
            Ok(r) => r,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Sends; `Err` only for transport errors.
    pub fn try_send(self) -> Result<Resp, String> {
        let mut b = ureq::http::Request::builder()
            .method(self.method.as_str())
            .uri(self.url.as_str());
        for (k, v) in &self.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let started = Instant::now();
        let result = match self.body {
            Some(body) => {
                let req = b.body(body).map_err(|e| e.to_string())?;
                let mut cfg = self.agent.configure_request(req);
                if let Some(t) = self.timeout {
                    cfg = cfg.timeout_global(Some(t));
                }
                self.agent.run(cfg.build())
            }
            None => {
                let req = b.body(()).map_err(|e| e.to_string())?;
                let mut cfg = self.agent.configure_request(req);
                if let Some(t) = self.timeout {
                    cfg = cfg.timeout_global(Some(t));
                }
                self.agent.run(cfg.build())
            }
        };
        let mut resp = result.map_err(|e| e.to_string())?;
        let status = resp.status().as_u16();
        let headers = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let body = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_vec()
            .map_err(|e| format!("reading the body: {e}"))?;
        let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
        Ok(Resp {
            method: self.method,
            url: self.url,
            status,
            headers,
            body,
            json,
            elapsed: started.elapsed(),
        })
    }
}

/// An HTTP answer. `Display` shows the status, headers and body (for assertion messages).
#[derive(Clone)]
pub struct Resp {
    pub method: String,
    pub url: String,
    pub status: u16,
    /// Header names are lowercase; repeated headers appear repeatedly.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The parsed body, or `Value::Null` when it is not JSON.
    pub json: Value,
    pub elapsed: Duration,
}

impl Resp {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy UTF-8).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// `X-Request-Id`, if present.
    pub fn request_id(&self) -> Option<&str> {
        self.header("x-request-id")
    }

    /// Panics (showing the whole answer) unless the status is `status`.
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "expected {status}, got: {self}");
        self
    }

    /// Panics unless the status is 2xx.
    pub fn expect_success(&self) -> &Self {
        assert!(
            (200..300).contains(&self.status),
            "expected 2xx, got: {self}"
        );
        self
    }
}

impl fmt::Display for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {} -> {}", self.method, self.url, self.status)?;
        for (k, v) in &self.headers {
            writeln!(f, "  {k}: {v}")?;
        }
        let text = self.text();
        if text.len() > 4000 {
            let mut cut = 4000;
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            write!(f, "  {}… ({} bytes)", &text[..cut], text.len())
        } else {
            write!(f, "  {text}")
        }
    }
}

impl fmt::Debug for Resp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A request to any URL (e.g. straight to an [`Origin`]) with the harness's client settings.
pub fn http(method: &str, url: &str) -> Req {
    static AGENT: OnceLock<ureq::Agent> = OnceLock::new();
    Req::new(
        AGENT.get_or_init(new_agent).clone(),
        method,
        url.to_string(),
    )
}

// ------------------------------------------------------------------------------------------
// Origin: a recording HTTP server standing in for the API provider's backend
// ------------------------------------------------------------------------------------------

/// One request the origin received.
#[derive(Debug, Clone)]
pub struct OriginRequest {
    pub method: String,
    /// Path and query, as received (`/v1/transactions?limit=2`).
    pub path: String,
    /// Header names as received (use [`OriginRequest::header`] for case-insensitive lookup).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub received_at: Instant,
}

impl OriginRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// What the origin answers for a path prefix (see [`Origin::respond`]).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Wait this long before answering (to make the gateway time out).
    pub delay: Duration,
}

impl Reply {
    /// `status` with a JSON body.
    pub fn json(status: u16, body: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: serde_json::to_vec(body).unwrap(),
            delay: Duration::ZERO,
        }
    }

    /// The default answer: 200 `{"origin":"ok"}`.
    pub fn ok() -> Reply {
        Reply::json(200, &json!({"origin": "ok"}))
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    pub fn delay(mut self, delay: Duration) -> Reply {
        self.delay = delay;
        self
    }
}

#[derive(Default)]
struct OriginState {
    requests: Mutex<Vec<OriginRequest>>,
    arrived: Condvar,
    replies: Mutex<Vec<(String, Reply)>>,
}

/// A recording HTTP/1.1 server on `127.0.0.1:<free port>`. Answers 200 `{"origin":"ok"}`
/// unless told otherwise with [`Origin::respond`]. Each request is served on its own thread,
/// so a delayed answer does not hold up others. Shared by parallel trials: find your own
/// requests by something unique (a path segment, a query parameter, `X-Keygate-Key`).
pub struct Origin {
    server: Arc<tiny_http::Server>,
    addr: SocketAddr,
    state: Arc<OriginState>,
    thread: Option<JoinHandle<()>>,
}

impl Origin {
    pub fn start() -> Origin {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("origin: bind"));
        let addr = server
            .server_addr()
            .to_ip()
            .expect("origin: IP listen address");
        let state = Arc::new(OriginState::default());
        let thread = {
            let server = server.clone();
            let state = state.clone();
            thread::spawn(move || {
                for req in server.incoming_requests() {
                    let state = state.clone();
                    thread::spawn(move || serve(req, &state));
                }
            })
        };
        Origin {
            server,
            addr,
            state,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>` (no trailing slash): the value for `ORIGIN_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request received so far, oldest first.
    pub fn requests(&self) -> Vec<OriginRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// The received requests for which `f` is true.
    pub fn requests_where(&self, f: impl Fn(&OriginRequest) -> bool) -> Vec<OriginRequest> {
        self.requests().into_iter().filter(|r| f(r)).collect()
    }

    /// Forgets the recorded requests.
    pub fn clear(&self) {
        self.state.requests.lock().unwrap().clear();
    }

    /// Waits until at least `n` received requests satisfy `f` (or `timeout` passes) and
    /// returns those received so far.
    pub fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
        f: impl Fn(&OriginRequest) -> bool,
    ) -> Vec<OriginRequest> {
        let deadline = Instant::now() + timeout;
        let mut reqs = self.state.requests.lock().unwrap();
        loop {
            let matching: Vec<OriginRequest> = reqs.iter().filter(|r| f(r)).cloned().collect();
            let now = Instant::now();
            if matching.len() >= n || now >= deadline {
                return matching;
            }
            reqs = self
                .state
                .arrived
                .wait_timeout(reqs, deadline - now)
                .unwrap()
                .0;
        }
    }

    /// Answers requests whose path (with query) starts with `path_prefix` with `reply`.
    /// The longest matching prefix wins; setting a prefix again replaces its reply.
    pub fn respond(&self, path_prefix: &str, reply: Reply) {
        let mut replies = self.state.replies.lock().unwrap();
        replies.retain(|(p, _)| p != path_prefix);
        replies.push((path_prefix.to_string(), reply));
    }

    /// Back to 200 `{"origin":"ok"}` for every path.
    pub fn reset_replies(&self) {
        self.state.replies.lock().unwrap().clear();
    }

    /// What was received that carries `marker` anywhere (path, any header value, body) or the
    /// identity of `account` (`X-Keygate-Account`). An empty `account` or `marker` is not
    /// looked for.
    pub fn got(&self, account: &str, marker: &str) -> Vec<OriginRequest> {
        self.requests_where(|q| {
            (!account.is_empty() && q.header("x-keygate-account") == Some(account))
                || (!marker.is_empty()
                    && (q.path.contains(marker)
                        || q.headers.iter().any(|(_, v)| v.contains(marker))
                        || q.text().contains(marker)))
        })
    }

    /// Panics (listing them) if anything was received for `account` or with `marker`
    /// (see [`Origin::got`]).
    #[track_caller]
    pub fn assert_got_nothing(&self, account: &str, marker: &str) {
        let got = self.got(account, marker);
        assert!(
            got.is_empty(),
            "the origin received requests it must not have ({account} / {marker}): {got:#?}"
        );
    }

    /// The one request received with `marker` in its path; panics unless there is exactly one.
    #[track_caller]
    pub fn one(&self, marker: &str) -> OriginRequest {
        // The gateway answers only after the origin answered, and the origin records before it
        // answers: no waiting is needed, the timeout only guards against a harness problem.
        let got = self.wait_for(1, Duration::from_secs(5), |q| q.path.contains(marker));
        assert_eq!(
            got.len(),
            1,
            "expected exactly one origin request with {marker:?}: {got:#?}"
        );
        got.into_iter().next().unwrap()
    }
}

fn serve(mut req: tiny_http::Request, state: &OriginState) {
    let mut body = Vec::new();
    let _ = req.as_reader().read_to_end(&mut body);
    let path = req.url().to_string();
    let recorded = OriginRequest {
        method: req.method().as_str().to_string(),
        path: path.clone(),
        headers: req
            .headers()
            .iter()
            .map(|h| {
                (
                    h.field.as_str().as_str().to_string(),
                    h.value.as_str().to_string(),
                )
            })
            .collect(),
        body,
        received_at: Instant::now(),
    };
    state.requests.lock().unwrap().push(recorded);
    state.arrived.notify_all();

    let reply = {
        let replies = state.replies.lock().unwrap();
        replies
            .iter()
            .filter(|(p, _)| path.starts_with(p.as_str()))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, r)| r.clone())
            .unwrap_or_else(Reply::ok)
    };
    if !reply.delay.is_zero() {
        thread::sleep(reply.delay);
    }
    let mut resp = tiny_http::Response::from_data(reply.body).with_status_code(reply.status);
    for (k, v) in &reply.headers {
        if let Ok(h) = tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()) {
            resp.add_header(h);
        }
    }
    // The gateway may have given up already (timeout tests): ignore write errors.
    let _ = req.respond(resp);
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------------------------------
// Tenants and keys
// ------------------------------------------------------------------------------------------

/// One production account entitled to bank_data and payments, on one gateway.
pub struct Tenant {
    pub id: String,
    /// bank_data product keys.
    pub pk_test: String,
    pub pk_live: String,
    /// payments product keys.
    pub pay_test: String,
    pub pay_live: String,
}

/// A production account named `name` (with `extra` account fields, e.g. `allowed_ips`),
/// entitled to bank_data and payments.
pub fn tenant(gw: &Gateway, name: &str, extra: Value) -> Tenant {
    let mut body = json!({"name": name, "agreement": "production"});
    merge(&mut body, extra);
    let acct = gw.create_account(&body);
    let id = acct["id"].as_str().expect("account id").to_string();
    let bank = gw.entitle(&id, "bank_data");
    let pay = gw.entitle(&id, "payments");
    Tenant {
        pk_test: product_key_of(&bank, "test"),
        pk_live: product_key_of(&bank, "live"),
        pay_test: product_key_of(&pay, "test"),
        pay_live: product_key_of(&pay, "live"),
        id,
    }
}

/// The `env` (`test` or `live`) product key of an entitlement answer ([`Gateway::entitle`]).
#[track_caller]
pub fn product_key_of(entitlement: &Value, env: &str) -> String {
    entitlement["product_keys"][env]
        .as_str()
        .unwrap_or_else(|| panic!("no {env} product key in {entitlement}"))
        .to_string()
}

/// A key of `t` in `environment`, with `extra` fields (scopes, allowed_ips, …):
/// `(key id, secret)`.
pub fn key(gw: &Gateway, t: &Tenant, environment: &str, extra: Value) -> (String, String) {
    let mut body = json!({"name": format!("{environment} key"), "environment": environment});
    merge(&mut body, extra);
    let (k, secret) = gw.create_key(&t.id, &body);
    (k["id"].as_str().expect("key id").to_string(), secret)
}

/// Adds the fields of the object `extra` to the object `into` (replacing same-named ones).
pub fn merge(into: &mut Value, extra: Value) {
    if let (Some(into), Value::Object(extra)) = (into.as_object_mut(), extra) {
        into.extend(extra);
    }
}

// ------------------------------------------------------------------------------------------
// Assertions on answers
// ------------------------------------------------------------------------------------------

/// README "How a request is checked": JSON body `{"status", "message", "errors"?}` with `status`
/// equal to the HTTP status, `Content-Type: application/json`, and an `X-Request-Id`. Returns the
/// message.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "expected {status}: {r}");
    let ctype = r.header("content-type").unwrap_or("");
    assert!(
        ctype.starts_with("application/json"),
        "error without JSON content type: {r}"
    );
    assert_eq!(r.json["status"], json!(status), "body status: {r}");
    let message = r.json["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "error without a message: {r}");
    if let Some(errors) = r.json.get("errors") {
        let errors = errors.as_array().unwrap_or_else(|| panic!("errors: {r}"));
        for e in errors {
            assert!(
                e["field"].is_string() && e["message"].is_string(),
                "errors entry: {r}"
            );
        }
    }
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "error without X-Request-Id: {r}"
    );
    message.to_string()
}

/// A 400 error ([`assert_error`]) whose `errors` name the `X-Product-Key` header.
#[track_caller]
pub fn assert_product_key_missing(r: &Resp) {
    assert_error(r, 400);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.eq_ignore_ascii_case("X-Product-Key")),
        "errors must name X-Product-Key: {r}"
    );
}

/// Panics if the body or any header value of `r` contains one of `secrets`.
#[track_caller]
pub fn assert_no_secret(r: &Resp, secrets: &[&str]) {
    let text = r.text();
    for s in secrets {
        assert!(!text.contains(s), "a secret is echoed: {r}");
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(s)),
            "a secret is echoed in a header: {r}"
        );
    }
}

/// An answer relayed from the recording [`Origin`] (its default `{"origin":"ok"}`).
#[track_caller]
pub fn assert_from_origin(r: &Resp) {
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json, json!({"origin": "ok"}), "{r}");
    assert!(r.request_id().is_some(), "{r}");
}

// ------------------------------------------------------------------------------------------
// Raw HTTP/1.1, for requests a well-behaved client library will not send
// ------------------------------------------------------------------------------------------

/// An answer read from a raw socket ([`raw`], [`raw_parts`]).
pub struct RawResp {
    pub status: u16,
    /// Status line and header lines, as received.
    pub head: String,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl RawResp {
    /// First value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }

    /// The parsed body, or `Value::Null` when it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    /// As a [`Resp`] (for the assertions taking one); `label` stands for method and URL.
    pub fn to_resp(&self, label: &str) -> Resp {
        let (method, url) = label.split_once(' ').unwrap_or(("RAW", label));
        Resp {
            method: method.to_string(),
            url: url.to_string(),
            status: self.status,
            headers: self
                .head
                .lines()
                .skip(1)
                .filter_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
                })
                .collect(),
            body: self.body.clone(),
            json: self.json(),
            elapsed: Duration::ZERO,
        }
    }
}

impl fmt::Display for RawResp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}\n{}", self.head, String::from_utf8_lossy(&self.body))
    }
}

/// Sends `request` as-is and reads one answer (framed by Content-Length or chunked encoding,
/// else up to the end of the connection). Panics when no answer arrives within 60 s.
pub fn raw(port: u16, request: &[u8]) -> RawResp {
    raw_parts(port, &[request], Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
}

/// Sends `parts` one after another on one connection, from another thread, while reading one
/// answer as [`raw`] does; the connection stays open until the answer is read, so a request
/// whose body never ends can be sent. A server that answers and closes before taking every
/// part is normal (write errors are ignored). `Err` when no answer head arrived within
/// `timeout` (counted from the connection).
pub fn raw_parts(port: u16, parts: &[&[u8]], timeout: Duration) -> Result<RawResp, String> {
    let first = parts.first().copied().unwrap_or(b"");
    let first_line =
        String::from_utf8_lossy(first.split(|&b| b == b'\r').next().unwrap_or(b"")).into_owned();
    let is_head = first.starts_with(b"HEAD ");
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let deadline = Instant::now() + timeout;
    let writer = {
        let mut w = s.try_clone().expect("clone the socket");
        let parts: Vec<Vec<u8>> = parts.iter().map(|p| p.to_vec()).collect();
        thread::spawn(move || {
            for part in parts {
                if w.write_all(&part).is_err() {
                    break;
                }
            }
        })
    };
    let mut buf = Vec::new();
    let mut chunk = [0u8; 64 * 1024];
    let mut head_end = None;
    loop {
        if let Some(split) = head_end.or_else(|| buf.windows(4).position(|w| w == b"\r\n\r\n")) {
            head_end = Some(split);
            let head = String::from_utf8_lossy(&buf[..split]).to_ascii_lowercase();
            let body = &buf[split + 4..];
            let status_line = head.lines().next().unwrap_or("");
            let no_body = is_head || [" 204", " 304"].iter().any(|s| status_line.contains(s));
            let length = head.lines().find_map(|l| {
                l.strip_prefix("content-length:")
                    .and_then(|v| v.trim().parse::<usize>().ok())
            });
            let chunked = head
                .lines()
                .any(|l| l.starts_with("transfer-encoding:") && l.contains("chunked"));
            let complete = no_body
                || length.is_some_and(|n| body.len() >= n)
                || (chunked && body.ends_with(b"0\r\n\r\n"));
            if complete {
                break;
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        s.set_read_timeout(Some(left)).unwrap();
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    // Unblocks a writer still sending a body the server does not read.
    let _ = s.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let Some(split) = head_end else {
        return Err(format!(
            "{first_line}: no HTTP answer within {timeout:?}: {:?}",
            String::from_utf8_lossy(&buf)
        ));
    };
    let head = String::from_utf8_lossy(&buf[..split]).into_owned();
    let mut body = buf[split + 4..].to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{first_line}: bad status line: {head}"))?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Ok(RawResp { status, head, body })
}

/// The payload of a chunked body (stops at the last chunk or where the data ends).
pub fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let size =
            usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap_or(0);
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}
