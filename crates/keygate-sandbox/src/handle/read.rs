//! Reads: an item, a list and a nested list, as one account sees them on its sandbox's day.
//! Static records come from the data files with the account's updates merged over them,
//! followed by the objects the account created, oldest first; so pages and cursors stay stable
//! as objects are added. Each record is then shown in the state its lifecycle has reached.
//! This module is the one place records are read, so every reader (lists, filters, the write
//! rules' references) sees the same state.

use super::render::{Ordered, capped, to_json};
use crate::data::Collection;
use crate::rules::{Record, shown};
use crate::{AccountState, Sandbox, SandboxResponse};
use keygate_core::page::{ListPage, PageParams, query_pairs};
use keygate_core::{Error, FieldError};
use serde_json::Value;
use std::borrow::Cow;

/// One account's records on one day: what every read sees them through.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) state: &'a AccountState,
    /// The account's sandbox day (days since 1970-01-01).
    pub(super) today: i64,
}

/// A record's id. Every static record has a string id (the data checks rule out any other) and
/// every created object gets one, so the empty default only means "matches no id".
pub(super) fn id_of(record: &Record) -> &str {
    record.get("id").and_then(Value::as_str).unwrap_or_default()
}

impl Sandbox {
    /// `GET /v1/{collection}/{id}`.
    pub(super) fn item(&self, c: usize, id: &str, view: View) -> Result<SandboxResponse, Error> {
        let record = self
            .lookup(c, id, view)
            .ok_or_else(|| self.no_such(c, id))?;
        Ok(SandboxResponse::json(200, to_json(&Ordered(&record))?))
    }

    /// `GET /v1/{parent}/{id}/{child}`: the list of `child` records whose `field` is `id`,
    /// once the parent is known to exist.
    pub(super) fn nested(
        &self,
        parent: usize,
        id: &str,
        child: usize,
        field: &str,
        query: &str,
        view: View,
    ) -> Result<SandboxResponse, Error> {
        if self.lookup(parent, id, view).is_none() {
            return Err(self.no_such(parent, id));
        }
        self.list(child, Some((field, id)), query, view)
    }

    /// The 404 for an id that collection `c` does not hold.
    fn no_such(&self, c: usize, id: &str) -> Error {
        let Some(coll) = self.collections.get(c) else {
            return Error::internal();
        };
        Error::not_found(format!(
            "No {} with id `{}`. List /v1/{} for the ids that exist.",
            coll.object,
            shown(id),
            coll.name
        ))
    }

    /// A record by id as the view shows it: static (with this account's updates) or created.
    pub(super) fn lookup<'a>(
        &'a self,
        c: usize,
        id: &str,
        view: View<'a>,
    ) -> Option<Cow<'a, Record>> {
        let View { state, today } = view;
        let coll = self.collections.get(c)?;
        let stored = if let Some(record) = coll.index.get(id).and_then(|&i| coll.records.get(i)) {
            patched(
                record,
                state.updated.get(&coll.name).and_then(|u| u.get(id)),
            )
        } else {
            state
                .created
                .get(&coll.name)?
                .iter()
                .find(|r| id_of(r) == id)
                .map(Cow::Borrowed)?
        };
        Some(coll.as_of(stored, today))
    }

    /// All records of a collection in list order, as the view shows them: static in file
    /// order, then created ones, oldest first.
    fn visible<'a>(&'a self, coll: &'a Collection, view: View<'a>) -> Vec<Cow<'a, Record>> {
        let View { state, today } = view;
        let updates = state.updated.get(&coll.name);
        let created = state
            .created
            .get(&coll.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        coll.records
            .iter()
            .map(|r| patched(r, updates.and_then(|u| u.get(id_of(r)))))
            .chain(created.iter().map(Cow::Borrowed))
            .map(|r| coll.as_of(r, today))
            .collect()
    }

    /// `GET /v1/{collection}`, or a nested list when `parent` gives the (field, id) that its
    /// records must have: one page of the records that pass the query's filters.
    pub(super) fn list(
        &self,
        c: usize,
        parent: Option<(&str, &str)>,
        query: &str,
        view: View,
    ) -> Result<SandboxResponse, Error> {
        let coll = self.collection(c)?;
        let pairs = query_pairs(query);
        let (params, filters) = list_query(coll, &pairs)?;
        let items: Vec<Cow<Record>> = self
            .visible(coll, view)
            .into_iter()
            .filter(|r| {
                parent.is_none_or(|(field, id)| r.get(field).and_then(Value::as_str) == Some(id))
            })
            .filter(|r| {
                filters
                    .iter()
                    .all(|(field, want)| matches(r.get(*field), want))
            })
            .collect();
        let (page, has_more) = params.page(&items, |r| id_of(r))?;
        let data: Vec<Ordered> = page.iter().map(|r| Ordered(r)).collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(data, has_more))?,
        ))
    }
}

/// A list filter: (top-level field, the exact value it must have).
type Filter<'q> = (&'q str, &'q str);

/// The paging parameters and the filters of a list's query. Every fault of either (an unknown
/// parameter, a repeated filter, a bad `limit`) is reported in one 400.
fn list_query<'q>(
    coll: &Collection,
    pairs: &'q [(String, String)],
) -> Result<(PageParams, Vec<Filter<'q>>), Error> {
    let as_strs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let mut errors = match PageParams::from_pairs(as_strs()) {
        Ok(_) => Vec::new(),
        Err(e) => e.errors,
    };
    let mut filters: Vec<Filter> = Vec::new();
    for (name, value) in pairs {
        if name == "limit" || name == "starting_after" {
            continue;
        }
        if !coll.filterable.contains(name) {
            errors.push(FieldError::new(
                shown(name),
                if coll.filterable.is_empty() {
                    format!(
                        "unknown query parameter; {} take only limit and starting_after",
                        coll.name
                    )
                } else {
                    format!(
                        "unknown query parameter; {} can be filtered by: {} (and paged with \
                        limit, starting_after)",
                        coll.name,
                        coll.filterable.join(", ")
                    )
                },
            ));
        } else if filters.iter().any(|(n, _)| n == name) {
            errors.push(FieldError::new(
                name.as_str(),
                "given more than once; filters match one exact value",
            ));
        } else {
            filters.push((name.as_str(), value.as_str()));
        }
    }
    if !errors.is_empty() {
        return Err(Error::invalid(capped(errors)));
    }
    Ok((PageParams::from_pairs(as_strs())?, filters))
}

/// A static record with the account's update of it (if any) merged over it.
fn patched<'a>(record: &'a Record, update: Option<&Record>) -> Cow<'a, Record> {
    match update {
        None => Cow::Borrowed(record),
        Some(update) => {
            let mut record = record.clone();
            for (k, v) in update {
                record.insert(k.clone(), v.clone());
            }
            Cow::Owned(record)
        }
    }
}

/// Exact filter match on the text form: strings as they are, numbers and booleans as JSON,
/// `null` (or an absent field) as `null`.
fn matches(value: Option<&Value>, want: &str) -> bool {
    match value {
        Some(Value::String(s)) => s == want,
        Some(Value::Number(n)) => n.to_string() == want,
        Some(Value::Bool(b)) => want == if *b { "true" } else { "false" },
        None | Some(Value::Null) => want == "null",
        Some(_) => false,
    }
}
