//! The drain loop every driver runs after an input: the engine's outputs in their documented
//! order, handed to the driver's [`Links`], within a per-call [`Budget`].
//!
//! 1. `poll_transmit` while the links can take a frame: each frame goes to its connection's
//!    link; a frame for a connection without one is answered with `handle_disconnected` (its
//!    requests are retried); a connection whose link is still writing its last frame is passed
//!    over ([`Links::can_take_on`]). A transmit buffer too small is grown by the links, or ends
//!    the round ([`Drained::tx_too_small`]).
//! 2. `poll_event` until none: connects go to [`Links::connect`] (answered at once or later),
//!    closes to [`Links::close`], completions to [`Links::completed`] with their topic named,
//!    connection errors to [`Links::connection_failed`] and the fatal error to [`Links::fatal`].
//! 3. Again from 1 while an event was itself an input (a connect answered at once, a frame
//!    without a link), within the budget.
//!
//! Written once here, no_std, for the blocking and tokio drivers, the smoltcp driver and the
//! embedded-io drivers: only the links differ.

use super::conn::{ConnError, ConnId, ConnState};
use super::engine::Producer;
use super::transmit::{Transmit, TransmitError};
use super::types::{Completion, Event, FatalError};
use crate::partitioner::Partitioner;
use crate::time::Instant;

/// How a connect the engine asked for went, as far as the driver knows when it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connecting {
    /// Under way: the driver calls `handle_connected` or `handle_disconnected` later.
    Pending,
    /// Up at once, at this instant (a blocking connect ends later than it started).
    Connected(Instant),
    /// Failed at once, at this instant.
    Failed(Instant),
}

/// A driver's connections and transmit buffer, as the drain loop needs them.
pub trait Links {
    /// The buffer `poll_transmit` writes the next frame into.
    fn tx_buffer(&mut self) -> &mut [u8];
    /// The most [`Links::tx_buffer`] will ever hold, if it cannot grow (a no_std driver's
    /// fixed buffer); `None` if it grows on demand. The engine keeps requests, and batches
    /// growing past `batch.size`, within it (see [`Producer::set_transmit_limit`]).
    fn tx_limit(&self) -> Option<usize> {
        None
    }
    /// The next frame needs `needed` bytes, more than [`Links::tx_buffer`] has. Grow it and
    /// return `true` to try again, or `false` to end the round (the frame stays in the engine).
    fn grow_tx(&mut self, needed: usize) -> bool;
    /// Whether another frame can be taken now (room in the output queues). `false` ends the
    /// transmit part of the round: [`Drained::backlog`].
    fn can_take(&self) -> bool;
    /// Whether connection `conn` can take a frame now, as [`Links::can_take`] asks for all of
    /// them. A driver that queues frames says no while `conn` still holds bytes it has not
    /// written, as the Java client sends a connection's next request only once the last is
    /// written: that connection's requests wait in the engine (whole, and growing while they
    /// wait) instead of in a copy behind the unwritten bytes, and the other connections go on,
    /// so one slow broker does not hold up the rest. When a connection passed over has a
    /// Produce request ready, or nothing in flight whose answer would bring the next drain, the
    /// drain ends with [`Drained::backlog`]: call again once that link has written.
    fn can_take_on(&self, conn: ConnId) -> bool {
        let _ = conn;
        true
    }
    /// Takes the frame the engine wrote at the start of [`Links::tx_buffer`] (`t.len` bytes)
    /// for `t.conn`. Returns `false` if that connection has no open link: the engine is told
    /// it is disconnected.
    fn take(&mut self, t: Transmit, now: Instant) -> bool;
    /// The engine wants connection `conn` to `host:port`.
    fn connect(&mut self, conn: ConnId, host: &str, port: u16, now: Instant) -> Connecting;
    /// How long the connect the next [`Links::connect`] of `conn` asks for may take to set up
    /// ([`Producer::connection_setup_timeout`]); a driver that enforces the timeout itself keeps
    /// it and reports a connect that took longer as failed (`handle_disconnected`).
    fn setup_timeout(&mut self, conn: ConnId, timeout: core::time::Duration) {
        let _ = (conn, timeout);
    }
    /// The engine is done with `conn`.
    fn close(&mut self, conn: ConnId);
    /// A batch completed ([`Event::Completed`]), with its topic's name (`""` if unknown).
    fn completed(&mut self, completion: Completion<&str>);
    /// The engine gave up on open connection `conn` for what its broker sent or did not send
    /// in time ([`Event::ConnectionFailed`]); a [`Links::close`] of it follows.
    fn connection_failed(&mut self, conn: ConnId, error: ConnError);
    /// The producer cannot go on ([`Event::Fatal`], reported once).
    fn fatal(&mut self, error: FatalError);
    /// A transactional call's result ([`Producer::poll_txn`]). Drivers without transactions
    /// ignore it.
    fn txn_result(&mut self, result: super::txn::TxnResult) {
        let _ = result;
    }
    /// What the broker said about the records of `batch` it refused (KIP-467, Produce v8+),
    /// just before that failure's [`Links::completed`]: each record index it named with its
    /// message, and [`WHOLE_BATCH`] with the batch's message. The other records of the batch
    /// failed only because they shared it with those. Drivers without it ignore it.
    #[cfg(feature = "alloc")]
    fn broker_words(&mut self, batch: super::BatchId, words: &[(u32, &str)]) {
        let _ = (batch, words);
    }
}

