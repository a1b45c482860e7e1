//! Cross-check against the Java client (kafka-clients 4.1.1): `tests/vectors/protocol/vectors.txt`
//! holds bodies that its generated message classes wrote, with the field values they read back.
//! We encode the same requests and compare bytes, decode the responses and compare fields, and
//! feed truncated and corrupted responses to every decoder.
#![cfg(feature = "std")]

extern crate alloc;

use alloc::collections::BTreeMap;
use core::fmt::{Debug, Display};
use core::str::FromStr;

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::init_producer_id::*;
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::sasl_authenticate::*;
use kprod_core::protocol::sasl_handshake::*;
use kprod_core::protocol::*;
use kprod_core::wire::{Counter, DecodeError};

const VECTORS: &str = include_str!("../../tests/vectors/protocol/vectors.txt");

type Map = BTreeMap<String, String>;

struct Case {
    what: String,
    version: i16,
    fields: Map,
    body: Vec<u8>,
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// The `case` blocks of the file, and the other lines split into words.
fn parse() -> (Vec<Case>, Vec<Vec<&'static str>>) {
    let (mut cases, mut lines) = (Vec::new(), Vec::new());
    let mut current: Option<Case> = None;
    for line in VECTORS.lines().filter(|l| !l.starts_with('#')) {
        if let Some(head) = line.strip_prefix("case ") {
            let words: Vec<&str> = head.split(' ').collect();
            let what =
                format!("{} {}{}", words[0], words[1], words.get(3).map(|l| format!(" {l}")).unwrap_or_default());
            current = Some(Case { what, version: words[2].parse().unwrap(), fields: Map::new(), body: vec![] });
        } else if line == "end" {
            cases.push(current.take().expect("end without case"));
        } else if let Some(case) = current.as_mut() {
            let (k, v) = line.split_once('=').expect("key=value");
            if k == "body" {
                case.body = unhex(v);
            } else {
                case.fields.insert(k.to_owned(), v.to_owned());
            }
        } else {
            lines.push(line.split(' ').collect());
        }
    }
    assert!(cases.len() > 100, "only {} cases", cases.len());
    (cases, lines)
}

/// Typed access to a case's fields.
struct Fields<'a>(&'a Map);

impl Fields<'_> {
    fn s(&self, k: &str) -> &str {
        self.0.get(k).unwrap_or_else(|| panic!("no field {k}"))
    }
    fn opt(&self, k: &str) -> Option<&str> {
        Some(self.s(k)).filter(|v| *v != "null")
    }
    fn num<T: FromStr>(&self, k: &str) -> T
    where
        T::Err: Debug,
    {
        self.s(k).parse().unwrap()
    }
    fn len(&self, k: &str) -> usize {
        self.num(&format!("{k}.len"))
    }
    fn uuid(&self, k: &str) -> [u8; 16] {
        unhex(self.s(k)).try_into().unwrap()
    }
}

/// Fields flattened as Gen.java writes them.
#[derive(Default)]
struct Flat(Map);

impl Flat {
    fn put(&mut self, k: &str, v: impl Display) {
        self.0.insert(k.to_owned(), v.to_string());
    }
    fn opt(&mut self, k: &str, v: Option<&str>) {
        self.put(k, v.unwrap_or("null"));
    }
    fn err(&mut self, k: &str, e: ErrorCode) {
        self.put(k, e.code());
    }
    fn list<T>(&mut self, k: &str, items: impl IntoIterator<Item = T>, mut f: impl FnMut(&mut Self, &str, T)) {
        let mut n = 0;
        for (i, item) in items.into_iter().enumerate() {
            f(self, &format!("{k}.{i}."), item);
            n += 1;
        }
        self.put(&format!("{k}.len"), n);
    }
    fn ints(&mut self, k: &str, items: Array<'_, i32>) {
        self.list(k, items, |f, p, v| f.put(p.trim_end_matches('.'), v));
    }
    fn node(&mut self, p: &str, n: Node<'_>) {
        self.put(&format!("{p}node_id"), n.node_id);
        self.put(&format!("{p}host"), n.host);
        self.put(&format!("{p}port"), n.port);
        self.opt(&format!("{p}rack"), n.rack);
    }
}

