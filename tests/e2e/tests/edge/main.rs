//! The edge pipeline (README "How a request is checked") against the real worker in workerd,
//! black-box over HTTP.
//!
//! Gateways (started once, one after another, shared by every trial):
//! * `gw`        — plain HTTP, REQUIRE_HTTPS=false, HIDE_FORBIDDEN=false, ORIGIN_URL = the
//!   recording [`Origin`], ORIGIN_TIMEOUT_SECONDS=2.
//! * `strict`    — plain HTTP with REQUIRE_HTTPS=true (everything must be refused with 403).
//! * `secure`    — HTTPS with REQUIRE_HTTPS=true and HIDE_FORBIDDEN=true; its ORIGIN_URL is
//!   `scripts/demo-origin.mjs` run by node, which verifies `X-Keygate-Signature` itself.
//! * `no_origin` — ORIGIN_URL unset (live keys → 503).
//! * `broken`    — ORIGIN_URL is a hand-written server that closes connections unanswered
//!   (502), except for one path it answers with raw hop-by-hop headers.
//!
//! Under `wrangler dev`, workerd passes a client-sent `CF-Connecting-IP` through to the worker
//! unchanged (and sets `127.0.0.1` when the client sends none), so allowlists are exercised with
//! arbitrary documentation addresses through [`Req::client_ip`].
//!
//! Trials run in parallel against shared gateways: each creates its own accounts and keys, and
//! finds what the origin received by its account id or a marker unique to the trial.
//!
//! Not observable from outside, so not covered here: that a malformed key causes no storage
//! read, and the 503 of an unreachable key store (local KV does not fail). Headers a client
//! names in its own `Connection` header cannot be dropped by the worker: the runtime does not
//! hand the client's `Connection` value to it. An absolute-form request target is refused by
//! workerd itself before the worker runs; the suite checks only that nothing reaches the origin.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use keygate_e2e::clock::{sleep_past, unix_now};
use keygate_e2e::offline::{crc32, mint_key, tamper};
use keygate_e2e::{
    Gateway, GatewayBuilder, ORIGIN_SIGNING_SECRET, Origin, OriginRequest, Reply, Req, Resp,
    Tenant, Value, assert_error, assert_from_origin, assert_no_secret, assert_product_key_missing,
    http, json, key, node, raw, repo_root, run, table, tenant, tests,
};
use sha2::Sha256;

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod credential;
mod demo_origin;
mod errors;
mod https;
mod ip_allowlists;
mod key_format;
mod lookup;
mod origin_answers;
mod origins;
mod product_key;
mod request_id;
mod routing;
mod scope;
mod state;
mod step_order;
mod support;

use credential::*;
use demo_origin::*;
use errors::*;
use https::*;
use ip_allowlists::*;
use key_format::*;
use lookup::*;
use origin_answers::*;
use origins::*;
use product_key::*;
use request_id::*;
use routing::*;
use scope::*;
use state::*;
use step_order::*;
use support::*;

struct Ctx {
    origin: Origin,
    gw: Gateway,
    strict: Gateway,
    secure: Gateway,
    demo: DemoOrigin,
    no_origin: Gateway,
    broken: Gateway,
    closer: RawOrigin,
}

fn main() {
    run(
        setup,
        tests![
            // step `request-id`
            request_id_is_fresh_on_every_kind_of_response,
            // step `https`
            https_required_refuses_plain_http_without_redirect,
            https_required_lets_https_through,
            https_required_refuses_webhook_urls_to_private_addresses,
            // step `credential`
            credential_basic_with_key_as_username,
            credential_bearer,
            credential_x_api_key,
            credential_missing_is_401_with_basic_challenge,
            credential_two_different_keys_is_400,
            credential_odd_authorization_headers_are_refused,
            credential_in_query_string_is_never_accepted,
            // step `format`
            format_tampered_or_malformed_key_is_401,
            // step `lookup`
            lookup_unknown_well_formed_key_is_401,
        ]
        .into_iter()
        // step `state`: a table of states (disabled, expired, …), then the two grace courses
        .chain(table(KEY_STATES, |s| s.name, key_state))
        .chain(tests![
            state_rolled_key_is_401_after_grace_and_successor_works,
            state_leaked_key_is_401_after_grace,
            // step `ip-allowlist`
            ip_v4_address_allowlist_of_account,
            ip_cidr_allowlist_of_key_and_both_lists_must_pass,
            ip_v6_allowlist,
            ip_v4_mapped_v6_matches_v4_rules,
            ip_forwarded_headers_cannot_spoof_the_client_address,
            ip_unparsable_address_is_refused_with_or_without_a_list,
            // step `product-key`
            product_key_missing_is_400_naming_the_header,
            product_key_malformed_or_unknown_is_404,
            product_key_of_another_account_is_404,
            product_key_of_the_other_environment_is_404,
            product_key_of_another_product_or_not_allowed_for_the_key_is_404,
            product_key_of_a_withdrawn_entitlement_is_404,
            // step `scope`
            scope_missing_is_403_naming_the_scope,
            scope_missing_is_404_with_hide_forbidden,
            scope_wildcards_grant,
            // order of the steps
            steps_answer_in_spec_order,
            // step `dispatch`
            live_request_is_forwarded_with_method_path_query_body_and_headers,
            live_request_large_body_reaches_origin_intact,
            live_request_chunked_body_reaches_origin_intact,
            credentials_never_reach_the_origin,
            hop_by_hop_headers_are_not_forwarded,
            origin_receives_exactly_the_signed_identity,
            signature_covers_the_target_the_origin_receives_for_odd_characters,
            origin_answers_are_relayed_not_followed,
            origin_unreachable_is_502,
            origin_timeout_is_504,
            origin_url_unset_is_503,
            test_keys_never_reach_the_origin,
            // errors (docs/edge-pipeline.md "Errors and panics")
            unknown_route_is_404_json,
            method_not_allowed_is_405_with_allow,
            head_is_answered_like_get,
            odd_and_oversized_headers_are_4xx_never_5xx,
            // the origin snippet
            demo_origin_verifies_gateway_requests_and_refuses_forged_ones,
            demo_origin_exports_verify_keygate_request,
        ]),
    );
}

fn setup() -> Ctx {
    let origin = Origin::start();
    let demo = DemoOrigin::start();
    let closer = RawOrigin::start();
    let origin_url = origin.url();
    let demo_url = demo.url();
    let closer_url = closer.url();
    let start = |b: GatewayBuilder| b.start();
    let gw = start(
        Gateway::builder()
            .var("ORIGIN_URL", &origin_url)
            .var("ORIGIN_TIMEOUT_SECONDS", "2"),
    );
    let strict = start(
        Gateway::builder()
            .var("ORIGIN_URL", &origin_url)
            .var("REQUIRE_HTTPS", "true"),
    );
    let secure = start(
        Gateway::builder()
            .https()
            .var("ORIGIN_URL", &demo_url)
            .var("REQUIRE_HTTPS", "true")
            .var("HIDE_FORBIDDEN", "true"),
    );
    let no_origin = start(Gateway::builder());
    let broken = start(
        Gateway::builder()
            .var("ORIGIN_URL", &closer_url)
            .var("ORIGIN_TIMEOUT_SECONDS", "2"),
    );
    Ctx {
        origin,
        gw,
        strict,
        secure,
        demo,
        no_origin,
        broken,
        closer,
    }
}
