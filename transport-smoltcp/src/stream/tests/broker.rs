//! A one-broker Kafka for the driver's unit tests, built on kprod-core's broker-side codecs:
//! ApiVersions, Metadata for one topic, InitProducerId, and Produce with acks 0/1/all that
//! appends the decoded records to per-partition logs and answers a resent idempotent batch with
//! its first offset (as Kafka deduplicates), so "exactly once" is checkable.

extern crate alloc;
extern crate std;

use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use std::collections::HashMap;

use kprod_core::protocol::api_versions::{ApiVersion, ApiVersionsRequest, ApiVersionsResponseData};
use kprod_core::protocol::init_producer_id::InitProducerIdResponse;
use kprod_core::protocol::metadata::{
    MetadataRequestView, MetadataResponseData, MetadataResponsePartitionData, MetadataResponseTopicData,
};
use kprod_core::protocol::produce::{
    PartitionProduceResponseData, ProduceRequestView, ProduceResponseData, TopicProduceResponseData,
};
use kprod_core::protocol::sasl_authenticate::SaslAuthenticateResponse;
use kprod_core::protocol::sasl_handshake::SaslHandshakeResponseData;
use kprod_core::protocol::{encode_response, ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Node, RequestHeader};
use kprod_core::record::RecordBatch;

/// A record as the broker stored it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::stream) struct Stored {
    pub(in crate::stream) key: Option<Vec<u8>>,
    pub(in crate::stream) value: Option<Vec<u8>>,
    pub(in crate::stream) headers: Vec<(String, Option<Vec<u8>>)>,
    pub(in crate::stream) timestamp: i64,
}

/// What the broker does with a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::stream) enum Reply {
    /// Send this frame (length prefix included).
    Frame(Vec<u8>),
    /// Send nothing (acks=0, or a silent broker).
    Nothing,
    /// Hang up.
    Close,
}

/// The broker.
#[derive(Debug)]
pub(in crate::stream) struct FakeBroker {
    /// The node id and address it advertises in Metadata.
    pub(in crate::stream) node: i32,
    pub(in crate::stream) host: String,
    pub(in crate::stream) port: u16,
    /// The one topic and its partition count.
    pub(in crate::stream) topic: String,
    pub(in crate::stream) partitions: u32,
    /// Per partition, the records in offset order.
    pub(in crate::stream) logs: Vec<Vec<Stored>>,
    /// Requests seen, by API.
    pub(in crate::stream) seen: Vec<ApiKey>,
    /// Answer nothing at all.
    pub(in crate::stream) silent: bool,
    /// Answer this many requests, then nothing.
    pub(in crate::stream) answer_limit: Option<usize>,
    answered: usize,
    /// Send one response frame nobody asked for, after the next response.
    pub(in crate::stream) unsolicited: bool,
    /// Offer SASL (SaslHandshake v1, SaslAuthenticate): PLAIN, any credentials accepted.
    pub(in crate::stream) sasl: bool,
    /// (producer id, partition, base sequence) of appended batches → their base offset.
    dedup: HashMap<(i64, i32, i32), i64>,
    next_producer_id: i64,
}

impl FakeBroker {
    pub(in crate::stream) fn new(topic: &str, partitions: u32) -> Self {
        Self {
            node: 1,
            host: "broker".to_string(),
            port: 9092,
            topic: topic.to_string(),
            partitions,
            logs: vec![Vec::new(); partitions as usize],
            seen: Vec::new(),
            silent: false,
            answer_limit: None,
            answered: 0,
            unsolicited: false,
            sasl: false,
            dedup: HashMap::new(),
            next_producer_id: 1000,
        }
    }

    /// Records stored over all partitions.
    pub(in crate::stream) fn stored(&self) -> usize {
        self.logs.iter().map(Vec::len).sum()
    }

    /// Handles one request frame (without its length prefix).
    pub(in crate::stream) fn handle(&mut self, frame: &[u8]) -> Reply {
        let Ok((header, body)) = RequestHeader::decode(frame) else {
            return Reply::Close;
        };
        self.seen.push(header.api_key);
        if self.silent || self.answer_limit.is_some_and(|n| self.answered >= n) {
            return Reply::Nothing;
        }
        self.answered += 1;
        let (v, corr) = (header.api_version, header.correlation_id);
        let reply = match header.api_key {
            ApiKey::ApiVersions => self.api_versions(v, corr, body),
            ApiKey::Metadata => self.metadata(v, corr, body),
            ApiKey::InitProducerId => self.init_producer_id(v, corr),
            ApiKey::Produce => self.produce(v, corr, body),
            ApiKey::SaslHandshake if self.sasl => {
                respond(v, corr, &SaslHandshakeResponseData { error_code: ErrorCode::None, mechanisms: &["PLAIN"] })
            }
            ApiKey::SaslAuthenticate if self.sasl => {
                let ok = SaslAuthenticateResponse {
                    error_code: ErrorCode::None,
                    error_message: None,
                    auth_bytes: &[],
                    session_lifetime_ms: 0,
                };
                respond(v, corr, &ok)
            }
            _ => Reply::Close,
        };
        match reply {
            Reply::Frame(mut f) if self.unsolicited => {
                self.unsolicited = false;
                let extra = f.clone();
                f.extend_from_slice(&extra);
                Reply::Frame(f)
            }
            other => other,
        }
    }

