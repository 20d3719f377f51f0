//! The bank ledger as the sandbox's days pass: after each account's `balance_date`, every day
//! books the recurring and random transactions `activity.json` declares for the account's type
//! (drawn from the seed, the account and the day, so the same account on the same day always
//! shows the same ones), then executes the payment orders due that day, oldest first: the
//! debit is booked if the balance covers it, and an order to another open account of the
//! sandbox in its currency credits that account too; otherwise the order is rejected
//! (`insufficient_funds`). Each month that has ended gets its statement.
//!
//! Nothing is stored: the ledger is computed from the files, the account's created orders and
//! its clock whenever a read needs it, so the per-account state stays within its caps, and the
//! figures add up whatever sequence of creates and clock moves led there.

use crate::AccountState;
use crate::data::{Activity, Collection, Counterparty, Profile};
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
    /// Booked since the files' `balance_date`, in booking order; made records only when read
    /// (most reads need the balances, not the records).
    pub transactions: Vec<Entry>,
    /// One per account and month ended since then.
    pub statements: Vec<Record>,
    /// Account id → its balance on the sandbox's day.
    pub balances: BTreeMap<String, i64>,
    /// Payment order id → what happened to it on its execution date.
    pub orders: BTreeMap<String, Outcome>,
    /// The day the balances are at, `YYYY-MM-DD`.
    pub today: String,
}

/// A payment order that reached its execution date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Executed { transaction_id: String },
    Rejected { reason: &'static str },
}

/// One open account of the files, as the ledger keeps it.
struct Ledger<'a> {
    id: &'a str,
    iban: String,
    currency: &'a str,
    name: String,
    /// The account's bank (`bank_name`): the counterparty of its fees and interest.
    bank: String,
    /// The first day of new activity (the day after `balance_date`).
    start: i64,
    profile: Option<&'a Profile>,
    balance: i64,
    /// This month's opening balance, credits, debits and count, from the month's first day.
    month: Option<(i64, i64, i64, u32)>,
    /// The day of the last transaction booked, and its place among that day's.
    today: (i64, u32),
}

/// A created payment order that is waiting for its date.
struct Due<'a> {
    id: &'a str,
    debtor: &'a str,
    creditor_iban: String,
    creditor_name: &'a str,
    amount: i64,
    day: i64,
    remittance: Option<&'a str>,
}

impl Activity {
    /// The ledger of `state`'s account on `today` (day number), with `new_order` (a payment
    /// order being created, not stored yet) counted as the newest of its created orders.
    pub(crate) fn world(
        &self,
        collections: &[Collection],
        state: &AccountState,
        new_order: Option<&Record>,
        today: i64,
    ) -> World {
        let mut world = World::default();
        let (Some(accounts), Some(orders_coll)) = (
            collections.get(self.accounts),
            collections.get(self.payment_orders),
        ) else {
            return world;
        };
        let owner_names = owner_names(collections, accounts);
        let mut ledgers: Vec<Ledger> = accounts
            .records
            .iter()
            .filter(|r| r.get("status").and_then(Value::as_str) == Some("open"))
            .filter_map(|r| {
                let id = r.get("id")?.as_str()?;
                let start = date::parse(r.get("balance_date")?.as_str()?)? + 1;
                Some(Ledger {
                    id,
                    iban: normal_iban(r.get("iban")?.as_str()?),
                    currency: r.get("currency")?.as_str()?,
                    name: owner_names
                        .get(id)
                        .cloned()
                        .or_else(|| r.get("name")?.as_str().map(str::to_string))
                        .unwrap_or_default(),
                    bank: r
                        .get("bank_name")
                        .and_then(Value::as_str)
                        .unwrap_or("Bank")
                        .to_string(),
                    start,
                    profile: self.profiles.get(r.get("type")?.as_str()?),
                    balance: r.get("balance")?.as_i64()?,
                    month: None,
                    today: (i64::MIN, 0),
                })
            })
            .collect();
        let Some(first) = ledgers.iter().map(|l| l.start).min() else {
            return world;
        };
        // The files are dated; their activity runs for a bounded time after, so what a read
        // computes stays bounded whatever the clock says (ship newer files to move it on).
        let today = today.min(first.saturating_add(LEDGER_DAYS - 1));
        world.today = date::format(today);
        let mut due: Vec<Due> = state
            .created
            .get(&orders_coll.name)
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .chain(new_order)
            .filter(|o| o.get("status").and_then(Value::as_str) == Some("pending"))
            .filter_map(|o| {
                Some(Due {
                    id: o.get("id")?.as_str()?,
                    debtor: o.get("debtor_account_id")?.as_str()?,
                    creditor_iban: normal_iban(o.get("creditor_iban")?.as_str()?),
                    creditor_name: o.get("creditor_name")?.as_str()?,
                    amount: o.get("amount")?.as_i64()?,
                    day: date::parse(o.get("requested_execution_date")?.as_str()?)?,
                    remittance: o.get("remittance_information").and_then(Value::as_str),
                })
            })
            .filter(|o| o.day <= today)
            // The files' days are closed: an order due before the first day of new activity
            // (only possible while real time is still on the files' day) runs on that day.
            .map(|o| Due {
                day: o.day.max(first),
                ..o
            })
            .collect();
        // Oldest first within a day: the list order of created objects is creation order.
        due.sort_by_key(|o| o.day);
        let mut next_due = 0;
        for day in first..=today {
            let (year, month, dom) = date::civil_from_days(day);
            for ledger in ledgers.iter_mut().filter(|l| day >= l.start) {
                if dom == 1 || ledger.month.is_none() {
                    ledger.month = Some((ledger.balance, 0, 0, 0));
                }
                let Some(profile) = ledger.profile else {
                    continue;
                };
                for booked in self.activity_of(profile, ledger, day, (year, month, dom)) {
                    book(&mut world, self.seed, ledger, day, booked);
                }
            }
            while let Some(order) = due.get(next_due).filter(|o| o.day == day) {
                next_due += 1;
                let outcome = self.execute(&mut world, &mut ledgers, order, day);
                world.orders.insert(order.id.to_string(), outcome);
            }
            let month_ends = dom == date::days_in_month(year, month);
            if month_ends && day < today {
                for ledger in ledgers.iter().filter(|l| {
                    date::civil_from_days(l.start).2 == 1 && l.start <= day - i64::from(dom) + 1
                }) {
                    world
                        .statements
                        .push(self.statement(ledger, year, month, day));
                }
            }
        }
        for ledger in ledgers.iter().filter(|l| l.start <= today) {
            world.balances.insert(ledger.id.to_string(), ledger.balance);
        }
        world
    }

