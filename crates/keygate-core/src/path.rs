//! Request-path hygiene. The path decides the route, the scope, the product and, for live keys,
//! the URL sent to the origin, so any spelling that two parsers could read differently is
//! refused before any of that happens: dot segments, empty segments, backslashes, control
//! characters, and percent-encoded `/`, `\`, `.` or control characters.

use crate::error::Error;

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 2048;

/// Returns `path` unchanged if it is safe to route and forward, else 400 saying why. The path
/// is never echoed: a misused client may have put a key in it.
pub fn normalize_request_path(path: &str) -> Result<&str, Error> {
    let refuse = |why: &str| {
        Err(Error::bad_request(format!(
            "The request path is not acceptable: {why}. Use a plain path such as /v1/accounts."
        )))
    };
    if !path.starts_with('/') {
        return refuse("it must start with `/`");
    }
    if path.len() > MAX_PATH_BYTES {
        return refuse("it is longer than 2048 bytes");
    }
    let bytes = path.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\\' => return refuse("it contains a backslash"),
            b'?' | b'#' => return refuse("it contains `?` or `#` (send the query separately)"),
            0x00..=0x20 | 0x7f..=0xff => {
                return refuse("it contains a control character, space or non-ASCII byte");
            }
            b'%' => {
                let decoded = match (bytes.get(i + 1), bytes.get(i + 2)) {
                    (Some(&h), Some(&l)) => hex(h).zip(hex(l)).map(|(h, l)| h << 4 | l),
                    _ => None,
                };
                match decoded {
                    None => {
                        return refuse("it contains a `%` that is not followed by two hex digits");
                    }
                    Some(b'/' | b'\\' | b'.') => {
                        return refuse("it contains a percent-encoded `/`, `\\` or `.`");
                    }
                    Some(0x00..=0x1f | 0x7f) => {
                        return refuse("it contains a percent-encoded control character");
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
    }
    if path
        .split('/')
        .any(|segment| segment == "." || segment == "..")
    {
        return refuse("it contains a `.` or `..` segment");
    }
    // A trailing `/` is a legitimate resource spelling; an empty segment elsewhere is not.
    if path.contains("//") {
        return refuse("it contains an empty segment (`//`)");
    }
    Ok(path)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn plain_paths_pass_unchanged() {
        for ok in [
            "/",
            "/v1/accounts",
            "/v1/accounts/acc_123/transactions",
            "/v1/a-b_c~d.e",
            "/v1/x/",
            "/v1/%41%20b",
            "/v1/a.b",
            "/v1/..x",
            "/v1/x..",
        ] {
            assert_eq!(normalize_request_path(ok).unwrap(), ok);
        }
    }

    #[test]
    fn refusals() {
        for (bad, says) in [
            ("", "start with"),
            ("v1/accounts", "start with"),
            ("/v1//accounts", "empty segment"),
            ("//v1", "empty segment"),
            ("/v1/./accounts", "`.` or `..`"),
            ("/v1/../admin", "`.` or `..`"),
            ("/v1/..", "`.` or `..`"),
            ("/.", "`.` or `..`"),
            ("/v1\\admin", "backslash"),
            ("/v1/a\u{0}b", "control"),
            ("/v1/a\tb", "control"),
            ("/v1/a\u{7f}", "control"),
            ("/v1/a b", "space"),
            ("/v1/é", "non-ASCII"),
            ("/v1/%2e%2e/admin", "percent-encoded"),
            ("/v1/%2E", "percent-encoded"),
            ("/v1%2fadmin", "percent-encoded"),
            ("/v1%2Fadmin", "percent-encoded"),
            ("/v1%5cadmin", "percent-encoded"),
            ("/v1%5Cadmin", "percent-encoded"),
            ("/v1/%00", "percent-encoded control"),
            ("/v1/%0A", "percent-encoded control"),
            ("/v1/%", "two hex digits"),
            ("/v1/%2", "two hex digits"),
            ("/v1/%zz", "two hex digits"),
            ("/v1/x?y=1", "`?`"),
            ("/v1/x#y", "`#`"),
        ] {
            let e = normalize_request_path(bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad:?}");
            assert!(e.message.contains(says), "{bad:?}: {}", e.message);
        }
    }

    #[test]
    fn length_limit() {
        let at_limit = format!("/{}", "a".repeat(MAX_PATH_BYTES - 1));
        assert!(normalize_request_path(&at_limit).is_ok());
        let over = format!("/{}", "a".repeat(MAX_PATH_BYTES));
        assert!(
            normalize_request_path(&over)
                .unwrap_err()
                .message
                .contains("2048")
        );
    }

    #[test]
    fn the_path_is_never_echoed() {
        let e = normalize_request_path("/v1/sk_test_secret/../x").unwrap_err();
        assert!(!e.message.contains("sk_test_secret"));
    }
}
