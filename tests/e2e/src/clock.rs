//! This machine's clock in unix seconds (workerd runs on the same one; the gateway counts whole
//! seconds).

use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Now, in whole unix seconds.
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Now, in unix seconds (fractional).
pub fn unix_now_f() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// Sleeps until the wall clock is past the whole second `t` (the gateway compares seconds).
pub fn sleep_past(t: i64) {
    let target = UNIX_EPOCH + Duration::from_secs(t as u64 + 1) + Duration::from_millis(200);
    if let Ok(left) = target.duration_since(SystemTime::now()) {
        thread::sleep(left);
    }
}
