//! The Registry's SQLite tables, and how the engine's writes and events land in them.

use super::*;
use crate::revocations;
use keygate_core::Error;
use keygate_core::engine::{
    DENIAL_RETENTION_SECONDS, EVENT_RETENTION_SECONDS, EdgeScope, Event, USAGE_RETENTION_SECONDS,
    Write, minute_of, parse_date,
};
use keygate_core::webhook;
use worker::SqlStorage;

impl Registry {
    pub(super) fn ensure_schema(&self) -> Result<(), Error> {
        if self.schema_ready.get() {
            return Ok(());
        }
        let sql = self.sql();
        for statement in [
            "CREATE TABLE IF NOT EXISTS accounts (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS api_keys (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
                hash TEXT NOT NULL UNIQUE, doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS api_keys_by_account ON api_keys (account_id, seq)",
            "CREATE TABLE IF NOT EXISTS entitlements (
                account_id TEXT NOT NULL, product_id TEXT NOT NULL, test_key TEXT NOT NULL,
                live_key TEXT, created_at INTEGER NOT NULL, PRIMARY KEY (account_id, product_id))",
            "CREATE TABLE IF NOT EXISTS kv_outbox (hash TEXT PRIMARY KEY)",
            // What the directory must learn of committed commands, in order (docs/sharding.md).
            "CREATE TABLE IF NOT EXISTS directory_outbox (
                seq INTEGER PRIMARY KEY, body TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS revocation_outbox (
                seq INTEGER PRIMARY KEY, body TEXT NOT NULL, copy INTEGER NOT NULL DEFAULT 0)",
            "CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, account_id TEXT NOT NULL,
                key_id TEXT, type TEXT NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS events_by_account ON events (account_id, seq)",
            "CREATE INDEX IF NOT EXISTS events_by_time ON events (created_at)",
            "CREATE INDEX IF NOT EXISTS events_by_key ON events (key_id, type, created_at)",
            // One `ip.would_deny` per key, address block and UTC day: found by its block.
            "CREATE INDEX IF NOT EXISTS events_would_deny
                ON events (key_id, json_extract(doc, '$.data.after.prefix'), created_at)
                WHERE type = 'ip.would_deny'",
            "CREATE TABLE IF NOT EXISTS usage (key_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
            // Usage plans (docs/quotas.md): the ledger, and the rows the export reads.
            "CREATE TABLE IF NOT EXISTS quota_ledgers (account_id TEXT PRIMARY KEY, doc TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS usage_days (
                account_id TEXT NOT NULL, day INTEGER NOT NULL, key_id TEXT NOT NULL,
                product TEXT NOT NULL, route TEXT NOT NULL, granted INTEGER NOT NULL,
                refused INTEGER NOT NULL, lapsed INTEGER NOT NULL,
                PRIMARY KEY (account_id, day, key_id, product, route))",
            // Refusal records are diagnostics kept 7 days: the unbounded `denials` table of
            // earlier versions is dropped, not migrated (docs/storage.md "Migrations").
            "DROP TABLE IF EXISTS denials",
            "CREATE TABLE IF NOT EXISTS refusals (
                seq INTEGER PRIMARY KEY, request_id TEXT NOT NULL UNIQUE,
                account_id TEXT NOT NULL, key_id TEXT NOT NULL, minute INTEGER NOT NULL,
                status INTEGER NOT NULL, at INTEGER NOT NULL,
                similar_not_stored INTEGER NOT NULL DEFAULT 0, doc TEXT NOT NULL)",
            "CREATE INDEX IF NOT EXISTS refusals_by_key ON refusals (key_id, minute, seq)",
            "CREATE INDEX IF NOT EXISTS refusals_by_account ON refusals (account_id, minute)",
            "CREATE INDEX IF NOT EXISTS refusals_by_time ON refusals (at)",
            "CREATE TABLE IF NOT EXISTS webhook_outbox (
                seq INTEGER PRIMARY KEY, event_id TEXT NOT NULL, account_id TEXT NOT NULL,
                body TEXT NOT NULL, attempts INTEGER NOT NULL, next_at INTEGER NOT NULL,
                delivered_at INTEGER, last_status INTEGER, lane INTEGER NOT NULL DEFAULT 1)",
            "CREATE INDEX IF NOT EXISTS webhook_by_event ON webhook_outbox (event_id)",
            "CREATE TABLE IF NOT EXISTS webhook_attempts (
                event_id TEXT NOT NULL, at INTEGER NOT NULL, status INTEGER)",
            "CREATE INDEX IF NOT EXISTS webhook_attempts_by_event ON webhook_attempts (event_id, at)",
        ] {
            exec(&sql, statement, Vec::new())?;
        }
        // A `webhook_outbox` of an earlier version has no `lane`: its pending rows become
        // routine (lane 1), in their order (docs/storage.md "Migrations").
        let lane: Vec<Count> = rows(
            &sql,
            "SELECT COUNT(*) AS n FROM pragma_table_info('webhook_outbox') WHERE name = 'lane'",
            Vec::new(),
        )?;
        if lane.first().is_none_or(|c| c.n == 0) {
            exec(
                &sql,
                "ALTER TABLE webhook_outbox ADD COLUMN lane INTEGER NOT NULL DEFAULT 1",
                Vec::new(),
            )?;
        }
        // A `revocation_outbox` of an earlier version has no `copy`: it fed the one log, which
        // is copy 0; its pending rows are queued for the other copies too, in their order.
        let copies: Vec<Count> = rows(
            &sql,
            "SELECT COUNT(*) AS n FROM pragma_table_info('revocation_outbox') WHERE name = 'copy'",
            Vec::new(),
        )?;
        if copies.first().is_none_or(|c| c.n == 0) {
            exec(
                &sql,
                "ALTER TABLE revocation_outbox ADD COLUMN copy INTEGER NOT NULL DEFAULT 0",
                Vec::new(),
            )?;
            for copy in revocations::copies().skip(1) {
                exec(
                    &sql,
                    "INSERT INTO revocation_outbox (body, copy)
                        SELECT body, ? FROM revocation_outbox WHERE copy = 0 ORDER BY seq",
                    vec![i64::from(copy).into()],
                )?;
            }
        }
        for statement in [
            "DROP INDEX IF EXISTS webhook_pending",
            "CREATE INDEX IF NOT EXISTS webhook_lanes
                ON webhook_outbox (account_id, delivered_at, lane, seq)",
        ] {
            exec(&sql, statement, Vec::new())?;
        }
        self.schema_ready.set(true);
        Ok(())
    }
}

