//! The engine as a sharded deployment runs it: one store per account, a directory that only
//! routes (`crate::shard`), and the answers the operator and managers get, which must be the
//! single registry's answers.

use super::*;
use crate::error::Answer;
use crate::shard::{self, IndexChange, IndexKey, Placement};

/// Each account's records in their own store; the directory's index and account list.
struct Deployment {
    shards: Vec<(String, MemStore)>,
    index: Vec<(IndexKey, String)>,
    listed: Vec<(String, Value)>,
    mint: SeqMint,
    config: GatewayConfig,
    webhooks: bool,
}

fn answer_of(result: Result<Outcome, Error>) -> Answer {
    match result {
        Ok(outcome) => match outcome.body {
            Some(body) => Answer::json(outcome.status, body.to_string()),
            None => Answer {
                status: outcome.status,
                headers: vec![],
                body: None,
            },
        },
        Err(error) => Answer::from(&error),
    }
}

fn body(answer: &Answer) -> Value {
    serde_json::from_str(answer.body.as_deref().unwrap_or("null")).unwrap()
}

impl Deployment {
    fn new() -> Self {
        Self {
            shards: Vec::new(),
            index: Vec::new(),
            listed: Vec::new(),
            mint: SeqMint::default(),
            config: testing::config(),
            webhooks: true,
        }
    }

    fn shard(&mut self, account_id: &str) -> &mut MemStore {
        if let Some(i) = self.shards.iter().position(|(a, _)| a == account_id) {
            return &mut self.shards[i].1;
        }
        self.shards
            .push((account_id.to_string(), MemStore::default()));
        &mut self.shards.last_mut().unwrap().1
    }

    fn found(&self, key: &IndexKey) -> Option<String> {
        self.index
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, a)| a.clone())
    }

    /// One command on one account's store, its index changes applied to the directory.
    fn on_account(&mut self, account_id: &str, caller: &Caller, command: Command) -> Answer {
        let config = self.config.clone();
        let webhooks = self.webhooks;
        let mut mint = std::mem::take(&mut self.mint);
        let store = self.shard(account_id);
        let cx = Context {
            now: NOW,
            config: &config,
            max_keys_per_account: DEFAULT_MAX_KEYS_PER_ACCOUNT,
            request_id: "req_admin",
        };
        let result = execute(caller, command, &*store, &cx, &mut mint);
        let mut changes = Vec::new();
        if let Ok(outcome) = &result {
            store.apply(&outcome.writes);
            store.events.extend(outcome.events.iter().cloned());
            let store = &*store;
            changes = shard::index_changes(&outcome.writes, &outcome.events, webhooks, |id| {
                let account = store.account(id)?.ok_or_else(Error::internal)?;
                account_view(&account, &store.entitlements(id)?)
            })
            .unwrap();
        }
        self.mint = mint;
        for change in changes {
            match change {
                IndexChange::Account { id, view } => {
                    match self.listed.iter_mut().find(|(a, _)| *a == id) {
                        Some(listed) => listed.1 = view,
                        None => self.listed.push((id, view)),
                    }
                }
                IndexChange::Put {
                    key, account_id, ..
                } => {
                    self.index.retain(|(k, _)| *k != key);
                    self.index.push((key, account_id));
                }
                IndexChange::Remove { key } => self.index.retain(|(k, _)| *k != key),
            }
        }
        answer_of(result)
    }

    /// What the worker and the directory do with a command.
    fn run(&mut self, caller: &Caller, manager_account: Option<&str>, command: Command) -> Answer {
        match shard::place(caller, manager_account, &command) {
            Placement::Account(account) => self.on_account(&account, caller, command),
            Placement::NewAccount => {
                let id = self.mint.id("acct_").unwrap();
                let command = shard::assign_account_id(command, id.clone());
                self.on_account(&id, caller, command)
            }
            Placement::Accounts => {
                let views = self.listed.iter().map(|(_, v)| v.clone()).collect();
                shard::account_list(views, false).unwrap()
            }
            Placement::Find(key) => match self.found(&key) {
                Some(account) => self.on_account(&account, caller, command),
                None => self.empty(caller, command),
            },
            Placement::Tokens(keys) => {
                let mut accounts: Vec<String> = keys.iter().filter_map(|k| self.found(k)).collect();
                accounts.sort();
                accounts.dedup();
                if accounts.is_empty() {
                    return self.empty(caller, command);
                }
                let answers = accounts
                    .iter()
                    .map(|a| self.on_account(a, caller, command.clone()))
                    .collect();
                shard::merge_answers(answers)
            }
            Placement::Split => {
                let answers = shard::split_activity(command)
                    .into_iter()
                    .map(|report| self.run(caller, None, report))
                    .collect();
                shard::merge_answers(answers)
            }
        }
    }

    fn empty(&mut self, caller: &Caller, command: Command) -> Answer {
        let cx = Context {
            now: NOW,
            config: &self.config,
            max_keys_per_account: DEFAULT_MAX_KEYS_PER_ACCOUNT,
            request_id: "req_admin",
        };
        answer_of(execute(caller, command, &EmptyStore, &cx, &mut self.mint))
    }

    fn operator(&mut self, command: Command) -> Answer {
        self.run(&Caller::Operator, None, command)
    }

    fn account(&mut self, name: &str) -> String {
        let answer = self.operator(Command::CreateAccount {
            body: json!({"name": name, "agreement": "production"}),
            account_id: None,
        });
        assert_eq!(answer.status, 201);
        let id = body(&answer)["id"].as_str().unwrap().to_string();
        let entitled = self.operator(Command::Entitle {
            account_id: id.clone(),
            product_id: "bank_data".into(),
        });
        assert_eq!(entitled.status, 201, "{:?}", entitled.body);
        id
    }

    /// A key of `account_id` with `scopes`: its id and secret.
    fn key(&mut self, account_id: &str, scopes: Value) -> (String, String) {
        let answer = self.operator(Command::CreateKey {
            account_id: account_id.into(),
            body: key_body(json!({"scopes": scopes})),
        });
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        let created = body(&answer);
        (
            created["key"]["id"].as_str().unwrap().into(),
            created["secret"].as_str().unwrap().into(),
        )
    }
}

