//! The engine against an in-memory store: every rule, and the attacks a manager key tried.
//! This module holds the store, the mint and the world the tests run in; one module per area.

mod attacks;
mod bounds;
mod events;
mod plans;
#[cfg(not(target_arch = "wasm32"))]
mod property;
mod quotas;
mod rates;
mod safety;
mod sharded;
mod writes;

use super::*;
use crate::admin;
use crate::config::GatewayConfig;
use crate::error::Error;
use crate::keys::{Environment, IssuedKey, KeyHash, KeyKind};
use crate::model::{Account, AccountStatus, Actor, ApiKey, Entitlement};
use crate::page::PageParams;
use crate::testing;
use crate::{github, webhook};
use serde_json::{Value, json};

pub(super) const NOW: i64 = 1_700_000_000;
pub(super) const DAY: i64 = 86_400;

/// Records in vectors, in creation order; applies an outcome's writes like the Registry.
#[derive(Default, Clone)]
pub(super) struct MemStore {
    pub accounts: Vec<Account>,
    pub entitlements: Vec<Entitlement>,
    pub keys: Vec<StoredKey>,
    pub events: Vec<Event>,
    pub usage: Vec<(String, Usage)>,
    pub denials: Vec<StoredDenial>,
    pub deliveries: Vec<webhook::Deliveries>,
    pub ledgers: Vec<(String, crate::quota::Ledger)>,
    pub usage_days: Vec<(String, UsageRow)>,
}

impl MemStore {
    pub(super) fn apply(&mut self, writes: &[Write]) {
        for write in writes {
            match write.clone() {
                Write::PutLedger { account_id, ledger } => {
                    self.ledgers.retain(|(a, _)| *a != account_id);
                    self.ledgers.push((account_id, ledger));
                }
                Write::AddUsage { account_id, row } => {
                    match self
                        .usage_days
                        .iter_mut()
                        .find(|(a, r)| *a == account_id && r.id == row.id)
                    {
                        Some((_, r)) => {
                            r.granted += row.granted;
                            r.refused += row.refused;
                            r.lapsed += row.lapsed;
                        }
                        None => self.usage_days.push((account_id, row)),
                    }
                }
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
                Write::PutDenial(denial) => self.denials.push(StoredDenial {
                    denial,
                    similar_not_stored: 0,
                }),
                Write::CountSimilar { request_id, more } => {
                    if let Some(d) = self
                        .denials
                        .iter_mut()
                        .find(|d| d.denial.request_id == request_id)
                    {
                        d.similar_not_stored += more;
                    }
                }
            }
        }
    }

    pub(super) fn key_by_id(&self, id: &str) -> ApiKey {
        self.keys
            .iter()
            .find(|k| k.key.id == id)
            .map(|k| k.key.clone())
            .unwrap_or_else(|| panic!("no key {id}"))
    }
}

pub(super) fn page_of<T: Clone>(
    items: Vec<T>,
    page: &PageParams,
    id: impl Fn(&T) -> &str,
) -> (Vec<T>, bool) {
    let (slice, more) = page.page(&items, id).unwrap_or((&[], false));
    (slice.to_vec(), more)
}

impl Store for MemStore {
    fn ledger(&self, account_id: &str) -> Result<crate::quota::Ledger, Error> {
        Ok(self
            .ledgers
            .iter()
            .find(|(a, _)| a == account_id)
            .map(|(_, l)| l.clone())
            .unwrap_or_default())
    }

