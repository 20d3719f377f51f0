//! What a command runs against: the records (through [`Store`]), fresh ids and secrets
//! ([`Mint`]), the clock and the settings ([`Context`]).

use super::*;
use crate::config::GatewayConfig;
use crate::error::Error;
use crate::keys::{Environment, IssuedKey, KeyHash, KeyKind};
use crate::model::{Account, ApiKey, Entitlement};
use crate::page::PageParams;
use crate::random::SecureRandom;
use crate::webhook;

/// A key as stored: the record and the hash of its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The record as the admin API shows it.
    pub key: ApiKey,
    /// The hash of the secret: the edge record's storage key, and how `key_by_hash` finds it.
    pub hash: KeyHash,
}

/// What the engine reads. Implemented over SQLite by the `Registry` Durable Object, and over
/// vectors by the tests.
pub trait Store {
    /// The account with this `acct_` id.
    fn account(&self, id: &str) -> Result<Option<Account>, Error>;
    /// A page of accounts in creation order, and whether more follow.
    fn accounts(&self, page: &PageParams) -> Result<(Vec<Account>, bool), Error>;
    /// The account's entitlements, by product id.
    fn entitlements(&self, account_id: &str) -> Result<Vec<Entitlement>, Error>;
    /// The entitlement whose test or live product key is `token`.
    fn entitlement_by_product_key(&self, token: &str) -> Result<Option<Entitlement>, Error>;
    /// The key with this `key_` id.
    fn key(&self, id: &str) -> Result<Option<StoredKey>, Error>;
    /// The key whose secret has this hash (how a leaked or exposed secret is traced to its key).
    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, Error>;
    /// The key that was rolled to `successor_id`, if any.
    fn predecessor(&self, successor_id: &str) -> Result<Option<StoredKey>, Error>;
    /// A page of the account's keys in creation order, and whether more follow.
    fn keys(&self, account_id: &str, page: &PageParams) -> Result<(Vec<ApiKey>, bool), Error>;
    /// How many keys the account holds (revoked keys count until deleted).
    fn key_count(&self, account_id: &str) -> Result<usize, Error>;
    /// A page of the account's events, newest first, optionally of one type or one key.
    fn events(
        &self,
        account_id: &str,
        kind: Option<&str>,
        key_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error>;
    /// The key's merged edge usage; `None` if the edge never reported a use.
    fn usage(&self, key_id: &str) -> Result<Option<Usage>, Error>;
    /// A refused edge request by `req_` id, while kept ([`DENIAL_RETENTION_SECONDS`]).
    fn denial(&self, request_id: &str) -> Result<Option<StoredDenial>, Error>;
    /// What the key and its account have stored of refusals in the UTC minute `minute`
    /// ([`minute_of`]): what the refusal caps are checked against.
    fn refusal_minute(
        &self,
        account_id: &str,
        key_id: &str,
        minute: i64,
    ) -> Result<RefusalMinute, Error>;
    /// The webhook delivery log of an event; `None` if it was never queued (unknown event, or
    /// recorded while webhooks were not configured).
    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error>;
    /// The account's ledger of quotas and credits (empty if it never had one).
    fn ledger(&self, account_id: &str) -> Result<crate::quota::Ledger, Error>;
    /// A page of the account's usage rows of the days `from` to `to` (UTC midnights,
    /// included), by day, key, product and route, and whether more follow.
    fn usage_rows(
        &self,
        account_id: &str,
        from: i64,
        to: i64,
        page: &PageParams,
    ) -> Result<(Vec<UsageRow>, bool), Error>;
    /// Whether an `ip.would_deny` event for this key and address block
    /// ([`crate::ip::prefix`], the event's `data.after.prefix`) was recorded on the UTC day
    /// `day` ([`day_of`]).
    fn would_deny_on(&self, key_id: &str, prefix: &str, day: i64) -> Result<bool, Error>;
}

/// Fresh ids and secrets. The worker's draws from the platform's CSPRNG; tests use seeds.
pub trait Mint {
    /// `prefix` followed by random base62, e.g. `id("key_")`.
    fn id(&mut self, prefix: &str) -> Result<String, Error>;
    /// A fresh key of `kind` and `environment`, with its plaintext secret.
    fn key(&mut self, kind: KeyKind, environment: Environment) -> Result<IssuedKey, Error>;
}

/// Ids and keys drawn from a secure generator (the worker passes the platform's).
pub struct RandomMint<'a>(pub &'a dyn SecureRandom);

