//! [`Producer`]: storage, construction, the commands (`send`, `flush`, `close`), events,
//! timers and connection bookkeeping. Requests are built in `transmit.rs` and responses handled
//! in `receive.rs`.

use managed::ManagedSlice;

use super::accumulator::{Accumulator, BatchSlot};
use super::conn::ConnError;
use super::conn::{ConnId, ConnState, Connection};
use super::idempotence::Idempotence;
use super::ledger::Ledger;
use super::metadata::{Metadata, MetadataError, PartitionIdx, TopicIdx, TopicSlot, TopicState};
use super::metrics::Metrics;
use super::ratio::Ratio;
use super::storage::{NewError, Storage};
use super::types::RecordId;
use super::types::{Completion, DeliveryError, Event, FatalError, Outcome, ProducerRecord, SendError};
use crate::backoff::Backoff;
use crate::config::{Config, ValidConfig};
use crate::partitioner::{DefaultPartitioner, Partitioner};
use crate::protocol::ApiKey;
use crate::record::{BatchConfig, ProducerState, Record, TimestampType};
use crate::rng::Rng;
use crate::time::Instant;

/// Bytes a Produce request needs around its record batches (header, topic and partition
/// framing), reserved when a single record is checked against `max.request.size`.
pub(super) const REQUEST_OVERHEAD: usize = 512;

/// The sans-IO producer. See the module docs for the driver loop and the drain order.
#[derive(Debug)]
pub struct Producer<'s, P = DefaultPartitioner> {
    pub(super) config: Config<'s>,
    /// The cluster metadata and when to refresh it.
    pub(super) meta: Metadata<'s>,
    /// Batches and their memory.
    pub(super) acc: Accumulator<'s>,
    /// What is in flight where, and the per-partition limit.
    pub(super) ledger: Ledger<'s>,
    /// Producer id, epoch and sequences.
    pub(super) idem: Idempotence<'s>,
    pub(super) conns: ManagedSlice<'s, Connection>,
    pub(super) scratch: ManagedSlice<'s, u8>,
    pub(super) partitioner: P,
    pub(super) rng: Rng,
    pub(super) metrics: Metrics,
    /// Per-topic and per-node metrics.
    #[cfg(feature = "alloc")]
    pub(super) detail: super::metrics::detail::Detail,
    pub(super) fatal: Option<FatalError>,
    pub(super) fatal_reported: bool,
    /// Transactions (`txn/`).
    pub(super) txn: super::txn::Txn,
    /// The partition slot of the last record `send` accepted.
    last_partition: u16,
    /// Whether that record opened a batch or made its batch due (it reached `batch.size`).
    last_due: bool,
    /// The topic slot `send` last found by name: the next record's topic is most often the same,
    /// and comparing one name costs less than searching the topics by name.
    last_topic: Option<TopicIdx>,
    /// The driver's fixed transmit buffer, if it cannot grow: see `set_transmit_limit`.
    pub(super) tx_limit: Option<usize>,
    pub(super) close_deadline: Option<Instant>,
    /// `retry.backoff.ms` .. `retry.backoff.max.ms`, for batches, metadata and producer ids.
    pub(super) retry_backoff: Backoff,
    /// `reconnect.backoff.ms` .. `reconnect.backoff.max.ms`.
    reconnect_backoff: Backoff,
    /// `socket.connection.setup.timeout.ms` .. `socket.connection.setup.timeout.max.ms`.
    pub(super) setup_timeout: Backoff,
    pub(super) now: Instant,
    /// SASL state shared by the connections (`sasl.rs`).
    pub(super) auth: super::sasl::Auth,
    /// The broker's own words for refused records (KIP-467, Produce v8+): batch, record index
    /// in it ([`super::drain::WHOLE_BATCH`]: the batch's error message) and the text, until
    /// the batch's failure is drained ([`super::Links::broker_words`]). Heap only.
    #[cfg(feature = "alloc")]
    pub(super) broker_words: alloc::vec::Vec<(super::BatchId, u32, alloc::string::String)>,
    /// The batches the Produce request being built carries (partition slot, batch slot),
    /// reused from request to request so a request allocates nothing for them (`transmit.rs`;
    /// without a heap they are a table on the stack). Empty between calls.
    #[cfg(feature = "alloc")]
    pub(super) picks: alloc::vec::Vec<(u16, u16)>,
}

