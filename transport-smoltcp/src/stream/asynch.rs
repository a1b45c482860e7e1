//! The async driver over any `embedded_io_async` stream (feature `embedded-io-async`): for
//! embassy-net's `TcpSocket` and the TCP stacks of Wi-Fi/Ethernet chips. No heap, no threads;
//! it runs in an embassy executor (or any other).
//!
//! Two halves share the engine:
//! - [`AsyncProducer`]: the handle tasks send through. [`AsyncProducer::send`] waits while the
//!   buffer is full or the topic's metadata is pending (up to `max.block.ms`) and returns a
//!   [`Delivery`]: a future that resolves to the record's offset or the reason it failed.
//!   [`AsyncProducer::enqueue`] is the same without a future (the completion is still reported
//!   to the runner's callback). [`AsyncProducer::flush`] and [`AsyncProducer::close`] wait.
//! - [`Runner`]: owns the connector, the buffers and the open streams, and does all the IO in
//!   [`Runner::run`], one future to run beside the network stack's (e.g. in `join`, or its own
//!   task). It runs the core's drain loop (`Producer::drain`) after every input, as the other
//!   drivers do; only the links differ.
//!
//! # Design
//! - **Shared state without a heap.** The engine, the delivery table and the wakers sit in one
//!   `embassy_sync` blocking mutex (`M`: `NoopRawMutex` when every user runs on one executor,
//!   `CriticalSectionRawMutex` across executors or interrupts). Each call holds it briefly and
//!   never across an `.await`.
//! - **Completions.** `D` delivery slots (a const generic; ~40 bytes each), each with its waker.
//!   `send` claims one per record, and waits for one when all are taken, as it waits for
//!   buffer memory. A completion drained by the runner fills every slot whose record it covers
//!   and wakes that future. A [`Delivery`] dropped early gives its slot back when its record
//!   completes. Every accepted record still gets exactly one completion, reported to the
//!   runner's callback as [`Event::Completed`] whether or not a future waits for it.
//! - **Backpressure.** A `send` the engine refuses with a retriable error (buffer full,
//!   metadata pending) or that finds no free slot waits until the runner has done something
//!   (each runner step bumps an epoch and wakes the waiters) and tries again, until
//!   `max.block.ms`. Then it returns the last error.
//! - **IO.** Requests go out one frame at a time from one transmit buffer, as in the blocking
//!   stream driver; responses are reassembled per stream in its share of the receive buffer.
//!   When there is nothing to do at once, the runner awaits, in one `select`: on each open
//!   stream its pending write, else its `flush` after writes, else a `read`; the engine's next
//!   deadline on the [`Timer`]; and a kick from `send`/`flush`/`close`. Whatever finishes first
//!   is handled and the other futures are dropped: so **the stream's `read`, `write` and
//!   `flush` must be cancel-safe** (dropping an unfinished call loses no bytes), as
//!   embassy-net's `TcpSocket` is. A stream writing a request is not read meanwhile; Kafka
//!   answers a connection's requests in order and the answers to the few requests in flight
//!   fit the socket buffers, so the write finishes.
//! - **Connections.** The engine asks for connections during the drain; the runner opens
//!   them afterwards through the application's [`AsyncConnector`] (e.g. one calling
//!   embassy-net's `TcpSocket::connect`), one at a time, each bounded by `request.timeout.ms`
//!   ([`LinkError::ConnectTimeout`]). Engine connections to the same address share one stream
//!   (see the `stream` module), except with SASL, where each has its own. A stream that fails is handed back to the connector
//!   ([`Release::Broken`]) and its requests are retried by the engine.
//!
//! # Example
//! With embassy-net, `Socket` is `embassy_net::tcp::TcpSocket` (connected in the connector)
//! and the timer `EmbassyTimer` (feature `embassy-time`); `transport-smoltcp/EMBASSY.md` and the TAP test
//! (`tests/tap/src/embassy.rs`) have the complete program.
//! ```no_run
//! use core::time::Duration;
//! use embassy_futures::join::join;
//! use embassy_sync::blocking_mutex::raw::NoopRawMutex;
//! use kprod_core::config::Config;
//! use kprod_core::producer::{chunk_map_words, Producer, ProducerRecord, StaticStorage};
//! use kprod_core::time::Instant;
//! use kprod_smoltcp::asynch::{AsyncConnector, AsyncProducer, Event, Runner, Timer};
//! # struct Socket;
//! # impl embedded_io_async::ErrorType for Socket { type Error = embedded_io_async::ErrorKind; }
//! # impl embedded_io_async::Read for Socket { async fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
//! # impl embedded_io_async::Write for Socket {
//! #     async fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #     async fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # struct Clock;
//! # impl Timer for Clock { fn now(&self) -> Instant { Instant::ZERO } async fn at(&self, _: Instant) {} }
//!
//! /// Opens a TCP stream to a broker (embassy-net: `TcpSocket::new` + `connect`).
//! struct Connector;
//! impl AsyncConnector for Connector {
//!     type Stream = Socket;
//!     type Error = embedded_io_async::ErrorKind;
//!     async fn connect(&mut self, host: &str, port: u16) -> Result<Socket, Self::Error> {
//!         # let _ = (host, port);
//!         Ok(Socket)
//!     }
//! }
//!
//! async fn produce() {
//!     const MEMORY: usize = 16 * 1024;
//!     const BATCH: usize = 4 * 1024;
//!     // 2 brokers, 1 topic, 8 partitions, 2 connections, 16 batches, the arena, no compression.
//!     let mut storage = StaticStorage::<2, 1, 8, 2, 16, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>::new();
//!     let config = Config { buffer_memory: MEMORY, batch_size: BATCH, max_request_size: 8 * 1024, ..Config::default() };
//!     let engine = Producer::new(config.validate().unwrap(), &[("192.168.1.10", 9092)], storage.storage(), Instant::ZERO).unwrap();
//!     // 16 delivery slots; NoopRawMutex: the sender and the runner share one executor.
//!     let producer: AsyncProducer<'_, NoopRawMutex, Clock, _, 16> = AsyncProducer::new(engine, Clock);
//!     let (mut tx, mut rx) = ([0u8; 9 * 1024], [0u8; 4 * 1024]);
//!     let mut runner: Runner<'_, '_, '_, _, _, _, _, 16> = Runner::new(&producer, Connector, &mut tx, &mut rx).unwrap();
//!     let app = async {
//!         let record = ProducerRecord {
//!             topic: "sensors", partition: None, key: Some(b"t1"), value: Some(b"21.5"), headers: &[], timestamp: 0,
//!         };
//!         let delivery = producer.send(&record).await.unwrap(); // waits for buffer space
//!         let _offset = delivery.await; // Ok(offset) or the DeliveryError
//!         producer.close(producer.timer().now() + Duration::from_secs(5)).await;
//!     };
//!     let on_event = |e: Event<'_, _, _>| { /* log connection trouble */ let _ = e; };
//!     join(runner.run(on_event), app).await;
//! }
//! ```

