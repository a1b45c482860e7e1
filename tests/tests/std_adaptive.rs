//! Adaptive partitioning (KIP-794) on the 3-node cluster: unkeyed records favour the
//! partitions whose broker drains faster, and `partitioner.availability.timeout.ms` skips the
//! partitions of a broker that holds its batches back. Skipped (with a message) only when
//! `KPROD_CLUSTER=skip`.
//!
//! One broker is made slow with a client quota (`producer_byte_rate`, KIP-13) for this test's
//! `client.id`: every broker enforces the quota on its own traffic, and node 1 leads 4 of the
//! topic's 6 partitions (nodes 2 and 3 one each). A broker lets a client burst about
//! `(quota.window.num - 1) × quota.window.size` (10 s) worth of the quota before it throttles.
//! So each producer first spends that burst on node 1 alone (records to partitions 0-3 named
//! explicitly), and node 1 throttles it (KIP-219: the producer holds its batches back for
//! `throttle_time_ms`) from the first record the partitioner places. The placed records are
//! about 12 s of the quota, so nodes 2 and 3, which share them, stay within their bursts and do
//! not throttle. (Before, the placed records spent the burst themselves; how many went out
//! before node 1 throttled depended on the machine's speed, and a CI run gave a ratio of 0.91
//! where nine others gave 0.46-0.74.) Batches of about two records (`batch.size=2048`) let the
//! partitioner choose often and give it queues long enough to weigh.
//!
//! Four producers at once, each with its own `client.id` (so its own quota and burst):
//! - `uniform`, adaptive partitioning off (the control): every partition gets about a sixth;
//! - `adaptive`, Java's defaults and Java's batches (`batch.max.size` = `batch.size`, so a
//!   batch closes at `batch.size` as in Java): node 1's partitions get clearly fewer than the
//!   others;
//! - `available`, the same with `partitioner.availability.timeout.ms`: node 1's partitions
//!   are skipped while node 1 throttles, so they too get clearly fewer than the others (that
//!   they get fewer than with adaptive partitioning alone, the simulator checks
//!   deterministically);
//! - `growing`, kprod's defaults: batches that reach `batch.size` keep taking records while
//!   they wait (`batch.max.size`), except those of a throttled broker's partitions. Node 1's
//!   partitions get clearly fewer than the others.
//!
//! Per-partition counts come from the delivery reports and are checked against an independent
//! read-back (kafka-python).

extern crate alloc;

mod std_util;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::time::Instant;

use kprod_std::Producer;
use kprod_tests::{unique_topic, Cluster};
use std_util::{kafka_tool, set_producer_quota, Sent};

/// The quota for each producer's `client.id`, per broker, in bytes per second.
const QUOTA: u64 = 64 * 1024;
/// Value size of each record.
const VALUE: usize = 1000;
/// Records each producer sends to node 1's partitions before the measured ones: about the 10 s
/// burst of `QUOTA` (a little more with the records' and the requests' overhead), so that node 1
/// throttles from the first measured record on.
const BURST: usize = 10 * QUOTA as usize / VALUE;
/// Records per producer that the partitioner places: about 12 seconds of `QUOTA`. Nodes 2 and 3
/// share them (about 6 s each when node 1 gets none), within their 10 s bursts, so only node 1
/// throttles.
const RECORDS: usize = 12 * QUOTA as usize / (VALUE + 70);
/// Node 1 leads partitions 0-3, node 2 partition 4, node 3 partition 5.
const ASSIGNMENT: &str = "1,1,1,1,2,3";
const SLOW: [u32; 4] = [0, 1, 2, 3];
const FAST: [u32; 2] = [4, 5];

/// Spends node 1's burst for `client_id` (BURST records to partitions 0-3, each value all
/// `b`), then sends RECORDS unkeyed records with `client_id` (prefixing each value with it)
/// and returns the partition of each, from the delivery reports, in the order sent.
fn run(cluster: &Cluster, topic: &str, client_id: &str, props: &[(&str, &str)]) -> Vec<u32> {
    let mut config = std_util::config(cluster)
        .client_id(client_id)
        // A small buffer: `send` blocks until batches drain, so the partitioner sees the queues
        // of the slow broker's partitions grow while it chooses.
        .buffer_memory(256 * 1024)
        .max_block(Duration::from_secs(60));
    // Batches of about two records: the partitioner chooses often (less sampling noise), and the
    // queues it weighs are long enough to tell a slow partition from a fast one.
    config = config.set("batch.size", "2048").expect("batch.size");
    for (k, v) in props {
        config = config.set(k, v).expect("config");
    }
    let producer = Producer::new(config).expect("producer");
    let burst: Vec<Sent> = (0..BURST)
        .map(|i| Sent {
            partition: Some(SLOW[i % SLOW.len()]),
            key: None,
            value: Some(vec![b'b'; VALUE]),
            headers: Vec::new(),
            timestamp: None,
        })
        .collect();
    let handles = std_util::send_all(&producer, topic, &burst);
    producer.flush(std_util::DELIVERY_WAIT).expect("flush the burst");
    std_util::wait_all(&handles);
    let started = Instant::now();
    let values: Vec<Vec<u8>> = (0..RECORDS)
        .map(|i| format!("{client_id}-{i:06}-{}", "x".repeat(VALUE)).into_bytes()[..VALUE].to_vec())
        .collect();
    let partitions: Vec<u32> = std_util::send_unkeyed(&producer, topic, &values).iter().map(|m| m.partition).collect();
    let counts = count(&partitions);
    let m = producer.metrics_by_name();
    let throttle = std_util::metric(&m, "produce-throttle-time-max");
    eprintln!("{client_id}: {counts:?} in {:?}, produce-throttle-time-max {throttle}", started.elapsed());
    producer.close(Duration::from_secs(30)).expect("close");
    partitions
}

