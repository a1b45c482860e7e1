//! The engine's public vocabulary: what goes in (records), what comes out (events), and why
//! something failed.

use core::fmt;

use super::conn::{ConnError, ConnId};
use super::metadata::MetadataError;
use crate::protocol::ErrorCode;
use crate::record::Header;

/// Identifies a batch for the whole life of the producer (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BatchId(pub u64);

/// Identifies a record accepted by `send`: its batch and its index in that batch. The record's
/// offset, once delivered, is the batch's base offset plus `index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    /// The batch holding the record.
    pub batch: BatchId,
    /// The record's position in the batch.
    pub index: u32,
}

/// A record to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerRecord<'a> {
    /// The topic.
    pub topic: &'a str,
    /// An explicit partition, or `None` to let the partitioner choose.
    pub partition: Option<u32>,
    /// The key (`None` is a null key, which the sticky partitioner places).
    pub key: Option<&'a [u8]>,
    /// The value (`None` is a tombstone).
    pub value: Option<&'a [u8]>,
    /// Headers.
    pub headers: &'a [Header<'a>],
    /// Create time in milliseconds since the Unix epoch. The core reads no clock: the driver
    /// stamps it (the core's [`crate::time::Instant`] is not wall time).
    pub timestamp: i64,
}

/// What the engine asks of the driver, or tells it. Polled with `poll_event`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Open a TCP connection for `conn` to [`super::Producer::address`]`(conn)`, then call
    /// `handle_connected` or `handle_disconnected`.
    Connect(ConnId),
    /// Close the connection (no `handle_disconnected` is needed afterwards).
    Close(ConnId),
    /// A batch completed: delivered or failed. The topic is its index (see
    /// [`super::Producer::topic_name`]); [`super::Producer::drain`] hands the links the named
    /// [`Completion`].
    Completed(Completion<u16>),
    /// The engine gave up on an open connection because of what the broker sent, or did not
    /// send in time. An [`Event::Close`] for `conn` follows; its requests are retried. Drivers
    /// log it and keep it as the last cause to name when a wait times out.
    ConnectionFailed {
        /// The connection ([`super::Producer::address`] still names its broker).
        conn: ConnId,
        /// What went wrong.
        error: ConnError,
    },
    /// The producer cannot go on (reported once; every later call fails with it).
    Fatal(FatalError),
}

/// A batch's completion: exactly one covers every record `send` accepted. `T` names the topic:
/// the engine's topic index (`u16`, in [`Event::Completed`]; [`super::Producer::topic_name`]
/// names it), or its name (`&str`, as [`super::Producer::drain`] hands it to the links and the
/// drivers report it).
///
/// Record `index` of the batch (from its [`RecordId`]) has offset `base_offset + index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion<T> {
    /// Every record of `batch` was written.
    Delivered {
        /// The batch (the `batch` of the [`RecordId`]s `send` returned).
        batch: BatchId,
        /// The topic.
        topic: T,
        /// The partition.
        partition: u32,
        /// Offset of the batch's first record, or -1 if unknown (`acks=0`, where the broker
        /// answers nothing).
        base_offset: i64,
        /// The broker's append time with `LogAppendTime` topics, else -1.
        log_append_time: i64,
        /// Records this completion covers: indices `first..first + records` of the batch.
        records: u32,
        /// The batch index of the first record it covers (at `base_offset`): 0, unless the
        /// broker refused the batch as too large and the engine split it (MESSAGE_TOO_LARGE),
        /// when each part completes on its own.
        first: u32,
        /// More parts of the batch complete later (it was split; see `first`). The next part
        /// is ready to go: like an input, it asks the driver for another `poll_transmit`
        /// round ([`super::Producer::drain`] does this).
        more: bool,
    },
    /// Every record of `batch` failed, for `reason`.
    Failed {
        /// The batch.
        batch: BatchId,
        /// The topic.
        topic: T,
        /// The partition.
        partition: u32,
        /// Records this completion covers: indices `first..first + records` of the batch.
        records: u32,
        /// The batch index of the first record it covers (see [`Completion::Delivered`]).
        first: u32,
        /// More parts of the batch complete later.
        more: bool,
        /// Why.
        reason: DeliveryError,
    },
}

impl<T> Completion<T> {
    /// The batch.
    pub const fn batch(&self) -> BatchId {
        match *self {
            Self::Delivered { batch, .. } | Self::Failed { batch, .. } => batch,
        }
    }

    /// The topic.
    pub const fn topic(&self) -> &T {
        match self {
            Self::Delivered { topic, .. } | Self::Failed { topic, .. } => topic,
        }
    }

    /// The partition.
    pub const fn partition(&self) -> u32 {
        match *self {
            Self::Delivered { partition, .. } | Self::Failed { partition, .. } => partition,
        }
    }

