//! Compress arbitrary bytes with every codec and level, decompress with the output capped at
//! exactly the input size, and compare.
//!
//! Input: 1 byte codec (mod 5), 1 byte level (odd: `Some`, from the upper bits; even: default),
//! then the data.
#![no_main]

use kprod_core::compression::Compression;
use libfuzzer_sys::fuzz_target;

fn round_trip(codec: Compression, compressed: &[u8], input: &[u8]) {
    let back = codec.decompress_to_vec(compressed, input.len());
    assert_eq!(back.as_deref(), Ok(input), "{codec} round trip");
    let mut out = vec![0u8; input.len()];
    assert_eq!(codec.decompress(compressed, &mut out), Ok(input.len()), "{codec} into a slice");
    assert_eq!(out, input);
}

fuzz_target!(|data: &[u8]| {
    let Some((&[c, l], input)) = data.split_first_chunk::<2>() else { return };
    let codec = Compression::ALL[usize::from(c) % Compression::ALL.len()];
    let level = (l & 1 == 1).then(|| i32::from((l as i8) >> 1) % 23);

    let compressed = codec.compress_to_vec(level, input).expect("every codec is compiled in");
    let bound = codec.max_compressed_len(input.len());
    assert!(compressed.len() <= bound, "{codec} output passed max_compressed_len");
    round_trip(codec, &compressed, input);

    // Into a slice of exactly the bound, and into one byte less than the output: either fails
    // or still round-trips.
    let mut out = vec![0u8; bound];
    let n = codec.compress_with_level(level, input, &mut out).expect("the bound always suffices");
    round_trip(codec, &out[..n], input);
    if let Some(short) = compressed.len().checked_sub(1) {
        let mut small = vec![0u8; short];
        if let Ok(n) = codec.compress_with_level(level, input, &mut small) {
            round_trip(codec, &small[..n], input);
        }
    }
});
