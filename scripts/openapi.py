#!/usr/bin/env python3
"""Generates public/openapi.json from gateway.json, sandbox-data/ and the event types; the
admin side is written here by hand. crates/keygate-core/tests/openapi.rs checks the result
against the code both ways, so edit this script, rerun it, and let the test say what drifted."""
import json, os, re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "sandbox-data")
gateway = json.load(open(os.path.join(ROOT, "gateway.json")))
manifest = json.load(open(os.path.join(DATA, "collections.json")))
scenarios = json.load(open(os.path.join(DATA, "scenarios.json")))

REF = lambda name: {"$ref": f"#/components/schemas/{name}"}
RESP = lambda name: {"$ref": f"#/components/responses/{name}"}
PARAM = lambda name: {"$ref": f"#/components/parameters/{name}"}
HDR = lambda name: {"$ref": f"#/components/headers/{name}"}
nullable = lambda t: {"type": [t, "null"]}


def pascal(s):
    return "".join(p.capitalize() for p in s.split("_"))


EVENT_TYPES = re.findall(r'"([a-z_]+\.[a-z_]+)"', open(os.path.join(ROOT, "crates/keygate-core/src/engine/events.rs")).read().split("];")[0])
assert len(EVENT_TYPES) == 15, EVENT_TYPES

schemas = {}
schemas["FieldError"] = {
    "type": "object",
    "required": ["field", "message"],
    "properties": {
        "field": {"type": "string", "description": "The field at fault: a body field (`scopes[2]`, `holder.email`), a query parameter, or a header (`X-Product-Key`)."},
        "message": {"type": "string"},
    },
}
schemas["Error"] = {
    "type": "object",
    "description": "Every error of keygate (the README, \"How a request is checked\"): the edge pipeline, the admin API and the sandbox.",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "integer", "minimum": 400, "maximum": 599, "description": "The HTTP status, repeated."},
        "message": {"type": "string", "description": "What is wrong and what to do. Never contains a secret."},
        "errors": {"type": "array", "minItems": 1, "items": REF("FieldError"), "description": "Present only when specific fields are at fault."},
    },
}
schemas["RateLimit"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["requests", "period_seconds"],
    "properties": {
        "requests": {"type": "integer", "minimum": 1, "maximum": 100000},
        "period_seconds": {"type": "integer", "minimum": 1, "maximum": 3600},
    },
}
schemas["Actor"] = {
    "oneOf": [
        {"type": "object", "required": ["type"], "properties": {"type": {"const": "operator"}}},
        {"type": "object", "required": ["type", "key_id"], "properties": {"type": {"const": "key"}, "key_id": {"type": "string"}}},
    ]
}
cidr_list = {
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
}
# The scopes a key may be given (config::is_known_scope): `*`, `keys:manage`, every route's
# scope, and the wildcards that grant one of them.
_route_scopes = sorted({r["scope"] for r in gateway["routes"]} | {"keys:manage"})
_resources = sorted({s.split(":")[0] for s in _route_scopes})
_actions = sorted({s.split(":")[1] for s in _route_scopes})
KNOWN_SCOPES = ["*"] + _route_scopes + [f"{r}:*" for r in _resources] + [f"*:{a}" for a in _actions]
name_field = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "pattern": "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
    "description": "Trimmed; at most 200 characters after trimming; no control characters.",
}
ip_mode = {"type": "string", "enum": ["enforce", "report"]}

