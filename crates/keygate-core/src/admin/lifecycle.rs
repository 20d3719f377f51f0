//! The key lifecycle: grace periods, roll, first use of a successor, leak, revocation.

use super::*;
use crate::error::Error;
use crate::model::{ApiKey, FirstUseGrace, KeyStatus};
use serde_json::Value;

/// `{"grace_seconds": n}` with 0 ≤ n ≤ [`GRACE_MAX`]; an absent or empty body, `null`, or `{}`
/// means `default`.
pub fn grace_seconds(body: Option<&Value>, default: i64) -> Result<i64, Error> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(default);
    };
    let mut r = Reader::new(body, &bodies::LEAKED)?;
    let grace = read_grace_seconds(&mut r, default);
    r.finish()?;
    grace.ok_or_else(Error::internal)
}

/// `grace_seconds` of a body being read: `default` when absent, `None` (an error noted) when bad.
fn read_grace_seconds(r: &mut Reader<'_>, default: i64) -> Option<i64> {
    match r.value("grace_seconds") {
        None => Some(default),
        Some(v) => match v.as_i64() {
            Some(n) if (0..=GRACE_MAX).contains(&n) => Some(n),
            _ => {
                r.error(
                    "grace_seconds",
                    format!("must be a whole number of seconds from 0 to {GRACE_MAX} (7 days)"),
                );
                None
            }
        },
    }
}

/// How a roll's old key goes: after a fixed grace, or a grace that starts at the successor's
/// first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollGrace {
    /// The old key is revoked this many seconds after the roll.
    Fixed(i64),
    /// The old key works until the successor's first use, then this many seconds more (at most
    /// [`GRACE_MAX`] after the roll in all).
    AfterFirstUse(i64),
}

/// A roll body: `{"grace_seconds": n}` (fixed, default 24 h) or
/// `{"grace": "after_first_use", "grace_seconds": n}`; `"grace": "fixed"` is the default.
pub fn roll_grace(body: Option<&Value>) -> Result<RollGrace, Error> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(RollGrace::Fixed(ROLL_GRACE_DEFAULT));
    };
    let mut r = Reader::new(body, &bodies::ROLL)?;
    let kind = r.choice("grace", &ROLL_GRACE_KINDS);
    let seconds = read_grace_seconds(&mut r, ROLL_GRACE_DEFAULT);
    r.finish()?;
    let seconds = seconds.ok_or_else(Error::internal)?;
    Ok(match kind {
        Some(true) => RollGrace::AfterFirstUse(seconds),
        _ => RollGrace::Fixed(seconds),
    })
}

fn earlier(existing: Option<i64>, candidate: i64) -> Option<i64> {
    Some(existing.map_or(candidate, |at| at.min(candidate)))
}

/// Marks `old` as rolled to `successor_id` (created from [`KeyTemplate::from_key`]): it keeps
/// working for `grace` seconds, or less if it was already due to be revoked sooner. 409 for a
/// key that is revoked, expired, disabled or already rolled; `old` is then unchanged.
pub fn roll(old: &mut ApiKey, successor_id: &str, now: i64, grace: RollGrace) -> Result<(), Error> {
    if old.is_revoked(now) {
        return Err(Error::conflict(
            "This key is already revoked. Create a new key instead of rolling it.",
        ));
    }
    if let Some(successor) = &old.rolled_to {
        return Err(Error::conflict(format!(
            "This key was already rolled to {successor}. Roll that key instead."
        )));
    }
    if old.is_expired(now) {
        return Err(Error::conflict(
            "This key has expired. Create a new key instead of rolling it.",
        ));
    }
    if old.status == KeyStatus::Disabled {
        return Err(Error::conflict(
            "This key is disabled. Re-enable it before rolling it, or create a new key.",
        ));
    }
    old.rolled_to = Some(successor_id.to_string());
    let cap = now.saturating_add(GRACE_MAX);
    match grace {
        RollGrace::Fixed(seconds) => {
            old.revoke_at = earlier(
                old.revoke_at,
                now.saturating_add(seconds.clamp(0, GRACE_MAX)),
            );
        }
        RollGrace::AfterFirstUse(seconds) => {
            // Works until the successor is first used (then `seconds` more), never past `cap`.
            old.revoke_at = earlier(old.revoke_at, cap);
            old.grace = Some(FirstUseGrace {
                kind: "after_first_use".into(),
                seconds: seconds.clamp(0, GRACE_MAX),
                waiting: true,
                cap,
            });
        }
    }
    old.updated_at = now;
    Ok(())
}

/// The successor of `old` was first used at `at`: `old`'s waiting grace starts, and it is
/// revoked `seconds` later (never past its cap, never later than it already was).
pub fn successor_used(old: &mut ApiKey, at: i64) {
    let Some(grace) = old.grace.as_mut().filter(|g| g.waiting) else {
        return;
    };
    grace.waiting = false;
    let ends = at.saturating_add(grace.seconds).min(grace.cap);
    old.revoke_at = earlier(old.revoke_at, ends);
    old.updated_at = at;
}

/// Marks `key` leaked: it keeps working for `grace` seconds so its owner can replace it, then
/// is revoked. The first report's time is kept; a later report can only bring revocation closer.
pub fn mark_leaked(key: &mut ApiKey, now: i64, grace: i64) {
    key.leaked_at = Some(key.leaked_at.map_or(now, |at| at.min(now)));
    key.revoke_at = earlier(key.revoke_at, now.saturating_add(grace.clamp(0, GRACE_MAX)));
    key.updated_at = now;
}
