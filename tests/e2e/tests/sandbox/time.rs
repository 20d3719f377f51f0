//! The sandbox clock: per account, forward only, shown on every answer; and the lifecycles it
//! drives (quotes expire, policies start and end).

use super::*;

pub(crate) fn day_of(text: &str) -> i64 {
    let part = |range: std::ops::Range<usize>| text[range].parse::<i64>().expect("a date");
    days_from_civil(part(0..4), part(5..7), part(8..10))
}

pub(crate) fn the_clock_moves_forward_per_account_and_shows_on_every_answer(c: &Ctx) {
    let a = c.tenant("clock-a");
    let b = c.tenant("clock-b");
    let start = c.clock(&a);
    assert_eq!(start["real_time"], true, "{start}");
    assert_eq!(start["ahead_seconds"], 0);
    let today = day_of(start["today"].as_str().unwrap());
    assert!((today - dates::today()).abs() <= 1, "real time: {start}");

    let r = c.move_clock(&a, &json!({"advance": {"days": 3, "hours": 5}}));
    r.expect_status(200);
    assert_eq!(r.json["real_time"], false, "{r}");
    let ahead = r.json["ahead_seconds"].as_i64().unwrap();
    assert!(
        (3 * 86_400 + 5 * 3_600..3 * 86_400 + 5 * 3_600 + 5).contains(&ahead),
        "{r}"
    );
    let moved_day = day_of(r.json["today"].as_str().unwrap());
    assert!(moved_day - today == 3 || moved_day - today == 4, "{r}");
    // The clock is in every answer of the account's sandbox, and in its data: a created object's
    // `created`, a default date.
    let owners = c.get(&a, "/v1/owners");
    assert!(
        owners.header("x-sandbox-clock").unwrap() >= r.json["now"].as_str().unwrap(),
        "{owners}"
    );
    let order = c.create(&a, "payment_orders", &c.data.order_body(1_234));
    assert_eq!(order["requested_execution_date"], r.json["today"]);
    assert!(order["created"].as_i64().unwrap() >= dates::now_unix() + ahead - 5);

    // Another account's clock never moved.
    let other = c.clock(&b);
    assert_eq!(other["real_time"], true, "{other}");
    assert_eq!(day_of(other["today"].as_str().unwrap()), dates::today());

    // Forward only; a reset returns to real time.
    let back = c.move_clock(&a, &json!({"to": fmt_day(today)}));
    assert_error_on(&back, 400, "to");
    assert!(
        back.json["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset")
    );
    let too_far = c.move_clock(&a, &json!({"advance": {"days": 401}}));
    assert_error_on(&too_far, 400, "advance.days");
    let r = c.reset(&a);
    r.expect_status(200);
    assert_eq!(r.json["clock_reset"], true, "{r}");
    assert_eq!(c.clock(&a)["real_time"], true);
    c.assert_origin_untouched();
}

pub(crate) fn a_quote_expires_and_a_policy_starts_and_ends_as_days_pass(c: &Ctx) {
    let t = c.tenant("lifecycles");
    let watcher = c.tenant("lifecycles-watcher");
    let today = day_of(&c.today(&t));
    let product = c.data.available_products()[0];
    let quote = c.create(&t, "quotes", &c.data.quote_body(product));
    assert_eq!(quote["status"], "offered");
    let valid_until = day_of(quote["valid_until"].as_str().unwrap());
    let bound = c.create(&t, "quotes", &c.data.quote_body(product));
    let policy = c.create(
        &t,
        "policies",
        &json!({"quote_id": bound["id"], "start_date": fmt_day(today + 2)}),
    );
    assert_eq!(policy["status"], "pending", "{policy}");
    let quote_url = format!("/v1/quotes/{}", quote["id"].as_str().unwrap());
    let policy_url = format!("/v1/policies/{}", policy["id"].as_str().unwrap());
    let end = day_of(policy["end_date"].as_str().unwrap());

    c.move_clock(&t, &json!({"to": fmt_day(today + 2)}))
        .expect_status(200);
    assert_eq!(c.get(&t, &policy_url).json["status"], "active");
    c.move_clock(&t, &json!({"to": fmt_day(valid_until)}))
        .expect_status(200);
    assert_eq!(
        c.get(&t, &quote_url).json["status"],
        "offered",
        "on its last day"
    );
    c.move_clock(&t, &json!({"advance": {"days": 1}}))
        .expect_status(200);
    let expired = c.get(&t, &quote_url);
    assert_eq!(expired.json["status"], "expired", "{expired}");
    let listed = c.walk_ids(&t, "/v1/quotes?status=expired");
    assert!(listed.contains(&quote["id"].as_str().unwrap().to_string()));
    let refused = c.post(&t, "/v1/policies", &json!({"quote_id": quote["id"]}));
    assert_error_on(&refused, 409, "quote_id");

    c.move_clock(&t, &json!({"to": fmt_day(end)}))
        .expect_status(200);
    assert_eq!(
        c.get(&t, &policy_url).json["status"],
        "active",
        "on its end_date"
    );
    c.move_clock(&t, &json!({"advance": {"hours": 24}}))
        .expect_status(200);
    assert_eq!(c.get(&t, &policy_url).json["status"], "expired");

    // Nothing moved for another account: its clock, and the shipped data it reads.
    assert_eq!(c.clock(&watcher)["real_time"], true);
    assert_eq!(
        c.walk(&watcher, "/v1/policies", 100).as_slice(),
        c.data.records("policies"),
        "another account's policies are as the files, today"
    );
    c.assert_origin_untouched();
}

