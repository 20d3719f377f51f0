use super::*;
use serde_json::json;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// 2026-12-07 12:00:00 UTC.
const NOW: i64 = 1_796_644_800;

#[test]
fn periods_are_utc_days_and_calendar_months() {
    let day = Period::Day;
    assert_eq!(day.start(NOW), NOW - 12 * 3_600);
    assert_eq!(day.end(NOW), NOW + 12 * 3_600);
    // December 2026 starts on the 1st and ends where January 2027 starts.
    let month = Period::Month;
    assert_eq!(month.start(NOW), days_from_civil(2026, 12, 1) * 86_400);
    assert_eq!(month.end(NOW), days_from_civil(2027, 1, 1) * 86_400);
    // February of a leap year, and the last second of a period belongs to it.
    let feb = days_from_civil(2028, 2, 29) * 86_400 + 86_399;
    assert_eq!(month.start(feb), days_from_civil(2028, 2, 1) * 86_400);
    assert_eq!(month.end(feb), days_from_civil(2028, 3, 1) * 86_400);
    assert_eq!(day.end(feb), feb + 1);
}

#[test]
fn a_quota_is_read_from_the_admin_api_or_refused_field_by_field() {
    assert_eq!(Quota::from_json("quota", &Value::Null), Ok(None));
    assert_eq!(
        Quota::from_json("quota", &json!({"requests": 50, "period": "day"})),
        Ok(Some(Quota {
            requests: 50,
            period: Period::Day,
            product: None
        }))
    );
    let q = Quota::from_json(
        "quota",
        &json!({"requests": 10_000, "period": "month", "product": "payments"}),
    );
    assert_eq!(q.unwrap().unwrap().product.as_deref(), Some("payments"));
    for (body, fields) in [
        (
            json!({"requests": 0, "period": "day"}),
            vec!["quota.requests"],
        ),
        (
            json!({"requests": 5, "period": "week"}),
            vec!["quota.period"],
        ),
        (
            json!({"requests": 5, "period": "day", "burst": 2}),
            vec!["quota.burst"],
        ),
        (
            json!({"requests": MAX_VOLUME + 1}),
            vec!["quota.requests", "quota.period"],
        ),
        (
            json!({"requests": 5, "period": "day", "product": ""}),
            vec!["quota.product"],
        ),
        (json!(5), vec!["quota"]),
    ] {
        let errors = Quota::from_json("quota", &body).unwrap_err();
        let mut named: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        named.sort_unstable();
        let mut want = fields.clone();
        want.sort_unstable();
        assert_eq!(named, want, "{body}");
    }
}

#[test]
fn a_manager_gives_only_a_quota_its_own_covers() {
    let own = Quota {
        requests: 100,
        period: Period::Day,
        product: None,
    };
    let child = |requests, period, product: Option<&str>| Quota {
        requests,
        period,
        product: product.map(str::to_string),
    };
    assert!(own.covers(&child(100, Period::Day, None)));
    assert!(own.covers(&child(10, Period::Day, Some("payments"))));
    assert!(!own.covers(&child(101, Period::Day, None)));
    assert!(!own.covers(&child(10, Period::Month, None)));
    let narrow = child(100, Period::Day, Some("payments"));
    assert!(!narrow.covers(&child(10, Period::Day, None)));
    assert!(!narrow.covers(&child(10, Period::Day, Some("insurance"))));
}

#[test]
fn leases_shrink_to_one_request_near_the_limit() {
    assert_eq!(lease_size(0), 0);
    assert_eq!(lease_size(1), 1);
    assert_eq!(lease_size(EXACT_BELOW - 1), 1);
    assert_eq!(lease_size(EXACT_BELOW), EXACT_BELOW / 16);
    assert_eq!(lease_size(1_000_000), MAX_LEASE);
}

fn lane(key: &str) -> Lane {
    Lane {
        key_id: key.to_string(),
        product: None,
        route: None,
        day: Period::Day.start(NOW),
    }
}

fn quota_of(requests: u64) -> Quota {
    Quota {
        requests,
        period: Period::Day,
        product: None,
    }
}

fn used(ledger: &Ledger, counter: &Counter) -> u64 {
    ledger
        .standings()
        .into_iter()
        .find(|s| s.name == counter.name())
        .map_or(0, |s| s.used)
}

fn granted(reply: &LeaseReply) -> Option<(u64, u64)> {
    match reply {
        LeaseReply::Granted { id, requests, .. } => Some((*id, *requests)),
        _ => None,
    }
}

