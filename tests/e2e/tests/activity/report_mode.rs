//! Trial 4: report mode lets through and records one ip.would_deny per address block (/24, /64)
//! and UTC day; enforce refuses.

use super::*;

/// Polls until the account has `n` `ip.would_deny` events; returns them (newest first).
#[track_caller]
pub(crate) fn wait_for_events(gw: &Gateway, account: &str, n: usize, what: &str) -> Vec<Value> {
    let deadline = Instant::now() + REPORT_DEADLINE;
    poll(Duration::from_millis(300), deadline, || {
        let events = would_deny_events(gw, account);
        (events.len() >= n).then_some(events)
    })
    .unwrap_or_else(|| {
        panic!(
            "{what}: expected {n} ip.would_deny events within {REPORT_DEADLINE:?}, have {:#?}",
            would_deny_events(gw, account)
        )
    })
}

/// Panics unless `e` is the `ip.would_deny` event of `k` let through from `ip` by the request
/// answered `r`.
#[track_caller]
pub(crate) fn assert_would_deny(e: &Value, account: &str, k: &Key, ip: &str, r: &Resp, since: i64) {
    let fields: BTreeSet<&str> = e
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(fields, BTreeSet::from(EVENT_FIELDS), "{e}");
    assert_eq!(e["object"], "event", "{e}");
    assert!(
        e["id"].as_str().is_some_and(|id| id.starts_with("evt_")),
        "{e}"
    );
    assert_eq!(e["type"], "ip.would_deny", "{e}");
    assert_eq!(e["account_id"], json!(account), "{e}");
    assert_eq!(e["key_id"], json!(k.id), "{e}");
    assert_eq!(e["actor"], json!({"type": "key", "key_id": k.id}), "{e}");
    assert_eq!(
        e["data"],
        json!({"before": {}, "after": {"ip": ip, "prefix": block(ip)}}),
        "{e}"
    );
    let at = e["created_at"].as_i64().unwrap_or_default();
    assert!(
        (since - CLOCK_SLACK as i64..=now() + CLOCK_SLACK as i64).contains(&at),
        "created_at {at} not within this trial (since {since}): {e}"
    );
    assert_eq!(
        e["request_id"],
        json!(rid(r)),
        "the event's request_id should be the X-Request-Id of the request let through from \
         {ip}: {r}\nevent: {e}"
    );
}

