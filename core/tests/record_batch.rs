//! Record batch v2: static byte vectors (test_parse / test_emit), builder limits, re-stamping,
//! compressed batches.
//!
//! The static batches were computed by an independent encoder (a short Python script with a
//! bitwise CRC-32C, following KAFKA-NOTES), not by kprod.
#![cfg(feature = "std")]

use kprod_core::compression::Compression;
use kprod_core::record::{
    crc32c, set_producer_state, AppendError, BatchBuilder, BatchConfig, BatchError, Batches, Header, NewBatchError,
    ProducerState, Record, RecordBatch, TimestampType, BATCH_HEADER_LEN,
};

const T: i64 = 1_700_000_000_000;

/// One record, key "k", value "v", timestamp T, no idempotence.
#[rustfmt::skip]
static SINGLE: [u8; 70] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3a, 0xff, 0xff, 0xff, 0xff,
    0x02, 0xe9, 0x9b, 0x8d, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf,
    0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01, 0x10, 0x00, 0x00,
    0x00, 0x02, 0x6b, 0x02, 0x76, 0x00,
];

/// Transactional, producer 4242424242 epoch 3 sequence 17. Record 0: key "key", null value,
/// headers a=null, b="". Record 1: timestamp T-5 (negative delta), null key, value "value".
#[rustfmt::skip]
static TWO_WITH_HEADERS: [u8; 89] = [
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, 0xff, 0xff, 0xff, 0xff,
    0x02, 0xe7, 0x45, 0x27, 0x6d, 0x00, 0x10, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x8b, 0xcf,
    0xe5, 0x68, 0x00, 0x00, 0x00, 0x01, 0x8b, 0xcf, 0xe5, 0x68, 0x00, 0x00, 0x00, 0x00, 0x00, 0xfc,
    0xde, 0x41, 0xb2, 0x00, 0x03, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0x00, 0x02, 0x1e, 0x00, 0x00,
    0x00, 0x06, 0x6b, 0x65, 0x79, 0x01, 0x04, 0x02, 0x61, 0x01, 0x02, 0x62, 0x00, 0x16, 0x00, 0x09,
    0x02, 0x01, 0x0a, 0x76, 0x61, 0x6c, 0x75, 0x65, 0x00,
];

const IDEMPOTENT: ProducerState = ProducerState { producer_id: 4_242_424_242, producer_epoch: 3, base_sequence: 17 };

const HEADERS: [Header<'static>; 2] = [Header { key: "a", value: None }, Header { key: "b", value: Some(b"") }];

fn two_records() -> [Record<'static>; 2] {
    [
        Record { timestamp: T, key: Some(b"key"), value: None, headers: &HEADERS },
        Record::new(T - 5, None, Some(b"value")),
    ]
}

#[test]
fn test_emit_single() {
    let mut buf = [0u8; 128];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::default()).unwrap();
    b.append(&Record::new(T, Some(b"k"), Some(b"v"))).unwrap();
    let batch = b.finish(ProducerState::NONE, &mut []).unwrap();
    assert_eq!(batch.as_bytes(), &SINGLE[..]);
    assert_eq!(batch.compression(), Compression::None);
}

#[test]
fn test_emit_two_with_headers() {
    let mut buf = [0u8; 128];
    let config = BatchConfig { transactional: true, ..BatchConfig::default() };
    let mut b = BatchBuilder::new(&mut buf[..], config).unwrap();
    for r in &two_records() {
        b.append(r).unwrap();
    }
    assert_eq!(b.base_timestamp(), Some(T));
    assert_eq!(b.max_timestamp(), Some(T));
    assert_eq!(b.record_count(), 2);
    let batch = b.finish(IDEMPOTENT, &mut []).unwrap();
    assert_eq!(batch.as_bytes(), &TWO_WITH_HEADERS[..]);
}

