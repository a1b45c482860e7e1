//! The application's hooks in kprod-std against the real broker: a custom partitioner (blocking
//! and tokio) whose placement the independent verifier reads back, and interceptors that see
//! and change every record and hear every result exactly once, even when they panic and when
//! records fail before or after they were buffered.

extern crate alloc;

mod std_util;

use alloc::sync::Arc;
use core::time::Duration;
use std::sync::Mutex;

use kprod_std::{
    Error, InterceptedRecord, PartitionerInput, Producer, ProducerInterceptor, Record, RecordMetadata, SendError,
};
use kprod_tests::{unique_topic, Broker};
use std_util::{config, DELIVERY_WAIT};

const PARTITIONS: u32 = 4;

/// The test's own rule: record `i` goes to `(i * 7 + 3) % partitions`.
fn expected_partition(i: usize) -> u32 {
    ((i * 7 + 3) % PARTITIONS as usize) as u32
}

/// The record number in a value `r-<i>` (or `R-<i>` once an interceptor upper-cased it).
fn index_of(value: &[u8]) -> Option<usize> {
    core::str::from_utf8(value).ok()?.get(2..)?.parse().ok()
}

/// What the partitioner saw: (available, partitions) per call.
type Seen = Arc<Mutex<Vec<(Vec<u32>, u32)>>>;

fn partitioner(seen: Seen) -> impl Fn(&PartitionerInput<'_>) -> Option<u32> + Send + Sync + 'static {
    move |input| {
        seen.lock().unwrap().push((input.available.to_vec(), input.partitions));
        let i = index_of(input.value?)?;
        // Every tenth record: the built-in rule.
        (i % 10 != 9).then(|| ((i * 7 + 3) % input.partitions as usize) as u32)
    }
}

fn check_placement(broker: &Broker, topic: &str, count: usize, seen: &Seen) {
    let read = broker.read_back(topic, count, Duration::from_secs(60));
    assert_eq!(read.len(), count);
    let mut found = vec![0u32; count];
    for r in &read {
        let i = index_of(r.value.as_deref().expect("value")).expect("numbered value");
        found[i] += 1;
        if i % 10 != 9 {
            assert_eq!(r.partition as u32, expected_partition(i), "record {i} where the partitioner put it");
        }
    }
    assert!(found.iter().all(|&n| n == 1), "every record exactly once");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), count, "the partitioner ran once per record without a partition");
    let all: Vec<u32> = (0..PARTITIONS).collect();
    assert!(seen.iter().all(|(available, n)| *n == PARTITIONS && *available == all), "{:?}", &seen[..1]);
}

#[test]
fn custom_partitioner_places_records() {
    let broker = Broker::shared();
    let topic = unique_topic("std-partitioner");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let seen = Seen::default();
    let producer = Producer::new(config(broker).partitioner(partitioner(Arc::clone(&seen)))).expect("producer");
    const N: usize = 400;
    let values: Vec<String> = (0..N).map(|i| format!("r-{i}")).collect();
    let handles: Vec<_> = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let key = format!("k{i}");
            producer.send(&Record::new(&topic).key(key.as_bytes()).value(v.as_bytes())).expect("send")
        })
        .collect();
    let metas: Vec<RecordMetadata> = handles.iter().map(|h| h.wait(DELIVERY_WAIT).expect("delivered")).collect();
    for (i, m) in metas.iter().enumerate().filter(|(i, _)| i % 10 != 9) {
        assert_eq!(m.partition, expected_partition(i), "record {i}: reported partition");
    }
    // An explicit partition wins: the partitioner is not asked.
    producer.send(&Record::new(&topic).partition(1).value(b"explicit")).expect("send").wait(DELIVERY_WAIT).unwrap();
    producer.close(Duration::from_secs(30)).expect("close");
    // The explicit record is read back too, but is not numbered: read N + 1, check the N.
    let read = broker.read_back(&topic, N + 1, Duration::from_secs(60));
    assert!(read.iter().any(|r| r.value.as_deref() == Some(&b"explicit"[..]) && r.partition == 1));
    let numbered: Vec<_> = read.into_iter().filter(|r| r.value.as_deref() != Some(&b"explicit"[..])).collect();
    assert_eq!(numbered.len(), N);
    for r in &numbered {
        let i = index_of(r.value.as_deref().expect("value")).expect("numbered");
        if i % 10 != 9 {
            assert_eq!(r.partition as u32, expected_partition(i), "record {i} where the partitioner put it");
        }
    }
    assert_eq!(seen.lock().unwrap().len(), N, "not asked for the record with a partition");
    let topic2 = unique_topic("std-partitioner-again");
    broker.create_topic(&topic2, PARTITIONS as i32, 1);
    let seen2 = Seen::default();
    let producer = Producer::new(config(broker).partitioner(partitioner(Arc::clone(&seen2)))).expect("producer");
    for v in &values {
        producer
            .send_with_callback(&Record::new(&topic2).value(v.as_bytes()), |r| drop(r.expect("delivered")))
            .unwrap();
    }
    producer.close(Duration::from_secs(30)).expect("close");
    check_placement(broker, &topic2, N, &seen2);
}

