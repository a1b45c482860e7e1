//! Transactions with the blocking producer against the real broker, in both protocol flows
//! (`transaction.version` 2, KIP-890, and 1, switched with Kafka's FeatureCommand): committed
//! records are visible to a `read_committed` consumer (kafka-python, compared field by field)
//! and aborted ones are not; a second producer with the same `transactional.id` fences the
//! first, which gets a fatal typed error; offsets sent with a transaction are committed only
//! when it commits.
//!
//! One test runs the flows in turn, since the feature is cluster-wide.

extern crate alloc;

mod std_util;

use core::time::Duration;

use kprod_std::{Error, GroupMetadata, Producer, ProducerConfig, TopicPartitionOffset};
use kprod_tests::{describe_output, parse_records, unique_topic, Broker, ConsumedRecord};
use std_util::{config, send_all, verify, wait_all, Sent, TransactionVersion};

fn txn_config(broker: &Broker, id: &str) -> ProducerConfig {
    config(broker)
        .set("transactional.id", id)
        .expect("transactional.id")
        .set("transaction.timeout.ms", "30000")
        .expect("timeout")
}

fn read(broker: &Broker, topic: &str, count: usize, isolation: &str) -> Vec<ConsumedRecord> {
    let count_s = count.to_string();
    let out = broker.verifier(&[
        "consume",
        "--topic",
        topic,
        "--count",
        &count_s,
        "--timeout",
        "60",
        "--extra-wait",
        "3",
        "--isolation",
        isolation,
    ]);
    let records = parse_records(&out.stdout);
    assert!(
        out.status.success(),
        "read {} of {count} ({isolation}) from {topic}\n{}",
        records.len(),
        describe_output(&out)
    );
    records
}

