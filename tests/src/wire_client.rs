//! A minimal blocking Kafka client over [`std::net::TcpStream`], built only
//! from kprod-core's request encoders and response decoders.
//!
//! This is test plumbing, not kprod's producer: it lets a test put
//! kprod-encoded record batches on the wire with a hand-picked Produce version
//! and acks, and see the broker's answer field by field. It does one request
//! at a time: write the frame, then (unless the request expects no answer)
//! read one size-prefixed frame with [`split_frame`](kprod_core::protocol::split_frame) and check that its
//! correlation id is the one just sent.
//!
//! - [`WireClient::connect`](crate::wire_client::WireClient::connect) negotiates API versions: ApiVersions at the
//!   newest version kprod speaks; if the broker answers `UNSUPPORTED_VERSION`
//!   (in a v0 body, KIP-511) it retries once at the version kprod's
//!   [`ApiVersionsResponse::choose`](kprod_core::protocol::api_versions::ApiVersionsResponse::choose) picks from the broker's list.
//! - [`WireClient::choose`](crate::wire_client::WireClient::choose) is kprod's [`choose_version`](kprod_core::protocol::choose_version) against those ranges.
//! - [`WireClient::metadata`](crate::wire_client::WireClient::metadata) describes one topic: its id and each
//!   partition's leader, with the leader's address from the broker list, so
//!   [`Leaders`](crate::wire_client::Leaders) can send each partition's data to its leader.
//! - [`WireClient::produce`](crate::wire_client::WireClient::produce) / [`WireClient::produce_many`](crate::wire_client::WireClient::produce_many) send record
//!   batches and return the partition results as owned values.
//!
//! Errors are a [`WireError`](crate::wire_client::WireError); a test usually `expect`s them.

use core::fmt;
use core::time::Duration;
use std::collections::hash_map::{Entry, HashMap};
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Instant;

use kprod_core::protocol::api_versions::{ApiVersionsRequest, ApiVersionsResponse};
use kprod_core::protocol::metadata::{MetadataRequest, MetadataRequestTopic, MetadataResponse};
use kprod_core::protocol::produce::{PartitionProduceData, ProduceRequest, ProduceResponse, TopicProduceData};
use kprod_core::protocol::{
    choose_version, encode_request, split_frame, ApiKey, ErrorCode, Request, Response, ResponseHeader, VersionRange,
};
use kprod_core::wire::{DecodeError, EncodeError};

/// Client id sent in every request header.
pub const CLIENT_ID: &str = "kprod-wire-test";

/// Largest response frame accepted (the size prefix excluded).
pub const MAX_FRAME: usize = 64 * 1024 * 1024;

/// Read and write timeout of the socket.
const IO_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request failed.
#[derive(Debug)]
pub enum WireError {
    /// The socket failed or closed.
    Io(std::io::Error),
    /// kprod-core refused to encode the request.
    Encode(EncodeError),
    /// kprod-core could not decode the response.
    Decode(DecodeError),
    /// The broker answered, but not as the protocol says (wrong correlation
    /// id, a missing partition, an error code): the text says what.
    Protocol(String),
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(e) => write!(f, "i/o: {e}"),
            Self::Encode(e) => write!(f, "encode: {e}"),
            Self::Decode(e) => write!(f, "decode: {e}"),
            Self::Protocol(s) => write!(f, "protocol: {s}"),
        }
    }
}

impl core::error::Error for WireError {}

impl From<std::io::Error> for WireError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e)
    }
}

impl From<EncodeError> for WireError {
    fn from(e: EncodeError) -> Self {
        Self::Encode(e)
    }
}

impl From<DecodeError> for WireError {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

/// Result of this module.
pub type Result<T> = core::result::Result<T, WireError>;

/// A broker as Metadata lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerAddr {
    /// Node id.
    pub node_id: i32,
    /// `host:port` to connect to.
    pub addr: String,
}

/// One partition of [`TopicMetadata`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionMetadata {
    /// Partition index.
    pub index: i32,
    /// Node id of the leader, -1 if none.
    pub leader_id: i32,
    /// Leader epoch, -1 if the Metadata version has none.
    pub leader_epoch: i32,
}

/// A topic as Metadata describes it, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMetadata {
    /// Topic name.
    pub name: String,
    /// Topic id (all zero below Metadata v10); Produce v13+ addresses topics by it.
    pub topic_id: [u8; 16],
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionMetadata>,
    /// Every broker of the cluster.
    pub brokers: Vec<BrokerAddr>,
}