impl<'s> Producer<'s, DefaultPartitioner> {
    /// A producer with the default partitioner.
    pub fn new(
        config: ValidConfig<'s>,
        bootstrap: &[(&str, u16)],
        storage: Storage<'s>,
        now: Instant,
    ) -> Result<Self, NewError> {
        Self::with_partitioner(config, bootstrap, storage, DefaultPartitioner, now)
    }
}

impl<'s, P: Partitioner> Producer<'s, P> {
    /// A producer with a custom partitioner for records without an explicit partition.
    pub fn with_partitioner(
        config: ValidConfig<'s>,
        bootstrap: &[(&str, u16)],
        storage: Storage<'s>,
        partitioner: P,
        now: Instant,
    ) -> Result<Self, NewError> {
        let Storage {
            brokers,
            topics,
            partitions,
            queues,
            in_flight,
            sequences,
            connections,
            batches,
            memory,
            chunk_map,
            scratch,
            #[cfg(feature = "alloc")]
            release,
        } = storage;
        if connections.is_empty() {
            return Err(NewError::StorageMismatch);
        }
        let idempotent = config.idempotent();
        let config = config.config().clone();
        let transactional = config.transactions.transactional_id.is_some();
        let batch = BatchConfig {
            batch_size: config.batch_size,
            compression: config.compression,
            compression_level: config.compression_levels.for_codec(config.compression),
            timestamp_type: TimestampType::CreateTime,
            transactional,
        };
        let mut acc =
            Accumulator::new(batches, queues, memory, chunk_map, batch, config.linger).map_err(NewError::Storage)?;
        acc.set_compressible(super::ratio::compressible_len(config.compression, scratch.len(), acc.max_batch_len()));
        acc.set_max_size(config.effective_batch_max_size());
        #[cfg(feature = "alloc")]
        if let Some((release, page_size)) = release {
            acc.set_release(release, page_size);
        }
        let meta = Metadata::new(brokers, topics, partitions, bootstrap).map_err(NewError::Metadata)?;
        let mut conns = connections;
        conns.iter_mut().for_each(|c| *c = Connection::EMPTY);
        Ok(Self {
            rng: Rng::new(config.seed),
            metrics: {
                #[allow(unused_mut)] // only alloc builds set the sampling
                let mut m = Metrics::new(now, acc.free_bytes());
                #[cfg(feature = "alloc")]
                m.set_sampling(config.metrics_sampling);
                m
            },
            #[cfg(feature = "alloc")]
            detail: super::metrics::detail::Detail::new(config.metrics_sampling),
            retry_backoff: Backoff { initial: config.retry_backoff, max: config.retry_backoff_max },
            reconnect_backoff: Backoff { initial: config.reconnect_backoff, max: config.reconnect_backoff_max },
            setup_timeout: Backoff {
                initial: config.connection.setup_timeout,
                max: config.connection.setup_timeout_max,
            },
            ledger: Ledger::new(in_flight, idempotent, config.max_in_flight),
            idem: Idempotence::new(idempotent, sequences, now),
            config,
            meta,
            acc,
            conns,
            scratch,
            partitioner,
            fatal: None,
            fatal_reported: false,
            txn: super::txn::Txn::new(transactional),
            last_partition: u16::MAX,
            last_due: false,
            last_topic: None,
            tx_limit: None,
            close_deadline: None,
            now,
            auth: super::sasl::Auth::default(),
            #[cfg(feature = "alloc")]
            broker_words: alloc::vec::Vec::new(),
            #[cfg(feature = "alloc")]
            picks: alloc::vec::Vec::new(),
        })
    }

    // ---- getters ----

    /// The Java producer's metrics by name (`record-send-rate`, `request-latency-avg`, ...),
    /// windowed as `metrics.sample.window.ms` and `metrics.num.samples` say; see
    /// [`Metrics::java`].
    #[cfg(feature = "alloc")]
    pub fn java_metrics(&self) -> alloc::vec::Vec<(&'static str, f64)> {
        self.java_metrics_at(self.now)
    }

