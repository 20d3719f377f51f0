//! Rate limits and revocation (SPEC §10) end to end: real workerd through `wrangler dev`, HTTP
//! only. A key's limit (its own, else its account's default) is a sliding window counted
//! exactly under concurrency, for test keys (sandbox) and live keys (origin) alike; only
//! requests that would be served are counted; the `RateLimit-*` headers and `Retry-After` are
//! honest. A revocation reaches an isolate that did not serve the admin write within 1 s.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`    — the harness defaults with `ORIGIN_URL` = the recording [`Origin`].
//! * `stale` — `KEYGATE_TEST_SKIP_LOCAL_APPLY=true`: the admin path does not apply its changes
//!   to the serving isolate's key cache, as if another isolate had served the admin write.
//!
//! The revocation trial warms a key at `stale`, revokes it, and polls the edge every 50 ms:
//! without a revocation mechanism the isolate serves its cached record for
//! [`ISOLATE_CACHE_TTL`]. Its `measured:` lines say how often the old record was still served
//! after the admin answer: a few times shows the variable is honoured (the isolate really was
//! stale). The trial cannot tell an ignored variable from a fast mechanism: if the admin path
//! applied its write locally anyway, every first request would simply be refused.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Edge requests are sent from [`INSIDE`]
//! (`CF-Connecting-IP`, which `wrangler dev` passes through).

use std::panic::resume_unwind;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    Key, audit, bank_data_account, key, key_body, key_list, op, product_key, refused, view,
};
use keygate_e2e::{Gateway, Origin, Resp, Value, json, merge, run, start_together, tests};

/// The client address of edge requests.
const INSIDE: &str = "10.1.2.3";
/// An address outside the allowlists these trials set.
const OUTSIDE: &str = "192.0.2.1";
/// How long the worker's isolate trusts an edge record it cached (`CACHE_TTL_MS`,
/// docs/storage.md): without a revocation mechanism, a stale isolate serves a revoked key
/// this long.
const ISOLATE_CACHE_TTL: Duration = Duration::from_secs(10);
/// SPEC §10: every isolate enforces a revocation within this long of the admin answer.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);
/// How often the edge is polled after a revocation.
const POLL_EVERY: Duration = Duration::from_millis(50);

struct Ctx {
    origin: Origin,
    gw: Gateway,
    stale: Gateway,
}

