//! The Java producer's metrics by name (`Producer::metrics_by_name`) during a real-broker run,
//! checked against what the test knows it sent: record counts, sizes, requests, the buffer,
//! connections, and the broker's read-back.

extern crate alloc;

mod std_util;

use core::time::Duration;

use kprod_std::{Compression, Producer};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, send_all, verify, wait_all, Sent};

const RECORDS: usize = 3000;
const VALUE: usize = 200;

fn metric(all: &[(&'static str, f64)], name: &str) -> f64 {
    all.iter().find(|(n, _)| *n == name).map(|&(_, v)| v).unwrap_or_else(|| panic!("no metric {name}: {all:?}"))
}

#[test]
fn java_metrics_match_what_was_sent() {
    let broker = Broker::shared();
    let topic = unique_topic("std-metrics");
    broker.create_topic(&topic, 2, 1);
    let buffer = 8 * 1024 * 1024;
    let producer = Producer::new(
        config(broker)
            .compression(Compression::Gzip)
            .buffer_memory(buffer)
            .set("metrics.sample.window.ms", "60000")
            .and_then(|c| c.set("batch.size", "16384"))
            .expect("config"),
    )
    .expect("producer");
    // Values of VALUE bytes, gzip-friendly (repeated text), no key, no header, so each record's
    // encoded size is known within a few bytes of varint overhead.
    let records: Vec<Sent> = (0..RECORDS)
        .map(|i| Sent {
            partition: Some((i % 2) as u32),
            key: None,
            value: Some(format!("{i:08}{}", "metrics ".repeat(VALUE / 8)).into_bytes()[..VALUE].to_vec()),
            headers: Vec::new(),
            timestamp: Some(1_700_000_000_000 + i as i64),
        })
        .collect();
    let handles = send_all(&producer, &topic, &records);
    producer.flush(Duration::from_secs(60)).expect("flush");
    let metas = wait_all(&handles);
    let m = producer.metrics_by_name();
    eprintln!("{m:?}");

    assert_eq!(metric(&m, "record-send-total"), RECORDS as f64);
    assert_eq!(metric(&m, "record-error-total"), 0.0);
    assert_eq!(metric(&m, "record-retry-total"), 0.0);
    assert!(metric(&m, "record-send-rate") > 0.0);
    // A record of VALUE bytes with no key and no header: the value plus a few bytes of header
    // fields (length, attributes, deltas, key length, header count).
    let size = metric(&m, "record-size-avg");
    assert!((VALUE as f64..VALUE as f64 + 24.0).contains(&size), "record-size-avg {size}");
    assert!(metric(&m, "record-size-max") >= size);
    // Batches of at most batch.size; gzip shrinks this text a lot.
    let batch = metric(&m, "batch-size-avg");
    assert!(batch > 61.0 && metric(&m, "batch-size-max") <= 16384.0, "batch-size-avg {batch}");
    let ratio = metric(&m, "compression-rate-avg");
    assert!(ratio > 0.0 && ratio < 0.5, "compression-rate-avg {ratio}");
    let per_request = metric(&m, "records-per-request-avg");
    let requests = metric(&m, "request-total");
    assert!(per_request >= 1.0 && requests >= 1.0, "{per_request} per request, {requests} requests");
    assert!((per_request * requests - RECORDS as f64).abs() < 1.0, "records per request × requests = records sent");
    let latency = metric(&m, "request-latency-avg");
    assert!(latency > 0.0 && latency < 60_000.0 && metric(&m, "request-latency-max") >= latency, "latency {latency}");
    assert!(metric(&m, "record-queue-time-avg") >= 0.0);
    assert!(metric(&m, "outgoing-byte-rate") > 0.0);
    assert_eq!(metric(&m, "buffer-available-bytes"), buffer as f64, "everything delivered, the buffer is free");
    assert!(metric(&m, "connection-count") >= 1.0);
    assert!(metric(&m, "produce-throttle-time-avg").is_nan(), "no throttling on the test broker");
    producer.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, RECORDS, Duration::from_secs(60));
    verify(&read, &records, &metas, 2);
}
