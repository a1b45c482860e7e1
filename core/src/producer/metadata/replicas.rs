//! Replica sets per partition (Java's `PartitionInfo`: replicas, in-sync and offline replicas),
//! kept only with the `alloc` feature: the engine never needs them to produce, and a fixed-size
//! table of replica lists would cost a firmware RAM it does not use. The sets are filed by
//! topic slot and partition number, so they survive moves of a topic's partition block.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use super::{Metadata, TopicIdx};
use crate::protocol::metadata::MetadataResponsePartition;

/// The replica sets a Metadata response gave for one partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ReplicaSets {
    /// Every replica's broker id, preferred leader first.
    pub(crate) replicas: Vec<i32>,
    /// The in-sync replicas.
    pub(crate) isr: Vec<i32>,
    /// Replicas whose log directory is offline (Metadata v5+; empty before).
    pub(crate) offline: Vec<i32>,
}

impl ReplicaSets {
    /// No replicas (a partition no response described yet).
    pub(crate) const EMPTY_REF: &'static Self = &Self { replicas: Vec::new(), isr: Vec::new(), offline: Vec::new() };

    fn from_response(p: &MetadataResponsePartition<'_>) -> Self {
        Self {
            replicas: p.replica_nodes.iter().collect(),
            isr: p.isr_nodes.iter().collect(),
            offline: p.offline_replicas.iter().collect(),
        }
    }
}

/// The replica sets of every known partition, by (topic slot, partition).
pub(crate) type ReplicaTable = BTreeMap<(u16, u32), ReplicaSets>;

impl Metadata<'_> {
    /// Files the replica sets of partition `p` of topic slot `t` (an entry the cache accepted).
    pub(super) fn store_replicas(&mut self, t: usize, p: &MetadataResponsePartition<'_>) {
        // The caller checked the index is a partition of the topic, so it is >= 0.
        let partition = p.partition_index.unsigned_abs();
        // Topic slots are below TOPIC_LIMIT, a u16.
        self.replicas.insert((t as u16, partition), ReplicaSets::from_response(p));
    }

    /// Drops the replica sets of topic slot `t` from partition `from` on (a topic that was
    /// removed, recreated or shrank).
    pub(super) fn forget_replicas(&mut self, t: usize, from: u32) {
        // Topic slots are below TOPIC_LIMIT, a u16.
        let t = t as u16;
        self.replicas.retain(|&(topic, p), _| topic != t || p < from);
    }

    /// The replica sets of partition `p` of topic `t`, once a response described it.
    pub(crate) fn replicas(&self, t: TopicIdx, p: u32) -> Option<&ReplicaSets> {
        self.replicas.get(&(t.0, p))
    }
}
