//! Cross-checks against batches written by kafka-python 3.0.12 and kafka-clients 4.1.1
//! (`tests/vectors/batches/`, see its README): every vector decodes to exactly the fields and
//! records in its JSON, and re-encoding the JSON inputs gives the same bytes for uncompressed
//! batches (and for compressed requests that both sides wrote uncompressed).
#![cfg(feature = "std")]

use std::path::{Path, PathBuf};

use kprod_core::compression::Compression;
use kprod_core::record::{BatchBuilder, BatchConfig, Header, ProducerState, Record, RecordBatch, TimestampType};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/batches")
}

/// Standard base64 with padding, as Python's `base64.b64encode` writes it.
fn b64(s: &str) -> Vec<u8> {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0);
    for c in s.bytes().filter(|&c| c != b'=') {
        let v = ABC.iter().position(|&a| a == c).unwrap_or_else(|| panic!("bad base64 {c}"));
        acc = acc << 6 | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    out
}

fn opt_b64(v: &Value) -> Option<Vec<u8>> {
    v.as_str().map(b64)
}

/// One expected record, owned.
struct Expected {
    offset_delta: i32,
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

fn expected_records(json: &Value) -> Vec<Expected> {
    let recs = json["records"].as_array().unwrap();
    recs.iter()
        .map(|r| Expected {
            offset_delta: r["offset_delta"].as_i64().unwrap() as i32,
            timestamp: r["timestamp"].as_i64().unwrap(),
            key: opt_b64(&r["key_b64"]),
            value: opt_b64(&r["value_b64"]),
            headers: r["headers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h[0].as_str().unwrap().to_owned(), opt_b64(&h[1])))
                .collect(),
        })
        .collect()
}

fn i64_of(json: &Value, field: &str) -> i64 {
    json[field].as_i64().unwrap_or_else(|| panic!("{field}"))
}

fn check_header(name: &str, b: &RecordBatch<'_>, json: &Value) {
    let codec = Compression::from_name(json["codec"].as_str().unwrap()).unwrap();
    assert_eq!(b.compression(), codec, "{name}");
    assert_eq!(i64::from(b.magic()), i64_of(json, "magic"), "{name}");
    assert_eq!(i64::from(b.attributes()), i64_of(json, "attributes"), "{name}");
    assert_eq!(b.base_offset(), i64_of(json, "base_offset"), "{name}");
    assert_eq!(i64::from(b.partition_leader_epoch()), i64_of(json, "partition_leader_epoch"), "{name}");
    assert_eq!(b.producer_id(), i64_of(json, "producer_id"), "{name}");
    assert_eq!(i64::from(b.producer_epoch()), i64_of(json, "producer_epoch"), "{name}");
    assert_eq!(i64::from(b.base_sequence()), i64_of(json, "base_sequence"), "{name}");
    assert_eq!(b.is_transactional(), json["is_transactional"].as_bool().unwrap(), "{name}");
    let ts_type =
        if i64_of(json, "timestamp_type") == 0 { TimestampType::CreateTime } else { TimestampType::LogAppendTime };
    assert_eq!(b.timestamp_type(), ts_type, "{name}");
    assert_eq!(b.base_timestamp(), i64_of(json, "base_timestamp"), "{name}");
    assert_eq!(b.max_timestamp(), i64_of(json, "max_timestamp"), "{name}");
    assert_eq!(i64::from(b.last_offset_delta()), i64_of(json, "last_offset_delta"), "{name}");
    assert_eq!(i64::from(b.crc()), i64_of(json, "crc"), "{name}");
    assert_eq!(i64::from(b.record_count()), i64_of(json, "record_count"), "{name}");
}

fn check_records(name: &str, b: &RecordBatch<'_>, want: &[Expected]) {
    let owned = b.decompress(16 << 20).unwrap_or_else(|e| panic!("{name}: {e}"));
    let got: Vec<_> = owned.iter().collect::<Result<_, _>>().unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(got.len(), want.len(), "{name}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_eq!(g.offset_delta, w.offset_delta, "{name} #{i}");
        assert_eq!(g.offset, i64::from(w.offset_delta), "{name} #{i}");
        assert_eq!(g.timestamp, w.timestamp, "{name} #{i}");
        assert_eq!(g.key, w.key.as_deref(), "{name} #{i}");
        assert_eq!(g.value, w.value.as_deref(), "{name} #{i}");
        let headers: Vec<_> = g.headers().map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec))).collect();
        assert_eq!(headers, w.headers, "{name} #{i}");
    }
}

