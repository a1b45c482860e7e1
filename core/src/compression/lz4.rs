//! The LZ4 frame format (lz4_Frame_format.md v1.6.x) around `lz4_flex` blocks. Written here so
//! it works without std and without an allocator.

use lz4_flex::block::{
    compress_into, decompress_into, decompress_into_with_dict, get_maximum_output_size, DecompressError as BlockError,
};
use xxhash_rust::xxh32::xxh32;

use super::output::Output;
use super::{CompressError, DecompressError};
use crate::wire::Reader;

const MAGIC: u32 = 0x184d_2204;
/// Skippable frames: magic 0x184D2A50..=0x184D2A5F, then a u32 size.
const SKIPPABLE_MASK: u32 = 0xffff_fff0;
const SKIPPABLE_MAGIC: u32 = 0x184d_2a50;

/// FLG bits.
const FLG_VERSION_MASK: u8 = 0xc0;
const FLG_VERSION_01: u8 = 0x40;
const FLG_INDEPENDENT: u8 = 0x20;
const FLG_BLOCK_CHECKSUM: u8 = 0x10;
const FLG_CONTENT_SIZE: u8 = 0x08;
const FLG_CONTENT_CHECKSUM: u8 = 0x04;
const FLG_RESERVED: u8 = 0x02;
const FLG_DICT_ID: u8 = 0x01;

/// A block's size word: the high bit marks an uncompressed block.
const UNCOMPRESSED_BIT: u32 = 0x8000_0000;
/// Blocks reference at most this much earlier output.
const WINDOW: usize = 64 * 1024;

/// What we write, as the Java client's `KafkaLZ4BlockOutputStream`: 64 KiB blocks.
const BLOCK: usize = 64 * 1024;
/// FLG: version 01, independent blocks, no checksums, no content size, no dictionary.
const FLG: u8 = FLG_VERSION_01 | FLG_INDEPENDENT;
/// BD: block maximum size id 4 (64 KiB).
const BD: u8 = 4 << 4;
/// Magic (4) + FLG + BD + HC.
const HEADER_LEN: usize = 7;
const END_MARK_LEN: usize = 4;

/// The descriptor checksum: the second byte of xxh32 (seed 0) over the descriptor.
fn header_checksum(descriptor: &[u8]) -> u8 {
    (xxh32(descriptor, 0) >> 8) as u8
}

pub(super) const fn max_compressed_len(n: usize) -> usize {
    // `compress_into` wants `get_maximum_output_size` free for each block.
    let last = match n % BLOCK {
        0 => 0,
        r => 4 + get_maximum_output_size(r),
    };
    HEADER_LEN + n / BLOCK * (4 + get_maximum_output_size(BLOCK)) + last + END_MARK_LEN
}

// Not inlined: lz4_flex keeps its 16 KiB match table on the stack, and inlined into the
// engine's batch path that frame would be reserved on every poll even with compression off
// (the example firmware's stack dropped by that much: BENCHMARKS.md, issue 13).
#[inline(never)]
pub(super) fn compress(input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
    let too_small = CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) };
    if out.len() < HEADER_LEN + END_MARK_LEN {
        return Err(too_small);
    }
    out[..4].copy_from_slice(&MAGIC.to_le_bytes());
    out[4] = FLG;
    out[5] = BD;
    out[6] = header_checksum(&[FLG, BD]);
    let mut pos = HEADER_LEN;
    let end = out.len() - END_MARK_LEN;
    for block in input.chunks(BLOCK) {
        let room = (end - pos).checked_sub(4).ok_or(too_small)?;
        let data = &mut out[pos + 4..end];
        let mut size = 0;
        if room >= get_maximum_output_size(block.len()) {
            // Cannot fail: `data` has the room `compress_into` asks for.
            size = compress_into(block, data).map_err(|_| too_small)?;
        }
        let word = if size > 0 && size < block.len() {
            size as u32
        } else if room >= block.len() {
            // Does not shrink (or no room to try): store it, as the Java client does.
            data[..block.len()].copy_from_slice(block);
            size = block.len();
            size as u32 | UNCOMPRESSED_BIT
        } else {
            return Err(too_small);
        };
        out[pos..pos + 4].copy_from_slice(&word.to_le_bytes());
        pos += 4 + size;
    }
    out[pos..pos + END_MARK_LEN].copy_from_slice(&0u32.to_le_bytes());
    Ok(pos + END_MARK_LEN)
}

