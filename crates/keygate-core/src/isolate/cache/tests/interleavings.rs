//! The tiers under any interleaving: several isolates of one location share one modelled
//! Cache API, read one log at different times, take KV answers that may be stale, and write
//! copies that may arrive late, out of order, or never. Small bounds make pins overflow into
//! markers and markers into a closed KV.

use super::property::{Kv, Revocation, is_old, kv, revocation};
use super::*;
use proptest::prelude::*;

const ISOLATES: usize = 3;
const PINS: usize = 3;
const MARKERS: usize = 4;
/// How long the log keeps entries (`revocations.rs`): a reader further behind is reset.
const KEEP_MS: u64 = 10 * 60 * 1_000;

/// The revocation log as the `Revocations` object answers it; generation `n` is entry `n`.
#[derive(Default)]
struct Log {
    /// When each entry was appended, and its body.
    entries: Vec<(u64, String)>,
}

/// What a read of the log answers.
struct Changes {
    generation: u64,
    reset: bool,
    generations: Vec<u64>,
    bodies: Vec<String>,
}

impl Log {
    fn append(&mut self, body: String, now: u64) -> u64 {
        self.entries.push((now, body));
        self.entries.len() as u64
    }

    /// `since_in` of `crates/keygate-worker/src/revocations.rs`.
    fn since(&self, generation: Option<u64>, now: u64) -> Changes {
        let latest = self.entries.len() as u64;
        let kept = |at: u64| at + KEEP_MS >= now;
        let oldest = (1..=latest)
            .find(|g| kept(self.entries[*g as usize - 1].0))
            .unwrap_or(latest);
        let reset = generation.is_some_and(|g| g + 1 < oldest && g < latest);
        let recent = |g: u64| self.entries[g as usize - 1].0 + PIN_MS >= now;
        let generations: Vec<u64> = match generation {
            Some(from) if !reset => (from + 1..=latest).collect(),
            _ => (1..=latest).filter(|g| recent(*g)).collect(),
        };
        Changes {
            generation: latest,
            reset,
            bodies: generations
                .iter()
                .map(|g| self.entries[*g as usize - 1].1.clone())
                .collect(),
            generations,
        }
    }
}

struct Isolate {
    cache: EdgeCache,
    /// Whether it has applied the revocation (from the log or its own admin answer).
    applied: bool,
    /// A request that read the location's copy and has not taken it yet.
    reading: Option<Option<String>>,
}

impl Isolate {
    fn new() -> Self {
        Self {
            cache: EdgeCache::with_capacity(PINS, MARKERS),
            applied: false,
            reading: None,
        }
    }
}

struct World {
    now: u64,
    log: Log,
    revocation: Revocation,
    /// The revocation's generation and when the Registry made it (KV may serve the old record
    /// for `PIN_MS` after).
    revoked: Option<(u64, u64)>,
    /// The location's Cache API: path → body.
    location: HashMap<String, String>,
    /// Puts the isolates started that have not landed yet.
    in_flight: Vec<LocationWrite>,
    isolates: Vec<Isolate>,
}

#[derive(Debug, Clone)]
enum Event {
    /// The Registry revokes the key (once): appended to the log, and applied at once by the
    /// isolate that served the admin command, if it was one of these.
    Revoke {
        served_by: Option<usize>,
    },
    /// Another key changes: pins and markers fill up.
    Other {
        n: usize,
        served_by: Option<usize>,
    },
    /// An entry no isolate of this version can read.
    Unreadable,
    /// An isolate reads the log.
    Sync(usize),
    /// A request: the isolate's tiers, the location's copy as it is now, KV.
    Lookup(usize, Kv),
    /// A request asks the isolate's tiers, then reads the location's copy now and takes it
    /// later.
    StartRead(usize),
    FinishRead(usize, Kv),
    /// A put lands (any of those in flight: late, out of order), all of them, or is lost.
    Deliver(usize),
    DeliverAll,
    Lose(usize),
    /// The Cache API evicts the copy.
    Evict,
    /// The isolate is replaced by a new one.
    Restart(usize),
    Wait(u64),
}

