//! Values that satisfy a rule of the data (sandbox-data/README.md "Rules").

use super::*;

pub(crate) fn valid_object(rules: &Value) -> Value {
    let rules = rules.as_object().expect("an object of field rules");
    let mut out = serde_json::Map::new();
    // Fields that must not be before a sibling come after the others.
    for dependent in [false, true] {
        for (name, rule) in rules {
            if rule.get("not_before_field").is_some() == dependent {
                let value = valid_value(rule, &out);
                out.insert(name.clone(), value);
            }
        }
    }
    Value::Object(out)
}

pub(crate) fn valid_value(rule: &Value, siblings: &serde_json::Map<String, Value>) -> Value {
    if let Some(first) = rule["enum"].as_array().and_then(|e| e.first()) {
        return first.clone();
    }
    match rule["type"].as_str() {
        Some("integer") | Some("number") => {
            json!(rule["min"].as_i64().or(rule["max"].as_i64()).unwrap_or(1))
        }
        Some("boolean") => json!(true),
        Some("object") => valid_object(&rule["fields"]),
        Some("string") => match rule["format"].as_str() {
            Some("country") => json!("DE"),
            Some("currency") => json!("EUR"),
            Some("email") => json!("e2e@example.com"),
            Some("iban") => json!(CREDITOR_IBAN),
            Some("date") => {
                if let Some(other) = rule["not_before_field"].as_str() {
                    return siblings[other].clone();
                }
                let lo = rule["min_days_from_today"].as_i64();
                let hi = rule["max_days_from_today"].as_i64();
                let offset = match (lo, hi) {
                    (Some(lo), Some(hi)) => (lo + 1).min(hi),
                    (Some(lo), None) => lo + 1,
                    (None, Some(hi)) => hi - 3650,
                    (None, None) => 0,
                };
                json!(fmt_day(today() + offset))
            }
            _ => {
                let min = rule["min_length"].as_u64().unwrap_or(1).max(1);
                let max = rule["max_length"].as_u64().unwrap_or(64);
                json!("12345".repeat(4)[..5u64.clamp(min, max) as usize].to_string())
            }
        },
        other => panic!("no valid value for a rule of type {other:?}: {rule}"),
    }
}
