//! The transaction state machine of the sans-IO engine against a scripted broker (one node
//! that is also the transaction and group coordinator), in both flows: the requests go in
//! Kafka's order, batches carry the transactional bit and the producer's epoch, aborted records
//! complete exactly once, and the faults the coordinator path must survive: a lost EndTxn
//! response (the commit is resent and completes once), NOT_COORDINATOR (the coordinator is
//! looked up again), CONCURRENT_TRANSACTIONS (retried), and PRODUCER_FENCED (fatal, typed).
#![cfg(all(feature = "alloc", feature = "transactions"))]

use kprod_core::config::Config;
use kprod_core::producer::txn::{
    AbortCause, GroupMetadata, TopicPartitionOffset, TxnError, TxnOp, TxnResult, TxnState,
};
use kprod_core::producer::{
    Completion, ConnId, DeliveryError, Event, FatalError, Producer, ProducerRecord, SendError, Storage,
};
use kprod_core::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kprod_core::protocol::add_partitions_to_txn::*;
use kprod_core::protocol::api_versions::{ApiVersion, ApiVersionsResponseData, FinalizedFeature};
use kprod_core::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use kprod_core::protocol::find_coordinator::*;
use kprod_core::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::txn_offset_commit::*;
use kprod_core::protocol::{
    encode_response, split_frame, ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Node, RequestHeader,
};
use kprod_core::record::RecordBatch;
use kprod_core::time::Instant;

const PID: i64 = 4000;

/// What the scripted broker saw and does.
#[derive(Default)]
struct Broker {
    v2: bool,
    epoch: i16,
    /// Every request, as `Api` or `Api(detail)`, in order.
    log: Vec<String>,
    /// Produce: (partition, transactional, producer epoch, records).
    batches: Vec<(i32, bool, i16, i32)>,
    offsets: i64,
    /// Faults, each used once: errors for the next EndTxn, and dropping its response.
    end_errors: Vec<ErrorCode>,
    drop_end_response: bool,
    /// The outcome and epoch of the last EndTxn that bumped the epoch (V2).
    last_end: Option<(bool, i16)>,
}

fn respond<R: EncodeResponse>(v: i16, corr: i32, body: &R) -> Vec<u8> {
    let mut out = Vec::new();
    encode_response(&mut out, v, corr, body).expect("encode");
    out
}

