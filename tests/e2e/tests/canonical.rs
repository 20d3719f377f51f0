//! SPEC §8 "canonical requests" against the real worker in workerd, black-box over HTTP:
//! what the gateway authorises is exactly what the origin receives.
//!
//! Gateways (started once, shared by every trial), both forwarding live keys to one recording
//! [`Origin`]:
//! * `gw`     — plain HTTP, REQUIRE_HTTPS=false, HIDE_FORBIDDEN=false.
//! * `hidden` — the same with HIDE_FORBIDDEN=true.
//! * `bodies` — no origin; only for the body-limit trial (see there why it is alone).
//!
//! Requests whose exact bytes matter go over a raw socket ([`raw`]): a client library would
//! normalise `.` segments, encode bytes or refuse header names with `_`.
//!
//! The runtime (workerd) parses the request URL before the worker sees it, and may already
//! resolve `.`/`..` segments (also spelled `%2e`) and turn `\` into `/`. Such a spelling is
//! then a request for the resolved path: those trials accept either the gateway's 400 or the
//! resolved path's own answer, with the origin receiving exactly the resolved path — never a
//! third outcome.
//!
//! Trials run in parallel: each creates its own accounts and keys and finds what the origin
//! received by its account id (`X-Keygate-Account`) or a marker unique to the trial.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keygate_e2e::{
    ADMIN_TOKEN, Gateway, Origin, OriginRequest, RawResp, Resp, Value, assert_error,
    assert_from_origin, assert_no_secret, json, key, product_key_of, raw, raw_parts, repo_root,
    run, tenant, tests,
};

struct Ctx {
    origin: Origin,
    gw: Gateway,
    hidden: Gateway,
    bodies: Gateway,
}

fn main() {
    run(
        setup,
        tests![
            // Paths
            respellings_of_a_nested_route_never_borrow_the_parent_scope,
            nested_route_needs_its_own_scope_and_parent_route_forwards_its_exact_path,
            non_canonical_paths_are_400_naming_the_canonical_form,
            route_segments_are_case_sensitive_and_nothing_is_open_ended,
            route_table_names_the_scope_and_product_of_every_route,
            every_configured_route_forwards_its_exact_path_and_nothing_below_it,
            origin_receives_an_odd_canonical_path_and_query_byte_for_byte,
            // Products
            nested_lists_need_the_product_of_what_they_list,
            // Headers
            override_and_client_address_headers_never_reach_the_origin,
            // Secrets in URLs
            secret_keys_in_the_url_are_refused_however_encoded,
            // Bodies
            bodies_over_the_limit_are_413_before_they_end,
            // Admin paths
            admin_paths_are_canonical_segments_only,
            // HIDE_FORBIDDEN
            hidden_forbidden_routes_are_indistinguishable_from_unknown_ones,
            hidden_forbidden_keeps_405_for_a_path_the_key_can_use,
        ],
    );
}

fn setup() -> Ctx {
    let origin = Origin::start();
    let gw = Gateway::builder().var("ORIGIN_URL", &origin.url()).start();
    let hidden = Gateway::builder()
        .var("ORIGIN_URL", &origin.url())
        .var("HIDE_FORBIDDEN", "true")
        .start();
    let bodies = Gateway::builder().start();
    Ctx {
        origin,
        gw,
        hidden,
        bodies,
    }
}

// ------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------

