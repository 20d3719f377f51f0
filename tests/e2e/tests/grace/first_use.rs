//! Grace from first use: the old key works until the successor is first used, then for the grace; a
//! fixed grace is unchanged.

use super::*;

pub(crate) fn the_old_key_works_until_the_successor_is_used_then_for_the_grace(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "first use");
    assert_served(gw, &t, &old.secret, "the key before the roll");

    let (rolled, cap) = roll_after_first_use(gw, &old, 3);
    let successor = &rolled.successor;

    // More than the 3 s grace without any use of the successor: the grace has not started.
    let what = "the old key while the successor is unused (its grace waits for the first use)";
    let every = Duration::from_millis(700);
    served_meanwhile(gw, &t, &old.secret, rolled.answered + 4.2, every, what);
    assert_served(
        gw,
        &t,
        &old.secret,
        "the old key 4 s after a roll with a 3 s first-use grace, successor unused",
    );
    let still = view(gw, &old.id);
    assert_eq!(
        (&still["grace"], &still["revoke_at"]),
        (&grace(3, true, cap), &json!(cap)),
        "4 s after the roll, successor unused: the grace still waits: {still}"
    );
    let unused = view(gw, &successor.id);
    assert!(
        absent(&unused, "first_used_at"),
        "4 s after the roll the successor was never used, yet: {unused}"
    );

    // The successor's first use starts the grace; the old key keeps working meanwhile.
    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    assert_served(
        gw,
        &t,
        &old.secret,
        "the old key right after the successor's first use",
    );
    let (old_view, took) = wait_for_first_use(
        gw,
        &old,
        used,
        || {
            assert_served(
                gw,
                &t,
                &old.secret,
                "the old key while its grace (3 s after the successor's first use) runs",
            )
        },
        "grace 3",
    );
    eprintln!("measured: the successor's first use showed in the old key's view after {took:.2} s");
    let new_view = view(gw, &successor.id);
    let first = successor_first_used_at(&new_view, used, used_answered);
    assert_eq!(
        old_view["grace"],
        grace(3, false, cap),
        "after the successor's first use the grace no longer waits (cap unchanged): {old_view}"
    );
    assert_eq!(
        old_view["revoke_at"],
        json!(first + 3),
        "revoke_at = the successor's first_used_at ({first}) + 3: {old_view}"
    );
    assert_eq!(old_view["rolled_to"], json!(successor.id), "{old_view}");

    // Served until revoke_at, refused from then on.
    let (served, late) = served_until(gw, &t, &old.secret, first + 3, "the old key, grace 3");
    eprintln!(
        "measured: the old key was served {served} more times and refused {late:.2} s after \
         its revoke_at"
    );
    assert_served(
        gw,
        &t,
        &successor.secret,
        "the successor after the old key's grace",
    );
    let after = view(gw, &old.id);
    assert_eq!(
        after["revoke_at"],
        json!(first + 3),
        "revoke_at does not move: {after}"
    );
    let again = view(gw, &successor.id);
    assert_eq!(
        again["first_used_at"],
        json!(first),
        "first_used_at does not move: {again}"
    );
}

