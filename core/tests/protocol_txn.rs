//! Cross-check of the transaction APIs against the Java client (kafka-clients 4.3.1):
//! `tests/vectors/protocol/txn/vectors.txt`. Every request kprod sends encodes to the Java bytes
//! and decodes back (the broker side); every response decodes to the values `TxnGen.java` set and
//! encodes back to the same bytes.
#![cfg(feature = "alloc")] // encodes into Vec sinks

use kprod_core::protocol::add_offsets_to_txn::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};
use kprod_core::protocol::add_partitions_to_txn::*;
use kprod_core::protocol::end_txn::{EndTxnRequest, EndTxnResponse};
use kprod_core::protocol::find_coordinator::*;
use kprod_core::protocol::txn_offset_commit::*;
use kprod_core::protocol::{DecodeRequest, EncodeResponse, ErrorCode, Request, Response};

const VECTORS: &str = include_str!("../../tests/vectors/protocol/txn/vectors.txt");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Every vector as (api, kind, version, body).
fn cases() -> Vec<(&'static str, &'static str, i16, Vec<u8>)> {
    VECTORS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f[0], f[1], f[2].parse().unwrap(), hex(f[3]))
        })
        .collect()
}

fn request_bytes<R: Request>(r: &R, v: i16) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(v, &mut out).unwrap();
    out
}

fn response_bytes<R: EncodeResponse>(r: &R, v: i16) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(v, &mut out).unwrap();
    out
}

const TXN: &str = "txn-1";
const PID: i64 = 4242;
const EPOCH: i16 = 7;

#[test]
fn every_api_and_version_has_vectors() {
    let count = |api: &str| cases().iter().filter(|c| c.0 == api).count();
    assert_eq!(count("find_coordinator"), 14);
    assert_eq!(count("add_partitions_to_txn"), 8);
    assert_eq!(count("add_offsets_to_txn"), 10);
    assert_eq!(count("txn_offset_commit"), 12);
    assert_eq!(count("end_txn"), 12);
}

#[test]
fn find_coordinator() {
    for (_, kind, v, body) in cases().into_iter().filter(|c| c.0 == "find_coordinator") {
        let (key, key_type) = if v == 0 { ("group-a", KEY_TYPE_GROUP) } else { (TXN, KEY_TYPE_TRANSACTION) };
        if kind == "request" {
            assert_eq!(request_bytes(&FindCoordinatorRequest { key_type, keys: &[key] }, v), body, "v{v}");
            let view = FindCoordinatorRequestView::decode(v, &body).unwrap();
            let keys: Vec<&str> = if v >= 4 { view.coordinator_keys.iter().collect() } else { vec![view.key] };
            assert_eq!((view.key_type, keys), (key_type, vec![key]), "v{v}");
            continue;
        }
        let r = FindCoordinatorResponse::decode(v, &body).unwrap();
        assert_eq!(r.throttle_time_ms, if v >= 1 { 3 } else { 0 }, "v{v}");
        let found = r.coordinator(TXN).unwrap();
        assert_eq!((found.node_id, found.host, found.port, found.error_code), (2, "broker-2", 9093, ErrorCode::None));
        let mut coordinators = vec![Coordinator { key: "", ..found }];
        if v >= 4 {
            assert_eq!(found.key, TXN);
            let missing = r.coordinator("txn-2").unwrap();
            assert_eq!(
                (missing.error_code, missing.error_message),
                (ErrorCode::CoordinatorNotAvailable, Some("not available"))
            );
            coordinators = r.coordinators.iter().collect();
        } else {
            assert!(r.coordinators.is_empty());
        }
        let data = FindCoordinatorResponseData { throttle_time_ms: r.throttle_time_ms, coordinators: &coordinators };
        assert_eq!(response_bytes(&data, v), body, "v{v}");
    }
}

