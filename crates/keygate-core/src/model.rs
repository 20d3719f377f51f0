//! Stored records (timestamps are unix seconds) and the key-state check (README "How a request is
//! checked", step `state`).
//!
//! Records do not deny unknown fields: during a deploy, isolates of the old and the new version
//! read the same store, and an old isolate must not fail closed on a field it does not know.
//! Admin *input* is strict instead (see [`crate::admin`]).

use crate::error::Error;
use crate::keys::{Environment, KeyHash, parse_key};
use crate::quota::{Credits, Quota};
use crate::ratelimit::RateLimit;
use serde::{Deserialize, Serialize};

/// What an account's contract allows: `test` accounts hold test keys only and never reach the
/// origin; `production` accounts may hold test and live keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Agreement {
    /// Test keys only; the account's requests never reach the origin.
    Test,
    /// Test and live keys.
    Production,
}

impl Agreement {
    /// The JSON spelling: `"test"` or `"production"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Agreement::Test => "test",
            Agreement::Production => "production",
        }
    }

    /// Whether keys of `environment` may exist under this agreement.
    pub fn allows(self, environment: Environment) -> bool {
        matches!(
            (self, environment),
            (_, Environment::Test) | (Agreement::Production, Environment::Live)
        )
    }
}

/// What an IP allowlist does with an address outside it: refuse it (`enforce`), or let it pass
/// and record an `ip.would_deny` event (`report`), so a customer can try an allowlist out
/// before it can break production.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IpMode {
    /// Refuse a request from an address outside the allowlist (403).
    #[default]
    Enforce,
    /// Let it through, and record an `ip.would_deny` event.
    Report,
}

/// Whether an account's keys work at all. JSON: `"active"` or `"suspended"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Its keys work (each subject to its own state).
    Active,
    /// Every key of the account is refused with 401 until the operator reactivates it.
    Suspended,
}

/// Whether a key is switched on. JSON: `"active"` or `"disabled"`. Revocation is not a status
/// but `revoke_at`: a disabled key can be re-enabled, a revoked one never.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyStatus {
    /// Switched on; it works unless expired, revoked or its account is suspended.
    Active,
    /// Switched off by the operator or a manager key ([`ApiKey::disabled_by`]); refused with 401.
    Disabled,
}

/// A customer of the API provider. Serialised with `"object": "account"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "account")]
pub struct Account {
    /// `acct_` + 20 base62 characters.
    pub id: String,
    /// Display name: trimmed, 1 to 200 characters, no control characters.
    pub name: String,
    /// Which environments its keys may have.
    pub agreement: Agreement,
    /// Suspended accounts' keys are all refused.
    pub status: AccountStatus,
    /// Canonical CIDR strings; empty means any address.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// When it was created, unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last change (the same as `created_at` until one).
    pub updated_at: i64,
    /// Counts the account's changes (its product keys' included), so that of two copies the
    /// newer is known: isolates hold copies from KV and from admin answers that can arrive in
    /// either order. Not part of the admin view.
    #[serde(default)]
    pub revision: u64,
    /// The account's limit: one budget shared by all its keys (a key's own limit can only be
    /// tighter).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// What the account's allowlist does with an address outside it.
    #[serde(default)]
    pub ip_mode: IpMode,
    /// The account's quota: granted requests per period, shared by all its keys.
    #[serde(default)]
    pub quota: Option<Quota>,
}

impl Account {
    /// Records a change made at `now`.
    pub fn touch(&mut self, now: i64) {
        self.updated_at = now;
        self.revision += 1;
    }
}

