//! The drivers' error type: everything `send`, a delivery handle, `flush` or `close` can
//! report; and [`ConnectionError`], the root cause a timeout names.

use core::fmt;
use core::time::Duration;
use std::io::ErrorKind;
use std::sync::Arc;

pub use kprod_core::config::ConfigError;
pub use kprod_core::producer::txn::TxnError;
pub use kprod_core::producer::{ConnError, DeliveryError, FatalError, SendError};
use kprod_core::protocol::ErrorCode;

use crate::tls::TlsError;

/// What a `max.block.ms` wait was waiting for when it ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockedOn {
    /// The topic's metadata (unknown topic, no leader yet, broker unreachable). Carries the
    /// last error the cluster reported for the topic, if any.
    Metadata(Option<ErrorCode>),
    /// Space in `buffer.memory` (or a free batch slot).
    Buffer,
    /// Buffered records to complete (`flush`, `close`).
    Completion,
}

/// An error from the blocking producer. Cloneable, so one failed batch can report to every
/// record in it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A configuration property is unknown (like the Java client's "Unrecognized configs").
    UnknownProperty(String),
    /// A configuration value is invalid, or settings conflict. The message names them.
    Config(String),
    /// `send` waited `max.block.ms` (or `flush`/`close` their timeout) without progress.
    Timeout {
        /// The topic, for metadata waits.
        topic: Option<String>,
        /// What it waited for.
        blocked_on: BlockedOn,
        /// How long it waited.
        after: Duration,
        /// The last connection error that may explain the wait (a broker refused the
        /// connection, a name did not resolve, a broker sent garbage), if there was one.
        cause: Option<Arc<ConnectionError>>,
    },
    /// The engine refused the record for good (too large, invalid topic or partition).
    Send(SendError),
    /// The record was accepted but not delivered.
    Delivery(DeliveryError),
    /// The producer hit a fatal error.
    Fatal(FatalError),
    /// The producer is closed (or its IO thread stopped).
    Closed,
    /// A key or value serializer failed.
    Serialization(String),
    /// A hook the application supplied failed (a custom partitioner panicked).
    Hook(String),
    /// The send was cancelled (its future dropped) before the record was buffered; what
    /// interceptors hear for such a record.
    Cancelled,
    /// An IO error outside the connections (a properties file, starting the IO thread).
    Io(String),
    /// Every known broker refused SASL authentication (Java's `SaslAuthenticationException`):
    /// `cause` is the last refusal with the broker's own message.
    Authentication {
        /// The refusal as the engine reports it.
        error: SendError,
        /// The connection error carrying the broker's message.
        cause: Option<Arc<ConnectionError>>,
    },
    /// The broker refused the record's batch because of a record in it (KIP-467: Produce
    /// answers name the records): for that record `message` is the broker's own words (e.g.
    /// "Compacted topic cannot accept message without key"); for the other records of the
    /// batch it says they failed only because they shared the batch with it (as the Java
    /// client reports them). Send those again alone.
    Record {
        /// The batch's error (e.g. `INVALID_RECORD`).
        code: ErrorCode,
        /// What the broker said, or why this record failed with the batch.
        message: String,
    },
    /// A transactional call failed: [`TxnError::is_abortable`] (abort the transaction and go
    /// on) or [`TxnError::is_fatal`] (close the producer), see [`Error::is_fatal`].
    Transaction(TxnError),
}

impl Error {
    /// Whether sending the same record again later could succeed (timeouts, and deliveries
    /// that failed for a retriable broker error or a delivery timeout).
    pub fn is_retriable(&self) -> bool {
        match self {
            Self::Timeout { .. } => true,
            Self::Delivery(DeliveryError::DeliveryTimeout) => true,
            Self::Delivery(DeliveryError::Broker(code)) => code.is_retriable(),
            Self::Send(e) => e.is_retriable(),
            _ => false,
        }
    }

    /// Whether the producer cannot go on (fenced by a newer producer with the same
    /// `transactional.id`, not authorized, ...): close it.
    pub const fn is_fatal(&self) -> bool {
        matches!(self, Self::Fatal(_) | Self::Transaction(TxnError::Fatal(_)))
    }

    /// Whether the transaction must be aborted (`abort_transaction`), after which the producer
    /// goes on.
    pub const fn is_abortable(&self) -> bool {
        matches!(self, Self::Transaction(TxnError::Abortable(_)))
    }

    /// A transactional call's error.
    pub(crate) const fn from_txn(e: TxnError) -> Self {
        Self::Transaction(e)
    }

    /// The last connection error behind a timeout, if the producer saw one.
    pub fn connection_error(&self) -> Option<&ConnectionError> {
        match self {
            Self::Timeout { cause, .. } | Self::Authentication { cause, .. } => cause.as_deref(),
            _ => None,
        }
    }

    /// Buffered records did not complete within `after` (`flush`, `close`).
    pub(crate) const fn completion_timeout(after: Duration, cause: Option<Arc<ConnectionError>>) -> Self {
        Self::Timeout { topic: None, blocked_on: BlockedOn::Completion, after, cause }
    }

