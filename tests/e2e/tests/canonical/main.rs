//! Canonical requests (docs/edge-pipeline.md) against the real worker in workerd, black-box over
//! HTTP: what the gateway authorises is exactly what the origin receives.
//!
//! Gateways (started once, shared by every trial), both forwarding live keys to one recording
//! [`Origin`]:
//! * `gw`     — plain HTTP, REQUIRE_HTTPS=false, HIDE_FORBIDDEN=false.
//! * `hidden` — the same with HIDE_FORBIDDEN=true.
//! * `bodies` — no origin; only for the body-limit trial (see there why it is alone).
//!
//! Requests whose exact bytes matter go over a raw socket ([`raw`]): a client library would
//! normalise `.` segments, encode bytes or refuse header names with `_`.
//!
//! The runtime (workerd) parses the request URL before the worker sees it, and may already
//! resolve `.`/`..` segments (also spelled `%2e`) and turn `\` into `/`. Such a spelling is
//! then a request for the resolved path: those trials accept either the gateway's 400 or the
//! resolved path's own answer, with the origin receiving exactly the resolved path — never a
//! third outcome.
//!
//! Trials run in parallel: each creates its own accounts and keys and finds what the origin
//! received by its account id (`X-Keygate-Account`) or a marker unique to the trial.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use keygate_e2e::{
    ADMIN_TOKEN, Gateway, Origin, OriginRequest, RawResp, Resp, Value, assert_error,
    assert_from_origin, assert_no_secret, assert_product_key_missing, json, key, product_key_of,
    raw, raw_parts, repo_root, run, tenant, tests,
};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod admin_paths;
mod bodies;
mod headers;
mod hide_forbidden;
mod paths;
mod products;
mod routes;
mod support;
mod url_secrets;

use admin_paths::*;
use bodies::*;
use headers::*;
use hide_forbidden::*;
use paths::*;
use products::*;
use routes::*;
use support::*;
use url_secrets::*;

struct Ctx {
    origin: Origin,
    gw: Gateway,
    hidden: Gateway,
    bodies: Gateway,
}

fn main() {
    run(
        setup,
        tests![
            // Paths
            respellings_of_a_nested_route_never_borrow_the_parent_scope,
            nested_route_needs_its_own_scope_and_parent_route_forwards_its_exact_path,
            non_canonical_paths_are_400_naming_the_canonical_form,
            route_segments_are_case_sensitive_and_nothing_is_open_ended,
            route_table_names_the_scope_and_product_of_every_route,
            every_configured_route_forwards_its_exact_path_and_nothing_below_it,
            origin_receives_an_odd_canonical_path_and_query_byte_for_byte,
            // Products
            nested_lists_need_the_product_of_what_they_list,
            // Headers
            override_and_client_address_headers_never_reach_the_origin,
            // Secrets in URLs
            secret_keys_in_the_url_are_refused_however_encoded,
            // Bodies
            bodies_over_the_limit_are_413_before_they_end,
            // Admin paths
            admin_paths_are_canonical_segments_only,
            // HIDE_FORBIDDEN
            hidden_forbidden_routes_are_indistinguishable_from_unknown_ones,
            hidden_forbidden_keeps_405_for_a_path_the_key_can_use,
        ],
    );
}

fn setup() -> Ctx {
    let origin = Origin::start();
    let gw = Gateway::builder().var("ORIGIN_URL", &origin.url()).start();
    let hidden = Gateway::builder()
        .var("ORIGIN_URL", &origin.url())
        .var("HIDE_FORBIDDEN", "true")
        .start();
    let bodies = Gateway::builder().start();
    Ctx {
        origin,
        gw,
        hidden,
        bodies,
    }
}
