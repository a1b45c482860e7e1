//! The record accumulator: per-partition queues of record batches, built in caller memory.
//!
//! # Memory
//! All record bytes live in one arena the caller provides (`buffer.memory` bytes), cut into
//! chunks of at most 1 KiB (never more than `batch.size`, and larger only for arenas of more
//! than 64 Ki chunks: see [`chunk_map_words`]). While every known partition could hold a whole
//! batch (`batch.size`, or for a compressed producer as many bytes of records as fit `batch.size`
//! once compressed at the topic's estimated ratio: see [`super::ratio`]), a new batch takes a
//! whole one in a block aligned to its size, so free space never splits into runs shorter than a
//! batch. Else it takes the arena's fair share per known partition (at least what its first
//! record needs), preferably at the start of a free run long enough for a whole batch, and as
//! records come it grows:
//! into the free chunks right after it when there are, else by moving to a free run twice its
//! size. A batch that can grow neither way closes. So a batch holds about as much memory as its
//! records, not `batch.size`: many partitions with a few records each do not exhaust the arena
//! (Java's `BufferPool` takes `batch.size` per batch). A bitmap of one bit per chunk, also
//! caller-provided, says which chunks are in use. When no chunk is free, `append` fails with
//! [`AccumulateError::BufferFull`], which a driver waits on (up to `max.block.ms`): memory can
//! never grow past the arena, so `buffer.memory` is a hard bound by construction. While senders
//! wait for memory (and [`PRESSED_FOR`] after), open batches below `batch.size` do not go at
//! their `linger.ms` while a request their leader sent before they opened, or an earlier batch
//! of their partition, is unanswered ([`Accumulator::pressed_at`]): the memory a sender waits
//! for then comes back from full batches.
//!
//! Batch metadata lives in a caller-provided array of [`BatchSlot`]s (one per batch that can
//! exist at once) and per-partition FIFO queues in an array of [`PartitionQueue`]s, indexed by
//! the metadata cache's partition slot index.
//!
//! # Life of a batch
//! `Open` (takes records; once it reaches `batch.size` it is *ripe*: due at once, or at its
//! broker's next answer (`Producer::batch_ready_at`), yet it takes records up to
//! `batch.max.size` until the engine drains it, see `Accumulator::ripen`) →
//! `Closed` (full, or flushed; takes no more; a driver may compress its records ahead, see
//! [`jobs`]) → `Sealed` (header,
//! producer id/epoch/sequence and CRC written, maybe compressed; its bytes never change again
//! unless an epoch bump re-stamps them) → removed when its completion was reported. Sealing
//! happens when the engine drains the batch into a request, so the sequence number is assigned
//! in send order.

use core::time::Duration;

use managed::ManagedSlice;

use super::ratio::Ratio;
use super::types::{BatchId, Outcome, RecordId, SendError};
use crate::record::{self, AppendError, BatchBuilder, BatchConfig, BuilderState, ProducerState, Record};

use crate::time::Instant;

/// "No slot": the end of a queue.
const NIL: u16 = u16::MAX;

/// Where a batch is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// The slot holds no batch.
    Free,
    /// Takes more records.
    Open(BuilderState),
    /// Takes no more records; not yet sealed.
    Closed(BuilderState),
    /// Bytes are final (`len` of them).
    Sealed {
        /// Length of the sealed batch.
        len: u32,
        /// Its length before compression (where a split batch's waiting records start).
        plain: u32,
    },
}

/// The send bookkeeping of one batch: read through [`BatchSlot::send`], changed only through
/// the [`Accumulator`]'s transitions (`mark_sent`, `mark_unsent`, `schedule_retry`,
/// `set_uncertain`, `seal`, `complete`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SendState {
    /// A request carrying the batch awaits its response.
    pub(crate) in_flight: bool,
    /// How many times the batch was sent.
    pub(crate) attempts: u16,
    /// Not to be sent again before this (retry backoff).
    pub(crate) retry_at: Instant,
    /// The producer id, epoch and base sequence stamped at sealing.
    producer: ProducerState,
    /// The connection and correlation id of the request carrying it, while in flight.
    pub(crate) request: (u16, i32),
    /// Its completion, once known; reported (and the slot freed) by the engine's `poll_event`.
    pub(crate) outcome: Outcome,
    /// The last attempt's fate is unknown (connection lost, timed out): the broker may have
    /// written it, so it may only be resent with its original epoch and sequence.
    pub(crate) uncertain: bool,
    /// An attempt failed and the batch waits for (or is in) a retry; until it completes, its
    /// partition sends no new batch, so the broker's 5-batch dedup window still covers it.
    pub(crate) retrying: bool,
    /// Open, it reached `batch.size` and still takes records, up to `batch.max.size`, until it
    /// is sent: due at once, like a closed batch (see [`Accumulator::sendable_at`]).
    ripe: bool,
    /// Its place in its partition's sealing order (see `PartitionSeq::sealed`).
    pub(crate) seal_no: u32,
    /// The next batch in the accumulator's completion queue.
    report_next: u16,
    /// A closed batch's compression done ahead of its seal, off the engine (see [`jobs`]).
    /// Here rather than in the slot: it fits this struct's padding.
    pre: jobs::Pre,
}

