//! The sandbox clock and the lifecycles it drives.

use super::writes::{order, product, travel_quote};
use super::*;
use crate::{CLOCK_HEADER, MAX_CLOCK_AHEAD_DAYS, MAX_CLOCK_STEP_DAYS, date};
use serde_json::json;

const DAY: i64 = 86_400;

fn day(offset: i64) -> String {
    date::format(date::today(NOW) + offset)
}

fn move_clock(client: &mut Client, body: &Value) -> (u16, Value) {
    client.post("/v1/sandbox/clock", body)
}

/// The clock as `GET /v1/sandbox/clock` shows it, checked against the header of the answer.
fn clock(client: &mut Client) -> Value {
    let response = client.send("GET", "/v1/sandbox/clock", b"", None, None);
    assert_eq!(response.status, 200);
    let body = json(&response);
    assert_eq!(
        response.header(CLOCK_HEADER),
        body["now"].as_str(),
        "the header and the body agree"
    );
    body
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_clock_reads_real_time_until_moved() {
    let mut client = Client::new();
    assert_eq!(
        clock(&mut client),
        json!({"object": "sandbox_clock", "now": "2026-10-31T12:00:00Z", "today": "2026-10-31",
            "real_time": true, "frozen": false, "ahead_seconds": 0})
    );
    // Real time passes for it as for everyone.
    client.now += 90;
    assert_eq!(clock(&mut client)["now"], "2026-10-31T12:01:30Z");
    assert!(client.state.is_empty(), "reading the clock stores nothing");
    // Every answer read through the account's sandbox carries it, errors included.
    for path in ["/v1/owners", "/v1/quotes/qt_nothing", "/v1/sandbox/reset"] {
        let response = client.send("GET", path, b"", None, None);
        assert_eq!(
            response.header(CLOCK_HEADER),
            Some("2026-10-31T12:01:30Z"),
            "{path}"
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn advancing_moves_every_date_the_sandbox_reads() {
    let mut client = Client::new();
    let (status, moved) = move_clock(&mut client, &json!({"advance": {"days": 3, "hours": 2}}));
    assert_eq!(status, 200, "{moved}");
    assert_eq!(
        moved,
        json!({"object": "sandbox_clock", "now": "2026-11-03T14:00:00Z", "today": "2026-11-03",
            "real_time": false, "frozen": false, "ahead_seconds": 3 * DAY + 7_200})
    );
    // Time keeps passing from there.
    client.now += 60;
    assert_eq!(clock(&mut client)["now"], "2026-11-03T14:01:00Z");

    // Defaults, `created` and date rules read the sandbox's day.
    let (status, created) = client.post("/v1/payment_orders", &order(700));
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["requested_execution_date"], day(3));
    assert_eq!(created["created"], NOW + 60 + 3 * DAY + 7_200);
    let mut yesterday = order(700);
    yesterday["requested_execution_date"] = json!(day(2));
    let (status, error) = client.post("/v1/payment_orders", &yesterday);
    assert_eq!(status, 400, "the sandbox's yesterday: {error}");
    assert_eq!(error_fields(&error), ["requested_execution_date"]);
    let (_, quote) = client.post("/v1/quotes", &travel_quote("IT"));
    assert_eq!(quote["valid_until"], day(33));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn moving_to_a_day_starts_it_and_the_clock_never_goes_back() {
    let mut client = Client::new();
    let (status, moved) = move_clock(&mut client, &json!({"to": day(10)}));
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["now"], format!("{}T00:00:00Z", day(10)));
    // The clock's own day: nothing to do.
    client.now += 3_600;
    let before = client.state.clone();
    let response = client.send(
        "POST",
        "/v1/sandbox/clock",
        json!({"to": day(10)}).to_string().as_bytes(),
        None,
        None,
    );
    assert_eq!(response.status, 200);
    assert!(!response.state_changed);
    assert_eq!(client.state, before);
    assert_eq!(json(&response)["now"], format!("{}T01:00:00Z", day(10)));

    let (status, error) = move_clock(&mut client, &json!({"to": day(9)}));
    assert_eq!(status, 400, "{error}");
    assert_eq!(error_fields(&error), ["to"]);
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("forward") && message.contains("/v1/sandbox/reset"),
        "{message}"
    );

    // At most MAX_CLOCK_STEP_DAYS per call, MAX_CLOCK_AHEAD_DAYS in all.
    let (status, error) = move_clock(&mut client, &json!({"to": day(11 + MAX_CLOCK_STEP_DAYS)}));
    assert_eq!(status, 400, "{error}");
    let (status, error) = move_clock(
        &mut client,
        &json!({"advance": {"days": MAX_CLOCK_STEP_DAYS, "hours": 1}}),
    );
    assert_eq!(status, 400, "{error}");
    assert_eq!(error_fields(&error), ["advance"]);
    let mut moved_days = 10;
    while moved_days + MAX_CLOCK_STEP_DAYS <= MAX_CLOCK_AHEAD_DAYS {
        let (status, _) = move_clock(
            &mut client,
            &json!({"advance": {"days": MAX_CLOCK_STEP_DAYS}}),
        );
        assert_eq!(status, 200);
        moved_days += MAX_CLOCK_STEP_DAYS;
    }
    let (status, error) = move_clock(
        &mut client,
        &json!({"advance": {"days": MAX_CLOCK_STEP_DAYS}}),
    );
    assert_eq!(status, 409, "{error}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset")
    );

    // A reset brings it back to real time.
    let response = client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert_eq!(json(&response)["clock_reset"], true);
    assert_eq!(clock(&mut client)["real_time"], true);
    assert!(client.state.is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_bad_move_names_every_fault_and_moves_nothing() {
    let mut client = Client::new();
    let cases: [(&[u8], &[&str]); 12] = [
        (b"{}", &[]),
        (b"not json", &[]),
        (b"[]", &[]),
        (br#"{"advance": {"days": 1}, "to": "2027-01-01"}"#, &["to"]),
        (br#"{"advance": {"days": 1}, "when": 1}"#, &["when"]),
        (br#"{"advance": 3}"#, &["advance"]),
        (br#"{"advance": {}}"#, &["advance"]),
        (br#"{"advance": {"days": 0, "hours": 0}}"#, &["advance"]),
        (br#"{"advance": {"days": -1}}"#, &["advance.days"]),
        (
            br#"{"advance": {"days": 1.5, "hours": "2"}}"#,
            &["advance.days", "advance.hours"],
        ),
        (br#"{"advance": {"weeks": 1}}"#, &["advance.weeks"]),
        (br#"{"to": "2027-02-30"}"#, &["to"]),
    ];
    for (body, fields) in cases {
        let response = client.send("POST", "/v1/sandbox/clock", body, None, None);
        let text = String::from_utf8_lossy(body);
        assert_eq!(response.status, 400, "{text}: {}", response.body);
        assert_eq!(error_fields(&json(&response)), *fields, "{text}");
        assert!(!response.state_changed, "{text}");
    }
    let long = format!(r#"{{"advance": {{"days": "{}"}}}}"#, "9".repeat(500));
    let response = client.send("POST", "/v1/sandbox/clock", long.as_bytes(), None, None);
    assert_eq!(response.status, 400);
    assert!(response.body.len() < 600, "input is not echoed whole");
    let response = client.send("DELETE", "/v1/sandbox/clock", b"", None, None);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("GET, HEAD, POST"));
    assert_eq!(clock(&mut client)["real_time"], true);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn one_accounts_clock_never_moves_anothers() {
    let mut first = Client::new();
    let mut second = Client::new();
    let (_, quote) = first.post("/v1/quotes", &travel_quote("IT"));
    move_clock(&mut first, &json!({"advance": {"days": 60}}));
    assert_eq!(clock(&mut first)["today"], day(60));
    assert_eq!(clock(&mut second)["today"], day(0));
    let (_, seen) = first.get(&format!("/v1/quotes/{}", quote["id"].as_str().unwrap()));
    assert_eq!(seen["status"], "expired");
    assert!(second.state.is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_quote_is_offered_until_its_valid_until_then_expired() {
    let mut client = Client::new();
    let (_, quote) = client.post("/v1/quotes", &travel_quote("IT"));
    let id = quote["id"].as_str().unwrap().to_string();
    assert_eq!(quote["status"], "offered");
    move_clock(&mut client, &json!({"advance": {"days": 30}}));
    let (_, on_last_day) = client.get(&format!("/v1/quotes/{id}"));
    assert_eq!(on_last_day["status"], "offered", "valid on its valid_until");
    move_clock(&mut client, &json!({"advance": {"days": 1}}));
    let (_, after) = client.get(&format!("/v1/quotes/{id}"));
    assert_eq!(after["status"], "expired");
    assert_eq!(
        after["valid_until"], quote["valid_until"],
        "only the state moves"
    );
    // Lists, filters and nested lists see the same state.
    let expired = client.list_all("/v1/quotes?status=expired");
    assert!(expired.iter().any(|q| q["id"] == id.as_str()));
    assert!(
        client
            .list_all("/v1/quotes?status=offered")
            .iter()
            .all(|q| q["id"] != id.as_str())
    );
    let nested = client.list_all(&format!(
        "/v1/insurance_products/{}/quotes?status=expired",
        quote["product_id"].as_str().unwrap()
    ));
    assert!(nested.iter().any(|q| q["id"] == id.as_str()));
    // And so does the write rule that binds a quote.
    let (status, error) = client.post("/v1/policies", &json!({"quote_id": id}));
    assert_eq!(status, 409);
    assert!(error_for(&error, "quote_id").contains("expired"), "{error}");
    // Nothing was stored by time passing: the state holds the quote as created.
    assert_eq!(client.state.created["quotes"][0]["status"], "offered");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_policy_is_pending_until_it_starts_active_until_it_ends_then_expired() {
    let mut client = Client::new();
    let mut yearly = travel_quote("IT");
    yearly["product_id"] = product("Personal Liability")["id"].clone();
    yearly["coverage"] = json!("family");
    yearly["risk"] = json!({"country": "NL", "household": "family"});
    let (_, quote) = client.post("/v1/quotes", &yearly);
    let (status, policy) = client.post(
        "/v1/policies",
        &json!({"quote_id": quote["id"], "start_date": day(5)}),
    );
    assert_eq!(status, 201, "{policy}");
    assert_eq!(policy["status"], "pending");
    let url = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let end = date::parse(policy["end_date"].as_str().unwrap()).unwrap() - date::today(NOW);

    move_clock(&mut client, &json!({"advance": {"days": 4}}));
    assert_eq!(client.get(&url).1["status"], "pending");
    move_clock(&mut client, &json!({"advance": {"days": 1}}));
    assert_eq!(client.get(&url).1["status"], "active", "on its start_date");
    move_clock(
        &mut client,
        &json!({"to": date::format(date::today(NOW) + end)}),
    );
    assert_eq!(client.get(&url).1["status"], "active", "on its end_date");
    move_clock(&mut client, &json!({"advance": {"hours": 24}}));
    assert_eq!(client.get(&url).1["status"], "expired");

    // A policy whose dates have both passed is read as expired at once.
    let mut other = Client::new();
    let (_, quote) = other.post("/v1/quotes", &yearly);
    let (_, policy) = other.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_eq!(policy["status"], "active", "it starts today");
    move_clock(&mut other, &json!({"advance": {"days": 370}}));
    let (_, read) = other.get(&format!("/v1/policies/{}", policy["id"].as_str().unwrap()));
    assert_eq!(read["status"], "expired");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn idempotency_keys_expire_in_real_time_not_on_the_sandbox_clock() {
    let mut client = Client::new();
    let first = client.post_with_key("/v1/payment_orders", &order(700), "k-1");
    assert_eq!(first.status, 201);
    move_clock(&mut client, &json!({"advance": {"days": 2}}));
    let replay = client.post_with_key("/v1/payment_orders", &order(700), "k-1");
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(replay.body, first.body, "the stored answer, as it was");
}

/// A dataset whose manifest is edited by `change`, loaded: the loader's error.
fn manifest_error(change: impl FnOnce(&mut Value)) -> String {
    let mut files = files();
    edit(&mut files, "collections.json", |manifest| {
        change(manifest);
    });
    match load(&files) {
        Ok(_) => panic!("the dataset loaded"),
        Err(e) => e,
    }
}

/// A change to the manifest, for a case of the loader's checks.
type ManifestEdit = Box<dyn FnOnce(&mut Value)>;

fn collection<'v>(manifest: &'v mut Value, name: &str) -> &'v mut Value {
    manifest["collections"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|c| c["name"] == name)
        .unwrap()
}

/// The payment orders' booking transition (the manifest's first).
fn booking(manifest: &mut Value) -> &mut Value {
    let t = &mut collection(manifest, "payment_orders")["lifecycle"]["transitions"][0];
    assert!(t.get("books").is_some(), "the first transition books: {t}");
    t
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_loader_names_what_is_wrong_with_a_lifecycle() {
    let cases: Vec<(ManifestEdit, &str)> = vec![
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["states"] =
                    json!(["offered", "declined", "expired"]);
            }),
            "record qt_",
        ),
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["transitions"][0]["to"] = json!("gone");
            }),
            "`gone` is not one of the states",
        ),
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["transitions"][0]["on"] = json!("valid_until");
            }),
            "exactly one of `on`, `after` and `action`",
        ),
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["transitions"][0]["after"] = json!("nope");
            }),
            "date field `nope` appears in no record",
        ),
        (
            Box::new(|m| {
                collection(m, "policies")["lifecycle"]["transitions"] = json!([
                    {"from": "active", "to": "expired", "after": "end_date"},
                    {"from": "expired", "to": "active", "on": "start_date"},
                ]);
            }),
            "go round from `active`",
        ),
        (
            Box::new(|m| {
                collection(m, "policies")["lifecycle"]["transitions"] = json!([
                    {"from": "active", "to": "expired", "after": "end_date"},
                    {"from": "active", "to": "cancelled", "after": "end_date"},
                ]);
            }),
            "a second transition from `active`",
        ),
        (
            Box::new(|m| {
                collection(m, "policies")["write"]["set"]["status"] = json!({"const": "draft"});
            }),
            "its write rule sets `status` to \"draft\"",
        ),
        (
            Box::new(|m| {
                collection(m, "policies")["write"]["updates"][0]["set"]["status"] =
                    json!({"const": "taken"});
            }),
            "collection `policies`'s update sets `status` to \"taken\"",
        ),
        (
            Box::new(|m| {
                let write = &mut collection(m, "policies")["write"];
                write["set"].as_object_mut().unwrap().remove("status");
                write["fields"]["status"] = json!({"type": "string"});
            }),
            "a field clients send",
        ),
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["states"] =
                    json!(["offered", "accepted", "declined", "expired", "offered"]);
            }),
            "listed twice",
        ),
        (
            Box::new(|m| {
                collection(m, "quotes")["lifecycle"]["unknown"] = json!(true);
            }),
            "unknown field",
        ),
        (
            Box::new(|m| {
                booking(m).as_object_mut().unwrap().remove("unless_covered");
            }),
            "`books` and `unless_covered` go together",
        ),
        (
            Box::new(|m| booking(m)["books"]["amount"] = json!("sum")),
            "books.amount names `sum`, which appears in no record",
        ),
        (
            Box::new(|m| booking(m)["books"]["debit"] = json!("creditor_name")),
            "debit `creditor_name` must be a reference to `accounts`",
        ),
        (
            Box::new(|m| booking(m)["books"]["transaction"] = json!("debtor_account_id")),
            "transaction `debtor_account_id` must be a reference to `transactions`",
        ),
        (
            Box::new(|m| booking(m)["unless_covered"]["to"] = json!("pending")),
            "unless_covered.to `pending` must be one of the states, other than `pending`",
        ),
        (
            Box::new(|m| booking(m)["unless_covered"]["set"]["status"] = json!("executed")),
            "unless_covered.set cannot change `status`",
        ),
        (
            Box::new(|m| {
                let transitions = &mut collection(m, "payment_orders")["lifecycle"]["transitions"];
                transitions.as_array_mut().unwrap().push(json!({
                    "from": "executed", "to": "cancelled", "after": "requested_execution_date"
                }));
            }),
            "`executed` is where a booking ends",
        ),
        (
            Box::new(|m| {
                let books = booking(m)["books"].clone();
                collection(m, "payment_orders")["lifecycle"]["transitions"][1]["books"] = books;
            }),
            "an action's transition cannot book",
        ),
    ];
    for (change, wanted) in cases {
        let error = manifest_error(change);
        assert!(error.contains(wanted), "wanted `{wanted}` in: {error}");
        assert!(
            error.starts_with("collections.json") || error.contains(".json"),
            "{error}"
        );
    }
}
