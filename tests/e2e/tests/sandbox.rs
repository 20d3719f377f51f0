//! The sandbox (SPEC §5) end to end: test keys through the real gateway (workerd), over HTTP.
//!
//! Expectations come from the data itself: `sandbox-data/*.json` is read at setup, so a walk is
//! compared with the file record by record, and every scenario and magic value the data
//! declares is exercised. Each trial that writes or resets makes its own test accounts (trials
//! run in parallel against one gateway); read-only trials share `Ctx::reader`.
//!
//! The gateway runs with `ORIGIN_URL` pointing at a recording [`Origin`]. No trial here uses a
//! live key, so the origin must never receive anything: write trials check it as they finish,
//! and dropping the suite's context checks it once more after every trial has run.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use keygate_e2e::{Gateway, Origin, Req, Resp, Value, json, repo_root, run, tests};

/// A valid German IBAN (the ISO 13616 example) that is not a magic value.
const CREDITOR_IBAN: &str = "DE89370400440532013000";

struct Ctx {
    gw: Gateway,
    origin: Origin,
    data: Data,
    /// A test account that never writes: for the read-only trials.
    reader: Tenant,
}

/// A test-agreement account with a test key and the test product keys of every product.
struct Tenant {
    account_id: String,
    secret: String,
    product_keys: BTreeMap<String, String>,
}

/// The shipped data, as the files say.
struct Data {
    /// `collections.json` entries, in manifest order.
    manifest: Vec<Value>,
    /// Records per collection name, in file order.
    records: BTreeMap<String, Vec<Value>>,
    /// `scenarios.json`.
    scenarios: Value,
}

impl Data {
    fn load() -> Data {
        let dir = repo_root().join("sandbox-data");
        let read = |file: &str| -> Value {
            let path = dir.join(file);
            let text = std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
        };
        let manifest = read("collections.json")["collections"]
            .as_array()
            .expect("collections.json: collections")
            .clone();
        let records = manifest
            .iter()
            .map(|c| {
                let name = c["name"].as_str().expect("collection name").to_string();
                let file = c["file"].as_str().expect("collection file");
                let list = read(file)
                    .as_array()
                    .expect("record file is an array")
                    .clone();
                (name, list)
            })
            .collect();
        Data {
            manifest,
            records,
            scenarios: read("scenarios.json"),
        }
    }

    fn records(&self, collection: &str) -> &[Value] {
        self.records
            .get(collection)
            .unwrap_or_else(|| panic!("no collection {collection} in the data"))
    }

    fn collection(&self, name: &str) -> &Value {
        self.manifest
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no collection {name} in collections.json"))
    }

    fn scenario(&self, name: &str) -> &Value {
        self.scenarios["scenarios"]
            .as_array()
            .expect("scenarios.json: scenarios")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("scenarios.json declares no scenario {name}"))
    }

    fn magic_values(&self) -> &[Value] {
        self.scenarios["magic_values"]
            .as_array()
            .expect("scenarios.json: magic_values")
    }

    /// The first open account in `currency`.
    fn open_account(&self, currency: &str) -> &Value {
        self.records("accounts")
            .iter()
            .find(|a| a["status"] == "open" && a["currency"] == currency)
            .unwrap_or_else(|| panic!("no open {currency} account in accounts.json"))
    }

    fn available_products(&self) -> Vec<&Value> {
        self.records("insurance_products")
            .iter()
            .filter(|p| p["status"] == "available")
            .collect()
    }

    /// The first available product whose risk has this field.
    fn product_with_risk(&self, field: &str) -> &Value {
        self.available_products()
            .into_iter()
            .find(|p| p["risk_fields"].get(field).is_some())
            .unwrap_or_else(|| panic!("no available product with risk field {field}"))
    }

    /// A valid `POST /v1/payment_orders` body.
    fn order_body(&self, amount: i64) -> Value {
        let account = self.open_account("EUR");
        json!({
            "debtor_account_id": account["id"],
            "creditor_name": "E2E Creditor GmbH",
            "creditor_iban": CREDITOR_IBAN,
            "amount": amount,
            "remittance_information": "keygate e2e",
        })
    }

    /// A valid `POST /v1/quotes` body for `product`, with its last coverage option.
    fn quote_body(&self, product: &Value) -> Value {
        let coverage = product["coverage_options"]
            .as_array()
            .and_then(|o| o.last())
            .expect("product has coverage options");
        json!({
            "product_id": product["id"],
            "coverage": coverage["code"],
            "holder": {
                "name": "Erika Mustermann",
                "email": "erika@example.com",
                "date_of_birth": "1984-08-12",
            },
            "risk": valid_object(&product["risk_fields"]),
        })
    }
}

