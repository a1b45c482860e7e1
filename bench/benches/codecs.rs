//! Codec microbenchmark: whole-batch compression of the compression scenarios' records
//! (`bench/run/payload.py`: 1 KiB JSON-like log lines, as `scripts/bench.sh` gives every client),
//! kprod's codecs next to the candidate libraries, in MB of input per CPU-second of this thread.
//!
//! `cargo bench -p kprod-bench --bench codecs [-- FILTER...]` (a case runs when its name contains
//! one of the filters, e.g. `gzip`, `zstd`, `lz4`, `64KiB`).
//!
//! - Input (`KPROD_CODEC_SIZES` lists other sizes in KiB): batches of 16 KiB (Kafka's default `batch.size`) and 64 KiB (lz4's frame block; about
//!   what a 16 KiB `batch.size` holds when it counts compressed bytes, as the Java client does),
//!   each the concatenation of lines picked at random (seeded), as `--payload-file` picks them.
//!   A pool of 4 MiB of such batches is compressed round after round.
//! - Time: `CLOCK_THREAD_CPUTIME_ID`, so other load on the machine costs wall time but not the
//!   figure. Each case runs `KPROD_CODEC_REPS` (default 5) rounds of at least 0.25 CPU-seconds;
//!   the best round counts. MB = 10^6 bytes.
//! - Every case's output of the first batch is decoded by another implementation and compared
//!   (gzip: kprod's miniz_oxide inflater and flate2/zlib-rs; zstd and lz4 by kprod's decoders).
//! - The payload file is `KPROD_CODEC_PAYLOAD`, else `target/codec-payload-1KiB.txt`, written by
//!   `python3 bench/run/payload.py` when missing.
#![allow(missing_docs)]
// clock_gettime(CLOCK_THREAD_CPUTIME_ID) has no std equivalent (see `thread_cpu_s`).
#![allow(unsafe_code)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use kprod_core::compression::Compression;

/// Batch sizes in KiB unless `KPROD_CODEC_SIZES` lists others (e.g. `16,64,256,1024`).
const BATCH_SIZES_KIB: [usize; 2] = [16, 64];
const POOL_BYTES: usize = 4 << 20;
const MIN_ROUND_CPU_S: f64 = 0.25;

/// This thread's CPU time in seconds.
fn thread_cpu_s() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec and the clock id is a constant libc knows.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

fn payload_path() -> PathBuf {
    if let Some(p) = std::env::var_os("KPROD_CODEC_PAYLOAD") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let path = target.join("codec-payload-1KiB.txt");
    if !path.exists() {
        std::fs::create_dir_all(&target).expect("create the target dir");
        let status = Command::new("python3")
            .arg(root.join("bench/run/payload.py"))
            .arg(&path)
            .status()
            .expect("run python3 bench/run/payload.py");
        assert!(status.success(), "bench/run/payload.py failed");
    }
    path
}

/// splitmix64: the seeded line picker.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `POOL_BYTES` of batches of exactly `size` bytes, from lines picked at random.
fn batches(lines: &[&[u8]], size: usize) -> Vec<Vec<u8>> {
    let mut seed = 0x006b_7072_6f64 ^ size as u64;
    (0..POOL_BYTES / size)
        .map(|_| {
            let mut b = Vec::with_capacity(size + 1024);
            while b.len() < size {
                b.extend_from_slice(lines[(splitmix(&mut seed) % lines.len() as u64) as usize]);
            }
            b.truncate(size);
            b
        })
        .collect()
}

type Codec = Box<dyn FnMut(&[u8], &mut [u8]) -> usize>;
type Check = fn(&[u8], &[u8]);

struct Case {
    name: String,
    codec: Codec,
    check: Check,
}

fn case(name: impl Into<String>, check: Check, codec: impl FnMut(&[u8], &mut [u8]) -> usize + 'static) -> Case {
    Case { name: name.into(), codec: Box::new(codec), check }
}

