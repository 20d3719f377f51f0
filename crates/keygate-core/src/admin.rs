//! Validation of admin API bodies (SPEC §6) and the key lifecycle (roll, leak, revoke).
//!
//! Bodies arrive as parsed JSON; every problem is collected and answered at once as 400 with
//! one `errors` entry per field. Unknown fields are errors (a typo such as `expire_at` must not
//! silently create a key that never expires). `null` is accepted only where it means something:
//! `expires_at: null` clears an expiry.

use crate::config::GatewayConfig;
use crate::error::{Error, FieldError};
use crate::ip::IpAllowlist;
use crate::keys::{Environment, KeyHash, KeyKind, parse_key};
use crate::model::{Account, AccountStatus, Agreement, ApiKey, FirstUseGrace, IpMode, KeyStatus};
use crate::ratelimit::RateLimit;
use crate::scope::Scope;
use serde_json::{Map, Value};
use std::fmt;

/// Default grace period of a roll: the old key keeps working for a day.
pub const ROLL_GRACE_DEFAULT: i64 = 24 * 60 * 60;
/// Default grace period after a leak report: three days to replace the key.
pub const LEAK_GRACE_DEFAULT: i64 = 3 * 24 * 60 * 60;
/// Longest grace period accepted.
pub const GRACE_MAX: i64 = 7 * 24 * 60 * 60;
/// Longest account or key name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// Most scopes or products one key may list.
pub const MAX_LIST_ITEMS: usize = 100;
/// Most tokens one leak report may carry.
pub const MAX_LEAK_TOKENS: usize = 1000;
/// Longest `url` or `source` kept from a leak report, in characters (longer ones are cut).
const MAX_LEAK_NOTE_CHARS: usize = 2048;
const IP_MODES: [(&str, IpMode); 2] = [("enforce", IpMode::Enforce), ("report", IpMode::Report)];

/// Reads one JSON object, collecting field errors.
struct Reader<'a> {
    map: &'a Map<String, Value>,
    errors: Vec<FieldError>,
}

impl<'a> Reader<'a> {
    fn new(body: &'a Value, known: &[&str]) -> Result<Self, Error> {
        let Value::Object(map) = body else {
            return Err(Error::bad_request(
                "The request body must be a JSON object; see the API reference for its fields.",
            ));
        };
        let errors = map
            .keys()
            .filter(|k| !known.contains(&k.as_str()))
            .map(|k| {
                FieldError::new(
                    truncate(k, 100),
                    format!("unknown field; expected one of: {}", known.join(", ")),
                )
            })
            .collect();
        Ok(Self { map, errors })
    }

    fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError::new(field, message));
    }

    /// The value of `field`, or an error if it is required and absent.
    fn value(&mut self, field: &str, required: bool) -> Option<&'a Value> {
        let value = self.map.get(field);
        if value.is_none() && required {
            self.error(field, "is required");
        }
        value
    }

    fn ip_mode(&mut self) -> Option<IpMode> {
        self.choice("ip_mode", false, &IP_MODES)
    }

    /// `rate_limit`: absent → `None`; `null` → `Some(None)`; a limit → `Some(Some(limit))`.
    fn rate_limit(&mut self) -> Option<Option<RateLimit>> {
        let value = self.value("rate_limit", false)?;
        match RateLimit::from_json("rate_limit", value) {
            Ok(limit) => Some(limit),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    fn name(&mut self, field: &str, required: bool) -> Option<String> {
        let value = self.value(field, required)?;
        let Value::String(text) = value else {
            self.error(field, "must be a string");
            return None;
        };
        let text = text.trim();
        if text.is_empty() {
            self.error(field, "must not be empty");
        } else if text.chars().count() > MAX_NAME_CHARS {
            self.error(
                field,
                format!("must be at most {MAX_NAME_CHARS} characters"),
            );
        } else if text.chars().any(char::is_control) {
            self.error(
                field,
                "must not contain control characters such as newlines",
            );
        } else {
            return Some(text.to_string());
        }
        None
    }

    /// A string that must be one of `options`, mapped through `pick`.
    fn choice<T>(&mut self, field: &str, required: bool, options: &[(&str, T)]) -> Option<T>
    where
        T: Copy,
    {
        let value = self.value(field, required)?;
        let found = value
            .as_str()
            .and_then(|s| options.iter().find(|(name, _)| *name == s));
        if found.is_none() {
            let names: Vec<String> = options
                .iter()
                .map(|(name, _)| format!("`{name}`"))
                .collect();
            self.error(field, format!("must be {}", names.join(" or ")));
        }
        found.map(|(_, v)| *v)
    }

    /// An array of strings; each non-string element is reported as `field[i]`.
    fn strings(&mut self, field: &str, max: usize) -> Option<Vec<String>> {
        let value = self.value(field, false)?;
        let Value::Array(items) = value else {
            self.error(field, "must be a list of strings");
            return None;
        };
        if items.len() > max {
            self.error(
                field,
                format!("has {} entries; at most {max} are allowed", items.len()),
            );
            return None;
        }
        let mut out = Vec::with_capacity(items.len());
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) => out.push(s.clone()),
                _ => {
                    self.error(format!("{field}[{i}]"), "must be a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    fn allowed_ips(&mut self) -> Option<Vec<String>> {
        // Counted by IpAllowlist itself, so its message about the limit is the one shown.
        let entries = self.strings("allowed_ips", usize::MAX)?;
        match IpAllowlist::parse(&entries) {
            Ok(list) => Some(list.to_strings()),
            Err(errors) => {
                self.errors.extend(errors);
                None
            }
        }
    }

    fn scopes(&mut self, config: &GatewayConfig) -> Option<Vec<String>> {
        let scopes = self.strings("scopes", MAX_LIST_ITEMS)?;
        if scopes.is_empty() {
            self.error(
                "scopes",
                "must list at least one scope; use [\"*\"] for every permission",
            );
            return None;
        }
        let mut ok = true;
        for (i, s) in scopes.iter().enumerate() {
            match Scope::parse(s) {
                Err(why) => {
                    self.error(format!("scopes[{i}]"), why);
                    ok = false;
                }
                Ok(_) if !config.is_known_scope(s) => {
                    self.error(
                        format!("scopes[{i}]"),
                        "is not a scope of this API; see its route table",
                    );
                    ok = false;
                }
                Ok(_) => {}
            }
        }
        ok.then(|| dedup(scopes))
    }

    fn products(&mut self, config: &GatewayConfig) -> Option<Vec<String>> {
        let products = self.strings("products", MAX_LIST_ITEMS)?;
        let mut ok = true;
        for (i, id) in products.iter().enumerate() {
            if config.product(id).is_none() {
                self.error(format!("products[{i}]"), "is not a product of this API");
                ok = false;
            }
        }
        ok.then(|| dedup(products))
    }

    /// `Some(None)` for an explicit `null` (clear); `Some(Some(t))` for a future time.
    fn expires_at(&mut self, now: i64) -> Option<Option<i64>> {
        match self.value("expires_at", false)? {
            Value::Null => Some(None),
            value => match value.as_i64() {
                Some(t) if t > now => Some(Some(t)),
                Some(_) => {
                    self.error("expires_at", "must be in the future (unix seconds)");
                    None
                }
                None => {
                    self.error(
                        "expires_at",
                        "must be a whole number of unix seconds, or null",
                    );
                    None
                }
            },
        }
    }

    fn finish(self) -> Result<(), Error> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Error::invalid(self.errors))
        }
    }
}

