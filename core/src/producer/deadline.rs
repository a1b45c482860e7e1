//! `poll_timeout`: the next instant at which [`Producer::handle_timeout`] followed by a drain
//! makes progress.
//!
//! The contract: a deadline returned here is one the engine acts on at that instant. Either
//! `handle_timeout` acts (a request or delivery timeout, an idle connection, the close
//! deadline), or `poll_transmit` does (a batch's linger or retry backoff ends on a connection
//! that can take a request and is not throttled, a metadata refresh or an InitProducerId falls due with a
//! connection to carry it or a broker to open one to, a reconnect backoff ends for a broker
//! the engine needs, a SASL session's re-authentication point on a connection with nothing in
//! flight). Anything else waits for an input (a response, a connect, a token), which wakes
//! the driver anyway. So drivers sleep exactly until the deadline and never back off; the
//! simulator counts wake-ups that did nothing, and that count is 0.
//!
//! Each rule below uses the same predicates `poll_transmit` decides with
//! ([`Producer::next_batch_candidate`], [`Producer::batch_ready_at`],
//! [`Producer::id_request_waits`]), so the two cannot disagree.

use super::conn::{ConnState, Connection};
use super::engine::Producer;
use super::metadata::PartitionIdx;
use crate::partitioner::Partitioner;
use crate::time::Instant;

/// The earliest of the deadlines offered.
#[derive(Debug, Default)]
struct Earliest(Option<Instant>);

impl Earliest {
    fn offer(&mut self, t: Instant) {
        self.0 = Some(self.0.map_or(t, |a| a.min(t)));
    }
}

