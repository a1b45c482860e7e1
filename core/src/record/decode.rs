//! Reading v2 batches: [`RecordBatch`] checks and borrows one batch, [`Records`] walks records.

use core::fmt;

use super::{attr, crc32c, offset, Header, ProducerState, TimestampType};
use super::{BATCH_HEADER_LEN, LOG_OVERHEAD, MAGIC, MIN_RECORD_LEN};
use crate::compression::{Compression, DecompressError};
use crate::wire::{DecodeError, Reader};

/// Why a batch could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than the header or the Length field needs (normal for the last batch of a
    /// fetch).
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes there are.
        available: usize,
    },
    /// The Length field is smaller than a header.
    InvalidLength(i32),
    /// The magic byte is not 2.
    UnsupportedMagic(i8),
    /// The stored CRC does not match the bytes.
    CrcMismatch {
        /// The CRC in the header.
        stored: u32,
        /// The CRC of the bytes.
        computed: u32,
    },
    /// The codec bits name no known codec.
    UnknownCompression(u8),
    /// RecordCount is negative.
    InvalidRecordCount(i32),
    /// [`RecordBatch::records`] on a compressed batch: decompress it first.
    Compressed(Compression),
    /// The records did not decompress.
    Decompress(DecompressError),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, available } => {
                write!(f, "truncated batch: needs {needed} bytes, {available} available")
            }
            Self::InvalidLength(n) => write!(f, "invalid batch length {n}"),
            Self::UnsupportedMagic(m) => write!(f, "unsupported record batch magic {m}"),
            Self::CrcMismatch { stored, computed } => {
                write!(f, "batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")
            }
            Self::UnknownCompression(c) => write!(f, "unknown compression codec {c}"),
            Self::InvalidRecordCount(n) => write!(f, "invalid record count {n}"),
            Self::Compressed(c) => write!(f, "records are compressed with {c}"),
            Self::Decompress(e) => write!(f, "records did not decompress: {e}"),
        }
    }
}

impl core::error::Error for BatchError {}

impl From<DecompressError> for BatchError {
    fn from(e: DecompressError) -> Self {
        Self::Decompress(e)
    }
}

fn be<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Checks that `buf` starts with a whole v2 batch (header, Length, magic); returns its length.
pub(super) fn check_frame(buf: &[u8]) -> Result<usize, BatchError> {
    if buf.len() < BATCH_HEADER_LEN {
        return Err(BatchError::Truncated { needed: BATCH_HEADER_LEN, available: buf.len() });
    }
    let length = i32::from_be_bytes(be(buf, offset::LENGTH));
    let total = usize::try_from(length)
        .ok()
        .and_then(|l| l.checked_add(LOG_OVERHEAD))
        .filter(|&t| t >= BATCH_HEADER_LEN)
        .ok_or(BatchError::InvalidLength(length))?;
    // Magic before the full length: a v0/v1 message set has a shorter header.
    let magic = buf[offset::MAGIC] as i8;
    if magic != MAGIC {
        return Err(BatchError::UnsupportedMagic(magic));
    }
    if total > buf.len() {
        return Err(BatchError::Truncated { needed: total, available: buf.len() });
    }
    Ok(total)
}

/// One v2 batch, checked (length, magic, CRC, codec, record count) and borrowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordBatch<'a> {
    bytes: &'a [u8],
}

impl<'a> RecordBatch<'a> {
    /// Parses the batch at the front of `buf`; bytes after it are left alone (see
    /// [`RecordBatch::len`] and [`Batches`]).
    pub fn parse(buf: &'a [u8]) -> Result<Self, BatchError> {
        let total = check_frame(buf)?;
        let bytes = &buf[..total];
        let stored = u32::from_be_bytes(be(bytes, offset::CRC));
        let computed = crc32c(&bytes[offset::ATTRIBUTES..]);
        if stored != computed {
            return Err(BatchError::CrcMismatch { stored, computed });
        }
        let batch = Self { bytes };
        let codec = (batch.attributes() & attr::COMPRESSION_MASK) as u8;
        if Compression::from_id(codec).is_none() {
            return Err(BatchError::UnknownCompression(codec));
        }
        if batch.record_count() < 0 {
            return Err(BatchError::InvalidRecordCount(batch.record_count()));
        }
        Ok(batch)
    }

    /// The batch bytes, header included.
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Length of the batch in bytes (12 + the Length field).
    pub const fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Always false: a batch has at least its header.
    pub const fn is_empty(&self) -> bool {
        false
    }

    fn i16_at(&self, at: usize) -> i16 {
        i16::from_be_bytes(be(self.bytes, at))
    }

    fn i32_at(&self, at: usize) -> i32 {
        i32::from_be_bytes(be(self.bytes, at))
    }

    fn i64_at(&self, at: usize) -> i64 {
        i64::from_be_bytes(be(self.bytes, at))
    }

    /// BaseOffset (0 as a producer writes it; the broker assigns offsets).
    pub fn base_offset(&self) -> i64 {
        self.i64_at(0)
    }

    /// The Length field.
    pub fn length(&self) -> i32 {
        self.i32_at(offset::LENGTH)
    }