/// An API key as the admin API shows it: no hash and no secret, ever. Serialised with
/// `"object": "api_key"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "api_key")]
pub struct ApiKey {
    /// `key_` + 20 base62 characters; public, unlike the secret.
    pub id: String,
    /// The owning [`Account::id`].
    pub account_id: String,
    /// Display name: trimmed, 1 to 200 characters, no control characters.
    pub name: String,
    /// Test or live: the `sk_test_`/`sk_live_` prefix of its secret. Never changes.
    pub environment: Environment,
    /// Active or disabled; see [`KeyStatus`].
    pub status: KeyStatus,
    /// `["*"]` means every permission.
    pub scopes: Vec<String>,
    /// Canonical CIDR strings; empty means no restriction beyond the account's.
    #[serde(default)]
    pub allowed_ips: Vec<String>,
    /// Product ids this key may use; empty means every product the account is entitled to.
    #[serde(default)]
    pub products: Vec<String>,
    /// When it was created, unix seconds.
    pub created_at: i64,
    /// Unix seconds of the last change.
    pub updated_at: i64,
    /// Unix seconds after which the key is refused as expired; `None` never expires.
    #[serde(default)]
    pub expires_at: Option<i64>,
    /// Unix seconds of the first leak report; set together with `revoke_at`, never cleared.
    #[serde(default)]
    pub leaked_at: Option<i64>,
    /// Unix seconds from which the key is revoked: the end of a roll's or a leak report's grace
    /// (which may be 0). Only ever moves earlier; once reached, the key never works again.
    #[serde(default)]
    pub revoke_at: Option<i64>,
    /// The [`ApiKey::id`] of the key this one was rolled to; a key is rolled at most once.
    #[serde(default)]
    pub rolled_to: Option<String>,
    /// Who disabled the key, while it is disabled: a key the operator disabled can be
    /// re-enabled only by the operator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<Actor>,
    /// This key's own limit, counted besides its account's (if any).
    #[serde(default)]
    pub rate_limit: Option<RateLimit>,
    /// What the key's allowlist does with an address outside it.
    #[serde(default)]
    pub ip_mode: IpMode,
    /// This key's own quota, counted besides its account's (if any).
    #[serde(default)]
    pub quota: Option<Quota>,
    /// This key's credits.
    #[serde(default)]
    pub credits: Option<Credits>,
    /// A roll's grace that starts when the successor is first used (`roll` with
    /// `"grace": "after_first_use"`), on the rolled key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace: Option<FirstUseGrace>,
    /// When the key was first used at the edge, if its use is being waited for (a successor
    /// whose predecessor's grace starts then).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_used_at: Option<i64>,
    /// The edge reports this key's first use (set on a successor while a grace waits on it).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub report_first_use: bool,
    /// Display fragments, e.g. `sk_test_4eC3` and `x9Qz`.
    pub start: String,
    /// Display fragment: the secret's last four characters (`x9Qz`).
    pub end: String,
}

impl ApiKey {
    /// Revoked at `now`: a grace period that has run out, or an immediate revocation.
    pub fn is_revoked(&self, now: i64) -> bool {
        self.revoke_at.is_some_and(|at| at <= now)
    }

    /// Expired at `now`: its `expires_at` is at or before `now`.
    pub fn is_expired(&self, now: i64) -> bool {
        self.expires_at.is_some_and(|at| at <= now)
    }
}

/// A rolled key's grace period that starts when its successor is first used: until then the
/// key works (at most until `cap`, 7 days after the roll), afterwards for `seconds` more.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstUseGrace {
    /// Always `"after_first_use"`: the view says which kind of grace applies.
    pub kind: String,
    /// Grace, in seconds, once the successor is first used (0 to 7 days).
    pub seconds: i64,
    /// Still waiting for the successor's first use.
    pub waiting: bool,
    /// The latest the key can work: the roll plus 7 days.
    pub cap: i64,
}

/// Who made an admin change: the operator (admin token) or a key with `keys:manage`.
/// Serialised as `{"type": "operator"}` or `{"type": "key", "key_id": "key_…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Actor {
    /// The admin token's holder.
    Operator,
    /// A manager key (`keys:manage`) acting for its own account.
    Key {
        /// The manager key's [`ApiKey::id`].
        key_id: String,
    },
}

/// An account's entitlement to a product, with its product keys (identifiers, kept in
/// plaintext so that `PUT` on the entitlement can show them again).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entitlement {
    /// The entitled [`Account::id`].
    pub account_id: String,
    /// A product id of the gateway config ([`crate::config::Product`]).
    pub product_id: String,
    /// The product's `pk_test_` key for this account, in plaintext (an identifier, not a secret).
    pub test_key: String,
    /// The `pk_live_` key; `None` while the account has a test agreement.
    pub live_key: Option<String>,
    /// When it was created, unix seconds.
    pub created_at: i64,
}

