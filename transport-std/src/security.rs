//! The security settings of [`ProducerConfig`](crate::ProducerConfig), by the Java client's
//! names: `security.protocol`, the `ssl.*` truststore and keystore settings, and the `sasl.*`
//! settings (kept for the core's SASL; see [`SaslSettings`]), plus librdkafka's aliases for kcat
//! users (`ssl.ca.location`, `ssl.certificate.location`, `ssl.key.location`, `sasl.username`,
//! `sasl.password`, `sasl.mechanisms`).
//!
//! Passwords, private keys and the JAAS line are [`Secret`]s: their `Debug` output is
//! `"[hidden]"`, and no error message quotes them.

use core::fmt;
use std::path::PathBuf;

use kprod_core::config::Config;

use crate::error::Error;
use crate::properties::Support;

/// A secret setting (a password, a private key, a JAAS line). `Debug` and `Display` never show
/// it; [`Secret::expose`] does, for the code that needs it.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// A secret holding `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// `security.protocol`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SecurityProtocol {
    /// Plain TCP (the default).
    #[default]
    Plaintext,
    /// TLS.
    Ssl,
    /// SASL over plain TCP.
    SaslPlaintext,
    /// SASL over TLS.
    SaslSsl,
}

impl SecurityProtocol {
    /// Whether connections use TLS.
    pub const fn uses_tls(self) -> bool {
        matches!(self, Self::Ssl | Self::SaslSsl)
    }

    /// Whether connections authenticate with SASL.
    pub const fn uses_sasl(self) -> bool {
        matches!(self, Self::SaslPlaintext | Self::SaslSsl)
    }

    /// The Java name (`SASL_SSL`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plaintext => "PLAINTEXT",
            Self::Ssl => "SSL",
            Self::SaslPlaintext => "SASL_PLAINTEXT",
            Self::SaslSsl => "SASL_SSL",
        }
    }
}

/// The format of a truststore or keystore (`ssl.truststore.type`, `ssl.keystore.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreType {
    /// PEM text (certificates; for a keystore, the key and its chain).
    Pem,
    /// A PKCS#12 file with its password.
    Pkcs12,
    /// A Java KeyStore: not readable by kprod (the error gives the `keytool` command that
    /// converts it to PKCS12).
    Jks,
}

/// A truststore or keystore: where it is, its type and password.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Store {
    /// `ssl.*store.type`; `None`: told by the file's content (Java's default is JKS).
    pub kind: Option<StoreType>,
    /// `ssl.*store.location`.
    pub location: Option<PathBuf>,
    /// `ssl.*store.password`.
    pub password: Option<Secret>,
}

/// The TLS versions `ssl.enabled.protocols` (or `ssl.protocol`) allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsVersions {
    /// TLS 1.2.
    pub tls12: bool,
    /// TLS 1.3.
    pub tls13: bool,
}

impl Default for TlsVersions {
    fn default() -> Self {
        Self { tls12: true, tls13: true }
    }
}

/// The `ssl.*` settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SslSettings {
    /// The CAs to trust (`ssl.truststore.*`, `ssl.ca.location`). No location and no inline
    /// certificates: the platform's roots.
    pub truststore: Store,
    /// `ssl.truststore.certificates` (or librdkafka's `ssl.ca.pem`): PEM certificates inline.
    pub truststore_certificates: Option<String>,
    /// The client certificate and key for mTLS (`ssl.keystore.*`).
    pub keystore: Store,
    /// `ssl.keystore.certificate.chain` (or `ssl.certificate.pem`): the PEM chain inline.
    pub keystore_certificate_chain: Option<String>,
    /// `ssl.keystore.key` (or `ssl.key.pem`): the PEM private key inline.
    pub keystore_key: Option<Secret>,
    /// librdkafka's `ssl.certificate.location`: the PEM chain in a file.
    pub certificate_location: Option<PathBuf>,
    /// librdkafka's `ssl.key.location`: the PEM key in a file.
    pub key_location: Option<PathBuf>,
    /// `ssl.key.password`: the password of an encrypted private key.
    pub key_password: Option<Secret>,
    /// `ssl.endpoint.identification.algorithm=https` (the default) checks that the broker's
    /// certificate names the host connected to; empty (or librdkafka's `none`) does not.
    pub verify_hostname: bool,
    /// `ssl.enabled.protocols` / `ssl.protocol`.
    pub versions: TlsVersions,
    /// `ssl.cipher.suites` (IANA names); empty: rustls's defaults.
    pub cipher_suites: Vec<String>,
}

