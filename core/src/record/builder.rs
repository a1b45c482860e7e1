//! [`BatchBuilder`]: appends records into caller memory and seals them into a v2 batch.

use core::fmt;

use super::encode::write_record;
use super::{attr, crc32c, offset, ProducerState, Record, TimestampType, BATCH_HEADER_LEN};
use super::{LOG_OVERHEAD, MAGIC};
use crate::compression::Compression;

/// Largest batch the i32 Length field can describe.
const MAX_BATCH_LEN: usize = i32::MAX as usize + LOG_OVERHEAD;

/// How batches are built. Fixed for the life of a builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Soft limit on the uncompressed batch size in bytes (`batch.size`). A record that would
    /// pass it goes to the next batch, except the first record of a batch, which only has to fit
    /// the buffer (as in the Java client).
    pub batch_size: usize,
    /// The codec applied at [`BatchBuilder::finish`].
    pub compression: Compression,
    /// Codec level; `None` is the codec's default (see [`Compression::compress_with_level`]).
    pub compression_level: Option<i32>,
    /// Written in attribute bit 3; a producer writes [`TimestampType::CreateTime`].
    pub timestamp_type: TimestampType,
    /// Attribute bit 4: the batch belongs to a transaction.
    pub transactional: bool,
}

impl BatchConfig {
    /// Uncompressed CreateTime batches of at most `batch_size` bytes, not transactional.
    pub const fn new(batch_size: usize) -> Self {
        Self {
            batch_size,
            compression: Compression::None,
            compression_level: None,
            timestamp_type: TimestampType::CreateTime,
            transactional: false,
        }
    }

    /// The attributes field this configuration writes with `codec`.
    const fn attributes(&self, codec: Compression) -> i16 {
        let mut a = codec.id() as i16;
        if matches!(self.timestamp_type, TimestampType::LogAppendTime) {
            a |= attr::TIMESTAMP_TYPE;
        }
        if self.transactional {
            a |= attr::TRANSACTIONAL;
        }
        a
    }
}

impl Default for BatchConfig {
    /// The Java client's default `batch.size`, 16 KiB.
    fn default() -> Self {
        Self::new(16 * 1024)
    }
}

/// Why [`BatchBuilder::new`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewBatchError {
    /// The buffer cannot hold even the 61-byte header.
    BufferTooSmall(usize),
    /// The configured codec cannot compress in this build.
    CodecUnavailable(Compression),
}

impl fmt::Display for NewBatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall(n) => write!(f, "a {n}-byte buffer cannot hold a batch header"),
            Self::CodecUnavailable(c) => write!(f, "codec {c} is not compiled in"),
        }
    }
}

impl core::error::Error for NewBatchError {}

/// Why [`BatchBuilder::append`] did not take a record. Nothing was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AppendError {
    /// The batch is full: finish it and append the record to a new one.
    Full,
    /// The record can never fit a batch in a buffer of this size, even alone.
    TooLarge {
        /// Bytes a batch holding only this record needs (saturated at `usize::MAX`).
        needed: usize,
    },
}

impl fmt::Display for AppendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Full => f.write_str("the batch is full"),
            Self::TooLarge { needed } => {
                write!(f, "the record needs a {needed}-byte batch, larger than the buffer")
            }
        }
    }
}

impl core::error::Error for AppendError {}

/// [`BatchBuilder::finish`] was called on a builder without records. Kafka refuses an empty
/// batch (`INVALID_RECORD`, "invalid offset range [0, -1]"), so kprod never seals one. The
/// buffer comes back unchanged.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct EmptyBatch<B>(pub B);

impl<B> fmt::Debug for EmptyBatch<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("EmptyBatch")
    }
}

impl<B> fmt::Display for EmptyBatch<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a record batch needs at least one record (Kafka refuses empty batches)")
    }
}

impl<B> core::error::Error for EmptyBatch<B> {}

/// A [`BatchBuilder`]'s progress without its buffer (see [`BatchBuilder::into_parts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuilderState {
    config: BatchConfig,
    len: usize,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl BuilderState {
    /// The state of a builder that wrote `count` records in `len` bytes (header included),
    /// for records placed by other means ([`super::split`]).
    #[cfg(feature = "alloc")]
    pub(crate) const fn of_records(config: BatchConfig, len: usize, count: i32, timestamps: (i64, i64)) -> Self {
        Self { config, len, count, base_timestamp: timestamps.0, max_timestamp: timestamps.1 }
    }
    /// The same progress with another soft limit ([`BatchConfig::batch_size`]): a batch may
    /// take records past `batch.size` while it waits to be sent (see `batch.max.size`).
    pub(crate) const fn with_batch_size(mut self, batch_size: usize) -> Self {
        self.config.batch_size = batch_size;
        self
    }
    /// The soft limit the batch takes records up to.
    pub(crate) const fn batch_size(&self) -> usize {
        self.config.batch_size
    }
    /// Uncompressed bytes written so far, header included.
    pub const fn len(&self) -> usize {
        self.len
    }
    /// Whether no record was appended.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// Records appended.
    pub const fn record_count(&self) -> i32 {
        self.count
    }
}

