//! Produces through the tokio driver (`kprod_std::AsyncProducer`) at a fixed rate, to measure
//! that driver's syscalls and CPU (`kprod perf` and `scripts/bench.sh` use the blocking one):
//!
//! ```text
//! cargo build --release -p kprod-bench --example tokio_rate
//! perf stat -e task-clock,syscalls:sys_enter_recvfrom -- \
//!     target/release/examples/tokio_rate TOPIC 250000 1024 50000 [bootstrap]
//! ```
//!
//! Arguments: topic, records, record size in bytes, records per second (0: as fast as it
//! goes), bootstrap servers (default `127.0.0.1:9092`). acks=all, linger.ms=5, one
//! current-thread runtime; the rate is kept in steps of 100 records. It prints the records and
//! the elapsed time, and fails on the first failed delivery.

use core::time::Duration;
use std::process::ExitCode;
use std::time::Instant;

use kprod_std::{AsyncProducer, ProducerConfig, Record};

/// Records between two checks of the rate.
const STEP: u64 = 100;
/// Deliveries awaited at once at most (bounds the futures kept).
const WINDOW: usize = 10_000;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(topic), Some(Ok(records)), Some(Ok(size)), Some(Ok(rate))) = (
        args.first(),
        args.get(1).map(|a| a.parse::<u64>()),
        args.get(2).map(|a| a.parse::<usize>()),
        args.get(3).map(|a| a.parse::<u64>()),
    ) else {
        eprintln!("usage: tokio_rate TOPIC RECORDS RECORD_SIZE RATE [BOOTSTRAP]");
        return ExitCode::from(2);
    };
    let bootstrap = args.get(4).map_or("127.0.0.1:9092", String::as_str);
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("tokio_rate: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(produce(bootstrap, topic, records, size, rate)) {
        Ok(elapsed) => {
            println!("{records} records of {size} B in {:.3} s", elapsed.as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("tokio_rate: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn produce(
    bootstrap: &str,
    topic: &str,
    records: u64,
    size: usize,
    rate: u64,
) -> Result<Duration, kprod_std::Error> {
    let config = ProducerConfig::new(bootstrap)?.set("acks", "all")?.set("linger.ms", "5")?;
    let producer = AsyncProducer::new(config)?;
    let value = vec![b'x'; size];
    let start = Instant::now();
    let mut pending = Vec::with_capacity(WINDOW);
    for i in 0..records {
        if rate > 0 && i % STEP == 0 {
            let due = start + Duration::from_secs_f64(i as f64 / rate as f64);
            tokio::time::sleep_until(due.into()).await;
        }
        let record =
            Record { topic, partition: None, key: None, value: Some(value.as_slice()), headers: &[], timestamp: None };
        pending.push(producer.enqueue(&record).await?);
        if pending.len() == WINDOW {
            for delivery in pending.drain(..) {
                delivery.await?;
            }
        }
    }
    for delivery in pending {
        delivery.await?;
    }
    producer.close(Duration::from_secs(30)).await?;
    Ok(start.elapsed())
}