impl Broker {
    /// The answer to one request frame (`None`: the connection drops instead).
    fn answer(&mut self, frame: &[u8]) -> Option<Vec<u8>> {
        let (h, body) = RequestHeader::decode(frame).expect("header");
        let (v, corr) = (h.api_version, h.correlation_id);
        Some(match h.api_key {
            ApiKey::ApiVersions => {
                let key = |api_key, min_version, max_version| ApiVersion { api_key, min_version, max_version };
                let keys = [
                    key(ApiKey::Produce, 3, 12),
                    key(ApiKey::Metadata, 0, 12),
                    key(ApiKey::ApiVersions, 0, 4),
                    key(ApiKey::InitProducerId, 0, 5),
                    key(ApiKey::FindCoordinator, 0, 6),
                    key(ApiKey::AddPartitionsToTxn, 0, 5),
                    key(ApiKey::AddOffsetsToTxn, 0, 4),
                    key(ApiKey::EndTxn, 0, 5),
                    key(ApiKey::TxnOffsetCommit, 0, 5),
                ];
                let level = if self.v2 { 2 } else { 1 };
                let features = [FinalizedFeature {
                    name: "transaction.version",
                    max_version_level: level,
                    min_version_level: level,
                }];
                let mut data = ApiVersionsResponseData::new(ErrorCode::None, &keys);
                data.finalized_features = &features;
                data.finalized_features_epoch = 1;
                respond(v, corr, &data)
            }
            ApiKey::Metadata => {
                let req = MetadataRequestView::decode(v, body).expect("Metadata");
                let names: Vec<&str> =
                    req.topics.map(|t| t.iter().filter_map(|t| t.name).collect()).unwrap_or_default();
                let parts: Vec<_> = (0..2)
                    .map(|i| MetadataResponsePartitionData {
                        error_code: ErrorCode::None,
                        partition_index: i,
                        leader_id: 1,
                        leader_epoch: 0,
                        replica_nodes: &[1],
                        isr_nodes: &[1],
                        offline_replicas: &[],
                    })
                    .collect();
                let topics: Vec<_> = names
                    .iter()
                    .map(|&name| MetadataResponseTopicData {
                        error_code: ErrorCode::None,
                        name: Some(name),
                        topic_id: [0; 16],
                        is_internal: false,
                        partitions: &parts,
                        topic_authorized_operations: i32::MIN,
                    })
                    .collect();
                let brokers = [Node { node_id: 1, host: "b1", port: 9092, rack: None }];
                let resp = MetadataResponseData {
                    throttle_time_ms: 0,
                    brokers: &brokers,
                    cluster_id: Some("c"),
                    controller_id: 1,
                    topics: &topics,
                    cluster_authorized_operations: i32::MIN,
                    error_code: ErrorCode::None,
                };
                respond(v, corr, &resp)
            }
            ApiKey::FindCoordinator => {
                let r = FindCoordinatorRequestView::decode(v, body).expect("FindCoordinator");
                let key = if v >= 4 { r.coordinator_keys.get(0).unwrap_or("") } else { r.key };
                self.log.push(format!("FindCoordinator({},{key})", r.key_type));
                let c = [Coordinator {
                    key,
                    node_id: 1,
                    host: "b1",
                    port: 9092,
                    error_code: ErrorCode::None,
                    error_message: None,
                }];
                respond(v, corr, &FindCoordinatorResponseData { throttle_time_ms: 0, coordinators: &c })
            }
            ApiKey::InitProducerId => {
                let r = InitProducerIdRequest::decode(v, body).expect("InitProducerId");
                self.log.push(format!("InitProducerId({})", r.transactional_id.unwrap_or("-")));
                let resp = InitProducerIdResponse {
                    throttle_time_ms: 0,
                    error_code: ErrorCode::None,
                    producer_id: PID,
                    producer_epoch: self.epoch,
                    ongoing_txn_producer_id: -1,
                    ongoing_txn_producer_epoch: -1,
                };
                respond(v, corr, &resp)
            }
            ApiKey::AddPartitionsToTxn => {
                let r = AddPartitionsToTxnRequestView::decode(v, body).expect("AddPartitionsToTxn");
                let mut parts: Vec<(&str, Vec<PartitionError>)> = Vec::new();
                for t in r.topics.iter() {
                    let mut ok = Vec::new();
                    for p in t.partitions.iter() {
                        self.log.push(format!("AddPartitionsToTxn({}-{p})", t.name));
                        ok.push(PartitionError { partition_index: p, error_code: ErrorCode::None });
                    }
                    parts.push((t.name, ok));
                }
                let results: Vec<_> =
                    parts.iter().map(|(name, partitions)| TopicPartitionErrorsData { name, partitions }).collect();
                respond(v, corr, &AddPartitionsToTxnResponseData { throttle_time_ms: 0, results: &results })
            }
            ApiKey::AddOffsetsToTxn => {
                let r = AddOffsetsToTxnRequest::decode(v, body).expect("AddOffsetsToTxn");
                self.log.push(format!("AddOffsetsToTxn({})", r.group_id));
                respond(v, corr, &AddOffsetsToTxnResponse { throttle_time_ms: 0, error_code: ErrorCode::None })
            }
            ApiKey::TxnOffsetCommit => {
                let r = TxnOffsetCommitRequestView::decode(v, body).expect("TxnOffsetCommit");
                let t = r.topics.get(0).expect("a topic");
                let p = t.partitions.get(0).expect("a partition");
                self.log.push(format!(
                    "TxnOffsetCommit(v{v},{},{},{}={})",
                    r.group_id, r.member.member_id, t.name, p.committed_offset
                ));
                let parts = [PartitionError { partition_index: p.partition_index, error_code: ErrorCode::None }];
                let topics = [TopicPartitionErrorsData { name: t.name, partitions: &parts }];
                respond(v, corr, &TxnOffsetCommitResponseData { throttle_time_ms: 0, topics: &topics })
            }
            ApiKey::EndTxn => {
                let r = EndTxnRequest::decode(v, body).expect("EndTxn");
                // KIP-890: a retry with the epoch the last EndTxn bumped is answered as before.
                let retry = self.v2
                    && self.last_end == Some((r.committed, r.producer_epoch))
                    && r.producer_epoch + 1 == self.epoch;
                assert!(r.producer_id == PID && (r.producer_epoch == self.epoch || retry), "EndTxn's epoch: {r:?}");
                self.log.push(format!("EndTxn(v{v},{})", if r.committed { "commit" } else { "abort" }));
                if !self.end_errors.is_empty() {
                    let error_code = self.end_errors.remove(0);
                    let resp = EndTxnResponse { throttle_time_ms: 0, error_code, producer_id: -1, producer_epoch: -1 };
                    return Some(respond(v, corr, &resp));
                }
                if self.v2 && !retry {
                    self.last_end = Some((r.committed, self.epoch));
                    self.epoch += 1;
                }
                if core::mem::take(&mut self.drop_end_response) {
                    return None;
                }
                let resp = EndTxnResponse {
                    throttle_time_ms: 0,
                    error_code: ErrorCode::None,
                    producer_id: PID,
                    producer_epoch: self.epoch,
                };
                respond(v, corr, &resp)
            }
            ApiKey::Produce => {
                let r = ProduceRequestView::decode(v, body).expect("Produce");
                assert!(r.transactional_id.is_some(), "Produce carries the transactional id");
                assert!(v <= 11 || self.v2, "the V1 flow keeps Produce below v12");
                let mut by_topic = Vec::new();
                for t in r.topic_data.iter() {
                    let mut answers = Vec::new();
                    for p in t.partition_data.iter() {
                        let b = RecordBatch::parse(p.records).expect("batch");
                        self.batches.push((p.index, b.is_transactional(), b.producer_epoch(), b.record_count()));
                        self.log.push(format!("Produce({})", p.index));
                        answers.push(PartitionProduceResponseData::ok(p.index, self.offsets));
                        self.offsets += i64::from(b.record_count());
                    }
                    by_topic.push((t.name, answers));
                }
                let topics: Vec<_> = by_topic
                    .iter()
                    .map(|(name, answers)| TopicProduceResponseData {
                        name,
                        topic_id: [0; 16],
                        partition_responses: answers,
                    })
                    .collect();
                respond(v, corr, &ProduceResponseData { responses: &topics, throttle_time_ms: 0, node_endpoints: &[] })
            }
            other => panic!("unexpected {other:?}"),
        })
    }
}

