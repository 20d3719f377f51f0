//! Translation between `worker` requests/responses and the core's types. An error is rendered
//! once, by `keygate_core::Answer::from`; [`answer_response`] is the one place an answer
//! becomes a `worker::Response`.

use futures_util::StreamExt;
use futures_util::future::{Either, select};
use keygate_core::{Answer, Error, MAX_JSON_BODY_BYTES};
use std::time::Duration;
use worker::{ByteStream, Delay, Headers, Request, Response};

/// The one relay of an [`Answer`] — an error's, the Registry's, the sandbox's — as a response.
pub fn answer_response(answer: Answer) -> Response {
    let headers = Headers::new();
    for (name, value) in &answer.headers {
        let _ = headers.set(name, value);
    }
    let builder = Response::builder()
        .with_status(answer.status)
        .with_headers(headers);
    match answer.body {
        Some(body) => builder.fixed(body.into_bytes()),
        None => builder.empty(),
    }
}

pub fn error_response(error: &Error) -> Response {
    answer_response(Answer::from(error))
}

/// The request's method as sent. `worker::Method` reads any method it does not know as GET, so
/// every decision takes the method from here (an unknown one is then refused, never read as GET).
pub fn method_of(req: &Request) -> String {
    req.inner().method()
}

/// A header value as text. A value the runtime cannot give as a string is a malformed request.
pub fn header(req: &Request, name: &str) -> Result<Option<String>, Error> {
    req.headers().get(name).map_err(|_| {
        Error::bad_request("A request header could not be read.")
            .with_field(name, "must be valid header text")
    })
}

/// Reads a JSON body of at most [`MAX_JSON_BODY_BYTES`] bytes. An empty body is `None`.
pub async fn json_body(req: &mut Request) -> Result<Option<serde_json::Value>, Error> {
    let bytes = bounded_body(req, MAX_JSON_BODY_BYTES).await?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        Error::bad_request(format!(
            "The body is not valid JSON (line {}, column {}); send a JSON object.",
            e.line(),
            e.column()
        ))
    })
}

/// How much of a refused body is still read and thrown away, at most, before the 413: a client
/// that writes its whole body before reading the answer (most libraries) then gets the 413
/// instead of a reset connection. A body that is still coming after this is cancelled.
const DRAIN_BYTES: usize = 1024 * 1024;
const DRAIN_MS: u64 = 200;

/// Reads a body of at most `limit` bytes as it streams in: 413 as soon as the limit is passed
/// (or announced by `Content-Length`), without waiting for the rest, so a body that never
/// ends costs at most `limit` + [`DRAIN_BYTES`] bytes read and [`DRAIN_MS`] of waiting.
pub async fn bounded_body(req: &mut Request, limit: usize) -> Result<Vec<u8>, Error> {
    let too_large = || Error::payload_too_large(format!("The body is larger than {limit} bytes."));
    if req.inner().body().is_none() {
        return Ok(Vec::new());
    }
    let unreadable = || Error::bad_request("The request body could not be read.");
    let announced_too_large = header(req, "Content-Length")?.is_some_and(|length| {
        length
            .trim()
            .parse::<u64>()
            .map_or(true, |n| n > limit as u64)
    });
    let mut stream = req.stream().map_err(|_| unreadable())?;
    if announced_too_large {
        refuse_rest(stream).await;
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| unreadable())?;
        if bytes.len() + chunk.len() > limit {
            refuse_rest(stream).await;
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Discards what arrives of a refused body for at most [`DRAIN_MS`] and [`DRAIN_BYTES`], then
/// cancels the rest (dropping a `ByteStream` cancels its body): the runtime holds an answer
/// back until the request body is consumed or cancelled, so a body that never ends must not
/// hold the 413 with it.
async fn refuse_rest(mut stream: ByteStream) {
    let mut drained = 0;
    let mut deadline = Box::pin(Delay::from(Duration::from_millis(DRAIN_MS)));
    while drained < DRAIN_BYTES {
        match select(stream.next(), deadline).await {
            Either::Left((Some(Ok(chunk)), pending)) => {
                drained += chunk.len();
                deadline = pending;
            }
            // The body ended (or failed): nothing left to cancel.
            Either::Left((_, _)) => return,
            Either::Right(_) => return,
        }
    }
}

/// Adds the request id to any response, replacing one an origin might have set.
pub fn with_request_id(response: Response, request_id: &str) -> Response {
    with_header(response, "X-Request-Id", request_id)
}

/// `Cache-Control: no-store`: on every admin answer (`lib.rs`), so that no answer carrying a
/// secret, a token's verdict or an account's data is kept by a browser or a proxy.
pub fn no_store(response: Response) -> Response {
    with_header(response, "Cache-Control", "no-store")
}

fn with_header(mut response: Response, name: &str, value: &str) -> Response {
    if response.headers_mut().set(name, value).is_err() {
        // Immutable headers (a response passed through from a fetch): copy them.
        let headers = Headers::new();
        for (name, value) in response.headers().entries() {
            let _ = headers.append(&name, &value);
        }
        let _ = headers.set(name, value);
        response = response.with_headers(headers);
    }
    response
}

/// Server-side failures are logged with the request id so support can find them; the line
/// carries the status and message only, never credentials. Client errors are not logged.
pub fn log_server_error(request_id: &str, error: &Error) {
    if error.status >= 500 {
        // The true reason: a 500's message is generic, its reason says what broke.
        worker::console_error!("{request_id} {} {}", error.status, error.true_reason());
    }
}

pub fn now_seconds() -> i64 {
    (worker::Date::now().as_millis() / 1000) as i64
}
