//! Hostile batches: truncation, corrupted CRCs, lying lengths and counts, garbage records,
//! corrupted compressed payloads. Decoding fails cleanly and never panics.
#![cfg(feature = "alloc")]

use kprod_core::compression::Compression;
use kprod_core::record::{crc32c, BatchBuilder, BatchConfig, BatchError, Header, ProducerState, Record, RecordBatch};
use kprod_core::wire::DecodeError;

const T: i64 = 1_700_000_000_000;

fn sample(codec: Compression) -> Vec<u8> {
    let headers = [Header { key: "trace", value: Some(b"abc") }, Header { key: "n", value: None }];
    let mut buf = vec![0u8; 64 * 1024];
    let config = BatchConfig { compression: codec, ..BatchConfig::new(64 * 1024) };
    let mut b = BatchBuilder::new(&mut buf[..], config).unwrap();
    for i in 0..20u8 {
        let value = [i; 40];
        let key = [b'k', i];
        let r = Record { timestamp: T + i64::from(i), key: Some(&key), value: Some(&value), headers: &headers };
        b.append(&r).unwrap();
    }
    let mut scratch = Vec::new();
    b.finish_with_vec(ProducerState::NONE, &mut scratch).expect("at least one record").as_bytes().to_vec()
}

/// Walks everything a consumer could: header fields, records, headers.
fn consume(bytes: &[u8]) -> Result<usize, String> {
    let batch = RecordBatch::parse(bytes).map_err(|e| e.to_string())?;
    let _ = (batch.producer_state(), batch.max_timestamp(), batch.is_control());
    let owned = batch.decompress(1 << 20).map_err(|e| e.to_string())?;
    let mut n = 0;
    for r in owned.iter() {
        let r = r.map_err(|e| e.to_string())?;
        n += r.headers().count() + r.key.map_or(0, <[u8]>::len);
    }
    Ok(n)
}

