//! [`Sim`]: the producer engine, the simulated cluster and the network, driven in virtual time.
//!
//! The loop is quinn-proto's `Pair::drive` for one client and many servers: after every input
//! the driver drains the engine in its documented order (`poll_transmit` until `None`, then
//! `poll_event` until `None`), then the clock jumps to the earliest of the next network event,
//! the engine's `poll_timeout` and the application's next action. Nothing reads a real clock,
//! so a seed replays exactly.
//!
//! A wake-up on the engine's deadline alone (nothing else at that instant) must get something
//! done; one that does not is recorded as idle (see `wake.rs`).

use alloc::collections::BTreeMap;

use kprod_core::config::Config;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{BatchId, CompressionJob, RecordId};
use kprod_core::producer::{
    DeliveryError, Event, FatalError, Producer, ProducerRecord, SendError, Storage, Transmit, TransmitError,
};
use kprod_core::protocol::{split_frame, ApiKey, ErrorCode};
use kprod_core::time::Instant;

use super::broker::{FrameFaults, Injected, ProduceCtx, Reply};
use super::cluster::{host, node_of, Cluster, PORT};
use super::net::{ClusterEvent, Net, NetEvent};
use super::rng::SimRng;
use super::scenario::{Faults, Scenario};
use super::wake::IdleWakeup;

// The application's calls, draining the engine, and the network and brokers, one file each.
mod app;
mod drain;
mod network;

/// Decides injected Produce errors before the random faults do (`None`: leave it to them).
pub type ProduceHook = Box<dyn FnMut(&ProduceCtx<'_>) -> Option<Injected>>;
/// Decides the fate of a response before the random faults do.
pub type ResponseHook = Box<dyn FnMut(&ResponseCtx) -> Option<Fate>>;

/// A response about to be sent, as a [`ResponseHook`] sees it.
#[derive(Debug, Clone, Copy)]
pub struct ResponseCtx {
    /// Virtual time.
    pub now: Instant,
    /// The broker.
    pub node: i32,
    /// The API answered.
    pub api: ApiKey,
    /// How many requests of this API the cluster answered before this one.
    pub nth: u64,
    /// Batches the cluster has appended so far, this request's included: a hook can charge a
    /// cost per batch, as a real broker's CPU is.
    pub appended: u64,
}

/// What happens to a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// It arrives after the usual latency.
    Deliver,
    /// The connection drops before it arrives (the broker did process the request).
    Lose,
    /// It arrives this many µs later than usual.
    Delay(u64),
}

/// Where the application is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Sending the planned records.
    Sending,
    /// Everything sent and flushed; waiting for completions until the deadline.
    Flushing(Instant),
    /// `close` called; waiting until the deadline (plus a grace period).
    Closing(Instant),
    /// Finished.
    Done,
}

/// A completion event, as the driver recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The topic's name.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// Records covered.
    pub records: u32,
    /// Base offset, or why it failed (the first failure of a batch completed in parts).
    pub result: Result<i64, DeliveryError>,
    /// When it was reported.
    pub at: Instant,
    /// Each part's first record index, records and result: one part unless the engine split
    /// the batch (the broker refused it as too large).
    pub parts: Vec<(u32, u32, Result<i64, DeliveryError>)>,
    /// More parts are due.
    pub more: bool,
}

impl Completion {
    /// The offset of record `index` of the batch, or why it failed.
    pub fn result_of(&self, index: u32) -> Result<i64, DeliveryError> {
        let (first, _, result) =
            self.parts.iter().rev().find(|(first, ..)| *first <= index).copied().unwrap_or((0, 0, self.result));
        result.map(|base| if base < 0 { base } else { base + i64::from(index - first) })
    }
}

/// A record `send` accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Accepted {
    /// Its planned index.
    pub planned: usize,
    /// The engine's id for it.
    pub id: RecordId,
    /// When.
    pub at: Instant,
    /// The topic's partition count the engine knew then (what a keyed record hashes over).
    pub partitions: Option<u32>,
}

/// Everything the run produced, for the property checks.
#[derive(Debug, Default)]
pub struct Outcomes {
    /// Accepted records, in send order.
    pub accepted: Vec<Accepted>,
    /// Records the application gave up on, and the last error.
    pub refused: Vec<(usize, SendError)>,
    /// Completion events by batch.
    pub completions: BTreeMap<BatchId, Completion>,
    /// The batches of the completion events, in the order `poll_event` gave them.
    pub order: Vec<BatchId>,
    /// Wake-ups on the engine's deadline alone (no network event or application action at
    /// that instant).
    pub timer_wakeups: u64,
    /// Those of them that gave nothing.
    pub idle: Vec<IdleWakeup>,
    /// The fatal error, if one was reported.
    pub fatal: Option<FatalError>,
    /// Links a broker closed because a request arrived after their SASL session had ended
    /// (KIP-368): the engine re-authenticates at 85-95% of the session, and the latency can
    /// still make a request arrive late.
    pub expired_sessions: u32,
    /// The run was stopped early (a hot loop): only the safety properties are checked.
    pub aborted: bool,
    /// Property violations seen while running.
    pub violations: Vec<String>,
    /// When the run ended.
    pub ended: Instant,
    /// Compression jobs taken, results the engine took back, and results it dropped (their
    /// batch was sealed meanwhile).
    pub jobs_taken: u64,
    pub jobs_finished: u64,
    pub jobs_dropped: u64,
    /// A digest (FNV-1a) of every frame transmitted, in order: two runs that wrote the same
    /// bytes have the same digest.
    pub wire: u64,
}

