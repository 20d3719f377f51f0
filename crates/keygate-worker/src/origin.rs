//! Forwarding a live request to `ORIGIN_URL`: body streamed, credentials stripped, identity
//! headers and their HMAC signature added. Which headers pass and what is signed are the
//! core's decisions (`forwarding::forwardable_request_header`, `signing::origin_headers`).

use crate::http::{header, now_seconds};
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

fn timeout(vars: &Vars) -> Duration {
    Duration::from_secs(
        vars.origin_timeout_seconds
            .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    )
}

pub async fn forward(
    req: Request,
    vars: &Vars,
    grant: &Grant,
    target: &Target<'_>,
    request_id: &str,
) -> Result<Response, Error> {
    let origin = vars.origin_url.as_deref().ok_or_else(|| {
        Error::unavailable("The origin is not configured (ORIGIN_URL is unset). Retry later.")
    })?;
    let secret = vars.signing_secret.as_deref().ok_or_else(|| {
        Error::unavailable("The origin signing secret is not configured. Retry later.")
    })?;
    // Exactly the canonical target the route was matched on: it starts with one `/` and has no
    // dot or empty segment, so appending it cannot change the origin's host or escape its path.
    let path_and_query = target.path_and_query();
    let target = format!("{}{}", origin.trim_end_matches('/'), path_and_query);
    let method = req.method();

    let headers = Headers::new();
    let connection = header(&req, "Connection")?.unwrap_or_default();
    for (name, value) in req.headers().entries() {
        if forwarding::forwardable_request_header(&name, &connection) {
            let _ = headers.append(&name, &value);
        }
    }
    let signed = signing::origin_headers(
        secret.as_bytes(),
        grant,
        request_id,
        now_seconds(),
        method.as_ref(),
        &path_and_query,
    );
    for (name, value) in signed {
        headers.set(name, &value).map_err(|_| Error::internal())?;
    }

    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if let Some(body) = req.inner().body() {
        init.with_body(Some(body.into()));
    }
    let outbound = Request::new_with_init(&target, &init)
        .map_err(|_| Error::unavailable("The origin URL is invalid. Retry later."))?;

    let controller = AbortController::default();
    let signal = controller.signal();
    let fetch = Fetch::Request(outbound);
    let sent = Box::pin(fetch.send_with_signal(&signal));
    let deadline = Box::pin(Delay::from(timeout(vars)));
    let response = match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => response,
        Either::Left((Err(_), _)) => {
            return Err(Error::new(
                502,
                "The origin could not be reached. Retry later.",
            ));
        }
        Either::Right(_) => {
            controller.abort();
            return Err(Error::new(
                504,
                "The origin did not answer in time. Retry later.",
            ));
        }
    };
    Ok(relay(response))
}

/// The origin's answer, streamed back with its status and end-to-end headers.
fn relay(response: Response) -> Response {
    let connection = response
        .headers()
        .get("Connection")
        .ok()
        .flatten()
        .unwrap_or_default();
    let headers = Headers::new();
    for (name, value) in response.headers().entries() {
        if forwarding::relayable_response_header(&name, &connection) {
            let _ = headers.append(&name, &value);
        }
    }
    Response::builder()
        .with_status(response.status_code())
        .with_headers(headers)
        .body(response.body().clone())
}