    /// The transactions `profile` books on `day` for `ledger`'s account.
    fn activity_of(
        &self,
        profile: &Profile,
        ledger: &Ledger,
        day: i64,
        (year, month, dom): (i64, u32, u32),
    ) -> Vec<Booked> {
        let id = ledger.id;
        let mut booked = Vec::new();
        let last = date::days_in_month(year, month);
        for (n, item) in profile.recurring.iter().enumerate() {
            if item.day_of_month.min(last) != dom {
                continue;
            }
            // Drawn once per account and item: the same salary every month.
            let h = draw(self.seed, id, Draw::Recurring, &[n as i64]);
            booked.push(Booked {
                amount: between(h, item.amount),
                category: item.category.clone(),
                // None: the account's own bank (its fees, its interest).
                counterparty: Some(item.counterparty.clone().unwrap_or_else(|| Counterparty {
                    name: ledger.bank.clone(),
                    iban: None,
                })),
                description: item
                    .description
                    .replace("{month}", MONTHS[(month - 1) as usize])
                    .replace("{year}", &year.to_string()),
            });
        }
        for (n, item) in profile.random.iter().enumerate() {
            let h = draw(self.seed, id, Draw::Random, &[day, n as i64]);
            if unit(h) >= item.chance {
                continue;
            }
            let name =
                &item.counterparties[(mix(h ^ 2) % item.counterparties.len() as u64) as usize];
            booked.push(Booked {
                amount: between(mix(h ^ 1), item.amount),
                category: item.category.clone(),
                counterparty: Some(Counterparty {
                    name: name.clone(),
                    iban: None,
                }),
                description: item.description.replace("{counterparty}", name),
            });
        }
        booked
    }

    /// Executes `order` on `day`: the debit if the debtor's balance covers it, and the credit
    /// of an internal transfer.
    fn execute(&self, world: &mut World, ledgers: &mut [Ledger], order: &Due, day: i64) -> Outcome {
        let Some(debtor) = ledgers.iter().position(|l| l.id == order.debtor) else {
            return Outcome::Rejected {
                reason: "debtor_account_closed",
            };
        };
        if ledgers[debtor].balance < order.amount {
            return Outcome::Rejected {
                reason: "insufficient_funds",
            };
        }
        let description = order
            .remittance
            .map_or_else(|| format!("Payment order {}", order.id), str::to_string);
        let debit = Booked {
            amount: -order.amount,
            category: "transfer".into(),
            counterparty: Some(Counterparty {
                name: order.creditor_name.to_string(),
                iban: Some(order.creditor_iban.clone()),
            }),
            description: description.clone(),
        };
        let transaction_id = book(world, self.seed, &mut ledgers[debtor], day, debit);
        let (debtor_name, debtor_iban, currency) = {
            let d = &ledgers[debtor];
            (d.name.clone(), d.iban.clone(), d.currency)
        };
        if let Some(creditor) = ledgers
            .iter_mut()
            .find(|l| l.iban == order.creditor_iban && l.currency == currency && day >= l.start)
        {
            let credit = Booked {
                amount: order.amount,
                category: "transfer".into(),
                counterparty: Some(Counterparty {
                    name: debtor_name,
                    iban: Some(debtor_iban),
                }),
                description,
            };
            book(world, self.seed, creditor, day, credit);
        }
        Outcome::Executed { transaction_id }
    }

