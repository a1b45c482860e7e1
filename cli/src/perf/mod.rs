//! `kprod perf`: Kafka's `kafka-producer-perf-test` for kprod.
//!
//! It sends `--num-records` records with null keys and `--record-size` random capital letters
//! as values, like Kafka's tool (seeded; the letters are drawn once, or anew for every record
//! with `--fresh-payload`, as recent versions of Kafka's tool do), to `--topic`, at most
//! `--throughput` records per second. Each record's latency is the time from just before its
//! `send` to its delivery callback. Every 5 s (at a completion, like Kafka's tool) it prints a
//! progress line, and after closing the producer the final line, both in the exact shape of Kafka's
//! `ProducerPerformance`, so one parser reads both tools:
//!
//! ```text
//! 480001 records sent, 96000.2 records/sec (9.16 MB/sec), 3.1 ms avg latency, 41.0 ms max latency.
//! 1000000 records sent, 97087.378641 records/sec (9.26 MB/sec), 2.95 ms avg latency, 41.00 ms max latency, 2 ms 50th, 6 ms 95th, 11 ms 99th, 30 ms 99.9th.
//! ```
//!
//! `--json` prints one JSON object per line instead (`"type": "progress"` / `"final"`); the
//! final one adds `errors`, `elapsed_s`, the process's CPU seconds and the error that stopped
//! the run early, if any.
//!
//! # Cost per record
//! Records go out with `Producer::send_tagged` (the send time is the tag) and complete through
//! one delivery listener, so nothing is allocated per record: heaptrack counted 2,267
//! allocations in a whole run of 200,000 records. The statistics are behind one mutex that only
//! the producer's IO thread takes per record (the bar's ticker reads an atomic). Times are
//! integer microseconds of the harness's own clock ([`clock`]), not std's `Instant` arithmetic.

mod clock;
mod output;
mod stats;
mod throttle;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use clap::Args;
use kprod_std::{Error, Producer, Record, RecordMetadata};

use crate::config::{parse_key_value, KeyValue, Sources};
use crate::Failure;
use clock::Clock;
use output::Output;
use stats::Stats;
use throttle::Throttler;

/// `kprod perf` options (Kafka's names).
#[derive(Debug, Args)]
pub(crate) struct PerfArgs {
    /// The topic to produce to.
    #[arg(long)]
    topic: String,
    /// How many records to send.
    #[arg(long = "num-records", value_parser = clap::value_parser!(u64).range(1..))]
    num_records: u64,
    /// The size of each record's value, in bytes.
    #[arg(long = "record-size", value_parser = clap::value_parser!(u32).range(1..),
          required_unless_present = "payload_file", conflicts_with = "payload_file")]
    record_size: Option<u32>,
    /// Values are lines of this file (split at newlines, empty ones dropped), one picked at
    /// random for each record, as Kafka's tool does. MB/s counts their mean length.
    #[arg(long = "payload-file", value_name = "FILE")]
    payload_file: Option<PathBuf>,
    /// Keyed records: record i has the key `key-<i mod K>` (the default partitioner hashes it).
    #[arg(long, value_name = "K", value_parser = clap::value_parser!(u64).range(1..))]
    keys: Option<u64>,
    /// Spread the records round-robin over M topics, TOPIC-0 .. TOPIC-(M-1).
    #[arg(long, value_name = "M", value_parser = clap::value_parser!(u32).range(1..))]
    topics: Option<u32>,
    /// At most this many records per second; -1 (or any negative value) for no limit.
    #[arg(long, default_value = "-1", allow_negative_numbers = true, value_parser = parse_throughput)]
    throughput: f64,
    /// Producer properties, `name=value` ... (they override --producer.config).
    #[arg(long = "producer-props", value_name = "PROP=VALUE", num_args = 1.., value_parser = parse_key_value)]
    producer_props: Vec<KeyValue>,
    /// A producer properties file.
    #[arg(long = "producer.config", value_name = "FILE")]
    producer_config: Option<PathBuf>,
    /// Bootstrap servers (instead of `bootstrap.servers` in the properties).
    #[arg(long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// Print JSON objects instead of Kafka's text lines.
    #[arg(long)]
    json: bool,
    /// Print the statistics snapshot (JSON: global, per-topic and per-node metrics by their
    /// Java names) to stderr every MS milliseconds (default 1000; `statistics.interval.ms`).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "1000",
          value_parser = clap::value_parser!(u64).range(1..))]
    stats: Option<u64>,
    /// No progress bar, even on a terminal.
    #[arg(long = "no-progress")]
    no_progress: bool,
    /// Milliseconds between progress lines.
    #[arg(long = "reporting-interval", value_name = "MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..))]
    reporting_interval: u64,
    /// New random letters for every record, as recent Kafka tools do (costs `--record-size`
    /// random draws per record). Default: one payload, generated once.
    #[arg(long = "fresh-payload")]
    fresh_payload: bool,
    /// Produce in transactions with this `transactional.id`, committing every
    /// `--transaction-duration-ms` (default 3000), as Kafka's tool does.
    #[arg(long = "transactional-id", value_name = "ID")]
    transactional_id: Option<String>,
    /// The longest a transaction stays open before it is committed (ms); implies transactions.
    #[arg(long = "transaction-duration-ms", value_name = "MS", value_parser = clap::value_parser!(u64).range(1..))]
    transaction_duration_ms: Option<u64>,
    /// No producer messages on stderr (by default a failed connection to a broker prints one).
    #[arg(short, long)]
    quiet: bool,
    /// More producer messages on stderr: `-v` connects and failed batches, `-vv` debug detail.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
}