#[test]
fn test_parse_single() {
    let b = RecordBatch::parse(&SINGLE).unwrap();
    assert_eq!(b.len(), 70);
    assert_eq!(b.base_offset(), 0);
    assert_eq!(b.length(), 58);
    assert_eq!(b.partition_leader_epoch(), -1);
    assert_eq!(b.magic(), 2);
    assert_eq!(b.crc(), 0xe99b_8dd8);
    assert_eq!(b.attributes(), 0);
    assert_eq!(b.compression(), Compression::None);
    assert_eq!(b.timestamp_type(), TimestampType::CreateTime);
    assert!(!b.is_transactional() && !b.is_control());
    assert_eq!(b.last_offset_delta(), 0);
    assert_eq!((b.base_timestamp(), b.max_timestamp()), (T, T));
    assert_eq!(b.producer_state(), ProducerState::NONE);
    assert_eq!(b.record_count(), 1);
    let recs: Vec<_> = b.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    assert_eq!((r.offset, r.offset_delta, r.timestamp, r.timestamp_delta), (0, 0, T, 0));
    assert_eq!((r.key, r.value), (Some(&b"k"[..]), Some(&b"v"[..])));
    assert_eq!(r.header_count(), 0);
}

#[test]
fn test_parse_two_with_headers() {
    let b = RecordBatch::parse(&TWO_WITH_HEADERS).unwrap();
    assert!(b.is_transactional());
    assert_eq!(b.producer_state(), IDEMPOTENT);
    assert_eq!(b.last_offset_delta(), 1);
    let recs: Vec<_> = b.records().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(recs.len(), 2);
    for (got, want) in recs.iter().zip(two_records()) {
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        assert!(got.headers().eq(want.headers.iter().copied()));
    }
    assert_eq!(recs[1].timestamp_delta, -5);
    assert_eq!(recs[1].offset, 1);
}

#[test]
fn crc_is_castagnoli_over_attributes_to_end() {
    let b = RecordBatch::parse(&SINGLE).unwrap();
    assert_eq!(crc32c(&SINGLE[21..]), b.crc());
    assert_ne!(crc32fast_ieee(&SINGLE[21..]), b.crc());
}

/// Bitwise IEEE CRC-32, to show the batch CRC is not it.
fn crc32fast_ieee(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xedb8_8320 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

#[test]
fn soft_limit_first_record_and_too_large() {
    let value = [7u8; 100];
    let r = Record::new(T, None, Some(&value));
    // 109 bytes per record at small deltas; the soft limit allows the header and 2 records.
    let per = 109;
    let mut buf = [0u8; 1000];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(BATCH_HEADER_LEN + 2 * per)).unwrap();
    assert_eq!(b.encoded_len(&r), per);
    b.append(&r).unwrap();
    b.append(&r).unwrap();
    let len = b.len();
    assert_eq!(b.append(&r), Err(AppendError::Full));
    assert_eq!((b.len(), b.record_count()), (len, 2), "a refused record writes nothing");

    // First record above the soft limit but within the buffer: taken, then the batch is full.
    let big = [1u8; 500];
    let big = Record::new(T, None, Some(&big));
    let mut buf = [0u8; 1000];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(100)).unwrap();
    b.append(&big).unwrap();
    assert_eq!(b.append(&r), Err(AppendError::Full));

    // A record that cannot fit this buffer even alone.
    let huge = [1u8; 2000];
    let huge = Record::new(T, None, Some(&huge));
    let needed = BATCH_HEADER_LEN + huge.encoded_len(0, 0).unwrap();
    let mut buf = [0u8; 1000];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(100)).unwrap();
    assert_eq!(b.append(&huge), Err(AppendError::TooLarge { needed }));
    b.append(&r).unwrap();
    assert_eq!(b.append(&huge), Err(AppendError::TooLarge { needed }));
}

#[test]
fn new_rejects_tiny_buffers() {
    let mut buf = [0u8; 60];
    assert_eq!(BatchBuilder::new(&mut buf[..], BatchConfig::default()).err(), Some(NewBatchError::BufferTooSmall(60)));
}

