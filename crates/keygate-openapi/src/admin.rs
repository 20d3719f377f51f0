//! The admin API: its operations from the route table, its request bodies from the body specs,
//! and the views it answers with.

use crate::{
    answer, id_parameter, json_content, list_of, one_error, parameter_ref, response_ref, schema_ref,
};
use keygate_core::admin::bodies::{BODIES, BodySpec, FieldKind};
use keygate_core::admin::routes::{
    Auth, Body, FilterValues, Operation, PATH_PARAMS, Query, ROUTES, Tag,
};
use keygate_core::admin::{GRACE_MAX, MAX_LEAK_TOKENS, MAX_LIST_ITEMS, MAX_NAME_CHARS};
use keygate_core::config::GatewayConfig;
use keygate_core::engine::EVENT_TYPES;
use keygate_core::github;
use keygate_core::quota::MAX_VOLUME;
use keygate_core::ratelimit::{MAX_PERIOD_SECONDS, MAX_REQUESTS};
use serde_json::{Map, Value, json};

/// The admin tags: (tag, name, description).
pub(crate) const TAGS: [(Tag, &str, &str); 4] = [
    (
        Tag::Accounts,
        "Accounts",
        "Accounts and entitlements: changed by the operator only; a `keys:manage` key reads its own.",
    ),
    (
        Tag::Keys,
        "Keys",
        "Secret keys: operator, or a `keys:manage` key of the same account.",
    ),
    (
        Tag::Events,
        "Events and requests",
        "Events, refusals, webhook deliveries.",
    ),
    (Tag::Leaks, "Leaks", "Leak reports."),
];

fn tag_name(tag: Tag) -> &'static str {
    TAGS.iter()
        .find(|(t, _, _)| *t == tag)
        .map_or("", |(_, name, _)| name)
}

/// Every admin operation, as the route table states it.
pub(crate) fn paths(gateway: &GatewayConfig, paths: &mut Map<String, Value>) {
    for op in ROUTES {
        let entry = paths
            .entry(op.path)
            .or_insert_with(|| Value::Object(Map::new()));
        entry[op.method.as_str().to_ascii_lowercase()] = operation(op, gateway);
    }
}

fn operation(op: &Operation, gateway: &GatewayConfig) -> Value {
    let mut parameters: Vec<Value> = op
        .path_params()
        .map(|name| path_parameter(name, gateway))
        .collect();
    if let Query::Page(filters) = op.query {
        parameters.push(parameter_ref("limit"));
        parameters.push(parameter_ref("starting_after"));
        for filter in filters {
            let schema = match filter.values {
                FilterValues::EventType => json!({"type": "string", "enum": EVENT_TYPES}),
                FilterValues::Id => json!({"type": "string", "minLength": 1}),
                FilterValues::Date => {
                    json!({"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"})
                }
            };
            parameters.push(json!({
                "name": filter.name,
                "in": "query",
                "required": false,
                "description": filter.description,
                "schema": schema,
            }));
        }
    }
    let mut responses = Map::new();
    for a in op.answers {
        responses.insert(
            a.status.to_string(),
            answer(a.description, a.schema.map(schema_ref), &[]),
        );
    }
    let has_body = op.body != Body::None;
    for (status, name) in [
        ("400", "BadRequest"),
        ("401", "Unauthorized"),
        ("403", "Forbidden"),
        ("404", "NotFound"),
        ("503", "Unavailable"),
    ] {
        responses.insert(status.into(), response_ref(name));
    }
    if op.conflict {
        responses.insert("409".into(), response_ref("Conflict"));
    }
    let mut out = json!({
        "operationId": op.id,
        "summary": op.summary,
        "tags": [tag_name(op.tag)],
    });
    match op.auth {
        Auth::AdminCredential => {
            out["security"] = json!([{"adminToken": []}]);
            if has_body {
                responses.insert("413".into(), response_ref("PayloadTooLarge"));
            }
            // A manager's account has a read and a write budget, and repeated failed
            // authentications from one address are refused for a while.
            responses.insert("429".into(), response_ref("TooManyRequests"));
        }
        Auth::GithubSignature => {
            out["security"] = json!([]);
            parameters.push(parameter_ref("Github-Public-Key-Identifier"));
            parameters.push(parameter_ref("Github-Public-Key-Signature"));
            responses.insert(
                "413".into(),
                one_error(&format!(
                    "The report is larger than {} KiB.",
                    github::MAX_REPORT_BYTES / 1024
                )),
            );
        }
    }
    if let Some(description) = op.description {
        out["description"] = json!(description);
    }
    if !parameters.is_empty() {
        out["parameters"] = Value::Array(parameters);
    }
    let (schema, required) = match op.body {
        Body::None => (None, false),
        Body::Required(schema) => (Some(schema), true),
        Body::Optional(schema) => (Some(schema), false),
    };
    if let Some(schema) = schema {
        out["requestBody"] =
            json!({"required": required, "content": json_content(schema_ref(schema))});
    }
    let mut sorted: Vec<(String, Value)> = responses.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    out["responses"] = Value::Object(sorted.into_iter().collect());
    out
}

