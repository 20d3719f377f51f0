//! Helpers of the activity trials: edge and admin requests, polling, usage fields.

use super::*;

pub(crate) fn now() -> i64 {
    now_f() as i64
}

/// An operator PATCH (path relative to `/admin/v1`) that must succeed; returns the answer.
pub(crate) fn patch(gw: &Gateway, path: &str, body: Value) -> Value {
    let r = op(gw, "PATCH", path, Some(&body));
    assert_eq!(r.status, 200, "PATCH {path} {body}: {r}");
    r.json.clone()
}

/// An edge request, audited: `method path` with `secret` (if any), product key `pk` (if any)
/// from `ip`.
pub(crate) fn edge(
    gw: &Gateway,
    method: &str,
    path: &str,
    secret: &str,
    pk: &str,
    ip: &str,
) -> Resp {
    let mut req = gw.request(method, path).client_ip(ip);
    if !secret.is_empty() {
        req = req.bearer(secret);
    }
    if !pk.is_empty() {
        req = req.product_key(pk);
    }
    let r = req.send();
    audit(&r);
    r
}

/// `GET /v1/accounts` (bank_data, `accounts:read`, served by the sandbox for a test key).
pub(crate) fn get_accounts(gw: &Gateway, k: &Key, a: &Account, ip: &str) -> Resp {
    edge(gw, "GET", "/v1/accounts", &k.secret, &a.pk, ip)
}

/// The address block an `ip.would_deny` event is recorded for, written here independently of
/// the gateway: `a.b.c.0/24` for IPv4, the first four groups and `::/64` for IPv6 (written
/// without leading zeros, as the trials' addresses are).
pub(crate) fn block(ip: &str) -> String {
    if ip.contains(':') {
        let groups: Vec<&str> = ip.split(':').take(4).collect();
        format!("{}::/64", groups.join(":"))
    } else {
        let octets: Vec<&str> = ip.split('.').take(3).collect();
        format!("{}.0/24", octets.join("."))
    }
}

/// A key's view (operator).
pub(crate) fn key_view(gw: &Gateway, key_id: &str) -> Value {
    view(gw, &format!("/keys/{key_id}"))
}

/// `n` requests sent by `threads` threads at once; `send(i)` makes request `i` and returns its
/// answer. The answers in order of `i`.
pub(crate) fn burst(n: usize, threads: usize, send: impl Fn(usize) -> Resp + Sync) -> Vec<Resp> {
    let send = &send;
    let mut answers: Vec<(usize, Resp)> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    (t..n)
                        .step_by(threads)
                        .map(|i| (i, send(i)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|e| resume_unwind(e)))
            .collect()
    });
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, r)| r).collect()
}

/// Polls `probe` every `every` until it gives a value; `None` once `deadline` has passed. It
/// sends nothing to the edge in between: what an isolate saw must reach the Registry without a
/// later request to carry it.
pub(crate) fn poll<T>(
    every: Duration,
    deadline: Instant,
    mut probe: impl FnMut() -> Option<T>,
) -> Option<T> {
    loop {
        if let Some(found) = probe() {
            return Some(found);
        }
        if Instant::now() > deadline {
            return None;
        }
        thread::sleep(every);
    }
}

/// Who makes an admin request: the operator, or a key (a manager, from [`INSIDE`]).
#[derive(Clone, Copy)]
pub(crate) enum Who<'a> {
    Operator,
    Key(&'a Key),
}

/// An admin GET (path relative to `/admin/v1`) by `who`, audited.
pub(crate) fn get_as(gw: &Gateway, who: Who<'_>, path: &str) -> Resp {
    match who {
        Who::Operator => op(gw, "GET", path, None),
        Who::Key(k) => as_key(gw, INSIDE, &k.secret, "GET", path, None),
    }
}

/// `GET /admin/v1/requests/{id}` by `who`.
pub(crate) fn lookup(gw: &Gateway, who: Who<'_>, request_id: &str) -> Resp {
    get_as(gw, who, &format!("/requests/{request_id}"))
}

/// The X-Request-Id of an (audited) answer.
pub(crate) fn rid(r: &Resp) -> String {
    r.request_id().expect("audited").to_string()
}

/// The account's `ip.would_deny` events (operator view), newest first.
pub(crate) fn would_deny_events(gw: &Gateway, account: &str) -> Vec<Value> {
    let r = op(
        gw,
        "GET",
        &format!("/accounts/{account}/events?type=ip.would_deny&limit=100"),
        None,
    );
    assert_eq!(r.status, 200, "events?type=ip.would_deny: {r}");
    assert_ne!(r.json["has_more"], json!(true), "{r}");
    r.json["data"]
        .as_array()
        .unwrap_or_else(|| panic!("no data array: {r}"))
        .clone()
}

/// The usage fields of a key view.
pub(crate) fn usage(view: &Value) -> Value {
    json!({
        "last_used_at": view["last_used_at"],
        "last_used_ip": view["last_used_ip"],
        "ips_seen": view["ips_seen"],
    })
}

/// Panics unless the view has the three usage fields, empty (a key never used).
#[track_caller]
pub(crate) fn assert_unused(view: &Value, what: &str) {
    let object = view
        .as_object()
        .unwrap_or_else(|| panic!("{what}: not an object: {view}"));
    for name in ["last_used_at", "last_used_ip", "ips_seen"] {
        assert!(object.contains_key(name), "{what}: no {name}: {view}");
    }
    assert_eq!(
        usage(view),
        json!({"last_used_at": null, "last_used_ip": null, "ips_seen": []}),
        "{what}: a key never used: {view}"
    );
}
