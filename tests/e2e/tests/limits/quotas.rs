//! Usage plans (docs/quotas.md): quotas and credits, exact under concurrency, and the usage
//! export that bills them, reconciled with what the trial itself counted.

use super::*;
use keygate_e2e::dates;

/// `{"requests": n, "period": "day"}`.
fn daily(n: u64) -> Value {
    json!({"requests": n, "period": "day"})
}

/// Today in UTC, `YYYY-MM-DD`, as the gateway's clock reads it (the machine's).
fn today() -> String {
    dates::fmt_day(dates::today())
}

/// The account's usage export for today, once its rows for `key_id` add up to `requests`
/// (settlements are sent about a second after the grants they settle).
fn settled_usage(gw: &Gateway, account: &str, key_id: &str, requests: u64) -> Value {
    let day = today();
    let path = format!("/accounts/{account}/usage?from={day}&to={day}&limit=100");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = op(gw, "GET", &path, None);
        r.expect_success();
        let rows: Vec<&Value> = r.json["data"]
            .as_array()
            .expect("data")
            .iter()
            .filter(|row| row["key_id"] == key_id)
            .collect();
        let total: u64 = rows
            .iter()
            .map(|row| {
                ["granted", "refused", "lapsed"]
                    .iter()
                    .map(|f| row[*f].as_u64().expect("a count"))
                    .sum::<u64>()
            })
            .sum();
        if total >= requests || Instant::now() > deadline {
            return r.json;
        }
        thread::sleep(Duration::from_millis(250));
    }
}

fn sum(export: &Value, key_id: &str, field: &str) -> u64 {
    export["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter(|row| row["key_id"] == key_id)
        .map(|row| row[field].as_u64().expect("a count"))
        .sum()
}

/// Checks that exactly `granted` of `answers` are 200 and the others 429 with a message that
/// names `what`; returns a refusal.
#[track_caller]
fn exactly_granted<'a>(answers: &'a [Resp], granted: usize, what: &str) -> &'a Resp {
    let statuses: Vec<u16> = answers.iter().map(|r| r.status).collect();
    let count = |status: u16| statuses.iter().filter(|s| **s == status).count();
    assert_eq!(
        (count(200), count(429)),
        (granted, answers.len() - granted),
        "{statuses:?}"
    );
    let refused = answers.iter().find(|r| r.status == 429).expect("a 429");
    let message = refused.json["message"].as_str().unwrap_or_default();
    assert!(message.contains(what), "names {what}: {refused}");
    refused
}

#[track_caller]
fn quota_headers(r: &Resp) -> (u64, u64, u64) {
    let value = |name: &str| -> u64 {
        r.header(name)
            .unwrap_or_else(|| panic!("no {name}: {r}"))
            .parse()
            .unwrap_or_else(|_| panic!("{name} is not a whole number: {r}"))
    };
    (
        value("keygate-quota-limit"),
        value("keygate-quota-remaining"),
        value("keygate-quota-reset"),
    )
}