fn dedup(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

const AGREEMENTS: [(&str, Agreement); 2] = [
    ("test", Agreement::Test),
    ("production", Agreement::Production),
];
const ACCOUNT_STATUSES: [(&str, AccountStatus); 2] = [
    ("active", AccountStatus::Active),
    ("suspended", AccountStatus::Suspended),
];
const KEY_STATUSES: [(&str, KeyStatus); 2] = [
    ("active", KeyStatus::Active),
    ("disabled", KeyStatus::Disabled),
];
const ENVIRONMENTS: [(&str, Environment); 2] =
    [("test", Environment::Test), ("live", Environment::Live)];

/// A validated `POST /admin/v1/accounts` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    pub name: String,
    pub agreement: Agreement,
    /// Canonical CIDR strings.
    pub allowed_ips: Vec<String>,
    /// The default limit of the account's keys that have none.
    pub rate_limit: Option<RateLimit>,
    pub ip_mode: IpMode,
}

impl NewAccount {
    pub fn into_account(self, id: String, now: i64) -> Account {
        Account {
            id,
            name: self.name,
            agreement: self.agreement,
            status: AccountStatus::Active,
            allowed_ips: self.allowed_ips,
            created_at: now,
            updated_at: now,
            revision: 1,
            rate_limit: self.rate_limit,
            ip_mode: self.ip_mode,
        }
    }
}

/// `{name, agreement, allowed_ips?, rate_limit?}`.
pub fn new_account(body: &Value) -> Result<NewAccount, Error> {
    let mut r = Reader::new(
        body,
        &["name", "agreement", "allowed_ips", "rate_limit", "ip_mode"],
    )?;
    let name = r.name("name", true);
    let agreement = r.choice("agreement", true, &AGREEMENTS);
    let allowed_ips = if r.map.contains_key("allowed_ips") {
        r.allowed_ips()
    } else {
        Some(Vec::new())
    };
    let rate_limit = r.rate_limit().unwrap_or(None);
    let ip_mode = r.ip_mode().unwrap_or_default();
    r.finish()?;
    match (name, agreement, allowed_ips) {
        (Some(name), Some(agreement), Some(allowed_ips)) => Ok(NewAccount {
            name,
            agreement,
            allowed_ips,
            rate_limit,
            ip_mode,
        }),
        // Unreachable: every None above recorded an error and `finish` returned it.
        _ => Err(Error::internal()),
    }
}

/// A validated `PATCH /admin/v1/accounts/{id}` body; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountPatch {
    pub name: Option<String>,
    pub agreement: Option<Agreement>,
    pub status: Option<AccountStatus>,
    pub allowed_ips: Option<Vec<String>>,
    /// `Some(None)` removes the account's default limit.
    pub rate_limit: Option<Option<RateLimit>>,
    pub ip_mode: Option<IpMode>,
}

impl AccountPatch {
    pub fn apply(&self, account: &mut Account, now: i64) {
        if let Some(name) = &self.name {
            account.name = name.clone();
        }
        if let Some(agreement) = self.agreement {
            // A downgrade to `test` leaves live keys in place; the edge refuses them (401) until
            // the agreement is production again, so nothing is destroyed by a mistaken PATCH.
            account.agreement = agreement;
        }
        if let Some(status) = self.status {
            account.status = status;
        }
        if let Some(ips) = &self.allowed_ips {
            account.allowed_ips = ips.clone();
        }
        if let Some(limit) = self.rate_limit {
            account.rate_limit = limit;
        }
        if let Some(mode) = self.ip_mode {
            account.ip_mode = mode;
        }
        account.touch(now);
    }
}

/// `{name?, agreement?, status?, allowed_ips?, rate_limit?}`.
pub fn account_patch(body: &Value) -> Result<AccountPatch, Error> {
    let mut r = Reader::new(
        body,
        &[
            "name",
            "agreement",
            "status",
            "allowed_ips",
            "rate_limit",
            "ip_mode",
        ],
    )?;
    let patch = AccountPatch {
        name: r.name("name", false),
        agreement: r.choice("agreement", false, &AGREEMENTS),
        status: r.choice("status", false, &ACCOUNT_STATUSES),
        allowed_ips: r.allowed_ips(),
        rate_limit: r.rate_limit(),
        ip_mode: r.ip_mode(),
    };
    r.finish()?;
    Ok(patch)
}

