//! What both drivers (the blocking IO thread and the tokio task) do with the engine's outputs,
//! whatever their sockets: the core's drain loop
//! ([`Producer::drain`](kprod_core::producer::Producer::drain)) over [`DriverLinks`], which
//! queue request frames in per-connection [`Outbox`]es (one frame at a time each), queue the
//! connects the engine asks for (started outside the lock), close connections, and take
//! completions out of the registry (resolved outside the lock).

use core::time::Duration;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Budget, Completion, ConnError, Connecting, FatalError, Links, Transmit};
use kprod_core::time::Instant;

use crate::delivery::{Completed, Registry};
use crate::events::EventBook;
use crate::state::State;

/// Whether a short plaintext read means the socket's receive queue is empty and a new
/// readiness event follows new bytes: Linux's TCP and epoll. Both drivers then end a read
/// round at a short read instead of reading again only to get `WouldBlock` (the blocking
/// driver's `Conn::read_available`, the tokio driver's `read_plain`).
pub(crate) const SHORT_READ_EMPTIES: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Request bytes queued on one connection and not yet written: `buf[pos..end]`. The bytes of
/// `buf` past `end` are kept (initialized, unused), so that a buffer swapped with the pump's
/// frame buffer ([`Outbox::queue_frame`]) can take the next frame without being zeroed again.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    pos: usize,
    end: usize,
}

impl Outbox {
    /// Queues a copy of a request frame.
    pub(crate) fn queue(&mut self, frame: &[u8]) {
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        }
        self.buf.truncate(self.end);
        self.buf.extend_from_slice(frame);
        self.end = self.buf.len();
    }

    /// Queues the frame at the start of `tx` (`len` bytes). With nothing unsent, the buffers
    /// are swapped instead of copied: `tx` gets this outbox's old buffer (any length; the
    /// engine asks for more room when a frame does not fit), and the frame is written from
    /// where the engine encoded it.
    pub(crate) fn queue_frame(&mut self, tx: &mut Vec<u8>, len: usize) {
        if self.unsent() == 0 && len <= tx.len() {
            core::mem::swap(&mut self.buf, tx);
            self.pos = 0;
            self.end = len;
        } else {
            self.queue(&tx[..len]);
        }
    }

    /// Bytes queued and not yet written.
    pub(crate) const fn unsent(&self) -> usize {
        self.end - self.pos
    }

    /// The bytes to write next.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// `n` bytes of [`Outbox::pending`] were written. Starts over when it is empty, and
    /// compacts when more than 1 MiB and half of it is written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.end);
        if self.pos == self.end {
            self.pos = 0;
            self.end = 0;
        } else if self.pos > 1 << 20 && self.pos * 2 > self.end {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
        }
    }

    /// What is left to write, as an owned buffer.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio driver's lingering close
    pub(crate) fn into_unsent(mut self) -> Vec<u8> {
        self.buf.truncate(self.end);
        self.buf.drain(..self.pos);
        self.buf
    }
}

/// A driver's connection table, as the pump needs it.
pub(crate) trait Sockets {
    /// Queues the frame at the start of `tx` (`len` bytes) on `conn` ([`Outbox::queue_frame`]:
    /// `tx` may come back as another buffer); `false` if that connection is not open.
    fn queue(&mut self, conn: ConnId, tx: &mut Vec<u8>, len: usize) -> bool;
    /// Bytes queued on every connection and not yet written.
    fn unsent(&self) -> usize;
    /// Bytes queued on `conn` and not yet written (0 if it is not open).
    fn unsent_on(&self, conn: ConnId) -> usize;
    /// The engine closed `conn`: let it finish writing for a bounded time, then drop it.
    fn close(&mut self, conn: ConnId);
    /// `host:port` of `conn`, while the driver has it.
    fn peer(&self, conn: ConnId) -> Option<&str>;
    /// The bytes read from `conn` and not yet consumed by the engine, while the driver has it.
    fn rx(&mut self, conn: ConnId) -> Option<&mut Vec<u8>>;
}

/// What one [`Pump::round`] found.
#[derive(Debug)]
pub(crate) struct Round {
    /// The engine did something (frames, events).
    pub(crate) progressed: bool,
    /// The producer is closed and nothing is left: the driver stops.
    pub(crate) exit: bool,
    /// The engine's next deadline (`None`: only an input wakes it).
    pub(crate) deadline: Option<Instant>,
}

