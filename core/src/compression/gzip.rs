//! gzip (RFC 1952). Compression: libdeflate's whole-buffer gzip (feature `libdeflate`), else our
//! header and trailer around `miniz_oxide`'s raw deflate. Decompression: `miniz_oxide`, always.

use miniz_oxide::inflate::core::inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
use miniz_oxide::inflate::core::{decompress as inflate, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

use super::output::Output;
use super::DecompressError;
use crate::wire::Reader;

/// ID1 ID2 CM(deflate) FLG(none) MTIME(0) XFL(0) OS(255 = unknown).
#[cfg(all(feature = "alloc", not(feature = "libdeflate")))]
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
const FHCRC: u8 = 0x02;
const FEXTRA: u8 = 0x04;
const FNAME: u8 = 0x08;
const FCOMMENT: u8 = 0x10;
const FRESERVED: u8 = 0xe0;

/// Output grows in steps of this much while inflating into a `Vec`.
const INFLATE_STEP: usize = 32 * 1024;

/// The default level when `compression.gzip.level` is unset (-1): zlib's, as
/// `java.util.zip.Deflater.DEFAULT_COMPRESSION` gives the Java client.
#[cfg(feature = "alloc")]
const DEFAULT_LEVEL: i32 = 6;

/// Header + trailer + miniz's deflate bound (`mz_deflateBound`). It is also above libdeflate's
/// gzip bound (input + 5 bytes per 5,000 + 27), checked by a test.
pub(super) const fn max_compressed_len(n: usize) -> usize {
    let a = 128 + n / 100 * 110 + (n % 100) * 2;
    let b = 128 + n + (n / (31 * 1024) + 1) * 5;
    18 + if a > b { a } else { b }
}

/// gzip through libdeflate: 1.6 times miniz_oxide's speed at level 6 on 16 KiB batches of the
/// benchmark's text (2.6 times on 64 KiB) at the same ratio, and faster at levels 1 and 9 too
/// (`cargo bench -p kprod-bench --bench codecs`; BENCHMARKS.md). libdeflate writes the whole member
/// (header with OS 255, deflate, CRC-32 and size trailer) in one call, as a batch is compressed
/// whole. Levels as zlib's 1-9 (KIP-390), libdeflate also takes 0 (stored) and 10-12 (slower,
/// smaller); others are clamped into 0-12.
#[cfg(feature = "libdeflate")]
pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut [u8]) -> Result<usize, super::CompressError> {
    let level = level.unwrap_or(DEFAULT_LEVEL).clamp(0, 12);
    LIBDEFLATE.with(|cell| {
        // Not re-entered: nothing below calls back into this module.
        let mut cached = cell.borrow_mut();
        let compressor = match &mut *cached {
            Some((l, c)) if *l == level => c,
            other => {
                // Cannot fail: `level` was clamped into libdeflate's 0-12 above.
                let lvl = libdeflater::CompressionLvl::new(level).map_err(|_| super::CompressError::Failed("gzip"))?;
                &mut other.insert((level, libdeflater::Compressor::new(lvl))).1
            }
        };
        // libdeflate stops and reports when `out` is full; whatever it wrote is then ignored.
        compressor
            .gzip_compress(input, out)
            .map_err(|_| super::CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) })
    })
}

#[cfg(feature = "libdeflate")]
std::thread_local! {
    /// A libdeflate compressor per thread (the IO thread, and a sender that runs compression
    /// jobs) for the last level used, reused for every batch: allocating one (its hash tables)
    /// per batch would cost more than compressing a small batch. libdeflate compresses each call
    /// afresh, so the output is the same as with a new compressor.
    static LIBDEFLATE: core::cell::RefCell<Option<(i32, libdeflater::Compressor)>> =
        const { core::cell::RefCell::new(None) };
}

/// gzip through `miniz_oxide`'s raw deflate, with our header and trailer (no_std with alloc, or
/// std without the `libdeflate` feature).
#[cfg(all(feature = "alloc", not(feature = "libdeflate")))]
pub(super) fn compress(level: Option<i32>, input: &[u8], out: &mut [u8]) -> Result<usize, super::CompressError> {
    use miniz_oxide::deflate::core::{compress as deflate, create_comp_flags_from_zip_params, TDEFLFlush, TDEFLStatus};
    let too_small = super::CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) };
    if out.len() < HEADER.len() + 8 {
        return Err(too_small);
    }
    out[..HEADER.len()].copy_from_slice(&HEADER);
    let level = level.unwrap_or(DEFAULT_LEVEL).clamp(0, 10);
    // Negative window bits: raw deflate, no zlib header.
    let flags = create_comp_flags_from_zip_params(level, -15, 0);
    let end = out.len() - 8;
    let (status, used_in, written) =
        with_compressor(flags, |c| deflate(c, input, &mut out[HEADER.len()..end], TDEFLFlush::Finish));
    if status != TDEFLStatus::Done || used_in != input.len() {
        return Err(too_small);
    }
    let pos = HEADER.len() + written;
    out[pos..pos + 4].copy_from_slice(&crc32fast::hash(input).to_le_bytes());
    // ISIZE is the input size modulo 2^32.
    out[pos + 4..pos + 8].copy_from_slice(&(input.len() as u32).to_le_bytes());
    Ok(pos + 8)
}