#[test]
fn find_coordinator_before_v4_takes_exactly_one_key() {
    let two = FindCoordinatorRequest { key_type: KEY_TYPE_TRANSACTION, keys: &["a", "b"] };
    assert!(two.encode(3, &mut Vec::new()).is_err());
    assert!(two.encode(4, &mut Vec::new()).is_ok());
    let none = FindCoordinatorRequest { key_type: KEY_TYPE_TRANSACTION, keys: &[] };
    assert!(none.encode(3, &mut Vec::new()).is_err());
    // v0 knows group coordinators only.
    assert!(FindCoordinatorRequest { key_type: KEY_TYPE_TRANSACTION, keys: &["a"] }
        .encode(0, &mut Vec::new())
        .is_err());
}

#[test]
fn add_partitions_to_txn() {
    for (_, kind, v, body) in cases().into_iter().filter(|c| c.0 == "add_partitions_to_txn") {
        if kind == "request" {
            let topics = [
                AddPartitionsToTxnTopic { name: "orders", partitions: &[0, 2] },
                AddPartitionsToTxnTopic { name: "audit", partitions: &[1] },
            ];
            let req = AddPartitionsToTxnRequest {
                transactional_id: TXN,
                producer_id: PID,
                producer_epoch: EPOCH,
                topics: &topics,
            };
            assert_eq!(request_bytes(&req, v), body, "v{v}");
            let view = AddPartitionsToTxnRequestView::decode(v, &body).unwrap();
            assert_eq!((view.transactional_id, view.producer_id, view.producer_epoch), (TXN, PID, EPOCH));
            let got: Vec<(&str, Vec<i32>)> =
                view.topics.iter().map(|t| (t.name, t.partitions.iter().collect())).collect();
            assert_eq!(got, vec![("orders", vec![0, 2]), ("audit", vec![1])]);
            continue;
        }
        let r = AddPartitionsToTxnResponse::decode(v, &body).unwrap();
        let topic = r.results.get(0).unwrap();
        let parts: Vec<PartitionError> = topic.partitions.iter().collect();
        let want = [
            PartitionError { partition_index: 0, error_code: ErrorCode::None },
            PartitionError { partition_index: 2, error_code: ErrorCode::ConcurrentTransactions },
        ];
        assert_eq!((r.throttle_time_ms, r.results.len(), topic.name, parts.as_slice()), (1, 1, "orders", &want[..]));
        let results = [TopicPartitionErrorsData { name: "orders", partitions: &want }];
        assert_eq!(response_bytes(&AddPartitionsToTxnResponseData { throttle_time_ms: 1, results: &results }, v), body);
    }
}

#[test]
fn add_offsets_to_txn() {
    for (_, kind, v, body) in cases().into_iter().filter(|c| c.0 == "add_offsets_to_txn") {
        if kind == "request" {
            let req = AddOffsetsToTxnRequest {
                transactional_id: TXN,
                producer_id: PID,
                producer_epoch: EPOCH,
                group_id: "group-a",
            };
            assert_eq!(request_bytes(&req, v), body, "v{v}");
            assert_eq!(AddOffsetsToTxnRequest::decode(v, &body).unwrap(), req);
            continue;
        }
        let r = AddOffsetsToTxnResponse::decode(v, &body).unwrap();
        assert_eq!(r, AddOffsetsToTxnResponse { throttle_time_ms: 5, error_code: ErrorCode::ConcurrentTransactions });
        assert_eq!(response_bytes(&r, v), body);
    }
}

