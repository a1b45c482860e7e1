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
//! their `linger.ms` while their leader has a request out ([`Accumulator::pressed_at`]): the
//! memory a sender waits for then comes back from full batches.
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

    /// A batch slot.
    pub(crate) fn slot(&self, slot: u16) -> Option<&BatchSlot> {
        self.slots.get(usize::from(slot)).filter(|s| !s.is_empty())
    }
    fn slot_mut(&mut self, slot: u16) -> Option<&mut BatchSlot> {
        self.slots.get_mut(usize::from(slot)).filter(|s| !s.is_empty())
    }

    // ---- send transitions (the engine's only way to change a batch's SendState) ----

    /// The batch went out in request `request` (connection slot, correlation id).
    pub(crate) fn mark_sent(&mut self, slot: u16, request: (u16, i32)) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.in_flight = true;
            b.send.attempts = b.send.attempts.saturating_add(1);
            b.send.request = request;
        }
    }

    /// The batch's request is over without a final answer for it. Returns whether it was in
    /// flight.
    pub(crate) fn mark_unsent(&mut self, slot: u16) -> bool {
        self.slot_mut(slot).is_some_and(|b| core::mem::replace(&mut b.send.in_flight, false))
    }

    /// The batch waits for another attempt, not before `at`; its partition sends no new batch
    /// until it completes.
    pub(crate) fn schedule_retry(&mut self, slot: u16, at: Instant) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.retry_at = at;
            b.send.retrying = true;
        }
    }

    /// Whether the batch's last attempt may have been written without an answer saying so.
    pub(crate) fn set_uncertain(&mut self, slot: u16, uncertain: bool) {
        if let Some(b) = self.slot_mut(slot) {
            b.send.uncertain = uncertain;
        }
    }

    /// Records the batch's completion (a second one is ignored). It is reported (see
    /// [`Accumulator::pop_completed`]) once every older batch of its partition was. Returns
    /// whether it was in flight, or `None` if it was not pending.
    pub(crate) fn complete(&mut self, slot: u16, outcome: Outcome) -> Option<bool> {
        let b = *self.slot(slot).filter(|b| !b.is_complete() && outcome != Outcome::Pending)?;
        self.set_open_end(&b, false);
        let b = &mut self.slots[usize::from(slot)];
        b.send.outcome = outcome;
        // It may wait for an older batch before it is reported: it takes no more records.
        if let Stage::Open(state) = b.stage {
            b.stage = Stage::Closed(state);
        }
        let was_in_flight = core::mem::replace(&mut b.send.in_flight, false);
        let partition = b.partition;
        if self.queues.get(usize::from(partition)).is_some_and(|q| q.head == slot) {
            self.push_report(slot);
        }
        Some(was_in_flight)
    }

    /// Whether a completion waits to be reported.
    pub(crate) const fn has_completed(&self) -> bool {
        self.report_head != NIL
    }

    /// Takes the next completion to report, in the order described at
    /// [`Accumulator::complete`], and frees its slot and memory. O(1). A part of a split batch
    /// with records after it keeps its slot, which now holds the next part (`Some(slot)`).
    pub(crate) fn pop_completed(&mut self) -> Option<(BatchSlot, Option<u16>)> {
        let slot = self.report_head;
        let b = *self.slot(slot)?;
        self.report_head = b.send.report_next;
        if self.report_head == NIL {
            self.report_tail = NIL;
        }
        if self.next_part(slot) {
            return Some((b, Some(slot)));
        }
        self.remove(slot);
        // Its partition's next batch is now the oldest: reportable if already complete.
        if let Some(next) = self.queues.get(usize::from(b.partition)).map(|q| q.head) {
            if self.slot(next).is_some_and(BatchSlot::is_complete) {
                self.push_report(next);
            }
        }
        Some((b, None))
    }

    fn push_report(&mut self, slot: u16) {
        self.slots[usize::from(slot)].send.report_next = NIL;
        match self.report_tail {
            NIL => self.report_head = slot,
            tail => self.slots[usize::from(tail)].send.report_next = slot,
        }
        self.report_tail = slot;
    }

    /// Batches queued for a partition slot (0 for an unknown slot).
    pub(crate) fn queue_len(&self, partition: u16) -> u32 {
        self.queue(partition).map_or(0, |q| u32::from(q.len))
    }

    /// The adaptive partitioner's load of a partition slot: the `batch.size` batches (at the
    /// topic's compression `ratio`) that its queued batches' bytes make, at least one per
    /// batch, as Java would have closed one at each `batch.size`. Counting batches alone would
    /// make a slow broker's partitions look light once their batches grow past `batch.size`
    /// (`batch.max.size`) while they wait: a few large batches instead of many small ones.
    pub(crate) fn queue_load(&self, partition: u16, ratio: Ratio) -> u32 {
        let target = self.batch_target(ratio, usize::MAX).max(1);
        self.iter_queue(partition)
            .filter_map(|s| self.slot(s))
            .filter(|b| !b.is_complete())
            .map(|b| u32::try_from(b.plain_len().div_ceil(target)).unwrap_or(u32::MAX).max(1))
            .fold(0, u32::saturating_add)
    }

    /// When the oldest batch of a partition that is not complete was created.
    pub(crate) fn oldest_pending_created(&self, partition: u16) -> Option<Instant> {
        self.iter_queue(partition).filter_map(|s| self.slot(s)).find(|b| !b.is_complete()).map(BatchSlot::created)
    }

    /// The queue of a partition slot.
    pub(crate) fn queue(&self, partition: u16) -> Option<&PartitionQueue> {
        self.queues.get(usize::from(partition))
    }
    /// The batch slots of a partition, oldest first.
    pub(crate) fn iter_queue(&self, partition: u16) -> QueueIter<'_, 's> {
        let head = self.queue(partition).map_or(NIL, |q| q.head);
        QueueIter { acc: self, next: head }
    }
    /// The batch after `slot` in its partition's queue.
    pub(crate) fn next_in_queue(&self, slot: u16) -> Option<u16> {
        let next = self.slot(slot)?.next;
        (next != NIL).then_some(next)
    }

    /// Every occupied batch slot, in slot order.
    pub(crate) fn iter_slots(&self) -> impl Iterator<Item = (u16, &BatchSlot)> + '_ {
        self.iter_slots_from(0)
    }

    /// [`Accumulator::iter_slots`] from slot `from` on.
    pub(crate) fn iter_slots_from(&self, from: u16) -> impl Iterator<Item = (u16, &BatchSlot)> + '_ {
        let high = usize::from(self.high);
        self.slots[usize::from(from).min(high)..high]
            .iter()
            .zip(from..)
            .filter(|(s, _)| !s.is_empty())
            .map(|(s, i)| (i, s))
    }

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

    /// Gives an open batch of `len` bytes room for `end` bytes: the free chunks right after it
    /// (twice its chunks, within `soft`, where they are free), else a free run elsewhere it moves
    /// to. Returns false, changing nothing, when neither has room.
    fn grow(&mut self, slot: u16, end: usize, soft: usize, len: usize) -> bool {
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
    fn free_after(&self, from: usize, max: usize) -> usize {
        let end = (from + max).min(self.chunk_count);
        (from..end).take_while(|&i| !self.chunk_used(i)).count()
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
    fn next_part(&mut self, slot: u16) -> bool {
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
    fn next_part(&mut self, _slot: u16) -> bool {
        false
    }

    /// Removes a batch and frees its memory.
    fn remove(&mut self, slot: u16) -> Option<BatchSlot> {
        let s = *self.slot(slot)?;
        self.unlink(s.partition, slot);
        self.set_open_end(&s, false);
        // The bytes its records were written to: its plain length (sealed ones are no longer),
        // or all of its memory once split (the later parts' records lay behind the first).
        let written = if s.first > 0 || s.rest > 0 { s.chunks as usize * self.chunk_size } else { s.plain_len() };
        self.free_chunks(s.first_chunk as usize, s.chunks as usize, written.max(s.len()));
        self.slots[usize::from(slot)] = BatchSlot { next: self.free_head, ..BatchSlot::EMPTY };
        self.free_head = slot;
        self.batches -= 1;
        while self.high > 0 && self.slots[usize::from(self.high - 1)].is_empty() {
            self.high -= 1;
        }
        Some(s)
    }

    /// Moves a partition's queue to another partition slot (the metadata cache relocated the
    /// topic's partitions after it grew). The target queue must be empty.
    pub(crate) fn move_queue(&mut self, from: u16, to: u16) -> bool {
        let (Some(&q), Some(target)) = (self.queues.get(usize::from(from)), self.queues.get(usize::from(to))) else {
            return false;
        };
        if !target.is_empty() {
            return false;
        }
        self.queues[usize::from(to)] = q;
        self.queues[usize::from(from)] = PartitionQueue::EMPTY;
        let mut at = q.head;
        while let Some(s) = self.slots.get_mut(usize::from(at)) {
            s.partition = to;
            at = s.next;
        }
        true
    }

    fn chunk_range(&self, s: &BatchSlot) -> core::ops::Range<usize> {
        let start = s.first_chunk as usize * self.chunk_size;
        start..start + s.chunks as usize * self.chunk_size
    }

    /// More batch slots (std storage): at most one per chunk, since a batch takes at least one.
    fn grow_slots(&mut self) -> bool {
        let n = self.slots.len();
        let limit = self.chunk_count.min(usize::from(NIL) - 1);
        super::grow_slice(&mut self.slots, n + 1, limit, BatchSlot::EMPTY)
    }

    /// Tells how many partitions the producer knows (at least one is assumed): sizes the first
    /// share of the arena a new batch takes.
    pub(crate) fn set_partitions(&mut self, n: usize) {
        self.partitions = n.max(1);
    }

    /// Makes room for the queues of `n` partition slots (std storage grows; fixed storage
    /// cannot). Returns whether there is room.
    pub(crate) fn fit_partitions(&mut self, n: usize) -> bool {
        super::grow_slice(&mut self.queues, n, usize::from(NIL) - 1, PartitionQueue::EMPTY)
    }

    /// The slot the next new batch takes (the most recently emptied one, else one never used,
    /// growing std storage if need be), without taking it: see `claim_slot`.
    fn free_slot(&mut self) -> Option<u16> {
        if self.free_head != NIL {
            return Some(self.free_head);
        }
        if usize::from(self.unused) >= self.slots.len() && !self.grow_slots() {
            return None;
        }
        Some(self.unused)
    }

    /// Takes `slot`, which `free_slot` just gave.
    fn claim_slot(&mut self, slot: u16) {
        if slot == self.free_head {
            self.free_head = self.slots[usize::from(slot)].next;
        } else {
            debug_assert_eq!(slot, self.unused);
            self.unused += 1;
        }
    }

    fn link_tail(&mut self, partition: u16, slot: u16) {
        let q = &mut self.queues[usize::from(partition)];
        let old_tail = q.tail;
        q.tail = slot;
        q.len += 1;
        if old_tail == NIL {
            q.head = slot;
        } else {
            self.slots[usize::from(old_tail)].next = slot;
        }
    }

    fn unlink(&mut self, partition: u16, slot: u16) {
        let Some(&q) = self.queues.get(usize::from(partition)) else {
            return;
        };
        let next = self.slots[usize::from(slot)].next;
        let mut prev = NIL;
        let mut at = q.head;
        while at != NIL && at != slot {
            prev = at;
            at = self.slots[usize::from(at)].next;
        }
        if at == NIL {
            return;
        }
        let q = &mut self.queues[usize::from(partition)];
        if prev == NIL {
            q.head = next;
        } else {
            self.slots[usize::from(prev)].next = next;
        }
        if q.tail == slot {
            q.tail = prev;
        }
        q.len -= 1;
    }

    fn chunk_used(&self, i: usize) -> bool {
        self.chunk_map[i / 32] & (1 << (i % 32)) != 0
    }

    fn set_chunks(&mut self, first: usize, n: usize, used: bool) {
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
    fn next_chunk(&self, from: usize, used: bool) -> Option<usize> {
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
    fn free_runs(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
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
    fn place(&self, n: usize, want: usize, leave_room: bool) -> Option<(usize, usize, bool)> {
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
    fn alloc_run(&mut self, min: usize, want: usize) -> Option<(usize, usize)> {
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
    fn alloc_batch(&mut self, n: usize, share: usize, want: usize) -> Option<(usize, usize)> {
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
    fn open_end(&self, i: usize) -> bool {
        self.chunk_map[self.map_words + i / 32] & (1 << (i % 32)) != 0
    }

    /// Marks or clears the last chunk of a batch as the end of an open batch.
    fn set_open_end(&mut self, s: &BatchSlot, open: bool) {
        if s.chunks == 0 {
            return;
        }
        let i = (s.first_chunk + s.chunks - 1) as usize;
        let bit = 1u32 << (i % 32);
        let w = &mut self.chunk_map[self.map_words + i / 32];
        *w = if open { *w | bit } else { *w & !bit };
    }

    fn take_chunks(&mut self, first: usize, n: usize) {
        self.set_chunks(first, n, true);
        self.used_chunks += n;
        #[cfg(feature = "alloc")]
        self.trim_taken(first, n);
    }

    /// Frees chunks `first..first + n`, of which a batch wrote the first `written` bytes.
    fn free_chunks(&mut self, first: usize, n: usize, written: usize) {
        self.set_chunks(first, n, false);
        self.used_chunks -= n;
        #[cfg(feature = "alloc")]
        self.trim_freed(first, n, written.div_ceil(self.chunk_size).min(n));
        #[cfg(not(feature = "alloc"))]
        let _ = written;
    }
}

/// The batch slots of one partition, oldest first.
#[derive(Debug)]
pub(crate) struct QueueIter<'a, 's> {
    acc: &'a Accumulator<'s>,
    next: u16,
}

impl Iterator for QueueIter<'_, '_> {
    type Item = u16;
    fn next(&mut self) -> Option<u16> {
        let at = self.next;
        let s = self.acc.slots.get(usize::from(at))?;
        self.next = s.next;
        Some(at)
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

pub(crate) mod jobs;
#[cfg(all(test, feature = "alloc"))]
mod tests;
#[cfg(feature = "alloc")]
pub(crate) mod trim;
