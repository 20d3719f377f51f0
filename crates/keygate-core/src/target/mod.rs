//! The canonical request target: the one spelling of a path that the route table matches and
//! the origin receives.
//!
//! A key design decision of this module: keygate never *normalises* a path it then forwards.
//! Two parsers (ours and the origin's framework) that disagree on what a spelling means are
//! exactly how an authorisation check is bypassed, so a path is either already canonical and
//! passes unchanged, or it is refused with 400 naming the canonical form (where one exists)
//! for the client to send instead. What is authorised is then byte for byte what is forwarded.
//!
//! A canonical path:
//! - starts with `/` and is at most [`MAX_PATH_BYTES`] long;
//! - has no empty segment (`//`), no trailing `/` (except the path `/` itself), and no `.` or
//!   `..` segment, however spelled (`%2e%2E`);
//! - contains only RFC 3986 path characters: unreserved (`A-Z a-z 0-9 - . _ ~`), the
//!   sub-delimiters except `;` (`! $ & ' ( ) * + , =`), `:`, `@`, and percent-encodings;
//! - percent-encodes nothing that needs no encoding (an unreserved character), uses upper-case
//!   hex, and never encodes `/`, `\`, `%` followed by hex (double encoding), control or
//!   non-ASCII bytes: those have no single meaning across frameworks, so no canonical form.
//!
//! `;` (path parameters, which Java servlet containers strip) and `\` (which some servers read
//! as `/`) are refused outright. The query is not routed on, so it passes as written once it
//! is well-formed printable ASCII; a secret key anywhere in path or query, after
//! percent-decoding, is refused before anything else so that no answer repeats it.

use crate::error::{Error, FieldError};
use crate::keys::{KEY_LEN, KeyKind, parse_key};

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 2048;
/// Longest query string accepted, in bytes.
pub const MAX_QUERY_BYTES: usize = 8192;

/// A canonical path and a well-formed query, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target<'a> {
    path: &'a str,
    query: Option<&'a str>,
}

impl<'a> Target<'a> {
    /// The canonical path, exactly as the client sent it.
    pub fn path(&self) -> &'a str {
        self.path
    }

    /// The query without `?`; `None` when absent or empty.
    pub fn query(&self) -> Option<&'a str> {
        self.query
    }

    /// The path's segments; the root path `/` has none.
    pub fn segments(&self) -> impl Iterator<Item = &'a str> + 'a {
        let rest = &self.path[1..];
        rest.split('/').filter(move |_| !rest.is_empty())
    }

    /// Path and query as the origin receives them.
    pub fn path_and_query(&self) -> String {
        match self.query {
            Some(query) => format!("{}?{}", self.path, query),
            None => self.path.to_string(),
        }
    }
}

/// The parts of an absolute request URL, as the runtime hands it to the worker (already
/// serialised by a WHATWG URL parser: `scheme://authority/path?query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestUrl<'a> {
    /// Whether the scheme is `https` (any case).
    pub https: bool,
    /// Starts with `/`; `/` when the URL has no path.
    pub path: &'a str,
    /// Everything after the first `?`, without it and without any `#` fragment; `None` when the
    /// URL has no `?`.
    pub query: Option<&'a str>,
}

/// Splits a request URL into scheme, path and query without a general URL parser: the runtime
/// has parsed and serialised it already, so the one question left is where the parts begin.
/// `None` for anything that is not an absolute `http`/`https` URL.
pub fn split_url(url: &str) -> Option<RequestUrl<'_>> {
    let (scheme, rest) = url.split_once("://")?;
    let https = if scheme.eq_ignore_ascii_case("https") {
        true
    } else if scheme.eq_ignore_ascii_case("http") {
        false
    } else {
        return None;
    };
    let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
    let (before_query, query) = match rest.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (rest, None),
    };
    let path = before_query.find('/').map_or("/", |at| &before_query[at..]);
    Some(RequestUrl { https, path, query })
}

/// Checks `path` and `query` (without `?`) and returns them as the canonical target, or a 400
/// whose `errors` entry (`url`, `path` or `query`) says what is wrong. A secret key in the URL
/// is refused first and never echoed.
pub fn parse_target<'a>(path: &'a str, query: Option<&'a str>) -> Result<Target<'a>, Error> {
    reject_secret_in_url(path, query)?;
    check_path(path)?;
    let query = query.filter(|q| !q.is_empty());
    if let Some(query) = query {
        check_query(query)?;
    }
    Ok(Target { path, query })
}

