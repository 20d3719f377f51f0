//! The test tools under `/v1/sandbox/`: the list of scenarios and magic values, and the reset
//! of an account's sandbox.

use super::render::to_json;
use crate::data::{MagicValue, Scenario};
use crate::{AccountState, SCENARIO_HEADER, SandboxResponse};
use keygate_core::Error;
use serde::Serialize;

#[derive(Serialize)]
struct ScenarioList<'a> {
    object: &'static str,
    header: &'static str,
    scenarios: &'a [Scenario],
    magic_values: &'a [MagicValue],
}

/// The body of `GET /v1/sandbox/scenarios`, rendered once when the data loads. The error
/// names the file it comes from.
pub(crate) fn scenarios_body(
    scenarios: &[Scenario],
    magic: &[MagicValue],
) -> Result<String, String> {
    let list = ScenarioList {
        object: "sandbox_scenarios",
        header: SCENARIO_HEADER,
        scenarios,
        magic_values: magic,
    };
    serde_json::to_string(&list).map_err(|e| format!("scenarios.json: {e}"))
}

/// `POST /v1/sandbox/reset`: forgets everything the account did, and says how much that was.
pub(super) fn reset(state: &mut AccountState) -> Result<SandboxResponse, Error> {
    #[derive(Serialize)]
    struct Reset {
        object: &'static str,
        deleted: usize,
        reverted_updates: usize,
        idempotency_keys_cleared: usize,
    }
    let summary = Reset {
        object: "sandbox_reset",
        deleted: state.created_count(),
        reverted_updates: state.updated.values().map(|u| u.len()).sum(),
        idempotency_keys_cleared: state.idempotency_count(),
    };
    // Rendered before the state is cleared: should it ever fail, the reset has not happened.
    let mut response = SandboxResponse::json(200, to_json(&summary)?);
    response.state_changed = !state.is_empty();
    *state = AccountState::default();
    Ok(response)
}
