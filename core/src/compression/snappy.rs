//! snappy: raw blocks from `snap`, in xerial framing on write; both forms on read.

use snap::raw::{decompress_len, max_compress_len, Decoder, Encoder};

use super::output::Output;
use super::{CompressError, DecompressError};
use crate::wire::Reader;

/// xerial `SnappyOutputStream` magic, then version 1 and minimum compatible version 1.
const XERIAL_HEADER: [u8; 16] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1];
const XERIAL_MAGIC_LEN: usize = 8;
/// The Java client's chunk size (xerial's default block size).
const CHUNK: usize = 32 * 1024;
/// A snappy element expands at most this much (a 3-byte copy yields 64 bytes), so a block that
/// announces more is corrupt and is refused before any allocation.
const MAX_EXPANSION: usize = 22;

pub(super) fn max_compressed_len(n: usize) -> usize {
    let full = n / CHUNK;
    let last = match n % CHUNK {
        0 => 0,
        r => 4 + max_compress_len(r),
    };
    XERIAL_HEADER.len() + full * (4 + max_compress_len(CHUNK)) + last
}

pub(super) fn compress(input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
    let too_small = CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) };
    let header = out.get_mut(..XERIAL_HEADER.len()).ok_or(too_small)?;
    header.copy_from_slice(&XERIAL_HEADER);
    let mut pos = XERIAL_HEADER.len();
    let mut enc = Encoder::new();
    for chunk in input.chunks(CHUNK) {
        let dst = out.get_mut(pos + 4..).filter(|d| d.len() >= max_compress_len(chunk.len()));
        let dst = dst.ok_or(too_small)?;
        let n = enc.compress(chunk, dst).map_err(|_| CompressError::Failed("snappy"))?;
        // A chunk is at most 32 KiB, so its compressed length fits an i32.
        out[pos..pos + 4].copy_from_slice(&(n as i32).to_be_bytes());
        pos += 4 + n;
    }
    Ok(pos)
}

pub(super) fn decompress<O: Output>(input: &[u8], out: &mut O) -> Result<(), DecompressError> {
    if input.len() < XERIAL_HEADER.len() || input[..XERIAL_MAGIC_LEN] != XERIAL_HEADER[..XERIAL_MAGIC_LEN] {
        return raw_block(input, out);
    }
    // Version and compatible version: every version so far uses the same chunk layout.
    let mut r = Reader::new(&input[XERIAL_HEADER.len()..]);
    while !r.is_empty() {
        let len = r.i32()?;
        let len = usize::try_from(len).map_err(|_| DecompressError::Corrupt("xerial chunk length"))?;
        raw_block(r.take(len)?, out)?;
    }
    Ok(())
}

fn raw_block<O: Output>(block: &[u8], out: &mut O) -> Result<(), DecompressError> {
    let n = decompress_len(block).map_err(|_| DecompressError::Corrupt("snappy length"))?;
    if n > block.len().saturating_mul(MAX_EXPANSION) {
        return Err(DecompressError::Corrupt("snappy length"));
    }
    let pos = out.pos();
    let buf = out.grow_exact(n)?;
    let written = Decoder::new()
        .decompress(block, &mut buf[pos..pos + n])
        .map_err(|_| DecompressError::Corrupt("snappy block"))?;
    if written != n {
        return Err(DecompressError::Corrupt("snappy length"));
    }
    out.advance(n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::test_util::{decode_err, decodes_to};
    use crate::compression::Compression::Snappy;

    /// A raw block per the snappy format description: varint length 12, then one literal
    /// (tag `(12 - 1) << 2`) with the bytes. Compressors write exactly this for short input.
    static HELLO_RAW: [u8; 14] = [0x0c, 0x2c, b'h', b'e', b'l', b'l', b'o', b',', b' ', b'k', b'a', b'f', b'k', b'a'];

    #[test]
    fn test_parse_raw_and_xerial() {
        decodes_to(Snappy, &HELLO_RAW, 64, b"hello, kafka");

        let mut framed = [0u8; 16 + 4 + 14];
        framed[..16].copy_from_slice(&XERIAL_HEADER);
        framed[16..20].copy_from_slice(&14i32.to_be_bytes());
        framed[20..].copy_from_slice(&HELLO_RAW);
        decodes_to(Snappy, &framed, 64, b"hello, kafka");
    }

    #[test]
    fn test_emit_xerial() {
        let mut out = [0u8; 128];
        let n = compress(b"hello, kafka", &mut out).unwrap();
        assert_eq!(&out[..16], &XERIAL_HEADER);
        assert_eq!(&out[16..20], &14i32.to_be_bytes());
        assert_eq!(&out[20..n], &HELLO_RAW);
    }

    #[test]
    fn lying_length_is_refused_before_allocating() {
        // Claims 2^31 bytes from 6 bytes of input.
        let bomb = [0x80, 0x80, 0x80, 0x80, 0x08, 0x00];
        let e = decode_err(Snappy, &bomb, 64);
        assert_eq!(e, DecompressError::Corrupt("snappy length"));
    }
}
