//! Tenant limits (docs/admin-api.md "Delegation"): MAX_KEYS_PER_ACCOUNT, and the admin budgets of an account's managers
//! (MANAGER_WRITES_PER_MINUTE, MANAGER_READS_PER_MINUTE), shared by every key the account's
//! managers minted.

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

fn retry_after(r: &Resp) -> u64 {
    r.header("retry-after")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without an integer Retry-After: {r}"))
}

/// The finding: a manager hit 429 after its writes, while two `keys:manage` children it had
/// minted went on writing in the same minute. The budget is the account's.
pub(crate) fn manager_writes_are_budgeted_per_account(c: &Ctx) {
    let gw = &c.limits;
    let a = account(gw, "write budget");
    let other = account(gw, "another tenant");
    let scopes = json!({"scopes": ["keys:manage", "accounts:read"]});
    let m1 = key(gw, &a.id, "m1", scopes.clone());
    let m2 = key(gw, &a.id, "m2", scopes.clone());
    let theirs = key(gw, &other.id, "their manager", scopes.clone());
    let t = key(gw, &a.id, "target", json!({"scopes": ["accounts:read"]}));
    let path = format!("/keys/{}", t.id);
    let rename = |who: Who, name: &str| act(gw, who, "PATCH", &path, Some(&json!({"name": name})));
    let accounts_keys = format!("/accounts/{}/keys", a.id);

    // Write 1: m1 mints a manager; writes 2 and 3: m1 and its child each rename the target.
    let first = Instant::now();
    let child = key_from(
        &manage(
            gw,
            &m1.secret,
            "POST",
            &accounts_keys,
            Some(&key_body("child", scopes)),
        ),
        201,
    );
    assert_eq!(WRITES_PER_MINUTE, 3);
    rename(Some(&m1), "by m1").expect_status(200);
    rename(Some(&child), "by child").expect_status(200);
    // Reads have a budget of their own.
    manage(gw, &child.secret, "GET", &path, None).expect_status(200);

    // The budget is spent for every manager of the account: the child, its parent, another.
    let (mut retry, mut refused_at) = (0, Instant::now());
    for (who, name) in [(&child, "child"), (&m1, "m1"), (&m2, "m2")] {
        let r = rename(Some(who), &format!("{name} over budget"));
        let message = refused(&r, 429, &[]);
        assert!(message.contains("MANAGER_WRITES_PER_MINUTE"), "{name}: {r}");
        assert!(message.contains("account"), "{name}: {r}");
        (retry, refused_at) = (retry_after(&r), Instant::now());
        // A sliding minute: free again 60 s after the first write.
        let expected = 60 - first.elapsed().as_secs() as i64;
        assert!(
            (retry as i64 - expected).abs() <= 2,
            "Retry-After {retry}, expected ~{expected}: {r}"
        );
    }
    let create = key_body("more", json!({"scopes": ["accounts:read"]}));
    refused(
        &manage(gw, &child.secret, "POST", &accounts_keys, Some(&create)),
        429,
        &[],
    );
    assert_eq!(
        view(gw, &t.id)["name"],
        "by child",
        "a refused write was applied"
    );
    // m1, m2, the target and the child.
    assert_eq!(keys(gw, &a.id).len(), 4, "a refused create issued a key");

    // Reads still pass; another tenant's manager and the operator are not limited by it.
    manage(gw, &m2.secret, "GET", &accounts_keys, None).expect_status(200);
    let their_key = format!("/keys/{}", theirs.id);
    manage(
        gw,
        &theirs.secret,
        "PATCH",
        &their_key,
        Some(&json!({"name": "theirs"})),
    )
    .expect_status(200);
    for i in 0..=WRITES_PER_MINUTE {
        rename(None, &format!("operator {i}")).expect_status(200);
    }

    // Retry-After is honest: after it, a write passes.
    let wait = Duration::from_secs(retry).saturating_sub(refused_at.elapsed());
    eprintln!("measured: Retry-After {retry} s; waiting {wait:?}");
    thread::sleep(wait);
    let r = rename(Some(&child), "after the window");
    assert_eq!(r.status, 200, "a write after Retry-After: {r}");
}

