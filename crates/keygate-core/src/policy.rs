//! The edge decision, SPEC §3 steps 2–9, in that order; the first failure answers.
//!
//! The worker does the I/O between the two halves:
//!
//! ```text
//! authenticate(facts)  → steps 2–4 (HTTPS, credential, offline format): no storage read unless Ok
//! lookup(hash)         → step 5, the worker: None → unknown_key() 401, error → store_unavailable() 503
//! authorize(record)    → steps 6–9 (state, IP allowlists, route + product key, scope) → Grant
//! ```

use crate::config::{GatewayConfig, RouteMatch};
use crate::credentials::extract_credential;
use crate::error::{Error, FieldError};
use crate::ip::{client_ip, stored_list_permits};
use crate::keys::{Environment, KEY_LEN, KeyHash, KeyKind, parse_key};
use crate::model::{EdgeRecord, key_state};
use crate::page::query_pairs;
use crate::path::normalize_request_path;
use crate::scope::{self, KEYS_MANAGE};
use std::fmt;

/// Deployment switches (SPEC §7 `[vars]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// Refuse plain-HTTP requests with 403. Off only for local development.
    pub require_https: bool,
    /// Answer a missing scope with the unknown-route 404 instead of 403.
    pub hide_forbidden: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            require_https: true,
            hide_forbidden: false,
        }
    }
}

impl Settings {
    /// From the raw variables. Fail safe: only the exact string `"false"` turns HTTPS
    /// enforcement off, and only the exact string `"true"` turns hiding on.
    pub fn from_vars(require_https: Option<&str>, hide_forbidden: Option<&str>) -> Self {
        Self {
            require_https: require_https != Some("false"),
            hide_forbidden: hide_forbidden == Some("true"),
        }
    }
}

/// What the pipeline reads from a request. `path` excludes the query string.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub https: bool,
    pub method: &'a str,
    pub path: &'a str,
    /// The raw query string, without `?`; `None` when the URL has none.
    pub query: Option<&'a str>,
    pub authorization: Option<&'a str>,
    pub x_api_key: Option<&'a str>,
    pub x_product_key: Option<&'a str>,
    pub cf_connecting_ip: Option<&'a str>,
}

/// A well-formed secret key, ready to be looked up by `hash`. `Debug` never shows `text`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    pub text: String,
    pub environment: Environment,
    pub hash: KeyHash,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("environment", &self.environment)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// What a request may do, once every check has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account_id: String,
    pub key_id: String,
    pub environment: Environment,
    /// The product whose prefix the path is under, if any.
    pub product: Option<String>,
    /// The scope the route needed (and the key holds).
    pub scope: String,
}

/// Step 2. Never a redirect: a redirect would teach clients that sending the key over plain
/// HTTP works, after it has already crossed the network in clear.
pub fn check_https(https: bool, settings: &Settings) -> Result<(), Error> {
    if settings.require_https && !https {
        return Err(Error::forbidden(
            "HTTPS is required. Call the API at its https:// address; plain-HTTP requests are \
             refused, not redirected. If you sent a key over HTTP, roll it.",
        ));
    }
    Ok(())
}

/// Steps 2–4: HTTPS, credential, offline format. No storage read happens unless this is Ok.
pub fn authenticate(facts: &RequestFacts<'_>, settings: &Settings) -> Result<Credential, Error> {
    check_https(facts.https, settings)?;
    let text = extract_credential(facts.authorization, facts.x_api_key)?;
    reject_secret_in_url(facts.path, facts.query)?;
    let parsed = parse_key(&text).map_err(Error::with_challenge)?;
    if parsed.kind() == KeyKind::Product {
        return Err(Error::unauthorized(
            "This is a product key (pk_…). Product keys identify a product; authenticate with \
             your secret key (sk_…) and send the product key in `X-Product-Key`.",
        )
        .with_challenge());
    }
    let environment = parsed.environment();
    let hash = parsed.hash();
    Ok(Credential {
        text,
        environment,
        hash,
    })
}

