//! Trial 2: refused requests can be looked up with their true reason, by their account only.

use super::*;

/// A refused request of one of our keys: what it was, the answer, the key, the address, the
/// status, and words its reason must contain (case-insensitive).
pub(crate) struct Refusal<'a> {
    pub(crate) what: &'static str,
    pub(crate) answer: Resp,
    pub(crate) key: &'a Key,
    pub(crate) ip: &'static str,
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) status: u16,
    pub(crate) mentions: &'static [&'static str],
    /// Words the reason must not contain.
    pub(crate) not: &'static [&'static str],
}

/// A refusal to provoke: what, the key, method, path, product key, address, status, and the
/// words its reason must and must not contain (see [`Refusal`]).
pub(crate) type Case<'a> = (
    &'static str,
    &'a Key,
    &'static str,
    &'static str,
    &'a str,
    &'static str,
    u16,
    &'static [&'static str],
    &'static [&'static str],
);

/// The differences between a lookup and the refusal it is about.
pub(crate) fn lookup_problems(found: &Value, refusal: &Refusal<'_>, since: i64) -> Vec<String> {
    let mut problems = Vec::new();
    let fields: BTreeSet<&str> = found
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    let want_fields: BTreeSet<&str> = LOOKUP_FIELDS.into_iter().collect();
    if fields != want_fields {
        problems.push(format!("fields {fields:?}, expected {want_fields:?}"));
    }
    let expect = [
        ("object", json!("request")),
        ("request_id", json!(rid(&refusal.answer))),
        ("key_id", json!(refusal.key.id)),
        ("decision", json!("denied")),
        ("status", json!(refusal.status)),
        ("method", json!(refusal.method)),
        ("path", json!(refusal.path)),
        ("ip", json!(refusal.ip)),
        ("similar_not_stored", json!(0)),
    ];
    for (name, want) in expect {
        if found[name] != want {
            problems.push(format!("{name} is {}, expected {want}", found[name]));
        }
    }
    let reason = found["reason"].as_str().unwrap_or_default().to_lowercase();
    for word in refusal.mentions {
        if !reason.contains(&word.to_lowercase()) {
            problems.push(format!(
                "reason {:?} does not mention {word:?}",
                found["reason"]
            ));
        }
    }
    for word in refusal.not {
        if reason.contains(&word.to_lowercase()) {
            problems.push(format!("reason {:?} mentions {word:?}", found["reason"]));
        }
    }
    let at = found["at"].as_i64().unwrap_or_default();
    if !(since - CLOCK_SLACK as i64..=now() + CLOCK_SLACK as i64).contains(&at) {
        problems.push(format!("at {at} is not within this trial (since {since})"));
    }
    problems
}