#[cfg(all(feature = "std", not(feature = "libdeflate")))]
std::thread_local! {
    /// A deflate state per thread (the IO thread, or a sender running compression jobs), reset
    /// and reused for every batch rather than allocated (about 300 KiB over five allocations)
    /// per batch.
    static COMPRESSOR: core::cell::RefCell<Option<alloc::boxed::Box<miniz_oxide::deflate::core::CompressorOxide>>> =
        const { core::cell::RefCell::new(None) };
}

/// Runs `f` on a deflate state set up for `flags`: this thread's reused one under std.
#[cfg(all(feature = "std", not(feature = "libdeflate")))]
fn with_compressor<T>(flags: u32, f: impl FnOnce(&mut miniz_oxide::deflate::core::CompressorOxide) -> T) -> T {
    use miniz_oxide::deflate::core::CompressorOxide;
    COMPRESSOR.with(|cell| {
        // Not re-entered: `f` only deflates.
        let mut cached = cell.borrow_mut();
        let c = match &mut *cached {
            Some(c) if c.flags() == flags as i32 => {
                c.reset();
                c
            }
            // Boxed: the compressor state is large.
            other => other.insert(alloc::boxed::Box::new(CompressorOxide::new(flags))),
        };
        f(c)
    })
}

/// Runs `f` on a new deflate state for `flags` (alloc without std: no thread-local cache).
#[cfg(all(feature = "alloc", not(feature = "std")))]
fn with_compressor<T>(flags: u32, f: impl FnOnce(&mut miniz_oxide::deflate::core::CompressorOxide) -> T) -> T {
    // Boxed: the compressor state is large.
    let mut c = alloc::boxed::Box::new(miniz_oxide::deflate::core::CompressorOxide::new(flags));
    f(&mut c)
}

/// Decompresses one or more concatenated gzip members.
pub(super) fn decompress<O: Output>(input: &[u8], out: &mut O) -> Result<(), DecompressError> {
    let mut r = Reader::new(input);
    // At least one member, even for empty input.
    loop {
        member(&mut r, out)?;
        if r.is_empty() {
            return Ok(());
        }
    }
}

fn member<O: Output>(r: &mut Reader<'_>, out: &mut O) -> Result<(), DecompressError> {
    let header_start = r.rest();
    let fixed = r.array::<10>()?;
    if fixed[..3] != [0x1f, 0x8b, 8] {
        return Err(DecompressError::Corrupt("gzip magic or method"));
    }
    let flags = fixed[3];
    if flags & FRESERVED != 0 {
        return Err(DecompressError::Corrupt("gzip reserved flags"));
    }
    if flags & FEXTRA != 0 {
        let xlen = u16::from_le_bytes(r.array()?);
        r.take(xlen.into())?;
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            skip_zero_terminated(r)?;
        }
    }
    if flags & FHCRC != 0 {
        let header = &header_start[..header_start.len() - r.remaining()];
        let want = u16::from_le_bytes(r.array()?);
        if crc32fast::hash(header) as u16 != want {
            return Err(DecompressError::ChecksumMismatch("gzip header"));
        }
    }
    let start = out.pos();
    let used = inflate_raw(r.rest(), out)?;
    r.take(used)?;
    let crc = u32::from_le_bytes(r.array()?);
    let isize = u32::from_le_bytes(r.array()?);
    let data = &out.written()[start..];
    if crc32fast::hash(data) != crc {
        return Err(DecompressError::ChecksumMismatch("gzip"));
    }
    if data.len() as u32 != isize {
        return Err(DecompressError::Corrupt("gzip size"));
    }
    Ok(())
}

fn skip_zero_terminated(r: &mut Reader<'_>) -> Result<(), DecompressError> {
    while r.i8()? != 0 {}
    Ok(())
}

