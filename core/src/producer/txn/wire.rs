//! The transaction requests: which one goes next and where ([`Producer::txn_next`], shared by
//! `poll_transmit`, `poll_timeout` and the connection plan, so they cannot disagree), how each is
//! written, and what each answer does.

use super::{AbortCause, OffsetsStage, Part, Step, TxnState};
use crate::partitioner::Partitioner;
use crate::producer::conn::{ConnState, RequestKind};
use crate::producer::engine::Producer;
use crate::producer::metadata::{PartitionIdx, TopicIdx};
use crate::producer::transmit::{
    request_table, write_request, RequestTable, Transmit, TransmitError, MAX_PARTITIONS_PER_REQUEST,
};
use crate::producer::types::FatalError;
use crate::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use crate::protocol::add_partitions_to_txn::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, AddPartitionsToTxnTopic,
};
use crate::protocol::api_versions::ApiVersionsResponse;
use crate::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use crate::protocol::find_coordinator::{
    FindCoordinatorRequest, FindCoordinatorResponse, KEY_TYPE_GROUP, KEY_TYPE_TRANSACTION,
};
use crate::protocol::txn_offset_commit::{GroupMember, TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use crate::protocol::{ApiKey, ErrorCode, Node, Response};
use crate::record::ProducerState;
use crate::time::Instant;

/// The transaction API versions negotiated on a connection, and its broker's flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct TxnVersions {
    find_coordinator: Option<i16>,
    add_partitions: Option<i16>,
    add_offsets: Option<i16>,
    end_txn: Option<i16>,
    txn_offset_commit: Option<i16>,
    /// The cluster finalized `transaction.version` >= 2 (KIP-890).
    pub(crate) v2: bool,
}

impl TxnVersions {
    pub(crate) const NONE: Self = Self {
        find_coordinator: None,
        add_partitions: None,
        add_offsets: None,
        end_txn: None,
        txn_offset_commit: None,
        v2: false,
    };

    /// From a connection's ApiVersions answer.
    pub(crate) fn from_response(resp: &ApiVersionsResponse<'_>) -> Self {
        let end_txn = resp.choose(ApiKey::EndTxn);
        let txn_offset_commit = resp.choose(ApiKey::TxnOffsetCommit);
        Self {
            find_coordinator: resp.choose(ApiKey::FindCoordinator),
            add_partitions: resp.choose(ApiKey::AddPartitionsToTxn),
            add_offsets: resp.choose(ApiKey::AddOffsetsToTxn),
            end_txn,
            txn_offset_commit,
            v2: resp.transactions_v2() && end_txn.is_some_and(|v| v >= 5) && txn_offset_commit.is_some_and(|v| v >= 5),
        }
    }
}

/// A transaction request in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TxnRequest {
    /// FindCoordinator for the transactional id.
    FindTxnCoordinator,
    /// FindCoordinator for the group of the pending offsets.
    FindGroupCoordinator,
    /// AddPartitionsToTxn (V1).
    AddPartitions,
    /// AddOffsetsToTxn (V1).
    AddOffsets,
    /// TxnOffsetCommit, to the group coordinator.
    TxnOffsetCommit,
    /// EndTxn.
    EndTxn,
}

impl TxnRequest {
    pub(crate) const fn api(self) -> ApiKey {
        match self {
            Self::FindTxnCoordinator | Self::FindGroupCoordinator => ApiKey::FindCoordinator,
            Self::AddPartitions => ApiKey::AddPartitionsToTxn,
            Self::AddOffsets => ApiKey::AddOffsetsToTxn,
            Self::TxnOffsetCommit => ApiKey::TxnOffsetCommit,
            Self::EndTxn => ApiKey::EndTxn,
        }
    }
}

/// Where a transaction request goes: any ready broker, or one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    /// Any ready broker.
    Any,
    /// This node.
    Node(i32),
}

type Polled = Result<Option<Transmit>, TransmitError>;

