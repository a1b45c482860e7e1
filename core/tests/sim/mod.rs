//! A deterministic simulated Kafka cluster for the sans-IO producer engine (issue 4).
//!
//! - [`cluster`] and [`broker`]: brokers, topics, leaders with epochs, partition logs with
//!   Kafka 4.x idempotence, and the request handling (ApiVersions, Metadata, InitProducerId,
//!   Produce with acks 0/1/all) over kprod's broker-side codecs.
//! - [`coordinator`] and [`txn`]: the transaction and group coordinator (FindCoordinator,
//!   InitProducerId with a transactional id, AddPartitionsToTxn, AddOffsetsToTxn,
//!   TxnOffsetCommit, EndTxn with markers in the logs, both flows), the transactional
//!   application, and the read_committed properties.
//! - [`net`]: TCP-like byte streams per connection with delays, split and joined reads, drops.
//! - [`scenario`]: configuration, workload and faults, by hand or drawn from a seed.
//! - [`driver`]: [`driver::Sim`] drives the engine in virtual time (quinn-proto's
//!   `Pair::drive`), as an application would: `send` with retries up to `max.block.ms`, `flush`,
//!   `close`.
//! - [`check`]: the properties checked after each run.
//! - [`wake`]: timer wake-ups that got nothing done, and what their deadline was.
//!
//! Everything random comes from the seed, so a failing seed replays exactly:
//! `KPROD_SIM_SEED=<seed> cargo test -p kprod-core --test sim_properties -- --nocapture`.
//! See `README.md` beside this file.
// Each test binary uses a different part of the harness, and its items are `pub` for those
// binaries rather than for a crate API.
#![allow(dead_code, unreachable_pub)]

pub mod broker;
pub mod check;
pub mod cluster;
pub mod coordinator;
pub mod driver;
pub mod net;
pub mod rng;
pub mod sasl;
pub mod scenario;
pub mod txn;
pub mod wake;

use core::cell::{Cell, RefCell};
use core::panic::AssertUnwindSafe;
use std::panic::catch_unwind;
use std::sync::Once;

#[allow(unused_imports)]
pub use driver::{Fate, Phase, ResponseCtx, Sim};
#[allow(unused_imports)]
pub use scenario::{Faults, Planned, Scenario};

/// What one run amounted to.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Runs.
    pub runs: u64,
    /// Runs with faults.
    pub faulty: u64,
    /// Records accepted by `send`.
    pub accepted: u64,
    /// Records delivered.
    pub delivered: u64,
    /// Records failed.
    pub failed: u64,
    /// Records the application gave up on (`max.block.ms`).
    pub refused: u64,
    /// Virtual time simulated, ms.
    pub virtual_ms: u64,
}

impl Summary {
    fn of(sim: &Sim) -> Self {
        let (mut delivered, mut failed) = (0, 0);
        for c in sim.out.completions.values() {
            *if c.result.is_ok() { &mut delivered } else { &mut failed } += u64::from(c.records);
        }
        Self {
            runs: 1,
            faulty: u64::from(sim.sc.faults.any()),
            accepted: sim.out.accepted.len() as u64,
            delivered,
            failed,
            refused: sim.out.refused.len() as u64,
            virtual_ms: sim.out.ended.as_millis(),
        }
    }

    /// Adds another summary.
    pub fn add(&mut self, o: &Self) {
        self.runs += o.runs;
        self.faulty += o.faulty;
        self.accepted += o.accepted;
        self.delivered += o.delivered;
        self.failed += o.failed;
        self.refused += o.refused;
        self.virtual_ms += o.virtual_ms;
    }
}

/// Runs a prepared simulation and checks it; the violations (empty when all is well).
pub fn run_sim(sim: &mut Sim) -> Vec<String> {
    sim.run();
    check::check(sim)
}

/// A simulation of `sc`, traced (scenario first) if `KPROD_SIM_TRACE` is set: the targeted
/// scenarios' builder.
pub fn traced(sc: Scenario) -> Sim {
    let mut sim = Sim::new(sc);
    sim.trace = std::env::var_os("KPROD_SIM_TRACE").is_some();
    sim.cluster.trace = sim.trace;
    if sim.trace {
        eprint!("{}", sim.sc.describe());
    }
    sim
}

