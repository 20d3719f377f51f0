//! Trial 1: usage shows on every key view within about a minute.

use super::*;

/// One address's expected entry in `ips_seen`: how many granted requests, and when the last
/// one was sent and answered (this machine's clock).
pub(crate) struct Seen {
    ip: String,
    count: u64,
    sent: f64,
    answered: f64,
}

/// Sends `n` granted requests of `k` from `ip`; returns its expected entry.
pub(crate) fn use_from(gw: &Gateway, k: &Key, a: &Account, ip: &str, n: u64) -> Seen {
    let mut seen = Seen {
        ip: ip.to_string(),
        count: n,
        sent: 0.0,
        answered: 0.0,
    };
    for i in 0..n {
        seen.sent = now_f();
        let r = get_accounts(gw, k, a, ip);
        seen.answered = now_f();
        assert_eq!(r.status, 200, "{} from {ip}, request {i}: {r}", k.id);
    }
    seen
}

/// Whether `at` (whole seconds from the gateway) may be a time between `sent` and `answered`.
pub(crate) fn within(at: &Value, sent: f64, answered: f64) -> bool {
    at.as_f64()
        .is_some_and(|at| at >= sent.floor() - CLOCK_SLACK && at <= answered + CLOCK_SLACK)
}

/// The differences between a key's usage and what its requests should show: `expected` is the
/// addresses most recent first (the first is the last address used), counts exact, at most
/// [`MAX_IPS_SEEN`], each `last_seen_at` when its last request was made.
pub(crate) fn usage_problems(what: &str, view: &Value, expected: &[Seen]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut problem = |p: String| problems.push(format!("{what}: {p}"));
    let last = &expected[0];
    if view["last_used_ip"] != json!(last.ip) {
        problem(format!(
            "last_used_ip {} (expected {:?}, the address of its last granted request)",
            view["last_used_ip"], last.ip
        ));
    }
    if !within(&view["last_used_at"], last.sent, last.answered) {
        problem(format!(
            "last_used_at {} (expected its last granted request's time, {:.0}..{:.0})",
            view["last_used_at"], last.sent, last.answered
        ));
    }
    let Some(listed) = view["ips_seen"].as_array() else {
        problem(format!("ips_seen is not an array: {}", view["ips_seen"]));
        return problems;
    };
    let want: Vec<&Seen> = expected.iter().take(MAX_IPS_SEEN).collect();
    let got_ips: Vec<&str> = listed
        .iter()
        .map(|s| s["ip"].as_str().unwrap_or("?"))
        .collect();
    let want_ips: Vec<&str> = want.iter().map(|s| s.ip.as_str()).collect();
    if got_ips != want_ips {
        problem(format!(
            "ips_seen lists {got_ips:?}; expected the {} most recent, most recent first: \
             {want_ips:?}",
            want.len()
        ));
    }
    let mut previous: Option<i64> = None;
    let mut late = Vec::new();
    for entry in listed {
        let fields: BTreeSet<&str> = entry
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        if fields != BTreeSet::from(["ip", "count", "last_seen_at"]) {
            problem(format!("an ips_seen entry's fields: {entry}"));
        }
        let at = entry["last_seen_at"].as_i64();
        if let (Some(at), Some(before)) = (at, previous)
            && at > before
        {
            problem(format!("ips_seen is not most recent first: {listed:?}"));
        }
        previous = at.or(previous);
        let Some(seen) = expected.iter().find(|s| entry["ip"] == json!(s.ip)) else {
            problem(format!("an address it was not used from: {entry}"));
            continue;
        };
        if entry["count"] != json!(seen.count) {
            problem(format!(
                "{} granted requests from {}, ips_seen says {}",
                seen.count, seen.ip, entry["count"]
            ));
        }
        if !within(&entry["last_seen_at"], seen.sent, seen.answered) {
            late.push(format!(
                "{} {} (expected {:.0}..{:.0})",
                seen.ip, entry["last_seen_at"], seen.sent, seen.answered
            ));
        }
    }
    if !late.is_empty() {
        problem(format!(
            "last_seen_at is not the time of the address's last request (the key's last use \
             was {:.0}): {}",
            last.answered,
            late.join(", ")
        ));
    }
    problems
}

