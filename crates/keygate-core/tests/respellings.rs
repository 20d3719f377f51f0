//! Property: no spelling of a path is authorised differently from the canonical path.
//!
//! For every route of the shipped `gateway.json`, a generator respells a concrete path of that
//! route (case changes, trailing and doubled slashes, `;` parameters, percent-encoding of any
//! byte in upper or lower case, dot segments, backslashes, and mixtures) and runs the whole edge
//! decision. Whatever the spelling:
//! - a key holding every scope is either refused, or granted exactly the canonical route's scope
//!   and product, and the target it is granted (what the origin receives) is the spelling it
//!   sent, byte for byte;
//! - a key holding every scope *but* that route's is never granted.
//!
//! Native only: proptest's random source has no browser backend.
#![cfg(not(target_arch = "wasm32"))]

use keygate_core::admin::KeyTemplate;
use keygate_core::config::{Route, RouteMatch};
use keygate_core::keys::{IssuedKey, key_from_entropy};
use keygate_core::policy::{PreparedRecord, RequestFacts, Settings, authenticate, authorize};
use keygate_core::{
    Account, AccountStatus, Agreement, EdgeRecord, Environment, Error, GatewayConfig, Grant,
    KeyHash, KeyKind, ProductKeyRef,
};
use proptest::prelude::*;

const GATEWAY_JSON: &str = include_str!("../../../gateway.json");
const NOW: i64 = 1_700_000_000;

struct World {
    config: GatewayConfig,
    key: IssuedKey,
    /// (product id, live product key of the account).
    product_keys: Vec<(String, String)>,
}

#[expect(
    clippy::expect_used,
    reason = "test helper: an invalid gateway.json fails the test"
)]
fn world(environment: Environment) -> World {
    let config = GatewayConfig::from_json(GATEWAY_JSON).expect("gateway.json is valid");
    let key = IssuedKey::from_entropy(KeyKind::Secret, environment, &[3; 32]);
    let product_keys = config
        .products()
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let seed = [40 + i as u8; 32];
            (
                p.id.clone(),
                key_from_entropy(KeyKind::Product, environment, &seed),
            )
        })
        .collect();
    World {
        config,
        key,
        product_keys,
    }
}

fn record(w: &World, scopes: Vec<String>) -> EdgeRecord {
    let environment = w.key.environment;
    EdgeRecord {
        key: KeyTemplate {
            environment,
            name: "property".into(),
            scopes,
            allowed_ips: vec![],
            products: vec![],
            expires_at: None,
            rate_limit: None,
            ip_mode: Default::default(),
            quota: None,
            credits: None,
        }
        .into_key(
            "key_1".into(),
            "acct_1",
            w.key.start.clone(),
            w.key.end.clone(),
            0,
        ),
        account: Account {
            id: "acct_1".into(),
            name: "Acme".into(),
            agreement: Agreement::Production,
            status: AccountStatus::Active,
            allowed_ips: vec![],
            created_at: 0,
            updated_at: 0,
            revision: 1,
            rate_limit: None,
            ip_mode: Default::default(),
            quota: None,
        },
        product_keys: w
            .product_keys
            .iter()
            .map(|(product, pk)| ProductKeyRef {
                product_id: product.clone(),
                environment,
                hash: KeyHash::of(pk),
            })
            .collect(),
    }
}

/// The edge decision for one request, and the target it authorised.
fn decide(
    w: &World,
    route: &Route,
    path: &str,
    record: &EdgeRecord,
    settings: &Settings,
) -> Result<(Grant, String), Error> {
    let product_key = route.product.as_ref().and_then(|product| {
        w.product_keys
            .iter()
            .find(|(p, _)| p == product)
            .map(|(_, pk)| pk.as_str())
    });
    let facts = RequestFacts {
        https: true,
        method: &route.method,
        path,
        query: None,
        authorization: None,
        x_api_key: Some(&w.key.text),
        x_product_key: product_key,
        client_ip: Some(std::net::IpAddr::from([203, 0, 113, 9])),
    };
    let authenticated = authenticate(&facts, settings)?;
    let target = authenticated.target;
    let record = PreparedRecord::new(record.clone());
    let grant = authorize(&facts, &target, &record, &w.config, settings, NOW)?;
    Ok((grant, target.path_and_query()))
}

/// One way to respell a path. Applied to a concrete canonical path, at a position chosen by
/// the generator.
#[derive(Debug, Clone)]
enum Respell {
    TrailingSlash,
    DoubleSlash(usize),
    DotSegment(usize),
    DotDotSegment(usize),
    Semicolon(usize),
    Backslash(usize),
    PercentEncode { at: usize, lower: bool },
    UpperCase(usize),
    EncodedSlash(usize),
    EncodedDot(usize),
}