fn parse_throughput(arg: &str) -> Result<f64, String> {
    let t: f64 = arg.parse().map_err(|_| format!("not a number: {arg:?}"))?;
    if t.is_nan() || t == 0.0 {
        return Err("must be positive (records/s), or -1 for no limit".into());
    }
    Ok(t)
}

/// What the producer's IO thread updates for each completed record.
#[derive(Debug)]
struct Recorder {
    /// The run's clock: send times (the records' tags) and completion times.
    clock: Clock,
    stats: Mutex<Stats>,
    /// Completed records (delivered or failed), for the progress bar.
    completed: AtomicU64,
    output: Output,
}

impl Recorder {
    /// The delivery callback of a record sent at `sent_us`.
    fn complete(&self, sent_us: u64, result: Result<RecordMetadata, Error>) {
        let now_us = self.clock.micros();
        let progress = {
            let mut stats = self.stats.lock().unwrap_or_else(PoisonError::into_inner);
            match result {
                Ok(_) => stats.record(now_us.saturating_sub(sent_us), now_us),
                Err(e) => {
                    stats.error(&e);
                    None
                }
            }
        };
        self.completed.fetch_add(1, Ordering::Relaxed);
        if let Some(p) = progress {
            self.output.progress(&p);
        }
    }
}

/// Runs `kprod perf`.
pub(crate) fn run(args: &PerfArgs) -> Result<(), Failure> {
    crate::logging::init(args.quiet, args.verbose);
    let mut flags = Vec::new();
    if let Some(b) = &args.bootstrap {
        flags.push(("bootstrap.servers", b.clone(), "--bootstrap-server"));
    }
    if let Some(id) = &args.transactional_id {
        flags.push(("transactional.id", id.clone(), "--transactional-id"));
    } else if args.transaction_duration_ms.is_some() {
        // Kafka's tool makes up an id when only the duration is given.
        flags.push((
            "transactional.id",
            format!("performance-producer-{}", std::process::id()),
            "--transaction-duration-ms",
        ));
    }
    if let Some(ms) = args.stats {
        flags.push(("statistics.interval.ms", ms.to_string(), "--stats"));
    }
    let sources = Sources {
        defaults: &[("client.id", "perf-producer-client")],
        file: args.producer_config.as_deref(),
        properties: &args.producer_props,
        properties_flag: "--producer-props",
        flags,
    };
    let config = crate::config::statistics_to_stderr(sources.build()?);
    let close_timeout = config.engine().delivery_timeout + config.engine().request_timeout;
    let transactions = config.engine().transactions.transactional_id.is_some();
    let producer = Producer::new(config)?;
    if transactions {
        producer.init_transactions()?;
    }
    let txn_every = transactions.then(|| Duration::from_millis(args.transaction_duration_ms.unwrap_or(3000)));

    let show_bar = !args.json && !args.no_progress && std::io::IsTerminal::is_terminal(&std::io::stdout());
    let values = Values::new(args)?;
    let stats = Stats::new(Duration::from_millis(args.reporting_interval), values.mean_len());
    let recorder = Recorder {
        clock: Clock::new(),
        stats: Mutex::new(stats),
        completed: AtomicU64::new(0),
        output: Output::new(args.json, show_bar, args.num_records),
    };
    // Every callback refers to the recorder. A `'static` reference (leaked once; the process
    // ends with the command) spares each record an `Arc` count shared between threads.
    let recorder: &'static Recorder = Box::leak(Box::new(recorder));
    let ticker = recorder.output.start_ticker(&recorder.completed);

    // Every record's completion goes to one listener, with the record's send time (µs since
    // the run's start) as its tag: no allocation per record, as with librdkafka's delivery reports.
    producer.set_delivery_listener(move |sent_us, result| {
        recorder.complete(sent_us, result);
    })?;
    let stopped = send_all(&producer, args, values, recorder.clock, txn_every);
    // Like Kafka's tool, the run ends once the producer is closed (everything completed).
    let closed = producer.close(close_timeout);
    drop(producer);
    let end = recorder.clock.micros();
    if let Some(t) = ticker {
        t.stop();
    }

    let stats = recorder.stats.lock().unwrap_or_else(PoisonError::into_inner);
    let mut summary = stats.summary(end);
    if let Some((user, sys)) = crate::cpu::cpu_seconds() {
        summary.cpu_user_s = Some(user);
        summary.cpu_sys_s = Some(sys);
    }
    let fatal = stopped.err().or_else(|| closed.err().map(Failure::from));
    summary.error = fatal.as_ref().map(ToString::to_string);
    recorder.output.summary(&summary);
    if let Some(f) = fatal {
        return Err(f);
    }
    match stats.errors() {
        (0, _) => Ok(()),
        (n, first) => Err(Failure::new(format!("{n} records failed; the first: {}", first.unwrap_or("?")))),
    }
}

