//! The driver in-process: smoltcp's Loopback device carries the producer's sockets and
//! simulated brokers (see `support/mod.rs`), in virtual time. Each test checks what reached the
//! brokers' logs against what was sent, and that every record got exactly one completion.

extern crate alloc;

mod support;

use core::time::Duration;

use kprod_core::config::{Acks, Config, ConnectionConfig};
use kprod_core::producer::{ConnError, DeliveryError};
use kprod_core::protocol::ApiKey;
use kprod_smoltcp::{ConnectError, DriverConfig, LinkError, EPHEMERAL_FIRST};
use support::{value, Fault, Lab, Seen, Spec};

fn send_many(lab: &mut Lab, topic: &'static str, n: usize, len: usize) {
    for i in 0..n {
        let key = (i % 3 != 0).then(|| format!("key-{i}").into_bytes());
        lab.send(topic, key, value(i, len + i % 50));
    }
}

fn count(lab: &Lab, f: impl Fn(&Seen) -> bool) -> usize {
    lab.seen.iter().filter(|s| f(s)).count()
}

#[test]
fn every_record_is_delivered_once_over_two_brokers_with_tiny_buffers() {
    // 512-byte socket send buffers split most request frames (partial writes); 300-byte socket
    // receive buffers and a 100-byte read budget split responses (partial reads).
    let spec = Spec {
        brokers: 2,
        topics: vec![("t", 4)],
        socket_tx: 512,
        socket_rx: 300,
        driver: DriverConfig { max_read_per_poll: 100, port_seed: 5, ..DriverConfig::default() },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    send_many(&mut lab, "t", 600, 40);
    assert!(lab.finish(Duration::from_secs(60)), "not finished: {:?}", lab.driver.producer().pending_batches());
    assert_eq!(lab.check_delivered_once("t"), 600);
    assert_eq!(lab.idle_wakes, 0, "the driver woke for deadlines the engine did not act on");
    let stats = *lab.driver.stats();
    assert!(stats.partial_writes > 0, "{stats:?}");
    assert!(stats.budget_hits > 0, "{stats:?}");
    assert_eq!(stats.frames_dropped, 0, "{stats:?}");
    assert!(stats.max_response > 0 && stats.max_response <= 4096, "{stats:?}");
    // The bootstrap connection and one per broker, on ports counted up from the seed.
    let ports: Vec<u16> =
        lab.seen.iter().filter_map(|s| if let Seen::Connected(_, p) = s { Some(*p) } else { None }).collect();
    assert_eq!(ports, [EPHEMERAL_FIRST + 5, EPHEMERAL_FIRST + 6, EPHEMERAL_FIRST + 7]);
    assert_eq!(count(&lab, |s| matches!(s, Seen::ConnectFailed(..) | Seen::Disconnected(..))), 0, "{:?}", lab.seen);
}

#[test]
fn a_reset_after_the_broker_appended_loses_nothing_and_duplicates_nothing() {
    let mut lab = Lab::new(Spec::default());
    lab.faults = vec![Fault::Reset { nth: 3 }, Fault::Reset { nth: 7 }];
    send_many(&mut lab, "t", 400, 200);
    assert!(lab.finish(Duration::from_secs(60)));
    assert_eq!(lab.check_delivered_once("t"), 400);
    assert_eq!(lab.idle_wakes, 0);
    assert_eq!(count(&lab, |s| matches!(s, Seen::Disconnected(_, LinkError::Reset))), 2, "{:?}", lab.seen);
    assert!(lab.cluster.stats.duplicates > 0, "the resent batches were answered as duplicates");
}

#[test]
fn a_broker_that_falls_silent_is_reported_with_the_engines_reason() {
    let spec = Spec {
        config: Config { request_timeout: Duration::from_secs(2), ..Spec::default().config },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    lab.faults = vec![Fault::Silent { nth: 2 }];
    send_many(&mut lab, "t", 300, 100);
    assert!(lab.finish(Duration::from_secs(60)));
    assert_eq!(lab.check_delivered_once("t"), 300);
    assert_eq!(lab.idle_wakes, 0);
    // The engine drops the connection at request.timeout.ms and says why; the driver passes
    // it on as the connection's loss, and the engine resends on a new one.
    let timeout = LinkError::Broker(ConnError::RequestTimeout { api: ApiKey::Produce, timeout_ms: 2000 });
    assert_eq!(count(&lab, |s| matches!(s, Seen::Disconnected(_, e) if *e == timeout)), 1, "{:?}", lab.seen);
    assert_eq!(lab.driver.stats().disconnects, 1);
    assert_eq!(timeout.to_string(), "the broker did not answer a Produce request within request.timeout.ms (2000 ms)");
}

#[test]
fn a_broker_that_closes_is_reported_and_its_requests_retried() {
    let mut lab = Lab::new(Spec::default());
    lab.faults = vec![Fault::Close { nth: 2 }];
    send_many(&mut lab, "t", 300, 100);
    assert!(lab.finish(Duration::from_secs(60)));
    assert_eq!(lab.check_delivered_once("t"), 300);
    assert_eq!(lab.idle_wakes, 0);
    assert_eq!(count(&lab, |s| matches!(s, Seen::Disconnected(_, LinkError::ClosedByPeer))), 1, "{:?}", lab.seen);
}

#[test]
fn connect_failures_are_typed_and_retried() {
    // Nobody at the address: the SYN goes unanswered until the engine's setup timeout
    // (`socket.connection.setup.timeout.ms`, 20% jitter), which doubles with the next attempt
    // (up to `.max.ms`); the driver's own connect_timeout is only a fallback.
    let base = Spec::default();
    let connection = ConnectionConfig {
        setup_timeout: Duration::from_secs(2),
        setup_timeout_max: Duration::from_secs(8),
        ..base.config.connection
    };
    let spec = Spec {
        bootstrap: ("10.0.0.99", 9092),
        config: Config { connection, ..base.config },
        driver: DriverConfig { connect_timeout: Duration::from_secs(60), ..base.driver },
        ..base
    };
    let mut lab = Lab::new(spec);
    let start = lab.now;
    let _ = lab.driver.send(&record("t"), lab.now);
    assert!(lab.run_until(Duration::from_secs(10), |l| !l.seen.is_empty()));
    assert!(matches!(lab.seen[0], Seen::ConnectFailed(_, ConnectError::Timeout)), "{:?}", lab.seen);
    let first = lab.now - start;
    assert!(first.total_millis() >= 1600 && first.total_millis() <= 2500, "{first}");
    // The engine tries again after its backoff, and times out again, after about 4 s.
    let again = lab.now;
    assert!(lab.run_until(Duration::from_secs(20), |l| l.seen.len() >= 2));
    assert!(matches!(lab.seen[1], Seen::ConnectFailed(_, ConnectError::Timeout)), "{:?}", lab.seen);
    let second = lab.now - again;
    assert!(second.total_millis() >= 3200 && second.total_millis() <= 6000, "{second}");

    // A broker address without a listener answers the SYN with a reset.
    let mut lab = Lab::new(Spec { bootstrap: ("10.0.0.10", 9093), ..Spec::default() });
    let _ = lab.driver.send(&record("t"), lab.now);
    assert!(lab.run_until(Duration::from_secs(5), |l| !l.seen.is_empty()));
    assert!(matches!(lab.seen[0], Seen::ConnectFailed(_, ConnectError::Refused)), "{:?}", lab.seen);

    // A host name that is neither a literal nor in the host table.
    let mut lab = Lab::new(Spec { bootstrap: ("kafka.example", 9092), ..Spec::default() });
    let _ = lab.driver.send(&record("t"), lab.now);
    assert!(lab.run_until(Duration::from_secs(5), |l| !l.seen.is_empty()));
    assert_eq!(lab.seen[0], Seen::ConnectFailed(kprod_core::producer::conn::ConnId(0), ConnectError::UnresolvedHost));
    // Nothing was accepted, so nothing is pending.
    assert_eq!(lab.driver.producer().pending_batches(), 0);
}

#[test]
fn one_socket_for_three_connections_still_delivers_everything() {
    // The engine wants the bootstrap connection and one per broker; the driver has one socket.
    // The others fail with NoFreeSocket and are retried until idle connections close.
    let spec = Spec {
        brokers: 2,
        topics: vec![("t", 2)],
        sockets: 1,
        config: Config {
            connections_max_idle: Duration::from_millis(300),
            linger: Duration::from_millis(2),
            ..Config::default()
        },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    send_many(&mut lab, "t", 100, 10);
    assert!(lab.finish(Duration::from_secs(120)));
    assert_eq!(lab.check_delivered_once("t"), 100);
    assert!(count(&lab, |s| matches!(s, Seen::ConnectFailed(_, ConnectError::NoFreeSocket))) > 0);
    assert_eq!(lab.idle_wakes, 0);
}

#[test]
fn a_response_larger_than_the_slot_buffer_fails_the_connection_not_the_process() {
    let spec = Spec {
        slot_rx: 64,
        config: Config {
            delivery_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(1),
            linger: Duration::ZERO,
            ..Config::default()
        },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    let _ = lab.driver.send(&record("t"), lab.now);
    assert!(lab.run_until(Duration::from_secs(2), |l| l.seen.iter().any(|s| matches!(s, Seen::Disconnected(..)))));
    let too_large = lab.seen.iter().find_map(|s| match s {
        Seen::Disconnected(_, LinkError::ResponseTooLarge { size, capacity }) => Some((*size, *capacity)),
        _ => None,
    });
    let (size, capacity) = too_large.unwrap_or_else(|| panic!("{:?}", lab.seen));
    assert!(size > 64 && capacity == 64, "{size} {capacity}");
}

#[test]
fn a_transmit_buffer_too_small_is_reported_once_and_the_records_time_out() {
    let spec = Spec {
        tx: 256,
        config: Config {
            delivery_timeout: Duration::from_secs(3),
            request_timeout: Duration::from_secs(1),
            linger: Duration::ZERO,
            ..Config::default()
        },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    for i in 0..5 {
        lab.send("t", Some(b"k".to_vec()), value(i, 300));
    }
    assert!(lab.finish(Duration::from_secs(10)));
    let reports: Vec<(usize, usize)> = lab
        .seen
        .iter()
        .filter_map(|s| if let Seen::TxTooSmall { needed, capacity } = s { Some((*needed, *capacity)) } else { None })
        .collect();
    assert_eq!(reports.len(), 1, "{:?}", lab.seen);
    assert!(reports[0].0 > 256 && reports[0].1 == 256, "{reports:?}");
    let failed: u32 =
        lab.seen
            .iter()
            .map(|s| {
                if let Seen::Failed { records, reason: DeliveryError::DeliveryTimeout, .. } = s {
                    *records
                } else {
                    0
                }
            })
            .sum();
    assert_eq!(failed, 5, "every record fails exactly once: {:?}", lab.seen);
    assert_eq!(lab.idle_wakes, 0, "a frame that does not fit names no deadline");
}

/// With `alloc`, an owned transmit buffer grows to the frame instead of stalling.
#[cfg(feature = "alloc")]
#[test]
fn an_owned_transmit_buffer_grows_to_the_frame() {
    let mut lab = Lab::new(Spec { tx: 256, owned_tx: true, ..Spec::default() });
    send_many(&mut lab, "t", 50, 300);
    assert!(lab.finish(Duration::from_secs(30)));
    assert_eq!(lab.check_delivered_once("t"), 50);
    assert_eq!(count(&lab, |s| matches!(s, Seen::TxTooSmall { .. })), 0, "{:?}", lab.seen);
    assert!(lab.driver.stats().max_request > 256);
}

#[test]
fn acks_0_and_a_graceful_close_free_every_socket() {
    let spec = Spec {
        config: Config { acks: Acks::None, linger: Duration::from_millis(1), ..Config::default() },
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    send_many(&mut lab, "t", 50, 10);
    lab.driver.close(Duration::from_secs(5), lab.now);
    assert!(lab.run_until(Duration::from_secs(30), |l| l.driver.is_closed()), "{:?}", lab.driver.slots());
    let delivered: u32 = lab
        .seen
        .iter()
        .map(|s| if let Seen::Delivered { records, base_offset: -1, .. } = s { *records } else { 0 })
        .sum();
    assert_eq!(delivered, 50);
    let total: usize = lab.cluster.topics[0].partitions.iter().map(|p| p.log.len()).sum();
    assert_eq!(total, 50);
    // Closed gracefully: nobody reset anything, and every socket of the driver is free again.
    assert!(lab.driver.slots().iter().all(|s| s.conn().is_none()));
    assert_eq!(count(&lab, |s| matches!(s, Seen::Disconnected(..))), 0, "{:?}", lab.seen);
}

fn record(topic: &str) -> kprod_core::producer::ProducerRecord<'_> {
    kprod_core::producer::ProducerRecord {
        topic,
        partition: None,
        key: None,
        value: Some(b"v"),
        headers: &[],
        timestamp: 1,
    }
}

/// Batches that reach `batch.size` grow while they wait (the default `batch.max.size`), but
/// never into a request the driver's fixed transmit buffer (64 KiB here, below the default
/// `max.request.size`) cannot hold: no stall, everything delivered once across a reset.
#[test]
fn growing_batches_stay_within_a_fixed_transmit_buffer() {
    let mut spec = Spec::default();
    spec.config.batch_max_size = None;
    let mut lab = Lab::new(spec);
    lab.faults = vec![Fault::Reset { nth: 3 }];
    send_many(&mut lab, "t", 400, 200);
    assert!(lab.finish(Duration::from_secs(60)), "not finished: {:?}", lab.seen);
    assert_eq!(lab.check_delivered_once("t"), 400);
    assert_eq!(count(&lab, |s| matches!(s, Seen::TxTooSmall { .. })), 0, "{:?}", lab.seen);
    assert!(lab.cluster.stats.largest_batch > 4096, "batches grew past batch.size: {:?}", lab.cluster.stats);
}
