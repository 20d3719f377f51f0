//! The HTTP client: requests to a gateway and the answers as the trials read them.

use super::*;
use std::fmt;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

pub(crate) fn new_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .allow_non_standard_methods(true)
        .timeout_global(Some(REQUEST_TIMEOUT))
        // A pooled connection idle longer than the dev server keeps it open is closed under
        // the next request ("Peer disconnected"); ureq's default keeps one 15 s, Node's and
        // workerd's servers drop it after about 5 s. Reusing only fresh ones closes that race.
        .max_idle_age(IDLE_CONNECTION_REUSE)
        // Only local servers are contacted; HTTPS gateways use a self-signed certificate.
        .tls_config(
            ureq::tls::TlsConfig::builder()
                .disable_verification(true)
                .build(),
        )
        .build()
        .into()
}

/// How long an idle pooled connection may be reused: well under the servers' keep-alive.
const IDLE_CONNECTION_REUSE: Duration = Duration::from_secs(1);

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
    pub(crate) fn new(agent: ureq::Agent, method: &str, url: String) -> Req {
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

    /// Sends; `Err` only for transport errors. When `wrangler dev` reloads the worker under a
    /// request (its own text/plain 503 "Your worker restarted mid-request", which it retries
    /// itself only for GET and HEAD), the request is sent again, at most
    /// [`RELOAD_RETRIES`] times: that answer is the dev server's, never the gateway's (every
    /// answer of keygate is JSON or the sandbox's, with an `X-Request-Id`).
    pub fn try_send(self) -> Result<Resp, String> {
        let mut attempt = 0;
        loop {
            let r = self.clone().try_send_once()?;
            if attempt >= RELOAD_RETRIES || !r.is_dev_server_reload() {
                return Ok(r);
            }
            attempt += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    fn try_send_once(self) -> Result<Resp, String> {
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

/// How many times a request is sent again after `wrangler dev` reloaded the worker under it.
pub const RELOAD_RETRIES: usize = 3;

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

    /// Whether this is `wrangler dev`'s own answer to a request the worker was reloaded under.
    fn is_dev_server_reload(&self) -> bool {
        self.status == 503
            && self.request_id().is_none()
            && self.body.starts_with(b"Your worker restarted mid-request")
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
