//! Timer wake-ups: the driver sleeps on the engine's `poll_timeout`, and waking there must get
//! something done. A wake-up on the deadline alone (no network event, no application call at
//! that instant) whose `handle_timeout` and drain give no frame, no event and no change a
//! getter shows is *idle*: the engine asked to be woken for nothing, and a driver would spin
//! on it or need a stall back-off.
//!
//! The engine's state is private, so [`cause`] says what the deadline matches as far as the
//! simulation can tell (a pending batch's linger expiry or delivery timeout, the close
//! deadline), and what the engine could be waiting on.

use kprod_core::producer::metrics::Metrics;
use kprod_core::record::ProducerState;
use kprod_core::time::Instant;

use super::driver::{Accepted, Phase, Sim};

/// What the getters show of the engine: if none of it changes and nothing comes out, a
/// wake-up did nothing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observed {
    pending: usize,
    free: usize,
    metrics: Metrics,
    producer_id: Option<ProducerState>,
    fatal: bool,
    txn: kprod_core::producer::txn::TxnState,
}

impl Observed {
    /// The getters of `sim`'s engine now.
    pub fn of(sim: &Sim) -> Self {
        let p = &sim.producer;
        Self {
            pending: p.pending_batches(),
            free: p.free_buffer(),
            metrics: *p.metrics(),
            producer_id: p.producer_id(),
            fatal: p.fatal_error().is_some(),
            txn: p.txn_state(),
        }
    }
}

/// A timer wake-up that did nothing.
#[derive(Debug, Clone)]
pub struct IdleWakeup {
    /// The deadline the driver slept on (`poll_timeout` as of the previous drain): now.
    pub at: Instant,
    /// `poll_timeout` just before `handle_timeout` (later than `at` if a `send` since the last
    /// drain moved it; then the driver woke on a deadline the engine no longer has).
    pub before: Option<Instant>,
    /// `poll_timeout` after the drain.
    pub after: Option<Instant>,
    /// `pending_batches()`.
    pub pending: usize,
    /// What the deadline matches (see [`cause`]).
    pub cause: String,
    /// What the engine may be waiting on.
    pub context: String,
}

impl core::fmt::Display for IdleWakeup {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let us = |t: Option<Instant>| t.map_or_else(|| "none".to_owned(), |t| format!("{}µs", t.as_micros()));
        write!(
            f,
            "at {}µs ({}): poll_timeout before {}, after {}; {} batches pending; {}",
            self.at.as_micros(),
            self.cause,
            us(self.before),
            us(self.after),
            self.pending,
            self.context
        )
    }
}

impl Sim {
    /// Whether the IO loop wakes now on its timer alone: the deadline is now, and no network
    /// event, no application action and no other wake-up happens at this instant.
    pub(super) fn timer_alone(&self) -> bool {
        !self.timer_floor
            && self.timer.is_some_and(|t| t <= self.now)
            && self.net.peek_due(self.now).is_none()
            && self.woken_at != Some(self.now)
            && self.app_wake().is_none_or(|t| t > self.now)
    }

    /// The IO loop's timer fired (no network event is due): `handle_timeout` if the engine's
    /// deadline has come, the drain, and, for a wake-up on the timer `alone`, whether it got
    /// anything done.
    pub(super) fn on_timer(&mut self, alone: bool) {
        let (before, outputs, observed) = (self.producer.poll_timeout(), self.outputs, Observed::of(self));
        if before.is_some_and(|t| t <= self.now) {
            self.log(|| "handle_timeout".into());
            self.producer.handle_timeout(self.now);
        }
        self.drain();
        self.out.timer_wakeups += u64::from(alone);
        if alone && self.outputs == outputs && Observed::of(self) == observed {
            self.idle_wakeup(before);
        }
    }

    /// Records a timer wake-up that gave no frame, no event and no visible change.
    fn idle_wakeup(&mut self, before: Option<Instant>) {
        let mut cause = cause(self, self.now);
        if before.is_none_or(|t| t > self.now) {
            // A `send` since the last drain (which did not wake the IO loop) moved the deadline.
            cause += ", a deadline the engine dropped since the last drain";
        }
        let idle = IdleWakeup {
            at: self.now,
            before,
            after: self.producer.poll_timeout(),
            pending: self.producer.pending_batches(),
            cause,
            context: context(self),
        };
        self.log(|| format!("idle wake-up {idle}"));
        self.out.idle.push(idle);
    }
}

/// What deadline `at` is, as far as the simulation can tell: the linger expiry or delivery
/// timeout of a pending batch (created when `send` put record 0 in it), the close deadline, or
/// one of the deadlines it cannot see (retry or reconnect backoff, metadata refresh, producer id
/// retry).
pub fn cause(sim: &Sim, at: Instant) -> String {
    let c = &sim.sc.config;
    if matches!(sim.phase, Phase::Closing(d) if d == at) {
        return "the close deadline".into();
    }
    // Batches still pending, by when they opened. A delivery timeout fails its batch (an
    // event), so a linger expiry at the same instant is the likelier cause.
    let opened =
        || sim.out.accepted.iter().filter(|a| a.id.index == 0 && !sim.out.completions.contains_key(&a.id.batch));
    // The sim cannot tell which of the batches opened at one instant are in flight: it names
    // the first.
    let whose = |a: &Accepted| {
        let topic = &sim.sc.records[a.planned].topic;
        format!(
            "a batch opened at {}µs (the first: {:?} of {topic}, record #{})",
            a.at.as_micros(),
            a.id.batch,
            a.planned
        )
    };
    if let Some(a) = opened().find(|a| a.at + c.linger == at) {
        return format!("linger expiry of {}", whose(a));
    }
    if let Some(a) = opened().find(|a| a.at + c.delivery_timeout == at) {
        return format!("delivery timeout of {}", whose(a));
    }
    "a deadline the sim cannot see (retry or reconnect backoff, metadata refresh, producer id retry)".into()
}

/// What the engine may be waiting on: connections open and connecting, frames on their way.
pub fn context(sim: &Sim) -> String {
    let open: Vec<_> = sim.net.open_links().collect();
    let connecting = open.iter().filter(|l| !l.connected).count();
    format!(
        "{} connections ({connecting} connecting), {} network events queued, phase {:?}",
        open.len(),
        sim.net.queued(),
        sim.phase
    )
}
