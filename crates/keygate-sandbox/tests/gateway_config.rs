//! The shipped `gateway.json` (embedded by the worker) against the sandbox manifest
//! (`sandbox-data/collections.json`): every sandbox endpoint is routed with the scope a provider
//! would expect, and under the product of the collection it serves, so that no path (a nested
//! list included) reads a collection under another product's key.

use keygate_core::config::{GatewayConfig, Route, RouteMatch};
use keygate_core::keys::Environment;
use keygate_sandbox::{IndexRequest, Sandbox};
use std::collections::HashMap;

const GATEWAY_JSON: &str = include_str!("../../../gateway.json");

// The helpers below are not #[test] functions, which clippy.toml's allow-*-in-tests covers;
// like the tests they serve, they fail with a message rather than return an error.
#[expect(
    clippy::expect_used,
    reason = "test helper: an invalid gateway.json fails the test"
)]
fn config() -> GatewayConfig {
    GatewayConfig::from_json(GATEWAY_JSON).expect("gateway.json is valid")
}

#[expect(
    clippy::panic,
    reason = "test helper: a path without its route fails the test"
)]
fn route<'a>(config: &'a GatewayConfig, method: &str, path: &str) -> &'a Route {
    match config.route_for(method, path) {
        RouteMatch::Found(route) => {
            assert!(
                route.serves(Environment::Test),
                "{method} {path} is not served to test keys"
            );
            route
        }
        RouteMatch::MethodNotAllowed(_) => panic!("{method} {path}: 405"),
        RouteMatch::NotFound => panic!("{method} {path} has no route in gateway.json"),
    }
}

/// A concrete path for a route pattern: every `*` becomes an id.
fn example(pattern: &str) -> String {
    pattern.replace('*', "some_id")
}

#[test]
fn every_sandbox_collection_is_routed_with_its_own_scope() {
    let config = config();
    let sandbox = Sandbox::embedded().expect("embedded sandbox data");
    let collections = sandbox.collections();
    assert!(!collections.is_empty());
    for collection in collections {
        let name = collection.name;
        let list = format!("/v1/{name}");
        let item = format!("/v1/{name}/some_id");
        assert_eq!(route(&config, "GET", &list).scope, format!("{name}:read"));
        assert_eq!(route(&config, "GET", &item).scope, format!("{name}:read"));
        assert!(
            route(&config, "GET", &list).product.is_some(),
            "{list} belongs to no product"
        );
        if collection.writable {
            assert_eq!(route(&config, "POST", &list).scope, format!("{name}:write"));
        } else {
            assert!(
                !matches!(config.route_for("POST", &list), RouteMatch::Found(_)),
                "POST {list} is routed but the collection is read-only"
            );
        }
        for nested in &collection.nested {
            let path = format!("/v1/{name}/some_id/{nested}");
            assert_eq!(route(&config, "GET", &path).scope, format!("{nested}:read"));
        }
    }
}

/// The product of a collection is the product of its list route; every route the sandbox
/// answers with that collection's records — item, nested list under any parent — must need
/// the same product. Derived from the manifest, so a new nested list cannot slip through.
#[test]
fn no_path_serves_a_collection_under_another_product() {
    let config = config();
    let sandbox = Sandbox::embedded().expect("embedded sandbox data");
    let product_of: HashMap<&str, Option<&str>> = sandbox
        .collections()
        .into_iter()
        .map(|c| {
            let list = route(&config, "GET", &format!("/v1/{}", c.name));
            (c.name, list.product.as_deref())
        })
        .collect();
    let mut checked = 0;
    for r in config.routes() {
        let path = example(&r.path);
        let Some(served) = sandbox.collection_served(&path) else {
            continue;
        };
        assert_eq!(
            r.product.as_deref(),
            product_of[served],
            "{} {} serves `{served}` records, so it needs the product of `{served}`",
            r.method,
            r.path
        );
        checked += 1;
    }
    // Every collection has a list, an item and possibly nested routes.
    assert!(
        checked >= 2 * product_of.len(),
        "only {checked} routes checked"
    );
}

/// Every route the configuration declares is a path the sandbox answers, so that a test key
/// finds the whole API and no route exists only for live keys by accident.
#[test]
fn every_test_route_is_served_by_the_sandbox() {
    let config = config();
    let sandbox = Sandbox::embedded().expect("embedded sandbox data");
    for r in config
        .routes()
        .iter()
        .filter(|r| r.serves(Environment::Test))
    {
        let path = example(&r.path);
        let served = sandbox.serves(&path)
            || IndexRequest::parse(&r.method, &path).is_some_and(|request| request.is_ok());
        assert!(served, "{} {} has no sandbox behind it", r.method, r.path);
    }
}

#[test]
fn sandbox_tools_are_test_only_and_need_no_product_key() {
    let config = config();
    let tools = [
        ("GET", "/v1/sandbox/scenarios", "sandbox:read"),
        ("GET", "/v1/sandbox/clock", "sandbox:read"),
        ("POST", "/v1/sandbox/clock", "sandbox:write"),
        ("POST", "/v1/sandbox/reset", "sandbox:write"),
        ("GET", "/v1/sandbox/sandboxes", "sandbox:read"),
        ("POST", "/v1/sandbox/sandboxes", "sandbox:write"),
        ("DELETE", "/v1/sandbox/sandboxes/ci-run-1", "sandbox:write"),
        ("POST", "/v1/sandbox/events", "sandbox:write"),
        // Registering an endpoint makes the gateway call out: a scope of its own, so a key
        // that may only read cannot.
        ("GET", "/v1/webhook_endpoints", "webhook_endpoints:read"),
        ("POST", "/v1/webhook_endpoints", "webhook_endpoints:write"),
        (
            "GET",
            "/v1/webhook_endpoints/we_1",
            "webhook_endpoints:read",
        ),
        (
            "DELETE",
            "/v1/webhook_endpoints/we_1",
            "webhook_endpoints:write",
        ),
        (
            "GET",
            "/v1/webhook_endpoints/we_1/deliveries",
            "webhook_endpoints:read",
        ),
    ];
    for (method, path, scope) in tools {
        let r = route(&config, method, path);
        assert_eq!(r.scope, scope);
        assert_eq!(r.product, None, "{path} should need no product key");
        assert!(
            !r.serves(Environment::Live),
            "{path} must never be proxied to the origin"
        );
    }
}

#[test]
fn every_route_scope_is_a_known_scope() {
    let config = config();
    for route in config.routes() {
        assert!(config.is_known_scope(&route.scope), "{}", route.scope);
    }
    assert!(config.is_known_scope("keys:manage"));
    assert!(!config.is_known_scope("nonsense:read"));
}
