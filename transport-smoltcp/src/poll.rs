//! [`Driver::poll`]: one bounded round of work between the sockets and the engine.
//!
//! 1. Inputs, socket by socket: a connect that completed, failed or timed out; the rest of a
//!    partly written request frame; response bytes (at most `max_read_per_poll` per socket),
//!    reassembled in the slot's buffer and handed to `handle_read`; a connection the broker
//!    closed or reset.
//! 2. `handle_timeout`.
//! 3. The engine's drain (`Producer::drain`) into the driver's links (`io.rs`): request frames
//!    (at most `max_frames_per_poll`, and none while a frame waits for socket room), then
//!    events (at most `max_events_per_poll`: connects, closes, completions to the callback),
//!    again while the links answered with an input (a connect that failed at once).

use kprod_core::partitioner::Partitioner;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Budget, Producer};
use kprod_core::protocol::{framing, Framing};
use kprod_core::time::Instant as CoreInstant;
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::socket::tcp::State;
use smoltcp::time::Instant as NetInstant;

use crate::driver::Driver;
use crate::io::Io;
use crate::net::to_core;
use crate::report::{ConnectError, LinkError, Report};
use crate::slot::{tcp_socket, Phase};

impl<P: Partitioner> Driver<'_, P> {
    /// Does one bounded round of work: reads responses, writes requests, opens and closes
    /// sockets, and calls `report` for every completion and connection change. Returns whether
    /// anything happened.
    ///
    /// In order: each slot's socket (a connect that completed, failed or timed out; the rest
    /// of a partly written frame; at most [`crate::DriverConfig::max_read_per_poll`] response
    /// bytes; a connection closed or reset by the broker), then `handle_timeout`, then the
    /// engine's outputs in its drain order (at most `max_frames_per_poll` request frames and
    /// `max_events_per_poll` events).
    ///
    /// Call it after every `Interface::poll`, with the same `now` and socket set, and after
    /// `send`/`flush`/`close`. Work left over by the per-call limits makes
    /// [`Driver::poll_at`] return `now`.
    pub fn poll<F: FnMut(Report<'_>)>(
        &mut self,
        now: NetInstant,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        mut report: F,
    ) -> bool {
        self.now = now;
        let t = to_core(now);
        let config = &self.net.config;
        let budget =
            Budget { frames: config.max_frames_per_poll, events: config.max_events_per_poll, rounds: usize::MAX };
        let mut io = Io {
            net: &mut self.net,
            iface,
            sockets,
            report: &mut report,
            now,
            progressed: core::mem::take(&mut self.dirty),
            backlog: false,
            input: false,
        };
        for i in 0..io.net.slots.len() {
            io.service(i, &mut self.producer, t);
        }
        self.producer.handle_timeout(t);
        let drained = self.producer.drain(&mut io, t, budget);
        // A frame waiting for socket room holds the rest up, not the budget: the socket's
        // progress wakes the application. Poll again at once only if a budget ran out, or if
        // the links answered with an input the engine may have more to say about.
        let blocked = io.net.pending.is_some() && !io.input && drained.events < budget.events;
        let backlog = io.backlog || (drained.backlog && !blocked);
        let progressed = io.progressed || drained.progressed();
        self.backlog = backlog;
        if backlog {
            self.net.stats.budget_hits += 1;
        }
        progressed
    }
}

