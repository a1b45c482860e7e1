//! The inside of [`StreamProducer::poll`]: writing the pending frame, reading and routing
//! responses, draining the engine (transmit, then events) and keeping the streams in step with
//! the engine's connections.

use embedded_io::{ErrorType, Read, ReadReady, Write, WriteReady};
use kprod_core::partitioner::Partitioner;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Event as EngineEvent, TransmitError};
use kprod_core::time::Instant;

use super::link::{expects_response, framing, Framing, Host, Link};
use super::{
    Clock, Connector, Event, EventOf, LinkError, PendingTx, Release, StreamProducer, MAX_FRAMES_PER_POLL,
    MAX_READS_PER_POLL,
};

/// The [`LinkError`] type of a driver with connector `C`.
type LinkErrorOf<C> = LinkError<<C as Connector>::Error, <<C as Connector>::Stream as ErrorType>::Error>;

/// Rounds of transmit-then-events in one poll; a round ends early unless an event was itself an
/// input (a connect answered, a stream lost).
const MAX_ROUNDS: usize = 8;

impl<C: Connector, K: Clock, const N: usize, P: Partitioner> StreamProducer<'_, C, K, N, P> {
    /// The stream slot serving engine connection `conn`.
    fn link_of(&self, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| l.as_ref().is_some_and(|l| l.serves(conn)))
    }

    /// Bytes of the receive buffer per stream slot.
    fn share(&self) -> usize {
        self.rx.len() / N
    }

    /// Writes the pending frame while the stream takes bytes without blocking, within the
    /// poll's write budget. Returns whether anything happened.
    pub(super) fn write_pending(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        let mut busy = false;
        while let Some(p) = self.pending {
            if self.write_budget == 0 {
                return true;
            }
            let Some(link) = self.links[p.link].as_mut() else {
                self.pending = None;
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
                Ok(0) => self.fail_link(p.link, LinkError::WriteZero, now, on_event),
                Ok(n) => {
                    link.dirty = true;
                    let written = p.written + n.min(p.len - p.written);
                    self.pending = (written < p.len).then_some(PendingTx { written, ..p });
                }
                Err(e) => self.fail_link(p.link, LinkError::Write(e), now, on_event),
            }
        }
        busy
    }

    /// Reads what each stream has ready (a few reads at most) and hands every whole response
    /// frame to the engine connection waiting for it.
    pub(super) fn read_links(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        let share = self.share();
        let mut busy = false;
        for i in 0..N {
            for _ in 0..MAX_READS_PER_POLL {
                let Some(link) = self.links[i].as_mut() else {
                    break;
                };
                let window = &mut self.rx[i * share..(i + 1) * share];
                let read = match link.stream.read_ready() {
                    Ok(false) => break,
                    // `dispatch` leaves only a partial frame that fits, so there is room.
                    Ok(true) => link.stream.read(&mut window[link.rx_len..]),
                    Err(e) => Err(e),
                };
                busy = true;
                let error = match read {
                    Ok(0) => LinkError::Closed,
                    Ok(n) => {
                        link.rx_len += n.min(share - link.rx_len);
                        match self.dispatch(i, now) {
                            Ok(()) => continue,
                            Err(e) => e,
                        }
                    }
                    Err(e) => LinkError::Read(e),
                };
                self.fail_link(i, error, now, on_event);
                break;
            }
        }
        busy
    }

    /// Hands the whole frames at the start of slot `i`'s receive window to their engine
    /// connections, in request order, and moves the partial rest to the front.
    fn dispatch(&mut self, i: usize, now: Instant) -> Result<(), LinkErrorOf<C>> {
        let share = self.share();
        let window = &mut self.rx[i * share..(i + 1) * share];
        let Some(link) = self.links[i].as_mut() else {
            return Ok(());
        };
        let mut at = 0;
        let result = loop {
            match framing(&window[at..link.rx_len], share) {
                Framing::Partial => break Ok(()),
                Framing::TooLarge(needed) => break Err(LinkError::FrameTooLarge { needed, capacity: share }),
                Framing::Malformed => break Err(LinkError::Malformed),
                Framing::Frame(len) => {
                    match link.expected.pop_front() {
                        None => break Err(LinkError::UnexpectedResponse),
                        // Its connection let go of the stream: nobody waits for it.
                        Some(None) => {}
                        // One whole frame: the engine consumes all of it (or, if it finds it
                        // broken, drops its connection, which comes back as an Event::Close).
                        Some(Some(conn)) => {
                            let _ = self.engine.handle_read(conn, &window[at..at + len], now);
                        }
                    }
                    at += len;
                }
            }
        };
        window.copy_within(at..link.rx_len, 0);
        link.rx_len -= at;
        result
    }

    /// The engine's outputs in its drain order: request frames (while the previous one is
    /// fully written), then events; again while an event was an input.
    pub(super) fn drain(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        let mut busy = false;
        let mut frames = 0;
        for _ in 0..MAX_ROUNDS {
            let mut input = false;
            while self.pending.is_none() {
                if frames == MAX_FRAMES_PER_POLL {
                    busy = true;
                    break;
                }
                match self.engine.poll_transmit(now, self.tx) {
                    Ok(Some(t)) => {
                        frames += 1;
                        busy = true;
                        self.tx_stall = None;
                        input |= self.start_frame(t.conn, t.len, now, on_event);
                    }
                    Ok(None) => break,
                    Err(TransmitError::BufferTooSmall { needed }) => {
                        if self.tx_stall != Some(needed) {
                            self.tx_stall = Some(needed);
                            busy = true;
                            on_event(Event::TxBufferTooSmall { needed, capacity: self.tx.len() });
                        }
                        break;
                    }
                }
            }
            while let Some(event) = self.engine.poll_event() {
                busy = true;
                input |= self.on_engine_event(event, now, on_event);
            }
            if !input {
                return busy;
            }
        }
        true
    }

    /// Queues the frame the engine wrote into `tx` for `conn`'s stream and starts writing it.
    /// Returns whether the engine was told something (the stream is gone).
    fn start_frame(
        &mut self,
        conn: ConnId,
        len: usize,
        now: Instant,
        on_event: &mut impl FnMut(EventOf<'_, C>),
    ) -> bool {
        let Some(i) = self.link_of(conn) else {
            // Every lost stream is reported to the engine at once, so it does not write for a
            // connection without one; if it did, the request is retried.
            self.engine.handle_disconnected(conn, now);
            return true;
        };
        let answered = expects_response(&self.tx[..len]);
        if let Some(link) = self.links[i].as_mut() {
            if answered && link.expected.push_back(Some(conn)).is_err() {
                self.fail_link(i, LinkError::TooManyRequests, now, on_event);
                return true;
            }
        }
        self.pending = Some(PendingTx { link: i, len, written: 0 });
        self.write_pending(now, on_event);
        self.links[i].is_none()
    }

    /// Handles one engine event. Returns whether it led to an input (connect, disconnect).
    fn on_engine_event(&mut self, event: EngineEvent, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        match event {
            EngineEvent::Connect(conn) => {
                self.connect(conn, now, on_event);
                true
            }
            EngineEvent::Close(conn) => {
                self.detach(conn);
                false
            }
            EngineEvent::Delivered { batch, topic, partition, base_offset, log_append_time, records } => {
                let topic = self.engine.topic_name(topic).unwrap_or("");
                on_event(Event::Delivered { batch, topic, partition, base_offset, log_append_time, records });
                false
            }
            EngineEvent::Failed { batch, topic, partition, records, reason } => {
                let topic = self.engine.topic_name(topic).unwrap_or("");
                on_event(Event::Failed { batch, topic, partition, records, reason });
                false
            }
            // The engine asks to close it next; the link reports are the driver's own.
            EngineEvent::ConnectionFailed { .. } => false,
            EngineEvent::Fatal(e) => {
                on_event(Event::Fatal(e));
                false
            }
        }
    }

    /// Gives engine connection `conn` a stream: the one already open to its address, or a new
    /// one from the connector in a free slot. Tells the engine how it went.
    fn connect(&mut self, conn: ConnId, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) {
        self.detach(conn);
        let address = self.engine.address(conn).and_then(|(h, p)| Host::try_from(h).ok().map(|h| (h, p)));
        let Some((host, port)) = address else {
            self.engine.handle_disconnected(conn, now);
            on_event(Event::Link { host: "", port: 0, error: LinkError::NoAddress });
            return;
        };
        if let Some(i) = self.links.iter().position(|l| l.as_ref().is_some_and(|l| l.goes_to(&host, port))) {
            let shared = self.links[i].as_mut().is_some_and(|l| l.users.push(conn).is_ok());
            if shared {
                self.engine.handle_connected(conn, now);
            } else {
                self.engine.handle_disconnected(conn, now);
                on_event(Event::Link { host: &host, port, error: LinkError::ShareLimit });
            }
            return;
        }
        if let Err(e) = self.connector.can_reach(&host, port) {
            self.engine.handle_disconnected(conn, now);
            on_event(Event::Link { host: &host, port, error: LinkError::Connect(e) });
            return;
        }
        let Some(i) = self.links.iter().position(Option::is_none) else {
            self.engine.handle_disconnected(conn, now);
            on_event(Event::Link { host: &host, port, error: LinkError::NoFreeStream });
            return;
        };
        let opened = self.connector.connect(&host, port);
        // Connecting blocks: the engine hears of it at the time it ended.
        let now = self.clock.now().max(now);
        match opened {
            Ok(stream) => {
                let mut link = Link::new(stream, host, port);
                // A new link has room for its first user (MAX_SHARES_PER_STREAM >= 1).
                let _ = link.users.push(conn);
                self.links[i] = Some(link);
                self.engine.handle_connected(conn, now);
            }
            Err(e) => {
                self.engine.handle_disconnected(conn, now);
                on_event(Event::Link { host: &host, port, error: LinkError::Connect(e) });
            }
        }
    }

    /// Engine connection `conn` lets go of its stream; the stream is released when nobody
    /// uses it any more.
    fn detach(&mut self, conn: ConnId) {
        let Some(i) = self.link_of(conn) else {
            return;
        };
        let unused = self.links[i].as_mut().is_some_and(|l| {
            l.detach(conn);
            l.users.is_empty()
        });
        if unused {
            self.release_link(i, Release::Clean);
        }
    }

    /// Closes slot `i`'s stream because it failed: every engine connection on it is
    /// disconnected (their requests are retried), and the failure is reported.
    fn fail_link(&mut self, i: usize, error: LinkErrorOf<C>, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) {
        let Some(link) = self.links[i].take() else {
            return;
        };
        if self.pending.is_some_and(|p| p.link == i) {
            self.pending = None;
        }
        for &conn in &link.users {
            self.engine.handle_disconnected(conn, now);
        }
        on_event(Event::Link { host: &link.host, port: link.port, error });
        self.connector.release(link.stream, Release::Broken);
    }

    /// Hands slot `i`'s stream back to the connector: `Clean` only if it is (whole frames,
    /// nothing owed, not mid-write).
    fn release_link(&mut self, i: usize, how: Release) {
        let Some(link) = self.links[i].take() else {
            return;
        };
        let writing = self.pending.is_some_and(|p| p.link == i);
        if writing {
            self.pending = None;
        }
        let clean = how == Release::Clean && link.is_clean() && !writing;
        self.connector.release(link.stream, if clean { Release::Clean } else { Release::Broken });
    }

    /// Releases every stream.
    pub(super) fn release_all(&mut self, how: Release) {
        for i in 0..N {
            self.release_link(i, how);
        }
    }

    /// Flushes every stream written to since the last flush.
    pub(super) fn flush_links(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) {
        for i in 0..N {
            let flushed = match self.links[i].as_mut() {
                Some(link) if link.dirty => {
                    link.dirty = false;
                    link.stream.flush()
                }
                _ => continue,
            };
            if let Err(e) = flushed {
                self.fail_link(i, LinkError::Write(e), now, on_event);
            }
        }
    }
}