fn event() -> impl Strategy<Value = Event> {
    let isolate = 0..ISOLATES;
    let served_by = prop::option::of(0..ISOLATES);
    prop_oneof![
        1 => served_by.clone().prop_map(|served_by| Event::Revoke { served_by }),
        2 => (2..12usize, served_by).prop_map(|(n, served_by)| Event::Other { n, served_by }),
        1 => Just(Event::Unreadable),
        7 => isolate.clone().prop_map(Event::Sync),
        6 => (isolate.clone(), kv()).prop_map(|(i, kv)| Event::Lookup(i, kv)),
        2 => isolate.clone().prop_map(Event::StartRead),
        2 => (isolate.clone(), kv()).prop_map(|(i, kv)| Event::FinishRead(i, kv)),
        4 => any::<usize>().prop_map(Event::Deliver),
        1 => Just(Event::DeliverAll),
        1 => any::<usize>().prop_map(Event::Lose),
        1 => Just(Event::Evict),
        1 => isolate.prop_map(Event::Restart),
        5 => prop_oneof![0..1_000u64, 0..CACHE_TTL_MS + 1_000, 0..PIN_MS / 2]
            .prop_map(Event::Wait),
    ]
}

impl World {
    fn new(revocation: Revocation) -> Self {
        let mut world = Self {
            now: T0,
            log: Log::default(),
            revocation,
            revoked: None,
            location: HashMap::new(),
            in_flight: Vec::new(),
            isolates: (0..ISOLATES).map(|_| Isolate::new()).collect(),
        };
        for i in 0..ISOLATES {
            world.sync(i);
        }
        world
    }

    fn path() -> String {
        location_path(&hash(1))
    }

    /// What KV answers for the key now: before the revocation its record; after, the old one
    /// when `Kv::Stale` asks for it within `PIN_MS`, else the new one.
    fn kv_text(&self, kv: &Kv) -> Option<String> {
        match (kv, self.revoked) {
            (Kv::Missing, _) => None,
            (_, None) => Some(json(&record())),
            (Kv::Stale, Some((_, at))) if self.now < at + PIN_MS => Some(json(&record())),
            (_, Some(_)) => self.revocation.fresh(),
        }
    }

    fn sync(&mut self, i: usize) {
        let now = self.now;
        let isolate = &mut self.isolates[i];
        let from = isolate.cache.begin_sync(now);
        let changes = self.log.since(from, now);
        isolate
            .cache
            .synced(changes.generation, changes.reset, &changes.bodies, now);
        if let Some((generation, _)) = self.revoked
            && changes.generations.contains(&generation)
        {
            isolate.applied = true;
        }
    }

    /// The rest of a lookup once the isolate holds nothing: the location's `copy`, then KV.
    fn take(&mut self, i: usize, copy: Option<String>, kv: &Kv) -> Option<Rc<PreparedRecord>> {
        let text = self.kv_text(kv);
        let cache = &mut self.isolates[i].cache;
        match cache.accept_location(&hash(1), copy.as_deref(), self.now) {
            Ok(Located::Record(record)) => Some(record),
            Ok(Located::Missing) | Err(_) => None,
            Ok(Located::Miss) => cache
                .accept(&hash(1), text.as_deref(), self.now)
                .ok()
                .flatten(),
        }
    }

    fn lookup(&mut self, i: usize, kv: &Kv) -> Option<Rc<PreparedRecord>> {
        match self.isolates[i].cache.held(&hash(1), self.now) {
            Ok(Held::Record(record)) => Some(record),
            Ok(Held::Missing) | Err(_) => None,
            Ok(Held::Nothing) => {
                let copy = self.location.get(&Self::path()).cloned();
                self.take(i, copy, kv)
            }
        }
    }

