//! Helpers for the `std_*.rs` tests of the blocking producer (`kprod-std`): what a test sent,
//! sending it, and checking the verifier's read-back field by field.
#![allow(dead_code, unreachable_pub)]

/// Many topics at once (the scale tests).
pub mod bulk;

use alloc::collections::BTreeMap;
use core::time::Duration;

use kprod_core::partitioner::key_partition;
use kprod_std::{Acks, Compression, DeliveryHandle, Header, Metrics, Producer, ProducerConfig, Record, RecordMetadata};
use kprod_tests::{describe_output, repo_root, unique_topic, Broker, ConsumedRecord};

/// How long a test waits for one delivery.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(60);

/// The cluster's `transaction.version` (the transactions flow, KIP-890), set with Kafka's
/// FeatureCommand for the life of this value; back to 2, Kafka 4.x's default, when it drops
/// (also when the test fails), so the other tests find the default flow. The feature is
/// cluster-wide: tests that set it must not run beside other transactional tests of the same
/// binary that expect a flow.
pub struct TransactionVersion<'a>(&'a Broker);

impl<'a> TransactionVersion<'a> {
    /// Sets `level` (1 or 2) on `broker`'s cluster.
    pub fn set(broker: &'a Broker, level: u8) -> Self {
        set_transaction_version(broker, level);
        Self(broker)
    }
}

impl Drop for TransactionVersion<'_> {
    fn drop(&mut self) {
        set_transaction_version(self.0, 2);
    }
}

fn set_transaction_version(broker: &Broker, level: u8) {
    let verb = if level >= 2 { "upgrade" } else { "downgrade" };
    let out = std::process::Command::new(repo_root().join("tests/broker/kafka.sh"))
        .args(["tool", "org.apache.kafka.tools.FeatureCommand", "--bootstrap-server", broker.bootstrap()])
        .args([verb, "--feature", &format!("transaction.version={level}")])
        .output()
        .expect("run kafka.sh tool");
    let text = describe_output(&out);
    assert!(out.status.success() || text.contains("already"), "FeatureCommand {verb} failed:\n{text}");
    // Let the brokers' ApiVersions answers catch up with the new level.
    std::thread::sleep(Duration::from_secs(2));
}

/// Runs `kafka.sh tool CLASS --bootstrap-server <broker> ARGS` (a Java main class from the
/// Kafka jars); panics if it fails.
pub fn kafka_tool(broker: &Broker, class: &str, args: &[&str]) {
    let out = std::process::Command::new(repo_root().join("tests/broker/kafka.sh"))
        .args(["tool", class, "--bootstrap-server", broker.bootstrap()])
        .args(args)
        .output()
        .expect("run kafka.sh tool");
    assert!(out.status.success(), "{class} {args:?}: {}", describe_output(&out));
}

/// A client quota (KIP-13) of `rate` bytes per second produced by `client_id`, which every
/// broker of `broker`'s cluster enforces on its own traffic.
pub fn set_producer_quota(broker: &Broker, client_id: &str, rate: u64) {
    let config = format!("producer_byte_rate={rate}");
    let args = ["--alter", "--add-config", &config, "--entity-type", "clients", "--entity-name", client_id];
    kafka_tool(broker, "kafka.admin.ConfigCommand", &args);
}

/// A new topic of `partitions` named after `prefix`, and a client id of its own whose
/// produce quota is `rate` bytes per second: `(topic, client_id)`.
pub fn quota_topic(broker: &Broker, prefix: &str, partitions: i32, rate: u64) -> (String, String) {
    let topic = unique_topic(prefix);
    let client_id = format!("{topic}-client");
    broker.create_topic(&topic, partitions, 1);
    set_producer_quota(broker, &client_id, rate);
    (topic, client_id)
}

/// The value of the Java metric `name` in `Producer::metrics_by_name`'s answer; panics if absent.
pub fn metric(all: &[(&'static str, f64)], name: &str) -> f64 {
    all.iter().find(|(n, _)| *n == name).map(|&(_, v)| v).unwrap_or_else(|| panic!("no metric {name}: {all:?}"))
}

/// Sends each of `values` to `topic` with no key and no partition (the partitioner chooses),
/// flushes, and returns the delivery reports in order; panics on a failure.
pub fn send_unkeyed(producer: &Producer, topic: &str, values: &[Vec<u8>]) -> Vec<RecordMetadata> {
    let handles: Vec<DeliveryHandle> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let record =
                Record { topic, partition: None, key: None, value: Some(v.as_slice()), headers: &[], timestamp: None };
            producer.send(&record).unwrap_or_else(|e| panic!("send {i}: {e}"))
        })
        .collect();
    producer.flush(DELIVERY_WAIT).expect("flush");
    wait_all(&handles)
}

