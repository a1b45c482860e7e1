//! Latency and throughput statistics of `kprod perf`, and the lines Kafka's
//! `ProducerPerformance` prints for them.
//!
//! Like Kafka's tool, only delivered records count (a failed record is an error, not a
//! sample); a progress line covers the records completed since the last one, and is due once
//! the reporting interval has passed at a completion. Latencies are kept in microseconds in
//! an HDR histogram (3 significant digits); the percentiles print as whole milliseconds
//! (truncated, as Kafka's tool measures whole milliseconds), the averages and maxima with
//! the decimals Kafka prints.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// The largest latency the histogram tells apart (one hour, in µs); longer ones count as this.
const MAX_LATENCY_US: u64 = 3_600_000_000;
const MIB: f64 = 1024.0 * 1024.0;

/// The statistics of one run. Times are microseconds since the run started (the harness's
/// [`Clock`](super::clock::Clock)).
#[derive(Debug)]
pub(crate) struct Stats {
    interval_us: u64,
    record_size: u64,
    hist: Histogram<u64>,
    count: u64,
    total_us: u64,
    max_us: u64,
    window: Window,
    errors: u64,
    first_error: Option<String>,
}

/// The records of the current progress window.
#[derive(Debug, Clone, Copy)]
struct Window {
    start_us: u64,
    count: u64,
    total_us: u64,
    max_us: u64,
}

impl Window {
    const fn new(start_us: u64) -> Self {
        Self { start_us, count: 0, total_us: 0, max_us: 0 }
    }
}

/// A progress line: the records completed in one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Progress {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Records delivered in the window.
    pub(crate) records: u64,
    /// Delivered records per second over the window.
    pub(crate) records_per_sec: f64,
    /// MiB of values per second over the window.
    pub(crate) mb_per_sec: f64,
    /// Average latency in the window, ms.
    pub(crate) avg_latency_ms: f64,
    /// Largest latency in the window, ms.
    pub(crate) max_latency_ms: f64,
    /// Seconds since the run started.
    pub(crate) elapsed_s: f64,
}

impl Progress {
    /// Kafka's progress line:
    /// `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency.`
    pub(crate) fn text(&self) -> String {
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.records, self.records_per_sec, self.mb_per_sec, self.avg_latency_ms, self.max_latency_ms
        )
    }
}

/// The final line: the whole run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Summary {
    #[serde(rename = "type")]
    kind: &'static str,
    /// Records delivered.
    pub(crate) records: u64,
    /// Delivered records per second over the run.
    pub(crate) records_per_sec: f64,
    /// MiB of values per second over the run.
    pub(crate) mb_per_sec: f64,
    /// Average latency, ms.
    pub(crate) avg_latency_ms: f64,
    /// Largest latency, ms.
    pub(crate) max_latency_ms: f64,
    /// Latency percentiles, ms (µs resolution; the text line truncates them to whole ms).
    pub(crate) p50_ms: f64,
    /// 95th percentile, ms.
    pub(crate) p95_ms: f64,
    /// 99th percentile, ms.
    pub(crate) p99_ms: f64,
    /// 99.9th percentile, ms.
    pub(crate) p999_ms: f64,
    /// Records that failed (refused or not delivered).
    pub(crate) errors: u64,
    /// Seconds from the first send to the end of `close`.
    pub(crate) elapsed_s: f64,
    /// Process CPU seconds in user mode (all threads), if known.
    pub(crate) cpu_user_s: Option<f64>,
    /// Process CPU seconds in the kernel, if known.
    pub(crate) cpu_sys_s: Option<f64>,
    /// The error that stopped the run early, if any.
    pub(crate) error: Option<String>,
}

impl Summary {
    /// Kafka's final line: `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms
    /// max latency, P50 ms 50th, P95 ms 95th, P99 ms 99th, P999 ms 99.9th.`
    pub(crate) fn text(&self) -> String {
        // Whole milliseconds, truncated (the values are non-negative).
        let ms = |v: f64| v as u64;
        format!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.records,
            self.records_per_sec,
            self.mb_per_sec,
            self.avg_latency_ms,
            self.max_latency_ms,
            ms(self.p50_ms),
            ms(self.p95_ms),
            ms(self.p99_ms),
            ms(self.p999_ms),
        )
    }
}

impl Stats {
    /// Statistics of a run starting now (at 0 µs), with a progress line every `interval`, for
    /// records of `record_size` bytes.
    pub(crate) fn new(interval: Duration, record_size: u64) -> Self {
        // The bounds are constants that hdrhistogram accepts (low >= 1, high >= 2 * low,
        // 3 significant digits), so this cannot fail.
        let hist = Histogram::new_with_bounds(1, MAX_LATENCY_US, 3).expect("valid histogram bounds");
        Self {
            interval_us: u64::try_from(interval.as_micros()).unwrap_or(u64::MAX),
            record_size,
            hist,
            count: 0,
            total_us: 0,
            max_us: 0,
            window: Window::new(0),
            errors: 0,
            first_error: None,
        }
    }

    /// A record delivered at `now_us`, `latency_us` after its send. Returns the progress line
    /// when the window is over.
    pub(crate) fn record(&mut self, latency_us: u64, now_us: u64) -> Option<Progress> {
        let latency_us = latency_us.min(MAX_LATENCY_US);
        self.hist.saturating_record(latency_us);
        self.count += 1;
        self.total_us += latency_us;
        self.max_us = self.max_us.max(latency_us);
        let w = &mut self.window;
        w.count += 1;
        w.total_us += latency_us;
        w.max_us = w.max_us.max(latency_us);
        let window_us = now_us.saturating_sub(w.start_us);
        if window_us < self.interval_us {
            return None;
        }
        let secs = window_us as f64 / 1e6;
        let progress = Progress {
            kind: "progress",
            records: w.count,
            records_per_sec: w.count as f64 / secs,
            mb_per_sec: (w.count * self.record_size) as f64 / secs / MIB,
            avg_latency_ms: w.total_us as f64 / w.count as f64 / 1000.0,
            max_latency_ms: w.max_us as f64 / 1000.0,
            elapsed_s: now_us as f64 / 1e6,
        };
        *w = Window::new(now_us);
        Some(progress)
    }

