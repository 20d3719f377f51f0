//! Admin writes per manager key: a fixed one-minute window per key, kept by the Registry.
//!
//! The Registry is one object per deployment, so the count is exact across every isolate. It
//! lives in the object's memory: should the object be evicted, counting restarts, which can
//! only ever let a key through once more per eviction (documented in docs/admin-api.md).

use crate::error::Error;
use std::collections::HashMap;

/// Default of `MANAGER_WRITES_PER_MINUTE`.
pub const DEFAULT_MANAGER_WRITES_PER_MINUTE: u32 = 60;
const WINDOW_SECONDS: i64 = 60;
/// Windows kept at most; older ones are dropped first (they would have reset anyway).
const MAX_TRACKED_KEYS: usize = 10_000;

/// Counts writes per key id in the current window.
#[derive(Debug, Default)]
pub struct WriteRate {
    windows: HashMap<String, (i64, u32)>,
}

impl WriteRate {
    /// Counts one write by `key_id` at `now` (unix seconds), or answers 429 with the seconds
    /// until its window ends when `per_minute` writes were already made in it.
    pub fn admit(&mut self, key_id: &str, now: i64, per_minute: u32) -> Result<(), Error> {
        let window = now - now.rem_euclid(WINDOW_SECONDS);
        if self.windows.len() >= MAX_TRACKED_KEYS && !self.windows.contains_key(key_id) {
            self.windows.retain(|_, (start, _)| *start == window);
        }
        let entry = self
            .windows
            .entry(key_id.to_string())
            .or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        if entry.1 >= per_minute {
            let retry_after = u32::try_from(window + WINDOW_SECONDS - now)
                .unwrap_or(1)
                .max(1);
            return Err(Error::too_many_requests(
                format!(
                    "This key made {per_minute} admin changes in the last minute, the most a key \
                     may make (MANAGER_WRITES_PER_MINUTE). Retry after the time in Retry-After."
                ),
                retry_after,
            ));
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    #[test]
    fn a_key_gets_its_limit_per_window_then_429_until_the_window_ends() {
        let mut rate = WriteRate::default();
        let start = 1_700_000_080; // 40 s into a window
        for _ in 0..3 {
            rate.admit("key_a", start, 3).unwrap();
        }
        let e = rate.admit("key_a", start + 5, 3).unwrap_err();
        assert_eq!(e.status, 429);
        assert_eq!(e.retry_after, Some(15));
        // Other keys have their own windows.
        rate.admit("key_b", start + 5, 3).unwrap();
        // The next window starts afresh.
        rate.admit("key_a", start + 20, 3).unwrap();
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut rate = WriteRate::default();
        for i in 0..MAX_TRACKED_KEYS + 10 {
            rate.admit(&format!("key_{i}"), 60 * (i as i64 / 5_000), 1)
                .unwrap();
        }
        assert!(rate.windows.len() <= MAX_TRACKED_KEYS);
    }
}
