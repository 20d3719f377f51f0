//! The edge decision, docs/edge-pipeline.md, steps `https` to `scope`, in that order; the first
//! failure answers.
//!
//! The worker does the I/O between the two halves:
//!
//! ```text
//! authenticate(facts)  → steps `https`, `credential`, `format` (canonical target included, offline):
//!                        no storage read unless Ok
//! lookup(hash)         → step `lookup`, the worker: None → unknown_key() 401, error → store_unavailable() 503
//! authorize(record)    → steps `state`, `ip-allowlist`, `product-key`, `scope` → Grant
//! ```
//!
//! The route is matched on the canonical [`Target`] that `authenticate` returns, and the worker
//! forwards that same target: what is authorised is what the origin receives.

use crate::config::{GatewayConfig, Route, RouteMatch, allow_header};
use crate::credentials::extract_credential;
use crate::error::{Error, FieldError};
use crate::ip::IpAllowlist;
use crate::keys::{Environment, KeyHash, KeyKind, parse_key};
use crate::model::{ApiKey, EdgeRecord, IpMode, key_state};
use crate::quota::{self, Counter, Credits, Lane, Quota};
use crate::ratelimit::{Count, RateLimit};
use crate::scope::{self, KEYS_MANAGE};
use crate::target::{Target, parse_target};
use std::fmt;
use std::net::IpAddr;

/// Deployment switches (README "Configuration").
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

/// What the pipeline reads from a request, as the runtime gives it. `path` excludes the query
/// string; neither is trusted until [`authenticate`] has made them a canonical [`Target`].
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// Whether the request arrived over HTTPS (step `https`).
    pub https: bool,
    /// The request method as the runtime gives it (`GET`, `POST`, …); matched against the routes.
    pub method: &'a str,
    /// The URL path as sent, still percent-encoded; refused unless canonical.
    pub path: &'a str,
    /// The raw query string, without `?`; `None` when the URL has none.
    pub query: Option<&'a str>,
    /// The `Authorization` header: `Basic` or `Bearer` carrying the secret key.
    pub authorization: Option<&'a str>,
    /// The `X-API-Key` header: the secret key, as an alternative to `Authorization`.
    pub x_api_key: Option<&'a str>,
    /// The `X-Product-Key` header: the `pk_` key of the product a route needs.
    pub x_product_key: Option<&'a str>,
    /// The client address: `CF-Connecting-IP`, the only source allowlists trust, already parsed
    /// ([`crate::ip::client_address`]), so no decision or record ever holds its raw text.
    pub client_ip: Option<IpAddr>,
}

/// A well-formed secret key, ready to be looked up by `hash`. `Debug` never shows `text`.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The key text. A secret: never logged, never in `Debug`.
    pub text: String,
    /// Test or live, from the key's prefix; decides sandbox or origin.
    pub environment: Environment,
    /// What the edge record is looked up under.
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

/// A request that passed steps `https` to `format`: its well-formed key and its canonical target.
#[derive(Debug, Clone)]
pub struct Authenticated<'a> {
    /// The well-formed secret key, not yet looked up.
    pub credential: Credential,
    /// The canonical path and query; what is authorised and what is forwarded.
    pub target: Target<'a>,
}

/// What a request may do, once every check has passed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The key's account, `acct_…`.
    pub account_id: String,
    /// The key that authenticated, `key_…`.
    pub key_id: String,
    /// Test or live: whether the request goes to the sandbox or the origin.
    pub environment: Environment,
    /// The product the route belongs to, if any.
    pub product: Option<String>,
    /// The scope the route needed (and the key holds).
    pub scope: String,
    /// The key's own rate limit, if any.
    pub key_rate_limit: Option<RateLimit>,
    /// The account's rate limit, if any: one budget shared by all the account's keys.
    pub account_rate_limit: Option<RateLimit>,
    /// The client address, when an allowlist in `report` mode would have refused it.
    pub ip_would_deny: Option<String>,
    /// The account's quota, if any.
    pub account_quota: Option<Quota>,
    /// The key's own quota, if any.
    pub key_quota: Option<Quota>,
    /// The key's credits, if any.
    pub credits: Option<Credits>,
    /// The route, `METHOD /pattern`, where it has a cost of its own (the usage export's
    /// `route`).
    pub costed_route: Option<String>,
    /// Credits the request takes.
    pub cost: u64,
}

