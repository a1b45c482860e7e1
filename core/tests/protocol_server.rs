//! The broker side of the protocol, cross-checked against the Java client (kafka-clients 4.1.1,
//! `tests/vectors/protocol/vectors.txt`): our request decoders read every Java request to the
//! field values Java reads, our response encoders write every Java response byte for byte, both
//! round-trip with kprod's client side at every version, and hostile request bytes never panic a
//! decoder.
#![cfg(feature = "alloc")]

extern crate alloc;

mod support;

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::init_producer_id::*;
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::sasl_authenticate::*;
use kprod_core::protocol::sasl_handshake::*;
use kprod_core::protocol::*;
use kprod_core::wire::{Counter, DecodeError, EncodeError, Sink};

use support::requests::encode_case;
use support::responses::decode_flat;
use support::{hex, parse, unhex, Case, Fields, Flat, Map};

// Decoded requests, flattened as the vectors write fields.

fn flat_api_versions_request(r: &ApiVersionsRequest<'_>) -> Map {
    let mut f = Flat::default();
    f.put("client_software_name", r.client_software_name);
    f.put("client_software_version", r.client_software_version);
    f.0
}

fn flat_metadata_request(r: &MetadataRequestView<'_>) -> Map {
    let mut f = Flat::default();
    match r.topics {
        None => f.put("topics", "null"),
        Some(topics) => f.list("topics", topics, |f, p, t| {
            f.put(&format!("{p}topic_id"), hex(&t.topic_id));
            f.opt(&format!("{p}name"), t.name);
        }),
    }
    f.put("allow_auto_topic_creation", r.allow_auto_topic_creation);
    f.put("include_cluster_authorized_operations", r.include_cluster_authorized_operations);
    f.put("include_topic_authorized_operations", r.include_topic_authorized_operations);
    f.0
}

fn flat_produce_request(r: &ProduceRequestView<'_>) -> Map {
    let mut f = Flat::default();
    f.opt("transactional_id", r.transactional_id);
    f.put("acks", r.acks);
    f.put("timeout_ms", r.timeout_ms);
    f.list("topic_data", r.topic_data, |f, p, t| {
        f.put(&format!("{p}name"), t.name);
        f.put(&format!("{p}topic_id"), hex(&t.topic_id));
        f.list(&format!("{p}partition_data"), t.partition_data, |f, p, d| {
            f.put(&format!("{p}index"), d.index);
            f.put(&format!("{p}records"), hex(d.records));
        });
    });
    f.0
}

fn flat_init_producer_id_request(r: &InitProducerIdRequest<'_>) -> Map {
    let mut f = Flat::default();
    f.opt("transactional_id", r.transactional_id);
    f.put("transaction_timeout_ms", r.transaction_timeout_ms);
    f.put("producer_id", r.producer_id);
    f.put("producer_epoch", r.producer_epoch);
    f.put("enable2_pc", r.enable_2pc);
    f.put("keep_prepared_txn", r.keep_prepared_txn);
    f.0
}

fn flat_sasl_handshake_request(r: &SaslHandshakeRequest<'_>) -> Map {
    let mut f = Flat::default();
    f.put("mechanism", r.mechanism);
    f.0
}

fn flat_sasl_authenticate_request(r: &SaslAuthenticateRequest<'_>) -> Map {
    let mut f = Flat::default();
    f.put("auth_bytes", hex(r.auth_bytes));
    f.0
}

/// Decodes a request body and flattens it, or `None` for a case that is not an API request.
fn decode_request_flat(what: &str, v: i16, body: &[u8]) -> Option<Result<Map, DecodeError>> {
    fn go<'a, R: DecodeRequest<'a>>(v: i16, body: &'a [u8], flat: fn(&R) -> Map) -> Result<Map, DecodeError> {
        R::decode(v, body).map(|r| flat(&r))
    }
    Some(match what.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["api_versions", "request"] => go(v, body, flat_api_versions_request),
        ["metadata", "request"] => go(v, body, flat_metadata_request),
        ["produce", "request"] => go(v, body, flat_produce_request),
        ["init_producer_id", "request"] => go(v, body, flat_init_producer_id_request),
        ["sasl_handshake", "request"] => go(v, body, flat_sasl_handshake_request),
        ["sasl_authenticate", "request"] => go(v, body, flat_sasl_authenticate_request),
        _ => return None,
    })
}