/// The engine-facing half of a driver: the frame buffer, and what the last drain produced.
pub(crate) struct Pump {
    /// The engine writes each request frame here before it is queued.
    tx: Vec<u8>,
    /// Connects the engine asked for: id, host, port, and how long setting it up may take
    /// (the engine's `connection_setup_timeout`).
    pub(crate) to_connect: Vec<(ConnId, String, u16, Duration)>,
    /// The setup timeout the engine gave for the next connect.
    next_setup_timeout: Duration,
    /// Completed batches, to resolve outside the lock.
    pub(crate) completed: Vec<Completed>,
    pub(crate) book: EventBook,
    /// At most this many unsent bytes over all connections before the drain pauses.
    out_limit: usize,
    /// The last drain stopped at `out_limit`, or left a request for a connection still writing
    /// its last frame ([`Drained::backlog`](kprod_core::producer::Drained::backlog)): written
    /// bytes are news for the engine.
    pub(crate) throttled: bool,
    /// Connections the engine dropped during the drain for what their broker sent: the broker
    /// and why (recorded once the drain is over).
    broker_failures: Vec<(String, ConnError)>,
    /// A transactional call's result from the last drain.
    txn_result: Option<kprod_core::producer::txn::TxnResult>,
}

impl Pump {
    /// A pump for an engine whose requests are at most `max_request` bytes.
    pub(crate) fn new(max_request: usize) -> Self {
        Self {
            tx: vec![0; 64 * 1024],
            to_connect: Vec::new(),
            next_setup_timeout: Duration::from_secs(10),
            completed: Vec::new(),
            book: EventBook::default(),
            out_limit: (4 << 20).max(2 * max_request),
            throttled: false,
            broker_failures: Vec::new(),
            txn_result: None,
        }
    }

    /// Gives the engine what a driver's wait produced: the connections that came up, and the
    /// bytes read (the engine consumes whole frames; the rest stays in the buffer).
    pub(crate) fn feed(
        &mut self,
        sockets: &mut impl Sockets,
        st: &mut State,
        (connected, readable): (&mut Vec<ConnId>, &mut Vec<ConnId>),
        now: Instant,
    ) {
        for id in connected.drain(..) {
            if let Some(peer) = sockets.peer(id) {
                self.book.link_up(st, id, peer, now);
            }
        }
        for id in readable.drain(..) {
            if let Some(rx) = sockets.rx(id) {
                let used = st.engine.handle_read(id, rx, now);
                rx.drain(..used.min(rx.len()));
            }
        }
    }

    /// The rest of a driver's round under the lock, after its inputs: `handle_timeout`, the
    /// drain loop, and what the driver does next.
    pub(crate) fn round(&mut self, sockets: &mut impl Sockets, st: &mut State, now: Instant) -> Round {
        st.engine.handle_timeout(now);
        let mut progressed = self.drain(sockets, st, now);
        if let Some(result) = self.txn_result.take() {
            st.txn_result = Some(result);
            progressed = true;
        }
        let exit = st.closing && st.engine.pending_batches() == 0 && st.registry.is_empty();
        if !self.completed.is_empty() {
            st.dispatching = true;
        }
        self.book.log_retries(&st.engine);
        Round { progressed, exit, deadline: st.engine.poll_timeout() }
    }

    /// Runs the engine's drain loop into `sockets` (see [`DriverLinks`]). Returns whether
    /// anything happened.
    fn drain(&mut self, sockets: &mut impl Sockets, st: &mut State, now: Instant) -> bool {
        let mut links =
            DriverLinks { pump: self, sockets, registry: &mut st.registry, failed_on_close: &mut st.failed_on_close };
        let drained = st.engine.drain(&mut links, now, Budget::UNLIMITED);
        crate::state::supply_oauth_token(&mut st.engine, now);
        self.throttled = drained.backlog;
        for (peer, error) in self.broker_failures.drain(..) {
            self.book.broker_failed(st, &peer, error, now);
        }
        drained.progressed()
    }
}

/// How long a driver sleeps: until the engine's `deadline` (which the engine acts on when it
/// comes), or until an input if there is none.
pub(crate) fn wait_until(deadline: Option<Instant>, now: Instant) -> Option<Duration> {
    deadline.map(|d| d.saturating_duration_since(now))
}

