//! The arena's chunks: the map of the chunks in use and of the chunks that end an open batch,
//! and placing, growing and freeing a batch's chunks (see the parent module's "Memory").

use super::{Accumulator, BatchSlot, RUNS_LOOKED_AT};

impl<'s> Accumulator<'s> {
    /// Gives an open batch of `len` bytes room for `end` bytes: the free chunks right after it
    /// (twice its chunks, within `soft`, where they are free), else a free run elsewhere it moves
    /// to. Returns false, changing nothing, when neither has room.
    pub(super) fn grow(&mut self, slot: u16, end: usize, soft: usize, len: usize) -> bool {
        let s = self.slots[usize::from(slot)];
        let (first, chunks) = (s.first_chunk as usize, s.chunks as usize);
        let need = end.div_ceil(self.chunk_size);
        let want = (chunks * 2).min(soft.div_ceil(self.chunk_size)).max(need);
        let after = self.free_after(first + chunks, want - chunks);
        let (to, n) = if chunks + after >= need {
            self.take_chunks(first + chunks, after);
            (first, chunks + after)
        } else {
            let Some((to, n)) = self.alloc_run(need, want) else {
                return false;
            };
            let cs = self.chunk_size;
            self.memory.copy_within(first * cs..first * cs + len, to * cs);
            self.free_chunks(first, chunks, len);
            (to, n)
        };
        self.set_open_end(&s, false);
        let s = &mut self.slots[usize::from(slot)];
        (s.first_chunk, s.chunks) = (to as u32, n as u32);
        let s = *s;
        self.set_open_end(&s, true);
        true
    }

    /// How many of the (at most `max`) chunks from `from` on are free before a used one.
    pub(super) fn free_after(&self, from: usize, max: usize) -> usize {
        let end = (from + max).min(self.chunk_count);
        (from..end).take_while(|&i| !self.chunk_used(i)).count()
    }

    pub(super) fn chunk_range(&self, s: &BatchSlot) -> core::ops::Range<usize> {
        let start = s.first_chunk as usize * self.chunk_size;
        start..start + s.chunks as usize * self.chunk_size
    }

    pub(super) fn chunk_used(&self, i: usize) -> bool {
        self.chunk_map[i / 32] & (1 << (i % 32)) != 0
    }

    pub(super) fn set_chunks(&mut self, first: usize, n: usize, used: bool) {
        for i in first..first + n {
            let bit = 1u32 << (i % 32);
            if used {
                self.chunk_map[i / 32] |= bit;
            } else {
                self.chunk_map[i / 32] &= !bit;
            }
        }
    }

    /// The first chunk at or after `from` that is in use (`used`) or free (`!used`), a word at
    /// a time.
    pub(super) fn next_chunk(&self, from: usize, used: bool) -> Option<usize> {
        let flip = if used { 0 } else { u32::MAX };
        let mut w = from / 32;
        if w >= self.map_words {
            return None;
        }
        let mut word = (self.chunk_map[w] ^ flip) & (u32::MAX << (from % 32));
        loop {
            if word != 0 {
                let i = w * 32 + word.trailing_zeros() as usize;
                return (i < self.chunk_count).then_some(i);
            }
            w += 1;
            if w >= self.map_words {
                return None;
            }
            word = self.chunk_map[w] ^ flip;
        }
    }

