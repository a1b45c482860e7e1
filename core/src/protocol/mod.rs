//! Kafka protocol messages: headers, API keys and version choice, error codes, and one module per
//! API.
//!
//! Every request implements [`Request`] (`encode(version, sink)`) and every response implements
//! [`Response`] (`decode(version, body)`, where `body` follows the response header). The codecs
//! cover every version the Kafka 4.1 schemas define for the API ([`ApiKey::schema_versions`]);
//! [`ApiKey::supported_versions`] is what kprod negotiates, and [`choose_version`] picks the
//! version to send from a broker's ApiVersions range.
//!
//! Decoders borrow their input and never allocate: `decode` validates the whole body once, and
//! arrays are exposed as [`Array`]s that re-parse their already-validated bytes lazily. Requests
//! borrow slices of plain structs, so a caller builds them without a heap.
//!
//! The broker side (for simulated clusters, test brokers and fuzzing) is the mirror image, under
//! the same rules: every request implements [`DecodeRequest`] and every response
//! [`EncodeResponse`], at every schema version. A message that holds arrays has two types: the
//! one built from slices is what kprod sends (`ProduceRequest`), its decoded form with
//! [`Array`]s is the `…View` (`ProduceRequestView`); a response decodes to the plain name
//! (`ProduceResponse`) and is built from slices as the `…Data` (`ProduceResponseData`, after the
//! Java client's message classes). Messages and elements without arrays are one type that goes
//! both ways. [`RequestHeader::decode`] and [`encode_response`] handle the frames.
//!
//! ```
//! use kprod_core::protocol::{encode_request, encode_response, split_frame, produce::*};
//! use kprod_core::protocol::{DecodeRequest, RequestHeader};
//! use kprod_core::wire::SliceSink;
//!
//! # let partitions = [PartitionProduceData { index: 0, records: &[] }];
//! # let topics = [TopicProduceData { name: "orders", topic_id: None, partition_data: &partitions }];
//! # let request = ProduceRequest { transactional_id: None, acks: -1, timeout_ms: 30_000, topic_data: &topics };
//! # let mut input = [0u8; 128];
//! # let mut sink = SliceSink::new(&mut input);
//! # encode_request(&mut sink, 11, 7, Some("kprod"), &request).unwrap();
//! // The broker reads a frame, its header, then the body the header announces.
//! let (frame, _consumed) = split_frame(sink.written(), 1 << 20).unwrap().unwrap();
//! let (header, body) = RequestHeader::decode(frame).unwrap();
//! let produce = ProduceRequestView::decode(header.api_version, body).unwrap();
//! let topic = produce.topic_data.get(0).unwrap();
//!
//! let partitions = [PartitionProduceResponseData::ok(0, 42)];
//! let (name, topic_id) = (topic.name, topic.topic_id);
//! let topics = [TopicProduceResponseData { name, topic_id, partition_responses: &partitions }];
//! let response = ProduceResponseData { responses: &topics, throttle_time_ms: 0, node_endpoints: &[] };
//! let mut out = [0u8; 128];
//! let mut sink = SliceSink::new(&mut out);
//! encode_response(&mut sink, header.api_version, header.correlation_id, &response).unwrap();
//! ```
//!
//! ```
//! use kprod_core::protocol::{encode_request, produce::*, ApiKey, choose_version, VersionRange};
//! use kprod_core::wire::SliceSink;
//!
//! let version = choose_version(ApiKey::Produce, VersionRange::new(0, 11)).unwrap();
//! assert_eq!(version, 11);
//! let batch: &[u8] = &[/* an encoded record batch */];
//! let partitions = [PartitionProduceData { index: 0, records: batch }];
//! let topics = [TopicProduceData { name: "orders", topic_id: None, partition_data: &partitions }];
//! let request = ProduceRequest { transactional_id: None, acks: -1, timeout_ms: 30_000, topic_data: &topics };
//! let mut buf = [0u8; 128];
//! let mut sink = SliceSink::new(&mut buf);
//! let n = encode_request(&mut sink, version, 1, Some("kprod"), &request).unwrap();
//! assert_eq!(n, sink.len());
//! ```

mod codec;
pub mod error;
pub mod header;

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod api_versions;
pub mod end_txn;
pub mod find_coordinator;
pub mod init_producer_id;
pub mod metadata;
pub mod produce;
pub mod sasl_authenticate;
pub mod sasl_handshake;
pub mod txn_offset_commit;

