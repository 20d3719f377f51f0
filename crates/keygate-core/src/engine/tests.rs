//! The engine against an in-memory store: every rule, and the attacks a manager key tried.

use super::*;
use crate::model::AccountStatus;
use crate::testing;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const NOW: i64 = 1_700_000_000;
const DAY: i64 = 86_400;

/// Records in vectors, in creation order; applies an outcome's writes like the Registry.
#[derive(Default, Clone)]
pub(super) struct MemStore {
    pub accounts: Vec<Account>,
    pub entitlements: Vec<Entitlement>,
    pub keys: Vec<StoredKey>,
    pub events: Vec<Event>,
    pub usage: Vec<(String, Usage)>,
    pub denials: Vec<Denial>,
    pub deliveries: Vec<webhook::Deliveries>,
}

impl MemStore {
    pub fn apply(&mut self, writes: &[Write]) {
        for write in writes {
            match write.clone() {
                Write::PutAccount(a) => match self.accounts.iter_mut().find(|x| x.id == a.id) {
                    Some(x) => *x = a,
                    None => self.accounts.push(a),
                },
                Write::PutEntitlement(e) => {
                    match self
                        .entitlements
                        .iter_mut()
                        .find(|x| x.account_id == e.account_id && x.product_id == e.product_id)
                    {
                        Some(x) => *x = e,
                        None => self.entitlements.push(e),
                    }
                }
                Write::DeleteEntitlement {
                    account_id,
                    product_id,
                } => self
                    .entitlements
                    .retain(|x| !(x.account_id == account_id && x.product_id == product_id)),
                Write::PutKey(k) => match self.keys.iter_mut().find(|x| x.key.id == k.key.id) {
                    Some(x) => *x = k,
                    None => self.keys.push(k),
                },
                Write::DeleteKey(k) => self.keys.retain(|x| x.key.id != k.key.id),
                Write::PutUsage { key_id, usage } => {
                    self.usage.retain(|(k, _)| *k != key_id);
                    self.usage.push((key_id, usage));
                }
                Write::PutDenial(denial) => self.denials.push(denial),
            }
        }
    }

    pub fn key_by_id(&self, id: &str) -> ApiKey {
        self.keys
            .iter()
            .find(|k| k.key.id == id)
            .map(|k| k.key.clone())
            .unwrap_or_else(|| panic!("no key {id}"))
    }
}

fn page_of<T: Clone>(items: Vec<T>, page: &PageParams, id: impl Fn(&T) -> &str) -> (Vec<T>, bool) {
    let (slice, more) = page.page(&items, id).unwrap_or((&[], false));
    (slice.to_vec(), more)
}

impl Store for MemStore {
    fn account(&self, id: &str) -> Result<Option<Account>, Error> {
        Ok(self.accounts.iter().find(|a| a.id == id).cloned())
    }
    fn accounts(&self, page: &PageParams) -> Result<(Vec<Account>, bool), Error> {
        Ok(page_of(self.accounts.clone(), page, |a| &a.id))
    }
    fn entitlements(&self, account_id: &str) -> Result<Vec<Entitlement>, Error> {
        let mut found: Vec<Entitlement> = self
            .entitlements
            .iter()
            .filter(|e| e.account_id == account_id)
            .cloned()
            .collect();
        found.sort_by(|a, b| a.product_id.cmp(&b.product_id));
        Ok(found)
    }
    fn entitlement_by_product_key(&self, token: &str) -> Result<Option<Entitlement>, Error> {
        Ok(self
            .entitlements
            .iter()
            .find(|e| e.test_key == token || e.live_key.as_deref() == Some(token))
            .cloned())
    }
    fn key(&self, id: &str) -> Result<Option<StoredKey>, Error> {
        Ok(self.keys.iter().find(|k| k.key.id == id).cloned())
    }
    fn predecessor(&self, successor_id: &str) -> Result<Option<StoredKey>, Error> {
        Ok(self
            .keys
            .iter()
            .find(|k| k.key.rolled_to.as_deref() == Some(successor_id))
            .cloned())
    }
    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, Error> {
        Ok(self.keys.iter().find(|k| k.hash == *hash).cloned())
    }
    fn keys(&self, account_id: &str, page: &PageParams) -> Result<(Vec<ApiKey>, bool), Error> {
        let keys = self
            .keys
            .iter()
            .filter(|k| k.key.account_id == account_id)
            .map(|k| k.key.clone())
            .collect();
        Ok(page_of(keys, page, |k| &k.id))
    }
    fn key_count(&self, account_id: &str) -> Result<usize, Error> {
        Ok(self
            .keys
            .iter()
            .filter(|k| k.key.account_id == account_id)
            .count())
    }
    fn usage(&self, key_id: &str) -> Result<Option<Usage>, Error> {
        Ok(self
            .usage
            .iter()
            .find(|(k, _)| k == key_id)
            .map(|(_, u)| u.clone()))
    }
    fn denial(&self, request_id: &str) -> Result<Option<Denial>, Error> {
        Ok(self
            .denials
            .iter()
            .find(|d| d.request_id == request_id)
            .cloned())
    }
    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error> {
        Ok(self
            .deliveries
            .iter()
            .find(|d| d.event_id == event_id)
            .cloned())
    }
    fn would_deny_since(&self, key_id: &str, ip: &str, since: i64) -> Result<bool, Error> {
        Ok(self.events.iter().any(|e| {
            e.kind == "ip.would_deny"
                && e.key_id.as_deref() == Some(key_id)
                && e.data["after"]["ip"] == ip
                && e.created_at >= since
        }))
    }
    fn events(
        &self,
        account_id: &str,
        kind: Option<&str>,
        key_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error> {
        let events = self
            .events
            .iter()
            .rev()
            .filter(|e| e.account_id == account_id)
            .filter(|e| kind.is_none_or(|k| e.kind == k))
            .filter(|e| key_id.is_none_or(|k| e.key_id.as_deref() == Some(k)))
            .cloned()
            .collect();
        Ok(page_of(events, page, |e| &e.id))
    }
}

/// Deterministic ids and keys.
#[derive(Default)]
pub(super) struct SeqMint(u32);

impl Mint for SeqMint {
    fn id(&mut self, prefix: &str) -> Result<String, Error> {
        self.0 += 1;
        Ok(format!("{prefix}{:06}", self.0))
    }
    fn key(&mut self, kind: KeyKind, environment: Environment) -> Result<IssuedKey, Error> {
        self.0 += 1;
        let mut seed = [0u8; 32];
        seed[..4].copy_from_slice(&self.0.to_le_bytes());
        Ok(IssuedKey::from_entropy(kind, environment, &seed))
    }
}

pub(super) struct World {
    pub store: MemStore,
    pub mint: SeqMint,
    pub config: GatewayConfig,
    pub max_keys: usize,
}

impl World {
    pub fn new() -> Self {
        let mut w = World {
            store: MemStore::default(),
            mint: SeqMint::default(),
            config: testing::config(),
            max_keys: DEFAULT_MAX_KEYS_PER_ACCOUNT,
        };
        w.ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": "Acme", "agreement": "production"}),
            },
        );
        for product in ["bank_data", "insurance"] {
            w.ok(
                &Caller::Operator,
                Command::Entitle {
                    account_id: w.account(),
                    product_id: product.into(),
                },
            );
        }
        w
    }

    pub fn account(&self) -> String {
        self.store.accounts[0].id.clone()
    }

    pub fn run(&mut self, caller: &Caller, command: Command) -> Result<Outcome, Error> {
        let cx = Context {
            now: NOW,
            config: &self.config,
            max_keys_per_account: self.max_keys,
            request_id: "req_test",
        };
        let outcome = execute(caller, command, &self.store, &cx, &mut self.mint)?;
        self.store.apply(&outcome.writes);
        self.store.events.extend(outcome.events.iter().cloned());
        Ok(outcome)
    }

    #[track_caller]
    pub fn ok(&mut self, caller: &Caller, command: Command) -> Outcome {
        let what = format!("{command:?}");
        self.run(caller, command)
            .unwrap_or_else(|e| panic!("{what} refused: {e:?}"))
    }

    #[track_caller]
    pub fn refused(&mut self, caller: &Caller, command: Command) -> Error {
        let what = format!("{command:?}");
        let before = self.store.keys.clone();
        let e = match self.run(caller, command) {
            Ok(outcome) => panic!("{what} was allowed: {outcome:?}"),
            Err(e) => e,
        };
        assert_eq!(self.store.keys, before, "a refusal changed nothing");
        e
    }

    /// Creates a key as the operator; returns its id.
    pub fn key(&mut self, body: Value) -> String {
        let outcome = self.ok(
            &Caller::Operator,
            Command::CreateKey {
                account_id: self.account(),
                body,
            },
        );
        outcome.body.unwrap()["key"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    pub fn manager(&mut self, body: Value) -> Caller {
        Caller::Manager {
            key_id: self.key(body),
        }
    }

    pub fn patch(&mut self, caller: &Caller, key_id: &str, body: Value) -> Result<Outcome, Error> {
        self.run(
            caller,
            Command::UpdateKey {
                key_id: key_id.into(),
                body,
            },
        )
    }
}

fn create(w: &World, body: Value) -> Command {
    Command::CreateKey {
        account_id: w.account(),
        body,
    }
}

fn fields(e: &Error) -> Vec<&str> {
    e.errors.iter().map(|f| f.field.as_str()).collect()
}

fn key_body(extra: Value) -> Value {
    let mut body = json!({"name": "child", "environment": "live"});
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(x.clone());
    }
    body
}

