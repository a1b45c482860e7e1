//! The `engine` targets' interpreter: a script of one-byte opcodes with operands drives the whole
//! producer engine with arbitrary broker bytes, connection outcomes, sends and ticks, and (in a
//! transactional producer) the transactional calls. Besides "no panic", it checks the engine's
//! promises: every record `send` accepted gets exactly one completion once `close` reaches its
//! deadline, and a transactional call that started gets at most one result (one, unless the
//! script ends first).
//!
//! Connections the engine asks for are tracked; opcodes name one of them by index. A script that
//! starts with 0xFF runs a transactional producer (`transactional.id` = `fuzz`).
//!
//! This file is the one interpreter: the seed generators of kprod-core's tests
//! (`core/tests/engine_fuzz_seeds.rs`) include it with `#[path]` and drive [`Engine`] step by
//! step, so a seed replays here exactly as it ran there.

use std::collections::BTreeSet;
use std::time::Duration;

use kprod_core::config::Config;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::txn::{GroupMetadata, TopicPartitionOffset, TxnResult};
use kprod_core::producer::RecordId;
use kprod_core::producer::{Capacities, Completion, Event, Producer, ProducerRecord, Storage, TransmitError};
use kprod_core::time::Instant;

/// The opcodes (`op % OPCODES`), each followed by a 16-bit little-endian argument.
pub mod op {
    /// Time passes by `arg` ms.
    pub const ADVANCE: u8 = 0;
    /// Connection `arg` is up.
    pub const CONNECTED: u8 = 1;
    /// Connection `arg` drops.
    pub const DISCONNECTED: u8 = 2;
    /// `arg % 2048` bytes follow, read on connection `arg` (4 does the same).
    pub const READ: u8 = 3;
    /// `send` a record shaped by `arg` (topic, partition, key, value length).
    pub const SEND: u8 = 5;
    /// `flush`.
    pub const FLUSH: u8 = 6;
    /// `handle_timeout`.
    pub const TICK: u8 = 7;
    /// `init_transactions`.
    pub const INIT: u8 = 8;
    /// `begin_transaction`.
    pub const BEGIN: u8 = 9;
    /// `commit_transaction`.
    pub const COMMIT: u8 = 10;
    /// `abort_transaction`.
    pub const ABORT: u8 = 11;
    /// `send_offsets_to_transaction` with offsets and group metadata shaped by `arg`.
    pub const SEND_OFFSETS: u8 = 12;
}

/// How many opcodes there are.
pub const OPCODES: u8 = 13;
/// The first byte of a script that runs a transactional producer.
pub const TRANSACTIONAL: u8 = 0xFF;
/// The longest READ operand.
pub const MAX_READ: usize = 2048;

/// The targets' configuration: small buffers, so batches fill and requests split.
pub fn config() -> Config<'static> {
    Config { buffer_memory: 64 * 1024, batch_size: 1024, max_request_size: 8 * 1024, ..Config::default() }
}

/// The record opcode SEND sends for `arg`, as (topic, partition, key, value length).
pub fn record_for(arg: u16) -> (&'static str, Option<u32>, Option<[u8; 2]>, usize) {
    let key = (arg % 3 != 0).then(|| arg.to_le_bytes());
    let topic = if arg % 2 == 0 { "t0" } else { "t1" };
    (topic, (arg % 5 == 0).then_some(u32::from(arg % 4)), key, usize::from(arg % 3000))
}

/// The group metadata SEND_OFFSETS uses for `arg`: group `g0`/`g1`, generation -1..=1, a member
/// id or none, and a static member every eighth time.
pub fn group_for(arg: u16) -> (String, i32, String, Option<String>) {
    let generation = i32::from(arg % 3) - 1;
    let member = if generation < 0 { String::new() } else { format!("m-{}", arg % 4) };
    (format!("g{}", arg % 2), generation, member, (arg % 8 == 7).then(|| "static-1".to_owned()))
}

