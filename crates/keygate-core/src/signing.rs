//! Origin request signing (step `dispatch`, docs/edge-pipeline.md): what proves to the origin
//! that a live request passed the gateway. The canonical string is documented in
//! `docs/origin-signing.md`:
//!
//! ```text
//! v1\n{timestamp}\n{request_id}\n{account}\n{key_id}\n{environment}\n{product or empty}\n{METHOD}\n{path_and_query}
//! ```
//!
//! Every field is a header value (no newlines possible) or the request line, so the newline
//! separator is unambiguous. The signature is lowercase hex HMAC-SHA256 under
//! `ORIGIN_SIGNING_SECRET`.

use crate::keys::KeyHash;
use crate::policy::Grant;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// Version tag leading the canonical string; a future format changes it.
pub const VERSION: &str = "v1";

/// The key's account id (`acct_…`).
pub const ACCOUNT: &str = "X-Keygate-Account";
/// The key's id (`key_…`), never the secret.
pub const KEY: &str = "X-Keygate-Key";
/// `test` or `live`.
pub const ENVIRONMENT: &str = "X-Keygate-Environment";
/// The route's product id; absent when the route has none.
pub const PRODUCT: &str = "X-Keygate-Product";
/// The gateway's request id (`req_…`), also in every answer to the client.
pub const REQUEST_ID: &str = "X-Request-Id";
/// Unix seconds when the gateway signed the request.
pub const TIMESTAMP: &str = "X-Keygate-Timestamp";
/// Lowercase hex HMAC-SHA256 of the canonical string under `ORIGIN_SIGNING_SECRET`.
pub const SIGNATURE: &str = "X-Keygate-Signature";

/// The signed values, as the gateway sends them or as the origin reads them back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignedFields<'a> {
    /// Unix seconds of signing ([`TIMESTAMP`]).
    pub timestamp: i64,
    /// [`REQUEST_ID`].
    pub request_id: &'a str,
    /// The account id ([`ACCOUNT`]).
    pub account: &'a str,
    /// The key id ([`KEY`]).
    pub key_id: &'a str,
    /// `test` or `live` ([`ENVIRONMENT`]).
    pub environment: &'a str,
    /// `""` when the route belongs to no product.
    pub product: &'a str,
    /// The request method; the canonical string uppercases it.
    pub method: &'a str,
    /// The path and, if any, `?` and the query, exactly as sent to the origin.
    pub path_and_query: &'a str,
}

/// The string the signature covers. `method` is uppercased.
pub fn canonical_string(fields: &SignedFields<'_>) -> String {
    let method = fields.method.to_ascii_uppercase();
    [
        VERSION,
        &fields.timestamp.to_string(),
        fields.request_id,
        fields.account,
        fields.key_id,
        fields.environment,
        fields.product,
        &method,
        fields.path_and_query,
    ]
    .join("\n")
}

fn mac(secret: &[u8], canonical: &str) -> HmacSha256 {
    // RFC 2104 key preparation done here (hash a key longer than the block, zero-pad to the
    // block) so construction is infallible instead of a `Result` that can never be `Err`.
    let mut block = [0u8; 64];
    if secret.len() > block.len() {
        block[..32].copy_from_slice(&Sha256::digest(secret));
    } else {
        block[..secret.len()].copy_from_slice(secret);
    }
    let mut mac = <HmacSha256 as KeyInit>::new(&block.into());
    mac.update(canonical.as_bytes());
    mac
}

/// Lowercase hex HMAC-SHA256 of the canonical string.
pub fn sign(secret: &[u8], fields: &SignedFields<'_>) -> String {
    hmac_hex(secret, &canonical_string(fields))
}

/// Lowercase hex HMAC-SHA256 of `message` (origin signatures and webhook signatures).
pub fn hmac_hex(secret: &[u8], message: &str) -> String {
    let tag: [u8; 32] = mac(secret, message).finalize().into_bytes().into();
    // Same lowercase-hex encoding as a key hash.
    KeyHash::from_bytes(tag).to_hex()
}

