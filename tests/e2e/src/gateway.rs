//! A gateway: `wrangler dev` and its workerd, started with fresh storage on a free port, stopped
//! with its whole process group.

use super::*;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, Weak};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) type LogBuf = Arc<Mutex<String>>;

/// Output buffers of the gateways alive in this process (for failure messages).
pub(crate) static LIVE_GATEWAYS: Mutex<Vec<(u16, Weak<Mutex<String>>)>> = Mutex::new(Vec::new());

pub(crate) fn gateway_logs_for_failure() -> String {
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

pub(crate) fn tail_lines(text: &str, n: usize) -> String {
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
    ///
    /// A start that lost a port is tried again with fresh ports: the harness picks free ports
    /// and wrangler picks its runtime's own, each by binding and releasing, so gateways
    /// starting at once can be handed the same one (workerd then exits: "Address already in
    /// use").
    pub fn start(self) -> Gateway {
        const ATTEMPTS: usize = 3;
        for attempt in 1..=ATTEMPTS {
            match self.clone().try_start() {
                Ok(gw) => return gw,
                Err(e) if attempt < ATTEMPTS && e.contains("Address already in use") => {
                    eprintln!("e2e: a port was taken while the gateway started; starting again");
                }
                Err(e) => panic!("{e}"),
            }
        }
        unreachable!("the last attempt returns or panics")
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
        let config = tmp.path().join("wrangler.toml");
        std::fs::write(&config, unwatched_config(&root)?)
            .map_err(|e| format!("write {}: {e}", config.display()))?;

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
            "--config".into(),
            config.display().to_string(),
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

pub(crate) fn spawn_reader(
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
pub(crate) fn signal_group(pgid: i32, signal: i32) -> bool {
    unsafe { libc::kill(-pgid, signal) == 0 }
}

pub(crate) fn group_alive(pgid: i32) -> bool {
    // Reap the leader if it exited, or it stays a zombie and kill(…, 0) keeps succeeding.
    reap(pgid);
    signal_group(pgid, 0)
}

#[expect(
    unsafe_code,
    reason = "libc waitpid on our own child; std's Child::try_wait needs the Child"
)]
pub(crate) fn reap(pid: i32) {
    let mut status = 0;
    unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
}

/// The repository's wrangler.toml without its `[build]` section (whose watcher restarts the
/// worker, and loses what its isolates hold, whenever a file under `crates/` changes while a
/// suite runs) and with its paths made absolute, for a copy that lives in a temp dir.
fn unwatched_config(root: &Path) -> Result<String, String> {
    let path = root.join("wrangler.toml");
    let text =
        std::fs::read_to_string(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
    let mut out = String::with_capacity(text.len());
    let mut in_build = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with('[') {
            in_build = trimmed == "[build]";
        }
        if in_build {
            continue;
        }
        let relative = ["main = \"", "directory = \""]
            .into_iter()
            .find_map(|key| Some((key, trimmed.strip_prefix(key)?.strip_suffix('"')?)));
        match relative {
            Some((key, value)) => {
                out.push_str(&format!("{key}{}\"\n", root.join(value).display()));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    if !out.contains("main = \"/") || !out.contains("directory = \"/") {
        return Err(format!(
            "{}: no `main` or assets `directory` to rewrite",
            path.display()
        ));
    }
    Ok(out)
}