/// Records per partition.
fn count(partitions: &[u32]) -> BTreeMap<u32, usize> {
    let mut counts = BTreeMap::new();
    for &p in partitions {
        *counts.entry(p).or_insert(0) += 1;
    }
    counts
}

/// The mean per partition of `parts` in `counts`.
fn mean(counts: &BTreeMap<u32, usize>, parts: &[u32]) -> f64 {
    parts.iter().map(|p| counts.get(p).copied().unwrap_or(0) as f64).sum::<f64>() / parts.len() as f64
}

#[test]
fn unkeyed_records_favour_the_faster_brokers() {
    let Some(cluster) = Cluster::shared() else {
        eprintln!("SKIPPED unkeyed_records_favour_the_faster_brokers: KPROD_CLUSTER=skip says no cluster is available");
        return;
    };
    let topic = unique_topic("std-adaptive");
    let ids = ["uniform", "adaptive", "available", "growing"].map(|run| format!("{topic}-{run}"));
    std::thread::scope(|s| {
        s.spawn(|| {
            kafka_tool(
                cluster,
                "org.apache.kafka.tools.TopicCommand",
                &["--create", "--topic", &topic, "--replica-assignment", ASSIGNMENT],
            )
        });
        for id in &ids {
            s.spawn(|| set_producer_quota(cluster, id, QUOTA));
        }
    });
    let leaders: Vec<i32> = cluster.describe_topic(&topic).partitions.iter().map(|p| p.leader).collect();
    assert_eq!(leaders, [1, 1, 1, 1, 2, 3], "leaders of partitions 0-5");

    // The four at once: each has its own quota, so they do not slow one another down.
    let java_batches = ("batch.max.size", "2048");
    let [uniform, adaptive, available, growing] = std::thread::scope(|s| {
        let uniform =
            s.spawn(|| run(cluster, &topic, &ids[0], &[("partitioner.adaptive.partitioning.enable", "false")]));
        let adaptive = s.spawn(|| run(cluster, &topic, &ids[1], &[java_batches]));
        let available =
            s.spawn(|| run(cluster, &topic, &ids[2], &[java_batches, ("partitioner.availability.timeout.ms", "100")]));
        let growing = s.spawn(|| run(cluster, &topic, &ids[3], &[]));
        [uniform, adaptive, available, growing].map(|h| h.join().expect("producer thread"))
    });

    // The independent read-back: every record, on the partition its report named.
    let read = cluster.read_back(&topic, 4 * (BURST + RECORDS), Duration::from_secs(60));
    assert_eq!(read.len(), 4 * (BURST + RECORDS), "records read back");
    // The partitions of the records read back whose values start with `prefix`, in the order read.
    let stored_partitions = |prefix: &[u8]| -> Vec<u32> {
        read.iter()
            .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(prefix)))
            .map(|r| r.partition as u32)
            .collect()
    };
    let burst = stored_partitions(b"b");
    assert_eq!(burst.len(), 4 * BURST, "burst records read back");
    assert!(burst.iter().all(|p| SLOW.contains(p)), "burst records on node 1's partitions only");
    for (id, sent) in ids.iter().zip([&uniform, &adaptive, &available, &growing]) {
        let stored = stored_partitions(format!("{id}-").as_bytes());
        assert_eq!(count(&stored), count(sent), "{id}: records per partition, read back vs delivery reports");
        assert_eq!(sent.len(), RECORDS, "{id}: every record delivered");
    }

    // Records per slow partition / records per fast partition.
    let ratio = |parts: &[u32]| {
        let c = count(parts);
        mean(&c, &SLOW) / mean(&c, &FAST)
    };
    let [uniform, adaptive, available, growing] = [&uniform, &adaptive, &available, &growing].map(|p| ratio(p));
    eprintln!(
        "slow/fast: uniform {uniform:.2}, adaptive {adaptive:.2}, available {available:.2}, growing {growing:.2}"
    );
    // Measured over nine runs with node 1 throttling from the first placed record (one of them
    // beside two busy loops on the 2-core machine; growing over eight, one ran without adaptive
    // partitioning to see the check fail), uniform / adaptive / available / growing: 1.16-1.20 /
    // 0.14-0.23 / 0.08-0.10 / 0.12-0.20. (When the placed records spent the burst themselves, the
    // whole run depended on when node 1 began to throttle: 1.02-1.04 / 0.27-0.59 / 0.21-0.50 /
    // 0.46-0.74 over the earlier runs and three on the day of this change, and one CI run gave
    // growing 0.91.) The bound leaves the modes at least a factor of two from what was measured.
    // That the availability timeout skips a stuck leader's partitions more than adaptive
    // partitioning alone is checked deterministically in the simulator
    // (core/tests/sim_scenarios.rs, `adaptive_partitioning_favours_the_fast_broker`); here each
    // must favour the fast brokers.
    assert!((0.7..1.4).contains(&uniform), "without adaptive partitioning the split is even: ratio {uniform:.2}");
    assert!(adaptive < 0.5, "adaptive partitioning favours the faster brokers: ratio {adaptive:.2}");
    assert!(
        available < 0.5,
        "adaptive partitioning with partitioner.availability.timeout.ms favours the faster brokers: ratio {available:.2}"
    );
    // With batches that grow (kprod's default batch.max.size), a throttled broker's partitions
    // are held to batch.size (`Accumulator::hold_growth`), and the partitioner counts queued bytes
    // in batch.size batches, so the queues it weighs look as they do with Java's batches.
    assert!(
        growing < 0.5,
        "adaptive partitioning with batches that grow favours the faster brokers: ratio {growing:.2}"
    );
}