    /// The error for a refused send; `last` gives the last connection error, which an
    /// authentication refusal quotes (the broker's message).
    pub(crate) fn from_send(e: SendError, last: impl FnOnce() -> Option<Arc<ConnectionError>>) -> Self {
        match e {
            SendError::Authentication { .. } => Self::Authentication { error: e, cause: last() },
            SendError::Closed => Self::Closed,
            SendError::Fatal(f) => Self::Fatal(f),
            SendError::Transaction(e) => Self::Transaction(e),
            other => Self::Send(other),
        }
    }

    pub(crate) fn from_delivery(e: DeliveryError) -> Self {
        match e {
            DeliveryError::Fatal(f) => Self::Fatal(f),
            other => Self::Delivery(other),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownProperty(name) => write!(f, "unrecognized producer config: {name:?}"),
            Self::Config(msg) => write!(f, "invalid producer config: {msg}"),
            Self::Timeout { topic, blocked_on, after, cause } => {
                let ms = after.as_millis();
                match (blocked_on, topic) {
                    (BlockedOn::Metadata(code), Some(t)) => {
                        write!(f, "topic {t} not present in metadata after {ms} ms")?;
                        if let Some(code) = code {
                            write!(f, " (the cluster answered {code})")?;
                        }
                    }
                    (BlockedOn::Metadata(_), None) => write!(f, "metadata not available after {ms} ms")?,
                    (BlockedOn::Buffer, _) => {
                        write!(f, "buffer full: no buffer.memory freed within max.block.ms ({ms} ms)")?;
                    }
                    (BlockedOn::Completion, _) => write!(f, "buffered records not complete after {ms} ms")?,
                }
                match cause {
                    Some(cause) => write!(f, "; last error: {cause}"),
                    None => Ok(()),
                }
            }
            Self::Send(e) => write!(f, "record refused: {e}"),
            Self::Authentication { error, cause: Some(cause) } => write!(f, "{error}: {cause}"),
            Self::Authentication { error, cause: None } => write!(f, "{error}"),
            Self::Delivery(e) => write!(f, "delivery failed: {e}"),
            Self::Record { code, message } => {
                write!(f, "delivery failed: the broker refused the batch ({code}): {message}")
            }
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Closed => f.write_str("the producer is closed"),
            Self::Serialization(msg) => write!(f, "serialization failed: {msg}"),
            Self::Hook(msg) => f.write_str(msg),
            Self::Cancelled => f.write_str("the send was cancelled before the record was buffered"),
            Self::Io(msg) => write!(f, "io error: {msg}"),
            Self::Transaction(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Timeout { cause: Some(cause), .. } => Some(&**cause),
            _ => None,
        }
    }
}

/// Why the producer could not talk to a broker: the root cause a [`Error::Timeout`] names (its
/// `cause`), and what the log says as it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// A broker's host name did not resolve.
    Dns {
        /// The name.
        host: String,
        /// What the resolver said.
        reason: String,
        /// Connects to that broker that failed in a row.
        attempts: u32,
    },
    /// A TCP connect to a broker failed (refused, unreachable, timed out).
    Connect {
        /// `host:port`.
        broker: String,
        /// What kind of failure (`ConnectionRefused`, `TimedOut`, ...).
        kind: ErrorKind,
        /// The system's message.
        reason: String,
        /// Connects to that broker that failed in a row.
        attempts: u32,
    },
    /// An open connection failed, or the broker closed it.
    Lost {
        /// `host:port`.
        broker: String,
        /// Why (`closed by the broker`, the system's message).
        reason: String,
    },
    /// TLS failed: the broker's certificate was refused (untrusted, wrong host, expired), the
    /// broker refused ours, or the port does not speak TLS.
    Tls {
        /// `host:port`.
        broker: String,
        /// What went wrong, and what setting to change.
        error: TlsError,
        /// Connects to that broker that failed in a row.
        attempts: u32,
    },
    /// The producer dropped a connection because of what the broker sent or failed to send (a
    /// malformed response, no answer within `request.timeout.ms`, a refused handshake).
    Broker {
        /// `host:port`.
        broker: String,
        /// What the broker did.
        error: ConnError,
    },
}

impl ConnectionError {
    /// The broker it concerns: `host:port`, or the host name for [`ConnectionError::Dns`].
    pub fn broker(&self) -> &str {
        match self {
            Self::Dns { host: broker, .. }
            | Self::Connect { broker, .. }
            | Self::Lost { broker, .. }
            | Self::Tls { broker, .. }
            | Self::Broker { broker, .. } => broker,
        }
    }

