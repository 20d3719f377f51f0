//! The sandbox: its operations are `gateway.json`'s routes that test keys reach, its object
//! schemas come from the sandbox's records and write rules.

use crate::{
    answer, header_ref, id_parameter, json_content, list_of, one_error, parameter_ref, pascal,
    response_ref, schema_ref,
};
use keygate_core::config::{GatewayConfig, Route};
use keygate_core::keys::Environment;
use keygate_core::outbound::MAX_URL_LENGTH;
use keygate_sandbox::{
    CLOCK_HEADER, CollectionInfo, MAX_CLOCK_AHEAD_DAYS, MAX_CLOCK_STEP_DAYS, MAX_DELIVERY_LOG,
    MAX_NAMED_SANDBOXES, MAX_SANDBOX_NAME_LENGTH, MAX_SEED, MAX_WEBHOOK_ENDPOINTS, Sandbox,
};

/// What `keygate_sandbox::SandboxName::parse` accepts.
pub(crate) fn sandbox_name_pattern() -> String {
    format!("^[A-Za-z0-9_-]{{1,{MAX_SANDBOX_NAME_LENGTH}}}$")
}
use serde_json::{Map, Value, json};

/// The sandbox's tags, one per product of the gateway and one for routes of no product.
pub(crate) fn tags(gateway: &GatewayConfig) -> Vec<String> {
    gateway
        .products()
        .iter()
        .map(|p| tag(Some(&p.id)))
        .chain([tag(None)])
        .collect()
}

fn tag(product: Option<&str>) -> String {
    product.map_or_else(
        || "Sandbox".to_string(),
        |id| format!("Sandbox: {}", id.replace('_', " ")),
    )
}

fn words(name: &str) -> String {
    name.replace('_', " ")
}

