//! [`Net`], the driver's side of the network (everything but the engine), and [`Io`], one
//! poll's view of it: with the application's interface, socket set and callback it is the
//! engine's [`Links`], which `Producer::drain` hands frames, connects, closes and completions.
//!
//! - A frame goes to its connection's open socket at once; what the socket's send buffer does
//!   not take waits in `tx` ([`Pending`]) and no further frame is taken until it is out
//!   ([`Links::can_take`]).
//! - A connect takes a free slot and sends the SYN ([`Connecting::Pending`]: `poll` sees it
//!   established, refused or timed out later), or fails at once ([`Connecting::Failed`]).
//! - A close sends a FIN when everything the socket was given is out, else a reset.

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Completion, ConnError, Connecting, FatalError, Links, Transmit};
use kprod_core::time::Instant as CoreInstant;
use managed::ManagedSlice;
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::IpEndpoint;

use crate::config::{DriverConfig, Ports};
use crate::net::{net_after, resolve};
use crate::report::{ConnectError, LinkError, Report, Stats};
use crate::slot::{port_in_use, tcp_socket, Phase, Slot};

/// A request frame only partly taken by its socket: the rest, `tx[sent..len]`, goes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pending {
    pub(crate) slot: usize,
    pub(crate) sent: usize,
    pub(crate) len: usize,
}

/// Everything of the driver but the engine: the socket slots, the transmit frame buffer and
/// its partly written frame, the local port counter, the settings and the counters.
#[derive(Debug)]
pub(crate) struct Net<'a> {
    pub(crate) slots: ManagedSlice<'a, Slot<'a>>,
    pub(crate) tx: ManagedSlice<'a, u8>,
    pub(crate) pending: Option<Pending>,
    pub(crate) config: DriverConfig<'a>,
    pub(crate) ports: Ports,
    pub(crate) stats: Stats,
    /// The last `needed` reported with `TxBufferTooSmall` (reported once per size).
    pub(crate) too_small: Option<usize>,
    /// The setup timeout the engine gave for the next connect of that connection
    /// (`socket.connection.setup.timeout.ms`, growing to `.max.ms` with failed attempts).
    pub(crate) setup: Option<(ConnId, core::time::Duration)>,
}

/// The callback, type-erased inside the driver.
pub(crate) type Sink<'f> = &'f mut dyn FnMut(Report<'_>);

/// One `poll`'s view of the network: the driver's [`Net`] with the application's interface,
/// socket set and callback, and what the poll did so far.
pub(crate) struct Io<'p, 'a, 'x> {
    pub(crate) net: &'p mut Net<'a>,
    pub(crate) iface: &'p mut Interface,
    pub(crate) sockets: &'p mut SocketSet<'x>,
    pub(crate) report: Sink<'p>,
    pub(crate) now: NetInstant,
    /// Bytes moved or a connection changed (the drain counts its own frames and events).
    pub(crate) progressed: bool,
    /// A socket had more to read than `max_read_per_poll`, or a closed one still has data.
    pub(crate) backlog: bool,
    /// The links answered the drain with an input (a connect failed at once, a frame found no
    /// socket): the engine may have more to say.
    pub(crate) input: bool,
}

