//! Per-record completions: [`DeliveryHandle`]s and callbacks, resolved from the engine's
//! per-batch events.
//!
//! The engine reports a batch at once (its id, record count, base offset or error). Every
//! record of a batch shares one [`BatchCell`]; a handle is that cell plus the record's index
//! (offset = base offset + index) and timestamp, so `send` allocates nothing per record
//! beyond the first of a batch.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant as StdInstant};

use kprod_core::producer::{BatchId, RecordId};
use rustc_hash::FxHashMap;

use crate::error::{BlockedOn, Error};
use crate::hooks::{on_acknowledgement, Interceptors};
use crate::record::RecordMetadata;

/// A completion callback: runs once on the producer's IO thread, so it must be quick and must
/// not block on the producer (a `send` from it fails instead of waiting for buffer space).
pub type Callback = Box<dyn FnOnce(Result<RecordMetadata, Error>) + Send + 'static>;

/// The delivery listener of a producer (`Producer::set_delivery_listener`): called once for
/// every record sent with `send_tagged`, with that record's tag, on the IO thread.
pub(crate) type Listener = Box<dyn Fn(u64, Result<RecordMetadata, Error>) + Send + Sync + 'static>;

/// How a batch ended.
#[derive(Debug, Clone)]
pub(crate) enum BatchOutcome {
    Delivered {
        topic: Arc<str>,
        partition: u32,
        base_offset: i64,
        log_append_time: i64,
    },
    Failed(Error),
    /// A batch the broker refused as too large, which the engine split and completed in
    /// parts: each part's first batch index and outcome (whose offsets count from that index).
    Parts(Arc<Vec<(u32, Self)>>),
}

impl BatchOutcome {
    fn record(&self, index: u32, timestamp: i64) -> Result<RecordMetadata, Error> {
        match self {
            Self::Parts(parts) => match parts.iter().rev().find(|(first, _)| *first <= index) {
                Some((first, part)) => part.record(index - first, timestamp),
                // A registered index is always in some part: the engine completes them all.
                None => Err(Error::from_delivery(kprod_core::producer::DeliveryError::Closed)),
            },
            Self::Delivered { topic, partition, base_offset, log_append_time } => Ok(RecordMetadata {
                topic: Arc::clone(topic),
                partition: *partition,
                offset: if *base_offset < 0 { -1 } else { base_offset + i64::from(index) },
                timestamp: if *log_append_time >= 0 { *log_append_time } else { timestamp },
            }),
            Self::Failed(e) => Err(e.clone()),
        }
    }
}

/// The completion all records of one batch share: threads wait on the condvar, futures
/// (feature `tokio`) leave their wakers.
#[derive(Debug, Default)]
pub(crate) struct BatchCell {
    state: Mutex<CellState>,
    done: Condvar,
}

#[derive(Debug, Default)]
struct CellState {
    outcome: Option<BatchOutcome>,
    /// The wakers of pending futures; a future keeps its key and removes it when dropped.
    #[cfg(feature = "tokio")]
    wakers: slab::Slab<core::task::Waker>,
}

impl BatchCell {
    fn lock(&self) -> std::sync::MutexGuard<'_, CellState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn resolve(&self, outcome: BatchOutcome) {
        let mut state = self.lock();
        state.outcome = Some(outcome);
        #[cfg(feature = "tokio")]
        let wakers = core::mem::take(&mut state.wakers);
        drop(state);
        self.done.notify_all();
        #[cfg(feature = "tokio")]
        for (_, waker) in wakers {
            waker.wake();
        }
    }
}

/// The future result of one `send`: wait on it with a timeout, or poll it.
#[derive(Debug, Clone)]
pub struct DeliveryHandle {
    cell: Arc<BatchCell>,
    index: u32,
    timestamp: i64,
}

impl DeliveryHandle {
    /// The result if the record is complete, else `None`. Never blocks.
    pub fn try_get(&self) -> Option<Result<RecordMetadata, Error>> {
        self.cell.lock().outcome.as_ref().map(|o| o.record(self.index, self.timestamp))
    }

    /// Whether the record is complete (delivered or failed).
    pub fn is_done(&self) -> bool {
        self.cell.lock().outcome.is_some()
    }

