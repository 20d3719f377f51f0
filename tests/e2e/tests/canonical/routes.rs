//! Paths: the route table, each configured route forwarded exactly, and odd canonical targets byte
//! for byte.

use super::*;

/// The route table of the canonical-requests issue: each route's scope and product.
pub(crate) const ROUTES: [(&str, &str, &str, &str); 13] = [
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

pub(crate) fn route_table_names_the_scope_and_product_of_every_route(c: &Ctx) {
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
pub(crate) fn every_configured_route_forwards_its_exact_path_and_nothing_below_it(c: &Ctx) {
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

pub(crate) fn origin_receives_an_odd_canonical_path_and_query_byte_for_byte(c: &Ctx) {
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
        let r = send_traced(&c.gw, target.as_bytes(), &live, &t.pk_live, &trace);
        assert_eq!(r.status, 200, "{target}: {r}");
        let got = traced(c, &trace);
        assert_eq!(got.len(), 1, "{target}: {got:#?}");
        assert_eq!(
            got[0].path, *target,
            "the origin must receive the authorised target byte for byte"
        );
    }
}