/// The record index [`Links::broker_words`] gives the batch's own error message.
pub const WHOLE_BATCH: u32 = u32::MAX;

/// The most work one [`Producer::drain`] call does, so an embedded main loop keeps its timing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Request frames taken from `poll_transmit`.
    pub frames: usize,
    /// Events taken from `poll_event`.
    pub events: usize,
    /// Rounds of transmit-then-events (a round follows only when an event was an input).
    pub rounds: usize,
}

impl Budget {
    /// No limit: drain until the engine has nothing more (std drivers).
    pub const UNLIMITED: Self = Self { frames: usize::MAX, events: usize::MAX, rounds: usize::MAX };
}

/// What one [`Producer::drain`] call did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Frames taken by the links.
    pub frames: usize,
    /// Events handled.
    pub events: usize,
    /// Work is left: the budget ran out, or the links could take no more frames. Call again
    /// (at once, or when the links have room).
    pub backlog: bool,
    /// The next frame needs this many bytes and the links did not grow their buffer.
    pub tx_too_small: Option<usize>,
}

impl Drained {
    /// Whether the call did anything.
    pub const fn progressed(&self) -> bool {
        self.frames > 0 || self.events > 0
    }
}

impl<P: Partitioner> Producer<'_, P> {
    /// Drains the engine's outputs into `links` in the documented order (see the module docs of
    /// [`super::drain`]), within `budget`. Call it after every input and command, then sleep
    /// until [`Producer::poll_timeout`] or the next input.
    pub fn drain(&mut self, links: &mut impl Links, now: Instant, budget: Budget) -> Drained {
        self.set_transmit_limit(links.tx_limit());
        let mut done = Drained::default();
        for _ in 0..budget.rounds.max(1) {
            let mut input = self.drain_transmit(links, now, budget, &mut done);
            input |= self.drain_events(links, now, budget, &mut done);
            if !input || done.backlog {
                return done;
            }
        }
        done.backlog = true;
        done
    }

    /// Step 1. Returns whether the engine was told something (a frame without a link).
    fn drain_transmit(&mut self, links: &mut impl Links, now: Instant, budget: Budget, done: &mut Drained) -> bool {
        let input = self.drain_frames(links, now, budget, done);
        // Only this loop passes busy links over: a `poll_transmit` outside it sees them all.
        self.conns.iter_mut().for_each(|c| c.link_busy = false);
        input
    }

    /// Marks the ready connections whose link cannot take a frame now
    /// ([`Links::can_take_on`]).
    fn mark_busy_links(&mut self, links: &impl Links) {
        for (i, c) in self.conns.iter_mut().enumerate() {
            // Connection slots are counted in `u16` (`ConnId`).
            c.link_busy = c.state == ConnState::Ready && !links.can_take_on(ConnId(i as u16));
        }
    }

    /// Whether a connection passed over for its busy link has a Produce request ready, or
    /// nothing in flight: then no answer comes to call the drain again for what else it may
    /// have (a metadata refresh, a re-authentication; with acks=0 a request is not in flight).
    fn busy_link_waited_on(&self, now: Instant) -> bool {
        (0..self.conns.len()).any(|i| {
            let c = &self.conns[i];
            c.link_busy && (c.in_flight.is_empty() || self.produce_ready_on(i, now))
        })
    }

    fn drain_frames(&mut self, links: &mut impl Links, now: Instant, budget: Budget, done: &mut Drained) -> bool {
        let mut input = false;
        loop {
            if done.frames >= budget.frames || !links.can_take() {
                done.backlog = true;
                return input;
            }
            self.mark_busy_links(links);
            match self.poll_transmit(now, links.tx_buffer()) {
                Ok(Some(t)) => {
                    done.frames += 1;
                    if !links.take(t, now) {
                        self.handle_disconnected(t.conn, now);
                        input = true;
                    }
                }
                Ok(None) => {
                    done.backlog |= self.busy_link_waited_on(now);
                    return input;
                }
                Err(TransmitError::BufferTooSmall { needed }) => {
                    if !links.grow_tx(needed) || links.tx_buffer().len() < needed {
                        done.tx_too_small = Some(needed);
                        return input;
                    }
                }
            }
        }
    }

    /// Step 2. Returns whether an event led to an input (a connect answered at once).
    /// Hands the links what the broker said about the records of a failed batch.
    #[cfg(feature = "alloc")]
    fn hand_broker_words(&mut self, links: &mut impl Links, c: &Completion<u16>) {
        if !matches!(c, Completion::Failed { .. }) || self.broker_words.is_empty() {
            return;
        }
        let batch = c.batch();
        let (mine, rest): (alloc::vec::Vec<_>, alloc::vec::Vec<_>) =
            core::mem::take(&mut self.broker_words).into_iter().partition(|w| w.0 == batch);
        self.broker_words = rest;
        if !mine.is_empty() {
            let words: alloc::vec::Vec<(u32, &str)> = mine.iter().map(|(_, i, s)| (*i, s.as_str())).collect();
            links.broker_words(batch, &words);
        }
    }

    fn drain_events(&mut self, links: &mut impl Links, now: Instant, budget: Budget, done: &mut Drained) -> bool {
        let mut input = false;
        loop {
            if done.events >= budget.events {
                done.backlog = true;
                return input;
            }
            let Some(event) = self.poll_event() else {
                if let Some(result) = self.poll_txn() {
                    links.txn_result(result);
                }
                return input;
            };
            done.events += 1;
            match event {
                Event::Connect(conn) => {
                    let Some((host, port)) = self.address(conn) else {
                        self.handle_disconnected(conn, now);
                        input = true;
                        continue;
                    };
                    if let Some(timeout) = self.connection_setup_timeout(conn) {
                        links.setup_timeout(conn, timeout);
                    }
                    match links.connect(conn, host, port, now) {
                        Connecting::Pending => {}
                        Connecting::Connected(at) => {
                            self.handle_connected(conn, at.max(now));
                            input = true;
                        }
                        Connecting::Failed(at) => {
                            self.handle_disconnected(conn, at.max(now));
                            input = true;
                        }
                    }
                }
                Event::Close(conn) => links.close(conn),
                Event::Completed(c) => {
                    // A part of a split batch: its next part is ready to go (an input).
                    input |= c.more();
                    #[cfg(feature = "alloc")]
                    self.hand_broker_words(links, &c);
                    links.completed(c.with_topic(self.topic_name(*c.topic()).unwrap_or("")));
                }
                Event::ConnectionFailed { conn, error } => links.connection_failed(conn, error),
                Event::Fatal(error) => links.fatal(error),
            }
        }
    }
}
