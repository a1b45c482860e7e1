//! Every producer property of the Java client (Kafka 4.x `ProducerConfig`), and what kprod does
//! with it: supported with the Java meaning, supported as an alias of another name, a kprod
//! extension, or refused with the reason.
//!
//! [`PROPERTIES`] is the one source of that answer. [`crate::ProducerConfig::set_property`]
//! gives a refused property's reason in its error, the README's property table is generated
//! from it ([`markdown_table`]), and `tests/tests/property_table.rs` checks it both ways: every
//! name of the Kafka jars' `ProducerConfig` has an entry, a supported entry is accepted, a
//! refused one is refused, and the README table is the generated one.

/// What kprod does with a property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Accepted, with the Java client's meaning. `sample` is a value the test sets.
    Supported {
        /// A valid value, for the test that checks the name is accepted.
        sample: &'static str,
    },
    /// Accepted as another name for `of` (librdkafka's or kafka-python's spelling).
    Alias {
        /// The Java property it stands for.
        of: &'static str,
        /// A valid value, for the test.
        sample: &'static str,
    },
    /// A kprod setting with no Java counterpart.
    Extension {
        /// A valid value, for the test.
        sample: &'static str,
    },
    /// Accepted only empty or at a value that means what kprod does anyway; any other value is
    /// refused with this reason.
    DefaultOnly {
        /// Why other values are refused.
        reason: &'static str,
    },
    /// Accepted and ignored with a logged warning: a setting of another Kafka client that
    /// cloud providers' `client.properties` snippets carry.
    Ignored {
        /// Why it does not apply.
        reason: &'static str,
    },
    /// Refused: setting it is an error that gives this reason.
    Refused {
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// The property name.
    pub name: &'static str,
    /// What kprod does with it.
    pub support: Support,
    /// What differs from the Java client, if anything (empty: nothing).
    pub note: &'static str,
}

const fn ok(name: &'static str, sample: &'static str) -> Property {
    Property { name, support: Support::Supported { sample }, note: "" }
}

const fn ok_note(name: &'static str, sample: &'static str, note: &'static str) -> Property {
    Property { name, support: Support::Supported { sample }, note }
}

const fn ext(name: &'static str, sample: &'static str, note: &'static str) -> Property {
    Property { name, support: Support::Extension { sample }, note }
}

const fn alias(name: &'static str, of: &'static str, sample: &'static str) -> Property {
    Property { name, support: Support::Alias { of, sample }, note: "" }
}

const fn default_only(name: &'static str, reason: &'static str) -> Property {
    Property { name, support: Support::DefaultOnly { reason }, note: "" }
}

const fn ignored(name: &'static str, reason: &'static str) -> Property {
    Property { name, support: Support::Ignored { reason }, note: "" }
}

const fn no(name: &'static str, reason: &'static str) -> Property {
    Property { name, support: Support::Refused { reason }, note: "" }
}

const JAVA_CLASS: &str = "it names a Java class, and kprod cannot load Java code";
const JAVA_INTERCEPTOR: &str =
    "it names a Java class, and kprod cannot load Java code; add interceptors in Rust: ProducerConfig::interceptor";
const JAVA_PARTITIONER: &str =
    "it names a Java class, and kprod cannot load Java code; set a Rust partitioner: ProducerConfig::partitioner";
const KERBEROS: &str = "SASL GSSAPI (Kerberos) is not supported";
const OIDC: &str = "kprod does not fetch OAuth tokens itself; the application supplies OAUTHBEARER tokens";
const SASL_CLASS: &str = "kprod cannot load Java classes; it supports PLAIN, SCRAM-SHA-256/512 and OAUTHBEARER";

