//! When the Registry's alarm must next go off.
//!
//! The Registry's alarm does its deferred work: webhook deliveries, grace periods that end
//! (recorded as `key.revoked`), and the write-through outboxes when KV or the revocation log
//! failed. [`alarm_at`] decides its time from what is pending. The Registry sets the alarm to
//! that time after every command and at the end of every alarm run, as decided, even when that
//! moves it later, and not only when the alarm it reads back is later than needed: the value
//! read back says what storage holds, not what will fire (under workerd the alarm manager can
//! lag behind storage, and during an alarm run storage shows no alarm at all), and a wake-up
//! skipped on its word is lost until something else sets the alarm again. Setting it afresh
//! each time also repairs such a loss at the next command or alarm run.

/// What the Registry has left to do, each by when.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// The next webhook delivery due ([`crate::webhook::next_attempt`]), unix seconds.
    pub webhook_at: Option<i64>,
    /// The earliest grace period to end that is not yet recorded as revoked, unix seconds; in
    /// the past when a sweep left some for the next run.
    pub grace_end_at: Option<i64>,
    /// When the write-through outboxes are to be tried again, unix milliseconds.
    pub outbox_retry_at_ms: Option<i64>,
}

/// The time to set the alarm to, unix milliseconds: the earliest of `pending`, and at least 1 ms
/// after `now_ms` (a time already past runs at once; workerd can drop an alarm set for exactly
/// "now" from inside the alarm handler). `None` when nothing is pending: the alarm is left as
/// it is (an alarm with nothing to do costs one run).
pub fn alarm_at(now_ms: i64, pending: &Pending) -> Option<i64> {
    let seconds = |at: i64| at.saturating_mul(1000);
    [
        pending.webhook_at.map(seconds),
        pending.grace_end_at.map(seconds),
        pending.outbox_retry_at_ms,
    ]
    .into_iter()
    .flatten()
    .min()
    .map(|at| at.max(now_ms.saturating_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW_MS: i64 = 1_700_000_000_250;
    const NOW: i64 = NOW_MS / 1000;

    #[test]
    fn nothing_pending_leaves_the_alarm_alone() {
        assert_eq!(alarm_at(NOW_MS, &Pending::default()), None);
    }

    #[test]
    fn a_delivery_due_now_wakes_at_once_whatever_else_is_pending() {
        // A key reported leaked: its key.leaked is due now, its grace ends in an hour.
        let leaked = Pending {
            webhook_at: Some(NOW),
            grace_end_at: Some(NOW + 3_600),
            outbox_retry_at_ms: Some(NOW_MS + 10_000),
        };
        assert_eq!(alarm_at(NOW_MS, &leaked), Some(NOW_MS + 1));
        // Queued seconds ago (a backlog): still at once, never in the past.
        let backlog = Pending {
            webhook_at: Some(NOW - 30),
            ..Pending::default()
        };
        assert_eq!(alarm_at(NOW_MS, &backlog), Some(NOW_MS + 1));
    }

    #[test]
    fn the_earliest_pending_item_sets_the_time() {
        for (pending, want) in [
            // A receiver backing off for 8 s, a grace end in a minute.
            (
                Pending {
                    webhook_at: Some(NOW + 8),
                    grace_end_at: Some(NOW + 60),
                    outbox_retry_at_ms: None,
                },
                (NOW + 8) * 1000,
            ),
            // Only a grace end: the sweep's time, even an hour ahead.
            (
                Pending {
                    grace_end_at: Some(NOW + 3_600),
                    ..Pending::default()
                },
                (NOW + 3_600) * 1000,
            ),
            // KV failed: the outbox retry comes before the receiver's next attempt.
            (
                Pending {
                    webhook_at: Some(NOW + 40),
                    grace_end_at: None,
                    outbox_retry_at_ms: Some(NOW_MS + 10_000),
                },
                NOW_MS + 10_000,
            ),
        ] {
            assert_eq!(alarm_at(NOW_MS, &pending), Some(want), "{pending:?}");
        }
    }
}
