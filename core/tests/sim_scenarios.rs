//! Targeted scenarios for the producer engine against the simulated cluster of `sim/`: each one
//! sets up one situation by hand (a leader move mid-stream, a lost Produce response, a broker
//! outage, a KIP-951 hint that names the same broker, acks=0, an unknown topic) and checks the
//! general properties of `sim/check.rs` plus what the situation must lead to.
//!
//! `KPROD_SIM_TRACE=1 cargo test -p kprod-core --test sim_scenarios <name> -- --nocapture`
//! prints a trace of every step.
#![cfg(feature = "alloc")]

extern crate alloc;

mod sim;
// What the producer sends: batches, compression, request shapes.
#[path = "sim_scenarios/batching.rs"]
mod batching;

use core::time::Duration;

use kprod_core::config::Acks;
use kprod_core::producer::{DeliveryError, SendError};
use kprod_core::protocol::{ApiKey, ErrorCode};
use kprod_core::time::Instant;

use sim::broker::Injected;
use sim::cluster::Versions;
use sim::net::ClusterEvent;
use sim::rng::SimRng;
use sim::scenario::value_for;
use sim::{run_sim, Fate, Planned, Scenario, Sim};

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn at(n: u64) -> Instant {
    Instant::from_millis(n)
}

fn sim(sc: Scenario) -> Sim {
    sim::traced(sc)
}

/// Runs and asserts the general properties.
fn run_clean(sim: &mut Sim) {
    let v = run_sim(sim);
    assert!(v.is_empty(), "seed {} violates:\n{}", sim.sc.seed, v.join("\n"));
}

fn delivered(sim: &Sim) -> u32 {
    sim.out.completions.values().flat_map(|c| &c.parts).filter(|p| p.2.is_ok()).map(|p| p.1).sum()
}

fn failed(sim: &Sim) -> Vec<DeliveryError> {
    sim.out.completions.values().flat_map(|c| &c.parts).filter_map(|p| p.2.err()).collect()
}

/// `n` records to explicit partitions round robin over `partitions`, one every `every` ms from
/// `start` ms.
fn records(n: usize, partitions: u32, start: u64, every: u64) -> Vec<Planned> {
    (0..n)
        .map(|i| Planned {
            topic: "t0".into(),
            partition: Some(i as u32 % partitions),
            key: None,
            value: value_for(i, 20),
            at: at(start + i as u64 * every),
        })
        .collect()
}

/// `rounds` rounds of one record to each of `partitions` partitions, a round every `every` ms.
fn rounds(rounds: usize, partitions: usize, every: u64) -> Vec<Planned> {
    let mut planned = records(rounds * partitions, partitions as u32, 0, 0);
    for (i, p) in planned.iter_mut().enumerate() {
        p.at = at((i / partitions) as u64 * every);
    }
    planned
}

#[test]
fn fault_free_single_broker_delivers_everything() {
    for seed in 0..20 {
        let mut sim = sim(Scenario::simple(seed, 3, 50));
        run_clean(&mut sim);
        assert_eq!(delivered(&sim), 50);
    }
}

#[test]
fn leader_moves_mid_stream_lose_and_duplicate_nothing() {
    for versions in [Versions::KAFKA_4_1, Versions::NO_HINTS] {
        let mut sc = Scenario::simple(1, 3, 0);
        sc.brokers = 3;
        sc.versions = versions;
        sc.records = records(60, 3, 0, 5);
        sc.faults.events = vec![
            (at(60), ClusterEvent::LeaderMove { topic: 0, partition: 0, to: 1 }),
            (at(110), ClusterEvent::LeaderMove { topic: 0, partition: 1, to: 2 }),
            (at(150), ClusterEvent::LeaderMove { topic: 0, partition: 0, to: 2 }),
        ];
        let mut sim = sim(sc);
        run_clean(&mut sim);
        assert_eq!(delivered(&sim), 60, "{versions:?}");
        assert!(sim.cluster.stats.not_leader > 0, "the moves were noticed through NOT_LEADER_OR_FOLLOWER");
    }
}

