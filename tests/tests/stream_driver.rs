//! kprod-smoltcp's `stream` driver (the embedded-io blocking driver) against the real broker,
//! over std sockets through `embedded_io_adapters::std::FromStd<TcpStream>`. Each test reads
//! back what it produced with the independent verifier (kafka-python) and compares every record
//! field by field: exactly once, where its completion said, with its key, value, headers and
//! timestamp.

extern crate alloc;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::io::{self, ErrorKind};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Instant as StdInstant;

use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};
use embedded_io_adapters::std::FromStd;
use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::partitioner::key_partition;

use kprod_core::producer::{
    chunk_map_words, Capacities, DeliveryError, Producer, ProducerRecord, RecordId, StaticStorage, Storage,
};
use kprod_core::record::Header;
use kprod_core::time::Instant;
use kprod_smoltcp::stream::{Bootstrap, BootstrapError, Clock, Connector, Event, LinkError, StreamProducer};
use kprod_tests::{unique_topic, Broker, ConsumedRecord};

const PARTITIONS: u32 = 3;

/// A std socket as an embedded-io stream with readiness: `FromStd` does the reads and writes
/// on a nonblocking socket; `read_ready` peeks, and writes go through a bounded outbox that
/// `write_ready` reports on (so a full socket buffer never blocks the driver).
struct TcpLink {
    inner: FromStd<TcpStream>,
    out: Vec<u8>,
}

/// Bytes the outbox holds before `write_ready` says no.
const OUTBOX: usize = 32 * 1024;

impl TcpLink {
    fn open(host: &str, port: u16) -> io::Result<Self> {
        let addr = (host, port).to_socket_addrs()?.next().ok_or_else(|| io::Error::from(ErrorKind::NotFound))?;
        let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        sock.set_nodelay(true)?;
        sock.set_nonblocking(true)?;
        Ok(Self { inner: FromStd::new(sock), out: Vec::new() })
    }

