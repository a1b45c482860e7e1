//! What an application plugs into a producer: a custom partitioner, interceptors (Java's
//! `ProducerInterceptor`), and the statistics callback (librdkafka's `stats_cb`). They are
//! set on [`crate::ProducerConfig`] and shared by both producers. Each is a trait object or
//! an `Arc`'d closure, so a binding (Python, C) can supply one.
//!
//! None of them can break the exactly-one-completion rule: the producer calls them under
//! `catch_unwind`; a panic is logged and the record goes on (an interceptor) or fails with a
//! typed error (a partitioner), and every record still completes once.

use core::fmt;
use core::time::Duration;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use crate::error::Error;
use crate::record::RecordMetadata;

/// What a custom partitioner sees of a record without an explicit partition.
#[derive(Debug, Clone, Copy)]
pub struct PartitionerInput<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The serialized key.
    pub key: Option<&'a [u8]>,
    /// The serialized value.
    pub value: Option<&'a [u8]>,
    /// The partitions whose leader is known (Java's `availablePartitionsForTopic`), ascending.
    pub available: &'a [u32],
    /// How many partitions the topic has (Java's `partitionsForTopic`): any of
    /// `0..partitions` may be returned.
    pub partitions: u32,
}

/// A custom partitioner (Java's `partitioner.class`): the partition for a record sent
/// without one, or `None` for the built-in rule (murmur2 of the key, sticky without a key). A
/// partition `>= partitions` fails the record with [`crate::SendError::InvalidPartition`];
/// a panic fails it with [`Error::Hook`].
///
/// It runs on the sending thread while the producer's state is locked: keep it quick, and do
/// not call the producer from it.
pub type Partitioner = Arc<dyn Fn(&PartitionerInput<'_>) -> Option<u32> + Send + Sync>;

/// A record as interceptors see it on its way in, serialized (owned: an interceptor may change
/// any field, like Java's `onSend` returning a new `ProducerRecord`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterceptedRecord {
    /// The topic.
    pub topic: String,
    /// The explicit partition, if any.
    pub partition: Option<u32>,
    /// The serialized key.
    pub key: Option<Vec<u8>>,
    /// The serialized value.
    pub value: Option<Vec<u8>>,
    /// The headers: key and value (`None` is a null value).
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// The timestamp in ms; `None` takes the time of the send.
    pub timestamp: Option<i64>,
}

/// Java's `ProducerInterceptor`: sees (and may change) every record before it is
/// partitioned, and hears every record's result exactly once.
///
/// Both run under `catch_unwind`: a panic is logged and ignored (the record is sent as it was
/// before that interceptor, and its completion still happens once).
pub trait ProducerInterceptor: Send + Sync {
    /// Called by `send` on the sending thread, before partitioning (Java's `onSend`).
    /// Interceptors run in the order they were added, each seeing the previous one's changes.
    fn on_send(&self, record: &mut InterceptedRecord) {
        let _ = record;
    }

    /// Called once for every record `on_send` saw: with its metadata once the broker
    /// acknowledged it, or with the error that failed it, whether it failed in `send` (never
    /// sent) or later (Java's `onAcknowledgement`). Runs on the producer's IO thread (or task)
    /// for records that were sent: keep it short, and do not wait on the producer from it.
    fn on_acknowledgement(&self, topic: &str, result: Result<&RecordMetadata, &Error>) {
        let _ = (topic, result);
    }
}

/// The statistics callback: a JSON document every `statistics.interval.ms` (librdkafka's
/// `stats_cb`). Runs on a thread (or tokio task) of its own.
pub type StatisticsCallback = Arc<dyn Fn(&str) + Send + Sync>;

/// What a producer calls out to; part of [`crate::ProducerConfig`].
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    pub(crate) partitioner: Option<Partitioner>,
    pub(crate) interceptors: Vec<Arc<dyn ProducerInterceptor>>,
    pub(crate) statistics: Option<StatisticsCallback>,
    /// `statistics.interval.ms` (zero: off).
    pub(crate) statistics_interval: Duration,
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hooks")
            .field("partitioner", &self.partitioner.is_some())
            .field("interceptors", &self.interceptors.len())
            .field("statistics", &self.statistics.is_some())
            .field("statistics_interval", &self.statistics_interval)
            .finish()
    }
}

/// Configurations compare equal when they hold the same hooks (the same `Arc`s).
impl PartialEq for Hooks {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: Option<&Partitioner>, b: Option<&Partitioner>| match (a, b) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        let same_stats = match (&self.statistics, &other.statistics) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        same(self.partitioner.as_ref(), other.partitioner.as_ref())
            && same_stats
            && self.statistics_interval == other.statistics_interval
            && self.interceptors.len() == other.interceptors.len()
            && self.interceptors.iter().zip(&other.interceptors).all(|(a, b)| Arc::ptr_eq(a, b))
    }
}

impl Eq for Hooks {}

/// The interceptors of one producer.
pub(crate) type Interceptors = Arc<[Arc<dyn ProducerInterceptor>]>;

