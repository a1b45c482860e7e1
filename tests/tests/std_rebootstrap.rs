//! `metadata.recovery.strategy=rebootstrap` (KIP-899) against real brokers: the whole cluster is
//! replaced. A broker (node 1) on PORT serves first; it stops for good, and a new cluster (a
//! fresh broker, node 2, new cluster id, empty storage) starts on PORT+2, the other
//! `bootstrap.servers` entry. The producer knows only node 1 from its metadata, so only going
//! back to `bootstrap.servers` finds the new cluster: the records sent after the change are
//! delivered there (read back by kafka-python), while a producer with
//! `metadata.recovery.strategy=none` keeps trying node 1 and fails them at its delivery timeout.
//!
//! Its brokers use `KPROD_REBOOTSTRAP_PORT` (default 28092, below the kernel's ephemeral ports) to +3.
//! `KPROD_REBOOTSTRAP=skip` skips it.

extern crate alloc;

mod std_util;

use core::time::Duration;
use std::process::Command;

use kprod_std::{DeliveryError, Error, Producer};
use kprod_tests::{describe_output, repo_root, unique_topic, Broker};
use std_util::{restart_config, send_all, verify, wait_all, Sent};

/// A broker of this test: `kafka.sh up|down` on `port` (controller `port + 1`) as node `id`.
fn kafka(cmd: &str, port: u16, id: u32) {
    let (p, c) = (port.to_string(), (port + 1).to_string());
    for attempt in 1.. {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/broker/kafka.sh"))
            .args([cmd, "--port", &p, "--controller-port", &c])
            .env("KPROD_KAFKA_NODE_ID", id.to_string())
            .output()
            .expect("run kafka.sh");
        if out.status.success() {
            return;
        }
        // kafka.sh's random cluster id may start with '-', which the format tool refuses.
        let err = describe_output(&out);
        assert!(attempt < 3 && err.contains("storage format failed"), "kafka.sh {cmd} --port {port}: {err}");
    }
}

/// Stops the test's brokers at the end, also when it fails.
struct Brokers(u16);

impl Drop for Brokers {
    fn drop(&mut self) {
        kafka("down", self.0, 1);
        kafka("down", self.0 + 2, 2);
    }
}

fn producer(bootstrap: &str, strategy: &str, delivery_timeout: Duration) -> Producer {
    let config = restart_config(bootstrap, kprod_std::Acks::All, delivery_timeout)
        .set("metadata.recovery.strategy", strategy)
        .expect("strategy");
    Producer::new(config).expect("producer")
}

#[test]
fn the_cluster_is_replaced_at_the_bootstrap_address() {
    if std::env::var("KPROD_REBOOTSTRAP").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: KPROD_REBOOTSTRAP=skip");
        return;
    }
    let port: u16 = std::env::var("KPROD_REBOOTSTRAP_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(28092);
    for p in [port, port + 2] {
        let taken = std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
        assert!(!taken, "port {p} is taken: this test needs its own brokers there");
    }
    let brokers = Brokers(port);
    kafka("up", port, 1);
    let (old, new) = (format!("127.0.0.1:{port}"), format!("127.0.0.1:{}", port + 2));
    let bootstrap = format!("{old},{new}");
    let topic = unique_topic("rebootstrap");
    Broker::attach(&old, 1).create_topic(&topic, 1, 1);

    let recovering = producer(&bootstrap, "rebootstrap", Duration::from_secs(120));
    let stuck = producer(&bootstrap, "none", Duration::from_secs(5));
    let before: Vec<Sent> = (0..10).map(|i| Sent::numbered("before", i)).collect();
    wait_all(&send_all(&recovering, &topic, &before));
    wait_all(&send_all(&stuck, &topic, &before));

    // The old cluster is gone for good; a new one (other node id, cluster id and storage)
    // answers at the other bootstrap address.
    // (Both at once, to keep the test short: the producers know only node 1 until it stops.)
    let new_cluster = std::thread::spawn(move || kafka("up", port + 2, 2));
    kafka("down", port, 1);
    new_cluster.join().expect("the new cluster starts");
    // The topic is not created there: the producer's metadata request, once it reaches the
    // new cluster, auto-creates it (one partition, as the old one had).
    let broker = Broker::attach(&new, 1);

    let after: Vec<Sent> = (0..50).map(|i| Sent::numbered("after", i)).collect();
    let handles = send_all(&recovering, &topic, &after);
    let doomed = send_all(&stuck, &topic, &after[..5]);
    let reported = wait_all(&handles);
    for (i, h) in doomed.iter().enumerate() {
        let r = h.wait(Duration::from_secs(60));
        assert_eq!(r, Err(Error::Delivery(DeliveryError::DeliveryTimeout)), "record {i} of the `none` producer");
    }
    recovering.close(Duration::from_secs(10)).expect("close");
    drop(stuck);

    let read = broker.read_back(&topic, after.len(), Duration::from_secs(60));
    verify(&read, &after, &reported, 1);
    drop(brokers);
}
