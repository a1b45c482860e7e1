//! The offsets of one `send_offsets_to_transaction` call, kept (without a heap) until the group
//! coordinator answers: every string in one fixed arena, every partition in one fixed table.

use super::types::{GroupMetadata, TopicPartitionOffset, TxnError};
use crate::protocol::txn_offset_commit::{GroupMember, TxnOffsetCommitPartition, TxnOffsetCommitTopic};

/// Bytes for the group id, member id, instance id, topic names and metadata of one call.
pub const OFFSETS_STRING_BYTES: usize = 2048;
/// Partitions one call may commit.
pub const MAX_OFFSETS: usize = 64;

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
    strings: heapless::Vec<u8, OFFSETS_STRING_BYTES>,
    group_id: Span,
    member_id: Span,
    instance_id: Option<Span>,
    generation_id: i32,
    entries: heapless::Vec<Entry, MAX_OFFSETS>,
}

impl Offsets {
    /// Copies a call's offsets, sorted by topic so each topic forms one run.
    pub(crate) fn new(offsets: &[TopicPartitionOffset<'_>], group: &GroupMetadata<'_>) -> Result<Self, TxnError> {
        let too_long = TxnError::OffsetsTooLarge { limit: "the names and metadata exceed 2048 bytes" };
        if offsets.len() > MAX_OFFSETS {
            return Err(TxnError::OffsetsTooLarge { limit: "more than 64 partitions in one call" });
        }
        let mut s = Self {
            strings: heapless::Vec::new(),
            group_id: (0, 0),
            member_id: (0, 0),
            instance_id: None,
            generation_id: group.generation_id,
            entries: heapless::Vec::new(),
        };
        s.group_id = s.keep(group.group_id).ok_or(too_long)?;
        s.member_id = s.keep(group.member_id).ok_or(too_long)?;
        s.instance_id = match group.group_instance_id {
            Some(id) => Some(s.keep(id).ok_or(too_long)?),
            None => None,
        };
        let mut sorted: heapless::Vec<&TopicPartitionOffset<'_>, MAX_OFFSETS> = offsets.iter().collect();
        sorted.sort_unstable_by(|a, b| (a.topic, a.partition).cmp(&(b.topic, b.partition)));
        for o in sorted {
            let topic = s.keep(o.topic).ok_or(too_long)?;
            let metadata = match o.metadata {
                Some(m) => Some(s.keep(m).ok_or(too_long)?),
                None => None,
            };
            let e = Entry { topic, partition: o.partition, offset: o.offset, leader_epoch: o.leader_epoch, metadata };
            // At most MAX_OFFSETS entries, checked above.
            let _ = s.entries.push(e);
        }
        Ok(s)
    }

    fn keep(&mut self, v: &str) -> Option<Span> {
        let start = self.strings.len();
        self.strings.extend_from_slice(v.as_bytes()).ok()?;
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
    pub(crate) fn partitions(
        &self,
    ) -> (heapless::Vec<TxnOffsetCommitPartition<'_>, MAX_OFFSETS>, heapless::Vec<(usize, usize), MAX_OFFSETS>) {
        let mut parts = heapless::Vec::new();
        let mut runs = heapless::Vec::new();
        let mut at = 0;
        while at < self.entries.len() {
            let topic = self.get(self.entries[at].topic);
            let n = self.entries[at..].iter().take_while(|e| self.get(e.topic) == topic).count();
            // At most MAX_OFFSETS runs and entries: one per entry at most.
            let _ = runs.push((at, n));
            at += n;
        }
        for e in &self.entries {
            let _ = parts.push(TxnOffsetCommitPartition {
                partition_index: e.partition,
                committed_offset: e.offset,
                committed_leader_epoch: e.leader_epoch,
                committed_metadata: e.metadata.map(|m| self.get(m)),
            });
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
        out: &mut heapless::Vec<TxnOffsetCommitTopic<'a>, MAX_OFFSETS>,
    ) {
        for &(start, n) in runs {
            let _ = out.push(TxnOffsetCommitTopic { name: self.topic_of(start), partitions: &parts[start..start + n] });
        }
    }
}