// ---- the attacks from the delegation issue, as a manager sends them ----

#[test]
fn a_narrow_manager_cannot_re_enable_a_key_the_operator_disabled() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let wide = w.key(key_body(json!({})));
    w.patch(&Caller::Operator, &wide, json!({"status": "disabled"}))
        .unwrap();
    assert_eq!(w.store.key_by_id(&wide).disabled_by, Some(Actor::Operator));
    let e = w.patch(&m, &wide, json!({"status": "active"})).unwrap_err();
    assert_eq!(e.status, 403);
    // Not even a manager holding every scope: the operator's decision stands.
    let boss = w.manager(key_body(json!({"scopes": ["*"]})));
    let e = w
        .patch(&boss, &wide, json!({"status": "active"}))
        .unwrap_err();
    assert!(e.message.contains("admin token"), "{e:?}");
    w.patch(&Caller::Operator, &wide, json!({"status": "active"}))
        .unwrap();
    assert_eq!(w.store.key_by_id(&wide).disabled_by, None);
}

#[test]
fn a_key_a_manager_disabled_can_be_re_enabled_within_its_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let child = w.key(key_body(json!({"scopes": ["accounts:read"]})));
    w.patch(&m, &child, json!({"status": "disabled"})).unwrap();
    let Caller::Manager { key_id } = &m else {
        unreachable!()
    };
    assert_eq!(
        w.store.key_by_id(&child).disabled_by,
        Some(Actor::Key {
            key_id: key_id.clone()
        })
    );
    w.patch(&m, &child, json!({"status": "active"})).unwrap();
}

#[test]
fn a_manager_can_disable_leak_and_delete_a_wider_key_but_not_widen_or_restore_it() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let wide = w.key(key_body(
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": NOW + DAY}),
    ));
    // Loosening: clearing the allowlist and the expiry of a wider key.
    let e = w
        .patch(&m, &wide, json!({"allowed_ips": [], "expires_at": null}))
        .unwrap_err();
    assert_eq!(e.status, 403);
    assert!(fields(&e).contains(&"scopes"), "{e:?}");
    assert!(fields(&e).contains(&"allowed_ips"), "{e:?}");
    // Taking power away is always allowed.
    w.patch(&m, &wide, json!({"status": "disabled"})).unwrap();
    w.ok(
        &m,
        Command::LeakKey {
            key_id: wide.clone(),
            body: None,
        },
    );
    w.ok(&m, Command::DeleteKey { key_id: wide });
}

#[test]
fn a_manager_mints_only_keys_within_its_own_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["keys:manage", "accounts:read", "quotes:*"],
        "products": ["bank_data"],
        "allowed_ips": ["10.0.0.0/8", "2001:db8::/32"],
        "expires_at": NOW + 10 * DAY,
    })));
    let within = json!({
        "scopes": ["accounts:read", "quotes:read"],
        "products": ["bank_data"],
        "allowed_ips": ["10.1.2.0/24", "2001:db8:1::/48"],
        "expires_at": NOW + DAY,
    });
    w.ok(&m, create(&w, key_body(within.clone())));
    // Each setting beyond the manager's, one at a time: the refusal names that field.
    for (field, value) in [
        ("scopes", json!(["transactions:read"])),
        ("scopes", json!(["*"])),
        ("products", json!([])),
        ("products", json!(["insurance"])),
        ("allowed_ips", json!([])),
        ("allowed_ips", json!(["11.0.0.0/8"])),
        ("allowed_ips", json!(["0.0.0.0/0"])),
        ("allowed_ips", json!(["2001:db9::/32"])),
        ("expires_at", json!(null)),
        ("expires_at", json!(NOW + 11 * DAY)),
    ] {
        let mut body = within.clone();
        body[field] = value.clone();
        let mut body = key_body(body);
        if value.is_null() {
            body.as_object_mut().unwrap().remove(field);
        }
        let e = w.refused(&m, create(&w, body));
        assert_eq!(e.status, 403, "{field} = {value}");
        assert_eq!(fields(&e), [field], "{field} = {value}: {e:?}");
    }
}