/// The object schemas, their lists and the create bodies, in manifest order.
pub(crate) fn schemas(sandbox: &Sandbox) -> Map<String, Value> {
    let mut s = Map::new();
    let collections = sandbox.collections();
    for c in &collections {
        let name = format!("Sandbox{}", pascal(c.object));
        if let Some(schema) = sandbox.object_schema(c.name) {
            s.insert(name.clone(), schema);
        }
        s.insert(format!("{name}List"), list_of(&name));
    }
    for c in &collections {
        if let Some(schema) = sandbox.create_schema(c.name) {
            s.insert(format!("Sandbox{}Create", pascal(c.object)), schema);
        }
    }
    s.insert("SandboxScenarios".into(), json!({
        "type": "object",
        "required": ["object", "header", "scenarios", "magic_values"],
        "properties": {
            "object": {"const": "sandbox_scenarios"},
            "header": {"const": keygate_sandbox::SCENARIO_HEADER},
            "scenarios": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "delay_ms", "description"],
                    "properties": {
                        "name": {"type": "string"},
                        "status": {"type": "integer"},
                        "delay_ms": {"type": "integer", "minimum": 0},
                        "retry_after": {"type": "integer"},
                        "message": {"type": "string"},
                        "description": {"type": "string"},
                    },
                },
            },
            "magic_values": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["collection", "field", "equals", "description"],
                    "properties": {
                        "collection": {"type": "string"},
                        "field": {"type": "string"},
                        "equals": {},
                        "description": {"type": "string"},
                        "reject": {"type": "object", "required": ["status", "message"], "properties": {"status": {"type": "integer"}, "message": {"type": "string"}}},
                        "set": {"type": "object"},
                    },
                },
            },
        },
    }));
    s.insert(
        "SandboxReset".into(),
        json!({
            "type": "object",
            "required": ["object", "deleted", "reverted_updates", "idempotency_keys_cleared", "clock_reset"],
            "properties": {
                "object": {"const": "sandbox_reset"},
                "deleted": {"type": "integer", "minimum": 0},
                "reverted_updates": {"type": "integer", "minimum": 0},
                "idempotency_keys_cleared": {"type": "integer", "minimum": 0},
                "clock_reset": {"type": "boolean", "description": "The clock was ahead of real time, and is back."},
            },
        }),
    );
    s.insert(
        "SandboxClock".into(),
        json!({
            "type": "object",
            "required": ["object", "now", "today", "real_time", "frozen", "ahead_seconds"],
            "properties": {
                "object": {"const": "sandbox_clock"},
                "now": {"type": "string", "format": "date-time", "description": "The test account's sandbox time (UTC)."},
                "today": {"type": "string", "format": "date", "description": "Its day: what dates in the sandbox are compared with."},
                "real_time": {"type": "boolean", "description": "The clock reads real time (never moved, or reset; never in a repeatable sandbox)."},
                "frozen": {"type": "boolean", "description": "A repeatable sandbox: the clock stands still between moves, counted from its start."},
                "ahead_seconds": {"type": "integer", "minimum": 0, "maximum": MAX_CLOCK_AHEAD_DAYS * 86_400},
            },
        }),
    );
    let sandbox_name = json!({"type": "string", "pattern": sandbox_name_pattern(), "description": "The name the Keygate-Sandbox header gave it."});
    s.insert(
        "Sandbox".into(),
        json!({
            "type": "object",
            "required": ["object", "name", "created", "created_at", "repeatable"],
            "properties": {
                "object": {"const": "sandbox"},
                "name": sandbox_name,
                "created": {"type": "integer", "description": "When a request first named it (Unix seconds, real time)."},
                "created_at": {"type": "string", "format": "date-time"},
                "repeatable": {
                    "type": ["object", "null"],
                    "description": "The seed and clock start of a sandbox created repeatable; null for one made by its first request.",
                    "required": ["seed", "clock_start"],
                    "properties": {
                        "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                        "clock_start": {"type": "string", "format": "date-time"},
                    },
                },
            },
        }),
    );
    s.insert(
        "SandboxEvent".into(),
        json!({
            "type": "object",
            "required": ["id", "object", "type", "created", "data"],
            "description": "A change in the sandbox: a write (`{object}.created`, `{object}.updated`, an action's `{object}.{state}`) with the object as the write answered it, or what days passing did (a lifecycle's `{object}.{state}`, a booking's `payment_order.executed`/`rejected`, the ledger's `transaction.created`/`statement.created`) with the object as of that day. Only objects of collections the key may list itself.",
            "properties": {
                "id": {"type": "string", "pattern": "^evt_"},
                "object": {"const": "event"},
                "type": {"type": "string", "pattern": "^[a-z0-9_]+\\.[a-z0-9_]+$"},
                "created": {"type": "integer", "description": "When it happened, on the sandbox's clock (Unix seconds)."},
                "data": {
                    "type": "object",
                    "required": ["object"],
                    "properties": {"object": {"type": "object", "required": ["id", "object"]}},
                },
            },
        }),
    );
    s.insert(
        "SandboxEventList".into(),
        json!({
            "type": "object",
            "required": ["object", "data", "has_more"],
            "properties": {
                "object": {"const": "list"},
                "data": {"type": "array", "items": schema_ref("SandboxEvent")},
                "has_more": {"type": "boolean"},
            },
        }),
    );
    s.insert(
        "SandboxCreate".into(),
        json!({
            "type": "object",
            "required": ["name", "seed", "clock"],
            "additionalProperties": false,
            "description": "A repeatable sandbox: ids are drawn from the seed, and its clock starts at the start of `clock` (UTC) and stands still between moves, so the same requests get byte-identical bodies.",
            "properties": {
                "name": sandbox_name,
                "seed": {"type": "integer", "minimum": 0, "maximum": MAX_SEED},
                "clock": {"type": "string", "format": "date", "description": format!("The day its clock starts on, within {MAX_CLOCK_AHEAD_DAYS} days of today.")},
            },
        }),
    );
    s.insert(
        "SandboxList".into(),
        one_page(schema_ref("Sandbox"), MAX_NAMED_SANDBOXES),
    );
    s.insert(
        "SandboxDeleted".into(),
        json!({
            "type": "object",
            "required": ["object", "name", "deleted"],
            "properties": {
                "object": {"const": "sandbox"},
                "name": sandbox_name,
                "deleted": {"const": true},
            },
        }),
    );
    webhook_schemas(sandbox, &mut s);
    let hours = MAX_CLOCK_STEP_DAYS * 24;
    s.insert(
        "SandboxClockMove".into(),
        json!({
            "description": format!("Moves the clock forward, at most {MAX_CLOCK_STEP_DAYS} days per call: by `advance` (days and/or hours, not both 0), or `to` the start of a day (the clock's own day leaves it as it is). Backwards is a 400: reset instead."),
            "oneOf": [
                {
                    "type": "object",
                    "required": ["advance"],
                    "additionalProperties": false,
                    "properties": {"advance": {
                        "type": "object",
                        "additionalProperties": false,
                        "minProperties": 1,
                        "properties": {
                            "days": {"type": "integer", "minimum": 0, "maximum": MAX_CLOCK_STEP_DAYS},
                            "hours": {"type": "integer", "minimum": 0, "maximum": hours},
                        },
                    }},
                },
                {
                    "type": "object",
                    "required": ["to"],
                    "additionalProperties": false,
                    "properties": {"to": {"type": "string", "format": "date"}},
                },
            ],
        }),
    );
    s
}