pub(crate) fn a_successor_used_many_times_starts_the_grace_once(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "many uses");
    // A long grace: the old key must work throughout.
    let (rolled, cap) = roll_after_first_use(gw, &old, 30);
    let successor = &rolled.successor;

    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    // A second use in a later second, while the edge may still hold the successor's record
    // that asks for its first use to be reported: it may be reported again, and must not count.
    thread::sleep(Duration::from_millis(1_200));
    let (second, _) = use_successor(gw, &t, successor, "second use, 1.2 s later");
    let (old_view, _) = wait_for_first_use(
        gw,
        &old,
        used,
        || assert_served(gw, &t, &old.secret, "the old key, grace 30"),
        "grace 30",
    );
    let first = successor_first_used_at(&view(gw, &successor.id), used, used_answered);
    assert!(
        (first as f64) < second.floor(),
        "the first and second uses are in different seconds ({first} / {second:.2})"
    );
    assert_eq!(old_view["revoke_at"], json!(first + 30), "{old_view}");
    assert_eq!(old_view["grace"], grace(30, false, cap), "{old_view}");

    // More uses, and requests more than a second apart so that whatever the edge still
    // buffered is sent; then nothing may have moved.
    for i in 0..3 {
        thread::sleep(Duration::from_millis(1_100));
        use_successor(gw, &t, successor, &format!("use {} after the first", i + 2));
        assert_served(gw, &t, &old.secret, "the old key, 30 s grace running");
    }
    thread::sleep(Duration::from_millis(1_000));
    assert_served(gw, &t, &old.secret, "the old key, 30 s grace running");
    let new_view = view(gw, &successor.id);
    assert_eq!(
        new_view["first_used_at"],
        json!(first),
        "later uses must not move the successor's first_used_at: {new_view}"
    );
    let old_view = view(gw, &old.id);
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first + 30), &grace(30, false, cap)),
        "later uses of the successor must not move the old key's grace: {old_view}"
    );
}

pub(crate) fn a_zero_grace_ends_at_the_successors_first_use(c: &Ctx) {
    let gw = &c.gw;
    let (t, old) = account_with_key(gw, "zero");
    let (rolled, cap) = roll_after_first_use(gw, &old, 0);
    let successor = &rolled.successor;
    // Unlike a fixed grace of 0, the old key still works while the successor is unused.
    let what = "the old key after a roll with a 0 s first-use grace, successor unused";
    let every = Duration::from_millis(300);
    served_meanwhile(gw, &t, &old.secret, rolled.answered + 2.0, every, what);

    let (used, used_answered) = use_successor(gw, &t, successor, "first use");
    // The old key's own requests carry the report along; it may be refused at any time now.
    let mut refused_at = None;
    let (old_view, reported_after) = wait_for_first_use(
        gw,
        &old,
        used,
        || {
            if refused_at.is_none() {
                let r = edge(gw, &t, &old.secret);
                match r.status {
                    200 => {}
                    401 => refused_at = Some(now_f()),
                    _ => panic!("the old key, grace 0: neither 200 nor 401: {r}"),
                }
            }
        },
        "grace 0",
    );
    let first = successor_first_used_at(&view(gw, &successor.id), used, used_answered);
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first), &grace(0, false, cap)),
        "grace 0: revoked at the successor's first use: {old_view}"
    );
    if let Some(at) = refused_at {
        assert!(
            at >= first as f64,
            "the old key was refused at {at:.2}, before the successor's first use ({first})"
        );
    }
    // revoke_at is the use itself, already past when the report reaches the Registry: the
    // bound on serving runs from when the view showed it.
    served_until_learned(
        gw,
        &t,
        &old.secret,
        first,
        used + reported_after,
        "the old key, grace 0",
    );
    assert_served(gw, &t, &successor.secret, "the successor");
}