#[test]
fn each_account_lives_in_its_own_store_and_the_list_shows_them_all() {
    let mut d = Deployment::new();
    let a = d.account("A");
    let b = d.account("B");
    assert_eq!(d.shards.len(), 2);
    assert!(
        d.shards
            .iter()
            .all(|(id, s)| s.accounts.len() == 1 && s.accounts[0].id == *id)
    );
    let list = body(&d.operator(Command::ListAccounts {
        page: PageParams::default(),
    }));
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [a.as_str(), b.as_str()]);
    // The list's copy is the account's own view, entitlements and later changes included.
    let patched = d.operator(Command::UpdateAccount {
        account_id: b.clone(),
        body: json!({"name": "B renamed"}),
    });
    let list = body(&d.operator(Command::ListAccounts {
        page: PageParams::default(),
    }));
    assert_eq!(list["data"][1], body(&patched));
    assert_eq!(
        list["data"][1],
        body(&d.operator(Command::GetAccount { account_id: b }))
    );
}

#[test]
fn the_operator_reaches_a_key_by_its_id_alone_until_it_is_deleted() {
    let mut d = Deployment::new();
    let a = d.account("A");
    d.account("B");
    let (key, _) = d.key(&a, json!(["accounts:read"]));
    let read = d.operator(Command::GetKey {
        key_id: key.clone(),
    });
    assert_eq!(read.status, 200);
    assert_eq!(body(&read)["account_id"], a.as_str());
    let deleted = d.operator(Command::DeleteKey {
        key_id: key.clone(),
    });
    assert_eq!(deleted.status, 204);
    let gone = d.operator(Command::GetKey { key_id: key });
    let never = d.operator(Command::GetKey {
        key_id: "key_never".into(),
    });
    // The directory's "not found" is the engine's, word for word.
    assert_eq!(gone.status, 404);
    assert_eq!(body(&gone)["error"], body(&never)["error"]);
}

