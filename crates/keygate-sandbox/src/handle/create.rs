//! `POST /v1/{collection}`: a create, decided in steps that each refuse with their own status
//! (`docs/sandbox.md`, "Writes"): 413 or 400 for the request itself, a replay or 409 for its
//! `Idempotency-Key`, 409 at the account's caps, 400 for every bad field at once, 409 when the
//! records it references are in the wrong state, then the object is built, magic values
//! applied, and the object, its updates of referenced records and the answer stored together.

use super::idempotency::{self, IdempotencyKey};
use super::read::{View, id_of};
use super::render::{Ordered, capped, to_json};
use crate::clock::Now;
use crate::data::Collection;
use crate::ledger::World;
use crate::rules::{BASE_FIELDS, Record, Resolver, Validator, WriteSpec, display, get_path};
use crate::state::{Logged, MAX_CREATED_OBJECTS, MAX_STATE_BYTES, json_size};
use crate::{AccountState, Sandbox, SandboxRequest, SandboxResponse, date};
use keygate_core::MAX_JSON_BODY_BYTES;
use keygate_core::{Error, FieldError};
use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;

/// A change a create makes to a record it references: (collection name, id, fields to set).
type Change = (String, String, Record);

/// What a create stores together: the object, its answer, its changes of the records it
/// references, and the events of all that.
struct Created {
    obj: Record,
    shown: String,
    changes: Vec<Change>,
    logged: Vec<Logged>,
}

impl Sandbox {
    /// Creates an object of collection `c` from the request's body (see the module docs for
    /// the order of the checks).
    pub(super) fn create(
        &self,
        c: usize,
        req: &SandboxRequest,
        state: &mut AccountState,
        now: Now,
        new_id: &mut dyn FnMut(&str) -> String,
    ) -> Result<SandboxResponse, Error> {
        let collection = self.collection(c)?;
        let write = collection.write.as_ref().ok_or_else(Error::internal)?;
        let (body, key) = read_request(req)?;
        if let Some(key) = &key
            && let Some(replayed) = key.replay(state, now.real)?
        {
            return Ok(replayed);
        }
        check_caps(state, key.is_some(), now.real)?;

        let ctx = WriteCtx {
            sandbox: self,
            state: &*state,
            index: c,
            collection,
            write,
            today: now.today(),
            world: OnceCell::new(),
        };
        let validator = Validator {
            resolver: &ctx,
            today: now.today(),
        };
        let mut obj = ctx.validated(&validator, &body)?;
        ctx.check_conditions(&obj, validator.today)?;
        let id = ctx.fresh_id(new_id)?;
        ctx.add_server_fields(&mut obj, id, &validator, now.sandbox)?;
        if let Some(refusal) = ctx.apply_magic(&mut obj) {
            return refuse(state, &collection.name, &refusal, key, now.real);
        }
        ctx.check_references(&obj)?;
        let changes = ctx.updates(&validator, &obj)?;
        // The answer shows the object as it is today: a policy that starts today is active, a
        // payment order due today is executed (or rejected) by today's run of the ledger.
        let shown = self.created_json(c, &obj, state, now.today())?;
        let logged = self.created_events(c, &obj, &shown, &changes, state, now)?;
        let created = Created {
            obj,
            shown,
            changes,
            logged,
        };
        store(state, &collection.name, created, key, now.real)
    }
}

impl Sandbox {
    /// The answer's JSON for a new object of collection `c`, as reads will show it once it is
    /// stored: a record that books (a payment order) as the ledger runs with it counted (not a
    /// copy of the whole state with it).
    fn created_json(
        &self,
        c: usize,
        obj: &Record,
        state: &AccountState,
        today: i64,
    ) -> Result<String, Error> {
        let world = OnceCell::new();
        if let Some(activity) = self.activity.as_ref().filter(|a| a.bookers.contains(&c)) {
            let _ = world.set(activity.world(&self.collections, state, Some((c, obj)), today));
        }
        let view = View {
            state,
            today,
            world: &world,
        };
        to_json(&Ordered(&self.shown(c, Cow::Borrowed(obj), view)))
    }
}

