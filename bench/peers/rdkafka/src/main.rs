//! librdkafka's producer driven like Kafka's `ProducerPerformance`, for `scripts/bench.sh`.
//!
//! Same command line (`--topic --num-records --record-size --throughput --producer-props k=v ...`)
//! and same output: a window line every 5 s and the final line
//! `N records sent, X records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th,
//! P95 ms 95th, P99 ms 99th, P999 ms 99.9th.` The properties go to librdkafka unchanged (it knows
//! most Java names: acks, linger.ms, batch.size, enable.idempotence, ...).
//!
//! Like `ProducerPerformance`: each record is a fresh payload of random `A`..`Z` bytes with a
//! null key and no partition (the topic's partitioner picks); the latency of a record runs from
//! just before `send` to its delivery report, in whole milliseconds; percentiles come from at
//! most 500,000 evenly sampled latencies; the clock starts before the first send and stops once
//! every record is delivered (`flush`).

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::get_rdkafka_version;
use rdkafka::ClientContext;

/// Command line, as Kafka's `ProducerPerformance` takes it.
#[derive(Parser, Debug)]
#[command(about = "librdkafka producer benchmark with Kafka ProducerPerformance's interface")]
struct Args {
    /// Produce to this topic.
    #[arg(long)]
    topic: String,
    /// Number of records to produce (at least 1).
    #[arg(long = "num-records", value_parser = clap::value_parser!(u64).range(1..))]
    num_records: u64,
    /// Record value size in bytes (at least 1).
    #[arg(long = "record-size", value_parser = clap::value_parser!(u32).range(1..))]
    record_size: u32,
    /// Records per second at most; -1 for no limit.
    #[arg(long, allow_negative_numbers = true)]
    throughput: f64,
    /// librdkafka properties as NAME=VALUE.
    #[arg(long = "producer-props", num_args = 1.., required = true)]
    producer_props: Vec<String>,
}

