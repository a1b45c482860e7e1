//! Broker connections as the engine sees them: which broker, how far the handshake got, which
//! requests are in flight, and when to reconnect.
//!
//! The driver owns the sockets. The engine asks for a connection with an event, learns of the
//! outcome through `handle_connected` / `handle_disconnected`, and hands the driver whole
//! request frames. Every connection starts with ApiVersions; requests that need other APIs wait
//! until its answer says which versions to use.

use core::time::Duration;

use core::fmt;

use super::sasl::ConnSasl;
use crate::protocol::{ApiKey, ErrorCode};
use crate::sasl::AuthError;
use crate::time::Instant;

/// Why the engine gave up on a connection (see [`super::Event::ConnectionFailed`]). Its `Display`
/// reads after the broker's address: "127.0.0.1:9092 sent a malformed response: ...".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnError {
    /// A response's length prefix is negative or larger than the engine accepts.
    FrameLength {
        /// The length the prefix announced.
        announced: i64,
        /// The most the engine accepts ([`super::MAX_RESPONSE_FRAME`]).
        limit: usize,
    },
    /// A response that does not decode as the answer to the request it should answer.
    Undecodable {
        /// The API of that request.
        api: ApiKey,
        /// The version it was sent at.
        version: i16,
    },
    /// A response although no request is in flight.
    Unsolicited,
    /// A response whose correlation id is not the oldest request's.
    CorrelationMismatch {
        /// The oldest request's correlation id.
        expected: i32,
        /// The response's.
        got: i32,
    },
    /// The oldest request got no answer within `request.timeout.ms`.
    RequestTimeout {
        /// The API of that request.
        api: ApiKey,
        /// `request.timeout.ms`.
        timeout_ms: u64,
    },
    /// The broker refused the ApiVersions handshake.
    Handshake(ErrorCode),
    /// SASL authentication failed (fatal for this broker; see [`crate::sasl::AuthError`]).
    Authentication(AuthError),
}

impl fmt::Display for ConnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FrameLength { announced, limit } if *announced < 0 => {
                write!(f, "sent a malformed response: negative frame length {announced} (limit {limit} bytes)")
            }
            Self::FrameLength { announced, limit } => {
                write!(f, "sent a malformed response: frame length {announced} exceeds the {limit}-byte limit")
            }
            Self::Undecodable { api, version } => {
                write!(f, "sent a malformed response: a {api:?} v{version} response that does not decode")
            }
            Self::Unsolicited => f.write_str("sent a response although no request was in flight"),
            Self::CorrelationMismatch { expected, got } => {
                write!(f, "sent a response with correlation id {got} where {expected} was due")
            }
            Self::RequestTimeout { api, timeout_ms } => {
                write!(f, "did not answer a {api:?} request within request.timeout.ms ({timeout_ms} ms)")
            }
            Self::Handshake(code) => write!(f, "refused the ApiVersions handshake: {code}"),
            Self::Authentication(e) => write!(f, "{e}"),
        }
    }
}

impl core::error::Error for ConnError {}

/// The most requests one connection may have in flight, whatever the configuration says.
const MAX_IN_FLIGHT: usize = 16;

/// Identifies a connection slot; the driver keys its sockets by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u16);

/// Where a connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConnState {
    /// The slot is free.
    Unused,
    /// Not connected; may connect at `retry_at` (reconnect backoff).
    Idle,
    /// The engine asked the driver to connect; no answer yet.
    Connecting,
    /// Connected; ApiVersions is in flight.
    Handshake,
    /// Connected and versions are known.
    Ready,
}

/// What a request in flight was, so its response can be decoded and routed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestKind {
    /// ApiVersions.
    ApiVersions,
    /// Metadata.
    Metadata,
    /// InitProducerId.
    InitProducerId,
    /// Produce.
    Produce,
    /// SaslHandshake.
    SaslHandshake,
    /// SaslAuthenticate.
    SaslAuthenticate,
    /// A transaction request (`txn/wire.rs`).
    Txn(super::txn::TxnRequest),
}

impl RequestKind {
    /// The API key.
    pub(crate) const fn api(self) -> ApiKey {
        match self {
            Self::ApiVersions => ApiKey::ApiVersions,
            Self::Metadata => ApiKey::Metadata,
            Self::InitProducerId => ApiKey::InitProducerId,
            Self::Produce => ApiKey::Produce,
            Self::SaslHandshake => ApiKey::SaslHandshake,
            Self::SaslAuthenticate => ApiKey::SaslAuthenticate,
            Self::Txn(req) => req.api(),
        }
    }
}

