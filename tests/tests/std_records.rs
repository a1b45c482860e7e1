//! The blocking producer (`kprod-std`) against the real broker: partitioning, record shapes
//! (headers, tombstones, empty keys and values, timestamps), serializers, 1 MiB records, and
//! the records and topics it must refuse.

extern crate alloc;

mod std_util;

use alloc::collections::BTreeSet;
use core::time::Duration;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kprod_std::{Error, ErrorCode, Producer, Record, SendError};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, send_all, verify, wait_all, Sent};

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as i64
}

#[test]
fn keyed_records_use_the_java_partition_and_null_keys_spread() {
    let broker = Broker::shared();
    let topic = unique_topic("std-partitions");
    broker.create_topic(&topic, 6, 1);
    // Small batches, so the sticky partitioner moves on several times.
    let producer = Producer::new(config(broker).batch_size(2048)).expect("producer");
    let partitions: Vec<u32> = producer.partitions_for(&topic).expect("metadata").iter().map(|p| p.partition).collect();
    assert_eq!(partitions, (0..6).collect::<Vec<u32>>());
    let mut records: Vec<Sent> = (0..3000).map(|i| Sent::numbered("p", i)).collect();
    for (i, r) in records.iter_mut().enumerate().filter(|(i, _)| i % 10 == 5) {
        r.partition = Some((i % 6) as u32);
    }
    let reported = wait_all(&send_all(&producer, &topic, &records));
    producer.close(Duration::from_secs(30)).expect("close");
    let null_key_partitions: BTreeSet<u32> = records
        .iter()
        .zip(&reported)
        .filter(|(s, _)| s.key.is_none() && s.partition.is_none())
        .map(|(_, m)| m.partition)
        .collect();
    assert!(null_key_partitions.len() >= 3, "null keys went only to {null_key_partitions:?}");
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 6);
}

