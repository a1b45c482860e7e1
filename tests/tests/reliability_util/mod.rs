//! The reliability tests' pieces: the proxied cluster, the workload, the audit, the faults and
//! the report.
#![allow(dead_code, unreachable_pub)]

pub mod audit;
pub mod cluster;
pub mod faults;
pub mod workload;

use alloc::collections::BTreeMap;
use std::io::Write as _;

use kprod_tests::repo_root;
use serde::Serialize;

pub use audit::Audit;

/// One scenario's figures: printed, and appended as a JSON line to
/// `target/reliability/report.jsonl`.
#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub scenario: String,
    pub mode: &'static str,
    pub idempotent: bool,
    pub topic: String,
    /// Seconds spent sending (faults running), and records accepted per second.
    pub send_seconds: f64,
    pub rate: f64,
    pub faults: Vec<String>,
    pub audit: Option<Audit>,
    /// Scenario-specific figures (peak RSS, lateness, ...).
    pub figures: BTreeMap<String, String>,
    pub violations: Vec<String>,
}

impl Report {
    /// Prints the report and appends it to the JSON lines file.
    pub fn publish(&self) {
        let mut s = format!(
            "\n=== reliability {} ({}, {}): {:.1} s of sending, {:.0} records/s\n",
            self.scenario,
            self.mode,
            if self.idempotent { "idempotent, acks=all" } else { "not idempotent, acks=1, 5 in flight" },
            self.send_seconds,
            self.rate
        );
        if let Some(a) = &self.audit {
            s += &format!(
                "  sent {} refused {} delivered {} failed {} (final {}) | read back {}\n",
                a.sent,
                a.refused,
                a.delivered,
                a.failed_retriable + a.failed_final,
                a.failed_final,
                a.read
            );
            s += &format!(
                "  lost {} misplaced {} | duplicated {} (of delivered {}) | reordered {} (of delivered {}) | \
                 failed yet present {} (final {}) | completions: none {} twice {}\n",
                a.lost,
                a.misplaced,
                a.duplicated,
                a.delivered_duplicated,
                a.reordered,
                a.delivered_reordered,
                a.failed_present,
                a.failed_final_present,
                a.never_completed,
                a.completed_twice
            );
            for (why, n) in &a.failures {
                s += &format!("  failed x{n}: {why}\n");
            }
            for (why, n) in &a.refusals {
                s += &format!("  refused by send x{n}: {why}\n");
            }
        }
        for (k, v) in &self.figures {
            s += &format!("  {k}: {v}\n");
        }
        s += &format!("  faults ({}): {}\n", self.faults.len(), summarize(&self.faults));
        s += &if self.violations.is_empty() {
            "  verdict: OK\n".to_owned()
        } else {
            format!("  verdict: VIOLATED: {}\n", self.violations.join("; "))
        };
        eprint!("{s}");
        let dir = repo_root().join("target/reliability");
        let _ = std::fs::create_dir_all(&dir);
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("report.jsonl")) {
            let _ = writeln!(f, "{}", serde_json::to_string(self).unwrap_or_default());
        }
    }
}

/// A report's figures from (name, value) pairs.
pub fn figures<const N: usize>(pairs: [(&str, String); N]) -> BTreeMap<String, String> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// The first few fault lines and a count of the rest.
fn summarize(faults: &[String]) -> String {
    let mut s = faults.iter().take(4).cloned().collect::<Vec<_>>().join("; ");
    if faults.len() > 4 {
        s += &format!("; ... {} more", faults.len() - 4);
    }
    s
}
