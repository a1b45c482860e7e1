//! Producer metrics, comparable to the seed client's `metrics()` (record send rate, bytes,
//! average batch size, request latency, retries, errors, free buffer). Counters only grow; rates
//! are counters over [`Metrics::elapsed`], which the caller divides.
//!
//! With `alloc`, [`Metrics::java`] also gives the Java producer's metrics by their names
//! (`record-send-rate`, `request-latency-avg`, ...), windowed over `metrics.num.samples` samples
//! of `metrics.sample.window.ms` as Java keeps them (see [`window`]), and the engine keeps the
//! per-topic and per-node ones (`producer-topic-metrics`, `producer-node-metrics`) in
//! `detail`, recorded per batch and per request. They are left out without `alloc`, where RAM
//! is counted in bytes.

#[cfg(feature = "alloc")]
pub(crate) mod detail;
pub mod window;

use core::time::Duration;

use crate::time::Instant;
#[cfg(feature = "alloc")]
use window::{Sampling, Windowed};

/// Counters and gauges kept by the engine.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Metrics {
    started: Instant,
    last: Instant,
    /// Records accepted by `send`.
    pub records_sent: u64,
    /// Uncompressed record bytes accepted by `send`.
    pub record_bytes: u64,
    /// `send` calls refused for lack of buffer (buffer-full waits).
    pub records_refused: u64,
    /// Records delivered.
    pub records_delivered: u64,
    /// Records failed.
    pub records_failed: u64,
    /// Batches sent (first attempts and retries).
    pub batches_sent: u64,
    /// Records drained into requests for the first time (Java's `record-send-total`).
    pub records_drained: u64,
    /// Bytes of sealed batches sent (compressed size).
    pub batch_bytes_sent: u64,
    /// Batch retries.
    pub retries: u64,
    /// Batches split in two because the broker refused them as too large (MESSAGE_TOO_LARGE).
    pub batches_split: u64,
    /// Batches compressed outside the engine, by a driver's compression job
    /// ([`super::Producer::take_compression_job`]), whose result the batch took.
    pub batches_compressed_ahead: u64,
    /// Produce requests sent.
    pub requests: u64,
    /// Error responses (per partition) from brokers.
    pub errors: u64,
    /// Requests that timed out.
    pub request_timeouts: u64,
    /// Connections lost or closed on error.
    pub connections_lost: u64,
    /// Sum of request latencies, for the average.
    pub latency_total: Duration,
    /// Responses counted in `latency_total`.
    pub latency_count: u64,
    /// The largest request latency seen.
    pub latency_max: Duration,
    /// Time senders spent waiting for buffer space, as the driver reported it
    /// ([`super::Producer::buffer_waited`]; Java's `bufferpool-wait-time-ns-total`).
    pub buffer_wait: Duration,
    /// Free `buffer.memory` bytes after the last change.
    pub buffer_free: usize,
    /// The windowed statistics behind [`Metrics::java`].
    #[cfg(feature = "alloc")]
    stats: JavaStats,
}

/// The windowed statistics of the Java producer's metrics.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, Copy, PartialEq, Default)]
struct JavaStats {
    sampling: Sampling,
    record_send: Windowed,
    record_error: Windowed,
    record_retry: Windowed,
    record_size: Windowed,
    batch_size: Windowed,
    compression_rate: Windowed,
    records_per_request: Windowed,
    record_queue_time: Windowed,
    request_latency: Windowed,
    outgoing_bytes: Windowed,
    produce_throttle_time: Windowed,
    requests: Windowed,
    /// Seconds of buffer waits, so that its rate is the share of time spent waiting.
    buffer_wait: Windowed,
}

/// What a request that went out carried, for [`Metrics`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct SentRequest {
    /// Bytes of the request frame.
    pub(super) bytes: usize,
    /// Records in it (Produce).
    pub(super) records: u32,
}