impl Default for SslSettings {
    fn default() -> Self {
        Self {
            truststore: Store::default(),
            truststore_certificates: None,
            keystore: Store::default(),
            keystore_certificate_chain: None,
            keystore_key: None,
            certificate_location: None,
            key_location: None,
            key_password: None,
            verify_hostname: true,
            versions: TlsVersions::default(),
            cipher_suites: Vec::new(),
        }
    }
}

/// The `sasl.*` settings, kept as given for the engine's SASL (the JAAS line is parsed there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SaslSettings {
    /// `sasl.mechanism` (or librdkafka's `sasl.mechanisms`): `PLAIN`, `SCRAM-SHA-256`, ...
    pub mechanism: Option<String>,
    /// `sasl.jaas.config`, in the Java client's syntax. Secret as a whole.
    pub jaas_config: Option<Secret>,
    /// librdkafka's `sasl.username`.
    pub username: Option<String>,
    /// librdkafka's `sasl.password`.
    pub password: Option<Secret>,
    /// `kprod.sasl.oauthbearer.token`: a static OAUTHBEARER token (compact JWT).
    pub oauth_token: Option<Secret>,
}

/// Everything `security.protocol`, `ssl.*` and `sasl.*` set.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecuritySettings {
    /// `security.protocol`.
    pub protocol: SecurityProtocol,
    /// The TLS settings (used with `SSL` and `SASL_SSL`).
    pub ssl: SslSettings,
    /// The SASL settings (used with `SASL_PLAINTEXT` and `SASL_SSL`).
    pub sasl: SaslSettings,
}

/// Whether the value of property `name` is secret: callers that echo settings (the CLI, logs)
/// must not show it.
pub fn is_secret_property(name: &str) -> bool {
    matches!(
        name,
        "ssl.key.password"
            | "ssl.keystore.password"
            | "ssl.truststore.password"
            | "ssl.keystore.key"
            | "ssl.key.pem"
            | "sasl.jaas.config"
            | "sasl.password"
            | "basic.auth.user.info"
    ) || name.ends_with(".password")
        || name.ends_with(".secret")
}

fn invalid(name: &str, expected: &str) -> Error {
    Error::Config(format!("invalid value for {name}: expected {expected}"))
}

fn path(value: &str) -> Option<PathBuf> {
    (!value.is_empty()).then(|| PathBuf::from(value))
}

fn text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

fn secret(value: &str) -> Option<Secret> {
    (!value.is_empty()).then(|| Secret::new(value))
}

fn store_type(name: &str, value: &str) -> Result<Option<StoreType>, Error> {
    match value.to_ascii_uppercase().as_str() {
        "" => Ok(None),
        "PEM" => Ok(Some(StoreType::Pem)),
        "PKCS12" | "P12" => Ok(Some(StoreType::Pkcs12)),
        "JKS" => Ok(Some(StoreType::Jks)),
        _ => Err(invalid(name, "PEM, PKCS12 or JKS")),
    }
}

/// A comma-separated list, without empty entries.
fn list(value: &str) -> impl Iterator<Item = &str> {
    value.split(',').map(str::trim).filter(|s| !s.is_empty())
}

fn versions(name: &str, value: &str) -> Result<TlsVersions, Error> {
    let mut v = TlsVersions { tls12: false, tls13: false };
    for p in list(value) {
        match p {
            "TLSv1.2" => v.tls12 = true,
            "TLSv1.3" => v.tls13 = true,
            "TLSv1" | "TLSv1.1" | "SSLv3" | "SSLv2Hello" => {
                return Err(Error::Config(format!(
                    "{name}: {p} is not supported (rustls speaks TLSv1.2 and TLSv1.3 only); remove it"
                )));
            }
            _ => return Err(invalid(name, "TLSv1.2 and/or TLSv1.3")),
        }
    }
    if !v.tls12 && !v.tls13 {
        return Ok(TlsVersions::default());
    }
    Ok(v)
}

