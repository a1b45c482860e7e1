//! Record batch compression codecs: gzip, snappy, lz4 (frame) and zstd.
//!
//! Kafka compresses everything after `RecordCount` in a v2 batch and names the codec in bits 0-2
//! of the batch attributes ([`Compression::id`]). Every function here works on slices the caller
//! owns: compression writes into `out` and fails with [`CompressError::OutputTooSmall`] when it
//! does not fit (size `out` with [`Compression::max_compressed_len`]); decompression writes into
//! `out` and fails with [`DecompressError::LimitExceeded`] as soon as the output would pass
//! `out.len()`, so a decompression bomb costs at most the memory the caller chose. With `alloc`,
//! `*_to_vec` variants grow a `Vec` as the output grows, never beyond the given `max`.
//!
//! # Which codec needs what
//!
//! | codec  | compress                    | decompress              | crates                        |
//! |--------|-----------------------------|-------------------------|-------------------------------|
//! | none   | always                      | always                  | -                             |
//! | lz4    | always (no allocator)       | always (no allocator)   | `lz4_flex` blocks, own frame  |
//! | gzip   | `alloc`                     | always (no allocator)   | `miniz_oxide`, `crc32fast`; `libdeflater` (feature `libdeflate`) |
//! | snappy | `std`                       | `std`                   | `snap`                        |
//! | zstd   | feature `zstd` (std, C)     | feature `zstd`          | `zstd` (libzstd)              |
//!
//! A codec that is not compiled in fails with `Unavailable`; [`Compression::can_compress`] and
//! [`Compression::can_decompress`] tell in advance.
//!
//! # Formats and choices
//!
//! - **gzip** is RFC 1952: a 10-byte header, raw deflate, and a trailer with the IEEE CRC-32 and
//!   the input size. With the `libdeflate` feature (on with std by default) libdeflate writes
//!   the whole member: a batch is compressed whole, which is libdeflate's API, and it is 1.6
//!   (16 KiB batches) to 2.6 (64 KiB) times faster than `miniz_oxide` at level 6, at the same
//!   ratio (`cargo bench -p kprod-bench --bench codecs`). Without it, the header
//!   and trailer (`crc32fast`) are ours around `miniz_oxide`'s raw deflate, which also runs
//!   without std. The decoder is `miniz_oxide`'s in every build; it accepts the optional header
//!   fields (extra, name, comment, header CRC) and concatenated members, like Java's
//!   `GZIPInputStream`. Default level 6, as `java.util.zip.Deflater`.
//! - **lz4** is the LZ4 *frame* format (KIP-57: with a correct header checksum). The frame is
//!   written here, not by `lz4_flex`'s std-only frame module, so the same code runs without std.
//!   The writer does what the Java client's `KafkaLZ4BlockOutputStream` does: 64 KiB independent
//!   blocks, no checksums, no content size, and a block that does not shrink is stored
//!   uncompressed. The reader also takes linked blocks, block and content checksums, a content
//!   size and skippable frames. `lz4_flex` has a single (fast) level, so levels are ignored.
//! - **snappy**: the writer uses the xerial framing the Java client writes (magic
//!   `82 'SNAPPY' 00`, version 1, compatible 1, then 32 KiB chunks as `[i32 length, raw block]`).
//!   Every broker and client reads it, a chunked stream bounds a streaming reader's memory, and
//!   our batches then match the reference client's. The reader takes xerial framing and plain
//!   raw blocks (what librdkafka and most non-Java clients write).
//! - **zstd** uses the `zstd` crate, bindings to libzstd, behind the `zstd` feature. The producer
//!   compresses on its hot path, and libzstd (what the Java client uses through zstd-jni) is
//!   several times faster than the pure-Rust `ruzstd` encoder at a better ratio; `ruzstd` would
//!   also raise the minimum Rust version. The cost: a C compiler at build time and std. The
//!   decoder caps the window size it accepts, so a hostile frame cannot make libzstd allocate a
//!   large window either. Default level 3, as the Java client.

mod gzip;
mod lz4;
mod output;
#[cfg(feature = "std")]
mod snappy;
#[cfg(feature = "zstd")]
mod zstd;

use core::fmt;

use output::{Output, SliceOut};

/// A record batch compression codec, as named in bits 0-2 of the batch attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[repr(u8)]
pub enum Compression {
    /// No compression.
    #[default]
    None = 0,
    /// gzip (RFC 1952).
    Gzip = 1,
    /// snappy (xerial framing on write).
    Snappy = 2,
    /// LZ4 frame format.
    Lz4 = 3,
    /// Zstandard (Produce v7+).
    Zstd = 4,
}