impl Metrics {
    pub(super) fn new(now: Instant, free: usize) -> Self {
        Self {
            started: now,
            last: now,
            records_sent: 0,
            record_bytes: 0,
            records_refused: 0,
            records_delivered: 0,
            records_failed: 0,
            batches_sent: 0,
            records_drained: 0,
            batch_bytes_sent: 0,
            retries: 0,
            batches_split: 0,
            batches_compressed_ahead: 0,
            requests: 0,
            errors: 0,
            request_timeouts: 0,
            connections_lost: 0,
            latency_total: Duration::ZERO,
            latency_count: 0,
            latency_max: Duration::ZERO,
            buffer_wait: Duration::ZERO,
            buffer_free: free,
            #[cfg(feature = "alloc")]
            stats: JavaStats::default(),
        }
    }

    /// Sets the sampling of the windowed metrics (`metrics.sample.window.ms`,
    /// `metrics.num.samples`).
    #[cfg(feature = "alloc")]
    pub(super) fn set_sampling(&mut self, sampling: Sampling) {
        self.stats.sampling = sampling;
    }

    /// The Java producer's metrics (group `producer-metrics`) by name, at `now`. Rates are per
    /// second, times in milliseconds, sizes in bytes; an average or maximum with nothing
    /// recorded in the covered time is NaN, as in Java. The engine passes the gauges: open
    /// connections (`connection-count`) and free buffer bytes (`buffer-available-bytes`).
    #[cfg(feature = "alloc")]
    pub fn java(&self, now: Instant, (connections, free): (usize, usize)) -> alloc::vec::Vec<(&'static str, f64)> {
        let st = &self.stats;
        let s = st.sampling;
        alloc::vec![
            ("record-send-rate", st.record_send.rate(now, s)),
            ("record-send-total", self.records_sent_to_brokers() as f64),
            ("record-error-rate", st.record_error.rate(now, s)),
            ("record-error-total", self.records_failed as f64),
            ("record-retry-rate", st.record_retry.rate(now, s)),
            ("record-retry-total", self.retries as f64),
            ("record-size-avg", st.record_size.avg(now, s)),
            ("record-size-max", st.record_size.max(now, s)),
            ("batch-size-avg", st.batch_size.avg(now, s)),
            ("batch-size-max", st.batch_size.max(now, s)),
            ("compression-rate-avg", st.compression_rate.avg(now, s)),
            ("records-per-request-avg", st.records_per_request.avg(now, s)),
            ("record-queue-time-avg", st.record_queue_time.avg(now, s)),
            ("record-queue-time-max", st.record_queue_time.max(now, s)),
            ("request-latency-avg", st.request_latency.avg(now, s)),
            ("request-latency-max", st.request_latency.max(now, s)),
            ("request-rate", st.requests.rate(now, s)),
            ("request-total", self.requests as f64),
            ("outgoing-byte-rate", st.outgoing_bytes.rate(now, s)),
            ("produce-throttle-time-avg", st.produce_throttle_time.avg(now, s)),
            ("produce-throttle-time-max", st.produce_throttle_time.max(now, s)),
            ("buffer-available-bytes", free as f64),
            ("bufferpool-wait-ratio", st.buffer_wait.rate(now, s)),
            ("bufferpool-wait-time-ns-total", self.buffer_wait.as_nanos() as f64),
            ("connection-count", connections as f64),
        ]
    }

    /// Records sent to brokers: delivered, failed after an attempt, or in flight. Java's
    /// `record-send-total` counts records as they are drained into requests.
    #[cfg(feature = "alloc")]
    fn records_sent_to_brokers(&self) -> u64 {
        self.records_drained
    }

    /// Time covered by the counters (from construction to the last event counted).
    pub fn elapsed(&self) -> Duration {
        self.last - self.started
    }

    /// Average size of a sent batch in bytes.
    pub fn batch_size_avg(&self) -> u64 {
        self.batch_bytes_sent.checked_div(self.batches_sent).unwrap_or(0)
    }

    /// Average request latency.
    pub fn request_latency_avg(&self) -> Duration {
        match u32::try_from(self.latency_count) {
            Ok(0) | Err(_) => Duration::ZERO,
            Ok(n) => self.latency_total / n,
        }
    }

