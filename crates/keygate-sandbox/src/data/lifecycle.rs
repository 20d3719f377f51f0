//! Lifecycles, declared per collection in the manifest: the states a record's status field
//! takes and the transitions that days passing trigger (a quote `offered` → `expired` after
//! its `valid_until`), that a client's action triggers (a payment order's `cancel`), or that
//! book a transaction on the bank ledger (a payment order executed on its date, or rejected
//! when the balance does not cover it). A record stores the state it was given; the state it
//! is in is computed on the day it is read, so nothing is written as time passes and a clock
//! moved forward shows every transition at once.
//!
//! Reads its input from the loaded collections and magic values (passed in), so it depends on
//! neither the manifest nor the record files.

use super::records::record_id;
use super::{Collection, MANIFEST_FILE, MagicValue, is_name};
use crate::date;
use crate::rules::{BASE_FIELDS, Expr, Record};
use serde::Deserialize;
use serde_json::Value;

/// `"lifecycle": {"field": "status", "states": [...], "transitions": [...]}`
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Lifecycle {
    /// The top-level field holding the state.
    pub field: String,
    /// Every state a record may be in.
    pub states: Vec<String>,
    #[serde(default)]
    pub transitions: Vec<Transition>,
}

/// `{"from": "pending", "to": "active", "on": "start_date"}`: a record in `from` is in `to`
/// from the day its date field names (`on`), or from the day after it (`after`); or, with
/// `"action": "cancel"`, once a client sends `POST /v1/{collection}/{id}/cancel`, which also
/// sets the constant fields of `set`. With `books`, the dated transition is the bank ledger's
/// to make (`crate::ledger`): it happens only if the account's balance covers the amount on
/// that day, and goes to `unless_covered` otherwise.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Transition {
    pub from: String,
    pub to: String,
    #[serde(default)]
    pub on: Option<String>,
    #[serde(default)]
    pub after: Option<String>,
    #[serde(default)]
    pub action: Option<String>,
    #[serde(default)]
    pub set: Record,
    #[serde(default)]
    pub books: Option<Booking>,
    #[serde(default)]
    pub unless_covered: Option<Outcome>,
}

/// `"books": {"debit": "debtor_account_id", "amount": "amount", ...}`: the transaction a
/// record books when its transition happens, each member naming one of the record's fields. The
/// account that `debit` references is debited `amount` (minor units), with the counterparty
/// the named fields give and the `description` field's text (or "Payment order {id}"); when
/// the counterparty's IBAN is another open account of the sandbox in the same currency, that
/// account is credited too. The booked transaction's id goes into the `transaction` field.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Booking {
    pub debit: String,
    pub amount: String,
    pub counterparty_name: String,
    pub counterparty_iban: String,
    #[serde(default)]
    pub description: Option<String>,
    pub transaction: String,
}

/// Where a booking transition goes instead when the balance does not cover it:
/// `{"to": "rejected", "set": {"status_reason": "insufficient_funds"}}`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Outcome {
    pub to: String,
    #[serde(default)]
    pub set: Record,
}

impl Transition {
    /// The first day the record is in `to`, if its date field holds a date.
    pub(crate) fn first_day(&self, record: &Record) -> Option<i64> {
        let (field, shift) = match (&self.on, &self.after) {
            (Some(field), _) => (field, 0),
            (None, Some(field)) => (field, 1),
            (None, None) => return None,
        };
        Some(date::parse(record.get(field)?.as_str()?)? + shift)
    }
}