impl Sandbox {
    /// The events a create makes: the object created (as its answer shows it) and each record
    /// it updates (as it will read once updated).
    fn created_events(
        &self,
        c: usize,
        obj: &Record,
        shown: &str,
        changes: &[Change],
        state: &AccountState,
        now: Now,
    ) -> Result<Vec<Logged>, Error> {
        let coll = self.collection(c)?;
        let mut logged = vec![Logged {
            at: now.sandbox,
            kind: format!("{}.created", coll.object),
            collection: coll.name.clone(),
            id: id_of(obj).to_string(),
            object: shown.to_string(),
        }];
        for (target, id, patch) in changes {
            let t = self
                .collections
                .iter()
                .position(|c| &c.name == target)
                .ok_or_else(Error::internal)?;
            logged.push(Logged {
                at: now.sandbox,
                kind: format!("{}.updated", self.collection(t)?.object),
                collection: target.clone(),
                id: id.clone(),
                object: self.patched_json(t, id, patch, state, now.today())?,
            });
        }
        Ok(logged)
    }

    /// The JSON of record `id` of collection `c` as reads will show it once `patch` is merged.
    pub(super) fn patched_json(
        &self,
        c: usize,
        id: &str,
        patch: &Record,
        state: &AccountState,
        today: i64,
    ) -> Result<String, Error> {
        let world = OnceCell::new();
        let view = View {
            state,
            today,
            world: &world,
        };
        let mut record = self
            .lookup(c, id, view)
            .ok_or_else(Error::internal)?
            .into_owned();
        record.extend(patch.clone());
        to_json(&Ordered(&record))
    }
}

/// The body of a create as a JSON object, and its checked `Idempotency-Key` (if sent).
fn read_request<'r>(
    req: &SandboxRequest<'r>,
) -> Result<(Record, Option<IdempotencyKey<'r>>), Error> {
    if req.body.len() > MAX_JSON_BODY_BYTES {
        return Err(Error::payload_too_large(format!(
            "The request body is over {MAX_JSON_BODY_BYTES} bytes (64 KiB); send a smaller JSON \
            object."
        )));
    }
    let key = req
        .idempotency_key
        .map(idempotency::check_key)
        .transpose()?;
    let body = parse_body(req.body)?;
    let key = key.map(|key| IdempotencyKey::new(key, req.path, &body));
    Ok((body, key))
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

/// A 409 when the account holds [`MAX_CREATED_OBJECTS`], or (for a request with a new key)
/// as many idempotency records as it keeps: only a reset (or time) helps, so not a 429.
fn check_caps(state: &AccountState, keyed: bool, now: i64) -> Result<(), Error> {
    if state.created_count() >= MAX_CREATED_OBJECTS {
        return Err(Error::conflict(format!(
            "This test account's sandbox already holds {MAX_CREATED_OBJECTS} created \
             objects, the most it keeps. POST /v1/sandbox/reset to delete them, then retry."
        )));
    }
    if keyed {
        idempotency::check_room(state, now)?;
    }
    Ok(())
}

/// One create being decided: what it writes and what the account's state holds. It is also
/// the [`Resolver`] through which the write rules read the records the new object references.
struct WriteCtx<'a> {
    sandbox: &'a Sandbox,
    state: &'a AccountState,
    /// The index of `collection`.
    index: usize,
    collection: &'a Collection,
    write: &'a WriteSpec,
    /// The account's sandbox day: the records referenced are seen as they are on it.
    today: i64,
    /// The bank ledger on that day, as the references see it.
    world: OnceCell<World>,
}

impl Resolver for WriteCtx<'_> {
    fn via(&self, via: &str, obj: &Record) -> Option<Cow<'_, Record>> {
        let target = self.collection.reference(via)?;
        let id = obj.get(via)?.as_str()?;
        self.sandbox.lookup(target, id, self.view())
    }
}

