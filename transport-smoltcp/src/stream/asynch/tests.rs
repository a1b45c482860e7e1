//! The async driver against the blocking tests' fake broker over in-memory streams, on
//! virtual time (`tests/support.rs`): split IO, backpressure on buffer memory and on delivery
//! slots, failing streams, refused and hanging connects, and close at a deadline. Every test
//! checks that each accepted record got exactly one completion, and delivered records are
//! compared field by field with the broker's log.

extern crate alloc;
extern crate std;

mod support;

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use core::cell::{Cell, RefCell};
use core::time::Duration;

use embassy_futures::join::join;
use embassy_sync::blocking_mutex::raw::NoopRawMutex;
use embedded_io::ErrorKind;
use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::producer::{DeliveryError, ProducerRecord, RecordId};
use kprod_core::record::Header;

use self::support::{run, AsyncTestConnector, VTimer};
use super::{AsyncProducer, LinkError, Release, Runner, SendFailed, Timer};
use crate::stream::tests::broker::FakeBroker;
use crate::stream::tests::net::{Net, SharedNet, Wire};
use crate::stream::tests::{check_delivered, config, engine, links, placements, recs, seen, Rec, Seen, TOPIC};

type Producer<const D: usize> =
    AsyncProducer<'static, NoopRawMutex, VTimer, kprod_core::partitioner::DefaultPartitioner, D>;
type Log = Vec<Seen<&'static str>>;

/// The record the tests send for `r` (its header carries its index).
fn record<'r>(r: &'r Rec, headers: &'r [Header<'r>; 1]) -> ProducerRecord<'r> {
    ProducerRecord {
        topic: TOPIC,
        partition: None,
        key: r.key.as_deref(),
        value: Some(&r.value),
        headers,
        timestamp: r.timestamp,
    }
}

/// Sends every record with `window` deliveries pending at most, awaiting the oldest when the
/// window is full, then closes. Returns the ids and what each delivery resolved to.
async fn send_all<const D: usize>(
    p: &Producer<D>,
    recs: &[Rec],
    window: usize,
) -> (Vec<RecordId>, Vec<Result<i64, DeliveryError>>) {
    let mut ids = Vec::new();
    let mut results = Vec::new();
    let mut pending = VecDeque::new();
    for r in recs {
        let headers = [Header { key: "idx", value: Some(&r.header) }];
        let delivery = p.send(&record(r, &headers)).await.expect("send");
        ids.push(delivery.id());
        pending.push_back(delivery);
        if pending.len() >= window {
            results.push(pending.pop_front().expect("not empty").await);
        }
    }
    for d in pending {
        results.push(d.await);
    }
    (ids, results)
}

/// A producer with `D` slots over a fresh fake broker, its runner's connector, and the net.
fn world<const D: usize>(
    config: Config<'static>,
    broker: FakeBroker,
) -> (Producer<D>, AsyncTestConnector, SharedNet, VTimer) {
    let net = Net::new(broker);
    let timer = VTimer::default();
    (AsyncProducer::new(engine(config), timer.clone()), AsyncTestConnector::new(&net), net, timer)
}

/// Every delivery future agrees with the completion the runner reported.
fn check_futures(ids: &[RecordId], results: &[Result<i64, DeliveryError>], log: &Log) {
    let placed = placements(log);
    for (id, result) in ids.iter().zip(results) {
        assert_eq!(placed[id].map(|(_, offset)| offset), *result, "{id:?}");
    }
}

/// Runs `app` beside the runner, then closes; returns the runner's log and `app`'s output.
fn drive<const D: usize, R>(
    p: &Producer<D>,
    connector: &mut AsyncTestConnector,
    timer: &VTimer,
    app: impl core::future::Future<Output = R>,
) -> (Log, R) {
    let (mut tx, mut rx) = (alloc::vec![0u8; 40 * 1024], alloc::vec![0u8; 8192]);
    let mut log = Vec::new();
    let mut runner: Runner<'_, '_, '_, _, _, _, _, D, 2> = Runner::new(p, connector, &mut tx, &mut rx).expect("runner");
    let app = async {
        let out = app.await;
        p.close(timer.now() + Duration::from_secs(10)).await;
        out
    };
    let ((), out) = run(timer, join(runner.run(|e| log.push(seen(e))), app));
    assert_eq!(runner.open_streams(), 0, "close releases every stream");
    drop(runner);
    (log, out)
}

