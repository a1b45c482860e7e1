//! What the Rust peer programs of `scripts/bench.sh` share (`#[path]`-included by
//! `bench/peers/rdkafka` and `bench/peers/confluent-kafka`, each its own cargo workspace): Kafka
//! `ProducerPerformance`'s command line and its extensions, its statistics and final line, its
//! throttler, and the records.
//!
//! Command line: `--topic T --num-records N (--record-size S | --payload-file F) --throughput R|-1
//! --producer-props NAME=VALUE ... [--keys K] [--topics M] [--transactional-id ID]
//! [--transaction-duration-ms MS]`, with these meanings (the same in every peer, see
//! `bench/peers/README.md`):
//! - values: `--record-size` random `A`..`Z` bytes, fresh per record; or, as `ProducerPerformance`'s
//!   `--payload-file`, a line of the file (split at `\n`, empty lines dropped) picked at random;
//! - `--keys K`: record `i` has the key `key-<i mod K>` (ASCII); without it, null keys;
//! - `--topics M`: record `i` goes to topic `T-<i mod M>`; without it, to `T`;
//! - `--transactional-id` / `--transaction-duration-ms` as in `ProducerPerformance`: a
//!   transaction is begun before the first record of each, and committed after the send that
//!   finds it at least that old, and at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::Parser;

/// Command line, as Kafka's `ProducerPerformance` takes it, plus keys and topics.
#[derive(Parser, Debug)]
#[command(about = "Kafka producer benchmark with Kafka ProducerPerformance's interface")]
pub struct Args {
    /// Produce to this topic (or, with --topics M, to TOPIC-0 .. TOPIC-(M-1)).
    #[arg(long)]
    pub topic: String,
    /// Number of records to produce (at least 1).
    #[arg(long = "num-records", value_parser = clap::value_parser!(u64).range(1..))]
    pub num_records: u64,
    /// Record value size in bytes (at least 1): random capital letters.
    #[arg(long = "record-size", value_parser = clap::value_parser!(u32).range(1..),
          required_unless_present = "payload_file", conflicts_with = "payload_file")]
    pub record_size: Option<u32>,
    /// Values are lines of this file, picked at random per record.
    #[arg(long = "payload-file")]
    pub payload_file: Option<PathBuf>,
    /// Records per second at most; -1 for no limit.
    #[arg(long, allow_negative_numbers = true)]
    pub throughput: f64,
    /// Producer properties as NAME=VALUE.
    #[arg(long = "producer-props", num_args = 1.., required = true)]
    pub producer_props: Vec<String>,
    /// Keyed records: record i has the key `key-<i mod K>`.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub keys: Option<u64>,
    /// Spread records round-robin over M topics, TOPIC-0 .. TOPIC-(M-1).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub topics: Option<u32>,
    /// Produce in transactions with this transactional.id.
    #[arg(long = "transactional-id")]
    pub transactional_id: Option<String>,
    /// Commit once a transaction is this old (ms); implies transactions (default 3000).
    #[arg(long = "transaction-duration-ms", value_parser = clap::value_parser!(u64).range(1..))]
    pub transaction_duration_ms: Option<u64>,
}

impl Args {
    /// Refuses what would never end.
    pub fn check(&self) -> Result<(), String> {
        if self.throughput == 0.0 || self.throughput.is_nan() {
            return Err("--throughput 0 would never send; use -1 for no limit".into());
        }
        Ok(())
    }

    /// The transactional id and the commit interval, when transactions are on.
    pub fn transactions(&self) -> Option<(String, Duration)> {
        if self.transactional_id.is_none() && self.transaction_duration_ms.is_none() {
            return None;
        }
        let id =
            self.transactional_id.clone().unwrap_or_else(|| format!("performance-producer-{}", std::process::id()));
        Some((id, Duration::from_millis(self.transaction_duration_ms.unwrap_or(3000))))
    }

    /// The properties as (name, value) pairs.
    pub fn props(&self) -> Result<Vec<(String, String)>, String> {
        self.producer_props
            .iter()
            .map(|p| {
                p.split_once('=')
                    .map(|(n, v)| (n.to_string(), v.to_string()))
                    .ok_or_else(|| format!("invalid property {p:?}: expected NAME=VALUE"))
            })
            .collect()
    }
}

