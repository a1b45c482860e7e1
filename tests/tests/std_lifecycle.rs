//! The blocking producer (`kprod-std`) against the real broker: flush, close, drop,
//! callbacks, partitions_for and metrics, and that an idle producer does not spin.

extern crate alloc;

mod std_util;

use alloc::sync::Arc;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration;
use std::sync::Mutex;
use std::time::Instant;

use kprod_std::{BlockedOn, DeliveryError, Error, Producer, Record};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, send_all, verify, wait_all, Sent};

const LONG_LINGER: Duration = Duration::from_secs(20);

#[test]
fn flush_sends_lingering_records_at_once() {
    let broker = Broker::shared();
    let topic = unique_topic("std-flush");
    broker.create_topic(&topic, 3, 1);
    let producer = Producer::new(config(broker).linger(LONG_LINGER)).expect("producer");
    let records: Vec<Sent> = (0..500).map(|i| Sent::numbered("f", i)).collect();
    let handles = send_all(&producer, &topic, &records);
    std::thread::sleep(Duration::from_millis(200));
    assert!(handles.iter().all(|h| h.try_get().is_none()), "linger holds the records back");
    let started = Instant::now();
    producer.flush(Duration::from_secs(30)).expect("flush");
    assert!(started.elapsed() < Duration::from_secs(10), "flush does not wait for linger.ms");
    assert!(handles.iter().all(|h| h.is_done()));
    let reported = wait_all(&handles);
    // Nothing buffered: flush returns at once.
    producer.flush(Duration::ZERO).expect("empty flush");
    drop(producer);
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 3);
}

#[test]
fn close_delivers_what_was_sent_then_refuses_sends() {
    let broker = Broker::shared();
    let topic = unique_topic("std-close");
    broker.create_topic(&topic, 2, 1);
    let producer = Producer::new(config(broker).linger(LONG_LINGER)).expect("producer");
    let records: Vec<Sent> = (0..300).map(|i| Sent::numbered("c", i)).collect();
    let handles = send_all(&producer, &topic, &records);
    let started = Instant::now();
    producer.close(Duration::from_secs(30)).expect("close delivers everything in time");
    assert!(started.elapsed() < Duration::from_secs(10), "close flushes instead of lingering");
    let reported: Vec<_> =
        handles.iter().map(|h| h.try_get().expect("complete after close").expect("delivered")).collect();
    let err = producer.send(&Record::new(&topic).value(b"late".as_slice())).expect_err("closed");
    assert_eq!(err, Error::Closed);
    producer.close(Duration::from_secs(1)).expect("a second close is a no-op");
    producer.flush(Duration::from_secs(1)).expect("flush after close");
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 2);
}

#[test]
fn close_with_zero_timeout_fails_what_is_not_done_each_record_once() {
    let broker = Broker::shared();
    let topic = unique_topic("std-close-now");
    broker.create_topic(&topic, 1, 1);
    let producer = Producer::new(config(broker).linger(LONG_LINGER)).expect("producer");
    producer.partitions_for(&topic).expect("metadata");
    let calls = Arc::new(Mutex::new(Vec::new()));
    for i in 0..100u32 {
        let calls = Arc::clone(&calls);
        let value = i.to_string();
        producer
            .send_with_callback(&Record::new(&topic).value(value.as_bytes()), move |r| {
                calls.lock().expect("lock").push((i, r));
            })
            .expect("send");
    }
    let err = producer.close(Duration::ZERO).expect_err("records were failed for the deadline");
    assert!(matches!(err, Error::Timeout { blocked_on: BlockedOn::Completion, .. }), "{err}");
    let mut calls = calls.lock().expect("lock").clone();
    calls.sort_by_key(|(i, _)| *i);
    assert_eq!(calls.iter().map(|(i, _)| *i).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>(), "each callback once");
    for (i, r) in &calls {
        assert_eq!(r, &Err(Error::Delivery(DeliveryError::Closed)), "record {i}");
    }
}

