//! What the stream driver reports: completions and connection trouble ([`Event`]), the errors of
//! its own calls, and what a [`super::StreamProducer::poll`] did ([`PollStatus`]).

use core::fmt;

use kprod_core::producer::{Completion, ConnError, FatalError};
use kprod_core::time::Instant;

/// What [`super::StreamProducer::poll`] (and the blocking helpers that call it) reports.
///
/// `CE` is the connector's error type and `SE` the stream's (see [`super::EventOf`]). Every
/// record `send` accepted is covered by exactly one [`Event::Completed`] (use
/// [`Completion::covers`] / [`Completion::offset_of`] to match a
/// [`RecordId`](kprod_core::producer::RecordId)); `Link` events are informational: the engine
/// retries on its own, with backoff.
#[derive(Debug)]
pub enum Event<'e, CE, SE> {
    /// A batch was delivered or failed, with its topic's name.
    Completed(Completion<&'e str>),
    /// The producer cannot go on (reported once; every later `send` fails with it and every
    /// pending record gets a failed completion).
    Fatal(FatalError),
    /// A stream to `host:port` could not be opened, or failed and was closed, or the engine
    /// dropped its connection over it for what the broker sent or a request timeout
    /// ([`LinkError::Broker`], which names the cause). Requests that were in flight on it are
    /// retried by the engine.
    Link {
        /// The broker's host, as the engine names it.
        host: &'e str,
        /// The broker's port.
        port: u16,
        /// What went wrong.
        error: LinkError<CE, SE>,
    },
    /// The engine's next request frame needs `needed` bytes but the transmit buffer holds only
    /// `capacity`: nothing goes out until it fits. The batches in that request fail with
    /// `DeliveryTimeout` when their time is up (so no record is lost silently). Reported once
    /// per stall. Cure: a larger transmit buffer or a smaller `max.request.size`.
    TxBufferTooSmall {
        /// Bytes the frame needs.
        needed: usize,
        /// The transmit buffer's size.
        capacity: usize,
    },
}

impl<CE: fmt::Debug, SE: fmt::Debug> fmt::Display for Event<'_, CE, SE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Completed(c) => write!(f, "{c}"),
            Self::Fatal(e) => write!(f, "fatal producer error: {e}"),
            Self::Link { host, port, error } => write!(f, "stream to {host}:{port}: {error}"),
            Self::TxBufferTooSmall { needed, capacity } => {
                write!(f, "the next request needs {needed} bytes; the transmit buffer holds {capacity}")
            }
        }
    }
}

/// Why a stream could not be opened or was closed. `CE` is the connector's error, `SE` the
/// stream's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError<CE, SE> {
    /// [`super::Connector::connect`] failed (for [`super::Bootstrap`]: the engine asked for
    /// another broker than the stream's, or the one stream is spent).
    Connect(CE),
    /// The async driver's connect did not finish within `request.timeout.ms`.
    ConnectTimeout,
    /// `read` or `read_ready` failed.
    Read(SE),
    /// `write`, `write_ready` or `flush` failed.
    Write(SE),
    /// The broker closed the stream (`read` returned 0).
    Closed,
    /// `write` accepted no byte although `write_ready` said it would.
    WriteZero,
    /// A response frame of `needed` bytes does not fit the stream's share of the receive
    /// buffer (`capacity`). Cure: a larger receive buffer (Metadata for many partitions is the
    /// largest response).
    FrameTooLarge {
        /// The frame's size, with its 4-byte length prefix.
        needed: usize,
        /// The stream's share of the receive buffer.
        capacity: usize,
    },
    /// A response frame with a negative length.
    Malformed,
    /// A response frame arrived with no request waiting for one.
    UnexpectedResponse,
    /// More requests in flight on one stream than the driver tracks
    /// ([`super::MAX_REQUESTS_PER_STREAM`]).
    TooManyRequests,
    /// Every stream slot is in use by other brokers: the driver's `N` is smaller than the
    /// number of brokers the engine needs.
    NoFreeStream,
    /// More engine connections share one stream than the driver tracks
    /// ([`super::MAX_SHARES_PER_STREAM`]).
    ShareLimit,
    /// The engine named a broker host longer than the driver holds (a bug: both use the
    /// engine's host name limit; the connection is refused).
    NoAddress,
    /// The engine dropped its connection over the stream for what the broker sent (a
    /// malformed or unexpected response, a refused handshake) or did not send in time
    /// (`request.timeout.ms`). The stream stays open while other engine connections use it.
    Broker(ConnError),
}