/// Whether `path` is addressed to the admin API, i.e. its first segment is exactly `admin`.
/// Such a path never reaches the edge pipeline; the admin API answers 404 to any spelling of
/// it that is not canonical.
pub fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

/// 400 if a secret key appears anywhere in `path` or `query`, as written or percent-decoded.
/// [`parse_target`] starts with this; the admin API calls it alone, because it answers every
/// other non-canonical spelling with 404.
pub fn reject_secret_in_url(path: &str, query: Option<&str>) -> Result<(), Error> {
    let found = [Some(path), query]
        .into_iter()
        .flatten()
        .any(|part| contains_secret_key(part.as_bytes()));
    if found {
        return Err(Error::invalid(vec![FieldError::new(
            "url",
            "contains a secret API key. Keys in URLs end up in logs and browser history: send \
             the key in the Authorization header, and roll this one",
        )]));
    }
    Ok(())
}

/// Looks for a secret key in `text` as written and after each of up to three rounds of
/// percent-decoding (a double-encoded key is still a leaked key).
fn contains_secret_key(text: &[u8]) -> bool {
    let mut current = text.to_vec();
    for _ in 0..4 {
        if has_secret_key(&current) {
            return true;
        }
        let decoded = percent_decode(&current);
        if decoded == current {
            return false;
        }
        current = decoded;
    }
    has_secret_key(&current)
}

fn has_secret_key(bytes: &[u8]) -> bool {
    bytes.windows(3).enumerate().any(|(start, w)| {
        w == b"sk_"
            && bytes
                .get(start..start + KEY_LEN)
                .and_then(|candidate| std::str::from_utf8(candidate).ok())
                .and_then(|candidate| parse_key(candidate).ok())
                .is_some_and(|key| key.kind() == KeyKind::Secret)
    })
}

