//! An in-process lab for the driver: one smoltcp interface on a `Loopback` device carries both
//! the producer's sockets (10.0.0.2) and simulated brokers (10.0.0.10, .11, ...) that answer
//! with the core's simulated Kafka cluster (`core/tests/sim/{cluster,broker}.rs`: kprod's
//! broker-side codecs, real record batch parsing and Kafka's idempotence rules). Time is
//! virtual, so every run is the same.
//!
//! Faults: a broker may reset or close a connection when a given Produce request arrives, or
//! fall silent on it (after appending its batches, so only idempotence keeps the log free of
//! duplicates).
#![allow(dead_code, unreachable_pub)]

#[path = "../../../core/tests/sim/broker.rs"]
pub mod broker;
#[path = "../../../core/tests/sim/cluster.rs"]
pub mod cluster;
#[path = "../../../core/tests/sim/coordinator.rs"]
pub mod coordinator;

/// What `broker.rs` needs of the simulator's scenario module (only for its traces).
pub mod scenario {
    /// The record number a value starts with (`value` writes it as 8 ASCII digits).
    pub fn index_of(value: &[u8]) -> Option<usize> {
        core::str::from_utf8(value.get(..8)?).ok()?.parse().ok()
    }
}

use core::time::Duration;
use std::collections::HashMap;

use kprod_core::config::Config;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{BatchId, Completion, RecordId};
use kprod_core::producer::{Capacities, DeliveryError, Producer, ProducerRecord, Storage};
use kprod_core::protocol::split_frame;
use kprod_smoltcp::{to_core, ConnectError, Driver, DriverConfig, LinkError, Report, Slot};
use smoltcp::iface::{Config as IfaceConfig, Interface, PollResult, SocketHandle, SocketSet};
use smoltcp::phy::{Loopback, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::{Duration as NetDuration, Instant};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpListenEndpoint};

use broker::FrameFaults;
use cluster::Cluster;

/// The producer's address.
pub const CLIENT: IpAddress = IpAddress::v4(10, 0, 0, 2);
/// An address in the subnet nobody answers for.
pub const NOBODY: IpAddress = IpAddress::v4(10, 0, 0, 99);
/// Server sockets per broker (connections it can hold at once).
const SERVER_SOCKETS: usize = 3;

/// Broker `node`'s address.
pub const fn broker_ip(node: i32) -> IpAddress {
    IpAddress::v4(10, 0, 0, 10 + node as u8)
}

/// A report as the lab keeps it (owned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    Delivered { batch: BatchId, topic: String, partition: u32, base_offset: i64, records: u32 },
    Failed { batch: BatchId, records: u32, reason: DeliveryError },
    Fatal,
    Connected(ConnId, u16),
    ConnectFailed(ConnId, ConnectError),
    Disconnected(ConnId, LinkError),
    TxTooSmall { needed: usize, capacity: usize },
}

impl From<Report<'_>> for Seen {
    fn from(r: Report<'_>) -> Self {
        match r {
            Report::Completed(Completion::Delivered { batch, topic, partition, base_offset, records, .. }) => {
                Self::Delivered { batch, topic: topic.to_owned(), partition, base_offset, records }
            }
            Report::Completed(Completion::Failed { batch, records, reason, .. }) => {
                Self::Failed { batch, records, reason }
            }
            Report::Fatal(_) => Self::Fatal,
            Report::Connected { conn, local_port, .. } => Self::Connected(conn, local_port),
            Report::ConnectFailed { conn, error } => Self::ConnectFailed(conn, error),
            Report::Disconnected { conn, error } => Self::Disconnected(conn, error),
            Report::TxBufferTooSmall { needed, capacity } => Self::TxTooSmall { needed, capacity },
            _ => panic!("a report the lab does not know: {r:?}"),
        }
    }
}

