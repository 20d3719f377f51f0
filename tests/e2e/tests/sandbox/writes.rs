//! Writes: payment orders, quotes and policies, validated and kept.

use super::*;

/// The server fields every created object has.
pub(crate) fn assert_server_fields(obj: &Value, object: &str, prefix: &str, before: i64) {
    let id = obj["id"].as_str().unwrap_or_else(|| panic!("no id: {obj}"));
    assert!(id.starts_with(prefix), "id {id} lacks prefix {prefix}");
    assert!(
        id.len() > prefix.len() + 8,
        "id {id} is too short to be unique"
    );
    assert_eq!(obj["object"], object, "{obj}");
    assert_eq!(obj["livemode"], false, "{obj}");
    let created = obj["created"]
        .as_i64()
        .unwrap_or_else(|| panic!("created is not Unix seconds: {obj}"));
    // The server's clock, not the client's: allow for clock skew between the two, not speed.
    assert!(
        (before - 300..=now_unix() + 300).contains(&created),
        "created {created} is not the time of the request ({before}): {obj}"
    );
}

pub(crate) fn payment_order_write_then_read(c: &Ctx) {
    let t = c.tenant("orders");
    let before = now_unix();
    let body = c.data.order_body(12_345);
    let r = c.post(&t, "/v1/payment_orders", &body);
    r.expect_status(201);
    let order = r.json.clone();
    assert_server_fields(&order, "payment_order", "po_", before);
    for field in [
        "debtor_account_id",
        "creditor_name",
        "creditor_iban",
        "amount",
        "remittance_information",
    ] {
        assert_eq!(order[field], body[field], "{field}: {order}");
    }
    let account = c.data.open_account("EUR");
    let created_day = order["created"].as_i64().unwrap().div_euclid(86_400);
    assert_eq!(order["currency"], account["currency"], "default currency");
    assert_eq!(order["end_to_end_id"], "NOTPROVIDED", "{order}");
    assert_eq!(
        order["requested_execution_date"],
        fmt_day(created_day),
        "default execution date is today: {order}"
    );
    // Due today: today's run of the ledger executed it at once (the balance covers it).
    assert_eq!(order["status"], "executed", "{order}");
    assert_eq!(order["status_reason"], Value::Null);
    let tx = order["transaction_id"].as_str().expect("its transaction");
    let debit = c.get(&t, &format!("/v1/transactions/{tx}"));
    debit.expect_status(200);
    assert_eq!(debit.json["amount"], -12_345, "{debit}");
    assert_eq!(
        debit.json["booking_date"],
        order["requested_execution_date"]
    );

    // Read back by id, byte for byte the same object.
    let id = order["id"].as_str().unwrap();
    let r = c.get(&t, &format!("/v1/payment_orders/{id}"));
    r.expect_status(200);
    assert_eq!(r.json, order);

    // A second one with every optional field given.
    let mut body2 = c.data.order_body(500);
    body2["currency"] = account["currency"].clone();
    body2["end_to_end_id"] = json!("E2E-0001");
    body2["requested_execution_date"] = json!(fmt_day(today() + 7));
    let order2 = c.create(&t, "payment_orders", &body2);
    for field in ["currency", "end_to_end_id", "requested_execution_date"] {
        assert_eq!(order2[field], body2[field], "{field}: {order2}");
    }
    assert_ne!(order2["id"], order["id"]);

    // Lists: the file's orders, then the created ones, oldest first.
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&order, &order2])
    );
    // Filters and the nested list see created objects too.
    let got = c.walk_ids(&t, "/v1/payment_orders?status=pending");
    let want: Vec<String> = c
        .data
        .records("payment_orders")
        .iter()
        .filter(|o| o["status"] == "pending")
        .map(|o| o["id"].as_str().unwrap().to_string())
        .chain([order2["id"].as_str().unwrap().to_string()])
        .collect();
    assert_eq!(got, want);
    let account_id = account["id"].as_str().unwrap();
    let nested = c.walk(
        &t,
        &format!("/v1/accounts/{account_id}/payment_orders"),
        100,
    );
    assert_eq!(
        nested.last(),
        Some(&order2),
        "nested list ends with the newest"
    );
    assert!(nested.contains(&order), "nested list has the created order");
    c.assert_origin_untouched();
}

