//! KIP-447 with a real consumer group member (issue 17): a kafka-python consumer
//! (`tests/broker/group_member.py`, the classic group protocol) joins a group, and the blocking
//! producer's `send_offsets_to_transaction` with the member's real group id, generation and
//! member id commits with the transaction; once a second member made the group rebalance, the
//! first member's old generation is stale and the group coordinator refuses it
//! (ILLEGAL_GENERATION), as it refuses an unknown member (UNKNOWN_MEMBER_ID) and a static
//! member's instance id with the wrong member id (FENCED_INSTANCE_ID): kprod reports each as an
//! abortable transaction error naming the code, and nothing of the refused transaction is
//! committed. The group's committed offsets are read back with kafka-python (OffsetFetch, in
//! `verify.py committed`), and only the committed transactions' offsets are there.
//!
//! Both protocol flows, switched with Kafka's FeatureCommand: `transaction.version` 2 (KIP-890:
//! TxnOffsetCommit v5+ adds the group implicitly) and 1 (AddOffsetsToTxn to the transaction
//! coordinator first, then TxnOffsetCommit v3/v4 with the member, KIP-447). In the V1 flow,
//! offsets whose group was never added to the transaction would get no commit marker and never
//! show in the read-back, so the committed offsets also check that AddOffsetsToTxn went.

extern crate alloc;

mod std_util;

use core::time::Duration;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

use kprod_core::producer::txn::{AbortCause, TxnError};
use kprod_core::protocol::ErrorCode;
use kprod_std::{Error, GroupMetadata, Producer, TopicPartitionOffset};
use kprod_tests::{describe_output, repo_root, unique_topic, Broker};
use serde::Deserialize;
use std_util::{config, send_all, wait_all, Sent, TransactionVersion};

/// A member's group metadata, as the helper prints it.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
struct Member {
    generation: i32,
    member_id: String,
    instance_id: Option<String>,
}

/// The helper process: consumer A in the group (and B after `rebalance`).
struct GroupMember {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl GroupMember {
    fn join(broker: &Broker, topic: &str, group: &str, instance_id: Option<&str>) -> (Self, Member) {
        // The venv exists once the broker harness ran the verifier.
        let _ = broker.verifier(&["committed", "--group", group, "--topic", topic]);
        let cache = std::env::var("KPROD_CACHE_DIR").map_or_else(|_| repo_root().join(".cache"), Into::into);
        let mut cmd = Command::new(cache.join("venv/bin/python"));
        cmd.arg(repo_root().join("tests/broker/group_member.py")).args([
            "--bootstrap",
            broker.bootstrap(),
            "--topic",
            topic,
            "--group",
            group,
        ]);
        if let Some(id) = instance_id {
            cmd.args(["--instance-id", id]);
        }
        let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("run group_member.py");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut m = Self { child, stdin, stdout };
        let first = m.read_member();
        (m, first)
    }

    fn read_member(&mut self) -> Member {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read group_member.py");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("group_member.py printed {line:?}: {e}"))
    }

    /// A second member joins: the first one moves to a newer generation, which is returned.
    fn rebalance(&mut self) -> Member {
        writeln!(self.stdin, "rebalance").expect("write to group_member.py");
        self.read_member()
    }
}

impl Drop for GroupMember {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "exit");
        let _ = self.child.wait();
    }
}

