//! Webhooks in the sandbox: an integrator's endpoint on a local receiver gets every event of
//! its sandbox, signed (`Keygate-Signature`, re-derived here with `hmac` independently of
//! keygate-core), in the feed's order, once; a receiver answering 503 gets backed-off retries
//! and loses nothing; a key that may only read cannot register one. (The refusal of private
//! addresses where HTTPS is required is tried in the edge suite, on its HTTPS gateway.)

use super::*;
use keygate_e2e::Reply;
use keygate_e2e::offline::keygate_signature;

/// How long a receiver waits for deliveries that should come within a second or two.
const PATIENCE: Duration = Duration::from_secs(30);
/// How long a recovered receiver waits for what it refused: the back-off in flight (4 s, or
/// more after a timed-out attempt) and the deliveries behind it.
const RECOVERY_PATIENCE: Duration = Duration::from_secs(90);

/// Whether `header` is `t=<secs>,v1=<hex HMAC-SHA256 of "t.body">` under `secret`.
fn signed(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", value)) => t = Some(value),
            Some(("v1", value)) => v1 = Some(value),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    keygate_signature(secret, t, body) == v1
}

impl Ctx {
    /// Registers an endpoint on the receiver at `path` for `events`; its id and secret.
    fn register(&self, t: &Tenant, path: &str, events: &[&str]) -> (String, String) {
        let url = format!("{}{path}", self.receiver.url());
        let r = self.post(
            t,
            "/v1/webhook_endpoints",
            &json!({"url": url, "enabled_events": events}),
        );
        r.expect_status(201);
        assert_eq!(r.json["url"], url, "{r}");
        let secret = r.json["secret"]
            .as_str()
            .expect("the secret, once")
            .to_string();
        assert!(secret.starts_with("whsec_"), "{r}");
        (r.json["id"].as_str().unwrap().to_string(), secret)
    }

    /// The tenant's events after the one with id `after` (all of them for `None`).
    fn events_after(&self, t: &Tenant, after: Option<&str>) -> Vec<Value> {
        let feed = self.walk(t, "/v1/events", 100);
        let start = after.map_or(0, |id| {
            feed.iter()
                .position(|e| e["id"] == id)
                .expect("in the feed")
                + 1
        });
        feed[start..].to_vec()
    }
}

/// The bodies the receiver got at `path`, in arrival order, each checked to be signed.
fn received(c: &Ctx, path: &str, secret: &str, at_least: usize) -> Vec<Value> {
    c.receiver
        .wait_for(at_least, PATIENCE, |q| q.path == path)
        .iter()
        .map(|q| {
            assert_eq!(q.method, "POST");
            let signature = q.header("keygate-signature").expect("signed");
            assert!(signed(secret, signature, &q.body), "bad signature: {q:?}");
            serde_json::from_slice(&q.body).expect("a JSON event")
        })
        .collect()
}

fn event_ids(events: &[Value]) -> Vec<&str> {
    events.iter().map(|e| e["id"].as_str().unwrap()).collect()
}

