//! Loading and integrity checking of the sandbox data files: the manifest (`collections.json`),
//! the scenarios and magic values (`scenarios.json`) and one record file per collection.

use crate::date;
use crate::iban;
use crate::rules::{
    BASE_FIELDS, Expr, FieldRule, FieldType, Format, OrderedMap, Record, WriteSpec, check_expr,
    check_rules, check_via, display, is_code,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

pub const MANIFEST_FILE: &str = "collections.json";
pub const SCENARIOS_FILE: &str = "scenarios.json";

/// Scenarios every dataset must offer, so integrators can always test their handling of rate
/// limits, server errors, outages, timeouts and slow answers (`docs/sandbox.md`, "Scenarios and
/// magic values"); `scenarios.json` must declare each of them.
pub const REQUIRED_SCENARIOS: [&str; 5] = [
    "rate_limited",
    "server_error",
    "unavailable",
    "timeout",
    "slow",
];
/// Longest delay a scenario may ask for.
pub const MAX_DELAY_MS: u32 = 30_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    collections: Vec<CollectionDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionDef {
    name: String,
    object: String,
    id_prefix: String,
    file: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    filterable: Vec<String>,
    #[serde(default)]
    references: OrderedMap<String>,
    #[serde(default)]
    write: Option<WriteSpec>,
}

/// One collection, parsed and checked.
#[derive(Debug)]
pub struct Collection {
    pub name: String,
    pub object: String,
    pub id_prefix: String,
    pub description: String,
    pub filterable: Vec<String>,
    /// Reference field → index of the referenced collection.
    pub references: Vec<(String, usize)>,
    pub write: Option<WriteSpec>,
    /// Static records in file order.
    pub records: Vec<Record>,
    /// id → position in `records`.
    pub index: BTreeMap<String, usize>,
    /// Nested lists under this collection: (child collection, the child's field naming us).
    pub children: Vec<(usize, String)>,
    /// Whether a test account's state can change what this collection shows (writable, or
    /// updated by another collection's creates).
    pub stateful: bool,
}

impl Collection {
    pub fn reference(&self, field: &str) -> Option<usize> {
        self.references
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, c)| *c)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenariosFile {
    scenarios: Vec<Scenario>,
    #[serde(default)]
    magic_values: Vec<MagicValue>,
}

/// A value of the `X-Sandbox-Scenario` header.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
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
pub struct MagicValue {
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reject {
    pub status: u16,
    pub message: String,
}

/// Everything loaded from the data files.
#[derive(Debug)]
pub struct Loaded {
    pub collections: Vec<Collection>,
    pub scenarios: Vec<Scenario>,
    pub magic: Vec<MagicValue>,
}

fn is_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// Parses and checks the files given as (file name, contents). Every error names its file.
pub fn load(files: &[(&str, &str)]) -> Result<Loaded, String> {
    let file = |name: &str| -> Result<&str, String> {
        files
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
            .ok_or_else(|| format!("{name} is missing"))
    };
    let manifest: Manifest =
        serde_json::from_str(file(MANIFEST_FILE)?).map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
    let scenarios_file: ScenariosFile = serde_json::from_str(file(SCENARIOS_FILE)?)
        .map_err(|e| format!("{SCENARIOS_FILE}: {e}"))?;
    if manifest.collections.is_empty() {
        return Err(format!("{MANIFEST_FILE}: declares no collection"));
    }

    // Names, prefixes and files.
    let mut collections = Vec::new();
    let mut used_files = BTreeSet::new();
    let mut all_ids = BTreeSet::new();
    for def in &manifest.collections {
        let at = format!("{MANIFEST_FILE}: collection `{}`", def.name);
        if !is_name(&def.name) || def.name == "sandbox" {
            return Err(format!(
                "{at}: the name must be lower-case letters, digits and `_`, and not `sandbox`"
            ));
        }
        if !is_name(&def.object) {
            return Err(format!(
                "{at}: the object name must be lower-case letters, digits and `_`"
            ));
        }
        if !def.id_prefix.ends_with('_') || !is_name(&def.id_prefix) {
            return Err(format!(
                "{at}: id_prefix must be lower-case letters ending in `_`, like `qt_`"
            ));
        }
        if collections.iter().any(|c: &Collection| c.name == def.name) {
            return Err(format!("{at}: declared twice"));
        }
        if let Some(other) = collections.iter().find(|c: &&Collection| {
            c.id_prefix.starts_with(&def.id_prefix) || def.id_prefix.starts_with(&c.id_prefix)
        }) {
            return Err(format!(
                "{at}: id_prefix `{}` clashes with `{}`'s",
                def.id_prefix, other.name
            ));
        }
        if def.file == MANIFEST_FILE
            || def.file == SCENARIOS_FILE
            || !used_files.insert(def.file.as_str())
        {
            return Err(format!(
                "{at}: file `{}` is reserved or used by another collection",
                def.file
            ));
        }
        let records = parse_records(
            def,
            file(&def.file).map_err(|e| format!("{at}: {e}"))?,
            &mut all_ids,
        )?;
        let index = records
            .iter()
            .enumerate()
            .filter_map(|(i, r)| Some((r.get("id")?.as_str()?.to_string(), i)))
            .collect();
        collections.push(Collection {
            name: def.name.clone(),
            object: def.object.clone(),
            id_prefix: def.id_prefix.clone(),
            description: def.description.clone(),
            filterable: Vec::new(),
            references: Vec::new(),
            write: def.write.clone(),
            records,
            index,
            children: Vec::new(),
            stateful: def.write.is_some(),
        });
    }
    for (name, _) in files {
        if *name != MANIFEST_FILE && *name != SCENARIOS_FILE && !used_files.contains(name) {
            return Err(format!(
                "{name}: not used by any collection of {MANIFEST_FILE}"
            ));
        }
    }

    // References: they resolve, and give the nested lists.
    for (c, def) in manifest.collections.iter().enumerate() {
        let at = format!("{MANIFEST_FILE}: collection `{}`", def.name);
        for (field, target_name) in &def.references.0 {
            let target = collections
                .iter()
                .position(|t| t.name == *target_name)
                .ok_or_else(|| {
                    format!("{at}: reference `{field}` names unknown collection `{target_name}`")
                })?;
            for record in &collections[c].records {
                match record.get(field) {
                    None | Some(Value::Null) => {}
                    Some(Value::String(id)) if collections[target].index.contains_key(id) => {}
                    Some(other) => {
                        return Err(format!(
                            "{}: record {}: {field} = {other} is not an id of {target_name}",
                            def.file,
                            record_id(record)
                        ));
                    }
                }
            }
            if collections[target]
                .children
                .iter()
                .any(|(child, _)| *child == c)
            {
                return Err(format!(
                    "{at}: two references to `{target_name}`; the nested list \
                    /v1/{target_name}/{{id}}/{} would be ambiguous",
                    def.name
                ));
            }
            collections[target].children.push((c, field.clone()));
            collections[c].references.push((field.clone(), target));
        }
    }

    // Filters.
    for (c, def) in manifest.collections.iter().enumerate() {
        let at = format!("{MANIFEST_FILE}: collection `{}`", def.name);
        for field in &def.filterable {
            if field.is_empty()
                || field.contains('.')
                || field == "limit"
                || field == "starting_after"
            {
                return Err(format!(
                    "{at}: `{field}` cannot be a filter (top-level fields only, not \
                    limit/starting_after)"
                ));
            }
            let written = def
                .write
                .as_ref()
                .is_some_and(|w| w.fields.contains(field) || w.set.contains(field));
            if !written && !collections[c].records.iter().any(|r| r.contains_key(field)) {
                return Err(format!(
                    "{at}: filterable field `{field}` appears in no record"
                ));
            }
            if collections[c].filterable.contains(field) {
                return Err(format!("{at}: filterable field `{field}` is listed twice"));
            }
            collections[c].filterable.push(field.clone());
        }
    }

    // Write rules.
    for c in 0..collections.len() {
        let Some(write) = collections[c].write.clone() else {
            continue;
        };
        check_write(&mut collections, c, &write)?;
    }

    let scenarios = check_scenarios(scenarios_file.scenarios)?;
    let magic = check_magic(&collections, scenarios_file.magic_values)?;
    Ok(Loaded {
        collections,
        scenarios,
        magic,
    })
}

fn record_id(record: &Record) -> String {
    record
        .get("id")
        .map(display)
        .unwrap_or_else(|| "(no id)".into())
}

fn parse_records(
    def: &CollectionDef,
    text: &str,
    all_ids: &mut BTreeSet<String>,
) -> Result<Vec<Record>, String> {
    let values: Vec<Value> =
        serde_json::from_str(text).map_err(|e| format!("{}: {e}", def.file))?;
    let mut records = Vec::with_capacity(values.len());
    for (n, value) in values.into_iter().enumerate() {
        let Value::Object(record) = value else {
            return Err(format!("{}: element {n} is not an object", def.file));
        };
        let id = match record.get("id") {
            Some(Value::String(id)) if id.starts_with(&def.id_prefix) && is_id(id) => id.clone(),
            _ => {
                return Err(format!(
                    "{}: element {n}: `id` must be a string starting with `{}` of at most 64 \
                    letters, digits and `_`",
                    def.file, def.id_prefix
                ));
            }
        };
        if !all_ids.insert(id.clone()) {
            return Err(format!("{}: id {id} is not unique", def.file));
        }
        if record.get("object").and_then(Value::as_str) != Some(def.object.as_str()) {
            return Err(format!(
                "{}: record {id}: `object` must be \"{}\"",
                def.file, def.object
            ));
        }
        if record.get("livemode") != Some(&Value::Bool(false)) {
            return Err(format!(
                "{}: record {id}: `livemode` must be false",
                def.file
            ));
        }
        if !record.get("created").is_some_and(Value::is_i64) {
            return Err(format!(
                "{}: record {id}: `created` must be Unix seconds",
                def.file
            ));
        }
        check_ibans(
            &Value::Object(record.clone()),
            "",
            &format!("{}: record {id}", def.file),
        )?;
        records.push(record);
    }
    Ok(records)
}

/// Every field named `iban` or `*_iban`, at any depth, is null or a valid IBAN.
fn check_ibans(value: &Value, key: &str, at: &str) -> Result<(), String> {
    match value {
        Value::Object(map) => map.iter().try_for_each(|(k, v)| check_ibans(v, k, at)),
        Value::Array(items) => items.iter().try_for_each(|v| check_ibans(v, key, at)),
        Value::String(s) if key == "iban" || key.ends_with("_iban") => {
            if iban::is_valid(s) {
                Ok(())
            } else {
                Err(format!("{at}: {key} `{s}` is not a valid IBAN"))
            }
        }
        Value::Null | Value::String(_) => Ok(()),
        other if key == "iban" || key.ends_with("_iban") => {
            Err(format!("{at}: {key} = {other} is not a string"))
        }
        _ => Ok(()),
    }
}

fn check_write(collections: &mut [Collection], c: usize, write: &WriteSpec) -> Result<(), String> {
    let name = collections[c].name.clone();
    let at = format!("{MANIFEST_FILE}: collection `{name}` write");
    let vias: Vec<String> = collections[c]
        .references
        .iter()
        .map(|(f, _)| f.clone())
        .collect();
    let vias: Vec<&str> = vias.iter().map(String::as_str).collect();
    check_rules(&write.fields, &vias, &format!("{at}.fields"))?;
    for (field, _) in &collections[c].references {
        if let Some(rule) = write.fields.get(field)
            && rule.ty != FieldType::String
        {
            return Err(format!(
                "{at}.fields.{field}: a reference field must be a string"
            ));
        }
    }
    for (field, expr) in &write.set.0 {
        if BASE_FIELDS.contains(&field.as_str()) || write.fields.contains(field) {
            return Err(format!(
                "{at}.set.{field}: is already a body field or a server field"
            ));
        }
        check_expr(expr, &vias, &format!("{at}.set.{field}"))?;
    }
    for field in write.fields.keys() {
        if BASE_FIELDS.contains(&field) {
            return Err(format!("{at}.fields.{field}: is set by the server"));
        }
    }
    for (n, condition) in write.conditions.iter().enumerate() {
        let here = format!("{at}.conditions[{n}]");
        check_via(&condition.via, &vias, &here)?;
        let kinds = usize::from(condition.one_of.is_some())
            + usize::from(condition.equals_field.is_some())
            + usize::from(condition.not_before_today);
        if kinds != 1 {
            return Err(format!(
                "{here}: needs exactly one of one_of, equals_field, not_before_today"
            ));
        }
        if let Some(field) = &condition.equals_field
            && !write.fields.contains(field)
        {
            return Err(format!(
                "{here}: equals_field `{field}` is not a body field"
            ));
        }
    }
    for (n, update) in write.updates.iter().enumerate() {
        let here = format!("{at}.updates[{n}]");
        check_via(&update.via, &vias, &here)?;
        for (field, expr) in &update.set.0 {
            if BASE_FIELDS.contains(&field.as_str()) {
                return Err(format!("{here}: cannot change `{field}`"));
            }
            check_expr(expr, &vias, &here)?;
        }
        if let Some(target) = collections[c].reference(&update.via) {
            collections[target].stateful = true;
        }
    }
    // What the rules read from referenced records must be there in every such record.
    let mut reads: Vec<(String, ReadKind)> = Vec::new();
    collect_reads(&write.fields, &mut reads);
    for (_, expr) in write
        .fields
        .0
        .iter()
        .filter_map(|(n, r)| r.default.as_ref().map(|d| (n, d)))
    {
        collect_expr_reads(expr, &mut reads);
    }
    for (_, expr) in write
        .set
        .0
        .iter()
        .chain(write.updates.iter().flat_map(|u| u.set.0.iter()))
    {
        collect_expr_reads(expr, &mut reads);
    }
    for (via, kind) in reads {
        let Some(target) = collections[c].reference(&via) else {
            continue;
        };
        let target = &collections[target];
        for record in &target.records {
            let here = format!("{at}: record {} of {}", record_id(record), target.name);
            match &kind {
                ReadKind::Rules(field) => {
                    let raw = record
                        .get(field)
                        .ok_or_else(|| format!("{here}: has no `{field}` (rules)"))?;
                    let rules = OrderedMap::<FieldRule>::deserialize(raw)
                        .map_err(|e| format!("{here}.{field}: {e}"))?;
                    check_rules(&rules, &[], &format!("{here}.{field}"))?;
                }
                ReadKind::List { list, key, field } => {
                    let items = record
                        .get(list)
                        .and_then(Value::as_array)
                        .ok_or_else(|| format!("{here}: `{list}` must be an array"))?;
                    for item in items {
                        if item.get(key).is_none_or(|k| !k.is_string()) {
                            return Err(format!(
                                "{here}: each element of `{list}` needs a string `{key}`"
                            ));
                        }
                        if let Some(field) = field
                            && !item.get(field).is_some_and(Value::is_number)
                        {
                            return Err(format!(
                                "{here}: each element of `{list}` needs a number `{field}`"
                            ));
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

enum ReadKind {
    Rules(String),
    List {
        list: String,
        key: String,
        field: Option<String>,
    },
}

fn collect_reads(rules: &OrderedMap<FieldRule>, reads: &mut Vec<(String, ReadKind)>) {
    for (_, rule) in &rules.0 {
        if let Some(from) = &rule.fields_from {
            reads.push((from.via.clone(), ReadKind::Rules(from.field.clone())));
        }
        if let Some(list) = &rule.one_of_list {
            reads.push((
                list.via.clone(),
                ReadKind::List {
                    list: list.list.clone(),
                    key: list.key.clone(),
                    field: None,
                },
            ));
        }
        if let Some(fields) = &rule.fields {
            collect_reads(fields, reads);
        }
    }
}

fn collect_expr_reads(expr: &Expr, reads: &mut Vec<(String, ReadKind)>) {
    match expr {
        Expr::Lookup(l) => reads.push((
            l.via.clone(),
            ReadKind::List {
                list: l.list.clone(),
                key: l.key.clone(),
                field: Some(l.field.clone()),
            },
        )),
        Expr::Multiply(a, b) | Expr::AddMonths(a, b) | Expr::AddDays(a, b) => {
            collect_expr_reads(a, reads);
            collect_expr_reads(b, reads);
        }
        Expr::Const(_) | Expr::Field(_) | Expr::Ref(_) | Expr::Today(_) => {}
    }
}

fn check_scenarios(scenarios: Vec<Scenario>) -> Result<Vec<Scenario>, String> {
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

fn check_magic(
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
