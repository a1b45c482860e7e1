//! The stream driver against an in-process fake broker over in-memory streams (`tests/net.rs`):
//! split reads and writes, one stream shared by the engine's connections, bootstrap-only mode,
//! failing streams and connectors, undersized buffers, a broker that stops answering, and the
//! engine on borrowed storage. Every test checks that each accepted record got exactly one
//! completion, and delivered records are compared field by field with the broker's log.

extern crate alloc;
extern crate std;

pub(super) mod broker;
pub(super) mod net;

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use embedded_io::ErrorKind;
use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::producer::{
    chunk_map_words, BatchId, Capacities, Completion, ConnError, DeliveryError, FatalError, Producer, ProducerRecord,
    RecordId, SendError, StaticStorage, Storage,
};
use kprod_core::protocol::ApiKey;
use kprod_core::record::Header;
use kprod_core::time::Instant;

use self::broker::{FakeBroker, Stored};
use self::net::{Net, Pipe, SharedNet, TestClock, TestConnector, Wire};
use super::{
    Bootstrap, BootstrapError, Clock, Event, LinkError, NewError, Release, StreamProducer, MAX_REQUESTS_PER_STREAM,
};

pub(super) const TOPIC: &str = "events";

/// An event as the tests keep it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Seen<CE> {
    Delivered { batch: BatchId, partition: u32, base_offset: i64, records: u32 },
    Failed { batch: BatchId, records: u32, reason: DeliveryError },
    Fatal(FatalError),
    Link { host: String, error: LinkError<CE, ErrorKind> },
    TxTooSmall { needed: usize, capacity: usize },
}

pub(super) fn seen<CE>(e: Event<'_, CE, ErrorKind>) -> Seen<CE> {
    match e {
        Event::Completed(c) => {
            assert_eq!(*c.topic(), TOPIC, "completions name the topic");
            match c {
                Completion::Delivered { batch, partition, base_offset, records, .. } => {
                    Seen::Delivered { batch, partition, base_offset, records }
                }
                Completion::Failed { batch, records, reason, .. } => Seen::Failed { batch, records, reason },
            }
        }
        Event::Fatal(e) => Seen::Fatal(e),
        Event::Link { host, error, .. } => Seen::Link { host: host.to_string(), error },
        Event::TxBufferTooSmall { needed, capacity } => Seen::TxTooSmall { needed, capacity },
    }
}

/// A record the test sent.
pub(super) struct Rec {
    pub(super) key: Option<Vec<u8>>,
    pub(super) value: Vec<u8>,
    pub(super) header: Vec<u8>,
    pub(super) timestamp: i64,
}

