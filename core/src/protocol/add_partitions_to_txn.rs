//! AddPartitionsToTxn (key 24), the client versions 0-3 (flexible from v3; v2 adds
//! `PRODUCER_FENCED`). Versions 4+ batch several transactions and are sent by brokers only
//! (KIP-890), so kprod does not implement them. Under transactions V2 the client does not send
//! this request at all: Produce v12+ adds partitions implicitly.
//!
//! [`TopicPartitionErrors`] (a topic name and one error per partition) is also the shape of the
//! TxnOffsetCommit response.

use super::codec::{put_array, Array, Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// AddPartitionsToTxn request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnRequest<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The partitions to add, by topic.
    pub topics: &'a [AddPartitionsToTxnTopic<'a>],
}

/// One topic of an [`AddPartitionsToTxnRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnTopic<'a> {
    /// The topic name.
    pub name: &'a str,
    /// The partition indexes.
    pub partitions: &'a [i32],
}

impl Encode for AddPartitionsToTxnRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.transactional_id, cx.flexible)?;
        out.put_i64(self.producer_id)?;
        out.put_i16(self.producer_epoch)?;
        put_array(out, self.topics, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Encode for AddPartitionsToTxnTopic<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.name, cx.flexible)?;
        put_array(out, self.partitions, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for AddPartitionsToTxnRequest<'_> {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
}

/// A decoded [`AddPartitionsToTxnRequest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddPartitionsToTxnRequestView<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The partitions to add, by topic.
    pub topics: Array<'a, AddPartitionsToTxnTopicView<'a>>,
}

/// A decoded [`AddPartitionsToTxnTopic`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddPartitionsToTxnTopicView<'a> {
    /// The topic name.
    pub name: &'a str,
    /// The partition indexes.
    pub partitions: Array<'a, i32>,
}

impl<'a> Decode<'a> for AddPartitionsToTxnRequestView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.string_flex(cx.flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let topics = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { transactional_id, producer_id, producer_epoch, topics })
    }
}

impl<'a> Decode<'a> for AddPartitionsToTxnTopicView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let name = r.string_flex(cx.flexible)?;
        let partitions = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { name, partitions })
    }
}

impl<'a> DecodeRequest<'a> for AddPartitionsToTxnRequestView<'a> {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
}

/// One partition's error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionError {
    /// The partition index.
    pub partition_index: i32,
    /// The error.
    pub error_code: ErrorCode,
}

impl Decode<'_> for PartitionError {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let partition_index = r.i32()?;
        let error_code = r.i16()?.into();
        cx.skip_tags(r)?;
        Ok(Self { partition_index, error_code })
    }
}

impl Encode for PartitionError {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.partition_index)?;
        out.put_i16(self.error_code.code())?;
        out.put_empty_tags(cx.flexible)
    }
}

/// A topic and one error per partition (decoded).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TopicPartitionErrors<'a> {
    /// The topic name.
    pub name: &'a str,
    /// Each partition's error.
    pub partitions: Array<'a, PartitionError>,
}

impl<'a> Decode<'a> for TopicPartitionErrors<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let name = r.string_flex(cx.flexible)?;
        let partitions = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { name, partitions })
    }
}

/// A topic and one error per partition, built from a slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicPartitionErrorsData<'a> {
    /// The topic name.
    pub name: &'a str,
    /// Each partition's error.
    pub partitions: &'a [PartitionError],
}

impl Encode for TopicPartitionErrorsData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.name, cx.flexible)?;
        put_array(out, self.partitions, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// AddPartitionsToTxn response (`results_by_topic_v3_and_below`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AddPartitionsToTxnResponse<'a> {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Each partition's result, by topic.
    pub results: Array<'a, TopicPartitionErrors<'a>>,
}

impl<'a> Decode<'a> for AddPartitionsToTxnResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let results = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { throttle_time_ms, results })
    }
}

impl<'a> Response<'a> for AddPartitionsToTxnResponse<'a> {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
}

/// An [`AddPartitionsToTxnResponse`] built from slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddPartitionsToTxnResponseData<'a> {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Each partition's result, by topic.
    pub results: &'a [TopicPartitionErrorsData<'a>],
}

impl Encode for AddPartitionsToTxnResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms)?;
        put_array(out, self.results, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for AddPartitionsToTxnResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::AddPartitionsToTxn;
}