fn main() {
    run(
        || {
            let origin = Origin::start();
            let [gw, stale] = start_together([
                Gateway::builder().var("ORIGIN_URL", &origin.url()),
                Gateway::builder().var("KEYGATE_TEST_SKIP_LOCAL_APPLY", "true"),
            ]);
            Ctx { origin, gw, stale }
        },
        tests![
            // First: they wait (~10 s, and up to ~15 s when revocation is slow).
            headers_count_down_and_retry_after_is_honest,
            revocation_reaches_a_stale_isolate_within_1s,
            // The rest take no deliberate waits.
            rate_limits_validate_show_roll_and_clear,
            concurrent_test_requests_get_exactly_the_limit,
            concurrent_live_requests_reach_the_origin_exactly_the_limit,
            account_default_applies_unless_the_key_has_its_own,
            refused_requests_are_not_counted,
            unlimited_keys_carry_no_rate_limit_headers,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// A production account (with `extra` fields, e.g. a default `rate_limit`) entitled to
/// bank_data.
struct Account {
    id: String,
    /// bank_data product keys.
    pk: String,
    pk_live: String,
}

fn account(gw: &Gateway, name: &str, extra: Value) -> Account {
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
fn edge_from(gw: &Gateway, ip: &str, secret: &str, pk: &str, marker: &str) -> Resp {
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

fn edge(gw: &Gateway, secret: &str, pk: &str) -> Resp {
    edge_from(gw, INSIDE, secret, pk, "limits")
}

/// `(RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset)`, or `None` when the answer has
/// none of them; panics when only some are present or one is not a whole number.
#[track_caller]
fn rate_headers(r: &Resp) -> Option<(u64, u64, u64)> {
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
fn assert_granted(r: &Resp, limit: u64, period: u64, what: &str) -> (u64, u64) {
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

/// A 429 to a key limited to `limit` requests per `period` seconds (SPEC §4 error, the three
/// headers with Remaining 0, Retry-After = RateLimit-Reset ≥ 1). Returns Retry-After.
#[track_caller]
fn assert_limited(r: &Resp, limit: u64, period: u64, what: &str) -> u64 {
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
fn assert_unlimited(r: &Resp, what: &str) {
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
fn burst(n: usize, send: impl Fn(usize) -> Resp + Sync) -> Vec<Resp> {
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
fn limit(n: u64, s: u64) -> Value {
    json!({"requests": n, "period_seconds": s})
}

// ------------------------------------------------------------------------------------------
// Trial 1: validation, views, roll, null
// ------------------------------------------------------------------------------------------

/// Bad `rate_limit` values and the fields a 400 must name.
fn bad_limits() -> Vec<(Value, Vec<&'static str>)> {
    let rq = "rate_limit.requests";
    let ps = "rate_limit.period_seconds";
    vec![
        (json!(5), vec!["rate_limit"]),
        (json!("10/60"), vec!["rate_limit"]),
        (json!([10, 60]), vec!["rate_limit"]),
        (json!(true), vec!["rate_limit"]),
        (json!({}), vec![rq, ps]),
        (json!({"requests": 10}), vec![ps]),
        (json!({"period_seconds": 60}), vec![rq]),
        (limit(0, 60), vec![rq]),
        (limit(100_001, 60), vec![rq]),
        (json!({"requests": -1, "period_seconds": 60}), vec![rq]),
        (json!({"requests": 5.5, "period_seconds": 60}), vec![rq]),
        (json!({"requests": "10", "period_seconds": 60}), vec![rq]),
        (json!({"requests": null, "period_seconds": 60}), vec![rq]),
        (limit(10, 0), vec![ps]),
        (limit(10, 3601), vec![ps]),
        (json!({"requests": 10, "period_seconds": "60"}), vec![ps]),
        (json!({"requests": 10, "period_seconds": 1.5}), vec![ps]),
        (limit(0, 0), vec![rq, ps]),
        (
            json!({"requests": 10, "period_seconds": 60, "burst": 5}),
            vec!["rate_limit.burst"],
        ),
        (
            json!({"requests": 10, "period": 60}),
            vec![ps, "rate_limit.period"],
        ),
    ]
}

fn rate_limits_validate_show_roll_and_clear(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "rate limit validation", json!({}));
    let k = key(gw, &a.id, "target", json!({}));
    let key_path = format!("/keys/{}", k.id);
    let account_path = format!("/accounts/{}", a.id);
    let keys_path = format!("/accounts/{}/keys", a.id);
    assert_eq!(k.view["rate_limit"], Value::Null, "no limit shows null");
    assert_eq!(
        view(gw, &account_path)["rate_limit"],
        Value::Null,
        "no account default shows null"
    );

    // Refused everywhere, naming the fields, changing nothing.
    let keys_before = key_list(gw, &a.id);
    let key_before = view(gw, &key_path);
    let account_before = view(gw, &account_path);
    for (bad, fields) in bad_limits() {
        let what = |endpoint: &str| format!("{endpoint} with rate_limit {bad}");
        let r = op(
            gw,
            "POST",
            &keys_path,
            Some(&key_body("bad", json!({"rate_limit": bad}))),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("key create"));
        refused(&r, 400, &fields);
        let r = op(gw, "PATCH", &key_path, Some(&json!({"rate_limit": bad})));
        assert_eq!(r.status, 400, "{}: {r}", what("key patch"));
        refused(&r, 400, &fields);
        let r = op(
            gw,
            "POST",
            "/accounts",
            Some(&json!({"name": "bad", "agreement": "test", "rate_limit": bad})),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("account create"));
        refused(&r, 400, &fields);
        let r = op(
            gw,
            "PATCH",
            &account_path,
            Some(&json!({"rate_limit": bad})),
        );
        assert_eq!(r.status, 400, "{}: {r}", what("account patch"));
        refused(&r, 400, &fields);
    }
    assert_eq!(
        key_list(gw, &a.id),
        keys_before,
        "a refused create made a key"
    );
    assert_eq!(
        view(gw, &key_path),
        key_before,
        "a refused patch changed it"
    );
    assert_eq!(
        view(gw, &account_path),
        account_before,
        "a refused patch changed the account"
    );

    // Accepted, at the bounds too: shown in the answer, the view and the list.
    for good in [limit(1, 1), limit(100_000, 3_600), limit(10, 60)] {
        let made = key(gw, &a.id, "limited", json!({"rate_limit": good}));
        assert_eq!(made.view["rate_limit"], good, "key create answer");
        assert_eq!(view(gw, &format!("/keys/{}", made.id))["rate_limit"], good);
        let listed = key_list(gw, &a.id);
        let entry = listed
            .iter()
            .find(|v| v["id"] == json!(made.id))
            .expect("the key in the list");
        assert_eq!(entry["rate_limit"], good, "key list: {entry}");

        let r = op(gw, "PATCH", &key_path, Some(&json!({"rate_limit": good})));
        r.expect_status(200);
        assert_eq!(r.json["rate_limit"], good, "key patch answer: {r}");
        assert_eq!(view(gw, &key_path)["rate_limit"], good);

        let r = op(
            gw,
            "POST",
            "/accounts",
            Some(&json!({"name": "limited", "agreement": "test", "rate_limit": good})),
        );
        r.expect_status(201);
        assert_eq!(r.json["rate_limit"], good, "account create answer: {r}");
        let other = format!("/accounts/{}", r.json["id"].as_str().expect("id"));
        assert_eq!(view(gw, &other)["rate_limit"], good);

        let r = op(
            gw,
            "PATCH",
            &account_path,
            Some(&json!({"rate_limit": good})),
        );
        r.expect_status(200);
        assert_eq!(r.json["rate_limit"], good, "account patch answer: {r}");
        assert_eq!(view(gw, &account_path)["rate_limit"], good);
    }

    // Other changes keep it.
    let kept = limit(10, 60);
    let r = op(gw, "PATCH", &key_path, Some(&json!({"name": "renamed"})));
    assert_eq!(
        r.json["rate_limit"], kept,
        "a rename dropped the limit: {r}"
    );
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"name": "renamed"})),
    );
    assert_eq!(
        r.json["rate_limit"], kept,
        "a rename dropped the limit: {r}"
    );

    // A roll keeps it: on the successor and on the old key.
    let r = op(gw, "POST", &format!("{key_path}/roll"), Some(&json!({})));
    r.expect_status(200);
    let successor = r.json["key"]["id"]
        .as_str()
        .expect("successor id")
        .to_string();
    assert_ne!(
        successor, k.id,
        "the roll answer's key is the successor: {r}"
    );
    assert_eq!(r.json["key"]["rate_limit"], kept, "roll answer: {r}");
    let successor_path = format!("/keys/{successor}");
    assert_eq!(view(gw, &successor_path)["rate_limit"], kept, "successor");
    assert_eq!(view(gw, &key_path)["rate_limit"], kept, "rolled key");
    let secret = r.json["secret"].as_str().expect("secret").to_string();
    let r = edge(gw, &secret, &a.pk);
    assert_granted(&r, 10, 60, "the successor is limited");

    // `null` clears it; absent leaves it; a key created with null has none.
    let r = op(
        gw,
        "PATCH",
        &successor_path,
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "cleared: {r}");
    assert_eq!(view(gw, &successor_path)["rate_limit"], Value::Null);
    // The account's default (also 10 per 60 s) applies now; the key's grant still counts.
    let r = edge(gw, &secret, &a.pk);
    assert_eq!(
        assert_granted(&r, 10, 60, "the account default").0,
        8,
        "{r}"
    );
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "cleared: {r}");
    assert_eq!(view(gw, &account_path)["rate_limit"], Value::Null);
    assert_unlimited(&edge(gw, &secret, &a.pk), "no limit left");
    let none = key(gw, &a.id, "null", json!({"rate_limit": null}));
    assert_eq!(none.view["rate_limit"], Value::Null);
    let r = op(
        gw,
        "POST",
        "/accounts",
        Some(&json!({"name": "null", "agreement": "test", "rate_limit": null})),
    );
    r.expect_status(201);
    assert_eq!(r.json["rate_limit"], Value::Null, "{r}");
}

// ------------------------------------------------------------------------------------------
// Trial 2: concurrency
// ------------------------------------------------------------------------------------------

/// Checks a burst against a limit of `n` per `period`: exactly `n` granted (remaining
/// `n-1 … 0`, each once), the others 429. Returns the granted answers.
#[track_caller]
fn assert_exactly_n_granted(answers: &[Resp], n: u64, period: u64, what: &str) -> Vec<Resp> {
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let granted: Vec<Resp> = answers
        .iter()
        .filter(|r| r.status == 200)
        .cloned()
        .collect();
    let limited = answers.iter().filter(|r| r.status == 429).count();
    assert_eq!(
        (granted.len(), limited),
        (n as usize, answers.len() - n as usize),
        "{what}: expected exactly {n} × 200 and the rest 429, got {statuses:?}"
    );
    for r in answers {
        assert!(r.json.is_object(), "{what}: not JSON: {r}");
        assert!(r.request_id().is_some(), "{what}: no X-Request-Id: {r}");
        if r.status == 429 {
            assert_limited(r, n, period, what);
        }
    }
    let mut remaining: Vec<u64> = granted
        .iter()
        .map(|r| assert_granted(r, n, period, what).0)
        .collect();
    remaining.sort_unstable();
    assert_eq!(
        remaining,
        (0..n).collect::<Vec<_>>(),
        "{what}: each grant should see its own count"
    );
    granted
}

fn concurrent_test_requests_get_exactly_the_limit(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "concurrent test", json!({}));
    let k = key(gw, &a.id, "burst", json!({"rate_limit": limit(10, 60)}));
    let started = Instant::now();
    let answers = burst(20, |_| edge(gw, &k.secret, &a.pk));
    eprintln!(
        "measured: 20 concurrent test-key requests (limit 10/60 s) answered in {} ms",
        started.elapsed().as_millis()
    );
    let granted = assert_exactly_n_granted(&answers, 10, 60, "test key, 20 at once");
    for r in &granted {
        assert_eq!(r.header("x-sandbox"), Some("true"), "a sandbox answer: {r}");
    }
    // Still full afterwards.
    assert_limited(&edge(gw, &k.secret, &a.pk), 10, 60, "after the burst");
}

fn concurrent_live_requests_reach_the_origin_exactly_the_limit(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "concurrent live", json!({}));
    let k = key(
        gw,
        &a.id,
        "burst",
        json!({"environment": "live", "rate_limit": limit(5, 60)}),
    );
    let marker = format!("limits-live-{}", a.id);
    let answers = burst(10, |i| {
        edge_from(gw, INSIDE, &k.secret, &a.pk_live, &format!("{marker}-{i}"))
    });
    let granted = assert_exactly_n_granted(&answers, 5, 60, "live key, 10 at once");
    for r in &granted {
        assert_eq!(
            r.json,
            json!({"origin": "ok"}),
            "relayed from the origin: {r}"
        );
    }
    // The gateway answers after the origin answered; a short wait catches a stray request.
    thread::sleep(Duration::from_millis(300));
    let got = c.origin.got(&a.id, &marker);
    assert_eq!(
        got.len(),
        5,
        "the origin should receive exactly the 5 granted requests: {got:#?}"
    );
}

// ------------------------------------------------------------------------------------------
// Trial 3: the headers count down; Retry-After is honest; the window slides
// ------------------------------------------------------------------------------------------

fn headers_count_down_and_retry_after_is_honest(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "count down", json!({}));
    let k = key(gw, &a.id, "3 per 10 s", json!({"rate_limit": limit(3, 10)}));
    let send = || edge(gw, &k.secret, &a.pk);

    // One request, then two 2 s after its answer (so at least 2 s later as the gateway counts
    // time): the window holds grants of two ages.
    let r = send();
    let first = Instant::now();
    let (remaining, reset) = assert_granted(&r, 3, 10, "request 1");
    assert_eq!(
        (remaining, reset),
        (2, 10),
        "request 1: remaining, reset: {r}"
    );
    thread::sleep(Duration::from_secs(2).saturating_sub(first.elapsed()));
    let mut resets = Vec::new();
    for (i, want) in [(2, 1), (3, 0)] {
        let r = send();
        let (remaining, reset) = assert_granted(&r, 3, 10, &format!("request {i}"));
        assert_eq!(remaining, want, "request {i}: RateLimit-Remaining: {r}");
        // The oldest counted request (request 1) leaves 10 s after it was made.
        assert!(
            (7..=8).contains(&reset),
            "request {i}: RateLimit-Reset should count down to request 1 leaving: {r}"
        );
        resets.push(reset);
    }

    let sent = Instant::now();
    let r = send();
    let answered = Instant::now();
    let retry = assert_limited(&r, 3, 10, "request 4");
    assert!(
        (7..=8).contains(&retry),
        "request 4: Retry-After should be when request 1 leaves (~8 s): {r}"
    );
    eprintln!(
        "measured: limit 3/10 s: resets {resets:?} then Retry-After {retry} s, \
         {} ms after request 1 was answered",
        (sent - first).as_millis()
    );

    // Not earlier: 2 s before Retry-After, still refused (and not counted).
    if retry >= 3 {
        thread::sleep(
            (sent + Duration::from_secs(retry - 2)).saturating_duration_since(Instant::now()),
        );
        let r = send();
        let early = assert_limited(&r, 3, 10, "2 s before Retry-After");
        assert!(
            (1..=3).contains(&early),
            "2 s before Retry-After, Retry-After should be ~2: {r}"
        );
    }
    // Honest: once Retry-After has passed, a request passes…
    thread::sleep(
        (answered + Duration::from_secs(retry)).saturating_duration_since(Instant::now()),
    );
    let r = send();
    let (remaining, _) = assert_granted(&r, 3, 10, "after Retry-After");
    assert_eq!(remaining, 0, "requests 2 and 3 are still counted: {r}");
    // …but only one: requests 2 and 3 are in the window for 2 s more (a sliding window, not a
    // fixed one that would start afresh).
    let r = send();
    let retry = assert_limited(&r, 3, 10, "the next one");
    assert!(
        (1..=3).contains(&retry),
        "Retry-After should be when request 2 leaves (~2 s): {r}"
    );
}

// ------------------------------------------------------------------------------------------
// Trial 4: the account's default, a key's own limit, falling back
// ------------------------------------------------------------------------------------------

fn account_default_applies_unless_the_key_has_its_own(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "account default", json!({"rate_limit": limit(2, 60)}));
    let account_path = format!("/accounts/{}", a.id);
    let plain = key(gw, &a.id, "no own limit", json!({}));
    let looser = key(gw, &a.id, "own 5", json!({"rate_limit": limit(5, 60)}));
    let stricter = key(gw, &a.id, "own 1", json!({"rate_limit": limit(1, 60)}));
    let send = |k: &Key| edge(gw, &k.secret, &a.pk);

    // The default applies to a key without its own limit.
    assert_eq!(
        plain.view["rate_limit"],
        Value::Null,
        "the key has none of its own"
    );
    assert_eq!(assert_granted(&send(&plain), 2, 60, "default 1").0, 1);
    assert_eq!(assert_granted(&send(&plain), 2, 60, "default 2").0, 0);
    assert_limited(&send(&plain), 2, 60, "default 3");

    // A key's own limit overrides it, looser or stricter.
    for i in 1..=3 {
        let r = send(&looser);
        assert_eq!(assert_granted(&r, 5, 60, "own 5").0, 5 - i, "{r}");
    }
    assert_eq!(assert_granted(&send(&stricter), 1, 60, "own 1").0, 0);
    assert_limited(&send(&stricter), 1, 60, "own 1, second");

    // Removing the key's own limit falls back to the account's (its 3 grants still count).
    let r = op(
        gw,
        "PATCH",
        &format!("/keys/{}", looser.id),
        Some(&json!({"rate_limit": null})),
    );
    r.expect_status(200);
    assert_eq!(r.json["rate_limit"], Value::Null, "{r}");
    assert_limited(&send(&looser), 2, 60, "own limit removed");

    // A new default applies to keys without their own; not to the others.
    let r = op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": limit(4, 60)})),
    );
    r.expect_status(200);
    assert_eq!(assert_granted(&send(&plain), 4, 60, "new default").0, 1);
    assert_limited(&send(&stricter), 1, 60, "own 1 under a new default");

    // No default: keys without their own limit are unlimited; the others stay limited.
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": null})),
    )
    .expect_status(200);
    for k in [&plain, &looser] {
        let r = send(k);
        assert_eq!(r.status, 200, "no limit left: {r}");
        assert_unlimited(&r, "no limit left");
    }
    assert_limited(&send(&stricter), 1, 60, "own 1 without a default");

    // A key created under a default shows none of its own but is limited by it.
    op(
        gw,
        "PATCH",
        &account_path,
        Some(&json!({"rate_limit": limit(3, 60)})),
    )
    .expect_status(200);
    let later = key(gw, &a.id, "later", json!({}));
    assert_eq!(later.view["rate_limit"], Value::Null, "{}", later.view);
    assert_eq!(assert_granted(&send(&later), 3, 60, "later key").0, 2);
}

