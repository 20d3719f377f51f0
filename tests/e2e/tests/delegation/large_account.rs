//! Delegation (docs/admin-api.md): an account-wide change to a large account does not stall other tenants.

use super::*;

pub(crate) fn large_account_suspension_does_not_stall_other_tenants(c: &Ctx) {
    let gw = &c.big;
    let large = account(gw, "large");
    let small = account(gw, "small");

    // 1,000 keys, created by 8 threads.
    let started = Instant::now();
    let threads = 8;
    let mut made: Vec<(usize, Key)> = thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|t| {
                let id = &large.id;
                s.spawn(move || {
                    (t..LARGE)
                        .step_by(threads)
                        .map(|i| {
                            let scopes = json!({"scopes": ["accounts:read"]});
                            (i, key(gw, id, &format!("bulk {i}"), scopes))
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect()
    });
    made.sort_by_key(|(i, _)| *i);
    let created = Instant::now();
    let creation = created - started;
    eprintln!(
        "measured: created {LARGE} keys in one account with {threads} threads in {:.1} s \
         ({:.1} ms per key)",
        creation.as_secs_f64(),
        creation.as_secs_f64() * 1000.0 / LARGE as f64
    );
    assert_eq!(keys(gw, &large.id).len(), LARGE);
    let b = key(
        gw,
        &small.id,
        "other tenant",
        json!({"scopes": ["accounts:read"]}),
    );
    assert_works(gw, &b.secret, &small.pk, "the other tenant's key");

    // Two samples of the large account: `cold` keys are not read at the edge after their
    // creation, so by the suspension the isolate no longer trusts the records it cached when
    // they were created (CACHE_TTL_MS, docs/storage.md) and reads them again; `warm` keys are
    // read just before the suspension.
    let cold = [0, LARGE / 4, LARGE / 2, 3 * LARGE / 4, LARGE - 1];
    let warm = [
        1,
        LARGE / 4 + 1,
        LARGE / 2 + 1,
        3 * LARGE / 4 + 1,
        LARGE - 2,
    ];
    thread::sleep((ISOLATE_CACHE_TTL + Duration::from_secs(1)).saturating_sub(created.elapsed()));
    for i in warm {
        assert_works(
            gw,
            &made[i].1.secret,
            &large.pk,
            "a key of the large account",
        );
    }
    let statuses = |sample: &[usize]| -> Vec<u16> {
        sample
            .iter()
            .map(|&i| edge(gw, &made[i].1.secret, &large.pk).status)
            .collect()
    };

    // Suspend the large account; ~50 ms later, disable the other tenant's key.
    let (suspend, suspended_in, suspend_answered, disable, disabled_in, b_first, b_refused_in) =
        thread::scope(|s| {
            let suspending = s.spawn(|| {
                let t = Instant::now();
                let r = op(
                    gw,
                    "PATCH",
                    &format!("/accounts/{}", large.id),
                    Some(&json!({"status": "suspended"})),
                );
                (r, t.elapsed(), Instant::now())
            });
            thread::sleep(Duration::from_millis(50));
            let t = Instant::now();
            let r = op(
                gw,
                "PATCH",
                &format!("/keys/{}", b.id),
                Some(&json!({"status": "disabled"})),
            );
            let disabled_in = t.elapsed();
            // The first edge request after the answer must be refused; poll only to measure.
            let first = edge(gw, &b.secret, &small.pk).status;
            let mut refused_in = (first == 401).then(|| t.elapsed());
            while refused_in.is_none() && t.elapsed() < Duration::from_secs(30) {
                thread::sleep(Duration::from_millis(50));
                if edge(gw, &b.secret, &small.pk).status == 401 {
                    refused_in = Some(t.elapsed());
                }
            }
            let (suspend, suspended_in, answered) =
                suspending.join().unwrap_or_else(|p| resume_unwind(p));
            (
                suspend,
                suspended_in,
                answered,
                r,
                disabled_in,
                first,
                refused_in,
            )
        });
    // Right after the suspension answered, then polled to measure.
    let cold_now = statuses(&cold);
    let warm_now = statuses(&warm);
    let since_answer = suspend_answered.elapsed();
    let mut cold_refused_in = None;
    while suspend_answered.elapsed() < Duration::from_secs(30) {
        if statuses(&cold).iter().all(|&s| s == 401) {
            cold_refused_in = Some(suspend_answered.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    eprintln!(
        "measured: suspend of the {LARGE}-key account answered in {} ms; the other tenant's \
         disable (sent ~50 ms later) answered in {} ms; its key refused at the edge {:?} after \
         the disable was sent (first request after the answer: {b_first})",
        suspended_in.as_millis(),
        disabled_in.as_millis(),
        b_refused_in,
    );
    eprintln!(
        "measured: the large account's keys, read within {since_answer:?} after the suspend \
         answered: cold {cold:?} -> {cold_now:?}, warm {warm:?} -> {warm_now:?}; every cold \
         one refused {cold_refused_in:?} after the answer"
    );
    suspend.expect_status(200);
    assert_eq!(suspend.json["status"], "suspended", "{suspend}");
    disable.expect_status(200);
    assert!(
        disabled_in < Duration::from_secs(2),
        "the other tenant's disable took {disabled_in:?} behind a {LARGE}-key suspension"
    );
    assert_eq!(
        b_first, 401,
        "the other tenant's disabled key was accepted right after the disable answered \
         (refused after {b_refused_in:?})"
    );
    assert!(
        warm_now.iter().all(|&s| s == 401),
        "recently read keys of the suspended account accepted after the suspension answered: \
         {warm:?} -> {warm_now:?}"
    );
    assert!(
        cold_now.iter().all(|&s| s == 401),
        "keys of the suspended account not read for {ISOLATE_CACHE_TTL:?} were accepted right \
         after the suspension answered: {cold:?} -> {cold_now:?}; all refused only \
         {cold_refused_in:?} after the answer"
    );
}
