//! Metadata (key 3), versions 0-13, flexible from v9.
//!
//! What each version adds: v1 racks, controller id, internal flag and null topics (= all); v2
//! cluster id; v3 throttle time; v4 `allow_auto_topic_creation`; v5 offline replicas; v7 leader
//! epoch; v8 authorized operations; v10 topic ids; v12 topic ids in requests and null names;
//! v13 a top-level error code.

use super::codec::{only_default, put_array, Array, Ctx, Decode, Encode, Node};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// Metadata request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataRequest<'a> {
    /// The topics to describe, or `None` for all topics. v0 cannot say "no topics": both `None`
    /// and an empty slice mean all topics there.
    pub topics: Option<&'a [MetadataRequestTopic<'a>]>,
    /// Whether the broker may auto-create requested topics (v4+; earlier versions always allow
    /// it, so `false` below v4 is an error).
    pub allow_auto_topic_creation: bool,
    /// Ask for cluster authorized operations (v8-v10 only).
    pub include_cluster_authorized_operations: bool,
    /// Ask for topic authorized operations (v8+).
    pub include_topic_authorized_operations: bool,
}

impl<'a> MetadataRequest<'a> {
    /// A request for `topics` (or all topics) with the schema defaults.
    pub const fn new(topics: Option<&'a [MetadataRequestTopic<'a>]>) -> Self {
        Self {
            topics,
            allow_auto_topic_creation: true,
            include_cluster_authorized_operations: false,
            include_topic_authorized_operations: false,
        }
    }
}

impl Encode for MetadataRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        let v = cx.version;
        match self.topics {
            Some(topics) => put_array(out, topics, cx)?,
            None if v == 0 => out.put_array_len(0, false)?,
            None => out.put_null_array(cx.flexible)?,
        }
        self.write_after_topics(out, cx)
    }
}

impl MetadataRequest<'_> {
    /// Writes every field after the topic list, so a caller that lists topics from its own
    /// storage (the producer engine, any number of them) shares the rest of the encoding.
    pub(crate) fn write_after_topics(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        let v = cx.version;
        if v >= 4 {
            out.put_bool(self.allow_auto_topic_creation)?;
        } else {
            only_default(self.allow_auto_topic_creation, "allow_auto_topic_creation")?;
        }
        if (8..=10).contains(&v) {
            out.put_bool(self.include_cluster_authorized_operations)?;
        } else {
            only_default(!self.include_cluster_authorized_operations, "include_cluster_authorized_operations")?;
        }
        if v >= 8 {
            out.put_bool(self.include_topic_authorized_operations)?;
        } else {
            only_default(!self.include_topic_authorized_operations, "include_topic_authorized_operations")?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for MetadataRequest<'_> {
    const API_KEY: ApiKey = ApiKey::Metadata;
}

/// A decoded [`MetadataRequest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataRequestView<'a> {
    /// The topics to describe, or `None` for all topics (sent as null, or as an empty list at
    /// v0).
    pub topics: Option<Array<'a, MetadataRequestTopic<'a>>>,
    /// Whether the broker may auto-create requested topics (v4+, else true).
    pub allow_auto_topic_creation: bool,
    /// Ask for cluster authorized operations (v8-v10, else false).
    pub include_cluster_authorized_operations: bool,
    /// Ask for topic authorized operations (v8+, else false).
    pub include_topic_authorized_operations: bool,
}

impl<'a> Decode<'a> for MetadataRequestView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let v = cx.version;
        let topics =
            if v == 0 { Some(Array::read(r, cx)?).filter(|t| !t.is_empty()) } else { Array::read_nullable(r, cx)? };
        let allow_auto_topic_creation = v < 4 || r.bool()?;
        let include_cluster_authorized_operations = (8..=10).contains(&v) && r.bool()?;
        let include_topic_authorized_operations = v >= 8 && r.bool()?;
        cx.skip_tags(r)?;
        Ok(Self {
            topics,
            allow_auto_topic_creation,
            include_cluster_authorized_operations,
            include_topic_authorized_operations,
        })
    }
}

impl<'a> DecodeRequest<'a> for MetadataRequestView<'a> {
    const API_KEY: ApiKey = ApiKey::Metadata;
}

/// A topic in a [`MetadataRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataRequestTopic<'a> {
    /// The topic id (sent from v10; all zero when unknown).
    pub topic_id: [u8; 16],
    /// The topic name; `None` (v10+) when querying by id.
    pub name: Option<&'a str>,
}