#[test]
fn a_bad_partitioner_fails_the_record_with_a_typed_error() {
    let broker = Broker::shared();
    let topic = unique_topic("std-partitioner-bad");
    broker.create_topic(&topic, 2, 1);
    let acks = Arc::new(Counting::default());
    let producer = Producer::new(
        config(broker)
            .partitioner(|input| match input.value {
                Some(b"panic") => panic!("partitioner panics on purpose"),
                Some(b"out") => Some(input.partitions + 3),
                _ => None,
            })
            .interceptor(Arc::clone(&acks) as Arc<dyn ProducerInterceptor>),
    )
    .expect("producer");
    let e = producer.send(&Record::new(&topic).value(b"out")).expect_err("partition out of range");
    assert!(matches!(e, Error::Send(SendError::InvalidPartition { partition: 5, count: 2 })), "{e:?}");
    let e = producer.send(&Record::new(&topic).value(b"panic")).expect_err("partitioner panicked");
    assert!(matches!(e, Error::Hook(ref m) if m.contains(&topic)), "{e:?}");
    // The producer goes on.
    producer.send(&Record::new(&topic).value(b"fine")).expect("send").wait(DELIVERY_WAIT).expect("delivered");
    producer.close(Duration::from_secs(30)).expect("close");
    assert_eq!(acks.sends(), 3);
    let (ok, failed) = acks.results();
    assert_eq!(ok.len(), 1, "the good record delivered once");
    assert_eq!(failed.len(), 2, "the two refused records heard of once each: {failed:?}");
}

/// Counts what an interceptor sees: `on_send` calls, delivered places, errors.
#[derive(Default)]
struct Counting {
    sends: Mutex<u64>,
    delivered: Mutex<Vec<(u32, i64)>>,
    failed: Mutex<Vec<String>>,
}

impl Counting {
    fn sends(&self) -> u64 {
        *self.sends.lock().unwrap()
    }

    fn results(&self) -> (Vec<(u32, i64)>, Vec<String>) {
        (self.delivered.lock().unwrap().clone(), self.failed.lock().unwrap().clone())
    }
}

impl ProducerInterceptor for Counting {
    fn on_send(&self, _record: &mut InterceptedRecord) {
        *self.sends.lock().unwrap() += 1;
    }

    fn on_acknowledgement(&self, _topic: &str, result: Result<&RecordMetadata, &Error>) {
        match result {
            Ok(m) => self.delivered.lock().unwrap().push((m.partition, m.offset)),
            Err(e) => self.failed.lock().unwrap().push(e.to_string()),
        }
    }
}

/// Changes every record (a header, an upper-cased value) and panics now and then.
struct Rewriting;

impl ProducerInterceptor for Rewriting {
    fn on_send(&self, record: &mut InterceptedRecord) {
        let i = record.value.as_deref().and_then(index_of).unwrap_or(0);
        record.headers.push(("intercepted".into(), Some(b"yes".to_vec())));
        if let Some(v) = record.value.as_mut() {
            v.make_ascii_uppercase();
        }
        assert!(i % 5 != 4, "on_send panics on purpose for record {i}");
    }

    fn on_acknowledgement(&self, _topic: &str, result: Result<&RecordMetadata, &Error>) {
        if let Ok(m) = result {
            assert!(m.offset % 7 != 3, "on_acknowledgement panics on purpose");
        }
    }
}

