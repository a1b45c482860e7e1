//! The offsets of one `send_offsets_to_transaction` call, kept until the group coordinator
//! answers: every string in one arena, every partition in one table (on the heap with `alloc`,
//! else small fixed arrays).

use super::list::List;
use super::types::{GroupMetadata, TopicPartitionOffset, TxnError};
use crate::protocol::txn_offset_commit::{GroupMember, TxnOffsetCommitPartition, TxnOffsetCommitTopic};

/// Bytes for the group id, member id, instance id, topic names and metadata of one call:
/// 64 KiB with the `alloc` feature, 512 without.
pub const OFFSETS_STRING_BYTES: usize = if cfg!(feature = "alloc") { 1 << 16 } else { NO_ALLOC_BYTES };
/// Partitions one call may commit: 4096 with the `alloc` feature, 8 without.
pub const MAX_OFFSETS: usize = if cfg!(feature = "alloc") { 4096 } else { NO_ALLOC_OFFSETS };
const NO_ALLOC_BYTES: usize = if cfg!(feature = "transactions") { 512 } else { 0 };
const NO_ALLOC_OFFSETS: usize = if cfg!(feature = "transactions") { 8 } else { 0 };

type Span = (u16, u16);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    topic: Span,
    partition: i32,
    offset: i64,
    leader_epoch: i32,
    metadata: Option<Span>,
}

/// See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Offsets {
    strings: List<u8, NO_ALLOC_BYTES>,
    group_id: Span,
    member_id: Span,
    instance_id: Option<Span>,
    generation_id: i32,
    entries: List<Entry, NO_ALLOC_OFFSETS>,
}

impl Offsets {
    /// Copies a call's offsets, sorted by topic so each topic forms one run.
    pub(crate) fn new(offsets: &[TopicPartitionOffset<'_>], group: &GroupMetadata<'_>) -> Result<Self, TxnError> {
        let too_long = TxnError::OffsetsTooLarge { limit: "the names and metadata exceed OFFSETS_STRING_BYTES" };
        if offsets.len() > MAX_OFFSETS {
            return Err(TxnError::OffsetsTooLarge { limit: "more partitions than MAX_OFFSETS in one call" });
        }
        let mut s = Self {
            strings: List::new(),
            group_id: (0, 0),
            member_id: (0, 0),
            instance_id: None,
            generation_id: group.generation_id,
            entries: List::new(),
        };
        s.group_id = s.keep(group.group_id).ok_or(too_long)?;
        s.member_id = s.keep(group.member_id).ok_or(too_long)?;
        s.instance_id = match group.group_instance_id {
            Some(id) => Some(s.keep(id).ok_or(too_long)?),
            None => None,
        };
        let mut sorted: List<&TopicPartitionOffset<'_>, NO_ALLOC_OFFSETS> = List::new();
        for o in offsets {
            sorted.push(o, MAX_OFFSETS);
        }
        sorted.sort_unstable_by(|a, b| (a.topic, a.partition).cmp(&(b.topic, b.partition)));
        for &o in sorted.iter() {
            let topic = s.keep(o.topic).ok_or(too_long)?;
            let metadata = match o.metadata {
                Some(m) => Some(s.keep(m).ok_or(too_long)?),
                None => None,
            };
            let e = Entry { topic, partition: o.partition, offset: o.offset, leader_epoch: o.leader_epoch, metadata };
            // At most MAX_OFFSETS entries, checked above.
            s.entries.push(e, MAX_OFFSETS);
        }
        Ok(s)
    }

    fn keep(&mut self, v: &str) -> Option<Span> {
        let start = self.strings.len();
        if start + v.len() > usize::from(u16::MAX) || !self.strings.extend(v.as_bytes(), OFFSETS_STRING_BYTES) {
            return None;
        }
        Some((start as u16, v.len() as u16))
    }

    fn get(&self, (start, len): Span) -> &str {
        let bytes = self.strings.get(usize::from(start)..usize::from(start) + usize::from(len)).unwrap_or(&[]);
        // Whole `&str`s were copied in at char boundaries.
        core::str::from_utf8(bytes).unwrap_or("")
    }

    pub(crate) fn group_id(&self) -> &str {
        self.get(self.group_id)
    }

    /// The member fields as TxnOffsetCommit v3+ carries them.
    pub(crate) fn member(&self) -> GroupMember<'_> {
        GroupMember {
            generation_id: self.generation_id,
            member_id: self.get(self.member_id),
            group_instance_id: self.instance_id.map(|s| self.get(s)),
        }
    }

    /// The partitions in request order, and the runs `(start, count)` of each topic.
    pub(crate) fn partitions(&self) -> (Parts<'_>, Runs) {
        let mut parts = List::new();
        let mut runs = List::new();
        let mut at = 0;
        while at < self.entries.len() {
            let topic = self.get(self.entries[at].topic);
            let n = self.entries[at..].iter().take_while(|e| self.get(e.topic) == topic).count();
            // At most MAX_OFFSETS runs and entries: one per entry at most.
            runs.push((at, n), MAX_OFFSETS);
            at += n;
        }
        for e in self.entries.iter() {
            let part = TxnOffsetCommitPartition {
                partition_index: e.partition,
                committed_offset: e.offset,
                committed_leader_epoch: e.leader_epoch,
                committed_metadata: e.metadata.map(|m| self.get(m)),
            };
            parts.push(part, MAX_OFFSETS);
        }
        (parts, runs)
    }

    /// The topic name of run `(start, _)`.
    pub(crate) fn topic_of(&self, start: usize) -> &str {
        self.entries.get(start).map_or("", |e| self.get(e.topic))
    }

    /// Builds the request's topic list from the filled parts.
    pub(crate) fn topics<'a>(
        &'a self,
        parts: &'a [TxnOffsetCommitPartition<'a>],
        runs: &[(usize, usize)],
        out: &mut Topics<'a>,
    ) {
        for &(start, n) in runs {
            let topic = TxnOffsetCommitTopic { name: self.topic_of(start), partitions: &parts[start..start + n] };
            out.push(topic, MAX_OFFSETS);
        }
    }
}

/// The partitions of a TxnOffsetCommit request, in request order.
pub(crate) type Parts<'a> = List<TxnOffsetCommitPartition<'a>, NO_ALLOC_OFFSETS>;
/// The runs `(start, count)` of each topic in [`Parts`].
pub(crate) type Runs = List<(usize, usize), NO_ALLOC_OFFSETS>;
/// The topics of a TxnOffsetCommit request.
pub(crate) type Topics<'a> = List<TxnOffsetCommitTopic<'a>, NO_ALLOC_OFFSETS>;
