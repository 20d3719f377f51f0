//! The admin command engine: every admin decision as a pure function.
//!
//! A key design decision of this module: the admin API has the edge's shape. The caller, the
//! command, the records it reads (through the small [`Store`] trait), the clock and a source of
//! fresh ids and secrets ([`Mint`]) go in; an [`Outcome`] comes out: the answer, and the
//! [`Write`]s that make it true. The `Registry` Durable Object only reads rows for the store,
//! applies the writes in one transaction, and pushes the changed edge records out. So every
//! rule — who may do what, delegation limits, quotas, the lifecycle, the views — is unit-tested
//! here, natively and in a browser, without storage.
//!
//! - [`Caller`]: the operator, or a key with `keys:manage` acting for its own account within
//!   its own limits (docs/admin-api.md "Delegation").
//! - [`Command`]: one admin request, its body already parsed as JSON but not yet validated.
//! - [`execute`]: authorisation, validation, the new records, the answer.

mod activity;
mod command;
mod decide;
mod delegation;
mod derive;
mod events;
mod leaks;
mod outcome;
mod principal;
mod quota;
mod record_activity;
mod store;
#[cfg(test)]
mod tests;
mod usage;
mod views;

use crate::error::Error;

pub use activity::{
    Counted, DENIAL_RETENTION_SECONDS, Denial, FirstUse, IpSeen, KeyUse, MAX_IPS_SEEN,
    RATE_LIMITED_STATUS, REFUSALS_PER_ACCOUNT_PER_MINUTE, REFUSALS_PER_KEY_PER_MINUTE,
    RefusalCounts, RefusalMinute, StoredDenial, Usage, WOULD_DENY_PERIOD_SECONDS, WouldDeny,
    WouldDenyCounts, day_of, minute_of,
};
pub use events::{EVENT_RETENTION_SECONDS, EVENT_TYPES, Event, changes};
pub use quota::{
    DEFAULT_MANAGER_READS_PER_MINUTE, DEFAULT_MANAGER_WRITES_PER_MINUTE, ManagerBudgets,
};
pub use usage::{
    LeaseAnswer, MAX_USAGE_DAYS, USAGE_RETENTION_SECONDS, UsageRow, counter_view, parse_date,
    usage_csv, usage_csv_answer,
};
pub use views::{account_view, entitlement_view, key_view};

pub use command::{Caller, Command};
pub use derive::grace_ended;
pub use outcome::{EdgeScope, Outcome, Write, edge_record};
pub use store::{Context, EmptyStore, Mint, RandomMint, Store, StoredKey};

use decide::*;
use derive::*;
use leaks::*;
use outcome::*;
use principal::*;
use record_activity::*;

/// Default of `MAX_KEYS_PER_ACCOUNT`.
pub const DEFAULT_MAX_KEYS_PER_ACCOUNT: usize = 1_000;

/// Runs one command. Errors are answers too (4xx, or 503 from the store); a returned
/// [`Outcome`]'s writes (and its events) must all be applied, or none.
pub fn execute(
    caller: &Caller,
    command: Command,
    store: &impl Store,
    cx: &Context<'_>,
    mint: &mut impl Mint,
) -> Result<Outcome, Error> {
    let principal = resolve(caller, store, cx.now)?;
    let leak_source = match &command {
        Command::LeakReport { .. } => Some("leak_report"),
        Command::GithubReport { .. } => Some("github"),
        Command::RecordActivity { .. } => Some("plain_http"),
        _ => None,
    };
    let mut outcome = decide(&principal, command, store, cx, mint)?;
    let derived = derive_events(&principal, leak_source, &outcome.writes, store, cx, mint)?;
    outcome.events.extend(derived);
    Ok(outcome)
}
