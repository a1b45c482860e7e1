//! [`Driver::poll`]: one bounded round of work between the sockets and the engine.
//!
//! 1. Inputs, socket by socket: a connect that completed, failed or timed out; the rest of a
//!    partly written request frame; response bytes (at most `max_read_per_poll` per socket),
//!    reassembled in the slot's buffer and handed to `handle_read`; a connection the broker
//!    closed or reset.
//! 2. `handle_timeout`.
//! 3. Outputs in the engine's drain order: `poll_transmit` (at most `max_frames_per_poll`
//!    frames, and none while a frame waits for socket room), then `poll_event` (at most
//!    `max_events_per_poll`: connects, closes, completions to the callback). A connect that
//!    fails at once is an input, so the outputs are drained again, within the same budgets.

use kprod_core::partitioner::Partitioner;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Event, TransmitError};
use kprod_core::time::Instant as CoreInstant;
use managed::ManagedSlice;
use smoltcp::iface::{Interface, SocketSet};
use smoltcp::socket::tcp::State;
use smoltcp::time::Instant as NetInstant;
use smoltcp::wire::IpEndpoint;

use crate::driver::{Driver, Pending};
use crate::net::{net_after, resolve, to_core};
use crate::report::{ConnectError, LinkError, Report};
use crate::slot::{port_in_use, tcp_socket, Phase};

