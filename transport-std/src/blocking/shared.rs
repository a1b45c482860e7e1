//! What the blocking [`Producer`](super::Producer) handles and the IO thread share: the
//! [`State`] behind its mutex, a condvar for waiting user threads, and the IO thread's waker.
//!
//! # Waking
//! The IO thread sets `io_sleeping` before it waits in `mio::Poll`. A user thread whose call
//! may have moved the engine's next deadline earlier (a record that opened a new batch, a
//! record waiting for metadata, `flush`, `close`) wakes it through the `mio::Waker` if that
//! flag is set, and clears it, so a burst of sends costs one wake-up. Waiting user threads
//! (`send` on a full buffer or missing metadata, `flush`, `close`, `partitions_for`) count
//! themselves in `waiters` and sleep on `progress`, which the IO thread signals after a round
//! that changed something.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError, Weak};
use std::time::Instant as StdInstant;

use kprod_core::producer::Producer as Engine;
use kprod_core::time::Instant;

use crate::config::ProducerConfig;
use crate::delivery::Listener;
use crate::error::Error;
use crate::state::{lock_state, Clock, JobBuffers, State};

/// Shared between the `Producer` handle(s) and the IO thread.
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) progress: Condvar,
    pub(crate) waker: mio::Waker,
    /// The delivery listener, once set (`Producer::set_delivery_listener`).
    pub(crate) listener: OnceLock<Listener>,
    /// The buffers of the sender that helps with compression (see [`JobBuffers`]): one at a
    /// time, so threads that block in `send` do not each keep a batch's worth of them.
    pub(crate) helper_jobs: Mutex<JobBuffers>,
    clock: Clock,
}

impl Shared {
    pub(crate) fn new(engine: Engine<'static>, waker: mio::Waker) -> Self {
        Self {
            state: Mutex::new(State::new(engine)),
            progress: Condvar::new(),
            waker,
            listener: OnceLock::new(),
            helper_jobs: Mutex::new(JobBuffers::default()),
            clock: Clock::new(),
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

    /// Runs one compression job if the engine has one (see [`JobBuffers`]): takes it under the
    /// lock, compresses without it, and hands the result back under it again, waking the IO
    /// thread (the batch may now go). Returns the guard and whether a job ran.
    pub(crate) fn run_compression_job<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        bufs: &mut JobBuffers,
    ) -> (MutexGuard<'a, State>, bool) {
        let Some(job) = bufs.take(&mut state, self.now()) else {
            return (state, false);
        };
        drop(state);
        let n = bufs.compress(job);
        let mut state = self.lock();
        bufs.finish(&mut state, job, n);
        self.wake_io(&mut state);
        (state, true)
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

impl Shared {
    /// The statistics snapshot, now (JSON).
    pub(crate) fn statistics_json(&self) -> String {
        let now = self.now();
        let st = self.lock();
        crate::stats::snapshot(&st.engine, now, self.clock().wall_ms(now))
    }
}

/// Starts the statistics thread if `config` asks for one (`statistics.interval.ms` above 0
/// and a statistics callback). It holds the producer's state weakly and ends at the first
/// tick after the IO thread stopped (so up to one interval after `close`).
pub(crate) fn start_statistics(shared: &Arc<Shared>, config: &ProducerConfig) -> Result<(), Error> {
    let (Some(callback), interval) = (config.hooks.statistics.clone(), config.hooks.statistics_interval) else {
        return Ok(());
    };
    if interval.is_zero() {
        return Ok(());
    }
    let weak: Weak<Shared> = Arc::downgrade(shared);
    std::thread::Builder::new()
        .name(format!("kprod-stats-{}", config.client_id))
        .spawn(move || loop {
            std::thread::sleep(interval);
            let Some(shared) = weak.upgrade() else { return };
            if shared.lock().io_stopped {
                return;
            }
            let json = shared.statistics_json();
            drop(shared);
            crate::stats::deliver(&callback, &json);
        })
        .map(drop)
        .map_err(|e| Error::Io(format!("cannot start the statistics thread: {e}")))
}
