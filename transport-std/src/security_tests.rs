use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use super::*;
use crate::ProducerConfig;

fn example(name: &str) -> ProducerConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/properties").join(name);
    ProducerConfig::from_properties_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// The test certificates of `tests/broker/certs.sh` (openssl), made once per test run.
fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = root.join("target/tls-unit-certs");
        let status = std::process::Command::new("bash")
            .arg(root.join("tests/broker/certs.sh"))
            .arg(&dir)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("bash");
        assert!(status.success(), "certs.sh failed");
        dir
    })
}

/// The path of a test certificate file (see [`certs`]).
pub(crate) fn cert(name: &str) -> String {
    certs().join(name).to_string_lossy().into_owned()
}

fn tls(props: &[(&str, &str)]) -> Result<crate::tls::Connector, Error> {
    let mut config = ProducerConfig::new("127.0.0.1:9093")?.set("security.protocol", "SSL")?;
    for (k, v) in props {
        config = config.set(k, v)?;
    }
    config.connector()
}

fn tls_error(props: &[(&str, &str)]) -> String {
    tls(props).expect_err("must be refused").to_string()
}

#[test]
fn cloud_and_java_client_properties_parse_unchanged() {
    let c = example("confluent-cloud-java.properties");
    assert_eq!(c.security.protocol, SecurityProtocol::SaslSsl);
    assert_eq!(c.security.sasl.mechanism.as_deref(), Some("PLAIN"));
    assert!(c.security.sasl.jaas_config.as_ref().is_some_and(|j| j.expose().contains("PlainLoginModule required")));
    assert_eq!(c.bootstrap_servers(), [("pkc-12345.us-east-1.aws.confluent.cloud".to_owned(), 9092)]);
    // The whole file validates: SASL on, PLAIN, the JAAS line parsed by the core.
    let v = c.validate().expect("a Confluent Cloud client.properties validates unchanged");
    assert!(v.config().sasl.enabled);

    let c = example("confluent-cloud-librdkafka.properties");
    assert_eq!(c.security.sasl.mechanism.as_deref(), Some("PLAIN"));
    assert_eq!(c.security.sasl.username.as_deref(), Some("ABCDEFGHIJKLMNOP"));
    assert_eq!(c.security.sasl.password.as_ref().map(Secret::expose), Some("cc-secret-0123456789abcdef"));

    let c = example("msk-scram.properties");
    assert_eq!(c.security.sasl.mechanism.as_deref(), Some("SCRAM-SHA-512"));
    let jaas = c.security.sasl.jaas_config.as_ref().expect("jaas").expose().to_owned();
    assert!(jaas.contains(r#"required username="msk-user" password="msk-secret-0123456789";"#), "{jaas}");

    let c = example("msk-tls.properties");
    assert_eq!(c.security.protocol, SecurityProtocol::Ssl);
    assert_eq!(c.bootstrap_servers().len(), 2);
    c.validate().expect("valid");

    let c = example("aiven-java.properties");
    assert_eq!(c.security.ssl.keystore.kind, Some(StoreType::Pkcs12));
    assert_eq!(c.security.ssl.truststore.location.as_deref(), Some(Path::new("client.truststore.jks")));
    assert_eq!(c.security.ssl.key_password.as_ref().map(Secret::expose), Some("aiven-key-secret"));

    let c = example("aiven-kcat.properties");
    assert_eq!(c.security.protocol, SecurityProtocol::Ssl);
    assert_eq!(c.security.ssl.truststore.kind, Some(StoreType::Pem));
    assert_eq!(c.security.ssl.certificate_location.as_deref(), Some(Path::new("service.cert")));
    assert_eq!(c.security.ssl.key_location.as_deref(), Some(Path::new("service.key")));

    let c = example("java-mtls-pem.properties");
    assert_eq!(c.security.ssl.versions, TlsVersions { tls12: false, tls13: true });
    assert_eq!(c.security.ssl.cipher_suites, ["TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]);
    assert!(c.security.ssl.verify_hostname);
}

#[test]
fn secrets_stay_out_of_debug_output_and_errors() {
    let secrets = [
        ("ssl.key.password", "S1-key-pass"),
        ("ssl.keystore.password", "S2-keystore-pass"),
        ("ssl.truststore.password", "S3-truststore-pass"),
        ("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----\nS4-PEM-BODY\n-----END PRIVATE KEY-----"),
        (
            "sasl.jaas.config",
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"S5-jaas\";",
        ),
        ("sasl.password", "S6-sasl-pass"),
    ];
    let mut config = ProducerConfig::new("h:1").unwrap();
    for (k, v) in secrets {
        config = config.set(k, v).unwrap();
        assert!(is_secret_property(k), "{k}");
    }
    let debug = format!("{config:?} {:#?}", config.security());
    for (k, v) in secrets {
        let needle = &v[..8.min(v.len())];
        let needle = if k == "ssl.keystore.key" { "S4-PEM-BODY" } else { needle };
        assert!(!debug.contains(needle), "{k} shows in Debug output");
    }
    assert!(debug.contains("[hidden]"));
    assert!(!is_secret_property("ssl.truststore.location") && !is_secret_property("sasl.mechanism"));
    // A key that cannot be parsed: the error names the setting, not the key.
    let e = config.set("security.protocol", "SSL").unwrap().set("ssl.keystore.certificate.chain", "x").unwrap();
    let e = e.connector().unwrap_err().to_string();
    assert!(!e.contains("S4-PEM-BODY") && !e.contains("S1-key-pass"), "{e}");
}

#[test]
fn java_settings_map_onto_rustls_or_are_refused_with_the_reason() {
    let mut c = ProducerConfig::default();
    for (k, v) in [
        ("ssl.protocol", "TLSv1.3"),
        ("ssl.enabled.protocols", "TLSv1.2,TLSv1.3"),
        ("ssl.trustmanager.algorithm", "PKIX"),
        ("ssl.keymanager.algorithm", "SunX509"),
        ("ssl.provider", ""),
        ("ssl.engine.factory.class", ""),
        ("ssl.secure.random.implementation", ""),
        ("ssl.endpoint.identification.algorithm", ""),
        ("enable.ssl.certificate.verification", "true"),
        ("ssl.ca.location", "probe"),
    ] {
        c.set_property(k, v).unwrap_or_else(|e| panic!("{k}={v}: {e}"));
    }
    assert!(!c.security.ssl.verify_hostname);
    for (k, v, why) in [
        ("ssl.enabled.protocols", "TLSv1.1", "TLSv1.2 and TLSv1.3 only"),
        ("ssl.provider", "SunJSSE", "rustls"),
        ("ssl.engine.factory.class", "com.example.Factory", "Java classes"),
        ("ssl.secure.random.implementation", "SHA1PRNG", "operating system"),
        ("ssl.trustmanager.algorithm", "Custom", "PKIX"),
        ("security.protocol", "TLS", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL"),
        ("ssl.endpoint.identification.algorithm", "ldaps", "https"),
        ("enable.ssl.certificate.verification", "false", "always verifies"),
        ("sasl.client.callback.handler.class", "software.amazon.msk.auth.iam.IAMClientCallbackHandler", "OAUTHBEARER"),
    ] {
        let e = c.set_property(k, v).expect_err(k).to_string();
        assert!(e.contains(k) && e.contains(why), "{k}={v}: {e}");
    }
    let e = tls_error(&[("ssl.cipher.suites", "TLS_RSA_WITH_RC4_128_MD5"), ("ssl.ca.location", &cert("ca.pem"))]);
    assert!(e.contains("ssl.cipher.suites") && e.contains("TLS_AES_128_GCM_SHA256"), "{e}");
    tls(&[("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256"), ("ssl.ca.location", &cert("ca.pem"))])
        .expect("a suite rustls has");
}

#[test]
fn stores_and_keys_load_and_bad_ones_are_named() {
    let password = std::fs::read_to_string(cert("password")).unwrap();
    // Every way of giving the trust and the identity builds a client configuration.
    tls(&[("ssl.truststore.location", &cert("ca.pem"))]).expect("PEM truststore, type told by content");
    tls(&[
        ("ssl.truststore.type", "PKCS12"),
        ("ssl.truststore.location", &cert("truststore.p12")),
        ("ssl.truststore.password", &password),
    ])
    .expect("PKCS12 truststore");
    let ca = std::fs::read_to_string(cert("ca.pem")).unwrap();
    let chain = std::fs::read_to_string(cert("client.pem")).unwrap();
    let key = std::fs::read_to_string(cert("client.key")).unwrap();
    let c = tls(&[
        ("ssl.truststore.certificates", &ca),
        ("ssl.keystore.certificate.chain", &chain),
        ("ssl.keystore.key", &key),
    ])
    .expect("inline PEM");
    assert!(c.tls.expect("tls").client_auth_cert_resolver.has_certs());
    tls(&[
        ("ssl.ca.location", &cert("ca.pem")),
        ("ssl.keystore.location", &cert("client.p12")),
        ("ssl.keystore.password", &password),
    ])
    .expect("PKCS12 keystore, type told by content");
    let encrypted =
        [("ssl.certificate.location", cert("client.pem")), ("ssl.key.location", cert("client-encrypted.key"))];
    fn with<'a>(base: &'a [(&'a str, String)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut p: Vec<(&str, &str)> = base.iter().map(|(k, v)| (*k, v.as_str())).collect();
        p.extend_from_slice(extra);
        p
    }
    tls(&with(&encrypted, &[("ssl.key.password", &password)])).expect("encrypted PKCS#8 key");

    // Wrong or missing passwords: named, never quoted.
    let e = tls_error(&with(&encrypted, &[("ssl.key.password", "not-the-pass-42")]));
    assert!(e.contains("ssl.key.password is wrong") && !e.contains("not-the-pass-42"), "{e}");
    let e = tls_error(&with(&encrypted, &[]));
    assert!(e.contains("encrypted: set ssl.key.password"), "{e}");
    let e = tls_error(&[("ssl.keystore.location", &cert("client.p12")), ("ssl.keystore.password", "not-the-pass-43")]);
    assert!(e.contains("wrong password (check ssl.keystore.password)") && !e.contains("not-the-pass-43"), "{e}");
    let e = tls_error(&[("ssl.truststore.location", &cert("truststore.p12"))]);
    assert!(e.contains("ssl.truststore.password"), "{e}");

    // Half an identity, a missing file, a JKS store.
    let e = tls_error(&[("ssl.certificate.location", &cert("client.pem"))]);
    assert!(e.contains("no private key: set ssl.keystore.key (or ssl.key.location)"), "{e}");
    let e = tls_error(&[("ssl.ca.location", "/nonexistent/ca.pem")]);
    assert!(e.contains("ssl.truststore.location=/nonexistent/ca.pem: cannot read it"), "{e}");
    let jks = certs().join("client.truststore.jks");
    std::fs::write(&jks, [0xfe, 0xed, 0xfe, 0xed, 0, 0, 0, 2]).unwrap();
    let jks = jks.to_string_lossy().into_owned();
    let e = tls_error(&[("ssl.truststore.location", &jks), ("ssl.truststore.password", "x")]);
    let p12 = jks.replace(".jks", ".p12");
    let command = format!("keytool -importkeystore -srckeystore {jks} -destkeystore {p12} -deststoretype PKCS12");
    assert!(e.contains(&command) && e.contains("ssl.truststore.type=PKCS12"), "{e}");
    let e = tls_error(&[("ssl.keystore.type", "JKS"), ("ssl.keystore.location", &jks)]);
    assert!(e.contains("ssl.keystore.location=") && e.contains("keytool -importkeystore"), "{e}");
}

#[test]
fn sasl_needs_a_mechanism_and_plaintext_needs_no_tls() {
    for protocol in ["SASL_PLAINTEXT", "SASL_SSL"] {
        // Java's default mechanism is GSSAPI, which kprod does not have: the error says so.
        let c = ProducerConfig::new("h:1").unwrap().set("security.protocol", protocol).unwrap();
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("sasl.mechanism") && e.contains("GSSAPI"), "{e}");
        let jaas = r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="u" password="p";"#;
        let c = c.set("sasl.mechanism", "PLAIN").and_then(|c| c.set("sasl.jaas.config", jaas)).unwrap();
        assert!(c.validate().expect("valid").config().sasl.enabled, "{protocol}");
    }
    let c = ProducerConfig::new("h:1").unwrap().set("security.protocol", "plaintext").unwrap();
    assert!(c.connector().unwrap().tls.is_none());
}
