//! Transactional runs (issue 17): the plan (which records form which transaction, commit or
//! abort, offsets sent with it, coordinator faults), the application that drives the engine's
//! transactional calls as a Java application would (`init_transactions`, then per transaction
//! `begin_transaction`, `send`s, maybe `send_offsets_to_transaction`, `commit_transaction` or
//! `abort_transaction`, aborting when the transaction became abortable), and the properties:
//!
//! - **read_committed**: per partition, the view of a read_committed consumer (the log without
//!   the records of aborted transactions, up to the first open one) never shows a record of a
//!   transaction the application aborted, shows every accepted record of a committed one
//!   exactly once, in send order; a transaction whose outcome the application never learned
//!   (fenced) is visible whole or not at all;
//! - **offsets**: offsets sent with a transaction become the group's if and only if it commits;
//! - **calls**: every call that started gets exactly one result, of that call;
//! - **end state**: `Ready` after the last transaction, or `FatalError` only if another
//!   producer fenced this one, with a typed PRODUCER_FENCED / INVALID_PRODUCER_EPOCH error;
//!   a fenced producer used after the fence reports it;
//! - **liveness** (fault-free runs): every transaction ends as planned.

use alloc::collections::{BTreeMap, BTreeSet};
use core::ops::Range;
use core::time::Duration;

use kprod_core::producer::txn::{GroupMetadata, TopicPartitionOffset, TxnError, TxnOp, TxnResult, TxnState};
use kprod_core::producer::{DeliveryError, FatalError, SendError};
use kprod_core::protocol::ErrorCode;
use kprod_core::time::Instant;

use super::coordinator::{Coordinator, Group, TxnFrameFaults};
use super::driver::{Completion, Sim};
use super::net::ClusterEvent;
use super::rng::SimRng;
use super::scenario::index_of;

/// The transactional id of every transactional run.
pub const TXN_ID: &str = "sim-txn";
/// The consumer group offsets are sent for, its generation and member.
pub const GROUP: &str = "sim-group";
const GENERATION: i32 = 7;
const MEMBER: &str = "member-7";
/// The topic the offsets name.
const INPUT: &str = "in";
/// How long the application waits for one call's result before it gives up (a hang).
const CALL_LIMIT: Duration = Duration::from_secs(300);

/// One planned transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTxn {
    /// Its records (planned indices).
    pub records: Range<usize>,
    /// Commit (`true`) or abort.
    pub commit: bool,
    /// Send offsets with it; `Some(true)`: with a stale generation (the group coordinator
    /// refuses, the transaction must abort).
    pub offsets: Option<bool>,
}

/// The transactional part of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnPlan {
    /// The cluster finalized transaction.version 2.
    pub v2: bool,
    /// The transactions, in order, covering every planned record.
    pub txns: Vec<PlannedTxn>,
    /// The coordinator's node and the group coordinator's, at the start.
    pub coordinator: (i32, i32),
    /// Per coordinator request: a transient error (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
    /// CONCURRENT_TRANSACTIONS), per mille.
    pub transient: u32,
    /// Per EndTxn response: lost (the connection drops after the coordinator acted), per mille.
    pub lose_end: u32,
    /// The longest time markers take to be written, µs.
    pub marker_delay: u64,
    /// Another producer with the same transactional id initializes at this instant.
    pub fence_at: Option<Instant>,
}

impl TxnPlan {
    /// A draw for `records` planned records on `brokers` brokers; `faulty` adds coordinator
    /// faults, moves and fences; `v2_possible`: the brokers take Produce v12.
    pub fn random(rng: &mut SimRng, records: usize, brokers: usize, faulty: bool, v2_possible: bool) -> Self {
        let mut txns = Vec::new();
        let mut at = 0;
        while at < records || txns.is_empty() {
            let n = if rng.chance(50) { 0 } else { rng.range(1, 8) as usize };
            let end = (at + n).min(records);
            let offsets = rng.chance(300).then(|| faulty && rng.chance(200));
            txns.push(PlannedTxn { records: at..end, commit: rng.chance(700), offsets });
            at = end;
        }
        let node = |rng: &mut SimRng| rng.below(brokers as u64) as i32;
        let p = |rng: &mut SimRng, max: u64| if faulty { rng.range(0, max) as u32 } else { 0 };
        Self {
            v2: v2_possible && rng.chance(500),
            txns,
            coordinator: (node(rng), node(rng)),
            transient: p(rng, 150),
            lose_end: p(rng, 300),
            marker_delay: rng.range(0, 20_000),
            fence_at: (faulty && rng.chance(100)).then(|| Instant::from_micros(rng.below(3_000_000))),
        }
    }

