//! Named sandboxes (`Keygate-Sandbox`): isolated from each other and from the account's default
//! sandbox under concurrency, listed, capped and deleted.

use super::*;

const HEADER: &str = "Keygate-Sandbox";

impl Ctx {
    /// A request to the tenant's sandbox called `name`.
    fn named(&self, t: &Tenant, name: &str, method: &str, path: &str) -> Req {
        self.req(t, method, path).header(HEADER, name)
    }
}

/// The ids of `t`'s created payment orders in sandbox `name` (the files' come first).
fn created_orders(c: &Ctx, t: &Tenant, name: &str) -> Vec<String> {
    let files = c.file_ids_then("payment_orders", &[]).len();
    let r = sandboxed(
        c.named(t, name, "GET", "/v1/payment_orders?limit=100")
            .send(),
    );
    r.expect_status(200);
    assert_eq!(r.header("keygate-sandbox"), Some(name), "{r}");
    let mut all = ids(r.json["data"].as_array().unwrap());
    assert!(all.len() >= files.min(100));
    let mut next = r;
    while next.json["has_more"] == true {
        let last = all.last().unwrap().clone();
        next = sandboxed(
            c.named(
                t,
                name,
                "GET",
                &format!("/v1/payment_orders?limit=100&starting_after={last}"),
            )
            .send(),
        );
        all.extend(ids(next.json["data"].as_array().unwrap()));
    }
    all.split_off(files)
}

pub(crate) fn named_sandboxes_never_see_each_other_with_32_requests_in_flight(c: &Ctx) {
    let t = c.tenant("named-isolation");
    let (a, b) = ("ci-run-4711", "ci-run-4712");
    // Sandbox a's clock moves; b's and the default's stay on real time.
    let moved = sandboxed(
        c.named(&t, a, "POST", "/v1/sandbox/clock")
            .json(&json!({"advance": {"days": 3}}))
            .send(),
    );
    moved.expect_status(200);
    assert_eq!(moved.header("keygate-sandbox"), Some(a), "{moved}");
    let clock_b = sandboxed(c.named(&t, b, "GET", "/v1/sandbox/clock").send());
    assert_eq!(clock_b.json["real_time"], true, "{clock_b}");
    assert_eq!(c.clock(&t)["real_time"], true);

    // 32 creates at once, 16 per sandbox; each idempotency key is used in both with another
    // body, so a key shared across sandboxes would be a 409 or a replay.
    let answers: Vec<(String, Resp)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..32)
            .map(|i| {
                let (name, amount) = if i % 2 == 0 {
                    (a, 10_000 + i)
                } else {
                    (b, 20_000 + i)
                };
                let body = c.data.order_body(amount);
                let t = &t;
                scope.spawn(move || {
                    let r = c
                        .named(t, name, "POST", "/v1/payment_orders")
                        .header("Idempotency-Key", &format!("key-{}", i / 2))
                        .json(&body)
                        .send();
                    (name.to_string(), sandboxed(r))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut made: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, r) in &answers {
        r.expect_status(201);
        assert!(r.header("idempotent-replayed").is_none(), "{r}");
        assert_eq!(r.header("keygate-sandbox"), Some(name.as_str()), "{r}");
        made.entry(name.clone())
            .or_default()
            .push(r.json["id"].as_str().unwrap().to_string());
    }
    for (name, other) in [(a, b), (b, a)] {
        let mine: HashSet<String> = made[name].iter().cloned().collect();
        let listed: HashSet<String> = created_orders(c, &t, name).into_iter().collect();
        assert_eq!(listed, mine, "sandbox {name} lists exactly its own orders");
        for id in &made[other] {
            let r = sandboxed(
                c.named(&t, name, "GET", &format!("/v1/payment_orders/{id}"))
                    .send(),
            );
            r.expect_status(404);
        }
    }
    // Nor each other's events: each feed has exactly its own creations.
    for name in [a, b] {
        let mut ids = Vec::new();
        let mut path = "/v1/events?type=payment_order.created&limit=100".to_string();
        loop {
            let r = sandboxed(c.named(&t, name, "GET", &path).send());
            r.expect_status(200);
            let data = r.json["data"].as_array().unwrap().clone();
            ids.extend(
                data.iter()
                    .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string()),
            );
            if r.json["has_more"] != true {
                break;
            }
            let last = data.last().unwrap()["id"].as_str().unwrap().to_string();
            path = format!("/v1/events?type=payment_order.created&limit=100&starting_after={last}");
        }
        let ids: HashSet<String> = ids.into_iter().collect();
        let mine: HashSet<String> = made[name].iter().cloned().collect();
        assert_eq!(ids, mine, "sandbox {name}'s events are of its own orders");
    }
    // The default sandbox saw none of it, and a key replayed in a gives a's object.
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[])
    );
    let replay = sandboxed(
        c.named(&t, a, "POST", "/v1/payment_orders")
            .header("Idempotency-Key", "key-0")
            .json(&c.data.order_body(10_000))
            .send(),
    );
    replay.expect_status(201);
    assert_eq!(
        replay.header("idempotent-replayed"),
        Some("true"),
        "{replay}"
    );
    assert!(made[a].contains(&replay.json["id"].as_str().unwrap().to_string()));
    // Moving a's clock on moves nothing else.
    let clock_b = sandboxed(c.named(&t, b, "GET", "/v1/sandbox/clock").send());
    assert_eq!(clock_b.json["real_time"], true, "{clock_b}");
    c.assert_origin_untouched();
}

