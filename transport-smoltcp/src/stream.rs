//! A blocking driver over any [`embedded_io`] stream: hardware TCP/IP chips such as the WIZnet
//! W5500 present TCP as a byte stream, and this driver runs the engine over them.
//!
//! [`StreamProducer`] owns the engine ([`kprod_core::producer::Producer`]), a [`Connector`]
//! that opens streams, a [`Clock`], and two byte buffers from the caller. Nothing is allocated:
//! the engine's storage, the buffers and up to `N` open streams are all the memory it uses.
//!
//! # Streams
//! - **Connector mode**: the application implements [`Connector::connect`] (`host`, `port`) →
//!   stream, e.g. by resolving the host and opening a W5500 socket. The driver keeps at most `N`
//!   streams open at once (a const parameter, 1 by default; one per broker the producer writes
//!   to is enough).
//! - **Bootstrap-only mode**: [`Bootstrap`] holds one stream the application opened itself;
//!   the engine may only use brokers at that stream's address (see its docs).
//!
//! Every engine connection to the same `host:port` shares one stream. The engine bootstraps on
//! a synthetic node and then connects to each leader by node id, so a single broker is asked
//! for twice. Kafka answers one connection's requests in order, so the driver notes which engine
//! connection sent each request that gets an answer (all but Produce with `acks=0`) and hands
//! each response frame to the oldest; when an engine connection lets go of the stream (idle,
//! request timeout), late answers to its requests are dropped. A single-broker cluster thus
//! needs one stream, and a cluster of `B` brokers `B` streams.
//!
//! With SASL (`security.protocol=SASL_PLAINTEXT`) nothing is shared: SASL authenticates a TCP
//! connection, so each engine connection has a stream of its own (one that shared an
//! authenticated stream would run its own handshake on it, and the broker would take that for
//! a re-authentication). Then a single broker needs two streams (bootstrap and broker), a
//! cluster of `B` brokers `B + 1`, and [`Bootstrap`]'s one stream cannot serve SASL.
//!
//! # Blocking, and never stuck
//! `embedded-io` streams block, and have no readiness callback. The driver therefore requires
//! [`ReadReady`] and [`WriteReady`] (on a W5500 these are the socket's RX-received and TX-free
//! size registers) and only calls `read` / `write` when they say it will not block: a
//! [`StreamProducer::poll`] never waits for a broker, so timers (linger, retries, request and
//! delivery timeouts) fire on time and frames go out while responses are awaited. The calls
//! that do block are [`Connector::connect`] (the engine's connect requests are answered within
//! the poll), the stream's `flush` (called once per poll on streams written to; it should not
//! wait for the peer's acknowledgement) and the `*_blocking` helpers, which loop on `poll` and
//! let the [`Clock`] idle in between.
//!
//! # Bounded work
//! One `poll` does at most: a `handle_timeout`; [`MAX_READS_PER_POLL`] reads per stream and the
//! whole frames they complete; [`MAX_FRAMES_PER_POLL`] request frames and
//! [`MAX_WRITES_PER_POLL`] `write` calls; the engine's events (one per completed batch, or a
//! connect); a `flush` per stream written. [`PollStatus::busy`] says whether to call again
//! without idling.
//!
//! # Buffers
//! - Transmit (`tx`): the engine encodes one whole request frame into it and the driver writes
//!   it out, possibly over several polls; the next frame waits until it is out. It must hold
//!   the largest request and at least [`MIN_TX_BUFFER`]: `max.request.size + 2 KiB` covers any
//!   Produce request (the engine counts each partition's and topic's framing within
//!   `max.request.size`; without `alloc` a request also carries at most 128 partitions). A
//!   frame that does not fit is reported
//!   ([`Event::TxBufferTooSmall`]) and its batches fail with `DeliveryTimeout` when their time
//!   is up.
//! - Receive (`rx`): split evenly between the `N` streams; each share holds the response being
//!   read. It must hold the largest response: ApiVersions from Kafka 4.x is under 1 KiB,
//!   Produce responses are small, Metadata grows with the topics' partitions (roughly
//!   40 bytes per partition plus 20 per broker). At least [`MIN_RX_PER_STREAM`]; 4 KiB is ample
//!   for a few topics of a few dozen partitions. A frame that does not fit closes the stream
//!   ([`LinkError::FrameTooLarge`], with the size needed).
//!
//! # Completions
//! Every record [`StreamProducer::send`] accepted gets exactly one [`Event::Completed`] (a
//! [`Completion`](kprod_core::producer::Completion), delivered or failed) through the `on_event`
//! callback of `poll` or a blocking helper, as long as the application keeps polling until
//! [`StreamProducer::close`] returns. Dropping the driver earlier drops pending records without
//! a completion.
//!
//! # A driver loop
//! ```no_run
//! use core::time::Duration;
//! use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};
//! use kprod_core::config::Config;
//! use kprod_core::producer::{chunk_map_words, Producer, ProducerRecord, StaticStorage};
//! use kprod_core::time::Instant;
//! use kprod_smoltcp::stream::{Bootstrap, Event, StreamProducer};
//!
//! # struct Socket;
//! # impl ErrorType for Socket { type Error = embedded_io::ErrorKind; }
//! # impl Read for Socket { fn read(&mut self, _: &mut [u8]) -> Result<usize, Self::Error> { Ok(0) } }
//! # impl ReadReady for Socket { fn read_ready(&mut self) -> Result<bool, Self::Error> { Ok(false) } }
//! # impl Write for Socket {
//! #     fn write(&mut self, b: &[u8]) -> Result<usize, Self::Error> { Ok(b.len()) }
//! #     fn flush(&mut self) -> Result<(), Self::Error> { Ok(()) }
//! # }
//! # impl WriteReady for Socket { fn write_ready(&mut self) -> Result<bool, Self::Error> { Ok(true) } }
//! # fn open_socket() -> Socket { Socket }
//! # fn ticks_us() -> u64 { 0 }
//! const MEMORY: usize = 16 * 1024;
//! const BATCH: usize = 4 * 1024;
//! // 2 brokers, 1 topic, 8 partitions, 2 connections, 16 batches, the arena, no compression.
//! let mut engine_storage =
//!     StaticStorage::<2, 1, 8, 2, 16, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>::new();
//! let storage = engine_storage.storage();
//! let config = Config { buffer_memory: MEMORY, batch_size: BATCH, max_request_size: 8 * 1024, ..Config::default() };
//! let engine = Producer::new(config.validate().unwrap(), &[("192.168.1.10", 9092)], storage, Instant::ZERO).unwrap();
//!
//! // One W5500 socket, already connected to the broker: bootstrap-only mode.
//! let connector = Bootstrap::new(open_socket(), "192.168.1.10", 9092);
//! let clock = || Instant::from_micros(ticks_us());
//! let (mut tx, mut rx) = ([0u8; 9 * 1024], [0u8; 4 * 1024]);
//! let mut producer: StreamProducer<'_, _, _> = StreamProducer::new(engine, connector, clock, &mut tx, &mut rx).unwrap();
//!
//! let mut on_event = |e: Event<'_, _, _>| match e {
//!     Event::Completed(c) => { /* match RecordIds with c.covers(id), c.offset_of(id) */ let _ = c; }
//!     other => { /* log connection trouble, fatal errors */ let _ = other; }
//! };
//! let record = ProducerRecord {
//!     topic: "sensors", partition: None, key: Some(b"t1"), value: Some(b"21.5"), headers: &[], timestamp: 0,
//! };
//! let _id = producer.send_blocking(&record, Duration::from_secs(10), &mut on_event);
//! loop {
//!     let status = producer.poll(&mut on_event); // bounded work; call it from the main loop
//!     if !status.busy {
//!         break; // sleep until status.next_timeout or the next tick, then poll again
//!     }
//! }
//! let deadline = Instant::from_micros(ticks_us()) + Duration::from_secs(5);
//! producer.close(deadline, &mut on_event);
//! ```

