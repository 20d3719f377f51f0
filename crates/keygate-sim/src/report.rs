//! What a run found, as a value the tests read and a markdown table the binary prints.

use std::collections::BTreeMap;

use keygate_core::isolate::CAPACITY;
use keygate_core::revocation::PIN_MS;

use crate::objects::Kind;
use crate::params::Params;
use crate::queue::{MS, SECOND};
use crate::sim::Sim;

/// The load of one kind of Durable Object.
#[derive(Debug, Clone, PartialEq)]
pub struct KindLoad {
    /// The kind.
    pub kind: Kind,
    /// Objects of the kind that received a request.
    pub objects: usize,
    /// Requests per second, all of them together.
    pub total_rps: f64,
    /// Requests per second of the busiest.
    pub busiest_rps: f64,
    /// The busiest, by name.
    pub busiest: String,
    /// Share of the kind's requests refused as overloaded.
    pub refused_share: f64,
}

/// How long a key revocation takes to be refused everywhere, in milliseconds, over the changes
/// measured: from the Registry's commit to the moment the last isolate applied it.
#[derive(Debug, Clone, PartialEq)]
pub struct Visibility {
    /// Key revocations measured.
    pub changes: usize,
    /// Of those, not applied by every isolate when the run ended.
    pub not_everywhere: usize,
    /// Median of the last isolate's delay.
    pub p50_ms: f64,
    /// 99th percentile of the last isolate's delay.
    pub p99_ms: f64,
    /// Worst last isolate's delay.
    pub max_ms: f64,
    /// Mean delay at one isolate.
    pub mean_isolate_ms: f64,
}

/// Monthly-bill shares, in USD per million edge requests.
#[derive(Debug, Clone, PartialEq)]
pub struct Cost {
    /// Worker requests.
    pub requests: f64,
    /// CPU time.
    pub cpu: f64,
    /// KV reads.
    pub kv_reads: f64,
    /// KV writes.
    pub kv_writes: f64,
    /// Durable Object requests.
    pub durable_objects: f64,
    /// All of them.
    pub total: f64,
}

/// A limit, and how close the run came to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit {
    /// What is limited.
    pub name: String,
    /// The run's value.
    pub value: f64,
    /// The limit.
    pub limit: f64,
}

impl Limit {
    /// `value / limit`: above 1, the limit is passed.
    pub fn ratio(&self) -> f64 {
        if self.limit > 0.0 {
            self.value / self.limit
        } else {
            f64::INFINITY
        }
    }
}

/// One run's findings.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The run's parameters.
    pub params: Params,
    /// Isolates in the deployment.
    pub isolates: usize,
    /// Locations simulated in full (the first ones).
    pub sampled_locations: u32,
    /// Their share of all requests.
    pub sampled_share: f64,
    /// Requests simulated in full while measuring.
    pub sampled_requests: u64,
    /// The popularity curve's exponent and offset.
    pub curve: (f64, f64),
    /// Revocation visibility.
    pub visibility: Visibility,
    /// Requests a sampled isolate granted for a key whose revocation it had already applied:
    /// must be 0.
    pub granted_after_apply: u64,
    /// Revocations a sampled isolate applied and its cache still did not refuse: must be 0.
    pub not_refused_after_apply: u64,
    /// Requests granted for a key already revoked in the Registry, before the isolate applied
    /// the revocation (the window the bound is about).
    pub exposed_grants: u64,
    /// Share of sampled requests refused because the isolate could not read the log (503).
    pub fail_closed_share: f64,
    /// Share of limited requests the limiter refused (429): per-location windows each grant
    /// the key's limit.
    pub limited_refused_share: f64,
    /// Load by kind of Durable Object.
    pub loads: Vec<KindLoad>,
    /// Isolate cache misses per edge request.
    pub isolate_misses_per_request: f64,
    /// KV reads per edge request.
    pub kv_reads_per_request: f64,
    /// KV writes per second.
    pub kv_writes_per_second: f64,
    /// Durable Object requests per edge request.
    pub do_requests_per_request: f64,
    /// Cache API reads per edge request.
    pub cache_reads_per_request: f64,
    /// Cache API writes per edge request.
    pub cache_writes_per_request: f64,
    /// Share of Cache API reads that were trusted hits.
    pub cache_hit_share: f64,
    /// Share of Cache API reads that found an entry the stamp rule refused.
    pub cache_untrusted_share: f64,
    /// Mean wait for the tier and KV per edge request, ms.
    pub storage_wait_ms: f64,
    /// The bill per million edge requests.
    pub cost: Cost,
    /// Every limit checked, the run's value against it.
    pub limits: Vec<Limit>,
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

