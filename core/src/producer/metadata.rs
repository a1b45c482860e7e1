//! The engine's cluster-metadata cache: the brokers, the topics the producer wants, and where each
//! of their partitions leads.
//!
//! # Storage
//!
//! Nothing here allocates. The caller hands [`Metadata::new`] three slices of slots (borrowed
//! arrays, or `Vec`s with the `alloc` feature, through [`ManagedSlice`]) and those are the
//! capacities. Exceeding one is a typed [`MetadataError`], never a panic or a silent drop.
//!
//! | slot | bytes, 64-bit | bytes, 32-bit | one per |
//! |------|------|------|---------|
//! | [`BrokerSlot`] | 264 | 264 | bootstrap entry and cluster broker |
//! | [`TopicSlot`] | 304 | 296 | wanted topic |
//! | [`PartitionSlot`] | 16 | 16 | partition of a wanted topic |
//!
//! So 8 brokers, 16 topics and 256 partitions take 2.1 + 4.7 + 4 KiB on a Cortex-M (checked by
//! `core/tests/metadata_cache.rs` on 64-bit hosts). Topic and partition indices
//! are `u16`, so at most 65,533 topic slots and 65,535 partition slots are used; extra slots are
//! ignored. Host names are capped at [`MAX_HOST_LEN`], topic names at [`MAX_TOPIC_LEN`] (Kafka's
//! own limit).
//!
//! Each topic's partitions occupy a contiguous block of partition slots, so a [`PartitionIdx`] is
//! a stable global index the engine can key its per-partition queues by. A topic that grows gets
//! its block extended in place when the following slots are free, or a new block; either way
//! [`MetadataUpdate::resized`] says so. Blocks freed by a resize are only reused after the
//! [`Metadata::apply`] that freed them, so every move in one update goes to slots that were free
//! before it.
//!
//! # Broker ids
//!
//! Broker ids are plain `i32`, as on the wire. Real brokers have ids `>= 0`. Bootstrap servers are
//! kept for the cache's whole life with the synthetic ids -1, -2, ..., so the engine can fall back
//! to them when no known broker is reachable ([`BrokerSlot::bootstrap`]). A leader id of -1
//! means "no leader" and is never returned by [`Metadata::leader`].
//!
//! # Refresh policy
//!
//! A refresh is due ([`Metadata::needs_refresh`]) when no refresh is outstanding, at least one topic
//! is wanted, and one of these holds:
//! - a topic is `Pending` or `Failed` with a retriable code (UNKNOWN_TOPIC_OR_PARTITION);
//! - the engine called [`Metadata::invalidate`] / [`Metadata::invalidate_all`], or
//!   [`Metadata::apply_leader_hint`] refused a hint;
//! - a partition of a wanted topic has no leader;
//! - the last successful refresh is older than `metadata.max.age.ms`.
//!
//! The caller applies retry backoff; the cache only keeps one refresh outstanding
//! ([`Metadata::begin_refresh`], then [`Metadata::apply`] or [`Metadata::refresh_failed`]). An
//! invalidation that arrives while a refresh is in flight asks for another one afterwards.
//! A refresh that only topics without metadata ask for (new topics, or topics answered with a
//! retriable error) names just those: a *partial* refresh, as Java's producer makes them since
//! KIP-526. Every other refresh names every wanted topic that is not idle
//! ([`Metadata::request_topics`]), never null (= all). A partial refresh does not count as the
//! last refresh for `metadata.max.age.ms`. (Without it, a producer that sends to 1,000 new topics
//! one after another asked for 1, 2, ..., 1,000 topics: half a million topic entries for the
//! broker to describe, while each `send` waited for its answer.)
//!
//! # Leader epochs
//!
//! A partition entry whose leader epoch is older than the cached one is ignored: a lagging broker
//! must not move a leader back. A topic whose id changed was deleted and recreated; its epochs
//! restart, so the cached ones are dropped and [`TopicResize::recreated`] is set. A topic that
//! appears to shrink without an id change is a lagging broker too (Kafka never shrinks topics) and
//! is ignored.
//!
//! # Drain order for the engine
//!
//! After [`Metadata::apply`]: move per-partition state for each [`MetadataUpdate::resized`] entry,
//! then read [`Metadata::leader_changes`] (valid until the next `apply`).