fn flat_api_versions(r: &ApiVersionsResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.list("api_keys", r.api_keys, |f, p, k| {
        f.put(&format!("{p}api_key"), k.api_key.code());
        f.put(&format!("{p}min_version"), k.min_version);
        f.put(&format!("{p}max_version"), k.max_version);
    });
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("supported_features", r.supported_features, |f, p, k| {
        f.put(&format!("{p}name"), k.name);
        f.put(&format!("{p}min_version"), k.min_version);
        f.put(&format!("{p}max_version"), k.max_version);
    });
    f.put("finalized_features_epoch", r.finalized_features_epoch);
    f.list("finalized_features", r.finalized_features, |f, p, k| {
        f.put(&format!("{p}name"), k.name);
        f.put(&format!("{p}max_version_level"), k.max_version_level);
        f.put(&format!("{p}min_version_level"), k.min_version_level);
    });
    f.put("zk_migration_ready", r.zk_migration_ready);
    f.0
}

fn flat_metadata(r: &MetadataResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("brokers", r.brokers, Flat::node);
    f.opt("cluster_id", r.cluster_id);
    f.put("controller_id", r.controller_id);
    f.list("topics", r.topics, |f, p, t| {
        f.err(&format!("{p}error_code"), t.error_code);
        f.opt(&format!("{p}name"), t.name);
        f.put(&format!("{p}topic_id"), hex(&t.topic_id));
        f.put(&format!("{p}is_internal"), t.is_internal);
        f.list(&format!("{p}partitions"), t.partitions, |f, p, q| {
            f.err(&format!("{p}error_code"), q.error_code);
            f.put(&format!("{p}partition_index"), q.partition_index);
            f.put(&format!("{p}leader_id"), q.leader_id);
            f.put(&format!("{p}leader_epoch"), q.leader_epoch);
            f.ints(&format!("{p}replica_nodes"), q.replica_nodes);
            f.ints(&format!("{p}isr_nodes"), q.isr_nodes);
            f.ints(&format!("{p}offline_replicas"), q.offline_replicas);
        });
        f.put(&format!("{p}topic_authorized_operations"), t.topic_authorized_operations);
    });
    f.put("cluster_authorized_operations", r.cluster_authorized_operations);
    f.err("error_code", r.error_code);
    f.0
}

fn flat_produce(r: &ProduceResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.list("responses", r.responses, |f, p, t| {
        f.put(&format!("{p}name"), t.name);
        f.put(&format!("{p}topic_id"), hex(&t.topic_id));
        f.list(&format!("{p}partition_responses"), t.partition_responses, |f, p, q| {
            f.put(&format!("{p}index"), q.index);
            f.err(&format!("{p}error_code"), q.error_code);
            f.put(&format!("{p}base_offset"), q.base_offset);
            f.put(&format!("{p}log_append_time_ms"), q.log_append_time_ms);
            f.put(&format!("{p}log_start_offset"), q.log_start_offset);
            f.list(&format!("{p}record_errors"), q.record_errors, |f, p, e| {
                f.put(&format!("{p}batch_index"), e.batch_index);
                f.opt(&format!("{p}batch_index_error_message"), e.batch_index_error_message);
            });
            f.opt(&format!("{p}error_message"), q.error_message);
            let leader = q.current_leader.unwrap_or(LeaderIdAndEpoch { leader_id: -1, leader_epoch: -1 });
            f.put(&format!("{p}current_leader.leader_id"), leader.leader_id);
            f.put(&format!("{p}current_leader.leader_epoch"), leader.leader_epoch);
        });
    });
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.list("node_endpoints", r.node_endpoints, Flat::node);
    f.0
}