#[cfg(feature = "embedded-io-async")]
pub mod asynch;
mod bootstrap;
mod event;
mod io;
mod link;
mod slots;
mod streams;
#[cfg(test)]
mod tests;

use core::time::Duration;

use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};
use kprod_core::partitioner::{DefaultPartitioner, Partitioner};
use kprod_core::producer::RecordId;
use kprod_core::producer::{Producer, ProducerRecord, SendError};
use kprod_core::time::Instant;

pub use bootstrap::{Bootstrap, BootstrapError};
pub use event::{Event, FlushError, LinkError, NewError, PollStatus};

use streams::Streams;

/// The smallest transmit buffer accepted (an ApiVersions or Metadata request fits).
pub const MIN_TX_BUFFER: usize = 512;
/// The smallest share of the receive buffer per stream accepted (Kafka 4.x's ApiVersions
/// response fits).
pub const MIN_RX_PER_STREAM: usize = 1024;
/// Responses one stream may owe at once (the engine allows 16 in flight per connection).
pub const MAX_REQUESTS_PER_STREAM: usize = 64;
/// Engine connections that may share one stream (the engine uses two per broker at most: the
/// bootstrap node and the broker's own id).
pub const MAX_SHARES_PER_STREAM: usize = 4;
/// Request frames one `poll` hands to the streams at most.
pub const MAX_FRAMES_PER_POLL: usize = 16;
/// `write` calls one `poll` makes at most.
pub const MAX_WRITES_PER_POLL: usize = 64;
/// `read` calls one `poll` makes per stream at most.
pub const MAX_READS_PER_POLL: usize = 4;
/// How long the blocking helpers let the clock idle at most between polls, by default.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(1);

