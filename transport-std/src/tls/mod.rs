//! TLS for both drivers (`security.protocol=SSL`): rustls's sans-IO [`ClientConnection`] driven
//! over the driver's own nonblocking socket, so the blocking IO thread (mio) and the tokio task
//! share this code and keep their readiness loops. The engine sees plaintext Kafka frames only.
//!
//! A connection is reported up to the engine once its handshake is done; a TLS failure ends it
//! with a [`TlsError`] that names the cause and the setting to change (carried through
//! `io::Error` and turned into [`ConnectionError::Tls`](crate::ConnectionError::Tls)).

mod load;

use core::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{AlertDescription, CertificateError, ClientConfig, ClientConnection};

pub(crate) use load::client_config;

use crate::pump::Outbox;

/// How much plaintext rustls buffers before the driver's outbox keeps the rest.
const PLAINTEXT_LIMIT: usize = 256 * 1024;

/// Why a TLS connection to a broker failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The broker's certificate is not signed by a trusted CA.
    UnknownIssuer,
    /// The broker's certificate does not name the host connected to.
    WrongHost {
        /// The host name or address connected to.
        host: String,
    },
    /// The broker's certificate has expired (or is not valid yet).
    Expired,
    /// Another problem with the broker's certificate.
    BadCertificate(String),
    /// The broker refused the connection for want of a (valid) client certificate.
    ClientCertificateRejected {
        /// Whether a client certificate was sent.
        sent: bool,
        /// The TLS alert it sent.
        alert: String,
    },
    /// The broker closed the connection during the handshake: most likely not a TLS listener.
    ClosedDuringHandshake,
    /// The TCP connect and the TLS handshake did not finish within the connection setup
    /// timeout (`socket.connection.setup.timeout.ms`, doubled per failed attempt up to
    /// `socket.connection.setup.timeout.max.ms`).
    HandshakeTimedOut {
        /// The setup timeout of that attempt, in milliseconds.
        after_ms: u64,
    },
    /// The broker sent bytes that are not TLS: not a TLS listener.
    NotTls(String),
    /// Any other TLS failure (rustls's message).
    Other(String),
}

impl TlsError {
    /// Classifies a rustls error; `sent_cert`: whether this client had a certificate to send.
    fn from_rustls(e: &rustls::Error, host: &str, sent_cert: bool) -> Self {
        use CertificateError as C;
        match e {
            rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => Self::UnknownIssuer,
            rustls::Error::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => {
                Self::WrongHost { host: host.to_owned() }
            }
            rustls::Error::InvalidCertificate(
                C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
            ) => Self::Expired,
            rustls::Error::InvalidCertificate(other) => Self::BadCertificate(format!("{other:?}")),
            rustls::Error::AlertReceived(
                alert @ (AlertDescription::CertificateRequired
                | AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateExpired
                | AlertDescription::AccessDenied),
            ) => Self::ClientCertificateRejected { sent: sent_cert, alert: format!("{alert:?}") },
            rustls::Error::InvalidMessage(m) => Self::NotTls(format!("{m:?}")),
            other => Self::Other(other.to_string()),
        }
    }

    /// The `TlsError` an `io::Error` carries, if it carries one.
    pub(crate) fn from_io(e: &io::Error) -> Option<&Self> {
        e.get_ref().and_then(|inner| inner.downcast_ref::<Self>())
    }

    /// The error of a handshake that ran out of time.
    pub(crate) fn handshake_timed_out(setup: core::time::Duration) -> io::Error {
        let after_ms = u64::try_from(setup.as_millis()).unwrap_or(u64::MAX);
        Self::HandshakeTimedOut { after_ms }.into_io()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(ErrorKind::InvalidData, self)
    }
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnknownIssuer => f.write_str(
                "TLS: the broker's certificate is not signed by a trusted CA; set ssl.truststore.location \
                 (or ssl.ca.location) to the CA that signed it",
            ),
            Self::WrongHost { host } => write!(
                f,
                "TLS: the broker's certificate is not valid for {host}; connect by a name it lists, or set \
                 ssl.endpoint.identification.algorithm= (empty) to skip the hostname check"
            ),
            Self::Expired => f.write_str(
                "TLS: the broker's certificate has expired (or is not valid yet); the broker needs a new certificate \
                 (or check this machine's clock)",
            ),
            Self::BadCertificate(what) => write!(f, "TLS: the broker's certificate is invalid ({what})"),
            Self::ClientCertificateRejected { sent: false, alert } => write!(
                f,
                "TLS: the broker requires a client certificate (alert {alert}); set ssl.keystore.location (or \
                 ssl.certificate.location and ssl.key.location)"
            ),
            Self::ClientCertificateRejected { sent: true, alert } => write!(
                f,
                "TLS: the broker refused the client certificate (alert {alert}); check ssl.keystore.location: the \
                 broker's truststore must trust its CA"
            ),
            Self::ClosedDuringHandshake => f.write_str(
                "TLS: the broker closed the connection during the handshake; is this port a TLS listener? (use \
                 security.protocol=PLAINTEXT for a plaintext one)",
            ),
            Self::HandshakeTimedOut { after_ms } => write!(
                f,
                "TLS: the TLS handshake did not finish within the {after_ms} ms connection setup timeout \
                 (socket.connection.setup.timeout.ms, doubled per failed attempt up to \
                 socket.connection.setup.timeout.max.ms); is this port a TLS listener? (use \
                 security.protocol=PLAINTEXT for a plaintext one)"
            ),
            Self::NotTls(what) => write!(
                f,
                "TLS: the broker did not answer in TLS ({what}); this port is not a TLS listener (use \
                 security.protocol=PLAINTEXT for a plaintext one)"
            ),
            Self::Other(msg) => write!(f, "TLS: {msg}"),
        }
    }
}