// ------------------------------------------------------------------------------------------
// Values that satisfy a rule of the data (sandbox-data/README.md "Rules")
// ------------------------------------------------------------------------------------------

fn valid_object(rules: &Value) -> Value {
    let rules = rules.as_object().expect("an object of field rules");
    let mut out = serde_json::Map::new();
    // Fields that must not be before a sibling come after the others.
    for dependent in [false, true] {
        for (name, rule) in rules {
            if rule.get("not_before_field").is_some() == dependent {
                let value = valid_value(rule, &out);
                out.insert(name.clone(), value);
            }
        }
    }
    Value::Object(out)
}

fn valid_value(rule: &Value, siblings: &serde_json::Map<String, Value>) -> Value {
    if let Some(first) = rule["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match rule["type"].as_str() {
        Some("integer") | Some("number") => {
            json!(rule["min"].as_i64().or(rule["max"].as_i64()).unwrap_or(1))
        }
        Some("boolean") => json!(true),
        Some("object") => valid_object(&rule["fields"]),
        Some("string") => match rule["format"].as_str() {
            Some("country") => json!("DE"),
            Some("currency") => json!("EUR"),
            Some("email") => json!("e2e@example.com"),
            Some("iban") => json!(CREDITOR_IBAN),
            Some("date") => {
                if let Some(other) = rule["not_before_field"].as_str() {
                    return siblings[other].clone();
                }
                let lo = rule["min_days_from_today"].as_i64();
                let hi = rule["max_days_from_today"].as_i64();
                let offset = match (lo, hi) {
                    (Some(lo), Some(hi)) => (lo + 1).min(hi),
                    (Some(lo), None) => lo + 1,
                    (None, Some(hi)) => hi - 3650,
                    (None, None) => 0,
                };
                json!(fmt_day(today() + offset))
            }
            _ => {
                let min = rule["min_length"].as_u64().unwrap_or(1).max(1);
                let max = rule["max_length"].as_u64().unwrap_or(64);
                json!("12345".repeat(4)[..5u64.clamp(min, max) as usize].to_string())
            }
        },
        other => panic!("no valid value for a rule of type {other:?}: {rule}"),
    }
}

// ------------------------------------------------------------------------------------------
// Dates (UTC days since 1970-01-01)
// ------------------------------------------------------------------------------------------

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

