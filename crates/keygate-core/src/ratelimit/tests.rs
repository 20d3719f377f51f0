use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const LIMIT: RateLimit = RateLimit {
    requests: 3,
    period_seconds: 10,
};

#[test]
fn n_pass_then_429_until_the_oldest_grant_leaves_the_window() {
    let mut w = SlidingWindow::default();
    let t = 1_000_000;
    let d = [
        w.take(LIMIT, t),
        w.take(LIMIT, t + 100),
        w.take(LIMIT, t + 2_500),
    ];
    assert!(d.iter().all(|d| d.allowed));
    assert_eq!(d.map(|d| d.remaining), [2, 1, 0]);
    // The first grant leaves the window at t + 10 s.
    assert_eq!(d.map(|d| d.reset_seconds), [10, 10, 8]);
    let refused = w.take(LIMIT, t + 4_000);
    assert!(!refused.allowed);
    assert_eq!(refused.remaining, 0);
    assert_eq!(refused.reset_seconds, 6); // t + 10 s is when the first grant leaves
    assert_eq!(refused.refusal().retry_after, Some(6));
    assert!(w.take(LIMIT, t + 10_000).allowed);
    assert!(!w.take(LIMIT, t + 10_050).allowed);
    assert!(w.take(LIMIT, t + 10_100).allowed);
}

/// The contract: in no window of `period` are more than `n` requests granted, whatever
/// the arrival pattern (a boundary burst is where a fixed window fails).
#[test]
fn no_period_ever_sees_more_than_n_grants() {
    let mut w = SlidingWindow::default();
    let mut granted = Vec::new();
    let mut t = 5_000_000i64;
    for i in 0..2_000i64 {
        t += (i * 7919) % 1_300; // irregular gaps, bursts included
        if w.take(LIMIT, t).allowed {
            granted.push(t);
        }
    }
    for (i, &start) in granted.iter().enumerate() {
        let inside = granted[i..]
            .iter()
            .take_while(|&&at| at < start + 10_000)
            .count();
        assert!(inside <= 3, "{inside} grants in the 10 s from {start}");
    }
    assert!(granted.len() > 100);
}

#[test]
fn a_lowered_limit_applies_at_once() {
    let mut w = SlidingWindow::default();
    for i in 0..5 {
        assert!(
            w.take(
                RateLimit {
                    requests: 5,
                    period_seconds: 60
                },
                i
            )
            .allowed
        );
    }
    let lower = RateLimit {
        requests: 2,
        period_seconds: 60,
    };
    assert!(!w.take(lower, 10).allowed);
}

#[test]
fn limits_parse_strictly() {
    assert_eq!(RateLimit::from_json("rate_limit", &json!(null)), Ok(None));
    assert_eq!(
        RateLimit::from_json("rate_limit", &json!({"requests": 5, "period_seconds": 60})),
        Ok(Some(RateLimit {
            requests: 5,
            period_seconds: 60
        }))
    );
    for (bad, fields) in [
        (json!(5), vec!["rate_limit"]),
        (
            json!({}),
            vec!["rate_limit.requests", "rate_limit.period_seconds"],
        ),
        (
            json!({"requests": 0, "period_seconds": 60}),
            vec!["rate_limit.requests"],
        ),
        (
            json!({"requests": 5, "period_seconds": 3601}),
            vec!["rate_limit.period_seconds"],
        ),
        (
            json!({"requests": 5.5, "period_seconds": 1}),
            vec!["rate_limit.requests"],
        ),
        (
            json!({"requests": 5, "period_seconds": 1, "burst": 2}),
            vec!["rate_limit.burst"],
        ),
    ] {
        let errors = RateLimit::from_json("rate_limit", &bad).unwrap_err();
        let got: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(got, fields, "{bad}");
    }
}

const ACCOUNT: RateLimit = RateLimit {
    requests: 3,
    period_seconds: 60,
};

/// The finding: a manager, its three children and a roll successor, each limited to
/// 3/60 s like their account, got 18 grants. One account window: 3.
#[test]
fn an_accounts_limit_is_one_bucket_for_all_its_keys() {
    let mut windows = AccountWindows::default();
    let keys = ["key_m", "key_c1", "key_c2", "key_c3", "key_r"];
    let t = 1_000_000;
    let mut granted = 0;
    for round in 0..4 {
        for (i, key) in keys.iter().enumerate() {
            let counts = [Count::key(key, ACCOUNT), Count::account(ACCOUNT)];
            let d = windows.take(&counts, t + round * 100 + i as i64).unwrap();
            if d.allowed {
                granted += 1;
            } else {
                assert_eq!(d.kind, WindowKind::Account, "{d:?}");
                assert_eq!((d.limit, d.remaining), (3, 0));
                assert_eq!(d.refusal().retry_after, Some(60));
                assert!(d.refusal().message.contains("account"), "{d:?}");
            }
        }
    }
    assert_eq!(granted, 3);
    // Keys without a limit of their own are counted in the account's window alone.
    let d = windows.take(&[Count::account(ACCOUNT)], t + 1_000).unwrap();
    assert!(!d.allowed);
    // 60 s after the first grant, one more fits.
    assert!(
        windows
            .take(&[Count::account(ACCOUNT)], t + 60_000)
            .unwrap()
            .allowed
    );
}