/// The engine, the broker, and a driver loop with virtual time.
struct Run {
    p: Producer<'static>,
    broker: Broker,
    now: Instant,
    /// Each connection's unread response bytes (one broker behind every connection).
    rx: Vec<(ConnId, Vec<u8>)>,
    completions: Vec<Completion<u16>>,
    results: Vec<TxnResult>,
    fatal: Option<FatalError>,
}

impl Run {
    fn new(v2: bool) -> Self {
        let mut config = Config { linger: core::time::Duration::from_millis(1), ..Config::default() };
        config.set_property("transactional.id", "txn").expect("transactional.id");
        let valid = config.clone().validate().expect("valid");
        let storage = Storage::with_capacity(&config, Default::default());
        let p = Producer::new(valid, &[("b1", 9092)], storage, Instant::ZERO).expect("producer");
        let broker = Broker { v2, epoch: 3, ..Broker::default() };
        Self {
            p,
            broker,
            now: Instant::ZERO,
            rx: Vec::new(),
            completions: Vec::new(),
            results: Vec::new(),
            fatal: None,
        }
    }

    /// Drains outputs, answers requests, and moves time to the next deadline, until `done` or
    /// nothing is left to do.
    fn until(&mut self, mut done: impl FnMut(&Self) -> bool) {
        for _ in 0..10_000 {
            if done(self) {
                return;
            }
            let mut buf = vec![0u8; 1 << 20];
            let mut busy = false;
            while let Ok(Some(t)) = self.p.poll_transmit(self.now, &mut buf) {
                busy = true;
                let (frame, _) = split_frame(&buf[..t.len], 1 << 20).expect("frame").expect("whole");
                match self.broker.answer(frame) {
                    Some(resp) => self.rx.push((t.conn, resp)),
                    None => {
                        // The connection drops with the response.
                        self.p.handle_disconnected(t.conn, self.now);
                    }
                }
            }
            for (conn, bytes) in core::mem::take(&mut self.rx) {
                busy = true;
                let used = self.p.handle_read(conn, &bytes, self.now);
                assert_eq!(used, bytes.len());
            }
            while let Some(e) = self.p.poll_event() {
                busy = true;
                match e {
                    Event::Connect(c) => self.p.handle_connected(c, self.now),
                    Event::Completed(c) => self.completions.push(c),
                    Event::Fatal(f) => self.fatal = Some(f),
                    Event::Close(_) | Event::ConnectionFailed { .. } => {}
                }
            }
            if let Some(r) = self.p.poll_txn() {
                busy = true;
                self.results.push(r);
            }
            if !busy {
                match self.p.poll_timeout() {
                    Some(t) => self.now = self.now.max(t),
                    None => return,
                }
                self.p.handle_timeout(self.now);
            }
        }
        panic!("no end after 10,000 rounds: {:?}", self.broker.log);
    }