/// Records sent, bytes, latencies: `ProducerPerformance.Stats`.
pub struct Stats {
    start: Instant,
    sampling: u64,
    latencies: Vec<u32>,
    iteration: u64,
    count: u64,
    bytes: u64,
    max_latency: u32,
    total_latency: u64,
    window: Window,
}

/// The current 5-second reporting window.
struct Window {
    start: Instant,
    count: u64,
    bytes: u64,
    max_latency: u32,
    total_latency: u64,
}

const REPORTING_INTERVAL: Duration = Duration::from_secs(5);
const MAX_SAMPLES: u64 = 500_000;

impl Window {
    fn new(start: Instant) -> Self {
        Self { start, count: 0, bytes: 0, max_latency: 0, total_latency: 0 }
    }
}

impl Stats {
    pub fn new(num_records: u64, start: Instant) -> Self {
        let sampling = num_records / num_records.min(MAX_SAMPLES);
        let capacity = usize::try_from(num_records / sampling + 1).unwrap_or(usize::MAX);
        Self {
            start,
            sampling,
            latencies: Vec::with_capacity(capacity),
            iteration: 0,
            count: 0,
            bytes: 0,
            max_latency: 0,
            total_latency: 0,
            window: Window::new(start),
        }
    }

    pub fn record(&mut self, latency_ms: u32, bytes: u64, now: Instant) {
        self.count += 1;
        self.bytes += bytes;
        self.total_latency += u64::from(latency_ms);
        self.max_latency = self.max_latency.max(latency_ms);
        let w = &mut self.window;
        w.count += 1;
        w.bytes += bytes;
        w.total_latency += u64::from(latency_ms);
        w.max_latency = w.max_latency.max(latency_ms);
        if self.iteration.is_multiple_of(self.sampling) {
            self.latencies.push(latency_ms);
        }
        if now.duration_since(w.start) >= REPORTING_INTERVAL {
            self.print_window(now);
            self.window = Window::new(now);
        }
        self.iteration += 1;
    }

    fn print_window(&self, now: Instant) {
        let w = &self.window;
        let secs = now.duration_since(w.start).as_secs_f64();
        println!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            w.count,
            w.count as f64 / secs,
            w.bytes as f64 / secs / (1024.0 * 1024.0),
            w.total_latency as f64 / w.count as f64,
            f64::from(w.max_latency),
        );
    }

    pub fn print_total(&mut self, now: Instant) {
        // ProducerPerformance divides by whole milliseconds; so do we, with at least 1.
        let elapsed_ms = now.duration_since(self.start).as_millis().max(1) as f64;
        self.latencies.sort_unstable();
        let p = |q: f64| -> u32 {
            // (int)(q * size), as ProducerPerformance picks its percentiles.
            let index = (q * self.latencies.len() as f64) as usize;
            self.latencies.get(index).copied().unwrap_or(0)
        };
        let avg = if self.count == 0 { 0.0 } else { self.total_latency as f64 / self.count as f64 };
        println!(
            "{} records sent, {:.6} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, \
             {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / elapsed_ms,
            1000.0 * self.bytes as f64 / elapsed_ms / (1024.0 * 1024.0),
            avg,
            f64::from(self.max_latency),
            p(0.5),
            p(0.95),
            p(0.99),
            p(0.999),
        );
    }
}

/// `ProducerPerformance`'s `ThroughputThrottler`, for records per second.
pub struct Throttler {
    start: Instant,
    target: f64,
    sleep_per_record: Duration,
    deficit: Duration,
}

const MIN_SLEEP: Duration = Duration::from_millis(2);

impl Throttler {
    pub fn new(target: f64, start: Instant) -> Self {
        let sleep_per_record = if target > 0.0 { Duration::from_secs_f64(1.0 / target) } else { Duration::MAX };
        Self { start, target, sleep_per_record, deficit: Duration::ZERO }
    }

    pub fn should_throttle(&self, sent: u64, now: Instant) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let secs = now.duration_since(self.start).as_secs_f64();
        secs > 0.0 && sent as f64 / secs > self.target
    }

    /// The sleep now due, if any (the caller sleeps: a thread or a task).
    pub fn throttle(&mut self) -> Option<Duration> {
        self.deficit = self.deficit.saturating_add(self.sleep_per_record);
        if self.deficit >= MIN_SLEEP {
            return Some(std::mem::replace(&mut self.deficit, Duration::ZERO));
        }
        None
    }
}

