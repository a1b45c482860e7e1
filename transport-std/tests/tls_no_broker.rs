//! TLS without a broker: a peer that accepts and never answers the handshake, and a peer that
//! answers it with bytes that are not TLS. Both producers end `send` within `max.block.ms` with
//! a typed TLS cause that names the setting to check.

mod common;

use core::time::Duration;
use std::net::TcpListener;
use std::time::Instant;

use kprod_std::{ConnectionError, Error, Producer, ProducerConfig, Record, TlsError};

const MAX_BLOCK: Duration = Duration::from_millis(1500);

/// A server that accepts connections and never writes (its sockets stay open).
fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let addr = listener.local_addr().expect("local address");
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    addr.to_string()
}

fn config(bootstrap: &str) -> ProducerConfig {
    ProducerConfig::from_properties([
        ("bootstrap.servers", bootstrap),
        ("security.protocol", "SSL"),
        ("socket.connection.setup.timeout.ms", "300"),
        ("socket.connection.setup.timeout.max.ms", "400"),
        ("reconnect.backoff.ms", "20"),
    ])
    .expect("config")
    .max_block(MAX_BLOCK)
}

/// The TLS error behind a send's timeout.
fn tls_cause(err: &Error, waited: Duration) -> TlsError {
    assert!(waited >= MAX_BLOCK && waited < MAX_BLOCK * 3, "waited {waited:?}");
    eprintln!("{err}");
    match err.connection_error() {
        Some(ConnectionError::Tls { error, .. }) => error.clone(),
        other => panic!("expected a TLS cause, got {other:?} in {err}"),
    }
}

fn blocking(bootstrap: &str) -> TlsError {
    let producer = Producer::new(config(bootstrap)).expect("producer");
    let started = Instant::now();
    let err = producer.send(&Record::new("orders").value(b"v".as_slice())).expect_err("no TLS broker");
    tls_cause(&err, started.elapsed())
}

#[test]
fn a_silent_peer_ends_the_handshake_at_the_connect_timeout() {
    let e = blocking(&silent_server());
    // The engine's setup timeout of that attempt (300 ms, growing to at most 400 ms) is the one
    // the handshake had, and the message says it was the TLS handshake that ran out of it.
    let TlsError::HandshakeTimedOut { after_ms } = e else { panic!("expected a handshake timeout, got {e:?}") };
    assert!((240..=400).contains(&after_ms), "{after_ms} ms");
    let text = e.to_string();
    assert!(text.contains("TLS handshake did not finish within") && text.contains(&format!("{after_ms} ms")), "{text}");
    assert!(text.contains("socket.connection.setup.timeout.ms"), "{text}");
    assert!(text.contains("socket.connection.setup.timeout.max.ms"), "{text}");
}

#[test]
fn a_peer_that_does_not_speak_tls_is_named() {
    let e = blocking(&common::garbage_server());
    assert!(matches!(e, TlsError::NotTls(_)), "{e:?}");
    assert!(e.to_string().contains("security.protocol=PLAINTEXT"), "{e}");
}

#[cfg(feature = "tokio")]
#[test]
fn the_tokio_producer_names_them_too() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    for (server, silent) in [(silent_server(), true), (common::garbage_server(), false)] {
        let e = rt.block_on(async {
            let producer = kprod_std::AsyncProducer::new(config(&server)).expect("producer");
            let started = Instant::now();
            let err = producer.send(&Record::new("orders").value(b"v".as_slice())).await.expect_err("no TLS broker");
            tls_cause(&err, started.elapsed())
        });
        if silent {
            assert!(matches!(e, TlsError::HandshakeTimedOut { after_ms: 240..=400 }), "{e:?}");
        } else {
            assert!(matches!(e, TlsError::NotTls(_)), "{e:?}");
        }
    }
}