impl Compression {
    /// Every codec, in attribute-code order.
    pub const ALL: [Self; 5] = [Self::None, Self::Gzip, Self::Snappy, Self::Lz4, Self::Zstd];

    /// The codec for an attribute code (bits 0-2 of the batch attributes), if it is one.
    pub const fn from_id(id: u8) -> Option<Self> {
        match id {
            0 => Some(Self::None),
            1 => Some(Self::Gzip),
            2 => Some(Self::Snappy),
            3 => Some(Self::Lz4),
            4 => Some(Self::Zstd),
            _ => None,
        }
    }

    /// The attribute code, 0-4.
    pub const fn id(self) -> u8 {
        self as u8
    }

    /// The name the Java client uses in `compression.type`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }

    /// The codec for a `compression.type` name (ASCII case-insensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.name().eq_ignore_ascii_case(name))
    }

    /// The lowest Produce version that may carry this codec (zstd needs v7).
    pub const fn min_produce_version(self) -> i16 {
        match self {
            Self::Zstd => 7,
            _ => 3,
        }
    }

    /// Whether this build can compress with the codec.
    pub const fn can_compress(self) -> bool {
        match self {
            Self::None | Self::Lz4 => true,
            Self::Gzip => cfg!(feature = "alloc"),
            Self::Snappy => cfg!(feature = "std"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// Whether this build can decompress the codec.
    pub const fn can_decompress(self) -> bool {
        match self {
            Self::None | Self::Lz4 | Self::Gzip => true,
            Self::Snappy => cfg!(feature = "std"),
            Self::Zstd => cfg!(feature = "zstd"),
        }
    }

    /// An `out` of this many bytes is always enough for [`Compression::compress`] of
    /// `input_len` bytes.
    pub fn max_compressed_len(self, input_len: usize) -> usize {
        match self {
            Self::None => input_len,
            Self::Gzip => gzip::max_compressed_len(input_len),
            Self::Lz4 => lz4::max_compressed_len(input_len),
            #[cfg(feature = "std")]
            Self::Snappy => snappy::max_compressed_len(input_len),
            #[cfg(feature = "zstd")]
            Self::Zstd => zstd::max_compressed_len(input_len),
            // Not compiled in: compress fails at once, so any size will do.
            #[allow(unreachable_patterns)]
            _ => 0,
        }
    }

    /// Compresses `input` into `out` at the codec's default level; returns the bytes written.
    pub fn compress(self, input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        self.compress_with_level(None, input, out)
    }

    /// Compresses `input` into `out` at `level` (`None`: the codec's default, as the Java
    /// client's); returns the bytes written. Levels follow KIP-390: gzip 1-9 as zlib's (also 0,
    /// stored; and beyond 9 the library's slowest: 10 for miniz_oxide, 10-12 for libdeflate),
    /// zstd as libzstd; snappy and lz4 ignore it.
    pub fn compress_with_level(self, level: Option<i32>, input: &[u8], out: &mut [u8]) -> Result<usize, CompressError> {
        let _ = level; // unused when neither gzip nor zstd is compiled in
        match self {
            Self::None => {
                let dst = out.get_mut(..input.len()).ok_or(CompressError::OutputTooSmall { needed: input.len() })?;
                dst.copy_from_slice(input);
                Ok(input.len())
            }
            Self::Lz4 => lz4::compress(input, out),
            #[cfg(feature = "alloc")]
            Self::Gzip => gzip::compress(level, input, out),
            #[cfg(feature = "std")]
            Self::Snappy => snappy::compress(input, out),
            #[cfg(feature = "zstd")]
            Self::Zstd => zstd::compress(level, input, out),
            #[allow(unreachable_patterns)]
            _ => Err(CompressError::Unavailable(self)),
        }
    }

    /// Decompresses `input` into `out`, whose length is the cap on the output; returns the bytes
    /// written.
    pub fn decompress(self, input: &[u8], out: &mut [u8]) -> Result<usize, DecompressError> {
        let mut o = SliceOut::new(out);
        self.decompress_to(input, &mut o)?;
        Ok(o.pos())
    }

    fn decompress_to<O: Output>(self, input: &[u8], out: &mut O) -> Result<(), DecompressError> {
        match self {
            Self::None => out.put(input),
            Self::Lz4 => lz4::decompress(input, out),
            Self::Gzip => gzip::decompress(input, out),
            #[cfg(feature = "std")]
            Self::Snappy => snappy::decompress(input, out),
            #[cfg(feature = "zstd")]
            Self::Zstd => zstd::decompress(input, out),
            #[allow(unreachable_patterns)]
            _ => Err(DecompressError::Unavailable(self)),
        }
    }

    /// Compresses `input` into a new `Vec` at `level` (`None`: the default).
    #[cfg(feature = "alloc")]
    pub fn compress_to_vec(self, level: Option<i32>, input: &[u8]) -> Result<alloc::vec::Vec<u8>, CompressError> {
        if !self.can_compress() {
            return Err(CompressError::Unavailable(self));
        }
        let mut out = alloc::vec![0; self.max_compressed_len(input.len())];
        let n = self.compress_with_level(level, input, &mut out)?;
        out.truncate(n);
        Ok(out)
    }

    /// Decompresses `input` into a new `Vec` of at most `max` bytes. The `Vec` grows with the
    /// output, so memory follows the real size, not `max`.
    #[cfg(feature = "alloc")]
    pub fn decompress_to_vec(self, input: &[u8], max: usize) -> Result<alloc::vec::Vec<u8>, DecompressError> {
        let mut o = output::VecOut::new(max);
        self.decompress_to(input, &mut o)?;
        Ok(o.into_vec())
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why [`Compression::compress`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CompressError {
    /// The codec is not compiled into this build (see the module docs).
    Unavailable(Compression),
    /// `out` is too small; `needed` bytes always suffice.
    OutputTooSmall {
        /// [`Compression::max_compressed_len`] of the input.
        needed: usize,
    },
    /// The codec library reported an error (the text names the codec).
    Failed(&'static str),
}

impl fmt::Display for CompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unavailable(c) => write!(f, "codec {c} is not compiled in"),
            Self::OutputTooSmall { needed } => {
                write!(f, "compression output buffer too small; {needed} bytes suffice")
            }
            Self::Failed(what) => write!(f, "{what} compression failed"),
        }
    }
}

impl core::error::Error for CompressError {}

/// Why decompression failed. Hostile input ends in one of these, never in a panic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecompressError {
    /// The codec is not compiled into this build (see the module docs).
    Unavailable(Compression),
    /// The output would exceed the caller's cap.
    LimitExceeded,
    /// The input ended inside the compressed stream.
    Truncated,
    /// The input is not valid for the codec (the text says what is wrong).
    Corrupt(&'static str),
    /// A checksum in the stream does not match the data (the text names it).
    ChecksumMismatch(&'static str),
}

impl fmt::Display for DecompressError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Unavailable(c) => write!(f, "codec {c} is not compiled in"),
            Self::LimitExceeded => f.write_str("decompressed data exceeds the size limit"),
            Self::Truncated => f.write_str("compressed data is truncated"),
            Self::Corrupt(what) => write!(f, "corrupt compressed data: {what}"),
            Self::ChecksumMismatch(what) => write!(f, "{what} checksum mismatch"),
        }
    }
}

impl core::error::Error for DecompressError {}

/// The only error [`crate::wire::Reader`]'s fixed-size reads give is truncation.
impl From<crate::wire::DecodeError> for DecompressError {
    fn from(e: crate::wire::DecodeError) -> Self {
        match e {
            crate::wire::DecodeError::Truncated { .. } => Self::Truncated,
            _ => Self::Corrupt("framing"),
        }
    }
}

/// Unit-test helpers shared by the codec modules.
#[cfg(test)]
pub(crate) mod test_util {
    use super::{Compression, DecompressError};

    /// Decodes `input` with a cap of `cap` (at most 64) bytes and checks the output.
    pub(crate) fn decodes_to(codec: Compression, input: &[u8], cap: usize, want: &[u8]) {
        let mut buf = [0u8; 64];
        let n = codec.decompress(input, &mut buf[..cap]).unwrap();
        assert_eq!(&buf[..n], want);
    }

    /// Decodes `input` with a cap of `cap` (at most 64) bytes and returns the error.
    pub(crate) fn decode_err(codec: Compression, input: &[u8], cap: usize) -> DecompressError {
        let mut buf = [0u8; 64];
        codec.decompress(input, &mut buf[..cap]).unwrap_err()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_round_trip() {
        for c in Compression::ALL {
            assert_eq!(Compression::from_id(c.id()), Some(c));
            assert_eq!(Compression::from_name(c.name()), Some(c));
        }
        assert_eq!(Compression::from_id(5), None);
        assert_eq!(Compression::from_name("LZ4"), Some(Compression::Lz4));
        assert_eq!(Compression::from_name("brotli"), None);
    }

    #[test]
    fn none_copies_and_caps() {
        let mut out = [0u8; 4];
        assert_eq!(Compression::None.compress(b"abc", &mut out), Ok(3));
        assert_eq!(Compression::None.decompress(b"abcd", &mut out), Ok(4));
        assert_eq!(Compression::None.decompress(b"abcde", &mut out), Err(DecompressError::LimitExceeded));
    }
}