// ------------------------------------------------------------------------------------------
// Trial 5: refused requests are not counted
// ------------------------------------------------------------------------------------------

fn refused_requests_are_not_counted(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "refusals", json!({}));
    let other = account(gw, "refusals, other", json!({}));
    let k = key(
        gw,
        &a.id,
        "2 per minute",
        json!({"rate_limit": limit(2, 60), "allowed_ips": ["10.0.0.0/8"],
               "scopes": ["accounts:read"]}),
    );
    let path = format!("/keys/{}", k.id);

    // (what, request, expected status): each refused 5 times.
    let get = |path: &str, pk: &str, ip: &str| {
        gw.get(path).bearer(&k.secret).product_key(pk).client_ip(ip)
    };
    let cases = [
        (
            "another account's product key",
            get("/v1/accounts", &other.pk, INSIDE),
            404,
        ),
        (
            "the live product key with a test key",
            get("/v1/accounts", &a.pk_live, INSIDE),
            404,
        ),
        (
            "an address outside the allowlist",
            get("/v1/accounts", &a.pk, OUTSIDE),
            403,
        ),
        (
            "a scope the key lacks",
            get("/v1/transactions", &a.pk, INSIDE),
            403,
        ),
    ];
    for (what, req, status) in &cases {
        for _ in 0..5 {
            let r = req.clone().send();
            audit(&r);
            assert_eq!(r.status, *status, "{what}: {r}");
        }
    }
    // Refused while disabled (401): not counted either.
    op(gw, "PATCH", &path, Some(&json!({"status": "disabled"}))).expect_status(200);
    for _ in 0..5 {
        let r = edge(gw, &k.secret, &a.pk);
        assert_eq!(r.status, 401, "disabled: {r}");
    }
    op(gw, "PATCH", &path, Some(&json!({"status": "active"}))).expect_status(200);

    // 22 refusals later, both requests the limit allows pass.
    assert_eq!(
        assert_granted(&edge(gw, &k.secret, &a.pk), 2, 60, "good 1").0,
        1
    );
    assert_eq!(
        assert_granted(&edge(gw, &k.secret, &a.pk), 2, 60, "good 2").0,
        0
    );
    assert_limited(&edge(gw, &k.secret, &a.pk), 2, 60, "good 3");
}

