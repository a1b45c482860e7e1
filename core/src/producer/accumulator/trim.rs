//! Giving the arena's empty memory back (feature `alloc`): `buffer.memory` is a bound, not an
//! allocation.
//!
//! A heap arena is allocated zeroed, so the operating system maps its pages only when a batch
//! first writes them; but pages once written stay resident after their batches are gone. A
//! driver that can return pages (std: `madvise(MADV_DONTNEED)`, which the core cannot call: it
//! is `no_std` and without `unsafe`) hands a release function to [`super::super::Storage::with_release`].
//! The accumulator then tracks which chunks were written since they were last released
//! ("resident"): when a batch's chunks are freed, those its records were written to. Two rules
//! release them, both at batch completion only, never per record:
//!
//! - **A batch's tail.** A batch takes more chunks than its records fill (a whole `batch.size`
//!   block while every partition could have one), and a block's chunks stay resident as far as
//!   the largest batch that used it wrote. So when a batch is freed, the whole pages past its
//!   records that an earlier batch wrote are released, in one call, once they hold at least as
//!   many written chunks as the batch's records: a block then keeps past its last batch's
//!   records at most as much as they fill. Without this, many partitions at a moderate rate
//!   (batches of a few records) kept the pages that earlier, larger batches wrote: 3 of the 26
//!   MiB peak RSS at 1,000 topics and 200,000 records/s. The floor is for batches whose size
//!   only wavers (one partition at a fixed rate): releasing every page a batch left that its
//!   predecessor wrote cost an `madvise` and the page faults that wrote them again every second
//!   batch: about 6% of the CPU at 50,000 records/s of 1 KiB (BENCHMARKS.md, issue 15).
//!   Batches that fill their chunks (one busy partition) have no tail, so they make no call.
//! - **A drained arena.** When the arena is mostly empty (at most 1/8 of it holds batches) and
//!   more than a slack of free chunks are resident (1/32 of the arena, at least 4 chunks), free
//!   resident chunks are released from the top of the arena down (chunks are taken lowest
//!   first, so the top ones are the least likely to be needed again soon) to half the slack, in
//!   contiguous runs, one call per run. At full speed the arena stays mostly full (a sender
//!   blocked on a full buffer waits until a quarter of it is free, kprod-std's wake-up mark, and
//!   fills it again), so nothing is released that would be written again at once.

use alloc::vec;
use alloc::vec::Vec;

use super::Accumulator;

/// Releases arena memory that holds no batch: the bytes may read as anything afterwards (the
/// accumulator writes a chunk before it reads it). Called with whole, contiguous chunks, or
/// (a batch's tail) with whole pages of the size given with it.
pub(crate) type Release = fn(&mut [u8]);

/// The release hook and the resident chunks.
#[derive(Debug)]
pub(crate) struct Trim {
    release: Option<Release>,
    /// The arena offset of its first page boundary, and the page size (a power of two).
    pages: (usize, usize),
    /// One bit per chunk: written since it was last released.
    resident: Vec<u32>,
    /// Chunks resident and free.
    resident_free: usize,
    /// Release when more free chunks than this are resident.
    slack: usize,
}

