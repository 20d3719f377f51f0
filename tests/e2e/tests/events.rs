//! Events (SPEC §11) end to end: real workerd through `wrangler dev`, HTTP only. Every admin
//! change is an event listed by `GET /admin/v1/accounts/{id}/events`, newest first, with its
//! type, key, actor, the `X-Request-Id` of the admin answer that made it, and in `data` exactly
//! the fields that changed (a creation: `before` empty and `after` the whole view; a deletion
//! the reverse; `updated_at` never) — and never a secret or a hash. A `keys:manage` key acts as
//! itself and sees its own account's events only; the list filters by `type` and `key_id` and
//! pages with `limit`/`starting_after` without repeats; anything else in the query is 400.
//!
//! One gateway with the harness defaults; every trial makes its own accounts. The expected
//! `data` of an update is computed here, independently, from the views the admin API answered
//! before and after the change. Every answer goes through [`audit`] (request id; no secret
//! outside create/roll's `secret`; no hash-like hex run; admin answers are JSON). Manager
//! requests are sent from [`INSIDE`] (`CF-Connecting-IP`, which `wrangler dev` passes through).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use keygate_e2e::audited::{
    Key, as_key, audit, create_account, full_secrets, key_from, op, refused, view,
};
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{Gateway, Resp, Value, json, run, tests};
use sha2::{Digest, Sha256};

/// The client address of manager requests.
const INSIDE: &str = "10.1.2.3";
/// The event types the list accepts as `type` (SPEC §11, docs/admin-api.md).
const TYPES: [&str; 13] = [
    "account.created",
    "account.updated",
    "entitlement.created",
    "entitlement.updated",
    "entitlement.deleted",
    "key.created",
    "key.updated",
    "key.disabled",
    "key.enabled",
    "key.rolled",
    "key.leaked",
    "key.deleted",
    "leak.reported",
];
/// The fields an event may have (`key_id` only for key events).
const FIELDS: [&str; 9] = [
    "object",
    "id",
    "type",
    "account_id",
    "key_id",
    "actor",
    "request_id",
    "created_at",
    "data",
];
/// View fields that are not part of a change: bookkeeping and edge usage (see [`whole`]).
const NOT_CHANGES: [&str; 4] = ["updated_at", "last_used_at", "last_used_ip", "ips_seen"];
/// Slack on `created_at` against this machine's clock (workerd runs on the same one).
const CLOCK_SLACK: i64 = 5;

struct Ctx {
    gw: Gateway,
}