fn flat_init_producer_id(r: &InitProducerIdResponse) -> Map {
    let mut f = Flat::default();
    f.put("throttle_time_ms", r.throttle_time_ms);
    f.err("error_code", r.error_code);
    f.put("producer_id", r.producer_id);
    f.put("producer_epoch", r.producer_epoch);
    f.put("ongoing_txn_producer_id", r.ongoing_txn_producer_id);
    f.put("ongoing_txn_producer_epoch", r.ongoing_txn_producer_epoch);
    f.0
}

fn flat_sasl_handshake(r: &SaslHandshakeResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.list("mechanisms", r.mechanisms, |f, p, m| f.put(p.trim_end_matches('.'), m));
    f.0
}

fn flat_sasl_authenticate(r: &SaslAuthenticateResponse<'_>) -> Map {
    let mut f = Flat::default();
    f.err("error_code", r.error_code);
    f.opt("error_message", r.error_message);
    f.put("auth_bytes", hex(r.auth_bytes));
    f.put("session_lifetime_ms", r.session_lifetime_ms);
    f.0
}

/// Decodes a response body and flattens it, or `None` for a case that is not a response.
fn decode_flat(what: &str, v: i16, body: &[u8]) -> Option<Result<Map, DecodeError>> {
    fn go<'a, R: Response<'a>>(v: i16, body: &'a [u8], flat: fn(&R) -> Map) -> Result<Map, DecodeError> {
        R::decode(v, body).map(|r| flat(&r))
    }
    Some(match what.split(' ').take(2).collect::<Vec<_>>()[..] {
        ["api_versions", "response"] => go(v, body, flat_api_versions),
        ["metadata", "response"] => go(v, body, flat_metadata),
        ["produce", "response"] => go(v, body, flat_produce),
        ["init_producer_id", "response"] => go(v, body, flat_init_producer_id),
        ["sasl_handshake", "response"] => go(v, body, flat_sasl_handshake),
        ["sasl_authenticate", "response"] => go(v, body, flat_sasl_authenticate),
        _ => return None,
    })
}

/// Encodes `r` at `v`, checking that a [`Counter`] agrees on the size.
fn enc<R: Request>(r: &R, v: i16) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(v, &mut out).unwrap_or_else(|e| panic!("encode v{v}: {e}"));
    let mut count = Counter::default();
    r.encode(v, &mut count).unwrap();
    assert_eq!(count.0, out.len());
    out
}

fn encode_produce(f: &Fields<'_>, v: i16) -> Vec<u8> {
    let records: Vec<Vec<(i32, Vec<u8>)>> = (0..f.len("topic_data"))
        .map(|t| {
            (0..f.len(&format!("topic_data.{t}.partition_data")))
                .map(|p| {
                    let k = format!("topic_data.{t}.partition_data.{p}");
                    (f.num(&format!("{k}.index")), unhex(f.s(&format!("{k}.records"))))
                })
                .collect()
        })
        .collect();
    let partitions: Vec<Vec<PartitionProduceData<'_>>> = records
        .iter()
        .map(|ps| ps.iter().map(|(index, records)| PartitionProduceData { index: *index, records }).collect())
        .collect();
    let topics: Vec<TopicProduceData<'_>> = partitions
        .iter()
        .enumerate()
        .map(|(t, partition_data)| TopicProduceData {
            name: f.s(&format!("topic_data.{t}.name")),
            topic_id: Some(f.uuid(&format!("topic_data.{t}.topic_id"))),
            partition_data,
        })
        .collect();
    let req = ProduceRequest {
        transactional_id: f.opt("transactional_id"),
        acks: f.num("acks"),
        timeout_ms: f.num("timeout_ms"),
        topic_data: &topics,
    };
    enc(&req, v)
}

