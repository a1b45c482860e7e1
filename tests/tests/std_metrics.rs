//! The Java producer's metrics by name (`Producer::metrics_by_name`) during a real-broker run,
//! checked against what the test knows it sent: record counts, sizes, requests, the buffer,
//! connections, and the broker's read-back.

extern crate alloc;

mod std_util;

use core::time::Duration;

use kprod_std::{Compression, Producer};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, metric, send_all, verify, wait_all, Sent};

const RECORDS: usize = 3000;
const VALUE: usize = 200;

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
    // Batches of at most batch.max.size (the default, 256 KiB: batches past batch.size take
    // records while they wait to be sent); gzip shrinks this text a lot.
    let batch = metric(&m, "batch-size-avg");
    assert!(batch > 61.0 && metric(&m, "batch-size-max") <= 262_144.0, "batch-size-avg {batch}");
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
    // 600 KB through 8 MiB: no send waited for space.
    assert_eq!(metric(&m, "bufferpool-wait-time-ns-total"), 0.0);
    assert_eq!(metric(&m, "bufferpool-wait-ratio"), 0.0);
    producer.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, RECORDS, Duration::from_secs(60));
    verify(&read, &records, &metas, 2);
}

/// A buffer far smaller than what is sent: `send` waits for space, and the waits show in
/// `bufferpool-wait-time-ns-total` and `bufferpool-wait-ratio`, within the time the sends took.
#[test]
fn buffer_waits_are_counted() {
    let broker = Broker::shared();
    let topic = unique_topic("std-metrics-wait");
    broker.create_topic(&topic, 1, 1);
    let producer = Producer::new(
        config(broker)
            .buffer_memory(32 * 1024)
            .set("batch.size", "16384")
            .and_then(|c| c.set("metrics.sample.window.ms", "60000"))
            .expect("config"),
    )
    .expect("producer");
    let value = vec![b'w'; 1000];
    let n = 2000;
    let started = std::time::Instant::now();
    let handles: Vec<_> =
        (0..n).map(|_| producer.send(&kprod_std::Record::new(&topic).value(&value[..])).expect("send")).collect();
    let sending = started.elapsed();
    for h in &handles {
        h.wait(Duration::from_secs(60)).expect("delivered");
    }
    let m = producer.metrics_by_name();
    let waited = metric(&m, "bufferpool-wait-time-ns-total");
    // 2 MB through 32 KiB: most sends found the buffer full.
    assert!(waited > 0.0, "2 MB through a 32 KiB buffer without a wait: {m:?}");
    assert!(waited <= sending.as_nanos() as f64, "waited {waited} ns, longer than the sends took ({sending:?})");
    let ratio = metric(&m, "bufferpool-wait-ratio");
    assert!(ratio > 0.0 && ratio <= 1.0, "bufferpool-wait-ratio {ratio}");
    assert_eq!(metric(&m, "record-send-total"), n as f64);
    producer.close(Duration::from_secs(30)).expect("close");
}

/// A `send` waiting for buffer space when the producer closes ends with `Error::Closed`, and its
/// wait still counts in `bufferpool-wait-time-ns-total`, as Java's `BufferPool` records a wait
/// before it throws for the close. A broker quota of 1 KiB/s holds the producer back, so its
/// 16 KiB buffer stays full and the sending thread blocks. The send ends by one of two paths,
/// whichever the close's timing gives it: the closing engine refuses its next attempt, or it
/// finds the IO thread already stopped; both count the wait (here mostly the first).
#[test]
fn a_buffer_wait_that_ends_in_close_is_counted() {
    use alloc::sync::Arc;
    use core::sync::atomic::{AtomicU64, Ordering};
    use std::time::Instant;

    let broker = Broker::shared();
    let (topic, client_id) = std_util::quota_topic(broker, "std-metrics-close-wait", 1, 1024);
    let producer = Arc::new(
        Producer::new(
            config(broker)
                .client_id(&client_id)
                .buffer_memory(16 * 1024)
                .set("batch.size", "4096")
                .and_then(|c| c.set("max.block.ms", "120000"))
                .expect("config"),
        )
        .expect("producer"),
    );
    let sent = Arc::new(AtomicU64::new(0));
    let sender = {
        let (producer, sent, topic) = (Arc::clone(&producer), Arc::clone(&sent), topic.clone());
        std::thread::spawn(move || {
            let value = vec![b'c'; 1000];
            loop {
                match producer.send(&kprod_std::Record::new(&topic).value(&value[..])) {
                    Ok(_) => sent.fetch_add(1, Ordering::Relaxed),
                    Err(e) => return e,
                };
            }
        })
    };
    // Blocked: the buffer cannot take another record and no send returned for 300 ms.
    let give_up = Instant::now() + Duration::from_secs(60);
    let (mut last, mut since) = (sent.load(Ordering::Relaxed), Instant::now());
    loop {
        std::thread::sleep(Duration::from_millis(50));
        let now_sent = sent.load(Ordering::Relaxed);
        if now_sent != last {
            (last, since) = (now_sent, Instant::now());
        }
        let free = metric(&producer.metrics_by_name(), "buffer-available-bytes");
        if free < 1100.0 && since.elapsed() >= Duration::from_millis(300) {
            break;
        }
        assert!(Instant::now() < give_up, "the sender never blocked on a full buffer ({last} sent, {free} bytes free)");
    }
    let before = metric(&producer.metrics_by_name(), "bufferpool-wait-time-ns-total");
    let blocked = Duration::from_millis(500);
    std::thread::sleep(blocked);
    // A zero timeout: what is buffered fails now (the quota would hold it back for long).
    let _ = producer.close(Duration::ZERO);
    let err = sender.join().expect("the sending thread");
    assert_eq!(err, kprod_std::Error::Closed, "the blocked send ends with the close");
    let after = metric(&producer.metrics_by_name(), "bufferpool-wait-time-ns-total");
    assert!(
        after - before >= blocked.as_nanos() as f64,
        "a send blocked for over {blocked:?} until the close added {} ns to bufferpool-wait-time-ns-total",
        after - before
    );
}

