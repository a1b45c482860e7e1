//! Producer configuration: every knob of the core, with the Java client's defaults, Kafka's
//! property names, and validation that names the settings at fault.
//!
//! Defaults follow the Java client of Kafka 4.x (idempotence on, `acks=all`, `linger.ms=5`),
//! not kafka-python's older ones. Socket options, serializers and `max.block.ms` enforcement
//! belong to the drivers; `max_block` is carried here as a hint for them.

use core::fmt;
use core::time::Duration;

use crate::compression::Compression;
use crate::producer::metrics::window::{Sampling, MAX_SAMPLES};
use crate::sasl::{JaasConfig, Mechanism, SaslConfig, Secret, Text};

mod txn;
pub use txn::{TxnConfig, MAX_TRANSACTIONAL_ID_LEN};

/// How many acknowledgements the producer waits for (`acks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// `acks=0`: fire and forget; the broker sends no response.
    None,
    /// `acks=1`: the leader wrote the record.
    Leader,
    /// `acks=all` (`-1`): all in-sync replicas wrote the record.
    All,
}

impl Acks {
    /// The value sent in the Produce request.
    pub const fn wire(self) -> i16 {
        match self {
            Self::None => 0,
            Self::Leader => 1,
            Self::All => -1,
        }
    }
}

/// Which protocol versions to use (`api.version` in kafka-python).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersionPolicy {
    /// Ask each broker with ApiVersions and use the highest version both sides support.
    Auto,
    /// Never use a Produce version above this one (it must be at least 3).
    PinProduce(i16),
}

/// The codec levels of KIP-390, with the Java client's defaults and ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompressionLevels {
    /// `compression.gzip.level`: 1 (fastest) to 9 (smallest), or -1 for the codec's default (6).
    pub gzip: i32,
    /// `compression.lz4.level`: 1 to 17 (default 9). Accepted and checked as in Java, but the
    /// lz4 encoder (`lz4_flex`) has one fast level, so it does not change the output.
    pub lz4: i32,
    /// `compression.zstd.level`: -131072 to 22 (default 3).
    pub zstd: i32,
}

impl Default for CompressionLevels {
    fn default() -> Self {
        Self { gzip: -1, lz4: 9, zstd: 3 }
    }
}

impl CompressionLevels {
    /// The level to hand to [`Compression::compress_with_level`] for `codec` (`None`: the
    /// codec's default).
    pub const fn for_codec(&self, codec: Compression) -> Option<i32> {
        match codec {
            Compression::Gzip if self.gzip != -1 => Some(self.gzip),
            Compression::Lz4 => Some(self.lz4),
            Compression::Zstd => Some(self.zstd),
            _ => None,
        }
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |setting, expected| Err(ConfigError::InvalidValue { setting, expected });
        if !(self.gzip == -1 || (1..=9).contains(&self.gzip)) {
            return invalid("compression.gzip.level", "1 to 9, or -1 for the default");
        }
        if !(1..=17).contains(&self.lz4) {
            return invalid("compression.lz4.level", "1 to 17");
        }
        if !(-131_072..=22).contains(&self.zstd) {
            return invalid("compression.zstd.level", "-131072 to 22");
        }
        Ok(())
    }
}

/// How the built-in partitioner places records without an explicit partition (KIP-794).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionerConfig {
    /// `partitioner.adaptive.partitioning.enable` (default on): the sticky partitioner prefers
    /// partitions with fewer batches queued, so brokers that drain faster take more records.
    pub adaptive: bool,
    /// `partitioner.availability.timeout.ms` (default 0, off): a partition whose oldest batch
    /// has waited longer than this past its linger time is skipped by the sticky partitioner
    /// until it drains. Only with `adaptive`, as in the Java client.
    pub availability_timeout: Duration,
    /// `partitioner.ignore.keys` (default off): keyed records are placed like null-key ones
    /// (sticky) instead of by the hash of their key. A custom partitioner sees keys anyway.
    pub ignore_keys: bool,
}

impl Default for PartitionerConfig {
    fn default() -> Self {
        Self { adaptive: true, availability_timeout: Duration::ZERO, ignore_keys: false }
    }
}

