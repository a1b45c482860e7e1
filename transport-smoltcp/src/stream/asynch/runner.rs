//! [`Runner`]: the async driver's IO loop. Each step hands the engine its timers and runs
//! the core's drain into the streams ([`super::io::DrainLinks`]); then the runner makes the
//! connects asked for, or waits for a stream, the engine's next deadline or a kick.

use core::future::{pending, poll_fn};
use core::task::Poll;

use embassy_futures::select::{select, select3, Either, Either3};
use embassy_futures::yield_now;
use embassy_sync::blocking_mutex::raw::RawMutex;
use kprod_core::partitioner::Partitioner;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::Budget;
use kprod_core::time::Instant;

use super::io::{DrainLinks, Io, LinkErrorOf, Outcome};
use super::{AsyncConnector, AsyncEventOf, AsyncProducer, Event, LinkError, NewError, Release, Timer};
use crate::stream::link::{Host, Link};
use crate::stream::MAX_FRAMES_PER_POLL;

/// Rounds of transmit-then-events in one step (as the blocking stream driver).
const MAX_ROUNDS: usize = 8;

/// The drain's budget: every event is handled, frames and rounds are bounded.
const BUDGET: Budget = Budget { frames: MAX_FRAMES_PER_POLL, events: usize::MAX, rounds: MAX_ROUNDS };

/// The IO half of the async driver: at most `N` open streams from the connector, one
/// transmit buffer, a receive buffer split between the `N` stream slots (sizes: the `stream`
/// module docs). Call [`Runner::run`] once.
pub struct Runner<'p, 'a, 'r, M, T, C, P, const D: usize, const N: usize = 1>
where
    M: RawMutex,
    T: Timer,
    C: AsyncConnector,
    P: Partitioner,
{
    producer: &'p AsyncProducer<'a, M, T, P, D>,
    io: Io<'r, C, N>,
}

impl<M: RawMutex, T: Timer, C: AsyncConnector, P: Partitioner, const D: usize, const N: usize> core::fmt::Debug
    for Runner<'_, '_, '_, M, T, C, P, D, N>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Runner")
            .field("open_streams", &self.io.slots.open_streams())
            .field("tx_pending", &self.io.slots.pending)
            .finish_non_exhaustive()
    }
}

