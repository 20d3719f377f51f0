//! The bank ledger as the sandbox's days pass: after each account's `balance_date`, every day
//! books the recurring and random transactions `activity.json` declares for the account's type
//! (drawn from the seed, the account and the day, so the same account on the same day always
//! shows the same ones), then makes the booking transitions due that day (a collection's
//! lifecycle `books`: payment orders), oldest first: the debit is booked if the balance covers
//! it, and a counterparty that is another open account of the sandbox in its currency is
//! credited too; otherwise the record goes where `unless_covered` says. Each month that has
//! ended gets its statement.
//!
//! Nothing is stored: the ledger is computed from the files, the account's created records and
//! its clock whenever a read needs it, so the per-account state stays within its caps, and the
//! figures add up whatever sequence of creates and clock moves led there. A read a year ahead
//! books thousands of entries, so an entry holds numbers and indices, and becomes text (its
//! id, description and counterparty) only when it is shown.

use crate::AccountState;
use crate::data::{Activity, Collection, Counterparty, Lifecycle, Profile};
use crate::date;
use crate::rules::Record;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// How many days after the files' `balance_date` the ledger books activity: four years. Past
/// them, accounts stand still until newer files are shipped.
pub(crate) const LEDGER_DAYS: i64 = 1_461;

/// What the account's bank data has become by its sandbox's day.
#[derive(Debug, Default)]
pub(crate) struct World {
    /// Booked since the files' `balance_date`, in booking order.
    pub transactions: Vec<Entry>,
    /// One per account and month ended since then.
    pub statements: Vec<Statement>,
    /// Account id → its balance on the sandbox's day.
    pub balances: BTreeMap<String, i64>,
    /// Id of a record with a booking transition → its collection, and what happened to it on
    /// its date.
    pub booked: BTreeMap<String, (usize, Outcome)>,
    /// The day the balances are at, `YYYY-MM-DD`.
    pub today: String,
    /// The accounts entries are booked on (`Entry::account` indexes it).
    accounts: Vec<Booker>,
}

/// A record whose booking transition's day came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Booked at `at` (Unix seconds): the transition's `to`, with the transaction's id.
    Covered { transaction_id: String, at: i64 },
    /// The balance did not cover it (or the account is not open) on the day of `at`:
    /// `unless_covered`.
    NotCovered { at: i64 },
}

/// What an entry's text is made from, when it is shown.
#[derive(Debug, Clone, Copy)]
struct Booker {
    /// Index of the account's record in the accounts collection.
    record: usize,
    /// Position of the account's type among `activity.json`'s profiles.
    profile: Option<usize>,
}

/// One open account of the files, as the ledger keeps it.
struct Ledger<'a> {
    id: &'a str,
    iban: String,
    currency: &'a str,
    /// Its owner's name (or the account's): the counterparty its transfers show.
    name: String,
    /// The draws' key for this account: the seed and the id, hashed once.
    key: u64,
    /// The first day of new activity (the day after `balance_date`).
    start: i64,
    profile: Option<&'a Profile>,
    balance: i64,
    /// This month's opening balance, credits, debits and count, from the month's first day.
    month: Option<(i64, i64, i64, u32)>,
    /// The day of the last transaction booked, and its place among that day's.
    today: (i64, u32),
}

/// A created record waiting for its booking transition's day.
struct Due<'a> {
    /// Its collection.
    c: usize,
    id: &'a str,
    debtor: &'a str,
    creditor_iban: String,
    creditor_name: &'a str,
    amount: i64,
    day: i64,
    description: Option<&'a str>,
}

