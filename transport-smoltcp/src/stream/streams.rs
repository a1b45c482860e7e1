//! [`Streams`]: everything of the stream driver but the engine (the connector, the clock, the
//! buffers, the open streams and the frame being written), and [`Drain`]: the streams as the
//! engine's [`Links`] during one poll's `Producer::drain`.
//!
//! Nothing here calls the engine. Where a stream fails, its engine connections are handed back
//! ([`Users`]) for the caller to disconnect; during the drain they wait in [`Streams::lost`]
//! (and no frame is taken meanwhile) until the poll tells the engine after the drain.

use embedded_io::{ErrorType, Write, WriteReady};
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Completion, ConnError, Connecting, FatalError, Links, Transmit};
use kprod_core::time::Instant;

use super::link::{Host, Link};
use super::slots::{report_tx_stall, QueueError, Slots, Users};
use super::{Clock, Connector, Event, EventOf, LinkError, Release};

/// The [`LinkError`] type of a driver with connector `C`.
pub(super) type LinkErrorOf<C> = LinkError<<C as Connector>::Error, <<C as Connector>::Stream as ErrorType>::Error>;

/// The driver's streams and buffers: at most `N` open streams.
pub(super) struct Streams<'a, C: Connector, K: Clock, const N: usize> {
    pub(super) connector: C,
    pub(super) clock: K,
    pub(super) tx: &'a mut [u8],
    pub(super) rx: &'a mut [u8],
    /// The open streams and the frame being written.
    pub(super) slots: Slots<C::Stream, N>,
    /// The frame size last reported as not fitting `tx` (reported once per stall).
    pub(super) tx_stall: Option<usize>,
    /// `write` calls left in this poll.
    pub(super) write_budget: usize,
    /// Connections of a stream that failed during the drain, but for the one whose frame it
    /// was (the drain tells the engine of that one): the poll tells the engine after the drain.
    pub(super) lost: Users,
    /// Every engine connection gets a stream of its own (SASL authenticates a TCP connection:
    /// one that shared an authenticated stream would run its own handshake on it).
    pub(super) exclusive: bool,
}

impl<'a, C: Connector, K: Clock, const N: usize> Streams<'a, C, K, N> {
    pub(super) fn new(connector: C, clock: K, tx: &'a mut [u8], rx: &'a mut [u8], exclusive: bool) -> Self {
        let (slots, lost) = (Slots::new(), Users::new());
        Self { connector, clock, tx, rx, slots, tx_stall: None, write_budget: 0, lost, exclusive }
    }

    /// Bytes of the receive buffer per stream slot.
    pub(super) fn share(&self) -> usize {
        self.rx.len() / N
    }

    /// Streams open now.
    pub(super) fn open_streams(&self) -> usize {
        self.slots.open_streams()
    }

