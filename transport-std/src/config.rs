//! [`ProducerConfig`]: a typed builder that also takes Kafka's property names, from code, a map
//! or a `client.properties` file.
//!
//! The engine's settings (`acks`, `linger.ms`, `compression.type`, ...) are
//! [`kprod_core::config::Config`]'s; this module adds what only a driver has: the bootstrap
//! list, socket options and the storage capacities.

use core::time::Duration;
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config, ConfigError, ValidConfig};
use kprod_core::producer::Capacities;

use crate::error::Error;
use crate::hooks::{Hooks, PartitionerInput, ProducerInterceptor, StatisticsCallback};
use crate::properties::Support;
use crate::security::{other_client_setting, SecuritySettings};
use crate::tls::Connector;

/// The port used when a bootstrap entry names none (Kafka's default).
pub const DEFAULT_PORT: u16 = 9092;

/// Socket settings for every broker connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketOptions {
    /// `TCP_NODELAY` (property `kprod.tcp.nodelay`, default on): requests go out at once; the
    /// producer batches by itself.
    pub nodelay: bool,
    /// `SO_SNDBUF` (`send.buffer.bytes`; `None` or -1: the OS default, which autotunes).
    pub send_buffer: Option<usize>,
    /// `SO_RCVBUF` (`receive.buffer.bytes`; `None` or -1: the OS default).
    pub receive_buffer: Option<usize>,
}

impl Default for SocketOptions {
    fn default() -> Self {
        Self { nodelay: true, send_buffer: None, receive_buffer: None }
    }
}

/// The blocking producer's configuration. Start from [`ProducerConfig::new`] (bootstrap
/// servers) or [`ProducerConfig::from_properties`], adjust with the typed methods or
/// [`ProducerConfig::set`], and pass it to `Producer::new`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerConfig {
    pub(crate) bootstrap: Vec<(String, u16)>,
    pub(crate) client_id: String,
    /// The engine's settings; `client_id` is filled in from `self.client_id` when the
    /// producer is built.
    pub(crate) core: Config<'static>,
    pub(crate) socket: SocketOptions,
    pub(crate) capacities: Capacities,
    pub(crate) drop_timeout: Duration,
    pub(crate) serializers: (StandardSerializer, StandardSerializer),
    /// `security.protocol`, `ssl.*`, `sasl.*` (secrets hidden from `Debug`).
    pub(crate) security: SecuritySettings,
    /// The custom partitioner, interceptors and statistics callback.
    pub(crate) hooks: Hooks,
    /// `client.dns.lookup=resolve_canonical_bootstrap_servers_only`.
    pub(crate) canonical_bootstrap: bool,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        Self {
            bootstrap: Vec::new(),
            client_id: "kprod".to_owned(),
            core: Config::default(),
            socket: SocketOptions::default(),
            capacities: Capacities::default(),
            drop_timeout: Duration::from_secs(30),
            serializers: (StandardSerializer::ByteArray, StandardSerializer::ByteArray),
            security: SecuritySettings::default(),
            hooks: Hooks::default(),
            canonical_bootstrap: false,
        }
    }
}

impl ProducerConfig {
    /// A configuration with the Java client's defaults and `bootstrap.servers` set to
    /// `servers` (`host[:port]` entries separated by commas; `[v6addr]:port` for IPv6).
    pub fn new(servers: &str) -> Result<Self, Error> {
        Self::default().set("bootstrap.servers", servers)
    }

    /// A configuration from Kafka property names and values. Unknown names are an error.
    pub fn from_properties<I, K, V>(properties: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut config = Self::default();
        for (k, v) in properties {
            config.set_property(k.as_ref(), v.as_ref())?;
        }
        Ok(config)
    }

    /// A configuration from a Java-style `client.properties` file (`key=value` or
    /// `key: value` lines, `#`/`!` comments).
    pub fn from_properties_file(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        Self::from_properties(parse_properties(&text)?)
    }

    /// Sets one property by its Kafka name; builder form of [`ProducerConfig::set_property`].
    pub fn set(mut self, name: &str, value: &str) -> Result<Self, Error> {
        self.set_property(name, value)?;
        Ok(self)
    }

