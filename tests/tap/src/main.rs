//! kprod-tap-test: kprod-smoltcp on a TAP device against a real Kafka broker.
//!
//! `scripts/tap-test.sh` runs it inside a private network namespace where `tap0` has
//! 10.200.0.1/24 on the host side and a Kafka broker listens on 10.200.0.1:9092. This program
//! is the other end of the TAP: a smoltcp interface at 10.200.0.2 with the driver on it.
//!
//! - Default (the test): creates a topic with 3 partitions, produces 100,000 unique records
//!   (lz4, acks=all, idempotent), closes the producer, then reads the topic back with the
//!   independent verifier (kafka-python) and compares every field of every record, its
//!   partition and its offset with what the completions reported. Exit 1 on any difference.
//! - `--embassy`: the same test with the async driver (`kprod_smoltcp::asynch`) in an embassy
//!   executor over embassy-net on the TAP device; each record's delivery future is awaited and
//!   compared with its completion too (`embassy.rs`).
//! - `--bench`: produces 1 GiB of 1 KiB records (no compression, acks=1) and prints MB/s of
//!   payload and records/s (reported, not asserted).
//!
//! Options: `--tap NAME` (tap0), `--local ADDR/PREFIX` (10.200.0.2/24), `--broker HOST:PORT`
//! (10.200.0.1:9092), `--records N`, and for `--bench`: `--bytes N` (1 GiB), `--record-size N`
//! (1024), `--batch-size N` (256 KiB), `--linger-ms N` (5).

mod check;
mod embassy;
mod net;
mod run;

use core::time::Duration;
use std::process::ExitCode;

use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_tests::{unique_topic, Broker};

use crate::net::{parse_cidr, Net, Sizes};
use crate::run::Owned;

const PARTITIONS: u32 = 3;

#[derive(Debug, Clone)]
struct Args {
    tap: String,
    local: String,
    broker: String,
    bench: bool,
    embassy: bool,
    records: usize,
    bytes: u64,
    record_size: usize,
    batch_size: usize,
    linger_ms: u64,
}

impl Args {
    fn parse() -> Result<Self, String> {
        let mut a = Self {
            tap: "tap0".into(),
            local: "10.200.0.2/24".into(),
            broker: "10.200.0.1:9092".into(),
            bench: false,
            embassy: false,
            records: 100_000,
            bytes: 1 << 30,
            record_size: 1024,
            batch_size: 256 * 1024,
            linger_ms: 5,
        };
        let mut it = std::env::args().skip(1);
        while let Some(arg) = it.next() {
            let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
            match arg.as_str() {
                "--bench" => a.bench = true,
                "--embassy" => a.embassy = true,
                "--tap" => a.tap = value()?,
                "--local" => a.local = value()?,
                "--broker" => a.broker = value()?,
                "--records" => a.records = number(&value()?)?,
                "--bytes" => a.bytes = number(&value()?)?,
                "--record-size" => a.record_size = number(&value()?)?,
                "--batch-size" => a.batch_size = number(&value()?)?,
                "--linger-ms" => a.linger_ms = number(&value()?)?,
                "-h" | "--help" => return Err(HELP.into()),
                other => return Err(format!("unknown argument {other}\n{HELP}")),
            }
        }
        Ok(a)
    }

    fn broker_addr(&self) -> Result<(&str, u16), String> {
        let (host, port) =
            self.broker.rsplit_once(':').ok_or_else(|| format!("{}: expected HOST:PORT", self.broker))?;
        Ok((host, number(port)?))
    }
}

const HELP: &str =
    "usage: kprod-tap-test [--bench | --embassy] [--tap NAME] [--local ADDR/PREFIX] [--broker HOST:PORT] \
[--records N] [--bytes N] [--record-size N] [--batch-size N] [--linger-ms N]";

fn number<T: core::str::FromStr>(s: &str) -> Result<T, String> {
    s.replace('_', "").parse().map_err(|_| format!("{s}: not a number"))
}

