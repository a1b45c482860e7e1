//! zstd through libzstd (the `zstd` crate). See the module docs of `compression` for why.

use core::cell::RefCell;

use zstd::bulk::Compressor;
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

std::thread_local! {
    /// A compression context per thread (the IO thread, or a sender running compression jobs),
    /// reused for every batch with the same level: creating one per batch (`ZSTD_createCCtx` and
    /// its tables) cost about a fifth of compressing a 16 KiB batch (BENCHMARKS.md, "Record batch
    /// encode"). `compress2` starts every frame afresh, so the output is the same as with a new
    /// context.
    static COMPRESSOR: RefCell<Option<(i32, Compressor<'static>)>> = const { RefCell::new(None) };
}

pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
    let level = level.unwrap_or(DEFAULT_LEVEL);
    let result = COMPRESSOR.with(|cell| {
        // Not re-entered: nothing below calls back into this module.
        let mut cached = cell.borrow_mut();
        let compressor = match &mut *cached {
            Some((l, c)) if *l == level => c,
            other => &mut other.insert((level, Compressor::new(level)?)).1,
        };
        compressor.compress_to_buffer(input, out)
    });
    result.map_err(|_| {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::Compression::Zstd;

    /// The reused context writes what a new one writes, whatever level came before.
    #[test]
    fn reused_context_compresses_like_a_new_one() {
        let input: alloc::vec::Vec<u8> =
            (0..20_000u32).map(|i| b"kafka records "[(i % 14) as usize] ^ (i / 997) as u8).collect();
        let mut out = alloc::vec![0u8; max_compressed_len(input.len())];
        for level in [3, 1, 19, 3] {
            let n = compress(Some(level), &input, &mut out).unwrap();
            // libzstd's one-shot API, with a context of its own.
            assert_eq!(&out[..n], &zstd::bulk::compress(&input, level).unwrap()[..], "level {level}");
            let mut back = alloc::vec![0u8; input.len()];
            assert_eq!(Zstd.decompress(&out[..n], &mut back), Ok(input.len()));
            assert_eq!(back, input);
        }
    }
}