    /// Records this completion covers.
    pub const fn records(&self) -> u32 {
        match *self {
            Self::Delivered { records, .. } | Self::Failed { records, .. } => records,
        }
    }

    /// The batch index of the first record it covers (0 unless the batch was split).
    pub const fn first(&self) -> u32 {
        match *self {
            Self::Delivered { first, .. } | Self::Failed { first, .. } => first,
        }
    }

    /// Whether more parts of the batch complete later (it was split).
    pub const fn more(&self) -> bool {
        match *self {
            Self::Delivered { more, .. } | Self::Failed { more, .. } => more,
        }
    }

    /// The batch indices it covers.
    pub const fn indices(&self) -> core::ops::Range<u32> {
        self.first()..self.first().saturating_add(self.records())
    }

    /// The base offset if delivered (-1 if unknown), or why the batch failed.
    pub const fn result(&self) -> Result<i64, DeliveryError> {
        match *self {
            Self::Delivered { base_offset, .. } => Ok(base_offset),
            Self::Failed { reason, .. } => Err(reason),
        }
    }

    /// Whether this completion covers record `id` (same batch, index in range).
    pub fn covers(&self, id: RecordId) -> bool {
        self.batch() == id.batch && self.indices().contains(&id.index)
    }

    /// The offset of record `id` if this is the delivery that covers it (-1 if unknown).
    pub fn offset_of(&self, id: RecordId) -> Option<i64> {
        match *self {
            Self::Delivered { base_offset, .. } if self.covers(id) => {
                Some(if base_offset < 0 { -1 } else { base_offset + i64::from(id.index - self.first()) })
            }
            _ => None,
        }
    }

    /// The same completion with its topic named by `topic`.
    pub fn with_topic<U>(self, topic: U) -> Completion<U> {
        match self {
            Self::Delivered { batch, partition, base_offset, log_append_time, records, first, more, .. } => {
                Completion::Delivered { batch, topic, partition, base_offset, log_append_time, records, first, more }
            }
            Self::Failed { batch, partition, records, first, more, reason, .. } => {
                Completion::Failed { batch, topic, partition, records, first, more, reason }
            }
        }
    }
}

impl<T: fmt::Display> fmt::Display for Completion<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Delivered { topic, partition, base_offset, records, .. } => {
                write!(f, "{records} record(s) delivered to {topic}-{partition} at offset {base_offset}")
            }
            Self::Failed { topic, partition, records, reason, .. } => {
                write!(f, "{records} record(s) to {topic}-{partition} failed: {reason}")
            }
        }
    }
}

/// Why a batch was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeliveryError {
    /// `delivery.timeout.ms` passed before the batch was acknowledged.
    DeliveryTimeout,
    /// The broker refused it with a non-retriable error, or retries ran out.
    Broker(ErrorCode),
    /// `close` reached its deadline first.
    Closed,
    /// The producer hit a fatal error.
    Fatal(FatalError),
    /// The partition's leader refused SASL authentication (Java's
    /// `SaslAuthenticationException`). The broker's message is in the connection's
    /// [`super::Event::ConnectionFailed`] and [`super::Producer::auth_error`].
    Authentication {
        /// The broker.
        node: i32,
        /// Its refusal, e.g. `SASL_AUTHENTICATION_FAILED` or `UNSUPPORTED_SASL_MECHANISM`.
        code: ErrorCode,
    },
    /// `abort_transaction` aborted the record's transaction before it was sent.
    TransactionAborted,
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DeliveryTimeout => {
                f.write_str("delivery.timeout.ms expired before the broker acknowledged the batch")
            }
            Self::Broker(code) => {
                write!(f, "the broker refused the batch: {code}")?;
                match broker_hint(*code) {
                    Some(hint) => write!(f, "; {hint}"),
                    None => Ok(()),
                }
            }
            Self::Closed => f.write_str("the producer was closed before the batch was delivered"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Authentication { node, code } => {
                write!(
                    f,
                    "broker {node} refused SASL authentication ({code}); check sasl.mechanism and sasl.jaas.config"
                )
            }
            Self::TransactionAborted => f.write_str("the record's transaction was aborted"),
        }
    }
}

impl core::error::Error for DeliveryError {}

