//! `kprod perf` against the real broker: Kafka's output format, `--json`, throttling, and the
//! topic holding exactly the records it says it sent (read back by the independent verifier).

extern crate alloc;

mod util;

use alloc::collections::BTreeSet;
use std::time::Instant;

use kprod_tests::{unique_topic, Broker};
use regex::Regex;
use util::{describe, kprod, read_all, stderr_lines, unreachable_bootstrap, QUICK};

/// Kafka's `ProducerPerformance` final line (`Stats.printTotal`).
const KAFKA_FINAL: &str = r"^(\d+) records sent, (\d+\.\d{6}) records/sec \((\d+\.\d{2}) MB/sec\), (\d+\.\d{2}) ms avg latency, (\d+\.\d{2}) ms max latency, (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th, (\d+) ms 99\.9th\.$";
/// Kafka's progress line (`Stats.printWindow`).
const KAFKA_PROGRESS: &str = r"^(\d+) records sent, (\d+\.\d) records/sec \((\d+\.\d{2}) MB/sec\), (\d+\.\d) ms avg latency, (\d+\.\d) ms max latency\.$";

const RECORDS: usize = 20_000;

#[test]
fn text_output_has_kafkas_shape_and_the_topic_holds_every_record() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-perf");
    broker.create_topic(&topic, 3, 1);
    let bootstrap = format!("bootstrap.servers={}", broker.bootstrap());
    let n = RECORDS.to_string();
    let start = Instant::now();
    // 20,000 records at 20,000/s: about one second, with progress lines every 200 ms.
    let out = kprod(
        &[
            "perf",
            "--topic",
            &topic,
            "--num-records",
            &n,
            "--record-size",
            "100",
            "--throughput",
            "20000",
            "--reporting-interval",
            "200",
            "--producer-props",
            &bootstrap,
            "acks=1",
            "linger.ms=5",
        ],
        b"",
    );
    let took = start.elapsed();
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout.clone()).expect("UTF-8 output");
    let lines: Vec<&str> = stdout.lines().collect();
    let (last, progress) = lines.split_last().unwrap_or_else(|| panic!("no output: {}", describe(&out)));
    let fin =
        Regex::new(KAFKA_FINAL).unwrap().captures(last).unwrap_or_else(|| panic!("final line not Kafka's: {last}"));
    let progress_re = Regex::new(KAFKA_PROGRESS).unwrap();
    assert!(progress.len() >= 2, "progress lines every 200 ms over ~1 s: {}", describe(&out));
    let mut in_windows = 0;
    for line in progress {
        let c = progress_re.captures(line).unwrap_or_else(|| panic!("progress line not Kafka's: {line}"));
        in_windows += c[1].parse::<usize>().unwrap();
    }
    assert!(in_windows <= RECORDS);
    assert_eq!(fin[1].parse::<usize>().unwrap(), RECORDS);
    // The throttle held the rate near 20,000/s (so the run took about a second).
    let rate: f64 = fin[2].parse().unwrap();
    assert!(rate <= 20_000.0 * 1.1, "{rate} records/s with --throughput 20000");
    assert!(took.as_secs_f64() >= 0.9, "{took:?}");
    let pct: Vec<u64> = (6..=9).map(|i| fin[i].parse().unwrap()).collect();
    let max: f64 = fin[5].parse().unwrap();
    assert!(pct.windows(2).all(|w| w[0] <= w[1]) && pct[3] as f64 <= max, "{last}");
    let mb: f64 = fin[3].parse().unwrap();
    assert!((mb - rate * 100.0 / (1024.0 * 1024.0)).abs() < 0.01, "{last}");

    let read = read_all(broker, &topic, RECORDS);
    assert_eq!(read.len(), RECORDS, "exactly --num-records records");
    let first = read[0].value.clone().expect("a value");
    assert_eq!(first.len(), 100);
    assert!(first.iter().all(u8::is_ascii_uppercase), "random capital letters");
    for r in &read {
        assert_eq!(r.key, None);
        assert_eq!(r.value.as_ref(), Some(&first), "one payload, generated once");
        assert!(r.headers.is_empty());
    }
    let partitions: BTreeSet<i32> = read.iter().map(|r| r.partition).collect();
    for p in partitions {
        let offsets: Vec<i64> = read.iter().filter(|r| r.partition == p).map(|r| r.offset).collect();
        assert_eq!(offsets, (0..offsets.len() as i64).collect::<Vec<_>>(), "partition {p}: no gaps, no duplicates");
    }
}

