//! Grace from first use: its default and its 7-day cap, and the bodies a roll refuses.

use super::*;

pub(crate) fn the_first_use_grace_defaults_to_a_day_and_takes_up_to_7_days(c: &Ctx) {
    let gw = &c.gw;
    let (t, day) = account_with_key(gw, "defaults");
    let (id, secret) = key(gw, &t, "test", json!({}));
    let week = Key { id, secret };
    // README: grace_seconds defaults to 86400.
    let rolled = roll(gw, &day, &json!({"grace": "after_first_use"}));
    assert_waiting_roll(gw, &day, &rolled, 86_400);
    let (rolled, cap) = roll_after_first_use(gw, &week, GRACE_MAX);
    // First use: first_use + 7 days is past the cap, so the cap stays.
    let (used, _) = use_successor(gw, &t, &rolled.successor, "first use");
    let (v, _) = wait_for_first_use(
        gw,
        &week,
        used,
        || assert_served(gw, &t, &week.secret, "the old key, grace 7 days"),
        "grace 7 days",
    );
    assert_eq!(
        (&v["revoke_at"], &v["grace"]),
        (&json!(cap), &grace(GRACE_MAX, false, cap)),
        "never past 7 days after the roll: revoke_at stays the cap: {v}"
    );
    assert_served(gw, &t, &week.secret, "the old key, grace 7 days");
}

/// A roll body that must be refused, and the fields its 400 must name.
pub(crate) type Bad = (Value, &'static [&'static str]);

/// Every roll body in `bad` is 400 naming its fields, and leaves the key as it was: not rolled,
/// no successor, still served.
pub(crate) fn assert_refused_and_unchanged(gw: &Gateway, bad: &[Bad], what: &str) {
    let (t, k) = account_with_key(gw, what);
    assert_served(gw, &t, &k.secret, "before any roll");
    let before = without_usage(&view(gw, &k.id));
    assert!(absent(&before, "rolled_to"), "a new key: {before}");
    let count = key_count(gw, &t.id);
    assert_eq!(count, 1, "a new account has its one key");
    let mut failures = Vec::new();
    for (body, fields) in bad {
        let r = op(gw, "POST", &format!("/keys/{}/roll", k.id), Some(body));
        let named: BTreeSet<&str> = r.json["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        if r.status == 400 && named == fields.iter().copied().collect() {
            // The rest of README "How a request is checked": status in the body, a message, every
            // entry explained.
            refused(&r, 400, fields);
        } else {
            failures.push(format!(
                "  {body}: expected 400 naming exactly {fields:?}; got {} {}",
                r.status,
                r.text()
            ));
        }
        let after = without_usage(&view(gw, &k.id));
        assert!(
            absent(&after, "rolled_to") && absent(&after, "revoke_at") && absent(&after, "grace"),
            "{body} was refused ({}) yet the key was rolled: {after}",
            r.status
        );
        assert_eq!(after, before, "{body} ({}) changed the key", r.status);
        assert_eq!(
            key_count(gw, &t.id),
            count,
            "{body} ({}) made a successor anyway",
            r.status
        );
    }
    assert_served(gw, &t, &k.secret, "after the refused rolls");
    assert!(
        failures.is_empty(),
        "{what}: roll bodies not refused as expected:\n{}",
        failures.join("\n")
    );
}

pub(crate) fn bad_grace_bodies_are_400_and_change_nothing(c: &Ctx) {
    let bad: Vec<Bad> = vec![
        (json!({"grace": "later", "grace_seconds": 3}), &["grace"]),
        (json!({"grace": "later"}), &["grace"]),
        (json!({"grace": 5, "grace_seconds": 3}), &["grace"]),
        (json!({"grace": true}), &["grace"]),
        (json!({"grace": ["after_first_use"]}), &["grace"]),
        (json!({"grace": "AFTER_FIRST_USE"}), &["grace"]),
        (
            json!({"grace": "after_first_use", "grace_seconds": 3, "graceful": true}),
            &["graceful"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": -1}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": GRACE_MAX + 1}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": "3"}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": 2.5}),
            &["grace_seconds"],
        ),
        (
            json!({"grace": "fixed", "grace_seconds": -5}),
            &["grace_seconds"],
        ),
        (json!({"grace_seconds": -1}), &["grace_seconds"]),
        (json!({"grace_seconds": GRACE_MAX + 1}), &["grace_seconds"]),
    ];
    assert_refused_and_unchanged(&c.gw, &bad, "bad grace bodies");
}

/// docs/admin-api.md: bodies are validated field by field, all errors at once.
pub(crate) fn a_bad_roll_body_names_every_bad_field_at_once(c: &Ctx) {
    let bad: Vec<Bad> = vec![
        (
            json!({"grace": "later", "grace_seconds": -1}),
            &["grace", "grace_seconds"],
        ),
        (
            json!({"grace": 5, "grace_seconds": GRACE_MAX + 1, "graceful": true}),
            &["grace", "grace_seconds", "graceful"],
        ),
        (
            json!({"grace_seconds": -1, "graceful": true}),
            &["grace_seconds", "graceful"],
        ),
        (
            json!({"grace": "after_first_use", "grace_seconds": "soon", "graceful": 1}),
            &["grace_seconds", "graceful"],
        ),
    ];
    assert_refused_and_unchanged(&c.gw, &bad, "several bad fields");
}
