//! `poll_transmit`: which request goes out next, on which connection, encoded into the
//! driver's buffer.
//!
//! Per connection, in order: the ApiVersions handshake; a Metadata refresh (one at a time, on
//! any ready connection); InitProducerId (idempotence); then Produce with at most one batch per
//! partition per request, in queue order, up to `max.request.size` and at most
//! [`PRODUCE_PARTITIONS_PER_REQUEST`] partitions (measured better than no cap, see there).

use super::accumulator::{BatchSlot, Stage, PRESSED_FOR};
use super::conn::{ConnId, ConnState, Connection, InFlight, RequestKind};
use super::engine::{Producer, REQUEST_OVERHEAD};
use super::idempotence::DEDUP_WINDOW;
use super::metadata::{BrokerSlot, Metadata, PartitionIdx, TopicIdx};
use super::metrics::SentRequest;
use super::types::{FatalError, Outcome};
use crate::config::{Acks, ApiVersionPolicy};
use crate::partitioner::Partitioner;
use crate::protocol::api_versions::ApiVersionsRequest;
use crate::protocol::header::{encode_request, request_frame_len};
use crate::protocol::init_producer_id::InitProducerIdRequest;
use crate::protocol::metadata::MetadataRequest;
use crate::protocol::produce::{PartitionProduceData, ProduceRequest, TopicProduceData};
use crate::protocol::{ApiKey, Ctx, Encode, Request};
use crate::record::ProducerState;
use crate::time::Instant;
use crate::wire::SliceSink;
use crate::wire::{EncodeError, Sink};

/// The most partitions one Produce request (or AddPartitionsToTxn request) carries; the rest go
/// in the next request. Without a heap the request's tables are `heapless::Vec`s on the stack
/// (no_std has nowhere else to put them), and this bounds them: 128.
#[cfg(not(feature = "alloc"))]
pub const MAX_PARTITIONS_PER_REQUEST: usize = 128;

/// The most partitions a request's tables hold. With a heap they are `Vec`s and this is the
/// number of partition slots (`u16` indices), so it never binds: an AddPartitionsToTxn request
/// names every new partition at once, as Java's does. Produce requests have their own cap,
/// [`PRODUCE_PARTITIONS_PER_REQUEST`].
#[cfg(feature = "alloc")]
pub const MAX_PARTITIONS_PER_REQUEST: usize = u16::MAX as usize;

/// The most partitions one Produce request carries, in every build. The Java client and
/// librdkafka bound a request by `max.request.size` only, and heap builds' tables allow that
/// ([`MAX_PARTITIONS_PER_REQUEST`]), but measured on kprod (2026-12-03, `kprod perf`, one broker,
/// interleaved runs) lifting this cap made the scale benchmarks worse: 1,000 topics fell from
/// ~195,000 to ~127,000 records/s with 30% more client CPU, and 10,000 partitions by 13%. With one
/// small batch per partition, requests of thousands of partitions take the broker longer each
/// and leave the batches behind them less time to fill.
pub const PRODUCE_PARTITIONS_PER_REQUEST: usize = 128;

/// A request's table of partitions (see [`MAX_PARTITIONS_PER_REQUEST`]): a `Vec` with a heap, a
/// fixed-capacity `heapless::Vec` without one. Fill it with `extend` (never past
/// [`MAX_PARTITIONS_PER_REQUEST`]), which both forms have.
#[cfg(feature = "alloc")]
pub(super) type RequestTable<T> = alloc::vec::Vec<T>;

/// A request's table of partitions (see [`MAX_PARTITIONS_PER_REQUEST`]).
#[cfg(not(feature = "alloc"))]
pub(super) type RequestTable<T> = heapless::Vec<T, MAX_PARTITIONS_PER_REQUEST>;

/// An empty [`RequestTable`] for `n` entries, allocated once at its size.
#[cfg(feature = "alloc")]
pub(super) fn request_table<T>(n: usize) -> RequestTable<T> {
    alloc::vec::Vec::with_capacity(n)
}

/// An empty [`RequestTable`] (its capacity is fixed).
#[cfg(not(feature = "alloc"))]
pub(super) fn request_table<T>(_n: usize) -> RequestTable<T> {
    heapless::Vec::new()
}

/// The bytes a partition's entry in a Produce request takes besides its record batch: index,
/// the records' length prefix and tagged fields.
const PARTITION_FRAMING: usize = 10;

/// A partition's framing with its topic's (a 249-byte name at most: see `topic_framing`).
pub(super) const LONGEST_PARTITION_FRAMING: usize = PARTITION_FRAMING + 249 + 8;

