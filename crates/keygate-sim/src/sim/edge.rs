//! The edge's read path and its rate limiter, per request: the isolate's `EdgeCache` (the
//! core's `held`), then the location's copy (`accept_location`), then KV (`accept`), and the
//! location writes the core queued put into the location's store; the decision on the key's state
//! (the core's `key_state`, step `state` of the pipeline); and for a limited key the call to its
//! limiter object, whose windows are the core's `AccountWindows`.

use std::rc::Rc;

use keygate_core::isolate::{Held, Located, MAX_PENDING_WRITES, location_path};
use keygate_core::key_state;
use keygate_core::policy::PreparedRecord;
use keygate_core::ratelimit::{AccountWindows, Count, RateLimit};

use super::{Holder, Limiter, Sim, unix_ms};
use crate::objects::{Admission, Kind, Object};
use crate::params::LimiterScope;
use crate::queue::{MS, Micros};
use crate::records;

/// Bits of a limiter's id: the scope's subject, and the location when the scope has one.
const LOCATION_BITS: u32 = 16;

impl Sim {
    /// `key`'s own limit, if it has one.
    pub(super) fn key_limit(&self, key: u32) -> Option<RateLimit> {
        self.keys.limited(key).then_some(self.limit)
    }

    /// The text of `key`'s record at `version`, as KV or the tier hold it.
    pub(super) fn kv_text(&self, key: u32, version: u8) -> Option<String> {
        let change = self
            .key_change
            .get(&key)
            .map(|c| &self.changes[*c as usize])
            .and_then(|c| Some((c.kind, (unix_ms(c.committed?) / 1_000) as i64)));
        let record = records::record(
            key,
            self.keys.account(key),
            self.key_limit(key),
            version,
            change,
        );
        records::text(record.as_ref())
    }

    /// Whether `key` is revoked in the system of record at `now`.
    fn revoked(&self, key: u32, now: Micros) -> Option<u32> {
        let c = *self.key_change.get(&key)?;
        self.changes[c as usize]
            .committed
            .is_some_and(|at| at <= now)
            .then_some(c)
    }

    /// One of `key`'s locations that `side` takes (given the number of sampled locations),
    /// drawn evenly.
    fn pick_location(&mut self, key: u32, side: impl Fn(u32, u32) -> bool) -> u32 {
        let sampled = self.sampled;
        let locations = self.keys.locations(key);
        let n = locations.iter().filter(|l| side(**l, sampled)).count() as u64;
        let pick = self.rng.below(n.max(1)) as usize;
        locations
            .iter()
            .filter(|l| side(**l, sampled))
            .nth(pick)
            .copied()
            .unwrap_or(0)
    }

    /// One request at a sampled location, run in full.
    pub(super) fn full_request(&mut self, now: Micros) {
        let Some(key) = self.full.draw(&mut self.rng) else {
            return;
        };
        let location = self.pick_location(key, |l, sampled| l < sampled);
        let i = (location * self.per_location + self.rng.below(u64::from(self.per_location)) as u32)
            as usize;
        let measuring = self.measuring(now);
        self.counts.sampled_requests += u64::from(measuring);
        let now_ms = unix_ms(now);
        let hash = records::key_hash(key);
        let Holder::Full(cache) = &self.isolates[i].holder else {
            return;
        };
        let held = match cache.held(&hash, now_ms) {
            Ok(held) => held,
            Err(_) => {
                self.counts.fail_closed += u64::from(measuring);
                return;
            }
        };
        let record = match held {
            Held::Record(record) => Some(record),
            Held::Missing => None,
            Held::Nothing => {
                self.counts.isolate_misses += u64::from(measuring);
                match self.read_through(i, key, now) {
                    Ok(record) => record,
                    Err(()) => return,
                }
            }
        };
        let now_s = (now_ms / 1_000) as i64;
        let granted = record
            .as_ref()
            .is_some_and(|r| key_state(&r.key, &r.account, now_s).is_ok());
        if !granted {
            return;
        }
        self.counts.granted += u64::from(measuring);
        if let Some(c) = self.revoked(key, now) {
            let applied = self.isolates[i].generation
                >= self.replicas[self.isolates[i].replica]
                    .position
                    .get(&c)
                    .copied()
                    .unwrap_or(u64::MAX);
            if measuring {
                self.counts.exposed_grants += 1;
                self.counts.granted_after_apply += u64::from(applied);
            }
        }
        if self.keys.limited(key) {
            self.limiter_call(key, location, now);
        }
    }

