//! zstd through libzstd (the `zstd` crate). See the module docs of `compression` for why.

use zstd::stream::raw::{Decoder, InBuffer, Operation, OutBuffer};
use zstd::zstd_safe::DParameter;

use super::output::Output;
use super::{CompressError, DecompressError};

/// The Java client's default level.
const DEFAULT_LEVEL: i32 = 3;
/// libzstd writes decoded bytes through a chunk of this size (see `decompress`).
const CHUNK: usize = 16 * 1024;
/// Smallest and largest window (log2) the decoder accepts. libzstd allocates the window a frame
/// announces, so it is capped near the output cap: a frame cannot need a window larger than its
/// content, and writers without a pledged size (zstd-jni streams) use windows of 2^21 or so.
const MIN_WINDOW_LOG: u32 = 23;
const MAX_WINDOW_LOG: u32 = 27;

pub(super) fn max_compressed_len(n: usize) -> usize {
    zstd::zstd_safe::compress_bound(n)
}

pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
    let level = level.unwrap_or(DEFAULT_LEVEL);
    zstd::bulk::compress_to_buffer(input, out, level).map_err(|_| {
        if out.len() < max_compressed_len(input.len()) {
            CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) }
        } else {
            CompressError::Failed("zstd")
        }
    })
}

/// The window log to allow when the output is capped at `max` bytes.
fn window_log_max(max: usize) -> u32 {
    let need = usize::BITS - max.saturating_sub(1).leading_zeros();
    need.clamp(MIN_WINDOW_LOG, MAX_WINDOW_LOG)
}

pub(super) fn decompress<O: Output>(input: &[u8], out: &mut O) -> Result<(), DecompressError> {
    let corrupt = |_| DecompressError::Corrupt("zstd");
    let mut d = Decoder::new().map_err(|_| DecompressError::Corrupt("zstd context"))?;
    d.set_parameter(DParameter::WindowLogMax(window_log_max(out.cap()))).map_err(corrupt)?;
    let mut inb = InBuffer::around(input);
    // libzstd decodes straight into a large enough output but through its own buffer into a
    // small one, and the two paths judge some corrupt frames differently (found by fuzzing). A
    // fixed chunk makes the outcome independent of the caller's buffer: only the cap matters.
    let mut chunk = [0u8; CHUNK];
    loop {
        let before_in = inb.pos();
        let mut ob = OutBuffer::around(&mut chunk[..]);
        let hint = d.run(&mut inb, &mut ob).map_err(corrupt)?;
        let written = ob.pos();
        if written > 0 {
            let pos = out.pos();
            let buf = out.grow_exact(written)?;
            buf[pos..pos + written].copy_from_slice(&chunk[..written]);
            out.advance(written);
        }
        if inb.pos() == input.len() && hint == 0 {
            return Ok(());
        }
        // Each pass consumes input or writes output, or ends here, so the loop terminates.
        if written == 0 && inb.pos() == before_in {
            return Err(DecompressError::Truncated);
        }
    }
}
