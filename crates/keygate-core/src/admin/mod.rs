//! Validation of admin API bodies and the key lifecycle (roll, leak, revoke).
//!
//! Bodies arrive as parsed JSON; every problem is collected and answered at once as 400 with
//! one `errors` entry per field. Unknown fields are errors (a typo such as `expire_at` must not
//! silently create a key that never expires). `null` is accepted only where it means something:
//! `expires_at: null` clears an expiry.

mod account_bodies;
pub mod bodies;
mod key_bodies;
mod leak_report;
mod lifecycle;
mod reader;
pub mod routes;

pub use account_bodies::*;
pub use key_bodies::*;
pub use leak_report::*;
pub use lifecycle::*;
use reader::*;

use crate::model::IpMode;

/// Default grace period of a roll: the old key keeps working for a day.
pub const ROLL_GRACE_DEFAULT: i64 = 24 * 60 * 60;
/// Default grace period after a leak report: three days to replace the key.
pub const LEAK_GRACE_DEFAULT: i64 = 3 * 24 * 60 * 60;
/// Longest grace period accepted.
pub const GRACE_MAX: i64 = 7 * 24 * 60 * 60;
/// Longest account or key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most scopes or products one key may list.
pub const MAX_LIST_ITEMS: usize = 100;
/// Most tokens one leak report may carry.
pub const MAX_LEAK_TOKENS: usize = 1000;
/// Longest `url` or `source` kept from a leak report, in characters (longer ones are cut).
const MAX_LEAK_NOTE_CHARS: usize = 2048;
pub(crate) const IP_MODES: [(&str, IpMode); 2] =
    [("enforce", IpMode::Enforce), ("report", IpMode::Report)];

#[cfg(test)]
mod tests;