fn committed_offsets(broker: &Broker, group: &str, topic: &str) -> String {
    let out = broker.verifier(&["committed", "--group", group, "--topic", topic]);
    assert!(out.status.success(), "{}", describe_output(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Commit, abort (after the aborted records reached the log), commit: a read_committed
/// consumer sees exactly the committed records, a read_uncommitted one every record.
fn commit_and_abort(broker: &Broker, v2: bool) {
    let topic = unique_topic("txn-commit");
    broker.create_topic(&topic, 3, 1);
    let producer = Producer::new(txn_config(broker, &unique_topic("txn-id"))).expect("producer");
    producer.init_transactions().expect("init_transactions");

    let first: Vec<Sent> = (0..30).map(|i| Sent::numbered("commit-1", i)).collect();
    producer.begin_transaction().expect("begin");
    assert_eq!(producer.transaction_v2(), v2, "the flow the broker's transaction.version offers");
    let first_meta = wait_all(&send_all(&producer, &topic, &first));
    producer.commit_transaction().expect("commit 1");

    let aborted: Vec<Sent> = (0..20).map(|i| Sent::numbered("aborted", i)).collect();
    producer.begin_transaction().expect("begin 2");
    let handles = send_all(&producer, &topic, &aborted);
    producer.flush(Duration::from_secs(30)).expect("flush: the aborted records reach the log");
    wait_all(&handles);
    producer.abort_transaction().expect("abort");

    let second: Vec<Sent> = (0..25).map(|i| Sent::numbered("commit-2", i)).collect();
    producer.begin_transaction().expect("begin 3");
    let second_meta = wait_all(&send_all(&producer, &topic, &second));
    producer.commit_transaction().expect("commit 2");
    producer.close(Duration::from_secs(30)).expect("close");

    let sent: Vec<Sent> = first.iter().chain(&second).cloned().collect();
    let meta: Vec<_> = first_meta.iter().chain(&second_meta).cloned().collect();
    let committed = read(broker, &topic, sent.len(), "read_committed");
    verify(&committed, &sent, &meta, 3);
    let everything = read(broker, &topic, sent.len() + aborted.len(), "read_uncommitted");
    assert_eq!(everything.len(), sent.len() + aborted.len(), "the aborted records are in the log");
    let aborted_values: Vec<_> = aborted.iter().map(|s| s.value.clone()).collect();
    assert!(committed.iter().all(|r| !aborted_values.contains(&r.value)), "no aborted record is visible");
    assert!(everything.iter().filter(|r| aborted_values.contains(&r.value)).count() == aborted.len());
}

/// A second producer with the same transactional.id fences the first: its open transaction is
/// aborted, and its next call fails with a fatal error.
fn zombie_fencing(broker: &Broker) {
    let topic = unique_topic("txn-fence");
    broker.create_topic(&topic, 1, 1);
    let id = unique_topic("txn-zombie");
    let zombie = Producer::new(txn_config(broker, &id)).expect("producer");
    zombie.init_transactions().expect("init zombie");
    zombie.begin_transaction().expect("begin zombie");
    let stale: Vec<Sent> = (0..5).map(|i| Sent::numbered("zombie", i)).collect();
    wait_all(&send_all(&zombie, &topic, &stale));

    let fresh = Producer::new(txn_config(broker, &id)).expect("producer");
    fresh.init_transactions().expect("init fresh (fences the zombie)");
    let err = zombie.commit_transaction().expect_err("the zombie is fenced");
    assert!(err.is_fatal(), "fatal, typed: {err:?}");
    assert!(zombie.begin_transaction().is_err());

    let good: Vec<Sent> = (0..7).map(|i| Sent::numbered("fresh", i)).collect();
    fresh.begin_transaction().expect("begin fresh");
    let meta = wait_all(&send_all(&fresh, &topic, &good));
    fresh.commit_transaction().expect("commit fresh");
    fresh.close(Duration::from_secs(30)).expect("close");
    drop(zombie);
    let committed = read(broker, &topic, good.len(), "read_committed");
    verify(&committed, &good, &meta, 1);
}

/// Offsets sent with a transaction are the group's only once it commits; an aborted
/// transaction's offsets never are.
fn offsets_with_transaction(broker: &Broker) {
    let topic = unique_topic("txn-offsets");
    broker.create_topic(&topic, 2, 1);
    let group = unique_topic("txn-group");
    let producer = Producer::new(txn_config(broker, &unique_topic("txn-offsets-id"))).expect("producer");
    producer.init_transactions().expect("init");
    let offsets = |o: i64| {
        [0, 1].map(|p| TopicPartitionOffset {
            topic: &topic,
            partition: p,
            offset: o + i64::from(p),
            leader_epoch: -1,
            metadata: None,
        })
    };

    producer.begin_transaction().expect("begin");
    wait_all(&send_all(&producer, &topic, &[Sent::numbered("o", 1)]));
    producer.send_offsets_to_transaction(&offsets(10), &GroupMetadata::new(&group)).expect("send offsets");
    assert_eq!(committed_offsets(broker, &group, &topic), "{}", "nothing before the commit");
    producer.abort_transaction().expect("abort");
    assert_eq!(committed_offsets(broker, &group, &topic), "{}", "nothing after an abort");

    producer.begin_transaction().expect("begin");
    producer.send_offsets_to_transaction(&offsets(42), &GroupMetadata::new(&group)).expect("send offsets");
    producer.commit_transaction().expect("commit");
    assert_eq!(committed_offsets(broker, &group, &topic), r#"{"0": 42, "1": 43}"#);
    producer.close(Duration::from_secs(30)).expect("close");
}

#[test]
fn transactions_in_both_flows() {
    let broker = Broker::shared();
    for level in [2u8, 1] {
        let _flow = TransactionVersion::set(broker, level);
        eprintln!("transaction.version={level}");
        commit_and_abort(broker, level >= 2);
        zombie_fencing(broker);
        offsets_with_transaction(broker);
    }
}

#[test]
fn calls_out_of_order_are_typed_errors() {
    let broker = Broker::shared();
    let topic = unique_topic("txn-order");
    let producer = Producer::new(txn_config(broker, &unique_topic("txn-order-id"))).expect("producer");
    let err = producer.begin_transaction().expect_err("begin before init");
    assert!(matches!(err, Error::Transaction(_)) && !err.is_fatal(), "{err:?}");
    producer.init_transactions().expect("init");
    let record = kprod_std::Record {
        topic: &topic,
        partition: None,
        key: None,
        value: Some(&b"x"[..]),
        headers: &[],
        timestamp: None,
    };
    let err = producer.send(&record).expect_err("send outside a transaction");
    assert!(matches!(err, Error::Transaction(_)), "{err:?}");
    let err = producer.commit_transaction().expect_err("commit without begin");
    assert!(matches!(err, Error::Transaction(_)), "{err:?}");
    let conflict = config(broker).set("transactional.id", "x").expect("id").set("acks", "1").expect("acks");
    let err = Producer::new(conflict).expect_err("transactions need acks=all");
    assert!(err.to_string().contains("transactional.id") && err.to_string().contains("acks"), "{err}");
}

/// The tokio producer's transactional calls: a committed and an aborted transaction, read back
/// with read_committed.
#[test]
fn tokio_commit_and_abort() {
    let broker = Broker::shared();
    let topic = unique_topic("txn-tokio");
    broker.create_topic(&topic, 2, 1);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let committed: Vec<String> = (0..10).map(|i| format!("tokio-commit-{i}")).collect();
    rt.block_on(async {
        let producer =
            kprod_std::AsyncProducer::strings(txn_config(broker, &unique_topic("txn-tokio-id"))).expect("producer");
        producer.init_transactions().await.expect("init");
        producer.begin_transaction().expect("begin");
        for v in &committed {
            producer.send(&kprod_std::Record::new(&topic).value(v.as_str())).await.expect("send");
        }
        producer.commit_transaction().await.expect("commit");
        producer.begin_transaction().expect("begin");
        let mut pending = Vec::new();
        for i in 0..5 {
            let v = format!("tokio-aborted-{i}");
            pending.push(producer.enqueue(&kprod_std::Record::new(&topic).value(v.as_str())).await.expect("enqueue"));
        }
        producer.abort_transaction().await.expect("abort");
        for p in pending {
            // Each record completes once: delivered (then aborted by the marker) or aborted unsent.
            let _ = p.await;
        }
        producer.close(Duration::from_secs(30)).await.expect("close");
    });
    let read = read(broker, &topic, committed.len(), "read_committed");
    let mut values: Vec<String> =
        read.iter().map(|r| String::from_utf8(r.value.clone().expect("value")).expect("utf8")).collect();
    values.sort();
    let mut want = committed.clone();
    want.sort();
    assert_eq!(values, want);
}