/// Encodes the JSON inputs with kprod; returns the batch and the codec actually used.
fn reencode(json: &Value, want: &[Expected], codec: Compression) -> (Vec<u8>, Compression) {
    let headers: Vec<Vec<Header<'_>>> =
        want.iter().map(|r| r.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect()).collect();
    let mut buf = vec![0u8; 4 << 20];
    let config = BatchConfig {
        compression: codec,
        transactional: json["is_transactional"].as_bool().unwrap(),
        ..BatchConfig::new(4 << 20)
    };
    let mut b = BatchBuilder::new(&mut buf[..], config).unwrap();
    for (r, h) in want.iter().zip(&headers) {
        let rec = Record { timestamp: r.timestamp, key: r.key.as_deref(), value: r.value.as_deref(), headers: h };
        b.append(&rec).unwrap();
    }
    let producer = ProducerState {
        producer_id: i64_of(json, "producer_id"),
        producer_epoch: i64_of(json, "producer_epoch") as i16,
        base_sequence: i64_of(json, "base_sequence") as i32,
    };
    let mut scratch = Vec::new();
    let batch = b.finish_with_vec(producer, &mut scratch).expect("vectors have records");
    let used = batch.compression();
    let mut bytes = batch.as_bytes().to_vec();
    // PartitionLeaderEpoch is outside the CRC; the vectors use the generators' value.
    let ple = i64_of(json, "partition_leader_epoch") as i32;
    bytes[12..16].copy_from_slice(&ple.to_be_bytes());
    (bytes, used)
}

#[test]
fn every_vector_decodes_and_reencodes() {
    let index: Value =
        serde_json::from_slice(&std::fs::read(dir().join("index.json")).expect("vectors index")).unwrap();
    let index = index.as_array().unwrap();
    assert!(index.len() >= 80, "only {} vectors", index.len());
    let (mut exact, mut round_trips) = (0, 0);
    for entry in index {
        let name = entry["name"].as_str().unwrap();
        let bytes = std::fs::read(dir().join(format!("{name}.bin"))).unwrap();
        let json: Value = serde_json::from_slice(&std::fs::read(dir().join(format!("{name}.json"))).unwrap()).unwrap();
        let batch = RecordBatch::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(batch.len(), bytes.len(), "{name}");
        check_header(name, &batch, &json);
        let want = expected_records(&json);
        if !batch.compression().can_decompress() {
            // zstd without the `zstd` feature: header checks only.
            continue;
        }
        check_records(name, &batch, &want);

        let requested = Compression::from_name(json["requested_codec"].as_str().unwrap()).unwrap();
        if !requested.can_compress() {
            continue;
        }
        let (ours, used) = reencode(&json, &want, requested);
        if used == Compression::None && batch.compression() == Compression::None {
            assert_eq!(ours, bytes, "{name}: kprod's bytes differ");
            exact += 1;
        } else {
            // Compressed bytes differ between implementations; ours must decode to the same.
            let parsed = RecordBatch::parse(&ours).unwrap();
            assert_eq!(parsed.compression(), used);
            check_records(name, &parsed, &want);
            round_trips += 1;
        }
    }
    // 17 uncompressed vectors, plus the compressed requests that fell back on both sides.
    assert!(exact >= 17, "{exact} byte-exact");
    assert!(round_trips > 0);
}
