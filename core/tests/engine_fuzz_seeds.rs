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
#![cfg(all(feature = "alloc", feature = "sasl"))] // the engine_sasl scripts authenticate

extern crate alloc;

mod sim;

use alloc::collections::BTreeMap;
use std::path::PathBuf;

use kprod_core::config::Config;
use kprod_core::sasl::Mechanism;
use sim::broker::{FrameFaults, Reply};
use sim::cluster::Cluster;
use sim::sasl::{intercept, LinkAuth, SimSasl};

/// The fuzz targets' interpreter itself, so a script replays there exactly as it ran here.
#[allow(dead_code, unreachable_pub, missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
#[path = "../../fuzz/src/engine.rs"]
mod fuzz_engine;

use fuzz_engine::op::{ADVANCE, CONNECTED, FLUSH, READ, SEND};
use fuzz_engine::Engine;

/// A script under construction, and the engine it drives through the fuzz target's interpreter.
struct Generator {
    e: Engine,
    cluster: Cluster,
    script: Vec<u8>,
    /// Authenticating brokers (the `engine_sasl` target), and each connection's state there.
    sasl: Option<SimSasl>,
    auth: BTreeMap<u16, LinkAuth>,
}

impl Generator {
    fn new(sasl: Option<SimSasl>) -> Self {
        let mut config: Config<'static> = fuzz_engine::config();
        // The engine_sasl target's first byte picks the mechanism in this order.
        const MECHANISMS: [Mechanism; 4] =
            [Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer];
        let mut script = Vec::new();
        if let Some(s) = &sasl {
            config.sasl = s.config();
            script.push(MECHANISMS.iter().position(|&m| m == s.mechanism).expect("a known mechanism") as u8);
        }
        let entropy = sasl.is_some();
        let mut e = Engine::new(config, false, |p| {
            if entropy {
                p.handle_entropy(b"fuzz-entropy");
            }
        })
        .expect("the fuzz target's config is valid");
        e.keep_requests = true;
        Self { e, cluster: Cluster::new(1, &[("t0", 4), ("t1", 2)]), script, sasl, auth: BTreeMap::new() }
    }

    /// Appends one opcode with its 16-bit argument (and `extra` operand bytes) and applies it
    /// as the fuzz target does.
    fn op(&mut self, op: u8, arg: u16, extra: &[u8]) {
        self.script.push(op);
        self.script.extend_from_slice(&arg.to_le_bytes());
        self.script.extend_from_slice(extra);
        let mut input = extra;
        self.e.step(op, arg, &mut input);
        assert!(input.is_empty(), "the operand bytes were all taken");
        assert!(op != READ || self.e.unread <= 3, "a whole response frame was not consumed");
        // A new link starts unauthenticated.
        for c in core::mem::take(&mut self.e.connects) {
            self.auth.insert(c.0, LinkAuth::Fresh);
        }
    }

    /// Connects every connection the engine asked for (`handle_connected` is harmless on one
    /// that is up already, so all of them are named).
    fn connect_all(&mut self) {
        for i in 0..self.e.conns.len() {
            self.op(CONNECTED, i as u16, &[]);
        }
    }

    /// Answers every request written so far with the simulated broker's response, one READ
    /// per response. The READ argument names both the connection (`arg % conns`) and the
    /// length (`arg % 2048`); up to 3 zero bytes after the frame make the two agree (an
    /// incomplete size prefix, which the engine leaves unread).
    fn answer_all(&mut self) {
        for _ in 0..16 {
            let pending = core::mem::take(&mut self.e.requests);
            if pending.is_empty() {
                return;
            }
            for (conn, frame) in pending {
                let Some(idx) = self.e.conns.iter().position(|c| *c == conn) else {
                    continue;
                };
                let body = frame.get(4..).expect("a request frame has a size prefix");
                let auth = self.auth.entry(conn.0).or_default();
                let (cluster, now) = (&mut self.cluster, self.e.now);
                let (_, reply) = match intercept(&self.sasl, auth, 0, body, now, &mut cluster.violations) {
                    Some(handled) => handled,
                    None => cluster.handle_frame(0, body, now, FrameFaults::default(), &mut |_| None),
                };
                let Reply::Response(mut bytes) = reply else { continue };
                let n = self.e.conns.len();
                while bytes.len() % n != idx {
                    bytes.push(0);
                }
                assert!(bytes.len() < fuzz_engine::MAX_READ, "a response too long for one READ: {}", bytes.len());
                self.op(READ, bytes.len() as u16, &bytes.clone());
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
        assert!(!g.e.accepted.is_empty(), "session {i}: no record accepted");
        assert_eq!(
            g.e.delivered as usize,
            g.e.accepted.len(),
            "session {i}: every accepted record is delivered by the script's end"
        );
        assert!(g.e.p.producer_id().is_some(), "session {i}: no producer id");
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
        assert!(!g.e.accepted.is_empty(), "{mechanism:?}: no record accepted");
        assert_eq!(g.e.delivered as usize, g.e.accepted.len(), "{mechanism:?}: every accepted record is delivered");
        if write {
            std::fs::create_dir_all(&dir).expect("corpus dir");
            std::fs::write(dir.join(format!("session-{i}")), &g.script).expect("write seed");
        }
    }
}
