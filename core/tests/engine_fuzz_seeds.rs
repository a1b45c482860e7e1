//! Seeds for the `engine` fuzz target (`fuzz/fuzz_targets/engine.rs`): scripts of its opcodes
//! that take the engine through a whole session with valid broker answers (ApiVersions,
//! Metadata, InitProducerId, Produce from the simulated cluster of `sim/`), so the fuzzer
//! starts from deliveries instead of rarely getting past the handshake.
//!
//! The test runs each script and checks that records were delivered: the scripts stay deep
//! as the engine changes. `KPROD_WRITE_FUZZ_SEEDS=1 cargo test -p kprod-core --test
//! engine_fuzz_seeds` writes them to `fuzz/corpus/engine/session-*`.
//!
//! The generator mirrors the fuzz target's interpreter exactly (same config, storage, opcodes
//! and drain), so a script replays there as it ran here. The `engine_sasl` target's scripts
//! start with a byte that picks the mechanism, and the simulated brokers authenticate
//! (`sim/sasl.rs`); they go to `fuzz/corpus/engine_sasl/session-*`.
#![cfg(feature = "std")]

extern crate alloc;

mod sim;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::path::PathBuf;

use kprod_core::config::Config;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Capacities, Completion, Event, Producer, ProducerRecord, Storage, TransmitError};
use kprod_core::time::Instant;

use kprod_core::sasl::Mechanism;
use sim::broker::{FrameFaults, Reply};
use sim::cluster::Cluster;
use sim::sasl::{intercept, LinkAuth, SimSasl};

/// The fuzz target's opcodes (`op % 8`).
const ADVANCE: u8 = 0;
const CONNECTED: u8 = 1;
const READ: u8 = 3;
const SEND: u8 = 5;
const FLUSH: u8 = 6;

/// A script under construction, and the engine it drives the way the fuzz target does.
struct Generator {
    p: Producer<'static>,
    cluster: Cluster,
    now: Instant,
    conns: Vec<ConnId>,
    buf: Vec<u8>,
    /// Request frames written per connection, not yet answered.
    requests: BTreeMap<u16, Vec<Vec<u8>>>,
    delivered: u32,
    accepted: u32,
    script: Vec<u8>,
    /// Authenticating brokers (the `engine_sasl` target), and each connection's state there.
    sasl: Option<SimSasl>,
    auth: BTreeMap<u16, LinkAuth>,
}

impl Generator {
    fn new(sasl: Option<SimSasl>) -> Self {
        // As in the fuzz target.
        let mut config =
            Config { buffer_memory: 64 * 1024, batch_size: 1024, max_request_size: 8 * 1024, ..Config::default() };
        // The engine_sasl target's first byte picks the mechanism in this order.
        const MECHANISMS: [Mechanism; 4] =
            [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer];
        let mut script = Vec::new();
        if let Some(s) = &sasl {
            config.sasl = s.config();
            script.push(MECHANISMS.iter().position(|&m| m == s.mechanism).expect("a known mechanism") as u8);
        }
        let caps = Capacities { brokers: 4, topics: 2, partitions: 16, connections: 3, batches: 32 };
        let storage = Storage::with_capacity(&config, caps);
        let valid = config.validate().expect("the fuzz target's config is valid");
        let mut p = Producer::new(valid, &[("b0", 9092), ("b1", 9093)], storage, Instant::ZERO).expect("engine");
        if sasl.is_some() {
            p.handle_entropy(b"fuzz-entropy");
        }
        Self {
            p,
            cluster: Cluster::new(1, &[("t0", 4), ("t1", 2)]),
            now: Instant::ZERO,
            conns: Vec::new(),
            buf: vec![0u8; 16 * 1024],
            requests: BTreeMap::new(),
            delivered: 0,
            accepted: 0,
            script,
            sasl,
            auth: BTreeMap::new(),
        }
    }

    /// Appends one opcode with its 16-bit argument (and `extra` operand bytes), applies it as
    /// the fuzz target does, then drains as it does.
    fn op(&mut self, op: u8, arg: u16, extra: &[u8]) {
        self.script.push(op);
        self.script.extend_from_slice(&arg.to_le_bytes());
        self.script.extend_from_slice(extra);
        let conn = self.conns.get(usize::from(arg) % self.conns.len().max(1)).copied();
        match op {
            ADVANCE => self.now = self.now + Duration::from_millis(u64::from(arg)),
            CONNECTED => {
                if let Some(c) = conn {
                    self.p.handle_connected(c, self.now);
                }
            }
            READ => {
                if let Some(c) = conn {
                    let used = self.p.handle_read(c, extra, self.now);
                    assert!(used + 3 >= extra.len(), "a whole response frame was not consumed");
                }
            }
            SEND => {
                let key = (arg % 3 != 0).then(|| arg.to_le_bytes());
                let value = vec![b'v'; usize::from(arg % 3000)];
                let topic = if arg % 2 == 0 { "t0" } else { "t1" };
                let rec = ProducerRecord {
                    topic,
                    partition: (arg % 5 == 0).then_some(u32::from(arg % 4)),
                    key: key.as_ref().map(|k| &k[..]),
                    value: Some(&value),
                    headers: &[],
                    timestamp: 1,
                };
                if self.p.send(&rec, self.now).is_ok() {
                    self.accepted += 1;
                }
            }
            FLUSH => self.p.flush(self.now),
            _ => self.p.handle_timeout(self.now),
        }
        self.drain();
    }