#[test]
fn defaults_are_all_scopes_and_no_restrictions_so_a_restricted_manager_must_narrow() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let e = w.refused(&m, create(&w, key_body(json!({}))));
    assert_eq!(fields(&e), ["scopes", "allowed_ips"]);
}

#[test]
fn a_manager_cannot_loosen_its_own_restrictions() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["keys:manage", "accounts:read"],
        "allowed_ips": ["10.0.0.0/8"],
        "expires_at": NOW + DAY,
        "products": ["bank_data"],
    })));
    let Caller::Manager { key_id } = m.clone() else {
        unreachable!()
    };
    for (field, value) in [
        ("expires_at", json!(null)),
        ("expires_at", json!(NOW + 2 * DAY)),
        ("allowed_ips", json!([])),
        ("allowed_ips", json!(["10.0.0.0/7"])),
        ("products", json!([])),
        (
            "scopes",
            json!(["keys:manage", "accounts:read", "transactions:read"]),
        ),
    ] {
        let e = w.patch(&m, &key_id, json!({ field: value })).unwrap_err();
        assert_eq!(fields(&e), [field], "{field} = {value}: {e:?}");
    }
    // Tightening itself is fine.
    w.patch(
        &m,
        &key_id,
        json!({"allowed_ips": ["10.1.0.0/16"], "expires_at": NOW + 60}),
    )
    .unwrap();
}

#[test]
fn keys_that_are_leaked_rolled_disabled_or_expired_cannot_manage() {
    let mut w = World::new();
    let body = key_body(json!({"scopes": ["keys:manage", "accounts:read"]}));
    let child = key_body(json!({"scopes": ["accounts:read"]}));

    let leaked = w.manager(body.clone());
    let Caller::Manager { key_id } = leaked.clone() else {
        unreachable!()
    };
    w.ok(&Caller::Operator, Command::LeakKey { key_id, body: None });
    let e = w.refused(&leaked, create(&w, child.clone()));
    assert!(e.message.contains("leaked"), "{e:?}");

    let rolled = w.manager(body.clone());
    let Caller::Manager { key_id } = rolled.clone() else {
        unreachable!()
    };
    w.ok(&Caller::Operator, Command::RollKey { key_id, body: None });
    let e = w.refused(&rolled, create(&w, child.clone()));
    assert!(e.message.contains("rolled"), "{e:?}");

    let disabled = w.manager(body.clone());
    let Caller::Manager { key_id } = disabled.clone() else {
        unreachable!()
    };
    w.patch(&Caller::Operator, &key_id, json!({"status": "disabled"}))
        .unwrap();
    assert_eq!(w.refused(&disabled, create(&w, child.clone())).status, 401);

    let mut expiring = body.clone();
    expiring["expires_at"] = json!(NOW + 1);
    let expired = w.manager(expiring);
    let Caller::Manager { key_id } = &expired else {
        unreachable!()
    };
    w.store
        .keys
        .iter_mut()
        .find(|k| k.key.id == *key_id)
        .unwrap()
        .key
        .expires_at = Some(NOW);
    assert_eq!(w.refused(&expired, create(&w, child.clone())).status, 401);

    let deleted = Caller::Manager {
        key_id: "key_gone".into(),
    };
    assert_eq!(w.refused(&deleted, create(&w, child.clone())).status, 401);

    let plain = w.manager(key_body(json!({"scopes": ["accounts:read"]})));
    assert_eq!(w.refused(&plain, create(&w, child.clone())).status, 403);

    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    let active = w.manager(body);
    assert_eq!(w.refused(&active, create(&w, child)).status, 401);
}

#[test]
fn a_roll_hands_over_a_secret_only_for_a_key_within_the_managers_limits() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["keys:manage", "accounts:read"]}),
    ));
    let wide = w.key(key_body(json!({})));
    let e = w.refused(
        &m,
        Command::RollKey {
            key_id: wide,
            body: None,
        },
    );
    assert_eq!(fields(&e), ["scopes"]);
    let narrow = w.key(key_body(json!({"scopes": ["accounts:read"]})));
    let outcome = w.ok(
        &m,
        Command::RollKey {
            key_id: narrow,
            body: None,
        },
    );
    assert!(
        outcome.body.unwrap()["secret"]
            .as_str()
            .unwrap()
            .starts_with("sk_live_")
    );
}

#[test]
fn a_test_manager_touches_test_keys_only() {
    let mut w = World::new();
    let m = w.manager(json!({"name": "ci", "environment": "test"}));
    let live = w.key(key_body(json!({})));
    assert_eq!(w.refused(&m, create(&w, key_body(json!({})))).status, 403);
    for command in [
        Command::GetKey {
            key_id: live.clone(),
        },
        Command::LeakKey {
            key_id: live.clone(),
            body: None,
        },
        Command::DeleteKey {
            key_id: live.clone(),
        },
        Command::RollKey {
            key_id: live.clone(),
            body: None,
        },
    ] {
        let e = w.run(&m, command.clone());
        match command {
            // Reading is fine: the view holds no secret.
            Command::GetKey { .. } => assert!(e.is_ok()),
            _ => assert_eq!(e.unwrap_err().status, 403, "{command:?}"),
        }
    }
    w.ok(&m, create(&w, json!({"name": "t", "environment": "test"})));
}

#[test]
fn a_manager_reads_its_own_account_and_product_keys() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    w.ok(
        &Caller::Operator,
        Command::CreateAccount {
            body: json!({"name": "Other", "agreement": "production"}),
        },
    );
    let list = w
        .ok(
            &m,
            Command::ListAccounts {
                page: PageParams::default(),
            },
        )
        .body
        .unwrap();
    let ids: Vec<&Value> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| &a["id"])
        .collect();
    assert_eq!(ids, [&json!(w.account())], "{list}");
    assert_eq!(list["has_more"], json!(false));
    let account = w
        .ok(
            &m,
            Command::GetAccount {
                account_id: w.account(),
            },
        )
        .body
        .unwrap();
    assert_eq!(account["id"], json!(w.account()));
    let operator_view = w
        .ok(
            &Caller::Operator,
            Command::GetEntitlement {
                account_id: w.account(),
                product_id: "bank_data".into(),
            },
        )
        .body;
    let manager_view = w
        .ok(
            &m,
            Command::GetEntitlement {
                account_id: w.account(),
                product_id: "bank_data".into(),
            },
        )
        .body;
    assert_eq!(manager_view, operator_view);
}

