//! The alarm's work: grace ends swept into revocations, and webhooks delivered outside the
//! lock, in order per account and lane (`keygate_core::webhook::lane`: security events first),
//! with doubling back-off; and [`Registry::arm`], which sets the alarm for what is left.

use super::*;
use crate::random::PlatformRandom;
use crate::settings::{Vars, Webhooks};
use futures_util::future::join_all;
use keygate_core::Error;
use keygate_core::engine::{self, RandomMint};
use keygate_core::model::ApiKey;
use keygate_core::{wake, webhook};
use std::time::Duration;
use worker::ScheduledTime;

impl Registry {
    /// Records `key.revoked` for every key whose grace period (after a roll or a leak report)
    /// ended and that has no such event yet: the edge refused it from that second on, and the
    /// account should see it happen, not only when someone looks.
    pub(super) fn sweep_grace_ends(&self, now: i64, webhooks: bool) -> Result<(), Error> {
        let sql = self.sql();
        let due: Vec<Doc> = rows(
            &sql,
            "SELECT doc FROM api_keys
             WHERE json_extract(doc, '$.revoke_at') <= ?
               AND id NOT IN (SELECT key_id FROM events WHERE type = 'key.revoked')
             LIMIT 100",
            vec![now.into()],
        )?;
        let mut events = Vec::with_capacity(due.len());
        for doc in due {
            let key: ApiKey = parse_doc(&doc.doc)?;
            events.push(engine::grace_ended(&key, &mut RandomMint(&PlatformRandom))?);
        }
        record(&sql, &events, now, webhooks)
    }

    /// Sets the alarm for the earliest of what is pending (`keygate_core::wake`): the next
    /// webhook delivery due, the next grace period to end, the outboxes' retry. Called after
    /// every command's transaction, at the end of every alarm run, and when an outbox asks for a
    /// retry; it sets the alarm to the time decided every time, even later than the one it
    /// replaces, and never reads the alarm back: under workerd the alarm read back can be one
    /// its alarm manager will not fire (the manager lags behind storage), and a wake-up skipped
    /// on its word was lost with a `key.leaked` queued behind it. Setting it afresh also
    /// repairs such a loss at the next command or alarm run.
    pub(super) async fn arm(&self) {
        let now_ms = worker::Date::now().as_millis() as i64;
        let now = now_ms / 1000;
        // A table that cannot be read counts as work due after the outbox retry interval.
        let unknown = now + OUTBOX_RETRY_MS / 1000;
        let pending = wake::Pending {
            webhook_at: self.next_delivery().unwrap_or(Some(unknown)),
            grace_end_at: self.next_grace_end(now).unwrap_or(Some(unknown)),
            outbox_retry_at_ms: self.outbox_retry_at(now_ms),
        };
        let Some(at) = wake::alarm_at(now_ms, &pending) else {
            return;
        };
        let at = ScheduledTime::new(js_sys::Date::new(&JsValue::from_f64(at as f64)));
        if let Err(error) = self.state.storage().set_alarm(at).await {
            worker::console_error!("alarm not set: {error}");
        }
    }

    /// The next webhook delivery due (`keygate_core::webhook::next_attempt` over the heads of
    /// the accounts), if webhooks are configured.
    fn next_delivery(&self) -> Result<Option<i64>, Error> {
        if self.webhooks().is_none() {
            return Ok(None);
        }
        let heads: Vec<Head> = rows(
            &self.sql(),
            "SELECT w.account_id AS account_id, w.lane AS lane, w.seq AS seq, w.next_at AS next_at
             FROM webhook_outbox w
             WHERE w.delivered_at IS NULL
               AND w.seq = (SELECT seq FROM webhook_outbox
                            WHERE account_id = w.account_id AND delivered_at IS NULL
                            ORDER BY lane, seq LIMIT 1)",
            Vec::new(),
        )?;
        Ok(webhook::next_attempt(heads.iter().map(|head| {
            webhook::Undelivered {
                account_id: &head.account_id,
                lane: u8::try_from(head.lane).unwrap_or(u8::MAX),
                seq: head.seq,
                next_at: head.next_at,
            }
        })))
    }

    /// The earliest grace period to end that has no `key.revoked` yet (in the past when the
    /// last sweep left some for the next run).
    fn next_grace_end(&self, now: i64) -> Result<Option<i64>, Error> {
        let next: Vec<Number> = rows(
            &self.sql(),
            "SELECT MIN(json_extract(doc, '$.revoke_at')) AS n FROM api_keys
             WHERE json_extract(doc, '$.revoke_at') > ?
                OR (json_extract(doc, '$.revoke_at') <= ?
                    AND id NOT IN (SELECT key_id FROM events WHERE type = 'key.revoked'))",
            vec![now.into(), now.into()],
        )?;
        Ok(next.first().and_then(|row| row.n))
    }

