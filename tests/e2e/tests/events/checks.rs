//! What every listed event must be, against the log of what the trial did.

use super::*;

/// Panics unless `e` is a well-formed event of `account` made after `since`: its fields, ids,
/// actor, time, and `data` holding `before` and `after` as a creation, a deletion or an update
/// of changed fields only.
#[track_caller]
pub(crate) fn check_shape(e: &Value, account: &str, since: i64) {
    let object = e
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {e}"));
    for name in object.keys() {
        assert!(EVENT_FIELDS.contains(&name.as_str()), "field {name:?}: {e}");
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
pub(crate) fn assert_events(listed: &[Value], log: &Log, since: i64) {
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