fn path_parameter(name: &str, gateway: &GatewayConfig) -> Value {
    let description = PATH_PARAMS
        .iter()
        .find(|p| p.name == name)
        .map_or("", |p| p.description);
    if name == "product_id" {
        let products: Vec<&str> = gateway.products().iter().map(|p| p.id.as_str()).collect();
        return json!({
            "name": name,
            "in": "path",
            "required": true,
            "description": description,
            "schema": {"type": "string", "enum": products},
        });
    }
    id_parameter(name, description)
}

/// The scopes a key may be given (`GatewayConfig::is_known_scope`): `*`, `keys:manage`, every
/// route's scope, and the wildcards that grant one of them.
fn known_scopes(gateway: &GatewayConfig) -> Vec<String> {
    let mut scopes: Vec<String> = gateway.routes().iter().map(|r| r.scope.clone()).collect();
    scopes.push("keys:manage".into());
    scopes.sort();
    scopes.dedup();
    let part = |i: usize| {
        let mut parts: Vec<String> = scopes
            .iter()
            .filter_map(|s| s.split(':').nth(i).map(str::to_string))
            .collect();
        parts.sort();
        parts.dedup();
        parts
    };
    let mut known = vec!["*".to_string()];
    known.extend(scopes.iter().cloned());
    known.extend(part(0).into_iter().map(|r| format!("{r}:*")));
    known.extend(part(1).into_iter().map(|a| format!("*:{a}")));
    known
}

fn cidr_list() -> Value {
    json!({
        "type": "array",
        "items": {
            "type": "string",
            "description": "An IPv4 or IPv6 address or CIDR range with zero host bits (`203.0.113.0/24`); answered in canonical CIDR form.",
            "anyOf": [
                {"format": "ipv4"},
                {"format": "ipv6"},
                {"pattern": "^(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(\\.(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}/(3[0-2]|[12]?[0-9])$"},
            ],
        },
    })
}

fn name_field() -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_NAME_CHARS,
        "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
        "description": format!("Trimmed; at most {MAX_NAME_CHARS} characters after trimming; no control characters."),
    })
}

fn quota_or_null() -> Value {
    json!({"oneOf": [schema_ref("Quota"), {"type": "null"}]})
}

fn credits_or_null() -> Value {
    json!({"oneOf": [schema_ref("Credits"), {"type": "null"}]})
}

fn rate_limit_or_null() -> Value {
    json!({"oneOf": [schema_ref("RateLimit"), {"type": "null"}]})
}

/// The schema of one body field, from its kind.
fn field_schema(kind: FieldKind, gateway: &GatewayConfig) -> Value {
    match kind {
        FieldKind::Name => name_field(),
        FieldKind::Choice { of, default } => {
            let mut schema = json!({"type": "string", "enum": of.words()});
            if let Some(default) = default {
                schema["default"] = json!(default);
            }
            schema
        }
        FieldKind::Cidrs => cidr_list(),
        FieldKind::Scopes => json!({
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LIST_ITEMS,
            "items": {"type": "string", "enum": known_scopes(gateway)},
        }),
        FieldKind::Products => {
            let products: Vec<&str> = gateway.products().iter().map(|p| p.id.as_str()).collect();
            json!({"type": "array", "maxItems": MAX_LIST_ITEMS, "items": {"type": "string", "enum": products}})
        }
        FieldKind::ExpiresAt => json!({"type": ["integer", "null"]}),
        FieldKind::RateLimit => rate_limit_or_null(),
        FieldKind::Quota => quota_or_null(),
        FieldKind::Credits => credits_or_null(),
        FieldKind::GraceSeconds { default } => {
            json!({"type": "integer", "minimum": 0, "maximum": GRACE_MAX, "default": default})
        }
    }
}

