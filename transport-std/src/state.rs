//! What a producer's handles and its driver (the blocking IO thread or the tokio task) share
//! behind one mutex: the engine, the completion registry, the close and stop flags and the last
//! connection error; and the engine's clock.
//!
//! # Locking
//! One `Mutex<State>`. A user thread holds it for one `engine.send` (which copies the record
//! into the engine's arena) and the registration of its handle; the driver holds it to feed
//! the engine what the sockets gave and to drain its outputs into per-connection outboxes.
//! Socket reads and writes, DNS, connects and callbacks all run outside the lock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use kprod_core::producer::{BatchId, CompressionJob};
use kprod_core::producer::{Producer as Engine, Storage};
use kprod_core::time::Instant;

use crate::config::ProducerConfig;
use crate::delivery::{Completed, Registry};
use crate::error::{ConnectionError, Error};

/// A compression job's records and result, reused from job to job. Compression jobs
/// (`Producer::take_compression_job`) take a closed batch's compression out of the engine: its
/// records are copied out under the lock, compressed without it, and the result is copied back
/// under it. So compression never holds the lock. The blocking producer runs jobs on two
/// threads: the IO thread between rounds, and a sender that waits for buffer space instead of
/// sleeping; the tokio driver between rounds, on the runtime's blocking pool.
#[derive(Default)]
pub(crate) struct JobBuffers {
    input: Vec<u8>,
    output: Vec<u8>,
}

impl JobBuffers {
    /// Takes a job, if there is one, and copies its records (under the lock).
    pub(crate) fn take(&mut self, state: &mut State, now: Instant) -> Option<CompressionJob> {
        let (job, records) = state.engine.take_compression_job(now)?;
        self.input.clear();
        self.input.extend_from_slice(records);
        Some(job)
    }

    /// Compresses the job's records (without the lock); the compressed length, if it worked.
    /// The output buffer holds the codec's worst case, about the records' size (1 MiB and more
    /// for a compressed producer's batches), of which a result fills a few times less: its
    /// growth is not kept resident (1 MiB of text through gzip: 0.3 MiB resident, not 1.2).
    pub(crate) fn compress(&mut self, job: CompressionJob) -> Option<usize> {
        crate::release::grow_zeroed(&mut self.output, job.max_output_len(self.input.len()));
        job.compress(&self.input, &mut self.output)
    }

    /// Hands the result back (under the lock).
    pub(crate) fn finish(&self, state: &mut State, job: CompressionJob, compressed: Option<usize>) {
        state.engine.finish_compression_job(job, compressed.map(|n| &self.output[..n]));
    }
}

/// State behind the lock.
pub(crate) struct State {
    pub(crate) engine: Engine<'static>,
    pub(crate) registry: Registry,
    /// The blocking IO thread is (about to be) waiting in `poll`: wake it for new work.
    pub(crate) io_sleeping: bool,
    /// Blocking user threads waiting on `progress`.
    pub(crate) waiters: usize,
    /// Those of `waiters` that wait for buffer space (a `send` refused with a full buffer).
    pub(crate) space_waiters: usize,
    /// Free buffer bytes that wake `space_waiters` (a quarter of `buffer.memory`).
    space_low_water: usize,
    /// The driver took completions out of the registry and is resolving them.
    pub(crate) dispatching: bool,
    /// `close` was called.
    pub(crate) closing: bool,
    /// The driver has stopped: nothing will complete any more.
    pub(crate) io_stopped: bool,
    /// Records failed because the close deadline came first.
    pub(crate) failed_on_close: u64,
    /// The last connection error, for timeout errors to name.
    last_error: Option<LastError>,
    /// The result of the transactional call under way, once the engine gave it.
    pub(crate) txn_result: Option<kprod_core::producer::txn::TxnResult>,
}

/// A connection error and when it happened.
struct LastError {
    error: Arc<ConnectionError>,
    at: Instant,
    /// A connection came up after it.
    healed: bool,
}

