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
use crate::ledger::LedgerRecord;
use crate::rules::{Record, shown};
use crate::state::Logged;
use crate::{Readable, Sandbox, SandboxResponse};
use keygate_core::page::{ListPage, PageParams, query_pairs};
use keygate_core::{Error, FieldError};
use serde::Serialize;
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// Where an event's object comes from.
enum Source<'a> {
    /// A write's event, with the object as its answer showed it.
    Logged(&'a Logged),
    /// A record reaching a state on `day`: shown as of that day.
    Transition { id: Cow<'a, str>, day: i64 },
    /// A booking's outcome: the record as it is now.
    Booked { id: &'a str },
    /// A transaction or a statement the ledger made.
    Made(LedgerRecord<'a>),
}

/// One event, kept as numbers and borrowed names until it is shown: a year ahead the feed
/// holds thousands, and a page shows a hundred.
struct Event<'a> {
    at: i64,
    /// The object's collection.
    c: usize,
    /// The state its type ends in (`executed` in `payment_order.executed`), or the whole type
    /// of a write.
    suffix: &'a str,
    source: Source<'a>,
    /// A write's place in the log: two writes of one object in one second are two events.
    place: usize,
    /// Where it sorts among events of the same second: after the write whose place this is
    /// (what a write caused at once: an order booked on the day it is created), or, for -1,
    /// before every write of that second (what the clock reaching that second did).
    cause: i64,
}

impl Event<'_> {
    /// The feed's order: by time; in one second, what the clock did, then each write followed
    /// by what it caused, in log order (a write's own event is its `Logged`, rank 0). So an
    /// event that becomes visible is never put before one that was visible already.
    fn order(&self) -> (i64, i64, u8) {
        let rank = match self.source {
            Source::Logged(_) => 0,
            Source::Transition { .. } | Source::Booked { .. } => 1,
            Source::Made(_) => 2,
        };
        (self.at, self.cause, rank)
    }
}

impl Event<'_> {
    /// Its type: a write's as logged, else `{object}.{suffix}`.
    fn kind(&self, sandbox: &Sandbox) -> String {
        match self.source {
            Source::Logged(logged) => logged.kind.clone(),
            _ => format!("{}.{}", sandbox.object_name(self.c), self.suffix),
        }
    }

    /// Whether its type is `kind`, without making the type.
    fn is_kind(&self, sandbox: &Sandbox, kind: &str) -> bool {
        match self.source {
            Source::Logged(logged) => logged.kind == kind,
            _ => {
                kind.strip_prefix(sandbox.object_name(self.c))
                    .and_then(|rest| rest.strip_prefix('.'))
                    == Some(self.suffix)
            }
        }
    }

    /// Its id: drawn from its type, its object, its time and its place.
    fn id(&self, sandbox: &Sandbox) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let mut eat = |bytes: &[u8]| {
            for byte in bytes {
                hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
            }
        };
        match &self.source {
            Source::Logged(logged) => {
                eat(logged.kind.as_bytes());
                eat(logged.id.as_bytes());
            }
            Source::Transition { id, .. } => {
                eat(self.suffix.as_bytes());
                eat(id.as_bytes());
            }
            Source::Booked { id } => {
                eat(self.suffix.as_bytes());
                eat(id.as_bytes());
            }
            Source::Made(made) => {
                eat(sandbox.object_name(self.c).as_bytes());
                eat(&made.draw().to_le_bytes());
            }
        }
        eat(&self.at.to_le_bytes());
        eat(&self.place.to_le_bytes());
        format!("evt_{}", crate::ledger::id_chars(crate::ledger::mix(hash)))
    }
}

/// When, and at which place of the log, each created record was created.
struct Creations<'a>(BTreeMap<&'a str, (i64, i64)>);

impl Creations<'_> {
    /// The time and cause ([`Event::cause`]) of a computed event of record `id` at `at`: no
    /// earlier than the record's creation, and right after it when its creation brought it.
    fn caused(&self, id: Option<&str>, at: i64) -> (i64, i64) {
        match id.and_then(|id| self.0.get(id)) {
            Some(&(created, place)) if at <= created => (created, place),
            _ => (at, -1),
        }
    }
}

/// An event of the feed with its id and type made, for webhooks.
pub(super) struct FeedEvent<'a> {
    pub(super) id: String,
    pub(super) kind: String,
    /// Its object's collection.
    pub(super) collection: &'a str,
    event: Event<'a>,
}