    /// Waits up to `timeout` for the result. If the record is not complete by then, returns
    /// [`Error::Timeout`] (the record stays in flight; wait again to see how it ends).
    pub fn wait(&self, timeout: Duration) -> Result<RecordMetadata, Error> {
        let deadline = StdInstant::now().checked_add(timeout);
        let mut state = self.cell.lock();
        loop {
            if let Some(o) = state.outcome.as_ref() {
                return o.record(self.index, self.timestamp);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(StdInstant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Err(Error::completion_timeout(timeout, None));
            }
            state = self.cell.done.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
    }

    /// Waits for the result, however long it takes (bounded by `delivery.timeout.ms`, or the
    /// `close` deadline).
    pub fn get(&self) -> Result<RecordMetadata, Error> {
        loop {
            match self.wait(Duration::from_secs(3600)) {
                Err(Error::Timeout { blocked_on: BlockedOn::Completion, .. }) => {}
                done => return done,
            }
        }
    }

    /// Polls for the result from a future: `slot` is the future's waker key in the cell
    /// (`None` until it first waits); it is released when the result is ready.
    #[cfg(feature = "tokio")]
    pub(crate) fn poll_result(
        &self,
        slot: &mut Option<usize>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Result<RecordMetadata, Error>> {
        let mut state = self.cell.lock();
        if let Some(o) = state.outcome.as_ref() {
            let result = o.record(self.index, self.timestamp);
            if let Some(key) = slot.take() {
                state.wakers.try_remove(key);
            }
            return core::task::Poll::Ready(result);
        }
        match slot.and_then(|key| state.wakers.get_mut(key)) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => *slot = Some(state.wakers.insert(cx.waker().clone())),
        }
        core::task::Poll::Pending
    }

    /// Releases a future's waker key (the future is dropped before its result).
    #[cfg(feature = "tokio")]
    pub(crate) fn forget_waker(&self, slot: &mut Option<usize>) {
        if let Some(key) = slot.take() {
            self.cell.lock().wakers.try_remove(key);
        }
    }
}

/// The waiters of one batch not yet complete.
#[derive(Default)]
struct BatchEntry {
    cell: Option<Arc<BatchCell>>,
    callbacks: Vec<(u32, i64, Callback)>,
    /// Records sent with `send_tagged`.
    tagged: Tagged,
    /// With interceptors: the batch's topic and every record's index and timestamp, for
    /// `on_acknowledgement`.
    acked: Option<Acked>,
    /// The parts completed so far of a batch completed in parts (see [`BatchOutcome::Parts`]).
    parts: Vec<(u32, BatchOutcome)>,
}

/// A batch's topic and its records' index and timestamp, for the interceptors.
type Acked = (Arc<str>, Vec<(u32, i64)>);

/// The records of one batch sent with `send_tagged`: index, timestamp and tag. A producer
/// faster than its broker keeps `buffer.memory` worth of them (300,000 records of 100 B in
/// 32 MiB), so each takes 16 bytes, with its timestamp as an offset from the batch's first,
/// while every offset fits 32 bits (about 24 days); else 24 bytes.
enum Tagged {
    Narrow { base: i64, list: Vec<(u32, i32, u64)> },
    Wide(Vec<(u32, i64, u64)>),
}

impl Default for Tagged {
    fn default() -> Self {
        Self::Narrow { base: 0, list: Vec::new() }
    }
}

impl Tagged {
    /// Adds a record; `expected` gives the batch's likely size in records (asked at the first,
    /// to reserve that many).
    fn push(&mut self, index: u32, timestamp: i64, tag: u64, expected: impl FnOnce() -> usize) {
        match self {
            Self::Narrow { base, list } => {
                if list.is_empty() {
                    *base = timestamp;
                    list.reserve_exact(expected());
                }
                match timestamp.checked_sub(*base).and_then(|d| i32::try_from(d).ok()) {
                    Some(delta) => list.push((index, delta, tag)),
                    None => {
                        let base = *base;
                        let mut wide: Vec<_> = list.iter().map(|&(i, d, t)| (i, base + i64::from(d), t)).collect();
                        wide.push((index, timestamp, tag));
                        *self = Self::Wide(wide);
                    }
                }
            }
            Self::Wide(list) => list.push((index, timestamp, tag)),
        }
    }

    /// Takes out the records whose index is in `range`.
    fn take_range(&mut self, range: &core::ops::Range<u32>) -> Self {
        let (mut taken, mut kept) = (Self::default(), Self::default());
        for (index, timestamp, tag) in self.iter() {
            let to = if range.contains(&index) { &mut taken } else { &mut kept };
            to.push(index, timestamp, tag, || 0);
        }
        *self = kept;
        taken
    }

    fn len(&self) -> usize {
        match self {
            Self::Narrow { list, .. } => list.len(),
            Self::Wide(list) => list.len(),
        }
    }

    /// Index, timestamp and tag of each record, in the order they were sent.
    fn iter(&self) -> impl Iterator<Item = (u32, i64, u64)> + '_ {
        let (narrow, wide) = match self {
            Self::Narrow { base, list } => (Some((*base, list)), None),
            Self::Wide(list) => (None, Some(list)),
        };
        let narrow =
            narrow.into_iter().flat_map(|(base, l)| l.iter().map(move |&(i, d, t)| (i, base + i64::from(d), t)));
        narrow.chain(wide.into_iter().flatten().copied())
    }
}

/// A completed batch, taken out of the registry: resolve it outside the engine lock.
pub(crate) struct Completed {
    entry: BatchEntry,
    outcome: BatchOutcome,
    interceptors: Option<Interceptors>,
}

impl Completed {
    /// Resolves the handles, runs the callbacks and calls `listener` for the tagged records
    /// (on the calling thread). A callback or listener call that panics does not keep the
    /// batch's others from running: each runs under `catch_unwind`. Returns how many panicked.
    pub(crate) fn dispatch_to(self, listener: Option<&Listener>) -> usize {
        // The interceptors hear first, as in Java (`onAcknowledgement` before the callback).
        if let (Some(interceptors), Some((topic, records))) = (&self.interceptors, &self.entry.acked) {
            for &(index, timestamp) in records {
                let result = self.outcome.record(index, timestamp);
                on_acknowledgement(interceptors, topic, result.as_ref());
            }
        }
        if let Some(cell) = self.entry.cell {
            cell.resolve(self.outcome.clone());
        }
        let mut panicked = 0;
        for (index, timestamp, callback) in self.entry.callbacks {
            let result = self.outcome.record(index, timestamp);
            if catch_unwind(AssertUnwindSafe(move || callback(result))).is_err() {
                panicked += 1;
            }
        }
        if self.entry.tagged.len() == 0 {
            return panicked;
        }
        // `send_tagged` refuses records while no listener is set, so there is one here.
        let Some(listener) = listener else {
            log::error!("kprod: {} tagged record(s) completed without a delivery listener", self.entry.tagged.len());
            return panicked;
        };
        for (index, timestamp, tag) in self.entry.tagged.iter() {
            let result = self.outcome.record(index, timestamp);
            if catch_unwind(AssertUnwindSafe(|| listener(tag, result))).is_err() {
                panicked += 1;
            }
        }
        panicked
    }
}

/// The batches with waiters: each one's entry by id, looked up for every record, and the ids in
/// order, for `flush` (the oldest still waiting), changed once per batch. (A `BTreeMap` of the
/// entries searched its nodes for every record: about a tenth of the instructions of a
/// `send_tagged` with 2,000 batches waiting, BENCHMARKS.md, issue 15.)
#[derive(Default)]
struct Batches {
    entries: FxHashMap<BatchId, BatchEntry>,
    order: BTreeSet<BatchId>,
}

impl Batches {
    /// The entry of `batch`, made empty if it has none.
    fn entry(&mut self, batch: BatchId) -> &mut BatchEntry {
        self.entries.entry(batch).or_insert_with(|| {
            self.order.insert(batch);
            BatchEntry::default()
        })
    }