/// Builds one record batch in a buffer the caller provides.
///
/// `B` is any `AsMut<[u8]>`: `&mut [u8]`, `[u8; N]`, a `Vec<u8>` *sized up front*
/// (`vec![0; n]`), a pool chunk. The builder never allocates; its capacity is `buf.len()`.
///
/// ```
/// use kprod_core::record::{BatchBuilder, BatchConfig, ProducerState, Record, RecordBatch};
///
/// let mut buf = [0u8; 1024];
/// let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(512)).unwrap();
/// b.append(&Record::new(1_700_000_000_000, Some(b"k"), Some(b"v"))).unwrap();
/// let batch = b.finish(ProducerState::NONE, &mut []).unwrap();
/// let parsed = RecordBatch::parse(batch.as_bytes()).unwrap();
/// assert_eq!(parsed.record_count(), 1);
/// ```
#[derive(Debug)]
pub struct BatchBuilder<B> {
    buf: B,
    config: BatchConfig,
    /// Bytes used, header included.
    len: usize,
    count: i32,
    base_timestamp: i64,
    max_timestamp: i64,
}

impl<B: AsMut<[u8]>> BatchBuilder<B> {
    /// A builder over `buf`. Fails if `buf` cannot hold the header or the codec is not
    /// compiled in.
    pub fn new(mut buf: B, config: BatchConfig) -> Result<Self, NewBatchError> {
        let cap = buf.as_mut().len();
        if cap < BATCH_HEADER_LEN {
            return Err(NewBatchError::BufferTooSmall(cap));
        }
        if !config.compression.can_compress() {
            return Err(NewBatchError::CodecUnavailable(config.compression));
        }
        Ok(Self { buf, config, len: BATCH_HEADER_LEN, count: 0, base_timestamp: -1, max_timestamp: -1 })
    }

    /// Splits the builder into its buffer and its progress, so an engine can park an open batch
    /// in pooled memory between appends and [`BatchBuilder::resume`] it later.
    pub fn into_parts(self) -> (B, BuilderState) {
        let state = BuilderState {
            config: self.config,
            len: self.len,
            count: self.count,
            base_timestamp: self.base_timestamp,
            max_timestamp: self.max_timestamp,
        };
        (self.buf, state)
    }