/// Decompresses one or more frames (skippable frames are skipped).
pub(super) fn decompress<O: Output>(input: &[u8], out: &mut O) -> Result<(), DecompressError> {
    let mut r = Reader::new(input);
    // At least one frame, even for empty input.
    loop {
        let magic = u32::from_le_bytes(r.array()?);
        if magic == MAGIC {
            frame(&mut r, out)?;
        } else if magic & SKIPPABLE_MASK == SKIPPABLE_MAGIC {
            let len = u32::from_le_bytes(r.array()?);
            r.take(len as usize)?;
        } else {
            return Err(DecompressError::Corrupt("lz4 magic"));
        }
        if r.is_empty() {
            return Ok(());
        }
    }
}

/// The parsed frame descriptor.
struct Descriptor {
    flags: u8,
    block_max: usize,
    content_size: Option<u64>,
}

fn descriptor(r: &mut Reader<'_>) -> Result<Descriptor, DecompressError> {
    let start = r.rest();
    let [flags, bd] = r.array::<2>()?;
    if flags & FLG_VERSION_MASK != FLG_VERSION_01 {
        return Err(DecompressError::Corrupt("lz4 frame version"));
    }
    if flags & FLG_RESERVED != 0 || bd & 0x8f != 0 {
        return Err(DecompressError::Corrupt("lz4 reserved bits"));
    }
    let block_max = match bd >> 4 {
        4 => 64 << 10,
        5 => 256 << 10,
        6 => 1 << 20,
        7 => 4 << 20,
        _ => return Err(DecompressError::Corrupt("lz4 block size")),
    };
    let content_size = if flags & FLG_CONTENT_SIZE != 0 { Some(u64::from_le_bytes(r.array()?)) } else { None };
    if flags & FLG_DICT_ID != 0 {
        // Kafka has no way to agree on a dictionary.
        return Err(DecompressError::Corrupt("lz4 dictionary id"));
    }
    let descriptor = &start[..start.len() - r.remaining()];
    let [hc] = r.array::<1>()?;
    if hc != header_checksum(descriptor) {
        return Err(DecompressError::ChecksumMismatch("lz4 header"));
    }
    Ok(Descriptor { flags, block_max, content_size })
}

fn frame<O: Output>(r: &mut Reader<'_>, out: &mut O) -> Result<(), DecompressError> {
    let d = descriptor(r)?;
    let start = out.pos();
    loop {
        let word = u32::from_le_bytes(r.array()?);
        if word == 0 {
            break;
        }
        let len = (word & !UNCOMPRESSED_BIT) as usize;
        if len > d.block_max {
            return Err(DecompressError::Corrupt("lz4 block larger than its maximum"));
        }
        let data = r.take(len)?;
        if d.flags & FLG_BLOCK_CHECKSUM != 0 {
            let sum = u32::from_le_bytes(r.array()?);
            if xxh32(data, 0) != sum {
                return Err(DecompressError::ChecksumMismatch("lz4 block"));
            }
        }
        if word & UNCOMPRESSED_BIT != 0 {
            out.put(data)?;
        } else {
            block(data, &d, start, out)?;
        }
    }
    let content = &out.written()[start..];
    if d.flags & FLG_CONTENT_CHECKSUM != 0 {
        let sum = u32::from_le_bytes(r.array()?);
        if xxh32(content, 0) != sum {
            return Err(DecompressError::ChecksumMismatch("lz4 content"));
        }
    }
    match d.content_size {
        Some(n) if n != content.len() as u64 => Err(DecompressError::Corrupt("lz4 content size")),
        _ => Ok(()),
    }
}

