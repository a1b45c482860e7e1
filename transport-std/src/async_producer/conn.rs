//! One broker connection of the tokio driver: a connect under way (DNS through
//! `tokio::net::lookup_host`, then `TcpSocket` with the options set before the SYN, then the TLS
//! handshake with `security.protocol=SSL`), or an open `TcpStream` (and its TLS session) with an
//! outbox of request bytes and an inbox of response bytes.
//!
//! The driver task polls every connection from one `poll_fn` (readiness through
//! `poll_read_ready` / `poll_write_ready`, then `try_read_buf` / `try_write`), so a round of
//! socket IO needs no task per connection and no copy between tasks.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use core::time::Duration;
use std::io::{self, ErrorKind, Read, Write};
use std::net::SocketAddr;

use kprod_core::producer::conn::ConnId;
use tokio::io::Interest;
use tokio::net::{TcpSocket, TcpStream};

use crate::config::SocketOptions;
use crate::events::LinkDown;
use crate::pump::{Outbox, SHORT_READ_EMPTIES};
use crate::tls::{Connector, TlsError, TlsLink};

/// How much room a read asks for at least.
const READ_CHUNK: usize = 64 * 1024;
/// How much one poll reads from one connection before the engine gets it (bounded work per
/// round; the rest stays in the socket, whose readiness tokio keeps).
const READ_BUDGET: usize = 4 << 20;

/// A connect under way: DNS and the TCP connects to each resolved address in turn, then the
/// TLS handshake.
type Connecting = Pin<Box<dyn Future<Output = Result<(TcpStream, Option<TlsLink>), LinkDown>> + Send>>;

enum Phase {
    Connecting(Connecting),
    Open(TcpStream, Option<TlsLink>),
}

/// What one poll of a connection found.
#[derive(Debug, Default)]
pub(super) struct Polled {
    /// The connect finished: the engine must hear `handle_connected`.
    pub(super) connected: bool,
    /// Bytes arrived in `rx`.
    pub(super) read: bool,
    /// Queued bytes were written.
    pub(super) wrote: bool,
    /// The connection failed or the broker closed it: why.
    pub(super) lost: Option<LinkDown>,
}

/// A broker connection.
pub(super) struct Conn {
    pub(super) id: ConnId,
    /// `host:port`, for logs.
    pub(super) peer: String,
    phase: Phase,
    out: Outbox,
    /// Bytes read and not yet consumed by the engine.
    pub(super) rx: Vec<u8>,
}

impl Conn {
    /// Starts connecting to `host:port` within `setup` (the engine's
    /// `connection_setup_timeout`); nothing runs until the first poll.
    pub(super) fn connect(id: ConnId, host: String, port: u16, setup: Duration, connector: &Connector) -> Self {
        let peer = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
        let connecting = Box::pin(connect(host, port, setup, connector.clone()));
        Self { id, peer, phase: Phase::Connecting(connecting), out: Outbox::default(), rx: Vec::new() }
    }

    /// Whether the connect has finished.
    pub(super) const fn is_open(&self) -> bool {
        matches!(self.phase, Phase::Open(..))
    }

    /// Queues the request frame at the start of `tx` (see [`Outbox::queue_frame`]).
    pub(super) fn queue(&mut self, tx: &mut Vec<u8>, len: usize) {
        self.out.queue_frame(tx, len);
    }

    /// Bytes queued and not yet written (plus one while TLS records wait).
    pub(super) fn unsent(&self) -> usize {
        let tls_waits = matches!(&self.phase, Phase::Open(_, Some(tls)) if tls.wants_write());
        self.out.unsent() + usize::from(tls_waits)
    }

