//! The simulated transaction coordinator and group coordinator (issue 17), written from Kafka's
//! `TransactionCoordinator`, `TransactionMetadata` and the group coordinator's transactional
//! offset commits, independent of the engine's client code.
//!
//! - FindCoordinator (transaction and group keys) names [`Coordinator::node`] (groups:
//!   [`Coordinator::group_node`]); a request to another broker gets NOT_COORDINATOR, one during
//!   a load after a move COORDINATOR_LOAD_IN_PROGRESS.
//! - InitProducerId with the transactional id: a new producer id at epoch 0 the first time, then
//!   an epoch bump that aborts an open transaction (fencing a producer with the old epoch); a
//!   request naming an older epoch is PRODUCER_FENCED.
//! - AddPartitionsToTxn / AddOffsetsToTxn (transaction.version 1) add to the open transaction;
//!   with transaction.version 2 (KIP-890) Produce v12+ and TxnOffsetCommit v5+ add implicitly.
//!   A transactional batch for a partition not in the transaction is a violation (the engine
//!   must add it first), and Kafka's verification refuses it.
//! - EndTxn: the transaction goes to PrepareCommit/PrepareAbort, and its markers are written to
//!   every partition (and offsets to every group) a little later ([`Coordinator::tick`]);
//!   meanwhile requests get CONCURRENT_TRANSACTIONS. A retried EndTxn of the same outcome is
//!   answered as the first (V1: same epoch; V2: the epoch before the bump, with the new one).
//! - TxnOffsetCommit checks the group's generation and member (KIP-447): a stale generation is
//!   ILLEGAL_GENERATION, an unknown member UNKNOWN_MEMBER_ID. Offsets become the group's only
//!   when the transaction commits.
//!
//! The ground truth of every transaction the coordinator ended is kept in
//! [`Coordinator::ended`], and every offset a commit made the group's in
//! [`Coordinator::offset_commits`], for the property checks.

use alloc::collections::{BTreeMap, BTreeSet};

use kprod_core::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kprod_core::protocol::add_partitions_to_txn::{
    AddPartitionsToTxnRequestView, AddPartitionsToTxnResponseData, PartitionError, TopicPartitionErrorsData,
};
use kprod_core::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use kprod_core::protocol::find_coordinator::{
    Coordinator as CoordinatorData, FindCoordinatorRequestView, FindCoordinatorResponseData, KEY_TYPE_GROUP,
};
use kprod_core::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use kprod_core::protocol::txn_offset_commit::{TxnOffsetCommitRequestView, TxnOffsetCommitResponseData};
use kprod_core::protocol::ErrorCode;
use kprod_core::time::Instant;

use super::broker::{respond, Reply};
use super::cluster::{host, Cluster, PORT};

/// Where one transactional id's transaction stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No transaction open.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// EndTxn arrived: markers (commit: `true`) are written at this instant.
    Prepare(bool, Instant),
    /// The last transaction ended so.
    Complete(bool),
}

/// One transactional id at the coordinator.
#[derive(Debug, Clone)]
pub struct TxnMeta {
    /// Its producer id.
    pub producer_id: i64,
    /// Its current epoch.
    pub epoch: i16,
    /// The transaction's phase.
    pub phase: Phase,
    /// The partitions of the open transaction (topic index, partition).
    pub partitions: BTreeSet<(usize, usize)>,
    /// The groups of the open transaction.
    pub groups: BTreeSet<String>,
    /// V2: the epoch the last EndTxn was sent with, and its outcome (a retry is answered as it).
    pub last_end: Option<(i16, bool)>,
    /// The epoch the last InitProducerId bumped (Kafka's `lastProducerEpoch`): a retry naming it
    /// gets the current epoch.
    pub last_init: Option<i16>,
}

/// A transaction the coordinator ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// Producer id and the epoch of its data.
    pub producer: (i64, i16),
    /// Committed (`true`) or aborted.
    pub commit: bool,
    /// Why: `EndTxn`, or a fence (InitProducerId) or the end of the run (the timeout) aborting it.
    pub by: &'static str,
}

/// A consumer group's generation and member (KIP-447).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// The generation.
    pub generation: i32,
    /// The member id.
    pub member: String,
}