    fn get_mut(&mut self, batch: BatchId) -> Option<&mut BatchEntry> {
        self.entries.get_mut(&batch)
    }

    fn remove(&mut self, batch: BatchId) -> Option<BatchEntry> {
        let entry = self.entries.remove(&batch)?;
        self.order.remove(&batch);
        // A hash map keeps the room of its largest size: past a peak (a full buffer of small
        // batches, 10,000 partitions) give most of it back, as the tree did node by node.
        // Halving each time it is a quarter full keeps the rehashing to a constant per removal.
        let capacity = self.entries.capacity();
        if capacity > KEPT_ENTRIES && self.entries.len() < capacity / 4 {
            self.entries.shrink_to(self.entries.len() * 2);
        }
        Some(entry)
    }

    /// Takes every entry out, oldest first (every entry has its id in `order`; were one
    /// missing, its waiters would still come out, last).
    fn take_all(&mut self) -> Vec<BatchEntry> {
        let mut entries = core::mem::take(&mut self.entries);
        let mut all: Vec<BatchEntry> =
            core::mem::take(&mut self.order).into_iter().filter_map(|id| entries.remove(&id)).collect();
        all.extend(entries.into_values());
        all
    }

    fn oldest(&self) -> Option<BatchId> {
        self.order.first().copied()
    }