    /// Coordinator moves to schedule (faulty runs).
    pub fn random_moves(rng: &mut SimRng, brokers: usize) -> Vec<(Instant, ClusterEvent)> {
        (0..rng.range(0, 2))
            .map(|_| {
                let to = rng.below(brokers as u64) as i32;
                let group_to = rng.below(brokers as u64) as i32;
                (Instant::from_micros(rng.below(3_000_000)), ClusterEvent::CoordinatorMove { to, group_to })
            })
            .collect()
    }

    /// The coordinator for the cluster.
    pub fn coordinator(&self) -> Coordinator {
        let mut c = Coordinator::new(self.v2, self.coordinator.0, self.coordinator.1);
        c.groups.insert(GROUP.into(), Group { generation: GENERATION, member: MEMBER.into() });
        c
    }
}

/// What the application knows of one transaction's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Not ended yet (or never begun).
    Open,
    /// `commit_transaction` succeeded.
    Committed,
    /// `abort_transaction` succeeded.
    Aborted,
    /// A fatal error came first: the coordinator may have done either.
    Unknown,
}

/// Where the application stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// `init_transactions` is next.
    Start,
    /// Waiting for this call's result since this instant.
    Waiting(TxnOp, Instant),
    /// `begin_transaction` is next.
    Begin,
    /// Sending the transaction's records.
    Sending,
    /// `send_offsets_to_transaction` is next.
    Offsets,
    /// Ending the transaction is next.
    End,
    /// No more transactional calls.
    Done,
}

/// The transactional application's state.
#[derive(Debug)]
pub struct TxnApp {
    /// Where it stands.
    pub stage: Stage,
    /// The current transaction.
    pub k: usize,
    /// Each transaction's outcome.
    pub outcomes: Vec<Outcome>,
    /// The offset each transaction's `send_offsets_to_transaction` got in, if it did.
    pub offsets: Vec<Option<i64>>,
    /// Every result, in order.
    pub results: Vec<TxnResult>,
    /// A result not yet acted on.
    pending: Option<TxnResult>,
    /// The application must abort the current transaction (a call failed abortably).
    must_abort: bool,
    /// The fatal error the application saw.
    pub fatal: Option<TxnError>,
    /// The call whose result the application gave up waiting for (its result comes with the
    /// close: `TxnError::Closed`).
    pub gave_up: Option<TxnOp>,
}

impl TxnApp {
    /// For `plan`.
    pub fn new(plan: &TxnPlan) -> Self {
        Self {
            stage: Stage::Start,
            k: 0,
            outcomes: vec![Outcome::Open; plan.txns.len()],
            offsets: vec![None; plan.txns.len()],
            results: Vec::new(),
            pending: None,
            must_abort: false,
            fatal: None,
            gave_up: None,
        }
    }
}

/// The offset transaction `k` sends.
fn offset_of(k: usize) -> i64 {
    1000 + k as i64
}

impl Sim {
    /// Some broker refuses authentication (or none offers the mechanism).
    fn refusing_sasl(&self) -> bool {
        self.sc.sasl.as_ref().is_some_and(|s| s.refuse_node.is_some() || !s.enabled.contains(&s.mechanism))
    }

    fn plan(&self) -> &TxnPlan {
        self.sc.txn.as_ref().expect("a transactional run")
    }

    fn app(&mut self) -> &mut TxnApp {
        self.txn_app.as_mut().expect("a transactional run")
    }

    /// The transient coordinator faults for one request frame.
    pub(super) fn txn_frame_faults(&mut self) -> TxnFrameFaults {
        let Some(plan) = &self.sc.txn else { return TxnFrameFaults::default() };
        let (transient, delay) = (plan.transient, plan.marker_delay);
        let error = self.rng.chance(transient).then(|| {
            self.rng.pick(&[
                ErrorCode::NotCoordinator,
                ErrorCode::CoordinatorLoadInProgress,
                ErrorCode::ConcurrentTransactions,
            ])
        });
        TxnFrameFaults { error, marker_delay_us: self.rng.range(0, delay) }
    }