/// Transient errors the driver draws per coordinator request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxnFrameFaults {
    /// Answer this error instead (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS,
    /// CONCURRENT_TRANSACTIONS), without acting on the request.
    pub error: Option<ErrorCode>,
    /// How long an EndTxn's markers take, µs.
    pub marker_delay_us: u64,
}

/// One coordinator request as the broker read it: its node, version, correlation id, body, the
/// time, and the faults drawn for it.
#[derive(Debug, Clone, Copy)]
pub struct Req<'b> {
    /// The broker.
    pub node: i32,
    /// The request's version.
    pub v: i16,
    /// Its correlation id.
    pub corr: i32,
    /// Its body.
    pub body: &'b [u8],
    /// Virtual time.
    pub now: Instant,
    /// Transient faults.
    pub f: TxnFrameFaults,
}

/// See the module docs.
#[derive(Debug, Clone)]
pub struct Coordinator {
    /// The cluster finalized `transaction.version` 2 (KIP-890).
    pub v2: bool,
    /// The transaction coordinator's node.
    pub node: i32,
    /// The group coordinator's node.
    pub group_node: i32,
    /// Until when the coordinator loads its state after a move.
    pub loading_until: Instant,
    /// Transactional ids.
    pub txns: BTreeMap<String, TxnMeta>,
    /// Consumer groups.
    pub groups: BTreeMap<String, Group>,
    /// Offsets waiting for their transaction, per producer id: (group, topic, partition, offset).
    pub pending_offsets: BTreeMap<i64, Vec<(String, String, i32, i64)>>,
    /// Committed offsets: (group, topic, partition) -> offset.
    pub committed: BTreeMap<(String, String, i32), i64>,
    /// Every offset a commit made the group's, in order.
    pub offset_commits: Vec<(String, String, i32, i64)>,
    /// Every transaction ended, in order.
    pub ended: Vec<Ended>,
    /// Requests answered with each error code (transient ones), for traces.
    pub errors: BTreeMap<i16, u64>,
    /// KIP-890's verification state per (topic, partition, producer id): the epoch and the
    /// lowest sequence that asked to join the transaction; a batch with a higher sequence may
    /// not be written before it (OUT_OF_ORDER_SEQUENCE_NUMBER).
    pub verifying: BTreeMap<(usize, usize, i64), (i16, i32)>,
    /// Another producer took the transactional id over (a fence after InitProducerId).
    pub fenced: bool,
    /// After the fence, a request with the old epoch was refused as fenced: the producer was
    /// told.
    pub fence_noticed: bool,
}

impl Coordinator {
    /// A coordinator on `node` (groups on `group_node`) in the given flow.
    pub fn new(v2: bool, node: i32, group_node: i32) -> Self {
        Self {
            v2,
            node,
            group_node,
            loading_until: Instant::ZERO,
            txns: BTreeMap::new(),
            groups: BTreeMap::new(),
            pending_offsets: BTreeMap::new(),
            committed: BTreeMap::new(),
            offset_commits: Vec::new(),
            ended: Vec::new(),
            errors: BTreeMap::new(),
            verifying: BTreeMap::new(),
            fenced: false,
            fence_noticed: false,
        }
    }
}

impl Cluster {
    /// Notes an answer that tells a fenced producer so.
    pub(super) fn txn_noticed(&mut self, code: ErrorCode) {
        if let Some(c) = &mut self.txn {
            c.fence_noticed |= c.fenced && matches!(code, ErrorCode::ProducerFenced | ErrorCode::InvalidProducerEpoch);
        }
    }

    fn coordinator(&mut self) -> &mut Coordinator {
        self.txn.as_mut().expect("a transactional cluster")
    }

    /// Writes the markers of every transaction whose EndTxn is due by `now`.
    pub fn txn_tick(&mut self, now: Instant) {
        let Some(c) = &self.txn else { return };
        let due: Vec<(String, bool)> = c
            .txns
            .iter()
            .filter_map(|(id, m)| match m.phase {
                Phase::Prepare(commit, at) if at <= now => Some((id.clone(), commit)),
                _ => None,
            })
            .collect();
        for (id, commit) in due {
            self.complete_txn(&id, commit, "EndTxn");
        }
    }