    fn usage_rows(
        &self,
        account_id: &str,
        from: i64,
        to: i64,
        page: &PageParams,
    ) -> Result<(Vec<UsageRow>, bool), Error> {
        let mut rows: Vec<UsageRow> = self
            .usage_days
            .iter()
            .filter(|(a, r)| {
                let day = parse_date("date", &r.date).unwrap_or(i64::MIN);
                a == account_id && (from..=to).contains(&day)
            })
            .map(|(_, r)| r.clone())
            .collect();
        rows.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(page_of(rows, page, |r| r.id.as_str()))
    }

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
    fn denial(&self, request_id: &str) -> Result<Option<StoredDenial>, Error> {
        Ok(self
            .denials
            .iter()
            .find(|d| d.denial.request_id == request_id)
            .cloned())
    }
    fn refusal_minute(
        &self,
        account_id: &str,
        key_id: &str,
        minute: i64,
    ) -> Result<RefusalMinute, Error> {
        let in_minute = |d: &&StoredDenial| minute_of(d.denial.at) == minute;
        let of_key: Vec<&StoredDenial> = self
            .denials
            .iter()
            .filter(in_minute)
            .filter(|d| d.denial.key_id == key_id)
            .collect();
        Ok(RefusalMinute {
            account_stored: self
                .denials
                .iter()
                .filter(in_minute)
                .filter(|d| d.denial.account_id == account_id)
                .count() as u64,
            key_stored: of_key.len() as u64,
            key_rate_limited: of_key
                .iter()
                .any(|d| d.denial.status == RATE_LIMITED_STATUS),
            latest: of_key.last().map(|d| d.denial.request_id.clone()),
        })
    }
    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error> {
        Ok(self
            .deliveries
            .iter()
            .find(|d| d.event_id == event_id)
            .cloned())
    }
    fn would_deny_on(&self, key_id: &str, prefix: &str, day: i64) -> Result<bool, Error> {
        Ok(self.events.iter().any(|e| {
            e.kind == "ip.would_deny"
                && e.key_id.as_deref() == Some(key_id)
                && e.data["after"]["prefix"] == prefix
                && day_of(e.created_at) == day
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
    pub(super) fn new() -> Self {
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
                account_id: None,
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

    pub(super) fn account(&self) -> String {
        self.store.accounts[0].id.clone()
    }

    pub(super) fn run(&mut self, caller: &Caller, command: Command) -> Result<Outcome, Error> {
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
    pub(super) fn ok(&mut self, caller: &Caller, command: Command) -> Outcome {
        let what = format!("{command:?}");
        self.run(caller, command)
            .unwrap_or_else(|e| panic!("{what} refused: {e:?}"))
    }

    #[track_caller]
    pub(super) fn refused(&mut self, caller: &Caller, command: Command) -> Error {
        let what = format!("{command:?}");
        let before = self.store.keys.clone();
        let e = match self.run(caller, command) {
            Ok(outcome) => panic!("{what} was allowed: {outcome:?}"),
            Err(e) => e,
        };
        assert_eq!(self.store.keys, before, "a refusal changed nothing");
        e
    }

    /// Creates a key in the first account as the operator; returns its id.
    pub(super) fn key(&mut self, body: Value) -> String {
        self.key_in(self.account(), body)
    }

    /// Creates a key in `account_id` as the operator; returns its id.
    pub(super) fn key_in(&mut self, account_id: String, body: Value) -> String {
        let outcome = self.ok(&Caller::Operator, Command::CreateKey { account_id, body });
        outcome.body.unwrap()["key"]["id"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Creates another account as the operator; returns its id.
    pub(super) fn new_account(&mut self, name: &str, agreement: &str) -> String {
        let outcome = self.ok(
            &Caller::Operator,
            Command::CreateAccount {
                body: json!({"name": name, "agreement": agreement}),
                account_id: None,
            },
        );
        outcome.body.unwrap()["id"].as_str().unwrap().to_string()
    }

    pub(super) fn manager(&mut self, body: Value) -> Caller {
        Caller::Manager {
            key_id: self.key(body),
        }
    }

    pub(super) fn patch(
        &mut self,
        caller: &Caller,
        key_id: &str,
        body: Value,
    ) -> Result<Outcome, Error> {
        self.run(
            caller,
            Command::UpdateKey {
                key_id: key_id.into(),
                body,
            },
        )
    }
}

pub(super) fn create(w: &World, body: Value) -> Command {
    Command::CreateKey {
        account_id: w.account(),
        body,
    }
}

pub(super) fn fields(e: &Error) -> Vec<&str> {
    e.errors.iter().map(|f| f.field.as_str()).collect()
}

pub(super) fn key_body(extra: Value) -> Value {
    let mut body = json!({"name": "child", "environment": "live"});
    if let (Some(b), Some(x)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(x.clone());
    }
    body
}