mod deliveries;
mod io;
mod runner;
#[cfg(test)]
mod tests;
#[cfg(feature = "embassy-time")]
mod time;

use core::cell::RefCell;
use core::fmt;
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::{Context, Poll};

use embassy_futures::select::select;
use embassy_sync::blocking_mutex::raw::RawMutex;
use embassy_sync::blocking_mutex::Mutex;
use embassy_sync::waitqueue::{MultiWakerRegistration, WakerRegistration};
use embedded_io_async::{ErrorType, Read, Write};
use kprod_core::partitioner::{DefaultPartitioner, Partitioner};
use kprod_core::producer::{Producer, ProducerRecord, RecordId, SendError};
use kprod_core::time::Instant;

pub use deliveries::DeliveryResult;
pub use runner::Runner;
#[cfg(feature = "embassy-time")]
pub use time::EmbassyTimer;

pub use super::{Event, LinkError, NewError, Release};

/// Tasks that may wait on the producer at once without being woken needlessly (more still
/// work: they are all woken more often).
const WAITERS: usize = 4;

/// The driver's time source and timer, in the core's microsecond [`Instant`]s (any epoch,
/// monotonic). `EmbassyTimer` (feature `embassy-time`) is one.
pub trait Timer {
    /// The current time.
    fn now(&self) -> Instant;
    /// A future that completes at `deadline` (at once if it passed).
    fn at(&self, deadline: Instant) -> impl Future<Output = ()>;
}