#[test]
fn a_manager_sees_only_its_own_account() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    let other = w
        .ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": "Other", "agreement": "production"}),
            },
        )
        .body
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = w
        .ok(
            &Caller::Operator,
            Command::CreateKey {
                account_id: other.clone(),
                body: key_body(json!({})),
            },
        )
        .body
        .unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for command in [
        Command::ListKeys {
            account_id: other.clone(),
            page: PageParams::default(),
        },
        Command::CreateKey {
            account_id: other.clone(),
            body: key_body(json!({})),
        },
        Command::GetKey {
            key_id: theirs.clone(),
        },
        Command::UpdateKey {
            key_id: theirs.clone(),
            body: json!({"status": "disabled"}),
        },
        Command::DeleteKey {
            key_id: theirs.clone(),
        },
    ] {
        assert_eq!(w.refused(&m, command).status, 404);
    }
    for command in [
        Command::GetAccount {
            account_id: other.clone(),
        },
        Command::GetEntitlement {
            account_id: other.clone(),
            product_id: "bank_data".into(),
        },
    ] {
        assert_eq!(w.refused(&m, command).status, 404);
    }
    for command in [
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"name": "x"}),
        },
        Command::Entitle {
            account_id: w.account(),
            product_id: "bank_data".into(),
        },
        Command::LeakReport { body: json!([]) },
    ] {
        assert_eq!(w.refused(&m, command).status, 403);
    }
}

// ---- quotas ----

#[test]
fn keys_per_account_are_capped_for_everyone() {
    let mut w = World::new();
    w.max_keys = 3;
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let first = w.key(key_body(json!({})));
    w.key(key_body(json!({})));
    let e = w.refused(&Caller::Operator, create(&w, key_body(json!({}))));
    assert_eq!(e.status, 409);
    assert!(e.message.contains("MAX_KEYS_PER_ACCOUNT"), "{e:?}");
    assert_eq!(w.refused(&m, create(&w, key_body(json!({})))).status, 409);
    // A roll needs room for its successor too; deleting a key makes room.
    assert_eq!(
        w.refused(
            &Caller::Operator,
            Command::RollKey {
                key_id: first.clone(),
                body: None
            }
        )
        .status,
        409
    );
    w.ok(&Caller::Operator, Command::DeleteKey { key_id: first });
    w.ok(&m, create(&w, key_body(json!({}))));
}

#[test]
fn the_quota_does_not_hide_a_roll_refusal() {
    let mut w = World::new();
    w.max_keys = 1;
    let only = w.key(key_body(json!({})));
    w.patch(&Caller::Operator, &only, json!({"status": "disabled"}))
        .unwrap();
    let e = w.refused(
        &Caller::Operator,
        Command::RollKey {
            key_id: only,
            body: None,
        },
    );
    assert_eq!(e.status, 409);
    assert!(e.message.contains("disabled"), "{e:?}");
}

// ---- writes and edge scopes ----

#[test]
fn writes_name_the_edge_records_they_change() {
    let mut w = World::new();
    let outcome = w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    assert_eq!(outcome.writes.len(), 1);
    assert_eq!(
        outcome.writes[0].edge_scope().unwrap(),
        EdgeScope::Account(&w.account())
    );
    let key = w.key(key_body(json!({})));
    let outcome = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: key,
            body: None,
        },
    );
    assert_eq!(outcome.writes.len(), 2);
    assert!(
        outcome
            .writes
            .iter()
            .all(|x| matches!(x.edge_scope(), Some(EdgeScope::Key(_))))
    );
}

#[test]
fn edge_records_carry_the_accounts_product_keys() {
    let mut w = World::new();
    let id = w.key(key_body(json!({})));
    let stored = w.store.key(&id).unwrap().unwrap();
    let record = edge_record(&w.store, &stored).unwrap().unwrap();
    // Two products, each with a test and a live product key.
    assert_eq!(record.product_keys.len(), 4);
    assert_eq!(record.account.id, w.account());
    w.store.accounts.clear();
    assert_eq!(edge_record(&w.store, &stored).unwrap(), None);
}

#[test]
fn a_leak_report_naming_a_key_twice_changes_it_once() {
    let mut w = World::new();
    let outcome = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let secret = outcome.body.unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let outcome = w.ok(
        &Caller::Operator,
        Command::LeakReport {
            body: json!([{"token": secret}, {"token": secret}, {"token": "nope"}]),
        },
    );
    assert_eq!(outcome.writes.len(), 1);
    let text = outcome.body.unwrap().to_string();
    assert!(!text.contains(&secret[8..]), "{text}");
}

#[test]
fn views_never_contain_a_secret_or_a_hash() {
    let mut w = World::new();
    let outcome = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let body = outcome.body.unwrap();
    let secret = body["secret"].as_str().unwrap().to_string();
    let id = body["key"]["id"].as_str().unwrap().to_string();
    let hash = w.store.key(&id).unwrap().unwrap().hash.to_hex();
    for command in [
        Command::GetKey { key_id: id.clone() },
        Command::ListKeys {
            account_id: w.account(),
            page: PageParams::default(),
        },
        Command::UpdateKey {
            key_id: id.clone(),
            body: json!({"name": "renamed"}),
        },
        Command::LeakKey {
            key_id: id.clone(),
            body: None,
        },
    ] {
        let text = w.ok(&Caller::Operator, command).body.unwrap().to_string();
        assert!(
            !text.contains(&secret[8..]) && !text.contains(&hash),
            "{text}"
        );
    }
}

#[test]
fn reads_and_writes_are_told_apart() {
    assert!(!Command::GetKey { key_id: "k".into() }.is_write());
    assert!(Command::DeleteKey { key_id: "k".into() }.is_write());
    assert!(Command::LeakReport { body: json!([]) }.is_write());
}

#[test]
fn suspended_accounts_stay_suspended_for_managers() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"status": "suspended"}),
        },
    );
    assert_eq!(w.store.accounts[0].status, AccountStatus::Suspended);
    assert_eq!(
        w.refused(&m, Command::GetKey { key_id: "x".into() }).status,
        401
    );
}

// ---- property: whatever a manager does, every key it touches ends within its limits ----

#[cfg(not(target_arch = "wasm32"))]
mod property {
    use super::*;
    use ipnet::IpNet;
    use proptest::prelude::*;