    fn call(
        &mut self,
        op: TxnOp,
        start: impl FnOnce(&mut Producer<'static>, Instant) -> Result<(), TxnError>,
    ) -> Result<(), TxnError> {
        start(&mut self.p, self.now)?;
        let before = self.results.len();
        self.until(|r| r.results.len() > before);
        let r = self.results.last().copied().expect("a result");
        assert_eq!(r.op, op);
        assert_eq!(self.results.len(), before + 1, "one result per call");
        r.result
    }

    fn send(&mut self, partition: u32, value: &[u8]) {
        let rec = ProducerRecord {
            topic: "t",
            partition: Some(partition),
            key: None,
            value: Some(value),
            headers: &[],
            timestamp: 0,
        };
        loop {
            match self.p.send(&rec, self.now) {
                Ok(_) => return,
                Err(e) if e.is_retriable() => self.until(|r| r.p.partition_count("t").is_some()),
                Err(e) => panic!("send: {e}"),
            }
        }
    }

    fn delivered(&self) -> u32 {
        self.completions.iter().filter(|c| c.result().is_ok()).map(Completion::records).sum()
    }
}

fn init(run: &mut Run) {
    run.call(TxnOp::InitTransactions, |p, now| p.init_transactions(now)).expect("init");
    assert_eq!(run.p.txn_state(), TxnState::Ready);
}

#[test]
fn v1_flow_adds_partitions_then_commits() {
    let mut run = Run::new(false);
    init(&mut run);
    run.p.begin_transaction().expect("begin");
    assert!(!run.p.txn_v2());
    run.send(0, b"a");
    run.send(1, b"b");
    run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
    let log = run.broker.log.join(" ");
    assert!(log.starts_with("FindCoordinator(1,txn) InitProducerId(txn)"), "{log}");
    let added = log.find("AddPartitionsToTxn(t-0)").expect(&log);
    let produced = log.find("Produce(").expect(&log);
    assert!(added < produced && log.ends_with("EndTxn(v4,commit)"), "{log}");
    assert_eq!(run.delivered(), 2);
    assert!(run.broker.batches.iter().all(|&(_, txn, epoch, _)| txn && epoch == 3), "{:?}", run.broker.batches);
    assert_eq!(run.p.txn_state(), TxnState::Ready);
}

#[test]
fn v2_flow_bumps_the_epoch_at_every_end() {
    let mut run = Run::new(true);
    init(&mut run);
    for round in 0..3 {
        run.p.begin_transaction().expect("begin");
        assert!(run.p.txn_v2());
        run.send(round % 2, b"x");
        run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
    }
    let log = run.broker.log.join(" ");
    assert!(!log.contains("AddPartitionsToTxn"), "V2 adds partitions implicitly: {log}");
    assert_eq!(log.matches("EndTxn(v5,commit)").count(), 3, "{log}");
    let epochs: Vec<i16> = run.broker.batches.iter().map(|b| b.2).collect();
    assert_eq!(epochs, [3, 4, 5], "each transaction uses the epoch the last EndTxn returned");
    assert_eq!(run.p.producer_id().map(|p| p.producer_epoch), Some(6));
}

#[test]
fn abort_completes_each_unsent_record_once_as_aborted() {
    for v2 in [false, true] {
        let mut run = Run::new(v2);
        init(&mut run);
        run.p.begin_transaction().expect("begin");
        run.send(0, b"sent");
        run.until(|r| r.delivered() == 1);
        // Linger is 1 ms of virtual time: these stay buffered until the abort.
        run.send(1, b"unsent-1");
        run.send(1, b"unsent-2");
        run.call(TxnOp::AbortTransaction, |p, now| p.abort_transaction(now)).expect("abort");
        let aborted: u32 = run
            .completions
            .iter()
            .filter(|c| c.result() == Err(DeliveryError::TransactionAborted))
            .map(Completion::records)
            .sum();
        assert_eq!((run.delivered(), aborted, run.completions.len()), (1, 2, 2), "v2={v2}");
        assert!(run.broker.log.last().is_some_and(|l| l.ends_with(",abort)")), "{:?}", run.broker.log);
        // The producer goes on.
        run.p.begin_transaction().expect("begin after abort");
        run.send(0, b"again");
        run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
        assert_eq!(run.delivered(), 2);
    }
}

#[test]
fn a_lost_end_txn_response_is_resent_and_completes_once() {
    for v2 in [false, true] {
        let mut run = Run::new(v2);
        init(&mut run);
        run.p.begin_transaction().expect("begin");
        run.send(0, b"a");
        run.broker.drop_end_response = true;
        run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
        let ends = run.broker.log.iter().filter(|l| l.starts_with("EndTxn")).count();
        assert_eq!(ends, 2, "resent once: {:?}", run.broker.log);
        assert_eq!(run.p.txn_state(), TxnState::Ready);
    }
}

#[test]
fn not_coordinator_looks_the_coordinator_up_again_and_retriable_errors_retry() {
    let mut run = Run::new(false);
    init(&mut run);
    run.p.begin_transaction().expect("begin");
    run.send(0, b"a");
    run.broker.end_errors = vec![ErrorCode::NotCoordinator, ErrorCode::ConcurrentTransactions];
    run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
    let log = run.broker.log.join(" ");
    let tail = &log[log.find("EndTxn").expect(&log)..];
    assert_eq!(tail, "EndTxn(v4,commit) FindCoordinator(1,txn) EndTxn(v4,commit) EndTxn(v4,commit)", "{log}");
}

#[test]
fn producer_fenced_is_fatal_and_typed() {
    let mut run = Run::new(true);
    init(&mut run);
    run.p.begin_transaction().expect("begin");
    run.send(0, b"a");
    run.broker.end_errors = vec![ErrorCode::ProducerFenced];
    let err = run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect_err("fenced");
    assert_eq!(err, TxnError::Fatal(FatalError::Broker(ErrorCode::ProducerFenced)));
    assert!(err.is_fatal());
    assert_eq!(run.p.txn_state(), TxnState::FatalError);
    assert_eq!(run.fatal, Some(FatalError::Broker(ErrorCode::ProducerFenced)));
    assert!(matches!(run.p.begin_transaction(), Err(TxnError::Fatal(_))));
}

#[test]
fn offsets_go_to_the_group_coordinator_with_the_member() {
    for v2 in [false, true] {
        let mut run = Run::new(v2);
        init(&mut run);
        run.p.begin_transaction().expect("begin");
        let offsets =
            [TopicPartitionOffset { topic: "in", partition: 0, offset: 42, leader_epoch: -1, metadata: None }];
        let group = GroupMetadata { group_id: "g", generation_id: 5, member_id: "m-1", group_instance_id: None };
        run.call(TxnOp::SendOffsets, |p, now| p.send_offsets_to_transaction(&offsets, &group, now)).expect("offsets");
        run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now)).expect("commit");
        let log = run.broker.log.join(" ");
        let want = if v2 {
            "FindCoordinator(0,g) TxnOffsetCommit(v5,g,m-1,in=42) EndTxn(v5,commit)"
        } else {
            "AddOffsetsToTxn(g) FindCoordinator(0,g) TxnOffsetCommit(v4,g,m-1,in=42) EndTxn(v4,commit)"
        };
        assert!(log.ends_with(want), "v2={v2}: {log}");
    }
}