// ------------------------------------------------------------------------------------------
// Trial 6: an unlimited key's answers carry no RateLimit-* header
// ------------------------------------------------------------------------------------------

fn unlimited_keys_carry_no_rate_limit_headers(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "unlimited", json!({}));
    let test = key(gw, &a.id, "unlimited test", json!({}));
    let live = key(gw, &a.id, "unlimited live", json!({"environment": "live"}));
    for i in 0..3 {
        let r = edge(gw, &test.secret, &a.pk);
        assert_eq!(r.status, 200, "test key, request {i}: {r}");
        assert_unlimited(&r, "test key");
        let r = edge(gw, &live.secret, &a.pk_live);
        assert_eq!(
            r.json,
            json!({"origin": "ok"}),
            "live key, request {i}: {r}"
        );
        assert_unlimited(&r, "live key");
    }
    let r = gw
        .get("/v1/accounts")
        .bearer(&test.secret)
        .product_key(&a.pk_live)
        .client_ip(INSIDE)
        .send();
    assert_eq!(r.status, 404, "{r}");
    assert_unlimited(&r, "a refused request of an unlimited key");
}

// ------------------------------------------------------------------------------------------
// Trial 7: revocation reaches an isolate that did not apply the admin write, within 1 s
// ------------------------------------------------------------------------------------------

