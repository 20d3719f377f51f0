//! Delegation (`keys:manage`, docs/admin-api.md "Delegation") and tenant limits end to end: real
//! workerd through `wrangler dev`, HTTP only. A manager acts for its own account within its own
//! limits; the operator's decisions bind it; quotas, write rates and all-or-nothing commands hold;
//! and an account-wide change to a large account does not stall another tenant's revocation.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`     — the harness defaults (trials on delegation rules).
//! * `limits` — `MAX_KEYS_PER_ACCOUNT=5`, `MANAGER_WRITES_PER_MINUTE=3`,
//!   `MANAGER_READS_PER_MINUTE=30` (quota and the account's admin budgets; the quota trial
//!   writes as the operator, which is not budgeted).
//! * `faulty` — `KEYGATE_TEST_FAIL_AFTER_WRITES=1`: every admin command fails at its 2nd write.
//! * `big`    — the defaults, for the large-account measurement alone.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Manager and edge requests are sent from
//! [`INSIDE`] (`CF-Connecting-IP`, which `wrangler dev` passes through), an address inside
//! every allowlist these trials set.

use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    self, Account, Key, as_key, get_accounts, key, key_body, key_from, op, refused, test_account,
    without_usage,
};
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod atomicity;
mod itself;
mod large_account;
mod minting;
mod other_keys;
mod reenable;
mod support;
mod tenant_limits;
mod unusable;

use atomicity::*;
use itself::*;
use large_account::*;
use minting::*;
use other_keys::*;
use reenable::*;
use support::*;
use tenant_limits::*;
use unusable::*;

const DAY: i64 = 24 * 60 * 60;
/// The client address of manager and edge requests.
const INSIDE: &str = "10.1.2.3";
/// `MAX_KEYS_PER_ACCOUNT`, `MANAGER_WRITES_PER_MINUTE` and `MANAGER_READS_PER_MINUTE` of the
/// `limits` gateway.
const MAX_KEYS: usize = 5;
const WRITES_PER_MINUTE: usize = 3;
const READS_PER_MINUTE: usize = 30;
/// Timing noise allowed on top of "at most twice the idle time" for another tenant's write
/// during a read flood (two cores shared by the load, the gateway and other trials).
const NOISE_MS: u64 = 15;
/// Keys of the large account (the default `MAX_KEYS_PER_ACCOUNT`).
const LARGE: usize = 1_000;
/// How long the worker's isolate trusts an edge record it cached (`CACHE_TTL_MS`,
/// docs/storage.md).
const ISOLATE_CACHE_TTL: Duration = Duration::from_secs(10);

struct Ctx {
    gw: Gateway,
    limits: Gateway,
    faulty: Gateway,
    big: Gateway,
}

fn main() {
    run(
        || {
            let [gw, limits, faulty, big] = start_together([
                Gateway::builder(),
                Gateway::builder()
                    .var("MAX_KEYS_PER_ACCOUNT", "5")
                    .var("MANAGER_WRITES_PER_MINUTE", "3")
                    .var("MANAGER_READS_PER_MINUTE", "30"),
                Gateway::builder().var("KEYGATE_TEST_FAIL_AFTER_WRITES", "1"),
                Gateway::builder(),
            ]);
            Ctx {
                gw,
                limits,
                faulty,
                big,
            }
        },
        tests![
            // First: it waits for its first write to leave the one-minute window (~60 s).
            manager_writes_are_budgeted_per_account,
            a_managers_read_flood_is_budgeted_and_does_not_slow_other_tenants,
            // delegation (docs/admin-api.md "Delegation").
            only_the_operator_re_enables_what_the_operator_disabled,
            manager_cannot_loosen_another_key_but_may_take_it_away,
            manager_mints_keys_only_within_its_own_limits,
            manager_cannot_loosen_itself,
            leaked_or_rolled_manager_cannot_manage,
            // Tenant limits and atomicity.
            keys_per_account_are_capped,
            a_failed_command_changes_nothing,
            // Last: heavy (1,000 keys), on its own gateway.
            large_account_suspension_does_not_stall_other_tenants,
        ],
    );
}
