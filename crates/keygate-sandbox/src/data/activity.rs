//! `activity.json`: the bank activity that appears as the sandbox's days pass. It names the
//! collections the bank ledger reads and books into (accounts, transactions, statements) and,
//! per account type, the recurring and random transactions an open account gets each day after
//! its `balance_date`. What else books on the ledger (payment orders) is declared by that
//! collection's lifecycle (`books`). The ledger itself (`crate::ledger`) turns these into
//! records; this module parses and checks the file, and the bookings against it.

use super::{ACTIVITY_FILE, Collection, MANIFEST_FILE, is_name};
use crate::iban;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest amount of one generated transaction, in minor units (10 million).
const MAX_AMOUNT: i64 = 1_000_000_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ActivityFile {
    /// For people; the ledger does not read it.
    #[serde(default, rename = "description")]
    _description: String,
    seed: u64,
    accounts: String,
    transactions: String,
    statements: String,
    profiles: BTreeMap<String, Profile>,
}

/// What an open account of one type gets as days pass.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Profile {
    #[serde(default)]
    pub recurring: Vec<Recurring>,
    #[serde(default)]
    pub random: Vec<RandomItem>,
}

/// A transaction on one day of every month (the last day of a shorter month), its amount drawn
/// once per account: a salary, the rent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Recurring {
    pub category: String,
    pub day_of_month: u32,
    /// `[from, to]` in minor units, both of one sign: negative is a debit.
    pub amount: [i64; 2],
    pub counterparty: Option<Counterparty>,
    /// `{month}` and `{year}` are replaced.
    pub description: String,
}

/// A transaction that happens on a day with probability `chance`, its amount and counterparty
/// drawn per day: card spending, a customer's payment.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RandomItem {
    pub category: String,
    pub chance: f64,
    pub amount: [i64; 2],
    pub counterparties: Vec<String>,
    /// `{counterparty}` is replaced.
    pub description: String,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Counterparty {
    pub name: String,
    pub iban: Option<String>,
}

/// The checked file: collections by index, and the profiles by account type.
#[derive(Debug)]
pub(crate) struct Activity {
    pub seed: u64,
    pub accounts: usize,
    pub transactions: usize,
    pub statements: usize,
    /// The collections whose lifecycle books on the ledger, in manifest order.
    pub bookers: Vec<usize>,
    pub profiles: BTreeMap<String, Profile>,
}

/// Parses and checks `activity.json` against the loaded collections.
pub(super) fn check(file: ActivityFile, collections: &[Collection]) -> Result<Activity, String> {
    let at = ACTIVITY_FILE;
    let find = |name: &str, role: &str| {
        collections
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| format!("{at}: {role} names unknown collection `{name}`"))
    };
    let activity = Activity {
        seed: file.seed,
        accounts: find(&file.accounts, "accounts")?,
        transactions: find(&file.transactions, "transactions")?,
        statements: find(&file.statements, "statements")?,
        bookers: Vec::new(),
        profiles: file.profiles,
    };
    let mut activity = activity;
    activity.bookers = check_bookers(&activity, collections)?;
    let accounts = &collections[activity.accounts];
    for record in &accounts.records {
        for field in ["iban", "currency", "status", "type", "balance_date"] {
            if !record.get(field).is_some_and(serde_json::Value::is_string) {
                return Err(format!(
                    "{at}: the accounts' records need a string `{field}` (the ledger reads it)"
                ));
            }
        }
        if !record.get("balance").is_some_and(serde_json::Value::is_i64) {
            return Err(format!(
                "{at}: the accounts' records need an integer `balance`"
            ));
        }
    }
    for (kind, profile) in &activity.profiles {
        let here = format!("{at}: profile `{kind}`");
        for (n, item) in profile.recurring.iter().enumerate() {
            let here = format!("{here}.recurring[{n}]");
            check_item(
                &here,
                &item.category,
                item.amount,
                &item.description,
                &["month", "year"],
            )?;
            if !(1..=31).contains(&item.day_of_month) {
                return Err(format!("{here}: day_of_month must be 1 to 31"));
            }
            if let Some(iban) = item.counterparty.as_ref().and_then(|c| c.iban.as_deref())
                && !iban::is_valid(iban)
            {
                return Err(format!(
                    "{here}: counterparty iban `{iban}` is not a valid IBAN"
                ));
            }
        }
        for (n, item) in profile.random.iter().enumerate() {
            let here = format!("{here}.random[{n}]");
            check_item(
                &here,
                &item.category,
                item.amount,
                &item.description,
                &["counterparty"],
            )?;
            if !(0.0..=1.0).contains(&item.chance) {
                return Err(format!("{here}: chance must be from 0 to 1"));
            }
            if item.counterparties.is_empty() {
                return Err(format!("{here}: counterparties must name at least one"));
            }
        }
    }
    Ok(activity)
}

/// The collections whose lifecycle books, each debiting an account of the ledger's accounts and
/// naming its transaction in the ledger's transactions.
fn check_bookers(activity: &Activity, collections: &[Collection]) -> Result<Vec<usize>, String> {
    let mut bookers = Vec::new();
    for (c, coll) in collections.iter().enumerate() {
        let Some(books) = coll
            .lifecycle
            .as_ref()
            .and_then(|l| l.booking())
            .and_then(|t| t.books.as_ref())
        else {
            continue;
        };
        let here = format!(
            "{MANIFEST_FILE}: collection `{}`: lifecycle books",
            coll.name
        );
        let named = |c: usize| collections.get(c).map_or("", |c| c.name.as_str());
        if coll.reference(&books.debit) != Some(activity.accounts) {
            return Err(format!(
                "{here}: debit `{}` must be a reference to `{}`, the accounts {ACTIVITY_FILE} \
                 names",
                books.debit,
                named(activity.accounts)
            ));
        }
        if coll.reference(&books.transaction) != Some(activity.transactions) {
            return Err(format!(
                "{here}: transaction `{}` must be a reference to `{}`, the transactions \
                 {ACTIVITY_FILE} names",
                books.transaction,
                named(activity.transactions)
            ));
        }
        bookers.push(c);
    }
    Ok(bookers)
}

fn check_item(
    at: &str,
    category: &str,
    [low, high]: [i64; 2],
    description: &str,
    placeholders: &[&str],
) -> Result<(), String> {
    if !is_name(category) {
        return Err(format!(
            "{at}: category `{category}` must be lower-case letters and `_`"
        ));
    }
    let same_sign = (low > 0 && high > 0) || (low < 0 && high < 0);
    if low > high || !same_sign || low.abs() > MAX_AMOUNT || high.abs() > MAX_AMOUNT {
        return Err(format!(
            "{at}: amount must be [from, to], from ≤ to, both credits (> 0) or both debits (< 0), \
             at most {MAX_AMOUNT} minor units"
        ));
    }
    let mut rest = description;
    while let Some(open) = rest.find('{') {
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("{at}: description has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        if !placeholders.contains(&name) {
            return Err(format!(
                "{at}: description placeholder `{{{name}}}` is not one of {placeholders:?}"
            ));
        }
        rest = &rest[open + close + 1..];
    }
    if description.is_empty() || description.len() > 140 {
        return Err(format!("{at}: description must be 1 to 140 bytes"));
    }
    Ok(())
}
