//! The origins behind the gateways besides the recording one: the demo origin (node
//! scripts/demo-origin.mjs) and a hand-written one.

use super::*;

pub(crate) struct DemoOrigin {
    child: Child,
    port: u16,
    log: Arc<Mutex<String>>,
}

impl DemoOrigin {
    pub(crate) fn start() -> DemoOrigin {
        let port = keygate_e2e::free_port();
        let mut child = Command::new("node")
            .arg(repo_root().join("scripts/demo-origin.mjs"))
            .env("PORT", port.to_string())
            .env("ORIGIN_SIGNING_SECRET", ORIGIN_SIGNING_SECRET)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn node scripts/demo-origin.mjs");
        let log = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        {
            let log = log.clone();
            thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    let mut log = log.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !log.lock().unwrap().contains("listening") {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("demo origin exited ({status}): {}", log.lock().unwrap());
            }
            assert!(
                Instant::now() < deadline,
                "demo origin did not start: {}",
                log.lock().unwrap()
            );
            thread::sleep(Duration::from_millis(50));
        }
        DemoOrigin { child, port, log }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for DemoOrigin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- a hand-written origin: closes unanswered, or answers with chosen raw headers ---------

/// The target whose answer carries hop-by-hop headers (see [`RawOrigin`]).
pub(crate) const RAW_HOP_PATH: &str = "/v1/transactions/raw-hop-by-hop";

/// Reads each request's head, then answers [`RAW_HOP_PATH`] with a hand-written response full
/// of hop-by-hop headers, and closes every other connection without an answer.
pub(crate) struct RawOrigin {
    port: u16,
    pub(crate) accepted: Arc<AtomicUsize>,
}

impl RawOrigin {
    pub(crate) fn start() -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        // Detached: it lives as long as the test process.
        thread::spawn(move || {
            for conn in listener.incoming() {
                count.fetch_add(1, Ordering::SeqCst);
                let Ok(conn) = conn else { continue };
                thread::spawn(move || serve_raw(conn));
            }
        });
        RawOrigin { port, accepted }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

pub(crate) fn serve_raw(mut conn: TcpStream) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match conn.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => return,
        }
    }
    let line = String::from_utf8_lossy(&head);
    if line.lines().next().unwrap_or("").contains(RAW_HOP_PATH) {
        let _ = conn.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\
              Connection: close, X-Secret-Hop\r\nX-Secret-Hop: must-not-pass\r\n\
              Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic realm=\"internal\"\r\n\
              Proxy-Connection: keep-alive\r\nX-End-To-End: passes\r\n\r\n{}",
        );
    }
    // Anything else: closed without an answer.
}
