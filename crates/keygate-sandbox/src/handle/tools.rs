//! The test tools under `/v1/sandbox/`: the list of scenarios and magic values, the account's
//! clock, and the reset of an account's sandbox.

use super::render::{capped, to_json};
use crate::clock::{self, MAX_CLOCK_AHEAD_DAYS, MAX_CLOCK_STEP_DAYS, Move, MoveError, Now};
use crate::data::{MagicValue, Scenario};
use crate::rules::{Record, display, shown};
use crate::{AccountState, SCENARIO_HEADER, SandboxResponse, date};
use keygate_core::{Error, FieldError};
use serde::Serialize;
use serde_json::Value;

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

/// `POST /v1/sandbox/reset`: forgets everything the account did, clock included, and says how
/// much that was.
pub(super) fn reset(state: &mut AccountState) -> Result<SandboxResponse, Error> {
    #[derive(Serialize)]
    struct Reset {
        object: &'static str,
        deleted: usize,
        reverted_updates: usize,
        idempotency_keys_cleared: usize,
        clock_reset: bool,
    }
    let summary = Reset {
        object: "sandbox_reset",
        deleted: state.created_count(),
        reverted_updates: state.updated.values().map(|u| u.len()).sum(),
        idempotency_keys_cleared: state.idempotency_count(),
        clock_reset: state.clock_ahead_seconds != 0,
    };
    // Rendered before the state is cleared: should it ever fail, the reset has not happened.
    let mut response = SandboxResponse::json(200, to_json(&summary)?);
    // A repeatable sandbox stays repeatable: the same requests get the same answers again.
    let fresh = match state.repeatable {
        Some(repeatable) => AccountState::repeatable(repeatable),
        None => AccountState::default(),
    };
    response.state_changed = *state != fresh;
    *state = fresh;
    Ok(response)
}

/// `GET /v1/sandbox/clock`, and the answer to a move.
pub(super) fn clock(now: Now) -> Result<SandboxResponse, Error> {
    #[derive(Serialize)]
    struct Clock {
        object: &'static str,
        now: String,
        today: String,
        real_time: bool,
        frozen: bool,
        ahead_seconds: i64,
    }
    let view = Clock {
        object: "sandbox_clock",
        now: clock::rfc3339(now.sandbox),
        today: date::format(now.today()),
        real_time: !now.frozen && now.ahead() == 0,
        frozen: now.frozen,
        ahead_seconds: now.ahead(),
    };
    Ok(SandboxResponse::json(200, to_json(&view)?))
}

/// `POST /v1/sandbox/clock` with `{"advance": {"days": n, "hours": n}}` or `{"to":
/// "YYYY-MM-DD"}`: moves the account's clock forward, never back.
pub(super) fn move_clock(
    state: &mut AccountState,
    now: Now,
    body: &[u8],
) -> Result<SandboxResponse, Error> {
    let step = parse_move(body)?;
    let field = match step {
        Move::By(_) => "advance",
        Move::ToDay(_) => "to",
    };
    let ahead = clock::moved(now, step).map_err(|e| match e {
        MoveError::Backwards { today } => Error::bad_request(format!(
            "The sandbox clock only moves forward; it is on {}. POST /v1/sandbox/reset returns \
             it to real time.",
            date::format(today)
        ))
        .with_field(field, "is before the sandbox's today"),
        MoveError::TooFar => Error::bad_request(format!(
            "The sandbox clock moves at most {MAX_CLOCK_STEP_DAYS} days per call; move it in \
             several calls."
        ))
        .with_field(field, format!("moves more than {MAX_CLOCK_STEP_DAYS} days")),
        MoveError::TooFarAhead => Error::conflict(format!(
            "The sandbox clock can be at most {MAX_CLOCK_AHEAD_DAYS} days ahead of real time \
             (of its start, in a repeatable sandbox). POST /v1/sandbox/reset returns it there."
        )),
    })?;
    let changed = ahead != state.clock_ahead_seconds;
    state.clock_ahead_seconds = ahead;
    let mut response = clock(state.now(now.real))?;
    response.state_changed = changed;
    Ok(response)
}

/// The move a clock request's body asks for; every fault of the body in one 400.
fn parse_move(body: &[u8]) -> Result<Move, Error> {
    let usage =
        "Send {\"advance\": {\"days\": 3}} (days and/or hours) or {\"to\": \"YYYY-MM-DD\"}.";
    let object: Record = match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => object,
        _ => {
            return Err(Error::bad_request(format!(
                "The body must be a JSON object. {usage}"
            )));
        }
    };
    let mut errors = Vec::new();
    for name in object.keys() {
        if name != "advance" && name != "to" {
            errors.push(FieldError::new(
                shown(name),
                "unknown field; send advance or to",
            ));
        }
    }
    let step = match (object.get("advance"), object.get("to")) {
        (Some(_), Some(_)) => {
            errors.push(FieldError::new("to", "send advance or to, not both"));
            None
        }
        (Some(advance), None) => advance_seconds(advance, &mut errors).map(Move::By),
        (None, Some(to)) => match to.as_str().and_then(date::parse) {
            Some(day) => Some(Move::ToDay(day)),
            None => {
                errors.push(FieldError::new("to", "must be a date, YYYY-MM-DD"));
                None
            }
        },
        (None, None) => {
            if errors.is_empty() {
                return Err(Error::bad_request(format!("Nothing to move. {usage}")));
            }
            None
        }
    };
    match step {
        Some(step) if errors.is_empty() => Ok(step),
        _ => Err(Error::invalid(capped(errors))),
    }
}

/// The seconds `{"days": d, "hours": h}` adds up to: whole numbers, not negative, not both 0.
fn advance_seconds(advance: &Value, errors: &mut Vec<FieldError>) -> Option<i64> {
    let Value::Object(advance) = advance else {
        errors.push(FieldError::new(
            "advance",
            "must be an object: {\"days\": n} and/or {\"hours\": n}",
        ));
        return None;
    };
    let mut seconds = 0i64;
    let mut valid = true;
    for (name, value) in advance {
        let unit = match name.as_str() {
            "days" => 86_400,
            "hours" => 3_600,
            _ => {
                errors.push(FieldError::new(
                    format!("advance.{}", shown(name)),
                    "unknown field; send days and/or hours",
                ));
                valid = false;
                continue;
            }
        };
        let limit = MAX_CLOCK_STEP_DAYS * 86_400 / unit;
        match value.as_i64() {
            Some(n) if (0..=limit).contains(&n) => seconds += n * unit,
            _ => {
                errors.push(FieldError::new(
                    format!("advance.{name}"),
                    format!(
                        "must be a whole number from 0 to {limit}, not {}",
                        shown(&display(value))
                    ),
                ));
                valid = false;
            }
        }
    }
    if valid && seconds == 0 {
        errors.push(FieldError::new(
            "advance",
            "moves nothing; give days or hours above 0",
        ));
        valid = false;
    }
    valid.then_some(seconds)
}
