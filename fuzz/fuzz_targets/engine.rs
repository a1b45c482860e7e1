//! Drives the whole producer engine with arbitrary broker bytes, connection outcomes, sends and
//! ticks. Besides "no panic", it checks the engine's promise: every record `send` accepted gets
//! exactly one completion once `close` reaches its deadline.
//!
//! Input: a script of one-byte opcodes with operands. Connections the engine asks for are
//! tracked; opcodes name one of them by index. A script that starts with 0xFF runs a
//! transactional producer (`transactional.id`), where opcodes 8-11 call `init_transactions`,
//! `begin_transaction`, `commit_transaction` and `abort_transaction`; each call that starts
//! gets exactly one result, and aborted records still complete once.
#![no_main]

use std::collections::BTreeSet;
use std::time::Duration;

use kprod_core::config::Config;
use kprod_core::producer::RecordId;
use kprod_core::producer::conn::ConnId;
use kprod_core::producer::{Capacities, Event, Producer, ProducerRecord, Storage};
use kprod_core::time::Instant;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let (transactional, data) = match data.split_first() {
        Some((&0xFF, rest)) => (true, rest),
        _ => (false, data),
    };
    let mut config = Config {
        buffer_memory: 64 * 1024,
        batch_size: 1024,
        max_request_size: 8 * 1024,
        ..Config::default()
    };
    if transactional {
        config.set_property("transactional.id", "fuzz").expect("a valid transactional.id");
    }
    let caps = Capacities { brokers: 4, topics: 2, partitions: 16, connections: 3, batches: 32 };
    let storage = Storage::with_capacity(&config, caps);
    let Ok(valid) = config.validate() else { return };
    let Ok(mut p) = Producer::new(valid, &[("b0", 9092), ("b1", 9093)], storage, Instant::ZERO) else { return };
    let mut now = Instant::ZERO;
    let mut conns: Vec<ConnId> = Vec::new();
    let mut accepted: BTreeSet<RecordId> = BTreeSet::new();
    let mut completed: BTreeSet<RecordId> = BTreeSet::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut input = data;
    // Transactional calls that started, and the results they gave.
    let (mut calls, mut results) = (0u32, 0u32);
    let take = |n: usize, input: &mut &[u8]| -> Vec<u8> {
        let n = n.min(input.len());
        let (a, b) = input.split_at(n);
        *input = b;
        a.to_vec()
    };
    while let Some((&op, rest)) = input.split_first() {
        input = rest;
        let arg = take(2, &mut input);
        let arg = u16::from_le_bytes([arg.first().copied().unwrap_or(0), arg.get(1).copied().unwrap_or(0)]);
        let conn = |conns: &Vec<ConnId>| conns.get(arg as usize % conns.len().max(1)).copied();
        match op % 12 {
            0 => now = now + Duration::from_millis(u64::from(arg)),
            1 => {
                if let Some(c) = conn(&conns) {
                    p.handle_connected(c, now);
                }
            }
            2 => {
                if let Some(c) = conn(&conns) {
                    p.handle_disconnected(c, now);
                }
            }
            3 | 4 => {
                let bytes = take(usize::from(arg % 2048), &mut input);
                if let Some(c) = conn(&conns) {
                    let used = p.handle_read(c, &bytes, now);
                    assert!(used <= bytes.len());
                }
            }
            5 => {
                let key = (arg % 3 != 0).then(|| arg.to_le_bytes());
                let value = vec![b'v'; usize::from(arg % 3000)];
                let topic = if arg % 2 == 0 { "t0" } else { "t1" };
                let rec = ProducerRecord {
                    topic,
                    partition: (arg % 5 == 0).then_some(u32::from(arg % 4)),
                    key: key.as_ref().map(|k| &k[..]),
                    value: Some(&value),
                    headers: &[],
                    timestamp: 1,
                };
                if let Ok(id) = p.send(&rec, now) {
                    assert!(accepted.insert(id), "a RecordId was handed out twice");
                }
            }
            6 => p.flush(now),
            7 => p.handle_timeout(now),
            8 => calls += u32::from(p.init_transactions(now).is_ok()),
            9 => {
                let _ = p.begin_transaction();
            }
            10 => calls += u32::from(p.commit_transaction(now).is_ok()),
            _ => calls += u32::from(p.abort_transaction(now).is_ok()),
        }
        drain(&mut p, now, &mut buf, &mut conns, &mut completed);
        while p.poll_txn().is_some() {
            results += 1;
        }
        assert!(results <= calls, "more transactional results than calls");
    }
    // Close with an immediate deadline: whatever is incomplete fails, each record exactly once.
    p.close(now, now);
    p.handle_timeout(now);
    drain(&mut p, now, &mut buf, &mut conns, &mut completed);
    assert_eq!(accepted, completed, "every accepted record gets exactly one completion");
});

fn drain(p: &mut Producer<'_>, now: Instant, buf: &mut Vec<u8>, conns: &mut Vec<ConnId>, done: &mut BTreeSet<RecordId>) {
    for _ in 0..64 {
        match p.poll_transmit(now, buf) {
            Ok(Some(t)) => assert!(t.len <= buf.len()),
            Ok(None) => break,
            Err(kprod_core::producer::TransmitError::BufferTooSmall { needed }) => {
                assert!(needed > buf.len());
                buf.resize(needed, 0);
            }
        }
    }
    while let Some(e) = p.poll_event() {
        match e {
            Event::Connect(c) => {
                if !conns.contains(&c) {
                    conns.push(c);
                }
            }
            Event::Completed(c) => {
                for index in 0..c.records() {
                    assert!(done.insert(RecordId { batch: c.batch(), index }), "two completions for one record");
                }
            }
            _ => {}
        }
    }
    let _ = p.poll_timeout();
}
