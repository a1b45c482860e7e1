//! The independent read-back (`verify.py consume --stream`: kafka-python, no kprod code) and
//! what it shows about each record against what the producer reported.

use alloc::collections::BTreeMap;
use core::sync::atomic::Ordering;
use core::time::Duration;
use std::collections::HashMap;
use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use base64::Engine as _;
use kprod_tests::repo_root;
use serde::{Deserialize, Serialize};

use super::workload::{self, Outcomes, DELIVERED, FAILED_FINAL, FAILED_RETRIABLE, PENDING, REFUSED, UNSENT};

/// One record as read back, reduced to what the audit needs.
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub partition: i32,
    pub offset: i64,
    /// The record number, or `None` for a record this test did not write.
    pub number: Option<usize>,
    /// Whether its key is the one its number gets.
    pub key_ok: bool,
}

#[derive(Deserialize)]
struct Line {
    partition: i32,
    offset: i64,
    key: Option<String>,
    value: Option<String>,
}

/// Reads every partition of `topic` through the verifier until `count` records arrived, then
/// 3 s more (so duplicates and records reported failed show), in (partition, offset) order.
pub fn read_back(bootstrap: &str, topic: &str, count: usize) -> Vec<Seen> {
    let timeout = 120 + count / 5_000;
    let mut child = Command::new("bash")
        .arg(repo_root().join("tests/broker/kafka.sh"))
        .args(["verify", "consume", "--bootstrap", bootstrap, "--topic", topic, "--stream"])
        .args(["--count", &count.to_string(), "--timeout", &timeout.to_string(), "--extra-wait", "3"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("run verify.py consume");
    let b64 = base64::engine::general_purpose::STANDARD;
    let decode = |s: Option<String>| s.and_then(|s| b64.decode(s).ok());
    let mut seen = Vec::with_capacity(count + count / 10);
    for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
        let line = line.expect("verifier output");
        let l: Line = serde_json::from_str(&line).unwrap_or_else(|e| panic!("verifier line {line:?}: {e}"));
        let number = decode(l.value).as_deref().and_then(workload::number);
        let key_ok = number.is_some_and(|n| decode(l.key) == Some(workload::key(n).into_bytes()));
        seen.push(Seen { partition: l.partition, offset: l.offset, number, key_ok });
    }
    let status = child.wait().expect("verifier");
    assert!(status.success() || seen.len() < count, "verify.py consume: {status}");
    seen.sort_by_key(|s| (s.partition, s.offset));
    seen
}

/// What one scenario run shows.
#[derive(Debug, Default, Clone, Serialize)]
pub struct Audit {
    pub sent: usize,
    pub refused: usize,
    pub delivered: usize,
    pub failed_retriable: usize,
    pub failed_final: usize,
    /// Accepted records with no completion, and records with more than one.
    pub never_completed: usize,
    pub completed_twice: usize,
    pub read: usize,
    /// Reported delivered, not in the log.
    pub lost: usize,
    /// Reported delivered at a place that holds something else.
    pub misplaced: usize,
    /// Extra copies in the log, of any record and of delivered ones.
    pub duplicated: usize,
    pub delivered_duplicated: usize,
    /// Records that follow a higher number of the same key in the log, of any record and among
    /// delivered ones.
    pub reordered: usize,
    pub delivered_reordered: usize,
    /// Reported failed, yet in the log: allowed for retriable failures (the write may have
    /// happened before the timeout), a violation for final ones.
    pub failed_present: usize,
    pub failed_final_present: usize,
    /// Records this test did not write, or under the wrong key, or refused yet present.
    pub foreign: usize,
    pub failures: BTreeMap<String, usize>,
    pub refusals: BTreeMap<String, usize>,
}

impl Audit {
    /// The promises kprod makes whatever the settings: exactly one completion per accepted
    /// record, every delivered record in the log where reported, nothing failed finally or
    /// refused in the log.
    pub fn violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        for (n, what) in [
            (self.never_completed, "accepted records without a completion"),
            (self.completed_twice, "records completed more than once"),
            (self.lost, "delivered records missing from the log"),
            (self.misplaced, "delivered records not at their reported offset"),
            (self.failed_final_present, "records failed with a non-retriable error yet in the log"),
            (self.foreign, "records in the log this test did not send (or under the wrong key)"),
        ] {
            if n > 0 {
                v.push(format!("{n} {what}"));
            }
        }
        v
    }

    /// [`Audit::violations`] plus what idempotence promises: no duplicate and no reordering
    /// among delivered records.
    pub fn idempotence_violations(&self) -> Vec<String> {
        let mut v = self.violations();
        if self.delivered_duplicated > 0 {
            v.push(format!("{} duplicates of delivered records", self.delivered_duplicated));
        }
        if self.delivered_reordered > 0 {
            v.push(format!("{} delivered records out of order within their key", self.delivered_reordered));
        }
        v
    }
}