    /// [`Producer::java_metrics`] read at `now` (not earlier than the last input), so rates
    /// decay while the producer is idle.
    #[cfg(feature = "alloc")]
    pub fn java_metrics_at(&self, now: Instant) -> alloc::vec::Vec<(&'static str, f64)> {
        let open = self.conns.iter().filter(|c| c.state == ConnState::Ready).count();
        self.metrics.java(now.max(self.now), (open, self.acc.free_bytes()))
    }

    /// Java's per-topic metrics (group `producer-topic-metrics`, tag `topic`): `record-send-rate`,
    /// `byte-rate`, `compression-rate`, `record-error-rate`, `record-retry-rate` and their
    /// totals, windowed like [`Producer::java_metrics`] and read at `now` (not earlier than the
    /// last input); one entry per topic produced to.
    #[cfg(feature = "alloc")]
    pub fn java_topic_metrics(&self, now: Instant) -> alloc::vec::Vec<(&str, alloc::vec::Vec<(&'static str, f64)>)> {
        self.detail.topics(now.max(self.now))
    }

    /// Java's per-node metrics (group `producer-node-metrics`, tag `node-id`): `request-rate`,
    /// `request-latency-avg`/`-max` and `outgoing-byte-rate` of the Produce requests to each
    /// broker, by node id, read at `now` (not earlier than the last input).
    #[cfg(feature = "alloc")]
    pub fn java_node_metrics(&self, now: Instant) -> alloc::vec::Vec<(i32, alloc::vec::Vec<(&'static str, f64)>)> {
        self.detail.nodes(now.max(self.now))
    }

    /// The partitions of `topic` whose leader is known (Java's `availablePartitionsForTopic`),
    /// once its metadata is.
    pub fn available_partitions(&self, topic: &str) -> Option<impl Iterator<Item = u32> + '_> {
        let t = self.meta.topic(topic)?;
        let count = self.meta.partition_count(t)?;
        let led = move |&p: &u32| self.meta.partition(t, p).and_then(|pi| self.meta.leader(pi)).is_some();
        Some((0..count).filter(led))
    }

    /// The metrics.
    pub const fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether the producer runs idempotently.
    pub const fn idempotent(&self) -> bool {
        self.idem.enabled()
    }

    /// The producer id and epoch in use, once known.
    pub const fn producer_id(&self) -> Option<ProducerState> {
        self.idem.producer_id()
    }

    /// The address the driver should connect `conn` to.
    pub fn address(&self, conn: ConnId) -> Option<(&str, u16)> {
        let c = self.conns.get(usize::from(conn.0)).filter(|c| c.is_used())?;
        self.meta.broker(c.node).map(|b| (b.host.as_str(), b.port))
    }

    /// How long the driver may take to set up `conn` (DNS, TCP connect, TLS handshake) before
    /// it reports it failed: `socket.connection.setup.timeout.ms`, doubled per consecutive
    /// failed attempt up to `socket.connection.setup.timeout.max.ms`, with 20% jitter (Java's
    /// `ClusterConnectionStates`). Drawn when the engine asks for the connect.
    pub fn connection_setup_timeout(&self, conn: ConnId) -> Option<core::time::Duration> {
        let c = self.conns.get(usize::from(conn.0)).filter(|c| c.is_used())?;
        Some(core::time::Duration::from_millis(u64::from(c.setup_timeout_ms)))
    }

    /// A topic's name by the index that events carry.
    pub fn topic_name(&self, topic: u16) -> Option<&str> {
        self.meta.topic_slot(TopicIdx(topic)).map(TopicSlot::name)
    }

    /// How many partitions a topic has, once its metadata is known (`partitions_for`).
    pub fn partition_count(&self, topic: &str) -> Option<u32> {
        self.meta.topic(topic).and_then(|t| self.meta.partition_count(t))
    }

    /// The settings it runs with (a driver reads `max.block.ms`, `request.timeout.ms`...).
    pub const fn config(&self) -> &Config<'s> {
        &self.config
    }

    /// Batches not yet reported complete (`flush` is done when this is 0).
    pub const fn pending_batches(&self) -> usize {
        self.acc.batch_count()
    }