impl WriteCtx<'_> {
    fn view(&self) -> View<'_> {
        View {
            state: self.state,
            today: self.today,
            world: &self.world,
        }
    }

    /// The body checked against the write rules, with its defaults applied. Every bad field,
    /// an id that no referenced record has included, gets its own entry in one 400.
    fn validated(&self, validator: &Validator, body: &Record) -> Result<Record, Error> {
        let server_fields: Vec<&str> = BASE_FIELDS
            .iter()
            .copied()
            .chain(self.write.set.keys())
            .collect();
        let mut errors = Vec::new();
        validator.check_object(
            &self.write.fields,
            body,
            "",
            body,
            &server_fields,
            &mut errors,
        )?;
        for (field, target) in &self.collection.references {
            if self.write.fields.contains(field)
                && let Some(Value::String(id)) = body.get(field)
                && self.sandbox.lookup(*target, id, self.view()).is_none()
            {
                let target = self.sandbox.collection(*target)?;
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
        validator.with_defaults(&self.write.fields, body, body)
    }

    /// A 409 listing every write condition that the referenced records fail (a closed
    /// account, an expired quote…); a valid body can still conflict with the current state.
    fn check_conditions(&self, obj: &Record, today: i64) -> Result<(), Error> {
        let mut conflicts = Vec::new();
        for condition in &self.write.conditions {
            let Some(target) = self.via(&condition.via, obj) else {
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
                    .is_some_and(|day| day >= today)
            };
            if !ok {
                conflicts.push(FieldError::new(
                    condition.via.as_str(),
                    condition.message.replace("{value}", &display(value)),
                ));
            }
        }
        if conflicts.is_empty() {
            return Ok(());
        }
        let mut error = Error::conflict(
            "The request conflicts with the current state of the objects it references; see \
            errors.",
        );
        error.errors = conflicts;
        Err(error)
    }

    /// An id from `new_id` that no record of the collection has. An id that exists is asked
    /// for again, up to 8 times, then 500: a weak generator cannot overwrite an object.
    fn fresh_id(&self, new_id: &mut dyn FnMut(&str) -> String) -> Result<String, Error> {
        (0..8)
            .map(|_| new_id(&self.collection.id_prefix))
            .find(|id| !id.is_empty() && self.sandbox.lookup(self.index, id, self.view()).is_none())
            .ok_or_else(Error::internal)
    }

    /// Sets what the server decides: `id`, `object`, `livemode`, `created`, then the
    /// collection's derived (`set`) fields, in the order the manifest declares them.
    fn add_server_fields(
        &self,
        obj: &mut Record,
        id: String,
        validator: &Validator,
        now: i64,
    ) -> Result<(), Error> {
        obj.insert("id".into(), Value::String(id));
        obj.insert(
            "object".into(),
            Value::String(self.collection.object.clone()),
        );
        obj.insert("livemode".into(), Value::Bool(false));
        obj.insert("created".into(), Value::from(now));
        for (field, expr) in &self.write.set.0 {
            let value = validator.eval(expr, obj)?;
            obj.insert(field.clone(), value);
        }
        Ok(())
    }

    /// Applies the collection's magic values, in declaration order, to the object: one that
    /// overrides fields does so; the first that refuses returns its refusal instead.
    fn apply_magic(&self, obj: &mut Record) -> Option<Error> {
        let magic_values = self.sandbox.magic.iter();
        for magic in magic_values.filter(|m| m.collection == self.collection.name) {
            if get_path(obj, &magic.field) != Some(&magic.equals) {
                continue;
            }
            if let Some(reject) = &magic.reject {
                return Some(
                    Error::new(reject.status, reject.message.clone()).with_field(
                        magic.field.as_str(),
                        format!(
                            "{} is a sandbox magic value that is always refused; see GET \
                            /v1/sandbox/scenarios",
                            display(&magic.equals)
                        ),
                    ),
                );
            }
            if let Some(set) = &magic.set {
                for (field, value) in set {
                    obj.insert(field.clone(), value.clone());
                }
            }
        }
        None
    }

    /// Every reference of the finished object names an existing record. The body's were
    /// checked; one a magic value set and the data checks missed is a 500, not a dangling id.
    fn check_references(&self, obj: &Record) -> Result<(), Error> {
        for (field, target) in &self.collection.references {
            if let Some(Value::String(id)) = obj.get(field)
                && self.sandbox.lookup(*target, id, self.view()).is_none()
            {
                return Err(Error::internal());
            }
        }
        Ok(())
    }

    /// The changes the write's `updates` make to the records the new object references (a
    /// quote bound to a policy becomes `accepted`).
    fn updates(&self, validator: &Validator, obj: &Record) -> Result<Vec<Change>, Error> {
        let mut changes = Vec::new();
        for update in &self.write.updates {
            let target = self
                .collection
                .reference(&update.via)
                .ok_or_else(Error::internal)?;
            let Some(target_id) = obj.get(&update.via).and_then(Value::as_str) else {
                continue;
            };
            let mut patch = Record::new();
            for (field, expr) in &update.set.0 {
                patch.insert(field.clone(), validator.eval(expr, obj)?);
            }
            changes.push((
                self.sandbox.collection(target)?.name.clone(),
                target_id.to_string(),
                patch,
            ));
        }
        Ok(changes)
    }
}

/// The answer to a create that a magic value refuses. The request was processed, so with a
/// key the refusal is remembered like a created object would be.
fn refuse(
    state: &mut AccountState,
    collection: &str,
    refusal: &Error,
    key: Option<IdempotencyKey>,
    now: i64,
) -> Result<SandboxResponse, Error> {
    let mut response = SandboxResponse::from_error(refusal);
    if let Some(key) = key {
        let record = key.record(&response, now);
        check_budget(
            state,
            state.growth_of_create(collection, 0, &[], Some(&record), &[]),
        )?;
        idempotency::remember(state, record, now);
        response.state_changed = true;
    }
    Ok(response)
}

/// Stores the created object, its changes to referenced records and (with a key) the answer,
/// all or nothing, and answers 201 with the object as `shown`.
fn store(
    state: &mut AccountState,
    collection: &str,
    created: Created,
    key: Option<IdempotencyKey>,
    now: i64,
) -> Result<SandboxResponse, Error> {
    let Created {
        obj,
        shown,
        changes,
        logged,
    } = created;
    let mut response = SandboxResponse::json(201, shown);
    response.state_changed = true;
    let record = key.map(|key| key.record(&response, now));
    let growth = state.growth_of_create(
        collection,
        json_size(&obj),
        &changes,
        record.as_ref(),
        &logged,
    );
    check_budget(state, growth)?;
    state.log.extend(logged);
    state
        .created
        .entry(collection.to_string())
        .or_default()
        .push(obj);
    for (target, id, patch) in changes {
        apply_update(state, &target, &id, patch);
    }
    if let Some(record) = record {
        idempotency::remember(state, record, now);
    }
    Ok(response)
}

/// Refuses a write that would make the serialised state larger than [`MAX_STATE_BYTES`].
pub(super) fn check_budget(state: &mut AccountState, growth: usize) -> Result<(), Error> {
    if state.reserve(growth) {
        return Ok(());
    }
    Err(Error::conflict(format!(
        "This test account's sandbox state is at its size limit ({} KiB). POST \
         /v1/sandbox/reset to clear it, then retry.",
        MAX_STATE_BYTES / 1024
    )))
}

/// Merges `patch` into a record: into a created object itself, or for a static record into
/// the account's updates (merged on read, so other accounts still see the file).
pub(super) fn apply_update(state: &mut AccountState, collection: &str, id: &str, patch: Record) {
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