    /// Ends the open transaction of `id`: markers in its partitions, its offsets committed or
    /// dropped.
    fn complete_txn(&mut self, id: &str, commit: bool, by: &'static str) {
        let c = self.coordinator();
        let Some(m) = c.txns.get_mut(id) else { return };
        let (pid, epoch) = (m.producer_id, m.epoch);
        let parts: Vec<(usize, usize)> = core::mem::take(&mut m.partitions).into_iter().collect();
        let groups = core::mem::take(&mut m.groups);
        m.phase = Phase::Complete(commit);
        let pending = c.pending_offsets.remove(&pid).unwrap_or_default();
        for (group, topic, partition, offset) in pending {
            if commit && groups.contains(&group) {
                c.committed.insert((group.clone(), topic.clone(), partition), offset);
                c.offset_commits.push((group, topic, partition, offset));
            }
        }
        // The data's epoch: V2 bumped the coordinator's epoch at EndTxn already.
        let bumped = by == "EndTxn" && c.txns.get(id).is_some_and(|m| m.last_end.is_some());
        let data_epoch = if bumped { epoch - 1 } else { epoch };
        c.ended.push(Ended { producer: (pid, data_epoch), commit, by });
        for (t, p) in parts {
            self.topics[t].partitions[p].write_marker(pid, epoch, commit);
        }
    }

    /// Aborts every open transaction (the transaction timeout, at the end of a run).
    pub fn txn_expire_all(&mut self) {
        let Some(c) = &self.txn else { return };
        let open: Vec<(String, Phase)> = c
            .txns
            .iter()
            .filter(|(_, m)| matches!(m.phase, Phase::Ongoing | Phase::Prepare(..)))
            .map(|(id, m)| (id.clone(), m.phase))
            .collect();
        for (id, phase) in open {
            match phase {
                Phase::Prepare(commit, _) => self.complete_txn(&id, commit, "EndTxn"),
                _ => self.complete_txn(&id, false, "timeout"),
            }
        }
    }

    /// Another producer with transactional id `id` calls InitProducerId: the open transaction
    /// aborts and the epoch is bumped, fencing the current producer.
    pub fn txn_fence(&mut self, id: &str) {
        self.txn_tick(Instant::from_micros(u64::MAX / 2));
        let Some(m) = self.txn.as_ref().and_then(|c| c.txns.get(id)) else { return };
        if m.phase == Phase::Ongoing {
            self.complete_txn(id, false, "fence");
        }
        let c = self.coordinator();
        if let Some(m) = c.txns.get_mut(id) {
            m.epoch += 1;
            m.last_end = None;
            m.last_init = None;
            c.fenced = true;
        }
    }

    /// The coordinator moves to `node` (a new leader of its `__transaction_state` partition), and
    /// loads for `load_us`.
    pub fn txn_move(&mut self, node: i32, group_node: i32, now: Instant, load_us: u64) {
        if let Some(c) = &mut self.txn {
            c.node = node;
            c.group_node = group_node;
            c.loading_until = now + core::time::Duration::from_micros(load_us);
        }
    }

    /// The error a coordinator request on `node` gets before it is looked at, if any.
    fn coordinator_refusal(&mut self, node: i32, group: bool, now: Instant, f: TxnFrameFaults) -> Option<ErrorCode> {
        let c = self.coordinator();
        let owner = if group { c.group_node } else { c.node };
        let code = if owner != node {
            Some(ErrorCode::NotCoordinator)
        } else if now < c.loading_until {
            Some(ErrorCode::CoordinatorLoadInProgress)
        } else {
            f.error
        };
        if let Some(code) = code {
            *c.errors.entry(code.code()).or_default() += 1;
        }
        code
    }