    /// Moves the outbox into the socket until it would block.
    fn push_out(&mut self) -> io::Result<()> {
        while !self.out.is_empty() {
            match self.inner.write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl ErrorType for TcpLink {
    type Error = io::Error;
}

impl ReadReady for TcpLink {
    fn read_ready(&mut self) -> io::Result<bool> {
        self.push_out()?;
        match self.inner.inner().peek(&mut [0u8; 1]) {
            Ok(_) => Ok(true), // data, or 0 = end of stream (read returns 0)
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(e),
        }
    }
}

impl Read for TcpLink {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl WriteReady for TcpLink {
    fn write_ready(&mut self) -> io::Result<bool> {
        self.push_out()?;
        Ok(self.out.len() < OUTBOX)
    }
}

impl Write for TcpLink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push_out()?;
        let n = buf.len().min(OUTBOX.saturating_sub(self.out.len()));
        assert!(n > 0 || buf.is_empty(), "write while write_ready said no");
        self.out.extend_from_slice(&buf[..n]);
        self.push_out()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.push_out()
    }
}

/// Opens a [`TcpLink`] per connect, and counts them.
#[derive(Default)]
struct TcpConnector {
    connects: Vec<(String, u16)>,
}

impl Connector for TcpConnector {
    type Stream = TcpLink;
    type Error = io::Error;

    fn connect(&mut self, host: &str, port: u16) -> io::Result<TcpLink> {
        self.connects.push((host.to_owned(), port));
        TcpLink::open(host, port)
    }
}

/// Monotonic time since the test started; idles by sleeping.
struct StdClock(StdInstant);

impl Clock for StdClock {
    fn now(&mut self) -> Instant {
        Instant::from_micros(self.0.elapsed().as_micros() as u64)
    }

    fn idle(&mut self, until: Instant) {
        let now = self.now();
        std::thread::sleep(until.saturating_duration_since(now));
    }
}

fn broker_address(broker: &Broker) -> (String, u16) {
    let first = broker.bootstrap().split(',').next().expect("a bootstrap address");
    let (host, port) = first.rsplit_once(':').expect("host:port");
    (host.to_owned(), port.parse().expect("port"))
}

/// A record the test sends, owned.
struct Rec {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

/// Keys (null, empty, 101 distinct), values from empty to ~600 bytes (tombstones when asked),
/// zero to two headers (one with a null value), increasing timestamps.
fn recs(n: usize, tombstones: bool) -> Vec<Rec> {
    (0..n)
        .map(|i| Rec {
            key: match i % 5 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(format!("key-{}", i % 101).into_bytes()),
            },
            value: (!tombstones || i % 97 != 3).then(|| {
                let len = (i * 7) % 600;
                (0..len).map(|j| b"abcdefghijklmnopqrstuvwxyz0123456789"[(i + j) % 36]).collect()
            }),
            headers: match i % 3 {
                0 => Vec::new(),
                1 => vec![("trace".to_owned(), Some(format!("t-{i}").into_bytes()))],
                _ => vec![("trace".to_owned(), Some(format!("t-{i}").into_bytes())), ("empty".to_owned(), None)],
            },
            timestamp: 1_700_000_000_000 + i as i64,
        })
        .collect()
}

type Placed = BTreeMap<RecordId, Result<(u32, i64), DeliveryError>>;

/// Keeps every completion, panicking on a record covered twice; counts stream trouble.
fn on_event<CE: core::fmt::Debug, SE: core::fmt::Debug>(
    placed: &mut Placed,
    trouble: &mut Vec<String>,
    e: Event<'_, CE, SE>,
) {
    let (batch, records, outcome) = match e {
        Event::Completed(c) => (c.batch(), c.records(), c.result().map(|base| (c.partition(), base))),
        other => {
            trouble.push(other.to_string());
            return;
        }
    };
    for index in 0..records {
        let at = outcome.map(|(p, base)| (p, base + i64::from(index)));
        assert!(placed.insert(RecordId { batch, index }, at).is_none(), "two completions for {batch:?}/{index}");
    }
}

/// Sends every record (polling after each, waiting on retriable errors), flushes, closes.
fn produce<C: Connector, K: Clock, const N: usize>(
    p: &mut StreamProducer<'_, C, K, N>,
    topic: &str,
    recs: &[Rec],
) -> (Vec<RecordId>, Placed, Vec<String>)
where
    C::Error: core::fmt::Debug,
{
    let (mut placed, mut trouble) = (Placed::new(), Vec::new());
    let mut ids = Vec::with_capacity(recs.len());
    for r in recs {
        let headers: Vec<Header<'_>> = r.headers.iter().map(|(k, v)| Header { key: k, value: v.as_deref() }).collect();
        let record = ProducerRecord {
            topic,
            partition: None,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &headers,
            timestamp: r.timestamp,
        };
        let id = p
            .send_blocking(&record, Duration::from_secs(60), |e| on_event(&mut placed, &mut trouble, e))
            .unwrap_or_else(|e| panic!("send: {e}; stream trouble: {trouble:?}"));
        ids.push(id);
        let _ = p.poll(|e| on_event(&mut placed, &mut trouble, e));
    }
    let deadline = p.now() + Duration::from_secs(120);
    p.flush_blocking(deadline, |e| on_event(&mut placed, &mut trouble, e))
        .unwrap_or_else(|e| panic!("flush: {e}; stream trouble: {trouble:?}"));
    let deadline = p.now() + Duration::from_secs(10);
    p.close(deadline, |e| on_event(&mut placed, &mut trouble, e));
    assert!(p.is_closed());
    (ids, placed, trouble)
}

/// Every record delivered once, read back once, field by field, where its completion said.
fn verify(broker: &Broker, topic: &str, recs: &[Rec], ids: &[RecordId], placed: &Placed) {
    assert_eq!(placed.len(), ids.len(), "one completion per accepted record");
    let read = broker.read_back(topic, recs.len(), Duration::from_secs(120));
    assert_eq!(read.len(), recs.len(), "nothing missing, nothing twice");
    let mut by_place: BTreeMap<(i32, i64), &ConsumedRecord> = BTreeMap::new();
    for r in &read {
        assert!(
            by_place.insert((r.partition, r.offset), r).is_none(),
            "offset {}/{} read twice",
            r.partition,
            r.offset
        );
    }
    for (id, sent) in ids.iter().zip(recs) {
        let (partition, offset) = placed[id].unwrap_or_else(|e| panic!("{id:?} failed: {e}"));
        let got =
            by_place.get(&(partition as i32, offset)).unwrap_or_else(|| panic!("nothing at {partition}/{offset}"));
        if let Some(k) = sent.key.as_deref() {
            assert_eq!(partition, key_partition(k, PARTITIONS), "keyed records go where the Java client puts them");
        }
        assert_eq!(got.topic, topic);
        assert_eq!(got.key, sent.key, "key at {partition}/{offset}");
        assert_eq!(got.value, sent.value, "value at {partition}/{offset}");
        assert_eq!(got.headers, sent.headers, "headers at {partition}/{offset}");
        assert_eq!((got.timestamp, got.timestamp_type), (sent.timestamp, 0), "timestamp at {partition}/{offset}");
    }
}

/// 50,000 records, lz4, acks=all (idempotent), connector mode; the engine's storage and the
/// driver's buffers are borrowed arrays (the no-heap shape), on a thread with a large stack.
#[test]
fn lz4_idempotent_50k_records_on_borrowed_storage() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(lz4_on_arrays)
        .expect("thread")
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

fn lz4_on_arrays() {
    const MEMORY: usize = 2 << 20;
    const BATCH: usize = 32 * 1024;
    const MAX_REQUEST: usize = 256 * 1024;
    let broker = Broker::shared();
    let topic = unique_topic("stream-lz4");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (host, port) = broker_address(broker);

    // 4 brokers, 2 topics, 16 partitions, 4 connections, 512 batches, the arena, lz4 scratch.
    let mut storage =
        StaticStorage::<4, 2, 16, 4, 512, MEMORY, { chunk_map_words(MEMORY, BATCH) }, { MAX_REQUEST + 1024 }>::new();
    let storage = storage.storage();
    let config = Config {
        compression: Compression::Lz4,
        acks: Acks::All,
        buffer_memory: MEMORY,
        batch_size: BATCH,
        max_request_size: MAX_REQUEST,
        ..Config::default()
    };
    let engine = Producer::new(config.validate().unwrap(), &[(&host, port)], storage, Instant::ZERO).unwrap();
    assert!(engine.idempotent());
    let mut tx = [0u8; MAX_REQUEST + 8 * 1024];
    let mut rx = [0u8; 16 * 1024];
    let clock = StdClock(StdInstant::now());
    let mut p: StreamProducer<'_, _, _> =
        StreamProducer::new(engine, TcpConnector::default(), clock, &mut tx, &mut rx).expect("driver");
    let recs = recs(50_000, false);
    let (ids, placed, trouble) = produce(&mut p, &topic, &recs);
    assert!(trouble.is_empty(), "{trouble:?}");
    assert_eq!(p.connector().connects.len(), 1, "the bootstrap and leader connections share one stream");
    let m = p.engine().metrics();
    assert_eq!((m.records_sent as usize, m.records_delivered as usize), (recs.len(), recs.len()));
    verify(broker, &topic, &recs, &ids, &placed);
}

/// Bootstrap-only mode: one stream opened up front, gzip, acks=1.
#[test]
fn gzip_acks_1_bootstrap_only() {
    let broker = Broker::shared();
    let topic = unique_topic("stream-gzip");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (host, port) = broker_address(broker);
    let config = Config { compression: Compression::Gzip, acks: Acks::Leader, ..Config::default() };
    let storage = Storage::with_capacity(&config, Capacities::default());
    let engine = Producer::new(config.validate().unwrap(), &[(&host, port)], storage, Instant::ZERO).unwrap();
    let stream = TcpLink::open(&host, port).expect("connect");
    let (mut tx, mut rx) = (vec![0u8; (1 << 20) + 16 * 1024], vec![0u8; 16 * 1024]);
    let clock = StdClock(StdInstant::now());
    let mut p: StreamProducer<'_, _, _> =
        StreamProducer::new(engine, Bootstrap::new(stream, &host, port), clock, &mut tx, &mut rx).expect("driver");
    let recs = recs(20_000, false);
    let (ids, placed, trouble) = produce(&mut p, &topic, &recs);
    assert!(trouble.is_empty(), "{trouble:?}");
    let (_, connector, _) = p.into_parts();
    assert!(connector.into_stream().is_some(), "the stream came back clean after close");
    verify(broker, &topic, &recs, &ids, &placed);
}

/// No compression, acks=all, tombstones, two stream slots (one used: one broker).
#[test]
fn uncompressed_tombstones_two_slots() {
    let broker = Broker::shared();
    let topic = unique_topic("stream-none");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (host, port) = broker_address(broker);
    let config = Config { linger: Duration::from_millis(1), ..Config::default() };
    let storage = Storage::with_capacity(&config, Capacities::default());
    let engine = Producer::new(config.validate().unwrap(), &[(&host, port)], storage, Instant::ZERO).unwrap();
    let (mut tx, mut rx) = (vec![0u8; (1 << 20) + 16 * 1024], vec![0u8; 2 * 8192]);
    let clock = StdClock(StdInstant::now());
    let mut p: StreamProducer<'_, _, _, 2> =
        StreamProducer::new(engine, TcpConnector::default(), clock, &mut tx, &mut rx).expect("driver");
    let recs = recs(10_000, true);
    let (ids, placed, trouble) = produce(&mut p, &topic, &recs);
    assert!(trouble.is_empty(), "{trouble:?}");
    assert_eq!(p.connector().connects.len(), 1);
    verify(broker, &topic, &recs, &ids, &placed);
}

/// Bootstrap-only mode under a name the broker does not advertise: the leader's address is
/// refused with a typed error, and every record fails once (nothing is written).
#[test]
fn bootstrap_only_refuses_a_broker_it_cannot_reach() {
    let broker = Broker::shared();
    let topic = unique_topic("stream-refused");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (host, port) = broker_address(broker);
    assert_eq!(host, "127.0.0.1", "the test broker advertises 127.0.0.1");
    let config = Config {
        delivery_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let storage = Storage::with_capacity(&config, Capacities::default());
    let engine = Producer::new(config.validate().unwrap(), &[("localhost", port)], storage, Instant::ZERO).unwrap();
    let stream = TcpLink::open(&host, port).expect("connect");
    let (mut tx, mut rx) = (vec![0u8; (1 << 20) + 16 * 1024], vec![0u8; 16 * 1024]);
    let clock = StdClock(StdInstant::now());
    let mut p: StreamProducer<'_, _, _> =
        StreamProducer::new(engine, Bootstrap::new(stream, "localhost", port), clock, &mut tx, &mut rx)
            .expect("driver");
    let recs = recs(100, false);
    let (mut placed, mut refused) = (Placed::new(), Vec::new());
    let mut ids = Vec::new();
    let mut on = |e: Event<'_, BootstrapError, io::Error>| match e {
        Event::Link { host, port: at, error: LinkError::Connect(BootstrapError::OtherBroker) } => {
            refused.push((host.to_owned(), at))
        }
        other => on_event(&mut placed, &mut Vec::new(), other),
    };
    for r in &recs {
        let record = ProducerRecord {
            topic: &topic,
            partition: None,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: &[],
            timestamp: r.timestamp,
        };
        ids.push(
            p.send_blocking(&record, Duration::from_secs(30), &mut on)
                .expect("metadata comes over the bootstrap stream"),
        );
    }
    let deadline = p.now() + Duration::from_secs(30);
    p.flush_blocking(deadline, &mut on).expect("every batch completes");
    let deadline = p.now() + Duration::from_secs(5);
    p.close(deadline, &mut on);
    assert!(refused.contains(&(host.clone(), port)), "the refusal names the broker: {refused:?}");
    assert_eq!(placed.len(), ids.len());
    assert!(placed.values().all(|o| *o == Err(DeliveryError::DeliveryTimeout)), "{placed:?}");
    assert_eq!(p.engine().metrics().records_delivered, 0);
}

/// The documented minimum receive share (1 KiB holds Kafka's largest answer here, ApiVersions)
/// and a transmit buffer of `max.request.size + 2 KiB`, with small requests: a firmware's
/// budget.
#[test]
fn smallest_buffers_against_kafka() {
    let broker = Broker::shared();
    let topic = unique_topic("stream-small");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (host, port) = broker_address(broker);
    let config = Config { batch_size: 1024, max_request_size: 2048, buffer_memory: 64 * 1024, ..Config::default() };
    let storage = Storage::with_capacity(&config, Capacities::default());
    let engine = Producer::new(config.validate().unwrap(), &[(&host, port)], storage, Instant::ZERO).unwrap();
    let (mut tx, mut rx) = (vec![0u8; 2048 + 2048], vec![0u8; kprod_smoltcp::stream::MIN_RX_PER_STREAM]);
    let clock = StdClock(StdInstant::now());
    let mut p: StreamProducer<'_, _, _> =
        StreamProducer::new(engine, TcpConnector::default(), clock, &mut tx, &mut rx).expect("driver");
    let recs: Vec<Rec> =
        recs(3_000, false).into_iter().filter(|r| r.value.as_ref().is_some_and(|v| v.len() < 400)).collect();
    let (ids, placed, trouble) = produce(&mut p, &topic, &recs);
    assert!(trouble.is_empty(), "{trouble:?}");
    verify(broker, &topic, &recs, &ids, &placed);
}