impl SendState {
    const NEW: Self = Self {
        in_flight: false,
        attempts: 0,
        retry_at: Instant::ZERO,
        producer: ProducerState::NONE,
        request: (u16::MAX, 0),
        outcome: Outcome::Pending,
        uncertain: false,
        retrying: false,
        ripe: false,
        seal_no: 0,
        report_next: NIL,
        pre: jobs::Pre::NONE,
    };
}

/// One batch's metadata; [`super::Storage`] holds an array of them (`BatchSlot::EMPTY` at first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchSlot {
    stage: Stage,
    id: BatchId,
    partition: u16,
    next: u16,
    first_chunk: u32,
    chunks: u32,
    created: Instant,
    records: u32,
    /// The index of its first record in the batch `send` put it in: 0, except for the later
    /// parts of a batch the broker refused as too large (see [`Accumulator::split`]).
    first: u32,
    /// Records of a split batch waiting after this part in its memory (uncompressed, right
    /// after the part's own uncompressed records: see [`BatchSlot::plain_len`]).
    rest: u32,
    send: SendState,
}

impl BatchSlot {
    /// An unused slot.
    pub(crate) const EMPTY: Self = Self {
        stage: Stage::Free,
        id: BatchId(0),
        partition: 0,
        next: NIL,
        first_chunk: 0,
        chunks: 0,
        created: Instant::ZERO,
        records: 0,
        first: 0,
        rest: 0,
        send: SendState::NEW,
    };

    /// The batch's stage.
    pub(crate) const fn stage(&self) -> Stage {
        self.stage
    }
    /// The batch's id.
    pub(crate) const fn id(&self) -> BatchId {
        self.id
    }
    /// The partition slot the batch belongs to.
    pub(crate) const fn partition(&self) -> u16 {
        self.partition
    }
    /// When the batch's first record was appended (the start of its delivery timeout).
    pub(crate) const fn created(&self) -> Instant {
        self.created
    }
    /// Records in the batch.
    pub(crate) const fn records(&self) -> u32 {
        self.records
    }
    /// The index of its first record in its batch (non-zero for a later part of a split batch).
    pub(crate) const fn first(&self) -> u32 {
        self.first
    }
    /// The batch's uncompressed length, header included.
    const fn plain_len(&self) -> usize {
        match self.stage {
            Stage::Free => 0,
            Stage::Open(s) | Stage::Closed(s) => s.len(),
            Stage::Sealed { plain, .. } => plain as usize,
        }
    }
    /// Records of a split batch waiting to go after this part, in the same slot.
    pub(crate) const fn rest(&self) -> u32 {
        self.rest
    }
    /// The producer state it was sealed with.
    pub(crate) const fn producer(&self) -> ProducerState {
        self.send.producer
    }
    /// Uncompressed bytes appended so far (for an open or closed batch), or the sealed length.
    pub(crate) const fn len(&self) -> usize {
        match self.stage {
            Stage::Free => 0,
            Stage::Open(s) | Stage::Closed(s) => s.len(),
            Stage::Sealed { len, .. } => len as usize,
        }
    }
    /// Whether the slot holds no batch.
    const fn is_empty(&self) -> bool {
        matches!(self.stage, Stage::Free)
    }
    /// The send bookkeeping.
    pub(crate) const fn send(&self) -> &SendState {
        &self.send
    }
    /// Open, below `batch.size`: still filling (neither ripe nor closed).
    pub(crate) const fn is_filling(&self) -> bool {
        !self.send.ripe && matches!(self.stage, Stage::Open(_))
    }
    /// Open, past `batch.size`, and still taking records (see [`SendState::ripe`]).
    pub(crate) const fn is_ripe(&self) -> bool {
        self.send.ripe && matches!(self.stage, Stage::Open(_))
    }
    /// Whether the batch is complete (delivered or failed) and waits to be reported.
    pub(crate) fn is_complete(&self) -> bool {
        self.send.outcome != Outcome::Pending
    }
}

