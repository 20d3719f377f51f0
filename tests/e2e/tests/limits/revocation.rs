//! Trial 7: revocation reaches an isolate that did not apply the admin write, within 1 s.

use super::*;

/// A revocation: what it is, the admin request (`{key}` / `{account}` in the path stand for
/// the ids; the body as JSON text, empty for none) and its status, and the edge status the
/// key's requests must then get.
pub(crate) type Revocation = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    u16,
    u16,
);

/// The revocations docs/storage.md bounds (the first four are the issue's; the others too).
pub(crate) const REVOCATIONS: [Revocation; 7] = [
    (
        "disable",
        "PATCH",
        "/keys/{key}",
        r#"{"status": "disabled"}"#,
        200,
        401,
    ),
    ("delete", "DELETE", "/keys/{key}", "", 204, 401),
    (
        "account suspension",
        "PATCH",
        "/accounts/{account}",
        r#"{"status": "suspended"}"#,
        200,
        401,
    ),
    (
        "entitlement withdrawal",
        "DELETE",
        "/accounts/{account}/products/bank_data",
        "",
        204,
        404,
    ),
    (
        "key allowlist change",
        "PATCH",
        "/keys/{key}",
        r#"{"allowed_ips": ["192.0.2.0/24"]}"#,
        200,
        403,
    ),
    (
        "leak report with grace 0",
        "POST",
        "/keys/{key}/leaked",
        r#"{"grace_seconds": 0}"#,
        200,
        401,
    ),
    (
        "roll with grace 0",
        "POST",
        "/keys/{key}/roll",
        r#"{"grace_seconds": 0}"#,
        200,
        401,
    ),
];

/// Makes a key, warms it at the stale gateway's edge, applies `revocation`, then polls the
/// edge every 50 ms. Returns a line describing the outcome, and whether it was within the
/// bound (the time is from the admin answer to the refusing answer, latency included).
pub(crate) fn revoke_and_measure(gw: &Gateway, revocation: Revocation) -> (String, bool) {
    let (what, method, path, body, admin_status, status) = revocation;
    let a = account(gw, &format!("revocation: {what}"), json!({}));
    let k = key(gw, &a.id, "revoked", json!({"allowed_ips": ["10.0.0.0/8"]}));
    let path = path.replace("{key}", &k.id).replace("{account}", &a.id);
    let body: Option<Value> = (!body.is_empty()).then(|| serde_json::from_str(body).unwrap());
    // Warm: the isolate caches the record it read from KV.
    for _ in 0..2 {
        let r = edge(gw, &k.secret, &a.pk);
        assert_eq!(r.status, 200, "{}: warming: {r}", what);
    }
    let r = op(gw, method, &path, body.as_ref());
    assert_eq!(r.status, admin_status, "{}: the admin write: {r}", what);
    let answered = Instant::now();
    let mut served_after = 0;
    let mut first = None;
    let refused_in = loop {
        let r = edge(gw, &k.secret, &a.pk);
        first.get_or_insert(r.status);
        if r.status == status {
            break Some(answered.elapsed());
        }
        assert_eq!(
            r.status, 200,
            "{}: neither served nor refused with {}: {r}",
            what, status
        );
        served_after += 1;
        if answered.elapsed() > ISOLATE_CACHE_TTL + Duration::from_secs(5) {
            break None;
        }
        thread::sleep(POLL_EVERY);
    };
    let within = refused_in.is_some_and(|t| t <= REVOCATION_BOUND);
    let line = format!(
        "{}: refused ({}) {} after the admin answer; first request after it: {}; \
         served {served_after} times after the answer",
        what,
        status,
        refused_in.map_or("never within 15 s".to_string(), |t| format!(
            "{} ms",
            t.as_millis()
        )),
        first.unwrap_or_default(),
    );
    (line, within)
}

pub(crate) fn revocation_reaches_a_stale_isolate_within_1s(c: &Ctx) {
    let gw = &c.stale;
    // Only test keys and the admin API: every kind in parallel.
    let outcomes: Vec<(String, bool)> = thread::scope(|s| {
        let runs: Vec<_> = REVOCATIONS
            .into_iter()
            .map(|revocation| s.spawn(move || revoke_and_measure(gw, revocation)))
            .collect();
        runs.into_iter()
            .map(|h| h.join().unwrap_or_else(|p| resume_unwind(p)))
            .collect()
    });
    for (line, _) in &outcomes {
        eprintln!("measured: stale isolate, {line}");
    }
    let late: Vec<&String> = outcomes
        .iter()
        .filter(|(_, within)| !within)
        .map(|(line, _)| line)
        .collect();
    assert!(
        late.is_empty(),
        "revocations not enforced within {REVOCATION_BOUND:?} of the admin answer by an \
         isolate that did not apply the write (KEYGATE_TEST_SKIP_LOCAL_APPLY=true):\n{}",
        late.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
