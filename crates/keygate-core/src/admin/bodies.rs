//! The fields of every flat admin body, stated once: the readers take the fields they know and
//! the ones they require from here, and the API reference (`crates/keygate-openapi`) writes the
//! request schemas from the same specs.

use super::reader::{ACCOUNT_STATUSES, AGREEMENTS, ENVIRONMENTS, KEY_STATUSES, ROLL_GRACE_KINDS};
#[cfg(doc)]
use super::{GRACE_MAX, MAX_LIST_ITEMS};
use super::{IP_MODES, LEAK_GRACE_DEFAULT, ROLL_GRACE_DEFAULT};

/// One flat JSON object body: its name in the API reference and its fields.
#[derive(Debug, Clone, Copy)]
pub struct BodySpec {
    /// The name of its schema (the route table's `Body` names it).
    pub schema: &'static str,
    /// What the body as a whole means, for people.
    pub description: Option<&'static str>,
    /// Its fields; any other is refused.
    pub fields: &'static [Field],
}

impl BodySpec {
    /// The field called `name`.
    pub fn field(&self, name: &str) -> Option<&'static Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The names of its fields, in order.
    pub fn names(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().map(|f| f.name)
    }

    /// The names of the fields a body without which is refused, in order.
    pub fn required(&self) -> impl Iterator<Item = &'static str> {
        self.fields.iter().filter(|f| f.required).map(|f| f.name)
    }
}

/// One field of a body.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Whether a body without it is refused.
    pub required: bool,
    /// The values it takes.
    pub kind: FieldKind,
    /// What it means here, for people, when its kind does not say it all.
    pub description: Option<&'static str>,
}

/// The values a field takes, each read by one method of the body reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    /// A display name: trimmed, 1 to [`super::MAX_NAME_CHARS`] characters, no control character.
    Name,
    /// One of a fixed set of words.
    Choice {
        /// The set.
        of: Choices,
        /// The word an absent field means.
        default: Option<&'static str>,
    },
    /// An IP allowlist: addresses and CIDR ranges.
    Cidrs,
    /// Scopes of the gateway's route table (at most [`MAX_LIST_ITEMS`]).
    Scopes,
    /// Product ids of the gateway configuration (at most [`MAX_LIST_ITEMS`]).
    Products,
    /// Unix seconds in the future, or `null`.
    ExpiresAt,
    /// `{requests, period_seconds}`, or `null`.
    RateLimit,
    /// `{requests, period, product?}`, or `null`.
    Quota,
    /// `{remaining, refill?}`, or `null`.
    Credits,
    /// Whole seconds from 0 to [`GRACE_MAX`].
    GraceSeconds {
        /// What an absent field means.
        default: i64,
    },
}

/// The fixed sets of words a [`FieldKind::Choice`] takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choices {
    /// `test`, `production`.
    Agreement,
    /// `active`, `suspended`.
    AccountStatus,
    /// `test`, `live`.
    Environment,
    /// `active`, `disabled`.
    KeyStatus,
    /// `enforce`, `report`.
    IpMode,
    /// `fixed`, `after_first_use`.
    RollGrace,
}