/// The headers to add to a request forwarded to the origin, in a fixed order:
/// `X-Keygate-Account`, `X-Keygate-Key` (the key *id*, never the secret),
/// `X-Keygate-Environment`, `X-Keygate-Product` (only when the route has one), `X-Request-Id`,
/// `X-Keygate-Timestamp` and `X-Keygate-Signature`.
pub fn origin_headers(
    secret: &[u8],
    grant: &Grant,
    request_id: &str,
    timestamp: i64,
    method: &str,
    path_and_query: &str,
) -> Vec<(&'static str, String)> {
    let fields = SignedFields {
        timestamp,
        request_id,
        account: &grant.account_id,
        key_id: &grant.key_id,
        environment: grant.environment.as_str(),
        product: grant.product.as_deref().unwrap_or(""),
        method,
        path_and_query,
    };
    let signature = sign(secret, &fields);
    let mut headers = Vec::with_capacity(7);
    headers.push((ACCOUNT, grant.account_id.clone()));
    headers.push((KEY, grant.key_id.clone()));
    headers.push((ENVIRONMENT, grant.environment.as_str().to_string()));
    if let Some(product) = &grant.product {
        headers.push((PRODUCT, product.clone()));
    }
    headers.push((REQUEST_ID, request_id.to_string()));
    headers.push((TIMESTAMP, timestamp.to_string()));
    headers.push((SIGNATURE, signature));
    headers
}

/// The signed headers as an origin receives them; `None` for an absent header.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReceivedHeaders<'a> {
    /// [`ACCOUNT`].
    pub account: Option<&'a str>,
    /// [`KEY`].
    pub key: Option<&'a str>,
    /// [`ENVIRONMENT`].
    pub environment: Option<&'a str>,
    /// [`PRODUCT`]; absent for a route without a product.
    pub product: Option<&'a str>,
    /// [`REQUEST_ID`].
    pub request_id: Option<&'a str>,
    /// [`TIMESTAMP`], as text (parsed by [`verify`]).
    pub timestamp: Option<&'a str>,
    /// [`SIGNATURE`].
    pub signature: Option<&'a str>,
}

impl<'a> ReceivedHeaders<'a> {
    /// Collects the headers through a case-insensitive lookup, e.g. a closure over the origin
    /// framework's header map.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<&'a str>) -> Self {
        Self {
            account: lookup(ACCOUNT),
            key: lookup(KEY),
            environment: lookup(ENVIRONMENT),
            product: lookup(PRODUCT),
            request_id: lookup(REQUEST_ID),
            timestamp: lookup(TIMESTAMP),
            signature: lookup(SIGNATURE),
        }
    }
}

