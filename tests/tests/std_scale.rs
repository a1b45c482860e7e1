//! kprod-std has no fixed capacity a user can hit: with the default configuration, one blocking
//! producer writes to a topic of 10,000 partitions, to 1,000 topics, and (the reported bug,
//! "too many partitions for the metadata partition slots") to a topic of 1,500 partitions. The
//! Java client has no such limits; neither may the std producer, whose storage is on the heap.
//!
//! Each test sends one record to every partition (explicit partition numbers) and some keyed
//! records, flushes, checks every record was delivered, and reads everything back with the
//! independent verifier, field by field (keyed records must sit in the Java client's
//! partition).
//!
//! The topics are created in bulk (`std_util/bulk.py`) and deleted at the end of each test.
//! On a single KRaft broker, making a partition's log takes about 6 ms on a small VM (most of
//! it fsyncs): 10,000 partitions take about a minute after the metadata already names their
//! leader; the helper waits until every partition takes records, so a test's own time is
//! kprod's. The controller refuses more than 10,000 metadata records per operation, so a topic
//! of 10,000 partitions is created with 4,999 and grown.

extern crate alloc;

mod std_util;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::time::Instant;

use kprod_std::{Producer, RecordMetadata};
use kprod_tests::{unique_topic, Broker, ConsumedRecord};
use std_util::bulk::BulkTopics;
use std_util::{config, send_all, verify, wait_all, Sent};

/// How long reading a test's records back may take.
const READ_BACK: Duration = Duration::from_secs(120);

/// One record for every partition of `topic` (explicit partition numbers), then `keyed`
/// records with distinct keys for the partitioner. Values are unique.
fn records(topic: &str, partitions: u32, keyed: usize) -> Vec<Sent> {
    let explicit = (0..partitions).map(|p| Sent {
        partition: Some(p),
        key: None,
        value: Some(format!("{topic}/p{p}").into_bytes()),
        headers: vec![],
        timestamp: None,
    });
    let keyed = (0..keyed).map(|i| Sent {
        partition: None,
        key: Some(format!("key-{i}").into_bytes()),
        value: Some(format!("{topic}/k{i}").into_bytes()),
        headers: vec![("i".to_owned(), Some(i.to_string().into_bytes()))],
        timestamp: None,
    });
    explicit.chain(keyed).collect()
}

/// Checks that `producer` sees all `partitions` of `topic`.
fn check_partitions(producer: &Producer, topic: &str, partitions: u32) {
    let seen = producer.partitions_for(topic).unwrap_or_else(|e| panic!("partitions_for {topic}: {e} ({e:?})"));
    let seen: Vec<u32> = seen.iter().map(|p| p.partition).collect();
    assert_eq!(seen, (0..partitions).collect::<Vec<u32>>(), "{topic}: the producer sees every partition");
}

/// One topic of `partitions` partitions: one record per partition and `keyed` keyed records,
/// delivered by a producer of the default configuration and read back by the verifier.
fn one_big_topic(prefix: &str, partitions: u32, keyed: usize) {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic(prefix);
    let started = Instant::now();
    let topics = BulkTopics::create(broker, vec![topic.clone()], partitions);
    let created = started.elapsed();
    let sent = records(&topic, partitions, keyed);
    let producer = Producer::new(config(broker)).expect("producer");
    check_partitions(&producer, &topic, partitions);
    let reported = wait_all(&send_all(&producer, &topic, &sent));
    producer.close(Duration::from_secs(30)).expect("close");
    let delivered = started.elapsed() - created;
    let read = broker.read_back(&topic, sent.len(), READ_BACK);
    eprintln!(
        "{partitions} partitions: topic ready in {created:?}, {} records delivered in {delivered:?}, read back in {:?}",
        sent.len(),
        started.elapsed() - created - delivered
    );
    verify(&read, &sent, &reported, partitions);
    drop(topics);
}

/// 10,000 partitions: more than the default partition slots (1,024) and batch slots (2,048),
/// and than one Produce request carries.
#[test]
fn a_topic_of_10000_partitions() {
    one_big_topic("std-scale-10k", 10_000, 5_000);
}

/// The reported bug: 1,500 partitions did not fit the 1,024 partition slots of the default
/// capacities ("too many partitions for the metadata partition slots").
#[test]
fn a_topic_of_1500_partitions() {
    one_big_topic("std-scale-1500", 1_500, 2_000);
}

/// 1,000 topics of 2 partitions: more topics than the default topic slots (64) and than one
/// Metadata request asked about (64), and 2,000 partitions in all.
#[test]
fn one_producer_writes_to_1000_topics() {
    const TOPICS: usize = 1_000;
    const PARTITIONS: u32 = 2;
    const KEYED: usize = 3;
    std_util::init_log();
    let broker = Broker::shared();
    let prefix = unique_topic("std-scale-topics");
    let started = Instant::now();
    let topics = BulkTopics::create(broker, (0..TOPICS).map(|t| format!("{prefix}-{t}")).collect(), PARTITIONS);
    let created = started.elapsed();
    let sent: Vec<Vec<Sent>> = topics.names().iter().map(|t| records(t, PARTITIONS, KEYED)).collect();
    let producer = Producer::new(config(broker)).expect("producer");
    let (known, reported) = deliver_to_topics(&producer, topics.names(), PARTITIONS, &sent);
    producer.close(Duration::from_secs(30)).expect("close");
    let delivered = started.elapsed() - created;
    let total: usize = sent.iter().map(Vec::len).sum();
    let read = topics.read_back(total, READ_BACK);
    eprintln!(
        "{TOPICS} topics: ready in {created:?}; the producer knew their partitions after {known:?}, \
         had {total} records delivered after {delivered:?}; read back in {:?}",
        started.elapsed() - created - delivered
    );
    assert_eq!(read.len(), total, "read back exactly what was sent: no loss, no duplicate");
    let mut by_topic: BTreeMap<&str, Vec<ConsumedRecord>> = BTreeMap::new();
    for r in &read {
        by_topic.entry(r.topic.as_str()).or_default().push(r.clone());
    }
    for ((topic, s), m) in topics.names().iter().zip(&sent).zip(&reported) {
        verify(by_topic.get(topic.as_str()).map_or(&[][..], Vec::as_slice), s, m, PARTITIONS);
    }
}

/// Checks the producer sees every topic's partitions (how long that took is returned), then
/// sends `sent[t]` to topic `t` for all topics before waiting for any delivery, so the
/// topics' batches are in flight together.
fn deliver_to_topics(
    producer: &Producer,
    topics: &[String],
    partitions: u32,
    sent: &[Vec<Sent>],
) -> (Duration, Vec<Vec<RecordMetadata>>) {
    let started = Instant::now();
    for t in topics {
        check_partitions(producer, t, partitions);
    }
    let known = started.elapsed();
    let handles: Vec<_> = topics.iter().zip(sent).map(|(t, s)| send_all(producer, t, s)).collect();
    (known, handles.iter().map(|h| wait_all(h)).collect())
}
