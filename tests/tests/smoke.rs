//! Smoke test of the broker harness: the verifier's own producer writes 1,000
//! records and the verifier's consumer reads them back. No kprod code runs;
//! this proves the broker, the verifier and the harness before kprod is
//! tested against them.

use core::time::Duration;

use kprod_tests::{unique_topic, Broker, ConsumedRecord};

const COUNT: usize = 1_000;
const PARTITIONS: i32 = 3;

/// What `verify.py produce` sends as record `i`, computed here from the rule
/// written in its `expected_record` docs, not from its output.
fn expected(topic: &str, i: usize) -> ConsumedRecord {
    let key = match i % 10 {
        0 => None,
        5 => Some(Vec::new()),
        _ => Some(format!("key-{i}").into_bytes()),
    };
    let value = if i % 17 == 3 && key.is_some() {
        None
    } else {
        // Bytes i, i+1, ... (mod 256), i % 64 of them.
        Some((0..i % 64).map(|j| ((i + j) % 256) as u8).collect())
    };
    let mut headers = vec![("seq".to_owned(), Some(i.to_string().into_bytes()))];
    if i % 4 == 0 {
        headers.push(("empty".to_owned(), Some(Vec::new())));
    }
    let partitions = PARTITIONS as usize;
    ConsumedRecord {
        topic: topic.to_owned(),
        partition: (i % partitions) as i32,
        offset: (i / partitions) as i64,
        timestamp: 1_700_000_000_000 + i as i64,
        timestamp_type: 0,
        key,
        value,
        headers,
    }
}

fn round_trip(compression: &str) {
    let broker = Broker::shared();
    let topic = unique_topic(&format!("smoke-{compression}"));
    broker.create_topic(&topic, PARTITIONS, 1);
    broker.produce_with_verifier(&topic, COUNT, compression);
    let got = broker.read_back(&topic, COUNT, Duration::from_secs(60));
    assert_eq!(got.len(), COUNT, "exactly {COUNT} records, no duplicates");

    let mut want: Vec<ConsumedRecord> = (0..COUNT).map(|i| expected(&topic, i)).collect();
    want.sort_by_key(|r| (r.partition, r.offset));
    for (g, w) in got.iter().zip(&want) {
        let at = format!("partition {} offset {}", w.partition, w.offset);
        assert_eq!(g.topic, w.topic, "topic at {at}");
        assert_eq!((g.partition, g.offset), (w.partition, w.offset), "position");
        assert_eq!(g.timestamp, w.timestamp, "timestamp at {at}");
        assert_eq!(g.timestamp_type, w.timestamp_type, "timestamp type at {at}");
        assert_eq!(g.key, w.key, "key at {at}");
        assert_eq!(g.value, w.value, "value at {at}");
        assert_eq!(g.headers, w.headers, "headers at {at}");
    }

    // The content covers the cases the comparison must tell apart.
    assert!(got.iter().any(|r| r.key.is_none()) && got.iter().any(|r| r.key == Some(vec![])));
    assert!(got.iter().any(|r| r.value.is_none()) && got.iter().any(|r| r.value == Some(vec![])));
}

#[test]
fn verifier_round_trip_uncompressed() {
    round_trip("none");
}

#[test]
fn verifier_round_trip_zstd() {
    round_trip("zstd");
}

#[test]
fn describe_single_broker_topic() {
    let broker = Broker::shared();
    let topic = unique_topic("describe");
    broker.create_topic(&topic, 2, 1);
    let d = broker.describe_topic(&topic);
    assert_eq!(d.topic, topic);
    let indexes: Vec<i32> = d.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(indexes, [0, 1]);
    for p in &d.partitions {
        assert_eq!(p.replicas, [p.leader]);
        assert_eq!(p.isr, [p.leader]);
    }
}
