//! Every parameter of a run, with its default, in one table: `name=value` on the command line
//! sets any of them (`scaled.name=value` only for the scaled design's runs). The deployment and
//! the prices are those the retired `scripts/capacity.py` modelled.

use std::fmt;

/// Which Durable Object counts a rate-limited request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimiterScope {
    /// One object per account (what main runs: `AccountWindows` named by the account id).
    Account,
    /// One object per account and location: the account's windows, counted per location.
    AccountLocation,
    /// One object per rate-limited key.
    Key,
    /// One object per rate-limited key and location.
    KeyLocation,
}

/// How the system of record is laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegistryLayout {
    /// One `Registry` object for the deployment.
    One,
    /// One `Registry` per account, each writing its index changes to one directory object.
    PerAccount,
}

/// A value a parameter can take, read from its command-line spelling.
pub trait Value: Sized + fmt::Display {
    /// The value spelled `text`, if it is one.
    fn read(text: &str) -> Option<Self>;
}

impl Value for f64 {
    fn read(text: &str) -> Option<Self> {
        text.replace('_', "")
            .parse()
            .ok()
            .filter(|v: &f64| v.is_finite())
    }
}

impl Value for u64 {
    fn read(text: &str) -> Option<Self> {
        let text = text.replace('_', "");
        text.parse().ok().or_else(|| {
            let v: f64 = text.parse().ok()?;
            (v >= 0.0 && v.fract() == 0.0 && v < 1.8e19).then_some(v as u64)
        })
    }
}

impl Value for bool {
    fn read(text: &str) -> Option<Self> {
        match text {
            "true" | "1" | "on" => Some(true),
            "false" | "0" | "off" => Some(false),
            _ => None,
        }
    }
}

const SCOPES: [(&str, LimiterScope); 4] = [
    ("account", LimiterScope::Account),
    ("account_location", LimiterScope::AccountLocation),
    ("key", LimiterScope::Key),
    ("key_location", LimiterScope::KeyLocation),
];

impl Value for LimiterScope {
    fn read(text: &str) -> Option<Self> {
        SCOPES.iter().find(|(n, _)| *n == text).map(|(_, s)| *s)
    }
}

impl fmt::Display for LimiterScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = SCOPES
            .iter()
            .find(|(_, s)| s == self)
            .map_or("?", |(n, _)| n);
        f.write_str(name)
    }
}

impl Value for RegistryLayout {
    fn read(text: &str) -> Option<Self> {
        match text {
            "one" => Some(Self::One),
            "per_account" => Some(Self::PerAccount),
            _ => None,
        }
    }
}

impl fmt::Display for RegistryLayout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::One => "one",
            Self::PerAccount => "per_account",
        })
    }
}

