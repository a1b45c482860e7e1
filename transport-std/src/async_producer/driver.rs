//! The driver task: owns the connections, feeds the engine, and sleeps until a socket is
//! ready, the engine's next deadline (`tokio::time::Sleep`), or a producer handle notifies it.
//!
//! One round, as on the blocking IO thread (`blocking/io.rs`):
//! 1. under the lock: give the engine what the last wait produced (connects, bytes read,
//!    disconnects), then `handle_timeout`, then the engine's drain loop (`pump.rs`: frames go
//!    to per-connection outboxes, connects are queued, closes done, completions taken out of
//!    the registry), then `poll_timeout`;
//! 2. without the lock: resolve completions (wakes the `DeliveryFuture`s), start queued
//!    connects;
//! 3. wait in one `poll_fn` over the notification, the timer (the engine's deadline, exactly:
//!    the engine acts on every deadline it names) and every connection (reads, writes,
//!    connects), until one of them has something for the engine.

use core::future::{poll_fn, Future};
use core::pin::{pin, Pin};
use core::task::{Context, Poll};
use core::time::Duration;
use std::sync::Arc;

use kprod_core::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinHandle;
use tokio::time::{Instant as TokioInstant, Sleep};

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::CompressionJob;

use super::conn::Conn;
use super::AsyncShared;
use crate::events::{LinkDown, CONN_LOG};
use crate::pump::{wait_until, Pump, Sockets};
use crate::state::{JobBuffers, State};
use crate::tls::Connector;

/// How long a closed connection may take to write what it still had queued.
const LINGER: Duration = Duration::from_secs(5);
/// The timer's instant while the engine names no deadline (it is not polled then).
const IDLE: Duration = Duration::from_secs(3600);

/// What the last wait produced, for the engine.
#[derive(Default)]
struct Inputs {
    connected: Vec<ConnId>,
    readable: Vec<ConnId>,
    /// Connections lost (already taken out of their slot): id, peer, and why.
    lost: Vec<(ConnId, String, LinkDown)>,
}

impl Inputs {
    fn is_empty(&self) -> bool {
        self.connected.is_empty() && self.readable.is_empty() && self.lost.is_empty()
    }
}

/// The driver's connections, as the pump sees them.
struct TokioSockets<'a>(&'a mut Vec<Option<Conn>>);

impl Sockets for TokioSockets<'_> {
    fn queue(&mut self, conn: ConnId, tx: &mut Vec<u8>, len: usize) -> bool {
        match self.0.get_mut(usize::from(conn.0)).and_then(Option::as_mut) {
            Some(c) if c.is_open() => {
                c.queue(tx, len);
                true
            }
            _ => false,
        }
    }

    fn unsent(&self) -> usize {
        self.0.iter().flatten().map(Conn::unsent).sum()
    }

    fn unsent_on(&self, conn: ConnId) -> usize {
        self.0.get(usize::from(conn.0)).and_then(Option::as_ref).map_or(0, Conn::unsent)
    }

    fn close(&mut self, conn: ConnId) {
        if let Some(c) = self.0.get_mut(usize::from(conn.0)).and_then(Option::take) {
            log::debug!(target: CONN_LOG, "kprod: closing connection to {}", c.peer);
            if let Some((mut stream, rest)) = c.into_unsent() {
                // Let it finish writing on its own, for a bounded time.
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(LINGER, stream.write_all(&rest)).await;
                });
            }
        }
    }

    fn peer(&self, conn: ConnId) -> Option<&str> {
        self.0.get(usize::from(conn.0)).and_then(Option::as_ref).map(|c| c.peer.as_str())
    }

    fn rx(&mut self, conn: ConnId) -> Option<&mut Vec<u8>> {
        self.0.get_mut(usize::from(conn.0)).and_then(Option::as_mut).map(|c| &mut c.rx)
    }
}

/// A compression job's buffers back from the blocking pool, with the compressed length.
type Compressed = (JobBuffers, Option<usize>);

