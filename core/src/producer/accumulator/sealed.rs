//! Sealed batches: sealing (header, producer id/epoch/sequence, CRC, maybe compression), the
//! re-stamp after an epoch bump, and splitting a batch the broker refused as too large.

use super::{jobs, Accumulator, Stage};
use crate::record::{self, BatchBuilder, ProducerState};
use crate::time::Instant;
// Only the heap build's `split` uses these.
#[cfg(feature = "alloc")]
use {super::SendState, crate::record::BuilderState};

impl<'s> Accumulator<'s> {
    /// Seals a batch: compresses it (into `scratch`; too small a scratch sends it uncompressed)
    /// and writes its header, `producer` state and CRC. Sealing a sealed batch changes nothing.
    /// Returns the sealed length.
    pub(crate) fn seal(
        &mut self,
        slot: u16,
        producer: ProducerState,
        seal_no: u32,
        scratch: &mut [u8],
    ) -> Option<usize> {
        let s = *self.slot(slot)?;
        let state = match s.stage {
            Stage::Open(state) | Stage::Closed(state) => state,
            Stage::Sealed { len, .. } => return Some(len as usize),
            Stage::Free => return None,
        };
        let range = self.chunk_range(&s);
        let builder = BatchBuilder::resume(&mut self.memory[range], state).ok()?;
        // A stored batch always holds at least one record (it is opened with one). Its records
        // may already be compressed (a compression job's result).
        let finished = match (s.send.pre, s.send.pre.done()) {
            (jobs::Pre::PLAIN, _) => builder.finish_precompressed(producer, None),
            (_, Some(n)) => builder.finish_precompressed(producer, Some(n)),
            _ => builder.finish(producer, scratch),
        };
        let len = finished.ok()?.len();
        self.set_open_end(&s, false);
        let s = &mut self.slots[usize::from(slot)];
        if s.send.pre == jobs::Pre::OUT {
            // The job's due time (see `jobs`): a sealed batch's retry_at is its backoff.
            s.send.retry_at = Instant::ZERO;
        }
        s.send.pre = jobs::Pre::NONE;
        s.stage = Stage::Sealed { len: len as u32, plain: state.len() as u32 };
        s.send.producer = producer;
        s.send.seal_no = seal_no;
        Some(len)
    }

    /// The bytes of a sealed batch.
    pub(crate) fn sealed_bytes(&self, slot: u16) -> Option<&[u8]> {
        let s = self.slot(slot)?;
        let Stage::Sealed { len, .. } = s.stage else {
            return None;
        };
        let start = s.first_chunk as usize * self.chunk_size;
        self.memory.get(start..start + len as usize)
    }

    /// Re-stamps a sealed batch's producer id, epoch and base sequence (epoch bump), and its CRC.
    pub(crate) fn restamp(&mut self, slot: u16, producer: ProducerState) -> bool {
        let Some(s) = self.slot(slot).copied() else {
            return false;
        };
        let Stage::Sealed { len, .. } = s.stage else {
            return false;
        };
        let start = s.first_chunk as usize * self.chunk_size;
        let ok = record::set_producer_state(&mut self.memory[start..start + len as usize], producer).is_ok();
        if ok {
            self.slots[usize::from(slot)].send.producer = producer;
        }
        ok
    }

