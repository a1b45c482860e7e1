//! When the cache wants a refresh, and the timing of refreshes: what is due, the retry backoff,
//! which connection an outstanding refresh went out on. The engine asks [`Metadata::refresh_at`]
//! and reports what happened; it keeps no refresh state of its own.

use core::time::Duration;

use super::{Metadata, PartitionIdx, TopicSlot, TopicState};
use crate::backoff::Backoff;
use crate::protocol::metadata::MetadataRequestTopic;
use crate::rng::Rng;
use crate::time::Instant;

impl Metadata<'_> {
    // ---- refresh policy ----

    /// Whether a refresh is due (see the module docs).
    pub(crate) fn needs_refresh(&self, now: Instant, max_age: Duration) -> bool {
        self.next_refresh_at(max_age).is_some_and(|at| at <= now)
    }

    /// When a refresh becomes due: a past instant (the last refresh, or [`Instant::ZERO`]) when it
    /// is due already; `None` while one is outstanding or no topic is wanted.
    pub(super) fn next_refresh_at(&self, max_age: Duration) -> Option<Instant> {
        if self.in_flight || self.wanted_topics().next().is_none() {
            return None;
        }
        let last = self.refreshed_at.unwrap_or(Instant::ZERO);
        if self.refreshed_at.is_none() || self.urgent() {
            Some(last)
        } else {
            Some(last + max_age)
        }
    }

    pub(super) fn urgent(&self) -> bool {
        self.requested || self.topic_slots().iter().any(unresolved)
    }

    /// Whether the refresh due at `now` can be partial: nothing but topics without metadata asks
    /// for it, and the last full refresh is younger than `max_age` (see the module docs).
    pub(crate) fn partial_refresh(&self, now: Instant, max_age: Duration) -> bool {
        !self.requested
            && self.refreshed_at.is_some_and(|at| now < at + max_age)
            && self.wanted_topics().any(|(_, s)| unresolved(s))
    }

    /// The topics of the next MetadataRequest, by name: every wanted topic that is not idle, or
    /// for a `partial` refresh only those without metadata. Topic ids are left zero: brokers
    /// reject ids below v12 and switch to lookup by id from v12.
    pub(crate) fn request_topics(&self, partial: bool) -> impl Iterator<Item = MetadataRequestTopic<'_>> {
        self.wanted_topics()
            .filter(move |(_, s)| !partial || unresolved(s))
            .map(|(_, s)| MetadataRequestTopic::named(s.name()))
    }

    /// Records that a MetadataRequest was sent. The reasons for it are kept until
    /// [`Metadata::apply`] or [`Metadata::refresh_failed`], one of which must end every refresh
    /// (also on timeout or disconnect), else no other refresh is ever due. (`now` is for
    /// symmetry with the engine's other inputs; the engine keeps its own request deadlines.)
    pub(super) fn begin_refresh(&mut self, _now: Instant) {
        self.in_flight = true;
        self.requested_in_flight |= self.requested;
        self.requested = false;
    }

    /// Records that the outstanding refresh failed (connection lost, timeout, undecodable
    /// answer); whatever asked for it asks again. The caller backs off before the next one.
    pub(super) fn refresh_failed(&mut self, _now: Instant) {
        self.in_flight = false;
        self.partial_in_flight = false;
        self.requested |= self.requested_in_flight;
        self.requested_in_flight = false;
    }

    // ---- refresh timing: what the engine sends when ----

    /// When the next refresh goes: once due ([`Metadata::next_refresh_at`]) and out of its
    /// retry backoff. `None` while one is outstanding or no topic is wanted.
    pub(crate) fn refresh_at(&self, max_age: Duration) -> Option<Instant> {
        self.next_refresh_at(max_age).map(|t| t.max(self.retry_at))
    }

    /// A refresh went out on connection slot `conn` (see [`Metadata::begin_refresh`]); `partial`:
    /// it named only the topics without metadata ([`Metadata::partial_refresh`]).
    pub(crate) fn refresh_sent(&mut self, conn: u16, now: Instant, partial: bool) {
        self.begin_refresh(now);
        self.partial_in_flight = partial;
        self.refresh_conn = conn;
    }

    /// Connection slot `conn` is gone, or answered something that does not decode: if the
    /// outstanding refresh went out on it, it failed, and the next waits for the backoff.
    pub(crate) fn refresh_lost(&mut self, conn: u16, now: Instant, backoff: &Backoff, rng: &mut Rng) {
        if self.refresh_conn == conn {
            self.refresh_conn = u16::MAX;
            self.refresh_failed(now);
            self.back_off(now, backoff, rng);
        }
    }

    /// The refresh was answered and [`Metadata::apply`]ed (`applied`: it was `Ok`). While the
    /// answer leaves something unresolved (a topic pending, a partition without leader) or did
    /// not apply, refreshes are spaced by the growing retry backoff, so an unsettled cluster is
    /// not asked in a hot loop.
    pub(crate) fn refresh_answered(
        &mut self,
        applied: bool,
        now: Instant,
        max_age: Duration,
        backoff: &Backoff,
        rng: &mut Rng,
    ) {
        self.refresh_conn = u16::MAX;
        if !applied || self.needs_refresh(now, max_age) {
            self.back_off(now, backoff, rng);
        } else {
            self.failures = 0;
        }
    }

    /// No refresh before `until` (a lost connection: a broker that closes connections on every
    /// error must not cause a refresh per round trip).
    pub(crate) fn hold_refresh(&mut self, until: Instant) {
        self.retry_at = self.retry_at.max(until);
    }

    /// Forgets the outstanding refresh (the producer closed every connection).
    pub(crate) fn abandon_refresh(&mut self, now: Instant) {
        if self.refresh_conn != u16::MAX {
            self.refresh_conn = u16::MAX;
            self.refresh_failed(now);
        }
    }

    pub(super) fn back_off(&mut self, now: Instant, backoff: &Backoff, rng: &mut Rng) {
        self.retry_at = now + backoff.delay(self.failures, rng);
        self.failures = self.failures.saturating_add(1);
    }

    /// Asks for a refresh because a request for partition `pi` failed with an invalid-metadata
    /// error (NOT_LEADER_OR_FOLLOWER, UNKNOWN_TOPIC_OR_PARTITION, REPLICA_NOT_AVAILABLE,
    /// KAFKA_STORAGE_ERROR, ...) and carried no KIP-951 hint. The cached leader stays until the
    /// refresh answers. (Every refresh covers all wanted topics, so this is
    /// [`Metadata::invalidate_all`]; the argument documents the call site.)
    pub(crate) fn invalidate(&mut self, _pi: PartitionIdx) {
        self.invalidate_all();
    }

    /// Asks for a refresh, e.g. after losing a connection to a leader.
    pub(crate) fn invalidate_all(&mut self) {
        self.requested = true;
    }
}

/// A wanted topic without usable metadata that a refresh should ask about: new (`Pending`), or
/// answered with a retriable error (UNKNOWN_TOPIC_OR_PARTITION while it is being created).
fn unresolved(s: &TopicSlot) -> bool {
    match s.state {
        TopicState::Pending => true,
        TopicState::Failed(code) => code.is_retriable(),
        _ => false,
    }
}
