//! Completions of one partition come out in order: every way kprod-std reports a delivery
//! (a callback per record, the delivery listener, `DeliveryHandle`s, the tokio
//! `DeliveryFuture`s) reports the records of one partition in offset order, as the Java client
//! guarantees ("callbacks for records being sent to the same partition are guaranteed to
//! execute in order", `KafkaProducer.send`).
//!
//! Each test sends 300,000 small keyed records to a 3-partition topic with small batches
//! (`batch.size` 2 KiB, `linger.ms` 0 or 1) and 5 requests in flight, so many batches of each
//! partition are in flight at once and the answers to two of them often arrive in one read.
//! It records the completions in the order the producer reported them and checks, per
//! partition, that offsets only grow in that order; that every record completed exactly once,
//! in its key's partition; and that offsets grow in send order. Then the independent verifier
//! reads the topic back and every record sits at the offset the producer reported.
//!
//! `KPROD_ORDER_RECORDS` sets the records per test (default 300,000).

extern crate alloc;

mod std_util;

use alloc::sync::Arc;
use alloc::task::Wake;
use core::future::Future as _;
use core::pin::Pin;
use core::task::{Context, Waker};
use core::time::Duration;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use kprod_core::partitioner::key_partition;
use kprod_std::{
    Acks, AsyncProducer, DeliveryFuture, DeliveryHandle, Error, Producer, ProducerConfig, Record, RecordMetadata,
};
use kprod_tests::{unique_topic, Broker, ConsumedRecord};

const PARTITIONS: u32 = 3;
/// Distinct keys: spread over the partitions by the Java partitioner.
const KEYS: usize = 1000;
/// How many out-of-order completions a failure message lists.
const EXAMPLES: usize = 5;

fn records() -> usize {
    std::env::var("KPROD_ORDER_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(300_000)
}

/// The key of record `i`.
fn key(i: usize) -> String {
    format!("key-{}", i % KEYS)
}

/// The value of record `i`: its index, so the read-back ties each place to its record.
fn value(i: usize) -> String {
    i.to_string()
}

/// Small batches and 5 requests in flight: many batches of every partition in flight at once
/// (`batch.max.size` too, so batches do not grow while they wait).
fn order_config(broker: &Broker, acks: Acks, linger_ms: u64) -> ProducerConfig {
    ProducerConfig::new(broker.bootstrap())
        .expect("bootstrap")
        .acks(acks)
        .batch_size(2048)
        .batch_max_size(2048)
        .linger(Duration::from_millis(linger_ms))
        .max_in_flight(5)
}

/// A fresh 3-partition topic.
fn topic(broker: &Broker, prefix: &str) -> String {
    let topic = unique_topic(prefix);
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    topic
}

/// One delivery as the producer reported it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Completion {
    /// The record's send index.
    index: usize,
    partition: u32,
    offset: i64,
}

/// The completions in the order the producer reported them, and the failures.
#[derive(Debug, Default)]
struct Log {
    done: Vec<Completion>,
    failed: Vec<(usize, String)>,
    /// Completions whose topic was not the test's.
    wrong_topic: usize,
}

type SharedLog = Arc<Mutex<Log>>;

impl Log {
    /// Appends record `index`'s result. (A callback must not panic: kprod-std catches the
    /// panic and the test would not see it; the checks run on the log afterwards.)
    fn push(&mut self, topic: &str, index: usize, result: Result<RecordMetadata, Error>) {
        match result {
            Ok(m) => {
                self.wrong_topic += usize::from(&*m.topic != topic);
                self.done.push(Completion { index, partition: m.partition, offset: m.offset });
            }
            Err(e) => self.failed.push((index, e.to_string())),
        }
    }
}

fn lock(log: &SharedLog) -> std::sync::MutexGuard<'_, Log> {
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Checks the log of `n` records: [`check_outcomes`], and offsets growing per partition in
/// completion order.
fn check_log(log: &Log, n: usize) {
    check_outcomes(log, n);
    check_completion_order(&log.done);
}

/// No failure, every record exactly once, each in its key's partition, offsets growing per
/// partition in send order.
fn check_outcomes(log: &Log, n: usize) {
    assert!(log.failed.is_empty(), "{} record(s) failed, first: {:?}", log.failed.len(), log.failed.first());
    assert_eq!(log.wrong_topic, 0, "completions reported another topic");
    check_exactly_once(&log.done, n);
    for c in &log.done {
        assert_eq!(c.partition, key_partition(key(c.index).as_bytes(), PARTITIONS), "record {}: partition", c.index);
    }
    check_send_order(&log.done, n);
}