/// A revocation: what it is, the admin request (`{key}` / `{account}` in the path stand for
/// the ids; the body as JSON text, empty for none) and its status, and the edge status the
/// key's requests must then get.
type Revocation = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u16,
    u16,
);

/// SPEC §10's revocations (the first four are the brief's; the others are §10's too).
const REVOCATIONS: [Revocation; 7] = [
    (
        "disable",
        "PATCH",
        "/keys/{key}",
        r#"{"status": "disabled"}"#,
        200,
        401,
    ),
    ("delete", "DELETE", "/keys/{key}", "", 204, 401),
    (
        "account suspension",
        "PATCH",
        "/accounts/{account}",
        r#"{"status": "suspended"}"#,
        200,
        401,
    ),
    (
        "entitlement withdrawal",
        "DELETE",
        "/accounts/{account}/products/bank_data",
        "",
        204,
        404,
    ),
    (
        "key allowlist change",
        "PATCH",
        "/keys/{key}",
        r#"{"allowed_ips": ["192.0.2.0/24"]}"#,
        200,
        403,
    ),
    (
        "leak report with grace 0",
        "POST",
        "/keys/{key}/leaked",
        r#"{"grace_seconds": 0}"#,
        200,
        401,
    ),
    (
        "roll with grace 0",
        "POST",
        "/keys/{key}/roll",
        r#"{"grace_seconds": 0}"#,
        200,
        401,
    ),
];