#[test]
fn a_keys_own_limit_is_tighter_and_its_refusal_spends_nothing() {
    let mut windows = AccountWindows::default();
    let own = RateLimit {
        requests: 2,
        period_seconds: 10,
    };
    let account = RateLimit {
        requests: 5,
        period_seconds: 60,
    };
    let t = 5_000_000;
    let tight = [Count::key("key_a", own), Count::account(account)];
    let first = windows.take(&tight, t).unwrap();
    // The binding window is the one with fewer left: the key's (1 left, against 4).
    assert_eq!(
        (first.kind, first.limit, first.remaining),
        (WindowKind::Key, 2, 1)
    );
    assert!(windows.take(&tight, t + 1).unwrap().allowed);
    let refused = windows.take(&tight, t + 2).unwrap();
    assert!(!refused.allowed);
    assert_eq!((refused.kind, refused.reset_seconds), (WindowKind::Key, 10));
    assert!(refused.refusal().message.contains("This API key"));
    // The refused request did not spend the account's budget: another key gets 3 more.
    assert_eq!(windows.grants("account").len(), 2);
    let other = [Count::account(account)];
    for remaining in [2, 1, 0] {
        let d = windows.take(&other, t + 3).unwrap();
        assert!(d.allowed);
        assert_eq!((d.kind, d.remaining), (WindowKind::Account, remaining));
    }
    // Now both refuse: Retry-After is when the later one frees up (the account's, 60 s).
    let both = windows.take(&tight, t + 4).unwrap();
    assert!(!both.allowed);
    assert_eq!((both.kind, both.reset_seconds), (WindowKind::Account, 60));
    // After the key's window frees up, the account's still refuses.
    let later = windows.take(&tight, t + 10_000).unwrap();
    assert_eq!((later.allowed, later.kind), (false, WindowKind::Account));
    assert_eq!(windows.take(&[], t), None);
}

#[test]
fn admin_budgets_are_windows_of_their_own_and_name_their_variable() {
    let mut windows = AccountWindows::default();
    let t = 9_000_000;
    let writes = [Count::admin(WindowKind::AdminWrites, 2)];
    let reads = [Count::admin(WindowKind::AdminReads, 1)];
    assert!(windows.take(&writes, t).unwrap().allowed);
    assert!(windows.take(&writes, t + 20_000).unwrap().allowed);
    let refused = windows.take(&writes, t + 30_000).unwrap();
    assert!(!refused.allowed);
    // The first write leaves the 60 s window at t + 60 s.
    assert_eq!(refused.refusal().retry_after, Some(30));
    assert!(
        refused
            .refusal()
            .message
            .contains("MANAGER_WRITES_PER_MINUTE")
    );
    // Reads have their own budget, untouched by the writes.
    assert!(windows.take(&reads, t + 30_000).unwrap().allowed);
    let refused = windows.take(&reads, t + 30_001).unwrap();
    assert!(
        refused
            .refusal()
            .message
            .contains("MANAGER_READS_PER_MINUTE")
    );
    assert!(windows.take(&writes, t + 60_000).unwrap().allowed);
    assert_eq!(Count::admin(WindowKind::AdminReads, 0).limit.requests, 1);
}

#[test]
fn windows_reload_from_stored_grants_and_idle_ones_are_dropped() {
    let t = 20_000_000;
    let mut windows = AccountWindows::from_grants([
        ("account".to_string(), t - 2_000),
        ("account".to_string(), t - 1_000),
        ("key:key_old".to_string(), t - 1_000),
    ]);
    let counts = [Count::account(ACCOUNT)];
    assert!(windows.take(&counts, t).unwrap().allowed);
    assert!(!windows.take(&counts, t).unwrap().allowed);
    assert_eq!(windows.len(), 2);
    // An hour on, the idle windows go at the next sweep.
    let later = t + i64::from(MAX_PERIOD_SECONDS) * 1000;
    for i in 0..DROP_IDLE_EVERY {
        windows.take(
            &[Count::key("key_new", LIMIT)],
            later + i64::from(i) * 10_000,
        );
    }
    assert_eq!(windows.len(), 1, "only key_new's window is left");
}

/// The contract, across keys: in no period of the account's limit are more than `n` requests
/// of its keys granted, whatever keys (with or without limits of their own) ask when; and a
/// refused request is recorded in no window.
#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn no_account_period_sees_more_than_n_grants(
            n in 1u32..6,
            period in 1u32..20,
            own in proptest::collection::vec(proptest::option::of((1u32..4, 1u32..10)), 1..6),
            arrivals in proptest::collection::vec((0usize..6, 0i64..1_500), 1..300),
        ) {
            let account = RateLimit { requests: n, period_seconds: period };
            let mut windows = AccountWindows::default();
            let mut granted = Vec::new();
            let mut t = 1_000_000i64;
            for (who, gap) in arrivals {
                t += gap;
                let who = who % own.len();
                let key_id = format!("key_{who}");
                let mut counts = Vec::new();
                if let Some((requests, period_seconds)) = own[who] {
                    counts.push(Count::key(&key_id, RateLimit { requests, period_seconds }));
                }
                counts.push(Count::account(account));
                let before: Vec<usize> =
                    counts.iter().map(|c| windows.grants(&c.window).len()).collect();
                let d = windows.take(&counts, t).unwrap();
                if d.allowed {
                    granted.push(t);
                } else {
                    // Nothing was spent: no window grew.
                    for (c, len) in counts.iter().zip(before) {
                        prop_assert!(windows.grants(&c.window).len() <= len);
                    }
                    prop_assert!(d.reset_seconds >= 1);
                }
            }
            let period_ms = i64::from(period) * 1000;
            for (i, &start) in granted.iter().enumerate() {
                let inside = granted[i..].iter().take_while(|&&at| at < start + period_ms).count();
                prop_assert!(inside <= n as usize, "{} grants in {} s from {}", inside, period, start);
            }
        }
    }
}
