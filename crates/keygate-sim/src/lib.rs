//! A deterministic discrete-event simulator of a keygate deployment at internet scale: how
//! fast a revocation reaches every isolate, how loaded the busiest Durable Object is, what KV,
//! the Cache API and Durable Objects cost per edge request. docs/scaling.md is written from its
//! output; `cargo run -p keygate-sim --release -- [name=value ...]` prints it.
//!
//! A key design decision of this crate: it runs keygate's own rules wherever the core has
//! them, not a model of them. Each sampled isolate is a `keygate_core::isolate::EdgeCache`
//! that takes the location's copies through `accept_location` and KV answers through `accept`,
//! applies log entries (JSON `EdgeUpdate`s, as the Registry appends them) through `synced`, is
//! asked `held`/`check_fresh` per request, and hands out the copies it writes to its location
//! through `take_location_writes`;
//! the other isolates carry the core's `revocation::SyncState`, which decides when each reads
//! the log. Rate-limited requests are counted by `ratelimit::AccountWindows` in their limiter
//! object; key records are `EdgeRecord`s built with the admin code's `KeyTemplate` and
//! `mark_leaked`, and refused by `key_state`. What the core does not have yet is modelled here,
//! each in one module: KV ([`kv`]), the location's Cache API as a store ([`location_tier`]),
//! Durable Object queues ([`objects`]), who sends what ([`traffic`]).
//!
//! The second: no I/O and no clock. A run is a function of its [`Params`] (the seed among
//! them): the same parameters give the same [`Report`], which the tests hold to.
//!
//! The third, what keeps a run fast at 50,000 requests/s: requests are simulated in full only
//! at a sample of whole locations (`sampled_rps` of traffic); the per-request ratios (KV reads,
//! Cache API reads, misses) are measured there. Everything with a load of its own runs for the
//! whole deployment: every isolate's log reads, every mirror, every admin change, and every
//! rate-limited request at every location reaches its limiter object, so each object's load
//! is counted on the object.

#![deny(missing_docs, unreachable_pub)]

pub mod kv;
pub mod location_tier;
pub mod objects;
pub mod params;
pub mod queue;
pub mod records;
pub mod render;
pub mod report;
pub mod rng;
mod sim;
pub mod traffic;

pub use params::{Design, Params};
pub use report::Report;

/// Runs the deployment `params` describes and reports what it measured.
pub fn run(params: Params) -> Report {
    let mut sim = sim::Sim::new(params);
    sim.run();
    Report::of(&sim)
}

/// A run the report compares: its label and parameters.
#[derive(Debug, Clone)]
pub struct Run {
    /// The column's label.
    pub label: String,
    /// What it runs.
    pub params: Params,
}

/// Isolates the "busiest object" target is stated for.
pub const TARGET_ISOLATES: u64 = 5_000;

/// The runs of the report, each design's parameters with `args` applied: the design before the scaling work and
/// the scaled one at the modelled deployment, the scaled one at [`TARGET_ISOLATES`] isolates,
/// the scaled one at ten times the traffic, and the scaled one as first sketched (mirrors every
/// 500 ms reading one log), which shows why its constants are what they are.
pub fn standard_runs(args: &[String]) -> Result<Vec<Run>, String> {
    let design = |design: Design| -> Result<Params, String> {
        let mut p = design.params();
        p.apply(design, args)?;
        Ok(p)
    };
    let before = design(Design::Before)?;
    let scaled = design(Design::Scaled)?;
    let mut busy = scaled.clone();
    busy.isolates_per_location = TARGET_ISOLATES.div_ceil(busy.locations.max(1));
    let mut tenfold = scaled.clone();
    tenfold.traffic_scale *= 10.0;
    let mut sketched = scaled.clone();
    sketched.mirror_interval_ms = 500.0;
    sketched.log_replicas = 1;
    let isolates = busy.locations * busy.isolates_per_location_scaled();
    Ok(vec![
        Run {
            label: "before".into(),
            params: before,
        },
        Run {
            label: "scaled".into(),
            params: scaled,
        },
        Run {
            label: format!("scaled, {} isolates", render::number(isolates as f64, 0)),
            params: busy,
        },
        Run {
            label: "scaled, 10× traffic".into(),
            params: tenfold,
        },
        Run {
            label: "scaled as sketched (mirrors every 500 ms, one log)".into(),
            params: sketched,
        },
    ])
}