pub(crate) fn quote_for_every_available_product_computes_premium(c: &Ctx) {
    let t = c.tenant("quotes");
    let products = c.data.available_products();
    assert!(!products.is_empty());
    let mut created = Vec::new();
    for product in products {
        let body = c.data.quote_body(product);
        let before = now_unix();
        let r = c.post(&t, "/v1/quotes", &body);
        assert_eq!(r.status, 201, "quote for {}: {r}", product["id"]);
        let quote = r.json.clone();
        assert_server_fields(&quote, "quote", "qt_", before);
        for field in ["product_id", "coverage", "holder", "risk"] {
            assert_eq!(quote[field], body[field], "{field}: {quote}");
        }
        let factor = product["coverage_options"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["code"] == body["coverage"])
            .unwrap()["premium_factor"]
            .as_f64()
            .unwrap();
        let base = product["base_premium"].as_f64().unwrap();
        assert_eq!(
            quote["premium"],
            json!((base * factor).round() as i64),
            "premium = base_premium × premium_factor: {quote}"
        );
        assert_eq!(quote["currency"], product["currency"], "{quote}");
        assert_eq!(quote["term_months"], product["term_months"], "{quote}");
        assert_eq!(quote["status"], "offered", "{quote}");
        assert_eq!(quote["policy_id"], Value::Null, "{quote}");
        let created_day = quote["created"].as_i64().unwrap().div_euclid(86_400);
        assert_eq!(quote["valid_until"], fmt_day(created_day + 30), "{quote}");

        let id = quote["id"].as_str().unwrap();
        let r = c.get(&t, &format!("/v1/quotes/{id}"));
        r.expect_status(200);
        assert_eq!(r.json, quote);
        // The product's nested list ends with it.
        let pid = product["id"].as_str().unwrap();
        let nested = c.walk(&t, &format!("/v1/insurance_products/{pid}/quotes"), 100);
        assert_eq!(nested.last(), Some(&quote));
        created.push(quote);
    }
    // A created quote appears in the list (docs/sandbox.md), after the file's.
    let refs: Vec<&Value> = created.iter().collect();
    assert_eq!(
        c.walk_ids(&t, "/v1/quotes"),
        c.file_ids_then("quotes", &refs)
    );
    let offered = c.walk(&t, "/v1/quotes?status=offered", 100);
    let want: Vec<Value> = c
        .data
        .records("quotes")
        .iter()
        .filter(|q| q["status"] == "offered")
        .cloned()
        .chain(created.iter().cloned())
        .collect();
    assert_eq!(offered, want);
    c.assert_origin_untouched();
}