/// What a user can change when the broker refuses a batch with `code`, where one setting
/// applies.
const fn broker_hint(code: ErrorCode) -> Option<&'static str> {
    Some(match code {
        // The engine splits a refused batch of several records (as the Java client does), so
        // only a single record ends here.
        ErrorCode::MessageTooLarge => {
            "a single record is larger than the topic's max.message.bytes (the broker's message.max.bytes by default): raise it, or send smaller records (max.request.size and batch.size cannot make it fit)"
        }
        ErrorCode::RecordListTooLarge => "the request is larger than the broker accepts: lower max.request.size",
        ErrorCode::UnknownTopicOrPartition => {
            "create the topic, or enable auto.create.topics.enable on the broker"
        }
        ErrorCode::TopicAuthorizationFailed => "grant this principal WRITE on the topic (an ACL on the broker)",
        ErrorCode::NotEnoughReplicas | ErrorCode::NotEnoughReplicasAfterAppend => {
            "fewer in-sync replicas than the topic's min.insync.replicas: wait for them, or use acks=1"
        }
        ErrorCode::InvalidRequiredAcks => "set acks to all, -1, 0 or 1",
        ErrorCode::UnsupportedCompressionType => "the broker is too old for this codec: change compression.type",
        _ => return None,
    })
}

/// An error that stops the producer. Sticky: once reported, every call fails with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FatalError {
    /// The broker supports no Produce version kprod speaks (Kafka before 0.11).
    UnsupportedBroker,
    /// Another producer with the same id fenced this one, or authorization failed.
    Broker(ErrorCode),
}

impl fmt::Display for FatalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedBroker => f.write_str("the broker supports no Produce version >= 3"),
            Self::Broker(code) => write!(f, "{code}"),
        }
    }
}

impl core::error::Error for FatalError {}

/// Why `send` did not take a record. [`SendError::is_retriable`] says whether the driver should
/// wait (up to `max.block.ms`) and try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendError {
    /// The topic's metadata is being fetched. Retriable.
    MetadataPending,
    /// The topic's metadata came back with an error (e.g. `UNKNOWN_TOPIC_OR_PARTITION`; it may
    /// still be auto-created, so this is retriable until `max.block.ms`).
    Topic(ErrorCode),
    /// No buffer memory or batch slot is free. Retriable once completions free some.
    BufferFull,
    /// The record can never be sent: it is larger than `max.request.size` (or the buffer).
    RecordTooLarge {
        /// Bytes it needs.
        needed: usize,
        /// The limit.
        limit: usize,
    },
    /// The explicit partition does not exist, or the partitioner returned one out of range.
    InvalidPartition {
        /// The partition asked for.
        partition: u32,
        /// How many the topic has.
        count: u32,
    },
    /// The topic name is invalid, or the metadata storage is full.
    Metadata(MetadataError),
    /// `close` was called.
    Closed,
    /// The producer hit a fatal error.
    Fatal(FatalError),
    /// Every known broker refused SASL authentication (Java's `SaslAuthenticationException`):
    /// no record can go anywhere. The broker's message is in
    /// [`super::Producer::auth_error`].
    Authentication {
        /// One of the brokers.
        node: i32,
        /// Its refusal.
        code: ErrorCode,
    },
    /// A transactional producer takes records only inside a transaction
    /// (`begin_transaction`), and only as many partitions as one transaction tracks.
    Transaction(super::txn::TxnError),
}

impl SendError {
    /// Whether waiting and retrying can help.
    pub const fn is_retriable(&self) -> bool {
        match self {
            Self::MetadataPending | Self::BufferFull => true,
            Self::Topic(code) => code.is_retriable() || matches!(code, ErrorCode::UnknownTopicOrPartition),
            _ => false,
        }
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MetadataPending => {
                f.write_str("waiting for the topic's metadata (up to max.block.ms; the last broker error says why)")
            }
            Self::Topic(code) => {
                write!(f, "topic metadata error: {code}")?;
                match broker_hint(*code) {
                    Some(hint) => write!(f, "; {hint}"),
                    None => Ok(()),
                }
            }
            Self::BufferFull => f.write_str(
                "buffer.memory is full: deliveries free it (a send waits up to max.block.ms); raise buffer.memory for more room",
            ),
            Self::RecordTooLarge { needed, limit } => write!(
                f,
                "the record needs {needed} bytes, more than max.request.size allows ({limit}; or buffer.memory, if smaller): raise max.request.size (and the topic's max.message.bytes) or send smaller records"
            ),
            Self::InvalidPartition { partition, count } => {
                write!(f, "partition {partition} does not exist (the topic has {count})")
            }
            Self::Metadata(e) => write!(f, "{e}"),
            Self::Closed => f.write_str("the producer is closed"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Authentication { node, code } => write!(
                f,
                "every broker refused SASL authentication (broker {node}: {code}); check sasl.mechanism and sasl.jaas.config"
            ),
            Self::Transaction(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for SendError {}

/// A completion, as the engine keeps it until `poll_event` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not complete.
    Pending,
    /// Written at `base_offset`.
    Delivered {
        /// The base offset (-1 unknown).
        base_offset: i64,
        /// The log append time (-1 unless LogAppendTime).
        log_append_time: i64,
    },
    /// Failed.
    Failed(DeliveryError),
}
