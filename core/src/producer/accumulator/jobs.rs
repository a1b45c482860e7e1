//! Compression jobs: a closed batch's records compressed ahead of its seal, outside the engine.
//!
//! A compressed producer's batches are compressed when they are sealed, inside the engine, so
//! under whatever lock a driver keeps around it, and on the one thread that drains it. A driver
//! may take that work out (see `Producer::take_compression_job`): a *closed* batch (it takes no
//! more records) is handed out with its plain records; the driver compresses a copy wherever it
//! likes (kprod-std: its IO thread between rounds, and a sender blocked on a full buffer, both
//! without the lock, so two cores compress) and hands the result back, which is copied over the
//! records in place. The seal then only writes the header.
//!
//! Nothing waits on a job for ever: a batch whose job is out is held from sending for at most
//! [`JOB_TIMEOUT`] (it is due then, and `poll_timeout` says so), after which the seal compresses
//! it as if no job had been taken, and the late result is dropped. A result for a batch that was
//! sealed, completed or replaced meanwhile is dropped too (the slot's batch id tells). A driver
//! that never takes jobs sees no change, so the no_std drivers and the simulator are unaffected.

use super::{Accumulator, BatchSlot, Stage, NIL};
use crate::producer::types::{BatchId, Outcome};
use crate::record::BATCH_HEADER_LEN;
use crate::time::Instant;

/// How long a batch whose compression job is out waits for its result before the seal
/// compresses it itself. A job takes milliseconds (a 1 MiB batch at gzip level 6: about 16 ms
/// on the benchmark machine); this only bounds a job that never comes back.
pub(crate) const JOB_TIMEOUT: core::time::Duration = core::time::Duration::from_secs(1);

/// A closed batch's compression ahead of its seal, in four bytes (a batch slot's size is a
/// documented budget, `storage.rs`): [`Pre::NONE`], [`Pre::OUT`], [`Pre::PLAIN`], or the
/// length its records were compressed to (at least 1, below `MAX_BATCH_LEN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pre(u32);

impl Pre {
    /// Not compressed ahead: the seal compresses it.
    pub(crate) const NONE: Self = Self(0);
    /// Handed out as a job; the batch's `send.retry_at` (unused before a batch is sent) holds
    /// when the seal stops waiting for the result.
    pub(crate) const OUT: Self = Self(u32::MAX);
    /// Compressed ahead and not smaller: it is sealed plain.
    pub(crate) const PLAIN: Self = Self(u32::MAX - 1);

    /// The length of its records compressed ahead, in place after the header.
    pub(crate) const fn done(self) -> Option<usize> {
        match self {
            Self::NONE | Self::OUT | Self::PLAIN => None,
            Self(n) => Some(n as usize),
        }
    }
}

impl BatchSlot {
    /// Until when it waits for its compression job's result, while the job is out.
    pub(crate) fn job_due(&self) -> Option<Instant> {
        if self.send.pre == Pre::OUT {
            Some(self.send.retry_at)
        } else {
            None
        }
    }

    /// Whether it may be handed out as a compression job: closed, never sent, not compressed
    /// ahead yet, and not a split part with records waiting after it.
    fn wants_job(&self) -> bool {
        matches!(self.stage, Stage::Closed(_))
            && self.send.pre == Pre::NONE
            && self.rest == 0
            && self.send.outcome == Outcome::Pending
            && self.send.attempts == 0
            && !self.send.in_flight
    }
}

impl Accumulator<'_> {
    /// The next batch to hand out as a compression job: in partition slot order, the oldest
    /// closed batch of each queue that [`BatchSlot::wants_job`]. Only looks when a batch closed
    /// since it last found none.
    pub(crate) fn job_candidate(&mut self) -> Option<u16> {
        if !self.jobs_hint || self.config.compression == crate::compression::Compression::None {
            return None;
        }
        for q in self.queues.iter() {
            let mut slot = q.head;
            while slot != NIL {
                let b = &self.slots[usize::from(slot)];
                if b.wants_job() {
                    return Some(slot);
                }
                slot = b.next;
            }
        }
        self.jobs_hint = false;
        None
    }

    /// Hands batch `slot` out as a job at `now`: its id and plain records.
    pub(crate) fn start_job(&mut self, slot: u16, now: Instant) -> Option<(BatchId, &[u8])> {
        let s = self.slots.get_mut(usize::from(slot)).filter(|s| s.wants_job())?;
        let Stage::Closed(state) = s.stage else {
            return None;
        };
        s.send.pre = Pre::OUT;
        s.send.retry_at = now + JOB_TIMEOUT;
        let start = s.first_chunk as usize * self.chunk_size;
        self.memory.get(start + BATCH_HEADER_LEN..start + state.len()).map(|records| (s.id, records))
    }

    /// A job's result for batch `id` in `slot`: its records compressed (`None`: compression
    /// failed). Copied over the plain records if smaller; dropped if the batch is no longer
    /// waiting for it. Returns whether it was taken.
    pub(crate) fn finish_job(&mut self, slot: u16, id: BatchId, compressed: Option<&[u8]>) -> bool {
        let Some(s) = self.slots.get(usize::from(slot)).copied() else {
            return false;
        };
        let Stage::Closed(state) = s.stage else {
            return false;
        };
        // Completed meanwhile (expired, or failed with its transaction) but not yet reported:
        // it will never be sent.
        if s.id != id || s.send.pre != Pre::OUT || s.send.outcome != Outcome::Pending {
            return false;
        }
        let plain = state.len() - BATCH_HEADER_LEN;
        let start = s.first_chunk as usize * self.chunk_size + BATCH_HEADER_LEN;
        let pre = match compressed {
            // Not empty: no codec's output is (and 0 means NONE).
            Some(c) if c.len() < plain && !c.is_empty() => {
                self.memory[start..start + c.len()].copy_from_slice(c);
                // Smaller than the plain records, which are below MAX_BATCH_LEN.
                Pre(c.len() as u32)
            }
            _ => Pre::PLAIN,
        };
        let s = &mut self.slots[usize::from(slot)];
        s.send.pre = pre;
        s.send.retry_at = Instant::ZERO;
        true
    }
}
