//! The properties every run must keep, checked after [`super::driver::Sim::run`] (the driver
//! already recorded what it saw while running: double completions, buffer accounting, frames,
//! stalls).
//!
//! - **Completions**: every accepted record is covered by exactly one completion event; a batch's
//!   event covers exactly the records `send` put in it; no event for a batch never accepted.
//! - **Placement**: a completion names the record's topic; an explicit partition is kept; a
//!   keyed record lands where murmur2 says.
//! - **Offsets**: a delivered record sits in the partition log at `base_offset + index`.
//! - **Idempotence**: every record appears in the logs at most once, and per partition in send
//!   order.
//! - **Failure reasons**: a failure is a delivery timeout or the close deadline, never a broker
//!   error the sim only sends transiently, never fatal; and it is reported within
//!   `delivery.timeout.ms + request.timeout.ms` of the batch's creation.
//! - **Metrics** agree with the events; the buffer is whole again at the end.
//! - **Liveness** (fault-free runs): every record for an existing topic is delivered.
//! - **Completion order**: per partition, completion events (delivered or failed) come in the
//!   order the batches were created, and deliveries in offset order where the log keeps send
//!   order (as the Java client runs a partition's callbacks in order).
//! - **No idle wake-up**: waking on a `poll_timeout` deadline alone gets something done (a
//!   frame, an event, or a change the getters show).

use alloc::collections::BTreeMap;

use kprod_core::config::Acks;
use kprod_core::partitioner::key_partition;
use kprod_core::producer::BatchId;
use kprod_core::producer::DeliveryError;

use super::driver::{Completion, Sim};
use super::scenario::index_of;
use super::wake::IdleWakeup;

/// Where each planned record sits in the logs: (topic, partition, offset).
type Placement = BTreeMap<usize, Vec<(String, u32, i64)>>;

/// Every violation of the run: those seen while running, then the end-state properties.
pub fn check(sim: &Sim) -> Vec<String> {
    let mut v = sim.out.violations.clone();
    let placed = placements(sim, &mut v);
    if sim.producer.idempotent() {
        check_idempotence(sim, &placed, &mut v);
    }
    check_completion_order(sim, &mut v);
    check_idle_wakeups(sim, &mut v);
    if sim.out.aborted {
        return v;
    }
    check_completions(sim, &placed, &mut v);
    check_end_state(sim, &mut v);
    super::txn::check_txn(sim, &mut v);
    if sim.sc.expect.all_delivered && sim.sc.txn.is_some() {
        super::txn::check_txn_liveness(sim, &mut v);
    } else if sim.sc.expect.all_delivered {
        check_liveness(sim, &placed, &mut v);
    }
    v
}

fn placements(sim: &Sim, v: &mut Vec<String>) -> Placement {
    let mut placed = Placement::new();
    for t in &sim.cluster.topics {
        for (p, part) in t.partitions.iter().enumerate() {
            for s in &part.log {
                let Some(i) = s.value.as_deref().and_then(index_of).filter(|&i| i < sim.sc.records.len()) else {
                    v.push(format!("{}-{p}@{}: a record the application never sent", t.name, s.offset));
                    continue;
                };
                let r = &sim.sc.records[i];
                if s.key != r.key || s.value.as_deref() != Some(&r.value[..]) {
                    v.push(format!("{}-{p}@{}: record #{i} arrived altered", t.name, s.offset));
                }
                placed.entry(i).or_default().push((t.name.clone(), p as u32, s.offset));
            }
        }
    }
    placed
}

fn check_completions(sim: &Sim, placed: &Placement, v: &mut Vec<String>) {
    let mut batches: BTreeMap<BatchId, Vec<(u32, usize)>> = BTreeMap::new();
    for a in &sim.out.accepted {
        batches.entry(a.id.batch).or_default().push((a.id.index, a.planned));
    }
    for (batch, members) in &mut batches {
        members.sort_unstable();
        if members.iter().enumerate().any(|(k, &(index, _))| index as usize != k) {
            v.push(format!("{batch:?}: record indices are not 0..n: {members:?}"));
        }
        let Some(c) = sim.out.completions.get(batch) else {
            v.push(format!("{batch:?}: no completion for its {} records (#{})", members.len(), members[0].1));
            continue;
        };
        if c.more {
            v.push(format!("{batch:?}: split, and its last part never completed: {:?}", c.parts));
        }
        if c.records as usize != members.len() {
            v.push(format!("{batch:?}: completion covers {} records, send accepted {}", c.records, members.len()));
        }
        for &(index, planned) in members.iter() {
            check_record(sim, placed, *batch, c, index, planned, v);
        }
        check_reason(sim, *batch, c, members[0].1, v);
    }
    for batch in sim.out.completions.keys().filter(|b| !batches.contains_key(b)) {
        v.push(format!("{batch:?}: completion for a batch no send created"));
    }
    let m = sim.producer.metrics();
    let (mut delivered, mut failed) = (0u64, 0u64);
    for (_, records, result) in sim.out.completions.values().flat_map(|c| &c.parts) {
        *if result.is_ok() { &mut delivered } else { &mut failed } += u64::from(*records);
    }
    let counted = (m.records_sent, m.records_delivered, m.records_failed);
    if counted != (sim.out.accepted.len() as u64, delivered, failed) {
        v.push(format!(
            "metrics (sent, delivered, failed) = {counted:?}, events say ({}, {delivered}, {failed})",
            sim.out.accepted.len()
        ));
    }
}