/// Step 3: a key in the URL is never accepted (without a header credential the answer is the
/// 401 above), and with one, a secret key anywhere in the URL is refused (400) rather than
/// forwarded into the origin's access logs. Only a real key
/// (valid checksum) counts, so ordinary values that merely start with `sk_` pass.
fn reject_secret_in_url(path: &str, query: Option<&str>) -> Result<(), Error> {
    let decoded = query.map(query_pairs).unwrap_or_default();
    let parts = std::iter::once(path).chain(
        decoded
            .iter()
            .flat_map(|(name, value)| [name.as_str(), value.as_str()]),
    );
    for part in parts {
        if contains_secret_key(part) {
            return Err(Error::invalid(vec![FieldError::new(
                "url",
                "contains a secret API key. Keys in URLs end up in logs and browser history: \
                 send the key in the Authorization header, and roll this one",
            )]));
        }
    }
    Ok(())
}

fn contains_secret_key(text: &str) -> bool {
    text.match_indices("sk_").any(|(start, _)| {
        text.get(start..start + KEY_LEN)
            .and_then(|candidate| parse_key(candidate).ok())
            .is_some_and(|key| key.kind() == KeyKind::Secret)
    })
}

/// Step 5, unknown hash: 401. Deliberately the same for a deleted key and one never issued.
pub fn unknown_key() -> Error {
    Error::unauthorized(
        "Unknown API key. It may have been deleted, or copied from another environment or \
         service. Check that you are using a current key.",
    )
    .with_challenge()
}

/// Step 5, the key store unreachable or answering an error: 503, fail closed.
pub fn store_unavailable() -> Error {
    Error::unavailable(
        "The key store is temporarily unavailable, so the request could not be authorised. \
         Retry shortly.",
    )
    .with_retry_after(1)
}

/// The 404 of an unknown route, and of a hidden 403: identical, so they cannot be told apart.
pub fn route_not_found() -> Error {
    Error::not_found("No such route. Check the method and path against the API reference.")
}

/// The one 404 for every product-key failure: malformed, unknown, another account's, the other
/// environment's, another product's, or not allowed for this secret key. One message, so that
/// no answer reveals that another tenant's product key exists.
pub fn product_key_not_found() -> Error {
    Error::not_found(
        "Unknown product key for this route. Send in `X-Product-Key` the product key your \
         account was given for this product and environment.",
    )
}

/// Steps 6–9, after the worker looked the credential's hash up and found `record`.
pub fn authorize(
    facts: &RequestFacts<'_>,
    record: &EdgeRecord,
    config: &GatewayConfig,
    settings: &Settings,
    now: i64,
) -> Result<Grant, Error> {
    check_record(record)?;
    let key = &record.key;
    // Step 6.
    key_state(key, &record.account, now)?;
    // Step 7.
    check_ip(facts, record)?;
    // Step 8: route, then product key.
    let path = normalize_request_path(facts.path)?;
    let route = match config.route_for(facts.method, path) {
        RouteMatch::Found(route) if route.serves(key.environment) => route,
        RouteMatch::Found(_) | RouteMatch::NotFound => return Err(route_not_found()),
        RouteMatch::MethodNotAllowed(allow) => return Err(Error::method_not_allowed(allow)),
    };
    let product = match config.product_for_path(path) {
        None => None,
        Some(product) => {
            check_product_key(facts.x_product_key, record, &product.id)?;
            Some(product.id.clone())
        }
    };
    // Step 9.
    if !scope::grants(&key.scopes, &route.scope) {
        if settings.hide_forbidden {
            return Err(route_not_found());
        }
        return Err(Error::forbidden(format!(
            "This API key lacks the scope `{}` that {} {} needs. Add the scope to the key, or \
             use a key that has it.",
            route.scope, route.method, route.path
        )));
    }
    Ok(Grant {
        account_id: key.account_id.clone(),
        key_id: key.id.clone(),
        environment: key.environment,
        product,
        scope: route.scope.clone(),
    })
}

