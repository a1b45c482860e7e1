//! The inside of [`StreamProducer::poll`], where the engine and the streams meet: writing the
//! pending frame, reading and routing responses, the engine's drain into the streams
//! ([`Drain`]), flushing, and telling the engine of the connections a failed stream carried.

use embedded_io::{Read, ReadReady, Write};
use kprod_core::partitioner::Partitioner;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::Budget;
use kprod_core::time::Instant;

use super::streams::{Drain, LinkErrorOf};
use super::{Clock, Connector, EventOf, LinkError, StreamProducer, MAX_FRAMES_PER_POLL, MAX_READS_PER_POLL};

/// Rounds of transmit-then-events in one poll; a round ends early unless an event was itself an
/// input (a connect answered, a stream lost).
const MAX_ROUNDS: usize = 8;

/// The drain's budget: every event is handled (each is a completion or a connect), frames and
/// rounds are bounded.
const BUDGET: Budget = Budget { frames: MAX_FRAMES_PER_POLL, events: usize::MAX, rounds: MAX_ROUNDS };

impl<C: Connector, K: Clock, const N: usize, P: Partitioner> StreamProducer<'_, C, K, N, P> {
    /// Writes the pending frame as far as the stream takes it now. Returns whether anything
    /// happened.
    pub(super) fn write_pending(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        self.streams.write_pending(on_event).unwrap_or_else(|users| {
            self.disconnect(&users, now);
            true
        })
    }

    /// Reads what each stream has ready (a few reads at most) and hands every whole response
    /// frame to the engine connection waiting for it.
    pub(super) fn read_links(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        let share = self.streams.share();
        let mut busy = false;
        for i in 0..N {
            for _ in 0..MAX_READS_PER_POLL {
                let Some(link) = self.streams.slots.links[i].as_mut() else {
                    break;
                };
                let window = &mut self.streams.rx[i * share..(i + 1) * share];
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
        let share = self.streams.share();
        let window = &mut self.streams.rx[i * share..(i + 1) * share];
        let Some(link) = self.streams.slots.links[i].as_mut() else {
            return Ok(());
        };
        // One whole frame: the engine consumes all of it (or, if it finds it broken, drops its
        // connection, which comes back as an Event::Close).
        let engine = &mut self.engine;
        link.dispatch(window, |conn, frame| {
            let _ = engine.handle_read(conn, frame, now);
        })
    }

    /// The engine's outputs in its drain order, into the streams. Returns whether anything
    /// happened or work is left.
    pub(super) fn drain(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) -> bool {
        let mut links = Drain { streams: &mut self.streams, on_event, busy: false, input: false };
        let drained = self.engine.drain(&mut links, now, BUDGET);
        // A frame waiting for the stream holds the rest up, not the budget: that is no reason
        // to poll again at once, unless the links answered with an input.
        let blocked = links.streams.slots.pending.is_some() && !links.input;
        let busy = links.busy || drained.progressed() || (drained.backlog && !blocked);
        let lost = core::mem::take(&mut self.streams.lost);
        self.disconnect(&lost, now);
        busy
    }

    /// Flushes every stream written to since the last flush.
    pub(super) fn flush_links(&mut self, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) {
        for i in 0..N {
            let flushed = match self.streams.slots.links[i].as_mut() {
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

    /// Closes slot `i`'s stream because it failed: the failure is reported and every engine
    /// connection on it is disconnected (their requests are retried).
    fn fail_link(&mut self, i: usize, error: LinkErrorOf<C>, now: Instant, on_event: &mut impl FnMut(EventOf<'_, C>)) {
        let users = self.streams.fail_link(i, error, on_event);
        self.disconnect(&users, now);
    }

    /// Tells the engine these connections are gone.
    fn disconnect(&mut self, conns: &[ConnId], now: Instant) {
        for &conn in conns {
            self.engine.handle_disconnected(conn, now);
        }
    }
}
