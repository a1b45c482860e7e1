//! One broker connection as the IO thread sees it: a nonblocking socket registered with `mio`,
//! the addresses left to try, its TLS session (`security.protocol=SSL`), an outbox of request
//! bytes and an inbox of response bytes.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant as StdInstant};

use kprod_core::producer::conn::ConnId;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use socket2::{Domain, Protocol, Socket, Type};

use crate::config::SocketOptions;
use crate::events::LinkDown;
use crate::pump::{Outbox, SHORT_READ_EMPTIES};
use crate::tls::{Connector, TlsError, TlsLink};

/// How much is read from a socket per `read` call (the IO loop's scratch buffer).
pub(crate) const READ_CHUNK: usize = 64 * 1024;

/// Whether a readiness event says the peer closed or the socket failed: then a read round goes
/// on to the end or the error, however short its reads (see [`Conn::read_available`]).
pub(crate) fn closing(event: &mio::event::Event) -> bool {
    event.is_read_closed() || event.is_error()
}

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    /// TCP connect under way; fails at `deadline`.
    Connecting { deadline: StdInstant },
    /// TLS handshake under way; fails at `deadline` (the same as the connect's).
    Handshaking { deadline: StdInstant },
    /// Connected (the engine was told).
    Open,
}

/// A broker connection.
#[derive(Debug)]
pub(crate) struct Conn {
    pub(crate) id: ConnId,
    pub(crate) token: Token,
    pub(crate) phase: Phase,
    /// `host:port`, for logs.
    pub(crate) peer: String,
    sock: TcpStream,
    /// Resolved addresses not tried yet.
    rest: Vec<SocketAddr>,
    /// How long setting up the connection to one address may take (the engine's
    /// `connection_setup_timeout`).
    setup: Duration,
    /// The TLS session, with TLS.
    tls: Option<TlsLink>,
    out: Outbox,
    /// Bytes read and not yet consumed by the engine.
    pub(crate) rx: Vec<u8>,
}

/// What happened when a connecting socket became ready.
#[derive(Debug)]
pub(crate) enum ConnectStatus {
    Pending,
    Connected,
    Failed(io::Error),
}

impl Conn {
    /// Resolves `host` (DNS, blocking) and starts a nonblocking connect to its first address
    /// that accepts one; the TCP connect and the TLS handshake must end within `setup`.
    pub(crate) fn connect(
        id: ConnId,
        token: Token,
        (host, port): (&str, u16),
        setup: Duration,
        connector: &Connector,
        registry: &Registry,
    ) -> Result<Self, LinkDown> {
        let opts = &connector.socket;
        let dns = |error| LinkDown::Dns { host: host.to_owned(), error };
        let addrs: Vec<SocketAddr> = (host, port).to_socket_addrs().map_err(dns)?.collect();
        if addrs.is_empty() {
            return Err(dns(io::Error::new(ErrorKind::NotFound, "no address")));
        }
        let peer = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let mut tls = connector.session(host).map_err(LinkDown::Connect)?;
        let mut rest = addrs.into_iter().rev().collect::<Vec<_>>();
        let deadline = StdInstant::now() + setup;
        let mut last = None;
        while let Some(addr) = rest.pop() {
            match open(addr, opts) {
                Ok(mut sock) => {
                    let interest = Interest::READABLE | Interest::WRITABLE;
                    registry.register(&mut sock, token, interest).map_err(LinkDown::Connect)?;
                    let phase = Phase::Connecting { deadline };
                    // Taken once: this returns.
                    let tls = tls.take();
                    return Ok(Self {
                        id,
                        token,
                        phase,
                        peer,
                        sock,
                        rest,
                        setup,
                        tls,
                        out: Outbox::default(),
                        rx: Vec::new(),
                    });
                }
                Err(e) => last = Some(e),
            }
        }
        // `addrs` is not empty, so the loop ran and set `last`.
        Err(LinkDown::Connect(last.unwrap_or_else(|| ErrorKind::NotFound.into())))
    }

