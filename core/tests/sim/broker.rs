//! The simulated brokers' request handling: a request frame in, a response frame (or none, or a
//! closed connection) out, with kprod's own broker-side codecs.
//!
//! ApiVersions advertises [`super::cluster::Versions`]; Metadata answers from the cluster's
//! current state (or, as a fault, the state before the last leader change, as a lagging broker
//! would); InitProducerId hands out fresh ids; Produce checks leadership, parses the record batch
//! and appends it with Kafka's idempotence rules. Errors are injected per partition through the
//! `inject` callback.

use kprod_core::compression::Compression;
use kprod_core::protocol::api_versions::{ApiVersion, ApiVersionsRequest, ApiVersionsResponseData, FinalizedFeature};
use kprod_core::protocol::init_producer_id::{InitProducerIdRequest, InitProducerIdResponse};
use kprod_core::protocol::metadata::{
    MetadataRequestView, MetadataResponseData, MetadataResponsePartitionData, MetadataResponseTopicData,
};
use kprod_core::protocol::produce::{
    LeaderIdAndEpoch, PartitionProduceResponseData, ProduceRequestView, ProduceResponseData, TopicProduceResponseData,
};
use kprod_core::protocol::{encode_response, ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Node, RequestHeader};
use kprod_core::record::RecordBatch;
use kprod_core::time::Instant;

use super::cluster::{host, Appended, BatchIn, Cluster, PORT};

/// The transaction APIs a transactional cluster lists, with Kafka 4.1's ranges.
pub const TXN_APIS: [ApiVersion; 5] = [
    ApiVersion { api_key: ApiKey::FindCoordinator, min_version: 0, max_version: 6 },
    ApiVersion { api_key: ApiKey::AddPartitionsToTxn, min_version: 0, max_version: 5 },
    ApiVersion { api_key: ApiKey::AddOffsetsToTxn, min_version: 0, max_version: 4 },
    ApiVersion { api_key: ApiKey::EndTxn, min_version: 0, max_version: 5 },
    ApiVersion { api_key: ApiKey::TxnOffsetCommit, min_version: 0, max_version: 5 },
];

/// What a broker does after reading a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Sends this response frame.
    Response(Vec<u8>),
    /// Sends nothing (Produce with acks=0).
    Nothing,
    /// Closes the connection (acks=0 error, or a request it cannot read).
    Close,
}

/// One partition of a Produce request, as the fault injector sees it.
#[derive(Debug, Clone, Copy)]
pub struct ProduceCtx<'a> {
    /// Virtual time.
    pub now: Instant,
    /// The broker handling the request.
    pub node: i32,
    /// The topic.
    pub topic: &'a str,
    /// The partition.
    pub partition: i32,
    /// The partition's real leader and epoch.
    pub leader: (i32, i32),
    /// The request's version.
    pub version: i16,
}

/// An injected partition error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Injected {
    /// Answer `code` without writing (NOT_ENOUGH_REPLICAS, KAFKA_STORAGE_ERROR, ...).
    Before(ErrorCode),
    /// Write, then answer `code` (REQUEST_TIMED_OUT, NOT_ENOUGH_REPLICAS_AFTER_APPEND: the
    /// replicas did not confirm in time, but the leader has the records).
    After(ErrorCode),
    /// NOT_LEADER_OR_FOLLOWER although this broker leads, with this KIP-951 hint (v10+).
    NotLeader(Option<(i32, i32)>),
}

/// Decides injected errors per partition.
pub type Injector<'i> = &'i mut dyn FnMut(&ProduceCtx<'_>) -> Option<Injected>;

/// Faults drawn for one request frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FrameFaults {
    /// A Metadata answer reports each partition's previous leader and epoch (a lagging broker).
    pub stale_metadata: bool,
    /// An InitProducerId answer is COORDINATOR_LOAD_IN_PROGRESS (no producer id block yet).
    pub init_error: bool,
    /// The transaction coordinator's faults for this request.
    pub txn: super::coordinator::TxnFrameFaults,
}