/// A key's settings, without identity or secret: what a new key is created from, and what a
/// roll copies from the old key to its successor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate {
    pub environment: Environment,
    pub name: String,
    pub scopes: Vec<String>,
    pub allowed_ips: Vec<String>,
    pub products: Vec<String>,
    pub expires_at: Option<i64>,
    pub rate_limit: Option<RateLimit>,
    pub ip_mode: IpMode,
}

impl KeyTemplate {
    /// The settings a roll carries over.
    pub fn from_key(key: &ApiKey) -> Self {
        Self {
            environment: key.environment,
            name: key.name.clone(),
            scopes: key.scopes.clone(),
            allowed_ips: key.allowed_ips.clone(),
            products: key.products.clone(),
            expires_at: key.expires_at,
            rate_limit: key.rate_limit,
            ip_mode: key.ip_mode,
        }
    }

    /// An active key with these settings. `start` and `end` are the display fragments of its
    /// secret ([`crate::keys::ParsedKey::start`] / `end`).
    pub fn into_key(
        self,
        id: String,
        account_id: &str,
        start: String,
        end: String,
        now: i64,
    ) -> ApiKey {
        ApiKey {
            id,
            account_id: account_id.to_string(),
            name: self.name,
            environment: self.environment,
            status: KeyStatus::Active,
            scopes: self.scopes,
            allowed_ips: self.allowed_ips,
            products: self.products,
            created_at: now,
            updated_at: now,
            expires_at: self.expires_at,
            leaked_at: None,
            revoke_at: None,
            rolled_to: None,
            disabled_by: None,
            rate_limit: self.rate_limit,
            ip_mode: self.ip_mode,
            grace: None,
            first_used_at: None,
            report_first_use: false,
            start,
            end,
        }
    }
}

/// A validated `POST /admin/v1/accounts/{id}/keys` body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub template: KeyTemplate,
}

impl NewKey {
    pub fn into_template(self) -> KeyTemplate {
        self.template
    }
}

/// `{name, environment, scopes?, allowed_ips?, products?, expires_at?, rate_limit?}`. `scopes` defaults to
/// `["*"]` (SPEC §1: `["*"]` means all), the lists to empty (no extra restriction). A live key
/// for an account with a test agreement is 403, after the body itself is valid.
pub fn new_key(
    body: &Value,
    account: &Account,
    config: &GatewayConfig,
    now: i64,
) -> Result<NewKey, Error> {
    let mut r = Reader::new(
        body,
        &[
            "name",
            "environment",
            "scopes",
            "allowed_ips",
            "products",
            "expires_at",
            "rate_limit",
            "ip_mode",
        ],
    )?;
    let name = r.name("name", true);
    let environment = r.choice("environment", true, &ENVIRONMENTS);
    let present = |r: &Reader<'_>, f: &str| r.map.contains_key(f);
    let scopes = if present(&r, "scopes") {
        r.scopes(config)
    } else {
        Some(vec!["*".to_string()])
    };
    let allowed_ips = if present(&r, "allowed_ips") {
        r.allowed_ips()
    } else {
        Some(Vec::new())
    };
    let products = if present(&r, "products") {
        r.products(config)
    } else {
        Some(Vec::new())
    };
    let expires_at = r.expires_at(now).unwrap_or(None);
    let rate_limit = r.rate_limit().unwrap_or(None);
    let ip_mode = r.ip_mode().unwrap_or_default();
    r.finish()?;
    let (Some(name), Some(environment), Some(scopes), Some(allowed_ips), Some(products)) =
        (name, environment, scopes, allowed_ips, products)
    else {
        return Err(Error::internal());
    };
    if !account.agreement.allows(environment) {
        return Err(Error::forbidden(
            "This account has a test agreement, so it can hold test keys only. Create a test key, \
             or change the account's agreement to production first.",
        ));
    }
    Ok(NewKey {
        template: KeyTemplate {
            environment,
            name,
            scopes,
            allowed_ips,
            products,
            expires_at,
            rate_limit,
            ip_mode,
        },
    })
}

/// A validated `PATCH /admin/v1/keys/{id}` body; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPatch {
    pub name: Option<String>,
    pub scopes: Option<Vec<String>>,
    pub allowed_ips: Option<Vec<String>>,
    pub products: Option<Vec<String>>,
    pub status: Option<KeyStatus>,
    /// `Some(None)` clears the expiry.
    pub expires_at: Option<Option<i64>>,
    /// `Some(None)` removes the key's own limit (the account's default then applies).
    pub rate_limit: Option<Option<RateLimit>>,
    pub ip_mode: Option<IpMode>,
}

impl KeyPatch {
    /// Applies the patch, or changes nothing and answers 409 if it would re-enable a revoked
    /// key: revocation is final, a replacement comes from a roll or a new key.
    pub fn apply(&self, key: &mut ApiKey, now: i64) -> Result<(), Error> {
        if self.status == Some(KeyStatus::Active) && key.is_revoked(now) {
            return Err(Error::conflict(
                "This key has been revoked and cannot be re-enabled. Create a new key, or use the \
                 key it was rolled to.",
            ));
        }
        if let Some(name) = &self.name {
            key.name = name.clone();
        }
        if let Some(scopes) = &self.scopes {
            key.scopes = scopes.clone();
        }
        if let Some(ips) = &self.allowed_ips {
            key.allowed_ips = ips.clone();
        }
        if let Some(products) = &self.products {
            key.products = products.clone();
        }
        if let Some(status) = self.status {
            key.status = status;
        }
        if let Some(expires_at) = self.expires_at {
            key.expires_at = expires_at;
        }
        if let Some(limit) = self.rate_limit {
            key.rate_limit = limit;
        }
        if let Some(mode) = self.ip_mode {
            key.ip_mode = mode;
        }
        key.updated_at = now;
        Ok(())
    }
}