impl<P: Partitioner> Producer<'_, P> {
    /// When to call `handle_timeout` next (`None`: only when an input arrives). See the module
    /// docs of `deadline.rs` for the contract; a deadline already reached means "now" (a
    /// completion waits for `poll_event`, or a timeout fell due).
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.acc.has_completed() {
            return Some(self.now);
        }
        let mut at = Earliest::default();
        self.expiry_deadlines(&mut at);
        if self.fatal.is_none() && !self.closed() {
            self.metadata_deadline(&mut at);
            self.producer_id_deadline(&mut at);
            self.batch_deadlines(&mut at);
            self.reconnect_deadlines(&mut at);
            self.conns.iter().filter_map(|c| self.reauth_deadline(c)).for_each(|t| at.offer(t));
            self.txn_deadline(&mut at);
        }
        at.0
    }

    /// What `handle_timeout` acts on: request and delivery timeouts, idle connections, the
    /// close deadline.
    fn expiry_deadlines(&self, at: &mut Earliest) {
        for c in self.conns.iter().filter(|c| c.is_used() && !c.want_close) {
            if let Some(d) = c.request_deadline(self.config.request_timeout) {
                at.offer(d);
            }
            if c.state == ConnState::Ready && c.in_flight.is_empty() {
                at.offer(c.last_active + self.config.connections_max_idle);
            }
        }
        for pi in self.acc_partitions() {
            if let Some((_, b)) = self.expirable(pi).next() {
                at.offer(b.created() + self.config.delivery_timeout);
            }
        }
        if let Some(d) = self.close_deadline.filter(|_| !self.acc.is_empty()) {
            at.offer(d);
        }
    }

    /// Every partition slot the accumulator has a queue for (the metadata's partition span may
    /// leave out a retiring partition that still holds batches).
    pub(super) fn acc_partitions(&self) -> impl Iterator<Item = u16> + '_ {
        (0..=u16::MAX).map_while(|pi| self.acc.queue(pi).map(|_| pi)).filter(|&pi| self.acc.queue_len(pi) > 0)
    }

    /// The batches of partition slot `pi` that the delivery timeout can expire (neither in
    /// flight, where the request's timeout covers them, nor complete), oldest first. A queue
    /// holds its batches in creation order, so the first one has the partition's earliest
    /// delivery deadline: the expiry check walks past the in-flight and complete batches at
    /// each queue's head instead of scanning every batch slot each round.
    pub(super) fn expirable(&self, pi: u16) -> impl Iterator<Item = (u16, &super::accumulator::BatchSlot)> + '_ {
        self.acc
            .iter_queue(pi)
            .filter_map(|s| self.acc.slot(s).map(|b| (s, b)))
            .filter(|(_, b)| !b.send().in_flight && !b.is_complete())
    }

    /// A metadata refresh that falls due in the future, if something can carry it then.
    fn metadata_deadline(&self, at: &mut Earliest) {
        let Some(t) = self.meta.refresh_at(self.config.metadata_max_age) else {
            return;
        };
        if t > self.now && (self.any_conn(t, |c| c.versions.metadata.is_some()) || self.can_open_any_at(t)) {
            at.offer(t);
        }
    }

    /// A wanted InitProducerId whose retry backoff ends in the future.
    fn producer_id_deadline(&self, at: &mut Earliest) {
        let Some((_, retry_at)) = self.idem.wanted() else {
            return;
        };
        // A transactional producer asks its coordinator only.
        let carrier = match self.txn.coordinator.filter(|_| self.txn.enabled()) {
            Some(node) => self.conns.iter().any(|c| c.node == node && self.can_request_at(c, retry_at)),
            None => {
                self.any_conn(retry_at, |c| c.versions.init_producer_id.is_some()) || self.can_open_any_at(retry_at)
            }
        };
        if retry_at > self.now && !self.id_request_waits() && carrier {
            at.offer(retry_at);
        }
    }

    /// The linger or retry backoff of each partition's next batch, where its leader's
    /// connection can take a Produce request.
    fn batch_deadlines(&self, at: &mut Earliest) {
        let Some((_, settling)) = self.idem.produce_mode() else {
            return;
        };
        for pi in 0..self.meta.partition_span() as u16 {
            if self.acc.queue(pi).is_none_or(|q| q.is_empty()) {
                continue;
            }
            let Some(node) = self.meta.leader(PartitionIdx(pi)) else {
                continue;
            };
            let ready = self.next_batch_candidate(pi, settling).and_then(|slot| self.batch_ready_at(slot));
            // A throttled broker (KIP-219) takes the batch once its throttle time is over.
            let carried = ready.and_then(|t| {
                self.conns
                    .iter()
                    .filter(|c| c.node == node && c.versions.produce.is_some())
                    .map(|c| (c, t.max(c.throttled_until)))
                    .find(|&(c, at)| self.can_request_at(c, at))
                    .map(|(_, at)| at)
            });
            if let Some(t) = carried.filter(|&t| t > self.now) {
                at.offer(t);
            }
        }
    }

    /// Reconnect backoffs that end in the future, for brokers the engine will connect to then:
    /// the leader of a partition with batches, or the first broker out of its backoff while
    /// something needs a connection and none is open or opening.
    fn reconnect_deadlines(&self, at: &mut Earliest) {
        for c in self.conns.iter() {
            let waiting =
                c.state == ConnState::Idle && !c.want_close && c.retry_at > self.now && c.sasl.failed.is_none();
            if waiting && self.leads_queued_partition(c.node) {
                at.offer(c.retry_at);
            }
        }
        if self.needs_any_connection(self.now) && !self.has_any_connection() {
            if let Some(t) = self.first_broker_usable_at().filter(|&t| t > self.now) {
                at.offer(t);
            }
        }
    }

    /// A transaction request whose backoff ends in the future, with a connection to carry it
    /// (or the reconnect of its coordinator).
    fn txn_deadline(&self, at: &mut Earliest) {
        if let Some((_, target, t)) = self.txn_next().filter(|&(_, _, t)| t > self.now) {
            let carrier = match target {
                super::txn::Target::Any => {
                    self.any_conn(t, |c| c.versions.txn != super::txn::TxnVersions::NONE) || self.can_open_any_at(t)
                }
                super::txn::Target::Node(n) => self.conns.iter().any(|c| c.node == n && self.can_request_at(c, t)),
            };
            if carrier {
                at.offer(t);
            }
        }
        if let Some(node) = self.txn_wanted_node() {
            let c = self.conns.iter().find(|c| c.is_used() && c.node == node);
            let reconnects = |c: &&Connection| {
                c.state == ConnState::Idle && !c.want_close && c.retry_at > self.now && c.sasl.failed.is_none()
            };
            if let Some(c) = c.filter(reconnects) {
                at.offer(c.retry_at);
            }
        }
    }

    /// Whether some ready connection can take a request at `t` and satisfies `f`.
    fn any_conn(&self, t: Instant, f: impl Fn(&Connection) -> bool) -> bool {
        self.conns.iter().any(|c| self.can_request_at(c, t) && f(c))
    }

    /// [`Self::can_request`], and at `t` no re-authentication holds requests back.
    fn can_request_at(&self, c: &Connection, t: Instant) -> bool {
        self.can_request(c) && c.sasl.usable_at(t, c.in_flight.is_empty())
    }

    fn can_request(&self, c: &Connection) -> bool {
        c.state == ConnState::Ready && !c.want_close && c.can_send(self.config.max_in_flight)
    }

    /// Whether, with no connection open or opening, the engine would open one at `t` (some
    /// broker is out of its reconnect backoff by then).
    fn can_open_any_at(&self, t: Instant) -> bool {
        !self.has_any_connection() && self.first_broker_usable_at().is_some_and(|u| u <= t)
    }

    /// When the first known broker (what `pick_any_node` chooses from) is out of its
    /// reconnect backoff.
    fn first_broker_usable_at(&self) -> Option<Instant> {
        let usable_at = |node: i32| match self.conns.iter().find(|c| c.is_used() && c.node == node) {
            Some(c) if c.sasl.failed.is_some() => None,
            Some(c) => Some(c.retry_at.max(self.now)),
            None => Some(self.now),
        };
        self.meta.brokers().filter_map(|b| usable_at(b.node_id)).min()
    }

    fn leads_queued_partition(&self, node: i32) -> bool {
        (0..self.meta.partition_span() as u16).any(|pi| self.queued_on(pi, node))
    }
}