/// How broker connections are set up and how the producer recovers when every known broker is
/// gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionConfig {
    /// `socket.connection.setup.timeout.ms` (default 10 s): how long the first attempt to set
    /// up a connection (DNS, TCP, TLS) may take.
    pub setup_timeout: Duration,
    /// `socket.connection.setup.timeout.max.ms` (default 30 s): the ceiling of the setup
    /// timeout, which doubles with each consecutive failed attempt on a connection (with the
    /// Java client's jitter of 20%, from the engine's seeded generator).
    pub setup_timeout_max: Duration,
    /// `metadata.recovery.strategy` (default `rebootstrap`, as in Kafka 4.x; `false` is
    /// `none`): when every broker of the last metadata is unavailable (disconnected and in
    /// reconnect backoff), or no metadata came for `rebootstrap_trigger`, the producer goes back
    /// to `bootstrap.servers` (KIP-899). With `none` it only ever tries the brokers it knows once
    /// the first metadata arrived.
    pub rebootstrap: bool,
    /// `metadata.recovery.rebootstrap.trigger.ms` (default 300 s, KIP-1102).
    pub rebootstrap_trigger: Duration,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            setup_timeout: Duration::from_secs(10),
            setup_timeout_max: Duration::from_secs(30),
            rebootstrap: true,
            rebootstrap_trigger: Duration::from_secs(300),
        }
    }
}

/// The producer configuration. Build it with [`Config::default`] and field updates or
/// [`Config::set_property`], then call [`Config::validate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config<'a> {
    /// `client.id`, sent in every request header.
    pub client_id: &'a str,
    /// `acks`.
    pub acks: Acks,
    /// `compression.type`.
    pub compression: Compression,
    /// `compression.gzip.level`, `compression.lz4.level`, `compression.zstd.level` (KIP-390).
    pub compression_levels: CompressionLevels,
    /// `retries`: how often a failed batch is retried (bounded by `delivery_timeout` anyway).
    pub retries: u32,
    /// `batch.size`: the target size of one partition's batch, in bytes: a batch this full is
    /// sent without waiting for `linger.ms`.
    pub batch_size: usize,
    /// `batch.max.size` (KIP-782's name; not a setting of the Java client): how large a batch
    /// that reached `batch.size` may still grow while it waits to be sent (its partition has
    /// `max.in.flight.requests.per.connection` requests out, or its broker has a request out and
    /// its `linger.ms` is not over), except while its broker throttles the producer (KIP-219). `None` is the default,
    /// [`DEFAULT_BATCH_MAX_SIZE`] or `batch.size` if larger: see
    /// [`Config::effective_batch_max_size`]. `batch.size` makes batches behave as in Java.
    pub batch_max_size: Option<usize>,
    /// `linger.ms`: how long a batch may wait for more records.
    pub linger: Duration,
    /// `buffer.memory`: bytes of records the producer may hold before `send` refuses more.
    pub buffer_memory: usize,
    /// `max.block.ms`: how long a driver's `send` may wait for buffer space or metadata.
    pub max_block: Duration,
    /// `max.request.size`: the largest Produce request, and so the largest record.
    pub max_request_size: usize,
    /// `metadata.max.age.ms`: metadata is refreshed at least this often.
    pub metadata_max_age: Duration,
    /// `metadata.max.idle.ms`: a topic not produced to for this long leaves the Metadata
    /// requests until it is produced to again.
    pub metadata_max_idle: Duration,
    /// `connections.max.idle.ms`: idle connections are closed after this.
    pub connections_max_idle: Duration,
    /// `retry.backoff.ms`: the first retry delay.
    pub retry_backoff: Duration,
    /// `retry.backoff.max.ms`: the retry delay ceiling (exponential with jitter, KIP-580).
    pub retry_backoff_max: Duration,
    /// `reconnect.backoff.ms`: the first reconnect delay.
    pub reconnect_backoff: Duration,
    /// `reconnect.backoff.max.ms`: the reconnect delay ceiling.
    pub reconnect_backoff_max: Duration,
    /// `request.timeout.ms`: how long to wait for a response.
    pub request_timeout: Duration,
    /// `max.in.flight.requests.per.connection`.
    pub max_in_flight: u32,
    /// `delivery.timeout.ms`: the bound on the time from `send` to the completion, retries
    /// included.
    pub delivery_timeout: Duration,
    /// `enable.idempotence`. `None` means the default: on, unless `acks`, `retries` or
    /// `max_in_flight` were set to values idempotence cannot work with (the Java client's rule).
    pub enable_idempotence: Option<bool>,
    /// `api.version`.
    pub api_version: ApiVersionPolicy,
    /// `metrics.sample.window.ms` and `metrics.num.samples`: how the windowed metrics sample.
    pub metrics_sampling: Sampling,
    /// `partitioner.adaptive.partitioning.enable`, `partitioner.availability.timeout.ms` and
    /// `partitioner.ignore.keys` (KIP-794).
    pub partitioner: PartitionerConfig,
    /// Seed of the core's random generator (backoff jitter, sticky partition choice). The same
    /// seed and inputs replay the same run.
    pub seed: u64,
    /// SASL: `security.protocol` (on for `SASL_PLAINTEXT` / `SASL_SSL`), `sasl.mechanism`,
    /// `sasl.jaas.config`. Its text is `'static` (see [`Config::set_static_property`]), so it
    /// survives [`Config::with_client_id`].
    pub sasl: SaslConfig<'static>,
    /// `transactional.id` and `transaction.timeout.ms`.
    pub transactions: TxnConfig,
    /// `socket.connection.setup.timeout.ms` and `socket.connection.setup.timeout.max.ms`.
    pub connection: ConnectionConfig,
}