#[test]
fn lost_produce_responses_are_retried_and_deduplicated() {
    for duplicate_error in [false, true] {
        let mut sc = Scenario::simple(2, 2, 0);
        sc.duplicate_error = duplicate_error;
        sc.records = records(20, 2, 0, 3);
        let mut sim = sim(sc);
        // The first three Produce responses are lost: the broker wrote the batches, the
        // connection broke before the answers arrived.
        sim.response_hook = Some(Box::new(|ctx| (ctx.api == ApiKey::Produce && ctx.nth < 3).then_some(Fate::Lose)));
        run_clean(&mut sim);
        assert_eq!(delivered(&sim), 20);
        assert!(sim.cluster.stats.duplicates > 0, "a retry of a written batch was answered as a duplicate");
    }
}

#[test]
fn broker_outage_shorter_than_delivery_timeout_delays_delivery() {
    let mut sc = Scenario::simple(3, 2, 0);
    sc.records = records(20, 2, 0, 10);
    sc.faults.events = vec![(at(50), ClusterEvent::BrokerDown(0)), (at(1500), ClusterEvent::BrokerUp(0))];
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 20, "delivered once the broker is back");
}

#[test]
fn broker_outage_longer_than_delivery_timeout_fails_then_recovers() {
    let mut sc = Scenario::simple(4, 2, 0);
    // 10 records before and during the outage, 10 after the broker is back.
    let mut planned = records(10, 2, 0, 20);
    planned.extend(records(20, 2, 8000, 10).into_iter().skip(10));
    sc.records = planned;
    sc.config.max_block = ms(500);
    sc.expect.all_delivered = false;
    sc.faults.events = vec![(at(100), ClusterEvent::BrokerDown(0)), (at(7000), ClusterEvent::BrokerUp(0))];
    let mut sim = sim(sc);
    run_clean(&mut sim);
    let reasons = failed(&sim);
    assert!(reasons.iter().all(|r| *r == DeliveryError::DeliveryTimeout), "{reasons:?}");
    let after: Vec<_> = sim.out.accepted.iter().filter(|a| a.planned >= 10).collect();
    assert_eq!(after.len(), 10, "records after the outage are accepted");
    assert!(delivered(&sim) >= 10, "records after the outage are delivered");
}

#[test]
fn kip951_hint_naming_the_same_broker_does_not_loop() {
    let mut sc = Scenario::simple(5, 1, 0);
    sc.records = records(5, 1, 0, 1);
    sc.config.retry_backoff = ms(100);
    sc.config.retry_backoff_max = ms(1000);
    let mut sim = sim(sc);
    // For two seconds broker 0 leads partition 0 but answers NOT_LEADER_OR_FOLLOWER with a hint
    // naming itself at the current epoch (franz-go#1054).
    sim.produce_hook = Some(Box::new(|ctx| (ctx.now < at(2000)).then_some(Injected::NotLeader(Some(ctx.leader)))));
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 5, "delivered once the broker accepts");
    let produce = sim.answered.get(&ApiKey::Produce.code()).copied().unwrap_or(0);
    // Backoff from 100 ms up to 1 s over 2 s allows a handful of attempts, not hundreds.
    assert!(produce <= 40, "{produce} Produce requests: the hint made the engine loop");
}

#[test]
fn acks_0_delivers_without_offsets() {
    let mut sc = Scenario::simple(6, 3, 30);
    sc.config.acks = Acks::None;
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 30);
    assert!(sim.out.completions.values().all(|c| c.result == Ok(-1)));
    let written: usize = sim.cluster.topics[0].partitions.iter().map(|p| p.log.len()).sum();
    assert_eq!(written, 30, "every record reached the log");
}

#[test]
fn unknown_topic_is_retriable_until_max_block() {
    let mut sc = Scenario::simple(7, 1, 0);
    sc.config.max_block = ms(1500);
    sc.records = (0..4)
        .map(|i| Planned {
            topic: if i == 0 { "missing" } else { "t0" }.into(),
            partition: None,
            key: None,
            value: value_for(i, 5),
            at: at(i as u64),
        })
        .collect();
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(sim.out.refused.len(), 1, "{:?}", sim.out.refused);
    let (i, e) = sim.out.refused[0];
    assert_eq!((i, e), (0, SendError::Topic(ErrorCode::UnknownTopicOrPartition)));
    let gave_up_at = sim.out.accepted.first().map(|a| a.at);
    assert!(gave_up_at >= Some(at(1500)), "the driver waited max.block.ms before giving up: {gave_up_at:?}");
    assert_eq!(delivered(&sim), 3, "later records to an existing topic still go through");
}