pub(crate) fn usage_shows_on_every_key_view_within_a_minute(c: &Ctx) {
    let gw = &c.gw;
    let a = test_account(gw, "usage", json!({}));
    let other = test_account(gw, "usage, other", json!({}));
    let plain = key(gw, &a.id, "three addresses", json!({}));
    let limited = key(
        gw,
        &a.id,
        "rate limited",
        json!({"rate_limit": {"requests": 2, "period_seconds": 3600}}),
    );
    let many = key(gw, &a.id, "many addresses", json!({}));
    let unused = key(gw, &a.id, "never used", json!({}));
    for k in [&plain, &limited, &many, &unused] {
        assert_unused(&k.view, &format!("the create answer of {}", k.id));
    }

    let started = Instant::now();
    let (plain_seen, limited_seen, many_seen) = thread::scope(|s| {
        // 25 addresses, one request each, more than a second apart: the 20 most recent are
        // listed, each with its own time.
        let spread = s.spawn(|| {
            let mut seen = Vec::new();
            for i in 1..=25 {
                let at = Instant::now();
                seen.push(use_from(gw, &many, &a, &format!("198.18.0.{i}"), 1));
                thread::sleep(Duration::from_millis(1100).saturating_sub(at.elapsed()));
            }
            seen.reverse();
            seen
        });
        // A rate-limited key (its requests are counted by a Durable Object): two granted
        // from one address, then one refused (429) from another, which is no use.
        let mut limited_seen = vec![use_from(gw, &limited, &a, "198.51.100.6", 2)];
        let r = get_accounts(gw, &limited, &a, "198.51.100.7");
        assert_eq!(r.status, 429, "the third request of a 2/hour key: {r}");
        // Three addresses, more than a second apart, the busiest first (so that neither the
        // counts nor the first-seen order can pass for most recent first); refused requests
        // from a fourth address in between count for nothing.
        let mut plain_seen = Vec::new();
        let mut group = Instant::now();
        for (i, (ip, n)) in [
            ("198.51.100.1", 3),
            ("198.51.100.2", 2),
            ("198.51.100.3", 1),
        ]
        .into_iter()
        .enumerate()
        {
            if i > 0 {
                thread::sleep(Duration::from_millis(1100).saturating_sub(group.elapsed()));
            }
            group = Instant::now();
            plain_seen.push(use_from(gw, &plain, &a, ip, n));
            for (path, pk) in [("/v1/accounts", other.pk.as_str()), ("/v1/nowhere", "")] {
                let r = edge(gw, "GET", path, &plain.secret, pk, "198.51.100.5");
                assert_eq!(r.status, 404, "refused: {r}");
            }
        }
        limited_seen.reverse();
        plain_seen.reverse();
        let many_seen = spread.join().unwrap_or_else(|p| resume_unwind(p));
        (plain_seen, limited_seen, many_seen)
    });
    let made = started.elapsed();

    // Nothing is shown before a write-back; once the last address used shows, all is sent.
    let key_path = |k: &Key| format!("/keys/{}", k.id);
    let shown = poll(
        Duration::from_secs(2),
        Instant::now() + USAGE_DEADLINE,
        || {
            let views: Vec<Value> = [&plain, &limited, &many]
                .iter()
                .map(|k| view(gw, &key_path(k)))
                .collect();
            let arrived = views[0]["last_used_ip"] == json!("198.51.100.3")
                && views[2]["last_used_ip"] == json!("198.18.0.25")
                && !views[1]["last_used_at"].is_null();
            arrived.then_some(views)
        },
    );
    let views = shown.unwrap_or_else(|| {
        panic!(
            "usage not shown {USAGE_DEADLINE:?} after the last granted request (requests made \
             in {made:?}):\n  {}\n  {}\n  {}",
            usage(&view(gw, &key_path(&plain))),
            usage(&view(gw, &key_path(&limited))),
            usage(&view(gw, &key_path(&many))),
        )
    });
    eprintln!(
        "measured: usage shown {:.1} s after the last granted request",
        (started.elapsed() - made).as_secs_f64()
    );

    let mut problems = Vec::new();
    problems.extend(usage_problems(
        "a key used from 3 addresses",
        &views[0],
        &plain_seen,
    ));
    problems.extend(usage_problems(
        "a rate-limited key (2 granted, 1 refused)",
        &views[1],
        &limited_seen,
    ));
    problems.extend(usage_problems(
        "a key used from 25 addresses",
        &views[2],
        &many_seen,
    ));
    let unused_view = view(gw, &key_path(&unused));
    if usage(&unused_view) != json!({"last_used_at": null, "last_used_ip": null, "ips_seen": []}) {
        problems.push(format!("a key never used shows usage: {unused_view}"));
    }

    // Every view shows the same usage: the list, a PATCH answer, a manager's view.
    let listed = key_list(gw, &a.id);
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    for (k, shown) in [&plain, &limited, &many, &unused]
        .into_iter()
        .zip(views.iter().chain([&unused_view]))
    {
        let entry = listed
            .iter()
            .find(|e| e["id"] == json!(k.id))
            .unwrap_or_else(|| panic!("{} not listed", k.id));
        if usage(entry) != usage(shown) {
            problems.push(format!(
                "the list shows {} for {}, GET shows {}",
                usage(entry),
                k.id,
                usage(shown)
            ));
        }
        let by_manager = get_as(gw, Who::Key(&manager), &key_path(k));
        assert_eq!(by_manager.status, 200, "the manager's view: {by_manager}");
        if usage(&by_manager.json) != usage(shown) {
            problems.push(format!(
                "the manager sees {} for {}, the operator {}",
                usage(&by_manager.json),
                k.id,
                usage(shown)
            ));
        }
        let patched = patch(gw, &key_path(k), json!({"name": "renamed"}));
        if usage(&patched) != usage(shown) {
            problems.push(format!(
                "a PATCH answer shows {} for {}, GET shows {}",
                usage(&patched),
                k.id,
                usage(shown)
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "usage differs from the requests made:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
