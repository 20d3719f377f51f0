//! Who sends requests, and where: key popularity, each key's account and locations, which keys
//! are rate-limited.
//!
//! Popularity is Zipf–Mandelbrot: the key of rank `k` (from 1) sends a share proportional to
//! `(k + q)^-s`. Two published facts of the deployment fix `s` and `q`: the busiest key's rate,
//! and the share of keys active in any 10 s ([`calibrate`]). The busiest key is key 0.

use crate::params::Params;
use crate::rng::{Rng, mix, mix_unit};

/// Ranks summed one by one before the sums switch to geometric buckets.
const EXACT_RANKS: u64 = 1_000;
/// Geometric buckets for the rest of the ranks.
const BUCKETS: u64 = 2_000;

/// Sums `f(rank, count)` over ranks `1..=n`: ranks up to [`EXACT_RANKS`] one by one, the rest in
/// geometric buckets evaluated at their middle and weighted by their size. Accurate to well
/// under a percent for the smooth terms used here, in a few thousand evaluations instead of `n`.
fn sum_ranks(n: u64, mut f: impl FnMut(f64, f64) -> f64) -> f64 {
    let exact = n.min(EXACT_RANKS);
    let mut total: f64 = (1..=exact).map(|k| f(k as f64, 1.0)).sum();
    if n > exact {
        let (lo, hi) = (exact as f64 + 0.5, n as f64 + 0.5);
        let ratio = (hi / lo).powf(1.0 / BUCKETS as f64);
        let mut a = lo;
        for _ in 0..BUCKETS {
            let b = a * ratio;
            total += f((a * b).sqrt(), b - a);
            a = b;
        }
    }
    total
}

/// The popularity curve: exponent `s` and offset `q`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Curve {
    /// The exponent `s`.
    pub exponent: f64,
    /// The offset `q`.
    pub offset: f64,
}

impl Curve {
    fn normaliser(self, keys: u64) -> f64 {
        sum_ranks(keys, |k, n| n * (k + self.offset).powf(-self.exponent))
    }

    /// The busiest key's share of all requests.
    pub fn top_share(self, keys: u64) -> f64 {
        (1.0 + self.offset).powf(-self.exponent) / self.normaliser(keys)
    }

    /// Expected keys with at least one request in `window_s` at `rps`.
    pub fn active_keys(self, keys: u64, rps: f64, window_s: f64) -> f64 {
        let z = self.normaliser(keys);
        let per_weight = rps * window_s / z;
        sum_ranks(keys, |k, n| {
            n * -(-per_weight * (k + self.offset).powf(-self.exponent)).exp_m1()
        })
    }
}

