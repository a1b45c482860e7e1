//! The accumulator over caller storage: batching, linger, the memory bound, large records,
//! sealing and removal. Batches it seals are decoded with the record batch decoder and compared
//! with the records that went in.

use alloc::collections::BTreeSet;
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::compression::Compression;
use crate::producer::accumulator::*;
use crate::producer::ratio::Ratio;
use crate::producer::{BatchId, DeliveryError, Outcome, RecordId};
use crate::record::{BatchConfig, ProducerState, Record, RecordBatch};
use crate::time::Instant;

const T0: Instant = Instant::from_millis(1_000);
const ONE: Ratio = Ratio::ONE;

fn acc(memory: usize, batch_size: usize, slots: usize, compression: Compression) -> Accumulator<'static> {
    let config = BatchConfig { compression, ..BatchConfig::new(batch_size) };
    Accumulator::new(
        vec![BatchSlot::EMPTY; slots].into(),
        vec![PartitionQueue::EMPTY; 10].into(),
        vec![0u8; memory].into(),
        vec![0u32; chunk_map_words(memory, batch_size)].into(),
        config,
        Duration::from_millis(5),
    )
    .unwrap()
}

/// An accumulator over borrowed (no_std-style) storage, with 1 KiB batches: its capacity is fixed.
fn borrowed<'a>(
    slots: &'a mut [BatchSlot],
    queues: &'a mut [PartitionQueue],
    memory: &'a mut [u8],
    chunk_map: &'a mut [u32],
) -> Accumulator<'a> {
    let config = BatchConfig::new(1024);
    Accumulator::new(slots.into(), queues.into(), memory.into(), chunk_map.into(), config, Duration::from_millis(5))
        .unwrap()
}

fn value(i: usize, len: usize) -> Vec<u8> {
    (0..len).map(|j| b'a' + ((i + j) % 26) as u8).collect()
}