/// Recomputes the CRC so a corruption gets past the checksum to the record decoder.
fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32c(&bytes[21..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn truncation_at_every_offset() {
    for codec in Compression::ALL.into_iter().filter(|c| c.can_compress()) {
        let full = sample(codec);
        assert!(consume(&full).is_ok());
        for cut in 0..full.len() {
            match RecordBatch::parse(&full[..cut]) {
                Err(BatchError::Truncated { available, .. }) => assert_eq!(available, cut),
                other => panic!("{codec} cut {cut}: {other:?}"),
            }
        }
    }
}

#[test]
fn any_flipped_bit_fails_the_crc_or_an_early_check() {
    let full = sample(Compression::None);
    for i in 0..full.len() {
        let mut bad = full.clone();
        bad[i] ^= 0x04;
        let r = RecordBatch::parse(&bad);
        match i {
            // BaseOffset and PartitionLeaderEpoch are not covered by the CRC (the broker
            // rewrites them).
            0..=7 | 12..=15 => assert!(r.is_ok()),
            // A shorter Length cuts the CRC'd range; a longer one runs past the buffer.
            8..=11 => assert!(matches!(
                r,
                Err(BatchError::InvalidLength(_) | BatchError::Truncated { .. } | BatchError::CrcMismatch { .. })
            )),
            16 => assert_eq!(r, Err(BatchError::UnsupportedMagic(6))),
            _ => assert!(matches!(r, Err(BatchError::CrcMismatch { .. })), "byte {i}: {r:?}"),
        }
    }
}

#[test]
fn flipped_bits_past_the_crc_never_panic() {
    for codec in Compression::ALL.into_iter().filter(|c| c.can_compress()) {
        let full = sample(codec);
        for i in 21..full.len() {
            for bit in [0x01u8, 0x40, 0x80] {
                let mut bad = full.clone();
                bad[i] ^= bit;
                fix_crc(&mut bad);
                let _ = consume(&bad);
            }
        }
    }
}

#[test]
fn lying_lengths_and_counts() {
    let full = sample(Compression::None);
    // Length field larger than the buffer, and negative.
    let mut bad = full.clone();
    bad[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(RecordBatch::parse(&bad), Err(BatchError::Truncated { .. })));
    bad[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert_eq!(RecordBatch::parse(&bad), Err(BatchError::InvalidLength(-5)));
    bad[8..12].copy_from_slice(&10i32.to_be_bytes());
    assert_eq!(RecordBatch::parse(&bad), Err(BatchError::InvalidLength(10)));

    // Record count: negative, larger than the records, smaller than the records.
    for (count, check) in [(-1, "negative"), (i32::MAX, "too many"), (19, "too few")] {
        let mut bad = full.clone();
        bad[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut bad);
        match check {
            "negative" => assert_eq!(RecordBatch::parse(&bad), Err(BatchError::InvalidRecordCount(-1))),
            _ => {
                let batch = RecordBatch::parse(&bad).unwrap();
                let last = batch.records().unwrap().last().unwrap();
                assert!(last.is_err(), "{check}");
            }
        }
    }

    // The first record claims a huge length, then a huge key length, then many headers.
    let first = 61;
    for (at, patch, want) in [
        (first, &[0xfe, 0xff, 0xff, 0xff, 0x0f][..], "truncated"),
        (first + 4, &[0xfe, 0xff, 0xff, 0xff, 0x07][..], "truncated"),
        (first + 4, &[0x03][..], "negative"),
    ] {
        let mut bad = full.clone();
        bad.splice(at..at + 1, patch.iter().copied());
        let len = (bad.len() - 12) as i32;
        bad[8..12].copy_from_slice(&len.to_be_bytes());
        fix_crc(&mut bad);
        let batch = RecordBatch::parse(&bad).unwrap();
        let e = batch.records().unwrap().next().unwrap().unwrap_err();
        match want {
            "truncated" => assert!(matches!(e, DecodeError::Truncated { .. }), "{e:?}"),
            _ => assert_eq!(e, DecodeError::NegativeLength(-2)),
        }
    }
}

#[test]
fn lying_header_count_fails_fast() {
    // One record: length, attrs, ts, offset, null key, null value, header count 1_000_000.
    let mut rec = vec![0u8, 0, 0, 1, 1];
    rec.extend_from_slice(&[0x80, 0x89, 0x7a]); // zig-zag 1_000_000
    let mut records = vec![(rec.len() as u8) << 1];
    records.extend_from_slice(&rec);
    let mut bytes = vec![0u8; 61];
    bytes.extend_from_slice(&records);
    let len = (bytes.len() - 12) as i32;
    bytes[8..12].copy_from_slice(&len.to_be_bytes());
    bytes[16] = 2;
    bytes[57..61].copy_from_slice(&1i32.to_be_bytes());
    fix_crc(&mut bytes);
    let batch = RecordBatch::parse(&bytes).unwrap();
    let e = batch.records().unwrap().next().unwrap().unwrap_err();
    assert!(matches!(e, DecodeError::Truncated { .. }), "{e:?}");
}

#[test]
fn garbage_records_never_panic() {
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut next = || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..3000 {
        let len = (next() % 200) as usize;
        let mut bytes = vec![0u8; 61 + len];
        for b in &mut bytes[61..] {
            *b = next() as u8;
        }
        let len = (bytes.len() - 12) as i32;
        bytes[8..12].copy_from_slice(&len.to_be_bytes());
        bytes[16] = 2;
        // Codec bits cycle through all five so garbage reaches every decompressor.
        bytes[22] = (round % 5) as u8;
        bytes[57..61].copy_from_slice(&((next() % 8) as i32).to_be_bytes());
        fix_crc(&mut bytes);
        let _ = consume(&bytes);
    }
}

#[test]
fn unknown_codec_and_wrong_magic() {
    let mut bad = sample(Compression::None);
    bad[22] = 5;
    fix_crc(&mut bad);
    assert_eq!(RecordBatch::parse(&bad), Err(BatchError::UnknownCompression(5)));
    let mut v1 = sample(Compression::None);
    v1[16] = 1;
    assert_eq!(RecordBatch::parse(&v1), Err(BatchError::UnsupportedMagic(1)));
}
