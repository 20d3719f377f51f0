//! keygate's core: every decision the gateway makes, with no I/O, no clock and no
//! random source of its own (time is passed in as unix seconds, randomness as a
//! [`random::SecureRandom`]). Compiles natively and for `wasm32-unknown-unknown`,
//! and its test suite runs both natively and in a headless browser.
//!
//! - [`keys`]: the key format, hashing, generation; [`ids`]: object and request ids;
//!   [`random`]: the generator they draw from, passed in like time.
//! - [`target`]: the canonical request target; [`credentials`], [`ip`], [`scope`]: the other
//!   pieces of a request the edge judges; [`forwarding`]: which headers cross the gateway.
//! - [`config`]: products and the route → scope table; [`model`]: stored records.
//! - [`policy`]: the edge decision (README "How a request is checked"); [`signing`]: what the
//!   origin receives.
//! - [`admin`]: admin API validation and the key lifecycle; [`engine`]: every admin command as
//!   a pure function over a small store trait; [`page`]: list pagination.
//! - [`location`]: the location a request is served from, and its per-location objects.
//! - [`isolate`]: what one isolate keeps between requests (its unsent activity, its key cache and
//!   pins), time passed in.
//! - [`webhook`]: signatures, lanes and when the next delivery is due; [`wake`]: when the
//!   Registry's alarm must next go off.
//! - [`error`]: the one error type and its JSON body.

mod base62;

pub mod admin;
pub mod calendar;
pub mod config;
pub mod credentials;
pub mod engine;
pub mod error;
pub mod forwarding;
pub mod github;
pub mod ids;
pub mod ip;
pub mod isolate;
pub mod keys;
pub mod location;
pub mod model;
pub mod outbound;
pub mod page;
pub mod policy;
pub mod quota;
pub mod random;
pub mod ratelimit;
pub mod revocation;
pub mod scope;
pub mod shard;
pub mod signing;
pub mod target;
pub mod throttle;
pub mod wake;
pub mod webhook;

#[cfg(test)]
pub(crate) mod testing;

/// Largest JSON body the gateway reads itself (admin API, sandbox writes): a larger one is 413,
/// refused while it streams in. The edge's own limit for proxied bodies is separate.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;

pub use config::{GatewayConfig, Product, Route, RouteMatch};
pub use credentials::extract_credential;
pub use error::{Answer, Error, FieldError};
pub use ip::IpAllowlist;
pub use keys::{Environment, IssuedKey, KeyHash, KeyKind, ParsedKey, parse_key};
pub use model::{
    Account, AccountStatus, Agreement, ApiKey, EdgeRecord, KeyStatus, ProductKeyRef, key_state,
};
pub use policy::{
    Authenticated, Credential, Grant, RequestFacts, Settings, authenticate, authorize,
};
pub use scope::Scope;

#[cfg(all(test, target_arch = "wasm32"))]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);
