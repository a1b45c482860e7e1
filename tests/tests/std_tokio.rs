//! The tokio producer (`kprod_std::AsyncProducer`) against the real broker: many tasks at
//! once, acks levels, backpressure that awaits instead of blocking, cancelled sends, the
//! `max.block.ms` timeout, flush / close / drop, and a runtime that shuts down under it.
//! Everything written is read back by the independent verifier and compared field by field.
//!
//! `KPROD_TOKIO_RECORDS_PER_TASK` sets the records per task of the many-tasks test (default
//! 20,000: 160,000 in all). The broker-restart test runs its own broker on port 29392
//! (controller 29393; `KPROD_TOKIO_RESTART_PORT` moves both); `KPROD_TOKIO_RESTART=skip` skips
//! it. `KPROD_LOG=debug` prints the producer's log lines.

extern crate alloc;

mod std_util;

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::sync::Arc;
use core::future::Future;
use core::sync::atomic::{AtomicU64, Ordering};
use core::time::Duration;
use std::time::Instant;

use kprod_core::partitioner::key_partition;
use kprod_std::{
    Acks, AsyncProducer, BlockedOn, Compression, DeliveryError, DeliveryFuture, Error, ErrorCode, Header, Record,
    RecordMetadata,
};
use kprod_tests::{unique_topic, Broker, ConsumedRecord};
use std_util::{compressed_ahead_if_filled, config, jobs_config, restart_config, verify, OwnBroker, Sent};

const TASKS: usize = 8;
const LONG_LINGER: Duration = Duration::from_secs(20);
/// How long a test waits for deliveries it expects.
const DELIVERY_WAIT: Duration = Duration::from_secs(60);

fn per_task() -> usize {
    std::env::var("KPROD_TOKIO_RECORDS_PER_TASK").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000)
}

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
}

/// Buffers `records` (awaiting buffer space as needed) and returns their delivery futures.
async fn enqueue_all(producer: &AsyncProducer, topic: &str, records: &[Sent]) -> Vec<DeliveryFuture> {
    let mut out = Vec::with_capacity(records.len());
    for (i, s) in records.iter().enumerate() {
        let headers: Vec<Header<'_>> =
            s.headers.iter().map(|(k, v)| Header { key: k.as_str(), value: v.as_deref() }).collect();
        let record = Record {
            topic,
            partition: s.partition,
            key: s.key.as_deref(),
            value: s.value.as_deref(),
            headers: &headers,
            timestamp: s.timestamp,
        };
        out.push(producer.enqueue(&record).await.unwrap_or_else(|e| panic!("enqueue {i}: {e}")));
    }
    out
}

/// Awaits every delivery (each within `DELIVERY_WAIT`); panics on a failure.
async fn await_all(futures: Vec<DeliveryFuture>) -> Vec<RecordMetadata> {
    let mut out = Vec::with_capacity(futures.len());
    for (i, f) in futures.into_iter().enumerate() {
        let m = tokio::time::timeout(DELIVERY_WAIT, f).await.unwrap_or_else(|_| panic!("delivery {i} not complete"));
        out.push(m.unwrap_or_else(|e| panic!("delivery {i}: {e}")));
    }
    out
}