/// Each of the three flooding threads sends a read this often (~110 reads/s in all).
const FLOOD_EVERY: Duration = Duration::from_millis(27);

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// Another tenant's admin write, timed (the operator renames a key of `account`).
fn timed_writes(gw: &Gateway, key_id: &str, n: usize, label: &str) -> Vec<Duration> {
    (0..n)
        .map(|i| {
            let started = Instant::now();
            op(
                gw,
                "PATCH",
                &format!("/keys/{key_id}"),
                Some(&json!({"name": format!("{label} {i}")})),
            )
            .expect_status(200);
            started.elapsed()
        })
        .collect()
}

/// The finding: 665 event-list reads of one manager in 6 s were never refused, and each took
/// the single Registry's lock, doubling another tenant's write time. Now a manager's reads
/// spend its account's MANAGER_READS_PER_MINUTE before the Registry is called, and reads do
/// not take the write lock.
pub(crate) fn a_managers_read_flood_is_budgeted_and_does_not_slow_other_tenants(c: &Ctx) {
    let gw = &c.limits;
    let flooder = account(gw, "read flood");
    let m = key(
        gw,
        &flooder.id,
        "reader",
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    );
    let victim = account(gw, "victim of a flood");
    let target = key(gw, &victim.id, "renamed", json!({}));
    timed_writes(gw, &target.id, 2, "warm");
    let idle = median(timed_writes(gw, &target.id, 7, "idle"));

    let events = format!("/accounts/{}/events", flooder.id);
    let (stop, sent, refused) = (
        AtomicBool::new(false),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    );
    let (during, per_thread) = thread::scope(|s| {
        let flood: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    // The finding's rate: ~110 reads/s in all (665 in 6 s); at least three
                    // budgets' worth, at most 300 per thread.
                    let mut statuses = Vec::new();
                    while statuses.len() < 300
                        && !(stop.load(Ordering::Relaxed)
                            && sent.load(Ordering::Relaxed) >= 3 * READS_PER_MINUTE)
                    {
                        let at = Instant::now();
                        let status = manage(gw, &m.secret, "GET", &events, None).status;
                        sent.fetch_add(1, Ordering::Relaxed);
                        if status == 429 {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        statuses.push(status);
                        thread::sleep(FLOOD_EVERY.saturating_sub(at.elapsed()));
                    }
                    statuses
                })
            })
            .collect();
        // Once the budget is spent, the flood is refused before the Registry: time the other
        // tenant's writes then.
        let waiting = Instant::now();
        while refused.load(Ordering::Relaxed) == 0 && waiting.elapsed() < Duration::from_secs(20) {
            thread::sleep(Duration::from_millis(20));
        }
        let during = median(timed_writes(gw, &target.id, 9, "flood"));
        stop.store(true, Ordering::Relaxed);
        let per_thread: Vec<Vec<u16>> = flood
            .into_iter()
            .map(|t| t.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect();
        (during, per_thread)
    });
    // In a 60 s sliding window, nothing passes again once a read was refused.
    for statuses in &per_thread {
        let first_refusal = statuses
            .iter()
            .position(|&s| s == 429)
            .unwrap_or(statuses.len());
        assert!(
            statuses[first_refusal..].iter().all(|&s| s == 429),
            "a read passed after the budget was spent: {statuses:?}"
        );
    }
    let answers: Vec<u16> = per_thread.concat();
    let ok = answers.iter().filter(|&&s| s == 200).count();
    let limited = answers.iter().filter(|&&s| s == 429).count();
    eprintln!(
        "measured: another tenant's write, median {idle:?} idle, {during:?} during a flood of \
         {} manager reads ({ok} × 200, {limited} × 429)",
        answers.len()
    );
    assert!(
        ok <= READS_PER_MINUTE,
        "{ok} reads passed a budget of {READS_PER_MINUTE}"
    );
    assert_eq!(
        ok + limited,
        answers.len(),
        "reads neither 200 nor 429: {answers:?}"
    );
    assert!(
        limited >= 2 * ok,
        "the flood was mostly refused: {ok} passed, {limited} refused"
    );
    assert!(
        during <= idle * 2 + Duration::from_millis(NOISE_MS),
        "another tenant's write took {during:?} during the flood, {idle:?} idle"
    );
}