impl Links for Io<'_, '_, '_> {
    fn tx_buffer(&mut self) -> &mut [u8] {
        &mut self.net.tx
    }

    fn tx_limit(&self) -> Option<usize> {
        fixed_len(&self.net.tx)
    }

    fn grow_tx(&mut self, needed: usize) -> bool {
        if grow(&mut self.net.tx, needed) {
            return true;
        }
        if self.net.too_small != Some(needed) {
            self.net.too_small = Some(needed);
            (self.report)(Report::TxBufferTooSmall { needed, capacity: self.net.tx.len() });
        }
        false
    }

    fn can_take(&self) -> bool {
        self.net.pending.is_none()
    }

    fn take(&mut self, t: Transmit, _: CoreInstant) -> bool {
        self.net.too_small = None;
        let len = t.len.min(self.net.tx.len());
        self.net.stats.max_request = self.net.stats.max_request.max(len);
        // A frame for a connection with no open socket: the engine hears it is gone and
        // requeues the frame's contents.
        let taken = self.open_slot(t.conn).is_some_and(|i| self.write_frame(i, t.conn, len));
        self.input |= !taken;
        taken
    }

    // Inlined into the drain, whose `Connected` arm (never returned here) is then compiled out:
    // a smaller firmware.
    #[inline(always)]
    fn connect(&mut self, conn: ConnId, host: &str, port: u16, now: CoreInstant) -> Connecting {
        match self.open(conn, host, port) {
            Ok(()) => Connecting::Pending,
            Err((slot, error)) => {
                self.connect_failed(slot, conn, error);
                self.input = true;
                Connecting::Failed(now)
            }
        }
    }

    fn setup_timeout(&mut self, conn: ConnId, timeout: core::time::Duration) {
        self.net.setup = Some((conn, timeout));
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(i) = self.slot_of(conn) {
            self.free_slot(i, Fin::IfAllSent);
        }
    }

    // Inlined into the drain: a smaller firmware (by 400 bytes).
    #[inline(always)]
    fn completed(&mut self, completion: Completion<&str>) {
        (self.report)(Report::Completed(completion));
    }

    // The engine drops the connection for what the broker sent or did not send; its `Close`
    // follows.
    fn connection_failed(&mut self, conn: ConnId, error: ConnError) {
        self.net.stats.disconnects += 1;
        (self.report)(Report::Disconnected { conn, error: LinkError::Broker(error) });
    }

    fn fatal(&mut self, error: FatalError) {
        (self.report)(Report::Fatal(error));
    }
}

impl Io<'_, '_, '_> {
    /// Opens a socket for `conn` to `host:port`, or says why not (and which slot it took).
    fn open(&mut self, conn: ConnId, host: &str, port: u16) -> Result<(), (Option<usize>, ConnectError)> {
        // The engine reconnects a connection it still had: the old socket goes.
        if let Some(i) = self.slot_of(conn) {
            self.free_slot(i, Fin::Never);
        }
        let ip = resolve(host, self.net.config.hosts).map_err(|e| (None, e))?;
        let remote = IpEndpoint::new(ip, port);
        let sockets = &mut *self.sockets;
        let free = self
            .net
            .slots
            .iter()
            .position(|slot| slot.is_free() && tcp_socket(sockets, slot.handle).is_none_or(|s| !s.is_open()));
        let i = free.ok_or((None, ConnectError::NoFreeSocket))?;
        let local_port = self.net.ports.take(|port| port_in_use(sockets, port));
        let config = self.net.config;
        let s = tcp_socket(sockets, self.net.slots[i].handle).ok_or((Some(i), ConnectError::InvalidSocket))?;
        s.set_nagle_enabled(config.nagle);
        s.set_keep_alive(config.keep_alive.map(Into::into));
        s.set_timeout(config.socket_timeout.map(Into::into));
        s.connect(self.iface.context(), remote, local_port).map_err(|_| (Some(i), ConnectError::Unaddressable))?;
        self.net.stats.connects += 1;
        // The engine's timeout for this attempt; the driver's own only if it gave none.
        let timeout = match self.net.setup.take() {
            Some((c, t)) if c == conn => t,
            _ => config.connect_timeout,
        };
        let slot = &mut self.net.slots[i];
        slot.clear_rx();
        slot.phase = Phase::Connecting { conn, deadline: net_after(self.now, timeout), remote };
        Ok(())
    }

    /// Hands `tx[..len]` to slot `i`'s socket; what it does not take waits. Returns `false` if
    /// the socket is gone (its connection is dropped and reported).
    fn write_frame(&mut self, i: usize, conn: ConnId, len: usize) -> bool {
        let written = tcp_socket(self.sockets, self.net.slots[i].handle).map(|s| s.send_slice(&self.net.tx[..len]));
        let error = match written {
            Some(Ok(n)) => {
                self.net.stats.bytes_sent += n as u64;
                if n >= len {
                    self.net.stats.frames_sent += 1;
                } else {
                    self.net.stats.partial_writes += 1;
                    self.net.pending = Some(Pending { slot: i, sent: n, len });
                }
                return true;
            }
            Some(Err(_)) => LinkError::Reset,
            None => LinkError::InvalidSocket,
        };
        self.drop_link(i, conn, error);
        false
    }

    /// An open connection is gone: its slot is freed (a FIN answers the broker's), counted and
    /// reported. The caller tells the engine.
    pub(crate) fn drop_link(&mut self, i: usize, conn: ConnId, error: LinkError) {
        self.free_slot(i, Fin::IfPeerClosed);
        self.net.stats.disconnects += 1;
        (self.report)(Report::Disconnected { conn, error });
    }

    /// A connection attempt failed: its slot (if it had one) is freed, counted and reported.
    /// The caller tells the engine.
    pub(crate) fn connect_failed(&mut self, slot: Option<usize>, conn: ConnId, error: ConnectError) {
        if let Some(slot) = slot.and_then(|i| self.net.slots.get_mut(i)) {
            slot.phase = Phase::Free;
            slot.clear_rx();
        }
        self.net.stats.connect_failures += 1;
        (self.report)(Report::ConnectFailed { conn, error });
    }

    /// Frees slot `i` with its partial frame and response. Its socket is closed with a FIN when
    /// `fin` says so (the slot then waits up to `close_linger` for the exchange), else reset.
    pub(crate) fn free_slot(&mut self, i: usize, fin: Fin) {
        let writing = self.net.pending.is_some_and(|p| p.slot == i);
        if writing {
            self.net.pending = None;
            self.net.stats.frames_dropped += 1;
        }
        let deadline = net_after(self.now, self.net.config.close_linger);
        let slot = &mut self.net.slots[i];
        slot.clear_rx();
        let open = matches!(slot.phase, Phase::Open { .. });
        slot.phase = match tcp_socket(self.sockets, slot.handle) {
            Some(s) if fin.wanted(s, open && !writing) => {
                s.close();
                Phase::Closing { deadline }
            }
            Some(s) => {
                s.abort();
                Phase::Free
            }
            None => Phase::Free,
        };
    }

    /// The slot serving `conn` (connecting or open).
    fn slot_of(&self, conn: ConnId) -> Option<usize> {
        self.net.slots.iter().position(|s| s.conn() == Some(conn))
    }

    /// The slot with an open connection for `conn`.
    fn open_slot(&self, conn: ConnId) -> Option<usize> {
        self.net.slots.iter().position(|s| s.phase == Phase::Open { conn })
    }
}