impl Default for Config<'_> {
    fn default() -> Self {
        Self {
            client_id: "kprod",
            acks: Acks::All,
            compression: Compression::None,
            compression_levels: CompressionLevels::default(),
            retries: i32::MAX as u32,
            batch_size: 16 * 1024,
            batch_max_size: None,
            linger: Duration::from_millis(5),
            buffer_memory: 32 * 1024 * 1024,
            max_block: Duration::from_secs(60),
            max_request_size: 1024 * 1024,
            metadata_max_age: Duration::from_secs(300),
            metadata_max_idle: Duration::from_secs(300),
            connections_max_idle: Duration::from_secs(540),
            retry_backoff: Duration::from_millis(100),
            retry_backoff_max: Duration::from_secs(1),
            reconnect_backoff: Duration::from_millis(50),
            reconnect_backoff_max: Duration::from_secs(1),
            request_timeout: Duration::from_secs(30),
            max_in_flight: 5,
            delivery_timeout: Duration::from_secs(120),
            enable_idempotence: None,
            api_version: ApiVersionPolicy::Auto,
            metrics_sampling: Sampling::default(),
            partitioner: PartitionerConfig::default(),
            seed: 0x6b70_726f_6400_0001,
            sasl: SaslConfig::default(),
            transactions: TxnConfig::default(),
            connection: ConnectionConfig::default(),
        }
    }
}

/// Why a configuration was refused. Each variant names the setting(s) by their Kafka property
/// names, so the message is actionable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigError {
    /// The property name is not a producer setting kprod knows.
    UnknownProperty,
    /// The value cannot be parsed or is out of range for the setting.
    InvalidValue {
        /// The property name.
        setting: &'static str,
        /// What is expected.
        expected: &'static str,
    },
    /// Two or more settings contradict each other.
    Conflict {
        /// The settings involved.
        settings: &'static [&'static str],
        /// The rule they break.
        rule: &'static str,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownProperty => f.write_str("unknown producer property"),
            Self::InvalidValue { setting, expected } => {
                write!(f, "invalid value for {setting}: expected {expected}")
            }
            Self::Conflict { settings, rule } => {
                f.write_str("conflicting settings ")?;
                for (i, s) in settings.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    f.write_str(s)?;
                }
                write!(f, ": {rule}")
            }
        }
    }
}

impl core::error::Error for ConfigError {}

/// A configuration that passed [`Config::validate`], with idempotence resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidConfig<'a> {
    config: Config<'a>,
    idempotent: bool,
}