#[test]
fn many_tasks_share_one_producer() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-tasks");
    const PARTITIONS: u32 = 6;
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let n = per_task();
    let total = TASKS * n;
    let rt = multi_thread();
    let started = Instant::now();
    let (reported, metrics) = rt.block_on(async {
        let producer = AsyncProducer::new(config(broker)).expect("producer");
        let mut tasks = Vec::new();
        for t in 0..TASKS {
            let (producer, topic) = (producer.clone(), topic.clone());
            tasks.push(tokio::spawn(async move {
                // Pipelined: enqueue everything, then await the deliveries in order.
                let mut futures = Vec::with_capacity(n);
                for i in 0..n {
                    let key = format!("t{t}-k{}", i % 64);
                    let value = format!("t{t}-{i}");
                    let record = Record::new(&topic)
                        .key(key.as_bytes())
                        .value(value.as_bytes())
                        .timestamp(1_700_000_000_000 + i as i64);
                    futures
                        .push(producer.enqueue(&record).await.unwrap_or_else(|e| panic!("task {t} record {i}: {e}")));
                }
                await_all(futures).await
            }));
        }
        let mut reported = Vec::new();
        for task in tasks {
            reported.push(task.await.expect("task"));
        }
        let metrics = producer.metrics();
        producer.close(Duration::from_secs(30)).await.expect("close");
        (reported, metrics)
    });
    let elapsed = started.elapsed();
    eprintln!(
        "{total} records from {TASKS} tasks in {elapsed:?} ({:.0} records/s); {} batches, {} requests",
        total as f64 / elapsed.as_secs_f64(),
        metrics.batches_sent,
        metrics.requests
    );
    assert_eq!(metrics.records_delivered as usize, total);
    let read = broker.read_back(&topic, total, Duration::from_secs(300));
    assert_eq!(read.len(), total, "every record once: nothing lost, nothing duplicated");
    let by_place: BTreeMap<(i32, i64), &ConsumedRecord> = read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    assert_eq!(by_place.len(), total, "distinct places");
    let mut seen = BTreeSet::new();
    for (t, metas) in reported.iter().enumerate() {
        assert_eq!(metas.len(), n);
        let mut last_offset: BTreeMap<u32, i64> = BTreeMap::new();
        for (i, m) in metas.iter().enumerate() {
            let r =
                by_place.get(&(m.partition as i32, m.offset)).unwrap_or_else(|| panic!("t{t}-{i}: nothing at {m:?}"));
            let key = format!("t{t}-k{}", i % 64).into_bytes();
            assert_eq!(
                r.value.as_deref(),
                Some(format!("t{t}-{i}").as_bytes()),
                "t{t}-{i}: value at its reported place"
            );
            assert_eq!(r.key.as_deref(), Some(key.as_slice()), "t{t}-{i}: key");
            assert_eq!(m.partition, key_partition(&key, PARTITIONS), "t{t}-{i}: the Java client's partition");
            assert_eq!((r.timestamp, m.timestamp), (1_700_000_000_000 + i as i64, r.timestamp), "t{t}-{i}: timestamp");
            assert!(r.headers.is_empty());
            assert_eq!(&*m.topic, topic.as_str());
            assert!(seen.insert((m.partition, m.offset)), "t{t}-{i}: two records reported at {m:?}");
            // One partition per key: a task's records of one partition keep their order.
            if let Some(prev) = last_offset.insert(m.partition, m.offset) {
                assert!(prev < m.offset, "t{t}-{i}: order within partition {}", m.partition);
            }
        }
    }
}

#[test]
fn acks_none_leader_and_all_with_concurrent_sends() {
    std_util::init_log();
    let broker = Broker::shared();
    let rt = multi_thread();
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        let topic = unique_topic("tokio-acks");
        broker.create_topic(&topic, 3, 1);
        let records: Arc<Vec<Sent>> = Arc::new((0..1000).map(|i| Sent::numbered("a", i)).collect());
        let reported = rt.block_on(async {
            let producer = AsyncProducer::new(config(broker).acks(acks)).expect("producer");
            // 50 tasks, each awaiting its sends one by one: `send` resolves to the delivery.
            let mut tasks = Vec::new();
            for t in 0..50 {
                let (producer, topic, records) = (producer.clone(), topic.clone(), Arc::clone(&records));
                tasks.push(tokio::spawn(async move {
                    let mut out = Vec::new();
                    for i in (t..records.len()).step_by(50) {
                        let s = &records[i];
                        let headers: Vec<Header<'_>> =
                            s.headers.iter().map(|(k, v)| Header { key: k.as_str(), value: v.as_deref() }).collect();
                        let record = Record {
                            topic: &topic,
                            partition: None,
                            key: s.key.as_deref(),
                            value: s.value.as_deref(),
                            headers: &headers,
                            timestamp: s.timestamp,
                        };
                        let m = producer.send(&record).await.unwrap_or_else(|e| panic!("{acks:?} record {i}: {e}"));
                        out.push((i, m));
                    }
                    out
                }));
            }
            let mut reported = vec![None; records.len()];
            for task in tasks {
                for (i, m) in task.await.expect("task") {
                    reported[i] = Some(m);
                }
            }
            producer.close(Duration::from_secs(30)).await.expect("close");
            reported.into_iter().map(|m| m.expect("every record reported")).collect::<Vec<_>>()
        });
        if acks == Acks::None {
            assert!(reported.iter().all(|m| m.offset == -1), "acks=0 learns no offsets");
        } else {
            assert!(reported.iter().all(|m| m.offset >= 0), "{acks:?} reports offsets");
        }
        let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
        verify(&read, &records, &reported, 3);
    }
}