impl std::error::Error for TlsError {}

/// What the drivers need to open connections: the socket options and, with TLS, the client
/// configuration.
#[derive(Debug, Clone)]
pub(crate) struct Connector {
    pub(crate) socket: crate::config::SocketOptions,
    pub(crate) tls: Option<Arc<ClientConfig>>,
}

impl Connector {
    /// A TLS session for a connection to `host`, if TLS is on.
    pub(crate) fn session(&self, host: &str) -> io::Result<Option<TlsLink>> {
        self.tls.as_ref().map(|config| TlsLink::new(config, host)).transpose()
    }
}

/// One connection's TLS state.
#[derive(Debug)]
pub(crate) struct TlsLink {
    /// Boxed: a connection is over 1 KiB, and sits in the drivers' connection tables.
    conn: Box<ClientConnection>,
    host: String,
    /// Whether this client has a certificate to send (mTLS).
    has_cert: bool,
}

impl TlsLink {
    fn new(config: &Arc<ClientConfig>, host: &str) -> io::Result<Self> {
        let name = ServerName::try_from(host.to_owned())
            .map_err(|e| TlsError::Other(format!("{host} is not a valid server name: {e}")).into_io())?;
        let mut conn =
            ClientConnection::new(Arc::clone(config), name).map_err(|e| TlsError::Other(e.to_string()).into_io())?;
        conn.set_buffer_limit(Some(PLAINTEXT_LIMIT));
        let has_cert = config.client_auth_cert_resolver.has_certs();
        Ok(Self { conn: Box::new(conn), host: host.to_owned(), has_cert })
    }

    fn fail(&mut self, e: &rustls::Error, io: &mut impl Write) -> io::Error {
        // Tell the broker why (an alert), if the socket takes it now.
        let _ = self.conn.write_tls(io);
        TlsError::from_rustls(e, &self.host, self.has_cert).into_io()
    }

    /// Whether TLS records wait to be written.
    pub(crate) fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Drives the handshake over `io` until it is done (`true`) or the socket would block.
    pub(crate) fn handshake(&mut self, io: &mut (impl Read + Write)) -> io::Result<bool> {
        loop {
            while self.conn.wants_write() {
                match self.conn.write_tls(io) {
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            if !self.conn.is_handshaking() {
                return Ok(true);
            }
            match self.conn.read_tls(io) {
                Ok(0) => return Err(TlsError::ClosedDuringHandshake.into_io()),
                Ok(_) => {
                    if let Err(e) = self.conn.process_new_packets() {
                        return Err(self.fail(&e, io));
                    }
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    return Err(TlsError::ClosedDuringHandshake.into_io());
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One read of TLS records from `io`, decrypted into `rx`: the ciphertext bytes read (0: the
    /// broker closed the connection), or the socket's error (`WouldBlock` included).
    pub(crate) fn read(&mut self, io: &mut (impl Read + Write), rx: &mut Vec<u8>) -> io::Result<usize> {
        let n = self.conn.read_tls(io)?;
        if n == 0 {
            return Ok(0);
        }
        let state = match self.conn.process_new_packets() {
            Ok(state) => state,
            Err(e) => return Err(self.fail(&e, io)),
        };
        let plain = state.plaintext_bytes_to_read();
        if plain > 0 {
            let len = rx.len();
            rx.resize(len + plain, 0);
            // rustls holds exactly `plain` bytes, so this read fills the room.
            let got = self.conn.reader().read(&mut rx[len..]).unwrap_or(0);
            rx.truncate(len + got);
        }
        if state.peer_has_closed() && plain == 0 {
            return Ok(0);
        }
        Ok(n)
    }

    /// Encrypts what `out` holds (as much as rustls buffers) and writes TLS records to `io`
    /// until it would block. Returns whether anything was written.
    pub(crate) fn write(&mut self, io: &mut impl Write, out: &mut Outbox) -> io::Result<bool> {
        let mut wrote = false;
        loop {
            if out.unsent() > 0 {
                let took = self.conn.writer().write(out.pending())?;
                out.advance(took);
            }
            if !self.conn.wants_write() {
                return Ok(wrote);
            }
            match self.conn.write_tls(io) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(_) => wrote = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(wrote),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests;