fn main() {
    run(
        || Ctx {
            gw: Gateway::start(&[]),
        },
        tests![
            every_change_is_an_event_with_its_request_and_changed_fields,
            managers_act_as_themselves_and_see_only_their_account,
            filters_and_pages_walk_every_event_once,
            events_carry_no_secret_and_no_hash,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// Who makes an admin request: the operator, or a manager key.
#[derive(Clone, Copy)]
enum Who<'a> {
    Operator,
    Key(&'a Key),
}

impl Who<'_> {
    /// The `actor` its events must name.
    fn actor(self) -> Value {
        match self {
            Who::Operator => json!({"type": "operator"}),
            Who::Key(k) => json!({"type": "key", "key_id": k.id}),
        }
    }
}

/// An admin request (path relative to `/admin/v1`) by `who`, audited.
fn act(gw: &Gateway, who: Who<'_>, method: &str, path: &str, body: Option<&Value>) -> Resp {
    match who {
        Who::Operator => op(gw, method, path, body),
        Who::Key(k) => as_key(gw, INSIDE, &k.secret, method, path, body),
    }
}

/// A new account of the operator's; returns the answer (201 checked).
fn new_account(gw: &Gateway, name: &str) -> Resp {
    create_account(gw, &json!({"name": name, "agreement": "test"}))
}

/// `{"before", "after"}` with the fields of two views that differ, [`NOT_CHANGES`] aside (a
/// field missing from one view reads as null there). Independent of the gateway's own diff.
fn changed(before: &Value, after: &Value) -> Value {
    let (before, after) = (whole(before), whole(after));
    let (b, a) = (
        before.as_object().expect("a view"),
        after.as_object().expect("a view"),
    );
    let names: BTreeSet<&String> = b.keys().chain(a.keys()).collect();
    let (mut was, mut now) = (json!({}), json!({}));
    for name in names {
        let (old, new) = (
            b.get(name).unwrap_or(&Value::Null),
            a.get(name).unwrap_or(&Value::Null),
        );
        if old != new {
            was[name] = old.clone();
            now[name] = new.clone();
        }
    }
    json!({"before": was, "after": now})
}

/// The view without the fields no admin command changes: the bookkeeping `updated_at`, and the
/// usage a key view shows (SPEC §11: what the edge observed, not a setting; absent from views
/// that predate it).
fn whole(view: &Value) -> Value {
    let mut view = view.clone();
    let object = view.as_object_mut().expect("a view");
    for name in NOT_CHANGES {
        object.remove(name);
    }
    view
}

/// A creation's data: nothing before, the whole view after.
fn created(view: &Value) -> Value {
    json!({"before": {}, "after": whole(view)})
}

/// A deletion's data: the whole view before, nothing after.
fn deleted(view: &Value) -> Value {
    json!({"before": whole(view), "after": {}})
}

/// What an expected event's `data` must be.
enum Want {
    /// Exactly this.
    Exact(Value),
    /// An entitlement event about this product (its data is not a view this test can read).
    Product(&'static str),
    /// A leak report's: these keys of the account (in any order).
    Reported(Vec<String>),
}

/// An event a trial caused.
struct Expected {
    kind: &'static str,
    key_id: Option<String>,
    actor: Value,
    request_id: String,
    data: Want,
}

/// The events a trial caused in one account, in the order it caused them.
struct Log {
    account: String,
    events: Vec<Expected>,
}

impl Log {
    fn new(account: &str) -> Log {
        Log {
            account: account.to_string(),
            events: Vec::new(),
        }
    }

    /// An event the admin answer `r`, to a request by `who`, must have made.
    fn push(&mut self, r: &Resp, who: Who<'_>, kind: &'static str, key: Option<&str>, data: Want) {
        self.events.push(Expected {
            kind,
            key_id: key.map(str::to_string),
            actor: who.actor(),
            request_id: r.request_id().expect("audited").to_string(),
            data,
        });
    }
}

/// `/accounts/{account}/events` with `query` (none when empty).
fn events_path(account: &str, query: &str) -> String {
    if query.is_empty() {
        format!("/accounts/{account}/events")
    } else {
        format!("/accounts/{account}/events?{query}")
    }
}

/// `a&b`, or whichever is not empty.
fn and(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}&{b}"),
    }
}

/// One page of the account's events read by `who`: `(data, has_more)`.
#[track_caller]
fn page(gw: &Gateway, who: Who<'_>, account: &str, query: &str) -> (Vec<Value>, bool) {
    let r = act(gw, who, "GET", &events_path(account, query), None);
    assert_eq!(r.status, 200, "events?{query}: {r}");
    assert_eq!(r.json["object"], "list", "a list: {r}");
    let data = r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {r}"))
        .clone();
    let has_more = r.json["has_more"]
        .as_bool()
        .unwrap_or_else(|| panic!("has_more is not a boolean: {r}"));
    (data, has_more)
}

/// Every event of the account matching `filter` (at most 100), newest first.
#[track_caller]
fn all(gw: &Gateway, who: Who<'_>, account: &str, filter: &str) -> Vec<Value> {
    let (data, has_more) = page(gw, who, account, &and("limit=100", filter));
    assert!(!has_more, "more than 100 events of {account}?{filter}");
    data
}

/// The events matching `filter`, walked `limit` at a time with `starting_after`; panics at
/// the first event listed twice.
#[track_caller]
fn walk(gw: &Gateway, account: &str, filter: &str, limit: usize) -> Vec<Value> {
    let mut seen: Vec<Value> = Vec::new();
    loop {
        let mut query = and(&format!("limit={limit}"), filter);
        if let Some(last) = seen.last() {
            query = and(
                &query,
                &format!("starting_after={}", last["id"].as_str().unwrap()),
            );
        }
        let (data, has_more) = page(gw, Who::Operator, account, &query);
        assert!(
            data.len() <= limit,
            "{query}: {} events on a page",
            data.len()
        );
        if has_more {
            assert_eq!(data.len(), limit, "{query}: a page before the end is full");
        }
        for e in data {
            assert!(
                !seen.iter().any(|s| s["id"] == e["id"]),
                "events?{query}: {} again (walking by {limit})",
                e["id"]
            );
            seen.push(e);
        }
        if !has_more {
            return seen;
        }
    }
}

fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// `type key_id request_id`, to show a list.
fn line(kind: &str, key_id: Option<&str>, request_id: &str) -> String {
    format!("{kind} {} {request_id}", key_id.unwrap_or("-"))
}

fn lines(events: &[&Value]) -> String {
    events
        .iter()
        .map(|e| {
            format!(
                "  {}\n",
                line(
                    e["type"].as_str().unwrap_or("?"),
                    e["key_id"].as_str(),
                    e["request_id"].as_str().unwrap_or("?"),
                )
            )
        })
        .collect()
}

/// Panics unless `e` is a well-formed event of `account` made after `since`: its fields, ids,
/// actor, time, and `data` holding `before` and `after` as a creation, a deletion or an update
/// of changed fields only.
#[track_caller]
fn check_shape(e: &Value, account: &str, since: i64) {
    let object = e
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {e}"));
    for name in object.keys() {
        assert!(FIELDS.contains(&name.as_str()), "field {name:?}: {e}");
    }
    assert_eq!(e["object"], "event", "{e}");
    let starts = |field: &str, prefix: &str| {
        assert!(
            e[field].as_str().is_some_and(|s| s.starts_with(prefix)),
            "{field} should start with {prefix}: {e}"
        )
    };
    starts("id", "evt_");
    starts("request_id", "req_");
    let kind = e["type"].as_str().unwrap_or_default();
    assert!(TYPES.contains(&kind), "type {kind:?}: {e}");
    assert_eq!(e["account_id"], json!(account), "{e}");
    if kind.starts_with("key.") {
        starts("key_id", "key_");
    } else {
        assert!(!object.contains_key("key_id"), "key_id on a {kind}: {e}");
    }
    let actor = &e["actor"];
    let by_key = actor["key_id"]
        .as_str()
        .is_some_and(|k| k.starts_with("key_"));
    assert!(
        *actor == json!({"type": "operator"})
            || (by_key && *actor == json!({"type": "key", "key_id": actor["key_id"]})),
        "actor: {e}"
    );
    let at = e["created_at"].as_i64().unwrap_or_default();
    assert!(
        (since - CLOCK_SLACK..=now() + CLOCK_SLACK).contains(&at),
        "created_at {at} not within this trial (since {since}): {e}"
    );

    let data = &e["data"];
    let side = |name: &str| {
        data[name]
            .as_object()
            .unwrap_or_else(|| panic!("data.{name} is not an object: {e}"))
    };
    assert_eq!(data.as_object().map(|d| d.len()), Some(2), "data: {e}");
    let (before, after) = (side("before"), side("after"));
    for name in ["updated_at", "revision"] {
        assert!(
            !before.contains_key(name) && !after.contains_key(name),
            "bookkeeping {name} in data: {e}"
        );
    }
    if kind.ends_with(".created") || kind == "leak.reported" {
        assert!(before.is_empty() && !after.is_empty(), "a creation: {e}");
    } else if kind.ends_with(".deleted") {
        assert!(!before.is_empty() && after.is_empty(), "a deletion: {e}");
    } else {
        let names = |m: &serde_json::Map<String, Value>| m.keys().cloned().collect::<Vec<_>>();
        assert!(!before.is_empty(), "an update changes something: {e}");
        assert_eq!(names(before), names(after), "an update's fields: {e}");
        for (name, old) in before {
            assert_ne!(Some(old), after.get(name), "{name} did not change: {e}");
        }
    }
}

/// Panics unless `listed` (newest first) is exactly the events of `log`: requests in order,
/// the events of one request in any order, each well formed with its actor and data.
#[track_caller]
fn assert_events(listed: &[Value], log: &Log, since: i64) {
    let mut got: Vec<&Value> = listed.iter().rev().collect();
    let mut want: Vec<&Expected> = log.events.iter().collect();
    let show = |got: &[&Value], want: &[&Expected]| {
        let want: String = want
            .iter()
            .map(|w| format!("  {}\n", line(w.kind, w.key_id.as_deref(), &w.request_id)))
            .collect();
        format!("listed (oldest first):\n{}expected:\n{want}", lines(got))
    };
    let unique: BTreeSet<&str> = ids(listed).into_iter().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "repeated event ids: {listed:#?}"
    );
    // The requests, in order, each once.
    let runs = |ids: Vec<&str>| {
        let mut ids = ids;
        ids.dedup();
        ids.into_iter().map(str::to_string).collect::<Vec<_>>()
    };
    let requests = runs(want.iter().map(|w| w.request_id.as_str()).collect());
    assert_eq!(
        runs(
            got.iter()
                .map(|e| e["request_id"].as_str().unwrap_or("?"))
                .collect()
        ),
        requests,
        "events not in the order of the requests that made them:\n{}",
        show(&got, &want)
    );
    // Within a request, by type and key.
    let position = |id: &str| requests.iter().position(|r| r == id);
    got.sort_by_key(|e| {
        (
            position(e["request_id"].as_str().unwrap_or_default()),
            e["type"].as_str().unwrap_or_default().to_string(),
            e["key_id"].as_str().unwrap_or_default().to_string(),
        )
    });
    want.sort_by_key(|w| {
        (
            position(&w.request_id),
            w.kind.to_string(),
            w.key_id.clone().unwrap_or_default(),
        )
    });
    let summary = |e: &Value| {
        (
            e["type"].as_str().map(str::to_string),
            e["key_id"].as_str().map(str::to_string),
        )
    };
    assert_eq!(
        got.iter().map(|e| summary(e)).collect::<Vec<_>>(),
        want.iter()
            .map(|w| (Some(w.kind.to_string()), w.key_id.clone()))
            .collect::<Vec<_>>(),
        "the events differ:\n{}",
        show(&got, &want)
    );
    for (e, w) in got.iter().zip(&want) {
        check_shape(e, &log.account, since);
        assert_eq!(e["actor"], w.actor, "actor of {e}");
        let data = &e["data"];
        match &w.data {
            Want::Exact(d) => assert_eq!(data, d, "data of {e}"),
            Want::Product(p) => match w.kind {
                "entitlement.created" => assert_eq!(data["after"]["product_id"], *p, "{e}"),
                "entitlement.deleted" => assert_eq!(data["before"]["product_id"], *p, "{e}"),
                _ => assert!(
                    data["before"].get("product_id").is_none(),
                    "the product did not change: {e}"
                ),
            },
            Want::Reported(keys) => {
                let listed: BTreeSet<&str> = data["after"]["key_ids"]
                    .as_array()
                    .unwrap_or_else(|| panic!("no key_ids: {e}"))
                    .iter()
                    .map(|k| k.as_str().unwrap_or_default())
                    .collect();
                let keys: BTreeSet<&str> = keys.iter().map(String::as_str).collect();
                assert_eq!(listed, keys, "the reported keys of {e}");
                // Where the report came from: `leak_report` (POST /leaks), `github`, `plain_http`.
                assert_eq!(data["after"]["source"], "leak_report", "{e}");
                assert_eq!(data["after"].as_object().map(|a| a.len()), Some(2), "{e}");
            }
        }
    }
}