/// The driver's time source: a monotonic clock (any epoch) in the core's microsecond
/// [`Instant`]s. A closure `FnMut() -> Instant` is a clock.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> Instant;

    /// Called by the blocking helpers when a poll found nothing to do: wait (sleep, `wfi`, run
    /// other work) until `until` at the latest. Returning early is fine; the default returns at
    /// once (a busy loop).
    fn idle(&mut self, until: Instant) {
        let _ = until;
    }
}

impl<F: FnMut() -> Instant> Clock for F {
    fn now(&mut self) -> Instant {
        self()
    }
}

/// Opens streams to brokers for the driver.
pub trait Connector {
    /// The stream: `read`/`write` may block, `read_ready`/`write_ready` must not.
    type Stream: Read + Write + ReadReady + WriteReady;
    /// Why a connect failed (reported in [`LinkError::Connect`]).
    type Error: core::fmt::Debug;

    /// Opens a TCP stream to `host:port` (a broker address the engine got from the bootstrap
    /// list or the cluster's metadata). Blocks until connected or failed; keep its timeout
    /// short (the engine retries with backoff).
    fn connect(&mut self, host: &str, port: u16) -> Result<Self::Stream, Self::Error>;

    /// Whether `connect` could ever serve `host:port`, decided without connecting; the default
    /// says yes. The driver asks before it looks for a free stream slot, so an address the
    /// connector never serves is reported as [`LinkError::Connect`] with this error rather than
    /// as [`LinkError::NoFreeStream`].
    fn can_reach(&self, host: &str, port: u16) -> Result<(), Self::Error> {
        let _ = (host, port);
        Ok(())
    }

    /// Takes back a stream the driver is done with. The default drops it (closing it, for
    /// streams that close on drop); `how` says whether it could be used again as is.
    fn release(&mut self, stream: Self::Stream, how: Release) {
        let _ = how;
        drop(stream);
    }
}

/// The state a stream is handed back in ([`Connector::release`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Release {
    /// Whole frames only, no response owed: the stream may serve a later connect as it is.
    Clean,
    /// It failed, or is mid-frame or owes responses: close it.
    Broken,
}

/// Checks a driver's `N` stream slots, transmit buffer and receive buffer (split between the
/// slots) against the minimums.
fn check_buffers<const N: usize>(tx: &[u8], rx: &[u8]) -> Result<(), NewError> {
    if N == 0 {
        return Err(NewError::NoStreams);
    }
    if tx.len() < MIN_TX_BUFFER {
        return Err(NewError::TxBufferTooSmall { len: tx.len() });
    }
    let per_stream = rx.len() / N;
    if per_stream < MIN_RX_PER_STREAM {
        return Err(NewError::RxBufferTooSmall { per_stream });
    }
    Ok(())
}