    /// When the outboxes are to be tried again: what [`Self::retry_later`] asked for, or, when
    /// this instance asked nothing (it may be new) but rows wait, after the retry interval.
    fn outbox_retry_at(&self, now_ms: i64) -> Option<i64> {
        if let Some(at) = self.retry_at.get() {
            return Some(at);
        }
        let waiting: Vec<Count> = rows(
            &self.sql(),
            "SELECT (EXISTS (SELECT 1 FROM kv_outbox)
                     OR EXISTS (SELECT 1 FROM revocation_outbox)
                     OR EXISTS (SELECT 1 FROM directory_outbox)) AS n",
            Vec::new(),
        )
        .unwrap_or_default();
        waiting
            .first()
            .is_none_or(|row| row.n != 0)
            .then_some(now_ms + OUTBOX_RETRY_MS)
    }

    /// Where events are delivered, when `WEBHOOK_URL` and `WEBHOOK_SIGNING_SECRET` are set.
    pub(super) fn webhooks(&self) -> Option<&'static Webhooks> {
        Vars::get(&self.env).webhooks.as_ref()
    }

    /// POSTs due events in rounds. Each round takes the head of every account, the oldest
    /// undelivered event of its security lane if it has one, else of its routine lane, so an
    /// account's events arrive in order within each lane and a security event overtakes only
    /// routine ones: a failed head holds back that account's later events until it is
    /// acknowledged. A round's posts (one per account, at most [`WEBHOOK_BATCH`]) run at once,
    /// each cut off after [`WEBHOOK_TIMEOUT`], security heads first; every round reads the
    /// queue afresh, so a security event queued meanwhile waits at most for the round in
    /// flight. Failures are retried with exponential backoff (`webhook::backoff`), for as long
    /// as it takes.
    pub(super) async fn deliver_webhooks(&self) {
        let Some(Webhooks {
            url,
            secret,
            first_retry_seconds: base,
        }) = self.webhooks()
        else {
            return;
        };
        let sql = self.sql();
        for _ in 0..WEBHOOK_ROUNDS {
            let now = (worker::Date::now().as_millis() / 1000) as i64;
            let Ok(due) = rows::<Pending>(
                &sql,
                "SELECT w.seq AS seq, w.event_id AS event_id, w.body AS body, w.attempts AS attempts
                 FROM webhook_outbox w
                 WHERE w.delivered_at IS NULL AND w.next_at <= ?
                   AND w.seq = (SELECT seq FROM webhook_outbox
                                WHERE account_id = w.account_id AND delivered_at IS NULL
                                ORDER BY lane, seq LIMIT 1)
                 ORDER BY w.lane, w.seq LIMIT ?",
                vec![now.into(), (WEBHOOK_BATCH as i64).into()],
            ) else {
                return;
            };
            if due.is_empty() {
                break;
            }
            let posted = join_all(
                due.iter()
                    .map(|entry| post_webhook(url, secret, now, &entry.body)),
            )
            .await;
            for (entry, status) in due.into_iter().zip(posted) {
                let attempts = entry.attempts.unwrap_or(0) + 1;
                let delivered = status.is_some_and(|s| (200..300).contains(&s));
                let next = now + webhook::backoff(attempts as u32, *base);
                let _ = exec(
                    &sql,
                    "UPDATE webhook_outbox SET attempts = ?, last_status = ?,
                       delivered_at = CASE WHEN ? THEN ? ELSE NULL END, next_at = ?
                     WHERE seq = ?",
                    vec![
                        attempts.into(),
                        status.map(i64::from).into(),
                        i64::from(delivered).into(),
                        now.into(),
                        next.into(),
                        entry.seq.into(),
                    ],
                );
                let _ = exec(
                    &sql,
                    "INSERT INTO webhook_attempts (event_id, at, status) VALUES (?, ?, ?)",
                    vec![
                        entry.event_id.as_deref().unwrap_or_default().into(),
                        now.into(),
                        status.map(i64::from).into(),
                    ],
                );
            }
        }
    }

    /// Asks for the outboxes to be tried again within `ms` (0: as soon as waiting commands
    /// have had the lock), keeping an earlier request, and sets the alarm accordingly.
    pub(super) async fn retry_later(&self, ms: i64) {
        let at = worker::Date::now().as_millis() as i64 + ms.max(0);
        let earliest = self.retry_at.get().map_or(at, |asked| asked.min(at));
        self.retry_at.set(Some(earliest));
        self.arm().await;
    }
}

/// Rounds of deliveries per alarm before it yields (the next alarm goes on).
pub(super) const WEBHOOK_ROUNDS: usize = 10;

/// Deliveries per round, one per account, sent at once.
pub(super) const WEBHOOK_BATCH: usize = 10;

pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs one event, signed; the receiver's status, or `None` if it could not be reached in time.
pub(super) async fn post_webhook(url: &str, secret: &str, now: i64, body: &str) -> Option<u16> {
    let signature = webhook::signature(secret.as_bytes(), now, body);
    crate::webhooks::post_signed(url, &signature, body, WEBHOOK_TIMEOUT).await
}
