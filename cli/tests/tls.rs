//! `kprod produce` and `kprod perf` over TLS against the secured broker (`kafka.sh secure-up`):
//! what they wrote is read back by the independent verifier over the same listener; and no run
//! prints a secret (store and key passwords, the JAAS line), whatever it logs or fails with.

mod util;

use kprod_tests::secure::{Listener, SecureBroker};
use kprod_tests::unique_topic;
use util::{describe, kprod, read_all, TempFile};

fn secure() -> Option<&'static SecureBroker> {
    let broker = SecureBroker::shared();
    if broker.is_none() {
        eprintln!("skipped: KPROD_SECURE=skip");
    }
    broker
}

/// Everything a run printed.
fn output(out: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn verifier_args(b: &SecureBroker) -> Vec<String> {
    b.verifier_tls_args()
}

#[test]
fn produce_over_mtls_with_a_java_client_properties_file() {
    let Some(b) = secure() else { return };
    let password = b.store_password();
    let topic = unique_topic("cli-mtls");
    b.admin().create_topic(&topic, 2, 1);
    // PKCS12 stores, as a Java application's client.properties names them.
    let props = TempFile::new(
        "client.properties",
        format!(
            "security.protocol=SSL\nssl.truststore.type=PKCS12\nssl.truststore.location={}\nssl.truststore.password={password}\n\
             ssl.keystore.type=PKCS12\nssl.keystore.location={}\nssl.keystore.password={password}\nssl.key.password={password}\n",
            b.cert("truststore.p12"),
            b.cert("client.p12")
        )
        .as_bytes(),
    );
    let lines: String = (0..50).map(|i| format!("k{}:value-{i}\n", i % 7)).collect();
    let mtls = b.bootstrap(Listener::Mtls);
    let out =
        kprod(&["produce", "-b", &mtls, "-t", &topic, "-K", ":", "--config", props.path(), "-vv"], lines.as_bytes());
    assert!(out.status.success(), "{}", describe(&out));
    assert!(!output(&out).contains(&password), "a password was printed: {}", describe(&out));
    let args = verifier_args(b);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let read = read_all(&b.verifier_on(Listener::Mtls, &args), &topic, 50);
    assert_eq!(read.len(), 50, "no loss, no duplicate");
    let mut seen: Vec<(Vec<u8>, Vec<u8>)> =
        read.iter().map(|r| (r.key.clone().expect("key"), r.value.clone().expect("value"))).collect();
    seen.sort();
    let mut expected: Vec<(Vec<u8>, Vec<u8>)> =
        (0..50).map(|i| (format!("k{}", i % 7).into_bytes(), format!("value-{i}").into_bytes())).collect();
    expected.sort();
    assert_eq!(seen, expected);
}

#[test]
fn perf_over_ssl_with_librdkafka_names() {
    let Some(b) = secure() else { return };
    let topic = unique_topic("cli-perf-tls");
    b.admin().create_topic(&topic, 3, 1);
    let bootstrap = format!("bootstrap.servers={}", b.bootstrap(Listener::Ssl));
    let ca = format!("ssl.ca.location={}", b.cert("ca.pem"));
    let out = kprod(
        &[
            "perf",
            "--topic",
            &topic,
            "--num-records",
            "5000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--producer-props",
            &bootstrap,
            "security.protocol=SSL",
            &ca,
            "acks=all",
        ],
        b"",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("5000 records sent"), "{}", describe(&out));
    let args = verifier_args(b);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let read = read_all(&b.verifier_on(Listener::Ssl, &args), &topic, 5000);
    assert_eq!(read.len(), 5000, "no loss, no duplicate");
    assert!(read.iter().all(|r| r.value.as_ref().is_some_and(|v| v.len() == 100)));
}

#[test]
fn failures_name_the_setting_and_never_print_a_secret() {
    let Some(b) = secure() else { return };
    let wrong = "wrong-key-pass-Zq9";
    let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="jaas-secret-Xy7";"#;
    let topic = unique_topic("cli-tls-secret");
    let ssl = b.bootstrap(Listener::Ssl);
    let cert = format!("ssl.certificate.location={}", b.cert("client.pem"));
    let key = format!("ssl.key.location={}", b.cert("client-encrypted.key"));
    let key_password = format!("ssl.key.password={wrong}");
    let jaas_setting = format!("sasl.jaas.config={jaas}");
    // A wrong key password: refused at start, naming the setting.
    let text = produce_fails(&ssl, &topic, &["security.protocol=SSL", &cert, &key, &key_password, "-vv"]);
    assert!(text.contains("ssl.key.password is wrong"), "{text}");
    assert!(!text.contains(wrong), "the password was printed: {text}");
    // SASL with a JAAS line whose password the broker refuses: the broker's words and the
    // setting to check, and nothing secret.
    let sasl = b.bootstrap(Listener::SaslPlaintext);
    let settings = ["security.protocol=SASL_PLAINTEXT", "sasl.mechanism=PLAIN", &jaas_setting, "-vv"];
    let text = produce_fails(&sasl, &topic, &settings);
    assert!(text.contains("Authentication failed") && text.contains("sasl.jaas.config"), "{text}");
    assert!(
        !text.contains("jaas-secret-Xy7") && !text.contains("PlainLoginModule"),
        "the JAAS line was printed: {text}"
    );
    let text = produce_fails(&ssl, &topic, &[&key_password, "ssl.provider=Custom"]);
    assert!(text.contains("ssl.provider") && !text.contains(wrong), "{text}");
    // A TLS failure at run time (untrusted CA) ends within max.block.ms, naming the setting.
    let other = format!("ssl.ca.location={}", b.cert("other-ca.pem"));
    let settings =
        ["security.protocol=SSL", &other, "max.block.ms=4000", "delivery.timeout.ms=5000", "request.timeout.ms=3000"];
    let text = produce_fails(&ssl, &topic, &settings);
    assert!(text.contains("ssl.truststore.location"), "{text}");
}

/// Runs `kprod produce -b BOOTSTRAP -t TOPIC -X SETTING...` (`-v`/`-vv` are passed as they are) on
/// one line; it must fail. Returns everything it printed.
fn produce_fails(bootstrap: &str, topic: &str, settings: &[&str]) -> String {
    let mut args = vec!["produce", "-b", bootstrap, "-t", topic];
    for s in settings {
        if !s.starts_with('-') {
            args.push("-X");
        }
        args.push(s);
    }
    let out = kprod(&args, b"x\n");
    assert!(!out.status.success(), "{}", describe(&out));
    output(&out)
}