use core::fmt;

use heapless::String;
use managed::ManagedSlice;

use super::ratio::Ratio;
use crate::partitioner::Sticky;
use crate::protocol::produce::LeaderIdAndEpoch;
use crate::protocol::{ErrorCode, Node};
use crate::time::Instant;

mod apply;
mod refresh;
#[cfg(feature = "alloc")]
mod replicas;
#[cfg(feature = "alloc")]
pub(crate) use replicas::ReplicaSets;
#[cfg(all(test, feature = "alloc"))]
mod tests;

/// Longest broker host name kept (DNS names are at most 253 bytes).
pub const MAX_HOST_LEN: usize = 255;
/// Longest topic name Kafka accepts.
const MAX_TOPIC_LEN: usize = 249;
/// Most topic resizes one [`MetadataUpdate`] reports; further ones wait for the next refresh.
const MAX_RESIZES: usize = 8;

/// `PartitionSlot::topic` of a free slot.
const FREE: u16 = u16::MAX;
/// `PartitionSlot::topic` of a slot freed during the current `apply`.
const RETIRING: u16 = u16::MAX - 1;
/// Topic slots beyond this are not used (their index would collide with the markers above).
const TOPIC_LIMIT: usize = RETIRING as usize;
/// Partition slots beyond this are not used (indices are `u16`).
const PARTITION_LIMIT: usize = u16::MAX as usize;
const NO_ID: [u8; 16] = [0; 16];

/// Errors of the metadata cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetadataError {
    /// Every topic slot is in use.
    TooManyTopics,
    /// A topic's partitions do not fit in the free partition slots.
    TooManyPartitions,
    /// The bootstrap list or the cluster's brokers do not fit in the broker slots.
    TooManyBrokers,
    /// Not 1..=249 characters of `[a-zA-Z0-9._-]`, or `.` / `..`.
    InvalidTopicName,
    /// A host name longer than [`MAX_HOST_LEN`].
    HostTooLong,
    /// A bootstrap entry with an empty host or port 0.
    InvalidEndpoint,
    /// The response carried a top-level error (Metadata v13+, e.g. REBOOTSTRAP_REQUIRED); nothing
    /// was applied.
    Response(ErrorCode),
}

impl fmt::Display for MetadataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooManyTopics => f.write_str("too many topics for the metadata topic slots"),
            Self::TooManyPartitions => f.write_str("too many partitions for the metadata partition slots"),
            Self::TooManyBrokers => f.write_str("too many brokers for the metadata broker slots"),
            Self::InvalidTopicName => {
                f.write_str("invalid topic name (1-249 characters of [a-zA-Z0-9._-], not . or ..)")
            }
            Self::HostTooLong => f.write_str("broker host name longer than 255 bytes"),
            Self::InvalidEndpoint => f.write_str("broker endpoint with an empty host or port 0"),
            Self::Response(code) => write!(f, "metadata response error {}", code.name()),
        }
    }
}

impl core::error::Error for MetadataError {}

/// Checks a topic name against Kafka's rules (`Topic.validate`).
fn validate_topic_name(name: &str) -> Result<(), MetadataError> {
    let valid_chars = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if (1..=MAX_TOPIC_LEN).contains(&name.len()) && valid_chars && name != "." && name != ".." {
        Ok(())
    } else {
        Err(MetadataError::InvalidTopicName)
    }
}

macro_rules! slot_index {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub(crate) struct $name(pub(crate) u16);

        impl $name {
            /// The slot index.
            const fn index(self) -> usize {
                self.0 as usize
            }
        }
    };
}

slot_index!(
    /// Index of a topic slot, valid until [`Metadata::remove_topic`].
    TopicIdx
);
slot_index!(
    /// Global index of a partition slot: the topic's first slot plus the partition number.
    PartitionIdx
);