impl Trim {
    pub(crate) fn new(chunk_count: usize) -> Self {
        Self { release: None, pages: (0, 1), resident: Vec::new(), resident_free: 0, slack: (chunk_count / 32).max(4) }
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
    /// Releases free arena memory through `release` from now on, which gives back whole pages
    /// of `page_size` bytes (see the module docs).
    pub(crate) fn set_release(&mut self, release: Release, page_size: usize) {
        let page = page_size.max(1).next_power_of_two();
        // Where the pages start in the arena: its address only places the page boundaries.
        let skew = (page - self.memory.as_ptr() as usize % page) % page;
        self.trim.pages = (skew, page);
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

    /// Chunks `first..first + n` were taken for a batch: the resident ones are no longer free.
    pub(super) fn trim_taken(&mut self, first: usize, n: usize) {
        if self.trim.release.is_none() {
            return;
        }
        for i in first..first + n {
            if self.trim.is_resident(i) {
                self.trim.resident_free -= 1;
            }
        }
    }

    /// Chunks `first..first + n` were freed, and the first `written` of them hold what the
    /// batch wrote: they are resident. Releases the resident ones past them (an earlier batch
    /// wrote them), then free resident chunks from the top once more than the slack of them
    /// are kept (see the module docs).
    pub(super) fn trim_freed(&mut self, first: usize, n: usize, written: usize) {
        let Some(release) = self.trim.release else {
            return;
        };
        let (end, tail_at) = (first + n, first + written);
        for i in first..tail_at {
            self.trim.set_resident(i, true);
        }
        self.release_tail(release, tail_at, end, written);
        self.trim.resident_free += (first..end).filter(|&i| self.trim.is_resident(i)).count();
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
            // Its chunks count as released even where they share a page with a chunk in use
            // (the page stays): a run is released once, not looked at after every batch.
            for c in start..end {
                self.trim.set_resident(c, false);
            }
            self.trim.resident_free -= end - start;
            release(&mut self.memory[start * self.chunk_size..end * self.chunk_size]);
            i = start;
        }
    }

    /// Releases the whole pages of free chunks `start..end` (a freed batch's chunks past its
    /// records, which were `written` chunks) if at least `written` resident chunks (and at
    /// least one) lie wholly in them: those chunks are no longer resident. Chunks partly in a
    /// page shared with others (its records, the next batch) stay resident, so a later, shorter
    /// batch in the same place releases them, and do not cause a call alone: once their part in
    /// the released pages is gone they would cause one after every batch. No call when nothing
    /// would be released.
    fn release_tail(&mut self, release: Release, start: usize, end: usize, written: usize) {
        let (cs, (skew, page)) = (self.chunk_size, self.trim.pages);
        let (from, to) = (start * cs, end * cs);
        // The page boundaries at or after `from` and at or before `to`, as arena offsets.
        let first = if from <= skew { skew } else { skew + (from - skew).next_multiple_of(page) };
        let last = if to < skew { 0 } else { skew + (to - skew) / page * page };
        if first >= last {
            return;
        }
        let inner = first.div_ceil(cs)..last / cs;
        if inner.clone().filter(|&i| self.trim.is_resident(i)).count() < written.max(1) {
            return;
        }
        for i in inner {
            self.trim.set_resident(i, false);
        }
        release(&mut self.memory[first..last]);
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
        /// Bytes released on this thread, how many calls, and how many of them were not whole
        /// pages of [`PAGE`] bytes.
        static RELEASED: RefCell<(usize, usize, usize)> = const { RefCell::new((0, 0, 0)) };
    }

    /// A release that scribbles over the bytes, as a discarded page may read as anything.
    fn scribble(bytes: &mut [u8]) {
        bytes.fill(0xAA);
        RELEASED.with(|r| {
            let mut r = r.borrow_mut();
            r.0 += bytes.len();
            r.1 += 1;
            r.2 += usize::from(bytes.as_ptr() as usize % PAGE != 0 || bytes.len() % PAGE != 0);
        });
    }

    const PAGE: usize = 4096;

    const CHUNK: usize = 1024;
    const CHUNKS: usize = 256;
    const DELIVERED: Outcome = Outcome::Delivered { base_offset: 0, log_append_time: -1 };

    fn acc() -> Accumulator<'static> {
        acc_of(CHUNKS * CHUNK, CHUNK, PAGE)
    }