const fn wanted_at(s: Step) -> Option<Instant> {
    match s {
        Step::Wanted(at) => Some(at),
        _ => None,
    }
}

impl<P: Partitioner> Producer<'_, P> {
    /// Whether the transaction coordinator's connection offers the V2 flow.
    pub(crate) fn txn_v2_available(&self) -> bool {
        self.txn_coordinator_conn().is_some_and(|i| self.conns[i].versions.txn.v2)
    }

    fn txn_coordinator_conn(&self) -> Option<usize> {
        let node = self.txn.coordinator?;
        self.conns.iter().position(|c| c.is_used() && c.node == node && c.state == ConnState::Ready)
    }

    /// The transaction request that goes next, where, and not before when.
    pub(crate) fn txn_next(&self) -> Option<(TxnRequest, Target, Instant)> {
        let t = &self.txn;
        if !t.enabled() || self.fatal.is_some() {
            return None;
        }
        if let Some(at) = wanted_at(t.find) {
            return Some((TxnRequest::FindTxnCoordinator, Target::Any, at));
        }
        // A group lookup matters only while offsets wait for it.
        if let Some(at) = wanted_at(t.find_group).filter(|_| t.offsets.is_some()) {
            return Some((TxnRequest::FindGroupCoordinator, Target::Any, at));
        }
        // A request of the open transaction carries the producer's epoch: while an
        // InitProducerId bumps it (after an abort left a sequence gap), the request would carry
        // the old one, which the bump fences.
        let id_ready = matches!(self.idem.produce_mode(), Some((_, false)));
        if let (Some((_, OffsetsStage::Commit)), Some(at), Some(node), true) =
            (&t.offsets, wanted_at(t.offsets_step), t.group_coordinator, id_ready)
        {
            return Some((TxnRequest::TxnOffsetCommit, Target::Node(node), at));
        }
        let coordinator = Target::Node(t.coordinator?);
        if let (Some((_, OffsetsStage::AddToTxn)), Some(at), true) = (&t.offsets, wanted_at(t.offsets_step), id_ready) {
            return Some((TxnRequest::AddOffsets, coordinator, at));
        }
        // While aborting, only adds whose outcome is unknown are left: they go before EndTxn,
        // with the epoch of the transaction (a bump the abort wants waits for its end).
        let aborting = t.state == TxnState::AbortingTransaction;
        let adding = aborting || matches!(t.state, TxnState::InTransaction | TxnState::CommittingTransaction);
        let may_add = adding && (id_ready || aborting) && !t.v2 && t.new_parts().next().is_some();
        if let Some(at) = wanted_at(t.add).filter(|_| may_add) {
            return Some((TxnRequest::AddPartitions, coordinator, at));
        }
        let (_, step) = t.end?;
        let at = wanted_at(step)?;
        // EndTxn waits for every batch, every added partition and the offsets.
        let adding_busy = matches!(t.add, Step::InFlight(_)) || (adding && t.add != Step::Idle && !t.v2);
        let busy = adding_busy
            || t.offsets.is_some()
            || self
                .acc
                .iter_slots()
                .any(|(_, b)| b.send().outcome == crate::producer::types::Outcome::Pending || b.rest() > 0);
        (!busy).then_some((TxnRequest::EndTxn, coordinator, at))
    }

    /// The node a transaction request needs a connection to, if any.
    pub(crate) fn txn_wanted_node(&self) -> Option<i32> {
        match self.txn_next() {
            Some((_, Target::Node(n), _)) => Some(n),
            _ if self.txn.state == TxnState::Initializing => self.txn.coordinator,
            _ => None,
        }
    }

    /// Whether a transaction request needs any broker (a coordinator lookup).
    pub(crate) fn txn_needs_any(&self) -> bool {
        matches!(self.txn_next(), Some((_, Target::Any, _)))
    }

    /// Writes the next transaction request for connection `i`, if one is due there.
    pub(crate) fn send_txn(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        let Some((req, target, at)) = self.txn_next() else {
            return Ok(None);
        };
        let c = &self.conns[i];
        if at > now || matches!(target, Target::Node(n) if n != c.node) {
            return Ok(None);
        }
        let v = c.versions.txn;
        let client_id = self.config.client_id;
        let Some(txn_id) = self.config.transactions.transactional_id.as_deref() else {
            return Ok(None);
        };
        let producer = self.idem.current();
        let sent = match req {
            TxnRequest::FindTxnCoordinator | TxnRequest::FindGroupCoordinator => {
                let Some(version) = v.find_coordinator else {
                    return Ok(None);
                };
                let (key_type, key) = match (req, &self.txn.offsets) {
                    (TxnRequest::FindGroupCoordinator, Some((o, _))) => (KEY_TYPE_GROUP, o.group_id()),
                    (TxnRequest::FindGroupCoordinator, None) => return Ok(None),
                    _ => (KEY_TYPE_TRANSACTION, txn_id),
                };
                let keys = [key];
                let r = FindCoordinatorRequest { key_type, keys: &keys };
                write_request(&mut self.conns[i], i, client_id, (RequestKind::Txn(req), version), &r, true, now, buf)?
            }
            TxnRequest::AddPartitions => return self.send_add_partitions(i, now, buf, producer),
            TxnRequest::AddOffsets => {
                let (Some(version), Some((o, _))) = (v.add_offsets, &self.txn.offsets) else {
                    return Ok(None);
                };
                let r = AddOffsetsToTxnRequest {
                    transactional_id: txn_id,
                    producer_id: producer.producer_id,
                    producer_epoch: producer.producer_epoch,
                    group_id: o.group_id(),
                };
                write_request(&mut self.conns[i], i, client_id, (RequestKind::Txn(req), version), &r, true, now, buf)?
            }
            TxnRequest::TxnOffsetCommit => {
                let (Some(mut version), Some((o, _))) = (v.txn_offset_commit, &self.txn.offsets) else {
                    return Ok(None);
                };
                if !self.txn.v2 {
                    version = version.min(4);
                }
                let (parts, runs) = o.partitions();
                let mut topics = super::offsets::Topics::new();
                o.topics(&parts, &runs, &mut topics);
                let member = if version >= 3 { o.member() } else { GroupMember::UNKNOWN };
                let r = TxnOffsetCommitRequest {
                    transactional_id: txn_id,
                    group_id: o.group_id(),
                    producer_id: producer.producer_id,
                    producer_epoch: producer.producer_epoch,
                    member,
                    topics: &topics,
                };
                write_request(&mut self.conns[i], i, client_id, (RequestKind::Txn(req), version), &r, true, now, buf)?
            }
            TxnRequest::EndTxn => {
                let (Some(mut version), Some((commit, _))) = (v.end_txn, self.txn.end) else {
                    return Ok(None);
                };
                if !self.txn.started {
                    // Nothing reached the broker: the transaction ends here.
                    self.txn_end_done(now);
                    return Ok(None);
                }
                if !self.txn.v2 {
                    version = version.min(4);
                }
                let r = EndTxnRequest {
                    transactional_id: txn_id,
                    producer_id: producer.producer_id,
                    producer_epoch: producer.producer_epoch,
                    committed: commit,
                };
                write_request(&mut self.conns[i], i, client_id, (RequestKind::Txn(req), version), &r, true, now, buf)?
            }
        };
        if let Some((_, corr)) = sent {
            self.txn_sent(req, i as u16);
            if matches!(req, TxnRequest::AddOffsets | TxnRequest::TxnOffsetCommit) {
                self.txn.offsets_corr = corr;
            }
        }
        Ok(sent.map(|(t, _)| t))
    }

    fn txn_sent(&mut self, req: TxnRequest, conn: u16) {
        let t = &mut self.txn;
        let step = match req {
            TxnRequest::FindTxnCoordinator => &mut t.find,
            TxnRequest::FindGroupCoordinator => &mut t.find_group,
            TxnRequest::AddPartitions => &mut t.add,
            TxnRequest::AddOffsets | TxnRequest::TxnOffsetCommit => {
                // V2: TxnOffsetCommit may add the group implicitly. V1: the transaction starts
                // when AddOffsetsToTxn succeeds (an EndTxn for a transaction the coordinator
                // never opened is INVALID_TXN_STATE, fatal).
                t.started |= t.v2;
                &mut t.offsets_step
            }
            TxnRequest::EndTxn => match &mut t.end {
                Some((_, s)) => s,
                None => return,
            },
        };
        *step = Step::InFlight(conn);
    }

    fn send_add_partitions(&mut self, i: usize, now: Instant, buf: &mut [u8], producer: ProducerState) -> Polled {
        let Some(version) = self.conns[i].versions.txn.add_partitions else {
            return Ok(None);
        };
        let Some(txn_id) = self.config.transactions.transactional_id.as_deref() else {
            return Ok(None);
        };
        // Every partition new to the transaction (as the Java client adds them; without a heap,
        // at most MAX_PARTITIONS_PER_REQUEST), in slot order, so each topic's partitions form
        // one run.
        let mut picked: RequestTable<u16> = self.txn.new_parts().take(MAX_PARTITIONS_PER_REQUEST).collect();
        picked.sort_unstable();
        let mut numbers: RequestTable<i32> = request_table(picked.len());
        let mut topics: RequestTable<AddPartitionsToTxnTopic<'_>> = request_table(0);
        // As many as `picked` (and no more topics than partitions), so neither overflows a
        // fixed table.
        numbers.extend(picked.iter().map(|&pi| self.location(pi).1 as i32));
        let mut at = 0;
        while at < picked.len() {
            let topic = self.location(picked[at]).0;
            let n = picked[at..].iter().take_while(|&&pi| self.location(pi).0 == topic).count();
            let name = self.meta.topic_name(TopicIdx(topic)).unwrap_or("");
            topics.extend([AddPartitionsToTxnTopic { name, partitions: &numbers[at..at + n] }]);
            at += n;
        }
        let r = AddPartitionsToTxnRequest {
            transactional_id: txn_id,
            producer_id: producer.producer_id,
            producer_epoch: producer.producer_epoch,
            topics: &topics,
        };
        let kind = (RequestKind::Txn(TxnRequest::AddPartitions), version);
        let sent = write_request(&mut self.conns[i], i, self.config.client_id, kind, &r, true, now, buf)?;
        if sent.is_some() {
            // `picked` is the first of the new partitions.
            self.txn.mark_adding(picked.len());
            self.txn.add = Step::InFlight(i as u16);
        }
        Ok(sent.map(|(t, _)| t))
    }

    // ---- answers ----

    /// A transaction response to request `corr` on connection slot `conn`. `false`: it does
    /// not decode.
    pub(crate) fn on_txn_response(
        &mut self,
        (conn, corr): (u16, i32),
        req: TxnRequest,
        version: i16,
        body: &[u8],
        now: Instant,
    ) -> bool {
        if !self.txn.enabled() {
            return false;
        }
        if matches!(req, TxnRequest::AddOffsets | TxnRequest::TxnOffsetCommit) {
            // Only the current call's request counts. Offsets an abort dropped, or an earlier
            // call's: their late answer (even a refusal) changes nothing.
            if self.txn.offsets_step != Step::InFlight(conn) || self.txn.offsets_corr != corr {
                return true;
            }
        }
        match req {
            TxnRequest::FindTxnCoordinator | TxnRequest::FindGroupCoordinator => {
                self.on_find_coordinator(req, version, body, now)
            }
            TxnRequest::AddPartitions => self.on_add_partitions(version, body, now),
            TxnRequest::AddOffsets => {
                let Ok(r) = AddOffsetsToTxnResponse::decode(version, body) else {
                    return false;
                };
                match r.error_code {
                    ErrorCode::None => {
                        self.txn.started = true;
                        if let Some((_, stage)) = &mut self.txn.offsets {
                            *stage = OffsetsStage::Commit;
                        }
                        self.txn.offsets_step = Step::Wanted(now);
                        self.txn.find_group = Step::Wanted(now);
                        self.txn.failures = 0;
                    }
                    code => self.txn_error(code, TxnRequest::AddOffsets, now),
                }
                true
            }
            TxnRequest::TxnOffsetCommit => {
                let Ok(r) = TxnOffsetCommitResponse::decode(version, body) else {
                    return false;
                };
                let code = r
                    .topics
                    .iter()
                    .flat_map(|t| t.partitions.iter())
                    .map(|p| p.error_code)
                    .find(|c| *c != ErrorCode::None);
                match code {
                    None => {
                        self.txn.offsets = None;
                        self.txn.offsets_step = Step::Idle;
                        self.txn.failures = 0;
                        self.txn.finish(Ok(()));
                    }
                    Some(code) => self.txn_error(code, TxnRequest::TxnOffsetCommit, now),
                }
                true
            }
            TxnRequest::EndTxn => {
                let Ok(r) = EndTxnResponse::decode(version, body) else {
                    return false;
                };
                match r.error_code {
                    ErrorCode::None => {
                        if version >= 5 && r.producer_id >= 0 {
                            let producer = ProducerState {
                                producer_id: r.producer_id,
                                producer_epoch: r.producer_epoch,
                                base_sequence: 0,
                            };
                            self.idem.adopt(producer);
                        }
                        self.txn_end_done(now);
                    }
                    code => self.txn_error(code, TxnRequest::EndTxn, now),
                }
                true
            }
        }
    }

    /// The transaction ended: Ready again, with the flow the coordinator offers now. If the
    /// epoch must be bumped first (an abort left a sequence gap, V1), the call's result waits
    /// for the InitProducerId, as Java's `completeTransaction` does: the next transaction must
    /// not start with the old epoch, which the bump fences.
    fn txn_end_done(&mut self, _now: Instant) {
        self.txn.failures = 0;
        let bumping = !matches!(self.idem.produce_mode(), Some((_, false)));
        if bumping {
            let op = self.txn.op.take();
            self.txn.ended();
            self.txn.op = op;
            // `txn_initialized` finishes the call once the new epoch is in.
            self.txn.state = TxnState::Initializing;
        } else {
            self.txn.ended();
        }
    }

    fn on_find_coordinator(&mut self, req: TxnRequest, version: i16, body: &[u8], now: Instant) -> bool {
        let Ok(r) = FindCoordinatorResponse::decode(version, body) else {
            return false;
        };
        let key = match (req, &self.txn.offsets) {
            (TxnRequest::FindGroupCoordinator, Some((o, _))) => o.group_id(),
            _ => self.config.transactions.transactional_id.as_deref().unwrap_or(""),
        };
        let Some(c) = r.coordinator(key) else {
            self.txn_retry(req, now);
            return true;
        };
        if c.error_code != ErrorCode::None {
            self.txn_error(c.error_code, req, now);
            return true;
        }
        let node = Node { node_id: c.node_id, host: c.host, port: c.port, rack: None };
        if self.meta.upsert_broker(&node).is_err() {
            self.txn_retry(req, now);
            return true;
        }
        self.txn.failures = 0;
        if req == TxnRequest::FindGroupCoordinator {
            self.txn.group_coordinator = Some(c.node_id);
            self.txn.find_group = Step::Idle;
        } else {
            self.txn.coordinator = Some(c.node_id);
            self.txn.find = Step::Idle;
        }
        true
    }

    fn on_add_partitions(&mut self, version: i16, body: &[u8], now: Instant) -> bool {
        let Ok(r) = AddPartitionsToTxnResponse::decode(version, body) else {
            return false;
        };
        self.txn.add = Step::Idle;
        // A partition not added goes back to the list to add; while aborting, only one whose
        // add is unknown is on it, and it stays unknown until an answer settles it.
        let back = if self.txn.state == TxnState::AbortingTransaction { Part::Unknown } else { Part::New };
        let mut worst = ErrorCode::None;
        for topic in r.results.iter() {
            let Some(t) = self.meta.topic(topic.name) else {
                continue;
            };
            for p in topic.partitions.iter() {
                let Some(pi) = u32::try_from(p.partition_index).ok().and_then(|idx| self.meta.partition(t, idx)) else {
                    continue;
                };
                let PartitionIdx(pi) = pi;
                if p.error_code == ErrorCode::None {
                    self.txn.set_part(pi, Part::Added);
                    self.txn.started = true;
                } else {
                    self.txn.set_part(pi, back);
                    if worst == ErrorCode::None || worst == ErrorCode::OperationNotAttempted {
                        worst = p.error_code;
                    }
                }
            }
        }
        // Partitions the answer did not mention are asked again.
        let adding: RequestTable<u16> = self.txn.parts_in(Part::Adding).take(MAX_PARTITIONS_PER_REQUEST).collect();
        for pi in adding {
            self.txn.set_part(pi, back);
        }
        if worst == ErrorCode::None {
            self.txn.failures = 0;
            if self.txn.new_parts().next().is_some() {
                self.txn.add = Step::Wanted(now);
            }
        } else {
            self.txn_error(worst, TxnRequest::AddPartitions, now);
        }
        true
    }

    /// Classifies a transaction request's error as Java's `TransactionManager` does.
    fn txn_error(&mut self, code: ErrorCode, req: TxnRequest, now: Instant) {
        match code {
            ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable => {
                if req == TxnRequest::TxnOffsetCommit || req == TxnRequest::FindGroupCoordinator {
                    self.txn.group_coordinator = None;
                    self.txn.find_group = Step::Wanted(now);
                } else {
                    self.txn.coordinator_lost(now);
                }
                self.txn_retry(req, now);
            }
            ErrorCode::CoordinatorLoadInProgress
            | ErrorCode::ConcurrentTransactions
            | ErrorCode::OperationNotAttempted
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::RequestTimedOut => self.txn_retry(req, now),
            ErrorCode::ProducerFenced
            | ErrorCode::InvalidProducerEpoch
            | ErrorCode::InvalidTxnState
            | ErrorCode::InvalidProducerIdMapping
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::UnsupportedVersion
            | ErrorCode::UnsupportedForMessageFormat => self.set_fatal(FatalError::Broker(code)),
            code if req == TxnRequest::FindTxnCoordinator => {
                if code.is_retriable() {
                    self.txn_retry(req, now);
                } else {
                    self.set_fatal(FatalError::Broker(code));
                }
            }
            // The coordinator refused the partitions (not fenced, not retriable): they are not
            // in the transaction, and the abort goes on without them, as in Java.
            _ if req == TxnRequest::AddPartitions && self.txn.state == TxnState::AbortingTransaction => {
                self.txn.drop_unknown_parts();
            }
            code if self.txn.state == TxnState::AbortingTransaction => self.set_fatal(FatalError::Broker(code)),
            code => self.txn.set_abortable(AbortCause::Broker(code)),
        }
    }

    /// Asks `req` again after the retry backoff.
    fn txn_retry(&mut self, req: TxnRequest, now: Instant) {
        let at = now + self.retry_backoff.delay(self.txn.failures, &mut self.rng);
        self.txn.failures = self.txn.failures.saturating_add(1);
        let t = &mut self.txn;
        let step = match req {
            TxnRequest::FindTxnCoordinator => &mut t.find,
            TxnRequest::FindGroupCoordinator => &mut t.find_group,
            TxnRequest::AddPartitions => &mut t.add,
            TxnRequest::AddOffsets | TxnRequest::TxnOffsetCommit => &mut t.offsets_step,
            TxnRequest::EndTxn => match &mut t.end {
                Some((_, s)) => s,
                None => return,
            },
        };
        *step = Step::Wanted(at);
    }
}