    /// Drives the connection: the connect while it is under way; once open, reads what is
    /// available (up to a budget) and writes what is queued until the socket would block. The
    /// waker is registered for whatever returned `Pending`.
    pub(super) fn poll(&mut self, cx: &mut Context<'_>) -> Polled {
        let mut polled = Polled::default();
        match &mut self.phase {
            Phase::Connecting(connecting) => match connecting.as_mut().poll(cx) {
                Poll::Pending => return polled,
                Poll::Ready(Err(down)) => {
                    polled.lost = Some(down);
                    return polled;
                }
                Poll::Ready(Ok((stream, tls))) => {
                    self.phase = Phase::Open(stream, tls);
                    polled.connected = true;
                }
            },
            Phase::Open(..) => {}
        }
        let Phase::Open(stream, tls) = &mut self.phase else {
            return polled;
        };
        if let Err(e) = read_available(stream, tls.as_mut(), &mut self.rx, cx, &mut polled.read) {
            polled.lost = Some(LinkDown::Lost(e));
            return polled;
        }
        match write_queued(stream, tls.as_mut(), &mut self.out, cx) {
            Ok(wrote) => polled.wrote = wrote,
            Err(e) => polled.lost = Some(LinkDown::Lost(e)),
        }
        polled
    }

    /// The open stream and the bytes it still has to write, if any (for a closing connection
    /// to finish writing on its own).
    pub(super) fn into_unsent(mut self) -> Option<(TcpStream, Vec<u8>)> {
        match self.phase {
            Phase::Open(stream, None) if self.out.unsent() > 0 => Some((stream, self.out.into_unsent())),
            Phase::Open(stream, Some(mut tls)) if self.out.unsent() > 0 || tls.wants_write() => {
                // Encrypted into memory (a Vec never blocks), written as plain bytes from there.
                let mut records = Vec::new();
                tls.write(&mut records, &mut self.out).ok()?;
                Some((stream, records))
            }
            _ => None,
        }
    }
}