#[test]
fn calls_in_the_wrong_state_are_refused() {
    let mut run = Run::new(true);
    assert!(matches!(run.p.begin_transaction(), Err(TxnError::InvalidState { state: TxnState::Uninitialized, .. })));
    init(&mut run);
    assert!(matches!(run.p.commit_transaction(run.now), Err(TxnError::InvalidState { state: TxnState::Ready, .. })));
    let rec = ProducerRecord { topic: "t", partition: Some(0), key: None, value: None, headers: &[], timestamp: 0 };
    let sent = loop {
        match run.p.send(&rec, run.now) {
            Err(e) if e.is_retriable() => run.until(|r| r.p.partition_count("t").is_some()),
            other => break other,
        }
    };
    assert!(matches!(sent, Err(SendError::Transaction(TxnError::InvalidState { .. }))), "{sent:?}");
    let config = Config::default();
    let storage = Storage::with_capacity(&config, Default::default());
    let mut plain =
        Producer::new(config.validate().expect("valid"), &[("b1", 9092)], storage, Instant::ZERO).expect("p");
    assert_eq!(plain.init_transactions(Instant::ZERO), Err(TxnError::NotTransactional));
}

/// `close` while a transactional call is under way ends that call with `TxnError::Closed`
/// (once its records completed), one result for it; calls after `close` are refused with it.
#[test]
fn close_ends_a_call_under_way_with_a_typed_error() {
    // init_transactions: the coordinator was not even looked up yet.
    let mut run = Run::new(true);
    run.p.init_transactions(run.now).expect("init starts");
    run.p.close(run.now, run.now);
    run.until(|r| !r.results.is_empty());
    let closed = |op| Err(TxnError::Closed { op });
    assert_eq!(run.results, [TxnResult { op: TxnOp::InitTransactions, result: closed("init_transactions") }]);

    for abort in [false, true] {
        let mut run = Run::new(false);
        init(&mut run);
        run.p.begin_transaction().expect("begin");
        run.send(0, b"a");
        run.send(1, b"b");
        let (op, name) = if abort {
            // The records reach the broker first (an abort of a transaction nothing reached
            // ends at once, without EndTxn).
            run.until(|r| r.delivered() == 2);
            run.p.abort_transaction(run.now).expect("abort starts");
            (TxnOp::AbortTransaction, "abort_transaction")
        } else {
            run.p.commit_transaction(run.now).expect("commit starts");
            (TxnOp::CommitTransaction, "commit_transaction")
        };
        let deadline = run.now + core::time::Duration::from_secs(5);
        run.p.close(deadline, run.now);
        run.until(|r| r.results.len() > 1);
        run.until(|_| false);
        assert_eq!(run.results[1..], [TxnResult { op, result: closed(name) }], "abort={abort}");
        // Every record got exactly one completion, and the transaction never ended.
        assert_eq!(run.completions.iter().map(Completion::records).sum::<u32>(), 2, "abort={abort}");
        assert!(!run.broker.log.iter().any(|l| l.starts_with("EndTxn")), "{:?}", run.broker.log);
        assert!(run.p.closed());
        // Calls after close are refused the same way.
        assert_eq!(run.p.begin_transaction(), closed("begin_transaction"));
        assert_eq!(run.p.init_transactions(run.now), closed("init_transactions"));
    }
}

