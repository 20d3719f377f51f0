//! The shipped `gateway.json` (embedded by the worker) must route every sandbox endpoint with
//! the scope a provider would expect, under a product, so that a test key can use the whole
//! sandbox and a narrowly scoped key gets exactly what its scopes say.

use keygate_core::config::{GatewayConfig, RouteMatch};
use keygate_core::keys::Environment;
use keygate_sandbox::Sandbox;

const GATEWAY_JSON: &str = include_str!("../../../gateway.json");

fn config() -> GatewayConfig {
    GatewayConfig::from_json(GATEWAY_JSON).expect("gateway.json is valid")
}

fn scope_for(config: &GatewayConfig, method: &str, path: &str) -> String {
    match config.route_for(method, path) {
        RouteMatch::Found(route) => {
            assert!(
                route.serves(Environment::Test),
                "{method} {path} is not served to test keys"
            );
            route.scope.clone()
        }
        RouteMatch::MethodNotAllowed(allow) => panic!("{method} {path}: 405, allowed {allow}"),
        RouteMatch::NotFound => panic!("{method} {path} has no route in gateway.json"),
    }
}

#[test]
fn every_sandbox_collection_is_routed_with_its_own_scope_under_a_product() {
    let config = config();
    let sandbox = Sandbox::embedded().expect("embedded sandbox data");
    let collections = sandbox.collections();
    assert!(!collections.is_empty());
    for collection in collections {
        let name = collection.name;
        let list = format!("/v1/{name}");
        let item = format!("/v1/{name}/some_id");
        assert_eq!(
            scope_for(&config, "GET", &list),
            format!("{name}:read"),
            "{list}"
        );
        assert_eq!(
            scope_for(&config, "GET", &item),
            format!("{name}:read"),
            "{item}"
        );
        assert!(
            config.product_for_path(&list).is_some(),
            "{list} belongs to no product"
        );
        if collection.writable {
            assert_eq!(
                scope_for(&config, "POST", &list),
                format!("{name}:write"),
                "POST {list}"
            );
        } else {
            assert!(
                !matches!(config.route_for("POST", &list), RouteMatch::Found(_)),
                "POST {list} is routed but the collection is read-only"
            );
        }
        for nested in &collection.nested {
            let path = format!("/v1/{name}/some_id/{nested}");
            assert_eq!(
                scope_for(&config, "GET", &path),
                format!("{nested}:read"),
                "{path}"
            );
        }
    }
}

#[test]
fn sandbox_tools_are_test_only_and_need_no_product_key() {
    let config = config();
    let tools = [
        ("GET", "/v1/sandbox/scenarios", "sandbox:read"),
        ("POST", "/v1/sandbox/reset", "sandbox:write"),
    ];
    for (method, path, scope) in tools {
        assert_eq!(scope_for(&config, method, path), scope);
        assert!(
            config.product_for_path(path).is_none(),
            "{path} should need no product key"
        );
        if let RouteMatch::Found(route) = config.route_for(method, path) {
            assert!(
                !route.serves(Environment::Live),
                "{path} must never be proxied to the origin"
            );
        }
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