#[test]
fn txn_offset_commit() {
    for (_, kind, v, body) in cases().into_iter().filter(|c| c.0 == "txn_offset_commit") {
        if kind == "request" {
            let member = if v >= 3 {
                GroupMember { generation_id: 3, member_id: "m-1", group_instance_id: Some("i-1") }
            } else {
                GroupMember::UNKNOWN
            };
            let epoch = if v >= 2 { 4 } else { -1 };
            let parts = [
                TxnOffsetCommitPartition {
                    partition_index: 0,
                    committed_offset: 100,
                    committed_leader_epoch: epoch,
                    committed_metadata: Some("meta"),
                },
                TxnOffsetCommitPartition {
                    partition_index: 1,
                    committed_offset: 200,
                    committed_leader_epoch: -1,
                    committed_metadata: None,
                },
            ];
            let topics = [TxnOffsetCommitTopic { name: "orders", partitions: &parts }];
            let req = TxnOffsetCommitRequest {
                transactional_id: TXN,
                group_id: "group-a",
                producer_id: PID,
                producer_epoch: EPOCH,
                member,
                topics: &topics,
            };
            assert_eq!(request_bytes(&req, v), body, "v{v}");
            let view = TxnOffsetCommitRequestView::decode(v, &body).unwrap();
            assert_eq!(
                (view.transactional_id, view.group_id, view.producer_id, view.producer_epoch),
                (TXN, "group-a", PID, EPOCH)
            );
            assert_eq!(view.member, member);
            let topic = view.topics.get(0).unwrap();
            assert_eq!(topic.name, "orders");
            assert_eq!(topic.partitions.iter().collect::<Vec<_>>(), parts.to_vec());
            continue;
        }
        let r = TxnOffsetCommitResponse::decode(v, &body).unwrap();
        let topic = r.topics.get(0).unwrap();
        let want = [
            PartitionError { partition_index: 0, error_code: ErrorCode::None },
            PartitionError { partition_index: 1, error_code: ErrorCode::IllegalGeneration },
        ];
        assert_eq!((topic.name, topic.partitions.iter().collect::<Vec<_>>()), ("orders", want.to_vec()));
        let topics = [TopicPartitionErrorsData { name: "orders", partitions: &want }];
        assert_eq!(response_bytes(&TxnOffsetCommitResponseData { throttle_time_ms: 0, topics: &topics }, v), body);
    }
}

#[test]
fn txn_offset_commit_below_v3_refuses_group_metadata() {
    let member = GroupMember { generation_id: 3, member_id: "m-1", group_instance_id: None };
    let req = TxnOffsetCommitRequest {
        transactional_id: TXN,
        group_id: "g",
        producer_id: PID,
        producer_epoch: EPOCH,
        member,
        topics: &[],
    };
    assert!(req.encode(2, &mut Vec::new()).is_err());
    assert!(req.encode(3, &mut Vec::new()).is_ok());
}

#[test]
fn end_txn() {
    for (_, kind, v, body) in cases().into_iter().filter(|c| c.0 == "end_txn") {
        if kind == "request" {
            let req = EndTxnRequest { transactional_id: TXN, producer_id: PID, producer_epoch: EPOCH, committed: true };
            assert_eq!(request_bytes(&req, v), body, "v{v}");
            assert_eq!(EndTxnRequest::decode(v, &body).unwrap(), req);
            continue;
        }
        let r = EndTxnResponse::decode(v, &body).unwrap();
        let (pid, epoch) = if v >= 5 { (PID, 8) } else { (-1, -1) };
        assert_eq!(
            r,
            EndTxnResponse {
                throttle_time_ms: 0,
                error_code: ErrorCode::None,
                producer_id: pid,
                producer_epoch: epoch
            }
        );
        assert_eq!(response_bytes(&r, v), body);
    }
}

#[test]
fn transactions_v2_follows_the_finalized_feature() {
    use kprod_core::protocol::api_versions::{ApiVersionsResponse, ApiVersionsResponseData, FinalizedFeature};
    for (level, v2) in [(None, false), (Some(1), false), (Some(2), true), (Some(3), true)] {
        let features: Vec<FinalizedFeature> = level
            .map(|l| FinalizedFeature { name: "transaction.version", max_version_level: l, min_version_level: l })
            .into_iter()
            .collect();
        let mut data = ApiVersionsResponseData::new(ErrorCode::None, &[]);
        data.finalized_features = &features;
        data.finalized_features_epoch = 1;
        let body = response_bytes(&data, 4);
        let r = ApiVersionsResponse::decode(4, &body).unwrap();
        assert_eq!((r.finalized_level("transaction.version"), r.transactions_v2()), (level, v2));
    }
}