    /// PartitionLeaderEpoch (-1 as a producer writes it).
    pub fn partition_leader_epoch(&self) -> i32 {
        self.i32_at(offset::PARTITION_LEADER_EPOCH)
    }

    /// The magic byte (always 2 here).
    pub fn magic(&self) -> i8 {
        self.bytes[offset::MAGIC] as i8
    }

    /// The stored CRC (already verified).
    pub fn crc(&self) -> u32 {
        u32::from_be_bytes(be(self.bytes, offset::CRC))
    }

    /// The raw attributes field.
    pub fn attributes(&self) -> i16 {
        self.i16_at(offset::ATTRIBUTES)
    }

    /// The codec of the records.
    pub fn compression(&self) -> Compression {
        // `parse` checked the codec bits.
        Compression::from_id((self.attributes() & attr::COMPRESSION_MASK) as u8).unwrap_or(Compression::None)
    }

    /// Attribute bit 3.
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes() & attr::TIMESTAMP_TYPE == 0 {
            TimestampType::CreateTime
        } else {
            TimestampType::LogAppendTime
        }
    }

    /// Attribute bit 4.
    pub fn is_transactional(&self) -> bool {
        self.attributes() & attr::TRANSACTIONAL != 0
    }

    /// Attribute bit 5 (a transaction marker batch).
    pub fn is_control(&self) -> bool {
        self.attributes() & attr::CONTROL != 0
    }

    /// LastOffsetDelta.
    pub fn last_offset_delta(&self) -> i32 {
        self.i32_at(offset::LAST_OFFSET_DELTA)
    }

    /// BaseTimestamp.
    pub fn base_timestamp(&self) -> i64 {
        self.i64_at(offset::BASE_TIMESTAMP)
    }

    /// MaxTimestamp.
    pub fn max_timestamp(&self) -> i64 {
        self.i64_at(offset::MAX_TIMESTAMP)
    }

    /// ProducerId.
    pub fn producer_id(&self) -> i64 {
        self.i64_at(offset::PRODUCER_ID)
    }

    /// ProducerEpoch.
    pub fn producer_epoch(&self) -> i16 {
        self.i16_at(offset::PRODUCER_EPOCH)
    }

    /// BaseSequence.
    pub fn base_sequence(&self) -> i32 {
        self.i32_at(offset::BASE_SEQUENCE)
    }

    /// Producer id, epoch and base sequence together.
    pub fn producer_state(&self) -> ProducerState {
        ProducerState {
            producer_id: self.producer_id(),
            producer_epoch: self.producer_epoch(),
            base_sequence: self.base_sequence(),
        }
    }

    /// RecordCount (checked to be >= 0).
    pub fn record_count(&self) -> i32 {
        self.i32_at(offset::RECORD_COUNT)
    }

    /// The bytes after RecordCount, compressed if the codec is not none.
    pub fn records_data(&self) -> &'a [u8] {
        &self.bytes[BATCH_HEADER_LEN..]
    }

    fn records_over<'s>(&self, data: &'s [u8]) -> Records<'s> {
        Records::new(data, self.record_count(), self.base_offset(), self.base_timestamp())
    }

    /// The records of an uncompressed batch; [`BatchError::Compressed`] otherwise.
    pub fn records(&self) -> Result<Records<'a>, BatchError> {
        match self.compression() {
            Compression::None => Ok(self.records_over(self.records_data())),
            c => Err(BatchError::Compressed(c)),
        }
    }

    /// The records of any batch: a compressed batch is decompressed into `out`, whose length
    /// caps the output; an uncompressed one is read in place.
    pub fn decompress_into<'s>(&self, out: &'s mut [u8]) -> Result<Records<'s>, BatchError>
    where
        'a: 's,
    {
        match self.compression() {
            Compression::None => Ok(self.records_over(self.records_data())),
            c => {
                let n = c.decompress(self.records_data(), out)?;
                Ok(self.records_over(&out[..n]))
            }
        }
    }

    /// The records of any batch, decompressed into a `Vec` of at most `max` bytes that grows
    /// with the real output (uncompressed records are copied).
    #[cfg(feature = "alloc")]
    pub fn decompress(&self, max: usize) -> Result<OwnedRecords, BatchError> {
        let data = self.compression().decompress_to_vec(self.records_data(), max)?;
        Ok(OwnedRecords {
            data,
            count: self.record_count(),
            base_offset: self.base_offset(),
            base_timestamp: self.base_timestamp(),
        })
    }
}

/// Batches one after another, as in a fetch response or a log segment. Yields each batch, then
/// stops after the first error (a truncated last batch is normal in a fetch response).
#[derive(Debug, Clone)]
pub struct Batches<'a> {
    rest: &'a [u8],
}

impl<'a> Batches<'a> {
    /// Batches over `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Self { rest: buf }
    }
}

