//! Grace from first use (docs/key-safety.md) end to end: real workerd through
//! `wrangler dev`, HTTP only. `POST /admin/v1/keys/{id}/roll` with
//! `{"grace": "after_first_use", "grace_seconds": n}` makes a successor; the old key keeps
//! working at the edge until the successor is first used there, then `n` seconds more, and
//! never past 7 days after the roll. The old key's view shows
//! `grace: {kind, seconds, waiting, cap}` and `revoke_at` (the cap while waiting, the
//! successor's `first_used_at` + n afterwards); the successor's view shows `first_used_at`.
//! A fixed grace (`{"grace_seconds": n}`, `"grace": "fixed"`) is unchanged; bad bodies are 400
//! naming the fields and roll nothing.
//!
//! One gateway shared by the trials (each makes its own account), and a `quiet` one that only
//! [`the_first_use_is_reported_without_further_edge_traffic`] uses: there no other trial's edge
//! request can carry the first-use report along. Edge requests use a test key against the
//! sandbox (`GET /v1/accounts`, bank_data): 200 when granted, 401 once revoked. Every answer
//! goes through [`audit`]. Times are unix seconds of this machine's clock (workerd runs on it).

use std::collections::BTreeSet;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{self, audit, op, refused, without_usage};
use keygate_e2e::clock::unix_now_f as now_f;
use keygate_e2e::{
    Gateway, Resp, Tenant, Value, assert_error, json, key, run, start_together, tenant, tests,
};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod bodies;
mod first_use;
mod support;

use bodies::*;
use first_use::*;
use support::*;

/// 7 days: the longest grace, and how long after the roll a first-use grace may wait.
const GRACE_MAX: i64 = 604_800;
/// How late after `revoke_at` the edge may still serve the old key (revocation log sync).
const REFUSAL_BOUND: f64 = 2.0;
/// How long the first use may take to show in the views (reported within about a second).
const REPORT_PATIENCE: Duration = Duration::from_secs(10);
/// How long the first use may take to be reported when no other request reaches the edge.
const QUIET_PATIENCE: Duration = Duration::from_secs(5);
/// Pause between polls.
const POLL_EVERY: Duration = Duration::from_millis(100);
struct Ctx {
    gw: Gateway,
    /// Only [`the_first_use_is_reported_without_further_edge_traffic`] sends requests to it.
    quiet: Gateway,
}

fn main() {
    run(
        || {
            let [gw, quiet] = start_together([Gateway::builder(), Gateway::builder()]);
            Ctx { gw, quiet }
        },
        tests![
            // The long ones first (~10 s each, mostly waiting).
            the_old_key_works_until_the_successor_is_used_then_for_the_grace,
            a_successor_used_many_times_starts_the_grace_once,
            a_zero_grace_ends_at_the_successors_first_use,
            a_fixed_grace_is_unchanged,
            the_first_use_is_reported_without_further_edge_traffic,
            the_first_use_grace_defaults_to_a_day_and_takes_up_to_7_days,
            bad_grace_bodies_are_400_and_change_nothing,
            a_bad_roll_body_names_every_bad_field_at_once,
        ],
    );
}
