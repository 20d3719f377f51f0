//! Trial 3: the headers count down; Retry-After is honest; the window slides.

use super::*;

pub(crate) fn headers_count_down_and_retry_after_is_honest(c: &Ctx) {
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