/// How to build a lab.
#[derive(Debug, Clone)]
pub struct Spec {
    /// Simulated brokers (node ids 0..).
    pub brokers: usize,
    /// Topics and their partition counts.
    pub topics: Vec<(&'static str, usize)>,
    /// The bootstrap address.
    pub bootstrap: (&'static str, u16),
    /// The producer's sockets.
    pub sockets: usize,
    /// Their smoltcp send and receive buffers.
    pub socket_tx: usize,
    /// See `socket_tx`.
    pub socket_rx: usize,
    /// Each slot's response reassembly buffer.
    pub slot_rx: usize,
    /// The transmit frame buffer.
    pub tx: usize,
    /// The engine's configuration.
    pub config: Config<'static>,
    /// The engine's connection slots.
    pub connections: usize,
    /// The driver's configuration (its host table is filled in with the brokers').
    pub driver: DriverConfig<'static>,
    /// Builds the engine's storage (default: `Storage::with_capacity` with `connections`).
    pub storage: Option<fn(&Config<'static>) -> Storage<'static>>,
    /// The transmit buffer is an owned `Vec` (it grows with `alloc`) instead of borrowed.
    pub owned_tx: bool,
}

impl Default for Spec {
    fn default() -> Self {
        Self {
            brokers: 1,
            topics: vec![("t", 3)],
            bootstrap: ("sim-0", 9092),
            sockets: 3,
            socket_tx: 8 * 1024,
            socket_rx: 8 * 1024,
            slot_rx: 4096,
            tx: 64 * 1024,
            // Java's batches (none grows past batch.size while it waits): the tests place faults
            // by request counts.
            config: Config {
                linger: Duration::from_millis(2),
                batch_size: 4096,
                batch_max_size: Some(4096),
                ..Config::default()
            },
            connections: 3,
            driver: DriverConfig { port_seed: 17, ..DriverConfig::default() },
            storage: None,
            owned_tx: false,
        }
    }
}

/// A fault a broker injects when the `nth` Produce request (counted over all brokers, from 1)
/// arrives: its batches are appended, then the connection goes without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The broker resets the connection.
    Reset { nth: usize },
    /// The broker closes the connection (FIN).
    Close { nth: usize },
    /// The broker answers nothing more on the connection until the producer closes it.
    Silent { nth: usize },
}

impl Fault {
    const fn nth(self) -> usize {
        match self {
            Self::Reset { nth } | Self::Close { nth } | Self::Silent { nth } => nth,
        }
    }
}

/// One broker-side socket.
struct Server {
    node: i32,
    handle: SocketHandle,
    rx: Vec<u8>,
    out: Vec<u8>,
    /// Answers nothing until the connection is closed ([`Fault::Silent`]).
    silent: bool,
}

/// The lab.
pub struct Lab {
    pub now: Instant,
    pub device: Loopback,
    pub iface: Interface,
    pub sockets: SocketSet<'static>,
    pub driver: Driver<'static>,
    pub cluster: Cluster,
    pub seen: Vec<Seen>,
    pub faults: Vec<Fault>,
    pub produce_requests: usize,
    /// Steps that woke for the driver's `poll_at` (not the interface's, not a busy round) in
    /// which its `poll` did nothing: the engine named a deadline it does not act on.
    pub idle_wakes: usize,
    /// The step under way woke for the driver's `poll_at`.
    woke_for_driver: bool,
    servers: Vec<Server>,
    /// Record ids `send` returned, with the (key, value) sent.
    pub sent: Vec<(RecordId, Option<Vec<u8>>, Vec<u8>)>,
}

fn leak(n: usize) -> &'static mut [u8] {
    leak_slice(0u8, n)
}

/// `n` copies of `value` in a borrowed `'static` slice (as a firmware's static arrays).
pub fn leak_slice<T: Clone>(value: T, n: usize) -> &'static mut [T] {
    Box::leak(vec![value; n].into_boxed_slice())
}