    fn api_versions(&mut self, v: i16, corr: i32, body: &[u8]) -> Reply {
        let mut keys = vec![
            ApiVersion { api_key: ApiKey::Produce, min_version: 3, max_version: 11 },
            ApiVersion { api_key: ApiKey::Metadata, min_version: 0, max_version: 12 },
            ApiVersion { api_key: ApiKey::ApiVersions, min_version: 0, max_version: 3 },
            ApiVersion { api_key: ApiKey::InitProducerId, min_version: 0, max_version: 5 },
        ];
        if self.sasl {
            keys.push(ApiVersion { api_key: ApiKey::SaslHandshake, min_version: 0, max_version: 1 });
            keys.push(ApiVersion { api_key: ApiKey::SaslAuthenticate, min_version: 0, max_version: 2 });
        }
        if ApiVersionsRequest::decode(v, body).is_err() {
            return Reply::Close;
        }
        respond(v, corr, &ApiVersionsResponseData::new(ErrorCode::None, &keys))
    }

    fn metadata(&mut self, v: i16, corr: i32, body: &[u8]) -> Reply {
        let Ok(req) = MetadataRequestView::decode(v, body) else {
            return Reply::Close;
        };
        let names: Vec<String> =
            req.topics.map(|ts| ts.iter().filter_map(|t| t.name.map(str::to_string)).collect()).unwrap_or_default();
        let nodes = [Node { node_id: self.node, host: &self.host, port: i32::from(self.port), rack: None }];
        let replicas = [self.node];
        let parts: Vec<MetadataResponsePartitionData<'_>> = (0..self.partitions as i32)
            .map(|p| MetadataResponsePartitionData {
                error_code: ErrorCode::None,
                partition_index: p,
                leader_id: self.node,
                leader_epoch: 0,
                replica_nodes: &replicas,
                isr_nodes: &replicas,
                offline_replicas: &[],
            })
            .collect();
        let topics: Vec<MetadataResponseTopicData<'_>> = names
            .iter()
            .map(|name| {
                let known = *name == self.topic;
                MetadataResponseTopicData {
                    error_code: if known { ErrorCode::None } else { ErrorCode::UnknownTopicOrPartition },
                    name: Some(name),
                    topic_id: if known { [7; 16] } else { [0; 16] },
                    is_internal: false,
                    partitions: if known { &parts } else { &[] },
                    topic_authorized_operations: i32::MIN,
                }
            })
            .collect();
        let resp = MetadataResponseData {
            throttle_time_ms: 0,
            brokers: &nodes,
            cluster_id: Some("fake"),
            controller_id: self.node,
            topics: &topics,
            cluster_authorized_operations: i32::MIN,
            error_code: ErrorCode::None,
        };
        respond(v, corr, &resp)
    }

    fn init_producer_id(&mut self, v: i16, corr: i32) -> Reply {
        let producer_id = self.next_producer_id;
        self.next_producer_id += 1;
        let resp = InitProducerIdResponse {
            throttle_time_ms: 0,
            error_code: ErrorCode::None,
            producer_id,
            producer_epoch: 0,
            ongoing_txn_producer_id: -1,
            ongoing_txn_producer_epoch: -1,
        };
        respond(v, corr, &resp)
    }

    fn produce(&mut self, v: i16, corr: i32, body: &[u8]) -> Reply {
        let Ok(req) = ProduceRequestView::decode(v, body) else {
            return Reply::Close;
        };
        let mut topics: Vec<(String, Vec<PartitionProduceResponseData<'static>>)> = Vec::new();
        for td in req.topic_data.iter() {
            let mut parts = Vec::new();
            for pd in td.partition_data.iter() {
                parts.push(self.append(td.name, pd.index, pd.records));
            }
            topics.push((td.name.to_string(), parts));
        }
        if req.acks == 0 {
            return Reply::Nothing;
        }
        let responses: Vec<TopicProduceResponseData<'_>> = topics
            .iter()
            .map(|(name, parts)| TopicProduceResponseData { name, topic_id: [0; 16], partition_responses: parts })
            .collect();
        respond(v, corr, &ProduceResponseData { responses: &responses, throttle_time_ms: 0, node_endpoints: &[] })
    }

    /// Appends one partition's batch (or finds it already appended) and says where it went.
    fn append(&mut self, topic: &str, index: i32, records: &[u8]) -> PartitionProduceResponseData<'static> {
        let Some(p) = usize::try_from(index).ok().filter(|&p| topic == self.topic && p < self.logs.len()) else {
            return PartitionProduceResponseData::failed(index, ErrorCode::UnknownTopicOrPartition);
        };
        let Ok(batch) = RecordBatch::parse(records) else {
            return PartitionProduceResponseData::failed(index, ErrorCode::CorruptMessage);
        };
        let key = (batch.producer_id(), index, batch.base_sequence());
        if batch.producer_id() >= 0 {
            if let Some(&offset) = self.dedup.get(&key) {
                return PartitionProduceResponseData::ok(index, offset);
            }
        }
        let Ok(owned) = batch.decompress(1 << 24) else {
            return PartitionProduceResponseData::failed(index, ErrorCode::CorruptMessage);
        };
        let base = self.logs[p].len() as i64;
        for r in owned.iter() {
            let Ok(r) = r else {
                return PartitionProduceResponseData::failed(index, ErrorCode::CorruptMessage);
            };
            self.logs[p].push(Stored {
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers: r.headers().map(|h| (h.key.to_string(), h.value.map(<[u8]>::to_vec))).collect(),
                timestamp: r.timestamp,
            });
        }
        if batch.producer_id() >= 0 {
            self.dedup.insert(key, base);
        }
        PartitionProduceResponseData::ok(index, base)
    }
}

fn respond<R: EncodeResponse>(v: i16, corr: i32, body: &R) -> Reply {
    let mut out = Vec::new();
    match encode_response(&mut out, v, corr, body) {
        Ok(_) => Reply::Frame(out),
        Err(_) => Reply::Close,
    }
}