#[test]
fn backpressure_awaits_and_the_thread_keeps_running() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-backpressure");
    broker.create_topic(&topic, 2, 1);
    // 64 KiB of buffer for 2 MiB of records: sends must wait for deliveries to free space.
    let cfg = config(broker).batch_size(16 * 1024).buffer_memory(64 * 1024);
    let records: Vec<Sent> = (0..2000)
        .map(|i| Sent { value: Some(format!("bp-{i}-{}", "x".repeat(1024)).into_bytes()), ..Sent::numbered("bp", i) })
        .collect();
    // One thread for everything: the test task, the ticker and the producer's driver. A send
    // that blocked the thread would stop all three.
    let rt = current_thread();
    let (reported, waited, ticks_while_sending, waited_ns) = rt.block_on(async {
        let producer = AsyncProducer::new(cfg).expect("producer");
        producer.partitions_for(&topic).await.expect("metadata");
        let ticks = Arc::new(AtomicU64::new(0));
        let ticker = {
            let ticks = Arc::clone(&ticks);
            tokio::spawn(async move {
                let mut every = tokio::time::interval(Duration::from_millis(1));
                loop {
                    every.tick().await;
                    ticks.fetch_add(1, Ordering::Relaxed);
                }
            })
        };
        let (mut futures, mut waited) = (Vec::new(), 0);
        let ticks_before = ticks.load(Ordering::Relaxed);
        for s in &records {
            let record = Record {
                topic: &topic,
                partition: s.partition,
                key: s.key.as_deref(),
                value: s.value.as_deref(),
                headers: &[],
                timestamp: s.timestamp,
            };
            // This loop never yields by itself: the ticker only moves while `enqueue` awaits.
            let before = ticks.load(Ordering::Relaxed);
            futures.push(producer.enqueue(&record).await.expect("enqueue waits, then succeeds"));
            if ticks.load(Ordering::Relaxed) != before {
                waited += 1;
            }
        }
        let ticks_while_sending = ticks.load(Ordering::Relaxed) - ticks_before;
        let reported = await_all(futures).await;
        ticker.abort();
        let waited_ns = std_util::metric(&producer.metrics_by_name(), "bufferpool-wait-time-ns-total");
        producer.close(Duration::from_secs(30)).await.expect("close");
        (reported, waited, ticks_while_sending, waited_ns)
    });
    eprintln!("backpressure: {waited} of {} enqueues awaited; {ticks_while_sending} ticks meanwhile", records.len());
    assert!(waited >= 10, "a full buffer makes enqueue await ({waited} did)");
    // The awaits for space are counted in Java's metric.
    assert!(waited_ns > 0.0, "bufferpool-wait-time-ns-total {waited_ns} after {waited} awaited enqueues");
    assert!(ticks_while_sending >= 10, "other tasks ran while sends waited ({ticks_while_sending} ticks)");
    // Headers are not sent in this test.
    let records: Vec<Sent> = records.into_iter().map(|s| Sent { headers: vec![], ..s }).collect();
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

/// A small deterministic generator (xorshift), so a failing run can be replayed by its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// What became of one cancelled-or-not call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// `enqueue` returned: the record must be in the topic exactly once.
    Accepted,
    /// `enqueue` was dropped before it returned: the record must not be in the topic.
    NotAccepted,
    /// `send` resolved to a delivery: exactly once, at the reported place.
    Delivered(i32, i64),
    /// `send` was dropped somewhere: at most once.
    Unknown,
}

