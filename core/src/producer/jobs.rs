//! Compression jobs, the engine's side: a driver may compress closed batches outside the engine
//! (another thread, without its lock) instead of leaving it to the seal. The accumulator's side,
//! and what happens to a job that never comes back, is in `accumulator::jobs`.

use super::engine::Producer;
use super::types::BatchId;
use crate::compression::Compression;
use crate::partitioner::Partitioner;
use crate::time::Instant;

/// One closed batch's records to compress, from [`Producer::take_compression_job`]; its result
/// goes back through [`Producer::finish_compression_job`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionJob {
    slot: u16,
    id: BatchId,
    codec: Compression,
    level: Option<i32>,
}

impl CompressionJob {
    /// The most bytes [`CompressionJob::compress`] may write for `input_len` bytes of records.
    pub fn max_output_len(&self, input_len: usize) -> usize {
        self.codec.max_compressed_len(input_len)
    }

    /// Compresses `input` (a copy of the records the job came with) into `out`, which holds at
    /// least [`CompressionJob::max_output_len`] bytes, with the producer's codec and level, as
    /// the seal would. Returns the compressed length (`None`: the codec failed).
    pub fn compress(&self, input: &[u8], out: &mut [u8]) -> Option<usize> {
        self.codec.compress_with_level(self.level, input, out).ok()
    }
}

impl<P: Partitioner> Producer<'_, P> {
    /// Hands out the compression of a closed batch (a compressed producer's batch that takes no
    /// more records and was never sent), with its plain records to copy: compress the copy
    /// with [`CompressionJob::compress`] and give the result to
    /// [`Producer::finish_compression_job`]. Until then (at most a second) the batch is not
    /// sent, so the caller hands every job back promptly; after that the seal compresses it
    /// itself and the late result is dropped. `None`: no batch waits for compression.
    ///
    /// Optional: a driver that never calls it leaves compression to the seal, inside the
    /// engine. kprod-std calls it from its IO thread between rounds and from a sender that
    /// waits for buffer space, outside its lock, so compression runs on two threads and never
    /// under the lock.
    pub fn take_compression_job(&mut self, now: Instant) -> Option<(CompressionJob, &[u8])> {
        // Every IO round asks: the common answer (no closed batch since the last look) first.
        let slot = self.acc.job_candidate()?;
        let (codec, level) =
            (self.config.compression, self.config.compression_levels.for_codec(self.config.compression));
        let (id, records) = self.acc.start_job(slot, now)?;
        Some((CompressionJob { slot, id, codec, level }, records))
    }

    /// A job's result: the records compressed, or `None` if [`CompressionJob::compress`]
    /// failed (the batch is then sent plain). Returns whether the batch took it: `false` when
    /// it was sealed, completed or failed meanwhile, and the result is dropped.
    pub fn finish_compression_job(&mut self, job: CompressionJob, compressed: Option<&[u8]>) -> bool {
        let took = self.acc.finish_job(job.slot, job.id, compressed);
        self.metrics.batches_compressed_ahead += u64::from(took);
        took
    }
}
