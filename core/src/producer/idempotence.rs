//! Idempotence: the producer id and epoch, where getting them stands, and each partition's
//! sequence numbers. The engine asks this module what a batch is stamped with and tells it what
//! InitProducerId answered; nothing else writes this state.

use managed::ManagedSlice;

use crate::backoff::Backoff;
use crate::protocol::ErrorCode;
use crate::record::ProducerState;
use crate::rng::Rng;
use crate::time::Instant;

/// Batches per producer and partition the broker remembers to deduplicate retries: the most an
/// idempotent producer keeps in flight, and the window a resend must stay inside.
pub(super) const DEDUP_WINDOW: u8 = 5;

/// One partition's sequence bookkeeping: storage only (see [`super::Storage`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionSeq {
    /// The sequence the next sealed batch gets.
    next_sequence: i32,
    /// Batches sealed so far (wrapping): with the seal number of the oldest unanswered batch it
    /// says how many batches the broker may have written since.
    sealed: u32,
}

impl PartitionSeq {
    /// A fresh partition.
    pub(crate) const EMPTY: Self = Self { next_sequence: 0, sealed: 0 };
}

/// The producer id and epoch, and where getting them stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdState {
    /// Not idempotent.
    Disabled,
    /// An InitProducerId is wanted (at `retry_at`), bumping `current` if it is set.
    Wanted { current: ProducerState, retry_at: Instant, failures: u32 },
    /// InitProducerId is in flight on connection slot `conn`.
    InFlight { current: ProducerState, failures: u32, conn: u16 },
    /// The id and epoch in use.
    Ready(ProducerState),
}

/// What an InitProducerId answer leads to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IdAnswer {
    /// None was in flight: nothing changes.
    Ignored,
    /// The new id and epoch; `bumped` when they replace an earlier one (sealed batches not yet
    /// acknowledged must be re-stamped, see [`Idempotence::restamp_from`]).
    Ready { producer: ProducerState, bumped: bool },
    /// Asked again after the backoff.
    Retry,
    /// The producer cannot go on.
    Fatal(ErrorCode),
}

/// See the module docs.
#[derive(Debug)]
pub(super) struct Idempotence<'s> {
    ids: IdState,
    seqs: ManagedSlice<'s, PartitionSeq>,
}

impl<'s> Idempotence<'s> {
    pub(super) fn new(enabled: bool, mut seqs: ManagedSlice<'s, PartitionSeq>, now: Instant) -> Self {
        seqs.iter_mut().for_each(|s| *s = PartitionSeq::EMPTY);
        let ids = if enabled {
            IdState::Wanted { current: ProducerState::NONE, retry_at: now, failures: 0 }
        } else {
            IdState::Disabled
        };
        Self { ids, seqs }
    }

    pub(super) const fn enabled(&self) -> bool {
        !matches!(self.ids, IdState::Disabled)
    }

    /// The id and epoch in use, once known.
    pub(super) const fn producer_id(&self) -> Option<ProducerState> {
        match self.ids {
            IdState::Ready(p) => Some(p),
            _ => None,
        }
    }

    /// What Produce requests may carry now: `Some((producer, settling))`, where `settling`
    /// means an epoch bump waits and only already-sealed uncertain batches go (with their old
    /// stamps; `producer` is unused then). `None`: no batch may go.
    pub(super) const fn produce_mode(&self) -> Option<(ProducerState, bool)> {
        match self.ids {
            IdState::Disabled => Some((ProducerState::NONE, false)),
            IdState::Ready(p) => Some((p, false)),
            IdState::Wanted { current, .. } if current.producer_id >= 0 => Some((ProducerState::NONE, true)),
            _ => None,
        }
    }

    /// The id and epoch in use, or the one a wanted InitProducerId bumps (transaction requests
    /// carry it).
    pub(super) const fn current(&self) -> ProducerState {
        match self.ids {
            IdState::Ready(p) => p,
            IdState::Wanted { current, .. } | IdState::InFlight { current, .. } => current,
            IdState::Disabled => ProducerState::NONE,
        }
    }

    /// EndTxn v5+ bumped the epoch (transactions V2, KIP-890): adopt the id and epoch it
    /// answered; every partition's sequences restart at 0 (no batch is open between
    /// transactions).
    pub(super) fn adopt(&mut self, producer: ProducerState) {
        self.ids = IdState::Ready(ProducerState { base_sequence: 0, ..producer });
        self.seqs.iter_mut().for_each(|s| s.next_sequence = 0);
    }

    /// A wanted InitProducerId: the id and epoch it bumps (`producer_id` -1: a first one) and
    /// when it may go.
    pub(super) const fn wanted(&self) -> Option<(ProducerState, Instant)> {
        match self.ids {
            IdState::Wanted { current, retry_at, .. } => Some((current, retry_at)),
            _ => None,
        }
    }

    /// Whether a wanted InitProducerId bumps the epoch of an id in use.
    pub(super) const fn bump_wanted(&self) -> bool {
        matches!(self.ids, IdState::Wanted { current, .. } if current.producer_id >= 0)
    }

    /// The wanted InitProducerId went out on connection slot `conn`.
    pub(super) fn id_sent(&mut self, conn: u16) {
        if let IdState::Wanted { current, failures, .. } = self.ids {
            self.ids = IdState::InFlight { current, failures, conn };
        }
    }