#[test]
fn json_output_parses_and_fresh_payloads_differ() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-perf-json");
    broker.create_topic(&topic, 1, 1);
    let dir = std::env::temp_dir().join(format!("kprod-cli-perf-{}.properties", std::process::id()));
    std::fs::write(&dir, format!("bootstrap.servers={}\nacks=1\n", broker.bootstrap())).unwrap();
    let n = RECORDS.to_string();
    let out = kprod(
        &[
            "perf",
            "--topic",
            &topic,
            "--num-records",
            &n,
            "--record-size",
            "64",
            "--throughput",
            "40000",
            "--reporting-interval",
            "100",
            "--json",
            "--fresh-payload",
            "--producer.config",
            dir.to_str().unwrap(),
            "--producer-props",
            "acks=all",
            "linger.ms=2",
        ],
        b"",
    );
    let _ = std::fs::remove_file(&dir);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let objects: Vec<serde_json::Value> =
        stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
    let (fin, progress) = objects.split_last().expect("output");
    assert!(!progress.is_empty(), "progress objects: {stdout}");
    for p in progress {
        assert_eq!(p["type"], "progress", "{p}");
        for field in ["records", "records_per_sec", "mb_per_sec", "avg_latency_ms", "max_latency_ms", "elapsed_s"] {
            assert!(p[field].is_number(), "{field} in {p}");
        }
    }
    assert_eq!(fin["type"], "final", "{fin}");
    assert_eq!(fin["records"].as_u64(), Some(RECORDS as u64));
    assert_eq!(fin["errors"].as_u64(), Some(0));
    assert!(fin["error"].is_null());
    let num = |k: &str| fin[k].as_f64().unwrap_or_else(|| panic!("{k} in {fin}"));
    let lat: Vec<f64> = ["p50_ms", "p95_ms", "p99_ms", "p999_ms", "max_latency_ms"].iter().map(|k| num(k)).collect();
    assert!(lat.windows(2).all(|w| w[0] <= w[1]), "{fin}");
    assert!(num("avg_latency_ms") > 0.0 && num("avg_latency_ms") <= num("max_latency_ms"));
    let elapsed = num("elapsed_s");
    assert!((num("records_per_sec") - RECORDS as f64 / elapsed).abs() < 1.0, "{fin}");
    assert!(num("cpu_user_s") + num("cpu_sys_s") > 0.0, "{fin}");

    let read = read_all(broker, &topic, RECORDS);
    assert_eq!(read.len(), RECORDS, "exactly --num-records records");
    assert_eq!(read.iter().map(|r| r.offset).collect::<Vec<_>>(), (0..RECORDS as i64).collect::<Vec<_>>());
    assert!(read
        .iter()
        .all(|r| r.value.as_ref().is_some_and(|v| v.len() == 64 && v.iter().all(u8::is_ascii_uppercase))));
    let distinct: BTreeSet<&Vec<u8>> = read.iter().filter_map(|r| r.value.as_ref()).collect();
    assert_eq!(distinct.len(), RECORDS, "--fresh-payload: new letters for every record");
}

#[test]
fn perf_errors_are_one_line() {
    let out = kprod(
        &[
            "perf",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--producer-props",
            "bootstrap.servers=h:1",
            "lingr.ms=5",
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        stderr_lines(&out),
        ["kprod: error: --producer-props lingr.ms=5: unrecognized producer config: \"lingr.ms\""]
    );
    assert!(out.stdout.is_empty());

    let bootstrap = unreachable_bootstrap();
    let start = Instant::now();
    let out = kprod(
        &[
            "perf",
            "--topic",
            "t",
            "--num-records",
            "10",
            "--record-size",
            "10",
            "--json",
            "--bootstrap-server",
            &bootstrap,
            "--producer-props",
            "max.block.ms=500",
        ],
        b"",
    );
    assert!(start.elapsed() < QUICK);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let lines = stderr_lines(&out);
    // The refused connection as it happened (stderr; stdout stays JSON), then the error.
    assert_eq!(lines.len(), 2, "{}", describe(&out));
    assert_eq!(lines[0], format!("kprod: connection refused by {bootstrap}"), "{}", describe(&out));
    let re = Regex::new(
        r"^kprod: error: record 0: topic t not present in metadata after (\d+) ms; last error: connection refused by ",
    )
    .unwrap();
    let waited: u64 = re.captures(&lines[1]).unwrap_or_else(|| panic!("{}", lines[1]))[1].parse().unwrap();
    assert!((500..5000).contains(&waited), "{}", lines[1]);
    let fin: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the final object");
    assert_eq!((fin["records"].as_u64(), fin["error"].is_string()), (Some(0), true), "{fin}");

    for usage in [
        &["perf", "--topic", "t", "--num-records", "0", "--record-size", "10"][..],
        &["perf", "--topic", "t", "--num-records", "10", "--record-size", "0"],
        &["perf", "--topic", "t", "--num-records", "10", "--record-size", "10", "--throughput", "0"],
        &["perf", "--topic", "t", "--num-records", "10"],
        &["perf", "--topic", "t", "--num-records", "10", "--record-size", "10", "--producer-props"],
    ] {
        let out = kprod(usage, b"");
        assert_eq!(out.status.code(), Some(2), "{usage:?}: {}", describe(&out));
    }
}

#[test]
fn stats_prints_json_snapshots_to_stderr() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-perf-stats");
    broker.create_topic(&topic, 2, 1);
    let bootstrap = format!("bootstrap.servers={}", broker.bootstrap());
    // 4,000 records at 8,000/s: about half a second, a snapshot every 100 ms.
    let args = ["perf", "--topic", &topic, "--num-records", "4000", "--record-size", "50", "--throughput", "8000"];
    let out = kprod(&[&args[..], &["--stats", "100", "--producer-props", &bootstrap]].concat(), b"");
    assert!(out.status.success(), "{}", describe(&out));
    let snapshots: Vec<serde_json::Value> = stderr_lines(&out)
        .iter()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(snapshots.len() >= 2, "a snapshot every 100 ms over ~0.5 s: {}", describe(&out));
    let mut last = 0.0;
    for s in &snapshots {
        assert_eq!(s["type"], "producer");
        let total = s["producer-metrics"]["record-send-total"].as_f64().expect("record-send-total");
        assert!(total >= last && total <= 4000.0, "record-send-total {total} after {last}");
        last = total;
        if total > 0.0 {
            let t = &s["producer-topic-metrics"][topic.as_str()];
            assert_eq!(t["record-send-total"].as_f64(), Some(total), "one topic: its total is the producer's");
        }
    }
    assert!(last > 0.0, "records were sent while the snapshots ran");
    assert_eq!(read_all(broker, &topic, 4000).len(), 4000);
}