fn respell() -> impl Strategy<Value = Respell> {
    prop_oneof![
        Just(Respell::TrailingSlash),
        any::<usize>().prop_map(Respell::DoubleSlash),
        any::<usize>().prop_map(Respell::DotSegment),
        any::<usize>().prop_map(Respell::DotDotSegment),
        any::<usize>().prop_map(Respell::Semicolon),
        any::<usize>().prop_map(Respell::Backslash),
        (any::<usize>(), any::<bool>())
            .prop_map(|(at, lower)| Respell::PercentEncode { at, lower }),
        any::<usize>().prop_map(Respell::UpperCase),
        any::<usize>().prop_map(Respell::EncodedSlash),
        any::<usize>().prop_map(Respell::EncodedDot),
    ]
}

/// Byte offsets just after a `/` (the start of each segment).
fn segment_starts(path: &str) -> Vec<usize> {
    path.match_indices('/').map(|(i, _)| i + 1).collect()
}

fn apply(path: &str, how: &Respell) -> String {
    let starts = segment_starts(path);
    if starts.is_empty() {
        // Earlier respellings replaced every `/`: nothing left to respell by segment.
        return path.to_string();
    }
    let pick = |n: usize| starts[n % starts.len()];
    let mut out = path.to_string();
    match *how {
        Respell::TrailingSlash => out.push('/'),
        Respell::DoubleSlash(n) => out.insert(pick(n), '/'),
        Respell::DotSegment(n) => out.insert_str(pick(n), "./"),
        Respell::DotDotSegment(n) => out.insert_str(pick(n), "x/../"),
        Respell::Semicolon(n) => {
            let at = path[pick(n)..]
                .find('/')
                .map_or(path.len(), |end| pick(n) + end);
            out.insert_str(at, ";v=1");
        }
        Respell::Backslash(n) => {
            let at = pick(n).saturating_sub(1);
            out.replace_range(at..at + 1, "\\");
        }
        Respell::PercentEncode { at, lower } => {
            // Any byte of the path, `/` included.
            let at = at % out.len();
            let byte = out.as_bytes()[at];
            let escape = if lower {
                format!("%{byte:02x}")
            } else {
                format!("%{byte:02X}")
            };
            out.replace_range(at..at + 1, &escape);
        }
        Respell::UpperCase(at) => {
            let at = at % out.len();
            let upper = out[at..at + 1].to_ascii_uppercase();
            out.replace_range(at..at + 1, &upper);
        }
        Respell::EncodedSlash(n) => out.insert_str(pick(n), "%2F"),
        Respell::EncodedDot(n) => out.insert_str(pick(n), "%2e/"),
    }
    out
}

/// How the most lenient origin framework could read a path it receives: percent-escapes
/// decoded, `;` parameters stripped, `\\` read as `/`, empty and `.` segments dropped, `..`
/// resolved, case folded. Anything keygate forwards must mean the same route to it.
fn lenient_origin_view(path: &str) -> String {
    let mut decoded = Vec::new();
    let bytes = path.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let escape = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], escape) {
            (b'%', Some(b)) => {
                decoded.push(b);
                i += 3;
            }
            (b, _) => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    let text = String::from_utf8_lossy(&decoded).to_ascii_lowercase();
    let mut segments: Vec<&str> = Vec::new();
    for segment in text.split(['/', '\\']) {
        let segment = segment.split(';').next().unwrap_or_default();
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    format!("/{}", segments.join("/"))
}

fn concrete(route: &Route, id: &str) -> String {
    route.path.replace('*', id)
}

fn all_scopes_but(config: &GatewayConfig, excluded: &str) -> Vec<String> {
    let mut scopes: Vec<String> = config
        .routes()
        .iter()
        .map(|r| r.scope.clone())
        .filter(|s| s != excluded)
        .collect();
    scopes.sort();
    scopes.dedup();
    scopes
}

fn check_route(
    w: &World,
    route: &Route,
    id: &str,
    hows: &[Respell],
    settings: &Settings,
) -> Result<(), TestCaseError> {
    let canonical = concrete(route, id);
    let everything = record(w, vec!["*".into()]);
    let (grant, target) = decide(w, route, &canonical, &everything, settings)
        .map_err(|e| TestCaseError::fail(format!("{canonical} refused: {e:?}")))?;
    prop_assert_eq!(&target, &canonical);
    prop_assert_eq!(&grant.scope, &route.scope);

    let spelled = hows.iter().fold(canonical.clone(), |p, how| apply(&p, how));
    match decide(w, route, &spelled, &everything, settings) {
        Err(e) => prop_assert!([400, 404, 405].contains(&e.status), "{spelled}: {e:?}"),
        Ok((granted, target)) => {
            prop_assert_eq!(&granted.scope, &route.scope, "{} as {}", canonical, spelled);
            prop_assert_eq!(
                &granted.product,
                &route.product,
                "{} as {}",
                canonical,
                spelled
            );
            prop_assert_eq!(&target, &spelled, "the origin must get what was authorised");
            // However leniently the origin's framework reads what it received, it finds the
            // route that was authorised (or none at all).
            let view = lenient_origin_view(&target);
            if let RouteMatch::Found(served) = w.config.route_for(&route.method, &view) {
                prop_assert_eq!(&served.scope, &route.scope, "{} read as {}", spelled, view);
                prop_assert_eq!(
                    &served.product,
                    &route.product,
                    "{} read as {}",
                    spelled,
                    view
                );
            }
        }
    }
    let lacking = record(w, all_scopes_but(&w.config, &route.scope));
    let decision = decide(w, route, &spelled, &lacking, settings);
    prop_assert!(
        decision.is_err(),
        "{} as {} granted without {}: {:?}",
        canonical,
        spelled,
        route.scope,
        decision
    );
    Ok(())
}

fn ids() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("acc_1".to_string()),
        Just("transactions".to_string()),
        Just("a:b@c".to_string()),
        "[a-z][a-z0-9_]{0,12}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn live_respellings_are_refused_or_authorised_as_the_canonical_route(
        index in any::<usize>(),
        id in ids(),
        hows in proptest::collection::vec(respell(), 1..4),
        hide in any::<bool>(),
    ) {
        let w = world(Environment::Live);
        let routes: Vec<&Route> =
            w.config.routes().iter().filter(|r| r.serves(Environment::Live)).collect();
        let route = routes[index % routes.len()];
        let settings = Settings { require_https: true, hide_forbidden: hide };
        check_route(&w, route, &id, &hows, &settings)?;
    }

    #[test]
    fn test_respellings_are_refused_or_authorised_as_the_canonical_route(
        index in any::<usize>(),
        id in ids(),
        hows in proptest::collection::vec(respell(), 1..4),
    ) {
        let w = world(Environment::Test);
        let routes = w.config.routes();
        let route = &routes[index % routes.len()];
        check_route(&w, route, &id, &hows, &Settings::default())?;
    }
}