    /// Sets one property by its Kafka name (`bootstrap.servers`, `acks`, `linger.ms`, ...).
    /// An unknown name is [`Error::UnknownProperty`].
    pub fn set_property(&mut self, name: &str, value: &str) -> Result<(), Error> {
        let value = value.trim();
        match name {
            "bootstrap.servers" => self.bootstrap = parse_bootstrap(value)?,
            "client.id" => value.clone_into(&mut self.client_id),
            "send.buffer.bytes" => self.socket.send_buffer = parse_buffer_size(name, value)?,
            "receive.buffer.bytes" => self.socket.receive_buffer = parse_buffer_size(name, value)?,
            "kprod.tcp.nodelay" => {
                self.socket.nodelay = value.parse().map_err(|_| invalid(name, "true or false"))?;
            }
            "client.dns.lookup" => {
                self.canonical_bootstrap = match value {
                    "use_all_dns_ips" => false,
                    "resolve_canonical_bootstrap_servers_only" => true,
                    _ => return Err(invalid(name, "use_all_dns_ips or resolve_canonical_bootstrap_servers_only")),
                };
            }
            "statistics.interval.ms" => self.hooks.statistics_interval = parse_ms(name, value)?,
            "key.serializer" => self.serializers.0 = parse_serializer(name, value)?,
            "value.serializer" => self.serializers.1 = parse_serializer(name, value)?,
            _ => {
                if let Some(done) = self.security.set_property(name, value) {
                    return done;
                }
                if let Some(why) = other_client_setting(name) {
                    log::warn!("{name} is ignored: {why}");
                    return Ok(());
                }
                set_core(&mut self.core, name, value)?;
            }
        }
        Ok(())
    }

    /// `bootstrap.servers` as parsed `(host, port)` pairs.
    pub fn bootstrap_servers(&self) -> &[(String, u16)] {
        &self.bootstrap
    }