pub(crate) fn an_endpoint_gets_every_event_of_a_create_advance_execute_flow_signed_and_in_order(
    c: &Ctx,
) {
    let t = c.tenant("hooks-flow");
    c.create(
        &t,
        "quotes",
        &c.data.quote_body(c.data.available_products()[0]),
    );
    let before = c.events_after(&t, None);
    let path = format!("/sandbox-hooks/flow-{}", t.account_id);
    let (id, secret) = c.register(&t, &path, &["*"]);

    let mut body = c.data.order_body(2_500);
    body["requested_execution_date"] = json!(fmt_day(day_of(&c.today(&t)) + 1));
    let order = c.create(&t, "payment_orders", &body);
    // Another sandbox of the same key: none of its events may reach this endpoint.
    sandboxed(
        c.req(&t, "POST", "/v1/quotes")
            .header("Keygate-Sandbox", "hooks-elsewhere")
            .json(&c.data.quote_body(c.data.available_products()[0]))
            .send(),
    )
    .expect_status(201);
    c.move_clock(&t, &json!({"advance": {"days": 2}}))
        .expect_status(200);
    let made = c.post(
        &t,
        "/v1/sandbox/events",
        &json!({"type": "payment_order.rejected"}),
    );
    made.expect_status(201);

    let feed = c.events_after(&t, before.last().and_then(|e| e["id"].as_str()));
    // The clock runs: should this run cross a booking time, the feed grows meanwhile, and
    // those events come after what was read here.
    let all = received(c, &path, &secret, feed.len());
    let got = &all[..feed.len()];
    assert_eq!(
        event_ids(got),
        event_ids(&feed),
        "every event once, in order"
    );
    assert_eq!(got, &feed[..], "each body as GET /v1/events shows it");
    let about_order: Vec<&str> = got
        .iter()
        .filter(|e| e["data"]["object"]["id"] == order["id"])
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        about_order[..2],
        ["payment_order.created", "payment_order.executed"]
    );
    assert_eq!(got.last().unwrap(), &made.json);
    let before_resend = received(c, &path, &secret, 0).len();

    // Sent again on demand.
    let first = &feed[0];
    let r = c.post(&t, "/v1/sandbox/events", &json!({"event": first["id"]}));
    r.expect_status(202);
    assert_eq!(r.json["endpoints"], json!([id]), "{r}");
    let again = received(c, &path, &secret, before_resend + 1);
    assert!(again[before_resend..].contains(first), "sent again");

    // Every attempt is in the delivery log.
    let r = c.get(&t, &format!("/v1/webhook_endpoints/{id}/deliveries"));
    r.expect_status(200);
    let log = r.json["data"].as_array().unwrap();
    assert!(log.len() >= (feed.len() + 1).min(100), "{r}");
    assert!(
        log.iter()
            .all(|a| a["status"] == 200 && a["delivered"] == true),
        "{r}"
    );
    let listed = c.get(&t, "/v1/webhook_endpoints");
    assert_eq!(listed.json["data"][0]["pending"], 0, "{listed}");
    assert!(listed.json["data"][0].get("secret").is_none(), "{listed}");
}