pub(crate) fn a_daily_quota_of_50_grants_exactly_50_of_200_concurrent_requests(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "quota 50", json!({}));
    let k = key(gw, &a.id, "metered", json!({"quota": daily(50)}));
    let started = Instant::now();
    let answers = burst(200, |_| edge(gw, &k.secret, &a.pk));
    eprintln!(
        "measured: 200 concurrent requests against a quota of 50/day answered in {} ms",
        started.elapsed().as_millis()
    );
    let granted = answers.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Resp> = answers.iter().filter(|r| r.status == 429).collect();
    assert_eq!(
        (granted, refused.len()),
        (50, 150),
        "exactly the quota is granted"
    );
    for r in &refused {
        let (limit, remaining, reset) = quota_headers(r);
        assert_eq!((limit, remaining), (50, 0), "{r}");
        assert!(reset > 0 && reset <= 86_400, "{r}");
        let retry: u64 = r
            .header("retry-after")
            .expect("Retry-After")
            .parse()
            .unwrap();
        assert!(retry.abs_diff(reset) <= 1, "Retry-After is the reset: {r}");
        let message = r.json["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("quota"),
            "the message names the quota: {r}"
        );
        assert!(
            r.header("ratelimit-limit").is_none(),
            "no rate limit applies: {r}"
        );
    }
    for r in answers.iter().filter(|r| r.status == 200) {
        let (limit, _, _) = quota_headers(r);
        assert_eq!(limit, 50, "{r}");
    }
    // The export, once settled, is what this trial counted; its counter is the quota's.
    let export = settled_usage(gw, &a.id, &k.id, 200);
    assert_eq!(
        sum(&export, &k.id, "granted") + sum(&export, &k.id, "lapsed"),
        50
    );
    assert_eq!(sum(&export, &k.id, "refused"), 150);
    let counter = export["counters"]
        .as_array()
        .expect("counters")
        .iter()
        .find(|c| c["key_id"] == k.id.as_str())
        .unwrap_or_else(|| panic!("no counter of the key: {export}"));
    assert_eq!(counter["used"], 50, "{counter}");
    assert_eq!(counter["limit"], 50, "{counter}");
    // CSV: the same rows, RFC 4180, one header row.
    let day = today();
    let csv = gw
        .admin(
            "GET",
            &format!("/accounts/{}/usage?from={day}&to={day}", a.id),
        )
        .header("Accept", "text/csv")
        .send();
    assert_eq!(csv.status, 200, "{csv}");
    assert!(
        csv.header("content-type")
            .is_some_and(|t| t.starts_with("text/csv")),
        "{csv}"
    );
    let text = String::from_utf8_lossy(&csv.body).to_string();
    let mut lines = text.split("\r\n").filter(|l| !l.is_empty());
    assert_eq!(
        lines.next(),
        Some("date,key_id,product,route,granted,refused,lapsed")
    );
    let (mut granted_csv, mut refused_csv) = (0u64, 0u64);
    for line in lines {
        let fields: Vec<&str> = line.split(',').collect();
        if fields[1] == k.id {
            granted_csv += fields[4].parse::<u64>().unwrap() + fields[6].parse::<u64>().unwrap();
            refused_csv += fields[5].parse::<u64>().unwrap();
        }
    }
    assert_eq!((granted_csv, refused_csv), (50, 150), "{text}");
}

pub(crate) fn credits_of_20_at_a_route_cost_of_5_give_exactly_4_calls(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "credits", json!({}));
    // An unmetered key finds a sandbox account; the metered one reads its transactions, a
    // route of cost 5 in gateway.json.
    let finder = key(gw, &a.id, "finder", json!({}));
    let list = edge(gw, &finder.secret, &a.pk);
    let account_id = list.json["data"][0]["id"]
        .as_str()
        .expect("a sandbox account");
    let k = key(gw, &a.id, "credits", json!({"credits": {"remaining": 20}}));
    let path = format!("/v1/accounts/{account_id}/transactions");
    let read = || {
        let r = gw
            .get(&path)
            .bearer(&k.secret)
            .product_key(&a.pk)
            .client_ip(INSIDE)
            .send();
        audit(&r);
        r
    };
    let answers = burst(10, |_| read());
    let refused = exactly_granted(&answers, 4, "credits");
    assert!(
        refused.header("retry-after").is_none(),
        "never refilled: {refused}"
    );
    let export = settled_usage(gw, &a.id, &k.id, 10);
    let rows: Vec<&Value> = export["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["key_id"] == k.id.as_str())
        .collect();
    assert_eq!(rows.len(), 1, "one row: {export}");
    assert_eq!(
        rows[0]["route"], "GET /v1/accounts/*/transactions",
        "{export}"
    );
    assert_eq!(rows[0]["product"], "bank_data");
    assert_eq!(
        rows[0]["granted"].as_u64().unwrap() + rows[0]["lapsed"].as_u64().unwrap(),
        4
    );
    // A top-up is a fresh balance (that a manager may not give one is the engine's test).
    op(
        gw,
        "PATCH",
        &format!("/keys/{}", k.id),
        Some(&json!({"credits": {"remaining": 5}})),
    )
    .expect_success();
    let r = read();
    assert_eq!(r.status, 200, "topped up: {r}");
    assert_eq!(quota_headers_credits(&r), (5, 0), "{r}");
}