    /// Whether an EndTxn response is lost on purpose.
    pub(super) fn txn_lose_end(&mut self) -> bool {
        let lose = self.sc.txn.as_ref().map_or(0, |p| p.lose_end);
        self.rng.chance(lose)
    }

    /// A cluster event of a transactional run.
    pub(super) fn txn_event(&mut self, e: ClusterEvent) {
        let load = self.rng.range(0, 200_000);
        match e {
            ClusterEvent::CoordinatorMove { to, group_to }
                if self.cluster.is_up(to) && self.cluster.is_up(group_to) =>
            {
                self.cluster.txn_move(to, group_to, self.now, load);
            }
            ClusterEvent::Fence => self.cluster.txn_fence(TXN_ID),
            ClusterEvent::BrokerDown(node) => {
                // The coordinators' partitions elect another leader, which loads their state.
                let up = self.cluster.up_brokers();
                let Some(c) = &self.cluster.txn else { return };
                let (mut to, mut group_to) = (c.node, c.group_node);
                if !up.is_empty() {
                    if to == node {
                        to = self.rng.pick(&up);
                    }
                    if group_to == node {
                        group_to = self.rng.pick(&up);
                    }
                    self.cluster.txn_move(to, group_to, self.now, load);
                }
            }
            _ => {}
        }
    }

    /// A result from `poll_txn`.
    pub(super) fn on_txn_result(&mut self, r: TxnResult) {
        self.log(|| format!("txn result {r:?}"));
        let app = self.app();
        app.results.push(r);
        let expected = match app.stage {
            Stage::Waiting(op, _) if app.pending.is_none() => op == r.op,
            // The call given up on ends with the close.
            Stage::Done => app.gave_up == Some(r.op) && matches!(r.result, Err(TxnError::Closed { .. })),
            _ => false,
        };
        if expected {
            app.pending = Some(r);
        } else {
            let stage = app.stage;
            self.violation(format!("result {r:?} while the application is at {stage:?}"));
        }
    }

    /// When the transactional application acts next on its own.
    pub(super) fn txn_app_wake(&self) -> Option<Instant> {
        let app = self.txn_app.as_ref()?;
        match app.stage {
            Stage::Waiting(_, since) if app.pending.is_none() => Some(since + CALL_LIMIT),
            Stage::Sending => self.sending_wake(),
            _ => Some(self.now),
        }
    }

    /// Runs the application until it waits (for a result, a record's time, or a blocked send).
    pub(super) fn txn_app_step(&mut self) {
        for _ in 0..1000 {
            let before = self.app().stage;
            self.txn_app_once();
            let app = self.app();
            if app.stage == before && !matches!(before, Stage::Begin | Stage::End | Stage::Offsets) {
                break;
            }
            if app.stage == Stage::Done {
                self.txn_app_done();
                return;
            }
        }
    }