pub(crate) fn named_sandboxes_are_listed_capped_and_deleted(c: &Ctx) {
    let t = c.tenant("named-index");
    // Malformed names are refused before anything runs.
    for bad in ["a/b", "..", "a b", &"x".repeat(65)] {
        let r = sandboxed(c.named(&t, bad, "GET", "/v1/sandbox/clock").send());
        r.expect_status(400);
        assert!(r.json["message"].as_str().unwrap().contains(HEADER), "{r}");
    }
    let order = sandboxed(
        c.named(&t, "keep", "POST", "/v1/payment_orders")
            .json(&c.data.order_body(4_242))
            .send(),
    );
    order.expect_status(201);
    let listed = sandboxed(c.req(&t, "GET", "/v1/sandbox/sandboxes").send());
    listed.expect_status(200);
    let names: Vec<&str> = listed.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["keep"], "{listed}");

    // The cap: 50 names, then a 409 that says what to do; the names in use still answer.
    for n in 1..50 {
        sandboxed(
            c.named(&t, &format!("run-{n:02}"), "GET", "/v1/sandbox/clock")
                .send(),
        )
        .expect_status(200);
    }
    let over = sandboxed(
        c.named(&t, "one-too-many", "GET", "/v1/sandbox/clock")
            .send(),
    );
    over.expect_status(409);
    assert!(
        over.json["message"]
            .as_str()
            .unwrap()
            .contains("DELETE /v1/sandbox/sandboxes/{name}"),
        "{over}"
    );
    sandboxed(c.named(&t, "run-01", "GET", "/v1/sandbox/clock").send()).expect_status(200);
    let listed = sandboxed(c.req(&t, "GET", "/v1/sandbox/sandboxes").send());
    assert_eq!(
        listed.json["data"].as_array().unwrap().len(),
        50,
        "{listed}"
    );

    // A read-only key lists but cannot delete.
    let (_, reader) = c.gw.create_key(
        &t.account_id,
        &json!({"name": "reader", "environment": "test", "scopes": ["sandbox:read"]}),
    );
    let r =
        c.gw.request("GET", "/v1/sandbox/sandboxes")
            .bearer(&reader)
            .send();
    r.expect_status(200);
    let r =
        c.gw.request("DELETE", "/v1/sandbox/sandboxes/keep")
            .bearer(&reader)
            .send();
    r.expect_status(403);

    // Deleting takes the objects with it and makes room.
    let r = sandboxed(c.req(&t, "DELETE", "/v1/sandbox/sandboxes/keep").send());
    r.expect_status(200);
    assert_eq!(
        r.json,
        json!({"object": "sandbox", "name": "keep", "deleted": true})
    );
    sandboxed(c.req(&t, "DELETE", "/v1/sandbox/sandboxes/keep").send()).expect_status(404);
    sandboxed(c.req(&t, "DELETE", "/v1/sandbox/sandboxes/a.b").send()).expect_status(400);
    sandboxed(
        c.named(&t, "one-too-many", "GET", "/v1/sandbox/clock")
            .send(),
    )
    .expect_status(200);
    let id = order.json["id"].as_str().unwrap();
    // "keep" again is a new, empty sandbox, once there is room (delete one more first).
    sandboxed(c.req(&t, "DELETE", "/v1/sandbox/sandboxes/run-02").send()).expect_status(200);
    let r = sandboxed(
        c.named(&t, "keep", "GET", &format!("/v1/payment_orders/{id}"))
            .send(),
    );
    r.expect_status(404);
    assert!(created_orders(c, &t, "keep").is_empty());
    c.assert_origin_untouched();
}

