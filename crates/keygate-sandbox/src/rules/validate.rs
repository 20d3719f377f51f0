//! Validation of a request body against its rules: every bad field gets its own error, and
//! defaults fill in what the body leaves out.

use super::{
    FieldRule, FieldType, Format, OrderedMap, Record, RefField, Resolver, display, join, shown,
};
use crate::{date, iban};
use keygate_core::{Error, FieldError};
use serde::Deserialize;
use serde_json::Value;

pub(crate) struct Validator<'r> {
    pub resolver: &'r dyn Resolver,
    pub today: i64,
}

impl Validator<'_> {
    /// Checks `input` (an object at `path`; `top` is the whole body) against `rules`, pushing one
    /// error per bad field. `server_fields` are refused with their own message at the top level.
    /// `Err` only when the data itself is broken (500).
    pub(crate) fn check_object(
        &self,
        rules: &OrderedMap<FieldRule>,
        input: &Record,
        path: &str,
        top: &Record,
        server_fields: &[&str],
        errors: &mut Vec<FieldError>,
    ) -> Result<(), Error> {
        for key in input.keys() {
            if rules.contains(key) {
                continue;
            }
            let full = shown(&join(path, key)).into_owned();
            if path.is_empty() && server_fields.contains(&key.as_str()) {
                errors.push(FieldError::new(full, "is set by the server; leave it out"));
            } else {
                let accepted: Vec<&str> = rules.keys().collect();
                errors.push(FieldError::new(
                    full,
                    format!(
                        "unknown field; accepted fields here: {}",
                        accepted.join(", ")
                    ),
                ));
            }
        }
        for (name, rule) in &rules.0 {
            self.check_value(
                rule,
                input.get(name),
                &join(path, name),
                input,
                top,
                server_fields,
                errors,
            )?;
        }
        Ok(())
    }

    /// Checks one field's `value` at `path` against its `rule`, like [`Self::check_object`].
    #[expect(
        clippy::too_many_arguments,
        reason = "the recursion's state: the field, its object, the whole body, its errors"
    )]
    fn check_value(
        &self,
        rule: &FieldRule,
        value: Option<&Value>,
        path: &str,
        siblings: &Record,
        top: &Record,
        server_fields: &[&str],
        errors: &mut Vec<FieldError>,
    ) -> Result<(), Error> {
        let value = match value {
            None | Some(Value::Null) => {
                if rule.required {
                    errors.push(FieldError::new(path, "is required"));
                }
                return Ok(());
            }
            Some(v) => v,
        };
        let mut fail = |message: String| errors.push(FieldError::new(path, message));
        match rule.ty {
            FieldType::String => {
                let Some(text) = value.as_str() else {
                    fail("must be a string".into());
                    return Ok(());
                };
                self.check_string(rule, text, siblings, top, &mut fail);
            }
            FieldType::Integer => {
                let Some(n) = value.as_i64() else {
                    fail(if value.is_number() {
                        "must be a whole number (amounts are in minor units, e.g. 1050 for 10.50)"
                            .into()
                    } else {
                        "must be an integer".into()
                    });
                    return Ok(());
                };
                check_range(rule, n as f64, &mut fail);
            }
            FieldType::Number => {
                let Some(n) = value.as_f64() else {
                    fail("must be a number".into());
                    return Ok(());
                };
                check_range(rule, n, &mut fail);
            }
            FieldType::Boolean => {
                if !value.is_boolean() {
                    fail("must be true or false".into());
                    return Ok(());
                }
            }
            FieldType::Object => {
                let Some(object) = value.as_object() else {
                    fail("must be an object".into());
                    return Ok(());
                };
                if let Some(fields) = &rule.fields {
                    self.check_object(fields, object, path, top, server_fields, errors)?;
                } else if let Some(from) = &rule.fields_from {
                    // Unresolved `via`: its own error is reported on the via field.
                    if let Some(rules) = self.rules_from(from, top)? {
                        self.check_object(&rules, object, path, top, server_fields, errors)?;
                    }
                }
                return Ok(());
            }
        }
        if let Some(values) = &rule.one_of
            && !values.contains(value)
        {
            let shown: Vec<String> = values.iter().map(display).collect();
            errors.push(FieldError::new(
                path,
                format!("must be one of: {}", shown.join(", ")),
            ));
        }
        Ok(())
    }

    fn check_string(
        &self,
        rule: &FieldRule,
        text: &str,
        siblings: &Record,
        top: &Record,
        fail: &mut dyn FnMut(String),
    ) {
        let length = text.chars().count();
        if let Some(min) = rule.min_length
            && length < min
        {
            fail(if min == 1 {
                "must not be empty".into()
            } else {
                format!("must be at least {min} characters")
            });
        }
        if let Some(max) = rule.max_length
            && length > max
        {
            fail(format!("must be at most {max} characters"));
        }
        match rule.format {
            None => {}
            Some(Format::Date) => match date::parse(text) {
                None => fail("must be a date in the form YYYY-MM-DD".into()),
                Some(day) => {
                    if let Some(min) = rule.min_days_from_today {
                        let earliest = self.today + min;
                        if day < earliest {
                            fail(match min {
                                0 => "must be today or later".into(),
                                _ => format!("must be on or after {}", date::format(earliest)),
                            });
                        }
                    }
                    if let Some(max) = rule.max_days_from_today {
                        let latest = self.today + max;
                        if day > latest {
                            fail(match max {
                                0 => "must not be in the future".into(),
                                n if n > 0 => format!(
                                    "must be at most {n} days from today ({})",
                                    date::format(latest)
                                ),
                                _ => format!("must be on or before {}", date::format(latest)),
                            });
                        }
                    }
                    if let Some(sibling) = &rule.not_before_field {
                        let other = siblings
                            .get(sibling)
                            .and_then(Value::as_str)
                            .and_then(date::parse);
                        if other.is_some_and(|other| day < other) {
                            fail(format!("must not be before {sibling}"));
                        }
                    }
                }
            },
            Some(Format::Iban) if !iban::is_valid(text) => fail(
                "must be a valid IBAN in electronic format (upper case, no spaces), e.g. \
                DE89370400440532013000"
                    .into(),
            ),
            Some(Format::Email) if !is_email(text) => fail("must be an email address".into()),
            Some(Format::Country) if !is_code(text, 2) => {
                fail("must be an ISO 3166-1 alpha-2 country code in upper case, e.g. DE".into())
            }
            Some(Format::Currency) if !is_code(text, 3) => {
                fail("must be an ISO 4217 currency code in upper case, e.g. EUR".into())
            }
            Some(_) => {}
        }
        if let Some(list) = &rule.one_of_list
            && let Some(record) = self.resolver.via(&list.via, top)
        {
            let keys: Vec<&Value> = record
                .get(&list.list)
                .and_then(Value::as_array)
                .map(|items| {
                    items
                        .iter()
                        .filter_map(|item| item.get(&list.key))
                        .collect()
                })
                .unwrap_or_default();
            if !keys.iter().any(|k| k.as_str() == Some(text)) {
                let shown: Vec<String> = keys.iter().map(|k| display(k)).collect();
                fail(format!("must be one of: {}", shown.join(", ")));
            }
        }
    }

    /// The rules stored in a referenced record's field; `Ok(None)` if `via` does not resolve.
    fn rules_from(
        &self,
        from: &RefField,
        top: &Record,
    ) -> Result<Option<OrderedMap<FieldRule>>, Error> {
        let Some(record) = self.resolver.via(&from.via, top) else {
            return Ok(None);
        };
        let raw = record.get(&from.field).ok_or_else(Error::internal)?;
        OrderedMap::<FieldRule>::deserialize(raw)
            .map(Some)
            .map_err(|_| Error::internal())
    }

    /// The body with defaults applied: absent or null fields get their default, or null.
    /// Only called on a body that passed [`Validator::check_object`].
    pub(crate) fn with_defaults(
        &self,
        rules: &OrderedMap<FieldRule>,
        input: &Record,
        top: &Record,
    ) -> Result<Record, Error> {
        let mut out = Record::new();
        for (name, rule) in &rules.0 {
            let value = match input.get(name).filter(|v| !v.is_null()) {
                Some(Value::Object(object)) => {
                    let nested = match (&rule.fields, &rule.fields_from) {
                        (Some(fields), _) => Some(fields.clone()),
                        (None, Some(from)) => self.rules_from(from, top)?,
                        (None, None) => None,
                    };
                    match nested {
                        Some(nested) => Value::Object(self.with_defaults(&nested, object, top)?),
                        None => Value::Object(object.clone()),
                    }
                }
                Some(other) => other.clone(),
                None => match &rule.default {
                    Some(expr) => self.eval(expr, top)?,
                    None => Value::Null,
                },
            };
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

fn check_range(rule: &FieldRule, n: f64, fail: &mut dyn FnMut(String)) {
    match (rule.min, rule.max) {
        (Some(min), Some(max)) if n < min || n > max => {
            fail(format!("must be between {min} and {max}"))
        }
        (Some(min), None) if n < min => fail(format!("must be at least {min}")),
        (None, Some(max)) if n > max => fail(format!("must be at most {max}")),
        _ => {}
    }
}

/// `length` upper-case ASCII letters (country and currency codes).
pub(crate) fn is_code(text: &str, length: usize) -> bool {
    text.len() == length && text.bytes().all(|c| c.is_ascii_uppercase())
}

/// A plausible address: one `@`, a non-empty local part, a dotted domain, no spaces.
fn is_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| !label.is_empty())
        && !text.chars().any(|c| c.is_whitespace() || c.is_control())
}