    const SCOPES: [&str; 5] = [
        "accounts:read",
        "quotes:*",
        "quotes:read",
        "transactions:read",
        "*",
    ];
    const PRODUCTS: [&str; 2] = ["bank_data", "insurance"];
    const NETS: [&str; 5] = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "11.0.0.0/8",
        "2001:db8::/32",
        "0.0.0.0/0",
    ];

    fn subset(all: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
        proptest::sample::subsequence(all.to_vec(), 0..=all.len())
            .prop_map(|v| v.into_iter().map(String::from).collect())
    }

    /// Optional key settings, as a manager might send them (absent fields take defaults).
    fn settings() -> impl Strategy<Value = Value> {
        (
            proptest::option::of(subset(&SCOPES)),
            proptest::option::of(subset(&PRODUCTS)),
            proptest::option::of(subset(&NETS)),
            proptest::option::of(proptest::option::of(1..30i64)),
            proptest::option::of(prop_oneof![Just("active"), Just("disabled")]),
        )
            .prop_map(|(scopes, products, ips, expiry, status)| {
                let mut body = serde_json::Map::new();
                if let Some(s) = scopes {
                    body.insert("scopes".into(), json!(s));
                }
                if let Some(p) = products {
                    body.insert("products".into(), json!(p));
                }
                if let Some(i) = ips {
                    body.insert("allowed_ips".into(), json!(i));
                }
                if let Some(e) = expiry {
                    body.insert("expires_at".into(), json!(e.map(|d| NOW + d * DAY)));
                }
                if let Some(s) = status {
                    body.insert("status".into(), json!(s));
                }
                Value::Object(body)
            })
    }

    #[derive(Debug, Clone)]
    enum Act {
        Create(Value, bool),
        Patch(usize, Value),
        Roll(usize),
        Leak(usize),
        Delete(usize),
    }

    fn act() -> impl Strategy<Value = Act> {
        prop_oneof![
            (settings(), any::<bool>()).prop_map(|(s, live)| Act::Create(s, live)),
            (any::<usize>(), settings()).prop_map(|(i, s)| Act::Patch(i, s)),
            any::<usize>().prop_map(Act::Roll),
            any::<usize>().prop_map(Act::Leak),
            any::<usize>().prop_map(Act::Delete),
        ]
    }

    /// An oracle written independently of `delegation::check_within`.
    fn within(manager: &ApiKey, key: &ApiKey) -> bool {
        let nets = |list: &[String]| -> Vec<IpNet> {
            list.iter().filter_map(|s| s.parse().ok()).collect()
        };
        let (outer, inner) = (nets(&manager.allowed_ips), nets(&key.allowed_ips));
        let scopes = key
            .scopes
            .iter()
            .all(|s| crate::scope::grants(&manager.scopes, s));
        let products = manager.products.is_empty()
            || (!key.products.is_empty()
                && key.products.iter().all(|p| manager.products.contains(p)));
        let ips = outer.is_empty()
            || (!inner.is_empty() && inner.iter().all(|i| outer.iter().any(|o| o.contains(i))));
        let expiry = match (manager.expires_at, key.expires_at) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(limit), Some(at)) => at <= limit,
        };
        let environment =
            manager.environment == Environment::Live || key.environment == Environment::Test;
        scopes && products && ips && expiry && environment
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn every_key_a_manager_touches_ends_within_its_limits(
            manager_settings in settings(),
            manager_live in any::<bool>(),
            others in proptest::collection::vec((settings(), any::<bool>()), 0..4),
            acts in proptest::collection::vec(act(), 1..12),
        ) {
            let mut w = World::new();
            let mut body = manager_settings;
            body["name"] = json!("manager");
            body["environment"] = json!(if manager_live { "live" } else { "test" });
            body.as_object_mut().unwrap().remove("status");
            let mut scopes: Vec<String> = body["scopes"].as_array().map(|a| {
                a.iter().filter_map(|s| s.as_str().map(String::from)).collect()
            }).unwrap_or_else(|| vec!["*".into()]);
            scopes.push("keys:manage".into());
            body["scopes"] = json!(scopes);
            let manager = w.manager(body);
            for (mut settings, live) in others {
                settings["name"] = json!("other");
                settings["environment"] = json!(if live { "live" } else { "test" });
                settings.as_object_mut().unwrap().remove("status");
                // Some generated settings are invalid (no scopes): such a key just is not made.
                let _ = w.run(&Caller::Operator, create(&w, settings));
            }
            let Caller::Manager { key_id: manager_id } = manager.clone() else { unreachable!() };
            for act in acts {
                let Some(limits) = w.store.key(&manager_id).unwrap().map(|s| s.key) else { break };
                let ids: Vec<String> = w.store.keys.iter().map(|k| k.key.id.clone()).collect();
                let pick = |i: usize| ids[i % ids.len()].clone();
                let command = match act {
                    Act::Create(mut s, live) => {
                        s["name"] = json!("minted");
                        s["environment"] = json!(if live { "live" } else { "test" });
                        s.as_object_mut().unwrap().remove("status");
                        Command::CreateKey { account_id: w.account(), body: s }
                    }
                    Act::Patch(i, s) => Command::UpdateKey { key_id: pick(i), body: s },
                    Act::Roll(i) => Command::RollKey { key_id: pick(i), body: None },
                    Act::Leak(i) => Command::LeakKey { key_id: pick(i), body: None },
                    Act::Delete(i) => Command::DeleteKey { key_id: pick(i) },
                };
                let before = w.store.clone();
                let Ok(outcome) = w.run(&manager, command.clone()) else { continue };
                for write in &outcome.writes {
                    let Write::PutKey(after) = write else { continue };
                    let previous = before.key(&after.key.id).unwrap().map(|s| s.key);
                    let power_removed = match &previous {
                        Some(p) => delegation::only_disables(p, &after.key)
                            || matches!(command, Command::LeakKey { .. })
                            || (after.key.rolled_to.is_some() && p.rolled_to.is_none()),
                        None => false,
                    };
                    if !power_removed {
                        prop_assert!(
                            within(&limits, &after.key),
                            "{command:?} left {:?} outside {:?}", after.key, limits
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn a_rate_limited_manager_mints_keys_no_looser_than_itself() {
    let mut w = World::new();
    let m = w.manager(key_body(json!({
        "scopes": ["*"],
        "rate_limit": {"requests": 10, "period_seconds": 60},
    })));
    for (limit, allowed) in [
        (json!({"requests": 10, "period_seconds": 60}), true),
        (json!({"requests": 5, "period_seconds": 60}), true),
        (json!({"requests": 10, "period_seconds": 600}), true),
        (json!(null), false),
        (json!({"requests": 11, "period_seconds": 120}), false),
        (json!({"requests": 5, "period_seconds": 10}), false),
    ] {
        let outcome = w.run(&m, create(&w, key_body(json!({"rate_limit": limit}))));
        match outcome {
            Ok(_) => assert!(allowed, "{limit} was allowed"),
            Err(e) => {
                assert!(!allowed, "{limit} was refused: {e:?}");
                assert_eq!(fields(&e), ["rate_limit"], "{limit}");
            }
        }
    }
}

#[test]
fn rate_limits_are_shown_kept_by_a_roll_and_cleared_with_null() {
    let mut w = World::new();
    let id = w.key(key_body(
        json!({"rate_limit": {"requests": 3, "period_seconds": 10}}),
    ));
    let limit = json!({"requests": 3, "period_seconds": 10});
    assert_eq!(key_view(&w.store.key_by_id(&id))["rate_limit"], limit);
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: id.clone(),
            body: None,
        },
    );
    assert_eq!(rolled.body.unwrap()["key"]["rate_limit"], limit);
    w.patch(&Caller::Operator, &id, json!({"rate_limit": null}))
        .unwrap();
    assert_eq!(key_view(&w.store.key_by_id(&id))["rate_limit"], Value::Null);
    let account = w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: w.account(),
            body: json!({"rate_limit": {"requests": 100, "period_seconds": 60}}),
        },
    );
    assert_eq!(account.body.unwrap()["rate_limit"]["requests"], 100);
    let e = w.refused(
        &Caller::Operator,
        create(&w, key_body(json!({"rate_limit": {"requests": 0}}))),
    );
    assert_eq!(
        fields(&e),
        ["rate_limit.requests", "rate_limit.period_seconds"]
    );
}

// ---- events ----

/// Every command that changes something leaves one event per changed record, with the actor,
/// the request id and only the changed fields; none carries a secret or a hash.
#[test]
fn every_change_is_an_event_and_no_event_carries_a_secret_or_a_hash() {
    let mut w = World::new();
    let account = w.account();
    let m = w.manager(key_body(json!({"scopes": ["*"]})));
    let created = w.ok(&m, create(&w, key_body(json!({"name": "made by a key"}))));
    let body = created.body.unwrap();
    let (id, secret) = (
        body["key"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    );
    w.patch(&Caller::Operator, &id, json!({"name": "renamed"}))
        .unwrap();
    w.patch(&Caller::Operator, &id, json!({"status": "disabled"}))
        .unwrap();
    w.patch(&Caller::Operator, &id, json!({"status": "active"}))
        .unwrap();
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: id.clone(),
            body: None,
        },
    );
    let successor_secret = rolled.body.unwrap()["secret"].as_str().unwrap().to_string();
    w.ok(
        &Caller::Operator,
        Command::LeakReport {
            body: json!([{"token": successor_secret}]),
        },
    );
    w.ok(
        &Caller::Operator,
        Command::LeakKey {
            key_id: id.clone(),
            body: None,
        },
    );
    w.ok(&Caller::Operator, Command::DeleteKey { key_id: id.clone() });
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: account.clone(),
            body: json!({"name": "Acme 2"}),
        },
    );
    w.ok(
        &Caller::Operator,
        Command::Withdraw {
            account_id: account.clone(),
            product_id: "insurance".into(),
        },
    );
    // An upgraded agreement adds the live product key to an entitlement.
    let up = w
        .ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": "Upgrading", "agreement": "test"}),
            },
        )
        .body
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let entitle = |account_id: &str| Command::Entitle {
        account_id: account_id.into(),
        product_id: "bank_data".into(),
    };
    w.ok(&Caller::Operator, entitle(&up));
    w.ok(
        &Caller::Operator,
        Command::UpdateAccount {
            account_id: up.clone(),
            body: json!({"agreement": "production"}),
        },
    );
    w.ok(&Caller::Operator, entitle(&up));
    let live = w.key(key_body(json!({})));
    w.ok(
        &Caller::Edge,
        activity(&w.account(), &live, vec![], vec![], vec!["203.0.113.9"]),
    );
    // The clock ends a grace period: the Registry's sweep records it.
    let leaked = w.key(key_body(json!({})));
    w.ok(
        &Caller::Operator,
        Command::LeakKey {
            key_id: leaked.clone(),
            body: Some(json!({"grace_seconds": 0})),
        },
    );
    let ended = grace_ended(&w.store.key_by_id(&leaked), &mut w.mint).unwrap();
    assert_eq!(ended.request_id, None);
    assert_eq!(ended.data["after"]["because"], "leaked");
    w.store.events.push(ended);

    let kinds: Vec<&str> = w.store.events.iter().map(|e| e.kind.as_str()).collect();
    for kind in EVENT_TYPES {
        assert!(kinds.contains(&kind), "no {kind} event in {kinds:?}");
    }
    let minted = w
        .store
        .events
        .iter()
        .find(|e| e.key_id.as_deref() == Some(id.as_str()))
        .unwrap();
    assert_eq!(minted.kind, "key.created");
    assert!(matches!(&minted.actor, Actor::Key { .. }), "{minted:?}");
    assert_eq!(minted.request_id.as_deref(), Some("req_test"));
    let renamed = w
        .store
        .events
        .iter()
        .find(|e| e.kind == "key.updated")
        .unwrap();
    assert_eq!(
        renamed.data,
        json!({"before": {"name": "made by a key"}, "after": {"name": "renamed"}})
    );
    assert_eq!(renamed.actor, Actor::Operator);

    let hashes: Vec<String> = w.store.keys.iter().map(|k| k.hash.to_hex()).collect();
    for event in &w.store.events {
        let text = serde_json::to_string(event).unwrap();
        for s in [&secret, &successor_secret] {
            assert!(!text.contains(&s[8..]), "{text}");
        }
        assert!(!hashes.iter().any(|h| text.contains(h.as_str())), "{text}");
        let hex_run = text
            .split(|c: char| !c.is_ascii_hexdigit())
            .map(str::len)
            .max();
        assert!(hex_run.unwrap_or(0) < 64, "{text}");
    }
}

