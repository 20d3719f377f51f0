//! Idempotency.

use super::*;

pub(crate) fn idempotency_same_key_same_body_returns_same_object(c: &Ctx) {
    let t = c.tenant("idem-same");
    let body = c.data.order_body(3_100);
    let first = c.post_idem(&t, "/v1/payment_orders", "order-1", &body);
    first.expect_status(201);
    let second = c.post_idem(&t, "/v1/payment_orders", "order-1", &body);
    second.expect_status(201);
    assert_eq!(second.json, first.json, "same object");
    assert_eq!(second.text(), first.text(), "byte for byte");
    assert_eq!(
        second.header("idempotent-replayed"),
        Some("true"),
        "{second}"
    );
    assert_ne!(first.request_id(), second.request_id());

    // The same JSON with other key order and spacing is the same request.
    let mut reordered = String::from("{\n");
    let obj = body.as_object().unwrap();
    let keys: Vec<&String> = obj.keys().rev().collect();
    for (i, k) in keys.iter().enumerate() {
        let sep = if i + 1 < keys.len() { "," } else { "" };
        reordered.push_str(&format!("  {:?} :  {}{sep}\n", k, obj[*k]));
    }
    reordered.push('}');
    let third = sandboxed(
        c.req(&t, "POST", "/v1/payment_orders")
            .header("Idempotency-Key", "order-1")
            .header("Content-Type", "application/json")
            .body(reordered.into_bytes())
            .send(),
    );
    third.expect_status(201);
    assert_eq!(third.json, first.json);

    // Only one object exists.
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&first.json])
    );
    // Without a key, the same body creates a new object each time.
    let x = c.create(&t, "payment_orders", &body);
    let y = c.create(&t, "payment_orders", &body);
    assert_ne!(x["id"], y["id"]);
    assert_ne!(x["id"], first.json["id"]);
    // A different key with the same body is a new request.
    let other = c.post_idem(&t, "/v1/payment_orders", "order-2", &body);
    other.expect_status(201);
    assert_ne!(other.json["id"], first.json["id"]);
    assert!(other.header("idempotent-replayed").is_none(), "{other}");
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&first.json, &x, &y, &other.json])
    );
    c.assert_origin_untouched();
}

pub(crate) fn idempotency_same_key_different_body_is_409(c: &Ctx) {
    let t = c.tenant("idem-conflict");
    let first = c.post_idem(&t, "/v1/payment_orders", "k-1", &c.data.order_body(100));
    first.expect_status(201);
    let r = c.post_idem(&t, "/v1/payment_orders", "k-1", &c.data.order_body(101));
    r.expect_status(409);
    // The same key on another collection is another request too.
    let product = c.data.available_products()[0];
    let r = c.post_idem(&t, "/v1/quotes", "k-1", &c.data.quote_body(product));
    r.expect_status(409);
    // The original still replays, and nothing else was created.
    let again = c.post_idem(&t, "/v1/payment_orders", "k-1", &c.data.order_body(100));
    again.expect_status(201);
    assert_eq!(again.json, first.json);
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&first.json])
    );
    assert_eq!(c.walk_ids(&t, "/v1/quotes"), c.file_ids_then("quotes", &[]));
    c.assert_origin_untouched();
}

pub(crate) fn idempotency_keys_are_per_account(c: &Ctx) {
    let a = c.tenant("idem-a");
    let b = c.tenant("idem-b");
    let body = c.data.order_body(5_000);
    let ra = c.post_idem(&a, "/v1/payment_orders", "shared-key", &body);
    ra.expect_status(201);
    let rb = c.post_idem(&b, "/v1/payment_orders", "shared-key", &body);
    rb.expect_status(201);
    assert!(rb.header("idempotent-replayed").is_none(), "{rb}");
    assert_ne!(ra.json["id"], rb.json["id"], "B got its own object");
    // Each account replays its own object under the key.
    let rb2 = c.post_idem(&b, "/v1/payment_orders", "shared-key", &body);
    assert_eq!(rb2.json, rb.json);
    let ra2 = c.post_idem(&a, "/v1/payment_orders", "shared-key", &body);
    assert_eq!(ra2.json, ra.json);
    // A different body under the key conflicts with B's own request only; A is unaffected.
    let other = c.data.order_body(5_001);
    c.post_idem(&b, "/v1/payment_orders", "shared-key", &other)
        .expect_status(409);
    assert_eq!(
        c.post_idem(&a, "/v1/payment_orders", "shared-key", &body)
            .json,
        ra.json
    );
    c.get(
        &a,
        &format!("/v1/payment_orders/{}", rb.json["id"].as_str().unwrap()),
    )
    .expect_status(404);
    c.assert_origin_untouched();
}

pub(crate) fn idempotency_retry_after_failures_goes_through(c: &Ctx) {
    let t = c.tenant("idem-retry");
    let body = c.data.order_body(6_000);
    // A simulated failure processes nothing, so a retry with the same key creates.
    let r = sandboxed(
        c.req(&t, "POST", "/v1/payment_orders")
            .header("Idempotency-Key", "retry-1")
            .header("X-Sandbox-Scenario", "server_error")
            .json(&body)
            .send(),
    );
    r.expect_status(500);
    let created = c.post_idem(&t, "/v1/payment_orders", "retry-1", &body);
    created.expect_status(201);
    assert!(created.header("idempotent-replayed").is_none(), "{created}");
    let replay = c.post_idem(&t, "/v1/payment_orders", "retry-1", &body);
    assert_eq!(replay.json, created.json);
    assert_eq!(replay.header("idempotent-replayed"), Some("true"));

    // A rejected body can be corrected and sent again under the same key.
    let mut bad = body.clone();
    bad["amount"] = json!(-1);
    let r = c.post_idem(&t, "/v1/payment_orders", "retry-2", &bad);
    assert_error_on(&r, 400, "amount");
    let mut good = body.clone();
    good["amount"] = json!(6_001);
    let r = c.post_idem(&t, "/v1/payment_orders", "retry-2", &good);
    r.expect_status(201);
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&created.json, &r.json])
    );
    c.assert_origin_untouched();
}

pub(crate) fn idempotency_key_is_validated(c: &Ctx) {
    let t = c.tenant("idem-invalid");
    let body = c.data.order_body(100);
    let long = "k".repeat(256);
    let r = c.post_idem(&t, "/v1/payment_orders", &long, &body);
    assert_error_on(&r, 400, "Idempotency-Key");
    // 255 characters are fine.
    let r = c.post_idem(&t, "/v1/payment_orders", &"k".repeat(255), &body);
    r.expect_status(201);
    c.assert_origin_untouched();
}