pub use codec::{Array, ArrayIter, Ctx, Decode, Encode, Node};
pub use error::ErrorCode;
pub use header::{
    encode_request, encode_response, framing, request_frame_len, response_frame_len, split_frame, Framing,
    RequestHeader, ResponseHeader,
};

use crate::wire::{DecodeError, EncodeError, Limits, Sink};

/// A Kafka API key. The APIs a producer speaks have variants; any other key (as listed in an
/// ApiVersions response) is kept as [`ApiKey::Other`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiKey {
    /// Produce (0).
    Produce,
    /// Metadata (3).
    Metadata,
    /// SaslHandshake (17).
    SaslHandshake,
    /// ApiVersions (18).
    ApiVersions,
    /// InitProducerId (22).
    InitProducerId,
    /// SaslAuthenticate (36).
    SaslAuthenticate,
    /// FindCoordinator (10).
    FindCoordinator,
    /// AddPartitionsToTxn (24).
    AddPartitionsToTxn,
    /// AddOffsetsToTxn (25).
    AddOffsetsToTxn,
    /// EndTxn (26).
    EndTxn,
    /// TxnOffsetCommit (28).
    TxnOffsetCommit,
    /// Any other API key. [`ApiKey::from_code`] never puts a known key here.
    Other(i16),
}

/// An inclusive range of API versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VersionRange {
    /// Lowest version, inclusive.
    pub min: i16,
    /// Highest version, inclusive.
    pub max: i16,
}

impl VersionRange {
    /// The range `min..=max`.
    pub const fn new(min: i16, max: i16) -> Self {
        Self { min, max }
    }

    /// Whether `version` lies in the range.
    pub const fn contains(self, version: i16) -> bool {
        self.min <= version && version <= self.max
    }
}

impl ApiKey {
    /// The key for a wire code.
    pub const fn from_code(code: i16) -> Self {
        match code {
            0 => Self::Produce,
            3 => Self::Metadata,
            17 => Self::SaslHandshake,
            18 => Self::ApiVersions,
            22 => Self::InitProducerId,
            36 => Self::SaslAuthenticate,
            10 => Self::FindCoordinator,
            24 => Self::AddPartitionsToTxn,
            25 => Self::AddOffsetsToTxn,
            26 => Self::EndTxn,
            28 => Self::TxnOffsetCommit,
            other => Self::Other(other),
        }
    }

    /// The wire code.
    pub const fn code(self) -> i16 {
        match self {
            Self::Produce => 0,
            Self::Metadata => 3,
            Self::SaslHandshake => 17,
            Self::ApiVersions => 18,
            Self::InitProducerId => 22,
            Self::SaslAuthenticate => 36,
            Self::FindCoordinator => 10,
            Self::AddPartitionsToTxn => 24,
            Self::AddOffsetsToTxn => 25,
            Self::EndTxn => 26,
            Self::TxnOffsetCommit => 28,
            Self::Other(code) => code,
        }
    }

    /// The versions kprod's encoders and decoders handle: every version of the Kafka 4.1 schema.
    /// `None` for keys kprod does not implement.
    pub const fn schema_versions(self) -> Option<VersionRange> {
        let (min, max) = match self {
            // Kafka 4.0 removed Produce v0-v2 (KIP-896).
            Self::Produce => (3, 13),
            Self::Metadata => (0, 13),
            Self::SaslHandshake => (0, 1),
            Self::ApiVersions => (0, 4),
            Self::InitProducerId => (0, 6),
            Self::SaslAuthenticate => (0, 2),
            Self::FindCoordinator => (0, 6),
            // v4+ batches transactions and is sent by brokers only (KIP-890).
            Self::AddPartitionsToTxn => (0, 3),
            Self::AddOffsetsToTxn => (0, 4),
            Self::EndTxn | Self::TxnOffsetCommit => (0, 5),
            Self::Other(_) => return None,
        };
        Some(VersionRange::new(min, max))
    }

    /// The versions kprod negotiates ([`choose_version`]). This is [`ApiKey::schema_versions`]
    /// except InitProducerId v6, which Kafka 4.1 still marks unstable (`latestVersionUnstable`),
    /// and FindCoordinator v0, which cannot name a transaction coordinator.
    /// Produce never goes below v3: brokers advertise v0 but reject v0-v2 (KIP-896).
    pub const fn supported_versions(self) -> Option<VersionRange> {
        match self {
            Self::InitProducerId => Some(VersionRange::new(0, 5)),
            Self::FindCoordinator => Some(VersionRange::new(1, 6)),
            _ => self.schema_versions(),
        }
    }

