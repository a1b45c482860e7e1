//! Splitting a batch's records in place: what the engine needs when the broker refuses a batch
//! as too large (MESSAGE_TOO_LARGE) and its records go again in smaller batches.
//!
//! Records keep their bytes except the OffsetDelta, which restarts at 0 in each part; a part
//! keeps the batch's base timestamp, so TimestampDeltas stay as they are.

use crate::wire::varint::{put_uvarint64, varint_len, zigzag32, MAX_VARLONG_LEN};
use crate::wire::Reader;

/// One record's layout in uncompressed record bytes.
struct Layout {
    /// Bytes of the whole record, its length prefix included.
    total: usize,
    /// Where its body starts (after the length prefix).
    body: usize,
    /// Attributes and TimestampDelta bytes (they start the body).
    head: usize,
    /// The TimestampDelta.
    ts_delta: i64,
    /// The OffsetDelta and the bytes it takes.
    offset_delta: (i32, usize),
}

fn layout(data: &[u8]) -> Option<Layout> {
    let mut r = Reader::new(data);
    let len = usize::try_from(r.varint().ok()?).ok()?;
    let body = r.position();
    let mut b = Reader::new(r.take(len).ok()?);
    b.i8().ok()?;
    let ts_delta = b.varlong().ok()?;
    let head = b.position();
    let offset_delta = b.varint().ok()?;
    let od_len = b.position() - head;
    Some(Layout { total: body + len, body, head, ts_delta, offset_delta: (offset_delta, od_len) })
}

/// The byte offset in `data` (uncompressed records) after its first `k` records, and their
/// largest TimestampDelta. `None` if the bytes do not hold `k` records.
pub(crate) fn prefix(data: &[u8], k: usize) -> Option<(usize, i64)> {
    let (mut at, mut max) = (0usize, i64::MIN);
    for _ in 0..k {
        let l = layout(data.get(at..)?)?;
        max = max.max(l.ts_delta);
        at += l.total;
    }
    Some((at, max))
}

/// Rewrites the `count` records at the start of `buf` in place so their OffsetDeltas drop by
/// `shift` (the first `shift` records went to an earlier part). Returns the new length of the
/// records and their largest TimestampDelta. A smaller delta never takes more bytes, so each
/// record is written at or before where it was read.
pub(crate) fn rebase(buf: &mut [u8], count: usize, shift: i32) -> Option<(usize, i64)> {
    let (mut read, mut write, mut max) = (0usize, 0usize, i64::MIN);
    for _ in 0..count {
        let l = layout(buf.get(read..)?)?;
        let delta = l.offset_delta.0.checked_sub(shift).filter(|d| *d >= 0)?;
        let rest = (read + l.body + l.head + l.offset_delta.1, read + l.total);
        let body_len = l.head + varint_len(delta) + (rest.1 - rest.0);
        let mut tmp = [0u8; MAX_VARLONG_LEN];
        let n = put_uvarint64(&mut tmp, u64::from(zigzag32(i32::try_from(body_len).ok()?)));
        buf[write..write + n].copy_from_slice(&tmp[..n]);
        write += n;
        buf.copy_within(read + l.body..read + l.body + l.head, write);
        write += l.head;
        let n = put_uvarint64(&mut tmp, u64::from(zigzag32(delta)));
        buf[write..write + n].copy_from_slice(&tmp[..n]);
        write += n;
        buf.copy_within(rest.0..rest.1, write);
        write += rest.1 - rest.0;
        max = max.max(l.ts_delta);
        read += l.total;
    }
    Some((write, max))
}

#[cfg(all(test, feature = "alloc"))]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, BatchConfig, ProducerState, Record, RecordBatch, BATCH_HEADER_LEN};

    #[test]
    fn rebase_restarts_offset_deltas_and_keeps_the_rest() {
        let mut buf = alloc::vec![0u8; 1 << 16];
        let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(1 << 16)).unwrap();
        let values: alloc::vec::Vec<alloc::vec::Vec<u8>> = (0..200u32).map(|i| alloc::vec![i as u8; 10]).collect();
        for (i, v) in values.iter().enumerate() {
            b.append(&Record::new(1000 + i as i64, Some(b"k"), Some(v))).unwrap();
        }
        let len = b.finish(ProducerState::NONE, &mut []).unwrap().len();
        let mut data = buf[BATCH_HEADER_LEN..len].to_vec();
        let (cut, max_a) = prefix(&data, 130).unwrap();
        assert_eq!(max_a, 129);
        let (n, max_b) = rebase(&mut data[cut..], 70, 130).unwrap();
        assert_eq!(max_b, 199);
        // Deltas 130..199 took 2 bytes; 0..63 take 1 (zig-zag), 64..69 still 2.
        assert_eq!(n, len - BATCH_HEADER_LEN - cut - 64);
        let recs: alloc::vec::Vec<_> =
            crate::record::Records::new(&data[cut..cut + n], 70, 0, 1000).collect::<Result<_, _>>().unwrap();
        for (j, r) in recs.iter().enumerate() {
            assert_eq!(r.offset_delta, j as i32);
            assert_eq!(r.timestamp, 1130 + j as i64);
            assert_eq!(r.value, Some(&values[130 + j][..]));
        }
        let _ = RecordBatch::parse;
    }
}