// Responses built from a vector's fields.

/// A vector's fields under a prefix such as `topics.0.`.
#[derive(Clone, Copy)]
struct At<'f, 'a>(&'f Fields<'a>, &'f str);

impl<'a> At<'_, 'a> {
    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.1)
    }
    fn s(&self, k: &str) -> &'a str {
        self.0.s(&self.key(k))
    }
    fn opt(&self, k: &str) -> Option<&'a str> {
        self.0.opt(&self.key(k))
    }
    fn num<T: core::str::FromStr>(&self, k: &str) -> T
    where
        T::Err: core::fmt::Debug,
    {
        self.0.num(&self.key(k))
    }
    fn err(&self, k: &str) -> ErrorCode {
        ErrorCode::from_code(self.num(k))
    }
    fn uuid(&self, k: &str) -> [u8; 16] {
        self.0.uuid(&self.key(k))
    }
    /// The elements of list `k`, leaked so the borrowed response structs can point at them.
    fn list<T>(&self, k: &str, mut item: impl FnMut(At<'_, 'a>) -> T) -> &'a [T] {
        let k = self.key(k);
        (0..self.0.len(&k)).map(|i| item(At(self.0, &format!("{k}.{i}.")))).collect::<Vec<_>>().leak()
    }
    /// A list of plain values (`isr_nodes.0=1`) rather than of structs.
    fn values<T: core::str::FromStr>(&self, k: &str) -> &'a [T]
    where
        T::Err: core::fmt::Debug,
    {
        self.list(k, |a| a.0.num(a.1.trim_end_matches('.')))
    }
}

fn node<'a>(a: At<'_, 'a>) -> Node<'a> {
    Node { node_id: a.num("node_id"), host: a.s("host"), port: a.num("port"), rack: a.opt("rack") }
}

fn api_versions_data<'a>(a: At<'_, 'a>) -> ApiVersionsResponseData<'a> {
    ApiVersionsResponseData {
        error_code: a.err("error_code"),
        api_keys: a.list("api_keys", |a| ApiVersion {
            api_key: ApiKey::from_code(a.num("api_key")),
            min_version: a.num("min_version"),
            max_version: a.num("max_version"),
        }),
        throttle_time_ms: a.num("throttle_time_ms"),
        supported_features: a.list("supported_features", |a| SupportedFeature {
            name: a.s("name"),
            min_version: a.num("min_version"),
            max_version: a.num("max_version"),
        }),
        finalized_features_epoch: a.num("finalized_features_epoch"),
        finalized_features: a.list("finalized_features", |a| FinalizedFeature {
            name: a.s("name"),
            max_version_level: a.num("max_version_level"),
            min_version_level: a.num("min_version_level"),
        }),
        zk_migration_ready: a.num("zk_migration_ready"),
    }
}

fn metadata_data<'a>(a: At<'_, 'a>) -> MetadataResponseData<'a> {
    let partition = |a: At<'_, 'a>| MetadataResponsePartitionData {
        error_code: a.err("error_code"),
        partition_index: a.num("partition_index"),
        leader_id: a.num("leader_id"),
        leader_epoch: a.num("leader_epoch"),
        replica_nodes: a.values("replica_nodes"),
        isr_nodes: a.values("isr_nodes"),
        offline_replicas: a.values("offline_replicas"),
    };
    MetadataResponseData {
        throttle_time_ms: a.num("throttle_time_ms"),
        brokers: a.list("brokers", node),
        cluster_id: a.opt("cluster_id"),
        controller_id: a.num("controller_id"),
        topics: a.list("topics", |a| MetadataResponseTopicData {
            error_code: a.err("error_code"),
            name: a.opt("name"),
            topic_id: a.uuid("topic_id"),
            is_internal: a.num("is_internal"),
            partitions: a.list("partitions", partition),
            topic_authorized_operations: a.num("topic_authorized_operations"),
        }),
        cluster_authorized_operations: a.num("cluster_authorized_operations"),
        error_code: a.err("error_code"),
    }
}

