//! Confluent's Rust client (the `confluent-kafka` crate, a translation of the Java client on
//! tokio) driven like Kafka's `ProducerPerformance`, for `scripts/bench.sh`.
//!
//! Same command line and output as the other peers (see `../common/perf.rs` and
//! `bench/peers/README.md`). The properties go to `ProducerConfig` unchanged: the crate takes
//! the Java client's names and refuses an unknown one.
//!
//! As in `ProducerPerformance`: `send` with a callback per record (the crate's zero-copy
//! `send(ProducerRecord<&[u8], &[u8]>)`, which waits only while `buffer.memory` is full); the
//! latency of a record runs from just before `send` to its callback, in whole milliseconds;
//! the clock stops once every record is acknowledged (`flush`), then the producer is closed.
//! The runtime is tokio's default multi-thread one (a worker per core), where the crate runs
//! its sender task.

#[path = "../../common/perf.rs"]
mod perf;

use std::collections::HashMap;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use confluent_kafka::common::serialization::ByteArraySerializer;
use confluent_kafka::producer::{KafkaProducer, Producer, ProducerConfig, ProducerRecord, RecordMetadata};

use perf::{Args, Records, Stats, Throttler, TxnClock};

/// What the callbacks update, shared with the send loop.
struct Shared {
    origin: Instant,
    stats: Mutex<Stats>,
    failed: Mutex<u64>,
}

const MAX_PRINTED_FAILURES: u64 = 10;

impl Shared {
    /// Whole milliseconds since the origin, as `System.currentTimeMillis()` differences are.
    fn millis(&self, at: Instant) -> u64 {
        u64::try_from(at.duration_since(self.origin).as_millis()).unwrap_or(u64::MAX)
    }

    fn complete(&self, sent_ms: u64, bytes: u64, metadata: Option<&RecordMetadata>, error: Option<String>) {
        let now = Instant::now();
        match (metadata, error) {
            (Some(_), None) => {
                let latency = u32::try_from(self.millis(now).saturating_sub(sent_ms)).unwrap_or(u32::MAX);
                // A poisoned lock means a panic elsewhere, which already ends the run.
                if let Ok(mut stats) = self.stats.lock() {
                    stats.record(latency, bytes, now);
                }
            }
            (_, error) => {
                if let Ok(mut failed) = self.failed.lock() {
                    *failed += 1;
                    if *failed <= MAX_PRINTED_FAILURES {
                        eprintln!("delivery failed: {}", error.unwrap_or_else(|| "no metadata".into()));
                    }
                }
            }
        }
    }
}

fn config(args: &Args) -> Result<ProducerConfig, String> {
    let mut props: HashMap<String, String> = args.props()?.into_iter().collect();
    props.entry("client.id".into()).or_insert_with(|| "perf-producer-client".into());
    if let Some((id, _)) = args.transactions() {
        props.insert("transactional.id".into(), id);
    }
    ProducerConfig::new(&props).map_err(|e| format!("config: {e}"))
}

async fn run(args: &Args) -> Result<u64, String> {
    args.check()?;
    println!("confluent-kafka version: {} (Rust crate)", env!("CONFLUENT_KAFKA_VERSION"));
    let producer: KafkaProducer<Vec<u8>, Vec<u8>> =
        KafkaProducer::new(config(args)?, ByteArraySerializer::new(), ByteArraySerializer::new())
            .map_err(|e| format!("producer: {e}"))?;
    let result = produce(args, &producer).await;
    producer.close().await.map_err(|e| format!("close: {e}"))?;
    result
}

async fn produce(args: &Args, producer: &KafkaProducer<Vec<u8>, Vec<u8>>) -> Result<u64, String> {
    let txn = args.transactions().map(|(_, every)| every);
    if txn.is_some() {
        producer.init_transactions().await.map_err(|e| format!("init_transactions: {e}"))?;
    }
    let mut records = Records::new(args)?;
    let start = Instant::now();
    let shared = Arc::new(Shared {
        origin: start,
        stats: Mutex::new(Stats::new(args.num_records, start)),
        failed: Mutex::new(0),
    });
    let mut throttler = Throttler::new(args.throughput, start);
    let mut txn = TxnClock::new(txn);
    for i in 0..args.num_records {
        if txn.begin() {
            producer.begin_transaction().map_err(|e| format!("begin_transaction: {e}"))?;
        }
        let next = records.next(i);
        let sent_at = Instant::now();
        let sent_ms = shared.millis(sent_at);
        let bytes = next.value.len() as u64;
        let record = ProducerRecord::with_key(next.topic.to_string(), next.key, Some(next.value));
        let s = Arc::clone(&shared);
        let callback = move |metadata: Option<&RecordMetadata>, error: Option<&confluent_kafka::common::Error>| {
            s.complete(sent_ms, bytes, metadata, error.map(ToString::to_string));
        };
        // The returned future resolves with the callback; the callback is enough here.
        let _future = producer.send(record, Some(Box::new(callback))).await.map_err(|e| format!("record {i}: {e}"))?;
        if txn.commit_after(sent_at) {
            producer.commit_transaction().await.map_err(|e| format!("commit_transaction: {e}"))?;
        }
        if throttler.should_throttle(i, sent_at) {
            if let Some(sleep) = throttler.throttle() {
                tokio::time::sleep(sleep).await;
            }
        }
    }
    if txn.commit_at_end() {
        producer.commit_transaction().await.map_err(|e| format!("commit_transaction: {e}"))?;
    }
    producer.flush().await.map_err(|e| format!("flush: {e}"))?;
    let end = Instant::now();
    if let Ok(mut stats) = shared.stats.lock() {
        stats.print_total(end);
    }
    let failed = shared.failed.lock().map(|f| *f).unwrap_or(0);
    Ok(failed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args).await {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("confluent-kafka-perf: {failed} records failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("confluent-kafka-perf: {e}");
            ExitCode::FAILURE
        }
    }
}