impl TopicMetadata {
    /// The leader of `partition`: its node id and address.
    ///
    /// # Errors
    /// If the partition is unknown, has no leader, or its leader is not in
    /// the broker list.
    pub fn leader(&self, partition: i32) -> Result<&BrokerAddr> {
        let p = self
            .partitions
            .iter()
            .find(|p| p.index == partition)
            .ok_or_else(|| WireError::Protocol(format!("{}: no partition {partition}", self.name)))?;
        self.brokers.iter().find(|b| b.node_id == p.leader_id).ok_or_else(|| {
            WireError::Protocol(format!(
                "{}-{partition}: leader {} is not among the brokers {:?}",
                self.name, p.leader_id, self.brokers
            ))
        })
    }
}

/// The broker's answer for one partition of a Produce, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionResult {
    /// Partition index.
    pub index: i32,
    /// Error code; `NONE` when the batch was appended.
    pub error_code: ErrorCode,
    /// Offset of the first record appended, -1 on error.
    pub base_offset: i64,
    /// Broker append time for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// Log start offset (v5+, else -1).
    pub log_start_offset: i64,
    /// Per-record errors (v8+): batch index and message.
    pub record_errors: Vec<(i32, Option<String>)>,
    /// Error message (v8+).
    pub error_message: Option<String>,
}

/// One blocking connection to one broker.
#[derive(Debug)]
pub struct WireClient {
    stream: TcpStream,
    addr: String,
    /// Unconsumed bytes read from the socket.
    rx: Vec<u8>,
    next_correlation_id: i32,
    /// The broker's ranges, from ApiVersions.
    ranges: Vec<(ApiKey, VersionRange)>,
    /// The ApiVersions version that finally succeeded.
    api_versions_version: i16,
}

impl WireClient {
    /// Connects to `addr` (`host:port`) and negotiates API versions.
    ///
    /// # Errors
    /// If the connection or ApiVersions fails.
    pub fn connect(addr: &str) -> Result<Self> {
        let newest = ApiKey::ApiVersions.supported_versions().map_or(0, |r| r.max);
        Self::connect_with_api_versions(addr, newest)
    }