/// The duplicate of librdkafka#4953: a batch that was written but whose answer never arrived
/// must not be re-stamped with a new producer id / epoch and sent again.
///
/// Partition 0's first batch is written but every answer before 2.1 s is lost; partition 1's
/// batch (sent at 2 s) is written, its answer lost too. The broker is down from 2.1 s to
/// 3.1 s. Partition 0's batch expires (delivery timeout 3 s) after having been sent, which asks
/// for an epoch bump; partition 1's batch is still pending when the broker returns.
#[test]
fn epoch_bump_does_not_resend_a_batch_that_may_have_been_written() {
    let mut sc = Scenario::simple(8, 2, 0);
    sc.config.delivery_timeout = ms(3000);
    sc.config.request_timeout = ms(1000);
    sc.config.linger = ms(0);
    sc.records = vec![
        Planned { topic: "t0".into(), partition: Some(0), key: None, value: value_for(0, 5), at: at(0) },
        Planned { topic: "t0".into(), partition: Some(1), key: None, value: value_for(1, 5), at: at(2000) },
    ];
    sc.expect.all_delivered = false;
    sc.faults.events = vec![(at(2100), ClusterEvent::BrokerDown(0)), (at(3100), ClusterEvent::BrokerUp(0))];
    let mut sim = sim(sc);
    sim.response_hook = Some(Box::new(|ctx| (ctx.api == ApiKey::Produce && ctx.now < at(2100)).then_some(Fate::Lose)));
    run_clean(&mut sim);
}

#[test]
fn topic_growth_moves_queues_and_rehashes_keys() {
    let mut sc = Scenario::simple(9, 2, 0);
    sc.brokers = 2;
    // t1's partitions follow t0's in the engine's slots, so t0 must move to grow.
    sc.topics = vec![("t0", 2), ("t1", 2)];
    sc.config.metadata_max_age = ms(100);
    sc.config.linger = ms(20);
    sc.records = (0..80)
        .map(|i| Planned {
            topic: if i % 4 == 3 { "t1" } else { "t0" }.into(),
            partition: None,
            key: (i % 2 == 0).then(|| format!("key-{}", i % 9).into_bytes()),
            value: value_for(i, 30),
            at: at(i as u64 * 5),
        })
        .collect();
    sc.faults.events = vec![(at(120), ClusterEvent::GrowTopic { topic: 0, partitions: 5 })];
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 80);
    let grown: usize = sim.cluster.topics[0].partitions[2..].iter().map(|p| p.log.len()).sum();
    assert!(grown > 0, "records reached the new partitions");
}

#[test]
fn close_stops_all_work_and_its_deadline_does_not_spin_the_timer() {
    let mut sc = Scenario::simple(10, 2, 10);
    sc.config.metadata_max_age = ms(300);
    sc.close_timeout = ms(2000);
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 10);
    let metadata = sim.answered.get(&ApiKey::Metadata.code()).copied().unwrap_or(0);
    assert!(metadata <= 3, "{metadata} Metadata requests: refreshes went on after close");
}