pub(crate) fn report_mode_lets_through_and_records_would_deny_once(c: &Ctx) {
    let gw = &c.gw;
    let since = now();

    // A key's list in report mode.
    let a = test_account(gw, "report mode", json!({}));
    let k = key(
        gw,
        &a.id,
        "reported",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report"}),
    );
    assert_eq!(k.view["ip_mode"], "report", "{}", k.view);
    let inside = get_accounts(gw, &k, &a, INSIDE);
    assert_eq!(inside.status, 200, "inside the list: {inside}");
    let first = get_accounts(gw, &k, &a, "203.0.113.7");
    assert_eq!(first.status, 200, "report mode lets it through: {first}");
    let events = wait_for_events(gw, &a.id, 1, "the first outside address");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_would_deny(&events[0], &a.id, &k, "203.0.113.7", &first, since);

    // The same address again, or another of its /24: no new event; another /24: one more.
    for (i, ip) in ["203.0.113.7", "203.0.113.7", "203.0.113.99"]
        .into_iter()
        .enumerate()
    {
        let r = get_accounts(gw, &k, &a, ip);
        assert_eq!(r.status, 200, "the same /24 again ({i}, {ip}): {r}");
    }
    let second = get_accounts(gw, &k, &a, "198.51.100.9");
    assert_eq!(second.status, 200, "another outside address: {second}");
    for i in 0..2 {
        let r = get_accounts(gw, &k, &a, "198.51.100.9");
        assert_eq!(r.status, 200, "that address again ({i}): {r}");
    }
    let events = wait_for_events(gw, &a.id, 2, "a second outside address");
    // The repeats were made before the second address, so they have been sent too; a moment
    // more for any stray event.
    thread::sleep(Duration::from_millis(1700));
    let events_later = would_deny_events(gw, &a.id);
    assert_eq!(
        events_later.len(),
        2,
        "one event per /24 within the day: {events_later:#?}"
    );
    assert_eq!(events, events_later);
    assert_would_deny(&events[0], &a.id, &k, "198.51.100.9", &second, since);
    assert_would_deny(&events[1], &a.id, &k, "203.0.113.7", &first, since);

    // Enforce: the same address is refused on the next request; inside still passes.
    let key_path = format!("/keys/{}", k.id);
    let what = "inside the enforced list";
    enforce(gw, &key_path, &k, &a, "203.0.113.7", what);

    // The account's list in report mode, for a key without a list of its own.
    let b = test_account(
        gw,
        "report mode, account",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report"}),
    );
    assert_eq!(
        view(gw, &format!("/accounts/{}", b.id))["ip_mode"],
        "report"
    );
    let kb = key(gw, &b.id, "under the account's list", json!({}));
    assert_eq!(
        kb.view["ip_mode"], "enforce",
        "a key's default: {}",
        kb.view
    );
    let first_b = get_accounts(gw, &kb, &b, "203.0.113.8");
    assert_eq!(
        first_b.status, 200,
        "the account's list in report mode: {first_b}"
    );
    let r = get_accounts(gw, &kb, &b, "203.0.113.8");
    assert_eq!(r.status, 200, "{r}");
    let events = wait_for_events(gw, &b.id, 1, "the account's list");
    assert_would_deny(&events[0], &b.id, &kb, "203.0.113.8", &first_b, since);
    let b_path = format!("/accounts/{}", b.id);
    let what = "inside the account's enforced list";
    enforce(gw, &b_path, &kb, &b, "203.0.113.8", what);

    // Both lists must pass: an enforced account list still refuses what a reported key list
    // would only record.
    let d = test_account(
        gw,
        "enforced account",
        json!({"allowed_ips": ["10.0.0.0/8"]}),
    );
    let kd = key(
        gw,
        &d.id,
        "reported within",
        json!({"allowed_ips": ["10.1.0.0/16"], "ip_mode": "report"}),
    );
    let r = get_accounts(gw, &kd, &d, "192.0.2.77");
    refused(&r, 403, &[]);
    let let_through = get_accounts(gw, &kd, &d, "10.2.0.1");
    assert_eq!(
        let_through.status, 200,
        "the account allows it: {let_through}"
    );
    let events = wait_for_events(gw, &d.id, 1, "a key list inside an account list");
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_would_deny(&events[0], &d.id, &kd, "10.2.0.1", &let_through, since);

    // A rate-limited key in report mode (its requests are counted by a Durable Object): the
    // event names the request that was let through too. Each is sent right after a request
    // inside the list, so that the isolate has just read its revocation log and decides it on
    // its fast path first.
    let l = test_account(gw, "report mode, limited", json!({}));
    let ke = key(
        gw,
        &l.id,
        "reported and limited",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report",
               "rate_limit": {"requests": 100, "period_seconds": 3600}}),
    );
    let mut let_through = Vec::new();
    for ip in ["203.0.113.21", "198.51.100.22", "192.0.2.23"] {
        let r = get_accounts(gw, &ke, &l, INSIDE);
        assert_eq!(r.status, 200, "{r}");
        let r = get_accounts(gw, &ke, &l, ip);
        assert_eq!(r.status, 200, "{r}");
        let_through.push((ip, r));
    }
    let events = wait_for_events(gw, &l.id, 3, "a rate-limited key");
    assert_eq!(events.len(), 3, "{events:#?}");
    let mismatched: Vec<String> = let_through
        .iter()
        .filter_map(|(ip, r)| {
            let e = events
                .iter()
                .find(|e| e["data"]["after"]["ip"] == json!(ip))
                .unwrap_or_else(|| panic!("no event for {ip}: {events:#?}"));
            (e["request_id"] != json!(rid(r))).then(|| {
                format!(
                    "  {ip}: answered with X-Request-Id {}, the event names {}",
                    rid(r),
                    e["request_id"]
                )
            })
        })
        .collect();
    assert!(
        mismatched.is_empty(),
        "a rate-limited key in report mode: each ip.would_deny event should name the request \
         let through (its X-Request-Id):\n{}",
        mismatched.join("\n")
    );
    for (ip, r) in &let_through {
        let e = events
            .iter()
            .find(|e| e["data"]["after"]["ip"] == json!(ip))
            .expect("found above");
        assert_would_deny(e, &l.id, &ke, ip, r, since);
    }
}

