//! What both producers do to take a record: serialize it (before any lock), make the engine's
//! record, and the errors of a `max.block.ms` wait.

use core::time::Duration;
use std::borrow::Cow;
use std::sync::Arc;

use kprod_core::producer::{Producer as Engine, ProducerRecord, SendError};
use kprod_core::time::Instant;

use crate::error::{BlockedOn, ConnectionError, Error};
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
    pub(crate) fn record<'r, K: ?Sized, V: ?Sized>(&'r self, record: &Record<'r, K, V>, now_ms: i64) -> ProducerRecord<'r> {
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
pub(crate) fn blocked_error(topic: &str, err: SendError, after: Duration, cause: Option<Arc<ConnectionError>>) -> Error {
    let blocked_on = match err {
        SendError::BufferFull => BlockedOn::Buffer,
        SendError::Topic(code) => BlockedOn::Metadata(Some(code)),
        _ => BlockedOn::Metadata(None),
    };
    Error::Timeout { topic: Some(topic.to_owned()), blocked_on, after, cause }
}