impl<'p, 'a, 'r, M, T, C, P, const D: usize, const N: usize> Runner<'p, 'a, 'r, M, T, C, P, D, N>
where
    M: RawMutex,
    T: Timer,
    C: AsyncConnector,
    P: Partitioner,
{
    /// The runner of `producer`, opening streams with `connector`. `tx` holds one request
    /// frame and `rx` is split evenly between the `N` stream slots.
    pub fn new(
        producer: &'p AsyncProducer<'a, M, T, P, D>,
        connector: C,
        tx: &'r mut [u8],
        rx: &'r mut [u8],
    ) -> Result<Self, NewError> {
        crate::stream::check_buffers::<N>(tx, rx)?;
        Ok(Self { producer, io: Io::new(connector, tx, rx) })
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.io.slots.open_streams()
    }

    /// The connector.
    pub const fn connector(&self) -> &C {
        &self.io.connector
    }

    /// Runs the producer's IO until it is closed ([`AsyncProducer::close`]): then every
    /// completion has been reported, every stream is released, and this returns. Completions
    /// (also delivered to the [`super::Delivery`] futures), connection trouble and the fatal
    /// error go to `on_event`, which must not call the producer.
    pub async fn run(&mut self, mut on_event: impl FnMut(AsyncEventOf<'_, C>)) {
        loop {
            let busy = self.step(&mut on_event);
            if let Some(conn) = self.io.connects.pop_front() {
                self.connect(conn, &mut on_event).await;
                continue;
            }
            if self.producer.with(|st| st.engine.closed()) && self.io.slots.pending.is_none() {
                self.io.release_all(Release::Clean);
                self.producer.with(|st| {
                    st.finished = true;
                    st.changed();
                });
                return;
            }
            if busy {
                // Work is left: let the other tasks (the network stack) run first.
                yield_now().await;
            } else {
                self.wait(&mut on_event).await;
            }
        }
    }

    /// The engine's timers and its drain into the streams, then the waiters are woken.
    /// Returns whether work is left that needs no waiting.
    fn step(&mut self, on_event: &mut impl FnMut(AsyncEventOf<'_, C>)) -> bool {
        let now = self.producer.timer.now();
        let io = &mut self.io;
        self.producer.with(|st| {
            st.kicked = false;
            st.engine.handle_timeout(now);
            let mut links = DrainLinks { io, deliveries: &mut st.deliveries, on_event, busy: false };
            let drained = st.engine.drain(&mut links, now, BUDGET);
            let busy = links.busy;
            // A frame waiting for its stream holds the rest up: no reason to go on at once.
            let blocked = io.slots.pending.is_some() && !busy;
            for conn in core::mem::take(&mut io.lost) {
                st.engine.handle_disconnected(conn, now);
            }
            st.changed();
            busy || (drained.backlog && !blocked)
        })
    }

    /// Waits for a stream's IO, the engine's next deadline or a kick, and handles what came.
    async fn wait(&mut self, on_event: &mut impl FnMut(AsyncEventOf<'_, C>)) {
        let producer = self.producer;
        let deadline = producer.with(|st| st.engine.poll_timeout());
        let timer = async {
            match deadline {
                Some(t) => producer.timer.at(t).await,
                None => pending().await,
            }
        };
        let kick = poll_fn(|cx| {
            producer.with(|st| {
                if st.kicked {
                    return Poll::Ready(());
                }
                st.runner.register(cx.waker());
                Poll::Pending
            })
        });
        if let Either3::First((i, outcome)) = select3(self.io.wait_any(), timer, kick).await {
            self.handle(i, outcome, on_event);
        }
    }

    /// What stream slot `i`'s IO finished with.
    fn handle(
        &mut self,
        i: usize,
        outcome: Outcome<<C::Stream as embedded_io_async::ErrorType>::Error>,
        on_event: &mut impl FnMut(AsyncEventOf<'_, C>),
    ) {
        let share = self.io.share();
        let Some(link) = self.io.slots.links[i].as_mut() else {
            return;
        };
        let error = match outcome {
            Outcome::Wrote(Ok(0)) => LinkError::WriteZero,
            Outcome::Wrote(Ok(n)) => {
                link.dirty = true;
                self.io.slots.wrote(n);
                return;
            }
            Outcome::Flushed(Ok(())) => {
                link.dirty = false;
                return;
            }
            Outcome::Wrote(Err(e)) | Outcome::Flushed(Err(e)) => LinkError::Write(e),
            Outcome::Read(Ok(0)) => LinkError::Closed,
            Outcome::Read(Ok(n)) => {
                link.rx_len += n.min(share - link.rx_len);
                let now = self.producer.timer.now();
                let window = &mut self.io.rx[i * share..(i + 1) * share];
                // Each whole frame goes to the engine, which consumes all of it (or, finding it
                // broken, drops its connection: an Event::Close follows).
                let dispatched: Result<(), LinkErrorOf<C>> = self.producer.with(|st| {
                    link.dispatch(window, |conn, frame| {
                        let _ = st.engine.handle_read(conn, frame, now);
                    })
                });
                match dispatched {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Outcome::Read(Err(e)) => LinkError::Read(e),
        };
        self.fail(i, error, on_event);
    }

    /// Closes slot `i`'s stream because it failed; the engine hears its connections are gone.
    fn fail(&mut self, i: usize, error: LinkErrorOf<C>, on_event: &mut impl FnMut(AsyncEventOf<'_, C>)) {
        let users = self.io.fail_link(i, error, on_event);
        let now = self.producer.timer.now();
        self.producer.with(|st| {
            for &conn in &users {
                st.engine.handle_disconnected(conn, now);
            }
        });
    }

    /// Makes the connect the engine asked for `conn`: shares the stream already open to its
    /// address, or opens one in a free slot (bounded by `request.timeout.ms`).
    async fn connect(&mut self, conn: ConnId, on_event: &mut impl FnMut(AsyncEventOf<'_, C>)) {
        let producer = self.producer;
        let address = producer.with(|st| st.engine.address(conn).map(|(h, p)| (Host::try_from(h), p)));
        self.io.detach(conn);
        let opened = match address {
            None => Err(None),
            Some((Err(_), port)) => Err(Some((Host::new(), port, LinkError::NoAddress))),
            Some((Ok(host), port)) => self.open(conn, host, port).await,
        };
        let now = producer.timer.now();
        producer.with(|st| match opened {
            Ok(()) => st.engine.handle_connected(conn, now),
            Err(_) => st.engine.handle_disconnected(conn, now),
        });
        if let Err(Some((host, port, error))) = opened {
            on_event(Event::Link { host: &host, port, error });
        }
    }

    /// Gives `conn` a stream to `host:port`. On failure, what to report (nothing if the engine
    /// no longer names the connection).
    async fn open(&mut self, conn: ConnId, host: Host, port: u16) -> Result<(), Option<(Host, u16, LinkErrorOf<C>)>> {
        // SASL authenticates a TCP connection: an engine connection that shared an
        // authenticated stream would run its own handshake on it. Each gets its own stream.
        let sasl = self.producer.with(|st| st.engine.config().sasl.enabled);
        match if sasl { None } else { self.io.slots.share(conn, &host, port) } {
            Some(true) => return Ok(()),
            Some(false) => return Err(Some((host, port, LinkError::ShareLimit))),
            None => {}
        }
        let Some(i) = self.io.slots.free_slot() else {
            return Err(Some((host, port, LinkError::NoFreeStream)));
        };
        let timeout = self.producer.with(|st| st.engine.config().request_timeout);
        let give_up: Instant = self.producer.timer.now() + timeout;
        let connect = self.io.connector.connect(&host, port);
        match select(connect, self.producer.timer.at(give_up)).await {
            Either::First(Ok(stream)) => {
                let mut link = Link::new(stream, host, port);
                // A new link has room for its first user (MAX_SHARES_PER_STREAM >= 1).
                let _ = link.users.push(conn);
                self.io.slots.links[i] = Some(link);
                Ok(())
            }
            Either::First(Err(e)) => Err(Some((host, port, LinkError::Connect(e)))),
            Either::Second(()) => Err(Some((host, port, LinkError::ConnectTimeout))),
        }
    }
}
