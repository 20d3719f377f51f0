//! Load-time checks of the rules themselves, so that a rule set that could not be applied
//! consistently (a constraint that does not fit its type, a `via` that is no reference, a
//! default on a required field) fails the data tests instead of a request.

use super::{Expr, FieldRule, FieldType, Format, MAX_DAY_OFFSET, OrderedMap, join};
use serde_json::Value;

/// Checks that a rule set is coherent: constraints fit the type, `via` names a reference field
/// of the collection (`vias`), sibling names exist. `path` names the rule set in messages.
pub(crate) fn check_rules(
    rules: &OrderedMap<FieldRule>,
    vias: &[&str],
    path: &str,
) -> Result<(), String> {
    for (name, rule) in &rules.0 {
        let here = join(path, name);
        if name.is_empty() || name.contains('.') {
            return Err(format!(
                "{here}: field names must be non-empty and contain no `.`"
            ));
        }
        check_rule(rule, vias, &here, rules)?;
    }
    Ok(())
}

fn check_rule(
    rule: &FieldRule,
    vias: &[&str],
    here: &str,
    siblings: &OrderedMap<FieldRule>,
) -> Result<(), String> {
    let ty = rule.ty;
    let only = |ok: bool, what: &str| -> Result<(), String> {
        if ok {
            Ok(())
        } else {
            Err(format!("{here}: `{what}` does not apply to type {ty:?}"))
        }
    };
    only(
        rule.min.is_none() && rule.max.is_none()
            || matches!(ty, FieldType::Integer | FieldType::Number),
        "min/max",
    )?;
    only(
        rule.min_length.is_none()
            && rule.max_length.is_none()
            && rule.format.is_none()
            && rule.one_of_list.is_none()
            || ty == FieldType::String,
        "min_length/max_length/format/one_of_list",
    )?;
    only(
        rule.fields.is_none() && rule.fields_from.is_none() || ty == FieldType::Object,
        "fields/fields_from",
    )?;
    let is_date = ty == FieldType::String && rule.format == Some(Format::Date);
    if (rule.min_days_from_today.is_some()
        || rule.max_days_from_today.is_some()
        || rule.not_before_field.is_some())
        && !is_date
    {
        return Err(format!(
            "{here}: *_days_from_today and not_before_field need format \"date\""
        ));
    }
    if let (Some(min), Some(max)) = (rule.min, rule.max)
        && min > max
    {
        return Err(format!("{here}: min is above max"));
    }
    if let (Some(min), Some(max)) = (rule.min_length, rule.max_length)
        && min > max
    {
        return Err(format!("{here}: min_length is above max_length"));
    }
    let offsets = [rule.min_days_from_today, rule.max_days_from_today];
    if offsets
        .iter()
        .flatten()
        .any(|days| days.unsigned_abs() > MAX_DAY_OFFSET.unsigned_abs())
    {
        return Err(format!(
            "{here}: *_days_from_today must be within ±{MAX_DAY_OFFSET} days"
        ));
    }
    if let (Some(min), Some(max)) = (rule.min_days_from_today, rule.max_days_from_today)
        && min > max
    {
        return Err(format!(
            "{here}: min_days_from_today is above max_days_from_today"
        ));
    }
    if let Some(sibling) = &rule.not_before_field {
        match siblings.get(sibling) {
            Some(s) if s.ty == FieldType::String && s.format == Some(Format::Date) => {}
            _ => {
                return Err(format!(
                    "{here}: not_before_field `{sibling}` is not a date field beside it"
                ));
            }
        }
    }
    if let Some(values) = &rule.one_of {
        if values.is_empty() {
            return Err(format!("{here}: enum is empty"));
        }
        for v in values {
            if !type_matches(ty, v) {
                return Err(format!("{here}: enum value {v} is not of type {ty:?}"));
            }
        }
    }
    if ty == FieldType::Object {
        match (&rule.fields, &rule.fields_from) {
            (Some(fields), None) => check_rules(fields, vias, here)?,
            (None, Some(from)) => check_via(&from.via, vias, here)?,
            _ => {
                return Err(format!(
                    "{here}: an object needs exactly one of `fields` and `fields_from`"
                ));
            }
        }
    }
    if let Some(list) = &rule.one_of_list {
        check_via(&list.via, vias, here)?;
    }
    if rule.required && rule.default.is_some() {
        return Err(format!("{here}: a required field cannot have a default"));
    }
    if let Some(default) = &rule.default {
        check_expr(default, vias, here)?;
    }
    Ok(())
}

pub(crate) fn check_via(via: &str, vias: &[&str], here: &str) -> Result<(), String> {
    if vias.contains(&via) {
        Ok(())
    } else {
        Err(format!(
            "{here}: via `{via}` is not a field listed in the collection's references"
        ))
    }
}

pub(crate) fn check_expr(expr: &Expr, vias: &[&str], here: &str) -> Result<(), String> {
    match expr {
        Expr::Const(_) | Expr::Field(_) => Ok(()),
        Expr::Today(n) if n.unsigned_abs() > MAX_DAY_OFFSET.unsigned_abs() => Err(format!(
            "{here}: `today` must be within ±{MAX_DAY_OFFSET} days"
        )),
        Expr::Today(_) => Ok(()),
        Expr::Ref(r) => check_via(&r.via, vias, here),
        Expr::Lookup(l) => check_via(&l.via, vias, here),
        Expr::Multiply(a, b) | Expr::AddMonths(a, b) | Expr::AddDays(a, b) => {
            check_expr(a, vias, here)?;
            check_expr(b, vias, here)
        }
    }
}

fn type_matches(ty: FieldType, v: &Value) -> bool {
    match ty {
        FieldType::String => v.is_string(),
        FieldType::Integer => v.is_i64(),
        FieldType::Number => v.is_number(),
        FieldType::Boolean => v.is_boolean(),
        FieldType::Object => v.is_object(),
    }
}