    /// Whether `other` is the same failure, but for the count of attempts.
    pub(crate) fn same_as(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Dns { host, reason, .. }, Self::Dns { host: h, reason: r, .. }) => host == h && reason == r,
            (Self::Connect { broker, kind, .. }, Self::Connect { broker: b, kind: k, .. }) => broker == b && kind == k,
            (Self::Tls { broker, error, .. }, Self::Tls { broker: b, error: e, .. }) => broker == b && error == e,
            _ => self == other,
        }
    }
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let attempts = match self {
            Self::Dns { host, reason, attempts } => {
                write!(f, "DNS lookup of {host} failed: {reason}")?;
                *attempts
            }
            Self::Connect { broker, kind, reason, attempts } => {
                match kind {
                    ErrorKind::ConnectionRefused => write!(f, "connection refused by {broker}")?,
                    ErrorKind::TimedOut => write!(f, "connect to {broker} timed out")?,
                    _ => write!(f, "cannot connect to {broker}: {reason}")?,
                }
                *attempts
            }
            Self::Tls { broker, error, attempts } => {
                write!(f, "{broker}: {error}")?;
                *attempts
            }
            Self::Lost { broker, reason } => return write!(f, "connection to {broker} lost: {reason}"),
            Self::Broker { broker, error } => {
                write!(f, "{broker} {error}")?;
                if let ConnError::FrameLength { announced, .. } = error {
                    if looks_like_tls(*announced) {
                        f.write_str(
                            " (these are the bytes of a TLS record: the port is a TLS listener; set \
                             security.protocol=SSL)",
                        )?;
                    }
                }
                return Ok(());
            }
        };
        if attempts > 1 {
            write!(f, " ({attempts} attempts)")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConnectionError {}

/// Whether a frame length a plaintext client read is the start of a TLS record (content type
/// 20-23, version 3.x): what a TLS listener answers a plaintext request with (an alert).
fn looks_like_tls(announced: i64) -> bool {
    let b = announced.to_be_bytes();
    b[..4] == [0; 4] && (0x14..=0x17).contains(&b[4]) && b[5] == 0x03
}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::Timeout { .. } => ErrorKind::TimedOut,
            Error::Config(_) | Error::UnknownProperty(_) => ErrorKind::InvalidInput,
            _ => ErrorKind::Other,
        };
        Self::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        let mut e = Error::Timeout {
            topic: Some("orders".into()),
            blocked_on: BlockedOn::Metadata(None),
            after: Duration::from_millis(60_000),
            cause: None,
        };
        assert_eq!(e.to_string(), "topic orders not present in metadata after 60000 ms");
        let refused = ConnectionError::Connect {
            broker: "127.0.0.1:1".into(),
            kind: ErrorKind::ConnectionRefused,
            reason: "Connection refused (os error 111)".into(),
            attempts: 5,
        };
        if let Error::Timeout { cause, .. } = &mut e {
            *cause = Some(Arc::new(refused.clone()));
        }
        assert_eq!(
            e.to_string(),
            "topic orders not present in metadata after 60000 ms; last error: connection refused by 127.0.0.1:1 (5 attempts)"
        );
        assert_eq!(e.connection_error(), Some(&refused));
        assert!(std::error::Error::source(&e).is_some());
        let e =
            Error::Timeout { topic: None, blocked_on: BlockedOn::Buffer, after: Duration::from_millis(5), cause: None };
        assert!(e.to_string().starts_with("buffer full"), "{e}");
        assert_eq!(Error::UnknownProperty("lingr.ms".into()).to_string(), "unrecognized producer config: \"lingr.ms\"");
        assert!(e.is_retriable());
        assert!(!Error::Closed.is_retriable());
    }

    #[test]
    fn connection_errors_read_as_root_causes() {
        let dns = ConnectionError::Dns {
            host: "nosuchhost.invalid".into(),
            reason: "Name or service not known".into(),
            attempts: 1,
        };
        assert_eq!(dns.to_string(), "DNS lookup of nosuchhost.invalid failed: Name or service not known");
        let garbage = ConnectionError::Broker {
            broker: "127.0.0.1:9092".into(),
            error: ConnError::FrameLength { announced: 2_147_483_647, limit: 67_108_864 },
        };
        assert_eq!(
            garbage.to_string(),
            "127.0.0.1:9092 sent a malformed response: frame length 2147483647 exceeds the 67108864-byte limit"
        );
        let timed_out = ConnectionError::Connect {
            broker: "h:1".into(),
            kind: ErrorKind::TimedOut,
            reason: String::new(),
            attempts: 2,
        };
        assert_eq!(timed_out.to_string(), "connect to h:1 timed out (2 attempts)");
        // A plaintext client on a TLS port reads a TLS alert as a frame length.
        let alert = ConnError::FrameLength { announced: 0x1503_0300, limit: 64 << 20 };
        let text = ConnectionError::Broker { broker: "h:1".into(), error: alert }.to_string();
        assert!(text.ends_with("the port is a TLS listener; set security.protocol=SSL)"), "{text}");
        assert!(!garbage.to_string().contains("TLS"), "{garbage}");
        let tls = ConnectionError::Tls { broker: "h:1".into(), error: TlsError::Expired, attempts: 2 };
        assert!(tls.to_string().starts_with("h:1: TLS: the broker's certificate has expired"), "{tls}");
        assert!(tls.to_string().ends_with(" (2 attempts)"), "{tls}");
        let lost = ConnectionError::Lost { broker: "h:1".into(), reason: "closed by the broker".into() };
        assert_eq!(lost.to_string(), "connection to h:1 lost: closed by the broker");
        assert_eq!(lost.broker(), "h:1");
    }
}