    fn newest(&self) -> Option<BatchId> {
        self.order.last().copied()
    }

    fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Room for this many batches' entries stays however few are waiting.
const KEPT_ENTRIES: usize = 64;

/// Every accepted record's waiter, by batch (batch ids only grow, so the first is the oldest
/// incomplete batch: `flush` waits until it is past its mark).
#[derive(Default)]
pub(crate) struct Registry {
    batches: Batches,
    /// `batch.size`: with a record's size, how many records its batch will likely hold.
    batch_size: usize,
    /// The producer's interceptors, if it has any.
    interceptors: Option<Interceptors>,
}

impl Registry {
    /// A registry for batches of `batch_size` bytes (sizes the per-batch lists).
    pub(crate) fn new(batch_size: usize) -> Self {
        Self { batches: Batches::default(), batch_size, interceptors: None }
    }

    /// Sets the interceptors that hear every tracked record's result.
    pub(crate) fn set_interceptors(&mut self, interceptors: Interceptors) {
        self.interceptors = Some(interceptors).filter(|i| !i.is_empty());
    }

    /// Tracks an accepted record of `topic` for the interceptors' `on_acknowledgement` (with
    /// interceptors only).
    pub(crate) fn track(&mut self, id: RecordId, timestamp: i64, topic: &str) {
        if self.interceptors.is_none() {
            return;
        }
        let entry = self.batches.entry(id.batch);
        let (_, list) = entry.acked.get_or_insert_with(|| (Arc::from(topic), Vec::new()));
        list.push((id.index, timestamp));
    }

    /// Registers a record the engine accepted: a handle, or the callback.
    pub(crate) fn register(
        &mut self,
        id: RecordId,
        timestamp: i64,
        callback: Option<Callback>,
    ) -> Option<DeliveryHandle> {
        let entry = self.batches.entry(id.batch);
        match callback {
            Some(cb) => {
                entry.callbacks.push((id.index, timestamp, cb));
                None
            }
            None => {
                let cell = Arc::clone(entry.cell.get_or_insert_with(Default::default));
                Some(DeliveryHandle { cell, index: id.index, timestamp })
            }
        }
    }

    /// Registers a record of `record_len` bytes (key, value and headers) the engine accepted
    /// for the delivery listener, with its tag.
    pub(crate) fn register_tagged(&mut self, id: RecordId, timestamp: i64, tag: u64, record_len: usize) {
        let batch_size = self.batch_size;
        let expected = || expected_records(batch_size, record_len);
        self.batches.entry(id.batch).tagged.push(id.index, timestamp, tag, expected);
    }

    /// Takes a completed batch out.
    pub(crate) fn complete(&mut self, batch: BatchId, outcome: BatchOutcome) -> Option<Completed> {
        let interceptors = self.interceptors.clone();
        self.batches.remove(batch).map(|entry| Completed { entry, outcome, interceptors })
    }

    /// Takes out the records `indices` of a batch the engine completes in parts (it split a
    /// batch the broker refused as too large); `more` says parts follow. The callbacks and
    /// listener calls of the part resolve now; the handles, which share the batch's cell, when
    /// its last part completes.
    pub(crate) fn complete_part(
        &mut self,
        batch: BatchId,
        indices: core::ops::Range<u32>,
        more: bool,
        outcome: BatchOutcome,
    ) -> Option<Completed> {
        if indices.start == 0 && !more {
            return self.complete(batch, outcome);
        }
        let entry = self.batches.get_mut(batch)?;
        entry.parts.push((indices.start, outcome));
        let parts = BatchOutcome::Parts(Arc::new(entry.parts.clone()));
        let interceptors = self.interceptors.clone();
        if !more {
            let entry = self.batches.remove(batch)?;
            return Some(Completed { entry, outcome: parts, interceptors });
        }
        let (kept, callbacks) =
            core::mem::take(&mut entry.callbacks).into_iter().partition(|c| !indices.contains(&c.0));
        entry.callbacks = kept;
        let tagged = entry.tagged.take_range(&indices);
        // The interceptors hear this part's records now, and the rest with their parts.
        let acked = entry.acked.as_mut().map(|(topic, records)| {
            let (part, rest) = core::mem::take(records).into_iter().partition(|r| indices.contains(&r.0));
            *records = rest;
            (Arc::clone(topic), part)
        });
        let entry = BatchEntry { cell: None, callbacks, tagged, acked, parts: Vec::new() };
        Some(Completed { entry, outcome: parts, interceptors })
    }

