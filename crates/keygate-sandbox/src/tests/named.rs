//! Named sandboxes: the header's one parser, the account's index and its cap, and that two
//! sandboxes' states never touch, whatever is sent to them in whatever order.

use super::*;
use crate::{
    IndexRequest, MAX_NAMED_SANDBOXES, Repeatable, SandboxIndex, SandboxName, date, store_name,
};
use serde_json::json;
use std::collections::BTreeSet;

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_name_is_one_to_64_letters_digits_underscores_and_hyphens() {
    for good in ["a", "ci-run-4711", "A_b-9", &"x".repeat(64)] {
        assert_eq!(SandboxName::parse(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        &"x".repeat(65),
        "a/b",
        "../acct_other",
        "a b",
        "a.b",
        "%2F",
        "run\u{0}",
        "ci\n",
        "naïve",
        "a\\b",
    ] {
        let error = SandboxName::parse(bad).unwrap_err();
        assert_eq!(error.status, 400, "{bad:?}");
        assert!(
            error.message.contains("Keygate-Sandbox"),
            "{}",
            error.message
        );
    }
    // Generated strings over a wider alphabet: accepted exactly when every byte is allowed.
    let alphabet = b"aZ09_-/. %\\:\x00\xc3\xa9";
    let mut draws = Draws(7);
    for _ in 0..2_000 {
        let len = draws.next(70) as usize;
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[draws.next(alphabet.len() as u64) as usize])
            .collect();
        let Ok(text) = String::from_utf8(bytes) else {
            continue;
        };
        let allowed = (1..=64).contains(&text.len())
            && text
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        assert_eq!(SandboxName::parse(&text).is_ok(), allowed, "{text:?}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn every_sandbox_of_every_account_has_a_store_of_its_own() {
    let accounts = ["acct_1", "acct_1a", "acct_2", "acct_"];
    let names = ["a", "1", "a-1", "default", "acct_1"];
    let mut stores = BTreeSet::new();
    for account in accounts {
        assert!(stores.insert(store_name(account, None)));
        for name in names {
            let name = SandboxName::parse(name).unwrap();
            assert!(
                stores.insert(store_name(account, Some(&name))),
                "{account} {name:?}"
            );
        }
    }
    assert_eq!(stores.len(), accounts.len() * (names.len() + 1));
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn an_account_holds_at_most_its_cap_of_named_sandboxes() {
    let mut index = SandboxIndex::default();
    for n in 0..MAX_NAMED_SANDBOXES {
        let name = SandboxName::parse(&format!("run-{n}")).unwrap();
        assert!(index.register(&name, NOW + n as i64).unwrap());
    }
    // A name in use is used again, even at the cap.
    let first = SandboxName::parse("run-0").unwrap();
    assert!(!index.register(&first, NOW).unwrap());
    let over = SandboxName::parse("one-more").unwrap();
    let error = index.register(&over, NOW).unwrap_err();
    assert_eq!(error.status, 409);
    assert!(
        error
            .message
            .contains("DELETE /v1/sandbox/sandboxes/{name}"),
        "{}",
        error.message
    );
    assert_eq!(index.len(), MAX_NAMED_SANDBOXES);
    // Deleting one makes room.
    assert!(index.remove(&first).is_some());
    assert!(index.register(&over, NOW).unwrap());
    assert!(!index.contains(&first));
    assert_eq!(SandboxIndex::no_such(&first).status, 404);
    let deleted = json(&SandboxIndex::deleted(&first).unwrap());
    assert_eq!(
        deleted,
        json!({"object": "sandbox", "name": "run-0", "deleted": true})
    );
    let listed = json(&index.list().unwrap());
    assert_eq!(listed["object"], "list");
    assert_eq!(listed["has_more"], false);
    let data = listed["data"].as_array().unwrap();
    assert_eq!(data.len(), MAX_NAMED_SANDBOXES);
    assert_eq!(data[0]["object"], "sandbox");
    assert_eq!(data[0]["name"], "one-more");
    assert_eq!(data[1]["created_at"], "2026-10-31T12:00:01Z");
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn the_index_answers_its_own_paths_only() {
    let parse = |method, path| IndexRequest::parse(method, path);
    assert_eq!(
        parse("GET", "/v1/sandbox/sandboxes"),
        Some(Ok(IndexRequest::List))
    );
    assert_eq!(
        parse("DELETE", "/v1/sandbox/sandboxes/ci-1"),
        Some(Ok(IndexRequest::Delete(
            SandboxName::parse("ci-1").unwrap()
        )))
    );
    assert_eq!(
        parse("POST", "/v1/sandbox/sandboxes"),
        Some(Ok(IndexRequest::Create))
    );
    assert_eq!(
        parse("PUT", "/v1/sandbox/sandboxes")
            .unwrap()
            .unwrap_err()
            .status,
        405
    );
    assert_eq!(
        parse("GET", "/v1/sandbox/sandboxes/ci-1")
            .unwrap()
            .unwrap_err()
            .status,
        405
    );
    for bad in [
        "/v1/sandbox/sandboxes/",
        "/v1/sandbox/sandboxes/a/b",
        "/v1/sandbox/sandboxes/..",
    ] {
        assert_eq!(
            parse("DELETE", bad).unwrap().unwrap_err().status,
            400,
            "{bad}"
        );
    }
    for elsewhere in [
        "/v1/sandbox/sandboxesx",
        "/v1/sandbox/reset",
        "/v1/accounts",
    ] {
        assert_eq!(parse("GET", elsewhere), None, "{elsewhere}");
    }
}

/// One step of a generated session against one of two sandboxes.
fn step(client: &mut Client, draws: &mut Draws) -> (u16, String) {
    let debtor = first("accounts.json", |a| {
        a["status"] == "open" && a["currency"] == "EUR"
    });
    let response = match draws.next(5) {
        0 => client.send(
            "POST",
            "/v1/sandbox/clock",
            json!({"advance": {"days": 1 + draws.next(20)}})
                .to_string()
                .as_bytes(),
            None,
            None,
        ),
        1 => client.send("POST", "/v1/sandbox/reset", b"", None, None),
        2 => client.send("GET", "/v1/payment_orders?limit=100", b"", None, None),
        _ => {
            let today = date::parse(
                json(&client.send("GET", "/v1/sandbox/clock", b"", None, None))["today"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap();
            let body = json!({
                "debtor_account_id": debtor["id"],
                "creditor_name": "Isolation GmbH",
                "creditor_iban": "DE89370400440532013000",
                "amount": 1 + draws.next(300_000),
                "requested_execution_date": date::format(today + draws.next(10) as i64),
            });
            // The same few keys in both sandboxes: a key used in one is new in the other.
            let key = format!("key-{}", draws.next(3));
            client.send(
                "POST",
                "/v1/payment_orders",
                body.to_string().as_bytes(),
                Some(&key),
                None,
            )
        }
    };
    (response.status, response.body)
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn two_sandboxes_answer_as_if_each_were_alone_whatever_the_interleaving() {
    for seed in 1..=6u64 {
        let plan: Vec<bool> = {
            let mut which = Draws(seed);
            (0..24).map(|_| which.next(2) == 0).collect()
        };
        // Interleaved: each step goes to sandbox a or b, as the plan says.
        let mut mixed = [Client::new(), Client::new()];
        let mut draws = [Draws(seed * 100), Draws(seed * 100 + 1)];
        let answers_mixed: Vec<(u16, String)> = plan
            .iter()
            .map(|&to_a| {
                let i = usize::from(!to_a);
                step(&mut mixed[i], &mut draws[i])
            })
            .collect();
        // Alone: the same steps, each sandbox by itself, then laid out in the plan's order.
        let mut alone = [Client::new(), Client::new()];
        let mut draws = [Draws(seed * 100), Draws(seed * 100 + 1)];
        let mut answers = [Vec::new(), Vec::new()].map(Vec::into_iter);
        for i in 0..2 {
            let steps = plan.iter().filter(|&&to_a| usize::from(!to_a) == i).count();
            answers[i] = (0..steps)
                .map(|_| step(&mut alone[i], &mut draws[i]))
                .collect::<Vec<_>>()
                .into_iter();
        }
        let answers_alone: Vec<(u16, String)> = plan
            .iter()
            .filter_map(|&to_a| answers[usize::from(!to_a)].next())
            .collect();
        assert!(answers_mixed.iter().all(|(status, _)| *status < 500));
        assert_eq!(answers_mixed, answers_alone, "seed {seed}");
        assert_eq!(mixed[0].state, alone[0].state, "seed {seed}");
        assert_eq!(mixed[1].state, alone[1].state, "seed {seed}");
    }
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_repeatable_sandbox_is_created_from_a_name_a_seed_and_a_clock() {
    let mut index = SandboxIndex::default();
    let body = br#"{"name": "snapshots", "seed": 42, "clock": "2027-01-04"}"#;
    let (name, repeatable) = index.create(body, NOW).unwrap();
    assert_eq!(name.as_str(), "snapshots");
    assert_eq!(
        repeatable,
        Repeatable {
            seed: 42,
            start: 1_799_020_800
        }
    );
    let created = json(&index.created(&name).unwrap());
    assert_eq!(
        created["repeatable"],
        json!({"seed": 42, "clock_start": "2027-01-04T00:00:00Z"})
    );
    assert_eq!(created["created"], NOW);
    let listed = json(&index.list().unwrap());
    assert_eq!(listed["data"][0], created);
    // The name is taken: a 409 that says to delete it first.
    let again = index.create(body, NOW).unwrap_err();
    assert_eq!(again.status, 409);
    assert!(
        again.message.contains("Delete it first"),
        "{}",
        again.message
    );
    // Every fault of the body at once.
    let bad = index
        .create(
            br#"{"name": "a/b", "seed": -1, "clock": "2027-02-30"}"#,
            NOW,
        )
        .unwrap_err();
    assert_eq!(bad.status, 400);
    let fields: Vec<&str> = bad.errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "seed", "clock"]);
    for body in [
        &br#"{"name": "x", "seed": 1}"#[..],
        br#"{"name": "x", "seed": 1, "clock": "2027-01-01", "extra": 1}"#,
        br#"[]"#,
        br#"{"name": "x", "seed": 9007199254740992, "clock": "2027-01-01"}"#,
        br#"{"name": "x", "seed": 1, "clock": "2050-01-01"}"#,
    ] {
        let error = index.create(body, NOW).unwrap_err();
        assert_eq!(error.status, 400, "{}", String::from_utf8_lossy(body));
    }
}

/// An answer's status, headers and body.
type Answered = (u16, Vec<(String, String)>, String);

/// A session against a fresh repeatable sandbox: its answers.
fn session(repeatable: Repeatable, real: i64, worker_ids: &str) -> Vec<Answered> {
    let sandbox = sandbox();
    let mut state = AccountState::repeatable(repeatable);
    let debtor = first("accounts.json", |a| {
        a["status"] == "open" && a["currency"] == "EUR"
    });
    let order = json!({
        "debtor_account_id": debtor["id"], "creditor_name": "Snapshot GmbH",
        "creditor_iban": "DE89370400440532013000", "amount": 12_345,
        "requested_execution_date": "2027-01-06",
    })
    .to_string();
    let steps: Vec<(&str, &str, String)> = vec![
        ("GET", "/v1/sandbox/clock", String::new()),
        ("POST", "/v1/payment_orders", order.clone()),
        ("POST", "/v1/payment_orders", order),
        (
            "POST",
            "/v1/sandbox/clock",
            r#"{"advance": {"days": 3}}"#.into(),
        ),
        (
            "GET",
            "/v1/payment_orders?limit=3&status=executed",
            String::new(),
        ),
        ("GET", "/v1/transactions?limit=5", String::new()),
        ("GET", "/v1/insurance_products", String::new()),
        ("POST", "/v1/sandbox/reset", String::new()),
        ("GET", "/v1/sandbox/clock", String::new()),
    ];
    let mut n = 0;
    steps
        .iter()
        .map(|(method, target, body)| {
            let (path, query) = target.split_once('?').unwrap_or((target, ""));
            let request = SandboxRequest {
                method,
                path,
                query,
                body: body.as_bytes(),
                idempotency_key: None,
                scenario: None,
                readable: crate::Readable::All,
                require_https: true,
            };
            let r = sandbox.handle(
                &request,
                &mut state,
                &mut Hooks::default(),
                real,
                &mut |prefix| {
                    n += 1;
                    format!("{prefix}{worker_ids}{n:04}")
                },
                &TestRandom::default(),
            );
            (r.status, r.headers, r.body)
        })
        .collect()
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_repeatable_sandbox_answers_the_same_requests_byte_for_byte() {
    let repeatable = Repeatable {
        seed: 42,
        start: 1_799_020_800,
    };
    // Another real time, another worker id generator: the same answers.
    let first_run = session(repeatable, NOW, "aaaa");
    let second_run = session(repeatable, NOW + 5 * 3_600 + 17, "bbbb");
    assert_eq!(first_run, second_run);
    let bodies: Vec<&str> = first_run.iter().map(|(_, _, body)| body.as_str()).collect();
    assert!(
        bodies[1].contains("\"created\":1799020800"),
        "{}",
        bodies[1]
    );
    assert!(
        !bodies.iter().any(|b| b.contains("aaaa")),
        "the worker's ids are not used"
    );
    let clock: serde_json::Value = serde_json::from_str(bodies[0]).unwrap();
    assert_eq!(clock["now"], "2027-01-04T00:00:00Z");
    assert_eq!(clock["frozen"], true);
    assert_eq!(clock["real_time"], false);
    // After the reset, the clock is back at its start, not at real time.
    assert_eq!(bodies[8], bodies[0]);
    // The order due on the 6th was executed after the 3 days.
    assert!(bodies[4].contains("executed"), "{}", bodies[4]);
    // Another seed: other ids, the same shapes.
    let other = session(
        Repeatable {
            seed: 43,
            ..repeatable
        },
        NOW,
        "aaaa",
    );
    assert_ne!(other[1].2, first_run[1].2);
    assert_eq!(other[0], first_run[0]);
}

#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
#[cfg_attr(not(target_arch = "wasm32"), test)]
fn a_named_sandbox_goes_after_its_idle_time_and_not_before() {
    use crate::{NAMED_SANDBOX_IDLE_SECONDS as IDLE, idle_until};
    assert_eq!(idle_until(NOW, NOW, IDLE), Some(NOW + IDLE));
    assert_eq!(idle_until(NOW, NOW + IDLE - 1, IDLE), Some(NOW + IDLE));
    assert_eq!(idle_until(NOW, NOW + IDLE, IDLE), None);
    assert_eq!(idle_until(i64::MAX - 5, NOW, IDLE), Some(i64::MAX));
}