    /// The bootstrap addresses the producer starts from. With
    /// `client.dns.lookup=resolve_canonical_bootstrap_servers_only` (Java's `ClientUtils`), each
    /// name is resolved (blocking, when the producer is built) and every address it has is
    /// replaced by its canonical host name (reverse DNS; the address itself where there is
    /// none); a name that does not resolve is skipped with a warning, and none resolving is an
    /// error. Otherwise the list as given: names are resolved at each connect.
    pub(crate) fn resolved_bootstrap(&self) -> Result<Vec<(String, u16)>, Error> {
        if !self.canonical_bootstrap {
            return Ok(self.bootstrap.clone());
        }
        let mut out: Vec<(String, u16)> = Vec::new();
        for (host, port) in &self.bootstrap {
            let addrs = match std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), *port)) {
                Ok(addrs) => addrs,
                Err(e) => {
                    log::warn!("client.dns.lookup: bootstrap server {host} does not resolve ({e}); skipped");
                    continue;
                }
            };
            for addr in addrs {
                let name = dns_lookup::lookup_addr(&addr.ip()).unwrap_or_else(|_| addr.ip().to_string());
                if !out.iter().any(|(h, p)| *h == name && p == port) {
                    out.push((name, *port));
                }
            }
        }
        if out.is_empty() {
            return Err(Error::Config(
                "no resolvable bootstrap urls given in bootstrap.servers (client.dns.lookup=\
                 resolve_canonical_bootstrap_servers_only resolves them when the producer is built)"
                    .into(),
            ));
        }
        Ok(out)
    }

    /// The engine settings (read-only view).
    pub const fn engine(&self) -> &Config<'static> {
        &self.core
    }

    /// `key.serializer` and `value.serializer`, as named in the properties (default
    /// `ByteArraySerializer`). The Rust producers take their serializers by type
    /// ([`crate::Producer::with_serializers`]); this tells a binding or a CLI which one a
    /// `client.properties` file asked for.
    pub const fn serializers(&self) -> (StandardSerializer, StandardSerializer) {
        self.serializers
    }

    /// The socket options.
    pub const fn socket_options(&self) -> &SocketOptions {
        &self.socket
    }

    /// `security.protocol` and the `ssl.*` and `sasl.*` settings.
    pub const fn security(&self) -> &SecuritySettings {
        &self.security
    }

    /// A custom partitioner for records sent without a partition (Java's `partitioner.class`,
    /// as a closure): it sees the topic, the serialized key and value, the available and all
    /// partitions, and returns a partition, or `None` for the built-in rule. See
    /// [`crate::Partitioner`].
    pub fn partitioner<F>(mut self, partitioner: F) -> Self
    where
        F: Fn(&PartitionerInput<'_>) -> Option<u32> + Send + Sync + 'static,
    {
        self.hooks.partitioner = Some(Arc::new(partitioner));
        self
    }

    /// [`ProducerConfig::partitioner`] with a shared partitioner (a binding's object).
    pub fn partitioner_arc(mut self, partitioner: crate::Partitioner) -> Self {
        self.hooks.partitioner = Some(partitioner);
        self
    }

    /// Adds an interceptor (Java's `interceptor.classes`, as an object); interceptors run in
    /// the order they were added. See [`ProducerInterceptor`].
    pub fn interceptor(mut self, interceptor: Arc<dyn ProducerInterceptor>) -> Self {
        self.hooks.interceptors.push(interceptor);
        self
    }

    /// The statistics callback: with `statistics.interval.ms` above 0, it gets a JSON snapshot
    /// of the producer's metrics (global, per topic, per node) at that interval, on a thread
    /// (blocking producer) or task (tokio) of its own. See [`crate::StatisticsCallback`].
    pub fn statistics_callback<F>(mut self, callback: F) -> Self
    where
        F: Fn(&str) + Send + Sync + 'static,
    {
        let callback: StatisticsCallback = Arc::new(callback);
        self.hooks.statistics = Some(callback);
        self
    }

    /// `statistics.interval.ms` (librdkafka's name): how often the statistics callback runs
    /// (zero, the default: never).
    pub const fn statistics_interval(mut self, interval: Duration) -> Self {
        self.hooks.statistics_interval = interval;
        self
    }

    /// `client.id`.
    pub fn client_id(mut self, id: &str) -> Self {
        id.clone_into(&mut self.client_id);
        self
    }

    /// `acks`.
    pub const fn acks(mut self, acks: Acks) -> Self {
        self.core.acks = acks;
        self
    }

    /// `compression.type`.
    pub const fn compression(mut self, compression: Compression) -> Self {
        self.core.compression = compression;
        self
    }

    /// `linger.ms`.
    pub const fn linger(mut self, linger: Duration) -> Self {
        self.core.linger = linger;
        self
    }

    /// `batch.size` in bytes.
    pub const fn batch_size(mut self, bytes: usize) -> Self {
        self.core.batch_size = bytes;
        self
    }

    /// `batch.max.size` in bytes (KIP-782): how large a batch that reached `batch.size` may
    /// grow while it waits to be sent (default 256 KiB, or `batch.size` if larger). Set it to
    /// `batch.size` for the Java client's batches.
    pub const fn batch_max_size(mut self, bytes: usize) -> Self {
        self.core.batch_max_size = Some(bytes);
        self
    }

    /// `buffer.memory` in bytes.
    pub const fn buffer_memory(mut self, bytes: usize) -> Self {
        self.core.buffer_memory = bytes;
        self
    }

    /// `max.block.ms`: how long `send` (and `partitions_for`) may block.
    pub const fn max_block(mut self, d: Duration) -> Self {
        self.core.max_block = d;
        self
    }

    /// `max.request.size` in bytes (also the largest record).
    pub const fn max_request_size(mut self, bytes: usize) -> Self {
        self.core.max_request_size = bytes;
        self
    }

    /// `request.timeout.ms`.
    pub const fn request_timeout(mut self, d: Duration) -> Self {
        self.core.request_timeout = d;
        self
    }

    /// `delivery.timeout.ms`.
    pub const fn delivery_timeout(mut self, d: Duration) -> Self {
        self.core.delivery_timeout = d;
        self
    }

    /// `retries`.
    pub const fn retries(mut self, n: u32) -> Self {
        self.core.retries = n;
        self
    }

    /// `enable.idempotence`.
    pub const fn enable_idempotence(mut self, on: bool) -> Self {
        self.core.enable_idempotence = Some(on);
        self
    }

    /// `max.in.flight.requests.per.connection`.
    pub const fn max_in_flight(mut self, n: u32) -> Self {
        self.core.max_in_flight = n;
        self
    }

    /// `TCP_NODELAY` (default on).
    pub const fn tcp_nodelay(mut self, on: bool) -> Self {
        self.socket.nodelay = on;
        self
    }

    /// `SO_SNDBUF` and `SO_RCVBUF` (`None`: the OS default).
    pub const fn socket_buffers(mut self, send: Option<usize>, receive: Option<usize>) -> Self {
        self.socket.send_buffer = send;
        self.socket.receive_buffer = receive;
        self
    }

    /// `socket.connection.setup.timeout.ms`: how long the first attempt to set up a connection
    /// (DNS, TCP, TLS) may take; it doubles per consecutive failure up to
    /// `socket.connection.setup.timeout.max.ms`.
    pub const fn connect_timeout(mut self, d: Duration) -> Self {
        self.core.connection.setup_timeout = d;
        self
    }

    /// The engine's initial table sizes (brokers, topics, partitions, connections, batches).
    /// Every table grows past them as needed (memory stays bounded by `buffer.memory` plus
    /// metadata); they only save the first reallocations.
    pub const fn capacities(mut self, caps: Capacities) -> Self {
        self.capacities = caps;
        self
    }

    /// How long dropping the producer waits for buffered records (default 30 s), like
    /// `close(timeout)`.
    pub const fn drop_timeout(mut self, d: Duration) -> Self {
        self.drop_timeout = d;
        self
    }

    /// Checks everything and resolves the engine configuration.
    pub(crate) fn validate(&self) -> Result<ValidConfig<'static>, Error> {
        if self.bootstrap.is_empty() {
            return Err(Error::Config("bootstrap.servers is required (host:port, ...)".into()));
        }
        self.security.validate()?;
        let mut core = Config { client_id: intern(&self.client_id), ..self.core.clone() };
        self.security.apply_sasl(&mut core, intern)?;
        core.validate().map_err(|e| Error::Config(e.to_string()))
    }

    /// How the drivers open connections: the socket options and, with `security.protocol=SSL`,
    /// the TLS client configuration (reads the truststore and keystore files).
    pub(crate) fn connector(&self) -> Result<Connector, Error> {
        let tls = match self.security.protocol.uses_tls() {
            true => Some(crate::tls::client_config(&self.security.ssl)?),
            false => None,
        };
        Ok(Connector { socket: self.socket, tls })
    }
}

