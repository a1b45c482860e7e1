//! Many topics at once, for the scale tests: created, read back and deleted by `bulk.py` next to
//! this file (kafka-python in the verifier's venv, no kprod code), because `verify.py` handles
//! one topic per run and a run costs half a second.

use core::time::Duration;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::Instant;

use kprod_tests::{describe_output, parse_records, repo_root, Broker, ConsumedRecord};

/// Topics created together, deleted when dropped (so a shared broker does not keep thousands
/// of partitions after the test, pass or fail).
pub struct BulkTopics<'a> {
    broker: &'a Broker,
    names: Vec<String>,
}

impl<'a> BulkTopics<'a> {
    /// Creates `names` with `partitions` partitions each (replication factor 1) and waits until
    /// every partition takes records (its log exists on the broker, not just its leader in the
    /// metadata). Prints how long that took.
    ///
    /// # Panics
    /// If a topic exists already or the broker refuses it.
    pub fn create(broker: &'a Broker, names: Vec<String>, partitions: u32) -> Self {
        let started = Instant::now();
        let out = run(broker, &["create-topics", "--partitions", &partitions.to_string()], &names);
        assert!(out.status.success(), "bulk.py create-topics: {}", describe_output(&out));
        eprintln!(
            "  {} ({:?} in all)",
            String::from_utf8_lossy(&out.stdout).trim(),
            started.elapsed()
        );
        Self { broker, names }
    }

    /// The topic names.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// Reads every partition of every topic from the beginning until `count` records arrived,
    /// sorted by (topic, partition, offset). Every record read is returned (there may be more
    /// than `count`).
    ///
    /// # Panics
    /// If fewer arrive within `timeout`.
    pub fn read_back(&self, count: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let (count_arg, secs) = (count.to_string(), format!("{:.3}", timeout.as_secs_f64()));
        let out = run(self.broker, &["consume", "--count", &count_arg, "--timeout", &secs], &self.names);
        let records = parse_records(&out.stdout);
        assert!(
            out.status.success(),
            "read back {} of {count} records within {timeout:?}: {}",
            records.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        records
    }
}

impl Drop for BulkTopics<'_> {
    fn drop(&mut self) {
        let out = run(self.broker, &["delete-topics"], &self.names);
        if !out.status.success() {
            eprintln!("bulk.py delete-topics: {}", describe_output(&out));
        }
    }
}

/// Runs `bulk.py SUB --bootstrap <broker> ARGS` in the verifier's venv with `names` on stdin.
fn run(broker: &Broker, args: &[&str], names: &[String]) -> Output {
    let (sub, rest) = args.split_first().expect("a subcommand");
    let mut cmd = Command::new(venv_python());
    cmd.arg(repo_root().join("tests/tests/std_util/bulk.py"))
        .args([sub, "--bootstrap", broker.bootstrap()])
        .args(rest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin is piped");
    stdin.write_all(names.join("\n").as_bytes()).expect("write topic names");
    drop(stdin);
    child.wait_with_output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// The venv's python (`kafka.sh venv` makes it, once per process; it is reused when complete).
fn venv_python() -> PathBuf {
    static VENV: OnceLock<PathBuf> = OnceLock::new();
    VENV.get_or_init(|| {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/broker/kafka.sh"))
            .arg("venv")
            .output()
            .expect("run kafka.sh venv");
        assert!(out.status.success(), "kafka.sh venv: {}", describe_output(&out));
        let cache = std::env::var_os("KPROD_CACHE_DIR").map_or_else(|| repo_root().join(".cache"), PathBuf::from);
        cache.join("venv/bin/python")
    })
    .clone()
}

