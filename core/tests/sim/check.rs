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

use alloc::collections::BTreeMap;

use kprod_core::config::Acks;
use kprod_core::partitioner::key_partition;
use kprod_core::producer::accumulator::BatchId;
use kprod_core::producer::DeliveryError;

use super::driver::{Completion, Sim};
use super::scenario::index_of;

/// Where each planned record sits in the logs: (topic, partition, offset).
type Placement = BTreeMap<usize, Vec<(String, u32, i64)>>;

/// Every violation of the run: those seen while running, then the end-state properties.
pub fn check(sim: &Sim) -> Vec<String> {
    let mut v = sim.out.violations.clone();
    let placed = placements(sim, &mut v);
    if sim.producer.idempotent() {
        check_idempotence(sim, &placed, &mut v);
    }
    if sim.out.aborted {
        return v;
    }
    check_completions(sim, &placed, &mut v);
    check_end_state(sim, &mut v);
    if sim.sc.expect.all_delivered {
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
    for c in sim.out.completions.values() {
        *if c.result.is_ok() { &mut delivered } else { &mut failed } += u64::from(c.records);
    }
    let counted = (m.records_sent, m.records_delivered, m.records_failed);
    if counted != (sim.out.accepted.len() as u64, delivered, failed) {
        v.push(format!(
            "metrics (sent, delivered, failed) = {counted:?}, events say ({}, {delivered}, {failed})",
            sim.out.accepted.len()
        ));
    }
}

fn check_record(sim: &Sim, placed: &Placement, batch: BatchId, c: &Completion, index: u32, planned: usize, v: &mut Vec<String>) {
    let r = &sim.sc.records[planned];
    if c.topic != r.topic {
        v.push(format!("#{planned} for {} completed as {}", r.topic, c.topic));
    }
    // A keyed record hashes over the partition count the engine knew when it was sent.
    let count = sim.out.accepted.iter().find(|a| a.planned == planned).and_then(|a| a.partitions).unwrap_or(0);
    let expected = r.partition.or_else(|| r.key.as_deref().map(|k| key_partition(k, count)));
    if expected.is_some_and(|p| p != c.partition) {
        v.push(format!("#{planned} belongs in partition {expected:?}, completed in {}", c.partition));
    }
    let Ok(base) = c.result else { return };
    if sim.sc.config.acks == Acks::None {
        if base != -1 {
            v.push(format!("{batch:?}: acks=0 delivery reports offset {base}"));
        }
        return;
    }
    let want = (c.topic.clone(), c.partition, base + i64::from(index));
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
        DeliveryError::DeliveryTimeout => {}
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

fn check_end_state(sim: &Sim, v: &mut Vec<String>) {
    if let Some(f) = sim.out.fatal {
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
    for a in sim.out.accepted.iter().filter(|_| expect_once) {
        let n = placed.get(&a.planned).map_or(0, Vec::len);
        if n != 1 {
            v.push(format!("fault-free run wrote #{} {n} times", a.planned));
        }
    }
}