fn check_record(
    sim: &Sim,
    placed: &Placement,
    batch: BatchId,
    c: &Completion,
    index: u32,
    planned: usize,
    v: &mut Vec<String>,
) {
    let r = &sim.sc.records[planned];
    if c.topic != r.topic {
        v.push(format!("#{planned} for {} completed as {}", r.topic, c.topic));
    }
    // A keyed record hashes over the partition count the engine knew when it was sent (unless
    // `partitioner.ignore.keys` places it like a null-key record).
    let hashed = !sim.sc.config.partitioner.ignore_keys;
    let count = sim.out.accepted.iter().find(|a| a.planned == planned).and_then(|a| a.partitions).unwrap_or(0);
    let expected = r.partition.or_else(|| r.key.as_deref().filter(|_| hashed).map(|k| key_partition(k, count)));
    if expected.is_some_and(|p| p != c.partition) {
        v.push(format!("#{planned} belongs in partition {expected:?}, completed in {}", c.partition));
    }
    let Ok(offset) = c.result_of(index) else { return };
    if sim.sc.config.acks == Acks::None {
        if offset != -1 {
            v.push(format!("{batch:?}: acks=0 delivery reports offset {offset}"));
        }
        return;
    }
    let want = (c.topic.clone(), c.partition, offset);
    if !placed.get(&planned).is_some_and(|at| at.contains(&want)) {
        let at = placed.get(&planned);
        v.push(format!("#{planned} delivered at {}-{}@{} but the log has it at {at:?}", want.0, want.1, want.2));
    }
}

fn check_reason(sim: &Sim, batch: BatchId, c: &Completion, first: usize, v: &mut Vec<String>) {
    let Err(reason) = c.result else { return };
    let config = &sim.sc.config;
    match reason {
        DeliveryError::Closed => return,
        // A record larger than the topic's limit alone (the engine split the rest).
        DeliveryError::Broker(kprod_core::protocol::ErrorCode::MessageTooLarge)
            if sim.sc.max_message_bytes.is_some() =>
        {
            return
        }
        DeliveryError::DeliveryTimeout => {}
        // Only the broker that refuses authentication fails records with it (once: the
        // completion checks count them).
        DeliveryError::Authentication { node, .. }
            if sim.sc.sasl.as_ref().is_some_and(|s| s.refuse_node == Some(node)) =>
        {
            return;
        }
        // Aborted with its transaction, or failed by a fence.
        other if super::txn::txn_reason_ok(sim, first, other) => return,
        other => v.push(format!("{batch:?} failed with {other:?}")),
    }
    let created = sim.out.accepted.iter().find(|a| a.planned == first).map(|a| a.at);
    let limit = created.map(|t| t + config.delivery_timeout + config.request_timeout);
    if limit.is_some_and(|l| c.at > l + core::time::Duration::from_millis(1)) {
        v.push(format!("{batch:?} failed at {:?}, after delivery.timeout + request.timeout ({limit:?})", c.at));
    }
}

fn check_idempotence(sim: &Sim, placed: &Placement, v: &mut Vec<String>) {
    for (i, at) in placed.iter().filter(|(_, at)| at.len() > 1) {
        v.push(format!("#{i} written {} times despite idempotence: {at:?}", at.len()));
    }
    for t in &sim.cluster.topics {
        for (p, part) in t.partitions.iter().enumerate() {
            if part.blind_gap {
                // Kafka itself let a gap through (see `Partition::blind_gap`): order is not
                // the producer's to keep there.
                continue;
            }
            let order: Vec<usize> = part.log.iter().filter_map(|s| s.value.as_deref().and_then(index_of)).collect();
            if let Some(w) = order.windows(2).find(|w| w[0] >= w[1]) {
                v.push(format!("{}-{p}: log order breaks send order (#{} before #{}): {order:?}", t.name, w[0], w[1]));
            }
        }
    }
}

/// One partition's completions so far, for [`check_completion_order`].
#[derive(Default)]
struct PartitionOrder {
    /// The highest batch id completed.
    last: Option<BatchId>,
    /// The last delivery whose offset counts, and its base offset.
    delivered: Option<(BatchId, i64)>,
    /// Completions out of order, and the first one described.
    inversions: u32,
    first: Option<String>,
}

