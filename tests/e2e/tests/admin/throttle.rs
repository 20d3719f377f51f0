//! The authentication throttle (failed admin authentications per address) and
//! `Cache-Control: no-store` on every admin answer.

use super::*;

/// Wrong tokens sent at once from the addresses of one IPv6 /64, rotating through it.
const GUESSES: usize = 120;
const GUESSERS: usize = 12;

/// The finding: 300 wrong admin tokens in 0.9 s, all answered 401 at once. Now failures from
/// one address (an IPv6 /64) are slowed past 10 a minute and refused with 429 past 30, while
/// the operator's token, and a manager key, from that same address still work, and another
/// address is unaffected. (The binding's window is fixed: GUESSES spans at most two windows of
/// 30, so a 429 comes whatever the boundary.)
pub(crate) fn guessing_admin_tokens_is_throttled_but_the_right_token_works(c: &Ctx) {
    let account = account_id(c, "throttle", "test");
    let (_, manager) = create_key(
        c,
        &account,
        &json!({"name": "manager", "environment": "test", "scopes": ["keys:manage"]}),
    );
    let net = "2001:db8:7a:1";
    let started = std::time::Instant::now();
    let answers: Vec<(Resp, Duration)> = thread::scope(|s| {
        let threads: Vec<_> = (0..GUESSERS)
            .map(|t| {
                s.spawn(move || {
                    (t..GUESSES)
                        .step_by(GUESSERS)
                        .map(|i| {
                            let sent = std::time::Instant::now();
                            let r =
                                c.gw.get("/admin/v1/accounts")
                                    .bearer(&format!("guess-{i:04}-of-the-admin-token"))
                                    .client_ip(&format!("{net}::{:x}", i + 1))
                                    .send();
                            (r, sent.elapsed())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let count = |status| answers.iter().filter(|(r, _)| r.status == status).count();
    let slowest = answers.iter().map(|(_, d)| *d).max().unwrap_or_default();
    eprintln!(
        "measured: {GUESSES} wrong tokens from one /64 in {:?}: {} × 401, {} × 429, slowest {slowest:?}",
        started.elapsed(),
        count(401),
        count(429)
    );
    for (r, _) in &answers {
        audit(r);
        assert!(matches!(r.status, 401 | 429), "{r}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{r}");
        if r.status == 429 {
            let retry: u64 = r
                .header("retry-after")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            assert!(
                (1..=60).contains(&retry),
                "a 429 without Retry-After 1..=60: {r}"
            );
        }
    }
    assert!(count(429) > 0, "{GUESSES} wrong tokens were never refused");
    assert!(
        slowest >= Duration::from_millis(900),
        "no failure was slowed down"
    );

    // The right token, and a valid manager key, from the same /64: served at once.
    let from_there = format!("{net}::1");
    for (credential, what) in [
        (ADMIN_TOKEN, "the operator"),
        (manager.as_str(), "a manager"),
    ] {
        let sent = std::time::Instant::now();
        let r =
            c.gw.get(&format!("/admin/v1/accounts/{account}/keys"))
                .bearer(credential)
                .client_ip(&from_there)
                .send();
        audit(&r);
        assert_eq!(r.status, 200, "{what} from a throttled address: {r}");
        assert!(
            sent.elapsed() < Duration::from_millis(900),
            "{what} was slowed down"
        );
    }
    // Another /64, and an IPv4 address: a wrong token is a plain 401.
    for other in ["2001:db8:7a:2::1", "198.51.100.77"] {
        let r =
            c.gw.get("/admin/v1/accounts")
                .bearer("another-wrong-token")
                .client_ip(other)
                .send();
        audit(&r);
        assert_eq!(r.status, 401, "{other} is not the throttled address: {r}");
    }
}

/// Every admin answer, whatever its status, carries `Cache-Control: no-store`; the ones that
/// carry a secret above all. (A 429 is checked in the throttle trial.)
pub(crate) fn every_admin_answer_is_no_store(c: &Ctx) {
    let account = account_id(c, "no-store", "test");
    let r = admin(
        c,
        "POST",
        &format!("/accounts/{account}/keys"),
        Some(&json!({"name": "k", "environment": "test"})),
    );
    let key = id_of(&r.json["key"]);
    let mut answers = vec![("create key (secret)", 201, r)];
    let roll = admin(
        c,
        "POST",
        &format!("/keys/{key}/roll"),
        Some(&json!({"grace_seconds": 0})),
    );
    answers.push(("roll (secret)", 200, roll));
    answers.push((
        "list",
        200,
        admin(c, "GET", &format!("/accounts/{account}/keys"), None),
    ));
    answers.push((
        "product keys",
        201,
        admin(
            c,
            "PUT",
            &format!("/accounts/{account}/products/bank_data"),
            None,
        ),
    ));
    let unauthenticated =
        c.gw.get("/admin/v1/accounts")
            .client_ip("198.51.100.78")
            .send();
    answers.push(("no credential", 401, unauthenticated));
    answers.push((
        "unknown key",
        404,
        admin(c, "GET", "/keys/key_doesnotexist0000000", None),
    ));
    answers.push(("unknown path", 404, admin(c, "GET", "/nothing-here", None)));
    answers.push(("wrong method", 405, admin(c, "PUT", "/accounts", None)));
    answers.push((
        "invalid body",
        400,
        admin(c, "POST", "/accounts", Some(&json!({"name": 5}))),
    ));
    for (what, status, r) in &answers {
        audit(r);
        assert_eq!(r.status, *status, "{what}: {r}");
        assert_eq!(r.header("cache-control"), Some("no-store"), "{what}: {r}");
    }
    // The edge is not the admin API: a sandbox answer is not marked.
    let s = sandboxed(c, "no-store-edge");
    let r =
        c.gw.get("/v1/accounts")
            .bearer(&s.secret)
            .product_key(&s.product_key)
            .send();
    assert_eq!(r.status, 200, "{r}");
    assert_ne!(r.header("cache-control"), Some("no-store"), "{r}");
}