impl State {
    /// The state of a new producer.
    pub(crate) fn new(engine: Engine<'static>) -> Self {
        let space_low_water = engine.free_buffer() / 4;
        let registry = Registry::new(engine.config().batch_size);
        Self {
            engine,
            registry,
            io_sleeping: false,
            waiters: 0,
            space_waiters: 0,
            space_low_water,
            dispatching: false,
            closing: false,
            io_stopped: false,
            failed_on_close: 0,
            last_error: None,
            txn_result: None,
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

    /// The driver stopped (returned, panicked, or was dropped): nothing completes any more.
    /// Returns every batch still waiting, failed with [`Error::Closed`], to resolve outside the
    /// lock.
    pub(crate) fn stop(&mut self) -> Vec<Completed> {
        self.io_stopped = true;
        self.io_sleeping = false;
        self.dispatching = false;
        self.registry.fail_all(&Error::Closed)
    }

    /// Remembers `error` as the last connection error.
    pub(crate) fn note_error(&mut self, error: ConnectionError, now: Instant) {
        self.last_error = Some(LastError { error: Arc::new(error), at: now, healed: false });
    }

    /// A connection came up: the last error may no longer explain a wait that starts now.
    pub(crate) fn note_connected(&mut self) {
        if let Some(last) = &mut self.last_error {
            last.healed = true;
        }
    }

    /// The last connection error, if it may explain a wait that began at `since`: it happened
    /// since then, or no connection has come up after it.
    pub(crate) fn cause_since(&self, since: Instant) -> Option<Arc<ConnectionError>> {
        let last = self.last_error.as_ref()?;
        (last.at >= since || !last.healed).then(|| Arc::clone(&last.error))
    }
}

/// The engine's first instant: every connection error happened since.
pub(crate) const EPOCH: Instant = Instant::ZERO;

/// The engine for `config` (both drivers build it so).
pub(crate) fn build_engine(config: &ProducerConfig) -> Result<Engine<'static>, Error> {
    let valid = config.validate()?;
    let storage = Storage::with_capacity(valid.config(), config.capacities);
    // Arena pages whose batches are gone go back to the operating system.
    #[cfg(target_os = "linux")]
    let storage = storage.with_release(crate::release::release, crate::release::page_size());
    let resolved = config.resolved_bootstrap()?;
    let bootstrap: Vec<(&str, u16)> = resolved.iter().map(|(h, p)| (h.as_str(), *p)).collect();
    let sasl = valid.config().sasl.enabled;
    let mut engine = Engine::new(valid, &bootstrap, storage, Instant::ZERO)
        .map_err(|e| Error::Config(format!("cannot build the producer: {e:?}")))?;
    if sasl {
        // The SCRAM client nonce's entropy, from the operating system through rustls's provider.
        let mut seed = [0u8; 32];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut seed)
            .map_err(|_| Error::Config("no randomness from the operating system for the SASL nonce".into()))?;
        engine.handle_entropy(&seed);
    }
    Ok(engine)
}

/// Hands the engine an OAUTHBEARER token when a connection waits for one: Kafka's unsecured
/// token built from the `sasl.jaas.config` options (`unsecuredLoginStringClaim_sub`, ...), as the
/// Java client's default login handler does. A static `kprod.sasl.oauthbearer.token` needs none.
pub(crate) fn supply_oauth_token(engine: &mut Engine<'static>, now: Instant) {
    if !engine.oauth_token_wanted() {
        return;
    }
    let Some(jaas) = engine.config().sasl.jaas else { return };
    let unix_ms = u64::try_from(wall_clock_us() / 1000).unwrap_or(0);
    let mut buf = vec![0u8; 4096];
    match kprod_core::sasl::oauthbearer::unsecured_token(&jaas, unix_ms, &mut buf) {
        Ok(n) => match core::str::from_utf8(&buf[..n]) {
            Ok(token) => engine.handle_oauth_token(token, now),
            Err(_) => log::warn!("kprod: the unsecured OAUTHBEARER token is not UTF-8"),
        },
        Err(e) => log::warn!("kprod: no OAUTHBEARER token from sasl.jaas.config: {e:?}"),
    }
}

