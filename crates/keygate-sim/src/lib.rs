//! A deterministic discrete-event simulator of a keygate deployment at internet scale
//! (docs/scaling.md). This first part: the seeded randomness, the event queue and the
//! parameters every run is a function of.

#![deny(missing_docs, unreachable_pub)]

pub mod params;
pub mod queue;
pub mod rng;

pub use params::{Design, Params};
