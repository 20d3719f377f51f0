//! Seeded randomness, implemented here so that a report depends on nothing but its parameters.
//!
//! Two kinds of draw. [`Rng`] is a stream (xoshiro256++, seeded through SplitMix64) for what
//! happens in event order: arrivals, latencies, which key an admin change touches. [`mix`] is
//! stateless, for facts that must not depend on the order of events: a key's account and
//! locations, whether it is rate-limited, how long a KV write takes to reach one location. A
//! change elsewhere in the simulation then cannot reshuffle those.

/// SplitMix64's step: advances `state` and returns the next output.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    finalize(*state)
}

/// SplitMix64's output function: a bijection of `u64` that scrambles every bit.
fn finalize(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stateless hash of two numbers: the same `(a, b)` always gives the same draw.
pub fn mix(a: u64, b: u64) -> u64 {
    finalize(finalize(a ^ 0x6a09_e667_f3bc_c909).wrapping_add(b.rotate_left(17)))
}

/// [`mix`] as a number in `[0, 1)`.
pub fn mix_unit(a: u64, b: u64) -> f64 {
    to_unit(mix(a, b))
}

fn to_unit(x: u64) -> f64 {
    (x >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Hashes the simulation's numeric ids (keys, changes, limiter ids) with SplitMix64's
/// finaliser: a map lookup per simulated request must not cost a SipHash. Not for untrusted
/// input; nothing here is.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = finalize(self.0 ^ u64::from(*byte));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = finalize(self.0 ^ n);
    }
}

/// A map keyed by numeric ids, hashed with [`IdHasher`].
pub type IdMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A seeded stream of random numbers (xoshiro256++).
#[derive(Debug, Clone)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// The stream of `seed`: the same seed gives the same numbers, run after run.
    pub fn new(seed: u64) -> Self {
        let mut state = seed;
        Self {
            s: [
                splitmix(&mut state),
                splitmix(&mut state),
                splitmix(&mut state),
                splitmix(&mut state),
            ],
        }
    }

    /// An independent stream for one purpose (`stream` names it), so that drawing more for one
    /// purpose does not change the draws of another.
    pub fn fork(seed: u64, stream: u64) -> Self {
        Self::new(mix(seed, stream))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[0]
            .wrapping_add(self.s[3])
            .rotate_left(23)
            .wrapping_add(self.s[0]);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        to_unit(self.next_u64())
    }

    /// Uniform in `[0, n)` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[lo, hi)`.
    pub fn between(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Exponential with this `mean`: the gap between two arrivals of a Poisson process.
    pub fn exp(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_stream_and_another_seed_another() {
        let draw = |seed| {
            let mut rng = Rng::new(seed);
            (0..100).map(|_| rng.next_u64()).collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        assert_ne!(Rng::fork(7, 1).next_u64(), Rng::fork(7, 2).next_u64());
    }

    #[test]
    fn the_first_outputs_match_the_reference_splitmix64() {
        // SplitMix64 seeded with 0: its published first output.
        let mut state = 0;
        assert_eq!(splitmix(&mut state), 0xe220_a839_7b1d_cdaf);
    }

    #[test]
    fn draws_have_the_distribution_they_claim() {
        let mut rng = Rng::new(1);
        let n = 200_000;
        let units: Vec<f64> = (0..n).map(|_| rng.unit()).collect();
        assert!(units.iter().all(|u| (0.0..1.0).contains(u)));
        let mean = units.iter().sum::<f64>() / f64::from(n);
        assert!((mean - 0.5).abs() < 0.005, "{mean}");
        let exp = (0..n).map(|_| rng.exp(3.0)).sum::<f64>() / f64::from(n);
        assert!((exp - 3.0).abs() < 0.05, "{exp}");
        let mut buckets = [0u32; 10];
        for _ in 0..n {
            buckets[rng.below(10) as usize] += 1;
        }
        for count in buckets {
            assert!(
                (f64::from(count) / f64::from(n) - 0.1).abs() < 0.005,
                "{buckets:?}"
            );
        }
    }

    #[test]
    fn mix_is_a_pure_function_of_its_inputs() {
        assert_eq!(mix(1, 2), mix(1, 2));
        assert_ne!(mix(1, 2), mix(2, 1));
        let mean = (0..100_000).map(|i| mix_unit(9, i)).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01, "{mean}");
    }
}