fn produce_data<'a>(a: At<'_, 'a>) -> ProduceResponseData<'a> {
    let partition = |a: At<'_, 'a>| PartitionProduceResponseData {
        index: a.num("index"),
        error_code: a.err("error_code"),
        base_offset: a.num("base_offset"),
        log_append_time_ms: a.num("log_append_time_ms"),
        log_start_offset: a.num("log_start_offset"),
        record_errors: a.list("record_errors", |a| RecordError {
            batch_index: a.num("batch_index"),
            batch_index_error_message: a.opt("batch_index_error_message"),
        }),
        error_message: a.opt("error_message"),
        current_leader: Some(LeaderIdAndEpoch {
            leader_id: a.num("current_leader.leader_id"),
            leader_epoch: a.num("current_leader.leader_epoch"),
        }),
    };
    ProduceResponseData {
        responses: a.list("responses", |a| TopicProduceResponseData {
            name: a.s("name"),
            topic_id: a.uuid("topic_id"),
            partition_responses: a.list("partition_responses", partition),
        }),
        throttle_time_ms: a.num("throttle_time_ms"),
        node_endpoints: a.list("node_endpoints", node),
    }
}

fn init_producer_id_data(a: At<'_, '_>) -> InitProducerIdResponse {
    InitProducerIdResponse {
        throttle_time_ms: a.num("throttle_time_ms"),
        error_code: a.err("error_code"),
        producer_id: a.num("producer_id"),
        producer_epoch: a.num("producer_epoch"),
        ongoing_txn_producer_id: a.num("ongoing_txn_producer_id"),
        ongoing_txn_producer_epoch: a.num("ongoing_txn_producer_epoch"),
    }
}

/// Encodes `r` at `v`, checking that a [`Counter`] agrees on the size and that the frame
/// [`encode_response`] writes holds the same body behind the right header.
fn enc_response<R: EncodeResponse>(r: &R, v: i16) -> Vec<u8> {
    let mut body = Vec::new();
    r.encode(v, &mut body).unwrap_or_else(|e| panic!("encode v{v}: {e}"));
    let mut count = Counter::default();
    r.encode(v, &mut count).unwrap();
    assert_eq!(count.0, body.len());

    let mut frame = Vec::new();
    let n = encode_response(&mut frame, v, 0x0102_0304, r).unwrap();
    assert_eq!((n, response_frame_len(v, 0x0102_0304, r).unwrap()), (frame.len(), frame.len()));
    let (inner, used) = split_frame(&frame, usize::MAX).unwrap().unwrap();
    assert_eq!(used, frame.len());
    let (header, rest) = ResponseHeader::decode(R::API_KEY, v, inner).unwrap();
    assert_eq!((header.correlation_id, rest), (0x0102_0304, &body[..]));
    body
}

/// Builds the response a case describes and encodes it, or `None` for a case that is not an API
/// response.
fn encode_response_case(what: &str, v: i16, map: &Map) -> Option<Vec<u8>> {
    let f = Fields(map);
    let a = At(&f, "");
    Some(match what.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["api_versions", "response"] => enc_response(&api_versions_data(a), v),
        ["metadata", "response"] => enc_response(&metadata_data(a), v),
        ["produce", "response"] => enc_response(&produce_data(a), v),
        ["init_producer_id", "response"] => enc_response(&init_producer_id_data(a), v),
        ["sasl_handshake", "response"] => enc_response(
            &SaslHandshakeResponseData {
                error_code: a.err("error_code"),
                mechanisms: a.list("mechanisms", |a| a.0.s(a.1.trim_end_matches('.'))),
            },
            v,
        ),
        ["sasl_authenticate", "response"] => enc_response(
            &SaslAuthenticateResponse {
                error_code: a.err("error_code"),
                error_message: a.opt("error_message"),
                auth_bytes: &unhex(a.s("auth_bytes")),
                session_lifetime_ms: a.num("session_lifetime_ms"),
            },
            v,
        ),
        _ => return None,
    })
}

fn cases_of<'c>(cases: &'c [Case], kind: &'c str) -> impl Iterator<Item = &'c Case> + 'c {
    cases.iter().filter(move |c| c.what.split(' ').nth(1) == Some(kind) && !c.what.contains("_header"))
}