/// The driver task's state.
pub(super) struct Driver {
    shared: Arc<AsyncShared>,
    conns: Vec<Option<Conn>>,
    opts: Connector,
    inputs: Inputs,
    pump: Pump,
    timer: Pin<Box<Sleep>>,
    /// Buffers of the compression jobs the driver runs (`None` while one runs on the blocking
    /// pool), and the job running there.
    jobs: Option<JobBuffers>,
    job: Option<(CompressionJob, JoinHandle<Compressed>)>,
    /// Marks the driver stopped and fails what still waits, however the task ends: returned,
    /// panicked, or dropped unpolled or mid-await by a runtime shutting down.
    _stop: StopGuard,
}

impl Driver {
    /// A driver for `shared`'s engine. Build it outside the task and move it in: its stop
    /// guard then runs even if the runtime drops the task before its first poll.
    pub(super) fn new(shared: Arc<AsyncShared>, opts: Connector, connections: usize, max_request: usize) -> Self {
        Self {
            _stop: StopGuard(Arc::clone(&shared)),
            shared,
            conns: (0..connections).map(|_| None).collect(),
            opts,
            inputs: Inputs::default(),
            pump: Pump::new(max_request),
            timer: Box::pin(tokio::time::sleep(IDLE)),
            jobs: Some(JobBuffers::default()),
            job: None,
        }
    }

    /// Runs until `close` (or the last handle's drop) completes; every waiter is resolved when
    /// it returns or is dropped.
    pub(super) async fn run(mut self) {
        log::debug!("kprod: driver task started");
        loop {
            let (exit, timeout) = self.engine_round();
            self.dispatch();
            self.connect_queued();
            if exit {
                break;
            }
            let timeout = if self.inputs.is_empty() { timeout } else { Some(Duration::ZERO) };
            self.wait(timeout).await;
            // A busy producer always has input: let the runtime's other tasks run in between.
            tokio::task::consume_budget().await;
        }
        self.linger().await;
        log::debug!("kprod: driver task stopped");
    }

    /// Step 1 of a round, under the lock. Returns whether to stop, and how long to wait.
    fn engine_round(&mut self) -> (bool, Option<Duration>) {
        let shared = Arc::clone(&self.shared);
        let mut guard = shared.lock();
        let st = &mut *guard;
        let now = shared.clock.now();
        shared.clock.resync_wall();
        let had_inputs = self.apply_inputs(st, now);
        let round = self.pump.round(&mut TokioSockets(&mut self.conns), st, now);
        // A compression job: compressed without the lock, on the blocking pool (it takes
        // milliseconds), while the driver goes on; its result ends the next wait.
        if !round.exit {
            if let Some(mut bufs) = self.jobs.take() {
                match bufs.take(st, now) {
                    Some(job) => {
                        let task = tokio::task::spawn_blocking(move || {
                            let n = bufs.compress(job);
                            (bufs, n)
                        });
                        self.job = Some((job, task));
                    }
                    None => self.jobs = Some(bufs),
                }
            }
        }
        drop(guard);
        if had_inputs || round.progressed {
            shared.progress.notify_waiters();
        }
        (round.exit, wait_until(round.deadline, now))
    }

    fn apply_inputs(&mut self, st: &mut State, now: Instant) -> bool {
        let any = !self.inputs.is_empty();
        let inputs = (&mut self.inputs.connected, &mut self.inputs.readable);
        self.pump.feed(&mut TokioSockets(&mut self.conns), st, inputs, now);
        for (id, peer, down) in core::mem::take(&mut self.inputs.lost) {
            self.pump.book.link_down(st, id, &peer, down, now);
        }
        any
    }

    /// Whether the compression job on the blocking pool is done; if so, hands its result
    /// back. A failed task (a panic, or a runtime shutting down) loses the result: the batch
    /// waits out the engine's job timeout and the seal compresses it.
    fn poll_job(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((job, task)) = self.job.as_mut() else {
            return false;
        };
        let Poll::Ready(done) = Pin::new(task).poll(cx) else {
            return false;
        };
        let job = *job;
        self.job = None;
        self.jobs = Some(match done {
            Ok((bufs, n)) => {
                bufs.finish(&mut self.shared.lock(), job, n);
                bufs
            }
            Err(_) => JobBuffers::default(),
        });
        true
    }