impl<'a> ValidConfig<'a> {
    /// The settings.
    pub const fn config(&self) -> &Config<'a> {
        &self.config
    }
    /// Whether the producer runs idempotently (explicitly, or by default).
    pub const fn idempotent(&self) -> bool {
        self.idempotent
    }
}

/// The default `batch.max.size`: KIP-782's proposed default. With Java's 16 KiB `batch.size`
/// and 5 requests in flight, a partition has at most 80 KiB unacknowledged, so a producer
/// faster than that over one round trip queues batch after batch; librdkafka and franz-go send
/// batches of up to 1 MB.
pub const DEFAULT_BATCH_MAX_SIZE: usize = 256 * 1024;

/// The most batches the broker deduplicates per partition; more in flight breaks idempotence.
pub const MAX_IN_FLIGHT_IDEMPOTENT: u32 = 5;

impl<'a> Config<'a> {
    /// The same settings with another `client.id`, which may live shorter or longer than this
    /// one's (e.g. a driver applies a borrowed property on a copy, then gives the copy back
    /// its `'static` id). Every field is named, so a new one cannot be forgotten here.
    #[must_use]
    pub fn with_client_id<'b>(self, client_id: &'b str) -> Config<'b> {
        let Self {
            client_id: _,
            acks,
            compression,
            compression_levels,
            retries,
            batch_size,
            batch_max_size,
            linger,
            buffer_memory,
            max_block,
            max_request_size,
            metadata_max_age,
            metadata_max_idle,
            connections_max_idle,
            retry_backoff,
            retry_backoff_max,
            reconnect_backoff,
            reconnect_backoff_max,
            request_timeout,
            max_in_flight,
            delivery_timeout,
            enable_idempotence,
            api_version,
            metrics_sampling,
            partitioner,
            seed,
            sasl,
            transactions,
            connection,
        } = self;
        Config {
            client_id,
            acks,
            compression,
            compression_levels,
            retries,
            batch_size,
            batch_max_size,
            linger,
            buffer_memory,
            max_block,
            max_request_size,
            metadata_max_age,
            metadata_max_idle,
            connections_max_idle,
            retry_backoff,
            retry_backoff_max,
            reconnect_backoff,
            reconnect_backoff_max,
            request_timeout,
            max_in_flight,
            delivery_timeout,
            enable_idempotence,
            api_version,
            metrics_sampling,
            partitioner,
            seed,
            sasl,
            transactions,
            connection,
        }
    }

    /// The largest batch a batch that reached `batch.size` may grow to while it waits: the set
    /// `batch.max.size`, else [`DEFAULT_BATCH_MAX_SIZE`] or `batch.size` if larger (a batch is
    /// never closed below `batch.size`), within `max.request.size` either way.
    pub fn effective_batch_max_size(&self) -> usize {
        let max = self.batch_max_size.unwrap_or(DEFAULT_BATCH_MAX_SIZE.max(self.batch_size));
        max.min(self.max_request_size).max(self.batch_size)
    }

    /// Checks every rule and resolves idempotence.
    pub fn validate(self) -> Result<ValidConfig<'a>, ConfigError> {
        self.check_ranges()?;
        self.sasl.validate()?;
        let transactional = TxnConfig::check(&self)?;
        let compatible = self.acks == Acks::All && self.retries > 0 && self.max_in_flight <= MAX_IN_FLIGHT_IDEMPOTENT;
        let idempotent = match self.enable_idempotence {
            Some(true) if !compatible => return Err(self.idempotence_conflict()),
            Some(on) => on,
            None => compatible,
        } || transactional;
        if self.delivery_timeout < self.linger.saturating_add(self.request_timeout) {
            return Err(ConfigError::Conflict {
                settings: &["delivery.timeout.ms", "linger.ms", "request.timeout.ms"],
                rule: "delivery.timeout.ms must be at least linger.ms + request.timeout.ms",
            });
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(ConfigError::Conflict {
                settings: &["retry.backoff.ms", "retry.backoff.max.ms"],
                rule: "retry.backoff.max.ms must be at least retry.backoff.ms",
            });
        }
        if self.reconnect_backoff_max < self.reconnect_backoff {
            return Err(ConfigError::Conflict {
                settings: &["reconnect.backoff.ms", "reconnect.backoff.max.ms"],
                rule: "reconnect.backoff.max.ms must be at least reconnect.backoff.ms",
            });
        }
        if self.connection.setup_timeout_max < self.connection.setup_timeout {
            return Err(ConfigError::Conflict {
                settings: &["socket.connection.setup.timeout.ms", "socket.connection.setup.timeout.max.ms"],
                rule: "socket.connection.setup.timeout.max.ms must be at least socket.connection.setup.timeout.ms",
            });
        }
        if let Some(max) = self.batch_max_size {
            if max < self.batch_size {
                return Err(ConfigError::Conflict {
                    settings: &["batch.max.size", "batch.size"],
                    rule: "batch.max.size must be at least batch.size",
                });
            }
            if max > self.max_request_size {
                return Err(ConfigError::Conflict {
                    settings: &["batch.max.size", "max.request.size"],
                    rule: "batch.max.size must be at most max.request.size (a batch goes in one request)",
                });
            }
        }
        if self.batch_size > self.buffer_memory {
            return Err(ConfigError::Conflict {
                settings: &["batch.size", "buffer.memory"],
                rule: "buffer.memory must hold at least one batch",
            });
        }
        Ok(ValidConfig { config: self, idempotent })
    }

    fn check_ranges(&self) -> Result<(), ConfigError> {
        let invalid = |setting, expected| Err(ConfigError::InvalidValue { setting, expected });
        self.compression_levels.check()?;
        if self.max_in_flight == 0 {
            return invalid("max.in.flight.requests.per.connection", "at least 1");
        }
        if self.batch_size == 0 {
            return invalid("batch.size", "at least 1 byte");
        }
        if self.max_request_size < crate::record::BATCH_HEADER_LEN + 64 {
            return invalid("max.request.size", "room for at least one small batch (>= 125 bytes)");
        }
        if !self.compression.can_compress() {
            return invalid("compression.type", "a codec compiled into this build (see the crate features)");
        }
        if !(1..=MAX_SAMPLES).contains(&self.metrics_sampling.samples) {
            return invalid("metrics.num.samples", "1 to 8");
        }
        if self.metrics_sampling.window.is_zero() {
            return invalid("metrics.sample.window.ms", "more than 0");
        }
        if self.metadata_max_idle < Duration::from_secs(5) {
            return invalid("metadata.max.idle.ms", "at least 5000 (as the Java client)");
        }
        if self.connection.setup_timeout.is_zero() {
            return invalid("socket.connection.setup.timeout.ms", "more than 0");
        }
        if self.request_timeout.is_zero() {
            return invalid("request.timeout.ms", "more than 0");
        }
        if let ApiVersionPolicy::PinProduce(v) = self.api_version {
            if v < 3 {
                return invalid("api.version", "Produce v3 or later (Kafka 4 rejects v0-v2)");
            }
            if v < self.compression.min_produce_version() {
                return Err(ConfigError::Conflict {
                    settings: &["compression.type", "api.version"],
                    rule: "zstd needs Produce v7 or later",
                });
            }
        }
        Ok(())
    }

    fn idempotence_conflict(&self) -> ConfigError {
        let (settings, rule): (&'static [&'static str], _) = if self.acks != Acks::All {
            (&["enable.idempotence", "acks"], "idempotence requires acks=all")
        } else if self.retries == 0 {
            (&["enable.idempotence", "retries"], "idempotence requires retries > 0")
        } else {
            (
                &["enable.idempotence", "max.in.flight.requests.per.connection"],
                "idempotence allows at most 5 requests in flight per connection",
            )
        };
        ConfigError::Conflict { settings, rule }
    }

    /// Sets a setting by its Kafka property name (`linger.ms`, `acks`, ...), as found in a
    /// `client.properties` file. `client.id` borrows `value`. Driver-only properties
    /// (`bootstrap.servers`, socket options, serializers) are the driver's to handle before
    /// calling this; anything else unknown is [`ConfigError::UnknownProperty`].
    pub fn set_property(&mut self, name: &str, value: &'a str) -> Result<(), ConfigError> {
        let value = value.trim();
        match name {
            "client.id" => self.client_id = value,
            "acks" => self.acks = parse_acks(value)?,
            "compression.type" => {
                self.compression = Compression::from_name(value).ok_or(ConfigError::InvalidValue {
                    setting: "compression.type",
                    expected: "none, gzip, snappy, lz4 or zstd",
                })?;
            }
            "compression.gzip.level" => self.compression_levels.gzip = parse_int("compression.gzip.level", value)?,
            "compression.lz4.level" => self.compression_levels.lz4 = parse_int("compression.lz4.level", value)?,
            "compression.zstd.level" => self.compression_levels.zstd = parse_int("compression.zstd.level", value)?,
            "retries" => self.retries = parse_num("retries", value)?,
            "batch.size" => self.batch_size = parse_num("batch.size", value)?,
            "batch.max.size" => self.batch_max_size = Some(parse_num("batch.max.size", value)?),
            "linger.ms" => self.linger = parse_ms("linger.ms", value)?,
            "buffer.memory" => self.buffer_memory = parse_num("buffer.memory", value)?,
            "max.block.ms" => self.max_block = parse_ms("max.block.ms", value)?,
            "max.request.size" => self.max_request_size = parse_num("max.request.size", value)?,
            "metadata.max.age.ms" => self.metadata_max_age = parse_ms("metadata.max.age.ms", value)?,
            "metadata.max.idle.ms" => self.metadata_max_idle = parse_ms("metadata.max.idle.ms", value)?,
            "connections.max.idle.ms" => self.connections_max_idle = parse_ms("connections.max.idle.ms", value)?,
            "retry.backoff.ms" => self.retry_backoff = parse_ms("retry.backoff.ms", value)?,
            "retry.backoff.max.ms" => self.retry_backoff_max = parse_ms("retry.backoff.max.ms", value)?,
            "reconnect.backoff.ms" => self.reconnect_backoff = parse_ms("reconnect.backoff.ms", value)?,
            "reconnect.backoff.max.ms" => self.reconnect_backoff_max = parse_ms("reconnect.backoff.max.ms", value)?,
            "request.timeout.ms" => self.request_timeout = parse_ms("request.timeout.ms", value)?,
            "socket.connection.setup.timeout.ms" => {
                self.connection.setup_timeout = parse_ms("socket.connection.setup.timeout.ms", value)?;
            }
            "socket.connection.setup.timeout.max.ms" => {
                self.connection.setup_timeout_max = parse_ms("socket.connection.setup.timeout.max.ms", value)?;
            }
            "metadata.recovery.strategy" => {
                self.connection.rebootstrap = match value {
                    v if v.eq_ignore_ascii_case("rebootstrap") => true,
                    v if v.eq_ignore_ascii_case("none") => false,
                    _ => {
                        return Err(ConfigError::InvalidValue {
                            setting: "metadata.recovery.strategy",
                            expected: "rebootstrap or none",
                        })
                    }
                };
            }
            "metadata.recovery.rebootstrap.trigger.ms" => {
                self.connection.rebootstrap_trigger = parse_ms("metadata.recovery.rebootstrap.trigger.ms", value)?;
            }
            "max.in.flight.requests.per.connection" => {
                self.max_in_flight = parse_num("max.in.flight.requests.per.connection", value)?;
            }
            "delivery.timeout.ms" => self.delivery_timeout = parse_ms("delivery.timeout.ms", value)?,
            "enable.idempotence" => self.enable_idempotence = Some(parse_bool("enable.idempotence", value)?),
            "partitioner.adaptive.partitioning.enable" => {
                self.partitioner.adaptive = parse_bool("partitioner.adaptive.partitioning.enable", value)?;
            }
            "partitioner.availability.timeout.ms" => {
                self.partitioner.availability_timeout = parse_ms("partitioner.availability.timeout.ms", value)?;
            }
            "partitioner.ignore.keys" => self.partitioner.ignore_keys = parse_bool("partitioner.ignore.keys", value)?,
            "metrics.sample.window.ms" => self.metrics_sampling.window = parse_ms("metrics.sample.window.ms", value)?,
            "metrics.num.samples" => self.metrics_sampling.samples = parse_num("metrics.num.samples", value)?,
            "metrics.recording.level" => {
                if !matches!(value, "INFO" | "DEBUG" | "TRACE") {
                    return Err(ConfigError::InvalidValue {
                        setting: "metrics.recording.level",
                        expected: "INFO, DEBUG or TRACE",
                    });
                }
            }
            "kprod.seed" => self.seed = parse_num("kprod.seed", value)?,
            "security.protocol" => self.sasl.enabled = parse_security_protocol(value)?,
            "sasl.mechanism" => {
                self.sasl.mechanism = Some(Mechanism::from_name(value).ok_or(ConfigError::InvalidValue {
                    setting: "sasl.mechanism",
                    expected: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER",
                })?);
            }
            name if STATIC_PROPERTIES.contains(&name) => {
                return Err(ConfigError::InvalidValue {
                    setting: STATIC_PROPERTIES.iter().copied().find(|&p| p == name).unwrap_or("sasl.jaas.config"),
                    expected: "a 'static value: set it with Config::set_static_property",
                });
            }
            _ if self.transactions.set_property(name, value)? => {}
            _ => return Err(ConfigError::UnknownProperty),
        }
        Ok(())
    }
}