    /// Connection slot `conn` is gone: if it carried the InitProducerId, ask again at once.
    /// (Another connection's loss leaves it in flight: a second one would bump the epoch the
    /// first answer gives, and the coordinator would fence the producer with it.)
    pub(super) fn id_lost(&mut self, conn: u16, now: Instant) {
        if let IdState::InFlight { current, failures, conn: on } = self.ids {
            if on == conn {
                self.ids = IdState::Wanted { current, retry_at: now, failures };
            }
        }
    }

    /// A sequence may have been lost (a batch that may have been written timed out, or the
    /// broker said OUT_OF_ORDER_SEQUENCE_NUMBER): bump the epoch (KIP-360).
    pub(super) fn request_bump(&mut self, now: Instant) {
        if let IdState::Ready(current) = self.ids {
            self.ids = IdState::Wanted { current, retry_at: now, failures: 0 };
        }
    }

    /// InitProducerId answered `error` with `producer_id` and `epoch`.
    pub(super) fn id_answered(
        &mut self,
        (error, producer_id, epoch): (ErrorCode, i64, i16),
        now: Instant,
        backoff: &Backoff,
        rng: &mut Rng,
    ) -> IdAnswer {
        let IdState::InFlight { current, failures, .. } = self.ids else {
            return IdAnswer::Ignored;
        };
        match error {
            ErrorCode::None => {
                let producer = ProducerState { producer_id, producer_epoch: epoch, base_sequence: 0 };
                self.ids = IdState::Ready(producer);
                IdAnswer::Ready { producer, bumped: current.producer_id >= 0 }
            }
            code if code.is_retriable() || code == ErrorCode::CoordinatorLoadInProgress => {
                let retry_at = now + backoff.delay(failures, rng);
                self.ids = IdState::Wanted { current, retry_at, failures: failures.saturating_add(1) };
                IdAnswer::Retry
            }
            code => IdAnswer::Fatal(code),
        }
    }

    /// Stamps a batch of `records` records of partition slot `pi` as it is sealed: the state to
    /// write (with idempotence, the partition's next sequence) and its seal number.
    pub(super) fn stamp(&mut self, pi: u16, producer: ProducerState, records: u32) -> (ProducerState, u32) {
        let enabled = self.enabled();
        let Some(s) = self.seqs.get_mut(usize::from(pi)) else {
            return (producer, 0);
        };
        let mut state = producer;
        if enabled {
            state.base_sequence = s.next_sequence;
            s.next_sequence = wrapping_sequence(s.next_sequence, records);
        }
        let seal_no = s.sealed;
        s.sealed = s.sealed.wrapping_add(1);
        (state, seal_no)
    }

    /// Batches of partition slot `pi` sealed so far (wrapping).
    pub(super) fn sealed(&self, pi: u16) -> u32 {
        self.seqs.get(usize::from(pi)).map_or(0, |s| s.sealed)
    }

    /// After an epoch bump, partition slot `pi` starts again: its sealed batches not yet
    /// acknowledged, in queue order, take the sequences `restamp` yields from 0 (it gets each
    /// batch's record count and returns whether it re-stamped one), and the next batch follows.
    pub(super) fn restamp_from(&mut self, pi: u16, mut restamp: impl FnMut(i32) -> Option<u32>) {
        let mut seq = 0;
        while let Some(records) = restamp(seq) {
            seq = wrapping_sequence(seq, records);
        }
        if let Some(s) = self.seqs.get_mut(usize::from(pi)) {
            s.next_sequence = seq;
        }
    }

    /// The partition slots with sequence state.
    pub(super) fn partitions(&self) -> usize {
        self.seqs.len()
    }

    /// A topic's partitions moved from slot `from` to slot `to`.
    pub(super) fn move_partition(&mut self, from: u16, to: u16) {
        let Some(&s) = self.seqs.get(usize::from(from)) else {
            return;
        };
        if let Some(t) = self.seqs.get_mut(usize::from(to)) {
            *t = s;
            self.seqs[usize::from(from)] = PartitionSeq::EMPTY;
        }
    }

    /// A recreated topic's partition: new to the broker, so its sequences restart.
    pub(super) fn restart(&mut self, pi: u16) {
        if let Some(s) = self.seqs.get_mut(usize::from(pi)) {
            s.next_sequence = 0;
        }
    }

    /// Makes room for `n` partition slots (std storage grows).
    pub(super) fn fit(&mut self, n: usize) {
        super::grow_slice(&mut self.seqs, n, usize::MAX, PartitionSeq::EMPTY);
    }
}

/// `seq + n`, wrapping to 0 after `i32::MAX` as Kafka's sequences do.
pub(super) const fn wrapping_sequence(seq: i32, n: u32) -> i32 {
    ((seq as i64 + n as i64) % (i32::MAX as i64 + 1)) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_wrap_after_i32_max() {
        assert_eq!(wrapping_sequence(i32::MAX, 1), 0);
        assert_eq!(wrapping_sequence(i32::MAX - 1, 3), 1);
        assert_eq!(wrapping_sequence(5, 10), 15);
    }
}