impl Entitlement {
    /// The product keys as the edge needs them: hashes by product and environment.
    pub fn product_key_refs(&self) -> impl Iterator<Item = ProductKeyRef> + '_ {
        [
            (Environment::Test, Some(&self.test_key)),
            (Environment::Live, self.live_key.as_ref()),
        ]
        .into_iter()
        .filter_map(move |(environment, text)| {
            let parsed = parse_key(text?).ok()?;
            Some(ProductKeyRef {
                product_id: self.product_id.clone(),
                environment,
                hash: parsed.hash(),
            })
        })
    }
}

/// One entitlement's product key, as the edge needs it: which product and environment the
/// `pk_` key with this hash identifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductKeyRef {
    /// The product the `pk_` key identifies.
    pub product_id: String,
    /// The environment of the `pk_` key (its `pk_test_`/`pk_live_` prefix).
    pub environment: Environment,
    /// The `pk_` key's hash, as the edge computes it from the request's product key.
    pub hash: KeyHash,
}

/// The one value the edge reads per request, stored under the secret key's hash: everything
/// the decision needs, denormalised so that it takes a single read. `product_keys` are the
/// account's current entitlements' product keys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeRecord {
    /// The key the record is stored for (the hash of its secret is the storage key).
    pub key: ApiKey,
    /// The key's account, as of [`Account::revision`].
    pub account: Account,
    /// The product keys of the account's current entitlements.
    #[serde(default)]
    pub product_keys: Vec<ProductKeyRef>,
}

impl EdgeRecord {
    /// Takes `account` and its `product_keys` if they are a newer copy of this record's account
    /// (same id, higher revision); returns whether anything changed.
    pub fn refresh_account(&mut self, account: &Account, product_keys: &[ProductKeyRef]) -> bool {
        if account.id != self.account.id || account.revision <= self.account.revision {
            return false;
        }
        self.account = account.clone();
        self.product_keys = product_keys.to_vec();
        true
    }

    /// The record of `key`, from its account and the account's entitlements.
    pub fn assemble(key: ApiKey, account: Account, entitlements: &[Entitlement]) -> Self {
        Self {
            key,
            account,
            product_keys: entitlements
                .iter()
                .flat_map(Entitlement::product_key_refs)
                .collect(),
        }
    }
}

