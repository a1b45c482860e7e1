//! The scenarios' workload: keyed, numbered records sent through one blocking producer with a
//! delivery listener, and what became of each (accepted or refused by `send`, delivered where,
//! failed why, completed how many times, when).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::time::Instant;

use kprod_std::{Producer, Record};

/// Keys in rotation: record `i` has key `key-{i % KEYS}`, so each key's records are numbered in
/// send order and must appear in that order in their partition.
pub const KEYS: usize = 24;
/// Value size: the record number in 10 digits, then padding.
pub const VALUE_SIZE: usize = 100;

/// Not sent yet.
pub const UNSENT: u8 = 0;
/// Accepted by `send`, no completion yet.
pub const PENDING: u8 = 1;
/// Reported delivered.
pub const DELIVERED: u8 = 2;
/// Reported failed with an error that says the record may still have been written
/// (a delivery timeout or a retriable broker error).
pub const FAILED_RETRIABLE: u8 = 3;
/// Reported failed with a non-retriable error: it must not be in the log.
pub const FAILED_FINAL: u8 = 4;
/// `send` refused it (so it never got a completion).
pub const REFUSED: u8 = 5;

/// The key of record `i`.
pub fn key(i: usize) -> String {
    format!("key-{:02}", i % KEYS)
}

/// The value of record `i`.
pub fn value(i: usize) -> Vec<u8> {
    let mut v = format!("{i:010}-").into_bytes();
    v.resize(VALUE_SIZE, b'x');
    v
}

/// The record number in a value written by [`value`].
pub fn number(value: &[u8]) -> Option<usize> {
    core::str::from_utf8(value.get(..10)?).ok()?.parse().ok()
}

/// What became of each record, written by the sending thread and the delivery listener.
pub struct Outcomes {
    t0: Instant,
    /// One of the states above.
    pub state: Vec<AtomicU8>,
    /// Completions seen (must end at 1 for accepted records, 0 for refused ones).
    pub completions: Vec<AtomicU8>,
    /// Reported place: partition << 48 | offset.
    pub place: Vec<AtomicU64>,
    /// Microseconds from the start to the `send` call and to the completion.
    pub sent_us: Vec<AtomicU64>,
    pub done_us: Vec<AtomicU64>,
    /// Failure and refusal messages with their counts.
    pub failures: Mutex<BTreeMap<String, usize>>,
    pub refusals: Mutex<BTreeMap<String, usize>>,
    /// The longest a `send` call took (µs).
    pub longest_send_us: AtomicU64,
}

impl Outcomes {
    /// Room for `capacity` records.
    pub fn new(capacity: usize) -> Arc<Self> {
        let v8 = || (0..capacity).map(|_| AtomicU8::new(0)).collect();
        let v64 = || (0..capacity).map(|_| AtomicU64::new(0)).collect();
        Arc::new(Self {
            t0: Instant::now(),
            state: v8(),
            completions: v8(),
            place: v64(),
            sent_us: v64(),
            done_us: v64(),
            failures: Mutex::default(),
            refusals: Mutex::default(),
            longest_send_us: AtomicU64::new(0),
        })
    }

    fn now_us(&self) -> u64 {
        self.t0.elapsed().as_micros() as u64
    }

    /// Installs the delivery listener on `producer`.
    pub fn listen(self: &Arc<Self>, producer: &Producer) {
        let me = Arc::clone(self);
        producer
            .set_delivery_listener(move |tag, result| {
                let i = tag as usize;
                me.completions[i].fetch_add(1, Ordering::AcqRel);
                me.done_us[i].store(me.now_us(), Ordering::Release);
                let state = match result {
                    Ok(m) => {
                        me.place[i].store(u64::from(m.partition) << 48 | m.offset as u64, Ordering::Release);
                        DELIVERED
                    }
                    Err(e) => {
                        *me.failures.lock().expect("not poisoned").entry(e.to_string()).or_default() += 1;
                        if e.is_retriable() {
                            FAILED_RETRIABLE
                        } else {
                            FAILED_FINAL
                        }
                    }
                };
                me.state[i].store(state, Ordering::Release);
            })
            .expect("the first listener");
    }

    /// Reported (partition, offset) of record `i`.
    pub fn place(&self, i: usize) -> (i32, i64) {
        let p = self.place[i].load(Ordering::Acquire);
        ((p >> 48) as i32, (p & ((1 << 48) - 1)) as i64)
    }

    /// Counts of each state among the first `n` records.
    pub fn tally(&self, n: usize) -> [usize; 6] {
        let mut t = [0; 6];
        for s in &self.state[..n] {
            t[usize::from(s.load(Ordering::Acquire))] += 1;
        }
        t
    }

    /// Waits until every record sent so far has completed, or `limit` passes.
    pub fn wait_completions(&self, n: usize, limit: Duration) -> bool {
        let t0 = Instant::now();
        while self.tally(n)[usize::from(PENDING)] > 0 {
            if t0.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }
}

/// How the sending thread paces itself and when it stops.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    /// The first record number to send.
    pub first: usize,
    /// Records per second; `None` is as fast as `send` takes them.
    pub rate: Option<f64>,
    /// Send at least this many (and keep going until the faults are done).
    pub min_records: usize,
    /// Stop before this record number (at most the room in [`Outcomes`]).
    pub max_records: usize,
}

/// Sends records `pace.first`, ... to `topic` until `faults_done` is set and record
/// `pace.min_records` is reached (or `pace.max_records`); returns the next record number.
pub fn send_records(producer: &Producer, o: &Outcomes, topic: &str, pace: Pace, faults_done: &AtomicBool) -> usize {
    let started = Instant::now();
    let mut i = pace.first;
    while i < pace.max_records && !(i >= pace.min_records && faults_done.load(Ordering::Acquire)) {
        if let Some(rate) = pace.rate {
            let due = started + Duration::from_secs_f64((i - pace.first) as f64 / rate);
            if let Some(wait) = due.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        let (k, v) = (key(i), value(i));
        let record = Record::new(topic).key(k.as_bytes()).value(&v[..]);
        o.state[i].store(PENDING, Ordering::Release);
        let t = o.now_us();
        o.sent_us[i].store(t, Ordering::Release);
        let result = producer.send_tagged(&record, i as u64);
        o.longest_send_us.fetch_max(o.now_us() - t, Ordering::AcqRel);
        if let Err(e) = result {
            o.state[i].store(REFUSED, Ordering::Release);
            *o.refusals.lock().expect("not poisoned").entry(e.to_string()).or_default() += 1;
        }
        i += 1;
    }
    i
}

/// Peak and current resident memory of this process in KiB (`VmHWM`, `VmRSS`).
pub fn rss_kib() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}