/// Applies an engine property to a `Config<'static>`. The engine's `set_property` may borrow the
/// value (only for `client.id`, which is handled above), so it runs on a short-lived copy that
/// then takes back the `'static` client id.
fn set_core(core: &mut Config<'static>, name: &str, value: &str) -> Result<(), Error> {
    let mut tmp = core.clone();
    tmp.set_property(name, value).map_err(|e| match e {
        ConfigError::UnknownProperty => match crate::properties::lookup(name).map(|p| p.support) {
            Some(Support::Refused { reason }) => Error::Config(format!("{name} is not supported by kprod: {reason}")),
            _ => Error::UnknownProperty(name.to_owned()),
        },
        other => Error::Config(other.to_string()),
    })?;
    *core = tmp.with_client_id(core.client_id);
    Ok(())
}

/// The engine keeps `client.id` as `&'a str` for its whole life; the IO thread's engine is
/// `'static`, so each distinct id is kept once for the process (a few bytes per id, not per
/// producer).
fn intern(s: &str) -> &'static str {
    static IDS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut ids = IDS.get_or_init(Default::default).lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(&known) = ids.get(s) {
        return known;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    ids.insert(leaked);
    leaked
}

/// One of the Java client's standard serializers that kprod accepts in `key.serializer` and
/// `value.serializer`: the two that map bytes and text without a schema, as the CLI does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StandardSerializer {
    /// `org.apache.kafka.common.serialization.ByteArraySerializer` (also `ByteBufferSerializer`
    /// and `BytesSerializer`, which write the same bytes).
    ByteArray,
    /// `org.apache.kafka.common.serialization.StringSerializer` (UTF-8).
    String,
}

const SERIALIZER_PACKAGE: &str = "org.apache.kafka.common.serialization.";

fn parse_serializer(name: &str, value: &str) -> Result<StandardSerializer, Error> {
    // Java also takes the simple class name where the package is imported; accept both forms.
    let class = value.strip_prefix(SERIALIZER_PACKAGE).unwrap_or(value);
    match class {
        "ByteArraySerializer" | "ByteBufferSerializer" | "BytesSerializer" => Ok(StandardSerializer::ByteArray),
        "StringSerializer" => Ok(StandardSerializer::String),
        _ => Err(Error::Config(format!(
            "{name}={value} is not supported: kprod cannot load Java classes. Use \
             {SERIALIZER_PACKAGE}StringSerializer or {SERIALIZER_PACKAGE}ByteArraySerializer, and serialize \
             other types in the application (the Rust API takes serializers by type: Producer::with_serializers)"
        ))),
    }
}

fn invalid(name: &str, expected: &str) -> Error {
    Error::Config(format!("invalid value for {name}: expected {expected}"))
}

