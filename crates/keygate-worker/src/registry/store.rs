//! The engine's [`Store`] over the Registry's tables, and the row shapes it reads.

use super::*;
use keygate_core::engine::{
    Event, RATE_LIMITED_STATUS, RefusalMinute, Store, StoredDenial, StoredKey, Usage, UsageRow,
    WOULD_DENY_PERIOD_SECONDS, parse_date,
};
use keygate_core::keys::KeyHash;
use keygate_core::model::{Account, ApiKey, Entitlement};
use keygate_core::page::PageParams;
use keygate_core::quota::{Lane, Ledger, Tally};
use keygate_core::webhook;
use keygate_core::{Error, FieldError};
use serde::{Deserialize, Serialize};
use worker::{SqlStorage, SqlStorageValue};

pub(crate) fn exec(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<(), Error> {
    sql.exec(query, bindings).map(drop).map_err(sql_error)
}

pub(crate) fn rows<T: serde::de::DeserializeOwned>(
    sql: &SqlStorage,
    query: &str,
    bindings: Vec<SqlStorageValue>,
) -> Result<Vec<T>, Error> {
    sql.exec(query, bindings)
        .and_then(|cursor| cursor.to_array())
        .map_err(sql_error)
}

pub(super) fn sql_error(_: worker::Error) -> Error {
    store_unavailable()
}

pub(super) fn parse_doc<T: serde::de::DeserializeOwned>(doc: &str) -> Result<T, Error> {
    serde_json::from_str(doc).map_err(|_| Error::internal())
}

pub(super) fn to_doc<T: Serialize>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

/// Rows read back from SQLite.
#[derive(Deserialize)]
pub(super) struct Doc {
    pub(super) doc: String,
}

#[derive(Deserialize)]
pub(super) struct KeyRow {
    pub(super) doc: String,
    pub(super) hash: String,
}

#[derive(Deserialize)]
pub(super) struct HashRow {
    pub(super) hash: String,
}

#[derive(Deserialize)]
pub(super) struct Seq {
    pub(super) seq: i64,
}

#[derive(Deserialize)]
pub(super) struct Pending {
    pub(super) seq: i64,
    pub(super) body: String,
    #[serde(default)]
    pub(super) attempts: Option<i64>,
    #[serde(default)]
    pub(super) event_id: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct Queued {
    pub(super) account_id: String,
    pub(super) delivered_at: Option<i64>,
    pub(super) next_at: i64,
}

/// The head of an account's webhook queue: the one event it may send next.
#[derive(Deserialize)]
pub(super) struct Head {
    pub(super) account_id: String,
    pub(super) lane: i64,
    pub(super) seq: i64,
    pub(super) next_at: i64,
}

/// A pending routine webhook: its row and event type.
#[derive(Deserialize)]
pub(super) struct Routine {
    pub(super) seq: i64,
    pub(super) kind: String,
}

/// A stored refusal of one key and minute, oldest first.
#[derive(Deserialize)]
struct RefusalRow {
    request_id: String,
    status: i64,
}

#[derive(Deserialize)]
struct StoredRefusal {
    doc: String,
    similar_not_stored: i64,
}

#[derive(Deserialize)]
pub(super) struct Tried {
    pub(super) at: i64,
    pub(super) status: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Number {
    pub(super) n: Option<i64>,
}

#[derive(Deserialize)]
pub(super) struct Count {
    pub(super) n: i64,
}

/// The engine's [`Store`] over the Registry's SQLite tables.
pub(crate) struct SqlStore<'a> {
    pub(super) sql: &'a SqlStorage,
}

impl<'a> SqlStore<'a> {
    pub(crate) fn new(sql: &'a SqlStorage) -> Self {
        Self { sql }
    }

    pub(super) fn stored_key(
        &self,
        column: &str,
        value: String,
    ) -> Result<Option<StoredKey>, Error> {
        let found: Vec<KeyRow> = rows(
            self.sql,
            &format!("SELECT doc, hash FROM api_keys WHERE {column} = ?"),
            vec![value.into()],
        )?;
        found
            .first()
            .map(|row| {
                Ok(StoredKey {
                    key: parse_doc(&row.doc)?,
                    hash: KeyHash::from_hex(&row.hash).ok_or_else(Error::internal)?,
                })
            })
            .transpose()
    }

    /// One page of `table` whose columns equal `filters`, in creation order (oldest or newest
    /// first), after the row named by `starting_after`.
    pub(crate) fn page<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        filters: Vec<(&str, SqlStorageValue)>,
        newest_first: bool,
        page: &PageParams,
    ) -> Result<(Vec<T>, bool), Error> {
        let mut filter = String::from("1 = 1");
        let mut bindings: Vec<SqlStorageValue> = Vec::new();
        for (column, value) in filters {
            filter.push_str(&format!(" AND {column} = ?"));
            bindings.push(value);
        }
        if let Some(after) = &page.starting_after {
            let mut seq_bindings = bindings.clone();
            seq_bindings.push(after.as_str().into());
            let seqs: Vec<Seq> = rows(
                self.sql,
                &format!("SELECT seq FROM {table} WHERE {filter} AND id = ?"),
                seq_bindings,
            )?;
            let seq = seqs.first().ok_or_else(|| {
                Error::invalid(vec![FieldError::new(
                    "starting_after",
                    "no object with this id in the list",
                )])
            })?;
            filter.push_str(if newest_first {
                " AND seq < ?"
            } else {
                " AND seq > ?"
            });
            bindings.push(seq.seq.into());
        }
        bindings.push((page.limit as i64 + 1).into());
        let order = if newest_first { "DESC" } else { "ASC" };
        let docs: Vec<Doc> = rows(
            self.sql,
            &format!("SELECT doc FROM {table} WHERE {filter} ORDER BY seq {order} LIMIT ?"),
            bindings,
        )?;
        let has_more = docs.len() > page.limit;
        let items = docs
            .iter()
            .take(page.limit)
            .map(|d| parse_doc(&d.doc))
            .collect::<Result<Vec<T>, Error>>()?;
        Ok((items, has_more))
    }
}

impl Store for SqlStore<'_> {
    fn account(&self, id: &str) -> Result<Option<Account>, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM accounts WHERE id = ?",
            vec![id.into()],
        )?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    fn accounts(&self, page: &PageParams) -> Result<(Vec<Account>, bool), Error> {
        self.page("accounts", Vec::new(), false, page)
    }

    fn entitlements(&self, account_id: &str) -> Result<Vec<Entitlement>, Error> {
        rows(
            self.sql,
            "SELECT * FROM entitlements WHERE account_id = ? ORDER BY product_id",
            vec![account_id.into()],
        )
    }

    fn entitlement_by_product_key(&self, token: &str) -> Result<Option<Entitlement>, Error> {
        let found: Vec<Entitlement> = rows(
            self.sql,
            "SELECT * FROM entitlements WHERE test_key = ? OR live_key = ?",
            vec![token.into(), token.into()],
        )?;
        Ok(found.into_iter().next())
    }

    fn key(&self, id: &str) -> Result<Option<StoredKey>, Error> {
        self.stored_key("id", id.to_string())
    }

    fn key_by_hash(&self, hash: &KeyHash) -> Result<Option<StoredKey>, Error> {
        self.stored_key("hash", hash.to_hex())
    }

    fn predecessor(&self, successor_id: &str) -> Result<Option<StoredKey>, Error> {
        self.stored_key("json_extract(doc, '$.rolled_to')", successor_id.to_string())
    }

    fn keys(&self, account_id: &str, page: &PageParams) -> Result<(Vec<ApiKey>, bool), Error> {
        self.page(
            "api_keys",
            vec![("account_id", account_id.into())],
            false,
            page,
        )
    }

    fn events(
        &self,
        account_id: &str,
        kind: Option<&str>,
        key_id: Option<&str>,
        page: &PageParams,
    ) -> Result<(Vec<Event>, bool), Error> {
        let mut filters: Vec<(&str, SqlStorageValue)> = vec![("account_id", account_id.into())];
        if let Some(kind) = kind {
            filters.push(("type", kind.into()));
        }
        if let Some(key_id) = key_id {
            filters.push(("key_id", key_id.into()));
        }
        self.page("events", filters, true, page)
    }

    fn usage(&self, key_id: &str) -> Result<Option<Usage>, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM usage WHERE key_id = ?",
            vec![key_id.into()],
        )?;
        docs.first().map(|d| parse_doc(&d.doc)).transpose()
    }

    fn denial(&self, request_id: &str) -> Result<Option<StoredDenial>, Error> {
        let found: Vec<StoredRefusal> = rows(
            self.sql,
            "SELECT doc, similar_not_stored FROM refusals WHERE request_id = ?",
            vec![request_id.into()],
        )?;
        found
            .first()
            .map(|row| {
                Ok(StoredDenial {
                    denial: parse_doc(&row.doc)?,
                    similar_not_stored: row.similar_not_stored.max(0) as u64,
                })
            })
            .transpose()
    }

    fn refusal_minute(
        &self,
        account_id: &str,
        key_id: &str,
        minute: i64,
    ) -> Result<RefusalMinute, Error> {
        let account: Vec<Count> = rows(
            self.sql,
            "SELECT COUNT(*) AS n FROM refusals WHERE account_id = ? AND minute = ?",
            vec![account_id.into(), minute.into()],
        )?;
        // At most the per-key cap of rows: the cap is what keeps this read small.
        let of_key: Vec<RefusalRow> = rows(
            self.sql,
            "SELECT request_id, status FROM refusals WHERE key_id = ? AND minute = ?
             ORDER BY seq",
            vec![key_id.into(), minute.into()],
        )?;
        Ok(RefusalMinute {
            account_stored: account.first().map_or(0, |c| c.n.max(0) as u64),
            key_stored: of_key.len() as u64,
            key_rate_limited: of_key
                .iter()
                .any(|r| r.status == i64::from(RATE_LIMITED_STATUS)),
            latest: of_key.last().map(|r| r.request_id.clone()),
        })
    }

    fn deliveries(&self, event_id: &str) -> Result<Option<webhook::Deliveries>, Error> {
        let queued: Vec<Queued> = rows(
            self.sql,
            "SELECT account_id, delivered_at, next_at FROM webhook_outbox WHERE event_id = ?",
            vec![event_id.into()],
        )?;
        let Some(queued) = queued.into_iter().next() else {
            return Ok(None);
        };
        let tried: Vec<Tried> = rows(
            self.sql,
            "SELECT at, status FROM webhook_attempts WHERE event_id = ? ORDER BY at, rowid",
            vec![event_id.into()],
        )?;
        Ok(Some(webhook::Deliveries {
            event_id: event_id.to_string(),
            account_id: queued.account_id,
            attempts: tried
                .into_iter()
                .map(|t| webhook::Attempt {
                    at: t.at,
                    status: t.status.and_then(|s| u16::try_from(s).ok()),
                })
                .collect(),
            delivered_at: queued.delivered_at,
            next_attempt_at: Some(queued.next_at),
        }))
    }

    fn would_deny_on(&self, key_id: &str, prefix: &str, day: i64) -> Result<bool, Error> {
        let start = day * WOULD_DENY_PERIOD_SECONDS;
        let found: Vec<Count> = rows(
            self.sql,
            "SELECT COUNT(*) AS n FROM events
             WHERE type = 'ip.would_deny' AND key_id = ?
               AND json_extract(doc, '$.data.after.prefix') = ?
               AND created_at >= ? AND created_at < ?",
            vec![
                key_id.into(),
                prefix.into(),
                start.into(),
                (start + WOULD_DENY_PERIOD_SECONDS).into(),
            ],
        )?;
        Ok(found.first().is_some_and(|c| c.n > 0))
    }

    fn key_count(&self, account_id: &str) -> Result<usize, Error> {
        let counted: Vec<Count> = rows(
            self.sql,
            "SELECT COUNT(*) AS n FROM api_keys WHERE account_id = ?",
            vec![account_id.into()],
        )?;
        Ok(counted.first().map_or(0, |c| c.n.max(0) as usize))
    }

    fn ledger(&self, account_id: &str) -> Result<Ledger, Error> {
        let docs: Vec<Doc> = rows(
            self.sql,
            "SELECT doc FROM quota_ledgers WHERE account_id = ?",
            vec![account_id.into()],
        )?;
        docs.first()
            .map_or_else(|| Ok(Ledger::default()), |d| parse_doc(&d.doc))
    }

    fn usage_rows(
        &self,
        account_id: &str,
        from: i64,
        to: i64,
        page: &PageParams,
    ) -> Result<(Vec<UsageRow>, bool), Error> {
        let mut filter = String::from("account_id = ? AND day >= ? AND day <= ?");
        let mut bindings: Vec<SqlStorageValue> = vec![account_id.into(), from.into(), to.into()];
        if let Some(after) = &page.starting_after {
            let cursor = UsageCursor::parse(after).ok_or_else(|| {
                Error::invalid(vec![FieldError::new(
                    "starting_after",
                    "must be the id of a usage row of the previous page",
                )])
            })?;
            filter.push_str(" AND (day, key_id, product, route) > (?, ?, ?, ?)");
            bindings.extend([
                cursor.day.into(),
                cursor.key_id.into(),
                cursor.product.into(),
                cursor.route.into(),
            ]);
        }
        bindings.push((page.limit as i64 + 1).into());
        let found: Vec<UsageDay> = rows(
            self.sql,
            &format!(
                "SELECT day, key_id, product, route, granted, refused, lapsed FROM usage_days
                 WHERE {filter} ORDER BY day, key_id, product, route LIMIT ?"
            ),
            bindings,
        )?;
        let has_more = found.len() > page.limit;
        Ok((
            found
                .into_iter()
                .take(page.limit)
                .map(UsageDay::into_row)
                .collect(),
            has_more,
        ))
    }
}