#[test]
fn events_are_listed_newest_first_filtered_and_confined_to_the_managers_account() {
    let mut w = World::new();
    let account = w.account();
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    let other = w
        .ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": "Other", "agreement": "test"}),
            },
        )
        .body
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let list = |w: &mut World, caller: &Caller, account_id: &str, kind: Option<&str>| {
        w.run(
            caller,
            Command::ListEvents {
                account_id: account_id.into(),
                page: PageParams::default(),
                kind: kind.map(Into::into),
                key_id: None,
            },
        )
    };
    let all = list(&mut w, &m, &account, None).unwrap().body.unwrap();
    let kinds: Vec<&str> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds.first(),
        Some(&"key.created"),
        "newest first: {kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"account.created"));
    let only = list(&mut w, &m, &account, Some("entitlement.created"))
        .unwrap()
        .body
        .unwrap();
    assert_eq!(only["data"].as_array().unwrap().len(), 2);
    assert_eq!(list(&mut w, &m, &other, None).unwrap_err().status, 404);
    let empty_key = w.run(
        &m,
        Command::ListEvents {
            account_id: account.clone(),
            page: PageParams::default(),
            kind: None,
            key_id: Some(String::new()),
        },
    );
    assert_eq!(empty_key.unwrap_err().errors[0].field, "key_id");
    assert_eq!(
        list(&mut w, &Caller::Operator, &account, Some("key.nope"))
            .unwrap_err()
            .status,
        400
    );
    assert!(list(&mut w, &Caller::Operator, &other, None).is_ok());
}