/// A list that is always one page: it holds at most `max` items.
fn one_page(items: Value, max: usize) -> Value {
    json!({
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {
            "object": {"const": "list"},
            "data": {"type": "array", "maxItems": max, "items": items},
            "has_more": {"const": false, "description": format!("Always false: there are at most {max}.")},
        },
    })
}

/// The webhook endpoints, their deliveries and the test tool that sends events.
fn webhook_schemas(sandbox: &Sandbox, s: &mut Map<String, Value>) {
    let types: Vec<String> = sandbox.event_types().into_iter().collect();
    let event_type = json!({"type": "string", "enum": types});
    let mut enabled = types.clone();
    enabled.insert(0, "*".into());
    let endpoint_properties = json!({
        "id": {"type": "string", "pattern": "^we_"},
        "object": {"const": "webhook_endpoint"},
        "url": {"type": "string", "format": "uri"},
        "enabled_events": {"type": "array", "items": {"type": "string", "enum": enabled}},
        "created": {"type": "integer", "description": "Sandbox time, Unix seconds."},
        "pending": {"type": "integer", "minimum": 0, "description": "Events queued and not yet acknowledged."},
        "next_attempt_at": {"type": ["integer", "null"], "description": "When the oldest pending event is (re)tried, Unix seconds."},
    });
    let required = json!([
        "id",
        "object",
        "url",
        "enabled_events",
        "created",
        "pending",
        "next_attempt_at"
    ]);
    s.insert(
        "WebhookEndpoint".into(),
        json!({"type": "object", "required": required, "properties": endpoint_properties}),
    );
    let mut created = endpoint_properties.clone();
    created["secret"] = json!({
        "type": "string",
        "pattern": "^whsec_",
        "description": "Signs every delivery (`Keygate-Signature`). Shown only here: keep it.",
    });
    let mut created_required = required.clone();
    if let Some(names) = created_required.as_array_mut() {
        names.push(json!("secret"));
    }
    s.insert(
        "WebhookEndpointCreated".into(),
        json!({"type": "object", "required": created_required, "properties": created}),
    );
    s.insert(
        "WebhookEndpointCreate".into(),
        json!({
            "type": "object",
            "required": ["url", "enabled_events"],
            "additionalProperties": false,
            "properties": {
                "url": {"type": "string", "format": "uri", "maxLength": MAX_URL_LENGTH, "description": "Where deliveries go: a public `https` URL (a local `http` receiver only where `REQUIRE_HTTPS=\"false\"`)."},
                "enabled_events": {"type": "array", "minItems": 1, "maxItems": 64, "items": {"type": "string", "enum": enabled}, "description": "The event types it receives; `*` for all."},
            },
        }),
    );
    s.insert(
        "WebhookEndpointList".into(),
        one_page(schema_ref("WebhookEndpoint"), MAX_WEBHOOK_ENDPOINTS),
    );
    s.insert(
        "WebhookEndpointDeleted".into(),
        json!({
            "type": "object",
            "required": ["id", "object", "deleted"],
            "properties": {
                "id": {"type": "string"},
                "object": {"const": "webhook_endpoint"},
                "deleted": {"const": true},
            },
        }),
    );
    let mut deliveries = one_page(
        json!({
            "type": "object",
            "required": ["object", "event_id", "type", "attempt", "at", "status", "delivered"],
            "properties": {
                "object": {"const": "webhook_delivery"},
                "event_id": {"type": "string", "pattern": "^evt_"},
                "type": {"type": "string"},
                "attempt": {"type": "integer", "minimum": 1},
                "at": {"type": "integer", "description": "Unix seconds."},
                "status": {"type": ["integer", "null"], "description": "The receiver's status; null when it could not be reached in time."},
                "delivered": {"type": "boolean"},
            },
        }),
        MAX_DELIVERY_LOG,
    );
    deliveries["description"] = json!(format!(
        "Every attempt, oldest first; the newest {MAX_DELIVERY_LOG} are kept."
    ));
    s.insert("WebhookDeliveryList".into(), deliveries);
    s.insert(
        "SandboxEventSend".into(),
        json!({
            "description": "`type`: make an event of that type now, about the newest object of its collection (one in the type's state if there is one). `event`: queue a past event again for every endpoint that receives its type.",
            "oneOf": [
                {"type": "object", "required": ["type"], "additionalProperties": false, "properties": {"type": event_type}},
                {"type": "object", "required": ["event"], "additionalProperties": false, "properties": {"event": {"type": "string", "pattern": "^evt_"}}},
            ],
        }),
    );
    s.insert(
        "SandboxEventResent".into(),
        json!({
            "type": "object",
            "required": ["object", "event", "endpoints"],
            "properties": {
                "object": {"const": "event_resend"},
                "event": {"type": "string"},
                "endpoints": {"type": "array", "items": {"type": "string"}},
            },
        }),
    );
}

