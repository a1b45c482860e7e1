//! Per-topic and per-node metrics, as the Java producer keeps them in the groups
//! `producer-topic-metrics` (tag `topic`) and `producer-node-metrics` (tag `node-id`). They are
//! recorded per batch and per request, never per record, and kept only with `alloc` (a map
//! by topic name and by node id, which grow with the cluster).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use super::window::{HeapWindowed, Sampling};
use crate::time::Instant;

/// One topic's statistics. Their samples are allocated at each statistic's first value, so a
/// topic without errors or retries keeps none for them (see `window::SampleStore`).
#[derive(Debug, Clone, PartialEq, Default)]
struct TopicStats {
    records: HeapWindowed,
    bytes: HeapWindowed,
    compression: HeapWindowed,
    errors: HeapWindowed,
    retries: HeapWindowed,
    records_total: u64,
    bytes_total: u64,
    errors_total: u64,
    retries_total: u64,
}

/// One broker's statistics (Produce requests to it).
#[derive(Debug, Clone, PartialEq, Default)]
struct NodeStats {
    requests: HeapWindowed,
    outgoing: HeapWindowed,
    latency: HeapWindowed,
    requests_total: u64,
    outgoing_total: u64,
}

/// Per-topic and per-node statistics.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Detail {
    sampling: Sampling,
    topics: BTreeMap<String, TopicStats>,
    nodes: BTreeMap<i32, NodeStats>,
}

/// A batch sealed for its first attempt, for [`Detail::batch_sealed`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct SealedBatch {
    pub(crate) records: u32,
    pub(crate) plain: usize,
    pub(crate) sealed: usize,
}

impl Detail {
    pub(crate) fn new(sampling: Sampling) -> Self {
        Self { sampling, ..Self::default() }
    }

    fn topic(&mut self, topic: &str) -> &mut TopicStats {
        // A lookup first: the common case (a known topic) allocates nothing.
        if !self.topics.contains_key(topic) {
            self.topics.insert(String::from(topic), TopicStats::default());
        }
        // Inserted just above if it was missing.
        self.topics.get_mut(topic).expect("present")
    }

    /// A batch of `topic` sealed for its first attempt: Java's topic `record-send`, `byte`
    /// (the batch's bytes on the wire) and `compression-rate`.
    pub(crate) fn batch_sealed(&mut self, topic: &str, b: SealedBatch, now: Instant) {
        let s = self.sampling;
        let t = self.topic(topic);
        t.records.record(f64::from(b.records), now, s);
        t.bytes.record(b.sealed as f64, now, s);
        if b.plain > 0 {
            t.compression.record(b.sealed as f64 / b.plain as f64, now, s);
        }
        t.records_total += u64::from(b.records);
        t.bytes_total += b.sealed as u64;
    }

    /// `records` of `topic` failed.
    pub(crate) fn batch_failed(&mut self, topic: &str, records: u32, now: Instant) {
        let s = self.sampling;
        let t = self.topic(topic);
        t.errors.record(f64::from(records), now, s);
        t.errors_total += u64::from(records);
    }

    /// A batch of `records` of `topic` goes back for a retry.
    pub(crate) fn batch_retried(&mut self, topic: &str, records: u32, now: Instant) {
        let s = self.sampling;
        let t = self.topic(topic);
        t.retries.record(f64::from(records), now, s);
        t.retries_total += u64::from(records);
    }

    /// A Produce request of `bytes` went to `node`.
    pub(crate) fn request_sent(&mut self, node: i32, bytes: usize, now: Instant) {
        let s = self.sampling;
        let n = self.nodes.entry(node).or_default();
        n.requests.record(1.0, now, s);
        n.outgoing.record(bytes as f64, now, s);
        n.requests_total += 1;
        n.outgoing_total += bytes as u64;
    }

    /// A Produce response from `node` came `latency` after its request.
    pub(crate) fn produce_latency(&mut self, node: i32, latency: Duration, now: Instant) {
        let s = self.sampling;
        self.nodes.entry(node).or_default().latency.record(latency.as_secs_f64() * 1000.0, now, s);
    }