    /// The fuzz target's drain, keeping the request frames for the broker.
    fn drain(&mut self) {
        for _ in 0..64 {
            match self.p.poll_transmit(self.now, &mut self.buf) {
                Ok(Some(t)) => self.requests.entry(t.conn.0).or_default().push(self.buf[..t.len].to_vec()),
                Ok(None) => break,
                Err(TransmitError::BufferTooSmall { needed }) => self.buf.resize(needed, 0),
            }
        }
        while let Some(e) = self.p.poll_event() {
            match e {
                Event::Connect(c) => {
                    if !self.conns.contains(&c) {
                        self.conns.push(c);
                    }
                    // The fuzz target tracks it; the script connects it (next step).
                    self.requests.remove(&c.0);
                    self.auth.insert(c.0, LinkAuth::Fresh);
                }
                Event::Close(c) => {
                    self.requests.remove(&c.0);
                }
                Event::Completed(c @ Completion::Delivered { .. }) => self.delivered += c.records(),
                _ => {}
            }
        }
        let _ = self.p.poll_timeout();
    }

    /// Connects every connection the engine asked for (`handle_connected` is harmless on one
    /// that is up already, so all of them are named).
    fn connect_all(&mut self) {
        for i in 0..self.conns.len() {
            self.op(CONNECTED, i as u16, &[]);
        }
    }

    /// Answers every request written so far with the simulated broker's response, one READ
    /// per response. The READ argument names both the connection (`arg % conns`) and the
    /// length (`arg % 2048`); up to 3 zero bytes after the frame make the two agree (an
    /// incomplete size prefix, which the engine leaves unread).
    fn answer_all(&mut self) {
        for _ in 0..16 {
            let pending: Vec<(u16, Vec<Vec<u8>>)> = core::mem::take(&mut self.requests).into_iter().collect();
            if pending.is_empty() {
                return;
            }
            for (conn, frames) in pending {
                let Some(idx) = self.conns.iter().position(|c| c.0 == conn) else {
                    continue;
                };
                for frame in frames {
                    let body = frame.get(4..).expect("a request frame has a size prefix");
                    let auth = self.auth.entry(conn).or_default();
                    let (cluster, now) = (&mut self.cluster, self.now);
                    let (_, reply) = match intercept(&self.sasl, auth, 0, body, now, &mut cluster.violations) {
                        Some(handled) => handled,
                        None => cluster.handle_frame(0, body, now, FrameFaults::default(), &mut |_| None),
                    };
                    let Reply::Response(mut bytes) = reply else { continue };
                    let n = self.conns.len();
                    while bytes.len() % n != idx {
                        bytes.push(0);
                    }
                    assert!(bytes.len() < 2048, "a response too long for one READ: {}", bytes.len());
                    self.op(READ, bytes.len() as u16, &bytes.clone());
                }
            }
        }
    }

    /// Connects and answers until the engine asks for nothing more.
    fn settle(&mut self) {
        for _ in 0..8 {
            self.connect_all();
            self.answer_all();
        }
    }
}

/// One session: `sends` records (their SEND arguments), with time passing and every request
/// answered, then a flush.
fn session(sends: &[u16], sasl: Option<SimSasl>) -> Generator {
    let mut g = Generator::new(sasl);
    // The first send names the topic; its metadata is fetched after the handshake.
    g.op(SEND, sends[0], &[]);
    g.settle();
    for &arg in sends {
        g.op(SEND, arg, &[]);
        g.op(ADVANCE, 10, &[]);
        g.settle();
    }
    g.op(FLUSH, 0, &[]);
    g.settle();
    g.op(ADVANCE, 10, &[]);
    g.settle();
    g
}

#[test]
fn session_scripts_reach_deliveries() {
    let sessions: [&[u16]; 4] = [
        &[2],                      // one keyed record to t0
        &[2, 4, 3, 10, 7, 1500],   // both topics, an explicit partition, a 1.5 KB value
        &[8, 8, 8, 8, 8, 8, 8, 8], // a run of records to one partition
        &[1, 3, 5, 9, 11, 13],     // t1 only, explicit partition 1 (arg 5)
    ];
    let write = std::env::var_os("KPROD_WRITE_FUZZ_SEEDS").is_some();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engine");
    for (i, sends) in sessions.iter().enumerate() {
        let g = session(sends, None);
        assert!(g.cluster.violations.is_empty(), "session {i}: {:?}", g.cluster.violations);
        assert!(g.accepted > 0, "session {i}: no record accepted");
        assert_eq!(g.delivered, g.accepted, "session {i}: every accepted record is delivered by the script's end");
        assert!(g.p.producer_id().is_some(), "session {i}: no producer id");
        if write {
            std::fs::write(dir.join(format!("session-{i}")), &g.script).expect("write seed");
        }
    }
}

#[test]
fn sasl_session_scripts_authenticate_and_deliver() {
    let all = vec![Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer];
    let write = std::env::var_os("KPROD_WRITE_FUZZ_SEEDS").is_some();
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engine_sasl");
    for (i, &mechanism) in all.iter().enumerate() {
        // The last one has a 15 ms session: the script re-authenticates between sends.
        let session_ms = if i == 3 { 15 } else { 0 };
        let sasl = SimSasl { mechanism, enabled: all.clone(), session_ms, refuse_node: None };
        let g = session(&[2, 4, 8, 8, 1500], Some(sasl));
        assert!(g.cluster.violations.is_empty(), "{mechanism:?}: {:?}", g.cluster.violations);
        assert!(g.accepted > 0, "{mechanism:?}: no record accepted");
        assert_eq!(g.delivered, g.accepted, "{mechanism:?}: every accepted record is delivered");
        if write {
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(format!("session-{i}")), &g.script).expect("write seed");
        }
    }
}