impl Cluster {
    /// Handles one request frame (without its size prefix) on broker `node`.
    pub fn handle_frame(
        &mut self,
        node: i32,
        frame: &[u8],
        now: Instant,
        faults: FrameFaults,
        inject: Injector<'_>,
    ) -> (ApiKey, Reply) {
        let Ok((header, body)) = RequestHeader::decode(frame) else {
            self.violations.push("undecodable request header".into());
            return (ApiKey::Other(-1), Reply::Close);
        };
        let (api, v, corr) = (header.api_key, header.api_version, header.correlation_id);
        if api != ApiKey::ApiVersions && !self.supports(api, v) {
            self.violations.push(format!("{api:?} v{v} outside the advertised range"));
            return (api, Reply::Close);
        }
        self.txn_tick(now);
        let txn = self.txn.is_some();
        let req = super::coordinator::Req { node, v, corr, body, now, f: faults.txn };
        let reply = match api {
            ApiKey::ApiVersions => self.api_versions(v, corr, body),
            ApiKey::Metadata => self.metadata(v, corr, body, faults.stale_metadata),
            ApiKey::InitProducerId => self.init_producer_id(node, v, corr, body, now, faults),
            ApiKey::Produce => self.produce(node, v, corr, body, now, inject),
            ApiKey::FindCoordinator if txn => self.find_coordinator(v, corr, body),
            ApiKey::AddPartitionsToTxn if txn => self.add_partitions(req),
            ApiKey::AddOffsetsToTxn if txn => self.add_offsets(req),
            ApiKey::TxnOffsetCommit if txn => self.txn_offset_commit(req),
            ApiKey::EndTxn if txn => self.end_txn(req),
            _ => {
                self.violations.push(format!("unexpected request {api:?}"));
                Reply::Close
            }
        };
        (api, reply)
    }

    fn supports(&self, api: ApiKey, v: i16) -> bool {
        let (lo, hi) = match api {
            ApiKey::Produce => (self.versions.produce.0.max(3), self.versions.produce.1),
            ApiKey::Metadata => self.versions.metadata,
            ApiKey::InitProducerId => self.versions.init_producer_id,
            ApiKey::ApiVersions => self.versions.api_versions,
            api if self.txn.is_some() => match TXN_APIS.iter().find(|a| a.api_key == api) {
                Some(a) => (a.min_version, a.max_version),
                None => return false,
            },
            _ => return false,
        };
        (lo..=hi).contains(&v)
    }

    pub(super) fn decode_or_violation<'a, R: DecodeRequest<'a>>(&mut self, v: i16, body: &'a [u8]) -> Option<R> {
        match R::decode(v, body) {
            Ok(r) => Some(r),
            Err(e) => {
                self.violations.push(format!("{:?} v{v} request does not decode: {e}", R::API_KEY));
                None
            }
        }
    }

