//! The shipped data: it loads, it is internally consistent, and the integrity checks catch
//! what a provider's edit could break.

use super::*;
use crate::{date, iban};
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn embedded_data_loads_with_a_few_hundred_records() {
    let sandbox = sandbox();
    let infos = sandbox.collections();
    let names: Vec<&str> = infos.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "owners",
            "accounts",
            "transactions",
            "statements",
            "payment_orders",
            "insurance_products",
            "quotes",
            "policies"
        ]
    );
    let writable: Vec<&str> = infos
        .iter()
        .filter(|c| c.writable)
        .map(|c| c.name)
        .collect();
    assert_eq!(writable, ["payment_orders", "quotes", "policies"]);
    for info in &infos {
        assert!(
            info.records >= 5,
            "{} has {} records",
            info.name,
            info.records
        );
        assert!(
            !info.description.is_empty() && !info.filterable.is_empty(),
            "{}",
            info.name
        );
    }
    assert!(sandbox.record_count() >= 500, "{}", sandbox.record_count());
    assert!(Sandbox::embedded().is_ok());
    // Every file is embedded, minified.
    assert_eq!(crate::EMBEDDED_FILES.len(), 11);
    assert!(
        crate::EMBEDDED_FILES
            .iter()
            .all(|(_, text)| !text.contains("\n "))
    );
    assert!(
        crate::embedded_size() < 300 * 1024,
        "{} bytes",
        crate::embedded_size()
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn ids_are_unique_and_prefixed() {
    let mut seen = BTreeSet::new();
    for info in sandbox().collections() {
        for record in records(&format!("{}.json", info.name)) {
            let id = record["id"].as_str().unwrap().to_string();
            assert!(id.starts_with(info.id_prefix), "{id}");
            assert_eq!(record["object"], info.object);
            assert_eq!(record["livemode"], false);
            assert!(seen.insert(id.clone()), "{id} twice");
        }
    }
}

fn walk_ibans(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        // A booking's members name fields (`"counterparty_iban": "creditor_iban"`), not values.
        Value::Object(_) if key == "books" => {}
        Value::Object(map) => map.iter().for_each(|(k, v)| walk_ibans(v, k, out)),
        Value::Array(items) => items.iter().for_each(|v| walk_ibans(v, key, out)),
        Value::String(s) if key == "iban" || key.ends_with("_iban") => out.push(s.clone()),
        _ => {}
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_iban_in_the_data_passes_mod_97() {
    let mut ibans = Vec::new();
    for (name, text) in crate::EMBEDDED_FILES {
        walk_ibans(&serde_json::from_str(text).unwrap(), name, &mut ibans);
    }
    assert!(ibans.len() > 400, "{}", ibans.len());
    for iban in &ibans {
        assert!(iban::is_valid(iban), "{iban}");
    }
    let countries: BTreeSet<&str> = ibans.iter().map(|i| &i[..2]).collect();
    assert_eq!(countries, BTreeSet::from(["DE", "FR", "GB", "NL"]));
    // Accounts' IBANs are unique.
    let accounts: BTreeSet<String> = records("accounts.json")
        .iter()
        .map(|a| a["iban"].to_string())
        .collect();
    assert_eq!(accounts.len(), records("accounts.json").len());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn balances_add_up() {
    let transactions = records("transactions.json");
    for account in records("accounts.json") {
        let mine: Vec<&Value> = transactions
            .iter()
            .filter(|t| t["account_id"] == account["id"])
            .collect();
        assert!(!mine.is_empty(), "{}", account["id"]);
        let mut balance =
            mine[0]["balance_after"].as_i64().unwrap() - mine[0]["amount"].as_i64().unwrap();
        let mut previous_date = "";
        for tx in &mine {
            let amount = tx["amount"].as_i64().unwrap();
            assert_ne!(amount, 0);
            balance += amount;
            assert_eq!(tx["balance_after"], balance, "{}", tx["id"]);
            assert_eq!(tx["currency"], account["currency"], "{}", tx["id"]);
            assert_eq!(
                tx["credit_debit"],
                if amount > 0 { "credit" } else { "debit" },
                "{}",
                tx["id"]
            );
            let booked = tx["booking_date"].as_str().unwrap();
            assert!(
                date::parse(booked).is_some() && booked >= previous_date,
                "{}",
                tx["id"]
            );
            previous_date = booked;
        }
        assert_eq!(account["balance"], balance, "{}", account["id"]);
        if account["status"] == "closed" {
            assert_eq!(balance, 0);
            assert!(previous_date <= account["closed_on"].as_str().unwrap());
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn internal_transfers_have_both_sides() {
    let transactions = records("transactions.json");
    let accounts = records("accounts.json");
    let by_iban: BTreeMap<&str, &Value> = accounts
        .iter()
        .map(|a| (a["iban"].as_str().unwrap(), a))
        .collect();
    let mut internal = 0;
    for tx in &transactions {
        let Some(other) = tx["counterparty"]["iban"]
            .as_str()
            .and_then(|i| by_iban.get(i))
        else {
            continue;
        };
        internal += 1;
        let own = accounts
            .iter()
            .find(|a| a["id"] == tx["account_id"])
            .unwrap();
        let mirror = transactions.iter().find(|m| {
            m["account_id"] == other["id"]
                && m["booking_date"] == tx["booking_date"]
                && m["amount"].as_i64() == tx["amount"].as_i64().map(|a| -a)
                && m["counterparty"]["iban"] == own["iban"]
        });
        assert!(mirror.is_some(), "{} has no counterpart", tx["id"]);
    }
    assert!(internal >= 20, "{internal}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn statements_match_the_transactions_of_their_period() {
    let transactions = records("transactions.json");
    let statements = records("statements.json");
    let mut by_account: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for s in &statements {
        let account = s["account_id"].as_str().unwrap();
        let (start, end) = (
            s["period_start"].as_str().unwrap(),
            s["period_end"].as_str().unwrap(),
        );
        let period: Vec<&Value> = transactions
            .iter()
            .filter(|t| t["account_id"] == account)
            .filter(|t| (start..=end).contains(&t["booking_date"].as_str().unwrap()))
            .collect();
        let credits: i64 = period
            .iter()
            .filter_map(|t| t["amount"].as_i64())
            .filter(|a| *a > 0)
            .sum();
        let debits: i64 = -period
            .iter()
            .filter_map(|t| t["amount"].as_i64())
            .filter(|a| *a < 0)
            .sum::<i64>();
        assert_eq!(s["total_credits"], credits, "{}", s["id"]);
        assert_eq!(s["total_debits"], debits, "{}", s["id"]);
        assert_eq!(s["transaction_count"], period.len(), "{}", s["id"]);
        let opening = s["opening_balance"].as_i64().unwrap();
        assert_eq!(
            s["closing_balance"],
            opening + credits - debits,
            "{}",
            s["id"]
        );
        if let Some(last) = period.last() {
            assert_eq!(last["balance_after"], s["closing_balance"], "{}", s["id"]);
        }
        assert!(
            s["document"]["url"]
                .as_str()
                .unwrap()
                .ends_with(&format!("{}.pdf", s["id"].as_str().unwrap()))
        );
        by_account.entry(account.to_string()).or_default().push(s);
    }
    for (account, list) in by_account {
        for pair in list.windows(2) {
            assert_eq!(
                pair[0]["closing_balance"], pair[1]["opening_balance"],
                "{account}"
            );
            let next = date::parse(pair[0]["period_end"].as_str().unwrap()).unwrap() + 1;
            assert_eq!(
                pair[1]["period_start"],
                date::format(next),
                "{account}: consecutive months"
            );
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn executed_payment_orders_match_their_transaction() {
    let transactions = records("transactions.json");
    let mut executed = 0;
    for order in records("payment_orders.json") {
        let tx = transactions
            .iter()
            .find(|t| t["id"] == order["transaction_id"]);
        if order["status"] != "executed" {
            assert!(tx.is_none(), "{}", order["id"]);
            assert!(order["status_reason"].is_string(), "{}", order["id"]);
            continue;
        }
        executed += 1;
        let tx = tx.unwrap_or_else(|| panic!("{} has no transaction", order["id"]));
        assert_eq!(tx["account_id"], order["debtor_account_id"]);
        assert_eq!(
            tx["amount"].as_i64().unwrap(),
            -order["amount"].as_i64().unwrap()
        );
        assert_eq!(tx["currency"], order["currency"]);
        assert_eq!(tx["counterparty"]["name"], order["creditor_name"]);
        assert_eq!(tx["counterparty"]["iban"], order["creditor_iban"]);
        assert_eq!(tx["booking_date"], order["requested_execution_date"]);
        assert_eq!(tx["description"], order["remittance_information"]);
        assert!(order["created"].as_i64() <= tx["created"].as_i64());
    }
    assert!(executed >= 50);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn policies_match_their_quotes() {
    let quotes = records("quotes.json");
    let policies = records("policies.json");
    for policy in &policies {
        let quote = quotes
            .iter()
            .find(|q| q["id"] == policy["quote_id"])
            .unwrap();
        assert_eq!(quote["status"], "accepted");
        assert_eq!(quote["policy_id"], policy["id"]);
        for field in [
            "product_id",
            "holder",
            "coverage",
            "risk",
            "premium",
            "currency",
        ] {
            assert_eq!(policy[field], quote[field], "{} {field}", policy["id"]);
        }
        let start = date::parse(policy["start_date"].as_str().unwrap()).unwrap();
        let end = date::add_months(start, quote["term_months"].as_i64().unwrap()).unwrap() - 1;
        assert_eq!(policy["end_date"], date::format(end), "{}", policy["id"]);
        assert!(policy["created"].as_i64() >= quote["created"].as_i64());
    }
    for quote in &quotes {
        let bound = policies
            .iter()
            .filter(|p| p["quote_id"] == quote["id"])
            .count();
        assert_eq!(
            bound,
            usize::from(quote["status"] == "accepted"),
            "{}",
            quote["id"]
        );
        if quote["status"] == "declined" {
            assert!(quote["premium"].is_null() && quote["decline_reason"].is_string());
        }
    }
}

/// Every static quote and payment order could have been created through the API on its
/// `created` day: same validation, defaults, derived premium, currency, validity and magic
/// outcome. Only the lifecycle fields (what happened afterwards) may differ.
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn static_writes_replay_through_the_api() {
    let products = records("insurance_products.json");
    let mut replayed = 0;
    let cases = [
        (
            "quotes",
            vec!["product_id", "coverage", "holder", "risk"],
            vec!["status", "policy_id"],
        ),
        (
            "payment_orders",
            vec![
                "debtor_account_id",
                "creditor_name",
                "creditor_iban",
                "amount",
                "currency",
                "remittance_information",
                "end_to_end_id",
                "requested_execution_date",
            ],
            vec!["status", "status_reason", "transaction_id"],
        ),
    ];
    for (collection, body_fields, lifecycle) in cases {
        for record in records(&format!("{collection}.json")) {
            if collection == "quotes" {
                let product = products
                    .iter()
                    .find(|p| p["id"] == record["product_id"])
                    .unwrap();
                if product["status"] != "available" {
                    continue; // quoted before the product was withdrawn
                }
            }
            let body: serde_json::Map<String, Value> = body_fields
                .iter()
                .map(|f| (f.to_string(), record[*f].clone()))
                .collect();
            let mut client = Client::new();
            client.now = record["created"].as_i64().unwrap();
            let (status, created) = client.post(&format!("/v1/{collection}"), &Value::Object(body));
            assert_eq!(status, 201, "{}: {created}", record["id"]);
            let declined = record["status"] == "declined"
                || record["status_reason"] == "creditor_account_closed";
            for (field, value) in record.as_object().unwrap() {
                if field == "id" || (lifecycle.contains(&field.as_str()) && !declined) {
                    continue;
                }
                assert_eq!(&created[field], value, "{} {field}", record["id"]);
            }
            replayed += 1;
        }
    }
    assert!(replayed >= 100, "{replayed}");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_magic_value_is_used_by_some_static_record_or_refused() {
    let declared = serde_json::from_str::<Value>(
        crate::EMBEDDED_FILES
            .iter()
            .find(|(n, _)| *n == "scenarios.json")
            .unwrap()
            .1,
    )
    .unwrap();
    for magic in declared["magic_values"].as_array().unwrap() {
        let collection = magic["collection"].as_str().unwrap();
        let path: Vec<&str> = magic["field"].as_str().unwrap().split('.').collect();
        let hits = records(&format!("{collection}.json"))
            .into_iter()
            .filter(|r| path.iter().try_fold(r, |v, p| v.get(p)) == Some(&magic["equals"]))
            .count();
        if magic.get("reject").is_some() {
            assert_eq!(hits, 0, "a refused value cannot be in the data: {magic}");
        } else {
            assert!(hits > 0, "no static record shows the outcome of {magic}");
        }
    }
}

/// Loads the shipped files with one edit and returns the error.
fn broken(file: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut files = files();
    edit(&mut files, file, change);
    match load(&files) {
        Ok(_) => panic!("the edit of {file} was not caught"),
        Err(e) => e,
    }
}

fn expect_error(error: String, needles: &[&str]) {
    for needle in needles {
        assert!(
            error.contains(needle),
            "{error:?} should mention {needle:?}"
        );
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integrity_checks_catch_broken_records() {
    let second_id = records("transactions.json")[1]["id"].clone();
    expect_error(
        broken("transactions.json", |t| t[0]["id"] = second_id.clone()),
        &["transactions.json", "not unique"],
    );
    expect_error(
        broken("transactions.json", |t| {
            t[3]["account_id"] = json!("ba_gone")
        }),
        &["transactions.json", "account_id", "accounts"],
    );
    expect_error(
        broken("accounts.json", |a| {
            a[0]["iban"] = json!("DE89370400440532013001")
        }),
        &["accounts.json", "IBAN"],
    );
    expect_error(
        broken("transactions.json", |t| {
            t[5]["counterparty"]["iban"] = json!("NL00ABNA0417164300")
        }),
        &["transactions.json", "IBAN"],
    );
    expect_error(
        broken("owners.json", |o| o[0]["id"] = json!("ba_wrongprefix")),
        &["owners.json", "own_"],
    );
    expect_error(
        broken("owners.json", |o| o[0]["object"] = json!("person")),
        &["owners.json", "object"],
    );
    expect_error(
        broken("owners.json", |o| o[0]["livemode"] = json!(true)),
        &["livemode"],
    );
    expect_error(
        broken("quotes.json", |q| q[0]["policy_id"] = json!(7)),
        &["quotes.json", "policy_id"],
    );
    expect_error(
        broken("owners.json", |o| *o = json!({"id": "own_1"})),
        &["owners.json"],
    );
    expect_error(
        broken("insurance_products.json", |p| {
            p[0]["risk_fields"]["travellers"]["type"] = json!("float")
        }),
        &["risk_fields"],
    );
    expect_error(
        broken("insurance_products.json", |p| {
            p[1]["coverage_options"][0]
                .as_object_mut()
                .unwrap()
                .remove("premium_factor");
        }),
        &["premium_factor"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integrity_checks_catch_broken_manifests() {
    let collection = |m: &mut Value, name: &str| -> usize {
        m["collections"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["name"] == name)
            .unwrap()
    };
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "accounts");
            m["collections"][i]["references"]["owner_id"] = json!("people");
        }),
        &["people"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "accounts");
            m["collections"][i]["filterable"] = json!(["owner_id", "favourite_colour"]);
        }),
        &["favourite_colour"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "quotes");
            m["collections"][i]["write"]["set"]["premium"] =
                json!({"ref": {"via": "holder", "field": "x"}});
        }),
        &["via `holder`"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "payment_orders");
            m["collections"][i]["write"]["fields"]["amount"]["min_length"] = json!(1);
        }),
        &["amount", "min_length"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "payment_orders");
            m["collections"][i]["write"]["fields"]["amount"]["maximum"] = json!(1);
        }),
        &["maximum"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "policies");
            m["collections"][i]["name"] = json!("quotes");
        }),
        &["twice"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "accounts");
            m["collections"][i]["id_prefix"] = json!("own_");
        }),
        &["id_prefix"],
    );
    expect_error(
        broken("collections.json", |m| {
            m["collections"]
                .as_array_mut()
                .unwrap()
                .retain(|c| c["name"] != "statements");
        }),
        &["statements.json", "not used"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "payment_orders");
            m["collections"][i]["write"]["fields"]["requested_execution_date"]["min_days_from_today"] =
                json!(i64::MIN);
        }),
        &["requested_execution_date", "days_from_today"],
    );
    expect_error(
        broken("collections.json", |m| {
            let i = collection(m, "quotes");
            m["collections"][i]["write"]["set"]["valid_until"] = json!({"today": i64::MAX});
        }),
        &["valid_until", "today"],
    );
    let mut files = files();
    files.retain(|(n, _)| n != "policies.json");
    expect_error(load(&files).unwrap_err(), &["policies.json", "missing"]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn integrity_checks_catch_broken_scenarios() {
    expect_error(
        broken("scenarios.json", |s| {
            s["scenarios"]
                .as_array_mut()
                .unwrap()
                .retain(|x| x["name"] != "timeout")
        }),
        &["timeout", "required"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["scenarios"][0]["retry_after"] = Value::Null
        }),
        &["retry_after"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["scenarios"][3]["delay_ms"] = json!(120_000)
        }),
        &["delay_ms"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["scenarios"][1]["status"] = json!(200)
        }),
        &["400-599"],
    );
    // A magic value no request can send is caught.
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][0]["equals"] = json!(666.66)
        }),
        &["no request can send"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][1]["equals"] = json!("DE00500105170648489890")
        }),
        &["no request can send"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][2]["equals"] = json!("Antarctica")
        }),
        &["no request can send"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][2]["field"] = json!("risk.planet")
        }),
        &["risk.planet"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][0]["collection"] = json!("accounts")
        }),
        &["not writable"],
    );
    expect_error(
        broken("scenarios.json", |s| {
            s["magic_values"][3]["set"]["colour"] = json!("red")
        }),
        &["colour"],
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_provider_can_add_a_collection_with_data_only() {
    let mut files = files();
    files.push((
        "contacts.json".into(),
        json!([
            {"id": "con_1", "object": "contact", "livemode": false, "created": 1_790_000_000, "owner_id": records("owners.json")[0]["id"], "email": "a@example.com"},
            {"id": "con_2", "object": "contact", "livemode": false, "created": 1_790_000_100, "owner_id": records("owners.json")[1]["id"], "email": "b@example.com"}
        ])
        .to_string(),
    ));
    edit(&mut files, "collections.json", |m| {
        m["collections"].as_array_mut().unwrap().push(json!({
            "name": "contacts", "object": "contact", "id_prefix": "con_", "file": "contacts.json",
            "filterable": ["email"], "references": {"owner_id": "owners"},
            "write": {"fields": {"owner_id": {"type": "string", "required": true},
                                  "email": {"type": "string", "format": "email", "required": true}}}
        }));
    });
    let sandbox = load(&files).unwrap();
    let mut client = Client::with(&sandbox);
    let owner = records("owners.json")[0]["id"].clone();
    let (status, created) = client.post(
        "/v1/contacts",
        &json!({"owner_id": owner, "email": "new@example.com"}),
    );
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["id"], "con_test000001");
    let nested = client.list_all(&format!("/v1/owners/{}/contacts", owner.as_str().unwrap()));
    assert_eq!(nested.len(), 2);
    assert_eq!(client.list_all("/v1/contacts?email=b@example.com").len(), 1);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_dataset_that_does_not_load_is_a_generic_500_that_keeps_its_reason() {
    let mut files = files();
    edit(&mut files, "accounts.json", |v| {
        v[0]["id"] = json!("no_prefix")
    });
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, t)| (n.as_str(), t.as_str()))
        .collect();
    let error = match Sandbox::from_json_files(&borrowed) {
        Ok(_) => panic!("the broken dataset loaded"),
        Err(e) => e,
    };
    let answer = error.to_internal_error();
    assert_eq!(answer.status, 500);
    assert_eq!(answer.message, keygate_core::Error::internal().message);
    assert!(!answer.message.contains("accounts.json"));
    let reason = answer.true_reason();
    assert!(reason.contains("accounts.json"), "{reason}");
    assert!(reason.contains(&error.to_string()), "{reason}");
}
