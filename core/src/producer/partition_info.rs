//! [`PartitionInfo`]: what the cluster metadata says about each partition of a topic, as the
//! Java client's `PartitionInfo` (leader, replicas, in-sync and offline replicas). Feature
//! `alloc` only: the replica sets are kept beside the cache on the heap (`metadata/replicas.rs`).

use alloc::vec::Vec;

use super::engine::Producer;
use super::metadata::{ReplicaSets, TopicState};
use crate::partitioner::Partitioner;

/// One partition of a topic, from the last Metadata response that described it. Broker ids
/// name the cluster's brokers; [`Producer::broker_address`] gives their address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo<'a> {
    /// The partition number.
    pub partition: u32,
    /// The leader's broker id, `None` while the partition has no leader.
    pub leader: Option<i32>,
    /// Every replica's broker id, preferred leader first.
    pub replicas: &'a [i32],
    /// The in-sync replicas' broker ids.
    pub in_sync_replicas: &'a [i32],
    /// The broker ids of replicas whose log directory is offline (Metadata v5+).
    pub offline_replicas: &'a [i32],
}

impl<P: Partitioner> Producer<'_, P> {
    /// Every partition of `topic` with its leader and replica sets, in partition order, once
    /// its metadata is known (`None` before, or for a topic the producer does not know: a
    /// [`Producer::send`] or a `partition_count` probe makes it wanted).
    pub fn partition_infos(&self, topic: &str) -> Option<Vec<PartitionInfo<'_>>> {
        let t = self.meta.topic(topic)?;
        self.meta.topic_slot(t).filter(|s| s.state() == TopicState::Known)?;
        let count = self.meta.partition_count(t)?;
        let empty = ReplicaSets::EMPTY_REF;
        let infos = (0..count).map(|p| {
            let leader = self.meta.partition(t, p).and_then(|pi| self.meta.leader(pi));
            let sets = self.meta.replicas(t, p).unwrap_or(empty);
            PartitionInfo {
                partition: p,
                leader,
                replicas: &sets.replicas,
                in_sync_replicas: &sets.isr,
                offline_replicas: &sets.offline,
            }
        });
        Some(infos.collect())
    }

    /// The host and port of the cluster's broker `node_id`, if the last metadata listed it.
    pub fn broker_address(&self, node_id: i32) -> Option<(&str, u16)> {
        let b = self.meta.broker(node_id).filter(|_| node_id >= 0)?;
        Some((b.host.as_str(), b.port))
    }
}
