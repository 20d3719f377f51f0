//! Rate limits and revocation (docs/storage.md "Revocation bound") end to end: real workerd through
//! `wrangler dev`, HTTP only. A key's own limit and its account's (one window shared by all the
//! account's keys) are sliding windows counted together, exactly under concurrency, for test
//! keys (sandbox) and live keys (origin) alike;
//! only requests that would be served are counted; the `RateLimit-*` headers and `Retry-After` are
//! honest. A revocation reaches an isolate that did not serve the admin write within 1 s.
//!
//! Gateways (started at once, in parallel, shared by the trials):
//! * `gw`    — the harness defaults with `ORIGIN_URL` = the recording [`Origin`]; without
//!   `KEYGATE_TEST_LOCATIONS`, so `X-Keygate-Test-Location` names nothing (`locations.rs`).
//! * `stale` — `KEYGATE_TEST_SKIP_LOCAL_APPLY=true`: the admin path does not apply its changes
//!   to the serving isolate's key cache, as if another isolate had served the admin write.
//! * `places` — `KEYGATE_TEST_LOCATIONS=true`: requests name their deployment location
//!   (`X-Keygate-Test-Location`), so two locations run under one runtime (`locations.rs`).
//!
//! The revocation trial warms a key at `stale`, revokes it, and polls the edge every 50 ms:
//! without a revocation mechanism the isolate serves its cached record for
//! [`ISOLATE_CACHE_TTL`]. Its `measured:` lines say how often the old record was still served
//! after the admin answer: a few times shows the variable is honoured (the isolate really was
//! stale). The trial cannot tell an ignored variable from a fast mechanism: if the admin path
//! applied its write locally anyway, every first request would simply be refused.
//!
//! Every answer goes through [`audit`] (request id; no secret outside create/roll's `secret`;
//! no hash-like hex run; admin answers are JSON). Edge requests are sent from [`INSIDE`]
//! (`CF-Connecting-IP`, which `wrangler dev` passes through).

use std::panic::resume_unwind;
use std::sync::Barrier;
use std::thread;
use std::time::{Duration, Instant};

use keygate_e2e::audited::{
    Key, as_key, audit, bank_data_account, key, key_body, key_from, key_list, op, product_key,
    refused, view, without_usage,
};
use keygate_e2e::{Gateway, Origin, Resp, Value, json, merge, run, start_together, tests};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod concurrency;
mod defaults;
mod headers;
mod locations;
mod quotas;
mod refused;
mod revocation;
mod settings;
mod support;
mod unlimited;

use concurrency::*;
use defaults::*;
use headers::*;
use locations::*;
use quotas::*;
use refused::*;
use revocation::*;
use settings::*;
use support::*;
use unlimited::*;

/// The client address of edge requests.
const INSIDE: &str = "10.1.2.3";
/// An address outside the allowlists these trials set.
const OUTSIDE: &str = "192.0.2.1";
/// How long the worker's isolate trusts an edge record it cached (`CACHE_TTL_MS`,
/// docs/storage.md): without a revocation mechanism, a stale isolate serves a revoked key
/// this long.
const ISOLATE_CACHE_TTL: Duration = Duration::from_secs(10);
/// docs/storage.md "Revocation bound": every isolate enforces a revocation within this long of the
/// admin answer.
const REVOCATION_BOUND: Duration = Duration::from_secs(1);
/// How often the edge is polled after a revocation.
const POLL_EVERY: Duration = Duration::from_millis(50);

struct Ctx {
    origin: Origin,
    gw: Gateway,
    stale: Gateway,
    places: Gateway,
}

fn main() {
    run(
        || {
            let origin = Origin::start();
            let [gw, stale, places] = start_together([
                Gateway::builder().var("ORIGIN_URL", &origin.url()),
                Gateway::builder().var("KEYGATE_TEST_SKIP_LOCAL_APPLY", "true"),
                Gateway::builder().var("KEYGATE_TEST_LOCATIONS", "true"),
            ]);
            Ctx {
                origin,
                gw,
                stale,
                places,
            }
        },
        tests![
            // First: they wait (~10 s, and up to ~15 s when revocation is slow).
            headers_count_down_and_retry_after_is_honest,
            revocation_reaches_a_stale_isolate_within_1s,
            a_revocation_at_one_location_is_refused_at_another_within_1s,
            // The rest take no deliberate waits.
            rate_limits_validate_show_roll_and_clear,
            concurrent_test_requests_get_exactly_the_limit,
            concurrent_live_requests_reach_the_origin_exactly_the_limit,
            account_limit_is_shared_and_a_keys_own_only_tightens,
            a_managers_children_and_successors_share_the_account_limit,
            refused_requests_are_not_counted,
            unlimited_keys_carry_no_rate_limit_headers,
            a_keys_limit_is_counted_per_location,
            a_client_cannot_name_its_location_without_the_test_hook,
            with_the_test_hook_the_same_names_are_locations,
            a_daily_quota_of_50_grants_exactly_50_of_200_concurrent_requests,
            credits_of_20_at_a_route_cost_of_5_give_exactly_4_calls,
            a_live_keys_quota_lets_exactly_its_requests_reach_the_origin,
            quotas_are_validated_and_bounded_by_delegation,
        ],
    );
}
