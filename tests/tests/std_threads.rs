//! The blocking producer (`kprod-std`) shared by 8 threads sending at once: every record is
//! delivered exactly once, in per-thread order within each partition, and read back whole.
//!
//! `KPROD_STD_RECORDS_PER_THREAD` sets the records per thread (default 100,000: 800,000 small
//! records in all).

extern crate alloc;

mod std_util;

use alloc::collections::BTreeMap;
use core::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use alloc::sync::Arc;
use core::time::Duration;
use std::time::Instant;

use kprod_std::{Compression, Producer, Record};
use kprod_tests::{unique_topic, Broker};
use std_util::config;

const THREADS: usize = 8;
const PARTITIONS: u32 = 6;

fn per_thread() -> usize {
    std::env::var("KPROD_STD_RECORDS_PER_THREAD").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000)
}

#[test]
fn eight_threads_share_one_producer() {
    let broker = Broker::shared();
    let topic = unique_topic("std-threads");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let n = per_thread();
    let total = THREADS * n;
    let producer = Producer::new(config(broker).compression(Compression::Lz4)).expect("producer");
    // One counter per record: the callback of record (t, i) bumps slot t * n + i.
    let results: Arc<Vec<AtomicU8>> = Arc::new((0..total).map(|_| AtomicU8::new(0)).collect());
    let failures = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let (producer, results, failures, topic) = (&producer, Arc::clone(&results), Arc::clone(&failures), &topic);
            s.spawn(move || {
                let mut key = String::new();
                let mut value = String::new();
                for i in 0..n {
                    key.clear();
                    value.clear();
                    use core::fmt::Write;
                    let _ = write!(key, "t{t}-k{}", i % 64);
                    let _ = write!(value, "t{t}-{i}");
                    let record = Record::new(topic).key(key.as_bytes()).value(value.as_bytes());
                    let (results, failures) = (Arc::clone(&results), Arc::clone(&failures));
                    producer
                        .send_with_callback(&record, move |r| {
                            if r.is_err() {
                                failures.fetch_add(1, Ordering::Relaxed);
                            }
                            results[t * n + i].fetch_add(1, Ordering::Relaxed);
                        })
                        .unwrap_or_else(|e| panic!("thread {t} record {i}: {e}"));
                }
            });
        }
    });
    let sent_in = started.elapsed();
    producer.flush(Duration::from_secs(120)).expect("flush");
    let flushed_in = started.elapsed();
    let metrics = producer.metrics();
    producer.close(Duration::from_secs(30)).expect("close");
    eprintln!(
        "{total} records from {THREADS} threads: sent in {sent_in:?}, flushed in {flushed_in:?} ({:.0} records/s); \
         {} batches, {} requests, avg batch {} B",
        total as f64 / flushed_in.as_secs_f64(),
        metrics.batches_sent,
        metrics.requests,
        metrics.batch_size_avg()
    );
    assert_eq!(failures.load(Ordering::Relaxed), 0, "no delivery failed");
    let not_once: Vec<usize> = (0..total).filter(|&k| results[k].load(Ordering::Relaxed) != 1).take(10).collect();
    assert!(not_once.is_empty(), "records without exactly one completion: {not_once:?}");
    assert_eq!(metrics.records_delivered as usize, total);

    let read = broker.read_back(&topic, total, Duration::from_secs(300));
    assert_eq!(read.len(), total, "every record once: nothing lost, nothing duplicated");
    // Per thread and key, values come back in send order (one partition per key).
    let mut last: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    let mut seen = vec![false; total];
    for r in &read {
        let value = String::from_utf8(r.value.clone().expect("value")).expect("utf-8");
        let (t, i) = value[1..].split_once('-').expect("t<thread>-<i>");
        let (t, i): (usize, usize) = (t.parse().expect("thread"), i.parse().expect("index"));
        assert!(!seen[t * n + i], "duplicate {value}");
        seen[t * n + i] = true;
        let key = r.key.clone().expect("key");
        assert_eq!(key, format!("t{t}-k{}", i % 64).into_bytes());
        assert_eq!(r.partition as u32, kprod_core::partitioner::key_partition(&key, PARTITIONS));
        if let Some(prev) = last.insert(key, i) {
            assert!(prev < i, "{value} came back after record {prev} of the same key");
        }
    }
}
