//! [`Slot`]: one TCP socket of the application's socket set, with the receive buffer in which
//! response frames are reassembled, and what it is doing for the engine.

use kprod_core::producer::conn::ConnId;
use managed::ManagedSlice;
use smoltcp::iface::{SocketHandle, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::socket::AnySocket;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::IpEndpoint;

/// A socket the driver may use for a broker connection, and its receive buffer.
///
/// The receive buffer holds response bytes until they form whole frames (the engine consumes
/// whole frames only): it must be at least as large as the largest response frame the broker
/// sends, or that connection fails with [`crate::LinkError::ResponseTooLarge`]. See the crate
/// docs for sizes.
#[derive(Debug)]
pub struct Slot<'a> {
    pub(crate) handle: SocketHandle,
    pub(crate) rx: ManagedSlice<'a, u8>,
    pub(crate) rx_len: usize,
    pub(crate) phase: Phase,
}

impl<'a> Slot<'a> {
    /// A slot for the TCP socket `handle` (already added to the application's `SocketSet`)
    /// with the response reassembly buffer `rx`.
    pub fn new(handle: SocketHandle, rx: impl Into<ManagedSlice<'a, u8>>) -> Self {
        Self { handle, rx: rx.into(), rx_len: 0, phase: Phase::Free }
    }

    /// The socket's handle.
    pub const fn handle(&self) -> SocketHandle {
        self.handle
    }

    /// The engine connection the socket serves, if any.
    pub const fn conn(&self) -> Option<ConnId> {
        match self.phase {
            Phase::Connecting { conn, .. } | Phase::Open { conn } => Some(conn),
            Phase::Free | Phase::Closing { .. } => None,
        }
    }

    /// Bytes of a response frame received but not yet whole.
    pub const fn buffered(&self) -> usize {
        self.rx_len
    }

    /// Whether the socket is neither used nor still closing.
    pub(crate) const fn is_free(&self) -> bool {
        matches!(self.phase, Phase::Free)
    }

    /// Forgets the connection's partial response.
    pub(crate) fn clear_rx(&mut self) {
        self.rx_len = 0;
    }
}

/// What a slot's socket is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// Unused (its socket is closed, or in TIME-WAIT, which `connect` may reuse).
    Free,
    /// SYN sent for `conn` to `remote`; aborted at `deadline`.
    Connecting { conn: ConnId, deadline: NetInstant, remote: IpEndpoint },
    /// Established for `conn`.
    Open { conn: ConnId },
    /// Closed at the engine's request, finishing its FIN exchange; aborted at `deadline`.
    Closing { deadline: NetInstant },
}

/// The TCP socket `handle` names, or `None` if it is not a TCP socket of `sockets` (a caller
/// error, reported instead of smoltcp's panic in `SocketSet::get_mut`).
pub(crate) fn tcp_socket<'s, 'x>(
    sockets: &'s mut SocketSet<'x>,
    handle: SocketHandle,
) -> Option<&'s mut tcp::Socket<'x>> {
    sockets.iter_mut().find(|(h, _)| *h == handle).and_then(|(_, s)| tcp::Socket::downcast_mut(s))
}

/// Whether a TCP socket of `sockets` uses local `port`: one that is not closed (TIME-WAIT
/// included: it would still take the segments of a new connection with the same 4-tuple), or
/// one listening on it.
pub(crate) fn port_in_use(sockets: &SocketSet<'_>, port: u16) -> bool {
    sockets.iter().filter_map(|(_, s)| tcp::Socket::downcast(s)).any(|t| {
        let connected = t.state() != tcp::State::Closed && t.local_endpoint().is_some_and(|e| e.port == port);
        connected || (t.is_listening() && t.listen_endpoint().port == port)
    })
}
