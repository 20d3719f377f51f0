//! Assertions every answer of the gateway must pass.

use super::*;

use serde_json::json;

/// README "How a request is checked": JSON body `{"status", "message", "errors"?}` with `status`
/// equal to the HTTP status, `Content-Type: application/json`, and an `X-Request-Id`. Returns the
/// message.
#[track_caller]
pub fn assert_error(r: &Resp, status: u16) -> String {
    assert_eq!(r.status, status, "expected {status}: {r}");
    let ctype = r.header("content-type").unwrap_or("");
    assert!(
        ctype.starts_with("application/json"),
        "error without JSON content type: {r}"
    );
    assert_eq!(r.json["status"], json!(status), "body status: {r}");
    let message = r.json["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "error without a message: {r}");
    if let Some(errors) = r.json.get("errors") {
        let errors = errors.as_array().unwrap_or_else(|| panic!("errors: {r}"));
        for e in errors {
            assert!(
                e["field"].is_string() && e["message"].is_string(),
                "errors entry: {r}"
            );
        }
    }
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "error without X-Request-Id: {r}"
    );
    message.to_string()
}

/// A 400 error ([`assert_error`]) whose `errors` name the `X-Product-Key` header.
#[track_caller]
pub fn assert_product_key_missing(r: &Resp) {
    assert_error(r, 400);
    let fields: Vec<&str> = r.json["errors"]
        .as_array()
        .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
        .unwrap_or_default();
    assert!(
        fields
            .iter()
            .any(|f| f.eq_ignore_ascii_case("X-Product-Key")),
        "errors must name X-Product-Key: {r}"
    );
}

/// Panics if the body or any header value of `r` contains one of `secrets`.
#[track_caller]
pub fn assert_no_secret(r: &Resp, secrets: &[&str]) {
    let text = r.text();
    for s in secrets {
        assert!(!text.contains(s), "a secret is echoed: {r}");
        assert!(
            r.headers.iter().all(|(_, v)| !v.contains(s)),
            "a secret is echoed in a header: {r}"
        );
    }
}

/// An answer relayed from the recording [`Origin`] (its default `{"origin":"ok"}`).
#[track_caller]
pub fn assert_from_origin(r: &Resp) {
    assert_eq!(r.status, 200, "{r}");
    assert_eq!(r.json, json!({"origin": "ok"}), "{r}");
    assert!(r.request_id().is_some(), "{r}");
}

// ------------------------------------------------------------------------------------------