/// What [`every_kind`] did: its account's events, those of a second account it reported a
/// key of, and the secrets it was given.
struct Scenario {
    log: Log,
    other: Log,
    secrets: Vec<String>,
    since: i64,
}

/// Every kind of event, by the operator, in one account (keys of `environment`): account
/// created and renamed `a` → `b`; bank_data entitled, the agreement upgraded, bank_data
/// entitled again (a live product key); a key created and renamed `a` → `b`, disabled,
/// re-enabled, rolled; the successor reported leaked; a leak report naming two keys of this
/// account, one of a second account, a product key and a token not ours; the entitlement
/// withdrawn and the successor deleted.
fn every_kind(gw: &Gateway, environment: &str) -> Scenario {
    let o = Who::Operator;
    let since = now();
    let mut secrets = Vec::new();
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "a", "agreement": "test"})),
    );
    r.expect_status(201);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let mut log = Log::new(&id);
    log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let account_path = format!("/accounts/{id}");

    let r = op(gw, "PATCH", &account_path, Some(&json!({"name": "b"})));
    r.expect_status(200);
    let renamed = json!({"before": {"name": "a"}, "after": {"name": "b"}});
    log.push(&r, o, "account.updated", None, Want::Exact(renamed.clone()));

    let entitlement = format!("/accounts/{id}/products/bank_data");
    let r = op(gw, "PUT", &entitlement, None);
    r.expect_status(201);
    let pk = r.json["product_keys"]["test"]
        .as_str()
        .expect("test product key")
        .to_string();
    log.push(
        &r,
        o,
        "entitlement.created",
        None,
        Want::Product("bank_data"),
    );

    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"agreement": "production"})),
    );
    r.expect_status(200);
    let upgraded = json!({"before": {"agreement": "test"}, "after": {"agreement": "production"}});
    log.push(&r, o, "account.updated", None, Want::Exact(upgraded));

    let r = op(gw, "PUT", &entitlement, None);
    r.expect_status(200);
    assert!(
        r.json["product_keys"]["live"].is_string(),
        "a live product key after the upgrade: {r}"
    );
    log.push(
        &r,
        o,
        "entitlement.updated",
        None,
        Want::Product("bank_data"),
    );
    // Entitled already, with both keys: nothing changes, no event.
    op(gw, "PUT", &entitlement, None).expect_status(200);

    let keys_path = format!("/accounts/{id}/keys");
    let new_key = |name: &str| {
        let body = json!({"name": name, "environment": environment});
        let r = op(gw, "POST", &keys_path, Some(&body));
        (key_from(&r, 201), r)
    };
    let (k1, r) = new_key("a");
    log.push(
        &r,
        o,
        "key.created",
        Some(&k1.id),
        Want::Exact(created(&k1.view)),
    );
    let k1_path = format!("/keys/{}", k1.id);

    let r = op(gw, "PATCH", &k1_path, Some(&json!({"name": "b"})));
    r.expect_status(200);
    log.push(&r, o, "key.updated", Some(&k1.id), Want::Exact(renamed));
    let mut last = r.json.clone();
    for (status, kind) in [("disabled", "key.disabled"), ("active", "key.enabled")] {
        let r = op(gw, "PATCH", &k1_path, Some(&json!({"status": status})));
        r.expect_status(200);
        log.push(
            &r,
            o,
            kind,
            Some(&k1.id),
            Want::Exact(changed(&last, &r.json)),
        );
        last = r.json.clone();
    }

    let r = op(gw, "POST", &format!("{k1_path}/roll"), None);
    let k2 = key_from(&r, 200);
    log.push(
        &r,
        o,
        "key.created",
        Some(&k2.id),
        Want::Exact(created(&k2.view)),
    );
    let was = changed(&last, &r.json["previous"]);
    log.push(&r, o, "key.rolled", Some(&k1.id), Want::Exact(was));
    let k1_last = r.json["previous"].clone();

    let r = op(gw, "POST", &format!("/keys/{}/leaked", k2.id), None);
    r.expect_status(200);
    let leaked = changed(&k2.view, &r.json);
    log.push(&r, o, "key.leaked", Some(&k2.id), Want::Exact(leaked));
    let k2_last = r.json.clone();

    // A leak report: key.leaked per key of ours, one leak.reported per account.
    let (k3, r) = new_key("reported");
    log.push(
        &r,
        o,
        "key.created",
        Some(&k3.id),
        Want::Exact(created(&k3.view)),
    );
    let r = new_account(gw, "other");
    let other_id = r.json["id"].as_str().expect("account id").to_string();
    let mut other = Log::new(&other_id);
    other.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let body = json!({"name": "other's", "environment": "test"});
    let r = op(
        gw,
        "POST",
        &format!("/accounts/{other_id}/keys"),
        Some(&body),
    );
    let kb = key_from(&r, 201);
    other.push(
        &r,
        o,
        "key.created",
        Some(&kb.id),
        Want::Exact(created(&kb.view)),
    );
    let report = json!({"tokens": [
        {"token": k3.secret}, {"token": kb.secret}, {"token": k1.secret},
        {"token": pk}, {"token": "not-a-key-of-ours"},
    ]});
    let r = op(gw, "POST", "/leaks", Some(&report));
    r.expect_status(200);
    let ours: Vec<&Value> = (0..5).map(|i| &r.json["results"][i]["ours"]).collect();
    assert_eq!(
        ours,
        [
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(true),
            &json!(false)
        ],
        "{r}"
    );
    for (k, before, ours) in [
        (&k3, &k3.view, true),
        (&kb, &kb.view, false),
        (&k1, &k1_last, true),
    ] {
        let after = view(gw, &format!("/keys/{}", k.id));
        let data = Want::Exact(changed(before, &after));
        let log = if ours { &mut log } else { &mut other };
        log.push(&r, o, "key.leaked", Some(&k.id), data);
    }
    let reported = vec![k3.id.clone(), k1.id.clone()];
    log.push(&r, o, "leak.reported", None, Want::Reported(reported));
    other.push(
        &r,
        o,
        "leak.reported",
        None,
        Want::Reported(vec![kb.id.clone()]),
    );

    let r = op(gw, "DELETE", &entitlement, None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "entitlement.deleted",
        None,
        Want::Product("bank_data"),
    );
    let r = op(gw, "DELETE", &format!("/keys/{}", k2.id), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&k2.id),
        Want::Exact(deleted(&k2_last)),
    );

    for k in [k1, k2, k3, kb] {
        secrets.push(k.secret);
    }
    Scenario {
        log,
        other,
        secrets,
        since,
    }
}