fn encode_metadata(f: &Fields<'_>, v: i16) -> Vec<u8> {
    let topics: Option<Vec<MetadataRequestTopic<'_>>> = (!f.0.contains_key("topics")).then(|| {
        (0..f.len("topics"))
            .map(|i| MetadataRequestTopic {
                topic_id: f.uuid(&format!("topics.{i}.topic_id")),
                name: f.opt(&format!("topics.{i}.name")),
            })
            .collect()
    });
    let req = MetadataRequest {
        topics: topics.as_deref(),
        allow_auto_topic_creation: f.num("allow_auto_topic_creation"),
        include_cluster_authorized_operations: f.num("include_cluster_authorized_operations"),
        include_topic_authorized_operations: f.num("include_topic_authorized_operations"),
    };
    enc(&req, v)
}

/// Encodes the request a case describes, or `None` for a case that is not a request.
fn encode_case(what: &str, v: i16, map: &Map) -> Option<Vec<u8>> {
    let f = Fields(map);
    Some(match what.split(' ').next().unwrap() {
        "request_header" => {
            let h = RequestHeader {
                api_key: ApiKey::from_code(f.num("request_api_key")),
                api_version: f.num("request_api_version"),
                correlation_id: f.num("correlation_id"),
                client_id: f.opt("client_id"),
            };
            assert_eq!(h.version(), v);
            let mut out = Vec::new();
            h.encode(&mut out).unwrap();
            out
        }
        "api_versions" => enc(
            &ApiVersionsRequest {
                client_software_name: f.s("client_software_name"),
                client_software_version: f.s("client_software_version"),
            },
            v,
        ),
        "metadata" => encode_metadata(&f, v),
        "produce" => encode_produce(&f, v),
        "init_producer_id" => enc(
            &InitProducerIdRequest {
                transactional_id: f.opt("transactional_id"),
                transaction_timeout_ms: f.num("transaction_timeout_ms"),
                producer_id: f.num("producer_id"),
                producer_epoch: f.num("producer_epoch"),
                enable_2pc: f.num("enable2_pc"),
                keep_prepared_txn: f.num("keep_prepared_txn"),
            },
            v,
        ),
        "sasl_handshake" => enc(&SaslHandshakeRequest { mechanism: f.s("mechanism") }, v),
        "sasl_authenticate" => enc(&SaslAuthenticateRequest { auth_bytes: &unhex(f.s("auth_bytes")) }, v),
        other => panic!("unknown request {other}"),
    })
}

#[test]
fn requests_encode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in cases.iter().filter(|c| c.what.contains(" request")) {
        let ours = encode_case(&c.what, c.version, &c.fields).unwrap();
        assert_eq!(hex(&ours), hex(&c.body), "{} v{}", c.what, c.version);
        n += 1;
    }
    assert!(n >= 60, "only {n} request cases");
}

#[test]
fn responses_decode_like_java() {
    let (cases, _) = parse();
    let mut n = 0;
    for c in &cases {
        let Some(decoded) = decode_flat(&c.what, c.version, &c.body) else { continue };
        let ours = decoded.unwrap_or_else(|e| panic!("{} v{}: {e}", c.what, c.version));
        assert_eq!(ours, c.fields, "{} v{}", c.what, c.version);
        n += 1;
    }
    assert!(n >= 45, "only {n} response cases");
}

#[test]
fn response_headers_decode_like_java() {
    let (cases, _) = parse();
    for c in cases.iter().filter(|c| c.what.starts_with("response_header")) {
        // Produce v8 has a v0 response header, v9 a v1 header.
        let (h, body) = ResponseHeader::decode(ApiKey::Produce, 8 + c.version, &c.body).unwrap();
        assert_eq!(h.correlation_id.to_string(), c.fields["correlation_id"]);
        assert!(body.is_empty());
        assert_eq!(ResponseHeader::peek_correlation_id(&c.body).unwrap(), h.correlation_id);
    }
}

#[test]
fn unsupported_api_versions_answer_falls_back_to_v0() {
    let (cases, _) = parse();
    let c = cases.iter().find(|c| c.what == "api_versions response unsupported").unwrap();
    for asked in 0..=4 {
        let r = ApiVersionsResponse::decode(asked, &c.body).unwrap();
        assert_eq!(r.error_code, ErrorCode::UnsupportedVersion);
        assert_eq!(flat_api_versions(&r), c.fields);
        assert_eq!(r.range(ApiKey::Produce), Some(VersionRange::new(0, 13)));
        assert_eq!(r.choose(ApiKey::Produce), Some(13));
        assert_eq!(r.choose(ApiKey::Other(1000)), None);
    }
}