/// A frame written into the driver's buffer, to be sent on `conn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit {
    /// The connection.
    pub conn: ConnId,
    /// Bytes written at the start of the buffer.
    pub len: usize,
    /// Whether the broker answers this frame (everything but Produce with `acks=0`). A driver
    /// that shares one stream between connections routes responses by it.
    pub expects_response: bool,
}

/// Why `poll_transmit` wrote nothing although a frame is ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransmitError {
    /// The buffer is smaller than the next frame; nothing was changed. Call again with at
    /// least `needed` bytes.
    BufferTooSmall {
        /// The frame's size.
        needed: usize,
    },
}

impl core::fmt::Display for TransmitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let Self::BufferTooSmall { needed } = self;
        write!(f, "transmit buffer too small: the next frame needs {needed} bytes")
    }
}

impl core::error::Error for TransmitError {}

type Polled = Result<Option<Transmit>, TransmitError>;

impl<P: Partitioner> Producer<'_, P> {
    /// Writes the next request frame into `buf`. Drain until `Ok(None)` after every input.
    #[must_use = "a written frame must be sent"]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Polled {
        if self.fatal.is_some() || self.closed() {
            return Ok(None);
        }
        if self.txn.state == super::txn::TxnState::AbortingTransaction {
            self.fail_unsent_for_abort(now);
        }
        self.plan_connections(now);
        self.fail_unauthenticated();
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            let polled = match c.state {
                ConnState::Handshake if c.in_flight.is_empty() => self.send_handshake(i, now, buf)?,
                ConnState::Ready if !c.link_busy => self.send_on_ready(i, now, buf)?,
                _ => None,
            };
            if polled.is_some() {
                return Ok(polled);
            }
        }
        Ok(None)
    }

    fn send_on_ready(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        if let Some(polled) = self.maybe_reauthenticate(i, now, buf) {
            return polled;
        }
        if !self.conns[i].can_send(self.config.max_in_flight) {
            return Ok(None);
        }
        if let Some(t) = self.send_metadata(i, now, buf)? {
            return Ok(Some(t));
        }
        if let Some(t) = self.send_txn(i, now, buf)? {
            return Ok(Some(t));
        }
        if let Some(t) = self.send_init_producer_id(i, now, buf)? {
            return Ok(Some(t));
        }
        self.send_produce(i, now, buf)
    }

    pub(super) fn send_api_versions(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        let version = self.conns[i].api_versions_version;
        let req =
            ApiVersionsRequest { client_software_name: "kprod", client_software_version: env!("CARGO_PKG_VERSION") };
        let sent = write_request(
            &mut self.conns[i],
            i,
            self.config.client_id,
            (RequestKind::ApiVersions, version),
            &req,
            true,
            now,
            buf,
        )?;
        Ok(sent.map(|(t, _)| t))
    }

    fn send_metadata(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        let due = self.meta.refresh_at(self.config.metadata_max_age).is_some_and(|t| t <= now);
        let Some(version) = self.conns[i].versions.metadata.filter(|_| due) else {
            return Ok(None);
        };
        self.retire_idle_topics(now);
        if self.meta.wanted_topics().next().is_none() {
            return Ok(None);
        }
        let partial = self.meta.partial_refresh(now, self.config.metadata_max_age);
        let req = WantedTopics { meta: &self.meta, partial };
        let kind = (RequestKind::Metadata, version);
        let sent =
            write_request(&mut self.conns[i], i, self.config.client_id, kind, &req, true, now, buf)?.map(|(t, _)| t);
        if sent.is_some() {
            self.meta.refresh_sent(i as u16, now, partial);
        }
        Ok(sent)
    }

    /// `metadata.max.idle.ms`: topics not produced to for that long, with nothing queued,
    /// leave the Metadata requests (their slots stay; see [`super::metadata::Metadata::set_idle`]).
    fn retire_idle_topics(&mut self, now: Instant) {
        let max_idle = self.config.metadata_max_idle;
        let idle: heapless::Vec<_, 8> = self
            .meta
            .wanted_topics()
            .filter(|(_, s)| now.saturating_duration_since(s.last_used()) >= max_idle)
            .filter(|&(t, _)| self.topic_is_empty(t))
            .map(|(t, _)| t)
            .take(8)
            .collect();
        idle.into_iter().for_each(|t| self.meta.set_idle(t));
    }

    /// Whether no batch of topic `t` is queued.
    fn topic_is_empty(&self, t: TopicIdx) -> bool {
        let count = self.meta.partition_count(t).unwrap_or(0);
        (0..count).filter_map(|p| self.meta.partition(t, p)).all(|pi| self.acc.queue_len(pi.0) == 0)
    }

    fn send_init_producer_id(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        let Some((current, retry_at)) = self.idem.wanted() else {
            return Ok(None);
        };
        let Some(version) = self.conns[i].versions.init_producer_id else {
            return Ok(None);
        };
        if now < retry_at || self.id_request_waits() {
            return Ok(None);
        }
        // A transactional id goes to its coordinator only.
        let txn_id = self.config.transactions.id();
        if txn_id.is_some() && self.txn.coordinator != Some(self.conns[i].node) {
            return Ok(None);
        }
        let txn_timeout = i32::try_from(self.config.transactions.timeout.as_millis()).unwrap_or(i32::MAX);
        let mut req = InitProducerIdRequest::new(txn_id, if txn_id.is_some() { txn_timeout } else { i32::MAX });
        if current.producer_id >= 0 && version >= 3 {
            req.producer_id = current.producer_id;
            req.producer_epoch = current.producer_epoch;
        }
        let kind = (RequestKind::InitProducerId, version);
        let sent = write_request(&mut self.conns[i], i, self.config.client_id, kind, &req, true, now, buf)?;
        if sent.is_some() {
            self.idem.id_sent(i as u16);
        }
        Ok(sent.map(|(t, _)| t))
    }

    /// Whether a wanted InitProducerId must wait for responses: an epoch bump waits until no
    /// batch is in flight and none may have been written without an answer. Those are resent
    /// with their old epoch first, where the broker deduplicates them; re-stamping them would
    /// write them twice (librdkafka#4953).
    pub(super) fn id_request_waits(&self) -> bool {
        !self.txn.id_may_go()
            || self.idem.bump_wanted()
                && (self.ledger.any() || self.acc.iter_slots().any(|(_, b)| b.send().uncertain && !b.is_complete()))
    }

    fn produce_version(&self, i: usize) -> Option<i16> {
        let v = self.conns[i].versions.produce?;
        Some(match self.config.api_version {
            ApiVersionPolicy::Auto => v,
            ApiVersionPolicy::PinProduce(pin) => v.min(pin),
        })
    }

    /// The first batch of partition `pi` that may go out now, if any.
    fn next_batch(&self, pi: u16, now: Instant, settling: bool) -> Option<u16> {
        self.next_batch_candidate(pi, settling).filter(|&slot| self.batch_ready_at(slot).is_some_and(|t| t <= now))
    }

    /// The batch of partition `pi` that goes next once its time comes (see
    /// [`Producer::batch_ready_at`]), if nothing but time holds it (queue order: a batch is
    /// never sent while an older one of its partition waits to be sent again). While an epoch
    /// bump waits (`settling`), only sealed uncertain batches go, with their old stamps.
    pub(super) fn next_batch_candidate(&self, pi: u16, settling: bool) -> Option<u16> {
        if self.ledger.at_limit(pi) || !self.txn.partition_ready(pi) {
            return None;
        }
        let sealed = self.idem.sealed(pi);
        // Batches go in queue order, so the ones ever sent (and completed ones not yet
        // reported, which may never have been sent) come first: the two scans below stop at
        // the first pending batch never sent, instead of walking a queue that may hold
        // thousands of batches on every call.
        let sent = || {
            self.acc.iter_queue(pi).map_while(|s| {
                self.acc.slot(s).filter(|b| b.send().outcome != Outcome::Pending || b.send().attempts > 0)
            })
        };
        // A retrying batch holds back new ones (idempotence: keep it inside the broker's
        // window of 5; otherwise: keep order when max.in.flight allows it). Only a batch that
        // was sent is ever retried.
        let blocked = sent().any(|b| b.send().outcome == Outcome::Pending && b.send().retrying);
        // Idempotence: the broker remembers a producer's last 5 batches. No new batch goes
        // while 5 have been sealed since the oldest unanswered one, so a resend of it is always
        // recognised as a duplicate instead of being refused out of order (and written twice).
        // A batch already sealed (but not sent: its transmit buffer was too small) keeps the
        // place its seal gave it; a batch not sealed yet would be sealed now.
        let oldest_unanswered = sent()
            .find_map(|b| (b.send().outcome == Outcome::Pending && b.send().attempts > 0).then_some(b.send().seal_no));
        let outside_window = |b: &BatchSlot| {
            let seal_no = if matches!(b.stage(), Stage::Sealed { .. }) { b.send().seal_no } else { sealed };
            self.idem.enabled() && oldest_unanswered.is_some_and(|n| seal_no.wrapping_sub(n) >= u32::from(DEDUP_WINDOW))
        };
        for slot in self.acc.iter_queue(pi) {
            let b = self.acc.slot(slot)?;
            // A part of a split batch in flight or completed: the records after it go next
            // (once it is reported), before anything else of the partition.
            if b.rest() > 0 && (b.send().outcome != Outcome::Pending || b.send().in_flight) {
                return None;
            }
            if b.send().outcome != Outcome::Pending || b.send().in_flight {
                continue;
            }
            if b.send().attempts == 0 && (blocked || outside_window(b)) {
                return None;
            }
            if settling && !(b.send().uncertain && matches!(b.stage(), Stage::Sealed { .. })) {
                return None;
            }
            return Some(slot);
        }
        None
    }

    /// When a pending batch may go, as far as time decides: after `linger.ms` while open, at
    /// once when closed (or while closing), after its retry backoff once sealed. A ripe batch
    /// (past `batch.size`, still taking records up to `batch.max.size`) goes at once while its
    /// leader's connection has no request out, else when the answer comes, or at the end of its
    /// `linger.ms` if that is sooner: the broker reads one request of a connection at a time
    /// (it mutes the connection until it has answered), so a request sent now would mostly wait
    /// in its socket, while the batch can take the records that come meanwhile and go out as
    /// one larger batch in the next request (fewer requests per record at a steady rate).
    pub(super) fn batch_ready_at(&self, slot: u16) -> Option<Instant> {
        let b = self.acc.slot(slot).filter(|b| !b.send().in_flight && !b.is_complete())?;
        let retry = if matches!(b.stage(), Stage::Sealed { .. }) { b.send().retry_at } else { Instant::ZERO };
        // A compression job out on it: its result, or the seal compresses it at the timeout.
        let retry = b.job_due().map_or(retry, |t| retry.max(t));
        let linger = match self.close_deadline {
            Some(_) => Instant::ZERO,
            None if b.is_ripe() && self.leader_busy(b.partition()) => b.created() + self.config.linger,
            None => {
                let at = self.acc.sendable_at(slot)?;
                match self.acc.pressed_at() {
                    Some(p) if b.is_filling() && self.waits_behind(b.partition(), b.created()) => {
                        at.max((b.created() + self.pressed_hold()).min(p + PRESSED_FOR))
                    }
                    _ => at,
                }
            }
        };
        Some(retry.max(linger))
    }

    /// How long at most a batch still filling may wait while the sender waits for memory: a
    /// quarter of `delivery.timeout.ms` (30 s by default), at least `linger.ms`. It waits only
    /// while something that was queued before it opened is unanswered: a request its leader
    /// had out then, or an earlier batch of its partition ([`Producer::waits_behind`]); this
    /// bound covers an answer that never comes.
    ///
    /// While a sender finds no memory (and for [`PRESSED_FOR`] after), the batches sent are
    /// what it waits for: full ones then go first, and batches with room keep taking records
    /// until they fill or their leader answers, so each batch the broker writes carries more
    /// records. With many partitions in `buffer.memory` (each batch's share a few KiB) sending
    /// every batch once its `linger.ms` passed sent the partitions' records in batches of a
    /// few, and a broker that spends about 1 ms of CPU per batch (10,000 partitions) was the
    /// limit. A batch with nothing ahead of it goes once its linger passed, so the producer
    /// always progresses, and a quiet partition next to a busy one waits at most for the
    /// requests that were out when its batch opened (waiting for its leader to have nothing out
    /// could last as long as a busy partition kept the leader busy); `flush` and `close` send
    /// everything at once.
    fn pressed_hold(&self) -> core::time::Duration {
        self.config.linger.max(self.config.delivery_timeout / 4)
    }

    /// Whether a batch of partition slot `pi` still filling, opened at `opened`, has something
    /// ahead of it that was already queued when it opened: a request its leader sent by then
    /// and has not answered (the oldest of a connection is the first of its `in_flight`), or an
    /// earlier batch of its own partition in flight (a filling batch is never in flight itself,
    /// so any the ledger counts is earlier).
    fn waits_behind(&self, pi: u16, opened: Instant) -> bool {
        self.ledger.in_flight(pi) || self.leader_conn(pi, |c| c.in_flight.first().is_some_and(|f| f.sent <= opened))
    }

    /// Whether the leader of partition slot `pi` has a request out on its connection.
    pub(super) fn leader_busy(&self, pi: u16) -> bool {
        self.leader_conn(pi, |c| !c.in_flight.is_empty())
    }

    /// Whether a connection to the leader of partition slot `pi` satisfies `test`.
    fn leader_conn(&self, pi: u16, test: impl Fn(&Connection) -> bool) -> bool {
        self.meta.leader(PartitionIdx(pi)).is_some_and(|node| self.conns.iter().any(|c| c.node == node && test(c)))
    }

    fn send_produce(&mut self, i: usize, now: Instant, buf: &mut [u8]) -> Polled {
        if self.conns[i].throttled_until > now {
            return Ok(None);
        }
        if self.conns[i].growth_held {
            self.hold_growth(i, false);
        }
        let Some((version, producer, settling)) = self.produce_gate(i) else {
            return Ok(None);
        };
        // With a heap the table of picks is the engine's, reused from request to request (it
        // holds plain indices, so it can outlive the call); without one it is on the stack.
        #[cfg(feature = "alloc")]
        let mut picked = core::mem::take(&mut self.picks);
        #[cfg(not(feature = "alloc"))]
        let mut picked = RequestTable::new();
        picked.clear();
        self.pick_batches(i, now, settling, &mut picked);
        let polled =
            if picked.is_empty() { Ok(None) } else { self.send_picked(i, now, buf, (version, producer), &picked) };
        #[cfg(feature = "alloc")]
        {
            self.picks = picked;
        }
        polled
    }

    /// The Produce version connection `i` speaks, the producer state its request carries and
    /// whether an epoch bump is settling; `None` while either holds Produce requests back.
    fn produce_gate(&self, i: usize) -> Option<(i16, ProducerState, bool)> {
        let version = self.produce_version(i)?;
        let (producer, settling) = self.idem.produce_mode()?;
        Some((version, producer, settling))
    }

    /// Whether connection `i` would carry a Produce request now were its link free
    /// ([`super::Links::can_take_on`]): [`Self::send_produce`]'s checks before it picks (room
    /// in flight, no throttle, [`Self::produce_gate`]), and a partition its node leads with a
    /// batch ready. Its other requests (metadata, transactions) wait for the next input, which
    /// the request its link holds brings.
    pub(super) fn produce_ready_on(&self, i: usize, now: Instant) -> bool {
        let c = &self.conns[i];
        if !c.can_send(self.config.max_in_flight) || c.throttled_until > now {
            return false;
        }
        let Some((_, _, settling)) = self.produce_gate(i) else {
            return false;
        };
        (0..self.meta.partition_span()).any(|pi| self.ready_batch_on(pi as u16, c.node, now, settling).is_some())
    }

    /// Whether partition slot `pi` is led by `node` and has batches queued.
    pub(super) fn queued_on(&self, pi: u16, node: i32) -> bool {
        self.meta.leader(PartitionIdx(pi)) == Some(node) && self.acc.queue(pi).is_some_and(|q| !q.is_empty())
    }

    /// The batch of partition slot `pi` that goes next in a Produce request to `node` now, if
    /// `node` leads it and one is ready ([`Self::next_batch`]).
    fn ready_batch_on(&self, pi: u16, node: i32, now: Instant, settling: bool) -> Option<u16> {
        if !self.queued_on(pi, node) {
            return None;
        }
        self.next_batch(pi, now, settling)
    }

    /// Picks at most one batch per partition led by connection `i`'s node, within
    /// `max.request.size` (and [`MAX_PARTITIONS_PER_REQUEST`]), in partition slot order, starting
    /// where the last request ran out of room: starting at partition 0 every time would starve
    /// the partitions past what one request holds (with 10,000 busy partitions, their batches
    /// waited past delivery.timeout.ms). One pass over the partition slots.
    fn pick_batches(&mut self, i: usize, now: Instant, settling: bool, picked: &mut RequestTable<(u16, u16)>) {
        let node = self.conns[i].node;
        let mut size = REQUEST_OVERHEAD;
        let mut last_topic = u16::MAX;
        let span = self.meta.partition_span();
        let start = usize::from(self.conns[i].drain_from) % span.max(1);
        for pi in (start..span).chain(0..start).map(|pi| pi as u16) {
            let Some(slot) = self.ready_batch_on(pi, node, now, settling) else {
                continue;
            };
            // The batch and its framing: thousands of partitions' framing would otherwise take
            // the frame well past max.request.size (and a fixed transmit buffer sized by it).
            let topic = self.location(pi).0;
            let topic_framing = if topic == last_topic { 0 } else { self.topic_framing(topic) };
            let len = self.acc.slot(slot).map_or(0, |b| b.len()) + PARTITION_FRAMING + topic_framing;
            if (!picked.is_empty() && size + len > self.request_limit())
                || picked.len() >= PRODUCE_PARTITIONS_PER_REQUEST.min(MAX_PARTITIONS_PER_REQUEST)
            {
                self.conns[i].drain_from = pi;
                break;
            }
            // Below MAX_PARTITIONS_PER_REQUEST, so this cannot overflow a fixed table.
            picked.extend([(pi, slot)]);
            size += len;
            last_topic = topic;
        }
        // Back to slot order (the pick may have wrapped around): the request groups each
        // topic's contiguous slots into one run, and sequences are sealed in send order. The
        // picks are two ascending runs (from `start`, then from 0), so a rotation sorts them.
        let wrapped = picked.iter().position(|&(pi, _)| usize::from(pi) < start).unwrap_or(picked.len());
        picked.rotate_left(wrapped);
    }

    /// The bytes a topic's entry in a Produce request takes besides its partitions: its name
    /// (or its 16-byte id), the partition array's length and tagged fields.
    fn topic_framing(&self, topic: u16) -> usize {
        self.meta.topic_name(TopicIdx(topic)).map_or(0, str::len).max(16) + 8
    }

    /// Seals the `picked` batches and sends them in one Produce request on connection `i`.
    fn send_picked(
        &mut self,
        i: usize,
        now: Instant,
        buf: &mut [u8],
        (mut version, producer): (i16, ProducerState),
        picked: &[(u16, u16)],
    ) -> Polled {
        for &(pi, slot) in picked {
            self.seal(pi, slot, producer);
        }
        if picked.iter().any(|&(pi, _)| self.topic_id(self.location(pi).0).is_none()) {
            version = version.min(12);
        }
        // Transactions V1 keep Produce below v12, where partitions join implicitly (KIP-890).
        if self.txn.enabled() && !self.txn.v2 {
            version = version.min(11);
        }
        self.txn.started |= self.txn.enabled();
        let txn_id = self.config.transactions.id();
        let acks = self.config.acks;
        let timeout = i32::try_from(self.config.request_timeout.as_millis()).unwrap_or(i32::MAX);
        let (sent, corr) = {
            let mut parts: RequestTable<PartitionProduceData<'_>> = request_table(picked.len());
            let mut topics: RequestTable<TopicProduceData<'_>> = request_table(0);
            for &(pi, slot) in picked {
                let partition = self.location(pi).1;
                let records = self.acc.sealed_bytes(slot).unwrap_or(&[]);
                // As many as `picked`, so this cannot overflow a fixed table.
                parts.extend([PartitionProduceData { index: partition as i32, records }]);
            }
            // `picked` is in partition slot order and a topic's slots are contiguous, so each
            // topic's partitions form one run of `parts`.
            let mut at = 0;
            while at < picked.len() {
                let topic = self.location(picked[at].0).0;
                let n = picked[at..].iter().take_while(|&&(pi, _)| self.location(pi).0 == topic).count();
                // No more topics than partitions, so this cannot overflow a fixed table.
                topics.extend([TopicProduceData {
                    name: self.meta.topic_name(TopicIdx(topic)).unwrap_or(""),
                    topic_id: self.topic_id(topic),
                    partition_data: &parts[at..at + n],
                }]);
                at += n;
            }
            let req = ProduceRequest {
                transactional_id: txn_id,
                acks: acks.wire(),
                timeout_ms: timeout,
                topic_data: &topics,
            };
            let kind = (RequestKind::Produce, version);
            let expects_response = req.expects_response();
            let written =
                write_request(&mut self.conns[i], i, self.config.client_id, kind, &req, expects_response, now, buf)?;
            match written {
                Some((t, corr)) => {
                    // The response handler needs to look for batches it did not mention only
                    // when it answered fewer than this (a scan of every batch slot).
                    if let Some(f) = self.conns[i].in_flight.last_mut().filter(|_| expects_response) {
                        f.batches = u16::try_from(picked.len()).unwrap_or(u16::MAX);
                    }
                    (Some(t), corr)
                }
                None => (None, 0),
            }
        };
        if sent.is_none() {
            return Ok(None);
        }
        let records = picked.iter().filter_map(|&(_, slot)| self.acc.slot(slot)).map(BatchSlot::records).sum();
        let bytes = sent.map_or(0, |t| t.len);
        self.metrics.request_sent(SentRequest { bytes, records }, now);
        #[cfg(feature = "alloc")]
        self.detail.request_sent(self.conns[i].node, bytes, now);
        for &(pi, slot) in picked {
            let len = self.acc.sealed_bytes(slot).map_or(0, <[u8]>::len);
            self.metrics.batch_sent(len);
            if acks == Acks::None {
                self.complete(slot, Outcome::Delivered { base_offset: -1, log_append_time: -1 });
                continue;
            }
            self.ledger.sent(&mut self.acc, pi, slot, (i as u16, corr));
        }
        Ok(sent)
    }

    /// Seals a batch with the partition's next sequence (idempotence) or no producer state.
    fn seal(&mut self, pi: u16, slot: u16, producer: ProducerState) {
        if matches!(self.acc.slot(slot).map(|b| b.stage()), Some(Stage::Sealed { .. })) {
            return;
        }
        let Some((records, plain, created)) = self.acc.slot(slot).map(|b| (b.records(), b.len(), b.created())) else {
            return;
        };
        let (state, seal_no) = self.idem.stamp(pi, producer, records);
        let scratch: &mut [u8] = &mut self.scratch;
        if let Some(sealed) = self.acc.seal(slot, state, seal_no, scratch) {
            self.learn_ratio(slot, plain, sealed);
            let now = self.now;
            self.metrics.batch_sealed(records, (plain, sealed), now.saturating_duration_since(created), now);
            #[cfg(feature = "alloc")]
            if let Some(topic) = super::engine::slot_topic(&self.acc, &self.meta, slot) {
                let batch = super::metrics::detail::SealedBatch { records, plain, sealed };
                self.detail.batch_sealed(topic, batch, now);
            }
        }
    }

    /// Decides which connections should exist and asks the driver to open them.
    pub(super) fn plan_connections(&mut self, now: Instant) {
        if self.fatal.is_some() {
            return;
        }
        self.txn_check_coordinators(now);
        // Leaders of partitions with batches to send.
        for pi in 0..self.meta.partition_span() as u16 {
            if self.acc.queue(pi).is_none_or(|q| q.is_empty()) {
                continue;
            }
            if let Some(node) = self.meta.leader(PartitionIdx(pi)) {
                self.want_node(node, now);
            }
        }
        if let Some(node) = self.txn_wanted_node() {
            self.want_node(node, now);
        }
        // Any ready connection serves Metadata and InitProducerId; without one, open one.
        if self.needs_any_connection(now) && !self.has_any_connection() {
            if let Some(node) = self.pick_any_node() {
                self.want_node(node, now);
            }
        }
    }

    /// Whether something any broker can serve is wanted at `now`: a metadata refresh, an
    /// InitProducerId, a handshake under way.
    pub(super) fn needs_any_connection(&self, now: Instant) -> bool {
        self.meta.needs_refresh(now, self.config.metadata_max_age)
            || self.idem.wanted().is_some()
            || self.txn_needs_any()
            || self.conns.iter().any(|c| c.state == ConnState::Handshake)
    }

    /// Whether a connection is open or opening.
    pub(super) fn has_any_connection(&self) -> bool {
        self.conns.iter().any(|c| matches!(c.state, ConnState::Ready | ConnState::Handshake | ConnState::Connecting))
    }

    /// A broker to ask for metadata: one the last metadata announced, chosen at random among
    /// those not in reconnect backoff. The bootstrap addresses serve before the first metadata
    /// and, with `metadata.recovery.strategy=rebootstrap`, when every announced broker is
    /// unavailable, no metadata came for `metadata.recovery.rebootstrap.trigger.ms`, or a broker
    /// answered REBOOTSTRAP_REQUIRED (KIP-899, KIP-1102).
    pub(super) fn pick_any_node(&mut self) -> Option<i32> {
        let now = self.now;
        let usable = |conns: &[Connection], n: i32| {
            conns
                .iter()
                .find(|c| c.is_used() && c.node == n)
                .is_none_or(|c| c.retry_at <= now && c.sasl.failed.is_none())
        };
        let announced = self.meta.brokers().any(|b| !Metadata::is_bootstrap(b));
        let stuck_since = *self.meta.stuck_since.get_or_insert(now);
        let recovery = &self.config.connection;
        let bootstrap = !announced
            || (recovery.rebootstrap
                && (self.meta.rebootstrap_required
                    || now.saturating_duration_since(stuck_since) >= recovery.rebootstrap_trigger
                    || !self.meta.brokers().any(|b| !Metadata::is_bootstrap(b) && usable(&self.conns, b.node_id))));
        let candidates = |b: &&BrokerSlot| Metadata::is_bootstrap(b) == bootstrap;
        let count = self.meta.brokers().filter(candidates).count() as u32;
        if count == 0 {
            return None;
        }
        let start = self.rng.below(count) as usize;
        (0..count as usize).map(|k| (start + k) % count as usize).find_map(|k| {
            let n = self.meta.brokers().filter(candidates).nth(k)?.node_id;
            usable(&self.conns, n).then_some(n)
        })
    }

    /// [`Producer::want_node`] for the engine's unit tests.
    #[cfg(all(test, feature = "alloc"))]
    pub(super) fn want_node_for_tests(&mut self, node: i32, now: Instant) {
        self.want_node(node, now);
    }

    /// Makes sure a connection to `node` exists or is being made.
    fn want_node(&mut self, node: i32, now: Instant) {
        if let Some(c) = self.conns.iter_mut().find(|c| c.is_used() && c.node == node) {
            if c.state == ConnState::Idle && c.retry_at <= now && !c.want_close && c.sasl.failed.is_none() {
                let timeout = self.setup_timeout.delay(c.failures, &mut self.rng);
                c.start_connect(now, timeout);
            }
            return;
        }
        let free = self.conns.iter().position(|c| !c.is_used()).or_else(|| {
            // Std storage grows; fixed storage reuses an idle connection to another broker.
            let n = self.conns.len();
            let grown = super::grow_slice(&mut self.conns, n + 1, usize::from(u16::MAX), Connection::EMPTY);
            if grown {
                return Some(n);
            }
            self.conns.iter().position(|c| c.state == ConnState::Idle && !c.want_close && !c.want_connect)
        });
        if let Some(i) = free {
            self.conns[i].assign(node);
            // A fresh slot: no failed attempt yet.
            let timeout = self.setup_timeout.delay(0, &mut self.rng);
            self.conns[i].start_connect(now, timeout);
        }
    }

    /// Ends the producer when a broker cannot speak a Produce version we need.
    pub(super) fn check_versions(&mut self, i: usize) {
        let need = self.config.compression.min_produce_version();
        if self.conns[i].versions.produce.is_none_or(|v| v < need) {
            self.set_fatal(FatalError::UnsupportedBroker);
        }
    }
}

