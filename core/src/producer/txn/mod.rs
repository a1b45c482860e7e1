//! Transactions: the state machine of Java's `TransactionManager`, on the same sans-IO engine.
//!
//! The `Txn` owner keeps the state ([`TxnState`]), the call under way and its result, the
//! coordinators, the partitions and offsets of the open transaction, and which transaction
//! request goes next. Calls (`init_transactions`, `begin_transaction`,
//! `send_offsets_to_transaction`, `commit_transaction`, `abort_transaction`) start an operation;
//! its result arrives later as a [`TxnResult`] from [`Producer::poll_txn`] (the drain loop hands
//! it to [`super::Links::txn_result`]), and the drivers turn that into a blocking call or a
//! future.
//!
//! The requests (`wire.rs`) follow Kafka's two flows, chosen from the coordinator's finalized
//! `transaction.version`: V1 adds each partition with AddPartitionsToTxn before its first batch
//! and the group with AddOffsetsToTxn, Produce stays at v11 or below and EndTxn at v4; V2
//! (KIP-890) adds both implicitly (Produce v12+, TxnOffsetCommit v5+) and EndTxn v5+ bumps the
//! epoch, which the producer adopts with fresh sequences.
//!
//! Errors are classed as the Java client does: fatal ones (fenced, not authorized, a state the
//! coordinator refuses) end the producer; abortable ones fail the call and leave only
//! `abort_transaction`; retriable ones (CONCURRENT_TRANSACTIONS, COORDINATOR_LOAD_IN_PROGRESS,
//! NOT_COORDINATOR and COORDINATOR_NOT_AVAILABLE, which look the coordinator up again) are
//! retried after `retry.backoff.ms`. Aborting fails every batch not yet sent with
//! [`super::DeliveryError::TransactionAborted`], so each record still gets exactly one completion.

mod list;
mod offsets;
mod types;
mod wire;

pub use offsets::{MAX_OFFSETS, OFFSETS_STRING_BYTES};
pub use types::{AbortCause, GroupMetadata, TopicPartitionOffset, TxnError, TxnOp, TxnResult, TxnState};
pub(crate) use wire::{Target, TxnRequest, TxnVersions};

use offsets::Offsets;

use super::engine::Producer;
use super::types::{DeliveryError, FatalError, Outcome};
use crate::partitioner::Partitioner;
use crate::time::Instant;

/// The most partitions one transaction may touch (each needs an entry until the transaction
/// ends; [`TxnError::TooManyPartitions`] beyond): 65,536 with the `alloc` feature, 32 without.
pub const MAX_TXN_PARTITIONS: usize = if cfg!(feature = "alloc") { 1 << 16 } else { NO_ALLOC_PARTITIONS };
// Without the `transactions` feature nothing is ever added: no room is kept.
const NO_ALLOC_PARTITIONS: usize = if cfg!(feature = "transactions") { 32 } else { 0 };

/// Where one kind of request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// Not needed.
    Idle,
    /// Wanted, not before this instant.
    Wanted(Instant),
    /// In flight on this connection slot.
    InFlight(u16),
}

/// A partition of the open transaction (by partition slot), as the coordinator knows it (V1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// Not added yet.
    New,
    /// In an AddPartitionsToTxn in flight.
    Adding,
    /// In an AddPartitionsToTxn whose answer was lost: the coordinator may have added it, so it
    /// is asked again, even while aborting (Java's `TransactionManager` re-enqueues the request
    /// ahead of EndTxn). Ending without it could leave the transaction open on the coordinator,
    /// or miss that the producer was fenced.
    Unknown,
    /// Added: its batches may go.
    Added,
}

/// Where the offsets of `send_offsets_to_transaction` stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OffsetsStage {
    /// V1: AddOffsetsToTxn to the transaction coordinator first.
    AddToTxn,
    /// TxnOffsetCommit to the group coordinator.
    Commit,
}