/// The send loop. Stops at the first error `send` returns: with identical records, one
/// refused record means all would be.
/// Sends the records; with `txn_every`, in transactions committed once they are that old (and
/// at the end), as Kafka's tool does. A failed commit aborts and ends the run.
fn send_all(
    producer: &Producer,
    args: &PerfArgs,
    mut values: Values,
    clock: Clock,
    txn_every: Option<Duration>,
) -> Result<(), Failure> {
    let txn_every_us = txn_every.map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX));
    // When the open transaction began (µs on `clock`).
    let mut open: Option<u64> = None;
    let commit = |producer: &Producer| -> Result<(), Failure> {
        producer.commit_transaction().map_err(|e| {
            if !e.is_fatal() {
                let _ = producer.abort_transaction();
            }
            Failure::new(format!("commit_transaction: {e}"))
        })
    };
    let topics: Vec<String> = match args.topics {
        Some(m) => (0..m).map(|j| format!("{}-{j}", args.topic)).collect(),
        None => vec![args.topic.clone()],
    };
    let mut key = String::new();
    let mut throttler = Throttler::new(args.throughput, clock.micros());
    for i in 0..args.num_records {
        let value = values.next(i, args.fresh_payload);
        if txn_every_us.is_some() && open.is_none() {
            producer.begin_transaction()?;
            open = Some(clock.micros());
        }
        let topic = &topics[(i % topics.len() as u64) as usize];
        let mut record = Record::new(topic).value(value);
        if let Some(k) = args.keys {
            use std::fmt::Write;
            key.clear();
            // Writing to a String cannot fail.
            let _ = write!(key, "key-{}", i % k);
            record = record.key(key.as_bytes());
        }
        let sent = clock.micros();
        producer.send_tagged(&record, sent).map_err(|e| Failure::new(format!("record {i}: {e}")))?;
        if let (Some(every), Some(began)) = (txn_every_us, open) {
            if sent.saturating_sub(began) >= every {
                commit(producer)?;
                open = None;
            }
        }
        if throttler.should_throttle(i, sent) {
            throttler.throttle();
        }
    }
    if open.is_some() {
        commit(producer)?;
    }
    Ok(())
}