impl<CE: fmt::Debug, SE: fmt::Debug> fmt::Display for LinkError<CE, SE> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect failed: {e:?}"),
            Self::ConnectTimeout => f.write_str("connect did not finish within request.timeout.ms"),
            Self::Read(e) => write!(f, "read failed: {e:?}"),
            Self::Write(e) => write!(f, "write failed: {e:?}"),
            Self::Closed => f.write_str("closed by the broker"),
            Self::WriteZero => f.write_str("the stream accepted no byte"),
            Self::FrameTooLarge { needed, capacity } => {
                write!(f, "a {needed}-byte response does not fit the stream's {capacity}-byte receive buffer")
            }
            Self::Malformed => f.write_str("a response frame with a negative length"),
            Self::UnexpectedResponse => f.write_str("a response arrived with no request waiting"),
            Self::TooManyRequests => f.write_str("too many requests in flight on one stream"),
            Self::NoFreeStream => f.write_str("every stream slot is in use by another broker"),
            Self::ShareLimit => f.write_str("too many engine connections share the stream"),
            Self::NoAddress => f.write_str("the engine named a host name longer than the driver holds"),
            Self::Broker(e) => write!(f, "the broker {e}"),
        }
    }
}

impl<CE: fmt::Debug, SE: fmt::Debug> core::error::Error for LinkError<CE, SE> {}

/// What one [`super::StreamProducer::poll`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PollStatus {
    /// Bytes moved, events reported, or work left over (a per-call bound was reached): poll
    /// again soon instead of idling.
    pub busy: bool,
    /// When the engine's timers next need a `poll` at the latest (`None`: only when a stream
    /// has input). Streams are polled for readiness, so poll regularly anyway.
    pub next_timeout: Option<Instant>,
}

/// Why [`super::StreamProducer::new`] refused its arguments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewError {
    /// The stream count `N` is 0.
    NoStreams,
    /// The transmit buffer is smaller than [`super::MIN_TX_BUFFER`].
    TxBufferTooSmall {
        /// Its size.
        len: usize,
    },
    /// Each stream's share of the receive buffer (`len / N`) is smaller than
    /// [`super::MIN_RX_PER_STREAM`].
    RxBufferTooSmall {
        /// The share.
        per_stream: usize,
    },
}

impl fmt::Display for NewError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoStreams => f.write_str("the driver needs at least one stream slot"),
            Self::TxBufferTooSmall { len } => {
                write!(f, "the transmit buffer ({len} bytes) is smaller than {}", super::MIN_TX_BUFFER)
            }
            Self::RxBufferTooSmall { per_stream } => write!(
                f,
                "each stream's share of the receive buffer ({per_stream} bytes) is smaller than {}",
                super::MIN_RX_PER_STREAM
            ),
        }
    }
}

impl core::error::Error for NewError {}

/// Why [`super::StreamProducer::flush_blocking`] returned before everything was complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlushError {
    /// The deadline passed with batches still pending (they complete later, through `poll`).
    Timeout {
        /// Batches not yet complete.
        pending_batches: usize,
    },
}

impl fmt::Display for FlushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::Timeout { pending_batches } = self;
        write!(f, "flush deadline passed with {pending_batches} batch(es) pending")
    }
}

impl core::error::Error for FlushError {}
