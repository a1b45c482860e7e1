//! One open stream: the broker address it goes to, the engine connections sharing it, the
//! responses it still owes (in request order) and how much of its receive window is filled.
//!
//! # Sharing one stream between engine connections
//! The engine keys connections by broker node: it bootstraps on a synthetic node (-1) and
//! then connects to each leader's node id, so with one broker it asks for two connections to
//! the same `host:port`. A stream is a scarce thing on a W5500 (8 sockets) and the only thing
//! in bootstrap-only mode, so every engine connection to the same address shares one stream.
//!
//! That is sound because Kafka answers the requests of one TCP connection in the order they
//! were sent: the link records, for each request frame written, which engine connection
//! expects its response (nothing for Produce with `acks=0`, which gets no answer: the engine
//! says so in `Transmit::expects_response`), and hands
//! each response frame to the oldest entry. Each engine connection keeps its own correlation
//! ids and in-flight table; the engine checks them as usual. When an engine connection lets go
//! of the stream (`Event::Close`: idle, request timeout, a broken response), its entries stay
//! in the queue as "discard", so late answers to its abandoned requests are dropped instead of
//! reaching whoever uses the stream next.

use heapless::{Deque, String, Vec};
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::MAX_HOST_LEN;
use kprod_core::protocol::{framing, Framing};

use super::{LinkError, MAX_REQUESTS_PER_STREAM, MAX_SHARES_PER_STREAM};

/// A broker host name as the engine names it.
pub(super) type Host = String<MAX_HOST_LEN, u8>;

/// An open stream and its bookkeeping.
#[derive(Debug)]
pub(super) struct Link<S> {
    pub(super) stream: S,
    pub(super) host: Host,
    pub(super) port: u16,
    /// Engine connections using the stream.
    pub(super) users: Vec<ConnId, MAX_SHARES_PER_STREAM>,
    /// One entry per response the broker owes, oldest first: who gets it (`None`: dropped,
    /// its connection let go of the stream).
    pub(super) expected: Deque<Option<ConnId>, MAX_REQUESTS_PER_STREAM>,
    /// Bytes of a partial response frame at the start of the stream's receive window.
    pub(super) rx_len: usize,
    /// Written to since the last `flush`.
    pub(super) dirty: bool,
}

impl<S> Link<S> {
    pub(super) fn new(stream: S, host: Host, port: u16) -> Self {
        Self { stream, host, port, users: Vec::new(), expected: Deque::new(), rx_len: 0, dirty: false }
    }

    /// Whether the stream goes to `host:port` (host names compare without case, as DNS does).
    pub(super) fn goes_to(&self, host: &str, port: u16) -> bool {
        self.port == port && self.host.eq_ignore_ascii_case(host)
    }

    pub(super) fn serves(&self, conn: ConnId) -> bool {
        self.users.contains(&conn)
    }

    /// Removes `conn`; its unanswered requests' responses will be dropped.
    pub(super) fn detach(&mut self, conn: ConnId) {
        self.users.retain(|&c| c != conn);
        for e in self.expected.iter_mut().filter(|e| **e == Some(conn)) {
            *e = None;
        }
    }

    /// Hands the whole response frames at the start of `window` (the stream's receive window,
    /// `rx_len` bytes filled) to `deliver` with the engine connection waiting for each, in
    /// request order, and moves the partial rest to the front. Frames whose connection let go
    /// of the stream are dropped.
    pub(super) fn dispatch<CE, SE>(
        &mut self,
        window: &mut [u8],
        mut deliver: impl FnMut(ConnId, &[u8]),
    ) -> Result<(), LinkError<CE, SE>> {
        let capacity = window.len();
        let mut at = 0;
        let result = loop {
            match framing(&window[at..self.rx_len], capacity) {
                Framing::Partial => break Ok(()),
                Framing::TooLarge(needed) => break Err(LinkError::FrameTooLarge { needed, capacity }),
                Framing::Malformed(_) => break Err(LinkError::Malformed),
                Framing::Frame(len) => {
                    match self.expected.pop_front() {
                        None => break Err(LinkError::UnexpectedResponse),
                        // Its connection let go of the stream: nobody waits for it.
                        Some(None) => {}
                        Some(Some(conn)) => deliver(conn, &window[at..at + len]),
                    }
                    at += len;
                }
            }
        };
        window.copy_within(at..self.rx_len, 0);
        self.rx_len -= at;
        result
    }

    /// Nothing owed, nothing half-read: the stream could be used again as it is.
    pub(super) fn is_clean(&self) -> bool {
        self.expected.is_empty() && self.rx_len == 0
    }
}
