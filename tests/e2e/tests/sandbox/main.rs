//! The sandbox (docs/sandbox.md) end to end: test keys through the real gateway (workerd), over
//! HTTP.
//!
//! Expectations come from the data itself: `sandbox-data/*.json` is read at setup, so a walk is
//! compared with the file record by record, and every scenario and magic value the data
//! declares is exercised. Each trial that writes or resets makes its own test accounts (trials
//! run in parallel against one gateway); read-only trials share `Ctx::reader`.
//!
//! The gateway runs with `ORIGIN_URL` pointing at a recording [`Origin`]. No trial here uses a
//! live key, so the origin must never receive anything: write trials check it as they finish,
//! and dropping the suite's context checks it once more after every trial has run.

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use keygate_e2e::{Gateway, Origin, Req, Resp, Value, json, repo_root, run, tests};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod data;
mod headers;
mod hooks;
mod idempotency;
mod named;
mod reads;
mod requests;
mod rules;
mod scenarios;
mod state;
mod time;
mod writes;

use data::*;
use headers::*;
use hooks::*;
use idempotency::*;
use keygate_e2e::dates::{self, *};
use named::*;
use reads::*;
use requests::*;
use rules::*;
use scenarios::*;
use state::*;
use time::*;
use writes::*;

/// A valid German IBAN (the ISO 13616 example) that is not a magic value.
const CREDITOR_IBAN: &str = "DE89370400440532013000";

struct Ctx {
    gw: Gateway,
    origin: Origin,
    /// The integrators' webhook receivers (the origin must stay untouched).
    receiver: Origin,
    data: Data,
    /// A test account that never writes: for the read-only trials.
    reader: Tenant,
}

impl Drop for Ctx {
    /// The last check, after every trial: the origin recorded nothing. `run` drops the context
    /// after the trials and before it exits, so failing here fails the binary.
    fn drop(&mut self) {
        let got = self.origin.requests();
        if !got.is_empty() {
            eprintln!(
                "FAILED after all trials: the origin received {} request(s) from test keys:",
                got.len()
            );
            for q in &got {
                eprintln!("  {} {}", q.method, q.path);
            }
            std::process::exit(101);
        }
        eprintln!("sandbox e2e: the origin received no request in the whole suite");
    }
}

fn main() {
    run(
        || {
            let origin = Origin::start();
            let receiver = Origin::start();
            let gw = Gateway::start(&[
                ("ORIGIN_URL", &origin.url()),
                ("SANDBOX_WEBHOOK_RETRY_SECONDS", "1"),
            ]);
            let data = Data::load();
            let mut ctx = Ctx {
                gw,
                origin,
                receiver,
                data,
                reader: Tenant {
                    account_id: String::new(),
                    secret: String::new(),
                    product_keys: BTreeMap::new(),
                },
            };
            ctx.reader = ctx.tenant("reader");
            let today = ctx.today(&ctx.reader);
            ctx.data.as_of(&today);
            ctx
        },
        tests![
            // Reads
            list_has_envelope_and_default_limit_of_10,
            limit_bounds_and_bad_cursors_are_400,
            pagination_walk_returns_every_collection_exactly_as_the_files,
            pagination_walk_with_small_pages_covers_transactions,
            get_by_id_returns_the_file_record,
            unknown_ids_are_404_json,
            nested_lists_are_the_children_of_the_parent,
            filters_match_the_files_exactly,
            unknown_or_repeated_filters_are_400,
            unknown_nested_list_is_404,
            product_key_required_on_product_routes_not_on_sandbox_tools,
            // Writes
            payment_order_write_then_read,
            quote_for_every_available_product_computes_premium,
            policy_from_quote_binds_the_quote,
            policy_needs_an_offered_quote,
            payment_order_body_is_validated,
            quote_body_is_validated,
            payment_order_conflicts_are_409,
            malformed_bodies_are_400,
            body_over_64_kib_is_413,
            concurrent_creates_are_all_kept,
            production_account_test_key_is_sandboxed_too,
            // State: isolation and reset
            accounts_never_see_each_others_objects,
            reset_clears_what_the_account_created_only,
            named_sandboxes_never_see_each_other_with_32_requests_in_flight,
            named_sandboxes_are_listed_capped_and_deleted,
            the_same_script_against_fresh_repeatable_sandboxes_answers_byte_for_byte,
            events_show_writes_and_what_the_days_did_to_keys_that_may_read_them,
            a_named_sandbox_left_idle_goes_and_its_name_is_freed,
            // Idempotency
            idempotency_same_key_same_body_returns_same_object,
            idempotency_same_key_different_body_is_409,
            idempotency_keys_are_per_account,
            idempotency_retry_after_failures_goes_through,
            idempotency_key_is_validated,
            // Scenarios
            scenario_rate_limited,
            scenario_server_error,
            scenario_unavailable,
            scenario_timeout,
            scenario_slow,
            scenario_unknown_is_400,
            scenario_failures_process_nothing,
            scenarios_endpoint_lists_scenarios_and_magic_values,
            magic_values_of_payment_orders,
            magic_values_of_quotes,
            // Time: the clock and the lifecycles it drives
            the_clock_moves_forward_per_account_and_shows_on_every_answer,
            a_quote_expires_and_a_policy_starts_and_ends_as_days_pass,
            orders_execute_on_their_date_and_accounts_get_new_activity,
            the_clock_stops_at_its_bound_and_the_ledger_at_its_own,
            // Webhooks
            an_endpoint_gets_every_event_of_a_create_advance_execute_flow_signed_and_in_order,
            a_failing_receiver_gets_backed_off_retries_and_loses_nothing,
            a_read_only_test_key_cannot_register_a_webhook_endpoint,
            webhook_bounds_refuse_clearly_and_a_long_backlog_loses_nothing,
            // Headers and the origin
            every_sandbox_answer_has_x_sandbox_and_a_fresh_request_id,
            test_keys_never_reach_the_origin,
        ],
    );
}