pub(crate) fn policy_from_quote_binds_the_quote(c: &Ctx) {
    let t = c.tenant("policies");
    let product = c.data.available_products()[0];
    let quote = c.create(&t, "quotes", &c.data.quote_body(product));
    let qid = quote["id"].as_str().unwrap();

    let before = now_unix();
    let r = c.post(&t, "/v1/policies", &json!({"quote_id": qid}));
    r.expect_status(201);
    let policy = r.json.clone();
    assert_server_fields(&policy, "policy", "pol_", before);
    assert_eq!(policy["quote_id"], qid);
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
    assert_eq!(policy["status"], "active", "{policy}");
    let created_day = policy["created"].as_i64().unwrap().div_euclid(86_400);
    assert_eq!(policy["start_date"], fmt_day(created_day), "default start");
    let term = quote["term_months"].as_i64().unwrap();
    assert_eq!(
        policy["end_date"],
        fmt_day(add_months(created_day, term) - 1),
        "end = start + term_months − 1 day: {policy}"
    );
    let pid = policy["id"].as_str().unwrap();

    // Read back, and the quote is now accepted with the policy's id.
    assert_eq!(c.get(&t, &format!("/v1/policies/{pid}")).json, policy);
    let q = c.get(&t, &format!("/v1/quotes/{qid}"));
    q.expect_status(200);
    assert_eq!(q.json["status"], "accepted", "{q}");
    assert_eq!(q.json["policy_id"], pid, "{q}");
    assert_eq!(
        c.walk(&t, &format!("/v1/quotes/{qid}/policies"), 10),
        vec![policy.clone()]
    );
    assert_eq!(
        c.walk_ids(&t, "/v1/policies"),
        c.file_ids_then("policies", &[&policy])
    );

    // A quote binds once.
    let r = c.post(&t, "/v1/policies", &json!({"quote_id": qid}));
    assert_error_on(&r, 409, "quote_id");

    // A start date in the future is kept, and the end follows it.
    let quote2 = c.create(&t, "quotes", &c.data.quote_body(product));
    let start = today() + 10;
    let policy2 = c.create(
        &t,
        "policies",
        &json!({"quote_id": quote2["id"], "start_date": fmt_day(start)}),
    );
    assert_eq!(policy2["start_date"], fmt_day(start));
    assert_eq!(policy2["end_date"], fmt_day(add_months(start, term) - 1));
    c.assert_origin_untouched();
}

pub(crate) fn policy_needs_an_offered_quote(c: &Ctx) {
    let t = c.tenant("policy-conflicts");
    // Every static quote is accepted, expired or declined: none can become a policy.
    for status in ["accepted", "expired", "declined"] {
        let Some(quote) = c
            .data
            .records("quotes")
            .iter()
            .find(|q| q["status"] == status)
        else {
            continue;
        };
        let r = c.post(&t, "/v1/policies", &json!({"quote_id": quote["id"]}));
        assert_error_on(&r, 409, "quote_id");
    }
    // Unknown quote: 400 on the field. Missing: 400. Start date in the past: 400.
    let r = c.post(&t, "/v1/policies", &json!({"quote_id": "qt_doesnotexist"}));
    assert_error_on(&r, 400, "quote_id");
    let r = c.post(&t, "/v1/policies", &json!({}));
    assert_error_on(&r, 400, "quote_id");
    let quote = c.create(
        &t,
        "quotes",
        &c.data.quote_body(c.data.available_products()[0]),
    );
    let r = c.post(
        &t,
        "/v1/policies",
        &json!({"quote_id": quote["id"], "start_date": fmt_day(today() - 5)}),
    );
    assert_error_on(&r, 400, "start_date");
    let r = c.post(
        &t,
        "/v1/policies",
        &json!({"quote_id": quote["id"], "premium": 1}),
    );
    assert_error_on(&r, 400, "premium");
    // None of these created anything, and the quote is still offered.
    assert_eq!(
        c.walk_ids(&t, "/v1/policies"),
        c.file_ids_then("policies", &[])
    );
    let q = c.get(&t, &format!("/v1/quotes/{}", quote["id"].as_str().unwrap()));
    assert_eq!(q.json["status"], "offered", "{q}");
    c.assert_origin_untouched();
}

