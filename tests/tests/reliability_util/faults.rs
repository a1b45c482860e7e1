//! The faults each scenario injects while the workload runs, in rounds: a minimum number of
//! rounds, then more until the workload stops.

use core::sync::atomic::{AtomicBool, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::time::Instant;

use kprod_fault_proxy::Direction;

use super::cluster::{ProxiedCluster, NODES};

/// The producers' `request.timeout.ms` in the scenarios; a stall lasts longer than this.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `kill -9` the leader of a partition, restart it, wait for the ISR to fill.
    KillLeader,
    /// Reset every connection through every proxy.
    Reset,
    /// Stall the connections of one partition's leader for longer than the request timeout.
    Stall,
    /// Cut a connection in the middle of a frame, alternating directions and proxies.
    Cut,
    /// Flip one byte inside the next request through a proxy (a record batch then fails its
    /// CRC check on the broker: CORRUPT_MESSAGE for that batch alone), alternating proxies.
    Corrupt,
    /// Stop (SIGTERM) and restart each node in turn.
    RollingRestart,
    /// Move a partition's leader by reassignment and preferred election.
    Reassign,
}

impl Fault {
    /// Every fault, in the order the scenarios run.
    pub const ALL: [Self; 7] =
        [Self::KillLeader, Self::Reset, Self::Stall, Self::Cut, Self::Corrupt, Self::RollingRestart, Self::Reassign];

    /// The scenario name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::KillLeader => "kill",
            Self::Reset => "reset",
            Self::Stall => "stall",
            Self::Cut => "cut",
            Self::Corrupt => "corrupt",
            Self::RollingRestart => "rolling",
            Self::Reassign => "reassign",
        }
    }

    /// Minimum rounds, and the pause before each, for the short (CI) and long runs.
    pub const fn schedule(self, long: bool) -> (usize, Duration) {
        let (short, long_rounds, pause_ms) = match self {
            Self::KillLeader => (1, 3, 10_000),
            Self::Reset => (4, 20, 3_000),
            Self::Stall => (1, 3, 5_000),
            Self::Cut => (8, 60, 1_000),
            Self::Corrupt => (8, 60, 1_000),
            Self::RollingRestart => (1, 3, 3_000),
            Self::Reassign => (3, 12, 4_000),
        };
        let pause = if long { pause_ms } else { pause_ms / 2 };
        (if long { long_rounds } else { short }, Duration::from_millis(pause))
    }
}

/// Sleeps `d`, or less once `stop` is set (checked every 100 ms).
fn nap(d: Duration, stop: &AtomicBool) {
    let t0 = Instant::now();
    while t0.elapsed() < d && !stop.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(100).min(d));
    }
}

/// Sets `done` when dropped, so the workload stops even if a fault panics.
struct Done<'a>(&'a AtomicBool);

impl Drop for Done<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

/// Injects `fault` on `topic` in rounds until at least the scheduled rounds ran (then sets
/// `done`) and `stop` is set. Each round is logged in `log`.
pub fn run(
    c: &ProxiedCluster,
    topic: &str,
    fault: Fault,
    long: bool,
    done: &AtomicBool,
    stop: &AtomicBool,
    log: &Mutex<Vec<String>>,
) {
    let _done = Done(done);
    let (rounds, pause) = fault.schedule(long);
    let t0 = Instant::now();
    for round in 0.. {
        if round >= rounds {
            done.store(true, Ordering::Release);
            if stop.load(Ordering::Acquire) {
                return;
            }
        }
        nap(pause, stop);
        if round >= rounds && stop.load(Ordering::Acquire) {
            return;
        }
        let line = one_round(c, topic, fault, round);
        log.lock().expect("not poisoned").push(format!("{:.1}s {line}", t0.elapsed().as_secs_f64()));
    }
}

/// The leader of partition `p` of `topic` (waiting while it has none).
fn leader(c: &ProxiedCluster, topic: &str, p: usize) -> i32 {
    for _ in 0..120 {
        let l = c.describe(topic).partitions.get(p).map_or(-1, |d| d.leader);
        if l > 0 {
            return l;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("{topic}-{p} has no leader for a minute");
}

/// Stops node `node` (`kill -9`, or SIGTERM), starts it again and waits for `topic`'s ISR to
/// fill; returns the seconds that took and whether the ISR filled.
fn bounce(c: &ProxiedCluster, topic: &str, node: i32, kill: bool) -> (f64, bool) {
    let t = Instant::now();
    if kill {
        c.kill(node);
        std::thread::sleep(Duration::from_secs(2));
    } else {
        c.stop(node);
    }
    c.start_node(node);
    let full = c.wait_full_isr(topic, Duration::from_secs(120));
    (t.elapsed().as_secs_f64(), full)
}

/// Injects one round of `fault` and says what it did.
pub fn one_round(c: &ProxiedCluster, topic: &str, fault: Fault, round: usize) -> String {
    let partitions = || c.describe(topic).partitions.len().max(1);
    match fault {
        Fault::KillLeader => {
            let p = round % partitions();
            let node = leader(c, topic, p);
            let (took, full) = bounce(c, topic, node, true);
            format!("kill -9 node {node} (leader of p{p}), back in {took:.1}s, ISR full: {full}")
        }
        Fault::Reset => {
            let before: u64 = c.proxies.iter().map(|p| p.stats().reset).sum();
            c.proxies.iter().for_each(kprod_fault_proxy::Proxy::reset);
            std::thread::sleep(Duration::from_millis(50));
            let after: u64 = c.proxies.iter().map(|p| p.stats().reset).sum();
            format!("reset all proxies ({} connections)", after - before)
        }
        Fault::Stall => {
            let p = round % partitions();
            let node = leader(c, topic, p);
            let d = REQUEST_TIMEOUT + Duration::from_secs(3);
            c.proxies[node as usize - 1].stall(d);
            std::thread::sleep(d);
            format!("stalled node {node} (leader of p{p}) for {d:?}")
        }
        Fault::Cut => {
            let proxy = round % NODES;
            let dir = if (round / NODES) % 2 == 0 { Direction::ToClient } else { Direction::ToBroker };
            let before = c.proxies[proxy].stats().cut;
            c.proxies[proxy].cut_mid_frame(dir);
            std::thread::sleep(Duration::from_millis(300));
            let cut = c.proxies[proxy].stats().cut - before;
            format!("cut {dir:?} at node {} ({cut} cut so far)", proxy + 1)
        }
        Fault::Corrupt => {
            let proxy = round % NODES;
            let before = c.proxies[proxy].stats().corrupted;
            c.proxies[proxy].corrupt_frame(Direction::ToBroker);
            std::thread::sleep(Duration::from_millis(300));
            let n = c.proxies[proxy].stats().corrupted - before;
            format!("corrupted a request to node {} ({n} so far)", proxy + 1)
        }
        Fault::RollingRestart => {
            let node = (round % NODES) as i32 + 1;
            let (took, full) = bounce(c, topic, node, false);
            format!("restarted node {node} in {took:.1}s, ISR full: {full}")
        }
        Fault::Reassign => {
            let p = round % partitions();
            let from = leader(c, topic, p);
            let to = from % NODES as i32 + 1;
            c.move_leader(topic, p as i32, to)
        }
    }
}
