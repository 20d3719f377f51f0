//! Pieces of suite setups: gateways started together, and the common one-gateway context.

use std::panic::resume_unwind;
use std::thread;

use crate::{Gateway, GatewayBuilder, Origin};

/// Starts the gateways at once, each in a thread of its own (startup is mostly waiting);
/// panics as the first one in order that fails to start.
pub fn start_together<const N: usize>(builders: [GatewayBuilder; N]) -> [Gateway; N] {
    thread::scope(|s| {
        builders
            .map(|b| s.spawn(move || b.start()))
            .map(|h| h.join().unwrap_or_else(|p| resume_unwind(p)))
    })
}

/// A suite context: one gateway (the harness defaults) whose `ORIGIN_URL` is a recording
/// [`Origin`].
pub struct WithOrigin {
    pub gw: Gateway,
    pub origin: Origin,
}

impl WithOrigin {
    /// Starts the origin, then the gateway.
    pub fn start() -> WithOrigin {
        let origin = Origin::start();
        let gw = Gateway::start(&[("ORIGIN_URL", &origin.url())]);
        WithOrigin { gw, origin }
    }
}
