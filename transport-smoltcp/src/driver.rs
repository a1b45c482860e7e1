//! [`Driver`]: the engine and its [`Net`] (the sockets it uses, the transmit frame buffer);
//! construction, getters, commands and the wake-up time. The work of a `poll` is in `poll.rs`,
//! the engine's links in `io.rs`.

use core::time::Duration;

use kprod_core::partitioner::{DefaultPartitioner, Partitioner};
use kprod_core::producer::RecordId;
use kprod_core::producer::{Producer, ProducerRecord, SendError};
use managed::ManagedSlice;
use smoltcp::iface::SocketSet;
use smoltcp::time::{Duration as NetDuration, Instant as NetInstant};

use crate::config::{DriverConfig, Ports};
use crate::io::Net;
use crate::net::{to_core, to_net};
use crate::report::{NewError, Stats};
use crate::slot::{tcp_socket, Phase, Slot};

/// Buffers shorter than this are refused by [`Driver::new`] (no Kafka frame fits them).
pub const MIN_BUFFER: usize = 64;

/// Runs a [`Producer`] over smoltcp TCP sockets. See the crate docs for the main loop.
///
/// The application owns the `Interface`, the `Device` and the `SocketSet`; the driver owns
/// the engine, one [`Slot`] per TCP socket it may use, and the transmit frame buffer.
#[derive(Debug)]
pub struct Driver<'a, P: Partitioner = DefaultPartitioner> {
    pub(crate) producer: Producer<'a, P>,
    /// Everything else the engine's links need: kept apart, so that a `poll` lends it to the
    /// engine's drain while the engine itself is borrowed.
    pub(crate) net: Net<'a>,
    /// The `now` of the last `poll`.
    pub(crate) now: NetInstant,
    /// A command changed the engine since the last `poll`: poll again at once.
    pub(crate) dirty: bool,
    /// The last `poll` stopped at a per-call limit: poll again at once.
    pub(crate) backlog: bool,
}

impl<'a, P: Partitioner> Driver<'a, P> {
    /// A driver for `producer` over the sockets of `slots`, writing request frames into `tx`.
    ///
    /// The sockets must be TCP sockets of the socket set later passed to [`Driver::poll`],
    /// not used by anything else. `tx` must hold the largest request frame: see the crate
    /// docs.
    pub fn new(
        producer: Producer<'a, P>,
        slots: impl Into<ManagedSlice<'a, Slot<'a>>>,
        tx: impl Into<ManagedSlice<'a, u8>>,
        config: DriverConfig<'a>,
    ) -> Result<Self, NewError> {
        let slots = slots.into();
        let tx = tx.into();
        if slots.is_empty() {
            return Err(NewError::NoSockets);
        }
        for (i, s) in slots.iter().enumerate() {
            if slots[..i].iter().any(|o| o.handle == s.handle) {
                return Err(NewError::DuplicateSocket);
            }
            if s.rx.len() < MIN_BUFFER {
                return Err(NewError::BufferTooSmall { len: s.rx.len() });
            }
        }
        if tx.len() < MIN_BUFFER {
            return Err(NewError::BufferTooSmall { len: tx.len() });
        }
        // A budget of 0 would never make progress.
        let config = DriverConfig {
            max_frames_per_poll: config.max_frames_per_poll.max(1),
            max_events_per_poll: config.max_events_per_poll.max(1),
            max_read_per_poll: config.max_read_per_poll.max(1),
            ..config
        };
        let net = Net {
            slots,
            tx,
            pending: None,
            ports: Ports::new(config.port_seed),
            config,
            stats: Stats::default(),
            too_small: None,
            setup: None,
        };
        Ok(Self { producer, net, now: NetInstant::ZERO, dirty: true, backlog: false })
    }

    // ---- getters ----

    /// The engine (metrics, `partition_count`, `pending_batches`, `free_buffer`, ...).
    pub const fn producer(&self) -> &Producer<'a, P> {
        &self.producer
    }

    /// The engine, for commands this driver does not wrap. After changing it, call
    /// [`Driver::poll`] before sleeping.
    pub fn producer_mut(&mut self) -> &mut Producer<'a, P> {
        self.dirty = true;
        &mut self.producer
    }

    /// The driver's counters.
    pub const fn stats(&self) -> &Stats {
        &self.net.stats
    }

    /// The socket slots.
    pub fn slots(&self) -> &[Slot<'a>] {
        &self.net.slots
    }

    /// The driver's settings.
    pub const fn config(&self) -> &DriverConfig<'a> {
        &self.net.config
    }

    /// Whether a `close` has completed every record and every socket is closed: the
    /// application may stop polling.
    pub fn is_closed(&self) -> bool {
        self.producer.closed() && self.net.slots.iter().all(Slot::is_free)
    }

    // ---- commands ----

    /// Accepts a record (see `Producer::send`). A retriable error (metadata pending, buffer
    /// full) means: keep polling, then try again (up to `max.block.ms`).
    pub fn send(&mut self, record: &ProducerRecord<'_>, now: NetInstant) -> Result<RecordId, SendError> {
        self.dirty = true;
        self.producer.send(record, to_core(now))
    }

    /// Makes every buffered record sendable now, ignoring `linger.ms`.
    pub fn flush(&mut self, now: NetInstant) {
        self.dirty = true;
        self.producer.flush(to_core(now));
    }

    /// Starts a graceful close: no more sends; what is not complete `timeout` from now fails.
    /// Keep polling until [`Driver::is_closed`].
    pub fn close(&mut self, timeout: Duration, now: NetInstant) {
        self.dirty = true;
        let now = to_core(now);
        self.producer.close(now + timeout, now);
    }

    /// Aborts every socket at once (after a fatal error, or to give up): the engine hears of
    /// each lost connection, so its requests are retried if it goes on.
    pub fn abort_all(&mut self, now: NetInstant, sockets: &mut SocketSet<'_>) {
        self.dirty = true;
        self.net.pending = None;
        let t = to_core(now);
        for slot in self.net.slots.iter_mut() {
            if let Some(s) = tcp_socket(sockets, slot.handle) {
                s.abort();
            }
            if let Some(conn) = slot.conn() {
                self.producer.handle_disconnected(conn, t);
            }
            slot.phase = Phase::Free;
            slot.clear_rx();
        }
    }

    // ---- wake-up ----

    /// When to call [`Driver::poll`] at the latest, `None` for "only when the network has
    /// news". Combine it with the interface's `poll_at`, and wake early when the device has a
    /// frame: the application's loop polls the interface and then the driver.
    ///
    /// The engine names only deadlines it acts on (`Producer::poll_timeout`): one waiting for
    /// a connection or a response sleeps until the socket has news.
    pub fn poll_at(&self) -> Option<NetInstant> {
        if self.dirty || self.backlog {
            return Some(self.now);
        }
        let mut at: Option<NetInstant> = None;
        let mut due = |t: NetInstant| at = Some(at.map_or(t, |a| a.min(t)));
        if let Some(d) = self.producer.poll_timeout() {
            due(to_net(d).max(self.now));
        }
        for slot in self.net.slots.iter() {
            match slot.phase {
                Phase::Connecting { deadline, .. } | Phase::Closing { deadline } => due(deadline),
                Phase::Free | Phase::Open { .. } => {}
            }
        }
        at
    }

    /// [`Driver::poll_at`] as a delay from `now` (zero if due).
    pub fn poll_delay(&self, now: NetInstant) -> Option<NetDuration> {
        self.poll_at().map(|at| if at > now { at - now } else { NetDuration::ZERO })
    }
}
