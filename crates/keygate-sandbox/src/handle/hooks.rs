//! Webhooks in the sandbox: `POST/GET /v1/webhook_endpoints`, `GET/DELETE
//! /v1/webhook_endpoints/{id}`, `GET /v1/webhook_endpoints/{id}/deliveries`, the test tool
//! `POST /v1/sandbox/events` (send an event of a type now, or send a past one again), and the
//! scan that queues what the event feed shows beyond each endpoint's cursor (`crate::hooks`).

use super::create::check_budget;
use super::events::FeedEvent;
use super::read::{View, id_of};
use super::render::{Ordered, to_json};
use crate::clock::Now;
use crate::hooks::{Endpoint, Hooks, MAX_WEBHOOK_ENDPOINTS, Queued};
use crate::rules::{Record, shown};
use crate::state::Logged;
use crate::{AccountState, Readable, Sandbox, SandboxRequest, SandboxResponse, date};
use keygate_core::page::ListPage;
use keygate_core::random::SecureRandom;
use keygate_core::{Error, FieldError, ids, outbound};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

/// Longest accepted list of event types for one endpoint.
const MAX_ENABLED_EVENTS: usize = 64;

/// `POST /v1/webhook_endpoints`
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEndpoint {
    url: String,
    enabled_events: Vec<String>,
}

/// `POST /v1/sandbox/events`: exactly one of the two.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Trigger {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    event: Option<String>,
}

#[derive(Serialize)]
struct Shown<'a> {
    id: &'a str,
    object: &'static str,
    url: &'a str,
    enabled_events: &'a [String],
    created: i64,
    /// Events queued and not yet acknowledged.
    pending: usize,
    /// When the oldest of them is (re)tried, real Unix seconds.
    next_attempt_at: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<&'a str>,
}

impl<'a> From<&'a Endpoint> for Shown<'a> {
    fn from(endpoint: &'a Endpoint) -> Self {
        Shown {
            id: &endpoint.id,
            object: "webhook_endpoint",
            url: &endpoint.url,
            enabled_events: &endpoint.enabled_events,
            created: endpoint.created,
            pending: endpoint.queue.len(),
            next_attempt_at: endpoint.queue.front().map(|q| q.next_at),
            secret: None,
        }
    }
}

#[derive(Serialize)]
struct ShownAttempt<'a> {
    object: &'static str,
    event_id: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    attempt: u32,
    at: i64,
    status: Option<u16>,
    delivered: bool,
}

impl Sandbox {
    /// Every event type this sandbox's feed can show: `{object}.created` of the writable
    /// collections and of what the ledger makes, `{object}.updated` of what a write updates,
    /// and `{object}.{state}` of every lifecycle transition.
    pub fn event_types(&self) -> BTreeSet<String> {
        let mut types = BTreeSet::new();
        let made = self
            .activity
            .as_ref()
            .map(|a| [a.transactions, a.statements]);
        for (c, coll) in self.collections.iter().enumerate() {
            if coll.write.is_some() || made.is_some_and(|m| m.contains(&c)) {
                types.insert(format!("{}.created", coll.object));
            }
            for update in coll.write.iter().flat_map(|w| &w.updates) {
                if let Some(target) = coll.reference(&update.via) {
                    types.insert(format!("{}.updated", self.collections[target].object));
                }
            }
            for t in coll.lifecycle.iter().flat_map(|l| &l.transitions) {
                types.insert(format!("{}.{}", coll.object, t.to));
                if let Some(otherwise) = &t.unless_covered {
                    types.insert(format!("{}.{}", coll.object, otherwise.to));
                }
            }
        }
        types
    }

