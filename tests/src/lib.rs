//! Harness for kprod's integration tests: a real Apache Kafka broker started by
//! `tests/broker/kafka.sh`, topic administration, and an independent verifier.
//!
//! The harness itself uses no kprod code (only [`wire_client`] does, to put kprod-encoded batches on the wire). Topics are created, described and read back by
//! `tests/broker/verify.py` (kafka-python in a venv that `kafka.sh venv`
//! creates), so a test checks kprod against another client's view of the log.
//!
//! # Which broker
//! - [`Broker::shared`]: `KPROD_BOOTSTRAP` if set (it must answer), else
//!   `127.0.0.1:9092`, started with `kafka.sh up` when nothing answers there.
//! - [`Cluster::shared`]: the 3-node cluster. `None` when `KPROD_CLUSTER=skip`
//!   (the test then says it is skipped). Else `KPROD_CLUSTER_BOOTSTRAP` if set
//!   (it must answer with 3 brokers), else started with `kafka.sh cluster-up 3`.
//!
//! Both are shared by every test in a process through a [`OnceLock`]. Brokers
//! this harness starts keep running after the tests; `kafka.sh down --all`
//! stops them. `scripts/test.sh` starts both itself and stops them on exit.
//!
//! Failures (no broker, a verifier error) panic with the verifier's output:
//! this is test code, and a panic is the report.
#![deny(missing_docs)]

/// A minimal blocking client (ApiVersions, Metadata, Produce) built only from
/// kprod-core's encoders and decoders, to put kprod-encoded record batches on
/// the wire in tests. Unlike the rest of this crate it uses kprod code; the
/// verifier that reads the records back still does not.
pub mod wire_client;

/// A minimal blocking driver for the sans-IO engine over std sockets, for end-to-end tests of
/// the engine against the real broker (the product drivers live in `kprod-std`).
pub mod engine_driver;

/// The secured broker (`kafka.sh secure-up`): its listeners and certificates.
pub mod secure;

use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use serde::Deserialize;

/// Where the single test broker listens unless `KPROD_BOOTSTRAP` says otherwise.
pub const DEFAULT_BOOTSTRAP: &str = "127.0.0.1:9092";

/// Number of nodes in the test cluster.
pub const CLUSTER_SIZE: usize = 3;

/// A record as the independent verifier read it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp in milliseconds since the Unix epoch.
    pub timestamp: i64,
    /// 0 for CreateTime, 1 for LogAppendTime.
    pub timestamp_type: i8,
    /// Key; `None` for a null key, `Some(vec![])` for an empty one.
    pub key: Option<Vec<u8>>,
    /// Value; `None` for a null value (tombstone), `Some(vec![])` for an empty one.
    pub value: Option<Vec<u8>>,
    /// Headers in record order; a `None` value is a null header value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

/// One partition of a topic as the cluster metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct PartitionDescription {
    /// Partition index.
    pub partition: i32,
    /// Node id of the leader, -1 if none.
    pub leader: i32,
    /// Node ids of all replicas.
    pub replicas: Vec<i32>,
    /// Node ids of the in-sync replicas.
    pub isr: Vec<i32>,
}

/// A topic as the cluster metadata describes it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct TopicDescription {
    /// Topic name.
    pub topic: String,
    /// Partitions, sorted by index.
    pub partitions: Vec<PartitionDescription>,
}

/// A Kafka endpoint the tests talk to: one broker, or (through [`Cluster`])
/// the bootstrap list of a cluster.
#[derive(Debug)]
pub struct Broker {
    bootstrap: String,
    /// Extra arguments of every verifier run (the security settings of a secured listener).
    verifier_args: Vec<String>,
}

/// The 3-node test cluster. Dereferences to [`Broker`] for topic
/// administration and read-back.
#[derive(Debug)]
pub struct Cluster {
    broker: Broker,
}

impl core::ops::Deref for Cluster {
    type Target = Broker;

    fn deref(&self) -> &Broker {
        &self.broker
    }
}