fn today() -> i64 {
    now_unix().div_euclid(86_400)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn fmt_day(day: i64) -> String {
    let (y, m, d) = civil_from_days(day);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The same day `n` months later, clamped to the end of the month.
fn add_months(day: i64, n: i64) -> i64 {
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + (m - 1) + n;
    let (ny, nm) = (total.div_euclid(12), total.rem_euclid(12) + 1);
    let first = days_from_civil(ny, nm, 1);
    let next = if nm == 12 {
        days_from_civil(ny + 1, 1, 1)
    } else {
        days_from_civil(ny, nm + 1, 1)
    };
    first + (d - 1).min(next - first - 1)
}

// ------------------------------------------------------------------------------------------
// Requests
// ------------------------------------------------------------------------------------------

/// The product that owns a path (gateway.json), or none for `/v1/sandbox/*`.
fn product_of(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    // A nested list belongs to the product of what it lists.
    let collection = match segments.as_slice() {
        [_, _, child] => *child,
        [first, ..] => *first,
        [] => "",
    };
    match collection {
        "owners" | "accounts" | "transactions" => Some("bank_data"),
        "statements" | "payment_orders" => Some("payments"),
        "insurance_products" | "quotes" | "policies" => Some("insurance"),
        _ => None,
    }
}

/// Percent-encodes a query value.
fn enc(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Asserts what every sandbox answer carries (SPEC §4, §5): `X-Sandbox: true`, an
/// `X-Request-Id`, a JSON body, and for errors the SPEC §4 shape with the answer's status.
fn sandboxed(r: Resp) -> Resp {
    assert_eq!(
        r.header("x-sandbox"),
        Some("true"),
        "no X-Sandbox: true: {r}"
    );
    assert!(
        r.request_id().is_some_and(|id| !id.is_empty()),
        "no X-Request-Id: {r}"
    );
    if r.method != "HEAD" {
        assert!(
            r.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "not JSON: {r}"
        );
        assert!(!r.json.is_null(), "body is not JSON: {r}");
    }
    if r.status >= 400 {
        assert_eq!(r.json["status"], r.status, "error body status: {r}");
        assert!(
            r.json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "error without message: {r}"
        );
    }
    r
}

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| {
            r["id"]
                .as_str()
                .unwrap_or_else(|| panic!("record without id: {r}"))
                .to_string()
        })
        .collect()
}

/// The `field`s of an error answer's `errors`.
fn error_fields(r: &Resp) -> Vec<String> {
    r.json["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn assert_error_on(r: &Resp, status: u16, field: &str) {
    assert_eq!(r.status, status, "expected {status} on {field}: {r}");
    assert!(
        error_fields(r).iter().any(|f| f == field),
        "expected an errors entry for {field}: {r}"
    );
}

static TENANTS: AtomicUsize = AtomicUsize::new(0);

impl Ctx {
    /// A fresh test-agreement account, entitled to every product, with a test key (all scopes).
    fn tenant(&self, label: &str) -> Tenant {
        self.tenant_with(label, "test")
    }

    fn tenant_with(&self, label: &str, agreement: &str) -> Tenant {
        let n = TENANTS.fetch_add(1, Ordering::Relaxed);
        let account = self.gw.create_account(&json!({
            "name": format!("sandbox e2e {label} {n}"),
            "agreement": agreement,
        }));
        let account_id = account["id"].as_str().expect("account id").to_string();
        let mut product_keys = BTreeMap::new();
        for product in ["bank_data", "payments", "insurance"] {
            let r = self.gw.entitle(&account_id, product);
            let pk = r["product_keys"]["test"]
                .as_str()
                .unwrap_or_else(|| panic!("no test product key for {product}: {r}"))
                .to_string();
            assert!(pk.starts_with("pk_test_"), "{pk}");
            product_keys.insert(product.to_string(), pk);
        }
        let (_, secret) = self.gw.create_key(
            &account_id,
            &json!({"name": format!("sandbox e2e {label}"), "environment": "test"}),
        );
        assert!(secret.starts_with("sk_test_"), "{secret}");
        Tenant {
            account_id,
            secret,
            product_keys,
        }
    }

    /// A request with the tenant's test key and the product key its path needs.
    fn req(&self, t: &Tenant, method: &str, path: &str) -> Req {
        let mut req = self.gw.request(method, path).bearer(&t.secret);
        if let Some(product) = product_of(path) {
            req = req.product_key(&t.product_keys[product]);
        }
        req
    }

    fn get(&self, t: &Tenant, path: &str) -> Resp {
        sandboxed(self.req(t, "GET", path).send())
    }

    fn post(&self, t: &Tenant, path: &str, body: &Value) -> Resp {
        sandboxed(self.req(t, "POST", path).json(body).send())
    }

    fn post_idem(&self, t: &Tenant, path: &str, key: &str, body: &Value) -> Resp {
        sandboxed(
            self.req(t, "POST", path)
                .header("Idempotency-Key", key)
                .json(body)
                .send(),
        )
    }

    /// Creates and returns the object (asserts 201).
    fn create(&self, t: &Tenant, collection: &str, body: &Value) -> Value {
        let r = self.post(t, &format!("/v1/{collection}"), body);
        r.expect_status(201);
        r.json.clone()
    }

    fn reset(&self, t: &Tenant) -> Resp {
        sandboxed(self.req(t, "POST", "/v1/sandbox/reset").send())
    }

    /// Every object of a list, following `starting_after` page by page; checks each envelope.
    fn walk(&self, t: &Tenant, path: &str, limit: usize) -> Vec<Value> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut out: Vec<Value> = Vec::new();
        let mut after: Option<String> = None;
        for _ in 0..2000 {
            let mut page = format!("{path}{sep}limit={limit}");
            if let Some(after) = &after {
                page.push_str(&format!("&starting_after={}", enc(after)));
            }
            let r = self.get(t, &page);
            r.expect_status(200);
            assert_eq!(r.json["object"], "list", "{r}");
            let data = r.json["data"]
                .as_array()
                .unwrap_or_else(|| panic!("no data array: {r}"));
            let more = r.json["has_more"]
                .as_bool()
                .unwrap_or_else(|| panic!("no has_more: {r}"));
            assert!(data.len() <= limit, "page over the limit: {r}");
            if more {
                assert_eq!(data.len(), limit, "a page with has_more is full: {r}");
            }
            out.extend(data.iter().cloned());
            if !more {
                let all = ids(&out);
                let unique: HashSet<&String> = all.iter().collect();
                assert_eq!(unique.len(), all.len(), "a walk of {path} repeated ids");
                return out;
            }
            after = Some(data.last().unwrap()["id"].as_str().unwrap().to_string());
        }
        panic!("the walk of {path} did not end");
    }

    fn walk_ids(&self, t: &Tenant, path: &str) -> Vec<String> {
        ids(&self.walk(t, path, 100))
    }

    /// The file's ids of a collection, then `created`: what a list must show.
    fn file_ids_then(&self, collection: &str, created: &[&Value]) -> Vec<String> {
        let mut want = ids(self.data.records(collection));
        want.extend(
            created
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
        want
    }

    /// A test key never causes a request to the origin (SPEC §3 step 10).
    fn assert_origin_untouched(&self) {
        let got = self.origin.requests();
        assert!(
            got.is_empty(),
            "the origin received {} request(s) though only test keys were used: {:?}",
            got.len(),
            got.iter()
                .map(|q| format!("{} {}", q.method, q.path))
                .collect::<Vec<_>>()
        );
    }
}

impl Drop for Ctx {
    /// The last check, after every trial: the origin recorded nothing. `run` drops the context
    /// after the trials and before it exits, so failing here fails the binary.
    fn drop(&mut self) {
        let got = self.origin.requests();
        if !got.is_empty() {
            eprintln!(
                "FAILED after all trials: the origin received {} request(s) from test keys:",
                got.len()
            );
            for q in &got {
                eprintln!("  {} {}", q.method, q.path);
            }
            std::process::exit(101);
        }
        eprintln!("sandbox e2e: the origin received no request in the whole suite");
    }
}

fn main() {
    run(
        || {
            let origin = Origin::start();
            let gw = Gateway::start(&[("ORIGIN_URL", &origin.url())]);
            let data = Data::load();
            let mut ctx = Ctx {
                gw,
                origin,
                data,
                reader: Tenant {
                    account_id: String::new(),
                    secret: String::new(),
                    product_keys: BTreeMap::new(),
                },
            };
            ctx.reader = ctx.tenant("reader");
            ctx
        },
        tests![
            // Reads
            list_has_envelope_and_default_limit_of_10,
            limit_bounds_and_bad_cursors_are_400,
            pagination_walk_returns_every_collection_exactly_as_the_files,
            pagination_walk_with_small_pages_covers_transactions,
            get_by_id_returns_the_file_record,
            unknown_ids_are_404_json,
            nested_lists_are_the_children_of_the_parent,
            filters_match_the_files_exactly,
            unknown_or_repeated_filters_are_400,
            unknown_nested_list_is_404,
            product_key_required_on_product_routes_not_on_sandbox_tools,
            // Writes
            payment_order_write_then_read,
            quote_for_every_available_product_computes_premium,
            policy_from_quote_binds_the_quote,
            policy_needs_an_offered_quote,
            payment_order_body_is_validated,
            quote_body_is_validated,
            payment_order_conflicts_are_409,
            malformed_bodies_are_400,
            body_over_64_kib_is_413,
            concurrent_creates_are_all_kept,
            production_account_test_key_is_sandboxed_too,
            // State: isolation and reset
            accounts_never_see_each_others_objects,
            reset_clears_what_the_account_created_only,
            // Idempotency
            idempotency_same_key_same_body_returns_same_object,
            idempotency_same_key_different_body_is_409,
            idempotency_keys_are_per_account,
            idempotency_retry_after_failures_goes_through,
            idempotency_key_is_validated,
            // Scenarios
            scenario_rate_limited,
            scenario_server_error,
            scenario_unavailable,
            scenario_timeout,
            scenario_slow,
            scenario_unknown_is_400,
            scenario_failures_process_nothing,
            scenarios_endpoint_lists_scenarios_and_magic_values,
            magic_values_of_payment_orders,
            magic_values_of_quotes,
            // Headers and the origin
            every_sandbox_answer_has_x_sandbox_and_a_fresh_request_id,
            test_keys_never_reach_the_origin,
        ],
    );
}

// ------------------------------------------------------------------------------------------
// Reads
// ------------------------------------------------------------------------------------------

fn list_has_envelope_and_default_limit_of_10(c: &Ctx) {
    let r = c.get(&c.reader, "/v1/transactions");
    r.expect_status(200);
    // Once, exactly: the fast path once appended a second copy ("application/json, application/json").
    for again in [&r, &c.get(&c.reader, "/v1/transactions")] {
        let types: Vec<&str> = again
            .headers
            .iter()
            .filter(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(types, ["application/json"], "{again}");
    }
    let file = c.data.records("transactions");
    assert!(file.len() > 10, "the test needs more than 10 transactions");
    assert_eq!(r.json["object"], "list", "{r}");
    assert_eq!(r.json["has_more"], true, "{r}");
    let data = r.json["data"].as_array().expect("data");
    assert_eq!(data.len(), 10, "default limit is 10: {r}");
    assert_eq!(
        data.as_slice(),
        &file[..10],
        "first page = first 10 of the file"
    );
    for record in data {
        assert_eq!(record["object"], "transaction", "{record}");
        assert_eq!(record["livemode"], false, "{record}");
    }

    let r = c.get(&c.reader, "/v1/transactions?limit=1");
    r.expect_status(200);
    assert_eq!(r.json["data"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r.json["data"][0], file[0]);
    assert_eq!(r.json["has_more"], true, "{r}");

    let r = c.get(&c.reader, "/v1/transactions?limit=100");
    r.expect_status(200);
    assert_eq!(
        r.json["data"].as_array().unwrap().len(),
        100.min(file.len())
    );

    // The whole of a small collection on one page: has_more is false.
    let owners = c.data.records("owners");
    let r = c.get(&c.reader, "/v1/owners?limit=100");
    r.expect_status(200);
    assert_eq!(r.json["data"].as_array().unwrap().as_slice(), owners);
    assert_eq!(r.json["has_more"], false, "{r}");
}

fn limit_bounds_and_bad_cursors_are_400(c: &Ctx) {
    for q in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "limit=",
        "limit=1.5",
    ] {
        let r = c.get(&c.reader, &format!("/v1/owners?{q}"));
        assert_error_on(&r, 400, "limit");
    }
    let r = c.get(&c.reader, "/v1/owners?starting_after=own_doesnotexist");
    assert_error_on(&r, 400, "starting_after");
    let r = c.get(&c.reader, "/v1/owners?starting_after=");
    assert_error_on(&r, 400, "starting_after");
    // A cursor from another collection is not in this list.
    let tx = c.data.records("transactions")[0]["id"].as_str().unwrap();
    let r = c.get(&c.reader, &format!("/v1/owners?starting_after={tx}"));
    assert_error_on(&r, 400, "starting_after");
}

fn pagination_walk_returns_every_collection_exactly_as_the_files(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let got = c.walk(&c.reader, &format!("/v1/{name}"), 100);
        let file = c.data.records(name);
        assert_eq!(ids(&got), ids(file), "walk of /v1/{name}: ids and order");
        assert_eq!(got.as_slice(), file, "walk of /v1/{name}: records");
    }
}

fn pagination_walk_with_small_pages_covers_transactions(c: &Ctx) {
    // An odd page size, so the last page is partial.
    let file = c.data.records("transactions");
    let got = c.walk(&c.reader, "/v1/transactions", 37);
    assert_eq!(ids(&got), ids(file));
    let owners = c.data.records("owners");
    let got = c.walk(&c.reader, "/v1/owners", 1);
    assert_eq!(ids(&got), ids(owners));
}

fn get_by_id_returns_the_file_record(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let file = c.data.records(name);
        for record in [file.first(), file.get(file.len() / 2), file.last()]
            .into_iter()
            .flatten()
        {
            let id = record["id"].as_str().unwrap();
            let r = c.get(&c.reader, &format!("/v1/{name}/{id}"));
            r.expect_status(200);
            assert_eq!(&r.json, record, "GET /v1/{name}/{id}");
            assert_eq!(r.json["object"], coll["object"]);
            assert_eq!(r.json["livemode"], false);
        }
    }
}

fn unknown_ids_are_404_json(c: &Ctx) {
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let prefix = coll["id_prefix"].as_str().unwrap();
        let r = c.get(&c.reader, &format!("/v1/{name}/{prefix}doesnotexist"));
        r.expect_status(404);
    }
    // An id of another collection is not found either.
    let owner = c.data.records("owners")[0]["id"].as_str().unwrap();
    c.get(&c.reader, &format!("/v1/accounts/{owner}"))
        .expect_status(404);
    // A nested list under an unknown parent.
    c.get(&c.reader, "/v1/accounts/ba_doesnotexist/transactions")
        .expect_status(404);
}