pub(super) fn recs(n: usize, value_len: usize) -> Vec<Rec> {
    (0..n)
        .map(|i| Rec {
            key: (i % 4 != 0).then(|| format!("key-{}", i % 37).into_bytes()),
            value: format!("value-{i}-{}", "v".repeat(i % value_len.max(1))).into_bytes(),
            header: format!("h{i}").into_bytes(),
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

pub(super) fn config(acks: Acks, compression: Compression) -> Config<'static> {
    Config {
        acks,
        compression,
        linger: Duration::from_millis(2),
        batch_size: 4096,
        // Java's batches (none grows past batch.size while it waits): the tests place their
        // faults by request counts and bytes, and want many requests.
        batch_max_size: Some(4096),
        buffer_memory: 256 * 1024,
        max_request_size: 32 * 1024,
        ..Config::default()
    }
}

pub(super) fn engine(config: Config<'static>) -> Producer<'static> {
    let caps = Capacities { brokers: 8, topics: 4, partitions: 256, connections: 4, batches: 256 };
    let storage = Storage::with_capacity(&config, caps);
    Producer::new(config.validate().expect("valid config"), &[("broker", 9092)], storage, Instant::ZERO)
        .expect("engine")
}

type Driver<'a, C, const N: usize = 1> = StreamProducer<'a, C, TestClock, N>;

/// Sends every record (waiting on retriable errors), then flushes; returns the ids.
fn send_all<C, const N: usize>(p: &mut Driver<'_, C, N>, recs: &[Rec], log: &mut Vec<Seen<C::Error>>) -> Vec<RecordId>
where
    C: super::Connector<Stream = Pipe>,
{
    let ids = send_all_no_flush(p, recs, log);
    let deadline = p.now() + Duration::from_secs(120);
    p.flush_blocking(deadline, |e| log.push(seen(e))).expect("flush completes");
    ids
}

/// Sends every record (waiting on retriable errors) without flushing; returns the ids.
fn send_all_no_flush<C, const N: usize>(
    p: &mut Driver<'_, C, N>,
    recs: &[Rec],
    log: &mut Vec<Seen<C::Error>>,
) -> Vec<RecordId>
where
    C: super::Connector<Stream = Pipe>,
{
    recs.iter()
        .map(|r| {
            let headers = [Header { key: "idx", value: Some(&r.header) }];
            let record = ProducerRecord {
                topic: TOPIC,
                partition: None,
                key: r.key.as_deref(),
                value: Some(&r.value),
                headers: &headers,
                timestamp: r.timestamp,
            };
            p.send_blocking(&record, Duration::from_secs(60), |e| log.push(seen(e))).expect("send")
        })
        .collect()
}

/// Where each record went, from the completions; panics on a record covered twice.
pub(super) fn placements<CE>(log: &[Seen<CE>]) -> BTreeMap<RecordId, Result<(u32, i64), DeliveryError>> {
    let mut placed = BTreeMap::new();
    for e in log {
        let (batch, records, outcome) = match *e {
            Seen::Delivered { batch, partition, base_offset, records } => {
                (batch, records, Ok((partition, base_offset)))
            }
            Seen::Failed { batch, records, reason } => (batch, records, Err(reason)),
            _ => continue,
        };
        for index in 0..records {
            let at = outcome.map(|(p, base)| (p, if base < 0 { -1 } else { base + i64::from(index) }));
            assert!(placed.insert(RecordId { batch, index }, at).is_none(), "two completions for {batch:?}/{index}");
        }
    }
    placed
}

/// Every record delivered exactly once, and the broker holds exactly these records, each where
/// its completion says, field by field.
pub(super) fn check_delivered<CE: core::fmt::Debug>(ids: &[RecordId], recs: &[Rec], log: &[Seen<CE>], net: &SharedNet) {
    let placed = placements(log);
    assert_eq!(placed.len(), ids.len(), "one completion per accepted record, none for others");
    let n = net.borrow();
    assert_eq!(n.broker.stored(), recs.len(), "the broker holds every record once");
    for (id, r) in ids.iter().zip(recs) {
        let (partition, offset) = placed[id].unwrap_or_else(|e| panic!("{id:?} failed: {e}"));
        let partition_log = &n.broker.logs[partition as usize];
        let stored = if offset >= 0 {
            &partition_log[offset as usize]
        } else {
            partition_log.iter().find(|s| s.value.as_deref() == Some(&r.value[..])).expect("acks=0 record stored")
        };
        let expected = Stored {
            key: r.key.clone(),
            value: Some(r.value.clone()),
            headers: vec![("idx".to_string(), Some(r.header.clone()))],
            timestamp: r.timestamp,
        };
        assert_eq!(*stored, expected, "record {id:?} at {partition}/{offset}");
    }
}

pub(super) fn links<CE: Clone>(log: &[Seen<CE>]) -> Vec<LinkError<CE, ErrorKind>> {
    log.iter()
        .filter_map(|e| match e {
            Seen::Link { error, .. } => Some(error.clone()),
            _ => None,
        })
        .collect()
}

fn close<C: super::Connector<Stream = Pipe>, const N: usize>(p: &mut Driver<'_, C, N>, log: &mut Vec<Seen<C::Error>>) {
    let deadline = p.now() + Duration::from_secs(10);
    p.close(deadline, |e| log.push(seen(e)));
    assert!(p.is_closed(), "close leaves nothing open");
}

/// A driver in connector mode over a fresh fake broker.
fn connector_driver<'a>(
    config: Config<'static>,
    broker: FakeBroker,
    tx: &'a mut [u8],
    rx: &'a mut [u8],
) -> (Driver<'a, TestConnector>, SharedNet) {
    let net = Net::new(broker);
    let p =
        StreamProducer::new(engine(config), TestConnector::new(&net), TestClock::default(), tx, rx).expect("driver");
    (p, net)
}

#[test]
fn one_stream_serves_bootstrap_and_leader_through_split_io() {
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 8 * 1024]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::Lz4), FakeBroker::new(TOPIC, 3), &mut tx, &mut rx);
    let recs = recs(3000, 60);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    assert!(links(&log).is_empty(), "{log:?}");
    assert_eq!(p.connector().connects, [("broker".to_string(), 9092)], "one connect for both engine connections");
    assert_eq!(p.connector().released, [Release::Clean]);
    let n = net.borrow();
    let handshakes = n.broker.seen.iter().filter(|&&k| k == ApiKey::ApiVersions).count();
    assert_eq!((n.wires.len(), handshakes), (1, 2), "bootstrap and leader connections shared the stream");
    assert!(p.engine().producer_id().is_some(), "idempotent");
}

