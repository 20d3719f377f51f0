//! One run: the deployment's state, the event loop, and what it counts.
//!
//! Requests are two Poisson streams merged with the event queue by time (they never enter it):
//! every request at the sampled locations, run in full through the isolate's `EdgeCache`, the
//! location tier and KV; and the rate-limited keys' requests at the other locations, which
//! only reach their limiter objects. Everything else runs for the whole deployment: every
//! isolate reads the log when its `SyncState` says it is due, every mirror polls, every admin
//! change goes through the Registry to every copy of the log.
//!
//! Isolates read the log as soon as it is due (as if a request were always waiting): the most
//! load the log can see, and the bound the docs state. At the sampled locations an isolate is
//! the core's `EdgeCache`; elsewhere its `SyncState` alone, since those isolates serve no
//! simulated request.

mod edge;
mod log;

use keygate_core::isolate::EdgeCache;
use keygate_core::ratelimit::{AccountWindows, Count, RateLimit};
use keygate_core::revocation::SyncState;

use crate::kv::Kv;
use crate::location_tier::LocationTier;
use crate::objects::{Kind, Object, Service};
use crate::params::{Params, RegistryLayout};
use crate::queue::{EventQueue, MS, Micros, SECOND};
use crate::records::ChangeKind;
use crate::rng::{IdMap, Rng, mix};
use crate::traffic::{Keys, Stream};

/// Unix milliseconds at the start of every run (the core's methods take unix time).
const EPOCH_MS: u64 = 1_700_000_000_000;

/// The core's time, in unix milliseconds, at simulated time `t`.
fn unix_ms(t: Micros) -> u64 {
    EPOCH_MS + t / MS
}

/// How long before measuring the isolates and mirrors outside the sample start.
const SHADOW_LEAD: Micros = 15 * SECOND;

/// Stream salts of the random draws.
const REQUESTS: u64 = 11;
const LATENCY: u64 = 12;
const ADMIN: u64 = 13;
const PHASES: u64 = 14;

#[derive(Debug, Clone, Copy)]
enum Event {
    /// An isolate's log read, started when it fell due, reaches its source; the reply takes
    /// this long back.
    SyncArrive(u32, Micros),
    /// The source answered: the generation it held, or `None` (overloaded).
    SyncReply(u32, Option<u64>),
    /// A mirror's alarm.
    MirrorDue(u32),
    /// A mirror's read reaches its copy of the log.
    MirrorArrive(u32, Micros),
    /// A mirror's read returned.
    MirrorReply(u32, Option<u64>),
    /// The next admin change is sent.
    AdminIssue,
    /// A Registry's index write reaches the directory.
    IndexArrive,
    /// An admin change reaches its Registry.
    RegistryArrive(u32),
    /// The Registry's append of a change reaches a copy of the log.
    AppendArrive(u32, u32),
}

enum Holder {
    /// At a sampled location: the core's whole cache.
    Full(Box<EdgeCache>),
    /// Elsewhere: the core's sync state alone.
    Shadow(SyncState),
}

struct Isolate {
    location: u32,
    /// The copy of the log it (or its mirror) reads.
    replica: usize,
    /// Generations applied: entries `0..gen` of its copy.
    generation: u64,
    started: bool,
    /// When its current (or last) log read started.
    attempted_at: Micros,
    holder: Holder,
}

struct Replica {
    object: Object,
    entries: Vec<String>,
    order: Vec<u32>,
    appended_at: Vec<Micros>,
    /// Change → its generation in this copy.
    position: IdMap<u32, u64>,
}

struct Mirror {
    object: Object,
    replica: usize,
    generation: u64,
    next_due: Micros,
}

struct Limiter {
    object: Object,
    windows: AccountWindows,
}

struct Change {
    kind: ChangeKind,
    key: u32,
    account: u32,
    committed: Option<Micros>,
    measured: bool,
    seen: u32,
    last_seen: Micros,
    sum_seen: f64,
    entry: String,
}

