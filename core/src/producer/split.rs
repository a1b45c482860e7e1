//! A batch the broker refused as too large (MESSAGE_TOO_LARGE) is split and sent again, as the
//! Java client does (`Sender.completeBatch`, `RecordAccumulator.splitAndReenqueue`).
//!
//! The refused batch is cut in two halves by record count (again and again while the broker
//! still refuses a part), so any topic `max.message.bytes` that one record fits is reached. The
//! halves stay in the batch's slot and memory (no memory is taken, so a full buffer cannot stop
//! a split) and go one after the other: the first with the batch's base sequence, the second,
//! once the first completed, at base + the first's records. So the batch's sequence range and
//! its place in the partition's queue stay the same, and batches sealed after it keep theirs.
//! With idempotence those later batches were refused out of order (the broker wrote nothing
//! past the gap) and are simply retried behind the halves: the first half is marked retrying,
//! and a completed part with records after it holds its partition, so nothing overtakes. Each
//! part completes on its own ([`super::Completion::Delivered`]'s `first` and `more`). A single record that is too large fails (see
//! [`super::DeliveryError::Broker`]'s text for MESSAGE_TOO_LARGE).

use super::accumulator::BatchSlot;
use super::engine::Producer;
use super::idempotence::wrapping_sequence;
use super::types::{DeliveryError, Outcome};
use crate::partitioner::Partitioner;
use crate::protocol::ErrorCode;
use crate::record::ProducerState;
use crate::time::Instant;

impl<P: Partitioner> Producer<'_, P> {
    /// The broker answered MESSAGE_TOO_LARGE for batch `slot`.
    pub(super) fn on_too_large(&mut self, slot: u16, now: Instant) {
        let Some(b) = self.acc.slot(slot).copied() else {
            return;
        };
        if b.records() < 2 {
            self.complete(slot, Outcome::Failed(DeliveryError::Broker(ErrorCode::MessageTooLarge)));
            return;
        }
        // Past the batch's delivery timeout no part goes out again (see `next_part`).
        if now >= b.created() + self.config.delivery_timeout {
            self.expire(slot, now);
            return;
        }
        self.ledger.returned(&mut self.acc, slot);
        let scratch: &mut [u8] = &mut self.scratch;
        if !self.acc.split(slot, scratch) {
            // No heap (no_std builds do not split), or records that do not read back (our
            // bug): it fails rather than be refused again and again.
            self.complete(slot, Outcome::Failed(DeliveryError::Broker(ErrorCode::MessageTooLarge)));
            return;
        }
        self.seal_part(slot, b.producer(), b.send().seal_no);
        self.acc.schedule_retry(slot, now);
        self.metrics.batch_split();
    }

    /// Part `done` of a split batch was reported, and `slot` now holds the records after it.
    /// They go next with the sequences after the part's, when it was delivered or refused
    /// alone as too large, unless the batch's delivery timeout has passed (they fail with it);
    /// otherwise they end as it did (a delivery timeout, an abort, a close, a fatal error: what
    /// ended it ends them too).
    pub(super) fn next_part(&mut self, slot: u16, done: &BatchSlot) {
        match done.send().outcome {
            Outcome::Delivered { .. } | Outcome::Failed(DeliveryError::Broker(ErrorCode::MessageTooLarge)) => {}
            outcome => {
                self.complete(slot, outcome);
                return;
            }
        }
        // The delivery timeout covers the whole batch, as in Java (a split part keeps the
        // batch's creation time): parts still to go once it has passed fail with it rather than
        // go out one after the other past it.
        if self.acc.slot(slot).is_some_and(|b| self.now >= b.created() + self.config.delivery_timeout) {
            self.expire(slot, self.now);
            return;
        }
        let p = done.producer();
        let state = if p.base_sequence >= 0 {
            ProducerState { base_sequence: wrapping_sequence(p.base_sequence, done.records()), ..p }
        } else {
            p
        };
        self.seal_part(slot, state, done.send().seal_no);
    }

    /// Seals a part of a split batch; its topic's compression ratio estimate learns from it, as
    /// from any batch sealed (Java closes split parts as other batches).
    fn seal_part(&mut self, slot: u16, producer: ProducerState, seal_no: u32) {
        let plain = self.acc.slot(slot).map_or(0, BatchSlot::len);
        let scratch: &mut [u8] = &mut self.scratch;
        if let Some(sealed) = self.acc.seal(slot, producer, seal_no, scratch) {
            self.learn_ratio(slot, plain, sealed);
        }
    }
}