// ------------------------------------------------------------------------------------------
// Trial 1: every change is an event, in order, with its request and changed fields
// ------------------------------------------------------------------------------------------

fn every_change_is_an_event_with_its_request_and_changed_fields(c: &Ctx) {
    let gw = &c.gw;
    let s = every_kind(gw, "test");
    let listed = all(gw, Who::Operator, &s.log.account, "");
    assert_events(&listed, &s.log, s.since);
    let types: BTreeSet<&str> = listed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(
        types,
        TYPES.into_iter().collect(),
        "every type, in one account"
    );
    // The example of docs/admin-api.md.
    let disabled = listed.iter().find(|e| e["type"] == "key.disabled").unwrap();
    assert_eq!(
        disabled["data"],
        json!({"before": {"status": "active", "disabled_by": null},
               "after": {"status": "disabled", "disabled_by": {"type": "operator"}}}),
        "{disabled}"
    );
    // The second account of the leak report: its own key.leaked and leak.reported.
    let listed = all(gw, Who::Operator, &s.other.account, "");
    assert_events(&listed, &s.other, s.since);
}

// ------------------------------------------------------------------------------------------
// Trial 2: a manager acts as itself and sees its own account only
// ------------------------------------------------------------------------------------------

fn managers_act_as_themselves_and_see_only_their_account(c: &Ctx) {
    let gw = &c.gw;
    let o = Who::Operator;
    let since = now();
    let r = new_account(gw, "managed");
    let id = r.json["id"].as_str().expect("account id").to_string();
    let mut log = Log::new(&id);
    log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let keys_path = format!("/accounts/{id}/keys");
    let body = |name: &str| json!({"name": name, "environment": "test"});
    let r = op(gw, "POST", &keys_path, Some(&body("manager")));
    let manager = key_from(&r, 201);
    log.push(
        &r,
        o,
        "key.created",
        Some(&manager.id),
        Want::Exact(created(&manager.view)),
    );

    // Everything the manager does names it.
    let m = Who::Key(&manager);
    let r = act(gw, m, "POST", &keys_path, Some(&body("a")));
    let t = key_from(&r, 201);
    log.push(
        &r,
        m,
        "key.created",
        Some(&t.id),
        Want::Exact(created(&t.view)),
    );
    let t_path = format!("/keys/{}", t.id);
    let mut last = t.view.clone();
    for (patch, kind) in [
        (json!({"name": "b"}), "key.updated"),
        (json!({"status": "disabled"}), "key.disabled"),
        (json!({"status": "active"}), "key.enabled"),
    ] {
        let r = act(gw, m, "PATCH", &t_path, Some(&patch));
        assert_eq!(r.status, 200, "{patch} by the manager: {r}");
        log.push(
            &r,
            m,
            kind,
            Some(&t.id),
            Want::Exact(changed(&last, &r.json)),
        );
        last = r.json.clone();
    }
    let r = act(gw, m, "POST", &format!("{t_path}/roll"), None);
    let successor = key_from(&r, 200);
    let s = Some(successor.id.as_str());
    log.push(
        &r,
        m,
        "key.created",
        s,
        Want::Exact(created(&successor.view)),
    );
    let was = changed(&last, &r.json["previous"]);
    log.push(&r, m, "key.rolled", Some(&t.id), Want::Exact(was));
    let t_last = r.json["previous"].clone();
    let r = act(
        gw,
        m,
        "POST",
        &format!("/keys/{}/leaked", successor.id),
        None,
    );
    assert_eq!(r.status, 200, "leaked by the manager: {r}");
    let leaked = changed(&successor.view, &r.json);
    log.push(&r, m, "key.leaked", s, Want::Exact(leaked));
    let r = act(gw, m, "DELETE", &t_path, None);
    assert_eq!(r.status, 204, "deleted by the manager: {r}");
    log.push(
        &r,
        m,
        "key.deleted",
        Some(&t.id),
        Want::Exact(deleted(&t_last)),
    );

    // The manager reads its account's events as the operator does.
    let by_operator = all(gw, o, &id, "");
    assert_events(&by_operator, &log, since);
    assert_eq!(all(gw, m, &id, ""), by_operator, "the manager's read");

    // Another account's events, or an account that does not exist: 404 to the manager, read
    // fine by the operator.
    let r = new_account(gw, "not the manager's");
    let other = r.json["id"].as_str().expect("account id").to_string();
    let mut other_log = Log::new(&other);
    other_log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let r = op(
        gw,
        "POST",
        &format!("/accounts/{other}/keys"),
        Some(&body("theirs")),
    );
    let theirs = key_from(&r, 201);
    other_log.push(
        &r,
        o,
        "key.created",
        Some(&theirs.id),
        Want::Exact(created(&theirs.view)),
    );
    for account in [other.as_str(), "acct_doesnotexist"] {
        for query in ["", "type=key.created", "limit=1"] {
            let r = act(gw, m, "GET", &events_path(account, query), None);
            refused(&r, 404, &[]);
        }
    }
    assert_events(&all(gw, o, &other, ""), &other_log, since);
    // Its own account filtered by another account's key: nothing.
    let (data, has_more) = page(gw, m, &id, &format!("key_id={}", theirs.id));
    assert!(
        data.is_empty() && !has_more,
        "another account's key: {data:#?}"
    );

    // A key without keys:manage may not read its own account's events; nor may nobody.
    let r = op(
        gw,
        "POST",
        &keys_path,
        Some(&json!({"name": "plain", "environment": "test", "scopes": ["accounts:read"]})),
    );
    let plain = key_from(&r, 201);
    log.push(
        &r,
        o,
        "key.created",
        Some(&plain.id),
        Want::Exact(created(&plain.view)),
    );
    let r = act(gw, Who::Key(&plain), "GET", &events_path(&id, ""), None);
    refused(&r, 403, &[]);
    let path = format!("/admin/v1{}", events_path(&id, ""));
    for r in [
        gw.get(&path).send(),
        gw.get(&path).bearer("not-the-admin-token").send(),
    ] {
        audit(&r);
        refused(&r, 401, &[]);
    }

    // The operator deletes the manager: it reads nothing more, its events stay.
    let r = op(gw, "DELETE", &format!("/keys/{}", manager.id), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&manager.id),
        Want::Exact(deleted(&manager.view)),
    );
    let r = act(gw, m, "GET", &events_path(&id, ""), None);
    refused(&r, 401, &[]);
    assert_events(&all(gw, o, &id, ""), &log, since);
}

