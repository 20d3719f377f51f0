//! The declarative write rules of `collections.json` (and of records that carry rules, such as an
//! insurance product's `risk_fields`): their schema here, their load-time checks (`check`),
//! validation of a request body against them (`validate`), and the small expression language
//! for defaults and derived fields (`eval`). Data authors find the rule language in
//! `sandbox-data/README.md`.

mod check;
mod eval;
mod ordered_map;
mod validate;

use serde::Deserialize;
use serde_json::Value;

pub(crate) use check::{check_expr, check_rules, check_via};
pub(crate) use ordered_map::OrderedMap;
pub(crate) use validate::{Validator, is_code};

/// A JSON object record.
pub(crate) type Record = serde_json::Map<String, Value>;

/// The JSON type a field must have (`integer` is a whole number, e.g. an amount in cents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum FieldType {
    String,
    Integer,
    Number,
    Boolean,
    Object,
}

/// A format a string field must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Format {
    Date,
    Iban,
    Email,
    Country,
    Currency,
}

/// `{"via": "<reference field>", "field": "<field of the referenced record>"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RefField {
    pub via: String,
    pub field: String,
}

/// `{"via": ..., "list": "<array field of the referenced record>", "key": "<key of its elements>"}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListRef {
    pub via: String,
    pub list: String,
    pub key: String,
}

/// `{"via", "list", "key", "equals": "<field of the new object>", "field"}`: the `field` of the
/// element of the referenced record's `list` whose `key` equals the new object's `equals` field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lookup {
    pub via: String,
    pub list: String,
    pub key: String,
    pub equals: String,
    pub field: String,
}

/// A value computed on the server: a default or a derived (`set`) field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Expr {
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
pub(crate) struct FieldRule {
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
pub(crate) struct Condition {
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
pub(crate) struct Update {
    pub via: String,
    pub set: OrderedMap<Expr>,
}

/// The `write` block of a writable collection.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WriteSpec {
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
pub(crate) const MAX_DAY_OFFSET: i64 = 3_660_000;

/// Fields every created object gets from the server.
pub(crate) const BASE_FIELDS: [&str; 4] = ["id", "object", "livemode", "created"];

/// The records a write can see: static and created, by reference field of the new object.
pub(crate) trait Resolver {
    /// The record that `obj[via]` names (via a reference field of the collection being written).
    fn via(&self, via: &str, obj: &Record) -> Option<std::borrow::Cow<'_, Record>>;
}

// ---------------------------------------------------------------------------------------------
// Helpers for messages and paths, shared by the checks, the validation and the handlers.

/// At most 80 characters of a request-supplied string, for messages.
pub(crate) fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(80) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => std::borrow::Cow::Owned(format!("{}…", &text[..cut])),
    }
}

/// `path.name`, or `name` at the top level: where a nested field is named in messages.
pub(crate) fn join(path: &str, name: &str) -> String {
    if path.is_empty() {
        name.to_string()
    } else {
        format!("{path}.{name}")
    }
}

/// A dotted path into nested objects.
pub(crate) fn get_path<'v>(record: &'v Record, path: &str) -> Option<&'v Value> {
    let mut parts = path.split('.');
    let mut value = record.get(parts.next()?)?;
    for part in parts {
        value = value.as_object()?.get(part)?;
    }
    Some(value)
}

/// A JSON value as shown in a message: strings bare, the rest as JSON.
pub(crate) fn display(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
