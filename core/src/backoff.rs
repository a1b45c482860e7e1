//! Exponential backoff with jitter (KIP-580), in integer arithmetic so it runs without `std`
//! or floating point.
//!
//! The term doubles per attempt from `initial` and stops growing at `max`; jitter then scales it
//! by a factor drawn uniformly from 0.8 to 1.2, as the Java client's `ExponentialBackoff` does
//! with its default jitter of 0.2. The result is never above `max` (the Java client may exceed
//! `max` by the jitter; kprod keeps `max` a hard ceiling so timeouts stay predictable).

use core::time::Duration;

use crate::rng::Rng;

/// Jitter, in percent either side of the term.
const JITTER_PERCENT: u64 = 20;

/// An exponential backoff policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The first delay (`retry.backoff.ms`, `reconnect.backoff.ms`).
    pub initial: Duration,
    /// The ceiling (`retry.backoff.max.ms`, `reconnect.backoff.max.ms`).
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `attempt` (0 for the first retry).
    pub fn delay(&self, attempt: u32, rng: &mut Rng) -> Duration {
        let initial = duration_micros(self.initial);
        let max = duration_micros(self.max).max(initial);
        if initial == 0 {
            return Duration::ZERO;
        }
        // initial * 2^attempt, capped at max, without overflow.
        let term = initial.checked_shl(attempt.min(63)).filter(|t| *t >> attempt.min(63) == initial);
        let term = term.map_or(max, |t| t.min(max));
        let spread = term * JITTER_PERCENT / 100;
        let jittered = rng.between(term - spread, term + spread);
        Duration::from_micros(jittered.min(max))
    }
}

fn duration_micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_then_caps_with_bounded_jitter() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_millis(1000) };
        let mut rng = Rng::new(1);
        for attempt in 0..80 {
            let term = (100u64 << attempt.min(10)).min(1000);
            for _ in 0..50 {
                let d = b.delay(attempt, &mut rng).as_micros() as u64;
                assert!(d >= term * 800, "attempt {attempt}: {d}us below 0.8x{term}ms");
                assert!(d <= (term * 1200).min(1_000_000), "attempt {attempt}: {d}us too high");
            }
        }
    }

    #[test]
    fn zero_initial_means_no_wait() {
        let b = Backoff { initial: Duration::ZERO, max: Duration::from_secs(1) };
        assert_eq!(b.delay(3, &mut Rng::new(0)), Duration::ZERO);
    }

    #[test]
    fn jitter_spreads_values() {
        let b = Backoff { initial: Duration::from_millis(100), max: Duration::from_secs(10) };
        let mut rng = Rng::new(9);
        let first = b.delay(0, &mut rng);
        assert!((0..20).any(|_| b.delay(0, &mut rng) != first));
    }
}