/// Most steps one run may take before it counts as stuck.
const MAX_STEPS: u64 = 2_000_000;
/// Most consecutive steps at one instant before the timer counts as spinning.
const MAX_SPINS: u32 = 1_000;
/// Most outputs one drain may yield before the engine counts as unbounded.
const MAX_OUTPUTS: u32 = 100_000;

/// One simulated run. Build with [`Sim::new`], then [`Sim::run`].
pub struct Sim {
    /// The scenario.
    pub sc: Scenario,
    /// The engine under test.
    pub producer: Producer<'static>,
    /// The cluster.
    pub cluster: Cluster,
    /// The network.
    pub net: Net,
    /// Virtual time.
    pub now: Instant,
    /// Print every step (replay mode).
    pub trace: bool,
    /// Scenario hook for Produce errors.
    pub produce_hook: Option<ProduceHook>,
    /// Scenario hook for responses.
    pub response_hook: Option<ResponseHook>,
    /// The application's phase.
    pub phase: Phase,
    /// What happened.
    pub out: Outcomes,
    /// Requests answered per API key.
    pub answered: BTreeMap<i16, u64>,
    /// When the last Metadata requests were answered (a sliding one-second window).
    metadata_window: alloc::collections::VecDeque<Instant>,
    hot_loop_reported: bool,
    /// `free_buffer()` of the new engine: what it must return to once everything completed.
    pub initial_free: usize,
    pub(super) rng: SimRng,
    /// Partitions that refuse writes until a time, with that error (injected faults last a
    /// while, as a short ISR or a moving leader does).
    sick: BTreeMap<(String, i32), (Instant, Injected)>,
    next: usize,
    blocked_since: Option<Instant>,
    tx: Vec<u8>,
    steps: u64,
    spins: u32,
    /// After a timer spin was reported, engine deadlines in the past count as 1 ms ahead, so the
    /// run goes on and shows what else is wrong.
    pub(super) timer_floor: bool,
    /// The engine's deadline as of the last drain: like a driver's IO loop, the simulation
    /// sleeps until it (or a network event), and a `send` wakes it only when kprod-std's IO
    /// thread would be woken (a new batch whose partition is below its in-flight limit).
    pub(super) timer: Option<Instant>,
    /// The last instant an input, a command or the timer reached the engine: a timer wake-up
    /// counts as the timer's alone only at an instant where nothing else happened.
    pub(super) woken_at: Option<Instant>,
    /// Frames and events the drains gave so far.
    pub(super) outputs: u64,
    /// The transactional application (`txn.rs`), in a transactional run.
    pub txn_app: Option<super::txn::TxnApp>,
    /// Compression jobs taken and not handed back yet: when each goes back, and its result.
    pub(super) jobs_out: Vec<(Instant, CompressionJob, Option<Vec<u8>>)>,
}