#[test]
fn cancelled_sends_leave_no_trace_or_complete_exactly_once() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-cancel");
    broker.create_topic(&topic, 1, 1);
    let seed =
        std::env::var("KPROD_TOKIO_CANCEL_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x9e37_79b9_7f4a_7c15_u64);
    eprintln!("cancellation seed {seed} (KPROD_TOKIO_CANCEL_SEED replays it)");
    let mut rng = Rng(seed | 1);
    // A small buffer, so enqueue often has to wait (and can be dropped while waiting).
    let cfg = config(broker).batch_size(4096).buffer_memory(8 * 1024).linger(Duration::from_millis(2));
    let n = 3000;
    // ~1 KiB each: 8 records fill the buffer.
    let values: Vec<Vec<u8>> = (0..n).map(|i| format!("c-{i}-{}", "z".repeat(1000)).into_bytes()).collect();
    let rt = multi_thread();
    let (fates, last, delivered_count) = rt.block_on(async {
        let producer = AsyncProducer::new(cfg).expect("producer");
        producer.partitions_for(&topic).await.expect("metadata");
        let mut fates = Vec::with_capacity(n);
        let mut kept = Vec::new();
        for (i, value) in values.iter().enumerate() {
            let record = Record::new(topic.as_str()).key(b"k".as_slice()).value(value.as_slice());
            let limit = Duration::from_micros(rng.below(3000));
            let fate = match rng.below(10) {
                0..=6 => match tokio::time::timeout(limit, producer.enqueue(&record)).await {
                    Ok(Ok(delivery)) => {
                        // Keep some futures, drop the others at once or after one poll.
                        match rng.below(3) {
                            0 => kept.push((i, delivery)),
                            1 => {
                                let mut delivery = delivery;
                                let _ = tokio::time::timeout(Duration::ZERO, &mut delivery).await;
                            }
                            _ => drop(delivery),
                        }
                        Fate::Accepted
                    }
                    Ok(Err(e)) => panic!("enqueue {i}: {e}"),
                    Err(_) => Fate::NotAccepted,
                },
                7 | 8 => match tokio::time::timeout(limit, producer.send(&record)).await {
                    Ok(Ok(m)) => Fate::Delivered(m.partition as i32, m.offset),
                    Ok(Err(e)) => panic!("send {i}: {e}"),
                    Err(_) => Fate::Unknown,
                },
                _ => {
                    let send = producer.send(&record);
                    tokio::select! {
                        r = send => {
                            let m = r.unwrap_or_else(|e| panic!("send {i}: {e}"));
                            Fate::Delivered(m.partition as i32, m.offset)
                        }
                        () = tokio::task::yield_now() => Fate::Unknown,
                    }
                }
            };
            fates.push(fate);
        }
        producer.flush().await;
        for (i, delivery) in kept {
            let m = delivery.try_get().unwrap_or_else(|| panic!("record {i}: complete after flush"));
            let m = m.unwrap_or_else(|e| panic!("record {i}: {e}"));
            fates[i] = Fate::Delivered(m.partition as i32, m.offset);
        }
        // The producer still works after all that cancelling.
        let last =
            producer.send(&Record::new(topic.as_str()).value(b"last".as_slice())).await.expect("send after cancels");
        let delivered = producer.metrics().records_delivered;
        producer.close(Duration::from_secs(30)).await.expect("close");
        (fates, last, delivered)
    });
    let count = |f: fn(&Fate) -> bool| fates.iter().filter(|x| f(x)).count();
    eprintln!(
        "cancellation: {} accepted, {} not accepted, {} delivered, {} unknown",
        count(|f| *f == Fate::Accepted),
        count(|f| *f == Fate::NotAccepted),
        count(|f| matches!(f, Fate::Delivered(..))),
        count(|f| *f == Fate::Unknown)
    );
    assert!(count(|f| *f == Fate::NotAccepted) > 0, "some enqueues were dropped while waiting");
    assert!(count(|f| *f == Fate::Unknown) > 0, "some sends were dropped");
    let total = usize::try_from(delivered_count).expect("count");
    // The last record went out after everything else completed: nothing may follow it.
    assert_eq!(last.offset + 1, delivered_count as i64, "the last record closes the log");
    let read = broker.read_back(&topic, total, Duration::from_secs(60));
    assert_eq!(read.len(), total, "the broker holds what the producer reported delivered");
    let by_value: BTreeMap<&[u8], &ConsumedRecord> =
        read.iter().map(|r| (r.value.as_deref().expect("value"), r)).collect();
    assert_eq!(by_value.len(), total, "no record twice");
    assert_eq!(by_value.get(b"last".as_slice()).map(|r| r.offset), Some(last.offset));
    let known: BTreeSet<&[u8]> = values.iter().map(Vec::as_slice).chain([b"last".as_slice()]).collect();
    for r in &read {
        assert!(known.contains(r.value.as_deref().expect("value")), "nothing but what was sent: {r:?}");
    }
    for (i, (fate, value)) in fates.iter().zip(&values).enumerate() {
        let found = by_value.get(value.as_slice());
        match *fate {
            Fate::Accepted => assert!(found.is_some(), "record {i}: accepted, so delivered"),
            Fate::NotAccepted => assert!(found.is_none(), "record {i}: dropped before acceptance, yet written"),
            Fate::Delivered(p, o) => {
                let r = found.unwrap_or_else(|| panic!("record {i}: reported delivered, not found"));
                assert_eq!((r.partition, r.offset), (p, o), "record {i}: at its reported place");
                assert_eq!(r.key.as_deref(), Some(b"k".as_slice()));
            }
            Fate::Unknown => {}
        }
    }
}