/// `(Keygate-Quota-Limit, Keygate-Quota-Remaining)` of credits that are never refilled (no
/// reset).
#[track_caller]
fn quota_headers_credits(r: &Resp) -> (u64, u64) {
    assert!(r.header("keygate-quota-reset").is_none(), "{r}");
    let value = |name: &str| -> u64 { r.header(name).expect(name).parse().expect(name) };
    (
        value("keygate-quota-limit"),
        value("keygate-quota-remaining"),
    )
}

pub(crate) fn quotas_are_validated_and_bounded_by_delegation(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "quota rules", json!({}));
    let bad = op(
        gw,
        "POST",
        &format!("/accounts/{}/keys", a.id),
        Some(&key_body(
            "bad",
            json!({"quota": {"requests": 0, "period": "week", "x": 1}}),
        )),
    );
    assert_eq!(bad.status, 400, "{bad}");
    let fields: Vec<&str> = bad.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    for field in ["quota.requests", "quota.period", "quota.x"] {
        assert!(fields.contains(&field), "{field} in {bad}");
    }
    let manager = key(
        gw,
        &a.id,
        "manager",
        json!({"scopes": ["keys:manage", "accounts:read"], "quota": daily(100)}),
    );
    let child = |requests: u64| {
        let body = json!({"scopes": ["accounts:read"], "quota": daily(requests)});
        gw.post(&format!("/admin/v1/accounts/{}/keys", a.id))
            .bearer(&manager.secret)
            .json(&key_body("child", body))
            .send()
    };
    let beyond = child(1000);
    assert_eq!(
        beyond.status, 403,
        "a manager cannot grant more than its quota: {beyond}"
    );
    let within = child(10);
    assert_eq!(within.status, 201, "{within}");
    // The manager reads its own account's usage, and no other's.
    let own = gw
        .get(&format!("/admin/v1/accounts/{}/usage", a.id))
        .bearer(&manager.secret)
        .send();
    assert_eq!(own.status, 200, "{own}");
    let other = account(gw, "someone else", json!({}));
    let theirs = gw
        .get(&format!("/admin/v1/accounts/{}/usage", other.id))
        .bearer(&manager.secret)
        .send();
    assert_eq!(theirs.status, 404, "{theirs}");
}

pub(crate) fn a_live_keys_quota_lets_exactly_its_requests_reach_the_origin(c: &Ctx) {
    let gw = &c.gw;
    let a = account(gw, "quota live", json!({}));
    // The account's quota binds a key with none of its own; a refusal for its scope would
    // never consume (it is refused before the ledger is asked).
    op(
        gw,
        "PATCH",
        &format!("/accounts/{}", a.id),
        Some(&json!({"quota": daily(6)})),
    )
    .expect_success();
    let k = key(gw, &a.id, "live", json!({"environment": "live"}));
    let narrow = key(
        gw,
        &a.id,
        "no scope",
        json!({"environment": "live", "scopes": ["owners:read"]}),
    );
    for _ in 0..3 {
        let r = edge_from(gw, INSIDE, &narrow.secret, &a.pk_live, "no-scope");
        assert_eq!(r.status, 403, "{r}");
    }
    let marker = format!("quota-live-{}", a.id);
    let answers = burst(15, |i| {
        edge_from(gw, INSIDE, &k.secret, &a.pk_live, &format!("{marker}-{i}"))
    });
    // The account's quota, untouched by the refusals before it.
    exactly_granted(&answers, 6, "account's quota");
    thread::sleep(Duration::from_millis(300));
    let got = c.origin.got(&a.id, &marker);
    assert_eq!(
        got.len(),
        6,
        "exactly the granted requests reach the origin: {got:#?}"
    );
}
