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

#[test]
fn a_lease_never_reserves_more_than_is_free_and_unused_units_come_back() {
    let mut ledger = Ledger::default();
    let a = ledger.lease("quota:account", 50, Period::Day, 10, NOW);
    assert_eq!(a.units, 1, "a quota of 50 is decided request by request");
    let b = ledger.lease("quota:account", 50, Period::Day, 10, NOW);
    ledger.settle("quota:account", a.id, 1);
    ledger.settle("quota:account", b.id, 0);
    assert_eq!(ledger.used("quota:account", Period::Day.start(NOW)), 1);
    // A settlement twice, or of a lease that does not exist, changes nothing.
    ledger.settle("quota:account", a.id, 1);
    ledger.settle("quota:account", 999, 1);
    assert_eq!(ledger.used("quota:account", Period::Day.start(NOW)), 1);
}

#[test]
fn an_unsettled_lease_counts_as_used_when_it_expires_and_a_new_period_starts_afresh() {
    let mut ledger = Ledger::default();
    let lease = ledger.lease("k", 10_000, Period::Day, 1_000, NOW);
    assert_eq!(lease.units, MAX_LEASE);
    ledger.expire(NOW + LEASE_SECONDS);
    assert_eq!(ledger.used("k", Period::Day.start(NOW)), MAX_LEASE);
    // Settled after it expired: too late, still counted in full.
    ledger.settle("k", lease.id, 1);
    assert_eq!(ledger.used("k", Period::Day.start(NOW)), MAX_LEASE);
    let tomorrow = Period::Day.end(NOW);
    let next = ledger.lease("k", 10_000, Period::Day, 1, tomorrow);
    assert_eq!(next.period_start, tomorrow);
    assert_eq!(ledger.used("k", tomorrow), 0);
}

/// Isolates that lease, grant from their leases, settle, or vanish, in an order drawn from a
/// seed; the counter's limit holds whatever the order, and once every lease is settled or
/// expired, every unit is accounted for.
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
        // Per isolate: its open lease (id, units, granted from it).
        let mut isolates: Vec<Option<(u64, u64, u64)>> = vec![None; 4];
        let mut granted = 0u64;
        let mut refused = 0u64;
        let mut now = NOW;
        for _ in 0..600 {
            let i = draws.next(4) as usize;
            match (draws.next(10), isolates[i]) {
                // A request: granted from the lease, or a new lease is drawn.
                (0..=6, Some((id, units, used))) if used < units => {
                    isolates[i] = Some((id, units, used + 1));
                    granted += 1;
                }
                (0..=6, open) => {
                    if let Some((id, _, used)) = open {
                        ledger.settle("q", id, used);
                    }
                    let lease = ledger.lease("q", limit, Period::Day, 20, now);
                    if lease.units == 0 {
                        isolates[i] = None;
                        refused += 1;
                    } else {
                        isolates[i] = Some((lease.id, lease.units, 1));
                        granted += 1;
                    }
                }
                // The isolate settles what it used.
                (7 | 8, Some((id, _, used))) => {
                    ledger.settle("q", id, used);
                    isolates[i] = None;
                }
                // It vanishes with its lease, or time passes.
                (9, Some(_)) if draws.next(4) == 0 => isolates[i] = None,
                _ => now += 1,
            }
            assert!(
                granted <= limit,
                "seed {seed}: {granted} granted of {limit}"
            );
        }
        for isolate in isolates.iter_mut() {
            if let Some((id, _, used)) = isolate.take() {
                ledger.settle("q", id, used);
            }
        }
        ledger.expire(now + LEASE_SECONDS);
        let used = ledger.used("q", Period::Day.start(NOW));
        // Used counts what was granted, and what vanished isolates might have granted.
        assert!(
            used >= granted && used <= limit,
            "seed {seed}: {used} {granted}"
        );
        // A refusal means the counter was full, or held by open leases.
        assert!(refused == 0 || used + MAX_LEASE * 4 >= limit, "seed {seed}");
    }
}
