//! SASL in the sans-IO core against a real broker, through the test driver: PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER (Kafka's unsecured token, built by the core and
//! handed in as a driver would), each producing for longer than the listener's
//! `connections.max.reauth.ms`, so connections re-authenticate with batches in flight; then a
//! wrong password. kafka-python reads every record back over the same SASL listener and it is
//! compared with what was sent.
//!
//! It needs a SASL_PLAINTEXT listener at `KPROD_SASL_BOOTSTRAP` (host:port) with user `alice`
//! / `alice-secret` for PLAIN and both SCRAM mechanisms, the unsecured OAUTHBEARER validator and
//! `connections.max.reauth.ms` of a few seconds (KAFKA-NOTES.md, "SASL"); without it the test
//! says so and passes. `KPROD_CACHE_DIR` names the Python venv with kafka-python.

extern crate alloc;

use core::time::Duration;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use kprod_core::config::Config;
use kprod_core::producer::{Capacities, Completion, ConnId, Event, Producer, ProducerRecord, SendError, Storage};
use kprod_core::protocol::ErrorCode;
use kprod_core::sasl::{oauthbearer, AuthError};
use kprod_core::time::Instant;
use kprod_tests::engine_driver::EngineDriver;

const PLAIN: &str =
    r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#;
const SCRAM: &str =
    r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#;
const OAUTH: &str = r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice" unsecuredLoginLifetimeSeconds="3600";"#;

fn bootstrap() -> Option<(String, u16)> {
    let addr = std::env::var("KPROD_SASL_BOOTSTRAP").ok()?;
    let (h, p) = addr.rsplit_once(':')?;
    Some((h.to_owned(), p.parse().ok()?))
}

/// Entropy for SCRAM nonces, from the OS.
fn entropy() -> [u8; 32] {
    let mut seed = [0u8; 32];
    let mut f = std::fs::File::open("/dev/urandom").expect("/dev/urandom");
    std::io::Read::read_exact(&mut f, &mut seed).expect("entropy");
    seed
}

fn engine(mechanism: &'static str, jaas: &'static str, addr: &(String, u16)) -> EngineDriver<'static> {
    let mut config = Config { linger: Duration::from_millis(5), ..Config::default() };
    config.set_property("security.protocol", "SASL_PLAINTEXT").expect("security.protocol");
    config.set_property("sasl.mechanism", mechanism).expect("sasl.mechanism");
    config.set_static_property("sasl.jaas.config", jaas).expect("sasl.jaas.config");
    let storage = Storage::with_capacity(&config, Capacities::default());
    let valid = config.validate().expect("valid config");
    let mut p = Producer::new(valid, &[(addr.0.as_str(), addr.1)], storage, Instant::ZERO).expect("producer");
    p.handle_entropy(&entropy());
    EngineDriver::new(p)
}

/// What a driver does for OAUTHBEARER: a fresh unsecured token whenever the engine wants one.
fn feed_token(d: &mut EngineDriver<'_>, jaas: &str) {
    if !d.producer.oauth_token_wanted() {
        return;
    }
    let jaas = kprod_core::sasl::JaasConfig::parse(jaas).expect("jaas");
    let wall = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
    let mut buf = [0u8; 1024];
    let n = oauthbearer::unsecured_token(&jaas, wall, &mut buf).expect("token");
    let token = core::str::from_utf8(&buf[..n]).expect("ascii");
    let now = d.now();
    d.producer.handle_oauth_token(token, now);
}