/// A broker: a bootstrap server or one the cluster announced. The cache only hands out shared
/// references, so the public fields are read-only in practice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokerSlot {
    /// The broker id (negative for bootstrap entries).
    pub(crate) node_id: i32,
    /// The host name.
    pub(crate) host: String<MAX_HOST_LEN, u8>,
    /// The port.
    pub(crate) port: u16,
    /// Whether this is a bootstrap entry rather than a broker the cluster announced.
    bootstrap: bool,
    used: bool,
}

impl BrokerSlot {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self { node_id: -1, host: String::new(), port: 0, bootstrap: false, used: false };

    fn set(&mut self, node_id: i32, host: &str, port: u16, bootstrap: bool) -> Result<(), MetadataError> {
        let host = String::try_from(host).map_err(|_| MetadataError::HostTooLong)?;
        *self = Self { node_id, host, port, bootstrap, used: true };
        Ok(())
    }
}

/// What the cache knows about a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TopicState {
    /// The slot is free.
    Unused,
    /// Wanted, but no usable answer yet.
    Pending,
    /// Partitions and leaders are known.
    Known,
    /// The cluster answered with an error, e.g. UNKNOWN_TOPIC_OR_PARTITION or
    /// TOPIC_AUTHORIZATION_FAILED. Still requested on every refresh, so it can recover.
    Failed(ErrorCode),
    /// The topic exists but its partitions do not fit in the free partition slots.
    TooManyPartitions,
}

/// A wanted topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicSlot {
    name: String<MAX_TOPIC_LEN, u8>,
    topic_id: [u8; 16],
    state: TopicState,
    first: u16,
    count: u16,
    last_used: Instant,
    /// Not produced to for `metadata.max.idle.ms`: left out of Metadata requests (its slots,
    /// and so its partitions' sequence numbers, are kept) until the engine uses it again.
    idle: bool,
    sticky: Option<Sticky>,
    /// Its compression ratio estimate (see [`super::ratio`]).
    ratio: Ratio,
}

impl TopicSlot {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        name: String::new(),
        topic_id: NO_ID,
        state: TopicState::Unused,
        first: 0,
        count: 0,
        last_used: Instant::ZERO,
        idle: false,
        sticky: None,
        ratio: Ratio::ONE,
    };

    /// The topic name.
    pub(crate) fn name(&self) -> &str {
        self.name.as_str()
    }

    /// The topic id (all zero until a v10+ response named it).
    pub(crate) const fn topic_id(&self) -> [u8; 16] {
        self.topic_id
    }

    /// The state.
    pub(crate) const fn state(&self) -> TopicState {
        self.state
    }

    /// Partitions with a slot (0 before the first answer). The count stays while the topic is
    /// `Failed`, so queued records keep their slots.
    const fn partition_count(&self) -> u32 {
        self.count as u32
    }

    /// When the engine last used the topic ([`Metadata::add_topic`], [`Metadata::touch`]).
    pub(crate) const fn last_used(&self) -> Instant {
        self.last_used
    }

    fn is_used(&self) -> bool {
        self.state != TopicState::Unused
    }
}

/// A partition of a wanted topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionSlot {
    topic: u16,
    error: i16,
    leader: i32,
    epoch: i32,
    changed: bool,
}

impl PartitionSlot {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self { topic: FREE, error: 0, leader: -1, epoch: -1, changed: false };

    /// A slot of `topic` no response described yet.
    const fn fresh(topic: u16) -> Self {
        Self { topic, error: ErrorCode::LeaderNotAvailable.code(), leader: -1, epoch: -1, changed: false }
    }

    /// The leader's broker id, `None` if there is none.
    const fn leader(&self) -> Option<i32> {
        if self.leader >= 0 && self.topic < RETIRING {
            Some(self.leader)
        } else {
            None
        }
    }

    /// The leader epoch, -1 if unknown (Metadata below v7).
    #[cfg(all(test, feature = "alloc"))]
    const fn leader_epoch(&self) -> i32 {
        self.epoch
    }

    /// The partition's error in the last response that described it.
    #[cfg(all(test, feature = "alloc"))]
    const fn error(&self) -> ErrorCode {
        ErrorCode::from_code(self.error)
    }