/// See the module docs.
#[derive(Debug)]
pub(crate) struct Txn {
    enabled: bool,
    pub(crate) state: TxnState,
    op: Option<TxnOp>,
    result: Option<TxnResult>,
    /// The transaction coordinator's node, once found.
    pub(crate) coordinator: Option<i32>,
    pub(crate) find: Step,
    /// The group coordinator's node for the pending offsets, once found.
    pub(crate) group_coordinator: Option<i32>,
    pub(crate) find_group: Step,
    /// Whether the open transaction follows transactions V2 (KIP-890).
    pub(crate) v2: bool,
    parts: list::List<(u16, Part), NO_ALLOC_PARTITIONS>,
    pub(crate) add: Step,
    pub(crate) offsets: Option<(Offsets, OffsetsStage)>,
    pub(crate) offsets_step: Step,
    /// The correlation id of the last offsets request sent (AddOffsetsToTxn or TxnOffsetCommit).
    /// An offsets answer counts only while `offsets_step` is in flight on its connection and it
    /// answers this request: one an abort dropped may still be in flight, and its late answer
    /// must not pass for the next call's (sim seed 7387835: it completed the next transaction's
    /// offsets before they were sent, and the transaction committed without them).
    pub(crate) offsets_corr: i32,
    /// EndTxn: commit (`true`) or abort, and where it stands.
    pub(crate) end: Option<(bool, Step)>,
    /// Something of this transaction may have reached the broker, so EndTxn must go.
    pub(crate) started: bool,
    abortable: Option<AbortCause>,
    /// Consecutive retriable failures of transaction requests (for the backoff).
    pub(crate) failures: u32,
}

impl Txn {
    pub(crate) fn new(enabled: bool) -> Self {
        Self {
            enabled,
            state: TxnState::Uninitialized,
            op: None,
            result: None,
            coordinator: None,
            find: Step::Idle,
            group_coordinator: None,
            find_group: Step::Idle,
            v2: false,
            parts: list::List::new(),
            add: Step::Idle,
            offsets: None,
            offsets_step: Step::Idle,
            offsets_corr: 0,
            end: None,
            started: false,
            abortable: None,
            failures: 0,
        }
    }

    /// Whether the producer is transactional. Without the `transactions` feature this is
    /// constant false: every transaction path is dead code and the linker leaves it out.
    pub(crate) const fn enabled(&self) -> bool {
        cfg!(feature = "transactions") && self.enabled
    }

    /// Whether InitProducerId may go (transactional: only while `init_transactions` runs, or to
    /// bump the epoch between transactions, and only once the coordinator is known).
    pub(crate) fn id_may_go(&self) -> bool {
        !self.enabled() || matches!(self.state, TxnState::Initializing | TxnState::Ready) && self.coordinator.is_some()
    }