    /// Whether the partition of the last record [`Producer::send`] accepted already has as
    /// many batches in flight as it may. Then no new batch of it can go out until a response
    /// arrives, and that response is an input that wakes the driver anyway: a driver whose
    /// `send` just opened a batch (the previous one filled up) may skip waking its IO loop.
    pub fn last_partition_saturated(&self) -> bool {
        self.ledger.at_limit(self.last_partition)
    }

    /// Whether the last record [`Producer::send`] accepted may have made a batch due earlier
    /// than the driver's current deadline: it opened a batch (whose linger starts) or filled
    /// its batch to `batch.size` while the partition's leader has no request out (due at once;
    /// it takes more records until it is sent), and its partition is not at its in-flight
    /// limit (see [`Producer::last_partition_saturated`]).
    /// A driver wakes its IO loop when this is true.
    pub fn last_send_made_due(&self) -> bool {
        self.last_due && !self.last_partition_saturated()
    }

    /// Tells the engine its driver's transmit buffer holds at most `limit` bytes and cannot
    /// grow (`None`: it grows on demand). A Produce request then takes no more batches than fit
    /// it (the first always goes), and batches that reach `batch.size` grow at most to what
    /// fits it alone, so growth never makes a request the buffer cannot hold. A record too
    /// large for the buffer still stalls ([`super::TransmitError::BufferTooSmall`]). The drain
    /// loop calls this from [`super::drain::Links::tx_limit`].
    pub fn set_transmit_limit(&mut self, limit: Option<usize>) {
        if self.tx_limit != limit {
            self.tx_limit = limit;
            let framing = REQUEST_OVERHEAD + super::transmit::LONGEST_PARTITION_FRAMING;
            self.acc.set_grow_limit(limit.map_or(usize::MAX, |l| l.saturating_sub(framing)));
        }
    }

    /// The largest Produce request: `max.request.size`, within the transmit limit.
    pub(super) fn request_limit(&self) -> usize {
        self.tx_limit.map_or(self.config.max_request_size, |l| l.min(self.config.max_request_size))
    }

    /// Bytes of `buffer.memory` free for new batches.
    pub const fn free_buffer(&self) -> usize {
        self.acc.free_bytes()
    }

    /// Whether a `close` has completed every batch (nothing more is sent or connected).
    pub fn closed(&self) -> bool {
        self.close_deadline.is_some() && self.acc.is_empty()
    }

    /// The fatal error, if one happened.
    pub const fn fatal_error(&self) -> Option<FatalError> {
        self.fatal
    }

    // ---- commands ----

    /// Accepts a record, or says why not. `Ok` means exactly one completion event will cover
    /// the record (see [`Event::Completed`]). A retriable error means: wait
    /// (for events, or until `poll_timeout`) and call again, up to `max.block.ms`.
    pub fn send(&mut self, record: &ProducerRecord<'_>, now: Instant) -> Result<RecordId, SendError> {
        self.tick(now);
        if let Some(e) = self.fatal {
            return Err(SendError::Fatal(e));
        }
        if self.close_deadline.is_some() {
            return Err(SendError::Closed);
        }
        if let Some(e) = self.refused_everywhere() {
            return Err(e);
        }
        let same = self.last_topic.filter(|&t| self.meta.topic_name(t) == Some(record.topic));
        let Some(topic) = same.or_else(|| self.meta.topic(record.topic)) else {
            self.meta.add_topic(record.topic, now).map_err(SendError::Metadata)?;
            return Err(SendError::MetadataPending);
        };
        self.last_topic = Some(topic);
        self.meta.touch(topic, now);
        let count = match self.meta.topic_slot(topic).map(TopicSlot::state) {
            Some(TopicState::Known) => self.meta.partition_count(topic).unwrap_or(0),
            Some(TopicState::Failed(code)) => return Err(SendError::Topic(code)),
            Some(TopicState::TooManyPartitions) => return Err(SendError::Metadata(MetadataError::TooManyPartitions)),
            _ => return Err(SendError::MetadataPending),
        };
        if count == 0 {
            return Err(SendError::MetadataPending);
        }
        let (partition, sticky_placed) = self.choose_partition(topic, record, count, now)?;
        let slot = self.meta.partition(topic, partition).ok_or(SendError::MetadataPending)?.0;
        self.txn_on_send(slot).map_err(SendError::Transaction)?;
        let r = Record { timestamp: record.timestamp, key: record.key, value: record.value, headers: record.headers };
        let max_batch = self.config.max_request_size.saturating_sub(REQUEST_OVERHEAD);
        let ratio = self.ratio_of(topic);
        let id = self.acc.append(slot, &r, max_batch, ratio, now).inspect_err(|_| self.metrics.record_refused())?;
        self.last_partition = slot;
        // A batch that ripens while its leader has a request out waits for the answer (see
        // `batch_ready_at`), which wakes the driver anyway.
        self.last_due = id.index == 0 || (self.acc.ripened() && !self.leader_busy(slot));
        let size = r.max_encoded_len().unwrap_or(0);
        if sticky_placed {
            // As in Java, the sticky partitioner counts the bytes a batch takes: estimated
            // compressed bytes when the producer compresses.
            let taken = if self.config.compression == crate::compression::Compression::None {
                size
            } else {
                ratio.estimate(size)
            };
            if let Some(sticky) = self.meta.sticky_mut(topic) {
                sticky.on_append(taken, self.config.batch_size);
            }
        }
        self.metrics.record_accepted(size, self.acc.free_bytes(), now);
        Ok(id)
    }

