//! The fast path's protocol: what the wasm (`src/fast.rs`) asks of its JS entry
//! (`js/fast-path.mjs`), as one type, [`Step`], with one encoder, [`Step::encode`].
//!
//! A key design decision of this module: the order of a request's steps is decided here, in
//! Rust, and nowhere else. Each step that is not the request's last names how to resume
//! ([`Resume`]); the JS does the step and hands the token back with the result, and
//! [`Resumed::from_js`] and [`may_follow`] refuse anything this side did not ask for (fail
//! closed, as when KV fails). The JS is a loop that decodes, does and resumes: it decides no
//! order. The fast path's first fault came from an order split between the two languages.
//!
//! One string per crossing, text not JSON: the hot answer (`respond`) is written in one pass
//! into one `String` and read on the JS side with a few `indexOf`s.
//!
//! The grammar (`\n`-separated; head fields never contain a space or a newline, header values
//! never a newline; the body or message is the rest of the text, whatever it holds):
//!
//! ```text
//! respond <status> <delay_ms> [flush=<ms>]      then header lines `Name: value`, a blank line, the body
//! locate <cache url> resume=<token> [flush=<ms>]
//! lookup <cache_ttl_s> <kv key> resume=<token> [flush=<ms>]
//! origin <request id> <timeout_ms> [flush=<ms>] then the URL, header lines, a blank line
//! sync <binding> <object name> <url> resume=<token> [flush=<ms>]   then the message
//! send <binding> <object name> <url>            then the message
//! full [flush=<ms>]
//! ```
//!
//! - `respond`, `origin`, `full` end the request: answer it; send the planned request to the
//!   origin and relay its answer (`edge_relay`, `edge_origin_failed`); hand it to the workers-rs
//!   entry.
//! - `locate`: read the location's cache (`caches.default.match`); `lookup`: read KV; `sync`:
//!   POST the message to the object and read its reply. Then call `edge` again with the token,
//!   whether it worked, and the text (the cached copy's body, absent on a miss; KV's record,
//!   absent for an unknown key; the object's reply).
//! - `send` is the isolate's activity flush (`edge_flush`): POST it, do not wait for the reply.
//! - `flush=<ms>` on any step of a request: arm the activity flush after that delay in the
//!   request's `waitUntil` (`src/activity.rs`). Carried by the step rather than asked by a
//!   second export, so a request still crosses once. The flush also puts what
//!   `edge_location_writes` gives into the location's cache.
//!
//! `js/fixtures/` holds one encoded example of each kind with what the JS must decode it to;
//! [`tests::fixtures_are_current`] writes them (`KEYGATE_WRITE_FIXTURES=1`) or checks them, and
//! `js/fast-path.test.mjs` reads every one.

use std::fmt::Write as _;

/// How a request resumes after a step that is not its last. The JS hands the token back
/// unread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    /// The location's cache has answered (or not): decide, or ask for the KV read.
    Location,
    /// The location's mirror of the revocation log has answered (or not): decide, or ask for
    /// the KV read; or, when it could not answer, ask the primary log.
    Mirror,
    /// The revocation log has answered (or not): decide, or ask for the KV read.
    Log,
    /// KV has answered (or failed): decide.
    Kv,
}

impl Resume {
    pub const ALL: [Resume; 4] = [Resume::Location, Resume::Mirror, Resume::Log, Resume::Kv];

    pub fn token(self) -> &'static str {
        match self {
            Resume::Location => "after_locate",
            Resume::Mirror => "after_mirror_sync",
            Resume::Log => "after_sync",
            Resume::Kv => "after_lookup",
        }
    }

    fn parse(token: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|resume| resume.token() == token)
    }
}

/// What a call of `edge` brings, read from its arguments: the token of the step the JS did,
/// whether that worked, and its text.
#[derive(Debug, PartialEq, Eq)]
pub enum Resumed {
    /// A request's first call.
    New,
    /// The location's cached copy (`None`: a miss, or it could not be read).
    Located(Option<String>),
    /// The location's mirror's reply (`None`: it could not answer).
    MirrorSynced(Option<String>),
    /// The revocation log's reply (`None`: unreachable, or not a 200).
    Synced(Option<String>),
    /// KV's record (`Ok(None)`: no such key; `Err`: the read failed).
    Looked(Result<Option<String>, ()>),
    /// A token this side never gives: the JS entry's fault. Fail closed.
    Unexpected,
}

