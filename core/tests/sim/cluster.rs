//! The simulated cluster's state: brokers, topics, partition leaders with leader epochs, and
//! per-partition logs with Kafka's idempotent-producer bookkeeping.
//!
//! Idempotence follows Kafka 4.x (`ProducerAppendInfo`, `ProducerStateEntry`, `UnifiedLog`):
//! - per producer id and partition the broker keeps the epoch and the last 5 batches' sequence
//!   ranges with their offsets;
//! - a batch whose epoch and sequence range equal a cached one is a duplicate: nothing is
//!   written and the original offset is returned (with NONE, as Kafka does; or with
//!   DUPLICATE_SEQUENCE_NUMBER when [`Cluster::duplicate_error`] is set);
//! - an epoch older than the partition's is INVALID_PRODUCER_EPOCH;
//! - a newer epoch must start at sequence 0 (else OUT_OF_ORDER_SEQUENCE_NUMBER), and resets the
//!   sequence expectations;
//! - the same epoch must continue at last sequence + 1 (wrapping after `i32::MAX`), else
//!   OUT_OF_ORDER_SEQUENCE_NUMBER;
//! - an unknown producer id is accepted at any sequence: since KIP-360 (Kafka 2.5) the broker
//!   no longer answers UNKNOWN_PRODUCER_ID to Produce;
//! - InitProducerId without a transactional id always returns a fresh producer id at epoch 0,
//!   even when the request names the current id and epoch (Kafka's `TransactionCoordinator`
//!   "blindly accepts" it): the engine must restart its sequences either way.

use alloc::collections::{BTreeMap, VecDeque};

use kprod_core::compression::Compression;
use kprod_core::protocol::ErrorCode;

/// The port every simulated broker listens on.
pub const PORT: u16 = 9092;
/// How many batches per producer id Kafka keeps for deduplication.
pub const DEDUP_BATCHES: usize = 5;

/// The host name of broker `node`.
pub fn host(node: i32) -> String {
    format!("sim-{node}")
}

/// The broker a host name names (`sim-N`).
pub fn node_of(host: &str) -> Option<i32> {
    host.strip_prefix("sim-")?.parse().ok()
}

/// One record as the log stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Its offset.
    pub offset: i64,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value.
    pub value: Option<Vec<u8>>,
    /// The producer id, epoch and the record's own sequence (-1 without idempotence).
    pub producer: (i64, i16, i32),
}

#[derive(Debug, Clone, Copy)]
struct BatchMeta {
    first_seq: i32,
    last_seq: i32,
    first_offset: i64,
}

#[derive(Debug, Clone)]
struct ProducerEntry {
    epoch: i16,
    batches: VecDeque<BatchMeta>,
}

/// One partition: its leader, and its log (shared by all replicas: the sim's replication is
/// perfect, so a leader change loses nothing that was acknowledged).
#[derive(Debug, Clone)]
pub struct Partition {
    /// The leader's node id, -1 when offline.
    pub leader: i32,
    /// The leader epoch.
    pub epoch: i32,
    /// The leader and epoch before the last change (what a lagging broker still reports).
    pub previous: (i32, i32),
    /// The records.
    pub log: Vec<Stored>,
    /// Kafka accepted a batch with a non-zero first sequence from a producer id it kept no state
    /// for (its first batch here): a sequence gap it cannot see, so send order may break.
    pub blind_gap: bool,
    /// Transaction markers: (position in the log, producer id, commit), in order.
    pub markers: Vec<(usize, i64, bool)>,
    producers: BTreeMap<i64, ProducerEntry>,
}

impl Partition {
    fn new(leader: i32) -> Self {
        Self {
            leader,
            epoch: 0,
            previous: (leader, 0),
            log: Vec::new(),
            blind_gap: false,
            markers: Vec::new(),
            producers: BTreeMap::new(),
        }
    }

    /// Writes a transaction marker of `pid` at `epoch` (the coordinator's current one: under
    /// transaction.version 2 the bumped epoch, which later batches must start over at).
    pub fn write_marker(&mut self, pid: i64, epoch: i16, commit: bool) {
        self.markers.push((self.log.len(), pid, commit));
        if let Some(e) = self.producers.get_mut(&pid) {
            if epoch > e.epoch {
                e.epoch = epoch;
                e.batches.clear();
            }
        }
    }

