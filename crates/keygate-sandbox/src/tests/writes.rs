//! Creates, validation, state, idempotency, reset, caps and magic values.

use super::*;
use crate::{IDEMPOTENCY_TTL_SECONDS, MAX_CREATED_OBJECTS, MAX_IDEMPOTENCY_KEYS, date};
use serde_json::json;

pub(super) fn open_eur_account() -> Value {
    first("accounts.json", |a| {
        a["status"] == "open" && a["currency"] == "EUR" && a["type"] == "current"
    })
}

pub(super) fn order(amount: i64) -> Value {
    json!({
        "debtor_account_id": open_eur_account()["id"],
        "creditor_name": "Stadtwerke Test GmbH",
        "creditor_iban": "DE89370400440532013000",
        "amount": amount,
        "remittance_information": "Invoice 2026-0042",
    })
}

pub(super) fn product(name_prefix: &str) -> Value {
    first("insurance_products.json", |p| {
        p["name"].as_str().unwrap().starts_with(name_prefix)
    })
}

pub(super) fn travel_quote(destination: &str) -> Value {
    json!({
        "product_id": product("Single Trip")["id"],
        "coverage": "comfort",
        "holder": {"name": "Ada Lovelace", "email": "ada@example.com", "date_of_birth": "1990-12-10"},
        "risk": {"destination_country": destination, "trip_start": "2026-12-20", "trip_end": "2027-01-03", "travellers": 2},
    })
}

