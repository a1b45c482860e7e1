//! Issue 4's proof: the producer engine against a simulated cluster over thousands of seeds.
//! Each seed draws a cluster, a configuration, a workload and faults ([`sim::Scenario::random`])
//! and every run is checked against the properties of `sim/check.rs`.
//!
//! - `KPROD_SIM_SEEDS=N` runs N seeds (default 10,000), from `KPROD_SIM_FIRST` (default 0).
//! - `KPROD_SIM_SEED=S` replays seed S alone with a trace (add `-- --nocapture`).
//!
//! A longer run: `KPROD_SIM_SEEDS=1000000 cargo test --release -p kprod-core --test sim_properties`.
#![cfg(all(feature = "alloc", feature = "sasl", feature = "transactions"))] // seeds draw SASL and transactions

extern crate alloc;

mod sim;

use sim::{env_u64, group, replay_seed, run_seeds};

#[test]
fn random_seeds_keep_every_property() {
    if let Some(seed) = env_u64("KPROD_SIM_SEED") {
        let v = replay_seed(seed);
        assert!(v.is_empty(), "seed {seed} violates:\n{}", v.join("\n"));
        return;
    }
    let count = env_u64("KPROD_SIM_SEEDS").unwrap_or(10_000);
    let first = env_u64("KPROD_SIM_FIRST").unwrap_or(0);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
    let started = std::time::Instant::now();
    let report = run_seeds(first, count, threads);
    let s = report.summary;
    eprintln!(
        "sim: {count} seeds from {first} in {:.1?} on {threads} threads: {} passed ({} with faults), {} failed; \
         records: {} accepted, {} delivered, {} failed, {} given up; {} s of virtual time",
        started.elapsed(),
        s.runs,
        s.faulty,
        report.failures.len(),
        s.accepted,
        s.delivered,
        s.failed,
        s.refused,
        s.virtual_ms / 1000,
    );
    if report.failures.is_empty() {
        return;
    }
    let mut msg =
        format!("{} of {count} seeds failed. By kind (seeds, first seed's violations):\n", report.failures.len());
    for (kind, seeds, example) in group(&report.failures).iter().take(30) {
        let shown: Vec<String> = seeds.iter().take(8).map(u64::to_string).collect();
        msg += &format!(
            "\n== {kind}\n   {} seeds: {} ...\n   e.g. seed {}: {example}\n",
            seeds.len(),
            shown.join(", "),
            seeds[0]
        );
    }
    msg += "\nreplay one: KPROD_SIM_SEED=<seed> cargo test -p kprod-core --test sim_properties -- --nocapture\n";
    panic!("{msg}");
}