pub(crate) fn payment_order_body_is_validated(c: &Ctx) {
    let t = c.tenant("order-validation");
    // Empty object: one error per required field.
    let r = c.post(&t, "/v1/payment_orders", &json!({}));
    r.expect_status(400);
    let rules = c.data.collection("payment_orders")["write"]["fields"]
        .as_object()
        .unwrap();
    let mut required: Vec<String> = rules
        .iter()
        .filter(|(_, rule)| rule["required"] == true)
        .map(|(name, _)| name.clone())
        .collect();
    let mut got = error_fields(&r);
    required.sort();
    got.sort();
    assert_eq!(got, required, "one error per required field: {r}");

    // Each bad field gets its own entry, all in one answer.
    let mut body = c.data.order_body(100);
    body["amount"] = json!("100");
    body["creditor_iban"] = json!("DE00370400440532013000");
    body["creditor_name"] = json!("");
    body["remittance_information"] = json!("x".repeat(141));
    body["requested_execution_date"] = json!(fmt_day(today() - 1));
    body["colour"] = json!("blue");
    body["status"] = json!("executed");
    let r = c.post(&t, "/v1/payment_orders", &body);
    r.expect_status(400);
    for field in [
        "amount",
        "creditor_iban",
        "creditor_name",
        "remittance_information",
        "requested_execution_date",
        "colour",
        "status",
    ] {
        assert_error_on(&r, 400, field);
    }

    for (field, value) in [
        ("amount", json!(0)),
        ("amount", json!(100_000_001)),
        ("amount", json!(10.5)),
        ("currency", json!("USD")),
        ("requested_execution_date", json!(fmt_day(today() + 91))),
        ("requested_execution_date", json!("2026-02-30")),
        ("debtor_account_id", json!("ba_doesnotexist")),
        ("debtor_account_id", json!(42)),
        ("id", json!("po_mine")),
        ("livemode", json!(true)),
    ] {
        let mut body = c.data.order_body(100);
        body[field] = value.clone();
        let r = c.post(&t, "/v1/payment_orders", &body);
        assert_error_on(&r, 400, field);
    }
    // Nothing was created by any of it.
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[])
    );
    c.assert_origin_untouched();
}

pub(crate) fn quote_body_is_validated(c: &Ctx) {
    let t = c.tenant("quote-validation");
    let product = c.data.available_products()[0];
    let good = c.data.quote_body(product);

    let r = c.post(&t, "/v1/quotes", &json!({}));
    r.expect_status(400);
    for field in ["product_id", "coverage", "holder", "risk"] {
        assert_error_on(&r, 400, field);
    }

    // Nested fields are named with their path.
    let mut body = good.clone();
    body["holder"]["email"] = json!("not an email");
    body["holder"]["date_of_birth"] = json!(fmt_day(today() - 365 * 10));
    let r = c.post(&t, "/v1/quotes", &body);
    assert_error_on(&r, 400, "holder.email");
    assert_error_on(&r, 400, "holder.date_of_birth");

    let mut body = good.clone();
    body["coverage"] = json!("no_such_coverage");
    assert_error_on(&c.post(&t, "/v1/quotes", &body), 400, "coverage");

    let mut body = good.clone();
    body["product_id"] = json!("ins_doesnotexist");
    assert_error_on(&c.post(&t, "/v1/quotes", &body), 400, "product_id");

    // The risk follows the product's risk_fields: a missing one and an unknown one.
    let mut body = good.clone();
    let risk = body["risk"].as_object_mut().unwrap();
    let first = risk.keys().next().unwrap().clone();
    risk.remove(&first);
    risk.insert("colour".into(), json!("blue"));
    let r = c.post(&t, "/v1/quotes", &body);
    assert_error_on(&r, 400, &format!("risk.{first}"));
    assert_error_on(&r, 400, "risk.colour");

    // The server computes the premium.
    let mut body = good.clone();
    body["premium"] = json!(1);
    assert_error_on(&c.post(&t, "/v1/quotes", &body), 400, "premium");

    // A withdrawn product takes no new quotes: 409 (the body is valid).
    if let Some(withdrawn) = c
        .data
        .records("insurance_products")
        .iter()
        .find(|p| p["status"] != "available")
    {
        let r = c.post(&t, "/v1/quotes", &c.data.quote_body(withdrawn));
        assert_error_on(&r, 409, "product_id");
    }
    assert_eq!(c.walk_ids(&t, "/v1/quotes"), c.file_ids_then("quotes", &[]));
    c.assert_origin_untouched();
}