/// When to begin and commit transactions, as `ProducerPerformance` does: begin before a record
/// when none is open, commit after the send that finds the open one `every` old, and at the end.
pub struct TxnClock {
    every: Option<Duration>,
    open: Option<Instant>,
}

impl TxnClock {
    /// No transactions when `every` is `None`.
    pub fn new(every: Option<Duration>) -> Self {
        Self { every, open: None }
    }

    /// Whether to begin a transaction before the next record (it counts as begun now).
    pub fn begin(&mut self) -> bool {
        if self.every.is_some() && self.open.is_none() {
            self.open = Some(Instant::now());
            return true;
        }
        false
    }

    /// Whether to commit after a record sent at `sent_at` (it counts as committed).
    pub fn commit_after(&mut self, sent_at: Instant) -> bool {
        match (self.every, self.open) {
            (Some(every), Some(began)) if sent_at.duration_since(began) >= every => {
                self.open = None;
                true
            }
            _ => false,
        }
    }

    /// Whether a transaction is still open at the end (to commit).
    pub fn commit_at_end(&mut self) -> bool {
        self.open.take().is_some()
    }
}

/// xorshift64*: the next pseudo-random number of `state`.
fn xorshift64star(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Record values: fresh random letters, or lines of a payload file.
enum Values {
    /// Random `A`..`Z` bytes, fresh for every record as `ProducerPerformance` makes them, drawn
    /// cheaply so the harness costs little next to the client: one xorshift64* number per 8
    /// bytes, then each byte `b` becomes `'A' + (b * 26) >> 8` (a multiply-shift, no division;
    /// the pass vectorizes). About 0.2 ns a byte, against ~1 ns for one bounded draw per byte.
    Letters(Vec<u8>),
    /// The payload file's lines.
    Lines(Vec<Vec<u8>>),
}

/// The records of a run, in order.
pub struct Records {
    state: u64,
    values: Values,
    keys: Option<u64>,
    key: String,
    topics: Vec<String>,
}

/// One record to send: borrowed from [`Records`].
pub struct Next<'a> {
    pub topic: &'a str,
    pub key: Option<&'a [u8]>,
    pub value: &'a [u8],
}

impl Records {
    pub fn new(args: &Args) -> Result<Self, String> {
        let values = match (&args.payload_file, args.record_size) {
            (Some(path), _) => {
                let text = std::fs::read(path).map_err(|e| format!("--payload-file {}: {e}", path.display()))?;
                let lines: Vec<Vec<u8>> =
                    text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(<[u8]>::to_vec).collect();
                if lines.is_empty() {
                    return Err(format!("--payload-file {}: no payloads in it", path.display()));
                }
                Values::Lines(lines)
            }
            (None, Some(size)) => Values::Letters(vec![b'A'; size as usize]),
            (None, None) => return Err("--record-size or --payload-file is required".into()),
        };
        let topics = match args.topics {
            Some(m) => (0..m).map(|j| format!("{}-{j}", args.topic)).collect(),
            None => vec![args.topic.clone()],
        };
        Ok(Self { state: 0x9e37_79b9_7f4a_7c15, values, keys: args.keys, key: String::new(), topics })
    }

    /// Record `i` of the run.
    pub fn next(&mut self, i: u64) -> Next<'_> {
        let state = &mut self.state;
        let value: &[u8] = match &mut self.values {
            Values::Letters(bytes) => {
                for chunk in bytes.chunks_mut(8) {
                    let r = xorshift64star(state).to_le_bytes();
                    chunk.copy_from_slice(&r[..chunk.len()]);
                }
                for b in bytes.iter_mut() {
                    // (b * 26) >> 8 is at most 25: always a capital letter.
                    *b = b'A' + ((u16::from(*b) * 26) >> 8) as u8;
                }
                bytes
            }
            Values::Lines(lines) => &lines[(xorshift64star(state) % lines.len() as u64) as usize],
        };
        let key = self.keys.map(|k| {
            use std::fmt::Write;
            self.key.clear();
            // Writing to a String cannot fail.
            let _ = write!(self.key, "key-{}", i % k);
            self.key.as_bytes()
        });
        let topic = &self.topics[(i % self.topics.len() as u64) as usize];
        Next { topic, key, value }
    }
}