    /// Step 2: resolve completions outside the lock, then tell `flush` waiters.
    fn dispatch(&mut self) {
        if self.pump.completed.is_empty() {
            return;
        }
        for done in self.pump.completed.drain(..) {
            done.dispatch_to(None);
        }
        self.shared.lock().dispatching = false;
        self.shared.progress.notify_waiters();
    }

    fn connect_queued(&mut self) {
        for (id, host, port, setup) in core::mem::take(&mut self.pump.to_connect) {
            // The engine's connection table grows on std: so does the socket table it keys.
            if usize::from(id.0) >= self.conns.len() {
                self.conns.resize_with(usize::from(id.0) + 1, || None);
            }
            match self.conns.get_mut(usize::from(id.0)) {
                Some(slot) => {
                    let c = Conn::connect(id, host, port, setup, &self.opts);
                    log::debug!(target: CONN_LOG, "kprod: connecting to {}", c.peer);
                    // A connection still in the slot is replaced (and closed by the drop).
                    *slot = Some(c);
                }
                None => {
                    let down = LinkDown::Connect(std::io::Error::other("no such connection slot"));
                    self.inputs.lost.push((id, format!("{host}:{port}"), down));
                }
            }
        }
    }

    /// Step 3: waits until the notification, the timer, or a connection has news.
    async fn wait(&mut self, timeout: Option<Duration>) {
        if let Some(t) = timeout {
            let at = TokioInstant::now().checked_add(t).unwrap_or_else(|| TokioInstant::now() + IDLE);
            self.timer.as_mut().reset(at);
        }
        let shared = Arc::clone(&self.shared);
        let mut notified = pin!(shared.wake.notified());
        poll_fn(|cx| {
            let mut ready = notified.as_mut().poll(cx).is_ready();
            if timeout.is_some() {
                ready |= self.timer.as_mut().poll(cx).is_ready();
            }
            ready |= self.poll_conns(cx);
            ready |= self.poll_job(cx);
            if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }

    /// Polls every connection; whether any has news for the engine.
    fn poll_conns(&mut self, cx: &mut Context<'_>) -> bool {
        let mut news = false;
        for slot in &mut self.conns {
            let Some(c) = slot.as_mut() else {
                continue;
            };
            let polled = c.poll(cx);
            if polled.connected {
                self.inputs.connected.push(c.id);
                news = true;
            }
            if polled.read && !self.inputs.readable.contains(&c.id) {
                self.inputs.readable.push(c.id);
                news = true;
            }
            news |= polled.wrote && self.pump.throttled;
            if let Some(down) = polled.lost {
                if let Some(c) = slot.take() {
                    self.inputs.lost.push((c.id, c.peer, down));
                }
                news = true;
            }
        }
        news
    }

    /// After close: lets the connections write what they still hold, for at most `LINGER`.
    async fn linger(&mut self) {
        let deadline = TokioInstant::now() + LINGER;
        for c in self.conns.iter_mut().filter_map(Option::take) {
            if let Some((mut stream, rest)) = c.into_unsent() {
                let _ = tokio::time::timeout_at(deadline, stream.write_all(&rest)).await;
            }
        }
    }
}

/// Marks the driver stopped however its task ends, and fails whatever still waits.
struct StopGuard(Arc<AsyncShared>);

impl Drop for StopGuard {
    fn drop(&mut self) {
        let left = self.0.lock().stop();
        if std::thread::panicking() {
            log::error!("kprod: the driver task panicked; {} batch(es) fail with Closed", left.len());
        } else if !left.is_empty() {
            log::warn!(
                "kprod: the driver task was stopped (runtime shut down?); {} batch(es) fail with Closed",
                left.len()
            );
        }
        for done in left {
            done.dispatch_to(None);
        }
        self.0.progress.notify_waiters();
    }
}