// The runner borrows its connector: a `&mut` connector is a connector.
impl super::AsyncConnector for &mut AsyncTestConnector {
    type Stream = support::AsyncPipe;
    type Error = &'static str;

    async fn connect(&mut self, host: &str, port: u16) -> Result<support::AsyncPipe, &'static str> {
        (**self).connect(host, port).await
    }

    fn release(&mut self, stream: support::AsyncPipe, how: Release) {
        (**self).release(stream, how);
    }
}

#[test]
fn every_record_is_delivered_once_through_split_io() {
    let (p, mut connector, net, timer) = world::<64>(config(Acks::All, Compression::Lz4), FakeBroker::new(TOPIC, 3));
    let recs = recs(2000, 50);
    let (log, (ids, results)) = drive(&p, &mut connector, &timer, send_all(&p, &recs, 64));
    check_delivered(&ids, &recs, &log, &net);
    check_futures(&ids, &results, &log);
    assert_eq!(p.deliveries_in_use(), 0);
    assert_eq!(connector.inner.connects.len(), 1, "the bootstrap and leader connections share one stream");
}

#[test]
fn sends_wait_for_buffer_memory() {
    // 8 KiB of buffer for 300 records of ~200 bytes, none awaited: sends must wait for
    // completions to free memory.
    let config = Config { buffer_memory: 8 * 1024, batch_size: 2048, ..config(Acks::All, Compression::None) };
    let (p, mut connector, net, timer) = world::<1>(config, FakeBroker::new(TOPIC, 2));
    let recs = recs(300, 200);
    let app = async {
        let mut ids = Vec::new();
        for r in &recs {
            let headers = [Header { key: "idx", value: Some(&r.header) }];
            ids.push(p.enqueue(&record(r, &headers)).await.expect("enqueue"));
        }
        p.flush().await;
        ids
    };
    let (log, ids) = drive(&p, &mut connector, &timer, app);
    check_delivered(&ids, &recs, &log, &net);
    assert!(p.engine(|e| e.metrics().records_refused) > 0, "some sends waited for memory");
    assert_eq!(p.deliveries_in_use(), 0, "enqueue takes no slot");
}

#[test]
fn sends_wait_for_a_delivery_slot_and_give_up_after_max_block() {
    let config = Config { max_block: Duration::from_millis(300), ..config(Acks::All, Compression::None) };
    let (p, mut connector, net, timer) = world::<2>(config, FakeBroker::new(TOPIC, 1));
    let recs = recs(4, 10);
    let order = RefCell::new(Vec::new());
    let app = async {
        let h = [Header { key: "idx", value: Some(b"x") }];
        let first = p.send(&record(&recs[0], &h)).await.expect("first");
        let second = p.send(&record(&recs[1], &h)).await.expect("second");
        // Both slots taken and nobody awaits them: the third send waits, then gives up. It
        // waits asleep: the runner steps only for its own timers, not for the waiting send.
        let start = timer.now();
        let steps = p.with(|st| st.epoch);
        let refused = p.send(&record(&recs[2], &h)).await.map(|d| d.id());
        let waited = timer.now() - start;
        let steps = p.with(|st| st.epoch).wrapping_sub(steps);
        // Awaiting the first frees its slot, so the next send goes through.
        let third = async {
            let d = p.send(&record(&recs[3], &h)).await.expect("third");
            order.borrow_mut().push("third accepted");
            d.await
        };
        let first = async {
            let r = first.await;
            order.borrow_mut().push("first delivered");
            r
        };
        let (a, c) = join(first, third).await;
        (refused, waited, steps, [a, second.await, c])
    };
    let (log, (refused, waited, steps, results)) = drive(&p, &mut connector, &timer, app);
    assert!(steps < 100, "{steps} runner steps while a send waited 300 ms");
    assert_eq!(refused, Err(SendFailed::NoDeliverySlot { slots: 2 }));
    assert!(waited >= Duration::from_millis(300), "waited {waited:?}");
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(*order.borrow(), ["first delivered", "third accepted"]);
    assert_eq!(placements(&log).len(), 3);
    assert_eq!(net.borrow().broker.stored(), 3);
}

