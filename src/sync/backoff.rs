//! Exponential backoff with full jitter, its randomness given as a seed so a simulation
//! replays it exactly.

use std::time::Duration;

/// The delays between retries of a failing channel.
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    failures: u32,
    rng: SplitMix64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: u64) -> Self {
        Self {
            base,
            max,
            failures: 0,
            rng: SplitMix64(seed),
        }
    }

    /// The next delay: uniform in [ceiling/2, ceiling], the ceiling doubling per failure up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self
            .base
            .saturating_mul(1u32 << self.failures.min(20))
            .min(self.max);
        self.failures = self.failures.saturating_add(1);
        let fraction = 0.5 + 0.5 * self.rng.next_f64();
        ceiling.mul_f64(fraction)
    }

    /// Consecutive failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

/// A small, fast, seedable generator (Steele et al., SplitMix64); not for secrets.
#[derive(Clone, Debug)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_to_the_cap_with_jitter_and_replay_from_the_seed() {
        let mut a = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
        let delays: Vec<Duration> = (0..8).map(|_| a.next_delay()).collect();
        for (i, d) in delays.iter().enumerate() {
            let ceiling = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(2));
            assert!(*d >= ceiling / 2 && *d <= ceiling, "{i}: {d:?}");
        }
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2), 7);
        assert_eq!(delays, (0..8).map(|_| b.next_delay()).collect::<Vec<_>>());
        b.reset();
        assert_eq!(b.failures(), 0);
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
