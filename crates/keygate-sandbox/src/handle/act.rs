//! `POST /v1/{collection}/{id}/{action}`: a transition of the collection's lifecycle that a
//! client triggers (a pending payment order cancelled). The record must be, as reads show it
//! today, in a state the action leaves; then its new state (and the transition's fields) are
//! stored as the account's update of it, so other accounts still see the file.

use super::create::{apply_update, check_budget};
use super::read::View;
use super::render::{Ordered, to_json};
use crate::clock::Now;
use crate::rules::{Record, display};
use crate::state::Logged;
use crate::{AccountState, Sandbox, SandboxResponse};
use keygate_core::Error;
use serde_json::Value;
use std::cell::OnceCell;

impl Sandbox {
    pub(super) fn act(
        &self,
        c: usize,
        id: &str,
        action: &str,
        state: &mut AccountState,
        now: Now,
    ) -> Result<SandboxResponse, Error> {
        let coll = self.collection(c)?;
        let lifecycle = coll.lifecycle.as_ref().ok_or_else(Error::internal)?;
        let patch = {
            let world = OnceCell::new();
            let view = View {
                state,
                today: now.today(),
                world: &world,
            };
            let record = self
                .lookup(c, id, view)
                .ok_or_else(|| self.no_such(c, id))?;
            let current = record.get(&lifecycle.field).unwrap_or(&Value::Null);
            let Some(transition) = lifecycle
                .action(action)
                .find(|t| current.as_str() == Some(t.from.as_str()))
            else {
                let from: Vec<&str> = lifecycle.action(action).map(|t| t.from.as_str()).collect();
                return Err(Error::conflict(format!(
                    "The {} is {}; `{action}` applies to one that is {}.",
                    coll.object,
                    display(current),
                    from.join(" or ")
                )));
            };
            let mut patch = Record::new();
            patch.insert(
                lifecycle.field.clone(),
                Value::String(transition.to.clone()),
            );
            patch.extend(transition.set.clone());
            patch
        };
        // The event of the transition, with the object as the answer will show it.
        let state_name = patch
            .get(&lifecycle.field)
            .and_then(Value::as_str)
            .unwrap_or(action)
            .to_string();
        let logged = Logged {
            at: now.sandbox,
            kind: format!("{}.{state_name}", coll.object),
            collection: coll.name.clone(),
            id: id.to_string(),
            object: self.patched_json(c, id, &patch, state, now.today())?,
        };
        let change = (coll.name.clone(), id.to_string(), patch);
        check_budget(
            state,
            state.growth_of_create(
                &coll.name,
                0,
                std::slice::from_ref(&change),
                None,
                std::slice::from_ref(&logged),
            ),
        )?;
        let (collection, id, patch) = change;
        apply_update(state, &collection, &id, patch);
        state.log.push(logged);
        let world = OnceCell::new();
        let view = View {
            state,
            today: now.today(),
            world: &world,
        };
        let record = self.lookup(c, &id, view).ok_or_else(Error::internal)?;
        let mut response = SandboxResponse::json(200, to_json(&Ordered(&record))?);
        response.state_changed = true;
        Ok(response)
    }
}