/// Opens streams to brokers for the [`Runner`].
pub trait AsyncConnector {
    /// The stream. Its `read`, `write` and `flush` must be cancel-safe (module docs).
    type Stream: Read + Write;
    /// Why a connect failed (reported in [`LinkError::Connect`]).
    type Error: fmt::Debug;

    /// Opens a TCP stream to `host:port` (a broker address from the bootstrap list or the
    /// cluster's metadata). The runner gives up after `request.timeout.ms`
    /// ([`LinkError::ConnectTimeout`]) and drops this future.
    fn connect(&mut self, host: &str, port: u16) -> impl Future<Output = Result<Self::Stream, Self::Error>>;

    /// Takes back a stream the runner is done with (`how` says whether it could be used again
    /// as is). The default drops it.
    fn release(&mut self, stream: Self::Stream, how: Release) {
        let _ = how;
        drop(stream);
    }
}

/// The [`Event`] type of a runner with connector `C`.
pub type AsyncEventOf<'e, C> =
    Event<'e, <C as AsyncConnector>::Error, <<C as AsyncConnector>::Stream as ErrorType>::Error>;

/// Why [`AsyncProducer::send`] did not take a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SendFailed {
    /// The engine refused it ([`SendError`]; a retriable one after `max.block.ms` of waiting).
    Send(SendError),
    /// Every one of the `slots` delivery slots was still in use after `max.block.ms`: more
    /// records wait for their deliveries than the producer's `D` allows. Await deliveries
    /// sooner, or give the producer more slots.
    NoDeliverySlot {
        /// The producer's `D`.
        slots: usize,
    },
}

impl SendFailed {
    /// Whether waiting could help (see [`SendError::is_retriable`]).
    pub const fn is_retriable(&self) -> bool {
        match self {
            Self::Send(e) => e.is_retriable(),
            Self::NoDeliverySlot { .. } => true,
        }
    }
}

impl fmt::Display for SendFailed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Send(e) => write!(f, "{e}"),
            Self::NoDeliverySlot { slots } => {
                write!(f, "all {slots} delivery slots are in use (await deliveries, or raise the producer's D)")
            }
        }
    }
}

impl core::error::Error for SendFailed {}

impl From<SendError> for SendFailed {
    fn from(e: SendError) -> Self {
        Self::Send(e)
    }
}

/// Everything the tasks and the runner share, behind the mutex.
struct State<'a, P, const D: usize> {
    engine: Producer<'a, P>,
    deliveries: deliveries::Deliveries<D>,
    /// The runner waits for this (a send, flush or close happened).
    runner: WakerRegistration,
    kicked: bool,
    /// Tasks waiting for the runner to do something.
    waiters: MultiWakerRegistration<WAITERS>,
    /// Bumped by every runner step.
    epoch: u32,
    /// The runner returned: the producer is closed and every stream released.
    finished: bool,
}

impl<P, const D: usize> State<'_, P, D> {
    /// Something for the runner to do.
    fn kick(&mut self) {
        self.kicked = true;
        self.runner.wake();
    }

    /// The runner did something: waiters look again.
    fn changed(&mut self) {
        self.epoch = self.epoch.wrapping_add(1);
        self.waiters.wake();
    }
}

/// The async producer's handle: send, flush, close, and the engine's getters. Share it (`&`)
/// between the tasks that send and the [`Runner`]. `D` is the number of delivery slots
/// (records whose [`Delivery`] is pending at once).
pub struct AsyncProducer<'a, M: RawMutex, T: Timer, P: Partitioner = DefaultPartitioner, const D: usize = 16> {
    state: Mutex<M, RefCell<State<'a, P, D>>>,
    timer: T,
}