    /// Checks a connecting socket after a readiness event (or its deadline, `expired`): the TCP
    /// connect, then the TLS handshake. On a failed TCP connect, moves on to the next resolved
    /// address if there is one.
    pub(crate) fn check_connect(&mut self, opts: &SocketOptions, registry: &Registry, expired: bool) -> ConnectStatus {
        let deadline = match self.phase {
            Phase::Open => return ConnectStatus::Connected,
            Phase::Handshaking { deadline } => return self.handshake(expired, deadline),
            Phase::Connecting { deadline } => deadline,
        };
        let failure = match self.sock.take_error() {
            Ok(Some(e)) | Err(e) => Some(e),
            Ok(None) => match self.sock.peer_addr() {
                Ok(_) if self.tls.is_some() => return self.handshake(false, deadline),
                Ok(_) => {
                    self.phase = Phase::Open;
                    return ConnectStatus::Connected;
                }
                Err(e) if e.kind() == ErrorKind::NotConnected && !expired => None,
                Err(e) if e.kind() == ErrorKind::NotConnected => {
                    Some(io::Error::new(ErrorKind::TimedOut, "connect timed out"))
                }
                Err(e) => Some(e),
            },
        };
        let Some(why) = failure else {
            return ConnectStatus::Pending;
        };
        while let Some(addr) = self.rest.pop() {
            log::debug!("kprod: connect to {} ({why}); trying {addr}", self.peer);
            let _ = registry.deregister(&mut self.sock);
            if let Ok(mut sock) = open(addr, opts) {
                if registry.register(&mut sock, self.token, Interest::READABLE | Interest::WRITABLE).is_ok() {
                    self.sock = sock;
                    self.phase = Phase::Connecting { deadline: StdInstant::now() + self.setup };
                    return ConnectStatus::Pending;
                }
            }
        }
        ConnectStatus::Failed(why)
    }

    /// Drives the TLS handshake (the socket is connected).
    fn handshake(&mut self, expired: bool, deadline: StdInstant) -> ConnectStatus {
        self.phase = Phase::Handshaking { deadline };
        let Some(tls) = &mut self.tls else {
            self.phase = Phase::Open;
            return ConnectStatus::Connected;
        };
        match tls.handshake(&mut self.sock) {
            Ok(true) => {
                self.phase = Phase::Open;
                ConnectStatus::Connected
            }
            Ok(false) if expired => ConnectStatus::Failed(TlsError::handshake_timed_out(self.setup)),
            Ok(false) => ConnectStatus::Pending,
            Err(e) => ConnectStatus::Failed(e),
        }
    }

    /// The connect deadline, while connecting (TCP, then TLS).
    pub(crate) const fn deadline(&self) -> Option<StdInstant> {
        match self.phase {
            Phase::Connecting { deadline } | Phase::Handshaking { deadline } => Some(deadline),
            Phase::Open => None,
        }
    }

    /// Queues the request frame at the start of `tx` (see [`Outbox::queue_frame`]).
    pub(crate) fn queue(&mut self, tx: &mut Vec<u8>, len: usize) {
        self.out.queue_frame(tx, len);
    }

    /// Bytes queued and not yet written (plus one while TLS records wait).
    pub(crate) fn unsent(&self) -> usize {
        self.out.unsent() + usize::from(self.tls.as_ref().is_some_and(TlsLink::wants_write))
    }

    /// Writes queued bytes until the socket would block.
    pub(crate) fn flush(&mut self) -> io::Result<()> {
        if let Some(tls) = &mut self.tls {
            return tls.write(&mut self.sock, &mut self.out).map(drop);
        }
        while self.out.unsent() > 0 {
            match self.sock.write(self.out.pending()) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => self.out.advance(n),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Reads everything available (mio is edge-triggered): whether bytes arrived, and the
    /// error that ended the connection if one did (an orderly close is `UnexpectedEof`).
    /// Plaintext is read through `scratch` (any length; the IO loop's, see `IoLoop::scratch`)
    /// and only the bytes read are appended to the inbox. `closing`: the readiness event also
    /// said the peer closed or the socket failed, so the read must go on to the end or error.
    ///
    /// On Linux a plaintext read shorter than `scratch` stops there: TCP returns less than asked
    /// only once its receive queue is empty, and bytes that arrive after it raise a new
    /// edge-triggered event (tokio relies on the same). That saves the read that would only
    /// return `WouldBlock`, one syscall per response.
    pub(crate) fn read_available(&mut self, scratch: &mut [u8], closing: bool) -> (bool, Option<io::Error>) {
        let mut any = false;
        loop {
            let r = match &mut self.tls {
                Some(tls) => tls.read(&mut self.sock, &mut self.rx),
                None => self.sock.read(scratch).inspect(|&n| self.rx.extend_from_slice(&scratch[..n])),
            };
            match r {
                Ok(0) => return (any, Some(ErrorKind::UnexpectedEof.into())),
                Ok(n) if SHORT_READ_EMPTIES && self.tls.is_none() && !closing && n < scratch.len() => {
                    return (true, None);
                }
                Ok(_) => any = true,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return (any, None),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return (any, Some(e)),
            }
        }
    }

    /// Removes the socket from the poller (it closes when dropped).
    pub(crate) fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.sock);
    }
}