/// step `state`, docs/edge-pipeline.md: whether the key may be used at `now`. Each refusal is
/// a 401 with its own message saying what to do.
pub fn key_state(key: &ApiKey, account: &Account, now: i64) -> Result<(), Error> {
    let refuse = |message: &'static str| Err(Error::unauthorized(message).with_challenge());
    if key.status == KeyStatus::Disabled {
        return refuse(
            "This API key is disabled. Ask the account's administrator to re-enable it, or use \
             another key.",
        );
    }
    if key.is_expired(now) {
        return refuse("This API key has expired. Create a new key and use it instead.");
    }
    if key.is_revoked(now) {
        return if key.leaked_at.is_some() {
            refuse(
                "This API key was reported as leaked and has been revoked. Create a new key, and \
                 remove the leaked one from wherever it was published.",
            )
        } else if key.rolled_to.is_some() {
            refuse(
                "This API key was rolled and its grace period is over. Use the key that replaced \
                 it.",
            )
        } else {
            refuse("This API key has been revoked. Create a new key and use it instead.")
        };
    }
    if account.status == AccountStatus::Suspended {
        return refuse(
            "The account that owns this API key is suspended. Contact the API provider.",
        );
    }
    if !account.agreement.allows(key.environment) {
        // Cannot be created this way; can arise if an agreement is downgraded after the fact.
        return refuse(
            "Live keys need a production agreement, and this account has a test agreement. Use \
             a test key, or contact the API provider.",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{account, key};
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: i64 = 10_000;

    fn refusal(k: &ApiKey, a: &Account) -> String {
        let e = key_state(k, a, NOW).unwrap_err();
        assert_eq!(e.status, 401);
        e.message.into_owned()
    }

    #[test]
    fn only_a_newer_copy_of_the_account_replaces_the_records() {
        let mut record = EdgeRecord::assemble(key(Environment::Live), account(), &[]);
        let mut newer = account();
        newer.revision = record.account.revision + 1;
        newer.status = AccountStatus::Suspended;
        let keys = [ProductKeyRef {
            product_id: "p".into(),
            environment: Environment::Live,
            hash: KeyHash::of("pk"),
        }];
        assert!(record.refresh_account(&newer, &keys));
        assert_eq!(record.account.status, AccountStatus::Suspended);
        assert_eq!(record.product_keys.len(), 1);
        // The same or an older copy, or another account's, changes nothing.
        let mut older = account();
        older.revision = newer.revision - 1;
        assert!(!record.refresh_account(&older, &[]));
        assert!(!record.refresh_account(&newer, &[]));
        let mut other = newer.clone();
        other.id = "acct_other".into();
        other.revision += 5;
        assert!(!record.refresh_account(&other, &[]));
        assert_eq!(record.account.status, AccountStatus::Suspended);
    }

    #[test]
    fn a_plain_active_key_passes() {
        key_state(&key(Environment::Live), &account(), NOW).unwrap();
        key_state(&key(Environment::Test), &account(), NOW).unwrap();
    }

    #[test]
    fn each_state_has_its_own_message() {
        let a = account();
        let mut k = key(Environment::Test);
        k.status = KeyStatus::Disabled;
        let disabled = refusal(&k, &a);

        let mut k = key(Environment::Test);
        k.expires_at = Some(NOW);
        let expired = refusal(&k, &a);
        k.expires_at = Some(NOW + 1);
        key_state(&k, &a, NOW).unwrap();

        let mut k = key(Environment::Test);
        k.revoke_at = Some(NOW);
        let revoked = refusal(&k, &a);
        k.revoke_at = Some(NOW + 1);
        key_state(&k, &a, NOW).unwrap();

        let mut k = key(Environment::Test);
        k.revoke_at = Some(NOW - 1);
        k.rolled_to = Some("key_2".into());
        let rolled = refusal(&k, &a);
        k.leaked_at = Some(NOW - 100);
        let leaked = refusal(&k, &a);

        let mut suspended_account = account();
        suspended_account.status = AccountStatus::Suspended;
        let suspended = refusal(&key(Environment::Test), &suspended_account);

        let mut test_account = account();
        test_account.agreement = Agreement::Test;
        let live_on_test = refusal(&key(Environment::Live), &test_account);
        key_state(&key(Environment::Test), &test_account, NOW).unwrap();

        let all = [
            &disabled,
            &expired,
            &revoked,
            &rolled,
            &leaked,
            &suspended,
            &live_on_test,
        ];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        assert!(disabled.contains("disabled"));
        assert!(expired.contains("expired"));
        assert!(rolled.contains("rolled"));
        assert!(leaked.contains("leaked"));
        assert!(suspended.contains("suspended"));
        assert!(live_on_test.contains("production agreement"));
    }

    #[test]
    fn key_problems_are_reported_before_account_problems() {
        let mut a = account();
        a.status = AccountStatus::Suspended;
        let mut k = key(Environment::Test);
        k.status = KeyStatus::Disabled;
        assert!(refusal(&k, &a).contains("disabled"));
        k.status = KeyStatus::Active;
        k.expires_at = Some(1);
        assert!(refusal(&k, &a).contains("expired"));
    }

    #[test]
    fn records_serialise_with_object_tags_and_no_secrets() {
        let k = key(Environment::Live);
        let v = serde_json::to_value(&k).unwrap();
        assert_eq!(v["object"], "api_key");
        assert_eq!(v["environment"], "live");
        assert_eq!(v["status"], "active");
        assert!(v.get("hash").is_none() && v.get("secret").is_none());
        assert_eq!(serde_json::from_value::<ApiKey>(v).unwrap(), k);

        let a = account();
        let v = serde_json::to_value(&a).unwrap();
        assert_eq!(v["object"], "account");
        assert_eq!(v["agreement"], "production");
        assert_eq!(serde_json::from_value::<Account>(v).unwrap(), a);
    }

    #[test]
    fn records_tolerate_unknown_and_missing_optional_fields() {
        let json = r#"{"id":"acct_1","name":"A","agreement":"test","status":"active",
                       "created_at":1,"updated_at":2,"added_in_a_later_version":true}"#;
        let a: Account = serde_json::from_str(json).unwrap();
        assert!(a.allowed_ips.is_empty());
        assert_eq!(a.agreement, Agreement::Test);
    }

    #[test]
    fn edge_record_round_trip() {
        let record = EdgeRecord {
            key: key(Environment::Test),
            account: account(),
            product_keys: vec![ProductKeyRef {
                product_id: "bank_data".into(),
                environment: Environment::Test,
                hash: KeyHash::of("pk_test_x"),
            }],
        };
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<EdgeRecord>(&json).unwrap(), record);
    }
}
