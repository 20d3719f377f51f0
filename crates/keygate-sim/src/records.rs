//! Key records and the changes to them, built with the core's own types: the `EdgeRecord` KV
//! holds, the `EdgeUpdate`s the revocation log carries, the lifecycle rule a leak report runs.
//!
//! A key is in one of two versions: as created (version 0), and after the one admin change it
//! may get in a run (version 1: disabled, leaked with no grace, or deleted). Keys are drawn for
//! changes among those not changed yet, so that a version names a record exactly.

use keygate_core::admin::{KeyTemplate, mark_leaked};
use keygate_core::isolate::EdgeUpdate;
use keygate_core::model::{Account, AccountStatus, Actor, Agreement, EdgeRecord, KeyStatus};
use keygate_core::ratelimit::RateLimit;
use keygate_core::{Environment, KeyHash};

use crate::rng::mix;

/// What an admin change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A key disabled by the operator.
    Disable,
    /// A key reported leaked, revoked at once (grace 0).
    Leak,
    /// A key deleted.
    Delete,
    /// An account-wide change that refuses nothing (a new account revision: the write-through
    /// of every key of the account, one log entry).
    Account,
}

impl ChangeKind {
    /// Whether the change makes the edge refuse the key.
    pub fn refuses(self) -> bool {
        self != Self::Account
    }
}

/// The hash a key's records are stored under (32 bytes drawn from the key's number: the
/// simulation never needs the secret).
pub fn key_hash(key: u32) -> KeyHash {
    let mut bytes = [0u8; 32];
    for (i, chunk) in bytes.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&mix(u64::from(key), i as u64).to_le_bytes());
    }
    KeyHash::from_bytes(bytes)
}

/// The id of key `key`.
pub fn key_id(key: u32) -> String {
    format!("key_{key}")
}

/// Account `account` as created, or at `revision`.
pub fn account(account: u32, revision: u64) -> Account {
    Account {
        id: format!("acct_{account}"),
        name: "a".into(),
        agreement: Agreement::Production,
        status: AccountStatus::Active,
        allowed_ips: vec![],
        created_at: 1_000,
        updated_at: 1_000 + revision as i64,
        revision,
        rate_limit: None,
        ip_mode: Default::default(),
        quota: None,
    }
}

/// The record of `key` (of `account`, with `limit` if it has one) at `version`, changed by
/// `change` at `changed_at_s` (unix seconds); `None` once deleted.
pub fn record(
    key: u32,
    account_no: u32,
    limit: Option<RateLimit>,
    version: u8,
    change: Option<(ChangeKind, i64)>,
) -> Option<EdgeRecord> {
    let mut api_key = KeyTemplate {
        environment: Environment::Live,
        name: "k".into(),
        scopes: vec!["*".into()],
        allowed_ips: vec![],
        products: vec![],
        expires_at: None,
        rate_limit: limit,
        ip_mode: Default::default(),
        quota: None,
        credits: None,
    }
    .into_key(
        key_id(key),
        &format!("acct_{account_no}"),
        "sk_live_".into(),
        "0000".into(),
        1_000,
    );
    if version > 0 {
        match change {
            Some((ChangeKind::Disable, at)) => {
                api_key.status = KeyStatus::Disabled;
                api_key.disabled_by = Some(Actor::Operator);
                api_key.updated_at = at;
            }
            Some((ChangeKind::Leak, at)) => mark_leaked(&mut api_key, at, 0),
            Some((ChangeKind::Delete, _)) => return None,
            Some((ChangeKind::Account, _)) | None => {}
        }
    }
    Some(EdgeRecord::assemble(api_key, account(account_no, 1), &[]))
}

/// The text KV (or the location tier) holds for `record`; `None` for no record.
pub fn text(record: Option<&EdgeRecord>) -> Option<String> {
    record.and_then(|r| serde_json::to_string(r).ok())
}

/// The version a record the isolate holds is: 0 as created, 1 once changed (refused).
pub fn version_of(record: Option<&EdgeRecord>) -> u8 {
    match record {
        Some(r) if r.key.status == KeyStatus::Active && r.key.revoke_at.is_none() => 0,
        _ => 1,
    }
}

/// The log entry of a change: a JSON array of `EdgeUpdate`s, as the Registry appends it.
pub fn log_entry(
    kind: ChangeKind,
    key: u32,
    account_no: u32,
    revision: u64,
    new_record: Option<EdgeRecord>,
) -> String {
    let update = match kind {
        ChangeKind::Account => EdgeUpdate::account(
            &format!("acct_{account_no}"),
            Some(account(account_no, revision)),
            &[],
        ),
        _ => EdgeUpdate::Key {
            hash: key_hash(key),
            record: new_record.map(Box::new),
        },
    };
    // Serialising these types cannot fail; were it to, an entry the isolate cannot read makes
    // it drop everything it caches, the core's safe answer.
    serde_json::to_string(&[update]).unwrap_or_else(|_| "[".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use keygate_core::key_state;

    const AT: i64 = 1_700_000_000;

    #[test]
    fn a_changed_record_is_refused_by_the_cores_key_state_and_a_fresh_one_is_not() {
        let fresh = record(7, 3, None, 0, None).unwrap();
        assert!(key_state(&fresh.key, &fresh.account, AT).is_ok());
        assert_eq!(version_of(Some(&fresh)), 0);
        for kind in [ChangeKind::Disable, ChangeKind::Leak] {
            let changed = record(7, 3, None, 1, Some((kind, AT))).unwrap();
            let refusal = key_state(&changed.key, &changed.account, AT).unwrap_err();
            assert_eq!(refusal.status, 401, "{kind:?}");
            assert_eq!(version_of(Some(&changed)), 1);
        }
        assert!(record(7, 3, None, 1, Some((ChangeKind::Delete, AT))).is_none());
        assert_eq!(version_of(None), 1);
    }

    #[test]
    fn texts_and_log_entries_are_what_the_core_reads() {
        let fresh = record(7, 3, None, 0, None);
        let text = text(fresh.as_ref()).unwrap();
        let back: EdgeRecord = serde_json::from_str(&text).unwrap();
        assert_eq!(Some(back), fresh);
        let entry = log_entry(ChangeKind::Delete, 7, 3, 1, None);
        let updates: Vec<EdgeUpdate> = serde_json::from_str(&entry).unwrap();
        assert_eq!(
            updates,
            [EdgeUpdate::Key {
                hash: key_hash(7),
                record: None
            }]
        );
        let entry = log_entry(ChangeKind::Account, 7, 3, 2, None);
        let updates: Vec<EdgeUpdate> = serde_json::from_str(&entry).unwrap();
        assert!(
            matches!(&updates[0], EdgeUpdate::Account { account: Some(a), .. } if a.revision == 2)
        );
    }

    #[test]
    fn hashes_differ_by_key() {
        assert_ne!(key_hash(1), key_hash(2));
        assert_eq!(key_hash(1), key_hash(1));
    }
}