impl Resumed {
    pub fn from_js(token: Option<&str>, ok: bool, text: Option<String>) -> Self {
        let Some(token) = token else {
            return Self::New;
        };
        match Resume::parse(token) {
            Some(Resume::Location) => Self::Located(text.filter(|_| ok)),
            Some(Resume::Mirror) => Self::MirrorSynced(text.filter(|_| ok)),
            Some(Resume::Log) => Self::Synced(text.filter(|_| ok)),
            Some(Resume::Kv) if ok => Self::Looked(Ok(text)),
            Some(Resume::Kv) => Self::Looked(Err(())),
            None => Self::Unexpected,
        }
    }
}

/// Whether `next` may be asked for after `resumed`: the revocation log first, through the
/// location's mirror, and the primary only after a mirror that could not answer; then the
/// location's cache at most once, then KV at most once. A request sees at most two `sync`s,
/// never after a read of a copy, and never a `send` (that is the timer's).
pub fn may_follow(resumed: &Resumed, next: &Step<'_>) -> bool {
    let synced = matches!(
        resumed,
        Resumed::New | Resumed::MirrorSynced(_) | Resumed::Synced(_)
    );
    match (resumed, next) {
        (Resumed::Unexpected, _) | (_, Step::Send { .. }) => false,
        (_, Step::Respond { .. } | Step::Origin { .. } | Step::Full) => true,
        (Resumed::New, Step::Sync { .. }) | (Resumed::MirrorSynced(None), Step::Sync { .. }) => {
            true
        }
        (_, Step::Sync { .. }) => false,
        (_, Step::Locate { .. }) => synced,
        (Resumed::Located(_), Step::Lookup { .. }) => true,
        (_, Step::Lookup { .. }) => synced,
    }
}

/// A message for a Durable Object: a `POST` of `body` to `url` on the stub of `object` in the
/// namespace bound as `binding`.
#[derive(Clone, Copy, Debug)]
pub struct ObjectPost<'a> {
    pub binding: &'a str,
    pub object: &'a str,
    pub url: &'a str,
    pub body: &'a str,
}

/// One thing the wasm asks of the JS entry.
#[derive(Debug)]
pub enum Step<'a> {
    /// Answer the request (after `delay_ms`). A status without a body (204, 304) is answered
    /// without one whatever `body` holds.
    Respond {
        status: u16,
        delay_ms: u32,
        headers: Vec<(&'a str, &'a str)>,
        body: &'a str,
    },
    /// Read the location's copy at `url` from `caches.default`.
    Locate { url: &'a str, resume: Resume },
    /// Read `key` from KV, cached at the edge for `cache_ttl_s`.
    Lookup {
        cache_ttl_s: u64,
        key: &'a str,
        resume: Resume,
    },
    /// Send the request, with its body, to `url` with exactly `headers`; give up after
    /// `timeout_ms`.
    Origin {
        request_id: &'a str,
        timeout_ms: u64,
        url: &'a str,
        headers: Vec<(&'a str, &'a str)>,
    },
    /// POST to the object, hand its reply back.
    Sync {
        post: ObjectPost<'a>,
        resume: Resume,
    },
    /// POST to the object, drop its reply.
    Send { post: ObjectPost<'a> },
    /// Hand the untouched request to the workers-rs entry.
    Full,
}

impl Step<'_> {
    /// The step as the one text the JS decodes; `flush_after_ms`, the activity flush this
    /// request must arm, if any.
    pub fn encode(&self, flush_after_ms: Option<u32>) -> String {
        let mut out;
        match self {
            Step::Respond {
                status,
                delay_ms,
                headers,
                body,
            } => {
                out = String::with_capacity(body.len() + 64 + 48 * headers.len());
                let _ = write!(out, "respond {status} {delay_ms}");
                options(&mut out, None, flush_after_ms);
                header_lines(&mut out, headers);
                out.push('\n');
                out.push_str(body);
            }
            Step::Locate { url, resume } => {
                out = format!("locate {url}");
                options(&mut out, Some(*resume), flush_after_ms);
            }
            Step::Lookup {
                cache_ttl_s,
                key,
                resume,
            } => {
                out = format!("lookup {cache_ttl_s} {key}");
                options(&mut out, Some(*resume), flush_after_ms);
            }
            Step::Origin {
                request_id,
                timeout_ms,
                url,
                headers,
            } => {
                out = String::with_capacity(url.len() + 64 + 64 * headers.len());
                let _ = write!(out, "origin {request_id} {timeout_ms}");
                options(&mut out, None, flush_after_ms);
                out.push('\n');
                out.push_str(url);
                header_lines(&mut out, headers);
                out.push('\n');
            }
            Step::Sync { post, resume } => {
                out = object_post("sync", post);
                options(&mut out, Some(*resume), flush_after_ms);
                out.push('\n');
                out.push_str(post.body);
            }
            Step::Send { post } => {
                out = object_post("send", post);
                out.push('\n');
                out.push_str(post.body);
            }
            Step::Full => {
                out = "full".to_string();
                options(&mut out, None, flush_after_ms);
            }
        }
        out
    }
}