/// A usage row as stored: `product` and `route` are `''` where the lane has none.
#[derive(Deserialize)]
struct UsageDay {
    day: i64,
    key_id: String,
    product: String,
    route: String,
    granted: i64,
    refused: i64,
    lapsed: i64,
}

impl UsageDay {
    fn into_row(self) -> UsageRow {
        let some = |s: String| (!s.is_empty()).then_some(s);
        let count = |n: i64| u64::try_from(n).unwrap_or(0);
        UsageRow::new(
            &Lane {
                key_id: self.key_id,
                product: some(self.product),
                route: some(self.route),
                day: self.day,
            },
            Tally {
                granted: count(self.granted),
                refused: count(self.refused),
                lapsed: count(self.lapsed),
            },
        )
    }
}

/// A usage row's id (`UsageRow::id`: `YYYY-MM-DD/key/product/route`) read back as a position.
struct UsageCursor {
    day: i64,
    key_id: String,
    product: String,
    route: String,
}

impl UsageCursor {
    fn parse(id: &str) -> Option<Self> {
        let mut parts = id.splitn(4, '/');
        let day = parse_date("starting_after", parts.next()?).ok()?;
        Some(Self {
            day,
            key_id: parts.next()?.to_string(),
            product: parts.next()?.to_string(),
            route: parts.next()?.to_string(),
        })
    }
}
