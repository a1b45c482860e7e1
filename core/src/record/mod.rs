//! Record batch v2 (magic 2): a builder into caller memory and a borrowed decoder.
//!
//! # Layout
//!
//! A batch is a 61-byte header and the records:
//!
//! | offset | field                | notes                                              |
//! |--------|----------------------|----------------------------------------------------|
//! | 0      | BaseOffset i64       | a producer writes 0                                |
//! | 8      | Length i32           | bytes after this field                             |
//! | 12     | PartitionLeaderEpoch | a producer writes -1                               |
//! | 16     | Magic i8             | 2                                                  |
//! | 17     | CRC u32              | CRC-32C (Castagnoli) over offset 21 to the end     |
//! | 21     | Attributes i16       | codec bits 0-2, timestamp type 3, transactional 4, control 5 |
//! | 23     | LastOffsetDelta i32  | record count - 1                                   |
//! | 27     | BaseTimestamp i64    | the first record's timestamp                       |
//! | 35     | MaxTimestamp i64     |                                                    |
//! | 43     | ProducerId i64       | -1 without idempotence                             |
//! | 51     | ProducerEpoch i16    | -1 without idempotence                             |
//! | 53     | BaseSequence i32     | -1 without idempotence                             |
//! | 57     | RecordCount i32      | never compressed                                   |
//! | 61     | records              | compressed as a whole when the codec is not none   |
//!
//! Each record is `Length varint, Attributes i8, TimestampDelta varlong, OffsetDelta varint,
//! KeyLen varint (-1 = null), Key, ValueLen varint (-1 = null), Value, HeaderCount varint`, then
//! per header `KeyLen varint, Key, ValueLen varint (-1 = null), Value`. All record varints are
//! zig-zag.
//!
//! # Writing
//!
//! [`BatchBuilder`] appends records into a buffer the caller provides (any `AsMut<[u8]>`: a
//! slice, an array, a `Vec` sized up front, a pool chunk), up to a soft byte limit. It writes
//! each record straight into the buffer, once, and only after checking that it fits. At
//! [`BatchBuilder::finish`] it compresses the records (into a caller scratch buffer, then back
//! into place), fills in the header and the CRC. [`set_producer_state`] re-stamps a finished
//! batch after an epoch bump.
//!
//! # Reading
//!
//! [`RecordBatch::parse`] checks the header, the length, the magic and the CRC, and borrows the
//! rest. [`Records`] walks the records without allocating; compressed batches decompress into a
//! caller buffer ([`RecordBatch::decompress_into`]) or, with `alloc`, a `Vec` capped at a
//! maximum size (`RecordBatch::decompress`).

mod builder;
mod crc;
mod decode;
mod encode;
#[cfg(feature = "alloc")]
pub(crate) mod split;

pub use builder::{
    set_producer_state, AppendError, BatchBuilder, BatchConfig, BuilderState, EmptyBatch, FinishedBatch, NewBatchError,
};
pub use crc::crc32c;
#[cfg(feature = "alloc")]
pub use decode::OwnedRecords;
pub use decode::{BatchError, Batches, HeaderIter, RecordBatch, RecordView, Records};

/// Length of the batch header, up to and including RecordCount.
pub const BATCH_HEADER_LEN: usize = 61;
/// Bytes before the part the Length field counts: BaseOffset and Length.
pub const LOG_OVERHEAD: usize = 12;
/// The magic byte of record batch v2.
pub const MAGIC: i8 = 2;
/// The smallest possible record: every field one byte, no key, value or headers.
pub const MIN_RECORD_LEN: usize = 7;

/// Byte offsets of the header fields.
pub(crate) mod offset {
    pub(crate) const LENGTH: usize = 8;
    pub(crate) const PARTITION_LEADER_EPOCH: usize = 12;
    pub(crate) const MAGIC: usize = 16;
    pub(crate) const CRC: usize = 17;
    pub(crate) const ATTRIBUTES: usize = 21;
    pub(crate) const LAST_OFFSET_DELTA: usize = 23;
    pub(crate) const BASE_TIMESTAMP: usize = 27;
    pub(crate) const MAX_TIMESTAMP: usize = 35;
    pub(crate) const PRODUCER_ID: usize = 43;
    pub(crate) const PRODUCER_EPOCH: usize = 51;
    pub(crate) const BASE_SEQUENCE: usize = 53;
    pub(crate) const RECORD_COUNT: usize = 57;
}

/// Attribute bits.
pub(crate) mod attr {
    pub(crate) const COMPRESSION_MASK: i16 = 0x07;
    pub(crate) const TIMESTAMP_TYPE: i16 = 0x08;
    pub(crate) const TRANSACTIONAL: i16 = 0x10;
    pub(crate) const CONTROL: i16 = 0x20;
}

/// A record header. Keys are strings, values may be null.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Header<'a> {
    /// The header key.
    pub key: &'a str,
    /// The header value; `None` is a null value.
    pub value: Option<&'a [u8]>,
}

/// A record to append, borrowing its key, value and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Record<'a> {
    /// Milliseconds since the epoch (CreateTime).
    pub timestamp: i64,
    /// The key; `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is a null value (a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    /// The headers, in order.
    pub headers: &'a [Header<'a>],
}

impl<'a> Record<'a> {
    /// A record without headers.
    pub const fn new(timestamp: i64, key: Option<&'a [u8]>, value: Option<&'a [u8]>) -> Self {
        Self { timestamp, key, value, headers: &[] }
    }
}

/// The producer identity stamped on a batch: id, epoch and the sequence of its first record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProducerState {
    /// Producer id, -1 without idempotence.
    pub producer_id: i64,
    /// Producer epoch, -1 without idempotence.
    pub producer_epoch: i16,
    /// Sequence number of the first record, -1 without idempotence.
    pub base_sequence: i32,
}

impl ProducerState {
    /// What a producer without idempotence writes: all -1.
    pub const NONE: Self = Self { producer_id: -1, producer_epoch: -1, base_sequence: -1 };
}

impl Default for ProducerState {
    fn default() -> Self {
        Self::NONE
    }
}

/// What a batch's timestamps mean (attribute bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TimestampType {
    /// Set by the producer. What a producer writes.
    #[default]
    CreateTime,
    /// Set by the broker on append.
    LogAppendTime,
}