impl FeedEvent<'_> {
    /// Sandbox time, Unix seconds.
    pub(super) fn at(&self) -> i64 {
        self.event.at
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
    /// The object name of collection `c` (`payment_order`).
    fn object_name(&self, c: usize) -> &str {
        self.collections
            .get(c)
            .map_or("", |coll| coll.object.as_str())
    }

    /// `GET /v1/events`: a page of the feed, oldest first, optionally of one `type`.
    pub(super) fn events(
        &self,
        query: &str,
        readable: Readable,
        view: View,
        until: i64,
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
            .feed(readable, view, until)
            .into_iter()
            .filter(|e| kind.is_none_or(|k| e.is_kind(self, k)))
            .collect();
        // Ids are made up to the cursor, and for the page.
        let start = match &params.starting_after {
            None => 0,
            Some(after) => {
                let at = feed.iter().position(|e| e.id(self) == *after);
                at.ok_or_else(|| {
                    Error::invalid(vec![FieldError::new(
                        "starting_after",
                        "no object with this id in the list",
                    )])
                })? + 1
            }
        };
        let end = (start + params.limit).min(feed.len());
        let mut data = Vec::new();
        for event in &feed[start..end] {
            data.push((
                event.id(self),
                event.kind(self),
                event,
                self.object(event, view)?,
            ));
        }
        let shown: Vec<Shown> = data
            .iter()
            .map(|(id, kind, event, object)| Shown {
                id: id.clone(),
                object: "event",
                kind,
                created: event.at,
                data: Data {
                    object: Ordered(object),
                },
            })
            .collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(shown, end < feed.len()))?,
        ))
    }

    /// `GET /v1/events/{id}`.
    pub(super) fn event(
        &self,
        id: &str,
        readable: Readable,
        view: View,
        until: i64,
    ) -> Result<SandboxResponse, Error> {
        let event = self.find_event(id, readable, view, until)?;
        Ok(SandboxResponse::json(200, self.render_event(&event, view)?))
    }

    /// When the next event after `after` (sandbox time) happens, if the view's day holds one:
    /// the ledger books a whole day at once, and its events come at their time.
    pub(super) fn next_event_at(&self, view: View, after: i64) -> Option<i64> {
        self.all_events(view)
            .iter()
            .map(|e| e.at)
            .filter(|at| *at > after)
            .min()
    }

    /// The feed's events at or after `horizon` (sandbox time), oldest first, with their ids
    /// and types made: what a webhook scan compares with an endpoint's cursor.
    pub(super) fn feed_since<'a>(
        &'a self,
        view: View<'a>,
        horizon: i64,
        until: i64,
    ) -> Vec<FeedEvent<'a>> {
        self.feed(Readable::All, view, until)
            .into_iter()
            .filter(|e| e.at >= horizon)
            .map(|event| FeedEvent {
                id: event.id(self),
                kind: event.kind(self),
                collection: &self.collections[event.c].name,
                event,
            })
            .collect()
    }

    /// An event's JSON, as `GET /v1/events/{id}` shows it.
    pub(super) fn render_event(&self, event: &FeedEvent, view: View) -> Result<String, Error> {
        let object = self.object(&event.event, view)?;
        to_json(&Shown {
            id: event.id.clone(),
            object: "event",
            kind: &event.kind,
            created: event.event.at,
            data: Data {
                object: Ordered(&object),
            },
        })
    }

    /// The event that the log's newest write is (a triggered event), as the feed shows it.
    pub(super) fn last_logged<'a>(&'a self, view: View<'a>) -> Option<FeedEvent<'a>> {
        let place = view.state.log.len().checked_sub(1)?;
        let logged = &view.state.log[place];
        let c = self
            .collections
            .iter()
            .position(|c| c.name == logged.collection)?;
        let event = Event {
            at: logged.at,
            c,
            suffix: &logged.kind,
            source: Source::Logged(logged),
            place,
            cause: place as i64,
        };
        Some(FeedEvent {
            id: event.id(self),
            kind: event.kind(self),
            collection: &self.collections[c].name,
            event,
        })
    }

    /// The event `id` of the feed, or a 404 if the caller may not see it (or there is none).
    pub(super) fn find_event<'a>(
        &'a self,
        id: &str,
        readable: Readable,
        view: View<'a>,
        until: i64,
    ) -> Result<FeedEvent<'a>, Error> {
        let event = self
            .feed(readable, view, until)
            .into_iter()
            .find(|e| e.id(self) == id)
            .ok_or_else(|| {
                Error::not_found(format!(
                    "No event with id `{}`. List /v1/events for the ids that exist.",
                    shown(id)
                ))
            })?;
        Ok(FeedEvent {
            id: id.to_string(),
            kind: event.kind(self),
            collection: &self.collections[event.c].name,
            event,
        })
    }

    /// Every event of the view's sandbox the caller may see that happened by `until` (the
    /// sandbox's now: the ledger books a whole day at once, but its events happen at their
    /// time), oldest first ([`Event::order`]).
    fn feed<'a>(&'a self, readable: Readable, view: View<'a>, until: i64) -> Vec<Event<'a>> {
        let mut feed = self.all_events(view);
        feed.retain(|e| e.at <= until && readable.allows(&self.collections[e.c].name));
        feed.sort_by_key(Event::order);
        feed
    }

    /// Every event of the view's sandbox by its day, unsorted, whatever their time.
    fn all_events<'a>(&'a self, view: View<'a>) -> Vec<Event<'a>> {
        let mut feed = Vec::with_capacity(view.state.log.len() + 64);
        let find = |name: &str| self.collections.iter().position(|c| c.name == name);
        // When and where in the log each created record was created, looked up once (500
        // orders: not 500²): what a record's creation causes at once sorts right after it.
        let mut creations = Creations(BTreeMap::new());
        for (place, logged) in view.state.log.iter().enumerate() {
            let Some(c) = find(&logged.collection) else {
                continue;
            };
            if logged.kind.strip_suffix(".created") == Some(self.object_name(c)) {
                creations
                    .0
                    .entry(logged.id.as_str())
                    .or_insert((logged.at, place as i64));
            }
            feed.push(Event {
                at: logged.at,
                c,
                suffix: &logged.kind,
                source: Source::Logged(logged),
                place,
                cause: place as i64,
            });
        }
        self.transitions(view, &creations, &mut feed);
        if let Some(activity) = &self.activity
            && let Some(world) = self.world(activity.transactions, view)
        {
            for (id, (c, outcome)) in &world.booked {
                let Some(to) = self.collections[*c]
                    .lifecycle
                    .as_ref()
                    .and_then(|l| outcome.state(l))
                else {
                    continue;
                };
                let (at, cause) = creations.caused(Some(id), outcome.at());
                feed.push(Event {
                    at,
                    c: *c,
                    suffix: to,
                    source: Source::Booked { id },
                    place: 0,
                    cause,
                });
            }
            feed.reserve(world.transactions.len() + world.statements.len());
            for (c, at, made) in world.made(activity) {
                let (at, cause) = creations.caused(made.booker(), at);
                feed.push(Event {
                    at,
                    c,
                    suffix: "created",
                    source: Source::Made(made),
                    place: 0,
                    cause,
                });
            }
        }
        feed
    }

    /// The transitions by date that the view's records went through by its day: every
    /// created record's, and the files' records' after the files' day.
    fn transitions<'a>(&'a self, view: View<'a>, creations: &Creations, feed: &mut Vec<Event<'a>>) {
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
                for (day, t) in lifecycle.passed(&record, view.today) {
                    if !is_created && day <= self.files_day {
                        continue;
                    }
                    let id = match &record {
                        Cow::Borrowed(r) => Cow::Borrowed(id_of(r)),
                        Cow::Owned(r) => Cow::Owned(id_of(r).to_string()),
                    };
                    let (at, cause) =
                        creations.caused(is_created.then_some(id.as_ref()), day * 86_400);
                    feed.push(Event {
                        at,
                        c,
                        suffix: &t.to,
                        source: Source::Transition { id, day },
                        place: 0,
                        cause,
                    });
                }
            }
        }
    }

    /// An event's object, as the feed shows it.
    fn object(&self, event: &Event, view: View) -> Result<Record, Error> {
        let record = match &event.source {
            Source::Logged(logged) => match serde_json::from_str(&logged.object) {
                Ok(Value::Object(object)) => Some(object),
                _ => None,
            },
            Source::Transition { id, day } => {
                let world = OnceCell::new();
                let then = View {
                    state: view.state,
                    today: *day,
                    world: &world,
                };
                self.lookup(event.c, id, then).map(Cow::into_owned)
            }
            Source::Booked { id } => self.lookup(event.c, id, view).map(Cow::into_owned),
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
