//! Usage plans in the engine: the edge's leases on an account's ledger (`crate::quota`), the
//! usage rows they bill, the threshold events they fire, and the usage export.
//!
//! One source for each figure: a usage row is added to by the same change of the ledger that
//! moves a counter (a settlement adds `granted`, a lapse `lapsed`, a refusal `refused`), in
//! the same transaction, so the export's totals are the counters' use.

use super::*;
use crate::error::{Answer, Error, FieldError};
use crate::model::Actor;
use crate::page::PageParams;
use crate::quota::{Counter, Crossing, CrossingKind, Effects, Lane, Owed, Standing, Tally};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The longest range of the usage export, in days.
pub const MAX_USAGE_DAYS: i64 = 366;
/// How long usage rows are kept: the export reaches back this far.
pub const USAGE_RETENTION_SECONDS: i64 = 400 * 86_400;

/// One row of the usage export: a lane's tally. Serialised with `"object": "usage"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "object", rename = "usage")]
pub struct UsageRow {
    /// The row's cursor for `starting_after`: its day, key, product and route.
    pub id: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub date: String,
    /// The key.
    pub key_id: String,
    /// The product, if the routes have one.
    pub product: Option<String>,
    /// The route, `METHOD /pattern`, where it has a cost.
    pub route: Option<String>,
    /// Requests granted.
    pub granted: u64,
    /// Requests refused for a quota or the credits.
    pub refused: u64,
    /// Requests an isolate may have granted but never reported (counted as used).
    pub lapsed: u64,
}

impl UsageRow {
    /// The row of `lane` with `tally`.
    pub fn new(lane: &Lane, tally: Tally) -> Self {
        let (y, m, d) = crate::calendar::civil_from_days(lane.day.div_euclid(86_400));
        let date = format!("{y:04}-{m:02}-{d:02}");
        Self {
            id: format!(
                "{date}/{}/{}/{}",
                lane.key_id,
                lane.product.as_deref().unwrap_or(""),
                lane.route.as_deref().unwrap_or("")
            ),
            date,
            key_id: lane.key_id.clone(),
            product: lane.product.clone(),
            route: lane.route.clone(),
            granted: tally.granted,
            refused: tally.refused,
            lapsed: tally.lapsed,
        }
    }
}

/// Reads `YYYY-MM-DD` as the Unix seconds of that UTC midnight.
pub fn parse_date(field: &str, text: &str) -> Result<i64, FieldError> {
    let bad = || FieldError::new(field, "must be a date, YYYY-MM-DD (UTC)");
    let parts: Vec<&str> = text.split('-').collect();
    let [y, m, d] = parts.as_slice() else {
        return Err(bad());
    };
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return Err(bad());
    }
    let number = |s: &str| {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse::<i64>().ok())
            .flatten()
    };
    let (Some(y), Some(m), Some(d)) = (number(y), number(m), number(d)) else {
        return Err(bad());
    };
    let days = crate::calendar::days_from_civil(y, m as u32, d as u32);
    // Round-tripped, so 2026-02-30 is refused rather than read as March 2nd.
    if crate::calendar::civil_from_days(days) != (y, m as u32, d as u32) {
        return Err(bad());
    }
    Ok(days * 86_400)
}

/// What the edge's lease request answers: the ledger's reply (none for a settlement alone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeaseAnswer {
    /// The lease, or the refusal.
    pub lease: Option<crate::quota::LeaseReply>,
}

/// [`Command::Lease`]: take what the isolate owes (settlements, refusals it made alone), then
/// lease for `lane`.
pub(super) fn lease(
    store: &impl Store,
    mint: &mut impl Mint,
    now: i64,
    account_id: String,
    lane: Option<Lane>,
    counters: &[Counter],
    owed: Owed,
) -> Result<Outcome, Error> {
    let mut ledger = store.ledger(&account_id)?;
    let mut effects = Effects::default();
    for settlement in owed.settle {
        ledger.settle(settlement.id, settlement.granted, &mut effects);
    }
    for count in owed.refused {
        effects.refused(&count.lane, count.requests);
    }
    let reply = match &lane {
        Some(lane) => Some(ledger.lease(lane, counters, now, &mut effects)),
        None => {
            ledger.expire(now, &mut effects);
            None
        }
    };
    let mut writes = Vec::new();
    for (lane, tally) in effects.usage {
        writes.push(Write::AddUsage {
            account_id: account_id.clone(),
            row: UsageRow::new(&lane, tally),
        });
    }
    writes.push(Write::PutLedger {
        account_id: account_id.clone(),
        ledger,
    });
    let events = effects
        .crossings
        .into_iter()
        .map(|crossing| crossing_event(mint, &account_id, now, crossing))
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Outcome {
        status: 200,
        body: Some(super::views::to_value(&LeaseAnswer { lease: reply })?),
        writes,
        events,
    })
}