fn parse_ms(name: &str, value: &str) -> Result<Duration, Error> {
    value.parse().map(Duration::from_millis).map_err(|_| invalid(name, "milliseconds (a non-negative integer)"))
}

fn parse_buffer_size(name: &str, value: &str) -> Result<Option<usize>, Error> {
    match value.parse::<i64>() {
        Ok(-1) => Ok(None),
        Ok(n) if n > 0 => usize::try_from(n).map(Some).map_err(|_| invalid(name, "a size in bytes")),
        _ => Err(invalid(name, "a size in bytes, or -1 for the OS default")),
    }
}

/// Parses `bootstrap.servers`: `host[:port]` entries separated by commas (or whitespace),
/// IPv6 literals in brackets (`[::1]:9092`). A missing port is 9092.
pub fn parse_bootstrap(value: &str) -> Result<Vec<(String, u16)>, Error> {
    let entries: Vec<&str> = value.split([',', ' ', '\t', '\n']).map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return Err(invalid("bootstrap.servers", "at least one host:port"));
    }
    entries.into_iter().map(parse_endpoint).collect()
}

fn parse_endpoint(entry: &str) -> Result<(String, u16), Error> {
    let bad = |why: &str| Error::Config(format!("invalid bootstrap.servers entry {entry:?}: {why}"));
    let (host, port) = if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        match after {
            "" => (host, None),
            p => (host, Some(p.strip_prefix(':').ok_or_else(|| bad("expected ':' after ']'"))?)),
        }
    } else if entry.matches(':').count() > 1 {
        return Err(bad("IPv6 addresses need brackets, as in [::1]:9092"));
    } else {
        match entry.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (entry, None),
        }
    };
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(|| bad("port must be 1..65535"))?,
    };
    Ok((host.to_owned(), port))
}