#[test]
fn bootstrap_mode_shares_its_stream_and_gets_it_back_after_idle() {
    let net = Net::new(FakeBroker::new(TOPIC, 2));
    let config = Config { connections_max_idle: Duration::from_secs(1), ..config(Acks::Leader, Compression::Gzip) };
    let connector = Bootstrap::new(Pipe::open(&net), "BROKER", 9092);
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let mut p: Driver<'_, _> =
        StreamProducer::new(engine(config), connector, TestClock::default(), &mut tx, &mut rx).unwrap();
    let recs = recs(1000, 30);
    let mut log = Vec::new();
    let mut ids = send_all(&mut p, &recs[..500], &mut log);
    // Idle: both engine connections close, and the stream goes back to the connector, clean.
    let until = p.now() + Duration::from_secs(3);
    while p.now() < until {
        let _ = p.poll(|e| log.push(seen(e)));
        let next = p.now() + Duration::from_millis(50);
        p.streams.clock.idle(next);
    }
    assert_eq!(p.open_streams(), 0);
    assert!(p.connector().is_available(), "an idle, clean stream comes back to Bootstrap");
    ids.extend(send_all(&mut p, &recs[500..], &mut log));
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    assert!(links(&log).is_empty(), "{log:?}");
    assert_eq!(net.borrow().wires.len(), 1, "one stream, reused");
    let (_, connector, _) = p.into_parts();
    assert!(connector.into_stream().is_some());
}

#[test]
fn bootstrap_mode_refuses_a_broker_at_another_address() {
    let mut broker = FakeBroker::new(TOPIC, 2);
    broker.host = "elsewhere".to_string();
    let net = Net::new(broker);
    let config = Config {
        delivery_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(1),
        ..config(Acks::All, Compression::None)
    };
    let connector = Bootstrap::new(Pipe::open(&net), "broker", 9092);
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let mut p: Driver<'_, _> =
        StreamProducer::new(engine(config), connector, TestClock::default(), &mut tx, &mut rx).unwrap();
    let recs = recs(50, 10);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    let placed = placements(&log);
    assert_eq!(placed.len(), ids.len());
    assert!(placed.values().all(|o| *o == Err(DeliveryError::DeliveryTimeout)), "{placed:?}");
    let refused = Seen::Link { host: "elsewhere".to_string(), error: LinkError::Connect(BootstrapError::OtherBroker) };
    assert!(log.contains(&refused), "{log:?}");
    assert_eq!(net.borrow().broker.stored(), 0);
}

#[test]
fn failing_streams_are_replaced_without_losing_or_duplicating_records() {
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 3), &mut tx, &mut rx);
    // The first stream fails reading, the second writing, the third is hung up on by the
    // broker; the fourth works.
    net.borrow_mut().next_faults = vec![
        Wire { close_after_requests: Some(9), ..Wire::default() },
        Wire { write_error_after: Some(20_000), ..Wire::default() },
        Wire { read_error_after: Some(700), ..Wire::default() },
    ];
    let recs = recs(2000, 50);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    let errors = links(&log);
    assert!(errors.contains(&LinkError::Read(ErrorKind::ConnectionReset)), "{errors:?}");
    assert!(errors.contains(&LinkError::Write(ErrorKind::BrokenPipe)), "{errors:?}");
    assert!(errors.contains(&LinkError::Closed), "{errors:?}");
    assert_eq!(net.borrow().wires.len(), 4);
    assert_eq!(p.connector().released.iter().filter(|&&r| r == Release::Broken).count(), 3);
}

