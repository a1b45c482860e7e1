//! A fixed, deterministic engine workload for instruction counts (`valgrind --tool=callgrind`,
//! repeatable on a loaded machine where wall-clock figures are not; see BENCHMARKS.md): one
//! partition, 1 KiB records all sent at once, `buffer.memory` 32 MiB of 16 KiB batches, so the
//! arena is full and about 2,000 batches are queued while the simulated broker answers, the
//! state a `kprod perf` run at full speed is in. The test itself checks that every record is
//! delivered; `KPROD_SIM_WORKLOAD_RECORDS` sets the record count (default 5,000; the figures in BENCHMARKS.md use 40,000).
#![cfg(feature = "alloc")]

extern crate alloc;

mod sim;

use core::time::Duration;

use kprod_core::producer::Capacities;
use kprod_core::time::Instant;

use sim::scenario::value_for;
use sim::{run_sim, Planned, Scenario, Sim};

#[test]
fn full_buffer_of_1_kib_records_is_delivered() {
    let n = sim::env_u64("KPROD_SIM_WORKLOAD_RECORDS").unwrap_or(5_000) as usize;
    let mut sc = Scenario::simple(1, 1, 0);
    sc.config.buffer_memory = 32 * 1024 * 1024;
    sc.config.batch_size = 16 * 1024;
    sc.config.linger = Duration::from_millis(5);
    sc.config.max_block = Duration::from_secs(60);
    sc.config.delivery_timeout = Duration::from_secs(120);
    sc.config.request_timeout = Duration::from_secs(30);
    sc.caps = Capacities { batches: 256, ..Capacities::default() };
    sc.close_timeout = Duration::from_secs(60);
    sc.records = (0..n)
        .map(|i| Planned {
            topic: "t0".into(),
            partition: Some(0),
            key: None,
            value: value_for(i, 1024 - 8),
            at: Instant::ZERO,
        })
        .collect();
    let mut sim = Sim::new(sc);
    let v = run_sim(&mut sim);
    assert!(v.is_empty(), "violates:\n{}", v.join("\n"));
    let delivered: u32 = sim.out.completions.values().filter(|c| c.result.is_ok()).map(|c| c.records).sum();
    assert_eq!(delivered as usize, n, "every record delivered");
}