/// Makes a key, warms it at the stale gateway's edge, applies `revocation`, then polls the
/// edge every 50 ms. Returns a line describing the outcome, and whether it was within the
/// bound (the time is from the admin answer to the refusing answer, latency included).
fn revoke_and_measure(gw: &Gateway, revocation: Revocation) -> (String, bool) {
    let (what, method, path, body, admin_status, status) = revocation;
    let a = account(gw, &format!("revocation: {what}"), json!({}));
    let k = key(gw, &a.id, "revoked", json!({"allowed_ips": ["10.0.0.0/8"]}));
    let path = path.replace("{key}", &k.id).replace("{account}", &a.id);
    let body: Option<Value> = (!body.is_empty()).then(|| serde_json::from_str(body).unwrap());
    // Warm: the isolate caches the record it read from KV.
    for _ in 0..2 {
        let r = edge(gw, &k.secret, &a.pk);
        assert_eq!(r.status, 200, "{}: warming: {r}", what);
    }
    let r = op(gw, method, &path, body.as_ref());
    assert_eq!(r.status, admin_status, "{}: the admin write: {r}", what);
    let answered = Instant::now();
    let mut served_after = 0;
    let mut first = None;
    let refused_in = loop {
        let r = edge(gw, &k.secret, &a.pk);
        first.get_or_insert(r.status);
        if r.status == status {
            break Some(answered.elapsed());
        }
        assert_eq!(
            r.status, 200,
            "{}: neither served nor refused with {}: {r}",
            what, status
        );
        served_after += 1;
        if answered.elapsed() > ISOLATE_CACHE_TTL + Duration::from_secs(5) {
            break None;
        }
        thread::sleep(POLL_EVERY);
    };
    let within = refused_in.is_some_and(|t| t <= REVOCATION_BOUND);
    let line = format!(
        "{}: refused ({}) {} after the admin answer; first request after it: {}; \
         served {served_after} times after the answer",
        what,
        status,
        refused_in.map_or("never within 15 s".to_string(), |t| format!(
            "{} ms",
            t.as_millis()
        )),
        first.unwrap_or_default(),
    );
    (line, within)
}

fn revocation_reaches_a_stale_isolate_within_1s(c: &Ctx) {
    let gw = &c.stale;
    // Only test keys and the admin API: every kind in parallel.
    let outcomes: Vec<(String, bool)> = thread::scope(|s| {
        let runs: Vec<_> = REVOCATIONS
            .into_iter()
            .map(|revocation| s.spawn(move || revoke_and_measure(gw, revocation)))
            .collect();
        runs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect()
    });
    for (line, _) in &outcomes {
        eprintln!("measured: stale isolate, {line}");
    }
    let late: Vec<&String> = outcomes
        .iter()
        .filter(|(_, within)| !within)
        .map(|(line, _)| line)
        .collect();
    assert!(
        late.is_empty(),
        "revocations not enforced within {REVOCATION_BOUND:?} of the admin answer by an \
         isolate that did not apply the write (KEYGATE_TEST_SKIP_LOCAL_APPLY=true):\n{}",
        late.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
