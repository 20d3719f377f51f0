//! keygate's API reference, `public/openapi.json`, written from what the gateway itself runs on:
//! the admin route table and body specs (`keygate_core::admin::{routes, bodies}`), the event
//! types, `gateway.json`'s routes and the sandbox's collections, records and write rules. The
//! view schemas (what the admin API answers) are written here once; tests hold them to the
//! views the engine renders.
//!
//! `cargo run -p keygate-openapi` rewrites the file; `cargo test -p keygate-openapi` fails when
//! the committed file is not what this crate writes.

mod admin;
mod sandbox;

use keygate_core::config::GatewayConfig;
use keygate_sandbox::Sandbox;
use serde_json::{Map, Value, json};
use std::path::PathBuf;

/// `gateway.json`, the file the worker embeds.
pub const GATEWAY_JSON: &str = include_str!("../../../gateway.json");

/// Where the document is committed, from the repository's root.
pub const DOCUMENT_PATH: &str = "public/openapi.json";

/// The committed document's path on this machine.
pub fn document_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(DOCUMENT_PATH)
}

/// The document as committed: two-space indented JSON and a final newline.
pub fn render(document: &Value) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(document).map(|text| text + "\n")
}

/// The document for this repository's `gateway.json` and embedded sandbox data.
pub fn generate() -> Result<Value, String> {
    let gateway = GatewayConfig::from_json(GATEWAY_JSON).map_err(|e| e.to_string())?;
    let sandbox = Sandbox::load_embedded().map_err(|e| e.to_string())?;
    Ok(document(&gateway, sandbox))
}

pub(crate) fn schema_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

pub(crate) fn response_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

pub(crate) fn parameter_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/parameters/{name}")})
}

pub(crate) fn header_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/headers/{name}")})
}

pub(crate) fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

/// A list page of `item`.
pub(crate) fn list_of(item: &str) -> Value {
    json!({
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "items": schema_ref(item)},
            "has_more": {"type": "boolean"},
        },
    })
}

/// A successful answer: its description, `X-Request-Id` and any `extra` headers, and its body.
pub(crate) fn answer(description: &str, schema: Option<Value>, extra: &[&str]) -> Value {
    let mut headers = Map::new();
    for name in ["X-Request-Id"].iter().chain(extra) {
        headers.insert((*name).to_string(), header_ref(name));
    }
    let mut answer = json!({"description": description, "headers": headers});
    if let Some(schema) = schema {
        answer["content"] = json_content(schema);
    }
    answer
}

fn error_answer(description: &str, extra: &[&str]) -> Value {
    answer(description, Some(schema_ref("Error")), extra)
}

/// An error answer that is not one of the shared responses.
pub(crate) fn one_error(description: &str) -> Value {
    error_answer(description, &[])
}

/// A path parameter of an id segment.
pub(crate) fn id_parameter(name: &str, description: &str) -> Value {
    json!({
        "name": name,
        "in": "path",
        "required": true,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "pattern": ID_PATTERN},
    })
}

/// What an id segment may be: a canonical path segment of unreserved characters.
const ID_PATTERN: &str = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$";

fn document(gateway: &GatewayConfig, sandbox: &Sandbox) -> Value {
    let mut schemas = admin::schemas(gateway);
    schemas.extend(sandbox::schemas(sandbox));
    let mut paths = Map::new();
    admin::paths(gateway, &mut paths);
    sandbox::paths(gateway, sandbox, &mut paths);
    let mut tags: Vec<Value> = admin::TAGS
        .iter()
        .map(|(_, name, description)| json!({"name": name, "description": description}))
        .collect();
    tags.extend(
        sandbox::tags(gateway)
            .into_iter()
            .map(|name| json!({"name": name, "description": "Sandbox (test keys)."})),
    );
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "keygate",
            "version": "1.0.0",
            "summary": "API-key gateway: admin API and the sandbox served to test keys.",
            "description": "The admin API (`/admin/v1/...`) manages accounts, entitlements, keys \
                and events; the `/v1/...` routes are the API behind the gateway, answered from \
                built-in mock data for test keys. Every answer carries `X-Request-Id`; every \
                error is `{status, message, errors?}`. Every admin answer carries \
                `Cache-Control: no-store`. A path with a method it does not accept answers 405 \
                with `Allow`; the HTTP scheme is refused with 403 unless REQUIRE_HTTPS is false. \
                Generated by crates/keygate-openapi from the code's route tables and \
                sandbox-data/; `cargo run -p keygate-openapi` rewrites it.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/", "description": "This deployment"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": responses(),
            "parameters": parameters(sandbox),
            "headers": headers(),
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <ADMIN_TOKEN>` (the operator), or a secret key with scope `keys:manage` (its own account's key endpoints and reads of its own account; also accepted as Basic or `X-API-Key`)."},
                "keyBasic": {"type": "http", "scheme": "basic", "description": "The secret key as username, empty password."},
                "keyBearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer sk_test_…`."},
                "keyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: sk_test_…`."},
            },
        },
    })
}