fn percent_decode(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = decode_escape(bytes, i)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

fn decode_escape(bytes: &[u8], at: usize) -> Option<u8> {
    let h = hex_value(*bytes.get(at + 1)?)?;
    let l = hex_value(*bytes.get(at + 2)?)?;
    Some(h << 4 | l)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// RFC 3986 `pchar` minus `;` and `%` (escapes are handled separately).
fn is_plain_path_char(b: u8) -> bool {
    is_unreserved(b)
        || matches!(
            b,
            b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b'=' | b':' | b'@'
        )
}

/// Why a path is not canonical.
enum Flaw {
    /// The canonical form is the corrected path.
    Fixable(&'static str),
    /// No spelling means the same thing to every server.
    Fatal(&'static str),
}

fn check_path(path: &str) -> Result<(), Error> {
    if !path.starts_with('/') {
        return Err(path_error("it must start with `/`", None));
    }
    if path.len() > MAX_PATH_BYTES {
        return Err(path_error("it is longer than 2048 bytes", None));
    }
    let mut first_fixable: Option<&'static str> = None;
    // Canonical segments, decoded where decoding is the fix.
    let mut segments: Vec<String> = Vec::new();
    let raw: Vec<&str> = path[1..].split('/').collect();
    let last = raw.len() - 1;
    for (index, segment) in raw.iter().enumerate() {
        let (canonical, flaw) = canonical_segment(segment.as_bytes());
        match flaw {
            Some(Flaw::Fatal(why)) => return Err(path_error(why, None)),
            Some(Flaw::Fixable(why)) => {
                first_fixable.get_or_insert(why);
            }
            None => {}
        }
        match canonical.as_str() {
            "" if index == last && index == 0 => {}
            "" if index == last => {
                first_fixable.get_or_insert("it ends with `/`");
            }
            "" => {
                first_fixable.get_or_insert("it has an empty segment (`//`)");
            }
            "." => {
                first_fixable.get_or_insert("it has a `.` segment");
            }
            ".." => {
                first_fixable.get_or_insert("it has a `..` segment");
                if segments.pop().is_none() {
                    return Err(path_error("it has a `..` segment above the root", None));
                }
            }
            _ => segments.push(canonical),
        }
    }
    match first_fixable {
        None => Ok(()),
        Some(why) => {
            let canonical = format!("/{}", segments.join("/"));
            // Percent-encoding lengthens a path: a form past the limit is no form to send.
            let named = (canonical.len() <= MAX_PATH_BYTES).then_some(canonical.as_str());
            Err(path_error(why, named))
        }
    }
}

/// One segment in canonical spelling, with the first flaw found (fatal flaws win).
fn canonical_segment(segment: &[u8]) -> (String, Option<Flaw>) {
    let mut out = String::with_capacity(segment.len());
    let mut fixable: Option<&'static str> = None;
    let mut i = 0;
    while i < segment.len() {
        let b = segment[i];
        if b == b'%' {
            let Some(decoded) = decode_escape(segment, i) else {
                return (
                    out,
                    Some(Flaw::Fatal("it has a `%` not followed by two hex digits")),
                );
            };
            let fatal = match decoded {
                b'/' | b'\\' => Some("it percent-encodes `/` or `\\`"),
                0x00..=0x1f | 0x7f => Some("it percent-encodes a control character"),
                0x80..=0xff => Some("it percent-encodes a non-ASCII byte"),
                b'%' if segment
                    .get(i + 3..i + 5)
                    .is_some_and(|h| h.iter().all(|&c| hex_value(c).is_some())) =>
                {
                    Some("it is percent-encoded twice (`%25` followed by hex digits)")
                }
                _ => None,
            };
            if let Some(why) = fatal {
                return (out, Some(Flaw::Fatal(why)));
            }
            if is_unreserved(decoded) {
                fixable.get_or_insert("it percent-encodes a character that needs no encoding");
                out.push(char::from(decoded));
            } else {
                let escape = &segment[i..i + 3];
                if escape.iter().any(u8::is_ascii_lowercase) {
                    fixable.get_or_insert("it uses lower-case hex in a percent-encoding");
                }
                out.push('%');
                out.push_str(&format!("{decoded:02X}"));
            }
            i += 3;
            continue;
        }
        let fatal = match b {
            b';' => Some("it has `;` (path parameters); percent-encode it as %3B if it is data"),
            b'\\' => Some("it has a backslash"),
            b'?' | b'#' => Some("it has `?` or `#` (send the query separately)"),
            0x00..=0x20 | 0x7f => Some("it has a control character or a space"),
            0x80..=0xff => Some("it has a non-ASCII byte; percent-encode it"),
            _ => None,
        };
        if let Some(why) = fatal {
            return (out, Some(Flaw::Fatal(why)));
        }
        if is_plain_path_char(b) {
            out.push(char::from(b));
        } else {
            fixable.get_or_insert("it has a character that must be percent-encoded");
            out.push_str(&format!("%{b:02X}"));
        }
        i += 1;
    }
    // Decoding `%25%41B` would spell `%25AB`: a double encoding, which has no canonical form.
    if fixable.is_some() && has_double_encoding(out.as_bytes()) {
        return (
            out,
            Some(Flaw::Fatal(
                "it would be percent-encoded twice once decoded (`%25` followed by hex digits)",
            )),
        );
    }
    (out, fixable.map(Flaw::Fixable))
}

fn has_double_encoding(bytes: &[u8]) -> bool {
    bytes
        .windows(5)
        .any(|w| w.starts_with(b"%25") && hex_value(w[3]).is_some() && hex_value(w[4]).is_some())
}

fn path_error(why: &str, canonical: Option<&str>) -> Error {
    let message = match canonical {
        Some(canonical) => format!("is not canonical: {why}. Send the canonical form {canonical}"),
        None => format!("is not acceptable: {why}. It has no canonical form; send a plain path"),
    };
    Error::invalid(vec![FieldError::new("path", message)])
}

fn check_query(query: &str) -> Result<(), Error> {
    let why = if query.len() > MAX_QUERY_BYTES {
        Some("is longer than 8192 bytes")
    } else {
        let bytes = query.as_bytes();
        let mut problem = None;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'%' if decode_escape(bytes, i).is_none() => {
                    problem = Some("has a `%` not followed by two hex digits");
                }
                b'#' => problem = Some("has `#`"),
                0x00..=0x20 | 0x7f..=0xff => {
                    problem = Some("has a control character, space or non-ASCII byte");
                }
                _ => {}
            }
            if problem.is_some() {
                break;
            }
        }
        problem
    };
    match why {
        Some(why) => Err(Error::invalid(vec![FieldError::new(
            "query",
            format!("{why}; percent-encode its values"),
        )])),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