/// The schema of a flat body, from its spec. An optional body (the route table says which)
/// may also be `null`.
fn body_schema(spec: &BodySpec, gateway: &GatewayConfig) -> Value {
    let optional = ROUTES
        .iter()
        .any(|op| op.body == Body::Optional(spec.schema));
    let mut properties = Map::new();
    for field in spec.fields {
        let mut schema = field_schema(field.kind, gateway);
        if let Some(description) = field.description {
            schema["description"] = json!(description);
        }
        properties.insert(field.name.into(), schema);
    }
    let required: Vec<&str> = spec.required().collect();
    let mut schema = json!({
        "type": if optional { json!(["object", "null"]) } else { json!("object") },
        "additionalProperties": false,
    });
    if let Some(description) = spec.description {
        schema["description"] = json!(description);
    }
    if !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema["properties"] = Value::Object(properties);
    schema
}

/// Every admin schema: the errors, the request bodies and the views.
pub(crate) fn schemas(gateway: &GatewayConfig) -> Map<String, Value> {
    let nullable = |t: &str| json!({"type": [t, "null"]});
    let ip_mode = json!({"type": "string", "enum": ["enforce", "report"]});
    let mut s = Map::new();
    s.insert("FieldError".into(), json!({
        "type": "object",
        "required": ["field", "message"],
        "properties": {
            "field": {"type": "string", "description": "The field at fault: a body field (`scopes[2]`, `holder.email`), a query parameter, or a header (`X-Product-Key`)."},
            "message": {"type": "string"},
        },
    }));
    s.insert("Error".into(), json!({
        "type": "object",
        "description": "Every error of keygate (the README, \"How a request is checked\"): the edge pipeline, the admin API and the sandbox.",
        "required": ["status", "message"],
        "properties": {
            "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status, repeated."},
            "message": {"type": "string", "description": "What is wrong and what to do. Never contains a secret."},
            "errors": {"type": "array", "minItems": 1, "items": schema_ref("FieldError"), "description": "Present only when specific fields are at fault."},
        },
    }));
    s.insert(
        "RateLimit".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["requests", "period_seconds"],
            "properties": {
                "requests": {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS},
                "period_seconds": {"type": "integer", "minimum": 1, "maximum": MAX_PERIOD_SECONDS},
            },
        }),
    );
    let products: Vec<&str> = gateway.products().iter().map(|p| p.id.as_str()).collect();
    let period = json!({"type": "string", "enum": ["day", "month"], "description": "A calendar period in UTC."});
    s.insert(
        "Quota".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["requests", "period"],
            "properties": {
                "requests": {"type": "integer", "minimum": 1, "maximum": MAX_VOLUME},
                "period": period,
                "product": {"oneOf": [{"type": "string", "enum": products}, {"type": "null"}], "description": "Only this product's routes count; absent or null: every route."},
            },
        }),
    );
    s.insert(
        "Credits".into(),
        json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["remaining"],
            "properties": {
                "remaining": {"type": "integer", "minimum": 0, "maximum": MAX_VOLUME, "description": "The balance set now; in a view, the balance as set (the live balance is in the usage export's `counters`)."},
                "refill": {"oneOf": [{
                    "type": "object",
                    "additionalProperties": false,
                    "required": ["amount", "period"],
                    "properties": {
                        "amount": {"type": "integer", "minimum": 1, "maximum": MAX_VOLUME},
                        "period": period,
                    },
                }, {"type": "null"}]},
            },
        }),
    );
    s.insert(
        "CreditsView".into(),
        json!({
            "type": "object",
            "required": ["remaining", "set_at"],
            "properties": {
                "remaining": {"type": "integer", "description": "The balance as set (the live balance is in the usage export's `counters`)."},
                "refill": {"type": ["object", "null"]},
                "set_at": {"type": "integer", "description": "When the balance was set."},
                "balance_of": {"type": "string", "description": "The key the balance was set on; a roll's successor shares it."},
            },
        }),
    );
    s.insert("Actor".into(), json!({
        "oneOf": [
            {"type": "object", "required": ["type"], "properties": {"type": {"const": "operator"}}},
            {"type": "object", "required": ["type", "key_id"], "properties": {"type": {"const": "key"}, "key_id": {"type": "string"}}},
        ],
    }));
    s.insert("Account".into(), json!({
        "type": "object",
        "required": ["object", "id", "name", "agreement", "status", "allowed_ips", "created_at", "updated_at", "rate_limit", "ip_mode", "products", "quota"],
        "properties": {
            "object": {"const": "account"},
            "id": {"type": "string", "pattern": "^acct_"},
            "name": {"type": "string"},
            "agreement": {"type": "string", "enum": ["test", "production"]},
            "status": {"type": "string", "enum": ["active", "suspended"]},
            "allowed_ips": {"type": "array", "items": {"type": "string"}},
            "created_at": {"type": "integer", "description": "Unix seconds."},
            "updated_at": {"type": "integer", "description": "Unix seconds."},
            "rate_limit": {"oneOf": [schema_ref("RateLimit"), {"type": "null"}], "description": "One limit shared by all the account's keys (a key's own limit can only be tighter)."},
            "quota": quota_or_null(),
            "ip_mode": ip_mode,
            "products": {"type": "array", "items": {"type": "string"}, "description": "The products the account is entitled to."},
        },
    }));
    for spec in BODIES {
        s.insert(spec.schema.into(), body_schema(spec, gateway));
    }
    s.insert("RefusalCounts".into(), json!({
        "type": "object",
        "description": "The key's refused requests since its creation. At most 10 of a key and 100 of an account are stored whole per UTC minute, and only a key's first rate-limit refusal (429) of a minute; the rest are counted (docs/admin-api.md \"Bounded storage\").",
        "required": ["stored", "counted"],
        "properties": {
            "stored": {"type": "integer", "minimum": 0, "description": "Stored whole: readable at GET /admin/v1/requests/{request_id} for 7 days."},
            "counted": {"type": "integer", "minimum": 0, "description": "Past the caps: counted only (a lookup of their request id is 404)."},
        },
    }));
    s.insert("WouldDenyCounts".into(), json!({
        "type": "object",
        "description": "The key's would-deny reports (report-mode allowlists): one `ip.would_deny` event per address block (/24 for IPv4, /64 for IPv6) per UTC day, the rest counted.",
        "required": ["events", "counted"],
        "properties": {
            "events": {"type": "integer", "minimum": 0, "description": "Recorded as `ip.would_deny` events."},
            "counted": {"type": "integer", "minimum": 0, "description": "Of a block that already had its event that day: counted only."},
        },
    }));
    s.insert("IpSeen".into(), json!({
        "type": "object",
        "required": ["ip", "count", "last_seen_at"],
        "properties": {"ip": {"type": "string"}, "count": {"type": "integer", "minimum": 0}, "last_seen_at": {"type": "integer"}},
    }));
    s.insert("FirstUseGrace".into(), json!({
        "type": "object",
        "required": ["kind", "seconds", "waiting", "cap"],
        "properties": {
            "kind": {"const": "after_first_use"},
            "seconds": {"type": "integer", "minimum": 0, "maximum": GRACE_MAX},
            "waiting": {"type": "boolean"},
            "cap": {"type": "integer", "description": "The latest the key can work: the roll plus 7 days."},
        },
    }));
    s.insert("ApiKey".into(), json!({
        "type": "object",
        "description": "An API key as the admin API shows it: never the secret, never its hash.",
        "required": ["object", "id", "account_id", "name", "environment", "status", "scopes", "allowed_ips", "products", "created_at", "updated_at", "expires_at", "leaked_at", "revoke_at", "rolled_to", "rate_limit", "quota", "credits", "ip_mode", "start", "end", "last_used_at", "last_used_ip", "ips_seen", "refusals", "would_deny"],
        "properties": {
            "object": {"const": "api_key"},
            "id": {"type": "string", "pattern": "^key_"},
            "account_id": {"type": "string"},
            "name": {"type": "string"},
            "environment": {"type": "string", "enum": ["test", "live"]},
            "status": {"type": "string", "enum": ["active", "disabled"]},
            "scopes": {"type": "array", "items": {"type": "string"}, "description": "`[\"*\"]` means every permission."},
            "allowed_ips": {"type": "array", "items": {"type": "string"}},
            "products": {"type": "array", "items": {"type": "string"}, "description": "Empty: every product the account is entitled to."},
            "created_at": {"type": "integer"},
            "updated_at": {"type": "integer"},
            "expires_at": nullable("integer"),
            "leaked_at": nullable("integer"),
            "revoke_at": nullable("integer"),
            "rolled_to": nullable("string"),
            "disabled_by": {"allOf": [schema_ref("Actor")], "description": "Present while the key is disabled."},
            "rate_limit": rate_limit_or_null(),
            "quota": quota_or_null(),
            "credits": {"oneOf": [schema_ref("CreditsView"), {"type": "null"}]},
            "ip_mode": ip_mode,
            "grace": {"allOf": [schema_ref("FirstUseGrace")], "description": "On a key rolled with `\"grace\": \"after_first_use\"`."},
            "first_used_at": {"type": "integer", "description": "On a successor whose predecessor's grace waits for its first use."},
            "report_first_use": {"type": "boolean", "description": "Present (true) while the edge reports this key's first use."},
            "start": {"type": "string", "description": "Display fragment, e.g. `sk_test_4eC3`."},
            "end": {"type": "string", "description": "Display fragment, e.g. `x9Qz`."},
            "last_used_at": nullable("integer"),
            "last_used_ip": nullable("string"),
            "ips_seen": {"type": "array", "maxItems": 20, "items": schema_ref("IpSeen")},
            "refusals": schema_ref("RefusalCounts"),
            "would_deny": schema_ref("WouldDenyCounts"),
        },
    }));
    s.insert("KeyWithSecret".into(), json!({
        "type": "object",
        "required": ["key", "secret"],
        "properties": {"key": schema_ref("ApiKey"), "secret": {"type": "string", "pattern": "^sk_(test|live)_", "description": "Shown once."}},
    }));
    s.insert("RollResult".into(), json!({
        "type": "object",
        "required": ["key", "secret", "previous"],
        "properties": {"key": schema_ref("ApiKey"), "secret": {"type": "string", "pattern": "^sk_(test|live)_"}, "previous": schema_ref("ApiKey")},
    }));
    s.insert(
        "LeakedToken".into(),
        json!({
            "type": "object",
            "required": ["token"],
            "properties": {
                "token": {"type": "string", "minLength": 1, "maxLength": 1024},
                "url": nullable("string"),
                "source": nullable("string"),
            },
        }),
    );
    s.insert("LeakReport".into(), json!({
        "description": "As secret scanners send it: an array of tokens, or `{\"tokens\": [...]}`.",
        "oneOf": [
            {"type": "array", "maxItems": MAX_LEAK_TOKENS, "items": schema_ref("LeakedToken")},
            {"type": "object", "additionalProperties": false, "required": ["tokens"], "properties": {"tokens": {"type": "array", "maxItems": MAX_LEAK_TOKENS, "items": schema_ref("LeakedToken")}}},
        ],
    }));
    s.insert("LeakReportResult".into(), json!({
        "type": "object",
        "required": ["object", "results"],
        "properties": {
            "object": {"const": "leak_report"},
            "results": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "ours"],
                    "properties": {
                        "index": {"type": "integer", "minimum": 0},
                        "token": {"type": "string", "description": "Display fragments only, e.g. `sk_test_abcd…wxyz`."},
                        "ours": {"type": "boolean"},
                        "type": {"type": "string", "enum": ["secret_key", "product_key"]},
                        "key_id": {"type": "string"},
                        "account_id": {"type": "string"},
                        "product_id": {"type": "string"},
                        "revoke_at": nullable("integer"),
                    },
                },
            },
        },
    }));
    s.insert("Entitlement".into(), json!({
        "type": "object",
        "required": ["object", "account_id", "product_id", "product_keys", "created_at"],
        "properties": {
            "object": {"const": "entitlement"},
            "account_id": {"type": "string"},
            "product_id": {"type": "string"},
            "product_keys": {
                "type": "object",
                "required": ["test", "live"],
                "properties": {"test": {"type": "string", "pattern": "^pk_test_"}, "live": {"type": ["string", "null"], "description": "Only for a production agreement."}},
            },
            "created_at": {"type": "integer"},
        },
    }));
    s.insert("Event".into(), json!({
        "type": "object",
        "required": ["object", "id", "type", "account_id", "actor", "request_id", "created_at", "data"],
        "properties": {
            "object": {"const": "event"},
            "id": {"type": "string", "pattern": "^evt_"},
            "type": {"type": "string", "enum": EVENT_TYPES},
            "account_id": {"type": "string"},
            "key_id": {"type": "string"},
            "actor": schema_ref("Actor"),
            "request_id": {"type": ["string", "null"], "description": "The admin answer's X-Request-Id; null for what the clock did."},
            "created_at": {"type": "integer"},
            "data": {
                "type": "object",
                "required": ["before", "after"],
                "properties": {"before": {"type": "object"}, "after": {"type": "object"}},
                "description": "The fields that changed.",
            },
        },
    }));
    s.insert("RefusedRequest".into(), json!({
        "type": "object",
        "required": ["object", "request_id", "key_id", "decision", "status", "reason", "method", "path", "ip", "at", "similar_not_stored"],
        "properties": {
            "object": {"const": "request"},
            "request_id": {"type": "string"},
            "key_id": {"type": "string"},
            "decision": {"const": "denied"},
            "status": {"type": "integer"},
            "reason": {"type": "string", "description": "The true reason, also when the public answer hid it."},
            "method": {"type": "string"},
            "path": {"type": "string"},
            "ip": nullable("string"),
            "at": {"type": "integer"},
            "similar_not_stored": {"type": "integer", "minimum": 0, "description": "Later refusals of the same key in the same UTC minute that were past the storage caps: counted on this, the key's latest stored refusal of that minute, instead of stored."},
        },
    }));
    s.insert("WebhookDeliveries".into(), json!({
        "type": "object",
        "required": ["object", "event_id", "state", "delivered_at", "next_attempt_at", "attempts"],
        "properties": {
            "object": {"const": "webhook_deliveries"},
            "event_id": {"type": "string"},
            "state": {"type": "string", "enum": ["delivered", "pending"]},
            "delivered_at": nullable("integer"),
            "next_attempt_at": nullable("integer"),
            "attempts": {
                "type": "array",
                "items": {"type": "object", "required": ["at", "status"], "properties": {"at": {"type": "integer"}, "status": {"type": ["integer", "null"]}}},
            },
        },
    }));
    s.insert("GithubMatch".into(), json!({
        "type": "object",
        "required": ["token"],
        "properties": {"token": {"type": "string"}, "type": {"type": "string"}, "url": {"type": "string"}, "source": {"type": "string"}},
    }));
    s.insert(
        "GithubReport".into(),
        json!({"type": "array", "items": schema_ref("GithubMatch")}),
    );
    s.insert("GithubFeedback".into(), json!({
        "type": "object",
        "required": ["token_raw", "token_type", "label"],
        "properties": {"token_raw": {"type": "string"}, "token_type": {"type": "string"}, "label": {"type": "string", "enum": ["true_positive", "false_positive"]}},
    }));
    s.insert(
        "GithubFeedbackList".into(),
        json!({"type": "array", "items": schema_ref("GithubFeedback")}),
    );
    for name in ["Account", "ApiKey", "Event"] {
        s.insert(format!("{name}List"), list_of(name));
    }
    s.insert("Usage".into(), json!({
        "type": "object",
        "required": ["object", "id", "date", "key_id", "product", "route", "granted", "refused", "lapsed"],
        "properties": {
            "object": {"const": "usage"},
            "id": {"type": "string", "description": "The row's cursor for `starting_after`."},
            "date": {"type": "string", "format": "date", "description": "The UTC day."},
            "key_id": {"type": "string"},
            "product": nullable("string"),
            "route": {"type": ["string", "null"], "description": "`METHOD /pattern`, where the route has a `cost` in gateway.json."},
            "granted": {"type": "integer", "minimum": 0},
            "refused": {"type": "integer", "minimum": 0, "description": "Refused for a quota or the credits."},
            "lapsed": {"type": "integer", "minimum": 0, "description": "Leased by an isolate that stopped before saying how many it granted; counted as used."},
        },
    }));
    s.insert("QuotaCounter".into(), json!({
        "type": "object",
        "required": ["counter", "limit", "used", "reserved", "remaining", "period_start"],
        "properties": {
            "counter": {"type": "string", "enum": ["quota", "credits"]},
            "key_id": {"type": ["string", "null"], "description": "`null`: the account's quota."},
            "product": nullable("string"),
            "limit": {"type": "integer"},
            "used": {"type": "integer"},
            "reserved": {"type": "integer", "description": "Held by open leases at the edge."},
            "remaining": {"type": "integer"},
            "period_start": {"type": "integer"},
            "period_end": {"type": ["integer", "null"], "description": "The reset; `null` for credits never refilled."},
            "threshold": {"type": "integer", "enum": [80, 100], "description": "In a `quota.threshold_reached` event."},
        },
    }));
    let mut usage_list = list_of("Usage");
    if let Some(required) = usage_list["required"].as_array_mut() {
        required.push(json!("counters"));
    }
    usage_list["properties"]["counters"] =
        json!({"type": "array", "items": schema_ref("QuotaCounter")});
    s.insert("UsageList".into(), usage_list);
    s
}
