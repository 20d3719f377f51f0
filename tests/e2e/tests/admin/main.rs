//! The admin API (docs/admin-api.md) end to end: real workerd through `wrangler dev`, local
//! storage, HTTP only. Every answer from the admin API goes through [`audit`], which fails the test
//! if it carries secret material it must not (a full `sk_…` outside the one create/roll response
//! field, or anything that looks like a 64-hex hash), lacks `X-Request-Id`, or is not JSON.
//!
//! Trials run in parallel against one shared gateway, so each makes its own accounts; only the
//! demo-seed trials start gateways of their own.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::Command;
use std::sync::Barrier;
use std::thread;
use std::time::Duration;

use keygate_e2e::audited::without_usage;
use keygate_e2e::clock::unix_now as now;
use keygate_e2e::{ADMIN_TOKEN, Gateway, Resp, Value, WithOrigin, json, repo_root, run, tests};

// One module per section; each sees this file's names and, through them, every
// other module's (`use super::*`).
mod accounts;
mod audit;
mod auth;
mod demo_seed;
mod entitlements;
mod isolation;
mod keys;
mod leak_reports;
mod protocol;
mod rolls;
mod support;
mod throttle;

use accounts::*;
use audit::*;
use auth::*;
use demo_seed::*;
use entitlements::*;
use isolation::*;
use keys::*;
use leak_reports::*;
use protocol::*;
use rolls::*;
use support::*;
use throttle::*;

/// One gateway forwarding live keys to a recording origin.
type Ctx = WithOrigin;

fn main() {
    run(
        WithOrigin::start,
        tests![
            // The checker every answer goes through.
            audit_detects_secret_material,
            // Authentication and authorisation.
            admin_requires_the_operator_token,
            admin_over_plain_http_is_refused_when_https_is_required,
            manager_key_manages_its_own_accounts_keys,
            manager_key_gets_404_for_other_accounts_ids,
            manager_key_cannot_use_operator_endpoints,
            manager_key_must_hold_keys_manage_and_be_usable,
            manager_key_grants_only_scopes_it_holds,
            test_manager_key_manages_test_keys_only,
            guessing_admin_tokens_is_throttled_but_the_right_token_works,
            every_admin_answer_is_no_store,
            // Accounts.
            account_create_read_update,
            account_list_paginates,
            account_validation_names_each_field,
            account_suspension_refuses_its_keys_until_reactivated,
            agreement_change_governs_live_keys,
            unknown_account_is_404,
            no_demo_account_without_demo_seed,
            // Entitlements.
            entitlement_yields_product_keys,
            withdrawn_entitlement_stops_its_product_keys,
            // Keys.
            key_create_returns_the_secret_once,
            key_create_with_every_setting,
            key_validation_names_each_field,
            live_key_for_test_agreement_is_403,
            key_list_paginates,
            key_update_changes_what_the_edge_allows,
            key_disable_and_reenable,
            expired_key_is_refused_and_expiry_can_be_cleared,
            roll_with_zero_grace_replaces_the_key_at_once,
            roll_grace_keeps_the_old_key_until_it_ends,
            roll_grace_is_validated,
            roll_never_extends_an_earlier_revocation,
            roll_refuses_rolled_disabled_and_revoked_keys,
            leaked_default_grace_is_three_days,
            leaked_grace_ends_in_revocation,
            delete_key_revokes_it_now,
            unknown_key_is_404,
            // Leak reports.
            leak_report_marks_our_keys_and_names_them_by_fragment,
            leak_report_validation,
            one_leak_report_reaches_every_account_it_names,
            // Protocol.
            malformed_json_is_400,
            wrong_method_is_405_with_allow,
            unknown_methods_are_refused_not_read_as_get,
            unknown_admin_path_is_404,
            oversized_body_is_413,
            no_response_carries_secret_material,
            // Tenant isolation and concurrency.
            tenant_isolation,
            twenty_concurrent_key_creations_lose_none,
            concurrent_writes_to_one_account_lose_no_update,
            concurrent_patches_to_one_key_lose_no_update,
            // Demo seed and the README flow.
            demo_seed_matches_demo_env_and_seeds_once,
            demo_seed_is_refused_when_https_is_required,
            a_key_refused_as_unknown_works_within_1s_of_its_creation,
            readme_flow_with_curl,
        ],
    );
}