impl<M: RawMutex, T: Timer, P: Partitioner, const D: usize> fmt::Debug for AsyncProducer<'_, M, T, P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (pending, slots) = self.with(|st| (st.engine.pending_batches(), st.deliveries.in_use()));
        f.debug_struct("AsyncProducer")
            .field("pending_batches", &pending)
            .field("delivery_slots_in_use", &slots)
            .finish_non_exhaustive()
    }
}

impl<'a, M: RawMutex, T: Timer, P: Partitioner, const D: usize> AsyncProducer<'a, M, T, P, D> {
    /// A producer around `engine`, on `timer`. Build a [`Runner`] on it next.
    pub fn new(engine: Producer<'a, P>, timer: T) -> Self {
        let state = State {
            engine,
            deliveries: deliveries::Deliveries::new(),
            runner: WakerRegistration::new(),
            kicked: false,
            waiters: MultiWakerRegistration::new(),
            epoch: 0,
            finished: false,
        };
        Self { state: Mutex::new(RefCell::new(state)), timer }
    }

    /// Runs `f` on the shared state. Never held across an `.await`; not reentrant (the
    /// runner's callback must not call the producer).
    fn with<R>(&self, f: impl FnOnce(&mut State<'a, P, D>) -> R) -> R {
        self.state.lock(|cell| f(&mut cell.borrow_mut()))
    }

    // ---- getters ----

    /// Runs `f` on the engine, for its getters (metrics, partition counts, the fatal error...).
    pub fn engine<R>(&self, f: impl FnOnce(&Producer<'a, P>) -> R) -> R {
        self.with(|st| f(&st.engine))
    }

    /// The timer.
    pub const fn timer(&self) -> &T {
        &self.timer
    }

    /// Batches not complete yet.
    pub fn pending_batches(&self) -> usize {
        self.with(|st| st.engine.pending_batches())
    }

    /// Delivery slots in use (futures pending, or results not taken yet).
    pub fn deliveries_in_use(&self) -> usize {
        self.with(|st| st.deliveries.in_use())
    }

    // ---- commands ----

    /// Accepts a record and returns the future of its delivery. Waits while the buffer is
    /// full, the topic's metadata is pending or all `D` delivery slots are taken, up to
    /// `max.block.ms`; then (or at once, for an error waiting cannot cure) fails.
    pub async fn send(&self, record: &ProducerRecord<'_>) -> Result<Delivery<'_, 'a, M, T, P, D>, SendFailed> {
        let (slot, id) = self
            .accept(
                record,
                |st| st.deliveries.free().ok_or(SendFailed::NoDeliverySlot { slots: D }),
                |st, slot, id| {
                    st.deliveries.claim(slot, id);
                },
            )
            .await?;
        Ok(Delivery { producer: self, slot, id, taken: false })
    }

    /// Accepts a record without a [`Delivery`] future: its completion is reported only to the
    /// runner's callback. Waits as [`AsyncProducer::send`] does (but needs no slot).
    pub async fn enqueue(&self, record: &ProducerRecord<'_>) -> Result<RecordId, SendError> {
        let sent = self.accept(record, |_| Ok(()), |_, (), _| {}).await;
        sent.map(|((), id)| id).map_err(|e| match e {
            SendFailed::Send(e) => e,
            // `accept` only fails with what the engine or `reserve` said, and `reserve` cannot.
            SendFailed::NoDeliverySlot { .. } => SendError::BufferFull,
        })
    }

    /// The waiting loop of `send` and `enqueue`: `reserve` what the record needs besides
    /// the engine, offer it to the engine, `commit` on success, wait and retry on a
    /// retriable refusal until `max.block.ms`.
    async fn accept<R: Copy>(
        &self,
        record: &ProducerRecord<'_>,
        reserve: impl Fn(&State<'a, P, D>) -> Result<R, SendFailed>,
        commit: impl Fn(&mut State<'a, P, D>, R, RecordId),
    ) -> Result<(R, RecordId), SendFailed> {
        let start = self.timer.now();
        let deadline = start + self.with(|st| st.engine.config().max_block);
        let mut first = true;
        loop {
            let now = self.timer.now();
            let tried = self.with(|st| {
                let epoch = st.epoch;
                let offered = reserve(st).and_then(|r| {
                    let id = st.engine.send(record, now)?;
                    commit(st, r, id);
                    Ok((r, id))
                });
                // Accepted, a batch may be ready; refused the first time, the engine may want
                // metadata. A retry refused again changes nothing for the runner: waking it
                // would only wake this send again (a busy loop until something frees up).
                if offered.is_ok() || first {
                    st.kick();
                }
                offered.map_err(|e| (e, epoch))
            });
            first = false;
            match tried {
                Ok(accepted) => return Ok(accepted),
                Err((e, epoch)) if e.is_retriable() && now < deadline => {
                    let changed = self.wait_until(|st| st.epoch != epoch);
                    let _ = select(changed, self.timer.at(deadline)).await;
                }
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// Makes every buffered record sendable now (ignoring `linger.ms`) and waits until every
    /// batch is complete.
    pub async fn flush(&self) {
        let now = self.timer.now();
        self.with(|st| {
            st.engine.flush(now);
            st.kick();
        });
        self.wait_until(|st| st.engine.pending_batches() == 0 || st.finished).await;
    }

    /// Closes gracefully: no more sends; buffered records go out; whatever is not complete at
    /// `deadline` fails with `Closed`. Waits until the runner has finished (every completion
    /// reported, every stream released).
    pub async fn close(&self, deadline: Instant) {
        let now = self.timer.now();
        self.with(|st| {
            st.engine.close(deadline, now);
            st.kick();
        });
        self.wait_until(|st| st.finished).await;
    }

    /// Waits until `done` holds, looking again after every runner step.
    async fn wait_until(&self, done: impl Fn(&State<'a, P, D>) -> bool) {
        poll_fn(|cx| {
            self.with(|st| {
                if done(st) {
                    return Poll::Ready(());
                }
                st.waiters.register(cx.waker());
                Poll::Pending
            })
        })
        .await;
    }
}

/// The future of one record's delivery, from [`AsyncProducer::send`]: the record's offset
/// (-1 if unknown, with `acks=0`) or why it failed. Dropping it is fine: the record is still
/// produced (or fails) and its slot comes free when it completes.
#[must_use = "a Delivery does nothing unless awaited; drop it to ignore the outcome"]
pub struct Delivery<'p, 'a, M: RawMutex, T: Timer, P: Partitioner, const D: usize> {
    producer: &'p AsyncProducer<'a, M, T, P, D>,
    slot: usize,
    id: RecordId,
    taken: bool,
}

impl<M: RawMutex, T: Timer, P: Partitioner, const D: usize> Delivery<'_, '_, M, T, P, D> {
    /// The record's id (its batch and index).
    pub const fn id(&self) -> RecordId {
        self.id
    }
}

impl<M: RawMutex, T: Timer, P: Partitioner, const D: usize> fmt::Debug for Delivery<'_, '_, M, T, P, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery").field("id", &self.id).field("taken", &self.taken).finish_non_exhaustive()
    }
}

impl<M: RawMutex, T: Timer, P: Partitioner, const D: usize> Future for Delivery<'_, '_, M, T, P, D> {
    type Output = DeliveryResult;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<DeliveryResult> {
        assert!(!self.taken, "Delivery polled after it completed");
        let slot = self.slot;
        match self.producer.with(|st| st.deliveries.take(slot, cx.waker())) {
            Some(result) => {
                self.taken = true;
                // The slot is free: a send waiting for one may go on.
                self.producer.with(State::changed);
                Poll::Ready(result)
            }
            None => Poll::Pending,
        }
    }
}

impl<M: RawMutex, T: Timer, P: Partitioner, const D: usize> Drop for Delivery<'_, '_, M, T, P, D> {
    fn drop(&mut self) {
        if !self.taken {
            let slot = self.slot;
            self.producer.with(|st| {
                if st.deliveries.abandon(slot) {
                    st.changed();
                }
            });
        }
    }
}