impl<'a> MetadataRequestTopic<'a> {
    /// A topic by name.
    pub const fn named(name: &'a str) -> Self {
        Self { topic_id: [0; 16], name: Some(name) }
    }
}

impl Encode for MetadataRequestTopic<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        if cx.version >= 10 {
            out.put_uuid(&self.topic_id)?;
        } else if self.name.is_none() {
            return Err(EncodeError::MissingField("name"));
        }
        out.put_nullable_string(self.name, cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// The topic id is read from v10 (else zero); the name may be null from v10.
impl<'a> Decode<'a> for MetadataRequestTopic<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let topic_id = if cx.version >= 10 { r.uuid()? } else { [0; 16] };
        let name =
            if cx.version >= 10 { r.nullable_string_flex(cx.flexible)? } else { Some(r.string_flex(cx.flexible)?) };
        cx.skip_tags(r)?;
        Ok(Self { topic_id, name })
    }
}

/// Metadata response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataResponse<'a> {
    /// Throttle time in ms (v3+, else 0).
    pub throttle_time_ms: i32,
    /// The brokers of the cluster.
    pub brokers: Array<'a, Node<'a>>,
    /// The cluster id (v2+).
    pub cluster_id: Option<&'a str>,
    /// The controller's broker id (v1+, else -1).
    pub controller_id: i32,
    /// The topics.
    pub topics: Array<'a, MetadataResponseTopic<'a>>,
    /// Cluster authorized operations bitfield (v8-v10, else `i32::MIN`).
    pub cluster_authorized_operations: i32,
    /// Top-level error (v13+, else `NONE`), e.g. `REBOOTSTRAP_REQUIRED`.
    pub error_code: ErrorCode,
}

impl<'a> Decode<'a> for MetadataResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let v = cx.version;
        let throttle_time_ms = if v >= 3 { r.i32()? } else { 0 };
        let brokers = Array::read(r, cx)?;
        let cluster_id = if v >= 2 { r.nullable_string_flex(cx.flexible)? } else { None };
        let controller_id = if v >= 1 { r.i32()? } else { -1 };
        let topics = Array::read(r, cx)?;
        let cluster_authorized_operations = if (8..=10).contains(&v) { r.i32()? } else { i32::MIN };
        let error_code = if v >= 13 { r.i16()? } else { 0 }.into();
        cx.skip_tags(r)?;
        Ok(Self {
            throttle_time_ms,
            brokers,
            cluster_id,
            controller_id,
            topics,
            cluster_authorized_operations,
            error_code,
        })
    }
}

impl<'a> Response<'a> for MetadataResponse<'a> {
    const API_KEY: ApiKey = ApiKey::Metadata;
}

/// A topic in a [`MetadataResponse`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataResponseTopic<'a> {
    /// The topic's error.
    pub error_code: ErrorCode,
    /// The name; `None` only from v12 for a topic queried by an unknown id.
    pub name: Option<&'a str>,
    /// The topic id (v10+, else zero).
    pub topic_id: [u8; 16],
    /// Whether the topic is internal (v1+).
    pub is_internal: bool,
    /// The partitions.
    pub partitions: Array<'a, MetadataResponsePartition<'a>>,
    /// Topic authorized operations bitfield (v8+, else `i32::MIN`).
    pub topic_authorized_operations: i32,
}

impl<'a> Decode<'a> for MetadataResponseTopic<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let v = cx.version;
        let error_code = r.i16()?.into();
        let name = if v >= 12 { r.nullable_string_flex(cx.flexible)? } else { Some(r.string_flex(cx.flexible)?) };
        let topic_id = if v >= 10 { r.uuid()? } else { [0; 16] };
        let is_internal = v >= 1 && r.bool()?;
        let partitions = Array::read(r, cx)?;
        let topic_authorized_operations = if v >= 8 { r.i32()? } else { i32::MIN };
        cx.skip_tags(r)?;
        Ok(Self { error_code, name, topic_id, is_internal, partitions, topic_authorized_operations })
    }
}

/// A partition in a [`MetadataResponseTopic`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MetadataResponsePartition<'a> {
    /// The partition's error, e.g. `LEADER_NOT_AVAILABLE`.
    pub error_code: ErrorCode,
    /// The partition index.
    pub partition_index: i32,
    /// The leader's broker id, -1 if none.
    pub leader_id: i32,
    /// The leader epoch (v7+, else -1).
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: Array<'a, i32>,
    /// In-sync replicas.
    pub isr_nodes: Array<'a, i32>,
    /// Offline replicas (v5+, else empty).
    pub offline_replicas: Array<'a, i32>,
}