#[test]
fn encoded_len_is_exact_across_varint_widths() {
    let value = [3u8; 70];
    let mut buf = vec![0u8; 1 << 20];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::new(1 << 20)).unwrap();
    for i in 0..2000i64 {
        // Timestamps jump around the base so deltas take 1..10 bytes.
        let ts = T + (i * i * 7919) * if i % 2 == 0 { 1 } else { -1 };
        let r = Record::new(ts, if i % 3 == 0 { None } else { Some(b"k") }, Some(&value[..(i % 70) as usize]));
        let before = b.len();
        let want = b.encoded_len(&r);
        b.append(&r).unwrap();
        assert_eq!(b.len() - before, want);
    }
    let batch = b.finish(ProducerState::NONE, &mut []).unwrap();
    let parsed = RecordBatch::parse(batch.as_bytes()).unwrap();
    assert_eq!(parsed.record_count(), 2000);
    assert_eq!(parsed.records().unwrap().filter(|r| r.is_ok()).count(), 2000);
}

#[test]
fn restamp_producer_state() {
    let mut buf = [0u8; 128];
    let mut b = BatchBuilder::new(&mut buf[..], BatchConfig::default()).unwrap();
    b.append(&Record::new(T, Some(b"k"), Some(b"v"))).unwrap();
    let mut batch = b.finish(ProducerState::NONE, &mut []).unwrap();
    let bumped = ProducerState { producer_id: 7, producer_epoch: 2, base_sequence: 0 };
    batch.set_producer_state(bumped);
    let parsed = RecordBatch::parse(batch.as_bytes()).unwrap();
    assert_eq!(parsed.producer_state(), bumped);

    // The free function, on a copy followed by unrelated bytes.
    let mut bytes = SINGLE.to_vec();
    bytes.extend_from_slice(&[0xaa; 5]);
    set_producer_state(&mut bytes, IDEMPOTENT).unwrap();
    assert_eq!(RecordBatch::parse(&bytes).unwrap().producer_state(), IDEMPOTENT);
    assert_eq!(&bytes[70..], &[0xaa; 5]);
    assert!(matches!(
        set_producer_state(&mut bytes[..69], IDEMPOTENT),
        Err(BatchError::Truncated { needed: 70, available: 69 })
    ));
}

