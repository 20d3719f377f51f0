//! Routing and the REST semantics of the sandbox.

use crate::data::{Collection, MagicValue, Scenario};
use crate::rules::{BASE_FIELDS, Record, Resolver, Validator, display, get_path, shown};
use crate::state::{
    AccountState, IdempotencyRecord, MAX_CREATED_OBJECTS, MAX_IDEMPOTENCY_KEYS, MAX_STATE_BYTES,
    json_size,
};
use crate::{
    MAX_BODY_BYTES, MAX_IDEMPOTENCY_KEY_LENGTH, SCENARIO_HEADER, Sandbox, SandboxRequest,
    SandboxResponse, date,
};
use keygate_core::page::{ListPage, PageParams, query_pairs};
use keygate_core::{Error, FieldError};
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};
use serde_json::Value;
use std::borrow::Cow;

const GET: &str = "GET, HEAD";
const GET_POST: &str = "GET, HEAD, POST";

enum Route<'p> {
    Scenarios,
    Reset,
    List(usize),
    Item(usize, &'p str),
    Nested {
        parent: usize,
        id: &'p str,
        child: usize,
        field: &'p str,
    },
}

/// A record rendered with `id` and `object` first, then the other fields by name.
struct Ordered<'a>(&'a Record);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for key in ["id", "object"] {
            if let Some(value) = self.0.get(key) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in self.0 {
            if key != "id" && key != "object" {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

fn id_of(record: &Record) -> &str {
    record.get("id").and_then(Value::as_str).unwrap_or_default()
}

/// Most `errors` entries in one answer; a body or query with more faults gets the first ones
/// and a last entry saying there are more.
const MAX_ERRORS: usize = 50;

fn capped(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    if errors.len() > MAX_ERRORS {
        let more = errors.len() - MAX_ERRORS;
        errors.truncate(MAX_ERRORS);
        errors.push(FieldError::new(
            "(more)",
            format!("{more} more errors not shown; fix these first"),
        ));
    }
    errors
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    serde_json::to_string(value).map_err(|_| Error::internal())
}

#[derive(Serialize)]
struct ScenarioList<'a> {
    object: &'static str,
    header: &'static str,
    scenarios: &'a [Scenario],
    magic_values: &'a [MagicValue],
}

pub(crate) fn scenarios_body(
    scenarios: &[Scenario],
    magic: &[MagicValue],
) -> Result<String, String> {
    let list = ScenarioList {
        object: "sandbox_scenarios",
        header: SCENARIO_HEADER,
        scenarios,
        magic_values: magic,
    };
    serde_json::to_string(&list).map_err(|e| format!("scenarios.json: {e}"))
}

/// Looks records up by reference field for the write being handled.
struct WriteCtx<'a> {
    sandbox: &'a Sandbox,
    state: &'a AccountState,
    collection: &'a Collection,
}

impl Resolver for WriteCtx<'_> {
    fn via(&self, via: &str, obj: &Record) -> Option<Cow<'_, Record>> {
        let target = self.collection.reference(via)?;
        let id = obj.get(via)?.as_str()?;
        self.sandbox.lookup(target, id, self.state)
    }
}

impl Sandbox {
    /// Answers one request. Never panics; every failure is answered as a JSON [`Error`]. `now`
    /// is Unix seconds; `new_id` gets an id prefix such as `"qt_"` and returns a fresh id with it.
    pub fn handle(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        now: i64,
        new_id: &mut dyn FnMut(&str) -> String,
    ) -> SandboxResponse {
        let scenario = match req.scenario {
            None => None,
            Some(name) => match self.scenarios.iter().find(|s| s.name == name) {
                Some(s) => Some(s),
                None => {
                    let names: Vec<&str> = self.scenarios.iter().map(|s| s.name.as_str()).collect();
                    let error = Error::bad_request(format!(
                        "Unknown {SCENARIO_HEADER}; leave the header out or use one of the \
                        values in errors."
                    ))
                    .with_field(
                        SCENARIO_HEADER,
                        format!(
                            "unknown scenario `{}`; valid scenarios: {}",
                            shown(name),
                            names.join(", ")
                        ),
                    );
                    return SandboxResponse::from_error(&error);
                }
            },
        };
        if let Some(s) = scenario
            && let Some(status) = s.status
        {
            let mut error = Error::new(status, s.message.clone());
            error.retry_after = s.retry_after;
            let mut response = SandboxResponse::from_error(&error);
            response.delay_ms = s.delay_ms;
            return response;
        }
        let mut response = self
            .route(req, state, now, new_id)
            .unwrap_or_else(|e| SandboxResponse::from_error(&e));
        if let Some(s) = scenario {
            response.delay_ms = s.delay_ms;
        }
        response
    }