impl Activity {
    /// The ledger of `state`'s account on `today` (day number), with `new` (a record of
    /// collection `new.0` being created, not stored yet) counted as the newest of its kind.
    pub(crate) fn world(
        &self,
        collections: &[Collection],
        state: &AccountState,
        new: Option<(usize, &Record)>,
        today: i64,
    ) -> World {
        let mut world = World::default();
        let Some(accounts) = collections.get(self.accounts) else {
            return world;
        };
        let profile_names: Vec<&String> = self.profiles.keys().collect();
        let owner_names = owner_names(collections, accounts);
        let mut ledgers: Vec<Ledger> = Vec::new();
        for (n, r) in accounts.records.iter().enumerate() {
            let Some(ledger) = (|| {
                if r.get("status")?.as_str()? != "open" {
                    return None;
                }
                let id = r.get("id")?.as_str()?;
                let kind = r.get("type")?.as_str()?;
                Some(Ledger {
                    id,
                    iban: normal_iban(r.get("iban")?.as_str()?),
                    currency: r.get("currency")?.as_str()?,
                    name: owner_names
                        .get(id)
                        .cloned()
                        .or_else(|| r.get("name")?.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    key: account_key(self.seed, id),
                    start: date::parse(r.get("balance_date")?.as_str()?)? + 1,
                    profile: self.profiles.get(kind),
                    balance: r.get("balance")?.as_i64()?,
                    month: None,
                    today: (i64::MIN, 0),
                })
            })() else {
                continue;
            };
            let kind = r.get("type").and_then(Value::as_str);
            world.accounts.push(Booker {
                record: n,
                profile: profile_names.iter().position(|p| Some(p.as_str()) == kind),
            });
            ledgers.push(ledger);
        }
        let Some(first) = ledgers.iter().map(|l| l.start).min() else {
            return world;
        };
        // The files are dated; their activity runs for a bounded time after, so what a read
        // computes stays bounded whatever the clock says (ship newer files to move it on).
        let today = today.min(first.saturating_add(LEDGER_DAYS - 1));
        world.today = date::format(today);
        let mut due = self.due(collections, state, new, today, first);
        // Oldest first within a day: the list order of created objects is creation order.
        due.sort_by_key(|o| o.day);
        // About two entries an account a day: one allocation for the usual year.
        let days = usize::try_from(today - first + 1).unwrap_or(0);
        world.transactions.reserve(days * ledgers.len() * 2);
        let mut next_due = 0;
        for day in first..=today {
            let (year, month, dom) = date::civil_from_days(day);
            let last = date::days_in_month(year, month);
            for (n, ledger) in ledgers.iter_mut().enumerate() {
                if day < ledger.start {
                    continue;
                }
                if dom == 1 || ledger.month.is_none() {
                    ledger.month = Some((ledger.balance, 0, 0, 0));
                }
                let Some(profile) = ledger.profile else {
                    continue;
                };
                for (i, item) in profile.recurring.iter().enumerate() {
                    if item.day_of_month.min(last) != dom {
                        continue;
                    }
                    // Drawn once per account and item: the same salary every month.
                    let h = draw(ledger.key, Draw::Recurring, i as i64, 0);
                    let what = What::Recurring {
                        item: i,
                        year,
                        month,
                    };
                    book(&mut world, n, ledger, day, between(h, item.amount), what);
                }
                for (i, item) in profile.random.iter().enumerate() {
                    let h = draw(ledger.key, Draw::Random, day, i as i64);
                    if unit(h) >= item.chance {
                        continue;
                    }
                    let counterparty = (mix(h ^ 2) % item.counterparties.len() as u64) as usize;
                    let what = What::Random {
                        item: i,
                        counterparty,
                    };
                    book(
                        &mut world,
                        n,
                        ledger,
                        day,
                        between(mix(h ^ 1), item.amount),
                        what,
                    );
                }
            }
            while let Some(order) = due.get(next_due).filter(|o| o.day == day) {
                next_due += 1;
                let outcome = execute(&mut world, &mut ledgers, order, day);
                world
                    .booked
                    .insert(order.id.to_string(), (order.c, outcome));
            }
            if dom == last && day < today {
                let first_day = day - i64::from(dom) + 1;
                for (n, ledger) in ledgers.iter().enumerate() {
                    // A month is stated when the ledger ran all of it.
                    if ledger.start > first_day || date::civil_from_days(ledger.start).2 != 1 {
                        continue;
                    }
                    let (opening, credits, debits, count) =
                        ledger.month.unwrap_or((ledger.balance, 0, 0, 0));
                    world.statements.push(Statement {
                        account: n,
                        first_day,
                        last_day: day,
                        opening,
                        closing: ledger.balance,
                        credits,
                        debits,
                        count,
                        draw: draw(ledger.key, Draw::Statement, first_day, 0),
                    });
                }
            }
        }
        for ledger in ledgers.iter().filter(|l| l.start <= today) {
            world.balances.insert(ledger.id.to_string(), ledger.balance);
        }
        world
    }

    /// The created records (and `new`) waiting for their booking transition by `today`, each
    /// due no earlier than `first`: the files' days are closed, so a record due before the
    /// first day of new activity (only while real time is still on the files' day) runs then.
    fn due<'a>(
        &self,
        collections: &'a [Collection],
        state: &'a AccountState,
        new: Option<(usize, &'a Record)>,
        today: i64,
        first: i64,
    ) -> Vec<Due<'a>> {
        let mut due = Vec::new();
        for &c in &self.bookers {
            let Some(coll) = collections.get(c) else {
                continue;
            };
            let Some((lifecycle, books)) = coll.lifecycle.as_ref().and_then(|l| {
                let books = l.booking()?.books.as_ref()?;
                Some((l, books))
            }) else {
                continue;
            };
            let created = state.created.get(&coll.name).map(Vec::as_slice);
            let new = new.filter(|(n, _)| *n == c).map(|(_, r)| r);
            for record in created.unwrap_or_default().iter().chain(new) {
                let Some(day) = lifecycle.booking_day(record).filter(|d| *d <= today) else {
                    continue;
                };
                let text = |field: &str| record.get(field).and_then(Value::as_str);
                let (Some(id), Some(debtor), Some(iban), Some(name), Some(amount)) = (
                    text("id"),
                    text(&books.debit),
                    text(&books.counterparty_iban),
                    text(&books.counterparty_name),
                    record.get(&books.amount).and_then(Value::as_i64),
                ) else {
                    continue;
                };
                due.push(Due {
                    c,
                    id,
                    debtor,
                    creditor_iban: normal_iban(iban),
                    creditor_name: name,
                    amount,
                    day: day.max(first),
                    description: books.description.as_deref().and_then(text),
                });
            }
        }
        due
    }
}

