//! Sizing and writing one record. This is the producer's hot path: sizes come from arithmetic
//! alone, and the writer puts varints and bytes straight into a slice already known to be large
//! enough, without the per-call checks of a generic [`crate::wire::Sink`].

use super::{Header, Record};
use crate::wire::varint::{uvarint_len, zigzag64};

/// Largest record body the Length varint (an i32) can describe.
const MAX_BODY: u64 = i32::MAX as u64;

/// Encoded size of a length-prefixed field: zig-zag varint of the length, then the bytes.
#[inline]
fn field_len(len: usize) -> u64 {
    // Lengths are >= 0, so the zig-zag value is 2 * len.
    (uvarint_len((len as u64) << 1) + len) as u64
}

#[inline]
fn nullable_len(v: Option<&[u8]>) -> u64 {
    match v {
        None => 1,
        Some(b) => field_len(b.len()),
    }
}

#[inline]
fn headers_len(headers: &[Header<'_>]) -> u64 {
    let mut n = uvarint_len((headers.len() as u64) << 1) as u64;
    for h in headers {
        n += field_len(h.key.len()) + nullable_len(h.value);
    }
    n
}

impl Record<'_> {
    /// Size of the record body (everything after its Length varint) at the given deltas.
    #[inline]
    fn body_len(&self, offset_delta: i32, timestamp_delta: i64) -> u64 {
        1 + uvarint_len(zigzag64(timestamp_delta)) as u64
            + uvarint_len(zigzag64(offset_delta.into())) as u64
            + nullable_len(self.key)
            + nullable_len(self.value)
            + headers_len(self.headers)
    }

    /// Exact encoded size (Length varint included) at the given offset and timestamp deltas,
    /// or `None` if the record is too large for the format (a body over `i32::MAX` bytes).
    #[inline]
    pub fn encoded_len(&self, offset_delta: i32, timestamp_delta: i64) -> Option<usize> {
        let body = self.body_len(offset_delta, timestamp_delta);
        if body > MAX_BODY {
            return None;
        }
        usize::try_from(uvarint_len(body << 1) as u64 + body).ok()
    }

    /// An upper bound of [`Record::encoded_len`] over all deltas a batch can give it (offset
    /// delta up to `i32::MAX`, timestamp delta of any `i64`); `None` as there. Cheap, and enough
    /// for an accumulator to choose a buffer before a batch exists.
    #[inline]
    pub fn max_encoded_len(&self) -> Option<usize> {
        self.encoded_len(i32::MAX, i64::MIN)
    }
}

/// Writes records into a slice whose length was checked against the record's encoded size.
/// Indexing cannot fail unless that size computation is wrong (a bug of ours).
struct Writer<'x> {
    buf: &'x mut [u8],
    pos: usize,
}

impl Writer<'_> {
    #[inline(always)]
    fn uvarint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.buf[self.pos] = v as u8 | 0x80;
            self.pos += 1;
            v >>= 7;
        }
        self.buf[self.pos] = v as u8;
        self.pos += 1;
    }

    #[inline(always)]
    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.pos..self.pos + b.len()].copy_from_slice(b);
        self.pos += b.len();
    }

    #[inline(always)]
    fn field(&mut self, b: &[u8]) {
        self.uvarint((b.len() as u64) << 1);
        self.bytes(b);
    }

    #[inline(always)]
    fn nullable(&mut self, v: Option<&[u8]>) {
        match v {
            // zig-zag(-1) = 1
            None => self.uvarint(1),
            Some(b) => self.field(b),
        }
    }
}

/// Writes `record` at the start of `out`, which is exactly its encoded size at these deltas
/// (from [`Record::encoded_len`]). Returns the bytes written.
#[inline]
pub(super) fn write_record(out: &mut [u8], record: &Record<'_>, offset_delta: i32, timestamp_delta: i64) -> usize {
    let body = record.body_len(offset_delta, timestamp_delta);
    let mut w = Writer { buf: out, pos: 0 };
    w.uvarint(body << 1);
    w.buf[w.pos] = 0; // record attributes: unused, always 0
    w.pos += 1;
    w.uvarint(zigzag64(timestamp_delta));
    w.uvarint(zigzag64(offset_delta.into()));
    w.nullable(record.key);
    w.nullable(record.value);
    w.uvarint((record.headers.len() as u64) << 1);
    for h in record.headers {
        w.field(h.key.as_bytes());
        w.nullable(h.value);
    }
    debug_assert_eq!(w.pos, w.buf.len());
    w.pos
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_emit_record() {
        let headers = [Header { key: "h", value: None }, Header { key: "k", value: Some(b"v") }];
        let r = Record { timestamp: 0, key: Some(b"key"), value: None, headers: &headers };
        let n = r.encoded_len(1, -1).unwrap();
        let mut buf = [0u8; 32];
        assert_eq!(write_record(&mut buf[..n], &r, 1, -1), n);
        #[rustfmt::skip]
        let want = [
            0x20, // length 16
            0, // attributes
            0x01, // timestamp delta -1
            0x02, // offset delta 1
            0x06, b'k', b'e', b'y', // key
            0x01, // null value
            0x04, // 2 headers
            0x02, b'h', 0x01, // "h" = null
            0x02, b'k', 0x02, b'v', // "k" = "v"
        ];
        assert_eq!(&buf[..n], &want[..]);
    }

    #[test]
    fn sizes_follow_varint_widths() {
        let value = [0u8; 100];
        let r = Record::new(0, None, Some(&value));
        // 1 + 1 + 1 + 1 (null key) + 2 + 100 (value) + 1 (no headers) = 107; its zig-zag
        // length (214) takes 2 bytes.
        assert_eq!(r.encoded_len(0, 0), Some(109));
        // Offset delta 64 zig-zags to 128: 2 bytes.
        assert_eq!(r.encoded_len(64, 0), Some(110));
        // Worst deltas: timestamp 10 bytes, offset 5, so the body is 120 and its length 2 bytes.
        assert_eq!(r.max_encoded_len(), Some(122));
    }
}