    /// Whether [`Sandbox::handle`] may read the account's state for this request. `false` for
    /// reads of collections that no write can change (and for requests that cannot succeed), so
    /// the worker may skip loading the state and pass `AccountState::default()`.
    pub fn needs_state(&self, req: &SandboxRequest) -> bool {
        if req.method != "GET" && req.method != "HEAD" {
            return true;
        }
        let stateful = |c: usize| self.collections.get(c).is_some_and(|c| c.stateful);
        match self.resolve(req.path) {
            Err(_) | Ok(Route::Scenarios) | Ok(Route::Reset) => false,
            Ok(Route::List(c)) | Ok(Route::Item(c, _)) => stateful(c),
            Ok(Route::Nested { parent, child, .. }) => stateful(parent) || stateful(child),
        }
    }

    fn collection(&self, c: usize) -> Result<&Collection, Error> {
        self.collections.get(c).ok_or_else(Error::internal)
    }

    fn unknown_route(&self, path: &str) -> Error {
        Error::not_found(format!(
            "No sandbox route for {}. Collections are at /v1/{{collection}}; see GET \
            /v1/sandbox/scenarios for the test tools.",
            shown(path)
        ))
    }

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

    /// The collection whose records a `GET` of `path` answers with, if the sandbox serves the
    /// path (its list, an item, or a nested list). The tests use it to check every route's
    /// product against what the sandbox really serves there.
    pub fn collection_served(&self, path: &str) -> Option<&str> {
        let index = match self.resolve(path).ok()? {
            Route::List(c) | Route::Item(c, _) | Route::Nested { child: c, .. } => c,
            Route::Scenarios | Route::Reset => return None,
        };
        self.collections.get(index).map(|c| c.name.as_str())
    }

    fn resolve<'a>(&'a self, path: &'a str) -> Result<Route<'a>, Error> {
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
            ["sandbox", ..] => Err(Error::not_found(
                "Unknown sandbox endpoint; there are GET /v1/sandbox/scenarios and POST \
                /v1/sandbox/reset.",
            )),
            [name] => Ok(Route::List(self.find(name)?)),
            [name, id] => Ok(Route::Item(self.find(name)?, id)),
            [parent_name, id, child_name] => {
                let parent = self.find(parent_name)?;
                let coll = self.collection(parent)?;
                let nested = coll.children.iter().find(|(child, _)| {
                    self.collections
                        .get(*child)
                        .is_some_and(|c| c.name == *child_name)
                });
                match nested {
                    Some((child, field)) => Ok(Route::Nested {
                        parent,
                        id,
                        child: *child,
                        field: field.as_str(),
                    }),
                    None => {
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
                }
            }
            _ => Err(self.unknown_route(path)),
        }
    }

    fn route(
        &self,
        req: &SandboxRequest,
        state: &mut AccountState,
        now: i64,
        new_id: &mut dyn FnMut(&str) -> String,
    ) -> Result<SandboxResponse, Error> {
        let route = self.resolve(req.path)?;
        let read = req.method == "GET" || req.method == "HEAD";
        let post = req.method == "POST";
        match route {
            Route::Scenarios if read => Ok(SandboxResponse::json(200, self.scenarios_body.clone())),
            Route::Reset if post => reset(state),
            Route::List(c) if read => self.list(c, None, req.query, state),
            Route::List(c) if post && self.collection(c)?.write.is_some() => {
                self.create(c, req, state, now, new_id)
            }
            Route::Item(c, id) if read => {
                let coll = self.collection(c)?;
                let record = self.lookup(c, id, state).ok_or_else(|| {
                    Error::not_found(format!(
                        "No {} with id `{}`. List /v1/{} for the ids that exist.",
                        coll.object,
                        shown(id),
                        coll.name
                    ))
                })?;
                Ok(SandboxResponse::json(200, to_json(&Ordered(&record))?))
            }
            Route::Nested {
                parent,
                id,
                child,
                field,
            } if read => {
                let coll = self.collection(parent)?;
                if self.lookup(parent, id, state).is_none() {
                    return Err(Error::not_found(format!(
                        "No {} with id `{}`. List /v1/{} for the ids that exist.",
                        coll.object,
                        shown(id),
                        coll.name
                    )));
                }
                self.list(child, Some((field, id)), req.query, state)
            }
            Route::Reset => Err(Error::method_not_allowed("POST")),
            Route::List(c) if self.collection(c)?.write.is_some() => {
                Err(Error::method_not_allowed(GET_POST))
            }
            _ => Err(Error::method_not_allowed(GET)),
        }
    }

