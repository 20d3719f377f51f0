//! Raw HTTP/1.1, for requests a well-behaved client library will not send.

use super::*;
use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;

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