#[test]
fn requests_decode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in cases_of(&cases, "request") {
        let ours = decode_request_flat(&c.what, c.version, &c.body).unwrap();
        assert_eq!(
            ours.unwrap_or_else(|e| panic!("{} v{}: {e}", c.what, c.version)),
            c.fields,
            "{} v{}",
            c.what,
            c.version
        );
        n += 1;
    }
    assert!(n >= 60, "only {n} request cases");
}

#[test]
fn requests_round_trip_through_our_encoders() {
    let (cases, _) = parse();
    for c in cases_of(&cases, "request") {
        let ours = encode_case(&c.what, c.version, &c.fields).unwrap();
        let back = decode_request_flat(&c.what, c.version, &ours).unwrap();
        assert_eq!(
            back.unwrap_or_else(|e| panic!("{} v{}: {e}", c.what, c.version)),
            c.fields,
            "{} v{}",
            c.what,
            c.version
        );
    }
}

#[test]
fn request_headers_decode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in cases.iter().filter(|c| c.what.starts_with("request_header")) {
        let (h, body) = RequestHeader::decode(&c.body).unwrap();
        let f = Fields(&c.fields);
        assert_eq!(h.api_key.code(), f.num::<i16>("request_api_key"));
        assert_eq!(h.api_version, f.num::<i16>("request_api_version"));
        assert_eq!(h.correlation_id, f.num::<i32>("correlation_id"));
        assert_eq!(h.client_id, f.opt("client_id"));
        assert_eq!((h.version(), body), (c.version, &[][..]));
        n += 1;
    }
    assert_eq!(n, 4);
}

#[test]
fn responses_encode_like_java_and_decode_back() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in cases_of(&cases, "response") {
        let ours = encode_response_case(&c.what, c.version, &c.fields).unwrap();
        assert_eq!(hex(&ours), hex(&c.body), "{} v{}", c.what, c.version);
        let back = decode_flat(&c.what, c.version, &ours).unwrap();
        assert_eq!(back.unwrap(), c.fields, "{} v{}", c.what, c.version);
        n += 1;
    }
    assert!(n >= 45, "only {n} response cases");
}

#[test]
fn response_headers_encode_like_java() {
    let (cases, _) = parse();
    for c in cases.iter().filter(|c| c.what.starts_with("response_header")) {
        let header = ResponseHeader { correlation_id: Fields(&c.fields).num("correlation_id") };
        // Produce v8 has a v0 response header, v9 a v1 header; ApiVersions always v0.
        let mut out = Vec::new();
        header.encode(ApiKey::Produce, 8 + c.version, &mut out).unwrap();
        assert_eq!(hex(&out), hex(&c.body));
        out.clear();
        header.encode(ApiKey::ApiVersions, 3, &mut out).unwrap();
        assert_eq!(out.len(), 4);
    }
}

/// Frames `req` at every schema version with [`encode_request`], reads the frame back as a
/// broker does, and hands the body to `check`.
fn request_frames<Q: Request>(req: &Q, mut check: impl FnMut(i16, &[u8])) {
    let range = Q::API_KEY.schema_versions().unwrap();
    for v in range.min..=range.max {
        let mut frame = Vec::new();
        let n = encode_request(&mut frame, v, v.into(), Some("kprod"), req).unwrap();
        assert_eq!((n, request_frame_len(v, v.into(), Some("kprod"), req).unwrap()), (frame.len(), frame.len()));
        let (inner, used) = split_frame(&frame, usize::MAX).unwrap().unwrap();
        assert_eq!(used, frame.len());
        let (h, body) = RequestHeader::decode(inner).unwrap();
        assert_eq!((h.api_key, h.api_version, h.correlation_id, h.client_id), (Q::API_KEY, v, v.into(), Some("kprod")));
        check(v, body);
    }
}

