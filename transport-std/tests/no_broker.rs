//! The blocking producer without a reachable broker: `send` and `partitions_for` time out
//! after `max.block.ms` with an error naming the topic and the root cause (a refused connect,
//! a failed DNS lookup, a broker that answers garbage), and close/drop stay prompt.

mod common;

use core::time::Duration;
use std::time::Instant;

use kprod_std::{BlockedOn, ConnectionError, Error, Producer, ProducerConfig, Record, TxnError};

const MAX_BLOCK: Duration = Duration::from_millis(400);

fn unreachable(bootstrap: &str) -> Producer {
    let config = ProducerConfig::new(bootstrap)
        .expect("bootstrap")
        .max_block(MAX_BLOCK)
        .set("reconnect.backoff.ms", "20")
        .expect("property");
    Producer::new(config).expect("producer")
}

/// Checks the timeouts of a producer that cannot reach `bootstrap`; returns the send's error.
fn assert_metadata_timeout(bootstrap: &str) -> Error {
    let producer = unreachable(bootstrap);
    let started = Instant::now();
    let err = producer.send(&Record::new("orders").value(b"v".as_slice())).expect_err("no broker");
    let waited = started.elapsed();
    assert!(waited >= MAX_BLOCK && waited < MAX_BLOCK * 5, "{bootstrap}: waited {waited:?}");
    assert!(
        matches!(&err, Error::Timeout { topic: Some(t), blocked_on: BlockedOn::Metadata(_), .. } if t == "orders"),
        "{err:?}"
    );
    assert!(err.to_string().starts_with("topic orders not present in metadata after 4"), "{err}");
    assert!(err.is_retriable());
    let again = producer.partitions_for("orders").expect_err("no broker");
    assert!(matches!(again, Error::Timeout { blocked_on: BlockedOn::Metadata(_), .. }), "{again:?}");
    assert!(again.connection_error().is_some(), "{again}");
    let started = Instant::now();
    producer.close(Duration::from_secs(5)).expect("nothing was buffered");
    assert!(started.elapsed() < Duration::from_secs(1), "close with nothing buffered is prompt");
    assert_eq!(producer.send(&Record::new("orders")).expect_err("closed"), Error::Closed);
    eprintln!("{bootstrap}: {err}");
    err
}

#[test]
fn refused_connection_times_out_naming_the_refusal() {
    let err = assert_metadata_timeout("127.0.0.1:1");
    common::assert_refused(&err, "127.0.0.1:1");
    assert!(
        matches!(err.connection_error(), Some(ConnectionError::Connect { attempts, .. }) if *attempts > 1),
        "retried: {err}"
    );
    assert!(err.to_string().ends_with(" attempts)"), "{err}");
}

#[test]
fn unresolvable_host_times_out_naming_the_dns_failure() {
    let err = assert_metadata_timeout("nosuchhost.invalid:9092");
    common::assert_dns_failed(&err, "nosuchhost.invalid");
}

#[test]
fn a_broker_that_answers_garbage_is_named() {
    let server = common::garbage_server();
    common::assert_garbage(&assert_metadata_timeout(&server), &server);
}

/// A broker that sends part of a frame and hangs up, 50 ms later or at once, is named as the
/// cause: a short read ends a read round (`Conn::read_available`), and the hang-up is still seen.
#[test]
fn a_broker_that_hangs_up_mid_frame_is_named() {
    for delay in [Duration::from_millis(50), Duration::ZERO] {
        let server = common::hang_up_server(delay);
        common::assert_hung_up(&assert_metadata_timeout(&server), &server);
    }
}

#[test]
fn ipv6_bootstrap_times_out() {
    let err = assert_metadata_timeout("[::1]:1");
    assert!(err.connection_error().is_some_and(|c| c.broker() == "[::1]:1"), "{err:?}");
}

#[test]
fn drop_without_close_is_prompt() {
    let producer = unreachable("127.0.0.1:1");
    let _ = producer.send(&Record::new("t"));
    let started = Instant::now();
    drop(producer);
    assert!(started.elapsed() < Duration::from_secs(1));
}

#[test]
fn invalid_configs_are_refused_before_any_thread_starts() {
    let err = Producer::new(ProducerConfig::default()).expect_err("no bootstrap");
    assert!(err.to_string().contains("bootstrap.servers"), "{err}");
    let err = ProducerConfig::new("h:1").and_then(|c| c.set("linger", "5")).expect_err("unknown");
    assert_eq!(err, Error::UnknownProperty("linger".into()));
    let err = Producer::new(ProducerConfig::new("h:1").expect("ok").batch_size(0)).expect_err("batch.size");
    assert!(err.to_string().contains("batch.size"), "{err}");
}

#[test]
fn waiting_for_an_unreachable_broker_does_not_spin() {
    let producer = Producer::new(ProducerConfig::new("127.0.0.1:1").expect("ok").max_block(Duration::from_secs(2)))
        .expect("producer");
    common::assert_no_spin("blocked send", || {
        let _ = producer.send(&Record::new("t"));
    });
}

/// `close` from another thread while `init_transactions` waits for a coordinator it cannot
/// reach: the call ends promptly with a typed error naming it, not at `max.block.ms`.
#[test]
fn close_ends_a_transactional_call_under_way() {
    let config = ProducerConfig::new("127.0.0.1:1")
        .expect("bootstrap")
        .max_block(Duration::from_secs(60))
        .set("transactional.id", "close-while-init")
        .expect("transactional.id");
    let producer = Producer::new(config).expect("producer");
    let started = Instant::now();
    let err = std::thread::scope(|s| {
        let init = s.spawn(|| producer.init_transactions());
        std::thread::sleep(Duration::from_millis(300));
        producer.close(Duration::from_secs(5)).expect("nothing was buffered");
        init.join().expect("init thread")
    })
    .expect_err("closed while waiting for the coordinator");
    assert!(started.elapsed() < Duration::from_secs(10), "ended by close: {:?}", started.elapsed());
    assert!(matches!(err, Error::Transaction(TxnError::Closed { op: "init_transactions" })), "{err:?}");
    assert!(err.to_string().contains("init_transactions") && err.to_string().contains("closed"), "{err}");
    let again = producer.init_transactions().expect_err("closed");
    assert!(matches!(again, Error::Transaction(TxnError::Closed { .. })), "{again:?}");
}
