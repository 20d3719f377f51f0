use super::*;

fn params(keys: u64) -> Params {
    Params {
        keys,
        accounts: 100,
        locations: 20,
        ..Params::default()
    }
}

#[test]
fn the_calibrated_curve_gives_the_busiest_key_and_the_active_share_asked_for() {
    // Rows: keys, requests/s, busiest key's requests/s, share active in 10 s.
    for (keys, rps, busiest, active) in [
        (1_000_000, 50_000.0, 200.0, 0.05),
        (20_000, 2_000.0, 40.0, 0.10),
        (100_000, 5_000.0, 50.0, 0.02),
    ] {
        let curve = calibrate(keys, rps, busiest, active);
        let top = curve.top_share(keys) * rps;
        let got = curve.active_keys(keys, rps, 10.0) / keys as f64;
        assert!((top / busiest - 1.0).abs() < 0.01, "{keys}: busiest {top}");
        assert!((got / active - 1.0).abs() < 0.01, "{keys}: active {got}");
    }
}

#[test]
fn bucketed_sums_agree_with_exact_ones() {
    let curve = Curve {
        exponent: 1.1,
        offset: 30.0,
    };
    let keys = 300_000u64;
    let exact: f64 = (1..=keys)
        .map(|k| (k as f64 + curve.offset).powf(-curve.exponent))
        .sum();
    assert!((curve.normaliser(keys) / exact - 1.0).abs() < 1e-3);
}

#[test]
fn the_alias_table_draws_with_the_given_weights() {
    let weights = [5.0, 1.0, 0.0, 3.0, 1.0];
    let alias = Alias::new(vec![10, 11, 12, 13, 14], &weights);
    let mut rng = Rng::new(3);
    let mut counts = [0u32; 5];
    let n = 200_000;
    for _ in 0..n {
        counts[(alias.draw(&mut rng) - 10) as usize] += 1;
    }
    for (count, weight) in counts.iter().zip(weights) {
        let expected = weight / 10.0;
        assert!(
            (f64::from(*count) / f64::from(n) - expected).abs() < 0.005,
            "{counts:?}"
        );
    }
}

#[test]
fn keys_have_distinct_locations_an_account_and_the_busiest_is_limited() {
    let keys = Keys::new(&params(5_000));
    assert!(keys.limited(0));
    let limited = (0..5_000).filter(|k| keys.limited(*k)).count();
    assert!((400..600).contains(&limited), "{limited}");
    for key in 0..5_000 {
        let mut l = keys.locations(key).to_vec();
        assert_eq!(l.len(), 3);
        l.sort_unstable();
        l.dedup();
        assert_eq!(l.len(), 3);
        assert!(l.iter().all(|l| *l < 20));
        assert!(keys.account(key) < 100);
    }
    assert_eq!(keys.account_sizes.iter().sum::<u32>(), 5_000);
    // Stateless: the same key gets the same facts from another instance.
    let again = Keys::new(&params(5_000));
    assert_eq!(keys.locations(42), again.locations(42));
    assert_eq!(keys.share, again.share);
}

#[test]
fn the_two_streams_split_the_traffic_by_location_without_overlap() {
    let keys = Keys::new(&params(5_000));
    let (full, limited) = keys.streams(5);
    // The first 5 of 20 locations: about a quarter of the traffic.
    assert!((full.share - 0.25).abs() < 0.05, "{}", full.share);
    let limited_total: f64 = (0..5_000u32)
        .filter(|k| keys.limited(*k))
        .map(|k| keys.share[k as usize])
        .sum();
    assert!(limited.share < limited_total);
    let mut rng = Rng::new(1);
    for _ in 0..1_000 {
        let key = limited.draw(&mut rng).unwrap();
        assert!(keys.limited(key));
        assert!(keys.locations(key).iter().any(|l| *l >= 5));
        let key = full.draw(&mut rng).unwrap();
        assert!(keys.locations(key).iter().any(|l| *l < 5));
    }
}