fn crossing_event(
    mint: &mut impl Mint,
    account_id: &str,
    now: i64,
    crossing: Crossing,
) -> Result<Event, Error> {
    let Crossing {
        kind,
        counter,
        by_key,
    } = crossing;
    let (kind, threshold) = match kind {
        CrossingKind::Warning => ("quota.threshold_reached", Some(80)),
        CrossingKind::Exhausted => ("quota.threshold_reached", Some(100)),
        CrossingKind::Refilled => ("credits.refilled", None),
    };
    Ok(Event {
        id: mint.id("evt_")?,
        kind: kind.into(),
        account_id: account_id.to_string(),
        key_id: counter.key_id.clone(),
        actor: Actor::Key { key_id: by_key },
        request_id: None,
        created_at: now,
        data: json!({ "before": {}, "after": counter_view(&counter, threshold) }),
    })
}

/// The usage export as CSV (RFC 4180): a header row, then one row per usage row of `list`.
pub fn usage_csv(rows: &[UsageRow]) -> String {
    let mut out = String::from("date,key_id,product,route,granted,refused,lapsed\r\n");
    for row in rows {
        let fields = [
            row.date.clone(),
            row.key_id.clone(),
            row.product.clone().unwrap_or_default(),
            row.route.clone().unwrap_or_default(),
            row.granted.to_string(),
            row.refused.to_string(),
            row.lapsed.to_string(),
        ];
        let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    out
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// The usage export's JSON page as CSV; a further page is named by
/// `Keygate-Next-Starting-After`. An error stays JSON.
pub fn usage_csv_answer(answer: Answer) -> Answer {
    #[derive(serde::Deserialize)]
    struct Page {
        data: Vec<UsageRow>,
        has_more: bool,
    }
    let Some(page) = (answer.status == 200)
        .then(|| serde_json::from_str::<Page>(answer.body.as_deref()?).ok())
        .flatten()
    else {
        return answer;
    };
    let mut headers = vec![(
        "Content-Type".to_string(),
        "text/csv; charset=utf-8; header=present".to_string(),
    )];
    if let (true, Some(last)) = (page.has_more, page.data.last()) {
        headers.push(("Keygate-Next-Starting-After".to_string(), last.id.clone()));
    }
    Answer {
        status: 200,
        headers,
        body: Some(usage_csv(&page.data)),
    }
}

/// A counter as the usage export and the threshold events show it.
pub fn counter_view(counter: &Standing, threshold: Option<u8>) -> serde_json::Value {
    let mut view = json!({
        "counter": match counter.kind {
            crate::quota::CounterKind::Quota => "quota",
            crate::quota::CounterKind::Credits => "credits",
        },
        "key_id": counter.key_id,
        "product": counter.product,
        "limit": counter.limit,
        "used": counter.used,
        "reserved": counter.reserved,
        "remaining": counter.limit.saturating_sub(counter.used),
        "period_start": counter.period_start,
        "period_end": counter.period_end,
    });
    if let (Some(threshold), Some(map)) = (threshold, view.as_object_mut()) {
        map.insert("threshold".into(), json!(threshold));
    }
    view
}

/// [`Command::ListUsage`]: a page of the account's usage rows from `from` to `to` (UTC
/// midnights, both included), with its counters as they stand.
pub(super) fn list_usage(
    store: &impl Store,
    account_id: &str,
    from: Option<String>,
    to: Option<String>,
    page: &PageParams,
    now: i64,
) -> Result<Outcome, Error> {
    let mut errors = Vec::new();
    let mut day = |field: &str, text: Option<String>| {
        text.map(|t| parse_date(field, &t).map_err(|e| errors.push(e)).ok())
    };
    let to_day = day("to", to);
    let from_day = day("from", from);
    if !errors.is_empty() {
        return Err(Error::invalid(errors));
    }
    let to = to_day
        .flatten()
        .unwrap_or(crate::quota::Period::Day.start(now));
    let from = from_day.flatten().unwrap_or(to - 29 * 86_400);
    if to < from || to - from >= MAX_USAGE_DAYS * 86_400 {
        return Err(Error::invalid(vec![FieldError::new(
            "to",
            format!("must be on or after `from`, at most {MAX_USAGE_DAYS} days later"),
        )]));
    }
    let (rows, has_more) = store.usage_rows(account_id, from, to, page)?;
    let counters: Vec<serde_json::Value> = store
        .ledger(account_id)?
        .standings()
        .iter()
        .map(|c| counter_view(c, None))
        .collect();
    let data = rows
        .iter()
        .map(super::views::to_value)
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(Outcome::json(
        200,
        json!({ "object": "list", "data": data, "has_more": has_more, "counters": counters }),
    ))
}