/// Switches the key or account at `path` to `ip_mode: "enforce"`: `k` is then refused from
/// `outside` (403) and still served from [`INSIDE`] (`inside`: what that request is).
#[track_caller]
pub(crate) fn enforce(gw: &Gateway, path: &str, k: &Key, a: &Account, outside: &str, inside: &str) {
    let patched = patch(gw, path, json!({"ip_mode": "enforce"}));
    assert_eq!(patched["ip_mode"], "enforce", "{patched}");
    let r = get_accounts(gw, k, a, outside);
    refused(&r, 403, &[]);
    let r = get_accounts(gw, k, a, INSIDE);
    assert_eq!(r.status, 200, "{inside}: {r}");
}

/// Trial: a report-mode key used from 200 addresses of one IPv6 /64 makes one `ip.would_deny`
/// event (with the block as `prefix`); the key view counts the other 199.
pub(crate) fn addresses_of_one_block_make_one_would_deny_event(c: &Ctx) {
    let gw = &c.gw;
    const N: usize = 200;
    let a = test_account(gw, "report mode, one /64", json!({}));
    let k = key(
        gw,
        &a.id,
        "reported from a /64",
        json!({"allowed_ips": ["10.0.0.0/8"], "ip_mode": "report"}),
    );
    let ips: Vec<String> = (0..N)
        // Written canonically (no zero group, no leading zero), as the event shows it.
        .map(|i| format!("2001:db8:77:1:1:2:3:{:x}", i + 1))
        .collect();
    let answers = burst(N, 4, |i| get_accounts(gw, &k, &a, &ips[i]));
    for (ip, r) in ips.iter().zip(&answers) {
        assert_eq!(r.status, 200, "report mode lets {ip} through: {r}");
    }
    let deadline = Instant::now() + 2 * REPORT_DEADLINE;
    let counts = poll(Duration::from_millis(300), deadline, || {
        let counts = key_view(gw, &k.id)["would_deny"].clone();
        let total = counts["events"].as_i64()? + counts["counted"].as_i64()?;
        (total >= N as i64).then_some(counts)
    })
    .unwrap_or_else(|| {
        panic!(
            "the key view's would_deny does not add up to {N} within {:?}: {}",
            2 * REPORT_DEADLINE,
            key_view(gw, &k.id)
        )
    });
    assert_eq!(counts, json!({"events": 1, "counted": N - 1}), "{counts}");
    let events = would_deny_events(gw, &a.id);
    assert_eq!(events.len(), 1, "one event for one /64: {events:#?}");
    let e = &events[0];
    assert_eq!(e["key_id"], json!(k.id), "{e}");
    assert_eq!(e["data"]["after"]["prefix"], "2001:db8:77:1::/64", "{e}");
    let ip = e["data"]["after"]["ip"].as_str().unwrap_or_default();
    let i = ips
        .iter()
        .position(|x| x == ip)
        .unwrap_or_else(|| panic!("the event's ip is none of the addresses sent: {e}"));
    assert_eq!(e["request_id"], json!(rid(&answers[i])), "{e}");
}