    fn choose_partition(
        &mut self,
        topic: TopicIdx,
        record: &ProducerRecord<'_>,
        count: u32,
        now: Instant,
    ) -> Result<(u32, bool), SendError> {
        let chosen = match record.partition {
            Some(p) => Some(p),
            // `partitioner.ignore.keys` turns off only the built-in keyed rule (as in Java).
            None if self.config.partitioner.ignore_keys && self.partitioner.is_built_in() => None,
            None => self.partitioner.partition(record.topic, record.key, record.value, count),
        };
        match chosen {
            Some(p) if p < count => Ok((p, false)),
            Some(p) => Err(SendError::InvalidPartition { partition: p, count }),
            None => {
                let mut sticky = self.meta.sticky(topic).unwrap_or_default();
                let before = sticky;
                let (meta, acc, config) = (&self.meta, &self.acc, &self.config);
                let available = |p| partition_available(meta, acc, config, (topic, p), now).is_some();
                // The load (queued batches; 0 for all without
                // `partitioner.adaptive.partitioning.enable`, which makes the choice uniform)
                // walks the partition's queue: asked only when a new sticky partition is drawn.
                let load = |p| {
                    let pi = partition_available(meta, acc, config, (topic, p), now)?;
                    let adaptive = config.partitioner.adaptive;
                    Some(if adaptive { acc.queue_load(pi.0, meta.ratio(topic).unwrap_or(Ratio::ONE)) } else { 0 })
                };
                let p = sticky.partition(count, &mut self.rng, available, load);
                // Most records keep the sticky partition, which leaves the state as it was.
                if sticky != before {
                    if let Some(s) = self.meta.sticky_mut(topic) {
                        *s = sticky;
                    }
                }
                Ok((p, true))
            }
        }
    }

    /// A sender waited `waited` for buffer space after [`SendError::BufferFull`] (the driver
    /// measures it; the engine never waits). Counted in `bufferpool-wait-ratio` and
    /// `bufferpool-wait-time-ns-total`, as Java's producer counts its appenders' waits.
    pub fn buffer_waited(&mut self, waited: core::time::Duration, now: Instant) {
        self.tick(now);
        self.metrics.buffer_waited(waited, now);
    }

    /// Makes every buffered record sendable now (ignoring `linger.ms`). The driver waits until
    /// [`Producer::pending_batches`] is 0, polling as usual.
    pub fn flush(&mut self, now: Instant) {
        self.tick(now);
        self.acc.close_all();
    }

    /// Starts a graceful close: no more sends, buffered records are flushed, and whatever is not
    /// complete at `deadline` fails with [`DeliveryError::Closed`]. Connections close when
    /// everything is complete; a transactional call still under way then ends with
    /// [`super::txn::TxnError::Closed`] (a commit that did not finish is not committed).
    pub fn close(&mut self, deadline: Instant, now: Instant) {
        self.tick(now);
        self.close_deadline = Some(self.close_deadline.map_or(deadline, |d| d.min(deadline)));
        self.acc.close_all();
        self.handle_timeout(now);
    }