/// An engine run by a script.
pub struct Engine {
    /// The engine under test.
    pub p: Producer<'static>,
    /// Virtual time.
    pub now: Instant,
    /// The connections the engine asked for, in order.
    pub conns: Vec<ConnId>,
    /// Records `send` accepted.
    pub accepted: BTreeSet<RecordId>,
    /// Records completed.
    pub completed: BTreeSet<RecordId>,
    /// Records delivered.
    pub delivered: u32,
    /// Transactional calls that started.
    pub calls: u32,
    /// Their results, in order.
    pub results: Vec<TxnResult>,
    /// Request frames written (connection, frame), when [`Engine::keep_requests`] is set.
    pub requests: Vec<(ConnId, Vec<u8>)>,
    /// Keep the request frames (the seed generators answer them).
    pub keep_requests: bool,
    /// The connections `Event::Connect` named, when [`Engine::keep_requests`] is set.
    pub connects: Vec<ConnId>,
    /// Bytes the last READ left unconsumed.
    pub unread: usize,
    buf: Vec<u8>,
}

impl Engine {
    /// An engine for `config` (transactional with `transactional.id` = `fuzz` if asked), or
    /// `None` if the configuration is refused; `setup` sees it first (e.g. to hand in entropy).
    pub fn new(
        mut config: Config<'static>,
        transactional: bool,
        setup: impl FnOnce(&mut Producer<'static>),
    ) -> Option<Self> {
        if transactional {
            config.set_property("transactional.id", "fuzz").ok()?;
        }
        let caps = Capacities { brokers: 4, topics: 2, partitions: 16, connections: 3, batches: 32 };
        let storage = Storage::with_capacity(&config, caps);
        let valid = config.validate().ok()?;
        let mut p = Producer::new(valid, &[("b0", 9092), ("b1", 9093)], storage, Instant::ZERO).ok()?;
        setup(&mut p);
        Some(Self {
            p,
            now: Instant::ZERO,
            conns: Vec::new(),
            accepted: BTreeSet::new(),
            completed: BTreeSet::new(),
            delivered: 0,
            calls: 0,
            results: Vec::new(),
            requests: Vec::new(),
            keep_requests: false,
            connects: Vec::new(),
            unread: 0,
            buf: vec![0u8; 16 * 1024],
        })
    }

    /// Applies one opcode with its argument (READ takes its bytes from `input`), then drains.
    pub fn step(&mut self, opcode: u8, arg: u16, input: &mut &[u8]) {
        let conn = self.conns.get(usize::from(arg) % self.conns.len().max(1)).copied();
        let now = self.now;
        match opcode % OPCODES {
            op::ADVANCE => self.now = now + Duration::from_millis(u64::from(arg)),
            op::CONNECTED => {
                if let Some(c) = conn {
                    self.p.handle_connected(c, now);
                }
            }
            op::DISCONNECTED => {
                if let Some(c) = conn {
                    self.p.handle_disconnected(c, now);
                }
            }
            op::READ | 4 => {
                let n = (usize::from(arg) % MAX_READ).min(input.len());
                let (bytes, rest) = input.split_at(n);
                *input = rest;
                if let Some(c) = conn {
                    let used = self.p.handle_read(c, bytes, now);
                    assert!(used <= bytes.len());
                    self.unread = bytes.len() - used;
                }
            }
            op::SEND => self.send(arg),
            op::FLUSH => self.p.flush(now),
            op::TICK => self.p.handle_timeout(now),
            op::INIT => self.calls += u32::from(self.p.init_transactions(now).is_ok()),
            op::BEGIN => {
                let _ = self.p.begin_transaction();
            }
            op::COMMIT => self.calls += u32::from(self.p.commit_transaction(now).is_ok()),
            op::ABORT => self.calls += u32::from(self.p.abort_transaction(now).is_ok()),
            _ => self.send_offsets(arg),
        }
        self.drain();
    }

    fn send(&mut self, arg: u16) {
        let (topic, partition, key, len) = record_for(arg);
        let value = vec![b'v'; len];
        let rec = ProducerRecord {
            topic,
            partition,
            key: key.as_ref().map(|k| &k[..]),
            value: Some(&value),
            headers: &[],
            timestamp: 1,
        };
        if let Ok(id) = self.p.send(&rec, self.now) {
            assert!(self.accepted.insert(id), "a RecordId was handed out twice");
        }
    }

    fn send_offsets(&mut self, arg: u16) {
        let (group_id, generation_id, member_id, instance) = group_for(arg);
        let group = GroupMetadata {
            group_id: &group_id,
            generation_id,
            member_id: &member_id,
            group_instance_id: instance.as_deref(),
        };
        let offsets: Vec<TopicPartitionOffset<'_>> = (0..=arg % 3)
            .map(|i| TopicPartitionOffset {
                topic: if i % 2 == 0 { "in0" } else { "in1" },
                partition: i32::from(i),
                offset: i64::from(arg) + i64::from(i),
                leader_epoch: -1,
                metadata: (i == 1).then_some("meta"),
            })
            .collect();
        self.calls += u32::from(self.p.send_offsets_to_transaction(&offsets, &group, self.now).is_ok());
    }

    /// Drains every output as a driver does, checking what the engine promises.
    pub fn drain(&mut self) {
        for _ in 0..64 {
            match self.p.poll_transmit(self.now, &mut self.buf) {
                Ok(Some(t)) => {
                    assert!(t.len <= self.buf.len());
                    if self.keep_requests {
                        self.requests.push((t.conn, self.buf[..t.len].to_vec()));
                    }
                }
                Ok(None) => break,
                Err(TransmitError::BufferTooSmall { needed }) => {
                    assert!(needed > self.buf.len());
                    self.buf.resize(needed, 0);
                }
            }
        }
        while let Some(e) = self.p.poll_event() {
            match e {
                Event::Connect(c) => {
                    if !self.conns.contains(&c) {
                        self.conns.push(c);
                    }
                    // Requests written on the connection's earlier link are gone with it.
                    self.requests.retain(|(conn, _)| *conn != c);
                    if self.keep_requests {
                        self.connects.push(c);
                    }
                }
                Event::Close(c) => self.requests.retain(|(conn, _)| *conn != c),
                Event::Completed(c) => {
                    if matches!(c, Completion::Delivered { .. }) {
                        self.delivered += c.records();
                    }
                    for index in c.indices() {
                        let id = RecordId { batch: c.batch(), index };
                        assert!(self.completed.insert(id), "two completions for one record");
                    }
                }
                _ => {}
            }
        }
        let _ = self.p.poll_timeout();
        while let Some(r) = self.p.poll_txn() {
            self.results.push(r);
        }
        assert!(self.results.len() as u64 <= u64::from(self.calls), "more transactional results than calls");
    }

    /// Closes with an immediate deadline: whatever is incomplete fails, each record exactly once.
    pub fn finish(mut self) {
        let now = self.now;
        self.p.close(now, now);
        self.p.handle_timeout(now);
        self.drain();
        assert_eq!(self.accepted, self.completed, "every accepted record gets exactly one completion");
    }
}

/// Splits off the next opcode and its argument.
pub fn next_op(input: &mut &[u8]) -> Option<(u8, u16)> {
    let (&opcode, rest) = input.split_first()?;
    let lo = rest.first().copied().unwrap_or(0);
    let hi = rest.get(1).copied().unwrap_or(0);
    *input = rest.get(2..).unwrap_or(&[]);
    Some((opcode, u16::from_le_bytes([lo, hi])))
}

/// Runs `data` as a script against an engine built from `config`; `setup` sees the new engine
/// first (e.g. to hand in entropy).
pub fn run(config: Config<'static>, data: &[u8], setup: impl FnOnce(&mut Producer<'static>)) {
    let (transactional, mut input) = match data.split_first() {
        Some((&TRANSACTIONAL, rest)) => (true, rest),
        _ => (false, data),
    };
    let Some(mut engine) = Engine::new(config, transactional, setup) else { return };
    while let Some((opcode, arg)) = next_op(&mut input) {
        engine.step(opcode, arg, &mut input);
    }
    engine.finish();
}
