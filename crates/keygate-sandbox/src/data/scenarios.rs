//! `scenarios.json`: the values of the `X-Sandbox-Scenario` header and the magic values, with
//! their checks. A magic value must be one a request can send, else it could never trigger.

use super::{Collection, SCENARIOS_FILE, is_name};
use crate::rules::{FieldRule, FieldType, Format, OrderedMap, Record, is_code};
use crate::{date, iban};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Scenarios every dataset must offer, so integrators can always test their handling of rate
/// limits, server errors, outages, timeouts and slow answers (`docs/sandbox.md`, "Scenarios and
/// magic values"); `scenarios.json` must declare each of them.
pub(crate) const REQUIRED_SCENARIOS: [&str; 5] = [
    "rate_limited",
    "server_error",
    "unavailable",
    "timeout",
    "slow",
];
/// Longest delay a scenario may ask for.
pub(crate) const MAX_DELAY_MS: u32 = 30_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ScenariosFile {
    pub(super) scenarios: Vec<Scenario>,
    #[serde(default)]
    pub(super) magic_values: Vec<MagicValue>,
}

/// A value of the `X-Sandbox-Scenario` header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Scenario {
    pub name: String,
    /// The error status to answer with; none = the normal answer (after `delay_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default)]
    pub delay_ms: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u32>,
    /// The error body's message (scenarios with a status).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    pub description: String,
}

/// A request value with a fixed outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MagicValue {
    pub collection: String,
    /// Dotted path into the object being created, e.g. `risk.flood_zone`.
    pub field: String,
    pub equals: Value,
    pub description: String,
    /// Refuse the create with this error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reject: Option<Reject>,
    /// Create the object with these fields overridden.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<Record>,
}

/// The error a refusing magic value answers with (a 4xx).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Reject {
    pub status: u16,
    pub message: String,
}

pub(super) fn check_scenarios(scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, String> {
    for (n, s) in scenarios.iter().enumerate() {
        let at = format!("{SCENARIOS_FILE}: scenario `{}`", s.name);
        if !is_name(&s.name) {
            return Err(format!(
                "{at}: the name must be lower-case letters, digits and `_`"
            ));
        }
        if scenarios[..n].iter().any(|other| other.name == s.name) {
            return Err(format!("{at}: declared twice"));
        }
        if s.delay_ms > MAX_DELAY_MS {
            return Err(format!("{at}: delay_ms is above {MAX_DELAY_MS}"));
        }
        if s.description.is_empty() {
            return Err(format!("{at}: needs a description"));
        }
        match s.status {
            None if s.retry_after.is_some() || !s.message.is_empty() => {
                return Err(format!("{at}: retry_after and message need a status"));
            }
            None => {}
            Some(status) if !(400..=599).contains(&status) => {
                return Err(format!("{at}: status must be 400-599"));
            }
            Some(429 | 503) if s.retry_after.is_none() => {
                return Err(format!("{at}: a 429 or 503 needs retry_after"));
            }
            Some(_) if s.message.is_empty() => return Err(format!("{at}: needs a message")),
            Some(_) => {}
        }
    }
    for required in REQUIRED_SCENARIOS {
        if !scenarios.iter().any(|s| s.name == required) {
            return Err(format!(
                "{SCENARIOS_FILE}: the scenario `{required}` is required"
            ));
        }
    }
    Ok(scenarios)
}

pub(super) fn check_magic(
    collections: &[Collection],
    magic: Vec<MagicValue>,
) -> Result<Vec<MagicValue>, String> {
    for m in &magic {
        let at = format!(
            "{SCENARIOS_FILE}: magic value {}.{} = {}",
            m.collection, m.field, m.equals
        );
        let coll = collections
            .iter()
            .find(|c| c.name == m.collection)
            .ok_or_else(|| format!("{at}: unknown collection"))?;
        let write = coll
            .write
            .as_ref()
            .ok_or_else(|| format!("{at}: the collection is not writable"))?;
        match (&m.reject, &m.set) {
            (Some(reject), None) => {
                if !(400..=499).contains(&reject.status) || reject.message.is_empty() {
                    return Err(format!("{at}: reject needs a 4xx status and a message"));
                }
            }
            (None, Some(set)) => {
                if set.is_empty() {
                    return Err(format!("{at}: set is empty"));
                }
                for key in set.keys() {
                    if !write.fields.contains(key) && !write.set.contains(key) {
                        return Err(format!(
                            "{at}: set names `{key}`, which created objects do not have"
                        ));
                    }
                }
            }
            _ => return Err(format!("{at}: needs exactly one of reject and set")),
        }
        if m.description.is_empty() {
            return Err(format!("{at}: needs a description"));
        }
        // The value must be one a request can send, else the magic value is unreachable.
        let mut parts = m.field.split('.');
        let first = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let Some(rule) = write.fields.get(first) else {
            return Err(format!("{at}: `{first}` is not a body field"));
        };
        let candidates = rules_at(collections, coll, rule, &rest);
        if candidates.is_empty() {
            return Err(format!("{at}: no rule declares the field `{}`", m.field));
        }
        if !candidates.iter().any(|r| accepts(r, &m.equals)) {
            return Err(format!(
                "{at}: the value breaks the field's rule, so no request can send it"
            ));
        }
    }
    Ok(magic)
}

/// The rules that can apply at a dotted path below `rule` (several when the rules come from the
/// records of another collection, e.g. each product's `risk_fields`).
fn rules_at(
    collections: &[Collection],
    coll: &Collection,
    rule: &FieldRule,
    rest: &[&str],
) -> Vec<FieldRule> {
    let Some((first, rest)) = rest.split_first() else {
        return vec![rule.clone()];
    };
    let mut found = Vec::new();
    if let Some(fields) = &rule.fields
        && let Some(inner) = fields.get(first)
    {
        found.extend(rules_at(collections, coll, inner, rest));
    }
    if let Some(from) = &rule.fields_from
        && let Some(target) = coll.reference(&from.via).and_then(|t| collections.get(t))
    {
        for record in &target.records {
            let rules = record
                .get(&from.field)
                .and_then(|raw| OrderedMap::<FieldRule>::deserialize(raw).ok());
            if let Some(inner) = rules.as_ref().and_then(|r| r.get(first)) {
                found.extend(rules_at(collections, coll, inner, rest));
            }
        }
    }
    found
}

/// Whether a rule can accept `value` on some day (date-relative bounds are not checked).
fn accepts(rule: &FieldRule, value: &Value) -> bool {
    if rule
        .one_of
        .as_ref()
        .is_some_and(|values| !values.contains(value))
    {
        return false;
    }
    match rule.ty {
        FieldType::String => {
            let Some(s) = value.as_str() else {
                return false;
            };
            let length = s.chars().count();
            rule.min_length.is_none_or(|min| length >= min)
                && rule.max_length.is_none_or(|max| length <= max)
                && match rule.format {
                    None | Some(Format::Email) => true,
                    Some(Format::Date) => date::parse(s).is_some(),
                    Some(Format::Iban) => iban::is_valid(s),
                    Some(Format::Country) => is_code(s, 2),
                    Some(Format::Currency) => is_code(s, 3),
                }
        }
        FieldType::Integer | FieldType::Number => {
            let Some(n) = value.as_f64() else {
                return false;
            };
            (rule.ty == FieldType::Number || value.is_i64())
                && rule.min.is_none_or(|min| n >= min)
                && rule.max.is_none_or(|max| n <= max)
        }
        FieldType::Boolean => value.is_boolean(),
        FieldType::Object => value.is_object(),
    }
}