/// The SASL properties whose text the engine keeps for its whole life.
const STATIC_PROPERTIES: [&str; 4] =
    ["sasl.jaas.config", "sasl.username", "sasl.password", "kprod.sasl.oauthbearer.token"];

impl Config<'_> {
    /// Like [`Config::set_property`], and also the properties whose text the engine keeps
    /// (`sasl.jaas.config`, `sasl.username`, `sasl.password`, `kprod.sasl.oauthbearer.token`),
    /// which need `'static` text: a literal, or text a driver keeps for the process (the std
    /// driver interns it, as it does `client.id`).
    pub fn set_static_property(&mut self, name: &str, value: &'static str) -> Result<(), ConfigError> {
        match name {
            "sasl.jaas.config" => {
                let jaas = JaasConfig::parse(value.trim())
                    .map_err(|e| ConfigError::InvalidValue { setting: "sasl.jaas.config", expected: e.expected() })?;
                self.sasl.jaas = Some(jaas);
            }
            "sasl.username" => self.sasl.username = Some(Text::new(value)),
            "sasl.password" => self.sasl.password = Some(Secret::new(value)),
            "kprod.sasl.oauthbearer.token" => self.sasl.token = Some(Secret::new(value.trim())),
            _ => self.set_property(name, value)?,
        }
        Ok(())
    }
}