// ------------------------------------------------------------------------------------------
// Trial 3: filters and pages walk every event once; anything else is 400
// ------------------------------------------------------------------------------------------

fn filters_and_pages_walk_every_event_once(c: &Ctx) {
    let gw = &c.gw;
    let o = Who::Operator;
    let since = now();
    let r = new_account(gw, "filtered");
    let id = r.json["id"].as_str().expect("account id").to_string();
    let mut log = Log::new(&id);
    log.push(
        &r,
        o,
        "account.created",
        None,
        Want::Exact(created(&r.json)),
    );
    let keys_path = format!("/accounts/{id}/keys");
    let mut keys = Vec::new();
    for name in ["k1", "k2", "k3"] {
        let body = json!({"name": name, "environment": "test"});
        let r = op(gw, "POST", &keys_path, Some(&body));
        let k = key_from(&r, 201);
        log.push(
            &r,
            o,
            "key.created",
            Some(&k.id),
            Want::Exact(created(&k.view)),
        );
        keys.push(k);
    }
    let path = |k: &Key| format!("/keys/{}", k.id);
    let mut patch = |k: &Key, body: Value, kind: &'static str| {
        let before = view(gw, &path(k));
        let r = op(gw, "PATCH", &path(k), Some(&body));
        r.expect_status(200);
        log.push(
            &r,
            o,
            kind,
            Some(&k.id),
            Want::Exact(changed(&before, &r.json)),
        );
    };
    for name in ["a1", "a2", "a3"] {
        patch(&keys[0], json!({"name": name}), "key.updated");
    }
    for (status, kind) in [
        ("disabled", "key.disabled"),
        ("active", "key.enabled"),
        ("disabled", "key.disabled"),
    ] {
        patch(&keys[1], json!({"status": status}), kind);
    }
    let r = op(gw, "POST", &format!("{}/leaked", path(&keys[2])), None);
    r.expect_status(200);
    let leaked = changed(&keys[2].view, &r.json);
    log.push(&r, o, "key.leaked", Some(&keys[2].id), Want::Exact(leaked));
    let r = op(
        gw,
        "PATCH",
        &format!("/accounts/{id}"),
        Some(&json!({"name": "renamed"})),
    );
    r.expect_status(200);
    let renamed = json!({"before": {"name": "filtered"}, "after": {"name": "renamed"}});
    log.push(&r, o, "account.updated", None, Want::Exact(renamed));
    let before = view(gw, &path(&keys[0]));
    let r = op(gw, "POST", &format!("{}/roll", path(&keys[0])), None);
    let successor = key_from(&r, 200);
    let s = Some(successor.id.as_str());
    log.push(
        &r,
        o,
        "key.created",
        s,
        Want::Exact(created(&successor.view)),
    );
    let was = changed(&before, &r.json["previous"]);
    log.push(&r, o, "key.rolled", Some(&keys[0].id), Want::Exact(was));
    let before = view(gw, &path(&keys[1]));
    let r = op(gw, "DELETE", &path(&keys[1]), None);
    r.expect_status(204);
    log.push(
        &r,
        o,
        "key.deleted",
        Some(&keys[1].id),
        Want::Exact(deleted(&before)),
    );

    let every = all(gw, o, &id, "");
    assert_events(&every, &log, since);
    assert_eq!(every.len(), 15, "the trial made 15 events");
    let every_ids = ids(&every);
    let only = |keep: &dyn Fn(&Value) -> bool| -> Vec<Value> {
        every.iter().filter(|e| keep(e)).cloned().collect()
    };

    // Another account, for its key and its events.
    let r = new_account(gw, "elsewhere");
    let other = r.json["id"].as_str().expect("account id").to_string();
    let body = json!({"name": "elsewhere", "environment": "test"});
    let r = op(gw, "POST", &format!("/accounts/{other}/keys"), Some(&body));
    let foreign_key = key_from(&r, 201).id;
    let foreign_event = all(gw, o, &other, "")[0]["id"]
        .as_str()
        .expect("an event of the other account")
        .to_string();

    // By type: each of them, those present and those not.
    for kind in TYPES {
        let filter = format!("type={kind}");
        let want = only(&|e| e["type"] == kind);
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }
    // By key: each key, the successor, another account's key, a key that does not exist.
    let key_ids: Vec<&str> = keys
        .iter()
        .map(|k| k.id.as_str())
        .chain([successor.id.as_str(), &foreign_key, "key_doesnotexist"])
        .collect();
    for key in &key_ids {
        let filter = format!("key_id={key}");
        let want = only(&|e| e["key_id"] == *key);
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }
    assert_eq!(only(&|e| e["key_id"] == json!(keys[0].id)).len(), 5);
    // Both.
    for (kind, key, count) in [
        ("key.updated", &keys[0].id, 3),
        ("key.disabled", &keys[1].id, 2),
        ("key.disabled", &keys[0].id, 0),
    ] {
        let filter = format!("type={kind}&key_id={key}");
        let want = only(&|e| e["type"] == kind && e["key_id"] == json!(key));
        assert_eq!(want.len(), count, "{filter}");
        assert_eq!(all(gw, o, &id, &filter), want, "{filter}");
    }

    // Pages: every limit walks every event once, newest first.
    for limit in [1, 2, 3, 4, 5, 7, 10, 14, 15, 16, 100] {
        let walked = walk(gw, &id, "", limit);
        assert_eq!(ids(&walked), every_ids, "walked by {limit}");
    }
    let by_key = format!("key_id={}", keys[1].id);
    for (filter, limit) in [("type=key.updated", 2), (by_key.as_str(), 1)] {
        let walked = walk(gw, &id, filter, limit);
        assert_eq!(
            walked,
            all(gw, o, &id, filter),
            "{filter} walked by {limit}"
        );
    }
    // The default limit is 10.
    let (first, has_more) = page(gw, o, &id, "");
    assert_eq!((ids(&first), has_more), (every_ids[..10].to_vec(), true));
    let after = format!("starting_after={}", every_ids[9]);
    let (rest, has_more) = page(gw, o, &id, &after);
    assert_eq!((ids(&rest), has_more), (every_ids[10..].to_vec(), false));
    let after = format!("starting_after={}", every_ids[14]);
    let (rest, has_more) = page(gw, o, &id, &after);
    assert!(rest.is_empty() && !has_more, "after the oldest: {rest:#?}");

    // Anything else: 400 naming the parameter.
    let bad = [
        ("type=bogus".to_string(), "type"),
        ("type=".to_string(), "type"),
        ("type=KEY.CREATED".to_string(), "type"),
        ("type=key".to_string(), "type"),
        ("type=key.*".to_string(), "type"),
        ("type=key.created,key.updated".to_string(), "type"),
        ("limit=0".to_string(), "limit"),
        ("limit=101".to_string(), "limit"),
        ("limit=-1".to_string(), "limit"),
        ("limit=ten".to_string(), "limit"),
        ("limit=".to_string(), "limit"),
        (
            "starting_after=evt_doesnotexist".to_string(),
            "starting_after",
        ),
        ("starting_after=".to_string(), "starting_after"),
        (format!("starting_after={foreign_event}"), "starting_after"),
        ("foo=1".to_string(), "foo"),
        (format!("account_id={id}"), "account_id"),
        ("Type=key.created".to_string(), "Type"),
        (format!("key={}", keys[0].id), "key"),
        ("type=key.created&foo=1".to_string(), "foo"),
        ("ending_before=evt_x".to_string(), "ending_before"),
        ("created_after=0".to_string(), "created_after"),
    ];
    for (query, field) in &bad {
        let r = op(gw, "GET", &events_path(&id, query), None);
        assert_eq!(r.status, 400, "events?{query}: {r}");
        refused(&r, 400, &[field]);
    }
    // GET only.
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = op(gw, method, &events_path(&id, ""), Some(&json!({})));
        refused(&r, 405, &[]);
        assert_eq!(r.header("allow"), Some("GET"), "{r}");
    }
    assert_eq!(
        all(gw, o, &id, ""),
        every,
        "the refused requests made no event"
    );
}

