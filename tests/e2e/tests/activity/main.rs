//! What the edge reports back (docs/admin-api.md "Events") end to end: real workerd through
//! `wrangler dev`, HTTP only. A key's use shows on every key view (`last_used_at`, `last_used_ip`,
//! `ips_seen`: the most recent addresses first, at most 20, with counts), at most about a minute
//! late, for granted requests only. A request refused after its key was identified can be looked up
//! at `GET /admin/v1/requests/{X-Request-Id}` with its true reason — by the operator and the
//! account's own `keys:manage` keys only — even when `HIDE_FORBIDDEN` answered it as an unknown
//! route. An allowlist in `ip_mode: "report"` lets an outside address through and records one
//! `ip.would_deny` event per key, address block (/24, /64) and UTC day; `"enforce"` refuses it.
//!
//! Storage is bounded per tenant (docs/admin-api.md "Bounded storage"): at most 10 refusals of a
//! key (100 of an account) are stored per UTC minute, and a key's first 429 of a minute; the rest
//! are counted on the key view (`refusals`, `would_deny`) and on the latest stored refusal
//! (`similar_not_stored`).
//!
//! Isolates send what they saw off the hot path, in a flush that the recording request arms
//! itself (a refusal ~1 s after it happened, a key's first use too, later uses within 20 s):
//! the trials poll the admin API and send nothing else to the edge meanwhile, and
//! [`a_refusal_and_a_first_use_show_with_no_other_traffic`] proves it on a gateway of its own,
//! with no request at all until it looks. A `CF-Connecting-IP` that is not one address is
//! refused (400) and stored nowhere.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`     — the harness defaults (`HIDE_FORBIDDEN=false`); test keys, answered by the
//!   sandbox, so no origin is needed.
//! * `hidden` — `HIDE_FORBIDDEN=true`.
//! * `quiet`  — the defaults, for the one trial that needs a gateway no other trial sends to.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Edge and manager requests carry
//! `CF-Connecting-IP`, which `wrangler dev` passes through.

use std::collections::BTreeSet;
use std::panic::resume_unwind;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    Account, EVENT_FIELDS, Key, as_key, audit, key, key_list, op, refused, test_account, view,
    without_usage,
};
use keygate_e2e::clock::unix_now_f as now_f;
use keygate_e2e::{Gateway, Resp, Value, json, run, start_together, tests};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod hidden;
mod ip_mode;
mod refusals;
mod report_mode;
mod support;
mod usage;
mod without_traffic;

use hidden::*;
use ip_mode::*;
use refusals::*;
use report_mode::*;
use support::*;
use usage::*;
use without_traffic::*;

/// The client address of manager requests and of edge requests inside the allowlists.
const INSIDE: &str = "10.1.2.3";
/// Slack on times the gateway reports against this machine's clock (workerd runs on the same
/// one; the gateway counts whole seconds).
const CLOCK_SLACK: f64 = 2.0;
/// The contract (docs/admin-api.md): a key's use is written back within 20 s (its first use
/// within about a second). How long after a trial's last granted request its usage must show.
const USAGE_DEADLINE: Duration = Duration::from_secs(30);
/// How long a refusal or an `ip.would_deny` report may take to be readable.
const REPORT_DEADLINE: Duration = Duration::from_secs(10);
/// The fields of a request lookup.
const LOOKUP_FIELDS: [&str; 11] = [
    "object",
    "request_id",
    "key_id",
    "decision",
    "status",
    "reason",
    "method",
    "path",
    "ip",
    "at",
    "similar_not_stored",
];
/// Refusals of one key stored whole per UTC minute (docs/admin-api.md "Bounded storage").
const REFUSALS_PER_KEY_PER_MINUTE: i64 = 10;
/// Most addresses `ips_seen` lists.
const MAX_IPS_SEEN: usize = 20;

struct Ctx {
    gw: Gateway,
    hidden: Gateway,
    quiet: Gateway,
}

fn main() {
    run(
        || {
            let [gw, hidden, quiet] = start_together([
                Gateway::builder(),
                Gateway::builder().var("HIDE_FORBIDDEN", "true"),
                Gateway::builder(),
            ]);
            Ctx { gw, hidden, quiet }
        },
        tests![
            // First: it waits for the 20 s write-back of repeated uses.
            usage_shows_on_every_key_view_within_a_minute,
            a_refusal_and_a_first_use_show_with_no_other_traffic,
            a_junk_client_address_is_refused_and_stored_nowhere,
            // The rest wait a few seconds at most.
            refusals_can_be_looked_up_with_their_true_reason,
            a_hidden_scope_refusal_is_looked_up_with_its_scope,
            report_mode_lets_through_and_records_would_deny_once,
            refusals_past_the_caps_are_counted_not_stored,
            addresses_of_one_block_make_one_would_deny_event,
            ip_mode_is_validated_and_shown,
        ],
    );
}
