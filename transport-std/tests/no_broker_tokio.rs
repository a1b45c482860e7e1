//! The tokio producer without a reachable broker: `send` times out after `max.block.ms` with an
//! error naming the root cause (a refused connect, a failed DNS lookup, a broker that answers
//! garbage), as the blocking producer's does.
#![cfg(feature = "tokio")]

mod common;

use core::time::Duration;
use std::time::Instant;

use kprod_std::{AsyncProducer, BlockedOn, Error, ProducerConfig, Record, TxnError};

const MAX_BLOCK: Duration = Duration::from_millis(400);

/// The error of a send to `bootstrap`, which no broker answers, and of `partitions_for`.
fn metadata_timeout(bootstrap: &str) -> Error {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = ProducerConfig::new(bootstrap)
            .expect("bootstrap")
            .max_block(MAX_BLOCK)
            .set("reconnect.backoff.ms", "20")
            .expect("property");
        let producer = AsyncProducer::new(config).expect("producer");
        let started = Instant::now();
        let err = producer.send(&Record::new("orders").value(b"v".as_slice())).await.expect_err("no broker");
        let waited = started.elapsed();
        assert!(waited >= MAX_BLOCK && waited < MAX_BLOCK * 5, "{bootstrap}: waited {waited:?}");
        assert!(
            matches!(&err, Error::Timeout { topic: Some(t), blocked_on: BlockedOn::Metadata(_), .. } if t == "orders"),
            "{err:?}"
        );
        assert!(err.to_string().starts_with("topic orders not present in metadata after "), "{err}");
        let again = producer.partitions_for("orders").await.expect_err("no broker");
        assert!(again.connection_error().is_some(), "{again}");
        producer.close(Duration::from_secs(5)).await.expect("nothing was buffered");
        eprintln!("{bootstrap}: {err}");
        err
    })
}

#[test]
fn refused_connection_is_named() {
    common::assert_refused(&metadata_timeout("127.0.0.1:1"), "127.0.0.1:1");
}

#[test]
fn dns_failure_is_named() {
    common::assert_dns_failed(&metadata_timeout("nosuchhost.invalid:9092"), "nosuchhost.invalid");
}

#[test]
fn a_broker_that_answers_garbage_is_named() {
    let server = common::garbage_server();
    common::assert_garbage(&metadata_timeout(&server), &server);
}

#[test]
fn waiting_for_an_unreachable_broker_does_not_spin() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let config = ProducerConfig::new("127.0.0.1:1").expect("bootstrap").max_block(Duration::from_secs(2));
    common::assert_no_spin("awaited send", || {
        rt.block_on(async {
            let producer = AsyncProducer::new(config).expect("producer");
            let _ = producer.send(&Record::new("t")).await;
        });
    });
}

/// `close` while `init_transactions` awaits a coordinator it cannot reach: the call ends
/// promptly with a typed error naming it, as the blocking producer's does.
#[test]
fn close_ends_a_transactional_call_under_way() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let config = ProducerConfig::new("127.0.0.1:1")
            .expect("bootstrap")
            .max_block(Duration::from_secs(60))
            .set("transactional.id", "close-while-init")
            .expect("transactional.id");
        let producer = AsyncProducer::new(config).expect("producer");
        let started = Instant::now();
        let closer = producer.clone();
        let close = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            closer.close(Duration::from_secs(5)).await
        });
        let err = producer.init_transactions().await.expect_err("closed while waiting for the coordinator");
        close.await.expect("close task").expect("nothing was buffered");
        assert!(started.elapsed() < Duration::from_secs(10), "ended by close: {:?}", started.elapsed());
        assert!(matches!(err, Error::Transaction(TxnError::Closed { op: "init_transactions" })), "{err:?}");
    });
}
