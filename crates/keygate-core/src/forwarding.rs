//! Which headers cross the gateway: request headers to the origin, and the origin's answer
//! headers back to the client.
//!
//! The origin acts on the method, path and identity that keygate authorised and signed. Any
//! header that a framework, proxy or CGI server in front of the origin might honour *instead*
//! — a method override, a rewritten URL, a client address, keygate's own identity headers —
//! is dropped here, in one table that says why for each. A header name containing `_` is
//! dropped whole: CGI-style servers fold `X_Keygate_Account` into `X-Keygate-Account`, so no
//! list of dash spellings could be complete.

/// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so they are dropped
/// in both directions, together with any header a `Connection` value names.
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
];

const CREDENTIAL: &str = "a credential: the origin learns the caller from keygate's signed headers";
const METHOD_OVERRIDE: &str = "a method override: the origin must act on the authorised method";
const URL_OVERRIDE: &str = "a path override: the origin must act on the authorised path";
const CLIENT_ADDRESS: &str =
    "a client address claimed by the client: the allowlist judged CF-Connecting-IP only";

/// Request headers (lower case) never forwarded besides the hop-by-hop ones, with the reason.
const NOT_FORWARDED: [(&str, &str); 23] = [
    ("authorization", CREDENTIAL),
    ("x-api-key", CREDENTIAL),
    (
        "x-product-key",
        "a product key: keygate checked it and sends X-Keygate-Product",
    ),
    (
        "x-request-id",
        "keygate's own request id is sent, signed, instead",
    ),
    ("host", "the runtime sets the origin's host"),
    (
        "content-length",
        "the runtime frames the streamed body itself",
    ),
    ("x-http-method-override", METHOD_OVERRIDE),
    ("x-http-method", METHOD_OVERRIDE),
    ("x-method-override", METHOD_OVERRIDE),
    ("x-original-method", METHOD_OVERRIDE),
    ("x-original-url", URL_OVERRIDE),
    ("x-original-uri", URL_OVERRIDE),
    ("x-rewrite-url", URL_OVERRIDE),
    ("x-override-url", URL_OVERRIDE),
    ("forwarded", CLIENT_ADDRESS),
    ("x-real-ip", CLIENT_ADDRESS),
    ("true-client-ip", CLIENT_ADDRESS),
    ("x-client-ip", CLIENT_ADDRESS),
    ("x-cluster-client-ip", CLIENT_ADDRESS),
    ("client-ip", CLIENT_ADDRESS),
    ("x-originating-ip", CLIENT_ADDRESS),
    ("x-remote-ip", CLIENT_ADDRESS),
    ("x-remote-addr", CLIENT_ADDRESS),
];

/// Request header prefixes (lower case) never forwarded, with the reason.
const NOT_FORWARDED_PREFIXES: [(&str, &str); 4] = [
    (
        "x-keygate-",
        "keygate's identity headers: only the gateway sets them, signed",
    ),
    (
        "cf-",
        "Cloudflare's headers, among them the client address (CF-Connecting-IP)",
    ),
    (
        "x-forwarded-",
        "the client address, host, scheme, prefix or path as claimed by the client",
    ),
    (
        "x-envoy-",
        "proxy control headers (Envoy honours x-envoy-original-path)",
    ),
];

/// Origin response headers never relayed besides the hop-by-hop ones: the runtime sets its own
/// length (re-encoding may change it), and the request id on the answer is keygate's.
const NOT_RELAYED: [&str; 2] = ["content-length", "x-request-id"];

/// Why an incoming request header must not reach the origin, or `None` if it may. `connection`
/// is the value of the request's `Connection` header (`""` if none): the headers it names are
/// hop-by-hop too (RFC 9110 §7.6.1).
pub fn why_not_forwarded(name: &str, connection: &str) -> Option<&'static str> {
    let lower = name.trim().to_ascii_lowercase();
    if lower.contains('_') {
        return Some("a name with `_`: CGI servers read it as the same name with `-`");
    }
    if is_hop_by_hop(&lower, connection) {
        return Some("hop-by-hop: it describes the client's connection, not the request");
    }
    NOT_FORWARDED
        .iter()
        .find(|(dropped, _)| *dropped == lower)
        .or_else(|| {
            NOT_FORWARDED_PREFIXES
                .iter()
                .find(|(prefix, _)| lower.starts_with(prefix))
        })
        .map(|(_, why)| *why)
}

/// Whether an incoming request header may be passed to the origin.
pub fn forwardable_request_header(name: &str, connection: &str) -> bool {
    why_not_forwarded(name, connection).is_none()
}

/// Whether a header of the origin's answer may be relayed to the client. `connection` is the
/// answer's own `Connection` value (`""` if none).
pub fn relayable_response_header(name: &str, connection: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    !is_hop_by_hop(&lower, connection) && !NOT_RELAYED.contains(&lower.as_str())
}

fn is_hop_by_hop(lower: &str, connection: &str) -> bool {
    HOP_BY_HOP.contains(&lower)
        || connection
            .split(',')
            .any(|listed| listed.trim().eq_ignore_ascii_case(lower))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn every_family_that_could_redirect_the_origin_is_dropped() {
        for name in [
            "Authorization",
            "X-API-Key",
            "X-Product-Key",
            "X-Request-Id",
            "Host",
            "Content-Length",
            "X-HTTP-Method-Override",
            "X-HTTP-Method",
            "X-Method-Override",
            "X-Original-URL",
            "X-Rewrite-URL",
            "x-original-uri",
            "Forwarded",
            "X-Forwarded-For",
            "X-Forwarded-Host",
            "x-forwarded-proto",
            "X-Real-IP",
            "True-Client-IP",
            "X-Client-IP",
            "X-Cluster-Client-IP",
            "Client-IP",
            "X-Originating-IP",
            "CF-Connecting-IP",
            "cf-ray",
            "X-Keygate-Account",
            "x-keygate-signature",
            "X-Envoy-Original-Path",
            "X_Keygate_Account",
            "CF_Connecting_IP",
            "X_Forwarded_For",
            "x_http_method_override",
            "Some_Custom",
            "Connection",
            "Transfer-Encoding",
            "Upgrade",
            " authorization ",
        ] {
            assert!(
                why_not_forwarded(name, "").is_some(),
                "{name} must not be forwarded"
            );
        }
    }

    #[test]
    fn end_to_end_headers_pass() {
        for name in [
            "Accept",
            "Content-Type",
            "Idempotency-Key",
            "User-Agent",
            "X-Custom-Trace",
            "If-None-Match",
            "Accept-Encoding",
        ] {
            assert!(forwardable_request_header(name, ""), "{name}");
        }
    }

    #[test]
    fn headers_named_by_connection_are_hop_by_hop() {
        assert!(!forwardable_request_header(
            "X-Custom",
            "keep-alive, X-Custom"
        ));
        assert!(forwardable_request_header("X-Custom", "keep-alive"));
        assert!(!relayable_response_header("X-Secret-Hop", "x-secret-hop"));
        assert!(relayable_response_header("ETag", ""));
        assert!(!relayable_response_header("Content-Length", ""));
        assert!(!relayable_response_header("X-Request-Id", ""));
    }

    #[test]
    fn every_reason_is_written_down() {
        for (name, why) in NOT_FORWARDED.iter().chain(NOT_FORWARDED_PREFIXES.iter()) {
            assert_eq!(*name, name.to_ascii_lowercase());
            assert!(why.len() > 10, "{name}");
        }
    }
}