    /// The isolate holds nothing for `key`: the location's copy goes to the core's
    /// `accept_location`; on a miss KV is read, and its answer goes through `accept` (a pin wins
    /// over it). What either call queued for the location is put.
    fn read_through(
        &mut self,
        i: usize,
        key: u32,
        now: Micros,
    ) -> Result<Option<Rc<PreparedRecord>>, ()> {
        let measuring = self.measuring(now);
        let location = self.isolates[i].location as usize;
        let hash = records::key_hash(key);
        let now_ms = unix_ms(now);
        if let Some(tier) = self.tiers.get(location) {
            let wait = self
                .latency
                .between(self.p.cache_read_min_ms, self.p.cache_read_max_ms);
            if measuring {
                self.counts.cache_reads += 1;
                self.counts.storage_wait += (wait * MS as f64) as Micros;
            }
            let body = tier.get(&location_path(&hash), now);
            let found = body.is_some();
            let Holder::Full(cache) = &mut self.isolates[i].holder else {
                return Err(());
            };
            let located = cache.accept_location(&hash, body, now_ms);
            let answer = match located {
                Ok(Located::Record(record)) => Some(Ok(Some(record))),
                Ok(Located::Missing) => Some(Ok(None)),
                Ok(Located::Miss) => None,
                Err(_) => Some(Err(())),
            };
            match &answer {
                Some(Ok(_)) => self.counts.cache_hits += u64::from(measuring),
                None if found => self.counts.cache_untrusted += u64::from(measuring),
                _ => {}
            }
            if let Some(answer) = answer {
                self.put_location_writes(i, now);
                return answer;
            }
        }
        let wait = self
            .latency
            .between(self.p.kv_read_min_ms, self.p.kv_read_max_ms);
        if measuring {
            self.counts.kv_reads += 1;
            self.counts.storage_wait += (wait * MS as f64) as Micros;
        }
        let version = self.kv.read(location as u32, key, now);
        let text = self.kv_text(key, version);
        let Holder::Full(cache) = &mut self.isolates[i].holder else {
            return Err(());
        };
        let record = cache.accept(&hash, text.as_deref(), now_ms).map_err(|_| ());
        self.put_location_writes(i, now);
        record
    }

    /// Puts what isolate `i`'s cache queued for its location (the core's
    /// `take_location_writes`), in the order of their paths; without a location tier the
    /// queue is left to the core's bound.
    pub(super) fn put_location_writes(&mut self, i: usize, now: Micros) {
        let location = self.isolates[i].location as usize;
        let measuring = self.measuring(now);
        let (Some(tier), Holder::Full(cache)) =
            (self.tiers.get_mut(location), &mut self.isolates[i].holder)
        else {
            return;
        };
        if !cache.has_location_writes() {
            return;
        }
        let mut writes = cache.take_location_writes(MAX_PENDING_WRITES, unix_ms(now));
        writes.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        self.counts.cache_writes += if measuring { writes.len() as u64 } else { 0 };
        for write in writes {
            tier.put(write, now);
        }
    }

    /// A rate-limited key's request at a location outside the sample: only its limiter call
    /// is simulated (a revoked key's requests are refused before they are counted).
    pub(super) fn limited_request(&mut self, now: Micros) {
        let Some(key) = self.limited.draw(&mut self.rng) else {
            return;
        };
        let location = self.pick_location(key, |l, sampled| l >= sampled);
        if self.revoked(key, now).is_none() {
            self.limiter_call(key, location, now);
        }
    }

    fn limiter_id(&self, key: u32, location: u32) -> u64 {
        let account = u64::from(self.keys.account(key));
        let key = u64::from(key);
        let location = u64::from(location);
        match self.p.limiter {
            LimiterScope::Account => account << LOCATION_BITS,
            LimiterScope::AccountLocation => (account << LOCATION_BITS) | location,
            LimiterScope::Key => (1 << 63) | (key << LOCATION_BITS),
            LimiterScope::KeyLocation => (1 << 63) | (key << LOCATION_BITS) | location,
        }
    }

    /// The limiter object `id`, named for the report.
    pub(super) fn limiter_name(&self, id: u64) -> String {
        let subject = (id & !(1 << 63)) >> LOCATION_BITS;
        let location = id & ((1 << LOCATION_BITS) - 1);
        let (of, per_location) = match self.p.limiter {
            LimiterScope::Account => (format!("acct_{subject}"), false),
            LimiterScope::AccountLocation => (format!("acct_{subject}"), true),
            LimiterScope::Key => (records::key_id(subject as u32), false),
            LimiterScope::KeyLocation => (records::key_id(subject as u32), true),
        };
        if per_location {
            format!("limiter of {of} at location {location}")
        } else {
            format!("limiter of {of}")
        }
    }

    /// One request of a limited `key` at `location` counted by its limiter object.
    fn limiter_call(&mut self, key: u32, location: u32, now: Micros) {
        let (service, measured, limit) = (self.service, self.measuring(now), self.limit);
        let id = self.limiter_id(key, location);
        let limiter = self.limiters.entry(id).or_insert_with(|| Limiter {
            // Placed where it is first used.
            object: Object::new(Kind::Limiter, location),
            windows: AccountWindows::default(),
        });
        if let Admission::Served { start, .. } = limiter.object.arrive(now, service, measured) {
            let count = self
                .limit_counts
                .entry(key)
                .or_insert_with(|| Count::key(&records::key_id(key), limit));
            let decision = limiter
                .windows
                .take(std::slice::from_ref(count), (unix_ms(start)) as i64);
            let denied = decision.is_some_and(|d| !d.allowed);
            self.counts.limiter_counted += u64::from(measured);
            self.counts.limiter_denied += u64::from(denied && measured);
        }
    }
}