impl<'a> Decode<'a> for MetadataResponsePartition<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let error_code = r.i16()?.into();
        let partition_index = r.i32()?;
        let leader_id = r.i32()?;
        let leader_epoch = if cx.version >= 7 { r.i32()? } else { -1 };
        let replica_nodes = Array::read(r, cx)?;
        let isr_nodes = Array::read(r, cx)?;
        let offline_replicas = if cx.version >= 5 { Array::read(r, cx)? } else { Array::empty(cx) };
        cx.skip_tags(r)?;
        Ok(Self { error_code, partition_index, leader_id, leader_epoch, replica_nodes, isr_nodes, offline_replicas })
    }
}

/// Metadata response as a broker builds it; [`MetadataResponse`] is its decoded form. Fields a
/// version does not carry are dropped (see [`EncodeResponse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataResponseData<'a> {
    /// Throttle time in ms (sent from v3).
    pub throttle_time_ms: i32,
    /// The brokers of the cluster (racks sent from v1).
    pub brokers: &'a [Node<'a>],
    /// The cluster id (sent from v2).
    pub cluster_id: Option<&'a str>,
    /// The controller's broker id (sent from v1).
    pub controller_id: i32,
    /// The topics.
    pub topics: &'a [MetadataResponseTopicData<'a>],
    /// Cluster authorized operations bitfield (sent at v8-v10).
    pub cluster_authorized_operations: i32,
    /// Top-level error (sent from v13).
    pub error_code: ErrorCode,
}

impl Encode for MetadataResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        let v = cx.version;
        if v >= 3 {
            out.put_i32(self.throttle_time_ms)?;
        }
        put_array(out, self.brokers, cx)?;
        if v >= 2 {
            out.put_nullable_string(self.cluster_id, cx.flexible)?;
        }
        if v >= 1 {
            out.put_i32(self.controller_id)?;
        }
        put_array(out, self.topics, cx)?;
        if (8..=10).contains(&v) {
            out.put_i32(self.cluster_authorized_operations)?;
        }
        if v >= 13 {
            out.put_i16(self.error_code.code())?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for MetadataResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::Metadata;
}

/// A topic in a [`MetadataResponseData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataResponseTopicData<'a> {
    /// The topic's error.
    pub error_code: ErrorCode,
    /// The name; `None` (only v12+) for a topic queried by an unknown id.
    pub name: Option<&'a str>,
    /// The topic id (sent from v10).
    pub topic_id: [u8; 16],
    /// Whether the topic is internal (sent from v1).
    pub is_internal: bool,
    /// The partitions.
    pub partitions: &'a [MetadataResponsePartitionData<'a>],
    /// Topic authorized operations bitfield (sent from v8).
    pub topic_authorized_operations: i32,
}

impl Encode for MetadataResponseTopicData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        let v = cx.version;
        out.put_i16(self.error_code.code())?;
        if v >= 12 {
            out.put_nullable_string(self.name, cx.flexible)?;
        } else {
            out.put_string(self.name.ok_or(EncodeError::MissingField("name"))?, cx.flexible)?;
        }
        if v >= 10 {
            out.put_uuid(&self.topic_id)?;
        }
        if v >= 1 {
            out.put_bool(self.is_internal)?;
        }
        put_array(out, self.partitions, cx)?;
        if v >= 8 {
            out.put_i32(self.topic_authorized_operations)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

/// A partition in a [`MetadataResponseTopicData`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetadataResponsePartitionData<'a> {
    /// The partition's error.
    pub error_code: ErrorCode,
    /// The partition index.
    pub partition_index: i32,
    /// The leader's broker id, -1 if none.
    pub leader_id: i32,
    /// The leader epoch (sent from v7).
    pub leader_epoch: i32,
    /// All replicas.
    pub replica_nodes: &'a [i32],
    /// In-sync replicas.
    pub isr_nodes: &'a [i32],
    /// Offline replicas (sent from v5).
    pub offline_replicas: &'a [i32],
}

impl Encode for MetadataResponsePartitionData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i16(self.error_code.code())?;
        out.put_i32(self.partition_index)?;
        out.put_i32(self.leader_id)?;
        if cx.version >= 7 {
            out.put_i32(self.leader_epoch)?;
        }
        put_array(out, self.replica_nodes, cx)?;
        put_array(out, self.isr_nodes, cx)?;
        if cx.version >= 5 {
            put_array(out, self.offline_replicas, cx)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}