    /// Continues a builder from [`BatchBuilder::into_parts`]. `buf` must hold the same bytes the
    /// builder wrote; a buffer shorter than what was written is refused.
    pub fn resume(mut buf: B, state: BuilderState) -> Result<Self, NewBatchError> {
        let cap = buf.as_mut().len();
        if cap < state.len {
            return Err(NewBatchError::BufferTooSmall(cap));
        }
        Ok(Self {
            buf,
            config: state.config,
            len: state.len,
            count: state.count,
            base_timestamp: state.base_timestamp,
            max_timestamp: state.max_timestamp,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &BatchConfig {
        &self.config
    }

    /// Uncompressed bytes so far, header included.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether no record was appended.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Records appended.
    pub const fn record_count(&self) -> i32 {
        self.count
    }

    /// The first record's timestamp, once there is one.
    pub const fn base_timestamp(&self) -> Option<i64> {
        if self.count == 0 {
            None
        } else {
            Some(self.base_timestamp)
        }
    }

    /// The largest timestamp appended, once there is a record.
    pub const fn max_timestamp(&self) -> Option<i64> {
        if self.count == 0 {
            None
        } else {
            Some(self.max_timestamp)
        }
    }

    /// The deltas `record` would get, and its exact encoded size with them.
    #[inline]
    fn place(&self, record: &Record<'_>) -> (i32, i64, Option<usize>) {
        let ts_delta = if self.count == 0 { 0 } else { record.timestamp.wrapping_sub(self.base_timestamp) };
        (self.count, ts_delta, record.encoded_len(self.count, ts_delta))
    }

    /// Exact bytes [`BatchBuilder::append`] would add for `record` now (`usize::MAX` if the
    /// record is too large for the format), without writing anything.
    #[inline]
    pub fn encoded_len(&self, record: &Record<'_>) -> usize {
        self.place(record).2.unwrap_or(usize::MAX)
    }

    /// Appends `record`, or explains why not without writing anything.
    ///
    /// The first record is taken whenever the batch fits the buffer, even past
    /// [`BatchConfig::batch_size`]; later ones only while the batch stays within both.
    #[inline]
    pub fn append(&mut self, record: &Record<'_>) -> Result<(), AppendError> {
        let (offset_delta, ts_delta, size) = self.place(record);
        let buf = self.buf.as_mut();
        let cap = buf.len().min(MAX_BATCH_LEN);
        let (len, count, soft) = (self.len, self.count, self.config.batch_size);
        let end = size
            .and_then(|s| len.checked_add(s))
            .filter(|&end| end <= cap && (count == 0 || (end <= soft && count < i32::MAX)));
        let Some(end) = end else {
            return Err(self.refusal(record));
        };
        write_record(&mut buf[len..end], record, offset_delta, ts_delta);
        if self.count == 0 {
            self.base_timestamp = record.timestamp;
            self.max_timestamp = record.timestamp;
        } else if record.timestamp > self.max_timestamp {
            self.max_timestamp = record.timestamp;
        }
        self.len = end;
        self.count += 1;
        Ok(())
    }

    /// Full, or too large for any batch in this buffer: alone, the record gets deltas of 0.
    #[cold]
    fn refusal(&mut self, record: &Record<'_>) -> AppendError {
        let alone = record.encoded_len(0, 0).and_then(|s| s.checked_add(BATCH_HEADER_LEN));
        let cap = self.buf.as_mut().len().min(MAX_BATCH_LEN);
        match alone {
            Some(n) if n <= cap && self.count > 0 => AppendError::Full,
            n => AppendError::TooLarge { needed: n.unwrap_or(usize::MAX) },
        }
    }

    /// Scratch bytes [`BatchBuilder::finish`] needs to try compressing the records now.
    pub fn scratch_len(&self) -> usize {
        match self.config.compression {
            Compression::None => 0,
            c => c.max_compressed_len(self.len - BATCH_HEADER_LEN),
        }
    }

    /// Seals the batch: compresses the records with the configured codec, writes the header
    /// (BaseOffset 0, PartitionLeaderEpoch -1, `producer`) and the CRC.
    ///
    /// Compression runs into `scratch`, and the result is copied back over the records. If
    /// `scratch` is shorter than [`BatchBuilder::scratch_len`], or the compressed records are not
    /// smaller than the plain ones, the batch is written uncompressed (codec none), which every
    /// broker accepts; [`FinishedBatch::compression`] tells which codec was used.
    ///
    /// A builder without records is refused with [`EmptyBatch`], which returns the buffer.
    pub fn finish(mut self, producer: ProducerState, scratch: &mut [u8]) -> Result<FinishedBatch<B>, EmptyBatch<B>> {
        if self.count == 0 {
            return Err(EmptyBatch(self.buf));
        }
        let buf = self.buf.as_mut();
        let plain = self.len - BATCH_HEADER_LEN;
        let mut codec = self.config.compression;
        let mut end = self.len;
        if codec != Compression::None {
            let records = &buf[BATCH_HEADER_LEN..self.len];
            match codec.compress_with_level(self.config.compression_level, records, scratch) {
                Ok(n) if n < plain => {
                    buf[BATCH_HEADER_LEN..BATCH_HEADER_LEN + n].copy_from_slice(&scratch[..n]);
                    end = BATCH_HEADER_LEN + n;
                }
                _ => codec = Compression::None,
            }
        }
        self.write_header(end, codec, producer);
        Ok(FinishedBatch { buf: self.buf, len: end, compression: codec })
    }

    /// Seals a batch whose records the caller already compressed in place with the configured
    /// codec (`Some(n)`: the compressed records are the `n` bytes after the header, and `n` is
    /// smaller than the plain records), or found not worth compressing (`None`: sealed plain,
    /// codec none). So compression can run elsewhere (another thread, without the lock that
    /// guards the buffer: the producer's compression jobs), and the result is copied in after.
    pub fn finish_precompressed(
        mut self,
        producer: ProducerState,
        compressed: Option<usize>,
    ) -> Result<FinishedBatch<B>, EmptyBatch<B>> {
        if self.count == 0 {
            return Err(EmptyBatch(self.buf));
        }
        let plain = self.len - BATCH_HEADER_LEN;
        let (end, codec) = match compressed {
            Some(n) if n < plain && self.config.compression != Compression::None => {
                (BATCH_HEADER_LEN + n, self.config.compression)
            }
            _ => (self.len, Compression::None),
        };
        self.write_header(end, codec, producer);
        Ok(FinishedBatch { buf: self.buf, len: end, compression: codec })
    }

    /// Writes the header of a batch that ends at `end`, its records written with `codec`.
    fn write_header(&mut self, end: usize, codec: Compression, producer: ProducerState) {
        let (attributes, count) = (self.config.attributes(codec), self.count);
        let (base, max) = (self.base_timestamp, self.max_timestamp);
        let b = &mut self.buf.as_mut()[..end];
        put(b, 0, 0i64.to_be_bytes());
        // Appends keep `end` within MAX_BATCH_LEN, so the Length fits an i32.
        put(b, offset::LENGTH, ((end - LOG_OVERHEAD) as i32).to_be_bytes());
        put(b, offset::PARTITION_LEADER_EPOCH, (-1i32).to_be_bytes());
        b[offset::MAGIC] = MAGIC as u8;
        put(b, offset::ATTRIBUTES, attributes.to_be_bytes());
        put(b, offset::LAST_OFFSET_DELTA, (count - 1).to_be_bytes());
        put(b, offset::BASE_TIMESTAMP, base.to_be_bytes());
        put(b, offset::MAX_TIMESTAMP, max.to_be_bytes());
        put(b, offset::RECORD_COUNT, count.to_be_bytes());
        stamp(b, producer);
    }

    /// [`BatchBuilder::finish`] with a reusable `Vec` as scratch, grown as needed.
    #[cfg(feature = "alloc")]
    pub fn finish_with_vec(
        self,
        producer: ProducerState,
        scratch: &mut alloc::vec::Vec<u8>,
    ) -> Result<FinishedBatch<B>, EmptyBatch<B>> {
        let need = self.scratch_len();
        if scratch.len() < need {
            scratch.resize(need, 0);
        }
        self.finish(producer, scratch)
    }

    /// Gives the buffer back without finishing.
    pub fn into_inner(self) -> B {
        self.buf
    }
}

#[inline]
fn put<const N: usize>(b: &mut [u8], at: usize, v: [u8; N]) {
    b[at..at + N].copy_from_slice(&v);
}

/// Writes the producer fields and the CRC of a batch whose other fields are final.
fn stamp(b: &mut [u8], p: ProducerState) {
    put(b, offset::PRODUCER_ID, p.producer_id.to_be_bytes());
    put(b, offset::PRODUCER_EPOCH, p.producer_epoch.to_be_bytes());
    put(b, offset::BASE_SEQUENCE, p.base_sequence.to_be_bytes());
    let crc = crc32c(&b[offset::ATTRIBUTES..]);
    put(b, offset::CRC, crc.to_be_bytes());
}

/// A sealed batch in the caller's buffer: `as_bytes()` is what goes into a Produce request.
#[derive(Debug)]
pub struct FinishedBatch<B> {
    buf: B,
    len: usize,
    compression: Compression,
}

impl<B: AsRef<[u8]>> FinishedBatch<B> {
    /// The batch bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf.as_ref()[..self.len]
    }

    /// The codec actually used (none if compression did not pay off).
    pub const fn compression(&self) -> Compression {
        self.compression
    }

    /// Batch length in bytes.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Always false: a batch has at least its header.
    pub const fn is_empty(&self) -> bool {
        false
    }

    /// The buffer and the batch length in it.
    pub fn into_inner(self) -> (B, usize) {
        (self.buf, self.len)
    }
}

impl<B: AsMut<[u8]>> FinishedBatch<B> {
    /// Re-stamps producer id, epoch and base sequence and recomputes the CRC (after an epoch
    /// bump, or when sequences are assigned at drain time).
    pub fn set_producer_state(&mut self, producer: ProducerState) {
        stamp(&mut self.buf.as_mut()[..self.len], producer);
    }
}

/// Re-stamps producer id, epoch and base sequence on a finished v2 batch and recomputes its CRC.
///
/// `batch` starts with the batch (as [`FinishedBatch::as_bytes`] or a parsed
/// [`super::RecordBatch::as_bytes`]); bytes after it are left alone. It is checked for length
/// and magic, not for its old CRC.
pub fn set_producer_state(batch: &mut [u8], producer: ProducerState) -> Result<(), super::BatchError> {
    let len = super::decode::check_frame(batch)?;
    stamp(&mut batch[..len], producer);
    Ok(())
}