/// What a run counts while it measures.
#[derive(Debug, Default, Clone)]
pub(crate) struct Counts {
    pub(crate) sampled_requests: u64,
    pub(crate) fail_closed: u64,
    pub(crate) granted: u64,
    pub(crate) isolate_misses: u64,
    pub(crate) kv_reads: u64,
    pub(crate) kv_writes: u64,
    pub(crate) cache_reads: u64,
    pub(crate) cache_hits: u64,
    pub(crate) cache_untrusted: u64,
    pub(crate) cache_writes: u64,
    pub(crate) storage_wait: Micros,
    pub(crate) exposed_grants: u64,
    pub(crate) granted_after_apply: u64,
    pub(crate) not_refused_after_apply: u64,
    pub(crate) limiter_counted: u64,
    pub(crate) limiter_denied: u64,
    pub(crate) sync_refused: u64,
}

/// A run in progress.
pub(crate) struct Sim {
    pub(crate) p: Params,
    pub(crate) keys: Keys,
    full: Stream,
    limited: Stream,
    rng: Rng,
    latency: Rng,
    admin: Rng,
    queue: EventQueue<Event>,
    service: Service,
    pub(crate) warm: Micros,
    pub(crate) measure_end: Micros,
    end: Micros,
    pub(crate) locations: u32,
    pub(crate) per_location: u32,
    pub(crate) sampled: u32,
    isolates: Vec<Isolate>,
    replicas: Vec<Replica>,
    mirrors: Vec<Mirror>,
    tiers: Vec<LocationTier>,
    kv: Kv,
    limiters: IdMap<u64, Limiter>,
    limit: RateLimit,
    /// Each limited key's window in its limiter, made once.
    limit_counts: IdMap<u32, Count>,
    registries: IdMap<u32, Object>,
    directory: Object,
    changes: Vec<Change>,
    key_change: IdMap<u32, u32>,
    account_revision: IdMap<u32, u64>,
    pending: usize,
    pub(crate) counts: Counts,
}

fn micros(seconds: f64) -> Micros {
    (seconds.max(0.0) * SECOND as f64) as Micros
}