/// Applies the writes and queues what they change at the edge; with `fail_after`, fails after
/// that many writes (the atomicity test).
pub(super) fn apply(
    sql: &SqlStorage,
    writes: &[Write],
    fail_after: Option<usize>,
) -> Result<(), Error> {
    for (done, write) in writes.iter().enumerate() {
        if fail_after == Some(done) {
            return Err(Error::unavailable(
                "Injected failure (KEYGATE_TEST_FAIL_AFTER_WRITES): nothing was changed.",
            ));
        }
        match write {
            Write::PutAccount(account) => exec(
                sql,
                "INSERT INTO accounts (id, doc) VALUES (?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                vec![account.id.as_str().into(), to_doc(account)?.into()],
            )?,
            Write::PutEntitlement(e) => exec(
                sql,
                "INSERT INTO entitlements (account_id, product_id, test_key, live_key, created_at)
                 VALUES (?, ?, ?, ?, ?)
                 ON CONFLICT (account_id, product_id) DO UPDATE SET
                   test_key = excluded.test_key, live_key = excluded.live_key",
                vec![
                    e.account_id.as_str().into(),
                    e.product_id.as_str().into(),
                    e.test_key.as_str().into(),
                    e.live_key.clone().into(),
                    e.created_at.into(),
                ],
            )?,
            Write::DeleteEntitlement {
                account_id,
                product_id,
            } => exec(
                sql,
                "DELETE FROM entitlements WHERE account_id = ? AND product_id = ?",
                vec![account_id.as_str().into(), product_id.as_str().into()],
            )?,
            Write::PutKey(stored) => exec(
                sql,
                "INSERT INTO api_keys (id, account_id, hash, doc) VALUES (?, ?, ?, ?)
                 ON CONFLICT (id) DO UPDATE SET doc = excluded.doc",
                vec![
                    stored.key.id.as_str().into(),
                    stored.key.account_id.as_str().into(),
                    stored.hash.to_hex().into(),
                    to_doc(&stored.key)?.into(),
                ],
            )?,
            Write::DeleteKey(stored) => {
                exec(
                    sql,
                    "DELETE FROM api_keys WHERE id = ?",
                    vec![stored.key.id.as_str().into()],
                )?;
                exec(
                    sql,
                    "DELETE FROM usage WHERE key_id = ?",
                    vec![stored.key.id.as_str().into()],
                )?
            }
            Write::PutLedger { account_id, ledger } => exec(
                sql,
                "INSERT INTO quota_ledgers (account_id, doc) VALUES (?, ?)
                 ON CONFLICT (account_id) DO UPDATE SET doc = excluded.doc",
                vec![account_id.as_str().into(), to_doc(ledger)?.into()],
            )?,
            Write::AddUsage { account_id, row } => {
                let day = parse_date("date", &row.date).map_err(|_| Error::internal())?;
                let amount = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                exec(
                    sql,
                    "INSERT INTO usage_days
                       (account_id, day, key_id, product, route, granted, refused, lapsed)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                     ON CONFLICT (account_id, day, key_id, product, route) DO UPDATE SET
                       granted = granted + excluded.granted,
                       refused = refused + excluded.refused,
                       lapsed = lapsed + excluded.lapsed",
                    vec![
                        account_id.as_str().into(),
                        day.into(),
                        row.key_id.as_str().into(),
                        row.product.clone().unwrap_or_default().into(),
                        row.route.clone().unwrap_or_default().into(),
                        amount(row.granted).into(),
                        amount(row.refused).into(),
                        amount(row.lapsed).into(),
                    ],
                )?;
                // The export reaches back USAGE_RETENTION_SECONDS; older rows go as new ones come.
                exec(
                    sql,
                    "DELETE FROM usage_days WHERE account_id = ? AND day < ?",
                    vec![
                        account_id.as_str().into(),
                        (day - USAGE_RETENTION_SECONDS).into(),
                    ],
                )?
            }
            Write::PutUsage { key_id, usage } => exec(
                sql,
                "INSERT INTO usage (key_id, doc) VALUES (?, ?)
                 ON CONFLICT (key_id) DO UPDATE SET doc = excluded.doc",
                vec![key_id.as_str().into(), to_doc(usage)?.into()],
            )?,
            Write::PutDenial(denial) => {
                exec(
                    sql,
                    "INSERT OR IGNORE INTO refusals
                       (request_id, account_id, key_id, minute, status, at, doc)
                     VALUES (?, ?, ?, ?, ?, ?, ?)",
                    vec![
                        denial.request_id.as_str().into(),
                        denial.account_id.as_str().into(),
                        denial.key_id.as_str().into(),
                        minute_of(denial.at).into(),
                        i64::from(denial.status).into(),
                        denial.at.into(),
                        to_doc(denial)?.into(),
                    ],
                )?;
                exec(
                    sql,
                    "DELETE FROM refusals WHERE at < ?",
                    vec![(denial.at - DENIAL_RETENTION_SECONDS).into()],
                )?
            }
            Write::CountSimilar { request_id, more } => exec(
                sql,
                "UPDATE refusals SET similar_not_stored = similar_not_stored + ?
                 WHERE request_id = ?",
                vec![
                    i64::try_from(*more).unwrap_or(i64::MAX).into(),
                    request_id.as_str().into(),
                ],
            )?,
        };
        match write.edge_scope() {
            Some(EdgeScope::Key(hash)) => exec(
                sql,
                "INSERT OR IGNORE INTO kv_outbox (hash) VALUES (?)",
                vec![hash.to_hex().into()],
            )?,
            // Every key of the account carries a copy of the account and its product keys.
            Some(EdgeScope::Account(account_id)) => exec(
                sql,
                "INSERT OR IGNORE INTO kv_outbox (hash)
                 SELECT hash FROM api_keys WHERE account_id = ?",
                vec![account_id.into()],
            )?,
            None => {}
        };
    }
    Ok(())
}

