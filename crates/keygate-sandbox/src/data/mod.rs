//! Loading and integrity checking of the sandbox data files: the manifest (`collections.json`),
//! the scenarios and magic values (`scenarios.json`) and one record file per collection.
//! [`load`] runs the checks as steps that stop at the first fault, named with its file: the
//! manifest's collections and their records (`manifest`, `records`), their references and
//! filters, their write rules (`writes`), the scenarios and magic values (`scenarios`), then
//! the lifecycles against everything that sets a state (`lifecycle`).

mod activity;
mod lifecycle;
mod manifest;
mod records;
mod scenarios;
mod writes;

use crate::rules::{Record, WriteSpec};
use serde_json::Value;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub(crate) use activity::{Activity, Counterparty, Profile};
pub(crate) use lifecycle::Lifecycle;

pub(crate) use scenarios::{MagicValue, Scenario};

pub(crate) const MANIFEST_FILE: &str = "collections.json";
pub(crate) const SCENARIOS_FILE: &str = "scenarios.json";
/// Optional: without it, nothing happens on the bank accounts as days pass.
pub(crate) const ACTIVITY_FILE: &str = "activity.json";

/// One collection, parsed and checked.
#[derive(Debug)]
pub(crate) struct Collection {
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
    /// The states its records move through as days pass, if it declares them.
    pub lifecycle: Option<Lifecycle>,
}

impl Collection {
    /// The collection that the reference field `field` points into.
    pub(crate) fn reference(&self, field: &str) -> Option<usize> {
        self.references
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, c)| *c)
    }

    /// A stored record in the state its lifecycle has reached on `today` (day number).
    pub(crate) fn as_of<'a>(&self, record: Cow<'a, Record>, today: i64) -> Cow<'a, Record> {
        let Some(lifecycle) = &self.lifecycle else {
            return record;
        };
        match lifecycle.state_on(&record, today) {
            Some(state) => {
                let mut record = record.into_owned();
                record.insert(lifecycle.field.clone(), Value::String(state.to_string()));
                Cow::Owned(record)
            }
            None => record,
        }
    }
}

/// Everything loaded from the data files.
#[derive(Debug)]
pub(crate) struct Loaded {
    pub collections: Vec<Collection>,
    pub scenarios: Vec<Scenario>,
    pub magic: Vec<MagicValue>,
    pub activity: Option<Activity>,
}

/// Parses and checks the files given as (file name, contents). Every error names its file.
pub(crate) fn load(files: &[(&str, &str)]) -> Result<Loaded, String> {
    let manifest: manifest::Manifest = serde_json::from_str(file(files, MANIFEST_FILE)?)
        .map_err(|e| format!("{MANIFEST_FILE}: {e}"))?;
    let scenarios_file: scenarios::ScenariosFile =
        serde_json::from_str(file(files, SCENARIOS_FILE)?)
            .map_err(|e| format!("{SCENARIOS_FILE}: {e}"))?;
    let mut collections = manifest::collections(&manifest, files)?;
    manifest::check_all_used(&manifest, files)?;
    manifest::link_references(&manifest, &mut collections)?;
    manifest::add_filters(&manifest, &mut collections)?;
    for c in 0..collections.len() {
        let Some(write) = collections[c].write.clone() else {
            continue;
        };
        writes::check_write(&collections, c, &write)?;
    }
    let scenarios = scenarios::check_scenarios(scenarios_file.scenarios)?;
    let magic = scenarios::check_magic(&collections, scenarios_file.magic_values)?;
    lifecycle::check_all(&collections, &magic)?;
    let activity = match files.iter().find(|(name, _)| *name == ACTIVITY_FILE) {
        None => {
            if let Some(coll) = collections
                .iter()
                .find(|c| c.lifecycle.as_ref().is_some_and(|l| l.booking().is_some()))
            {
                return Err(format!(
                    "{MANIFEST_FILE}: collection `{}`: lifecycle books on the bank ledger, \
                     which needs {ACTIVITY_FILE}",
                    coll.name
                ));
            }
            None
        }
        Some((_, text)) => {
            let file: activity::ActivityFile =
                serde_json::from_str(text).map_err(|e| format!("{ACTIVITY_FILE}: {e}"))?;
            Some(activity::check(file, &collections)?)
        }
    };
    Ok(Loaded {
        collections,
        scenarios,
        magic,
        activity,
    })
}

/// The contents of the file called `name`.
fn file<'f>(files: &[(&str, &'f str)], name: &str) -> Result<&'f str, String> {
    files
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, text)| *text)
        .ok_or_else(|| format!("{name} is missing"))
}

/// A name of a collection, an object kind or a scenario: lower-case letters, digits and `_`,
/// starting with a letter.
fn is_name(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_lowercase())
        && s.bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}
