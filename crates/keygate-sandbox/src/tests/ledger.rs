//! The bank ledger as days pass: new activity, executed and rejected payment orders, transfers
//! between the sandbox's accounts, statements, and the invariants that tie them together.

use super::*;
use crate::date;
use serde_json::json;
use std::collections::BTreeMap;

/// The files' `balance_date`: the ledger books from the day after.
const FILES_DAY: &str = "2026-10-31";

fn advance(client: &mut Client, days: i64) {
    let (status, body) = client.post("/v1/sandbox/clock", &json!({"advance": {"days": days}}));
    assert_eq!(status, 200, "{body}");
}

fn today(client: &mut Client) -> String {
    client.get("/v1/sandbox/clock").1["today"]
        .as_str()
        .unwrap()
        .to_string()
}

fn new_transactions(client: &mut Client) -> Vec<Value> {
    client
        .list_all("/v1/transactions")
        .into_iter()
        .filter(|t| t["booking_date"].as_str().unwrap() > FILES_DAY)
        .collect()
}

fn open_accounts(currency: &str) -> Vec<Value> {
    records("accounts.json")
        .into_iter()
        .filter(|a| a["status"] == "open" && a["currency"] == currency)
        .collect()
}

fn order_body(debtor: &Value, creditor_iban: &str, amount: i64, date: &str) -> Value {
    json!({
        "debtor_account_id": debtor["id"],
        "creditor_name": "Ledger Test GmbH",
        "creditor_iban": creditor_iban,
        "amount": amount,
        "requested_execution_date": date,
    })
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn new_activity_appears_day_by_day_and_is_the_same_for_every_account() {
    let mut first = Client::new();
    assert!(
        new_transactions(&mut first).is_empty(),
        "nothing before the next day"
    );
    advance(&mut first, 7);
    let week = new_transactions(&mut first);
    assert!(
        week.len() >= 20,
        "a week of activity on 16 accounts: {}",
        week.len()
    );
    assert!(
        week.iter()
            .all(|t| t["booking_date"].as_str().unwrap() <= "2026-11-07")
    );
    assert!(
        week.iter().any(|t| t["category"] == "rent"),
        "rent on the 1st"
    );
    // Another account, moved there in two steps, sees the very same transactions.
    let mut second = Client::new();
    advance(&mut second, 3);
    let three_days = new_transactions(&mut second);
    advance(&mut second, 4);
    assert_eq!(new_transactions(&mut second), week);
    assert_eq!(
        &week[..three_days.len()],
        three_days.as_slice(),
        "earlier days never change"
    );
    // A transaction is read by its id, and in its account's nested list.
    let tx = &week[0];
    let (status, read) = first.get(&format!("/v1/transactions/{}", tx["id"].as_str().unwrap()));
    assert_eq!(status, 200);
    assert_eq!(&read, tx);
    let nested = first.list_all(&format!(
        "/v1/accounts/{}/transactions?category={}",
        tx["account_id"].as_str().unwrap(),
        tx["category"].as_str().unwrap()
    ));
    assert!(nested.contains(tx));
    // The account's balance moved with it, to the sandbox's day.
    let (_, account) = first.get(&format!(
        "/v1/accounts/{}",
        tx["account_id"].as_str().unwrap()
    ));
    assert_eq!(account["balance_date"], "2026-11-07");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_order_executes_on_its_date_and_an_order_above_the_balance_is_rejected() {
    let mut client = Client::new();
    let eur = open_accounts("EUR");
    let (debtor, creditor) = (&eur[0], &eur[1]);
    let in_three = date::format(date::today(NOW) + 3);
    let (_, paid) = client.post(
        "/v1/payment_orders",
        &order_body(
            debtor,
            creditor["iban"].as_str().unwrap(),
            12_345,
            &in_three,
        ),
    );
    let (_, too_big) = client.post(
        "/v1/payment_orders",
        &order_body(debtor, "DE89370400440532013000", 99_999_999, &in_three),
    );
    assert_eq!(paid["status"], "pending");
    advance(&mut client, 2);
    let url = |o: &Value| format!("/v1/payment_orders/{}", o["id"].as_str().unwrap());
    assert_eq!(
        client.get(&url(&paid)).1["status"],
        "pending",
        "the day before"
    );
    advance(&mut client, 1);
    let (_, executed) = client.get(&url(&paid));
    assert_eq!(executed["status"], "executed", "{executed}");
    let tx_id = executed["transaction_id"].as_str().unwrap();
    let (_, debit) = client.get(&format!("/v1/transactions/{tx_id}"));
    assert_eq!(debit["amount"], -12_345);
    assert_eq!(debit["account_id"], debtor["id"]);
    assert_eq!(debit["booking_date"], in_three.as_str());
    // The transfer reached the other account of the sandbox.
    let credits: Vec<Value> = client
        .list_all(&format!(
            "/v1/accounts/{}/transactions?category=transfer",
            creditor["id"].as_str().unwrap()
        ))
        .into_iter()
        .filter(|t| t["amount"] == 12_345)
        .collect();
    assert_eq!(credits.len(), 1, "{credits:?}");
    assert_eq!(credits[0]["counterparty"]["iban"], debtor["iban"]);
    // The nested list of the transaction finds its order.
    let orders = client.list_all(&format!("/v1/transactions/{tx_id}/payment_orders"));
    assert_eq!(orders, vec![executed.clone()]);
    let (_, rejected) = client.get(&url(&too_big));
    assert_eq!(rejected["status"], "rejected");
    assert_eq!(rejected["status_reason"], "insufficient_funds");
    assert_eq!(rejected["transaction_id"], Value::Null);
    // Nothing of it was stored: the state holds the orders as created.
    assert!(
        client.state.created["payment_orders"]
            .iter()
            .all(|o| o["status"] == "pending")
    );
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_month_that_ends_gets_its_statement() {
    let mut client = Client::new();
    advance(&mut client, 30);
    assert_eq!(today(&mut client), "2026-11-30");
    let is_new = |s: &Value| s["period_start"].as_str().unwrap() > FILES_DAY;
    assert!(
        !client.list_all("/v1/statements").iter().any(is_new),
        "November has not ended"
    );
    advance(&mut client, 1);
    let november: Vec<Value> = client
        .list_all("/v1/statements")
        .into_iter()
        .filter(is_new)
        .collect();
    let open = records("accounts.json")
        .iter()
        .filter(|a| a["status"] == "open")
        .count();
    assert_eq!(november.len(), open, "one per open account");
    assert!(november.iter().all(|s| s["period_end"] == "2026-11-30"));
    check_invariants(&mut client);
}

/// What must hold after any sequence of creates and clock moves: every account's new
/// transactions chain their `balance_after` from the file's balance to the account's shown
/// balance; every new statement matches its month; executed orders have their debit (and an
/// internal transfer its credit); rejected and pending orders have none.
fn check_invariants(client: &mut Client) {
    let today = today(client);
    let transactions = client.list_all("/v1/transactions");
    let statements = client.list_all("/v1/statements");
    let by_id: BTreeMap<&str, &Value> = transactions
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t))
        .collect();
    for file_account in records("accounts.json") {
        let id = file_account["id"].as_str().unwrap();
        let (_, account) = client.get(&format!("/v1/accounts/{id}"));
        let mut balance = file_account["balance"].as_i64().unwrap();
        let mine: Vec<&Value> = transactions
            .iter()
            .filter(|t| t["account_id"] == id && t["booking_date"].as_str().unwrap() > FILES_DAY)
            .collect();
        let mut month_open: BTreeMap<String, (i64, i64, i64, i64)> = BTreeMap::new();
        for t in &mine {
            let amount = t["amount"].as_i64().unwrap();
            let month = t["booking_date"].as_str().unwrap()[..7].to_string();
            let entry = month_open.entry(month).or_insert((balance, 0, 0, 0));
            balance += amount;
            if amount > 0 {
                entry.1 += amount;
            } else {
                entry.2 -= amount;
            }
            entry.3 += 1;
            assert_eq!(t["balance_after"], balance, "{}", t["id"]);
            assert_eq!(
                t["credit_debit"],
                if amount > 0 { "credit" } else { "debit" }
            );
            assert!(t["booking_date"].as_str().unwrap() <= today.as_str());
        }
        assert_eq!(account["balance"], balance, "{id}");
        if file_account["status"] != "open" {
            assert!(mine.is_empty(), "a closed account moves no money: {id}");
            continue;
        }
        assert_eq!(account["balance_date"], today.as_str(), "{id}");
        for s in statements
            .iter()
            .filter(|s| s["account_id"] == id && s["period_start"].as_str().unwrap() > FILES_DAY)
        {
            let month = &s["period_start"].as_str().unwrap()[..7];
            let (opening, credits, debits, count) = month_open.get(month).copied().unwrap_or((
                s["opening_balance"].as_i64().unwrap(),
                0,
                0,
                0,
            ));
            assert_eq!(s["opening_balance"], opening, "{}", s["id"]);
            assert_eq!(s["total_credits"], credits, "{}", s["id"]);
            assert_eq!(s["total_debits"], debits, "{}", s["id"]);
            assert_eq!(s["transaction_count"], count, "{}", s["id"]);
            assert_eq!(
                s["closing_balance"],
                opening + credits - debits,
                "{}",
                s["id"]
            );
            assert!(s["period_end"].as_str().unwrap() < today.as_str());
        }
    }
    for order in client.list_all("/v1/payment_orders") {
        let created_here = order["created"].as_i64().unwrap() >= NOW;
        match order["status"].as_str().unwrap() {
            "executed" if created_here => {
                let tx = by_id[order["transaction_id"].as_str().unwrap()];
                assert_eq!(tx["amount"], -order["amount"].as_i64().unwrap());
                assert_eq!(tx["account_id"], order["debtor_account_id"]);
                assert_eq!(tx["booking_date"], order["requested_execution_date"]);
                let creditor = records("accounts.json").into_iter().find(|a| {
                    a["iban"] == order["creditor_iban"]
                        && a["status"] == "open"
                        && a["currency"] == order["currency"]
                });
                if let Some(creditor) = creditor {
                    assert!(
                        transactions
                            .iter()
                            .any(|t| t["account_id"] == creditor["id"]
                                && t["amount"] == order["amount"]
                                && t["booking_date"] == order["requested_execution_date"]),
                        "the credit of {}",
                        order["id"]
                    );
                }
            }
            "rejected" if created_here => {
                assert_eq!(order["transaction_id"], Value::Null);
                assert!(order["status_reason"].is_string());
            }
            "pending" => {
                assert!(order["requested_execution_date"].as_str().unwrap() > today.as_str());
            }
            _ => {}
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_figures_add_up_after_any_sequence_of_creates_and_clock_moves() {
    let eur = open_accounts("EUR");
    let gbp = open_accounts("GBP");
    for seed in 1..=4u64 {
        let mut draws = Draws(seed);
        let mut client = Client::new();
        // From the first day of new activity, as in real time (the files' day is past).
        advance(&mut client, 1);
        for _ in 0..6 {
            if draws.next(3) == 0 {
                advance(&mut client, 1 + draws.next(45) as i64);
            } else {
                let pool = if draws.next(4) == 0 { &gbp } else { &eur };
                let debtor = &pool[draws.next(pool.len() as u64) as usize];
                let creditor = if draws.next(2) == 0 {
                    pool[draws.next(pool.len() as u64) as usize]["iban"]
                        .as_str()
                        .unwrap()
                        .to_string()
                } else {
                    "DE89370400440532013000".to_string()
                };
                // Sometimes more than any balance: those must be rejected on their day.
                let amount = if draws.next(5) == 0 {
                    50_000_000
                } else {
                    1 + draws.next(400_000) as i64
                };
                let day = date::parse(&today(&mut client)).unwrap() + draws.next(20) as i64;
                let (status, body) = client.post(
                    "/v1/payment_orders",
                    &order_body(debtor, &creditor, amount, &date::format(day)),
                );
                assert!(status == 201 || status == 422, "{body}");
            }
            check_invariants(&mut client);
        }
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_order_due_today_is_executed_by_todays_run_and_answered_so() {
    let mut client = Client::new();
    advance(&mut client, 1);
    let eur = open_accounts("EUR");
    let mut body = order_body(&eur[0], "DE89370400440532013000", 2_500, "2026-11-01");
    body.as_object_mut()
        .unwrap()
        .remove("requested_execution_date");
    let (status, created) = client.post("/v1/payment_orders", &body);
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["requested_execution_date"], "2026-11-01");
    assert_eq!(created["status"], "executed", "{created}");
    let (_, read) = client.get(&format!(
        "/v1/payment_orders/{}",
        created["id"].as_str().unwrap()
    ));
    assert_eq!(read, created, "the answer and every later read agree");
    // Fees and interest name the account's own bank.
    advance(&mut client, 30);
    let fees: Vec<Value> = client
        .list_all("/v1/transactions?category=fees")
        .into_iter()
        .filter(|t| t["booking_date"] == "2026-11-30")
        .collect();
    assert!(!fees.is_empty());
    for fee in &fees {
        let account = records("accounts.json")
            .into_iter()
            .find(|a| a["id"] == fee["account_id"])
            .unwrap();
        assert_eq!(
            fee["counterparty"],
            json!({"name": account["bank_name"], "iban": null})
        );
    }
    check_invariants(&mut client);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_loader_names_what_is_wrong_with_the_activity() {
    type Edit = fn(&mut Value);
    let cases: [(Edit, &str); 7] = [
        (
            |a| a["transactions"] = json!("nope"),
            "unknown collection `nope`",
        ),
        (
            |a| a["profiles"]["current"]["recurring"][0]["amount"] = json!([-5, 5]),
            "both credits (> 0) or both debits (< 0)",
        ),
        (
            |a| a["profiles"]["current"]["recurring"][0]["description"] = json!("Pay {day}"),
            "placeholder `{day}`",
        ),
        (
            |a| a["profiles"]["current"]["random"][0]["chance"] = json!(1.5),
            "chance must be from 0 to 1",
        ),
        (
            |a| a["profiles"]["current"]["random"][0]["counterparties"] = json!([]),
            "at least one",
        ),
        (
            |a| a["profiles"]["current"]["recurring"][0]["counterparty"]["iban"] = json!("DE00"),
            "not a valid IBAN",
        ),
        (
            |a| a["profiles"]["current"]["recurring"][0]["day_of_month"] = json!(32),
            "day_of_month must be 1 to 31",
        ),
    ];
    for (change, wanted) in cases {
        let mut files = files();
        edit(&mut files, "activity.json", change);
        let error = load(&files).expect_err("the dataset must not load");
        assert!(error.starts_with("activity.json"), "{error}");
        assert!(error.contains(wanted), "wanted `{wanted}` in: {error}");
    }
    // A booking needs the ledger: without the file, the manifest may not declare one.
    let mut files = files();
    files.retain(|(name, _)| name != "activity.json");
    let error = load(&files).expect_err("a booking without a ledger must not load");
    assert!(
        error.contains("lifecycle books on the bank ledger, which needs activity.json"),
        "{error}"
    );
    // Without the file and the booking, accounts simply stand still.
    edit(&mut files, "collections.json", |m| {
        let orders = m["collections"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .find(|c| c["name"] == "payment_orders")
            .unwrap();
        orders["lifecycle"]["transitions"]
            .as_array_mut()
            .unwrap()
            .retain(|t| t.get("books").is_none());
    });
    let still = load(&files).unwrap();
    let mut client = Client::with(&still);
    advance(&mut client, 10);
    assert!(new_transactions(&mut client).is_empty());
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_pending_order_can_be_cancelled_and_then_never_executes() {
    let mut client = Client::new();
    advance(&mut client, 1);
    let eur = open_accounts("EUR");
    let (_, order) = client.post(
        "/v1/payment_orders",
        &order_body(&eur[0], "DE89370400440532013000", 700, "2026-11-05"),
    );
    let id = order["id"].as_str().unwrap();
    // Another test account cannot reach it: its sandbox holds no such order.
    let mut other = Client::new();
    let (status, _) = other.post(&format!("/v1/payment_orders/{id}/cancel"), &json!({}));
    assert_eq!(status, 404);
    let (status, cancelled) = client.post(&format!("/v1/payment_orders/{id}/cancel"), &json!({}));
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["status_reason"], "cancelled_by_debtor");
    advance(&mut client, 10);
    let (_, read) = client.get(&format!("/v1/payment_orders/{id}"));
    assert_eq!(read, cancelled, "never executed");
    // Only a pending order: again, or an executed one, is a 409 that says why.
    let (status, error) = client.post(&format!("/v1/payment_orders/{id}/cancel"), &json!({}));
    assert_eq!(status, 409, "{error}");
    assert!(
        error["message"].as_str().unwrap().contains("cancelled"),
        "{error}"
    );
    let day = today(&mut client);
    let (_, due) = client.post(
        "/v1/payment_orders",
        &order_body(&eur[0], "DE89370400440532013000", 800, &day),
    );
    assert_eq!(due["status"], "executed");
    let (status, _) = client.post(
        &format!("/v1/payment_orders/{}/cancel", due["id"].as_str().unwrap()),
        &json!({}),
    );
    assert_eq!(status, 409);
    // Static records: the file's executed orders cannot be cancelled; unknown ids are 404;
    // only POST.
    let executed = first("payment_orders.json", |o| o["status"] == "executed");
    let url = format!(
        "/v1/payment_orders/{}/cancel",
        executed["id"].as_str().unwrap()
    );
    assert_eq!(client.post(&url, &json!({})).0, 409);
    assert_eq!(
        client
            .post("/v1/payment_orders/po_nothing/cancel", &json!({}))
            .0,
        404
    );
    let response = client.send("GET", &url, b"", None, None);
    assert_eq!(response.status, 405);
    assert_eq!(response.header("Allow"), Some("POST"));
    check_invariants(&mut client);
}