    /// Splits a sealed batch of at least two records (the broker refused it as too large) in
    /// place: its first half becomes the batch to send (closed, uncompressed until sealed
    /// again), and the second half waits in the same memory, after it, as the slot's `rest`
    /// until this part completes ([`Accumulator::pop_completed`] then makes it the slot's next
    /// part). No memory or slot is taken, so a full buffer cannot keep a split from happening.
    /// The records of a compressed batch are decompressed through `scratch`. Returns whether it
    /// split (not a batch of one record, nor one whose records do not read back).
    ///
    /// Heap builds only: without one (the no_std firmware), the split code and the codecs'
    /// decompressors it needs would not fit the flash budget, and a refused batch fails.
    #[cfg(feature = "alloc")]
    pub(crate) fn split(&mut self, slot: u16, scratch: &mut [u8]) -> bool {
        let Some(s) = self.slot(slot).copied() else {
            return false;
        };
        let Stage::Sealed { len, .. } = s.stage else {
            return false;
        };
        if s.records < 2 {
            return false;
        }
        let (start, header) = (s.first_chunk as usize * self.chunk_size, record::BATCH_HEADER_LEN);
        let Ok(batch) = record::RecordBatch::parse(&self.memory[start..start + len as usize]) else {
            return false;
        };
        let base_ts = batch.base_timestamp();
        let codec = batch.compression();
        let plain = if codec == crate::compression::Compression::None {
            len as usize - header
        } else {
            let Ok(n) = codec.decompress(batch.records_data(), scratch) else {
                return false;
            };
            // The records took these bytes before they were compressed, and the rest (if any)
            // starts right after them.
            let Some(to) = self.memory.get_mut(start + header..start + header + n) else {
                return false;
            };
            to.copy_from_slice(&scratch[..n]);
            n
        };
        let k = s.records / 2;
        let Some((cut, max_a)) =
            record::split::prefix(&self.memory[start + header..start + header + plain], k as usize)
        else {
            return false;
        };
        let ts = (base_ts, base_ts.wrapping_add(max_a));
        let a = &mut self.slots[usize::from(slot)];
        a.stage = Stage::Closed(BuilderState::of_records(self.config, header + cut, k as i32, ts));
        a.rest += s.records - k;
        a.records = k;
        true
    }

    /// Makes the records waiting after a completed part of a split batch the slot's next part:
    /// they move to the front, their OffsetDeltas restart at 0, and the batch is closed with a
    /// fresh send state (the producer state and seal number of the part before it, which the
    /// engine re-stamps). Returns whether the slot holds a next part.
    #[cfg(feature = "alloc")]
    pub(super) fn next_part(&mut self, slot: u16) -> bool {
        let Some(s) = self.slot(slot).copied().filter(|s| s.rest > 0) else {
            return false;
        };
        let (start, header) = (s.first_chunk as usize * self.chunk_size, record::BATCH_HEADER_LEN);
        let rest_at = start + s.plain_len();
        let end = start + s.chunks as usize * self.chunk_size;
        // `split` read these records already, so they read again.
        let rest_len = record::split::prefix(&self.memory[rest_at..end], s.rest as usize).map_or(0, |(n, _)| n);
        let from = rest_at..rest_at + rest_len;
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&self.memory[start + record::offset::BASE_TIMESTAMP..][..8]);
        let base_ts = i64::from_be_bytes(ts);
        self.memory.copy_within(from, start + header);
        let region = &mut self.memory[start + header..start + header + rest_len];
        let (len, _) = record::split::rebase(region, s.rest as usize, s.records as i32).unwrap_or((0, 0));
        // The part just delivered fitted the broker's limit: the next one takes as many records
        // as fit its size (at least one), and the others wait behind it again.
        let limit = s.plain_len();
        let (mut count, mut bytes, mut max) = (0usize, 0usize, 0i64);
        while count < s.rest as usize {
            let Some((end, m)) = record::split::prefix(&self.memory[start + header + bytes..start + header + len], 1)
            else {
                break;
            };
            if count > 0 && header + bytes + end > limit {
                break;
            }
            (count, bytes, max) = (count + 1, bytes + end, if count == 0 { m } else { max.max(m) });
        }
        let ts = (base_ts, base_ts.wrapping_add(max));
        let b = &mut self.slots[usize::from(slot)];
        b.stage = Stage::Closed(BuilderState::of_records(self.config, header + bytes, count as i32, ts));
        b.first += s.records;
        b.records = count as u32;
        b.rest = s.rest - count as u32;
        b.send = SendState { producer: s.send.producer, seal_no: s.send.seal_no, ..SendState::NEW };
        true
    }

    /// See the heap build's `split`: without a heap nothing is split.
    #[cfg(not(feature = "alloc"))]
    pub(crate) fn split(&mut self, _slot: u16, _scratch: &mut [u8]) -> bool {
        false
    }

    #[cfg(not(feature = "alloc"))]
    pub(super) fn next_part(&mut self, _slot: u16) -> bool {
        false
    }
}