/// A config for the shared broker with a short linger.
pub fn config(broker: &Broker) -> ProducerConfig {
    ProducerConfig::new(broker.bootstrap()).expect("bootstrap").linger(Duration::from_millis(5))
}

/// The compression-job tests' producer (std_codecs, std_tokio): 4 KiB batches that do not grow
/// while they wait (Java's batches), a 64 KiB buffer and one request in flight. A request holds
/// at most one batch per partition, so once the buffer is full most of it is closed batches
/// that cannot go yet, and the wait for space takes one as a compression job.
pub fn jobs_config(broker: &Broker, compression: Compression) -> ProducerConfig {
    config(broker)
        .compression(compression)
        .linger(Duration::from_millis(50))
        .set("batch.size", "4096")
        .and_then(|c| c.set("batch.max.size", "4096"))
        .and_then(|c| c.set("buffer.memory", "65536"))
        .and_then(|c| c.set("max.in.flight.requests.per.connection", "1"))
        .expect("settings")
}

/// A compression-job test's check of one run of [`jobs_config`]: if the buffer filled (a send
/// waited for space), batches were compressed ahead of their seal (none are without the jobs).
/// Returns whether it filled.
pub fn compressed_ahead_if_filled(label: &str, m: &Metrics) -> bool {
    let (ahead, filled) = (m.batches_compressed_ahead, m.buffer_wait > Duration::ZERO);
    eprintln!("{label}: {ahead} of {} batches compressed ahead, buffer filled: {filled}", m.batches_sent);
    assert!(
        !filled || ahead > 0,
        "{label}: the buffer filled, yet none of {} batches compressed ahead",
        m.batches_sent
    );
    filled
}

/// One record as a test sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub partition: Option<u32>,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    pub timestamp: Option<i64>,
}

impl Sent {
    /// A record with a key (every third one null), a value unique to `tag`/`i`, a header and
    /// an explicit timestamp.
    pub fn numbered(tag: &str, i: usize) -> Self {
        Self {
            partition: None,
            key: (i % 3 != 0).then(|| format!("key-{}", i % 97).into_bytes()),
            value: Some(format!("{tag}-{i}-{}", "v".repeat(i % 50)).into_bytes()),
            headers: vec![("i".to_owned(), Some(i.to_string().into_bytes()))],
            timestamp: Some(1_700_000_000_000 + i as i64),
        }
    }
}

impl Sent {
    /// The headers, as a `Record` takes them.
    pub fn headers(&self) -> Vec<Header<'_>> {
        self.headers.iter().map(|(k, v)| Header { key: k.as_str(), value: v.as_deref() }).collect()
    }

    /// This record for `topic`, with `headers` from [`Sent::headers`].
    pub fn record<'a>(&'a self, topic: &'a str, headers: &'a [Header<'a>]) -> Record<'a> {
        Record {
            topic,
            partition: self.partition,
            key: self.key.as_deref(),
            value: self.value.as_deref(),
            headers,
            timestamp: self.timestamp,
        }
    }
}

/// Sends `records` and returns their handles (in order).
pub fn send_all(producer: &Producer, topic: &str, records: &[Sent]) -> Vec<DeliveryHandle> {
    records
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let headers = s.headers();
            let record = s.record(topic, &headers);
            producer.send(&record).unwrap_or_else(|e| panic!("send {i}: {e}"))
        })
        .collect()
}

/// Waits for every handle; panics on a failure.
pub fn wait_all(handles: &[DeliveryHandle]) -> Vec<RecordMetadata> {
    handles
        .iter()
        .enumerate()
        .map(|(i, h)| h.wait(DELIVERY_WAIT).unwrap_or_else(|e| panic!("delivery {i}: {e}")))
        .collect()
}