/// Stores a command's events (and, with webhooks configured, queues each for delivery) and
/// prunes those past [`EVENT_RETENTION_SECONDS`].
pub(super) fn record(
    sql: &SqlStorage,
    events: &[Event],
    now: i64,
    webhooks: bool,
) -> Result<(), Error> {
    for event in events {
        exec(
            sql,
            "INSERT INTO events (id, account_id, key_id, type, created_at, doc)
             VALUES (?, ?, ?, ?, ?, ?)",
            vec![
                event.id.as_str().into(),
                event.account_id.as_str().into(),
                event.key_id.clone().into(),
                event.kind.as_str().into(),
                event.created_at.into(),
                to_doc(event)?.into(),
            ],
        )?;
        if webhooks {
            let lane = webhook::lane(&event.kind);
            // A security event about a key takes that key's earlier pending `key.*` events
            // into its lane, ahead of it: one key's events are never reordered.
            if let (0, Some(key_id)) = (lane, &event.key_id) {
                let pending: Vec<Routine> = rows(
                    sql,
                    "SELECT seq, json_extract(body, '$.type') AS kind FROM webhook_outbox
                     WHERE account_id = ? AND delivered_at IS NULL AND lane <> 0
                       AND json_extract(body, '$.key_id') = ?",
                    vec![event.account_id.as_str().into(), key_id.as_str().into()],
                )?;
                for row in pending.iter().filter(|r| webhook::promotes(&r.kind)) {
                    exec(
                        sql,
                        "UPDATE webhook_outbox SET lane = 0 WHERE seq = ?",
                        vec![row.seq.into()],
                    )?;
                }
            }
            exec(
                sql,
                "INSERT INTO webhook_outbox (event_id, account_id, body, attempts, next_at, lane)
                 VALUES (?, ?, ?, 0, ?, ?)",
                vec![
                    event.id.as_str().into(),
                    event.account_id.as_str().into(),
                    to_doc(event)?.into(),
                    now.into(),
                    i64::from(lane).into(),
                ],
            )?;
        }
    }
    if !events.is_empty() {
        let before = now - EVENT_RETENTION_SECONDS;
        exec(
            sql,
            "DELETE FROM events WHERE created_at < ?",
            vec![before.into()],
        )?;
        exec(
            sql,
            "DELETE FROM webhook_outbox WHERE delivered_at < ?",
            vec![before.into()],
        )?;
        exec(
            sql,
            "DELETE FROM webhook_attempts WHERE at < ?
               AND event_id NOT IN (SELECT event_id FROM webhook_outbox)",
            vec![before.into()],
        )?;
    }
    Ok(())
}