/// Inflates one raw deflate stream from the front of `input`; returns the input bytes it used.
fn inflate_raw<O: Output>(input: &[u8], out: &mut O) -> Result<usize, DecompressError> {
    let mut d = DecompressorOxide::new();
    let mut in_pos = 0;
    loop {
        let pos = out.pos();
        let buf = out.grow(INFLATE_STEP);
        let free = buf.len() - pos;
        // Non-wrapping: `buf` holds everything written so far, so back references reach it.
        let (status, used_in, used_out) =
            inflate(&mut d, &input[in_pos..], buf, pos, TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF);
        in_pos += used_in;
        out.advance(used_out);
        match status {
            TINFLStatus::Done => return Ok(in_pos),
            TINFLStatus::HasMoreOutput if free == 0 => return Err(DecompressError::LimitExceeded),
            TINFLStatus::HasMoreOutput if used_in == 0 && used_out == 0 => {
                return Err(DecompressError::Corrupt("deflate made no progress"))
            }
            TINFLStatus::HasMoreOutput => {}
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err(DecompressError::Truncated)
            }
            _ => return Err(DecompressError::Corrupt("deflate")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compression::test_util::{decode_err, decodes_to};
    use crate::compression::Compression::Gzip;

    /// `printf 'hello, kafka' | gzip -n | xxd -i` (gzip 1.12; OS byte 3 = Unix).
    static HELLO_GZ: [u8; 32] = [
        0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0xcb, 0x48, 0xcd, 0xc9, 0xc9, 0xd7, 0x51, 0xc8,
        0x4e, 0x4c, 0xcb, 0x4e, 0x04, 0x00, 0x6e, 0x16, 0x60, 0x9e, 0x0c, 0x00, 0x00, 0x00,
    ];

    #[test]
    fn test_parse_gzip_tool_output() {
        decodes_to(Gzip, &HELLO_GZ, 64, b"hello, kafka");
    }

    #[test]
    fn concatenated_members_and_optional_fields() {
        // Second member with FNAME "a" and FCOMMENT "b".
        let mut two = [0u8; 68];
        two[..32].copy_from_slice(&HELLO_GZ);
        two[32..42].copy_from_slice(&HELLO_GZ[..10]);
        two[35] = FNAME | FCOMMENT;
        two[42..46].copy_from_slice(&[b'a', 0, b'b', 0]);
        two[46..].copy_from_slice(&HELLO_GZ[10..]);
        decodes_to(Gzip, &two, 64, b"hello, kafkahello, kafka");
    }

    #[test]
    fn bad_trailer_and_cap() {
        let mut bad = HELLO_GZ;
        bad[24] ^= 1;
        let e = decode_err(Gzip, &bad, 64);
        assert_eq!(e, DecompressError::ChecksumMismatch("gzip"));
        let e = decode_err(Gzip, &HELLO_GZ, 11);
        assert_eq!(e, DecompressError::LimitExceeded);
    }

    /// What a new compressor writes at `level`: libdeflate's one-shot gzip, or miniz_oxide's
    /// one-shot raw deflate inside our header and trailer.
    #[cfg(feature = "alloc")]
    fn fresh(level: i32, input: &[u8]) -> alloc::vec::Vec<u8> {
        #[cfg(feature = "libdeflate")]
        {
            let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(level).unwrap());
            let mut out = alloc::vec![0u8; c.gzip_compress_bound(input.len())];
            let n = c.gzip_compress(input, &mut out).unwrap();
            out.truncate(n);
            out
        }
        #[cfg(not(feature = "libdeflate"))]
        {
            let mut out = HEADER.to_vec();
            out.extend(miniz_oxide::deflate::compress_to_vec(input, level as u8));
            out.extend(crc32fast::hash(input).to_le_bytes());
            out.extend((input.len() as u32).to_le_bytes());
            out
        }
    }

    /// The reused compressor (std) writes what a new one writes, whatever level came before;
    /// unset is level 6 (Java's `Deflater` default); miniz_oxide's inflater reads it back
    /// (another implementation when libdeflate compressed).
    #[cfg(feature = "alloc")]
    #[test]
    fn reused_state_compresses_like_a_new_one() {
        let input: alloc::vec::Vec<u8> =
            (0..20_000u32).map(|i| b"kafka records "[(i % 14) as usize] ^ (i / 997) as u8).collect();
        let mut out = alloc::vec![0u8; max_compressed_len(input.len())];
        for level in [6, 1, 9, 6] {
            let n = compress(Some(level), &input, &mut out).unwrap();
            assert_eq!(&out[..n], &fresh(level, &input)[..], "level {level}");
            let mut back = alloc::vec![0u8; input.len()];
            assert_eq!(Gzip.decompress(&out[..n], &mut back), Ok(input.len()));
            assert_eq!(back, input);
        }
        let n = compress(None, &input, &mut out).unwrap();
        assert_eq!(&out[..n], &fresh(6, &input)[..]);
        assert_ne!(fresh(1, &input), fresh(6, &input), "level 1 is a different setting from 6");
    }

    /// `max_compressed_len` is enough for libdeflate, and a short `out` fails cleanly.
    #[cfg(feature = "libdeflate")]
    #[test]
    fn libdeflate_bound_and_short_output() {
        let mut c = libdeflater::Compressor::new(libdeflater::CompressionLvl::new(6).unwrap());
        for n in [0, 1, 100, 4_999, 5_000, 16_384, 65_536, 1 << 20, 100 << 20] {
            assert!(max_compressed_len(n) >= c.gzip_compress_bound(n), "n = {n}");
        }
        // Incompressible input cannot fit in a buffer of its own size.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let input: alloc::vec::Vec<u8> = (0..4096)
            .map(|_| {
                // xorshift64: bytes deflate cannot shrink.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let mut out = alloc::vec![0u8; input.len()];
        let e = compress(None, &input, &mut out).unwrap_err();
        assert_eq!(e, crate::compression::CompressError::OutputTooSmall { needed: max_compressed_len(input.len()) });
    }
}