/// One request awaiting its response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InFlight {
    /// Its correlation id.
    pub(crate) correlation_id: i32,
    /// What it was.
    pub(crate) kind: RequestKind,
    /// The version it was encoded at. An `i8` (every API's versions are far below 128) keeps
    /// the entry at 16 bytes with a `u16` batch count.
    pub(crate) version: i8,
    /// When it was handed to the driver.
    pub(crate) sent: Instant,
    /// Produce: the batches it carries, at most `MAX_PARTITIONS_PER_REQUEST` (0 for other
    /// requests): one per partition slot, so a `u16` holds any count.
    pub(crate) batches: u16,
}

/// The versions negotiated on a connection (min of ours and the broker's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Versions {
    /// Metadata version, if the broker supports one we do.
    pub(crate) metadata: Option<i16>,
    /// Produce version.
    pub(crate) produce: Option<i16>,
    /// InitProducerId version.
    pub(crate) init_producer_id: Option<i16>,
    /// The transaction APIs' versions and flow.
    pub(crate) txn: super::txn::TxnVersions,
}

/// A connection slot; [`super::Storage`] holds an array of them (`Connection::EMPTY` at first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Connection {
    /// Where it is.
    pub(crate) state: ConnState,
    /// The broker's node id (negative for a bootstrap address).
    pub(crate) node: i32,
    /// Requests in flight, oldest first (Kafka answers in order on one connection).
    pub(crate) in_flight: heapless::Vec<InFlight, MAX_IN_FLIGHT>,
    /// The negotiated versions.
    pub(crate) versions: Versions,
    /// The ApiVersions version to try next (lowered after UNSUPPORTED_VERSION).
    pub(crate) api_versions_version: i16,
    /// Consecutive failed attempts (for reconnect backoff).
    pub(crate) failures: u32,
    /// Not to connect before this.
    pub(crate) retry_at: Instant,
    /// How long the driver may take to set this connect up, in milliseconds (drawn at
    /// `start_connect`; a `u32` keeps the slot within its documented size).
    pub(crate) setup_timeout_ms: u32,
    /// The last time a request was sent or a response arrived (for idle close).
    pub(crate) last_active: Instant,
    /// The driver must be told to connect (a pending event).
    pub(crate) want_connect: bool,
    /// The driver must be told to close (a pending event).
    pub(crate) want_close: bool,
    /// Why the engine gave up on it, to report before the close.
    pub(crate) error: Option<ConnError>,
    /// KIP-219: the broker asked (`throttle_time_ms` of a Produce v6+ response) not to be sent
    /// more Produce requests before this.
    pub(crate) throttled_until: Instant,
    /// The leader's partitions' batches are held to `batch.size` while it throttles (see
    /// `Accumulator::hold_growth`), until its next Produce request.
    pub(crate) growth_held: bool,
    /// SASL authentication (`producer/sasl.rs`).
    pub(crate) sasl: ConnSasl,
    /// The partition slot the next Produce request starts picking batches at: the first one the
    /// last request had no room for, so that when more partitions have batches ready than one
    /// request holds, every partition gets its turn (the Java client's per-node drain index).
    pub(crate) drain_from: u16,
    /// During a [`super::drain`] round: the driver's link to it still holds bytes of an
    /// earlier frame ([`super::Links::can_take_on`]), so no frame goes to it in this round.
    pub(crate) link_busy: bool,
    next_correlation: i32,
}

impl Connection {
    /// A free slot.
    pub(crate) const EMPTY: Self = Self {
        state: ConnState::Unused,
        node: 0,
        in_flight: heapless::Vec::new(),
        versions: Versions {
            metadata: None,
            produce: None,
            init_producer_id: None,
            txn: super::txn::TxnVersions::NONE,
        },
        api_versions_version: 3,
        failures: 0,
        retry_at: Instant::ZERO,
        setup_timeout_ms: 0,
        last_active: Instant::ZERO,
        want_connect: false,
        want_close: false,
        error: None,
        throttled_until: Instant::ZERO,
        growth_held: false,
        sasl: ConnSasl::EMPTY,
        drain_from: 0,
        link_busy: false,
        next_correlation: 1,
    };