/// Makes `order`'s booking on `day`: the debit if the debtor's balance covers it, and the credit
/// when the counterparty is another open account of the sandbox.
fn execute(world: &mut World, ledgers: &mut [Ledger], order: &Due, day: i64) -> Outcome {
    let refused = Outcome::NotCovered {
        at: day * 86_400 + BOOKING_HOUR * 3_600,
    };
    let Some(debtor) = ledgers.iter().position(|l| l.id == order.debtor) else {
        return refused;
    };
    if ledgers[debtor].balance < order.amount {
        return refused;
    }
    let description = order
        .description
        .map_or_else(|| format!("Payment order {}", order.id), str::to_string);
    let debit = What::Transfer(Box::new(Transfer {
        counterparty: Counterparty {
            name: order.creditor_name.to_string(),
            iban: Some(order.creditor_iban.clone()),
        },
        description: description.clone(),
        booker: order.id.to_string(),
    }));
    let place = book(
        world,
        debtor,
        &mut ledgers[debtor],
        day,
        -order.amount,
        debit,
    );
    let transaction_id = world.transactions[place].id();
    let at = world.transactions[place].created();
    let (debtor_name, debtor_iban, currency) = {
        let d = &ledgers[debtor];
        (d.name.clone(), d.iban.clone(), d.currency)
    };
    if let Some(creditor) = ledgers
        .iter()
        .position(|l| l.iban == order.creditor_iban && l.currency == currency && day >= l.start)
    {
        let credit = What::Transfer(Box::new(Transfer {
            counterparty: Counterparty {
                name: debtor_name,
                iban: Some(debtor_iban),
            },
            description,
            booker: order.id.to_string(),
        }));
        book(
            world,
            creditor,
            &mut ledgers[creditor],
            day,
            order.amount,
            credit,
        );
    }
    Outcome::Covered { transaction_id, at }
}