impl Lifecycle {
    /// The state `record` has reached on `today`, if it differs from the stored one.
    pub(crate) fn state_on<'a>(&'a self, record: &Record, today: i64) -> Option<&'a str> {
        let stored = record.get(&self.field)?.as_str()?;
        let (_, reached) = self.passed(record, today).last()?;
        Some(reached.to.as_str()).filter(|state| *state != stored)
    }

    /// The transitions by date `record` has gone through by `today`, in order, each with its
    /// day: they follow one another (a policy that started and ended went through two). A
    /// booking's transition is the ledger's to make, so the walk stops before one. The checks
    /// rule out cycles, and the walk is bounded by the number of states regardless.
    pub(crate) fn passed<'l, 'r>(
        &'l self,
        record: &'r Record,
        today: i64,
    ) -> impl Iterator<Item = (i64, &'l Transition)> + use<'l, 'r> {
        // The stored state as one of the declared ones (the checks make it one): the walk then
        // borrows only the lifecycle.
        let stored = record.get(&self.field).and_then(Value::as_str);
        let mut state = self.states.iter().find(|s| Some(s.as_str()) == stored);
        (0..self.states.len()).map_while(move |_| {
            let t = self
                .transitions
                .iter()
                .find(|t| Some(&t.from) == state && t.action.is_none() && t.books.is_none())?;
            let day = t.first_day(record).filter(|day| *day <= today)?;
            state = Some(&t.to);
            Some((day, t))
        })
    }

    /// The transitions a client triggers with `action`.
    pub(crate) fn action<'a>(&'a self, action: &'a str) -> impl Iterator<Item = &'a Transition> {
        self.transitions
            .iter()
            .filter(move |t| t.action.as_deref() == Some(action))
    }

    /// The transition that books on the bank ledger, if the collection declares one; with the
    /// day it is due for `record`.
    pub(crate) fn booking(&self) -> Option<&Transition> {
        self.transitions.iter().find(|t| t.books.is_some())
    }

    /// The day `record` is due to be booked, if it waits for its booking transition.
    pub(crate) fn booking_day(&self, record: &Record) -> Option<i64> {
        let t = self.booking()?;
        let state = record.get(&self.field)?.as_str()?;
        (state == t.from).then(|| t.first_day(record)).flatten()
    }

    fn has_state(&self, value: &Value) -> bool {
        value
            .as_str()
            .is_some_and(|s| self.states.iter().any(|state| state == s))
    }
}

/// Checks every collection's lifecycle against its records, its write rules, the other
/// collections' updates of it and the magic values: every state set anywhere is declared, and
/// the transitions can be followed.
pub(super) fn check_all(collections: &[Collection], magic: &[MagicValue]) -> Result<(), String> {
    for (c, coll) in collections.iter().enumerate() {
        let Some(lifecycle) = &coll.lifecycle else {
            continue;
        };
        let at = format!("{MANIFEST_FILE}: collection `{}`: lifecycle", coll.name);
        check_shape(lifecycle, collections, coll, &at)?;
        check_set_states(collections, c, lifecycle, magic, &at)?;
    }
    Ok(())
}

