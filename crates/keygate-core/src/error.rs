//! The one error type of keygate, and the one place that renders it: [`Answer::from`] gives
//! the status, headers and JSON body (README "Errors") that every refusal is sent with.
//!
//! Every refusal — from the edge pipeline, the admin API or the sandbox — is an [`Error`];
//! the worker relays its [`Answer`] as a response, as it relays the answers its Durable
//! Objects and the sandbox send back.

use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::fmt;

/// A field-level complaint inside an error body: `{"field": "...", "message": "..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// Where the fault is: a body field name (`name`, `scopes`), or a query parameter.
    pub field: String,
    /// What is wrong with it and what is accepted instead.
    pub message: String,
}

impl FieldError {
    /// A complaint about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }

    /// `prefix.name` is not a field of a nested object that accepts `expected`. The name is
    /// the caller's and may be anything: it is cut to 100 characters before it is echoed.
    pub fn unknown(prefix: &str, name: &str, expected: &str) -> Self {
        let name: String = name.chars().take(100).collect();
        Self::new(
            format!("{prefix}.{name}"),
            format!("unknown field; expected {expected}"),
        )
    }
}

/// A refusal with its HTTP status, a human-readable message that says what to do,
/// optional field errors, and the few headers some statuses require.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// The HTTP status the refusal is answered with (4xx or 5xx).
    pub status: u16,
    /// Shown to the caller as `message`; says what to do about it.
    pub message: Cow<'static, str>,
    /// Rendered as the `errors` array of the body, which is left out when this is empty.
    pub errors: Vec<FieldError>,
    /// `WWW-Authenticate: Basic realm="keygate"` accompanies a 401 for a missing credential.
    pub challenge: bool,
    /// The `Allow` header of a 405.
    pub allow: Option<String>,
    /// The `Retry-After` header (seconds) of a 429 or 503.
    pub retry_after: Option<u32>,
    /// The true reason, when the public answer hides it (a missing scope answered as an
    /// unknown route under `HIDE_FORBIDDEN`). Never rendered; the account can look it up by
    /// request id (`GET /admin/v1/requests/{id}`).
    pub reason: Option<Cow<'static, str>>,
}

#[derive(Serialize)]
struct Body<'a> {
    status: u16,
    message: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
}

impl Error {
    /// A refusal with `status` and `message` and nothing else: no field errors, no headers.
    pub fn new(status: u16, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status,
            message: message.into(),
            errors: Vec::new(),
            challenge: false,
            allow: None,
            retry_after: None,
            reason: None,
        }
    }

    /// Keeps `reason` as the true reason behind a public answer that hides it (see
    /// [`Error::reason`]).
    pub fn with_reason(mut self, reason: impl Into<Cow<'static, str>>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// What really happened: the hidden reason, else the message with each field at fault
    /// (a refusal lookup has no `errors` array to point at).
    pub fn true_reason(&self) -> Cow<'_, str> {
        if let Some(reason) = &self.reason {
            return Cow::Borrowed(reason);
        }
        if self.errors.is_empty() {
            return Cow::Borrowed(&self.message);
        }
        let fields: Vec<String> = self
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect();
        Cow::Owned(format!("{} ({})", self.message, fields.join("; ")))
    }

    /// 400: the request cannot be read or is malformed.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(400, message)
    }
    /// 401: no credential, or one that is not (or no longer) valid.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(401, message)
    }
    /// 403: authenticated, but not allowed to do this.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(403, message)
    }
    /// 404: no such route or record (also the answer that hides a 403 under `HIDE_FORBIDDEN`).
    pub fn not_found(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(404, message)
    }
    /// 405 with the `Allow` header set to `allow` (a comma-separated method list).
    pub fn method_not_allowed(allow: impl Into<String>) -> Self {
        let allow = allow.into();
        let mut e = Self::new(
            405,
            format!("Method not allowed here; use one of: {allow}."),
        );
        e.allow = Some(allow);
        e
    }
    /// 409: the request contradicts the current state of a record.
    pub fn conflict(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(409, message)
    }
    /// 413: the body is larger than the limit.
    pub fn payload_too_large(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(413, message)
    }
    /// 429 with `Retry-After: retry_after` (seconds).
    pub fn too_many_requests(message: impl Into<Cow<'static, str>>, retry_after: u32) -> Self {
        Self::new(429, message).with_retry_after(retry_after)
    }
    /// 500 with a fixed message that reveals nothing: retry, or quote the `X-Request-Id`.
    pub fn internal() -> Self {
        Self::new(
            500,
            "Internal error. Retry later; if it persists, contact support with the X-Request-Id.",
        )
    }
    /// 503: a dependency (store, Durable Object) is unavailable; retrying may succeed.
    pub fn unavailable(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(503, message)
    }

    /// 400 carrying one field error per entry; the message summarises.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let mut e =
            Self::bad_request("The request is invalid; see `errors` for each field at fault.");
        e.errors = errors;
        e
    }

    /// Adds one field error to `errors`.
    pub fn with_field(mut self, field: impl Into<String>, message: impl Into<String>) -> Self {
        self.errors.push(FieldError::new(field, message));
        self
    }
    /// Sends `WWW-Authenticate: Basic realm="keygate"` with this (401) answer.
    pub fn with_challenge(mut self) -> Self {
        self.challenge = true;
        self
    }
    /// Sends `Retry-After: seconds` with this (429 or 503) answer.
    pub fn with_retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// The body of every error: `{"status": …, "message": …, "errors": […]}` (`errors` only
    /// when non-empty).
    pub fn to_json(&self) -> String {
        let body = Body {
            status: self.status,
            message: &self.message,
            errors: &self.errors,
        };
        // Serialising plain strings and integers cannot fail.
        serde_json::to_string(&body)
            .unwrap_or_else(|_| format!("{{\"status\":{},\"message\":\"error\"}}", self.status))
    }

    /// Headers that belong with this error besides `Content-Type` and `X-Request-Id`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("Content-Type", "application/json".to_string())];
        if self.challenge {
            headers.push(("WWW-Authenticate", "Basic realm=\"keygate\"".to_string()));
        }
        if let Some(allow) = &self.allow {
            headers.push(("Allow", allow.clone()));
        }
        if let Some(seconds) = self.retry_after {
            headers.push(("Retry-After", seconds.to_string()));
        }
        headers
    }
}