impl Grant {
    /// Whether a limit applies: then the request is counted before it is served.
    pub fn is_rate_limited(&self) -> bool {
        self.key_rate_limit.is_some() || self.account_rate_limit.is_some()
    }

    /// Whether a quota or credits apply: then the request is counted in the account's ledger
    /// before it is served.
    pub fn is_metered(&self) -> bool {
        !self.counters(0).is_empty()
    }

    /// The ledger's counters this request is counted in at `now` (`crate::quota::counters`).
    pub fn counters(&self, now: i64) -> Vec<Counter> {
        quota::counters(
            self.account_quota.as_ref(),
            &self.key_id,
            self.key_quota.as_ref(),
            self.credits.as_ref(),
            self.product.as_deref(),
            self.cost,
            now,
        )
    }

    /// The usage row this request is billed in at `now`.
    pub fn lane(&self, now: i64) -> Lane {
        Lane {
            key_id: self.key_id.clone(),
            product: self.product.clone(),
            route: self.costed_route.clone(),
            day: quota::Period::Day.start(now),
        }
    }

    /// The windows of the account's limiter this request is counted in, all at once
    /// ([`crate::ratelimit::AccountWindows::take`]): its key's own limit and its account's.
    pub fn rate_counts(&self) -> Vec<Count> {
        let key = self
            .key_rate_limit
            .map(|limit| Count::key(&self.key_id, limit));
        let account = self.account_rate_limit.map(Count::account);
        key.into_iter().chain(account).collect()
    }
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

/// Steps 2–4: HTTPS, credential, canonical target (a secret key in the URL is refused here,
/// before anything can echo it), offline format. No storage read happens unless this is Ok.
pub fn authenticate<'a>(
    facts: &RequestFacts<'a>,
    settings: &Settings,
) -> Result<Authenticated<'a>, Error> {
    check_https(facts.https, settings)?;
    let text = extract_credential(facts.authorization, facts.x_api_key)?;
    let target = parse_target(facts.path, facts.query)?;
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
    Ok(Authenticated {
        credential: Credential {
            text,
            environment,
            hash,
        },
        target,
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

/// An [`EdgeRecord`] ready to decide requests: its two allowlists parsed once, because a
/// cached record decides every request of its key for a while. It cannot be changed, so the
/// parsed lists cannot go stale: a changed record is prepared again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreparedRecord {
    record: EdgeRecord,
    /// `None`: a stored entry no longer parses, and every request is refused (500).
    account_ips: Option<IpAllowlist>,
    key_ips: Option<IpAllowlist>,
}

impl PreparedRecord {
    /// Parses the record's allowlists (as stored: canonical, validated on write).
    pub fn new(record: EdgeRecord) -> Self {
        let parse = |entries: &[String]| IpAllowlist::parse(entries).ok();
        Self {
            account_ips: parse(&record.account.allowed_ips),
            key_ips: parse(&record.key.allowed_ips),
            record,
        }
    }
}

impl std::ops::Deref for PreparedRecord {
    type Target = EdgeRecord;

    fn deref(&self) -> &EdgeRecord {
        &self.record
    }
}

/// Steps 6–9, after the worker looked the credential's hash up and found `record`.
///
/// With `HIDE_FORBIDDEN` a route the key may not use is found to be no route at all, before
/// the product key is looked at and before a 405 could name the path's methods: the answer is
/// then the unknown-route 404 whatever the method, product key or body.
pub fn authorize(
    facts: &RequestFacts<'_>,
    target: &Target<'_>,
    record: &PreparedRecord,
    config: &GatewayConfig,
    settings: &Settings,
    now: i64,
) -> Result<Grant, Error> {
    check_record(record)?;
    let key = &record.key;
    // Step 6.
    key_state(key, &record.account, now)?;
    // Step 7.
    let ip_would_deny = check_ip(facts, record)?;
    // Step 8: route, then product key.
    let route = find_route(facts.method, target, key, config, settings)?;
    if let Some(product) = &route.product {
        check_product_key(facts.x_product_key, record, product)?;
    }
    // Step 9.
    if !scope::grants(&key.scopes, &route.scope) {
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
        product: route.product.clone(),
        scope: route.scope.clone(),
        key_rate_limit: key.rate_limit,
        account_rate_limit: record.account.rate_limit,
        ip_would_deny,
        account_quota: record.account.quota.clone(),
        key_quota: key.quota.clone(),
        credits: key.credits.clone(),
        costed_route: route
            .cost
            .map(|_| format!("{} {}", route.method, route.path)),
        cost: route.cost.unwrap_or(1),
    })
}

