//! Throughput throttling with the rule of Kafka's `ThroughputThrottler`: after a send, if the
//! average rate since the start is above the target, add `1 / target` seconds to a sleep
//! deficit, and sleep it off once it reaches 2 ms (so sleeps are few and not too short for the
//! OS timer). A negative target never throttles.

use std::time::{Duration, Instant};

/// The smallest sleep worth taking.
const MIN_SLEEP: Duration = Duration::from_millis(2);

/// Keeps the send rate at about `target` records per second.
#[derive(Debug)]
pub(crate) struct Throttler {
    /// When the sends began, in the harness clock's microseconds.
    start_us: u64,
    target: f64,
    per_record: Duration,
    deficit: Duration,
}

impl Throttler {
    /// A throttler for `target` records per second (negative: unlimited; it must not be 0 or
    /// NaN, which the argument parser refuses) from `start_us`.
    pub(crate) fn new(target: f64, start_us: u64) -> Self {
        let per_record = if target > 0.0 { Duration::from_secs_f64(1.0 / target) } else { Duration::ZERO };
        Self { start_us, target, per_record, deficit: Duration::ZERO }
    }

    /// Whether `sent` records by `now_us` is ahead of the target rate.
    pub(crate) fn should_throttle(&self, sent: u64, now_us: u64) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let elapsed_us = now_us.saturating_sub(self.start_us);
        // sent / elapsed > target, without a division per record.
        elapsed_us > 0 && sent as f64 * 1e6 > self.target * elapsed_us as f64
    }

    /// Adds one record's worth of delay, and sleeps if enough has built up. Returns how long
    /// it slept.
    pub(crate) fn throttle(&mut self) -> Duration {
        self.deficit += self.per_record;
        if self.deficit < MIN_SLEEP {
            return Duration::ZERO;
        }
        let begin = Instant::now();
        std::thread::sleep(self.deficit);
        self.deficit = Duration::ZERO;
        begin.elapsed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unlimited_never_throttles() {
        let t = Throttler::new(-1.0, 0);
        assert!(!t.should_throttle(u64::MAX, 1_000));
    }

    #[test]
    fn throttles_only_when_ahead_of_the_rate() {
        let t0 = 7_000_000;
        let t = Throttler::new(1000.0, t0);
        assert!(!t.should_throttle(5, t0), "no time has passed: no rate yet");
        assert!(t.should_throttle(1001, t0 + 1_000_000));
        assert!(!t.should_throttle(999, t0 + 1_000_000));
        assert!(!t.should_throttle(1000, t0 + 1_000_000), "at the target is not ahead of it");
    }

    #[test]
    fn sleeps_build_up_to_at_least_two_ms() {
        let mut t = Throttler::new(1000.0, 0);
        assert_eq!(t.throttle(), Duration::ZERO);
        let slept = t.throttle();
        assert!(slept >= MIN_SLEEP, "{slept:?}");
        assert_eq!(t.throttle(), Duration::ZERO, "the deficit was slept off");
    }

    #[test]
    fn a_run_keeps_close_to_the_target() {
        let start = Instant::now();
        let clock = crate::perf::clock::Clock::new();
        let mut t = Throttler::new(2000.0, clock.micros());
        for i in 0..400u64 {
            if t.should_throttle(i, clock.micros()) {
                t.throttle();
            }
        }
        let rate = 400.0 / start.elapsed().as_secs_f64();
        assert!(rate < 2000.0 * 1.1, "{rate} records/s");
    }
}
