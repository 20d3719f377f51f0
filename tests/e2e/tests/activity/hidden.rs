//! Trial 3: HIDE_FORBIDDEN — answered as an unknown route, looked up with the missing scope.

use super::*;

/// An answer's headers without its request id (and the date), sorted.
pub(crate) fn headers_but_id(r: &Resp) -> Vec<(String, String)> {
    let mut headers: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(name, _)| {
            !name.eq_ignore_ascii_case("x-request-id") && !name.eq_ignore_ascii_case("date")
        })
        .cloned()
        .collect();
    headers.sort();
    headers
}

pub(crate) fn a_hidden_scope_refusal_is_looked_up_with_its_scope(c: &Ctx) {
    let gw = &c.hidden;
    let since = now();
    let a = test_account(gw, "hidden", json!({}));
    let narrow = key(gw, &a.id, "narrow", json!({"scopes": ["accounts:read"]}));
    let ip = "198.51.100.50";
    let r = get_accounts(gw, &narrow, &a, ip);
    assert_eq!(r.status, 200, "the scope it has: {r}");

    let hidden = edge(gw, "GET", "/v1/transactions", &narrow.secret, &a.pk, ip);
    let unknown = edge(gw, "GET", "/v1/no_such_route", &narrow.secret, &a.pk, ip);
    refused(&hidden, 404, &[]);
    refused(&unknown, 404, &[]);
    assert_eq!(
        (hidden.body.clone(), headers_but_id(&hidden)),
        (unknown.body.clone(), headers_but_id(&unknown)),
        "a missing scope must answer exactly like an unknown route:\n{hidden}\n{unknown}"
    );

    let refusals = [
        Refusal {
            what: "a hidden missing scope",
            answer: hidden,
            key: &narrow,
            ip,
            method: "GET",
            path: "/v1/transactions",
            status: 404,
            mentions: &["transactions:read"],
            not: &[],
        },
        Refusal {
            what: "an unknown route",
            answer: unknown,
            key: &narrow,
            ip,
            method: "GET",
            path: "/v1/no_such_route",
            status: 404,
            mentions: &["route"],
            not: &["transactions:read", "scope", "HIDE_FORBIDDEN"],
        },
    ];
    let deadline = Instant::now() + REPORT_DEADLINE;
    let found: Vec<Value> = refusals
        .iter()
        .map(|f| {
            poll(Duration::from_millis(300), deadline, || {
                let r = lookup(gw, Who::Operator, &rid(&f.answer));
                (r.status == 200).then(|| r.json.clone())
            })
            .unwrap_or_else(|| {
                panic!(
                    "{}: not readable {REPORT_DEADLINE:?} after the refusal: {}",
                    f.what,
                    lookup(gw, Who::Operator, &rid(&f.answer))
                )
            })
        })
        .collect();
    let mut problems = Vec::new();
    for (f, found) in refusals.iter().zip(&found) {
        for p in lookup_problems(found, f, since) {
            problems.push(format!("{}: {p}", f.what));
        }
    }
    // It says the scope was hidden, not only which one.
    let reason = found[0]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    if !(reason.contains("hidden") || reason.contains("hide_forbidden")) {
        problems.push(format!(
            "a hidden missing scope: reason {:?} does not say it was answered as an unknown \
             route (hidden / HIDE_FORBIDDEN)",
            found[0]["reason"]
        ));
    }
    assert!(
        problems.is_empty(),
        "HIDE_FORBIDDEN lookups:\n{}",
        problems
            .iter()
            .map(|p| format!("  - {p}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