fn check_gzip(compressed: &[u8], input: &[u8]) {
    let back = Compression::Gzip.decompress_to_vec(compressed, input.len()).expect("kprod inflates it");
    assert_eq!(back, input);
    let mut d = flate2::Decompress::new(false);
    let mut out = vec![0u8; input.len() + 1];
    // Skip the 10-byte header; flate2/zlib-rs inflates the raw deflate stream.
    d.decompress(&compressed[10..], &mut out, flate2::FlushDecompress::Finish).expect("zlib-rs inflates it");
    assert_eq!(&out[..d.total_out() as usize], input);
}

fn check_raw_deflate(compressed: &[u8], input: &[u8]) {
    let back = miniz_oxide::inflate::decompress_to_vec(compressed).expect("miniz inflates it");
    assert_eq!(back, input);
}

fn check_zstd(compressed: &[u8], input: &[u8]) {
    assert_eq!(Compression::Zstd.decompress_to_vec(compressed, input.len()).expect("zstd decodes"), input);
}

fn check_lz4_frame(compressed: &[u8], input: &[u8]) {
    assert_eq!(Compression::Lz4.decompress_to_vec(compressed, input.len()).expect("lz4 decodes"), input);
}

fn check_lz4_block(compressed: &[u8], input: &[u8]) {
    let mut back = vec![0u8; input.len()];
    let n = lz4_flex::block::decompress_into(compressed, &mut back).expect("lz4 block decodes");
    assert_eq!(&back[..n], input);
}

fn kprod(codec: Compression, level: Option<i32>) -> impl FnMut(&[u8], &mut [u8]) -> usize {
    move |input, out| codec.compress_with_level(level, input, out).expect("kprod compresses")
}

fn gzip_cases(cases: &mut Vec<Case>) {
    // Levels 1, 6 and 9 unless `KPROD_CODEC_GZIP_LEVELS` lists others (e.g. `2,3,4,5`).
    let levels: Vec<i32> = std::env::var("KPROD_CODEC_GZIP_LEVELS").map_or_else(
        |_| vec![1, 6, 9],
        |s| s.split(',').map(|l| l.trim().parse().expect("KPROD_CODEC_GZIP_LEVELS: 1-9, comma-separated")).collect(),
    );
    for level in levels {
        cases.push(case(format!("gzip-{level} kprod"), check_gzip, kprod(Compression::Gzip, Some(level))));
        let flags = miniz_oxide::deflate::core::create_comp_flags_from_zip_params(level, -15, 0);
        let mut miniz = Box::new(miniz_oxide::deflate::core::CompressorOxide::new(flags));
        cases.push(case(
            format!("gzip-{level} miniz_oxide 0.8 (raw deflate)"),
            check_raw_deflate,
            move |input, out| {
                miniz.reset();
                let (status, _, n) = miniz_oxide::deflate::core::compress(
                    &mut miniz,
                    input,
                    out,
                    miniz_oxide::deflate::core::TDEFLFlush::Finish,
                );
                assert_eq!(status, miniz_oxide::deflate::core::TDEFLStatus::Done);
                n
            },
        ));
        let lvl = libdeflater::CompressionLvl::new(level).expect("1-9 are libdeflate levels");
        let mut libdeflate = libdeflater::Compressor::new(lvl);
        cases.push(case(format!("gzip-{level} libdeflate (gzip)"), check_gzip, move |input, out| {
            libdeflate.gzip_compress(input, out).expect("room")
        }));
        let mut zlib_rs = flate2::Compress::new(flate2::Compression::new(level as u32), false);
        cases.push(case(
            format!("gzip-{level} zlib-rs via flate2 (raw deflate)"),
            check_raw_deflate,
            move |input, out| {
                zlib_rs.reset();
                let status = zlib_rs.compress(input, out, flate2::FlushCompress::Finish).expect("deflate");
                assert_eq!(status, flate2::Status::StreamEnd);
                zlib_rs.total_out() as usize
            },
        ));
    }
}

