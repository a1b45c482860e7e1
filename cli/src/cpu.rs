//! The process's CPU time (user and system), from `getrusage(RUSAGE_SELF)`: every thread,
//! including the producer's IO thread.

/// CPU seconds used so far by this process: `(user, system)`, or `None` where the platform
/// has no `getrusage` (or it fails).
#[cfg(unix)]
pub(crate) fn cpu_seconds() -> Option<(f64, f64)> {
    use nix::sys::resource::{getrusage, UsageWho};
    use nix::sys::time::TimeValLike;

    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let secs = |t: nix::sys::time::TimeVal| t.num_microseconds() as f64 / 1e6;
    Some((secs(usage.user_time()), secs(usage.system_time())))
}

/// CPU seconds used so far by this process: not available on this platform.
#[cfg(not(unix))]
pub(crate) fn cpu_seconds() -> Option<(f64, f64)> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(unix)]
    fn cpu_time_grows_with_work() {
        let (u0, s0) = super::cpu_seconds().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 50 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let (u1, s1) = super::cpu_seconds().unwrap();
        assert!(u1 + s1 > u0 + s0, "{u0}+{s0} -> {u1}+{s1}");
    }
}
