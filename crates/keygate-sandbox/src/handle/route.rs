//! Which answer a method and path get: `/v1/sandbox/…` (the test tools and the clock), `/v1/{collection}`,
//! `/v1/{collection}/{id}` and `/v1/{parent}/{id}/{child}` for every declared reference. A
//! known route with another method is 405 with `Allow`; anything else is 404 naming what exists.

use super::read::View;
use crate::clock::Now;
use crate::rules::shown;
use crate::{AccountState, Hooks, Sandbox, SandboxRequest, SandboxResponse};
use keygate_core::Error;
use keygate_core::random::SecureRandom;
use std::cell::OnceCell;

const GET: &str = "GET, HEAD";
const GET_POST: &str = "GET, HEAD, POST";

/// A path the sandbox serves, with collections as indexes into [`Sandbox`]'s list.
pub(super) enum Route<'p> {
    /// `GET /v1/sandbox/scenarios`
    Scenarios,
    /// `POST /v1/sandbox/reset`
    Reset,
    /// `GET`/`POST /v1/sandbox/clock`
    Clock,
    /// `GET /v1/events`
    Events,
    /// `GET /v1/events/{id}`
    Event(&'p str),
    /// `POST /v1/sandbox/events`: send an event of a type now, or a past one again.
    Trigger,
    /// `GET`/`POST /v1/webhook_endpoints`
    Endpoints,
    /// `GET`/`DELETE /v1/webhook_endpoints/{id}`
    Endpoint(&'p str),
    /// `GET /v1/webhook_endpoints/{id}/deliveries`
    Deliveries(&'p str),
    /// `/v1/{collection}`
    List(usize),
    /// `/v1/{collection}/{id}`
    Item(usize, &'p str),
    /// `POST /v1/{collection}/{id}/{action}`: a transition of its lifecycle a client triggers.
    Action(usize, &'p str, &'p str),
    /// `/v1/{parent}/{id}/{child}`: the `child` records whose `field` is `id`.
    Nested {
        parent: usize,
        id: &'p str,
        child: usize,
        field: &'p str,
    },
}

impl Sandbox {
    /// The collection whose records a `GET` of `path` answers with, if the sandbox serves the
    /// path (its list, an item, or a nested list). The tests use it to check every route's
    /// product against what the sandbox really serves there.
    pub fn collection_served(&self, path: &str) -> Option<&str> {
        let index = match self.resolve(path).ok()? {
            Route::List(c)
            | Route::Item(c, _)
            | Route::Action(c, _, _)
            | Route::Nested { child: c, .. } => c,
            Route::Scenarios
            | Route::Reset
            | Route::Clock
            | Route::Events
            | Route::Event(_)
            | Route::Trigger
            | Route::Endpoints
            | Route::Endpoint(_)
            | Route::Deliveries(_) => {
                return None;
            }
        };
        self.collections.get(index).map(|c| c.name.as_str())
    }

    /// Whether `path` is one the sandbox answers (with some method), the index of named
    /// sandboxes aside (the worker answers that: `IndexRequest`).
    pub fn serves(&self, path: &str) -> bool {
        self.resolve(path).is_ok()
    }

    /// Whether `path` shows or sends events (the feed, one event, the test tool that sends
    /// them, the webhook endpoints that receive them): the requests whose answer depends on
    /// [`SandboxRequest::readable`].
    pub fn reads_events(&self, path: &str) -> bool {
        matches!(
            self.resolve(path),
            Ok(Route::Events | Route::Event(_) | Route::Trigger | Route::Endpoints)
        )
    }

    /// Answers a request whose scenario (if any) lets it through.
    pub(super) fn route(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        hooks: &mut Hooks,
        now: Now,
        new_id: &mut dyn FnMut(&str) -> String,
        random: &dyn SecureRandom,
    ) -> Result<SandboxResponse, Error> {
        let route = self.resolve(req.path)?;
        let read = req.method == "GET" || req.method == "HEAD";
        let post = req.method == "POST";
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        match route {
            Route::Scenarios if read => Ok(SandboxResponse::json(200, self.scenarios_body.clone())),
            Route::Reset if post => {
                let mut response = super::tools::reset(state)?;
                response.hooks_changed = self.restart_cursors(state, hooks, now);
                Ok(response)
            }
            Route::Clock if read => super::tools::clock(now),
            Route::Clock if post => super::tools::move_clock(state, now, req.body),
            Route::Events if read => self.events(req.query, req.readable, view, now.sandbox),
            Route::Event(id) if read => self.event(id, req.readable, view, now.sandbox),
            Route::Trigger if post => self.trigger(req, state, hooks, now),
            Route::Endpoints if read => self.list_endpoints(hooks),
            Route::Endpoints if post => self.create_endpoint(req, hooks, view, now, random),
            Route::Endpoint(id) if read => self.show_endpoint(hooks, id),
            Route::Endpoint(id) if req.method == "DELETE" => self.delete_endpoint(hooks, id),
            Route::Deliveries(id) if read => self.deliveries(hooks, id),
            Route::Trigger => Err(Error::method_not_allowed("POST")),
            Route::Endpoints => Err(Error::method_not_allowed(GET_POST)),
            Route::Endpoint(_) => Err(Error::method_not_allowed("GET, HEAD, DELETE")),
            Route::List(c) if read => self.list(c, None, req.query, view),
            Route::List(c) if post && self.collection(c)?.write.is_some() => {
                self.create(c, req, state, now, new_id)
            }
            Route::Item(c, id) if read => self.item(c, id, view),
            Route::Action(c, id, action) if post => self.act(c, id, action, state, now),
            Route::Action(..) => Err(Error::method_not_allowed("POST")),
            Route::Nested {
                parent,
                id,
                child,
                field,
            } if read => self.nested(parent, id, child, field, req.query, view),
            Route::Reset => Err(Error::method_not_allowed("POST")),
            Route::Clock => Err(Error::method_not_allowed(GET_POST)),
            Route::List(c) if self.collection(c)?.write.is_some() => {
                Err(Error::method_not_allowed(GET_POST))
            }
            _ => Err(Error::method_not_allowed(GET)),
        }
    }

    /// The route of `path`, whatever the method; a 404 naming what exists if there is none.
    pub(super) fn resolve<'a>(&'a self, path: &'a str) -> Result<Route<'a>, Error> {
        let Some(rest) = path.strip_prefix("/v1/") else {
            return Err(self.unknown_route(path));
        };
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(self.unknown_route(path));
        }
        match segments.as_slice() {
            ["sandbox", "scenarios"] => Ok(Route::Scenarios),
            ["sandbox", "reset"] => Ok(Route::Reset),
            ["sandbox", "clock"] => Ok(Route::Clock),
            ["events"] => Ok(Route::Events),
            ["events", id] => Ok(Route::Event(id)),
            ["sandbox", "events"] => Ok(Route::Trigger),
            ["webhook_endpoints"] => Ok(Route::Endpoints),
            ["webhook_endpoints", id] => Ok(Route::Endpoint(id)),
            ["webhook_endpoints", id, "deliveries"] => Ok(Route::Deliveries(id)),
            ["sandbox", ..] => Err(Error::not_found(
                "Unknown sandbox endpoint; there are GET /v1/sandbox/scenarios, GET and POST \
                /v1/sandbox/clock, POST /v1/sandbox/reset, POST /v1/sandbox/events, GET and POST \
                /v1/sandbox/sandboxes and DELETE /v1/sandbox/sandboxes/{name}.",
            )),
            [name] => Ok(Route::List(self.find(name)?)),
            [name, id] => Ok(Route::Item(self.find(name)?, id)),
            [parent_name, id, child_name] => {
                let parent = self.find(parent_name)?;
                let is_action = self
                    .collection(parent)?
                    .lifecycle
                    .as_ref()
                    .is_some_and(|l| l.action(child_name).next().is_some());
                if is_action {
                    return Ok(Route::Action(parent, id, child_name));
                }
                let (child, field) = self.nested_list(parent, child_name)?;
                Ok(Route::Nested {
                    parent,
                    id,
                    child,
                    field,
                })
            }
            _ => Err(self.unknown_route(path)),
        }
    }

    /// The collection named `child_name` listed under `parent`'s items, with its field that
    /// names the parent; a 404 listing the parent's nested lists if there is none.
    fn nested_list(&self, parent: usize, child_name: &str) -> Result<(usize, &str), Error> {
        let coll = self.collection(parent)?;
        let nested = coll.children.iter().find(|(child, _)| {
            self.collections
                .get(*child)
                .is_some_and(|c| c.name == child_name)
        });
        if let Some((child, field)) = nested {
            return Ok((*child, field.as_str()));
        }
        let names: Vec<&str> = coll
            .children
            .iter()
            .filter_map(|(c, _)| self.collections.get(*c))
            .map(|c| c.name.as_str())
            .collect();
        Err(Error::not_found(format!(
            "{} have no nested list `{}`.{}",
            coll.name,
            shown(child_name),
            if names.is_empty() {
                String::new()
            } else {
                format!(" Nested lists: {}.", names.join(", "))
            }
        )))
    }

    fn unknown_route(&self, path: &str) -> Error {
        Error::not_found(format!(
            "No sandbox route for {}. Collections are at /v1/{{collection}}; see GET \
            /v1/sandbox/scenarios for the test tools.",
            shown(path)
        ))
    }

    /// The index of the collection served at `/v1/{name}`; a 404 listing them if none is.
    fn find(&self, name: &str) -> Result<usize, Error> {
        self.collections
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                let names: Vec<&str> = self.collection_names().collect();
                Error::not_found(format!(
                    "Unknown collection `{}`. The sandbox serves: {}.",
                    shown(name),
                    names.join(", ")
                ))
            })
    }
}