    /// Plays `event`; returns the isolate that answered a request and what it answered.
    fn play(&mut self, event: Event) -> Option<(usize, Option<Rc<PreparedRecord>>)> {
        let now = self.now;
        let answered = match event {
            Event::Revoke { served_by } => {
                if self.revoked.is_none() {
                    let update = self.revocation.update();
                    let body = serde_json::to_string(&vec![update.clone()]).unwrap();
                    self.revoked = Some((self.log.append(body, now), now));
                    if let Some(i) = served_by {
                        self.isolates[i].cache.apply(vec![update], now);
                        self.isolates[i].applied = true;
                    }
                }
                None
            }
            Event::Other { n, served_by } => {
                let update = key_update(n, Some(disabled()));
                let body = serde_json::to_string(&vec![update.clone()]).unwrap();
                self.log.append(body, now);
                if let Some(i) = served_by {
                    self.isolates[i].cache.apply(vec![update], now);
                }
                None
            }
            Event::Unreadable => {
                self.log.append(r#"[{"scope":"new"}]"#.to_string(), now);
                None
            }
            Event::Sync(i) => {
                self.sync(i);
                None
            }
            Event::Lookup(i, kv) => Some((i, self.lookup(i, &kv))),
            // As every request does, it asks the isolate first: one that has not read the log
            // for too long refuses (503) before it reads any tier, and one that holds the key
            // answers from its own tiers.
            Event::StartRead(i) => match self.isolates[i].cache.held(&hash(1), now) {
                Ok(Held::Nothing) => {
                    self.isolates[i].reading = Some(self.location.get(&Self::path()).cloned());
                    None
                }
                Ok(Held::Record(record)) => Some((i, Some(record))),
                Ok(Held::Missing) | Err(_) => Some((i, None)),
            },
            // A real read of the location takes milliseconds; the model lets any events pass
            // meanwhile. One that outlives the isolate's view of the log stands for a request
            // no real isolate would still be serving: it fails closed, as the isolate's next
            // request does.
            Event::FinishRead(i, kv) => {
                let copy = self.isolates[i].reading.take();
                let fresh = self.isolates[i].cache.check_fresh(now).is_ok();
                copy.map(|copy| (i, if fresh { self.take(i, copy, &kv) } else { None }))
            }
            Event::Deliver(k) => {
                if !self.in_flight.is_empty() {
                    let put = self.in_flight.remove(k % self.in_flight.len());
                    self.location.insert(put.path, put.body);
                }
                None
            }
            Event::DeliverAll => {
                for put in self.in_flight.drain(..) {
                    self.location.insert(put.path, put.body);
                }
                None
            }
            Event::Lose(k) => {
                if !self.in_flight.is_empty() {
                    self.in_flight.remove(k % self.in_flight.len());
                }
                None
            }
            Event::Evict => {
                self.location.clear();
                None
            }
            Event::Restart(i) => {
                self.isolates[i] = Isolate::new();
                self.sync(i);
                None
            }
            Event::Wait(ms) => {
                self.now += ms;
                None
            }
        };
        for isolate in &mut self.isolates {
            let puts = isolate.cache.take_location_writes(usize::MAX, self.now);
            self.in_flight.extend(puts);
        }
        answered
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// Once an isolate has applied the revocation, no request it answers gets the old record:
    /// not from its own tiers, not from a location copy any isolate wrote (late, stale or
    /// renewed), not from KV, whatever order the isolates read the log, take answers and
    /// write copies in, and however full its pins and markers are.
    #[test]
    fn a_revoked_record_never_comes_back_through_any_tier(
        revocation in revocation(),
        events in prop::collection::vec(event(), 1..150),
    ) {
        let mut world = World::new(revocation);
        for (step, event) in events.into_iter().enumerate() {
            let played = format!("{event:?}");
            if let Some((i, Some(record))) = world.play(event) {
                prop_assert!(
                    !(world.isolates[i].applied && is_old(&record)),
                    "{revocation:?}: isolate {i} answered the old record at step {step} \
                     ({played}), +{} ms, {} ms after the revocation",
                    world.now - T0,
                    world.revoked.map_or(0, |(_, at)| world.now - at),
                );
            }
        }
    }
}