/// Reads until the socket would block, an error, or the budget; sets `got` if bytes arrived.
/// An orderly close by the peer is `UnexpectedEof`.
fn read_available(
    stream: &TcpStream,
    mut tls: Option<&mut TlsLink>,
    rx: &mut Vec<u8>,
    cx: &mut Context<'_>,
    got: &mut bool,
) -> io::Result<()> {
    let mut budget = READ_BUDGET;
    while budget > 0 {
        match stream.poll_read_ready(cx) {
            Poll::Pending => return Ok(()),
            Poll::Ready(ready) => ready?,
        }
        rx.reserve(READ_CHUNK);
        let read = match tls.as_deref_mut() {
            Some(tls) => tls.read(&mut TryIo(stream), rx),
            None => read_plain(stream, rx),
        };
        match read {
            Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                *got = true;
                budget = budget.saturating_sub(n);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One plaintext read into the spare room of `rx`. A read shorter than that room on Linux
/// ([`SHORT_READ_EMPTIES`]: TCP's receive queue is empty then) also clears tokio's read
/// readiness, by answering `try_io` with `WouldBlock` once the bytes are in, so the next poll
/// waits for the next edge instead of making a read that would only return `WouldBlock`: one
/// `recvfrom` per response instead of two. tokio's own `AsyncRead` for `TcpStream` clears
/// readiness after a short read the same way; `try_read_buf` clears it only on `WouldBlock`.
/// tokio clears it only if no readiness event came in since it was observed, and never clears
/// a peer's close, so bytes or a hang-up after this read still wake the task.
fn read_plain(stream: &TcpStream, rx: &mut Vec<u8>) -> io::Result<usize> {
    let room = rx.capacity() - rx.len();
    let mut got = 0;
    let read = stream.try_io(Interest::READABLE, || {
        got = stream.try_read_buf(rx)?;
        if SHORT_READ_EMPTIES && got > 0 && got < room {
            Err(ErrorKind::WouldBlock.into())
        } else {
            Ok(got)
        }
    });
    match read {
        Err(e) if e.kind() == ErrorKind::WouldBlock && got > 0 => Ok(got),
        read => read,
    }
}

/// Writes `out[*pos..]` until done or the socket would block; whether anything was written.
fn write_queued(
    stream: &TcpStream,
    tls: Option<&mut TlsLink>,
    out: &mut Outbox,
    cx: &mut Context<'_>,
) -> io::Result<bool> {
    if let Some(tls) = tls {
        let mut wrote = false;
        while out.unsent() > 0 || tls.wants_write() {
            match stream.poll_write_ready(cx) {
                Poll::Pending => break,
                Poll::Ready(ready) => ready?,
            }
            // `false` with records left: the socket would block (its readiness is cleared).
            wrote |= tls.write(&mut TryIo(stream), out)?;
        }
        return Ok(wrote);
    }
    let mut wrote = false;
    while out.unsent() > 0 {
        match stream.poll_write_ready(cx) {
            Poll::Pending => break,
            Poll::Ready(ready) => ready?,
        }
        match stream.try_write(out.pending()) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => {
                out.advance(n);
                wrote = true;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(wrote)
}

/// The stream as `Read + Write` for rustls: `try_read` / `try_write`, which answer `WouldBlock`
/// (and clear tokio's readiness) when the socket has nothing.
struct TryIo<'a>(&'a TcpStream);

impl Read for TryIo<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for TryIo<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Connects (see [`connect_tcp`]), then runs the TLS handshake if TLS is on, within the
/// setup timeout `limit`.
async fn connect(
    host: String,
    port: u16,
    limit: Duration,
    connector: Connector,
) -> Result<(TcpStream, Option<TlsLink>), LinkDown> {
    let mut tls = connector.session(&host).map_err(LinkDown::Connect)?;
    let started = tokio::time::Instant::now();
    let stream = connect_tcp(host, port, limit, connector.socket).await?;
    if let Some(session) = &mut tls {
        // One budget for the TCP connect and the handshake, as the blocking driver has.
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, handshake(&stream, session)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(LinkDown::Connect(e)),
            Err(_) => return Err(LinkDown::Connect(TlsError::handshake_timed_out(limit))),
        }
    }
    Ok((stream, tls))
}

/// Drives the TLS handshake, waiting for the socket between steps.
async fn handshake(stream: &TcpStream, tls: &mut TlsLink) -> io::Result<()> {
    while !tls.handshake(&mut TryIo(stream))? {
        if tls.wants_write() {
            stream.writable().await?;
        } else {
            stream.readable().await?;
        }
    }
    Ok(())
}

/// Resolves `host` (tokio's resolver: IP literals at once, names on the blocking pool, never on
/// a runtime thread) and connects to its addresses in turn, each within the connect timeout.
async fn connect_tcp(host: String, port: u16, limit: Duration, opts: SocketOptions) -> Result<TcpStream, LinkDown> {
    let found = match tokio::time::timeout(limit, tokio::net::lookup_host((host.as_str(), port))).await {
        Ok(found) => found,
        Err(_) => Err(io::Error::new(ErrorKind::TimedOut, "timed out")),
    };
    let addrs: Vec<SocketAddr> = match found {
        Ok(addrs) => addrs.collect(),
        Err(error) => return Err(LinkDown::Dns { host: host.clone(), error }),
    };
    if addrs.is_empty() {
        return Err(LinkDown::Dns { host: host.clone(), error: io::Error::new(ErrorKind::NotFound, "no address") });
    }
    let mut last = io::Error::from(ErrorKind::NotFound);
    for addr in addrs {
        match tokio::time::timeout(limit, open(addr, &opts)).await {
            Ok(Ok(stream)) => return Ok(stream),
            Ok(Err(e)) => last = e,
            Err(_) => last = io::Error::new(ErrorKind::TimedOut, format!("connect to {addr} timed out")),
        }
        log::debug!("kprod: connect to {addr} failed: {last}");
    }
    Err(LinkDown::Connect(last))
}

/// A TCP connect to `addr` with the socket options set before the SYN (so the window scale
/// matches the buffer sizes).
async fn open(addr: SocketAddr, opts: &SocketOptions) -> io::Result<TcpStream> {
    let sock = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    sock.set_nodelay(opts.nodelay)?;
    if let Some(n) = opts.send_buffer {
        sock.set_send_buffer_size(u32::try_from(n).unwrap_or(u32::MAX))?;
    }
    if let Some(n) = opts.receive_buffer {
        sock.set_recv_buffer_size(u32::try_from(n).unwrap_or(u32::MAX))?;
    }
    sock.connect(addr).await
}

#[cfg(test)]
mod tests {
    use core::future::poll_fn;
    use std::io::Write;
    use std::net::TcpListener;

    use super::*;

    /// A current-thread runtime with tokio's IO and timer drivers.
    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime")
    }

    /// A plaintext connection to a local server, and the server's end of it.
    async fn connected() -> (TcpStream, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("address");
        let client = TcpStream::connect(addr).await.expect("connect");
        let (server, _) = listener.accept().expect("accept");
        (client, server)
    }

    /// Waits (at most a second) until the socket is readable.
    async fn readable(stream: &TcpStream) {
        tokio::time::timeout(Duration::from_secs(1), stream.readable())
            .await
            .expect("a readiness event within a second")
            .expect("readable");
    }

    /// One read round of the driver: whether bytes arrived, and how it ended.
    async fn read_round(stream: &TcpStream, rx: &mut Vec<u8>) -> (bool, io::Result<()>) {
        let mut got = false;
        let end = poll_fn(|cx| Poll::Ready(read_available(stream, None, rx, cx, &mut got))).await;
        (got, end)
    }

    /// Whether tokio still holds read readiness for the socket (a poll that registers no waker
    /// worth keeping: the test only looks).
    async fn still_ready(stream: &TcpStream) -> bool {
        poll_fn(|cx| Poll::Ready(stream.poll_read_ready(cx).is_ready())).await
    }

    #[test]
    fn a_short_read_clears_the_readiness_and_later_bytes_raise_it_again() {
        runtime().block_on(async {
            let (client, mut server) = connected().await;
            server.write_all(&[1, 2, 3]).expect("write");
            readable(&client).await;
            let mut rx = Vec::with_capacity(READ_CHUNK);
            assert_eq!(read_plain(&client, &mut rx).expect("read"), 3);
            assert_eq!(rx, [1, 2, 3]);
            // Where a short read empties the queue, the read that would only say WouldBlock
            // is not needed: readiness is already cleared.
            assert_eq!(still_ready(&client).await, !SHORT_READ_EMPTIES);
            server.write_all(&[4, 5]).expect("write");
            readable(&client).await;
            let (got, end) = read_round(&client, &mut rx).await;
            assert!(got);
            end.expect("still open");
            assert_eq!(rx, [1, 2, 3, 4, 5]);
        });
    }

    #[test]
    fn a_hang_up_behind_the_bytes_ends_the_read_round_with_eof() {
        runtime().block_on(async {
            let (client, mut server) = connected().await;
            server.write_all(&[1, 2, 3]).expect("write");
            drop(server);
            // Bytes and FIN both arrived before the read: the short read must not end the
            // round (tokio keeps a close in the readiness when it clears the rest).
            std::thread::sleep(Duration::from_millis(50));
            readable(&client).await;
            let mut rx = Vec::new();
            let (got, end) = read_round(&client, &mut rx).await;
            assert!(got);
            assert_eq!(end.map_err(|e| e.kind()), Err(ErrorKind::UnexpectedEof));
            assert_eq!(rx, [1, 2, 3]);
        });
    }

    #[test]
    fn a_hang_up_after_a_short_read_wakes_the_task() {
        runtime().block_on(async {
            let (client, mut server) = connected().await;
            server.write_all(&[1, 2, 3]).expect("write");
            readable(&client).await;
            let mut rx = Vec::new();
            let (got, end) = read_round(&client, &mut rx).await;
            assert!(got);
            end.expect("still open");
            drop(server);
            readable(&client).await;
            let (got, end) = read_round(&client, &mut rx).await;
            assert!(!got);
            assert_eq!(end.map_err(|e| e.kind()), Err(ErrorKind::UnexpectedEof));
            assert_eq!(rx, [1, 2, 3]);
        });
    }
}
