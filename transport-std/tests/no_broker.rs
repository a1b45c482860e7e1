//! The blocking producer without a reachable broker: `send` and `partitions_for` time out
//! after `max.block.ms` with an error naming the topic, and close/drop stay prompt.

use core::time::Duration;
use std::time::Instant;

use kprod_std::{BlockedOn, Error, Producer, ProducerConfig, Record};

const MAX_BLOCK: Duration = Duration::from_millis(400);

fn unreachable(bootstrap: &str) -> Producer {
    let config = ProducerConfig::new(bootstrap)
        .expect("bootstrap")
        .max_block(MAX_BLOCK)
        .set("reconnect.backoff.ms", "20")
        .expect("property");
    Producer::new(config).expect("producer")
}

fn assert_metadata_timeout(bootstrap: &str) {
    let producer = unreachable(bootstrap);
    let started = Instant::now();
    let err = producer.send(&Record::new("orders").value(b"v".as_slice())).expect_err("no broker");
    let waited = started.elapsed();
    assert!(waited >= MAX_BLOCK && waited < MAX_BLOCK * 5, "{bootstrap}: waited {waited:?}");
    assert!(
        matches!(&err, Error::Timeout { topic: Some(t), blocked_on: BlockedOn::Metadata(_), .. } if t == "orders"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("topic orders not present in metadata after 4"), "{err}");
    assert!(err.is_retriable());
    let err = producer.partitions_for("orders").expect_err("no broker");
    assert!(matches!(err, Error::Timeout { blocked_on: BlockedOn::Metadata(_), .. }), "{err:?}");
    let started = Instant::now();
    producer.close(Duration::from_secs(5)).expect("nothing was buffered");
    assert!(started.elapsed() < Duration::from_secs(1), "close with nothing buffered is prompt");
    assert_eq!(producer.send(&Record::new("orders")).expect_err("closed"), Error::Closed);
}

#[test]
fn refused_connection_times_out_with_the_topic_named() {
    assert_metadata_timeout("127.0.0.1:1");
}

#[test]
fn unresolvable_host_times_out() {
    assert_metadata_timeout("no-such-host.invalid:9092");
}

#[test]
fn ipv6_bootstrap_times_out() {
    assert_metadata_timeout("[::1]:1");
}

#[test]
fn drop_without_close_is_prompt() {
    let producer = unreachable("127.0.0.1:1");
    let _ = producer.send(&Record::new("t"));
    let started = Instant::now();
    drop(producer);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn invalid_configs_are_refused_before_any_thread_starts() {
    let err = Producer::new(ProducerConfig::default()).expect_err("no bootstrap");
    assert!(err.to_string().contains("bootstrap.servers"), "{err}");
    let err = ProducerConfig::new("h:1").and_then(|c| c.set("linger", "5")).expect_err("unknown");
    assert_eq!(err, Error::UnknownProperty("linger".into()));
    let err = Producer::new(ProducerConfig::new("h:1").expect("ok").batch_size(0)).expect_err("batch.size");
    assert!(err.to_string().contains("batch.size"), "{err}");
}

/// CPU time of this process, from /proc (Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

#[test]
fn waiting_for_an_unreachable_broker_does_not_spin() {
    let producer = Producer::new(ProducerConfig::new("127.0.0.1:1").expect("ok").max_block(Duration::from_secs(2)))
        .expect("producer");
    let before = process_cpu();
    let _ = producer.send(&Record::new("t"));
    if let (Some(before), Some(after)) = (before, process_cpu()) {
        eprintln!("blocked send: {:?} of CPU in 2 s", after - before);
        assert!(after - before < Duration::from_millis(500), "{:?}", after - before);
    }
}
