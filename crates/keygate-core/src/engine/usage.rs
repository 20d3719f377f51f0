//! The edge's activity reports applied: first uses, usage, refusals, would-deny events.

use super::*;
use crate::admin::{self};
use crate::error::Error;
use crate::model::{Actor, ApiKey};
use serde_json::{Value, json};

/// Successors used at the edge for the first time: each records it, and the key it replaced
/// starts its "after first use" grace (docs/admin-api.md).
pub(super) fn first_used(store: &impl Store, uses: &[(String, i64)]) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    for (key_id, at) in uses {
        let Some(mut successor) = store.key(key_id)? else {
            continue;
        };
        if successor.key.first_used_at.is_some() {
            continue; // reported by several isolates: the first report counts
        }
        successor.key.first_used_at = Some(*at);
        successor.key.report_first_use = false;
        if let Some(mut old) = store.predecessor(key_id)? {
            admin::successor_used(&mut old.key, *at);
            writes.push(Write::PutKey(old));
        }
        writes.push(Write::PutKey(successor));
    }
    Ok(writes)
}

/// A key's view with its usage (`last_used_at`, `last_used_ip`, `ips_seen`): every answer
/// that shows a key shows the same fields.
pub(super) fn used_key_view(store: &impl Store, key: &ApiKey) -> Result<Value, Error> {
    let mut view = key_view(key)?;
    let usage = store.usage(&key.id)?.unwrap_or_default();
    if let Some(object) = view.as_object_mut() {
        for (name, value) in usage.view_fields() {
            object.insert(name.into(), value);
        }
    }
    Ok(view)
}

/// Usage merged into what is stored, refusals kept for lookup, and one `ip.would_deny` event
/// per key and address per hour. Reports about keys that no longer exist are dropped.
pub(super) fn record_activity(
    store: &impl Store,
    mint: &mut impl Mint,
    uses: Vec<KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
) -> Result<Outcome, Error> {
    let mut writes = Vec::new();
    let mut merged: Vec<(String, Usage)> = Vec::new();
    for report in &uses {
        if store.key(&report.key_id)?.is_none() {
            continue;
        }
        let i = match merged.iter().position(|(k, _)| *k == report.key_id) {
            Some(i) => i,
            None => {
                let stored = store.usage(&report.key_id)?.unwrap_or_default();
                merged.push((report.key_id.clone(), stored));
                merged.len() - 1
            }
        };
        merged[i].1.merge(report);
    }
    writes.extend(
        merged
            .into_iter()
            .map(|(key_id, usage)| Write::PutUsage { key_id, usage }),
    );
    writes.extend(denials.into_iter().map(Write::PutDenial));
    let mut events: Vec<Event> = Vec::new();
    for report in would_deny {
        let since = report.at - WOULD_DENY_DEDUP_SECONDS;
        let seen_now = events.iter().any(|e| {
            e.key_id.as_deref() == Some(report.key_id.as_str())
                && e.data["after"]["ip"] == report.ip
        });
        if seen_now || store.would_deny_since(&report.key_id, &report.ip, since)? {
            continue;
        }
        events.push(Event {
            id: mint.id("evt_")?,
            kind: "ip.would_deny".into(),
            account_id: report.account_id,
            key_id: Some(report.key_id.clone()),
            actor: Actor::Key {
                key_id: report.key_id,
            },
            request_id: Some(report.request_id),
            created_at: report.at,
            data: json!({ "before": {}, "after": { "ip": report.ip } }),
        });
    }
    Ok(Outcome {
        status: 204,
        body: None,
        writes,
        events,
    })
}