/// Every property, sorted by name: the Java client's, then kprod's own and the aliases.
pub const PROPERTIES: &[Property] = &[
    ok("acks", "all"),
    ok_note(
        "batch.size",
        "16384",
        "with compression it counts estimated compressed bytes, as in Java: a batch takes records until its size at the topic's learned compression ratio (plus 5%) would pass it",
    ),
    ok("bootstrap.servers", "localhost:9092"),
    ok_note(
        "buffer.memory",
        "33554432",
        "a bound, not an allocation: pages are mapped when records first need them and (on Linux) given back once their batches complete",
    ),
    ok_note(
        "client.dns.lookup",
        "resolve_canonical_bootstrap_servers_only",
        "`use_all_dns_ips` (the default) tries every address of a name in turn",
    ),
    ok("client.id", "app-1"),
    ok_note(
        "compression.gzip.level",
        "9",
        "default 6, as Java's; with libdeflate (the default under std), 5 costs about two thirds of the CPU for about 6% more bytes (BENCHMARKS.md, \"gzip's bytes on the broker\")",
    ),
    ok_note("compression.lz4.level", "9", "checked, but the lz4 encoder (lz4_flex) has one level"),
    ok("compression.type", "lz4"),
    ok("compression.zstd.level", "3"),
    no(
        "config.providers",
        "config providers are Java classes; resolve `${...}` placeholders before passing the properties",
    ),
    ok("connections.max.idle.ms", "540000"),
    ok("delivery.timeout.ms", "120000"),
    ok("enable.idempotence", "true"),
    no("enable.metrics.push", "KIP-714 client metrics push is not implemented; read Producer::metrics_by_name()"),
    no("interceptor.classes", JAVA_INTERCEPTOR),
    ok_note(
        "key.serializer",
        "org.apache.kafka.common.serialization.StringSerializer",
        "String, ByteArray, ByteBuffer and Bytes serializers; the Rust API takes serializers by type",
    ),
    ok_note(
        "linger.ms",
        "5",
        "while a `send` waits for buffer memory (and for 1 s after), a batch below `batch.size` waits past `linger.ms` while a request its broker sent before it opened, or an earlier batch of its partition, is unanswered, until it fills or a quarter of `delivery.timeout.ms` has passed, so the memory the sender waits for comes back from full batches (with many partitions in a full buffer, batches of one or two records otherwise)",
    ),
    ok("max.block.ms", "60000"),
    ok("max.in.flight.requests.per.connection", "5"),
    ok("max.request.size", "1048576"),
    ok("metadata.max.age.ms", "300000"),
    ok_note(
        "metadata.max.idle.ms",
        "300000",
        "an idle topic leaves Metadata requests; its table entries stay, so its sequence numbers survive",
    ),
    ok("metadata.recovery.rebootstrap.trigger.ms", "300000"),
    ok_note(
        "metadata.recovery.strategy",
        "rebootstrap",
        "`rebootstrap` (the default) or `none`; with `rebootstrap` a Metadata v13 REBOOTSTRAP_REQUIRED answer sends the next refresh to `bootstrap.servers`",
    ),
    no("metric.reporters", JAVA_CLASS),
    ok_note("metrics.num.samples", "2", "1 to 8 samples"),
    ok_note("metrics.recording.level", "INFO", "accepted; every metric is recorded at every level"),
    ok("metrics.sample.window.ms", "30000"),
    ok("partitioner.adaptive.partitioning.enable", "true"),
    ok_note(
        "partitioner.availability.timeout.ms",
        "1000",
        "a partition counts as stuck when its oldest batch waited that long past linger.ms (Java measures per broker)",
    ),
    no("partitioner.class", JAVA_PARTITIONER),
    ok("partitioner.ignore.keys", "true"),
    ok("receive.buffer.bytes", "32768"),
    ok("reconnect.backoff.max.ms", "1000"),
    ok("reconnect.backoff.ms", "50"),
    ok("request.timeout.ms", "30000"),
    ok("retries", "2147483647"),
    ok("retry.backoff.max.ms", "1000"),
    ok("retry.backoff.ms", "100"),
    default_only("sasl.client.callback.handler.class", SASL_CLASS),
    ok_note(
        "sasl.jaas.config",
        "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"u\" password=\"p\";",
        "Java's syntax, for the PLAIN, SCRAM and OAUTHBEARER login modules",
    ),
    no("sasl.kerberos.kinit.cmd", KERBEROS),
    no("sasl.kerberos.min.time.before.relogin", KERBEROS),
    no("sasl.kerberos.service.name", KERBEROS),
    no("sasl.kerberos.ticket.renew.jitter", KERBEROS),
    no("sasl.kerberos.ticket.renew.window.factor", KERBEROS),
    default_only("sasl.login.callback.handler.class", SASL_CLASS),
    default_only("sasl.login.class", SASL_CLASS),
    no("sasl.login.connect.timeout.ms", OIDC),
    no("sasl.login.read.timeout.ms", OIDC),
    no("sasl.login.refresh.buffer.seconds", OIDC),
    no("sasl.login.refresh.min.period.seconds", OIDC),
    no("sasl.login.refresh.window.factor", OIDC),
    no("sasl.login.refresh.window.jitter", OIDC),
    no("sasl.login.retry.backoff.max.ms", OIDC),
    no("sasl.login.retry.backoff.ms", OIDC),
    ok_note("sasl.mechanism", "SCRAM-SHA-512", "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER"),
    no("sasl.oauthbearer.assertion.algorithm", OIDC),
    no("sasl.oauthbearer.assertion.claim.aud", OIDC),
    no("sasl.oauthbearer.assertion.claim.exp.seconds", OIDC),
    no("sasl.oauthbearer.assertion.claim.iss", OIDC),
    no("sasl.oauthbearer.assertion.claim.jti.include", OIDC),
    no("sasl.oauthbearer.assertion.claim.nbf.seconds", OIDC),
    no("sasl.oauthbearer.assertion.claim.sub", OIDC),
    no("sasl.oauthbearer.assertion.file", OIDC),
    no("sasl.oauthbearer.assertion.private.key.file", OIDC),
    no("sasl.oauthbearer.assertion.private.key.passphrase", OIDC),
    no("sasl.oauthbearer.assertion.template.file", OIDC),
    no("sasl.oauthbearer.client.credentials.client.id", OIDC),
    no("sasl.oauthbearer.client.credentials.client.secret", OIDC),
    no("sasl.oauthbearer.clock.skew.seconds", OIDC),
    no("sasl.oauthbearer.expected.audience", OIDC),
    no("sasl.oauthbearer.expected.issuer", OIDC),
    no("sasl.oauthbearer.header.urlencode", OIDC),
    no("sasl.oauthbearer.jwks.endpoint.refresh.ms", OIDC),
    no("sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms", OIDC),
    no("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms", OIDC),
    no("sasl.oauthbearer.jwks.endpoint.url", OIDC),
    no("sasl.oauthbearer.jwt.retriever.class", JAVA_CLASS),
    no("sasl.oauthbearer.jwt.validator.class", JAVA_CLASS),
    no("sasl.oauthbearer.scope", OIDC),
    no("sasl.oauthbearer.scope.claim.name", OIDC),
    no("sasl.oauthbearer.sub.claim.name", OIDC),
    no("sasl.oauthbearer.token.endpoint.url", OIDC),
    ok("security.protocol", "SSL"),
    no("security.providers", JAVA_CLASS),
    ok("send.buffer.bytes", "131072"),
    ok_note(
        "socket.connection.setup.timeout.max.ms",
        "30000",
        "the setup timeout (TCP connect and TLS handshake) doubles per failed attempt up to this, with 20% jitter",
    ),
    ok("socket.connection.setup.timeout.ms", "10000"),
    ok_note("ssl.cipher.suites", "TLS_AES_128_GCM_SHA256", "rustls's suites, by their IANA names"),
    ok_note("ssl.enabled.protocols", "TLSv1.3", "TLSv1.2 and TLSv1.3 (what rustls offers)"),
    ok_note(
        "ssl.endpoint.identification.algorithm",
        "https",
        "empty turns the hostname check off; the chain is still verified",
    ),
    default_only("ssl.engine.factory.class", "kprod cannot load Java classes; its TLS engine is rustls"),
    ok_note("ssl.key.password", "secret", "for encrypted PKCS#8 keys"),
    ok_note(
        "ssl.keymanager.algorithm",
        "SunX509",
        "SunX509, NewSunX509 or PKIX: rustls presents the keystore's one key and chain",
    ),
    ok("ssl.keystore.certificate.chain", "-----BEGIN CERTIFICATE-----"),
    ok("ssl.keystore.key", "-----BEGIN PRIVATE KEY-----"),
    ok("ssl.keystore.location", "/etc/kafka/client.p12"),
    ok("ssl.keystore.password", "secret"),
    ok_note(
        "ssl.keystore.type",
        "PKCS12",
        "PEM or PKCS12; a JKS store is refused with the keytool command that converts it",
    ),
    ok_note("ssl.protocol", "TLSv1.3", "TLS, TLSv1.2 or TLSv1.3; ssl.enabled.protocols decides what is negotiated"),
    default_only("ssl.provider", "Java security providers do not apply, kprod uses rustls"),
    default_only("ssl.secure.random.implementation", "rustls takes its randomness from the operating system"),
    ok_note(
        "ssl.trustmanager.algorithm",
        "PKIX",
        "PKIX or SunX509: rustls verifies certificates with X.509 path validation",
    ),
    ok("ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
    ok("ssl.truststore.location", "/etc/kafka/ca.pem"),
    ok("ssl.truststore.password", "secret"),
    ok_note(
        "ssl.truststore.type",
        "PEM",
        "PEM or PKCS12; a JKS store is refused with the keytool command that converts it",
    ),
    ok("transaction.timeout.ms", "60000"),
    no("transaction.two.phase.commit.enable", "KIP-939 two-phase commit is not supported"),
    ok_note("transactional.id", "my-app-1", "implies idempotence and acks=all; conflicting settings are refused"),
    ok_note("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer", "as key.serializer"),
    // Other clients' names for the same settings (librdkafka, for kcat users).
    alias("enable.ssl.certificate.verification", "ssl.endpoint.identification.algorithm", "true"),
    alias("sasl.mechanisms", "sasl.mechanism", "PLAIN"),
    alias("sasl.password", "sasl.jaas.config", "secret"),
    alias("sasl.username", "sasl.jaas.config", "alice"),
    alias("ssl.ca.location", "ssl.truststore.location", "/etc/kafka/ca.pem"),
    alias("ssl.ca.pem", "ssl.truststore.certificates", "-----BEGIN CERTIFICATE-----"),
    alias("ssl.certificate.location", "ssl.keystore.location", "/etc/kafka/client.pem"),
    alias("ssl.certificate.pem", "ssl.keystore.certificate.chain", "-----BEGIN CERTIFICATE-----"),
    alias("ssl.key.location", "ssl.keystore.location", "/etc/kafka/client.key"),
    alias("ssl.key.pem", "ssl.keystore.key", "-----BEGIN PRIVATE KEY-----"),
    // Other Kafka clients' settings that cloud providers' client.properties carry.
    ignored("auto.offset.reset", "a consumer setting"),
    ignored(
        "client.rack",
        "a consumer setting (rack-aware fetching, KIP-392); the Java producer of Kafka 4.3 does not define it either",
    ),
    ignored("default.api.timeout.ms", "an admin/consumer setting"),
    ignored("enable.auto.commit", "a consumer setting"),
    ignored("group.id", "a consumer setting"),
    ignored("heartbeat.interval.ms", "a consumer setting"),
    ignored("session.timeout.ms", "a consumer setting"),
    // kprod's own settings.
    ext(
        "batch.max.size",
        "262144",
        "KIP-782's name (proposed, not in the Java client): a batch that reached `batch.size` is due at once (if its \
         broker has a request out: at its answer, or at `linger.ms`, whichever is first) and takes more records, up to \
         this size, until it is sent (default 262144, or `batch.size` if larger; at most \
         `max.request.size`); so a producer faster than 5 requests of `batch.size` per round trip sends fewer, larger \
         batches (not while the partition's broker throttles the producer). `batch.size` gives the Java client's \
         batches",
    ),
    ext("kprod.sasl.oauthbearer.token", "eyJhbGciOiJub25lIn0.e30.", "a static OAUTHBEARER token (compact JWT)"),
    ext("kprod.seed", "42", "seed of the engine's random choices (backoff jitter, sticky partition), for replay"),
    ext("kprod.tcp.nodelay", "true", "TCP_NODELAY on broker sockets (default on)"),
    ext(
        "statistics.interval.ms",
        "60000",
        "librdkafka's name: a JSON snapshot of the metrics (global, per topic, per node) to \
         ProducerConfig::statistics_callback at this interval (0, the default: off)",
    ),
];

/// The entry for `name`, if kprod knows it.
pub fn lookup(name: &str) -> Option<&'static Property> {
    PROPERTIES.iter().find(|p| p.name == name)
}

