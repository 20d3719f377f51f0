//! The one reader of admin bodies: one JSON object, every problem collected as a field error.

use super::bodies::BodySpec;
use super::*;
use crate::config::GatewayConfig;
use crate::error::{Error, FieldError};
use crate::ip::IpAllowlist;
use crate::keys::Environment;
use crate::model::{AccountStatus, Agreement, IpMode, KeyStatus};
use crate::quota::{Credits, Quota};
use crate::ratelimit::RateLimit;
use crate::scope::Scope;
use serde_json::{Map, Value};

/// Reads one JSON object, collecting field errors.
pub(super) struct Reader<'a> {
    pub(super) map: &'a Map<String, Value>,
    spec: &'static BodySpec,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    pub(super) fn new(body: &'a Value, spec: &'static BodySpec) -> Result<Self, Error> {
        let Value::Object(map) = body else {
            return Err(Error::bad_request(
                "The request body must be a JSON object; see the API reference for its fields.",
            ));
        };
        let known: Vec<&str> = spec.names().collect();
        let errors = map
            .keys()
            .filter(|k| spec.field(k).is_none())
            .map(|k| {
                FieldError::new(
                    truncate(k, 100),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                )
            })
            .collect();
        Ok(Self { map, spec, errors })
    }

    pub(super) fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The value of `field`, or an error if its body requires it and it is absent.
    pub(super) fn value(&mut self, field: &str) -> Option<&'a Value> {
        let value = self.map.get(field);
        let required = self.spec.field(field).is_some_and(|f| f.required);
        if value.is_none() && required {
            self.error(field, "is required");
        }
        value
    }

    pub(super) fn ip_mode(&mut self) -> Option<IpMode> {
        self.choice("ip_mode", &IP_MODES)
    }

    /// `quota`: absent → `None`; `null` → `Some(None)`; a quota → `Some(Some(quota))`.
    pub(super) fn quota(&mut self) -> Option<Option<Quota>> {
        let value = self.value("quota")?;
        match Quota::from_json("quota", value) {
            Ok(quota) => Some(quota),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    /// `credits` at `now`: absent → `None`; `null` → `Some(None)`; credits → `Some(Some(..))`.
    pub(super) fn credits(&mut self, now: i64) -> Option<Option<Credits>> {
        let value = self.value("credits")?;
        match Credits::from_json("credits", value, now) {
            Ok(credits) => Some(credits),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    /// `rate_limit`: absent → `None`; `null` → `Some(None)`; a limit → `Some(Some(limit))`.
    pub(super) fn rate_limit(&mut self) -> Option<Option<RateLimit>> {
        let value = self.value("rate_limit")?;
        match RateLimit::from_json("rate_limit", value) {
            Ok(limit) => Some(limit),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    pub(super) fn name(&mut self, field: &str) -> Option<String> {
        let value = self.value(field)?;
        let Value::String(text) = value else {
            self.error(field, "must be a string");
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            self.error(field, "must not be empty");
        } else if text.chars().count() > MAX_NAME_CHARS {
            self.error(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        } else if text.chars().any(char::is_control) {
            self.error(
                field,
                "must not contain control characters such as newlines",
            );
        } else {
            return Some(text.to_string());
        }
        None
    }

    /// A string that must be one of `options`, mapped through `pick`.
    pub(super) fn choice<T>(&mut self, field: &str, options: &[(&str, T)]) -> Option<T>
    where
        T: Copy,
    {
        let value = self.value(field)?;
        let found = value
            .as_str()
            .and_then(|s| options.iter().find(|(name, _)| *name == s));
        if found.is_none() {
            let names: Vec<String> = options
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            self.error(field, format!("must be {}", names.join(" or ")));
        }
        found.map(|(_, v)| *v)
    }

    /// An array of strings; each non-string element is reported as `field[i]`.
    pub(super) fn strings(&mut self, field: &str, max: usize) -> Option<Vec<String>> {
        let value = self.value(field)?;
        let Value::Array(items) = value else {
            self.error(field, "must be a list of strings");
            return None;
        };
        if items.len() > max {
            self.error(
                field,
                format!("has {} entries; at most {max} are allowed", items.len()),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => {
                    self.error(format!("{field}[{i}]"), "must be a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    pub(super) fn allowed_ips(&mut self) -> Option<Vec<String>> {
        // Counted by IpAllowlist itself, so its message about the limit is the one shown.
        let entries = self.strings("allowed_ips", usize::MAX)?;
        match IpAllowlist::parse(&entries) {
            Ok(list) => Some(list.to_strings()),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    pub(super) fn scopes(&mut self, config: &GatewayConfig) -> Option<Vec<String>> {
        let scopes = self.strings("scopes", MAX_LIST_ITEMS)?;
        if scopes.is_empty() {
            self.error(
                "scopes",
                "must list at least one scope; use [\"*\"] for every permission",
            );
            return None;
        }
        let mut ok = true;
        for (i, s) in scopes.iter().enumerate() {
            match Scope::parse(s) {
                Err(why) => {
                    self.error(format!("scopes[{i}]"), why);
                    ok = false;
                }
                Ok(_) if !config.is_known_scope(s) => {
                    self.error(
                        format!("scopes[{i}]"),
                        "is not a scope of this API; see its route table",
                    );
                    ok = false;
                }
                Ok(_) => {}
            }
        }
        ok.then(|| dedup(scopes))
    }

    pub(super) fn products(&mut self, config: &GatewayConfig) -> Option<Vec<String>> {
        let products = self.strings("products", MAX_LIST_ITEMS)?;
        let mut ok = true;
        for (i, id) in products.iter().enumerate() {
            if config.product(id).is_none() {
                self.error(format!("products[{i}]"), "is not a product of this API");
                ok = false;
            }
        }
        ok.then(|| dedup(products))
    }

    /// `Some(None)` for an explicit `null` (clear); `Some(Some(t))` for a future time.
    pub(super) fn expires_at(&mut self, now: i64) -> Option<Option<i64>> {
        match self.value("expires_at")? {
            Value::Null => Some(None),
            value => match value.as_i64() {
                Some(t) if t > now => Some(Some(t)),
                Some(_) => {
                    self.error("expires_at", "must be in the future (unix seconds)");
                    None
                }
                None => {
                    self.error(
                        "expires_at",
                        "must be a whole number of unix seconds, or null",
                    );
                    None
                }
            },
        }
    }

    pub(super) fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(self.errors))
        }
    }
}

pub(super) fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

pub(super) const AGREEMENTS: [(&str, Agreement); 2] = [
    ("test", Agreement::Test),
    ("production", Agreement::Production),
];
pub(super) const ACCOUNT_STATUSES: [(&str, AccountStatus); 2] = [
    ("active", AccountStatus::Active),
    ("suspended", AccountStatus::Suspended),
];
pub(super) const KEY_STATUSES: [(&str, KeyStatus); 2] = [
    ("active", KeyStatus::Active),
    ("disabled", KeyStatus::Disabled),
];
pub(super) const ENVIRONMENTS: [(&str, Environment); 2] =
    [("test", Environment::Test), ("live", Environment::Live)];
/// How a rolled key's grace runs: `true` when it starts at the successor's first use.
pub(super) const ROLL_GRACE_KINDS: [(&str, bool); 2] =
    [("fixed", false), ("after_first_use", true)];
