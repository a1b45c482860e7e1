//! SASL for Kafka, the parts that need no connection: the settings (`sasl.mechanism`,
//! `sasl.jaas.config` in Java's syntax), the mechanisms' messages (PLAIN, SCRAM-SHA-256/512,
//! OAUTHBEARER), secrets that stay out of `Debug`, and the typed authentication errors. The
//! engine runs the exchange on each connection (`producer/sasl.rs`): SaslHandshake v1, then
//! SaslAuthenticate rounds (KIP-152), and re-authentication (KIP-368).
//!
//! Everything borrows the configuration text and works without a heap.

pub mod jaas;
pub mod oauthbearer;
pub mod scram;
mod text;

use core::fmt;

pub use jaas::{JaasConfig, JaasError, LoginModule};
pub use scram::{ScramError, ScramHash, ScramUser};
pub use text::{Chars, Secret, Text};

use crate::config::ConfigError;
use crate::protocol::ErrorCode;
use crate::wire::{EncodeError, Sink};

/// A SASL mechanism (`sasl.mechanism`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mechanism {
    /// `PLAIN`: user and password in the clear (use TLS).
    Plain,
    /// `SCRAM-SHA-256`.
    ScramSha256,
    /// `SCRAM-SHA-512`.
    ScramSha512,
    /// `OAUTHBEARER`: a token from the application or an unsecured test token.
    OAuthBearer,
}