    /// `POST /v1/webhook_endpoints`: the URL judged as an attacker's (`keygate_core::outbound`),
    /// the types checked against what the feed can show, the secret drawn from the secure
    /// generator (never from a repeatable sandbox's seed: a secret must not be guessable).
    pub(super) fn create_endpoint(
        &self,
        req: &SandboxRequest,
        hooks: &mut Hooks,
        view: View,
        now: Now,
        random: &dyn SecureRandom,
    ) -> Result<SandboxResponse, Error> {
        let body: NewEndpoint = serde_json::from_slice(req.body).map_err(|e| {
            Error::bad_request(
                "The body must be a JSON object with `url` and `enabled_events` (event types, or \
                 [\"*\"] for all).",
            )
            .with_field("body", e.to_string())
        })?;
        let mut errors = Vec::new();
        let url = outbound::callable_url(&body.url, req.require_https)
            .map_err(|refused| errors.push(FieldError::new("url", refused.0)))
            .ok();
        let known = self.event_types();
        if body.enabled_events.is_empty() || body.enabled_events.len() > MAX_ENABLED_EVENTS {
            errors.push(FieldError::new(
                "enabled_events",
                format!("must list 1 to {MAX_ENABLED_EVENTS} event types, or [\"*\"]"),
            ));
        }
        for (n, kind) in body.enabled_events.iter().enumerate() {
            if kind != "*" && !known.contains(kind) {
                errors.push(unknown_type(format!("enabled_events[{n}]"), kind, &known));
            }
        }
        if !errors.is_empty() {
            return Err(Error::invalid(super::render::capped(errors)));
        }
        if hooks.endpoints.len() >= MAX_WEBHOOK_ENDPOINTS {
            return Err(Error::new(
                409,
                format!(
                    "This sandbox has {MAX_WEBHOOK_ENDPOINTS} webhook endpoints, the most it may \
                     hold; delete one (DELETE /v1/webhook_endpoints/{{id}}) first."
                ),
            ));
        }
        let mut enabled_events = body.enabled_events;
        enabled_events.dedup();
        let readable = self
            .collection_names()
            .filter(|name| req.readable.allows(name))
            .map(str::to_string)
            .collect();
        let mut endpoint = Endpoint {
            id: ids::new_id("we_", random)?,
            url: url.ok_or_else(Error::internal)?,
            secret: ids::new_id("whsec_", random)?,
            enabled_events,
            readable,
            created: now.sandbox,
            through: now.sandbox,
            seen: Vec::new(),
            queue: VecDeque::new(),
            log: VecDeque::new(),
        };
        self.start_cursor(&mut endpoint, view, now);
        let mut shown = Shown::from(&endpoint);
        shown.secret = Some(&endpoint.secret);
        let body = to_json(&shown)?;
        hooks.endpoints.push(endpoint);
        let mut response = SandboxResponse::json(201, body);
        response.hooks_changed = true;
        Ok(response)
    }

    /// Sets an endpoint's cursor at the sandbox's now: what the feed shows already is history,
    /// not owed to it. On registration, and after a reset (whose fresh sandbox may show again
    /// the ids it saw before: a repeatable sandbox makes the same ones).
    fn start_cursor(&self, endpoint: &mut Endpoint, view: View, now: Now) {
        let horizon = date::today(now.sandbox) * 86_400;
        endpoint.through = now.sandbox;
        endpoint.seen = self
            .feed_since(view, horizon, now.sandbox)
            .into_iter()
            .filter(|e| endpoint.wants(&e.kind, e.collection))
            .map(|e| (e.id.clone(), e.at()))
            .collect();
    }

    /// After a reset: every endpoint starts from the fresh sandbox's now; what was queued is
    /// still owed and stays. `true` if a cursor moved.
    pub(super) fn restart_cursors(
        &self,
        state: &AccountState,
        hooks: &mut Hooks,
        now: Now,
    ) -> bool {
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let mut moved = false;
        for endpoint in &mut hooks.endpoints {
            let before = (endpoint.through, std::mem::take(&mut endpoint.seen));
            self.start_cursor(endpoint, view, now);
            moved |= (endpoint.through, &endpoint.seen) != (before.0, &before.1);
        }
        moved
    }

