//! Transactions on the 3-node cluster: the transaction coordinator's broker is killed
//! (SIGKILL) mid-transaction. The transaction then commits whole or aborts whole: a
//! `read_committed` consumer (kafka-python) sees all of its records or none, never part; and the
//! producer goes on with the next transaction. Skipped only when `KPROD_CLUSTER=skip`.

extern crate alloc;

mod std_util;

use core::time::Duration;
use std::process::Command;

use kprod_std::{Producer, ProducerConfig};
use kprod_tests::{describe_output, parse_records, repo_root, unique_topic, Broker, Cluster, ConsumedRecord};
use std_util::{send_all, verify, wait_all, Sent};

fn kafka_sh(args: &[&str]) {
    let out = Command::new(repo_root().join("tests/broker/kafka.sh")).args(args).output().expect("run kafka.sh");
    assert!(out.status.success(), "kafka.sh {args:?}:\n{}", describe_output(&out));
}

fn read_committed(broker: &Broker, topic: &str, count: usize) -> Vec<ConsumedRecord> {
    let count_s = count.to_string();
    let args = ["consume", "--topic", topic, "--count", &count_s, "--timeout", "90", "--extra-wait", "5"];
    let out = broker.verifier(&[&args[..], &["--isolation", "read_committed"]].concat());
    assert!(out.status.success() || count == 0, "{}", describe_output(&out));
    parse_records(&out.stdout)
}

#[test]
fn coordinator_killed_mid_transaction() {
    let Some(cluster) = Cluster::shared() else {
        eprintln!("SKIPPED coordinator_killed_mid_transaction: KPROD_CLUSTER=skip says no cluster is available");
        return;
    };
    let topic = unique_topic("txn-failover");
    cluster.create_topic(&topic, 3, 3);
    let config = ProducerConfig::new(cluster.bootstrap())
        .expect("bootstrap")
        .set("transactional.id", &unique_topic("txn-failover-id"))
        .and_then(|c| c.set("request.timeout.ms", "10000"))
        .and_then(|c| c.set("max.block.ms", "120000"))
        .expect("config");
    let producer = Producer::new(config).expect("producer");
    producer.init_transactions().expect("init");
    producer.begin_transaction().expect("begin");
    let doomed: Vec<Sent> = (0..300).map(|i| Sent::numbered("failover", i)).collect();
    let meta = wait_all(&send_all(&producer, &topic, &doomed));
    let node = producer.transaction_coordinator().expect("the coordinator is known").to_string();

    kafka_sh(&["node-kill", &node]);
    let outcome = producer.commit_transaction();
    eprintln!("coordinator node {node} killed; commit: {outcome:?}");
    let committed = match outcome {
        Ok(()) => true,
        Err(e) if e.is_abortable() => {
            producer.abort_transaction().expect("abort after an abortable error");
            false
        }
        Err(e) => panic!("commit after a coordinator crash: {e}"),
    };
    kafka_sh(&["node-start", &node]);

    // The next transaction goes through whatever broker coordinates now.
    let after: Vec<Sent> = (0..50).map(|i| Sent::numbered("after", i)).collect();
    producer.begin_transaction().expect("begin after failover");
    let after_meta = wait_all(&send_all(&producer, &topic, &after));
    producer.commit_transaction().expect("commit after failover");
    producer.close(Duration::from_secs(30)).expect("close");

    let (sent, reported): (Vec<Sent>, Vec<_>) = if committed {
        (doomed.iter().chain(&after).cloned().collect(), meta.iter().chain(&after_meta).cloned().collect())
    } else {
        (after.clone(), after_meta.clone())
    };
    let read = read_committed(cluster, &topic, sent.len());
    // All of the first transaction or none of it, and exactly the second.
    verify(&read, &sent, &reported, 3);
}
