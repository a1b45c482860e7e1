//! The driver's error type: everything `send`, a delivery handle, `flush` or `close` can report.

use core::fmt;
use core::time::Duration;

pub use kprod_core::config::ConfigError;
pub use kprod_core::producer::{DeliveryError, FatalError, SendError};
use kprod_core::protocol::ErrorCode;

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
    /// An IO error outside the connections (a properties file, starting the IO thread).
    Io(String),
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

    pub(crate) fn from_send(e: SendError) -> Self {
        match e {
            SendError::Closed => Self::Closed,
            SendError::Fatal(f) => Self::Fatal(f),
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
            Self::Timeout { topic, blocked_on, after } => {
                let ms = after.as_millis();
                match (blocked_on, topic) {
                    (BlockedOn::Metadata(code), Some(t)) => {
                        write!(f, "topic {t} not present in metadata after {ms} ms")?;
                        match code {
                            Some(code) => write!(f, " (last error: {code})"),
                            None => Ok(()),
                        }
                    }
                    (BlockedOn::Metadata(_), None) => write!(f, "metadata not available after {ms} ms"),
                    (BlockedOn::Buffer, _) => {
                        write!(f, "buffer full: no buffer.memory freed within max.block.ms ({ms} ms)")
                    }
                    (BlockedOn::Completion, _) => write!(f, "buffered records not complete after {ms} ms"),
                }
            }
            Self::Send(e) => write!(f, "record refused: {e}"),
            Self::Delivery(e) => write!(f, "delivery failed: {e}"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Closed => f.write_str("the producer is closed"),
            Self::Serialization(msg) => write!(f, "serialization failed: {msg}"),
            Self::Io(msg) => write!(f, "io error: {msg}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Error> for std::io::Error {
    fn from(e: Error) -> Self {
        let kind = match e {
            Error::Timeout { .. } => std::io::ErrorKind::TimedOut,
            Error::Config(_) | Error::UnknownProperty(_) => std::io::ErrorKind::InvalidInput,
            _ => std::io::ErrorKind::Other,
        };
        Self::new(kind, e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        let e = Error::Timeout {
            topic: Some("orders".into()),
            blocked_on: BlockedOn::Metadata(None),
            after: Duration::from_millis(60_000),
        };
        assert_eq!(e.to_string(), "topic orders not present in metadata after 60000 ms");
        let e = Error::Timeout { topic: None, blocked_on: BlockedOn::Buffer, after: Duration::from_millis(5) };
        assert!(e.to_string().starts_with("buffer full"), "{e}");
        assert_eq!(Error::UnknownProperty("lingr.ms".into()).to_string(), "unrecognized producer config: \"lingr.ms\"");
        assert!(e.is_retriable());
        assert!(!Error::Closed.is_retriable());
    }
}