    pub(super) fn record_accepted(&mut self, bytes: usize, free: usize, _now: Instant) {
        self.records_sent += 1;
        self.record_bytes += bytes as u64;
        self.buffer_free = free;
        #[cfg(feature = "alloc")]
        self.stats.record_size.record(bytes as f64, _now, self.stats.sampling);
    }
    pub(super) fn record_refused(&mut self) {
        self.records_refused += 1;
    }
    /// A sender waited `waited` for buffer space (Java's `bufferpool-wait-*`).
    pub(super) fn buffer_waited(&mut self, waited: Duration, _now: Instant) {
        self.buffer_wait += waited;
        #[cfg(feature = "alloc")]
        self.stats.buffer_wait.record(waited.as_secs_f64(), _now, self.stats.sampling);
    }
    pub(super) fn batch_delivered(&mut self, records: u32) {
        self.records_delivered += u64::from(records);
    }
    pub(super) fn batch_failed(&mut self, records: u32, _now: Instant) {
        self.records_failed += u64::from(records);
        #[cfg(feature = "alloc")]
        self.stats.record_error.record(f64::from(records), _now, self.stats.sampling);
    }
    pub(super) fn batch_retried(&mut self, _records: u32, _now: Instant) {
        self.retries += 1;
        #[cfg(feature = "alloc")]
        self.stats.record_retry.record(f64::from(_records), _now, self.stats.sampling);
    }
    /// A batch sealed for its first attempt: `plain` bytes before compression, `sealed` after,
    /// `queued` since its first record.
    pub(super) fn batch_sealed(
        &mut self,
        records: u32,
        (_plain, _sealed): (usize, usize),
        _queued: Duration,
        _now: Instant,
    ) {
        self.records_drained += u64::from(records);
        #[cfg(feature = "alloc")]
        {
            let s = self.stats.sampling;
            let st = &mut self.stats;
            st.record_send.record(f64::from(records), _now, s);
            st.batch_size.record(_sealed as f64, _now, s);
            if _plain > 0 {
                st.compression_rate.record(_sealed as f64 / _plain as f64, _now, s);
            }
            st.record_queue_time.record(_queued.as_secs_f64() * 1000.0, _now, s);
        }
    }
    pub(super) fn batch_sent(&mut self, bytes: usize) {
        self.batches_sent += 1;
        self.batch_bytes_sent += bytes as u64;
    }
    pub(super) fn request_sent(&mut self, _sent: SentRequest, now: Instant) {
        self.requests += 1;
        self.last = self.last.max(now);
        #[cfg(feature = "alloc")]
        {
            let s = self.stats.sampling;
            let st = &mut self.stats;
            st.requests.record(1.0, now, s);
            st.outgoing_bytes.record(_sent.bytes as f64, now, s);
            if _sent.records > 0 {
                st.records_per_request.record(f64::from(_sent.records), now, s);
            }
        }
    }
    /// A response arrived `latency` after its request; only Produce responses count in the
    /// request latency (the Java client's `request-latency-*`).
    pub(super) fn response(&mut self, latency: Duration, produce: bool, now: Instant) {
        self.last = self.last.max(now);
        if !produce {
            return;
        }
        self.latency_total += latency;
        self.latency_count += 1;
        self.latency_max = self.latency_max.max(latency);
        #[cfg(feature = "alloc")]
        self.stats.request_latency.record(latency.as_secs_f64() * 1000.0, now, self.stats.sampling);
    }
    /// A Produce response asked for `ms` of throttling (KIP-219).
    pub(super) fn throttled(&mut self, _ms: i32, _now: Instant) {
        #[cfg(feature = "alloc")]
        self.stats.produce_throttle_time.record(f64::from(_ms), _now, self.stats.sampling);
    }
    pub(super) fn batch_split(&mut self) {
        self.batches_split += 1;
    }
    pub(super) fn broker_error(&mut self) {
        self.errors += 1;
    }
    pub(super) fn request_timed_out(&mut self) {
        self.request_timeouts += 1;
    }
    pub(super) fn connection_lost(&mut self) {
        self.connections_lost += 1;
    }
}
