//! The alarm's work: grace ends swept into revocations, and webhooks delivered outside the
//! lock, in order per account and lane (`keygate_core::webhook::lane`: security events first),
//! with doubling back-off.

use super::*;
use crate::random::PlatformRandom;
use crate::settings::{Vars, Webhooks};
use futures_util::future::{Either, join_all, select};
use keygate_core::Error;
use keygate_core::engine::{self, RandomMint};
use keygate_core::model::ApiKey;
use keygate_core::webhook;
use std::time::Duration;
use worker::{Delay, Fetch, Headers, Method, Request, RequestInit, RequestRedirect};

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

    /// Sets the alarm for the next grace period to end, unless one is set earlier.
    pub(super) async fn schedule_sweep(&self, now: i64) {
        let next: Result<Vec<Number>, Error> = rows(
            &self.sql(),
            "SELECT MIN(json_extract(doc, '$.revoke_at')) AS n FROM api_keys
             WHERE json_extract(doc, '$.revoke_at') > ?
                OR (json_extract(doc, '$.revoke_at') <= ?
                    AND id NOT IN (SELECT key_id FROM events WHERE type = 'key.revoked'))",
            vec![now.into(), now.into()],
        );
        let Some(at) = next.ok().and_then(|rows| rows.first().and_then(|r| r.n)) else {
            return;
        };
        let at_ms = at.max(now) * 1000;
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        if current.is_none_or(|set| set > at_ms) {
            // `set_alarm` takes an offset from now.
            let now_ms = worker::Date::now().as_millis() as i64;
            let _ = storage.set_alarm((at_ms - now_ms).max(1)).await;
        }
    }

    /// Where events are delivered, when `WEBHOOK_URL` and `WEBHOOK_SIGNING_SECRET` are set.
    pub(super) fn webhooks(&self) -> Option<&'static Webhooks> {
        Vars::get(&self.env).webhooks.as_ref()
    }

    /// Sets the alarm for `at` (unix seconds) unless one is set earlier.
    pub(super) async fn wake_at(&self, at: i64) {
        let storage = self.state.storage();
        let current = storage.get_alarm().await.ok().flatten();
        let at_ms = at * 1000;
        if current.is_none_or(|set| set > at_ms) {
            let now_ms = worker::Date::now().as_millis() as i64;
            let _ = storage.set_alarm((at_ms - now_ms).max(1)).await;
        }
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
        let next: Result<Vec<Number>, Error> = rows(
            &sql,
            "SELECT MIN(next_at) AS n FROM webhook_outbox WHERE delivered_at IS NULL",
            Vec::new(),
        );
        if let Some(at) = next.ok().and_then(|rows| rows.first().and_then(|r| r.n)) {
            self.wake_at(at).await;
        }
    }

    pub(super) async fn retry_later(&self, ms: i64) {
        let _ = self.state.storage().set_alarm(ms.max(1)).await;
    }
}

/// Rounds of deliveries per alarm before it yields (the next alarm goes on).
pub(super) const WEBHOOK_ROUNDS: usize = 10;

/// Deliveries per round, one per account, sent at once.
pub(super) const WEBHOOK_BATCH: usize = 10;

pub(super) const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// POSTs one event, signed; the receiver's status, or `None` if it could not be reached in time.
pub(super) async fn post_webhook(url: &str, secret: &str, now: i64, body: &str) -> Option<u16> {
    let headers = Headers::new();
    headers.set("Content-Type", "application/json").ok()?;
    headers
        .set(
            "Keygate-Signature",
            &webhook::signature(secret.as_bytes(), now, body),
        )
        .ok()?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_headers(headers)
        .with_body(Some(body.into()))
        .with_redirect(RequestRedirect::Manual);
    let request = Request::new_with_init(url, &init).ok()?;
    let fetch = Fetch::Request(request);
    let sent = Box::pin(fetch.send());
    let deadline = Box::pin(Delay::from(WEBHOOK_TIMEOUT));
    match select(sent, deadline).await {
        Either::Left((Ok(response), _)) => Some(response.status_code()),
        _ => None,
    }
}