#[test]
fn request_frames_round_trip_at_every_version() {
    let req = ApiVersionsRequest { client_software_name: "kprod", client_software_version: "1.0" };
    request_frames(&req, |v, body| {
        let empty = ApiVersionsRequest { client_software_name: "", client_software_version: "" };
        assert_eq!(ApiVersionsRequest::decode(v, body).unwrap(), if v >= 3 { req } else { empty });
    });
    let req = InitProducerIdRequest::new(Some("txn"), 60_000);
    request_frames(&req, |v, body| assert_eq!(InitProducerIdRequest::decode(v, body).unwrap(), req));
    let req = SaslHandshakeRequest { mechanism: "PLAIN" };
    request_frames(&req, |v, body| assert_eq!(SaslHandshakeRequest::decode(v, body).unwrap(), req));
    let req = SaslAuthenticateRequest { auth_bytes: b"\0user\0pass" };
    request_frames(&req, |v, body| assert_eq!(SaslAuthenticateRequest::decode(v, body).unwrap(), req));

    let topics = [MetadataRequestTopic { topic_id: [7; 16], name: Some("orders") }];
    request_frames(&MetadataRequest::new(Some(&topics)), |v, body| {
        let topic = MetadataRequestView::decode(v, body).unwrap().topics.unwrap().get(0).unwrap();
        assert_eq!((topic.name, topic.topic_id), (Some("orders"), if v >= 10 { [7; 16] } else { [0; 16] }));
    });
    let partitions = [PartitionProduceData { index: 3, records: b"batch" }];
    let topics = [TopicProduceData { name: "orders", topic_id: Some([9; 16]), partition_data: &partitions }];
    let req = ProduceRequest { transactional_id: Some("txn"), acks: -1, timeout_ms: 1000, topic_data: &topics };
    request_frames(&req, |v, body| {
        let view = ProduceRequestView::decode(v, body).unwrap();
        assert_eq!((view.transactional_id, view.acks, view.timeout_ms), (Some("txn"), -1, 1000));
        let topic = view.topic_data.get(0).unwrap();
        assert_eq!((topic.name, topic.topic_id), if v >= 13 { ("", [9; 16]) } else { ("orders", [0; 16]) });
        assert_eq!(topic.partition_data.iter().collect::<Vec<_>>(), partitions);
    });
}

#[test]
fn response_frames_round_trip_at_every_version() {
    let parts = [
        PartitionProduceResponseData::ok(0, 42),
        PartitionProduceResponseData::failed(1, ErrorCode::NotLeaderOrFollower),
    ];
    let topics = [TopicProduceResponseData { name: "orders", topic_id: [9; 16], partition_responses: &parts }];
    let data = ProduceResponseData { responses: &topics, throttle_time_ms: 0, node_endpoints: &[] };
    for v in 3..=13 {
        let body = enc_response(&data, v);
        let r = ProduceResponse::decode(v, &body).unwrap();
        let t = r.responses.get(0).unwrap();
        assert_eq!(if v >= 13 { t.topic_id } else { [9; 16] }, [9; 16]);
        let p: Vec<_> = t.partition_responses.iter().map(|p| (p.index, p.error_code, p.base_offset)).collect();
        assert_eq!(p, [(0, ErrorCode::None, 42), (1, ErrorCode::NotLeaderOrFollower, -1)]);
    }
    let keys = [ApiVersion { api_key: ApiKey::Produce, min_version: 3, max_version: 13 }];
    for v in 0..=4 {
        let body = enc_response(&ApiVersionsResponseData::new(ErrorCode::None, &keys), v);
        assert_eq!(ApiVersionsResponse::decode(v, &body).unwrap().choose(ApiKey::Produce), Some(13));
    }
    let brokers = [Node { node_id: 1, host: "b1", port: 9092, rack: Some("r") }];
    let md = MetadataResponseData {
        throttle_time_ms: 0,
        brokers: &brokers,
        cluster_id: Some("c"),
        controller_id: 1,
        topics: &[],
        cluster_authorized_operations: i32::MIN,
        error_code: ErrorCode::None,
    };
    for v in 0..=13 {
        let body = enc_response(&md, v);
        let node = MetadataResponse::decode(v, &body).unwrap().brokers.get(0).unwrap();
        assert_eq!(node.rack, (v >= 1).then_some("r"));
    }
    let pid = InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code: ErrorCode::None,
        producer_id: 7,
        producer_epoch: 1,
        ongoing_txn_producer_id: -1,
        ongoing_txn_producer_epoch: -1,
    };
    for v in 0..=6 {
        assert_eq!(InitProducerIdResponse::decode(v, &enc_response(&pid, v)).unwrap(), pid);
    }
}