// ------------------------------------------------------------------------------------------
// Trial 4: no event carries a secret or a hash
// ------------------------------------------------------------------------------------------

/// The forms of `secret` an event must not hold: the key, its random body, any 12 characters
/// of that body, and its SHA-256 (what the registry stores) in hex and base64.
fn forms(secret: &str) -> Vec<String> {
    let body = &secret[8..];
    let digest = Sha256::digest(secret.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut forms = vec![
        secret.to_string(),
        body.to_string(),
        hex.to_uppercase(),
        hex,
    ];
    for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
        forms.push(engine.encode(digest));
    }
    forms.extend((0..=body.len() - 12).map(|i| body[i..i + 12].to_string()));
    forms
}

/// Every object key in `v`, recursively.
fn field_names(v: &Value, into: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (name, value) in map {
                into.push(name.clone());
                field_names(value, into);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| field_names(i, into)),
        _ => {}
    }
}

fn events_carry_no_secret_and_no_hash(c: &Ctx) {
    let gw = &c.gw;
    // Every type, with live keys this time (and the test key of the second account).
    let s = every_kind(gw, "live");
    assert!(
        s.secrets.iter().any(|k| k.starts_with("sk_live_")),
        "live secrets: {:?}",
        s.secrets.len()
    );
    let mut listed = Vec::new();
    for log in [&s.log, &s.other] {
        let events = all(gw, Who::Operator, &log.account, "");
        assert_events(&events, log, s.since);
        listed.extend(events);
    }
    let types: BTreeSet<&str> = listed.iter().filter_map(|e| e["type"].as_str()).collect();
    assert_eq!(types, TYPES.into_iter().collect(), "every type is checked");
    let forms: Vec<(String, &String)> = s
        .secrets
        .iter()
        .flat_map(|secret| forms(secret).into_iter().map(move |f| (f, secret)))
        .collect();
    for e in &listed {
        let text = e.to_string();
        assert_eq!(full_secrets(&text), Vec::<&str>::new(), "a secret in {e}");
        let hex_run = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max()
            .unwrap_or(0);
        assert!(hex_run < 64, "a hash-like hex run in {e}");
        for (form, secret) in &forms {
            assert!(
                !text.contains(form.as_str()),
                "{form:?} (of the secret {}…) in {e}",
                &secret[..12]
            );
        }
        let mut names = Vec::new();
        field_names(e, &mut names);
        for name in names {
            let lower = name.to_ascii_lowercase();
            assert!(
                !lower.contains("secret") && !lower.contains("hash"),
                "a field {name:?} in {e}"
            );
        }
    }
}