    /// The first flexible version (compact strings, tagged fields, request header v2), or `None`
    /// if no version is flexible or the key is unknown.
    pub const fn first_flexible_version(self) -> Option<i16> {
        match self {
            Self::Produce | Self::Metadata => Some(9),
            Self::ApiVersions => Some(3),
            Self::InitProducerId | Self::SaslAuthenticate => Some(2),
            Self::FindCoordinator
            | Self::AddPartitionsToTxn
            | Self::AddOffsetsToTxn
            | Self::EndTxn
            | Self::TxnOffsetCommit => Some(3),
            Self::SaslHandshake | Self::Other(_) => None,
        }
    }

    /// Whether `version` of this API is flexible.
    pub const fn is_flexible(self, version: i16) -> bool {
        match self.first_flexible_version() {
            Some(first) => version >= first,
            None => false,
        }
    }

    /// The request header version for `version`: 2 when flexible, else 1.
    pub const fn request_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) {
            2
        } else {
            1
        }
    }

    /// The response header version for `version`: 1 when flexible, else 0. The ApiVersions
    /// response header is always v0, so a client can read it whatever version it asked for.
    pub const fn response_header_version(self, version: i16) -> i16 {
        if self.is_flexible(version) && !matches!(self, Self::ApiVersions) {
            1
        } else {
            0
        }
    }
}

/// The version to use for `api` given the broker's range: `min(ours.max, broker.max)` if that is
/// at least `max(ours.min, broker.min)`, else `None` (no common version, or an API kprod does not
/// implement). Gate features on the result with `>=`, never `==`.
pub fn choose_version(api: ApiKey, broker: VersionRange) -> Option<i16> {
    let ours = api.supported_versions()?;
    let max = ours.max.min(broker.max);
    (max >= ours.min.max(broker.min)).then_some(max)
}

/// A request body. `encode` writes the body only; [`encode_request`] adds the size prefix and
/// header.
pub trait Request: Encode {
    /// The API this request belongs to.
    const API_KEY: ApiKey;

    /// Writes the body at `version`. Fails with [`EncodeError::UnsupportedVersion`] outside
    /// [`ApiKey::schema_versions`].
    fn encode(&self, version: i16, out: &mut impl Sink) -> Result<(), EncodeError> {
        codec::encode_body(Self::API_KEY, version, self, out)
    }
}

/// A response body, borrowed from the input.
pub trait Response<'a>: Decode<'a> {
    /// The API this response belongs to.
    const API_KEY: ApiKey;

    /// Decodes a whole body (the bytes after the response header) at `version`, validating every
    /// field, and fails on trailing bytes.
    fn decode(version: i16, body: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_with_limits(version, body, Limits::DEFAULT)
    }

    /// Like [`Response::decode`], with caps on every length and count the peer announces
    /// (nested readers and lazy arrays inherit them).
    fn decode_with_limits(version: i16, body: &'a [u8], limits: Limits) -> Result<Self, DecodeError> {
        codec::decode_body(Self::API_KEY, version, body, limits)
    }
}

/// A request body as a broker reads it, borrowed from the input: the mirror of [`Response`].
pub trait DecodeRequest<'a>: Decode<'a> {
    /// The API this request belongs to.
    const API_KEY: ApiKey;

    /// Decodes a whole body (the bytes after the request header, see [`RequestHeader::decode`])
    /// at `version`, validating every field, and fails on trailing bytes.
    fn decode(version: i16, body: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode_with_limits(version, body, Limits::DEFAULT)
    }

    /// Like [`DecodeRequest::decode`], with caps on every length and count the peer announces.
    fn decode_with_limits(version: i16, body: &'a [u8], limits: Limits) -> Result<Self, DecodeError> {
        codec::decode_body(Self::API_KEY, version, body, limits)
    }
}

/// A response body as a broker writes it: the mirror of [`Request`]. [`encode_response`] adds
/// the size prefix and header.
///
/// Like a broker, which fills in every field and lets the version decide what goes out, the
/// encoders drop the fields a version does not carry; they fail only when a version needs a
/// value that is missing ([`EncodeError::MissingField`]). Tagged fields are sent only when they
/// differ from their default, as the Java classes do.
pub trait EncodeResponse: Encode {
    /// The API this response belongs to.
    const API_KEY: ApiKey;

    /// Writes the body at `version`. Fails with [`EncodeError::UnsupportedVersion`] outside
    /// [`ApiKey::schema_versions`].
    fn encode(&self, version: i16, out: &mut impl Sink) -> Result<(), EncodeError> {
        codec::encode_body(Self::API_KEY, version, self, out)
    }
}