    /// Takes every batch out, failing it with `error` (the IO thread stopped).
    pub(crate) fn fail_all(&mut self, error: &Error) -> Vec<Completed> {
        let all = self.batches.take_all();
        let completed = |entry| Completed {
            entry,
            outcome: BatchOutcome::Failed(error.clone()),
            interceptors: self.interceptors.clone(),
        };
        all.into_iter().map(completed).collect()
    }

    /// The newest batch with waiters.
    pub(crate) fn newest(&self) -> Option<BatchId> {
        self.batches.newest()
    }

    /// The oldest batch with waiters.
    pub(crate) fn oldest(&self) -> Option<BatchId> {
        self.batches.oldest()
    }

    /// Whether no record is waiting.
    pub(crate) fn is_empty(&self) -> bool {
        self.batches.is_empty()
    }
}

/// How many records of `record_len` bytes a batch of `batch_size` bytes likely holds (capped: a
/// batch of tiny records reserves no more than 1,024 entries at once).
fn expected_records(batch_size: usize, record_len: usize) -> usize {
    // About 10 bytes of framing per record (length, attributes, deltas, key and value lengths).
    (batch_size / (record_len + 10)).clamp(1, 1024)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    #[test]
    fn batches_keep_their_entries_and_id_order_whatever_the_order_of_entries_and_removals() {
        let mut rng = kprod_core::rng::Rng::new(3);
        for _ in 0..200 {
            let mut batches = Batches::default();
            let mut model = std::collections::BTreeMap::new();
            for step in 0..60u32 {
                let id = BatchId(u64::from(rng.below(20)));
                if rng.below(2) == 0 {
                    batches.entry(id).parts.push((step, BatchOutcome::Failed(Error::Closed)));
                    model.entry(id).or_insert_with(Vec::new).push(step);
                } else {
                    let got = batches.remove(id).map(|e| e.parts.iter().map(|p| p.0).collect::<Vec<_>>());
                    assert_eq!(got, model.remove(&id));
                }
                assert_eq!(batches.oldest(), model.keys().next().copied());
                assert_eq!(batches.newest(), model.keys().next_back().copied());
                assert_eq!(batches.is_empty(), model.is_empty());
                assert_eq!(batches.get_mut(id).is_some(), model.contains_key(&id));
            }
            let order: Vec<Vec<u32>> =
                batches.take_all().iter().map(|e| e.parts.iter().map(|p| p.0).collect()).collect();
            assert_eq!(order, model.into_values().collect::<Vec<_>>(), "all of them, oldest first");
            assert!(batches.is_empty() && batches.oldest().is_none());
        }
    }

    #[test]
    fn the_entries_give_back_their_room_after_a_peak() {
        let mut batches = Batches::default();
        for b in 0..10_000 {
            batches.entry(BatchId(b));
        }
        let peak = batches.entries.capacity();
        assert!(peak >= 10_000);
        for b in 0..9_990 {
            assert!(batches.remove(BatchId(b)).is_some());
        }
        assert!(batches.entries.capacity() <= 4 * KEPT_ENTRIES, "{} of {peak} kept", batches.entries.capacity());
        assert_eq!(batches.oldest(), Some(BatchId(9_990)));
        assert!((9_990..10_000).all(|b| batches.get_mut(BatchId(b)).is_some()));
    }

    fn id(batch: u64, index: u32) -> RecordId {
        RecordId { batch: BatchId(batch), index }
    }

    #[test]
    fn a_split_batch_resolves_each_record_from_its_own_part() {
        // Parts 0..2 at offset 10 and 2..4 at offset 20: a part's first record index is not 0.
        let mut reg = Registry::default();
        let h1 = reg.register(id(7, 1), 101, None).unwrap();
        let h3 = reg.register(id(7, 3), 103, None).unwrap();
        let seen = Arc::new(AtomicI64::new(0));
        let s = Arc::clone(&seen);
        let cb = Box::new(move |r: Result<RecordMetadata, Error>| s.store(r.unwrap().offset, Ordering::SeqCst));
        assert!(reg.register(id(7, 2), 102, Some(cb)).is_none());
        let at = |base_offset| BatchOutcome::Delivered {
            topic: Arc::from("t"),
            partition: 0,
            base_offset,
            log_append_time: -1,
        };
        reg.complete_part(BatchId(7), 0..2, true, at(10)).unwrap().dispatch_to(None);
        assert!(h1.try_get().is_none(), "handles resolve with the last part");
        assert_eq!(seen.load(Ordering::SeqCst), 0, "record 2 is in the next part");
        reg.complete_part(BatchId(7), 2..4, false, at(20)).unwrap().dispatch_to(None);
        assert_eq!(seen.load(Ordering::SeqCst), 20);
        assert_eq!(h1.wait(Duration::from_secs(1)).unwrap().offset, 11);
        assert_eq!(h3.wait(Duration::from_secs(1)).unwrap().offset, 21);
        assert!(reg.is_empty());
    }

    #[test]
    fn handles_and_callbacks_resolve_per_record() {
        let mut reg = Registry::default();
        let h0 = reg.register(id(3, 0), 100, None).unwrap();
        let h1 = reg.register(id(3, 1), 101, None).unwrap();
        let seen = Arc::new(AtomicI64::new(0));
        let s = Arc::clone(&seen);
        assert!(reg
            .register(id(3, 2), 102, Some(Box::new(move |r| s.store(r.unwrap().offset, Ordering::SeqCst))))
            .is_none());
        let other = reg.register(id(4, 0), 5, None).unwrap();
        assert_eq!((reg.oldest(), reg.newest()), (Some(BatchId(3)), Some(BatchId(4))));
        assert!(h0.try_get().is_none());
        assert!(matches!(h0.wait(Duration::from_millis(1)), Err(Error::Timeout { .. })));
        let topic: Arc<str> = Arc::from("t");
        let done = reg.complete(
            BatchId(3),
            BatchOutcome::Delivered { topic, partition: 2, base_offset: 40, log_append_time: -1 },
        );
        done.unwrap().dispatch_to(None);
        let m = h1.wait(Duration::from_secs(1)).unwrap();
        assert_eq!((m.partition, m.offset, m.timestamp), (2, 41, 101));
        assert_eq!(h0.try_get().unwrap().unwrap().offset, 40);
        assert_eq!(seen.load(Ordering::SeqCst), 42);
        for c in reg.fail_all(&Error::Closed) {
            c.dispatch_to(None);
        }
        assert_eq!(other.get(), Err(Error::Closed));
        assert!(reg.is_empty());
    }

    #[test]
    fn a_panicking_callback_does_not_keep_the_others_from_running() {
        let mut reg = Registry::default();
        let seen = Arc::new(AtomicI64::new(0));
        for index in 0..4 {
            let s = Arc::clone(&seen);
            let cb: Callback = Box::new(move |r| {
                assert!(index % 2 == 0, "callback {index} panics");
                s.fetch_add(r.unwrap().offset, Ordering::SeqCst);
            });
            assert!(reg.register(id(7, index), 0, Some(cb)).is_none());
        }
        let outcome =
            BatchOutcome::Delivered { topic: Arc::from("t"), partition: 0, base_offset: 10, log_append_time: -1 };
        let panicked = reg.complete(BatchId(7), outcome).unwrap().dispatch_to(None);
        assert_eq!(panicked, 2);
        // Records 0 and 2 (offsets 10 and 12) ran although 1 panicked between them, and 3 after.
        assert_eq!(seen.load(Ordering::SeqCst), 22);
    }

    #[test]
    fn tagged_records_keep_their_timestamps_near_and_far() {
        let mut reg = Registry::new(16 * 1024);
        let far = 1_000 + (i64::from(i32::MAX) + 5);
        for (index, ts) in [(0, 1_000), (1, 900), (2, far), (3, -7)] {
            reg.register_tagged(id(9, index), ts, 100 + u64::from(index), 100);
        }
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s = Arc::clone(&seen);
        let listener: Listener = Box::new(move |tag, r| s.lock().unwrap().push((tag, r.unwrap().timestamp)));
        let outcome =
            BatchOutcome::Delivered { topic: Arc::from("t"), partition: 0, base_offset: 0, log_append_time: -1 };
        assert_eq!(reg.complete(BatchId(9), outcome).unwrap().dispatch_to(Some(&listener)), 0);
        assert_eq!(*seen.lock().unwrap(), [(100, 1_000), (101, 900), (102, far), (103, -7)]);
    }

    #[test]
    fn acks_0_and_log_append_time() {
        let o = BatchOutcome::Delivered { topic: Arc::from("t"), partition: 0, base_offset: -1, log_append_time: 77 };
        let m = o.record(5, 1).unwrap();
        assert_eq!((m.offset, m.timestamp), (-1, 77));
    }
}