#[test]
fn a_lease_never_reserves_more_than_is_free_and_unused_units_come_back() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let counters = counters(None, "key_a", Some(&quota_of(50)), None, None, 1, NOW);
    let a = granted(&ledger.lease(&lane("key_a"), &counters, NOW, &mut fx)).unwrap();
    assert_eq!(a.1, 1, "a quota of 50 is decided request by request");
    let b = granted(&ledger.lease(&lane("key_a"), &counters, NOW, &mut fx)).unwrap();
    ledger.settle(a.0, 1, &mut fx);
    ledger.settle(b.0, 0, &mut fx);
    assert_eq!(used(&ledger, &counters[0]), 1);
    // A settlement twice, or of a lease that does not exist, changes nothing.
    ledger.settle(a.0, 1, &mut fx);
    ledger.settle(999, 1, &mut fx);
    assert_eq!(used(&ledger, &counters[0]), 1);
    assert_eq!(fx.usage[&lane("key_a")].granted, 1);
}

#[test]
fn an_unsettled_lease_lapses_as_used_and_a_new_period_starts_afresh() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let big = counters(None, "key_a", Some(&quota_of(10_000)), None, None, 1, NOW);
    let (id, requests) = granted(&ledger.lease(&lane("key_a"), &big, NOW, &mut fx)).unwrap();
    assert_eq!(requests, MAX_LEASE);
    ledger.expire(NOW + LEASE_SECONDS, &mut fx);
    assert_eq!(used(&ledger, &big[0]), MAX_LEASE);
    assert_eq!(fx.usage[&lane("key_a")].lapsed, MAX_LEASE);
    // Settled after it lapsed: too late, still counted in full.
    ledger.settle(id, 1, &mut fx);
    assert_eq!(used(&ledger, &big[0]), MAX_LEASE);
    let tomorrow = Period::Day.end(NOW);
    let next = counters(
        None,
        "key_a",
        Some(&quota_of(10_000)),
        None,
        None,
        1,
        tomorrow,
    );
    let mut next_lane = lane("key_a");
    next_lane.day = tomorrow;
    granted(&ledger.lease(&next_lane, &next, tomorrow, &mut fx)).unwrap();
    assert_eq!(used(&ledger, &next[0]), 0);
}

#[test]
fn the_tightest_counter_decides_and_a_refusal_consumes_nothing() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let account = quota_of(1_000);
    let key = quota_of(3);
    let both = counters(Some(&account), "key_a", Some(&key), None, None, 1, NOW);
    for _ in 0..3 {
        let (id, requests) = granted(&ledger.lease(&lane("key_a"), &both, NOW, &mut fx)).unwrap();
        ledger.settle(id, requests, &mut fx);
    }
    let LeaseReply::Full { full } = ledger.lease(&lane("key_a"), &both, NOW, &mut fx) else {
        panic!("the key's quota of 3 is full");
    };
    assert_eq!(full.key_id.as_deref(), Some("key_a"));
    // The account's counter counted the three grants, not the refusal.
    assert_eq!(used(&ledger, &both[0]), 3);
    assert_eq!(fx.usage[&lane("key_a")].refused, 1);
    // Another key of the account still has the account's room.
    let other = counters(Some(&account), "key_b", None, None, None, 1, NOW);
    assert!(granted(&ledger.lease(&lane("key_b"), &other, NOW, &mut fx)).is_some());
}

#[test]
fn credits_of_20_at_a_cost_of_5_give_exactly_4_calls() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let credits = Credits {
        remaining: 20,
        refill: None,
        set_at: NOW - 100,
        balance_of: None,
        serial: 0,
    };
    let costly = counters(None, "key_a", None, Some(&credits), None, 5, NOW);
    let mut calls = 0;
    while let Some((id, requests)) = granted(&ledger.lease(&lane("key_a"), &costly, NOW, &mut fx)) {
        calls += requests;
        ledger.settle(id, requests, &mut fx);
        assert!(calls <= 4);
    }
    assert_eq!(calls, 4);
    assert_eq!(used(&ledger, &costly[0]), 20);
    assert_eq!(
        costly[0].period_end, None,
        "credits without refill never reset"
    );
}

