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

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use kprod_core::producer::accumulator::BatchId;
use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;

use crate::delivery::{Listener, Registry};

/// State behind the lock.
pub(crate) struct State {
    pub(crate) engine: Engine<'static>,
    pub(crate) registry: Registry,
    /// The IO thread is (about to be) waiting in `poll`: wake it for new work.
    pub(crate) io_sleeping: bool,
    /// User threads waiting on `progress`.
    pub(crate) waiters: usize,
    /// Those of `waiters` that wait for buffer space (a `send` refused with a full buffer).
    pub(crate) space_waiters: usize,
    /// Free buffer bytes that wake `space_waiters` (a quarter of `buffer.memory`).
    space_low_water: usize,
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
        let space_low_water = engine.free_buffer() / 4;
        Self {
            engine,
            registry: Registry::default(),
            io_sleeping: false,
            waiters: 0,
            space_waiters: 0,
            space_low_water,
            dispatching: false,
            closing: false,
            io_stopped: false,
            failed_on_close: 0,
        }
    }
    /// Whether progress should wake the user threads waiting on `progress`. Threads waiting
    /// for buffer space wake only once a quarter of the buffer is free again (hysteresis):
    /// waking them for every completed batch makes a producer that outruns the broker trade
    /// the lock back and forth once per batch, with two context switches each time. Any
    /// other waiter (metadata, flush, close) wakes on every progress.
    pub(crate) fn wake_waiters(&self) -> bool {
        self.waiters > self.space_waiters
            || (self.space_waiters > 0 && self.engine.free_buffer() >= self.space_low_water)
    }


    /// Whether every record registered up to `mark` (`Registry::newest` when a flush began)
    /// is complete and resolved.
    pub(crate) fn flushed(&self, mark: Option<BatchId>) -> bool {
        mark.is_none_or(|m| self.registry.oldest().is_none_or(|o| o > m)) && !self.dispatching
    }
}

/// The engine's clock: microseconds since the producer was built. It also gives record
/// timestamps (wall-clock milliseconds) from the same monotonic reading: a send reads the clock
/// once, not twice. The wall clock's offset is read again by the driver every round
/// ([`Clock::resync_wall`]), so a step of the system clock shows in timestamps within a round.
#[derive(Debug)]
pub(crate) struct Clock {
    start: StdInstant,
    /// Wall-clock milliseconds at engine instant zero.
    wall_offset_ms: AtomicI64,
}

impl Clock {
    pub(crate) fn new(start: StdInstant) -> Self {
        let clock = Self { start, wall_offset_ms: AtomicI64::new(0) };
        clock.resync_wall();
        clock
    }

    /// Reads the wall clock against the monotonic one again.
    pub(crate) fn resync_wall(&self) {
        let mono = self.now();
        let offset = wall_clock_ms().saturating_sub(i64::try_from(mono.as_millis()).unwrap_or(i64::MAX));
        self.wall_offset_ms.store(offset, Ordering::Relaxed);
    }

    /// The wall-clock time of engine instant `t`, in milliseconds since the Unix epoch.
    pub(crate) fn wall_ms(&self, t: Instant) -> i64 {
        self.wall_offset_ms.load(Ordering::Relaxed).saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX))
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
    /// The delivery listener, once set (`Producer::set_delivery_listener`).
    pub(crate) listener: OnceLock<Listener>,
    clock: Clock,
}

impl Shared {
    pub(crate) fn new(engine: Engine<'static>, waker: mio::Waker, start: StdInstant) -> Self {
        Self {
            state: Mutex::new(State::new(engine)),
            progress: Condvar::new(),
            waker,
            listener: OnceLock::new(),
            clock: Clock::new(start),
        }
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

    /// The engine's clock (also the source of record timestamps).
    pub(crate) const fn clock(&self) -> &Clock {
        &self.clock
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
        state: MutexGuard<'a, State>,
        deadline: StdInstant,
    ) -> (MutexGuard<'a, State>, bool) {
        self.wait(state, deadline, false)
    }

    /// [`Shared::wait_until`] for a thread that waits for buffer space (see
    /// [`State::wake_waiters`]). It also looks again by itself every [`SPACE_RECHECK`]: if
    /// batches stuck on an unavailable partition hold most of the buffer, the space the others
    /// free may never reach the wake-up mark, and a send that fits must not wait for
    /// `max.block.ms` regardless.
    pub(crate) fn wait_for_space<'a>(
        &'a self,
        state: MutexGuard<'a, State>,
        deadline: StdInstant,
    ) -> (MutexGuard<'a, State>, bool) {
        let recheck = StdInstant::now() + SPACE_RECHECK;
        self.wait(state, deadline.min(recheck), true)
    }

    fn wait<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: StdInstant,
        for_space: bool,
    ) -> (MutexGuard<'a, State>, bool) {
        let left = deadline.saturating_duration_since(StdInstant::now());
        if left.is_zero() {
            return (state, false);
        }
        state.waiters += 1;
        state.space_waiters += usize::from(for_space);
        let mut state = self.progress.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        state.waiters -= 1;
        state.space_waiters -= usize::from(for_space);
        (state, true)
    }
}

/// How often a thread waiting for buffer space looks again without being woken.
const SPACE_RECHECK: core::time::Duration = core::time::Duration::from_millis(20);

/// Milliseconds since the Unix epoch, by the system clock (0 before 1970).
fn wall_clock_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_the_wall_clock() {
        let clock = Clock::new(StdInstant::now());
        std::thread::sleep(core::time::Duration::from_millis(30));
        let before = wall_clock_ms();
        let ts = clock.wall_ms(clock.now());
        let after = wall_clock_ms();
        // Millisecond truncation of two clocks: allow one step either way.
        assert!(before - 1 <= ts && ts <= after + 1, "{before} <= {ts} <= {after}");
        // A later instant maps to a later timestamp, by the same amount.
        let t = clock.now();
        let later = Instant::from_micros(t.as_micros() + 5_000_000);
        assert_eq!(clock.wall_ms(later) - clock.wall_ms(t), 5_000);
    }
}
