//! Scenarios and magic values.

use super::*;

/// Sends `GET /v1/owners` with the scenario and checks the answer against scenarios.json:
/// status, message, Retry-After, and that the declared delay really passed.
pub(crate) fn check_error_scenario(c: &Ctx, name: &str, status: u16) -> Resp {
    let declared = c.data.scenario(name);
    assert_eq!(
        declared["status"], status,
        "scenarios.json {name}: {declared}"
    );
    let r = sandboxed(
        c.req(&c.reader, "GET", "/v1/owners")
            .header("X-Sandbox-Scenario", name)
            .send(),
    );
    r.expect_status(status);
    assert_eq!(r.json["message"], declared["message"], "{r}");
    match declared["retry_after"].as_u64() {
        Some(seconds) => assert_eq!(
            r.header("retry-after"),
            Some(seconds.to_string().as_str()),
            "{r}"
        ),
        None => assert!(r.header("retry-after").is_none(), "{r}"),
    }
    let delay = Duration::from_millis(declared["delay_ms"].as_u64().unwrap_or(0));
    assert!(
        r.elapsed >= delay,
        "{name} answered after {:?}, before its declared delay {delay:?}",
        r.elapsed
    );
    r
}

pub(crate) fn scenario_rate_limited(c: &Ctx) {
    let r = check_error_scenario(c, "rate_limited", 429);
    assert!(
        r.header("retry-after")
            .and_then(|s| s.parse::<u32>().ok())
            .is_some(),
        "429 needs a Retry-After in seconds: {r}"
    );
}

pub(crate) fn scenario_server_error(c: &Ctx) {
    check_error_scenario(c, "server_error", 500);
}

pub(crate) fn scenario_unavailable(c: &Ctx) {
    let r = check_error_scenario(c, "unavailable", 503);
    assert!(r.header("retry-after").is_some(), "{r}");
}

pub(crate) fn scenario_timeout(c: &Ctx) {
    let declared = c.data.scenario("timeout");
    let delay = declared["delay_ms"].as_u64().unwrap_or(0);
    assert!(delay > 0, "timeout declares a delay: {declared}");
    check_error_scenario(c, "timeout", 504);
}

pub(crate) fn scenario_slow(c: &Ctx) {
    let declared = c.data.scenario("slow");
    assert!(
        declared.get("status").is_none_or(Value::is_null),
        "{declared}"
    );
    let delay = Duration::from_millis(declared["delay_ms"].as_u64().unwrap_or(0));
    assert!(!delay.is_zero(), "slow declares a delay: {declared}");
    let normal = c.get(&c.reader, "/v1/owners?limit=3");
    normal.expect_status(200);
    let r = sandboxed(
        c.req(&c.reader, "GET", "/v1/owners?limit=3")
            .header("X-Sandbox-Scenario", "slow")
            .send(),
    );
    r.expect_status(200);
    assert_eq!(r.json, normal.json, "the normal answer");
    assert!(
        r.elapsed >= delay,
        "slow answered after {:?}, before {delay:?}",
        r.elapsed
    );
    // On a write, slow still creates (the normal answer, late).
    let t = c.tenant("slow-write");
    let r = sandboxed(
        c.req(&t, "POST", "/v1/payment_orders")
            .header("X-Sandbox-Scenario", "slow")
            .json(&c.data.order_body(900))
            .send(),
    );
    r.expect_status(201);
    assert!(r.elapsed >= delay);
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&r.json])
    );
    c.assert_origin_untouched();
}