    /// The next offset.
    pub fn end_offset(&self) -> i64 {
        self.log.len() as i64
    }

    fn set_leader(&mut self, leader: i32) {
        self.previous = (self.leader, self.epoch);
        self.leader = leader;
        self.epoch += 1;
    }
}

/// A topic.
#[derive(Debug, Clone)]
pub struct Topic {
    /// Its name.
    pub name: String,
    /// Its id (Metadata v10+, Produce v13).
    pub id: [u8; 16],
    /// Its partitions.
    pub partitions: Vec<Partition>,
}

/// A broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broker {
    /// Its node id.
    pub id: i32,
    /// Whether it is running.
    pub up: bool,
}

/// The version ranges a broker advertises in ApiVersions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Versions {
    /// Produce.
    pub produce: (i16, i16),
    /// Metadata.
    pub metadata: (i16, i16),
    /// InitProducerId.
    pub init_producer_id: (i16, i16),
    /// ApiVersions.
    pub api_versions: (i16, i16),
}

impl Versions {
    /// Kafka 4.1: Produce up to v13 (topic ids). Kafka still advertises Produce v0 (KIP-896).
    pub const KAFKA_4_1: Self =
        Self { produce: (0, 13), metadata: (0, 13), init_producer_id: (0, 6), api_versions: (0, 4) };
    /// Kafka 4.0: Produce up to v12.
    pub const KAFKA_4_0: Self =
        Self { produce: (0, 12), metadata: (0, 13), init_producer_id: (0, 5), api_versions: (0, 4) };
    /// A broker capped at Produce v9 (flexible, but no KIP-951 leader hints).
    pub const NO_HINTS: Self =
        Self { produce: (3, 9), metadata: (0, 12), init_producer_id: (0, 4), api_versions: (0, 3) };
}

/// What the cluster did with one partition of a Produce request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Appended {
    /// The error code answered.
    pub code: ErrorCode,
    /// The base offset answered (-1 on error).
    pub base_offset: i64,
    /// Whether records were written (an error after the append still wrote them).
    pub wrote: bool,
}

impl Appended {
    const fn error(code: ErrorCode) -> Self {
        Self { code, base_offset: -1, wrote: false }
    }
}

/// Counters of what the cluster saw.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClusterStats {
    /// Produce partitions handled.
    pub produce_partitions: u64,
    /// Batches written.
    pub appended: u64,
    /// Bytes of the record batches written, as they came over the wire (compressed).
    pub appended_bytes: u64,
    /// The largest record batch written, in bytes as it came over the wire.
    pub largest_batch: u64,
    /// Duplicates answered with the original offset.
    pub duplicates: u64,
    /// MESSAGE_TOO_LARGE answers (a batch over `max_message_bytes`).
    pub too_large: u64,
    /// OUT_OF_ORDER_SEQUENCE_NUMBER answers.
    pub out_of_order: u64,
    /// INVALID_PRODUCER_EPOCH answers.
    pub invalid_epoch: u64,
    /// NOT_LEADER_OR_FOLLOWER answers for a real leadership mismatch.
    pub not_leader: u64,
    /// Errors injected by faults or hooks.
    pub injected: u64,
    /// InitProducerId answers with a new id.
    pub producer_ids: u64,
    /// The most partitions one Produce request carried.
    pub max_request_partitions: u64,
    /// The largest Produce request, in bytes (its body: the frame less size prefix and header).
    pub max_request_bytes: u64,
}