#[test]
fn max_block_ms_ends_with_a_typed_timeout() {
    std_util::init_log();
    let broker = Broker::shared();
    let rt = multi_thread();
    rt.block_on(async {
        // Nothing listens on port 1: no metadata ever comes.
        let cfg = kprod_std::ProducerConfig::new("127.0.0.1:1").expect("config").max_block(Duration::from_millis(1500));
        let producer = AsyncProducer::new(cfg).expect("producer");
        let started = Instant::now();
        let err = producer.send(&Record::new("tokio-nowhere").value(b"v".as_slice())).await.expect_err("no broker");
        let waited = started.elapsed();
        assert!(
            matches!(&err, Error::Timeout { topic: Some(t), blocked_on: BlockedOn::Metadata(None), after, .. }
                if t == "tokio-nowhere" && *after >= Duration::from_millis(1500)),
            "{err:?}"
        );
        assert!(err.is_retriable());
        assert!(waited >= Duration::from_millis(1500) && waited < Duration::from_secs(5), "{waited:?}");
        let err = producer.partitions_for("tokio-nowhere").await.expect_err("no broker");
        assert!(matches!(err, Error::Timeout { blocked_on: BlockedOn::Metadata(_), .. }), "{err:?}");
    });
    rt.block_on(async {
        // A topic the broker cannot create: its name collides with an existing one ('.'
        // and '_' clash in metric names), so the broker answers UNKNOWN_TOPIC_OR_PARTITION,
        // as it does for every new topic with auto.create.topics.enable=false.
        let base = unique_topic("tokio-collide");
        let dotted = format!("{base}.x");
        let underscored = format!("{base}_x");
        tokio::task::block_in_place(|| broker.create_topic(&dotted, 1, 1));
        let producer = AsyncProducer::new(config(broker).max_block(Duration::from_millis(2000))).expect("producer");
        let started = Instant::now();
        let err =
            producer.send(&Record::new(underscored.as_str()).value(b"v".as_slice())).await.expect_err("no such topic");
        assert!(
            matches!(&err, Error::Timeout {
                topic: Some(t),
                blocked_on: BlockedOn::Metadata(Some(ErrorCode::UnknownTopicOrPartition)),
                ..
            } if *t == underscored),
            "{err:?}"
        );
        eprintln!("colliding topic: {err}");
        assert!(err.to_string().contains("not present in metadata after"), "{err}");
        assert!(started.elapsed() < Duration::from_secs(6));
        // The producer goes on working for topics that exist.
        let m = producer.send(&Record::new(dotted.as_str()).value(b"ok".as_slice())).await.expect("send");
        assert_eq!((m.partition, m.offset), (0, 0));
        producer.close(Duration::from_secs(30)).await.expect("close");
    });
}

#[test]
fn flush_sends_lingering_records_at_once() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-flush");
    broker.create_topic(&topic, 3, 1);
    let records: Vec<Sent> = (0..500).map(|i| Sent::numbered("f", i)).collect();
    let rt = multi_thread();
    let reported = rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(LONG_LINGER)).expect("producer");
        let futures = enqueue_all(&producer, &topic, &records).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(futures.iter().all(|f| !f.is_done()), "linger holds the records back");
        let started = Instant::now();
        producer.flush().await;
        assert!(started.elapsed() < Duration::from_secs(10), "flush does not wait for linger.ms");
        assert!(futures.iter().all(DeliveryFuture::is_done), "flush resolves after every earlier record");
        let reported = await_all(futures).await;
        // Nothing buffered: flush returns at once.
        tokio::time::timeout(Duration::from_secs(1), producer.flush()).await.expect("empty flush");
        producer.close(Duration::from_secs(30)).await.expect("close");
        reported
    });
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 3);
}