pub(crate) fn payment_order_conflicts_are_409(c: &Ctx) {
    let t = c.tenant("order-conflicts");
    // Drawn on a closed account.
    let closed = c
        .data
        .records("accounts")
        .iter()
        .find(|a| a["status"] != "open")
        .expect("the data has a closed account");
    let mut body = c.data.order_body(100);
    body["debtor_account_id"] = closed["id"].clone();
    body["currency"] = closed["currency"].clone();
    let r = c.post(&t, "/v1/payment_orders", &body);
    assert_error_on(&r, 409, "debtor_account_id");
    // A currency other than the account's.
    let mut body = c.data.order_body(100);
    body["currency"] = json!("GBP");
    let r = c.post(&t, "/v1/payment_orders", &body);
    assert_error_on(&r, 409, "debtor_account_id");
    // A GBP account takes GBP by default.
    let gbp = c.data.open_account("GBP");
    let mut body = c.data.order_body(100);
    body["debtor_account_id"] = gbp["id"].clone();
    let order = c.create(&t, "payment_orders", &body);
    assert_eq!(order["currency"], "GBP", "{order}");
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&order])
    );
    c.assert_origin_untouched();
}

pub(crate) fn malformed_bodies_are_400(c: &Ctx) {
    let t = c.tenant("malformed");
    for (what, body) in [
        ("not JSON", b"{\"amount\": ".to_vec()),
        ("an array", b"[1, 2]".to_vec()),
        ("a string", b"\"order\"".to_vec()),
        ("empty", Vec::new()),
    ] {
        let r = sandboxed(
            c.req(&t, "POST", "/v1/payment_orders")
                .header("Content-Type", "application/json")
                .body(body)
                .send(),
        );
        assert_eq!(r.status, 400, "{what}: {r}");
    }
    // Not UTF-8.
    let r = sandboxed(
        c.req(&t, "POST", "/v1/quotes")
            .header("Content-Type", "application/json")
            .body(vec![b'{', 0xff, 0xfe, b'}'])
            .send(),
    );
    r.expect_status(400);
    // A read-only collection takes no POST: 405 with Allow.
    let r = c.req(&t, "POST", "/v1/accounts").json(&json!({})).send();
    r.expect_status(405);
    assert!(r.header("allow").is_some_and(|a| a.contains("GET")), "{r}");
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[])
    );
    c.assert_origin_untouched();
}

pub(crate) fn body_over_64_kib_is_413(c: &Ctx) {
    let t = c.tenant("large");
    let mut body = c.data.order_body(100);
    body["remittance_information"] = json!("x".repeat(70 * 1024));
    let r = c.post(&t, "/v1/payment_orders", &body);
    r.expect_status(413);
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[])
    );
    c.assert_origin_untouched();
}

pub(crate) fn concurrent_creates_are_all_kept(c: &Ctx) {
    let t = c.tenant("concurrent");
    let created: Vec<Value> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let t = &t;
                s.spawn(move || c.create(t, "payment_orders", &c.data.order_body(1000 + i)))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut want: HashSet<String> = ids(&created).into_iter().collect();
    assert_eq!(want.len(), 8, "distinct ids");
    let listed = c.walk_ids(&t, "/v1/payment_orders");
    let file = ids(c.data.records("payment_orders"));
    assert_eq!(&listed[..file.len()], file.as_slice());
    let tail: HashSet<String> = listed[file.len()..].iter().cloned().collect();
    assert_eq!(tail.len(), listed.len() - file.len());
    want.retain(|id| tail.contains(id));
    assert_eq!(
        want.len(),
        8,
        "every concurrent create is listed: {listed:?}"
    );
    assert_eq!(tail.len(), 8, "and nothing else");
    c.assert_origin_untouched();
}

pub(crate) fn production_account_test_key_is_sandboxed_too(c: &Ctx) {
    // A production agreement may hold live keys, but its test key still only sees the sandbox.
    let t = c.tenant_with("production", "production");
    let r = c.get(&t, "/v1/accounts?limit=100");
    r.expect_status(200);
    assert_eq!(
        c.data
            .all_settled("accounts", r.json["data"].as_array().unwrap()),
        c.data.all_settled(
            "accounts",
            &c.data.records("accounts")[..c.data.records("accounts").len().min(100)]
        )
    );
    let order = c.create(&t, "payment_orders", &c.data.order_body(4242));
    assert_eq!(order["livemode"], false);
    assert_eq!(
        order["status"], "executed",
        "due today, in the sandbox only"
    );
    c.assert_origin_untouched();
}