#[test]
fn a_manager_cannot_reach_another_accounts_key_even_by_its_exact_id() {
    let mut d = Deployment::new();
    let a = d.account("A");
    let b = d.account("B");
    let (manager, _) = d.key(&a, json!(["keys:manage", "accounts:read"]));
    let (theirs, _) = d.key(&b, json!(["accounts:read"]));
    let caller = Caller::Manager { key_id: manager };
    for command in [
        Command::GetKey {
            key_id: theirs.clone(),
        },
        Command::DeleteKey {
            key_id: theirs.clone(),
        },
        Command::ListKeys {
            account_id: b.clone(),
            page: PageParams::default(),
        },
    ] {
        let answer = d.run(&caller, Some(&a), command);
        assert_eq!(answer.status, 404);
    }
    assert_eq!(
        d.operator(Command::GetKey { key_id: theirs }).status,
        200,
        "B's key is untouched"
    );
}

#[test]
fn a_leak_report_reaches_every_account_it_names_and_each_records_its_own() {
    let mut d = Deployment::new();
    let a = d.account("A");
    let b = d.account("B");
    let (key_a, secret_a) = d.key(&a, json!(["accounts:read"]));
    let (key_b, secret_b) = d.key(&b, json!(["accounts:read"]));
    let answer = d.operator(Command::LeakReport {
        body: json!([{"token": secret_a}, {"token": "sk_live_unknown"}, {"token": secret_b}]),
    });
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    let results = body(&answer)["results"].clone();
    assert_eq!(results[0]["key_id"], key_a.as_str());
    assert_eq!(results[1]["ours"], false);
    assert_eq!(results[2]["key_id"], key_b.as_str());
    for (account, key) in [(&a, &key_a), (&b, &key_b)] {
        let store = d.shard(account);
        assert!(store.key_by_id(key).leaked_at.is_some());
        let reported: Vec<&Event> = store
            .events
            .iter()
            .filter(|e| e.kind == "leak.reported")
            .collect();
        assert_eq!(reported.len(), 1);
        assert_eq!(reported[0].account_id, *account);
    }
    // A report of nothing of ours is answered like the single registry's.
    let none = d.operator(Command::LeakReport {
        body: json!([{"token": "sk_live_unknown"}]),
    });
    assert_eq!(none.status, 200);
    assert_eq!(body(&none)["results"][0]["ours"], false);
    let invalid = d.operator(Command::LeakReport {
        body: json!({"tokens": 7}),
    });
    assert_eq!(invalid.status, 400);
}

#[test]
fn a_refusal_and_an_events_deliveries_are_found_by_their_ids() {
    let mut d = Deployment::new();
    let a = d.account("A");
    let b = d.account("B");
    let (key_a, _) = d.key(&a, json!(["accounts:read"]));
    let (key_b, _) = d.key(&b, json!(["accounts:read"]));
    let report = Command::RecordActivity {
        uses: vec![],
        denials: [(&a, &key_a, "req_a"), (&b, &key_b, "req_b")]
            .into_iter()
            .map(|(account, key, request)| Denial {
                request_id: request.into(),
                account_id: account.clone(),
                key_id: key.clone(),
                status: 403,
                reason: "ip_not_allowed".into(),
                method: "GET".into(),
                path: "/v1/accounts".into(),
                ip: None,
                at: NOW,
            })
            .collect(),
        would_deny: vec![],
        exposed: vec![],
        first_uses: vec![],
        counted: vec![],
    };
    assert_eq!(d.run(&Caller::Edge, None, report).status, 204);
    for (request, key) in [("req_a", &key_a), ("req_b", &key_b)] {
        let found = d.operator(Command::GetRequest {
            request_id: request.into(),
        });
        assert_eq!(found.status, 200);
        assert_eq!(body(&found)["key_id"], key.as_str());
    }
    // Each account stored only its own.
    assert_eq!(d.shard(&a).denials.len(), 1);
    assert_eq!(d.shard(&b).denials.len(), 1);
    // Events are indexed for their deliveries while webhooks are on.
    let event = d.shard(&a).events[0].id.clone();
    assert_eq!(
        d.found(&IndexKey::Event(event)),
        Some(a.clone()),
        "the account's first event is indexed"
    );
}