/// The drain loop's view of a driver: the pump's frame buffer, the driver's connection table,
/// and the completion registry.
/// - a frame goes to its connection's [`Outbox`] (`take`) once that connection has written its
///   last frame (`can_take_on`), while fewer than the pump's cap of bytes wait unsent over all
///   connections (`can_take`); the frame buffer grows to the largest frame (`grow_tx`);
/// - a connect is queued, to start outside the lock ([`Connecting::Pending`]: the driver
///   answers with `handle_connected` or `handle_disconnected` later);
/// - completions go through the [`EventBook`] into the pump's `completed`; a connection the
///   engine drops for what its broker sent becomes the last connection error.
pub(crate) struct DriverLinks<'a, S> {
    pump: &'a mut Pump,
    sockets: &'a mut S,
    registry: &'a mut Registry,
    failed_on_close: &'a mut u64,
}

impl<S: Sockets> Links for DriverLinks<'_, S> {
    fn tx_buffer(&mut self) -> &mut [u8] {
        &mut self.pump.tx
    }

    fn grow_tx(&mut self, needed: usize) -> bool {
        self.pump.tx.resize(needed, 0);
        true
    }

    fn can_take(&self) -> bool {
        self.sockets.unsent() < self.pump.out_limit
    }

    /// A connection takes its next frame once it has written the last (the Java client's
    /// rule): more would be a copy of batches the engine holds anyway, waiting behind bytes
    /// the broker is not reading yet.
    fn can_take_on(&self, conn: ConnId) -> bool {
        self.sockets.unsent_on(conn) == 0
    }

    fn take(&mut self, t: Transmit, _now: Instant) -> bool {
        self.sockets.queue(t.conn, &mut self.pump.tx, t.len)
    }

    fn setup_timeout(&mut self, _conn: ConnId, timeout: Duration) {
        self.pump.next_setup_timeout = timeout;
    }

    fn connect(&mut self, conn: ConnId, host: &str, port: u16, _now: Instant) -> Connecting {
        self.pump.to_connect.push((conn, host.to_owned(), port, self.pump.next_setup_timeout));
        Connecting::Pending
    }

    fn close(&mut self, conn: ConnId) {
        self.sockets.close(conn);
    }

    fn completed(&mut self, completion: Completion<&str>) {
        let done = self.pump.book.on_completion(self.registry, self.failed_on_close, completion);
        self.pump.completed.extend(done);
    }

    fn broker_words(&mut self, batch: kprod_core::producer::BatchId, words: &[(u32, &str)]) {
        self.pump.book.note_broker_words(batch, words);
    }

    fn connection_failed(&mut self, conn: ConnId, error: ConnError) {
        // Named now: the engine's `Close` of this connection follows.
        let peer = self.sockets.peer(conn).map_or_else(|| format!("connection {}", conn.0), str::to_owned);
        if matches!(error, ConnError::Authentication(_)) {
            self.pump.book.note_auth_refusal(&peer, error);
        }
        self.pump.broker_failures.push((peer, error));
    }

    fn txn_result(&mut self, result: kprod_core::producer::txn::TxnResult) {
        self.pump.txn_result = Some(result);
    }

    fn fatal(&mut self, error: FatalError) {
        EventBook::on_fatal(error);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kprod_core::config::Config;
    use kprod_core::producer::{Capacities, Producer as Engine, ProducerRecord, SendError, Storage};

    use crate::error::ConnectionError;

    /// One connection slot that is open once `open` is set, keeping what it was given.
    #[derive(Default)]
    struct FakeSockets {
        open: bool,
        frames: Vec<Vec<u8>>,
        closed: Vec<ConnId>,
        rx: Vec<u8>,
    }

    impl Sockets for FakeSockets {
        fn queue(&mut self, _conn: ConnId, tx: &mut Vec<u8>, len: usize) -> bool {
            self.frames.push(tx[..len].to_vec());
            self.open
        }
        fn unsent(&self) -> usize {
            0
        }
        fn unsent_on(&self, _conn: ConnId) -> usize {
            0
        }
        fn close(&mut self, conn: ConnId) {
            self.open = false;
            self.closed.push(conn);
        }
        fn peer(&self, _conn: ConnId) -> Option<&str> {
            self.open.then_some("h:1")
        }
        fn rx(&mut self, _conn: ConnId) -> Option<&mut Vec<u8>> {
            Some(&mut self.rx)
        }
    }

    #[test]
    fn the_drain_loop_runs_over_the_driver_links() {
        let config = Config::default();
        let storage = Storage::with_capacity(&config, Capacities::default());
        let engine =
            Engine::new(config.validate().expect("valid"), &[("h", 1)], storage, Instant::ZERO).expect("engine");
        let mut st = State::new(engine);
        let mut pump = Pump::new(1 << 20);
        let mut sockets = FakeSockets::default();
        let record =
            ProducerRecord { topic: "t", partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
        let now = Instant::from_millis(1);
        assert_eq!(st.engine.send(&record, now), Err(SendError::MetadataPending));
        let round = pump.round(&mut sockets, &mut st, now);
        // The connect is queued for the driver (answered later), nothing is sent yet.
        assert!(round.progressed && !round.exit);
        assert_eq!(pump.to_connect.len(), 1);
        assert!(sockets.frames.is_empty());
        let (conn, ..) = pump.to_connect.pop().expect("a connect");
        sockets.open = true;
        pump.feed(&mut sockets, &mut st, (&mut vec![conn], &mut Vec::new()), now);
        assert!(pump.round(&mut sockets, &mut st, now).progressed);
        assert_eq!(sockets.frames.len(), 1, "the handshake went to the connection");
        // The broker answers garbage: the engine drops the connection, the cause names it.
        sockets.rx.extend_from_slice(&[0x7f, 0xff, 0xff, 0xff]);
        pump.feed(&mut sockets, &mut st, (&mut Vec::new(), &mut vec![conn]), now);
        pump.round(&mut sockets, &mut st, now);
        assert_eq!(sockets.closed, [conn]);
        let cause = st.cause_since(now).expect("a cause");
        assert!(matches!(&*cause, ConnectionError::Broker { broker, .. } if broker == "h:1"), "{cause}");
    }

    #[test]
    fn outbox_keeps_order_across_partial_writes_and_compacts() {
        let mut o = Outbox::default();
        o.queue(b"abc");
        o.queue(b"def");
        assert_eq!(o.pending(), b"abcdef");
        o.advance(2);
        assert_eq!((o.pending(), o.unsent()), (&b"cdef"[..], 4));
        o.queue(b"g");
        assert_eq!(o.pending(), b"cdefg");
        o.advance(5);
        assert_eq!(o.unsent(), 0);
        // Over 1 MiB written and more than half of the buffer: the written part is dropped.
        o.queue(&vec![1; (1 << 20) + 10]);
        o.queue(b"tail");
        o.advance((1 << 20) + 10);
        assert_eq!(o.pending(), b"tail");
        assert_eq!(o.into_unsent(), b"tail");
    }

    #[test]
    fn an_empty_outbox_takes_the_frame_buffer_and_a_busy_one_copies() {
        let mut out = Outbox::default();
        let mut tx = b"frame-1 and stale bytes".to_vec();
        let first = tx.as_ptr();
        out.queue_frame(&mut tx, 7);
        assert_eq!(out.pending(), b"frame-1");
        // Swapped, not copied: the frame is written from where it was encoded, and the engine's
        // next frame goes into the outbox's old (empty) buffer.
        assert_eq!(out.pending().as_ptr(), first);
        assert!(tx.is_empty());
        tx.extend_from_slice(b"frame-2 more");
        out.queue_frame(&mut tx, 7);
        assert_eq!(out.pending(), b"frame-1frame-2");
        assert_eq!(tx, b"frame-2 more", "a busy outbox copies and leaves the frame buffer");
        out.advance(3);
        assert_eq!(out.unsent(), 11);
        out.advance(11);
        assert_eq!(out.unsent(), 0);
        // Empty again: the next frame swaps in, and what the outbox held (its initialized bytes,
        // beyond what was written) goes back to the pump without being zeroed.
        let mut tx2 = b"frame-3".to_vec();
        out.queue_frame(&mut tx2, 7);
        assert_eq!(out.pending(), b"frame-3");
        assert_eq!(tx2.len(), 14);
        // A copy after a swap keeps only the unsent bytes, then appends.
        out.queue(b"+4");
        assert_eq!(out.pending(), b"frame-3+4");
        out.advance(2);
        assert_eq!(out.into_unsent(), b"ame-3+4");
    }
}