impl Mechanism {
    /// The name as the broker and `sasl.mechanism` spell it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Plain => "PLAIN",
            Self::ScramSha256 => "SCRAM-SHA-256",
            Self::ScramSha512 => "SCRAM-SHA-512",
            Self::OAuthBearer => "OAUTHBEARER",
        }
    }

    /// The mechanism `sasl.mechanism` names (exact, upper case, as Java compares).
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Plain, Self::ScramSha256, Self::ScramSha512, Self::OAuthBearer].into_iter().find(|m| m.name() == name)
    }

    /// The SCRAM hash, for the SCRAM mechanisms.
    pub const fn scram_hash(self) -> Option<ScramHash> {
        match self {
            Self::ScramSha256 => Some(ScramHash::Sha256),
            Self::ScramSha512 => Some(ScramHash::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The SASL settings. `enabled` is what `security.protocol` decides (`SASL_PLAINTEXT` or
/// `SASL_SSL`: the std driver maps it; the core takes `SASL_PLAINTEXT` itself). Credentials
/// come from `sasl.jaas.config`; `sasl.username` / `sasl.password` (librdkafka's names) override
/// it. `Debug` never shows a password or token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaslConfig<'a> {
    /// Authenticate every connection.
    pub enabled: bool,
    /// `sasl.mechanism`. `None`: not set (Java's default, GSSAPI, is not supported).
    pub mechanism: Option<Mechanism>,
    /// `sasl.jaas.config`.
    pub jaas: Option<JaasConfig<'a>>,
    /// `sasl.username`: overrides the JAAS `username`.
    pub username: Option<Text<'a>>,
    /// `sasl.password`: overrides the JAAS `password`.
    pub password: Option<Secret<'a>>,
    /// `kprod.sasl.oauthbearer.token`: a static OAUTHBEARER token. Without it the engine asks
    /// the driver for one ([`crate::producer::Producer::oauth_token_wanted`]).
    pub token: Option<Secret<'a>>,
}

impl<'a> SaslConfig<'a> {
    /// The user name and password for PLAIN and SCRAM.
    pub fn credentials(&self) -> Option<(Text<'a>, Secret<'a>)> {
        let jaas = |name| self.jaas.as_ref().and_then(|j| j.option(name));
        let user = self.username.or_else(|| jaas("username"))?;
        let password = self.password.or_else(|| jaas("password").map(Secret))?;
        Some((user, password))
    }

    /// The SCRAM user (with `tokenauth=true` for a delegation token).
    pub fn scram_user(&self) -> Option<ScramUser<'a>> {
        let (username, password) = self.credentials()?;
        let tokenauth = self.jaas.and_then(|j| j.option("tokenauth")).is_some_and(|t| t.chars().eq("true".chars()));
        Some(ScramUser { username, password, tokenauth })
    }

    /// Checks the settings when SASL is on.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let invalid = |setting, expected| Err(ConfigError::InvalidValue { setting, expected });
        if !cfg!(feature = "sasl") {
            return invalid("security.protocol", "PLAINTEXT: this build of kprod-core has no `sasl` feature");
        }
        let Some(mechanism) = self.mechanism else {
            return invalid(
                "sasl.mechanism",
                "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER (kprod has no GSSAPI, Java's default)",
            );
        };
        let module = self.jaas.map(|j| j.module());
        if mechanism == Mechanism::OAuthBearer {
            if module.is_some_and(|m| m != LoginModule::OAuthBearer) {
                return invalid("sasl.jaas.config", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule for sasl.mechanism=OAUTHBEARER");
            }
            if let Some(j) = &self.jaas {
                oauthbearer::check_extensions(j).map_err(|_| ConfigError::InvalidValue {
                    setting: "sasl.jaas.config",
                    expected: "unsecuredLoginExtension_<letters>=<printable value> extensions (not 'auth')",
                })?;
            }
            return Ok(());
        }
        if module.is_some_and(|m| !matches!(m, LoginModule::Plain | LoginModule::Scram)) {
            return invalid(
                "sasl.jaas.config",
                "the PlainLoginModule or ScramLoginModule for sasl.mechanism=PLAIN or SCRAM-SHA-*",
            );
        }
        let Some((user, password)) = self.credentials() else {
            return invalid(
                "sasl.jaas.config",
                "username and password options, e.g. org.apache.kafka.common.security.plain.PlainLoginModule required username=\"alice\" password=\"...\";",
            );
        };
        if user.is_empty() {
            return invalid("sasl.jaas.config", "a non-empty username");
        }
        if mechanism.scram_hash().is_some() && password.expose().len() > scram::MAX_PASSWORD {
            return invalid("sasl.jaas.config", "a SCRAM password of at most 256 bytes");
        }
        Ok(())
    }
}

/// Writes the PLAIN message `authzid NUL user NUL password` (empty authzid).
pub fn write_plain(user: Text<'_>, password: Secret<'_>, out: &mut impl Sink) -> Result<(), EncodeError> {
    out.put(b"\0")?;
    user.for_each_piece(|p| out.put(p))?;
    out.put(b"\0")?;
    password.expose().for_each_piece(|p| out.put(p))
}

/// How many bytes of a broker's message an error keeps (the core has no heap).
pub const MESSAGE_CAPACITY: usize = 110;

/// A broker's text (an error message, a mechanism list), truncated to [`MESSAGE_CAPACITY`]
/// bytes at a character boundary.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Message {
    bytes: [u8; MESSAGE_CAPACITY],
    len: u8,
    truncated: bool,
}

impl Message {
    /// No text.
    pub const EMPTY: Self = Self { bytes: [0; MESSAGE_CAPACITY], len: 0, truncated: false };

    /// Keeps what fits of `text`; bytes that are not UTF-8 end it.
    pub fn new(text: &[u8]) -> Self {
        let valid = match core::str::from_utf8(text) {
            Ok(s) => s,
            // The prefix up to the error is valid UTF-8.
            Err(e) => core::str::from_utf8(&text[..e.valid_up_to()]).unwrap_or_default(),
        };
        let mut m = Self::EMPTY;
        m.push(valid);
        m.truncated |= valid.len() < text.len();
        m
    }

    /// Appends what fits of `s`.
    pub fn push(&mut self, s: &str) {
        let at = usize::from(self.len);
        let mut n = s.len().min(MESSAGE_CAPACITY - at);
        while !s.is_char_boundary(n) {
            n -= 1;
        }
        self.bytes[at..at + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n as u8;
        self.truncated |= n < s.len();
    }

    /// The text kept.
    pub fn as_str(&self) -> &str {
        // Only whole characters are ever copied in.
        core::str::from_utf8(&self.bytes[..usize::from(self.len)]).unwrap_or_default()
    }

    /// Whether the broker's text was longer than what is kept.
    pub const fn truncated(&self) -> bool {
        self.truncated
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())?;
        if self.truncated {
            f.write_str("...")?;
        }
        Ok(())
    }
}

/// Why SASL authentication with a broker failed. Fatal for that broker: kprod does not connect
/// to it again until the credentials change, and its records fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// The broker does not enable `sasl.mechanism` (`UNSUPPORTED_SASL_MECHANISM`); `enabled`
    /// lists what it enables.
    UnsupportedMechanism {
        /// What kprod asked for.
        mechanism: Mechanism,
        /// The broker's enabled mechanisms, comma-separated.
        enabled: Message,
    },
    /// The broker refused the credentials (`SASL_AUTHENTICATION_FAILED`, or another code),
    /// with its message.
    Failed {
        /// The mechanism.
        mechanism: Mechanism,
        /// The broker's error code.
        code: ErrorCode,
        /// The broker's message.
        message: Message,
    },
    /// The broker refused the SaslHandshake (e.g. `ILLEGAL_SASL_STATE`).
    Handshake(ErrorCode),
    /// The broker offers no SaslHandshake v1 or SaslAuthenticate (KIP-152): it does not speak
    /// SASL as Kafka 1.0+ does.
    UnsupportedVersion,
    /// The SCRAM exchange failed on the client side (e.g. the broker's signature is wrong);
    /// `message` is the broker's `e=` text, if it sent one.
    Scram {
        /// What went wrong.
        error: ScramError,
        /// The broker's text.
        message: Message,
    },
    /// SCRAM needs an unpredictable nonce and the driver gave no entropy
    /// ([`crate::producer::Producer::handle_entropy`]).
    NoEntropy,
}