/// For the admin API's key endpoints (SPEC §6): steps 6 and 7, then the `keys:manage` scope.
/// Returns the account the key may manage. Call after [`authenticate`] and the lookup.
pub fn authorize_key_manager(
    facts: &RequestFacts<'_>,
    record: &EdgeRecord,
    settings: &Settings,
    now: i64,
) -> Result<String, Error> {
    check_https(facts.https, settings)?;
    check_record(record)?;
    key_state(&record.key, &record.account, now)?;
    check_ip(facts, record)?;
    if !scope::grants(&record.key.scopes, KEYS_MANAGE) {
        return Err(Error::forbidden(
            "This API key lacks the scope `keys:manage` needed to manage keys. Use the admin \
             token, or a key that has the scope.",
        ));
    }
    Ok(record.key.account_id.clone())
}

/// A record whose key and account disagree can only come from a storage bug; refusing it (500)
/// is failing closed without blaming the caller.
fn check_record(record: &EdgeRecord) -> Result<(), Error> {
    if record.key.account_id != record.account.id {
        return Err(Error::internal());
    }
    Ok(())
}

fn check_ip(facts: &RequestFacts<'_>, record: &EdgeRecord) -> Result<(), Error> {
    let client = client_ip(facts.cf_connecting_ip);
    let lists = [
        ("account", "account's", &record.account.allowed_ips),
        ("key", "key's", &record.key.allowed_ips),
    ];
    for (owner, owners, entries) in lists {
        // Stored lists were validated on write; one that no longer parses fails closed.
        if !stored_list_permits(entries, client)? {
            let who = match client {
                Some(addr) => format!("Requests from {addr} are not allowed"),
                None => "Requests without a known client address are not allowed".to_string(),
            };
            return Err(Error::forbidden(format!(
                "{who} for this {owner}. Call from an address on the {owners} IP allowlist, or \
                 ask for the allowlist to be extended."
            )));
        }
    }
    Ok(())
}

fn check_product_key(
    given: Option<&str>,
    record: &EdgeRecord,
    product_id: &str,
) -> Result<(), Error> {
    let Some(given) = given.map(|v| v.trim_matches([' ', '\t'])) else {
        return Err(Error::invalid(vec![FieldError::new(
            "X-Product-Key",
            "is required for this route; send the product key (pk_…) of the product it belongs to",
        )]));
    };
    if given.is_empty() {
        return Err(Error::invalid(vec![FieldError::new(
            "X-Product-Key",
            "is empty; send the product key (pk_…) of the product this route belongs to",
        )]));
    }
    let key = &record.key;
    let parsed = parse_key(given).map_err(|_| product_key_not_found())?;
    if parsed.kind() != KeyKind::Product || parsed.environment() != key.environment {
        return Err(product_key_not_found());
    }
    if !key.products.is_empty() && !key.products.iter().any(|p| p == product_id) {
        return Err(product_key_not_found());
    }
    let hash = parsed.hash();
    let entitled = record.product_keys.iter().any(|entry| {
        entry.product_id == product_id
            && entry.environment == key.environment
            && entry.hash.ct_eq(&hash)
    });
    if !entitled {
        return Err(product_key_not_found());
    }
    Ok(())
}

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

/// Request headers never forwarded to the origin besides the hop-by-hop ones: credentials,
/// anything the gateway itself sets or that claims to describe the client (only keygate's
/// signed headers may tell the origin who is calling).
const NOT_FORWARDED: [&str; 7] = [
    "authorization",
    "x-api-key",
    "x-product-key",
    "x-request-id",
    "host",
    "content-length",
    "x-real-ip",
];

/// Origin response headers never relayed besides the hop-by-hop ones: the runtime sets its own
/// length (re-encoding may change it), and the request id on the answer is keygate's.
const NOT_RELAYED: [&str; 2] = ["content-length", "x-request-id"];

const NOT_FORWARDED_PREFIXES: [&str; 3] = ["x-keygate-", "cf-", "x-forwarded-"];

/// Whether an incoming request header may be passed to the origin. `connection` is the value
/// of the request's `Connection` header (`""` if none): the headers it names are hop-by-hop
/// too (RFC 9110 §7.6.1) and are dropped.
pub fn forwardable_request_header(name: &str, connection: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    if is_hop_by_hop(&lower, connection)
        || NOT_FORWARDED.contains(&lower.as_str())
        || lower == "forwarded"
    {
        return false;
    }
    !NOT_FORWARDED_PREFIXES.iter().any(|p| lower.starts_with(p))
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