fn protocol(name: &str, value: &str) -> Result<SecurityProtocol, Error> {
    match value.to_ascii_uppercase().as_str() {
        "PLAINTEXT" => Ok(SecurityProtocol::Plaintext),
        "SSL" => Ok(SecurityProtocol::Ssl),
        "SASL_PLAINTEXT" => Ok(SecurityProtocol::SaslPlaintext),
        "SASL_SSL" => Ok(SecurityProtocol::SaslSsl),
        _ => Err(invalid(name, "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")),
    }
}

/// `ssl.endpoint.identification.algorithm`: `https` checks the host name, empty (Java) or `none`
/// (librdkafka) does not.
fn hostname_check(name: &str, value: &str) -> Result<bool, Error> {
    match value.to_ascii_lowercase().as_str() {
        "https" => Ok(true),
        "" | "none" => Ok(false),
        _ => Err(invalid(name, "https, or empty to turn hostname verification off")),
    }
}

/// The Java settings that name a Java class or algorithm: accepted when they say what rustls
/// does anyway, refused with the reason otherwise.
fn java_only(name: &str, value: &str, accepted: &[&str], why: &str) -> Result<(), Error> {
    if value.is_empty() || accepted.iter().any(|a| a.eq_ignore_ascii_case(value)) {
        return Ok(());
    }
    Err(Error::Config(format!("{name}={value} is not supported: {why}; remove the setting")))
}

/// The reason the property table gives for a setting accepted only at its default.
fn default_only_reason(name: &str) -> &'static str {
    match crate::properties::lookup(name).map(|p| p.support) {
        Some(Support::DefaultOnly { reason }) => reason,
        _ => "kprod does not support other values",
    }
}

impl SecuritySettings {
    /// Sets a security property; `None` if `name` is not one.
    pub(crate) fn set_property(&mut self, name: &str, value: &str) -> Option<Result<(), Error>> {
        let ssl = &mut self.ssl;
        match name {
            "security.protocol" => return Some(protocol(name, value).map(|p| self.protocol = p)),
            "ssl.truststore.type" => return Some(store_type(name, value).map(|t| ssl.truststore.kind = t)),
            "ssl.keystore.type" => return Some(store_type(name, value).map(|t| ssl.keystore.kind = t)),
            "ssl.truststore.location" => ssl.truststore.location = path(value),
            // librdkafka's `probe`: the platform's roots, which is what no truststore means here.
            "ssl.ca.location" if value == "probe" => ssl.truststore.location = None,
            // librdkafka's CA file is always PEM.
            "ssl.ca.location" => {
                ssl.truststore.location = path(value);
                ssl.truststore.kind = Some(StoreType::Pem);
            }
            "ssl.truststore.certificates" | "ssl.ca.pem" => ssl.truststore_certificates = text(value),
            "ssl.truststore.password" => ssl.truststore.password = secret(value),
            "ssl.keystore.location" => ssl.keystore.location = path(value),
            "ssl.keystore.password" => ssl.keystore.password = secret(value),
            "ssl.keystore.certificate.chain" | "ssl.certificate.pem" => ssl.keystore_certificate_chain = text(value),
            "ssl.keystore.key" | "ssl.key.pem" => ssl.keystore_key = secret(value),
            "ssl.certificate.location" => ssl.certificate_location = path(value),
            "ssl.key.location" => ssl.key_location = path(value),
            "ssl.key.password" => ssl.key_password = secret(value),
            "ssl.endpoint.identification.algorithm" => {
                return Some(hostname_check(name, value).map(|on| ssl.verify_hostname = on));
            }
            "ssl.enabled.protocols" => return Some(versions(name, value).map(|v| ssl.versions = v)),
            // Java's SSLContext protocol; the enabled protocols decide what is negotiated.
            "ssl.protocol" => {
                return Some(match value {
                    "" | "TLS" | "TLSv1.2" | "TLSv1.3" => Ok(()),
                    _ => versions(name, value).map(drop),
                });
            }
            "ssl.cipher.suites" => ssl.cipher_suites = list(value).map(str::to_owned).collect(),
            // Accepted only at their default: the reason is the property table's.
            "ssl.provider" | "ssl.engine.factory.class" | "ssl.secure.random.implementation" => {
                return Some(java_only(name, value, &[], default_only_reason(name)));
            }
            "enable.ssl.certificate.verification" => {
                let why =
                    "kprod always verifies the broker's certificate (ssl.endpoint.identification.algorithm= skips \
                           only the hostname check)";
                return Some(java_only(name, value, &["true"], why));
            }
            "ssl.trustmanager.algorithm" => {
                let why = "rustls verifies certificates with PKIX (X.509 path validation) only";
                return Some(java_only(name, value, &["PKIX", "SunX509"], why));
            }
            "ssl.keymanager.algorithm" => {
                let why = "rustls presents the keystore's one key and chain (as SunX509 does)";
                return Some(java_only(name, value, &["SunX509", "NewSunX509", "PKIX"], why));
            }
            "sasl.mechanism" | "sasl.mechanisms" => self.sasl.mechanism = text(value),
            "sasl.jaas.config" => self.sasl.jaas_config = secret(value),
            "sasl.username" => self.sasl.username = text(value),
            "sasl.password" => self.sasl.password = secret(value),
            "kprod.sasl.oauthbearer.token" => self.sasl.oauth_token = secret(value),
            "sasl.client.callback.handler.class" | "sasl.login.callback.handler.class" | "sasl.login.class" => {
                return Some(java_only(name, value, &[], default_only_reason(name)));
            }
            _ => return None,
        }
        Some(Ok(()))
    }

