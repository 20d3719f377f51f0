//! Helpers of the events trials: admin requests as the operator or a manager, the expected data of
//! a change, and the list read whole, filtered or page by page.

use super::*;

/// Who makes an admin request: the operator, or a manager key.
#[derive(Clone, Copy)]
pub(crate) enum Who<'a> {
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
pub(crate) fn act(
    gw: &Gateway,
    who: Who<'_>,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> Resp {
    match who {
        Who::Operator => op(gw, method, path, body),
        Who::Key(k) => as_key(gw, INSIDE, &k.secret, method, path, body),
    }
}

/// A new account of the operator's; returns the answer (201 checked).
pub(crate) fn new_account(gw: &Gateway, name: &str) -> Resp {
    create_account(gw, &json!({"name": name, "agreement": "test"}))
}

/// A new account of the operator's, and its log with the `account.created`.
pub(crate) fn logged_account(gw: &Gateway, name: &str) -> (String, Log) {
    let r = new_account(gw, name);
    let id = r.json["id"].as_str().expect("account id").to_string();
    let mut log = Log::new(&id);
    let created = Want::Exact(created(&r.json));
    log.push(&r, Who::Operator, "account.created", None, created);
    (id, log)
}

/// `{"before", "after"}` with the fields of two views that differ, [`NOT_CHANGES`] aside (a
/// field missing from one view reads as null there). Independent of the gateway's own diff.
pub(crate) fn changed(before: &Value, after: &Value) -> Value {
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
/// usage a key view shows (docs/admin-api.md "Events": what the edge observed, not a setting;
/// absent from views that predate it).
pub(crate) fn whole(view: &Value) -> Value {
    let mut view = view.clone();
    let object = view.as_object_mut().expect("a view");
    for name in NOT_CHANGES {
        object.remove(name);
    }
    view
}

/// A creation's data: nothing before, the whole view after.
pub(crate) fn created(view: &Value) -> Value {
    json!({"before": {}, "after": whole(view)})
}

/// A deletion's data: the whole view before, nothing after.
pub(crate) fn deleted(view: &Value) -> Value {
    json!({"before": whole(view), "after": {}})
}

/// What an expected event's `data` must be.
pub(crate) enum Want {
    /// Exactly this.
    Exact(Value),
    /// An entitlement event about this product (its data is not a view this test can read).
    Product(&'static str),
    /// A leak report's: these keys of the account (in any order).
    Reported(Vec<String>),
}

/// An event a trial caused.
pub(crate) struct Expected {
    pub(crate) kind: &'static str,
    pub(crate) key_id: Option<String>,
    pub(crate) actor: Value,
    pub(crate) request_id: String,
    pub(crate) data: Want,
}

/// The events a trial caused in one account, in the order it caused them.
pub(crate) struct Log {
    pub(crate) account: String,
    pub(crate) events: Vec<Expected>,
}

impl Log {
    pub(crate) fn new(account: &str) -> Log {
        Log {
            account: account.to_string(),
            events: Vec::new(),
        }
    }

    /// An event the admin answer `r`, to a request by `who`, must have made.
    pub(crate) fn push(
        &mut self,
        r: &Resp,
        who: Who<'_>,
        kind: &'static str,
        key: Option<&str>,
        data: Want,
    ) {
        self.events.push(Expected {
            kind,
            key_id: key.map(str::to_string),
            actor: who.actor(),
            request_id: r.request_id().expect("audited").to_string(),
            data,
        });
    }

    /// The key the answer `r` (expected `status`) made, with its `key.created` event.
    pub(crate) fn created_key(&mut self, r: &Resp, who: Who<'_>, status: u16) -> Key {
        let key = key_from(r, status);
        let data = Want::Exact(created(&key.view));
        self.push(r, who, "key.created", Some(&key.id), data);
        key
    }

    /// A roll's two events: the successor's `key.created`, then `key.rolled` of `rolled` with
    /// what changed since `before` (its view before the roll). Returns the successor.
    pub(crate) fn rolled_key(
        &mut self,
        r: &Resp,
        who: Who<'_>,
        rolled: &str,
        before: &Value,
    ) -> Key {
        let successor = self.created_key(r, who, 200);
        let was = changed(before, &r.json["previous"]);
        self.push(r, who, "key.rolled", Some(rolled), Want::Exact(was));
        successor
    }
}

/// `/accounts/{account}/events` with `query` (none when empty).
pub(crate) fn events_path(account: &str, query: &str) -> String {
    if query.is_empty() {
        format!("/accounts/{account}/events")
    } else {
        format!("/accounts/{account}/events?{query}")
    }
}

/// `a&b`, or whichever is not empty.
pub(crate) fn and(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}&{b}"),
    }
}

/// One page of the account's events read by `who`: `(data, has_more)`.
#[track_caller]
pub(crate) fn page(gw: &Gateway, who: Who<'_>, account: &str, query: &str) -> (Vec<Value>, bool) {
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
pub(crate) fn all(gw: &Gateway, who: Who<'_>, account: &str, filter: &str) -> Vec<Value> {
    let (data, has_more) = page(gw, who, account, &and("limit=100", filter));
    assert!(!has_more, "more than 100 events of {account}?{filter}");
    data
}

/// The events matching `filter`, walked `limit` at a time with `starting_after`; panics at
/// the first event listed twice.
#[track_caller]
pub(crate) fn walk(gw: &Gateway, account: &str, filter: &str, limit: usize) -> Vec<Value> {
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

pub(crate) fn ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

/// `type key_id request_id`, to show a list.
pub(crate) fn line(kind: &str, key_id: Option<&str>, request_id: &str) -> String {
    format!("{kind} {} {request_id}", key_id.unwrap_or("-"))
}

pub(crate) fn lines(events: &[&Value]) -> String {
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
