//! `GET /v1/events` and `GET /v1/events/{id}`: every change in a sandbox, oldest first, in the
//! admin events' shape (`{"object": "event", "id", "type", "created", "data": {"object"}}`).
//!
//! Two kinds, merged by time. The account's writes are stored as they happen, each with the
//! object its answer showed (`AccountState::log`): `payment_order.created`, `quote.updated`
//! (a policy bound it), `payment_order.cancelled`. What days passing do is computed on each
//! read, like the records themselves, so nothing is written as time passes: a lifecycle
//! transition by date (`quote.expired`, `policy.active`; for the files' records, those after
//! the files' day), a booking's outcome (`payment_order.executed` or `.rejected`), and what
//! the ledger makes (`transaction.created`, `statement.created`). A computed event's object is
//! the record as of its day (a booking's as it is now: its outcome is final).
//!
//! An event's id is drawn from its type, its object, its time (and a write's place in the
//! log), so it is the same on every read, and in a repeatable sandbox on every run. The feed
//! shows only objects of collections the caller may read itself (`SandboxRequest::readable`):
//! a key limited to one product's collections cannot read another's through it.

use super::read::{View, id_of, patched};
use super::render::{Ordered, to_json};
use crate::ledger::{LedgerRecord, Outcome};
use crate::rules::{Record, shown};
use crate::state::Logged;
use crate::{Readable, Sandbox, SandboxResponse};
use keygate_core::page::{ListPage, PageParams, query_pairs};
use keygate_core::{Error, FieldError};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// Where an event's object comes from.
enum Source<'a> {
    /// A write's event, with the object as its answer showed it.
    Logged(&'a Logged),
    /// A record reaching a state on `day`: shown as of that day.
    Transition { day: i64 },
    /// A booking's outcome: the record as it is now.
    Booked,
    /// A transaction or a statement the ledger made.
    Made(LedgerRecord<'a>),
}

struct Event<'a> {
    at: i64,
    kind: String,
    /// The object's collection.
    c: usize,
    object_id: Cow<'a, str>,
    /// A write's place in the log: two writes of one object in one second are two events.
    place: usize,
    source: Source<'a>,
}

impl Event<'_> {
    fn id(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let bytes = self
            .kind
            .bytes()
            .chain([0])
            .chain(self.object_id.bytes())
            .chain(self.at.to_le_bytes())
            .chain(self.place.to_le_bytes());
        for byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("evt_{}", crate::ledger::id_chars(crate::ledger::mix(hash)))
    }
}

#[derive(Serialize)]
struct Shown<'r> {
    id: String,
    object: &'static str,
    #[serde(rename = "type")]
    kind: &'r str,
    created: i64,
    data: Data<'r>,
}

#[derive(Serialize)]
struct Data<'r> {
    object: Ordered<'r>,
}

