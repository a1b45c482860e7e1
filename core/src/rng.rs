//! The core's only source of randomness: a generator seeded from the configuration, so a run
//! with the same inputs and seed replays exactly. Used for backoff jitter and sticky partition
//! choice.

/// A seeded pseudo-random generator (wyrand, via the `fastrand` crate in its no_std form).
#[derive(Debug, Clone)]
pub struct Rng(fastrand::Rng);

impl Rng {
    /// A generator that always yields the same sequence for the same `seed`.
    pub fn new(seed: u64) -> Self {
        Self(fastrand::Rng::with_seed(seed))
    }

    /// A uniformly random value in `0..n`. `n` must be non-zero; `0` yields `0`.
    pub fn below(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        self.0.u32(0..n)
    }

    /// A uniformly random value in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        if lo >= hi {
            return lo;
        }
        self.0.u64(lo..=hi)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = Rng::new(42);
        let mut b = Rng::new(42);
        for _ in 0..100 {
            assert_eq!(a.below(1000), b.below(1000));
        }
        let mut c = Rng::new(43);
        let differs = (0..100).any(|_| a.below(1 << 30) != c.below(1 << 30));
        assert!(differs);
        assert_eq!(a.below(0), 0);
        assert_eq!(a.between(7, 7), 7);
        assert!((0..1000).map(|_| a.below(3)).all(|v| v < 3));
    }
}