#[test]
fn thresholds_fire_once_per_period_and_credits_announce_their_refill() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let credits = Credits {
        remaining: 10,
        refill: Some(Refill {
            amount: 10,
            period: Period::Day,
        }),
        set_at: NOW - 100,
        balance_of: None,
        serial: 0,
    };
    let today = counters(None, "key_a", None, Some(&credits), None, 1, NOW);
    while let Some((id, requests)) = granted(&ledger.lease(&lane("key_a"), &today, NOW, &mut fx)) {
        ledger.settle(id, requests, &mut fx);
    }
    let kinds: Vec<CrossingKind> = fx.crossings.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [CrossingKind::Warning, CrossingKind::Exhausted]);
    assert_eq!(fx.crossings[0].counter.used, 8);
    let tomorrow = Period::Day.end(NOW);
    let next = counters(None, "key_a", None, Some(&credits), None, 1, tomorrow);
    assert_eq!(next[0].limit, 10, "refilled to the amount");
    let mut fx = Effects::default();
    let mut next_lane = lane("key_a");
    next_lane.day = tomorrow;
    granted(&ledger.lease(&next_lane, &next, tomorrow, &mut fx)).unwrap();
    granted(&ledger.lease(&next_lane, &next, tomorrow, &mut fx)).unwrap();
    let kinds: Vec<CrossingKind> = fx.crossings.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [CrossingKind::Refilled], "once, not per lease");
}

#[test]
fn a_lease_ends_with_its_day_and_the_open_leases_are_bounded() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let late = Period::Day.end(NOW) - 3;
    let c = counters(
        None,
        "key_a",
        Some(&quota_of(1_000_000)),
        None,
        None,
        1,
        late,
    );
    let LeaseReply::Granted { expires_at, .. } = ledger.lease(&lane("key_a"), &c, late, &mut fx)
    else {
        panic!("granted");
    };
    assert_eq!(expires_at, Period::Day.end(NOW));
    for _ in 1..MAX_OPEN_LEASES {
        ledger.lease(&lane("key_a"), &c, late, &mut fx);
    }
    assert_eq!(
        ledger.lease(&lane("key_a"), &c, late, &mut fx),
        LeaseReply::Busy
    );
}

/// Isolates that lease, grant from their leases, settle, or vanish, in an order drawn from a
/// seed; the limit holds whatever the order, and once every lease is settled or lapsed, the
/// usage rows (granted + lapsed) are exactly the counter's use.
#[test]
fn isolates_together_never_grant_more_than_the_limit_whatever_the_interleaving() {
    struct Draws(u64);
    impl Draws {
        fn next(&mut self, below: u64) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % below
        }
    }
    for seed in 1..=200u64 {
        let mut draws = Draws(seed);
        let limit = 1 + draws.next(300);
        let mut ledger = Ledger::default();
        let mut fx = Effects::default();
        let q = counters(None, "key_a", Some(&quota_of(limit)), None, None, 1, NOW);
        // Per isolate: its open lease (id, requests, granted from it).
        let mut isolates: Vec<Option<(u64, u64, u64)>> = vec![None; 4];
        let mut granted_total = 0u64;
        let mut refused = 0u64;
        let mut now = NOW;
        for _ in 0..600 {
            let i = draws.next(4) as usize;
            match (draws.next(10), isolates[i]) {
                (0..=6, Some((id, requests, used))) if used < requests => {
                    isolates[i] = Some((id, requests, used + 1));
                    granted_total += 1;
                }
                (0..=6, open) => {
                    if let Some((id, _, used)) = open {
                        ledger.settle(id, used, &mut fx);
                    }
                    match granted(&ledger.lease(&lane("key_a"), &q, now, &mut fx)) {
                        None => {
                            isolates[i] = None;
                            refused += 1;
                        }
                        Some((id, requests)) => {
                            isolates[i] = Some((id, requests, 1));
                            granted_total += 1;
                        }
                    }
                }
                (7 | 8, Some((id, _, used))) => {
                    ledger.settle(id, used, &mut fx);
                    isolates[i] = None;
                }
                (9, Some(_)) if draws.next(4) == 0 => isolates[i] = None,
                _ => now += 1,
            }
            assert!(
                granted_total <= limit,
                "seed {seed}: {granted_total} granted of {limit}"
            );
        }
        for isolate in isolates.iter_mut() {
            if let Some((id, _, used)) = isolate.take() {
                ledger.settle(id, used, &mut fx);
            }
        }
        ledger.expire(now + LEASE_SECONDS, &mut fx);
        let used = used(&ledger, &q[0]);
        let tally = fx.usage.get(&lane("key_a")).copied().unwrap_or_default();
        assert_eq!(
            tally.granted + tally.lapsed,
            used,
            "seed {seed}: the rows are the counter"
        );
        assert_eq!(tally.refused, refused, "seed {seed}");
        assert!(
            used >= granted_total && used <= limit,
            "seed {seed}: {used} {granted_total}"
        );
        assert!(refused == 0 || used + MAX_LEASE * 4 >= limit, "seed {seed}");
    }
}