impl Broker {
    /// The single-broker endpoint shared by all tests of this process,
    /// started with `kafka.sh up` if `KPROD_BOOTSTRAP` is unset and nothing
    /// answers at [`DEFAULT_BOOTSTRAP`].
    ///
    /// # Panics
    /// If `KPROD_BOOTSTRAP` is set but does not answer, or the start fails.
    pub fn shared() -> &'static Self {
        static SHARED: OnceLock<Broker> = OnceLock::new();
        SHARED.get_or_init(|| {
            if let Ok(bootstrap) = std::env::var("KPROD_BOOTSTRAP") {
                return Self::attach(&bootstrap, 1);
            }
            if !probe(DEFAULT_BOOTSTRAP, 1) {
                eprintln!("kprod-tests: no broker at {DEFAULT_BOOTSTRAP}; running kafka.sh up");
                run_script(&["up"]);
                eprintln!("kprod-tests: the broker keeps running; stop it with tests/broker/kafka.sh down");
            }
            Self::attach(DEFAULT_BOOTSTRAP, 1)
        })
    }

    /// Attach to a running endpoint whose Metadata lists at least `brokers`
    /// brokers. Starts nothing.
    ///
    /// # Panics
    /// If it does not answer so.
    pub fn attach(bootstrap: &str, brokers: usize) -> Self {
        assert!(
            probe(bootstrap, brokers),
            "no Kafka answering with {brokers} broker(s) at {bootstrap}; start one with tests/broker/kafka.sh"
        );
        Self { bootstrap: bootstrap.to_owned(), verifier_args: Vec::new() }
    }

    /// The bootstrap list, `host:port[,host:port...]`.
    pub fn bootstrap(&self) -> &str {
        &self.bootstrap
    }

    /// Create `name` and wait until every partition has a leader.
    ///
    /// # Panics
    /// If the topic exists already or the broker refuses it.
    pub fn create_topic(&self, name: &str, partitions: i32, replication_factor: i16) {
        self.create_topic_with_config(name, partitions, replication_factor, &[]);
    }

    /// [`Broker::create_topic`] with topic configs such as
    /// `("min.insync.replicas", "2")`.
    ///
    /// # Panics
    /// If the topic exists already or the broker refuses it.
    pub fn create_topic_with_config(
        &self,
        name: &str,
        partitions: i32,
        replication_factor: i16,
        configs: &[(&str, &str)],
    ) {
        let (partitions, rf) = (partitions.to_string(), replication_factor.to_string());
        let pairs: Vec<String> = configs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut args = vec!["create-topic", "--topic", name, "--partitions", &partitions];
        args.extend(["--replication-factor", &rf]);
        for pair in &pairs {
            args.extend(["--config", pair]);
        }
        self.verifier_ok(&args);
    }

    /// Leader, replicas and ISR of every partition of `name`.
    ///
    /// # Panics
    /// If the topic does not exist.
    pub fn describe_topic(&self, name: &str) -> TopicDescription {
        let out = self.verifier_ok(&["describe-topic", "--topic", name]);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("describe-topic printed bad JSON ({e}): {}", String::from_utf8_lossy(&out.stdout))
        })
    }

    /// Read `topic` from the beginning of every partition until
    /// `expected_count` records arrived, sorted by (partition, offset). All
    /// records read are returned, so there may be more than expected (for
    /// example duplicates): assert on the length.
    ///
    /// # Panics
    /// If fewer than `expected_count` records arrive within `timeout`.
    pub fn read_back(&self, topic: &str, expected_count: usize, timeout: Duration) -> Vec<ConsumedRecord> {
        let (count, secs) = (expected_count.to_string(), format!("{:.3}", timeout.as_secs_f64()));
        let args = ["consume", "--topic", topic, "--count", &count, "--timeout", &secs];
        let out = self.verifier(&args);
        let records = parse_records(&out.stdout);
        assert!(
            out.status.success(),
            "read back {} of {expected_count} records from {topic} within {timeout:?}\n{}",
            records.len(),
            String::from_utf8_lossy(&out.stderr)
        );
        records
    }

    /// Produce `count` records to `topic` with the verifier's own producer
    /// (kafka-python, acks=all): record `i` goes to partition `i % P` with the
    /// content `tests/broker/verify.py`'s `expected_record(i)` describes.
    /// `compression` is `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    ///
    /// # Panics
    /// If the verifier fails.
    pub fn produce_with_verifier(&self, topic: &str, count: usize, compression: &str) {
        let count = count.to_string();
        self.verifier_ok(&["produce", "--topic", topic, "--count", &count, "--compression", compression]);
    }

    /// Run `verify.py SUBCOMMAND --bootstrap <this> ARGS...` in the venv and
    /// return its output whatever the exit status.
    pub fn verifier(&self, args: &[&str]) -> Output {
        ensure_venv();
        let (sub, rest) = args.split_first().expect("verifier needs a subcommand");
        let mut cmd = Command::new("bash");
        cmd.arg(script()).args(["verify", sub, "--bootstrap", &self.bootstrap]).args(rest).args(&self.verifier_args);
        cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
    }

    fn verifier_ok(&self, args: &[&str]) -> Output {
        let out = self.verifier(args);
        assert!(out.status.success(), "verify.py {args:?} failed: {}", describe_output(&out));
        out
    }
}