/// The script a snapshot test would run against a repeatable sandbox: every answer's body and
/// its sandbox clock header.
fn snapshot_script(c: &Ctx, t: &Tenant, name: &str) -> Vec<(u16, String, String)> {
    let send = |method: &str, path: &str, body: Option<&Value>| {
        let mut req = c.named(t, name, method, path);
        if let Some(body) = body {
            req = req.json(body);
        }
        let r = sandboxed(req.send());
        let clock = r.header("x-sandbox-clock").unwrap_or_default().to_string();
        (r.status, clock, r.text())
    };
    let mut order = c.data.order_body(4_711);
    order["requested_execution_date"] = json!("2027-01-06");
    // Above any balance: rejected on its day.
    let mut too_much = c.data.order_body(90_000_000);
    too_much["requested_execution_date"] = json!("2027-01-05");
    vec![
        send("GET", "/v1/sandbox/clock", None),
        send("POST", "/v1/payment_orders", Some(&order)),
        send("POST", "/v1/payment_orders", Some(&too_much)),
        send(
            "POST",
            "/v1/sandbox/clock",
            Some(&json!({"advance": {"days": 3}})),
        ),
        send("GET", "/v1/payment_orders?limit=100", None),
        send("GET", "/v1/transactions?limit=100", None),
        send("POST", "/v1/sandbox/reset", None),
        send("GET", "/v1/sandbox/clock", None),
    ]
}

pub(crate) fn the_same_script_against_fresh_repeatable_sandboxes_answers_byte_for_byte(c: &Ctx) {
    let t = c.tenant("repeatable");
    let create = |name: &str| {
        let r = sandboxed(
            c.req(&t, "POST", "/v1/sandbox/sandboxes")
                .json(&json!({"name": name, "seed": 4711, "clock": "2027-01-04"}))
                .send(),
        );
        r.expect_status(201);
        assert_eq!(
            r.json["repeatable"],
            json!({"seed": 4711, "clock_start": "2027-01-04T00:00:00Z"}),
            "{r}"
        );
        r
    };
    create("snap-a");
    let first = snapshot_script(c, &t, "snap-a");
    assert!(
        first.iter().all(|(status, _, _)| *status < 300),
        "{first:?}"
    );
    assert!(first[0].2.contains("\"frozen\":true"), "{}", first[0].2);
    let orders: Value = serde_json::from_str(&first[4].2).unwrap();
    let newest: Vec<&Value> = orders["data"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .take(2)
        .map(|o| &o["status"])
        .collect();
    assert_eq!(
        newest,
        [&json!("rejected"), &json!("executed")],
        "{}",
        first[4].2
    );
    // A name in use cannot be created again; deleted, it can, and starts afresh.
    sandboxed(
        c.req(&t, "POST", "/v1/sandbox/sandboxes")
            .json(&json!({"name": "snap-a", "seed": 4711, "clock": "2027-01-04"}))
            .send(),
    )
    .expect_status(409);
    sandboxed(c.req(&t, "DELETE", "/v1/sandbox/sandboxes/snap-a").send()).expect_status(200);
    create("snap-a");
    let second = snapshot_script(c, &t, "snap-a");
    assert_eq!(
        first, second,
        "a fresh sandbox with the same seed answers the same"
    );
    // Another name, another account: the seed and the clock decide, nothing else.
    let other = c.tenant("repeatable-other");
    let r = sandboxed(
        c.req(&other, "POST", "/v1/sandbox/sandboxes")
            .json(&json!({"name": "snap-b", "seed": 4711, "clock": "2027-01-04"}))
            .send(),
    );
    r.expect_status(201);
    assert_eq!(snapshot_script(c, &other, "snap-b"), first);
    c.assert_origin_untouched();
}

pub(crate) fn events_show_writes_and_what_the_days_did_to_keys_that_may_read_them(c: &Ctx) {
    let t = c.tenant("events");
    let mut due = c.data.order_body(2_500);
    let today = c.today(&t);
    let in_three = {
        let part = |r: std::ops::Range<usize>| today[r].parse::<i64>().unwrap();
        fmt_day(days_from_civil(part(0..4), part(5..7), part(8..10)) + 3)
    };
    due["requested_execution_date"] = json!(in_three);
    let order = c.create(&t, "payment_orders", &due);
    let product = c.data.available_products()[0];
    let quote = c.create(&t, "quotes", &c.data.quote_body(product));
    // Four days: the order is booked at 06:00 on the third, and an event is in the feed once
    // its time has come, whatever time of day this runs at.
    c.move_clock(&t, &json!({"advance": {"days": 4}}))
        .expect_status(200);
    let events = c.walk(&t, "/v1/events", 100);
    let of = |kind: &str, id: &Value| {
        events
            .iter()
            .find(|e| e["type"] == kind && e["data"]["object"]["id"] == *id)
            .unwrap_or_else(|| panic!("no {kind} of {id}"))
            .clone()
    };
    let created = of("payment_order.created", &order["id"]);
    assert_eq!(created["data"]["object"], order);
    let executed = of("payment_order.executed", &order["id"]);
    assert_eq!(executed["data"]["object"]["status"], "executed");
    assert!(executed["created"].as_i64() > created["created"].as_i64());
    of("quote.created", &quote["id"]);
    let times: Vec<i64> = events
        .iter()
        .map(|e| e["created"].as_i64().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] <= w[1]));
    let one = c.get(
        &t,
        &format!("/v1/events/{}", executed["id"].as_str().unwrap()),
    );
    one.expect_status(200);
    assert_eq!(one.json, executed);

    // A key that may read quotes only sees quote events, even of what other keys did.
    let (_, quotes_only) = c.gw.create_key(
        &t.account_id,
        &json!({"name": "quotes only", "environment": "test",
                "scopes": ["events:read", "quotes:read"]}),
    );
    let narrow = Tenant {
        account_id: t.account_id.clone(),
        secret: quotes_only,
        product_keys: t.product_keys.clone(),
    };
    let seen = c.walk(&narrow, "/v1/events", 100);
    assert!(!seen.is_empty());
    assert!(
        seen.iter()
            .all(|e| e["type"].as_str().unwrap().starts_with("quote.")),
        "{seen:?}"
    );
    c.get(
        &narrow,
        &format!("/v1/events/{}", executed["id"].as_str().unwrap()),
    )
    .expect_status(404);
    // Without events:read, no feed at all.
    let (_, no_events) = c.gw.create_key(
        &t.account_id,
        &json!({"name": "no events", "environment": "test", "scopes": ["payment_orders:read"]}),
    );
    let r = c.gw.request("GET", "/v1/events").bearer(&no_events).send();
    r.expect_status(403);
    c.assert_origin_untouched();
}