fn zstd_cases(cases: &mut Vec<Case>) {
    for level in [1, 3] {
        cases.push(case(format!("zstd-{level} kprod"), check_zstd, kprod(Compression::Zstd, Some(level))));
        let mut reused = zstd::bulk::Compressor::new(level).expect("context");
        cases.push(case(format!("zstd-{level} reused context, compress2"), check_zstd, move |input, out| {
            reused.compress_to_buffer(input, out).expect("room")
        }));
        cases.push(case(format!("zstd-{level} new context per batch"), check_zstd, move |input, out| {
            zstd::bulk::Compressor::new(level).expect("context").compress_to_buffer(input, out).expect("room")
        }));
        // confluent-kafka 1.0's way: a streaming `zstd::Encoder` per batch, records written in.
        cases.push(case(format!("zstd-{level} stream encoder per batch"), check_zstd, move |input, out| {
            let mut e = zstd::stream::Encoder::new(Vec::with_capacity(out.len()), level).expect("encoder");
            e.write_all(input).expect("write");
            let v = e.finish().expect("finish");
            out[..v.len()].copy_from_slice(&v);
            v.len()
        }));
    }
}

fn lz4_cases(cases: &mut Vec<Case>) {
    cases.push(case("lz4 kprod (frame)", check_lz4_frame, kprod(Compression::Lz4, None)));
    cases.push(case("lz4 lz4_flex 0.14 block", check_lz4_block, |input, out| {
        lz4_flex::block::compress_into(input, out).expect("room")
    }));
    for accel in [1, 2, 4, 8] {
        let mode = Some(lz4::block::CompressionMode::FAST(accel));
        cases.push(case(format!("lz4 liblz4 block, acceleration {accel}"), check_lz4_block, move |input, out| {
            lz4::block::compress_to_buffer(input, mode, false, out).expect("room")
        }));
    }
}

struct Figure {
    mb_per_cpu_s: f64,
    ratio: f64,
}

fn measure(c: &mut Case, pool: &[Vec<u8>], reps: usize) -> Figure {
    let mut out = vec![0u8; 2 * pool[0].len() + 4096];
    let n = (c.codec)(&pool[0], &mut out);
    (c.check)(&out[..n], &pool[0]);
    let (mut input_bytes, mut output_bytes) = (0usize, 0usize);
    for b in pool {
        input_bytes += b.len();
        output_bytes += (c.codec)(b, &mut out);
    }
    let mut best = 0f64;
    for _ in 0..reps {
        let start = thread_cpu_s();
        let mut bytes = 0usize;
        while thread_cpu_s() - start < MIN_ROUND_CPU_S {
            for b in pool {
                bytes += b.len();
                core::hint::black_box((c.codec)(core::hint::black_box(b), &mut out));
            }
        }
        best = best.max(bytes as f64 / (thread_cpu_s() - start) / 1e6);
    }
    Figure { mb_per_cpu_s: best, ratio: input_bytes as f64 / output_bytes as f64 }
}

fn main() {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    if std::env::args().any(|a| a == "--list" || a == "--test") {
        return; // cargo test --benches: nothing to measure
    }
    let reps = std::env::var("KPROD_CODEC_REPS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let path = payload_path();
    let text = std::fs::read(&path).expect("read the payload file");
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    println!(
        "payload: {} ({} lines), best of {reps} rounds, MB (10^6 B) of input per CPU-second",
        path.display(),
        lines.len()
    );
    println!("{:<48} {:>7} {:>10} {:>7}", "case", "batch", "MB/CPU-s", "ratio");
    let sizes: Vec<usize> = match std::env::var("KPROD_CODEC_SIZES") {
        Ok(s) => {
            s.split(',').map(|k| k.trim().parse::<usize>().expect("KPROD_CODEC_SIZES: KiB, comma-separated")).collect()
        }
        Err(_) => BATCH_SIZES_KIB.to_vec(),
    };
    for size in sizes.into_iter().map(|k| k * 1024) {
        let pool = batches(&lines, size);
        let mut cases = Vec::new();
        gzip_cases(&mut cases);
        zstd_cases(&mut cases);
        lz4_cases(&mut cases);
        let label = format!("{}KiB", size / 1024);
        for mut c in cases {
            let full = format!("{} {label}", c.name);
            if !filters.is_empty() && !filters.iter().any(|f| full.contains(f.as_str())) {
                continue;
            }
            let f = measure(&mut c, &pool, reps);
            println!("{:<48} {:>7} {:>10.1} {:>7.2}", c.name, label, f.mb_per_cpu_s, f.ratio);
        }
    }
}