pub(crate) fn refusals_can_be_looked_up_with_their_true_reason(c: &Ctx) {
    let gw = &c.gw;
    let since = now();
    let a = test_account(gw, "denials", json!({}));
    let other = test_account(gw, "denials, other", json!({}));
    let suspended = test_account(gw, "denials, suspended", json!({}));
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let other_manager = key(
        gw,
        &other.id,
        "other manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let plain_reader = key(gw, &a.id, "no keys:manage", json!({"scopes": ["*:read"]}));
    let expiring = key(
        gw,
        &a.id,
        "expiring",
        json!({"expires_at": now() + 2, "scopes": ["accounts:read"]}),
    );
    let plain = key(gw, &a.id, "plain", json!({}));
    let disabled = key(gw, &a.id, "disabled", json!({}));
    let rolled = key(gw, &a.id, "rolled", json!({}));
    let leaked = key(gw, &a.id, "leaked", json!({}));
    let fenced = key(gw, &a.id, "fenced", json!({"allowed_ips": ["10.0.0.0/8"]}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let limited = key(
        gw,
        &a.id,
        "limited",
        json!({"rate_limit": {"requests": 1, "period_seconds": 3600}}),
    );
    let in_suspended = key(gw, &suspended.id, "suspended", json!({}));
    let deleted = key(gw, &a.id, "deleted", json!({}));

    // Refused before any key was identified: nothing to look up.
    let r = op(gw, "DELETE", &format!("/keys/{}", deleted.id), None);
    r.expect_status(204);
    let unidentified: Vec<(&str, Resp)> = vec![
        (
            "no credential",
            edge(gw, "GET", "/v1/accounts", "", &a.pk, INSIDE),
        ),
        (
            "a malformed key",
            edge(gw, "GET", "/v1/accounts", "sk_test_short", &a.pk, INSIDE),
        ),
        (
            "a deleted (unknown) key",
            edge(gw, "GET", "/v1/accounts", &deleted.secret, &a.pk, INSIDE),
        ),
    ];
    for (what, r) in &unidentified {
        assert_eq!(r.status, 401, "{what}: {r}");
    }
    // A granted request is not a refusal either.
    let granted = get_accounts(gw, &plain, &a, INSIDE);
    assert_eq!(granted.status, 200, "{granted}");

    // The refusals.
    patch(
        gw,
        &format!("/keys/{}", disabled.id),
        json!({"status": "disabled"}),
    );
    op(
        gw,
        "POST",
        &format!("/keys/{}/roll", rolled.id),
        Some(&json!({"grace_seconds": 0})),
    )
    .expect_status(200);
    op(
        gw,
        "POST",
        &format!("/keys/{}/leaked", leaked.id),
        Some(&json!({"grace_seconds": 0})),
    )
    .expect_status(200);
    patch(
        gw,
        &format!("/accounts/{}", suspended.id),
        json!({"status": "suspended"}),
    );
    let first = get_accounts(gw, &limited, &a, INSIDE);
    assert_eq!(
        first.status, 200,
        "the one request a 1/hour key may make: {first}"
    );

    let ip = "198.51.100.40";
    let outside = "192.0.2.1";
    let send = |k: &Key, method: &str, path: &str, pk: &str, from: &str| {
        edge(gw, method, path, &k.secret, pk, from)
    };
    // (what, key, method, path, product key, address, status, mentions, not): sent in order.
    #[rustfmt::skip]
    let cases: [Case<'_>; 11] = [
        ("a disabled key", &disabled, "GET", "/v1/accounts", &a.pk, ip, 401, &["disabled"], &[]),
        ("a key rolled with no grace", &rolled, "GET", "/v1/accounts", &a.pk, ip, 401, &["rolled"], &[]),
        ("a key reported leaked with no grace", &leaked, "GET", "/v1/accounts", &a.pk, ip, 401, &["leaked"], &[]),
        ("a key of a suspended account", &in_suspended, "GET", "/v1/accounts", &suspended.pk, ip, 401, &["suspended"], &[]),
        ("an address outside the key's allowlist", &fenced, "GET", "/v1/accounts", &a.pk, outside, 403, &["192.0.2.1", "allowlist"], &[]),
        ("another account's product key", &plain, "GET", "/v1/accounts", &other.pk, ip, 404, &["product key"], &[]),
        ("no product key", &plain, "GET", "/v1/transactions", "", ip, 400, &["X-Product-Key"], &[]),
        ("a scope the key lacks", &narrow, "GET", "/v1/transactions", &a.pk, ip, 403, &["transactions:read"], &["HIDE_FORBIDDEN", "hidden"]),
        ("an unknown route", &plain, "GET", "/v1/no_such_route", &a.pk, ip, 404, &["route"], &[]),
        ("a method the route does not have", &plain, "DELETE", "/v1/accounts", &a.pk, ip, 405, &["method"], &[]),
        ("the rate limit", &limited, "GET", "/v1/accounts", &a.pk, ip, 429, &["rate limit"], &[]),
    ];
    let mut refusals: Vec<Refusal<'_>> = cases
        .into_iter()
        .map(
            |(what, key, method, path, pk, ip, status, mentions, not)| Refusal {
                what,
                answer: send(key, method, path, pk, ip),
                key,
                ip,
                method,
                path,
                status,
                mentions,
                not,
            },
        )
        .collect();
    // Expired: wait for the expiry (2 s after its creation), then ask.
    let expires_at = expiring.view["expires_at"].as_i64().expect("expires_at");
    thread::sleep(Duration::from_secs_f64(
        (expires_at as f64 + 1.1 - now_f()).max(0.0),
    ));
    refusals.push(Refusal {
        what: "an expired key",
        answer: send(&expiring, "GET", "/v1/accounts", &a.pk, ip),
        key: &expiring,
        ip,
        method: "GET",
        path: "/v1/accounts",
        status: 401,
        mentions: &["expired"],
        not: &[],
    });
    for f in &refusals {
        assert_eq!(f.answer.status, f.status, "{}: {}", f.what, f.answer);
        let fields: &[&str] = if f.status == 400 {
            &["X-Product-Key"]
        } else {
            &[]
        };
        refused(&f.answer, f.status, fields);
    }

    // Each is readable by the operator within a few seconds.
    let deadline = Instant::now() + REPORT_DEADLINE;
    let mut found: Vec<Option<Value>> = vec![None; refusals.len()];
    poll(Duration::from_millis(300), deadline, || {
        for (f, slot) in refusals.iter().zip(found.iter_mut()) {
            if slot.is_none() {
                let r = lookup(gw, Who::Operator, &rid(&f.answer));
                match r.status {
                    200 => *slot = Some(r.json.clone()),
                    404 => {
                        refused(&r, 404, &[]);
                    }
                    _ => panic!("{}: the operator's lookup: {r}", f.what),
                }
            }
        }
        found.iter().all(Option::is_some).then_some(())
    });
    let mut problems = Vec::new();
    for (f, found) in refusals.iter().zip(&found) {
        let Some(found) = found else {
            problems.push(format!(
                "{} ({}): not readable {REPORT_DEADLINE:?} after the refusal",
                f.what,
                rid(&f.answer)
            ));
            continue;
        };
        for p in lookup_problems(found, f, since) {
            problems.push(format!("{} ({}): {p}", f.what, rid(&f.answer)));
        }
        // The account's manager reads the same; another account's manager, nothing. (The
        // suspended account's own managers are refused with it: only the operator reads its
        // refusals.)
        let suspended_key = f.key.id == in_suspended.id;
        let (own, foreign) = if suspended_key {
            (None, vec![&manager, &other_manager])
        } else {
            (Some(&manager), vec![&other_manager])
        };
        if let Some(own) = own {
            let r = lookup(gw, Who::Key(own), &rid(&f.answer));
            if r.status != 200 || r.json != *found {
                problems.push(format!("{}: the account's manager reads: {r}", f.what));
            }
        }
        for m in foreign {
            let r = lookup(gw, Who::Key(m), &rid(&f.answer));
            if r.status != 404 {
                problems.push(format!("{}: another account's manager reads: {r}", f.what));
            } else {
                refused(&r, 404, &[]);
            }
        }
        // A key of the account without keys:manage may not read it.
        let r = lookup(gw, Who::Key(&plain_reader), &rid(&f.answer));
        if !matches!(r.status, 403 | 404) {
            problems.push(format!("{}: a key without keys:manage reads: {r}", f.what));
        }
    }
    assert!(
        problems.is_empty(),
        "request lookups differ from the refusals:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );

    // Refused before the key was identified, granted, or unknown: 404 to everyone (all of them
    // were answered before the refusals above became readable, so they would have been sent).
    let mut nothing: Vec<(String, String)> = unidentified
        .iter()
        .map(|(what, r)| (what.to_string(), rid(r)))
        .collect();
    nothing.push(("a granted request".into(), rid(&granted)));
    nothing.push(("an unknown id".into(), "req_doesnotexist".into()));
    nothing.push(("an empty-looking id".into(), "req_".into()));
    for (what, id) in &nothing {
        for who in [Who::Operator, Who::Key(&manager)] {
            let r = lookup(gw, who, id);
            assert_eq!(r.status, 404, "{what} ({id}): {r}");
            refused(&r, 404, &[]);
        }
    }
    // GET only.
    let id = rid(&refusals[0].answer);
    for method in ["POST", "PUT", "PATCH", "DELETE"] {
        let r = op(gw, method, &format!("/requests/{id}"), Some(&json!({})));
        refused(&r, 405, &[]);
        assert_eq!(r.header("allow"), Some("GET"), "{r}");
    }
    // Nobody: 401.
    let r = gw.get(&format!("/admin/v1/requests/{id}")).send();
    audit(&r);
    refused(&r, 401, &[]);
}

/// Trial: 300 refusals of one key in about a second store at most the per-key cap per UTC
/// minute; the rest are counted: the key view's `refusals` add up to 300, the latest stored
/// refusal counts the similar ones after it, and a refusal that was counted is 404 with a
/// message that says where it is counted.
pub(crate) fn refusals_past_the_caps_are_counted_not_stored(c: &Ctx) {
    let gw = &c.gw;
    const N: usize = 300;
    let a = test_account(gw, "refusal flood", json!({}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let started = now_f();
    let answers = burst(N, 6, |_| {
        edge(gw, "GET", "/v1/transactions", &narrow.secret, &a.pk, INSIDE)
    });
    let ended = now_f();
    for r in &answers {
        refused(r, 403, &[]);
    }
    // The minutes the refusals can fall in (the gateway's clock is this machine's, in whole
    // seconds), and so the most that may be stored.
    let minutes = ((ended + CLOCK_SLACK) / 60.0).floor() as i64
        - ((started - CLOCK_SLACK) / 60.0).floor() as i64
        + 1;
    let bound = REFUSALS_PER_KEY_PER_MINUTE * minutes;

    // Every refusal reaches the Registry: stored + counted == 300.
    let deadline = Instant::now() + 2 * REPORT_DEADLINE;
    let counts = poll(Duration::from_millis(300), deadline, || {
        let counts = key_view(gw, &narrow.id)["refusals"].clone();
        let total = counts["stored"].as_i64()? + counts["counted"].as_i64()?;
        (total >= N as i64).then_some(counts)
    })
    .unwrap_or_else(|| {
        panic!(
            "the key view's refusals do not add up to {N} within {:?}: {}",
            2 * REPORT_DEADLINE,
            key_view(gw, &narrow.id)
        )
    });
    let stored = counts["stored"].as_i64().expect("stored");
    let counted = counts["counted"].as_i64().expect("counted");
    assert_eq!(stored + counted, N as i64, "{counts}");
    assert!(
        (1..=bound).contains(&stored),
        "{stored} of {N} refusals stored; the bound is {REFUSALS_PER_KEY_PER_MINUTE} per key per \
         minute, {bound} over the {minutes} minute(s) they were sent in"
    );

    // Exactly the stored ones can be looked up; the latest counts the similar ones.
    let mut found = Vec::new();
    let mut missing = None;
    for r in &answers {
        let l = lookup(gw, Who::Operator, &rid(r));
        match l.status {
            200 => found.push(l.json.clone()),
            404 => {
                refused(&l, 404, &[]);
                missing.get_or_insert(l);
            }
            _ => panic!("lookup of {}: {l}", rid(r)),
        }
    }
    assert_eq!(
        found.len() as i64,
        stored,
        "lookups found vs the key view's count"
    );
    let similar: Vec<i64> = found
        .iter()
        .map(|f| {
            f["similar_not_stored"]
                .as_i64()
                .expect("similar_not_stored")
        })
        .collect();
    assert!(
        similar.iter().any(|n| *n > 0),
        "no stored refusal counts the similar ones after it: {similar:?}"
    );
    assert!(
        similar.iter().sum::<i64>() <= counted,
        "similar_not_stored {similar:?} add up to more than the key's counted {counted}"
    );
    let missing = missing.expect("a refusal that was counted, not stored");
    let message = missing.json["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("refusals.counted"),
        "the 404 of a counted refusal should say where it is counted: {missing}"
    );
    println!(
        "    {N} refusals in {:.2} s: {stored} stored, {counted} counted; similar_not_stored \
         {similar:?}",
        ended - started
    );
}