/// Encodes `req` as the next request on connection `c` (slot `i`) into `buf` and, when a
/// response is expected, records it in flight. Sizes the frame first: a buffer too small is an
/// error that changes nothing. Returns the frame and its correlation id.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_request<R: Request>(
    c: &mut Connection,
    i: usize,
    client_id: &str,
    (kind, version): (RequestKind, i16),
    req: &R,
    expects_response: bool,
    now: Instant,
    buf: &mut [u8],
) -> Result<Option<(Transmit, i32)>, TransmitError> {
    let corr = c.peek_correlation_id();
    let Ok(needed) = request_frame_len(version, corr, Some(client_id), req) else {
        return Ok(None);
    };
    if needed > buf.len() {
        return Err(TransmitError::BufferTooSmall { needed });
    }
    let Ok(len) = encode_request(&mut SliceSink::new(buf), version, corr, Some(client_id), req) else {
        return Ok(None);
    };
    let corr = c.next_correlation_id();
    if expects_response {
        // Our highest version of any API is far below 128, and `version` is at most that.
        let version = i8::try_from(version).unwrap_or(i8::MAX);
        c.push(InFlight { correlation_id: corr, kind, version, sent: now, batches: 0 });
    } else {
        c.last_active = now;
    }
    Ok(Some((Transmit { conn: ConnId(i as u16), len, expects_response }, corr)))
}

/// A Metadata request for every topic the cache wants, listed straight from its storage, so
/// any number of topics fits (auto-creation allowed, as the Java producer asks).
struct WantedTopics<'m, 's> {
    meta: &'m Metadata<'s>,
    /// Only the topics without metadata ([`Metadata::partial_refresh`]).
    partial: bool,
}

impl Encode for WantedTopics<'_, '_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_array_len(self.meta.request_topics(self.partial).count(), cx.flexible)?;
        self.meta.request_topics(self.partial).try_for_each(|t| t.write(out, cx))?;
        MetadataRequest::new(None).write_after_topics(out, cx)
    }
}

impl Request for WantedTopics<'_, '_> {
    const API_KEY: ApiKey = ApiKey::Metadata;
}