fn committed(broker: &Broker, group: &str, topic: &str) -> String {
    let out = broker.verifier(&["committed", "--group", group, "--topic", topic]);
    assert!(out.status.success(), "{}", describe_output(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn offsets(topic: &str, base: i64) -> [TopicPartitionOffset<'_>; 2] {
    [0, 1].map(|p| TopicPartitionOffset {
        topic,
        partition: p,
        offset: base + i64::from(p),
        leader_epoch: -1,
        metadata: Some("kip-447"),
    })
}

/// Begins a transaction with one record and sends `base` offsets for `member`: the result of
/// `send_offsets_to_transaction`.
fn send_offsets(
    producer: &Producer,
    v2: bool,
    out: &str,
    input: &str,
    group: &str,
    member: &Member,
    base: i64,
) -> Result<(), Error> {
    producer.begin_transaction().expect("begin");
    assert_eq!(producer.transaction_v2(), v2, "the flow the broker's transaction.version offers");
    wait_all(&send_all(producer, out, &[Sent::numbered("kip447", base as usize)]));
    let meta = GroupMetadata {
        group_id: group,
        generation_id: member.generation,
        member_id: &member.member_id,
        group_instance_id: member.instance_id.as_deref(),
    };
    producer.send_offsets_to_transaction(&offsets(input, base), &meta)
}

/// Expects `result` to be the group coordinator's refusal `code`, abortable; aborts.
fn expect_refused(producer: &Producer, result: Result<(), Error>, code: ErrorCode) {
    let refused = |r: &Result<(), Error>| matches!(r, Err(Error::Transaction(TxnError::Abortable(AbortCause::Broker(c)))) if *c == code);
    assert!(refused(&result), "expected an abortable {code:?}, got {result:?}");
    // Only abort_transaction is allowed now, and a commit names the cause; the producer lives on.
    let commit = producer.commit_transaction();
    assert!(refused(&commit), "commit of the abortable transaction: the cause {code:?}, got {commit:?}");
    producer.abort_transaction().expect("abort");
}

#[test]
fn offsets_with_a_real_group_member_and_its_fencing_in_both_flows() {
    let broker = Broker::shared();
    for level in [2u8, 1] {
        let _flow = TransactionVersion::set(broker, level);
        eprintln!("transaction.version={level}");
        group_member_and_fencing(broker, level >= 2);
    }
}

fn group_member_and_fencing(broker: &Broker, v2: bool) {
    let input = unique_topic("kip447-in");
    let out = unique_topic("kip447-out");
    broker.create_topic(&input, 2, 1);
    broker.create_topic(&out, 1, 1);
    let group = unique_topic("kip447-group");
    let txn_config = config(broker)
        .set("transactional.id", &unique_topic("kip447-txn"))
        .expect("transactional.id")
        .set("transaction.timeout.ms", "30000")
        .expect("timeout");
    let producer = Producer::new(txn_config).expect("producer");
    producer.init_transactions().expect("init_transactions");

    let (mut a, first) = GroupMember::join(broker, &input, &group, None);
    assert!(first.generation > 0 && !first.member_id.is_empty(), "{first:?}");

    // The member's current metadata: the offsets commit with the transaction.
    send_offsets(&producer, v2, &out, &input, &group, &first, 10).expect("send offsets (current generation)");
    assert_eq!(committed(broker, &group, &input), "{}", "nothing before the commit");
    producer.commit_transaction().expect("commit");
    assert_eq!(committed(broker, &group, &input), r#"{"0": 10, "1": 11}"#);

    // A second member joins: the first one's old generation is stale (a zombie).
    let second = a.rebalance();
    assert!(second.generation > first.generation, "{first:?} -> {second:?}");
    assert_eq!(second.member_id, first.member_id, "the same member, rejoined");
    let stale = send_offsets(&producer, v2, &out, &input, &group, &first, 20);
    expect_refused(&producer, stale, ErrorCode::IllegalGeneration);
    assert_eq!(committed(broker, &group, &input), r#"{"0": 10, "1": 11}"#, "the fenced offsets are not committed");

    // An unknown member id.
    let stranger = Member { member_id: "kprod-not-a-member".into(), ..second.clone() };
    let unknown = send_offsets(&producer, v2, &out, &input, &group, &stranger, 30);
    expect_refused(&producer, unknown, ErrorCode::UnknownMemberId);

    // The current generation commits again.
    send_offsets(&producer, v2, &out, &input, &group, &second, 40).expect("send offsets (new generation)");
    producer.commit_transaction().expect("commit");
    assert_eq!(committed(broker, &group, &input), r#"{"0": 40, "1": 41}"#);
    drop(a);

    // A static member (group.instance.id): its instance id with another member id is a zombie
    // instance.
    let static_group = unique_topic("kip447-static");
    let (_b, member) = GroupMember::join(broker, &input, &static_group, Some("kprod-instance-1"));
    assert_eq!(member.instance_id.as_deref(), Some("kprod-instance-1"));
    send_offsets(&producer, v2, &out, &input, &static_group, &member, 50).expect("send offsets (static member)");
    producer.commit_transaction().expect("commit");
    assert_eq!(committed(broker, &static_group, &input), r#"{"0": 50, "1": 51}"#);
    let zombie = Member { member_id: "kprod-old-incarnation".into(), ..member.clone() };
    let fenced = send_offsets(&producer, v2, &out, &input, &static_group, &zombie, 60);
    expect_refused(&producer, fenced, ErrorCode::FencedInstanceId);
    assert_eq!(committed(broker, &static_group, &input), r#"{"0": 50, "1": 51}"#);
    producer.close(Duration::from_secs(30)).expect("close");
}