/// The per-topic and per-node metrics and the statistics callback, against what the test sent
/// to two topics (no compression, so the bytes are bounded by the records' sizes).
#[test]
fn topic_node_metrics_and_statistics_match_what_was_sent() {
    use alloc::sync::Arc;
    use std::sync::Mutex;

    let broker = Broker::shared();
    let (a, b) = (unique_topic("std-metrics-a"), unique_topic("std-metrics-b"));
    broker.create_topic(&a, 2, 1);
    broker.create_topic(&b, 1, 1);
    let snapshots: Arc<Mutex<Vec<String>>> = Arc::default();
    let s = Arc::clone(&snapshots);
    let producer = Producer::new(
        config(broker)
            .statistics_callback(move |json| s.lock().unwrap().push(json.to_owned()))
            .set("statistics.interval.ms", "100")
            .and_then(|c| c.set("metrics.sample.window.ms", "60000"))
            .expect("config"),
    )
    .expect("producer");
    let (na, nb) = (1200usize, 300usize);
    let value = |i: usize| format!("{i:06}{}", "x".repeat(94)).into_bytes();
    let mut handles = Vec::new();
    for (topic, n) in [(&a, na), (&b, nb)] {
        for i in 0..n {
            handles.push(producer.send(&kprod_std::Record::new(topic).value(&value(i)[..])).expect("send"));
        }
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    for h in &handles {
        h.wait(Duration::from_secs(60)).expect("delivered");
    }
    // Longer than the statistics interval: the callback ran after the flush too.
    std::thread::sleep(Duration::from_millis(400));
    let topics = producer.topic_metrics();
    let nodes = producer.node_metrics();
    let global = producer.metrics_by_name();
    eprintln!("{topics:?}\n{nodes:?}");
    let of = |t: &str| &topics.iter().find(|(n, _)| n == t).unwrap_or_else(|| panic!("no metrics for {t}")).1;
    for (topic, n) in [(&a, na), (&b, nb)] {
        let m = of(topic);
        assert_eq!(metric(m, "record-send-total"), n as f64, "{topic}");
        assert_eq!(metric(m, "record-error-total"), 0.0);
        assert!(metric(m, "record-send-rate") > 0.0);
        // Uncompressed: each record's 100-byte value plus 7 to 12 bytes of record framing,
        // plus 61 bytes of header per batch (at least one, at most one per record).
        let bytes = metric(m, "byte-total");
        let (low, high) = ((n * 107 + 61) as f64, (n * (112 + 61)) as f64);
        assert!((low..=high).contains(&bytes), "{topic}: byte-total {bytes} not in {low}..{high}");
        assert!(metric(m, "byte-rate") > 0.0);
        let ratio = metric(m, "compression-rate");
        assert!((ratio - 1.0).abs() < 1e-9, "no compression: {ratio}");
    }
    assert_eq!(topics.len(), 2, "only the topics produced to");
    // Per node: the Produce requests add up to the producer's, each with a latency.
    let requests: f64 = nodes.iter().map(|(_, m)| metric(m, "request-total")).sum();
    assert_eq!(requests, metric(&global, "request-total"));
    let outgoing: f64 = nodes.iter().map(|(_, m)| metric(m, "outgoing-byte-total")).sum();
    assert!(outgoing > (na + nb) as f64 * 100.0, "outgoing {outgoing}");
    for (node, m) in nodes.iter().filter(|(_, m)| metric(m, "request-total") > 0.0) {
        assert!(*node >= 0, "Produce goes to brokers by their node id");
        let latency = metric(m, "request-latency-avg");
        assert!(latency > 0.0 && latency <= metric(m, "request-latency-max"), "node {node}: {latency}");
        assert!(metric(m, "request-rate") > 0.0);
    }
    assert!(metric(&global, "connection-count") >= 1.0);
    // The statistics callback: JSON snapshots, the last one (after the flush) with the totals.
    let last = snapshots.lock().unwrap().last().cloned().expect("the statistics callback ran");
    let doc: serde_json::Value = serde_json::from_str(&last).expect("valid JSON");
    assert_eq!(doc["type"], "producer");
    assert_eq!(doc["producer-metrics"]["record-send-total"].as_f64(), Some((na + nb) as f64));
    assert_eq!(doc["producer-topic-metrics"][a.as_str()]["record-send-total"].as_f64(), Some(na as f64));
    assert_eq!(doc["producer-topic-metrics"][b.as_str()]["record-send-total"].as_f64(), Some(nb as f64));
    assert!(doc["producer-node-metrics"].as_object().is_some_and(|n| !n.is_empty()));
    producer.close(Duration::from_secs(30)).expect("close");
    assert_eq!(broker.read_back(&a, na, Duration::from_secs(60)).len(), na);
    assert_eq!(broker.read_back(&b, nb, Duration::from_secs(60)).len(), nb);
}
