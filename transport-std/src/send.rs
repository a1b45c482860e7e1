//! What both producers do to take a record: serialize it (before any lock), make the engine's
//! record, and the errors of a `max.block.ms` wait.

use core::time::Duration;
use std::borrow::Cow;
use std::sync::Arc;

use kprod_core::producer::{Producer as Engine, ProducerRecord, SendError};
use kprod_core::record::Header;
use kprod_core::time::Instant;

use crate::error::{BlockedOn, ConnectionError, Error};
use crate::hooks::{self, InterceptedRecord, Partitioner, PartitionerInput, ProducerInterceptor};
use crate::record::Record;
use crate::serializer::Serializer;

/// A record's key and value as bytes.
pub(crate) struct Serialized<'a> {
    key: Option<Cow<'a, [u8]>>,
    value: Option<Cow<'a, [u8]>>,
}

impl<'a> Serialized<'a> {
    /// Runs the serializers (on the caller's thread, before any lock).
    pub(crate) fn new<K: ?Sized, V: ?Sized>(
        record: &Record<'a, K, V>,
        key_serializer: &dyn Serializer<K>,
        value_serializer: &dyn Serializer<V>,
    ) -> Result<Self, Error> {
        let topic = record.topic;
        let key = record.key.map(|k| key_serializer.serialize(topic, k)).transpose()?;
        let value = record.value.map(|v| value_serializer.serialize(topic, v)).transpose()?;
        Ok(Self { key, value })
    }

    /// The engine's view of `record` with these bytes; `now_ms` (the wall clock at the send)
    /// is its timestamp if it has none.
    pub(crate) fn record<'r, K: ?Sized, V: ?Sized>(
        &'r self,
        record: &Record<'r, K, V>,
        now_ms: i64,
    ) -> ProducerRecord<'r> {
        ProducerRecord {
            topic: record.topic,
            partition: record.partition,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers: record.headers,
            timestamp: record.timestamp.unwrap_or(now_ms),
        }
    }
}

/// A record ready for the engine: the caller's, serialized, or the interceptors' version of it.
pub(crate) enum Prepared<'a, 'r, K: ?Sized, V: ?Sized> {
    /// No interceptor: the caller's record and its bytes.
    Plain { record: &'r Record<'a, K, V>, bytes: Serialized<'a>, partition: Option<u32> },
    /// What the interceptors made of it.
    Intercepted(InterceptedRecord),
}

impl<'a, 'r, K: ?Sized, V: ?Sized> Prepared<'a, 'r, K, V> {
    /// Serializes `record` (on the caller's thread, before any lock) and runs the
    /// interceptors' `on_send` on it, if there are any.
    pub(crate) fn new(
        record: &'r Record<'a, K, V>,
        key_serializer: &dyn Serializer<K>,
        value_serializer: &dyn Serializer<V>,
        interceptors: &[Arc<dyn ProducerInterceptor>],
    ) -> Result<Self, Error> {
        let bytes = Serialized::new(record, key_serializer, value_serializer)?;
        if interceptors.is_empty() {
            return Ok(Self::Plain { record, bytes, partition: record.partition });
        }
        let mut owned = InterceptedRecord {
            topic: record.topic.to_owned(),
            partition: record.partition,
            key: bytes.key.map(Cow::into_owned),
            value: bytes.value.map(Cow::into_owned),
            headers: record.headers.iter().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect(),
            timestamp: record.timestamp,
        };
        hooks::on_send(interceptors, &mut owned);
        Ok(Self::Intercepted(owned))
    }

    /// The topic.
    pub(crate) fn topic(&self) -> &str {
        match self {
            Self::Plain { record, .. } => record.topic,
            Self::Intercepted(r) => &r.topic,
        }
    }

    /// The explicit partition.
    fn partition(&self) -> Option<u32> {
        match self {
            Self::Plain { partition, .. } => *partition,
            Self::Intercepted(r) => r.partition,
        }
    }

