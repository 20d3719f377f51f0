//! The declarative write rules of `collections.json` (and of records that carry rules, such as an
//! insurance product's `risk_fields`): their schema, their load-time checks, validation of a
//! request body against them, and the small expression language for defaults and derived fields.

use crate::date;
use crate::iban;
use keygate_core::{Error, FieldError};
use serde::de::{Deserializer, Error as _, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::marker::PhantomData;

/// A JSON object record.
pub type Record = serde_json::Map<String, Value>;

/// A JSON object read in document order (`serde_json::Map` sorts its keys; rules are checked,
/// reported and evaluated in the order the file declares them).
#[derive(Debug, Clone, PartialEq)]
pub struct OrderedMap<T>(pub Vec<(String, T)>);

impl<T> Default for OrderedMap<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T> OrderedMap<T> {
    pub fn get(&self, key: &str) -> Option<&T> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn contains(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|(k, _)| k.as_str())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OrderedMap<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for OrderedVisitor<T> {
            type Value = OrderedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, T)> = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, T>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(A::Error::custom(format!("duplicate key `{key}`")));
                    }
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

impl<T: Serialize> Serialize for OrderedMap<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Date,
    Iban,
    Email,
    Country,
    Currency,
}

/// `{"via": "<reference field>", "field": "<field of the referenced record>"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefField {
    pub via: String,
    pub field: String,
}

/// `{"via": ..., "list": "<array field of the referenced record>", "key": "<key of its elements>"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListRef {
    pub via: String,
    pub list: String,
    pub key: String,
}

/// `{"via", "list", "key", "equals": "<field of the new object>", "field"}`: the `field` of the
/// element of the referenced record's `list` whose `key` equals the new object's `equals` field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    pub via: String,
    pub list: String,
    pub key: String,
    pub equals: String,
    pub field: String,
}

/// A value computed on the server: a default or a derived (`set`) field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Expr {
    /// `{"const": <any JSON>}`
    Const(Value),
    /// `{"field": "a.b"}`: a field of the object being built (dotted path into objects).
    Field(String),
    /// `{"ref": {"via", "field"}}`: a field of a referenced record.
    Ref(RefField),
    /// `{"lookup": {...}}`: see [`Lookup`].
    Lookup(Lookup),
    /// `{"today": n}`: the UTC date `n` days after today, `YYYY-MM-DD`.
    Today(i64),
    /// `{"multiply": [a, b]}`: a × b; an integer, rounded half away from zero.
    Multiply(Box<Expr>, Box<Expr>),
    /// `{"add_months": [date, n]}`: clamped to the end of a shorter month.
    AddMonths(Box<Expr>, Box<Expr>),
    /// `{"add_days": [date, n]}`
    AddDays(Box<Expr>, Box<Expr>),
}

/// The rule for one field of a request body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldRule {
    #[serde(rename = "type")]
    pub ty: FieldType,
    #[serde(default)]
    pub required: bool,
    /// Used when the field is absent or null; an optional field without one becomes null.
    #[serde(default)]
    pub default: Option<Expr>,
    #[serde(default, rename = "enum")]
    pub one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
    #[serde(default)]
    pub min_length: Option<usize>,
    #[serde(default)]
    pub max_length: Option<usize>,
    #[serde(default)]
    pub format: Option<Format>,
    /// For dates: earliest allowed date, in days from today (negative = in the past).
    #[serde(default)]
    pub min_days_from_today: Option<i64>,
    /// For dates: latest allowed date, in days from today.
    #[serde(default)]
    pub max_days_from_today: Option<i64>,
    /// For dates: must not be before this sibling date field.
    #[serde(default)]
    pub not_before_field: Option<String>,
    /// For objects: the rules of its fields (unknown keys are refused).
    #[serde(default)]
    pub fields: Option<OrderedMap<FieldRule>>,
    /// For objects: the rules of its fields are read from a referenced record's field.
    #[serde(default)]
    pub fields_from: Option<RefField>,
    /// For strings: must be the `key` of an element of a referenced record's `list`.
    #[serde(default)]
    pub one_of_list: Option<ListRef>,
}

/// A check of a referenced record, failing with 409 and `message` (`{value}` = its field value).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Condition {
    pub via: String,
    pub field: String,
    #[serde(default)]
    pub one_of: Option<Vec<Value>>,
    #[serde(default)]
    pub equals_field: Option<String>,
    #[serde(default)]
    pub not_before_today: bool,
    pub message: String,
}

/// After a create: fields set on the record the new object references (e.g. a quote becomes
/// `accepted`). The expressions see the created object.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Update {
    pub via: String,
    pub set: OrderedMap<Expr>,
}

/// The `write` block of a writable collection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteSpec {
    pub fields: OrderedMap<FieldRule>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    #[serde(default)]
    pub set: OrderedMap<Expr>,
    #[serde(default)]
    pub updates: Vec<Update>,
}

