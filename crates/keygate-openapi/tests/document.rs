//! The API reference this crate writes, held to the code it describes from the other side: the
//! route table (`gateway.json`) and what the sandbox answers, the admin route table and body
//! readers, the views the engine renders and the error body. A route, field or status on one
//! side only fails a test, in both directions. `committed_document_is_generated` then holds
//! `public/openapi.json` to this crate's output, byte for byte.
//!
//! Native only: it reads the repository's files at run time.
#![cfg(not(target_arch = "wasm32"))]
// Most of this file is helpers (file readers, `$ref` resolution) outside #[test] functions, where clippy.toml's allow-*-in-tests does not reach; like
// the tests they serve, they fail with a message naming the file or schema at fault.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test helpers: a missing file, schema or pattern fails the test"
)]

use keygate_core::admin::bodies::BODIES;
use keygate_core::admin::routes::{Auth, Body, Query, ROUTES};
use keygate_core::engine::{
    Denial, EVENT_TYPES, Event, StoredDenial, Usage, account_view, entitlement_view, key_view,
};
use keygate_core::model::{Actor, Entitlement, FirstUseGrace, IpMode};
use keygate_core::ratelimit::RateLimit;
use keygate_core::webhook::{Attempt, Deliveries};
use keygate_core::{
    Account, AccountStatus, Agreement, ApiKey, Environment, Error, FieldError, GatewayConfig,
    KeyStatus,
};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