macro_rules! params {
    ($( $(#[doc = $doc:literal])+ $name:ident : $ty:ty = $default:expr, )*) => {
        /// The parameters of one run. Defaults: the modelled deployment, the design before the scaling work.
        #[derive(Debug, Clone, PartialEq)]
        pub struct Params {
            $( $(#[doc = $doc])+ pub $name: $ty, )*
        }

        impl Default for Params {
            fn default() -> Self {
                Self { $( $name: $default, )* }
            }
        }

        impl Params {
            /// Every parameter's name, in the table's order.
            pub const NAMES: &'static [&'static str] = &[$( stringify!($name), )*];

            /// Sets the parameter `name` from its spelling `value`.
            pub fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
                match name {
                    $( stringify!($name) => {
                        self.$name = Value::read(value).ok_or_else(|| {
                            format!("{name}={value}: not a value of {name} (default {})", self.$name)
                        })?;
                        Ok(())
                    } )*
                    _ => Err(format!(
                        "unknown parameter {name}; known: {}",
                        Self::NAMES.join(", ")
                    )),
                }
            }

            /// `(name, what it is)` of every parameter, in the table's order.
            pub const DOCS: &'static [(&'static str, &'static str)] =
                &[$( (stringify!($name), concat!($($doc),+)), )*];

            /// `(name, value)` of every parameter, spelled as `set` reads it.
            pub fn pairs(&self) -> Vec<(&'static str, String)> {
                vec![$( (stringify!($name), self.$name.to_string()), )*]
            }
        }
    };
}

params! {
    /// Keys in the deployment.
    keys: u64 = 1_000_000,
    /// Accounts; each key belongs to one, drawn at random.
    accounts: u64 = 10_000,
    /// Edge requests per second, all locations together (before `traffic_scale`).
    requests_per_second: f64 = 50_000.0,
    /// Deployment locations.
    locations: u64 = 300,
    /// Isolates serving keygate per location (before `traffic_scale`).
    isolates_per_location: u64 = 8,
    /// Share of keys that make a request in any 10 s: with `busiest_key_rps`, it fixes the key
    /// popularity curve (Zipf–Mandelbrot, calibrated to both).
    active_key_share: f64 = 0.05,
    /// The busiest key's requests per second (before `traffic_scale`).
    busiest_key_rps: f64 = 200.0,
    /// Locations one key's traffic arrives at, in equal parts.
    locations_per_key: u64 = 3,
    /// Share of keys with a rate limit of their own (the busiest key always has one).
    limited_key_share: f64 = 0.10,
    /// A limited key's limit: requests per period.
    limit_requests: u64 = 1_000,
    /// A limited key's limit: the period, seconds.
    limit_period_s: u64 = 60,
    /// Admin commands per second that change edge records.
    admin_changes_per_second: f64 = 5.0,
    /// Share of admin changes that are account-wide (a write-through of every key of the
    /// account); the rest disable, delete or leak one key.
    account_change_share: f64 = 0.10,
    /// Multiplies requests/s, the busiest key's rate and the isolates per location (the same
    /// keys, each sending this many times more; the platform runs more isolates under load).
    traffic_scale: f64 = 1.0,
    /// Isolates read through a per-location Cache API tier before KV.
    location_tier: bool = false,
    /// Isolates read a mirror of the log in their location instead of the log itself.
    mirrors: bool = false,
    /// How often a mirror reads its copy of the log, milliseconds.
    mirror_interval_ms: f64 = 500.0,
    /// Copies of the log the Registry appends each change to (mirrors, or isolates without
    /// mirrors, read one each).
    log_replicas: u64 = 1,
    /// Which object counts a rate-limited request: account, account_location, key,
    /// key_location.
    limiter: LimiterScope = LimiterScope::Account,
    /// The system of record: one, or per_account (with a directory).
    registry: RegistryLayout = RegistryLayout::One,
    /// A Durable Object call within a location, round trip: fastest, ms.
    do_local_min_ms: f64 = 5.0,
    /// A Durable Object call within a location, round trip: slowest, ms.
    do_local_max_ms: f64 = 20.0,
    /// A Durable Object call to another location, round trip: fastest, ms.
    do_remote_min_ms: f64 = 50.0,
    /// A Durable Object call to another location, round trip: slowest, ms.
    do_remote_max_ms: f64 = 150.0,
    /// Requests per second one Durable Object serves (one at a time, first come first served).
    do_capacity_rps: f64 = 1_000.0,
    /// A request that would wait longer than this in an object's queue is refused (overloaded).
    do_queue_limit_ms: f64 = 1_000.0,
    /// A KV read: fastest, ms.
    kv_read_min_ms: f64 = 5.0,
    /// A KV read: slowest, ms.
    kv_read_max_ms: f64 = 50.0,
    /// Longest time a KV write takes to reach a location, seconds (uniform from 0).
    kv_propagation_max_s: f64 = 60.0,
    /// KV's read cache at a location, seconds (`cache_ttl` 30 is the least KV accepts).
    kv_cache_s: f64 = 30.0,
    /// A Cache API read: fastest, ms.
    cache_read_min_ms: f64 = 1.0,
    /// A Cache API read: slowest, ms.
    cache_read_max_ms: f64 = 3.0,
    /// USD per million Worker requests.
    price_requests_per_million: f64 = 0.30,
    /// USD per million CPU milliseconds.
    price_cpu_ms_per_million: f64 = 0.02,
    /// USD per million KV reads.
    price_kv_reads_per_million: f64 = 0.50,
    /// USD per million KV writes.
    price_kv_writes_per_million: f64 = 5.00,
    /// USD per million Durable Object requests.
    price_do_requests_per_million: f64 = 0.15,
    /// CPU milliseconds per edge request.
    cpu_ms_per_request: f64 = 0.25,
    /// Target: revocation visible at every isolate, 99th percentile, ms.
    target_visibility_p99_ms: f64 = 1_000.0,
    /// Target: revocation visible at every isolate, worst change, ms.
    target_visibility_max_ms: f64 = 1_500.0,
    /// Target: requests per second of the busiest Durable Object.
    target_do_rps: f64 = 500.0,
    /// Target: KV reads per edge request.
    target_kv_reads_per_request: f64 = 0.05,
    /// Target: USD per million edge requests.
    target_cost_per_million: f64 = 0.40,
    /// Seed of every random draw: the same seed and parameters give the same report.
    seed: u64 = 1,
    /// Simulated time before measuring, seconds; 0: the longest cache lifetime plus 60 s.
    warmup_s: f64 = 0.0,
    /// Simulated time measured, seconds.
    measure_s: f64 = 120.0,
    /// Simulated time after measuring, for the last changes to reach every isolate, seconds.
    drain_s: f64 = 20.0,
    /// Requests per second simulated in full (isolate cache, location tier, KV): whole
    /// locations are sampled until their traffic reaches this; every object sees all its load.
    sampled_rps: f64 = 2_500.0,
}

/// The two designs the report compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Design {
    /// The design before the scaling work (issue 22): isolate cache → KV; every isolate reads
    /// the one log; one limiter object per account; one Registry.
    Before,
    /// What main runs: isolate cache → location tier → KV; per-location mirrors of a
    /// replicated log; limiters per account and location; a Registry per account and a
    /// directory.
    Scaled,
}

impl Design {
    /// The design's name, as `name.parameter=value` prefixes it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Before => "before",
            Self::Scaled => "scaled",
        }
    }

    /// The parameters of this design at the modelled deployment.
    pub fn params(self) -> Params {
        let mut p = Params::default();
        if self == Self::Scaled {
            p.location_tier = true;
            p.mirrors = true;
            p.mirror_interval_ms = 250.0;
            p.log_replicas = 3;
            p.limiter = LimiterScope::AccountLocation;
            p.registry = RegistryLayout::PerAccount;
        }
        p
    }
}

