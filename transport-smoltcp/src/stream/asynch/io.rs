//! [`Io`]: the runner's streams and buffers, the engine's [`Links`] during a drain
//! ([`DrainLinks`]), and the one future that waits for any stream ([`Io::wait_any`]).
//!
//! Nothing here calls the engine: connections a failed stream carried are handed back for the
//! runner to disconnect (during the drain they wait in [`Io::lost`]).

use core::future::pending;

use embassy_futures::select::select_array;
use embedded_io_async::{Read, Write};
use heapless::Deque;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Completion, ConnError, Connecting, FatalError, Links, Transmit};
use kprod_core::time::Instant;

use super::deliveries::Deliveries;
use super::{AsyncConnector, AsyncEventOf, Event, LinkError, Release};
use crate::stream::link::Link;
use crate::stream::slots::{report_tx_stall, QueueError, Slots, Users};

/// The [`LinkError`] type of a runner with connector `C`.
pub(super) type LinkErrorOf<C> =
    LinkError<<C as AsyncConnector>::Error, <<C as AsyncConnector>::Stream as embedded_io_async::ErrorType>::Error>;

/// Connects the engine asked for that the runner has not made yet.
pub(super) const MAX_CONNECTS: usize = 8;

/// What one stream's IO future finished with.
#[derive(Debug)]
pub(super) enum Outcome<E> {
    Read(Result<usize, E>),
    Wrote(Result<usize, E>),
    Flushed(Result<(), E>),
}

/// The runner's streams and buffers: at most `N` open streams.
pub(super) struct Io<'r, C: AsyncConnector, const N: usize> {
    pub(super) connector: C,
    pub(super) tx: &'r mut [u8],
    pub(super) rx: &'r mut [u8],
    /// The open streams and the frame being written.
    pub(super) slots: Slots<C::Stream, N>,
    /// Connects asked for during the drain, made by the runner after it.
    pub(super) connects: Deque<ConnId, MAX_CONNECTS>,
    /// The frame size last reported as not fitting `tx`.
    pub(super) tx_stall: Option<usize>,
    /// Connections of a stream that failed during the drain: the runner tells the engine.
    pub(super) lost: Users,
}

impl<'r, C: AsyncConnector, const N: usize> Io<'r, C, N> {
    pub(super) fn new(connector: C, tx: &'r mut [u8], rx: &'r mut [u8]) -> Self {
        Self { connector, tx, rx, slots: Slots::new(), connects: Deque::new(), tx_stall: None, lost: Users::new() }
    }

    /// Bytes of the receive buffer per stream slot.
    pub(super) fn share(&self) -> usize {
        self.rx.len() / N
    }

    /// Waits until one open stream finished its IO: its pending write, else its flush after
    /// writes, else a read into its receive window. Cancel-safe if the streams are.
    pub(super) async fn wait_any(&mut self) -> (usize, Outcome<<C::Stream as embedded_io_async::ErrorType>::Error>) {
        let share = self.share();
        let pending = self.slots.pending;
        let tx = &*self.tx;
        let mut windows = self.rx.chunks_mut(share.max(1));
        let mut links = self.slots.links.iter_mut();
        let futures: [_; N] = core::array::from_fn(|i| {
            let link = links.next().and_then(Option::as_mut);
            let out = pending.filter(|p| p.link == i).map(|p| &tx[p.written..p.len]);
            link_io(link, windows.next(), out)
        });
        let (outcome, i) = select_array(futures).await;
        (i, outcome)
    }

