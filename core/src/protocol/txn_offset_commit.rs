//! TxnOffsetCommit (key 28), versions 0-5, flexible from v3, sent to the **group** coordinator.
//!
//! v2 adds the committed leader epoch; v3 the consumer group metadata (generation id, member id,
//! group instance id) so the group coordinator fences zombies (KIP-447); v4
//! `TRANSACTION_ABORTABLE`; v5 (transactions V2, KIP-890) adds the group to the transaction
//! implicitly, without AddOffsetsToTxn. The response has the shape of
//! [`TopicPartitionErrors`].

use super::add_partitions_to_txn::{TopicPartitionErrors, TopicPartitionErrorsData};
use super::codec::{only_default, put_array, Array, Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// The consumer group fields of v3+ (KIP-447), with their defaults below v3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupMember<'a> {
    /// The group's generation id (-1: unknown).
    pub generation_id: i32,
    /// The member id ("" : unknown).
    pub member_id: &'a str,
    /// The static member's instance id.
    pub group_instance_id: Option<&'a str>,
}

impl GroupMember<'_> {
    /// No member: what versions before 3 imply.
    pub const UNKNOWN: Self = Self { generation_id: -1, member_id: "", group_instance_id: None };
}

/// TxnOffsetCommit request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitRequest<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The consumer group.
    pub group_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The group member (v3+; must be [`GroupMember::UNKNOWN`] below).
    pub member: GroupMember<'a>,
    /// The offsets, by topic.
    pub topics: &'a [TxnOffsetCommitTopic<'a>],
}

/// One topic of a [`TxnOffsetCommitRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitTopic<'a> {
    /// The topic name.
    pub name: &'a str,
    /// The offsets of its partitions.
    pub partitions: &'a [TxnOffsetCommitPartition<'a>],
}

/// One partition's offset. One type both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitPartition<'a> {
    /// The partition index.
    pub partition_index: i32,
    /// The offset to commit (the next record the group reads).
    pub committed_offset: i64,
    /// The leader epoch of the last consumed record (v2+, else -1).
    pub committed_leader_epoch: i32,
    /// Metadata stored with the offset.
    pub committed_metadata: Option<&'a str>,
}

fn write_member(out: &mut impl Sink, cx: Ctx, m: &GroupMember<'_>) -> Result<(), EncodeError> {
    if cx.version < 3 {
        return only_default(*m == GroupMember::UNKNOWN, "generation_id");
    }
    out.put_i32(m.generation_id)?;
    out.put_string(m.member_id, cx.flexible)?;
    out.put_nullable_string(m.group_instance_id, cx.flexible)
}

fn read_member<'a>(r: &mut Reader<'a>, cx: Ctx) -> Result<GroupMember<'a>, DecodeError> {
    if cx.version < 3 {
        return Ok(GroupMember::UNKNOWN);
    }
    let generation_id = r.i32()?;
    let member_id = r.string_flex(cx.flexible)?;
    let group_instance_id = r.nullable_string_flex(cx.flexible)?;
    Ok(GroupMember { generation_id, member_id, group_instance_id })
}

impl Encode for TxnOffsetCommitRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.transactional_id, cx.flexible)?;
        out.put_string(self.group_id, cx.flexible)?;
        out.put_i64(self.producer_id)?;
        out.put_i16(self.producer_epoch)?;
        write_member(out, cx, &self.member)?;
        put_array(out, self.topics, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Encode for TxnOffsetCommitTopic<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.name, cx.flexible)?;
        put_array(out, self.partitions, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// Below v2 the leader epoch is not sent (the Java client drops it too).
impl Encode for TxnOffsetCommitPartition<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.partition_index)?;
        out.put_i64(self.committed_offset)?;
        if cx.version >= 2 {
            out.put_i32(self.committed_leader_epoch)?;
        }
        out.put_nullable_string(self.committed_metadata, cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl<'a> Decode<'a> for TxnOffsetCommitPartition<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let partition_index = r.i32()?;
        let committed_offset = r.i64()?;
        let committed_leader_epoch = if cx.version >= 2 { r.i32()? } else { -1 };
        let committed_metadata = r.nullable_string_flex(cx.flexible)?;
        cx.skip_tags(r)?;
        Ok(Self { partition_index, committed_offset, committed_leader_epoch, committed_metadata })
    }
}

impl Request for TxnOffsetCommitRequest<'_> {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
}

/// A decoded [`TxnOffsetCommitRequest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxnOffsetCommitRequestView<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The consumer group.
    pub group_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The group member (v3+, else [`GroupMember::UNKNOWN`]).
    pub member: GroupMember<'a>,
    /// The offsets, by topic.
    pub topics: Array<'a, TxnOffsetCommitTopicView<'a>>,
}

/// A decoded [`TxnOffsetCommitTopic`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxnOffsetCommitTopicView<'a> {
    /// The topic name.
    pub name: &'a str,
    /// The offsets of its partitions.
    pub partitions: Array<'a, TxnOffsetCommitPartition<'a>>,
}

impl<'a> Decode<'a> for TxnOffsetCommitRequestView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.string_flex(cx.flexible)?;
        let group_id = r.string_flex(cx.flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let member = read_member(r, cx)?;
        let topics = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { transactional_id, group_id, producer_id, producer_epoch, member, topics })
    }
}

impl<'a> Decode<'a> for TxnOffsetCommitTopicView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let name = r.string_flex(cx.flexible)?;
        let partitions = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { name, partitions })
    }
}

impl<'a> DecodeRequest<'a> for TxnOffsetCommitRequestView<'a> {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
}

/// TxnOffsetCommit response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TxnOffsetCommitResponse<'a> {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Each partition's result, by topic.
    pub topics: Array<'a, TopicPartitionErrors<'a>>,
}

impl<'a> Decode<'a> for TxnOffsetCommitResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let topics = Array::read(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { throttle_time_ms, topics })
    }
}

impl<'a> Response<'a> for TxnOffsetCommitResponse<'a> {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
}

/// A [`TxnOffsetCommitResponse`] built from slices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnOffsetCommitResponseData<'a> {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// Each partition's result, by topic.
    pub topics: &'a [TopicPartitionErrorsData<'a>],
}

impl Encode for TxnOffsetCommitResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms)?;
        put_array(out, self.topics, cx)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for TxnOffsetCommitResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::TxnOffsetCommit;
}
