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

/// One sample of a [`Windowed`] statistic (its fields are private).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    start: Instant,
    count: u64,
    sum: f64,
    max: f64,
}

impl Sample {
    const EMPTY: Self = Self { start: Instant::ZERO, count: 0, sum: 0.0, max: f64::NEG_INFINITY };
}

/// Where a [`Windowed`] statistic keeps its samples: a fixed array of [`MAX_SAMPLES`] (the
/// producer-wide statistics, one set per producer), or with `alloc` a `Vec` that holds nothing
/// until the first value and then `metrics.num.samples` samples (the per-topic and per-node
/// ones, a set per topic: at 1,000 topics the arrays took ~1.4 MiB, mostly for statistics such
/// as errors and retries that never see a value).
pub trait SampleStore: AsRef<[Sample]> + AsMut<[Sample]> {
    /// Makes room for `n` samples (at most [`MAX_SAMPLES`]) before the first value.
    fn make_room(&mut self, n: usize);
}

impl SampleStore for [Sample; MAX_SAMPLES] {
    fn make_room(&mut self, _n: usize) {}
}

#[cfg(feature = "alloc")]
impl SampleStore for alloc::vec::Vec<Sample> {
    fn make_room(&mut self, n: usize) {
        if self.len() < n {
            self.resize(n, Sample::EMPTY);
        }
    }
}

/// One statistic: count, sum and maximum per sample. Reads give Java's `Rate` (sum per
/// second), `Avg` and `Max`; with nothing recorded in the covered time, `Avg` and `Max` are
/// NaN, as in Java.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Windowed<S = [Sample; MAX_SAMPLES]> {
    samples: S,
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
}

/// A statistic whose samples are allocated at its first value (see [`SampleStore`]).
#[cfg(feature = "alloc")]
pub type HeapWindowed = Windowed<alloc::vec::Vec<Sample>>;

#[cfg(feature = "alloc")]
impl Default for HeapWindowed {
    fn default() -> Self {
        Self { samples: alloc::vec::Vec::new(), current: 0, first: None }
    }
}

impl<S: SampleStore> Windowed<S> {
    /// How many samples `s` keeps here: `metrics.num.samples`, bounded by the store.
    fn kept(&self, s: Sampling) -> usize {
        s.samples.clamp(1, self.samples.as_ref().len().max(1))
    }

    /// Records `value` at `now`.
    pub fn record(&mut self, value: f64, now: Instant, s: Sampling) {
        self.samples.make_room(s.samples.clamp(1, MAX_SAMPLES));
        let n = self.kept(s);
        let samples = self.samples.as_mut();
        if self.first.is_none() {
            self.first = Some(now);
            samples[0] = Sample { start: now, ..Sample::EMPTY };
            self.current = 0;
        } else if now >= samples[self.current].start + s.window {
            self.current = (self.current + 1) % n;
            samples[self.current] = Sample { start: now, ..Sample::EMPTY };
        }
        let c = &mut samples[self.current];
        c.count += 1;
        c.sum += value;
        c.max = c.max.max(value);
    }

    /// The live samples at `now`: started, and not older than `samples × window`.
    fn live(&self, now: Instant, s: Sampling) -> impl Iterator<Item = &Sample> {
        let n = self.kept(s);
        let span = s.window * n as u32;
        let recorded = self.first.is_some();
        self.samples.as_ref()[..n.min(self.samples.as_ref().len())]
            .iter()
            .filter(move |x| recorded && x.count > 0 && now.saturating_duration_since(x.start) < span)
    }

    /// The sum of the live samples per second (Java's `Rate`): over the time since the oldest
    /// live sample started, but at least `samples - 1` whole windows, as Java counts it.
    pub fn rate(&self, now: Instant, s: Sampling) -> f64 {
        let n = self.kept(s);
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

    /// The heap store keeps nothing before the first value, then `metrics.num.samples`
    /// samples, and reads as the array store does.
    #[cfg(feature = "alloc")]
    #[test]
    fn heap_store_allocates_at_first_value_and_reads_the_same() {
        let mut heap = HeapWindowed::default();
        assert_eq!(heap.samples.capacity(), 0);
        assert!(heap.avg(at(5), S).is_nan());
        assert!(heap.max(at(5), S).is_nan());
        assert_eq!(heap.rate(at(5), S), 0.0);
        let mut array = Windowed::new();
        let values = [(10.0, 0), (30.0, 500), (2.0, 1200), (4.0, 2300), (7.0, 2900), (1.0, 5200)];
        for (i, &(v, t)) in values.iter().enumerate() {
            heap.record(v, at(t), S);
            array.record(v, at(t), S);
            assert_eq!(heap.samples.len(), S.samples);
            for read in [t, t + 100, t + 700, t + 1500] {
                let (h, a) =
                    ((heap.avg(at(read), S), heap.max(at(read), S)), (array.avg(at(read), S), array.max(at(read), S)));
                assert!(h.0 == a.0 || (h.0.is_nan() && a.0.is_nan()), "avg after value {i} at {read}");
                assert!(h.1 == a.1 || (h.1.is_nan() && a.1.is_nan()), "max after value {i} at {read}");
                assert_eq!(heap.rate(at(read), S), array.rate(at(read), S), "rate after value {i} at {read}");
            }
        }
    }
}
