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
use kprod_core::producer::{BatchId, RecordId};
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
    /// The run was stopped early (a hot loop): only the safety properties are checked.
    pub aborted: bool,
    /// Property violations seen while running.
    pub violations: Vec<String>,
    /// When the run ended.
    pub ended: Instant,
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
            let io_due = [self.net.next_time(), self.io_timer()].into_iter().flatten().any(|t| t <= self.now);
            if !io_due {
                continue;
            }
            let timer_alone = self.timer_alone();
            self.woken_at = Some(self.now);
            if let Some(ev) = self.net.pop_due(self.now) {
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
        [self.net.next_time(), self.io_timer(), self.app_wake()].into_iter().flatten().min()
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

    // ---- the application ----

    fn app_step(&mut self) {
        match self.phase {
            Phase::Sending if self.txn_app.is_some() => self.txn_app_step(),
            Phase::Sending => self.send_due(),
            Phase::Flushing(deadline) => {
                let pending = self.producer.pending_batches();
                if pending == 0 || self.now >= deadline {
                    if pending > 0 {
                        self.violation(format!(
                            "{pending} batches incomplete at delivery.timeout + request.timeout after flush"
                        ));
                    }
                    let deadline = self.now + self.sc.close_timeout;
                    self.log(|| "close".into());
                    self.woken_at = Some(self.now);
                    self.producer.close(deadline, self.now);
                    self.phase = Phase::Closing(deadline);
                    self.drain();
                    // `close` may have finished at once: the application sees it now, rather
                    // than at the engine's next deadline.
                    self.app_step();
                }
            }
            Phase::Closing(deadline) => {
                let pending = self.producer.pending_batches();
                let open = self.net.open_links().count();
                if pending == 0 && open == 0 && !self.net.has_traffic() {
                    self.phase = Phase::Done;
                } else if self.now >= deadline + self.sc.config.request_timeout {
                    if pending > 0 {
                        self.violation(format!("{pending} batches incomplete after the close deadline"));
                    }
                    if open > 0 {
                        self.violation(format!("{open} connections still open after close completed"));
                    }
                    self.phase = Phase::Done;
                }
            }
            Phase::Done => {}
        }
    }

    /// Sends the due records, then flushes once every record was sent.
    pub(super) fn send_due(&mut self) {
        self.send_records(self.sc.records.len());
        if self.next == self.sc.records.len() {
            self.log(|| "flush".into());
            self.producer.flush(self.now);
            self.woken_at = Some(self.now);
            let c = &self.sc.config;
            self.phase = Phase::Flushing(self.now + c.delivery_timeout + c.request_timeout + c.linger);
            self.drain();
        }
    }

    /// Sends the records due now, up to (not including) planned record `end`.
    pub(super) fn send_records(&mut self, end: usize) {
        while let Some(r) = self.sc.records.get(self.next).filter(|r| r.at <= self.now && self.next < end) {
            let rec = ProducerRecord {
                topic: &r.topic,
                partition: r.partition,
                key: r.key.as_deref(),
                value: Some(&r.value),
                headers: &[],
                timestamp: 1_700_000_000_000 + self.now.as_millis() as i64,
            };
            let result = self.producer.send(&rec, self.now);
            self.woken_at = Some(self.now);
            let i = self.next;
            self.log(|| format!("send #{i} -> {result:?}"));
            match result {
                Ok(id) => {
                    let partitions = self.producer.partition_count(&self.sc.records[i].topic);
                    self.out.accepted.push(Accepted { planned: i, id, at: self.now, partitions });
                    self.next += 1;
                    self.blocked_since = None;
                    // The drivers' wake-up rule: only a new batch whose partition can send now.
                    if id.index == 0 && !self.producer.last_partition_saturated() {
                        self.drain();
                    }
                    continue;
                }
                Err(e) if e.is_retriable() => {
                    let since = *self.blocked_since.get_or_insert(self.now);
                    if self.now < since + self.sc.config.max_block {
                        self.drain();
                        return;
                    }
                    self.out.refused.push((i, e));
                    self.next += 1;
                    self.blocked_since = None;
                }
                Err(e) => {
                    self.out.refused.push((i, e));
                    self.next += 1;
                    self.blocked_since = None;
                }
            }
            self.drain();
        }
    }

    // ---- draining the engine ----

    pub(super) fn drain(&mut self) {
        let mut outputs = 0u32;
        loop {
            let mut any = false;
            loop {
                match self.producer.poll_transmit(self.now, &mut self.tx) {
                    Ok(Some(t)) => {
                        any = true;
                        self.outputs += 1;
                        self.on_transmit(t);
                    }
                    Ok(None) => break,
                    Err(TransmitError::BufferTooSmall { needed }) => {
                        if needed <= self.tx.len() {
                            self.violation(format!(
                                "BufferTooSmall needs {needed} but the buffer has {}",
                                self.tx.len()
                            ));
                            return;
                        }
                        self.tx.resize(needed, 0);
                    }
                }
                outputs += 1;
                if outputs > MAX_OUTPUTS {
                    self.violation("poll_transmit never returns None".into());
                    return;
                }
            }
            while let Some(e) = self.producer.poll_event() {
                any = true;
                self.outputs += 1;
                self.on_event(e);
                outputs += 1;
                if outputs > MAX_OUTPUTS {
                    self.violation("poll_event never returns None".into());
                    return;
                }
            }
            if let Some(r) = self.producer.poll_txn() {
                any = true;
                self.outputs += 1;
                if self.txn_app.is_some() {
                    self.on_txn_result(r);
                } else {
                    self.violation(format!("a transactional result {r:?} without transactions"));
                }
            }
            if !any {
                break;
            }
        }
        self.timer = self.producer.poll_timeout();
        self.check_memory();
    }

    fn check_memory(&mut self) {
        let limit = self.sc.config.buffer_memory;
        let (free, gauge) = (self.producer.free_buffer(), self.producer.metrics().buffer_free);
        if free > limit || gauge > limit {
            self.violation(format!("buffer accounting: free {free}, metric {gauge}, buffer.memory {limit}"));
        }
    }

    fn on_transmit(&mut self, t: Transmit) {
        let frame = self.tx[..t.len].to_vec();
        let whole = matches!(split_frame(&frame, usize::MAX), Ok(Some((_, used))) if used == frame.len());
        if !whole {
            self.violation(format!("transmit on {:?} is not exactly one frame ({} bytes)", t.conn, t.len));
            return;
        }
        let link = self.net.current(t.conn).filter(|&l| self.net.links[l].connected);
        self.log(|| format!("transmit {:?} {} bytes (link {link:?})", t.conn, t.len));
        let Some(l) = link else {
            self.violation(format!("transmit on {:?}, which is not connected", t.conn));
            return;
        };
        let at = self.now + self.latency();
        if self.rng.chance(self.faults().lose_request) {
            self.log(|| format!("fault: link {l} drops before the request arrives"));
            let drop_at = self.now.max(self.net.links[l].last_up);
            self.net.schedule(drop_at, NetEvent::Drop(l));
        }
        let at = self.net.arrival_up(l, at);
        self.net.schedule(at, NetEvent::ToBroker(l, frame));
    }

    fn on_event(&mut self, e: Event) {
        self.log(|| format!("event {e:?}"));
        match e {
            Event::Connect(conn) => self.connect(conn),
            Event::Close(conn) => {
                if let Some(l) = self.net.current(conn) {
                    let lost = self.rng.chance(self.faults().close_loses);
                    let link = &mut self.net.links[l];
                    link.client_open = false;
                    link.broker_open &= !lost;
                }
            }
            Event::Completed(c) => self.complete(c),
            Event::Fatal(f) => {
                if self.out.fatal.is_some() {
                    self.violation(format!("second Fatal event {f:?}"));
                }
                self.out.fatal = Some(f);
            }
            // An Event::Close for the connection follows; the trace above records why.
            Event::ConnectionFailed { .. } => {}
        }
    }

    fn complete(&mut self, done: kprod_core::producer::Completion<u16>) {
        let (batch, topic) = (done.batch(), *done.topic());
        let Some(name) = self.producer.topic_name(topic).map(str::to_owned) else {
            self.violation(format!("completion of {batch:?} names unknown topic index {topic}"));
            return;
        };
        let (partition, records, result) = (done.partition(), done.records(), done.result());
        let (first, more) = (done.first(), done.more());
        if let Some(c) = self.out.completions.get_mut(&batch) {
            // A later part of a split batch: it must follow its previous part.
            if c.more && first == c.records && (c.topic.as_str(), c.partition) == (name.as_str(), partition) {
                c.records += records;
                c.parts.push((first, records, result));
                c.more = more;
                c.at = self.now;
                if c.result.is_ok() && result.is_err() {
                    c.result = result;
                }
                return;
            }
            let old = c.clone();
            self.violation(format!("second completion for {batch:?} from record {first} (first {old:?})"));
            return;
        }
        if first != 0 {
            self.violation(format!("completion of {batch:?} starts at record {first}"));
        }
        let parts = vec![(first, records, result)];
        let c = Completion { topic: name, partition, records, result, at: self.now, parts, more };
        self.out.completions.insert(batch, c);
        self.out.order.push(batch);
    }

    fn connect(&mut self, conn: ConnId) {
        if let Some(old) = self.net.current(conn) {
            self.violation(format!("Connect({conn:?}) while its link {old} is still open"));
            self.net.links[old].client_open = false;
            self.net.links[old].broker_open = false;
        }
        let addr = self.producer.address(conn).map(|(h, p)| (node_of(h), p));
        let Some((Some(node), PORT)) = addr else {
            self.violation(format!("Connect({conn:?}) to a bad address {addr:?}"));
            // A driver cannot connect there: it reports the failure.
            self.producer.handle_disconnected(conn, self.now);
            return;
        };
        let l = self.net.open(conn, node, self.now);
        let lat = self.latency();
        if self.cluster.is_up(node) && !self.rng.chance(self.faults().connect_fail) {
            self.net.schedule(self.now + lat, NetEvent::Connected(l));
        } else {
            // No broker at all there: refused at once; a broker that is down may also leave the
            // connect hanging until the driver's connect timeout.
            let refused = self.rng.chance(500) || !self.cluster.brokers.iter().any(|b| b.id == node);
            let after = if refused { lat } else { core::time::Duration::from_millis(self.rng.range(100, 3000)) };
            self.net.schedule(self.now + after, NetEvent::ConnectFailed(l));
        }
    }

    fn latency(&mut self) -> core::time::Duration {
        let (lo, hi) = self.faults().latency;
        core::time::Duration::from_micros(self.rng.range(lo, hi))
    }

    // ---- network events ----

    fn process(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Connected(l) => {
                let link = &mut self.net.links[l];
                if !link.client_open {
                    return;
                }
                if !self.cluster.is_up(link.node) {
                    return self.drop_link(l);
                }
                link.connected = true;
                let conn = link.conn;
                self.log(|| format!("connected {conn:?} (link {l})"));
                self.producer.handle_connected(conn, self.now);
            }
            NetEvent::ConnectFailed(l) => {
                self.log(|| format!("connect failed (link {l})"));
                self.drop_link(l);
            }
            NetEvent::ToBroker(l, bytes) => self.broker_read(l, bytes),
            NetEvent::ToClient(l, bytes) => self.client_read(l, bytes),
            NetEvent::Drop(l) => {
                self.log(|| format!("link {l} drops"));
                self.drop_link(l);
            }
            NetEvent::Cluster(e) => self.cluster_event(e),
            NetEvent::Wake => {}
        }
    }

    fn drop_link(&mut self, l: usize) {
        let link = &mut self.net.links[l];
        link.broker_open = false;
        if link.client_open {
            link.client_open = false;
            let conn = link.conn;
            self.producer.handle_disconnected(conn, self.now);
        }
    }

    fn cluster_event(&mut self, e: ClusterEvent) {
        self.log(|| format!("cluster {e:?}"));
        match e {
            ClusterEvent::BrokerDown(node) => {
                let rng = &mut self.rng;
                self.cluster.broker_down(node, |up| rng.pick(up));
                let links: Vec<usize> = (0..self.net.links.len()).filter(|&l| self.net.links[l].node == node).collect();
                for l in links {
                    self.drop_link(l);
                }
            }
            ClusterEvent::BrokerUp(node) => self.cluster.broker_up(node),
            ClusterEvent::LeaderMove { topic, partition, to } => {
                if self.cluster.is_up(to) {
                    self.cluster.move_leader(topic, partition, to);
                }
            }
            ClusterEvent::GrowTopic { topic, partitions } => self.cluster.grow_topic(topic, partitions),
            ClusterEvent::CoordinatorMove { .. } | ClusterEvent::Fence => {}
        }
        if self.cluster.txn.is_some() {
            self.txn_event(e);
        }
    }

    fn broker_read(&mut self, l: usize, bytes: Vec<u8>) {
        let node = self.net.links[l].node;
        if !self.net.links[l].broker_open || !self.cluster.is_up(node) {
            return;
        }
        self.net.links[l].broker_rx.extend_from_slice(&bytes);
        loop {
            let rx = &self.net.links[l].broker_rx;
            let (frame, used) = match split_frame(rx, 64 << 20) {
                Ok(Some((frame, used))) => (frame.to_vec(), used),
                Ok(None) => return,
                Err(e) => {
                    self.violation(format!("request stream broken: {e}"));
                    return self.drop_link(l);
                }
            };
            self.net.links[l].broker_rx.drain(..used);
            let frame_faults = FrameFaults {
                stale_metadata: self.rng.chance(self.sc.faults.stale_metadata),
                init_error: self.rng.chance(self.sc.faults.init_error),
                txn: self.txn_frame_faults(),
            };
            let (rng, faults, hook, sick) = (&mut self.rng, &self.sc.faults, &mut self.produce_hook, &mut self.sick);
            let mut inject = |ctx: &ProduceCtx<'_>| {
                hook.as_mut().and_then(|h| h(ctx)).or_else(|| random_error(rng, faults, sick, ctx))
            };
            let (auth, violations) = (&mut self.net.links[l].auth, &mut self.cluster.violations);
            let (api, reply) = match super::sasl::intercept(&self.sc.sasl, auth, node, &frame, self.now, violations) {
                Some(handled) => handled,
                None => self.cluster.handle_frame(node, &frame, self.now, frame_faults, &mut inject),
            };
            for note in core::mem::take(&mut self.cluster.notes) {
                self.log(|| note);
            }
            for v in self.cluster.violations.drain(..) {
                self.out.violations.push(format!("t={}µs: broker {node}: {v}", self.now.as_micros()));
            }
            self.respond(l, api, reply);
            if !self.net.links[l].broker_open {
                return;
            }
        }
    }

    /// Metadata requests must back off: at most about two per `retry.backoff.ms` (and 20 more)
    /// in any second.
    fn check_metadata_rate(&mut self) {
        let second = core::time::Duration::from_secs(1);
        while self.metadata_window.front().is_some_and(|&t| t + second <= self.now) {
            self.metadata_window.pop_front();
        }
        self.metadata_window.push_back(self.now);
        let backoff = self.sc.config.retry_backoff.as_millis().max(1) as usize;
        let limit = 2 * 1000 / backoff + 20;
        if self.metadata_window.len() > limit && !self.hot_loop_reported {
            self.hot_loop_reported = true;
            self.violation(format!(
                "metadata hot loop: {} Metadata requests within one second",
                self.metadata_window.len()
            ));
            // Going on would only repeat it, slowly: stop here.
            self.out.aborted = true;
            self.phase = Phase::Done;
        }
    }

    fn respond(&mut self, l: usize, api: ApiKey, reply: Reply) {
        if api == ApiKey::Metadata {
            self.check_metadata_rate();
        }
        let nth = self.answered.entry(api.code()).or_insert(0);
        let ctx = ResponseCtx { now: self.now, node: self.net.links[l].node, api, nth: *nth };
        *nth += 1;
        self.net.links[l].requests += 1;
        let bytes = match reply {
            Reply::Nothing => return,
            Reply::Close => {
                let at = self.now + self.latency();
                return self.net.schedule(at, NetEvent::Drop(l));
            }
            Reply::Response(bytes) => bytes,
        };
        let fate = self.response_hook.as_mut().and_then(|h| h(&ctx)).unwrap_or_else(|| {
            let f = &self.sc.faults;
            let (lose, slow, slow_max) = (f.lose_response, f.slow_response, f.slow_max);
            if self.rng.chance(lose) || api == ApiKey::EndTxn && self.txn_lose_end() {
                Fate::Lose
            } else if self.rng.chance(slow) {
                Fate::Delay(self.rng.range(0, slow_max))
            } else {
                Fate::Deliver
            }
        });
        self.log(|| format!("broker {} answers {api:?} #{} ({} bytes): {fate:?}", ctx.node, ctx.nth, bytes.len()));
        let extra = match fate {
            Fate::Lose => {
                let at = self.now + core::time::Duration::from_micros(1);
                self.net.links[l].broker_open = false;
                return self.net.schedule(at, NetEvent::Drop(l));
            }
            Fate::Delay(us) => core::time::Duration::from_micros(us),
            Fate::Deliver => core::time::Duration::ZERO,
        };
        let mut at = self.now + self.latency() + extra;
        let mut rest = &bytes[..];
        while !rest.is_empty() {
            let n = if self.sc.faults.split_reads { self.rng.range(1, rest.len() as u64) as usize } else { rest.len() };
            let arrival = self.net.arrival_down(l, at);
            self.net.schedule(arrival, NetEvent::ToClient(l, rest[..n].to_vec()));
            rest = &rest[n..];
            at = at + core::time::Duration::from_micros(self.rng.below(3) * 50);
        }
    }

    fn client_read(&mut self, l: usize, bytes: Vec<u8>) {
        let link = &mut self.net.links[l];
        if !link.client_open {
            return;
        }
        link.client_rx.extend_from_slice(&bytes);
        let conn = link.conn;
        if matches!(self.net.peek_due(self.now), Some(NetEvent::ToClient(next, _)) if *next == l) {
            // More bytes arrive at the same instant: the driver reads them together.
            return;
        }
        let rx = core::mem::take(&mut self.net.links[l].client_rx);
        let used = self.producer.handle_read(conn, &rx, self.now);
        self.log(|| format!("handle_read {conn:?} {} bytes -> consumed {used}", rx.len()));
        if used > rx.len() {
            self.violation(format!("handle_read consumed {used} of {} bytes", rx.len()));
        }
        let left = rx[used.min(rx.len())..].to_vec();
        if matches!(split_frame(&left, usize::MAX), Ok(Some(_))) && self.net.links[l].client_open {
            self.violation(format!("handle_read left a whole frame unconsumed on {conn:?}"));
        }
        self.net.links[l].client_rx = left;
    }
}

