//! JSON Schemas of the sandbox, for the API reference (`crates/keygate-openapi`): an object's
//! schema is inferred from its collection's records, a create body's is written from the
//! collection's write rules, so neither is stated a second time.

use crate::Sandbox;
use crate::data::Collection;
use crate::rules::{Expr, FieldRule, FieldType, Format, Record};
use serde_json::{Map, Value, json};

/// What the fields every record carries mean.
const BASE_DESCRIPTIONS: [(&str, &str); 4] = [
    ("id", "Unique id, with the collection's prefix."),
    ("object", "The object type."),
    ("livemode", "Always false: sandbox data."),
    ("created", "Unix seconds."),
];

impl Sandbox {
    fn collection_named(&self, name: &str) -> Option<&Collection> {
        self.collections.iter().find(|c| c.name == name)
    }

    /// The schema of the objects of `collection`: every field its records carry, with the
    /// types they take (a field every record has is required). A write field sent without a
    /// value and without a default is stored as null, so such a field may also be null.
    pub fn object_schema(&self, collection: &str) -> Option<Value> {
        let c = self.collection_named(collection)?;
        let keys = keys_in_order(c.records.iter());
        let write = c.write.as_ref().map(|w| &w.fields);
        let mut properties = Map::new();
        for key in &keys {
            let values: Vec<&Value> = c.records.iter().filter_map(|r| r.get(key)).collect();
            let rule = write.and_then(|fields| fields.get(key));
            let mut schema = match key.as_str() {
                "object" => json!({"const": c.object}),
                "livemode" => json!({"const": false}),
                "id" => json!({"type": "string", "pattern": format!("^{}", c.id_prefix)}),
                _ => match rule.and_then(|r| r.fields_from.as_ref()) {
                    Some(from) => json!({
                        "type": "object",
                        "additionalProperties": true,
                        "description": format!(
                            "The fields named by the `{}` of the `{}` record.",
                            from.field, from.via
                        ),
                    }),
                    None if self.names_fields(c, key) => json!({
                        "type": "object",
                        "additionalProperties": infer(
                            &values
                                .iter()
                                .filter_map(|v| v.as_object())
                                .flat_map(|m| m.values())
                                .collect::<Vec<_>>()
                        ),
                        "description": "The fields a create must send, by field name.",
                    }),
                    None => infer(&values),
                },
            };
            if let Some((_, text)) = BASE_DESCRIPTIONS.iter().find(|(name, _)| name == key) {
                schema["description"] = json!(text);
            }
            if rule.is_some_and(|r| !r.required && r.default.is_none()) {
                add_null(&mut schema);
            }
            properties.insert(key.clone(), schema);
        }
        let required: Vec<&String> = keys
            .iter()
            .filter(|k| c.records.iter().all(|r| r.contains_key(*k)))
            .collect();
        Some(json!({
            "type": "object",
            "description": c.description,
            "x-collection": c.name,
            "required": required,
            "properties": properties,
        }))
    }

    /// Whether `field` of `c` is what another collection's write rule reads field rules from
    /// (`fields_from`), e.g. an insurance product's `risk_fields`.
    fn names_fields(&self, c: &Collection, field: &str) -> bool {
        self.collections.iter().any(|other| {
            other.write.as_ref().is_some_and(|w| {
                w.fields.0.iter().any(|(_, rule)| {
                    rule.fields_from.as_ref().is_some_and(|from| {
                        from.field == field
                            && other
                                .reference(&from.via)
                                .is_some_and(|i| self.collections[i].name == c.name)
                    })
                })
            })
        })
    }

    /// The schema of a create body of `collection` (`None` when it is not writable): its
    /// write rules' fields; an optional one may be null (its default then applies).
    pub fn create_schema(&self, collection: &str) -> Option<Value> {
        let fields = &self.collection_named(collection)?.write.as_ref()?.fields;
        let mut properties = Map::new();
        for (name, rule) in &fields.0 {
            let mut schema = field_schema(rule);
            if !rule.required {
                add_null(&mut schema);
                if let Some(Value::Array(values)) = schema.get_mut("enum") {
                    values.push(Value::Null);
                }
            }
            properties.insert(name.clone(), schema);
        }
        let required: Vec<&String> = fields
            .0
            .iter()
            .filter(|(_, rule)| rule.required)
            .map(|(name, _)| name)
            .collect();
        Some(json!({
            "type": "object",
            "additionalProperties": false,
            "required": required,
            "properties": properties,
        }))
    }

    /// The names of the failure scenarios (`X-Sandbox-Scenario`), in file order.
    pub fn scenario_names(&self) -> impl Iterator<Item = &str> {
        self.scenarios.iter().map(|s| s.name.as_str())
    }

    /// Whether a magic value refuses some creates of `collection` (a 422).
    pub fn has_refusing_magic_value(&self, collection: &str) -> bool {
        self.magic
            .iter()
            .any(|m| m.collection == collection && m.reject.is_some())
    }
}

fn keys_in_order<'r>(records: impl Iterator<Item = &'r Record>) -> Vec<String> {
    let mut keys: Vec<String> = Vec::new();
    for record in records {
        for key in record.keys() {
            if !keys.contains(key) {
                keys.push(key.clone());
            }
        }
    }
    keys
}

