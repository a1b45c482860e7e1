//! The 3-node cluster: a topic with replication factor 3 has every replica in
//! sync. Skipped (with a message) only when `KPROD_CLUSTER=skip`.

use kprod_tests::{unique_topic, Cluster};

fn sorted(ids: &[i32]) -> Vec<i32> {
    let mut ids = ids.to_vec();
    ids.sort_unstable();
    ids
}

#[test]
fn rf3_topic_has_full_isr() {
    let Some(cluster) = Cluster::shared() else {
        eprintln!("SKIPPED rf3_topic_has_full_isr: KPROD_CLUSTER=skip says no cluster is available");
        return;
    };
    let topic = unique_topic("rf3");
    cluster.create_topic(&topic, 3, 3);
    let d = cluster.describe_topic(&topic);
    assert_eq!(d.partitions.len(), 3);
    let all: Vec<i32> = (1..=cluster.size() as i32).collect();
    for p in &d.partitions {
        assert_eq!(sorted(&p.replicas), all, "replicas of partition {}", p.partition);
        assert_eq!(sorted(&p.isr), all, "ISR of partition {}", p.partition);
        assert!(all.contains(&p.leader), "leader of partition {}", p.partition);
    }
}