fn new_transactions(c: &Ctx, t: &Tenant, since: &str) -> Vec<Value> {
    c.walk(t, "/v1/transactions", 100)
        .into_iter()
        .filter(|tx| tx["booking_date"].as_str().unwrap() > since)
        .collect()
}

pub(crate) fn orders_execute_on_their_date_and_accounts_get_new_activity(c: &Ctx) {
    let t = c.tenant("ledger");
    let twin = c.tenant("ledger-twin");
    let watcher = c.tenant("ledger-watcher");
    let today = c.today(&t);
    let in_three = fmt_day(day_of(&today) + 3);
    let account = c.data.open_account("EUR");
    let account_url = format!("/v1/accounts/{}", account["id"].as_str().unwrap());
    let balance = c.get(&t, &account_url).json["balance"].as_i64().unwrap();
    let mut body = c.data.order_body(4_321);
    body["requested_execution_date"] = json!(in_three);
    let paid = c.create(&t, "payment_orders", &body);
    assert_eq!(paid["status"], "pending", "{paid}");
    let mut body = c.data.order_body(99_999_999);
    body["requested_execution_date"] = json!(in_three);
    let too_big = c.create(&t, "payment_orders", &body);
    let mut body = c.data.order_body(1_111);
    body["requested_execution_date"] = json!(in_three);
    let withdrawn = c.create(&t, "payment_orders", &body);
    let cancel = format!(
        "/v1/payment_orders/{}/cancel",
        withdrawn["id"].as_str().unwrap()
    );
    let r = c.post(&t, &cancel, &json!({}));
    r.expect_status(200);
    assert_eq!(r.json["status"], "cancelled", "{r}");
    let watched_before = c.walk(&watcher, "/v1/transactions", 100);

    c.move_clock(&t, &json!({"advance": {"days": 3}}))
        .expect_status(200);
    let order = |o: &Value| {
        c.get(
            &t,
            &format!("/v1/payment_orders/{}", o["id"].as_str().unwrap()),
        )
    };
    let executed = order(&paid).json;
    assert_eq!(executed["status"], "executed", "{executed}");
    let tx = c.get(
        &t,
        &format!(
            "/v1/transactions/{}",
            executed["transaction_id"].as_str().unwrap()
        ),
    );
    assert_eq!(tx.json["amount"], -4_321, "{tx}");
    assert_eq!(tx.json["booking_date"], in_three.as_str());
    assert_eq!(
        order(&withdrawn).json["status"],
        "cancelled",
        "a cancelled order never runs"
    );
    c.post(&t, &cancel, &json!({})).expect_status(409);
    let rejected = order(&too_big).json;
    assert_eq!(rejected["status"], "rejected", "{rejected}");
    assert_eq!(rejected["status_reason"], "insufficient_funds");
    // The balance moved by the debit and by whatever else the three days booked.
    let moved = c.get(&t, &account_url).json;
    assert_eq!(moved["balance_date"], in_three.as_str(), "{moved}");
    let booked: i64 = new_transactions(c, &t, &today)
        .iter()
        .filter(|tx| tx["account_id"] == account["id"])
        .map(|tx| tx["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(
        moved["balance"].as_i64().unwrap(),
        balance + booked,
        "{moved}"
    );

    // A week on, new activity; the same for another account reset and moved the same way.
    c.move_clock(&t, &json!({"advance": {"days": 4}}))
        .expect_status(200);
    c.reset(&t).expect_status(200);
    c.move_clock(&t, &json!({"advance": {"days": 7}}))
        .expect_status(200);
    c.move_clock(&twin, &json!({"advance": {"days": 7}}))
        .expect_status(200);
    let week = new_transactions(c, &t, &today);
    assert!(week.len() >= 10, "a week of activity: {}", week.len());
    assert_eq!(week, new_transactions(c, &twin, &today));
    // Nothing moved for an account that did not move its clock.
    assert_eq!(c.walk(&watcher, "/v1/transactions", 100), watched_before);
    assert_eq!(c.clock(&watcher)["real_time"], true);
    c.assert_origin_untouched();
}

pub(crate) fn the_clock_stops_at_its_bound_and_the_ledger_at_its_own(c: &Ctx) {
    let t = c.tenant("clock-bounds");
    // 400 days a call, up to 3,653 days ahead of real time: a tenant past it gets a 409.
    for _ in 0..9 {
        c.move_clock(&t, &json!({"advance": {"days": 400}}))
            .expect_status(200);
    }
    let past = c.move_clock(&t, &json!({"advance": {"days": 400}}));
    past.expect_status(409);
    assert!(
        past.json["message"]
            .as_str()
            .unwrap()
            .contains("/v1/sandbox/reset"),
        "{past}"
    );
    assert_eq!(c.clock(&t)["ahead_seconds"], 3_600 * 86_400);
    // The ledger books four years past the files' day (LEDGER_DAYS, docs/sandbox.md), then
    // accounts stand still: the balance is dated that last day, whatever the clock says.
    let account = c.data.open_account("EUR");
    let files_day = day_of(account["balance_date"].as_str().unwrap());
    let read = c.get(
        &t,
        &format!("/v1/accounts/{}", account["id"].as_str().unwrap()),
    );
    read.expect_status(200);
    assert_eq!(
        read.json["balance_date"],
        fmt_day(files_day + 1_461),
        "{read}"
    );
    c.reset(&t).expect_status(200);
    assert_eq!(c.clock(&t)["real_time"], true);
}