/// Books `amount` on `ledger`'s account (`n` in `world.accounts`) on `day`; answers the entry's
/// position in `world.transactions`. Its id is drawn from the account, the day and its place
/// among the account's transactions of the day, so what an account shows for a day never
/// changes as later days come.
fn book(
    world: &mut World,
    n: usize,
    ledger: &mut Ledger,
    day: i64,
    amount: i64,
    what: What,
) -> usize {
    ledger.balance += amount;
    if let Some((_, credits, debits, count)) = ledger.month.as_mut() {
        if amount > 0 {
            *credits += amount;
        } else {
            *debits -= amount;
        }
        *count += 1;
    }
    let place = match ledger.today {
        (d, p) if d == day => p + 1,
        _ => 0,
    };
    ledger.today = (day, place);
    world.transactions.push(Entry {
        account: n,
        day,
        place,
        amount,
        balance_after: ledger.balance,
        draw: draw(ledger.key, Draw::Transaction, day, i64::from(place)),
        what,
    });
    world.transactions.len() - 1
}

/// A transaction the ledger booked, before it is made a record.
#[derive(Debug)]
pub(crate) struct Entry {
    /// Index into `World::accounts`.
    account: usize,
    day: i64,
    place: u32,
    amount: i64,
    balance_after: i64,
    /// What the id is made from.
    draw: u64,
    what: What,
}

/// Where an entry's category, counterparty and description come from.
#[derive(Debug)]
enum What {
    /// The account's profile's `recurring[item]`, in `month` of `year`.
    Recurring { item: usize, year: i64, month: u32 },
    /// The account's profile's `random[item]`, with its `counterparty`.
    Random { item: usize, counterparty: usize },
    /// A booking's side (rare: texts are kept as they are).
    Transfer(Box<Transfer>),
}

#[derive(Debug)]
struct Transfer {
    counterparty: Counterparty,
    description: String,
    /// The id of the record whose booking it is.
    booker: String,
}

impl Outcome {
    /// Where it leaves a record of a collection whose lifecycle books: the state, the fields
    /// it sets, and the field that names the booked transaction.
    fn end<'l>(&self, lifecycle: &'l Lifecycle) -> Option<(&'l str, &'l Record, &'l str)> {
        let t = lifecycle.booking()?;
        let transaction = t.books.as_ref()?.transaction.as_str();
        let otherwise = t.unless_covered.as_ref()?;
        Some(match self {
            Outcome::Covered { .. } => (&t.to, &t.set, transaction),
            Outcome::NotCovered { .. } => (&otherwise.to, &otherwise.set, transaction),
        })
    }

    /// The state it leaves the record in.
    pub(crate) fn state<'l>(&self, lifecycle: &'l Lifecycle) -> Option<&'l str> {
        self.end(lifecycle).map(|(state, _, _)| state)
    }

    /// The fields it changes on the record: its state, the fields the lifecycle sets, and the
    /// booked transaction's id when it was covered.
    pub(crate) fn changes<'l>(&self, lifecycle: &'l Lifecycle) -> Vec<(&'l str, Value)> {
        let Some((state, set, transaction)) = self.end(lifecycle) else {
            return Vec::new();
        };
        let mut changes = vec![(lifecycle.field.as_str(), Value::from(state))];
        changes.extend(
            set.iter()
                .map(|(field, value)| (field.as_str(), value.clone())),
        );
        if let Outcome::Covered { transaction_id, .. } = self {
            changes.push((transaction, Value::from(transaction_id.as_str())));
        }
        changes
    }

    /// When it happened (Unix seconds).
    pub(crate) fn at(&self) -> i64 {
        match self {
            Outcome::Covered { at, .. } | Outcome::NotCovered { at } => *at,
        }
    }
}