/// The [`Event`] type of a driver with connector `C`.
pub type EventOf<'e, C> = Event<'e, <C as Connector>::Error, <<C as Connector>::Stream as ErrorType>::Error>;

/// The blocking producer over `embedded-io` streams: at most `N` open streams, borrowed
/// buffers, the engine's storage. See the module docs for the loop and the buffer sizes.
pub struct StreamProducer<'a, C: Connector, K: Clock, const N: usize = 1, P: Partitioner = DefaultPartitioner> {
    engine: Producer<'a, P>,
    /// Everything else: kept apart, so that a poll lends it to the engine's drain as its links.
    streams: Streams<'a, C, K, N>,
    poll_interval: Duration,
}

impl<C: Connector, K: Clock, const N: usize, P: Partitioner> core::fmt::Debug for StreamProducer<'_, C, K, N, P> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StreamProducer")
            .field("open_streams", &self.open_streams())
            .field("pending_batches", &self.engine.pending_batches())
            .field("tx_pending", &self.streams.slots.pending)
            .finish_non_exhaustive()
    }
}

impl<'a, C: Connector, K: Clock, const N: usize, P: Partitioner> StreamProducer<'a, C, K, N, P> {
    /// A driver for `engine`, opening streams with `connector`. `tx` holds one request frame
    /// and `rx` is split evenly between the `N` stream slots (sizes: module docs).
    pub fn new(
        engine: Producer<'a, P>,
        connector: C,
        clock: K,
        tx: &'a mut [u8],
        rx: &'a mut [u8],
    ) -> Result<Self, NewError> {
        check_buffers::<N>(tx, rx)?;
        let exclusive = engine.config().sasl.enabled;
        let streams = Streams::new(connector, clock, tx, rx, exclusive);
        Ok(Self { engine, streams, poll_interval: DEFAULT_POLL_INTERVAL })
    }

    // ---- getters ----