impl Choices {
    /// The words, as the reader accepts them.
    pub fn words(self) -> Vec<&'static str> {
        fn names<T>(table: &[(&'static str, T)]) -> Vec<&'static str> {
            table.iter().map(|(name, _)| *name).collect()
        }
        match self {
            Choices::Agreement => names(&AGREEMENTS),
            Choices::AccountStatus => names(&ACCOUNT_STATUSES),
            Choices::Environment => names(&ENVIRONMENTS),
            Choices::KeyStatus => names(&KEY_STATUSES),
            Choices::IpMode => names(&IP_MODES),
            Choices::RollGrace => names(&ROLL_GRACE_KINDS),
        }
    }
}

const fn field(name: &'static str, required: bool, kind: FieldKind) -> Field {
    Field {
        name,
        required,
        kind,
        description: None,
    }
}

const fn described(name: &'static str, kind: FieldKind, description: &'static str) -> Field {
    Field {
        name,
        required: false,
        kind,
        description: Some(description),
    }
}

const fn choice(of: Choices) -> FieldKind {
    FieldKind::Choice { of, default: None }
}

const SCOPES_NOTE: &str =
    "Scopes of the route table (`resource:action`, `*` wildcards); default `[\"*\"]`.";
const QUOTA_NOTE: &str = "Granted requests per UTC day or month, of one product's routes or of \
     all; `null` removes it. The tighter of the account's and the key's wins.";
const CREDITS_NOTE: &str = "A balance each granted request takes its route's `cost` from \
     (1 by default), refilled to `refill.amount` each period; setting it again (a top-up) \
     starts a fresh balance of `remaining`. `null` removes it.";
const ABSENT_UNCHANGED: &str = "Absent fields stay as they are.";

/// `POST /admin/v1/accounts`.
pub const ACCOUNT_CREATE: BodySpec = BodySpec {
    schema: "AccountCreate",
    description: None,
    fields: &[
        field("name", true, FieldKind::Name),
        field("agreement", true, choice(Choices::Agreement)),
        field("allowed_ips", false, FieldKind::Cidrs),
        field("rate_limit", false, FieldKind::RateLimit),
        field("ip_mode", false, choice(Choices::IpMode)),
        described("quota", FieldKind::Quota, QUOTA_NOTE),
    ],
};

/// `PATCH /admin/v1/accounts/{account_id}`.
pub const ACCOUNT_UPDATE: BodySpec = BodySpec {
    schema: "AccountUpdate",
    description: Some(ABSENT_UNCHANGED),
    fields: &[
        field("name", false, FieldKind::Name),
        field("agreement", false, choice(Choices::Agreement)),
        field("status", false, choice(Choices::AccountStatus)),
        field("allowed_ips", false, FieldKind::Cidrs),
        described(
            "rate_limit",
            FieldKind::RateLimit,
            "`null` removes the account's limit.",
        ),
        field("ip_mode", false, choice(Choices::IpMode)),
        described("quota", FieldKind::Quota, QUOTA_NOTE),
    ],
};

/// `POST /admin/v1/accounts/{account_id}/keys`.
pub const KEY_CREATE: BodySpec = BodySpec {
    schema: "KeyCreate",
    description: None,
    fields: &[
        field("name", true, FieldKind::Name),
        field("environment", true, choice(Choices::Environment)),
        described("scopes", FieldKind::Scopes, SCOPES_NOTE),
        field("allowed_ips", false, FieldKind::Cidrs),
        field("products", false, FieldKind::Products),
        described(
            "expires_at",
            FieldKind::ExpiresAt,
            "Unix seconds in the future, or null.",
        ),
        field("rate_limit", false, FieldKind::RateLimit),
        field("ip_mode", false, choice(Choices::IpMode)),
        described("quota", FieldKind::Quota, QUOTA_NOTE),
        described("credits", FieldKind::Credits, CREDITS_NOTE),
    ],
};

/// `PATCH /admin/v1/keys/{key_id}`.
pub const KEY_UPDATE: BodySpec = BodySpec {
    schema: "KeyUpdate",
    description: Some(ABSENT_UNCHANGED),
    fields: &[
        field("name", false, FieldKind::Name),
        described("scopes", FieldKind::Scopes, SCOPES_NOTE),
        field("allowed_ips", false, FieldKind::Cidrs),
        field("products", false, FieldKind::Products),
        field("status", false, choice(Choices::KeyStatus)),
        described(
            "expires_at",
            FieldKind::ExpiresAt,
            "Unix seconds in the future; null clears the expiry.",
        ),
        described(
            "rate_limit",
            FieldKind::RateLimit,
            "`null`: only the account's limit (if any) applies.",
        ),
        field("ip_mode", false, choice(Choices::IpMode)),
        described("quota", FieldKind::Quota, QUOTA_NOTE),
        described("credits", FieldKind::Credits, CREDITS_NOTE),
    ],
};

/// `POST /admin/v1/keys/{key_id}/roll` (the body is optional).
pub const ROLL: BodySpec = BodySpec {
    schema: "RollRequest",
    description: Some("Optional body; absent, empty or null means a fixed grace of 24 hours."),
    fields: &[
        field(
            "grace",
            false,
            FieldKind::Choice {
                of: Choices::RollGrace,
                default: Some("fixed"),
            },
        ),
        field(
            "grace_seconds",
            false,
            FieldKind::GraceSeconds {
                default: ROLL_GRACE_DEFAULT,
            },
        ),
    ],
};

/// `POST /admin/v1/keys/{key_id}/leaked` (the body is optional).
pub const LEAKED: BodySpec = BodySpec {
    schema: "LeakedRequest",
    description: Some("Optional body; absent, empty or null means a grace of 3 days."),
    fields: &[field(
        "grace_seconds",
        false,
        FieldKind::GraceSeconds {
            default: LEAK_GRACE_DEFAULT,
        },
    )],
};

/// Every flat body, for the API reference.
pub const BODIES: [&BodySpec; 6] = [
    &ACCOUNT_CREATE,
    &ACCOUNT_UPDATE,
    &KEY_CREATE,
    &KEY_UPDATE,
    &ROLL,
    &LEAKED,
];