/// Compares the read-back with the outcomes of the first `n` records.
pub fn audit(o: &Outcomes, n: usize, seen: &[Seen]) -> Audit {
    let tally = o.tally(n);
    let mut a = Audit {
        sent: n,
        refused: tally[usize::from(REFUSED)],
        delivered: tally[usize::from(DELIVERED)],
        failed_retriable: tally[usize::from(FAILED_RETRIABLE)],
        failed_final: tally[usize::from(FAILED_FINAL)],
        never_completed: tally[usize::from(PENDING)] + tally[usize::from(UNSENT)],
        read: seen.len(),
        failures: o.failures.lock().expect("not poisoned").clone(),
        refusals: o.refusals.lock().expect("not poisoned").clone(),
        ..Audit::default()
    };
    let state = |i: usize| o.state[i].load(Ordering::Acquire);
    a.completed_twice = (0..n)
        .filter(|&i| {
            let c = o.completions[i].load(Ordering::Acquire);
            c > 1 || (c == 1 && state(i) == REFUSED)
        })
        .count();
    let mut copies = vec![0u32; n];
    let mut at: HashMap<(i32, i64), usize> = HashMap::with_capacity(seen.len());
    // The highest number seen so far per (partition, key), over all records and delivered ones.
    let mut top_all: HashMap<(i32, usize), usize> = HashMap::new();
    let mut top_delivered: HashMap<(i32, usize), usize> = HashMap::new();
    for s in seen {
        let Some(i) = s.number.filter(|&i| i < n && s.key_ok && state(i) != REFUSED) else {
            a.foreign += 1;
            continue;
        };
        at.insert((s.partition, s.offset), i);
        copies[i] += 1;
        let delivered = state(i) == DELIVERED;
        if copies[i] > 1 {
            a.duplicated += 1;
            a.delivered_duplicated += usize::from(delivered);
            continue;
        }
        let slot = (s.partition, i % workload::KEYS);
        let top = top_all.entry(slot).or_insert(i);
        a.reordered += usize::from(i < *top);
        *top = (*top).max(i);
        if delivered {
            let top = top_delivered.entry(slot).or_insert(i);
            a.delivered_reordered += usize::from(i < *top);
            *top = (*top).max(i);
        }
    }
    for (i, &copies) in copies.iter().enumerate() {
        match state(i) {
            DELIVERED if copies == 0 => a.lost += 1,
            DELIVERED if at.get(&o.place(i)) != Some(&i) => a.misplaced += 1,
            FAILED_RETRIABLE if copies > 0 => a.failed_present += 1,
            FAILED_FINAL if copies > 0 => {
                a.failed_present += 1;
                a.failed_final_present += 1;
            }
            _ => {}
        }
    }
    a
}

/// Waits for the completions of the first `n` records (up to `limit`), reads the topic back and
/// audits it.
pub fn read_and_audit(o: &Outcomes, n: usize, bootstrap: &str, topic: &str, limit: Duration) -> Audit {
    o.wait_completions(n, limit);
    let tally = o.tally(n);
    let expect = tally[usize::from(DELIVERED)];
    let seen = read_back(bootstrap, topic, expect);
    audit(o, n, &seen)
}