fn check_exactly_once(done: &[Completion], n: usize) {
    let mut count = vec![0u32; n];
    for c in done {
        count[c.index] += 1;
    }
    let wrong: Vec<(usize, u32)> = count.iter().copied().enumerate().filter(|&(_, k)| k != 1).take(10).collect();
    assert!(wrong.is_empty(), "records without exactly one completion (index, count): {wrong:?}");
}

/// The assertion of this file: per partition, no completion comes after one with a higher
/// offset. The message counts the completions that do ("late"), and the steps back (a
/// completion below the one just before it in its partition: about one per batch reported
/// out of order), with the first few steps back as examples.
fn check_completion_order(done: &[Completion]) {
    let mut highest: HashMap<u32, i64> = HashMap::new();
    let mut previous: HashMap<u32, Completion> = HashMap::new();
    let (mut late, mut steps_back) = (0usize, 0usize);
    let mut examples = Vec::new();
    for (position, c) in done.iter().enumerate() {
        if let Some(p) = previous.insert(c.partition, *c).filter(|p| p.offset > c.offset) {
            steps_back += 1;
            if examples.len() < EXAMPLES {
                examples.push(format!(
                    "#{position}: partition {} offset {} (record {}) right after offset {} (record {})",
                    c.partition, c.offset, c.index, p.offset, p.index
                ));
            }
        }
        let top = highest.entry(c.partition).or_insert(-1);
        if *top >= c.offset {
            late += 1;
        }
        *top = (*top).max(c.offset);
    }
    assert!(
        late == 0,
        "{late} of {} completions came after a completion of a higher offset of the same partition, \
         in {steps_back} steps back; first:\n  {}",
        done.len(),
        examples.join("\n  ")
    );
}

/// Records sent from one thread to one partition are written in send order.
fn check_send_order(done: &[Completion], n: usize) {
    let mut by_index = vec![None; n];
    for c in done {
        by_index[c.index] = Some(*c);
    }
    let mut last: HashMap<u32, Completion> = HashMap::new();
    for c in by_index.into_iter().flatten() {
        if let Some(prev) = last.insert(c.partition, c) {
            assert!(prev.offset < c.offset, "record {} written before record {}: {prev:?} {c:?}", c.index, prev.index);
        }
    }
}

/// The verifier reads the topic back: exactly the `n` records, each at the place the producer
/// reported for it, with its key and value.
fn check_read_back(broker: &Broker, topic: &str, done: &[Completion]) {
    let started = Instant::now();
    let read = broker.read_back(topic, done.len(), Duration::from_secs(120));
    assert_eq!(read.len(), done.len(), "read back exactly what was sent: no loss, no duplicate");
    let by_place: HashMap<(i32, i64), &ConsumedRecord> = read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    for c in done {
        let r = by_place
            .get(&(c.partition as i32, c.offset))
            .unwrap_or_else(|| panic!("record {}: nothing at {c:?}", c.index));
        assert_eq!(r.value.as_deref(), Some(value(c.index).as_bytes()), "record {}: value at its place", c.index);
        assert_eq!(r.key.as_deref(), Some(key(c.index).as_bytes()), "record {}: key", c.index);
    }
    eprintln!("  read back {} records in {:?}", read.len(), started.elapsed());
}