const SANDBOX_HEADERS: [&str; 2] = ["X-Sandbox", CLOCK_HEADER];
/// The scenario list is the same for every account: it is not read through its clock.
const SCENARIO_LIST_HEADERS: [&str; 1] = ["X-Sandbox"];

/// Every route a test key reaches, answered by the sandbox.
pub(crate) fn paths(gateway: &GatewayConfig, sandbox: &Sandbox, paths: &mut Map<String, Value>) {
    let collections = sandbox.collections();
    let find = |name: &str| collections.iter().find(|c| c.name == name);
    for route in gateway.routes() {
        if !route.serves(Environment::Test) {
            continue;
        }
        let segments: Vec<&str> = route.path.split('/').skip(2).collect();
        let Some((path, mut parameters)) = template(&segments, &find) else {
            continue;
        };
        let method = route.method.to_ascii_lowercase();
        if route.product.is_some() {
            parameters.push(parameter_ref("X-Product-Key"));
        }
        parameters.push(parameter_ref("X-Sandbox-Scenario"));
        // The account's list of sandboxes is the account's, whatever sandbox a request names.
        let names_a_sandbox = segments.get(1) != Some(&"sandboxes");
        if names_a_sandbox {
            parameters.push(parameter_ref("Keygate-Sandbox"));
        }
        let mut responses = Map::new();
        let mut body = None;
        let summary;
        if segments.first() == Some(&"sandbox") {
            let (status_text, schema, text, headers) = match (segments.get(1), method.as_str()) {
                (Some(&"sandboxes"), "delete") => (
                    "The named sandbox, deleted: its objects, idempotency keys and clock are gone.",
                    "SandboxDeleted",
                    "Delete one of this test account's named sandboxes",
                    &SCENARIO_LIST_HEADERS[..],
                ),
                (Some(&"sandboxes"), "post") => {
                    body = Some(schema_ref("SandboxCreate"));
                    responses.insert("409".into(), one_error(&format!(
                        "The name is taken (delete it first), or the account holds {MAX_NAMED_SANDBOXES} named sandboxes."
                    )));
                    responses.insert(
                        "201".into(),
                        answer(
                            "The repeatable sandbox, empty, its clock at its start.",
                            Some(schema_ref("Sandbox")),
                            &SCENARIO_LIST_HEADERS,
                        ),
                    );
                    (
                        "",
                        "",
                        "Create a repeatable named sandbox from a seed and a clock start",
                        &SCENARIO_LIST_HEADERS[..],
                    )
                }
                (Some(&"sandboxes"), _) => (
                    "The test account's named sandboxes, by name.",
                    "SandboxList",
                    "List this test account's named sandboxes",
                    &SCENARIO_LIST_HEADERS[..],
                ),
                (Some(&"events"), _) => {
                    body = Some(schema_ref("SandboxEventSend"));
                    responses.insert(
                        "201".into(),
                        answer(
                            "The event made, as the feed shows it; queued for the endpoints that receive its type.",
                            Some(schema_ref("SandboxEvent")),
                            &SANDBOX_HEADERS,
                        ),
                    );
                    responses.insert(
                        "202".into(),
                        answer(
                            "The past event, queued again for these endpoints.",
                            Some(schema_ref("SandboxEventResent")),
                            &SANDBOX_HEADERS,
                        ),
                    );
                    responses.insert("409".into(), one_error(
                        "No object to make the event about, an endpoint's queue is full, or the sandbox is full.",
                    ));
                    (
                        "",
                        "",
                        "Send an event now (by type), or send a past one again, to this sandbox's webhook endpoints",
                        &SANDBOX_HEADERS[..],
                    )
                }
                (Some(&"scenarios"), _) => (
                    "The scenarios and magic values.",
                    "SandboxScenarios",
                    "List the sandbox's failure scenarios and magic values",
                    &SCENARIO_LIST_HEADERS[..],
                ),
                (Some(&"clock"), "post") => {
                    body = Some(schema_ref("SandboxClockMove"));
                    responses.insert("409".into(), one_error(&format!(
                        "The clock would be more than {MAX_CLOCK_AHEAD_DAYS} days ahead of real time."
                    )));
                    (
                        "The clock, moved.",
                        "SandboxClock",
                        "Move this test account's sandbox clock forward",
                        &SANDBOX_HEADERS[..],
                    )
                }
                (Some(&"clock"), _) => (
                    "The clock.",
                    "SandboxClock",
                    "Read this test account's sandbox clock",
                    &SANDBOX_HEADERS[..],
                ),
                _ => (
                    "What was cleared.",
                    "SandboxReset",
                    "Delete everything this test account created in the sandbox and return its clock to real time",
                    &SANDBOX_HEADERS[..],
                ),
            };
            if !schema.is_empty() {
                responses.insert(
                    "200".into(),
                    answer(status_text, Some(schema_ref(schema)), headers),
                );
            }
            summary = text.to_string();
        } else if segments.first() == Some(&"events") {
            if segments.len() == 1 {
                parameters.push(parameter_ref("limit"));
                parameters.push(parameter_ref("starting_after"));
                parameters.push(json!({
                    "name": "type",
                    "in": "query",
                    "required": false,
                    "description": "Only events of this type (`payment_order.executed`).",
                    "schema": {"type": "string", "minLength": 1},
                }));
                responses.insert(
                    "200".into(),
                    answer(
                        "A page of the sandbox's events, oldest first.",
                        Some(schema_ref("SandboxEventList")),
                        &SANDBOX_HEADERS,
                    ),
                );
                summary = "List this sandbox's events, oldest first".to_string();
            } else {
                responses.insert(
                    "200".into(),
                    answer(
                        "The event.",
                        Some(schema_ref("SandboxEvent")),
                        &SANDBOX_HEADERS,
                    ),
                );
                summary = "Read one of this sandbox's events".to_string();
            }
        } else if segments.first() == Some(&"webhook_endpoints") {
            summary =
                webhook_endpoint_operation(&method, segments.len(), &mut responses, &mut body);
        } else if method == "post" && segments.len() == 3 {
            // A lifecycle action on one object: `POST /v1/{collection}/{id}/{action}`.
            let Some(c) = find(segments[0]) else { continue };
            let object = format!("Sandbox{}", pascal(c.object));
            responses.insert(
                "200".into(),
                answer(
                    &format!("The {}, {}.", words(c.object), words(segments[2])),
                    Some(schema_ref(&object)),
                    &SANDBOX_HEADERS,
                ),
            );
            responses.insert(
                "409".into(),
                one_error(&format!(
                    "The {} is not in a state `{}` applies to.",
                    words(c.object),
                    segments[2]
                )),
            );
            summary = format!("{} a {}", pascal(segments[2]), words(c.object));
        } else if method == "post" {
            let Some(c) = find(segments[0]) else { continue };
            let object = format!("Sandbox{}", pascal(c.object));
            parameters.push(parameter_ref("Idempotency-Key"));
            body = Some(schema_ref(&format!("{object}Create")));
            let mut created = answer(
                &format!("The created {}.", words(c.object)),
                Some(schema_ref(&object)),
                &SANDBOX_HEADERS,
            );
            created["headers"]["Idempotent-Replayed"] = header_ref("Idempotent-Replayed");
            responses.insert("201".into(), created);
            responses.insert("409".into(), response_ref("Conflict"));
            responses.insert("413".into(), response_ref("PayloadTooLarge"));
            if sandbox.has_refusing_magic_value(c.name) {
                responses.insert(
                    "422".into(),
                    one_error("A magic value's business refusal (see GET /v1/sandbox/scenarios)."),
                );
            }
            summary = format!(
                "Create a {} (sandbox: nothing is processed)",
                words(c.object)
            );
        } else {
            let child_name = if segments.len() == 2 {
                segments[0]
            } else {
                segments[segments.len() - 1]
            };
            let Some(child) = find(child_name) else {
                continue;
            };
            let object = format!("Sandbox{}", pascal(child.object));
            if segments.len() == 2 {
                responses.insert(
                    "200".into(),
                    answer(
                        &format!("The {}.", words(child.object)),
                        Some(schema_ref(&object)),
                        &SANDBOX_HEADERS,
                    ),
                );
                summary = format!("Read a {}", words(child.object));
            } else {
                responses.insert(
                    "200".into(),
                    answer(
                        &format!("A page of {}.", words(child.name)),
                        Some(schema_ref(&format!("{object}List"))),
                        &SANDBOX_HEADERS,
                    ),
                );
                parameters.push(parameter_ref("limit"));
                parameters.push(parameter_ref("starting_after"));
                for filter in &child.filterable {
                    parameters.push(json!({
                        "name": filter,
                        "in": "query",
                        "required": false,
                        "description": format!("Exact match on `{filter}` (its JSON text; `null` for null)."),
                        "schema": {"type": "string"},
                    }));
                }
                summary = match segments.len() {
                    3 => {
                        let owner = find(segments[0]).map_or(segments[0], |c| c.object);
                        format!("List {} of a {}", words(child.name), words(owner))
                    }
                    _ => format!("List {}", words(child.name)),
                };
            }
        }
        for (status, name) in [
            ("400", "BadRequest"),
            ("401", "Unauthorized"),
            ("403", "Forbidden"),
            ("404", "NotFound"),
            ("429", "TooManyRequests"),
            ("500", "InternalError"),
            ("503", "Unavailable"),
        ] {
            responses
                .entry(status)
                .or_insert_with(|| response_ref(name));
        }
        responses.insert(
            "504".into(),
            one_error("Simulated timeout (X-Sandbox-Scenario: timeout)."),
        );
        if names_a_sandbox {
            responses.entry("409").or_insert_with(|| {
                one_error(&format!(
                    "Keygate-Sandbox names a new sandbox while the account holds {MAX_NAMED_SANDBOXES}, the most it may."
                ))
            });
        }
        let mut sorted: Vec<(String, Value)> = responses.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(&b.0));
        let mut op = json!({
            "operationId": operation_id(&method, &segments, &find),
            "summary": summary,
            "description": description(route),
            "tags": [tag(route.product.as_deref())],
            "security": [{"keyBasic": []}, {"keyBearer": []}, {"keyHeader": []}],
            "x-scope": route.scope,
            "parameters": parameters,
            "responses": Value::Object(sorted.into_iter().collect()),
        });
        if let Some(product) = &route.product {
            op["x-product"] = json!(product);
        }
        if let Some(body) = body {
            op["requestBody"] = json!({"required": true, "content": json_content(body)});
        }
        let entry = paths
            .entry(format!("/v1/{path}"))
            .or_insert_with(|| Value::Object(Map::new()));
        entry[method] = op;
    }
}