    pub(super) fn find_coordinator(&mut self, v: i16, corr: i32, body: &[u8]) -> Reply {
        let Some(r) = self.decode_or_violation::<FindCoordinatorRequestView<'_>>(v, body) else {
            return Reply::Close;
        };
        let group = r.key_type == KEY_TYPE_GROUP;
        let keys: Vec<&str> = if v >= 4 { r.coordinator_keys.iter().collect() } else { vec![r.key] };
        let c = self.coordinator();
        let node = if group { c.group_node } else { c.node };
        let up = self.is_up(node);
        let h = host(node);
        let coordinators: Vec<CoordinatorData<'_>> = keys
            .iter()
            .map(|&key| CoordinatorData {
                key,
                node_id: if up { node } else { -1 },
                host: if up { &h } else { "" },
                port: if up { i32::from(PORT) } else { -1 },
                error_code: if up { ErrorCode::None } else { ErrorCode::CoordinatorNotAvailable },
                error_message: None,
            })
            .collect();
        respond(v, corr, &FindCoordinatorResponseData { throttle_time_ms: 0, coordinators: &coordinators })
    }

    pub(super) fn txn_init_producer_id(
        &mut self,
        node: i32,
        v: i16,
        corr: i32,
        req: &InitProducerIdRequest<'_>,
        now: Instant,
        f: TxnFrameFaults,
    ) -> Reply {
        let id = req.transactional_id.unwrap_or_default().to_owned();
        let answer = |code, pid, epoch| {
            respond(
                v,
                corr,
                &InitProducerIdResponse {
                    throttle_time_ms: 0,
                    error_code: code,
                    producer_id: pid,
                    producer_epoch: epoch,
                    ongoing_txn_producer_id: -1,
                    ongoing_txn_producer_epoch: -1,
                },
            )
        };
        if let Some(code) = self.coordinator_refusal(node, false, now, f) {
            return answer(code, -1, -1);
        }
        let fresh = self.new_producer_id();
        let c = self.coordinator();
        let m = c.txns.entry(id.clone()).or_insert(TxnMeta {
            producer_id: fresh,
            epoch: -1,
            phase: Phase::Empty,
            partitions: BTreeSet::new(),
            groups: BTreeSet::new(),
            last_end: None,
            last_init: None,
        });
        if matches!(m.phase, Phase::Prepare(..)) {
            return answer(ErrorCode::ConcurrentTransactions, -1, -1);
        }
        if req.producer_id >= 0 && req.producer_id == m.producer_id && Some(req.producer_epoch) == m.last_init {
            // A retry of the bump whose answer was lost.
            return answer(ErrorCode::None, m.producer_id, m.epoch);
        }
        if req.producer_id >= 0 && (req.producer_id != m.producer_id || req.producer_epoch < m.epoch) {
            self.txn_noticed(ErrorCode::ProducerFenced);
            return answer(ErrorCode::ProducerFenced, -1, -1);
        }
        let ongoing = m.phase == Phase::Ongoing;
        if ongoing {
            self.complete_txn(&id, false, "InitProducerId");
        }
        let m = self.coordinator().txns.get_mut(&id).expect("just made");
        m.last_init = (req.producer_id >= 0).then_some(m.epoch);
        m.epoch += 1;
        m.last_end = None;
        answer(ErrorCode::None, m.producer_id, m.epoch)
    }

    /// Checks the producer id and epoch of a coordinator request against `id`'s state: `Err` is
    /// the error to answer.
    fn txn_producer(&mut self, id: &str, pid: i64, epoch: i16) -> Result<(), ErrorCode> {
        let Some(m) = self.txn.as_ref().and_then(|c| c.txns.get(id)) else {
            return Err(ErrorCode::InvalidProducerIdMapping);
        };
        if m.producer_id != pid {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if epoch < m.epoch {
            self.txn_noticed(ErrorCode::ProducerFenced);
            return Err(ErrorCode::ProducerFenced);
        }
        if epoch > m.epoch {
            self.violations.push(format!("{id}: epoch {epoch} newer than the coordinator's {}", m.epoch));
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if matches!(m.phase, Phase::Prepare(..)) {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        Ok(())
    }

    /// The error a request of `id`'s producer gets before it is acted on: the coordinator's
    /// refusal (wrong broker, loading, a transient fault), then the producer id and epoch.
    fn txn_gate(&mut self, req: Req<'_>, group: bool, id: &str, pid: i64, epoch: i16) -> Option<ErrorCode> {
        self.coordinator_refusal(req.node, group, req.now, req.f).or_else(|| self.txn_producer(id, pid, epoch).err())
    }

    /// The flow a request's version picks (KIP-890): a client may keep the V1 flow on a
    /// cluster that offers V2, never the other way round.
    fn request_v2(&mut self, api: &str, v: i16, from: i16) -> bool {
        let v2 = v >= from;
        if v2 && !self.coordinator().v2 {
            self.violations.push(format!("{api} v{v} under transaction.version 1"));
        }
        v2
    }

    /// Opens `id`'s transaction if none is open.
    fn txn_open(&mut self, id: &str) {
        if let Some(m) = self.coordinator().txns.get_mut(id) {
            if m.phase != Phase::Ongoing {
                m.phase = Phase::Ongoing;
                m.last_end = None;
            }
        }
    }

    pub(super) fn add_partitions(&mut self, req: Req<'_>) -> Reply {
        let Req { v, corr, body, .. } = req;
        let Some(r) = self.decode_or_violation::<AddPartitionsToTxnRequestView<'_>>(v, body) else {
            return Reply::Close;
        };
        let code = self.txn_gate(req, false, r.transactional_id, r.producer_id, r.producer_epoch);
        let mut results: Vec<(String, Vec<PartitionError>)> = Vec::new();
        let mut added = Vec::new();
        for t in r.topics.iter() {
            let topic = self.topic(t.name);
            let mut errors = Vec::new();
            for p in t.partitions.iter() {
                let known = topic.filter(|&ti| usize::try_from(p).is_ok_and(|p| p < self.topics[ti].partitions.len()));
                let error_code = match (code, known) {
                    (Some(code), _) => code,
                    (None, None) => ErrorCode::UnknownTopicOrPartition,
                    (None, Some(ti)) => {
                        added.push((ti, p as usize));
                        ErrorCode::None
                    }
                };
                errors.push(PartitionError { partition_index: p, error_code });
            }
            results.push((t.name.to_owned(), errors));
        }
        // Kafka adds all or none: one unknown partition fails the others with
        // OPERATION_NOT_ATTEMPTED.
        let failed = results.iter().any(|(_, ps)| ps.iter().any(|p| p.error_code != ErrorCode::None));
        if failed && code.is_none() {
            for (_, ps) in &mut results {
                for p in ps.iter_mut().filter(|p| p.error_code == ErrorCode::None) {
                    p.error_code = ErrorCode::OperationNotAttempted;
                }
            }
        } else if code.is_none() {
            self.txn_open(r.transactional_id);
            let m = self.coordinator().txns.get_mut(r.transactional_id).expect("checked");
            m.partitions.extend(added);
        }
        let data: Vec<TopicPartitionErrorsData<'_>> =
            results.iter().map(|(name, partitions)| TopicPartitionErrorsData { name, partitions }).collect();
        respond(v, corr, &AddPartitionsToTxnResponseData { throttle_time_ms: 0, results: &data })
    }

    pub(super) fn add_offsets(&mut self, req: Req<'_>) -> Reply {
        let Req { v, corr, body, .. } = req;
        let Some(r) = self.decode_or_violation::<AddOffsetsToTxnRequest<'_>>(v, body) else {
            return Reply::Close;
        };
        let code = self.txn_gate(req, false, r.transactional_id, r.producer_id, r.producer_epoch);
        if code.is_none() {
            self.txn_open(r.transactional_id);
            let m = self.coordinator().txns.get_mut(r.transactional_id).expect("checked");
            m.groups.insert(r.group_id.to_owned());
        }
        let error_code = code.unwrap_or(ErrorCode::None);
        respond(v, corr, &AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code })
    }

    pub(super) fn txn_offset_commit(&mut self, req: Req<'_>) -> Reply {
        let Req { v, corr, body, .. } = req;
        let Some(r) = self.decode_or_violation::<TxnOffsetCommitRequestView<'_>>(v, body) else {
            return Reply::Close;
        };
        let v2 = self.request_v2("TxnOffsetCommit", v, 5);
        let mut code = self.txn_gate(req, true, r.transactional_id, r.producer_id, r.producer_epoch);
        if code.is_none() && v >= 3 {
            code = self.check_member(r.group_id, r.member.generation_id, r.member.member_id);
        }
        let group = r.group_id.to_owned();
        if code.is_none() {
            let c = self.coordinator();
            let added = c.txns.get(r.transactional_id).is_some_and(|m| m.groups.contains(&group));
            if v2 {
                // KIP-890: TxnOffsetCommit v5 adds the group implicitly.
                self.txn_open(r.transactional_id);
                let m = self.coordinator().txns.get_mut(r.transactional_id).expect("checked");
                m.groups.insert(group.clone());
            } else if !added {
                self.violations.push(format!("TxnOffsetCommit for group {group} before AddOffsetsToTxn"));
            }
        }
        let mut topics: Vec<(String, Vec<PartitionError>)> = Vec::new();
        for t in r.topics.iter() {
            let mut parts = Vec::new();
            for p in t.partitions.iter() {
                if code.is_none() {
                    let pending = (group.clone(), t.name.to_owned(), p.partition_index, p.committed_offset);
                    self.coordinator().pending_offsets.entry(r.producer_id).or_default().push(pending);
                }
                parts.push(PartitionError {
                    partition_index: p.partition_index,
                    error_code: code.unwrap_or(ErrorCode::None),
                });
            }
            topics.push((t.name.to_owned(), parts));
        }
        let data: Vec<TopicPartitionErrorsData<'_>> =
            topics.iter().map(|(name, partitions)| TopicPartitionErrorsData { name, partitions }).collect();
        respond(v, corr, &TxnOffsetCommitResponseData { throttle_time_ms: 0, topics: &data })
    }

    /// KIP-447: a member id and generation must be the group's current ones.
    fn check_member(&mut self, group: &str, generation: i32, member: &str) -> Option<ErrorCode> {
        let g = self.coordinator().groups.get(group)?;
        if generation < 0 && member.is_empty() {
            return None;
        }
        if member != g.member {
            return Some(ErrorCode::UnknownMemberId);
        }
        (generation != g.generation).then_some(ErrorCode::IllegalGeneration)
    }

    pub(super) fn end_txn(&mut self, req: Req<'_>) -> Reply {
        let Req { node, v, corr, body, now, f } = req;
        let Some(r) = self.decode_or_violation::<EndTxnRequest<'_>>(v, body) else {
            return Reply::Close;
        };
        let v2 = self.request_v2("EndTxn", v, 5);
        let answer = |code, pid: i64, epoch: i16| {
            respond(
                v,
                corr,
                &EndTxnResponse { throttle_time_ms: 0, error_code: code, producer_id: pid, producer_epoch: epoch },
            )
        };
        if let Some(code) = self.coordinator_refusal(node, false, now, f) {
            return answer(code, -1, -1);
        }
        let id = r.transactional_id;
        let Some(m) = self.coordinator().txns.get(id).cloned() else {
            return answer(ErrorCode::InvalidProducerIdMapping, -1, -1);
        };
        if m.producer_id != r.producer_id {
            return answer(ErrorCode::InvalidProducerIdMapping, -1, -1);
        }
        // A retry of the EndTxn that bumped the epoch (V2), or of one that ended (V1).
        let retry_v2 = v2 && m.last_end == Some((r.producer_epoch, r.committed)) && r.producer_epoch + 1 == m.epoch;
        if r.producer_epoch < m.epoch && !retry_v2 {
            self.txn_noticed(ErrorCode::ProducerFenced);
            return answer(ErrorCode::ProducerFenced, -1, -1);
        }
        if r.producer_epoch > m.epoch {
            self.violations.push(format!("EndTxn with epoch {} newer than {}", r.producer_epoch, m.epoch));
            return answer(ErrorCode::InvalidProducerEpoch, -1, -1);
        }
        match m.phase {
            // Markers are being written: a retry (or anything else) waits.
            Phase::Prepare(commit, _) if commit == r.committed || !retry_v2 && v2 => {
                answer(ErrorCode::ConcurrentTransactions, -1, -1)
            }
            Phase::Complete(commit) if commit == r.committed && (retry_v2 || !v2) => {
                answer(ErrorCode::None, m.producer_id, m.epoch)
            }
            Phase::Ongoing if !retry_v2 => {
                let at = now + core::time::Duration::from_micros(f.marker_delay_us);
                let c = self.coordinator();
                let m = c.txns.get_mut(id).expect("checked");
                m.phase = Phase::Prepare(r.committed, at);
                if v2 {
                    m.last_end = Some((m.epoch, r.committed));
                    m.epoch += 1;
                    m.last_init = None;
                }
                let (pid, epoch) = (m.producer_id, m.epoch);
                self.txn_tick(now);
                answer(ErrorCode::None, pid, epoch)
            }
            // KIP-890: under V2 an abort with nothing open still bumps the epoch.
            Phase::Empty | Phase::Complete(_) if v2 && !retry_v2 && !r.committed => {
                let m = self.coordinator().txns.get_mut(id).expect("checked");
                m.last_end = Some((m.epoch, false));
                m.epoch += 1;
                m.phase = Phase::Complete(false);
                answer(ErrorCode::None, m.producer_id, m.epoch)
            }
            phase => {
                self.violations.push(format!(
                    "EndTxn({}) epoch {} in phase {phase:?} (epoch {}, last end {:?})",
                    if r.committed { "commit" } else { "abort" },
                    r.producer_epoch,
                    m.epoch,
                    m.last_end
                ));
                answer(ErrorCode::InvalidTxnState, -1, -1)
            }
        }
    }

    /// Kafka's partition verification for a transactional batch of `id` (producer id, epoch,
    /// first sequence): `Err` is the error the partition answers. Under V2 the batch adds its
    /// partition.
    pub(super) fn txn_verify_batch(
        &mut self,
        id: Option<&str>,
        topic: usize,
        partition: usize,
        producer: (i64, i16, i32),
        transactional: bool,
        version: i16,
    ) -> Result<(), ErrorCode> {
        let Some(c) = &mut self.txn else {
            if transactional || id.is_some() {
                self.violations.push("a transactional batch to a cluster without transactions".into());
            }
            return Ok(());
        };
        // Produce v12+ adds the partition implicitly on a V2 cluster.
        let v2 = c.v2 && version >= 12;
        let Some(id) = id.filter(|_| transactional) else {
            self.violations
                .push(format!("transactional producer's batch: id {id:?}, transactional bit {transactional}"));
            return Err(ErrorCode::InvalidRecord);
        };
        let Some(m) = c.txns.get(id) else {
            self.violations.push(format!("a batch for {id} before InitProducerId"));
            return Err(ErrorCode::InvalidProducerIdMapping);
        };
        if m.producer_id != producer.0 {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if producer.1 < m.epoch {
            c.fence_noticed |= c.fenced;
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        let added = m.phase == Phase::Ongoing && m.partitions.contains(&(topic, partition));
        if v2 && !added {
            let key = (topic, partition, producer.0);
            let entry = c.verifying.entry(key).or_insert((producer.1, producer.2));
            if entry.0 != producer.1 {
                *entry = (producer.1, producer.2);
            }
            entry.1 = entry.1.min(producer.2);
        }
        if matches!(m.phase, Phase::Prepare(..)) {
            return Err(ErrorCode::ConcurrentTransactions);
        }
        if v2 {
            self.txn_open(id);
            let m = self.coordinator().txns.get_mut(id).expect("checked");
            m.partitions.insert((topic, partition));
            return Ok(());
        }
        if !added {
            self.violations
                .push(format!("a transactional batch for {topic}-{partition}, not added to the transaction"));
            return Err(ErrorCode::InvalidTxnState);
        }
        Ok(())
    }

    /// KIP-890's sequence guard before a verified batch is written: `Err` if a lower sequence
    /// of the same epoch asked first and is not written yet.
    pub(super) fn txn_sequence_guard(
        &mut self,
        topic: usize,
        partition: usize,
        producer: (i64, i16, i32),
    ) -> Result<(), ErrorCode> {
        let Some(c) = &mut self.txn else { return Ok(()) };
        let key = (topic, partition, producer.0);
        match c.verifying.get(&key) {
            Some(&(epoch, lowest)) if epoch == producer.1 && producer.2 > lowest => {
                Err(ErrorCode::OutOfOrderSequenceNumber)
            }
            Some(_) => {
                c.verifying.remove(&key);
                Ok(())
            }
            None => Ok(()),
        }
    }
}
