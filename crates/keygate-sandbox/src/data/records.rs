//! The record files, one per collection: every record is an object with a unique, prefixed
//! id, its collection's `object`, `livemode: false`, a `created` time and valid IBANs.

use crate::iban;
use crate::rules::{Record, display};
use serde_json::Value;
use std::collections::BTreeSet;

/// A record's id for messages.
pub(super) fn record_id(record: &Record) -> String {
    record
        .get("id")
        .map(display)
        .unwrap_or_else(|| "(no id)".into())
}

/// What a record file must hold: the manifest's word on it. Passed in, so this module reads
/// record files without depending on the manifest that names them.
pub(super) struct RecordFile<'a> {
    /// The file name, for messages.
    pub(super) file: &'a str,
    /// What every id starts with.
    pub(super) id_prefix: &'a str,
    /// Every record's `object`.
    pub(super) object: &'a str,
}

/// The records of one collection's file, checked; `all_ids` collects the ids of every file
/// so far, since an id must be unique across collections.
pub(super) fn parse_records(
    def: &RecordFile<'_>,
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
            Some(Value::String(id)) if id.starts_with(def.id_prefix) && is_id(id) => id.clone(),
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
        if record.get("object").and_then(Value::as_str) != Some(def.object) {
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

fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}