/// When [`Io::free_slot`] ends a socket with a FIN rather than a reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fin {
    /// Never: a reset.
    Never,
    /// When the broker closed its half: our FIN answers its own.
    IfPeerClosed,
    /// When the connection is open and everything the engine gave it is out of the socket, so
    /// the broker does not act on a request the engine has given up on.
    IfAllSent,
}

impl Fin {
    /// Whether socket `s` gets a FIN; `whole` says it is open with no frame half written.
    fn wanted(self, s: &tcp::Socket<'_>, whole: bool) -> bool {
        match self {
            Self::Never => false,
            Self::IfPeerClosed => s.state() == tcp::State::CloseWait,
            Self::IfAllSent => whole && s.send_queue() == 0,
        }
    }
}

/// Grows an owned transmit buffer to `needed` bytes; a borrowed one cannot grow.
#[cfg(feature = "alloc")]
fn grow(buf: &mut ManagedSlice<'_, u8>, needed: usize) -> bool {
    match buf {
        ManagedSlice::Owned(v) if needed > v.len() => {
            v.resize(needed, 0);
            true
        }
        _ => false,
    }
}

/// The length of a buffer that cannot grow (borrowed); `None` for an owned one.
#[cfg(feature = "alloc")]
fn fixed_len(buf: &ManagedSlice<'_, u8>) -> Option<usize> {
    match buf {
        ManagedSlice::Owned(_) => None,
        ManagedSlice::Borrowed(b) => Some(b.len()),
    }
}

/// Without `alloc` every buffer is borrowed: its length is fixed.
#[cfg(not(feature = "alloc"))]
fn fixed_len(buf: &ManagedSlice<'_, u8>) -> Option<usize> {
    Some(buf.len())
}

/// Without `alloc` every buffer is borrowed and cannot grow.
#[cfg(not(feature = "alloc"))]
fn grow(_: &mut ManagedSlice<'_, u8>, _: usize) -> bool {
    false
}