    /// A record by id as this account sees it: static (with this account's updates) or created.
    pub(crate) fn lookup<'a>(
        &'a self,
        c: usize,
        id: &str,
        state: &'a AccountState,
    ) -> Option<Cow<'a, Record>> {
        let coll = self.collections.get(c)?;
        if let Some(record) = coll.index.get(id).and_then(|&i| coll.records.get(i)) {
            return Some(patched(
                record,
                state.updated.get(&coll.name).and_then(|u| u.get(id)),
            ));
        }
        state
            .created
            .get(&coll.name)?
            .iter()
            .find(|r| id_of(r) == id)
            .map(Cow::Borrowed)
    }

    /// All records of a collection in list order: static in file order, then created ones,
    /// oldest first.
    fn visible<'a>(
        &'a self,
        coll: &'a Collection,
        state: &'a AccountState,
    ) -> Vec<Cow<'a, Record>> {
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
            .collect()
    }

    fn list(
        &self,
        c: usize,
        parent: Option<(&str, &str)>,
        query: &str,
        state: &AccountState,
    ) -> Result<SandboxResponse, Error> {
        let coll = self.collection(c)?;
        let pairs = query_pairs(query);
        let mut errors =
            match PageParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
                Ok(_) => Vec::new(),
                Err(e) => e.errors,
            };
        let mut filters: Vec<(&str, &str)> = Vec::new();
        for (name, value) in &pairs {
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
        let params = PageParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))?;
        let items: Vec<Cow<Record>> = self
            .visible(coll, state)
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

    fn create(
        &self,
        c: usize,
        req: &SandboxRequest,
        state: &mut AccountState,
        now: i64,
        new_id: &mut dyn FnMut(&str) -> String,
    ) -> Result<SandboxResponse, Error> {
        let coll = self.collection(c)?;
        let write = coll.write.as_ref().ok_or_else(Error::internal)?;
        if req.body.len() > MAX_BODY_BYTES {
            return Err(Error::payload_too_large(format!(
                "The request body is over {MAX_BODY_BYTES} bytes (64 KiB); send a smaller JSON \
                object."
            )));
        }
        let key = req.idempotency_key.map(check_idempotency_key).transpose()?;
        let body = parse_body(req.body)?;
        let fingerprint = fingerprint(req.path, &body);
        if let Some(key) = key
            && let Some(record) = state.find_idempotency(key, now)
        {
            if record.fingerprint == fingerprint {
                let mut response = SandboxResponse::json(record.status, record.body.clone());
                response
                    .headers
                    .push(("Idempotent-Replayed".to_string(), "true".to_string()));
                return Ok(response);
            }
            return Err(Error::conflict(
                "This Idempotency-Key was used in the last 24 hours for a different request \
                 (another path or body). Send a new key for a new request.",
            ));
        }
        if state.created_count() >= MAX_CREATED_OBJECTS {
            return Err(Error::conflict(format!(
                "This test account's sandbox already holds {MAX_CREATED_OBJECTS} created \
                 objects, the most it keeps. POST /v1/sandbox/reset to delete them, then retry."
            )));
        }
        if key.is_some() && state.live_idempotency_count(now) >= MAX_IDEMPOTENCY_KEYS {
            return Err(Error::conflict(format!(
                "This test account's sandbox already remembers {MAX_IDEMPOTENCY_KEYS} \
                 idempotency keys of the last 24 hours, the most it keeps. POST \
                 /v1/sandbox/reset to clear them, or retry without a new key later."
            )));
        }

        let ctx = WriteCtx {
            sandbox: self,
            state: &*state,
            collection: coll,
        };
        let validator = Validator {
            resolver: &ctx,
            today: date::today(now),
        };
        let server_fields: Vec<&str> = BASE_FIELDS
            .iter()
            .copied()
            .chain(write.set.keys())
            .collect();
        let mut errors = Vec::new();
        validator.check_object(&write.fields, &body, "", &body, &server_fields, &mut errors)?;
        for (field, target) in &coll.references {
            if write.fields.contains(field)
                && let Some(Value::String(id)) = body.get(field)
                && self.lookup(*target, id, state).is_none()
            {
                let target = self.collection(*target)?;
                errors.push(FieldError::new(
                    field.as_str(),
                    format!(
                        "no {} with this id; list /v1/{} for the ids that exist",
                        target.object, target.name
                    ),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(Error::invalid(capped(errors)));
        }
        let mut obj = validator.with_defaults(&write.fields, &body, &body)?;

        let mut conflicts = Vec::new();
        for condition in &write.conditions {
            let Some(target) = ctx.via(&condition.via, &obj) else {
                continue;
            };
            let value = target.get(&condition.field).unwrap_or(&Value::Null);
            let ok = if let Some(allowed) = &condition.one_of {
                allowed.contains(value)
            } else if let Some(field) = &condition.equals_field {
                obj.get(field) == Some(value)
            } else {
                value
                    .as_str()
                    .and_then(date::parse)
                    .is_some_and(|day| day >= date::today(now))
            };
            if !ok {
                conflicts.push(FieldError::new(
                    condition.via.as_str(),
                    condition.message.replace("{value}", &display(value)),
                ));
            }
        }
        if !conflicts.is_empty() {
            let mut error = Error::conflict(
                "The request conflicts with the current state of the objects it references; see \
                errors.",
            );
            error.errors = conflicts;
            return Err(error);
        }

        let mut id = String::new();
        for _ in 0..8 {
            let candidate = new_id(&coll.id_prefix);
            if !candidate.is_empty() && self.lookup(c, &candidate, state).is_none() {
                id = candidate;
                break;
            }
        }
        if id.is_empty() {
            return Err(Error::internal());
        }
        obj.insert("id".into(), Value::String(id));
        obj.insert("object".into(), Value::String(coll.object.clone()));
        obj.insert("livemode".into(), Value::Bool(false));
        obj.insert("created".into(), Value::from(now));
        for (field, expr) in &write.set.0 {
            let value = validator.eval(expr, &obj)?;
            obj.insert(field.clone(), value);
        }

        for magic in self.magic.iter().filter(|m| m.collection == coll.name) {
            if get_path(&obj, &magic.field) != Some(&magic.equals) {
                continue;
            }
            if let Some(reject) = &magic.reject {
                let error = Error::new(reject.status, reject.message.clone()).with_field(
                    magic.field.as_str(),
                    format!(
                        "{} is a sandbox magic value that is always refused; see GET \
                        /v1/sandbox/scenarios",
                        display(&magic.equals)
                    ),
                );
                let mut response = SandboxResponse::from_error(&error);
                if let Some(key) = key {
                    let record = idempotency_record(key, fingerprint, now, &response);
                    let growth = state.growth_of_create(&coll.name, 0, &[], Some(&record));
                    check_budget(state, growth)?;
                    remember(state, record, now);
                    response.state_changed = true;
                }
                return Ok(response);
            }
            if let Some(set) = &magic.set {
                for (field, value) in set {
                    obj.insert(field.clone(), value.clone());
                }
            }
        }

        for (field, target) in &coll.references {
            if let Some(Value::String(id)) = obj.get(field)
                && self.lookup(*target, id, state).is_none()
            {
                return Err(Error::internal());
            }
        }
        let mut changes = Vec::new();
        for update in &write.updates {
            let target = coll.reference(&update.via).ok_or_else(Error::internal)?;
            let Some(target_id) = obj.get(&update.via).and_then(Value::as_str) else {
                continue;
            };
            let mut patch = Record::new();
            for (field, expr) in &update.set.0 {
                patch.insert(field.clone(), validator.eval(expr, &obj)?);
            }
            changes.push((
                self.collection(target)?.name.clone(),
                target_id.to_string(),
                patch,
            ));
        }

        let rendered = to_json(&Ordered(&obj))?;
        let mut response = SandboxResponse::json(201, rendered);
        response.state_changed = true;
        let record = key.map(|key| idempotency_record(key, fingerprint, now, &response));
        let growth = state.growth_of_create(&coll.name, json_size(&obj), &changes, record.as_ref());
        check_budget(state, growth)?;
        state
            .created
            .entry(coll.name.clone())
            .or_default()
            .push(obj);
        for (target, id, patch) in changes {
            apply_update(state, &target, &id, patch);
        }
        if let Some(record) = record {
            remember(state, record, now);
        }
        Ok(response)
    }
}

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

fn apply_update(state: &mut AccountState, collection: &str, id: &str, patch: Record) {
    if let Some(created) = state
        .created
        .get_mut(collection)
        .and_then(|list| list.iter_mut().find(|r| id_of(r) == id))
    {
        created.extend(patch);
        return;
    }
    state
        .updated
        .entry(collection.to_string())
        .or_default()
        .entry(id.to_string())
        .or_default()
        .extend(patch);
}

fn idempotency_record(
    key: &str,
    fingerprint: String,
    now: i64,
    response: &SandboxResponse,
) -> IdempotencyRecord {
    IdempotencyRecord {
        key: key.to_string(),
        fingerprint,
        at: now,
        status: response.status,
        body: response.body.clone(),
    }
}

fn remember(state: &mut AccountState, record: IdempotencyRecord, now: i64) {
    state.prune_idempotency(now);
    state.idempotency.push(record);
}

/// Refuses a write that would make the serialised state larger than [`MAX_STATE_BYTES`].
fn check_budget(state: &mut AccountState, growth: usize) -> Result<(), Error> {
    if state.reserve(growth) {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "This test account's sandbox state is at its size limit ({} KiB). POST \
         /v1/sandbox/reset to clear it, then retry.",
        MAX_STATE_BYTES / 1024
    )))
}