#[test]
fn drop_closes_gracefully_and_callbacks_run_once() {
    let broker = Broker::shared();
    let topic = unique_topic("std-drop");
    broker.create_topic(&topic, 4, 1);
    let producer = Producer::new(config(broker).linger(LONG_LINGER)).expect("producer");
    let infos = producer.partitions_for(&topic).expect("metadata");
    assert_eq!(infos.iter().map(|p| p.partition).collect::<Vec<_>>(), vec![0, 1, 2, 3]);
    // One broker: it leads every partition, and is the one replica, in sync.
    for p in &infos {
        let leader = p.leader.as_ref().expect("a leader");
        assert_eq!(
            (&p.topic, &p.replicas, &p.in_sync_replicas),
            (&topic, &vec![leader.clone()], &vec![leader.clone()])
        );
        assert!(p.offline_replicas.is_empty() && leader.port.is_some(), "{p:?}");
    }
    let delivered = Arc::new(AtomicUsize::new(0));
    let offsets = Arc::new(Mutex::new(Vec::new()));
    for i in 0..200 {
        let (delivered, offsets) = (Arc::clone(&delivered), Arc::clone(&offsets));
        let value = format!("d{i}");
        producer
            .send_with_callback(&Record::new(&topic).value(value.as_bytes()), move |r| {
                let m = r.expect("delivered");
                offsets.lock().expect("lock").push((m.partition, m.offset));
                delivered.fetch_add(1, Ordering::SeqCst);
            })
            .expect("send");
    }
    let m = producer.metrics();
    assert_eq!((m.records_sent, m.records_delivered), (200, 0));
    let started = Instant::now();
    drop(producer);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(delivered.load(Ordering::SeqCst), 200, "drop delivered every record and ran every callback");
    let mut offsets = offsets.lock().expect("lock").clone();
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), 200, "distinct offsets");
    let read = broker.read_back(&topic, 200, Duration::from_secs(60));
    assert_eq!(read.len(), 200);
}

/// CPU time of this process, from /proc (Linux).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10)) // USER_HZ is 100 on Linux
}

#[test]
fn an_idle_producer_sleeps() {
    let broker = Broker::shared();
    let topic = unique_topic("std-idle");
    broker.create_topic(&topic, 1, 1);
    let producer = Producer::new(config(broker).linger(Duration::from_secs(1))).expect("producer");
    producer
        .send(&Record::new(&topic).value(b"x".as_slice()))
        .expect("send")
        .wait(Duration::from_secs(30))
        .expect("delivered");
    // One record lingering and a connection open: the IO thread has a timer and a socket.
    let h = producer.send(&Record::new(&topic).value(b"y".as_slice())).expect("send");
    let Some(before) = process_cpu() else {
        return; // not Linux
    };
    std::thread::sleep(Duration::from_secs(2));
    let used = process_cpu().expect("cpu") - before;
    assert!(h.is_done(), "the lingering record went out after linger.ms");
    // Other tests of this binary run at the same time, so this bounds all of them; a
    // spinning IO thread alone would use about 2 s.
    eprintln!("idle producer: {used:?} of CPU in 2 s");
    assert!(used < Duration::from_millis(1500), "{used:?} of CPU in 2 s");
}

/// The delivery listener: every tagged record reaches it exactly once with its own tag and
/// metadata, read back field by field; untagged sends and callbacks still work beside it; a
/// tagged send without a listener and a second listener are refused.
#[test]
fn delivery_listener_reports_every_tagged_record_once() {
    let broker = Broker::shared();
    let topic = unique_topic("std-listener");
    broker.create_topic(&topic, 3, 1);
    let producer = Producer::new(config(broker)).expect("producer");
    let probe = Record::new(&topic).value(b"x".as_slice());
    assert!(matches!(producer.send_tagged(&probe, 0), Err(Error::Config(_))), "no listener yet");

    let records: Vec<Sent> = (0..5_000).map(|i| Sent::numbered("t", i)).collect();
    let results = Arc::new(Mutex::new(vec![None; records.len()]));
    let seen = Arc::clone(&results);
    producer
        .set_delivery_listener(move |tag, result| {
            let mut seen = seen.lock().expect("lock");
            let slot = &mut seen[usize::try_from(tag).expect("tag")];
            assert!(slot.is_none(), "tag {tag} reported twice");
            *slot = Some(result);
        })
        .expect("first listener");
    assert!(matches!(producer.set_delivery_listener(|_, _| {}), Err(Error::Config(_))), "only one listener");
    for (i, s) in records.iter().enumerate() {
        let headers: Vec<kprod_std::Header<'_>> =
            s.headers.iter().map(|(k, v)| kprod_std::Header { key: k.as_str(), value: v.as_deref() }).collect();
        let record = Record {
            topic: &topic,
            partition: s.partition,
            key: s.key.as_deref(),
            value: s.value.as_deref(),
            headers: &headers,
            timestamp: s.timestamp,
        };
        producer.send_tagged(&record, i as u64).expect("send_tagged");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let reported: Vec<_> = {
        let results = results.lock().expect("lock");
        results
            .iter()
            .enumerate()
            .map(|(i, r)| r.clone().unwrap_or_else(|| panic!("tag {i} never reported")).expect("delivered"))
            .collect()
    };
    drop(producer);
    let read = broker.read_back(&topic, records.len(), Duration::from_secs(60));
    verify(&read, &records, &reported, 3);
}
