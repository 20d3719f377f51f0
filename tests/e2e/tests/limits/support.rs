//! Helpers of the rate-limit trials: edge requests, and what a granted, limited or unlimited answer
//! must carry.

use super::*;

/// A production account (with `extra` fields, e.g. a default `rate_limit`) entitled to
/// bank_data.
pub(crate) struct Account {
    pub(crate) id: String,
    /// bank_data product keys.
    pub(crate) pk: String,
    pub(crate) pk_live: String,
}

pub(crate) fn account(gw: &Gateway, name: &str, extra: Value) -> Account {
    let mut body = json!({"name": name, "agreement": "production"});
    merge(&mut body, extra);
    let (id, entitled) = bank_data_account(gw, &body);
    Account {
        pk: product_key(&entitled, "test"),
        pk_live: product_key(&entitled, "live"),
        id,
    }
}

/// An edge request with `secret` and product key `pk` from `ip`, audited: `GET /v1/accounts`
/// (bank_data, `accounts:read`), answered by the sandbox for a test key and by the origin for
/// a live key (`?trace=<marker>` then, to find it there).
pub(crate) fn edge_from(gw: &Gateway, ip: &str, secret: &str, pk: &str, marker: &str) -> Resp {
    let path = if secret.starts_with("sk_live_") {
        format!("/v1/accounts?trace={marker}")
    } else {
        "/v1/accounts".to_string()
    };
    let r = gw
        .get(&path)
        .bearer(secret)
        .product_key(pk)
        .client_ip(ip)
        .send();
    audit(&r);
    r
}

pub(crate) fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    edge_from(gw, INSIDE, secret, pk, "limits")
}

/// `(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)`, or `None` when the answer has
/// none of them; panics when only some are present or one is not a whole number.
#[track_caller]
pub(crate) fn rate_headers(r: &Resp) -> Option<(u64, u64, u64)> {
    let values: Vec<Option<u64>> = ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"]
        .iter()
        .map(|name| {
            r.header(name).map(|v| {
                v.trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} is not a whole number: {r}"))
            })
        })
        .collect();
    match values[..] {
        [Some(limit), Some(remaining), Some(reset)] => Some((limit, remaining, reset)),
        [None, None, None] => None,
        _ => panic!("some RateLimit-* headers but not all three: {r}"),
    }
}

/// A granted answer to a key limited to `limit` requests per `period` seconds: 200 with the
/// three headers consistent with the limit. Returns `(remaining, reset)`.
#[track_caller]
pub(crate) fn assert_granted(r: &Resp, limit: u64, period: u64, what: &str) -> (u64, u64) {
    assert_eq!(r.status, 200, "{what}: expected a granted request: {r}");
    let (l, remaining, reset) =
        rate_headers(r).unwrap_or_else(|| panic!("{what}: no RateLimit-* headers: {r}"));
    assert_eq!(l, limit, "{what}: RateLimit-Limit: {r}");
    assert!(remaining < limit, "{what}: RateLimit-Remaining: {r}");
    // A request was just counted: the oldest counted one leaves within the period.
    assert!(
        (1..=period).contains(&reset),
        "{what}: RateLimit-Reset out of 1..={period}: {r}"
    );
    assert!(
        r.header("retry-after").is_none(),
        "{what}: Retry-After on a granted request: {r}"
    );
    (remaining, reset)
}

/// A 429 to a key limited to `limit` requests per `period` seconds (README "How a request is
/// checked" error, the three headers with Remaining 0, Retry-After = RateLimit-Reset ≥ 1). Returns
/// Retry-After.
#[track_caller]
pub(crate) fn assert_limited(r: &Resp, limit: u64, period: u64, what: &str) -> u64 {
    refused(r, 429, &[]);
    assert!(
        r.header("content-type")
            .is_some_and(|t| t.starts_with("application/json")),
        "{what}: 429 not JSON: {r}"
    );
    let (l, remaining, reset) =
        rate_headers(r).unwrap_or_else(|| panic!("{what}: a 429 without RateLimit-*: {r}"));
    assert_eq!(
        (l, remaining),
        (limit, 0),
        "{what}: RateLimit-Limit/-Remaining: {r}"
    );
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{what}: a 429 without an integer Retry-After: {r}"));
    assert!(
        (1..=period).contains(&retry),
        "{what}: Retry-After out of 1..={period}: {r}"
    );
    assert_eq!(
        retry,
        reset.max(1),
        "{what}: Retry-After should be when the oldest request leaves the window \
         (RateLimit-Reset): {r}"
    );
    retry
}

/// An answer without any `RateLimit-*` header (and no Retry-After).
#[track_caller]
pub(crate) fn assert_unlimited(r: &Resp, what: &str) {
    let named: Vec<&String> = r
        .headers
        .iter()
        .map(|(k, _)| k)
        .filter(|k| k.to_ascii_lowercase().starts_with("ratelimit") || *k == "retry-after")
        .collect();
    assert!(
        named.is_empty(),
        "{what}: an unlimited key's answer carries {named:?}: {r}"
    );
}

/// Sends `n` requests at once (`n` threads released by one barrier); answers in thread order.
pub(crate) fn burst(n: usize, send: impl Fn(usize) -> Resp + Sync) -> Vec<Resp> {
    let barrier = Barrier::new(n);
    thread::scope(|s| {
        let threads: Vec<_> = (0..n)
            .map(|i| {
                let (barrier, send) = (&barrier, &send);
                s.spawn(move || {
                    barrier.wait();
                    send(i)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect()
    })
}

/// `{"requests": n, "period_seconds": s}`.
pub(crate) fn limit(n: u64, s: u64) -> Value {
    json!({"requests": n, "period_seconds": s})
}