/// Parses the `key=value` lines of a Java properties file (no escapes beyond trailing `\`
/// line continuation).
pub fn parse_properties(text: &str) -> Result<Vec<(String, String)>, Error> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!')) {
            continue;
        }
        if let Some(cont) = line.strip_suffix('\\') {
            pending.push_str(cont);
            continue;
        }
        pending.push_str(line);
        let entry = core::mem::take(&mut pending);
        let split =
            entry.find(['=', ':']).ok_or_else(|| Error::Config(format!("line {}: expected key=value", n + 1)))?;
        let (k, v) = (entry[..split].trim(), entry[split + 1..].trim());
        if k.is_empty() {
            return Err(Error::Config(format!("line {}: empty key", n + 1)));
        }
        out.push((k.to_owned(), v.to_owned()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_lists_dns_names_and_ipv6() {
        let b = parse_bootstrap("kafka-1.example.com:9093, 10.0.0.7,[::1]:19092 [fe80::1]").unwrap();
        assert_eq!(
            b,
            vec![
                ("kafka-1.example.com".to_owned(), 9093),
                ("10.0.0.7".to_owned(), 9092),
                ("::1".to_owned(), 19092),
                ("fe80::1".to_owned(), 9092)
            ]
        );
        for bad in ["", "::1:9092", "[::1", "h:0", "h:70000", ":9092", "[::1]x"] {
            assert!(parse_bootstrap(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn properties_set_engine_and_driver_settings() {
        let c = ProducerConfig::from_properties([
            ("bootstrap.servers", "localhost:9092"),
            ("acks", "1"),
            ("linger.ms", "20"),
            ("compression.type", "lz4"),
            ("client.id", "app-1"),
            ("send.buffer.bytes", "131072"),
            ("receive.buffer.bytes", "-1"),
            ("kprod.tcp.nodelay", "false"),
        ])
        .unwrap();
        assert_eq!(c.core.acks, Acks::Leader);
        assert_eq!(c.core.linger, Duration::from_millis(20));
        assert_eq!(c.core.compression, Compression::Lz4);
        assert_eq!(c.client_id, "app-1");
        assert_eq!(c.socket, SocketOptions { nodelay: false, send_buffer: Some(131_072), ..SocketOptions::default() });
        let v = c.validate().unwrap();
        assert_eq!(v.config().client_id, "app-1");
        assert!(!v.idempotent());
    }

    #[test]
    fn standard_serializers_are_accepted_and_others_refused_with_the_reason() {
        let c = ProducerConfig::from_properties([
            ("key.serializer", "org.apache.kafka.common.serialization.StringSerializer"),
            ("value.serializer", "org.apache.kafka.common.serialization.ByteArraySerializer"),
        ])
        .unwrap();
        assert_eq!(c.serializers(), (StandardSerializer::String, StandardSerializer::ByteArray));
        assert_eq!(
            ProducerConfig::default().serializers(),
            (StandardSerializer::ByteArray, StandardSerializer::ByteArray)
        );
        let c = ProducerConfig::default().set("value.serializer", "StringSerializer").unwrap();
        assert_eq!(c.serializers().1, StandardSerializer::String);
        for bad in [
            "io.confluent.kafka.serializers.KafkaAvroSerializer",
            "org.apache.kafka.common.serialization.LongSerializer",
            "",
        ] {
            let e = ProducerConfig::default().set("value.serializer", bad).unwrap_err().to_string();
            assert!(e.contains("value.serializer") && e.contains("StringSerializer"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_and_invalid_properties_are_named() {
        let e = ProducerConfig::from_properties([("lingr.ms", "5")]).unwrap_err();
        assert_eq!(e, Error::UnknownProperty("lingr.ms".into()));
        let e = ProducerConfig::default().set("acks", "2").unwrap_err();
        assert!(e.to_string().contains("acks"), "{e}");
        let e = ProducerConfig::default().validate().unwrap_err();
        assert!(e.to_string().contains("bootstrap.servers"), "{e}");
        let e = ProducerConfig::new("h:1").unwrap().acks(Acks::Leader).enable_idempotence(true).validate().unwrap_err();
        assert!(e.to_string().contains("enable.idempotence"), "{e}");
    }

    #[test]
    fn properties_file_syntax() {
        let text = "# comment\n! other\nbootstrap.servers = a:1,\\\n  b:2\nacks: all\n\nlinger.ms=7\n";
        let p = parse_properties(text).unwrap();
        assert_eq!(p[0], ("bootstrap.servers".to_owned(), "a:1,b:2".to_owned()));
        let c = ProducerConfig::from_properties(p).unwrap();
        assert_eq!(c.bootstrap.len(), 2);
        assert_eq!(c.core.linger, Duration::from_millis(7));
        assert!(parse_properties("novalue\n").is_err());
        let dir = std::env::temp_dir().join(format!("kprod-std-props-{}", std::process::id()));
        std::fs::write(&dir, text).unwrap();
        assert_eq!(ProducerConfig::from_properties_file(&dir).unwrap().core.acks, Acks::All);
        let _ = std::fs::remove_file(&dir);
    }

    #[test]
    fn client_ids_are_interned_once() {
        assert!(core::ptr::eq(intern("x-1"), intern("x-1")));
    }
}

/// `client.dns.lookup=resolve_canonical_bootstrap_servers_only`, checked against the system's
/// own resolver (`getent hosts`, glibc's NSS) for the canonical name of 127.0.0.1.
#[cfg(all(test, target_os = "linux"))]
mod dns_tests {
    use super::ProducerConfig;

    #[test]
    fn canonical_bootstrap_names_come_from_reverse_dns() {
        let config = ProducerConfig::new("127.0.0.1:9092").unwrap();
        assert_eq!(config.resolved_bootstrap().unwrap(), [("127.0.0.1".to_owned(), 9092)], "the default keeps names");
        let Ok(out) = std::process::Command::new("getent").args(["hosts", "127.0.0.1"]).output() else {
            eprintln!("SKIPPED: no getent to cross-check with");
            return;
        };
        let text = String::from_utf8_lossy(&out.stdout);
        let expected = text.split_whitespace().nth(1).unwrap_or("127.0.0.1").to_owned();
        let canonical = config.set("client.dns.lookup", "resolve_canonical_bootstrap_servers_only").unwrap();
        assert_eq!(canonical.resolved_bootstrap().unwrap(), [(expected, 9092)]);
    }

    #[test]
    fn nothing_resolvable_and_bad_values_are_errors_that_say_so() {
        let config = ProducerConfig::new("nosuchhost.invalid:9092")
            .and_then(|c| c.set("client.dns.lookup", "resolve_canonical_bootstrap_servers_only"))
            .unwrap();
        let e = config.resolved_bootstrap().unwrap_err().to_string();
        assert!(e.contains("bootstrap.servers") && e.contains("client.dns.lookup"), "{e}");
        let e = ProducerConfig::default().set("client.dns.lookup", "default").unwrap_err().to_string();
        assert!(e.contains("use_all_dns_ips or resolve_canonical_bootstrap_servers_only"), "{e}");
    }
}