/// An independent oracle for the route language: the routes whose pattern has exactly the
/// path's segments, literal for literal, `*` for any one non-empty segment.
fn routes_naming<'a>(config: &'a GatewayConfig, method: &str, path: &str) -> Vec<&'a Route> {
    let segments: Vec<&str> = path[1..].split('/').collect();
    config
        .routes()
        .iter()
        .filter(|r| r.method == method)
        .filter(|r| {
            let pattern: Vec<&str> = r.path[1..].split('/').collect();
            pattern.len() == segments.len()
                && pattern
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| *p == *s || (*p == "*" && !s.is_empty()))
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// A canonical path deeper (or otherwise shaped) than a route is granted only through a
    /// route that names its shape, and then with that route's scope.
    #[test]
    fn a_path_is_granted_only_by_a_route_that_names_it(
        index in any::<usize>(),
        id in ids(),
        extra in proptest::collection::vec("[a-z_]{1,8}|\\*", 1..3),
    ) {
        let w = world(Environment::Live);
        let routes: Vec<&Route> =
            w.config.routes().iter().filter(|r| r.serves(Environment::Live)).collect();
        let route = routes[index % routes.len()];
        let mut path = concrete(route, &id);
        for segment in &extra {
            path.push('/');
            path.push_str(if segment == "*" { &id } else { segment });
        }
        let everything = record(&w, vec!["*".into()]);
        let named = routes_naming(&w.config, &route.method, &path);
        match decide(&w, route, &path, &everything, &Settings::default()) {
            Ok((grant, _)) => prop_assert!(
                named.iter().any(|r| r.scope == grant.scope && r.product == grant.product),
                "{path} granted {} but the routes naming it are {:?}",
                grant.scope,
                named.iter().map(|r| &r.path).collect::<Vec<_>>()
            ),
            Err(e) => prop_assert!(
                !named.is_empty() || [404, 405].contains(&e.status),
                "{path}: {e:?}"
            ),
        }
    }
}

/// The attack from the issue, spelled out: a key with `accounts:read` only, and every
/// respelling of a transactions path that some origin framework would serve as transactions.
#[test]
fn accounts_read_never_reads_transactions() {
    let w = world(Environment::Live);
    let route = w
        .config
        .routes()
        .iter()
        .find(|r| r.path == "/v1/accounts/*/transactions")
        .expect("the route exists");
    let key = record(&w, vec!["accounts:read".into()]);
    for spelled in [
        "/v1/accounts/a/transactions",
        "/v1/accounts/a/transactions/",
        "/v1/accounts/a/Transactions",
        "/v1/accounts/a/%74ransactions",
        "/v1/accounts/a/transactions;v=1",
        "/v1/accounts/a/transactions%3Bv=1",
        "/v1/accounts/a//transactions",
        "/v1/accounts/a/./transactions",
        "/v1/accounts/a/x/../transactions",
        "/v1/accounts/a/transactions/.",
        "/v1/accounts/a/transactions%2F",
        "/v1/accounts/a/TRANSACTIONS",
        "/v1/accounts/a%2Ftransactions",
        "/v1/accounts/a/transactions%00",
        "/v1/accounts/a/transactions/tx_1",
    ] {
        for hide in [false, true] {
            let settings = Settings {
                require_https: true,
                hide_forbidden: hide,
            };
            let decision = decide(&w, route, spelled, &key, &settings);
            assert!(decision.is_err(), "{spelled} was granted: {decision:?}");
        }
    }
}
