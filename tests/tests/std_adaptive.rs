//! Adaptive partitioning (KIP-794) on the 3-node cluster: unkeyed records favour the
//! partitions whose broker drains faster, and `partitioner.availability.timeout.ms` skips the
//! partitions of a broker that holds its batches back. Skipped (with a message) only when
//! `KPROD_CLUSTER=skip`.
//!
//! One broker is made slow with a client quota (`producer_byte_rate`, KIP-13) for this test's
//! `client.id`: every broker enforces the quota on its own traffic, and node 1 leads 4 of the
//! topic's 6 partitions (nodes 2 and 3 one each), so node 1 drains each of its partitions at a
//! quarter of the rate the others get. A broker lets a client burst about
//! `(quota.window.num - 1) × quota.window.size` (10 s) worth of the quota before it throttles,
//! so the test sends about 24 such seconds in all: node 1 is throttled (KIP-219, the producer
//! then holds its batches back for `throttle_time_ms`) long before nodes 2 and 3. Batches of
//! about two records (`batch.size=2048`) let the partitioner choose often and give it queues
//! long enough to weigh.
//!
//! Four producers at once, each with its own `client.id` (so its own quota and burst):
//! - `uniform`, adaptive partitioning off (the control): every partition gets about a sixth;
//! - `adaptive`, Java's defaults and Java's batches (`batch.max.size` = `batch.size`, so a
//!   batch closes at `batch.size` as in Java): node 1's partitions get clearly fewer than the
//!   others;
//! - `available`, the same with `partitioner.availability.timeout.ms`: node 1's partitions
//!   are skipped while node 1 throttles, so they too get clearly fewer than the others. (How
//!   much fewer than with adaptive partitioning alone depends on when node 1 starts to throttle,
//!   which depends on the machine; the simulator checks that part deterministically.)
//! - `growing`, kprod's defaults: batches that reach `batch.size` keep taking records while
//!   they wait (`batch.max.size`), except those of a throttled broker's partitions. Node 1's
//!   partitions get fewer than the others, by a margin that varies more from run to run than
//!   with Java's batches (see the measurements at the checks).
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
use std_util::{kafka_tool, set_producer_quota};

/// The quota for each producer's `client.id`, per broker, in bytes per second.
const QUOTA: u64 = 64 * 1024;
/// Value size of each record.
const VALUE: usize = 1000;
/// Records per producer: about 24 seconds of `QUOTA`, so that node 1 (two thirds of the
/// records without adaptive partitioning) is throttled past its burst and nodes 2 and 3 (a
/// sixth each) are not.
const RECORDS: usize = 24 * QUOTA as usize / (VALUE + 70);
/// Node 1 leads partitions 0-3, node 2 partition 4, node 3 partition 5.
const ASSIGNMENT: &str = "1,1,1,1,2,3";
const SLOW: [u32; 4] = [0, 1, 2, 3];
const FAST: [u32; 2] = [4, 5];

/// Sends RECORDS unkeyed records with `client_id` (prefixing each value with it) and returns
/// the partition of each, from the delivery reports, in the order sent.
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
    let read = cluster.read_back(&topic, 4 * RECORDS, Duration::from_secs(60));
    assert_eq!(read.len(), 4 * RECORDS, "records read back");
    for (id, sent) in ids.iter().zip([&uniform, &adaptive, &available, &growing]) {
        let prefix = format!("{id}-");
        let stored: Vec<u32> = read
            .iter()
            .filter(|r| r.value.as_deref().is_some_and(|v| v.starts_with(prefix.as_bytes())))
            .map(|r| r.partition as u32)
            .collect();
        assert_eq!(count(&stored), count(sent), "{id}: records per partition, read back vs delivery reports");
        assert_eq!(sent.len(), RECORDS, "{id}: every record delivered");
    }

    // Records per slow partition / records per fast partition, over all records and over the
    // last third (sent once node 1 throttles).
    let ratio = |parts: &[u32]| {
        let c = count(parts);
        mean(&c, &SLOW) / mean(&c, &FAST)
    };
    let tail = |parts: &[u32]| ratio(&parts[RECORDS * 2 / 3..]);
    eprintln!(
        "slow/fast: uniform {:.2} (tail {:.2}), adaptive {:.2} (tail {:.2}), available {:.2} (tail {:.2}), growing {:.2} (tail {:.2})",
        ratio(&uniform),
        tail(&uniform),
        ratio(&adaptive),
        tail(&adaptive),
        ratio(&available),
        tail(&available),
        ratio(&growing),
        tail(&growing)
    );
    // Measured, uniform / adaptive / available over all records: 1.02 / 0.54-0.59 / 0.44-0.50 on a
    // helper's runs, 1.02 / 0.55 / 0.47 and 1.02 / 0.51 / 0.46 on CI runs. The last third is printed
    // but not checked: when node 1 starts to throttle depends on the machine's speed, and CI runs
    // gave adaptive tails from 0.17 to 0.78 and availability tails from 0.05 to 1.30. The whole run
    // separates the modes with a wide margin on every machine seen. That the availability timeout
    // skips a stuck leader's partitions almost entirely, and more than adaptive partitioning alone,
    // is checked deterministically in the simulator (core/tests/sim_scenarios.rs,
    // `adaptive_partitioning_favours_the_fast_broker`); here it must favour the fast brokers too.
    let uniform = ratio(&uniform);
    assert!((0.7..1.4).contains(&uniform), "without adaptive partitioning the split is even: ratio {uniform:.2}");
    let adaptive = ratio(&adaptive);
    assert!(adaptive < 0.75, "adaptive partitioning favours the faster brokers: ratio {adaptive:.2}");
    let available = ratio(&available);
    assert!(
        available < 0.75,
        "adaptive partitioning with partitioner.availability.timeout.ms favours the faster brokers: ratio {available:.2}"
    );
    // With batches that grow (kprod's default batch.max.size): 0.46-0.74 over nine runs of this
    // test. Growing batches drain a partition's backlog in fewer,
    // larger requests, so the queues the partitioner weighs are emptier between them. Before a
    // throttled broker's partitions were held to batch.size (`Accumulator::hold_growth`):
    // 0.74-1.11, CI failed at 1.11.
    let growing = ratio(&growing);
    assert!(
        growing < 0.9,
        "adaptive partitioning with batches that grow favours the faster brokers: ratio {growing:.2}"
    );
}