    fn txn_app_once(&mut self) {
        let now = self.now;
        let k = self.app().k;
        match self.app().stage {
            Stage::Start => {
                let r = self.producer.init_transactions(now);
                self.call(TxnOp::InitTransactions, r);
            }
            Stage::Waiting(op, since) => match self.app().pending.take() {
                Some(r) => self.on_result(op, r),
                None if now >= since + CALL_LIMIT => {
                    // Like the drivers' max.block.ms, only much longer: the application gives
                    // up. Only brokers that refuse authentication excuse it.
                    if !self.refusing_sasl() {
                        self.violation(format!("{op:?} got no result in {CALL_LIMIT:?}"));
                    }
                    let app = self.app();
                    app.gave_up = Some(op);
                    if let Some(o) = app.outcomes.get_mut(k).filter(|o| **o == Outcome::Open) {
                        *o = Outcome::Unknown;
                    }
                    app.stage = Stage::Done;
                }
                None => {}
            },
            Stage::Begin => {
                if k >= self.plan().txns.len() {
                    self.app().stage = Stage::Done;
                    return;
                }
                self.log(|| format!("begin_transaction #{k}"));
                match self.producer.begin_transaction() {
                    Ok(()) => self.app().stage = Stage::Sending,
                    Err(e) => self.call_failed(TxnOp::CommitTransaction, e),
                }
                if self.plan().txns[k].records.start != self.next_record() {
                    self.violation(format!("transaction #{k} begins at record {}", self.next_record()));
                }
            }
            Stage::Sending => {
                let end = self.plan().txns[k].records.end;
                if self.producer.txn_state() != TxnState::InTransaction {
                    self.skip_records(end, self.producer.txn_state());
                    self.app().stage = Stage::End;
                    return;
                }
                self.send_records(end);
                if self.next_record() >= end {
                    let offsets = self.plan().txns[k].offsets.is_some();
                    self.app().stage = if offsets { Stage::Offsets } else { Stage::End };
                }
            }
            Stage::Offsets => {
                let stale = self.plan().txns[k].offsets == Some(true);
                let offsets = [TopicPartitionOffset {
                    topic: INPUT,
                    partition: (k % 2) as i32,
                    offset: offset_of(k),
                    leader_epoch: -1,
                    metadata: None,
                }];
                let generation_id = if stale { GENERATION - 1 } else { GENERATION };
                let group =
                    GroupMetadata { group_id: GROUP, generation_id, member_id: MEMBER, group_instance_id: None };
                self.log(|| format!("send_offsets_to_transaction #{k} (generation {generation_id})"));
                let r = self.producer.send_offsets_to_transaction(&offsets, &group, now);
                if r.is_err() && !matches!(r, Err(TxnError::Fatal(_))) {
                    // Refused at once (the transaction became abortable): abort.
                    self.app().must_abort = true;
                    self.app().stage = Stage::End;
                    return;
                }
                self.call(TxnOp::SendOffsets, r);
            }
            Stage::End => {
                let commit = self.plan().txns[k].commit && !self.app().must_abort;
                if commit && self.producer.txn_state() == TxnState::InTransaction {
                    self.log(|| format!("commit_transaction #{k}"));
                    let r = self.producer.commit_transaction(now);
                    self.call(TxnOp::CommitTransaction, r);
                } else {
                    self.log(|| format!("abort_transaction #{k}"));
                    let r = self.producer.abort_transaction(now);
                    self.call(TxnOp::AbortTransaction, r);
                }
            }
            Stage::Done => {}
        }
    }

    /// A call started (or was refused at once).
    fn call(&mut self, op: TxnOp, r: Result<(), TxnError>) {
        self.woken_at = Some(self.now);
        match r {
            Ok(()) => {
                let now = self.now;
                self.app().stage = Stage::Waiting(op, now);
                self.drain();
            }
            Err(e) => self.call_failed(op, e),
        }
    }

    /// A call failed (at once or with its result).
    fn call_failed(&mut self, op: TxnOp, e: TxnError) {
        self.log(|| format!("{op:?} failed: {e:?}"));
        let k = self.app().k;
        match e {
            TxnError::Fatal(_) => {
                let app = self.app();
                app.fatal = Some(e);
                if let Some(o) = app.outcomes.get_mut(k) {
                    *o = Outcome::Unknown;
                }
                app.stage = Stage::Done;
            }
            TxnError::Abortable(_) if op != TxnOp::AbortTransaction => {
                let app = self.app();
                app.must_abort = true;
                app.stage = Stage::End;
            }
            other => {
                self.violation(format!("{op:?} failed with {other:?}"));
                self.app().stage = Stage::Done;
            }
        }
    }

    fn on_result(&mut self, op: TxnOp, r: TxnResult) {
        let k = self.app().k;
        let Err(e) = r.result else {
            let app = self.app();
            match op {
                TxnOp::InitTransactions => app.stage = Stage::Begin,
                TxnOp::SendOffsets => {
                    app.offsets[k] = Some(offset_of(k));
                    app.stage = Stage::End;
                }
                TxnOp::CommitTransaction | TxnOp::AbortTransaction => {
                    let committed = op == TxnOp::CommitTransaction;
                    app.outcomes[k] = if committed { Outcome::Committed } else { Outcome::Aborted };
                    app.k += 1;
                    app.must_abort = false;
                    app.stage = Stage::Begin;
                }
            }
            return;
        };
        self.call_failed(op, e);
    }

    /// The planned records `next..end` are not sent: the transaction cannot take them.
    fn skip_records(&mut self, end: usize, state: TxnState) {
        while self.next_record() < end {
            let i = self.next_record();
            let e = TxnError::InvalidState { op: "send", state };
            self.out.refused.push((i, SendError::Transaction(e)));
            self.set_next_record(i + 1);
        }
    }

    /// No more transactions: the records never sent are refused, then flush and close.
    fn txn_app_done(&mut self) {
        let state = self.producer.txn_state();
        let len = self.sc.records.len();
        self.skip_records(len, state);
        self.send_due();
    }
}