impl Entry {
    fn id(&self) -> String {
        format!("{TRANSACTION_PREFIX}{}", id_chars(self.draw))
    }

    /// When it was booked: its day's booking hour, a minute per transaction before it.
    pub(crate) fn created(&self) -> i64 {
        self.day * 86_400 + BOOKING_HOUR * 3_600 + i64::from(self.place) * 60
    }
}

/// The hour of its day a transaction is booked at.
const BOOKING_HOUR: i64 = 6;

impl World {
    /// The record of the account booked as `n`, and its type's profile.
    fn account<'c>(
        &self,
        n: usize,
        collections: &'c [Collection],
        activity: &'c Activity,
    ) -> Option<(&'c Record, Option<&'c Profile>)> {
        let booker = self.accounts.get(n)?;
        let record = collections
            .get(activity.accounts)?
            .records
            .get(booker.record)?;
        let profile = booker
            .profile
            .and_then(|p| activity.profiles.values().nth(p));
        Some((record, profile))
    }

    /// The ledger's records of collection `c` (its transactions or its statements) in booking
    /// order, only `account`'s if given; each made as it is taken.
    pub(crate) fn records<'w>(
        &'w self,
        c: usize,
        collections: &'w [Collection],
        activity: &'w Activity,
        account: Option<&'w str>,
    ) -> impl Iterator<Item = Record> + 'w {
        let of = move |n: usize| {
            account.is_none_or(|a| {
                self.account(n, collections, activity)
                    .and_then(|(r, _)| r.get("id")?.as_str())
                    == Some(a)
            })
        };
        let entries = if c == activity.transactions {
            self.transactions.as_slice()
        } else {
            &[]
        };
        let statements = if c == activity.statements {
            self.statements.as_slice()
        } else {
            &[]
        };
        entries
            .iter()
            .filter(move |e| of(e.account))
            .filter_map(move |e| e.record(self, collections, activity))
            .chain(
                statements
                    .iter()
                    .filter(move |s| of(s.account))
                    .filter_map(move |s| s.record(self, collections, activity)),
            )
    }

    /// Everything the ledger made, each with its collection and `created`: the transactions,
    /// then the statements (for the event feed; made records only when shown).
    pub(crate) fn made<'w>(
        &'w self,
        activity: &'w Activity,
    ) -> impl Iterator<Item = (usize, i64, LedgerRecord<'w>)> + 'w {
        let entries = self
            .transactions
            .iter()
            .map(|e| (activity.transactions, e.created(), LedgerRecord::Entry(e)));
        let statements = self
            .statements
            .iter()
            .map(|s| (activity.statements, s.created(), LedgerRecord::Statement(s)));
        entries.chain(statements)
    }

    /// The ledger's record of collection `c` with `id`, if it booked one.
    pub(crate) fn record(
        &self,
        c: usize,
        id: &str,
        collections: &[Collection],
        activity: &Activity,
    ) -> Option<Record> {
        if c == activity.transactions {
            let chars = id.strip_prefix(TRANSACTION_PREFIX)?;
            let entry = self
                .transactions
                .iter()
                .find(|e| id_chars(e.draw) == chars)?;
            entry.record(self, collections, activity)
        } else if c == activity.statements {
            let chars = id.strip_prefix(STATEMENT_PREFIX)?;
            let statement = self.statements.iter().find(|s| id_chars(s.draw) == chars)?;
            statement.record(self, collections, activity)
        } else {
            None
        }
    }
}