/// The answers of a webhook endpoint route, its body if it takes one; its summary.
fn webhook_endpoint_operation(
    method: &str,
    depth: usize,
    responses: &mut Map<String, Value>,
    body: &mut Option<Value>,
) -> String {
    let (status, text, schema, summary) = match (method, depth) {
        ("post", _) => {
            *body = Some(schema_ref("WebhookEndpointCreate"));
            responses.insert(
                "409".into(),
                one_error(&format!(
                    "The sandbox holds {MAX_WEBHOOK_ENDPOINTS} webhook endpoints, the most it may."
                )),
            );
            (
                "201",
                "The endpoint, with its signing secret (shown only here).",
                "WebhookEndpointCreated",
                "Register a webhook endpoint for this sandbox's events",
            )
        }
        ("delete", _) => (
            "200",
            "The endpoint, deleted with what was queued for it.",
            "WebhookEndpointDeleted",
            "Delete a webhook endpoint",
        ),
        (_, 1) => (
            "200",
            "This sandbox's webhook endpoints (no secrets).",
            "WebhookEndpointList",
            "List this sandbox's webhook endpoints",
        ),
        (_, 2) => (
            "200",
            "The endpoint (no secret).",
            "WebhookEndpoint",
            "Read a webhook endpoint",
        ),
        _ => (
            "200",
            "Every delivery attempt kept, oldest first.",
            "WebhookDeliveryList",
            "List a webhook endpoint's delivery attempts",
        ),
    };
    responses.insert(
        status.into(),
        answer(text, Some(schema_ref(schema)), &SANDBOX_HEADERS),
    );
    summary.to_string()
}