impl Cluster {
    /// The 3-node cluster shared by all tests of this process, or `None`
    /// when `KPROD_CLUSTER=skip` says no cluster is available.
    ///
    /// # Panics
    /// If `KPROD_CLUSTER_BOOTSTRAP` is set but does not answer with 3
    /// brokers, or starting the cluster fails.
    pub fn shared() -> Option<&'static Self> {
        if std::env::var("KPROD_CLUSTER").is_ok_and(|v| v == "skip") {
            return None;
        }
        static SHARED: OnceLock<Cluster> = OnceLock::new();
        Some(SHARED.get_or_init(|| {
            let bootstrap = std::env::var("KPROD_CLUSTER_BOOTSTRAP").unwrap_or_else(|_| {
                eprintln!("kprod-tests: KPROD_CLUSTER_BOOTSTRAP unset; running kafka.sh cluster-up");
                let out = run_script(&["cluster-up", &CLUSTER_SIZE.to_string()]);
                eprintln!("kprod-tests: the cluster keeps running; stop it with tests/broker/kafka.sh cluster-down");
                String::from_utf8_lossy(&out.stdout)
                    .lines()
                    .find_map(|l| l.strip_prefix("KPROD_CLUSTER_BOOTSTRAP="))
                    .expect("kafka.sh cluster-up prints KPROD_CLUSTER_BOOTSTRAP=")
                    .to_owned()
            });
            Self { broker: Broker::attach(&bootstrap, CLUSTER_SIZE) }
        }))
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        CLUSTER_SIZE
    }
}

/// A topic name no other test or earlier run uses: `prefix-<pid>-<ms>-<n>`.
/// `prefix` should use only `[a-zA-Z0-9._-]`.
pub fn unique_topic(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    // A clock before 1970 only makes names less unique, so 0 is fine.
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{}-{ms}-{n}", std::process::id())
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn script() -> PathBuf {
    repo_root().join("tests/broker/kafka.sh")
}

/// Whether Metadata from `bootstrap` lists at least `brokers` brokers.
fn probe(bootstrap: &str, brokers: usize) -> bool {
    let verify = repo_root().join("tests/broker/verify.py");
    let brokers = brokers.to_string();
    Command::new("python3")
        .arg(verify)
        .args(["probe", "--bootstrap", bootstrap, "--brokers", &brokers, "--timeout", "2"])
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Run `kafka.sh ARGS`, panicking with its output on failure.
fn run_script(args: &[&str]) -> Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script()).args(args);
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(out.status.success(), "kafka.sh {args:?} failed: {}", describe_output(&out));
    out
}

fn ensure_venv() {
    static VENV: OnceLock<()> = OnceLock::new();
    VENV.get_or_init(|| {
        run_script(&["venv"]);
    });
}

/// A finished command's status, stdout and stderr, for a failure message.
pub fn describe_output(out: &Output) -> String {
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The verifier's JSON line for one record.
#[derive(Deserialize)]
struct RawRecord {
    topic: String,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: i8,
    key: Option<String>,
    value: Option<String>,
    headers: Vec<(String, Option<String>)>,
}

fn decode(field: Option<String>) -> Option<Vec<u8>> {
    field.map(|s| BASE64.decode(s).unwrap_or_else(|e| panic!("verifier printed bad base64: {e}")))
}

/// The records of the verifier's `consume` output (one JSON line each; `bulk.py` prints the same).
pub fn parse_records(stdout: &[u8]) -> Vec<ConsumedRecord> {
    let text = String::from_utf8_lossy(stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let raw: RawRecord =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("verifier printed bad JSON ({e}): {line}"));
            ConsumedRecord {
                topic: raw.topic,
                partition: raw.partition,
                offset: raw.offset,
                timestamp: raw.timestamp,
                timestamp_type: raw.timestamp_type,
                key: decode(raw.key),
                value: decode(raw.value),
                headers: raw.headers.into_iter().map(|(k, v)| (k, decode(v))).collect(),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_null_empty_and_bytes() {
        let line = br#"{"topic": "t", "partition": 2, "offset": 7, "timestamp": 5, "timestamp_type": 1, "key": null, "value": "", "headers": [["a", "/wA="], ["b", null]]}"#;
        let recs = parse_records(line);
        assert_eq!(
            recs,
            vec![ConsumedRecord {
                topic: "t".into(),
                partition: 2,
                offset: 7,
                timestamp: 5,
                timestamp_type: 1,
                key: None,
                value: Some(vec![]),
                headers: vec![("a".into(), Some(vec![0xff, 0x00])), ("b".into(), None)],
            }]
        );
    }

    #[test]
    fn unique_topics_differ() {
        assert_ne!(unique_topic("x"), unique_topic("x"));
    }
}
