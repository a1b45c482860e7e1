//! [`PartitionInfo`] and [`Node`]: what `partitions_for` returns, as the Java client's
//! `PartitionInfo` and `Node`, owned so they outlive the producer's lock.

use std::fmt;

use kprod_core::producer::{PartitionInfo as CoreInfo, Producer as Engine, SendError};
use kprod_core::time::Instant;

use crate::send::partition_count;

/// A broker as the cluster metadata names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Node {
    /// The broker id.
    pub id: i32,
    /// Its advertised host; empty if the metadata's broker list does not name it (a replica
    /// on a broker that is down), as Java's `Node(id, "", -1)`.
    pub host: String,
    /// Its advertised port; `None` where `host` is empty.
    pub port: Option<u16>,
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port} (id: {})", self.host, self.id),
            None => write!(f, "id: {} (not in the broker list)", self.id),
        }
    }
}

/// One partition of a topic, from the producer's latest metadata (Java's `PartitionInfo`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionInfo {
    /// The topic.
    pub topic: String,
    /// The partition number.
    pub partition: u32,
    /// The leader, `None` while the partition has none.
    pub leader: Option<Node>,
    /// Every replica, preferred leader first.
    pub replicas: Vec<Node>,
    /// The replicas in sync with the leader.
    pub in_sync_replicas: Vec<Node>,
    /// The replicas whose log directory is offline.
    pub offline_replicas: Vec<Node>,
}

/// The partitions of `topic` with leaders and replica sets: makes the topic known to the engine
/// as `send` would, and is a retriable [`SendError`] until its metadata arrives.
pub(crate) fn partition_infos(
    engine: &mut Engine<'static>,
    topic: &str,
    now: Instant,
) -> Result<Vec<PartitionInfo>, SendError> {
    partition_count(engine, topic, now)?;
    // The count is known, so the topic is, and the infos are there.
    let infos = engine.partition_infos(topic).ok_or(SendError::MetadataPending)?;
    let node = |id: i32| match engine.broker_address(id) {
        Some((host, port)) => Node { id, host: host.to_owned(), port: Some(port) },
        None => Node { id, host: String::new(), port: None },
    };
    let nodes = |ids: &[i32]| ids.iter().map(|&id| node(id)).collect();
    let owned = |i: &CoreInfo<'_>| PartitionInfo {
        topic: topic.to_owned(),
        partition: i.partition,
        leader: i.leader.map(node),
        replicas: nodes(i.replicas),
        in_sync_replicas: nodes(i.in_sync_replicas),
        offline_replicas: nodes(i.offline_replicas),
    };
    Ok(infos.iter().map(owned).collect())
}