impl Sandbox {
    /// `GET /v1/events`: a page of the feed, oldest first, optionally of one `type`.
    pub(super) fn events(
        &self,
        query: &str,
        readable: Readable,
        view: View,
    ) -> Result<SandboxResponse, Error> {
        let pairs = query_pairs(query);
        let as_strs = || pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let mut errors = match PageParams::from_pairs(as_strs()) {
            Ok(_) => Vec::new(),
            Err(e) => e.errors,
        };
        let mut kind = None;
        for (name, value) in as_strs() {
            match name {
                "limit" | "starting_after" => {}
                "type" if kind.is_none() && !value.is_empty() => kind = Some(value),
                "type" => errors.push(FieldError::new(
                    "type",
                    "must be one event type, given once (payment_order.executed)",
                )),
                _ => errors.push(FieldError::new(
                    shown(name),
                    "unknown query parameter; events take type, limit and starting_after",
                )),
            }
        }
        if !errors.is_empty() {
            return Err(Error::invalid(errors));
        }
        let params = PageParams::from_pairs(as_strs())?;
        let feed: Vec<Event> = self
            .feed(readable, view)
            .into_iter()
            .filter(|e| kind.is_none_or(|k| e.kind == k))
            .collect();
        let ids: Vec<String> = feed.iter().map(Event::id).collect();
        let (page, has_more) = params.page(&ids, String::as_str)?;
        let start = page.first().map_or(0, |first| {
            ids.iter().position(|id| id == first).unwrap_or_default()
        });
        let shown: Vec<(String, Record)> = feed[start..start + page.len()]
            .iter()
            .zip(page)
            .map(|(event, id)| Ok((id.clone(), self.object(event, view)?)))
            .collect::<Result<_, Error>>()?;
        let data: Vec<Shown> = feed[start..start + page.len()]
            .iter()
            .zip(&shown)
            .map(|(event, (id, object))| Shown {
                id: id.clone(),
                object: "event",
                kind: &event.kind,
                created: event.at,
                data: Data {
                    object: Ordered(object),
                },
            })
            .collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(data, has_more))?,
        ))
    }

    /// `GET /v1/events/{id}`.
    pub(super) fn event(
        &self,
        id: &str,
        readable: Readable,
        view: View,
    ) -> Result<SandboxResponse, Error> {
        let feed = self.feed(readable, view);
        let event = feed.iter().find(|e| e.id() == id).ok_or_else(|| {
            Error::not_found(format!(
                "No event with id `{}`. List /v1/events for the ids that exist.",
                shown(id)
            ))
        })?;
        let object = self.object(event, view)?;
        let body = Shown {
            id: id.to_string(),
            object: "event",
            kind: &event.kind,
            created: event.at,
            data: Data {
                object: Ordered(&object),
            },
        };
        Ok(SandboxResponse::json(200, to_json(&body)?))
    }

    /// Every event of the view's sandbox the caller may see, oldest first.
    fn feed<'a>(&'a self, readable: Readable, view: View<'a>) -> Vec<Event<'a>> {
        let mut feed = Vec::new();
        let find = |name: &str| self.collections.iter().position(|c| c.name == name);
        for (place, logged) in view.state.log.iter().enumerate() {
            let Some(c) = find(&logged.collection) else {
                continue;
            };
            feed.push(Event {
                at: logged.at,
                kind: logged.kind.clone(),
                c,
                object_id: Cow::Borrowed(&logged.id),
                place,
                source: Source::Logged(logged),
            });
        }
        self.transitions(view, &mut feed);
        if let Some(activity) = &self.activity
            && let Some(world) = self.world(activity.transactions, view)
        {
            for (id, outcome) in &world.booked {
                let Some(c) = self
                    .collections
                    .iter()
                    .position(|c| id.starts_with(&c.id_prefix))
                else {
                    continue;
                };
                let Some((transition, otherwise)) = self.collections[c]
                    .lifecycle
                    .as_ref()
                    .and_then(|l| l.booking())
                    .and_then(|t| Some((t, t.unless_covered.as_ref()?)))
                else {
                    continue;
                };
                let (to, at) = match outcome {
                    Outcome::Covered { at, .. } => (&transition.to, *at),
                    Outcome::NotCovered { at } => (&otherwise.to, *at),
                };
                let created = self.created_at(c, id, view).unwrap_or(at);
                feed.push(Event {
                    at: at.max(created),
                    kind: format!("{}.{to}", self.collections[c].object),
                    c,
                    object_id: Cow::Borrowed(id),
                    place: 0,
                    source: Source::Booked,
                });
            }
            for (c, at, made) in world.made(activity) {
                feed.push(Event {
                    at,
                    kind: format!("{}.created", self.collections[c].object),
                    c,
                    object_id: Cow::Owned(made.id()),
                    place: 0,
                    source: Source::Made(made),
                });
            }
        }
        feed.retain(|e| readable.allows(&self.collections[e.c].name));
        // Stable: at one time, writes before what they caused, in log order.
        feed.sort_by_key(|e| e.at);
        feed
    }

    /// The transitions by date that the view's records went through by its day: every
    /// created record's, and the files' records' after the files' day.
    fn transitions<'a>(&'a self, view: View<'a>, feed: &mut Vec<Event<'a>>) {
        for (c, coll) in self.collections.iter().enumerate() {
            let Some(lifecycle) = &coll.lifecycle else {
                continue;
            };
            let updates = view.state.updated.get(&coll.name);
            let files = coll
                .records
                .iter()
                .map(|r| (patched(r, updates.and_then(|u| u.get(id_of(r)))), false));
            let created = view
                .state
                .created
                .get(&coll.name)
                .into_iter()
                .flatten()
                .map(|r| (Cow::Borrowed(r), true));
            for (record, is_created) in files.chain(created) {
                let Some(mut state) = record.get(&lifecycle.field).and_then(Value::as_str) else {
                    continue;
                };
                let created_at = record.get("created").and_then(Value::as_i64).unwrap_or(0);
                for _ in 0..lifecycle.states.len() {
                    let Some(t) = lifecycle
                        .transitions
                        .iter()
                        .find(|t| t.from == state && t.action.is_none() && t.books.is_none())
                    else {
                        break;
                    };
                    let Some(day) = t.first_day(&record).filter(|d| *d <= view.today) else {
                        break;
                    };
                    if is_created || day > self.files_day {
                        feed.push(Event {
                            at: (day * 86_400).max(created_at),
                            kind: format!("{}.{}", coll.object, t.to),
                            c,
                            object_id: Cow::Owned(id_of(&record).to_string()),
                            place: 0,
                            source: Source::Transition { day },
                        });
                    }
                    state = &t.to;
                }
            }
        }
    }

    /// When a created record of collection `c` was created.
    fn created_at(&self, c: usize, id: &str, view: View) -> Option<i64> {
        view.state
            .created
            .get(&self.collections.get(c)?.name)?
            .iter()
            .find(|r| id_of(r) == id)?
            .get("created")?
            .as_i64()
    }

    /// An event's object, as the feed shows it.
    fn object(&self, event: &Event, view: View) -> Result<Record, Error> {
        let record = match &event.source {
            Source::Logged(logged) => match serde_json::from_str(&logged.object) {
                Ok(Value::Object(object)) => Some(object),
                _ => None,
            },
            Source::Transition { day } => {
                let world = OnceCell::new();
                let then = View {
                    state: view.state,
                    today: *day,
                    world: &world,
                };
                self.lookup(event.c, &event.object_id, then)
                    .map(Cow::into_owned)
            }
            Source::Booked => self
                .lookup(event.c, &event.object_id, view)
                .map(Cow::into_owned),
            Source::Made(made) => {
                let activity = self.activity.as_ref().ok_or_else(Error::internal)?;
                let world = self
                    .world(activity.transactions, view)
                    .ok_or_else(Error::internal)?;
                made.record(world, &self.collections, activity)
            }
        };
        record.ok_or_else(Error::internal)
    }
}