impl Io<'_, '_, '_> {
    /// Slot `i`'s socket: a connect that ended, a closing socket that finished, or an open
    /// connection's traffic.
    fn service<P: Partitioner>(&mut self, i: usize, engine: &mut Producer<'_, P>, t: CoreInstant) {
        let handle = self.net.slots[i].handle;
        let (conn, error) = match self.net.slots[i].phase {
            Phase::Free => return,
            Phase::Closing { deadline } => {
                match tcp_socket(self.sockets, handle) {
                    Some(s) if s.is_open() && self.now < deadline => {}
                    Some(s) => {
                        s.abort();
                        self.net.slots[i].phase = Phase::Free;
                    }
                    None => self.net.slots[i].phase = Phase::Free,
                }
                return;
            }
            Phase::Open { conn } => return self.service_open(i, conn, engine, t),
            Phase::Connecting { conn, deadline, remote } => {
                let Some(s) = tcp_socket(self.sockets, handle) else {
                    self.progressed = true;
                    self.connect_failed(Some(i), conn, ConnectError::InvalidSocket);
                    return engine.handle_disconnected(conn, t);
                };
                let error = match s.state() {
                    State::SynSent | State::SynReceived if self.now < deadline => return,
                    State::SynSent | State::SynReceived => ConnectError::Timeout,
                    State::Established | State::CloseWait => {
                        let local_port = s.local_endpoint().map_or(0, |e| e.port);
                        self.net.slots[i].phase = Phase::Open { conn };
                        engine.handle_connected(conn, t);
                        self.progressed = true;
                        (self.report)(Report::Connected { conn, remote, local_port });
                        return self.service_open(i, conn, engine, t);
                    }
                    _ => ConnectError::Refused,
                };
                s.abort();
                (conn, error)
            }
        };
        self.progressed = true;
        self.connect_failed(Some(i), conn, error);
        engine.handle_disconnected(conn, t);
    }

    /// An open connection: the rest of its pending frame, its responses, and whether it lives.
    fn service_open<P: Partitioner>(&mut self, i: usize, conn: ConnId, engine: &mut Producer<'_, P>, t: CoreInstant) {
        let Some(s) = tcp_socket(self.sockets, self.net.slots[i].handle) else {
            self.progressed = true;
            return self.lose(i, conn, LinkError::InvalidSocket, engine, t);
        };
        let net = &mut *self.net;
        if let Some(mut p) = net.pending.filter(|p| p.slot == i) {
            if let Ok(n) = s.send_slice(net.tx.get(p.sent..p.len).unwrap_or(&[])) {
                p.sent += n;
                net.stats.bytes_sent += n as u64;
                self.progressed |= n > 0;
                net.pending = if p.sent >= p.len {
                    net.stats.frames_sent += 1;
                    None
                } else {
                    Some(p)
                };
            }
        }
        let mut budget = net.config.max_read_per_poll;
        let mut error = None;
        let slot = &mut net.slots[i];
        while budget > 0 {
            let end = slot.rx.len().min(slot.rx_len + budget);
            let Some(room) = slot.rx.get_mut(slot.rx_len..end).filter(|r| !r.is_empty()) else {
                break;
            };
            let n = s.recv_slice(room).unwrap_or(0);
            if n == 0 {
                break;
            }
            self.progressed = true;
            budget -= n;
            slot.rx_len += n;
            net.stats.bytes_received += n as u64;
            let filled = &slot.rx[..slot.rx_len];
            if let Err(size) = frames_fit(filled, slot.rx.len(), &mut net.stats.max_response) {
                error = Some(LinkError::ResponseTooLarge { size, capacity: slot.rx.len() });
                break;
            }
            let used = engine.handle_read(conn, filled, t).min(slot.rx_len);
            slot.rx.copy_within(used..slot.rx_len, 0);
            slot.rx_len -= used;
        }
        if budget == 0 && s.can_recv() {
            self.backlog = true;
        }
        let error = error.or(match s.state() {
            State::Established => None,
            State::CloseWait if s.can_recv() => {
                self.backlog = true;
                None
            }
            State::CloseWait => Some(LinkError::ClosedByPeer),
            _ => Some(LinkError::Reset),
        });
        if let Some(error) = error {
            self.progressed = true;
            self.lose(i, conn, error, engine, t);
        }
    }

    /// An open connection is gone: its slot is freed and reported, and the engine retries
    /// what was in flight.
    fn lose<P: Partitioner>(
        &mut self,
        i: usize,
        conn: ConnId,
        error: LinkError,
        engine: &mut Producer<'_, P>,
        t: CoreInstant,
    ) {
        self.drop_link(i, conn, error);
        engine.handle_disconnected(conn, t);
    }
}

/// Walks the whole frames at the start of `buf`, noting the largest in `max_seen`. Fails with
/// the frame's size if an incomplete one can never fit `capacity` bytes. A negative size is
/// left to the engine, which drops the connection as broken.
fn frames_fit(buf: &[u8], capacity: usize, max_seen: &mut usize) -> Result<(), usize> {
    let mut rest = buf;
    loop {
        match framing(rest, capacity) {
            Framing::Frame(total) => {
                *max_seen = (*max_seen).max(total);
                rest = rest.get(total..).unwrap_or_default();
            }
            Framing::TooLarge(total) => return Err(total),
            Framing::Partial | Framing::Malformed(_) => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_frames_are_measured_and_an_oversized_one_is_caught_early() {
        let mut max = 0;
        let mut buf = [0u8; 20];
        // One whole frame of 4 + 10 bytes, then the head of a 4 + 100 byte frame.
        buf[..4].copy_from_slice(&10i32.to_be_bytes());
        buf[14..18].copy_from_slice(&100i32.to_be_bytes());
        assert_eq!(frames_fit(&buf, 200, &mut max), Ok(()));
        assert_eq!(max, 14);
        assert_eq!(frames_fit(&buf, 64, &mut max), Err(104));
        // A partial size prefix, or a negative size, is not judged here.
        assert_eq!(frames_fit(&buf[..2], 8, &mut max), Ok(()));
        assert_eq!(frames_fit(&(-1i32).to_be_bytes(), 8, &mut max), Ok(()));
        assert_eq!(frames_fit(&i32::MAX.to_be_bytes(), 1 << 20, &mut max), Err(i32::MAX as usize + 4));
    }
}
