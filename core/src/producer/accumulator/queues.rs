//! Batch slots and the partitions' queues of them: claiming and freeing slots, linking batches
//! into their partition's queue in order, and walking the queues.

use super::{Accumulator, BatchSlot, PartitionQueue, NIL};
use crate::producer::ratio::Ratio;
use crate::time::Instant;

impl<'s> Accumulator<'s> {
    /// A batch slot.
    pub(crate) fn slot(&self, slot: u16) -> Option<&BatchSlot> {
        self.slots.get(usize::from(slot)).filter(|s| !s.is_empty())
    }

    pub(super) fn slot_mut(&mut self, slot: u16) -> Option<&mut BatchSlot> {
        self.slots.get_mut(usize::from(slot)).filter(|s| !s.is_empty())
    }

    /// Batches queued for a partition slot (0 for an unknown slot).
    pub(crate) fn queue_len(&self, partition: u16) -> u32 {
        self.queue(partition).map_or(0, |q| u32::from(q.len))
    }

    /// The adaptive partitioner's load of a partition slot: the `batch.size` batches (at the
    /// topic's compression `ratio`) that its queued batches' bytes make, at least one per
    /// batch, as Java would have closed one at each `batch.size`. Counting batches alone would
    /// make a slow broker's partitions look light once their batches grow past `batch.size`
    /// (`batch.max.size`) while they wait: a few large batches instead of many small ones.
    pub(crate) fn queue_load(&self, partition: u16, ratio: Ratio) -> u32 {
        let target = self.batch_target(ratio, usize::MAX).max(1);
        self.iter_queue(partition)
            .filter_map(|s| self.slot(s))
            .filter(|b| !b.is_complete())
            .map(|b| u32::try_from(b.plain_len().div_ceil(target)).unwrap_or(u32::MAX).max(1))
            .fold(0, u32::saturating_add)
    }

    /// When the oldest batch of a partition that is not complete was created.
    pub(crate) fn oldest_pending_created(&self, partition: u16) -> Option<Instant> {
        self.iter_queue(partition).filter_map(|s| self.slot(s)).find(|b| !b.is_complete()).map(BatchSlot::created)
    }

    /// The queue of a partition slot.
    pub(crate) fn queue(&self, partition: u16) -> Option<&PartitionQueue> {
        self.queues.get(usize::from(partition))
    }

    /// The batch slots of a partition, oldest first.
    pub(crate) fn iter_queue(&self, partition: u16) -> QueueIter<'_, 's> {
        let head = self.queue(partition).map_or(NIL, |q| q.head);
        QueueIter { acc: self, next: head }
    }

    /// The batch after `slot` in its partition's queue.
    pub(crate) fn next_in_queue(&self, slot: u16) -> Option<u16> {
        let next = self.slot(slot)?.next;
        (next != NIL).then_some(next)
    }

