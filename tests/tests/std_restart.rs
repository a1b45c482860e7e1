//! The blocking producer (`kprod-std`) while its broker stops and comes back: every record is
//! either delivered after the broker returns or failed with the delivery timeout, each exactly
//! once, never lost silently.
//!
//! The test runs its own broker on port 29092 (controller 29093; `KPROD_STD_RESTART_PORT`
//! moves both) so the shared broker is not disturbed. `kafka.sh up` starts from empty
//! storage, so the log after the restart holds exactly what was delivered after it.
//! `KPROD_STD_RESTART=skip` skips the test.

extern crate alloc;

mod std_util;

use std::process::Command;
use core::time::Duration;
use std::time::Instant;

use kprod_std::{Acks, DeliveryError, Error, Producer, ProducerConfig};
use kprod_tests::{repo_root, unique_topic, Broker};
use std_util::{send_all, verify, wait_all, Sent};

fn kafka(args: &[&str]) {
    // kafka.sh's random cluster id starts with '-' one time in 64, which kafka-storage takes
    // for an option ("--cluster-id: expected one argument"): try a start again.
    let mut tries = 0;
    loop {
        let out = Command::new("bash")
            .arg(repo_root().join("tests/broker/kafka.sh"))
            .args(args)
            .output()
            .expect("run kafka.sh");
        tries += 1;
        if out.status.success() {
            return;
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(tries < 3 && err.contains("storage format failed"), "kafka.sh {args:?}: {err}");
    }
}

/// Stops the test's own broker however the test ends.
struct OwnBroker(Vec<String>);

impl OwnBroker {
    fn start(port: u16) -> Self {
        let args = vec!["--port".to_owned(), port.to_string(), "--controller-port".to_owned(), (port + 1).to_string()];
        let me = Self(args);
        me.up();
        me
    }

    fn args<'a>(&'a self, cmd: &'a str) -> Vec<&'a str> {
        core::iter::once(cmd).chain(self.0.iter().map(String::as_str)).collect()
    }

    fn up(&self) {
        kafka(&self.args("up"));
    }

    fn down(&self) {
        kafka(&self.args("down"));
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        self.down();
    }
}

fn producer(bootstrap: &str, acks: Acks, delivery_timeout: Duration) -> Producer {
    let config = ProducerConfig::new(bootstrap)
        .expect("bootstrap")
        .acks(acks)
        .linger(Duration::from_millis(5))
        .request_timeout(Duration::from_secs(3))
        .delivery_timeout(delivery_timeout)
        .set("reconnect.backoff.max.ms", "500")
        .expect("property");
    Producer::new(config).expect("producer")
}

#[test]
fn broker_stopped_and_restarted_mid_stream() {
    if std::env::var("KPROD_STD_RESTART").is_ok_and(|v| v == "skip") {
        eprintln!("skipped: KPROD_STD_RESTART=skip");
        return;
    }
    std_util::init_log();
    let port: u16 = std::env::var("KPROD_STD_RESTART_PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(29092);
    let own = OwnBroker::start(port);
    let bootstrap = format!("127.0.0.1:{port}");
    let broker = Broker::attach(&bootstrap, 1);
    // One partition, as the topic the restarted (empty) broker auto-creates has.
    let topic = unique_topic("std-restart");
    broker.create_topic(&topic, 1, 1);

    let patient = producer(&bootstrap, Acks::All, Duration::from_secs(180));
    let impatient = producer(&bootstrap, Acks::Leader, Duration::from_secs(4));
    let before: Vec<Sent> = (0..100).map(|i| Sent::numbered("before", i)).collect();
    wait_all(&send_all(&patient, &topic, &before));
    wait_all(&send_all(&impatient, &topic, &before[..10]));

    own.down();
    let stopped = Instant::now();
    let during: Vec<Sent> = (0..500).map(|i| Sent::numbered("during", i)).collect();
    let patient_handles = send_all(&patient, &topic, &during);
    let doomed: Vec<Sent> = (0..50).map(|i| Sent::numbered("doomed", i)).collect();
    let doomed_handles = send_all(&impatient, &topic, &doomed);
    for (i, h) in doomed_handles.iter().enumerate() {
        let r = h.wait(Duration::from_secs(60));
        assert_eq!(r, Err(Error::Delivery(DeliveryError::DeliveryTimeout)), "doomed record {i}");
    }
    assert!(stopped.elapsed() < Duration::from_secs(30), "failed after delivery.timeout.ms, not much later");
    assert!(patient_handles.iter().all(|h| !h.is_done()), "the patient producer still holds its records");

    own.up();
    let reported = wait_all(&patient_handles);
    eprintln!("delivered {} records {:?} after the broker stopped", reported.len(), stopped.elapsed());
    patient.close(Duration::from_secs(30)).expect("close");
    impatient.close(Duration::from_secs(30)).expect("close");
    let read = broker.read_back(&topic, during.len(), Duration::from_secs(60));
    verify(&read, &during, &reported, 1);
}
