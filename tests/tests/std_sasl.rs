//! SASL against the secured broker (`kafka.sh secure-up`): every mechanism on SASL_PLAINTEXT and
//! SASL_SSL, from the blocking and tokio producers, read back by the verifier over the same
//! listener with the same credentials; re-authentication (KIP-368) during a long produce; and the
//! failures (wrong password, unknown user, a mechanism the listener does not enable), each ending
//! within `max.block.ms` with an error that names the cause.
//!
//! The property sets below are the ones a user copies from a Java client.properties or a kcat
//! command.

extern crate alloc;

mod std_util;

use core::time::Duration;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use kprod_std::{AsyncProducer, Error, Producer, ProducerConfig, Record};
use kprod_tests::secure::{Listener, SecureBroker};
use kprod_tests::unique_topic;
use std_util::{send_all, verify, wait_all, Sent};

const MAX_BLOCK: Duration = Duration::from_secs(6);

fn plain_jaas(user: &str, password: &str) -> String {
    format!(
        r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="{user}" password="{password}";"#
    )
}

fn scram_jaas(user: &str, password: &str) -> String {
    format!(
        r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="{user}" password="{password}";"#
    )
}

fn oauth_jaas(sub: &str) -> String {
    format!(
        r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="{sub}";"#
    )
}

