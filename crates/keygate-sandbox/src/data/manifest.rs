//! The manifest, `collections.json`: which collections exist, with their object names, id
//! prefixes and record files, their references (which give the nested lists) and filters.

use super::records::{RecordFile, parse_records, record_id};
use super::{ACTIVITY_FILE, Collection, Lifecycle, MANIFEST_FILE, SCENARIOS_FILE, file, is_name};
use crate::rules::{OrderedMap, WriteSpec};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Manifest {
    pub(super) collections: Vec<CollectionDef>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CollectionDef {
    pub(super) name: String,
    pub(super) object: String,
    pub(super) id_prefix: String,
    pub(super) file: String,
    #[serde(default)]
    pub(super) description: String,
    #[serde(default)]
    pub(super) filterable: Vec<String>,
    #[serde(default)]
    pub(super) references: OrderedMap<String>,
    #[serde(default)]
    pub(super) write: Option<WriteSpec>,
    #[serde(default)]
    pub(super) lifecycle: Option<Lifecycle>,
}

/// The manifest's collections with their records (names, prefixes and files checked), in
/// manifest order; references and filters are added by the next steps.
pub(super) fn collections(
    manifest: &Manifest,
    files: &[(&str, &str)],
) -> Result<Vec<Collection>, String> {
    if manifest.collections.is_empty() {
        return Err(format!("{MANIFEST_FILE}: declares no collection"));
    }
    let mut collections = Vec::new();
    let mut used_files = BTreeSet::new();
    let mut all_ids = BTreeSet::new();
    for def in &manifest.collections {
        let at = format!("{MANIFEST_FILE}: collection `{}`", def.name);
        if !is_name(&def.name) || ["sandbox", "events"].contains(&def.name.as_str()) {
            return Err(format!(
                "{at}: the name must be lower-case letters, digits and `_`, and not `sandbox` or \
                 `events` (the sandbox's own paths)"
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
            || def.file == ACTIVITY_FILE
            || !used_files.insert(def.file.as_str())
        {
            return Err(format!(
                "{at}: file `{}` is reserved or used by another collection",
                def.file
            ));
        }
        let record_file = RecordFile {
            file: &def.file,
            id_prefix: &def.id_prefix,
            object: &def.object,
        };
        let records = parse_records(
            &record_file,
            file(files, &def.file).map_err(|e| format!("{at}: {e}"))?,
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
            lifecycle: def.lifecycle.clone(),
        });
    }
    Ok(collections)
}

/// Every file besides the manifest and the scenarios is some collection's records: a file
/// that nothing reads is a mistake, not a dataset.
pub(super) fn check_all_used(manifest: &Manifest, files: &[(&str, &str)]) -> Result<(), String> {
    for (name, _) in files {
        if *name != MANIFEST_FILE
            && *name != SCENARIOS_FILE
            && *name != ACTIVITY_FILE
            && !manifest.collections.iter().any(|def| def.file == *name)
        {
            return Err(format!(
                "{name}: not used by any collection of {MANIFEST_FILE}"
            ));
        }
    }
    Ok(())
}

/// References: every one names a collection and every record's value is an id of it (or
/// null); each gives the referenced collection a nested list, which must be unambiguous.
pub(super) fn link_references(
    manifest: &Manifest,
    collections: &mut [Collection],
) -> Result<(), String> {
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
    Ok(())
}

/// Filters: top-level fields that a record or a create can have, each listed once.
pub(super) fn add_filters(
    manifest: &Manifest,
    collections: &mut [Collection],
) -> Result<(), String> {
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
    Ok(())
}
