//! Reads, routing, methods and scenarios.

use super::*;
use crate::CLOCK_HEADER;
use serde_json::json;
use std::collections::BTreeSet;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn list_returns_the_envelope_with_the_default_page_size() {
    let mut client = Client::new();
    let (status, body) = client.get("/v1/transactions");
    assert_eq!(status, 200);
    assert_eq!(body["object"], "list");
    assert_eq!(body["has_more"], true);
    let data = body["data"].as_array().unwrap();
    assert_eq!(data.len(), 10);
    let expected: Vec<Value> = records("transactions.json").into_iter().take(10).collect();
    assert_eq!(data, &expected, "static records come in file order");
    // id and object lead each rendered object.
    let (_, raw) = client.get("/v1/owners");
    let first = raw["data"][0].clone();
    let response = client.send(
        "GET",
        &format!("/v1/owners/{}", first["id"].as_str().unwrap()),
        b"",
        None,
        None,
    );
    assert!(
        response.body.starts_with("{\"id\":\"own_"),
        "{}",
        response.body
    );
    assert!(
        response.body[..60].contains(",\"object\":\"owner\","),
        "{}",
        response.body
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn paging_walks_every_collection_without_gaps_or_repeats() {
    for info in sandbox().collections() {
        let file = format!("{}.json", info.name);
        let expected: Vec<String> = records(&file)
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect();
        for limit in [1, 7, 10, 100] {
            let mut client = Client::new();
            let mut seen = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let url = match &after {
                    None => format!("/v1/{}?limit={limit}", info.name),
                    Some(id) => format!("/v1/{}?limit={limit}&starting_after={id}", info.name),
                };
                let (status, page) = client.get(&url);
                assert_eq!(status, 200, "{url}");
                let data = page["data"].as_array().unwrap();
                assert!(data.len() <= limit);
                seen.extend(data.iter().map(|o| o["id"].as_str().unwrap().to_string()));
                if page["has_more"] == false {
                    break;
                }
                assert_eq!(data.len(), limit, "a page with more after it is full");
                after = seen.last().cloned();
            }
            assert_eq!(seen, expected, "{} with limit {limit}", info.name);
            let unique: BTreeSet<&String> = seen.iter().collect();
            assert_eq!(unique.len(), seen.len());
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bad_paging_parameters_are_400_naming_the_parameter() {
    let mut client = Client::new();
    for query in ["limit=0", "limit=101", "limit=ten", "limit=-1", "limit="] {
        let (status, body) = client.get(&format!("/v1/accounts?{query}"));
        assert_eq!(status, 400, "{query}");
        assert_eq!(error_fields(&body), ["limit"], "{query}");
    }
    let (status, body) = client.get("/v1/accounts?starting_after=ba_doesnotexist");
    assert_eq!(status, 400);
    assert_eq!(error_fields(&body), ["starting_after"]);
    // A cursor from another collection is not in this list either.
    let tx = first("transactions.json", |_| true);
    let (status, _) = client.get(&format!(
        "/v1/accounts?starting_after={}",
        tx["id"].as_str().unwrap()
    ));
    assert_eq!(status, 400);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn filters_match_exactly_and_combine() {
    let mut client = Client::new();
    let all = records("transactions.json");
    let salaries = client.list_all("/v1/transactions?category=salary");
    assert_eq!(
        salaries.len(),
        all.iter().filter(|t| t["category"] == "salary").count()
    );
    assert!(!salaries.is_empty() && salaries.iter().all(|t| t["category"] == "salary"));

    let account = first("accounts.json", |a| a["type"] == "current");
    let id = account["id"].as_str().unwrap();
    let debits = client.list_all(&format!(
        "/v1/transactions?account_id={id}&credit_debit=debit"
    ));
    let expected = all
        .iter()
        .filter(|t| t["account_id"] == id && t["credit_debit"] == "debit")
        .count();
    assert!(expected > 0);
    assert_eq!(debits.len(), expected);

    // Numbers and booleans match on their JSON text; nothing matches a near miss.
    let (_, closed) = client.get("/v1/accounts?status=closed");
    assert_eq!(closed["data"].as_array().unwrap().len(), 1);
    assert_eq!(closed["has_more"], false);
    let (_, none) = client.get("/v1/accounts?status=Closed");
    assert_eq!(none["data"], json!([]));
    // A filter on a value that needs percent-decoding.
    let date = all[0]["booking_date"].as_str().unwrap();
    let on_day = client.list_all(&format!(
        "/v1/transactions?booking_date={}",
        date.replace('-', "%2D")
    ));
    assert_eq!(
        on_day.len(),
        all.iter().filter(|t| t["booking_date"] == date).count()
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn unknown_or_repeated_filters_are_400_naming_them() {
    let mut client = Client::new();
    let (status, body) = client.get("/v1/transactions?amount=100&colour=red&limit=5");
    assert_eq!(status, 400);
    assert_eq!(error_fields(&body), ["amount", "colour"]);
    assert!(
        error_for(&body, "colour").contains("category"),
        "the message lists the filters"
    );
    let (status, body) = client.get("/v1/transactions?category=rent&category=salary");
    assert_eq!(status, 400);
    assert_eq!(error_fields(&body), ["category"]);
    // Paging and filter errors come together.
    let (status, body) = client.get("/v1/owners?limit=0&nope=1");
    assert_eq!(status, 400);
    assert_eq!(error_fields(&body), ["limit", "nope"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn get_by_id_returns_the_record_and_404_otherwise() {
    let mut client = Client::new();
    for info in sandbox().collections() {
        for record in records(&format!("{}.json", info.name)).iter().step_by(17) {
            let (status, body) = client.get(&format!(
                "/v1/{}/{}",
                info.name,
                record["id"].as_str().unwrap()
            ));
            assert_eq!(status, 200);
            assert_eq!(&body, record);
        }
        let (status, body) = client.get(&format!("/v1/{}/{}unknown", info.name, info.id_prefix));
        assert_eq!(status, 404);
        assert!(body["message"].as_str().unwrap().contains(info.object));
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn unknown_routes_are_404() {
    let mut client = Client::new();
    let (status, body) = client.get("/v1/unicorns");
    assert_eq!(status, 404);
    assert!(
        body["message"].as_str().unwrap().contains("transactions"),
        "lists the collections"
    );
    for path in [
        "/",
        "/v1",
        "/v1/",
        "/v2/accounts",
        "/v1/accounts/",
        "/v1/sandbox",
        "/v1/sandbox/nothing",
        "/v1/accounts/ba_x/transactions/tx_y",
        "/v1/owners/own_x/transactions",
        "/v1/unicorns/1/horns",
    ] {
        let (status, _) = client.get(path);
        assert_eq!(status, 404, "{path}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn nested_lists_hold_the_children_of_the_parent() {
    let mut client = Client::new();
    let transactions = records("transactions.json");
    for account in records("accounts.json") {
        let id = account["id"].as_str().unwrap();
        let listed = client.list_all(&format!("/v1/accounts/{id}/transactions"));
        let expected: Vec<&Value> = transactions
            .iter()
            .filter(|t| t["account_id"] == id)
            .collect();
        assert_eq!(listed.iter().collect::<Vec<_>>(), expected, "{id}");
    }
    let owner = first("owners.json", |o| o["name"] == "Lena Hoffmann");
    let accounts = client.list_all(&format!(
        "/v1/owners/{}/accounts",
        owner["id"].as_str().unwrap()
    ));
    assert_eq!(accounts.len(), 2);
    assert!(accounts.iter().all(|a| a["owner_id"] == owner["id"]));

    // Filters and paging apply inside a nested list.
    let account = first("accounts.json", |a| a["type"] == "current");
    let id = account["id"].as_str().unwrap();
    let (status, page) = client.get(&format!(
        "/v1/accounts/{id}/transactions?category=groceries&limit=2"
    ));
    assert_eq!(status, 200);
    assert_eq!(page["data"].as_array().unwrap().len(), 2);
    assert!(
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["category"] == "groceries" && t["account_id"] == id)
    );

    let (status, body) = client.get("/v1/accounts/ba_doesnotexist/transactions");
    assert_eq!(status, 404);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("ba_doesnotexist")
    );
    let (status, body) = client.get(&format!("/v1/accounts/{id}/quotes"));
    assert_eq!(status, 404);
    assert!(
        body["message"].as_str().unwrap().contains("statements"),
        "lists the nested lists"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_declared_nested_list_answers() {
    let mut client = Client::new();
    let sandbox = sandbox();
    let mut count = 0;
    for info in sandbox.collections() {
        let parent = &records(&format!("{}.json", info.name))[0];
        for child in &info.nested {
            let (status, body) = client.get(&format!(
                "/v1/{}/{}/{child}",
                info.name,
                parent["id"].as_str().unwrap()
            ));
            assert_eq!(status, 200, "{}/{child}: {body}", info.name);
            count += 1;
        }
    }
    assert!(
        count >= 8,
        "accounts, owners, products, quotes and transactions have nested lists"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn wrong_methods_are_405_with_allow() {
    let mut client = Client::new();
    let account = first("accounts.json", |_| true);
    let id = account["id"].as_str().unwrap();
    let cases = [
        ("DELETE", "/v1/accounts".to_string(), "GET, HEAD"),
        ("POST", "/v1/accounts".to_string(), "GET, HEAD"),
        ("PUT", "/v1/quotes".to_string(), "GET, HEAD, POST"),
        ("PATCH", format!("/v1/accounts/{id}"), "GET, HEAD"),
        (
            "POST",
            format!("/v1/accounts/{id}/transactions"),
            "GET, HEAD",
        ),
        ("GET", "/v1/sandbox/reset".to_string(), "POST"),
        ("POST", "/v1/sandbox/scenarios".to_string(), "GET, HEAD"),
        ("OPTIONS", "/v1/policies".to_string(), "GET, HEAD, POST"),
    ];
    for (method, path, allow) in cases {
        let response = client.send(method, &path, b"{}", None, None);
        assert_eq!(response.status, 405, "{method} {path}");
        assert_eq!(response.header("Allow"), Some(allow), "{method} {path}");
    }
    // HEAD is answered like GET (the runtime drops the body).
    let get = client.send("GET", &format!("/v1/accounts/{id}"), b"", None, None);
    let head = client.send("HEAD", &format!("/v1/accounts/{id}"), b"", None, None);
    assert_eq!(get, head);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn error_scenarios_answer_their_status_and_process_nothing() {
    let quote = json!({"product_id": "ins_x"});
    for (name, status, retry_after, delay) in [
        ("rate_limited", 429, Some("2"), 0),
        ("server_error", 500, None, 0),
        ("unavailable", 503, Some("5"), 0),
        ("timeout", 504, None, 10_000),
    ] {
        let mut client = Client::new();
        for (method, path) in [
            ("GET", "/v1/accounts"),
            ("POST", "/v1/quotes"),
            ("POST", "/v1/sandbox/reset"),
            ("GET", "/v1/nope"),
        ] {
            let response = client.send(
                method,
                path,
                quote.to_string().as_bytes(),
                Some("k1"),
                Some(name),
            );
            assert_eq!(response.status, status, "{name} {method} {path}");
            assert_eq!(response.header("Retry-After"), retry_after, "{name}");
            assert_eq!(response.delay_ms, delay, "{name}");
            assert!(!response.state_changed);
            assert!(json(&response)["message"].as_str().unwrap().contains(name));
        }
        assert!(client.state.is_empty());
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn slow_scenario_gives_the_normal_answer_late() {
    let mut client = Client::new();
    let normal = client.send("GET", "/v1/owners?limit=3", b"", None, None);
    let slow = client.send("GET", "/v1/owners?limit=3", b"", None, Some("slow"));
    assert_eq!(slow.delay_ms, 3_000);
    assert_eq!((slow.status, &slow.body), (normal.status, &normal.body));
    // Errors are delayed too, and writes still happen.
    let missing = client.send("GET", "/v1/owners/own_nope", b"", None, Some("slow"));
    assert_eq!((missing.status, missing.delay_ms), (404, 3_000));
    let account = first("accounts.json", |a| {
        a["status"] == "open" && a["currency"] == "EUR"
    });
    let order = json!({"debtor_account_id": account["id"], "creditor_name": "Slow GmbH",
        "creditor_iban": "DE89370400440532013000", "amount": 1250});
    let created = client.send(
        "POST",
        "/v1/payment_orders",
        order.to_string().as_bytes(),
        None,
        Some("slow"),
    );
    assert_eq!(
        (created.status, created.delay_ms, created.state_changed),
        (201, 3_000, true)
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn unknown_scenario_is_400_listing_the_valid_ones() {
    let mut client = Client::new();
    for value in ["explode", "", "RATE_LIMITED", "slow "] {
        let response = client.send("GET", "/v1/accounts", b"", None, Some(value));
        assert_eq!(response.status, 400, "{value:?}");
        let body = json(&response);
        let message = error_for(&body, "X-Sandbox-Scenario");
        for name in [
            "rate_limited",
            "server_error",
            "unavailable",
            "timeout",
            "slow",
        ] {
            assert!(message.contains(name), "{message}");
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn scenarios_endpoint_lists_scenarios_and_magic_values_from_the_data() {
    let mut client = Client::new();
    let (status, body) = client.get("/v1/sandbox/scenarios");
    assert_eq!(status, 200);
    assert_eq!(body["object"], "sandbox_scenarios");
    assert_eq!(body["header"], "X-Sandbox-Scenario");
    let names: Vec<&str> = body["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "rate_limited",
            "server_error",
            "unavailable",
            "timeout",
            "slow"
        ]
    );
    let declared: Value = records_value("scenarios.json");
    assert_eq!(body["magic_values"], declared["magic_values"]);
    let magic = body["magic_values"].as_array().unwrap();
    assert!(
        magic
            .iter()
            .any(|m| m["collection"] == "payment_orders" && m["equals"] == 66666)
    );
    assert!(
        magic
            .iter()
            .any(|m| m["collection"] == "quotes" && m["set"]["status"] == "declined")
    );
}

fn records_value(file: &str) -> Value {
    let (_, text) = crate::EMBEDDED_FILES
        .iter()
        .find(|(n, _)| *n == file)
        .unwrap();
    serde_json::from_str(text).unwrap()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn needs_state_is_false_only_where_state_cannot_matter() {
    // A state with created objects, updated records and a clock moved ahead.
    let mut busy = Client::new();
    let product = first("insurance_products.json", |p| p["line"] == "liability");
    let (status, quote) = busy.post(
        "/v1/quotes",
        &json!({"product_id": product["id"], "coverage": "single",
            "holder": {"name": "Ada Test", "email": "ada@example.com", "date_of_birth": "1990-01-01"},
            "risk": {"country": "DE", "household": "single"}}),
    );
    assert_eq!(status, 201);
    let (status, _) = busy.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_eq!(status, 201);
    let (status, _) = busy.post("/v1/sandbox/clock", &json!({"advance": {"days": 40}}));
    assert_eq!(status, 200);
    let account = first("accounts.json", |a| a["status"] == "open");
    let owner = first("owners.json", |_| true);
    let paths = [
        "/v1/sandbox/scenarios".to_string(),
        "/v1/sandbox/clock".to_string(),
        "/v1/owners".to_string(),
        format!("/v1/owners/{}/accounts", owner["id"].as_str().unwrap()),
        format!("/v1/accounts/{}", account["id"].as_str().unwrap()),
        format!(
            "/v1/accounts/{}/payment_orders",
            account["id"].as_str().unwrap()
        ),
        "/v1/quotes?status=offered".to_string(),
        format!("/v1/quotes/{}", quote["id"].as_str().unwrap()),
        "/v1/insurance_products".to_string(),
        "/v1/nope".to_string(),
        "/v1/sandbox/nope".to_string(),
    ];
    let mut stateless = Vec::new();
    for path in &paths {
        let (p, q) = path.split_once('?').unwrap_or((path, ""));
        let req = SandboxRequest {
            method: "GET",
            path: p,
            query: q,
            body: b"",
            idempotency_key: None,
            scenario: None,
            readable: crate::Readable::All,
            require_https: true,
        };
        let with_state = busy.send("GET", path, b"", None, None);
        if sandbox().needs_state(&req) {
            assert!(with_state.header(CLOCK_HEADER).is_some(), "{path}");
        } else {
            stateless.push(path.as_str());
            assert_eq!(with_state.header(CLOCK_HEADER), None, "{path}");
            let mut empty = Client::new();
            assert_eq!(
                empty.send("GET", path, b"", None, None),
                with_state,
                "{path}"
            );
        }
    }
    assert_eq!(
        stateless,
        ["/v1/sandbox/scenarios", "/v1/nope", "/v1/sandbox/nope"],
        "every collection is seen through the account's clock"
    );
    let post = SandboxRequest {
        method: "POST",
        path: "/v1/owners",
        query: "",
        body: b"",
        idempotency_key: None,
        scenario: None,
        readable: crate::Readable::All,
        require_https: true,
    };
    assert!(sandbox().needs_state(&post));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn hostile_input_never_panics_and_always_answers_json() {
    let mut client = Client::new();
    let long = "x".repeat(5_000);
    let deep = "[".repeat(10_000);
    let methods = ["GET", "POST", "HEAD", "DELETE", "get", ""];
    let paths = [
        "".to_string(),
        "/".to_string(),
        "/v1/quotes".to_string(),
        "/v1/payment_orders".to_string(),
        "/v1/policies".to_string(),
        format!("/v1/{long}"),
        format!("/v1/accounts/{long}/transactions"),
        "/v1/accounts/%00/transactions".to_string(),
        "/v1/ünïcödé/😀".to_string(),
        "/v1/sandbox/reset".to_string(),
    ];
    let queries = [
        "",
        "?",
        "limit=%FF%FE",
        "starting_after=&limit=5",
        "a=%",
        "&&&==&",
        "limit=99999999999999999999999",
    ];
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"[]".to_vec(),
        b"{\"product_id\": 5}".to_vec(),
        b"{\"quote_id\": {\"$ne\": null}}".to_vec(),
        b"{\"amount\": 1e400}".to_vec(),
        b"{\"holder\": []}".to_vec(),
        vec![0xff, 0xfe, 0x00],
        deep.into_bytes(),
        format!("{{\"creditor_name\": \"{long}\"}}").into_bytes(),
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    for method in methods {
        for path in &paths {
            for query in queries {
                for body in &bodies {
                    let key = match seed % 4 {
                        0 => None,
                        1 => Some("k"),
                        2 => Some("ключ"),
                        _ => Some(""),
                    };
                    seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                    let target = format!("{path}?{}", query.trim_start_matches('?'));
                    let response = client.send(method, &target, body, key, None);
                    assert!((200..600).contains(&response.status));
                }
            }
        }
    }
}
