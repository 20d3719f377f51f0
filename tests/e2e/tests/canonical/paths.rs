//! Paths: respellings, non-canonical forms and case never reach another route's scope.

use super::*;

/// The core property: a key holding only `accounts:read` can reach `/v1/accounts` and
/// `/v1/accounts/{id}`, and no spelling of `/v1/accounts/{id}/transactions` gets it more.
/// Each respelling is refused (400, 403 or 404, nothing forwarded) or answered 200 with the
/// origin receiving exactly one request whose path is canonical and is one that
/// `accounts:read` grants.
pub(crate) fn respellings_of_a_nested_route_never_borrow_the_parent_scope(c: &Ctx) {
    let marker = "respell";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let id = "acc_respell";
    let a = format!("/v1/accounts/{id}");
    let mut targets: Vec<Vec<u8>> = [
        // One flaw each.
        format!("{a}/transactions/"),
        format!("{a}/Transactions"),
        format!("{a}/TRANSACTIONS"),
        format!("{a}/%74ransactions"),
        format!("{a}/tr%61nsactions"),
        format!("{a}/transaction%73"),
        format!("{a}/transactions;v=1"),
        format!("{a}/transactions;"),
        format!("{a};v=1/transactions"),
        format!("{a}/transactions%3Bv=1"),
        format!("{a}/transactions%3bv=1"),
        format!("{a}//transactions"),
        format!("{a}/./transactions"),
        format!("{a}/x/../transactions"),
        format!("{a}/transactions/."),
        format!("{a}/transactions/.."),
        format!("{a}/%2e/transactions"),
        format!("{a}/%2E/transactions"),
        format!("{a}/x/%2e%2e/transactions"),
        format!("{a}/x/%2E%2E/transactions"),
        format!("{a}/x/.%2e/transactions"),
        format!("{a}%2Ftransactions"),
        format!("{a}%2ftransactions"),
        format!("{a}%5Ctransactions"),
        format!("{a}\\transactions"),
        format!("{a}/transactions%2F"),
        format!("{a}/transactions%2f"),
        format!("{a}/transactions%00"),
        format!("{a}/transactions%20"),
        format!("{a}/transactions%09"),
        format!("{a}/transactions%C3%A9"),
        format!("{a}/transactions%E2%80%8B"),
        format!("{a}/%2574ransactions"),
        format!("{a}/transactions%252F"),
        format!("{a}/transactions.json"),
        format!("{a}/transactions~"),
        format!("{a}/transactions/tx_1"),
        format!("/v1//accounts/{id}/transactions"),
        format!("/v1/./accounts/{id}/transactions"),
        format!("/v1/Accounts/{id}/transactions"),
        format!("/v1/%61ccounts/{id}/transactions"),
        format!("/v1/accounts%2F{id}/transactions"),
        format!("/v1/accounts/../accounts/{id}/transactions"),
        format!("/v1/transactions/../accounts/{id}/transactions"),
        format!("/v1/x/../../v1/accounts/{id}/transactions"),
        format!("/admin/../v1/accounts/{id}/transactions"),
        // Mixed.
        format!("{a}/./Transactions/"),
        format!("{a}//%74ransactions;x"),
        format!("{a}/x/..//transactions"),
        format!("{a}/%2e/%74ransactions/"),
        format!("{a}/transactions%2F%2E%2E"),
        format!("{a}/transactions%2F..%2F"),
        format!("{a}/transactions;/"),
        format!("{a}/./transactions%3B"),
        format!("{a}/TRANSACTIONS/./"),
        format!("{a}/transactions/%2e"),
        format!("{a}/transactions/%2e%2e"),
        format!("{a}%2F%2E%2E%2F{id}%2Ftransactions"),
        format!("{a}/transactions;jsessionid=1/"),
        format!("/v1/./accounts//{id}/%74ransactions/"),
        format!("{a}/transactions?x=/../"),
        format!("{a}/transactions#x"),
    ]
    .into_iter()
    .map(String::into_bytes)
    .collect();
    // Raw bytes no client library sends.
    for bytes in [
        b"\x00".as_slice(),
        b"\x7f",
        b"\xc3\xa9",
        b"\xff",
        b"\t",
        b"\\..\\",
    ] {
        targets.push([format!("{a}/transactions").as_bytes(), bytes].concat());
    }
    targets.push([format!("{a}/").as_bytes(), b"\xe2\x80\x8btransactions"].concat());

    let pk = t.pk_live.clone();
    let mut table = Vec::new();
    let mut failures = Vec::new();
    let mut forwarded = 0;
    for (i, target) in targets.iter().enumerate() {
        let trace = format!("{marker}-{i}");
        let r = send_traced(&c.gw, target, &live, &pk, &trace);
        let got = traced(c, &trace);
        let paths: Vec<&str> = got.iter().map(|q| q.path.as_str()).collect();
        let line = format!("{:<60} -> {} origin {:?}", shown(target), r.status, paths);
        let problem = match r.status {
            400 | 403 | 404 if got.is_empty() => None,
            400 | 403 | 404 => Some("refused, yet the origin received it"),
            200 => {
                forwarded += 1;
                match got.as_slice() {
                    [q] => {
                        let path = path_of(q);
                        if !is_canonical(path) {
                            Some("the origin received a non-canonical path")
                        } else if !(path == "/v1/accounts"
                            || pattern_matches("/v1/accounts/*", path))
                        {
                            Some("the origin received a path accounts:read does not grant")
                        } else if r.json() != json!({"origin": "ok"}) {
                            Some("200 that is not the origin's answer")
                        } else {
                            None
                        }
                    }
                    _ => Some("200 without exactly one origin request"),
                }
            }
            _ => Some("neither refused (400/403/404) nor forwarded (200)"),
        };
        if let Some(problem) = problem {
            failures.push(format!("{line}: {problem}\n{r}"));
        }
        table.push(line);
    }
    // The controls at the end: the key works, and nothing else of this tenant was forwarded.
    let r = send_raw(
        &c.gw,
        "GET",
        a.as_bytes(),
        &[
            ("Authorization", &format!("Bearer {live}")),
            ("X-Product-Key", &pk),
        ],
    );
    assert_eq!(r.status, 200, "control {a}: {r}");
    let all = c
        .origin
        .requests_where(|q| q.header("x-keygate-account") == Some(t.id.as_str()));
    if all.len() != forwarded + 1 {
        failures.push(format!(
            "the origin received {} requests of this account, expected {} (the 200s and the \
             control): {:#?}",
            all.len(),
            forwarded + 1,
            all.iter().map(|q| &q.path).collect::<Vec<_>>()
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} spellings of {a}/transactions broke the property:\n{}\n\nall answers:\n{}",
        failures.len(),
        targets.len(),
        failures.join("\n\n"),
        table.join("\n")
    );
}

pub(crate) fn nested_route_needs_its_own_scope_and_parent_route_forwards_its_exact_path(c: &Ctx) {
    let marker = "nested_scope";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let r =
        c.gw.get(&format!(
            "/v1/accounts/acc_{marker}/transactions?trace={marker}-tx"
        ))
        .bearer(&live)
        .product_key(&t.pk_live)
        .send();
    let message = assert_error(&r, 403);
    assert!(message.contains("transactions:read"), "{r}");
    c.origin.assert_got_nothing("", &format!("{marker}-tx"));

    for path in [
        format!("/v1/accounts/acc_{marker}"),
        "/v1/accounts".to_string(),
    ] {
        let r = send_traced(
            &c.gw,
            path.as_bytes(),
            &live,
            &t.pk_live,
            &format!("{marker}{path}"),
        );
        assert_eq!(r.status, 200, "{path}: {r}");
        assert_eq!(r.json(), json!({"origin": "ok"}), "{path}: {r}");
        let got = traced(c, &format!("{marker}{path}"));
        assert_eq!(got.len(), 1, "{path}: {got:#?}");
        assert_eq!(got[0].path, path, "the origin must get exactly the path");
        assert_eq!(got[0].header("x-keygate-product"), Some("bank_data"));
    }
}

/// What a non-canonical spelling must get.
pub(crate) enum Want {
    /// 400 naming `path`, its message ending with `canonical form <path>`.
    Fixable(String),
    /// 400 naming `path`, no canonical form.
    Unfixable,
    /// The runtime may resolve it first (dot segments, `\`): either the gateway's 400 (with
    /// this canonical form, if any) or exactly the answer of the resolved path `to`, which the
    /// key may use: 200 with the origin receiving exactly `to`.
    Resolved {
        to: String,
        canonical: Option<String>,
    },
    /// Raw bytes: refused with 400 by the runtime itself, or by the gateway naming `path`.
    Refused,
}

pub(crate) fn non_canonical_paths_are_400_naming_the_canonical_form(c: &Ctx) {
    let marker = "non_canonical";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let id = "acc_nc";
    let a = format!("/v1/accounts/{id}");
    let fix = |s: &str| Want::Fixable(s.to_string());
    let resolved = |to: &str, canonical: Option<&str>| Want::Resolved {
        to: to.to_string(),
        canonical: canonical.map(str::to_string),
    };
    let mut cases: Vec<(String, Want)> = vec![
        // Trailing `/` and empty segments.
        (
            format!("{a}/transactions/"),
            fix(&format!("{a}/transactions")),
        ),
        ("/v1/accounts/".into(), fix("/v1/accounts")),
        ("/v1//accounts".into(), fix("/v1/accounts")),
        (format!("/v1/accounts//{id}"), fix(&a)),
        (
            format!("{a}//transactions/"),
            fix(&format!("{a}/transactions")),
        ),
        // Percent-encoded unreserved characters, lower-case hex.
        (
            format!("{a}/%74ransactions"),
            fix(&format!("{a}/transactions")),
        ),
        (
            "/v1/accounts/%41cc%2D1%7E".into(),
            fix("/v1/accounts/Acc-1~"),
        ),
        ("/v1/%61ccounts".into(), fix("/v1/accounts")),
        ("/v1/accounts/a%3bb".into(), fix("/v1/accounts/a%3Bb")),
        ("/v1/accounts/a%c3b".into(), Want::Unfixable),
        // `;` anywhere.
        ("/v1/transactions;v=1".into(), Want::Unfixable),
        ("/v1/accounts/a;b".into(), Want::Unfixable),
        ("/v1;x/accounts".into(), Want::Unfixable),
        ("/v1/accounts;".into(), Want::Unfixable),
        // Encoded `/` or `\`, double encoding, encoded control and non-ASCII bytes.
        ("/v1/accounts/a%2Fb".into(), Want::Unfixable),
        ("/v1/accounts/a%2fb".into(), Want::Unfixable),
        ("/v1/accounts/a%5Cb".into(), Want::Unfixable),
        ("/v1/accounts/a%5cb".into(), Want::Unfixable),
        ("/v1/accounts/%252e".into(), Want::Unfixable),
        ("/v1/accounts/a%2541".into(), Want::Unfixable),
        ("/v1/accounts/a%00".into(), Want::Unfixable),
        ("/v1/accounts/a%0A".into(), Want::Unfixable),
        ("/v1/accounts/a%7F".into(), Want::Unfixable),
        ("/v1/accounts/a%C3%A9".into(), Want::Unfixable),
        ("/v1/accounts/a%FF".into(), Want::Unfixable),
        // Dot segments and `\`: the runtime may resolve them first.
        (
            "/v1/./accounts".into(),
            resolved("/v1/accounts", Some("/v1/accounts")),
        ),
        (format!("/v1/accounts/x/../{id}"), resolved(&a, Some(&a))),
        (format!("/v1/accounts/%2e/{id}"), resolved(&a, Some(&a))),
        (
            format!("/v1/accounts/x/%2E%2E/{id}"),
            resolved(&a, Some(&a)),
        ),
        (format!("{a}/."), fix(&a)),
        (format!("{a}/x/.."), fix(&a)),
        ("/v1\\accounts".into(), resolved("/v1/accounts", None)),
        (format!("/v1/accounts\\{id}"), resolved(&a, None)),
    ];
    let mut cases: Vec<(Vec<u8>, Want)> = cases
        .drain(..)
        .map(|(target, want)| (target.into_bytes(), want))
        .collect();
    // Raw non-ASCII and control bytes.
    for bytes in [
        b"/v1/accounts/\xc3\xa9".as_slice(),
        b"/v1/accounts/a\xff",
        b"/v1/accounts/a\x01b",
        b"/v1/accounts/a\x7f",
        b"/v1/accounts/a\x00b",
    ] {
        cases.push((bytes.to_vec(), Want::Refused));
    }
    // The runtime drops a control byte at the very end of the URL (WHATWG URL parsing strips
    // trailing C0 controls): then it is a request for the path without it.
    cases.push((
        b"/v1/accounts/a\x01".to_vec(),
        Want::Resolved {
            to: "/v1/accounts/a".into(),
            canonical: None,
        },
    ));

    let mut failures = Vec::new();
    for (i, (target, want)) in cases.iter().enumerate() {
        let trace = format!("{marker}-{i}");
        let label = format!("GET {}", shown(target));
        let r = send_traced(&c.gw, target, &live, &t.pk_live, &trace);
        let got = traced(c, &trace);
        let resp = r.to_resp(&label);
        let ours = r.header("x-request-id").is_some();
        let problem = match want {
            Want::Fixable(canonical) => path_error_problem(&resp, Some(canonical)),
            Want::Unfixable => path_error_problem(&resp, None),
            Want::Refused if r.status == 400 && !ours => None,
            Want::Refused => path_error_problem(&resp, None),
            Want::Resolved { to, .. } if r.status == 200 => match got.as_slice() {
                [q] if q.path == *to => None,
                _ => Some(format!("200, but the origin did not get exactly {to}")),
            },
            Want::Resolved { canonical, .. } => path_error_problem(&resp, canonical.as_deref()),
        };
        let problem = problem.or_else(|| {
            (r.status != 200 && !got.is_empty()).then(|| "refused, yet forwarded".to_string())
        });
        if let Some(problem) = problem {
            failures.push(format!(
                "{label}: {problem}; origin got {:?}\n{r}",
                got.iter().map(|q| &q.path).collect::<Vec<_>>()
            ));
        }
        if r.status == 400 && ours {
            assert_error(&resp, 400);
            assert_no_secret(&resp, &[&live]);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} non-canonical paths were not refused as docs/edge-pipeline.md says:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

pub(crate) fn route_segments_are_case_sensitive_and_nothing_is_open_ended(c: &Ctx) {
    let marker = "no_open_end";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let (_, test) = key(&c.gw, &t, "test", json!({"scopes": ["*"]}));
    let paths = [
        "/v1/accounts/x/Transactions",
        "/v1/accounts/x/TRANSACTIONS",
        "/v1/Accounts",
        "/v1/ACCOUNTS/x",
        "/V1/accounts",
        "/v1/accounts/x/transactions/tx_1",
        "/v1/accounts/x/transactions/tx_1/payment_orders",
        "/v1/accounts/x/y",
        "/v1/accounts/x/transactionsX",
        "/v1/accounts/x/statements/st_1",
        "/v1/accounts/x/payment_orders/po_1",
        "/v1/accountsX",
        "/v1/transactions/a/b",
        "/v1/transactions/a/payment_orders/b",
        "/v1/transactions.json",
        "/v1/payment_orders/a/b",
        "/v1/statements/a/b",
        "/v1/owners/a/accounts/b",
        "/v1/quotes/a/policies/b",
        "/v1",
        "/v1/sandbox",
        "/v1/sandbox/scenarios/x",
    ];
    let mut failures = Vec::new();
    for (secret, pk, pay) in [
        (&live, &t.pk_live, &t.pay_live),
        (&test, &t.pk_test, &t.pay_test),
    ] {
        for path in paths {
            let pk = if path.contains("payment_orders") || path.contains("statements") {
                pay
            } else {
                pk
            };
            let r =
                c.gw.get(&format!("{path}?trace={marker}"))
                    .bearer(secret)
                    .product_key(pk)
                    .send();
            if r.status != 404 || r.json["status"] != json!(404) {
                failures.push(format!("{} key: {r}", &secret[..7]));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "paths no route names must be 404:\n{}",
        failures.join("\n\n")
    );
    c.origin.assert_got_nothing(&t.id, marker);
}