    /// Whether the slot is in use.
    pub(crate) const fn is_used(&self) -> bool {
        !matches!(self.state, ConnState::Unused)
    }

    /// Takes the slot for `node`, idle and ready to connect at once.
    pub(crate) fn assign(&mut self, node: i32) {
        *self = Self { state: ConnState::Idle, node, ..Self::EMPTY };
    }

    /// Asks the driver to connect, within `setup_timeout`.
    pub(crate) fn start_connect(&mut self, now: Instant, setup_timeout: Duration) {
        self.setup_timeout_ms = u32::try_from(setup_timeout.as_millis()).unwrap_or(u32::MAX);
        self.state = ConnState::Connecting;
        self.want_connect = true;
        self.last_active = now;
    }

    /// The socket is up: the handshake starts.
    pub(crate) fn connected(&mut self, now: Instant) {
        self.state = ConnState::Handshake;
        self.last_active = now;
        self.sasl.restart();
    }

    /// The socket is gone (or never came up): requests in flight are lost, and the next connect
    /// waits for the reconnect backoff `delay`.
    pub(crate) fn disconnected(&mut self, now: Instant, delay: Duration) {
        self.state = ConnState::Idle;
        self.in_flight.clear();
        self.versions = Versions::default();
        self.failures = self.failures.saturating_add(1);
        self.retry_at = now + delay;
        self.want_connect = false;
        self.sasl.restart();
    }

    /// The engine gives up on the connection because of `error`: the driver hears why, then
    /// is asked to close it.
    pub(crate) fn fail(&mut self, error: ConnError) {
        self.error = Some(error);
        self.want_close = true;
    }

    /// The correlation id the next request gets.
    pub(crate) const fn peek_correlation_id(&self) -> i32 {
        self.next_correlation
    }

    /// A new correlation id (positive, wrapping).
    pub(crate) fn next_correlation_id(&mut self) -> i32 {
        let id = self.next_correlation;
        self.next_correlation = if id == i32::MAX { 1 } else { id + 1 };
        id
    }

    /// Whether another request may go out (`limit` from the configuration).
    pub(crate) fn can_send(&self, limit: u32) -> bool {
        self.in_flight.len() < (limit as usize).min(MAX_IN_FLIGHT)
    }

    /// Records a request as sent. Fails if the in-flight table is full (a caller bug).
    pub(crate) fn push(&mut self, f: InFlight) -> bool {
        self.last_active = f.sent;
        self.in_flight.push(f).is_ok()
    }

    /// The oldest request in flight, which the next response must answer.
    pub(crate) fn oldest(&self) -> Option<&InFlight> {
        self.in_flight.first()
    }

    /// Removes the oldest request in flight.
    pub(crate) fn pop(&mut self, now: Instant) -> Option<InFlight> {
        if self.in_flight.is_empty() {
            return None;
        }
        self.last_active = now;
        Some(self.in_flight.remove(0))
    }

    /// When the oldest request times out.
    pub(crate) fn request_deadline(&self, timeout: Duration) -> Option<Instant> {
        self.oldest().map(|f| f.sent + timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_and_correlation_ids() {
        let mut c = Connection::EMPTY;
        assert!(!c.is_used());
        c.assign(3);
        assert_eq!(c.state, ConnState::Idle);
        c.start_connect(Instant::ZERO, Duration::from_secs(10));
        assert!(c.want_connect);
        c.connected(Instant::from_millis(1));
        let id = c.next_correlation_id();
        assert!(c.push(InFlight {
            correlation_id: id,
            kind: RequestKind::ApiVersions,
            version: 3,
            sent: Instant::from_millis(1),
            batches: 0,
        }));
        assert_eq!(c.request_deadline(Duration::from_secs(30)), Some(Instant::from_millis(30_001)));
        assert!(c.can_send(2) && !c.can_send(1));
        c.disconnected(Instant::from_millis(5), Duration::from_millis(50));
        assert!(c.in_flight.is_empty());
        assert_eq!((c.state, c.retry_at, c.failures), (ConnState::Idle, Instant::from_millis(55), 1));
        c.next_correlation = i32::MAX;
        assert_eq!(c.next_correlation_id(), i32::MAX);
        assert_eq!(c.next_correlation_id(), 1);
    }
}