#[test]
fn api_table_matches_java() {
    let (_, lines) = parse();
    for l in lines.iter().filter(|l| l[0] == "api") {
        let api = ApiKey::from_code(l[1].parse().unwrap());
        let schema = api.schema_versions().unwrap();
        let supported = api.supported_versions().unwrap();
        assert_eq!((schema.min, supported.min), (l[2].parse().unwrap(), l[2].parse().unwrap()), "{api:?}");
        assert_eq!(supported.max, l[3].parse::<i16>().unwrap(), "{api:?} latest stable");
        assert_eq!(schema.max, l[4].parse::<i16>().unwrap(), "{api:?} latest");
    }
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "header") {
        let api = ApiKey::from_code(l[1].parse().unwrap());
        let v: i16 = l[2].parse().unwrap();
        assert_eq!(api.request_header_version(v).to_string(), l[3], "{api:?} v{v}");
        assert_eq!(api.response_header_version(v).to_string(), l[4], "{api:?} v{v}");
        n += 1;
    }
    assert_eq!(n, 11 + 14 + 2 + 5 + 7 + 3);
}

#[test]
fn error_table_matches_java() {
    let (_, lines) = parse();
    let mut n = 0;
    for l in lines.iter().filter(|l| l[0] == "error") {
        let code: i16 = l[1].parse().unwrap();
        let e = ErrorCode::from_code(code);
        assert!(!matches!(e, ErrorCode::Unknown(_)), "{code}");
        assert_eq!((e.code(), e.name()), (code, l[2]));
        assert_eq!(e.is_retriable().to_string(), l[3], "{}", l[2]);
        assert_eq!(e.is_invalid_metadata().to_string(), l[4], "{}", l[2]);
        n += 1;
    }
    assert_eq!(n, 135);
    assert_eq!(ErrorCode::from_code(134), ErrorCode::Unknown(134));
    assert_eq!(ErrorCode::Unknown(-7).code(), -7);
    assert_eq!(ErrorCode::NotLeaderOrFollower.to_string(), "NOT_LEADER_OR_FOLLOWER (6)");
    assert!(ErrorCode::None.is_ok() && ErrorCode::None.into_result().is_ok());
}

#[test]
fn truncated_responses_fail_cleanly() {
    let (cases, _) = parse();
    for c in &cases {
        for cut in 0..c.body.len() {
            let prefix = &c.body[..cut];
            // A v1+ ApiVersions body cut before its tail may read as v0, the KIP-511 fallback.
            if c.what.starts_with("api_versions") && ApiVersionsResponse::decode(0, prefix).is_ok() {
                continue;
            }
            if let Some(Ok(_)) = decode_flat(&c.what, c.version, prefix) {
                panic!("{} v{} accepted {cut} of {} bytes", c.what, c.version, c.body.len());
            }
        }
    }
}

#[test]
fn corrupted_responses_never_panic() {
    let (cases, _) = parse();
    for c in cases.iter().filter(|c| decode_flat(&c.what, c.version, &c.body).is_some()) {
        let mut body = c.body.clone();
        for i in 0..body.len() {
            let orig = body[i];
            for b in [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, orig ^ 0x40] {
                body[i] = b;
                // Ok or Err both fine; flattening walks every array of an accepted body.
                let _ = decode_flat(&c.what, c.version, &body);
            }
            body[i] = orig;
        }
        let mut longer = c.body.clone();
        longer.push(0);
        let res = decode_flat(&c.what, c.version, &longer).unwrap();
        // Only the ApiVersions fallback may find another reading of the extra byte.
        assert!(res.is_err() || c.what.starts_with("api_versions"), "{} v{}", c.what, c.version);
    }
}