/// A transaction or a statement the ledger made, before it is a record.
#[derive(Debug, Clone, Copy)]
pub(crate) enum LedgerRecord<'w> {
    Entry(&'w Entry),
    Statement(&'w Statement),
}

impl LedgerRecord<'_> {
    /// The id of the record whose booking made it (a payment order), if one did.
    pub(crate) fn booker(&self) -> Option<&str> {
        match self {
            LedgerRecord::Entry(Entry {
                what: What::Transfer(transfer),
                ..
            }) => Some(&transfer.booker),
            _ => None,
        }
    }

    /// What its id is made from: unique among the ledger's records of its collection.
    pub(crate) fn draw(&self) -> u64 {
        match self {
            LedgerRecord::Entry(e) => e.draw,
            LedgerRecord::Statement(s) => s.draw,
        }
    }

    /// The record, as the API shows it.
    pub(crate) fn record(
        &self,
        world: &World,
        collections: &[Collection],
        activity: &Activity,
    ) -> Option<Record> {
        match self {
            LedgerRecord::Entry(e) => e.record(world, collections, activity),
            LedgerRecord::Statement(s) => s.record(world, collections, activity),
        }
    }
}

const TRANSACTION_PREFIX: &str = "tx_";
const STATEMENT_PREFIX: &str = "stmt_";

/// A month of an account that has ended, before it is made a record.
#[derive(Debug)]
pub(crate) struct Statement {
    /// Index into `World::accounts`.
    account: usize,
    first_day: i64,
    last_day: i64,
    opening: i64,
    closing: i64,
    credits: i64,
    debits: i64,
    count: u32,
    /// What the id is made from.
    draw: u64,
}

impl Statement {
    /// When it was issued: 03:00 of the day after its month.
    pub(crate) fn created(&self) -> i64 {
        (self.last_day + 1) * 86_400 + 3 * 3_600
    }

    fn record(
        &self,
        world: &World,
        collections: &[Collection],
        activity: &Activity,
    ) -> Option<Record> {
        let (account, _) = world.account(self.account, collections, activity)?;
        let text = |field: &str| account.get(field).and_then(Value::as_str);
        let iban = normal_iban(text("iban")?);
        let digits = &iban[iban.len().saturating_sub(4)..];
        let (year, month, _) = date::civil_from_days(self.first_day);
        let id = format!("{STATEMENT_PREFIX}{}", id_chars(self.draw));
        let record = json!({
            "id": id,
            "object": "statement",
            "livemode": false,
            "created": self.created(),
            "account_id": text("id")?,
            "period_start": date::format(self.first_day),
            "period_end": date::format(self.last_day),
            "currency": text("currency")?,
            "opening_balance": self.opening,
            "closing_balance": self.closing,
            "total_credits": self.credits,
            "total_debits": self.debits,
            "transaction_count": self.count,
            "document": {
                "filename": format!("statement-{year:04}-{month:02}-{digits}.pdf"),
                "content_type": "application/pdf",
                "size_bytes": 40_000 + 900 * i64::from(self.count),
                "url": format!("https://documents.sandbox.example/statements/{id}.pdf"),
            },
        });
        as_record(record)
    }
}