#[test]
fn a_manager_with_an_enforced_allowlist_cannot_mint_a_key_in_report_mode() {
    let mut w = World::new();
    let m = w.manager(key_body(
        json!({"scopes": ["*"], "allowed_ips": ["10.0.0.0/8"]}),
    ));
    let body = |mode: &str| key_body(json!({"allowed_ips": ["10.1.0.0/16"], "ip_mode": mode}));
    let e = w.refused(&m, create(&w, body("report")));
    assert_eq!(fields(&e), ["ip_mode"]);
    w.ok(&m, create(&w, body("enforce")));
    let e = w.refused(&Caller::Operator, create(&w, body("sometimes")));
    assert_eq!(fields(&e), ["ip_mode"]);
}

fn activity(
    account: &str,
    key_id: &str,
    uses: Vec<(i64, &str)>,
    denials: Vec<&str>,
    would_deny: Vec<&str>,
) -> Command {
    Command::RecordActivity {
        uses: uses
            .into_iter()
            .map(|(at, ip)| KeyUse {
                key_id: key_id.into(),
                account_id: account.into(),
                last_used_at: at,
                last_used_ip: Some(ip.into()),
                ips: vec![IpSeen {
                    ip: ip.into(),
                    count: 1,
                    last_seen_at: at,
                }],
            })
            .collect(),
        denials: denials
            .into_iter()
            .map(|request_id| Denial {
                request_id: request_id.into(),
                account_id: account.into(),
                key_id: key_id.into(),
                status: 404,
                reason: "missing scope `transactions:read` (answered as an unknown route)".into(),
                method: "GET".into(),
                path: "/v1/transactions".into(),
                ip: Some("203.0.113.9".into()),
                at: NOW,
            })
            .collect(),
        would_deny: would_deny
            .into_iter()
            .map(|ip| WouldDeny {
                account_id: account.into(),
                key_id: key_id.into(),
                ip: ip.into(),
                request_id: "req_edge".into(),
                at: NOW,
            })
            .collect(),
        exposed: vec![],
        first_uses: vec![],
    }
}

#[test]
fn edge_activity_shows_on_the_key_and_in_the_request_lookup() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let m = w.manager(key_body(json!({"scopes": ["keys:manage"]})));
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            &id,
            vec![(NOW - 5, "10.0.0.1"), (NOW, "10.0.0.2")],
            vec!["req_denied"],
            vec![],
        ),
    );
    let view = w
        .ok(&m, Command::GetKey { key_id: id.clone() })
        .body
        .unwrap();
    assert_eq!(view["last_used_at"], NOW);
    assert_eq!(view["last_used_ip"], "10.0.0.2");
    assert_eq!(view["ips_seen"].as_array().unwrap().len(), 2);
    let listed = w
        .ok(
            &Caller::Operator,
            Command::ListKeys {
                account_id: account.clone(),
                page: PageParams::default(),
            },
        )
        .body
        .unwrap();
    assert!(
        listed["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["last_used_ip"] == "10.0.0.2")
    );

    let request = w
        .ok(
            &m,
            Command::GetRequest {
                request_id: "req_denied".into(),
            },
        )
        .body
        .unwrap();
    assert_eq!(request["decision"], "denied");
    assert!(
        request["reason"]
            .as_str()
            .unwrap()
            .contains("transactions:read")
    );
    assert_eq!(
        w.refused(
            &m,
            Command::GetRequest {
                request_id: "req_other".into()
            }
        )
        .status,
        404
    );
    // Another account's manager cannot read it.
    let other = w
        .ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": "O", "agreement": "production"}),
            },
        )
        .body
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let theirs = w
        .ok(
            &Caller::Operator,
            Command::CreateKey {
                account_id: other,
                body: key_body(json!({"scopes": ["keys:manage"]})),
            },
        )
        .body
        .unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let stranger = Caller::Manager { key_id: theirs };
    assert_eq!(
        w.refused(
            &stranger,
            Command::GetRequest {
                request_id: "req_denied".into()
            }
        )
        .status,
        404
    );

    // Webhook delivery logs: the account's manager and the operator, nobody else.
    w.store.deliveries.push(webhook::Deliveries {
        event_id: "evt_1".into(),
        account_id: account.clone(),
        attempts: vec![webhook::Attempt {
            at: NOW,
            status: None,
        }],
        delivered_at: None,
        next_attempt_at: Some(NOW + 5),
    });
    let deliveries = |event_id: &str| Command::GetDeliveries {
        event_id: event_id.into(),
    };
    for caller in [&Caller::Operator, &m] {
        let log = w.ok(caller, deliveries("evt_1")).body.unwrap();
        assert_eq!(log["state"], "pending");
        assert!(log["attempts"][0]["status"].is_null());
    }
    assert_eq!(w.refused(&stranger, deliveries("evt_1")).status, 404);
    assert_eq!(w.refused(&m, deliveries("evt_2")).status, 404);
    assert!(!deliveries("evt_1").is_write());
    // Only the gateway reports activity.
    for caller in [Caller::Operator, m] {
        assert_eq!(
            w.refused(&caller, activity(&account, &id, vec![], vec![], vec![]))
                .status,
            403
        );
    }
}

#[test]
fn would_deny_is_one_event_per_key_and_address_per_hour() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            &id,
            vec![],
            vec![],
            vec!["10.9.9.9", "10.9.9.9", "10.8.8.8"],
        ),
    );
    w.ok(
        &Caller::Edge,
        activity(&account, &id, vec![], vec![], vec!["10.9.9.9"]),
    );
    let ips: Vec<String> = w
        .store
        .events
        .iter()
        .filter(|e| e.kind == "ip.would_deny")
        .map(|e| e.data["after"]["ip"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ips, ["10.9.9.9", "10.8.8.8"]);
    // Reports about a key that no longer exists are dropped.
    w.ok(
        &Caller::Edge,
        activity(
            &account,
            "key_gone",
            vec![(NOW, "10.0.0.1")],
            vec![],
            vec![],
        ),
    );
    assert!(w.store.usage.iter().all(|(k, _)| k != "key_gone"));
}