#[test]
fn refused_connects_are_reported_and_retried() {
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::Lz4), FakeBroker::new(TOPIC, 1), &mut tx, &mut rx);
    p.connector_mut().refuse = 3;
    let recs = recs(200, 20);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    assert_eq!(links(&log), vec![LinkError::Connect("connection refused"); 3]);
    assert_eq!(p.connector().connects.len(), 4);
}

#[test]
fn acks_0_requests_expect_no_answer() {
    // Small batches (many unanswered Produce requests) and frequent Metadata refreshes whose
    // answers must be routed past them.
    let config = Config {
        batch_size: 512,
        batch_max_size: Some(512),
        metadata_max_age: Duration::from_millis(20),
        ..config(Acks::None, Compression::None)
    };
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) = connector_driver(config, FakeBroker::new(TOPIC, 3), &mut tx, &mut rx);
    let recs = recs(2500, 40);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    assert!(links(&log).is_empty(), "answers are routed past the unanswered Produce requests: {log:?}");
    assert!(placements(&log).values().all(|o| matches!(o, Ok((_, -1)))));
    assert_eq!(p.connector().released, [Release::Clean], "nothing owed at the end");
    let seen = &net.borrow().broker.seen;
    let count = |k| seen.iter().filter(|&&s| s == k).count();
    assert!(count(ApiKey::Produce) > MAX_REQUESTS_PER_STREAM && count(ApiKey::Metadata) > 4, "{seen:?}");
}

#[test]
fn late_answers_to_a_timed_out_connection_are_dropped() {
    let config = Config {
        request_timeout: Duration::from_secs(1),
        linger: Duration::ZERO,
        ..config(Acks::All, Compression::None)
    };
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) = connector_driver(config, FakeBroker::new(TOPIC, 1), &mut tx, &mut rx);
    let recs = recs(2, 10);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs[..1], &mut log);
    // The broker turns slow: the next Produce is answered after the engine gave up on its
    // connection (request timeout) and reconnected it over the same stream.
    net.borrow_mut().wires[0].held = Some(Vec::new());
    let mut ids2 = send_all_no_flush(&mut p, &recs[1..], &mut log);
    let until = p.now() + Duration::from_millis(1500);
    while p.now() < until {
        let _ = p.poll(|e| log.push(seen(e)));
        let next = p.now() + Duration::from_millis(10);
        p.streams.clock.idle(next);
    }
    net.borrow_mut().wires[0].release_held();
    let deadline = p.now() + Duration::from_secs(30);
    p.flush_blocking(deadline, |e| log.push(seen(e))).expect("flush");
    close(&mut p, &mut log);
    let mut all = ids;
    all.append(&mut ids2);
    check_delivered(&all, &recs, &log, &net);
    // The engine's reason for dropping the connection is reported (once: the stream stays).
    let timeout = ConnError::RequestTimeout { api: ApiKey::Produce, timeout_ms: 1000 };
    assert_eq!(links(&log), [LinkError::Broker(timeout)], "{log:?}");
    let n = net.borrow();
    let handshakes = n.broker.seen.iter().filter(|&&k| k == ApiKey::ApiVersions).count();
    // Bootstrap, leader, leader again after the timeout; a late answer handed to the new
    // connection would break it and add more.
    assert_eq!((n.wires.len(), handshakes), (1, 3), "{:?}", n.broker.seen);
}

