//! The one place that reads a credential off a request (step `credential`, docs/edge-pipeline.md).
//!
//! Accepted: `Authorization: Basic base64(key + ":")`, `Authorization: Bearer key`, and
//! `X-API-Key: key`. The query string is never looked at: URLs end up in logs and histories.
//! Nothing here checks the key's format; that is [`crate::keys::parse_key`]'s job (401), so a
//! 400 from here always means the *header* is malformed, not the key.

use crate::error::{Error, FieldError};
use crate::keys::constant_time_eq;
use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Longest credential header value accepted. Keys are 46 characters; anything near this is
/// not a key, and refusing it early bounds the work done on hostile input.
pub const MAX_CREDENTIAL_BYTES: usize = 1024;

const AUTHORIZATION: &str = "Authorization";
const X_API_KEY: &str = "X-API-Key";

/// Clients differ on padding in Basic credentials; the padding carries no information.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The 401 for a request that carries no credential at all.
pub fn missing_credential() -> Error {
    Error::unauthorized(
        "No API key. Send it as `Authorization: Bearer <key>`, as the username of HTTP Basic \
         auth (`curl -u <key>:`), or in the `X-API-Key` header.",
    )
    .with_challenge()
}

/// The key text from whichever of the two headers carries it.
///
/// - neither header → 401 with the `WWW-Authenticate` challenge;
/// - an `Authorization` scheme other than Basic or Bearer → 401 with the challenge;
/// - a malformed header (bad base64, not UTF-8, empty, whitespace inside, over
///   [`MAX_CREDENTIAL_BYTES`]) → 400 naming the header in `errors`;
/// - two different keys → 400; the same key twice is accepted.
pub fn extract_credential(
    authorization: Option<&str>,
    x_api_key: Option<&str>,
) -> Result<String, Error> {
    let from_authorization = authorization.map(from_authorization).transpose();
    let from_x_api_key = x_api_key
        .map(|v| token(v.trim_matches(is_ows), X_API_KEY))
        .transpose();
    match (from_authorization, from_x_api_key) {
        // Both headers malformed: report both at once rather than one per round trip.
        (Err(a), Err(b)) if a.status == 400 && b.status == 400 => {
            let mut errors = a.errors;
            errors.extend(b.errors);
            Err(Error::invalid(errors))
        }
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(None), Ok(None)) => Err(missing_credential()),
        (Ok(Some(key)), Ok(None)) => Ok(key),
        (Ok(None), Ok(Some(key))) => Ok(key.to_string()),
        (Ok(Some(a)), Ok(Some(b))) => {
            if constant_time_eq(a.as_bytes(), b.as_bytes()) {
                Ok(a)
            } else {
                Err(Error::bad_request(
                    "Two different API keys were sent, in `Authorization` and in `X-API-Key`. \
                     Send exactly one key.",
                ))
            }
        }
    }
}

