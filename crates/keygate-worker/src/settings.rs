//! The worker's variables and secrets, read from `Env` once per isolate.

use keygate_core::engine::{
    DEFAULT_MANAGER_READS_PER_MINUTE, DEFAULT_MANAGER_WRITES_PER_MINUTE,
    DEFAULT_MAX_KEYS_PER_ACCOUNT, ManagerBudgets,
};
use keygate_core::location::Location;
use keygate_core::policy::Settings;
use serde::{Deserialize, Serialize};
use std::sync::OnceLock;
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
    /// `MAX_KEYS_PER_ACCOUNT`.
    pub limits: Limits,
    /// `SANDBOX_IDLE_SECONDS`: a named sandbox written to for none of this many seconds is
    /// deleted (default 30 days).
    pub sandbox_idle_seconds: i64,
    /// `SANDBOX_WEBHOOK_RETRY_SECONDS`: the wait after a sandbox webhook's first failed
    /// attempt, doubling to an hour (default 5).
    pub sandbox_webhook_retry_seconds: i64,
    /// `MANAGER_WRITES_PER_MINUTE` and `MANAGER_READS_PER_MINUTE`: per account, counted in
    /// the account's `RateLimiter` before a manager's command reaches the Registry.
    pub budgets: ManagerBudgets,
    /// The test suite's hooks: `None` wherever HTTPS is enforced, whatever the variables say,
    /// so no production path can reach them.
    pub test_hooks: Option<TestHooks>,
    /// `GITHUB_SECRET_SCANNING_KEYS`: GitHub's public key document; unset, the GitHub endpoint
    /// answers 404.
    pub github_keys: Option<String>,
    /// `WEBHOOK_URL`, `WEBHOOK_SIGNING_SECRET` and `WEBHOOK_RETRY_SECONDS`: unset URL or
    /// secret, no webhooks.
    pub webhooks: Option<Webhooks>,
}

/// Hooks for the e2e suites, read only where `REQUIRE_HTTPS="false"` (local development and
/// the test gateways). Each one makes the gateway misbehave on purpose, to prove a property.
pub struct TestHooks {
    /// `KEYGATE_TEST_FAIL_AFTER_WRITES`: admin commands fail after that many writes (they are
    /// applied all or nothing).
    pub fail_after_writes: Option<usize>,
    /// `KEYGATE_TEST_SKIP_LOCAL_APPLY`: the isolate serving an admin write does not apply it to
    /// its own cache, as if another isolate had served it (revocation reaches it by the log).
    pub skip_local_apply: bool,
    /// `KEYGATE_TEST_LOCATIONS`: `true` honours `X-Keygate-Test-Location`, so one local runtime
    /// serves several deployment locations (their own isolate caches, log mirrors and rate
    /// limiters).
    pub locations: bool,
}

impl Vars {
    /// The location a request is served from: the platform's `colo`, or where the test hooks
    /// allow it, the one `X-Keygate-Test-Location` names.
    pub fn location(&self, platform: Option<&str>, test_header: Option<&str>) -> Location {
        let test = self.test_hooks.as_ref().is_some_and(|h| h.locations);
        Location::serving(platform, test_header, test)
    }

    /// Whether this isolate applies an admin answer's edge changes to its own cache at once.
    pub fn applies_locally(&self) -> bool {
        !self.test_hooks.as_ref().is_some_and(|h| h.skip_local_apply)
    }
}

/// Where and how events are delivered.
pub struct Webhooks {
    pub url: String,
    pub secret: String,
    /// First retry delay of a failed delivery, doubling to an hour (default 5).
    pub first_retry_seconds: i64,
}

const DEFAULT_WEBHOOK_RETRY_SECONDS: i64 = 5;

fn number<T: std::str::FromStr + PartialOrd>(env: &Env, name: &str, min: T, default: T) -> T {
    text(env, name)
        .and_then(|v| v.trim().parse().ok())
        .filter(|n: &T| *n >= min)
        .unwrap_or(default)
}

/// A variable or secret, unless unset or blank.
fn text(env: &Env, name: &str) -> Option<String> {
    env.var(name)
        .ok()
        .map(|v| v.to_string())
        .or_else(|| env.secret(name).ok().map(|v| v.to_string()))
        .filter(|v| !v.trim().is_empty())
}

/// The tenant limit the Registry enforces (docs/admin-api.md): `MAX_KEYS_PER_ACCOUNT`. It
/// travels with each command to the Registry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub struct Limits {
    pub max_keys_per_account: usize,
}

static VARS: OnceLock<Vars> = OnceLock::new();

impl Vars {
    /// Read once per isolate: a deployment's variables and secrets do not change under a
    /// running isolate (a new version gets new isolates), and each read crosses into JS.
    pub fn get(env: &Env) -> &'static Vars {
        VARS.get_or_init(|| Self::from_env(env))
    }

    fn from_env(env: &Env) -> Self {
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
            limits: Limits {
                max_keys_per_account: number(
                    env,
                    "MAX_KEYS_PER_ACCOUNT",
                    1,
                    DEFAULT_MAX_KEYS_PER_ACCOUNT,
                ),
            },
            sandbox_idle_seconds: number(
                env,
                "SANDBOX_IDLE_SECONDS",
                1,
                keygate_sandbox::NAMED_SANDBOX_IDLE_SECONDS,
            ),
            sandbox_webhook_retry_seconds: number(
                env,
                "SANDBOX_WEBHOOK_RETRY_SECONDS",
                1,
                keygate_sandbox::WEBHOOK_FIRST_RETRY_SECONDS,
            ),
            budgets: ManagerBudgets {
                writes_per_minute: number(
                    env,
                    "MANAGER_WRITES_PER_MINUTE",
                    1,
                    DEFAULT_MANAGER_WRITES_PER_MINUTE,
                ),
                reads_per_minute: number(
                    env,
                    "MANAGER_READS_PER_MINUTE",
                    1,
                    DEFAULT_MANAGER_READS_PER_MINUTE,
                ),
            },
            test_hooks: (!settings.require_https).then(|| TestHooks {
                fail_after_writes: text(env, "KEYGATE_TEST_FAIL_AFTER_WRITES")
                    .and_then(|v| v.trim().parse().ok()),
                skip_local_apply: text(env, "KEYGATE_TEST_SKIP_LOCAL_APPLY").as_deref()
                    == Some("true"),
                locations: text(env, "KEYGATE_TEST_LOCATIONS").as_deref() == Some("true"),
            }),
            github_keys: text(env, "GITHUB_SECRET_SCANNING_KEYS"),
            webhooks: match (
                text(env, "WEBHOOK_URL"),
                text(env, "WEBHOOK_SIGNING_SECRET"),
            ) {
                (Some(url), Some(secret)) => Some(Webhooks {
                    url,
                    secret,
                    first_retry_seconds: text(env, "WEBHOOK_RETRY_SECONDS")
                        .and_then(|v| v.trim().parse().ok())
                        .filter(|&s: &i64| (1..=3600).contains(&s))
                        .unwrap_or(DEFAULT_WEBHOOK_RETRY_SECONDS),
                }),
                _ => None,
            },
        }
    }
}