/// `security.protocol`: whether SASL is on. TLS is the driver's: the core refuses `SSL` and
/// `SASL_SSL`, which a driver with TLS (kprod-std) handles before calling the core.
fn parse_security_protocol(v: &str) -> Result<bool, ConfigError> {
    match v {
        "PLAINTEXT" => Ok(false),
        "SASL_PLAINTEXT" => Ok(true),
        _ => Err(ConfigError::InvalidValue {
            setting: "security.protocol",
            expected: "PLAINTEXT or SASL_PLAINTEXT here (SSL and SASL_SSL need a driver with TLS, e.g. kprod-std)",
        }),
    }
}

fn parse_acks(v: &str) -> Result<Acks, ConfigError> {
    match v {
        "0" => Ok(Acks::None),
        "1" => Ok(Acks::Leader),
        "all" | "-1" => Ok(Acks::All),
        _ => Err(ConfigError::InvalidValue { setting: "acks", expected: "0, 1, all or -1" }),
    }
}

fn parse_num<T: core::str::FromStr>(setting: &'static str, v: &str) -> Result<T, ConfigError> {
    v.parse().map_err(|_| ConfigError::InvalidValue { setting, expected: "a non-negative integer in range" })
}

fn parse_int(setting: &'static str, v: &str) -> Result<i32, ConfigError> {
    v.parse().map_err(|_| ConfigError::InvalidValue { setting, expected: "an integer" })
}

fn parse_ms(setting: &'static str, v: &str) -> Result<Duration, ConfigError> {
    parse_num::<u64>(setting, v).map(Duration::from_millis)
}

fn parse_bool(setting: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ConfigError::InvalidValue { setting, expected: "true or false" }),
    }
}

#[cfg(test)]
mod tests;
