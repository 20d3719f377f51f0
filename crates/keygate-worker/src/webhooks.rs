//! The one way the worker sends a webhook: a signed JSON POST that follows no redirect, is cut
//! off after a timeout, and whose answer is read for its status only (a receiver's body, however
//! long, is never read). The provider's deliveries (`registry/alarm.rs`) and the sandbox's
//! (`sandbox.rs`) both go through it.

use futures_util::future::{Either, select};
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

/// POSTs `body` with its `Keygate-Signature`; the receiver's status, or `None` if it could not
/// be reached or did not answer within `timeout`.
pub(crate) async fn post_signed(
    url: &str,
    signature: &str,
    body: &str,
    timeout: Duration,
) -> Option<u16> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json").ok()?;
    headers.set("Keygate-Signature", signature).ok()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()))
        // A redirect would take the request where the URL's check never looked.
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).ok()?;
    let fetch = Fetch::Request(request);
    let sent = Box::pin(fetch.send());
    let deadline = Box::pin(Delay::from(timeout));
    match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => Some(response.status_code()),
        _ => None,
    }
}
