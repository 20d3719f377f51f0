//! Helpers of the edge trials: requests, and the origin signature re-derived independently of
//! keygate-core.

use super::*;

/// `GET /v1/transactions` with a bearer key and the bank_data product key, with
/// `?trace=<marker>` for a live key (the origin ignores it; the sandbox refuses unknown query
/// parameters, and a test key has no business with the origin anyway).
pub(crate) fn get_tx(gw: &Gateway, secret: &str, pk: &str, marker: &str) -> Resp {
    gw.get(&trace_path("/v1/transactions", secret, marker))
        .bearer(secret)
        .product_key(pk)
        .send()
}

/// `path?trace=<marker>` for live keys, `path` for anything else.
pub(crate) fn trace_path(path: &str, secret: &str, marker: &str) -> String {
    if secret.starts_with("sk_live_") {
        format!("{path}?trace={marker}")
    } else {
        path.to_string()
    }
}

/// A sandbox (test key) answer.
#[track_caller]
pub(crate) fn assert_sandbox(r: &Resp) {
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");
    assert!(r.request_id().is_some(), "{r}");
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The documented canonical string:
/// `v1\n{timestamp}\n{request_id}\n{account}\n{key_id}\n{environment}\n{product}\n{METHOD}\n{path_and_query}`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn sign(
    secret: &str,
    timestamp: &str,
    request_id: &str,
    account: &str,
    key_id: &str,
    environment: &str,
    product: &str,
    method: &str,
    path_and_query: &str,
) -> String {
    let canonical = [
        "v1",
        timestamp,
        request_id,
        account,
        key_id,
        environment,
        product,
        &method.to_ascii_uppercase(),
        path_and_query,
    ]
    .join("\n");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(canonical.as_bytes());
    hex(&mac.finalize().into_bytes())
}

/// The signature the origin should have received for `q` (from its own identity headers,
/// method and request target).
pub(crate) fn expected_signature(q: &OriginRequest, secret: &str) -> String {
    let h = |n: &str| q.header(n).unwrap_or("").to_string();
    sign(
        secret,
        &h("x-keygate-timestamp"),
        &h("x-request-id"),
        &h("x-keygate-account"),
        &h("x-keygate-key"),
        &h("x-keygate-environment"),
        &h("x-keygate-product"),
        &q.method,
        &q.path,
    )
}