/// An unsecured OAUTHBEARER token (`alg: none`) for the verifier, valid for an hour.
fn unsecured_token(sub: &str) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use base64::Engine as _;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let header = B64.encode(br#"{"alg":"none"}"#);
    let claims = B64.encode(format!(r#"{{"sub":"{sub}","iat":{now},"exp":{}}}"#, now + 3600));
    format!("{header}.{claims}.")
}

/// A mechanism with the producer's settings and the verifier's arguments for the same login.
struct Login {
    mechanism: &'static str,
    props: Vec<(&'static str, String)>,
    verifier: Vec<String>,
}

fn login(mechanism: &'static str, user: &str, password: &str) -> Login {
    let jaas = match mechanism {
        "PLAIN" => plain_jaas(user, password),
        "OAUTHBEARER" => oauth_jaas(user),
        _ => scram_jaas(user, password),
    };
    let mut verifier = vec!["--sasl-mechanism".to_owned(), mechanism.to_owned()];
    if mechanism == "OAUTHBEARER" {
        verifier.extend(["--sasl-oauth-token".to_owned(), unsecured_token(user)]);
    } else {
        verifier.extend([
            "--sasl-username".to_owned(),
            user.to_owned(),
            "--sasl-password".to_owned(),
            password.to_owned(),
        ]);
    }
    Login { mechanism, props: vec![("sasl.mechanism", mechanism.to_owned()), ("sasl.jaas.config", jaas)], verifier }
}

/// The producer's and the verifier's security settings for `listener`.
fn settings(b: &SecureBroker, listener: Listener, login: &Login) -> (ProducerConfig, Vec<String>) {
    let tls = listener == Listener::SaslSsl;
    let protocol = if tls { "SASL_SSL" } else { "SASL_PLAINTEXT" };
    let mut config = ProducerConfig::new(&b.bootstrap(listener))
        .and_then(|c| c.set("security.protocol", protocol))
        .expect("config")
        .linger(Duration::from_millis(5));
    let mut verifier = vec!["--security-protocol".to_owned(), protocol.to_owned()];
    if tls {
        config = config.set("ssl.ca.location", &b.cert("ca.pem")).expect("ca");
        verifier.extend(["--ssl-cafile".to_owned(), b.cert("ca.pem")]);
    }
    for (k, v) in &login.props {
        config = config.set(k, v).unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    verifier.extend(login.verifier.iter().cloned());
    (config, verifier)
}

fn produce_and_verify(b: &SecureBroker, listener: Listener, login: &Login, count: usize) {
    let tag = format!("sasl-{}", login.mechanism.to_ascii_lowercase());
    let topic = unique_topic(&tag);
    b.admin().create_topic(&topic, 2, 1);
    let (config, verifier) = settings(b, listener, login);
    let producer = Producer::new(config).expect("producer");
    let records: Vec<Sent> = (0..count).map(|i| Sent::numbered(&tag, i)).collect();
    let reported = wait_all(&send_all(&producer, &topic, &records));
    producer.close(Duration::from_secs(30)).expect("close");
    let verifier: Vec<&str> = verifier.iter().map(String::as_str).collect();
    let read = b.verifier_on(listener, &verifier).read_back(&topic, count, Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

#[test]
fn every_mechanism_on_sasl_plaintext_and_sasl_ssl() {
    let Some(b) = SecureBroker::shared() else { return };
    for listener in [Listener::SaslPlaintext, Listener::SaslSsl] {
        for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] {
            produce_and_verify(b, listener, &login(mechanism, "alice", "alice-secret"), 100);
        }
    }
}

#[test]
fn librdkafka_names_for_plain() {
    let Some(b) = SecureBroker::shared() else { return };
    let mut l = login("PLAIN", "alice", "alice-secret");
    // kcat's -X sasl.mechanisms=PLAIN -X sasl.username=... -X sasl.password=...
    l.props = vec![
        ("sasl.mechanisms", "PLAIN".to_owned()),
        ("sasl.username", "alice".to_owned()),
        ("sasl.password", "alice-secret".to_owned()),
    ];
    produce_and_verify(b, Listener::SaslSsl, &l, 100);
}

#[test]
fn tokio_producer_over_sasl_ssl_with_scram() {
    let Some(b) = SecureBroker::shared() else { return };
    let l = login("SCRAM-SHA-512", "admin", "admin-secret");
    let topic = unique_topic("sasl-tokio");
    b.admin().create_topic(&topic, 1, 1);
    let (config, verifier) = settings(b, Listener::SaslSsl, &l);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let records: Vec<Sent> = (0..200).map(|i| Sent::numbered("sasl-tokio", i)).collect();
    let reported = runtime.block_on(async {
        let producer = AsyncProducer::new(config).expect("producer");
        let mut out = Vec::new();
        for s in &records {
            let headers = s.headers();
            out.push(producer.send(&s.record(&topic, &headers)).await.expect("delivered"));
        }
        producer.close(Duration::from_secs(30)).await.expect("close");
        out
    });
    let verifier: Vec<&str> = verifier.iter().map(String::as_str).collect();
    let read = b.verifier_on(Listener::SaslSsl, &verifier).read_back(&topic, 200, Duration::from_secs(60));
    verify(&read, &records, &reported, 1);
}

#[test]
fn reauthentication_during_a_long_produce_loses_and_duplicates_nothing() {
    let Some(b) = SecureBroker::shared() else { return };
    // The REAUTH listener's sessions last KPROD_SECURE_REAUTH_MS (10 s): 25 s of sends cross
    // at least two re-authentications on the same connections.
    for mechanism in ["SCRAM-SHA-256", "OAUTHBEARER"] {
        let l = login(mechanism, "alice", "alice-secret");
        let topic = unique_topic("sasl-reauth");
        b.admin().create_topic(&topic, 2, 1);
        let (config, verifier) = settings(b, Listener::Reauth, &l);
        let producer = Producer::new(config.acks(kprod_std::Acks::All)).expect("producer");
        let started = Instant::now();
        let mut records = Vec::new();
        let mut handles = Vec::new();
        while started.elapsed() < Duration::from_secs(25) {
            let batch: Vec<Sent> = (records.len()..records.len() + 50).map(|i| Sent::numbered("reauth", i)).collect();
            handles.extend(send_all(&producer, &topic, &batch));
            records.extend(batch);
            std::thread::sleep(Duration::from_millis(100));
        }
        let reported = wait_all(&handles);
        producer.close(Duration::from_secs(30)).expect("close");
        let verifier: Vec<&str> = verifier.iter().map(String::as_str).collect();
        let read = b.verifier_on(Listener::Reauth, &verifier).read_back(&topic, records.len(), Duration::from_secs(60));
        verify(&read, &records, &reported, 2);
    }
}

/// One send with `config` must fail within `max.block.ms` (plus slack) with the typed
/// authentication error: its message.
fn fails(config: ProducerConfig) -> String {
    let started = Instant::now();
    let producer = Producer::new(config.max_block(MAX_BLOCK)).expect("producer");
    let err = producer.send(&Record::new("sasl-never").value(b"x" as &[u8])).expect_err("must fail");
    assert!(started.elapsed() < MAX_BLOCK + Duration::from_secs(3), "took {:?}", started.elapsed());
    // Refused by every broker: the typed authentication error at once, quoting the broker (no
    // retry storm, no wait for max.block.ms).
    assert!(
        matches!(err, Error::Authentication { cause: Some(_), .. }),
        "an authentication error with its cause: {err:?}"
    );
    err.to_string()
}

#[test]
fn wrong_password_unknown_user_and_disabled_mechanism_are_named() {
    let Some(b) = SecureBroker::shared() else { return };
    for mechanism in ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] {
        let (config, _) = settings(b, Listener::SaslSsl, &login(mechanism, "alice", "not-alices-password"));
        let text = fails(config);
        assert!(text.contains("Authentication failed"), "{mechanism}, wrong password: {text}");
        assert!(!text.contains("not-alices-password"), "the password was printed: {text}");
        let (config, _) = settings(b, Listener::SaslPlaintext, &login(mechanism, "mallory", "whatever"));
        let text = fails(config);
        assert!(text.contains("Authentication failed"), "{mechanism}, unknown user: {text}");
    }
    // The REAUTH listener enables PLAIN, SCRAM-SHA-256 and OAUTHBEARER only.
    let (config, _) = settings(b, Listener::Reauth, &login("SCRAM-SHA-512", "alice", "alice-secret"));
    let text = fails(config);
    assert!(
        text.contains("SCRAM-SHA-512") && text.contains("SCRAM-SHA-256"),
        "names the mechanism and the enabled ones: {text}"
    );
}