/// The simulated broker's own idempotence rules, as Kafka 4.x applies them.
#[test]
fn sim_broker_follows_kafka_idempotence_rules() {
    use sim::cluster::{BatchIn, Cluster};
    let mut c = Cluster::new(1, &[("t0", 1)]);
    let batch = |pid: i64, epoch: i16, seq: i32, n: usize| BatchIn {
        producer: (pid, epoch, seq),
        records: (0..n).map(|i| (None, Some(value_for(i, 0)))).collect(),
        compression: kprod_core::compression::Compression::None,
        transactional: false,
        wire_len: 0,
    };
    let code = |c: &mut Cluster, b: &BatchIn| {
        let a = c.append(0, 0, b);
        (a.code, a.base_offset, a.wrote)
    };
    // A producer id the partition has no state for may start at any sequence (KIP-360).
    assert_eq!(code(&mut c, &batch(7, 0, 3, 2)), (ErrorCode::None, 0, true));
    assert!(c.topics[0].partitions[0].blind_gap);
    assert_eq!(code(&mut c, &batch(7, 0, 5, 1)), (ErrorCode::None, 2, true));
    // The same batch again: the original offset, nothing written.
    assert_eq!(code(&mut c, &batch(7, 0, 3, 2)), (ErrorCode::None, 0, false));
    // A gap, and a batch overlapping but not equal to a cached one.
    assert_eq!(code(&mut c, &batch(7, 0, 7, 1)).0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(code(&mut c, &batch(7, 0, 4, 2)).0, ErrorCode::OutOfOrderSequenceNumber);
    // A new epoch must start at 0; then the old epoch is fenced.
    assert_eq!(code(&mut c, &batch(7, 1, 6, 1)).0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(code(&mut c, &batch(7, 1, 0, 1)), (ErrorCode::None, 3, true));
    assert_eq!(code(&mut c, &batch(7, 0, 6, 1)).0, ErrorCode::InvalidProducerEpoch);
    // Only the last five batches are remembered.
    for seq in 1..=5 {
        assert_eq!(code(&mut c, &batch(7, 1, seq, 1)).0, ErrorCode::None);
    }
    assert_eq!(code(&mut c, &batch(7, 1, 0, 1)).0, ErrorCode::OutOfOrderSequenceNumber);
    assert_eq!(code(&mut c, &batch(7, 1, 1, 1)), (ErrorCode::None, 4, false));
    c.duplicate_error = true;
    assert_eq!(code(&mut c, &batch(7, 1, 5, 1)), (ErrorCode::DuplicateSequenceNumber, 8, false));
    // Sequences wrap after i32::MAX.
    assert_eq!(code(&mut c, &batch(9, 0, i32::MAX, 1)).0, ErrorCode::None);
    assert_eq!(code(&mut c, &batch(9, 0, 0, 1)).0, ErrorCode::None);
}

/// Kafka remembers only the last 5 batches per producer id and partition, so a batch whose
/// answer is still outstanding must never have more than 4 newer batches sent after it: once 5
/// newer ones were written, a retry of it can no longer be recognised as a duplicate.
///
/// Partition 0's first batch is written by broker 0, whose answer is held back past
/// `request.timeout.ms`; meanwhile leadership moves to broker 1, the engine learns it from a
/// periodic refresh, and broker 1 takes (and acknowledges) the next batches. When the first batch
/// is retried, it must still be answered as a duplicate (found by seed 27555).
#[test]
fn an_unanswered_batch_keeps_its_retry_within_the_dedup_window() {
    let mut sc = Scenario::simple(11, 1, 0);
    sc.brokers = 2;
    sc.config.linger = ms(0);
    sc.config.request_timeout = ms(2000);
    sc.config.delivery_timeout = ms(10_000);
    sc.config.metadata_max_age = ms(100);
    sc.records = records(20, 1, 0, 10);
    for r in &mut sc.records[1..] {
        r.at = at(r.at.as_millis() + 300);
    }
    sc.faults.events = vec![(at(5), ClusterEvent::LeaderMove { topic: 0, partition: 0, to: 1 })];
    let mut sim = sim(sc);
    sim.response_hook =
        Some(Box::new(|ctx| (ctx.api == ApiKey::Produce && ctx.nth == 0).then_some(Fate::Delay(2_500_000))));
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 20);
}

/// More than 64 batches in flight on one connection when it breaks: every one is put back for a
/// retry and delivered (the requeue works in rounds of a fixed buffer; a single round once left
/// the rest marked in flight on a dead connection).
#[test]
fn a_lost_connection_requeues_every_batch_in_flight() {
    let mut sc = Scenario::simple(21, 100, 0);
    sc.caps = kprod_core::producer::Capacities { brokers: 8, topics: 4, partitions: 128, connections: 8, batches: 256 };
    sc.records = records(100, 100, 0, 0);
    let mut sim = sim(sc);
    sim.response_hook = Some(Box::new(|ctx| (ctx.api == ApiKey::Produce && ctx.nth == 0).then_some(Fate::Lose)));
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 100);
    assert!(sim.cluster.stats.duplicates >= 64, "the lost request carried more than 64 batches");
}