/// The states and transitions themselves.
fn check_shape(
    lifecycle: &Lifecycle,
    collections: &[Collection],
    coll: &Collection,
    at: &str,
) -> Result<(), String> {
    let field = &lifecycle.field;
    if !is_name(field) {
        return Err(format!(
            "{at}: field `{field}` must be a top-level field name"
        ));
    }
    if lifecycle.states.is_empty() {
        return Err(format!("{at}: declares no state"));
    }
    for (n, state) in lifecycle.states.iter().enumerate() {
        if !is_name(state) {
            return Err(format!(
                "{at}: state `{state}` must be lower-case letters, digits and `_`"
            ));
        }
        if lifecycle.states[..n].contains(state) {
            return Err(format!("{at}: state `{state}` is listed twice"));
        }
    }
    if let Some(write) = &coll.write
        && write.fields.contains(field)
    {
        return Err(format!(
            "{at}: `{field}` is a field clients send; the server must set a state"
        ));
    }
    for (n, t) in lifecycle.transitions.iter().enumerate() {
        let here = format!("{at}.transitions[{n}]");
        for state in [&t.from, &t.to] {
            if !lifecycle.states.contains(state) {
                return Err(format!("{here}: `{state}` is not one of the states"));
            }
        }
        if t.from == t.to {
            return Err(format!("{here}: goes from `{}` to itself", t.from));
        }
        for field in t.set.keys() {
            if field == &lifecycle.field || BASE_FIELDS.contains(&field.as_str()) || !is_name(field)
            {
                return Err(format!("{here}: set cannot change `{field}`"));
            }
        }
        let date_field =
            match (&t.on, &t.after, &t.action) {
                (Some(field), None, None) | (None, Some(field), None) => field,
                (None, None, Some(action)) => {
                    if t.books.is_some() || t.unless_covered.is_some() {
                        return Err(format!(
                            "{here}: an action's transition cannot book (`books`, \
                             `unless_covered` need a date)"
                        ));
                    }
                    if !is_name(action) {
                        return Err(format!("{here}: action `{action}` must be a name"));
                    }
                    if coll.children.iter().any(|(child, _)| {
                        collections.get(*child).is_some_and(|c| &c.name == action)
                    }) {
                        return Err(format!(
                            "{here}: action `{action}` is also a nested list of the collection"
                        ));
                    }
                    if lifecycle.transitions[..n]
                        .iter()
                        .any(|o| o.action == t.action && o.from == t.from)
                    {
                        return Err(format!("{here}: `{action}` from `{}` twice", t.from));
                    }
                    continue;
                }
                _ => {
                    return Err(format!(
                        "{here}: give exactly one of `on`, `after` and `action`"
                    ));
                }
            };
        if !t.set.is_empty() && t.books.is_none() {
            return Err(format!(
                "{here}: only an action's or a booking's transition sets fields"
            ));
        }
        if !has_field(coll, date_field) {
            return Err(format!(
                "{here}: date field `{date_field}` appears in no record and no write rule"
            ));
        }
        check_booking(lifecycle, coll, n, &here)?;
        if lifecycle.transitions[..n]
            .iter()
            .any(|o| o.from == t.from && o.action.is_none())
        {
            return Err(format!(
                "{here}: a second transition from `{}`; one state moves on one way",
                t.from
            ));
        }
    }
    // One transition per state: a walk that is longer than the states has gone round.
    for start in &lifecycle.states {
        let mut state = start;
        for _ in 0..=lifecycle.states.len() {
            match lifecycle
                .transitions
                .iter()
                .find(|t| &t.from == state && t.action.is_none())
            {
                Some(t) => state = &t.to,
                None => break,
            }
            if state == start {
                return Err(format!(
                    "{at}: the transitions go round from `{start}` back to it"
                ));
            }
        }
    }
    Ok(())
}

/// Whether records of `coll` have `field`: written by clients, set by the server, or in the
/// files.
fn has_field(coll: &Collection, field: &str) -> bool {
    coll.write
        .as_ref()
        .is_some_and(|w| w.fields.contains(field) || w.set.contains(field))
        || coll.records.iter().any(|r| r.contains_key(field))
}