#[test]
fn headers_tombstones_and_timestamps() {
    let broker = Broker::shared();
    let topic = unique_topic("std-shapes");
    broker.create_topic(&topic, 2, 1);
    let producer = Producer::new(config(broker)).expect("producer");
    let now = now_ms();
    let h = |k: &str, v: Option<&[u8]>| (k.to_owned(), v.map(<[u8]>::to_vec));
    let shape = |key: Option<&[u8]>, value: Option<&[u8]>, headers, timestamp| Sent {
        partition: None,
        key: key.map(<[u8]>::to_vec),
        value: value.map(<[u8]>::to_vec),
        headers,
        timestamp,
    };
    let records = vec![
        shape(Some(b"tomb"), None, vec![], Some(now - 10)),
        shape(Some(b""), Some(b""), vec![], Some(now - 9)),
        shape(None, None, vec![h("only", None)], Some(now - 8)),
        shape(
            Some(b"k"),
            Some(b"\x00\xffbinary"),
            vec![h("a", Some(b"1")), h("a", Some(b"2")), h("nul", None), h("", Some(b""))],
            Some(0),
        ),
        shape(Some("clé".as_bytes()), Some("välue ✓".as_bytes()), vec![h("ü", Some("ß".as_bytes()))], Some(1)),
        shape(Some(b"stamped-by-producer"), Some(b"x"), vec![], None),
    ];
    let before = now_ms();
    let reported = wait_all(&send_all(&producer, &topic, &records));
    let stamped = reported[5].timestamp;
    assert!(stamped >= before && stamped <= now_ms(), "the producer stamps the wall clock: {stamped}");
    producer.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

#[test]
fn a_rejected_timestamp_fails_its_record_with_the_broker_error() {
    let broker = Broker::shared();
    let topic = unique_topic("std-bad-ts");
    broker.create_topic_with_config(&topic, 1, 1, &[("message.timestamp.after.max.ms", "60000")]);
    let producer = Producer::new(config(broker)).expect("producer");
    let good = producer.send(&Record::new(&topic).value(b"ok".as_slice())).expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");
    let future = now_ms() + 86_400_000;
    let bad = producer.send(&Record::new(&topic).value(b"late".as_slice()).timestamp(future)).expect("send");
    let err = bad.wait(Duration::from_secs(60)).expect_err("a timestamp a day ahead is refused");
    // The broker names the record and says why (KIP-467): the error carries its words.
    let Error::Record { code, message } = &err else {
        panic!("the broker's own words are lost: {err:?}");
    };
    assert_eq!(*code, ErrorCode::InvalidTimestamp, "{err}");
    assert!(message.contains("Timestamp"), "{message}");
    assert!(!err.is_retriable());
    assert_eq!(good.wait(Duration::from_secs(1)).expect("delivered").offset, 0);
    producer.close(Duration::from_secs(30)).expect("close");
}

#[test]
fn log_append_time_is_reported() {
    let broker = Broker::shared();
    let topic = unique_topic("std-append-time");
    broker.create_topic_with_config(&topic, 1, 1, &[("message.timestamp.type", "LogAppendTime")]);
    let producer = Producer::new(config(broker)).expect("producer");
    let records: Vec<Sent> = (0..20).map(|i| Sent::numbered("lat", i)).collect();
    let before = now_ms();
    let reported = wait_all(&send_all(&producer, &topic, &records));
    producer.close(Duration::from_secs(30)).expect("close");
    for m in &reported {
        assert!(m.timestamp >= before - 1000, "broker append time, not the 2023 create time: {m:?}");
    }
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    assert!(read.iter().all(|r| r.timestamp_type == 1));
    verify(&read, &records, &reported, 1);
}

#[test]
fn string_and_json_serializers() {
    #[derive(serde::Serialize)]
    struct Order {
        id: u32,
        item: String,
    }
    let broker = Broker::shared();
    let topic = unique_topic("std-serde");
    broker.create_topic(&topic, 1, 1);
    let strings = Producer::strings(config(broker)).expect("producer");
    let a = strings.send(&Record::new(&topic).key("k-1").value("hello")).expect("send");
    let a = a.wait(Duration::from_secs(60)).expect("delivered");
    strings.close(Duration::from_secs(30)).expect("close");
    let json =
        Producer::<u32, Order>::with_serializers(config(broker), kprod_std::JsonSerializer, kprod_std::JsonSerializer)
            .expect("producer");
    let order = Order { id: 7, item: "tea".into() };
    let b = json.send(&Record::new(&topic).key(&7).value(&order)).expect("send").wait(Duration::from_secs(60));
    let b = b.expect("delivered");
    drop(json);
    let read = broker.read_back(&topic, 2, Duration::from_secs(60));
    assert_eq!((read[0].offset, read[1].offset), (a.offset, b.offset));
    assert_eq!((read[0].key.as_deref(), read[0].value.as_deref()), (Some(&b"k-1"[..]), Some(&b"hello"[..])));
    assert_eq!(read[1].key.as_deref(), Some(&b"7"[..]));
    assert_eq!(read[1].value.as_deref(), Some(&br#"{"id":7,"item":"tea"}"#[..]));
}

/// Pseudo-random bytes, so compression cannot shrink a large record.
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn one_mib_records_and_one_too_large() {
    let broker = Broker::shared();
    let topic = unique_topic("std-large");
    broker.create_topic_with_config(&topic, 2, 1, &[("max.message.bytes", "4194304")]);
    let max_request = 3 << 20;
    let producer = Producer::new(config(broker).max_request_size(max_request)).expect("producer");
    let records: Vec<Sent> = (0..6u64)
        .map(|i| Sent {
            partition: None,
            key: Some(format!("big-{i}").into_bytes()),
            value: Some(noise(if i == 5 { 10 } else { 1 << 20 }, i)),
            headers: vec![("n".to_owned(), Some(vec![i as u8]))],
            timestamp: Some(1_700_000_000_000),
        })
        .collect();
    let reported = wait_all(&send_all(&producer, &topic, &records));
    let started = Instant::now();
    let huge = noise(max_request + 1, 99);
    let err = producer.send(&Record::new(&topic).value(huge.as_slice())).expect_err("over max.request.size");
    assert!(started.elapsed() < Duration::from_secs(1), "refused at once, not after max.block.ms");
    assert!(matches!(err, Error::Send(SendError::RecordTooLarge { .. })), "{err}");
    assert!(err.to_string().contains("max.request.size"), "{err}");
    assert!(!err.is_retriable());
    producer.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

#[test]
fn an_invalid_topic_name_fails_at_once_with_a_clear_error() {
    let broker = Broker::shared();
    let producer = Producer::new(config(broker).max_block(Duration::from_secs(5))).expect("producer");
    let started = Instant::now();
    let err = producer.send(&Record::new("bad/name").value(b"v".as_slice())).expect_err("invalid name");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, Error::Send(SendError::Metadata(_))), "{err}");
    let err = producer.partitions_for("bad/name").expect_err("invalid name");
    assert!(matches!(err, Error::Send(SendError::Metadata(_))), "{err}");
}