/// Decompresses one compressed block; linked blocks see the frame's last 64 KiB of output.
fn block<O: Output>(data: &[u8], d: &Descriptor, frame_start: usize, out: &mut O) -> Result<(), DecompressError> {
    let pos = out.pos();
    let buf = out.grow(d.block_max);
    let (before, free) = buf.split_at_mut(pos);
    let capped = free.len() < d.block_max;
    let free_len = free.len().min(d.block_max);
    let dst = &mut free[..free_len];
    let n = if d.flags & FLG_INDEPENDENT != 0 {
        decompress_into(data, dst)
    } else {
        let dict = &before[frame_start.max(pos.saturating_sub(WINDOW))..];
        decompress_into_with_dict(data, dst, dict)
    };
    let n = n.map_err(|e| match e {
        BlockError::OutputTooSmall { .. } if capped => DecompressError::LimitExceeded,
        BlockError::OutputTooSmall { .. } => DecompressError::Corrupt("lz4 block larger than its maximum"),
        _ => DecompressError::Corrupt("lz4 block"),
    })?;
    out.advance(n);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::test_util::{decode_err, decodes_to};
    use crate::compression::Compression::Lz4;

    /// `printf 'hello, kafka' | lz4 -BX -c | xxd -i` (lz4 1.9.4): FLG 0x74 (independent blocks,
    /// block and content checksums), one uncompressed block since 12 bytes do not shrink.
    static HELLO_LZ4: [u8; 35] = [
        0x04, 0x22, 0x4d, 0x18, 0x74, 0x40, 0xbd, 0x0c, 0x00, 0x00, 0x80, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x2c, 0x20,
        0x6b, 0x61, 0x66, 0x6b, 0x61, 0x17, 0xd7, 0x87, 0xfd, 0x00, 0x00, 0x00, 0x00, 0x17, 0xd7, 0x87, 0xfd,
    ];

    #[test]
    fn test_parse_lz4_tool_output() {
        decodes_to(Lz4, &HELLO_LZ4, 64, b"hello, kafka");
    }

    #[test]
    fn test_emit_header_as_java() {
        // KafkaLZ4BlockOutputStream: FLG 0x60, BD 0x40, HC 0x82.
        let mut out = [0u8; 64];
        let n = compress(b"", &mut out).unwrap();
        assert_eq!(&out[..n], &[0x04, 0x22, 0x4d, 0x18, 0x60, 0x40, 0x82, 0, 0, 0, 0]);
    }

    #[test]
    fn bad_header_checksum() {
        let mut bad = HELLO_LZ4;
        bad[6] ^= 1;
        let e = decode_err(Lz4, &bad, 64);
        assert_eq!(e, DecompressError::ChecksumMismatch("lz4 header"));
        let mut bad = HELLO_LZ4;
        bad[12] ^= 1;
        let e = decode_err(Lz4, &bad, 64);
        assert_eq!(e, DecompressError::ChecksumMismatch("lz4 block"));
    }

    /// A frame of linked blocks (FLG without the independence bit), as the lz4 library writes
    /// by default: the second block refers back into the first.
    #[test]
    fn linked_blocks() {
        use lz4_flex::block::compress_into_with_dict;
        let a = [b'k'; 1000];
        let b: [u8; 1000] = core::array::from_fn(|i| if i % 100 < 50 { b'k' } else { i as u8 });
        let mut f = [0u8; 4096];
        f[..4].copy_from_slice(&MAGIC.to_le_bytes());
        f[4] = FLG_VERSION_01 | FLG_CONTENT_CHECKSUM;
        f[5] = BD;
        f[6] = header_checksum(&f[4..6]);
        let mut pos = HEADER_LEN;
        for (data, dict) in [(&a[..], &[][..]), (&b[..], &a[..])] {
            let n = compress_into_with_dict(data, &mut f[pos + 4..], dict).unwrap();
            f[pos..pos + 4].copy_from_slice(&(n as u32).to_le_bytes());
            pos += 4 + n;
        }
        pos += 4; // end mark
        let mut all = [0u8; 2000];
        all[..1000].copy_from_slice(&a);
        all[1000..].copy_from_slice(&b);
        f[pos..pos + 4].copy_from_slice(&xxh32(&all, 0).to_le_bytes());
        pos += 4;
        let mut buf = [0u8; 2000];
        assert_eq!(Lz4.decompress(&f[..pos], &mut buf), Ok(2000));
        assert_eq!(buf, all);
        let e = Lz4.decompress(&f[..pos], &mut buf[..1999]);
        assert_eq!(e, Err(DecompressError::LimitExceeded));
    }
}