schemas["Account"] = {
    "type": "object",
    "required": ["object", "id", "name", "agreement", "status", "allowed_ips", "created_at", "updated_at", "rate_limit", "ip_mode", "products"],
    "properties": {
        "object": {"const": "account"},
        "id": {"type": "string", "pattern": "^acct_"},
        "name": {"type": "string"},
        "agreement": {"type": "string", "enum": ["test", "production"]},
        "status": {"type": "string", "enum": ["active", "suspended"]},
        "allowed_ips": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "integer", "description": "Unix seconds."},
        "updated_at": {"type": "integer", "description": "Unix seconds."},
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}], "description": "One limit shared by all the account's keys (a key's own limit can only be tighter)."},
        "ip_mode": ip_mode,
        "products": {"type": "array", "items": {"type": "string"}, "description": "The products the account is entitled to."},
    },
}
schemas["AccountCreate"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "agreement"],
    "properties": {
        "name": name_field,
        "agreement": {"type": "string", "enum": ["test", "production"]},
        "allowed_ips": cidr_list,
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}]},
        "ip_mode": ip_mode,
    },
}
schemas["AccountUpdate"] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Absent fields stay as they are.",
    "properties": {
        "name": name_field,
        "agreement": {"type": "string", "enum": ["test", "production"]},
        "status": {"type": "string", "enum": ["active", "suspended"]},
        "allowed_ips": cidr_list,
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}], "description": "`null` removes the account's limit."},
        "ip_mode": ip_mode,
    },
}
schemas["RefusalCounts"] = {
    "type": "object",
    "description": "The key's refused requests since its creation. At most 10 of a key and 100 of an account are stored whole per UTC minute, and only a key's first rate-limit refusal (429) of a minute; the rest are counted (docs/admin-api.md \"Bounded storage\").",
    "required": ["stored", "counted"],
    "properties": {
        "stored": {"type": "integer", "minimum": 0, "description": "Stored whole: readable at GET /admin/v1/requests/{request_id} for 7 days."},
        "counted": {"type": "integer", "minimum": 0, "description": "Past the caps: counted only (a lookup of their request id is 404)."},
    },
}
schemas["WouldDenyCounts"] = {
    "type": "object",
    "description": "The key's would-deny reports (report-mode allowlists): one `ip.would_deny` event per address block (/24 for IPv4, /64 for IPv6) per UTC day, the rest counted.",
    "required": ["events", "counted"],
    "properties": {
        "events": {"type": "integer", "minimum": 0, "description": "Recorded as `ip.would_deny` events."},
        "counted": {"type": "integer", "minimum": 0, "description": "Of a block that already had its event that day: counted only."},
    },
}
schemas["IpSeen"] = {
    "type": "object",
    "required": ["ip", "count", "last_seen_at"],
    "properties": {"ip": {"type": "string"}, "count": {"type": "integer", "minimum": 0}, "last_seen_at": {"type": "integer"}},
}
schemas["FirstUseGrace"] = {
    "type": "object",
    "required": ["kind", "seconds", "waiting", "cap"],
    "properties": {
        "kind": {"const": "after_first_use"},
        "seconds": {"type": "integer", "minimum": 0, "maximum": 604800},
        "waiting": {"type": "boolean"},
        "cap": {"type": "integer", "description": "The latest the key can work: the roll plus 7 days."},
    },
}
schemas["ApiKey"] = {
    "type": "object",
    "description": "An API key as the admin API shows it: never the secret, never its hash.",
    "required": ["object", "id", "account_id", "name", "environment", "status", "scopes", "allowed_ips", "products", "created_at", "updated_at", "expires_at", "leaked_at", "revoke_at", "rolled_to", "rate_limit", "ip_mode", "start", "end", "last_used_at", "last_used_ip", "ips_seen", "refusals", "would_deny"],
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
        "disabled_by": {"allOf": [REF("Actor")], "description": "Present while the key is disabled."},
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}]},
        "ip_mode": ip_mode,
        "grace": {"allOf": [REF("FirstUseGrace")], "description": "On a key rolled with `\"grace\": \"after_first_use\"`."},
        "first_used_at": {"type": "integer", "description": "On a successor whose predecessor's grace waits for its first use."},
        "report_first_use": {"type": "boolean", "description": "Present (true) while the edge reports this key's first use."},
        "start": {"type": "string", "description": "Display fragment, e.g. `sk_test_4eC3`."},
        "end": {"type": "string", "description": "Display fragment, e.g. `x9Qz`."},
        "last_used_at": nullable("integer"),
        "last_used_ip": nullable("string"),
        "ips_seen": {"type": "array", "maxItems": 20, "items": REF("IpSeen")},
        "refusals": REF("RefusalCounts"),
        "would_deny": REF("WouldDenyCounts"),
    },
}
schemas["KeyCreate"] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "environment"],
    "properties": {
        "name": name_field,
        "environment": {"type": "string", "enum": ["test", "live"]},
        "scopes": {"type": "array", "minItems": 1, "maxItems": 100, "items": {"type": "string", "enum": KNOWN_SCOPES}, "description": "Scopes of the route table (`resource:action`, `*` wildcards); default `[\"*\"]`."},
        "allowed_ips": cidr_list,
        "products": {"type": "array", "maxItems": 100, "items": {"type": "string", "enum": [p["id"] for p in gateway["products"]]}},
        "expires_at": {"type": ["integer", "null"], "description": "Unix seconds in the future, or null."},
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}]},
        "ip_mode": ip_mode,
    },
}
schemas["KeyUpdate"] = {
    "type": "object",
    "additionalProperties": False,
    "description": "Absent fields stay as they are.",
    "properties": {
        "name": name_field,
        "scopes": schemas["KeyCreate"]["properties"]["scopes"],
        "allowed_ips": cidr_list,
        "products": schemas["KeyCreate"]["properties"]["products"],
        "status": {"type": "string", "enum": ["active", "disabled"]},
        "expires_at": {"type": ["integer", "null"], "description": "Unix seconds in the future; null clears the expiry."},
        "rate_limit": {"oneOf": [REF("RateLimit"), {"type": "null"}], "description": "`null`: only the account's limit (if any) applies."},
        "ip_mode": ip_mode,
    },
}
schemas["KeyWithSecret"] = {
    "type": "object",
    "required": ["key", "secret"],
    "properties": {"key": REF("ApiKey"), "secret": {"type": "string", "pattern": "^sk_(test|live)_", "description": "Shown once."}},
}
grace = {"type": "integer", "minimum": 0, "maximum": 604800}
schemas["RollRequest"] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "description": "Optional body; absent, empty or null means a fixed grace of 24 hours.",
    "properties": {
        "grace": {"type": "string", "enum": ["fixed", "after_first_use"], "default": "fixed"},
        "grace_seconds": {**grace, "default": 86400},
    },
}
schemas["RollResult"] = {
    "type": "object",
    "required": ["key", "secret", "previous"],
    "properties": {"key": REF("ApiKey"), "secret": {"type": "string", "pattern": "^sk_(test|live)_"}, "previous": REF("ApiKey")},
}
schemas["LeakedRequest"] = {
    "type": ["object", "null"],
    "additionalProperties": False,
    "description": "Optional body; absent, empty or null means a grace of 3 days.",
    "properties": {"grace_seconds": {**grace, "default": 259200}},
}
leak_item = {
    "type": "object",
    "required": ["token"],
    "properties": {
        "token": {"type": "string", "minLength": 1, "maxLength": 1024},
        "url": nullable("string"),
        "source": nullable("string"),
    },
}
schemas["LeakedToken"] = leak_item
schemas["LeakReport"] = {
    "description": "As secret scanners send it: an array of tokens, or `{\"tokens\": [...]}`.",
    "oneOf": [
        {"type": "array", "maxItems": 1000, "items": REF("LeakedToken")},
        {"type": "object", "additionalProperties": False, "required": ["tokens"], "properties": {"tokens": {"type": "array", "maxItems": 1000, "items": REF("LeakedToken")}}},
    ],
}
schemas["LeakReportResult"] = {
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
}
schemas["Entitlement"] = {
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
}
schemas["Event"] = {
    "type": "object",
    "required": ["object", "id", "type", "account_id", "actor", "request_id", "created_at", "data"],
    "properties": {
        "object": {"const": "event"},
        "id": {"type": "string", "pattern": "^evt_"},
        "type": {"type": "string", "enum": EVENT_TYPES},
        "account_id": {"type": "string"},
        "key_id": {"type": "string"},
        "actor": REF("Actor"),
        "request_id": {"type": ["string", "null"], "description": "The admin answer's X-Request-Id; null for what the clock did."},
        "created_at": {"type": "integer"},
        "data": {
            "type": "object",
            "required": ["before", "after"],
            "properties": {"before": {"type": "object"}, "after": {"type": "object"}},
            "description": "The fields that changed.",
        },
    },
}
schemas["RefusedRequest"] = {
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
}
schemas["WebhookDeliveries"] = {
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
}
schemas["GithubMatch"] = {
    "type": "object",
    "required": ["token"],
    "properties": {"token": {"type": "string"}, "type": {"type": "string"}, "url": {"type": "string"}, "source": {"type": "string"}},
}
schemas["GithubFeedback"] = {
    "type": "object",
    "required": ["token_raw", "token_type", "label"],
    "properties": {"token_raw": {"type": "string"}, "token_type": {"type": "string"}, "label": {"type": "string", "enum": ["true_positive", "false_positive"]}},
}


