//! Giving the arena's empty memory back (feature `alloc`): `buffer.memory` is a bound, not an
//! allocation.
//!
//! A heap arena is allocated zeroed, so the operating system maps its pages only when a batch
//! first writes them; but pages once written stay resident after their batches are gone. A
//! driver that can return pages (std: `madvise(MADV_DONTNEED)`, which the core cannot call: it
//! is `no_std` and without `unsafe`) hands a release function to [`super::super::Storage::with_release`].
//! The accumulator then tracks which chunks were written since they were last released
//! ("resident"). When a batch completes, the arena is mostly empty (at most 1/8 of it holds
//! batches) and more than a slack of free chunks are resident (1/32 of the arena, at least 4
//! chunks), it releases free resident chunks from the top of the arena down (chunks are taken
//! lowest first, so the top ones are the least likely to be needed again soon) to half the
//! slack, in contiguous runs, one call per run.
//!
//! Both conditions keep the hot path free of calls and of page faults: at full speed the arena
//! stays mostly full (a sender blocked on a full buffer waits until a quarter of it is free,
//! kprod-std's wake-up mark, and fills it again), so nothing is released that would be written
//! again at once; release happens at batch completion only, never per record.

use alloc::vec;
use alloc::vec::Vec;

use super::Accumulator;

/// Releases arena memory that holds no batch: the bytes may read as anything afterwards (the
/// accumulator writes a chunk before it reads it). Called with whole, contiguous chunks.
pub(crate) type Release = fn(&mut [u8]);

/// The release hook and the resident chunks.
#[derive(Debug)]
pub(crate) struct Trim {
    release: Option<Release>,
    /// One bit per chunk: written since it was last released.
    resident: Vec<u32>,
    /// Chunks resident and free.
    resident_free: usize,
    /// Release when more free chunks than this are resident.
    slack: usize,
}

impl Trim {
    pub(crate) fn new(chunk_count: usize) -> Self {
        Self { release: None, resident: Vec::new(), resident_free: 0, slack: (chunk_count / 32).max(4) }
    }

    fn is_resident(&self, i: usize) -> bool {
        self.resident[i / 32] & (1 << (i % 32)) != 0
    }

    fn set_resident(&mut self, i: usize, on: bool) {
        let bit = 1u32 << (i % 32);
        if on {
            self.resident[i / 32] |= bit;
        } else {
            self.resident[i / 32] &= !bit;
        }
    }
}