/// The cluster.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The brokers.
    pub brokers: Vec<Broker>,
    /// The topics.
    pub topics: Vec<Topic>,
    /// What each broker advertises.
    pub versions: Versions,
    /// Answer duplicates with DUPLICATE_SEQUENCE_NUMBER (and the original offset) instead of
    /// NONE.
    pub duplicate_error: bool,
    /// Counters.
    pub stats: ClusterStats,
    /// Protocol violations by the producer (bad batches, wrong fields).
    pub violations: Vec<String>,
    /// `throttle_time_ms` of every Produce response (KIP-219).
    pub throttle_ms: i32,
    /// The topics' `max.message.bytes`: a larger batch is refused with MESSAGE_TOO_LARGE.
    pub max_message_bytes: Option<usize>,
    /// The topics each Metadata request named, in order.
    pub metadata_requests: Vec<Vec<String>>,
    /// The transaction and group coordinator, in a transactional run.
    pub txn: Option<super::coordinator::Coordinator>,
    /// Keep a note of every Produce partition handled (for traces).
    pub trace: bool,
    /// Those notes, taken by the driver.
    pub notes: Vec<String>,
    next_producer_id: i64,
}

impl Cluster {
    /// `brokers` brokers (ids 0..), all up, and `topics` (name, partitions) with leaders spread
    /// round robin.
    pub fn new(brokers: usize, topics: &[(&str, usize)]) -> Self {
        let n = brokers.max(1) as i32;
        let mut next = 0;
        let topics = topics
            .iter()
            .enumerate()
            .map(|(t, &(name, count))| Topic {
                name: name.to_owned(),
                id: topic_id(t),
                partitions: (0..count)
                    .map(|_| {
                        next += 1;
                        Partition::new((next - 1) % n)
                    })
                    .collect(),
            })
            .collect();
        Self {
            brokers: (0..n).map(|id| Broker { id, up: true }).collect(),
            topics,
            versions: Versions::KAFKA_4_1,
            duplicate_error: false,
            stats: ClusterStats::default(),
            violations: Vec::new(),
            metadata_requests: Vec::new(),
            throttle_ms: 0,
            max_message_bytes: None,
            txn: None,
            trace: false,
            notes: Vec::new(),
            next_producer_id: 1000,
        }
    }

    /// Whether broker `node` is running.
    pub fn is_up(&self, node: i32) -> bool {
        self.brokers.iter().any(|b| b.id == node && b.up)
    }

    /// The running brokers.
    pub fn up_brokers(&self) -> Vec<i32> {
        self.brokers.iter().filter(|b| b.up).map(|b| b.id).collect()
    }

    /// A topic by name.
    pub fn topic(&self, name: &str) -> Option<usize> {
        self.topics.iter().position(|t| t.name == name)
    }

    /// A topic by id.
    pub fn topic_by_id(&self, id: &[u8; 16]) -> Option<usize> {
        self.topics.iter().position(|t| &t.id == id)
    }

    /// Moves the leadership of a partition to `to` (-1: offline) with an epoch bump.
    pub fn move_leader(&mut self, topic: usize, partition: usize, to: i32) {
        if let Some(p) = self.topics.get_mut(topic).and_then(|t| t.partitions.get_mut(partition)) {
            p.set_leader(to);
        }
    }

    /// Adds partitions to a topic until it has `count`, led by running brokers round robin
    /// (Kafka only ever grows a topic).
    pub fn grow_topic(&mut self, topic: usize, count: usize) {
        let up = self.up_brokers();
        let Some(t) = self.topics.get_mut(topic) else {
            return;
        };
        while t.partitions.len() < count {
            let leader = if up.is_empty() { -1 } else { up[t.partitions.len() % up.len()] };
            t.partitions.push(Partition::new(leader));
        }
    }

