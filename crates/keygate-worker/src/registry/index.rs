//! What the directory must learn of committed commands (`keygate_core::shard::index_changes`):
//! queued in `directory_outbox` by the command's own transaction, so nothing committed goes
//! unindexed, and sent in order before the command is answered; the alarm retries what failed.

use super::*;
use keygate_core::engine::{Event, Store, Write, account_view};
use keygate_core::shard::IndexChange;

/// Queues the directory changes of `writes` and `events`, inside their transaction (the views
/// are read after the writes).
pub(super) fn queue(
    sql: &SqlStorage,
    writes: &[Write],
    events: &[Event],
    webhooks: bool,
) -> Result<(), Error> {
    let store = SqlStore::new(sql);
    let changes = keygate_core::shard::index_changes(writes, events, webhooks, |account_id| {
        let account = store.account(account_id)?.ok_or_else(Error::internal)?;
        account_view(&account, &store.entitlements(account_id)?)
    })?;
    if changes.is_empty() {
        return Ok(());
    }
    exec(
        sql,
        "INSERT INTO directory_outbox (body) VALUES (?)",
        vec![to_doc(&changes)?.into()],
    )
}

#[derive(serde::Deserialize)]
struct PendingIndex {
    seq: i64,
    body: String,
}

/// Rows sent per call: the directory applies each call in one turn.
const INDEX_BATCH: i64 = 50;

impl Registry {
    /// Sends the queued directory changes, oldest first, a batch at a time; stops at the
    /// first failure (order matters: a key deleted after it was created), to be retried.
    pub(super) async fn push_index(&self) {
        let sql = self.sql();
        loop {
            let Ok(pending) = rows::<PendingIndex>(
                &sql,
                "SELECT seq, body FROM directory_outbox ORDER BY seq LIMIT ?",
                vec![INDEX_BATCH.into()],
            ) else {
                self.retry_later(OUTBOX_RETRY_MS).await;
                return;
            };
            let Some(last) = pending.last().map(|row| row.seq) else {
                return;
            };
            let mut changes: Vec<IndexChange> = Vec::new();
            for row in &pending {
                match parse_doc::<Vec<IndexChange>>(&row.body) {
                    Ok(more) => changes.extend(more),
                    // Unreadable (written by another version): dropped, not retried forever.
                    Err(_) => worker::console_error!("directory outbox row {} unreadable", row.seq),
                }
            }
            if crate::directory::index(&self.env, changes).await.is_err() {
                self.retry_later(OUTBOX_RETRY_MS).await;
                return;
            }
            let _ = exec(
                &sql,
                "DELETE FROM directory_outbox WHERE seq <= ?",
                vec![last.into()],
            );
            if (pending.len() as i64) < INDEX_BATCH {
                return;
            }
        }
    }
}