/// A Produce response for one topic.
fn one_topic<'a>(
    partitions: &'a [PartitionProduceResponseData<'a>],
    endpoints: &'a [Node<'a>],
) -> ProduceResponseData<'a> {
    let topics = vec![TopicProduceResponseData { name: "t", topic_id: [1; 16], partition_responses: partitions }];
    ProduceResponseData { responses: topics.leak(), throttle_time_ms: 0, node_endpoints: endpoints }
}

/// Fields a version cannot carry are dropped, and defaults of tagged fields are not sent.
#[test]
fn response_encoders_drop_what_a_version_cannot_carry() {
    let errors = [RecordError { batch_index: 3, batch_index_error_message: Some("bad") }];
    let leader = Some(LeaderIdAndEpoch { leader_id: 2, leader_epoch: 7 });
    let full = PartitionProduceResponseData {
        log_start_offset: 5,
        record_errors: &errors,
        error_message: Some("dropped"),
        current_leader: leader,
        ..PartitionProduceResponseData::failed(0, ErrorCode::InvalidRecord)
    };
    let endpoints = [Node { node_id: 2, host: "b2", port: 9093, rack: None }];
    let full = [full];
    let data = one_topic(&full, &endpoints);
    for v in 3..=13 {
        let body = enc_response(&data, v);
        let r = ProduceResponse::decode(v, &body).unwrap();
        let p = r.responses.get(0).unwrap().partition_responses.get(0).unwrap();
        assert_eq!(p.log_start_offset, if v >= 5 { 5 } else { -1 });
        assert_eq!((p.record_errors.len(), p.error_message), if v >= 8 { (1, Some("dropped")) } else { (0, None) });
        assert_eq!((p.current_leader, r.node_endpoints.len()), if v >= 10 { (leader, 1) } else { (None, 0) });
    }
    // A hint equal to the default is not sent, as Java does.
    let unknown = PartitionProduceResponseData {
        current_leader: Some(LeaderIdAndEpoch::UNKNOWN),
        ..PartitionProduceResponseData::ok(0, 1)
    };
    let without = [PartitionProduceResponseData::ok(0, 1)];
    assert_eq!(enc_response(&one_topic(&[unknown], &[]), 11), enc_response(&one_topic(&without, &[]), 11));

    // A nameless topic needs v12; an unknown version writes nothing.
    let nameless = [MetadataResponseTopicData {
        error_code: ErrorCode::UnknownTopicId,
        name: None,
        topic_id: [3; 16],
        is_internal: false,
        partitions: &[],
        topic_authorized_operations: i32::MIN,
    }];
    let md = MetadataResponseData {
        throttle_time_ms: 0,
        brokers: &[],
        cluster_id: None,
        controller_id: -1,
        topics: &nameless,
        cluster_authorized_operations: i32::MIN,
        error_code: ErrorCode::None,
    };
    assert_eq!(md.encode(11, &mut Counter::default()), Err(EncodeError::MissingField("name")));
    let body = enc_response(&md, 12);
    let r = MetadataResponse::decode(12, &body).unwrap();
    assert_eq!(r.topics.get(0).unwrap().name, None);
    let mut out = Vec::new();
    assert_eq!(encode_response(&mut out, 14, 1, &md), Err(EncodeError::UnsupportedVersion(14)));
    assert!(out.is_empty());
}