/// Once a transaction is abortable, every call but `abort_transaction` fails with the error
/// that made it abortable (Java rethrows its `lastError`), not a bare state error.
#[test]
fn calls_in_the_abortable_state_return_the_cause() {
    for v2 in [false, true] {
        let mut run = Run::new(v2);
        init(&mut run);
        run.p.begin_transaction().expect("begin");
        run.send(0, b"a");
        run.broker.end_errors = vec![ErrorCode::TransactionAbortable];
        let cause = TxnError::Abortable(AbortCause::Broker(ErrorCode::TransactionAbortable));
        let first = run.call(TxnOp::CommitTransaction, |p, now| p.commit_transaction(now));
        assert_eq!(first, Err(cause), "v2={v2}");
        assert_eq!(run.p.txn_state(), TxnState::AbortableError);
        assert_eq!(run.p.commit_transaction(run.now), Err(cause), "v2={v2}: commit again");
        assert_eq!(run.p.begin_transaction(), Err(cause));
        let offsets = [TopicPartitionOffset { topic: "in", partition: 0, offset: 1, leader_epoch: -1, metadata: None }];
        let group = GroupMetadata::new("g");
        assert_eq!(run.p.send_offsets_to_transaction(&offsets, &group, run.now), Err(cause));
        let rec = ProducerRecord { topic: "t", partition: Some(0), key: None, value: None, headers: &[], timestamp: 0 };
        assert!(matches!(run.p.send(&rec, run.now), Err(SendError::Transaction(e)) if e == cause));
        run.call(TxnOp::AbortTransaction, |p, now| p.abort_transaction(now)).expect("abort");
        // The cause is gone with the transaction.
        assert!(matches!(
            run.p.commit_transaction(run.now),
            Err(TxnError::InvalidState { state: TxnState::Ready, .. })
        ));
    }
}

