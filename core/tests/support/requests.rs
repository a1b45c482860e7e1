//! Requests built from a vector's fields and encoded by our encoders.

use kprod_core::protocol::api_versions::*;
use kprod_core::protocol::init_producer_id::*;
use kprod_core::protocol::metadata::*;
use kprod_core::protocol::produce::*;
use kprod_core::protocol::sasl_authenticate::*;
use kprod_core::protocol::sasl_handshake::*;
use kprod_core::protocol::{ApiKey, Request, RequestHeader};
use kprod_core::wire::Counter;

use super::{unhex, Fields, Map};

/// Encodes `r` at `v`, checking that a [`Counter`] agrees on the size.
pub(crate) fn enc<R: Request>(r: &R, v: i16) -> Vec<u8> {
    let mut out = Vec::new();
    r.encode(v, &mut out).unwrap_or_else(|e| panic!("encode v{v}: {e}"));
    let mut count = Counter::default();
    r.encode(v, &mut count).unwrap();
    assert_eq!(count.0, out.len());
    out
}

pub(crate) fn encode_produce(f: &Fields<'_>, v: i16) -> Vec<u8> {
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

pub(crate) fn encode_metadata(f: &Fields<'_>, v: i16) -> Vec<u8> {
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
pub(crate) fn encode_case(what: &str, v: i16, map: &Map) -> Option<Vec<u8>> {
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
