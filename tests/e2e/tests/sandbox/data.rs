//! The shipped data (`sandbox-data/*.json`, read at setup) and the accounts the trials make.

use super::*;

/// A test-agreement account with a test key and the test product keys of every product.
pub(crate) struct Tenant {
    pub(crate) account_id: String,
    pub(crate) secret: String,
    pub(crate) product_keys: BTreeMap<String, String>,
}

/// The shipped data, as the files say, in the states their lifecycles have reached today.
pub(crate) struct Data {
    /// `collections.json` entries, in manifest order.
    pub(crate) manifest: Vec<Value>,
    /// Records per collection name, in file order.
    records: BTreeMap<String, Vec<Value>>,
    /// `scenarios.json`.
    pub(crate) scenarios: Value,
    /// `activity.json`: which collections the bank ledger books into and moves as days pass.
    pub(crate) activity: Value,
}

impl Data {
    pub(crate) fn load() -> Data {
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
            activity: read("activity.json"),
        }
    }

    /// Shows every record in the state its collection's lifecycle gives it on `today`
    /// (`YYYY-MM-DD`, the gateway's clock for an account that never moved it), as the manifest
    /// declares: a record in `from` is in `to` from its `on` date, or the day after its `after`
    /// date. Written from the manifest's words, not from the sandbox's code, so the two check
    /// each other.
    pub(crate) fn as_of(&mut self, today: &str) {
        for coll in &self.manifest {
            let Some(lifecycle) = coll.get("lifecycle") else {
                continue;
            };
            let field = lifecycle["field"].as_str().expect("lifecycle field");
            let transitions = lifecycle["transitions"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let name = coll["name"].as_str().expect("collection name");
            for record in self.records.get_mut(name).expect("records") {
                loop {
                    let state = record[field].clone();
                    let due = transitions.iter().find(|t| {
                        t["from"] == state
                            && match (t["on"].as_str(), t["after"].as_str()) {
                                (Some(on), _) => record[on].as_str().is_some_and(|d| d <= today),
                                (None, Some(after)) => {
                                    record[after].as_str().is_some_and(|d| d < today)
                                }
                                _ => false,
                            }
                    });
                    match due {
                        Some(t) => record[field] = t["to"].clone(),
                        None => break,
                    }
                }
            }
        }
    }

    /// Whether days passing add records to `collection` after the file's (transactions,
    /// statements): its lists start with the file's records, in file order.
    pub(crate) fn grows(&self, collection: &str) -> bool {
        [&self.activity["transactions"], &self.activity["statements"]]
            .iter()
            .any(|name| *name == collection)
    }

    /// `record` without what days passing move (an account's balance and its date): the part
    /// the file still decides.
    pub(crate) fn settled(&self, collection: &str, record: &Value) -> Value {
        let mut record = record.clone();
        if self.activity["accounts"] == collection
            && let Some(fields) = record.as_object_mut()
        {
            fields.remove("balance");
            fields.remove("balance_date");
        }
        record
    }

    /// `records` as [`Data::settled`] leaves them.
    pub(crate) fn all_settled(&self, collection: &str, records: &[Value]) -> Vec<Value> {
        records
            .iter()
            .map(|r| self.settled(collection, r))
            .collect()
    }

    pub(crate) fn records(&self, collection: &str) -> &[Value] {
        self.records
            .get(collection)
            .unwrap_or_else(|| panic!("no collection {collection} in the data"))
    }

    pub(crate) fn collection(&self, name: &str) -> &Value {
        self.manifest
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no collection {name} in collections.json"))
    }

    pub(crate) fn scenario(&self, name: &str) -> &Value {
        self.scenarios["scenarios"]
            .as_array()
            .expect("scenarios.json: scenarios")
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("scenarios.json declares no scenario {name}"))
    }

    pub(crate) fn magic_values(&self) -> &[Value] {
        self.scenarios["magic_values"]
            .as_array()
            .expect("scenarios.json: magic_values")
    }

    /// The first open account in `currency`.
    pub(crate) fn open_account(&self, currency: &str) -> &Value {
        self.records("accounts")
            .iter()
            .find(|a| a["status"] == "open" && a["currency"] == currency)
            .unwrap_or_else(|| panic!("no open {currency} account in accounts.json"))
    }

    pub(crate) fn available_products(&self) -> Vec<&Value> {
        self.records("insurance_products")
            .iter()
            .filter(|p| p["status"] == "available")
            .collect()
    }

    /// The first available product whose risk has this field.
    pub(crate) fn product_with_risk(&self, field: &str) -> &Value {
        self.available_products()
            .into_iter()
            .find(|p| p["risk_fields"].get(field).is_some())
            .unwrap_or_else(|| panic!("no available product with risk field {field}"))
    }

    /// A valid `POST /v1/payment_orders` body.
    pub(crate) fn order_body(&self, amount: i64) -> Value {
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
    pub(crate) fn quote_body(&self, product: &Value) -> Value {
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