impl Accumulator<'_> {
    /// Releases free arena memory through `release` from now on (see the module docs).
    pub(crate) fn set_release(&mut self, release: Release) {
        self.trim.release = Some(release);
        self.trim.resident = vec![0; self.chunk_map.len()];
        // Chunks in use now are resident; free ones were never written or are not tracked.
        for i in 0..self.chunk_count {
            if self.chunk_used(i) {
                self.trim.set_resident(i, true);
            }
        }
        self.trim.resident_free = 0;
    }

    /// Chunks `first..first + n` were taken for a batch: resident from now on.
    pub(super) fn trim_taken(&mut self, first: usize, n: usize) {
        if self.trim.release.is_none() {
            return;
        }
        for i in first..first + n {
            if self.trim.is_resident(i) {
                self.trim.resident_free -= 1;
            } else {
                self.trim.set_resident(i, true);
            }
        }
    }

    /// Chunks `first..first + n` were freed (a batch completed); releases free resident chunks
    /// once more than the slack of them are kept.
    pub(super) fn trim_freed(&mut self, n: usize) {
        let Some(release) = self.trim.release else {
            return;
        };
        self.trim.resident_free += n;
        if self.trim.resident_free <= self.trim.slack || self.used_chunks > self.chunk_count / 8 {
            return;
        }
        let keep = self.trim.slack / 2;
        let mut i = self.chunk_count;
        while self.trim.resident_free > keep && i > 0 {
            // Skip to the top free resident chunk below `i`, a word at a time.
            let w = (i - 1) / 32;
            let mask = if i % 32 == 0 { u32::MAX } else { (1u32 << (i % 32)) - 1 };
            let candidates = self.trim.resident[w] & !self.chunk_map[w] & mask;
            if candidates == 0 {
                i = w * 32;
                continue;
            }
            let end = w * 32 + 32 - candidates.leading_zeros() as usize;
            let mut start = end - 1;
            while start > 0 && self.trim.resident_free - (end - start) > keep && self.releasable(start - 1) {
                start -= 1;
            }
            for c in start..end {
                self.trim.set_resident(c, false);
            }
            self.trim.resident_free -= end - start;
            release(&mut self.memory[start * self.chunk_size..end * self.chunk_size]);
            i = start;
        }
    }

    fn releasable(&self, i: usize) -> bool {
        self.trim.is_resident(i) && !self.chunk_used(i)
    }

    /// Chunks written and not released since (tests).
    #[cfg(test)]
    pub(crate) fn resident_chunks(&self) -> usize {
        (0..self.chunk_count).filter(|&i| self.trim.is_resident(i)).count()
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;
    use alloc::vec::Vec;
    use core::cell::RefCell;
    use core::time::Duration;

    use crate::producer::accumulator::{chunk_map_words, Accumulator, BatchSlot, PartitionQueue};
    use crate::producer::Outcome;
    use crate::record::{BatchConfig, ProducerState, Record, RecordBatch};
    use crate::time::Instant;

    extern crate std;

    std::thread_local! {
        /// Bytes released on this thread, and how many calls.
        static RELEASED: RefCell<(usize, usize)> = const { RefCell::new((0, 0)) };
    }

    /// A release that scribbles over the bytes, as a discarded page may read as anything.
    fn scribble(bytes: &mut [u8]) {
        bytes.fill(0xAA);
        RELEASED.with(|r| {
            let mut r = r.borrow_mut();
            r.0 += bytes.len();
            r.1 += 1;
        });
    }

    const CHUNK: usize = 1024;
    const CHUNKS: usize = 256;
    const DELIVERED: Outcome = Outcome::Delivered { base_offset: 0, log_append_time: -1 };

    fn acc() -> Accumulator<'static> {
        let mut a = Accumulator::new(
            vec![BatchSlot::EMPTY; 4].into(),
            vec![PartitionQueue::EMPTY; 1].into(),
            vec![0u8; CHUNKS * CHUNK].into(),
            vec![0u32; chunk_map_words(CHUNKS * CHUNK, CHUNK)].into(),
            BatchConfig::new(CHUNK),
            Duration::from_millis(5),
        )
        .unwrap();
        a.set_release(scribble);
        a
    }

    /// One batch per record (900-byte values in 1 KiB batches), `n` of them.
    fn fill(a: &mut Accumulator<'_>, n: usize, tag: u8) -> Vec<u16> {
        for i in 0..n {
            let v = vec![tag.wrapping_add(i as u8); 900];
            a.append(
                0,
                &Record::new(i as i64, None, Some(&v)),
                1 << 20,
                crate::producer::ratio::Ratio::ONE,
                Instant::ZERO,
            )
            .unwrap();
        }
        a.iter_queue(0).collect()
    }

    fn drain(a: &mut Accumulator<'_>) {
        for s in a.iter_queue(0).collect::<Vec<_>>() {
            a.complete(s, DELIVERED).unwrap();
        }
        while a.pop_completed().is_some() {}
    }

    #[test]
    fn a_drained_arena_keeps_at_most_the_slack_and_releases_in_runs() {
        let mut a = acc();
        assert_eq!(a.resident_chunks(), 0, "nothing is written before a batch needs it");
        fill(&mut a, CHUNKS, 0);
        assert_eq!(a.resident_chunks(), CHUNKS);
        RELEASED.with(|r| *r.borrow_mut() = (0, 0));
        drain(&mut a);
        let slack = CHUNKS / 32;
        assert!(a.resident_chunks() <= slack, "{} resident after the drain", a.resident_chunks());
        let (bytes, calls) = RELEASED.with(|r| *r.borrow());
        assert_eq!(bytes, (CHUNKS - a.resident_chunks()) * CHUNK);
        // A release waits until more than the slack is free and then gives back half of it
        // in one run from the top: one call per slack / 2 chunks, not one per chunk.
        assert!(calls * (slack / 2) <= CHUNKS, "{calls} release calls for {CHUNKS} chunks");
    }

    #[test]
    fn released_chunks_are_rewritten_before_use() {
        let mut a = acc();
        fill(&mut a, CHUNKS, 0);
        drain(&mut a);
        // The scribbled chunks hold new batches that seal to exactly what went in.
        let slots = fill(&mut a, 4, 7);
        for (i, &s) in slots.iter().enumerate() {
            a.seal(s, ProducerState::NONE, 0, &mut []).unwrap();
            let parsed = RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap();
            let r = parsed.records().unwrap().next().unwrap().unwrap();
            assert_eq!(r.value, Some(&vec![7 + i as u8; 900][..]));
        }
    }

    #[test]
    fn a_full_arena_that_refills_releases_nothing() {
        let mut a = acc();
        fill(&mut a, CHUNKS, 0);
        RELEASED.with(|r| *r.borrow_mut() = (0, 0));
        // Steady state at full speed: a blocked sender waits until a quarter of the arena is
        // free (kprod-std's wake-up mark, far above the slack), then fills it again.
        for round in 0..40 {
            for _ in 0..CHUNKS / 4 {
                let oldest = a.iter_queue(0).next().unwrap();
                a.complete(oldest, DELIVERED).unwrap();
                assert!(a.pop_completed().is_some());
            }
            fill(&mut a, CHUNKS / 4, round as u8);
        }
        assert_eq!(RELEASED.with(|r| *r.borrow()), (0, 0));
        assert_eq!(a.resident_chunks(), CHUNKS);
    }
}