/// An HTTP answer as plain data: what an [`Error`] becomes, and what the Durable Objects and
/// the sandbox send back for the worker to relay unchanged (`X-Request-Id` is added there).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// Every header of the answer, `Content-Type` included when there is a body.
    pub headers: Vec<(String, String)>,
    /// The body; `None` for a status that has none (204).
    pub body: Option<String>,
}

impl Answer {
    /// A JSON document with `Content-Type: application/json`.
    pub fn json(status: u16, body: String) -> Self {
        Self {
            status,
            headers: vec![("Content-Type".into(), "application/json".into())],
            body: Some(body),
        }
    }
}

impl From<&Error> for Answer {
    fn from(error: &Error) -> Self {
        Self {
            status: error.status,
            headers: error
                .headers()
                .into_iter()
                .map(|(name, value)| (name.to_string(), value))
                .collect(),
            body: Some(error.to_json()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn the_true_reason_names_the_fields_at_fault() {
        let e = Error::invalid(vec![FieldError::new("X-Product-Key", "required here")]);
        assert!(e.true_reason().ends_with("(X-Product-Key: required here)"));
        assert_eq!(
            Error::unauthorized("No API key.").true_reason(),
            "No API key."
        );
        let hidden = Error::not_found("No such route.").with_reason("missing scope `a:b`");
        assert_eq!(hidden.true_reason(), "missing scope `a:b`");
    }

    #[test]
    fn body_omits_empty_errors() {
        let e = Error::unauthorized("No API key.");
        assert_eq!(e.to_json(), r#"{"status":401,"message":"No API key."}"#);
    }

    #[test]
    fn body_lists_field_errors_and_escapes() {
        let e = Error::invalid(vec![FieldError::new(
            "name",
            "must be at most 200 \"characters\"",
        )]);
        let v: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(v["status"], 400);
        assert_eq!(v["errors"][0]["field"], "name");
        assert_eq!(
            v["errors"][0]["message"],
            "must be at most 200 \"characters\""
        );
    }

    #[test]
    fn headers_follow_status_needs() {
        let e = Error::unauthorized("x").with_challenge();
        assert!(
            e.headers()
                .contains(&("WWW-Authenticate", "Basic realm=\"keygate\"".into()))
        );
        let e = Error::method_not_allowed("GET, POST");
        assert!(e.headers().contains(&("Allow", "GET, POST".into())));
        let e = Error::too_many_requests("slow down", 7);
        assert!(e.headers().contains(&("Retry-After", "7".into())));
    }
}
