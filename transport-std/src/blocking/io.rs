//! The IO thread: owns the sockets, feeds the engine, and sleeps in `mio::Poll` until a socket
//! is ready, the engine's next deadline, or a user thread wakes it.
//!
//! One round (see `state.rs` for the locking):
//! 1. under the lock: give the engine what the last wait produced (connects, bytes read,
//!    disconnects), then `handle_timeout`, then the engine's drain loop (`pump.rs`: frames go
//!    to per-connection outboxes, connects are queued, closes done, completions taken out of
//!    the registry), then `poll_timeout`;
//! 2. without the lock: resolve completions and run callbacks, start queued connects (DNS
//!    is blocking, so it must not hold the lock), write outboxes, then run the compression job
//!    the round took, if any (`JobBuffers`; the next round then comes at once);
//! 3. wait for readiness until the engine's deadline (or a connect's), exactly: the engine
//!    acts on every deadline it names.

use core::time::Duration;
use std::cell::Cell;
use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Instant as StdInstant;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::CompressionJob;
use kprod_core::time::Instant;
use mio::{Events, Poll, Token};

use super::net::{closing, Conn, ConnectStatus, Phase, READ_CHUNK};
use super::shared::Shared;
use crate::events::{LinkDown, CONN_LOG};
use crate::pump::{wait_until, Pump, Sockets};
use crate::state::{JobBuffers, State};
use crate::tls::Connector;

/// The waker's token; sockets get tokens counting up from 0.
pub(crate) const WAKER: Token = Token(usize::MAX);

/// How long a closed connection may take to write what it still had queued.
const LINGER: Duration = Duration::from_secs(5);

