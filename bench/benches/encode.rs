//! Encode throughput: records appended into a batch and sealed (compression, header, CRC-32C),
//! reusing the batch and scratch buffers as a producer's accumulator does.
//!
//! `cargo bench -p kprod-bench` (filters work: `cargo bench -p kprod-bench -- lz4`).
//!
//! Each benchmark is one configuration (value size, codec, batch.size). One iteration appends
//! [`CHUNK_INPUT`] bytes of records (key + value) to an accumulator that lives across
//! iterations, so batch sealing is amortized as in steady state. Criterion reports records/s;
//! the summary printed at the end adds MB/s of input (key + value bytes, 10^6 bytes per MB),
//! which is exact since every record of a benchmark has the same size.
//!
//! Before measuring, every configuration is run once over its whole record pool with every
//! batch decoded back and compared; that pass prints the compression ratios.
#![allow(missing_docs)]

use core::hint::black_box;
use core::time::Duration;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput};
use kprod_bench::{codecs, measure_ratio, Accumulator, Workload};
use kprod_core::compression::Compression;
use kprod_core::record::BatchConfig;

/// Value sizes benchmarked.
const VALUE_SIZES: [usize; 2] = [100, 1024];
/// Kafka's default `batch.size`.
const BATCH_16K: usize = 16 * 1024;
/// The large-batch variant.
const BATCH_1M: usize = 1024 * 1024;
/// Codecs also benchmarked with 1 MiB batches.
const LARGE_BATCH_CODECS: [Compression; 2] = [Compression::None, Compression::Lz4];
/// Bytes of distinct records per pool: more than a 1 MiB batch many times over, so codecs do
/// not see the same records again within a batch.
const POOL_BYTES: usize = 8 << 20;
/// Input bytes (key + value) appended per iteration.
const CHUNK_INPUT: usize = 1 << 20;
const GROUP: &str = "encode";

struct Case {
    value_len: usize,
    batch_size: usize,
    codec: Compression,
}

impl Case {
    fn id(&self) -> String {
        let size = match self.value_len {
            1024 => "1KiB".to_owned(),
            n => format!("{n}B"),
        };
        let batch = if self.batch_size == BATCH_1M { "batch1MiB" } else { "batch16KiB" };
        format!("{size}/{batch}/{}", self.codec)
    }

    fn config(&self) -> BatchConfig {
        BatchConfig { compression: self.codec, ..BatchConfig::new(self.batch_size) }
    }
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    for value_len in VALUE_SIZES {
        for codec in codecs() {
            out.push(Case { value_len, batch_size: BATCH_16K, codec });
        }
        for codec in LARGE_BATCH_CODECS {
            out.push(Case { value_len, batch_size: BATCH_1M, codec });
        }
    }
    out
}

fn workloads() -> Vec<Workload> {
    VALUE_SIZES.iter().map(|&n| Workload::with_pool_bytes(POOL_BYTES, n, 0x006b_7072_6f64 ^ n as u64)).collect()
}

fn workload_for(workloads: &[Workload], value_len: usize) -> &Workload {
    workloads.iter().find(|w| w.value_len() == value_len).expect("a workload per value size")
}

fn print_ratios(cases: &[Case], workloads: &[Workload]) {
    println!("compression (one pass over each pool, every batch decoded back and compared):");
    println!(
        "{:<28} {:>8} {:>8} {:>11} {:>11} {:>9}",
        "case", "records", "batches", "batch/wire", "input/wire", "fallback"
    );
    for case in cases {
        let w = workload_for(workloads, case.value_len);
        let r = measure_ratio(w, case.config());
        println!(
            "{:<28} {:>8} {:>8} {:>11.2} {:>11.2} {:>9}",
            case.id(),
            r.stats.records,
            r.stats.batches,
            r.codec_ratio(),
            r.input_ratio(),
            r.stats.fallbacks
        );
    }
    println!();
}

fn bench_encode(c: &mut Criterion, cases: &[Case], workloads: &[Workload]) {
    let mut group = c.benchmark_group(GROUP);
    // Iterations take 1-30 ms: flat sampling keeps the run short and the batch sealing (once
    // per 16 KiB or 1 MiB of records) evenly spread over samples.
    group.sampling_mode(SamplingMode::Flat);
    for case in cases {
        let w = workload_for(workloads, case.value_len);
        let per_iter = CHUNK_INPUT / w.record_input_len();
        group.throughput(Throughput::Elements(per_iter as u64));
        group.bench_function(BenchmarkId::from_parameter(case.id()), |b| {
            let mut acc = Accumulator::new(case.config(), |batch: &[u8]| {
                black_box(batch);
            });
            let mut next = 0usize;
            b.iter(|| {
                for i in next..next + per_iter {
                    acc.append(&w.record(i));
                }
                next += per_iter;
            });
            black_box(acc.stats());
        });
    }
    group.finish();
}

/// Where criterion saves its estimates (its own rule: `CRITERION_HOME`, else the target dir).
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("criterion")
}

/// The mean time per iteration, in ns, from `estimates.json` (no JSON parser needed for it).
fn mean_ns(id: &str) -> Option<f64> {
    let path = criterion_dir().join(GROUP).join(id.replace('/', "_")).join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let mean = &text[text.find("\"mean\"")?..];
    let rest = &mean[mean.find("\"point_estimate\":")? + "\"point_estimate\":".len()..];
    let end = rest.find([',', '}'])?;
    rest[..end].trim().parse().ok()
}

fn print_summary(cases: &[Case], workloads: &[Workload]) {
    println!();
    println!("summary (criterion mean; MB = 10^6 bytes of key + value input):");
    println!("{:<28} {:>14} {:>12}", "case", "records/s", "MB/s input");
    for case in cases {
        let w = workload_for(workloads, case.value_len);
        let per_iter = CHUNK_INPUT / w.record_input_len();
        let Some(ns) = mean_ns(&case.id()) else {
            continue;
        };
        let records_per_s = per_iter as f64 / (ns * 1e-9);
        let mb_per_s = records_per_s * w.record_input_len() as f64 / 1e6;
        println!("{:<28} {:>14.0} {:>12.1}", case.id(), records_per_s, mb_per_s);
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(20)
        .configure_from_args();
    let cases = cases();
    let workloads = workloads();
    print_ratios(&cases, &workloads);
    bench_encode(&mut c, &cases, &workloads);
    c.final_summary();
    // `--test` (cargo test --benches) and `--list` run nothing worth summarizing.
    let args: Vec<String> = std::env::args().collect();
    if !args.iter().any(|a| a == "--test" || a == "--list") {
        print_summary(&cases, &workloads);
    }
}
