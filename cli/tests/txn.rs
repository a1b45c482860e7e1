//! `kprod produce --transactional-id` and `kprod perf --transactional-id` against the real
//! broker: every line is read back once by a read_committed consumer (kafka-python), keys and
//! values as the lines say; a setting that conflicts with transactions exits 1 naming both.

mod util;

use kprod_tests::{describe_output, parse_records, unique_topic, Broker};
use util::{describe, kprod};

fn read_committed(broker: &Broker, topic: &str, count: usize) -> Vec<kprod_tests::ConsumedRecord> {
    let n = count.to_string();
    let args = [
        "consume",
        "--topic",
        topic,
        "--count",
        &n,
        "--timeout",
        "60",
        "--extra-wait",
        "2",
        "--isolation",
        "read_committed",
    ];
    let out = broker.verifier(&args);
    assert!(out.status.success(), "{}", describe_output(&out));
    parse_records(&out.stdout)
}

#[test]
fn produce_commits_every_n_records() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-txn");
    broker.create_topic(&topic, 1, 1);
    let lines: Vec<String> = (0..25).map(|i| format!("k{i}:value-{i}")).collect();
    let input = lines.join("\n");
    let id = unique_topic("cli-txn-id");
    let args =
        ["produce", "-b", broker.bootstrap(), "-t", &topic, "-K", ":", "--transactional-id", &id, "--txn-records", "4"];
    let out = kprod(&args, input.as_bytes());
    assert!(out.status.success(), "{}", describe(&out));
    let read = read_committed(broker, &topic, lines.len());
    assert_eq!(read.len(), lines.len(), "each line once");
    for (i, r) in read.iter().enumerate() {
        assert_eq!(r.key.as_deref(), Some(format!("k{i}").as_bytes()), "key {i}");
        assert_eq!(r.value.as_deref(), Some(format!("value-{i}").as_bytes()), "value {i}");
    }
}

#[test]
fn produce_refuses_acks_1_with_transactions() {
    let broker = Broker::shared();
    let args = ["produce", "-b", broker.bootstrap(), "-t", "x", "--transactional-id", "t", "--acks", "1"];
    let out = kprod(&args, b"a\n");
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("transactional.id") && err.contains("acks"), "{err}");
}

#[test]
fn perf_commits_by_duration() {
    let broker = Broker::shared();
    let topic = unique_topic("cli-perf-txn");
    broker.create_topic(&topic, 2, 1);
    let id = unique_topic("cli-perf-txn-id");
    let args = [
        "perf",
        "--topic",
        &topic,
        "--num-records",
        "3000",
        "--record-size",
        "100",
        "--throughput",
        "10000",
        "--bootstrap-server",
        broker.bootstrap(),
        "--transactional-id",
        &id,
        "--transaction-duration-ms",
        "100",
    ];
    let out = kprod(&args, b"");
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("3000 records sent"), "{stdout}");
    let read = read_committed(broker, &topic, 3000);
    assert_eq!(read.len(), 3000);
    assert!(read.iter().all(|r| r.value.as_ref().is_some_and(|v| v.len() == 100)));
}
