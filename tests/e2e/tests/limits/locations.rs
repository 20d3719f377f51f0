//! Deployment locations (docs/scaling.md): one local runtime serves two "locations" named by
//! `X-Keygate-Test-Location` (`KEYGATE_TEST_LOCATIONS=true`), each with its own isolate cache,
//! log mirror and rate limiters. A revocation served at one is refused at the other within the
//! bound, through that location's mirror of the log, and its cached copy is never served after;
//! a key's limit is counted per location, as the rate-limit contract says.
//!
//! Where the variable is not set (`gw`), the header names nothing: a client that could pick
//! the location its request is counted in would spread a hot key over locations of its own
//! naming and multiply its limit by their number. The names of `NAMES` are tried at both
//! gateways: at `places` they are locations (so the header is sent and read), at `gw` each is
//! refused once the key's limit is spent, whichever location it names.

use super::*;

const LOCATION_HEADER: &str = "X-Keygate-Test-Location";
/// Location names a client could send, and what `places` makes of each after the key's two
/// requests at the platform's location: `Some(remaining)`, counted in that location's own
/// window; `None`, not a location name, so the platform's window, spent: refused.
const NAMES: &[(&str, Option<u64>)] = &[
    ("a", Some(1)),
    ("b", Some(1)),
    ("zz", Some(1)),
    // zz spelled otherwise: zz's window, its second request.
    ("ZZ", Some(0)),
    ("x-9", Some(1)),
    // The longest name, and one character more.
    ("abcdefghijklmnop", Some(1)),
    ("abcdefghijklmnopq", None),
    ("a@b", None),
    ("a b", None),
    ("", None),
];
/// How long after a request that read KV its location copy is written (`WRITES_AFTER_MS`,
/// with some room).
const COPIES_WRITTEN: Duration = Duration::from_millis(1_500);

fn edge_at(gw: &Gateway, location: &str, secret: &str, pk: &str) -> Resp {
    let r = gw
        .get("/v1/accounts")
        .bearer(secret)
        .product_key(pk)
        .client_ip(INSIDE)
        .header(LOCATION_HEADER, location)
        .send();
    audit(&r);
    r
}

fn admin_at(gw: &Gateway, location: &str, method: &str, path: &str, body: &Value) -> Resp {
    let r = gw
        .admin(method, path)
        .header(LOCATION_HEADER, location)
        .json(body)
        .send();
    audit(&r);
    r
}

pub(crate) fn a_revocation_at_one_location_is_refused_at_another_within_1s(c: &Ctx) {
    let gw = &c.places;
    let a = account(gw, "locations: revocation", json!({}));
    let k = key(gw, &a.id, "travelling", json!({}));
    // Both locations hold the record in their own isolate caches, and, once the flush that
    // the first request armed has run (~1 s), in their location's cache too.
    for location in ["a", "b", "a", "b"] {
        let r = edge_at(gw, location, &k.secret, &a.pk);
        assert_eq!(r.status, 200, "warming at {location}: {r}");
    }
    thread::sleep(COPIES_WRITTEN);
    // b has just read the log: what follows measures how the change reaches it, not a read
    // that was due anyway.
    let r = edge_at(gw, "b", &k.secret, &a.pk);
    assert_eq!(r.status, 200, "b, just before the revocation: {r}");
    let path = format!("/keys/{}", k.id);
    let r = admin_at(gw, "a", "PATCH", &path, &json!({"status": "disabled"}));
    assert_eq!(r.status, 200, "the revocation, served at a: {r}");
    let answered = Instant::now();
    let r = edge_at(gw, "a", &k.secret, &a.pk);
    assert_eq!(r.status, 401, "a applied its own write at once: {r}");
    let mut served_at_b = 0;
    let refused_in = loop {
        let r = edge_at(gw, "b", &k.secret, &a.pk);
        if r.status == 401 {
            break answered.elapsed();
        }
        assert_eq!(r.status, 200, "b: neither served nor refused: {r}");
        served_at_b += 1;
        assert!(
            answered.elapsed() <= ISOLATE_CACHE_TTL + Duration::from_secs(5),
            "b still serves the disabled key {:?} after the admin answer",
            answered.elapsed()
        );
        thread::sleep(POLL_EVERY);
    };
    eprintln!(
        "measured: location b refused {} ms after the admin answer at a (served {served_at_b} \
         times before)",
        refused_in.as_millis()
    );
    assert!(
        refused_in <= REVOCATION_BOUND,
        "b refused the key only {refused_in:?} after the admin answer at a"
    );
    // Once refused, b's copies never come back: not its isolate cache's, and not, once that
    // has expired, the location's copy written before the change.
    let until = Instant::now() + ISOLATE_CACHE_TTL + Duration::from_secs(1);
    while Instant::now() < until {
        for location in ["a", "b"] {
            let r = edge_at(gw, location, &k.secret, &a.pk);
            assert_eq!(
                r.status, 401,
                "{location} served the disabled key again: {r}"
            );
        }
        thread::sleep(Duration::from_millis(250));
    }
}