/// The records a read_committed consumer sees, per (topic, partition): planned indices in log
/// order (aborted transactions' records dropped, nothing from the first open transaction on).
pub fn read_committed(sim: &Sim) -> BTreeMap<(String, usize), Vec<usize>> {
    let mut view = BTreeMap::new();
    for t in &sim.cluster.topics {
        for (p, part) in t.partitions.iter().enumerate() {
            // Each transactional record's fate: the first marker of its producer after it.
            let mut open: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
            let mut fate: Vec<Option<bool>> = vec![None; part.log.len()];
            let mut markers = part.markers.iter().peekable();
            for pos in 0..=part.log.len() {
                while let Some(&&(at, pid, commit)) = markers.peek().filter(|m| m.0 == pos) {
                    let _ = at;
                    for i in open.remove(&pid).unwrap_or_default() {
                        fate[i] = Some(commit);
                    }
                    markers.next();
                }
                if let Some(s) = part.log.get(pos) {
                    open.entry(s.producer.0).or_default().push(pos);
                }
            }
            let mut seen = Vec::new();
            for (pos, s) in part.log.iter().enumerate() {
                match fate[pos] {
                    None => break,
                    Some(false) => {}
                    Some(true) => seen.extend(s.value.as_deref().and_then(index_of)),
                }
            }
            view.insert((t.name.clone(), p), seen);
        }
    }
    view
}

/// The transactional properties (see the module docs).
pub fn check_txn(sim: &Sim, v: &mut Vec<String>) {
    let (Some(plan), Some(app), Some(c)) = (&sim.sc.txn, &sim.txn_app, &sim.cluster.txn) else {
        return;
    };
    let view = read_committed(sim);
    let accepted: BTreeSet<usize> = sim.out.accepted.iter().map(|a| a.planned).collect();
    let mut visible: BTreeMap<usize, u32> = BTreeMap::new();
    for ((topic, p), seen) in &view {
        if let Some(w) = seen.windows(2).find(|w| w[0] >= w[1]) {
            v.push(format!("read_committed {topic}-{p}: #{} before #{}", w[0], w[1]));
        }
        for &i in seen {
            *visible.entry(i).or_default() += 1;
        }
    }
    for (&i, &n) in visible.iter().filter(|(_, &n)| n > 1) {
        v.push(format!("read_committed shows #{i} {n} times"));
    }
    let txn_of = |i: usize| plan.txns.iter().position(|t| t.records.contains(&i));
    for &i in visible.keys() {
        let k = txn_of(i);
        let outcome = k.map(|k| app.outcomes[k]);
        if !matches!(outcome, Some(Outcome::Committed | Outcome::Unknown)) {
            v.push(format!("read_committed shows #{i} of transaction {k:?} ({outcome:?})"));
        }
    }
    for (k, t) in plan.txns.iter().enumerate() {
        let mine: Vec<usize> = t.records.clone().filter(|i| accepted.contains(i)).collect();
        let shown = mine.iter().filter(|i| visible.contains_key(i)).count();
        let ok = match app.outcomes[k] {
            Outcome::Committed => shown == mine.len(),
            Outcome::Aborted => shown == 0,
            Outcome::Unknown | Outcome::Open => shown == 0 || shown == mine.len(),
        };
        if !ok {
            v.push(format!(
                "transaction #{k} ({:?}): read_committed shows {shown} of its {} accepted records",
                app.outcomes[k],
                mine.len()
            ));
        }
        let sent = app.offsets[k];
        let committed = sent.is_some_and(|o| c.offset_commits.iter().any(|x| x.0 == GROUP && x.3 == o));
        let wrong = match app.outcomes[k] {
            Outcome::Committed => sent.is_some() && !committed,
            Outcome::Aborted => committed,
            _ => false,
        };
        if wrong {
            v.push(format!("transaction #{k} ({:?}): its offsets committed: {committed}", app.outcomes[k]));
        }
    }
    for x in &c.offset_commits {
        let k = (x.3 - 1000) as usize;
        if app.outcomes.get(k).is_none_or(|o| matches!(o, Outcome::Aborted | Outcome::Open)) {
            v.push(format!("offset {x:?} committed for transaction #{k}, {:?}", app.outcomes.get(k)));
        }
    }
    check_txn_end(sim, plan, app, v);
}