def list_of(item_ref):
    return {
        "type": "object",
        "required": ["object", "data", "has_more"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": REF(item_ref)}, "has_more": {"type": "boolean"}},
    }


for n in ["Account", "ApiKey", "Event"]:
    schemas[n + "List"] = list_of(n)

# ---------------------------------------------------------------- sandbox object schemas


def infer(values):
    """A JSON Schema for all `values` (the values one field takes across the records)."""
    types = set()
    for v in values:
        types.add({bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null", dict: "object", list: "array"}[type(v)])
    if "integer" in types and "number" in types:
        types.discard("integer")
    s = {}
    if "object" in types:
        objs = [v for v in values if isinstance(v, dict)]
        keys = []
        for o in objs:
            for k in o:
                if k not in keys:
                    keys.append(k)
        s["properties"] = {k: infer([o[k] for o in objs if k in o]) for k in keys}
        s["required"] = [k for k in keys if all(k in o for o in objs)]
    if "array" in types:
        items = [x for v in values if isinstance(v, list) for x in v]
        s["items"] = infer(items) if items else {}
    t = sorted(types)
    s = {"type": t[0] if len(t) == 1 else t, **s}
    return s


def records(coll):
    return json.load(open(os.path.join(DATA, coll["file"])))


sandbox_tags = {"bank_data": "Sandbox: bank data", "payments": "Sandbox: payments", "insurance": "Sandbox: insurance", None: "Sandbox"}
collections = {c["name"]: c for c in manifest["collections"]}
BASE_DESC = {
    "id": "Unique id, with the collection's prefix.",
    "object": "The object type.",
    "livemode": "Always false: sandbox data.",
    "created": "Unix seconds.",
}
for c in manifest["collections"]:
    recs = records(c)
    keys = []
    for r in recs:
        for k in r:
            if k not in keys:
                keys.append(k)
    props = {}
    for k in keys:
        vals = [r[k] for r in recs if k in r]
        if k == "object":
            props[k] = {"const": c["object"]}
        elif k == "livemode":
            props[k] = {"const": False}
        elif k == "id":
            props[k] = {"type": "string", "pattern": "^" + re.escape(c["id_prefix"])}
        elif k == "risk":
            props[k] = {"type": "object", "additionalProperties": True, "description": "The insured risk: the fields named by the product's `risk_fields`."}
        elif k == "risk_fields":
            inner = infer([x for v in vals for x in v.values()])
            props[k] = {"type": "object", "additionalProperties": inner, "description": "The risk details a quote needs, by field name."}
        else:
            props[k] = infer(vals)
        if k in BASE_DESC:
            props[k]["description"] = BASE_DESC[k]
    # A created object holds null for an optional write field sent without a value and no default.
    for fname, spec in c.get("write", {}).get("fields", {}).items():
        if not spec.get("required") and "default" not in spec and fname in props:
            t = props[fname].get("type")
            if t is not None:
                t = t if isinstance(t, list) else [t]
                if "null" not in t:
                    props[fname]["type"] = t + ["null"]
    schemas["Sandbox" + pascal(c["object"])] = {
        "type": "object",
        "description": c["description"],
        "x-collection": c["name"],
        "required": [k for k in keys if all(k in r for r in recs)],
        "properties": props,
    }
    schemas["Sandbox" + pascal(c["object"]) + "List"] = list_of("Sandbox" + pascal(c["object"]))

FORMATS = {"iban": {"pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$", "description": "An IBAN (ISO 13616, mod-97 checked)."}, "date": {"format": "date"}, "email": {"format": "email"}}


def write_field(spec):
    s = {"type": spec["type"]}
    for src, dst in [("min_length", "minLength"), ("max_length", "maxLength"), ("min", "minimum"), ("max", "maximum"), ("enum", "enum")]:
        if src in spec:
            s[dst] = spec[src]
    if "format" in spec:
        s.update(FORMATS[spec["format"]])
    if "fields" in spec:
        s["additionalProperties"] = False
        s["properties"] = {k: write_field(v) for k, v in spec["fields"].items()}
        s["required"] = [k for k, v in spec["fields"].items() if v.get("required")]
    if "fields_from" in spec:
        s["additionalProperties"] = True
        s["description"] = "The fields named by the product's `risk_fields`."
    if "one_of_list" in spec:
        s["description"] = "One of the product's `coverage_options[].code`."
    d = spec.get("default")
    if isinstance(d, dict) and "const" in d:
        s["default"] = d["const"]
    notes = []
    if "min_days_from_today" in spec or "max_days_from_today" in spec:
        notes.append(f"Days from today (UTC): {spec.get('min_days_from_today', '-∞')} to {spec.get('max_days_from_today', '+∞')}.")
    if isinstance(d, dict) and "today" in d:
        notes.append("Default: today.")
    if isinstance(d, dict) and "ref" in d:
        notes.append(f"Default: the `{d['ref']['field']}` of `{d['ref']['via']}`.")
    if notes:
        s["description"] = " ".join(notes)
    return s


for c in manifest["collections"]:
    if "write" in c:
        f = c["write"]["fields"]
        props = {}
        for k, v in f.items():
            props[k] = write_field(v)
            if not v.get("required"):
                # Absent or null: the default, else null.
                props[k]["type"] = [props[k]["type"], "null"]
                if "enum" in props[k]:
                    props[k]["enum"] = props[k]["enum"] + [None]
        schemas["Sandbox" + pascal(c["object"]) + "Create"] = {
            "type": "object",
            "additionalProperties": False,
            "required": [k for k, v in f.items() if v.get("required")],
            "properties": props,
        }

schemas["SandboxScenarios"] = {
    "type": "object",
    "required": ["object", "header", "scenarios", "magic_values"],
    "properties": {
        "object": {"const": "sandbox_scenarios"},
        "header": {"const": "X-Sandbox-Scenario"},
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
}
schemas["SandboxReset"] = {
    "type": "object",
    "required": ["object", "deleted", "reverted_updates", "idempotency_keys_cleared"],
    "properties": {
        "object": {"const": "sandbox_reset"},
        "deleted": {"type": "integer", "minimum": 0},
        "reverted_updates": {"type": "integer", "minimum": 0},
        "idempotency_keys_cleared": {"type": "integer", "minimum": 0},
    },
}

# ---------------------------------------------------------------- shared pieces
headers = {
    "X-Request-Id": {"description": "A fresh, unique id of this request (the first step of every request); quote it to support.", "required": True, "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "required": True, "schema": {"type": "integer", "minimum": 0}},
    "Allow": {"description": "The methods the path accepts.", "required": True, "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "`Basic realm=\"keygate\"` when no credential was sent.", "schema": {"type": "string"}},
    "X-Sandbox": {"description": "Every sandbox answer carries `X-Sandbox: true`.", "schema": {"const": "true"}},
    "Idempotent-Replayed": {"description": "`true` when the stored answer of an earlier request with the same `Idempotency-Key` is replayed.", "schema": {"const": "true"}},
}
rid = {"X-Request-Id": HDR("X-Request-Id")}


def err_response(desc, extra=None):
    h = dict(rid)
    h.update(extra or {})
    return {"description": desc, "headers": h, "content": {"application/json": {"schema": REF("Error")}}}


responses = {
    "BadRequest": err_response("Malformed request: invalid body or query (one `errors` entry per field at fault), two different credentials, a missing `X-Product-Key`, or a key in the URL."),
    "Unauthorized": err_response("No credential, a malformed or unknown key or token, or a key that is disabled, expired, revoked, or of a suspended account.", {"WWW-Authenticate": HDR("WWW-Authenticate")}),
    "Forbidden": err_response("HTTPS required, address not allowed, scope missing, an operator-only endpoint called with a key, or beyond the calling key's own limits."),
    "NotFound": err_response("No such resource (or one of another account), or a hidden 403."),
    "MethodNotAllowed": err_response("The path exists but not with this method.", {"Allow": HDR("Allow")}),
    "Conflict": err_response("The request is valid but conflicts with the resource's state."),
    "PayloadTooLarge": err_response("The body is larger than allowed (64 KiB)."),
    "TooManyRequests": err_response("Rate limited: a key's or its account's rate limit (edge); an account's admin budget (MANAGER_WRITES_PER_MINUTE, MANAGER_READS_PER_MINUTE) or too many failed admin authentications from one address (admin).", {"Retry-After": HDR("Retry-After")}),
    "InternalError": err_response("Internal error; retry later, quote the X-Request-Id."),
    "Unavailable": err_response("The key store, the registry or the origin is not available (fail closed).", {"Retry-After": HDR("Retry-After")}),
}
for k, v in responses.items():
    pass
# Retry-After on 503 is not always present: make it optional there.
responses["Unavailable"]["headers"]["Retry-After"] = {"description": "Seconds to wait, when known.", "schema": {"type": "integer", "minimum": 0}}

parameters = {
    "limit": {"name": "limit", "in": "query", "required": False, "description": "Page size, 1–100 (default 10).", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10}},
    "starting_after": {"name": "starting_after", "in": "query", "required": False, "description": "The id of the last object of the previous page; must name an object of the list.", "schema": {"type": "string", "minLength": 1}},
    "X-Product-Key": {"name": "X-Product-Key", "in": "header", "required": True, "description": "The account's product key for the route's product (`pk_test_…` with a test key). Missing: 400; malformed, unknown, another account's or another product's: 404.", "schema": {"type": "string", "pattern": "^pk_(test|live)_"}},
    "X-Sandbox-Scenario": {"name": "X-Sandbox-Scenario", "in": "header", "required": False, "description": "Simulate a failure (see GET /v1/sandbox/scenarios). An unknown value is 400.", "schema": {"type": "string", "enum": [s["name"] for s in scenarios["scenarios"]]}},
    "Idempotency-Key": {"name": "Idempotency-Key", "in": "header", "required": False, "description": "1–255 printable ASCII characters: a retried POST with the same key and body answers the same (24 h).", "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"}},
    "Github-Public-Key-Identifier": {"name": "Github-Public-Key-Identifier", "in": "header", "required": True, "description": "The id of the GitHub key that signed the report.", "schema": {"type": "string"}},
    "Github-Public-Key-Signature": {"name": "Github-Public-Key-Signature", "in": "header", "required": True, "description": "Base64 ECDSA (P-256, SHA-256) signature of the raw body.", "schema": {"type": "string"}},
}

security_schemes = {
    "adminToken": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer <ADMIN_TOKEN>` (the operator), or a secret key with scope `keys:manage` (its own account's key endpoints and reads of its own account; also accepted as Basic or `X-API-Key`)."},
    "keyBasic": {"type": "http", "scheme": "basic", "description": "The secret key as username, empty password."},
    "keyBearer": {"type": "http", "scheme": "bearer", "description": "`Authorization: Bearer sk_test_…`."},
    "keyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key", "description": "`X-API-Key: sk_test_…`."},
}
ADMIN_SEC = [{"adminToken": []}]
SANDBOX_SEC = [{"keyBasic": []}, {"keyBearer": []}, {"keyHeader": []}]


def json_content(schema):
    return {"application/json": {"schema": schema}}


def ok(status_desc, schema, extra_headers=None):
    h = dict(rid)
    h.update(extra_headers or {})
    r = {"description": status_desc, "headers": h}
    if schema is not None:
        r["content"] = json_content(schema)
    return r


paths = {}


def add(path, method, op):
    paths.setdefault(path, {})[method] = op


def admin_errors(body=False, conflict=False):
    r = {"400": RESP("BadRequest"), "401": RESP("Unauthorized"), "403": RESP("Forbidden"), "404": RESP("NotFound")}
    if conflict:
        r["409"] = RESP("Conflict")
    if body:
        r["413"] = RESP("PayloadTooLarge")
    # Every admin operation: a keys:manage key's account has a read and a write budget, and
    # repeated failed authentications from one address are refused for a while.
    r["429"] = RESP("TooManyRequests")
    r["503"] = RESP("Unavailable")
    return r


def admin_op(op_id, summary, responses_, tag, params=None, body=None, body_required=True, write=False, conflict=False, description=None):
    op = {"operationId": op_id, "summary": summary, "tags": [tag], "security": ADMIN_SEC}
    if description:
        op["description"] = description
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": json_content(body)}
    r = dict(responses_)
    r.update(admin_errors(body=body is not None, conflict=conflict))
    op["responses"] = dict(sorted(r.items()))
    return op


ID_PATTERN = "^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$"


def pp(name, desc):
    return {"name": name, "in": "path", "required": True, "description": desc, "schema": {"type": "string", "minLength": 1, "pattern": ID_PATTERN}}


acct = pp("account_id", "The account's id (`acct_…`).")
key = pp("key_id", "The key's id (`key_…`).")
prod = {"name": "product_id", "in": "path", "required": True, "description": "A product of the gateway configuration.", "schema": {"type": "string", "enum": [p["id"] for p in gateway["products"]]}}
page = [PARAM("limit"), PARAM("starting_after")]
A, K, E, L = "Accounts", "Keys", "Events and requests", "Leaks"

add("/admin/v1/accounts", "get", admin_op("listAccounts", "List accounts (a `keys:manage` key: its own account only)", {"200": ok("A page of accounts, in creation order.", REF("AccountList"))}, A, params=page))
add("/admin/v1/accounts", "post", admin_op("createAccount", "Create an account (operator only)", {"201": ok("The account.", REF("Account"))}, A, body=REF("AccountCreate"), write=True))
add("/admin/v1/accounts/{account_id}", "get", admin_op("getAccount", "Read an account (a `keys:manage` key: its own only; others are 404)", {"200": ok("The account.", REF("Account"))}, A, params=[acct]))
add("/admin/v1/accounts/{account_id}", "patch", admin_op("updateAccount", "Update an account (operator only)", {"200": ok("The account.", REF("Account"))}, A, params=[acct], body=REF("AccountUpdate"), write=True))
add("/admin/v1/accounts/{account_id}/products/{product_id}", "get", admin_op("getEntitlement", "Read an entitlement and its product keys (a `keys:manage` key: its own account's only)", {"200": ok("The entitlement.", REF("Entitlement"))}, A, params=[acct, prod]))
add("/admin/v1/accounts/{account_id}/products/{product_id}", "put", admin_op("entitle", "Entitle an account to a product (operator only)", {"201": ok("Entitled; the product keys are issued.", REF("Entitlement")), "200": ok("Already entitled (a live product key is added after an upgrade to production).", REF("Entitlement"))}, A, params=[acct, prod], write=True))
add("/admin/v1/accounts/{account_id}/products/{product_id}", "delete", admin_op("withdraw", "Withdraw an entitlement (operator only); its product keys stop working", {"204": ok("Withdrawn.", None)}, A, params=[acct, prod], write=True))
add("/admin/v1/accounts/{account_id}/keys", "get", admin_op("listKeys", "List an account's keys (no secrets, no hashes)", {"200": ok("A page of keys, in creation order.", REF("ApiKeyList"))}, K, params=[acct] + page))
add("/admin/v1/accounts/{account_id}/keys", "post", admin_op("createKey", "Create a secret key; the secret is shown once", {"201": ok("The key and its secret.", REF("KeyWithSecret"))}, K, params=[acct], body=REF("KeyCreate"), write=True, conflict=True, description="A live key for an account with a test agreement is 403. More than MAX_KEYS_PER_ACCOUNT keys is 409."))
add("/admin/v1/accounts/{account_id}/events", "get", admin_op("listEvents", "List an account's events, newest first", {"200": ok("A page of events.", REF("EventList"))}, E, params=[acct] + page + [
    {"name": "type", "in": "query", "required": False, "description": "Only events of this type.", "schema": {"type": "string", "enum": EVENT_TYPES}},
    {"name": "key_id", "in": "query", "required": False, "description": "Only events about this key.", "schema": {"type": "string", "minLength": 1}},
]))
add("/admin/v1/requests/{request_id}", "get", admin_op("getRequest", "Look up why an edge request made with one of the account's keys was refused", {"200": ok("The refusal and its true reason.", REF("RefusedRequest"))}, E, params=[pp("request_id", "The refused request's X-Request-Id.")]))
add("/admin/v1/events/{event_id}/deliveries", "get", admin_op("getDeliveries", "An event's webhook delivery log", {"200": ok("The delivery log.", REF("WebhookDeliveries"))}, E, params=[pp("event_id", "The event's id (`evt_…`).")]))
add("/admin/v1/keys/{key_id}", "get", admin_op("getKey", "Read a key", {"200": ok("The key.", REF("ApiKey"))}, K, params=[key]))
add("/admin/v1/keys/{key_id}", "patch", admin_op("updateKey", "Update a key: name, scopes, allowlist, products, status (disable / re-enable), expiry, rate limit", {"200": ok("The key.", REF("ApiKey"))}, K, params=[key], body=REF("KeyUpdate"), write=True, conflict=True, description="Re-enabling a revoked key is 409; re-enabling a key the operator disabled needs the admin token (403)."))
add("/admin/v1/keys/{key_id}", "delete", admin_op("deleteKey", "Revoke a key now and remove it", {"204": ok("Deleted.", None)}, K, params=[key], write=True))
add("/admin/v1/keys/{key_id}/roll", "post", admin_op("rollKey", "Roll a key: a new secret with the same settings; the old key works for a grace period", {"200": ok("The successor with its secret, and the rolled key.", REF("RollResult"))}, K, params=[key], body=REF("RollRequest"), body_required=False, write=True, conflict=True, description="409 for a key that is revoked, expired, disabled or already rolled, or when the account holds MAX_KEYS_PER_ACCOUNT keys."))
add("/admin/v1/keys/{key_id}/leaked", "post", admin_op("reportKeyLeaked", "Mark a key leaked: it keeps working for a grace period (default 3 days), then is revoked", {"200": ok("The key.", REF("ApiKey"))}, K, params=[key], body=REF("LeakedRequest"), body_required=False, write=True))
add("/admin/v1/leaks", "post", admin_op("reportLeaks", "Report leaked tokens (operator only); every secret key of ours among them is marked leaked", {"200": ok("Which tokens were ours, by index and display fragment.", REF("LeakReportResult"))}, L, body=REF("LeakReport"), write=True))
gh = {
    "operationId": "githubSecretScanning",
    "summary": "GitHub secret scanning partner endpoint",
    "description": "Authenticated by GitHub's signature over the body (`GITHUB_SECRET_SCANNING_KEYS`), not a token. 404 when secret scanning is not configured.",
    "tags": [L],
    "security": [],
    "parameters": [PARAM("Github-Public-Key-Identifier"), PARAM("Github-Public-Key-Signature")],
    "requestBody": {"required": True, "content": json_content({"type": "array", "items": REF("GithubMatch")})},
    "responses": {
        "200": ok("GitHub's feedback, one entry per match.", {"type": "array", "items": REF("GithubFeedback")}),
        "400": RESP("BadRequest"),
        "401": RESP("Unauthorized"),
        "403": RESP("Forbidden"),
        "404": RESP("NotFound"),
        "413": err_response("The report is larger than 512 KiB."),
        "503": RESP("Unavailable"),
    },
}
add("/admin/v1/leaks/github", "post", gh)

# ---------------------------------------------------------------- sandbox paths
sandbox_hdrs = {"X-Request-Id": HDR("X-Request-Id"), "X-Sandbox": HDR("X-Sandbox")}


def sandbox_err(code, ref):
    return ref


def op_id_for(method, segs):
    # /v1/owners/*/accounts -> listOwnerAccounts ; /v1/owners/* -> getOwner ; /v1/owners -> listOwners
    names = [s for s in segs if s != "*"]
    if segs[:1] == ["sandbox"]:
        return {"scenarios": "listSandboxScenarios", "reset": "resetSandbox"}[segs[1]]
    if method == "post":
        return "create" + pascal(collections[segs[0]]["object"])
    if len(segs) == 1:
        return "list" + pascal(segs[0])
    if len(segs) == 2:
        return "get" + pascal(collections[segs[0]]["object"])
    return "list" + pascal(collections[segs[0]]["object"]) + pascal(segs[2])


def sandbox_op_id(method, segs):
    i = op_id_for(method, segs)
    return i if segs[:1] == ["sandbox"] else "sandbox" + i[0].upper() + i[1:]


singular = {c["name"]: c["object"] for c in manifest["collections"]}
for route in gateway["routes"]:
    if "test" not in route.get("environments", ["test"]):
        continue
    method = route["method"].lower()
    segs = route["path"].split("/")[2:]
    tpl_segs, params = [], []
    for i, s in enumerate(segs):
        if s == "*":
            owner = singular[segs[i - 1]]
            pname = f"{owner}_id"
            tpl_segs.append("{" + pname + "}")
            params.append({"name": pname, "in": "path", "required": True, "description": f"The {owner.replace('_', ' ')}'s id (`{collections[segs[i - 1]]['id_prefix']}…`).", "schema": {"type": "string", "minLength": 1, "pattern": ID_PATTERN}})
        else:
            tpl_segs.append(s)
    path = "/v1/" + "/".join(tpl_segs)
    if route["product"]:
        params.append(PARAM("X-Product-Key"))
    params.append(PARAM("X-Sandbox-Scenario"))
    rs = {}
    body = None
    if segs[0] == "sandbox":
        if segs[1] == "scenarios":
            rs["200"] = ok("The scenarios and magic values.", REF("SandboxScenarios"), sandbox_hdrs)
        else:
            rs["200"] = ok("What was cleared.", REF("SandboxReset"), sandbox_hdrs)
        summary = {"scenarios": "List the sandbox's failure scenarios and magic values", "reset": "Delete everything this test account created in the sandbox"}[segs[1]]
    elif method == "post":
        coll = collections[segs[0]]
        obj = "Sandbox" + pascal(coll["object"])
        params.append(PARAM("Idempotency-Key"))
        body = REF(obj + "Create")
        rs["201"] = ok(f"The created {coll['object'].replace('_', ' ')}.", REF(obj), {**sandbox_hdrs, "Idempotent-Replayed": HDR("Idempotent-Replayed")})
        rs["409"] = RESP("Conflict")
        rs["413"] = RESP("PayloadTooLarge")
        if any(m["collection"] == coll["name"] and "reject" in m for m in scenarios.get("magic_values", [])):
            rs["422"] = err_response("A magic value's business refusal (see GET /v1/sandbox/scenarios).")
        summary = f"Create a {coll['object'].replace('_', ' ')} (sandbox: nothing is processed)"
    else:
        child = collections[segs[-1] if len(segs) != 2 else segs[0]]
        obj = "Sandbox" + pascal(child["object"])
        if len(segs) == 2:
            rs["200"] = ok(f"The {child['object'].replace('_', ' ')}.", REF(obj), sandbox_hdrs)
            summary = f"Read a {child['object'].replace('_', ' ')}"
        else:
            rs["200"] = ok(f"A page of {child['name'].replace('_', ' ')}.", REF(obj + "List"), sandbox_hdrs)
            params += page
            for f in child["filterable"]:
                params.append({"name": f, "in": "query", "required": False, "description": f"Exact match on `{f}` (its JSON text; `null` for null).", "schema": {"type": "string"}})
            summary = f"List {child['name'].replace('_', ' ')}" + (f" of a {singular[segs[0]].replace('_', ' ')}" if len(segs) == 3 else "")
    for code, ref in [("400", "BadRequest"), ("401", "Unauthorized"), ("403", "Forbidden"), ("404", "NotFound"), ("429", "TooManyRequests"), ("500", "InternalError"), ("503", "Unavailable")]:
        rs.setdefault(code, RESP(ref))
    rs["504"] = err_response("Simulated timeout (X-Sandbox-Scenario: timeout).")
    op = {
        "operationId": sandbox_op_id(method, segs),
        "summary": summary,
        "description": f"Scope `{route['scope']}`" + (f", product `{route['product']}` (send its product key in `X-Product-Key`)." if route["product"] else ", test keys only.") + " Test keys are answered by the built-in sandbox; live keys are forwarded to the origin.",
        "tags": [sandbox_tags[route["product"]]],
        "security": SANDBOX_SEC,
        "x-scope": route["scope"],
        "parameters": params,
        "responses": dict(sorted(rs.items())),
    }
    if route["product"]:
        op["x-product"] = route["product"]
    if body:
        op["requestBody"] = {"required": True, "content": json_content(body)}
    add(path, method, op)

doc = {
    "openapi": "3.1.0",
    "info": {
        "title": "keygate",
        "version": "1.0.0",
        "summary": "API-key gateway: admin API and the sandbox served to test keys.",
        "description": (
            "The admin API (`/admin/v1/...`) manages accounts, entitlements, keys and events; "
            "the `/v1/...` routes are the API behind the gateway, answered from built-in mock data for test keys. "
            "Every answer carries `X-Request-Id`; every error is `{status, message, errors?}`. "
            "Every admin answer carries `Cache-Control: no-store`. "
            "A path with a method it does not accept answers 405 with `Allow`; the HTTP scheme is refused with 403 unless "
            "REQUIRE_HTTPS is false. Generated from the code's route tables and sandbox-data/; checked by "
            "crates/keygate-core/tests/openapi.rs."
        ),
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    },
    "servers": [{"url": "/", "description": "This deployment"}],
    "tags": [
        {"name": A, "description": "Accounts and entitlements: changed by the operator only; a `keys:manage` key reads its own."},
        {"name": K, "description": "Secret keys: operator, or a `keys:manage` key of the same account."},
        {"name": E, "description": "Events, refusals, webhook deliveries."},
        {"name": L, "description": "Leak reports."},
    ] + [{"name": t, "description": "Sandbox (test keys)."} for t in sandbox_tags.values()],
    "paths": paths,
    "components": {
        "schemas": schemas,
        "responses": responses,
        "parameters": parameters,
        "headers": headers,
        "securitySchemes": security_schemes,
    },
}
with open(os.path.join(ROOT, "public/openapi.json"), "w") as f:
    json.dump(doc, f, indent=2, ensure_ascii=False)
    f.write("\n")
print("paths", len(paths), "ops", sum(len(v) for v in paths.values()))