/// The callback, type-erased inside the driver.
type Sink<'f> = &'f mut dyn FnMut(Report<'_>);

/// What one `poll` did so far.
#[derive(Debug, Default)]
struct Round {
    progressed: bool,
    backlog: bool,
    frames: usize,
    events: usize,
}

/// Both clocks at once: smoltcp's for socket deadlines, the engine's for its inputs.
#[derive(Debug, Clone, Copy)]
struct Now {
    net: NetInstant,
    core: CoreInstant,
}

impl<P: Partitioner> Driver<'_, P> {
    /// Does one bounded round of work: reads responses, writes requests, opens and closes
    /// sockets, and calls `report` for every completion and connection change. Returns whether
    /// anything happened.
    ///
    /// In order: each slot's socket (a connect that completed, failed or timed out; the rest
    /// of a partly written frame; at most [`crate::DriverConfig::max_read_per_poll`] response
    /// bytes; a connection closed or reset by the broker), then `handle_timeout`, then the
    /// engine's outputs in its drain order (at most `max_frames_per_poll` request frames, then
    /// at most `max_events_per_poll` events).
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
        let now = Now { net: now, core: to_core(now) };
        let mut round = Round { progressed: core::mem::take(&mut self.dirty), ..Round::default() };
        for i in 0..self.slots.len() {
            self.service(i, now, sockets, &mut report, &mut round);
        }
        self.producer.handle_timeout(now.core);
        loop {
            let mut again = false;
            self.transmit(now, sockets, &mut report, &mut round, &mut again);
            self.events(now, iface, sockets, &mut report, &mut round, &mut again);
            if !again || round.backlog {
                break;
            }
        }
        self.backlog = round.backlog;
        if round.backlog {
            self.stats.budget_hits += 1;
        }
        self.end_round(round.progressed);
        round.progressed
    }

    // ---- inputs ----

    fn service(&mut self, i: usize, now: Now, sockets: &mut SocketSet<'_>, report: Sink<'_>, round: &mut Round) {
        let handle = self.slots[i].handle;
        match self.slots[i].phase {
            Phase::Free => {}
            Phase::Closing { deadline } => match tcp_socket(sockets, handle) {
                Some(s) if s.is_open() && now.net < deadline => {}
                Some(s) => {
                    s.abort();
                    self.slots[i].phase = Phase::Free;
                }
                None => self.slots[i].phase = Phase::Free,
            },
            Phase::Connecting { conn, deadline, remote } => {
                let Some(s) = tcp_socket(sockets, handle) else {
                    round.progressed = true;
                    return self.connect_failed(Some(i), conn, ConnectError::InvalidSocket, now, report);
                };
                let error = match s.state() {
                    State::SynSent | State::SynReceived if now.net < deadline => return,
                    State::SynSent | State::SynReceived => ConnectError::Timeout,
                    State::Established | State::CloseWait => {
                        let local_port = s.local_endpoint().map_or(0, |e| e.port);
                        self.slots[i].phase = Phase::Open { conn };
                        self.producer.handle_connected(conn, now.core);
                        round.progressed = true;
                        report(Report::Connected { conn, remote, local_port });
                        return self.service_open(i, conn, now, sockets, report, round);
                    }
                    _ => ConnectError::Refused,
                };
                s.abort();
                round.progressed = true;
                self.connect_failed(Some(i), conn, error, now, report);
            }
            Phase::Open { conn } => self.service_open(i, conn, now, sockets, report, round),
        }
    }

    /// An open connection: the rest of its pending frame, its responses, and whether it lives.
    fn service_open(&mut self, i: usize, conn: ConnId, now: Now, sockets: &mut SocketSet<'_>, report: Sink<'_>, round: &mut Round) {
        let Some(s) = tcp_socket(sockets, self.slots[i].handle) else {
            round.progressed = true;
            return self.lose(i, conn, LinkError::InvalidSocket, now, sockets, report);
        };
        if let Some(mut p) = self.pending.filter(|p| p.slot == i) {
            if let Ok(n) = s.send_slice(self.tx.get(p.sent..p.len).unwrap_or(&[])) {
                p.sent += n;
                self.stats.bytes_sent += n as u64;
                round.progressed |= n > 0;
                self.pending = if p.sent >= p.len {
                    self.stats.frames_sent += 1;
                    None
                } else {
                    Some(p)
                };
            }
        }
        let mut budget = self.config.max_read_per_poll;
        let mut error = None;
        let slot = &mut self.slots[i];
        while budget > 0 {
            let end = slot.rx.len().min(slot.rx_len + budget);
            let Some(room) = slot.rx.get_mut(slot.rx_len..end).filter(|r| !r.is_empty()) else {
                break;
            };
            let n = s.recv_slice(room).unwrap_or(0);
            if n == 0 {
                break;
            }
            round.progressed = true;
            budget -= n;
            slot.rx_len += n;
            self.stats.bytes_received += n as u64;
            let filled = &slot.rx[..slot.rx_len];
            if let Err(size) = check_frames(filled, slot.rx.len(), &mut self.stats.max_response) {
                error = Some(LinkError::ResponseTooLarge { size, capacity: slot.rx.len() });
                break;
            }
            let used = self.producer.handle_read(conn, filled, now.core).min(slot.rx_len);
            slot.rx.copy_within(used..slot.rx_len, 0);
            slot.rx_len -= used;
        }
        if budget == 0 && s.can_recv() {
            round.backlog = true;
        }
        let error = error.or(match s.state() {
            State::Established => None,
            State::CloseWait if s.can_recv() => {
                round.backlog = true;
                None
            }
            State::CloseWait => Some(LinkError::ClosedByPeer),
            _ => Some(LinkError::Reset),
        });
        if let Some(error) = error {
            round.progressed = true;
            self.lose(i, conn, error, now, sockets, report);
        }
    }

    /// An open connection is gone: tell the engine (it retries what was in flight).
    fn lose(&mut self, i: usize, conn: ConnId, error: LinkError, now: Now, sockets: &mut SocketSet<'_>, report: Sink<'_>) {
        self.drop_pending(i);
        let linger = self.config.close_linger;
        let slot = &mut self.slots[i];
        slot.clear_rx();
        slot.phase = match tcp_socket(sockets, slot.handle) {
            // The broker closed its half: answer with our FIN rather than a reset.
            Some(s) if s.state() == State::CloseWait => {
                s.close();
                Phase::Closing { deadline: net_after(now.net, linger) }
            }
            Some(s) => {
                s.abort();
                Phase::Free
            }
            None => Phase::Free,
        };
        self.stats.disconnects += 1;
        self.producer.handle_disconnected(conn, now.core);
        report(Report::Disconnected { conn, error });
    }

    /// A connection attempt failed: free its slot (if it had one) and tell the engine.
    fn connect_failed(&mut self, slot: Option<usize>, conn: ConnId, error: ConnectError, now: Now, report: Sink<'_>) {
        if let Some(slot) = slot.and_then(|i| self.slots.get_mut(i)) {
            slot.phase = Phase::Free;
            slot.clear_rx();
        }
        self.stats.connect_failures += 1;
        self.producer.handle_disconnected(conn, now.core);
        report(Report::ConnectFailed { conn, error });
    }

    fn drop_pending(&mut self, i: usize) {
        if self.pending.is_some_and(|p| p.slot == i) {
            self.pending = None;
            self.stats.frames_dropped += 1;
        }
    }

    // ---- outputs ----

    fn transmit(&mut self, now: Now, sockets: &mut SocketSet<'_>, report: Sink<'_>, round: &mut Round, again: &mut bool) {
        while self.pending.is_none() {
            if round.frames >= self.config.max_frames_per_poll {
                round.backlog = true;
                return;
            }
            match self.producer.poll_transmit(now.core, &mut self.tx) {
                Ok(None) => return,
                Ok(Some(t)) => {
                    round.frames += 1;
                    round.progressed = true;
                    self.too_small = None;
                    let len = t.len.min(self.tx.len());
                    self.stats.max_request = self.stats.max_request.max(len);
                    match self.open_slot(t.conn) {
                        Some(i) => self.write_frame(i, t.conn, len, now, sockets, report, again),
                        None => {
                            // The engine wrote for a connection with no open socket: it
                            // learns it is gone and requeues the frame's contents.
                            self.producer.handle_disconnected(t.conn, now.core);
                            *again = true;
                        }
                    }
                }
                Err(TransmitError::BufferTooSmall { needed }) => {
                    if grow(&mut self.tx, needed) {
                        continue;
                    }
                    if self.too_small != Some(needed) {
                        self.too_small = Some(needed);
                        report(Report::TxBufferTooSmall { needed, capacity: self.tx.len() });
                    }
                    return;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn write_frame(
        &mut self,
        i: usize,
        conn: ConnId,
        len: usize,
        now: Now,
        sockets: &mut SocketSet<'_>,
        report: Sink<'_>,
        again: &mut bool,
    ) {
        let written = tcp_socket(sockets, self.slots[i].handle).map(|s| s.send_slice(&self.tx[..len]));
        match written {
            Some(Ok(n)) => {
                self.stats.bytes_sent += n as u64;
                if n >= len {
                    self.stats.frames_sent += 1;
                } else {
                    self.stats.partial_writes += 1;
                    self.pending = Some(Pending { slot: i, conn, sent: n, len });
                }
            }
            Some(Err(_)) => {
                self.lose(i, conn, LinkError::Reset, now, sockets, report);
                *again = true;
            }
            None => {
                self.lose(i, conn, LinkError::InvalidSocket, now, sockets, report);
                *again = true;
            }
        }
    }

    fn events(
        &mut self,
        now: Now,
        iface: &mut Interface,
        sockets: &mut SocketSet<'_>,
        report: Sink<'_>,
        round: &mut Round,
        again: &mut bool,
    ) {
        loop {
            if round.events >= self.config.max_events_per_poll {
                round.backlog = true;
                return;
            }
            let Some(event) = self.producer.poll_event() else {
                return;
            };
            round.events += 1;
            round.progressed = true;
            match event {
                Event::Connect(conn) => *again |= self.connect(conn, now, iface, sockets, report),
                Event::Close(conn) => self.close_conn(conn, now, sockets),
                Event::Delivered { batch, topic, partition, base_offset, log_append_time, records } => {
                    let topic = self.producer.topic_name(topic).unwrap_or("");
                    report(Report::Delivered { batch, topic, partition, base_offset, log_append_time, records });
                }
                Event::Failed { batch, topic, partition, records, reason } => {
                    let topic = self.producer.topic_name(topic).unwrap_or("");
                    report(Report::Failed { batch, topic, partition, records, reason });
                }
                Event::Fatal(e) => report(Report::Fatal(e)),
                // The engine asks to close it next; the link reports are the driver's own.
                Event::ConnectionFailed { .. } => {}
            }
        }
    }

    /// Opens a socket for `conn`. Returns whether the engine was told of a failure (an input).
    fn connect(&mut self, conn: ConnId, now: Now, iface: &mut Interface, sockets: &mut SocketSet<'_>, report: Sink<'_>) -> bool {
        // The engine reconnects a connection it still had: the old socket goes.
        if let Some(i) = self.slot_of(conn) {
            self.drop_pending(i);
            if let Some(s) = tcp_socket(sockets, self.slots[i].handle) {
                s.abort();
            }
            self.slots[i].phase = Phase::Free;
            self.slots[i].clear_rx();
        }
        let remote = match self.producer.address(conn) {
            Some((host, port)) => resolve(host, self.config.hosts).map(|ip| IpEndpoint::new(ip, port)),
            None => Err(ConnectError::UnknownConnection),
        };
        let remote = match remote {
            Ok(remote) => remote,
            Err(error) => {
                self.connect_failed(None, conn, error, now, report);
                return true;
            }
        };
        let free = self.slots.iter().position(|slot| {
            slot.is_free() && tcp_socket(sockets, slot.handle).is_none_or(|s| !s.is_open())
        });
        let Some(i) = free else {
            self.connect_failed(None, conn, ConnectError::NoFreeSocket, now, report);
            return true;
        };
        let local_port = self.ports.take(|port| port_in_use(sockets, port));
        let config = self.config;
        let Some(s) = tcp_socket(sockets, self.slots[i].handle) else {
            self.connect_failed(Some(i), conn, ConnectError::InvalidSocket, now, report);
            return true;
        };
        s.set_nagle_enabled(config.nagle);
        s.set_keep_alive(config.keep_alive.map(Into::into));
        s.set_timeout(config.socket_timeout.map(Into::into));
        if s.connect(iface.context(), remote, local_port).is_err() {
            self.connect_failed(Some(i), conn, ConnectError::Unaddressable, now, report);
            return true;
        }
        self.stats.connects += 1;
        let slot = &mut self.slots[i];
        slot.clear_rx();
        slot.phase = Phase::Connecting { conn, deadline: net_after(now.net, config.connect_timeout), remote };
        false
    }

    /// Closes `conn`'s socket at the engine's request: gracefully (FIN) when everything it was
    /// given is out of the socket, else with a reset, so the broker does not act on a request
    /// the engine has given up on.
    fn close_conn(&mut self, conn: ConnId, now: Now, sockets: &mut SocketSet<'_>) {
        let Some(i) = self.slot_of(conn) else {
            return;
        };
        let had_pending = self.pending.is_some_and(|p| p.slot == i);
        self.drop_pending(i);
        let linger = self.config.close_linger;
        let slot = &mut self.slots[i];
        slot.clear_rx();
        let open = matches!(slot.phase, Phase::Open { .. });
        slot.phase = match tcp_socket(sockets, slot.handle) {
            Some(s) if open && !had_pending && s.send_queue() == 0 => {
                s.close();
                Phase::Closing { deadline: net_after(now.net, linger) }
            }
            Some(s) => {
                s.abort();
                Phase::Free
            }
            None => Phase::Free,
        };
    }

    /// The slot serving `conn` (connecting or open).
    fn slot_of(&self, conn: ConnId) -> Option<usize> {
        self.slots.iter().position(|s| s.conn() == Some(conn))
    }

    /// The slot with an open connection for `conn`.
    fn open_slot(&self, conn: ConnId) -> Option<usize> {
        self.slots.iter().position(|s| s.phase == Phase::Open { conn })
    }
}

/// Walks the whole frames at the start of `buf`, noting the largest in `max_seen`. Fails with
/// the frame's size if an incomplete one can never fit `capacity` bytes. A negative size is
/// left to the engine, which closes the connection as broken.
fn check_frames(buf: &[u8], capacity: usize, max_seen: &mut usize) -> Result<(), usize> {
    let mut at = 0;
    while let Some(prefix) = buf.get(at..).and_then(|b| b.first_chunk::<4>()) {
        let Ok(size) = usize::try_from(i32::from_be_bytes(*prefix)) else {
            return Ok(());
        };
        let total = size.saturating_add(4);
        if buf.len() - at < total {
            return if total > capacity { Err(total) } else { Ok(()) };
        }
        *max_seen = (*max_seen).max(total);
        at += total;
    }
    Ok(())
}

/// Grows an owned transmit buffer to `needed` bytes; a borrowed one cannot grow.
#[cfg(feature = "alloc")]
fn grow(buf: &mut ManagedSlice<'_, u8>, needed: usize) -> bool {
    match buf {
        ManagedSlice::Owned(v) if needed > v.len() => {
            v.resize(needed, 0);
            true
        }
        _ => false,
    }
}

/// Without `alloc` every buffer is borrowed and cannot grow.
#[cfg(not(feature = "alloc"))]
fn grow(_: &mut ManagedSlice<'_, u8>, _: usize) -> bool {
    false
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
        assert_eq!(check_frames(&buf, 200, &mut max), Ok(()));
        assert_eq!(max, 14);
        assert_eq!(check_frames(&buf, 64, &mut max), Err(104));
        // A partial size prefix, or a negative size, is not judged here.
        assert_eq!(check_frames(&buf[..2], 8, &mut max), Ok(()));
        assert_eq!(check_frames(&(-1i32).to_be_bytes(), 8, &mut max), Ok(()));
        assert_eq!(check_frames(&i32::MAX.to_be_bytes(), 1 << 20, &mut max), Err(i32::MAX as usize + 4));
    }
}