/// The OpenAPI path below `/v1/` of a route's segments, and its path parameters: each `*` is
/// the id of the collection named before it.
fn template<'c>(
    segments: &[&str],
    find: &impl Fn(&str) -> Option<&'c CollectionInfo<'c>>,
) -> Option<(String, Vec<Value>)> {
    if segments == ["events", "*"] {
        let id = id_parameter("event_id", "The event's id (`evt_…`).");
        return Some(("events/{event_id}".into(), vec![id]));
    }
    if segments == ["events"] {
        return Some(("events".into(), Vec::new()));
    }
    if segments.first() == Some(&"webhook_endpoints") {
        let id = id_parameter("webhook_endpoint_id", "The webhook endpoint's id (`we_…`).");
        return Some(match segments {
            [_] => ("webhook_endpoints".into(), Vec::new()),
            [_, "*"] => ("webhook_endpoints/{webhook_endpoint_id}".into(), vec![id]),
            _ => (
                "webhook_endpoints/{webhook_endpoint_id}/deliveries".into(),
                vec![id],
            ),
        });
    }
    if segments == ["sandbox", "sandboxes", "*"] {
        let name = json!({
            "name": "sandbox_name",
            "in": "path",
            "required": true,
            "description": "The sandbox's name.",
            "schema": {"type": "string", "pattern": sandbox_name_pattern()},
        });
        return Some(("sandbox/sandboxes/{sandbox_name}".into(), vec![name]));
    }
    let mut parts = Vec::new();
    let mut parameters = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        if *segment == "*" {
            let owner = find(segments.get(i.checked_sub(1)?)?)?;
            let name = format!("{}_id", owner.object);
            parameters.push(id_parameter(
                &name,
                &format!("The {}'s id (`{}…`).", words(owner.object), owner.id_prefix),
            ));
            parts.push(format!("{{{name}}}"));
        } else {
            parts.push((*segment).to_string());
        }
    }
    Some((parts.join("/"), parameters))
}