fn build(config: BatchConfig, records: &[Record<'_>]) -> (Vec<u8>, Compression) {
    let mut buf = vec![0u8; 1 << 20];
    let mut b = BatchBuilder::new(&mut buf[..], config).unwrap();
    for r in records {
        b.append(r).unwrap();
    }
    let mut scratch = Vec::new();
    let batch = b.finish_with_vec(ProducerState::NONE, &mut scratch).unwrap();
    (batch.as_bytes().to_vec(), batch.compression())
}

#[test]
fn compressed_batches_round_trip() {
    let values: Vec<Vec<u8>> =
        (0..300).map(|i| format!("value number {i} of a compressible batch").into_bytes()).collect();
    let records: Vec<_> = values.iter().map(|v| Record::new(T, None, Some(v))).collect();
    let (plain, _) = build(BatchConfig::new(1 << 20), &records);
    for codec in Compression::ALL.into_iter().filter(|c| c.can_compress()) {
        let config = BatchConfig { compression: codec, ..BatchConfig::new(1 << 20) };
        let (bytes, used) = build(config, &records);
        assert_eq!(used, codec, "{codec}");
        let batch = RecordBatch::parse(&bytes).unwrap();
        assert_eq!(batch.compression(), codec);
        if codec != Compression::None {
            assert!(bytes.len() < plain.len() / 2, "{codec}: {} vs {}", bytes.len(), plain.len());
            assert_eq!(batch.records().err(), Some(BatchError::Compressed(codec)));
        }
        // Both decompression paths give the plain records back.
        let owned = batch.decompress(1 << 20).unwrap();
        assert_eq!(owned.as_bytes(), &plain[BATCH_HEADER_LEN..]);
        let mut out = vec![0u8; plain.len()];
        let recs = batch.decompress_into(&mut out).unwrap();
        assert!(recs.map(|r| r.unwrap().value.unwrap()).eq(values.iter().map(|v| &v[..])));
        // A cap below the real size fails cleanly.
        if codec != Compression::None {
            let e = batch.decompress(plain.len() - BATCH_HEADER_LEN - 1).unwrap_err();
            assert_eq!(e, BatchError::Decompress(kprod_core::compression::DecompressError::LimitExceeded));
        }
    }
}

#[test]
fn incompressible_or_no_scratch_falls_back_to_none() {
    let value: Vec<u8> = (0..200u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let r = [Record::new(T, None, Some(&value))];
    let config = BatchConfig { compression: Compression::Lz4, ..BatchConfig::default() };
    let (bytes, used) = build(config, &r);
    assert_eq!(used, Compression::None);
    assert_eq!(RecordBatch::parse(&bytes).unwrap().compression(), Compression::None);

    let zeros = [0u8; 1000];
    let mut buf = [0u8; 2000];
    let mut b = BatchBuilder::new(&mut buf[..], config).unwrap();
    b.append(&Record::new(T, None, Some(&zeros))).unwrap();
    assert!(b.scratch_len() > 0);
    let batch = b.finish(ProducerState::NONE, &mut [0u8; 10]).unwrap();
    assert_eq!(batch.compression(), Compression::None);
    let parsed = RecordBatch::parse(batch.as_bytes()).unwrap();
    assert_eq!(parsed.records().unwrap().next().unwrap().unwrap().value, Some(&zeros[..]));
}

#[test]
fn batches_iterate_and_stop_at_a_truncated_tail() {
    let mut buf = SINGLE.to_vec();
    buf.extend_from_slice(&TWO_WITH_HEADERS);
    buf.extend_from_slice(&SINGLE[..30]);
    let mut it = Batches::new(&buf);
    assert_eq!(it.next().unwrap().unwrap().record_count(), 1);
    assert_eq!(it.next().unwrap().unwrap().record_count(), 2);
    assert!(matches!(it.next(), Some(Err(BatchError::Truncated { .. }))));
    assert!(it.next().is_none());
}

#[test]
fn empty_batch_is_refused_and_the_buffer_returned() {
    // Kafka answers an empty batch with INVALID_RECORD (tests/tests/codec_broker.rs shows it),
    // so the builder never seals one, whatever the codec.
    for codec in Compression::ALL.into_iter().filter(|c| c.can_compress()) {
        let b = BatchBuilder::new(vec![7u8; 64], BatchConfig { compression: codec, ..BatchConfig::default() }).unwrap();
        let mut scratch = Vec::new();
        let err = b.finish_with_vec(ProducerState::NONE, &mut scratch).unwrap_err();
        assert_eq!(err.0.len(), 64, "{codec}: the buffer comes back");
        assert!(err.to_string().contains("at least one record"));
    }
}

#[test]
fn builder_over_owned_buffers() {
    let mut b = BatchBuilder::new(vec![0u8; 256], BatchConfig::default()).unwrap();
    b.append(&Record::new(T, Some(b"k"), Some(b"v"))).unwrap();
    let batch = b.finish(ProducerState::NONE, &mut []).unwrap();
    assert_eq!(batch.as_bytes(), &SINGLE[..]);
    let (vec, len) = batch.into_inner();
    assert_eq!((vec.len(), len), (256, 70));

    let mut b = BatchBuilder::new([0u8; 128], BatchConfig::default()).unwrap();
    b.append(&Record::new(T, Some(b"k"), Some(b"v"))).unwrap();
    assert_eq!(b.finish(ProducerState::NONE, &mut []).unwrap().as_bytes(), &SINGLE[..]);
}