/// The fuzz targets' interpreter, for the seeds below.
#[allow(dead_code, unreachable_pub, missing_docs, clippy::std_instead_of_core, clippy::std_instead_of_alloc)]
#[path = "../../fuzz/src/engine.rs"]
mod fuzz_engine;

/// Seeds for the `engine` fuzz target's transactional mode (`fuzz/src/engine.rs`: a script
/// that starts with 0xFF): whole sessions against the scripted coordinator, so the fuzzer starts
/// from committed and aborted transactions with offsets. The scripts run through the fuzz
/// target's own interpreter (included with `#[path]`), so a script replays there as it ran
/// here; the test checks each script commits records, and `KPROD_WRITE_FUZZ_SEEDS=1` writes them
/// to `fuzz/corpus/engine/seed-txn-*`.
mod fuzz_seeds {
    use super::*;

    use super::fuzz_engine;
    use fuzz_engine::op::{ABORT, ADVANCE, BEGIN, COMMIT, CONNECTED, INIT, READ, SEND, SEND_OFFSETS};
    use fuzz_engine::{Engine, TRANSACTIONAL};

    struct Generator {
        e: Engine,
        broker: Broker,
        script: Vec<u8>,
    }

    impl Generator {
        fn new(v2: bool) -> Self {
            let mut e = Engine::new(fuzz_engine::config(), true, |_| {}).expect("the fuzz target's config is valid");
            e.keep_requests = true;
            Self { e, broker: Broker { v2, epoch: 0, ..Broker::default() }, script: vec![TRANSACTIONAL] }
        }