pub(crate) fn a_keys_limit_is_counted_per_location(c: &Ctx) {
    let gw = &c.places;
    let a = account(gw, "locations: limits", json!({}));
    let k = key(
        gw,
        &a.id,
        "hot",
        json!({"rate_limit": {"requests": 3, "period_seconds": 3600}}),
    );
    for location in ["a", "b"] {
        for n in 1..=3 {
            let r = edge_at(gw, location, &k.secret, &a.pk);
            assert_eq!(r.status, 200, "request {n} at {location}: {r}");
            assert_eq!(
                rate_headers(&r).map(|(limit, remaining, _)| (limit, remaining)),
                Some((3, 3 - n)),
                "request {n} at {location} counts in {location}'s window only: {r}"
            );
        }
        let r = edge_at(gw, location, &k.secret, &a.pk);
        assert_eq!(r.status, 429, "the fourth request at {location}: {r}");
    }
}

pub(crate) fn a_client_cannot_name_its_location_without_the_test_hook(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "locations: named by the client", json!({}));
    let k = key(gw, &a.id, "hot", json!({"rate_limit": limit(2, 60)}));
    // Spent in one window: once without a location named, once naming another.
    let r = edge(gw, &k.secret, &a.pk);
    let (remaining, _) = assert_granted(&r, 2, 60, "request 1, no location named");
    assert_eq!(remaining, 1, "request 1: {r}");
    let r = edge_at(gw, "a", &k.secret, &a.pk);
    let (remaining, _) = assert_granted(&r, 2, 60, "request 2, naming a");
    assert_eq!(remaining, 0, "request 2 counts in request 1's window: {r}");
    for (name, _) in NAMES {
        let r = edge_at(gw, name, &k.secret, &a.pk);
        assert_limited(&r, 2, 60, &format!("naming {name:?} after the limit"));
    }
    let r = edge(gw, &k.secret, &a.pk);
    assert_limited(&r, 2, 60, "no location named, after the limit");
}

/// The mirror image: where the test hook is set, the same names are locations (the trial above
/// would pass vacuously if the header never reached the worker).
pub(crate) fn with_the_test_hook_the_same_names_are_locations(c: &Ctx) {
    let gw = &c.places;
    let a = account(gw, "locations: named by the suite", json!({}));
    let k = key(gw, &a.id, "hot", json!({"rate_limit": limit(2, 60)}));
    for n in 1..=2 {
        let r = edge(gw, &k.secret, &a.pk);
        assert_granted(&r, 2, 60, &format!("request {n}, no location named"));
    }
    let r = edge(gw, &k.secret, &a.pk);
    assert_limited(&r, 2, 60, "no location named, after the limit");
    for (name, at_places) in NAMES {
        let r = edge_at(gw, name, &k.secret, &a.pk);
        let what = format!("naming {name:?}");
        match at_places {
            Some(want) => {
                let (remaining, _) = assert_granted(&r, 2, 60, &what);
                assert_eq!(remaining, *want, "{what}: its own window: {r}");
            }
            None => {
                assert_limited(&r, 2, 60, &what);
            }
        }
    }
}