    /// Writes the pending frame while the stream takes bytes without blocking, within the
    /// poll's write budget. Returns whether anything happened, or the users of the stream if
    /// it failed.
    pub(super) fn write_pending(&mut self, on_event: &mut impl FnMut(EventOf<'_, C>)) -> Result<bool, Users> {
        let mut busy = false;
        while let Some(p) = self.slots.pending {
            if self.write_budget == 0 {
                return Ok(true);
            }
            let Some(link) = self.slots.links[p.link].as_mut() else {
                self.slots.pending = None;
                break;
            };
            self.write_budget -= 1;
            let written = match link.stream.write_ready() {
                Ok(false) => break,
                Ok(true) => link.stream.write(&self.tx[p.written..p.len]),
                Err(e) => Err(e),
            };
            busy = true;
            match written {
                Ok(0) => return Err(self.fail_link(p.link, LinkError::WriteZero, on_event)),
                Ok(n) => {
                    link.dirty = true;
                    self.slots.wrote(n);
                }
                Err(e) => return Err(self.fail_link(p.link, LinkError::Write(e), on_event)),
            }
        }
        Ok(busy)
    }

    /// Queues the frame the engine wrote into `tx` on `t.conn`'s stream and starts writing it.
    /// Fails with the stream's users if the connection has no stream (none then) or the stream
    /// failed.
    fn start_frame(&mut self, t: Transmit, on_event: &mut impl FnMut(EventOf<'_, C>)) -> Result<(), Users> {
        // Every lost stream is reported to the engine at once, so it does not write for a
        // connection without one; if it did, the request is retried.
        match self.slots.queue(t) {
            Ok(_) => self.write_pending(on_event).map(|_| ()),
            Err(QueueError::NoStream) => Err(Users::new()),
            Err(QueueError::TooManyRequests(i)) => Err(self.fail_link(i, LinkError::TooManyRequests, on_event)),
        }
    }

    /// Gives engine connection `conn` a stream to `host:port`: the one already open to that
    /// address, or a new one from the connector in a free slot.
    fn connect(
        &mut self,
        conn: ConnId,
        host: &str,
        port: u16,
        now: Instant,
        on_event: &mut impl FnMut(EventOf<'_, C>),
    ) -> Connecting {
        self.detach(conn);
        let Ok(host) = Host::try_from(host) else {
            // The engine's host names fit `Host` (the same limit).
            on_event(Event::Link { host: "", port, error: LinkError::NoAddress });
            return Connecting::Failed(now);
        };
        match if self.exclusive { None } else { self.slots.share(conn, &host, port) } {
            Some(true) => return Connecting::Connected(now),
            Some(false) => {
                on_event(Event::Link { host: &host, port, error: LinkError::ShareLimit });
                return Connecting::Failed(now);
            }
            None => {}
        }
        if let Err(e) = self.connector.can_reach(&host, port) {
            on_event(Event::Link { host: &host, port, error: LinkError::Connect(e) });
            return Connecting::Failed(now);
        }
        let Some(i) = self.slots.free_slot() else {
            on_event(Event::Link { host: &host, port, error: LinkError::NoFreeStream });
            return Connecting::Failed(now);
        };
        let opened = self.connector.connect(&host, port);
        // Connecting blocks: the engine hears of it at the time it ended.
        let now = self.clock.now();
        match opened {
            Ok(stream) => {
                let mut link = Link::new(stream, host, port);
                // A new link has room for its first user (MAX_SHARES_PER_STREAM >= 1).
                let _ = link.users.push(conn);
                self.slots.links[i] = Some(link);
                Connecting::Connected(now)
            }
            Err(e) => {
                on_event(Event::Link { host: &host, port, error: LinkError::Connect(e) });
                Connecting::Failed(now)
            }
        }
    }

    /// Engine connection `conn` lets go of its stream; the stream is released when nobody
    /// uses it any more.
    pub(super) fn detach(&mut self, conn: ConnId) {
        self.slots.detach(conn, |stream, how| self.connector.release(stream, how));
    }

    /// Closes slot `i`'s stream because it failed: reports it and returns the engine
    /// connections that used it (their requests are retried once the engine hears).
    pub(super) fn fail_link(
        &mut self,
        i: usize,
        error: LinkErrorOf<C>,
        on_event: &mut impl FnMut(EventOf<'_, C>),
    ) -> Users {
        self.slots.fail_link(i, error, on_event, |stream, how| self.connector.release(stream, how))
    }

    /// Releases every stream.
    pub(super) fn release_all(&mut self, how: Release) {
        self.slots.release_all(how, |stream, how| self.connector.release(stream, how));
    }
}

/// The streams as the engine's links during one drain, with the poll's callback.
pub(super) struct Drain<'d, 'a, C: Connector, K: Clock, const N: usize, F> {
    pub(super) streams: &'d mut Streams<'a, C, K, N>,
    pub(super) on_event: &'d mut F,
    /// Something was reported that is not a frame or an event (a transmit buffer too small).
    pub(super) busy: bool,
    /// The links answered with an input (a connect, a frame without a stream): the engine
    /// may have more to say.
    pub(super) input: bool,
}

impl<C: Connector, K: Clock, const N: usize, F: FnMut(EventOf<'_, C>)> Links for Drain<'_, '_, C, K, N, F> {
    fn tx_buffer(&mut self) -> &mut [u8] {
        self.streams.tx
    }

    fn tx_limit(&self) -> Option<usize> {
        Some(self.streams.tx.len())
    }

    fn grow_tx(&mut self, needed: usize) -> bool {
        let capacity = self.streams.tx.len();
        self.busy |= report_tx_stall(&mut self.streams.tx_stall, needed, capacity, self.on_event);
        false
    }

    fn can_take(&self) -> bool {
        self.streams.slots.pending.is_none() && self.streams.lost.is_empty()
    }

    fn take(&mut self, t: Transmit, _: Instant) -> bool {
        self.streams.tx_stall = None;
        let Err(mut users) = self.streams.start_frame(t, self.on_event) else {
            return true;
        };
        users.retain(|&c| c != t.conn);
        self.streams.lost = users;
        self.input = true;
        false
    }

    fn connect(&mut self, conn: ConnId, host: &str, port: u16, now: Instant) -> Connecting {
        self.input = true;
        self.streams.connect(conn, host, port, now, self.on_event)
    }

    fn close(&mut self, conn: ConnId) {
        self.streams.detach(conn);
    }

    fn completed(&mut self, completion: Completion<&str>) {
        (self.on_event)(Event::Completed(completion));
    }

    // The engine drops the connection for what the broker sent or did not send; its `Close`
    // follows (the stream stays while other connections use it).
    fn connection_failed(&mut self, conn: ConnId, error: ConnError) {
        self.streams.slots.connection_failed(conn, error, self.on_event);
    }

    fn fatal(&mut self, error: FatalError) {
        (self.on_event)(Event::Fatal(error));
    }
}