/// One partition's FIFO of batches; [`super::Storage`] holds one per partition slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PartitionQueue {
    head: u16,
    tail: u16,
    len: u16,
    /// Its batches do not grow past `batch.size` (see [`Accumulator::hold_growth`]).
    growth_held: bool,
}

impl PartitionQueue {
    /// An empty queue.
    pub(crate) const EMPTY: Self = Self { head: NIL, tail: NIL, len: 0, growth_held: false };
    /// Batches queued.
    #[cfg(all(test, feature = "alloc"))]
    const fn len(&self) -> usize {
        self.len as usize
    }
    /// Whether no batch is queued.
    pub(crate) const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why a record was not accumulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum AccumulateError {
    /// No memory or batch slot is free now; completions free them. Wait, then retry.
    BufferFull,
    /// The record can never fit: it needs `needed` bytes of batch, more than the limit.
    RecordTooLarge {
        /// Bytes the record needs in a batch of its own.
        needed: usize,
        /// The most the producer allows (`max.request.size`, or the whole arena if smaller).
        limit: usize,
    },
    /// The partition slot is outside the queues the accumulator was given.
    UnknownPartition,
}

/// Why caller storage cannot back an accumulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageError {
    /// The arena holds no whole chunk (1 KiB, or `batch.size` if smaller).
    MemoryTooSmall,
    /// The chunk bitmap has fewer than two bits per chunk of the arena.
    ChunkMapTooSmall,
    /// More batch slots or queues than a `u16` index can name.
    TooManySlots,
}

/// Per-partition batch queues over caller memory. See the module docs.
#[derive(Debug)]
pub(crate) struct Accumulator<'s> {
    slots: ManagedSlice<'s, BatchSlot>,
    queues: ManagedSlice<'s, PartitionQueue>,
    memory: ManagedSlice<'s, u8>,
    chunk_map: ManagedSlice<'s, u32>,
    chunk_size: usize,
    chunk_count: usize,
    /// Words of `chunk_map` per bitmap: the first `map_words` say which chunks are in use, the
    /// next `map_words` which chunks end an open batch (a hint for placing new batches: see
    /// `alloc_batch`).
    map_words: usize,
    used_chunks: usize,
    /// Partitions the producer knows (the metadata's partition slots in use): a new batch's
    /// first share of the arena is at most the arena over this (see `open_batch`).
    partitions: usize,
    config: BatchConfig,
    /// The largest batch whose records the engine's compression scratch holds compressed: a
    /// compressed producer's batches grow to at most this (the Java-like estimate could
    /// otherwise make batches that are sent uncompressed).
    compressible: usize,
    /// `batch.max.size`: how large (in the same bytes as `batch.size`) a batch that reached
    /// `batch.size` may grow while it waits to be sent; `batch.size` until set.
    max_size: usize,
    /// Whether the last `append` made its batch ripe (see [`SendState::ripe`]).
    ripened: bool,
    /// See [`Accumulator::pressed_at`].
    pressed_at: Option<Instant>,
    /// Whether a batch closed since the last look for compression jobs found none (see [`jobs`]).
    jobs_hint: bool,
    /// Ripe batches grow at most to this (a fixed transmit buffer, less request framing).
    grow_limit: usize,
    linger: Duration,
    next_id: u64,
    batches: usize,
    /// Every used slot is below this index, so scans over the used slots stop here instead of
    /// at the capacity.
    high: u16,
    /// Slots emptied by `remove`, most recent first, linked through their `next`: a new batch
    /// takes one in O(1) instead of scanning every slot for an empty one.
    free_head: u16,
    /// Slots from this index on were never used (they are on no list).
    unused: u16,
    /// The completion queue: complete batches that are the oldest of their partition, in the
    /// order they became so (linked through `SendState::report_next`). A batch completed before
    /// an older one of its partition waits until that one is reported, so a partition's
    /// completions come out in send order, each in O(1).
    report_head: u16,
    report_tail: u16,
    /// Gives empty memory back to the operating system (see `trim`).
    #[cfg(feature = "alloc")]
    trim: trim::Trim,
}