    /// Checks the combination at producer creation (files are read when the TLS configuration
    /// is built, see `tls`).
    pub(crate) fn validate(&self) -> Result<(), Error> {
        Ok(())
    }

    /// Hands the SASL settings to the engine's configuration: SASL on for
    /// `security.protocol=SASL_*`, `sasl.mechanism` (or `sasl.mechanisms`), `sasl.jaas.config`,
    /// or librdkafka's `sasl.username` / `sasl.password`. The engine keeps this text for its
    /// whole life, so it is interned (as `client.id` is): a secret stays in memory as long as
    /// the process, as it does in the Java client's JAAS configuration. Errors name the
    /// setting, never its value.
    pub(crate) fn apply_sasl(&self, core: &mut Config<'static>, intern: fn(&str) -> &'static str) -> Result<(), Error> {
        core.sasl.enabled = self.protocol.uses_sasl();
        if !core.sasl.enabled {
            return Ok(());
        }
        let map = |e: kprod_core::config::ConfigError| Error::Config(e.to_string());
        if let Some(m) = &self.sasl.mechanism {
            core.set_static_property("sasl.mechanism", intern(m.trim())).map_err(map)?;
        }
        if let Some(j) = &self.sasl.jaas_config {
            core.set_static_property("sasl.jaas.config", intern(j.expose())).map_err(map)?;
        }
        if let Some(u) = &self.sasl.username {
            core.set_static_property("sasl.username", intern(u)).map_err(map)?;
        }
        if let Some(p) = &self.sasl.password {
            core.set_static_property("sasl.password", intern(p.expose())).map_err(map)?;
        }
        if let Some(t) = &self.sasl.oauth_token {
            core.set_static_property("kprod.sasl.oauthbearer.token", intern(t.expose())).map_err(map)?;
        }
        Ok(())
    }
}

/// Settings that belong to other Kafka clients and turn up in `client.properties` files copied
/// from a cloud provider's page (consumer, admin and Schema Registry settings): ignored with a
/// warning, as the Java producer ignores configs it does not use. `Some(reason)` for those.
pub(crate) fn other_client_setting(name: &str) -> Option<&'static str> {
    // The named ones are the property table's `Ignored` rows; Schema Registry settings go by prefix.
    if let Some(Support::Ignored { reason }) = crate::properties::lookup(name).map(|p| p.support) {
        return Some(reason);
    }
    (name.starts_with("schema.registry.") || name.starts_with("basic.auth."))
        .then_some("a Schema Registry setting (for serializers)")
}

#[cfg(test)]
#[path = "security_tests.rs"]
pub(crate) mod tests;