fn reset(state: &mut AccountState) -> Result<SandboxResponse, Error> {
    #[derive(Serialize)]
    struct Reset {
        object: &'static str,
        deleted: usize,
        reverted_updates: usize,
        idempotency_keys_cleared: usize,
    }
    let summary = Reset {
        object: "sandbox_reset",
        deleted: state.created_count(),
        reverted_updates: state.updated.values().map(|u| u.len()).sum(),
        idempotency_keys_cleared: state.idempotency_count(),
    };
    // Rendered before the state is cleared: should it ever fail, the reset has not happened.
    let mut response = SandboxResponse::json(200, to_json(&summary)?);
    response.state_changed = !state.is_empty();
    *state = AccountState::default();
    Ok(response)
}

fn check_idempotency_key(key: &str) -> Result<&str, Error> {
    let problem = if key.is_empty() {
        Some("must not be empty".to_string())
    } else if key.len() > MAX_IDEMPOTENCY_KEY_LENGTH {
        Some(format!(
            "must be at most {MAX_IDEMPOTENCY_KEY_LENGTH} characters; a UUID is a good key"
        ))
    } else if !key.bytes().all(|c| c.is_ascii_graphic() || c == b' ') {
        Some("must be printable ASCII; a UUID is a good key".to_string())
    } else {
        None
    };
    match problem {
        None => Ok(key),
        Some(message) => Err(Error::bad_request("The Idempotency-Key header is invalid.")
            .with_field("Idempotency-Key", message)),
    }
}

fn parse_body(body: &[u8]) -> Result<Record, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::bad_request(
            "The request body is empty; send a JSON object.",
        ));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(Error::bad_request(
            "The request body must be a JSON object.",
        )),
        Err(e) => Err(Error::bad_request(format!(
            "The request body is not valid JSON ({e}); send a JSON object."
        ))),
    }
}

/// FNV-1a 64 of the path and the canonical JSON of the body (keys sorted, no whitespace), so
/// the same object sent with other spacing or key order counts as the same request.
fn fingerprint(path: &str, body: &Record) -> String {
    let mut canonical = String::new();
    write_canonical(&mut canonical, &Value::Object(body.clone()));
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in path.bytes().chain([b'\n']).chain(canonical.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// JSON with every object's keys sorted, written out explicitly: maps keep insertion order
/// (serde_json `preserve_order`), so serialising as-is would depend on the sender's key order.
fn write_canonical(out: &mut String, value: &Value) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (index, (key, value)) in entries.into_iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_canonical(out, value);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    out.push(',');
                }
                write_canonical(out, item);
            }
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
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