/// Runs `sc` with tracing on or off; panics are left to the caller.
pub fn run_scenario(sc: Scenario, trace: bool) -> (Sim, Vec<String>) {
    let mut sim = Sim::new(sc);
    sim.trace = trace;
    sim.cluster.trace = trace;
    if trace {
        eprint!("{}", sim.sc.describe());
    }
    let v = run_sim(&mut sim);
    (sim, v)
}

thread_local! {
    static CAPTURING: Cell<bool> = const { Cell::new(false) };
    static PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Routes panics of threads that run seeds into [`PANIC`] (message and location) instead of
/// stderr; other threads keep the default hook.
fn install_panic_capture() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CAPTURING.with(Cell::get) {
                PANIC.with(|p| *p.borrow_mut() = Some(info.to_string().replace('\n', " ")));
            } else {
                previous(info);
            }
        }));
    });
}

/// Runs seed `seed` of [`Scenario::random`]: its summary, or the violations (a panic is one).
pub fn run_seed(seed: u64) -> Result<Summary, Vec<String>> {
    install_panic_capture();
    CAPTURING.with(|c| c.set(true));
    let result = catch_unwind(AssertUnwindSafe(|| {
        let mut sim = Sim::new(Scenario::random(seed));
        let v = run_sim(&mut sim);
        if v.is_empty() {
            Ok(Summary::of(&sim))
        } else {
            Err(v)
        }
    }));
    CAPTURING.with(|c| c.set(false));
    result
        .unwrap_or_else(|_| Err(vec![format!("panic: {}", PANIC.with(|p| p.borrow_mut().take()).unwrap_or_default())]))
}

/// Replays one seed with a trace on stderr and returns its violations.
pub fn replay_seed(seed: u64) -> Vec<String> {
    let (sim, v) = run_scenario(Scenario::random(seed), true);
    eprintln!("seed {seed}: {:?}", Summary::of(&sim));
    v
}

/// The failures of a batch of seeds.
#[derive(Debug, Default)]
pub struct SeedReport {
    /// Totals over the passing seeds.
    pub summary: Summary,
    /// Failing seeds and their violations.
    pub failures: Vec<(u64, Vec<String>)>,
}

/// Runs seeds `first..first + count` on `threads` threads.
pub fn run_seeds(first: u64, count: u64, threads: u64) -> SeedReport {
    let threads = threads.max(1);
    let reports: Vec<SeedReport> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                s.spawn(move || {
                    let mut r = SeedReport::default();
                    for seed in (first + k..first + count).step_by(threads as usize) {
                        match run_seed(seed) {
                            Ok(sum) => r.summary.add(&sum),
                            Err(v) => r.failures.push((seed, v)),
                        }
                    }
                    r
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("seed threads catch their panics")).collect()
    });
    let mut all = SeedReport::default();
    for r in reports {
        all.summary.add(&r.summary);
        all.failures.extend(r.failures);
    }
    all.failures.sort_by_key(|f| f.0);
    all
}

/// A violation with its numbers blanked, so failures of one kind group together.
pub fn kind(violation: &str) -> String {
    let text = violation.split_once("µs: ").map_or(violation, |(_, rest)| rest);
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !out.ends_with('N') {
                out.push('N');
            }
        } else {
            out.push(c);
        }
    }
    out.split('[').next().unwrap_or_default().chars().take(120).collect()
}

/// The failures grouped by kind: (kind, seeds, an example). A seed counts in every kind it
/// shows, so one bug does not hide another.
pub fn group(failures: &[(u64, Vec<String>)]) -> Vec<(String, Vec<u64>, String)> {
    let mut groups: Vec<(String, Vec<u64>, String)> = Vec::new();
    for (seed, v) in failures {
        for line in v {
            let k = kind(line);
            match groups.iter_mut().find(|g| g.0 == k) {
                Some(g) if g.1.last() == Some(seed) => {}
                Some(g) => g.1.push(*seed),
                None => groups.push((k, vec![*seed], line.clone())),
            }
        }
    }
    groups.sort_by_key(|g| core::cmp::Reverse(g.1.len()));
    groups
}

/// A number from the environment, or `default`.
pub fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.trim().parse().ok())
}
