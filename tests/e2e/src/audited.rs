//! Admin-API helpers shared by the suites that attack it: every answer goes through [`audit`],
//! which fails the trial if the answer carries secret material it must not, lacks
//! `X-Request-Id`, or (an admin answer) is not a JSON object.

use crate::{Gateway, Resp, Value, json};
use std::collections::BTreeSet;

/// Every full secret key (`sk_test_`/`sk_live_` + 38 base62 characters) in `text`.
pub fn full_secrets(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    (0..b.len())
        .filter(|&i| b[i..].starts_with(b"sk_test_") || b[i..].starts_with(b"sk_live_"))
        .filter(|&i| {
            b[i + 8..]
                .iter()
                .take_while(|c| c.is_ascii_alphanumeric())
                .count()
                >= 38
        })
        .map(|i| &text[i..i + 46])
        .collect()
}

/// Panics unless `r` has a request id, carries a full secret only as create/roll's `secret`,
/// and (admin answers) has no 64-hex run and is JSON.
pub fn audit(r: &Resp) {
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "no X-Request-Id: {r}"
    );
    let text = r.text();
    let secrets = full_secrets(&text);
    let path = r.url.split('?').next().unwrap_or_default();
    let issues = r.method == "POST"
        && ((r.status == 201 && path.ends_with("/keys"))
            || (r.status == 200 && path.ends_with("/roll")));
    if issues {
        assert!(
            secrets.len() == 1 && r.json["secret"].as_str() == Some(secrets[0]),
            "one secret, once, in `secret` expected: {r}"
        );
    } else {
        assert!(secrets.is_empty(), "a full secret key in an answer: {r}");
    }
    if !path.contains("/admin/") {
        return;
    }
    let hex_run = text
        .split(|c: char| !c.is_ascii_hexdigit())
        .map(str::len)
        .max();
    assert!(hex_run.unwrap_or(0) < 64, "a hash-like hex run: {r}");
    if r.status != 204 {
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json"))
                && r.json.is_object(),
            "not a JSON object: {r}"
        );
    }
}

/// An operator request, audited.
pub fn op(gw: &Gateway, method: &str, path: &str, body: Option<&Value>) -> Resp {
    let mut req = gw.admin(method, path);
    if let Some(body) = body {
        req = req.json(body);
    }
    let r = req.send();
    audit(&r);
    r
}

/// An error answer (SPEC §4) with `status` whose `errors` name exactly `fields` (none when
/// empty); returns the message.
#[track_caller]
pub fn refused(r: &Resp, status: u16, fields: &[&str]) -> String {
    assert_eq!(r.status, status, "expected {status} naming {fields:?}: {r}");
    assert_eq!(r.json["status"], json!(status), "{r}");
    let message = r.json["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "an error without a message: {r}");
    let named: BTreeSet<&str> = r.json["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    assert!(
                        e["message"].as_str().is_some_and(|m| !m.is_empty()),
                        "an errors entry without a message: {r}"
                    );
                    e["field"].as_str().unwrap_or_default()
                })
                .collect()
        })
        .unwrap_or_default();
    let want: BTreeSet<&str> = fields.iter().copied().collect();
    assert_eq!(named, want, "fields named in `errors`: {r}");
    message.to_string()
}
