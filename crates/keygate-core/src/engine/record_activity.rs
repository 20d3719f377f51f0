//! The edge's activity reports applied: first uses, usage, refusals, would-deny events.

use super::*;
use crate::admin::{self};
use crate::error::Error;
use crate::model::{Actor, ApiKey};
use serde_json::{Value, json};

/// Successors used at the edge for the first time: each records it, and the key it replaced
/// starts its "after first use" grace (docs/admin-api.md).
pub(super) fn first_used(store: &impl Store, uses: &[FirstUse]) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    for FirstUse { key_id, at, .. } in uses {
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

/// The usage of the keys one report touches, read once each; `None` for a key that no longer
/// exists (what is reported about it is dropped).
struct Touched {
    keys: Vec<(String, Option<(Usage, Usage)>)>,
}

impl Touched {
    /// The key's usage as it will be written, or `None` if the key is gone.
    fn get(&mut self, store: &impl Store, key_id: &str) -> Result<Option<&mut Usage>, Error> {
        let i = match self.keys.iter().position(|(k, _)| k == key_id) {
            Some(i) => i,
            None => {
                let usage = match store.key(key_id)? {
                    Some(_) => {
                        let stored = store.usage(key_id)?.unwrap_or_default();
                        Some((stored.clone(), stored))
                    }
                    None => None,
                };
                self.keys.push((key_id.to_string(), usage));
                self.keys.len() - 1
            }
        };
        Ok(self.keys[i].1.as_mut().map(|(_, now)| now))
    }

    /// A write for every key whose usage changed.
    fn writes(self) -> impl Iterator<Item = Write> {
        self.keys.into_iter().filter_map(|(key_id, usage)| {
            let (before, usage) = usage?;
            (usage != before).then_some(Write::PutUsage { key_id, usage })
        })
    }
}

/// One key's refusals in one UTC minute while a report is applied.
struct KeyMinute {
    key_id: String,
    minute: i64,
    stored: u64,
    rate_limited: bool,
    latest: Option<String>,
    /// Counted on `latest` by this report, not yet written.
    similar: u64,
}

impl KeyMinute {
    /// The write that adds what this report counted on the latest stored refusal.
    fn take_similar(&mut self) -> Option<Write> {
        let more = std::mem::take(&mut self.similar);
        let request_id = self.latest.clone()?;
        (more > 0).then_some(Write::CountSimilar { request_id, more })
    }
}

/// What the store holds of `denial`'s key and account in `minute`, read at most once.
fn read_once<'s>(
    store: &impl Store,
    seen: &'s mut Option<RefusalMinute>,
    denial: &Denial,
    minute: i64,
) -> Result<&'s RefusalMinute, Error> {
    if seen.is_none() {
        *seen = Some(store.refusal_minute(&denial.account_id, &denial.key_id, minute)?);
    }
    seen.as_ref().ok_or_else(Error::internal)
}