#[test]
fn interceptors_see_every_record_and_hear_every_result_once() {
    let broker = Broker::shared();
    let topic = unique_topic("std-interceptors");
    broker.create_topic(&topic, 2, 1);
    let counting = Arc::new(Counting::default());
    let producer = Producer::new(
        config(broker)
            .interceptor(Arc::new(Rewriting))
            .interceptor(Arc::clone(&counting) as Arc<dyn ProducerInterceptor>),
    )
    .expect("producer");
    let delivered = Arc::new(Mutex::new(0u32));
    let d = Arc::clone(&delivered);
    producer.set_delivery_listener(move |_, r| *d.lock().unwrap() += u32::from(r.is_ok())).expect("listener");
    const N: usize = 300;
    let mut handles = Vec::new();
    for i in 0..N {
        let value = format!("r-{i}");
        let record = Record::new(&topic).value(value.as_bytes());
        match i % 3 {
            0 => handles.push(producer.send(&record).expect("send")),
            1 => {
                let d = Arc::clone(&delivered);
                producer.send_with_callback(&record, move |r| *d.lock().unwrap() += u32::from(r.is_ok())).unwrap();
            }
            _ => producer.send_tagged(&record, i as u64).expect("send_tagged"),
        }
    }
    // Refused in send (partition 9 of 2): the interceptors saw it and hear of it once.
    let e = producer.send(&Record::new(&topic).partition(9).value(b"r-9999")).expect_err("no partition 9");
    assert!(matches!(e, Error::Send(SendError::InvalidPartition { .. })), "{e:?}");
    for h in &handles {
        h.wait(DELIVERY_WAIT).expect("delivered");
    }
    producer.flush(DELIVERY_WAIT).expect("flush");
    producer.close(Duration::from_secs(30)).expect("close");
    assert_eq!(*delivered.lock().unwrap() + handles.len() as u32, N as u32, "every callback and listener call");
    assert_eq!(counting.sends(), N as u64 + 1);
    let (ok, failed) = counting.results();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(ok.len(), N, "one acknowledgement per delivered record");
    let read = broker.read_back(&topic, N, Duration::from_secs(60));
    let mut places: Vec<(u32, i64)> = read.iter().map(|r| (r.partition as u32, r.offset)).collect();
    let mut acked = ok;
    places.sort_unstable();
    acked.sort_unstable();
    assert_eq!(acked, places, "acknowledged exactly where the records are");
    for r in &read {
        let i = index_of(r.value.as_deref().expect("value")).expect("numbered");
        if i % 5 == 4 {
            // Its on_send panicked: the record went on as it was before that interceptor.
            assert_eq!(r.value.as_deref(), Some(format!("r-{i}").as_bytes()));
            assert!(r.headers.is_empty());
        } else {
            assert_eq!(r.value.as_deref(), Some(format!("R-{i}").as_bytes()));
            assert_eq!(r.headers, [("intercepted".to_owned(), Some(b"yes".to_vec()))]);
        }
    }
}

#[test]
fn interceptors_hear_records_failed_after_they_were_buffered() {
    let broker = Broker::shared();
    let topic = unique_topic("std-interceptors-fail");
    broker.create_topic(&topic, 1, 1);
    let counting = Arc::new(Counting::default());
    let producer = Producer::new(
        config(broker)
            .linger(Duration::from_secs(60))
            .interceptor(Arc::clone(&counting) as Arc<dyn ProducerInterceptor>),
    )
    .expect("producer");
    // Metadata first, so the records below are buffered at once and wait for their linger.
    producer.partitions_for(&topic).expect("metadata");
    for i in 0..20 {
        producer.send(&Record::new(&topic).value(format!("r-{i}").as_bytes())).expect("send");
    }
    // Closing at once fails the buffered records.
    assert!(producer.close(Duration::ZERO).is_err());
    let (ok, failed) = counting.results();
    assert_eq!((counting.sends(), ok.len() + failed.len()), (20, 20), "{ok:?} {failed:?}");
}

#[test]
fn tokio_producer_runs_the_partitioner_and_interceptors() {
    let broker = Broker::shared();
    let topic = unique_topic("tokio-hooks");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let seen = Seen::default();
    let counting = Arc::new(Counting::default());
    let cfg = config(broker)
        .partitioner(partitioner(Arc::clone(&seen)))
        .interceptor(Arc::clone(&counting) as Arc<dyn ProducerInterceptor>);
    const N: usize = 200;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let producer = kprod_std::AsyncProducer::new(cfg).expect("producer");
        let mut futures = Vec::new();
        for i in 0..N {
            let value = format!("r-{i}");
            futures.push(producer.enqueue(&Record::new(&topic).value(value.as_bytes())).await.expect("enqueue"));
        }
        for (i, f) in futures.into_iter().enumerate() {
            let m = f.await.expect("delivered");
            if i % 10 != 9 {
                assert_eq!(m.partition, expected_partition(i));
            }
        }
        producer.close(Duration::from_secs(30)).await.expect("close");
    });
    check_placement(broker, &topic, N, &seen);
    let (ok, failed) = counting.results();
    assert_eq!((counting.sends(), ok.len(), failed.len()), (N as u64, N, 0));
}
