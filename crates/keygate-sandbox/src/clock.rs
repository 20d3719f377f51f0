//! The sandbox clock of one test account: real time until the integrator moves it forward,
//! then real time plus how far it was moved. Everything in the sandbox that reads "now" or
//! "today" (defaults, `created`, date rules, lifecycles) reads this clock; idempotency keys
//! expire in real time, since they guard retries of real requests.
//!
//! The clock is an offset, not a frozen instant: after an advance time keeps passing, as in
//! production, so a poller that waits for a status sees it change on its own.

use crate::date;

/// Most a single `POST /v1/sandbox/clock` may move the clock.
pub const MAX_CLOCK_STEP_DAYS: i64 = 400;
/// Most the clock may be ahead of real time: what is computed per read (lifecycles, generated
/// activity) grows with it, so it is bounded. A reset brings the clock back.
pub const MAX_CLOCK_AHEAD_DAYS: i64 = 3_653;
/// The response header that carries the account's sandbox time on every answer computed from
/// its sandbox.
pub const CLOCK_HEADER: &str = "X-Sandbox-Clock";

const DAY: i64 = 86_400;

/// The two times a request is answered at: the real one (idempotency) and the sandbox's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Now {
    /// Unix seconds, as the worker read them.
    pub real: i64,
    /// Unix seconds on this account's sandbox clock.
    pub sandbox: i64,
    /// What the clock counts from: real time, or a repeatable sandbox's start (its clock
    /// stands still there until moved).
    pub base: i64,
    /// The clock stands still between moves (a repeatable sandbox).
    pub frozen: bool,
}

impl Now {
    /// The sandbox's day.
    pub(crate) fn today(self) -> i64 {
        date::today(self.sandbox)
    }

    /// Seconds the sandbox clock is ahead of what it counts from (real time, or a repeatable
    /// sandbox's start).
    pub(crate) fn ahead(self) -> i64 {
        self.sandbox.saturating_sub(self.base)
    }
}

/// Where a move asks the clock to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Move {
    /// Forward by this many seconds (`{"advance": {"days": d, "hours": h}}`).
    By(i64),
    /// To the start of this day, unless the clock is on it already (`{"to": "YYYY-MM-DD"}`).
    ToDay(i64),
}

/// Why a move is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MoveError {
    /// The target is before the clock's day.
    Backwards { today: i64 },
    /// More than [`MAX_CLOCK_STEP_DAYS`] in one call.
    TooFar,
    /// The clock would be more than [`MAX_CLOCK_AHEAD_DAYS`] ahead of real time.
    TooFarAhead,
}

/// The clock's new offset from real time after `step`, or why it stays.
pub(crate) fn moved(now: Now, step: Move) -> Result<i64, MoveError> {
    let by = match step {
        Move::By(seconds) => seconds,
        Move::ToDay(day) if day < now.today() => {
            return Err(MoveError::Backwards { today: now.today() });
        }
        Move::ToDay(day) if day == now.today() => 0,
        // Saturating: the real clock the worker passes may be anything.
        Move::ToDay(day) => day.saturating_mul(DAY).saturating_sub(now.sandbox),
    };
    if by > MAX_CLOCK_STEP_DAYS * DAY {
        return Err(MoveError::TooFar);
    }
    let ahead = now.ahead().saturating_add(by);
    if ahead > MAX_CLOCK_AHEAD_DAYS * DAY {
        return Err(MoveError::TooFarAhead);
    }
    Ok(ahead)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds (UTC).
pub(crate) fn rfc3339(seconds: i64) -> String {
    let day = seconds.div_euclid(DAY);
    let time = seconds.rem_euclid(DAY);
    format!(
        "{}T{:02}:{:02}:{:02}Z",
        date::format(day),
        time / 3600,
        time % 3600 / 60,
        time % 60
    )
}