impl AuthError {
    /// The short form records fail with ([`crate::producer::DeliveryError::Authentication`]).
    pub const fn code(&self) -> ErrorCode {
        match self {
            Self::UnsupportedMechanism { .. } => ErrorCode::UnsupportedSaslMechanism,
            Self::Failed { code, .. } | Self::Handshake(code) => *code,
            Self::UnsupportedVersion => ErrorCode::UnsupportedVersion,
            Self::Scram { .. } | Self::NoEntropy => ErrorCode::SaslAuthenticationFailed,
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnsupportedMechanism { mechanism, enabled } => write!(
                f,
                "does not enable sasl.mechanism={mechanism} (UNSUPPORTED_SASL_MECHANISM; the broker enables: {enabled})"
            ),
            Self::Failed { mechanism, code, message } => {
                write!(f, "refused SASL authentication with sasl.mechanism={mechanism}: {code}: {message}")?;
                f.write_str(" (check the credentials in sasl.jaas.config)")
            }
            Self::Handshake(code) => write!(f, "refused the SaslHandshake: {code}"),
            Self::UnsupportedVersion => {
                f.write_str("offers no SaslHandshake v1 / SaslAuthenticate (a broker before Kafka 1.0?)")
            }
            Self::Scram { error, message } if message.as_str().is_empty() => write!(f, "failed SASL SCRAM: {error}"),
            Self::Scram { error, message } => write!(f, "failed SASL SCRAM: {error}: {message}"),
            Self::NoEntropy => f.write_str(
                "cannot run SCRAM: the driver gave no entropy for the client nonce (Producer::handle_entropy)",
            ),
        }
    }
}

impl core::error::Error for AuthError {}

#[cfg(test)]
mod tests;