fn today_plus(days: i64) -> String {
    date::format(date::today(NOW) + days)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn created_quote_gets_server_fields_and_the_declared_premium() {
    let mut client = Client::new();
    let (status, quote) = client.post("/v1/quotes", &travel_quote("IT"));
    assert_eq!(status, 201, "{quote}");
    assert_eq!(quote["id"], "qt_test000001");
    assert_eq!(quote["object"], "quote");
    assert_eq!(quote["livemode"], false);
    assert_eq!(quote["created"], NOW);
    let product = product("Single Trip");
    // base_premium × premium_factor of "comfort" (2900 × 1.6).
    assert_eq!(quote["premium"], 4640);
    assert_eq!(product["base_premium"], 2900);
    assert_eq!(quote["currency"], "EUR");
    assert_eq!(quote["term_months"], 1);
    assert_eq!(quote["valid_until"], today_plus(30));
    assert_eq!(quote["status"], "offered");
    assert_eq!(quote["decline_reason"], Value::Null);
    assert_eq!(quote["policy_id"], Value::Null);
    assert_eq!(quote["risk"]["travellers"], 2);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn created_objects_can_be_read_back_everywhere() {
    let mut client = Client::new();
    let (_, quote) = client.post("/v1/quotes", &travel_quote("PT"));
    let id = quote["id"].as_str().unwrap();
    let (status, read) = client.get(&format!("/v1/quotes/{id}"));
    assert_eq!((status, &read), (200, &quote));
    let all = client.list_all("/v1/quotes");
    assert_eq!(all.len(), records("quotes.json").len() + 1);
    assert_eq!(
        all.last(),
        Some(&quote),
        "created objects come after the static ones"
    );
    let offered = client.list_all("/v1/quotes?status=offered");
    assert_eq!(offered, std::slice::from_ref(&quote));
    let nested = client.list_all(&format!(
        "/v1/insurance_products/{}/quotes",
        quote["product_id"].as_str().unwrap()
    ));
    assert_eq!(nested.last(), Some(&quote));
    // Newer objects come after older ones, and the cursor can be a created id.
    let (_, second) = client.post("/v1/quotes", &travel_quote("ES"));
    let (_, page) = client.get(&format!("/v1/quotes?starting_after={id}"));
    assert_eq!(page["data"], json!([second]));
    assert_eq!(page["has_more"], false);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn payment_order_defaults_and_status() {
    let mut client = Client::new();
    let (status, created) = client.post("/v1/payment_orders", &order(12_345));
    assert_eq!(status, 201, "{created}");
    assert!(created["id"].as_str().unwrap().starts_with("po_"));
    assert_eq!(
        created["currency"], "EUR",
        "defaults to the debtor account's currency"
    );
    assert_eq!(created["requested_execution_date"], today_plus(0));
    assert_eq!(created["end_to_end_id"], "NOTPROVIDED");
    assert_eq!(created["status"], "pending");
    assert_eq!(created["status_reason"], Value::Null);
    assert_eq!(created["transaction_id"], Value::Null);
    let account = open_eur_account();
    let nested = client.list_all(&format!(
        "/v1/accounts/{}/payment_orders",
        account["id"].as_str().unwrap()
    ));
    assert_eq!(nested.last(), Some(&created));
    // Optional fields left out are null, not missing.
    let mut body = order(500);
    body.as_object_mut()
        .unwrap()
        .remove("remittance_information");
    let (_, created) = client.post("/v1/payment_orders", &body);
    assert_eq!(created["remittance_information"], Value::Null);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn each_bad_field_gets_its_own_error() {
    let mut client = Client::new();
    let body = json!({
        "debtor_account_id": "ba_doesnotexist",
        "creditor_name": "",
        "creditor_iban": "DE89370400440532013001",
        "amount": 10.5,
        "currency": "USD",
        "remittance_information": "x".repeat(141),
        "end_to_end_id": 7,
        "requested_execution_date": "2026-02-30",
        "status": "executed",
        "colour": "blue",
    });
    let (status, error) = client.post("/v1/payment_orders", &body);
    assert_eq!(status, 400);
    let mut fields = error_fields(&error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "amount",
            "colour",
            "creditor_iban",
            "creditor_name",
            "currency",
            "debtor_account_id",
            "end_to_end_id",
            "remittance_information",
            "requested_execution_date",
            "status"
        ]
    );
    assert!(error_for(&error, "status").contains("set by the server"));
    assert!(error_for(&error, "colour").contains("unknown field"));
    assert!(error_for(&error, "amount").contains("minor units"));
    assert!(error_for(&error, "currency").contains("EUR, GBP"));
    assert!(error_for(&error, "creditor_iban").contains("IBAN"));
    assert!(error_for(&error, "debtor_account_id").contains("/v1/accounts"));
    assert!(client.state.is_empty());

    let (status, error) = client.post("/v1/payment_orders", &json!({}));
    assert_eq!(status, 400);
    let mut fields = error_fields(&error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "amount",
            "creditor_iban",
            "creditor_name",
            "debtor_account_id"
        ]
    );
    assert_eq!(error_for(&error, "amount"), "is required");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ranges_and_dates_are_enforced() {
    let mut client = Client::new();
    for (field, value, expect) in [
        ("amount", json!(0), "between 1 and 100000000"),
        ("amount", json!(100_000_001), "between 1 and 100000000"),
        ("amount", json!("100"), "must be an integer"),
        (
            "requested_execution_date",
            json!(today_plus(-1)),
            "today or later",
        ),
        (
            "requested_execution_date",
            json!(today_plus(91)),
            "at most 90 days",
        ),
        (
            "requested_execution_date",
            json!("23.11.2026"),
            "YYYY-MM-DD",
        ),
        ("creditor_name", json!("n".repeat(71)), "at most 70"),
        ("creditor_iban", json!("de89370400440532013000"), "IBAN"),
        (
            "creditor_iban",
            json!("DE89 3704 0044 0532 0130 00"),
            "IBAN",
        ),
    ] {
        let mut body = order(100);
        body[field] = value.clone();
        let (status, error) = client.post("/v1/payment_orders", &body);
        assert_eq!(status, 400, "{field} = {value}");
        assert_eq!(error_fields(&error), [field], "{field} = {value}");
        assert!(
            error_for(&error, field).contains(expect),
            "{field} = {value}: {error}"
        );
    }
    for (field, value) in [
        ("amount", json!(1)),
        ("amount", json!(100_000_000)),
        ("requested_execution_date", json!(today_plus(0))),
        ("requested_execution_date", json!(today_plus(90))),
        ("creditor_iban", json!("GB29NWBK60161331926819")),
    ] {
        let mut body = order(100);
        body[field] = value.clone();
        let (status, created) = client.post("/v1/payment_orders", &body);
        assert_eq!(status, 201, "{field} = {value}: {created}");
        assert_eq!(created[field], value);
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn quote_rules_come_from_the_product() {
    let mut client = Client::new();
    let mut body = travel_quote("IT");
    body["coverage"] = json!("gold");
    body["holder"]["email"] = json!("not-an-email");
    body["holder"]["date_of_birth"] = json!(today_plus(-365));
    body["holder"]["nickname"] = json!("Ada");
    body["risk"]["trip_end"] = json!("2026-12-01");
    body["risk"]["travellers"] = json!(12);
    body["risk"]
        .as_object_mut()
        .unwrap()
        .remove("destination_country");
    let (status, error) = client.post("/v1/quotes", &body);
    assert_eq!(status, 400);
    let mut fields = error_fields(&error);
    fields.sort();
    assert_eq!(
        fields,
        [
            "coverage",
            "holder.date_of_birth",
            "holder.email",
            "holder.nickname",
            "risk.destination_country",
            "risk.travellers",
            "risk.trip_end"
        ]
    );
    assert_eq!(
        error_for(&error, "coverage"),
        "must be one of: basic, comfort, premium"
    );
    assert!(error_for(&error, "risk.trip_end").contains("trip_start"));

    // Another product asks for other risk details.
    let mut body = travel_quote("IT");
    body["product_id"] = product("Motor")["id"].clone();
    body["coverage"] = json!("partial");
    let (status, error) = client.post("/v1/quotes", &body);
    assert_eq!(status, 400);
    let fields = error_fields(&error);
    assert!(
        fields.contains(&"risk.destination_country".to_string()),
        "unknown for motor"
    );
    assert!(
        fields.contains(&"risk.vehicle_make".to_string()),
        "required for motor"
    );

    // An unknown product: one error, and no cascade of errors that depend on it.
    let mut body = travel_quote("IT");
    body["product_id"] = json!("ins_nothing");
    let (status, error) = client.post("/v1/quotes", &body);
    assert_eq!(status, 400);
    assert_eq!(error_fields(&error), ["product_id"]);

    // A withdrawn product exists but takes no quotes: 409.
    let gadget = first("insurance_products.json", |p| p["status"] == "withdrawn");
    let body = json!({"product_id": gadget["id"], "coverage": "standard",
        "holder": {"name": "Ada", "email": "ada@example.com", "date_of_birth": "1990-01-01"},
        "risk": {"device_type": "phone"}});
    let (status, error) = client.post("/v1/quotes", &body);
    assert_eq!(status, 409);
    assert!(error_for(&error, "product_id").contains("withdrawn"));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn payment_order_conflicts_with_its_account() {
    let mut client = Client::new();
    let closed = first("accounts.json", |a| a["status"] == "closed");
    let mut body = order(100);
    body["debtor_account_id"] = closed["id"].clone();
    let (status, error) = client.post("/v1/payment_orders", &body);
    assert_eq!(status, 409);
    assert!(error_for(&error, "debtor_account_id").contains("closed"));

    let mut body = order(100);
    body["currency"] = json!("GBP");
    let (status, error) = client.post("/v1/payment_orders", &body);
    assert_eq!(status, 409);
    assert!(error_for(&error, "debtor_account_id").contains("EUR"));
    assert!(client.state.is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn policy_binds_an_offered_quote_once() {
    let mut client = Client::new();
    let (_, quote) = client.post("/v1/quotes", &travel_quote("GR"));
    let (status, policy) = client.post(
        "/v1/policies",
        &json!({"quote_id": quote["id"], "start_date": "2026-12-20"}),
    );
    assert_eq!(status, 201, "{policy}");
    assert!(policy["id"].as_str().unwrap().starts_with("pol_"));
    for field in [
        "product_id",
        "holder",
        "coverage",
        "risk",
        "premium",
        "currency",
    ] {
        assert_eq!(policy[field], quote[field], "{field} comes from the quote");
    }
    assert_eq!(policy["start_date"], "2026-12-20");
    assert_eq!(
        policy["end_date"], "2027-01-19",
        "one month (term_months) minus a day"
    );
    assert_eq!(policy["status"], "pending", "it starts on its start_date");

    let (_, quote_now) = client.get(&format!("/v1/quotes/{}", quote["id"].as_str().unwrap()));
    assert_eq!(quote_now["status"], "accepted");
    assert_eq!(quote_now["policy_id"], policy["id"]);
    let nested = client.list_all(&format!(
        "/v1/quotes/{}/policies",
        quote["id"].as_str().unwrap()
    ));
    assert_eq!(nested, std::slice::from_ref(&policy));

    let (status, error) = client.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_eq!(status, 409);
    assert!(error_for(&error, "quote_id").contains("accepted"));

    // Start date defaults to today; a yearly product ends a year later less a day.
    let mut home = travel_quote("IT");
    home["product_id"] = product("Personal Liability")["id"].clone();
    home["coverage"] = json!("family");
    home["risk"] = json!({"country": "NL", "household": "family"});
    let (status, quote) = client.post("/v1/quotes", &home);
    assert_eq!(status, 201, "{quote}");
    assert_eq!(quote["premium"], 8100);
    let (_, policy) = client.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_eq!(policy["start_date"], today_plus(0));
    assert_eq!(policy["end_date"], "2027-10-30");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn policy_refuses_declined_expired_and_unknown_quotes() {
    let mut client = Client::new();
    for status_wanted in ["declined", "expired", "accepted"] {
        let quote = first("quotes.json", |q| q["status"] == status_wanted);
        let (status, error) = client.post("/v1/policies", &json!({"quote_id": quote["id"]}));
        assert_eq!(status, 409, "{status_wanted}");
        assert!(
            error_for(&error, "quote_id").contains(status_wanted),
            "{error}"
        );
    }
    let (status, error) = client.post("/v1/policies", &json!({"quote_id": "qt_nothing"}));
    assert_eq!(status, 400);
    assert_eq!(error_fields(&error), ["quote_id"]);

    // A quote past its valid_until is expired, and refused with its date.
    let (_, quote) = client.post("/v1/quotes", &travel_quote("IT"));
    client.now += 31 * 86_400;
    let (status, error) = client.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_eq!(status, 409);
    let messages: Vec<&str> = error["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["field"] == "quote_id")
        .filter_map(|e| e["message"].as_str())
        .collect();
    assert!(messages[0].contains("expired"), "{error}");
    assert!(
        messages[1].contains(quote["valid_until"].as_str().unwrap()),
        "{error}"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn updates_of_static_records_stay_in_the_account_and_reset_reverts_them() {
    // A dataset where one static quote is still offered.
    let mut files = files();
    let mut target = String::new();
    edit(&mut files, "quotes.json", |quotes| {
        let quote = quotes
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|q| q["status"] == "expired")
            .unwrap();
        quote["status"] = json!("offered");
        quote["valid_until"] = json!("2026-12-31");
        target = quote["id"].as_str().unwrap().to_string();
    });
    let sandbox = load(&files).unwrap();
    let mut client = Client::with(&sandbox);
    let mut other = Client::with(&sandbox);
    let (status, policy) = client.post("/v1/policies", &json!({"quote_id": target}));
    assert_eq!(status, 201, "{policy}");
    let (_, quote) = client.get(&format!("/v1/quotes/{target}"));
    assert_eq!(
        (&quote["status"], &quote["policy_id"]),
        (&json!("accepted"), &policy["id"])
    );
    let accepted = client.list_all("/v1/quotes?status=accepted");
    assert!(
        accepted.iter().any(|q| q["id"] == target.as_str()),
        "filters see the update"
    );
    let (_, untouched) = other.get(&format!("/v1/quotes/{target}"));
    assert_eq!(
        untouched["status"], "offered",
        "another account does not see it"
    );

    let response = client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert_eq!(
        json(&response),
        json!({"object": "sandbox_reset", "deleted": 1, "reverted_updates": 1, "idempotency_keys_cleared": 0, "clock_reset": false})
    );
    let (_, quote) = client.get(&format!("/v1/quotes/{target}"));
    assert_eq!(quote["status"], "offered");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn accounts_are_isolated() {
    let mut alice = Client::new();
    let mut bob = Client::new();
    let (_, quote) = alice.post("/v1/quotes", &travel_quote("IT"));
    let id = quote["id"].as_str().unwrap();
    let (status, _) = bob.get(&format!("/v1/quotes/{id}"));
    assert_eq!(status, 404);
    assert_eq!(
        bob.list_all("/v1/quotes").len(),
        records("quotes.json").len()
    );
    assert!(bob.state.is_empty());
    // The same id generator in both accounts: ids may coincide, objects do not mix.
    let (_, bobs) = bob.post("/v1/quotes", &travel_quote("ES"));
    assert_eq!(bobs["id"], quote["id"]);
    assert_eq!(
        alice.get(&format!("/v1/quotes/{id}")).1["risk"]["destination_country"],
        "IT"
    );
    assert_eq!(
        bob.get(&format!("/v1/quotes/{id}")).1["risk"]["destination_country"],
        "ES"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn bodies_must_be_json_objects_of_at_most_64_kib() {
    let mut client = Client::new();
    for body in [
        &b""[..],
        b"  \n",
        b"[]",
        b"\"quote\"",
        b"{\"a\":",
        b"product_id=ins_1",
        &[0xff, 0xfe],
    ] {
        let response = client.send("POST", "/v1/quotes", body, None, None);
        assert_eq!(response.status, 400, "{body:?}");
        assert!(
            json(&response)["message"]
                .as_str()
                .unwrap()
                .contains("body")
        );
    }
    let mut big = travel_quote("IT");
    big["holder"]["name"] = json!("n".repeat(keygate_core::MAX_JSON_BODY_BYTES));
    let response = client.send("POST", "/v1/quotes", big.to_string().as_bytes(), None, None);
    assert_eq!(response.status, 413);
    // Just under the limit is read (and refused for the too-long name, not the size).
    let padding = keygate_core::MAX_JSON_BODY_BYTES - travel_quote("IT").to_string().len() - 16;
    let mut padded = travel_quote("IT").to_string();
    padded.insert_str(1, &format!("{:width$}", "", width = padding));
    assert!(padded.len() <= keygate_core::MAX_JSON_BODY_BYTES);
    let response = client.send("POST", "/v1/quotes", padded.as_bytes(), None, None);
    assert_eq!(response.status, 201);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn idempotency_key_replays_the_same_response() {
    let mut client = Client::new();
    let first = client.post_with_key("/v1/payment_orders", &order(2_500), "order-1");
    assert_eq!(first.status, 201);
    assert!(first.header("Idempotent-Replayed").is_none());
    let again = client.post_with_key("/v1/payment_orders", &order(2_500), "order-1");
    assert_eq!((again.status, &again.body), (201, &first.body));
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert!(!again.state_changed);
    assert_eq!(client.state.created_count(), 1);

    // The same object with other spacing and key order is the same request.
    let reordered = format!(
        "{{ \"amount\": 2500, \"remittance_information\": \"Invoice 2026-0042\", \"creditor_iban\": \"DE89370400440532013000\",\n \"creditor_name\": \"Stadtwerke Test GmbH\", \"debtor_account_id\": {} }}",
        open_eur_account()["id"]
    );
    let replay = client.send(
        "POST",
        "/v1/payment_orders",
        reordered.as_bytes(),
        Some("order-1"),
        None,
    );
    assert_eq!((replay.status, &replay.body), (201, &first.body));

    // A different body, or another path, with the key: 409, nothing created.
    let conflict = client.post_with_key("/v1/payment_orders", &order(2_501), "order-1");
    assert_eq!(conflict.status, 409);
    let conflict = client.post_with_key("/v1/quotes", &order(2_500), "order-1");
    assert_eq!(conflict.status, 409);
    assert_eq!(client.state.created_count(), 1);

    // Another key is another order; no key is always a new order.
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(2_500), "order-2")
            .status,
        201
    );
    assert_eq!(client.post("/v1/payment_orders", &order(2_500)).0, 201);
    assert_eq!(client.post("/v1/payment_orders", &order(2_500)).0, 201);
    assert_eq!(client.state.created_count(), 4);

    // Validation errors are not remembered: a corrected retry with the key succeeds.
    let bad = client.post_with_key("/v1/payment_orders", &order(0), "order-3");
    assert_eq!(bad.status, 400);
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(300), "order-3")
            .status,
        201
    );

    // After 24 hours the key is forgotten.
    client.now += IDEMPOTENCY_TTL_SECONDS;
    let later = client.post_with_key("/v1/payment_orders", &order(2_500), "order-1");
    assert_eq!(later.status, 201);
    assert_ne!(later.body, first.body);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn idempotency_keys_are_checked() {
    let mut client = Client::new();
    let long = "k".repeat(256);
    for key in [long.as_str(), "", "tab\there", "naïve"] {
        let response = client.post_with_key("/v1/payment_orders", &order(100), key);
        assert_eq!(response.status, 400, "{key:?}");
        assert_eq!(error_fields(&json(&response)), ["Idempotency-Key"]);
    }
    let longest = "k".repeat(255);
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(100), &longest)
            .status,
        201
    );
    assert_eq!(
        client
            .post_with_key(
                "/v1/payment_orders",
                &order(100),
                "550e8400-e29b-41d4-a716-446655440000"
            )
            .status,
        201
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn reset_clears_the_account() {
    let mut client = Client::new();
    let empty = client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert_eq!(empty.status, 200);
    assert!(!empty.state_changed, "nothing to clear");
    assert_eq!(json(&empty)["deleted"], 0);

    client.post("/v1/quotes", &travel_quote("IT"));
    client.post_with_key("/v1/payment_orders", &order(700), "k-1");
    let response = client.send(
        "POST",
        "/v1/sandbox/reset",
        b"ignored",
        Some("ignored"),
        None,
    );
    assert_eq!(response.status, 200);
    assert!(response.state_changed);
    assert_eq!(
        json(&response),
        json!({"object": "sandbox_reset", "deleted": 2, "reverted_updates": 0, "idempotency_keys_cleared": 1, "clock_reset": false})
    );
    assert!(client.state.is_empty());
    assert_eq!(client.state, AccountState::default());
    assert_eq!(
        client.list_all("/v1/quotes").len(),
        records("quotes.json").len()
    );
    // The key is free again.
    assert!(
        client
            .post_with_key("/v1/payment_orders", &order(800), "k-1")
            .header("Idempotent-Replayed")
            .is_none()
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn created_objects_are_capped_until_reset() {
    let mut client = Client::new();
    let body = order(100).to_string();
    for n in 0..MAX_CREATED_OBJECTS {
        let response = client.send_raw("POST", "/v1/payment_orders", body.as_bytes(), None, None);
        assert_eq!(response.status, 201, "create {n}");
    }
    let (status, error) = client.post("/v1/payment_orders", &order(100));
    assert_eq!(status, 409);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset")
    );
    let (status, _) = client.post("/v1/quotes", &travel_quote("IT"));
    assert_eq!(status, 409, "the cap counts all collections");
    // Reads still work; the blob stays bounded.
    assert_eq!(
        client.list_all("/v1/payment_orders").len(),
        records("payment_orders.json").len() + MAX_CREATED_OBJECTS
    );
    // Each object is kept twice: as it is, and in its `created` event as it was.
    let blob = serde_json::to_string(&client.state).unwrap();
    assert!(blob.len() < 600 * 1024, "{} bytes", blob.len());
    client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert_eq!(client.post("/v1/payment_orders", &order(100)).0, 201);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn idempotency_records_are_capped_until_they_expire_or_reset() {
    let mut client = Client::new();
    // Magic-value refusals are remembered without creating objects.
    let body = order(66_666).to_string();
    for n in 0..MAX_IDEMPOTENCY_KEYS {
        let response = client.send_raw(
            "POST",
            "/v1/payment_orders",
            body.as_bytes(),
            Some(&format!("key-{n}")),
            None,
        );
        assert_eq!(response.status, 422, "request {n}");
    }
    assert_eq!(client.state.idempotency_count(), MAX_IDEMPOTENCY_KEYS);
    let full = client.post_with_key("/v1/payment_orders", &order(100), "one-more");
    assert_eq!(full.status, 409);
    assert!(
        json(&full)["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset")
    );
    // Known keys still replay, and requests without a key still work.
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(66_666), "key-7")
            .header("Idempotent-Replayed"),
        Some("true")
    );
    assert_eq!(client.post("/v1/payment_orders", &order(100)).0, 201);
    // A day later the old records have expired and are dropped on the next keyed write.
    client.now += IDEMPOTENCY_TTL_SECONDS;
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(100), "one-more")
            .status,
        201
    );
    assert_eq!(client.state.idempotency_count(), 1);
    let bound = client.state.size_bound().expect("measured");
    let exact = client.state.serialized_size();
    assert!(
        bound >= exact && bound < exact + 4 * 1024,
        "pruning lowers the bound: {bound} vs {exact}"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn magic_amount_is_refused_with_422() {
    let mut client = Client::new();
    let (status, error) = client.post("/v1/payment_orders", &order(66_666));
    assert_eq!(status, 422);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("Insufficient funds")
    );
    assert!(error_for(&error, "amount").contains("magic value"));
    assert!(client.state.is_empty(), "nothing is created");
    // With a key the refusal is remembered like any processed request.
    let first = client.post_with_key("/v1/payment_orders", &order(66_666), "magic");
    assert_eq!(first.status, 422);
    let again = client.post_with_key("/v1/payment_orders", &order(66_666), "magic");
    assert_eq!((again.status, &again.body), (422, &first.body));
    assert_eq!(client.state.created_count(), 0);
    // Near misses are ordinary orders.
    assert_eq!(client.post("/v1/payment_orders", &order(66_667)).0, 201);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn magic_values_set_their_outcome() {
    let mut client = Client::new();
    let mut body = order(4_500);
    body["creditor_iban"] = json!("DE12500105170648489890");
    let (status, created) = client.post("/v1/payment_orders", &body);
    assert_eq!(status, 201);
    assert_eq!(
        (&created["status"], &created["status_reason"]),
        (&json!("rejected"), &json!("creditor_account_closed"))
    );

    let (status, declined) = client.post("/v1/quotes", &travel_quote("AQ"));
    assert_eq!(status, 201);
    assert_eq!(declined["status"], "declined");
    assert_eq!(declined["premium"], Value::Null);
    assert_eq!(declined["decline_reason"], "destination_not_covered");
    let (status, error) = client.post("/v1/policies", &json!({"quote_id": declined["id"]}));
    assert_eq!(status, 409);
    assert!(error_for(&error, "quote_id").contains("declined"));

    let home = json!({"product_id": product("Home Contents")["id"], "coverage": "standard",
        "holder": {"name": "Ada", "email": "ada@example.com", "date_of_birth": "1980-02-02"},
        "risk": {"country": "DE", "postcode": "10115", "living_area_m2": 80, "flood_zone": "zone_4"}});
    let (_, quote) = client.post("/v1/quotes", &home);
    assert_eq!(
        (&quote["status"], &quote["decline_reason"]),
        (&json!("declined"), &json!("flood_risk_too_high"))
    );
    let mut safe = home.clone();
    safe["risk"]["flood_zone"] = json!("zone_3");
    let (_, quote) = client.post("/v1/quotes", &safe);
    assert_eq!(
        (&quote["status"], &quote["premium"]),
        (&json!("offered"), &json!(12_960))
    );

    let motor = json!({"product_id": product("Motor")["id"], "coverage": "comprehensive",
        "holder": {"name": "Ada", "email": "ada@example.com", "date_of_birth": "1980-02-02"},
        "risk": {"vehicle_make": "Volkswagen", "vehicle_model": "Golf", "first_registration_year": 2020,
            "annual_mileage_km": 12000, "driver_date_of_birth": "1900-01-01", "no_claims_years": 3}});
    let (_, quote) = client.post("/v1/quotes", &motor);
    assert_eq!(
        quote["decline_reason"],
        "driver_age_outside_underwriting_limits"
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn state_survives_serialisation() {
    let mut client = Client::new();
    let (_, quote) = client.post("/v1/quotes", &travel_quote("IT"));
    client.post("/v1/policies", &json!({"quote_id": quote["id"]}));
    client.post_with_key("/v1/payment_orders", &order(900), "k");
    let blob = serde_json::to_string(&client.state).unwrap();
    let restored: AccountState = serde_json::from_str(&blob).unwrap();
    assert_eq!(restored, client.state);
    // The restored state behaves the same: the key replays, the quote is accepted.
    client.state = restored;
    assert_eq!(
        client
            .post_with_key("/v1/payment_orders", &order(900), "k")
            .header("Idempotent-Replayed"),
        Some("true")
    );
    assert_eq!(
        client
            .get(&format!("/v1/quotes/{}", quote["id"].as_str().unwrap()))
            .1["status"],
        "accepted"
    );
    // The empty state is a tiny blob, and unknown fields from another version are ignored.
    assert_eq!(
        serde_json::to_string(&AccountState::default()).unwrap(),
        "{}"
    );
    let future: AccountState = serde_json::from_str("{\"version\": 9}").unwrap();
    assert!(future.is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn colliding_ids_from_the_generator_are_skipped() {
    let sandbox = sandbox();
    let mut state = AccountState::default();
    let existing = first("quotes.json", |_| true)["id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut calls = 0;
    let mut ids = |prefix: &str| {
        calls += 1;
        if calls == 1 {
            existing.clone()
        } else {
            format!("{prefix}fresh")
        }
    };
    let body = travel_quote("IT").to_string();
    let req = SandboxRequest {
        method: "POST",
        path: "/v1/quotes",
        query: "",
        body: body.as_bytes(),
        idempotency_key: None,
        scenario: None,
        readable: crate::Readable::All,
        require_https: true,
    };
    let response = sandbox.handle(
        &req,
        &mut state,
        &mut Hooks::default(),
        NOW,
        &mut ids,
        &TestRandom::default(),
    );
    assert_eq!(response.status, 201);
    assert_eq!(json(&response)["id"], "qt_fresh");
    // A generator that only repeats itself gets a 500, not a duplicate.
    let mut same = |_: &str| existing.clone();
    let response = sandbox.handle(
        &req,
        &mut state,
        &mut Hooks::default(),
        NOW,
        &mut same,
        &TestRandom::default(),
    );
    assert_eq!(response.status, 500);
    assert_eq!(state.created_count(), 1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_state_blob_never_passes_its_byte_budget() {
    // The largest objects the rules allow: four-byte characters in every long string, each
    // request with a 255-character key (so its response is stored twice).
    let wide = |n: usize| "𝔸".repeat(n);
    let body = json!({
        "product_id": product("Motor")["id"],
        "coverage": "comprehensive",
        "holder": {"name": wide(140), "email": format!("{}@{}.de", "a".repeat(64), wide(180)), "date_of_birth": "1980-02-02"},
        "risk": {"vehicle_make": wide(40), "vehicle_model": wide(60), "first_registration_year": 2020,
            "annual_mileage_km": 12000, "driver_date_of_birth": "1980-02-02", "no_claims_years": 3},
    });
    let body_text = body.to_string();
    let mut client = Client::new();
    let mut created = 0;
    let refused = loop {
        let key = format!("{created:0>255}");
        let response =
            client.send_raw("POST", "/v1/quotes", body_text.as_bytes(), Some(&key), None);
        if response.status != 201 {
            break response;
        }
        if created % 25 == 0 {
            let bound = client
                .state
                .size_bound()
                .expect("measured on the first write");
            assert!(
                bound >= client.state.serialized_size(),
                "the cached size is an upper bound"
            );
        }
        created += 1;
        assert!(
            created < crate::MAX_CREATED_OBJECTS,
            "the byte budget binds first for such objects"
        );
    };
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert!(
        json(&refused)["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset")
    );
    let blob = serde_json::to_string(&client.state).unwrap();
    assert_eq!(client.state.serialized_size(), blob.len());
    assert!(blob.len() <= crate::MAX_STATE_BYTES, "{} bytes", blob.len());
    assert!(
        blob.len() > crate::MAX_STATE_BYTES - 12 * 1024,
        "the budget is used, not wasted: {} bytes",
        blob.len()
    );
    assert!(created > 100, "{created}");
    // Replays still work at the limit; a reset frees it.
    let replay = client.send(
        "POST",
        "/v1/quotes",
        body.to_string().as_bytes(),
        Some(&format!("{:0>255}", 0)),
        None,
    );
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    client.send("POST", "/v1/sandbox/reset", b"", None, None);
    assert_eq!(client.post("/v1/quotes", &body).0, 201);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn error_lists_are_capped_and_echoes_are_short() {
    let mut client = Client::new();
    let mut body = travel_quote("IT");
    for n in 0..200 {
        body[format!("extra_{n}")] = json!(n);
    }
    body["k".repeat(500)] = json!(1);
    let (status, error) = client.post("/v1/quotes", &body);
    assert_eq!(status, 400);
    let fields = error_fields(&error);
    assert_eq!(fields.len(), 51);
    assert_eq!(fields.last().map(String::as_str), Some("(more)"));
    assert!(error_for(&error, "(more)").starts_with("151 more errors"));
    assert!(
        fields.iter().all(|f| f.chars().count() <= 81),
        "long names are cut"
    );

    let query: Vec<String> = (0..120).map(|n| format!("f{n}=1")).collect();
    let (status, error) = client.get(&format!("/v1/owners?{}", query.join("&")));
    assert_eq!(status, 400);
    assert_eq!(error_fields(&error).len(), 51);

    let long_id = "x".repeat(2_000);
    let (status, error) = client.get(&format!("/v1/accounts/{long_id}"));
    assert_eq!(status, 404);
    assert!(error["message"].as_str().unwrap().len() < 300);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn extreme_clocks_never_panic() {
    for now in [i64::MIN, -1, 0, 253_402_300_799, i64::MAX] {
        let mut client = Client::new();
        client.now = now;
        let quote = client.send(
            "POST",
            "/v1/quotes",
            travel_quote("IT").to_string().as_bytes(),
            Some("k"),
            None,
        );
        let id = json(&quote)["id"].as_str().unwrap_or("qt_none").to_string();
        let policy = json!({"quote_id": id}).to_string();
        client.send("POST", "/v1/policies", policy.as_bytes(), None, None);
        client.send(
            "POST",
            "/v1/payment_orders",
            order(100).to_string().as_bytes(),
            Some("k2"),
            None,
        );
        client.send("GET", "/v1/quotes?limit=100", b"", None, None);
        for body in [r#"{"to": "2027-01-01"}"#, r#"{"advance": {"days": 400}}"#] {
            client.send("POST", "/v1/sandbox/clock", body.as_bytes(), None, None);
            client.send("GET", "/v1/sandbox/clock", b"", None, None);
        }
        client.send("GET", "/v1/accounts?limit=100", b"", None, None);
        client.send("POST", "/v1/sandbox/reset", b"", None, None);
    }
}
