//! Produce (key 0), versions 3-13, flexible from v9.
//!
//! What each version adds: v3 transactional id and record batch v2; v5 log start offset; v7
//! zstd; v8 per-record errors and an error message; v10 leader hints in the response (KIP-951:
//! `current_leader` per partition, `node_endpoints`); v11 `TRANSACTION_ABORTABLE`; v12
//! transactions V2; v13 topic ids instead of names (KIP-516).
//!
//! With `acks = 0` the broker sends no response ([`ProduceRequest::expects_response`]).
//!
//! The broker side: [`ProduceRequestView`] is a decoded request whose record batches stay
//! borrowed from the frame; [`ProduceResponseData`] is a response built from slices.

use super::codec::{put_array, put_tag_count, put_tagged, tagged, Array, Ctx, Decode, Encode, Node};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// Produce request. Built from borrowed slices, so a caller needs no heap: the record batches
/// stay where the accumulator encoded them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceRequest<'a> {
    /// The transactional id, or `None` for a non-transactional producer.
    pub transactional_id: Option<&'a str>,
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    pub acks: i16,
    /// How long the broker may wait for replication, in ms.
    pub timeout_ms: i32,
    /// The topics to produce to.
    pub topic_data: &'a [TopicProduceData<'a>],
}

impl ProduceRequest<'_> {
    /// Whether the broker answers this request (it does not with `acks = 0`).
    pub const fn expects_response(&self) -> bool {
        self.acks != 0
    }
}

impl Encode for ProduceRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_nullable_string(self.transactional_id, cx.flexible)?;
        out.put_i16(self.acks)?;
        out.put_i32(self.timeout_ms)?;
        put_array(out, self.topic_data, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for ProduceRequest<'_> {
    const API_KEY: ApiKey = ApiKey::Produce;
}

/// A decoded [`ProduceRequest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProduceRequestView<'a> {
    /// The transactional id, or `None`.
    pub transactional_id: Option<&'a str>,
    /// 0 (no response), 1 (leader) or -1 (all in-sync replicas).
    pub acks: i16,
    /// How long the broker may wait for replication, in ms.
    pub timeout_ms: i32,
    /// The topics to produce to.
    pub topic_data: Array<'a, TopicProduceDataView<'a>>,
}

impl ProduceRequestView<'_> {
    /// Whether the broker answers this request (it does not with `acks = 0`).
    pub const fn expects_response(&self) -> bool {
        self.acks != 0
    }
}

impl<'a> Decode<'a> for ProduceRequestView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.nullable_string_flex(cx.flexible)?;
        let acks = r.i16()?;
        let timeout_ms = r.i32()?;
        let topic_data = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { transactional_id, acks, timeout_ms, topic_data })
    }
}

impl<'a> DecodeRequest<'a> for ProduceRequestView<'a> {
    const API_KEY: ApiKey = ApiKey::Produce;
}

/// A decoded [`TopicProduceData`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicProduceDataView<'a> {
    /// The topic name (up to v12, else empty).
    pub name: &'a str,
    /// The topic id (v13+, else zero).
    pub topic_id: [u8; 16],
    /// The partitions to produce to.
    pub partition_data: Array<'a, PartitionProduceData<'a>>,
}

impl<'a> Decode<'a> for TopicProduceDataView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let (name, topic_id) = read_topic(r, cx)?;
        let partition_data = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { name, topic_id, partition_data })
    }
}

/// A topic's name (up to v12) or id (v13+, KIP-516), the other one empty.
fn read_topic<'a>(r: &mut Reader<'a>, cx: Ctx) -> Result<(&'a str, [u8; 16]), DecodeError> {
    if cx.version >= 13 {
        Ok(("", r.uuid()?))
    } else {
        Ok((r.string_flex(cx.flexible)?, [0; 16]))
    }
}

/// The name up to v12, the id from v13.
fn write_topic(out: &mut impl Sink, cx: Ctx, name: &str, topic_id: &[u8; 16]) -> Result<(), EncodeError> {
    if cx.version >= 13 {
        out.put_uuid(topic_id)
    } else {
        out.put_string(name, cx.flexible)
    }
}

/// One topic of a [`ProduceRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicProduceData<'a> {
    /// The topic name (sent up to v12).
    pub name: &'a str,
    /// The topic id (sent from v13, where it is required).
    pub topic_id: Option<[u8; 16]>,
    /// The partitions to produce to.
    pub partition_data: &'a [PartitionProduceData<'a>],
}