impl Sim {
    pub(crate) fn new(p: Params) -> Self {
        let keys = Keys::new(&p);
        let locations = p.locations.max(1) as u32;
        let per_location = p.isolates_per_location_scaled() as u32;
        let per_location_rps = p.rps() / f64::from(locations);
        let sampled = ((p.sampled_rps / per_location_rps).ceil() as u32).clamp(1, locations);
        let (full, limited) = keys.streams(sampled);
        let warm = micros(p.warmup());
        let measure_end = warm + micros(p.measure_s);
        let replicas = (0..p.log_replicas.max(1))
            .map(|r| Replica {
                object: Object::new(
                    Kind::Log,
                    (r * u64::from(locations) / p.log_replicas.max(1)) as u32,
                ),
                entries: vec![],
                order: vec![],
                appended_at: vec![],
                position: IdMap::default(),
            })
            .collect::<Vec<_>>();
        let copies = replicas.len();
        let mut phases = Rng::fork(p.seed, PHASES);
        let sync_ms = keygate_core::revocation::SYNC_INTERVAL_MS * MS;
        let mut queue = EventQueue::default();
        // What only has load to count starts shortly before measuring: the isolates and mirrors
        // outside the sample (their first log read takes the last PIN_MS of the log, as a new
        // isolate's does).
        let late = warm.saturating_sub(SHADOW_LEAD);
        let start = |location: u32| if location < sampled { 0 } else { late };
        let mut isolates = Vec::new();
        let mut first_reads = Vec::new();
        for location in 0..locations {
            for _ in 0..per_location {
                first_reads.push((
                    isolates.len() as u32,
                    start(location) + phases.below(sync_ms),
                ));
                isolates.push(Isolate {
                    location,
                    replica: location as usize % copies,
                    generation: 0,
                    started: false,
                    attempted_at: 0,
                    holder: if location < sampled {
                        Holder::Full(Box::default())
                    } else {
                        Holder::Shadow(SyncState::default())
                    },
                });
            }
        }
        let mut mirrors = Vec::new();
        if p.mirrors {
            let interval = micros(p.mirror_interval_ms / 1_000.0).max(1);
            for location in 0..locations {
                queue.push(
                    start(location) + phases.below(interval),
                    Event::MirrorDue(location),
                );
                mirrors.push(Mirror {
                    object: Object::new(Kind::Mirror, location),
                    replica: location as usize % copies,
                    generation: 0,
                    next_due: 0,
                });
            }
        }
        let tiers = if p.location_tier {
            (0..sampled).map(|_| LocationTier::default()).collect()
        } else {
            vec![]
        };
        let kv = Kv::new(
            p.seed,
            sampled as usize,
            micros(p.kv_propagation_max_s),
            micros(p.kv_cache_s),
        );
        let service = Service {
            per_request: micros(1.0 / p.do_capacity_rps.max(1e-3)).max(1),
            queue_limit: micros(p.do_queue_limit_ms / 1_000.0),
        };
        let limit = RateLimit {
            requests: p
                .limit_requests
                .clamp(1, u64::from(keygate_core::ratelimit::MAX_REQUESTS))
                as u32,
            period_seconds: p
                .limit_period_s
                .clamp(1, u64::from(keygate_core::ratelimit::MAX_PERIOD_SECONDS))
                as u32,
        };
        let mut sim = Self {
            keys,
            full,
            limited,
            rng: Rng::fork(p.seed, REQUESTS),
            latency: Rng::fork(p.seed, LATENCY),
            admin: Rng::fork(p.seed, ADMIN),
            queue,
            service,
            warm,
            measure_end,
            end: measure_end + micros(p.drain_s),
            locations,
            per_location,
            sampled,
            isolates,
            replicas,
            mirrors,
            tiers,
            kv,
            limiters: IdMap::default(),
            limit,
            limit_counts: IdMap::default(),
            registries: IdMap::default(),
            directory: Object::new(Kind::Directory, 0),
            changes: vec![],
            key_change: IdMap::default(),
            account_revision: IdMap::default(),
            pending: 0,
            counts: Counts::default(),
            p,
        };
        for (i, at) in first_reads {
            sim.start_sync(i, at);
        }
        let first = sim.admin_gap();
        sim.queue.push(first, Event::AdminIssue);
        sim
    }

    /// Whether `t` falls in the measured window.
    pub(crate) fn measuring(&self, t: Micros) -> bool {
        (self.warm..self.measure_end).contains(&t)
    }

    /// A round trip between two locations, drawn.
    fn round_trip(&mut self, from: u32, to: u32) -> Micros {
        let (lo, hi) = if from == to {
            (self.p.do_local_min_ms, self.p.do_local_max_ms)
        } else {
            (self.p.do_remote_min_ms, self.p.do_remote_max_ms)
        };
        micros(self.latency.between(lo, hi.max(lo)) / 1_000.0)
    }

    fn gap(&mut self, rate: f64) -> Micros {
        if rate <= 0.0 {
            return Micros::MAX / 2;
        }
        micros(self.rng.exp(1.0 / rate)).max(1)
    }

    fn admin_gap(&mut self) -> Micros {
        let rate = self.p.admin_changes_per_second;
        if rate <= 0.0 {
            return Micros::MAX / 2;
        }
        micros(self.admin.exp(1.0 / rate)).max(1)
    }

