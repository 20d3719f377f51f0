//! Reads: an item, a list and a nested list, as one account sees them on its sandbox's day.
//! Static records come from the data files with the account's updates merged over them,
//! followed by the objects the account created, oldest first; so pages and cursors stay stable
//! as objects are added. The bank ledger's records (`crate::ledger`: transactions and
//! statements booked since the files' `balance_date`) come after the static ones, in booking
//! order. Each record is then shown in the state its lifecycle has reached, and accounts and
//! payment orders as the ledger has moved them. This module is the one place records are read,
//! so every reader (lists, filters, the write rules' references) sees the same state.

use super::render::{Ordered, capped, to_json};
use crate::data::Collection;
use crate::ledger::World;
use crate::rules::{Record, shown};
use crate::{AccountState, Sandbox, SandboxResponse};
use keygate_core::page::{ListPage, PageParams, query_pairs};
use keygate_core::{Error, FieldError};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// One account's records on one day: what every read sees them through.
#[derive(Clone, Copy)]
pub(super) struct View<'a> {
    pub(super) state: &'a AccountState,
    /// The account's sandbox day (days since 1970-01-01).
    pub(super) today: i64,
    /// The bank ledger on that day, computed by the first read that needs it.
    pub(super) world: &'a OnceCell<World>,
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
    pub(super) fn no_such(&self, c: usize, id: &str) -> Error {
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

    /// A record by id as the view shows it: static (with this account's updates), booked by
    /// the ledger, or created.
    pub(super) fn lookup<'a>(
        &'a self,
        c: usize,
        id: &str,
        view: View<'a>,
    ) -> Option<Cow<'a, Record>> {
        let coll = self.collections.get(c)?;
        let stored = if let Some(record) = coll.index.get(id).and_then(|&i| coll.records.get(i)) {
            patched(
                record,
                view.state.updated.get(&coll.name).and_then(|u| u.get(id)),
            )
        } else if let Some(record) = self.booked_one(c, view, id) {
            record
        } else {
            view.state
                .created
                .get(&coll.name)?
                .iter()
                .find(|r| id_of(r) == id)
                .map(Cow::Borrowed)?
        };
        Some(self.shown(c, stored, view))
    }

    /// All records of a collection in list order, as the view shows them: static in file
    /// order, then those the ledger booked, then created ones, oldest first. With `account`,
    /// the ledger's records of other accounts may be left out (a list that only shows that
    /// account's would drop them anyway): they are made only when they can be shown.
    fn visible<'a>(
        &'a self,
        c: usize,
        view: View<'a>,
        account: Option<&'a str>,
    ) -> impl Iterator<Item = Cow<'a, Record>> + 'a {
        let coll = self.collections.get(c);
        let records = coll.map(|coll| coll.records.as_slice()).unwrap_or_default();
        let updates = coll.and_then(|coll| view.state.updated.get(&coll.name));
        let created = coll
            .and_then(|coll| view.state.created.get(&coll.name))
            .map(Vec::as_slice)
            .unwrap_or_default();
        records
            .iter()
            .map(move |r| patched(r, updates.and_then(|u| u.get(id_of(r)))))
            .chain(self.booked(c, view, account))
            .chain(created.iter().map(Cow::Borrowed))
            .map(move |r| self.shown(c, r, view))
    }

    /// The record of collection `c` with `id` that the ledger booked, if there is one.
    fn booked_one<'a>(&'a self, c: usize, view: View<'a>, id: &str) -> Option<Cow<'a, Record>> {
        let (activity, world) = self.activity.as_ref().zip(self.world(c, view))?;
        let record = world.record(c, id, &self.collections, activity)?;
        Some(Cow::Owned(record))
    }

    /// The records of collection `c` that the ledger booked (none if `c` is not one it books),
    /// only those of `account` if given. Made one by one, as they are taken.
    fn booked<'a>(
        &'a self,
        c: usize,
        view: View<'a>,
        account: Option<&'a str>,
    ) -> impl Iterator<Item = Cow<'a, Record>> + 'a {
        let collections = &self.collections;
        self.activity
            .as_ref()
            .zip(self.world(c, view))
            .into_iter()
            .flat_map(move |(activity, world)| world.records(c, collections, activity, account))
            .map(Cow::Owned)
    }

    /// The ledger of the view's day, if `c` is one of the collections it reads or writes.
    pub(super) fn world<'a>(&self, c: usize, view: View<'a>) -> Option<&'a World> {
        let activity = self.activity.as_ref()?;
        if ![
            activity.accounts,
            activity.transactions,
            activity.statements,
        ]
        .contains(&c)
            && !activity.bookers.contains(&c)
        {
            return None;
        }
        Some(
            view.world
                .get_or_init(|| activity.world(&self.collections, view.state, None, view.today)),
        )
    }

    /// A stored record of collection `c` as the view shows it: in the state its lifecycle has
    /// reached, and, for an account or a payment order, as the ledger has moved it.
    pub(super) fn shown<'a>(
        &self,
        c: usize,
        record: Cow<'a, Record>,
        view: View<'a>,
    ) -> Cow<'a, Record> {
        let Some(coll) = self.collections.get(c) else {
            return record;
        };
        let record = coll.as_of(record, view.today);
        let (Some(activity), Some(world)) = (&self.activity, self.world(c, view)) else {
            return record;
        };
        let id = id_of(&record);
        let changes: Vec<(&str, Value)> = if c == activity.accounts {
            match world.balances.get(id) {
                Some(balance) => vec![
                    ("balance", Value::from(*balance)),
                    ("balance_date", Value::from(world.today.as_str())),
                ],
                None => Vec::new(),
            }
        } else {
            match (world.booked.get(id), &coll.lifecycle) {
                (Some((booker, outcome)), Some(lifecycle)) if *booker == c => {
                    outcome.changes(lifecycle)
                }
                _ => Vec::new(),
            }
        };
        if changes.is_empty() {
            return record;
        }
        let mut record = record.into_owned();
        for (field, value) in changes {
            record.insert(field.to_string(), value);
        }
        Cow::Owned(record)
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
        let matching = self
            .visible(c, view, account_of(parent, &filters))
            .filter(|r| {
                parent.is_none_or(|(field, id)| r.get(field).and_then(Value::as_str) == Some(id))
            })
            .filter(|r| {
                filters
                    .iter()
                    .all(|(field, want)| matches(r.get(*field), want))
            });
        // Records are taken up to the page's end and one more (has_more), not all of them: a
        // ledger a year on holds thousands. A cursor that is never met takes them all, and the
        // page is refused as for any list.
        let mut items: Vec<Cow<Record>> = Vec::new();
        let mut after_cursor = params.starting_after.is_none().then_some(0);
        for record in matching {
            match after_cursor.as_mut() {
                Some(taken) => {
                    *taken += 1;
                    items.push(record);
                    if *taken > params.limit {
                        break;
                    }
                }
                None => {
                    if params.starting_after.as_deref() == Some(id_of(&record)) {
                        after_cursor = Some(0);
                    }
                    items.push(record);
                }
            }
        }
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

/// The account a list is limited to, by its parent or its filters, if any.
fn account_of<'q>(parent: Option<(&'q str, &'q str)>, filters: &[Filter<'q>]) -> Option<&'q str> {
    parent
        .into_iter()
        .chain(filters.iter().copied())
        .find(|(field, _)| *field == "account_id")
        .map(|(_, id)| id)
}

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
pub(super) fn patched<'a>(record: &'a Record, update: Option<&Record>) -> Cow<'a, Record> {
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