fn check_txn_end(sim: &Sim, plan: &TxnPlan, app: &TxnApp, v: &mut Vec<String>) {
    let state = sim.producer.txn_state();
    let fenced = sim.cluster.txn.as_ref().is_some_and(|c| c.fenced);
    let fence_error =
        |e: &FatalError| matches!(e, FatalError::Broker(ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch));
    match (state, app.fatal) {
        (TxnState::Ready, None) if app.k == plan.txns.len() => {}
        (TxnState::FatalError, Some(TxnError::Fatal(e))) if fenced && fence_error(&e) => {}
        (TxnState::FatalError, Some(TxnError::Fatal(e))) if sasl_refusal(sim, &e) => {}
        // Waiting on brokers that refuse authentication.
        _ if app.gave_up.is_some() && sim.refusing_sasl() => {}
        (state, fatal) if !sim.out.aborted => {
            v.push(format!("ends in {state:?} after {} of {} transactions, fatal {fatal:?}", app.k, plan.txns.len()));
        }
        _ => {}
    }
    // A call given up on gets its result once the producer is closed.
    let closed_result = |op| app.results.iter().any(|r| r.op == op && matches!(r.result, Err(TxnError::Closed { .. })));
    if let Some(op) = app.gave_up.filter(|&op| sim.producer.closed() && !closed_result(op)) {
        v.push(format!("{op:?} given up on got no result after close"));
    }
    // A producer whose requests were refused as fenced must end with a fatal error (one that
    // sends nothing after the fence cannot know, as with Java's client).
    let noticed = sim.cluster.txn.as_ref().is_some_and(|c| c.fence_noticed);
    if noticed && app.fatal.is_none() && app.gave_up.is_none() {
        v.push("fenced, told so by the coordinator, yet no fatal error".into());
    }
}

/// A fatal error from brokers refusing authentication (Java's `authenticationFailed`: a call
/// with nowhere to go fails).
fn sasl_refusal(sim: &Sim, e: &FatalError) -> bool {
    let code = ErrorCode::SaslAuthenticationFailed;
    sim.refusing_sasl() && matches!(e, FatalError::Broker(c) if *c == code || *c == ErrorCode::UnsupportedSaslMechanism)
}

/// A failure reason a transactional run may give a batch: aborted with its transaction, or a
/// fenced producer's.
pub fn txn_reason_ok(sim: &Sim, first: usize, reason: DeliveryError) -> bool {
    let (Some(plan), Some(app)) = (&sim.sc.txn, &sim.txn_app) else { return false };
    let k = plan.txns.iter().position(|t| t.records.contains(&first));
    let outcome = k.map(|k| app.outcomes[k]);
    let fenced = sim.cluster.txn.as_ref().is_some_and(|c| c.fenced);
    match reason {
        DeliveryError::TransactionAborted => matches!(outcome, Some(Outcome::Aborted | Outcome::Unknown)),
        DeliveryError::Fatal(e) if sasl_refusal(sim, &e) => true,
        DeliveryError::Fatal(_) | DeliveryError::Broker(ErrorCode::InvalidProducerEpoch) => fenced,
        _ => false,
    }
}

/// Fault-free transactional runs: every transaction ends as planned, every record of a
/// committed one is delivered.
pub fn check_txn_liveness(sim: &Sim, v: &mut Vec<String>) {
    let (Some(plan), Some(app)) = (&sim.sc.txn, &sim.txn_app) else { return };
    for (k, t) in plan.txns.iter().enumerate() {
        let stale = t.offsets == Some(true);
        let want = if t.commit && !stale { Outcome::Committed } else { Outcome::Aborted };
        if app.outcomes[k] != want {
            v.push(format!("fault-free run: transaction #{k} {:?}, planned {want:?}", app.outcomes[k]));
        }
    }
    for (i, e) in &sim.out.refused {
        if sim.cluster.topic(&sim.sc.records[*i].topic).is_some() {
            v.push(format!("fault-free run refused #{i}: {e:?}"));
        }
    }
    let failed: Vec<&Completion> = sim.out.completions.values().filter(|c| c.result.is_err()).collect();
    for c in failed {
        if c.result != Err(DeliveryError::TransactionAborted) {
            v.push(format!("fault-free run failed a batch of {}-{}: {:?}", c.topic, c.partition, c.result));
        }
    }
}