        fn op(&mut self, op: u8, arg: u16, extra: &[u8]) {
            self.script.push(op);
            self.script.extend_from_slice(&arg.to_le_bytes());
            self.script.extend_from_slice(extra);
            let mut input = extra;
            self.e.step(op, arg, &mut input);
        }

        /// Connects every connection, and answers every request (one READ per response, padded
        /// so that its length also names its connection, as in `engine_fuzz_seeds.rs`).
        fn settle(&mut self) {
            for _ in 0..12 {
                for i in 0..self.e.conns.len() {
                    self.op(CONNECTED, i as u16, &[]);
                }
                for (conn, frame) in core::mem::take(&mut self.e.requests) {
                    let Some(idx) = self.e.conns.iter().position(|c| *c == conn) else { continue };
                    let (body, _) = split_frame(&frame, 1 << 20).expect("frame").expect("whole");
                    let Some(mut bytes) = self.broker.answer(body) else { continue };
                    while bytes.len() % self.e.conns.len() != idx {
                        bytes.push(0);
                    }
                    assert!(bytes.len() < fuzz_engine::MAX_READ, "a response too long for one READ");
                    self.op(READ, bytes.len() as u16, &bytes.clone());
                }
                self.op(ADVANCE, 20, &[]);
            }
        }
    }

    fn session(v2: bool) -> Generator {
        let mut g = Generator::new(v2);
        g.op(INIT, 0, &[]);
        g.settle();
        for round in 0..3u16 {
            g.op(BEGIN, 0, &[]);
            for arg in [10 + round, 21 + round, 300 + round] {
                g.op(SEND, arg, &[]);
            }
            g.settle();
            if round != 1 {
                // Offsets for a member of generation 1 (arg % 3 == 2), or with none (arg % 3 == 0).
                g.op(SEND_OFFSETS, 5 + 7 * round, &[]);
                g.settle();
            }
            g.op(if round == 1 { ABORT } else { COMMIT }, 0, &[]);
            g.settle();
        }
        g
    }

    #[test]
    fn transactional_sessions_commit_and_abort() {
        for v2 in [false, true] {
            let g = session(v2);
            let ops: Vec<TxnOp> = g.e.results.iter().map(|r| r.op).collect();
            let want = [
                TxnOp::InitTransactions,
                TxnOp::SendOffsets,
                TxnOp::CommitTransaction,
                TxnOp::AbortTransaction,
                TxnOp::SendOffsets,
                TxnOp::CommitTransaction,
            ];
            assert_eq!(ops, want, "v2={v2}: {:?}", g.broker.log);
            assert!(g.e.results.iter().all(|r| r.result.is_ok()), "{:?}", g.e.results);
            assert!(g.e.delivered >= 6, "v2={v2}: {} delivered", g.e.delivered);
            assert_eq!(
                g.broker.log.iter().filter(|l| l.starts_with("TxnOffsetCommit")).count(),
                2,
                "{:?}",
                g.broker.log
            );
            if std::env::var_os("KPROD_WRITE_FUZZ_SEEDS").is_some() {
                let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/engine");
                let name = if v2 { "seed-txn-v2" } else { "seed-txn-v1" };
                std::fs::write(dir.join(name), &g.script).expect("write seed");
            }
            // The script replays in the fuzz target's interpreter without a failed promise.
            fuzz_engine::run(fuzz_engine::config(), &g.script, |_| {});
        }
    }
}