impl Mint for RandomMint<'_> {
    fn id(&mut self, prefix: &str) -> Result<String, Error> {
        crate::ids::new_id(prefix, self.0)
    }

    fn key(&mut self, kind: KeyKind, environment: Environment) -> Result<IssuedKey, Error> {
        IssuedKey::generate(kind, environment, self.0)
    }
}

/// What a command runs against besides the store.
pub struct Context<'a> {
    /// Unix seconds: the clock of the whole command, so one command has one `now`.
    pub now: i64,
    /// The products and route table that scopes and product ids are checked against.
    pub config: &'a GatewayConfig,
    /// `MAX_KEYS_PER_ACCOUNT`: a create or roll beyond it is 409.
    pub max_keys_per_account: usize,
    /// The id of the request that carries the command, recorded in its events.
    pub request_id: &'a str,
}

/// A store that holds nothing: what a command about an id no account holds runs against (the
/// directory found no account for it, `crate::shard`), so its answer is the engine's own "not
/// found", or the engine's refusal of an invalid body, word for word.
pub struct EmptyStore;

impl Store for EmptyStore {
    fn account(&self, _: &str) -> Result<Option<Account>, Error> {
        Ok(None)
    }

    fn accounts(&self, _: &PageParams) -> Result<(Vec<Account>, bool), Error> {
        Ok((Vec::new(), false))
    }

    fn entitlements(&self, _: &str) -> Result<Vec<Entitlement>, Error> {
        Ok(Vec::new())
    }

    fn entitlement_by_product_key(&self, _: &str) -> Result<Option<Entitlement>, Error> {
        Ok(None)
    }

    fn key(&self, _: &str) -> Result<Option<StoredKey>, Error> {
        Ok(None)
    }

    fn key_by_hash(&self, _: &KeyHash) -> Result<Option<StoredKey>, Error> {
        Ok(None)
    }

    fn predecessor(&self, _: &str) -> Result<Option<StoredKey>, Error> {
        Ok(None)
    }

    fn keys(&self, _: &str, _: &PageParams) -> Result<(Vec<ApiKey>, bool), Error> {
        Ok((Vec::new(), false))
    }

    fn key_count(&self, _: &str) -> Result<usize, Error> {
        Ok(0)
    }

    fn events(
        &self,
        _: &str,
        _: Option<&str>,
        _: Option<&str>,
        _: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error> {
        Ok((Vec::new(), false))
    }

    fn usage(&self, _: &str) -> Result<Option<Usage>, Error> {
        Ok(None)
    }

    fn denial(&self, _: &str) -> Result<Option<StoredDenial>, Error> {
        Ok(None)
    }

    fn refusal_minute(&self, _: &str, _: &str, _: i64) -> Result<RefusalMinute, Error> {
        Ok(RefusalMinute::default())
    }

    fn deliveries(&self, _: &str) -> Result<Option<webhook::Deliveries>, Error> {
        Ok(None)
    }

    fn would_deny_on(&self, _: &str, _: &str, _: i64) -> Result<bool, Error> {
        Ok(false)
    }

    fn ledger(&self, _: &str) -> Result<crate::quota::Ledger, Error> {
        Ok(crate::quota::Ledger::default())
    }

    fn usage_rows(
        &self,
        _: &str,
        _: i64,
        _: i64,
        _: &PageParams,
    ) -> Result<(Vec<UsageRow>, bool), Error> {
        Ok((Vec::new(), false))
    }
}
