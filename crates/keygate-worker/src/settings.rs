//! The worker's variables and secrets, read once per request from `Env`.

use keygate_core::policy::Settings;
use worker::Env;

pub struct Vars {
    pub settings: Settings,
    pub origin_url: Option<String>,
    pub admin_token: Option<String>,
    pub signing_secret: Option<String>,
    /// Seconds before a live request to the origin is abandoned with 504 (default 30).
    pub origin_timeout_seconds: Option<u64>,
    /// Local development only: seed the demo account (see `demo.rs`).
    pub demo_seed: bool,
}

fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
        .filter(|v| !v.trim().is_empty())
}

impl Vars {
    pub fn from_env(env: &Env) -> Self {
        let settings = Settings::from_vars(
            text(env, "REQUIRE_HTTPS").as_deref(),
            text(env, "HIDE_FORBIDDEN").as_deref(),
        );
        Self {
            settings,
            origin_url: text(env, "ORIGIN_URL"),
            admin_token: text(env, "ADMIN_TOKEN"),
            signing_secret: text(env, "ORIGIN_SIGNING_SECRET"),
            origin_timeout_seconds: text(env, "ORIGIN_TIMEOUT_SECONDS")
                .and_then(|v| v.trim().parse().ok())
                .filter(|&s: &u64| (1..=300).contains(&s)),
            // Never on a deployment that enforces HTTPS: the demo key is public.
            demo_seed: !settings.require_https && text(env, "DEMO_SEED").as_deref() == Some("true"),
        }
    }
}
