//! Applying a Metadata response to the cache, and the partition slot allocator it uses.

use super::{
    endpoint, topic_idx, BrokerSlot, Metadata, MetadataError, MetadataUpdate, PartitionIdx, PartitionSlot, TopicResize,
    TopicState, FREE, NO_ID, RETIRING,
};
use crate::protocol::metadata::{MetadataResponse, MetadataResponsePartition, MetadataResponseTopic};
use crate::protocol::{Array, ErrorCode, Node};
use crate::time::Instant;

impl Metadata<'_> {
    /// Applies a Metadata response: replaces the cluster's brokers (bootstrap entries stay), then
    /// updates every wanted topic it describes. Ends the outstanding refresh. On `Err` nothing
    /// changed and the refresh counts as failed.
    pub(crate) fn apply(&mut self, resp: &MetadataResponse<'_>, now: Instant) -> Result<MetadataUpdate, MetadataError> {
        self.in_flight = false;
        let result = self.try_apply(resp, now);
        self.partial_in_flight = false;
        self.update_span();
        if result.is_err() {
            self.requested |= self.requested_in_flight;
        }
        self.requested_in_flight = false;
        result
    }

    fn try_apply(&mut self, resp: &MetadataResponse<'_>, now: Instant) -> Result<MetadataUpdate, MetadataError> {
        if resp.error_code != ErrorCode::None {
            // KIP-1102: the broker asks the client to go back to `bootstrap.servers`.
            self.rebootstrap_required |= resp.error_code == ErrorCode::RebootstrapRequired;
            return Err(MetadataError::Response(resp.error_code));
        }
        if self.partial_in_flight {
            self.merge_brokers(&resp.brokers)?;
        } else {
            self.replace_brokers(&resp.brokers)?;
        }
        self.partitions.iter_mut().for_each(|p| p.changed = false);
        let mut update = MetadataUpdate::default();
        for topic in &resp.topics {
            let Some(t) = topic.name.and_then(|name| self.topic(name)) else {
                continue;
            };
            if topic.error_code == ErrorCode::None {
                self.apply_partitions(t.index(), &topic, &mut update);
            } else {
                self.apply_topic_error(t.index(), topic.error_code);
            }
        }
        for p in self.partitions.iter_mut().filter(|p| p.topic == RETIRING) {
            *p = PartitionSlot::EMPTY;
        }
        // A partial refresh described only some topics: the others' age runs on.
        if !self.partial_in_flight {
            self.refreshed_at = Some(now);
        }
        self.stuck_since = None;
        self.rebootstrap_required = false;
        Ok(update)
    }

    fn replace_brokers(&mut self, brokers: &Array<'_, Node<'_>>) -> Result<(), MetadataError> {
        let valid = brokers.iter().filter(|n| endpoint(n).is_ok()).count();
        let bootstrap = self.brokers.iter().filter(|b| b.bootstrap).count();
        if !super::super::grow_slice(&mut self.brokers, bootstrap + valid, usize::MAX, BrokerSlot::EMPTY) {
            return Err(MetadataError::TooManyBrokers);
        }
        self.brokers.iter_mut().filter(|b| !b.bootstrap).for_each(|b| *b = BrokerSlot::EMPTY);
        for node in brokers {
            // Invalid entries (negative id, bad host or port) are skipped; the valid ones fit,
            // as counted above (a duplicate id reuses its slot).
            let _ = self.upsert_broker(&node);
        }
        Ok(())
    }

    /// A partial refresh's brokers: added or updated, none removed. The topics it did not
    /// describe may still name a broker it left out (one that went away), and a leader must keep
    /// its address until a full refresh moves it; a change in the broker list asks for that
    /// full refresh. (On `Err` the brokers before the full one were updated, which is harmless.)
    fn merge_brokers(&mut self, brokers: &Array<'_, Node<'_>>) -> Result<(), MetadataError> {
        let announced = self.brokers.iter().filter(|b| b.used && !b.bootstrap).count();
        let mut known = 0;
        for node in brokers {
            known += usize::from(self.brokers.iter().any(|b| b.used && !b.bootstrap && b.node_id == node.node_id));
            // Invalid entries are skipped, as in a full refresh.
            if let Err(MetadataError::TooManyBrokers) = self.upsert_broker(&node) {
                return Err(MetadataError::TooManyBrokers);
            }
        }
        self.requested |= known != announced || known != brokers.len();
        Ok(())
    }

    fn apply_topic_error(&mut self, t: usize, code: ErrorCode) {
        let slot = &mut self.topics[t];
        slot.state = match code {
            ErrorCode::UnknownTopicOrPartition
            | ErrorCode::InvalidTopicException
            | ErrorCode::TopicAuthorizationFailed => TopicState::Failed(code),
            // LEADER_NOT_AVAILABLE while a topic is being created, and the like: ask again soon.
            _ if code.is_retriable() => {
                self.requested = true;
                if slot.state == TopicState::Known {
                    TopicState::Known
                } else {
                    TopicState::Pending
                }
            }
            _ => TopicState::Failed(code),
        };
    }

    fn apply_partitions(&mut self, t: usize, topic: &MetadataResponseTopic<'_>, up: &mut MetadataUpdate) {
        let slot = &self.topics[t];
        let (old_first, old) = (slot.first, usize::from(slot.count));
        let n = topic.partitions.len();
        let recreated = old > 0 && slot.topic_id != NO_ID && topic.topic_id != NO_ID && slot.topic_id != topic.topic_id;
        if n == 0 || (n < old && !recreated) {
            // No partitions yet, or a lagging broker that has not seen the topic grow.
            self.requested |= n == 0;
            return;
        }
        let resizing = old > 0 && (n != old || recreated);
        if resizing && up.resized.is_full() {
            self.requested = true;
            return;
        }
        if topic.topic_id != NO_ID {
            self.topics[t].topic_id = topic.topic_id;
        }
        if recreated {
            self.block_mut(t).iter_mut().for_each(|p| *p = PartitionSlot::fresh(p.topic));
            #[cfg(feature = "alloc")]
            self.forget_replicas(t, 0);
        }
        let count = if old == 0 {
            if !self.grow(t, n) {
                self.topics[t].state = TopicState::TooManyPartitions;
                up.capacity_error.get_or_insert(MetadataError::TooManyPartitions);
                return;
            }
            n
        } else if n > old && !self.grow(t, n) {
            up.capacity_error.get_or_insert(MetadataError::TooManyPartitions);
            old
        } else {
            if n < old {
                self.shrink(t, n);
            }
            n
        };
        let slot = &mut self.topics[t];
        if resizing && (count != old || recreated) {
            let resize = TopicResize {
                topic: topic_idx(t),
                old_first: PartitionIdx(old_first),
                new_first: PartitionIdx(slot.first),
                old_count: old as u32,
                new_count: count as u32,
                recreated,
            };
            // Checked not full above.
            let _ = up.resized.push(resize);
        }
        slot.state = TopicState::Known;
        for p in &topic.partitions {
            self.apply_partition(t, &p, up);
        }
    }

    fn apply_partition(&mut self, t: usize, p: &MetadataResponsePartition<'_>, up: &mut MetadataUpdate) {
        let (first, count) = (usize::from(self.topics[t].first), usize::from(self.topics[t].count));
        let Some(idx) = usize::try_from(p.partition_index).ok().filter(|&i| i < count) else {
            up.ignored_partitions += 1;
            return;
        };
        let slot = &mut self.partitions[first + idx];
        if p.leader_epoch >= 0 && p.leader_epoch < slot.epoch {
            up.stale_partitions += 1;
            return;
        }
        let leader = if p.leader_id < 0 || leader_missing(p.error_code) { -1 } else { p.leader_id };
        if leader != slot.leader && !slot.changed {
            slot.changed = true;
            up.leaders_changed += 1;
        }
        slot.leader = leader;
        if p.leader_epoch >= 0 {
            slot.epoch = p.leader_epoch;
        }
        slot.error = p.error_code.code();
        self.requested |= leader < 0;
        #[cfg(feature = "alloc")]
        self.store_replicas(t, p);
    }

    // ---- partition slot allocation ----

    fn block_mut(&mut self, t: usize) -> &mut [PartitionSlot] {
        let (first, count) = (usize::from(self.topics[t].first), usize::from(self.topics[t].count));
        &mut self.partitions[first..first + count]
    }

    /// Makes room for a run of `n` free partition slots at the end (std storage grows; fixed
    /// storage cannot) and returns its first slot.
    fn grow_partition_slots(&mut self, n: usize) -> Option<usize> {
        let used = self.partition_slots().iter().rposition(|p| p.topic != FREE).map_or(0, |i| i + 1);
        let len = used.checked_add(n)?;
        super::super::grow_slice(&mut self.partitions, len, super::PARTITION_LIMIT, PartitionSlot::EMPTY)
            .then_some(used)
    }

    /// The first of `n` consecutive free partition slots.
    fn find_free_run(&self, n: usize) -> Option<usize> {
        let mut run = 0;
        for (i, p) in self.partition_slots().iter().enumerate() {
            run = if p.topic == FREE { run + 1 } else { 0 };
            if run == n {
                return Some(i + 1 - n);
            }
        }
        None
    }

    /// Grows topic `t` to `n` partitions (from none, for a new topic), in place if the following
    /// slots are free, else into a new block (the old one retires at the end of `apply`).
    fn grow(&mut self, t: usize, n: usize) -> bool {
        let (first, old) = (usize::from(self.topics[t].first), usize::from(self.topics[t].count));
        let tail = self.partition_slots().get(first + old..first + n);
        let new_first = if tail.is_some_and(|s| s.iter().all(|p| p.topic == FREE)) {
            first
        } else {
            let Some(new_first) = self.find_free_run(n).or_else(|| self.grow_partition_slots(n)) else {
                return false;
            };
            for i in 0..old {
                self.partitions[new_first + i] = self.partitions[first + i];
                self.partitions[first + i].topic = RETIRING;
            }
            new_first
        };
        self.partitions[new_first + old..new_first + n].iter_mut().for_each(|p| *p = PartitionSlot::fresh(t as u16));
        // partition_slots() stops at PARTITION_LIMIT = u16::MAX, so both fit.
        self.topics[t].first = new_first as u16;
        self.topics[t].count = n as u16;
        true
    }

    /// Shrinks a recreated topic `t` to `n` partitions; the tail retires at the end of `apply`.
    fn shrink(&mut self, t: usize, n: usize) {
        self.block_mut(t)[n..].iter_mut().for_each(|p| p.topic = RETIRING);
        #[cfg(feature = "alloc")]
        self.forget_replicas(t, n as u32);
        // n < count, which fits.
        self.topics[t].count = n as u16;
    }
}

/// Partition errors that mean the announced leader cannot take writes.
const fn leader_missing(code: ErrorCode) -> bool {
    matches!(
        code,
        ErrorCode::LeaderNotAvailable
            | ErrorCode::NotLeaderOrFollower
            | ErrorCode::UnknownTopicOrPartition
            | ErrorCode::ListenerNotFound
            | ErrorCode::KafkaStorageError
    )
}