fn options(out: &mut String, resume: Option<Resume>, flush_after_ms: Option<u32>) {
    if let Some(resume) = resume {
        out.push_str(" resume=");
        out.push_str(resume.token());
    }
    if let Some(ms) = flush_after_ms {
        let _ = write!(out, " flush={ms}");
    }
}

/// Each header on a line of its own, after a newline (the head line has none of its own).
fn header_lines(out: &mut String, headers: &[(&str, &str)]) {
    for (name, value) in headers {
        out.push('\n');
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
    }
    out.push('\n');
}

fn object_post(kind: &str, post: &ObjectPost<'_>) -> String {
    let mut out = String::with_capacity(post.body.len() + 96);
    let _ = write!(out, "{kind} {} {} {}", post.binding, post.object, post.url);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use std::path::PathBuf;

    /// What `decode` in `js/fast-path.mjs` must make of `step.encode(flush)`.
    fn decoded(step: &Step<'_>, flush: Option<u32>) -> Value {
        let pairs = |headers: &[(&str, &str)]| -> Vec<[String; 2]> {
            headers
                .iter()
                .map(|(n, v)| [n.to_string(), v.to_string()])
                .collect()
        };
        let resume = |resume: Option<Resume>| resume.map(Resume::token);
        let mut value = match step {
            Step::Respond {
                status,
                delay_ms,
                headers,
                body,
            } => json!({
                "kind": "respond", "status": status, "delayMs": delay_ms,
                "headers": pairs(headers), "body": body, "resume": null,
            }),
            Step::Locate { url, resume: r } => json!({
                "kind": "locate", "url": url, "resume": resume(Some(*r)),
            }),
            Step::Lookup {
                cache_ttl_s,
                key,
                resume: r,
            } => json!({
                "kind": "lookup", "cacheTtl": cache_ttl_s, "key": key, "resume": resume(Some(*r)),
            }),
            Step::Origin {
                request_id,
                timeout_ms,
                url,
                headers,
            } => json!({
                "kind": "origin", "requestId": request_id, "timeoutMs": timeout_ms, "url": url,
                "headers": pairs(headers), "resume": null,
            }),
            Step::Sync { post, resume: r } => object_json("sync", post, resume(Some(*r))),
            Step::Send { post } => object_json("send", post, None),
            Step::Full => json!({ "kind": "full", "resume": null }),
        };
        value["flushMs"] = json!(flush);
        value
    }

    fn object_json(kind: &str, post: &ObjectPost<'_>, resume: Option<&str>) -> Value {
        json!({
            "kind": kind, "binding": post.binding, "object": post.object, "url": post.url,
            "message": post.body, "resume": resume,
        })
    }

    const LOG: ObjectPost<'static> = ObjectPost {
        binding: "REVOCATIONS",
        object: "revocations",
        url: "https://object.internal/",
        body: r#"{"op":"since","generation":7}"#,
    };

    const MIRROR: ObjectPost<'static> = ObjectPost {
        binding: "REVOCATIONS",
        object: "revocations@lhr",
        url: "https://object.internal/",
        body: r#"{"op":"mirror_since","generation":null}"#,
    };

    /// Every kind, and the edge cases of the framing.
    fn examples() -> Vec<(&'static str, Step<'static>, Option<u32>)> {
        vec![
            (
                "respond-401",
                Step::Respond {
                    status: 401,
                    delay_ms: 0,
                    headers: vec![
                        ("Content-Type", "application/json"),
                        ("WWW-Authenticate", r#"Basic realm="keygate: edge""#),
                        ("X-Request-Id", "req_1"),
                    ],
                    body: r#"{"status":401,"message":"a\nb"}"#,
                },
                None,
            ),
            (
                "respond-blank-lines",
                Step::Respond {
                    status: 200,
                    delay_ms: 0,
                    headers: vec![],
                    body: "line one\n\nline two\n\n",
                },
                None,
            ),
            (
                "respond-204-no-body",
                Step::Respond {
                    status: 204,
                    delay_ms: 0,
                    headers: vec![("X-Request-Id", "r")],
                    body: "",
                },
                None,
            ),
            (
                "respond-delay-flush",
                Step::Respond {
                    status: 200,
                    delay_ms: 1500,
                    headers: vec![("X-Sandbox", "true"), ("X-Request-Id", "req_2")],
                    body: "{}",
                },
                Some(1000),
            ),
            (
                "lookup",
                Step::Lookup {
                    cache_ttl_s: 30,
                    key: "sk:0a1b",
                    resume: Resume::Kv,
                },
                None,
            ),
            (
                "locate",
                Step::Locate {
                    url: "https://api.example/.keygate/location/v1/sk/0a1b?location=lhr",
                    resume: Resume::Location,
                },
                Some(1000),
            ),
            (
                "origin",
                Step::Origin {
                    request_id: "req_9",
                    timeout_ms: 30000,
                    url: "https://origin.example/v1/x?y=1&z=a%20b",
                    headers: vec![("x-custom", "a: b"), ("X-Keygate-Account", "acct_1")],
                },
                Some(250),
            ),
            (
                "sync",
                Step::Sync {
                    post: LOG,
                    resume: Resume::Log,
                },
                None,
            ),
            (
                "sync-mirror",
                Step::Sync {
                    post: MIRROR,
                    resume: Resume::Mirror,
                },
                Some(1000),
            ),
            (
                "send",
                Step::Send {
                    post: ObjectPost {
                        binding: "REGISTRY",
                        object: "account:acct_demo",
                        url: "https://object.internal/",
                        body: "{\"caller\":\"edge\",\"note\":\"two\\nlines\"}\n\n",
                    },
                },
                None,
            ),
            ("full", Step::Full, None),
            ("full-flush", Step::Full, Some(1)),
        ]
    }

    fn fixtures_dir() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("js/fixtures")
    }

    /// Generated == committed: `KEYGATE_WRITE_FIXTURES=1 cargo test -p keygate-worker` writes
    /// them after a change of the protocol; without it, any difference fails.
    #[test]
    fn fixtures_are_current() {
        let dir = fixtures_dir();
        let write = std::env::var_os("KEYGATE_WRITE_FIXTURES").is_some();
        let mut expected = Vec::new();
        for (name, step, flush) in examples() {
            let text = step.encode(flush);
            let json = serde_json::to_string_pretty(&decoded(&step, flush)).unwrap() + "\n";
            expected.push((format!("{name}.txt"), text));
            expected.push((format!("{name}.json"), json));
        }
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            for entry in std::fs::read_dir(&dir).unwrap() {
                std::fs::remove_file(entry.unwrap().path()).unwrap();
            }
            for (file, text) in &expected {
                std::fs::write(dir.join(file), text).unwrap();
            }
        }
        let mut committed: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        committed.sort();
        let mut names: Vec<String> = expected.iter().map(|(f, _)| f.clone()).collect();
        names.sort();
        let hint = "run KEYGATE_WRITE_FIXTURES=1 cargo test -p keygate-worker, then node --test";
        assert_eq!(
            committed, names,
            "js/fixtures/ differs from the examples: {hint}"
        );
        for (file, text) in &expected {
            let on_disk = std::fs::read_to_string(dir.join(file)).unwrap();
            assert_eq!(
                &on_disk, text,
                "js/fixtures/{file} is not what the encoder writes: {hint}"
            );
        }
    }

    #[test]
    fn head_fields_hold_no_space_or_newline() {
        for (name, step, flush) in examples() {
            let text = step.encode(flush);
            let head = text.split('\n').next().unwrap();
            let fields: Vec<&str> = head.split(' ').collect();
            assert!(fields.iter().all(|f| !f.is_empty()), "{name}: {head:?}");
        }
    }

    #[test]
    fn resume_tokens_are_read_back_and_anything_else_is_unexpected() {
        let rows: Vec<(Option<&str>, bool, Option<&str>, Resumed)> = vec![
            (None, true, None, Resumed::New),
            (
                Some("after_sync"),
                true,
                Some("{}"),
                Resumed::Synced(Some("{}".into())),
            ),
            (Some("after_sync"), false, Some("{}"), Resumed::Synced(None)),
            (Some("after_sync"), true, None, Resumed::Synced(None)),
            (
                Some("after_lookup"),
                true,
                Some("{}"),
                Resumed::Looked(Ok(Some("{}".into()))),
            ),
            (Some("after_lookup"), true, None, Resumed::Looked(Ok(None))),
            (Some("after_lookup"), false, None, Resumed::Looked(Err(()))),
            (
                Some("after_mirror_sync"),
                true,
                Some("{}"),
                Resumed::MirrorSynced(Some("{}".into())),
            ),
            (
                Some("after_mirror_sync"),
                false,
                None,
                Resumed::MirrorSynced(None),
            ),
            (
                Some("after_locate"),
                true,
                Some("{}"),
                Resumed::Located(Some("{}".into())),
            ),
            (Some("after_locate"), true, None, Resumed::Located(None)),
            (
                Some("after_locate"),
                false,
                Some("x"),
                Resumed::Located(None),
            ),
            (Some("0"), true, None, Resumed::Unexpected),
            (Some(""), true, None, Resumed::Unexpected),
            (Some("AFTER_LOOKUP"), true, None, Resumed::Unexpected),
            (Some("after_lookup "), true, None, Resumed::Unexpected),
        ];
        for (token, ok, text, expected) in rows {
            let got = Resumed::from_js(token, ok, text.map(Into::into));
            assert_eq!(got, expected, "{token:?} {ok} {text:?}");
        }
    }

    #[test]
    fn the_order_of_steps_is_decided_here() {
        let sync = Step::Sync {
            post: LOG,
            resume: Resume::Log,
        };
        let lookup = Step::Lookup {
            cache_ttl_s: 30,
            key: "sk:00",
            resume: Resume::Kv,
        };
        let send = Step::Send { post: LOG };
        let locate = Step::Locate {
            url: "https://h/.keygate/location/v1/sk/00?location=a",
            resume: Resume::Location,
        };
        let located = Resumed::Located(None);
        let respond = Step::Respond {
            status: 200,
            delay_ms: 0,
            headers: vec![],
            body: "",
        };
        let new = Resumed::New;
        let mirrored = Resumed::MirrorSynced(Some("{}".into()));
        let unmirrored = Resumed::MirrorSynced(None);
        let synced = Resumed::Synced(None);
        let looked = Resumed::Looked(Ok(None));
        let failed = Resumed::Looked(Err(()));
        let unexpected = Resumed::Unexpected;
        // (after, next, allowed)
        let rows: Vec<(&Resumed, &Step<'_>, bool)> = vec![
            (&new, &sync, true),
            (&new, &lookup, true),
            (&new, &respond, true),
            (&new, &Step::Full, true),
            (&new, &send, false),
            (&new, &locate, true),
            (&mirrored, &locate, true),
            (&synced, &locate, true),
            (&located, &locate, false),
            (&located, &lookup, true),
            (&located, &sync, false),
            (&located, &respond, true),
            (&looked, &locate, false),
            (&mirrored, &sync, false),
            (&mirrored, &lookup, true),
            (&unmirrored, &sync, true),
            (&unmirrored, &lookup, true),
            (&unmirrored, &respond, true),
            (&synced, &sync, false),
            (&synced, &lookup, true),
            (&synced, &respond, true),
            (&looked, &sync, false),
            (&looked, &lookup, false),
            (&looked, &respond, true),
            (&looked, &Step::Full, true),
            (&failed, &lookup, false),
            (&failed, &respond, true),
            (&unexpected, &respond, false),
            (&unexpected, &lookup, false),
        ];
        for (after, next, allowed) in rows {
            assert_eq!(may_follow(after, next), allowed, "{after:?} then {next:?}");
        }
    }
}
