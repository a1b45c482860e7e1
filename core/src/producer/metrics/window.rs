//! Windowed statistics, as the Java client's metrics library keeps them: `metrics.num.samples`
//! samples of `metrics.sample.window.ms` each. A value recorded after the current sample's
//! window starts a new sample in place of the oldest, so a statistic covers the last
//! `samples × window` of time. Samples whose window ended more than `samples × window` ago are
//! ignored when read (Java's `purgeObsoleteSamples`).

use core::time::Duration;

use crate::time::Instant;

/// The most samples a statistic keeps (`metrics.num.samples` is checked against it).
pub const MAX_SAMPLES: usize = 8;

/// The sampling policy: window length and number of samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampling {
    /// `metrics.sample.window.ms`.
    pub window: Duration,
    /// `metrics.num.samples` (1 to [`MAX_SAMPLES`]).
    pub samples: usize,
}

impl Default for Sampling {
    fn default() -> Self {
        Self { window: Duration::from_secs(30), samples: 2 }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Sample {
    start: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    const EMPTY: Self = Self { start: Instant::ZERO, count: 0, sum: 0.0, max: f64::NEG_INFINITY };
}

/// One statistic: count, sum and maximum per sample. Reads give Java's `Rate` (sum per
/// second), `Avg` and `Max`; with nothing recorded in the covered time, `Avg` and `Max` are
/// NaN, as in Java.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windowed {
    samples: [Sample; MAX_SAMPLES],
    current: usize,
    /// The first value's time: a rate over less than the covered time uses the time since then.
    first: Option<Instant>,
}

impl Default for Windowed {
    fn default() -> Self {
        Self::new()
    }
}

impl Windowed {
    /// Nothing recorded.
    pub const fn new() -> Self {
        Self { samples: [Sample::EMPTY; MAX_SAMPLES], current: 0, first: None }
    }

    /// Records `value` at `now`.
    pub fn record(&mut self, value: f64, now: Instant, s: Sampling) {
        let n = s.samples.clamp(1, MAX_SAMPLES);
        if self.first.is_none() {
            self.first = Some(now);
            self.samples[0] = Sample { start: now, ..Sample::EMPTY };
            self.current = 0;
        } else if now >= self.samples[self.current].start + s.window {
            self.current = (self.current + 1) % n;
            self.samples[self.current] = Sample { start: now, ..Sample::EMPTY };
        }
        let c = &mut self.samples[self.current];
        c.count += 1;
        c.sum += value;
        c.max = c.max.max(value);
    }

    /// The live samples at `now`: started, and not older than `samples × window`.
    fn live(&self, now: Instant, s: Sampling) -> impl Iterator<Item = &Sample> {
        let n = s.samples.clamp(1, MAX_SAMPLES);
        let span = s.window * n as u32;
        let recorded = self.first.is_some();
        self.samples[..n]
            .iter()
            .filter(move |x| recorded && x.count > 0 && now.saturating_duration_since(x.start) < span)
    }

    /// The sum of the live samples per second (Java's `Rate`): over the time since the oldest
    /// live sample started, but at least `samples - 1` whole windows, as Java counts it.
    pub fn rate(&self, now: Instant, s: Sampling) -> f64 {
        let n = s.samples.clamp(1, MAX_SAMPLES);
        let (sum, oldest) = self.live(now, s).fold((0.0, None::<Instant>), |(sum, old), x| {
            (sum + x.sum, Some(old.map_or(x.start, |o: Instant| o.min(x.start))))
        });
        let Some(oldest) = oldest else { return 0.0 };
        let mut elapsed = now.saturating_duration_since(oldest);
        let full = (elapsed.as_micros() / s.window.as_micros().max(1)) as u32;
        let min_full = (n - 1) as u32;
        if full < min_full {
            elapsed += s.window * (min_full - full);
        }
        let secs = elapsed.as_secs_f64();
        if secs > 0.0 {
            sum / secs
        } else {
            0.0
        }
    }

    /// The average of the live values (NaN without any).
    pub fn avg(&self, now: Instant, s: Sampling) -> f64 {
        let (sum, count) = self.live(now, s).fold((0.0, 0), |(sum, count), x| (sum + x.sum, count + x.count));
        if count == 0 {
            f64::NAN
        } else {
            sum / count as f64
        }
    }

    /// The largest live value (NaN without any).
    pub fn max(&self, now: Instant, s: Sampling) -> f64 {
        self.live(now, s).map(|x| x.max).fold(f64::NAN, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Sampling = Sampling { window: Duration::from_secs(1), samples: 2 };

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    #[test]
    fn empty_reads_nan_and_zero_rate() {
        let w = Windowed::new();
        assert!(w.avg(at(5), S).is_nan());
        assert!(w.max(at(5), S).is_nan());
        assert_eq!(w.rate(at(5), S), 0.0);
    }

    #[test]
    fn avg_max_and_rate_over_the_live_samples() {
        let mut w = Windowed::new();
        w.record(10.0, at(0), S);
        w.record(30.0, at(500), S);
        assert_eq!(w.avg(at(600), S), 20.0);
        assert_eq!(w.max(at(600), S), 30.0);
        // 40 in 0.6 s, but Java counts at least (samples - 1) whole windows: 40 / 1.6 s.
        assert!((w.rate(at(600), S) - 25.0).abs() < 1e-9, "{}", w.rate(at(600), S));
        // A second window; then the first ages out after 2 windows.
        w.record(2.0, at(1200), S);
        assert_eq!(w.max(at(1300), S), 30.0);
        assert_eq!(w.max(at(2100), S), 2.0, "the first sample (0..1 s) is older than 2 s");
        assert_eq!(w.avg(at(2100), S), 2.0);
        // A third window replaces the oldest sample.
        w.record(4.0, at(2300), S);
        assert_eq!(w.avg(at(2400), S), 3.0);
        assert!(w.avg(at(9000), S).is_nan(), "everything aged out");
    }
}