#[test]
fn failing_streams_are_replaced_without_losing_or_duplicating_records() {
    let (p, mut connector, net, timer) = world::<32>(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 3));
    // The first stream is hung up on by the broker, the second fails writing, the third
    // reading; the fourth works.
    net.borrow_mut().next_faults = alloc::vec![
        Wire { read_error_after: Some(700), ..Wire::default() },
        Wire { write_error_after: Some(20_000), ..Wire::default() },
        Wire { close_after_requests: Some(9), ..Wire::default() },
    ];
    let recs = recs(2000, 50);
    let (log, (ids, results)) = drive(&p, &mut connector, &timer, send_all(&p, &recs, 32));
    check_delivered(&ids, &recs, &log, &net);
    check_futures(&ids, &results, &log);
    let errors = links(&log);
    assert!(errors.contains(&LinkError::Read(ErrorKind::ConnectionReset)), "{errors:?}");
    assert!(errors.contains(&LinkError::Write(ErrorKind::BrokenPipe)), "{errors:?}");
    let hung_up = [LinkError::Closed, LinkError::Write(ErrorKind::BrokenPipe)];
    assert!(errors.iter().filter(|e| hung_up.contains(e)).count() >= 2, "{errors:?}");
    assert_eq!(net.borrow().wires.len(), 4);
    assert_eq!(connector.inner.released.iter().filter(|&&r| r == Release::Broken).count(), 3);
}

#[test]
fn refused_and_hanging_connects_are_reported_and_retried() {
    let (p, mut connector, net, timer) = world::<16>(config(Acks::All, Compression::Lz4), FakeBroker::new(TOPIC, 1));
    connector.inner.refuse = 2;
    connector.hang = 1;
    let recs = recs(200, 20);
    let (log, (ids, results)) = drive(&p, &mut connector, &timer, send_all(&p, &recs, 16));
    check_delivered(&ids, &recs, &log, &net);
    check_futures(&ids, &results, &log);
    let errors = links(&log);
    assert_eq!(
        errors,
        [LinkError::ConnectTimeout, LinkError::Connect("connection refused"), LinkError::Connect("connection refused")]
    );
}

#[test]
fn dropped_deliveries_still_complete_once_and_free_their_slots() {
    let (p, mut connector, net, timer) = world::<8>(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 2));
    let recs = recs(500, 30);
    let awaited = Cell::new(0);
    let app = async {
        let mut ids = Vec::new();
        for (i, r) in recs.iter().enumerate() {
            let headers = [Header { key: "idx", value: Some(&r.header) }];
            let d = p.send(&record(r, &headers)).await.expect("send");
            ids.push(d.id());
            if i % 3 == 0 {
                d.await.expect("delivered");
                awaited.set(awaited.get() + 1);
            }
            // Others are dropped at once: their slots come free when they complete.
        }
        p.flush().await;
        ids
    };
    let (log, ids) = drive(&p, &mut connector, &timer, app);
    check_delivered(&ids, &recs, &log, &net);
    assert_eq!(awaited.get(), 167);
    assert_eq!(p.deliveries_in_use(), 0, "every slot came back");
}