/// Sends `n` records, each with a callback that appends its result to `log` (on the IO thread,
/// so the log holds the order the callbacks ran in).
fn send_with_callbacks(producer: &Producer, topic: &str, n: usize, log: &SharedLog) {
    let topic_name: Arc<str> = Arc::from(topic);
    for i in 0..n {
        let (k, v) = (key(i), value(i));
        let (log, topic_name) = (Arc::clone(log), Arc::clone(&topic_name));
        producer
            .send_with_callback(&Record::new(topic).key(k.as_bytes()).value(v.as_bytes()), move |r| {
                lock(&log).push(&topic_name, i, r);
            })
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
}

/// The callback run for `acks` and `linger_ms`: send, flush, check the order, read back.
fn callbacks_in_order(acks: Acks, linger_ms: u64) {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = topic(broker, "std-order-callbacks");
    let n = records();
    let producer = Producer::new(order_config(broker, acks, linger_ms)).expect("producer");
    let log = SharedLog::default();
    let started = Instant::now();
    send_with_callbacks(&producer, &topic, n, &log);
    producer.flush(Duration::from_secs(120)).expect("flush");
    let elapsed = started.elapsed();
    let metrics = producer.metrics();
    producer.close(Duration::from_secs(30)).expect("close");
    eprintln!(
        "callbacks, {acks:?}, linger {linger_ms} ms: {n} records in {elapsed:?}; {} batches, {} requests",
        metrics.batches_sent, metrics.requests
    );
    let log = lock(&log);
    check_log(&log, n);
    check_read_back(broker, &topic, &log.done);
}

#[test]
fn callbacks_of_a_partition_run_in_offset_order_acks_1() {
    callbacks_in_order(Acks::Leader, 0);
}

#[test]
fn callbacks_of_a_partition_run_in_offset_order_acks_all() {
    callbacks_in_order(Acks::All, 1);
}

#[test]
fn the_delivery_listener_reports_a_partition_in_offset_order() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = topic(broker, "std-order-listener");
    let n = records();
    let producer = Producer::new(order_config(broker, Acks::Leader, 1)).expect("producer");
    let log = SharedLog::default();
    let (listener_log, topic_name) = (Arc::clone(&log), topic.clone());
    producer
        .set_delivery_listener(move |tag, r| {
            // The tag is the send index.
            lock(&listener_log).push(&topic_name, tag as usize, r);
        })
        .expect("listener");
    let started = Instant::now();
    for i in 0..n {
        let (k, v) = (key(i), value(i));
        producer
            .send_tagged(&Record::new(&topic).key(k.as_bytes()).value(v.as_bytes()), i as u64)
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    eprintln!("listener: {n} records in {:?}", started.elapsed());
    producer.close(Duration::from_secs(30)).expect("close");
    let log = lock(&log);
    check_log(&log, n);
    check_read_back(broker, &topic, &log.done);
}

/// A `DeliveryHandle` has no completion order of its own to observe (it is waited on in
/// whatever order the caller likes), but it is resolved before the callbacks of its batch run
/// and must be resolved before those of any later batch of its partition. So every odd record
/// is sent with a callback that holds the handle of the previous even record of its partition
/// and notes whether that handle was complete when the callback ran: an earlier record of the
/// partition not yet complete when a later one's callback runs is a completion out of order.
#[test]
fn handles_of_a_partition_complete_before_callbacks_of_later_records() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = topic(broker, "std-order-handles");
    let n = records();
    let producer = Producer::new(order_config(broker, Acks::Leader, 0)).expect("producer");
    let log = SharedLog::default();
    // (callback's record, earlier handle's record) where the handle was not yet complete.
    let early: Arc<Mutex<Vec<(usize, usize)>>> = Arc::default();
    let mut handles: Vec<(usize, DeliveryHandle)> = Vec::with_capacity(n / 2 + 1);
    let mut last_handle: HashMap<u32, (usize, DeliveryHandle)> = HashMap::new();
    let topic_name: Arc<str> = Arc::from(topic.as_str());
    let started = Instant::now();
    for i in 0..n {
        let (k, v) = (key(i), value(i));
        let record = Record::new(&topic).key(k.as_bytes()).value(v.as_bytes());
        let partition = key_partition(k.as_bytes(), PARTITIONS);
        if i % 2 == 0 {
            let handle = producer.send(&record).unwrap_or_else(|e| panic!("send {i}: {e}"));
            last_handle.insert(partition, (i, handle.clone()));
            handles.push((i, handle));
            continue;
        }
        let earlier = last_handle.get(&partition).cloned();
        let (log, early, topic_name) = (Arc::clone(&log), Arc::clone(&early), Arc::clone(&topic_name));
        producer
            .send_with_callback(&record, move |r| {
                if let Some((j, h)) = &earlier {
                    if !h.is_done() {
                        lock_vec(&early).push((i, *j));
                    }
                }
                lock(&log).push(&topic_name, i, r);
            })
            .unwrap_or_else(|e| panic!("send {i}: {e}"));
    }
    producer.flush(Duration::from_secs(120)).expect("flush");
    eprintln!("handles and callbacks: {n} records in {:?}", started.elapsed());
    producer.close(Duration::from_secs(30)).expect("close");
    let early = lock_vec(&early);
    assert!(
        early.is_empty(),
        "{} callback(s) ran while the handle of an earlier record of the same partition was not complete \
         (callback's record, handle's record), first: {:?}",
        early.len(),
        &early[..early.len().min(EXAMPLES)]
    );
    let mut log = lock(&log);
    for (i, h) in &handles {
        let result = h.try_get().unwrap_or_else(|| panic!("record {i}: flushed but not complete"));
        log.push(&topic, *i, result);
    }
    // The handles' results are appended after the callbacks': only the callbacks' part is in
    // completion order.
    let callbacks = log.done.len() - handles.len();
    check_completion_order(&log.done[..callbacks]);
    check_outcomes(&log, n);
    check_read_back(broker, &topic, &log.done);
}

