//! [`Bootstrap`]: the bootstrap-only mode, one stream given up front.

use core::fmt;

use embedded_io::{Read, ReadReady, Write, WriteReady};

use super::{Connector, Release};

/// A [`Connector`] holding one stream the application opened itself, to the broker at
/// `host:port`: the bootstrap-only mode, for a single-broker cluster (or a single broker of
/// interest) behind a stream the application cannot reopen on its own.
///
/// Every engine connection to `host:port` shares that stream (the bootstrap connection and the
/// broker's own node id alike, see the `stream` module docs). A connection to any other address
/// fails with [`BootstrapError::OtherBroker`]: that broker's partitions then fail with
/// `DeliveryTimeout`, and the driver reports the refusal as an `Event::Link`. So the engine's
/// bootstrap list must name this `host:port`, and the broker must advertise the same address
/// (its `advertised.listeners`); host names compare without case.
///
/// When the engine lets go of the stream in a clean state (idle close, nothing owed), the
/// stream comes back here and serves the next connect. Once it failed (read or write error,
/// closed by the broker, or given back with responses outstanding) it is dropped, and every
/// later connect fails with [`BootstrapError::Spent`]. Applications that can reopen a stream
/// implement [`Connector`] instead.
#[derive(Debug)]
pub struct Bootstrap<'h, S> {
    host: &'h str,
    port: u16,
    stream: Option<S>,
}

impl<'h, S> Bootstrap<'h, S> {
    /// Holds `stream`, which goes to `host:port`.
    pub const fn new(stream: S, host: &'h str, port: u16) -> Self {
        Self { host, port, stream: Some(stream) }
    }

    /// The stream's address.
    pub const fn address(&self) -> (&'h str, u16) {
        (self.host, self.port)
    }

    /// Whether the stream is here (not in use by the driver, not spent).
    pub const fn is_available(&self) -> bool {
        self.stream.is_some()
    }

    /// The stream, if it is here.
    pub fn into_stream(self) -> Option<S> {
        self.stream
    }
}

/// Why [`Bootstrap`] refused a connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootstrapError {
    /// The engine asked for a broker at another address than the stream's.
    OtherBroker,
    /// The stream failed earlier and was dropped; there is no other.
    Spent,
}

impl fmt::Display for BootstrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OtherBroker => f.write_str("bootstrap-only mode: the broker is not at the stream's address"),
            Self::Spent => f.write_str("bootstrap-only mode: the one stream failed and cannot be reopened"),
        }
    }
}

impl core::error::Error for BootstrapError {}

impl<S: Read + Write + ReadReady + WriteReady> Connector for Bootstrap<'_, S> {
    type Stream = S;
    type Error = BootstrapError;

    fn connect(&mut self, host: &str, port: u16) -> Result<S, BootstrapError> {
        self.can_reach(host, port)?;
        self.stream.take().ok_or(BootstrapError::Spent)
    }

    fn can_reach(&self, host: &str, port: u16) -> Result<(), BootstrapError> {
        if port == self.port && host.eq_ignore_ascii_case(self.host) {
            Ok(())
        } else {
            Err(BootstrapError::OtherBroker)
        }
    }

    fn release(&mut self, stream: S, how: Release) {
        if how == Release::Clean {
            self.stream = Some(stream);
        }
    }
}
