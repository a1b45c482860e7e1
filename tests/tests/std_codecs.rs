//! The blocking producer (`kprod-std`) against the real broker: every codec × acks 0/1/all,
//! each record read back by the independent verifier and compared field by field.

extern crate alloc;

mod std_util;

use core::time::Duration;

use kprod_std::{Acks, Compression, Producer};
use kprod_tests::{unique_topic, Broker};
use std_util::{compressed_ahead_if_filled, config, jobs_config, send_all, verify, wait_all, Sent};

const PER_ACKS: usize = 400;
const PARTITIONS: u32 = 3;

/// One topic per codec; three producers (acks 0, 1, all) write `PER_ACKS` records each.
fn codec_matrix(compression: Compression) {
    let broker = Broker::shared();
    let topic = unique_topic(&format!("std-codec-{}", compression.name()));
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (mut sent, mut reported) = (Vec::new(), Vec::new());
    for acks in [Acks::None, Acks::Leader, Acks::All] {
        let producer = Producer::new(config(broker).compression(compression).acks(acks)).expect("producer");
        let records: Vec<Sent> = (0..PER_ACKS).map(|i| Sent::numbered(&format!("{acks:?}"), i)).collect();
        let handles = send_all(&producer, &topic, &records);
        producer.flush(Duration::from_secs(60)).expect("flush");
        assert!(handles.iter().all(|h| h.is_done()), "flush returns after every earlier record completed");
        let metas = wait_all(&handles);
        for m in &metas {
            if acks == Acks::None {
                assert_eq!(m.offset, -1, "acks=0 reports no offset");
            } else {
                assert!(m.offset >= 0, "{m:?}");
            }
        }
        assert_eq!(producer.producer_id().is_some(), acks == Acks::All, "idempotent by default only with acks=all");
        let m = producer.metrics();
        assert_eq!(m.records_sent, PER_ACKS as u64);
        assert_eq!(m.records_delivered, PER_ACKS as u64);
        producer.close(Duration::from_secs(30)).expect("close");
        sent.extend(records);
        reported.extend(metas);
    }
    let read = broker.read_back(&topic, sent.len(), Duration::from_secs(60));
    verify(&read, &sent, &reported, PARTITIONS);
}

#[test]
fn none() {
    codec_matrix(Compression::None);
}

#[test]
fn gzip() {
    codec_matrix(Compression::Gzip);
}

/// `compression.gzip.level` (KIP-390) 1 and 9 (the default, 6, is `gzip` above): the broker
/// inflates every batch to validate it, and the verifier (kafka-python, zlib) reads them back.
#[test]
fn gzip_levels() {
    let broker = Broker::shared();
    let topic = unique_topic("std-codec-gzip-levels");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (mut sent, mut reported) = (Vec::new(), Vec::new());
    for level in ["1", "9"] {
        let config = config(broker).compression(Compression::Gzip).set("compression.gzip.level", level).expect("level");
        let producer = Producer::new(config).expect("producer");
        let records: Vec<Sent> = (0..PER_ACKS).map(|i| Sent::numbered(&format!("gzip-{level}"), i)).collect();
        let handles = send_all(&producer, &topic, &records);
        producer.flush(Duration::from_secs(60)).expect("flush");
        reported.extend(wait_all(&handles));
        producer.close(Duration::from_secs(30)).expect("close");
        sent.extend(records);
    }
    let read = broker.read_back(&topic, sent.len(), Duration::from_secs(60));
    verify(&read, &sent, &reported, PARTITIONS);
}

#[test]
fn snappy() {
    codec_matrix(Compression::Snappy);
}

#[test]
fn lz4() {
    codec_matrix(Compression::Lz4);
}

#[test]
fn zstd() {
    codec_matrix(Compression::Zstd);
}

/// Compression jobs (kprod-std compresses closed batches outside its lock: on the IO thread
/// between rounds, and in a `send` that waits for buffer space): 4,000 records from one thread
/// into a 64 KiB buffer of 4 KiB batches (Java's batches, so they do not grow while they wait),
/// one request in flight. A request holds at most one batch per partition (12 KiB), so once the
/// buffer is full most of it is closed batches that cannot go yet, and the send waiting for
/// space takes one as a job. For each codec whose buffer filled (at least one does: the IO
/// thread may keep up now and then), batches were compressed ahead of their seal (none without
/// the jobs). Every codec; each record is read back and compared field by field.
#[test]
fn batches_compressed_outside_the_lock_read_back() {
    const N: usize = 4000;
    let broker = Broker::shared();
    let topic = unique_topic("std-codec-jobs");
    broker.create_topic(&topic, PARTITIONS as i32, 1);
    let (mut sent, mut reported, mut filled_any) = (Vec::new(), Vec::new(), false);
    for compression in [Compression::Gzip, Compression::Snappy, Compression::Lz4, Compression::Zstd] {
        let config = jobs_config(broker, compression);
        let producer = Producer::new(config).expect("producer");
        let records: Vec<Sent> = (0..N).map(|i| Sent::numbered(compression.name(), i)).collect();
        let handles = send_all(&producer, &topic, &records);
        producer.flush(Duration::from_secs(60)).expect("flush");
        reported.extend(wait_all(&handles));
        let m = producer.metrics();
        assert_eq!(m.records_delivered, N as u64);
        filled_any |= compressed_ahead_if_filled(&format!("{compression:?}"), &m);
        producer.close(Duration::from_secs(30)).expect("close");
        sent.extend(records);
    }
    assert!(filled_any, "the buffer never filled");
    let read = broker.read_back(&topic, sent.len(), Duration::from_secs(60));
    verify(&read, &sent, &reported, PARTITIONS);
}