pub(crate) fn a_failing_receiver_gets_backed_off_retries_and_loses_nothing(c: &Ctx) {
    let t = c.tenant("hooks-flaky");
    let path = format!("/sandbox-hooks/flaky-{}", t.account_id);
    c.receiver
        .respond(&path, Reply::json(503, &json!({"down": true})));
    let (id, secret) = c.register(&t, &path, &["quote.created"]);
    let product = c.data.available_products()[0];
    let first = c.create(&t, "quotes", &c.data.quote_body(product));
    let second = c.create(&t, "quotes", &c.data.quote_body(product));

    // The receiver records a request before it answers it: the log, written once the answer
    // is in, says when three attempts have been refused and the receiver may recover.
    let log = |c: &Ctx| c.get(&t, &format!("/v1/webhook_endpoints/{id}/deliveries"));
    let deadline = std::time::Instant::now() + PATIENCE;
    while log(c).json["data"].as_array().map_or(0, Vec::len) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "three attempts while the receiver is down"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    c.receiver.respond(&path, Reply::ok());
    let refused = c.receiver.requests_where(|q| q.path == path);
    let spread = refused[2].received_at - refused[0].received_at;
    assert!(
        spread >= Duration::from_secs(2),
        "retries back off (1 s, then 2 s): {spread:?}"
    );

    // Back-off doubles (the next try may be 4 s or, if one timed out on a loaded machine, 8 s
    // and more away): wait on the delivery log until both are acknowledged.
    let deadline = std::time::Instant::now() + RECOVERY_PATIENCE;
    loop {
        let r = log(c);
        let delivered = r.json["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|a| a["delivered"] == true)
            .count();
        if delivered == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not delivered within {RECOVERY_PATIENCE:?} of the receiver's recovery: {r}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    let got = received(c, &path, &secret, 0);
    let order: Vec<String> = got
        .iter()
        .map(|e| e["data"]["object"]["id"].as_str().unwrap().to_string())
        .collect();
    let last_first = order.iter().rposition(|o| *o == first["id"]).unwrap();
    let first_second = order.iter().position(|o| *o == second["id"]).unwrap();
    assert!(
        last_first < first_second,
        "the second waits for the first: {order:?}"
    );
    assert_eq!(order.last().unwrap(), second["id"].as_str().unwrap());

    let r = log(c);
    // Every attempt is logged: the refused ones (503, or no answer in time), then the two
    // acknowledged.
    let attempts = r.json["data"].as_array().unwrap();
    let (delivered, failed): (Vec<&Value>, Vec<&Value>) =
        attempts.iter().partition(|a| a["delivered"] == true);
    assert!(failed.len() >= 3, "{r}");
    assert!(
        failed
            .iter()
            .all(|a| a["status"] == 503 || a["status"].is_null()),
        "{r}"
    );
    assert_eq!(delivered.len(), 2, "{r}");
    assert!(delivered.iter().all(|a| a["status"] == 200), "{r}");
}

pub(crate) fn a_read_only_test_key_cannot_register_a_webhook_endpoint(c: &Ctx) {
    let t = c.tenant("hooks-reader");
    for scopes in [json!(["*:read"]), json!(["sandbox:write", "events:read"])] {
        let (_, reader) = c.gw.create_key(
            &t.account_id,
            &json!({"name": "reader", "environment": "test", "scopes": scopes}),
        );
        let r = c
            .gw
            .request("POST", "/v1/webhook_endpoints")
            .bearer(&reader)
            .json(&json!({"url": format!("{}/sandbox-hooks/never", c.receiver.url()), "enabled_events": ["*"]}))
            .send();
        r.expect_status(403);
    }
    let (_, reader) = c.gw.create_key(
        &t.account_id,
        &json!({"name": "reader", "environment": "test", "scopes": ["*:read"]}),
    );
    let r =
        c.gw.request("GET", "/v1/webhook_endpoints")
            .bearer(&reader)
            .send();
    r.expect_status(200);
    assert!(
        c.receiver
            .requests_where(|q| q.path == "/sandbox-hooks/never")
            .is_empty()
    );
}

/// The bounds a tenant can cross: 5 endpoints per sandbox (409), a URL of at most 2048 bytes
/// and at most 64 event types (400); a backlog beyond the queue's 200 events, which holds the
/// cursor and loses nothing; and the delivery log, which keeps the newest 100 attempts.
pub(crate) fn webhook_bounds_refuse_clearly_and_a_long_backlog_loses_nothing(c: &Ctx) {
    let t = c.tenant("hooks-bounds");
    let path = format!("/sandbox-hooks/bounds-{}", t.account_id);
    let url = format!("{}{path}", c.receiver.url());
    let refused = |body: Value, field: &str| {
        let r = c.post(&t, "/v1/webhook_endpoints", &body);
        r.expect_status(400);
        assert_eq!(r.json["errors"][0]["field"], field, "{r}");
    };
    let long = format!("{url}/{}", "a".repeat(2048));
    refused(json!({"url": long, "enabled_events": ["*"]}), "url");
    refused(
        json!({"url": url, "enabled_events": vec!["transaction.created"; 65]}),
        "enabled_events",
    );
    let before = c.events_after(&t, None);
    let (id, secret) = c.register(&t, &path, &["transaction.created"]);
    for n in 1..5 {
        c.register(&t, &format!("{path}-spare-{n}"), &["statement.created"]);
    }
    let r = c.post(
        &t,
        "/v1/webhook_endpoints",
        &json!({"url": url, "enabled_events": ["*"]}),
    );
    r.expect_status(409);
    assert!(
        r.json["message"]
            .as_str()
            .unwrap()
            .contains("5 webhook endpoints"),
        "{r}"
    );

    // 25 days of transactions (about a dozen a day): more than a queue holds at once.
    c.move_clock(&t, &json!({"advance": {"days": 25}}))
        .expect_status(200);
    let feed: Vec<Value> = c
        .events_after(&t, before.last().and_then(|e| e["id"].as_str()))
        .into_iter()
        .filter(|e| e["type"] == "transaction.created")
        .collect();
    assert!(feed.len() > 200, "{} transactions", feed.len());
    let arrived = c
        .receiver
        .wait_for(feed.len(), RECOVERY_PATIENCE, |q| q.path == path);
    assert!(
        arrived.len() >= feed.len(),
        "{} of {}",
        arrived.len(),
        feed.len()
    );
    let got = received(c, &path, &secret, feed.len());
    assert_eq!(
        event_ids(&got[..feed.len()]),
        event_ids(&feed),
        "every event once, in order"
    );
    let r = c.get(&t, &format!("/v1/webhook_endpoints/{id}/deliveries"));
    assert_eq!(
        r.json["data"].as_array().unwrap().len(),
        100,
        "the newest 100 kept"
    );
}