fn main() -> ExitCode {
    let result = Args::parse().and_then(|args| match (args.bench, args.embassy) {
        (true, true) => Err("--bench measures the smoltcp driver; --embassy has no benchmark".into()),
        (true, false) => bench(&args),
        (false, true) => embassy_test(&args),
        (false, false) => test(&args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kprod-tap-test: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the test topic. Its records carry 2023 timestamps (`check::BASE_TIMESTAMP`), older
/// than the default 7-day retention: without `retention.ms=-1` the broker's retention check
/// (30 s after its start, then every 5 min) may delete them while the verifier reads back.
fn create_topic(broker: &Broker, topic: &str) {
    broker.create_topic_with_config(topic, PARTITIONS as i32, 1, &[("retention.ms", "-1")]);
}

/// The integration test: 100,000 records, lz4, acks=all, read back and compared.
fn test(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("tap");
    create_topic(&broker, &topic);
    let mut net = Net::open(&args.tap, parse_cidr(&args.local)?)?;
    let config = Config {
        acks: Acks::All,
        compression: Compression::Lz4,
        linger: Duration::from_millis(5),
        ..Config::default()
    };
    let mut driver = net.driver(config, args.broker_addr()?, Sizes::HOST)?;
    println!(
        "tap-test: producing {} records to {topic} (lz4, acks=all, idempotent) via {} (seed {})",
        args.records, args.tap, net.seed
    );
    let produced =
        run::produce(&mut net, &mut driver, &topic, args.records, check::expected, Duration::from_secs(300))?;
    report_run(&produced);
    verify(&broker, &topic, args.records, &produced, "the completions")
}

/// Checks that all `records` were delivered, then reads the topic back with the independent
/// verifier and compares every record with what was produced and what `reported` said.
fn verify(
    broker: &Broker,
    topic: &str,
    records: usize,
    produced: &run::Produced,
    reported: &str,
) -> Result<(), String> {
    if !produced.errors.is_empty() || produced.delivered != records as u64 {
        return Err(format!("{} delivered of {records}; errors: {:?}", produced.delivered, produced.errors));
    }
    println!("tap-test: reading {topic} back with the independent verifier");
    let read = broker.read_back(topic, records, Duration::from_secs(300));
    let expected: Vec<Owned> = (0..records).map(check::expected).collect();
    let problems = check::compare(topic, PARTITIONS, &expected, produced, &read);
    if !problems.is_empty() {
        return Err(format!("{} problem(s):\n  {}", problems.len(), problems.join("\n  ")));
    }
    println!(
        "tap-test: verified {} records: each read back exactly once, keys, values, headers and timestamps equal, \
         partitions and offsets as {reported} reported",
        read.len()
    );
    Ok(())
}

/// The integration test on the async driver in an embassy executor: 100,000 records, lz4,
/// acks=all, read back and compared.
fn embassy_test(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("embassy");
    create_topic(&broker, &topic);
    let (host, port) = args.broker_addr()?;
    let (ip, len) = args.local.split_once('/').ok_or_else(|| format!("{}: expected ADDRESS/PREFIX", args.local))?;
    let params = embassy::Params {
        tap: args.tap.clone(),
        local: (ip.parse().map_err(|e| format!("{ip}: {e}"))?, number(len)?),
        broker: (host.to_owned(), port),
        topic: topic.clone(),
        records: args.records,
        config: Config {
            acks: Acks::All,
            compression: Compression::Lz4,
            linger: Duration::from_millis(5),
            ..Config::default()
        },
        make: check::expected,
        limit: Duration::from_secs(300),
    };
    println!(
        "tap-test: producing {} records to {topic} (lz4, acks=all, idempotent) with the embassy driver via {}",
        args.records, args.tap
    );
    let produced = embassy::produce(params)?;
    for l in &produced.links {
        println!("  {l}");
    }
    println!(
        "  {} records delivered, {} failed, in {:.2} s",
        produced.delivered,
        produced.failed,
        produced.elapsed.as_secs_f64()
    );
    verify(&broker, &topic, args.records, &produced, "the completions and the delivery futures")
}

/// The benchmark: payload throughput of 1 KiB records, no compression, acks=1.
fn bench(args: &Args) -> Result<(), String> {
    let broker = Broker::attach(&args.broker, 1);
    let topic = unique_topic("tap-bench");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let mut net = Net::open(&args.tap, parse_cidr(&args.local)?)?;
    let n = usize::try_from(args.bytes / args.record_size.max(1) as u64).map_err(|e| e.to_string())?;
    let config = Config {
        acks: Acks::Leader,
        compression: Compression::None,
        batch_size: args.batch_size,
        linger: Duration::from_millis(args.linger_ms),
        buffer_memory: 64 << 20,
        max_request_size: (4 * args.batch_size).max(1 << 20),
        ..Config::default()
    };
    let mut driver = net.driver(config, args.broker_addr()?, Sizes::HOST)?;
    let size = args.record_size;
    let make = |i: usize| {
        let mut value = vec![0x5a; size];
        let stamp = (i as u64).to_be_bytes();
        let k = stamp.len().min(size);
        value[..k].copy_from_slice(&stamp[..k]);
        Owned { key: None, value: Some(value), headers: Vec::new(), timestamp: check::BASE_TIMESTAMP }
    };
    println!(
        "bench: {n} records of {size} B to {topic} (no compression, acks=1, batch.size {}, linger {} ms) via {}",
        args.batch_size, args.linger_ms, args.tap
    );
    let cpu_before = cpu_time();
    let produced = run::produce(&mut net, &mut driver, &topic, n, make, Duration::from_secs(600))?;
    let cpu = cpu_time().zip(cpu_before).map(|(after, before)| after.saturating_sub(before));
    report_run(&produced);
    if !produced.errors.is_empty() || produced.delivered != n as u64 {
        return Err(format!("{} delivered of {n}; errors: {:?}", produced.delivered, produced.errors));
    }
    let secs = produced.elapsed.as_secs_f64();
    let payload = (n * size) as f64;
    println!(
        "bench: {:.1} MB payload in {secs:.2} s: {:.1} MB/s of payload, {:.0} records/s (MTU 1500, MB = 10^6 bytes)",
        payload / 1e6,
        payload / 1e6 / secs,
        n as f64 / secs
    );
    if let Some(cpu) = cpu {
        println!(
            "bench: this process used {:.2} s of CPU ({:.0}% of one core; the broker and the kernel's TAP path use the rest)",
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / secs
        );
    }
    Ok(())
}

/// CPU time this process has used so far (Linux `/proc/self/schedstat`, nanoseconds on CPU).
fn cpu_time() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/schedstat").ok()?;
    Some(Duration::from_nanos(stat.split_whitespace().next()?.parse().ok()?))
}

fn report_run(p: &run::Produced) {
    for l in &p.links {
        println!("  {l}");
    }
    let s = &p.stats;
    println!(
        "  {} records delivered, {} failed, in {:.2} s; {} frames ({} partial writes, {} dropped), {:.1} MB sent, {:.1} KB received, \
         largest request {} B, largest response {} B, {} polls hit a budget",
        p.delivered,
        p.failed,
        p.elapsed.as_secs_f64(),
        s.frames_sent,
        s.partial_writes,
        s.frames_dropped,
        s.bytes_sent as f64 / 1e6,
        s.bytes_received as f64 / 1e3,
        s.max_request,
        s.max_response,
        s.budget_hits
    );
}