// ---- key safety: GitHub reports, plain-HTTP exposure ----

#[test]
fn a_github_report_marks_our_keys_leaked_and_answers_in_githubs_format() {
    let mut w = World::new();
    let created = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let body = created.body.unwrap();
    let (id, secret) = (
        body["key"]["id"].as_str().unwrap().to_string(),
        body["secret"].as_str().unwrap().to_string(),
    );
    let other = w.key(key_body(json!({})));
    let stranger = IssuedKey::from_entropy(KeyKind::Secret, Environment::Live, &[99; 32]).text;
    let matches: Vec<github::Match> = [secret.as_str(), stranger.as_str(), "some_token"]
        .iter()
        .map(|token| github::Match {
            token: token.to_string(),
            kind: "keygate_secret_key".into(),
            url: "https://github.com/o/r/blob/x".into(),
            source: "commit".into(),
        })
        .collect();
    let outcome = w.ok(
        &Caller::Edge,
        Command::GithubReport {
            matches: matches.clone(),
        },
    );
    let labels: Vec<&str> = outcome
        .body
        .as_ref()
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(
        labels,
        ["true_positive", "false_positive", "false_positive"]
    );
    assert!(w.store.key_by_id(&id).leaked_at.is_some());
    assert!(w.store.key_by_id(&other).leaked_at.is_none());
    let reported = w
        .store
        .events
        .iter()
        .find(|e| e.kind == "leak.reported")
        .unwrap();
    assert_eq!(reported.data["after"]["source"], "github");
    // The same secret reported again (another place it turned up): true positive, nothing
    // written, no event, the grace unmoved.
    let events = w.store.events.len();
    let revoke_at = w.store.key_by_id(&id).revoke_at;
    let again = w.ok(
        &Caller::Edge,
        Command::GithubReport {
            matches: matches[..1].to_vec(),
        },
    );
    assert_eq!(again.body.unwrap()[0]["label"], "true_positive");
    assert!(again.writes.is_empty() && again.events.is_empty());
    assert_eq!(w.store.events.len(), events);
    assert_eq!(w.store.key_by_id(&id).revoke_at, revoke_at);
    // Twice in one report: one leak, once.
    let other_secret = w.ok(&Caller::Operator, create(&w, key_body(json!({}))));
    let mut fresh = vec![matches[0].clone(), matches[0].clone()];
    fresh[0].token = other_secret.body.unwrap()["secret"]
        .as_str()
        .unwrap()
        .into();
    fresh[1].token = fresh[0].token.clone();
    let both = w.ok(&Caller::Edge, Command::GithubReport { matches: fresh });
    assert_eq!(both.writes.len(), 1);
    assert_eq!(
        both.events
            .iter()
            .filter(|e| e.kind == "key.leaked")
            .count(),
        1
    );
    // Only the gateway, after checking GitHub's signature, may send one.
    assert_eq!(
        w.refused(&Caller::Operator, Command::GithubReport { matches })
            .status,
        403
    );
}

#[test]
fn a_key_sent_over_plain_http_is_marked_leaked_once() {
    let mut w = World::new();
    let account = w.account();
    let id = w.key(key_body(json!({})));
    let hash = w.store.key(&id).unwrap().unwrap().hash;
    let report = |hashes: Vec<KeyHash>| Command::RecordActivity {
        uses: vec![],
        denials: vec![],
        would_deny: vec![],
        exposed: hashes,
        first_uses: vec![],
    };
    w.ok(
        &Caller::Edge,
        report(vec![hash, hash, KeyHash::of("unknown")]),
    );
    let key = w.store.key_by_id(&id);
    assert_eq!(key.leaked_at, Some(NOW));
    assert_eq!(key.revoke_at, Some(NOW + admin::LEAK_GRACE_DEFAULT));
    let leaked: Vec<&Event> = w
        .store
        .events
        .iter()
        .filter(|e| e.kind == "key.leaked")
        .collect();
    assert_eq!(leaked.len(), 1);
    // A second exposure changes nothing.
    let again = w.ok(&Caller::Edge, report(vec![hash]));
    assert!(again.writes.is_empty());
    let _ = account;
}

#[test]
fn a_grace_after_first_use_starts_when_the_successor_is_first_used() {
    let mut w = World::new();
    let old = w.key(key_body(json!({})));
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: old.clone(),
            body: Some(json!({"grace": "after_first_use", "grace_seconds": 600})),
        },
    );
    let body = rolled.body.unwrap();
    let successor = body["key"]["id"].as_str().unwrap().to_string();
    let cap = NOW + admin::GRACE_MAX;
    assert_eq!(
        body["previous"]["grace"],
        json!({"kind": "after_first_use", "seconds": 600, "waiting": true, "cap": cap})
    );
    assert_eq!(body["previous"]["revoke_at"], cap);
    assert!(w.store.key_by_id(&successor).report_first_use);
    // The edge reports the successor's first use (twice, from two isolates): the grace starts.
    let used = NOW + 3_600;
    let report = |at| Command::RecordActivity {
        uses: vec![],
        denials: vec![],
        would_deny: vec![],
        exposed: vec![],
        first_uses: vec![(successor.clone(), at)],
    };
    w.ok(&Caller::Edge, report(used));
    w.ok(&Caller::Edge, report(used + 50));
    let old_key = w.store.key_by_id(&old);
    assert_eq!(old_key.revoke_at, Some(used + 600));
    assert_eq!(old_key.grace.as_ref().map(|g| g.waiting), Some(false));
    let new_key = w.store.key_by_id(&successor);
    assert_eq!(
        (new_key.first_used_at, new_key.report_first_use),
        (Some(used), false)
    );
    // Never past the cap: a first use six days and 23 hours after the roll still ends at it.
    let late = w.key(key_body(json!({})));
    let rolled = w.ok(
        &Caller::Operator,
        Command::RollKey {
            key_id: late.clone(),
            body: Some(json!({"grace": "after_first_use", "grace_seconds": 86_400})),
        },
    );
    let late_successor = rolled.body.unwrap()["key"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    w.ok(
        &Caller::Edge,
        Command::RecordActivity {
            uses: vec![],
            denials: vec![],
            would_deny: vec![],
            exposed: vec![],
            first_uses: vec![(late_successor, cap - 3_600)],
        },
    );
    assert_eq!(w.store.key_by_id(&late).revoke_at, Some(cap));
    // A fixed grace is the default; a bad kind is 400.
    let another = w.key(key_body(json!({})));
    let e = w.refused(
        &Caller::Operator,
        Command::RollKey {
            key_id: another,
            body: Some(json!({"grace": "sometime"})),
        },
    );
    assert_eq!(fields(&e), ["grace"]);
}