/// Produces `n` records over about `n * gap`, then reads them back with kafka-python.
fn produce_and_read_back(mechanism: &'static str, jaas: &'static str, n: usize, gap: Duration) {
    let Some(addr) = bootstrap() else {
        eprintln!("KPROD_SASL_BOOTSTRAP is not set: no SASL broker, nothing checked");
        return;
    };
    let topic = format!("sasl-{}-{}", mechanism.to_lowercase(), std::process::id());
    let mut d = engine(mechanism, jaas, &addr);
    let mut sent = Vec::new();
    for i in 0..n {
        let value = format!("{mechanism} record {i}");
        let rec = ProducerRecord {
            topic: &topic,
            partition: Some((i % 3) as u32),
            key: None,
            value: Some(value.as_bytes()),
            headers: &[],
            timestamp: 1_700_000_000_000 + i as i64,
        };
        let id = loop {
            feed_token(&mut d, jaas);
            match d.send(&rec, Duration::from_millis(200)) {
                Err(e) if e.is_retriable() || e == SendError::Topic(ErrorCode::UnknownTopicOrPartition) => continue,
                other => break other.unwrap_or_else(|e| panic!("{mechanism}: send #{i}: {e}")),
            }
        };
        sent.push((id, value));
        let until = std::time::Instant::now() + gap;
        d.run_until(gap + Duration::from_millis(1), |_| std::time::Instant::now() >= until);
    }
    let all_done = d.run_until(Duration::from_secs(30), |d| d.producer.pending_batches() == 0);
    assert!(all_done, "{mechanism}: not every batch completed");
    let mut delivered = 0;
    for e in &d.events {
        match e {
            Event::Completed(Completion::Delivered { records, .. }) => delivered += records,
            Event::Completed(c) => panic!("{mechanism}: {c:?}"),
            Event::Fatal(f) => panic!("{mechanism}: fatal {f}"),
            _ => {}
        }
    }
    assert_eq!(delivered as usize, n, "{mechanism}: every record delivered");
    // The broker closes a connection whose session expired (KIP-368): none was lost, so the
    // connection re-authenticated (the run is longer than connections.max.reauth.ms).
    assert_eq!(d.producer.metrics().connections_lost, 0, "{mechanism}: a connection was lost");
    let mut read = read_back(&addr, &topic, n);
    read.sort();
    let mut want: Vec<String> = sent.into_iter().map(|(_, v)| v).collect();
    want.sort();
    assert_eq!(read, want, "{mechanism}: what kafka-python reads back");
}

/// Every value of `topic`, read by kafka-python over SASL PLAIN.
fn read_back(addr: &(String, u16), topic: &str, n: usize) -> Vec<String> {
    let cache =
        std::env::var("KPROD_CACHE_DIR").unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../.cache").into());
    let script = r#"
import sys
from kafka import KafkaConsumer
c = KafkaConsumer(sys.argv[2], bootstrap_servers=sys.argv[1], security_protocol="SASL_PLAINTEXT",
                  sasl_mechanism="PLAIN", sasl_plain_username="alice", sasl_plain_password="alice-secret",
                  auto_offset_reset="earliest", enable_auto_commit=False, consumer_timeout_ms=10000)
n = 0
for m in c:
    print(m.value.decode())
    n += 1
    if n >= int(sys.argv[3]):
        break
"#;
    let out = Command::new(format!("{cache}/venv/bin/python"))
        .args(["-c", script, &format!("{}:{}", addr.0, addr.1), topic, &n.to_string()])
        .output()
        .expect("kafka-python");
    assert!(out.status.success(), "kafka-python: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").lines().map(str::to_owned).collect()
}

#[test]
fn plain_reauthenticates_and_reads_back() {
    produce_and_read_back("PLAIN", PLAIN, 60, Duration::from_millis(120));
}

#[test]
fn scram_sha_256_reauthenticates_and_reads_back() {
    produce_and_read_back("SCRAM-SHA-256", SCRAM, 60, Duration::from_millis(120));
}

#[test]
fn scram_sha_512_reauthenticates_and_reads_back() {
    produce_and_read_back("SCRAM-SHA-512", SCRAM, 60, Duration::from_millis(120));
}

#[test]
fn oauthbearer_unsecured_token_reauthenticates_and_reads_back() {
    produce_and_read_back("OAUTHBEARER", OAUTH, 60, Duration::from_millis(120));
}

#[test]
fn a_wrong_password_is_a_typed_error_with_the_brokers_message() {
    let Some(addr) = bootstrap() else {
        eprintln!("KPROD_SASL_BOOTSTRAP is not set: no SASL broker, nothing checked");
        return;
    };
    const WRONG: &str =
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="wrong";"#;
    let mut d = engine("SCRAM-SHA-256", WRONG, &addr);
    let rec = ProducerRecord {
        topic: "sasl-wrong",
        partition: None,
        key: None,
        value: Some(b"x"),
        headers: &[],
        timestamp: 1,
    };
    let started = std::time::Instant::now();
    let refused = d.send(&rec, Duration::from_secs(10));
    assert!(
        matches!(refused, Err(SendError::Authentication { code: ErrorCode::SaslAuthenticationFailed, .. })),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "send waited for max.block instead of failing at once");
    let error = d.producer.auth_error(ConnId(0)).expect("the broker's refusal is kept");
    match error {
        AuthError::Failed { code, message, .. } => {
            assert_eq!(code, ErrorCode::SaslAuthenticationFailed);
            assert!(message.as_str().contains("SCRAM-SHA-256"), "{message}");
        }
        other => panic!("expected the broker's refusal, got {other:?}"),
    }
    let shown = error.to_string();
    assert!(!shown.contains("wrong\""), "{shown}");
    eprintln!("refused as expected: {shown}");
}
