//! Producer metrics, comparable to the seed client's `metrics()` (record send rate, bytes,
//! average batch size, request latency, retries, errors, free buffer). Counters only grow; rates
//! are counters over [`Metrics::elapsed`], which the caller divides.

use core::time::Duration;

use crate::time::Instant;

/// Counters and gauges kept by the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    /// Bytes of sealed batches sent (compressed size).
    pub batch_bytes_sent: u64,
    /// Batch retries.
    pub retries: u64,
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
    /// Free `buffer.memory` bytes after the last change.
    pub buffer_free: usize,
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
            batch_bytes_sent: 0,
            retries: 0,
            requests: 0,
            errors: 0,
            request_timeouts: 0,
            connections_lost: 0,
            latency_total: Duration::ZERO,
            latency_count: 0,
            latency_max: Duration::ZERO,
            buffer_free: free,
        }
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

    pub(super) fn record_accepted(&mut self, bytes: usize, free: usize) {
        self.records_sent += 1;
        self.record_bytes += bytes as u64;
        self.buffer_free = free;
    }
    pub(super) fn record_refused(&mut self) {
        self.records_refused += 1;
    }
    pub(super) fn batch_delivered(&mut self, records: u32) {
        self.records_delivered += u64::from(records);
    }
    pub(super) fn batch_failed(&mut self, records: u32) {
        self.records_failed += u64::from(records);
    }
    pub(super) fn batch_retried(&mut self) {
        self.retries += 1;
    }
    pub(super) fn batch_sent(&mut self, bytes: usize) {
        self.batches_sent += 1;
        self.batch_bytes_sent += bytes as u64;
    }
    pub(super) fn request_sent(&mut self, now: Instant) {
        self.requests += 1;
        self.last = self.last.max(now);
    }
    pub(super) fn response(&mut self, latency: Duration, now: Instant) {
        self.latency_total += latency;
        self.latency_count += 1;
        self.latency_max = self.latency_max.max(latency);
        self.last = self.last.max(now);
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