impl<'a> Iterator for Batches<'a> {
    type Item = Result<RecordBatch<'a>, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match RecordBatch::parse(self.rest) {
            Ok(b) => {
                self.rest = &self.rest[b.len()..];
                Some(Ok(b))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Decompressed records that own their bytes.
#[cfg(feature = "alloc")]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedRecords {
    data: alloc::vec::Vec<u8>,
    count: i32,
    base_offset: i64,
    base_timestamp: i64,
}

#[cfg(feature = "alloc")]
impl OwnedRecords {
    /// The uncompressed record bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.data
    }

    /// Walks the records.
    pub fn iter(&self) -> Records<'_> {
        Records::new(&self.data, self.count, self.base_offset, self.base_timestamp)
    }
}

/// One decoded record, borrowing its key, value and headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Record attributes (unused by Kafka so far, 0).
    pub attributes: i8,
    /// TimestampDelta from the batch's base timestamp.
    pub timestamp_delta: i64,
    /// OffsetDelta from the batch's base offset.
    pub offset_delta: i32,
    /// Base timestamp + delta.
    pub timestamp: i64,
    /// Base offset + delta.
    pub offset: i64,
    /// The key; `None` is null.
    pub key: Option<&'a [u8]>,
    /// The value; `None` is null.
    pub value: Option<&'a [u8]>,
    header_count: usize,
    headers: &'a [u8],
}

impl<'a> RecordView<'a> {
    /// Number of headers.
    pub const fn header_count(&self) -> usize {
        self.header_count
    }

    /// The headers, in order (already validated when the record was read).
    pub fn headers(&self) -> HeaderIter<'a> {
        HeaderIter { r: Reader::new(self.headers), left: self.header_count }
    }
}

/// Iterates the headers of a [`RecordView`].
#[derive(Debug, Clone)]
pub struct HeaderIter<'a> {
    r: Reader<'a>,
    left: usize,
}

impl<'a> Iterator for HeaderIter<'a> {
    type Item = Header<'a>;

    fn next(&mut self) -> Option<Header<'a>> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        // The bytes were validated by `read_header` when the record was read.
        read_header(&mut self.r).ok()
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// Reads a zig-zag varint length: `None` for -1, an error for other negatives.
fn nullable_bytes<'a>(r: &mut Reader<'a>) -> Result<Option<&'a [u8]>, DecodeError> {
    match r.varint()? {
        -1 => Ok(None),
        n if n < 0 => Err(DecodeError::NegativeLength(n.into())),
        n => r.take(n as usize).map(Some),
    }
}

fn read_header<'a>(r: &mut Reader<'a>) -> Result<Header<'a>, DecodeError> {
    let key = nullable_bytes(r)?.ok_or(DecodeError::UnexpectedNull)?;
    let key = core::str::from_utf8(key).map_err(|_| DecodeError::InvalidUtf8)?;
    let value = nullable_bytes(r)?;
    Ok(Header { key, value })
}

/// Walks the records of one batch without allocating. Yields exactly RecordCount records, then
/// an error if bytes are left over; stops after the first error.
#[derive(Debug, Clone)]
pub struct Records<'a> {
    r: Reader<'a>,
    left: i32,
    base_offset: i64,
    base_timestamp: i64,
    done: bool,
}

impl<'a> Records<'a> {
    /// Records over uncompressed record bytes `data` that hold `count` records.
    pub const fn new(data: &'a [u8], count: i32, base_offset: i64, base_timestamp: i64) -> Self {
        Self { r: Reader::new(data), left: count, base_offset, base_timestamp, done: false }
    }

    fn read(&mut self) -> Result<RecordView<'a>, DecodeError> {
        let len = self.r.varint()?;
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength(len.into()))?;
        let mut r = Reader::new(self.r.take(len)?);
        let attributes = r.i8()?;
        let timestamp_delta = r.varlong()?;
        let offset_delta = r.varint()?;
        let key = nullable_bytes(&mut r)?;
        let value = nullable_bytes(&mut r)?;
        let count = r.varint()?;
        let header_count = usize::try_from(count).map_err(|_| DecodeError::NegativeLength(count.into()))?;
        // Every header takes at least 2 bytes: a lying count fails here, not after a long walk.
        if header_count > r.remaining() / 2 {
            return Err(DecodeError::Truncated { needed: header_count * 2, remaining: r.remaining() });
        }
        let headers = r.rest();
        for _ in 0..header_count {
            read_header(&mut r)?;
        }
        let headers = &headers[..headers.len() - r.remaining()];
        r.finish()?;
        Ok(RecordView {
            attributes,
            timestamp_delta,
            offset_delta,
            timestamp: self.base_timestamp.wrapping_add(timestamp_delta),
            offset: self.base_offset.wrapping_add(offset_delta.into()),
            key,
            value,
            header_count,
            headers,
        })
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<RecordView<'a>, DecodeError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left <= 0 {
            self.done = true;
            return self.r.finish().err().map(Err);
        }
        self.left -= 1;
        let rec = self.read();
        if rec.is_err() {
            self.done = true;
        }
        Some(rec)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        if self.done {
            return (0, Some(0));
        }
        // At most one record per MIN_RECORD_LEN bytes, and one trailing error.
        let fit = self.r.remaining() / MIN_RECORD_LEN;
        (0, Some((self.left.max(0) as usize).min(fit) + 1))
    }
}