    // ---- inputs ----

    /// The driver's connection for `conn` is up.
    pub fn handle_connected(&mut self, conn: ConnId, now: Instant) {
        self.tick(now);
        if let Some(c) = self.conns.get_mut(usize::from(conn.0)) {
            if c.state == ConnState::Connecting {
                // The reconnect backoff resets only once the handshake succeeds: a broker that
                // accepts connections and answers garbage is not reconnected in a hot loop.
                c.connected(now);
            }
        }
    }

    /// The driver's connection for `conn` failed or closed. Requests in flight on it are
    /// retried (they may have been written: idempotence makes that safe).
    pub fn handle_disconnected(&mut self, conn: ConnId, now: Instant) {
        self.tick(now);
        self.drop_connection(conn.0, now);
    }

    pub(super) fn drop_connection(&mut self, conn: u16, now: Instant) {
        let Some(c) = self.conns.get_mut(usize::from(conn)) else {
            return;
        };
        if !c.is_used() {
            return;
        }
        let delay = self.reconnect_backoff.delay(c.failures, &mut self.rng);
        c.disconnected(now, delay);
        // A refresh that died with the connection is asked again.
        self.meta.refresh_lost(conn, now, &self.retry_backoff, &mut self.rng);
        self.idem.id_lost(conn, now);
        let node = c_node_of(&self.conns, conn);
        self.txn.conn_lost(conn, node, now);
        self.requeue_request(|req| req.0 == conn, now, None);
        // A lost leader connection may mean a leader change: refresh, after the backoff.
        self.meta.invalidate_all();
        self.meta.hold_refresh(now + self.config.retry_backoff);
        self.metrics.connection_lost();
    }

    /// Time passed: expires requests, batches and the close deadline. Early calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tick(now);
        self.expire_requests(now);
        self.expire_batches(now);
        self.close_idle(now);
        if let Some(deadline) = self.close_deadline {
            if now >= deadline {
                self.fail_all(DeliveryError::Closed);
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        self.now = self.now.max(now);
    }

    fn expire_requests(&mut self, now: Instant) {
        let timeout = self.config.request_timeout;
        for i in 0..self.conns.len() {
            if self.conns[i].request_deadline(timeout).is_some_and(|d| d <= now) {
                self.metrics.request_timed_out();
                let api = self.conns[i].oldest().map_or(ApiKey::Produce, |f| f.kind.api());
                let timeout_ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
                self.close_broken(i, ConnError::RequestTimeout { api, timeout_ms }, now);
            }
        }
    }

    fn expire_batches(&mut self, now: Instant) {
        let timeout = self.config.delivery_timeout;
        let mut expired: heapless::Vec<u16, 64> = heapless::Vec::new();
        // Oldest first per partition (see `expirable`): a partition's walk ends at its first
        // batch whose delivery timeout has not passed.
        'partitions: for pi in self.acc_partitions() {
            for (slot, _) in self.expirable(pi).take_while(|(_, b)| b.created() + timeout <= now) {
                if expired.push(slot).is_err() {
                    break 'partitions;
                }
            }
        }
        for slot in expired {
            self.expire(slot, now);
        }
    }

    /// Fails batch `slot` with its delivery timeout. A batch that went out may leave a sequence
    /// gap (it may or may not have been written): bump the epoch before the partition's next
    /// batch (KIP-360), as the Java client does, rather than wait for the broker to refuse that
    /// one as out of order. Split batches whose parts run out of time end here too.
    pub(super) fn expire(&mut self, slot: u16, now: Instant) {
        let was_sent = self.acc.slot(slot).is_some_and(|b| b.send().attempts > 0);
        self.complete(slot, Outcome::Failed(DeliveryError::DeliveryTimeout));
        if was_sent {
            self.idem.request_bump(now);
        }
    }