/// Whether `record`'s key could read what `GET path` answers with a request of its own: the
/// route serves the key's environment, the key holds its scope, and for a product's route the
/// key may use the product and its account holds it in the key's environment. The sandbox's
/// event feed shows objects of many collections through one route; this decides, collection by
/// collection, which of them the key would see anyway, so the feed is never a way round a
/// scope or a product.
pub fn may_read(record: &EdgeRecord, config: &GatewayConfig, path: &str) -> bool {
    let key = &record.key;
    let RouteMatch::Found(route) = config.route_for("GET", path) else {
        return false;
    };
    let product_ok = route.product.as_ref().is_none_or(|product| {
        (key.products.is_empty() || key.products.contains(product))
            && record
                .product_keys
                .iter()
                .any(|p| &p.product_id == product && p.environment == key.environment)
    });
    route.serves(key.environment) && scope::grants(&key.scopes, &route.scope) && product_ok
}

/// The route serving the request. A route of the other environment does not exist for this
/// key; with `hide_forbidden`, neither does one whose scope the key lacks.
fn find_route<'c>(
    method: &str,
    target: &Target<'_>,
    key: &ApiKey,
    config: &'c GatewayConfig,
    settings: &Settings,
) -> Result<&'c Route, Error> {
    let visible = |route: &Route| {
        route.serves(key.environment)
            && (!settings.hide_forbidden || scope::grants(&key.scopes, &route.scope))
    };
    match config.route_for(method, target.path()) {
        RouteMatch::Found(route) if visible(route) => Ok(route),
        RouteMatch::Found(route) if route.serves(key.environment) => Err(route_not_found()
            .with_reason(format!(
                "the key lacks the scope `{}` that {} {} needs (answered as an unknown route: \
                 HIDE_FORBIDDEN)",
                route.scope, route.method, route.path
            ))),
        RouteMatch::Found(_) | RouteMatch::NotFound => Err(route_not_found()),
        RouteMatch::MethodNotAllowed(routes) => {
            let routes: Vec<&Route> = routes.into_iter().filter(|r| visible(r)).collect();
            if routes.is_empty() {
                Err(route_not_found())
            } else {
                Err(Error::method_not_allowed(allow_header(&routes)))
            }
        }
    }
}

/// For the admin API's key endpoints (docs/admin-api.md): steps `state` and `ip-allowlist`, then the `keys:manage`
/// scope. Returns the account the key may manage. Call after [`authenticate`] and the lookup.
pub fn authorize_key_manager(
    facts: &RequestFacts<'_>,
    record: &PreparedRecord,
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

/// Both allowlists must pass. A list in `report` mode lets an outside address through: the
/// answer is `Ok(Some(address))`, to be recorded as `ip.would_deny`.
fn check_ip(facts: &RequestFacts<'_>, record: &PreparedRecord) -> Result<Option<String>, Error> {
    let client = facts.client_ip;
    let lists = [
        (
            "account",
            "account's",
            &record.account_ips,
            record.account.ip_mode,
        ),
        ("key", "key's", &record.key_ips, record.key.ip_mode),
    ];
    let mut would_deny = None;
    for (owner, owners, list, mode) in lists {
        // Stored lists were validated on write; one that no longer parses fails closed.
        let list = list.as_ref().ok_or_else(Error::internal)?;
        if list.permits(client) {
            continue;
        }
        if mode == IpMode::Report {
            would_deny = Some(client.map_or_else(|| "unknown".to_string(), |a| a.to_string()));
            continue;
        }
        let who = match client {
            Some(addr) => format!("Requests from {addr} are not allowed"),
            None => "Requests without a known client address are not allowed".to_string(),
        };
        return Err(Error::forbidden(format!(
            "{who} for this {owner}. Call from an address on the {owners} IP allowlist, or \
             ask for the allowlist to be extended."
        )));
    }
    Ok(would_deny)
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
