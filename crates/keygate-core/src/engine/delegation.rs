//! Delegation: what a key with `keys:manage` may do, and to which keys.
//!
//! A manager acts for its own account and only within its own limits. Every key it creates,
//! changes, rolls or re-enables must end up *within* the manager's settings:
//!
//! | setting | the key's value must be |
//! |---|---|
//! | `scopes` | each granted by the manager's scopes (a manager with `quotes:*` may grant `quotes:read`) |
//! | `products` | a subset of the manager's; a manager restricted to products cannot produce an unrestricted key (`[]` means all) |
//! | `allowed_ips` | each range inside one of the manager's ranges; a manager with a list cannot produce a key without one |
//! | `expires_at` | no later than the manager's; a manager that expires cannot produce a key that never does |
//! | `environment` | `test` if the manager is a test key |
//! | `rate_limit` | if the manager has its own: one too, with no more requests at no higher a rate |
//! | `ip_mode` | `enforce` if the manager's own allowlist is enforced |
//! | `quota` | if the manager has its own: one too, of the same period (and product), no larger |
//! | `credits` | if the manager has its own: some too, no more remaining and no larger refill; a manager never changes an existing key's credits (a top-up is the operator's) |
//!
//! Applied to the manager itself, the same rule forbids it to loosen its own restrictions:
//! the result of changing itself must be within what it was before. Operations that only take
//! power away (disable, report leaked, delete) are allowed on any key of its account, except
//! that a test manager cannot touch live keys at all.

use super::Manager;
use crate::error::{Error, FieldError};
use crate::ip::IpAllowlist;
use crate::keys::Environment;
use crate::model::{AccountStatus, ApiKey, IpMode, KeyStatus, key_state};
use crate::quota::Period;
use crate::scope::{self, KEYS_MANAGE};
use ipnet::IpNet;

/// The manager key `key` may act at `now`: it works at the edge (active, not expired, not
/// revoked, account active), holds `keys:manage`, and is neither reported leaked nor rolled
/// (a key being replaced must not mint keys that outlive it).
pub(super) fn check_can_manage(
    key: &ApiKey,
    account: &crate::model::Account,
    now: i64,
) -> Result<(), Error> {
    key_state(key, account, now)?;
    if account.status != AccountStatus::Active {
        return Err(Error::unauthorized("The account of this key is suspended."));
    }
    if !scope::grants(&key.scopes, KEYS_MANAGE) {
        return Err(Error::forbidden(
            "This API key lacks the scope `keys:manage` needed to manage keys. Use the admin \
             token, or a key that has the scope.",
        ));
    }
    if key.leaked_at.is_some() {
        return Err(Error::forbidden(
            "This key was reported leaked: it keeps working at the edge until its grace period \
             ends, but it can no longer manage keys. Use another key with `keys:manage`.",
        ));
    }
    if key.rolled_to.is_some() {
        return Err(Error::forbidden(
            "This key was rolled: it keeps working at the edge until its grace period ends, but \
             it can no longer manage keys. Use the key it was rolled to.",
        ));
    }
    Ok(())
}

/// A test manager may touch test keys only: test keys sit in CI settings and on laptops, and
/// must not be a way to mint or take over live credentials.
pub(super) fn check_environment(manager: &Manager, environment: Environment) -> Result<(), Error> {
    if manager.key.environment == Environment::Test && environment == Environment::Live {
        return Err(Error::forbidden(
            "A test key can manage only test keys. Use a live key with `keys:manage`, or the \
             admin token.",
        ));
    }
    Ok(())
}