impl Lab {
    pub fn new(spec: Spec) -> Self {
        let mut device = Loopback::new(Medium::Ip);
        let mut config = IfaceConfig::new(HardwareAddress::Ip);
        config.random_seed = 0x6b70_726f_6400;
        let now = Instant::from_millis(1);
        let mut iface = Interface::new(config, &mut device, now);
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(CLIENT, 24)).unwrap();
            for node in 0..spec.brokers as i32 {
                a.push(IpCidr::new(broker_ip(node), 24)).unwrap();
            }
        });
        let mut sockets = SocketSet::new(vec![]);
        let mut slots = Vec::new();
        for _ in 0..spec.sockets {
            let rx = tcp::SocketBuffer::new(leak(spec.socket_rx));
            let tx = tcp::SocketBuffer::new(leak(spec.socket_tx));
            let handle = sockets.add(tcp::Socket::new(rx, tx));
            // Borrowed buffers: the no-heap path of the driver.
            slots.push(Slot::new(handle, leak(spec.slot_rx)));
        }
        let mut servers = Vec::new();
        for node in 0..spec.brokers as i32 {
            for _ in 0..SERVER_SOCKETS {
                let buffers = (tcp::SocketBuffer::new(leak(64 * 1024)), tcp::SocketBuffer::new(leak(64 * 1024)));
                let handle = sockets.add(tcp::Socket::new(buffers.0, buffers.1));
                servers.push(Server { node, handle, rx: Vec::new(), out: Vec::new(), silent: false });
            }
        }
        let hosts: Vec<(&'static str, IpAddress)> =
            (0..spec.brokers as i32).map(|n| (&*Box::leak(cluster::host(n).into_boxed_str()), broker_ip(n))).collect();
        let hosts: &'static [(&'static str, IpAddress)] = Box::leak(hosts.into_boxed_slice());
        let caps = Capacities { connections: spec.connections, ..Capacities::default() };
        let storage =
            spec.storage.map_or_else(|| Storage::with_capacity(&spec.config, caps), |make| make(&spec.config));
        let producer =
            Producer::new(spec.config.validate().unwrap(), &[spec.bootstrap], storage, to_core(now)).unwrap();
        let slots: &'static mut [Slot<'static>] = Box::leak(slots.into_boxed_slice());
        let driver_config = DriverConfig { hosts, ..spec.driver };
        let driver = if spec.owned_tx {
            Driver::new(producer, slots, vec![0u8; spec.tx], driver_config)
        } else {
            Driver::new(producer, slots, leak(spec.tx), driver_config)
        };
        let driver = driver.unwrap();
        let cluster = Cluster::new(spec.brokers, &spec.topics);
        Self {
            now,
            device,
            iface,
            sockets,
            driver,
            cluster,
            seen: Vec::new(),
            faults: Vec::new(),
            produce_requests: 0,
            idle_wakes: 0,
            woke_for_driver: false,
            servers,
            sent: Vec::new(),
        }
    }

    /// One round: the interface, the brokers, the driver; then time moves on (by 20 µs after a
    /// busy round, else to the next deadline, at most 50 ms).
    pub fn step(&mut self) {
        let changed = self.iface.poll(self.now, &mut self.device, &mut self.sockets) == PollResult::SocketStateChanged;
        let served = self.serve();
        let seen = &mut self.seen;
        let progressed = self.driver.poll(self.now, &mut self.iface, &mut self.sockets, |r| seen.push(r.into()));
        if self.woke_for_driver && !progressed {
            self.idle_wakes += 1;
        }
        self.woke_for_driver = false;
        let step =
            if changed || served || progressed {
                NetDuration::from_micros(20)
            } else {
                let (net, driver) = (self.iface.poll_at(self.now, &self.sockets), self.driver.poll_at());
                let next = [net, driver].into_iter().flatten().min();
                let wait = next.map_or(NetDuration::from_millis(50), |t| {
                    if t > self.now {
                        t - self.now
                    } else {
                        NetDuration::ZERO
                    }
                });
                self.woke_for_driver = driver.is_some() && next == driver && wait <= NetDuration::from_millis(50);
                wait.clamp(NetDuration::from_micros(20), NetDuration::from_millis(50))
            };
        self.now += step;
    }

    /// Steps until `done` or `limit` of virtual time has passed; returns whether `done`.
    pub fn run_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.now + NetDuration::from(limit);
        while self.now < end {
            if done(self) {
                return true;
            }
            self.step();
        }
        done(self)
    }

    /// Sends `value` (keyed by `key`) to `topic`, stepping while the engine asks to wait.
    pub fn send(&mut self, topic: &'static str, key: Option<Vec<u8>>, value: Vec<u8>) {
        let end = self.now + NetDuration::from_secs(60);
        loop {
            let record = ProducerRecord {
                topic,
                partition: None,
                key: key.as_deref(),
                value: Some(&value),
                headers: &[],
                timestamp: 1,
            };
            match self.driver.send(&record, self.now) {
                Ok(id) => {
                    self.sent.push((id, key, value));
                    return;
                }
                Err(e) if e.is_retriable() && self.now < end => self.step(),
                Err(e) => panic!("send failed: {e} at {}", self.now),
            }
        }
    }

    /// Flushes and steps until every batch is complete (or `limit` passes).
    pub fn finish(&mut self, limit: Duration) -> bool {
        self.driver.flush(self.now);
        self.run_until(limit, |lab| lab.driver.producer().pending_batches() == 0)
    }

    /// The broker side of one round: accept, read requests, answer (or inject a fault).
    fn serve(&mut self) -> bool {
        let mut did = false;
        let now = to_core(self.now);
        for srv in &mut self.servers {
            let s = self.sockets.get_mut::<tcp::Socket>(srv.handle);
            if !s.is_open() {
                srv.rx.clear();
                srv.out.clear();
                srv.silent = false;
                let ep = IpListenEndpoint { addr: Some(broker_ip(srv.node)), port: cluster::PORT };
                s.listen(ep).unwrap();
                continue;
            }
            while s.can_recv() {
                did = true;
                let _ = s.recv(|b| {
                    srv.rx.extend_from_slice(b);
                    (b.len(), ())
                });
            }
            while let Ok(Some((frame, used))) = split_frame(&srv.rx, 64 << 20) {
                let frame = frame.to_vec();
                srv.rx.drain(..used);
                did = true;
                let produce = frame.starts_with(&0i16.to_be_bytes());
                if produce {
                    self.produce_requests += 1;
                }
                let (_, reply) =
                    self.cluster.handle_frame(srv.node, &frame, now, FrameFaults::default(), &mut |_| None);
                let fault = self.faults.iter().find(|f| produce && f.nth() == self.produce_requests);
                srv.silent |= matches!(fault, Some(Fault::Silent { .. }));
                match (fault, reply) {
                    _ if srv.silent => {}
                    (Some(Fault::Reset { .. }), _) | (None, broker::Reply::Close) => {
                        s.abort();
                        srv.rx.clear();
                        srv.out.clear();
                        break;
                    }
                    (Some(Fault::Close { .. }), _) => {
                        s.close();
                        srv.rx.clear();
                        break;
                    }
                    (None, broker::Reply::Response(bytes)) => srv.out.extend_from_slice(&bytes),
                    (None, broker::Reply::Nothing) | (Some(Fault::Silent { .. }), _) => {}
                }
            }
            if !srv.out.is_empty() && s.may_send() {
                let n = s.send_slice(&srv.out).unwrap_or(0);
                srv.out.drain(..n);
                did |= n > 0;
            }
            if s.state() == tcp::State::CloseWait && !s.can_recv() && srv.out.is_empty() {
                s.close();
                did = true;
            }
        }
        assert!(self.cluster.violations.is_empty(), "protocol violations: {:?}", self.cluster.violations);
        did
    }

    /// Checks that every record sent is in its partition's log exactly once, at the offset its
    /// completion reported, and that each record got exactly one completion. Returns the
    /// number of records delivered.
    pub fn check_delivered_once(&self, topic: &str) -> usize {
        let mut batches: HashMap<BatchId, (u32, i64, u32)> = HashMap::new();
        for s in &self.seen {
            match s {
                Seen::Delivered { batch, topic: t, partition, base_offset, records } if t == topic => {
                    assert!(
                        batches.insert(*batch, (*partition, *base_offset, *records)).is_none(),
                        "batch {batch:?} completed twice"
                    );
                }
                Seen::Failed { batch, .. } => panic!("batch {batch:?} failed: {s:?}"),
                _ => {}
            }
        }
        let t = self.cluster.topic(topic).expect("topic");
        let logs = &self.cluster.topics[t].partitions;
        for (id, key, value) in &self.sent {
            let (partition, base, records) =
                batches.get(&id.batch).unwrap_or_else(|| panic!("no completion for {id:?}"));
            assert!(id.index < *records, "{id:?} outside its batch of {records}");
            let offset = base + i64::from(id.index);
            let stored = &logs[*partition as usize].log[usize::try_from(offset).unwrap()];
            assert_eq!(
                (stored.offset, &stored.key, stored.value.as_deref()),
                (offset, key, Some(&value[..])),
                "record {id:?}"
            );
        }
        let total: usize = logs.iter().map(|p| p.log.len()).sum();
        assert_eq!(total, self.sent.len(), "the logs hold {total} records, {} were sent: duplicates", self.sent.len());
        total
    }
}

/// A unique, checkable value for record `i`: its number, then bytes derived from it.
pub fn value(i: usize, len: usize) -> Vec<u8> {
    let mut v = format!("{i:08}:").into_bytes();
    v.extend((0..len).map(|j| (i * 31 + j * 7) as u8));
    v
}
