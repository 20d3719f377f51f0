//! §9 tenant limits: MAX_KEYS_PER_ACCOUNT and MANAGER_WRITES_PER_MINUTE.

use super::*;

pub(crate) fn keys_per_account_are_capped(c: &Ctx) {
    let gw = &c.limits;
    let a = account(gw, "capped");
    let other = account(gw, "not capped");
    let path = format!("/accounts/{}/keys", a.id);
    let make = |i: usize| {
        op(
            gw,
            "POST",
            &path,
            Some(&key_body(&format!("k{i}"), json!({}))),
        )
    };
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let mut made = 1;
    let full = loop {
        let r = make(made);
        if r.status != 201 {
            break r;
        }
        made += 1;
        assert!(made <= MAX_KEYS, "more than {MAX_KEYS} keys were created");
    };
    assert_eq!(made, MAX_KEYS, "the cap came early: {full}");
    let message = refused(&full, 409, &[]);
    assert!(message.contains("MAX_KEYS_PER_ACCOUNT"), "{full}");
    let at_cap = keys(gw, &a.id);

    // A manager's create and a roll need a key too: 409, and nothing changes.
    let r = manage(
        gw,
        &manager.secret,
        "POST",
        &path,
        Some(&key_body("m", json!({}))),
    );
    refused(&r, 409, &[]);
    let last = at_cap.last().unwrap()["id"].as_str().unwrap().to_string();
    let r = op(gw, "POST", &format!("/keys/{last}/roll"), Some(&json!({})));
    refused(&r, 409, &[]);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("MAX_KEYS_PER_ACCOUNT")
    );
    assert_eq!(
        keys(gw, &a.id),
        at_cap,
        "a refused create or roll changed the keys"
    );

    // Another account is unaffected; after a delete there is room for one more.
    key(gw, &other.id, "other", json!({}));
    op(gw, "DELETE", &format!("/keys/{last}"), None).expect_status(204);
    make(MAX_KEYS + 1).expect_status(201);
    refused(&make(MAX_KEYS + 2), 409, &[]);
}

/// Waits, if needed, so that at least `margin` seconds remain in the current minute.
pub(crate) fn with_margin_in_this_minute(margin: i64) {
    let left = 60 - now().rem_euclid(60);
    if left < margin {
        thread::sleep(Duration::from_millis(left as u64 * 1000 + 200));
    }
}

pub(crate) fn manager_writes_are_rate_limited_per_key(c: &Ctx) {
    let gw = &c.limits;
    let a = account(gw, "rate limited");
    let manager = |name| {
        key(
            gw,
            &a.id,
            name,
            json!({"scopes": ["keys:manage", "accounts:read"]}),
        )
    };
    let (m1, m2) = (manager("m1"), manager("m2"));
    let t = key(gw, &a.id, "target", json!({"scopes": ["accounts:read"]}));
    let path = format!("/keys/{}", t.id);
    let rename = |who: Who, name: &str| act(gw, who, "PATCH", &path, Some(&json!({"name": name})));

    with_margin_in_this_minute(15);
    for i in 1..=WRITES_PER_MINUTE {
        let r = rename(Some(&m1), &format!("w{i}"));
        assert_eq!(r.status, 200, "write {i} of {WRITES_PER_MINUTE}: {r}");
        // Reads do not count.
        manage(gw, &m1.secret, "GET", &path, None).expect_status(200);
    }
    let r = rename(Some(&m1), "w4");
    let refused_at = Instant::now();
    let left = 60 - now().rem_euclid(60);
    let message = refused(&r, 429, &[]);
    assert!(message.contains("MANAGER_WRITES_PER_MINUTE"), "{r}");
    let retry: u64 = r
        .header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without an integer Retry-After: {r}"));
    assert!((1..=60).contains(&retry), "Retry-After out of 1..=60: {r}");
    assert!(
        (retry as i64 - left).abs() <= 2,
        "Retry-After {retry} should be the {left} s left in the minute: {r}"
    );
    // Every kind of write counts; nothing was applied.
    let create = key_body("more", json!({"scopes": ["accounts:read"]}));
    let accounts_keys = format!("/accounts/{}/keys", a.id);
    refused(
        &manage(gw, &m1.secret, "POST", &accounts_keys, Some(&create)),
        429,
        &[],
    );
    assert_eq!(view(gw, &t.id)["name"], "w3");
    assert_eq!(
        keys(gw, &a.id).len(),
        3,
        "a rate-limited create issued a key"
    );
    // Reads still pass; another manager key and the operator are not limited by m1's count.
    manage(gw, &m1.secret, "GET", &path, None).expect_status(200);
    manage(gw, &m1.secret, "GET", &accounts_keys, None).expect_status(200);
    rename(Some(&m2), "m2").expect_status(200);
    for i in 0..=WRITES_PER_MINUTE {
        rename(None, &format!("operator {i}")).expect_status(200);
    }

    // Retry-After is honest: after it, a write passes.
    let wait = Duration::from_secs(retry).saturating_sub(refused_at.elapsed());
    eprintln!("measured: Retry-After {retry} s; waiting {wait:?}");
    thread::sleep(wait);
    let r = rename(Some(&m1), "after the window");
    assert_eq!(r.status, 200, "a write after Retry-After: {r}");
}