fn lock_vec<T>(v: &Mutex<Vec<T>>) -> std::sync::MutexGuard<'_, Vec<T>> {
    v.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Notes the order in which the driver wakes the futures: the waker of record `index` appends
/// it when woken.
struct WakeOrder {
    index: usize,
    order: Arc<Mutex<Vec<usize>>>,
}

impl Wake for WakeOrder {
    fn wake(self: Arc<Self>) {
        lock_vec(&self.order).push(self.index);
    }
}

/// The tokio producer's futures resolve per partition in offset order.
///
/// What is observed, and why it is the driver's order: a `DeliveryFuture` completes when the
/// driver task resolves its batch, and resolving wakes the wakers the futures left. Recording
/// the order in which spawned tasks' `.await`s continue would add the scheduler's order (tasks
/// woken together run in any order, on any worker), so instead each future is polled exactly
/// once, right after `enqueue` returns it, with a waker of its own that appends the record's
/// index to a log when woken. The log is then the order in which the driver resolved the
/// records, with no scheduler in between.
///
/// On a `current_thread` runtime nothing else runs between `enqueue` accepting a record and
/// that first poll (no `.await` in between), so the driver cannot have completed the record
/// yet and every future registers its waker before its batch resolves (checked). Within one
/// batch the futures are woken in the order they first waited, which is send order, so the
/// per-record check holds inside a batch too. The loop yields every 1,000 records so the
/// driver sends and completes batches while records are still being enqueued.
#[test]
fn tokio_futures_of_a_partition_resolve_in_offset_order() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = topic(broker, "tokio-order");
    let n = records();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let order: Arc<Mutex<Vec<usize>>> = Arc::default();
    let started = Instant::now();
    let (futures, ready_at_first_poll) = rt.block_on(async {
        let producer = AsyncProducer::new(order_config(broker, Acks::Leader, 1)).expect("producer");
        let mut futures: Vec<DeliveryFuture> = Vec::with_capacity(n);
        let mut ready_at_first_poll = Vec::new();
        for i in 0..n {
            let (k, v) = (key(i), value(i));
            let record = Record::new(&topic).key(k.as_bytes()).value(v.as_bytes());
            let mut future = producer.enqueue(&record).await.unwrap_or_else(|e| panic!("enqueue {i}: {e}"));
            let waker = Waker::from(Arc::new(WakeOrder { index: i, order: Arc::clone(&order) }));
            if Pin::new(&mut future).poll(&mut Context::from_waker(&waker)).is_ready() {
                ready_at_first_poll.push(i);
            }
            futures.push(future);
            if i % 1000 == 999 {
                tokio::task::yield_now().await;
            }
        }
        tokio::time::timeout(Duration::from_secs(120), producer.flush()).await.expect("flush within 120 s");
        producer.close(Duration::from_secs(30)).await.expect("close");
        (futures, ready_at_first_poll)
    });
    eprintln!("tokio futures: {n} records in {:?}", started.elapsed());
    assert!(
        ready_at_first_poll.is_empty(),
        "complete before the driver ran: {:?}",
        &ready_at_first_poll[..ready_at_first_poll.len().min(10)]
    );
    let mut log = Log::default();
    for &i in lock_vec(&order).iter() {
        let result = futures[i].try_get().unwrap_or_else(|| panic!("record {i}: woken but not complete"));
        log.push(&topic, i, result);
    }
    check_log(&log, n);
    check_read_back(broker, &topic, &log.done);
}