    fn close_idle(&mut self, now: Instant) {
        let idle = self.config.connections_max_idle;
        // Once a close has completed every batch, every connection goes, whatever its state.
        let closing_done = self.closed();
        for c in self.conns.iter_mut().filter(|c| c.is_used() && !c.want_close) {
            let idle_ready = c.state == ConnState::Ready && c.in_flight.is_empty() && c.last_active + idle <= now;
            let open = !matches!(c.state, ConnState::Idle) || c.want_connect;
            if (closing_done && open) || idle_ready {
                c.state = ConnState::Idle;
                c.in_flight.clear();
                c.want_connect = false;
                c.want_close = true;
            }
        }
        if closing_done {
            self.meta.abandon_refresh(now);
        }
    }

    /// Fails every incomplete batch (close deadline, fatal error).
    pub(super) fn fail_all(&mut self, reason: DeliveryError) {
        let mut slots: heapless::Vec<u16, 256> = heapless::Vec::new();
        loop {
            slots.clear();
            for (slot, b) in self.acc.iter_slots() {
                if b.send().outcome == Outcome::Pending && slots.push(slot).is_err() {
                    break;
                }
            }
            if slots.is_empty() {
                return;
            }
            for &slot in &slots {
                self.complete(slot, Outcome::Failed(reason));
            }
        }
    }

    /// Records a batch's completion; `poll_event` reports it and frees the slot.
    pub(super) fn complete(&mut self, slot: u16, outcome: Outcome) {
        let Some(records) = self.acc.slot(slot).map(BatchSlot::records) else {
            return;
        };
        if self.ledger.complete(&mut self.acc, slot, outcome).is_none() {
            return;
        }
        self.txn_on_complete(outcome);
        #[cfg(feature = "alloc")]
        if let Outcome::Failed(_) = outcome {
            if let Some(topic) = slot_topic(&self.acc, &self.meta, slot) {
                self.detail.batch_failed(topic, records, self.now);
            }
        }
        match outcome {
            Outcome::Delivered { .. } => self.metrics.batch_delivered(records),
            Outcome::Failed(_) => self.metrics.batch_failed(records, self.now),
            Outcome::Pending => {}
        }
    }

    /// Puts a batch back for another attempt after the retry backoff, or fails it with `error`
    /// when `retries` are used up. `None` (the connection was lost) does not count as a retry.
    pub(super) fn retry_batch(&mut self, slot: u16, now: Instant, error: Option<crate::protocol::ErrorCode>) {
        let Some((attempts, records)) = self.acc.slot(slot).map(|b| (b.send().attempts, b.records())) else {
            return;
        };
        self.ledger.returned(&mut self.acc, slot);
        if let Some(code) = error.filter(|_| u32::from(attempts) > self.config.retries) {
            self.complete(slot, Outcome::Failed(DeliveryError::Broker(code)));
            return;
        }
        let delay = self.retry_backoff.delay(u32::from(attempts.saturating_sub(1)), &mut self.rng);
        self.acc.schedule_retry(slot, now + delay);
        self.metrics.batch_retried(records, now);
        #[cfg(feature = "alloc")]
        if let Some(topic) = slot_topic(&self.acc, &self.meta, slot) {
            self.detail.batch_retried(topic, records, now);
        }
    }

    /// Puts every in-flight batch of the requests `lost` matches back for a retry, marking it
    /// uncertain (the broker may have written it). Works in rounds of a fixed buffer; each round
    /// takes batches out of flight, so the loop ends.
    pub(super) fn requeue_request(
        &mut self,
        lost: impl Fn((u16, i32)) -> bool,
        now: Instant,
        error: Option<crate::protocol::ErrorCode>,
    ) {
        let mut from = 0;
        loop {
            let batch = Ledger::in_requests(&self.acc, &lost, from);
            let Some(&last) = batch.last() else {
                return;
            };
            // Taking a batch out of flight sends nothing, so no slot before `last` is in flight
            // in a lost request any more.
            from = last.saturating_add(1);
            for &slot in &batch {
                self.mark_uncertain(slot);
                self.retry_batch(slot, now, error);
            }
        }
    }

    /// The batch's last attempt may have been written: until the broker answers a resend, it
    /// keeps its epoch and sequence (see `send_init_producer_id`).
    pub(super) fn mark_uncertain(&mut self, slot: u16) {
        self.acc.set_uncertain(slot, true);
    }