/// The records' values: random letters (drawn once, or per record with `--fresh-payload`), or
/// the lines of `--payload-file`, one picked at random per record.
enum Values {
    Letters { rng: fastrand::Rng, payload: Vec<u8> },
    Lines { rng: fastrand::Rng, lines: Vec<Vec<u8>> },
}

impl Values {
    fn new(args: &PerfArgs) -> Result<Self, Failure> {
        let mut rng = fastrand::Rng::with_seed(0);
        match (&args.payload_file, args.record_size) {
            (Some(path), _) => {
                let text =
                    std::fs::read(path).map_err(|e| Failure::new(format!("--payload-file {}: {e}", path.display())))?;
                let lines: Vec<Vec<u8>> =
                    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
                if lines.is_empty() {
                    return Err(Failure::new(format!("--payload-file {}: no payloads in it", path.display())));
                }
                Ok(Self::Lines { rng, lines })
            }
            (None, Some(size)) => {
                let mut payload = vec![0u8; size as usize];
                fill_letters(&mut rng, &mut payload);
                Ok(Self::Letters { rng, payload })
            }
            // clap requires one of the two.
            (None, None) => Err(Failure::new("give --record-size or --payload-file".to_string())),
        }
    }

    /// The mean value length, for MB/s.
    fn mean_len(&self) -> u64 {
        match self {
            Self::Letters { payload, .. } => payload.len() as u64,
            Self::Lines { lines, .. } => lines.iter().map(Vec::len).sum::<usize>() as u64 / lines.len() as u64,
        }
    }

    /// The value of record `i`.
    fn next(&mut self, i: u64, fresh: bool) -> &[u8] {
        match self {
            Self::Letters { rng, payload } => {
                if fresh && i > 0 {
                    fill_letters(rng, payload);
                }
                payload
            }
            Self::Lines { rng, lines } => &lines[rng.usize(..lines.len())],
        }
    }
}

/// Random capital letters, like Kafka's tool. One 64-bit draw gives 8 letters: each byte `b`
/// maps to `'A' + (b * 26) >> 8` (multiply-shift, no division; the bias is under 1/256 per
/// letter), so that `--fresh-payload` costs little next to producing the record. The 8 bytes
/// are mapped at once in 16-bit lanes (`b * 26` is at most 6,630, so no lane carries into the
/// next): byte by byte this loop took 20% of the CPU of a 1 KiB run, three times the 0.2 ns a
/// byte of the peers' generators (BENCHMARKS.md, issue 15).
fn fill_letters(rng: &mut fastrand::Rng, buf: &mut [u8]) {
    let mut chunks = buf.chunks_exact_mut(8);
    for chunk in &mut chunks {
        chunk.copy_from_slice(&letters8(rng.u64(..)).to_le_bytes());
    }
    let rest = chunks.into_remainder();
    let n = rest.len();
    rest.copy_from_slice(&letters8(rng.u64(..)).to_le_bytes()[..n]);
}

