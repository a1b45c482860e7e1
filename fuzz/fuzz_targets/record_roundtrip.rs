//! `BatchBuilder` round trip: append records described by the input into a buffer of an
//! input-chosen size, finish with an input-chosen codec, then parse, decompress and compare
//! every record, header and header field with what was appended.
//!
//! Input: codec (mod 5), flags (bit 0 transactional, bit 1 LogAppendTime, bit 2 level 1),
//! 2 bytes buffer size, 2 bytes batch size, then records: a flags byte (bit 0 null key, bit 1
//! null value, bit 2 raw 8-byte timestamp else a 2-byte delta, bits 4-6 header count), key and
//! value lengths (1 byte each), the timestamp, the key and value, then per header key and value
//! lengths (value 255: null) and bytes.
#![no_main]

use kprod_core::compression::Compression;
use kprod_core::record::{
    AppendError, BatchBuilder, BatchConfig, Header, ProducerState, Record, RecordBatch, TimestampType,
};
use libfuzzer_sys::fuzz_target;

/// Records read from one input at most.
const MAX_RECORDS: usize = 256;

struct Input<'a>(&'a [u8]);

impl<'a> Input<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.0.split_at_checked(n)?;
        self.0 = rest;
        Some(head)
    }
    fn byte(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
}

struct Owned {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn read_record(inp: &mut Input<'_>) -> Option<Owned> {
    let flags = inp.byte()?;
    let (key_len, value_len) = (inp.byte()?, inp.byte()?);
    let timestamp = if flags & 4 != 0 {
        i64::from_be_bytes(inp.array()?)
    } else {
        1_700_000_000_000 + i64::from(i16::from_be_bytes(inp.array()?))
    };
    let key = inp.take(key_len.into())?.to_vec();
    let value = inp.take(value_len.into())?.to_vec();
    let mut headers = Vec::new();
    for _ in 0..(flags >> 4) & 7 {
        let (k, v) = (inp.byte()?, inp.byte()?);
        let k = String::from_utf8_lossy(inp.take(k.into())?).into_owned();
        let v = if v == 255 { None } else { Some(inp.take(v.into())?.to_vec()) };
        headers.push((k, v));
    }
    Some(Owned {
        timestamp,
        key: (flags & 1 == 0).then_some(key),
        value: (flags & 2 == 0).then_some(value),
        headers,
    })
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Input(data);
    let (Some(codec), Some(flags), Some(cap), Some(batch_size)) =
        (inp.byte(), inp.byte(), inp.array::<2>(), inp.array::<2>())
    else {
        return;
    };
    let codec = Compression::ALL[usize::from(codec) % Compression::ALL.len()];
    let config = BatchConfig {
        batch_size: u16::from_be_bytes(batch_size).into(),
        compression: codec,
        compression_level: (flags & 4 != 0).then_some(1),
        timestamp_type: if flags & 2 != 0 { TimestampType::LogAppendTime } else { TimestampType::CreateTime },
        transactional: flags & 1 != 0,
    };
    let mut owned = Vec::new();
    while owned.len() < MAX_RECORDS {
        let Some(r) = read_record(&mut inp) else { break };
        owned.push(r);
    }
    let headers: Vec<Vec<Header<'_>>> = owned
        .iter()
        .map(|o| o.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect())
        .collect();
    let records: Vec<Record<'_>> = owned
        .iter()
        .zip(&headers)
        .map(|(o, h)| Record { timestamp: o.timestamp, key: o.key.as_deref(), value: o.value.as_deref(), headers: h })
        .collect();

    let cap = usize::from(u16::from_be_bytes(cap));
    let mut buf = vec![0u8; cap];
    let Ok(mut builder) = BatchBuilder::new(&mut buf[..], config) else {
        assert!(cap < 61, "a builder refused a buffer that holds the header");
        return;
    };
    let mut appended = Vec::new();
    for r in &records {
        let before = builder.len();
        let want = builder.encoded_len(r);
        match builder.append(r) {
            Ok(()) => {
                assert_eq!(builder.len() - before, want, "encoded_len differs from what append wrote");
                appended.push(r);
            }
            Err(AppendError::Full) => {
                assert!(!appended.is_empty(), "Full on an empty batch");
                break;
            }
            Err(AppendError::TooLarge { .. }) => assert_eq!(builder.len(), before),
            Err(e) => panic!("unexpected append error {e:?}"),
        }
    }
    let producer = ProducerState { producer_id: 7, producer_epoch: 1, base_sequence: 100 };
    let mut scratch = Vec::new();
    let finished = match builder.finish_with_vec(producer, &mut scratch) {
        Ok(finished) => finished,
        Err(_) => {
            assert!(appended.is_empty(), "only an empty builder is refused");
            return;
        }
    };

    let batch = RecordBatch::parse(finished.as_bytes()).expect("a built batch parses");
    assert_eq!(batch.len(), finished.len());
    assert_eq!(batch.compression(), finished.compression());
    assert!(finished.compression() == codec || finished.compression() == Compression::None);
    assert_eq!(batch.record_count() as usize, appended.len());
    assert_eq!(batch.last_offset_delta(), appended.len() as i32 - 1);
    assert_eq!(batch.producer_state(), producer);
    assert_eq!(batch.is_transactional(), config.transactional);
    assert_eq!(batch.timestamp_type(), config.timestamp_type);
    if let Some(first) = appended.first() {
        assert_eq!(batch.base_timestamp(), first.timestamp);
        assert_eq!(batch.max_timestamp(), appended.iter().map(|r| r.timestamp).max().unwrap_or(0));
    }

    let owned_records = batch.decompress(cap).expect("a built batch decompresses");
    let mut it = owned_records.iter();
    for (i, want) in appended.iter().enumerate() {
        let got = it.next().expect("fewer records than appended").expect("a built record reads");
        assert_eq!(got.offset_delta, i as i32);
        assert_eq!(got.offset, i as i64);
        assert_eq!(got.timestamp, want.timestamp);
        assert_eq!(got.key, want.key);
        assert_eq!(got.value, want.value);
        assert!(got.headers().eq(want.headers.iter().copied()), "headers differ");
    }
    assert!(it.next().is_none(), "more records, or trailing bytes, after the appended ones");
});