/// The random Produce errors of a faulty run. Errors that refuse the write start a window in
/// which the partition keeps refusing (1 to 300 ms); errors after the write are per request.
fn random_error(
    rng: &mut SimRng,
    faults: &Faults,
    sick: &mut BTreeMap<(String, i32), (Instant, Injected)>,
    ctx: &ProduceCtx<'_>,
) -> Option<Injected> {
    let key = (ctx.topic.to_owned(), ctx.partition);
    if let Some(&(until, injected)) = sick.get(&key).filter(|(until, _)| ctx.now < *until) {
        let _ = until;
        return Some(injected);
    }
    if !rng.chance(faults.partition_error) {
        return None;
    }
    let injected = match rng.below(6) {
        0 => Injected::Before(ErrorCode::NotEnoughReplicas),
        1 => Injected::Before(ErrorCode::KafkaStorageError),
        2 => return Some(Injected::After(ErrorCode::RequestTimedOut)),
        3 => return Some(Injected::After(ErrorCode::NotEnoughReplicasAfterAppend)),
        4 => Injected::NotLeader(None),
        _ => Injected::NotLeader(faults.hints.then_some(ctx.leader)),
    };
    let until = ctx.now + core::time::Duration::from_micros(rng.range(1_000, 300_000));
    sick.insert(key, (until, injected));
    Some(injected)
}