    /// The topic owning this slot.
    const fn topic(&self) -> Option<TopicIdx> {
        if self.topic < RETIRING {
            Some(TopicIdx(self.topic))
        } else {
            None
        }
    }
}

/// A topic whose partition block moved or changed size in an [`Metadata::apply`]. The engine
/// moves its per-partition state for partitions `0..min(old_count, new_count)` from
/// `old_first + p` to `new_first + p`, and fails what it held for partitions `>= new_count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TopicResize {
    /// The topic.
    topic: TopicIdx,
    /// The first slot before.
    pub(crate) old_first: PartitionIdx,
    /// The first slot now (equal to `old_first` when the block grew in place).
    pub(crate) new_first: PartitionIdx,
    /// Partitions before.
    pub(crate) old_count: u32,
    /// Partitions now.
    pub(crate) new_count: u32,
    /// The topic id changed: the topic was deleted and recreated, so its partitions are new
    /// (sequence numbers and epochs restart).
    pub(crate) recreated: bool,
}

/// What an [`Metadata::apply`] changed.
#[must_use]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MetadataUpdate {
    /// Topics whose partition block moved or changed size (at most [`MAX_RESIZES`]; the rest
    /// keep their old block until the next refresh, which is requested).
    pub(crate) resized: heapless::Vec<TopicResize, MAX_RESIZES>,
    /// Partitions whose leader changed; [`Metadata::leader_changes`] lists them.
    leaders_changed: u32,
    /// Partition entries ignored because their leader epoch was older than the cached one.
    stale_partitions: u32,
    /// Partition entries ignored because their index was negative or not below the count.
    ignored_partitions: u32,
    /// The first capacity problem ([`MetadataError::TooManyPartitions`]): a new topic is left
    /// in [`TopicState::TooManyPartitions`], a growing one keeps its old partition count.
    capacity_error: Option<MetadataError>,
}

/// The outcome of [`Metadata::apply_leader_hint`]. Anything but `Applied` requested a refresh.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HintOutcome {
    /// The hint's epoch was newer and its leader known: the partition now leads there.
    Applied,
    /// The hint's epoch was not newer than the cached one (the franz-go#1054 loop guard).
    Stale,
    /// The hint named a broker neither in the endpoints nor in the cache, or no slot was free.
    UnknownLeader,
    /// No usable hint (leader or epoch -1), or a partition index the cache does not hold.
    Invalid,
}

impl HintOutcome {
    /// Whether the hint was applied.
    const fn is_applied(self) -> bool {
        matches!(self, Self::Applied)
    }
}

/// The cluster-metadata cache. See the [module docs](self).
#[derive(Debug)]
pub(crate) struct Metadata<'s> {
    brokers: ManagedSlice<'s, BrokerSlot>,
    topics: ManagedSlice<'s, TopicSlot>,
    partitions: ManagedSlice<'s, PartitionSlot>,
    /// One past the last partition slot a topic uses (see [`Metadata::partition_span`]).
    span: usize,
    refreshed_at: Option<Instant>,
    in_flight: bool,
    /// The outstanding refresh is partial (see the module docs).
    partial_in_flight: bool,
    requested: bool,
    requested_in_flight: bool,
    /// The connection slot the outstanding refresh went out on (`u16::MAX`: none).
    refresh_conn: u16,
    /// No refresh before this (retry backoff).
    retry_at: Instant,
    /// Refreshes in a row that failed or left something unresolved.
    failures: u32,
    /// Since when metadata is wanted and no broker could be asked (for
    /// `metadata.recovery.rebootstrap.trigger.ms`); cleared by a successful `apply`.
    pub(crate) stuck_since: Option<Instant>,
    /// A broker answered Metadata with REBOOTSTRAP_REQUIRED (v13+, KIP-1102): the next refresh
    /// goes to the bootstrap addresses (with `metadata.recovery.strategy=rebootstrap`);
    /// cleared by a successful `apply`.
    pub(crate) rebootstrap_required: bool,
    /// Replica sets per partition, for `PartitionInfo` (`replicas.rs`).
    #[cfg(feature = "alloc")]
    replicas: replicas::ReplicaTable,
    /// The used topic slots by name: `send` looks its topic up by name, and a scan of the
    /// slots (each holds its name inline, about 300 bytes) compared names with a thousand
    /// topics for a third of the producer's CPU. Without a heap the scan stays: fixed storage
    /// holds few topics.
    #[cfg(feature = "alloc")]
    by_name: alloc::collections::BTreeMap<alloc::string::String, u16>,
}