thread_local! {
    static IS_IO_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Whether the caller runs on a producer's IO thread (in a callback): it must not block there.
pub(crate) fn on_io_thread() -> bool {
    IS_IO_THREAD.with(Cell::get)
}

/// What the last wait produced, for the engine.
#[derive(Default)]
struct Inputs {
    connected: Vec<ConnId>,
    readable: Vec<ConnId>,
    /// Connections lost: the token they had (`None`: never opened), their broker, and why.
    lost: Vec<(ConnId, Option<Token>, String, LinkDown)>,
}

impl Inputs {
    fn is_empty(&self) -> bool {
        self.connected.is_empty() && self.readable.is_empty() && self.lost.is_empty()
    }
}

/// The IO thread's state.
pub(crate) struct IoLoop {
    shared: Arc<Shared>,
    poll: Poll,
    events: Events,
    conns: Vec<Option<Conn>>,
    lingering: Vec<(Conn, StdInstant)>,
    opts: Connector,
    next_token: usize,
    inputs: Inputs,
    pump: Pump,
    /// Where plaintext sockets are read into before the bytes are appended to a connection's
    /// inbox: zeroed once here, where sizing each inbox up by `READ_CHUNK` zeroed 64 KiB per
    /// read (5% of the CPU at 1 KiB records, most reads bringing one small Produce response).
    scratch: Box<[u8]>,
    /// Buffers of the compression jobs this thread runs, and the job the last round took.
    jobs: JobBuffers,
    job: Option<CompressionJob>,
}

impl IoLoop {
    pub(crate) fn new(
        shared: Arc<Shared>,
        poll: Poll,
        opts: Connector,
        connections: usize,
        max_request: usize,
    ) -> Self {
        Self {
            shared,
            poll,
            events: Events::with_capacity(256),
            conns: (0..connections).map(|_| None).collect(),
            lingering: Vec::new(),
            opts,
            next_token: 0,
            inputs: Inputs::default(),
            pump: Pump::new(max_request),
            scratch: vec![0; READ_CHUNK].into_boxed_slice(),
            jobs: JobBuffers::default(),
            job: None,
        }
    }

    /// Runs until `close` completes; every waiter is resolved when it returns (or unwinds).
    pub(crate) fn run(mut self) {
        IS_IO_THREAD.with(|f| f.set(true));
        let _stopped = StopGuard(Arc::clone(&self.shared));
        log::debug!("kprod: IO thread started");
        loop {
            let (exit, timeout) = self.engine_round();
            self.dispatch();
            self.connect_queued();
            let emptied = self.flush_all();
            if exit {
                break;
            }
            // A compression job the round took, run without the lock; then a round at once
            // (its batch may go, and there may be more).
            let compressed = self.job.take().map(|job| {
                let n = self.jobs.compress(job);
                self.jobs.finish(&mut self.shared.lock(), job, n);
            });
            // A connection the round passed over for its unwritten bytes (the engine may have a
            // request for it) that is now written takes that request at once: no readiness
            // event follows a write that did not fill the socket.
            let again = compressed.is_some() || (emptied && self.pump.throttled);
            let timeout = if self.inputs.is_empty() && !again { timeout } else { Some(Duration::ZERO) };
            self.wait(timeout);
        }
        self.linger();
        log::debug!("kprod: IO thread stopped");
    }

    /// Step 1 of a round, under the lock. Returns whether to stop, and how long to wait.
    fn engine_round(&mut self) -> (bool, Option<Duration>) {
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        let st = &mut *guard;
        st.io_sleeping = false;
        let now = shared.now();
        shared.clock().resync_wall();
        let had_inputs = self.apply_inputs(st, now);
        let mut sockets =
            StdSockets { conns: &mut self.conns, lingering: &mut self.lingering, registry: self.poll.registry() };
        let round = self.pump.round(&mut sockets, st, now);
        if (had_inputs || round.progressed) && st.wake_waiters() {
            shared.progress.notify_all();
        }
        // A compression job for the time between rounds (none once closing ends the loop).
        self.job = if round.exit { None } else { self.jobs.take(st, now) };
        st.io_sleeping = !round.exit && self.job.is_none();
        drop(guard);
        (round.exit, self.timeout(round.deadline, now))
    }

    fn apply_inputs(&mut self, st: &mut State, now: Instant) -> bool {
        let any = !self.inputs.is_empty();
        let mut sockets =
            StdSockets { conns: &mut self.conns, lingering: &mut self.lingering, registry: self.poll.registry() };
        let inputs = (&mut self.inputs.connected, &mut self.inputs.readable);
        self.pump.feed(&mut sockets, st, inputs, now);
        for (id, token, peer, down) in core::mem::take(&mut self.inputs.lost) {
            let Some(slot) = self.conns.get_mut(usize::from(id.0)) else {
                continue;
            };
            let current = slot.as_ref().map(|c| c.token);
            if current != token {
                continue; // already replaced or reported
            }
            if let Some(mut c) = slot.take() {
                c.deregister(self.poll.registry());
            }
            self.pump.book.link_down(st, id, &peer, down, now);
        }
        any
    }

    /// How long to wait: until the engine's deadline or the first connect deadline.
    fn timeout(&self, deadline: Option<Instant>, now: Instant) -> Option<Duration> {
        let mut wait = wait_until(deadline, now);
        let now_std = self.shared.std_at(now);
        for d in self.conns.iter().flatten().filter_map(Conn::deadline) {
            let left = d.saturating_duration_since(now_std);
            wait = Some(wait.map_or(left, |w| w.min(left)));
        }
        wait
    }

    /// Step 2: resolve completions outside the lock, then tell `flush` waiters.
    fn dispatch(&mut self) {
        if self.pump.completed.is_empty() {
            return;
        }
        for done in self.pump.completed.drain(..) {
            let panicked = done.dispatch_to(self.shared.listener.get());
            if panicked > 0 {
                log::error!("kprod: {panicked} delivery callback(s) panicked; the batch's other callbacks ran");
            }
        }
        let mut st = self.shared.lock();
        st.dispatching = false;
        if st.wake_waiters() {
            self.shared.progress.notify_all();
        }
    }

    fn connect_queued(&mut self) {
        for (id, host, port, setup) in core::mem::take(&mut self.pump.to_connect) {
            // The engine's connection table grows on std: so does the socket table it keys.
            if usize::from(id.0) >= self.conns.len() {
                self.conns.resize_with(usize::from(id.0) + 1, || None);
            }
            let peer = format!("{host}:{port}");
            let Some(slot) = self.conns.get_mut(usize::from(id.0)) else {
                let down = LinkDown::Connect(std::io::Error::other("no such connection slot"));
                self.inputs.lost.push((id, None, peer, down));
                continue;
            };
            if let Some(mut old) = slot.take() {
                old.deregister(self.poll.registry());
            }
            let token = Token(self.next_token);
            self.next_token = self.next_token.wrapping_add(1) % WAKER.0;
            match Conn::connect(id, token, (&host, port), setup, &self.opts, self.poll.registry()) {
                Ok(c) => {
                    log::debug!(target: CONN_LOG, "kprod: connecting to {}", c.peer);
                    *slot = Some(c);
                }
                Err(down) => self.inputs.lost.push((id, None, peer, down)),
            }
        }
    }

    /// Writes what the open connections hold, until their sockets would block; returns whether
    /// one of them wrote everything it held.
    fn flush_all(&mut self) -> bool {
        let mut emptied = false;
        for c in self.conns.iter_mut().flatten() {
            if c.unsent() > 0 && c.phase == Phase::Open {
                match c.flush() {
                    Ok(()) => emptied |= c.unsent() == 0,
                    Err(e) => self.inputs.lost.push((c.id, Some(c.token), c.peer.clone(), LinkDown::Lost(e))),
                }
            }
        }
        let registry = self.poll.registry();
        let now = StdInstant::now();
        self.lingering.retain_mut(|(c, until)| {
            let keep = c.flush().is_ok() && c.unsent() > 0 && now < *until;
            if !keep {
                c.deregister(registry);
            }
            keep
        });
        emptied
    }

    /// Step 3: waits for readiness and turns it into inputs.
    fn wait(&mut self, timeout: Option<Duration>) {
        if let Err(e) = self.poll.poll(&mut self.events, timeout) {
            if e.kind() != ErrorKind::Interrupted {
                log::error!("kprod: poll failed: {e}");
                std::thread::sleep(Duration::from_millis(10));
            }
            return;
        }
        let registry = self.poll.registry();
        for ev in self.events.iter() {
            if ev.token() == WAKER {
                continue;
            }
            if let Some(c) = self.conns.iter_mut().flatten().find(|c| c.token == ev.token()) {
                if c.phase != Phase::Open {
                    match c.check_connect(&self.opts.socket, registry, false) {
                        ConnectStatus::Connected => self.inputs.connected.push(c.id),
                        ConnectStatus::Pending => {}
                        ConnectStatus::Failed(e) => {
                            self.inputs.lost.push((c.id, Some(c.token), c.peer.clone(), LinkDown::Connect(e)));
                        }
                    }
                    continue;
                }
                let (got, err) = c.read_available(&mut self.scratch, closing(ev));
                if got {
                    self.inputs.readable.push(c.id);
                }
                let err = err.or_else(|| c.flush().err());
                if let Some(e) = err {
                    self.inputs.lost.push((c.id, Some(c.token), c.peer.clone(), LinkDown::Lost(e)));
                }
            }
        }
        let now = StdInstant::now();
        for c in self.conns.iter_mut().flatten() {
            if c.deadline().is_some_and(|d| d <= now) {
                if let ConnectStatus::Failed(e) = c.check_connect(&self.opts.socket, registry, true) {
                    self.inputs.lost.push((c.id, Some(c.token), c.peer.clone(), LinkDown::Connect(e)));
                }
            }
        }
    }

    /// After close: lets closed connections write what they still hold, for at most `LINGER`.
    fn linger(&mut self) {
        for c in self.conns.iter_mut().filter_map(Option::take) {
            if c.unsent() > 0 {
                self.lingering.push((c, StdInstant::now() + LINGER));
            }
        }
        while !self.lingering.is_empty() {
            self.flush_all();
            if self.lingering.is_empty() {
                break;
            }
            let _ = self.poll.poll(&mut self.events, Some(Duration::from_millis(50)));
        }
    }
}

/// The IO thread's connections, as the pump sees them.
struct StdSockets<'a> {
    conns: &'a mut Vec<Option<Conn>>,
    lingering: &'a mut Vec<(Conn, StdInstant)>,
    registry: &'a mio::Registry,
}