/// Number of `u32` words the record arena's chunk bitmap needs for an arena of `memory` bytes
/// and batches of `batch_size` bytes: the `CHUNK_WORDS` of a [`super::StaticStorage`].
pub const fn chunk_map_words(memory: usize, batch_size: usize) -> usize {
    // Two bits per chunk: in use, and last chunk of an open batch (see `Accumulator::open_end`).
    2 * (memory / chunk_size(memory, batch_size)).div_ceil(32)
}

/// The arena's allocation unit: batches start with the chunks their first record needs and grow
/// a chunk run at a time.
const GRANULE: usize = 1024;
/// Free runs a new batch's placement looks at before it settles for the best of them.
const RUNS_LOOKED_AT: usize = 64;
/// How long after a sender last found no memory the arena counts as pressed
/// ([`Accumulator::pressed_at`]).
pub(crate) const PRESSED_FOR: Duration = Duration::from_secs(1);
/// Arenas with more chunks than this get larger chunks, so the bitmap scans stay short and every
/// batch slot a `u16` can name still has a chunk.
const MAX_CHUNKS: usize = 1 << 16;

/// The chunk size for an arena of `memory` bytes and `batch_size`: [`GRANULE`], or `batch_size`
/// if smaller, or more for an arena of more than [`MAX_CHUNKS`] granules; never below one header
/// and a small record.
const fn chunk_size(memory: usize, batch_size: usize) -> usize {
    let floor = record::BATCH_HEADER_LEN + 64;
    let mut chunk = memory.div_ceil(MAX_CHUNKS);
    if chunk < GRANULE {
        chunk = GRANULE;
    }
    if chunk > batch_size {
        chunk = batch_size;
    }
    if chunk < floor {
        floor
    } else {
        chunk
    }
}

impl<'s> Accumulator<'s> {
    /// An accumulator over caller storage. The arena's length and `config.batch_size` set the
    /// chunk size.
    pub(crate) fn new(
        mut slots: ManagedSlice<'s, BatchSlot>,
        mut queues: ManagedSlice<'s, PartitionQueue>,
        memory: ManagedSlice<'s, u8>,
        mut chunk_map: ManagedSlice<'s, u32>,
        config: BatchConfig,
        linger: Duration,
    ) -> Result<Self, StorageError> {
        let chunk_size = chunk_size(memory.len(), config.batch_size);
        let chunk_count = memory.len() / chunk_size;
        if chunk_count == 0 {
            return Err(StorageError::MemoryTooSmall);
        }
        if chunk_map.len() < 2 * chunk_count.div_ceil(32) {
            return Err(StorageError::ChunkMapTooSmall);
        }
        if slots.len() >= NIL as usize || queues.len() >= NIL as usize {
            return Err(StorageError::TooManySlots);
        }
        slots.iter_mut().for_each(|s| *s = BatchSlot::EMPTY);
        queues.iter_mut().for_each(|q| *q = PartitionQueue::EMPTY);
        chunk_map.iter_mut().for_each(|w| *w = 0);
        Ok(Self {
            slots,
            queues,
            memory,
            chunk_map,
            chunk_size,
            chunk_count,
            map_words: chunk_count.div_ceil(32),
            used_chunks: 0,
            partitions: 1,
            config,
            compressible: usize::MAX,
            max_size: config.batch_size,
            ripened: false,
            pressed_at: None,
            jobs_hint: false,
            grow_limit: usize::MAX,
            linger,
            next_id: 0,
            batches: 0,
            high: 0,
            free_head: NIL,
            unused: 0,
            report_head: NIL,
            report_tail: NIL,
            #[cfg(feature = "alloc")]
            trim: trim::Trim::new(chunk_count),
        })
    }

    /// Caps compressed batches at `len` bytes (header included): the most the engine's
    /// compression scratch can compress (see [`super::ratio::compressible_len`]).
    pub(crate) fn set_compressible(&mut self, len: usize) {
        self.compressible = len;
    }

    /// Lets a batch that reached `batch.size` take records up to `len` (`batch.max.size`)
    /// while it waits to be sent.
    pub(crate) fn set_max_size(&mut self, len: usize) {
        self.max_size = len.max(self.config.batch_size);
    }