/// One HTTP/1.1 request, byte for byte: `METHOD target`, `Host`, `headers`, `Connection:
/// close`, and `body` with its `Content-Length` when not empty.
fn request_bytes(
    port: u16,
    method: &str,
    target: &[u8],
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("Host: 127.0.0.1:{port}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("Connection: close\r\n\r\n");
    [
        format!("{method} ").as_bytes(),
        target,
        b" HTTP/1.1\r\n",
        head.as_bytes(),
        body,
    ]
    .concat()
}

/// Sends a body-less request over a raw socket.
fn send_raw(gw: &Gateway, method: &str, target: &[u8], headers: &[(&str, &str)]) -> RawResp {
    raw(
        gw.port(),
        &request_bytes(gw.port(), method, target, headers, b""),
    )
}

/// A request target for messages: printable, with raw bytes escaped.
fn shown(target: &[u8]) -> String {
    target
        .iter()
        .flat_map(|&b| std::ascii::escape_default(b))
        .map(char::from)
        .collect()
}

/// The path part of an origin request target.
fn path_of(q: &OriginRequest) -> &str {
    q.path.split_once('?').map_or(q.path.as_str(), |(p, _)| p)
}

/// The origin requests carrying `X-Trace: trace`.
fn traced(c: &Ctx, trace: &str) -> Vec<OriginRequest> {
    c.origin
        .requests_where(|q| q.header("x-trace") == Some(trace))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// Whether `path` is canonical by SPEC §8 (this suite's own reading, independent of the
/// gateway's code): `/`, or `/`-separated non-empty segments that are neither `.` nor `..`,
/// made of unreserved characters, sub-delimiters other than `;`, `:` and `@`, and upper-case
/// percent-encodings of anything but an unreserved character, `/`, `\`, a control or non-ASCII
/// byte, or a `%` that starts another encoding.
fn is_canonical(path: &str) -> bool {
    if path == "/" {
        return true;
    }
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    rest.split('/').all(|segment| {
        if segment.is_empty() || segment == "." || segment == ".." {
            return false;
        }
        let b = segment.as_bytes();
        let mut i = 0;
        while i < b.len() {
            if b[i] == b'%' {
                let (Some(&h), Some(&l)) = (b.get(i + 1), b.get(i + 2)) else {
                    return false;
                };
                if h.is_ascii_lowercase() || l.is_ascii_lowercase() {
                    return false;
                }
                let (Some(h), Some(l)) = (hex_digit(h), hex_digit(l)) else {
                    return false;
                };
                let v = h << 4 | l;
                let double = v == b'%'
                    && b.get(i + 3..i + 5)
                        .is_some_and(|x| x.iter().all(|&d| hex_digit(d).is_some()));
                if is_unreserved(v)
                    || matches!(v, b'/' | b'\\')
                    || !(0x20..0x7f).contains(&v)
                    || double
                {
                    return false;
                }
                i += 3;
            } else if is_unreserved(b[i]) || b"!$&'()*+,=:@".contains(&b[i]) {
                i += 1;
            } else {
                return false;
            }
        }
        true
    })
}

/// Whether the route pattern (`*` = one non-empty segment) matches `path`.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern[1..].split('/').collect();
    let s: Vec<&str> = path[1..].split('/').collect();
    p.len() == s.len()
        && p.iter()
            .zip(&s)
            .all(|(p, s)| if *p == "*" { !s.is_empty() } else { p == s })
}

/// The `errors[0]` entry of a 400 must be `path`; when `canonical` is given, the message (the
/// entry's or the top-level one) must end with `canonical form <canonical>`, else it must not
/// name one. Returns why not, or `None`.
fn path_error_problem(r: &Resp, canonical: Option<&str>) -> Option<String> {
    if r.status != 400 {
        return Some(format!("status {} instead of 400", r.status));
    }
    if r.json["errors"][0]["field"] != "path" {
        return Some("errors[0].field is not \"path\"".into());
    }
    let messages = [
        r.json["message"].as_str().unwrap_or(""),
        r.json["errors"][0]["message"].as_str().unwrap_or(""),
    ];
    match canonical {
        Some(canonical) => {
            let wanted = format!("canonical form {canonical}");
            (!messages.iter().any(|m| m.trim_end().ends_with(&wanted)))
                .then(|| format!("no message ends with {wanted:?}"))
        }
        None => messages
            .iter()
            .any(|m| m.contains("canonical form /"))
            .then(|| "names a canonical form where none exists".into()),
    }
}

/// An account of `gw` with the agreement `production`, entitled to `products`:
/// `(account id, [(product, entitlement answer)])`.
fn account_with(gw: &Gateway, name: &str, products: &[&str]) -> (String, Vec<(String, Value)>) {
    let acct = gw.create_account(&json!({"name": name, "agreement": "production"}));
    let id = acct["id"].as_str().expect("account id").to_string();
    let entitlements = products
        .iter()
        .map(|p| (p.to_string(), gw.entitle(&id, p)))
        .collect();
    (id, entitlements)
}

/// A key of the account `account_id`: `(key id, secret)`.
fn key_of(gw: &Gateway, account_id: &str, environment: &str, scopes: Value) -> (String, String) {
    let body = json!({
        "name": format!("{environment} key"),
        "environment": environment,
        "scopes": scopes,
    });
    let (k, secret) = gw.create_key(account_id, &body);
    (k["id"].as_str().expect("key id").to_string(), secret)
}

// ------------------------------------------------------------------------------------------
// Paths
// ------------------------------------------------------------------------------------------

/// The core property: a key holding only `accounts:read` can reach `/v1/accounts` and
/// `/v1/accounts/{id}`, and no spelling of `/v1/accounts/{id}/transactions` gets it more.
/// Each respelling is refused (400, 403 or 404, nothing forwarded) or answered 200 with the
/// origin receiving exactly one request whose path is canonical and is one that
/// `accounts:read` grants.
fn respellings_of_a_nested_route_never_borrow_the_parent_scope(c: &Ctx) {
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
        let r = send_raw(
            &c.gw,
            "GET",
            target,
            &[
                ("Authorization", &format!("Bearer {live}")),
                ("X-Product-Key", &pk),
                ("X-Trace", &trace),
            ],
        );
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

fn nested_route_needs_its_own_scope_and_parent_route_forwards_its_exact_path(c: &Ctx) {
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
        let r = send_raw(
            &c.gw,
            "GET",
            path.as_bytes(),
            &[
                ("Authorization", &format!("Bearer {live}")),
                ("X-Product-Key", &t.pk_live),
                ("X-Trace", &format!("{marker}{path}")),
            ],
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
enum Want {
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

fn non_canonical_paths_are_400_naming_the_canonical_form(c: &Ctx) {
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
        let r = send_raw(
            &c.gw,
            "GET",
            target,
            &[
                ("Authorization", &format!("Bearer {live}")),
                ("X-Product-Key", &t.pk_live),
                ("X-Trace", &trace),
            ],
        );
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
        "{} of {} non-canonical paths were not refused as SPEC §8 says:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

fn route_segments_are_case_sensitive_and_nothing_is_open_ended(c: &Ctx) {
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

/// The route table of SPEC §8 as the brief states it: each route's scope and product.
const ROUTES: [(&str, &str, &str, &str); 13] = [
    ("GET", "/v1/accounts", "accounts:read", "bank_data"),
    ("GET", "/v1/accounts/acc_1", "accounts:read", "bank_data"),
    (
        "GET",
        "/v1/accounts/acc_1/transactions",
        "transactions:read",
        "bank_data",
    ),
    (
        "GET",
        "/v1/accounts/acc_1/statements",
        "statements:read",
        "payments",
    ),
    (
        "GET",
        "/v1/accounts/acc_1/payment_orders",
        "payment_orders:read",
        "payments",
    ),
    ("GET", "/v1/transactions", "transactions:read", "bank_data"),
    (
        "GET",
        "/v1/transactions/tx_1",
        "transactions:read",
        "bank_data",
    ),
    (
        "GET",
        "/v1/transactions/tx_1/payment_orders",
        "payment_orders:read",
        "payments",
    ),
    (
        "GET",
        "/v1/payment_orders",
        "payment_orders:read",
        "payments",
    ),
    (
        "POST",
        "/v1/payment_orders",
        "payment_orders:write",
        "payments",
    ),
    (
        "GET",
        "/v1/payment_orders/po_1",
        "payment_orders:read",
        "payments",
    ),
    ("GET", "/v1/statements", "statements:read", "payments"),
    ("GET", "/v1/statements/st_1", "statements:read", "payments"),
];

fn route_table_names_the_scope_and_product_of_every_route(c: &Ctx) {
    let marker = "route_table";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, star) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let mut failures = Vec::new();
    for (i, (method, path, scope, product)) in ROUTES.iter().enumerate() {
        let (pk, other_pk) = match *product {
            "bank_data" => (&t.pk_live, &t.pay_live),
            _ => (&t.pay_live, &t.pk_live),
        };
        let send = |secret: &str, pk: &str, trace: &str| {
            let mut req =
                c.gw.request(method, &format!("{path}?trace={trace}"))
                    .bearer(secret)
                    .product_key(pk);
            if *method == "POST" {
                req = req.json(&json!({"amount": 1}));
            }
            req.send()
        };
        // A key with exactly this scope: forwarded with exactly this path and product.
        let (_, only) = key(&c.gw, &t, "live", json!({"scopes": [scope]}));
        let trace = format!("{marker}-{i}-ok");
        let r = send(&only, pk, &trace);
        if r.status != 200 {
            failures.push(format!("{method} {path} with only {scope}: {r}"));
        } else {
            let q = c.origin.one(&format!("trace={trace}"));
            if path_of(&q) != *path || q.method != *method {
                failures.push(format!(
                    "{method} {path}: the origin got {} {}",
                    q.method, q.path
                ));
            }
            if q.header("x-keygate-product") != Some(product) {
                failures.push(format!(
                    "{method} {path}: X-Keygate-Product {:?}, expected {product}",
                    q.header("x-keygate-product")
                ));
            }
        }
        // A key with another scope: 403 naming this one.
        let other_scope = if *scope == "accounts:read" {
            "transactions:read"
        } else {
            "accounts:read"
        };
        let (_, other) = key(&c.gw, &t, "live", json!({"scopes": [other_scope]}));
        let r = send(&other, pk, &format!("{marker}-{i}-no"));
        if r.status != 403 || !r.text().contains(scope) {
            failures.push(format!(
                "{method} {path} with only {other_scope}: expected 403 naming {scope}: {r}"
            ));
        }
        // The other product's key does not open it.
        let r = send(&star, other_pk, &format!("{marker}-{i}-no"));
        if r.status != 404 {
            failures.push(format!(
                "{method} {path} with the other product's key: expected 404: {r}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for i in 0..ROUTES.len() {
        c.origin.assert_got_nothing("", &format!("{marker}-{i}-no"));
    }
}

/// Every route of gateway.json (the configuration the worker embeds): a live key with exactly
/// the route's scope and the route's product key is forwarded with exactly the path; without
/// a product key it is 400; one segment deeper, where no route names the path, is 404.
fn every_configured_route_forwards_its_exact_path_and_nothing_below_it(c: &Ctx) {
    let marker = "configured";
    let config: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_root().join("gateway.json")).expect("read gateway.json"),
    )
    .expect("gateway.json is JSON");
    let routes = config["routes"].as_array().expect("routes").clone();
    let products: Vec<&str> = config["products"]
        .as_array()
        .expect("products")
        .iter()
        .map(|p| p["id"].as_str().expect("product id"))
        .collect();
    let (account, entitlements) = account_with(&c.gw, marker, &products);
    let pk_of = |product: &str| {
        entitlements
            .iter()
            .find(|(p, _)| p == product)
            .map(|(_, e)| product_key_of(e, "live"))
            .unwrap_or_else(|| panic!("route names unknown product {product}"))
    };
    let patterns: Vec<&str> = routes
        .iter()
        .map(|r| r["path"].as_str().expect("route path"))
        .collect();
    let mut failures = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    for (i, route) in routes.iter().enumerate() {
        let method = route["method"].as_str().expect("method");
        let pattern = route["path"].as_str().expect("path");
        let scope = route["scope"].as_str().expect("scope");
        let product = route["product"].as_str();
        let live_ok = route["environments"]
            .as_array()
            .is_none_or(|e| e.is_empty() || e.iter().any(|e| e == "live"));
        let path = pattern
            .split('/')
            .enumerate()
            .map(|(k, s)| {
                if s == "*" {
                    format!("w{i}x{k}")
                } else {
                    s.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("/");
        // A live key cannot hold the sandbox's scopes: a test-only route is tried with `*`.
        let scope = if live_ok { scope } else { "*" };
        let secret = match keys.iter().find(|(s, _)| s == scope) {
            Some((_, secret)) => secret.clone(),
            None => {
                let (_, secret) = key_of(&c.gw, &account, "live", json!([scope]));
                keys.push((scope.to_string(), secret.clone()));
                secret
            }
        };
        let send = |path: &str, pk: Option<&str>, trace: &str| {
            let mut req =
                c.gw.request(method, &format!("{path}?trace={trace}"))
                    .bearer(&secret);
            if let Some(pk) = pk {
                req = req.product_key(pk);
            }
            if method == "POST" {
                req = req.json(&json!({}));
            }
            req.send()
        };
        let pk = product.map(pk_of);
        let trace = format!("{marker}-{i}-ok");
        let r = send(&path, pk.as_deref(), &trace);
        if !live_ok {
            if r.status != 404 {
                failures.push(format!(
                    "{method} {path} is test-only: a live key gets 404: {r}"
                ));
            }
            continue;
        }
        if r.status != 200 {
            failures.push(format!(
                "{method} {path} with only {scope}: expected 200: {r}"
            ));
        } else {
            let q = c.origin.one(&format!("trace={trace}"));
            if path_of(&q) != path || q.method != method {
                failures.push(format!(
                    "{method} {path}: the origin got {} {}",
                    q.method, q.path
                ));
            }
            if q.header("x-keygate-product") != product {
                failures.push(format!(
                    "{method} {path}: X-Keygate-Product {:?}, expected {product:?}",
                    q.header("x-keygate-product")
                ));
            }
        }
        if product.is_some() {
            let r = send(&path, None, &format!("{marker}-{i}-no"));
            if r.status != 400 || !r.text().to_ascii_lowercase().contains("x-product-key") {
                failures.push(format!(
                    "{method} {path} without a product key: expected 400: {r}"
                ));
            }
        }
        let deeper = format!("{path}/deeper");
        if !patterns.iter().any(|p| pattern_matches(p, &deeper)) {
            let r = send(&deeper, pk.as_deref(), &format!("{marker}-{i}-no"));
            if r.status != 404 {
                failures.push(format!("{method} {deeper}: expected 404: {r}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    for i in 0..routes.len() {
        c.origin.assert_got_nothing("", &format!("{marker}-{i}-no"));
    }
}

fn origin_receives_an_odd_canonical_path_and_query_byte_for_byte(c: &Ctx) {
    let marker = "odd_canonical";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let targets = [
        "/v1/accounts/a:b@c!$&'()*+,=?x=%2F&y=a+b",
        "/v1/accounts/a:b@c!$&'()*+,=",
        "/v1/accounts/%3B?q=%2e%2e%2F&r=/../&s=;",
        "/v1/accounts/a%20b?a=1&a=2&b=&=c",
        "/v1/accounts?x=%2F&y=a+b",
    ];
    for (i, target) in targets.iter().enumerate() {
        let trace = format!("{marker}-{i}");
        let r = send_raw(
            &c.gw,
            "GET",
            target.as_bytes(),
            &[
                ("Authorization", &format!("Bearer {live}")),
                ("X-Product-Key", &t.pk_live),
                ("X-Trace", &trace),
            ],
        );
        assert_eq!(r.status, 200, "{target}: {r}");
        let got = traced(c, &trace);
        assert_eq!(got.len(), 1, "{target}: {got:#?}");
        assert_eq!(
            got[0].path, *target,
            "the origin must receive the authorised target byte for byte"
        );
    }
}

// ------------------------------------------------------------------------------------------
// Products
// ------------------------------------------------------------------------------------------

fn nested_lists_need_the_product_of_what_they_list(c: &Ctx) {
    let marker = "nested_product";
    let (id, entitlements) = account_with(&c.gw, marker, &["bank_data"]);
    let bank = &entitlements[0].1;
    let (bank_live, bank_test) = (product_key_of(bank, "live"), product_key_of(bank, "test"));
    let (_, live) = key_of(&c.gw, &id, "live", json!(["*"]));
    let (_, test) = key_of(&c.gw, &id, "test", json!(["*"]));
    let lists = [
        "/v1/accounts/acc_np/payment_orders",
        "/v1/accounts/acc_np/statements",
        "/v1/transactions/tx_np/payment_orders",
    ];
    let refused = format!("{marker}-refused");
    for (secret, pk) in [(&live, &bank_live), (&test, &bank_test)] {
        for path in lists {
            let url = format!("{path}?trace={refused}");
            // The bank_data product key does not open a payments list.
            let r = c.gw.get(&url).bearer(secret).product_key(pk).send();
            let message = assert_error(&r, 404);
            assert_no_secret(&r, &[secret, pk]);
            // The same 404 as any product key that is not valid here.
            let bogus = format!("{}{}", &pk[..8], "0".repeat(pk.len() - 8));
            let r2 = c.gw.get(&url).bearer(secret).product_key(&bogus).send();
            assert_eq!(
                message,
                assert_error(&r2, 404),
                "a product-key 404 must not differ by key: {r}\n{r2}"
            );
            // No product key at all: 400 naming the header.
            let r = c.gw.get(&url).bearer(secret).send();
            assert_error(&r, 400);
            let fields: Vec<&str> = r.json["errors"]
                .as_array()
                .map(|a| a.iter().filter_map(|e| e["field"].as_str()).collect())
                .unwrap_or_default();
            assert!(
                fields
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case("X-Product-Key")),
                "errors must name X-Product-Key: {r}"
            );
        }
    }
    c.origin.assert_got_nothing(&id, &refused);

    // What the account is entitled to works.
    let r =
        c.gw.get(&format!(
            "/v1/accounts/acc_np/transactions?trace={marker}-bank"
        ))
        .bearer(&live)
        .product_key(&bank_live)
        .send();
    assert_from_origin(&r);
    let q = c.origin.one(&format!("{marker}-bank"));
    assert_eq!(q.header("x-keygate-product"), Some("bank_data"), "{q:#?}");

    // Entitled to payments too: the payments product key opens the payments lists.
    let pay_live = product_key_of(&c.gw.entitle(&id, "payments"), "live");
    for (i, path) in lists.iter().enumerate() {
        let trace = format!("{marker}-pay{i}");
        let r =
            c.gw.get(&format!("{path}?trace={trace}"))
                .bearer(&live)
                .product_key(&pay_live)
                .send();
        assert_from_origin(&r);
        let q = c.origin.one(&format!("trace={trace}"));
        assert_eq!(path_of(&q), *path);
        assert_eq!(q.header("x-keygate-product"), Some("payments"), "{q:#?}");
        assert_eq!(q.header("x-keygate-account"), Some(id.as_str()), "{q:#?}");
        // And the bank_data product key still does not.
        let r =
            c.gw.get(&format!("{path}?trace={refused}"))
                .bearer(&live)
                .product_key(&bank_live)
                .send();
        assert_error(&r, 404);
    }
    c.origin.assert_got_nothing("", &refused);
}

// ------------------------------------------------------------------------------------------
// Headers to the origin
// ------------------------------------------------------------------------------------------

fn override_and_client_address_headers_never_reach_the_origin(c: &Ctx) {
    let marker = "never_forwarded";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    // (header, value, whether the value itself must not reach the origin under any name).
    let spoofs: [(&str, &str, bool); 24] = [
        ("X-HTTP-Method-Override", "DELETE", false),
        ("X-HTTP-Method", "PUT", false),
        ("X-Method-Override", "PATCH", false),
        ("X-Original-URL", "/admin", false),
        ("X-Rewrite-URL", "/admin/v1/accounts", true),
        ("X-Original-URI", "/admin/v1/keys", true),
        ("True-Client-IP", "198.51.100.11", true),
        ("X-Client-IP", "198.51.100.12", true),
        ("X-Cluster-Client-IP", "198.51.100.13", true),
        ("Client-IP", "198.51.100.14", true),
        ("X-Originating-IP", "198.51.100.15", true),
        (
            "Forwarded",
            "for=198.51.100.16;host=evil.example;proto=https",
            true,
        ),
        ("X-Forwarded-For", "198.51.100.17", true),
        ("X-Forwarded-Host", "evil-host.example", true),
        ("X-Forwarded-Proto", "gopher", true),
        ("X-Real-IP", "198.51.100.18", true),
        // The gateway trusts CF-Connecting-IP as the client address, so its value may be
        // passed on under keygate's own name; the header itself may not.
        ("CF-Connecting-IP", "198.51.100.19", false),
        ("CF-Anything", "cf-spoof-value", true),
        ("X_Keygate_Account", "acct_evil", true),
        ("X_Keygate_Key", "key_evil", true),
        ("CF_Connecting_IP", "198.51.100.20", true),
        ("X_Forwarded_For", "198.51.100.21", true),
        ("X_HTTP_Method_Override", "DELETE", false),
        ("X_Original_URL", "/admin/v1/leaks", true),
    ];
    let norm = |name: &str| name.to_ascii_lowercase().replace('_', "-");
    let mut failures = Vec::new();
    for (i, (name, value, distinct)) in spoofs.iter().enumerate() {
        let trace = format!("{marker}-{i:02}");
        let idem = format!("idem-{marker}-{i:02}");
        let r = send_raw(
            &c.gw,
            "GET",
            format!("/v1/transactions?trace={trace}").as_bytes(),
            &[
                ("Authorization", &format!("Bearer {live}")),
                ("X-Product-Key", &t.pk_live),
                (name, value),
                ("X-Custom-Trace", &trace),
                ("Idempotency-Key", &idem),
            ],
        );
        if r.status != 200 {
            failures.push(format!("{name}: the request must still be forwarded: {r}"));
            continue;
        }
        let got = c.origin.got("", &format!("trace={trace}"));
        let [q] = got.as_slice() else {
            failures.push(format!("{name}: expected one origin request: {got:#?}"));
            continue;
        };
        let mut problems = Vec::new();
        // A name with `_` must not arrive as itself nor folded into its `-` spelling (which,
        // for X_Keygate_*, is keygate's own header: there only the value tells).
        let arrived = |k: &str| {
            if name.contains('_') {
                k.eq_ignore_ascii_case(name)
            } else {
                norm(k) == norm(name)
            }
        };
        if q.headers.iter().any(|(k, _)| arrived(k)) {
            problems.push(format!("{name} reached the origin"));
        }
        if let Some((k, _)) = q.headers.iter().find(|(k, _)| k.contains('_')) {
            problems.push(format!("a header with `_` reached the origin: {k}"));
        }
        if *distinct && let Some((k, _)) = q.headers.iter().find(|(_, v)| v.contains(value)) {
            problems.push(format!("the value of {name} reached the origin as {k}"));
        }
        if q.method != "GET" || q.path != format!("/v1/transactions?trace={trace}") {
            problems.push(format!("the origin got {} {}", q.method, q.path));
        }
        if q.header("x-keygate-account") != Some(t.id.as_str()) {
            problems.push(format!(
                "X-Keygate-Account is {:?}, not {}",
                q.header("x-keygate-account"),
                t.id
            ));
        }
        for h in [
            "x-forwarded-for",
            "x-forwarded-host",
            "x-real-ip",
            "forwarded",
            "cf-connecting-ip",
        ] {
            if q.has_header(h) {
                problems.push(format!("{h} reached the origin"));
            }
        }
        // What must pass, so the test cannot pass by dropping everything.
        if q.header("x-custom-trace") != Some(trace.as_str()) {
            problems.push("X-Custom-Trace did not reach the origin".into());
        }
        if q.header("idempotency-key") != Some(idem.as_str()) {
            problems.push("Idempotency-Key did not reach the origin".into());
        }
        if !problems.is_empty() {
            failures.push(format!("{name}: {value}: {}\n{q:#?}", problems.join("; ")));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ------------------------------------------------------------------------------------------
// Secrets in URLs
// ------------------------------------------------------------------------------------------

fn secret_keys_in_the_url_are_refused_however_encoded(c: &Ctx) {
    let marker = "secret_in_url";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let (_, other) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    let (_, test) = key(&c.gw, &t, "test", json!({"scopes": ["*"]}));
    let mut failures = Vec::new();
    let mut n = 0;
    for leaked in [&live, &other, &test] {
        let first_encoded = format!("%73{}", &leaked[1..]);
        let all_upper: String = leaked.bytes().map(|b| format!("%{b:02X}")).collect();
        let all_lower: String = leaked.bytes().map(|b| format!("%{b:02x}")).collect();
        let double = format!("%2573{}", &leaked[1..]);
        let targets = [
            format!("/v1/accounts/{leaked}"),
            format!("/v1/accounts/{first_encoded}"),
            format!("/v1/accounts/{all_upper}"),
            format!("/v1/accounts/{all_lower}"),
            format!("/v1/accounts/x{leaked}y/transactions"),
            format!("/v1/accounts?k={leaked}"),
            format!("/v1/accounts?k={first_encoded}"),
            format!("/v1/accounts?k={all_upper}"),
            format!("/v1/accounts?k={double}"),
            format!("/v1/accounts?note=x{leaked}&limit=2"),
            format!("/v1/accounts?{leaked}"),
        ];
        for target in targets {
            n += 1;
            let trace = format!("{marker}-{n}");
            let r = send_raw(
                &c.gw,
                "GET",
                target.as_bytes(),
                &[
                    ("Authorization", &format!("Bearer {live}")),
                    ("X-Product-Key", &t.pk_live),
                    ("X-Trace", &trace),
                ],
            );
            let resp = r.to_resp(&format!("GET {target}"));
            let text = format!("{r}");
            if r.status != 400
                || r.json()["errors"][0]["field"] != "url"
                || r.header("x-request-id").is_none()
            {
                failures.push(format!(
                    "{target}: expected 400 with errors[0].field \"url\": {resp}"
                ));
            } else if text.contains(leaked.as_str()) || text.contains(&leaked[8..]) {
                failures.push(format!("{target}: the answer repeats the key: {resp}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    c.origin.assert_got_nothing(&t.id, marker);
}

// ------------------------------------------------------------------------------------------
// Bodies
// ------------------------------------------------------------------------------------------

const LIMIT: usize = 64 * 1024;

/// How long a 413 may take (the answer to a body that never ends).
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// `{"name":"aaa…"}` of exactly `len` bytes.
fn json_body_of(len: usize) -> Vec<u8> {
    let mut body = b"{\"name\":\"".to_vec();
    body.resize(len - 2, b'a');
    body.extend_from_slice(b"\"}");
    body
}

/// `body` as chunks of at most 1 KiB, with the last chunk only when `finish`.
fn chunks(body: &[u8], finish: bool) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = body
        .chunks(1024)
        .map(|c| [format!("{:x}\r\n", c.len()).as_bytes(), c, b"\r\n"].concat())
        .collect();
    if finish {
        out.push(b"0\r\n\r\n".to_vec());
    }
    out
}

/// Whether `r` is wrangler dev's own 503 "Your worker restarted mid-request", which its proxy
/// answers (without the worker, so without `X-Request-Id`) when its connection to the worker
/// was lost — which happens around requests whose body the worker stopped reading.
fn is_runtime_restart(r: &RawResp) -> bool {
    r.status == 503
        && r.header("x-request-id").is_none()
        && String::from_utf8_lossy(&r.body).contains("restarted mid-request")
}

/// [`raw_parts`], sent again (up to 5 times) while the answer is [`is_runtime_restart`].
fn send_parts(port: u16, parts: &[Vec<u8>], timeout: Duration) -> Result<RawResp, String> {
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    let mut last = String::new();
    for _ in 0..5 {
        let r = raw_parts(port, &parts, timeout)?;
        if !is_runtime_restart(&r) {
            return Ok(r);
        }
        last = r.to_string();
    }
    Err(format!("5 times the runtime's own 503: {last}"))
}

/// `head` (request line and headers, without the blank line and without framing) sent with
/// an 80 KiB body that never ends — chunked without the last chunk, or under a
/// `Content-Length` of 10 MB — must be answered 413 while the connection is still open; and a
/// complete chunked body of exactly the limit is not 413, one byte more is. Returns what failed.
fn over_the_limit_problems(port: u16, head: &str) -> Vec<String> {
    let label = head.lines().next().unwrap_or("").to_string();
    let mut problems = Vec::new();
    let body = json_body_of(80 * 1024);
    let chunked_head = format!("{head}Transfer-Encoding: chunked\r\n\r\n");
    let endless_chunked: Vec<Vec<u8>> = std::iter::once(chunked_head.clone().into_bytes())
        .chain(chunks(&body, false))
        .collect();
    let endless_length = vec![
        format!("{head}Content-Length: 10000000\r\n\r\n").into_bytes(),
        body,
    ];
    for (how, parts) in [
        ("chunked, 80 KiB and no last chunk", endless_chunked),
        ("Content-Length: 10000000, 80 KiB sent", endless_length),
    ] {
        let started = Instant::now();
        match send_parts(port, &parts, ANSWER_WITHIN) {
            // Under wrangler dev an answer given without reading or cancelling the request
            // body is held back until that body ends: a worker refusing on `Content-Length`
            // alone must still cancel the body stream for its 413 to leave.
            Err(e) => problems.push(format!(
                "{label} ({how}): no 413 within {ANSWER_WITHIN:?}: the body is waited for \
                 instead of refused once over {LIMIT} bytes (or refused without cancelling the \
                 body stream, which holds the answer back until the body ends): {e}"
            )),
            Ok(r) => {
                let resp = r.to_resp(&label);
                if r.status != 413
                    || resp.json["status"] != json!(413)
                    || resp.request_id().is_none()
                {
                    problems.push(format!(
                        "{label} ({how}): expected a 413 JSON error: {resp}"
                    ));
                } else if started.elapsed() >= ANSWER_WITHIN {
                    problems.push(format!(
                        "{label} ({how}): 413 after {:?}",
                        started.elapsed()
                    ));
                }
            }
        }
    }
    // The limit itself: exactly 64 KiB is read (and judged on its content), one byte more is
    // not, also when chunked.
    for (len, too_large) in [(LIMIT, false), (LIMIT + 1, true)] {
        let parts: Vec<Vec<u8>> = std::iter::once(chunked_head.clone().into_bytes())
            .chain(chunks(&json_body_of(len), true))
            .collect();
        match send_parts(port, &parts, Duration::from_secs(60)) {
            Ok(r) if (r.status == 413) == too_large && r.status < 500 => {}
            Ok(r) => problems.push(format!(
                "{label}: a complete chunked body of {len} bytes (limit {LIMIT}) must {}be \
                 413: {r}",
                if too_large { "" } else { "not " }
            )),
            Err(e) => problems.push(format!("{label}: {len} bytes: {e}")),
        }
    }
    problems
}

/// Both bounded readers: the admin API's and the sandbox's. They run on their own gateway:
/// under wrangler dev, a request whose body is abandoned can make the dev proxy lose its
/// connection to the worker and answer a concurrent non-GET request with its own 503.
fn bodies_over_the_limit_are_413_before_they_end(c: &Ctx) {
    let gw = &c.bodies;
    let marker = "body_limit";
    let (id, entitlements) = account_with(gw, marker, &["insurance"]);
    let pk = product_key_of(&entitlements[0].1, "test");
    let (_, test) = key_of(gw, &id, "test", json!(["*"]));
    let admin_head = format!(
        "POST /admin/v1/accounts HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n\
         Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Type: application/json\r\n",
        gw.port()
    );
    let sandbox_head = format!(
        "POST /v1/quotes HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: Bearer {test}\r\n\
         X-Product-Key: {pk}\r\nContent-Type: application/json\r\n",
        gw.port()
    );
    // Controls first: a small chunked body is read to its end and acted on.
    let small = |head: &str, body: &[u8]| {
        let parts: Vec<Vec<u8>> =
            std::iter::once(format!("{head}Transfer-Encoding: chunked\r\n\r\n").into_bytes())
                .chain(chunks(body, true))
                .collect();
        send_parts(gw.port(), &parts, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"))
    };
    let r = small(
        &admin_head,
        br#"{"name":"e2e chunked admin","agreement":"test"}"#,
    );
    assert_eq!(r.status, 201, "{r}");
    let r = small(&sandbox_head, b"{}");
    assert!(r.status != 413 && r.status < 500, "{r}");
    assert_eq!(r.header("x-sandbox"), Some("true"), "{r}");

    let mut problems = over_the_limit_problems(gw.port(), &admin_head);
    problems.extend(over_the_limit_problems(gw.port(), &sandbox_head));
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

// ------------------------------------------------------------------------------------------
// Admin paths
// ------------------------------------------------------------------------------------------

fn admin_paths_are_canonical_segments_only(c: &Ctx) {
    let auth = format!("Bearer {ADMIN_TOKEN}");
    let r = send_raw(
        &c.gw,
        "GET",
        b"/admin/v1/accounts",
        &[("Authorization", &auth)],
    );
    assert_eq!(r.status, 200, "{r}");
    assert!(r.json()["data"].is_array(), "the account list: {r}");
    let mut failures = Vec::new();
    for target in [
        "/admin/v1accounts",
        "/admin/v1//accounts",
        "/admin/v1/accounts/",
        "/admin/v1/./accounts",
        "/admin/v1/x/../accounts",
        "/admin/v1/%2e/accounts",
        "/admin/v1/%61ccounts",
        "/admin/v1;x/accounts",
        "/admin//v1/accounts",
        "/admin/v1/accounts;x",
        "/admin/v1/accounts%2F",
        "/admin/v1/accounts%2f",
        "/admin/v1/Accounts",
        "/admin/V1/accounts",
        "/admin/v1/accounts/x/../",
    ] {
        let r = send_raw(&c.gw, "GET", target.as_bytes(), &[("Authorization", &auth)]);
        let resp = r.to_resp(&format!("GET {target}"));
        // workerd resolves dot segments (also `%2e`) before the worker runs, so the worker is
        // asked for /admin/v1/accounts itself: then its answer is the canonical path's, the
        // account list. Every other spelling reaches the worker as sent.
        let dots = target.contains("/./") || target.contains("/../") || target.contains("%2e");
        if dots && r.status == 200 && r.json()["data"].is_array() {
            continue;
        }
        if r.status != 404
            || r.json()["status"] != json!(404)
            || r.header("x-request-id").is_none()
            || r.json()["data"].is_array()
        {
            failures.push(format!("{target}: expected 404 JSON: {resp}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

// ------------------------------------------------------------------------------------------
// HIDE_FORBIDDEN
// ------------------------------------------------------------------------------------------

/// Status, body and headers, without the per-request `X-Request-Id` and `Date`.
fn comparable(r: &Resp) -> (u16, Vec<u8>, BTreeSet<(String, String)>) {
    let headers = r
        .headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("x-request-id") && !k.eq_ignore_ascii_case("date"))
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    (r.status, r.body.clone(), headers)
}

fn hidden_forbidden_routes_are_indistinguishable_from_unknown_ones(c: &Ctx) {
    let gw = &c.hidden;
    let marker = "hidden_same";
    let t = tenant(gw, marker, json!({}));
    let other = tenant(gw, &format!("{marker}-other"), json!({}));
    let (_, live) = key(gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    let unknown = gw.get("/v1/nothing_here").bearer(&live).send();
    assert_error(&unknown, 404);
    let reference = comparable(&unknown);

    let body = Some(json!({"amount": 100, "currency": "EUR"}));
    let nested = "/v1/accounts/acc_hidden/transactions";
    let (bank, pay) = (t.pk_live.as_str(), t.pay_live.as_str());
    let cases: Vec<(&str, &str, Option<&str>, Option<Value>)> = vec![
        ("GET", "/v1/transactions", Some(bank), None),
        ("GET", "/v1/transactions", None, None),
        (
            "GET",
            "/v1/transactions",
            Some(other.pk_live.as_str()),
            None,
        ),
        ("GET", "/v1/transactions", Some("pk_live_malformed"), None),
        ("GET", "/v1/transactions/tx_1", Some(bank), None),
        ("POST", "/v1/payment_orders", Some(pay), body.clone()),
        ("POST", "/v1/payment_orders", Some(pay), None),
        ("POST", "/v1/payment_orders", None, body.clone()),
        (
            "POST",
            "/v1/payment_orders",
            Some(&other.pay_live),
            body.clone(),
        ),
        ("GET", "/v1/payment_orders", Some(pay), None),
        ("DELETE", "/v1/transactions", Some(bank), None),
        ("DELETE", "/v1/transactions", None, None),
        ("PUT", "/v1/transactions/tx_1", Some(bank), body.clone()),
        ("GET", nested, Some(bank), None),
        ("GET", nested, None, None),
        ("GET", nested, Some(other.pk_live.as_str()), None),
        ("GET", nested, Some(pay), None),
        (
            "GET",
            "/v1/accounts/acc_hidden/payment_orders",
            Some(pay),
            None,
        ),
        ("GET", "/v1/accounts/acc_hidden/payment_orders", None, None),
        ("GET", "/v1/sandbox/reset", None, None),
        ("POST", "/v1/sandbox/reset", None, None),
        ("GET", "/v1/sandbox/scenarios", None, None),
        // The unknown route itself, however asked.
        ("GET", "/v1/nothing_here", Some(bank), None),
        ("POST", "/v1/nothing_here", None, body.clone()),
        ("DELETE", "/v1/nothing_here", None, None),
    ];
    let mut failures = Vec::new();
    for (method, path, pk, body) in cases {
        let mut req = gw
            .request(method, &format!("{path}?trace={marker}"))
            .bearer(&live);
        if let Some(pk) = pk {
            req = req.product_key(pk);
        }
        if let Some(body) = &body {
            req = req.json(body);
        }
        let r = req.send();
        if comparable(&r) != reference {
            failures.push(format!(
                "{method} {path} (product key {pk:?}, body {}):\n{r}",
                body.is_some()
            ));
        }
        if r.request_id()
            .is_none_or(|id| Some(id) == unknown.request_id())
        {
            failures.push(format!("{method} {path}: no fresh X-Request-Id: {r}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} answers differ from the unknown route's:\n{unknown}\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    c.origin.assert_got_nothing(&t.id, marker);
}

fn hidden_forbidden_keeps_405_for_a_path_the_key_can_use(c: &Ctx) {
    let gw = &c.hidden;
    let marker = "hidden_405";
    let t = tenant(gw, marker, json!({}));
    let (_, live) = key(gw, &t, "live", json!({"scopes": ["accounts:read"]}));
    for path in ["/v1/accounts", "/v1/accounts/acc_h405"] {
        let r = gw
            .delete(&format!("{path}?trace={marker}"))
            .bearer(&live)
            .product_key(&t.pk_live)
            .send();
        assert_error(&r, 405);
        let allow = r.header("allow").unwrap_or_else(|| panic!("no Allow: {r}"));
        let mut listed: Vec<&str> = allow.split(',').map(str::trim).collect();
        listed.sort_unstable();
        assert_eq!(listed, ["GET", "HEAD"], "{r}");
    }
    c.origin.assert_got_nothing(&t.id, marker);
}
