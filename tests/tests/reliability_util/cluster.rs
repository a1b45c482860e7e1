//! The reliability tests' own 3-node cluster, each node behind a fault proxy that it advertises
//! (`kafka.sh cluster-up` with `KPROD_CLUSTER_ADVERTISED_PORT`), in its own work directory
//! (`target/kafka-reliability`) so the test command's shared cluster is not disturbed.
//!
//! Ports (`KPROD_RELIABILITY_PORT` moves them all, default 49092): node i listens on
//! PORT+i-1, its controller on PORT+100+i-1, its proxy on PORT+200+i-1 and its replication
//! listener on PORT+203+i-1.

use core::net::SocketAddr;
use core::time::Duration;
use std::process::{Command, Output};
use std::time::Instant;

use kprod_fault_proxy::Proxy;
use kprod_tests::{describe_output, repo_root, Broker, TopicDescription};

/// Nodes in the cluster.
pub const NODES: usize = 3;

/// The proxied cluster; stopped when dropped unless `KPROD_RELIABILITY_KEEP_CLUSTER=1`.
pub struct ProxiedCluster {
    /// The runtime the proxies run on.
    _rt: tokio::runtime::Runtime,
    /// Proxy `i` fronts node `i + 1`.
    pub proxies: Vec<Proxy>,
    /// The cluster as clients see it: through the proxies.
    pub broker: Broker,
    port: u16,
}

impl ProxiedCluster {
    /// Starts the proxies, then the cluster (reused if it is up already).
    pub fn start() -> Self {
        let port: u16 = std::env::var("KPROD_RELIABILITY_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(49092);
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("fault-proxy")
            .enable_all()
            .build()
            .expect("proxy runtime");
        let proxies = (0..NODES as u16)
            .map(|i| {
                let listen = SocketAddr::from(([127, 0, 0, 1], port + 200 + i));
                let upstream = SocketAddr::from(([127, 0, 0, 1], port + i));
                Proxy::spawn(rt.handle(), listen, upstream).unwrap_or_else(|e| panic!("proxy on {listen}: {e}"))
            })
            .collect::<Vec<_>>();
        let started = Instant::now();
        // kafka.sh's random cluster id starts with '-' one time in 64 ("storage format failed"):
        // try again.
        for attempt in 1.. {
            let out = kafka(port, &["cluster-up", "3"]);
            if out.status.success() {
                break;
            }
            assert!(attempt < 3, "kafka.sh cluster-up: {}", describe_output(&out));
        }
        let broker = Broker::attach(&bootstrap(port), NODES);
        eprintln!("reliability: proxied cluster up in {:?} at {}", started.elapsed(), broker.bootstrap());
        Self { _rt: rt, proxies, broker, port }
    }

    /// Runs `kafka.sh ARGS` against this cluster's ports and work directory.
    pub fn kafka(&self, args: &[&str]) -> Output {
        kafka(self.port, args)
    }

    fn kafka_ok(&self, args: &[&str]) {
        let out = self.kafka(args);
        assert!(out.status.success(), "kafka.sh {args:?}: {}", describe_output(&out));
    }

    /// `kill -9` node `id` (1-based).
    pub fn kill(&self, id: i32) {
        self.kafka_ok(&["node-stop", &id.to_string(), "--kill"]);
    }

    /// Stops node `id` with SIGTERM (a controlled shutdown).
    pub fn stop(&self, id: i32) {
        self.kafka_ok(&["node-stop", &id.to_string()]);
    }

    /// Starts node `id` again on its storage.
    pub fn start_node(&self, id: i32) {
        self.kafka_ok(&["node-start", &id.to_string()]);
    }

    /// Leader, replicas and ISR of each partition of `topic`.
    /// The admin client goes through the proxies too, so a fault (a cut armed for the next
    /// frame, a reset) can hit it: it tries up to 5 times.
    pub fn describe(&self, topic: &str) -> TopicDescription {
        for _ in 0..4 {
            let out = self.broker.verifier(&["describe-topic", "--topic", topic]);
            if out.status.success() {
                if let Ok(d) = serde_json::from_slice(&out.stdout) {
                    return d;
                }
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        self.broker.describe_topic(topic)
    }

    /// Waits until every partition of `topic` has all nodes in its ISR (or `limit` passes).
    pub fn wait_full_isr(&self, topic: &str, limit: Duration) -> bool {
        let t0 = Instant::now();
        loop {
            let d = self.describe(topic);
            if d.partitions.iter().all(|p| p.isr.len() == NODES && p.leader > 0) {
                return true;
            }
            if t0.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// Makes `to` the leader of `topic`-`partition` by reassignment (its replicas reordered
    /// with `to` first) and a preferred leader election (`verify.py move-leader`).
    pub fn move_leader(&self, topic: &str, partition: i32, to: i32) -> String {
        let (p, to) = (partition.to_string(), to.to_string());
        let out = self.broker.verifier(&["move-leader", "--topic", topic, "--partition", &p, "--to", &to]);
        assert!(out.status.success(), "move-leader: {}", describe_output(&out));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Lifts every proxy fault.
    pub fn clear_faults(&self) {
        for p in &self.proxies {
            p.clear();
        }
    }
}

impl Drop for ProxiedCluster {
    fn drop(&mut self) {
        if std::env::var("KPROD_RELIABILITY_KEEP_CLUSTER").is_ok_and(|v| v == "1") {
            return;
        }
        let out = self.kafka(&["cluster-down"]);
        if !out.status.success() {
            eprintln!("kafka.sh cluster-down: {}", describe_output(&out));
        }
    }
}

/// The cluster's work directory, canonical: kafka.sh recognizes its JVMs by the path in their
/// command line, so `scripts/reliability.sh` (which stops an interrupted run's cluster) must name
/// it the same way.
fn work_dir() -> std::path::PathBuf {
    let dir = repo_root().join("target/kafka-reliability");
    let _ = std::fs::create_dir_all(&dir);
    dir.canonicalize().unwrap_or(dir)
}

/// Runs `kafka.sh ARGS` for the cluster on `port`.
fn kafka(port: u16, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(repo_root().join("tests/broker/kafka.sh"))
        .args(args)
        .env("KPROD_KAFKA_WORK_DIR", work_dir())
        .env("KPROD_CLUSTER_HOST", "127.0.0.1")
        .env("KPROD_CLUSTER_PORT", port.to_string())
        .env("KPROD_CLUSTER_CONTROLLER_PORT", (port + 100).to_string())
        .env("KPROD_CLUSTER_ADVERTISED_PORT", (port + 200).to_string())
        .env("KPROD_CLUSTER_REPLICATION_PORT", (port + 203).to_string())
        .output()
        .unwrap_or_else(|e| panic!("run kafka.sh {args:?}: {e}"))
}

/// The proxies' addresses, as kprod and the verifier bootstrap from.
fn bootstrap(port: u16) -> String {
    (0..NODES as u16).map(|i| format!("127.0.0.1:{}", port + 200 + i)).collect::<Vec<_>>().join(",")
}