pub(crate) fn a_fixed_grace_is_unchanged(c: &Ctx) {
    let gw = &c.gw;
    let (t, plain) = account_with_key(gw, "fixed");
    let (id, secret) = key(gw, &t, "test", json!({}));
    let named = Key { id, secret };

    let cases = [
        (&plain, json!({"grace_seconds": 2}), true),
        (&named, json!({"grace": "fixed", "grace_seconds": 2}), false),
    ];
    let mut rolls = Vec::new();
    for (old, body, use_it) in &cases {
        let rolled = roll(gw, old, body);
        let what = format!("roll with {body}");
        for (v, whose) in [(&rolled.old_view, "answer"), (&view(gw, &old.id), "GET")] {
            assert!(
                absent(v, "grace"),
                "{what}: a fixed grace has no `grace` object ({whose}): {v}"
            );
            assert_eq!(
                v["rolled_to"],
                json!(rolled.successor.id),
                "{what} ({whose}): {v}"
            );
        }
        let revoke_at = int(&rolled.old_view, "revoke_at", &what);
        assert_at(
            revoke_at,
            rolled.sent,
            rolled.answered,
            2,
            &format!("{what}: revoke_at"),
        );
        assert!(
            absent(&rolled.new_view, "grace") && absent(&rolled.new_view, "revoke_at"),
            "{what}: the successor: {}",
            rolled.new_view
        );
        // Right after the roll (more than a second before revoke_at) the old key works.
        assert_served(
            gw,
            &t,
            &old.secret,
            &format!("{what}: the old key right away"),
        );
        if *use_it {
            use_successor(gw, &t, &rolled.successor, &what);
        }
        rolls.push((*old, rolled, revoke_at, what, *use_it));
    }
    for (old, rolled, revoke_at, what, use_it) in &rolls {
        let (_, late) = served_until(gw, &t, &old.secret, *revoke_at, &format!("{what}: old key"));
        eprintln!("measured: {what}: the old key was refused {late:.2} s after its revoke_at");
        let v = view(gw, &old.id);
        assert_eq!(
            v["revoke_at"],
            json!(revoke_at),
            "{what}: revoke_at does not move (successor used: {use_it}): {v}"
        );
        assert!(absent(&v, "grace"), "{what}: {v}");
        assert_served(
            gw,
            &t,
            &rolled.successor.secret,
            &format!("{what}: successor"),
        );
    }
}

/// On a gateway that gets no other edge traffic: the successor's single use must reach the
/// registry by itself (the brief: reported within about a second), not only when some later
/// edge request happens to carry the buffered report along.
pub(crate) fn the_first_use_is_reported_without_further_edge_traffic(c: &Ctx) {
    let gw = &c.quiet;
    let (t, old) = account_with_key(gw, "quiet");
    let (rolled, cap) = roll_after_first_use(gw, &old, 2);
    // Let everything the roll and the setup did settle; then one edge request, and only
    // admin reads afterwards.
    thread::sleep(Duration::from_millis(1_500));
    let (used, used_answered) = use_successor(gw, &t, &rolled.successor, "the only edge request");
    // Admin reads only: nothing else reaches the edge.
    let reported = |patience: Duration| {
        let started = Instant::now();
        loop {
            let v = view(gw, &old.id);
            if v["grace"]["waiting"] == json!(false) || started.elapsed() >= patience {
                return v;
            }
            thread::sleep(POLL_EVERY);
        }
    };
    let old_view = reported(QUIET_PATIENCE);
    if old_view["grace"]["waiting"] != json!(false) {
        // Diagnose: does one more edge request (the old key's) carry the report along?
        let nudged = now_f();
        let r = edge(gw, &t, &old.secret);
        let after = reported(Duration::from_secs(3));
        let diagnosis = if after["grace"]["waiting"] == json!(false) {
            format!(
                "it was reported {:.1} s after one more edge request ({} with the old key) — \
                 the edge sends the buffered first use only along with a later edge request",
                now_f() - nudged,
                r.status
            )
        } else {
            format!(
                "not even after one more edge request ({}): {after}",
                r.status
            )
        };
        panic!(
            "the successor was used once at {used:.2} on a gateway that got no other edge \
             request; {QUIET_PATIENCE:?} later the rolled key's grace still waits for that \
             first use ({old_view}); {diagnosis}"
        );
    }
    let took = now_f() - used;
    eprintln!("measured: quiet gateway: first use reported after {took:.2} s");
    let first = successor_first_used_at(&view(gw, &rolled.successor.id), used, used_answered);
    assert_eq!(
        (&old_view["revoke_at"], &old_view["grace"]),
        (&json!(first + 2), &grace(2, false, cap)),
        "{old_view}"
    );
}