#[test]
fn a_response_frame_too_large_for_the_receive_buffer_is_reported() {
    // 300 partitions make a Metadata answer of several KiB; each stream gets 1 KiB.
    let (mut tx, mut rx) = (vec![0u8; 4096], vec![0u8; 1024]);
    let (mut p, _net) =
        connector_driver(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 300), &mut tx, &mut rx);
    let mut log = Vec::new();
    let record =
        ProducerRecord { topic: TOPIC, partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    let sent = p.send_blocking(&record, Duration::from_secs(2), |e| log.push(seen(e)));
    assert_eq!(sent, Err(SendError::MetadataPending));
    let too_large = links(&log).into_iter().find_map(|e| match e {
        LinkError::FrameTooLarge { needed, capacity } => Some((needed, capacity)),
        _ => None,
    });
    let (needed, capacity) = too_large.unwrap_or_else(|| panic!("no FrameTooLarge in {log:?}"));
    assert!(needed > 4096 && capacity == 1024, "{needed} {capacity}");
}

#[test]
fn a_request_too_large_for_the_transmit_buffer_is_reported_and_its_batch_fails() {
    let config = Config {
        delivery_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(1),
        ..config(Acks::All, Compression::None)
    };
    let (mut tx, mut rx) = (vec![0u8; 512], vec![0u8; 4096]);
    let (mut p, net) = connector_driver(config, FakeBroker::new(TOPIC, 1), &mut tx, &mut rx);
    let mut log = Vec::new();
    let value = vec![b'x'; 1500];
    let record =
        ProducerRecord { topic: TOPIC, partition: None, key: None, value: Some(&value), headers: &[], timestamp: 0 };
    let id = p.send_blocking(&record, Duration::from_secs(10), |e| log.push(seen(e))).expect("accepted");
    let deadline = p.now() + Duration::from_secs(10);
    p.flush_blocking(deadline, |e| log.push(seen(e))).expect("the batch completes (failed)");
    let stalls: Vec<_> = log.iter().filter(|e| matches!(e, Seen::TxTooSmall { .. })).collect();
    assert_eq!(stalls.len(), 1, "reported once per stall: {log:?}");
    assert!(matches!(stalls[0], Seen::TxTooSmall { needed, capacity: 512 } if *needed > 1500));
    assert_eq!(placements(&log).get(&id), Some(&Err(DeliveryError::DeliveryTimeout)));
    assert_eq!(net.borrow().broker.stored(), 0);
}

#[test]
fn an_answer_nobody_asked_for_breaks_the_stream() {
    let (mut tx, mut rx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 1), &mut tx, &mut rx);
    {
        let mut n = net.borrow_mut();
        n.broker.silent = true;
        n.max_read = 4096;
    }
    let mut log = Vec::new();
    let record =
        ProducerRecord { topic: TOPIC, partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    assert_eq!(p.send(&record), Err(SendError::MetadataPending));
    let _ = p.poll(|e| log.push(seen(e)));
    assert_eq!(p.open_streams(), 1, "connected, ApiVersions sent and unanswered");
    // Two frames at once while one answer is owed: the second has no request.
    let frame = [0u8, 0, 0, 6, 0, 0, 0, 1, 0, 0];
    net.borrow_mut().wires[0].push_to_client(&[frame, frame].concat());
    let _ = p.poll(|e| log.push(seen(e)));
    assert!(links(&log).contains(&LinkError::UnexpectedResponse), "{log:?}");
    assert_eq!(p.open_streams(), 0);
    assert_eq!(p.connector().released, [Release::Broken]);
}

#[test]
fn a_negative_frame_length_breaks_the_stream() {
    let (mut tx, mut rx) = (vec![0u8; 4096], vec![0u8; 4096]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 1), &mut tx, &mut rx);
    net.borrow_mut().broker.silent = true;
    let mut log = Vec::new();
    let record =
        ProducerRecord { topic: TOPIC, partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    assert_eq!(p.send(&record), Err(SendError::MetadataPending));
    let _ = p.poll(|e| log.push(seen(e)));
    net.borrow_mut().wires[0].push_to_client(&[0xff, 0xff, 0xff, 0xf0]);
    for _ in 0..4 {
        let _ = p.poll(|e| log.push(seen(e)));
    }
    assert!(links(&log).contains(&LinkError::Malformed), "{log:?}");
}

