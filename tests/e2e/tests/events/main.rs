//! Events (docs/admin-api.md "Events") end to end: real workerd through `wrangler dev`, HTTP only.
//! Every admin change is an event listed by `GET /admin/v1/accounts/{id}/events`, newest first,
//! with its type, key, actor, the `X-Request-Id` of the admin answer that made it, and in `data`
//! exactly the fields that changed (a creation: `before` empty and `after` the whole view; a
//! deletion the reverse; `updated_at` never) — and never a secret or a hash. A `keys:manage` key
//! acts as itself and sees its own account's events only; the list filters by `type` and `key_id`
//! and pages with `limit`/`starting_after` without repeats; anything else in the query is 400.
//!
//! One gateway with the harness defaults; every trial makes its own accounts. The expected
//! `data` of an update is computed here, independently, from the views the admin API answered
//! before and after the change. Every answer goes through [`audit`] (request id; no secret
//! outside create/roll's `secret`; no hash-like hex run; admin answers are JSON). Manager
//! requests are sent from [`INSIDE`] (`CF-Connecting-IP`, which `wrangler dev` passes through).

use std::collections::BTreeSet;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use keygate_e2e::audited::{
    EVENT_FIELDS, Key, as_key, audit, create_account, full_secrets, key_from, op, refused, view,
};
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{Gateway, Resp, Value, json, run, tests};
use sha2::{Digest, Sha256};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod checks;
mod every_change;
mod filters;
mod managers;
mod no_secrets;
mod scenario;
mod support;

use checks::*;
use every_change::*;
use filters::*;
use managers::*;
use no_secrets::*;
use scenario::*;
use support::*;

/// The client address of manager requests.
const INSIDE: &str = "10.1.2.3";
/// The event types the list accepts as `type` (docs/admin-api.md "Events").
const TYPES: [&str; 13] = [
    "account.created",
    "account.updated",
    "entitlement.created",
    "entitlement.updated",
    "entitlement.deleted",
    "key.created",
    "key.updated",
    "key.disabled",
    "key.enabled",
    "key.rolled",
    "key.leaked",
    "key.deleted",
    "leak.reported",
];
/// View fields that are not part of a change: bookkeeping and edge usage (see [`whole`]).
const NOT_CHANGES: [&str; 6] = [
    "updated_at",
    "last_used_at",
    "last_used_ip",
    "ips_seen",
    "refusals",
    "would_deny",
];
/// Slack on `created_at` against this machine's clock (workerd runs on the same one).
const CLOCK_SLACK: i64 = 5;

struct Ctx {
    gw: Gateway,
}

fn main() {
    run(
        || Ctx {
            gw: Gateway::start(&[]),
        },
        tests![
            every_change_is_an_event_with_its_request_and_changed_fields,
            managers_act_as_themselves_and_see_only_their_account,
            filters_and_pages_walk_every_event_once,
            events_carry_no_secret_and_no_hash,
        ],
    );
}