/// `{name?, scopes?, allowed_ips?, products?, status?, expires_at?, rate_limit?}`.
pub fn key_patch(body: &Value, config: &GatewayConfig, now: i64) -> Result<KeyPatch, Error> {
    let mut r = Reader::new(
        body,
        &[
            "name",
            "scopes",
            "allowed_ips",
            "products",
            "status",
            "expires_at",
            "rate_limit",
            "ip_mode",
        ],
    )?;
    let patch = KeyPatch {
        name: r.name("name", false),
        scopes: r.scopes(config),
        allowed_ips: r.allowed_ips(),
        products: r.products(config),
        status: r.choice("status", false, &KEY_STATUSES),
        expires_at: r.expires_at(now),
        rate_limit: r.rate_limit(),
        ip_mode: r.ip_mode(),
    };
    r.finish()?;
    Ok(patch)
}

/// `{"grace_seconds": n}` with 0 ≤ n ≤ [`GRACE_MAX`]; an absent or empty body, `null`, or `{}`
/// means `default`.
pub fn grace_seconds(body: Option<&Value>, default: i64) -> Result<i64, Error> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(default);
    };
    let mut r = Reader::new(body, &["grace_seconds"])?;
    let grace = read_grace_seconds(&mut r, default);
    r.finish()?;
    grace.ok_or_else(Error::internal)
}

/// `grace_seconds` of a body being read: `default` when absent, `None` (an error noted) when bad.
fn read_grace_seconds(r: &mut Reader<'_>, default: i64) -> Option<i64> {
    match r.value("grace_seconds", false) {
        None => Some(default),
        Some(v) => match v.as_i64() {
            Some(n) if (0..=GRACE_MAX).contains(&n) => Some(n),
            _ => {
                r.error(
                    "grace_seconds",
                    format!("must be a whole number of seconds from 0 to {GRACE_MAX} (7 days)"),
                );
                None
            }
        },
    }
}

/// How a roll's old key goes: after a fixed grace, or a grace that starts at the successor's
/// first use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RollGrace {
    Fixed(i64),
    AfterFirstUse(i64),
}

/// A roll body: `{"grace_seconds": n}` (fixed, default 24 h) or
/// `{"grace": "after_first_use", "grace_seconds": n}`; `"grace": "fixed"` is the default.
pub fn roll_grace(body: Option<&Value>) -> Result<RollGrace, Error> {
    let Some(body) = body.filter(|b| !b.is_null()) else {
        return Ok(RollGrace::Fixed(ROLL_GRACE_DEFAULT));
    };
    let mut r = Reader::new(body, &["grace", "grace_seconds"])?;
    let kind = r.choice(
        "grace",
        false,
        &[("fixed", false), ("after_first_use", true)],
    );
    let seconds = read_grace_seconds(&mut r, ROLL_GRACE_DEFAULT);
    r.finish()?;
    let seconds = seconds.ok_or_else(Error::internal)?;
    Ok(match kind {
        Some(true) => RollGrace::AfterFirstUse(seconds),
        _ => RollGrace::Fixed(seconds),
    })
}

fn earlier(existing: Option<i64>, candidate: i64) -> Option<i64> {
    Some(existing.map_or(candidate, |at| at.min(candidate)))
}

/// Marks `old` as rolled to `successor_id` (created from [`KeyTemplate::from_key`]): it keeps
/// working for `grace` seconds, or less if it was already due to be revoked sooner. 409 for a
/// key that is revoked, expired, disabled or already rolled; `old` is then unchanged.
pub fn roll(old: &mut ApiKey, successor_id: &str, now: i64, grace: RollGrace) -> Result<(), Error> {
    if old.is_revoked(now) {
        return Err(Error::conflict(
            "This key is already revoked. Create a new key instead of rolling it.",
        ));
    }
    if let Some(successor) = &old.rolled_to {
        return Err(Error::conflict(format!(
            "This key was already rolled to {successor}. Roll that key instead."
        )));
    }
    if old.is_expired(now) {
        return Err(Error::conflict(
            "This key has expired. Create a new key instead of rolling it.",
        ));
    }
    if old.status == KeyStatus::Disabled {
        return Err(Error::conflict(
            "This key is disabled. Re-enable it before rolling it, or create a new key.",
        ));
    }
    old.rolled_to = Some(successor_id.to_string());
    let cap = now.saturating_add(GRACE_MAX);
    match grace {
        RollGrace::Fixed(seconds) => {
            old.revoke_at = earlier(
                old.revoke_at,
                now.saturating_add(seconds.clamp(0, GRACE_MAX)),
            );
        }
        RollGrace::AfterFirstUse(seconds) => {
            // Works until the successor is first used (then `seconds` more), never past `cap`.
            old.revoke_at = earlier(old.revoke_at, cap);
            old.grace = Some(FirstUseGrace {
                kind: "after_first_use".into(),
                seconds: seconds.clamp(0, GRACE_MAX),
                waiting: true,
                cap,
            });
        }
    }
    old.updated_at = now;
    Ok(())
}

/// The successor of `old` was first used at `at`: `old`'s waiting grace starts, and it is
/// revoked `seconds` later (never past its cap, never later than it already was).
pub fn successor_used(old: &mut ApiKey, at: i64) {
    let Some(grace) = old.grace.as_mut().filter(|g| g.waiting) else {
        return;
    };
    grace.waiting = false;
    let ends = at.saturating_add(grace.seconds).min(grace.cap);
    old.revoke_at = earlier(old.revoke_at, ends);
    old.updated_at = at;
}

