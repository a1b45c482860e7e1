//! What the driver tells the application: completions and connection news ([`Report`]), the
//! errors they carry, and counters ([`Stats`]).

use core::fmt;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Completion, ConnError, FatalError};
use smoltcp::wire::IpEndpoint;

/// Something the application hears about during [`crate::Driver::poll`], through its callback.
///
/// Every record `send` accepted is covered by exactly one [`Report::Completed`] (the engine's
/// guarantee, passed on unchanged: the driver forwards every completion it polls). The
/// connection reports are informational: the engine already knows and reconnects by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Report<'r> {
    /// A batch was delivered or failed, with its topic's name. Record `index` (from its
    /// [`RecordId`](kprod_core::producer::RecordId)) has offset `base_offset + index`
    /// ([`Completion::offset_of`]).
    Completed(Completion<&'r str>),
    /// The producer cannot go on; every pending record fails (reported once).
    Fatal(FatalError),
    /// A connection is up.
    Connected {
        /// The engine's connection.
        conn: ConnId,
        /// The broker's address.
        remote: IpEndpoint,
        /// The ephemeral local port it uses.
        local_port: u16,
    },
    /// A connection could not be opened; the engine retries after its reconnect backoff.
    ConnectFailed {
        /// The engine's connection.
        conn: ConnId,
        /// Why.
        error: ConnectError,
    },
    /// An open connection was lost: its socket failed, or the engine dropped it for what the
    /// broker sent or a request timeout ([`LinkError::Broker`], which names the cause). Its
    /// requests in flight are retried by the engine.
    Disconnected {
        /// The engine's connection.
        conn: ConnId,
        /// Why.
        error: LinkError,
    },
    /// The engine has a request frame ready that does not fit the transmit buffer, so nothing
    /// more goes out until it does. A configuration error: size the buffer as the crate docs
    /// say. Reported once per distinct `needed` (an owned buffer grows instead, with `alloc`).
    TxBufferTooSmall {
        /// The frame's size.
        needed: usize,
        /// The buffer's size.
        capacity: usize,
    },
}

/// Why a connection could not be opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectError {
    /// The broker's host is neither an IP literal nor in [`crate::DriverConfig::hosts`]
    /// (there is no DNS).
    UnresolvedHost,
    /// The host is an IPv6 literal but the crate was built without `proto-ipv6`.
    Ipv6Disabled,
    /// smoltcp cannot address the broker: no source address of that IP version on the
    /// interface, or an unspecified address or port 0.
    Unaddressable,
    /// Every socket is bound to another connection (the engine has more connection slots than
    /// the driver has sockets). The engine tries again after its reconnect backoff.
    NoFreeSocket,
    /// The broker refused (reset) the connection, or smoltcp gave up retransmitting the SYN.
    Refused,
    /// No answer within [`crate::DriverConfig::connect_timeout`].
    Timeout,
    /// A socket handle given to the driver is not a TCP socket of this socket set.
    InvalidSocket,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::UnresolvedHost => "the broker's host is not an IP literal nor in the driver's host table (no DNS)",
            Self::Ipv6Disabled => "the broker's address is IPv6, but kprod-smoltcp was built without proto-ipv6",
            Self::Unaddressable => "smoltcp cannot address the broker (no source address of that IP version?)",
            Self::NoFreeSocket => "every socket is in use by another connection",
            Self::Refused => "the broker refused the connection",
            Self::Timeout => "the connection was not established within connect_timeout",
            Self::InvalidSocket => "the socket handle is not a TCP socket of this socket set",
        })
    }
}

impl core::error::Error for ConnectError {}

/// Why an open connection was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The broker closed the connection (FIN) and everything it sent was read.
    ClosedByPeer,
    /// The connection was reset by the broker, or smoltcp timed it out.
    Reset,
    /// A response frame is larger than the connection's receive buffer, so it can never be
    /// handed to the engine whole. A configuration error: see the crate docs for the sizes.
    ResponseTooLarge {
        /// The frame's size, its 4-byte size prefix included.
        size: usize,
        /// The receive buffer's size.
        capacity: usize,
    },
    /// The socket handle is not a TCP socket of this socket set (any more).
    InvalidSocket,
    /// The engine dropped the connection for what the broker sent (a malformed or unexpected
    /// response, a refused handshake) or did not send in time (`request.timeout.ms`).
    Broker(ConnError),
}

impl fmt::Display for LinkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ClosedByPeer => f.write_str("the broker closed the connection"),
            Self::Reset => f.write_str("the connection was reset or timed out"),
            Self::ResponseTooLarge { size, capacity } => {
                write!(f, "a {size}-byte response frame does not fit the {capacity}-byte receive buffer")
            }
            Self::InvalidSocket => f.write_str("the socket handle is not a TCP socket of this socket set"),
            Self::Broker(e) => write!(f, "the broker {e}"),
        }
    }
}

impl core::error::Error for LinkError {}

/// Why [`crate::Driver::new`] refused its storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewError {
    /// No socket slot was given.
    NoSockets,
    /// Two slots name the same socket handle.
    DuplicateSocket,
    /// The transmit frame buffer or a receive buffer is shorter than [`crate::MIN_BUFFER`].
    BufferTooSmall {
        /// Its size.
        len: usize,
    },
}

impl fmt::Display for NewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoSockets => f.write_str("the driver needs at least one socket slot"),
            Self::DuplicateSocket => f.write_str("two socket slots use the same socket handle"),
            Self::BufferTooSmall { len } => {
                write!(f, "a {len}-byte buffer is below the minimum of {} bytes", crate::MIN_BUFFER)
            }
        }
    }
}

impl core::error::Error for NewError {}

/// Counters since the driver was built.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connection attempts started.
    pub connects: u64,
    /// Attempts that failed (any [`ConnectError`]).
    pub connect_failures: u64,
    /// Open connections lost (any [`LinkError`]).
    pub disconnects: u64,
    /// Request frames handed to sockets completely.
    pub frames_sent: u64,
    /// Request bytes handed to sockets.
    pub bytes_sent: u64,
    /// Frames that did not fit their socket's send buffer at once and waited for room.
    pub partial_writes: u64,
    /// Partly written frames dropped because their connection was lost or closed (the engine
    /// retries their contents).
    pub frames_dropped: u64,
    /// Response bytes read from sockets.
    pub bytes_received: u64,
    /// The largest response frame seen, size prefix included: a receive buffer smaller than
    /// this would have failed with [`LinkError::ResponseTooLarge`].
    pub max_response: usize,
    /// The largest request frame written, size prefix included.
    pub max_request: usize,
    /// `poll` calls that stopped at a per-call limit and left work for the next call.
    pub budget_hits: u64,
}
