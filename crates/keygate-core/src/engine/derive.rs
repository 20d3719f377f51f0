//! Events derived from a command's writes, compared with what the store held.

use super::*;
use crate::error::Error;
use crate::model::{Actor, ApiKey, KeyStatus};
use serde_json::{Value, json};

/// The events of a command, derived from what it writes compared with what the store held:
/// one per record created, changed (only the fields that changed) or deleted.
pub(super) fn derive_events(
    principal: &Principal,
    leak_source: Option<&str>,
    writes: &[Write],
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Vec<Event>, Error> {
    let mut events = Vec::new();
    let mut reported: Vec<(String, Vec<String>)> = Vec::new();
    for write in writes {
        let (kind, account_id, key_id, data) = match write {
            Write::PutAccount(account) => {
                let after = account_view(account, &[])?;
                match store.account(&account.id)? {
                    None => (
                        "account.created",
                        &account.id,
                        None,
                        changes(&json!({}), &after),
                    ),
                    Some(before) => {
                        let data = changes(&account_view(&before, &[])?, &after);
                        if data["after"].as_object().is_none_or(|m| m.is_empty()) {
                            continue; // only bookkeeping: the entitlement's own event says it
                        }
                        ("account.updated", &account.id, None, data)
                    }
                }
            }
            Write::PutEntitlement(e) => {
                let product = json!({ "product_id": e.product_id, "live": e.live_key.is_some() });
                match find_entitlement(store, &e.account_id, &e.product_id)? {
                    None => (
                        "entitlement.created",
                        &e.account_id,
                        None,
                        changes(&json!({}), &product),
                    ),
                    Some(before) => {
                        let was = json!({ "product_id": before.product_id, "live": before.live_key.is_some() });
                        (
                            "entitlement.updated",
                            &e.account_id,
                            None,
                            changes(&was, &product),
                        )
                    }
                }
            }
            Write::DeleteEntitlement {
                account_id,
                product_id,
            } => (
                "entitlement.deleted",
                account_id,
                None,
                changes(&json!({ "product_id": product_id }), &json!({})),
            ),
            Write::PutKey(stored) => {
                let key = &stored.key;
                let after = key_view(key)?;
                let before = store.key(&key.id)?.map(|s| s.key);
                let kind = match &before {
                    None => "key.created",
                    Some(b) if b.rolled_to.is_none() && key.rolled_to.is_some() => "key.rolled",
                    Some(b) if b.leaked_at != key.leaked_at => "key.leaked",
                    Some(b)
                        if b.status == KeyStatus::Active && key.status == KeyStatus::Disabled =>
                    {
                        "key.disabled"
                    }
                    Some(b)
                        if b.status == KeyStatus::Disabled && key.status == KeyStatus::Active =>
                    {
                        "key.enabled"
                    }
                    Some(_) => "key.updated",
                };
                let was = match before.as_ref() {
                    Some(key) => key_view(key)?,
                    None => json!({}),
                };
                let data = changes(&was, &after);
                if before.is_some() && data["after"].as_object().is_none_or(|m| m.is_empty()) {
                    continue; // nothing a view shows changed: a re-report, a no-op update
                }
                if kind == "key.leaked" && leak_source.is_some() {
                    match reported.iter_mut().find(|(a, _)| *a == key.account_id) {
                        Some((_, ids)) => ids.push(key.id.clone()),
                        None => reported.push((key.account_id.clone(), vec![key.id.clone()])),
                    }
                }
                (kind, &key.account_id, Some(&key.id), data)
            }
            Write::PutUsage { .. }
            | Write::PutDenial(_)
            | Write::CountSimilar { .. }
            | Write::PutLedger { .. }
            | Write::AddUsage { .. } => continue,
            Write::DeleteKey(stored) => (
                "key.deleted",
                &stored.key.account_id,
                Some(&stored.key.id),
                changes(&key_view(&stored.key)?, &json!({})),
            ),
        };
        events.push(event(principal, cx, mint, kind, account_id, key_id, data)?);
    }
    for (account_id, key_ids) in reported {
        let data = json!({ "before": {}, "after": { "key_ids": key_ids, "source": leak_source } });
        events.push(event(
            principal,
            cx,
            mint,
            "leak.reported",
            &account_id,
            None,
            data,
        )?);
    }
    Ok(events)
}

pub(super) fn event(
    principal: &Principal,
    cx: &Context<'_>,
    mint: &mut impl Mint,
    kind: &str,
    account_id: &str,
    key_id: Option<&String>,
    data: Value,
) -> Result<Event, Error> {
    Ok(Event {
        id: mint.id("evt_")?,
        kind: kind.to_string(),
        account_id: account_id.to_string(),
        key_id: key_id.cloned(),
        actor: principal.actor(),
        request_id: Some(cx.request_id.to_string()),
        created_at: cx.now,
        data,
    })
}

/// `key.revoked` for a key whose grace period (after a roll or a leak report) has ended: the
/// edge refused it from that second on; this records it for the account.
pub fn grace_ended(key: &ApiKey, mint: &mut impl Mint) -> Result<Event, Error> {
    let why = if key.leaked_at.is_some() {
        "leaked"
    } else if key.rolled_to.is_some() {
        "rolled"
    } else {
        "revoked"
    };
    Ok(Event {
        id: mint.id("evt_")?,
        kind: "key.revoked".into(),
        account_id: key.account_id.clone(),
        key_id: Some(key.id.clone()),
        actor: Actor::Operator,
        request_id: None,
        // Only keys whose grace ended are passed in; one without an end is a bug, not 1970.
        created_at: key.revoke_at.ok_or_else(Error::internal)?,
        data: json!({ "before": {}, "after": { "revoke_at": key.revoke_at, "because": why } }),
    })
}
