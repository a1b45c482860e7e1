//! `handle_read`: response frames in, state changes out.
//!
//! Kafka answers requests on one connection in order, so each frame must carry the correlation
//! id of the oldest request in flight; anything else is a broken connection, which is closed
//! (its requests are retried).

use super::conn::{ConnError, ConnId, ConnState, RequestKind};
use super::engine::Producer;
use super::idempotence::IdAnswer;
use super::ledger::Ledger;
use super::metadata::{PartitionIdx, TopicIdx, TopicSlot};
use super::types::{FatalError, Outcome};
use crate::partitioner::Partitioner;
use crate::protocol::api_versions::ApiVersionsResponse;
use crate::protocol::header::{framing, Framing, ResponseHeader};
use crate::protocol::init_producer_id::InitProducerIdResponse;
use crate::protocol::metadata::MetadataResponse;
use crate::protocol::produce::{PartitionProduceResponse, ProduceResponse, TopicProduceResponse};
use crate::protocol::{ApiKey, ErrorCode, Response};
use crate::record::ProducerState;
use crate::time::Instant;

/// The largest response frame accepted; a larger size prefix closes the connection.
pub const MAX_RESPONSE_FRAME: usize = 64 * 1024 * 1024;

impl<P: Partitioner> Producer<'_, P> {
    /// Bytes read from `conn`. Returns how many were consumed: whole frames only. Keep the rest
    /// and pass it again, followed by what is read next.
    pub fn handle_read(&mut self, conn: ConnId, bytes: &[u8], now: Instant) -> usize {
        self.now = self.now.max(now);
        let i = usize::from(conn.0);
        if !self.conns.get(i).is_some_and(|c| matches!(c.state, ConnState::Handshake | ConnState::Ready)) {
            return bytes.len();
        }
        let mut consumed = 0;
        loop {
            let rest = &bytes[consumed..];
            let error = match framing(rest, MAX_RESPONSE_FRAME + 4) {
                Framing::Partial => return consumed,
                Framing::Frame(total) => match self.handle_frame(i, &rest[4..total], now) {
                    Ok(()) => {
                        consumed += total;
                        continue;
                    }
                    Err(e) => e,
                },
                // `total` counts the 4-byte prefix; the error names the length it announced.
                Framing::TooLarge(total) => {
                    ConnError::FrameLength { announced: total as i64 - 4, limit: MAX_RESPONSE_FRAME }
                }
                Framing::Malformed(size) => {
                    ConnError::FrameLength { announced: size.into(), limit: MAX_RESPONSE_FRAME }
                }
            };
            self.close_broken(i, error, now);
            return bytes.len();
        }
    }

    /// Gives up on connection `i` because of `error`: its requests are retried, and the driver
    /// hears why ([`super::Event::ConnectionFailed`]) and is asked to close it.
    pub(super) fn close_broken(&mut self, i: usize, error: ConnError, now: Instant) {
        self.on_auth_failure(i, &error);
        self.drop_connection(i as u16, now);
        self.conns[i].fail(error);
    }

    /// Handles one response frame; an error means the connection is broken.
    fn handle_frame(&mut self, i: usize, frame: &[u8], now: Instant) -> Result<(), ConnError> {
        let f = self.conns[i].oldest().copied().ok_or(ConnError::Unsolicited)?;
        let version = i16::from(f.version);
        let undecodable = ConnError::Undecodable { api: f.kind.api(), version };
        let (header, body) = ResponseHeader::decode(f.kind.api(), version, frame).map_err(|_| undecodable)?;
        if header.correlation_id != f.correlation_id {
            return Err(ConnError::CorrelationMismatch { expected: f.correlation_id, got: header.correlation_id });
        }
        self.conns[i].pop(now);
        self.metrics.response(now - f.sent, f.kind == RequestKind::Produce, now);
        #[cfg(feature = "alloc")]
        if f.kind == RequestKind::Produce {
            self.detail.produce_latency(self.conns[i].node, now - f.sent, now);
        }
        let decoded = match f.kind {
            RequestKind::ApiVersions => return self.on_api_versions(i, version, body),
            RequestKind::Metadata => self.on_metadata(version, body, now),
            RequestKind::InitProducerId => self.on_init_producer_id(version, body, now),
            RequestKind::Produce => self.on_produce(i, (f.correlation_id, f.batches), version, body, now),
            RequestKind::SaslHandshake | RequestKind::SaslAuthenticate => {
                return self.on_sasl(i, f.kind, version, body, (f.sent, now));
            }
            RequestKind::Txn(req) => self.on_txn_response((i as u16, f.correlation_id), req, version, body, now),
        };
        if decoded {
            Ok(())
        } else {
            Err(undecodable)
        }
    }

    fn on_api_versions(&mut self, i: usize, version: i16, body: &[u8]) -> Result<(), ConnError> {
        let resp = ApiVersionsResponse::decode(version, body)
            .map_err(|_| ConnError::Undecodable { api: ApiKey::ApiVersions, version })?;
        let c = &mut self.conns[i];
        if resp.error_code == ErrorCode::UnsupportedVersion {
            // KIP-511: the broker lists its range; retry lower (only ever lower, so no loop).
            return match resp.choose(ApiKey::ApiVersions) {
                Some(v) if v < version => {
                    c.api_versions_version = v;
                    Ok(())
                }
                _ => Err(ConnError::Handshake(resp.error_code)),
            };
        }
        if resp.error_code != ErrorCode::None {
            return Err(ConnError::Handshake(resp.error_code));
        }
        c.versions.metadata = resp.choose(ApiKey::Metadata);
        c.versions.produce = resp.choose(ApiKey::Produce);
        c.versions.init_producer_id = resp.choose(ApiKey::InitProducerId);
        c.versions.txn = super::txn::TxnVersions::from_response(&resp);
        if self.begin_sasl(i, (resp.choose(ApiKey::SaslHandshake), resp.choose(ApiKey::SaslAuthenticate)))? {
            return Ok(());
        }
        let c = &mut self.conns[i];
        c.state = ConnState::Ready;
        c.failures = 0;
        self.check_versions(i);
        Ok(())
    }

    fn on_metadata(&mut self, version: i16, body: &[u8], now: Instant) -> bool {
        let Ok(resp) = MetadataResponse::decode(version, body) else {
            // The connection is dropped for it, which fails the refresh.
            return false;
        };
        let applied = self.meta.apply(&resp, now);
        self.fit_partition_state();
        let max_age = self.config.metadata_max_age;
        self.meta.refresh_answered(applied.is_ok(), now, max_age, &self.retry_backoff, &mut self.rng);
        for r in applied.iter().flat_map(|update| update.resized.iter()) {
            self.apply_resize(r);
        }
        true
    }

    /// Follows a topic whose partition block moved, grew or was recreated: queues and
    /// sequences move with their partitions; a recreated topic's partitions are new, so their
    /// sequences restart; partitions that no longer exist fail what they held.
    fn apply_resize(&mut self, r: &super::metadata::TopicResize) {
        let kept = r.old_count.min(r.new_count) as u16;
        if r.old_first != r.new_first {
            for p in 0..kept {
                let (from, to) = (r.old_first.0 + p, r.new_first.0 + p);
                self.txn.move_partition(from, to);
                self.acc.move_queue(from, to);
                self.ledger.move_partition(from, to);
                self.idem.move_partition(from, to);
            }
        }
        if r.recreated {
            for p in 0..kept {
                self.idem.restart(r.new_first.0 + p);
            }
        }
        for p in kept..r.old_count as u16 {
            let gone = r.old_first.0 + p;
            let slots: heapless::Vec<u16, 256> = self.acc.iter_queue(gone).take(256).collect();
            for slot in slots {
                self.complete(
                    slot,
                    Outcome::Failed(super::types::DeliveryError::Broker(ErrorCode::UnknownTopicOrPartition)),
                );
            }
        }
    }

    fn on_init_producer_id(&mut self, version: i16, body: &[u8], now: Instant) -> bool {
        let Ok(resp) = InitProducerIdResponse::decode(version, body) else {
            return false;
        };
        let answer = (resp.error_code, resp.producer_id, resp.producer_epoch);
        if matches!(resp.error_code, ErrorCode::NotCoordinator | ErrorCode::CoordinatorNotAvailable)
            && self.txn.enabled()
        {
            self.txn.coordinator_lost(now);
        }
        match self.idem.id_answered(answer, now, &self.retry_backoff, &mut self.rng) {
            IdAnswer::Ready { producer, bumped: true } => {
                self.restamp(producer);
                self.txn_initialized();
            }
            IdAnswer::Ready { .. } => self.txn_initialized(),
            IdAnswer::Fatal(code) => self.set_fatal(FatalError::Broker(code)),
            IdAnswer::Retry | IdAnswer::Ignored => {}
        }
        true
    }

    /// After an epoch bump: every partition's sequences restart at 0, and sealed batches not
    /// yet acknowledged are re-stamped in queue order with the new epoch (KIP-360).
    fn restamp(&mut self, producer: ProducerState) {
        for pi in 0..self.idem.partitions() as u16 {
            let acc = &mut self.acc;
            let mut cur = acc.iter_queue(pi).next();
            self.idem.restamp_from(pi, |seq| loop {
                let slot = cur?;
                cur = acc.next_in_queue(slot);
                let b = acc.slot(slot)?;
                if b.is_complete() || !matches!(b.stage(), super::accumulator::Stage::Sealed { .. }) {
                    continue;
                }
                // A split batch's later parts take the sequences after this one's.
                let records = b.records() + b.rest();
                acc.restamp(slot, ProducerState { base_sequence: seq, ..producer });
                return Some(records);
            });
        }
    }

    /// Holds (`held`) or releases the growth past `batch.size` of the partitions that
    /// connection `i`'s broker leads, while it throttles the producer (KIP-219; see
    /// `Accumulator::hold_growth`). A release also frees partitions whose leader moved while
    /// they were held, unless their new leader throttles too.
    pub(super) fn hold_growth(&mut self, i: usize, held: bool) {
        let node = self.conns[i].node;
        self.conns[i].growth_held = held;
        for pi in 0..self.meta.partition_span() as u16 {
            let leader = self.meta.leader(PartitionIdx(pi));
            let change = if held {
                leader == Some(node)
            } else {
                let still = |n: i32| self.conns.iter().any(|c| c.node == n && c.growth_held);
                self.acc.growth_held(pi) && !leader.is_some_and(still)
            };
            if change {
                self.acc.hold_growth(pi, held);
            }
        }
    }

    /// A Produce response to request `corr` of connection `i`, which carried `batches` batches.
    fn on_produce(&mut self, i: usize, (corr, batches): (i32, u16), version: i16, body: &[u8], now: Instant) -> bool {
        let Ok(resp) = ProduceResponse::decode(version, body) else {
            return false;
        };
        // KIP-219: from v6 the broker answers at once and leaves the throttling to the client.
        if resp.throttle_time_ms > 0 {
            self.metrics.throttled(resp.throttle_time_ms, now);
        }
        if version >= 6 && resp.throttle_time_ms > 0 {
            let until = now + core::time::Duration::from_millis(resp.throttle_time_ms as u64);
            self.conns[i].throttled_until = until;
            self.hold_growth(i, true);
        }
        // Each batch of the request is in flight with it until answered here, so `answered`
        // counts distinct batches, even if a response names a partition twice.
        let mut answered = 0u16;
        #[cfg(feature = "alloc")]
        let order = self.topic_order(version, resp.responses.len());
        #[cfg(not(feature = "alloc"))]
        let order: [u16; 0] = [];
        for topic in resp.responses.iter() {
            let Some(t) = self.response_topic(version, &topic, &order) else {
                continue;
            };
            for p in topic.partition_responses.iter() {
                let Some(pi) = u32::try_from(p.index).ok().and_then(|idx| self.meta.partition(t, idx)).map(|pi| pi.0)
                else {
                    continue;
                };
                if let Some(slot) = Ledger::answered_by(&self.acc, pi, (i as u16, corr)) {
                    answered = answered.saturating_add(1);
                    self.on_partition_response(pi, slot, &p, &resp, now);
                }
            }
        }
        // Batches of this request the response did not mention: treat as lost, retry. Finding
        // them scans every batch slot, so only when some are left.
        if batches == 0 || answered < batches {
            self.requeue_request(|req| req == (i as u16, corr), now, Some(ErrorCode::UnknownServerError));
        }
        true
    }

    /// The topic slots sorted by what a Produce response at `version` names topics by (id from
    /// v13, else name), for a response that names `n` topics, or nothing (a scan is cheaper).
    /// A request may carry every topic the producer writes to, and a scan of all topics per
    /// topic answered would cost a million comparisons a response at 1,000 topics; one sort
    /// per response and a binary search per topic cost about 20,000.
    #[cfg(feature = "alloc")]
    fn topic_order(&self, version: i16, n: usize) -> alloc::vec::Vec<u16> {
        if n <= 16 {
            return alloc::vec::Vec::new();
        }
        let mut order: alloc::vec::Vec<u16> = self.meta.topics().map(|(t, _)| t.0).collect();
        let slot = |t: u16| self.meta.topic_slot(TopicIdx(t));
        if version >= 13 {
            order.sort_unstable_by_key(|&t| slot(t).map(TopicSlot::topic_id));
        } else {
            order.sort_unstable_by_key(|&t| slot(t).map(TopicSlot::name));
        }
        order
    }

    /// The topic slot a Produce response's `topic` names: by id from v13, else by name; a
    /// binary search of `order` (see [`Producer::topic_order`]) or, when it is empty, a scan.
    fn response_topic(&self, version: i16, topic: &TopicProduceResponse<'_>, order: &[u16]) -> Option<TopicIdx> {
        let slot = |t: u16| self.meta.topic_slot(TopicIdx(t));
        let found = if version >= 13 {
            if order.is_empty() {
                return self.meta.topics().find(|(_, s)| s.topic_id() == topic.topic_id).map(|(t, _)| t);
            }
            order.binary_search_by(|&t| slot(t).map(TopicSlot::topic_id).cmp(&Some(topic.topic_id)))
        } else {
            if order.is_empty() {
                return self.meta.topic(topic.name);
            }
            order.binary_search_by(|&t| slot(t).map(TopicSlot::name).cmp(&Some(topic.name)))
        };
        found.ok().map(|k| TopicIdx(order[k]))
    }

    fn on_partition_response(
        &mut self,
        pi: u16,
        slot: u16,
        p: &PartitionProduceResponse<'_>,
        resp: &ProduceResponse<'_>,
        now: Instant,
    ) {
        let code = p.error_code;
        if matches!(code, ErrorCode::None | ErrorCode::DuplicateSequenceNumber) {
            self.complete(
                slot,
                Outcome::Delivered { base_offset: p.base_offset, log_append_time: p.log_append_time_ms },
            );
            return;
        }
        self.metrics.broker_error();
        // Whether some attempt may have been written sticks until an answer that speaks for
        // every earlier attempt: OUT_OF_ORDER_SEQUENCE (the broker's log ends before this
        // batch) or UNKNOWN_PRODUCER_ID (the producer's state, and so its writes, are gone).
        // A replication timeout (the leader appended, followers were late) makes it possible.
        match code {
            ErrorCode::RequestTimedOut | ErrorCode::NotEnoughReplicasAfterAppend => self.acc.set_uncertain(slot, true),
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId => self.acc.set_uncertain(slot, false),
            _ => {}
        }
        if code.is_invalid_metadata() || matches!(code, ErrorCode::KafkaStorageError | ErrorCode::ReplicaNotAvailable) {
            match p.current_leader {
                Some(hint) => {
                    let _ = self.meta.apply_leader_hint(PartitionIdx(pi), hint, resp.node_endpoints.iter());
                }
                None => self.meta.invalidate(PartitionIdx(pi)),
            }
        }
        match code {
            ErrorCode::OutOfOrderSequenceNumber | ErrorCode::UnknownProducerId if self.idem.enabled() => {
                // Only the partition's oldest unacknowledged batch proves a lost sequence; later
                // ones fail because of it and are simply retried (the Java client's rule). A
                // split batch with records still to go counts as unacknowledged.
                let oldest = self
                    .acc
                    .iter_queue(pi)
                    .find(|&s| self.acc.slot(s).is_some_and(|b| b.send().outcome == Outcome::Pending || b.rest() > 0));
                if oldest == Some(slot) {
                    self.idem.request_bump(now);
                }
                self.retry_batch(slot, now, Some(code));
                // Behind a split batch (it was refused as too large, so the broker took
                // nothing after it): not its own failure; it goes as soon as the split one is
                // through, without a backoff.
                if oldest.and_then(|s| self.acc.slot(s)).is_some_and(|b| b.rest() > 0) {
                    self.acc.schedule_retry(slot, now);
                }
            }
            ErrorCode::ProducerFenced
            | ErrorCode::ClusterAuthorizationFailed
            | ErrorCode::TransactionalIdAuthorizationFailed
            | ErrorCode::TopicAuthorizationFailed
                if code != ErrorCode::TopicAuthorizationFailed =>
            {
                self.set_fatal(FatalError::Broker(code));
            }
            ErrorCode::MessageTooLarge => self.on_too_large(slot, now),
            code if code.is_retriable() => self.retry_batch(slot, now, Some(code)),
            code => {
                self.note_broker_words(slot, p);
                self.complete(slot, Outcome::Failed(super::types::DeliveryError::Broker(code)));
            }
        }
    }

    /// Keeps what the broker said about a batch it refused (KIP-467): each record it named,
    /// and the batch's message. At most 64 per batch and 1,024 in all, each cut to 512 bytes.
    #[cfg(feature = "alloc")]
    fn note_broker_words(&mut self, slot: u16, p: &PartitionProduceResponse<'_>) {
        use alloc::string::ToString;
        let Some((batch, first, records)) = self.acc.slot(slot).map(|b| (b.id(), b.first(), b.records())) else {
            return;
        };
        let text = |s: &str| s.get(..512).unwrap_or(s).to_string();
        for e in p.record_errors.iter().take(64) {
            let index = u32::try_from(e.batch_index).ok().filter(|&i| i < records);
            if let (Some(i), true) = (index, self.broker_words.len() < 1024) {
                let message = e.batch_index_error_message.unwrap_or("");
                self.broker_words.push((batch, first + i, text(message)));
            }
        }
        if let (Some(message), true) = (p.error_message, self.broker_words.len() < 1024) {
            self.broker_words.push((batch, super::drain::WHOLE_BATCH, text(message)));
        }
    }

    #[cfg(not(feature = "alloc"))]
    fn note_broker_words(&mut self, _slot: u16, _p: &PartitionProduceResponse<'_>) {}
}