/// Runs every interceptor's `on_send` on `record`; one that panics is skipped (its changes
/// are dropped) and logged.
pub(crate) fn on_send(interceptors: &[Arc<dyn ProducerInterceptor>], record: &mut InterceptedRecord) {
    for (i, interceptor) in interceptors.iter().enumerate() {
        let mut copy = record.clone();
        match catch_unwind(AssertUnwindSafe(|| interceptor.on_send(&mut copy))) {
            Ok(()) => *record = copy,
            Err(_) => log::error!("kprod: interceptor {i} panicked in on_send; the record goes on unchanged by it"),
        }
    }
}

/// Runs every interceptor's `on_acknowledgement`; a panic is logged. Returns how many panicked.
pub(crate) fn on_acknowledgement(
    interceptors: &[Arc<dyn ProducerInterceptor>],
    topic: &str,
    result: Result<&RecordMetadata, &Error>,
) -> usize {
    let mut panicked = 0;
    for (i, interceptor) in interceptors.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| interceptor.on_acknowledgement(topic, result))).is_err() {
            log::error!("kprod: interceptor {i} panicked in on_acknowledgement");
            panicked += 1;
        }
    }
    panicked
}

/// Calls the custom partitioner; a panic becomes [`Error::Hook`].
pub(crate) fn partition(partitioner: &Partitioner, input: &PartitionerInput<'_>) -> Result<Option<u32>, Error> {
    catch_unwind(AssertUnwindSafe(|| partitioner(input)))
        .map_err(|_| Error::Hook(format!("the custom partitioner panicked on a record for topic {}", input.topic)))
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use kprod_core::producer::{BatchId, RecordId};

    use super::*;
    use crate::delivery::{BatchOutcome, Registry};

    /// Upper-cases the value, then panics on a value `boom`; records results.
    #[derive(Default)]
    struct Probe(Mutex<Vec<Result<i64, String>>>);

    impl ProducerInterceptor for Probe {
        fn on_send(&self, record: &mut InterceptedRecord) {
            if let Some(v) = record.value.as_mut() {
                v.make_ascii_uppercase();
            }
            assert!(record.value.as_deref() != Some(b"BOOM"), "panics on purpose");
        }

        fn on_acknowledgement(&self, _topic: &str, result: Result<&RecordMetadata, &Error>) {
            self.0.lock().unwrap().push(result.map(|m| m.offset).map_err(ToString::to_string));
            assert!(!matches!(result, Ok(m) if m.offset == 11), "panics on purpose");
        }
    }

    fn record(value: &[u8]) -> InterceptedRecord {
        InterceptedRecord {
            topic: "t".into(),
            partition: None,
            key: None,
            value: Some(value.to_vec()),
            headers: Vec::new(),
            timestamp: None,
        }
    }

    #[test]
    fn a_panicking_on_send_leaves_the_record_as_it_was() {
        let probe: Arc<dyn ProducerInterceptor> = Arc::new(Probe::default());
        let list = [Arc::clone(&probe), probe];
        let mut ok = record(b"fine");
        on_send(&list, &mut ok);
        assert_eq!(ok.value.as_deref(), Some(&b"FINE"[..]), "both ran, each on the previous one's result");
        let mut boom = record(b"boom");
        on_send(&list, &mut boom);
        // The first panicked (its change dropped); the second saw `boom` and panicked too.
        assert_eq!(boom, record(b"boom"));
    }

    #[test]
    fn every_tracked_record_is_acknowledged_once_even_when_the_interceptor_panics() {
        let probe = Arc::new(Probe::default());
        let interceptors: Interceptors = vec![Arc::clone(&probe) as Arc<dyn ProducerInterceptor>].into();
        let mut reg = Registry::new(16 * 1024);
        reg.set_interceptors(interceptors);
        for index in 0..3 {
            let id = RecordId { batch: BatchId(1), index };
            reg.track(id, 0, "t");
            let _ = reg.register(id, 0, None);
        }
        let second = RecordId { batch: BatchId(2), index: 0 };
        reg.track(second, 0, "t");
        reg.register_tagged(second, 0, 7, 10);
        let outcome =
            BatchOutcome::Delivered { topic: Arc::from("t"), partition: 0, base_offset: 10, log_append_time: -1 };
        reg.complete(BatchId(1), outcome).expect("registered").dispatch_to(None);
        for done in reg.fail_all(&Error::Closed) {
            done.dispatch_to(None);
        }
        let seen = probe.0.lock().unwrap().clone();
        assert_eq!(seen, [Ok(10), Ok(11), Ok(12), Err(Error::Closed.to_string())]);
    }

    #[test]
    fn a_panicking_partitioner_is_a_typed_error() {
        let p: Partitioner = Arc::new(|_: &PartitionerInput<'_>| panic!("on purpose"));
        let input = PartitionerInput { topic: "orders", key: None, value: None, available: &[0], partitions: 1 };
        assert!(matches!(partition(&p, &input), Err(Error::Hook(m)) if m.contains("orders")));
    }
}