    /// Queues the frame the engine wrote into `tx` on `t.conn`'s stream. Fails with the
    /// stream's users if the connection has no stream (none then) or owes too many answers.
    fn start_frame(&mut self, t: Transmit, on_event: &mut impl FnMut(AsyncEventOf<'_, C>)) -> Result<(), Users> {
        match self.slots.queue(t) {
            Ok(_) => Ok(()),
            Err(QueueError::NoStream) => Err(Users::new()),
            Err(QueueError::TooManyRequests(i)) => Err(self.fail_link(i, LinkError::TooManyRequests, on_event)),
        }
    }

    /// Engine connection `conn` lets go of its stream.
    pub(super) fn detach(&mut self, conn: ConnId) {
        self.slots.detach(conn, |stream, how| self.connector.release(stream, how));
    }

    /// Closes slot `i`'s stream because it failed: reports it and returns the engine
    /// connections that used it.
    pub(super) fn fail_link(
        &mut self,
        i: usize,
        error: LinkErrorOf<C>,
        on_event: &mut impl FnMut(AsyncEventOf<'_, C>),
    ) -> Users {
        self.slots.fail_link(i, error, on_event, |stream, how| self.connector.release(stream, how))
    }

    /// Releases every stream.
    pub(super) fn release_all(&mut self, how: Release) {
        self.slots.release_all(how, |stream, how| self.connector.release(stream, how));
    }
}

/// One stream's IO: `out` if a frame is being written to it, else a flush if written to, else
/// a read. A slot without a stream never finishes.
async fn link_io<S: Read + Write>(
    link: Option<&mut Link<S>>,
    window: Option<&mut [u8]>,
    out: Option<&[u8]>,
) -> Outcome<S::Error> {
    let (Some(link), Some(window)) = (link, window) else {
        return pending().await;
    };
    if let Some(bytes) = out {
        return Outcome::Wrote(link.stream.write(bytes).await);
    }
    if link.dirty {
        return Outcome::Flushed(link.stream.flush().await);
    }
    // The dispatch leaves only a partial frame that fits the window, so there is room.
    Outcome::Read(link.stream.read(&mut window[link.rx_len..]).await)
}

/// The runner's streams as the engine's links during one drain, with the delivery table and
/// the runner's callback.
pub(super) struct DrainLinks<'d, 'r, C: AsyncConnector, const N: usize, const D: usize, F> {
    pub(super) io: &'d mut Io<'r, C, N>,
    pub(super) deliveries: &'d mut Deliveries<D>,
    pub(super) on_event: &'d mut F,
    /// The links answered with an input, or reported something: the runner goes on at once.
    pub(super) busy: bool,
}

impl<C: AsyncConnector, const N: usize, const D: usize, F: FnMut(AsyncEventOf<'_, C>)> Links
    for DrainLinks<'_, '_, C, N, D, F>
{
    fn tx_buffer(&mut self) -> &mut [u8] {
        self.io.tx
    }

    fn tx_limit(&self) -> Option<usize> {
        Some(self.io.tx.len())
    }

    fn grow_tx(&mut self, needed: usize) -> bool {
        let capacity = self.io.tx.len();
        self.busy |= report_tx_stall(&mut self.io.tx_stall, needed, capacity, self.on_event);
        false
    }

    fn can_take(&self) -> bool {
        self.io.slots.pending.is_none() && self.io.lost.is_empty()
    }

    fn take(&mut self, t: Transmit, _: Instant) -> bool {
        self.io.tx_stall = None;
        let Err(mut users) = self.io.start_frame(t, self.on_event) else {
            return true;
        };
        users.retain(|&c| c != t.conn);
        self.io.lost = users;
        self.busy = true;
        false
    }

    fn connect(&mut self, conn: ConnId, _: &str, _: u16, now: Instant) -> Connecting {
        // Made by the runner after the drain (connecting awaits).
        if self.io.connects.iter().any(|&c| c == conn) || self.io.connects.push_back(conn).is_ok() {
            Connecting::Pending
        } else {
            self.busy = true;
            Connecting::Failed(now)
        }
    }

    fn close(&mut self, conn: ConnId) {
        self.io.connects.retain(|&c| c != conn);
        self.io.detach(conn);
    }

    fn completed(&mut self, completion: Completion<&str>) {
        self.deliveries.complete(&completion);
        (self.on_event)(Event::Completed(completion));
    }

    fn connection_failed(&mut self, conn: ConnId, error: ConnError) {
        self.io.slots.connection_failed(conn, error, self.on_event);
    }

    fn fatal(&mut self, error: FatalError) {
        (self.on_event)(Event::Fatal(error));
    }
}
