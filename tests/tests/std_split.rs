//! Batches the broker refuses as too large (MESSAGE_TOO_LARGE) are split and sent again, as the
//! Java client does: a topic whose `max.message.bytes` is far below `batch.size` still gets
//! every record, once, in order, at the offset the producer reported (read back by kafka-python).
//! A single record larger than the topic allows fails alone, naming `max.message.bytes`.

extern crate alloc;

mod std_util;

use core::time::Duration;

use kprod_std::{Compression, DeliveryError, Error, ErrorCode, Producer, Record};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, send_all, verify, wait_all, Sent};

/// `n` records of about 1 KiB, unique and barely compressible, with explicit timestamps.
fn records(tag: &str, n: usize) -> Vec<Sent> {
    let mut x = 0x9e37_79b9_7f4a_7c15_u64;
    (0..n)
        .map(|i| {
            let mut value = format!("{tag}-{i}-").into_bytes();
            value.extend((0..1024).map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                b'a' + (x % 26) as u8
            }));
            Sent {
                partition: Some(0),
                key: (i % 2 == 0).then(|| format!("k{i}").into_bytes()),
                value: Some(value),
                headers: vec![("i".to_owned(), Some(i.to_string().into_bytes()))],
                timestamp: Some(1_700_000_000_000 + i as i64),
            }
        })
        .collect()
}

fn split_run(compression: Compression, idempotent: bool, n: usize) {
    let broker = Broker::shared();
    let topic = unique_topic("std-split");
    broker.create_topic_with_config(&topic, 1, 1, &[("max.message.bytes", "20000")]);
    let producer = Producer::new(
        config(broker)
            .batch_size(65536)
            .linger(Duration::from_millis(50))
            .compression(compression)
            .set("enable.idempotence", if idempotent { "true" } else { "false" })
            .expect("enable.idempotence")
            .set("max.in.flight.requests.per.connection", if idempotent { "5" } else { "1" })
            .expect("max.in.flight"),
    )
    .expect("producer");
    let sent = records("split", n);
    let reported = wait_all(&send_all(&producer, &topic, &sent));
    let splits = producer.metrics().batches_split;
    producer.close(Duration::from_secs(30)).expect("close");
    assert!(splits > 0, "the broker refused no batch: the test proves nothing");
    // In order: offsets follow send order.
    assert!(reported.windows(2).all(|w| w[0].offset < w[1].offset), "offsets follow send order");
    let read = broker.read_back(&topic, n, Duration::from_secs(60));
    verify(&read, &sent, &reported, 1);
}

#[test]
fn batches_refused_as_too_large_are_split_and_all_records_delivered_in_order() {
    // The measurement: 5,000 records of 1 KiB, batch.size 65536, linger.ms 50, a topic
    // with max.message.bytes 20000 (kprod delivered 8 and failed 4,992 before).
    split_run(Compression::None, true, 5_000);
}

#[test]
fn split_works_compressed_and_without_idempotence() {
    split_run(Compression::Lz4, true, 1_000);
    split_run(Compression::None, false, 1_000);
}

#[test]
fn a_single_record_too_large_for_the_topic_fails_alone_naming_max_message_bytes() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("std-split-one");
    broker.create_topic_with_config(&topic, 1, 1, &[("max.message.bytes", "20000")]);
    let producer = Producer::new(config(broker).batch_size(65536).linger(Duration::from_millis(50))).expect("producer");
    let big = vec![b'x'; 30_000];
    let before = producer.send(&Record::new(&topic).partition(0).value(b"before".as_slice())).expect("send");
    let bad = producer.send(&Record::new(&topic).partition(0).value(big.as_slice())).expect("send");
    let after = producer.send(&Record::new(&topic).partition(0).value(b"after".as_slice())).expect("send");
    let err = bad.wait(Duration::from_secs(60)).expect_err("30,000 bytes do not fit max.message.bytes 20000");
    assert_eq!(err, Error::Delivery(DeliveryError::Broker(ErrorCode::MessageTooLarge)), "{err}");
    assert!(err.to_string().contains("max.message.bytes"), "{err}");
    let before = before.wait(Duration::from_secs(60)).expect("the record before is delivered");
    let after = after.wait(Duration::from_secs(60)).expect("the record after is delivered");
    producer.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, 2, Duration::from_secs(60));
    let values: Vec<Option<&[u8]>> = read.iter().map(|r| r.value.as_deref()).collect();
    assert_eq!(values, vec![Some(b"before".as_slice()), Some(b"after".as_slice())]);
    assert_eq!((read[0].offset, read[1].offset), (before.offset, after.offset));
}

#[test]
fn a_record_the_broker_refuses_gets_its_words_and_its_batch_mates_say_why_they_failed() {
    // KIP-467: a compacted topic refuses a null key. The batch of five fails; the culprit
    // carries the broker's message, the others say they shared a batch with it.
    let broker = Broker::shared();
    let topic = unique_topic("std-record-errors");
    broker.create_topic_with_config(&topic, 1, 1, &[("cleanup.policy", "compact")]);
    let producer = Producer::new(config(broker).linger(Duration::from_millis(200))).expect("producer");
    let handles: Vec<_> = (0..5)
        .map(|i| {
            let key = format!("k{i}");
            let record = Record::new(&topic).partition(0).value(b"v".as_slice());
            let record = if i == 2 { record } else { record.key(key.as_bytes()) };
            producer.send(&record).expect("send")
        })
        .collect();
    let errors: Vec<Error> =
        handles.iter().map(|h| h.wait(Duration::from_secs(60)).expect_err("the batch is refused")).collect();
    producer.close(Duration::from_secs(30)).expect("close");
    for (i, e) in errors.iter().enumerate() {
        let Error::Record { code, message } = e else {
            panic!("record {i}: {e:?}");
        };
        assert_eq!(*code, ErrorCode::InvalidRecord, "record {i}");
        if i == 2 {
            assert!(message.contains("Compacted topic cannot accept message without key"), "{message}");
        } else {
            assert!(message.contains("same batch as 1 record(s) the broker refused"), "record {i}: {message}");
        }
    }
}