pub(crate) fn a_named_sandbox_left_idle_goes_and_its_name_is_freed(_c: &Ctx) {
    // A gateway of its own, where a named sandbox goes after 3 s without a write.
    let gw = Gateway::builder().var("SANDBOX_IDLE_SECONDS", "3").start();
    let account = gw.create_account(&json!({"name": "idle sandboxes", "agreement": "test"}));
    let (_, secret) = gw.create_key(
        account["id"].as_str().unwrap(),
        &json!({"name": "idle", "environment": "test"}),
    );
    let send = |name: &str, method: &str, path: &str, body: Option<Value>| {
        let mut req = gw
            .request(method, path)
            .bearer(&secret)
            .header(HEADER, name);
        if let Some(body) = body {
            req = req.json(&body);
        }
        sandboxed(req.send())
    };
    let listed = || {
        let r = sandboxed(
            gw.request("GET", "/v1/sandbox/sandboxes")
                .bearer(&secret)
                .send(),
        );
        r.expect_status(200);
        r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect::<Vec<String>>()
    };
    let advance = json!({"advance": {"days": 1}});
    send("idle", "POST", "/v1/sandbox/clock", Some(advance.clone())).expect_status(200);
    send("busy", "POST", "/v1/sandbox/clock", Some(advance.clone())).expect_status(200);
    assert_eq!(listed(), ["busy", "idle"]);
    // "busy" is written every second; "idle" never again.
    let started = std::time::Instant::now();
    while listed().contains(&"idle".to_string()) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the idle sandbox is still listed after 20 s"
        );
        send("busy", "POST", "/v1/sandbox/clock", Some(advance.clone())).expect_status(200);
        std::thread::sleep(Duration::from_millis(700));
    }
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "gone before its idle time"
    );
    assert_eq!(listed(), ["busy"], "a sandbox written to stays");
    // Its state went with it: the name starts afresh.
    let clock = send("idle", "GET", "/v1/sandbox/clock", None);
    clock.expect_status(200);
    assert_eq!(clock.json["real_time"], true, "{clock}");
    assert_eq!(listed(), ["busy", "idle"]);
}