    /// Runs to the end.
    pub(crate) fn run(&mut self) {
        let rps = self.p.rps();
        let (full_rate, limited_rate) = (rps * self.full.share, rps * self.limited.share);
        let mut next_full = self.gap(full_rate);
        // Limited requests outside the sample only load their limiters: they start one limit
        // period before measuring, so that the windows are full when it starts.
        let period = u64::from(self.limit.period_seconds) * SECOND;
        let mut next_limited = self.warm.saturating_sub(period) + self.gap(limited_rate);
        loop {
            let next_event = self.queue.next_at().unwrap_or(Micros::MAX);
            let now = next_event.min(next_full).min(next_limited);
            if now >= self.end || (now >= self.measure_end && self.pending == 0) {
                break;
            }
            if next_event == now {
                if let Some((at, event)) = self.queue.pop() {
                    self.handle(at, event);
                }
            } else if next_full == now {
                if now < self.measure_end {
                    self.full_request(now);
                    next_full = now + self.gap(full_rate);
                } else {
                    next_full = Micros::MAX;
                }
            } else if now < self.measure_end {
                self.limited_request(now);
                next_limited = now + self.gap(limited_rate);
            } else {
                next_limited = Micros::MAX;
            }
        }
    }

    fn handle(&mut self, now: Micros, event: Event) {
        match event {
            Event::SyncArrive(i, back) => self.sync_arrive(now, i, back),
            Event::SyncReply(i, upto) => self.sync_reply(now, i, upto),
            Event::MirrorDue(l) => self.mirror_due(now, l),
            Event::MirrorArrive(l, back) => self.mirror_arrive(now, l, back),
            Event::MirrorReply(l, upto) => self.mirror_reply(now, l, upto),
            Event::AdminIssue => self.admin_issue(now),
            Event::IndexArrive => self.index_arrive(now),
            Event::RegistryArrive(c) => self.registry_arrive(now, c),
            Event::AppendArrive(c, r) => self.append_arrive(now, c, r),
        }
    }

    /// Where `account`'s Registry lives.
    fn registry_location(&self, account: u32) -> u32 {
        match self.p.registry {
            RegistryLayout::One => 0,
            RegistryLayout::PerAccount => {
                (mix(self.p.seed ^ 0x5e9, u64::from(account)) % u64::from(self.locations)) as u32
            }
        }
    }

    /// Every object, for the report.
    pub(crate) fn objects(&self) -> impl Iterator<Item = (&Object, String)> {
        let logs = self.replicas.iter().enumerate().map(|(i, r)| {
            (
                &r.object,
                format!("log copy {i} at location {}", r.object.location),
            )
        });
        let mirrors = self.mirrors.iter().map(|m| {
            (
                &m.object,
                format!("mirror at location {}", m.object.location),
            )
        });
        let limiters = self
            .limiters
            .iter()
            .map(|(id, l)| (&l.object, self.limiter_name(*id)));
        let registries = self.registries.iter().map(|(a, o)| {
            (
                o,
                match self.p.registry {
                    RegistryLayout::One => "the Registry".to_string(),
                    RegistryLayout::PerAccount => format!("registry of acct_{a}"),
                },
            )
        });
        let directory = (self.p.registry == RegistryLayout::PerAccount)
            .then(|| (&self.directory, "the directory".to_string()));
        logs.chain(mirrors)
            .chain(limiters)
            .chain(registries)
            .chain(directory)
    }

    /// Key revocations measured: for each, `(last isolate's delay, mean isolate's delay)` in
    /// microseconds, or `None` if some isolate had not applied it by the end of the run.
    pub(crate) fn visibility(&self) -> Vec<Option<(Micros, f64)>> {
        let total = self.isolates.len() as u32;
        self.changes
            .iter()
            .filter(|c| c.measured && c.kind.refuses())
            .map(|c| {
                let committed = c.committed?;
                (c.seen == total).then(|| {
                    (
                        c.last_seen.saturating_sub(committed),
                        c.sum_seen / f64::from(total.max(1)),
                    )
                })
            })
            .collect()
    }

    /// Isolates in the deployment.
    pub(crate) fn isolate_count(&self) -> usize {
        self.isolates.len()
    }

    /// The share of all requests simulated in full.
    pub(crate) fn sampled_share(&self) -> f64 {
        self.full.share
    }
}
