//! State: isolation and reset.

use super::*;

pub(crate) fn accounts_never_see_each_others_objects(c: &Ctx) {
    let a = c.tenant("isolation-a");
    let b = c.tenant("isolation-b");
    let order = c.create(&a, "payment_orders", &c.data.order_body(777));
    let product = c.data.available_products()[0];
    let quote = c.create(&a, "quotes", &c.data.quote_body(product));
    let policy = c.create(&a, "policies", &json!({"quote_id": quote["id"]}));
    let (oid, qid, pid) = (
        order["id"].as_str().unwrap(),
        quote["id"].as_str().unwrap(),
        policy["id"].as_str().unwrap(),
    );

    // A reads everything back.
    for (coll, id) in [("payment_orders", oid), ("quotes", qid), ("policies", pid)] {
        c.get(&a, &format!("/v1/{coll}/{id}")).expect_status(200);
    }
    // B sees none of it: not by id, not in lists, not nested, not through filters.
    for (coll, id) in [("payment_orders", oid), ("quotes", qid), ("policies", pid)] {
        c.get(&b, &format!("/v1/{coll}/{id}")).expect_status(404);
        assert_eq!(
            c.walk_ids(&b, &format!("/v1/{coll}")),
            c.file_ids_then(coll, &[]),
            "B's list of {coll}"
        );
    }
    c.get(&b, &format!("/v1/quotes/{qid}/policies"))
        .expect_status(404);
    let offered = c.get(&b, "/v1/quotes?status=offered");
    assert!(
        !ids(offered.json["data"].as_array().unwrap()).contains(&qid.to_string()),
        "{offered}"
    );
    let account = c.data.open_account("EUR")["id"].as_str().unwrap();
    let nested = c.walk_ids(&b, &format!("/v1/accounts/{account}/payment_orders"));
    assert!(!nested.contains(&oid.to_string()));
    // B cannot use A's objects as references either.
    let r = c.post(&b, "/v1/policies", &json!({"quote_id": qid}));
    assert_error_on(&r, 400, "quote_id");

    // And the other way round: B's creations stay B's.
    let order_b = c.create(&b, "payment_orders", &c.data.order_body(778));
    c.get(
        &a,
        &format!("/v1/payment_orders/{}", order_b["id"].as_str().unwrap()),
    )
    .expect_status(404);
    assert_eq!(
        c.walk_ids(&a, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&order])
    );
    assert_eq!(
        c.walk_ids(&b, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&order_b])
    );
    // A third account, two keys of one account: a second key of A sees A's objects.
    let (_, second) = c.gw.create_key(
        &a.account_id,
        &json!({"name": "second key", "environment": "test"}),
    );
    let a2 = Tenant {
        account_id: a.account_id.clone(),
        secret: second,
        product_keys: a.product_keys.clone(),
    };
    assert_eq!(c.get(&a2, &format!("/v1/policies/{pid}")).json, policy);
    c.assert_origin_untouched();
}

pub(crate) fn reset_clears_what_the_account_created_only(c: &Ctx) {
    let a = c.tenant("reset-a");
    let b = c.tenant("reset-b");
    let product = c.data.available_products()[0];
    let order = c.create(&a, "payment_orders", &c.data.order_body(100));
    let r = c.post_idem(&a, "/v1/quotes", "reset-key", &c.data.quote_body(product));
    r.expect_status(201);
    let quote = r.json.clone();
    let policy = c.create(&a, "policies", &json!({"quote_id": quote["id"]}));
    let order_b = c.create(&b, "payment_orders", &c.data.order_body(200));

    let r = c.reset(&a);
    r.expect_status(200);
    assert_eq!(r.json["object"], "sandbox_reset", "{r}");
    assert_eq!(r.json["deleted"], 3, "{r}");
    assert_eq!(r.json["idempotency_keys_cleared"], 1, "{r}");

    for (coll, obj) in [
        ("payment_orders", &order),
        ("quotes", &quote),
        ("policies", &policy),
    ] {
        let id = obj["id"].as_str().unwrap();
        c.get(&a, &format!("/v1/{coll}/{id}")).expect_status(404);
        assert_eq!(
            c.walk_ids(&a, &format!("/v1/{coll}")),
            c.file_ids_then(coll, &[])
        );
    }
    // The idempotency key is forgotten: reusing it with another body creates.
    let mut other = c.data.quote_body(product);
    other["holder"]["name"] = json!("Max Mustermann");
    let r = c.post_idem(&a, "/v1/quotes", "reset-key", &other);
    r.expect_status(201);
    assert!(r.header("idempotent-replayed").is_none(), "{r}");
    assert_ne!(r.json["id"], quote["id"]);

    // B's sandbox is untouched by A's reset.
    let id_b = order_b["id"].as_str().unwrap();
    assert_eq!(
        c.get(&b, &format!("/v1/payment_orders/{id_b}")).json,
        order_b
    );
    // Reset of an empty sandbox, and again: nothing to delete, still 200.
    let r = c.reset(&b);
    assert_eq!(r.json["deleted"], 1, "{r}");
    let r = c.reset(&b);
    r.expect_status(200);
    assert_eq!(r.json["deleted"], 0, "{r}");
    c.get(&b, &format!("/v1/payment_orders/{id_b}"))
        .expect_status(404);
    // GET is not a reset.
    let r = c.req(&b, "GET", "/v1/sandbox/reset").send();
    r.expect_status(405);
    c.assert_origin_untouched();
}