    /// [`WireClient::connect`], but the first ApiVersions request announces
    /// `first_version` in its header (with a body encoded at the newest
    /// version kprod speaks when `first_version` is beyond it). A version the
    /// broker does not know exercises the `UNSUPPORTED_VERSION` fallback.
    ///
    /// # Errors
    /// If the connection or ApiVersions fails.
    pub fn connect_with_api_versions(addr: &str, first_version: i16) -> Result<Self> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(IO_TIMEOUT))?;
        stream.set_write_timeout(Some(IO_TIMEOUT))?;
        stream.set_nodelay(true)?;
        let mut client = Self {
            stream,
            addr: addr.to_owned(),
            rx: Vec::new(),
            next_correlation_id: 1,
            ranges: Vec::new(),
            api_versions_version: -1,
        };
        client.negotiate(first_version)?;
        Ok(client)
    }

    /// The address this client connected to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The ApiVersions version the broker finally answered.
    pub const fn api_versions_version(&self) -> i16 {
        self.api_versions_version
    }

    /// The broker's version range for `api`, if it lists the API.
    pub fn broker_range(&self, api: ApiKey) -> Option<VersionRange> {
        self.ranges.iter().find(|(k, _)| *k == api).map(|&(_, r)| r)
    }

    /// The version kprod would use for `api` with this broker
    /// ([`choose_version`]), or `None` if there is no common version.
    pub fn choose(&self, api: ApiKey) -> Option<i16> {
        choose_version(api, self.broker_range(api)?)
    }

    fn negotiate(&mut self, first_version: i16) -> Result<()> {
        let req = ApiVersionsRequest {
            client_software_name: "kprod-tests",
            client_software_version: env!("CARGO_PKG_VERSION"),
        };
        let newest = ApiKey::ApiVersions.supported_versions().map_or(0, |r| r.max);
        let mut version = first_version;
        // At most two attempts: the one asked for, then kprod's choice from
        // the list an UNSUPPORTED_VERSION answer carries.
        for attempt in 0..2 {
            let frame = if version > newest {
                // Encode at a version kprod knows, then announce `version` in
                // the header (bytes 6..8 of the frame: size, api key, version).
                let mut frame = self.encode(newest, &req)?;
                frame[6..8].copy_from_slice(&version.to_be_bytes());
                frame
            } else {
                self.encode(version, &req)?
            };
            let correlation_id = self.next_correlation_id - 1;
            self.stream.write_all(&frame)?;
            let body = self.read_response(ApiKey::ApiVersions, version, correlation_id)?;
            let resp = <ApiVersionsResponse<'_> as Response<'_>>::decode(version, &body)?;
            self.ranges =
                resp.api_keys.iter().map(|k| (k.api_key, VersionRange::new(k.min_version, k.max_version))).collect();
            match resp.error_code {
                ErrorCode::None => {
                    self.api_versions_version = version;
                    return Ok(());
                }
                ErrorCode::UnsupportedVersion if attempt == 0 => {
                    version = resp.choose(ApiKey::ApiVersions).ok_or_else(|| {
                        WireError::Protocol(format!(
                            "no common ApiVersions version with {:?}",
                            resp.range(ApiKey::ApiVersions)
                        ))
                    })?;
                }
                e => {
                    return Err(WireError::Protocol(format!("ApiVersions v{version}: {e}")));
                }
            }
        }
        Err(WireError::Protocol("ApiVersions: still UNSUPPORTED_VERSION after the fallback".into()))
    }

    /// Encodes a request frame with the next correlation id.
    fn encode<R: Request>(&mut self, version: i16, body: &R) -> Result<Vec<u8>> {
        let correlation_id = self.next_correlation_id;
        self.next_correlation_id += 1;
        let mut frame = Vec::new();
        encode_request(&mut frame, version, correlation_id, Some(CLIENT_ID), body)?;
        Ok(frame)
    }

    /// Sends `body` at `version` and, if `expect_response`, returns the
    /// response body (after the header, whose correlation id is checked).
    fn round_trip<R: Request>(&mut self, version: i16, body: &R, expect_response: bool) -> Result<Option<Vec<u8>>> {
        let frame = self.encode(version, body)?;
        let correlation_id = self.next_correlation_id - 1;
        self.stream.write_all(&frame)?;
        if !expect_response {
            return Ok(None);
        }
        self.read_response(R::API_KEY, version, correlation_id).map(Some)
    }

    /// Reads one frame and returns its body after checking the header.
    fn read_response(&mut self, api: ApiKey, version: i16, correlation_id: i32) -> Result<Vec<u8>> {
        loop {
            if let Some((frame, used)) = split_frame(&self.rx, MAX_FRAME)? {
                let (header, body) = ResponseHeader::decode(api, version, frame)?;
                if header.correlation_id != correlation_id {
                    return Err(WireError::Protocol(format!(
                        "{api:?} v{version}: correlation id {} in the response, {correlation_id} sent",
                        header.correlation_id
                    )));
                }
                let body = body.to_vec();
                self.rx.drain(..used);
                return Ok(body);
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(WireError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.rx.extend_from_slice(&chunk[..n]);
        }
    }

    /// Metadata for `topic` at the version kprod chooses, retried for up to
    /// 10 s while the topic or a leader is not known yet.
    ///
    /// # Errors
    /// On a failed request, a non-retriable topic error, or no leader in time.
    pub fn metadata(&mut self, topic: &str) -> Result<TopicMetadata> {
        let version =
            self.choose(ApiKey::Metadata).ok_or_else(|| WireError::Protocol("no common Metadata version".into()))?;
        let topics = [MetadataRequestTopic::named(topic)];
        let mut req = MetadataRequest::new(Some(&topics));
        req.allow_auto_topic_creation = false;
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body = self.round_trip(version, &req, true)?.expect("Metadata has a response");
            let resp = <MetadataResponse<'_> as Response<'_>>::decode(version, &body)?;
            let problem = match resp.topics.iter().find(|t| t.name == Some(topic)) {
                None => "not in the response".to_owned(),
                Some(t) if !t.error_code.is_ok() => {
                    if !t.error_code.is_retriable() {
                        return Err(WireError::Protocol(format!("Metadata {topic}: {}", t.error_code)));
                    }
                    t.error_code.to_string()
                }
                Some(t) if t.partitions.iter().any(|p| p.leader_id < 0 || !p.error_code.is_ok()) => {
                    "a partition has no leader".to_owned()
                }
                Some(t) => {
                    let mut partitions: Vec<PartitionMetadata> = t
                        .partitions
                        .iter()
                        .map(|p| PartitionMetadata {
                            index: p.partition_index,
                            leader_id: p.leader_id,
                            leader_epoch: p.leader_epoch,
                        })
                        .collect();
                    partitions.sort_by_key(|p| p.index);
                    let brokers = resp
                        .brokers
                        .iter()
                        .map(|b| BrokerAddr { node_id: b.node_id, addr: format!("{}:{}", b.host, b.port) })
                        .collect();
                    return Ok(TopicMetadata { name: topic.to_owned(), topic_id: t.topic_id, partitions, brokers });
                }
            };
            if Instant::now() >= deadline {
                return Err(WireError::Protocol(format!("Metadata {topic}: {problem} after 10 s")));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Sends one record batch (or any bytes) to `topic`/`partition` in a
    /// Produce at `version` with `acks` and returns the partition's result,
    /// or `None` with `acks = 0`, which gets no response.
    ///
    /// # Errors
    /// If the request fails or the response does not answer exactly this
    /// partition. A partition error is *not* an error here: it is in the
    /// result.
    pub fn produce(
        &mut self,
        topic: &TopicMetadata,
        partition: i32,
        records: &[u8],
        acks: i16,
        version: i16,
    ) -> Result<Option<PartitionResult>> {
        let mut results = self.produce_many(topic, &[(partition, records)], acks, version)?;
        Ok(results.pop())
    }

    /// [`WireClient::produce`] for several partitions of one topic in one
    /// request (Produce v3+ takes one batch per partition). Results come in
    /// the order of `data`; empty with `acks = 0`.
    ///
    /// # Errors
    /// As [`WireClient::produce`].
    pub fn produce_many(
        &mut self,
        topic: &TopicMetadata,
        data: &[(i32, &[u8])],
        acks: i16,
        version: i16,
    ) -> Result<Vec<PartitionResult>> {
        let partition_data: Vec<PartitionProduceData<'_>> =
            data.iter().map(|&(index, records)| PartitionProduceData { index, records }).collect();
        let topic_data =
            [TopicProduceData { name: &topic.name, topic_id: Some(topic.topic_id), partition_data: &partition_data }];
        let req = ProduceRequest { transactional_id: None, acks, timeout_ms: 30_000, topic_data: &topic_data };
        let Some(body) = self.round_trip(version, &req, req.expects_response())? else {
            return Ok(Vec::new());
        };
        let resp = <ProduceResponse<'_> as Response<'_>>::decode(version, &body)?;
        let mismatch = |what: String| WireError::Protocol(format!("Produce v{version} to {}: {what}", topic.name));
        let mut topics = resp.responses.iter();
        let (Some(t), None) = (topics.next(), topics.next()) else {
            return Err(mismatch(format!("{} topics in the response", resp.responses.len())));
        };
        let same_topic = if version >= 13 { t.topic_id == topic.topic_id } else { t.name == topic.name };
        if !same_topic {
            return Err(mismatch(format!("response for topic {:?} / {:?}", t.name, t.topic_id)));
        }
        let got: Vec<PartitionResult> = t
            .partition_responses
            .iter()
            .map(|p| PartitionResult {
                index: p.index,
                error_code: p.error_code,
                base_offset: p.base_offset,
                log_append_time_ms: p.log_append_time_ms,
                log_start_offset: p.log_start_offset,
                record_errors: p
                    .record_errors
                    .iter()
                    .map(|e| (e.batch_index, e.batch_index_error_message.map(str::to_owned)))
                    .collect(),
                error_message: p.error_message.map(str::to_owned),
            })
            .collect();
        if got.len() != data.len() {
            return Err(mismatch(format!("{} partitions answered, {} sent", got.len(), data.len())));
        }
        data.iter()
            .map(|&(index, _)| {
                got.iter()
                    .find(|r| r.index == index)
                    .cloned()
                    .ok_or_else(|| mismatch(format!("no answer for partition {index}")))
            })
            .collect()
    }
}

/// One [`WireClient`] per leader, connected on first use.
#[derive(Debug, Default)]
pub struct Leaders {
    clients: HashMap<i32, WireClient>,
}

impl Leaders {
    /// No connections yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connection to the leader of `partition` of `topic`.
    ///
    /// # Errors
    /// If the partition has no known leader or the connection fails.
    pub fn for_partition(&mut self, topic: &TopicMetadata, partition: i32) -> Result<&mut WireClient> {
        let leader = topic.leader(partition)?;
        Ok(match self.clients.entry(leader.node_id) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(WireClient::connect(&leader.addr)?),
        })
    }
}