#[test]
fn records_fill_batches_in_order_and_seal_to_what_went_in() {
    let mut a = acc(64 * 1024, 1024, 16, Compression::None);
    let mut ids = Vec::new();
    for i in 0..40 {
        let v = value(i, 100);
        ids.push(a.append(1, &Record::new(i as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap());
    }
    // 100-byte values: about 8 records fit a 1 KiB batch, so several batches, ids in order.
    let batches: Vec<u16> = a.iter_queue(1).collect();
    assert!(batches.len() >= 4, "{}", batches.len());
    assert_eq!(ids[0], RecordId { batch: BatchId(0), index: 0 });
    for w in ids.windows(2) {
        assert!(w[1] > w[0]);
    }
    // Only the newest batch is open; the others are closed and sendable now.
    for &s in &batches[..batches.len() - 1] {
        assert!(matches!(a.slot(s).unwrap().stage(), Stage::Closed(_)));
        assert_eq!(a.sendable_at(s), Some(T0));
    }
    let last = *batches.last().unwrap();
    assert_eq!(a.sendable_at(last), Some(T0 + Duration::from_millis(5)), "open batches linger");

    let mut seen = 0usize;
    for &s in &batches {
        let producer = ProducerState { producer_id: 9, producer_epoch: 2, base_sequence: seen as i32 };
        a.seal(s, producer, 0, &mut []).unwrap();
        let parsed = RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap();
        assert_eq!(parsed.producer_state(), producer);
        assert_eq!(parsed.record_count() as u32, a.slot(s).unwrap().records());
        for r in parsed.records().unwrap() {
            let r = r.unwrap();
            assert_eq!(r.value, Some(&value(seen, 100)[..]));
            assert_eq!(r.timestamp, seen as i64);
            seen += 1;
        }
    }
    assert_eq!(seen, 40);
    for s in batches {
        remove(&mut a, s);
    }
    assert!(a.is_empty() && a.queue(1).unwrap().is_empty());
    assert_eq!(a.used_bytes(), 0);
}

#[test]
fn memory_is_a_hard_bound_and_frees_on_remove() {
    // 4 chunks of 1 KiB: a fifth batch must wait.
    let mut a = acc(4 * 1024, 1024, 16, Compression::None);
    let big = value(0, 900);
    for p in 0..4u16 {
        a.append(p, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0).unwrap();
    }
    assert_eq!(a.free_bytes(), 0);
    assert_eq!(a.append(0, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
    let first = a.iter_queue(2).next().unwrap();
    remove(&mut a, first);
    a.append(0, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0).unwrap();
    assert!(a.used_bytes() <= 4 * 1024);
}

#[test]
fn fixed_batch_slots_are_a_bound_too() {
    // Borrowed (no_std) storage keeps its capacity: two slots, two batches.
    let (mut slots, mut queues) = ([BatchSlot::EMPTY; 2], [PartitionQueue::EMPTY; 10]);
    let mut memory = vec![0u8; 64 * 1024];
    let mut chunk_map = vec![0u32; chunk_map_words(64 * 1024, 1024)];
    let mut a = borrowed(&mut slots, &mut queues, &mut memory, &mut chunk_map);
    a.append(0, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    a.append(1, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    assert_eq!(a.append(2, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
    assert_eq!(
        a.append(10, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0),
        Err(AccumulateError::UnknownPartition)
    );
    assert!(!a.fit_partitions(11), "borrowed queues cannot grow");
}

/// An emptied slot is the next one taken, and an append refused for want of memory takes no
/// slot: two fixed slots serve any number of batches one after the other, and owned slots do
/// not grow past the batches open at once.
#[test]
fn emptied_slots_are_reused_and_a_refused_append_takes_none() {
    let (mut slots, mut queues) = ([BatchSlot::EMPTY; 2], [PartitionQueue::EMPTY; 10]);
    let mut memory = vec![0u8; 2 * 1024];
    let mut chunk_map = vec![0u32; chunk_map_words(2 * 1024, 1024)];
    let mut a = borrowed(&mut slots, &mut queues, &mut memory, &mut chunk_map);
    let (small, big) = (value(0, 900), value(1, 1900));
    for round in 0..100u16 {
        let p = round % 10;
        a.append(p, &Record::new(0, None, Some(&small)), 1 << 20, ONE, T0).unwrap();
        a.append((p + 1) % 10, &Record::new(0, None, Some(&small)), 1 << 20, ONE, T0).unwrap();
        let first = a.iter_queue(p).next().unwrap();
        remove(&mut a, first);
        // Two chunks wanted, one free: refused, and the emptied slot stays free.
        assert_eq!(a.append(p, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
        a.append(p, &Record::new(0, None, Some(&small)), 1 << 20, ONE, T0).unwrap();
        assert_eq!(a.iter_queue(p).next(), Some(first), "round {round}: the emptied slot is taken again");
        for q in [p, (p + 1) % 10] {
            let s = a.iter_queue(q).next().unwrap();
            remove(&mut a, s);
        }
        assert!(a.is_empty());
    }

    let mut owned = acc(64 * 1024, 1024, 0, Compression::None);
    for round in 0..100 {
        for p in 0..3u16 {
            owned.append(p, &Record::new(0, None, Some(&value(round, 900))), 1 << 20, ONE, T0).unwrap();
        }
        for p in 0..3u16 {
            let s = owned.iter_queue(p).next().unwrap();
            remove(&mut owned, s);
        }
    }
    // Capacity grows geometrically; the slots ever taken are the three open at once.
    assert_eq!(owned.unused, 3, "slots taken over 300 batches, at most 3 open at once");
    assert!(owned.slots.len() <= 4, "owned slots: {}", owned.slots.len());
}

/// Owned (std) storage grows its batch slots as batches open, up to one per chunk of the
/// arena: `buffer.memory` stays the bound.
#[test]
fn owned_batch_slots_grow_up_to_the_memory_bound() {
    let mut a = acc(64 * 1024, 1024, 2, Compression::None);
    for p in 0..64u16 {
        assert!(a.fit_partitions(usize::from(p) + 1));
        a.append(p, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    }
    assert_eq!(a.batch_count(), 64);
    assert!(a.fit_partitions(65));
    assert_eq!(a.append(64, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
}

#[test]
fn a_large_record_takes_contiguous_chunks_and_too_large_is_typed() {
    let mut a = acc(16 * 1024, 1024, 16, Compression::None);
    a.append(0, &Record::new(0, None, Some(b"small")), 1 << 20, ONE, T0).unwrap();
    let big = value(3, 5000);
    let id = a.append(0, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0).unwrap();
    assert_eq!(id.index, 0, "a record larger than batch.size opens its own batch");
    let s = a.iter_queue(0).last().unwrap();
    a.seal(s, ProducerState::NONE, 0, &mut []).unwrap();
    let parsed = RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap();
    assert_eq!(parsed.records().unwrap().next().unwrap().unwrap().value, Some(&big[..]));
    // Larger than max_batch, or than the whole arena: refused, typed, nothing allocated.
    let used = a.used_bytes();
    let err = a.append(1, &Record::new(0, None, Some(&big)), 2000, ONE, T0).unwrap_err();
    assert!(matches!(err, AccumulateError::RecordTooLarge { limit: 2000, .. }), "{err:?}");
    let huge = value(0, 20_000);
    let err = a.append(1, &Record::new(0, None, Some(&huge)), 1 << 20, ONE, T0).unwrap_err();
    assert!(matches!(err, AccumulateError::RecordTooLarge { limit: 16384, .. }), "{err:?}");
    assert_eq!(a.used_bytes(), used);
}

#[test]
fn close_all_makes_open_batches_sendable_and_seal_compresses() {
    let mut a = acc(64 * 1024, 16 * 1024, 8, Compression::Lz4);
    for i in 0..50 {
        let v = value(i % 3, 200);
        a.append(0, &Record::new(i as i64, Some(b"k"), Some(&v)), 1 << 20, ONE, T0).unwrap();
    }
    let s = a.iter_queue(0).next().unwrap();
    assert_eq!(a.sendable_at(s), Some(T0 + Duration::from_millis(5)));
    a.close_all();
    assert_eq!(a.sendable_at(s), Some(T0));
    let plain = a.slot(s).unwrap().len();
    let mut scratch = vec![0u8; 32 * 1024];
    let sealed = a.seal(s, ProducerState::NONE, 0, &mut scratch).unwrap();
    assert!(sealed < plain / 2, "lz4 shrinks repetitive records: {sealed} vs {plain}");
    let parsed = RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap();
    assert_eq!(parsed.compression(), Compression::Lz4);
    assert_eq!(parsed.decompress(1 << 20).unwrap().iter().count(), 50);
    // A sealed batch takes no more records: the next one opens a new batch.
    let id = a.append(0, &Record::new(0, None, Some(b"v")), 1 << 20, ONE, T0).unwrap();
    assert_eq!(id, RecordId { batch: BatchId(1), index: 0 });
}

#[test]
fn restamp_changes_producer_state_and_keeps_the_crc_valid() {
    let mut a = acc(8 * 1024, 1024, 4, Compression::None);
    a.append(0, &Record::new(0, None, Some(b"v")), 1 << 20, ONE, T0).unwrap();
    let s = a.iter_queue(0).next().unwrap();
    a.seal(s, ProducerState { producer_id: 1, producer_epoch: 0, base_sequence: 7 }, 0, &mut []).unwrap();
    let bumped = ProducerState { producer_id: 1, producer_epoch: 1, base_sequence: 0 };
    assert!(a.restamp(s, bumped));
    assert_eq!(RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap().producer_state(), bumped);
    assert_eq!(a.slot(s).unwrap().send().producer, bumped);
}

/// Completes a batch that is the oldest of its partition and takes its completion.
fn remove(a: &mut Accumulator<'_>, s: u16) {
    assert_eq!(a.complete(s, DELIVERED), Some(false));
    let reported = a.pop_completed().unwrap().0;
    assert_eq!(a.slot(s), None, "{reported:?} was not the batch completed");
}

const DELIVERED: Outcome = Outcome::Delivered { base_offset: 0, log_append_time: -1 };

/// A partition's completions come out in queue order, whatever order they complete in, and
/// each is taken in O(1) from the completion queue.
#[test]
fn completions_are_reported_in_queue_order_and_queues_move() {
    let mut a = acc(64 * 1024, 128, 16, Compression::None);
    for i in 0..6 {
        a.append(2, &Record::new(i, None, Some(&value(0, 90))), 1 << 20, ONE, T0).unwrap();
    }
    let other = a.append(5, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    let before: Vec<u16> = a.iter_queue(2).collect();
    assert_eq!(before.len(), 6);
    a.complete(before[2], DELIVERED).unwrap();
    a.complete(before[5], DELIVERED).unwrap();
    assert!(!a.has_completed(), "older batches of partition 2 are pending");
    assert_eq!(a.complete(before[2], Outcome::Failed(DeliveryError::Closed)), None, "a second completion");
    let other_slot = a.iter_queue(5).next().unwrap();
    a.complete(other_slot, DELIVERED).unwrap();
    a.complete(before[1], DELIVERED).unwrap();
    a.complete(before[0], DELIVERED).unwrap();
    let mut order = Vec::new();
    while let Some((b, _)) = a.pop_completed() {
        order.push(b.id());
    }
    assert_eq!(order.len(), 4, "{order:?}");
    assert_eq!(order[0], other.batch, "the other partition's batch completed first among the heads");
    assert!(order[1..].windows(2).all(|w| w[0] < w[1]), "{order:?}");
    let after: Vec<u16> = a.iter_queue(2).collect();
    assert_eq!(after, vec![before[3], before[4], before[5]]);
    assert_eq!(a.queue(2).unwrap().len(), 3);
    // before[5] is complete but waits for 3 and 4.
    a.complete(before[4], DELIVERED).unwrap();
    assert!(!a.has_completed());
    a.complete(before[3], DELIVERED).unwrap();
    assert_eq!(core::iter::from_fn(|| a.pop_completed()).count(), 3);
    assert!(a.queue(2).unwrap().is_empty());
    for i in 0..3 {
        a.append(2, &Record::new(i, None, Some(&value(0, 90))), 1 << 20, ONE, T0).unwrap();
    }
    assert!(a.move_queue(2, 3));
    assert!(a.queue(2).unwrap().is_empty());
    assert!(a.iter_queue(3).all(|s| a.slot(s).unwrap().partition() == 3));
    assert!(!a.move_queue(0, 3), "the target must be empty");
    // The moved queue still reports in order.
    let moved: Vec<u16> = a.iter_queue(3).collect();
    a.complete(moved[1], DELIVERED).unwrap();
    assert!(!a.has_completed());
    a.complete(moved[0], DELIVERED).unwrap();
    assert_eq!(a.pop_completed().map(|b| b.0.partition()), Some(3));
    assert_eq!(a.pop_completed().map(|b| b.0.partition()), Some(3));
    assert!(a.pop_completed().is_none());
}

/// `iter_slots` stops at a high-water mark below the capacity: whatever the order of removals,
/// it lists exactly the used slots, and a freed low slot is taken before a higher one.
#[test]
fn slot_scans_see_every_used_slot_and_nothing_else() {
    let mut a = acc(64 * 1024, 1024, 16, Compression::None);
    let v = value(0, 900); // one record fills a 1 KiB batch: one slot per record
    let mut used = BTreeSet::new();
    // One batch per partition, so each is the oldest of its partition and can go in any order.
    for p in 0..8u16 {
        let id = a.append(p, &Record::new(0, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
        assert_eq!(id.index, 0);
    }
    let listed = |a: &Accumulator<'_>| a.iter_slots().map(|(s, _)| s).collect::<BTreeSet<u16>>();
    used.extend(listed(&a));
    assert_eq!(used.len(), 8);
    // Remove the highest slot, then one from the middle, then the rest from the top down.
    let order: Vec<u16> = {
        let mut all: Vec<u16> = used.iter().copied().collect();
        let top = all.pop().unwrap();
        let mid = all.remove(3);
        all.reverse();
        [top, mid].into_iter().chain(all).collect()
    };
    for (n, s) in order.iter().enumerate() {
        remove(&mut a, *s);
        used.remove(s);
        assert_eq!(listed(&a), used, "after {} removals", n + 1);
        if n == 1 {
            // A new batch takes the lowest free slot: the middle one just freed.
            let id = a.append(9, &Record::new(0, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
            let s = a.iter_queue(9).last().unwrap();
            assert_eq!(a.slot(s).unwrap().id(), id.batch);
            assert_eq!(s, order[1]);
            used.insert(s);
            assert_eq!(listed(&a), used);
            remove(&mut a, s);
            used.remove(&s);
        }
    }
    assert!(a.iter_slots().next().is_none());
}

/// The estimate after `batches` batches sealed at a ratio of 0.3, learned from 1.0 as in Java.
fn learned(batches: usize) -> Ratio {
    let mut r = ONE;
    (0..batches).for_each(|_| r.observe(300, 1000));
    r
}

/// Appends 100-byte records to partition `p` at `ratio` until a batch closes or memory runs
/// out; returns the first batch's slot and its metadata.
fn fill_first_batch(a: &mut Accumulator<'_>, p: u16, ratio: Ratio) -> (u16, BatchSlot) {
    for i in 0..1000 {
        if a.append(p, &Record::new(i, None, Some(&value(i as usize, 100))), 1 << 20, ratio, T0).is_err() {
            break;
        }
        if a.iter_queue(p).count() > 1 {
            break;
        }
    }
    let s = a.iter_queue(p).next().unwrap();
    (s, *a.slot(s).unwrap())
}

#[test]
fn compressed_batches_hold_batch_size_of_estimated_compressed_bytes() {
    // 140 batches at 0.3 bring the estimate from 1.0 to 0.3 (140 * 0.005 = 0.7).
    let r = learned(140);
    // At 0.3 a 4 KiB batch takes 61 + (4096 - 61) / (0.3 * 1.05) = 61 + 12,809 = 12,870 bytes
    // of records, grown to 13 chunks of 1 KiB; a 100-byte record takes about 108.
    let mut a = acc(64 * 1024, 4096, 16, Compression::Lz4);
    let (s, b) = fill_first_batch(&mut a, 0, r);
    assert!(b.len() <= 12_870 && b.len() > 12_870 - 120, "{}", b.len());
    assert_eq!(b.chunks, 13);
    // It is compressed when sealed (the scratch holds it), with all its records.
    let mut scratch = vec![0u8; Compression::Lz4.max_compressed_len(b.len())];
    let sealed = a.seal(s, ProducerState::NONE, 0, &mut scratch).unwrap();
    let parsed = RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap();
    assert_eq!(parsed.compression(), Compression::Lz4);
    assert_eq!(parsed.record_count() as u32, b.records());
    assert!(sealed < 4096, "{sealed}");

    // Before it learned (1.0): 61 + (4096 - 61) / 1.05 = 61 + 3,842 = 3,903 bytes, 4 chunks.
    let mut a = acc(64 * 1024, 4096, 16, Compression::Lz4);
    let (_, b) = fill_first_batch(&mut a, 0, ONE);
    assert!(b.len() <= 3_903 && b.len() > 3_903 - 120, "{}", b.len());
    assert_eq!(b.chunks, 4);

    // Uncompressed, the estimate changes nothing: batch.size bytes of records.
    let mut a = acc(64 * 1024, 4096, 16, Compression::None);
    let (_, b) = fill_first_batch(&mut a, 0, r);
    assert!(b.len() <= 4096 && b.len() > 4096 - 120, "{}", b.len());
    assert_eq!(b.chunks, 4);
}

#[test]
fn a_compressed_batch_takes_a_shorter_run_when_no_long_one_is_free() {
    // 20 chunks of 1 KiB. Batches at 1.0 want 4 chunks: partition 0's first record takes chunk
    // 0, and partition 1's goes 4 chunks past it (room for partition 0 to grow), at 5. At 0.3
    // partition 2 wants 13 and no run has room for it and 13 for the open batch before it, so
    // it goes halfway into the longest run (6..20): at 6 + (14 - 1) / 2 = 12, and grows to the
    // arena's end; then no run of 9 is free, and it closes at 8 chunks.
    let mut a = acc(20 * 1024, 4096, 32, Compression::Lz4);
    // 20 partitions known: a new batch's first share is one chunk.
    a.set_partitions(20);
    a.append(0, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    a.append(1, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    let at = |a: &Accumulator<'_>, p: u16| {
        let b = *a.slot(a.iter_queue(p).next().unwrap()).unwrap();
        (b.first_chunk, b.chunks)
    };
    assert_eq!((at(&a, 0), at(&a, 1)), ((0, 1), (5, 1)));
    let (_, b) = fill_first_batch(&mut a, 2, learned(140));
    assert_eq!((b.first_chunk, b.chunks), (12, 8));
    assert!(b.len() <= 8 * 1024 && b.len() > 8 * 1024 - 120, "{}", b.len());
    // The arena fills, and buffer.memory stays the bound: records go on into new batches until
    // not one chunk is free.
    let mut appended = 0;
    let err = loop {
        match a.append(3, &Record::new(0, None, Some(b"x")), 1 << 20, learned(140), T0) {
            Ok(_) => appended += 1,
            Err(e) => break e,
        }
    };
    assert_eq!(err, AccumulateError::BufferFull);
    assert!(appended > 0);
    assert_eq!(a.free_bytes(), 0);
}

#[test]
fn compressed_batches_stay_within_what_the_scratch_compresses_and_max_batch() {
    let mut a = acc(64 * 1024, 4096, 16, Compression::Lz4);
    a.set_compressible(6000);
    let (_, b) = fill_first_batch(&mut a, 0, learned(140));
    assert!(b.len() <= 6000 && b.len() > 6000 - 120, "{}", b.len());
    assert_eq!(b.chunks, 6);
    // A scratch below batch.size does not shrink batches below it (they go uncompressed).
    let mut a = acc(64 * 1024, 4096, 16, Compression::Lz4);
    a.set_compressible(100);
    let (_, b) = fill_first_batch(&mut a, 0, learned(140));
    assert!(b.len() <= 4096 && b.len() > 4096 - 120, "{}", b.len());
    let mut a = acc(64 * 1024, 4096, 16, Compression::Lz4);
    for i in 0..200 {
        a.append(0, &Record::new(i, None, Some(&value(0, 100))), 5000, learned(140), T0).unwrap();
    }
    let b = *a.slot(a.iter_queue(0).next().unwrap()).unwrap();
    assert!(b.len() <= 5000 && b.len() > 5000 - 120, "{}", b.len());
}

#[test]
fn a_compressed_batch_finds_its_run_past_a_word_of_used_chunks() {
    // 40 chunks of 1 KiB; 33 one-record batches at 1.0 take chunks 0-32 (a whole bitmap word
    // and one more), and are closed. At 0.3 the next batch wants 61 + (1024 - 61) / 0.315 =
    // 3,118 bytes, 4 chunks: the run from 33 has them, and its first record takes chunk 33.
    let mut a = acc(40 * 1024, 1024, 64, Compression::Lz4);
    a.set_partitions(40);
    for i in 0..33 {
        a.append(0, &Record::new(i, None, Some(&value(0, 900))), 1 << 20, ONE, T0).unwrap();
    }
    assert_eq!(a.iter_queue(0).count(), 33);
    a.close_all();
    a.append(1, &Record::new(0, None, Some(b"x")), 1 << 20, learned(140), T0).unwrap();
    let b = *a.slot(a.iter_queue(1).next().unwrap()).unwrap();
    assert_eq!((b.first_chunk, b.chunks), (33, 1));
}

/// Seals every batch of partition `p` and returns the values its records read back, in order.
fn sealed_values(a: &mut Accumulator<'_>, p: u16) -> Vec<Vec<u8>> {
    let slots: Vec<u16> = a.iter_queue(p).collect();
    let mut values = Vec::new();
    for s in slots {
        a.seal(s, ProducerState::NONE, 0, &mut []).unwrap();
        for r in RecordBatch::parse(a.sealed_bytes(s).unwrap()).unwrap().records().unwrap() {
            values.push(r.unwrap().value.unwrap().to_vec());
        }
    }
    values
}

#[test]
fn a_batch_takes_batch_size_while_every_known_partition_could_have_one() {
    // 64 chunks of 1 KiB, batches of 16: with 4 partitions known each can have a whole batch,
    // so a new batch takes it at once; with 5, the first share is 64 / 5 = 12 chunks.
    for (partitions, first) in [(1, 16), (4, 16), (5, 12)] {
        let mut a = acc(64 * 1024, 16 * 1024, 16, Compression::None);
        a.set_partitions(partitions);
        a.append(0, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
        let b = *a.slot(a.iter_queue(0).next().unwrap()).unwrap();
        assert_eq!((b.first_chunk, b.chunks), (0, first), "{partitions} partitions");
    }
}

#[test]
fn a_batch_starts_with_a_chunk_and_grows_in_place_to_batch_size() {
    let mut a = acc(64 * 1024, 16 * 1024, 16, Compression::None);
    // 64 partitions known: a new batch's first share is one chunk.
    a.set_partitions(64);
    let mut sent = Vec::new();
    let mut sizes = Vec::new();
    for i in 0..200 {
        let v = value(i, 100);
        a.append(0, &Record::new(i as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
        sent.push(v);
        let b = *a.slot(a.iter_queue(0).next().unwrap()).unwrap();
        sizes.push((b.first_chunk, b.chunks));
    }
    // One chunk of 1 KiB at first, then 2, 4, 8 and 16 (batch.size), always from chunk 0.
    assert_eq!(sizes[0], (0, 1));
    let mut grown: Vec<(u32, u32)> = sizes.clone();
    grown.dedup();
    assert_eq!(grown, [(0, 1), (0, 2), (0, 4), (0, 8), (0, 16)]);
    // The second batch opened after the first filled batch.size.
    assert_eq!(a.iter_queue(0).count(), 2);
    let first = *a.slot(a.iter_queue(0).next().unwrap()).unwrap();
    assert!(first.len() <= 16 * 1024 && first.len() > 16 * 1024 - 120, "{}", first.len());
    assert_eq!(sealed_values(&mut a, 0), sent);
}

#[test]
fn a_batch_with_no_room_after_it_moves_with_its_records() {
    let mut a = acc(64 * 1024, 4096, 16, Compression::None);
    a.set_partitions(64);
    a.append(0, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    a.close_all();
    // Partition 1's batch starts right after the closed one, at chunk 1; chunk 2 is then
    // taken (as by a batch placed there under memory pressure), so it cannot grow in place.
    let mut sent = Vec::new();
    let v = value(0, 100);
    a.append(1, &Record::new(0, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
    sent.push(v);
    assert_eq!(a.slot(a.iter_queue(1).next().unwrap()).unwrap().first_chunk, 1);
    a.take_chunks(2, 1);
    for i in 1..30 {
        let v = value(i, 100);
        a.append(1, &Record::new(i as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
        sent.push(v);
    }
    let b = *a.slot(a.iter_queue(1).next().unwrap()).unwrap();
    assert!(b.first_chunk > 2, "moved past the taken chunk: {}", b.first_chunk);
    assert!(!a.chunk_used(1), "its first chunk was given back");
    // 30 records of 108 bytes and a header: 3,301 bytes, 4 chunks, one batch.
    assert_eq!((b.chunks, a.iter_queue(1).count()), (4, 1));
    assert_eq!(a.used_bytes(), (1 + 1 + 4) * 1024);
    assert_eq!(sealed_values(&mut a, 1), sent);
}

#[test]
fn many_partitions_with_a_record_each_take_a_chunk_each_not_batch_size() {
    // 64 KiB and 16 KiB batches: the memory of 4 whole batches holds 64 one-record batches of
    // the 64 partitions known.
    let config = BatchConfig::new(16 * 1024);
    let mut a = Accumulator::new(
        vec![BatchSlot::EMPTY; 8].into(),
        vec![PartitionQueue::EMPTY; 100].into(),
        vec![0u8; 64 * 1024].into(),
        vec![0u32; chunk_map_words(64 * 1024, 16 * 1024)].into(),
        config,
        Duration::from_millis(5),
    )
    .unwrap();
    a.set_partitions(64);
    for p in 0..64u16 {
        a.append(p, &Record::new(0, None, Some(&value(p as usize, 100))), 1 << 20, ONE, T0).unwrap();
    }
    assert_eq!(a.free_bytes(), 0);
    assert_eq!(a.append(64, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
    // Each still takes records into its chunk: 8 of 100 bytes (61 + 8 x 108 = 925 bytes).
    for p in 0..64u16 {
        for i in 1..8 {
            a.append(p, &Record::new(i, None, Some(&value(i as usize, 100))), 1 << 20, ONE, T0).unwrap();
        }
        assert_eq!(a.iter_queue(p).count(), 1);
        assert_eq!(sealed_values(&mut a, p).len(), 8);
    }
}

#[test]
fn whole_batches_take_blocks_aligned_to_their_size() {
    // 16 chunks of 1 KiB, batches of 4: with one partition known a new batch takes a whole
    // batch, in a block at a multiple of 4 chunks. Chunk 5 taken leaves 4 (one chunk) and
    // 6..16; the aligned block there starts at 8.
    let mut a = acc(16 * 1024, 4096, 16, Compression::None);
    a.append(0, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    a.close_all();
    a.take_chunks(5, 1);
    a.append(1, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    let at = |a: &Accumulator<'_>, p: u16| {
        let b = *a.slot(a.iter_queue(p).next().unwrap()).unwrap();
        (b.first_chunk, b.chunks)
    };
    assert_eq!((at(&a, 0), at(&a, 1)), ((0, 4), (8, 4)));
    // 12..16 is the last aligned block; then no whole batch fits though chunk 4 and 6-7 are
    // free: the sender waits, as it waited for a batch.size chunk.
    a.append(2, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    assert_eq!(at(&a, 2), (12, 4));
    assert_eq!(a.append(3, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0), Err(AccumulateError::BufferFull));
    assert_eq!(a.free_bytes(), 3 * 1024);
}

#[test]
fn a_record_of_a_whole_batch_or_more_takes_any_run_that_holds_it() {
    // 16 chunks of 1 KiB, batches of 4. A 5,500-byte record needs 6 chunks: its batch wants 6,
    // and with chunks 0 and 7 taken no block aligned to 6 is free (0..6 and 6..12 hold a used
    // chunk, 12..18 passes the end). It takes the first run that holds it, 1..7, rather than
    // wait for the arena to empty.
    let mut a = acc(16 * 1024, 4096, 16, Compression::None);
    a.take_chunks(0, 1);
    a.take_chunks(7, 1);
    let big = value(1, 5500);
    a.append(0, &Record::new(0, None, Some(&big)), 1 << 20, ONE, T0).unwrap();
    let b = *a.slot(a.iter_queue(0).next().unwrap()).unwrap();
    assert_eq!((b.first_chunk, b.chunks), (1, 6));
    // A batch of batch.size still takes an aligned block: 8..12, the first free one.
    a.append(1, &Record::new(0, None, Some(b"x")), 1 << 20, ONE, T0).unwrap();
    let b = *a.slot(a.iter_queue(1).next().unwrap()).unwrap();
    assert_eq!((b.first_chunk, b.chunks), (8, 4));
}

/// Appends 100-byte records to partition 1 until a second batch opens; returns the first
/// batch's slot and how many records it took.
fn fill_until_second_batch(a: &mut Accumulator<'_>) -> (u16, usize) {
    let mut n = 0;
    loop {
        let v = value(n, 100);
        let id = a.append(1, &Record::new(n as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
        if id.batch != BatchId(0) {
            break;
        }
        n += 1;
    }
    let first = a.iter_queue(1).next().unwrap();
    (first, n)
}

#[test]
fn a_batch_at_batch_size_is_due_at_once_and_takes_records_up_to_batch_max_size() {
    let mut a = acc(64 * 1024, 1024, 16, Compression::None);
    a.set_max_size(4096);
    let mut n = 0;
    // Up to batch.size: an open batch that lingers.
    while a.slot(0).is_none_or(|s| s.len() + 120 < 1024) {
        let v = value(n, 100);
        a.append(1, &Record::new(n as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
        assert!(!a.ripened());
        n += 1;
    }
    let first = a.iter_queue(1).next().unwrap();
    assert_eq!(a.sendable_at(first), Some(T0 + Duration::from_millis(5)), "lingers below batch.size");
    // The record past batch.size stays in the batch, which is now due.
    let v = value(n, 100);
    let id = a.append(1, &Record::new(n as i64, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
    assert_eq!(id.batch, BatchId(0));
    assert!(a.ripened());
    assert!(matches!(a.slot(first).unwrap().stage(), Stage::Open(_)));
    assert_eq!(a.sendable_at(first), Some(T0), "due at once past batch.size");
    // The adaptive partitioner sees the batch.size batches Java would have made of it.
    assert_eq!(a.queue_load(1, ONE), 2);
    // It takes records up to batch.max.size, then the next record opens a batch.
    let (first, more) = fill_until_second_batch(&mut a);
    let records = n + 1 + more;
    let len = a.slot(first).unwrap().len();
    assert!((4096 - 130..=4096).contains(&len), "{len} bytes, {records} records");
    assert!(matches!(a.slot(first).unwrap().stage(), Stage::Closed(_)));
    // A closed batch of about 4 batch.size batches' bytes, and the new one.
    assert_eq!(a.queue_load(1, ONE), 5, "a closed batch of {len} bytes and the new one");
    let sealed = a.seal(first, ProducerState::NONE, 0, &mut []).unwrap();
    let parsed = RecordBatch::parse(a.sealed_bytes(first).unwrap()).unwrap();
    assert_eq!((sealed, parsed.record_count() as usize), (len, records));
}

#[test]
fn batches_grow_past_batch_size_at_most_to_the_arenas_share_per_partition() {
    // 64 chunks of 1 KiB: a partition's share is 16 KiB with four partitions, 4 KiB with 16, and
    // no more than a 1 KiB batch with 64.
    for (partitions, largest) in [(4, 16 * 1024), (16, 4096), (64, 1024)] {
        let mut a = acc(64 * 1024, 1024, 16, Compression::None);
        a.set_max_size(16 * 1024);
        a.set_partitions(partitions);
        let (first, _) = fill_until_second_batch(&mut a);
        let len = a.slot(first).unwrap().len();
        assert!((largest - 130..=largest).contains(&len), "{partitions} partitions: the first batch took {len} bytes");
    }
}

#[test]
fn a_throttled_partitions_batches_stay_within_batch_size_while_held() {
    let mut a = acc(64 * 1024, 1024, 16, Compression::None);
    a.set_max_size(4096);
    let mut n = 0;
    let mut append = |a: &mut Accumulator<'_>, now: Instant| {
        let v = value(n, 100);
        n += 1;
        a.append(1, &Record::new(n as i64, None, Some(&v)), 1 << 20, ONE, now).unwrap()
    };
    // A batch ripens past batch.size.
    while !a.ripened() {
        append(&mut a, T0);
    }
    let first = a.iter_queue(1).next().unwrap();
    assert!(matches!(a.slot(first).unwrap().stage(), Stage::Open(_)));
    // Its broker throttles: the ripe batch closes, and the next ones close at batch.size.
    a.hold_growth(1, true);
    assert!(matches!(a.slot(first).unwrap().stage(), Stage::Closed(_)));
    for _ in 0..40 {
        append(&mut a, T0);
        assert!(!a.ripened(), "ripened while held");
    }
    assert!(a.iter_queue(1).skip(1).all(|s| a.slot(s).unwrap().len() <= 1024), "a batch past batch.size while held");
    // Another partition is not held.
    let v = value(0, 100);
    while !a.ripened() {
        a.append(2, &Record::new(0, None, Some(&v)), 1 << 20, ONE, T0).unwrap();
    }
    // Once the throttle is over, batches ripen again.
    a.hold_growth(1, false);
    while !a.ripened() {
        append(&mut a, T0);
    }
    let tail = a.iter_queue(1).last().unwrap();
    assert!(matches!(a.slot(tail).unwrap().stage(), Stage::Open(_)));
}

/// A compression job: handed out once, its result sealed in place as the seal's own
/// compression would be, and the batch waits for it until the timeout; a result for a batch
/// that completed meanwhile (here: expired) is dropped.
#[test]
fn compression_job_results_seal_in_place_and_late_ones_are_dropped() {
    let fill = |a: &mut Accumulator<'_>| {
        for i in 0..50 {
            let v = value(i % 3, 200);
            a.append(0, &Record::new(i as i64, Some(b"k"), Some(&v)), 1 << 20, ONE, T0).unwrap();
        }
        a.close_all();
        a.iter_queue(0).next().unwrap()
    };
    let mut scratch = vec![0u8; 32 * 1024];
    // The seal's own compression, for comparison.
    let mut inline = acc(64 * 1024, 16 * 1024, 8, Compression::Lz4);
    let s = fill(&mut inline);
    inline.seal(s, ProducerState::NONE, 0, &mut scratch).unwrap();
    let expected = inline.sealed_bytes(s).unwrap().to_vec();

    let mut a = acc(64 * 1024, 16 * 1024, 8, Compression::Lz4);
    let s = fill(&mut a);
    assert_eq!(a.job_candidate(), Some(s));
    let (id, records) = a.start_job(s, T0).unwrap();
    let mut out = vec![0u8; Compression::Lz4.max_compressed_len(records.len())];
    let n = Compression::Lz4.compress_with_level(None, records, &mut out).unwrap();
    assert_eq!(a.job_candidate(), None, "a batch goes out as a job once");
    assert_eq!(a.slot(s).unwrap().job_due(), Some(T0 + jobs::JOB_TIMEOUT));
    assert!(!a.finish_job(s, BatchId(id.0 + 1), Some(&out[..n])), "another batch's result");
    assert!(a.finish_job(s, id, Some(&out[..n])));
    assert_eq!(a.slot(s).unwrap().job_due(), None);
    a.seal(s, ProducerState::NONE, 0, &mut scratch).unwrap();
    assert_eq!(a.sealed_bytes(s).unwrap(), &expected[..], "sealed as the seal compresses");
    assert!(!a.finish_job(s, id, Some(&out[..n])), "sealed: a second result is dropped");

    let mut a = acc(64 * 1024, 16 * 1024, 8, Compression::Lz4);
    let s = fill(&mut a);
    let (id, _) = a.start_job(s, T0).unwrap();
    a.complete(s, Outcome::Failed(DeliveryError::DeliveryTimeout)).unwrap();
    assert!(!a.finish_job(s, id, Some(&out[..n])), "completed meanwhile: dropped");
}