#[test]
fn an_isolate_grants_from_its_lease_until_it_is_spent_then_owes_its_settlement() {
    let mut leases = Leases::default();
    let now_ms = NOW * 1000;
    let standing = Standing {
        name: "quota:key_a:*:day".into(),
        kind: CounterKind::Quota,
        key_id: Some("key_a".into()),
        product: None,
        limit: 100,
        used: 10,
        reserved: 3,
        free: 87,
        cost: 1,
        period_start: Period::Day.start(NOW),
        period_end: Some(Period::Day.end(NOW)),
    };
    let first = leases
        .add(
            "acct_a",
            "lane",
            7,
            3,
            NOW + LEASE_SECONDS,
            vec![standing],
            now_ms,
        )
        .unwrap();
    assert_eq!((first.limit, first.remaining), (100, 89));
    assert_eq!(leases.arm(now_ms), Some(USABLE_FOR_MS as u64));
    assert_eq!(leases.arm(now_ms), None, "armed once");
    assert!(leases.take("acct_a", "other lane", now_ms).is_none());
    assert_eq!(leases.take("acct_a", "lane", now_ms).unwrap().remaining, 88);
    assert!(leases.settlements(Some("acct_a"), now_ms, false).is_empty());
    assert!(leases.take("acct_a", "lane", now_ms).is_some());
    assert!(leases.take("acct_a", "lane", now_ms).is_none(), "spent");
    assert_eq!(leases.next_due(now_ms), Some(SETTLE_AFTER_MS));
    let owed = leases.settlements(None, now_ms, false);
    assert_eq!(owed, [settled("acct_a", Settlement { id: 7, granted: 3 })]);
    assert_eq!(leases.next_due(now_ms), None);
    // A lease is not granted from once it is near its lapse.
    leases.add("acct_a", "lane", 8, 5, NOW + 5, Vec::new(), now_ms);
    assert!(leases.take("acct_a", "lane", now_ms + 1_000).is_none());
    assert_eq!(
        leases.settlements(None, now_ms + 1_000, false),
        [settled("acct_a", Settlement { id: 8, granted: 1 })]
    );
}

fn settled(account: &str, settlement: Settlement) -> (String, Owed) {
    let owed = Owed {
        settle: vec![settlement],
        refused: Vec::new(),
    };
    (account.to_string(), owed)
}

#[test]
fn a_full_lane_is_refused_without_a_call_for_a_second_and_every_refusal_is_reported() {
    let mut ledger = Ledger::default();
    let mut fx = Effects::default();
    let mut leases = Leases::default();
    let now_ms = NOW * 1000;
    let c = counters(None, "key_a", Some(&quota_of(1)), None, None, 1, NOW);
    let (id, _) = granted(&ledger.lease(&lane("key_a"), &c, NOW, &mut fx)).unwrap();
    ledger.settle(id, 1, &mut fx);
    let LeaseReply::Full { full } = ledger.lease(&lane("key_a"), &c, NOW, &mut fx) else {
        panic!("full");
    };
    assert!(
        leases.refuse("acct_a", "lane", now_ms).is_none(),
        "not known yet"
    );
    leases.full("acct_a", "lane", lane("key_a"), full, now_ms);
    for _ in 0..5 {
        assert!(leases.refuse("acct_a", "lane", now_ms + 500).is_some());
    }
    assert!(leases.refuse("acct_a", "other", now_ms + 500).is_none());
    assert!(leases.refuse("acct_b", "lane", now_ms + 500).is_none());
    assert_eq!(
        leases.arm(now_ms + 500),
        Some(SETTLE_AFTER_MS),
        "the report is owed"
    );
    // After a second the ledger is asked again.
    assert!(
        leases
            .refuse("acct_a", "lane", now_ms + FULL_FOR_MS)
            .is_none()
    );
    let owed = leases.settlements(None, now_ms + FULL_FOR_MS, false);
    let refused = &owed[0].1.refused;
    assert_eq!((refused.len(), refused[0].requests), (1, 5));
    for count in refused {
        fx.refused(&count.lane, count.requests);
    }
    // One refusal counted by the ledger itself, five reported: six, as sent.
    assert_eq!(fx.usage[&lane("key_a")].refused, 6);
    assert!(
        leases
            .settlements(None, now_ms + FULL_FOR_MS, false)
            .is_empty()
    );
    assert_eq!(leases.next_due(now_ms + FULL_FOR_MS), None);
}