    /// `GET /v1/webhook_endpoints`
    pub(super) fn list_endpoints(&self, hooks: &Hooks) -> Result<SandboxResponse, Error> {
        let shown: Vec<Shown> = hooks.endpoints.iter().map(Shown::from).collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(shown, false))?,
        ))
    }

    /// `GET /v1/webhook_endpoints/{id}`
    pub(super) fn show_endpoint(&self, hooks: &Hooks, id: &str) -> Result<SandboxResponse, Error> {
        let endpoint = find(hooks, id)?;
        Ok(SandboxResponse::json(200, to_json(&Shown::from(endpoint))?))
    }

    /// `DELETE /v1/webhook_endpoints/{id}`: it and what was queued for it go.
    pub(super) fn delete_endpoint(
        &self,
        hooks: &mut Hooks,
        id: &str,
    ) -> Result<SandboxResponse, Error> {
        find(hooks, id)?;
        hooks.endpoints.retain(|e| e.id != id);
        let body = serde_json::json!({"id": id, "object": "webhook_endpoint", "deleted": true});
        let mut response = SandboxResponse::json(200, to_json(&body)?);
        response.hooks_changed = true;
        Ok(response)
    }

    /// `GET /v1/webhook_endpoints/{id}/deliveries`: every attempt kept, oldest first.
    pub(super) fn deliveries(&self, hooks: &Hooks, id: &str) -> Result<SandboxResponse, Error> {
        let endpoint = find(hooks, id)?;
        let shown: Vec<ShownAttempt> = endpoint
            .log
            .iter()
            .map(|a| ShownAttempt {
                object: "webhook_delivery",
                event_id: &a.event_id,
                kind: &a.kind,
                attempt: a.attempt,
                at: a.at,
                status: a.status,
                delivered: a.status.is_some_and(|s| (200..300).contains(&s)),
            })
            .collect();
        Ok(SandboxResponse::json(
            200,
            to_json(&ListPage::new(shown, false))?,
        ))
    }

    /// `POST /v1/sandbox/events`: `{"type": …}` makes an event of that type now, about the
    /// newest object of its collection that the caller may read (one in the type's state if
    /// there is one), shown as it is; `{"event": "evt_…"}` queues a past event again for every
    /// endpoint that receives its type.
    pub(super) fn trigger(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        hooks: &mut Hooks,
        now: Now,
    ) -> Result<SandboxResponse, Error> {
        let body: Trigger = serde_json::from_slice(req.body).map_err(|e| {
            Error::bad_request(
                "The body must be a JSON object with either `type` (an event type to send now) \
                 or `event` (the id of an event to send again).",
            )
            .with_field("body", e.to_string())
        })?;
        match (body.kind, body.event) {
            (Some(kind), None) => self.make_event(&kind, req.readable, state, now),
            (None, Some(id)) => self.resend(&id, req.readable, state, hooks, now),
            _ => Err(Error::bad_request(
                "Give exactly one of `type` (an event type to send now) and `event` (the id of \
                 an event to send again).",
            )),
        }
    }

    fn make_event(
        &self,
        kind: &str,
        readable: Readable,
        state: &mut AccountState,
        now: Now,
    ) -> Result<SandboxResponse, Error> {
        let known = self.event_types();
        let unknown = || Error::invalid(vec![unknown_type("type".into(), kind, &known)]);
        if !known.contains(kind) {
            return Err(unknown());
        }
        let (object_name, suffix) = kind.split_once('.').ok_or_else(unknown)?;
        let c = self
            .collections
            .iter()
            .position(|c| c.object == object_name)
            .ok_or_else(unknown)?;
        let coll = self.collection(c)?;
        if !readable.allows(&coll.name) {
            return Err(Error::new(
                403,
                format!(
                    "This key may not read {}, so it may not make their events.",
                    coll.name
                ),
            ));
        }
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let object = self.example(c, suffix, view)?;
        let logged = Logged {
            at: now.sandbox,
            kind: kind.to_string(),
            collection: coll.name.clone(),
            id: id_of(&object).to_string(),
            object: to_json(&Ordered(&object))?,
        };
        let growth =
            state.growth_of_create(&coll.name, 0, &[], None, std::slice::from_ref(&logged));
        check_budget(state, growth)?;
        state.log.push(logged);
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let event = self.last_logged(view).ok_or_else(Error::internal)?;
        let mut response = SandboxResponse::json(201, self.render_event(&event, view)?);
        response.state_changed = true;
        Ok(response)
    }

    /// The object a made event of collection `c` is about: the newest one in state `suffix`
    /// (created objects first, then the files'), else the newest.
    fn example<'a>(&'a self, c: usize, suffix: &str, view: View<'a>) -> Result<Record, Error> {
        let coll = self.collection(c)?;
        let created = view.state.created.get(&coll.name).into_iter().flatten();
        let ids: Vec<&str> = created
            .rev()
            .map(id_of)
            .chain(coll.records.iter().rev().map(id_of))
            .collect();
        let in_state = |record: &Cow<Record>| match &coll.lifecycle {
            Some(l) => record.get(&l.field).and_then(Value::as_str) == Some(suffix),
            None => false,
        };
        let mut first = None;
        for id in ids {
            let Some(record) = self.lookup(c, id, view) else {
                continue;
            };
            if in_state(&record) {
                return Ok(record.into_owned());
            }
            first.get_or_insert(record);
        }
        first.map(Cow::into_owned).ok_or_else(|| {
            Error::new(
                409,
                format!(
                    "There is no {} in this sandbox to make the event about; create one first.",
                    coll.object
                ),
            )
        })
    }

    fn resend(
        &self,
        id: &str,
        readable: Readable,
        state: &AccountState,
        hooks: &mut Hooks,
        now: Now,
    ) -> Result<SandboxResponse, Error> {
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let event = self.find_event(id, readable, view, now.sandbox)?;
        let body = self.render_event(&event, view)?;
        let mut queued_for = Vec::new();
        for endpoint in &mut hooks.endpoints {
            if endpoint.wants(&event.kind, event.collection) {
                if !endpoint.has_room(body.len()) {
                    return Err(Error::new(
                        409,
                        format!(
                            "Webhook endpoint {} has a full queue; let it deliver first.",
                            endpoint.id
                        ),
                    ));
                }
                queued_for.push(endpoint.id.clone());
            }
        }
        for endpoint in &mut hooks.endpoints {
            if queued_for.contains(&endpoint.id) {
                endpoint
                    .queue
                    .push_back(owed(&event, body.clone(), now.real));
            }
        }
        let answer = serde_json::json!({
            "object": "event_resend",
            "event": event.id,
            "endpoints": queued_for,
        });
        let mut response = SandboxResponse::json(202, to_json(&answer)?);
        response.hooks_changed = !queued_for.is_empty();
        Ok(response)
    }

    /// Queues for each endpoint what the feed shows beyond its cursor, oldest first, as far as
    /// its queue has room; `true` if any endpoint changed. Called after every change to the
    /// sandbox, and as its days pass.
    pub fn scan_hooks(&self, state: &AccountState, hooks: &mut Hooks, real_now: i64) -> bool {
        if hooks.is_empty() {
            return false;
        }
        let now = state.now(real_now);
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let horizon = |through: i64| date::today(through) * 86_400;
        let Some(earliest) = hooks.endpoints.iter().map(|e| horizon(e.through)).min() else {
            return false;
        };
        let feed = self.feed_since(view, earliest, now.sandbox);
        let mut bodies: BTreeMap<usize, String> = BTreeMap::new();
        let mut changed = false;
        for endpoint in &mut hooks.endpoints {
            let from = horizon(endpoint.through);
            let seen: BTreeSet<&str> = endpoint.seen.iter().map(|(id, _)| id.as_str()).collect();
            let mut taken: Vec<(String, i64)> = Vec::new();
            let mut complete = true;
            for (n, event) in feed.iter().enumerate() {
                if event.at() < from
                    || seen.contains(event.id.as_str())
                    || !endpoint.wants(&event.kind, event.collection)
                {
                    continue;
                }
                let body = match bodies.get(&n) {
                    Some(body) => body.clone(),
                    None => match self.render_event(event, view) {
                        Ok(body) => bodies.entry(n).or_insert(body).clone(),
                        // An event that does not render is left for the next scan.
                        Err(_) => {
                            complete = false;
                            break;
                        }
                    },
                };
                if !endpoint.has_room(body.len()) {
                    complete = false;
                    break;
                }
                endpoint.queue.push_back(owed(event, body, real_now));
                taken.push((event.id.clone(), event.at()));
            }
            let through = if complete {
                now.sandbox.max(endpoint.through)
            } else {
                taken.last().map_or(endpoint.through, |(_, at)| *at)
            };
            if taken.is_empty() && through == endpoint.through {
                continue;
            }
            changed = true;
            let keep_from = horizon(through);
            let mut seen: Vec<(String, i64)> = std::mem::take(&mut endpoint.seen);
            seen.extend(taken);
            seen.retain(|(_, at)| *at >= keep_from);
            endpoint.seen = seen;
            endpoint.through = through;
        }
        changed
    }

    /// When the sandbox's feed next grows by itself, real Unix seconds: at the next of the
    /// day's booked events, or at midnight (what the next day does appears then). `None` for a
    /// frozen clock, whose time passes only when it is moved.
    pub fn next_change_at(&self, state: &AccountState, real_now: i64) -> Option<i64> {
        let now = state.now(real_now);
        if now.frozen {
            return None;
        }
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let next_midnight = (now.today() + 1) * 86_400;
        let next = self
            .next_event_at(view, now.sandbox)
            .map_or(next_midnight, |at| at.min(next_midnight));
        Some(real_now + (next - now.sandbox))
    }
}

/// `event`, rendered as `body`, owed to an endpoint from `real_now` on.
fn owed(event: &FeedEvent, body: String, real_now: i64) -> Queued {
    Queued {
        event_id: event.id.clone(),
        kind: event.kind.clone(),
        body,
        attempts: 0,
        next_at: real_now,
    }
}

/// The error for `field` naming a type the sandbox never sends, listing those it does.
fn unknown_type(field: String, kind: &str, known: &BTreeSet<String>) -> FieldError {
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    FieldError::new(
        field,
        format!(
            "unknown event type `{}`; the sandbox sends: {}",
            shown(kind),
            known.join(", ")
        ),
    )
}

/// An endpoint by id, or a 404 that says where the ids are.
fn find<'h>(hooks: &'h Hooks, id: &str) -> Result<&'h Endpoint, Error> {
    hooks.endpoints.iter().find(|e| e.id == id).ok_or_else(|| {
        Error::not_found(format!(
            "No webhook endpoint with id `{}`. List /v1/webhook_endpoints for the ids that exist.",
            shown(id)
        ))
    })
}
