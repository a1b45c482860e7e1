//! `partitions_for` returns Java's `PartitionInfo` on the 3-node cluster: the leader, replicas
//! and in-sync replicas of a replication-factor-3 topic, as kafka-python's admin client
//! (`verify.py describe-topic`) sees them; then, with one node stopped, the ISR without it.
//! Skipped (with a message) only when `KPROD_CLUSTER=skip`.

use core::time::Duration;
use std::process::Command;
use std::time::Instant;

use kprod_std::{Node, PartitionInfo, Producer, ProducerConfig};
use kprod_tests::{describe_output, repo_root, unique_topic, Cluster, TopicDescription};

fn kafka_sh(args: &[&str]) {
    let out = Command::new(repo_root().join("tests/broker/kafka.sh")).args(args).output().expect("run kafka.sh");
    assert!(out.status.success(), "kafka.sh {args:?}:\n{}", describe_output(&out));
}

/// Starts a stopped node again when dropped, also when the test fails.
struct Restart(&'static str);

impl Drop for Restart {
    fn drop(&mut self) {
        kafka_sh(&["node-start", self.0]);
    }
}

fn ids(nodes: &[Node]) -> Vec<i32> {
    nodes.iter().map(|n| n.id).collect()
}

fn sorted(mut ids: Vec<i32>) -> Vec<i32> {
    ids.sort_unstable();
    ids
}

/// Whether kprod's view of every partition is the admin client's: same leader, same replica
/// order, same ISR (as a set). (kafka-python does not report offline replicas.)
fn agrees(infos: &[PartitionInfo], admin: &TopicDescription) -> bool {
    infos.len() == admin.partitions.len()
        && infos.iter().zip(&admin.partitions).all(|(i, d)| {
            i.partition == d.partition as u32
                && i.leader.as_ref().map(|n| n.id) == Some(d.leader)
                && ids(&i.replicas) == d.replicas
                && sorted(ids(&i.in_sync_replicas)) == sorted(d.isr.clone())
        })
}

/// Polls until kprod and the admin client agree and `want(isr, offline)` holds for every
/// partition (both sorted), or panics after `within`.
fn wait_for(
    producer: &Producer,
    cluster: &Cluster,
    topic: &str,
    want: impl Fn(&[i32], &[i32]) -> bool,
    within: Duration,
) -> Vec<PartitionInfo> {
    let start = Instant::now();
    loop {
        let infos = producer.partitions_for(topic).expect("partitions_for");
        let admin = cluster.describe_topic(topic);
        let isr_ok = infos.iter().all(|i| want(&sorted(ids(&i.in_sync_replicas)), &sorted(ids(&i.offline_replicas))));
        if isr_ok && agrees(&infos, &admin) {
            return infos;
        }
        assert!(start.elapsed() < within, "kprod {infos:#?}\nadmin {admin:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn partition_info_follows_the_cluster() {
    let Some(cluster) = Cluster::shared() else {
        eprintln!("SKIPPED partition_info_follows_the_cluster: KPROD_CLUSTER=skip says no cluster is available");
        return;
    };
    let topic = unique_topic("pinfo");
    cluster.create_topic(&topic, 3, 3);
    let config =
        ProducerConfig::new(cluster.bootstrap()).and_then(|c| c.set("metadata.max.age.ms", "500")).expect("config");
    let producer = Producer::new(config).expect("producer");
    let all: Vec<i32> = (1..=cluster.size() as i32).collect();
    let infos =
        wait_for(&producer, cluster, &topic, |isr, offline| isr == all && offline.is_empty(), Duration::from_secs(30));
    // The tokio producer gives the same answer.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let from_tokio = rt.block_on(async {
        let config = ProducerConfig::new(cluster.bootstrap()).expect("config");
        let producer = kprod_std::AsyncProducer::new(config).expect("async producer");
        producer.partitions_for(&topic).await.expect("partitions_for (tokio)")
    });
    assert_eq!(from_tokio, infos, "the tokio producer's PartitionInfo");
    let addresses: Vec<&str> = cluster.bootstrap().split(',').collect();
    for i in &infos {
        assert_eq!(i.topic, topic);
        assert_eq!(sorted(ids(&i.replicas)), all, "{i:?}");
        for n in i.replicas.iter().chain(&i.leader) {
            let addr = format!("{}:{}", n.host, n.port.expect("a listed broker has a port"));
            assert!(addresses.contains(&addr.as_str()), "{n} is not one of {addresses:?}");
        }
    }

    // Node 3 stops (a controlled shutdown leaves the ISR at once): every ISR loses it while the
    // replica lists keep it, KRaft reports it as an offline replica, and its Node no longer has
    // an address.
    kafka_sh(&["node-stop", "3"]);
    let restart = Restart("3");
    let without =
        wait_for(&producer, cluster, &topic, |isr, offline| isr == [1, 2] && offline == [3], Duration::from_secs(30));
    drop(restart);
    for i in &without {
        let gone = i.replicas.iter().find(|n| n.id == 3).expect("node 3 stays a replica");
        assert_eq!((gone.host.as_str(), gone.port), ("", None), "{i:?}");
        assert_ne!(i.leader.as_ref().map(|n| n.id), Some(3), "{i:?}");
    }
    // Back in sync before the next test uses the cluster.
    wait_for(&producer, cluster, &topic, |isr, offline| isr == all && offline.is_empty(), Duration::from_secs(60));
    producer.close(Duration::from_secs(10)).expect("close");
}
