//! `batch.size` counts estimated *compressed* bytes, as in the Java client: a per-topic estimate
//! of the compression ratio (Java's `CompressionRatioEstimator`) says how many bytes of records a
//! batch of a compressed producer takes before its estimated compressed size would pass
//! `batch.size` (Java's `MemoryRecordsBuilder.estimatedBytesWritten`, which also pads the
//! estimate by 5%, `COMPRESSION_RATE_ESTIMATION_FACTOR`).
//!
//! The estimate starts at 1.0 and is updated from every batch sealed with compression, with the
//! observed ratio (compressed bytes of records over their uncompressed bytes, headers left out):
//! a worse observation raises it by at least 0.05 (to the observation if that is higher), a better
//! one lowers it by 0.005 but not below the observation (Java's `max(estimate - 0.005,
//! observed)`). So it learns slowly that a topic compresses well and quickly that it
//! does not. It lives in thousandths (fixed point, no float in no_std code and exact steps).
//!
//! One difference from Java: Java counts the record being appended at its full uncompressed size
//! (`hasRoomFor`), kprod at the estimate like the records before it, so a batch ends when its
//! estimated compressed size would pass `batch.size`.

use super::engine::Producer;
use super::metadata::{PartitionIdx, TopicIdx};
use crate::compression::Compression;
use crate::partitioner::Partitioner;
use crate::record::BATCH_HEADER_LEN;

/// The compression ratio estimate of one topic, in thousandths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ratio(u16);

impl Ratio {
    /// The estimate before any batch was sealed (Java's initial estimate for every codec).
    pub(crate) const ONE: Self = Self(1000);
    /// Java's `COMPRESSION_RATIO_IMPROVING_STEP`, 0.005.
    const IMPROVING_STEP: u16 = 5;
    /// Java's `COMPRESSION_RATIO_DETERIORATE_STEP`, 0.05.
    const DETERIORATE_STEP: u16 = 50;
    /// Java's `COMPRESSION_RATE_ESTIMATION_FACTOR`, 1.05, in thousandths.
    const ESTIMATION_FACTOR: u64 = 1050;

    /// The estimate in thousandths.
    #[cfg(test)]
    const fn thousandths(self) -> u16 {
        self.0
    }

    /// Updates the estimate with a batch whose `plain` bytes of records compressed to
    /// `compressed` bytes.
    pub(crate) fn observe(&mut self, compressed: usize, plain: usize) {
        if plain == 0 {
            return;
        }
        let (c, p, e) = (compressed as u64 * 1000, plain as u64, u64::from(self.0));
        if c > e * p {
            let observed = u16::try_from(c.div_ceil(p)).unwrap_or(u16::MAX);
            self.0 = self.0.saturating_add(Self::DETERIORATE_STEP).max(observed);
        } else if c < e * p {
            // Down by the small step, but never below the observation (rounded up, so the
            // estimate errs on the side of smaller batches), and never 0: the estimate divides.
            let observed = u16::try_from(c.div_ceil(p)).unwrap_or(u16::MAX);
            self.0 = self.0.saturating_sub(Self::IMPROVING_STEP).max(observed).max(1);
        }
    }

    /// Estimated compressed size of `plain` bytes of records (Java's estimate, 5% padded).
    pub(crate) fn estimate(self, plain: usize) -> usize {
        let n = plain as u64 * u64::from(self.0) * Self::ESTIMATION_FACTOR / 1_000_000;
        usize::try_from(n).unwrap_or(usize::MAX)
    }

    /// The most bytes of records whose estimated compressed size fits `budget` bytes.
    pub(crate) fn plain_for(self, budget: usize) -> usize {
        let n = budget as u64 * 1_000_000 / (u64::from(self.0) * Self::ESTIMATION_FACTOR);
        usize::try_from(n).unwrap_or(usize::MAX)
    }
}