impl Entry {
    /// The transaction as the API shows it, shaped as the files' transactions are; `None` only
    /// if `world` is not the one that booked it.
    fn record(
        &self,
        world: &World,
        collections: &[Collection],
        activity: &Activity,
    ) -> Option<Record> {
        let (account, profile) = world.account(self.account, collections, activity)?;
        let text = |field: &str| account.get(field).and_then(Value::as_str);
        let (category, counterparty, description) = match &self.what {
            What::Recurring { item, year, month } => {
                let item = profile?.recurring.get(*item)?;
                // None: the account's own bank (its fees, its interest).
                let counterparty = item.counterparty.clone().unwrap_or_else(|| Counterparty {
                    name: text("bank_name").unwrap_or("Bank").to_string(),
                    iban: None,
                });
                let description = item
                    .description
                    .replace("{month}", MONTHS.get((*month as usize).wrapping_sub(1))?)
                    .replace("{year}", &year.to_string());
                (item.category.as_str(), counterparty, description)
            }
            What::Random { item, counterparty } => {
                let item = profile?.random.get(*item)?;
                let name = item.counterparties.get(*counterparty)?;
                let description = item.description.replace("{counterparty}", name);
                let counterparty = Counterparty {
                    name: name.clone(),
                    iban: None,
                };
                (item.category.as_str(), counterparty, description)
            }
            What::Transfer(transfer) => (
                "transfer",
                transfer.counterparty.clone(),
                transfer.description.clone(),
            ),
        };
        let booking_date = date::format(self.day);
        let record = json!({
            "id": self.id(),
            "object": "transaction",
            "livemode": false,
            "created": self.created(),
            "account_id": text("id")?,
            "booking_date": booking_date,
            "value_date": booking_date,
            "amount": self.amount,
            "currency": text("currency")?,
            "credit_debit": if self.amount > 0 { "credit" } else { "debit" },
            "counterparty": counterparty,
            "category": category,
            "description": description,
            "status": "booked",
            "balance_after": self.balance_after,
        });
        as_record(record)
    }
}

/// A `json!` object as a record.
fn as_record(value: Value) -> Option<Record> {
    match value {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// Account id → the name of its owner, when the accounts reference an owners collection.
fn owner_names(collections: &[Collection], accounts: &Collection) -> BTreeMap<String, String> {
    let Some(owners) = accounts
        .reference("owner_id")
        .and_then(|c| collections.get(c))
    else {
        return BTreeMap::new();
    };
    accounts
        .records
        .iter()
        .filter_map(|a| {
            let owner = owners.index.get(a.get("owner_id")?.as_str()?)?;
            let name = owners.records.get(*owner)?.get("name")?.as_str()?;
            Some((a.get("id")?.as_str()?.to_string(), name.to_string()))
        })
        .collect()
}

/// An IBAN without spaces, in capitals: the form accounts are matched by.
fn normal_iban(iban: &str) -> String {
    iban.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// SplitMix64's finaliser: a well-spread 64-bit value of `x`.
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// What a draw is for: the same account and numbers give other values for another purpose.
#[derive(Clone, Copy)]
enum Draw {
    Recurring = 1,
    Random = 2,
    Statement = 3,
    Transaction = 4,
}

/// The key of an account's draws: FNV-1a 64 over its id, mixed with the seed. Hashed once per
/// account and read, not once per draw.
fn account_key(seed: u64, account: &str) -> u64 {
    let hash = account
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
        });
    mix(hash ^ mix(seed))
}

/// A draw from an account's key, a purpose and two numbers (a day, an item).
fn draw(key: u64, purpose: Draw, a: i64, b: i64) -> u64 {
    let h = mix(key ^ (purpose as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
    mix(mix(h ^ a as u64) ^ b as u64)
}

/// A draw as a number in [0, 1).
fn unit(h: u64) -> f64 {
    (h >> 11) as f64 / (1u64 << 53) as f64
}

/// A draw as a whole number in `[low, high]`.
fn between(h: u64, [low, high]: [i64; 2]) -> i64 {
    let span = (high - low) as u64 + 1;
    low + (h % span) as i64
}

/// 14 letters and digits of a draw (and of a second draw from it): the length of the files' ids.
pub(crate) fn id_chars(h: u64) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(14);
    let (mut a, mut b) = (h, mix(h ^ 0x5bd1_e995));
    for i in 0..14 {
        let source = if i < 7 { &mut a } else { &mut b };
        out.push(char::from(ALPHABET[(*source % 62) as usize]));
        *source /= 62;
    }
    out
}