    /// Caps how far a ripe batch grows: a request of it alone must fit the driver's fixed
    /// transmit buffer (`usize::MAX`: no cap).
    pub(crate) fn set_grow_limit(&mut self, len: usize) {
        self.grow_limit = len;
    }

    /// While `held`, the batches of a partition slot stay within `batch.size`: a ripe open
    /// batch closes, and no batch ripens. For the partitions of a broker that throttles the
    /// producer (KIP-219): it takes their bytes at its quota however they are batched, so
    /// growing would only make the next request larger and its throttle longer, and the
    /// partitions' backlog would leave in bursts that the adaptive partitioner cannot weigh.
    pub(crate) fn hold_growth(&mut self, partition: u16, held: bool) {
        let Some(q) = self.queues.get_mut(usize::from(partition)) else {
            return;
        };
        q.growth_held = held;
        let tail = q.tail;
        if let Some(s) = self.slot(tail).copied().filter(|_| held) {
            if let (true, Stage::Open(state)) = (s.send.ripe, s.stage) {
                self.close(tail, state);
            }
        }
    }

    /// Whether [`Accumulator::hold_growth`] holds a partition slot's batches to `batch.size`.
    pub(crate) fn growth_held(&self, partition: u16) -> bool {
        self.queue(partition).is_some_and(|q| q.growth_held)
    }

    /// Whether the last [`Accumulator::append`] made its batch due at once: it reached
    /// `batch.size` and now grows towards `batch.max.size` until it is sent.
    pub(crate) const fn ripened(&self) -> bool {
        self.ripened
    }

    /// Bytes of the arena taken by batches.
    #[cfg(all(test, feature = "alloc"))]
    const fn used_bytes(&self) -> usize {
        self.used_chunks * self.chunk_size
    }
    /// Bytes of the arena free for new batches.
    pub(crate) const fn free_bytes(&self) -> usize {
        (self.chunk_count - self.used_chunks) * self.chunk_size
    }
    /// When a new batch last found no memory ([`AccumulateError::BufferFull`]): the sender
    /// waits for memory, and until [`PRESSED_FOR`] after this the batches sent are what it waits
    /// for (see [`super::Producer::batch_ready_at`]).
    pub(crate) const fn pressed_at(&self) -> Option<Instant> {
        self.pressed_at
    }
    /// Batches held (open, closed or sealed).
    pub(crate) const fn batch_count(&self) -> usize {
        self.batches
    }
    /// Whether no batch is held.
    pub(crate) const fn is_empty(&self) -> bool {
        self.batches == 0
    }
    /// The largest batch the arena can hold at all.
    pub(crate) const fn max_batch_len(&self) -> usize {
        self.chunk_count * self.chunk_size
    }

    // ---- send transitions (the engine's only way to change a batch's SendState) ----

    /// Appends a record to the partition's open batch, opening a new batch when there is none or
    /// the open one is full. `max_batch` caps the size of a batch (`max.request.size` less
    /// request overhead); `ratio` is the topic's compression ratio estimate, which sizes a
    /// compressed producer's new batch (an uncompressed one ignores it).
    pub(crate) fn append(
        &mut self,
        partition: u16,
        record: &Record<'_>,
        max_batch: usize,
        ratio: Ratio,
        now: Instant,
    ) -> Result<RecordId, AccumulateError> {
        let queue = *self.queues.get(usize::from(partition)).ok_or(AccumulateError::UnknownPartition)?;
        self.ripened = false;
        let limit = max_batch.min(self.max_batch_len());
        if let Some(id) = self.append_to_open(queue.tail, record, (limit, ratio))? {
            return Ok(id);
        }
        self.open_batch(partition, record, (max_batch, ratio), now)
    }

    /// The uncompressed size (header included) a new batch takes records up to: `batch.size`,
    /// or for a compressed producer as much as compresses to `batch.size` at `ratio`, within
    /// `limit` and what the compression scratch compresses (or `batch.size`, if more).
    fn batch_target(&self, ratio: Ratio, limit: usize) -> usize {
        self.target_of(self.config.batch_size, ratio, limit)
    }