fn repo_file(path: &str) -> String {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

fn json_file(path: &str) -> Value {
    serde_json::from_str(&repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn doc() -> Value {
    keygate_openapi::generate().unwrap()
}

#[test]
fn committed_document_is_generated() {
    let generated = keygate_openapi::render(&doc()).unwrap();
    let committed = repo_file(keygate_openapi::DOCUMENT_PATH);
    assert!(
        committed == generated,
        "{} is not what the code describes; run `cargo run -p keygate-openapi` and commit it",
        keygate_openapi::DOCUMENT_PATH
    );
}

/// Follows `$ref`s (local JSON pointers) until a value that is not a reference.
fn deref<'a>(doc: &'a Value, mut value: &'a Value) -> &'a Value {
    for _ in 0..32 {
        let Some(target) = value.get("$ref").and_then(Value::as_str) else {
            return value;
        };
        value = resolve(doc, target).unwrap_or_else(|| panic!("unresolved $ref {target}"));
    }
    panic!("$ref cycle")
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    doc.pointer(pointer)
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc.pointer(&format!("/components/schemas/{name}"))
        .unwrap_or_else(|| panic!("no schema {name}"))
}

fn properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    deref(doc, schema)
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

fn required(doc: &Value, schema: &Value) -> BTreeSet<String> {
    deref(doc, schema)
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

fn keys_of(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn set<const N: usize>(items: [&str; N]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Every operation: (METHOD, path, operation).
fn operations(doc: &Value) -> Vec<(String, String, &Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.to_uppercase(), path.clone(), op));
            }
        }
    }
    out
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> &'a Value {
    doc["paths"][path]
        .get(method.to_lowercase())
        .unwrap_or_else(|| panic!("{method} {path} is not in openapi.json"))
}

/// `/a/{x}/b` and `/a/*/b` and `/a/{}/b` all become `/a/{}/b`.
fn template(path: &str) -> String {
    path.split('/')
        .map(|s| {
            if s == "*" || (s.starts_with('{') && s.ends_with('}')) {
                "{}"
            } else {
                s
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The operation's parameters (resolved), by `(in, name)`.
fn parameters<'a>(doc: &'a Value, op: &'a Value) -> BTreeMap<(String, String), &'a Value> {
    op.get("parameters")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|p| deref(doc, p))
        .map(|p| {
            (
                (
                    p["in"].as_str().unwrap_or_default().to_string(),
                    p["name"].as_str().unwrap_or_default().to_string(),
                ),
                p,
            )
        })
        .collect()
}

fn query_names(doc: &Value, op: &Value) -> BTreeSet<String> {
    parameters(doc, op)
        .into_keys()
        .filter(|(place, _)| place == "query")
        .map(|(_, name)| name)
        .collect()
}

fn statuses(op: &Value) -> BTreeSet<String> {
    keys_of(&op["responses"])
}

fn success_statuses(op: &Value) -> BTreeSet<String> {
    statuses(op)
        .into_iter()
        .filter(|s| s.starts_with('2'))
        .collect()
}

fn collect_refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r);
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

// ------------------------------------------------------------------------------------------
// 1. The document itself.

#[test]
fn document_is_openapi_3_1_with_resolving_refs() {
    let doc = doc();
    let version = doc["openapi"].as_str().expect("openapi");
    assert!(version.starts_with("3.1."), "openapi is {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        assert!(resolve(&doc, r).is_some(), "$ref {r} does not resolve");
    }
}

#[test]
fn every_operation_has_a_unique_id_errors_and_request_id() {
    let doc = doc();
    let schemes = keys_of(&doc["components"]["securitySchemes"]);
    let mut ids = BTreeSet::new();
    for (method, path, op) in operations(&doc) {
        let at = format!("{method} {path}");
        let id = op["operationId"]
            .as_str()
            .unwrap_or_else(|| panic!("{at}: no operationId"));
        assert!(
            ids.insert(id.to_string()),
            "{at}: operationId {id} repeated"
        );

        let mut client_errors = 0;
        for (status, response) in op["responses"].as_object().expect("responses") {
            let response = deref(&doc, response);
            let headers = response["headers"].as_object();
            assert!(
                headers.is_some_and(|h| h.contains_key("X-Request-Id")),
                "{at} {status}: no X-Request-Id header"
            );
            let code: u16 = status.parse().unwrap_or_else(|_| panic!("{at}: {status}"));
            if code >= 400 {
                let body = &response["content"]["application/json"]["schema"];
                assert_eq!(
                    body.get("$ref").and_then(Value::as_str),
                    Some("#/components/schemas/Error"),
                    "{at} {status}: an error answer must use the Error schema"
                );
                client_errors += usize::from(code < 500);
            }
            let needs_header = match code {
                429 => Some("Retry-After"),
                405 => Some("Allow"),
                _ => None,
            };
            if let Some(name) = needs_header {
                assert!(
                    headers.is_some_and(|h| h.contains_key(name)),
                    "{at} {status}: {name}"
                );
            }
        }
        assert!(client_errors > 0, "{at}: no 4xx answer");

        // Security: named schemes only; every `{param}` of the path declared, and no other.
        for requirement in op["security"].as_array().expect("security") {
            for name in keys_of(requirement) {
                assert!(schemes.contains(&name), "{at}: unknown scheme {name}");
            }
        }
        let in_path: BTreeSet<String> = path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
            .map(String::from)
            .collect();
        let declared: BTreeSet<String> = parameters(&doc, op)
            .into_iter()
            .filter(|((place, _), p)| {
                place == "path" && {
                    assert_eq!(p["required"], json!(true), "{at}: path params are required");
                    true
                }
            })
            .map(|((_, name), _)| name)
            .collect();
        assert_eq!(in_path, declared, "{at}: path parameters");
    }
}

#[test]
fn error_schema_is_the_error_body() {
    let doc = doc();
    // The rendered body, with and without `errors`.
    let plain: Value = serde_json::from_str(&Error::not_found("x").to_json()).unwrap();
    let fields: Value = serde_json::from_str(
        &Error::invalid(vec![FieldError::new("name", "is required")]).to_json(),
    )
    .unwrap();
    let error = schema(&doc, "Error");
    assert_eq!(properties(&doc, error), keys_of(&fields));
    assert_eq!(required(&doc, error), keys_of(&plain));
    let field_error = schema(&doc, "FieldError");
    assert_eq!(properties(&doc, field_error), keys_of(&fields["errors"][0]));
    assert_eq!(required(&doc, field_error), keys_of(&fields["errors"][0]));
}

// ------------------------------------------------------------------------------------------
// 2. The sandbox: gateway.json and sandbox-data/.

fn gateway() -> GatewayConfig {
    GatewayConfig::from_json(&repo_file("gateway.json")).expect("gateway.json")
}

#[test]
fn sandbox_paths_are_the_routes_test_keys_reach() {
    let doc = doc();
    let config = gateway();
    let routes: BTreeMap<(String, String), &keygate_core::Route> = config
        .routes()
        .iter()
        .filter(|r| r.serves(Environment::Test))
        .map(|r| ((r.method.to_uppercase(), template(&r.path)), r))
        .collect();
    let documented: BTreeMap<(String, String), &Value> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/v1/"))
        .map(|(m, path, op)| ((m, template(&path)), op))
        .collect();
    let missing: Vec<_> = routes
        .keys()
        .filter(|k| !documented.contains_key(*k))
        .collect();
    let extra: Vec<_> = documented
        .keys()
        .filter(|k| !routes.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty(),
        "routes of gateway.json not in openapi.json: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "paths of openapi.json not in gateway.json: {extra:?}"
    );
    for (path, _) in doc["paths"].as_object().unwrap() {
        assert!(
            path.starts_with("/v1/") || path.starts_with("/admin/v1/"),
            "{path}: neither admin nor sandbox"
        );
    }

    for ((method, path), route) in routes {
        let op = documented[&(method.clone(), path.clone())];
        let at = format!("{method} {path}");
        let params = parameters(&doc, op);
        let product_key = params.get(&("header".into(), "X-Product-Key".into()));
        match &route.product {
            Some(product) => {
                let p = product_key.unwrap_or_else(|| panic!("{at}: X-Product-Key"));
                assert_eq!(p["required"], json!(true), "{at}");
                assert_eq!(op["x-product"], json!(product), "{at}: x-product");
            }
            None => assert!(product_key.is_none(), "{at}: no product, no X-Product-Key"),
        }
        assert_eq!(op["x-scope"], json!(route.scope), "{at}: x-scope");
        let security: Vec<BTreeSet<String>> = op["security"]
            .as_array()
            .unwrap()
            .iter()
            .map(keys_of)
            .collect();
        assert_eq!(
            security,
            [set(["keyBasic"]), set(["keyBearer"]), set(["keyHeader"])],
            "{at}: a sandbox route takes Basic, Bearer or X-API-Key"
        );
        for status in ["400", "401", "403", "404", "429", "503"] {
            assert!(statuses(op).contains(status), "{at}: {status}");
        }
        // A create answers 201 (a collection's object, a named sandbox, a webhook endpoint);
        // reads, the sandbox's
        // other tools and lifecycle actions on one object (`/v1/{collection}/{id}/{action}`)
        // answer 200.
        let creates = (path.trim_start_matches("/v1/").split('/').count() == 1
            && !path.starts_with("/v1/sandbox/"))
            || path == "/v1/sandbox/sandboxes";
        // The test tool that sends events makes one (201) or queues a past one again (202).
        let expected_success = if method == "POST" && path == "/v1/sandbox/events" {
            set(["201", "202"])
        } else if method == "POST" && creates {
            set(["201"])
        } else {
            set(["200"])
        };
        assert_eq!(success_statuses(op), expected_success, "{at}");
    }
}

fn pascal(name: &str) -> String {
    name.split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn sandbox_schemas_have_exactly_the_fields_of_the_data() {
    let doc = doc();
    let manifest = json_file("sandbox-data/collections.json");
    let collections = manifest["collections"].as_array().expect("collections");
    let mut named = BTreeSet::new();
    for c in collections {
        let name = c["name"].as_str().unwrap();
        let object = c["object"].as_str().unwrap();
        let file = c["file"].as_str().unwrap();
        let records = json_file(&format!("sandbox-data/{file}"));
        let records = records
            .as_array()
            .unwrap_or_else(|| panic!("{file}: not a list"));
        assert!(!records.is_empty(), "{file}");
        let fields: BTreeSet<String> = records.iter().flat_map(keys_of).collect();
        let everywhere: BTreeSet<String> = fields
            .iter()
            .filter(|f| records.iter().all(|r| r.get(f.as_str()).is_some()))
            .cloned()
            .collect();

        let schema_name = format!("Sandbox{}", pascal(object));
        let s = schema(&doc, &schema_name);
        assert_eq!(s["x-collection"], json!(name), "{schema_name}");
        assert_eq!(properties(&doc, s), fields, "{schema_name} vs {file}");
        assert_eq!(
            required(&doc, s),
            everywhere,
            "{schema_name}: required vs {file}"
        );
        assert_eq!(s["properties"]["object"]["const"], json!(object));
        named.insert(schema_name.clone());

        // The write body: exactly the manifest's fields, the same ones required.
        let create = format!("{schema_name}Create");
        match c["write"]["fields"].as_object() {
            Some(write) => {
                let s = schema(&doc, &create);
                assert_eq!(
                    properties(&doc, s),
                    keys_of(&c["write"]["fields"]),
                    "{create}"
                );
                let needed: BTreeSet<String> = write
                    .iter()
                    .filter(|(_, spec)| spec["required"] == json!(true))
                    .map(|(f, _)| f.clone())
                    .collect();
                assert_eq!(required(&doc, s), needed, "{create}: required");
                assert_eq!(s["additionalProperties"], json!(false), "{create}");
                let post = operation(&doc, "POST", &format!("/v1/{name}"));
                assert_eq!(
                    post["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                    json!(format!("#/components/schemas/{create}"))
                );
            }
            None => assert!(
                doc.pointer(&format!("/components/schemas/{create}"))
                    .is_none(),
                "{create}: {name} is not writable"
            ),
        }

        // Every list of this collection (its own, and nested ones) filters on `filterable`.
        let filterable: BTreeSet<String> = c["filterable"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        let mut lists = 0;
        for (method, path, op) in operations(&doc) {
            let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let is_list = method == "GET"
                && segments.first() == Some(&"v1")
                && segments.last() == Some(&name)
                && segments.len() != 3;
            if !is_list {
                continue;
            }
            lists += 1;
            let mut expected = filterable.clone();
            expected.extend(set(["limit", "starting_after"]));
            assert_eq!(
                query_names(&doc, op),
                expected,
                "GET {path}: query parameters"
            );
            let data =
                &deref(&doc, &op["responses"]["200"])["content"]["application/json"]["schema"];
            let list = deref(&doc, data);
            assert_eq!(
                list["properties"]["data"]["items"]["$ref"],
                json!(format!("#/components/schemas/{schema_name}")),
                "GET {path}"
            );
        }
        assert!(lists > 0, "{name}: no list in openapi.json");
    }
    // No sandbox object schema without a collection.
    for name in keys_of(&doc["components"]["schemas"]) {
        let s = schema(&doc, &name);
        if s.get("x-collection").is_some() {
            assert!(
                named.contains(&name),
                "{name}: not a collection of collections.json"
            );
        }
    }
}

// ------------------------------------------------------------------------------------------
// 3. The admin API.

#[test]
fn admin_routes_are_documented() {
    let doc = doc();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .filter(|(_, path, _)| path.starts_with("/admin/"))
        .map(|(m, path, _)| (m, path))
        .collect();
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|op| (op.method.as_str().to_string(), op.path.to_string()))
        .collect();
    assert_eq!(
        documented, routed,
        "admin operations: document vs route table"
    );

    for route in ROUTES {
        let op = operation(&doc, route.method.as_str(), route.path);
        let at = format!("{} {}", route.method.as_str(), route.path);
        assert_eq!(op["operationId"], json!(route.id), "{at}");
        let success: BTreeSet<String> =
            route.answers.iter().map(|a| a.status.to_string()).collect();
        assert_eq!(success_statuses(op), success, "{at}: success statuses");
        let mut query = BTreeSet::new();
        if let Query::Page(filters) = route.query {
            query.extend(set(["limit", "starting_after"]));
            query.extend(filters.iter().map(|f| f.name.to_string()));
        }
        assert_eq!(query_names(&doc, op), query, "{at}: query parameters");
        let body = op.get("requestBody").map(|b| b["required"] == json!(true));
        let expected_body = match route.body {
            Body::None => None,
            Body::Required(_) => Some(true),
            Body::Optional(_) => Some(false),
        };
        assert_eq!(body, expected_body, "{at}: request body (Some(required))");
        let errors = statuses(op);
        for status in ["400", "401", "404", "503"] {
            assert!(errors.contains(status), "{at}: {status}");
        }
        if body.is_some() {
            assert!(errors.contains("413"), "{at}: a body can be too large");
        }
        let security = &op["security"];
        match route.auth {
            Auth::GithubSignature => {
                assert_eq!(security, &json!([]), "{at}: signed by GitHub, no token");
                let params = parameters(&doc, op);
                for header in [
                    "Github-Public-Key-Identifier",
                    "Github-Public-Key-Signature",
                ] {
                    assert!(
                        params.contains_key(&("header".into(), header.into())),
                        "{at}: {header}"
                    );
                }
            }
            Auth::AdminCredential => {
                assert_eq!(security, &json!([{"adminToken": []}]), "{at}: security");
                assert!(errors.contains("403"), "{at}: 403");
                // A manager's account has a write and a read budget
                // (MANAGER_WRITES_PER_MINUTE, MANAGER_READS_PER_MINUTE), and failed
                // authentications are throttled: every operation can answer 429.
                assert!(errors.contains("429"), "{at}: 429");
            }
        }
    }
}

/// The request bodies: the fields each body spec of `keygate_core::admin::bodies` states (its
/// reader reads exactly those: the core's tests), the ones it requires, and which operation
/// reads it.
#[test]
fn admin_request_bodies_match_the_readers() {
    let doc = doc();
    for spec in BODIES {
        let s = schema(&doc, spec.schema);
        let known: BTreeSet<String> = spec.names().map(String::from).collect();
        let needed: BTreeSet<String> = spec.required().map(String::from).collect();
        assert_eq!(properties(&doc, s), known, "{}", spec.schema);
        assert_eq!(required(&doc, s), needed, "{}: required", spec.schema);
        assert_eq!(
            s["additionalProperties"],
            json!(false),
            "{}: unknown fields are 400",
            spec.schema
        );
        let readers: Vec<_> = ROUTES
            .iter()
            .filter(
                |op| matches!(op.body, Body::Required(n) | Body::Optional(n) if n == spec.schema),
            )
            .collect();
        assert!(
            !readers.is_empty(),
            "{}: no operation reads it",
            spec.schema
        );
        for route in readers {
            let op = operation(&doc, route.method.as_str(), route.path);
            assert_eq!(
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"],
                json!(format!("#/components/schemas/{}", spec.schema)),
                "{}",
                route.id
            );
        }
    }
    // Enumerations of the readers.
    let enum_of = |schema_name: &str, field: &str| -> BTreeSet<String> {
        schema(&doc, schema_name)["properties"][field]["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("{schema_name}.{field}: no enum"))
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect()
    };
    assert_eq!(
        enum_of("AccountCreate", "agreement"),
        set(["test", "production"])
    );
    assert_eq!(
        enum_of("AccountUpdate", "status"),
        set(["active", "suspended"])
    );
    assert_eq!(enum_of("KeyCreate", "environment"), set(["test", "live"]));
    assert_eq!(enum_of("KeyUpdate", "status"), set(["active", "disabled"]));
    assert_eq!(enum_of("KeyCreate", "ip_mode"), set(["enforce", "report"]));
    assert_eq!(
        enum_of("RollRequest", "grace"),
        set(["fixed", "after_first_use"])
    );
    let events = operation(&doc, "GET", "/admin/v1/accounts/{account_id}/events");
    let kind = parameters(&doc, events)[&("query".to_string(), "type".to_string())];
    assert_eq!(
        kind["schema"]["enum"],
        json!(EVENT_TYPES),
        "event type filter"
    );
    assert_eq!(
        schema(&doc, "Event")["properties"]["type"]["enum"],
        json!(EVENT_TYPES)
    );
    let config = gateway();
    for kind in ["KeyCreate", "KeyUpdate"] {
        let scopes = &schema(&doc, kind)["properties"]["scopes"]["items"]["enum"];
        for scope in scopes.as_array().expect("scope enum") {
            let scope = scope.as_str().unwrap();
            assert!(
                config.is_known_scope(scope),
                "{kind}.scopes: {scope} is refused"
            );
        }
        for route in config.routes() {
            assert!(
                scopes.as_array().unwrap().contains(&json!(route.scope)),
                "{kind}: {}",
                route.scope
            );
        }
    }
    let products: Vec<String> = config.products().iter().map(|p| p.id.clone()).collect();
    assert_eq!(
        schema(&doc, "KeyCreate")["properties"]["products"]["items"]["enum"],
        json!(products)
    );
    // A rate limit's fields, from its reader's error message.
    let limit = RateLimit::from_json("rate_limit", &json!({"x": 1})).unwrap_err();
    let fields: BTreeSet<String> = limit
        .iter()
        .filter_map(|e| e.field.strip_prefix("rate_limit."))
        .filter(|f| *f != "x")
        .map(String::from)
        .collect();
    assert_eq!(properties(&doc, schema(&doc, "RateLimit")), fields);
}

/// The response bodies: each view, built by the engine's own functions, has exactly the
/// fields its schema lists; the fields every view has are the required ones.
#[test]
fn admin_views_match_the_schemas() {
    let doc = doc();
    let check = |schema_name: &str, minimal: &Value, full: &Value| {
        let s = schema(&doc, schema_name);
        assert_eq!(
            properties(&doc, s),
            keys_of(full),
            "{schema_name}: properties vs view"
        );
        assert_eq!(
            required(&doc, s),
            keys_of(minimal),
            "{schema_name}: required vs view"
        );
    };
    let account = Account {
        id: "acct_1".into(),
        name: "Acme".into(),
        agreement: Agreement::Production,
        status: AccountStatus::Active,
        allowed_ips: vec![],
        created_at: 1,
        updated_at: 1,
        revision: 1,
        rate_limit: None,
        ip_mode: IpMode::Enforce,
        quota: None,
    };
    let entitlement = Entitlement {
        account_id: "acct_1".into(),
        product_id: "bank_data".into(),
        test_key: "pk_test_x".into(),
        live_key: None,
        created_at: 1,
    };
    let view = account_view(&account, std::slice::from_ref(&entitlement)).unwrap();
    check("Account", &view, &view);
    let view = entitlement_view(&entitlement);
    check("Entitlement", &view, &view);

    let with_usage = |key: &ApiKey| {
        let mut view = key_view(key).unwrap();
        let object: &mut Map<String, Value> = view.as_object_mut().unwrap();
        for (name, value) in Usage::default().view_fields() {
            object.insert(name.into(), value);
        }
        view
    };
    let minimal = ApiKey {
        id: "key_1".into(),
        account_id: "acct_1".into(),
        name: "k".into(),
        environment: Environment::Test,
        status: KeyStatus::Active,
        scopes: vec!["*".into()],
        allowed_ips: vec![],
        products: vec![],
        created_at: 1,
        updated_at: 1,
        expires_at: None,
        leaked_at: None,
        revoke_at: None,
        rolled_to: None,
        disabled_by: None,
        rate_limit: None,
        ip_mode: IpMode::Enforce,
        grace: None,
        first_used_at: None,
        report_first_use: false,
        start: "sk_test_abcd".into(),
        end: "wxyz".into(),
        quota: None,
        credits: None,
    };
    let full = ApiKey {
        disabled_by: Some(Actor::Operator),
        grace: Some(FirstUseGrace {
            kind: "after_first_use".into(),
            seconds: 1,
            waiting: true,
            cap: 2,
        }),
        first_used_at: Some(1),
        report_first_use: true,
        ..minimal.clone()
    };
    check("ApiKey", &with_usage(&minimal), &with_usage(&full));

    let event = |key_id: Option<String>| {
        serde_json::to_value(Event {
            id: "evt_1".into(),
            kind: "key.created".into(),
            account_id: "acct_1".into(),
            key_id,
            actor: Actor::Operator,
            request_id: None,
            created_at: 1,
            data: json!({"before": {}, "after": {}}),
        })
        .unwrap()
    };
    check("Event", &event(None), &event(Some("key_1".into())));

    let denial = StoredDenial {
        denial: Denial {
            request_id: "req_1".into(),
            account_id: "acct_1".into(),
            key_id: "key_1".into(),
            status: 403,
            reason: "r".into(),
            method: "GET".into(),
            path: "/v1/x".into(),
            ip: None,
            at: 1,
        },
        similar_not_stored: 2,
    }
    .view();
    check("RefusedRequest", &denial, &denial);

    let deliveries = Deliveries {
        event_id: "evt_1".into(),
        account_id: "acct_1".into(),
        attempts: vec![Attempt {
            at: 1,
            status: None,
        }],
        delivered_at: None,
        next_attempt_at: Some(2),
    }
    .view();
    check("WebhookDeliveries", &deliveries, &deliveries);
    let attempt = &deliveries["attempts"][0];
    let items = &schema(&doc, "WebhookDeliveries")["properties"]["attempts"]["items"];
    assert_eq!(properties(&doc, items), keys_of(attempt));
}