impl Encode for TopicProduceData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        if cx.version >= 13 {
            out.put_uuid(&self.topic_id.ok_or(EncodeError::MissingField("topic_id"))?)?;
        } else {
            out.put_string(self.name, cx.flexible)?;
        }
        put_array(out, self.partition_data, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// One partition of a [`TopicProduceData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProduceData<'a> {
    /// The partition index.
    pub index: i32,
    /// The encoded record batch(es), sent as they are.
    pub records: &'a [u8],
}

impl Encode for PartitionProduceData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.index)?;
        out.put_nullable_bytes(Some(self.records), cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// Null records, which the schema allows but no broker accepts, fail with
/// [`DecodeError::UnexpectedNull`].
impl<'a> Decode<'a> for PartitionProduceData<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let index = r.i32()?;
        let records = r.nullable_bytes_flex(cx.flexible)?.ok_or(DecodeError::UnexpectedNull)?;
        cx.skip_tags(r)?;
        Ok(Self { index, records })
    }
}

/// Produce response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProduceResponse<'a> {
    /// One entry per topic.
    pub responses: Array<'a, TopicProduceResponse<'a>>,
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Endpoints of the leaders named in `current_leader` hints (tag 0, v10+).
    pub node_endpoints: Array<'a, Node<'a>>,
}

impl<'a> Decode<'a> for ProduceResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let responses = Array::read(r, cx)?;
        let throttle_time_ms = r.i32()?;
        let mut node_endpoints = Array::empty(cx);
        if cx.flexible {
            r.tagged_fields(|tag, data| {
                if tag == 0 && cx.version >= 10 {
                    node_endpoints = tagged(data, cx, |r| Array::read(r, cx))?;
                }
                Ok(())
            })?;
        }
        Ok(Self { responses, throttle_time_ms, node_endpoints })
    }
}

impl<'a> Response<'a> for ProduceResponse<'a> {
    const API_KEY: ApiKey = ApiKey::Produce;
}

/// One topic of a [`ProduceResponse`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicProduceResponse<'a> {
    /// The topic name (up to v12, else empty).
    pub name: &'a str,
    /// The topic id (v13+, else zero).
    pub topic_id: [u8; 16],
    /// One entry per partition.
    pub partition_responses: Array<'a, PartitionProduceResponse<'a>>,
}

impl<'a> Decode<'a> for TopicProduceResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let (name, topic_id) = read_topic(r, cx)?;
        let partition_responses = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { name, topic_id, partition_responses })
    }
}

/// One partition of a [`TopicProduceResponse`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PartitionProduceResponse<'a> {
    /// The partition index.
    pub index: i32,
    /// The partition's error.
    pub error_code: ErrorCode,
    /// Offset of the first record written.
    pub base_offset: i64,
    /// Broker append time for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// The log start offset (v5+, else -1).
    pub log_start_offset: i64,
    /// Records that caused the batch to be dropped (v8+).
    pub record_errors: Array<'a, RecordError<'a>>,
    /// Summary of why the batch was dropped (v8+).
    pub error_message: Option<&'a str>,
    /// The partition's current leader, when the broker sends the hint (tag 0, v10+).
    pub current_leader: Option<LeaderIdAndEpoch>,
}

impl<'a> Decode<'a> for PartitionProduceResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let index = r.i32()?;
        let error_code = r.i16()?.into();
        let base_offset = r.i64()?;
        let log_append_time_ms = r.i64()?;
        let log_start_offset = if cx.version >= 5 { r.i64()? } else { -1 };
        let (record_errors, error_message) = if cx.version >= 8 {
            (Array::read(r, cx)?, r.nullable_string_flex(cx.flexible)?)
        } else {
            (Array::empty(cx), None)
        };
        let mut current_leader = None;
        if cx.flexible {
            r.tagged_fields(|tag, data| {
                if tag == 0 && cx.version >= 10 {
                    current_leader = Some(tagged(data, cx, |r| LeaderIdAndEpoch::read(r, cx))?);
                }
                Ok(())
            })?;
        }
        Ok(Self {
            index,
            error_code,
            base_offset,
            log_append_time_ms,
            log_start_offset,
            record_errors,
            error_message,
            current_leader,
        })
    }
}

/// A record that caused its batch to be dropped (`BatchIndexAndErrorMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordError<'a> {
    /// Index of the record in the batch.
    pub batch_index: i32,
    /// Why it was rejected.
    pub batch_index_error_message: Option<&'a str>,
}

impl<'a> Decode<'a> for RecordError<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let batch_index = r.i32()?;
        let batch_index_error_message = r.nullable_string_flex(cx.flexible)?;
        cx.skip_tags(r)?;
        Ok(Self { batch_index, batch_index_error_message })
    }
}

