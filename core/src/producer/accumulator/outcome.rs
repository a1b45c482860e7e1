//! Sent batches' bookkeeping: marking them sent or unsent, their retries and outcomes, and the
//! completions reported in queue order.

use super::{Accumulator, BatchSlot, Stage, NIL};
use crate::producer::types::Outcome;
use crate::time::Instant;

impl<'s> Accumulator<'s> {
    /// The batch went out in request `request` (connection slot, correlation id).
    pub(crate) fn mark_sent(&mut self, slot: u16, request: (u16, i32)) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.in_flight = true;
            b.send.attempts = b.send.attempts.saturating_add(1);
            b.send.request = request;
        }
    }

    /// The batch's request is over without a final answer for it. Returns whether it was in
    /// flight.
    pub(crate) fn mark_unsent(&mut self, slot: u16) -> bool {
        self.slot_mut(slot).is_some_and(|b| core::mem::replace(&mut b.send.in_flight, false))
    }

    /// The batch waits for another attempt, not before `at`; its partition sends no new batch
    /// until it completes.
    pub(crate) fn schedule_retry(&mut self, slot: u16, at: Instant) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.retry_at = at;
            b.send.retrying = true;
        }
    }

    /// Whether the batch's last attempt may have been written without an answer saying so.
    pub(crate) fn set_uncertain(&mut self, slot: u16, uncertain: bool) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.uncertain = uncertain;
        }
    }

    /// Records the batch's completion (a second one is ignored). It is reported (see
    /// [`Accumulator::pop_completed`]) once every older batch of its partition was. Returns
    /// whether it was in flight, or `None` if it was not pending.
    pub(crate) fn complete(&mut self, slot: u16, outcome: Outcome) -> Option<bool> {
        let b = *self.slot(slot).filter(|b| !b.is_complete() && outcome != Outcome::Pending)?;
        self.set_open_end(&b, false);
        let b = &mut self.slots[usize::from(slot)];
        b.send.outcome = outcome;
        // It may wait for an older batch before it is reported: it takes no more records.
        if let Stage::Open(state) = b.stage {
            b.stage = Stage::Closed(state);
        }
        let was_in_flight = core::mem::replace(&mut b.send.in_flight, false);
        let partition = b.partition;
        if self.queues.get(usize::from(partition)).is_some_and(|q| q.head == slot) {
            self.push_report(slot);
        }
        Some(was_in_flight)
    }

    /// Whether a completion waits to be reported.
    pub(crate) const fn has_completed(&self) -> bool {
        self.report_head != NIL
    }

    /// Takes the next completion to report, in the order described at
    /// [`Accumulator::complete`], and frees its slot and memory. O(1). A part of a split batch
    /// with records after it keeps its slot, which now holds the next part (`Some(slot)`).
    pub(crate) fn pop_completed(&mut self) -> Option<(BatchSlot, Option<u16>)> {
        let slot = self.report_head;
        let b = *self.slot(slot)?;
        self.report_head = b.send.report_next;
        if self.report_head == NIL {
            self.report_tail = NIL;
        }
        if self.next_part(slot) {
            return Some((b, Some(slot)));
        }
        self.remove(slot);
        // Its partition's next batch is now the oldest: reportable if already complete.
        if let Some(next) = self.queues.get(usize::from(b.partition)).map(|q| q.head) {
            if self.slot(next).is_some_and(BatchSlot::is_complete) {
                self.push_report(next);
            }
        }
        Some((b, None))
    }

    pub(super) fn push_report(&mut self, slot: u16) {
        self.slots[usize::from(slot)].send.report_next = NIL;
        match self.report_tail {
            NIL => self.report_head = slot,
            tail => self.slots[usize::from(tail)].send.report_next = slot,
        }
        self.report_tail = slot;
    }
}