    /// Every occupied batch slot, in slot order.
    pub(crate) fn iter_slots(&self) -> impl Iterator<Item = (u16, &BatchSlot)> + '_ {
        self.iter_slots_from(0)
    }

    /// [`Accumulator::iter_slots`] from slot `from` on.
    pub(crate) fn iter_slots_from(&self, from: u16) -> impl Iterator<Item = (u16, &BatchSlot)> + '_ {
        let high = usize::from(self.high);
        self.slots[usize::from(from).min(high)..high]
            .iter()
            .zip(from..)
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, i)| (i, s))
    }

    /// Removes a batch and frees its memory.
    pub(super) fn remove(&mut self, slot: u16) -> Option<BatchSlot> {
        let s = *self.slot(slot)?;
        self.unlink(s.partition, slot);
        self.set_open_end(&s, false);
        // The bytes its records were written to: its plain length (sealed ones are no longer),
        // or all of its memory once split (the later parts' records lay behind the first).
        let written = if s.first > 0 || s.rest > 0 { s.chunks as usize * self.chunk_size } else { s.plain_len() };
        self.free_chunks(s.first_chunk as usize, s.chunks as usize, written.max(s.len()));
        self.slots[usize::from(slot)] = BatchSlot { next: self.free_head, ..BatchSlot::EMPTY };
        self.free_head = slot;
        self.batches -= 1;
        while self.high > 0 && self.slots[usize::from(self.high - 1)].is_empty() {
            self.high -= 1;
        }
        Some(s)
    }

    /// Moves a partition's queue to another partition slot (the metadata cache relocated the
    /// topic's partitions after it grew). The target queue must be empty.
    pub(crate) fn move_queue(&mut self, from: u16, to: u16) -> bool {
        let (Some(&q), Some(target)) = (self.queues.get(usize::from(from)), self.queues.get(usize::from(to))) else {
            return false;
        };
        if !target.is_empty() {
            return false;
        }
        self.queues[usize::from(to)] = q;
        self.queues[usize::from(from)] = PartitionQueue::EMPTY;
        let mut at = q.head;
        while let Some(s) = self.slots.get_mut(usize::from(at)) {
            s.partition = to;
            at = s.next;
        }
        true
    }

    /// More batch slots (std storage): at most one per chunk, since a batch takes at least one.
    pub(super) fn grow_slots(&mut self) -> bool {
        let n = self.slots.len();
        let limit = self.chunk_count.min(usize::from(NIL) - 1);
        crate::producer::grow_slice(&mut self.slots, n + 1, limit, BatchSlot::EMPTY)
    }

    /// Tells how many partitions the producer knows (at least one is assumed): sizes the first
    /// share of the arena a new batch takes.
    pub(crate) fn set_partitions(&mut self, n: usize) {
        self.partitions = n.max(1);
    }

    /// Makes room for the queues of `n` partition slots (std storage grows; fixed storage
    /// cannot). Returns whether there is room.
    pub(crate) fn fit_partitions(&mut self, n: usize) -> bool {
        crate::producer::grow_slice(&mut self.queues, n, usize::from(NIL) - 1, PartitionQueue::EMPTY)
    }

    /// The slot the next new batch takes (the most recently emptied one, else one never used,
    /// growing std storage if need be), without taking it: see `claim_slot`.
    pub(super) fn free_slot(&mut self) -> Option<u16> {
        if self.free_head != NIL {
            return Some(self.free_head);
        }
        if usize::from(self.unused) >= self.slots.len() && !self.grow_slots() {
            return None;
        }
        Some(self.unused)
    }

    /// Takes `slot`, which `free_slot` just gave.
    pub(super) fn claim_slot(&mut self, slot: u16) {
        if slot == self.free_head {
            self.free_head = self.slots[usize::from(slot)].next;
        } else {
            debug_assert_eq!(slot, self.unused);
            self.unused += 1;
        }
    }

    pub(super) fn link_tail(&mut self, partition: u16, slot: u16) {
        let q = &mut self.queues[usize::from(partition)];
        let old_tail = q.tail;
        q.tail = slot;
        q.len += 1;
        if old_tail == NIL {
            q.head = slot;
        } else {
            self.slots[usize::from(old_tail)].next = slot;
        }
    }

    pub(super) fn unlink(&mut self, partition: u16, slot: u16) {
        let Some(&q) = self.queues.get(usize::from(partition)) else {
            return;
        };
        let next = self.slots[usize::from(slot)].next;
        let mut prev = NIL;
        let mut at = q.head;
        while at != NIL && at != slot {
            prev = at;
            at = self.slots[usize::from(at)].next;
        }
        if at == NIL {
            return;
        }
        let q = &mut self.queues[usize::from(partition)];
        if prev == NIL {
            q.head = next;
        } else {
            self.slots[usize::from(prev)].next = next;
        }
        if q.tail == slot {
            q.tail = prev;
        }
        q.len -= 1;
    }
}

/// The batch slots of one partition, oldest first.
#[derive(Debug)]
pub(crate) struct QueueIter<'a, 's> {
    acc: &'a Accumulator<'s>,
    next: u16,
}

impl Iterator for QueueIter<'_, '_> {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        let at = self.next;
        let s = self.acc.slots.get(usize::from(at))?;
        self.next = s.next;
        Some(at)
    }
}