    /// The maximal free runs of chunks, lowest first, as (first chunk, length).
    pub(super) fn free_runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        let mut at = 0;
        core::iter::from_fn(move || {
            let first = self.next_chunk(at, false)?;
            let end = self.next_chunk(first, true).unwrap_or(self.chunk_count);
            at = end;
            Some((first, end - first))
        })
    }

    /// A free run for `n` chunks that may grow to `want`: the first run with room for `want`
    /// (after `want` chunks left free for the open batch right before the run, if
    /// `leave_room`), as its first chunk past that room, its length from there and `true`; else
    /// the longest of the first [`RUNS_LOOKED_AT`] runs that holds `n` (or, if none does, the
    /// first run after them that does), and `false`. So a full arena cut into many small runs
    /// costs a bounded scan per new batch, and `None` still means no `n` free chunks in a row.
    pub(super) fn place(&self, n: usize, want: usize, leave_room: bool) -> Option<(usize, usize, bool)> {
        let n = n.max(1);
        if self.chunk_count - self.used_chunks < n {
            return None;
        }
        let mut best = (0, 0);
        for (k, (first, len)) in self.free_runs().enumerate() {
            let gap = if leave_room && first > 0 && self.open_end(first - 1) { want } else { 0 };
            if len >= gap + want {
                return Some((first + gap, len - gap, true));
            }
            if len > best.1 {
                best = (first, len);
            }
            if k + 1 >= RUNS_LOOKED_AT && best.1 >= n {
                break;
            }
        }
        (best.1 >= n).then_some((best.0, best.1, false))
    }

    /// Takes the first free run of `want` contiguous chunks, else the longest free run of at
    /// least `min` that `place` found: its first chunk and length.
    pub(super) fn alloc_run(&mut self, min: usize, want: usize) -> Option<(usize, usize)> {
        let (first, len, roomy) = self.place(min, want.max(min), false)?;
        let n = if roomy { want.max(min) } else { len };
        self.take_chunks(first, n);
        Some((first, n))
    }

    /// Takes a whole batch (`share` is `want`) in the first free block aligned to `want`
    /// chunks: whole batches then never cut the free space into runs shorter than one, and with
    /// none free the sender waits, as for a `batch.size` chunk (a first record that alone needs
    /// the whole block, past `batch.size`, takes any run that holds it instead). Else takes
    /// `share` chunks (at least `n`, fewer if no run has them) for a new batch that may grow to
    /// `want`, leaving room to grow to the open batch right before it, if any: in the first free
    /// run with room for both to grow to `want`, at its start or `want` chunks into it; else in
    /// the longest free run `place` found, at its start or, after an open batch, halfway.
    /// Returns the first chunk and how many it took. A batch that then finds no room to grow
    /// moves (see `grow`).
    pub(super) fn alloc_batch(&mut self, n: usize, share: usize, want: usize) -> Option<(usize, usize)> {
        if share >= want {
            // A whole batch: in a block aligned to its size, so whole batches never cut the free
            // space into runs shorter than one (a full arena's batches stay whole).
            let aligned = self.free_runs().find_map(|(first, len)| {
                let at = first.next_multiple_of(want);
                (at + want <= first + len).then_some(at)
            });
            return match aligned {
                Some(first) => {
                    self.take_chunks(first, want);
                    Some((first, want))
                }
                // A record of a whole batch or more is rare; waiting for an aligned block could
                // starve it while smaller batches come and go.
                None if n >= want => self.alloc_run(n, want),
                None => None,
            };
        }
        let (start, len, roomy) = self.place(n, want.max(n), true)?;
        let take = share.clamp(n, len.max(n));
        let first = if !roomy && start > 0 && self.open_end(start - 1) { start + (len - take) / 2 } else { start };
        self.take_chunks(first, take);
        Some((first, take))
    }

    /// Whether chunk `i` is the last of an open batch (a hint: see `map_words`).
    pub(super) fn open_end(&self, i: usize) -> bool {
        self.chunk_map[self.map_words + i / 32] & (1 << (i % 32)) != 0
    }

    /// Marks or clears the last chunk of a batch as the end of an open batch.
    pub(super) fn set_open_end(&mut self, s: &BatchSlot, open: bool) {
        if s.chunks == 0 {
            return;
        }
        let i = (s.first_chunk + s.chunks - 1) as usize;
        let bit = 1u32 << (i % 32);
        let w = &mut self.chunk_map[self.map_words + i / 32];
        *w = if open { *w | bit } else { *w & !bit };
    }

    pub(super) fn take_chunks(&mut self, first: usize, n: usize) {
        self.set_chunks(first, n, true);
        self.used_chunks += n;
        #[cfg(feature = "alloc")]
        self.trim_taken(first, n);
    }

    /// Frees chunks `first..first + n`, of which a batch wrote the first `written` bytes.
    pub(super) fn free_chunks(&mut self, first: usize, n: usize, written: usize) {
        self.set_chunks(first, n, false);
        self.used_chunks -= n;
        #[cfg(feature = "alloc")]
        self.trim_freed(first, n, written.div_ceil(self.chunk_size).min(n));
        #[cfg(not(feature = "alloc"))]
        let _ = written;
    }
}
