//! The harness's clock: microseconds since the run started, as plain integers.
//!
//! Every record reads it twice (its send, its completion) and the throttler works from it.
//! std's `Instant` arithmetic (`duration_since`, `as_micros`, `Instant + Duration`) cost about
//! 230 instructions a record here, more than a tenth of kprod's own work per record at 100 B, and
//! it counted in kprod's CPU per record against the peers' harnesses. So on Linux the harness
//! reads `CLOCK_MONOTONIC` (the clock of std's `Instant` there) as integer nanoseconds itself.

use std::time::Instant;

/// Microseconds since the clock was made. `Copy`, so the sending thread reads its own copy
/// rather than one next to what the IO thread writes for every completion (a cache line
/// moving between the cores at every send).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: Instant,
    #[cfg(target_os = "linux")]
    start_ns: u64,
}

impl Clock {
    /// A clock at zero now.
    pub(crate) fn new() -> Self {
        Self {
            start: Instant::now(),
            #[cfg(target_os = "linux")]
            start_ns: monotonic_ns().unwrap_or(0),
        }
    }

    /// Microseconds since [`Clock::new`].
    #[inline]
    pub(crate) fn micros(&self) -> u64 {
        #[cfg(target_os = "linux")]
        if let Some(ns) = monotonic_ns() {
            return ns.saturating_sub(self.start_ns) / 1000;
        }
        u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX)
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds (`None` if the call fails, which it does not on Linux).
#[cfg(target_os = "linux")]
#[inline]
fn monotonic_ns() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let (secs, nanos) = (u64::try_from(t.tv_sec()).ok()?, u64::try_from(t.tv_nsec()).ok()?);
    Some(secs.wrapping_mul(1_000_000_000).wrapping_add(nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn follows_std_instant() {
        let before = Instant::now();
        let clock = Clock::new();
        let t0 = clock.micros();
        std::thread::sleep(Duration::from_millis(20));
        let t1 = clock.micros();
        let elapsed = u64::try_from(before.elapsed().as_micros()).unwrap();
        assert!(t0 < 1_000, "{t0} µs right after the start");
        assert!(t1 >= 20_000 && t1 <= elapsed, "{t1} µs after a 20 ms sleep, std saw {elapsed}");
    }
}