impl Sim {
    /// Builds the engine and the cluster for `sc`.
    pub fn new(sc: Scenario) -> Self {
        let mut cluster = Cluster::new(sc.brokers, &sc.topics);
        cluster.versions = sc.versions;
        cluster.txn = sc.txn.as_ref().map(super::txn::TxnPlan::coordinator);
        cluster.duplicate_error = sc.duplicate_error;
        cluster.max_message_bytes = sc.max_message_bytes;
        let hosts: Vec<String> = sc.bootstrap.iter().map(|&n| host(n)).collect();
        let bootstrap: Vec<(&str, u16)> = hosts.iter().map(|h| (h.as_str(), PORT)).collect();
        let storage = Storage::with_capacity(&sc.config, sc.caps);
        let valid = sc.config.clone().validate().unwrap_or_else(|e| panic!("scenario config invalid: {e}"));
        let mut producer = Producer::new(valid, &bootstrap, storage, Instant::ZERO).expect("engine storage fits");
        producer.handle_entropy(&sc.seed.to_le_bytes());
        let initial_free = producer.free_buffer();
        let sc_txn_app = sc.txn.as_ref().map(super::txn::TxnApp::new);
        let mut net = Net::default();
        for &(at, ev) in &sc.faults.events {
            net.schedule(at, NetEvent::Cluster(ev));
        }
        Self {
            rng: SimRng::new(sc.seed ^ 0xfa17),
            sick: BTreeMap::new(),
            sc,
            producer,
            cluster,
            net,
            now: Instant::ZERO,
            trace: false,
            produce_hook: None,
            response_hook: None,
            phase: Phase::Sending,
            out: Outcomes::default(),
            answered: BTreeMap::new(),
            metadata_window: alloc::collections::VecDeque::new(),
            hot_loop_reported: false,
            initial_free,
            next: 0,
            blocked_since: None,
            tx: vec![0; 64],
            steps: 0,
            spins: 0,
            timer_floor: false,
            timer: None,
            woken_at: None,
            outputs: 0,
            txn_app: sc_txn_app,
            jobs_out: Vec::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config<'static> {
        &self.sc.config
    }

    fn faults(&self) -> &Faults {
        &self.sc.faults
    }

    pub(super) fn log(&self, what: impl FnOnce() -> String) {
        if self.trace {
            eprintln!("[{:>9.3} ms] {}", self.now.as_micros() as f64 / 1000.0, what());
        }
    }

    pub(super) fn violation(&mut self, what: String) {
        self.log(|| format!("VIOLATION {what}"));
        self.out.violations.push(format!("t={}µs: {what}", self.now.as_micros()));
    }

    /// Runs the scenario to the end: sends, flushes, closes.
    pub fn run(&mut self) {
        self.drain();
        while self.phase != Phase::Done {
            if self.out.aborted {
                break;
            }
            self.app_step();
            if self.phase == Phase::Done {
                break;
            }
            self.steps += 1;
            if self.steps > MAX_STEPS {
                self.violation("step limit reached: the run does not finish".into());
                break;
            }
            let Some(next) = self.next_wake() else {
                self.violation(format!("stalled in {:?}: nothing scheduled", self.phase));
                break;
            };
            let next = next.max(self.now);
            self.spins = if next == self.now { self.spins + 1 } else { 0 };
            if self.spins > MAX_SPINS {
                let t = self.producer.poll_timeout();
                self.violation(format!("timer spin: poll_timeout {t:?} stays at now after handle_timeout"));
                self.timer_floor = true;
                self.spins = 0;
                continue;
            }
            self.now = next;
            // The IO loop runs only when it would wake: a network event or its timer. A wake-up
            // for the application alone (a record due) leaves it asleep; `send_due` wakes it
            // by the drivers' rule.
            let io_due =
                [self.net.next_time(), self.io_timer(), self.jobs_due()].into_iter().flatten().any(|t| t <= self.now);
            if !io_due {
                continue;
            }
            let timer_alone = self.timer_alone();
            self.woken_at = Some(self.now);
            if self.jobs_due().is_some_and(|t| t <= self.now) {
                // A helper hands a result back and wakes the IO loop, as kprod-std's do.
                self.finish_due_jobs();
                self.drain();
            } else if let Some(ev) = self.net.pop_due(self.now) {
                self.process(ev);
                self.drain();
            } else {
                self.on_timer(timer_alone);
            }
        }
        // Transactions still open end with the transaction timeout.
        self.cluster.txn_expire_all();
        self.out.ended = self.now;
    }

    fn next_wake(&self) -> Option<Instant> {
        [self.net.next_time(), self.io_timer(), self.app_wake(), self.jobs_due()].into_iter().flatten().min()
    }

    /// When the application acts next on its own (not counting a blocked `send` retried after
    /// each wake-up).
    pub(super) fn app_wake(&self) -> Option<Instant> {
        match self.phase {
            Phase::Sending if self.txn_app.is_some() => self.txn_app_wake(),
            Phase::Sending => self.sending_wake(),
            Phase::Flushing(deadline) => Some(deadline),
            Phase::Closing(deadline) => Some(deadline + self.sc.config.request_timeout),
            Phase::Done => None,
        }
    }

    /// When the IO loop's timer fires: the engine's deadline as of the last drain.
    fn io_timer(&self) -> Option<Instant> {
        let mut timer = self.timer;
        if self.timer_floor {
            timer = timer.map(|t| t.max(self.now + core::time::Duration::from_millis(1)));
        }
        timer
    }

    /// When a sending application acts next: a blocked `send` gives up, or the next record is
    /// due.
    pub(super) fn sending_wake(&self) -> Option<Instant> {
        match self.blocked_since {
            Some(since) => Some(since + self.sc.config.max_block),
            None => self.sc.records.get(self.next).map(|r| r.at),
        }
    }

    /// The next planned record to send.
    pub(super) fn next_record(&self) -> usize {
        self.next
    }

    /// Moves on to planned record `i`.
    pub(super) fn set_next_record(&mut self, i: usize) {
        self.next = i;
        self.blocked_since = None;
    }
}