#[test]
fn a_broker_that_stops_answering_never_blocks_the_driver() {
    let config = Config {
        delivery_timeout: Duration::from_secs(4),
        request_timeout: Duration::from_secs(1),
        ..config(Acks::All, Compression::None)
    };
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) = connector_driver(config, FakeBroker::new(TOPIC, 2), &mut tx, &mut rx);
    // ApiVersions, Metadata, InitProducerId on the bootstrap connection, ApiVersions on the
    // leader's: then silence. Produce requests time out; a `read` while nothing is ready
    // would panic in the test stream.
    net.borrow_mut().broker.answer_limit = Some(4);
    let recs = recs(300, 20);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    let placed = placements(&log);
    assert_eq!(placed.len(), ids.len());
    assert!(placed.values().all(|o| *o == Err(DeliveryError::DeliveryTimeout)), "{placed:?}");
    assert!(net.borrow().broker.seen.iter().filter(|&&k| k == ApiKey::Produce).count() > 1, "retried");
    assert!(p.connector().released.contains(&Release::Broken), "a stream owing answers is not reused");
}

#[test]
fn close_fails_what_is_left_at_the_deadline() {
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, net) =
        connector_driver(config(Acks::All, Compression::None), FakeBroker::new(TOPIC, 2), &mut tx, &mut rx);
    net.borrow_mut().broker.answer_limit = Some(4);
    let recs = recs(100, 20);
    let mut log = Vec::new();
    let mut ids = Vec::new();
    for r in &recs {
        let record = ProducerRecord {
            topic: TOPIC,
            partition: None,
            key: None,
            value: Some(&r.value),
            headers: &[],
            timestamp: 0,
        };
        ids.push(p.send_blocking(&record, Duration::from_secs(10), |e| log.push(seen(e))).expect("send"));
    }
    let start = p.now();
    p.close(start + Duration::from_millis(500), |e| log.push(seen(e)));
    assert!(p.is_closed());
    assert!(p.now() < start + Duration::from_secs(2), "close returns around its deadline");
    let placed = placements(&log);
    assert_eq!(placed.len(), ids.len());
    assert!(placed.values().all(|o| *o == Err(DeliveryError::Closed)), "{placed:?}");
    let record =
        ProducerRecord { topic: TOPIC, partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    assert_eq!(p.send(&record), Err(SendError::Closed));
}

#[test]
fn a_second_broker_needs_a_second_stream_slot() {
    let mut broker = FakeBroker::new(TOPIC, 2);
    broker.host = "elsewhere".to_string();
    let config = Config {
        delivery_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(1),
        ..config(Acks::All, Compression::None)
    };
    // One slot: the bootstrap connection holds it, the leader gets none.
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 4096]);
    let (mut p, _net) = connector_driver(config.clone(), broker, &mut tx, &mut rx);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs(20, 5), &mut log);
    close(&mut p, &mut log);
    assert!(links(&log).contains(&LinkError::NoFreeStream), "{log:?}");
    assert_eq!(placements(&log).len(), ids.len());
    // Two slots: one stream per address.
    let mut broker = FakeBroker::new(TOPIC, 2);
    broker.host = "elsewhere".to_string();
    let (connects, _, _) = two_slots(config, broker);
    let hosts: Vec<&str> = connects.iter().map(|(h, _)| h.as_str()).collect();
    assert_eq!(hosts, ["broker", "elsewhere"]);
}