/// Largest day offset from today a rule or expression may use (about 10,000 years), so date
/// arithmetic stays far from integer limits.
pub const MAX_DAY_OFFSET: i64 = 3_660_000;

/// Fields every created object gets from the server.
pub const BASE_FIELDS: [&str; 4] = ["id", "object", "livemode", "created"];

// ---------------------------------------------------------------------------------------------
// Load-time checks of the rules themselves.

/// Checks that a rule set is coherent: constraints fit the type, `via` names a reference field
/// of the collection (`vias`), sibling names exist. `path` names the rule set in messages.
pub fn check_rules(rules: &OrderedMap<FieldRule>, vias: &[&str], path: &str) -> Result<(), String> {
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

pub fn check_via(via: &str, vias: &[&str], here: &str) -> Result<(), String> {
    if vias.contains(&via) {
        Ok(())
    } else {
        Err(format!(
            "{here}: via `{via}` is not a field listed in the collection's references"
        ))
    }
}

pub fn check_expr(expr: &Expr, vias: &[&str], here: &str) -> Result<(), String> {
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

/// At most 80 characters of a request-supplied string, for messages.
pub fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(80) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

pub fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A dotted path into nested objects.
pub fn get_path<'v>(record: &'v Record, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut value = record.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A JSON value as shown in a message: strings bare, the rest as JSON.
pub fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The records a write can see: static and created, by reference field of the new object.
pub trait Resolver {
    /// The record that `obj[via]` names (via a reference field of the collection being written).
    fn via(&self, via: &str, obj: &Record) -> Option<std::borrow::Cow<'_, Record>>;
}

// ---------------------------------------------------------------------------------------------
// Validation of a request body.

pub struct Validator<'r> {
    pub resolver: &'r dyn Resolver,
    pub today: i64,
}

impl Validator<'_> {
    /// Checks `input` (an object at `path`; `top` is the whole body) against `rules`, pushing one
    /// error per bad field. `server_fields` are refused with their own message at the top level.
    /// `Err` only when the data itself is broken (500).
    pub fn check_object(
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

    #[allow(clippy::too_many_arguments)]
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
    pub fn with_defaults(
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

    /// Evaluates an expression against `obj` (the object being built). `Err` (500) only when
    /// the data does not hold what the manifest promises.
    pub fn eval(&self, expr: &Expr, obj: &Record) -> Result<Value, Error> {
        Ok(match expr {
            Expr::Const(v) => v.clone(),
            Expr::Field(path) => get_path(obj, path).cloned().unwrap_or(Value::Null),
            Expr::Ref(r) => {
                let record = self.resolver.via(&r.via, obj).ok_or_else(Error::internal)?;
                get_path(&record, &r.field).cloned().unwrap_or(Value::Null)
            }
            Expr::Lookup(l) => {
                let record = self.resolver.via(&l.via, obj).ok_or_else(Error::internal)?;
                let want = get_path(obj, &l.equals).ok_or_else(Error::internal)?;
                record
                    .get(&l.list)
                    .and_then(Value::as_array)
                    .and_then(|items| items.iter().find(|item| item.get(&l.key) == Some(want)))
                    .and_then(|item| item.get(&l.field))
                    .cloned()
                    .ok_or_else(Error::internal)?
            }
            Expr::Today(n) => Value::String(date::format(self.today + n)),
            Expr::Multiply(a, b) => match (self.eval(a, obj)?, self.eval(b, obj)?) {
                (Value::Null, _) | (_, Value::Null) => Value::Null,
                (a, b) => multiply(&a, &b).ok_or_else(Error::internal)?,
            },
            Expr::AddMonths(d, n) | Expr::AddDays(d, n) => {
                match (self.eval(d, obj)?, self.eval(n, obj)?) {
                    (Value::Null, _) | (_, Value::Null) => Value::Null,
                    (d, n) => {
                        let day = d
                            .as_str()
                            .and_then(date::parse)
                            .ok_or_else(Error::internal)?;
                        let n = n.as_i64().ok_or_else(Error::internal)?;
                        let result = match expr {
                            Expr::AddMonths(..) => date::add_months(day, n),
                            _ => day
                                .checked_add(n)
                                .filter(|d| date::civil_from_days(*d).0 <= 9999),
                        };
                        Value::String(date::format(result.ok_or_else(Error::internal)?))
                    }
                }
            }
        })
    }
}

/// a × b as an integer: exact for two integers, else rounded half away from zero.
fn multiply(a: &Value, b: &Value) -> Option<Value> {
    if let (Some(a), Some(b)) = (a.as_i64(), b.as_i64()) {
        return a.checked_mul(b).map(Value::from);
    }
    let product = (a.as_f64()? * b.as_f64()?).round();
    (product.is_finite() && product.abs() < 9.0e15).then(|| Value::from(product as i64))
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
pub fn is_code(text: &str, length: usize) -> bool {
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
