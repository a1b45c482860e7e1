//! Choosing a partition for a record.
//!
//! - Keyed records: murmur2 of the key, `(hash & 0x7fffffff) % partitions`, exactly as the Java
//!   client's built-in partitioner (`Utils.murmur2` / `Utils.toPositive`). librdkafka's default
//!   (CRC32) does not agree with Java and is deliberately not offered as the default.
//! - Null keys: the uniform sticky partitioner (KIP-794). It sticks to one partition until
//!   `batch_size` bytes were appended to it, then picks another uniformly at random among the
//!   partitions whose leader is known, using the core's seeded [`Rng`].
//! - An explicit partition on the record always wins; a custom [`Partitioner`] can replace the
//!   keyed rule.

use crate::rng::Rng;

/// Kafka's murmur2 (seed `0x9747b28c`), bit for bit the Java client's `Utils.murmur2`.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    // The Java code uses wrapping i32 arithmetic and `>>>`; u32 arithmetic is the same bits.
    let mut h: u32 = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    // Java's switch falls through from 3 to 2 to 1.
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if let Some(&b) = tail.first() {
        h ^= u32::from(b);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client picks for `key` among `num_partitions` (which must be > 0;
/// `0` yields `0`).
pub fn key_partition(key: &[u8], num_partitions: u32) -> u32 {
    if num_partitions == 0 {
        return 0;
    }
    // Mask, not abs(): abs(i32::MIN) overflows and disagrees with Java's toPositive.
    (murmur2(key) as u32 & 0x7fff_ffff) % num_partitions
}

/// A user-supplied partitioning rule for records without an explicit partition.
pub trait Partitioner {
    /// The partition for a record, or `None` to let the built-in uniform sticky partitioner
    /// choose. `num_partitions` is at least 1. A result `>= num_partitions` fails that record
    /// with a typed error instead of being clamped.
    fn partition(&mut self, topic: &str, key: Option<&[u8]>, value: Option<&[u8]>, num_partitions: u32) -> Option<u32>;

    /// Whether this is the built-in rule, which `partitioner.ignore.keys` turns off (the Java
    /// client applies that setting only when no `partitioner.class` is set). Custom
    /// partitioners keep the default, `false`, and see every key.
    fn is_built_in(&self) -> bool {
        false
    }
}

/// The default rule: murmur2 for keyed records, sticky for null keys.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DefaultPartitioner;

impl Partitioner for DefaultPartitioner {
    fn partition(&mut self, _topic: &str, key: Option<&[u8]>, _value: Option<&[u8]>, n: u32) -> Option<u32> {
        key.map(|k| key_partition(k, n))
    }

    fn is_built_in(&self) -> bool {
        true
    }
}

/// Per-topic state of the sticky partitioner (KIP-794).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sticky {
    current: Option<u32>,
    appended: usize,
}

impl Sticky {
    /// The partition for the next null-key record. `available(p)` says whether partition `p`
    /// can take records (a known leader that is not stuck); `load(p)` is `None` when it cannot,
    /// else the number of batches queued for it. Only a new choice asks for loads: the sticky
    /// partition is kept while it is available, checked on every record, so `available` must be
    /// cheap, while `load` may walk the partition's queue. A new partition is drawn with a
    /// weight of `max_queue + 1 - queue`, as the Java client's adaptive partitioner does
    /// (`partitioner.adaptive.partitioning.enable`; a load of 0 everywhere is the uniform
    /// choice). When no partition is available, any is chosen (the record then waits for
    /// metadata like any other).
    pub fn partition(
        &mut self,
        num_partitions: u32,
        rng: &mut Rng,
        available: impl Fn(u32) -> bool,
        load: impl Fn(u32) -> Option<u32>,
    ) -> u32 {
        if let Some(p) = self.current.filter(|&p| p < num_partitions && available(p)) {
            return p;
        }
        // One partition is the only choice: its load (which may walk its queue) cannot change it.
        let p = if num_partitions <= 1 { 0 } else { pick_weighted(num_partitions, rng, &load) };
        self.current = Some(p);
        self.appended = 0;
        p
    }

    /// Records that `bytes` were appended to the sticky partition. After `batch_size` bytes the
    /// next record switches partition, so null-key load spreads evenly over time.
    pub fn on_append(&mut self, bytes: usize, batch_size: usize) {
        self.appended = self.appended.saturating_add(bytes);
        if self.appended >= batch_size {
            self.current = None;
        }
    }
}

/// A partition drawn among the available ones, each weighted by how much shorter its queue is
/// than the longest (all partitions, uniformly, when none is available).
fn pick_weighted(n: u32, rng: &mut Rng, load: &impl Fn(u32) -> Option<u32>) -> u32 {
    // One pass for the longest queue, the available partitions and their queues' sum, which
    // give the weights' total (each weight is max + 1 - queue); a second to draw. `load` may
    // walk a queue, so it is asked at most twice per partition.
    let (mut max, mut available, mut queued) = (None, 0u64, 0u64);
    for q in (0..n).filter_map(load) {
        max = max.max(Some(q));
        available += 1;
        queued += u64::from(q);
    }
    let Some(max) = max else {
        return rng.below(n);
    };
    let weight = |p: u32| load(p).map_or(0, |q| u64::from(max - q.min(max)) + 1);
    let total = available * (u64::from(max) + 1) - queued;
    // total >= 1: at least one partition is available, and each available one weighs >= 1.
    let mut r = rng.between(0, total - 1);
    for p in 0..n {
        let w = weight(p);
        if r < w {
            return p;
        }
        r -= w;
    }
    n - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_known_values() {
        // From the Java client (tests/vectors/murmur2 has 557 more, checked in core/tests).
        assert_eq!(murmur2(b""), 275_646_681);
        assert_eq!(murmur2(&[0x80, 0x81]), 1_642_145_146);
    }

    #[test]
    fn sticky_stays_then_moves_and_spreads() {
        let mut rng = Rng::new(7);
        let mut s = Sticky::default();
        let first = s.partition(6, &mut rng, |_| true, |_| Some(0));
        for _ in 0..9 {
            assert_eq!(s.partition(6, &mut rng, |_| true, |_| Some(0)), first);
            s.on_append(100, 1000);
        }
        let mut counts = [0u32; 6];
        for _ in 0..6000 {
            let p = s.partition(6, &mut rng, |_| true, |_| Some(0));
            counts[p as usize] += 1;
            s.on_append(1000, 1000);
        }
        assert!(counts.iter().all(|&c| (800..1200).contains(&c)), "{counts:?}");
    }

    #[test]
    fn sticky_asks_loads_only_for_a_new_choice() {
        // A load may walk a queue of thousands of batches: asked on every record, it took 40%
        // of a full-speed producer's profile (BENCHMARKS.md). Keeping the sticky partition asks only
        // whether it is still available; a new choice asks each partition's load at most twice.
        let mut rng = Rng::new(5);
        let mut s = Sticky::default();
        let (asked, checked) = (core::cell::Cell::new(0u32), core::cell::Cell::new(0u32));
        let available = |_| {
            checked.set(checked.get() + 1);
            true
        };
        let load = |p: u32| {
            asked.set(asked.get() + 1);
            Some(p % 3)
        };
        let first = s.partition(4, &mut rng, available, load);
        assert!(asked.get() <= 8, "{} loads asked for one choice of 4 partitions", asked.get());
        let after_choice = asked.get();
        for _ in 0..100 {
            assert_eq!(s.partition(4, &mut rng, available, load), first);
            s.on_append(1, 1000);
        }
        assert_eq!(asked.get(), after_choice, "no load asked while the sticky partition stays");
        assert_eq!(checked.get(), 100, "its availability checked once per record");
    }

    #[test]
    fn sticky_avoids_partitions_without_leader() {
        let mut rng = Rng::new(3);
        let mut s = Sticky::default();
        for _ in 0..200 {
            let p = s.partition(5, &mut rng, |p| p == 1 || p == 3, |p| (p == 1 || p == 3).then_some(0));
            assert!(p == 1 || p == 3);
            s.on_append(10, 10);
        }
        // A sticky choice whose leader disappears is abandoned at once.
        let p = s.partition(5, &mut rng, |p| p == 3, |p| (p == 3).then_some(0));
        assert_eq!(p, 3);
    }

    #[test]
    fn adaptive_choice_favours_short_queues() {
        let mut rng = Rng::new(11);
        let mut s = Sticky::default();
        // Queues of 0, 9 and 4 batches: weights 10, 1 and 6 (of 17).
        let queues = [0u32, 9, 4];
        let mut counts = [0u32; 3];
        for _ in 0..17_000 {
            counts[s.partition(3, &mut rng, |_| true, |p| Some(queues[p as usize])) as usize] += 1;
            s.on_append(10, 10);
        }
        let expected = [10_000u32, 1_000, 6_000];
        for (c, e) in counts.iter().zip(expected) {
            assert!(c.abs_diff(e) < e / 10 + 100, "{counts:?} vs {expected:?}");
        }
    }

    #[test]
    fn default_partitioner_defers_null_keys() {
        let mut d = DefaultPartitioner;
        assert_eq!(d.partition("t", None, Some(b"v"), 3), None);
        assert_eq!(d.partition("t", Some(b""), None, 1000), Some(681));
    }
}
