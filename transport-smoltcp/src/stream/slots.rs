//! [`Slots`]: the `N` stream slots and the one frame being written, shared by the blocking
//! stream driver and the async one. Streams go back to the application's connector through
//! the `release` closure each call takes (the two drivers' connector traits differ).

use embedded_io::ErrorType;
use heapless::Vec;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{ConnError, Transmit};

use super::link::Link;
use super::{Event, LinkError, Release, MAX_SHARES_PER_STREAM};

/// The engine connections of a stream that failed: the engine must hear they are gone.
pub(super) type Users = Vec<ConnId, MAX_SHARES_PER_STREAM>;

/// A frame being written: `tx[written..len]` still goes to stream slot `link`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct PendingTx {
    pub(super) link: usize,
    pub(super) len: usize,
    pub(super) written: usize,
}

/// Why [`Slots::queue`] could not queue a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum QueueError {
    /// The frame's connection has no stream.
    NoStream,
    /// The stream in slot `0` owes more answers than it tracks.
    TooManyRequests(usize),
}

/// At most `N` open streams, and the frame being written.
#[derive(Debug)]
pub(super) struct Slots<S, const N: usize> {
    pub(super) links: [Option<Link<S>>; N],
    pub(super) pending: Option<PendingTx>,
}

impl<S: ErrorType, const N: usize> Slots<S, N> {
    pub(super) fn new() -> Self {
        Self { links: core::array::from_fn(|_| None), pending: None }
    }

    /// The stream slot serving engine connection `conn`.
    pub(super) fn link_of(&self, conn: ConnId) -> Option<usize> {
        self.links.iter().position(|l| l.as_ref().is_some_and(|l| l.serves(conn)))
    }

    /// Streams open now.
    pub(super) fn open_streams(&self) -> usize {
        self.links.iter().flatten().count()
    }

    /// Adds `conn` to the users of the stream open to `host:port`: `None` if there is none,
    /// `Some(false)` if that stream has [`MAX_SHARES_PER_STREAM`] users already.
    pub(super) fn share(&mut self, conn: ConnId, host: &str, port: u16) -> Option<bool> {
        let link = self.links.iter_mut().flatten().find(|l| l.goes_to(host, port))?;
        Some(link.users.push(conn).is_ok())
    }

    /// A slot without a stream.
    pub(super) fn free_slot(&self) -> Option<usize> {
        self.links.iter().position(Option::is_none)
    }

    /// Makes the frame the engine wrote (`t`) the pending one, on its connection's stream, and
    /// records who awaits its answer. Returns the slot.
    pub(super) fn queue(&mut self, t: Transmit) -> Result<usize, QueueError> {
        let i = self.link_of(t.conn).ok_or(QueueError::NoStream)?;
        let full =
            self.links[i].as_mut().is_some_and(|l| t.expects_response && l.expected.push_back(Some(t.conn)).is_err());
        if full {
            return Err(QueueError::TooManyRequests(i));
        }
        self.pending = Some(PendingTx { link: i, len: t.len, written: 0 });
        Ok(i)
    }

    /// `n` more bytes of the pending frame were written.
    pub(super) fn wrote(&mut self, n: usize) {
        if let Some(p) = self.pending {
            let written = p.written + n.min(p.len - p.written);
            self.pending = (written < p.len).then_some(PendingTx { written, ..p });
        }
    }

    /// Engine connection `conn` lets go of its stream; the stream is released when nobody
    /// uses it any more.
    pub(super) fn detach(&mut self, conn: ConnId, release: impl FnOnce(S, Release)) {
        let Some(i) = self.link_of(conn) else {
            return;
        };
        let unused = self.links[i].as_mut().is_some_and(|l| {
            l.detach(conn);
            l.users.is_empty()
        });
        if unused {
            self.release_link(i, Release::Clean, release);
        }
    }

    /// Closes slot `i`'s stream because it failed: reports it and returns the engine
    /// connections that used it (their requests are retried once the engine hears).
    pub(super) fn fail_link<CE>(
        &mut self,
        i: usize,
        error: LinkError<CE, S::Error>,
        on_event: &mut impl FnMut(Event<'_, CE, S::Error>),
        release: impl FnOnce(S, Release),
    ) -> Users {
        let Some(link) = self.links[i].take() else {
            return Users::new();
        };
        if self.pending.is_some_and(|p| p.link == i) {
            self.pending = None;
        }
        on_event(Event::Link { host: &link.host, port: link.port, error });
        let users = link.users.clone();
        release(link.stream, Release::Broken);
        users
    }

    /// Hands slot `i`'s stream back: `Clean` only if it is (whole frames, nothing owed, not
    /// mid-write).
    pub(super) fn release_link(&mut self, i: usize, how: Release, release: impl FnOnce(S, Release)) {
        let Some(link) = self.links[i].take() else {
            return;
        };
        let writing = self.pending.is_some_and(|p| p.link == i);
        if writing {
            self.pending = None;
        }
        let clean = how == Release::Clean && link.is_clean() && !writing;
        release(link.stream, if clean { Release::Clean } else { Release::Broken });
    }

    /// Releases every stream.
    pub(super) fn release_all(&mut self, how: Release, mut release: impl FnMut(S, Release)) {
        for i in 0..N {
            self.release_link(i, how, &mut release);
        }
    }

    /// Reports that the engine dropped `conn` for what its broker sent or did not send (its
    /// `Close` follows; the stream stays while other connections use it).
    pub(super) fn connection_failed<CE>(
        &self,
        conn: ConnId,
        error: ConnError,
        on_event: &mut impl FnMut(Event<'_, CE, S::Error>),
    ) {
        let link = self.link_of(conn).and_then(|i| self.links[i].as_ref());
        let (host, port) = link.map_or(("", 0), |l| (l.host.as_str(), l.port));
        on_event(Event::Link { host, port, error: LinkError::Broker(error) });
    }
}

/// The transmit buffer holds `capacity` bytes, the engine's next frame needs `needed`: reports
/// it once per stall (`stall` remembers the size last reported). Returns whether it reported.
pub(super) fn report_tx_stall<CE, SE>(
    stall: &mut Option<usize>,
    needed: usize,
    capacity: usize,
    on_event: &mut impl FnMut(Event<'_, CE, SE>),
) -> bool {
    if *stall == Some(needed) {
        return false;
    }
    *stall = Some(needed);
    on_event(Event::TxBufferTooSmall { needed, capacity });
    true
}
