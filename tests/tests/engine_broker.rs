//! The sans-IO engine against the real broker, through the test driver: idempotent produce of
//! keyed and null-key records with headers, read back by kafka-python and compared record by
//! record with what `send` accepted and what the completion events said.

extern crate alloc;

use alloc::collections::BTreeMap;
use core::time::Duration;

use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::partitioner::key_partition;
use kprod_core::producer::{Capacities, Completion, Event, Producer, ProducerRecord, SendError, Storage};
use kprod_core::record::Header;
use kprod_tests::engine_driver::EngineDriver;
use kprod_tests::{unique_topic, Broker};

fn bootstrap(broker: &Broker) -> Vec<(String, u16)> {
    broker
        .bootstrap()
        .split(',')
        .map(|a| {
            let (h, p) = a.rsplit_once(':').expect("host:port");
            (h.to_owned(), p.parse().expect("port"))
        })
        .collect()
}

struct Sent {
    key: Option<Vec<u8>>,
    value: Vec<u8>,
    header: Vec<u8>,
    timestamp: i64,
}

fn produce_and_verify(compression: Compression, acks: Acks, records: usize) {
    let broker = Broker::shared();
    let topic = unique_topic(&format!("engine-{}", compression.name()));
    broker.create_topic(&topic, 3, 1);
    let config = Config { compression, acks, linger: Duration::from_millis(2), ..Config::default() };
    let idempotent_expected = acks == Acks::All;
    let storage = Storage::with_capacity(&config, Capacities::default());
    let boot = bootstrap(broker);
    let boot_refs: Vec<(&str, u16)> = boot.iter().map(|(h, p)| (h.as_str(), *p)).collect();
    let valid = config.clone().validate().expect("valid config");
    let producer = Producer::new(valid, &boot_refs, storage, kprod_core::time::Instant::ZERO).expect("producer");
    assert_eq!(producer.idempotent(), idempotent_expected);
    let mut d = EngineDriver::new(producer);

    let base_ts = 1_700_000_000_000i64;
    let mut sent = BTreeMap::new();
    for i in 0..records {
        let key = (i % 3 != 0).then(|| format!("key-{}", i % 50).into_bytes());
        let value = format!("value-{i}-{}", "x".repeat(i % 40)).into_bytes();
        let header = format!("h{i}").into_bytes();
        let headers = [Header { key: "idx", value: Some(&header) }];
        let rec = ProducerRecord {
            topic: &topic,
            partition: None,
            key: key.as_deref(),
            value: Some(&value),
            headers: &headers,
            timestamp: base_ts + i as i64,
        };
        let id = d.send(&rec, Duration::from_secs(30)).unwrap_or_else(|e| panic!("send {i}: {e}"));
        sent.insert(id, Sent { key, value, header, timestamp: base_ts + i as i64 });
    }
    let now = d.now();
    d.producer.flush(now);
    let done = d.run_until(Duration::from_secs(60), |d| d.producer.pending_batches() == 0);
    assert!(done, "flush did not complete: {} batches pending", d.producer.pending_batches());

    // Exactly one completion per accepted record, all delivered.
    let mut placed = BTreeMap::new();
    let mut covered = 0usize;
    for e in &d.events {
        match *e {
            Event::Completed(Completion::Delivered { batch, partition, base_offset, records, .. }) => {
                for index in 0..records {
                    let id = kprod_core::producer::RecordId { batch, index };
                    let offset = if acks == Acks::None { -1 } else { base_offset + i64::from(index) };
                    assert!(placed.insert(id, (partition as i32, offset)).is_none(), "two completions for {id:?}");
                    covered += 1;
                }
            }
            Event::Completed(Completion::Failed { reason, .. }) => panic!("a batch failed: {reason}"),
            Event::Fatal(e) => panic!("fatal: {e}"),
            _ => {}
        }
    }
    assert_eq!(covered, records, "completions cover every record once");
    assert!(sent.keys().all(|id| placed.contains_key(id)));

    let read = broker.read_back(&topic, records, Duration::from_secs(60));
    assert_eq!(read.len(), records, "no duplicates, nothing missing");
    let mut by_place = BTreeMap::new();
    for r in &read {
        assert!(by_place.insert((r.partition, r.offset), r).is_none());
    }
    for (id, s) in &sent {
        let (partition, offset) = placed[id];
        if let Some(k) = &s.key {
            assert_eq!(partition as u32, key_partition(k, 3), "keyed records land where the Java client puts them");
        }
        let r = if acks == Acks::None {
            read.iter().find(|r| r.value.as_deref() == Some(&s.value[..])).expect("record present")
        } else {
            by_place.get(&(partition, offset)).unwrap_or_else(|| panic!("nothing at {partition}/{offset}"))
        };
        assert_eq!(r.partition, partition);
        assert_eq!(r.key, s.key);
        assert_eq!(r.value.as_deref(), Some(&s.value[..]));
        assert_eq!(r.timestamp, s.timestamp);
        assert_eq!(r.headers, vec![("idx".to_owned(), Some(s.header.clone()))]);
    }
    // Null keys spread over the partitions (sticky, switching per batch).
    let null_partitions: alloc::collections::BTreeSet<i32> =
        sent.iter().filter(|(_, s)| s.key.is_none()).map(|(id, _)| placed[id].0).collect();
    assert!(null_partitions.len() > 1 || records < 1000, "null keys all went to {null_partitions:?}");
    assert_eq!(d.producer.producer_id().is_some(), idempotent_expected, "InitProducerId ran iff idempotent");
    if let Some(p) = d.producer.producer_id() {
        assert!(p.producer_id >= 0 && p.producer_epoch >= 0, "{p:?}");
    }
    let m = d.producer.metrics();
    assert_eq!(m.records_sent as usize, records);
    assert_eq!(m.records_delivered as usize, records);
}

#[test]
fn idempotent_lz4_keyed_and_sticky() {
    produce_and_verify(Compression::Lz4, Acks::All, 10_000);
}

#[test]
fn zstd_acks_1() {
    produce_and_verify(Compression::Zstd, Acks::Leader, 3_000);
}

#[test]
fn uncompressed_acks_0() {
    produce_and_verify(Compression::None, Acks::None, 2_000);
}

#[test]
fn unknown_topic_is_a_retriable_error_until_max_block() {
    let broker = Broker::shared();
    // The test broker auto-creates topics only when asked by name with allow_auto_topic_creation;
    // an invalid name can never exist, so send must fail with a clear, typed error.
    let config = Config::default();
    let storage = Storage::with_capacity(&config, Capacities::default());
    let boot = bootstrap(broker);
    let boot_refs: Vec<(&str, u16)> = boot.iter().map(|(h, p)| (h.as_str(), *p)).collect();
    let producer = Producer::new(config.validate().unwrap(), &boot_refs, storage, kprod_core::time::Instant::ZERO).unwrap();
    let mut d = EngineDriver::new(producer);
    let rec = ProducerRecord { topic: "bad/name", partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    let err = d.send(&rec, Duration::from_secs(2)).unwrap_err();
    assert!(matches!(err, SendError::Metadata(_)), "{err}");
}