impl<'s> Metadata<'s> {
    /// A cache over the given slots (their contents are reset) with the bootstrap servers as
    /// brokers -1, -2, .... Fails if the bootstrap list does not fit or has a bad entry.
    pub(crate) fn new(
        brokers: impl Into<ManagedSlice<'s, BrokerSlot>>,
        topics: impl Into<ManagedSlice<'s, TopicSlot>>,
        partitions: impl Into<ManagedSlice<'s, PartitionSlot>>,
        bootstrap: &[(&str, u16)],
    ) -> Result<Self, MetadataError> {
        let mut md = Self {
            brokers: brokers.into(),
            topics: topics.into(),
            partitions: partitions.into(),
            span: 0,
            refreshed_at: None,
            in_flight: false,
            partial_in_flight: false,
            requested: false,
            requested_in_flight: false,
            refresh_conn: u16::MAX,
            retry_at: Instant::ZERO,
            failures: 0,
            stuck_since: None,
            rebootstrap_required: false,
            #[cfg(feature = "alloc")]
            replicas: replicas::ReplicaTable::new(),
            #[cfg(feature = "alloc")]
            by_name: alloc::collections::BTreeMap::new(),
        };
        md.brokers.iter_mut().for_each(|b| *b = BrokerSlot::EMPTY);
        md.topics.iter_mut().for_each(|t| *t = TopicSlot::EMPTY);
        md.partitions.iter_mut().for_each(|p| *p = PartitionSlot::EMPTY);
        if !super::grow_slice(&mut md.brokers, bootstrap.len(), usize::MAX, BrokerSlot::EMPTY) {
            return Err(MetadataError::TooManyBrokers);
        }
        for (i, (&(host, port), slot)) in bootstrap.iter().zip(md.brokers.iter_mut()).enumerate() {
            if host.is_empty() || port == 0 {
                return Err(MetadataError::InvalidEndpoint);
            }
            // i < brokers.len(), and a slice never holds more than isize::MAX elements.
            let id = -1 - i32::try_from(i).map_err(|_| MetadataError::TooManyBrokers)?;
            slot.set(id, host, port, true)?;
        }
        Ok(md)
    }

    // ---- getters ----

    /// The slot of the wanted topic `name`.
    pub(crate) fn topic(&self, name: &str) -> Option<TopicIdx> {
        #[cfg(feature = "alloc")]
        return self.by_name.get(name).map(|&i| topic_idx(usize::from(i)));
        #[cfg(not(feature = "alloc"))]
        self.topic_slots().iter().position(|s| s.is_used() && s.name() == name).map(topic_idx)
    }

    /// The wanted topics.
    pub(crate) fn topics(&self) -> impl Iterator<Item = (TopicIdx, &TopicSlot)> {
        self.topic_slots().iter().enumerate().filter(|(_, s)| s.is_used()).map(|(i, s)| (topic_idx(i), s))
    }

    /// A topic's slot (`None` for an unused slot).
    pub(crate) fn topic_slot(&self, t: TopicIdx) -> Option<&TopicSlot> {
        self.topic_slots().get(t.index()).filter(|s| s.is_used())
    }

    /// A topic's name.
    pub(crate) fn topic_name(&self, t: TopicIdx) -> Option<&str> {
        self.topic_slot(t).map(TopicSlot::name)
    }

    /// A topic's state ([`TopicState::Unused`] for an unused slot).
    #[cfg(all(test, feature = "alloc"))]
    fn topic_state(&self, t: TopicIdx) -> TopicState {
        self.topic_slot(t).map_or(TopicState::Unused, TopicSlot::state)
    }

