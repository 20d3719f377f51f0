use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

fn config() -> GatewayConfig {
    crate::testing::config()
}

fn route<'a>(c: &'a GatewayConfig, method: &str, path: &str) -> Option<&'a Route> {
    match c.route_for(method, path) {
        RouteMatch::Found(r) => Some(r),
        _ => None,
    }
}

fn scope_of(c: &GatewayConfig, method: &str, path: &str) -> Option<String> {
    route(c, method, path).map(|r| r.scope.clone())
}

fn allow_of(c: &GatewayConfig, method: &str, path: &str) -> Option<String> {
    match c.route_for(method, path) {
        RouteMatch::MethodNotAllowed(routes) => Some(allow_header(&routes)),
        _ => None,
    }
}

fn errors_of(json: &str) -> Vec<(String, String)> {
    let e = GatewayConfig::from_json(json).unwrap_err();
    assert_eq!(e.status, 500);
    e.errors.into_iter().map(|f| (f.field, f.message)).collect()
}

#[test]
fn every_path_is_served_by_the_route_of_exactly_its_shape() {
    let c = config();
    for (method, path, scope) in [
        ("GET", "/v1/accounts", Some("accounts:read")),
        ("GET", "/v1/accounts/acc_1", Some("accounts:read")),
        (
            "GET",
            "/v1/accounts/acc_1/transactions",
            Some("transactions:read"),
        ),
        ("GET", "/v1/accounts/search", Some("search:read")),
        ("GET", "/v1/quotes", Some("quotes:read")),
        ("POST", "/v1/quotes", Some("quotes:write")),
        ("GET", "/", Some("meta:read")),
        // Deeper than any route: no broader route lends its scope.
        ("GET", "/v1/accounts/acc_1/transactions/tx_1", None),
        ("GET", "/v1/accounts/acc_1/other", None),
        ("GET", "/v1/transactions/a/b", None),
        // Case-sensitive, segment-exact.
        ("GET", "/v1/Accounts", None),
        ("GET", "/v1/accounts/acc_1/Transactions", None),
        ("GET", "/v1/accountsX", None),
        ("GET", "/v1", None),
        ("GET", "/x", None),
        ("GET", "", None),
    ] {
        assert_eq!(
            scope_of(&c, method, path).as_deref(),
            scope,
            "{method} {path}"
        );
    }
}

#[test]
fn the_more_specific_route_wins_whatever_the_order() {
    let c = config();
    // `/v1/accounts/search` is declared after `/v1/accounts/*`.
    assert_eq!(
        route(&c, "GET", "/v1/accounts/search").map(|r| r.path.as_str()),
        Some("/v1/accounts/search")
    );
    assert_eq!(
        route(&c, "GET", "/v1/accounts/searchx").map(|r| r.path.as_str()),
        Some("/v1/accounts/*")
    );
}

#[test]
fn star_is_one_non_empty_segment() {
    let c = config();
    assert_eq!(
        c.route_for("GET", "/v1/accounts//transactions"),
        RouteMatch::NotFound
    );
    assert_eq!(c.route_for("GET", "/v1/accounts/"), RouteMatch::NotFound);
}

#[test]
fn products_come_from_the_route() {
    let c = config();
    for (path, product) in [
        ("/v1/accounts", Some("bank_data")),
        ("/v1/accounts/a/transactions", Some("bank_data")),
        ("/v1/accounts/a/quotes", Some("insurance")),
        ("/v1/quotes/q", Some("insurance")),
        ("/", None),
    ] {
        assert_eq!(
            route(&c, "GET", path).and_then(|r| r.product.as_deref()),
            product,
            "{path}"
        );
    }
    assert_eq!(
        c.product("insurance").map(|p| p.name.as_str()),
        Some("Insurance")
    );
    assert!(c.product("nope").is_none());
}

#[test]
fn wrong_method_lists_the_methods_of_the_path() {
    let c = config();
    assert_eq!(
        allow_of(&c, "DELETE", "/v1/quotes").as_deref(),
        Some("GET, HEAD, POST")
    );
    assert_eq!(
        allow_of(&c, "POST", "/v1/quotes/q_1").as_deref(),
        Some("GET, HEAD")
    );
    assert_eq!(
        allow_of(&c, "get", "/v1/quotes").as_deref(),
        Some("GET, HEAD, POST")
    );
    // One entry per method, the most specific route of each.
    let RouteMatch::MethodNotAllowed(routes) = c.route_for("PUT", "/v1/accounts/search") else {
        panic!("405 expected")
    };
    assert_eq!(routes.len(), 1);
    assert_eq!(routes[0].path, "/v1/accounts/search");
}

#[test]
fn head_is_served_by_the_get_route() {
    let c = config();
    assert_eq!(
        route(&c, "HEAD", "/v1/quotes/q_1"),
        route(&c, "GET", "/v1/quotes/q_1")
    );
    assert!(route(&c, "HEAD", "/v1/quotes/q_1").is_some());
    assert_eq!(c.route_for("HEAD", "/nowhere"), RouteMatch::NotFound);
}

#[test]
fn environments() {
    let c = config();
    let reset = route(&c, "POST", "/v1/sandbox/reset").unwrap();
    assert!(reset.serves(Environment::Test));
    assert!(!reset.serves(Environment::Live));
    let quotes = route(&c, "GET", "/v1/quotes").unwrap();
    assert!(quotes.serves(Environment::Live) && quotes.serves(Environment::Test));
}

