//! Trial 2: concurrency.

use super::*;

/// Checks a burst against a limit of `n` per `period`: exactly `n` granted (remaining
/// `n-1 … 0`, each once), the others 429. Returns the granted answers.
#[track_caller]
pub(crate) fn assert_exactly_n_granted(
    answers: &[Resp],
    n: u64,
    period: u64,
    what: &str,
) -> Vec<Resp> {
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

pub(crate) fn concurrent_test_requests_get_exactly_the_limit(c: &Ctx) {
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

pub(crate) fn concurrent_live_requests_reach_the_origin_exactly_the_limit(c: &Ctx) {
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