    /// A topic's id, once a v10+ response named it (Produce v13 needs it).
    #[cfg(all(test, feature = "alloc"))]
    fn topic_id(&self, t: TopicIdx) -> Option<[u8; 16]> {
        self.topic_slot(t).map(TopicSlot::topic_id).filter(|&id| id != NO_ID)
    }

    /// The wanted topic with id `id` (never the all-zero id).
    #[cfg(all(test, feature = "alloc"))]
    fn topic_by_id(&self, id: &[u8; 16]) -> Option<TopicIdx> {
        if *id == NO_ID {
            return None;
        }
        self.topic_slots().iter().position(|s| s.is_used() && s.topic_id == *id).map(topic_idx)
    }

    /// The partition count of a [`TopicState::Known`] topic.
    pub(crate) fn partition_count(&self, t: TopicIdx) -> Option<u32> {
        self.topic_slot(t).filter(|s| s.state == TopicState::Known).map(TopicSlot::partition_count)
    }

    /// The slot of partition `p` of topic `t`, if the topic has that many partition slots.
    pub(crate) fn partition(&self, t: TopicIdx, p: u32) -> Option<PartitionIdx> {
        let s = self.topic_slot(t)?;
        let p = u16::try_from(p).ok().filter(|&p| p < s.count)?;
        // first + count never exceeds the partition capacity, which is at most u16::MAX.
        Some(PartitionIdx(s.first + p))
    }

    /// A partition's slot (`None` for a free slot).
    fn partition_slot(&self, pi: PartitionIdx) -> Option<&PartitionSlot> {
        self.partition_slots().get(pi.index()).filter(|s| s.topic < RETIRING)
    }

    /// The topic and partition number of a partition slot.
    pub(crate) fn partition_location(&self, pi: PartitionIdx) -> Option<(TopicIdx, u32)> {
        let t = self.partition_slot(pi)?.topic()?;
        let first = self.topic_slot(t)?.first;
        Some((t, u32::from(pi.0.checked_sub(first)?)))
    }

    /// A partition's leader, `None` if it has none (or the slot is free).
    pub(crate) fn leader(&self, pi: PartitionIdx) -> Option<i32> {
        self.partition_slot(pi)?.leader()
    }

    /// A partition's leader, if the cache knows how to reach it.
    #[cfg(all(test, feature = "alloc"))]
    fn leader_broker(&self, pi: PartitionIdx) -> Option<&BrokerSlot> {
        self.broker(self.leader(pi)?)
    }

