//! Requests: with a test account's key, to the routes of the data's products, and what every
//! sandbox answer must be.

use super::*;

/// The product that owns a path (gateway.json), or none for `/v1/sandbox/*`.
pub(crate) fn product_of(path: &str) -> Option<&'static str> {
    let path = path.split('?').next().unwrap_or_default();
    let segments: Vec<&str> = path.trim_start_matches("/v1/").split('/').collect();
    // A nested list belongs to the product of what it lists; an action (`cancel`) to that of
    // the object it acts on.
    let collection = match segments.as_slice() {
        [first, _, "cancel"] => *first,
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
pub(crate) fn enc(value: &str) -> String {
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

/// Asserts what every sandbox answer carries (README "How a request is checked", docs/sandbox.md):
/// `X-Sandbox: true`, an `X-Request-Id`, a JSON body, and for errors the README's error shape with
/// the answer's status.
pub(crate) fn sandboxed(r: Resp) -> Resp {
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

pub(crate) fn ids(records: &[Value]) -> Vec<String> {
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
pub(crate) fn error_fields(r: &Resp) -> Vec<String> {
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

pub(crate) fn assert_error_on(r: &Resp, status: u16, field: &str) {
    assert_eq!(r.status, status, "expected {status} on {field}: {r}");
    assert!(
        error_fields(r).iter().any(|f| f == field),
        "expected an errors entry for {field}: {r}"
    );
}

pub(crate) static TENANTS: AtomicUsize = AtomicUsize::new(0);

impl Ctx {
    /// A fresh test-agreement account, entitled to every product, with a test key (all scopes).
    pub(crate) fn tenant(&self, label: &str) -> Tenant {
        self.tenant_with(label, "test")
    }

    pub(crate) fn tenant_with(&self, label: &str, agreement: &str) -> Tenant {
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
    pub(crate) fn req(&self, t: &Tenant, method: &str, path: &str) -> Req {
        let mut req = self.gw.request(method, path).bearer(&t.secret);
        if let Some(product) = product_of(path) {
            req = req.product_key(&t.product_keys[product]);
        }
        req
    }

    pub(crate) fn get(&self, t: &Tenant, path: &str) -> Resp {
        sandboxed(self.req(t, "GET", path).send())
    }

    pub(crate) fn post(&self, t: &Tenant, path: &str, body: &Value) -> Resp {
        sandboxed(self.req(t, "POST", path).json(body).send())
    }

    pub(crate) fn post_idem(&self, t: &Tenant, path: &str, key: &str, body: &Value) -> Resp {
        sandboxed(
            self.req(t, "POST", path)
                .header("Idempotency-Key", key)
                .json(body)
                .send(),
        )
    }

    /// Creates and returns the object (asserts 201).
    pub(crate) fn create(&self, t: &Tenant, collection: &str, body: &Value) -> Value {
        let r = self.post(t, &format!("/v1/{collection}"), body);
        r.expect_status(201);
        r.json.clone()
    }

    /// `GET /v1/sandbox/clock`, with its header and body checked to agree.
    pub(crate) fn clock(&self, t: &Tenant) -> Value {
        let r = self.get(t, "/v1/sandbox/clock");
        r.expect_status(200);
        assert_eq!(r.json["object"], "sandbox_clock", "{r}");
        assert_eq!(
            r.header("x-sandbox-clock"),
            r.json["now"].as_str(),
            "the header and the body agree: {r}"
        );
        r.json.clone()
    }

    /// The tenant's sandbox day, `YYYY-MM-DD`.
    pub(crate) fn today(&self, t: &Tenant) -> String {
        self.clock(t)["today"].as_str().expect("today").to_string()
    }

    /// `POST /v1/sandbox/clock` with `body`.
    pub(crate) fn move_clock(&self, t: &Tenant, body: &Value) -> Resp {
        self.post(t, "/v1/sandbox/clock", body)
    }

    pub(crate) fn reset(&self, t: &Tenant) -> Resp {
        sandboxed(self.req(t, "POST", "/v1/sandbox/reset").send())
    }

    /// Every object of a list, following `starting_after` page by page; checks each envelope.
    pub(crate) fn walk(&self, t: &Tenant, path: &str, limit: usize) -> Vec<Value> {
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

    pub(crate) fn walk_ids(&self, t: &Tenant, path: &str) -> Vec<String> {
        ids(&self.walk(t, path, 100))
    }

    /// The file's ids of a collection, then `created`: what a list must show.
    pub(crate) fn file_ids_then(&self, collection: &str, created: &[&Value]) -> Vec<String> {
        let mut want = ids(self.data.records(collection));
        want.extend(
            created
                .iter()
                .map(|o| o["id"].as_str().unwrap().to_string()),
        );
        want
    }

    /// A test key never causes a request to the origin (README "How a request is checked", step
    /// 10).
    pub(crate) fn assert_origin_untouched(&self) {
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
