//! Workers KV as the edge sees it: eventually consistent, with a read cache per location.
//!
//! A write reaches each location after its own delay, uniform up to `kv_propagation_max_s`
//! (drawn statelessly from the write and the location); a location that already has a newer
//! write keeps it. A read at a location returns what the location's read cache holds if it
//! was fetched less than `kv_cache_s` ago (the worker reads with `cacheTtl` 30 s), else what
//! has reached the location, and caches that. Every read is billed, cached or not.

use crate::queue::Micros;
use crate::rng::{IdMap, mix_unit};

/// KV at the simulated locations.
#[derive(Debug)]
pub struct Kv {
    seed: u64,
    propagation_max: Micros,
    cache: Micros,
    /// Each changed key's one write: when the Registry wrote version 1.
    writes: IdMap<u32, Micros>,
    /// Per location: key → (version read, when it was read).
    caches: Vec<IdMap<u32, (u8, Micros)>>,
}

impl Kv {
    /// KV with `locations` read caches.
    pub fn new(seed: u64, locations: usize, propagation_max: Micros, cache: Micros) -> Self {
        Self {
            seed,
            propagation_max,
            cache,
            writes: IdMap::default(),
            caches: (0..locations).map(|_| IdMap::default()).collect(),
        }
    }

    /// The Registry wrote `key`'s changed record (version 1) at `at`.
    pub fn write(&mut self, key: u32, at: Micros) {
        self.writes.entry(key).or_insert(at);
    }

    /// When the write of `key` reaches `location`.
    pub fn arrives(&self, key: u32, location: u32) -> Option<Micros> {
        let written = *self.writes.get(&key)?;
        let u = mix_unit(self.seed ^ (u64::from(location) << 32), u64::from(key));
        Some(written + (u * self.propagation_max as f64) as Micros)
    }

    /// The version of `key` a read at `location` returns at `now`.
    pub fn read(&mut self, location: u32, key: u32, now: Micros) -> u8 {
        let arrived = self.arrives(key, location).is_some_and(|at| at <= now);
        let fresh = u8::from(arrived);
        let Some(cache) = self.caches.get_mut(location as usize) else {
            return fresh;
        };
        match cache.get(&key) {
            Some((version, at)) if now.saturating_sub(*at) < self.cache => *version,
            _ => {
                cache.insert(key, (fresh, now));
                fresh
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::queue::SECOND;

    #[test]
    fn a_write_is_read_once_it_arrived_and_the_read_cache_expired() {
        let mut kv = Kv::new(1, 4, 60 * SECOND, 30 * SECOND);
        let t0 = 1_000 * SECOND;
        // Read (and cached) before the write.
        assert_eq!(kv.read(0, 9, t0 - 1), 0);
        kv.write(9, t0);
        let arrives = kv.arrives(9, 0).unwrap();
        assert!((t0..=t0 + 60 * SECOND).contains(&arrives));
        // Until the cached read expires, the old version; then whatever has arrived.
        assert_eq!(kv.read(0, 9, t0 - 1 + 30 * SECOND - 1), 0);
        let after = (t0 - 1 + 30 * SECOND).max(arrives);
        assert_eq!(kv.read(0, 9, after), u8::from(arrives <= after));
        // Never later than propagation plus the read cache.
        assert_eq!(kv.read(0, 9, t0 + 90 * SECOND), 1);
        // A location that never read it sees it as soon as it arrived there.
        let at2 = kv.arrives(9, 2).unwrap();
        assert_eq!(kv.read(2, 9, at2), 1);
        // An unchanged key is version 0 everywhere.
        assert_eq!(kv.read(1, 10, t0), 0);
    }

    #[test]
    fn delays_differ_by_location_and_stay_within_the_bound() {
        let mut kv = Kv::new(5, 0, 60 * SECOND, 30 * SECOND);
        kv.write(1, 0);
        let delays: Vec<_> = (0..300).map(|l| kv.arrives(1, l).unwrap()).collect();
        assert!(delays.iter().all(|d| *d <= 60 * SECOND));
        let mean = delays.iter().sum::<u64>() as f64 / 300.0 / SECOND as f64;
        assert!((mean - 30.0).abs() < 5.0, "{mean}");
    }
}