/// Bisects a decreasing function of `x` in `[lo, hi]` for `f(x) = target`.
fn bisect_decreasing(mut lo: f64, mut hi: f64, target: f64, f: impl Fn(f64) -> f64) -> f64 {
    for _ in 0..48 {
        let mid = 0.5 * (lo + hi);
        if f(mid) > target {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The curve whose busiest key sends `busiest_rps` of `rps`, and with which `active_share` of
/// `keys` send at least one request in 10 s. Where no curve does both, the nearest one.
pub fn calibrate(keys: u64, rps: f64, busiest_rps: f64, active_share: f64) -> Curve {
    let top = (busiest_rps / rps).clamp(1.0 / keys as f64, 1.0);
    // For a given exponent, the offset that gives the busiest key its share (the share falls as
    // the offset grows); searched on ln(1 + q).
    let offset_for = |exponent: f64| {
        let share = |log_q: f64| {
            Curve {
                exponent,
                offset: log_q.exp() - 1.0,
            }
            .top_share(keys)
        };
        bisect_decreasing(0.0, 40.0, top, share).exp() - 1.0
    };
    let curve = |exponent: f64| Curve {
        exponent,
        offset: offset_for(exponent),
    };
    // With the busiest key fixed, a steeper curve leaves fewer keys active.
    let target = active_share * keys as f64;
    let exponent = bisect_decreasing(0.05, 12.0, target, |s| {
        curve(s).active_keys(keys, rps, 10.0)
    });
    curve(exponent)
}

/// Vose's alias table: draws an item with given weights in constant time. Each slot holds its
/// threshold and both items it may give, so that a draw touches one slot of memory.
#[derive(Debug, Clone)]
pub struct Alias {
    slots: Vec<(f64, u32, u32)>,
}

impl Alias {
    /// A table over `items` with these `weights` (same length).
    pub fn new(items: Vec<u32>, weights: &[f64]) -> Self {
        let n = weights.len().min(items.len());
        let total: f64 = weights[..n].iter().sum();
        let mut prob: Vec<f64> = weights[..n]
            .iter()
            .map(|w| {
                if total > 0.0 {
                    w * n as f64 / total
                } else {
                    1.0
                }
            })
            .collect();
        let mut alias: Vec<usize> = (0..n).collect();
        let (mut small, mut large): (Vec<usize>, Vec<usize>) = (0..n).partition(|&i| prob[i] < 1.0);
        while let (Some(&s), Some(&l)) = (small.last(), large.last()) {
            small.pop();
            alias[s] = l;
            prob[l] -= 1.0 - prob[s];
            if prob[l] < 1.0 {
                large.pop();
                small.push(l);
            }
        }
        for i in small.into_iter().chain(large) {
            prob[i] = 1.0;
        }
        let slots = (0..n)
            .map(|i| (prob[i], items[i], items[alias[i]]))
            .collect();
        Self { slots }
    }

    /// Whether the table draws nothing.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// One draw.
    pub fn draw(&self, rng: &mut Rng) -> u32 {
        let (threshold, item, alias) = self.slots[rng.below(self.slots.len() as u64) as usize];
        if rng.unit() < threshold { item } else { alias }
    }
}

/// Salts of the stateless draws, one per fact.
const ACCOUNT: u64 = 1;
const LOCATION: u64 = 2;
const LIMITED: u64 = 3;

/// The deployment's keys: popularity, accounts, locations, limits; and the two request streams
/// the simulation draws from.
#[derive(Debug)]
pub struct Keys {
    /// The calibrated popularity curve.
    pub curve: Curve,
    /// Each key's share of all requests, by key (key 0 is the busiest).
    pub share: Vec<f64>,
    seed: u64,
    accounts: u64,
    locations: u64,
    per_key: u64,
    limited_share: f64,
    /// Every key's locations, `per_key` of them each, key after key.
    placed: Vec<u32>,
    /// Keys per account.
    pub account_sizes: Vec<u32>,
}

impl Keys {
    /// The keys of the deployment `p`.
    pub fn new(p: &Params) -> Self {
        let curve = calibrate(
            p.keys,
            p.requests_per_second,
            p.busiest_key_rps,
            p.active_key_share,
        );
        let weights: Vec<f64> = (1..=p.keys)
            .map(|k| (k as f64 + curve.offset).powf(-curve.exponent))
            .collect();
        let total: f64 = weights.iter().sum();
        let share = weights.into_iter().map(|w| w / total).collect();
        let mut keys = Self {
            curve,
            share,
            seed: p.seed,
            accounts: p.accounts.max(1),
            locations: p.locations.max(1),
            per_key: p.locations_per_key.clamp(1, p.locations.max(1)),
            limited_share: p.limited_key_share,
            placed: vec![],
            account_sizes: vec![0; p.accounts.max(1) as usize],
        };
        let mut placed = Vec::with_capacity(keys.len() * keys.per_key as usize);
        for key in 0..p.keys as u32 {
            let account = keys.account(key) as usize;
            keys.account_sizes[account] += 1;
            placed.extend(keys.draw_locations(key));
        }
        keys.placed = placed;
        keys
    }

    /// How many keys.
    pub fn len(&self) -> usize {
        self.share.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.share.is_empty()
    }

    /// The account `key` belongs to.
    pub fn account(&self, key: u32) -> u32 {
        (mix(self.seed ^ ACCOUNT, u64::from(key)) % self.accounts) as u32
    }

    /// Whether `key` has a rate limit. The busiest key has one: the worst case for its limiter.
    pub fn limited(&self, key: u32) -> bool {
        key == 0 || mix_unit(self.seed ^ LIMITED, u64::from(key)) < self.limited_share
    }

    /// The distinct locations `key`'s traffic arrives at, in equal parts.
    pub fn locations(&self, key: u32) -> &[u32] {
        let per_key = self.per_key as usize;
        let at = key as usize * per_key;
        self.placed.get(at..at + per_key).unwrap_or(&[])
    }

    fn draw_locations(&self, key: u32) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::with_capacity(self.per_key as usize);
        let mut draw = 0u64;
        while (out.len() as u64) < self.per_key {
            let location =
                (mix(self.seed ^ LOCATION, (u64::from(key) << 20) | draw) % self.locations) as u32;
            draw += 1;
            if !out.contains(&location) {
                out.push(location);
            }
        }
        out
    }

    /// The stream of requests whose location is one of the first `sampled` locations (all keys),
    /// and the stream of rate-limited keys' requests at the other locations; each with its share
    /// of all requests. A draw gives a key; its location is then drawn among its locations on
    /// that side.
    pub fn streams(&self, sampled: u32) -> (Stream, Stream) {
        let mut full = (Vec::new(), Vec::new());
        let mut limited = (Vec::new(), Vec::new());
        for key in 0..self.len() as u32 {
            let locations = self.locations(key);
            let inside = locations.iter().filter(|l| **l < sampled).count() as f64;
            let n = locations.len() as f64;
            let share = self.share[key as usize];
            if inside > 0.0 {
                full.0.push(key);
                full.1.push(share * inside / n);
            }
            if self.limited(key) && inside < n {
                limited.0.push(key);
                limited.1.push(share * (n - inside) / n);
            }
        }
        (Stream::new(full), Stream::new(limited))
    }
}

/// Requests drawn from part of the traffic.
#[derive(Debug)]
pub struct Stream {
    /// This part's share of all requests.
    pub share: f64,
    alias: Alias,
}

impl Stream {
    fn new((items, weights): (Vec<u32>, Vec<f64>)) -> Self {
        let share = weights.iter().sum();
        Self {
            share,
            alias: Alias::new(items, &weights),
        }
    }

    /// The key of the next request of this part (`None`: the part is empty).
    pub fn draw(&self, rng: &mut Rng) -> Option<u32> {
        (!self.alias.is_empty()).then(|| self.alias.draw(rng))
    }
}

#[cfg(test)]
mod tests;