/// KIP-794 on a cluster where broker 1 answers every Produce 100 ms late: the sticky
/// partitioner sends null-key records to the partitions of the fast broker more often with
/// `partitioner.adaptive.partitioning.enable` (the default) than without, and skips the slow
/// broker's partitions almost entirely with a `partitioner.availability.timeout.ms` below that
/// delay. `partitioner.ignore.keys` places keyed records the same way.
#[test]
fn adaptive_partitioning_favours_the_fast_broker() {
    // The share of records written to broker 1's partitions (1 and 3 of 4).
    let slow_share = |settings: &[(&str, &'static str)], keyed: bool| {
        let mut sc = Scenario::simple(21, 4, 0);
        sc.brokers = 2;
        sc.bootstrap = vec![0, 1];
        sc.config.batch_size = 1024;
        sc.config.request_timeout = ms(5000);
        sc.config.delivery_timeout = ms(30_000);
        for (k, v) in settings {
            sc.config.set_property(k, v).unwrap();
        }
        sc.records = (0..3000)
            .map(|i| Planned {
                topic: "t0".into(),
                partition: None,
                key: keyed.then(|| b"one-key".to_vec()),
                value: value_for(i, 200),
                at: at(i as u64),
            })
            .collect();
        let mut sim = sim(sc);
        sim.response_hook =
            Some(Box::new(|ctx| (ctx.api == ApiKey::Produce && ctx.node == 1).then_some(Fate::Delay(100_000))));
        run_clean(&mut sim);
        assert_eq!(delivered(&sim), 3000);
        let parts = &sim.cluster.topics[0].partitions;
        let slow: usize = [1, 3].iter().map(|&p| parts[p].log.len()).sum();
        slow as f64 / 3000.0
    };
    let uniform = slow_share(&[("partitioner.adaptive.partitioning.enable", "false")], false);
    let adaptive = slow_share(&[], false);
    let available = slow_share(&[("partitioner.availability.timeout.ms", "50")], false);
    assert!((0.4..0.6).contains(&uniform), "uniform sticky: {uniform:.2} of records on the slow broker");
    assert!(adaptive < uniform - 0.1, "adaptive {adaptive:.2} vs uniform {uniform:.2}");
    assert!(available < adaptive, "availability timeout {available:.2} vs adaptive {adaptive:.2}");
    // One key for every record: hashed, all go to one partition; with ignore.keys they spread.
    let hashed = slow_share(&[], true);
    assert!(hashed == 0.0 || hashed == 1.0, "{hashed}");
    let ignored = slow_share(&[("partitioner.ignore.keys", "true")], true);
    eprintln!("slow broker's share: uniform {uniform:.3}, adaptive {adaptive:.3}, availability timeout {available:.3}, ignore.keys {ignored:.3}");
    assert!(ignored > 0.0 && ignored < 0.5, "ignore.keys: {ignored:.2}");
}

/// `metadata.max.idle.ms`: a topic not produced to for that long leaves the Metadata requests
/// (the other keeps being refreshed), and a record sent to it later is delivered.
#[test]
fn idle_topics_leave_metadata_requests_and_come_back() {
    let mut sc = Scenario::simple(5, 2, 0);
    sc.topics = vec![("t0", 2), ("t1", 2)];
    sc.config.metadata_max_age = ms(1000);
    sc.config.set_property("metadata.max.idle.ms", "5000").unwrap();
    let record = |i: usize, topic: &str, at_ms: u64| Planned {
        topic: topic.into(),
        partition: None,
        key: None,
        value: value_for(i, 10),
        at: at(at_ms),
    };
    // t1 at 0 s and again at 20 s; t0 every 500 ms throughout.
    let mut records = vec![record(0, "t1", 0)];
    records.extend((1..=50).map(|i| record(i, "t0", i as u64 * 500)));
    records.push(record(51, "t1", 20_000));
    sc.records = records;
    sc.close_timeout = ms(5000);
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 52);
    let names = |r: &Vec<String>| r.iter().map(String::as_str).collect::<Vec<_>>().join(",");
    let requests: Vec<String> = sim.cluster.metadata_requests.iter().map(names).collect();
    // t0, new while t1 is known, is asked about alone (a partial refresh, KIP-526); the full
    // refreshes after it name both until t1 is idle.
    assert_eq!(requests.get(1).map(String::as_str), Some("t0"), "no partial refresh for t0: {requests:?}");
    let both = requests.iter().position(|r| r == "t1,t0").expect("a full refresh names both");
    let first_without = requests[both..].iter().position(|r| r == "t0").map(|i| both + i);
    let first_without = first_without.unwrap_or_else(|| panic!("t1 never left the requests: {requests:?}"));
    assert!(first_without >= 3, "t1 left before it was idle for 5 s: {requests:?}");
    assert!(requests[first_without..].iter().any(|r| r.contains("t1")), "t1 came back: {requests:?}");
}