/// Marks `key` leaked: it keeps working for `grace` seconds so its owner can replace it, then
/// is revoked. The first report's time is kept; a later report can only bring revocation closer.
pub fn mark_leaked(key: &mut ApiKey, now: i64, grace: i64) {
    key.leaked_at = Some(key.leaked_at.map_or(now, |at| at.min(now)));
    key.revoke_at = earlier(key.revoke_at, now.saturating_add(grace.clamp(0, GRACE_MAX)));
    key.updated_at = now;
}

/// Revokes `key` at `now` (or keeps an earlier revocation).
pub fn revoke_now(key: &mut ApiKey, now: i64) {
    key.revoke_at = earlier(key.revoke_at, now);
    key.updated_at = now;
}

/// One entry of a leak report. `Debug` shows no more of the token than a key's display
/// fragments: a leaked secret must not be repeated into our logs.
#[derive(Clone, PartialEq, Eq)]
pub struct LeakedToken {
    pub token: String,
    pub url: Option<String>,
    pub source: Option<String>,
}

impl LeakedToken {
    /// The hash to look up, if the token is a well-formed secret key. Product keys are
    /// identifiers and are not revoked; anything else is not ours.
    pub fn secret_hash(&self) -> Option<KeyHash> {
        parse_key(&self.token)
            .ok()
            .filter(|k| k.kind() == KeyKind::Secret)
            .map(|k| k.hash())
    }
}

impl fmt::Debug for LeakedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = match parse_key(&self.token) {
            Ok(k) => format!("{}…{}", k.start(), k.end()),
            Err(_) => format!("<{} bytes>", self.token.len()),
        };
        f.debug_struct("LeakedToken")
            .field("token", &shown)
            .field("url", &self.url)
            .field("source", &self.source)
            .finish()
    }
}

/// A leak report as secret scanners send it: a JSON array of `{token, type?, url?, source?}`
/// (GitHub's format), or `{"tokens": [...]}`. At most [`MAX_LEAK_TOKENS`] entries.
///
/// Unlike other admin bodies, unknown fields inside an entry are ignored: a scanner adding a
/// field must not make us drop a report of a leaked key.
pub fn leak_report(body: &Value) -> Result<Vec<LeakedToken>, Error> {
    let items = match body {
        Value::Array(items) => items,
        Value::Object(map) => match (map.get("tokens"), map.len()) {
            (Some(Value::Array(items)), 1) => items,
            _ => return Err(leak_shape()),
        },
        _ => return Err(leak_shape()),
    };
    if items.len() > MAX_LEAK_TOKENS {
        return Err(Error::invalid(vec![FieldError::new(
            "tokens",
            format!(
                "has {} entries; send at most {MAX_LEAK_TOKENS} per report",
                items.len()
            ),
        )]));
    }
    let mut errors = Vec::new();
    let mut tokens = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Value::Object(entry) = item else {
            errors.push(FieldError::new(
                format!("[{i}]"),
                "must be an object with a `token`",
            ));
            continue;
        };
        let token = match entry.get("token") {
            Some(Value::String(t)) if !t.is_empty() && t.len() <= 1024 => Some(t.clone()),
            Some(Value::String(_)) => {
                errors.push(FieldError::new(
                    format!("[{i}].token"),
                    "must be 1-1024 bytes",
                ));
                None
            }
            Some(_) => {
                errors.push(FieldError::new(format!("[{i}].token"), "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new(format!("[{i}].token"), "is required"));
                None
            }
        };
        let mut note = |field: &str| match entry.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(truncate(s, MAX_LEAK_NOTE_CHARS)),
            Some(_) => {
                errors.push(FieldError::new(
                    format!("[{i}].{field}"),
                    "must be a string",
                ));
                None
            }
        };
        let url = note("url");
        let source = note("source");
        if let Some(token) = token {
            tokens.push(LeakedToken { token, url, source });
        }
    }
    if errors.is_empty() {
        Ok(tokens)
    } else {
        Err(Error::invalid(errors))
    }
}