/// The connects made, the events and the network of [`two_slots`].
type TwoSlots = (Vec<(String, u16)>, Vec<Seen<&'static str>>, SharedNet);

/// 500 records through a driver with two stream slots over `broker`, each checked delivered;
/// returns the connects made, the events and the network.
fn two_slots(config: Config<'static>, broker: FakeBroker) -> TwoSlots {
    let net = Net::new(broker);
    let (mut tx, mut rx) = (vec![0u8; 40 * 1024], vec![0u8; 8192]);
    let mut p: Driver<'_, _, 2> =
        StreamProducer::new(engine(config), TestConnector::new(&net), TestClock::default(), &mut tx, &mut rx).unwrap();
    let recs = recs(500, 20);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
    (p.connector().connects.clone(), log, net)
}

/// SASL authenticates a TCP connection: with `security.protocol=SASL_PLAINTEXT` the bootstrap
/// and leader connections to one broker get a stream each, each authenticated once (shared, the
/// leader's handshake would run again on the bootstrap's authenticated stream: against a real
/// broker the async driver then hung, see `scripts/tap-test.sh --sasl --embassy`).
#[test]
fn with_sasl_each_engine_connection_has_its_own_stream() {
    let mut config = config(Acks::All, Compression::Lz4);
    for (name, value) in [
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "PLAIN"),
        (
            "sasl.jaas.config",
            r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";"#,
        ),
    ] {
        config.set_static_property(name, value).expect(name);
    }
    let mut broker = FakeBroker::new(TOPIC, 3);
    broker.sasl = true;
    let (connects, log, net) = two_slots(config, broker);
    assert!(links(&log).is_empty(), "{log:?}");
    assert_eq!(connects, [("broker".to_string(), 9092), ("broker".to_string(), 9092)]);
    let n = net.borrow();
    let count = |key| n.broker.seen.iter().filter(|&&k| k == key).count();
    assert_eq!(n.wires.len(), 2, "a stream per engine connection");
    assert_eq!((count(ApiKey::SaslHandshake), count(ApiKey::SaslAuthenticate)), (2, 2), "each authenticated once");
}

/// The engine on borrowed arrays, two stream slots, small buffers: the no-heap shape.
#[test]
fn runs_on_borrowed_storage_and_buffers() {
    const MEMORY: usize = 32 * 1024;
    const BATCH: usize = 2048;
    // 4 brokers, 2 topics, 8 partitions, 3 connections, 32 batches, the arena, a batch of scratch.
    let mut storage = StaticStorage::<4, 2, 8, 3, 32, MEMORY, { chunk_map_words(MEMORY, BATCH) }, BATCH>::new();
    let storage = storage.storage();
    let config = Config {
        buffer_memory: MEMORY,
        batch_size: BATCH,
        max_request_size: 6 * 1024,
        compression: Compression::Lz4,
        linger: Duration::from_millis(1),
        ..Config::default()
    };
    let engine = Producer::new(config.validate().unwrap(), &[("broker", 9092)], storage, Instant::ZERO).unwrap();
    let net = Net::new(FakeBroker::new(TOPIC, 4));
    let (mut tx, mut rx) = ([0u8; 7 * 1024], [0u8; 2 * 2048]);
    let mut p: Driver<'_, _, 2> =
        StreamProducer::new(engine, TestConnector::new(&net), TestClock::default(), &mut tx, &mut rx).unwrap();
    let recs = recs(800, 100);
    let mut log = Vec::new();
    let ids = send_all(&mut p, &recs, &mut log);
    close(&mut p, &mut log);
    check_delivered(&ids, &recs, &log, &net);
}

#[test]
fn new_checks_the_buffers_and_slots() {
    let net = Net::new(FakeBroker::new(TOPIC, 1));
    let config = config(Acks::All, Compression::None);
    let mut big = vec![0u8; 4096];
    let mut small = vec![0u8; 100];
    let r: Result<Driver<'_, _, 0>, _> = StreamProducer::new(
        engine(config.clone()),
        TestConnector::new(&net),
        TestClock::default(),
        &mut big,
        &mut small,
    );
    assert_eq!(r.err(), Some(NewError::NoStreams));
    let (mut tx, mut rx) = (vec![0u8; 100], vec![0u8; 4096]);
    let r: Result<Driver<'_, _>, _> =
        StreamProducer::new(engine(config.clone()), TestConnector::new(&net), TestClock::default(), &mut tx, &mut rx);
    assert_eq!(r.err(), Some(NewError::TxBufferTooSmall { len: 100 }));
    let (mut tx, mut rx) = (vec![0u8; 4096], vec![0u8; 3000]);
    let r: Result<Driver<'_, _, 3>, _> =
        StreamProducer::new(engine(config), TestConnector::new(&net), TestClock::default(), &mut tx, &mut rx);
    assert_eq!(r.err(), Some(NewError::RxBufferTooSmall { per_stream: 1000 }));
}