impl Encode for RecordError<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.batch_index)?;
        out.put_nullable_string(self.batch_index_error_message, cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// A KIP-951 leader hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaderIdAndEpoch {
    /// The leader's broker id, -1 if unknown.
    pub leader_id: i32,
    /// The leader epoch, -1 if unknown.
    pub leader_epoch: i32,
}

impl Decode<'_> for LeaderIdAndEpoch {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let leader_id = r.i32()?;
        let leader_epoch = r.i32()?;
        cx.skip_tags(r)?;
        Ok(Self { leader_id, leader_epoch })
    }
}

impl LeaderIdAndEpoch {
    /// The schema default: leader and epoch unknown. A hint equal to it is not sent.
    pub const UNKNOWN: Self = Self { leader_id: -1, leader_epoch: -1 };
}

impl Encode for LeaderIdAndEpoch {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.leader_id)?;
        out.put_i32(self.leader_epoch)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// Produce response as a broker builds it; [`ProduceResponse`] is its decoded form. Fields a
/// version does not carry are dropped (see [`EncodeResponse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProduceResponseData<'a> {
    /// One entry per topic.
    pub responses: &'a [TopicProduceResponseData<'a>],
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Endpoints of the leaders named in `current_leader` hints (tag 0, v10+, sent when not
    /// empty).
    pub node_endpoints: &'a [Node<'a>],
}

impl Encode for ProduceResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        put_array(out, self.responses, cx)?;
        out.put_i32(self.throttle_time_ms)?;
        if !cx.flexible {
            return Ok(());
        }
        let endpoints = cx.version >= 10 && !self.node_endpoints.is_empty();
        put_tag_count(out, &[endpoints])?;
        if endpoints {
            put_tagged(out, 0, self.node_endpoints, cx)?;
        }
        Ok(())
    }
}

impl EncodeResponse for ProduceResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::Produce;
}

/// One topic of a [`ProduceResponseData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicProduceResponseData<'a> {
    /// The topic name (sent up to v12).
    pub name: &'a str,
    /// The topic id (sent from v13).
    pub topic_id: [u8; 16],
    /// One entry per partition.
    pub partition_responses: &'a [PartitionProduceResponseData<'a>],
}

impl Encode for TopicProduceResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        write_topic(out, cx, self.name, &self.topic_id)?;
        put_array(out, self.partition_responses, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// One partition of a [`TopicProduceResponseData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionProduceResponseData<'a> {
    /// The partition index.
    pub index: i32,
    /// The partition's error.
    pub error_code: ErrorCode,
    /// Offset of the first record written, -1 on error.
    pub base_offset: i64,
    /// Broker append time for LogAppendTime topics, else -1.
    pub log_append_time_ms: i64,
    /// The log start offset (sent from v5).
    pub log_start_offset: i64,
    /// Records that caused the batch to be dropped (sent from v8).
    pub record_errors: &'a [RecordError<'a>],
    /// Summary of why the batch was dropped (sent from v8).
    pub error_message: Option<&'a str>,
    /// The partition's current leader (tag 0, v10+, sent unless `None` or
    /// [`LeaderIdAndEpoch::UNKNOWN`]).
    pub current_leader: Option<LeaderIdAndEpoch>,
}

impl PartitionProduceResponseData<'_> {
    /// A successful append at `base_offset`, with the other fields at their defaults.
    pub const fn ok(index: i32, base_offset: i64) -> Self {
        Self::with(index, ErrorCode::None, base_offset)
    }

    /// A failed append: `base_offset` -1 and the other fields at their defaults.
    pub const fn failed(index: i32, error_code: ErrorCode) -> Self {
        Self::with(index, error_code, -1)
    }

    const fn with(index: i32, error_code: ErrorCode, base_offset: i64) -> Self {
        Self {
            index,
            error_code,
            base_offset,
            log_append_time_ms: -1,
            log_start_offset: -1,
            record_errors: &[],
            error_message: None,
            current_leader: None,
        }
    }
}

impl Encode for PartitionProduceResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.index)?;
        out.put_i16(self.error_code.code())?;
        out.put_i64(self.base_offset)?;
        out.put_i64(self.log_append_time_ms)?;
        if cx.version >= 5 {
            out.put_i64(self.log_start_offset)?;
        }
        if cx.version >= 8 {
            put_array(out, self.record_errors, cx)?;
            out.put_nullable_string(self.error_message, cx.flexible)?;
        }
        if !cx.flexible {
            return Ok(());
        }
        let leader = self.current_leader.filter(|l| cx.version >= 10 && *l != LeaderIdAndEpoch::UNKNOWN);
        put_tag_count(out, &[leader.is_some()])?;
        match leader {
            Some(leader) => put_tagged(out, 0, &leader, cx),
            None => Ok(()),
        }
    }
}