fn headers() -> Value {
    json!({
        "X-Request-Id": {"description": "A fresh, unique id of this request (the first step of every request); quote it to support.", "required": true, "schema": {"type": "string"}},
        "Retry-After": {"description": "Seconds to wait before retrying.", "required": true, "schema": {"type": "integer", "minimum": 0}},
        "Allow": {"description": "The methods the path accepts.", "required": true, "schema": {"type": "string"}},
        "WWW-Authenticate": {"description": "`Basic realm=\"keygate\"` when no credential was sent.", "schema": {"type": "string"}},
        "X-Sandbox": {"description": "Every sandbox answer carries `X-Sandbox: true`.", "schema": {"const": "true"}},
        "X-Sandbox-Clock": {"description": "The test account's sandbox time (UTC, RFC 3339), after the request: real time until moved with POST /v1/sandbox/clock.", "required": true, "schema": {"type": "string", "format": "date-time"}},
        "Idempotent-Replayed": {"description": "`true` when the stored answer of an earlier request with the same `Idempotency-Key` is replayed.", "schema": {"const": "true"}},
        "Keygate-Quota-Limit": {"description": "On every answer to a key under a quota or credits: the units of the tightest counter's period (docs/quotas.md).", "schema": {"type": "integer", "minimum": 0}},
        "Keygate-Quota-Remaining": {"description": "Units left in it, as the serving location knows (never more than the truth).", "schema": {"type": "integer", "minimum": 0}},
        "Keygate-Quota-Reset": {"description": "Seconds until it resets; absent for credits that are never refilled.", "schema": {"type": "integer", "minimum": 0}},
    })
}

fn responses() -> Value {
    let mut unavailable = error_answer(
        "The key store, the registry or the origin is not available (fail closed).",
        &[],
    );
    // Retry-After on 503 is sent when the wait is known.
    unavailable["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait, when known.",
        "schema": {"type": "integer", "minimum": 0},
    });
    let mut too_many = error_answer(
        "Rate limited: a key's or its account's rate limit, a quota, or a key's credits (edge); an account's admin budget (MANAGER_WRITES_PER_MINUTE, MANAGER_READS_PER_MINUTE) or too many failed admin authentications from one address (admin).",
        &[
            "Keygate-Quota-Limit",
            "Keygate-Quota-Remaining",
            "Keygate-Quota-Reset",
        ],
    );
    // Credits that are never refilled have no time to wait for: only a top-up helps.
    too_many["headers"]["Retry-After"] = json!({
        "description": "Seconds to wait before retrying; absent only when a key's credits, never refilled, ran out.",
        "schema": {"type": "integer", "minimum": 0},
    });
    json!({
        "BadRequest": error_answer("Malformed request: invalid body or query (one `errors` entry per field at fault), two different credentials, a missing `X-Product-Key`, or a key in the URL.", &[]),
        "Unauthorized": error_answer("No credential, a malformed or unknown key or token, or a key that is disabled, expired, revoked, or of a suspended account.", &["WWW-Authenticate"]),
        "Forbidden": error_answer("HTTPS required, address not allowed, scope missing, an operator-only endpoint called with a key, or beyond the calling key's own limits.", &[]),
        "NotFound": error_answer("No such resource (or one of another account), or a hidden 403.", &[]),
        "MethodNotAllowed": error_answer("The path exists but not with this method.", &["Allow"]),
        "Conflict": error_answer("The request is valid but conflicts with the resource's state.", &[]),
        "PayloadTooLarge": error_answer("The body is larger than allowed (64 KiB).", &[]),
        "TooManyRequests": too_many,
        "InternalError": error_answer("Internal error; retry later, quote the X-Request-Id.", &[]),
        "Unavailable": unavailable,
    })
}

fn parameters(sandbox: &Sandbox) -> Value {
    let scenarios: Vec<&str> = sandbox.scenario_names().collect();
    json!({
        "limit": {"name": "limit", "in": "query", "required": false, "description": "Page size, 1–100 (default 10).", "schema": {"type": "integer", "minimum": 1, "maximum": keygate_core::page::MAX_LIMIT, "default": keygate_core::page::DEFAULT_LIMIT}},
        "starting_after": {"name": "starting_after", "in": "query", "required": false, "description": "The id of the last object of the previous page; must name an object of the list.", "schema": {"type": "string", "minLength": 1}},
        "X-Product-Key": {"name": "X-Product-Key", "in": "header", "required": true, "description": "The account's product key for the route's product (`pk_test_…` with a test key). Missing: 400; malformed, unknown, another account's or another product's: 404.", "schema": {"type": "string", "pattern": "^pk_(test|live)_"}},
        "X-Sandbox-Scenario": {"name": keygate_sandbox::SCENARIO_HEADER, "in": "header", "required": false, "description": "Simulate a failure (see GET /v1/sandbox/scenarios). An unknown value is 400.", "schema": {"type": "string", "enum": scenarios}},
        "Keygate-Sandbox": {"name": keygate_sandbox::SANDBOX_HEADER, "in": "header", "required": false, "description": format!("Selects a named sandbox of the test account (created on first use; at most {} per account): its own objects, idempotency keys and clock, never seen by the default sandbox or another named one. Without it, the account's default sandbox answers. The answer carries the header back. A malformed name is 400.", keygate_sandbox::MAX_NAMED_SANDBOXES), "schema": {"type": "string", "pattern": sandbox::sandbox_name_pattern()}},
        "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "required": false, "description": "1–255 printable ASCII characters: a retried POST with the same key and body answers the same (24 h).", "schema": {"type": "string", "minLength": 1, "maxLength": keygate_sandbox::MAX_IDEMPOTENCY_KEY_LENGTH, "pattern": "^[\\x20-\\x7E]+$"}},
        "Github-Public-Key-Identifier": {"name": "Github-Public-Key-Identifier", "in": "header", "required": true, "description": "The id of the GitHub key that signed the report.", "schema": {"type": "string"}},
        "Github-Public-Key-Signature": {"name": "Github-Public-Key-Signature", "in": "header", "required": true, "description": "Base64 ECDSA (P-256, SHA-256) signature of the raw body.", "schema": {"type": "string"}},
    })
}

/// `snake_case` → `PascalCase`.
pub(crate) fn pascal(name: &str) -> String {
    name.split('_')
        .map(|part| {
            let mut chars = part.chars();
            chars.next().map_or_else(String::new, |first| {
                first.to_uppercase().chain(chars).collect::<String>()
            })
        })
        .collect()
}