    /// The partitions whose leader id changed in the last [`Metadata::apply`].
    #[cfg(all(test, feature = "alloc"))]
    fn leader_changes(&self) -> impl Iterator<Item = PartitionIdx> + '_ {
        let slots = self.partition_slots().iter().enumerate();
        slots.filter(|(_, s)| s.changed && s.topic < RETIRING).map(|(i, _)| partition_idx(i))
    }

    /// The broker `node_id` (negative ids are bootstrap entries).
    pub(crate) fn broker(&self, node_id: i32) -> Option<&BrokerSlot> {
        self.brokers.iter().find(|b| b.used && b.node_id == node_id)
    }

    /// Whether a broker is a bootstrap entry rather than one the cluster announced.
    pub(crate) const fn is_bootstrap(b: &BrokerSlot) -> bool {
        b.bootstrap
    }

    /// All brokers: bootstrap entries first, then those the cluster announced.
    pub(crate) fn brokers(&self) -> impl Iterator<Item = &BrokerSlot> {
        self.brokers.iter().filter(|b| b.used)
    }

    /// Usable topic slots.
    #[cfg(all(test, feature = "alloc"))]
    fn topic_capacity(&self) -> usize {
        self.topic_slots().len()
    }

    /// Usable partition slots.
    pub(crate) fn partition_capacity(&self) -> usize {
        self.partition_slots().len()
    }

    /// One past the last partition slot in use: every partition with a topic (and so a
    /// leader) has an index below it. Scans over partitions stop here, not at the capacity.
    pub(crate) const fn partition_span(&self) -> usize {
        self.span
    }

    /// Recomputes [`Metadata::partition_span`] after slots were given or taken.
    fn update_span(&mut self) {
        self.span = self.partition_slots().iter().rposition(|p| p.topic < RETIRING).map_or(0, |i| i + 1);
    }

    /// Whether a refresh is outstanding.
    #[cfg(all(test, feature = "alloc"))]
    const fn is_refreshing(&self) -> bool {
        self.in_flight
    }

    // ---- commands ----

    /// Wants topic `name` (`Pending` until a refresh answers) and returns its slot; an already
    /// wanted topic keeps its slot and state.
    pub(crate) fn add_topic(&mut self, name: &str, now: Instant) -> Result<TopicIdx, MetadataError> {
        validate_topic_name(name)?;
        if let Some(t) = self.topic(name) {
            self.touch(t, now);
            return Ok(t);
        }
        let free = self.topic_slots().iter().position(|s| !s.is_used());
        let i = match free {
            Some(i) => i,
            None => {
                let n = self.topics.len();
                if !super::grow_slice(&mut self.topics, n + 1, TOPIC_LIMIT, TopicSlot::EMPTY) {
                    return Err(MetadataError::TooManyTopics);
                }
                n
            }
        };
        let name = String::try_from(name).map_err(|_| MetadataError::InvalidTopicName)?;
        #[cfg(feature = "alloc")]
        self.by_name.insert(name.as_str().into(), topic_idx(i).0);
        self.topics[i] = TopicSlot { name, state: TopicState::Pending, last_used: now, ..TopicSlot::EMPTY };
        Ok(topic_idx(i))
    }

    /// Records that the engine used topic `t` (for its idle-topic expiry). An idle topic is
    /// wanted again, and a refresh is asked for: its cached leaders were not kept up to date.
    pub(crate) fn touch(&mut self, t: TopicIdx, now: Instant) {
        if let Some(s) = self.topics.get_mut(t.index()) {
            s.last_used = now;
            if core::mem::replace(&mut s.idle, false) {
                self.requested = true;
            }
        }
    }

    /// Marks topic `t` idle (`metadata.max.idle.ms`): Metadata requests leave it out until
    /// [`Metadata::touch`]. The engine does this only for a topic with nothing queued.
    pub(crate) fn set_idle(&mut self, t: TopicIdx) {
        if let Some(s) = self.topics.get_mut(t.index()).filter(|s| s.is_used()) {
            s.idle = true;
        }
    }

    /// The topics Metadata requests name: every wanted topic that is not idle.
    pub(crate) fn wanted_topics(&self) -> impl Iterator<Item = (TopicIdx, &TopicSlot)> {
        self.topics().filter(|(_, s)| !s.idle)
    }

    /// Stops wanting topic `t` and frees its slots at once. The engine must have dropped its
    /// per-partition state for the topic: the next [`Metadata::apply`] may give the slots to
    /// another topic.
    #[cfg(all(test, feature = "alloc"))]
    fn remove_topic(&mut self, t: TopicIdx) {
        let Some(s) = self.topic_slot(t) else { return };
        let range = usize::from(s.first)..usize::from(s.first) + usize::from(s.count);
        self.partitions.get_mut(range).into_iter().flatten().for_each(|p| *p = PartitionSlot::EMPTY);
        self.by_name.remove(self.topics[t.index()].name());
        self.topics[t.index()] = TopicSlot::EMPTY;
        self.forget_replicas(t.index(), 0);
        self.update_span();
        // Freed slots may let a topic that did not fit fit now.
        let waiting = self.topics().any(|(_, s)| s.state == TopicState::TooManyPartitions);
        self.requested |= waiting;
    }

    /// The compression ratio estimate of topic `t`.
    pub(crate) fn ratio(&self, t: TopicIdx) -> Option<Ratio> {
        self.topic_slot(t).map(|s| s.ratio)
    }

    /// The compression ratio estimate of topic `t`, to update.
    pub(crate) fn ratio_mut(&mut self, t: TopicIdx) -> Option<&mut Ratio> {
        self.topics.get_mut(t.index()).filter(|s| s.is_used()).map(|s| &mut s.ratio)
    }

    /// The uniform sticky partitioner state of topic `t`, if it has one.
    pub(crate) fn sticky(&self, t: TopicIdx) -> Option<Sticky> {
        self.topic_slot(t).and_then(|s| s.sticky)
    }

    /// The uniform sticky partitioner state of topic `t`.
    pub(crate) fn sticky_mut(&mut self, t: TopicIdx) -> Option<&mut Sticky> {
        let s = self.topics.get_mut(t.index()).filter(|s| s.is_used())?;
        Some(s.sticky.get_or_insert_with(Sticky::default))
    }

    /// KIP-951: applies the `current_leader` hint of a Produce v10+ partition error, with the
    /// response's `node_endpoints`. Applied only if the hint's epoch is strictly newer than the
    /// cached one and its leader is reachable (in `endpoints`, which may add or update the
    /// broker, or already cached). Otherwise a full refresh is requested instead: a hint naming
    /// the same leader at the same epoch must not send the batch back to it in a loop
    /// (franz-go#1054).
    pub(crate) fn apply_leader_hint<'n>(
        &mut self,
        pi: PartitionIdx,
        hint: LeaderIdAndEpoch,
        endpoints: impl IntoIterator<Item = Node<'n>>,
    ) -> HintOutcome {
        let cached = self.partition_slot(pi).map(|s| s.epoch);
        let outcome = match cached {
            _ if hint.leader_id < 0 || hint.leader_epoch < 0 => HintOutcome::Invalid,
            None => HintOutcome::Invalid,
            Some(epoch) if hint.leader_epoch <= epoch => HintOutcome::Stale,
            Some(_) => {
                let announced = endpoints.into_iter().find(|n| n.node_id == hint.leader_id);
                let added = announced.is_some_and(|n| self.upsert_broker(&n).is_ok());
                if added || self.broker(hint.leader_id).is_some() {
                    let slot = &mut self.partitions[pi.index()];
                    (slot.leader, slot.epoch, slot.error) = (hint.leader_id, hint.leader_epoch, 0);
                    HintOutcome::Applied
                } else {
                    HintOutcome::UnknownLeader
                }
            }
        };
        self.requested |= !outcome.is_applied();
        outcome
    }

    /// Inserts or updates the announced broker `node`.
    pub(crate) fn upsert_broker(&mut self, node: &Node<'_>) -> Result<(), MetadataError> {
        let port = endpoint(node)?;
        let existing = self.brokers.iter().position(|b| b.used && !b.bootstrap && b.node_id == node.node_id);
        let i = match existing.or_else(|| self.brokers.iter().position(|b| !b.used)) {
            Some(i) => i,
            None => {
                let n = self.brokers.len();
                if !super::grow_slice(&mut self.brokers, n + 1, usize::MAX, BrokerSlot::EMPTY) {
                    return Err(MetadataError::TooManyBrokers);
                }
                n
            }
        };
        self.brokers[i].set(node.node_id, node.host, port, false)
    }

    fn topic_slots(&self) -> &[TopicSlot] {
        let len = self.topics.len().min(TOPIC_LIMIT);
        &self.topics[..len]
    }

    fn partition_slots(&self) -> &[PartitionSlot] {
        let len = self.partitions.len().min(PARTITION_LIMIT);
        &self.partitions[..len]
    }
}

/// `i` is a topic slot index, below TOPIC_LIMIT.
fn topic_idx(i: usize) -> TopicIdx {
    TopicIdx(i as u16)
}

/// `i` is a partition slot index, below PARTITION_LIMIT.
#[cfg(all(test, feature = "alloc"))]
fn partition_idx(i: usize) -> PartitionIdx {
    PartitionIdx(i as u16)
}

/// The port of an announced broker, if its id, host and port are usable.
fn endpoint(node: &Node<'_>) -> Result<u16, MetadataError> {
    if node.host.len() > MAX_HOST_LEN {
        return Err(MetadataError::HostTooLong);
    }
    let port = u16::try_from(node.port).ok().filter(|&p| p != 0);
    match port {
        Some(port) if node.node_id >= 0 && !node.host.is_empty() => Ok(port),
        _ => Err(MetadataError::InvalidEndpoint),
    }
}