/// A nonblocking socket with the options set, connecting to `addr`.
fn open(addr: SocketAddr, opts: &SocketOptions) -> io::Result<TcpStream> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_nonblocking(true)?;
    sock.set_tcp_nodelay(opts.nodelay)?;
    // Buffer sizes before connect, so the window scale in the SYN matches.
    if let Some(n) = opts.send_buffer {
        sock.set_send_buffer_size(n)?;
    }
    if let Some(n) = opts.receive_buffer {
        sock.set_recv_buffer_size(n)?;
    }
    match sock.connect(&addr.into()) {
        Ok(()) => {}
        Err(e) if in_progress(&e) => {}
        Err(e) => return Err(e),
    }
    Ok(TcpStream::from_std(sock.into()))
}

#[cfg(unix)]
fn in_progress(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EINPROGRESS) || e.kind() == ErrorKind::WouldBlock
}

#[cfg(not(unix))]
fn in_progress(e: &io::Error) -> bool {
    e.kind() == ErrorKind::WouldBlock
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::TcpListener;

    use mio::{Events, Poll};

    use super::*;

    /// A plaintext connection to a local server, open, and the server's end of it.
    fn connected(poll: &Poll) -> (Conn, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        let connector = Connector { socket: SocketOptions::default(), tls: None };
        let (id, token) = (ConnId(0), Token(0));
        let setup = Duration::from_secs(5);
        let mut conn =
            Conn::connect(id, token, ("127.0.0.1", port), setup, &connector, poll.registry()).expect("connect started");
        let (server, _) = listener.accept().expect("accept");
        let deadline = StdInstant::now() + setup;
        while !matches!(conn.check_connect(&connector.socket, poll.registry(), false), ConnectStatus::Connected) {
            assert!(StdInstant::now() < deadline, "connected in time");
            std::thread::sleep(Duration::from_millis(1));
        }
        (conn, server)
    }

    /// The readiness events of `token` within a second, merged into what a read round sees.
    fn wait_readable(poll: &mut Poll, token: Token) -> bool {
        let mut events = Events::with_capacity(8);
        let deadline = StdInstant::now() + Duration::from_secs(1);
        loop {
            poll.poll(&mut events, Some(Duration::from_millis(100))).expect("poll");
            let mut seen = None;
            for ev in events.iter().filter(|ev| ev.token() == token && ev.is_readable()) {
                seen = Some(seen.unwrap_or(false) || closing(ev));
            }
            if let Some(closing) = seen {
                return closing;
            }
            assert!(StdInstant::now() < deadline, "no readiness event");
        }
    }

    #[test]
    fn a_hang_up_behind_the_bytes_ends_the_read_round_with_eof() {
        let mut poll = Poll::new().expect("poll");
        let (mut conn, mut server) = connected(&poll);
        server.write_all(&[1, 2, 3]).expect("write");
        drop(server);
        // Bytes and FIN both arrived before the event is taken: one event says both.
        std::thread::sleep(Duration::from_millis(50));
        let closing = wait_readable(&mut poll, conn.token);
        assert!(closing, "the event says the peer closed");
        let mut scratch = vec![0u8; READ_CHUNK];
        let (got, err) = conn.read_available(&mut scratch, closing);
        assert!(got);
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::UnexpectedEof));
        assert_eq!(conn.rx, [1, 2, 3]);
    }

    #[test]
    fn a_short_read_ends_the_read_round_and_later_bytes_raise_a_new_event() {
        let mut poll = Poll::new().expect("poll");
        let (mut conn, mut server) = connected(&poll);
        let mut scratch = vec![0u8; READ_CHUNK];
        server.write_all(&[1, 2]).expect("write");
        assert!(!wait_readable(&mut poll, conn.token));
        assert!(matches!(conn.read_available(&mut scratch, false), (true, None)));
        server.write_all(&[3]).expect("write");
        assert!(!wait_readable(&mut poll, conn.token), "a new event for the new byte");
        assert!(matches!(conn.read_available(&mut scratch, false), (true, None)));
        drop(server);
        let closing = wait_readable(&mut poll, conn.token);
        let (got, err) = conn.read_available(&mut scratch, closing);
        assert!(!got);
        assert_eq!(err.map(|e| e.kind()), Some(ErrorKind::UnexpectedEof));
        assert_eq!(conn.rx, [1, 2, 3]);
    }
}