/// KIP-219: a broker that answers every Produce with `throttle_time_ms` = 200 gets no Produce
/// request in the 200 ms after each answer, and everything is still delivered.
#[test]
fn broker_throttling_is_honoured() {
    let produce_requests = |throttle_ms: i32| {
        let mut sc = Scenario::simple(3, 1, 0);
        sc.records = (0..400)
            .map(|i| Planned {
                topic: "t0".into(),
                partition: Some(0),
                key: None,
                value: value_for(i, 50),
                at: at(i as u64 * 5),
            })
            .collect();
        let mut sim = sim(sc);
        sim.cluster.throttle_ms = throttle_ms;
        run_clean(&mut sim);
        assert_eq!(delivered(&sim), 400);
        (sim.answered.get(&ApiKey::Produce.code()).copied().unwrap_or(0), sim.now)
    };
    let (free, _) = produce_requests(0);
    let (throttled, end) = produce_requests(200);
    // 2 s of records: at most one request per 200 ms throttle window (plus the first).
    let windows = end.as_millis() / 200 + 1;
    assert!(throttled <= windows, "{throttled} Produce requests in {} ms", end.as_millis());
    assert!(free > 2 * throttled, "unthrottled: {free}, throttled: {throttled}");
}

/// `n` records of `len` bytes that do not compress to partition 0, all at once.
fn big_records(n: usize, len: usize) -> Vec<Planned> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    let mut noise = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    };
    (0..n)
        .map(|i| {
            let mut value = value_for(i, 0);
            value.extend((0..len).map(|_| noise()));
            Planned { topic: "t0".into(), partition: Some(0), key: None, value, at: at(1) }
        })
        .collect()
}

#[test]
fn batches_refused_as_too_large_are_split_and_delivered_in_order() {
    // Every codec, with and without idempotence, with more batches in flight behind the
    // refused one: all records arrive once, in order (the checks), and the batches were split.
    // (Every codec this build has: the no-std test build lacks snappy and zstd.)
    for (seed, compression) in kprod_core::compression::Compression::ALL.into_iter().enumerate() {
        if !compression.can_compress() {
            continue;
        }
        for idempotent in [true, false] {
            let mut sc = Scenario::simple(seed as u64, 1, 0);
            sc.config.compression = compression;
            sc.config.batch_size = 16 * 1024;
            sc.config.buffer_memory = 256 * 1024;
            sc.config.linger = ms(20);
            sc.config.enable_idempotence = Some(idempotent);
            if !idempotent {
                sc.config.max_in_flight = 1;
            }
            sc.records = big_records(300, 500);
            sc.max_message_bytes = Some(2_000);
            let mut sim = sim(sc);
            run_clean(&mut sim);
            assert_eq!(delivered(&sim), 300, "{compression:?} idempotent {idempotent}");
            assert!(sim.cluster.stats.too_large > 0, "{compression:?}: the broker refused nothing");
            assert!(sim.producer.metrics().batches_split > 0);
            // Completions in parts: some part of a batch starts at a non-zero record index, and
            // its offsets count from there (checked per record by the general checks).
            assert!(sim.out.completions.values().any(|c| c.parts.len() > 1 && c.parts[1].0 > 0));
        }
    }
}

#[test]
fn a_single_record_too_large_for_the_topic_fails_naming_max_message_bytes() {
    let mut sc = Scenario::simple(3, 1, 0);
    sc.records = big_records(3, 500);
    sc.records[1].value.extend([7; 5_000]);
    sc.max_message_bytes = Some(2_000);
    sc.expect.all_delivered = false;
    let mut sim = sim(sc);
    run_clean(&mut sim);
    assert_eq!(delivered(&sim), 2);
    let f = failed(&sim);
    assert_eq!(f, vec![DeliveryError::Broker(ErrorCode::MessageTooLarge)]);
    let text = f[0].to_string();
    assert!(text.contains("max.message.bytes"), "{text}");
}

/// Seeds of the random property test where a batch split again and again (a topic's
/// `max.message.bytes` far below `batch.size`) went on sending parts past its delivery timeout:
/// the parts still to go must fail with it, within delivery.timeout + request.timeout.
#[test]
fn split_parts_end_with_the_batch_delivery_timeout() {
    for seed in [13000, 59673] {
        let (s, v) = sim::run_scenario(Scenario::random(seed), std::env::var_os("KPROD_SIM_TRACE").is_some());
        assert!(s.sc.max_message_bytes.is_some(), "seed {seed} limits the batch size");
        assert!(v.is_empty(), "seed {seed} violates:\n{}", v.join("\n"));
    }
}
