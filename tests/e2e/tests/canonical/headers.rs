//! Headers to the origin.

use super::*;

pub(crate) fn override_and_client_address_headers_never_reach_the_origin(c: &Ctx) {
    let marker = "never_forwarded";
    let t = tenant(&c.gw, marker, json!({}));
    let (_, live) = key(&c.gw, &t, "live", json!({"scopes": ["*"]}));
    // (header, value, whether the value itself must not reach the origin under any name).
    // Requests that claim another method or target:
    let overrides = [
        ("X-HTTP-Method-Override", "DELETE", false),
        ("X-HTTP-Method", "PUT", false),
        ("X-Method-Override", "PATCH", false),
        ("X-Original-URL", "/admin", false),
        ("X-Rewrite-URL", "/admin/v1/accounts", true),
        ("X-Original-URI", "/admin/v1/keys", true),
    ];
    // Claims about the client and the way it came:
    let addresses = [
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
    ];
    let cloudflare = [
        // The gateway trusts CF-Connecting-IP as the client address, so its value may be
        // passed on under keygate's own name; the header itself may not.
        ("CF-Connecting-IP", "198.51.100.19", false),
        ("CF-Anything", "cf-spoof-value", true),
    ];
    // Names with `_`, which a proxy may fold into the `-` spelling:
    let underscores = [
        ("X_Keygate_Account", "acct_evil", true),
        ("X_Keygate_Key", "key_evil", true),
        ("CF_Connecting_IP", "198.51.100.20", true),
        ("X_Forwarded_For", "198.51.100.21", true),
        ("X_HTTP_Method_Override", "DELETE", false),
        ("X_Original_URL", "/admin/v1/leaks", true),
    ];
    let spoofs: Vec<(&str, &str, bool)> =
        [&overrides[..], &addresses, &cloudflare, &underscores].concat();
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