fn leak_shape() -> Error {
    Error::bad_request(
        "A leak report must be a JSON array of {\"token\": …, \"url\": …, \"source\": …} \
         objects, as secret scanners send it.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{account, config, key};
    use serde_json::json;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    const NOW: i64 = 1_700_000_000;

    fn fields(e: &Error) -> Vec<&str> {
        assert_eq!(e.status, 400, "{e}");
        e.errors.iter().map(|f| f.field.as_str()).collect()
    }

    #[test]
    fn new_account_valid_and_defaults() {
        let a = new_account(&json!({"name": "  Acme  ", "agreement": "test"})).unwrap();
        assert_eq!(
            a,
            NewAccount {
                name: "Acme".into(),
                agreement: Agreement::Test,
                allowed_ips: vec![],
                rate_limit: None,
                ip_mode: IpMode::Enforce,
            }
        );
        let a = new_account(&json!({"name": "A", "agreement": "production", "allowed_ips": ["10.0.0.1", "::ffff:10.1.0.0/112"]}))
            .unwrap();
        assert_eq!(a.allowed_ips, ["10.0.0.1/32", "10.1.0.0/16"]);
        let account = a.into_account("acct_x".into(), NOW);
        assert_eq!(account.status, AccountStatus::Active);
        assert_eq!((account.created_at, account.updated_at), (NOW, NOW));
    }

    #[test]
    fn new_account_collects_every_error() {
        let e = new_account(
            &json!({"agreement": "gold", "allowed_ips": ["10.0.0.1/8", 7], "extra": 1}),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["extra", "name", "agreement", "allowed_ips[1]"]);
        let e = new_account(
            &json!({"name": "x".repeat(201), "agreement": "test", "allowed_ips": ["10.0.0.1/8"]}),
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["name", "allowed_ips[0]"]);
        assert!(e.errors[0].message.contains("200"));
        assert!(new_account(&json!({"name": "x".repeat(200), "agreement": "test"})).is_ok());
        for bad_name in [
            json!(""),
            json!("   "),
            json!(7),
            json!(null),
            json!("a\nb"),
        ] {
            let e = new_account(&json!({"name": bad_name, "agreement": "test"})).unwrap_err();
            assert_eq!(fields(&e), ["name"], "{bad_name}");
        }
        let e = new_account(&json!({"name": "A", "agreement": "test", "allowed_ips": null}))
            .unwrap_err();
        assert_eq!(fields(&e), ["allowed_ips"]);
    }

    #[test]
    fn bodies_must_be_objects() {
        for body in [json!([]), json!("x"), json!(null), json!(1)] {
            let e = new_account(&body).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(e.message.contains("JSON object"));
        }
    }

    #[test]
    fn account_patch_applies_only_what_is_given() {
        let patch = account_patch(&json!({"status": "suspended"})).unwrap();
        let mut a = account();
        patch.apply(&mut a, NOW);
        assert_eq!(a.status, AccountStatus::Suspended);
        assert_eq!(a.name, "Acme");
        assert_eq!(a.updated_at, NOW);
        let patch =
            account_patch(&json!({"name": "New", "agreement": "test", "allowed_ips": []})).unwrap();
        let mut a = account();
        a.allowed_ips = vec!["10.0.0.0/8".into()];
        patch.apply(&mut a, NOW);
        assert_eq!(
            (a.name.as_str(), a.agreement, a.allowed_ips.len()),
            ("New", Agreement::Test, 0)
        );
        assert_eq!(account_patch(&json!({})).unwrap(), AccountPatch::default());
        let e =
            account_patch(&json!({"status": "deleted", "name": null, "id": "acct_2"})).unwrap_err();
        assert_eq!(fields(&e), ["id", "name", "status"]);
    }

    #[test]
    fn new_key_defaults_to_all_scopes_and_no_restrictions() {
        let k = new_key(
            &json!({"name": "backend", "environment": "live"}),
            &account(),
            &config(),
            NOW,
        )
        .unwrap()
        .into_template();
        assert_eq!(k.scopes, ["*"]);
        assert!(k.allowed_ips.is_empty() && k.products.is_empty());
        assert_eq!(k.expires_at, None);
        assert_eq!(k.environment, Environment::Live);
    }

    #[test]
    fn new_key_full_body() {
        let body = json!({
            "name": "reporting", "environment": "test",
            "scopes": ["transactions:read", "accounts:*", "transactions:read"],
            "allowed_ips": ["2001:db8::/48"], "products": ["bank_data", "bank_data"],
            "expires_at": NOW + 60,
        });
        let k = new_key(&body, &account(), &config(), NOW)
            .unwrap()
            .into_template();
        assert_eq!(k.scopes, ["transactions:read", "accounts:*"]);
        assert_eq!(k.products, ["bank_data"]);
        assert_eq!(k.allowed_ips, ["2001:db8::/48"]);
        assert_eq!(k.expires_at, Some(NOW + 60));
        let created = k.into_key(
            "key_x".into(),
            "acct_1",
            "sk_test_abcd".into(),
            "wxyz".into(),
            NOW,
        );
        assert_eq!(created.status, KeyStatus::Active);
        assert_eq!(created.account_id, "acct_1");
        assert_eq!(
            (created.revoke_at, created.leaked_at, created.rolled_to),
            (None, None, None)
        );
    }

    #[test]
    fn new_key_rejections() {
        let body = json!({
            "environment": "prod", "scopes": ["transactions:write", "Bad", 3], "allowed_ips": ["x"],
            "products": ["nope"], "expires_at": NOW, "secret": "sk_test_x",
        });
        let e = new_key(&body, &account(), &config(), NOW).unwrap_err();
        assert_eq!(
            fields(&e),
            [
                "secret",
                "name",
                "environment",
                "scopes[2]",
                "allowed_ips[0]",
                "products[0]",
                "expires_at"
            ]
        );
        // Type errors in a list are reported before content errors, then content is checked.
        let e = new_key(
            &json!({"name": "k", "environment": "test", "scopes": ["transactions:write", "Bad"]}),
            &account(),
            &config(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["scopes[0]", "scopes[1]"]);
        assert!(e.errors[0].message.contains("not a scope of this API"));
        for (body, field) in [
            (
                json!({"name": "k", "environment": "test", "scopes": []}),
                "scopes",
            ),
            (
                json!({"name": "k", "environment": "test", "expires_at": 1.5e9}),
                "expires_at",
            ),
            (
                json!({"name": "k", "environment": "test", "expires_at": "2030-01-01"}),
                "expires_at",
            ),
            (
                json!({"name": "k", "environment": "test", "products": "bank_data"}),
                "products",
            ),
        ] {
            assert_eq!(
                fields(&new_key(&body, &account(), &config(), NOW).unwrap_err()),
                [field]
            );
        }
        let many: Vec<String> = (0..=MAX_LIST_ITEMS).map(|_| "*".to_string()).collect();
        let e = new_key(
            &json!({"name": "k", "environment": "test", "scopes": many}),
            &account(),
            &config(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["scopes"]);
        let ok = new_key(
            &json!({"name": "k", "environment": "test", "expires_at": null}),
            &account(),
            &config(),
            NOW,
        );
        assert_eq!(ok.unwrap().template.expires_at, None);
    }

    #[test]
    fn live_key_on_test_agreement_is_403_after_the_body_is_valid() {
        let mut a = account();
        a.agreement = Agreement::Test;
        let e = new_key(
            &json!({"name": "k", "environment": "live"}),
            &a,
            &config(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.status, 403);
        assert!(e.message.contains("test agreement"));
        let e = new_key(
            &json!({"name": "", "environment": "live"}),
            &a,
            &config(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(
            new_key(
                &json!({"name": "k", "environment": "test"}),
                &a,
                &config(),
                NOW
            )
            .is_ok()
        );
    }

    #[test]
    fn key_patch_and_apply() {
        let patch = key_patch(
            &json!({"name": "renamed", "scopes": ["quotes:read"], "products": ["insurance"], "status": "disabled", "expires_at": NOW + 5}),
            &config(),
            NOW,
        )
        .unwrap();
        let mut k = key(Environment::Live);
        patch.apply(&mut k, NOW).unwrap();
        assert_eq!(k.name, "renamed");
        assert_eq!(k.scopes, ["quotes:read"]);
        assert_eq!(k.products, ["insurance"]);
        assert_eq!(k.status, KeyStatus::Disabled);
        assert_eq!(k.expires_at, Some(NOW + 5));
        assert_eq!(k.updated_at, NOW);

        let clear = key_patch(&json!({"expires_at": null}), &config(), NOW).unwrap();
        assert_eq!(clear.expires_at, Some(None));
        clear.apply(&mut k, NOW).unwrap();
        assert_eq!(k.expires_at, None);
        assert_eq!(k.name, "renamed");

        let e = key_patch(
            &json!({"status": "revoked", "environment": "live", "expires_at": NOW - 1}),
            &config(),
            NOW,
        )
        .unwrap_err();
        assert_eq!(fields(&e), ["environment", "status", "expires_at"]);
    }

    #[test]
    fn a_revoked_key_cannot_be_re_enabled() {
        let enable = key_patch(&json!({"status": "active", "name": "x"}), &config(), NOW).unwrap();
        let mut k = key(Environment::Test);
        k.status = KeyStatus::Disabled;
        k.revoke_at = Some(NOW);
        let before = k.clone();
        let e = enable.apply(&mut k, NOW).unwrap_err();
        assert_eq!(e.status, 409);
        assert_eq!(k, before, "a refused patch changes nothing");
        // Within a grace period the key is not yet revoked and may be re-enabled.
        k.revoke_at = Some(NOW + 10);
        enable.apply(&mut k, NOW).unwrap();
        assert_eq!(k.status, KeyStatus::Active);
        // Other changes to a revoked key are harmless and allowed.
        k.revoke_at = Some(NOW - 1);
        key_patch(&json!({"name": "archived"}), &config(), NOW)
            .unwrap()
            .apply(&mut k, NOW)
            .unwrap();
    }

    #[test]
    fn grace_bodies() {
        assert_eq!(grace_seconds(None, ROLL_GRACE_DEFAULT).unwrap(), 86_400);
        assert_eq!(
            grace_seconds(Some(&json!(null)), LEAK_GRACE_DEFAULT).unwrap(),
            259_200
        );
        assert_eq!(grace_seconds(Some(&json!({})), 5).unwrap(), 5);
        assert_eq!(
            grace_seconds(Some(&json!({"grace_seconds": 0})), 5).unwrap(),
            0
        );
        assert_eq!(
            grace_seconds(Some(&json!({"grace_seconds": GRACE_MAX})), 5).unwrap(),
            604_800
        );
        for bad in [
            json!(-1),
            json!(GRACE_MAX + 1),
            json!("60"),
            json!(1.5),
            json!(null),
        ] {
            let e = grace_seconds(Some(&json!({"grace_seconds": bad})), 5).unwrap_err();
            assert_eq!(fields(&e), ["grace_seconds"], "{bad}");
        }
        assert_eq!(
            fields(&grace_seconds(Some(&json!({"grace": 5})), 5).unwrap_err()),
            ["grace"]
        );
        assert_eq!(grace_seconds(Some(&json!([])), 5).unwrap_err().status, 400);
    }

    #[test]
    fn a_roll_body_names_every_bad_field_at_once() {
        let names = |body: Value| {
            let mut f: Vec<String> = roll_grace(Some(&body))
                .unwrap_err()
                .errors
                .into_iter()
                .map(|e| e.field)
                .collect();
            f.sort();
            f
        };
        assert_eq!(
            names(json!({"grace": "later", "grace_seconds": -1})),
            ["grace", "grace_seconds"]
        );
        assert_eq!(
            names(json!({"grace_seconds": -1, "graceful": true})),
            ["grace_seconds", "graceful"]
        );
        assert_eq!(
            names(json!({"grace": 5, "grace_seconds": "soon", "graceful": 1})),
            ["grace", "grace_seconds", "graceful"]
        );
        assert_eq!(
            roll_grace(Some(
                &json!({"grace": "after_first_use", "grace_seconds": 60})
            )),
            Ok(RollGrace::AfterFirstUse(60))
        );
        assert_eq!(roll_grace(None), Ok(RollGrace::Fixed(ROLL_GRACE_DEFAULT)));
    }

    #[test]
    fn roll_marks_the_old_key_and_copies_settings() {
        let mut old = key(Environment::Live);
        old.scopes = vec!["quotes:read".into()];
        old.products = vec!["insurance".into()];
        old.allowed_ips = vec!["10.0.0.0/8".into()];
        old.expires_at = Some(NOW + 1_000);
        let template = KeyTemplate::from_key(&old);
        assert_eq!(
            template,
            KeyTemplate {
                environment: Environment::Live,
                name: "backend".into(),
                scopes: vec!["quotes:read".into()],
                allowed_ips: vec!["10.0.0.0/8".into()],
                products: vec!["insurance".into()],
                expires_at: Some(NOW + 1_000),
                rate_limit: None,
                ip_mode: IpMode::Enforce,
            }
        );
        roll(&mut old, "key_2", NOW, RollGrace::Fixed(3_600)).unwrap();
        assert_eq!(old.rolled_to.as_deref(), Some("key_2"));
        assert_eq!(old.revoke_at, Some(NOW + 3_600));
        assert_eq!(old.updated_at, NOW);
    }

    #[test]
    fn roll_keeps_an_earlier_revocation_and_zero_grace_revokes_now() {
        let mut k = key(Environment::Live);
        mark_leaked(&mut k, NOW, 60);
        roll(&mut k, "key_2", NOW, RollGrace::Fixed(ROLL_GRACE_DEFAULT)).unwrap();
        assert_eq!(k.revoke_at, Some(NOW + 60));
        let mut k = key(Environment::Live);
        roll(&mut k, "key_2", NOW, RollGrace::Fixed(0)).unwrap();
        assert!(k.is_revoked(NOW));
    }

    #[test]
    fn roll_refusals_leave_the_key_unchanged() {
        let cases: [fn(&mut ApiKey); 4] = [
            |k| k.revoke_at = Some(NOW),
            |k| k.rolled_to = Some("key_0".into()),
            |k| k.expires_at = Some(NOW),
            |k| k.status = KeyStatus::Disabled,
        ];
        for (i, setup) in cases.iter().enumerate() {
            let mut k = key(Environment::Test);
            setup(&mut k);
            let before = k.clone();
            let e = roll(&mut k, "key_2", NOW, RollGrace::Fixed(60)).unwrap_err();
            assert_eq!(e.status, 409, "case {i}");
            assert_eq!(k, before, "case {i}");
        }
    }

    #[test]
    fn leaks_first_report_wins_and_revocation_only_comes_closer() {
        let mut k = key(Environment::Live);
        mark_leaked(&mut k, NOW, LEAK_GRACE_DEFAULT);
        assert_eq!(
            (k.leaked_at, k.revoke_at),
            (Some(NOW), Some(NOW + LEAK_GRACE_DEFAULT))
        );
        mark_leaked(&mut k, NOW + 10, 0);
        assert_eq!((k.leaked_at, k.revoke_at), (Some(NOW), Some(NOW + 10)));
        mark_leaked(&mut k, NOW + 20, GRACE_MAX);
        assert_eq!(k.revoke_at, Some(NOW + 10));
        // An out-of-range grace from a careless caller is clamped, never extended.
        let mut k = key(Environment::Live);
        mark_leaked(&mut k, NOW, i64::MAX);
        assert_eq!(k.revoke_at, Some(NOW + GRACE_MAX));
    }

    #[test]
    fn revoke_now_is_immediate_and_keeps_earlier_times() {
        let mut k = key(Environment::Live);
        revoke_now(&mut k, NOW);
        assert!(k.is_revoked(NOW));
        revoke_now(&mut k, NOW + 100);
        assert_eq!(k.revoke_at, Some(NOW));
    }

    #[test]
    fn leak_reports_in_github_form() {
        let secret = crate::keys::key_from_entropy(KeyKind::Secret, Environment::Live, &[1; 32]);
        let product = crate::keys::key_from_entropy(KeyKind::Product, Environment::Live, &[1; 32]);
        let body = json!([
            {"token": secret, "type": "keygate_secret_key", "url": "https://github.com/o/r/blob/x", "source": "content"},
            {"token": product, "type": "keygate_product_key", "url": null},
            {"token": "ghp_notours"},
        ]);
        let tokens = leak_report(&body).unwrap();
        assert_eq!(tokens.len(), 3);
        assert_eq!(
            tokens[0].url.as_deref(),
            Some("https://github.com/o/r/blob/x")
        );
        assert_eq!(tokens[0].source.as_deref(), Some("content"));
        assert_eq!(tokens[1].url, None);
        assert_eq!(tokens[0].secret_hash(), Some(KeyHash::of(&secret)));
        assert_eq!(tokens[1].secret_hash(), None);
        assert_eq!(tokens[2].secret_hash(), None);
        let debug = format!("{tokens:?}");
        assert!(
            !debug.contains(&secret) && !debug.contains(&secret[12..40]),
            "{debug}"
        );
        assert!(!debug.contains("ghp_notours"));
        assert_eq!(
            leak_report(&json!({"tokens": [{"token": "x"}]}))
                .unwrap()
                .len(),
            1
        );
        assert!(leak_report(&json!([])).unwrap().is_empty());
    }

    #[test]
    fn leak_report_rejections() {
        for body in [
            json!({"token": "x"}),
            json!("x"),
            json!({"tokens": [], "more": 1}),
        ] {
            assert_eq!(leak_report(&body).unwrap_err().status, 400);
        }
        let e = leak_report(
            &json!([{"url": "u"}, 5, {"token": 5}, {"token": ""}, {"token": "t", "source": 1}]),
        )
        .unwrap_err();
        assert_eq!(
            fields(&e),
            ["[0].token", "[1]", "[2].token", "[3].token", "[4].source"]
        );
        let many: Vec<Value> = (0..=MAX_LEAK_TOKENS)
            .map(|_| json!({"token": "x"}))
            .collect();
        assert_eq!(
            fields(&leak_report(&Value::Array(many)).unwrap_err()),
            ["tokens"]
        );
        let long_url = "u".repeat(5000);
        let tokens = leak_report(&json!([{"token": "t", "url": long_url}])).unwrap();
        assert_eq!(
            tokens[0].url.as_ref().map(|u| u.len()),
            Some(MAX_LEAK_NOTE_CHARS)
        );
    }
}
