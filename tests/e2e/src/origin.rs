//! A recording HTTP server standing in for the API provider's backend.

use std::net::SocketAddr;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

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
pub(crate) struct OriginState {
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

pub(crate) fn serve(mut req: tiny_http::Request, state: &OriginState) {
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