#[test]
fn known_scopes() {
    let c = config();
    for known in [
        "*",
        "*:*",
        "keys:manage",
        "transactions:read",
        "quotes:*",
        "*:write",
        "keys:*",
        "sandbox:write",
    ] {
        assert!(c.is_known_scope(known), "{known}");
    }
    for unknown in [
        "transactions:write",
        "nothing:*",
        "*:delete",
        "bad scope",
        "",
        "Quotes:read",
    ] {
        assert!(!c.is_known_scope(unknown), "{unknown}");
    }
}

#[test]
fn unknown_fields_and_bad_json_are_refused() {
    let e = errors_of(r#"{"routes": [], "extra": 1}"#);
    assert!(e[0].1.contains("extra"), "{e:?}");
    let e = errors_of(
        r#"{"routes": [{"method": "GET", "path": "/", "scope": "a:b", "product": null, "scopes": []}]}"#,
    );
    assert_eq!(e[0].0, "config");
    assert!(errors_of("not json")[0].0 == "config");
    assert!(errors_of(r#"{"products": []}"#)[0].1.contains("routes"));
    let e = errors_of(
        r#"{"routes": [{"method": "GET", "path": "/", "scope": "a:b", "product": null, "environments": ["prod"]}]}"#,
    );
    assert_eq!(e[0].0, "config");
    // Product prefixes are gone: a route names its product.
    let e =
        errors_of(r#"{"products": [{"id": "a", "name": "A", "prefixes": ["/a"]}], "routes": []}"#);
    assert!(e[0].1.contains("prefixes"), "{e:?}");
}

#[test]
fn product_validation() {
    let e = errors_of(
        r#"{"products": [
            {"id": "Bank", "name": ""},
            {"id": "a", "name": "A"},
            {"id": "a", "name": "A2"}
        ], "routes": []}"#,
    );
    let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        ["products[0].id", "products[0].name", "products[2].id"]
    );
    assert!(e[2].1.contains("duplicates products[1].id"));
}

#[test]
fn route_validation() {
    let e = errors_of(
        r#"{"products": [{"id": "p", "name": "P"}], "routes": [
            {"method": "get", "path": "/v1/x", "scope": "x:read", "product": "p"},
            {"method": "GET", "path": "v1/x", "scope": "x:read", "product": "p"},
            {"method": "GET", "path": "/v1/*x", "scope": "x:read", "product": "p"},
            {"method": "GET", "path": "/v1/x*", "scope": "x:read", "product": "p"},
            {"method": "GET", "path": "/v1//x", "scope": "x:read", "product": "p"},
            {"method": "GET", "path": "/v1/y", "scope": "*", "product": "p"},
            {"method": "GET", "path": "/v1/z", "scope": "z:*", "product": "p"},
            {"method": "GET", "path": "/v1/w", "scope": "nope", "product": "p"},
            {"method": "GET", "path": "/v1/v", "scope": "v:read", "product": "p"},
            {"method": "GET", "path": "/v1/v", "scope": "v:write", "product": "p", "environments": ["live"]},
            {"method": "GET", "path": "/v1/u", "scope": "u:read"},
            {"method": "GET", "path": "/v1/t", "scope": "t:read", "product": "nope"},
            {"method": "GET", "path": "/v1/s", "scope": "s:read", "product": 3},
            {"method": "HEAD", "path": "/v1/r", "scope": "r:read", "product": null},
            {"method": "GET", "path": "/v1/a/*/c", "scope": "c:read", "product": null},
            {"method": "GET", "path": "/v1/a/b/*", "scope": "b:read", "product": null},
            {"method": "POST", "path": "/v1/a/b/*", "scope": "b:write", "product": null},
            {"method": "GET", "path": "/v1/a/b/c", "scope": "c:read", "product": null}
        ]}"#,
    );
    let fields: Vec<&str> = e.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        fields,
        [
            "routes[0].method",
            "routes[1].path",
            "routes[2].path",
            "routes[3].path",
            "routes[4].path",
            "routes[5].scope",
            "routes[6].scope",
            "routes[7].scope",
            "routes[9].path",
            "routes[10].product",
            "routes[11].product",
            "routes[12].product",
            "routes[13].method",
            "routes[15].path",
        ]
    );
    assert!(e[2].1.contains("whole segment"), "{}", e[2].1);
    assert!(e[3].1.contains("nothing is open-ended"), "{}", e[3].1);
    assert!(e[8].1.contains("repeats routes[8]"), "{}", e[8].1);
    assert!(e[9].1.contains("required"), "{}", e[9].1);
    assert!(e[10].1.contains("no product declared"), "{}", e[10].1);
    assert!(e[12].1.contains("GET route"), "{}", e[12].1);
    assert!(e[13].1.contains("overlaps routes[14]"), "{}", e[13].1);
    assert!(e[13].1.contains("neither is more specific"), "{}", e[13].1);
}

#[test]
fn crossing_routes_are_accepted_once_their_intersection_has_a_route() {
    let c = GatewayConfig::from_json(
        r#"{"routes": [
            {"method": "GET", "path": "/a/b/c", "scope": "bc:read", "product": null},
            {"method": "GET", "path": "/a/*/c", "scope": "c:read", "product": null},
            {"method": "GET", "path": "/a/b/*", "scope": "b:read", "product": null}
        ]}"#,
    );
    // Validation checks pairs: the crossing pair is still refused, intersection or not,
    // because which of the two serves `/a/b/x`-like paths must never be a guess.
    assert!(c.is_err());
}

#[test]
fn environments_are_deduplicated() {
    let c = GatewayConfig::from_json(
        r#"{"routes": [{"method": "GET", "path": "/x", "scope": "x:read", "product": null, "environments": ["live", "test", "live"]}]}"#,
    )
    .unwrap();
    assert_eq!(
        c.routes()[0].environments,
        [Environment::Test, Environment::Live]
    );
}