/// Adds `null` to a schema's `type`.
fn add_null(schema: &mut Value) {
    let types = match schema.get("type") {
        Some(Value::String(t)) => vec![json!(t)],
        Some(Value::Array(ts)) => ts.clone(),
        _ => return,
    };
    if !types.contains(&json!("null")) {
        let mut types = types;
        types.push(json!("null"));
        schema["type"] = Value::Array(types);
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// A schema every one of `values` satisfies: their types, and for objects and arrays, what
/// their fields and elements take.
fn infer(values: &[&Value]) -> Value {
    let mut types: Vec<&str> = values.iter().map(|v| json_type(v)).collect();
    if types.contains(&"number") {
        types.retain(|t| *t != "integer");
    }
    types.sort_unstable();
    types.dedup();
    let mut schema = Map::new();
    schema.insert(
        "type".into(),
        match types.as_slice() {
            [one] => json!(one),
            many => json!(many),
        },
    );
    let objects: Vec<&Record> = values.iter().filter_map(|v| v.as_object()).collect();
    if !objects.is_empty() {
        let keys = keys_in_order(objects.iter().copied());
        let properties: Map<String, Value> = keys
            .iter()
            .map(|k| {
                let field: Vec<&Value> = objects.iter().filter_map(|o| o.get(k)).collect();
                (k.clone(), infer(&field))
            })
            .collect();
        let required: Vec<&String> = keys
            .iter()
            .filter(|k| objects.iter().all(|o| o.contains_key(*k)))
            .collect();
        schema.insert("properties".into(), Value::Object(properties));
        schema.insert("required".into(), json!(required));
    }
    if types.contains(&"array") {
        let items: Vec<&Value> = values
            .iter()
            .filter_map(|v| v.as_array())
            .flatten()
            .collect();
        let items = if items.is_empty() {
            json!({})
        } else {
            infer(&items)
        };
        schema.insert("items".into(), items);
    }
    Value::Object(schema)
}

/// A number as JSON writes it: whole numbers without a fraction.
fn number(n: f64) -> Value {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        json!(n as i64)
    } else {
        json!(n)
    }
}

/// The schema of one write field, from its rule.
fn field_schema(rule: &FieldRule) -> Value {
    let ty = match rule.ty {
        FieldType::String => "string",
        FieldType::Integer => "integer",
        FieldType::Number => "number",
        FieldType::Boolean => "boolean",
        FieldType::Object => "object",
    };
    let mut s = json!({"type": ty});
    if let Some(n) = rule.min_length {
        s["minLength"] = json!(n);
    }
    if let Some(n) = rule.max_length {
        s["maxLength"] = json!(n);
    }
    if let Some(n) = rule.min {
        s["minimum"] = number(n);
    }
    if let Some(n) = rule.max {
        s["maximum"] = number(n);
    }
    if let Some(values) = &rule.one_of {
        s["enum"] = json!(values);
    }
    match rule.format {
        Some(Format::Iban) => {
            s["pattern"] = json!("^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$");
            s["description"] = json!("An IBAN (ISO 13616, mod-97 checked).");
        }
        Some(Format::Date) => s["format"] = json!("date"),
        Some(Format::Email) => s["format"] = json!("email"),
        Some(Format::Country) => {
            s["pattern"] = json!("^[A-Z]{2}$");
            s["description"] = json!("An ISO 3166-1 alpha-2 country code.");
        }
        Some(Format::Currency) => {
            s["pattern"] = json!("^[A-Z]{3}$");
            s["description"] = json!("An ISO 4217 currency code.");
        }
        None => {}
    }
    if let Some(fields) = &rule.fields {
        s["additionalProperties"] = json!(false);
        let properties: Map<String, Value> = fields
            .0
            .iter()
            .map(|(name, rule)| (name.clone(), field_schema(rule)))
            .collect();
        s["properties"] = Value::Object(properties);
        let required: Vec<&String> = fields
            .0
            .iter()
            .filter(|(_, r)| r.required)
            .map(|(n, _)| n)
            .collect();
        s["required"] = json!(required);
    }
    if let Some(from) = &rule.fields_from {
        s["additionalProperties"] = json!(true);
        s["description"] = json!(format!(
            "The fields named by the `{}` of the `{}` record.",
            from.field, from.via
        ));
    }
    if let Some(list) = &rule.one_of_list {
        s["description"] = json!(format!(
            "One of the `{}[].{}` of the `{}` record.",
            list.list, list.key, list.via
        ));
    }
    if let Some(Expr::Const(value)) = &rule.default {
        s["default"] = value.clone();
    }
    let mut notes = Vec::new();
    if rule.min_days_from_today.is_some() || rule.max_days_from_today.is_some() {
        let bound = |b: Option<i64>, open: &str| b.map_or(open.to_string(), |d| d.to_string());
        notes.push(format!(
            "Days from today (UTC): {} to {}.",
            bound(rule.min_days_from_today, "-∞"),
            bound(rule.max_days_from_today, "+∞")
        ));
    }
    match &rule.default {
        Some(Expr::Today(_)) => notes.push("Default: today.".into()),
        Some(Expr::Ref(r)) => notes.push(format!("Default: the `{}` of `{}`.", r.field, r.via)),
        _ => {}
    }
    if !notes.is_empty() {
        s["description"] = json!(notes.join(" "));
    }
    s
}
