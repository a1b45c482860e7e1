//! The in-flight ledger: which batches are out, in which request on which connection, how many
//! of each partition, and the per-partition limit. Every batch goes out, comes back (answered,
//! or requeued when its request is lost) and completes through here, so the counts cannot drift
//! from the batches' own state.

use managed::ManagedSlice;

use super::accumulator::Accumulator;
use super::idempotence::DEDUP_WINDOW;
use super::types::Outcome;

/// See the module docs.
#[derive(Debug)]
pub(super) struct Ledger<'s> {
    /// Batches in flight per partition slot.
    counts: ManagedSlice<'s, u8>,
    limit: u8,
}

impl<'s> Ledger<'s> {
    /// The limit: 5 with idempotence (what the broker deduplicates), else the connection's
    /// `max.in.flight.requests.per.connection`, as in the Java client (with more than 1, a retry
    /// may reorder: Kafka's documented rule).
    pub(super) fn new(mut counts: ManagedSlice<'s, u8>, idempotent: bool, max_in_flight: u32) -> Self {
        counts.iter_mut().for_each(|c| *c = 0);
        let limit = if idempotent { DEDUP_WINDOW } else { u8::try_from(max_in_flight).unwrap_or(u8::MAX) };
        Self { counts, limit }
    }

    /// Whether partition slot `pi` has as many batches in flight as it may.
    pub(super) fn at_limit(&self, pi: u16) -> bool {
        self.counts.get(usize::from(pi)).is_some_and(|&n| n >= self.limit)
    }

    /// Whether partition slot `pi` has a batch in flight.
    pub(super) fn in_flight(&self, pi: u16) -> bool {
        self.counts.get(usize::from(pi)).is_some_and(|&n| n > 0)
    }

    /// Whether any batch is in flight.
    pub(super) fn any(&self) -> bool {
        self.counts.iter().any(|&n| n > 0)
    }

    /// Batch `slot` of partition slot `pi` went out in `request` (connection slot, correlation
    /// id).
    pub(super) fn sent(&mut self, acc: &mut Accumulator<'_>, pi: u16, slot: u16, request: (u16, i32)) {
        acc.mark_sent(slot, request);
        if let Some(n) = self.counts.get_mut(usize::from(pi)) {
            *n = n.saturating_add(1);
        }
    }

    /// Batch `slot`'s request is over without a final answer for it (a retriable error, a lost
    /// connection). Returns whether it was in flight.
    pub(super) fn returned(&mut self, acc: &mut Accumulator<'_>, slot: u16) -> bool {
        let pi = acc.slot(slot).map(|b| b.partition());
        let was = acc.mark_unsent(slot);
        if was {
            self.release(pi);
        }
        was
    }

    /// Batch `slot` completes with `outcome`. `None` if it was complete already.
    pub(super) fn complete(&mut self, acc: &mut Accumulator<'_>, slot: u16, outcome: Outcome) -> Option<()> {
        let pi = acc.slot(slot).map(|b| b.partition());
        if acc.complete(slot, outcome)? {
            self.release(pi);
        }
        Some(())
    }

    fn release(&mut self, pi: Option<u16>) {
        if let Some(n) = pi.and_then(|pi| self.counts.get_mut(usize::from(pi))) {
            *n = n.saturating_sub(1);
        }
    }

    /// Up to 64 batches in flight in the requests `lost` matches, from batch slot `from` on (the
    /// caller takes them out of flight and asks again past the last one until none is left: one
    /// pass over the slots however many batches a lost request carried).
    pub(super) fn in_requests(
        acc: &Accumulator<'_>,
        lost: impl Fn((u16, i32)) -> bool,
        from: u16,
    ) -> heapless::Vec<u16, 64> {
        let mut found = heapless::Vec::new();
        for (slot, b) in acc.iter_slots_from(from) {
            if b.send().in_flight && lost(b.send().request) && found.push(slot).is_err() {
                break;
            }
        }
        found
    }

    /// The batch of partition slot `pi` that went out in `request`.
    pub(super) fn answered_by(acc: &Accumulator<'_>, pi: u16, request: (u16, i32)) -> Option<u16> {
        acc.iter_queue(pi).find(|&s| acc.slot(s).is_some_and(|b| b.send().in_flight && b.send().request == request))
    }

    /// A topic's partitions moved from slot `from` to slot `to`.
    pub(super) fn move_partition(&mut self, from: u16, to: u16) {
        let Some(&n) = self.counts.get(usize::from(from)) else {
            return;
        };
        if let Some(t) = self.counts.get_mut(usize::from(to)) {
            *t = n;
            self.counts[usize::from(from)] = 0;
        }
    }

    /// Makes room for `n` partition slots (std storage grows).
    pub(super) fn fit(&mut self, n: usize) {
        super::grow_slice(&mut self.counts, n, usize::MAX, 0);
    }
}