    /// [`Accumulator::batch_target`] for a batch of `size` bytes (`batch.size` or
    /// `batch.max.size`) once compressed.
    fn target_of(&self, size: usize, ratio: Ratio, limit: usize) -> usize {
        if self.config.compression == crate::compression::Compression::None {
            return size;
        }
        let header = record::BATCH_HEADER_LEN;
        let records = ratio.plain_for(size.saturating_sub(header));
        // Never below batch.size for want of scratch: a scratch too small for that sends such
        // batches uncompressed, as before the estimate.
        let scratch = self.compressible.max(self.config.batch_size);
        records.saturating_add(header).min(scratch).min(limit).max(header)
    }

    /// Tries the queue's tail batch; `Ok(None)` means a new batch is needed (and the tail, if it
    /// was open, is now closed). `limit` and `ratio` size how far a batch past `batch.size` may
    /// grow (see [`Accumulator::ripen`]).
    fn append_to_open(
        &mut self,
        tail: u16,
        record: &Record<'_>,
        (limit, ratio): (usize, Ratio),
    ) -> Result<Option<RecordId>, AccumulateError> {
        let Some(slot) = self.slots.get(usize::from(tail)).copied() else {
            return Ok(None);
        };
        let Stage::Open(mut state) = slot.stage else {
            return Ok(None);
        };
        let range = self.chunk_range(&slot);
        let cap = range.len();
        // The slot's chunks hold exactly what this builder wrote, so resume cannot fail; a
        // failure would be our bug, and closing the batch keeps every record accounted for.
        let Ok(mut builder) = BatchBuilder::resume(&mut self.memory[range], state) else {
            self.close(tail, state);
            return Ok(None);
        };
        match builder.append(record) {
            Ok(()) => {
                let state = builder.into_parts().1;
                return Ok(Some(self.appended(tail, state)));
            }
            Err(AppendError::Full) => {
                let end = state.len().saturating_add(builder.encoded_len(record));
                // Past the batch's own limit: it may take more while it waits to be sent.
                if end > state.batch_size() {
                    if let Some(ripe) = self.ripen(tail, state, (limit, ratio)) {
                        state = ripe;
                    }
                }
                // Within the batch's limit but maybe past its chunks: grow, and try once more.
                let soft = state.batch_size();
                if end <= soft && (end <= cap || self.grow(tail, end, soft, state.len())) {
                    let range = self.chunk_range(&self.slots[usize::from(tail)]);
                    if let Ok(mut builder) = BatchBuilder::resume(&mut self.memory[range], state) {
                        if builder.append(record).is_ok() {
                            let state = builder.into_parts().1;
                            return Ok(Some(self.appended(tail, state)));
                        }
                    }
                }
            }
            Err(AppendError::TooLarge { .. }) => {}
        }
        self.close(tail, state);
        Ok(None)
    }

    /// Lets an open batch that reached its `batch.size` target take records up to its
    /// `batch.max.size` target (KIP-782), and makes it due at once, like a closed batch: it
    /// goes in the next request its leader may take, with whatever came until then. So a
    /// producer faster than its partition's `max.in.flight.requests.per.connection` requests per
    /// round trip sends fewer, larger batches instead of queueing `batch.size` ones (Java
    /// closes it and opens the next). It grows at most to the arena's share per known
    /// partition, so growing never takes memory that other partitions' batches of that size
    /// would need, and not while its partition's growth is held (a throttled leader, see
    /// [`Accumulator::hold_growth`]). Returns the batch's state with the new limit, or `None`
    /// (no room past `batch.size`, held, or already ripe).
    fn ripen(&mut self, slot: u16, state: BuilderState, (limit, ratio): (usize, Ratio)) -> Option<BuilderState> {
        let share = (self.chunk_count / self.partitions).saturating_mul(self.chunk_size);
        let max = self.target_of(self.max_size, ratio, limit).min(limit).min(share).min(self.grow_limit);
        if self.growth_held(self.slots[usize::from(slot)].partition) || max <= state.batch_size() {
            return None;
        }
        let state = state.with_batch_size(max);
        let s = &mut self.slots[usize::from(slot)];
        s.stage = Stage::Open(state);
        s.send.ripe = true;
        self.ripened = true;
        Some(state)
    }

    /// Closes an open batch whose builder is at `state`.
    fn close(&mut self, slot: u16, state: BuilderState) {
        let s = self.slots[usize::from(slot)];
        self.set_open_end(&s, false);
        self.slots[usize::from(slot)].stage = Stage::Closed(state);
        self.jobs_hint = true;
    }