    fn api_versions(&mut self, v: i16, corr: i32, body: &[u8]) -> Reply {
        let vs = self.versions;
        let mut keys = vec![
            ApiVersion { api_key: ApiKey::Produce, min_version: vs.produce.0, max_version: vs.produce.1 },
            ApiVersion { api_key: ApiKey::Other(1), min_version: 4, max_version: 17 },
            ApiVersion { api_key: ApiKey::Metadata, min_version: vs.metadata.0, max_version: vs.metadata.1 },
            ApiVersion { api_key: ApiKey::ApiVersions, min_version: vs.api_versions.0, max_version: vs.api_versions.1 },
            ApiVersion {
                api_key: ApiKey::InitProducerId,
                min_version: vs.init_producer_id.0,
                max_version: vs.init_producer_id.1,
            },
            ApiVersion { api_key: ApiKey::SaslHandshake, min_version: 0, max_version: 1 },
            ApiVersion { api_key: ApiKey::SaslAuthenticate, min_version: 0, max_version: 2 },
        ];
        // A transactional cluster lists the transaction APIs and its transaction.version.
        let level = self.txn.as_ref().map(|c| if c.v2 { 2 } else { 1 });
        if level.is_some() {
            keys.extend_from_slice(&TXN_APIS);
        }
        let features = level.map(|level| FinalizedFeature {
            name: "transaction.version",
            max_version_level: level,
            min_version_level: level,
        });
        let features = features.as_slice();
        let data = |code| {
            let mut d = ApiVersionsResponseData::new(code, &keys);
            if !features.is_empty() {
                d.finalized_features = features;
                d.finalized_features_epoch = 1;
            }
            d
        };
        if v > vs.api_versions.1 {
            // KIP-511: answer v0 with UNSUPPORTED_VERSION and our ranges.
            return respond(0, corr, &data(ErrorCode::UnsupportedVersion));
        }
        if self.decode_or_violation::<ApiVersionsRequest<'_>>(v, body).is_none() {
            return Reply::Close;
        }
        respond(v, corr, &data(ErrorCode::None))
    }

    fn metadata(&mut self, v: i16, corr: i32, body: &[u8], stale: bool) -> Reply {
        let Some(req) = self.decode_or_violation::<MetadataRequestView<'_>>(v, body) else {
            return Reply::Close;
        };
        let names: Vec<String> = match req.topics {
            Some(topics) => topics.iter().filter_map(|t| t.name.map(str::to_owned)).collect(),
            None => {
                self.violations.push("Metadata for all topics (null list)".into());
                self.topics.iter().map(|t| t.name.clone()).collect()
            }
        };
        self.metadata_requests.push(names.clone());
        let up = self.up_brokers();
        let all: Vec<i32> = self.brokers.iter().map(|b| b.id).collect();
        // A lagging broker has not noticed failures either: it lists every broker.
        let listed = if stale { &all } else { &up };
        let hosts: Vec<String> = listed.iter().map(|&id| host(id)).collect();
        let nodes: Vec<Node<'_>> = listed
            .iter()
            .zip(&hosts)
            .map(|(&node_id, h)| Node { node_id, host: h, port: i32::from(PORT), rack: None })
            .collect();
        let parts: Vec<Vec<MetadataResponsePartitionData<'_>>> = names
            .iter()
            .map(|name| {
                let Some(t) = self.topic(name) else {
                    return Vec::new();
                };
                let partitions = self.topics[t].partitions.iter().enumerate();
                partitions
                    .map(|(i, p)| {
                        let (leader, epoch) = if stale { p.previous } else { (p.leader, p.epoch) };
                        let leader = if leader >= 0 && self.is_up(leader) || stale { leader } else { -1 };
                        MetadataResponsePartitionData {
                            error_code: if leader < 0 { ErrorCode::LeaderNotAvailable } else { ErrorCode::None },
                            partition_index: i as i32,
                            leader_id: leader,
                            leader_epoch: epoch,
                            replica_nodes: &all,
                            isr_nodes: &up,
                            offline_replicas: &[],
                        }
                    })
                    .collect()
            })
            .collect();
        let topics: Vec<MetadataResponseTopicData<'_>> = names
            .iter()
            .zip(&parts)
            .map(|(name, partitions)| {
                let t = self.topic(name);
                MetadataResponseTopicData {
                    error_code: if t.is_some() { ErrorCode::None } else { ErrorCode::UnknownTopicOrPartition },
                    name: Some(name),
                    topic_id: t.map_or([0; 16], |t| self.topics[t].id),
                    is_internal: false,
                    partitions,
                    topic_authorized_operations: i32::MIN,
                }
            })
            .collect();
        let resp = MetadataResponseData {
            throttle_time_ms: 0,
            brokers: &nodes,
            cluster_id: Some("sim"),
            controller_id: up.first().copied().unwrap_or(-1),
            topics: &topics,
            cluster_authorized_operations: i32::MIN,
            error_code: ErrorCode::None,
        };
        respond(v, corr, &resp)
    }

    fn init_producer_id(
        &mut self,
        node: i32,
        v: i16,
        corr: i32,
        body: &[u8],
        now: Instant,
        faults: FrameFaults,
    ) -> Reply {
        let Some(req) = self.decode_or_violation::<InitProducerIdRequest<'_>>(v, body) else {
            return Reply::Close;
        };
        if (req.producer_id < 0) != (req.producer_epoch < 0) {
            self.violations
                .push(format!("InitProducerId with id {} and epoch {}", req.producer_id, req.producer_epoch));
            return respond(v, corr, &init_response(ErrorCode::InvalidRequest, -1, -1));
        }
        match (req.transactional_id, self.txn.is_some()) {
            (Some(_), true) => return self.txn_init_producer_id(node, v, corr, &req, now, faults.txn),
            (None, false) => {}
            (id, _) => self.violations.push(format!("InitProducerId with transactional id {id:?}")),
        }
        if faults.init_error {
            return respond(v, corr, &init_response(ErrorCode::CoordinatorLoadInProgress, -1, -1));
        }
        let id = self.new_producer_id();
        respond(v, corr, &init_response(ErrorCode::None, id, 0))
    }

    fn produce(&mut self, node: i32, v: i16, corr: i32, body: &[u8], now: Instant, inject: Injector<'_>) -> Reply {
        let Some(req) = self.decode_or_violation::<ProduceRequestView<'_>>(v, body) else {
            return Reply::Close;
        };
        let txn_id = req.transactional_id.map(str::to_owned);
        if !matches!(req.acks, -1..=1) {
            self.violations.push(format!("Produce with acks={}", req.acks));
        }
        let mut topics: Vec<(String, [u8; 16], Vec<PartitionProduceResponseData<'static>>)> = Vec::new();
        let mut endpoints: Vec<i32> = Vec::new();
        let mut any_error = false;
        for td in req.topic_data.iter() {
            let t = if v >= 13 { self.topic_by_id(&td.topic_id) } else { self.topic(td.name) };
            let mut parts = Vec::new();
            for pd in td.partition_data.iter() {
                let (resp, hint_node) =
                    self.produce_partition(node, t, pd.index, pd.records, v, now, inject, txn_id.as_deref());
                any_error |=
                    resp.error_code != ErrorCode::None && resp.error_code != ErrorCode::DuplicateSequenceNumber;
                endpoints.extend(hint_node.filter(|n| !endpoints.contains(n)));
                parts.push(resp);
            }
            topics.push((td.name.to_owned(), td.topic_id, parts));
        }
        let partitions = topics.iter().map(|t| t.2.len() as u64).sum::<u64>();
        self.stats.max_request_partitions = self.stats.max_request_partitions.max(partitions);
        self.stats.max_request_bytes = self.stats.max_request_bytes.max(body.len() as u64);
        if req.acks == 0 {
            return if any_error { Reply::Close } else { Reply::Nothing };
        }
        let responses: Vec<TopicProduceResponseData<'_>> = topics
            .iter()
            .map(|(name, topic_id, parts)| TopicProduceResponseData {
                name,
                topic_id: *topic_id,
                partition_responses: parts,
            })
            .collect();
        let hosts: Vec<String> = endpoints.iter().map(|&id| host(id)).collect();
        let nodes: Vec<Node<'_>> = endpoints
            .iter()
            .zip(&hosts)
            .map(|(&node_id, h)| Node { node_id, host: h, port: i32::from(PORT), rack: None })
            .collect();
        let node_endpoints: &[Node<'_>] = if v >= 10 { &nodes } else { &[] };
        respond(
            v,
            corr,
            &ProduceResponseData { responses: &responses, throttle_time_ms: self.throttle_ms, node_endpoints },
        )
    }

    /// One partition of a Produce request: the answer and, for a leader hint, the node it names.
    #[allow(clippy::too_many_arguments)]
    fn produce_partition(
        &mut self,
        node: i32,
        topic: Option<usize>,
        index: i32,
        records: &[u8],
        v: i16,
        now: Instant,
        inject: Injector<'_>,
        txn_id: Option<&str>,
    ) -> (PartitionProduceResponseData<'static>, Option<i32>) {
        self.stats.produce_partitions += 1;
        let found = topic
            .and_then(|t| Some((t, usize::try_from(index).ok().filter(|&p| p < self.topics[t].partitions.len())?)));
        let Some((t, p)) = found else {
            return (PartitionProduceResponseData::failed(index, ErrorCode::UnknownTopicOrPartition), None);
        };
        // Parsed first, so every answer can be noted with the batch it refused.
        let batch = self.parse_batch(records);
        let part = &self.topics[t].partitions[p];
        let leader = (part.leader, part.epoch);
        let mut injected = None;
        let (resp, hint, wrote) = if leader.0 != node {
            self.stats.not_leader += 1;
            let (resp, hint) = not_leader(index, (leader.0 >= 0).then_some(leader));
            (resp, hint, false)
        } else {
            let ctx = ProduceCtx { now, node, topic: &self.topics[t].name, partition: index, leader, version: v };
            injected = inject(&ctx);
            self.stats.injected += u64::from(injected.is_some());
            match (injected, &batch) {
                (Some(Injected::Before(code)), _) => (PartitionProduceResponseData::failed(index, code), None, false),
                (Some(Injected::NotLeader(hint)), _) => {
                    let (resp, hint) = not_leader(index, hint);
                    (resp, hint, false)
                }
                (_, None) => (PartitionProduceResponseData::failed(index, ErrorCode::CorruptMessage), None, false),
                (_, Some(b)) if b.compression == Compression::Zstd && v < 7 => {
                    self.violations.push(format!("zstd batch on Produce v{v} (needs v7)"));
                    (PartitionProduceResponseData::failed(index, ErrorCode::UnsupportedCompressionType), None, false)
                }
                (_, Some(b)) if self.max_message_bytes.is_some_and(|m| b.wire_len > m) => {
                    self.stats.too_large += 1;
                    (PartitionProduceResponseData::failed(index, ErrorCode::MessageTooLarge), None, false)
                }
                (_, Some(b)) if self.txn.is_some() || b.transactional || txn_id.is_some() => {
                    let verified = self.txn_verify_batch(txn_id, t, p, b.producer, b.transactional, v);
                    match verified.and_then(|()| self.txn_sequence_guard(t, p, b.producer)) {
                        Err(code) => (PartitionProduceResponseData::failed(index, code), None, false),
                        Ok(()) => self.append_answer(t, p, b, index, injected),
                    }
                }
                (_, Some(b)) => self.append_answer(t, p, b, index, injected),
            }
        };
        if self.trace {
            let (pid, epoch, seq, n, first) = batch.as_ref().map_or((-1, -1, -1, 0, None), |b| {
                let first = b.records.first().and_then(|r| r.1.as_deref()).and_then(super::scenario::index_of);
                (b.producer.0, b.producer.1, b.producer.2, b.records.len(), first)
            });
            self.notes.push(format!(
                "  {}-{p} pid {pid} epoch {epoch} seq {seq} x{n} (#{first:?}..) -> {:?} @{} wrote {wrote} injected {injected:?}",
                self.topics[t].name, resp.error_code, resp.base_offset
            ));
        }
        (resp, hint)
    }

    /// Appends a batch and answers for it (an error injected after the append replaces the
    /// answer).
    fn append_answer(
        &mut self,
        t: usize,
        p: usize,
        b: &BatchIn,
        index: i32,
        injected: Option<Injected>,
    ) -> (PartitionProduceResponseData<'static>, Option<i32>, bool) {
        let Appended { code, base_offset, wrote } = self.append(t, p, b);
        self.txn_noticed(code);
        let resp = match injected {
            Some(Injected::After(code)) if wrote => PartitionProduceResponseData::failed(index, code),
            _ => PartitionProduceResponseData { base_offset, ..PartitionProduceResponseData::failed(index, code) },
        };
        (resp, None, wrote)
    }

    /// Reads the one record batch a Produce v3+ partition carries, checking what a producer
    /// must write; `None` (and a violation) if it is not acceptable.
    fn parse_batch(&mut self, records: &[u8]) -> Option<BatchIn> {
        let batch = match RecordBatch::parse(records) {
            Ok(b) => b,
            Err(e) => {
                self.violations.push(format!("record batch does not parse: {e:?}"));
                return None;
            }
        };
        let mut problems = Vec::new();
        if batch.len() != records.len() {
            problems.push(format!("{} bytes after the batch", records.len() - batch.len()));
        }
        if batch.base_offset() != 0 || batch.partition_leader_epoch() != -1 {
            problems.push(format!(
                "base offset {} / leader epoch {}",
                batch.base_offset(),
                batch.partition_leader_epoch()
            ));
        }
        if batch.record_count() <= 0 || batch.last_offset_delta() != batch.record_count() - 1 {
            problems.push(format!(
                "record count {} / last offset delta {}",
                batch.record_count(),
                batch.last_offset_delta()
            ));
        }
        let s = batch.producer_state();
        let idempotent = s.producer_id >= 0;
        if idempotent && (s.producer_epoch < 0 || s.base_sequence < 0)
            || !idempotent && (s.producer_epoch, s.base_sequence) != (-1, -1)
        {
            problems.push(format!("producer state {s:?}"));
        }
        let decoded: Result<Vec<_>, String> = match batch.decompress(1 << 24) {
            Ok(owned) => owned
                .iter()
                .map(|r| {
                    r.map(|r| (r.key.map(<[u8]>::to_vec), r.value.map(<[u8]>::to_vec))).map_err(|e| format!("{e:?}"))
                })
                .collect(),
            Err(e) => Err(format!("{e:?}")),
        };
        let records = decoded.unwrap_or_else(|e| {
            problems.push(format!("records do not decode: {e}"));
            Vec::new()
        });
        if records.len() != batch.record_count().max(0) as usize {
            problems.push(format!("{} records decoded, count says {}", records.len(), batch.record_count()));
        }
        if !problems.is_empty() {
            self.violations.push(format!("bad record batch: {}", problems.join("; ")));
            return None;
        }
        Some(BatchIn {
            producer: (s.producer_id, s.producer_epoch, s.base_sequence),
            records,
            compression: batch.compression(),
            transactional: batch.is_transactional(),
            wire_len: batch.len(),
        })
    }
}

fn not_leader(index: i32, hint: Option<(i32, i32)>) -> (PartitionProduceResponseData<'static>, Option<i32>) {
    let current_leader = hint.map(|(leader_id, leader_epoch)| LeaderIdAndEpoch { leader_id, leader_epoch });
    let resp = PartitionProduceResponseData {
        current_leader,
        ..PartitionProduceResponseData::failed(index, ErrorCode::NotLeaderOrFollower)
    };
    (resp, hint.map(|h| h.0))
}

fn init_response(error_code: ErrorCode, producer_id: i64, producer_epoch: i16) -> InitProducerIdResponse {
    InitProducerIdResponse {
        throttle_time_ms: 0,
        error_code,
        producer_id,
        producer_epoch,
        ongoing_txn_producer_id: -1,
        ongoing_txn_producer_epoch: -1,
    }
}

pub fn respond<R: EncodeResponse>(v: i16, corr: i32, body: &R) -> Reply {
    let mut out = Vec::new();
    match encode_response(&mut out, v, corr, body) {
        Ok(_) => Reply::Response(out),
        Err(e) => panic!("sim broker cannot encode {:?} v{v}: {e}", R::API_KEY),
    }
}
