//! zstd decompression of arbitrary bytes, capped at 1 MiB (`Vec`) and 64 KiB (slice); the
//! two paths must agree.
#![no_main]

use kprod_core::compression::Compression;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kprod_fuzz::check_decompress(Compression::Zstd, data));