    /// Records one more record in an open batch whose builder is now at `state`.
    fn appended(&mut self, slot: u16, state: BuilderState) -> RecordId {
        let s = &mut self.slots[usize::from(slot)];
        s.stage = Stage::Open(state);
        s.records += 1;
        RecordId { batch: s.id, index: s.records - 1 }
    }

    fn open_batch(
        &mut self,
        partition: u16,
        record: &Record<'_>,
        (max_batch, ratio): (usize, Ratio),
        now: Instant,
    ) -> Result<RecordId, AccumulateError> {
        let limit = max_batch.min(self.max_batch_len());
        let needed =
            record.max_encoded_len().and_then(|n| n.checked_add(record::BATCH_HEADER_LEN)).unwrap_or(usize::MAX);
        if needed > limit {
            return Err(AccumulateError::RecordTooLarge { needed, limit });
        }
        let chunks = needed.div_ceil(self.chunk_size).max(1);
        let target = self.batch_target(ratio, limit);
        let want = target.div_ceil(self.chunk_size).max(chunks);
        // Its first share: the whole batch while every known partition could have one, else the
        // arena's fair share per partition (and at least what the first record needs). Many
        // partitions with a few records each then do not take the arena in whole batches.
        let share = (self.chunk_count / self.partitions).clamp(chunks, want);
        let Some((slot, (first_chunk, chunks))) =
            self.free_slot().and_then(|slot| Some((slot, self.alloc_batch(chunks, share, want)?)))
        else {
            self.pressed_at = Some(now);
            return Err(AccumulateError::BufferFull);
        };
        let start = first_chunk * self.chunk_size;
        let buf = &mut self.memory[start..start + chunks * self.chunk_size];
        // The batch's own soft limit: the builder closes it when the next record would pass it.
        let config = BatchConfig { batch_size: target, ..self.config };
        let appended = BatchBuilder::new(buf, config).map_err(|_| ()).and_then(|mut b| {
            b.append(record).map_err(|_| ())?;
            Ok(b.into_parts().1)
        });
        let Ok(state) = appended else {
            // `needed` is an upper bound of the record's size, so this is our bug; give the
            // memory back and refuse the record rather than lose it.
            self.free_chunks(first_chunk, chunks, chunks * self.chunk_size);
            return Err(AccumulateError::RecordTooLarge { needed, limit });
        };
        let id = BatchId(self.next_id);
        self.next_id += 1;
        self.claim_slot(slot);
        self.high = self.high.max(slot + 1);
        self.slots[usize::from(slot)] = BatchSlot {
            stage: Stage::Open(state),
            id,
            partition,
            next: NIL,
            first_chunk: first_chunk as u32,
            chunks: chunks as u32,
            created: now,
            records: 1,
            first: 0,
            rest: 0,
            send: SendState::NEW,
        };
        self.batches += 1;
        self.link_tail(partition, slot);
        let s = self.slots[usize::from(slot)];
        self.set_open_end(&s, true);
        Ok(RecordId { batch: id, index: 0 })
    }

    /// When the batch may first be sent: now for closed and sealed batches (sealed ones after
    /// their retry backoff), after `linger` for open ones.
    pub(crate) fn sendable_at(&self, slot: u16) -> Option<Instant> {
        let s = self.slot(slot)?;
        match s.stage {
            Stage::Free => None,
            Stage::Open(_) if s.send.ripe => Some(s.created),
            Stage::Open(_) => Some(s.created + self.linger),
            Stage::Closed(_) => Some(s.created),
            Stage::Sealed { .. } => Some(s.send.retry_at),
        }
    }

    /// Closes every open batch, so all of them are sendable now (`flush`).
    pub(crate) fn close_all(&mut self) {
        for slot in 0..self.high {
            let s = self.slots[usize::from(slot)];
            if let Stage::Open(state) = s.stage {
                self.close(slot, state);
            }
        }
    }
}

impl From<AccumulateError> for SendError {
    fn from(e: AccumulateError) -> Self {
        match e {
            AccumulateError::RecordTooLarge { needed, limit } => Self::RecordTooLarge { needed, limit },
            _ => Self::BufferFull,
        }
    }
}

mod chunks;
pub(crate) mod jobs;
mod outcome;
mod queues;
mod sealed;
#[cfg(all(test, feature = "alloc"))]
mod tests;
#[cfg(feature = "alloc")]
pub(crate) mod trim;