fn nested_lists_are_the_children_of_the_parent(c: &Ctx) {
    let mut checked = 0;
    for coll in &c.data.manifest {
        let child = coll["name"].as_str().unwrap();
        let refs = coll["references"].as_object().cloned().unwrap_or_default();
        for (field, parent) in refs {
            let parent = parent.as_str().unwrap();
            let file = c.data.records(child);
            // The parent with the most children, so the list is not trivially short.
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for r in file {
                if let Some(id) = r[&field].as_str() {
                    *counts.entry(id).or_default() += 1;
                }
            }
            let Some((parent_id, _)) = counts.iter().max_by_key(|(_, n)| **n) else {
                continue;
            };
            let want: Vec<Value> = file
                .iter()
                .filter(|r| r[&field] == *parent_id)
                .cloned()
                .collect();
            let path = format!("/v1/{parent}/{parent_id}/{child}");
            let got = c.walk(&c.reader, &path, 100);
            assert_eq!(got, want, "{path}");
            checked += 1;

            // A parent without children has an empty nested list, not a 404.
            if let Some(lonely) = c
                .data
                .records(parent)
                .iter()
                .find(|p| !counts.contains_key(p["id"].as_str().unwrap()))
            {
                let id = lonely["id"].as_str().unwrap();
                let r = c.get(&c.reader, &format!("/v1/{parent}/{id}/{child}"));
                r.expect_status(200);
                assert_eq!(r.json["data"], json!([]), "{r}");
                assert_eq!(r.json["has_more"], false, "{r}");
            }
        }
    }
    assert!(checked >= 5, "only {checked} nested lists checked");

    // The example, with paging and a filter inside the nested list.
    let account = c.data.records("transactions")[0]["account_id"]
        .as_str()
        .unwrap();
    let want: Vec<String> = c
        .data
        .records("transactions")
        .iter()
        .filter(|t| t["account_id"] == account && t["credit_debit"] == "debit")
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    assert!(!want.is_empty());
    let got = ids(&c.walk(
        &c.reader,
        &format!("/v1/accounts/{account}/transactions?credit_debit=debit"),
        3,
    ));
    assert_eq!(got, want);
}