    /// Stops broker `node`: the partitions it led move to another running broker (`pick` chooses
    /// among them), or go offline when none runs.
    pub fn broker_down(&mut self, node: i32, mut pick: impl FnMut(&[i32]) -> i32) {
        for b in self.brokers.iter_mut().filter(|b| b.id == node) {
            b.up = false;
        }
        let up = self.up_brokers();
        for p in self.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.leader == node) {
            p.set_leader(if up.is_empty() { -1 } else { pick(&up) });
        }
    }

    /// Starts broker `node` again; offline partitions elect it.
    pub fn broker_up(&mut self, node: i32) {
        for b in self.brokers.iter_mut().filter(|b| b.id == node) {
            b.up = true;
        }
        for p in self.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()).filter(|p| p.leader < 0) {
            p.set_leader(node);
        }
    }

    /// A fresh producer id (InitProducerId without a transactional id).
    pub fn new_producer_id(&mut self) -> i64 {
        self.stats.producer_ids += 1;
        self.next_producer_id += 1;
        self.next_producer_id
    }

    /// Appends one batch (already parsed: its producer state and records) to a partition with
    /// Kafka's idempotence checks. The caller checked leadership.
    pub fn append(&mut self, topic: usize, partition: usize, batch: &BatchIn) -> Appended {
        let duplicate_error = self.duplicate_error;
        let p = &mut self.topics[topic].partitions[partition];
        let (pid, epoch, first_seq) = batch.producer;
        if pid < 0 {
            return Self::write(p, batch, None, &mut self.stats);
        }
        let count = batch.records.len() as i64;
        let last_seq = ((i64::from(first_seq) + count - 1) % (i64::from(i32::MAX) + 1)) as i32;
        let entry = p.producers.get(&pid);
        if let Some(e) = entry {
            if epoch < e.epoch {
                self.stats.invalid_epoch += 1;
                return Appended::error(ErrorCode::InvalidProducerEpoch);
            }
            if epoch == e.epoch {
                if let Some(dup) = e.batches.iter().find(|b| b.first_seq == first_seq && b.last_seq == last_seq) {
                    self.stats.duplicates += 1;
                    let code = if duplicate_error { ErrorCode::DuplicateSequenceNumber } else { ErrorCode::None };
                    return Appended { code, base_offset: dup.first_offset, wrote: false };
                }
                let last = e.batches.back().map_or(-1, |b| b.last_seq);
                let in_sequence = first_seq as i64 == last as i64 + 1 || (first_seq == 0 && last == i32::MAX);
                if !in_sequence {
                    self.stats.out_of_order += 1;
                    return Appended::error(ErrorCode::OutOfOrderSequenceNumber);
                }
            } else if first_seq != 0 {
                self.stats.out_of_order += 1;
                return Appended::error(ErrorCode::OutOfOrderSequenceNumber);
            }
        }
        p.blind_gap |= entry.is_none() && first_seq != 0;
        let meta = BatchMeta { first_seq, last_seq, first_offset: p.end_offset() };
        let e = p.producers.entry(pid).or_insert(ProducerEntry { epoch, batches: VecDeque::new() });
        if e.epoch != epoch {
            e.epoch = epoch;
            e.batches.clear();
        }
        e.batches.push_back(meta);
        while e.batches.len() > DEDUP_BATCHES {
            e.batches.pop_front();
        }
        Self::write(p, batch, Some((pid, epoch, first_seq)), &mut self.stats)
    }

    fn write(
        p: &mut Partition,
        batch: &BatchIn,
        producer: Option<(i64, i16, i32)>,
        stats: &mut ClusterStats,
    ) -> Appended {
        let base = p.end_offset();
        for (i, (key, value)) in batch.records.iter().enumerate() {
            let producer = producer.map_or((-1, -1, -1), |(id, e, s)| (id, e, s.wrapping_add(i as i32)));
            p.log.push(Stored { offset: base + i as i64, key: key.clone(), value: value.clone(), producer });
        }
        stats.appended += 1;
        stats.appended_bytes += batch.wire_len as u64;
        stats.largest_batch = stats.largest_batch.max(batch.wire_len as u64);
        Appended { code: ErrorCode::None, base_offset: base, wrote: true }
    }
}

/// A record's key and value.
pub type KeyValue = (Option<Vec<u8>>, Option<Vec<u8>>);

/// A batch as the broker read it from a Produce request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchIn {
    /// Producer id, epoch and base sequence.
    pub producer: (i64, i16, i32),
    /// (key, value) of each record.
    pub records: Vec<KeyValue>,
    /// The batch's codec.
    pub compression: Compression,
    /// Attribute bit 4: the batch belongs to a transaction.
    pub transactional: bool,
    /// The batch's size on the wire, header included.
    pub wire_len: usize,
}

/// A deterministic, non-zero topic id.
fn topic_id(t: usize) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[0] = 0x51;
    id[15] = t as u8 + 1;
    id
}
