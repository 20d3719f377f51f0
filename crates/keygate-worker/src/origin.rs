//! Forwarding a live request to `ORIGIN_URL`: body streamed, credentials stripped, identity
//! headers and their HMAC signature added. Which headers pass and what is signed are the
//! core's decisions (`forwarding::forwardable_request_header`, `signing::origin_headers`).
//!
//! [`plan`] (what to send) and [`relayed_headers`] (what comes back) are shared by both
//! entries: the workers-rs path ([`forward`]) and the JS entry's fast path, which performs
//! the fetch itself.

use crate::http::now_seconds;
use crate::settings::Vars;
use futures_util::future::{Either, select};
use keygate_core::Error;
use keygate_core::forwarding;
use keygate_core::policy::Grant;
use keygate_core::signing;
use keygate_core::target::Target;
use std::time::Duration;
use worker::{
    AbortController, Delay, Fetch, Headers, Request, RequestInit, RequestRedirect, Response,
};

const DEFAULT_TIMEOUT_SECONDS: u64 = 30;

/// The request to send to the origin.
pub struct OriginPlan {
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub timeout: Duration,
}

/// The outbound request for a live grant: `ORIGIN_URL` + exactly the authorised target, the
/// incoming headers the forwarding policy lets through, and keygate's signed identity.
/// `incoming` are the request's headers and `connection` its `Connection` value.
pub fn plan<'h>(
    vars: &Vars,
    grant: &Grant,
    target: &Target<'_>,
    request_id: &str,
    method: &str,
    incoming: impl IntoIterator<Item = (&'h str, &'h str)>,
    connection: &str,
) -> Result<OriginPlan, Error> {
    let origin = vars.origin_url.as_deref().ok_or_else(|| {
        Error::unavailable("The origin is not configured (ORIGIN_URL is unset). Retry later.")
    })?;
    let secret = vars.signing_secret.as_deref().ok_or_else(|| {
        Error::unavailable("The origin signing secret is not configured. Retry later.")
    })?;
    // Exactly the canonical target the route was matched on: it starts with one `/` and has no
    // dot or empty segment, so appending it cannot change the origin's host or escape its path.
    let path_and_query = target.path_and_query();
    let url = format!("{}{}", origin.trim_end_matches('/'), path_and_query);
    let mut headers: Vec<(String, String)> = incoming
        .into_iter()
        .filter(|(name, _)| forwarding::forwardable_request_header(name, connection))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let signed = signing::origin_headers(
        secret.as_bytes(),
        grant,
        request_id,
        now_seconds(),
        method,
        &path_and_query,
    );
    for (name, value) in signed {
        headers.retain(|(existing, _)| !existing.eq_ignore_ascii_case(name));
        headers.push((name.to_string(), value));
    }
    let timeout = Duration::from_secs(
        vars.origin_timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    );
    Ok(OriginPlan {
        url,
        headers,
        timeout,
    })
}

/// The origin's answer headers that go back to the client: end-to-end ones only.
pub fn relayed_headers<'h>(
    answer: impl IntoIterator<Item = (&'h str, &'h str)> + Clone,
) -> Vec<(&'h str, &'h str)> {
    let connection = answer
        .clone()
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .map_or("", |(_, value)| value);
    answer
        .into_iter()
        .filter(|(name, _)| forwarding::relayable_response_header(name, connection))
        .collect()
}

pub fn unreachable() -> Error {
    Error::new(502, "The origin could not be reached. Retry later.")
}

pub fn timed_out() -> Error {
    Error::new(504, "The origin did not answer in time. Retry later.")
}

pub async fn forward(
    req: Request,
    vars: &Vars,
    grant: &Grant,
    target: &Target<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let method = req.method();
    let incoming: Vec<(String, String)> = req.headers().entries().collect();
    let connection = incoming
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .map_or("", |(_, value)| value.as_str());
    let plan = plan(
        vars,
        grant,
        target,
        request_id,
        method.as_ref(),
        incoming.iter().map(|(n, v)| (n.as_str(), v.as_str())),
        connection,
    )?;
    let headers = Headers::new();
    for (name, value) in &plan.headers {
        headers.append(name, value).map_err(|_| Error::internal())?;
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let outbound = Request::new_with_init(&plan.url, &init)
        .map_err(|_| Error::unavailable("The origin URL is invalid. Retry later."))?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(outbound);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    let deadline = Box::pin(Delay::from(plan.timeout));
    let response = match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => response,
        Either::Left((Err(_), _)) => return Err(unreachable()),
        Either::Right(_) => {
            controller.abort();
            return Err(timed_out());
        }
    };
    Ok(relay(response))
}

/// The origin's answer, streamed back with its status and end-to-end headers.
fn relay(response: Response) -> Response {
    let answer: Vec<(String, String)> = response.headers().entries().collect();
    let headers = Headers::new();
    for (name, value) in relayed_headers(answer.iter().map(|(n, v)| (n.as_str(), v.as_str()))) {
        let _ = headers.append(name, value);
    }
    Response::builder()
        .with_status(response.status_code())
        .with_headers(headers)
        .body(response.body().clone())
}