/// 403 listing every setting of `key` that is not within `manager`'s, one `errors` entry each.
pub(super) fn check_within(manager: &ApiKey, key: &ApiKey) -> Result<(), Error> {
    let mut errors = Vec::new();
    let missing: Vec<&str> = key
        .scopes
        .iter()
        .filter(|s| !scope::grants(&manager.scopes, s))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        errors.push(FieldError::new(
            "scopes",
            format!(
                "a key can grant only scopes it holds itself; this key does not hold: {}",
                missing.join(", ")
            ),
        ));
    }
    if !manager.products.is_empty() {
        if key.products.is_empty() {
            errors.push(FieldError::new(
                "products",
                format!(
                    "must be limited to this key's products ({}); an empty list would mean all",
                    manager.products.join(", ")
                ),
            ));
        } else {
            let outside: Vec<&str> = key
                .products
                .iter()
                .filter(|p| !manager.products.contains(p))
                .map(String::as_str)
                .collect();
            if !outside.is_empty() {
                errors.push(FieldError::new(
                    "products",
                    format!("this key may not use: {}", outside.join(", ")),
                ));
            }
        }
    }
    if let Some(error) = allowlist_within(&manager.allowed_ips, &key.allowed_ips) {
        errors.push(error);
    }
    // A list in report mode refuses nothing: it is no list for a manager whose list refuses.
    if !manager.allowed_ips.is_empty()
        && manager.ip_mode == IpMode::Enforce
        && key.ip_mode == IpMode::Report
    {
        errors.push(FieldError::new(
            "ip_mode",
            "must be enforce: this key's own allowlist is enforced, and so must be every key \
             it manages",
        ));
    }
    if let Some(limit) = manager.expires_at {
        match key.expires_at {
            None => errors.push(FieldError::new(
                "expires_at",
                format!(
                    "is required: this key expires at {limit}, and so must every key it manages"
                ),
            )),
            Some(at) if at > limit => errors.push(FieldError::new(
                "expires_at",
                format!("must not be later than {limit}, when this key expires"),
            )),
            Some(_) => {}
        }
    }
    if let Some(limit) = manager.rate_limit {
        let within = key.rate_limit.is_some_and(|own| {
            own.requests <= limit.requests
                && u64::from(own.requests) * u64::from(limit.period_seconds)
                    <= u64::from(limit.requests) * u64::from(own.period_seconds)
        });
        if !within {
            errors.push(FieldError::new(
                "rate_limit",
                format!(
                    "must be no looser than this key's own limit ({} requests per {} s): no \
                     more requests, at no higher a rate",
                    limit.requests, limit.period_seconds
                ),
            ));
        }
    }
    if let Some(own) = &manager.quota
        && !key.quota.as_ref().is_some_and(|quota| own.covers(quota))
    {
        errors.push(FieldError::new(
            "quota",
            format!(
                "must be within this key's own quota ({} requests per {}{}): the same period, \
                 no more requests",
                own.requests,
                if own.period == Period::Day {
                    "day"
                } else {
                    "month"
                },
                own.product
                    .as_deref()
                    .map(|p| format!(" of {p}"))
                    .unwrap_or_default()
            ),
        ));
    }
    if let Some(own) = &manager.credits
        && !key
            .credits
            .as_ref()
            .is_some_and(|credits| own.covers(credits))
    {
        errors.push(FieldError::new(
            "credits",
            "must be within this key's own credits: no more remaining, and a refill no larger \
             of the same period",
        ));
    }
    if manager.environment == Environment::Test && key.environment == Environment::Live {
        errors.push(FieldError::new(
            "environment",
            "a test key can manage only test keys",
        ));
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut error = Error::forbidden(
        "A key with `keys:manage` can manage keys only within its own limits; see `errors`. Use \
         the admin token, or a key whose limits cover these settings.",
    );
    error.errors = errors;
    Err(error)
}

/// `None` if every range of `inner` lies inside a range of `outer` (an empty `outer` allows
/// anything; an empty `inner` is allowed only then).
fn allowlist_within(outer: &[String], inner: &[String]) -> Option<FieldError> {
    if outer.is_empty() {
        return None;
    }
    if inner.is_empty() {
        return Some(FieldError::new(
            "allowed_ips",
            "is required: this key is limited to an IP allowlist, and so must every key it \
             manages be",
        ));
    }
    // Stored lists were validated on write; one that no longer parses contains nothing.
    let outer = IpAllowlist::parse(outer).unwrap_or_default();
    let inner = IpAllowlist::parse(inner).unwrap_or_default();
    let outside: Vec<String> = inner
        .nets()
        .iter()
        .filter(|net| !outer.nets().iter().any(|o| contains(o, net)))
        .map(ToString::to_string)
        .collect();
    if outside.is_empty() && !inner.is_empty() {
        return None;
    }
    Some(FieldError::new(
        "allowed_ips",
        format!(
            "must lie within this key's allowlist; outside it: {}",
            if outside.is_empty() {
                "an entry that is not a valid range".to_string()
            } else {
                outside.join(", ")
            }
        ),
    ))
}

/// Whether `outer` contains every address of `inner`. IPv4-mapped IPv6 was folded to IPv4 when
/// the lists were parsed, so the families compare directly.
fn contains(outer: &IpNet, inner: &IpNet) -> bool {
    match (outer, inner) {
        (IpNet::V4(o), IpNet::V4(i)) => o.contains(i),
        (IpNet::V6(o), IpNet::V6(i)) => o.contains(i),
        _ => false,
    }
}

/// Whether a patch to `before` giving `after` only takes power away: nothing changed but the
/// status going from active to disabled (and the bookkeeping that goes with it).
pub(super) fn only_disables(before: &ApiKey, after: &ApiKey) -> bool {
    let mut expected = before.clone();
    expected.status = KeyStatus::Disabled;
    expected.disabled_by = after.disabled_by.clone();
    expected.updated_at = after.updated_at;
    after.status == KeyStatus::Disabled && *after == expected
}

/// A manager's change to an existing key: its credits stay as they are. Setting credits starts
/// a fresh balance, so a manager that could set them could refill its own keys at will; a
/// top-up is the operator's.
pub(super) fn check_credits_unchanged(before: &ApiKey, after: &ApiKey) -> Result<(), Error> {
    if before.credits == after.credits {
        return Ok(());
    }
    let mut error = Error::forbidden(
        "A key with `keys:manage` cannot change a key's credits: setting them is a top-up, and \
         only the operator tops up. Use the admin token.",
    );
    error.errors = vec![FieldError::new(
        "credits",
        "only the operator sets credits on an existing key",
    )];
    Err(error)
}