/// Records sent, bytes, latencies: `ProducerPerformance.Stats`.
struct Stats {
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
    fn new(num_records: u64, start: Instant) -> Self {
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

    fn record(&mut self, latency_ms: u32, bytes: u64, now: Instant) {
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

    fn print_total(&mut self, now: Instant) {
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

/// Delivery reports arrive on the thread that calls `poll`/`flush` (ours); the lock is never
/// contended, it only makes the context `Sync` as rdkafka requires.
struct Context {
    origin: Instant,
    record_size: u64,
    stats: Mutex<Stats>,
    failed: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    count: u64,
}

const MAX_PRINTED_FAILURES: u64 = 10;

impl Context {
    /// Whole milliseconds since the origin, as `System.currentTimeMillis()` differences are.
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }
}

impl ClientContext for Context {}

impl ProducerContext for Context {
    /// Milliseconds since `origin` at the time of `send`.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_ms: usize) {
        let now = Instant::now();
        match result {
            Ok(_) => {
                let latency = self.millis(now).saturating_sub(sent_ms as u64);
                let latency = u32::try_from(latency).unwrap_or(u32::MAX);
                // A poisoned lock means a panic elsewhere, which already ends the run.
                if let Ok(mut stats) = self.stats.lock() {
                    stats.record(latency, self.record_size, now);
                }
            }
            Err((error, _)) => {
                if let Ok(mut failed) = self.failed.lock() {
                    failed.count += 1;
                    if failed.count <= MAX_PRINTED_FAILURES {
                        eprintln!("delivery failed: {error}");
                    }
                }
            }
        }
    }
}

/// `ProducerPerformance`'s `ThroughputThrottler`, for records per second.
struct Throttler {
    start: Instant,
    target: f64,
    sleep_per_record: Duration,
    deficit: Duration,
}

const MIN_SLEEP: Duration = Duration::from_millis(2);

impl Throttler {
    fn new(target: f64, start: Instant) -> Self {
        let sleep_per_record = if target > 0.0 { Duration::from_secs_f64(1.0 / target) } else { Duration::MAX };
        Self { start, target, sleep_per_record, deficit: Duration::ZERO }
    }

    fn should_throttle(&self, sent: u64, now: Instant) -> bool {
        if self.target < 0.0 {
            return false;
        }
        let secs = now.duration_since(self.start).as_secs_f64();
        secs > 0.0 && sent as f64 / secs > self.target
    }

    fn throttle(&mut self) {
        self.deficit = self.deficit.saturating_add(self.sleep_per_record);
        if self.deficit >= MIN_SLEEP {
            std::thread::sleep(self.deficit);
            self.deficit = Duration::ZERO;
        }
    }
}

/// Random `A`..`Z` bytes, fresh for every record as `ProducerPerformance` makes them, drawn
/// cheaply so the harness costs little next to the client: one xorshift64* number per 8 bytes,
/// then each byte `b` becomes `'A' + (b * 26) >> 8` (a multiply-shift, no division; the pass
/// vectorizes). About 0.2 ns a byte, against ~1 ns for one bounded draw per byte.
struct Payload {
    state: u64,
    bytes: Vec<u8>,
}

/// xorshift64*: the next pseudo-random number of `state`.
fn xorshift64star(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

impl Payload {
    fn new(size: usize) -> Self {
        Self { state: 0x9e37_79b9_7f4a_7c15, bytes: vec![b'A'; size] }
    }

    fn refill(&mut self) -> &[u8] {
        let state = &mut self.state;
        for chunk in self.bytes.chunks_mut(8) {
            let r = xorshift64star(state).to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
        for b in &mut self.bytes {
            // (b * 26) >> 8 is at most 25: always a capital letter.
            *b = b'A' + ((u16::from(*b) * 26) >> 8) as u8;
        }
        &self.bytes
    }
}

fn config(props: &[String]) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::new();
    for prop in props {
        let (name, value) =
            prop.split_once('=').ok_or_else(|| format!("invalid property {prop:?}: expected NAME=VALUE"))?;
        config.set(name, value);
    }
    if config.get("client.id").is_none() {
        config.set("client.id", "perf-producer-client");
    }
    Ok(config)
}

fn run(args: &Args) -> Result<u64, String> {
    if args.throughput == 0.0 {
        return Err("--throughput 0 would never send; use -1 for no limit".into());
    }
    let (version_int, version) = get_rdkafka_version();
    println!("librdkafka version: {version} (0x{version_int:08x})");
    let origin = Instant::now();
    let context = Context {
        origin,
        record_size: u64::from(args.record_size),
        stats: Mutex::new(Stats::new(args.num_records, origin)),
        failed: Mutex::new(Failures::default()),
    };
    let producer: BaseProducer<Context> =
        config(&args.producer_props)?.create_with_context(context).map_err(|e| format!("producer: {e}"))?;
    let size = usize::try_from(args.record_size).map_err(|_| "record size too large".to_string())?;
    let mut payload = Payload::new(size);
    let start = Instant::now();
    if let Ok(mut stats) = producer.context().stats.lock() {
        *stats = Stats::new(args.num_records, start);
    }
    let mut throttler = Throttler::new(args.throughput, start);
    for i in 0..args.num_records {
        let value = payload.refill();
        let sent_at = Instant::now();
        let sent_ms = usize::try_from(producer.context().millis(sent_at)).unwrap_or(usize::MAX);
        let mut record = BaseRecord::with_opaque_to(&args.topic, sent_ms).payload(value);
        loop {
            match producer.send::<[u8], [u8]>(record) {
                Ok(()) => break,
                // The local queue is full: serve delivery reports until there is room.
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                    record = r;
                    producer.poll(Duration::from_millis(10));
                }
                Err((e, _)) => return Err(format!("send: {e}")),
            }
        }
        // Serve delivery reports as they come, as the Java client's callbacks run.
        producer.poll(Duration::ZERO);
        if throttler.should_throttle(i, sent_at) {
            throttler.throttle();
        }
    }
    producer.flush(Duration::from_secs(300)).map_err(|e| format!("flush: {e}"))?;
    let end = Instant::now();
    if let Ok(mut stats) = producer.context().stats.lock() {
        stats.print_total(end);
    }
    let failed = producer.context().failed.lock().map(|f| f.count).unwrap_or(0);
    Ok(failed)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("rdkafka-perf: {failed} records failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rdkafka-perf: {e}");
            ExitCode::FAILURE
        }
    }
}