/// The largest batch (header included) whose records compress into a `scratch`-byte scratch
/// with `codec`, at most `limit`: a larger one would be sent uncompressed.
pub(crate) fn compressible_len(codec: Compression, scratch: usize, limit: usize) -> usize {
    if codec == Compression::None {
        return limit;
    }
    let fits = |len: usize| codec.max_compressed_len(len.saturating_sub(BATCH_HEADER_LEN)) <= scratch;
    if fits(limit) {
        return limit;
    }
    // `max_compressed_len` grows with its input: the largest fitting length by bisection.
    let (mut lo, mut hi) = (0, limit);
    while lo + 1 < hi {
        let mid = lo + (hi - lo) / 2;
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

impl<P: Partitioner> Producer<'_, P> {
    /// The compression ratio estimate of topic `t` (1.0 when unknown), for sizing its batches. A
    /// producer that does not compress never reads it: 1.0 without looking it up.
    pub(super) fn ratio_of(&self, t: TopicIdx) -> Ratio {
        if self.config.compression == Compression::None {
            return Ratio::ONE;
        }
        self.meta.ratio(t).unwrap_or(Ratio::ONE)
    }

    /// Batch `slot` was just sealed from `plain` bytes to `sealed` bytes (headers included):
    /// its topic's estimate learns from it when the producer compresses.
    pub(super) fn learn_ratio(&mut self, slot: u16, plain: usize, sealed: usize) {
        if self.config.compression == Compression::None {
            return;
        }
        let Some(pi) = self.acc.slot(slot).map(|b| b.partition()) else {
            return;
        };
        if let Some((t, _)) = self.meta.partition_location(PartitionIdx(pi)) {
            if let Some(r) = self.meta.ratio_mut(t) {
                r.observe(sealed.saturating_sub(BATCH_HEADER_LEN), plain.saturating_sub(BATCH_HEADER_LEN));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_better_ratio_lowers_the_estimate_by_java_s_small_step() {
        let mut r = Ratio::ONE;
        // 0.3 observed, 1.0 estimated: 1.0 - 0.005, whatever the observation.
        r.observe(300, 1000);
        assert_eq!(r.thousandths(), 995);
        r.observe(1, 1000);
        assert_eq!(r.thousandths(), 990);
        // 100 batches at 0.3: 0.990 - 100 * 0.005 = 0.490.
        (0..100).for_each(|_| r.observe(300, 1000));
        assert_eq!(r.thousandths(), 490);
    }

    #[test]
    fn a_worse_ratio_raises_the_estimate_by_at_least_java_s_large_step() {
        let mut r = Ratio(400);
        // 0.41 observed: 0.4 + 0.05 = 0.45 (more than the observation).
        r.observe(410, 1000);
        assert_eq!(r.thousandths(), 450);
        // 0.9 observed: the observation, more than 0.45 + 0.05.
        r.observe(900, 1000);
        assert_eq!(r.thousandths(), 900);
        // 1.2 (an incompressible batch with codec overhead): up to 1.2.
        r.observe(1200, 1000);
        assert_eq!(r.thousandths(), 1200);
        // 2/3 rounds up, so the estimate never ends below the observation: 0.667.
        let mut r = Ratio(300);
        r.observe(2, 3);
        assert_eq!(r.thousandths(), 667);
    }

    #[test]
    fn a_better_ratio_never_takes_the_estimate_below_the_observation() {
        // 0.300 observed at 0.302: Java's max(0.302 - 0.005, 0.300) = 0.300, not 0.297.
        let mut r = Ratio(302);
        r.observe(300, 1000);
        assert_eq!(r.thousandths(), 300);
        // 0.2995 observed (rounded up to 0.300): at 0.300 already, nothing lower.
        r.observe(2995, 10_000);
        assert_eq!(r.thousandths(), 300);
    }

    #[test]
    fn an_equal_ratio_or_an_empty_batch_leaves_the_estimate() {
        let mut r = Ratio(500);
        r.observe(500, 1000);
        r.observe(7, 0);
        assert_eq!(r.thousandths(), 500);
    }

    #[test]
    fn the_estimate_never_reaches_zero() {
        let mut r = Ratio(7);
        r.observe(1, 1_000_000);
        r.observe(1, 1_000_000);
        assert_eq!(r.thousandths(), 1);
        assert!(r.plain_for(16_384) > 0);
    }

    #[test]
    fn estimates_pad_by_java_s_five_percent() {
        // 1.0: 16,323 bytes of records (16,384 less the 61-byte header) / 1.05 = 15,545.7.
        assert_eq!(Ratio::ONE.plain_for(16_323), 15_545);
        assert_eq!(Ratio::ONE.estimate(15_545), 16_322);
        // 0.3: 16,323 / (0.3 * 1.05) = 51,819.0 bytes of records.
        assert_eq!(Ratio(300).plain_for(16_323), 51_819);
        assert_eq!(Ratio(300).estimate(51_819), 16_322);
        assert_eq!(Ratio(300).estimate(1000), 315);
    }

    #[test]
    fn compressible_len_is_the_largest_batch_the_scratch_compresses() {
        assert_eq!(compressible_len(Compression::None, 0, 5000), 5000);
        let scratch = Compression::Lz4.max_compressed_len(4000);
        let n = compressible_len(Compression::Lz4, scratch, 1 << 20);
        assert!(Compression::Lz4.max_compressed_len(n - BATCH_HEADER_LEN) <= scratch);
        assert!(Compression::Lz4.max_compressed_len(n + 1 - BATCH_HEADER_LEN) > scratch);
        assert!(n >= 4000 + BATCH_HEADER_LEN);
        assert_eq!(compressible_len(Compression::Lz4, scratch, 3000), 3000);
    }
}
