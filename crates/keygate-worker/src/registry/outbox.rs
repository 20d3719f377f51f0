//! Write-through of changed edge records: to the revocation log before the answer, and to
//! KV in bounded batches (docs/storage.md).

use super::*;
use crate::keystore::{self, EdgeUpdate, KV_BINDING};
use crate::revocations;
use keygate_core::Error;
use keygate_core::engine::{self, EdgeScope, Store, Write};
use keygate_core::keys::KeyHash;

/// A row of `revocation_outbox`: one command's changes, for one copy of the log.
#[derive(serde::Deserialize)]
struct PendingAppend {
    seq: i64,
    body: String,
    copy: u8,
}

impl Registry {
    /// Appends a command's changed edge records to every copy of the revocation log before
    /// the command is answered, so every isolate refuses a revoked key within a second of the
    /// answer. What a copy could not take waits in `revocation_outbox`, one row per copy
    /// (retried first, in order per copy, by the next command and by the alarm); the change
    /// itself is committed either way.
    pub(super) async fn publish(&self, edge: &[EdgeUpdate]) -> Result<(), Error> {
        let body = serde_json::to_string(edge).map_err(|_| Error::internal())?;
        let sql = self.sql();
        for copy in revocations::copies() {
            exec(
                &sql,
                "INSERT INTO revocation_outbox (body, copy) VALUES (?, ?)",
                vec![body.clone().into(), i64::from(copy).into()],
            )?;
        }
        self.publish_outbox().await;
        Ok(())
    }

    pub(super) async fn publish_outbox(&self) {
        let sql = self.sql();
        let Ok(pending) = rows::<PendingAppend>(
            &sql,
            "SELECT seq, body, copy FROM revocation_outbox ORDER BY seq",
            Vec::new(),
        ) else {
            return;
        };
        // A copy that fails keeps its later rows too (its order is its isolates' order); the
        // other copies go on.
        let mut failed: Vec<u8> = Vec::new();
        for entry in pending {
            if failed.contains(&entry.copy) {
                continue;
            }
            if revocations::append(&self.env, entry.copy, entry.body)
                .await
                .is_err()
            {
                failed.push(entry.copy);
                continue;
            }
            let _ = exec(
                &sql,
                "DELETE FROM revocation_outbox WHERE seq = ?",
                vec![entry.seq.into()],
            );
        }
        if !failed.is_empty() {
            self.retry_later(OUTBOX_RETRY_MS).await;
        }
    }

    /// What the calling isolate should know at once: each written key's record, and each
    /// account-wide change as one entry (not one per key of the account).
    pub(super) fn edge_updates(&self, writes: &[Write]) -> Result<Vec<EdgeUpdate>, Error> {
        let sql = self.sql();
        let store = SqlStore::new(&sql);
        let mut updates = Vec::new();
        for write in writes {
            let Some(scope) = write.edge_scope() else {
                continue;
            };
            match scope {
                EdgeScope::Key(hash) => {
                    let record = match store.key_by_hash(hash)? {
                        Some(stored) => engine::edge_record(&store, &stored)?,
                        None => None,
                    };
                    updates.push(EdgeUpdate::Key {
                        hash: *hash,
                        record: record.map(Box::new),
                    });
                }
                EdgeScope::Account(account_id) => {
                    let update = EdgeUpdate::account(
                        account_id,
                        store.account(account_id)?,
                        &store.entitlements(account_id)?,
                    );
                    if !updates.contains(&update) {
                        updates.push(update);
                    }
                }
            }
        }
        Ok(updates)
    }

    /// Writes the queued edge records through to KV: `own` first (the command's keys), then at
    /// most [`FLUSH_BATCH`] of the backlog; an alarm takes the rest, a batch per turn.
    pub(super) async fn flush(&self, own: &[KeyHash]) {
        let sql = self.sql();
        let store = SqlStore::new(&sql);
        let Ok(backlog) = rows::<HashRow>(
            &sql,
            "SELECT hash FROM kv_outbox LIMIT ?",
            vec![(own.len() + FLUSH_BATCH + 1) as i64]
                .into_iter()
                .map(Into::into)
                .collect(),
        ) else {
            self.retry_later(OUTBOX_RETRY_MS).await;
            return;
        };
        let mut batch: Vec<KeyHash> = own.to_vec();
        for row in &backlog {
            if let Some(hash) = KeyHash::from_hex(&row.hash)
                && !batch.contains(&hash)
                && batch.len() < own.len() + FLUSH_BATCH
            {
                batch.push(hash);
            }
        }
        let more = backlog.len() > batch.len();
        if batch.is_empty() {
            return;
        }
        let Ok(kv) = self.env.kv(KV_BINDING) else {
            self.retry_later(OUTBOX_RETRY_MS).await;
            return;
        };
        let mut failed = false;
        for hash in batch {
            let record = match store.key_by_hash(&hash) {
                Ok(Some(stored)) => engine::edge_record(&store, &stored),
                Ok(None) => Ok(None),
                Err(error) => Err(error),
            };
            let Ok(record) = record else {
                failed = true;
                continue;
            };
            let kv_key = keystore::kv_key(&hash);
            let written = match &record {
                Some(record) => match serde_json::to_string(record) {
                    Ok(text) => match kv.put(&kv_key, text) {
                        Ok(put) => put.execute().await.is_ok(),
                        Err(_) => false,
                    },
                    Err(_) => false,
                },
                None => kv.delete(&kv_key).await.is_ok(),
            };
            if written {
                let _ = exec(
                    &sql,
                    "DELETE FROM kv_outbox WHERE hash = ?",
                    vec![hash.to_hex().into()],
                );
            } else {
                failed = true;
            }
        }
        if failed {
            self.retry_later(OUTBOX_RETRY_MS).await;
        } else if more {
            // Let waiting commands take the lock, then go on.
            self.retry_later(0).await;
        }
    }
}