/// The engine's clock: microseconds since the producer was built. It also gives record
/// timestamps (wall-clock milliseconds) from the same monotonic reading: a send reads the clock
/// once, not twice. The wall clock's offset is read again by the driver every round
/// ([`Clock::resync_wall`]), so a step of the system clock shows in timestamps within a round.
///
/// Every send reads it. On Linux it reads `CLOCK_MONOTONIC` (the clock of std's `Instant`
/// there) as integer nanoseconds: std's `Instant` arithmetic (`duration_since`, `as_micros`)
/// cost about 60 instructions a reading more, 2% of a record's whole cost at 100 B (callgrind).
/// It has cache lines of its own (the alignment), away from the state lock's word that both
/// threads write, and the IO thread writes it only when the wall clock moved against the
/// monotonic one ([`Clock::resync_wall`]), not every round: what the sending thread reads for
/// every record is not taken from its cache by every round (a design choice; wall-clock A/Bs
/// here cannot resolve its effect, see BENCHMARKS.md).
#[derive(Debug)]
#[repr(align(128))]
pub(crate) struct Clock {
    start: StdInstant,
    /// `start` in the monotonic clock's nanoseconds, read just before it (so an engine instant
    /// is never later than its [`Clock::std_at`]: a wait until it does not end early).
    #[cfg(target_os = "linux")]
    start_ns: u64,
    /// Wall-clock microseconds since the Unix epoch at engine instant zero.
    wall_offset_us: AtomicI64,
}

impl Clock {
    /// A clock whose instant zero is now.
    pub(crate) fn new() -> Self {
        #[cfg(target_os = "linux")]
        let start_ns = monotonic_ns().unwrap_or(0);
        let clock = Self {
            start: StdInstant::now(),
            #[cfg(target_os = "linux")]
            start_ns,
            wall_offset_us: AtomicI64::new(0),
        };
        clock.resync_wall();
        clock
    }

    /// Reads the wall clock against the monotonic one again. The offset is stored only if it
    /// moved by more than [`WALL_TOLERANCE_US`] (a step of the system clock, or NTP's slew
    /// adding up), so timestamps stay within that of the wall clock's.
    pub(crate) fn resync_wall(&self) {
        let mono = i64::try_from(self.now().as_micros()).unwrap_or(i64::MAX);
        let offset = wall_clock_us().saturating_sub(mono);
        if offset.abs_diff(self.wall_offset_us.load(Ordering::Relaxed)) > WALL_TOLERANCE_US {
            self.wall_offset_us.store(offset, Ordering::Relaxed);
        }
    }

    /// The wall-clock time of engine instant `t`, in milliseconds since the Unix epoch.
    pub(crate) fn wall_ms(&self, t: Instant) -> i64 {
        let t = i64::try_from(t.as_micros()).unwrap_or(i64::MAX);
        self.wall_offset_us.load(Ordering::Relaxed).saturating_add(t).div_euclid(1000)
    }

    /// Now, on the engine's clock.
    #[inline]
    pub(crate) fn now(&self) -> Instant {
        #[cfg(target_os = "linux")]
        if let Some(ns) = monotonic_ns() {
            return Instant::from_micros(ns.saturating_sub(self.start_ns) / 1000);
        }
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

/// `CLOCK_MONOTONIC` in nanoseconds (`None` if the call fails, which it does not on Linux).
#[cfg(target_os = "linux")]
#[inline]
fn monotonic_ns() -> Option<u64> {
    let t = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let (secs, nanos) = (u64::try_from(t.tv_sec()).ok()?, u64::try_from(t.tv_nsec()).ok()?);
    Some(secs.wrapping_mul(1_000_000_000).wrapping_add(nanos))
}

/// Locks a producer's state. A panic while holding the lock is a bug of ours; the state is
/// still the best information there is, so later calls go on with it.
pub(crate) fn lock_state(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How far the stored wall-clock offset may drift before [`Clock::resync_wall`] stores it again.
const WALL_TOLERANCE_US: u64 = 100;

/// Microseconds since the Unix epoch, by the system clock (0 before 1970).
fn wall_clock_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_follow_the_wall_clock() {
        let clock = Clock::new();
        std::thread::sleep(core::time::Duration::from_millis(30));
        clock.resync_wall();
        let before = wall_clock_us();
        let ts = clock.wall_ms(clock.now());
        let after = wall_clock_us();
        // Within the resync's tolerance of the wall clock, truncated to milliseconds.
        let tolerance = WALL_TOLERANCE_US as i64;
        let (low, high) = ((before - tolerance).div_euclid(1000), (after + tolerance).div_euclid(1000));
        assert!(low <= ts && ts <= high, "{low} <= {ts} <= {high}");
        // A later instant maps to a later timestamp, by the same amount.
        let t = clock.now();
        let later = Instant::from_micros(t.as_micros() + 5_000_000);
        assert_eq!(clock.wall_ms(later) - clock.wall_ms(t), 5_000);
    }
}