#[test]
fn request_decoders_follow_the_schema() {
    // v0 has no null topics: an empty list means all, as does null from v1.
    let mut body = Vec::new();
    MetadataRequest::new(Some(&[])).encode(0, &mut body).unwrap();
    assert_eq!(MetadataRequestView::decode(0, &body).unwrap().topics, None);
    body.clear();
    MetadataRequest::new(Some(&[])).encode(1, &mut body).unwrap();
    assert_eq!(MetadataRequestView::decode(1, &body).unwrap().topics.map(|t| t.len()), Some(0));
    assert_eq!(MetadataRequestView::decode(0, &[0xff; 4]).unwrap_err(), DecodeError::UnexpectedNull);

    // Null records: the schema allows them, no broker does.
    let mut body = Vec::new();
    body.put_nullable_string(None, false).unwrap();
    body.put_i16(0).unwrap();
    body.put_i32(1000).unwrap();
    body.put_array_len(1, false).unwrap();
    body.put_string("t", false).unwrap();
    body.put_array_len(1, false).unwrap();
    body.put_i32(0).unwrap();
    body.put_nullable_bytes(None, false).unwrap();
    assert_eq!(ProduceRequestView::decode(3, &body).unwrap_err(), DecodeError::UnexpectedNull);
    body.truncate(body.len() - 4);
    body.put_nullable_bytes(Some(b"batch"), false).unwrap();
    let view = ProduceRequestView::decode(3, &body).unwrap();
    assert!(!view.expects_response());
    assert_eq!(view.topic_data.get(0).unwrap().partition_data.get(0).unwrap().records, b"batch");
    assert_eq!(ProduceRequestView::decode(2, &body).unwrap_err(), DecodeError::UnsupportedVersion(2));

    // A header of an API kprod does not know still decodes (as v1), so a broker can answer it.
    let mut frame = Vec::new();
    RequestHeader { api_key: ApiKey::Other(60), api_version: 1, correlation_id: 5, client_id: None }
        .encode(&mut frame)
        .unwrap();
    frame.push(0xab);
    let (h, body) = RequestHeader::decode(&frame).unwrap();
    assert_eq!((h.api_key, h.version(), body), (ApiKey::Other(60), 1, &[0xab][..]));
}

/// KIP-511: a broker answers an ApiVersions version it does not know with a v0 body and header.
#[test]
fn unsupported_api_versions_request_is_answered_in_v0() {
    let keys = [ApiVersion { api_key: ApiKey::ApiVersions, min_version: 0, max_version: 4 }];
    let mut frame = Vec::new();
    encode_response(&mut frame, 0, 9, &ApiVersionsResponseData::new(ErrorCode::UnsupportedVersion, &keys)).unwrap();
    let (header, body) = ResponseHeader::decode(ApiKey::ApiVersions, 4, &frame[4..]).unwrap();
    assert_eq!(header.correlation_id, 9);
    let r = ApiVersionsResponse::decode(4, body).unwrap();
    assert_eq!((r.error_code, r.choose(ApiKey::ApiVersions)), (ErrorCode::UnsupportedVersion, Some(4)));
}

/// Every request case and the request headers, as (what, version, body).
fn request_inputs(cases: &[Case]) -> impl Iterator<Item = &Case> {
    cases.iter().filter(|c| c.what.split(' ').nth(1) == Some("request"))
}

/// Decodes a request case's body (a header for `request_header` cases), walking every array.
fn decode_any_request(c: &Case, body: &[u8]) -> Result<(), DecodeError> {
    match decode_request_flat(&c.what, c.version, body) {
        Some(result) => result.map(drop),
        None => RequestHeader::decode(body).map(drop),
    }
}

#[test]
fn truncated_requests_fail_cleanly() {
    let (cases, _) = parse();
    for c in request_inputs(&cases) {
        for cut in 0..c.body.len() {
            assert!(
                decode_any_request(c, &c.body[..cut]).is_err(),
                "{} v{} accepted {cut} of {} bytes",
                c.what,
                c.version,
                c.body.len()
            );
        }
    }
}

#[test]
fn corrupted_requests_never_panic() {
    let (cases, _) = parse();
    for c in request_inputs(&cases) {
        let mut body = c.body.clone();
        for i in 0..body.len() {
            let orig = body[i];
            for b in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, orig ^ 0x40] {
                body[i] = b;
                // Ok or Err both fine; flattening walks every array of an accepted body.
                let _ = decode_any_request(c, &body);
            }
            body[i] = orig;
        }
        let mut longer = c.body.clone();
        longer.push(0);
        // A header is followed by its body, so only API bodies must refuse the extra byte.
        let extra = decode_any_request(c, &longer);
        assert!(extra.is_err() || c.what.starts_with("request_header"), "{} v{}", c.what, c.version);
    }
}