    /// Whether the batches of partition slot `pi` may go now.
    pub(crate) fn partition_ready(&self, pi: u16) -> bool {
        if !self.enabled() {
            return true;
        }
        matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction)
            && (self.v2 || self.parts.iter().any(|&(p, s)| p == pi && s == Part::Added))
    }

    /// Partitions waiting to be added (V1): new ones, and those whose add is unknown.
    pub(crate) fn new_parts(&self) -> impl Iterator<Item = u16> + '_ {
        self.parts.iter().filter(|&&(_, s)| matches!(s, Part::New | Part::Unknown)).map(|&(p, _)| p)
    }

    /// The abort drops the partitions no AddPartitionsToTxn named yet (as Java clears its
    /// `newPartitionsInTransaction`); those whose add is unknown stay, to be asked again.
    fn drop_new_parts(&mut self) {
        self.parts.retain(|&(_, s)| s != Part::New);
        if self.add != Step::Idle && !matches!(self.add, Step::InFlight(_)) && self.new_parts().next().is_none() {
            self.add = Step::Idle;
        }
    }

    /// While aborting, the coordinator refused to add the partitions whose add was unknown
    /// (not fenced, not retriable: e.g. not authorized): they are not in the transaction.
    pub(crate) fn drop_unknown_parts(&mut self) {
        self.parts.retain(|&(_, s)| s != Part::Unknown);
        self.add = Step::Idle;
    }

    /// Partitions in `state`.
    pub(crate) fn parts_in(&self, state: Part) -> impl Iterator<Item = u16> + '_ {
        self.parts.iter().filter(move |&&(_, s)| s == state).map(|&(p, _)| p)
    }

    /// Marks the first `n` of [`Txn::new_parts`] as being added: one pass, where a
    /// [`Txn::set_part`] each would scan the list once per partition.
    pub(crate) fn mark_adding(&mut self, n: usize) {
        let new = self.parts.iter_mut().filter(|(_, s)| matches!(s, Part::New | Part::Unknown));
        new.take(n).for_each(|e| e.1 = Part::Adding);
    }

    pub(crate) fn set_part(&mut self, pi: u16, state: Part) {
        if let Some(e) = self.parts.iter_mut().find(|(p, _)| *p == pi) {
            e.1 = state;
        }
    }

    fn finish(&mut self, result: Result<(), TxnError>) {
        if let Some(op) = self.op.take() {
            self.result = Some(TxnResult { op, result });
        }
    }

    /// Makes the transaction abortable (the current call fails with it, if one runs).
    pub(crate) fn set_abortable(&mut self, cause: AbortCause) {
        if matches!(self.state, TxnState::InTransaction | TxnState::CommittingTransaction) {
            self.abortable.get_or_insert(cause);
            self.state = TxnState::AbortableError;
            self.offsets = None;
            self.offsets_step = Step::Idle;
            self.end = None;
            self.finish(Err(TxnError::Abortable(cause)));
        }
    }

    /// The producer hit a fatal error.
    pub(crate) fn set_fatal(&mut self, e: FatalError) {
        if self.enabled() {
            self.state = TxnState::FatalError;
            self.finish(Err(TxnError::Fatal(e)));
        }
    }

    /// The transaction ended (EndTxn answered, or nothing reached the broker).
    pub(crate) fn ended(&mut self) {
        self.state = TxnState::Ready;
        self.parts.clear();
        self.add = Step::Idle;
        self.offsets = None;
        self.offsets_step = Step::Idle;
        self.end = None;
        self.started = false;
        self.abortable = None;
        self.finish(Ok(()));
    }

    /// A connection slot is gone: what was in flight on it is wanted again, and if it led to a
    /// coordinator, that coordinator is looked up again.
    pub(crate) fn conn_lost(&mut self, conn: u16, node: i32, now: Instant) {
        let again = |s: &mut Step| {
            if *s == Step::InFlight(conn) {
                *s = Step::Wanted(now);
            }
        };
        again(&mut self.find);
        again(&mut self.find_group);
        again(&mut self.add);
        again(&mut self.offsets_step);
        if let Some((_, s)) = &mut self.end {
            again(s);
        }
        if self.add == Step::Wanted(now) {
            self.parts.iter_mut().filter(|(_, s)| *s == Part::Adding).for_each(|e| e.1 = Part::Unknown);
        }
        if self.coordinator == Some(node) {
            self.coordinator_lost(now);
        }
        if self.group_coordinator == Some(node) {
            self.group_coordinator = None;
            self.find_group = Step::Wanted(now);
        }
    }

    /// NOT_COORDINATOR, COORDINATOR_NOT_AVAILABLE or a lost connection: look it up again.
    pub(crate) fn coordinator_lost(&mut self, now: Instant) {
        self.coordinator = None;
        if !matches!(self.find, Step::InFlight(_)) {
            self.find = Step::Wanted(now);
        }
    }

    /// A partition slot moved (its topic's block grew or moved in the metadata cache).
    pub(crate) fn move_partition(&mut self, from: u16, to: u16) {
        self.parts.iter_mut().filter(|(p, _)| *p == from).for_each(|e| e.0 = to);
    }
}