#[test]
fn close_delivers_what_was_sent_then_refuses_sends() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-close");
    broker.create_topic(&topic, 2, 1);
    let records: Vec<Sent> = (0..300).map(|i| Sent::numbered("c", i)).collect();
    let rt = current_thread();
    let reported = rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(LONG_LINGER)).expect("producer");
        let futures = enqueue_all(&producer, &topic, &records).await;
        let other = producer.clone();
        let started = Instant::now();
        producer.close(Duration::from_secs(30)).await.expect("close delivers everything in time");
        assert!(started.elapsed() < Duration::from_secs(10), "close flushes instead of lingering");
        let reported: Vec<RecordMetadata> =
            futures.iter().map(|f| f.try_get().expect("complete after close").expect("delivered")).collect();
        // Every clone is closed.
        let err = other.send(&Record::new(&topic).value(b"late".as_slice())).await.expect_err("closed");
        assert_eq!(err, Error::Closed);
        let err = other.partitions_for(&topic).await.expect_err("closed");
        assert_eq!(err, Error::Closed);
        other.close(Duration::from_secs(1)).await.expect("a second close is a no-op");
        tokio::time::timeout(Duration::from_secs(1), other.flush()).await.expect("flush after close");
        reported
    });
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

#[test]
fn close_with_zero_timeout_fails_what_is_not_done_each_record_once() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-close-now");
    broker.create_topic(&topic, 1, 1);
    let rt = multi_thread();
    rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(LONG_LINGER)).expect("producer");
        producer.partitions_for(&topic).await.expect("metadata");
        let records: Vec<Sent> = (0..100).map(|i| Sent::numbered("z", i)).collect();
        let futures = enqueue_all(&producer, &topic, &records).await;
        let err = producer.close(Duration::ZERO).await.expect_err("records were failed for the deadline");
        assert!(matches!(err, Error::Timeout { blocked_on: BlockedOn::Completion, .. }), "{err}");
        for (i, f) in futures.into_iter().enumerate() {
            assert_eq!(f.await, Err(Error::Delivery(DeliveryError::Closed)), "record {i}");
        }
        let m = producer.metrics();
        assert_eq!((m.records_sent, m.records_failed, m.records_delivered), (100, 100, 0));
    });
}

#[test]
fn dropping_every_clone_still_delivers_what_was_accepted() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-drop");
    broker.create_topic(&topic, 4, 1);
    let records: Vec<Sent> = (0..200).map(|i| Sent::numbered("d", i)).collect();
    let rt = multi_thread();
    let reported = rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(LONG_LINGER)).expect("producer");
        let (first, second) = records.split_at(100);
        let clone = producer.clone();
        let topic2 = topic.clone();
        let second = second.to_vec();
        let other = tokio::spawn(async move { enqueue_all(&clone, &topic2, &second).await });
        let mut futures = enqueue_all(&producer, &topic, first).await;
        futures.extend(other.await.expect("task"));
        let m = producer.metrics();
        assert_eq!((m.records_sent, m.records_delivered), (200, 0), "all lingering");
        let started = Instant::now();
        drop(producer); // the last clone: closes without waiting
        assert!(started.elapsed() < Duration::from_secs(1), "drop does not wait for the deliveries");
        let reported = await_all(futures).await;
        assert!(started.elapsed() < Duration::from_secs(10), "delivered at once, not after linger.ms");
        reported
    });
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 4);
}

#[test]
fn a_runtime_shutdown_fails_what_waits_and_nothing_hangs() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-shutdown");
    broker.create_topic(&topic, 1, 1);
    let rt = multi_thread();
    let (producer, futures) = rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(LONG_LINGER)).expect("producer");
        producer.partitions_for(&topic).await.expect("metadata");
        let records: Vec<Sent> = (0..50).map(|i| Sent::numbered("s", i)).collect();
        let futures = enqueue_all(&producer, &topic, &records).await;
        (producer, futures)
    });
    drop(rt); // the driver task is dropped mid-linger
              // The delivery futures resolve without any runtime.
    let waker = core::task::Waker::noop();
    let mut cx = core::task::Context::from_waker(waker);
    for (i, mut f) in futures.into_iter().enumerate() {
        match core::pin::Pin::new(&mut f).poll(&mut cx) {
            core::task::Poll::Ready(r) => assert_eq!(r, Err(Error::Closed), "record {i}"),
            core::task::Poll::Pending => {
                panic!("record {i}: still pending after the runtime shut down")
            }
        }
    }
    let rt = current_thread();
    rt.block_on(async {
        let err = producer.send(&Record::new(&topic).value(b"late".as_slice())).await.expect_err("driver gone");
        assert_eq!(err, Error::Closed);
        tokio::time::timeout(Duration::from_secs(1), producer.flush()).await.expect("flush returns");
        tokio::time::timeout(Duration::from_secs(1), producer.close(Duration::from_secs(1)))
            .await
            .expect("close returns")
            .expect("nothing left to fail");
        drop(producer);
        // None of the lingering records reached the broker: a new producer writes offset 0.
        let fresh = AsyncProducer::new(config(broker)).expect("producer");
        let m = fresh.send(&Record::new(&topic).value(b"fresh".as_slice())).await.expect("send");
        assert_eq!(m.offset, 0);
        fresh.close(Duration::from_secs(30)).await.expect("close");
    });
    let read = broker.read_back(&topic, 1, Duration::from_secs(60));
    assert_eq!(read.len(), 1);
    assert_eq!(read[0].value.as_deref(), Some(b"fresh".as_slice()));
}