impl Params {
    /// Applies `name=value` arguments in order. `design.name=value` applies only when running
    /// `design`.
    pub fn apply(&mut self, design: Design, args: &[String]) -> Result<(), String> {
        for arg in args {
            let (name, value) = arg
                .split_once('=')
                .ok_or_else(|| format!("{arg}: expected name=value"))?;
            let name = match name.split_once('.') {
                Some((prefix, rest)) if prefix == design.name() => rest,
                Some((prefix, rest)) if prefix == "before" || prefix == "scaled" => {
                    // Checked, then left to the other design.
                    self.clone().set(rest, value)?;
                    continue;
                }
                _ => name,
            };
            self.set(name, value)?;
        }
        Ok(())
    }

    /// Requests per second after `traffic_scale`.
    pub fn rps(&self) -> f64 {
        self.requests_per_second * self.traffic_scale
    }

    /// Isolates per location after `traffic_scale`.
    pub fn isolates_per_location_scaled(&self) -> u64 {
        ((self.isolates_per_location as f64 * self.traffic_scale).round() as u64).max(1)
    }

    /// The warm-up: `warmup_s`, or the longest cache lifetime (a location copy's is the
    /// core's `COPY_MAX_AGE_MS`) plus 60 s.
    pub fn warmup(&self) -> f64 {
        if self.warmup_s > 0.0 {
            return self.warmup_s;
        }
        let tier = if self.location_tier {
            keygate_core::isolate::COPY_MAX_AGE_MS as f64 / 1_000.0
        } else {
            0.0
        };
        tier.max(self.kv_cache_s).max(10.0) + 60.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_set_parameters_and_bad_ones_are_named() {
        let mut p = Params::default();
        let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        p.apply(
            Design::Before,
            &args(&[
                "keys=2_000",
                "locations=1e2",
                "limiter=key_location",
                "mirrors=true",
            ]),
        )
        .unwrap();
        assert_eq!(
            (p.keys, p.locations, p.limiter, p.mirrors),
            (2_000, 100, LimiterScope::KeyLocation, true)
        );
        for (bad, says) in [
            ("nope=1", "unknown parameter nope"),
            ("keys=many", "keys=many: not a value of keys"),
            ("keys", "expected name=value"),
            ("scaled.keys=x", "keys=x"),
        ] {
            let err = p.apply(Design::Before, &args(&[bad])).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn a_prefixed_argument_applies_to_its_design_only() {
        let args = vec![
            "scaled.mirror_interval_ms=100".to_string(),
            "seed=9".to_string(),
        ];
        let mut before = Design::Before.params();
        before.apply(Design::Before, &args).unwrap();
        let mut scaled = Design::Scaled.params();
        scaled.apply(Design::Scaled, &args).unwrap();
        assert_eq!(before.mirror_interval_ms, 500.0);
        assert_eq!(scaled.mirror_interval_ms, 100.0);
        assert_eq!((before.seed, scaled.seed), (9, 9));
    }

    #[test]
    fn every_parameter_reads_back_what_it_prints() {
        let p = Design::Scaled.params();
        let mut q = Params {
            keys: 1,
            ..Params::default()
        };
        for (name, value) in p.pairs() {
            q.set(name, &value).unwrap();
        }
        assert_eq!(p, q);
        assert_eq!(p.pairs().len(), Params::NAMES.len());
    }
}