impl<P: Partitioner> Producer<'_, P> {
    // ---- the transactional API ----

    /// Where the transaction stands.
    pub const fn txn_state(&self) -> TxnState {
        self.txn.state
    }

    /// Whether the open (or last) transaction follows transactions V2 (KIP-890), as the
    /// coordinator's finalized `transaction.version` offered when it began.
    pub const fn txn_v2(&self) -> bool {
        self.txn.v2
    }

    /// The transaction coordinator's node id, once found.
    pub const fn txn_coordinator(&self) -> Option<i32> {
        self.txn.coordinator
    }

    /// The result of the last transactional call, once it is known (each call gives exactly
    /// one). [`Producer::drain`] polls it into [`super::Links::txn_result`].
    #[must_use]
    pub fn poll_txn(&mut self) -> Option<TxnResult> {
        // Once closed nothing more goes out: a call still under way ends here instead of never.
        if self.txn.result.is_none() && self.closed() {
            if let Some(op) = self.txn.op {
                self.txn.finish(Err(TxnError::Closed { op: op.name() }));
            }
        }
        self.txn.result.take()
    }

    fn txn_check(&self, op: &'static str, allowed: &[TxnState]) -> Result<(), TxnError> {
        if !self.txn.enabled() {
            return Err(TxnError::NotTransactional);
        }
        if let Some(e) = self.fatal {
            return Err(TxnError::Fatal(e));
        }
        if let Some(busy) = self.txn.op {
            return Err(TxnError::Busy(busy));
        }
        if self.close_deadline.is_some() {
            return Err(TxnError::Closed { op });
        }
        if allowed.contains(&self.txn.state) {
            Ok(())
        } else {
            Err(self.txn_refusal(op))
        }
    }

    /// Why a call (`op`) is not allowed now: in the abortable state, the error that made the
    /// transaction abortable (as Java rethrows its `lastError`); else the state.
    fn txn_refusal(&self, op: &'static str) -> TxnError {
        match (self.txn.state, self.txn.abortable) {
            (TxnState::AbortableError, Some(cause)) => TxnError::Abortable(cause),
            (state, _) => TxnError::InvalidState { op, state },
        }
    }

    /// Starts `init_transactions`: finds the transaction coordinator and gets the producer id
    /// and epoch for `transactional.id`, which fences older producers with the same id and
    /// completes their open transaction. The result arrives through [`Producer::poll_txn`].
    pub fn init_transactions(&mut self, now: Instant) -> Result<(), TxnError> {
        self.txn_check("init_transactions", &[TxnState::Uninitialized])?;
        self.now = self.now.max(now);
        self.txn.state = TxnState::Initializing;
        self.txn.op = Some(TxnOp::InitTransactions);
        if self.txn.coordinator.is_none() {
            self.txn.find = Step::Wanted(now);
        }
        Ok(())
    }

    /// Opens a transaction (no request goes out: the first record or offsets start it on the
    /// broker).
    pub fn begin_transaction(&mut self) -> Result<(), TxnError> {
        self.txn_check("begin_transaction", &[TxnState::Ready])?;
        self.txn.state = TxnState::InTransaction;
        self.txn.v2 = self.txn_v2_available();
        Ok(())
    }

    /// Starts `send_offsets_to_transaction`: the consumer group's `offsets` commit with the
    /// transaction, and only if it commits. The result arrives through [`Producer::poll_txn`].
    pub fn send_offsets_to_transaction(
        &mut self,
        offsets: &[TopicPartitionOffset<'_>],
        group: &GroupMetadata<'_>,
        now: Instant,
    ) -> Result<(), TxnError> {
        self.txn_check("send_offsets_to_transaction", &[TxnState::InTransaction])?;
        let stored = Offsets::new(offsets, group)?;
        self.now = self.now.max(now);
        let stage = if self.txn.v2 { OffsetsStage::Commit } else { OffsetsStage::AddToTxn };
        self.txn.offsets = Some((stored, stage));
        self.txn.offsets_step = Step::Wanted(now);
        self.txn.group_coordinator = None;
        self.txn.find_group = if stage == OffsetsStage::Commit { Step::Wanted(now) } else { Step::Idle };
        self.txn.op = Some(TxnOp::SendOffsets);
        Ok(())
    }

    /// Starts `commit_transaction`: flushes every record of the transaction, then commits it.
    /// If a record failed, the result is [`TxnError::Abortable`]. The result arrives through
    /// [`Producer::poll_txn`].
    pub fn commit_transaction(&mut self, now: Instant) -> Result<(), TxnError> {
        self.txn_check("commit_transaction", &[TxnState::InTransaction])?;
        self.now = self.now.max(now);
        self.txn.state = TxnState::CommittingTransaction;
        self.txn.op = Some(TxnOp::CommitTransaction);
        self.txn.end = Some((true, Step::Wanted(now)));
        self.acc.close_all();
        Ok(())
    }

    /// Starts `abort_transaction`: every record not yet sent fails with
    /// [`DeliveryError::TransactionAborted`], the records in flight are answered, then the
    /// coordinator aborts the transaction. The result arrives through [`Producer::poll_txn`].
    pub fn abort_transaction(&mut self, now: Instant) -> Result<(), TxnError> {
        let allowed = [TxnState::InTransaction, TxnState::AbortableError];
        self.txn_check("abort_transaction", &allowed)?;
        self.now = self.now.max(now);
        self.txn.state = TxnState::AbortingTransaction;
        self.txn.op = Some(TxnOp::AbortTransaction);
        self.txn.offsets = None;
        self.txn.offsets_step = Step::Idle;
        self.txn.end = Some((false, Step::Wanted(now)));
        self.txn.drop_new_parts();
        self.fail_unsent_for_abort(now);
        Ok(())
    }

    // ---- hooks the engine calls ----

    /// InitProducerId answered: `init_transactions` is done.
    pub(super) fn txn_initialized(&mut self) {
        if self.txn.state == TxnState::Initializing {
            self.txn.state = TxnState::Ready;
            self.txn.failures = 0;
            self.txn.finish(Ok(()));
        }
    }

    /// `send` in a transactional producer: only inside a transaction, and the partition joins it.
    pub(super) fn txn_on_send(&mut self, pi: u16) -> Result<(), TxnError> {
        if !self.txn.enabled() {
            return Ok(());
        }
        if self.txn.state != TxnState::InTransaction {
            let e = self.fatal.map(TxnError::Fatal);
            return Err(e.unwrap_or_else(|| self.txn_refusal("send")));
        }
        if self.txn.parts.iter().any(|&(p, _)| p == pi) {
            return Ok(());
        }
        let part = if self.txn.v2 { Part::Added } else { Part::New };
        if !self.txn.parts.push((pi, part), MAX_TXN_PARTITIONS) {
            return Err(TxnError::TooManyPartitions { limit: MAX_TXN_PARTITIONS });
        }
        if part == Part::New && self.txn.add == Step::Idle {
            self.txn.add = Step::Wanted(self.now);
        }
        Ok(())
    }

    /// Broker `node` refused authentication (Java's `TransactionManager.authenticationFailed`):
    /// a call under way fails, fatally, if `node` is a coordinator it needs or every known
    /// broker refused, since its requests have nowhere to go.
    pub(super) fn txn_auth_failed(&mut self, node: i32, refusal: crate::protocol::ErrorCode) {
        if !self.txn.enabled() || self.txn.op.is_none() {
            return;
        }
        let coordinator = self.txn.coordinator == Some(node) || self.txn.group_coordinator == Some(node);
        let code = match self.refused_everywhere() {
            Some(super::types::SendError::Authentication { code, .. }) => Some(code),
            _ => coordinator.then_some(refusal),
        };
        if let Some(code) = code {
            self.set_fatal(FatalError::Broker(code));
        }
    }

    /// A coordinator whose address the metadata no longer lists (the broker left it, e.g. while
    /// down) is looked up again: the engine cannot connect to a bare node id.
    pub(super) fn txn_check_coordinators(&mut self, now: Instant) {
        if !self.txn.enabled() {
            return;
        }
        if self.txn.coordinator.is_some_and(|n| self.meta.broker(n).is_none()) {
            self.txn.coordinator_lost(now);
        }
        if self.txn.group_coordinator.is_some_and(|n| self.meta.broker(n).is_none()) {
            self.txn.group_coordinator = None;
            self.txn.find_group = Step::Wanted(now);
        }
        // A coordinator that refused authentication earlier: the call cannot go on.
        let refused = |node: Option<i32>| {
            let c = self.conns.iter().find(|c| c.is_used() && Some(c.node) == node);
            c.and_then(|c| c.sasl.failed).map(|e| e.code())
        };
        let code = refused(self.txn.coordinator).or_else(|| refused(self.txn.group_coordinator));
        if let (Some(code), Some(_)) = (code, self.txn.op) {
            self.set_fatal(FatalError::Broker(code));
        }
    }

    /// A batch completed: a failed record makes the transaction abortable.
    pub(super) fn txn_on_complete(&mut self, outcome: Outcome) {
        if let Outcome::Failed(reason) = outcome {
            if self.txn.enabled() && !matches!(reason, DeliveryError::TransactionAborted | DeliveryError::Fatal(_)) {
                self.txn.set_abortable(AbortCause::Delivery(reason));
            }
        }
    }

    /// Fails every batch of the aborting transaction that is not in flight (those in flight are
    /// answered first). A sealed batch leaves a sequence gap: the epoch is bumped afterwards.
    pub(super) fn fail_unsent_for_abort(&mut self, now: Instant) {
        let mut gap = false;
        loop {
            let mut slots: heapless::Vec<u16, 64> = heapless::Vec::new();
            for (slot, b) in self.acc.iter_slots() {
                if b.send().outcome == Outcome::Pending && !b.send().in_flight && slots.push(slot).is_err() {
                    break;
                }
            }
            if slots.is_empty() {
                break;
            }
            for &slot in &slots {
                gap |=
                    self.acc.slot(slot).is_some_and(|b| matches!(b.stage(), super::accumulator::Stage::Sealed { .. }));
                self.complete(slot, Outcome::Failed(DeliveryError::TransactionAborted));
            }
        }
        if gap && !self.txn.v2 {
            self.idem.request_bump(now);
        }
    }
}