/// HTTP's optional whitespace around a header value.
fn is_ows(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn malformed(field: &str, message: &str) -> Error {
    Error::invalid(vec![FieldError::new(field, message)])
}

fn from_authorization(value: &str) -> Result<String, Error> {
    if value.len() > MAX_CREDENTIAL_BYTES {
        return Err(malformed(
            AUTHORIZATION,
            "is longer than 1024 bytes; an API key is 46 characters",
        ));
    }
    let value = value.trim_matches(is_ows);
    if value.is_empty() {
        return Err(malformed(
            AUTHORIZATION,
            "is empty; send `Authorization: Bearer <key>`",
        ));
    }
    let (scheme, rest) = match value.find(is_ows) {
        Some(at) => (&value[..at], value[at..].trim_start_matches(is_ows)),
        None => (value, ""),
    };
    if scheme.eq_ignore_ascii_case("bearer") {
        if rest.is_empty() {
            return Err(malformed(
                AUTHORIZATION,
                "has the Bearer scheme but no key after it",
            ));
        }
        return token(rest, AUTHORIZATION).map(str::to_string);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        return from_basic(rest);
    }
    // A bare key without a scheme is the most common mistake; say so, without echoing it.
    let message = if ["sk_", "pk_"].iter().any(|p| scheme.starts_with(p)) {
        "The `Authorization` header has no scheme. Send `Authorization: Bearer <key>`."
    } else {
        "Unsupported `Authorization` scheme. Send the key as `Authorization: Bearer <key>`, as \
         the username of HTTP Basic auth, or in the `X-API-Key` header."
    };
    Err(Error::unauthorized(message).with_challenge())
}

fn from_basic(encoded: &str) -> Result<String, Error> {
    if encoded.is_empty() {
        return Err(malformed(
            AUTHORIZATION,
            "has the Basic scheme but no credentials after it",
        ));
    }
    let decoded = BASE64.decode(encoded).map_err(|_| {
        malformed(
            AUTHORIZATION,
            "Basic credentials are not valid base64 of `<key>:`",
        )
    })?;
    let decoded = String::from_utf8(decoded)
        .map_err(|_| malformed(AUTHORIZATION, "Basic credentials are not valid UTF-8"))?;
    // The key is the username; the password, if any, is ignored (README "How a request is
    // checked").
    let (username, password) = decoded.split_once(':').unwrap_or((decoded.as_str(), ""));
    if username.is_empty() {
        let message = if password.is_empty() {
            "Basic credentials are empty; send the key as the username: `curl -u <key>:`"
        } else {
            "Basic credentials have an empty username; the key goes in the username and the \
             password stays empty: `curl -u <key>:`"
        };
        return Err(malformed(AUTHORIZATION, message));
    }
    token(username, AUTHORIZATION).map(str::to_string)
}

/// A key as it travels in a header: non-empty, bounded, no whitespace or control characters.
/// Other characters are left for the format check, which answers 401 with a precise reason.
fn token<'a>(value: &'a str, field: &str) -> Result<&'a str, Error> {
    if value.len() > MAX_CREDENTIAL_BYTES {
        return Err(malformed(
            field,
            "is longer than 1024 bytes; an API key is 46 characters",
        ));
    }
    if value.is_empty() {
        return Err(malformed(field, "is empty; it must contain the API key"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(malformed(
            field,
            "contains whitespace or a control character inside the key; check for a copy-paste \
             error",
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const KEY: &str = "sk_test_abc";
    const OTHER: &str = "sk_test_xyz";

    fn basic(s: &str) -> String {
        format!("Basic {}", STANDARD.encode(s))
    }

    fn field_error(e: &Error) -> &str {
        assert_eq!(e.status, 400, "{e}");
        &e.errors[0].field
    }

    #[test]
    fn bearer_in_any_case() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let header = format!("{scheme} {KEY}");
            assert_eq!(extract_credential(Some(&header), None).unwrap(), KEY);
        }
        assert_eq!(
            extract_credential(Some(&format!("  Bearer \t {KEY} ")), None).unwrap(),
            KEY
        );
    }

    #[test]
    fn basic_with_and_without_colon_and_password() {
        for user_pass in [
            format!("{KEY}:"),
            KEY.to_string(),
            format!("{KEY}:ignored:x"),
        ] {
            assert_eq!(
                extract_credential(Some(&basic(&user_pass)), None).unwrap(),
                KEY
            );
        }
        let unpadded = format!("basic {}", STANDARD_NO_PAD.encode(format!("{KEY}:")));
        assert_eq!(extract_credential(Some(&unpadded), None).unwrap(), KEY);
    }

    #[test]
    fn x_api_key() {
        assert_eq!(extract_credential(None, Some(KEY)).unwrap(), KEY);
        assert_eq!(
            extract_credential(None, Some(&format!(" {KEY}\t"))).unwrap(),
            KEY
        );
    }

    #[test]
    fn nothing_sent_is_401_with_challenge() {
        let e = extract_credential(None, None).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.challenge);
        assert!(e.message.starts_with("No API key."));
        assert!(e.errors.is_empty());
    }

    #[test]
    fn unknown_scheme_is_401_with_challenge_even_without_another_key() {
        for header in ["Digest username=x", "Token abc", "Negotiate"] {
            let e = extract_credential(Some(header), None).unwrap_err();
            assert_eq!(e.status, 401, "{header}");
            assert!(e.challenge);
            assert!(e.message.contains("Unsupported"), "{}", e.message);
            assert!(!e.message.contains("abc"));
        }
        // An unknown scheme is not silently skipped in favour of X-API-Key.
        let e = extract_credential(Some("Digest x"), Some(KEY)).unwrap_err();
        assert_eq!(e.status, 401);
    }

    #[test]
    fn bare_key_without_scheme_gets_a_pointed_message() {
        let e = extract_credential(Some(KEY), None).unwrap_err();
        assert_eq!(e.status, 401);
        assert!(e.message.contains("no scheme"));
        assert!(!e.message.contains(KEY));
    }

    #[test]
    fn two_different_keys_is_400_and_the_same_key_twice_is_fine() {
        let bearer = format!("Bearer {KEY}");
        let e = extract_credential(Some(&bearer), Some(OTHER)).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(!e.message.contains(KEY) && !e.message.contains(OTHER));
        assert_eq!(extract_credential(Some(&bearer), Some(KEY)).unwrap(), KEY);
        assert_eq!(
            extract_credential(Some(&basic(&format!("{KEY}:"))), Some(KEY)).unwrap(),
            KEY
        );
    }

    #[test]
    fn malformed_basic() {
        for header in ["Basic !!!notbase64", "Basic", "Basic    ", "Basic a b"] {
            let e = extract_credential(Some(header), None).unwrap_err();
            assert_eq!(field_error(&e), "Authorization", "{header}");
        }
        let not_utf8 = format!("Basic {}", STANDARD.encode([0xff, 0xfe, b':']));
        let e = extract_credential(Some(&not_utf8), None).unwrap_err();
        assert!(e.errors[0].message.contains("UTF-8"));
        let e = extract_credential(Some(&basic(":sk_test_abc")), None).unwrap_err();
        assert!(e.errors[0].message.contains("empty username"));
        assert!(!e.errors[0].message.contains(KEY));
        let e = extract_credential(Some(&basic(":")), None).unwrap_err();
        assert_eq!(field_error(&e), "Authorization");
        let e = extract_credential(Some(&basic("sk test:")), None).unwrap_err();
        assert!(e.errors[0].message.contains("whitespace"));
    }

    #[test]
    fn empty_or_spaced_values() {
        for header in ["", "   ", "Bearer", "Bearer   ", "Bearer sk_test_a b"] {
            let e = extract_credential(Some(header), None).unwrap_err();
            assert_eq!(field_error(&e), "Authorization", "{header:?}");
        }
        for value in ["", "  ", "sk_test a", "sk_test_\u{0}a"] {
            let e = extract_credential(None, Some(value)).unwrap_err();
            assert_eq!(field_error(&e), "X-API-Key", "{value:?}");
        }
    }

    #[test]
    fn oversized_values() {
        let long = "a".repeat(MAX_CREDENTIAL_BYTES + 1);
        let e = extract_credential(None, Some(&long)).unwrap_err();
        assert_eq!(field_error(&e), "X-API-Key");
        let e = extract_credential(Some(&format!("Bearer {long}")), None).unwrap_err();
        assert_eq!(field_error(&e), "Authorization");
        let just_fits = "a".repeat(MAX_CREDENTIAL_BYTES);
        assert_eq!(
            extract_credential(None, Some(&just_fits)).unwrap(),
            just_fits
        );
    }

    #[test]
    fn both_headers_malformed_reports_both() {
        let e = extract_credential(Some("Bearer "), Some("")).unwrap_err();
        assert_eq!(e.status, 400);
        let fields: Vec<_> = e.errors.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(fields, ["Authorization", "X-API-Key"]);
    }

    #[test]
    fn non_ascii_scheme_does_not_panic() {
        for header in ["Béarer x", "é", "\u{1F600} key", "Bearer\u{a0}key"] {
            assert!(extract_credential(Some(header), None).is_err(), "{header}");
        }
    }
}