    /// A record that failed; the first error's message is kept.
    pub(crate) fn error(&mut self, error: &dyn std::fmt::Display) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(error.to_string());
        }
    }

    /// How many records failed, and the first error.
    pub(crate) fn errors(&self) -> (u64, Option<&str>) {
        (self.errors, self.first_error.as_deref())
    }

    /// The whole run, ended at `now_us`. CPU times and the stopping error are left empty.
    pub(crate) fn summary(&self, now_us: u64) -> Summary {
        let secs = now_us as f64 / 1e6;
        // HDR answers with the top of the value's bucket (within 0.1%); no percentile is
        // above the largest latency seen.
        let pct = |q: f64| self.hist.value_at_quantile(q).min(self.max_us) as f64 / 1000.0;
        // With no sample, the rates and the average are NaN, as in Kafka's tool.
        Summary {
            kind: "final",
            records: self.count,
            records_per_sec: self.count as f64 / secs,
            mb_per_sec: (self.count * self.record_size) as f64 / secs / MIB,
            avg_latency_ms: self.total_us as f64 / self.count as f64 / 1000.0,
            max_latency_ms: self.max_us as f64 / 1000.0,
            p50_ms: pct(0.5),
            p95_ms: pct(0.95),
            p99_ms: pct(0.99),
            p999_ms: pct(0.999),
            errors: self.errors,
            elapsed_s: secs,
            cpu_user_s: None,
            cpu_sys_s: None,
            error: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    const MS: u64 = 1000;

    #[test]
    fn windows_cover_the_records_since_the_last_line() {
        let at = |ms: u64| ms * MS;
        let mut s = Stats::new(Duration::from_secs(5), 100);
        assert_eq!(s.record(2 * MS, at(1000)), None);
        assert_eq!(s.record(4 * MS, at(4999)), None);
        let p = s.record(9 * MS, at(5000)).expect("the window is over");
        assert_eq!((p.records, p.avg_latency_ms, p.max_latency_ms), (3, 5.0, 9.0));
        assert!((p.records_per_sec - 0.6).abs() < 1e-9, "{p:?}");
        assert_eq!(p.text(), "3 records sent, 0.6 records/sec (0.00 MB/sec), 5.0 ms avg latency, 9.0 ms max latency.");
        // The next window starts at the completion that ended the last one.
        assert_eq!(s.record(MS, at(9999)), None);
        let p = s.record(3 * MS, at(10_000)).unwrap();
        assert_eq!((p.records, p.avg_latency_ms, p.max_latency_ms, p.elapsed_s), (2, 2.0, 3.0, 10.0));
    }

    #[test]
    fn the_summary_has_kafkas_shape_and_percentiles() {
        let mut s = Stats::new(Duration::from_secs(3600), 1024 * 1024);
        // 1000 latencies: 1.5 ms, 2.5 ms, ..., 1000.5 ms.
        for i in 1..=1000u64 {
            s.record(i * MS + 500, 0);
        }
        s.error(&"boom");
        s.error(&"second");
        let sum = s.summary(2_000 * MS);
        assert_eq!((sum.records, sum.errors), (1000, 2));
        assert_eq!(s.errors(), (2, Some("boom")));
        assert_eq!(sum.records_per_sec, 500.0);
        assert_eq!(sum.mb_per_sec, 500.0);
        assert!((sum.avg_latency_ms - 501.0).abs() < 1e-9);
        assert_eq!(sum.max_latency_ms, 1000.5);
        // HDR keeps 3 significant digits: each percentile is within 0.1% of the exact one.
        for (got, want) in [(sum.p50_ms, 500.5), (sum.p95_ms, 950.5), (sum.p99_ms, 990.5), (sum.p999_ms, 999.5)] {
            assert!((got - want).abs() <= want * 0.001, "{got} vs {want}");
        }
        let line = sum.text();
        let kafka = Regex::new(
            r"^(\d+) records sent, (\d+\.\d{6}) records/sec \((\d+\.\d{2}) MB/sec\), (\d+\.\d{2}) ms avg latency, (\d+\.\d{2}) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$",
        )
        .unwrap();
        let c = kafka.captures(&line).unwrap_or_else(|| panic!("not Kafka's shape: {line}"));
        assert_eq!(&c[1], "1000");
        assert_eq!(&c[2], "500.000000");
        assert_eq!(&c[5], "1000.50");
        assert_eq!((&c[6], &c[9]), ("500", "999"));
    }

    #[test]
    fn an_empty_run_prints_nan_like_kafka() {
        let s = Stats::new(Duration::from_secs(5), 10);
        let sum = s.summary(1_000 * MS);
        assert_eq!(
            sum.text(),
            "0 records sent, 0.000000 records/sec (0.00 MB/sec), NaN ms avg latency, 0.00 ms max latency, 0 ms 50th, 0 ms 95th, 0 ms 99th, 0 ms 99.9th."
        );
        let json: serde_json::Value = serde_json::to_value(&sum).unwrap();
        assert_eq!(json["type"], "final");
        assert!(json["avg_latency_ms"].is_null());
    }
}