/// Refusals stored whole within the caps, the rest counted on the key and on its latest stored
/// refusal of the minute (module docs of `activity`). Returns the writes.
fn record_denials(
    store: &impl Store,
    touched: &mut Touched,
    denials: Vec<Denial>,
    counted: &[Counted],
) -> Result<Vec<Write>, Error> {
    let mut writes = Vec::new();
    let mut keys: Vec<KeyMinute> = Vec::new();
    let mut accounts: Vec<(String, i64, u64)> = Vec::new();
    for denial in denials {
        let minute = minute_of(denial.at);
        // One read per key and minute, which also gives the account's count.
        let mut seen: Option<RefusalMinute> = None;
        let k = match keys
            .iter()
            .position(|k| k.key_id == denial.key_id && k.minute == minute)
        {
            Some(k) => k,
            None => {
                let seen = read_once(store, &mut seen, &denial, minute)?;
                keys.push(KeyMinute {
                    key_id: denial.key_id.clone(),
                    minute,
                    stored: seen.key_stored,
                    rate_limited: seen.key_rate_limited,
                    latest: seen.latest.clone(),
                    similar: 0,
                });
                keys.len() - 1
            }
        };
        let a = match accounts
            .iter()
            .position(|(a, m, _)| *a == denial.account_id && *m == minute)
        {
            Some(a) => a,
            None => {
                let stored = read_once(store, &mut seen, &denial, minute)?.account_stored;
                accounts.push((denial.account_id.clone(), minute, stored));
                accounts.len() - 1
            }
        };
        let account = &mut accounts[a];
        let key = &mut keys[k];
        let rate_limited = denial.status == RATE_LIMITED_STATUS;
        let whole = key.stored < REFUSALS_PER_KEY_PER_MINUTE
            && account.2 < REFUSALS_PER_ACCOUNT_PER_MINUTE
            && !(rate_limited && key.rate_limited);
        let usage = touched.get(store, &denial.key_id)?;
        if whole {
            key.stored += 1;
            account.2 += 1;
            key.rate_limited |= rate_limited;
            writes.extend(key.take_similar());
            key.latest = Some(denial.request_id.clone());
            writes.push(Write::PutDenial(denial));
            if let Some(usage) = usage {
                usage.refusals.stored = usage.refusals.stored.saturating_add(1);
            }
        } else {
            if key.latest.is_some() {
                key.similar += 1;
            }
            if let Some(usage) = usage {
                usage.refusals.counted = usage.refusals.counted.saturating_add(1);
            }
        }
    }
    // An isolate sends a key's first refusals of a flush whole and counts the rest: those came
    // after the whole ones of this report, so they count on the same latest stored refusal.
    for c in counted.iter().filter(|c| c.refusals > 0) {
        if let Some(key) = keys
            .iter_mut()
            .filter(|k| k.key_id == c.key_id && k.latest.is_some())
            .max_by_key(|k| k.minute)
        {
            key.similar = key.similar.saturating_add(c.refusals);
        }
    }
    writes.extend(keys.iter_mut().filter_map(KeyMinute::take_similar));
    Ok(writes)
}

/// Usage merged into what is stored, refusals stored within the caps and counted past them,
/// one `ip.would_deny` event per key, address block and UTC day (the rest counted), and what
/// isolates counted added to the keys' counts. Reports about keys that no longer exist are
/// dropped (their refusals are still stored within the caps: the account may look them up).
pub(super) fn record_activity(
    store: &impl Store,
    mint: &mut impl Mint,
    uses: Vec<KeyUse>,
    denials: Vec<Denial>,
    would_deny: Vec<WouldDeny>,
    counted: Vec<Counted>,
) -> Result<Outcome, Error> {
    let mut touched = Touched { keys: Vec::new() };
    for report in &uses {
        if let Some(usage) = touched.get(store, &report.key_id)? {
            usage.merge(report);
        }
    }
    let mut writes = record_denials(store, &mut touched, denials, &counted)?;
    let mut events: Vec<Event> = Vec::new();
    for report in would_deny {
        let Some(usage) = touched.get(store, &report.key_id)? else {
            continue;
        };
        let prefix = crate::ip::prefix(&report.ip);
        let day = day_of(report.at);
        let seen_now = events.iter().any(|e| {
            e.key_id.as_deref() == Some(report.key_id.as_str())
                && e.data["after"]["prefix"] == prefix
                && day_of(e.created_at) == day
        });
        if seen_now || store.would_deny_on(&report.key_id, &prefix, day)? {
            usage.would_deny.counted = usage.would_deny.counted.saturating_add(1);
            continue;
        }
        usage.would_deny.events = usage.would_deny.events.saturating_add(1);
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
            data: json!({ "before": {}, "after": { "ip": report.ip, "prefix": prefix } }),
        });
    }
    for c in counted {
        if let Some(usage) = touched.get(store, &c.key_id)? {
            usage.refusals.counted = usage.refusals.counted.saturating_add(c.refusals);
            usage.would_deny.counted = usage.would_deny.counted.saturating_add(c.would_deny);
        }
    }
    writes.extend(touched.writes());
    Ok(Outcome {
        status: 204,
        body: None,
        writes,
        events,
    })
}
