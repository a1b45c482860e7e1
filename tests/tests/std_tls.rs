//! TLS against the secured broker (`kafka.sh secure-up`): the blocking and tokio producers over
//! SSL and mTLS with every way of giving the truststore and keystore (PEM files, inline PEM,
//! PKCS12, an encrypted PKCS#8 key, librdkafka's names), each read back over the same listener
//! by the independent verifier; and the failures, each ending within `max.block.ms` with a
//! typed error that names the cause and the setting to change.

extern crate alloc;

mod std_util;

use core::time::Duration;
use std::time::Instant;

use kprod_std::{AsyncProducer, ConnectionError, Error, Producer, ProducerConfig, Record, TlsError};
use kprod_tests::secure::{Listener, SecureBroker};
use kprod_tests::unique_topic;
use std_util::{send_all, verify, wait_all, Sent};

/// `max.block.ms` of the failure tests.
const MAX_BLOCK: Duration = Duration::from_secs(6);

fn secure() -> Option<&'static SecureBroker> {
    let broker = SecureBroker::shared();
    if broker.is_none() {
        eprintln!("skipped: KPROD_SECURE=skip");
    }
    broker
}

fn config(broker: &SecureBroker, listener: Listener, props: &[(&str, String)]) -> ProducerConfig {
    let mut config =
        ProducerConfig::new(&broker.bootstrap(listener)).expect("bootstrap").linger(Duration::from_millis(5));
    for (k, v) in props {
        config = config.set(k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    config
}

/// Produces 200 records with `config` (blocking) and reads them back over `listener` with TLS.
fn produce_and_verify(broker: &SecureBroker, listener: Listener, config: ProducerConfig, tag: &str) {
    produce_and_verify_with(broker, listener, config, tag, &[]);
}

/// [`produce_and_verify`] with more verifier arguments.
fn produce_and_verify_with(
    broker: &SecureBroker,
    listener: Listener,
    config: ProducerConfig,
    tag: &str,
    more: &[&str],
) {
    let topic = unique_topic(tag);
    broker.admin().create_topic(&topic, 3, 1);
    let producer = Producer::new(config).expect("producer");
    let records: Vec<Sent> = (0..200).map(|i| Sent::numbered(tag, i)).collect();
    let reported = wait_all(&send_all(&producer, &topic, &records));
    producer.close(Duration::from_secs(30)).expect("close");
    let args = broker.verifier_tls_args();
    let mut args: Vec<&str> = args.iter().map(String::as_str).collect();
    args.extend(more);
    let read = broker.verifier_on(listener, &args).read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 3);
}

#[test]
fn blocking_producer_over_ssl_with_pem_truststore_and_hostname_check() {
    let Some(b) = secure() else { return };
    let props = [
        ("security.protocol", "SSL".into()),
        ("ssl.truststore.type", "PEM".into()),
        ("ssl.truststore.location", b.cert("ca.pem")),
    ];
    produce_and_verify(b, Listener::Ssl, config(b, Listener::Ssl, &props), "tls-pem");
    // The same CA inline (`ssl.truststore.certificates`), and by name (localhost is in the SAN).
    let pem = std::fs::read_to_string(b.cert("ca.pem")).expect("ca.pem");
    let inline = [
        ("security.protocol", "SSL".into()),
        ("ssl.truststore.type", "PEM".into()),
        ("ssl.truststore.certificates", pem),
    ];
    let by_name = config(b, Listener::Ssl, &inline)
        .set("bootstrap.servers", &b.bootstrap(Listener::Ssl).replace("127.0.0.1", "localhost"));
    produce_and_verify(b, Listener::Ssl, by_name.expect("bootstrap"), "tls-inline");
}

#[test]
fn blocking_producer_over_mtls_with_pem_pkcs12_and_encrypted_keys() {
    let Some(b) = secure() else { return };
    let password = b.store_password();
    let ssl = |extra: &[(&str, String)]| {
        let mut p = vec![("security.protocol", "SSL".to_owned())];
        p.extend(extra.iter().cloned());
        config(b, Listener::Mtls, &p)
    };
    // Java PEM keystore (key and chain in one file) and PKCS12 truststore.
    let pem = ssl(&[
        ("ssl.truststore.type", "PKCS12".into()),
        ("ssl.truststore.location", b.cert("truststore.p12")),
        ("ssl.truststore.password", password.clone()),
        ("ssl.keystore.type", "PEM".into()),
        ("ssl.keystore.location", b.cert("client-keystore.pem")),
    ]);
    produce_and_verify(b, Listener::Mtls, pem, "mtls-pem");
    // PKCS12 keystore.
    let p12 = ssl(&[
        ("ssl.ca.location", b.cert("ca.pem")),
        ("ssl.keystore.type", "PKCS12".into()),
        ("ssl.keystore.location", b.cert("client.p12")),
        ("ssl.keystore.password", password.clone()),
    ]);
    produce_and_verify(b, Listener::Mtls, p12, "mtls-p12");
    // librdkafka's names, with an encrypted PKCS#8 key.
    let rdkafka = ssl(&[
        ("ssl.ca.location", b.cert("ca.pem")),
        ("ssl.certificate.location", b.cert("client.pem")),
        ("ssl.key.location", b.cert("client-encrypted.key")),
        ("ssl.key.password", password),
    ]);
    produce_and_verify(b, Listener::Mtls, rdkafka, "mtls-rdkafka");
}

#[test]
fn tokio_producer_over_ssl_and_mtls() {
    let Some(b) = secure() else { return };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    for (listener, tag) in [(Listener::Ssl, "tokio-tls"), (Listener::Mtls, "tokio-mtls")] {
        let topic = unique_topic(tag);
        b.admin().create_topic(&topic, 2, 1);
        let keystore = b.cert("client-keystore.pem");
        let props = [
            ("security.protocol", "SSL".to_owned()),
            ("ssl.truststore.location", b.cert("ca.pem")),
            ("ssl.keystore.location", keystore),
        ];
        let cfg = config(b, listener, &props);
        let records: Vec<Sent> = (0..300).map(|i| Sent::numbered(tag, i)).collect();
        let reported = runtime.block_on(async {
            let producer = AsyncProducer::new(cfg).expect("producer");
            let mut futures = Vec::new();
            for s in &records {
                let headers = s.headers();
                let record = s.record(&topic, &headers);
                futures.push(producer.enqueue(&record).await.expect("enqueue"));
            }
            let mut reported = Vec::new();
            for f in futures {
                reported
                    .push(tokio::time::timeout(Duration::from_secs(60), f).await.expect("in time").expect("delivered"));
            }
            producer.close(Duration::from_secs(30)).await.expect("close");
            reported
        });
        let args = b.verifier_tls_args();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let read = b.verifier_on(listener, &args).read_back(&topic, records.len(), Duration::from_secs(60));
        verify(&read, &records, &reported, 2);
    }
}

#[test]
fn hostname_check_can_be_turned_off_as_in_java() {
    let Some(b) = secure() else { return };
    let props = [
        ("security.protocol", "SSL".into()),
        ("ssl.ca.location", b.cert("ca.pem")),
        ("ssl.endpoint.identification.algorithm", String::new()),
    ];
    produce_and_verify_with(
        b,
        Listener::WrongHost,
        config(b, Listener::WrongHost, &props),
        "tls-nohostcheck",
        &["--ssl-no-check-hostname"],
    );
}

/// Sends one record with `config` (and `max.block.ms` = [`MAX_BLOCK`]): it must fail within
/// `max.block.ms` (plus slack) with a timeout whose cause is a connection error.
fn fails_with(config: ProducerConfig) -> ConnectionError {
    let started = Instant::now();
    let producer = Producer::new(config.max_block(MAX_BLOCK)).expect("producer");
    let result = producer.send(&Record::new("tls-never").value(b"x" as &[u8]));
    let took = started.elapsed();
    let err = result.expect_err("the send must fail");
    assert!(took < MAX_BLOCK + Duration::from_secs(3), "took {took:?}");
    let Error::Timeout { cause: Some(cause), .. } = &err else {
        panic!("expected a timeout with a cause, got {err:?}");
    };
    eprintln!("error as the user sees it: {err}");
    drop(producer);
    (**cause).clone()
}

fn tls_error(config: ProducerConfig) -> (TlsError, String) {
    match fails_with(config) {
        ConnectionError::Tls { error, .. } => {
            let text = error.to_string();
            (error, text)
        }
        other => panic!("expected a TLS error, got {other:?}: {other}"),
    }
}

#[test]
fn wrong_ca_wrong_host_and_expired_certificates_are_named() {
    let Some(b) = secure() else { return };
    let tls = |listener, ca: &str| {
        config(b, listener, &[("security.protocol", "SSL".into()), ("ssl.ca.location", b.cert(ca))])
    };
    let (e, text) = tls_error(tls(Listener::Ssl, "other-ca.pem"));
    assert_eq!(e, TlsError::UnknownIssuer);
    assert!(text.contains("ssl.truststore.location"), "{text}");
    let (e, text) = tls_error(tls(Listener::WrongHost, "ca.pem"));
    assert_eq!(e, TlsError::WrongHost { host: "127.0.0.1".into() });
    assert!(text.contains("ssl.endpoint.identification.algorithm"), "{text}");
    let (e, text) = tls_error(tls(Listener::Expired, "ca.pem"));
    assert_eq!(e, TlsError::Expired);
    assert!(text.contains("expired"), "{text}");
}

#[test]
fn mtls_without_or_with_an_untrusted_client_certificate_is_named() {
    let Some(b) = secure() else { return };
    let base = [("security.protocol", "SSL".to_owned()), ("ssl.ca.location", b.cert("ca.pem"))];
    let (e, text) = tls_error(config(b, Listener::Mtls, &base));
    assert!(matches!(e, TlsError::ClientCertificateRejected { sent: false, .. }), "{e:?}");
    assert!(text.contains("ssl.keystore.location"), "{text}");
    let mut other = base.to_vec();
    other.push(("ssl.certificate.location", b.cert("other-client.pem")));
    other.push(("ssl.key.location", b.cert("other-client.key")));
    let (e, _) = tls_error(config(b, Listener::Mtls, &other));
    assert!(matches!(e, TlsError::ClientCertificateRejected { sent: true, .. }), "{e:?}");
}

#[test]
fn a_tls_client_on_a_plaintext_port_and_the_reverse_are_named() {
    let Some(b) = secure() else { return };
    let tls = [("security.protocol", "SSL".to_owned()), ("ssl.ca.location", b.cert("ca.pem"))];
    let (e, text) = tls_error(config(b, Listener::Plaintext, &tls));
    assert!(matches!(e, TlsError::ClosedDuringHandshake | TlsError::NotTls(_)), "{e:?}");
    assert!(text.contains("security.protocol=PLAINTEXT"), "{text}");
    let cause = fails_with(config(b, Listener::Ssl, &[]));
    let text = cause.to_string();
    assert!(text.contains("security.protocol=SSL"), "a plaintext client on the TLS port: {text}");
}
