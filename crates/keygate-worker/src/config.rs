//! The gateway configuration (products and the route → scope table), embedded at build time
//! from `gateway.json` at the repository root and parsed once per isolate.

use keygate_core::Error;
use keygate_core::config::GatewayConfig;
use std::sync::OnceLock;

pub const GATEWAY_JSON: &str = include_str!("../../../gateway.json");

static CONFIG: OnceLock<Result<GatewayConfig, Error>> = OnceLock::new();

/// The tests guarantee the shipped file parses; a broken one answers 500 rather than trapping.
pub fn gateway_config() -> Result<&'static GatewayConfig, Error> {
    CONFIG
        .get_or_init(|| GatewayConfig::from_json(GATEWAY_JSON))
        .as_ref()
        .map_err(|_| Error::internal())
}