    /// Java's `producer-topic-metrics` at `now`, by topic.
    pub(crate) fn topics(&self, now: Instant) -> Vec<(&str, Vec<(&'static str, f64)>)> {
        let s = self.sampling;
        let all = self.topics.iter().map(|(name, t)| {
            let metrics = alloc::vec![
                ("record-send-rate", t.records.rate(now, s)),
                ("record-send-total", t.records_total as f64),
                ("byte-rate", t.bytes.rate(now, s)),
                ("byte-total", t.bytes_total as f64),
                ("compression-rate", t.compression.avg(now, s)),
                ("record-error-rate", t.errors.rate(now, s)),
                ("record-error-total", t.errors_total as f64),
                ("record-retry-rate", t.retries.rate(now, s)),
                ("record-retry-total", t.retries_total as f64),
            ];
            (name.as_str(), metrics)
        });
        all.collect()
    }

    /// Java's `producer-node-metrics` at `now`, by node id (negative: a bootstrap address).
    pub(crate) fn nodes(&self, now: Instant) -> Vec<(i32, Vec<(&'static str, f64)>)> {
        let s = self.sampling;
        let all = self.nodes.iter().map(|(&id, n)| {
            let metrics = alloc::vec![
                ("request-rate", n.requests.rate(now, s)),
                ("request-total", n.requests_total as f64),
                ("request-latency-avg", n.latency.avg(now, s)),
                ("request-latency-max", n.latency.max(now, s)),
                ("outgoing-byte-rate", n.outgoing.rate(now, s)),
                ("outgoing-byte-total", n.outgoing_total as f64),
            ];
            (id, metrics)
        });
        all.collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(all: &[(&'static str, f64)], name: &str) -> f64 {
        all.iter().find(|(n, _)| *n == name).map(|&(_, v)| v).expect("metric")
    }

    #[test]
    fn per_topic_and_per_node_totals_and_rates() {
        let s = Sampling { window: Duration::from_secs(1), samples: 2 };
        let mut d = Detail::new(s);
        let t0 = Instant::from_millis(0);
        d.batch_sealed("a", SealedBatch { records: 10, plain: 1000, sealed: 250 }, t0);
        d.batch_sealed("b", SealedBatch { records: 3, plain: 300, sealed: 300 }, t0);
        d.batch_sealed("a", SealedBatch { records: 5, plain: 500, sealed: 250 }, Instant::from_millis(500));
        d.batch_failed("b", 3, Instant::from_millis(600));
        d.batch_retried("a", 5, Instant::from_millis(600));
        d.request_sent(1, 700, t0);
        d.produce_latency(1, Duration::from_millis(4), Instant::from_millis(4));
        d.produce_latency(1, Duration::from_millis(8), Instant::from_millis(10));
        let now = Instant::from_millis(1000);
        let topics = d.topics(now);
        assert_eq!(topics.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ["a", "b"]);
        let a = &topics[0].1;
        assert_eq!(get(a, "record-send-total"), 15.0);
        assert_eq!(get(a, "byte-total"), 500.0);
        assert_eq!(get(a, "compression-rate"), 0.375);
        assert_eq!(get(a, "record-retry-total"), 5.0);
        assert_eq!(get(a, "record-error-total"), 0.0);
        // 15 records over at least one whole window (samples - 1).
        assert!((get(a, "record-send-rate") - 15.0).abs() < 1e-9);
        assert_eq!(get(&topics[1].1, "record-error-total"), 3.0);
        let nodes = d.nodes(now);
        assert_eq!(nodes.len(), 1);
        assert_eq!(nodes[0].0, 1);
        assert_eq!(get(&nodes[0].1, "request-total"), 1.0);
        assert_eq!(get(&nodes[0].1, "request-latency-avg"), 6.0);
        assert_eq!(get(&nodes[0].1, "request-latency-max"), 8.0);
        assert_eq!(get(&nodes[0].1, "outgoing-byte-total"), 700.0);
    }
}