/// Checks the read-back against what was sent and what the producer reported: each record
/// sits exactly at its reported partition and offset (or, with `acks=0`, where offsets are
/// unknown, is found by its unique value), with the same key, value, headers and timestamp,
/// and keyed records without an explicit partition sit where the Java client puts them.
pub fn verify(read: &[ConsumedRecord], sent: &[Sent], reported: &[RecordMetadata], partitions: u32) {
    assert_eq!(sent.len(), reported.len());
    assert_eq!(read.len(), sent.len(), "read back exactly what was sent: no loss, no duplicate");
    let by_place: BTreeMap<(i32, i64), &ConsumedRecord> = read.iter().map(|r| ((r.partition, r.offset), r)).collect();
    assert_eq!(by_place.len(), read.len());
    let by_value: BTreeMap<Option<&[u8]>, &ConsumedRecord> = read.iter().map(|r| (r.value.as_deref(), r)).collect();
    for (i, (s, m)) in sent.iter().zip(reported).enumerate() {
        let r = if m.offset >= 0 {
            by_place.get(&(m.partition as i32, m.offset)).unwrap_or_else(|| panic!("record {i}: nothing at {m:?}"))
        } else {
            by_value.get(&s.value.as_deref()).unwrap_or_else(|| panic!("record {i}: value not found"))
        };
        assert_eq!(r.partition as u32, m.partition, "record {i}: partition");
        assert_eq!(r.key, s.key, "record {i}: key");
        assert_eq!(r.value, s.value, "record {i}: value");
        assert_eq!(r.headers, s.headers, "record {i}: headers");
        assert_eq!(r.timestamp, m.timestamp, "record {i}: timestamp as reported");
        if let Some(ts) = s.timestamp {
            if r.timestamp_type == 0 {
                assert_eq!(r.timestamp, ts, "record {i}: create time");
            }
        }
        assert_eq!(&*m.topic, r.topic.as_str());
        match (s.partition, &s.key) {
            (Some(p), _) => assert_eq!(m.partition, p, "record {i}: explicit partition"),
            (None, Some(k)) => assert_eq!(m.partition, key_partition(k, partitions), "record {i}: Java partition"),
            (None, None) => {}
        }
    }
}

/// Prints kprod-std's log lines to stderr when `KPROD_LOG` is set (`debug`, `info`, ...).
pub fn init_log() {
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
            eprintln!("[{}.{:03} {}] {}", t.as_secs() % 1000, t.subsec_millis(), record.level(), record.args());
        }
        fn flush(&self) {}
    }
    static LOGGER: Stderr = Stderr;
    if let Ok(level) = std::env::var("KPROD_LOG") {
        if log::set_logger(&LOGGER).is_ok() {
            log::set_max_level(level.parse().unwrap_or(log::LevelFilter::Debug));
        }
    }
}

/// A broker of the test's own on `port` (controller `port + 1`), for tests that stop and restart
/// it without disturbing the shared one; stopped however the test ends.
pub struct OwnBroker {
    port: u16,
}

impl OwnBroker {
    /// Starts it (`kafka.sh up`: empty storage).
    pub fn start(port: u16) -> Self {
        // kafka.sh leaves a broker it did not start alone; a test that stops "its" broker must
        // not find another one there (another harness's broker on the same port).
        let taken = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
        assert!(!taken, "port {port} is taken by another broker: this test needs its own there");
        let me = Self { port };
        me.up();
        me
    }

    /// `kafka.sh up` for this port.
    pub fn up(&self) {
        self.kafka("up");
    }

    /// `kafka.sh down` for this port.
    pub fn down(&self) {
        self.kafka("down");
    }

    fn kafka(&self, cmd: &str) {
        let (port, cport) = (self.port.to_string(), (self.port + 1).to_string());
        // kafka.sh's random cluster id starts with '-' one time in 64, which kafka-storage takes
        // for an option ("--cluster-id: expected one argument"): try a start again.
        for attempt in 1.. {
            let out = std::process::Command::new("bash")
                .arg(repo_root().join("tests/broker/kafka.sh"))
                .args([cmd, "--port", &port, "--controller-port", &cport])
                .output()
                .expect("run kafka.sh");
            if out.status.success() {
                return;
            }
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(attempt < 3 && err.contains("storage format failed"), "kafka.sh {cmd} --port {port}: {err}");
        }
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.down();
    }
}

/// The restart tests' producer settings: short linger and request timeout, reconnects backing
/// off to at most 500 ms, and the given acks and delivery timeout.
pub fn restart_config(bootstrap: &str, acks: Acks, delivery_timeout: Duration) -> ProducerConfig {
    ProducerConfig::new(bootstrap)
        .expect("bootstrap")
        .acks(acks)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(3))
        .delivery_timeout(delivery_timeout)
        .set("reconnect.backoff.max.ms", "500")
        .expect("property")
}
