//! A deterministic discrete-event simulator of a keygate deployment at internet scale
//! (docs/scaling.md): the seeded randomness, the event queue and the parameters; and the models
//! of what the core does not hold: who sends what ([`traffic`]), KV ([`kv`]), the location tier
//! and its stamps ([`location_tier`]), Durable Object queues ([`objects`]); key records and log
//! entries are the core's own types ([`records`]).

#![deny(missing_docs, unreachable_pub)]

pub mod kv;
pub mod location_tier;
pub mod objects;
pub mod params;
pub mod queue;
pub mod records;
pub mod rng;
pub mod traffic;

pub use params::{Design, Params};