#[test]
fn close_fails_what_is_left_at_the_deadline_and_the_runner_returns() {
    let (p, mut connector, _net, timer) = world::<128>(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 2));
    // ApiVersions, Metadata, InitProducerId, the leader's ApiVersions: then silence.
    _net.borrow_mut().broker.answer_limit = Some(4);
    let recs = recs(100, 20);
    let app = async {
        let mut deliveries = Vec::new();
        for r in &recs {
            let headers = [Header { key: "idx", value: Some(&r.header) }];
            deliveries.push(p.send(&record(r, &headers)).await.expect("send"));
        }
        let start = timer.now();
        let close = p.close(start + Duration::from_millis(500));
        let (results, ()) = join(embassy_futures::join::join_array(into_array::<100, _>(deliveries)), close).await;
        (results, timer.now() - start)
    };
    let (log, (results, took)) = drive(&p, &mut connector, &timer, app);
    assert!(took < Duration::from_secs(2), "close returned after {took:?}");
    assert!(results.iter().all(|r| *r == Err(DeliveryError::Closed)), "{results:?}");
    let placed = placements(&log);
    assert_eq!(placed.len(), 100);
    let record = ProducerRecord { topic: TOPIC, partition: None, key: None, value: None, headers: &[], timestamp: 0 };
    let refused = run(&timer, p.send(&record)).map(|d| d.id());
    assert_eq!(refused, Err(SendFailed::Send(kprod_core::producer::SendError::Closed)));
}

fn into_array<const N: usize, T>(v: Vec<T>) -> [T; N] {
    v.try_into().unwrap_or_else(|_| panic!("{N} items expected"))
}

/// What the driver itself costs in RAM besides the buffers and the engine's storage (64-bit
/// sizes; a 32-bit MCU needs less): the shared state, the runner, and the futures an
/// executor stores (the runner's, a send's, a delivery's).
#[test]
fn the_driver_state_and_futures_stay_small() {
    let (p, mut connector, _net, _timer) = world::<16>(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 1));
    let engine = size_of::<kprod_core::producer::Producer<'static>>();
    let shared = size_of_val(&p) - engine;
    let (mut tx, mut rx) = (alloc::vec![0u8; 4096], alloc::vec![0u8; 4096]);
    let mut runner: Runner<'_, '_, '_, _, _, _, _, 16, 2> =
        Runner::new(&p, &mut connector, &mut tx, &mut rx).expect("runner");
    let runner_size = size_of_val(&runner);
    let run_future = size_of_val(&runner.run(|_| {}));
    let r = &recs(1, 1)[0];
    let h = [Header { key: "idx", value: Some(&r.header) }];
    let record = record(r, &h);
    let send_future = size_of_val(&p.send(&record));
    std::println!(
        "engine {engine} B, shared state beside it {shared} B (16 delivery slots), runner {runner_size} B \
         (2 streams), run future {run_future} B, send future {send_future} B, delivery {} B",
        size_of::<super::Delivery<'_, '_, NoopRawMutex, VTimer, kprod_core::partitioner::DefaultPartitioner, 16>>()
    );
    // Measured: 752, 1320, 984 and 184 B; the bounds leave a little room, not a lot.
    assert!(shared <= 16 * 48 + 64, "shared state {shared} B");
    assert!(runner_size <= 2 * 704, "runner {runner_size} B");
    assert!(run_future <= 1280, "run future {run_future} B");
    assert!(send_future <= 256, "send future {send_future} B");
}

/// With a critical-section mutex, the producer can be shared across executors and interrupt
/// priorities (a `static`): it is `Sync`, and so is what the runner borrows.
#[test]
fn a_critical_section_producer_is_sync() {
    struct Clock;
    impl Timer for Clock {
        fn now(&self) -> kprod_core::time::Instant {
            kprod_core::time::Instant::ZERO
        }
        async fn at(&self, _: kprod_core::time::Instant) {}
    }
    fn sync<T: Sync>() {}
    sync::<
        AsyncProducer<
            'static,
            embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex,
            Clock,
            kprod_core::partitioner::DefaultPartitioner,
            4,
        >,
    >();
}