    fn acc_of(memory: usize, batch_size: usize, page: usize) -> Accumulator<'static> {
        let mut a = Accumulator::new(
            vec![BatchSlot::EMPTY; 4].into(),
            vec![PartitionQueue::EMPTY; 1].into(),
            vec![0u8; memory].into(),
            vec![0u32; chunk_map_words(memory, batch_size)].into(),
            BatchConfig::new(batch_size),
            Duration::from_millis(5),
        )
        .unwrap();
        a.set_release(scribble, page);
        a
    }

    /// One batch of `records` records of 900 bytes, closed, delivered and removed: the chunks
    /// its records were written to.
    fn one_batch(a: &mut Accumulator<'_>, records: usize) -> usize {
        fill(a, records, 0);
        a.close_all();
        let slots: Vec<u16> = a.iter_queue(0).collect();
        assert_eq!(slots.len(), 1, "one batch");
        let written = a.slot(slots[0]).unwrap().len().div_ceil(CHUNK);
        drain(a);
        written
    }

    /// Bytes released and calls since `reset`.
    fn released() -> (usize, usize) {
        RELEASED.with(|r| (r.borrow().0, r.borrow().1))
    }

    fn reset() {
        RELEASED.with(|r| *r.borrow_mut() = (0, 0, 0));
    }

    /// `n` records of 900 bytes (one batch each in 1 KiB batches): the queue's batches.
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
        assert_eq!(a.resident_chunks(), 0, "chunks count as written when their batch is freed");
        reset();
        drain(&mut a);
        let slack = CHUNKS / 32;
        assert!(a.resident_chunks() <= slack, "{} resident after the drain", a.resident_chunks());
        let (bytes, calls) = released();
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
        reset();
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
        assert_eq!(released(), (0, 0));
        assert_eq!(a.resident_chunks(), CHUNKS);
    }

    #[test]
    fn a_block_keeps_at_most_twice_what_its_last_batch_wrote() {
        // 16 KiB batches in a 1 MiB arena: one partition takes whole, aligned 16-chunk blocks,
        // lowest first, so every batch here reuses block 0. Pages of one byte: every chunk
        // boundary is a page boundary.
        let mut a = acc_of(1 << 20, 16 * CHUNK, 1);
        reset();
        let big = one_batch(&mut a, 12);
        assert!(big >= 11, "a 12-record batch wrote {big} chunks");
        assert_eq!(a.resident_chunks(), big);
        assert_eq!(released(), (0, 0), "nothing past the records was ever written");
        // A small batch in the same block: the chunks the big one wrote past it go, in one call.
        let small = one_batch(&mut a, 1);
        assert_eq!(small, 1);
        assert_eq!(released(), ((16 - small) * CHUNK, 1));
        assert_eq!(a.resident_chunks(), small);
        // Another small one finds nothing past it to release.
        one_batch(&mut a, 1);
        assert_eq!(released(), ((16 - small) * CHUNK, 1));
        let before = released();
        // A big batch again, then one of 5 chunks: the big one wrote more than 5 chunks past
        // it, so the block's pages past it go.
        let big = one_batch(&mut a, 12);
        let five = one_batch(&mut a, 5);
        assert!(big - five >= five, "{big} then {five} chunks");
        assert_eq!(released(), (before.0 + (16 - five) * CHUNK, before.1 + 1));
        assert_eq!(a.resident_chunks(), five);
        // Then one of 3: the 2 chunks between are fewer than its own 3, so they stay (a size
        // that only wavers makes no calls).
        let three = one_batch(&mut a, 3);
        assert!(five > three && five - three < three, "{five} then {three} chunks");
        assert_eq!(released(), (before.0 + (16 - five) * CHUNK, before.1 + 1));
        assert_eq!(a.resident_chunks(), five);
        // A size that wavers around 3 and 5 chunks makes no call at all.
        for i in 0..10 {
            one_batch(&mut a, if i % 2 == 0 { 5 } else { 3 });
        }
        assert_eq!(released().1, before.1 + 1);
        // One of a single chunk: the 4 past it are at least its own, so they go.
        one_batch(&mut a, 1);
        assert_eq!(released(), (before.0 + (16 - five) * CHUNK + (16 - small) * CHUNK, before.1 + 2));
        assert_eq!(a.resident_chunks(), small);
    }

    #[test]
    fn a_tail_goes_in_whole_pages_and_shared_pages_cause_no_calls() {
        let mut a = acc_of(1 << 20, 16 * CHUNK, PAGE);
        reset();
        let big = one_batch(&mut a, 12);
        one_batch(&mut a, 1);
        let (bytes, calls) = released();
        assert_eq!(calls, 1);
        // The 15 KiB past the first chunk hold at least two whole pages wherever the arena
        // starts; only whole pages go.
        assert!(bytes >= 2 * PAGE, "{bytes} bytes released");
        assert_eq!(RELEASED.with(|r| r.borrow().2), 0, "a call that was not whole pages");
        // The chunks sharing the first page with the small batch's records stay resident.
        let resident = a.resident_chunks();
        assert!(resident > 1 && resident < big, "{resident} chunks resident");
        // They alone make no call after every later batch.
        for _ in 0..5 {
            one_batch(&mut a, 1);
        }
        assert_eq!(released(), (bytes, 1));
    }

    #[test]
    fn batches_that_fill_their_blocks_release_nothing() {
        let mut a = acc_of(1 << 20, 16 * CHUNK, PAGE);
        reset();
        for _ in 0..20 {
            // 16 records of 900 bytes and a header: 15 of the block's 16 chunks.
            let written = one_batch(&mut a, 16);
            assert!(written >= 15, "{written} chunks");
        }
        assert_eq!(released(), (0, 0));
    }
}