impl Report {
    pub(crate) fn of(sim: &Sim) -> Self {
        let p = sim.p.clone();
        let seconds = (sim.measure_end - sim.warm) as f64 / SECOND as f64;
        let c = &sim.counts;
        let sampled = c.sampled_requests.max(1) as f64;
        let edge_requests = p.rps() * seconds;
        let mut loads: BTreeMap<Kind, KindLoad> = BTreeMap::new();
        let mut do_requests = 0u64;
        for (object, name) in sim.objects() {
            do_requests += object.offered;
            let rps = object.offered as f64 / seconds;
            let load = loads.entry(object.kind).or_insert_with(|| KindLoad {
                kind: object.kind,
                objects: 0,
                total_rps: 0.0,
                busiest_rps: -1.0,
                busiest: String::new(),
                refused_share: 0.0,
            });
            load.objects += usize::from(object.offered > 0);
            load.total_rps += rps;
            load.refused_share += object.refused as f64 / seconds;
            if rps > load.busiest_rps || (rps == load.busiest_rps && name < load.busiest) {
                load.busiest_rps = rps;
                load.busiest = name;
            }
        }
        let loads: Vec<KindLoad> = loads
            .into_values()
            .map(|mut l| {
                l.refused_share = if l.total_rps > 0.0 {
                    l.refused_share / l.total_rps
                } else {
                    0.0
                };
                l
            })
            .collect();
        let mut last: Vec<f64> = vec![];
        let mut mean = 0.0;
        let measured = sim.visibility();
        for (delay, mean_delay) in measured.iter().flatten() {
            last.push(*delay as f64 / MS as f64);
            mean += mean_delay / MS as f64;
        }
        last.sort_by(f64::total_cmp);
        let visibility = Visibility {
            changes: measured.len(),
            not_everywhere: measured.iter().filter(|m| m.is_none()).count(),
            p50_ms: percentile(&last, 0.50),
            p99_ms: percentile(&last, 0.99),
            max_ms: last.last().copied().unwrap_or(0.0),
            mean_isolate_ms: mean / last.len().max(1) as f64,
        };
        let kv_reads_per_request = c.kv_reads as f64 / sampled;
        let kv_writes_per_second = c.kv_writes as f64 / seconds;
        let do_requests_per_request = do_requests as f64 / edge_requests;
        let per_million = |price: f64, per_request: f64| price * per_request;
        let requests = p.price_requests_per_million;
        let cpu = per_million(p.price_cpu_ms_per_million, p.cpu_ms_per_request);
        let kv_reads = per_million(p.price_kv_reads_per_million, kv_reads_per_request);
        let kv_writes = per_million(
            p.price_kv_writes_per_million,
            kv_writes_per_second / p.rps(),
        );
        let durable_objects = per_million(p.price_do_requests_per_million, do_requests_per_request);
        let cost = Cost {
            requests,
            cpu,
            kv_reads,
            kv_writes,
            durable_objects,
            total: requests + cpu + kv_reads + kv_writes + durable_objects,
        };
        let mut report = Self {
            isolates: sim.isolate_count(),
            sampled_locations: sim.sampled,
            sampled_share: sim.sampled_share(),
            sampled_requests: c.sampled_requests,
            curve: (sim.keys.curve.exponent, sim.keys.curve.offset),
            granted_after_apply: c.granted_after_apply,
            not_refused_after_apply: c.not_refused_after_apply,
            exposed_grants: c.exposed_grants,
            fail_closed_share: c.fail_closed as f64 / sampled,
            limited_refused_share: c.limiter_denied as f64 / c.limiter_counted.max(1) as f64,
            isolate_misses_per_request: c.isolate_misses as f64 / sampled,
            kv_reads_per_request,
            kv_writes_per_second,
            do_requests_per_request,
            cache_reads_per_request: c.cache_reads as f64 / sampled,
            cache_writes_per_request: c.cache_writes as f64 / sampled,
            cache_hit_share: c.cache_hits as f64 / c.cache_reads.max(1) as f64,
            cache_untrusted_share: c.cache_untrusted as f64 / c.cache_reads.max(1) as f64,
            storage_wait_ms: c.storage_wait as f64 / MS as f64 / sampled,
            cost,
            visibility,
            loads,
            limits: vec![],
            params: p,
        };
        report.limits = report.checked_limits();
        report
    }

    /// The busiest Durable Object: its kind's load.
    pub fn busiest(&self) -> Option<&KindLoad> {
        self.loads
            .iter()
            .max_by(|a, b| a.busiest_rps.total_cmp(&b.busiest_rps))
    }

    fn checked_limits(&self) -> Vec<Limit> {
        let p = &self.params;
        let limit = |name: String, value: f64, limit: f64| Limit { name, value, limit };
        let mut limits = vec![
            limit(
                "revocation visible everywhere, p99 (ms)".into(),
                self.visibility.p99_ms,
                p.target_visibility_p99_ms,
            ),
            limit(
                "revocation visible everywhere, max (ms)".into(),
                self.visibility.max_ms,
                p.target_visibility_max_ms,
            ),
            limit(
                "KV reads per edge request".into(),
                self.kv_reads_per_request,
                p.target_kv_reads_per_request,
            ),
            limit(
                "cost per million requests (USD)".into(),
                self.cost.total,
                p.target_cost_per_million,
            ),
            limit(
                "log changes within PIN_MS against an isolate's pins (CAPACITY)".into(),
                p.admin_changes_per_second * PIN_MS as f64 / 1_000.0,
                CAPACITY as f64,
            ),
        ];
        for load in &self.loads {
            limits.push(limit(
                format!("busiest {} (req/s; {})", load.kind, load.busiest),
                load.busiest_rps,
                p.target_do_rps,
            ));
        }
        limits
    }

    /// The limits the run passed, worst first.
    pub fn exceeded(&self) -> Vec<&Limit> {
        let mut out: Vec<&Limit> = self.limits.iter().filter(|l| l.ratio() > 1.0).collect();
        out.sort_by(|a, b| b.ratio().total_cmp(&a.ratio()));
        out
    }

    /// The limit the run is closest to without passing it.
    pub fn next_limit(&self) -> Option<&Limit> {
        self.limits
            .iter()
            .filter(|l| l.ratio() <= 1.0)
            .max_by(|a, b| a.ratio().total_cmp(&b.ratio()))
    }

    /// Whether every target (visibility, busiest object, KV reads, cost) is met.
    pub fn targets_met(&self) -> bool {
        self.exceeded().is_empty() && self.visibility.not_everywhere == 0
    }
}