pub(crate) fn scenario_unknown_is_400(c: &Ctx) {
    // A typo must not silently test the happy path.
    for value in ["explode", "RATE_LIMITED", "rate-limited", "timeout,slow"] {
        let r = sandboxed(
            c.req(&c.reader, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", value)
                .send(),
        );
        assert_error_on(&r, 400, "X-Sandbox-Scenario");
        for declared in c.data.scenarios["scenarios"].as_array().unwrap() {
            let name = declared["name"].as_str().unwrap();
            assert!(r.text().contains(name), "the 400 lists {name}: {r}");
        }
    }
}

pub(crate) fn scenario_failures_process_nothing(c: &Ctx) {
    let t = c.tenant("scenario-writes");
    for declared in c.data.scenarios["scenarios"].as_array().unwrap() {
        let Some(status) = declared["status"].as_u64() else {
            continue;
        };
        let name = declared["name"].as_str().unwrap();
        if declared["delay_ms"].as_u64().unwrap_or(0) > 0 {
            continue; // covered by scenario_timeout; keep this trial fast
        }
        let r = sandboxed(
            c.req(&t, "POST", "/v1/payment_orders")
                .header("X-Sandbox-Scenario", name)
                .json(&c.data.order_body(100))
                .send(),
        );
        assert_eq!(u64::from(r.status), status, "{name}: {r}");
        // Scenarios apply to the sandbox's own endpoints too: a failed reset resets nothing.
        let r = sandboxed(
            c.req(&t, "POST", "/v1/sandbox/reset")
                .header("X-Sandbox-Scenario", name)
                .send(),
        );
        assert_eq!(u64::from(r.status), status, "{name} on reset: {r}");
    }
    let order = c.create(&t, "payment_orders", &c.data.order_body(101));
    let r = sandboxed(
        c.req(&t, "POST", "/v1/sandbox/reset")
            .header("X-Sandbox-Scenario", "server_error")
            .send(),
    );
    r.expect_status(500);
    assert_eq!(
        c.walk_ids(&t, "/v1/payment_orders"),
        c.file_ids_then("payment_orders", &[&order]),
        "no failed scenario created or deleted anything"
    );
    c.assert_origin_untouched();
}

pub(crate) fn scenarios_endpoint_lists_scenarios_and_magic_values(c: &Ctx) {
    let r = sandboxed(
        c.gw.get("/v1/sandbox/scenarios")
            .bearer(&c.reader.secret)
            .send(),
    );
    r.expect_status(200);
    let listed = r.json["scenarios"]
        .as_array()
        .unwrap_or_else(|| panic!("no scenarios: {r}"));
    let declared = c.data.scenarios["scenarios"].as_array().unwrap();
    let names: Vec<&str> = listed.iter().filter_map(|s| s["name"].as_str()).collect();
    for required in [
        "rate_limited",
        "server_error",
        "unavailable",
        "timeout",
        "slow",
    ] {
        assert!(names.contains(&required), "{required} is listed: {r}");
    }
    assert_eq!(listed.len(), declared.len(), "{r}");
    for d in declared {
        let l = listed
            .iter()
            .find(|s| s["name"] == d["name"])
            .unwrap_or_else(|| panic!("{} not listed: {r}", d["name"]));
        for (k, v) in d.as_object().unwrap() {
            assert_eq!(&l[k], v, "scenario {} field {k}: {r}", d["name"]);
        }
    }
    let listed = r.json["magic_values"]
        .as_array()
        .unwrap_or_else(|| panic!("no magic_values: {r}"));
    let declared = c.data.magic_values();
    assert!(!declared.is_empty());
    assert_eq!(listed.len(), declared.len(), "{r}");
    for (d, l) in declared.iter().zip(listed) {
        for (k, v) in d.as_object().unwrap() {
            assert_eq!(&l[k], v, "magic value field {k}: {r}");
        }
    }
}

/// A valid create body for `collection` with the magic value at `field` (a dotted path).
pub(crate) fn magic_body(c: &Ctx, magic: &Value) -> Value {
    let collection = magic["collection"].as_str().unwrap();
    let field = magic["field"].as_str().unwrap();
    let mut body = match collection {
        "payment_orders" => c.data.order_body(100),
        "quotes" => {
            let risk_field = field
                .strip_prefix("risk.")
                .unwrap_or_else(|| panic!("no quote builder for magic field {field}"));
            c.data.quote_body(c.data.product_with_risk(risk_field))
        }
        other => panic!("no body builder for magic values of {other}: extend this test"),
    };
    let mut slot = &mut body;
    for part in field.split('.') {
        slot = &mut slot[part];
    }
    *slot = magic["equals"].clone();
    body
}

pub(crate) fn magic_values_of_payment_orders(c: &Ctx) {
    check_magic_values(c, "payment_orders");
}

pub(crate) fn magic_values_of_quotes(c: &Ctx) {
    check_magic_values(c, "quotes");
}

pub(crate) fn check_magic_values(c: &Ctx, collection: &str) {
    let t = c.tenant(&format!("magic-{collection}"));
    let mut created: Vec<Value> = Vec::new();
    let magics: Vec<&Value> = c
        .data
        .magic_values()
        .iter()
        .filter(|m| m["collection"] == collection)
        .collect();
    assert!(
        !magics.is_empty(),
        "the data declares magic values for {collection}"
    );
    for magic in magics {
        let field = magic["field"].as_str().unwrap();
        let body = magic_body(c, magic);
        let r = c.post(&t, &format!("/v1/{collection}"), &body);
        if let Some(reject) = magic.get("reject") {
            let status = reject["status"].as_u64().unwrap() as u16;
            assert_error_on(&r, status, field);
            assert_eq!(r.json["message"], reject["message"], "{r}");
            // Refused with a key: the refusal replays, still nothing created.
            let k = format!("magic-{field}");
            let first = c.post_idem(&t, &format!("/v1/{collection}"), &k, &body);
            let again = c.post_idem(&t, &format!("/v1/{collection}"), &k, &body);
            assert_eq!(first.status, status);
            assert_eq!(again.status, status);
            assert_eq!(again.json, first.json);
        } else {
            assert_eq!(r.status, 201, "magic {field}: {r}");
            let set = magic["set"]
                .as_object()
                .expect("magic value: set or reject");
            for (k, v) in set {
                assert_eq!(&r.json[k], v, "magic {field} sets {k}: {r}");
            }
            let id = r.json["id"].as_str().unwrap();
            let back = c.get(&t, &format!("/v1/{collection}/{id}"));
            assert_eq!(back.json, r.json);
            created.push(r.json.clone());
        }
    }
    let refs: Vec<&Value> = created.iter().collect();
    assert_eq!(
        c.walk_ids(&t, &format!("/v1/{collection}")),
        c.file_ids_then(collection, &refs),
        "refused magic values created nothing; the others created one object each"
    );
    // A declined quote cannot become a policy.
    for quote in created.iter().filter(|q| q["status"] == "declined") {
        let r = c.post(&t, "/v1/policies", &json!({"quote_id": quote["id"]}));
        assert_error_on(&r, 409, "quote_id");
    }
    c.assert_origin_untouched();
}
