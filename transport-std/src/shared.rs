//! What the user threads and the IO thread share: the engine and the completion registry
//! behind one mutex, a condvar for waiters, and the IO thread's waker.
//!
//! # Locking
//! One `Mutex<State>`. A user thread holds it for one `engine.send` (which copies the record
//! into the engine's arena) and the registration of its handle; the IO thread holds it to feed
//! the engine what the sockets gave and to drain its outputs into per-connection outboxes.
//! Socket reads and writes, DNS, connects and callbacks all run outside the lock.
//!
//! # Waking
//! The IO thread sets `io_sleeping` before it waits in `mio::Poll`. A user thread whose call
//! may have moved the engine's next deadline earlier (a record that opened a new batch, a
//! record waiting for metadata, `flush`, `close`) wakes it through the `mio::Waker` if that
//! flag is set, and clears it, so a burst of sends costs one wake-up. Waiting user threads
//! (`send` on a full buffer or missing metadata, `flush`, `close`, `partitions_for`) count
//! themselves in `waiters` and sleep on `progress`, which the IO thread signals after a round
//! that changed something.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant as StdInstant;

use kprod_core::producer::accumulator::BatchId;
use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;

use crate::delivery::Registry;

/// State behind the lock.
pub(crate) struct State {
    pub(crate) engine: Engine<'static>,
    pub(crate) registry: Registry,
    /// The IO thread is (about to be) waiting in `poll`: wake it for new work.
    pub(crate) io_sleeping: bool,
    /// User threads waiting on `progress`.
    pub(crate) waiters: usize,
    /// The IO thread took completions out of the registry and is resolving them.
    pub(crate) dispatching: bool,
    /// `close` was called.
    pub(crate) closing: bool,
    /// The IO thread has stopped: nothing will complete any more.
    pub(crate) io_stopped: bool,
    /// Records failed because the close deadline came first.
    pub(crate) failed_on_close: u64,
}

impl State {
    /// The state of a new producer.
    pub(crate) fn new(engine: Engine<'static>) -> Self {
        Self {
            engine,
            registry: Registry::default(),
            io_sleeping: false,
            waiters: 0,
            dispatching: false,
            closing: false,
            io_stopped: false,
            failed_on_close: 0,
        }
    }

    /// Whether every record registered up to `mark` (`Registry::newest` when a flush began)
    /// is complete and resolved.
    pub(crate) fn flushed(&self, mark: Option<BatchId>) -> bool {
        mark.is_none_or(|m| self.registry.oldest().is_none_or(|o| o > m)) && !self.dispatching
    }
}

/// The engine's clock: microseconds since the producer was built.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    start: StdInstant,
}

impl Clock {
    pub(crate) const fn new(start: StdInstant) -> Self {
        Self { start }
    }

    /// Now, on the engine's clock.
    pub(crate) fn now(&self) -> Instant {
        self.at(StdInstant::now())
    }

    /// An std instant on the engine's clock.
    pub(crate) fn at(&self, t: StdInstant) -> Instant {
        Instant::from_micros(u64::try_from(t.saturating_duration_since(self.start).as_micros()).unwrap_or(u64::MAX))
    }

    /// The std instant of an engine instant.
    pub(crate) fn std_at(&self, t: Instant) -> StdInstant {
        self.start + core::time::Duration::from_micros(t.as_micros().min(u64::MAX / 4))
    }
}

/// Locks a producer's state. A panic while holding the lock is a bug of ours; the state is
/// still the best information there is, so later calls go on with it.
pub(crate) fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Shared between the `Producer` handle(s) and the IO thread.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) progress: Condvar,
    pub(crate) waker: mio::Waker,
    clock: Clock,
}

impl Shared {
    pub(crate) fn new(engine: Engine<'static>, waker: mio::Waker, start: StdInstant) -> Self {
        Self { state: Mutex::new(State::new(engine)), progress: Condvar::new(), waker, clock: Clock::new(start) }
    }

    /// Locks the state (see [`lock_state`]).
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock_state(&self.state)
    }

    /// The engine's clock: microseconds since the producer was built.
    pub(crate) fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The std instant of an engine instant.
    pub(crate) fn std_at(&self, t: Instant) -> StdInstant {
        self.clock.std_at(t)
    }

    /// Wakes the IO thread if it sleeps (call with the lock held).
    pub(crate) fn wake_io(&self, state: &mut State) {
        if state.io_sleeping {
            state.io_sleeping = false;
            if let Err(e) = self.waker.wake() {
                log::error!("kprod: cannot wake the IO thread: {e}");
            }
        }
    }

    /// Waits on `progress` until `deadline`; returns the guard and whether time is left.
    pub(crate) fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: StdInstant,
    ) -> (MutexGuard<'a, State>, bool) {
        let left = deadline.saturating_duration_since(StdInstant::now());
        if left.is_zero() {
            return (state, false);
        }
        state.waiters += 1;
        let mut state = self.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        state.waiters -= 1;
        (state, true)
    }
}