/// Per (topic, partition), the completion events must come in batch id order (the order the
/// batches were created), and delivered batches in base offset order. Offsets are compared only
/// where the log keeps send order (idempotence, no blind sequence gap): without idempotence a
/// retried batch may be written after a later one, and acks=0 has no offsets.
fn check_completion_order(sim: &Sim, v: &mut Vec<String>) {
    let keeps_order = |topic: &str, p: u32| {
        let t = sim.cluster.topic(topic).map(|t| &sim.cluster.topics[t]);
        sim.producer.idempotent() && t.and_then(|t| t.partitions.get(p as usize)).is_some_and(|part| !part.blind_gap)
    };
    let what = |b: BatchId| {
        let c = &sim.out.completions[&b];
        match c.result {
            Ok(o) => format!("{b:?} (delivered at {o}, at {}µs)", c.at.as_micros()),
            Err(e) => format!("{b:?} (failed: {e:?}, at {}µs)", c.at.as_micros()),
        }
    };
    let mut parts: BTreeMap<(&str, u32), PartitionOrder> = BTreeMap::new();
    for &batch in &sim.out.order {
        let c = &sim.out.completions[&batch];
        let p = parts.entry((c.topic.as_str(), c.partition)).or_default();
        let offset = c.result.ok().filter(|&o| o >= 0 && keeps_order(&c.topic, c.partition));
        let broken = match (p.last, p.delivered) {
            (Some(prev), _) if batch <= prev => Some(format!("{} completed after {}", what(batch), what(prev))),
            (_, Some((prev, at))) if offset.is_some_and(|o| o <= at) => {
                Some(format!("{} delivered after {} at offset {at}", what(batch), what(prev)))
            }
            _ => None,
        };
        if let Some(b) = broken {
            p.inversions += 1;
            p.first.get_or_insert(b);
        }
        p.last = p.last.max(Some(batch));
        if let Some(o) = offset {
            p.delivered = Some((batch, o));
        }
    }
    let seed = sim.sc.seed;
    for ((topic, partition), p) in parts {
        if let Some(first) = p.first {
            let n = p.inversions;
            v.push(format!("completions out of order in {topic}-{partition} (seed {seed}, {n} times): {first}"));
        }
    }
}

/// Every wake-up on a deadline alone must get something done (see `wake.rs`). One violation
/// per kind of deadline, with how often it happened and the first time.
fn check_idle_wakeups(sim: &Sim, v: &mut Vec<String>) {
    let seed = sim.sc.seed;
    let mut by_cause: BTreeMap<String, (usize, &IdleWakeup)> = BTreeMap::new();
    for w in &sim.out.idle {
        by_cause.entry(super::kind(&w.cause)).or_insert((0, w)).0 += 1;
    }
    let (idle, timer) = (sim.out.idle.len(), sim.out.timer_wakeups);
    for (n, w) in by_cause.values() {
        v.push(format!(
            "idle wake-up on {} (seed {seed}; {n} such, {idle} idle of {timer} timer wake-ups): first {w}",
            w.cause
        ));
    }
}

fn check_end_state(sim: &Sim, v: &mut Vec<String>) {
    // A transactional run's fatal error is judged by `txn::check_txn`.
    if let Some(f) = sim.out.fatal.filter(|_| sim.sc.txn.is_none()) {
        v.push(format!("fatal error {f:?}"));
    }
    let pending = sim.producer.pending_batches();
    if pending > 0 {
        v.push(format!("{pending} batches still held at the end"));
    }
    let free = sim.producer.free_buffer();
    let whole = sim.initial_free;
    if pending == 0 && free != whole {
        v.push(format!("buffer not whole again at the end: {free} free of {whole}"));
    }
}

fn check_liveness(sim: &Sim, placed: &Placement, v: &mut Vec<String>) {
    for (i, e) in &sim.out.refused {
        if sim.cluster.topic(&sim.sc.records[*i].topic).is_some() {
            v.push(format!("fault-free run refused #{i}: {e:?}"));
        }
    }
    for (batch, c) in &sim.out.completions {
        if let Err(reason) = c.result {
            v.push(format!("fault-free run failed {batch:?}: {reason:?}"));
        }
    }
    let expect_once = sim.sc.config.acks != Acks::None || sim.out.violations.is_empty();
    // acks=0 has no answer to retry on: a Produce a broker dropped with the link because it
    // arrived after the SASL session ended is lost (Kafka's acks=0 promises nothing more), and
    // only a client that knew the next request's latency could avoid it. Such a run may miss
    // records, never write one twice. With acks 1 or all the engine sends it again.
    let may_miss = sim.sc.config.acks == Acks::None && sim.out.expired_sessions > 0;
    for a in sim.out.accepted.iter().filter(|_| expect_once) {
        let n = placed.get(&a.planned).map_or(0, Vec::len);
        if n != 1 && !(may_miss && n == 0) {
            v.push(format!("fault-free run wrote #{} {n} times", a.planned));
        }
    }
}