impl Sockets for StdSockets<'_> {
    fn queue(&mut self, conn: ConnId, tx: &mut Vec<u8>, len: usize) -> bool {
        match self.conns.get_mut(usize::from(conn.0)).and_then(Option::as_mut) {
            Some(c) if c.phase == Phase::Open => {
                c.queue(tx, len);
                true
            }
            _ => false,
        }
    }

    fn unsent(&self) -> usize {
        self.conns.iter().flatten().map(Conn::unsent).sum()
    }

    fn unsent_on(&self, conn: ConnId) -> usize {
        self.conns.get(usize::from(conn.0)).and_then(Option::as_ref).map_or(0, Conn::unsent)
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(mut c) = self.conns.get_mut(usize::from(conn.0)).and_then(Option::take) {
            log::debug!(target: CONN_LOG, "kprod: closing connection to {}", c.peer);
            if c.unsent() > 0 {
                self.lingering.push((c, StdInstant::now() + LINGER));
            } else {
                c.deregister(self.registry);
            }
        }
    }

    fn peer(&self, conn: ConnId) -> Option<&str> {
        self.conns.get(usize::from(conn.0)).and_then(Option::as_ref).map(|c| c.peer.as_str())
    }

    fn rx(&mut self, conn: ConnId) -> Option<&mut Vec<u8>> {
        self.conns.get_mut(usize::from(conn.0)).and_then(Option::as_mut).map(|c| &mut c.rx)
    }
}

/// Marks the IO thread stopped however it ends, and fails whatever still waits.
struct StopGuard(Arc<Shared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let left = self.0.lock().stop();
        if std::thread::panicking() {
            log::error!("kprod: the IO thread panicked; {} batch(es) fail with Closed", left.len());
        }
        for done in left {
            done.dispatch_to(self.0.listener.get());
        }
        self.0.progress.notify_all();
    }
}