/// The origin's check: every required header present, the timestamp within `max_age_seconds`
/// of `now` (either direction, for clock skew), and the signature right, compared in constant
/// time. A reference for origins written in Rust, and the specification the others follow.
pub fn verify(
    secret: &[u8],
    headers: &ReceivedHeaders<'_>,
    method: &str,
    path_and_query: &str,
    now: i64,
    max_age_seconds: i64,
) -> bool {
    let (
        Some(account),
        Some(key_id),
        Some(environment),
        Some(request_id),
        Some(timestamp),
        Some(signature),
    ) = (
        headers.account,
        headers.key,
        headers.environment,
        headers.request_id,
        headers.timestamp,
        headers.signature,
    )
    else {
        return false;
    };
    // Strict decimal: `+5`, ` 5` or `05` are not what the gateway sends.
    let canonical_number = |t: &str| {
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) && (t == "0" || !t.starts_with('0'))
    };
    if !canonical_number(timestamp) {
        return false;
    }
    let Ok(timestamp) = timestamp.parse::<i64>() else {
        return false;
    };
    // A negative window accepts nothing rather than being read as its absolute value.
    let Ok(max_age) = u64::try_from(max_age_seconds) else {
        return false;
    };
    if now.abs_diff(timestamp) > max_age {
        return false;
    }
    // Exactly 64 lowercase hex digits, the same encoding as a key hash.
    let Some(tag) = KeyHash::from_hex(signature) else {
        return false;
    };
    let fields = SignedFields {
        timestamp,
        request_id,
        account,
        key_id,
        environment,
        product: headers.product.unwrap_or(""),
        method,
        path_and_query,
    };
    if [
        account,
        key_id,
        environment,
        fields.product,
        request_id,
        path_and_query,
        method,
    ]
    .iter()
    .any(|v| v.contains('\n'))
    {
        return false;
    }
    mac(secret, &canonical_string(&fields))
        .verify_slice(tag.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::Environment;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const SECRET: &[u8] = b"origin-signing-secret";
    const NOW: i64 = 1_700_000_000;

    fn grant(product: Option<&str>) -> Grant {
        Grant {
            account_id: "acct_1".into(),
            key_id: "key_1".into(),
            environment: Environment::Live,
            product: product.map(Into::into),
            scope: "transactions:read".into(),
            key_rate_limit: None,
            account_rate_limit: None,
            ip_would_deny: None,
            account_quota: None,
            key_quota: None,
            credits: None,
            costed_route: None,
            cost: 1,
        }
    }

    fn headers_of<'a>(list: &'a [(&'static str, String)]) -> ReceivedHeaders<'a> {
        ReceivedHeaders::from_lookup(|name| {
            list.iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        })
    }

    #[test]
    fn canonical_string_layout() {
        let fields = SignedFields {
            timestamp: 1_700_000_000,
            request_id: "req_1",
            account: "acct_1",
            key_id: "key_1",
            environment: "live",
            product: "",
            method: "get",
            path_and_query: "/v1/accounts?limit=2",
        };
        assert_eq!(
            canonical_string(&fields),
            "v1\n1700000000\nreq_1\nacct_1\nkey_1\nlive\n\nGET\n/v1/accounts?limit=2"
        );
    }

    #[test]
    fn known_answer() {
        // Computed independently: printf
        // 'v1\n1700000000\nreq_1\nacct_1\nkey_1\nlive\nbank_data\nGET\n/v1/accounts' | openssl dgst
        // -sha256 -hmac origin-signing-secret
        let fields = SignedFields {
            timestamp: 1_700_000_000,
            request_id: "req_1",
            account: "acct_1",
            key_id: "key_1",
            environment: "live",
            product: "bank_data",
            method: "GET",
            path_and_query: "/v1/accounts",
        };
        assert_eq!(sign(SECRET, &fields), KNOWN_SIGNATURE);
    }

    const LONG_KEY_TAG: &str = "0482265a92ce176b0374f2192380b21e2d40126432c52f865cc0957053ae7a14";
    const EMPTY_KEY_TAG: &str = "a64092104c76d9ef65599c33c177609ecd49857456eb28133c4daea25bea960a";
    const BLOCK_KEY_TAG: &str = "3b7a8d453e76edb519238a515105a57508d0f169f480ebeee120a9e7803289fa";

    const KNOWN_SIGNATURE: &str =
        "000e8b069ccb70983dabf0fa26f68020d5ff45ee10d2aed120779d09def3733c";

    #[test]
    fn keys_of_any_length_match_standard_hmac() {
        // python3 -c "import
        // hmac,hashlib;print(hmac.new(b'k'*100,b'm',hashlib.sha256).hexdigest())"
        let tag = |key: &[u8]| {
            mac(key, "m")
                .finalize()
                .into_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        };
        assert_eq!(tag(&[b'k'; 100]), LONG_KEY_TAG);
        assert_eq!(tag(b""), EMPTY_KEY_TAG);
        assert_eq!(tag(&[b'k'; 64]), BLOCK_KEY_TAG);
    }

    #[test]
    fn headers_are_exactly_the_documented_ones() {
        let h = origin_headers(
            SECRET,
            &grant(Some("bank_data")),
            "req_1",
            NOW,
            "GET",
            "/v1/x",
        );
        let names: Vec<_> = h.iter().map(|(n, _)| *n).collect();
        assert_eq!(
            names,
            [
                ACCOUNT,
                KEY,
                ENVIRONMENT,
                PRODUCT,
                REQUEST_ID,
                TIMESTAMP,
                SIGNATURE
            ]
        );
        assert_eq!(h[1].1, "key_1");
        assert_eq!(h[2].1, "live");
        assert_eq!(h[5].1, NOW.to_string());
        let signature = &h[6].1;
        assert_eq!(signature.len(), 64);
        assert!(
            signature
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );

        let h = origin_headers(SECRET, &grant(None), "req_1", NOW, "GET", "/v1/x");
        assert!(h.iter().all(|(n, _)| *n != PRODUCT));
        assert_eq!(h.len(), 6);
    }

    #[test]
    fn round_trip_verifies() {
        for product in [None, Some("bank_data")] {
            let h = origin_headers(SECRET, &grant(product), "req_1", NOW, "POST", "/v1/q?a=1");
            assert!(verify(
                SECRET,
                &headers_of(&h),
                "POST",
                "/v1/q?a=1",
                NOW,
                300
            ));
            assert!(verify(
                SECRET,
                &headers_of(&h),
                "post",
                "/v1/q?a=1",
                NOW + 300,
                300
            ));
            assert!(verify(
                SECRET,
                &headers_of(&h),
                "POST",
                "/v1/q?a=1",
                NOW - 300,
                300
            ));
        }
    }

    #[test]
    fn any_tampering_fails() {
        let h = origin_headers(
            SECRET,
            &grant(Some("bank_data")),
            "req_1",
            NOW,
            "GET",
            "/v1/x",
        );
        let ok = headers_of(&h);
        assert!(!verify(b"other secret", &ok, "GET", "/v1/x", NOW, 300));
        assert!(!verify(SECRET, &ok, "POST", "/v1/x", NOW, 300));
        assert!(!verify(SECRET, &ok, "GET", "/v1/y", NOW, 300));
        assert!(!verify(SECRET, &ok, "GET", "/v1/x", NOW + 301, 300));
        assert!(!verify(SECRET, &ok, "GET", "/v1/x", NOW - 301, 300));
        assert!(!verify(SECRET, &ok, "GET", "/v1/x", NOW, -1));
        assert!(verify(SECRET, &ok, "GET", "/v1/x", NOW, 0));
        for field in 0..7 {
            let mut fields = [
                ok.account,
                ok.key,
                ok.environment,
                ok.product,
                ok.request_id,
                ok.timestamp,
                ok.signature,
            ];
            let altered = format!("{}0", fields[field].unwrap());
            fields[field] = Some(&altered);
            let tampered = ReceivedHeaders {
                account: fields[0],
                key: fields[1],
                environment: fields[2],
                product: fields[3],
                request_id: fields[4],
                timestamp: fields[5],
                signature: fields[6],
            };
            assert!(
                !verify(SECRET, &tampered, "GET", "/v1/x", NOW, i64::MAX),
                "field {field}"
            );
        }
        // Dropping the product header changes the canonical string too.
        let without_product = ReceivedHeaders {
            product: None,
            ..ok
        };
        assert!(!verify(SECRET, &without_product, "GET", "/v1/x", NOW, 300));
        let missing = ReceivedHeaders {
            signature: None,
            ..ok
        };
        assert!(!verify(SECRET, &missing, "GET", "/v1/x", NOW, 300));
    }

    #[test]
    fn odd_encodings_are_refused() {
        let h = origin_headers(SECRET, &grant(None), "req_1", NOW, "GET", "/v1/x");
        let ok = headers_of(&h);
        let upper = ok.signature.unwrap().to_uppercase();
        assert!(!verify(
            SECRET,
            &ReceivedHeaders {
                signature: Some(&upper),
                ..ok
            },
            "GET",
            "/v1/x",
            NOW,
            300
        ));
        let padded = format!("0{NOW}");
        let h2 = origin_headers(SECRET, &grant(None), "req_1", NOW, "GET", "/v1/x");
        let ok2 = headers_of(&h2);
        assert!(!verify(
            SECRET,
            &ReceivedHeaders {
                timestamp: Some(&padded),
                ..ok2
            },
            "GET",
            "/v1/x",
            NOW,
            300
        ));
        assert!(!verify(
            SECRET,
            &ReceivedHeaders {
                timestamp: Some("-1"),
                ..ok2
            },
            "GET",
            "/v1/x",
            NOW,
            i64::MAX
        ));
        assert!(!verify(
            SECRET,
            &ReceivedHeaders {
                signature: Some("zz"),
                ..ok2
            },
            "GET",
            "/v1/x",
            NOW,
            300
        ));
    }
}
