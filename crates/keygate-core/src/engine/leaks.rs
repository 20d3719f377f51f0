//! Leak reports (ours, GitHub's) and keys exposed over plain HTTP.

use super::*;
use crate::admin::{self};
use crate::error::Error;
use crate::github;
use crate::keys::{KeyHash, KeyKind, parse_key, secret_key_hash};
use crate::model::ApiKey;
use serde_json::{Value, json};

/// Marks every reported token that is one of our secret keys leaked. The answer names tokens
/// only by their display fragments: a report must not become a place secrets are repeated.
pub(super) fn leak_report(store: &impl Store, now: i64, body: &Value) -> Result<Outcome, Error> {
    let tokens = admin::leak_report(body)?;
    let mut results = Vec::with_capacity(tokens.len());
    // A key reported twice in one report is changed once, from its latest state.
    let mut changed: Vec<StoredKey> = Vec::new();
    for (index, leaked) in tokens.iter().enumerate() {
        let Ok(parsed) = parse_key(&leaked.token) else {
            results.push(json!({ "index": index, "ours": false }));
            continue;
        };
        let fragment = format!("{}…{}", parsed.start(), parsed.end());
        let result = match parsed.kind() {
            KeyKind::Secret => {
                match mark_secret_leaked(store, now, &mut changed, &parsed.hash())? {
                    None => json!({ "index": index, "token": fragment, "ours": false }),
                    Some(key) => json!({
                        "index": index, "token": fragment, "ours": true,
                        "type": "secret_key", "key_id": key.id,
                        "account_id": key.account_id, "revoke_at": key.revoke_at,
                    }),
                }
            }
            // Product keys identify, they do not authenticate: nothing to revoke.
            KeyKind::Product => match store.entitlement_by_product_key(&leaked.token)? {
                Some(e) => json!({
                    "index": index, "token": fragment, "ours": true, "type": "product_key",
                    "account_id": e.account_id, "product_id": e.product_id,
                }),
                None => json!({ "index": index, "token": fragment, "ours": false }),
            },
        };
        results.push(result);
    }
    let body = json!({ "object": "leak_report", "results": results });
    Ok(Outcome::json(200, body).with(changed.into_iter().map(Write::PutKey).collect()))
}

/// Marks the secret key with `hash` leaked (default grace), if it is ours; `changed` holds the
/// keys this command already changed, so a key reported twice is changed once, from its
/// latest state. Returns the key as marked.
pub(super) fn mark_secret_leaked(
    store: &impl Store,
    now: i64,
    changed: &mut Vec<StoredKey>,
    hash: &KeyHash,
) -> Result<Option<ApiKey>, Error> {
    if let Some(stored) = changed.iter_mut().find(|s| s.hash == *hash) {
        admin::mark_leaked(&mut stored.key, now, admin::LEAK_GRACE_DEFAULT);
        return Ok(Some(stored.key.clone()));
    }
    let Some(mut stored) = store.key_by_hash(hash)? else {
        return Ok(None);
    };
    let before = (stored.key.leaked_at, stored.key.revoke_at);
    admin::mark_leaked(&mut stored.key, now, admin::LEAK_GRACE_DEFAULT);
    let key = stored.key.clone();
    // Reported again (GitHub reports each place a secret turns up): nothing to write.
    if (key.leaked_at, key.revoke_at) != before {
        changed.push(stored);
    }
    Ok(Some(key))
}

/// GitHub's secret-scanning report (signature already verified): every secret key of ours in
/// it is marked leaked; the answer is GitHub's feedback array.
pub(super) fn github_report(
    store: &impl Store,
    now: i64,
    matches: &[github::Match],
) -> Result<Outcome, Error> {
    let mut changed: Vec<StoredKey> = Vec::new();
    let mut feedback = Vec::with_capacity(matches.len());
    for m in matches {
        let ours = match secret_key_hash(&m.token) {
            Some(hash) => mark_secret_leaked(store, now, &mut changed, &hash)?.is_some(),
            None => false,
        };
        feedback.push(github::feedback(m, ours));
    }
    Ok(Outcome::json(200, Value::Array(feedback))
        .with(changed.into_iter().map(Write::PutKey).collect()))
}

/// A secret key sent over plain HTTP to a deployment that requires HTTPS: it crossed a network
/// in clear, so it is marked leaked (default grace), once.
pub(super) fn exposed(
    store: &impl Store,
    now: i64,
    hashes: &[KeyHash],
) -> Result<Vec<Write>, Error> {
    let mut changed: Vec<StoredKey> = Vec::new();
    for hash in hashes {
        let already = changed.iter().any(|s| s.hash == *hash);
        let leaked = already
            || store
                .key_by_hash(hash)?
                .is_none_or(|stored| stored.key.leaked_at.is_some());
        if !leaked {
            mark_secret_leaked(store, now, &mut changed, hash)?;
        }
    }
    Ok(changed.into_iter().map(Write::PutKey).collect())
}