/// The README's property table, as Markdown.
pub fn markdown_table() -> String {
    let mut out = String::from("| property | in kprod | notes |\n|---|---|---|\n");
    for p in PROPERTIES {
        let (status, text) = match p.support {
            Support::Supported { .. } => ("supported", String::from(p.note)),
            Support::Alias { of, .. } => ("alias", format!("same as `{of}`. {}", p.note)),
            Support::Extension { .. } => ("kprod only", String::from(p.note)),
            Support::DefaultOnly { reason } => ("default only", String::from(reason)),
            Support::Ignored { reason } => ("ignored", format!("with a warning: {reason}")),
            Support::Refused { reason } => ("refused", String::from(reason)),
        };
        out.push_str(&format!("| `{}` | {status} | {} |\n", p.name, text.trim()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ProducerConfig;

    #[test]
    fn sorted_and_unique_within_each_group() {
        let java: Vec<&str> = PROPERTIES
            .iter()
            .filter(|p| {
                !matches!(p.support, Support::Extension { .. } | Support::Alias { .. } | Support::Ignored { .. })
            })
            .map(|p| p.name)
            .collect();
        assert!(java.windows(2).all(|w| w[0] < w[1]), "the Java names must stay sorted and unique");
        let mut all: Vec<&str> = PROPERTIES.iter().map(|p| p.name).collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), PROPERTIES.len(), "a name appears twice");
    }

    /// The table and the code agree: what the table supports is accepted, what it refuses is
    /// refused with the table's reason.
    #[test]
    fn every_entry_behaves_as_the_table_says() {
        for p in PROPERTIES {
            let result = ProducerConfig::default().set(p.name, "");
            match p.support {
                Support::Supported { sample } | Support::Alias { sample, .. } | Support::Extension { sample } => {
                    if let Err(e) = ProducerConfig::default().set(p.name, sample) {
                        panic!("{}={sample} is supported by the table but refused: {e}", p.name);
                    }
                }
                Support::DefaultOnly { reason } => {
                    assert!(result.is_ok(), "{}: empty is the default and accepted", p.name);
                    let e = ProducerConfig::default().set(p.name, "1").expect_err(p.name).to_string();
                    assert!(e.contains(p.name) && e.contains(reason), "{}: {e}", p.name);
                }
                Support::Ignored { .. } => assert!(result.is_ok(), "{} is ignored, not refused", p.name),
                Support::Refused { reason } => {
                    let e = result.expect_err(p.name).to_string();
                    assert!(e.contains(p.name) && e.contains(reason), "{}: {e}", p.name);
                    let e = ProducerConfig::default().set(p.name, "1").expect_err(p.name).to_string();
                    assert!(e.contains(reason), "{}: {e}", p.name);
                }
            }
        }
    }

    #[test]
    fn table_rows_follow_the_entries() {
        let t = markdown_table();
        assert_eq!(t.lines().count(), PROPERTIES.len() + 2);
        assert!(t.contains("| `acks` | supported |"), "{t}");
        assert!(t.contains("| `interceptor.classes` | refused | it names a Java class"), "{t}");
    }
}
