//! What both drivers (the blocking IO thread and the tokio task) do with the engine's outputs,
//! whatever their sockets: drain `poll_transmit` into per-connection [`Outbox`]es (up to a cap
//! of unsent bytes), drain `poll_event` into connects to start, closes and completions, and turn
//! the engine's next deadline into a wait that never busy-loops.

use core::time::Duration;

use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Event, TransmitError};
use kprod_core::time::Instant;

use crate::delivery::Completed;
use crate::events::EventBook;
use crate::shared::State;

/// The engine sometimes names a deadline that has passed although it cannot act on it yet (a
/// batch held back by an in-flight limit, or waiting for a connection). After a round that
/// changed nothing, such a deadline is taken as "poll again after a while", backing off from
/// `STALL_MIN` to `STALL_MAX`; any progress ends the stall.
const STALL_MIN: Duration = Duration::from_millis(1);
const STALL_MAX: Duration = Duration::from_millis(16);

/// Request bytes queued on one connection and not yet written.
#[derive(Debug, Default)]
pub(crate) struct Outbox {
    buf: Vec<u8>,
    pos: usize,
}

impl Outbox {
    /// Queues a request frame.
    pub(crate) fn queue(&mut self, frame: &[u8]) {
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(frame);
    }

    /// Bytes queued and not yet written.
    pub(crate) fn unsent(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// The bytes to write next.
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// `n` bytes of [`Outbox::pending`] were written. Compacts the buffer when it is empty,
    /// or when more than 1 MiB and half of it is written.
    pub(crate) fn advance(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.buf.len());
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 1 << 20 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// What is left to write, as an owned buffer.
    #[cfg_attr(not(feature = "tokio"), allow(dead_code))] // the tokio driver's lingering close
    pub(crate) fn into_unsent(mut self) -> Vec<u8> {
        self.buf.drain(..self.pos);
        self.buf
    }
}

/// A driver's connections, as the pump needs them.
pub(crate) trait Links {
    /// Queues `frame` on `conn`; `false` if that connection is not open.
    fn queue(&mut self, conn: ConnId, frame: &[u8]) -> bool;
    /// Bytes queued on every connection and not yet written.
    fn unsent(&self) -> usize;
    /// The engine closed `conn`: let it finish writing for a bounded time, then drop it.
    fn close(&mut self, conn: ConnId);
}

/// The engine-facing half of a driver: the frame buffer, what the last drain produced, and
/// the stall back-off.
pub(crate) struct Pump {
    /// The engine writes each request frame here before it is queued.
    tx: Vec<u8>,
    /// Connects the engine asked for: id, host, port.
    pub(crate) to_connect: Vec<(ConnId, String, u16)>,
    /// Completed batches, to resolve outside the lock.
    pub(crate) completed: Vec<Completed>,
    pub(crate) book: EventBook,
    /// At most this many unsent bytes over all connections before `poll_transmit` pauses.
    out_limit: usize,
    /// The last drain stopped at `out_limit`: written bytes are news for the engine.
    pub(crate) throttled: bool,
    stall: Duration,
}

impl Pump {
    /// A pump for an engine whose requests are at most `max_request` bytes.
    pub(crate) fn new(max_request: usize) -> Self {
        Self {
            tx: vec![0; 64 * 1024],
            to_connect: Vec::new(),
            completed: Vec::new(),
            book: EventBook::default(),
            out_limit: (4 << 20).max(2 * max_request),
            throttled: false,
            stall: STALL_MIN,
        }
    }

    /// Drains the engine's outputs in the documented order: `poll_transmit` until none (or
    /// until `out_limit` bytes wait unsent), then `poll_event` until none; again while an
    /// event was itself an input. Returns whether anything happened.
    pub(crate) fn drain(&mut self, links: &mut impl Links, st: &mut State, now: Instant) -> bool {
        let mut progressed = false;
        loop {
            let mut again = false;
            self.throttled = false;
            loop {
                if links.unsent() >= self.out_limit {
                    self.throttled = true;
                    break;
                }
                match st.engine.poll_transmit(now, &mut self.tx) {
                    Ok(Some(t)) => {
                        progressed = true;
                        if !links.queue(t.conn, &self.tx[..t.len]) {
                            st.engine.handle_disconnected(t.conn, now);
                            again = true;
                        }
                    }
                    Ok(None) => break,
                    Err(TransmitError::BufferTooSmall { needed }) => self.tx.resize(needed, 0),
                }
            }
            while let Some(event) = st.engine.poll_event() {
                progressed = true;
                again |= self.on_event(links, st, event, now);
            }
            if !again {
                return progressed;
            }
        }
    }

    /// Handles one event; `true` if it was an input to the engine (drain again).
    fn on_event(&mut self, links: &mut impl Links, st: &mut State, event: Event, now: Instant) -> bool {
        match event {
            Event::Connect(id) => match st.engine.address(id) {
                Some((host, port)) => self.to_connect.push((id, host.to_owned(), port)),
                None => {
                    st.engine.handle_disconnected(id, now);
                    return true;
                }
            },
            Event::Close(id) => links.close(id),
            completion => self.completed.extend(self.book.on_completion(st, completion)),
        }
        false
    }

    /// How long to wait: until the engine's `deadline` (`None`: until an input). A deadline
    /// already past after a round without progress backs off (see `STALL_MIN`).
    pub(crate) fn timeout(&mut self, deadline: Option<Instant>, now: Instant, progressed: bool) -> Option<Duration> {
        let mut wait = deadline.map(|d| d.saturating_duration_since(now));
        if progressed {
            self.stall = STALL_MIN;
        } else if wait == Some(Duration::ZERO) {
            wait = Some(self.stall);
            self.stall = (self.stall * 2).min(STALL_MAX);
        }
        wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn a_past_deadline_without_progress_backs_off_instead_of_spinning() {
        let mut p = Pump::new(1 << 20);
        let now = Instant::from_millis(100);
        let past = Some(Instant::from_millis(50));
        assert_eq!(p.timeout(past, now, true), Some(Duration::ZERO), "progress: poll again at once");
        assert_eq!(p.timeout(past, now, false), Some(STALL_MIN));
        assert_eq!(p.timeout(past, now, false), Some(STALL_MIN * 2));
        for _ in 0..10 {
            assert!(p.timeout(past, now, false).unwrap() <= STALL_MAX);
        }
        assert_eq!(p.timeout(Some(Instant::from_millis(130)), now, false), Some(Duration::from_millis(30)));
        assert_eq!(p.timeout(None, now, false), None);
    }
}
