//! [`Deliveries`]: the fixed table of per-record completion slots behind the [`super::Delivery`]
//! futures. No heap: `D` slots, each with its waker.
//!
//! A slot is claimed when `send` accepts a record, filled when the completion that covers the
//! record is drained, and freed when its future takes the result. A future dropped before its
//! record completed leaves the slot `Abandoned`: the completion frees it.

use embassy_sync::waitqueue::WakerRegistration;
use kprod_core::producer::{Completion, DeliveryError, RecordId};

/// What a delivery future resolves to: the record's offset (-1 if unknown, with `acks=0`), or
/// why it was not delivered.
pub type DeliveryResult = Result<i64, DeliveryError>;

/// One slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Slot {
    Free,
    /// A future waits for this record.
    Waiting(RecordId),
    /// Its future was dropped; the completion frees the slot.
    Abandoned(RecordId),
    /// Completed; the future has not taken the result yet.
    Done(DeliveryResult),
}

/// `D` slots and their wakers.
#[derive(Debug)]
pub(super) struct Deliveries<const D: usize> {
    slots: [Slot; D],
    wakers: [WakerRegistration; D],
}

impl<const D: usize> Deliveries<D> {
    pub(super) fn new() -> Self {
        Self { slots: [Slot::Free; D], wakers: core::array::from_fn(|_| WakerRegistration::new()) }
    }

    /// A free slot, if any.
    pub(super) fn free(&self) -> Option<usize> {
        self.slots.iter().position(|s| *s == Slot::Free)
    }

    /// Slots in use.
    pub(super) fn in_use(&self) -> usize {
        self.slots.iter().filter(|s| **s != Slot::Free).count()
    }

    /// Claims slot `i` (from [`Deliveries::free`]) for record `id`.
    pub(super) fn claim(&mut self, i: usize, id: RecordId) {
        self.slots[i] = Slot::Waiting(id);
    }

    /// Fills every slot whose record `c` covers and wakes its future; frees abandoned ones.
    /// Returns whether a slot was freed.
    pub(super) fn complete(&mut self, c: &Completion<&str>) -> bool {
        let mut freed = false;
        for (slot, waker) in self.slots.iter_mut().zip(&mut self.wakers) {
            match *slot {
                Slot::Waiting(id) if c.covers(id) => {
                    // `covers` held, so a delivered completion has an offset for it.
                    *slot = Slot::Done(c.result().map(|_| c.offset_of(id).unwrap_or(-1)));
                    waker.wake();
                }
                Slot::Abandoned(id) if c.covers(id) => {
                    *slot = Slot::Free;
                    freed = true;
                }
                _ => {}
            }
        }
        freed
    }

    /// The result of slot `i` if its record completed (the slot is freed), else `None` and
    /// the waker is kept for the completion.
    pub(super) fn take(&mut self, i: usize, waker: &core::task::Waker) -> Option<DeliveryResult> {
        if let Slot::Done(result) = self.slots[i] {
            self.slots[i] = Slot::Free;
            return Some(result);
        }
        self.wakers[i].register(waker);
        None
    }

    /// Slot `i`'s future was dropped before it took a result. Returns whether the slot is
    /// free now.
    pub(super) fn abandon(&mut self, i: usize) -> bool {
        match self.slots[i] {
            Slot::Waiting(id) => {
                self.slots[i] = Slot::Abandoned(id);
                false
            }
            Slot::Done(_) => {
                self.slots[i] = Slot::Free;
                true
            }
            Slot::Free | Slot::Abandoned(_) => false,
        }
    }
}