/// The text of a value as a filter compares it (sandbox-data/README.md).
fn filter_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

fn filters_match_the_files_exactly(c: &Ctx) {
    let mut checked = 0;
    for coll in &c.data.manifest {
        let name = coll["name"].as_str().unwrap();
        let file = c.data.records(name);
        for field in coll["filterable"].as_array().cloned().unwrap_or_default() {
            let field = field.as_str().unwrap();
            // A value of the middle record, so the filter selects some but (usually) not all.
            let value = filter_text(&file[file.len() / 2][field]);
            let want: Vec<String> = file
                .iter()
                .filter(|r| filter_text(&r[field]) == value)
                .map(|r| r["id"].as_str().unwrap().to_string())
                .collect();
            let got = c.walk_ids(&c.reader, &format!("/v1/{name}?{field}={}", enc(&value)));
            assert_eq!(got, want, "/v1/{name}?{field}={value}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} filters checked");

    // Two filters together are a conjunction.
    let file = c.data.records("transactions");
    let account = file[0]["account_id"].as_str().unwrap();
    let category = file[0]["category"].as_str().unwrap();
    let want: Vec<String> = file
        .iter()
        .filter(|t| t["account_id"] == account && t["category"] == category)
        .map(|t| t["id"].as_str().unwrap().to_string())
        .collect();
    let got = c.walk_ids(
        &c.reader,
        &format!("/v1/transactions?account_id={account}&category={category}"),
    );
    assert_eq!(got, want);

    // A value nothing has: an empty list.
    let r = c.get(&c.reader, "/v1/accounts?currency=XXX");
    r.expect_status(200);
    assert_eq!(r.json["data"], json!([]), "{r}");
    assert_eq!(r.json["has_more"], false, "{r}");
}

fn unknown_or_repeated_filters_are_400(c: &Ctx) {
    // Not filterable (a real field, but not declared), and unknown.
    let r = c.get(&c.reader, "/v1/transactions?amount=100");
    assert_error_on(&r, 400, "amount");
    let r = c.get(&c.reader, "/v1/owners?colour=blue");
    assert_error_on(&r, 400, "colour");
    // Repeated filter: no silent "last wins".
    let r = c.get(&c.reader, "/v1/accounts?currency=EUR&currency=GBP");
    assert_error_on(&r, 400, "currency");
    // A key in the query string is not a credential and not a filter either.
    let r = c.get(&c.reader, "/v1/owners?api_key=sk_test_x");
    assert_error_on(&r, 400, "api_key");
}

/// Paths no route names are the gateway's 404, before the sandbox is reached.
fn unknown_nested_list_is_404(c: &Ctx) {
    let account = c.data.records("accounts")[0]["id"].as_str().unwrap();
    let owner = c.data.records("owners")[0]["id"].as_str().unwrap();
    for path in [
        format!("/v1/accounts/{account}/quotes"),
        format!("/v1/accounts/{account}/transactions/x"),
        format!("/v1/owners/{owner}/nothing"),
    ] {
        let r = c.req(&c.reader, "GET", &path).send();
        r.expect_status(404);
        assert!(r.text().contains("No such route"), "{r}");
    }
}

fn product_key_required_on_product_routes_not_on_sandbox_tools(c: &Ctx) {
    let t = &c.reader;
    // No product key: 400 naming the header.
    let r = c.gw.get("/v1/owners").bearer(&t.secret).send();
    assert_error_on(&r, 400, "X-Product-Key");
    // Another product's key: 404.
    let r =
        c.gw.get("/v1/owners")
            .bearer(&t.secret)
            .product_key(&t.product_keys["insurance"])
            .send();
    r.expect_status(404);
    // The right one, through each credential header: the sandbox answers.
    for req in [
        c.gw.get("/v1/owners").bearer(&t.secret),
        c.gw.get("/v1/owners").basic(&t.secret, ""),
        c.gw.get("/v1/owners").api_key(&t.secret),
    ] {
        let r = sandboxed(req.product_key(&t.product_keys["bank_data"]).send());
        r.expect_status(200);
    }
    // The sandbox's own endpoints need no product key.
    let r = sandboxed(c.gw.get("/v1/sandbox/scenarios").bearer(&t.secret).send());
    r.expect_status(200);
}

// ------------------------------------------------------------------------------------------
// Writes
// ------------------------------------------------------------------------------------------

/// The server fields every created object has.
fn assert_server_fields(obj: &Value, object: &str, prefix: &str, before: i64) {
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

fn payment_order_write_then_read(c: &Ctx) {
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
    assert_eq!(order["status"], "pending", "{order}");
    assert_eq!(order["status_reason"], Value::Null);
    assert_eq!(order["transaction_id"], Value::Null);

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
        .chain([id.to_string(), order2["id"].as_str().unwrap().to_string()])
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

fn quote_for_every_available_product_computes_premium(c: &Ctx) {
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
    // A created quote appears in the list (SPEC §5), after the file's.
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

fn policy_from_quote_binds_the_quote(c: &Ctx) {
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

fn policy_needs_an_offered_quote(c: &Ctx) {
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

fn payment_order_body_is_validated(c: &Ctx) {
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

fn quote_body_is_validated(c: &Ctx) {
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

fn payment_order_conflicts_are_409(c: &Ctx) {
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

fn malformed_bodies_are_400(c: &Ctx) {
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

fn body_over_64_kib_is_413(c: &Ctx) {
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

fn concurrent_creates_are_all_kept(c: &Ctx) {
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

fn production_account_test_key_is_sandboxed_too(c: &Ctx) {
    // A production agreement may hold live keys, but its test key still only sees the sandbox.
    let t = c.tenant_with("production", "production");
    let r = c.get(&t, "/v1/accounts?limit=100");
    r.expect_status(200);
    assert_eq!(
        r.json["data"].as_array().unwrap().as_slice(),
        &c.data.records("accounts")[..c.data.records("accounts").len().min(100)]
    );
    let order = c.create(&t, "payment_orders", &c.data.order_body(4242));
    assert_eq!(order["livemode"], false);
    assert_eq!(order["status"], "pending");
    c.assert_origin_untouched();
}

// ------------------------------------------------------------------------------------------
// State: isolation and reset
// ------------------------------------------------------------------------------------------

fn accounts_never_see_each_others_objects(c: &Ctx) {
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

fn reset_clears_what_the_account_created_only(c: &Ctx) {
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

// ------------------------------------------------------------------------------------------
// Idempotency
// ------------------------------------------------------------------------------------------

fn idempotency_same_key_same_body_returns_same_object(c: &Ctx) {
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

fn idempotency_same_key_different_body_is_409(c: &Ctx) {
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

fn idempotency_keys_are_per_account(c: &Ctx) {
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

fn idempotency_retry_after_failures_goes_through(c: &Ctx) {
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

fn idempotency_key_is_validated(c: &Ctx) {
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

// ------------------------------------------------------------------------------------------
// Scenarios
// ------------------------------------------------------------------------------------------

/// Sends `GET /v1/owners` with the scenario and checks the answer against scenarios.json:
/// status, message, Retry-After, and that the declared delay really passed.
fn check_error_scenario(c: &Ctx, name: &str, status: u16) -> Resp {
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

fn scenario_rate_limited(c: &Ctx) {
    let r = check_error_scenario(c, "rate_limited", 429);
    assert!(
        r.header("retry-after")
            .and_then(|s| s.parse::<u32>().ok())
            .is_some(),
        "429 needs a Retry-After in seconds: {r}"
    );
}

fn scenario_server_error(c: &Ctx) {
    check_error_scenario(c, "server_error", 500);
}

fn scenario_unavailable(c: &Ctx) {
    let r = check_error_scenario(c, "unavailable", 503);
    assert!(r.header("retry-after").is_some(), "{r}");
}

fn scenario_timeout(c: &Ctx) {
    let declared = c.data.scenario("timeout");
    let delay = declared["delay_ms"].as_u64().unwrap_or(0);
    assert!(delay > 0, "timeout declares a delay: {declared}");
    check_error_scenario(c, "timeout", 504);
}

fn scenario_slow(c: &Ctx) {
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

fn scenario_unknown_is_400(c: &Ctx) {
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

fn scenario_failures_process_nothing(c: &Ctx) {
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

fn scenarios_endpoint_lists_scenarios_and_magic_values(c: &Ctx) {
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
fn magic_body(c: &Ctx, magic: &Value) -> Value {
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

fn magic_values_of_payment_orders(c: &Ctx) {
    check_magic_values(c, "payment_orders");
}

fn magic_values_of_quotes(c: &Ctx) {
    check_magic_values(c, "quotes");
}

fn check_magic_values(c: &Ctx, collection: &str) {
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

// ------------------------------------------------------------------------------------------
// Headers and the origin
// ------------------------------------------------------------------------------------------

fn every_sandbox_answer_has_x_sandbox_and_a_fresh_request_id(c: &Ctx) {
    let t = c.tenant("headers");
    let product = c.data.available_products()[0];
    let big = json!({"creditor_name": "x".repeat(70 * 1024)});
    let reqs: Vec<(u16, Req)> = vec![
        (200, c.req(&t, "GET", "/v1/owners")),
        (200, c.req(&t, "GET", "/v1/sandbox/scenarios")),
        (
            201,
            c.req(&t, "POST", "/v1/quotes")
                .json(&c.data.quote_body(product)),
        ),
        (404, c.req(&t, "GET", "/v1/owners/own_doesnotexist")),
        (400, c.req(&t, "GET", "/v1/owners?limit=0")),
        (
            400,
            c.req(&t, "POST", "/v1/payment_orders").json(&json!({})),
        ),
        (413, c.req(&t, "POST", "/v1/payment_orders").json(&big)),
        (
            409,
            c.req(&t, "POST", "/v1/policies")
                .json(&json!({"quote_id": c.data.records("quotes")[0]["id"]})),
        ),
        (
            422,
            c.req(&t, "POST", "/v1/payment_orders")
                .json(&c.data.order_body(66_666)),
        ),
        (
            429,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "rate_limited"),
        ),
        (
            500,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "server_error"),
        ),
        (
            503,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "unavailable"),
        ),
        (
            400,
            c.req(&t, "GET", "/v1/owners")
                .header("X-Sandbox-Scenario", "nope"),
        ),
        (200, c.req(&t, "POST", "/v1/sandbox/reset")),
    ];
    let mut seen = HashSet::new();
    for (status, req) in reqs {
        // An incoming X-Request-Id is not ours: it must not be echoed.
        let r = sandboxed(req.header("X-Request-Id", "client-chosen-id").send());
        assert_eq!(r.status, status, "{r}");
        let id = r.request_id().unwrap().to_string();
        assert_ne!(id, "client-chosen-id", "{r}");
        assert_eq!(r.header_all("x-request-id").len(), 1, "{r}");
        assert!(seen.insert(id.clone()), "request id {id} repeated: {r}");
    }
    c.assert_origin_untouched();
}

fn test_keys_never_reach_the_origin(c: &Ctx) {
    let t = c.tenant("no-origin");
    // Whatever the path, method or scenario: nothing goes out.
    let paths = [
        "/v1/owners",
        "/v1/accounts/ba_x/transactions",
        "/v1/quotes?status=offered",
        "/v1/nowhere",
        "/v1/sandbox/nothing",
        "/",
        "/v2/owners",
    ];
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE"] {
            let r = c.req(&t, method, path).json(&json!({})).send();
            assert!(r.request_id().is_some(), "{r}");
            assert!(r.status < 500, "{r}");
        }
    }
    c.post(&t, "/v1/payment_orders", &c.data.order_body(1))
        .expect_status(201);
    // Give a stray proxied request time to arrive before concluding there was none.
    let stray = c.origin.wait_for(1, Duration::from_millis(500), |_| true);
    assert!(stray.is_empty(), "{stray:?}");
    c.assert_origin_untouched();
}