#[test]
fn new_outside_a_runtime_is_a_clear_error() {
    let err =
        AsyncProducer::new(kprod_std::ProducerConfig::new("127.0.0.1:9092").expect("config")).expect_err("no runtime");
    assert!(matches!(&err, Error::Io(msg) if msg.contains("tokio runtime")), "{err}");
}

#[test]
fn idle_connections_close_and_come_back() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-idle-conn");
    broker.create_topic(&topic, 1, 1);
    let cfg = config(broker).set("connections.max.idle.ms", "300").expect("property");
    let rt = current_thread();
    let reported = rt.block_on(async {
        let producer = AsyncProducer::new(cfg).expect("producer");
        let mut reported = Vec::new();
        for i in 0..3 {
            let value = format!("idle-{i}");
            reported.push(producer.send(&Record::new(&topic).value(value.as_bytes())).await.expect("send"));
            // Long enough for the engine to close the idle connections.
            tokio::time::sleep(Duration::from_millis(800)).await;
        }
        producer.close(Duration::from_secs(30)).await.expect("close");
        reported
    });
    assert_eq!(reported.iter().map(|m| m.offset).collect::<Vec<_>>(), vec![0, 1, 2]);
    let read = broker.read_back(&topic, 3, Duration::from_secs(60));
    let values: Vec<Option<Vec<u8>>> = read.iter().map(|r| r.value.clone()).collect();
    assert_eq!(values, (0..3).map(|i| Some(format!("idle-{i}").into_bytes())).collect::<Vec<_>>());
}

/// CPU time of the calling thread, from /proc (Linux).
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

#[test]
fn idle_and_unreachable_producers_sleep() {
    std_util::init_log();
    let broker = Broker::shared();
    let topic = unique_topic("tokio-idle");
    broker.create_topic(&topic, 1, 1);
    // A current-thread runtime: the producers' driver tasks run on this thread, so its CPU
    // time is theirs, whatever the other tests of this binary do meanwhile.
    let rt = current_thread();
    rt.block_on(async {
        let producer = AsyncProducer::new(config(broker).linger(Duration::from_secs(1))).expect("producer");
        producer.send(&Record::new(&topic).value(b"x".as_slice())).await.expect("send");
        // One record lingering and a connection open: the driver has a timer and a socket.
        let lingering = producer.enqueue(&Record::new(&topic).value(b"y".as_slice())).await.expect("enqueue");
        // And a producer whose every connect fails (reconnect backoff, metadata retries).
        let cfg = kprod_std::ProducerConfig::new("127.0.0.1:1").expect("config").max_block(Duration::from_secs(10));
        let nowhere = AsyncProducer::new(cfg).expect("producer");
        let waiting = tokio::spawn({
            let nowhere = nowhere.clone();
            async move { nowhere.send(&Record::new("tokio-nowhere").value(b"v".as_slice())).await }
        });
        let Some(before) = thread_cpu() else {
            return; // not Linux
        };
        tokio::time::sleep(Duration::from_secs(2)).await;
        let used = thread_cpu().expect("cpu") - before;
        assert!(lingering.is_done(), "the lingering record went out after linger.ms");
        assert!(!waiting.is_finished(), "still waiting for metadata");
        // A spinning driver would use about 2 s.
        eprintln!("idle and unreachable producers: {used:?} of CPU in 2 s");
        assert!(used < Duration::from_millis(300), "{used:?} of CPU in 2 s");
        waiting.abort();
        producer.close(Duration::from_secs(30)).await.expect("close");
        nowhere.close(Duration::ZERO).await.expect("nothing was accepted");
    });
}