/// The letter of each byte of `x` (see [`fill_letters`]), byte `i` of the result for byte `i`.
fn letters8(x: u64) -> u64 {
    const LANES: u64 = 0x00ff_00ff_00ff_00ff;
    let even = (((x & LANES) * 26) >> 8) & LANES;
    let odd = (((x >> 8) & LANES) * 26) & !LANES;
    (even | odd) + 0x4141_4141_4141_4141
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_map_every_byte_by_multiply_shift() {
        let letter = |b: u8| b'A' + ((u16::from(b) * 26) >> 8) as u8;
        let mut rng = fastrand::Rng::with_seed(7);
        for x in [0, u64::MAX, 0x0123_4567_89ab_cdef].into_iter().chain((0..10_000).map(|_| rng.u64(..))) {
            let want: Vec<u8> = x.to_le_bytes().iter().map(|&b| letter(b)).collect();
            assert_eq!(letters8(x).to_le_bytes().to_vec(), want, "{x:#x}");
        }
        let mut odd = [0u8; 13];
        fill_letters(&mut fastrand::Rng::with_seed(1), &mut odd);
        assert!(odd.iter().all(u8::is_ascii_uppercase));
    }

    #[test]
    fn payloads_are_capital_letters_and_seeded() {
        let (mut a, mut b) = (fastrand::Rng::with_seed(0), fastrand::Rng::with_seed(0));
        let (mut x, mut y) = (vec![0u8; 4096], vec![0u8; 4096]);
        fill_letters(&mut a, &mut x);
        fill_letters(&mut b, &mut y);
        assert_eq!(x, y);
        assert!(x.iter().all(u8::is_ascii_uppercase));
        let distinct: std::collections::BTreeSet<u8> = x.iter().copied().collect();
        assert_eq!(distinct.len(), 26);
    }

    /// `kprod perf`'s arguments alone.
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        perf: PerfArgs,
    }

    fn perf_args(extra: &[&str]) -> PerfArgs {
        use clap::Parser;
        let mut argv = vec!["kprod-perf", "--topic", "t", "--num-records", "10"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).expect("valid arguments").perf
    }

    #[test]
    fn payload_file_lines_are_the_values() {
        let dir = std::env::temp_dir().join(format!("kprod-perf-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("payloads.txt");
        std::fs::write(&path, b"aaaa\n\nbbbbbb\n").expect("write payloads");
        let args = perf_args(&["--payload-file", path.to_str().expect("utf-8 path")]);
        let mut values = Values::new(&args).expect("two lines");
        assert_eq!(values.mean_len(), 5);
        let seen: std::collections::BTreeSet<Vec<u8>> = (0..64).map(|i| values.next(i, false).to_vec()).collect();
        assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec![b"aaaa".to_vec(), b"bbbbbb".to_vec()]);
        std::fs::write(&path, b"\n\n").expect("write empty payloads");
        let err = Values::new(&args).err().expect("no payloads is an error").to_string();
        assert!(err.contains("no payloads"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn record_size_or_payload_file_not_both() {
        use clap::Parser;
        let base = ["kprod-perf", "--topic", "t", "--num-records", "1"];
        assert!(Cli::try_parse_from(base).is_err());
        assert!(Cli::try_parse_from([&base[..], &["--record-size", "1", "--payload-file", "f"]].concat()).is_err());
        let args = perf_args(&["--record-size", "100", "--keys", "5000", "--topics", "3"]);
        assert_eq!((args.keys, args.topics), (Some(5000), Some(3)));
        assert_eq!(Values::new(&args).expect("letters").mean_len(), 100);
    }

    #[test]
    fn throughput_must_be_a_rate_or_negative() {
        assert_eq!(parse_throughput("-1"), Ok(-1.0));
        assert_eq!(parse_throughput("2500.5"), Ok(2500.5));
        assert!(parse_throughput("0").is_err());
        assert!(parse_throughput("NaN").is_err());
        assert!(parse_throughput("fast").is_err());
    }
}