    /// The custom partitioner, if there is one and the record names no partition.
    pub(crate) fn needs_partitioner<'p>(&self, partitioner: Option<&'p Partitioner>) -> Option<&'p Partitioner> {
        partitioner.filter(|_| self.partition().is_none())
    }

    /// Runs the custom partitioner with the topic's partition count and its available
    /// partitions ([`partition_info`]).
    pub(crate) fn choose_partition(
        &mut self,
        partitioner: &Partitioner,
        (partitions, available): (u32, Vec<u32>),
    ) -> Result<(), Error> {
        let chosen = {
            let (key, value) = match &*self {
                Self::Plain { bytes, .. } => (bytes.key.as_deref(), bytes.value.as_deref()),
                Self::Intercepted(r) => (r.key.as_deref(), r.value.as_deref()),
            };
            let input = PartitionerInput { topic: self.topic(), key, value, available: &available, partitions };
            hooks::partition(partitioner, &input)?
        };
        match self {
            Self::Plain { partition, .. } => *partition = chosen,
            Self::Intercepted(r) => r.partition = chosen,
        }
        Ok(())
    }

    /// Calls `f` with the engine's view of this record; `now_ms` (the wall clock at the send)
    /// is its timestamp if it has none.
    pub(crate) fn with_record<T>(&self, now_ms: i64, f: impl FnOnce(&ProducerRecord<'_>) -> T) -> T {
        match self {
            Self::Plain { record, bytes, partition } => {
                let mut rec = bytes.record(record, now_ms);
                rec.partition = *partition;
                f(&rec)
            }
            Self::Intercepted(r) => {
                let headers: Vec<Header<'_>> =
                    r.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
                f(&ProducerRecord {
                    topic: &r.topic,
                    partition: r.partition,
                    key: r.key.as_deref(),
                    value: r.value.as_deref(),
                    headers: &headers,
                    timestamp: r.timestamp.unwrap_or(now_ms),
                })
            }
        }
    }
}

/// `topic`'s partition count and the partitions whose leader is known, once its metadata is
/// known (a retriable error until then).
pub(crate) fn partition_info(
    engine: &mut Engine<'static>,
    topic: &str,
    now: Instant,
) -> Result<(u32, Vec<u32>), SendError> {
    let count = partition_count(engine, topic, now)?;
    let available = engine.available_partitions(topic).map(Iterator::collect).unwrap_or_default();
    Ok((count, available))
}

/// `topic`'s partition count, once its metadata is known (a retriable error until then).
pub(crate) fn partition_count(engine: &mut Engine<'static>, topic: &str, now: Instant) -> Result<u32, SendError> {
    // The engine learns a topic from `send`. A record for a partition that cannot exist is
    // refused with the partition count once the metadata is known, and never buffered.
    let probe = ProducerRecord { topic, partition: Some(u32::MAX), key: None, value: None, headers: &[], timestamp: 0 };
    match engine.send(&probe, now) {
        Err(SendError::InvalidPartition { count, .. }) => Ok(count),
        Ok(_) => unreachable!("partition u32::MAX never exists"),
        Err(e) => Err(e),
    }
}

/// The timeout error for a `max.block.ms` wait that ended on `err`, naming the last connection
/// error (`cause`) if there is one.
pub(crate) fn blocked_error(
    topic: &str,
    err: SendError,
    after: Duration,
    cause: Option<Arc<ConnectionError>>,
) -> Error {
    let blocked_on = match err {
        SendError::BufferFull => BlockedOn::Buffer,
        SendError::Topic(code) => BlockedOn::Metadata(Some(code)),
        _ => BlockedOn::Metadata(None),
    };
    Error::Timeout { topic: Some(topic.to_owned()), blocked_on, after, cause }
}

/// Tells the engine that a `send` waited `waited` for buffer space (Java's `bufferpool-wait-*`
/// metrics); nothing when it did not wait.
pub(crate) fn note_space_wait(st: &mut crate::state::State, waited: Duration, now: Instant) {
    if !waited.is_zero() {
        st.engine.buffer_waited(waited, now);
    }
}