/// `listOwners`, `getOwner`, `listOwnerAccounts`, `createPaymentOrder`, prefixed `sandbox`;
/// `listSandboxScenarios`, `getSandboxClock`, `moveSandboxClock` and `resetSandbox` for the
/// sandbox's own routes.
fn operation_id<'c>(
    method: &str,
    segments: &[&str],
    find: &impl Fn(&str) -> Option<&'c CollectionInfo<'c>>,
) -> String {
    if segments.first() == Some(&"events") {
        return if segments.len() == 1 {
            "listSandboxEvents".into()
        } else {
            "getSandboxEvent".into()
        };
    }
    if segments.first() == Some(&"webhook_endpoints") {
        return match (method, segments.len()) {
            ("post", _) => "createWebhookEndpoint",
            ("delete", _) => "deleteWebhookEndpoint",
            (_, 1) => "listWebhookEndpoints",
            (_, 2) => "getWebhookEndpoint",
            _ => "listWebhookDeliveries",
        }
        .into();
    }
    if segments.first() == Some(&"sandbox") {
        return match (segments.get(1), method) {
            (Some(&"scenarios"), _) => "listSandboxScenarios".into(),
            (Some(&"events"), _) => "sendSandboxEvent".into(),
            (Some(&"sandboxes"), "delete") => "deleteSandbox".into(),
            (Some(&"sandboxes"), "post") => "createSandbox".into(),
            (Some(&"sandboxes"), _) => "listSandboxes".into(),
            (Some(&"clock"), "post") => "moveSandboxClock".into(),
            (Some(&"clock"), _) => "getSandboxClock".into(),
            _ => "resetSandbox".into(),
        };
    }
    let object = |name: &str| pascal(find(name).map_or(name, |c| c.object));
    let id = if method == "post" && segments.len() == 3 {
        format!("{}{}", pascal(segments[2]), object(segments[0]))
    } else if method == "post" {
        format!("Create{}", object(segments[0]))
    } else {
        match segments.len() {
            1 => format!("List{}", pascal(segments[0])),
            2 => format!("Get{}", object(segments[0])),
            _ => format!(
                "List{}{}",
                object(segments[0]),
                pascal(segments[segments.len() - 1])
            ),
        }
    };
    format!("sandbox{id}")
}

fn description(route: &Route) -> String {
    let reach = match &route.product {
        Some(product) => {
            format!(", product `{product}` (send its product key in `X-Product-Key`).")
        }
        None => ", test keys only.".into(),
    };
    format!(
        "Scope `{}`{reach} Test keys are answered by the built-in sandbox; live keys are \
         forwarded to the origin.",
        route.scope
    )
}