#[test]
fn broker_stopped_and_restarted_mid_stream() {
    if std::env::var("KPROD_TOKIO_RESTART").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: KPROD_TOKIO_RESTART=skip");
        return;
    }
    std_util::init_log();
    let port: u16 = std::env::var("KPROD_TOKIO_RESTART_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(29392);
    let own = OwnBroker::start(port);
    let bootstrap = format!("127.0.0.1:{port}");
    let broker = Broker::attach(&bootstrap, 1);
    // One partition, as the topic the restarted (empty) broker auto-creates has.
    let topic = unique_topic("tokio-restart");
    broker.create_topic(&topic, 1, 1);
    let producer = |acks: Acks, delivery_timeout: Duration| {
        AsyncProducer::new(restart_config(&bootstrap, acks, delivery_timeout)).expect("producer")
    };
    let rt = multi_thread();
    let before: Vec<Sent> = (0..100).map(|i| Sent::numbered("before", i)).collect();
    let during: Vec<Sent> = (0..500).map(|i| Sent::numbered("during", i)).collect();
    let doomed: Vec<Sent> = (0..50).map(|i| Sent::numbered("doomed", i)).collect();
    let reported = rt.block_on(async {
        let patient = producer(Acks::All, Duration::from_secs(180));
        let impatient = producer(Acks::Leader, Duration::from_secs(4));
        await_all(enqueue_all(&patient, &topic, &before).await).await;
        await_all(enqueue_all(&impatient, &topic, &before[..10]).await).await;

        tokio::task::block_in_place(|| own.down());
        let stopped = Instant::now();
        let patient_futures = enqueue_all(&patient, &topic, &during).await;
        for (i, f) in enqueue_all(&impatient, &topic, &doomed).await.into_iter().enumerate() {
            let r = tokio::time::timeout(DELIVERY_WAIT, f).await.expect("complete");
            assert_eq!(r, Err(Error::Delivery(DeliveryError::DeliveryTimeout)), "doomed record {i}");
        }
        assert!(stopped.elapsed() < Duration::from_secs(30), "failed after delivery.timeout.ms, not much later");
        assert!(patient_futures.iter().all(|f| !f.is_done()), "the patient producer still holds its records");

        tokio::task::block_in_place(|| own.up());
        let reported = await_all(patient_futures).await;
        eprintln!("delivered {} records {:?} after the broker stopped", reported.len(), stopped.elapsed());
        patient.close(Duration::from_secs(30)).await.expect("close");
        impatient.close(Duration::from_secs(30)).await.expect("close");
        reported
    });
    let read = broker.read_back(&topic, during.len(), Duration::from_secs(60));
    verify(&read, &during, &reported, 1);
}

/// Compression jobs in the tokio driver: between rounds it hands a closed batch's compression to
/// the blocking pool, without the lock, and takes the result when it is done. 4,000 gzip records
/// enqueued from one task into a 64 KiB buffer of 4 KiB batches, one request in flight: a
/// request holds at most one batch per partition (12 KiB), so once the buffer is full most of
/// it is closed batches that cannot go yet, and the wake-up of the send that waits for space
/// runs a round that hands one out. Each runtime's record of that: the buffer filled (always on
/// the current-thread runtime, where the sending task runs until it must wait; usually on the
/// multi-thread one, where the driver may keep up, and then there is nothing to compress
/// ahead), and if it did, batches were compressed ahead (none without the jobs). Every record
/// reads back field by field.
#[test]
fn compression_runs_on_the_blocking_pool() {
    const N: usize = 4000;
    let broker = Broker::shared();
    for (name, rt) in [("multi-thread", multi_thread()), ("current-thread", current_thread())] {
        let topic = unique_topic("tokio-jobs");
        broker.create_topic(&topic, 3, 1);
        let records: Vec<Sent> = (0..N).map(|i| Sent::numbered(name, i)).collect();
        let config = jobs_config(broker, Compression::Gzip);
        let (reported, m) = rt.block_on(async {
            let producer = AsyncProducer::new(config).expect("producer");
            let futures = enqueue_all(&producer, &topic, &records).await;
            producer.flush().await;
            let reported = await_all(futures).await;
            let m = producer.metrics();
            producer.close(Duration::from_secs(30)).await.expect("close");
            (reported, m)
        });
        assert_eq!(m.records_delivered, N as u64, "{name}");
        let filled = compressed_ahead_if_filled(name, &m);
        assert!(filled || name == "multi-thread", "{name}: the buffer never filled");
        let read = broker.read_back(&topic, N, Duration::from_secs(60));
        verify(&read, &records, &reported, 3);
    }
}
