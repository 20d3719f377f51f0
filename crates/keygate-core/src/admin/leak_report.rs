//! Leak reports as secret scanners send them.

use super::*;
use crate::error::{Error, FieldError};
use crate::keys::parse_key;
use serde_json::Value;
use std::fmt;

/// One entry of a leak report. `Debug` shows no more of the token than a key's display
/// fragments: a leaked secret must not be repeated into our logs.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakedToken {
    /// The reported secret, 1 to 1024 bytes, as found: it may not be a keygate key at all.
    pub token: String,
    /// Where it was found, if the scanner says (cut to 2048 characters).
    pub url: Option<String>,
    /// Which scanner or service found it, if it says (cut to 2048 characters).
    pub source: Option<String>,
}

impl fmt::Debug for LeakedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match parse_key(&self.token) {
            Ok(k) => format!("{}…{}", k.start(), k.end()),
            Err(_) => format!("<{} bytes>", self.token.len()),
        };
        f.debug_struct("LeakedToken")
            .field("token", &shown)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// A leak report as secret scanners send it: a JSON array of `{token, type?, url?, source?}`
/// (GitHub's format), or `{"tokens": [...]}`. At most [`MAX_LEAK_TOKENS`] entries.
///
/// Unlike other admin bodies, unknown fields inside an entry are ignored: a scanner adding a
/// field must not make us drop a report of a leaked key.
pub fn leak_report(body: &Value) -> Result<Vec<LeakedToken>, Error> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(map) => match (map.get("tokens"), map.len()) {
            (Some(Value::Array(items)), 1) => items,
            _ => return Err(leak_shape()),
        },
        _ => return Err(leak_shape()),
    };
    if items.len() > MAX_LEAK_TOKENS {
        return Err(Error::invalid(vec![FieldError::new(
            "tokens",
            format!(
                "has {} entries; send at most {MAX_LEAK_TOKENS} per report",
                items.len()
            ),
        )]));
    }
    let mut errors = Vec::new();
    let mut tokens = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            errors.push(FieldError::new(
                format!("[{i}]"),
                "must be an object with a `token`",
            ));
            continue;
        };
        let token = match entry.get("token") {
            Some(Value::String(t)) if !t.is_empty() && t.len() <= 1024 => Some(t.clone()),
            Some(Value::String(_)) => {
                errors.push(FieldError::new(
                    format!("[{i}].token"),
                    "must be 1-1024 bytes",
                ));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(format!("[{i}].token"), "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new(format!("[{i}].token"), "is required"));
                None
            }
        };
        let mut note = |field: &str| match entry.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(truncate(s, MAX_LEAK_NOTE_CHARS)),
            Some(_) => {
                errors.push(FieldError::new(
                    format!("[{i}].{field}"),
                    "must be a string",
                ));
                None
            }
        };
        let url = note("url");
        let source = note("source");
        if let Some(token) = token {
            tokens.push(LeakedToken { token, url, source });
        }
    }
    if errors.is_empty() {
        Ok(tokens)
    } else {
        Err(Error::invalid(errors))
    }
}

fn leak_shape() -> Error {
    Error::bad_request(
        "A leak report must be a JSON array of {\"token\": …, \"url\": …, \"source\": …} \
         objects, as secret scanners send it.",
    )
}