    /// Gives every partition slot the metadata cache has its queue and sequence state (std
    /// storage grows with the metadata; fixed storage was checked at construction).
    pub(super) fn fit_partition_state(&mut self) {
        let n = self.meta.partition_capacity();
        self.acc.fit_partitions(n);
        self.acc.set_partitions(self.meta.partition_span());
        self.ledger.fit(n);
        self.idem.fit(n);
    }

    pub(super) fn set_fatal(&mut self, e: FatalError) {
        if self.fatal.is_none() {
            self.fatal = Some(e);
            self.txn.set_fatal(e);
            self.fail_all(DeliveryError::Fatal(e));
        }
    }

    // ---- outputs ----

    /// The next event. Drain until `None` after every input (see the drain order).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(e) = self.fatal.filter(|_| !self.fatal_reported) {
            self.fatal_reported = true;
            return Some(Event::Fatal(e));
        }
        for (i, c) in self.conns.iter_mut().enumerate() {
            if let Some(error) = c.error.take() {
                return Some(Event::ConnectionFailed { conn: ConnId(i as u16), error });
            }
            if c.want_close {
                c.want_close = false;
                c.want_connect = false;
                if c.state != ConnState::Idle {
                    c.state = ConnState::Idle;
                }
                c.in_flight.clear();
                return Some(Event::Close(ConnId(i as u16)));
            }
            if c.want_connect {
                c.want_connect = false;
                return Some(Event::Connect(ConnId(i as u16)));
            }
        }
        let (b, next) = self.acc.pop_completed()?;
        if let Some(slot) = next {
            self.next_part(slot, &b);
        }
        let (topic, partition) = self.location(b.partition());
        let (batch, records, first, more) = (b.id(), b.records(), b.first(), b.rest() > 0);
        Some(Event::Completed(match b.send().outcome {
            Outcome::Delivered { base_offset, log_append_time } => {
                Completion::Delivered { batch, topic, partition, base_offset, log_append_time, records, first, more }
            }
            Outcome::Failed(reason) => Completion::Failed { batch, topic, partition, records, first, more, reason },
            Outcome::Pending => return None,
        }))
    }

    /// The topic index and partition number of a partition slot (`u16::MAX` if unknown).
    pub(super) fn location(&self, pi: u16) -> (u16, u32) {
        self.meta.partition_location(PartitionIdx(pi)).map_or((u16::MAX, 0), |(t, p)| (t.0, p))
    }

    /// A topic's id, if the cluster told one (Metadata v10+).
    pub(super) fn topic_id(&self, topic: u16) -> Option<[u8; 16]> {
        self.meta.topic_slot(TopicIdx(topic)).map(TopicSlot::topic_id).filter(|id| *id != [0; 16])
    }
}

/// A partition's slot if the sticky partitioner may choose it: its leader is known and, with
/// `partitioner.availability.timeout.ms` and the adaptive partitioner, its oldest batch has
/// not waited past linger for longer than that. Asked on every null-key record, so it never
/// walks the queue past its oldest batch that is not complete (and only with that timeout).
fn partition_available(
    meta: &Metadata<'_>,
    acc: &Accumulator<'_>,
    config: &Config<'_>,
    (topic, p): (TopicIdx, u32),
    now: Instant,
) -> Option<PartitionIdx> {
    let pi = meta.partition(topic, p)?;
    meta.leader(pi)?;
    let policy = config.partitioner;
    if policy.adaptive && !policy.availability_timeout.is_zero() {
        let waiting = acc.oldest_pending_created(pi.0).map(|t| t + config.linger);
        if waiting.is_some_and(|t| now.saturating_duration_since(t) > policy.availability_timeout) {
            return None;
        }
    }
    Some(pi)
}

/// The node of connection slot `conn` (0 if none).
fn c_node_of(conns: &[Connection], conn: u16) -> i32 {
    conns.get(usize::from(conn)).map_or(0, |c| c.node)
}

/// The topic name of a batch slot's partition (for the per-topic metrics).
#[cfg(feature = "alloc")]
pub(super) fn slot_topic<'m>(acc: &Accumulator<'_>, meta: &'m Metadata<'_>, slot: u16) -> Option<&'m str> {
    let pi = acc.slot(slot)?.partition();
    let (t, _) = meta.partition_location(PartitionIdx(pi))?;
    meta.topic_name(t)
}