/// A dated transition that books (`books` with `unless_covered`, both or neither): the fields
/// it reads exist, its two outcomes are states the record stays in, and no record of the files
/// waits for it (the files are as of their day: the ledger books what clients create).
fn check_booking(
    lifecycle: &Lifecycle,
    coll: &Collection,
    n: usize,
    here: &str,
) -> Result<(), String> {
    let t = &lifecycle.transitions[n];
    let (books, otherwise) = match (&t.books, &t.unless_covered) {
        (None, None) => return Ok(()),
        (Some(books), Some(otherwise)) => (books, otherwise),
        _ => {
            return Err(format!(
                "{here}: `books` and `unless_covered` go together: what is booked, and where the \
                 record goes when the balance does not cover it"
            ));
        }
    };
    if lifecycle.transitions[..n].iter().any(|o| o.books.is_some()) {
        return Err(format!(
            "{here}: a second transition that books; declare one"
        ));
    }
    let fields = [
        ("debit", Some(&books.debit)),
        ("amount", Some(&books.amount)),
        ("counterparty_name", Some(&books.counterparty_name)),
        ("counterparty_iban", Some(&books.counterparty_iban)),
        ("description", books.description.as_ref()),
        ("transaction", Some(&books.transaction)),
    ];
    for (role, field) in fields {
        if let Some(field) = field
            && !has_field(coll, field)
        {
            return Err(format!(
                "{here}: books.{role} names `{field}`, which appears in no record and no write rule"
            ));
        }
    }
    if books.transaction == lifecycle.field || BASE_FIELDS.contains(&books.transaction.as_str()) {
        return Err(format!(
            "{here}: books.transaction cannot be `{}`",
            books.transaction
        ));
    }
    if !lifecycle.states.contains(&otherwise.to) || otherwise.to == t.from {
        return Err(format!(
            "{here}: unless_covered.to `{}` must be one of the states, other than `{}`",
            otherwise.to, t.from
        ));
    }
    for field in otherwise.set.keys() {
        if field == &lifecycle.field || BASE_FIELDS.contains(&field.as_str()) || !is_name(field) {
            return Err(format!(
                "{here}: unless_covered.set cannot change `{field}`"
            ));
        }
    }
    for end in [&t.to, &otherwise.to] {
        if lifecycle
            .transitions
            .iter()
            .any(|o| &o.from == end && o.action.is_none())
        {
            return Err(format!(
                "{here}: `{end}` is where a booking ends; no dated transition may leave it"
            ));
        }
    }
    if let Some(record) = coll
        .records
        .iter()
        .find(|r| r.get(&lifecycle.field).and_then(Value::as_str) == Some(t.from.as_str()))
    {
        return Err(format!(
            "{here}: record {} of the files is `{}`, waiting to be booked; the files are as of \
             their day, so give it the state it ended in",
            record_id(record),
            t.from
        ));
    }
    Ok(())
}

/// Every state a record holds or is given (the records, the write's `set`, other collections'
/// `updates`, magic values) is declared.
fn check_set_states(
    collections: &[Collection],
    c: usize,
    lifecycle: &Lifecycle,
    magic: &[MagicValue],
    at: &str,
) -> Result<(), String> {
    let coll = &collections[c];
    let field = &lifecycle.field;
    let undeclared = |value: &Value, whose: &str| {
        format!(
            "{at}: {whose} sets `{field}` to {value}, which is not one of the states {:?}",
            lifecycle.states
        )
    };
    for record in &coll.records {
        let value = record.get(field).unwrap_or(&Value::Null);
        if !lifecycle.has_state(value) {
            return Err(undeclared(value, &format!("record {}", record_id(record))));
        }
    }
    let mut given: Vec<(&Expr, String)> = Vec::new();
    if let Some(write) = &coll.write {
        match write.set.get(field) {
            Some(expr) => given.push((expr, "its write rule".into())),
            None => {
                return Err(format!(
                    "{at}: the write rule must set `{field}` to a state"
                ));
            }
        }
    }
    for other in collections {
        let Some(write) = &other.write else { continue };
        for update in &write.updates {
            if other.reference(&update.via) == Some(c)
                && let Some(expr) = update.set.get(field)
            {
                given.push((expr, format!("collection `{}`'s update", other.name)));
            }
        }
    }
    for (expr, whose) in given {
        match expr {
            Expr::Const(value) if lifecycle.has_state(value) => {}
            Expr::Const(value) => return Err(undeclared(value, &whose)),
            _ => {
                return Err(format!(
                    "{at}: {whose} must set `{field}` to a constant state"
                ));
            }
        }
    }
    for m in magic.iter().filter(|m| m.collection == coll.name) {
        if let Some(value) = m.set.as_ref().and_then(|set| set.get(field))
            && !lifecycle.has_state(value)
        {
            return Err(undeclared(value, &format!("magic value {}", m.equals)));
        }
    }
    Ok(())
}
