//! Bodies: over the limit, 413 before they end.

use super::*;

pub(crate) const LIMIT: usize = 64 * 1024;

/// How long a 413 may take (the answer to a body that never ends).
pub(crate) const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// `{"name":"aaa…"}` of exactly `len` bytes.
pub(crate) fn json_body_of(len: usize) -> Vec<u8> {
    let mut body = b"{\"name\":\"".to_vec();
    body.resize(len - 2, b'a');
    body.extend_from_slice(b"\"}");
    body
}

/// `body` as chunks of at most 1 KiB, with the last chunk only when `finish`.
pub(crate) fn chunks(body: &[u8], finish: bool) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = body
        .chunks(1024)
        .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat())
        .collect();
    if finish {
        out.push(b"0\r\n\r\n".to_vec());
    }
    out
}

/// Whether `r` is wrangler dev's own 503 "Your worker restarted mid-request", which its proxy
/// answers (without the worker, so without `X-Request-Id`) when its connection to the worker
/// was lost — which happens around requests whose body the worker stopped reading.
pub(crate) fn is_runtime_restart(r: &RawResp) -> bool {
    r.status == 503
        && r.header("x-request-id").is_none()
        && String::from_utf8_lossy(&r.body).contains("restarted mid-request")
}

/// [`raw_parts`], sent again (up to 5 times) while the answer is [`is_runtime_restart`].
pub(crate) fn send_parts(
    port: u16,
    parts: &[Vec<u8>],
    timeout: Duration,
) -> Result<RawResp, String> {
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut last = String::new();
    for _ in 0..5 {
        let r = raw_parts(port, &parts, timeout)?;
        if !is_runtime_restart(&r) {
            return Ok(r);
        }
        last = r.to_string();
    }
    Err(format!("5 times the runtime's own 503: {last}"))
}

/// `head` (request line and headers, without the blank line and without framing) sent with
/// an 80 KiB body that never ends — chunked without the last chunk, or under a
/// `Content-Length` of 10 MB — must be answered 413 while the connection is still open; and a
/// complete chunked body of exactly the limit is not 413, one byte more is. Returns what failed.
pub(crate) fn over_the_limit_problems(port: u16, head: &str) -> Vec<String> {
    let label = head.lines().next().unwrap_or("").to_string();
    let mut problems = Vec::new();
    let body = json_body_of(80 * 1024);
    let chunked_head = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    let endless_chunked: Vec<Vec<u8>> = std::iter::once(chunked_head.clone().into_bytes())
        .chain(chunks(&body, false))
        .collect();
    let endless_length = vec![
        format!("{head}Content-Length: 10000000\r\n\r\n").into_bytes(),
        body,
    ];
    for (how, parts) in [
        ("chunked, 80 KiB and no last chunk", endless_chunked),
        ("Content-Length: 10000000, 80 KiB sent", endless_length),
    ] {
        let started = Instant::now();
        match send_parts(port, &parts, ANSWER_WITHIN) {
            // Under wrangler dev an answer given without reading or cancelling the request
            // body is held back until that body ends: a worker refusing on `Content-Length`
            // alone must still cancel the body stream for its 413 to leave.
            Err(e) => problems.push(format!(
                "{label} ({how}): no 413 within {ANSWER_WITHIN:?}: the body is waited for \
                 instead of refused once over {LIMIT} bytes (or refused without cancelling the \
                 body stream, which holds the answer back until the body ends): {e}"
            )),
            Ok(r) => {
                let resp = r.to_resp(&label);
                if r.status != 413
                    || resp.json["status"] != json!(413)
                    || resp.request_id().is_none()
                {
                    problems.push(format!(
                        "{label} ({how}): expected a 413 JSON error: {resp}"
                    ));
                } else if started.elapsed() >= ANSWER_WITHIN {
                    problems.push(format!(
                        "{label} ({how}): 413 after {:?}",
                        started.elapsed()
                    ));
                }
            }
        }
    }
    // The limit itself: exactly 64 KiB is read (and judged on its content), one byte more is
    // not, also when chunked.
    for (len, too_large) in [(LIMIT, false), (LIMIT + 1, true)] {
        let parts: Vec<Vec<u8>> = std::iter::once(chunked_head.clone().into_bytes())
            .chain(chunks(&json_body_of(len), true))
            .collect();
        match send_parts(port, &parts, Duration::from_secs(60)) {
            Ok(r) if (r.status == 413) == too_large && r.status < 500 => {}
            Ok(r) => problems.push(format!(
                "{label}: a complete chunked body of {len} bytes (limit {LIMIT}) must {}be \
                 413: {r}",
                if too_large { "" } else { "not " }
            )),
            Err(e) => problems.push(format!("{label}: {len} bytes: {e}")),
        }
    }
    problems
}

/// Both bounded readers: the admin API's and the sandbox's. They run on their own gateway:
/// under wrangler dev, a request whose body is abandoned can make the dev proxy lose its
/// connection to the worker and answer a concurrent non-GET request with its own 503.
pub(crate) fn bodies_over_the_limit_are_413_before_they_end(c: &Ctx) {
    let gw = &c.bodies;
    let marker = "body_limit";
    let (id, entitlements) = account_with(gw, marker, &["insurance"]);
    let pk = product_key_of(&entitlements[0].1, "test");
    let (_, test) = key_of(gw, &id, "test", json!(["*"]));
    let admin_head = format!(
        "POST /admin/v1/accounts HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n",
        gw.port()
    );
    let sandbox_head = format!(
        "POST /v1/quotes HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {test}\r\n\
         X-Product-Key: {pk}\r\nContent-Type: application/json\r\n",
        gw.port()
    );
    // Controls first: a small chunked body is read to its end and acted on.
    let small = |head: &str, body: &[u8]| {
        let parts: Vec<Vec<u8>> =
            std::iter::once(format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes())
                .chain(chunks(body, true))
                .collect();
        send_parts(gw.port(), &parts, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
    };
    let r = small(
        &admin_head,
        br#"{"name":"e2e chunked admin","agreement":"test"}"#,
    );
    assert_eq!(r.status, 201, "{r}");
    let r = small(&sandbox_head, b"{}");
    assert!(r.status != 413 && r.status < 500, "{r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");

    let mut problems = over_the_limit_problems(gw.port(), &admin_head);
    problems.extend(over_the_limit_problems(gw.port(), &sandbox_head));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}