    /// The statement of `ledger`'s month that ends on `last_day`.
    fn statement(&self, ledger: &Ledger, year: i64, month: u32, last_day: i64) -> Record {
        let (opening, credits, debits, count) = ledger.month.unwrap_or((ledger.balance, 0, 0, 0));
        let first_day = last_day - i64::from(date::days_in_month(year, month)) + 1;
        let id = format!(
            "stmt_{}",
            id_chars(draw(self.seed, ledger.id, Draw::Statement, &[first_day]))
        );
        let digits: String = ledger
            .iban
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let record = json!({
            "id": id,
            "object": "statement",
            "livemode": false,
            "created": (last_day + 1) * 86_400 + 3 * 3_600,
            "account_id": ledger.id,
            "period_start": date::format(first_day),
            "period_end": date::format(last_day),
            "currency": ledger.currency,
            "opening_balance": opening,
            "closing_balance": ledger.balance,
            "total_credits": credits,
            "total_debits": debits,
            "transaction_count": count,
            "document": {
                "filename": format!("statement-{year:04}-{month:02}-{digits}.pdf"),
                "content_type": "application/pdf",
                "size_bytes": 40_000 + 900 * i64::from(count),
                "url": format!("https://documents.sandbox.example/statements/{id}.pdf"),
            },
        });
        match record {
            Value::Object(map) => map,
            _ => Record::new(),
        }
    }
}

/// A transaction about to be booked.
#[derive(Debug)]
struct Booked {
    amount: i64,
    category: String,
    counterparty: Option<Counterparty>,
    description: String,
}

/// Books `booked` on `ledger`'s account on `day`; answers the transaction's id, drawn from the
/// seed, the account, the day and its place among the account's transactions of the day, so
/// what an account shows for a day never changes as later days come.
fn book(world: &mut World, seed: u64, ledger: &mut Ledger, day: i64, booked: Booked) -> String {
    ledger.balance += booked.amount;
    if let Some((_, credits, debits, count)) = ledger.month.as_mut() {
        if booked.amount > 0 {
            *credits += booked.amount;
        } else {
            *debits -= booked.amount;
        }
        *count += 1;
    }
    let place = match ledger.today {
        (d, n) if d == day => n + 1,
        _ => 0,
    };
    ledger.today = (day, place);
    let id = format!(
        "tx_{}",
        id_chars(draw(
            seed,
            ledger.id,
            Draw::Transaction,
            &[day, i64::from(place)]
        ))
    );
    world.transactions.push(Entry {
        id: id.clone(),
        account_id: ledger.id.to_string(),
        currency: ledger.currency.to_string(),
        day,
        place,
        booked,
        balance_after: ledger.balance,
    });
    id
}

/// A transaction the ledger booked, before it is made a record.
#[derive(Debug)]
pub(crate) struct Entry {
    pub id: String,
    pub account_id: String,
    currency: String,
    day: i64,
    place: u32,
    booked: Booked,
    balance_after: i64,
}

impl Entry {
    /// The transaction as the API shows it, shaped as the files' transactions are.
    pub(crate) fn record(&self) -> Record {
        let booking_date = date::format(self.day);
        let amount = self.booked.amount;
        let record = json!({
            "id": self.id,
            "object": "transaction",
            "livemode": false,
            "created": self.day * 86_400 + 6 * 3_600 + i64::from(self.place) * 60,
            "account_id": self.account_id,
            "booking_date": booking_date,
            "value_date": booking_date,
            "amount": amount,
            "currency": self.currency,
            "credit_debit": if amount > 0 { "credit" } else { "debit" },
            "counterparty": self.booked.counterparty,
            "category": self.booked.category,
            "description": self.booked.description,
            "status": "booked",
            "balance_after": self.balance_after,
        });
        match record {
            Value::Object(map) => map,
            _ => Record::new(),
        }
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
fn mix(mut x: u64) -> u64 {
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

/// A draw from the seed, an account, a purpose and `numbers` (FNV-1a 64 over them, mixed).
fn draw(seed: u64, account: &str, purpose: Draw, numbers: &[i64]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |byte: u8| {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    };
    account.bytes().for_each(&mut eat);
    eat(purpose as u8);
    numbers
        .iter()
        .flat_map(|n| n.to_le_bytes())
        .for_each(&mut eat);
    mix(hash ^ mix(seed))
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
fn id_chars(h: u64) -> String {
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
