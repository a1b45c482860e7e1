//! librdkafka's producer driven like Kafka's `ProducerPerformance`, for `scripts/bench.sh`.
//!
//! Same command line and output as the other peers (see `../common/perf.rs` and
//! `bench/peers/README.md`): a window line every 5 s and the final line `N records sent, X
//! records/sec (Y MB/sec), A ms avg latency, M ms max latency, P50 ms 50th, P95 ms 95th, P99 ms
//! 99th, P999 ms 99.9th.` The properties go to librdkafka unchanged (it knows most Java names:
//! acks, linger.ms, batch.size, enable.idempotence, compression.type, transactional.id, ...).
//!
//! Like `ProducerPerformance`: the latency of a record runs from just before `send` to its
//! delivery report, in whole milliseconds; percentiles come from at most 500,000 evenly sampled
//! latencies; the clock starts before the first send and stops once every record is delivered
//! (`flush`).

#[path = "../../common/perf.rs"]
mod perf;

use std::process::ExitCode;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use clap::Parser;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::util::get_rdkafka_version;
use rdkafka::ClientContext;

use perf::{Args, Records, Stats, Throttler, TxnClock};

/// Delivery reports arrive on the thread that calls `poll`/`flush` (ours); the lock is never
/// contended, it only makes the context `Sync` as rdkafka requires.
struct Context {
    origin: Instant,
    stats: Mutex<Stats>,
    failed: Mutex<u64>,
}

const MAX_PRINTED_FAILURES: u64 = 10;
/// How long a transaction call may take.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

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
            Ok(message) => {
                let latency = self.millis(now).saturating_sub(sent_ms as u64);
                let latency = u32::try_from(latency).unwrap_or(u32::MAX);
                // A poisoned lock means a panic elsewhere, which already ends the run.
                if let Ok(mut stats) = self.stats.lock() {
                    stats.record(latency, message.payload_len() as u64, now);
                }
            }
            Err((error, _)) => {
                if let Ok(mut failed) = self.failed.lock() {
                    *failed += 1;
                    if *failed <= MAX_PRINTED_FAILURES {
                        eprintln!("delivery failed: {error}");
                    }
                }
            }
        }
    }
}

fn config(args: &Args) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::new();
    for (name, value) in args.props()? {
        config.set(name, value);
    }
    if config.get("client.id").is_none() {
        config.set("client.id", "perf-producer-client");
    }
    if let Some((id, _)) = args.transactions() {
        config.set("transactional.id", id);
    }
    Ok(config)
}

fn run(args: &Args) -> Result<u64, String> {
    args.check()?;
    let (version_int, version) = get_rdkafka_version();
    println!("librdkafka version: {version} (0x{version_int:08x})");
    let origin = Instant::now();
    let context = Context { origin, stats: Mutex::new(Stats::new(args.num_records, origin)), failed: Mutex::new(0) };
    let producer: BaseProducer<Context> =
        config(args)?.create_with_context(context).map_err(|e| format!("producer: {e}"))?;
    let txn = args.transactions().map(|(_, every)| every);
    if txn.is_some() {
        producer.init_transactions(TXN_TIMEOUT).map_err(|e| format!("init_transactions: {e}"))?;
    }
    let mut records = Records::new(args)?;
    let start = Instant::now();
    if let Ok(mut stats) = producer.context().stats.lock() {
        *stats = Stats::new(args.num_records, start);
    }
    let mut throttler = Throttler::new(args.throughput, start);
    let mut txn = TxnClock::new(txn);
    for i in 0..args.num_records {
        if txn.begin() {
            producer.begin_transaction().map_err(|e| format!("begin_transaction: {e}"))?;
        }
        let next = records.next(i);
        let sent_at = Instant::now();
        let sent_ms = usize::try_from(producer.context().millis(sent_at)).unwrap_or(usize::MAX);
        let mut record = BaseRecord::with_opaque_to(next.topic, sent_ms).payload(next.value);
        if let Some(key) = next.key {
            record = record.key(key);
        }
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
        if txn.commit_after(sent_at) {
            producer.commit_transaction(TXN_TIMEOUT).map_err(|e| format!("commit_transaction: {e}"))?;
        }
        if throttler.should_throttle(i, sent_at) {
            if let Some(sleep) = throttler.throttle() {
                std::thread::sleep(sleep);
            }
        }
    }
    if txn.commit_at_end() {
        producer.commit_transaction(TXN_TIMEOUT).map_err(|e| format!("commit_transaction: {e}"))?;
    }
    producer.flush(Duration::from_secs(300)).map_err(|e| format!("flush: {e}"))?;
    let end = Instant::now();
    if let Ok(mut stats) = producer.context().stats.lock() {
        stats.print_total(end);
    }
    let failed = producer.context().failed.lock().map(|f| *f).unwrap_or(0);
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