    /// The engine, for its getters (metrics, partition counts, the fatal error...).
    pub const fn engine(&self) -> &Producer<'a, P> {
        &self.engine
    }

    /// The connector.
    pub const fn connector(&self) -> &C {
        &self.streams.connector
    }

    /// The connector, e.g. to change where it connects.
    pub fn connector_mut(&mut self) -> &mut C {
        &mut self.streams.connector
    }

    /// The current time on the driver's clock.
    pub fn now(&mut self) -> Instant {
        self.streams.clock.now()
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.streams.open_streams()
    }

    /// Batches not complete yet.
    pub const fn pending_batches(&self) -> usize {
        self.engine.pending_batches()
    }

    /// Whether a request frame is still being written.
    pub const fn is_writing(&self) -> bool {
        self.streams.slots.pending.is_some()
    }

    /// Sets how long the blocking helpers let the clock idle at most between two polls (the
    /// readiness polling interval; default [`DEFAULT_POLL_INTERVAL`]).
    pub fn set_poll_interval(&mut self, interval: Duration) {
        self.poll_interval = interval;
    }

    // ---- commands ----

    /// Accepts a record, or says why not. `Ok` means exactly one completion event will cover
    /// it. On a retriable error ([`SendError::is_retriable`]) poll and call again, up to
    /// `max.block.ms` (or use [`StreamProducer::send_blocking`]).
    pub fn send(&mut self, record: &ProducerRecord<'_>) -> Result<RecordId, SendError> {
        let now = self.now();
        self.engine.send(record, now)
    }

    /// Makes every buffered record sendable now (ignoring `linger.ms`); keep polling.
    pub fn flush(&mut self) {
        let now = self.now();
        self.engine.flush(now);
    }

    /// Starts a graceful close: no more sends; what is not complete at `deadline` fails with
    /// `Closed`. Keep polling until [`StreamProducer::is_closed`] (or use
    /// [`StreamProducer::close`]).
    pub fn begin_close(&mut self, deadline: Instant) {
        let now = self.now();
        self.engine.close(deadline, now);
    }

    /// Whether a close has completed: every batch complete, nothing left to write, every
    /// stream released.
    pub fn is_closed(&self) -> bool {
        self.engine.closed() && !self.is_writing() && self.open_streams() == 0
    }

    /// Does bounded work (see the module docs): timers, writes, reads, then the engine's
    /// outputs in its drain order. Completions and connection trouble go to `on_event`.
    pub fn poll(&mut self, mut on_event: impl FnMut(EventOf<'_, C>)) -> PollStatus {
        let now = self.now();
        self.streams.write_budget = MAX_WRITES_PER_POLL;
        self.engine.handle_timeout(now);
        let mut busy = self.write_pending(now, &mut on_event);
        busy |= self.read_links(now, &mut on_event);
        busy |= self.drain(now, &mut on_event);
        self.flush_links(now, &mut on_event);
        PollStatus { busy, next_timeout: self.engine.poll_timeout() }
    }

    // ---- blocking helpers ----

    /// [`StreamProducer::send`], polling (and idling) while the error is retriable, up to
    /// `max_block`. Returns the last error when the time is up.
    pub fn send_blocking(
        &mut self,
        record: &ProducerRecord<'_>,
        max_block: Duration,
        mut on_event: impl FnMut(EventOf<'_, C>),
    ) -> Result<RecordId, SendError> {
        let deadline = self.now() + max_block;
        loop {
            match self.send(record) {
                Err(e) if e.is_retriable() && self.now() < deadline => {}
                other => return other,
            }
            let status = self.poll(&mut on_event);
            self.idle(status, deadline);
        }
    }

    /// Sends every buffered record now and polls until every batch is complete (each one
    /// reported to `on_event`) and the last frame is written, or until `deadline`.
    pub fn flush_blocking(
        &mut self,
        deadline: Instant,
        mut on_event: impl FnMut(EventOf<'_, C>),
    ) -> Result<(), FlushError> {
        self.flush();
        loop {
            let status = self.poll(&mut on_event);
            if self.engine.pending_batches() == 0 && !self.is_writing() {
                return Ok(());
            }
            if self.now() >= deadline {
                return Err(FlushError::Timeout { pending_batches: self.engine.pending_batches() });
            }
            self.idle(status, deadline);
        }
    }

    /// Closes gracefully: sends what is buffered, polls until every batch is complete or
    /// `deadline` (what is left then fails with `Closed`), and releases every stream to the
    /// connector. Every accepted record has had its completion when this returns.
    pub fn close(&mut self, deadline: Instant, mut on_event: impl FnMut(EventOf<'_, C>)) {
        self.begin_close(deadline);
        loop {
            let status = self.poll(&mut on_event);
            if self.engine.closed() && !self.is_writing() {
                // Every connection was closed through the engine's events; this releases any
                // stream an engine connection still held.
                self.streams.release_all(Release::Clean);
                return;
            }
            let now = self.now();
            if now >= deadline && self.engine.pending_batches() == 0 {
                // Frames still unwritten at the deadline (acks=0, or answers nobody awaits).
                self.streams.slots.pending = None;
                self.streams.release_all(Release::Broken);
                return;
            }
            let until = if now >= deadline { now + self.poll_interval } else { deadline };
            self.idle(status, until);
        }
    }

    /// Releases every stream and gives back the engine, the connector and the clock.
    /// Connections that still used a stream are reported to the engine as disconnected, so it
    /// stays consistent if driven further.
    pub fn into_parts(mut self) -> (Producer<'a, P>, C, K) {
        self.streams.slots.pending = None;
        let now = self.now();
        for link in self.streams.slots.links.iter().flatten() {
            for &conn in &link.users {
                self.engine.handle_disconnected(conn, now);
            }
        }
        self.streams.release_all(Release::Broken);
        (self.engine, self.streams.connector, self.streams.clock)
    }

    /// Lets the clock idle after a poll that found nothing to do, until the engine's next
    /// timer, the polling interval, or `deadline`, whichever comes first.
    fn idle(&mut self, status: PollStatus, deadline: Instant) {
        if status.busy {
            return;
        }
        let now = self.now();
        let mut until = (now + self.poll_interval).min(deadline);
        if let Some(t) = status.next_timeout.filter(|&t| t > now) {
            until = until.min(t);
        }
        self.streams.clock.idle(until);
    }
}
