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

use core::time::Duration;
use std::time::Instant;

use kprod_std::{Acks, DeliveryError, Error, Producer};
use kprod_tests::{unique_topic, Broker};
use std_util::{restart_config, send_all, verify, wait_all, OwnBroker, Sent};

fn producer(bootstrap: &str, acks: Acks, delivery_timeout: Duration) -> Producer {
    Producer::new(restart_config(bootstrap, acks, delivery_timeout)).expect("producer")
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
