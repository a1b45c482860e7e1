//! The producer's metadata cache (`producer::metadata`) fed with encoded Metadata responses: the
//! refresh policy, the leader epoch rule, partition blocks, KIP-951 hints, capacities and hostile
//! values.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;
use core::time::Duration;

use crate::producer::metadata::*;
use crate::protocol::metadata::*;
use crate::protocol::produce::LeaderIdAndEpoch;
use crate::protocol::{EncodeResponse, ErrorCode, Node, Response};
use crate::rng::Rng;
use crate::time::Instant;

const MAX_AGE: Duration = Duration::from_secs(300);
const ID_A: [u8; 16] = [0xa; 16];

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// A cache over Vec-backed slots.
/// A cache over fixed (borrowed, as without `alloc`) slots: its capacities are a bound.
fn cache(brokers: usize, topics: usize, partitions: usize) -> Metadata<'static> {
    fn fixed<T: Clone>(fill: T, n: usize) -> &'static mut [T] {
        Box::leak(vec![fill; n].into_boxed_slice())
    }
    Metadata::new(
        fixed(BrokerSlot::EMPTY, brokers),
        fixed(TopicSlot::EMPTY, topics),
        fixed(PartitionSlot::EMPTY, partitions),
        &[("boot1", 9092), ("boot2", 9093)],
    )
    .unwrap()
}

fn id_of(i: usize) -> [u8; 16] {
    let mut id = [0x11; 16];
    id[..8].copy_from_slice(&(i as u64 + 1).to_be_bytes());
    id
}

/// Owned (std) slots grow as needed: 1,000 topics and a 10,000-partition topic from a cache
/// made with one slot of each.
#[test]
fn owned_slots_grow_to_any_cluster() {
    let mut md = Metadata::new(
        vec![BrokerSlot::EMPTY; 1],
        vec![TopicSlot::EMPTY; 1],
        vec![PartitionSlot::EMPTY; 1],
        &[("boot1", 9092), ("boot2", 9093)],
    )
    .unwrap();
    let names: Vec<String> = (0..1000).map(|i| format!("t{i}")).collect();
    for name in &names {
        md.add_topic(name, at(0)).unwrap();
    }
    let big = md.add_topic("big", at(0)).unwrap();
    let parts: Vec<_> = (0..10_000).map(|p| part(p, p % 5, 1)).collect();
    let mut topics: Vec<_> = names.iter().enumerate().map(|(i, n)| topic(n, id_of(i), &parts[..2])).collect();
    topics.push(topic("big", [0xbb; 16], &parts));
    let up = apply(&mut md, &topics, at(1));
    assert_eq!(up.capacity_error, None);
    assert_eq!(md.partition_count(big), Some(10_000));
    assert_eq!(leader(&md, big, 9_999), Some(4));
    assert!(names.iter().all(|n| md.topic(n).and_then(|t| md.partition_count(t)) == Some(2)));
    assert_eq!(md.partition_capacity(), 12_000);
}

fn node(id: i32, host: &str, port: i32) -> Node<'_> {
    Node { node_id: id, host, port, rack: None }
}

/// Partition `index` led by `leader` at `epoch`.
fn part(index: i32, leader: i32, epoch: i32) -> MetadataResponsePartitionData<'static> {
    MetadataResponsePartitionData {
        error_code: ErrorCode::None,
        partition_index: index,
        leader_id: leader,
        leader_epoch: epoch,
        replica_nodes: &[],
        isr_nodes: &[],
        offline_replicas: &[],
    }
}

fn topic<'a>(
    name: &'a str,
    id: [u8; 16],
    partitions: &'a [MetadataResponsePartitionData<'a>],
) -> MetadataResponseTopicData<'a> {
    MetadataResponseTopicData {
        error_code: ErrorCode::None,
        name: Some(name),
        topic_id: id,
        is_internal: false,
        partitions,
        topic_authorized_operations: i32::MIN,
    }
}

fn failed(name: &str, code: ErrorCode) -> MetadataResponseTopicData<'_> {
    MetadataResponseTopicData { error_code: code, ..topic(name, [0; 16], &[]) }
}

const BROKERS: [Node<'static>; 2] =
    [Node { node_id: 1, host: "b1", port: 9092, rack: None }, Node { node_id: 2, host: "b2", port: 9092, rack: None }];

/// Encodes a response at `version`.
fn encode(version: i16, brokers: &[Node<'_>], topics: &[MetadataResponseTopicData<'_>]) -> Vec<u8> {
    let data = MetadataResponseData {
        throttle_time_ms: 0,
        brokers,
        cluster_id: None,
        controller_id: 1,
        topics,
        cluster_authorized_operations: i32::MIN,
        error_code: ErrorCode::None,
    };
    let mut out = Vec::new();
    data.encode(version, &mut out).unwrap();
    out
}

/// Decodes `bytes` at `version` and applies them.
fn apply_bytes(
    md: &mut Metadata<'_>,
    version: i16,
    bytes: &[u8],
    now: Instant,
) -> Result<MetadataUpdate, MetadataError> {
    let resp = MetadataResponse::decode(version, bytes).unwrap();
    md.apply(&resp, now)
}

/// Begins a refresh, then encodes its answer at v12 (flexible) and applies it.
fn apply(md: &mut Metadata<'_>, topics: &[MetadataResponseTopicData<'_>], now: Instant) -> MetadataUpdate {
    md.begin_refresh(now);
    apply_bytes(md, 12, &encode(12, &BROKERS, topics), now).unwrap()
}

/// [`apply`] for a test that does not look at the update.
fn refresh(md: &mut Metadata<'_>, topics: &[MetadataResponseTopicData<'_>], now: Instant) {
    let _ = apply(md, topics, now);
}

fn leader(md: &Metadata<'_>, t: TopicIdx, p: u32) -> Option<i32> {
    md.leader(md.partition(t, p).unwrap())
}

fn epoch(md: &Metadata<'_>, t: TopicIdx, p: u32) -> i32 {
    md.partition_slot(md.partition(t, p).unwrap()).unwrap().leader_epoch()
}

#[rustfmt::skip]
static V12_RESPONSE: [u8; 77] = [
    0, 0, 0, 0,                  // throttle
    2,                           // 1 broker
    0, 0, 0, 1, 2, b'h', 0, 0, 0x23, 0x84, 0, 0, // id 1, "h", 9092, null rack, tags
    0,                           // null cluster id
    0, 0, 0, 1,                  // controller
    2,                           // 1 topic
    0, 0, 2, b't',               // error, name
    1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, // topic id
    0,                           // not internal
    2,                           // 1 partition
    0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7, // error, index 0, leader 1, epoch 7
    2, 0, 0, 0, 1, 2, 0, 0, 0, 1, 1, // replicas [1], isr [1], offline []
    0,                           // partition tags
    0x80, 0, 0, 0,               // topic authorized operations
    0,                           // topic tags
    0,                           // tags
];

#[test]
fn hand_written_v12_response_applies() {
    let id: [u8; 16] = core::array::from_fn(|i| i as u8 + 1);
    let partition = MetadataResponsePartitionData { replica_nodes: &[1], isr_nodes: &[1], ..part(0, 1, 7) };
    let encoded = encode(12, &[node(1, "h", 9092)], &[topic("t", id, &[partition])]);
    assert_eq!(encoded, V12_RESPONSE, "our encoder agrees with the hand-written bytes");

    let mut md = cache(4, 2, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    let up = apply_bytes(&mut md, 12, &V12_RESPONSE, at(1)).unwrap();
    assert_eq!(up.leaders_changed, 1);
    assert_eq!(md.partition_count(t), Some(1));
    assert_eq!(leader(&md, t, 0), Some(1));
    assert_eq!(epoch(&md, t, 0), 7);
    assert_eq!(md.topic_slot(t).unwrap().topic_id(), id);
    let b = md.leader_broker(md.partition(t, 0).unwrap()).unwrap();
    assert_eq!((b.node_id, b.host.as_str(), b.port, b.bootstrap), (1, "h", 9092, false));
}

#[test]
fn bootstrap_brokers_and_constructor_errors() {
    let md = cache(4, 1, 1);
    let boot: Vec<_> = md.brokers().map(|b| (b.node_id, b.host.to_string(), b.port, b.bootstrap)).collect();
    assert_eq!(boot, [(-1, "boot1".to_owned(), 9092, true), (-2, "boot2".to_owned(), 9093, true)]);
    assert_eq!(md.broker(-2).unwrap().host.as_str(), "boot2");
    assert!(!md.needs_refresh(at(0), MAX_AGE), "nothing wanted yet");

    // Borrowed arrays, as without an allocator; used slots are reset.
    let mut brokers = [BrokerSlot::EMPTY; 1];
    let mut topics = [TopicSlot::EMPTY; 1];
    let mut partitions = [PartitionSlot::EMPTY; 1];
    let err = Metadata::new(&mut brokers[..], &mut topics[..], &mut partitions[..], &[("a", 1), ("b", 2)]);
    assert_eq!(err.unwrap_err(), MetadataError::TooManyBrokers);
    let long = "h".repeat(256);
    let new = |boot: &[(&str, u16)]| Metadata::new(vec![BrokerSlot::EMPTY; 2], vec![], vec![], boot).map(|_| ());
    assert_eq!(new(&[(&long, 1)]), Err(MetadataError::HostTooLong));
    assert_eq!(new(&[("", 1)]), Err(MetadataError::InvalidEndpoint));
    assert_eq!(new(&[("a", 0)]), Err(MetadataError::InvalidEndpoint));
    assert_eq!(new(&[(&long[..255], 1)]), Ok(()));
    let md = Metadata::new(&mut brokers[..], &mut topics[..], &mut partitions[..], &[("a", 1)]).unwrap();
    assert_eq!(md.topic_capacity(), 1);
    assert_eq!(md.partition_capacity(), 1);
}

#[test]
fn first_apply_and_age_based_refresh() {
    let mut md = cache(4, 2, 8);
    let t = md.add_topic("orders", at(0)).unwrap();
    assert_eq!(md.add_topic("orders", at(5)), Ok(t), "adding twice keeps the slot");
    assert_eq!(md.topic_slot(t).unwrap().last_used(), at(5));
    assert_eq!(md.topic_slot(t).unwrap().state(), TopicState::Pending);
    assert_eq!(md.partition_count(t), None);
    assert!(md.needs_refresh(at(0), MAX_AGE));
    assert_eq!(md.next_refresh_at(MAX_AGE), Some(Instant::ZERO));
    let names: Vec<_> = md.request_topics(false).collect();
    assert_eq!(names, [MetadataRequestTopic::named("orders")]);

    md.begin_refresh(at(10));
    assert!(md.is_refreshing());
    assert!(!md.needs_refresh(at(10), MAX_AGE), "one refresh at a time");
    assert_eq!(md.next_refresh_at(MAX_AGE), None);

    let parts = [part(0, 1, 5), part(1, 2, 5), part(2, 1, 5)];
    let up = apply(&mut md, &[topic("orders", ID_A, &parts)], at(20));
    assert!(!md.is_refreshing());
    assert_eq!((up.leaders_changed, up.stale_partitions, up.ignored_partitions), (3, 0, 0));
    assert!(up.resized.is_empty() && up.capacity_error.is_none());
    assert_eq!(md.leader_changes().count(), 3);
    assert_eq!(md.topic_slot(t).unwrap().state(), TopicState::Known);
    assert_eq!(md.partition_count(t), Some(3));
    assert_eq!([leader(&md, t, 0), leader(&md, t, 1), leader(&md, t, 2)], [Some(1), Some(2), Some(1)]);
    assert_eq!(md.partition(t, 3), None);
    let pi = md.partition(t, 2).unwrap();
    assert_eq!(md.partition_location(pi), Some((t, 2)));
    assert_eq!(md.brokers().count(), 4, "bootstrap entries stay");
    assert_eq!(md.broker(2).unwrap().host.as_str(), "b2");

    assert!(!md.needs_refresh(at(20), MAX_AGE));
    assert_eq!(md.next_refresh_at(MAX_AGE), Some(at(20) + MAX_AGE));
    assert!(!md.needs_refresh(at(20) + (MAX_AGE - Duration::from_millis(1)), MAX_AGE));
    assert!(md.needs_refresh(at(20) + MAX_AGE, MAX_AGE));

    // A later response replaces the cluster's brokers.
    let _ = apply_bytes(&mut md, 12, &encode(12, &[node(7, "b7", 1)], &[]), at(30)).unwrap();
    assert!(md.broker(1).is_none());
    assert_eq!(md.brokers().map(|b| b.node_id).collect::<Vec<_>>(), [-1, -2, 7]);
}

#[test]
fn leader_epochs_never_go_back() {
    let mut md = cache(4, 1, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 1, 5)])], at(1));

    let up = apply(&mut md, &[topic("t", ID_A, &[part(0, 2, 6)])], at(2));
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (Some(2), 6));
    assert_eq!(up.leaders_changed, 1);
    assert_eq!(md.leader_changes().collect::<Vec<_>>(), [md.partition(t, 0).unwrap()]);

    // A lagging broker still says leader 1 at epoch 5.
    let up = apply(&mut md, &[topic("t", ID_A, &[part(0, 1, 5)])], at(3));
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (Some(2), 6));
    assert_eq!((up.stale_partitions, up.leaders_changed), (1, 0));
    assert_eq!(md.leader_changes().count(), 0);

    // Same epoch, same leader: no change. No leader at a newer epoch: taken, and a refresh is due.
    let up = apply(&mut md, &[topic("t", ID_A, &[part(0, 2, 6)])], at(4));
    assert_eq!((up.stale_partitions, up.leaders_changed), (0, 0));
    assert!(!md.needs_refresh(at(4), MAX_AGE));
    let lna = MetadataResponsePartitionData { error_code: ErrorCode::LeaderNotAvailable, ..part(0, 2, 7) };
    refresh(&mut md, &[topic("t", ID_A, &[lna])], at(5));
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (None, 7));
    assert_eq!(md.partition_slot(md.partition(t, 0).unwrap()).unwrap().error(), ErrorCode::LeaderNotAvailable);
    assert!(md.needs_refresh(at(5), MAX_AGE), "a partition without leader asks again");

    // Before v7 there are no epochs: always taken.
    let v6 = encode(6, &BROKERS, &[topic("t", [0; 16], &[part(0, 1, -1)])]);
    let _ = apply_bytes(&mut md, 6, &v6, at(6)).unwrap();
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (Some(1), 7));
    assert_eq!(md.topic_slot(t).unwrap().topic_id(), ID_A, "a v6 answer keeps the id");
}

#[test]
fn growth_moves_or_extends_blocks() {
    let mut md = cache(4, 4, 8);
    let a = md.add_topic("a", at(0)).unwrap();
    let b = md.add_topic("b", at(0)).unwrap();
    refresh(
        &mut md,
        &[topic("a", ID_A, &[part(0, 1, 1), part(1, 2, 1)]), topic("b", [0xb; 16], &[part(0, 1, 1), part(1, 1, 1)])],
        at(1),
    );
    assert_eq!((md.partition(a, 0), md.partition(b, 0)), (Some(PartitionIdx(0)), Some(PartitionIdx(2))));

    // a grows to 4: the slots after it are b's, so it moves to 4..8. A new topic c in the same
    // response must not get a's old block, which the engine still has to empty.
    let c = md.add_topic("c", at(1)).unwrap();
    let a4 = [part(0, 1, 1), part(1, 2, 1), part(2, 2, 1), part(3, 1, 1)];
    let up = apply(&mut md, &[topic("a", ID_A, &a4), topic("c", [0xc; 16], &[part(0, 1, 1)])], at(2));
    let resize = TopicResize {
        topic: a,
        old_first: PartitionIdx(0),
        new_first: PartitionIdx(4),
        old_count: 2,
        new_count: 4,
        recreated: false,
    };
    assert_eq!(up.resized.as_slice(), &[resize]);
    assert_eq!(up.capacity_error, Some(MetadataError::TooManyPartitions));
    assert_eq!(md.topic_slot(c).unwrap().state(), TopicState::TooManyPartitions);
    assert_eq!(md.partition_count(a), Some(4));
    assert_eq!([leader(&md, a, 1), leader(&md, a, 3)], [Some(2), Some(1)], "old leaders moved along");
    assert_eq!(md.partition_location(PartitionIdx(5)), Some((a, 1)));
    assert_eq!(md.partition_slot(PartitionIdx(0)), None, "old block freed after the apply");
    assert!(!md.needs_refresh(at(2), MAX_AGE), "no retry loop on a capacity problem");

    // The next refresh places c in a's old block. b (2..4) cannot grow: slot 4 is a's and only
    // slot 1 is free, so it keeps its old count.
    let up = apply(&mut md, &[topic("c", [0xc; 16], &[part(0, 1, 1)])], at(3));
    assert_eq!(md.partition(c, 0), Some(PartitionIdx(0)));
    assert!(up.resized.is_empty() && up.capacity_error.is_none());
    let b3 = [part(0, 1, 1), part(1, 1, 1), part(2, 2, 1)];
    let up = apply(&mut md, &[topic("b", [0xb; 16], &b3)], at(4));
    assert_eq!(up.capacity_error, Some(MetadataError::TooManyPartitions));
    assert_eq!(md.partition_count(b), Some(2), "keeps its old count");
    assert_eq!(up.ignored_partitions, 1);

    // Removing a frees 4..8, so b grows in place.
    md.remove_topic(c);
    md.remove_topic(a);
    assert_eq!(md.topic_slot(a), None);
    let up = apply(&mut md, &[topic("b", [0xb; 16], &b3)], at(5));
    assert_eq!(up.resized[0].old_first, up.resized[0].new_first);
    assert_eq!((up.resized[0].old_count, up.resized[0].new_count), (2, 3));
    assert_eq!(leader(&md, b, 2), Some(2));
}

#[test]
fn shrink_is_ignored_unless_recreated() {
    let mut md = cache(4, 1, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 1, 9), part(1, 2, 9), part(2, 1, 9)])], at(1));
    let up = apply(&mut md, &[topic("t", ID_A, &[part(0, 2, 10)])], at(2));
    assert_eq!(md.partition_count(t), Some(3), "a lagging broker: Kafka never shrinks");
    assert_eq!(leader(&md, t, 0), Some(1));
    assert!(up.resized.is_empty());

    // Deleted and recreated with one partition: new id, epochs restart at 0.
    let up = apply(&mut md, &[topic("t", [0xe; 16], &[part(0, 2, 0)])], at(3));
    let resize = TopicResize {
        topic: t,
        old_first: PartitionIdx(0),
        new_first: PartitionIdx(0),
        old_count: 3,
        new_count: 1,
        recreated: true,
    };
    assert_eq!(up.resized.as_slice(), &[resize]);
    assert_eq!(md.partition_count(t), Some(1));
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (Some(2), 0));
    assert_eq!(md.topic_slot(t).unwrap().topic_id(), [0xe; 16]);
    assert_eq!(md.partition_slot(PartitionIdx(1)), None);
}

#[test]
fn topic_errors() {
    let mut md = cache(4, 4, 8);
    let unknown = md.add_topic("unknown", at(0)).unwrap();
    let denied = md.add_topic("denied", at(0)).unwrap();
    let creating = md.add_topic("creating", at(0)).unwrap();
    let topics = [
        failed("unknown", ErrorCode::UnknownTopicOrPartition),
        failed("denied", ErrorCode::TopicAuthorizationFailed),
        failed("creating", ErrorCode::LeaderNotAvailable),
    ];
    md.begin_refresh(at(0));
    refresh(&mut md, &topics, at(1));
    let state = |t| md.topic_slot(t).unwrap().state();
    assert_eq!(state(unknown), TopicState::Failed(ErrorCode::UnknownTopicOrPartition));
    assert_eq!(state(denied), TopicState::Failed(ErrorCode::TopicAuthorizationFailed));
    assert_eq!(state(creating), TopicState::Pending);
    assert_eq!(md.partition_count(unknown), None);
    assert!(md.needs_refresh(at(1), MAX_AGE));
    assert_eq!(md.request_topics(false).count(), 3, "failed topics are still asked for");

    // Once only the non-retriable failure is left, refreshes are back to the max age.
    refresh(
        &mut md,
        &[topic("creating", ID_A, &[part(0, 1, 0)]), failed("unknown", ErrorCode::InvalidTopicException)],
        at(2),
    );
    assert_eq!(md.topic_slot(unknown).unwrap().state(), TopicState::Failed(ErrorCode::InvalidTopicException));
    assert!(!md.needs_refresh(at(2), MAX_AGE));
    assert_eq!(md.partition_count(creating), Some(1));

    // A known topic answering LEADER_NOT_AVAILABLE at topic level keeps its partitions.
    refresh(&mut md, &[failed("creating", ErrorCode::LeaderNotAvailable)], at(3));
    assert_eq!(md.partition_count(creating), Some(1));
    assert!(md.needs_refresh(at(3), MAX_AGE));

    // A v13 top-level error applies nothing and counts as a failed refresh.
    let mut v13 = encode(13, &BROKERS, &[]);
    let n = v13.len();
    v13[n - 3..n - 1].copy_from_slice(&ErrorCode::RebootstrapRequired.code().to_be_bytes());
    md.begin_refresh(at(4));
    assert_eq!(apply_bytes(&mut md, 13, &v13, at(4)), Err(MetadataError::Response(ErrorCode::RebootstrapRequired)));
    assert!(md.needs_refresh(at(4), MAX_AGE));
    assert!(md.rebootstrap_required, "the next refresh goes to bootstrap.servers");
    // A good answer (from the bootstrap address) ends it.
    refresh(&mut md, &[topic("creating", ID_A, &[part(0, 1, 0)])], at(5));
    assert!(!md.rebootstrap_required);
}

#[test]
fn invalidation_and_refresh_bookkeeping() {
    let mut md = cache(4, 1, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 1, 1)])], at(1));
    assert!(!md.needs_refresh(at(1), MAX_AGE));
    let pi = md.partition(t, 0).unwrap();
    md.invalidate(pi);
    assert!(md.needs_refresh(at(1), MAX_AGE));
    assert_eq!(leader(&md, t, 0), Some(1), "the leader stays until the refresh answers");

    md.begin_refresh(at(2));
    assert!(!md.needs_refresh(at(2), MAX_AGE));
    md.refresh_failed(at(3));
    assert!(md.needs_refresh(at(3), MAX_AGE), "the reason survives a failed refresh");

    md.begin_refresh(at(4));
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 1, 1)])], at(5));
    assert!(!md.needs_refresh(at(5), MAX_AGE), "answered");

    // An invalidation while a refresh is in flight asks for one more afterwards.
    md.begin_refresh(at(6));
    md.invalidate_all();
    assert!(!md.needs_refresh(at(6), MAX_AGE));
    let _ = apply_bytes(&mut md, 12, &encode(12, &BROKERS, &[topic("t", ID_A, &[part(0, 1, 1)])]), at(7)).unwrap();
    assert!(md.needs_refresh(at(7), MAX_AGE));
}

#[test]
fn kip951_hints() {
    let mut md = cache(5, 1, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 1, 5)])], at(1));
    let pi = md.partition(t, 0).unwrap();
    let hint = |leader_id, leader_epoch| LeaderIdAndEpoch { leader_id, leader_epoch };

    // Newer epoch, new broker announced in the endpoints: applied, no refresh.
    let out = md.apply_leader_hint(pi, hint(3, 6), [node(3, "b3", 9094), node(4, "b4", 1)]);
    assert_eq!(out, HintOutcome::Applied);
    assert!(out.is_applied());
    assert_eq!((md.leader(pi), epoch(&md, t, 0)), (Some(3), 6));
    assert_eq!(md.broker(3).map(|b| (b.host.as_str(), b.port)), Some(("b3", 9094)));
    assert!(md.broker(4).is_none(), "only the leader's endpoint is taken");
    assert!(!md.needs_refresh(at(1), MAX_AGE));

    // The same leader at the same epoch (franz-go#1054), or an older one: refresh instead.
    assert_eq!(md.apply_leader_hint(pi, hint(3, 6), []), HintOutcome::Stale);
    assert!(md.needs_refresh(at(1), MAX_AGE));
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 3, 6)])], at(2));
    assert_eq!(md.apply_leader_hint(pi, hint(1, 4), []), HintOutcome::Stale);
    assert_eq!(md.leader(pi), Some(3));

    // Newer epoch, same leader: applied. Newer epoch, a broker nobody knows: refresh.
    // (The apply replaced the brokers: 3 is known again only through the endpoints.)
    refresh(&mut md, &[topic("t", ID_A, &[part(0, 3, 6)])], at(3));
    assert_eq!(md.apply_leader_hint(pi, hint(3, 7), [node(3, "b3", 9094)]), HintOutcome::Applied);
    assert!(!md.needs_refresh(at(3), MAX_AGE));
    assert_eq!(md.apply_leader_hint(pi, hint(9, 8), [node(8, "b8", 1)]), HintOutcome::UnknownLeader);
    assert_eq!(md.apply_leader_hint(pi, hint(9, 8), [node(9, "", 1)]), HintOutcome::UnknownLeader);
    assert_eq!((md.leader(pi), epoch(&md, t, 0)), (Some(3), 7));
    // Known broker (from the last apply), newer epoch, no endpoints: applied.
    assert_eq!(md.apply_leader_hint(pi, hint(2, 8), []), HintOutcome::Applied);

    // Unusable hints and foreign slots.
    assert_eq!(md.apply_leader_hint(pi, hint(-1, -1), []), HintOutcome::Invalid);
    assert_eq!(md.apply_leader_hint(PartitionIdx(3), hint(1, 99), []), HintOutcome::Invalid);
    assert_eq!(md.apply_leader_hint(PartitionIdx(999), hint(1, 99), []), HintOutcome::Invalid);

    // A full broker table: the hinted leader cannot be added.
    let mut md = cache(2, 1, 1);
    let t = md.add_topic("t", at(0)).unwrap();
    let _ = apply_bytes(&mut md, 12, &encode(12, &[], &[topic("t", ID_A, &[part(0, -1, 0)])]), at(1)).unwrap();
    let pi = md.partition(t, 0).unwrap();
    assert_eq!(md.apply_leader_hint(pi, hint(3, 6), [node(3, "b3", 1)]), HintOutcome::UnknownLeader);
}

#[test]
fn capacity_errors() {
    let mut md = cache(3, 2, 4);
    md.add_topic("a", at(0)).unwrap();
    let b = md.add_topic("b", at(0)).unwrap();
    assert_eq!(md.add_topic("c", at(0)), Err(MetadataError::TooManyTopics));
    for bad in ["", ".", "..", "a b", "tópico", "a/b", &"x".repeat(250)] {
        assert_eq!(md.add_topic(bad, at(0)), Err(MetadataError::InvalidTopicName), "{bad:?}");
    }
    assert_eq!(validate_topic_name(&"x".repeat(249)), Ok(()));
    assert_eq!(validate_topic_name("a.b_c-D9"), Ok(()));

    // Two bootstrap entries leave one slot for the cluster's two brokers: nothing is applied.
    md.begin_refresh(at(0));
    let bytes = encode(12, &BROKERS, &[topic("a", ID_A, &[part(0, 1, 0)])]);
    assert_eq!(apply_bytes(&mut md, 12, &bytes, at(1)), Err(MetadataError::TooManyBrokers));
    assert_eq!(md.brokers().count(), 2);
    assert_eq!(md.partition_count(md.topic("a").unwrap()), None);
    assert!(md.needs_refresh(at(1), MAX_AGE));

    // 5 partitions for 4 slots.
    let five: Vec<_> = (0..5).map(|p| part(p, 1, 0)).collect();
    let bytes = encode(12, &BROKERS[..1], &[topic("a", ID_A, &[part(0, 1, 0)]), topic("b", [0xb; 16], &five)]);
    let up = apply_bytes(&mut md, 12, &bytes, at(2)).unwrap();
    assert_eq!(up.capacity_error, Some(MetadataError::TooManyPartitions));
    assert_eq!(md.topic_slot(b).unwrap().state(), TopicState::TooManyPartitions);
    assert_eq!(md.partition_count(b), None);

    let e = MetadataError::TooManyPartitions;
    assert_eq!(e.to_string(), "too many partitions for the metadata partition slots");
    let _: &dyn core::error::Error = &e;
    assert!(MetadataError::Response(ErrorCode::RebootstrapRequired).to_string().contains("REBOOTSTRAP_REQUIRED"));
}

#[test]
fn too_many_resizes_wait_for_the_next_refresh() {
    let n = MAX_RESIZES + 1;
    let mut md = cache(4, n, 64);
    let names: Vec<String> = (0..n).map(|i| format!("t{i}")).collect();
    let one = [part(0, 1, 0)];
    let two = [part(0, 1, 0), part(1, 2, 0)];
    for name in &names {
        md.add_topic(name, at(0)).unwrap();
    }
    let topics: Vec<_> = names.iter().map(|n| topic(n, [0; 16], &one)).collect();
    refresh(&mut md, &topics, at(1));
    let topics: Vec<_> = names.iter().map(|n| topic(n, [0; 16], &two)).collect();
    let up = apply(&mut md, &topics, at(2));
    assert_eq!(up.resized.len(), MAX_RESIZES);
    assert!(md.needs_refresh(at(2), MAX_AGE));
    let last = md.topic(&names[n - 1]).unwrap();
    assert_eq!(md.partition_count(last), Some(1));
    let up = apply(&mut md, &topics, at(3));
    assert_eq!(up.resized.len(), 1);
    assert_eq!(md.partition_count(last), Some(2));
}

#[test]
fn hostile_values_never_panic() {
    let mut md = cache(4, 3, 8);
    let t = md.add_topic("t", at(0)).unwrap();
    md.add_topic("huge", at(0)).unwrap();
    let long = "h".repeat(300);
    let brokers = [
        node(-5, "neg", 1),
        node(3, "", 1),
        node(4, "p", 70000),
        node(5, "p", 0),
        node(6, &long, 1),
        node(1, "ok", 1),
        node(1, "dup", 2),
    ];
    let parts = [
        part(-1, 1, 0),
        part(7, 1, 0),
        part(i32::MAX, 1, 0),
        part(0, 1, 4),
        part(0, 1, 3),
        part(1, 1, 0),
        part(1, 2, 0),
    ];
    // "huge" announces 70,000 partitions (more than the u16 slot indices can hold).
    let huge: Vec<_> = (0..70_000).map(|p| part(p, 1, 0)).collect();
    let unnamed = MetadataResponseTopicData { name: None, ..topic("x", [1; 16], &parts) };
    let topics = [topic("t", ID_A, &parts), topic("huge", [0; 16], &huge), topic("unwanted", [0; 16], &parts), unnamed];
    let up = apply_bytes(&mut md, 12, &encode(12, &brokers, &topics), at(1)).unwrap();
    // Entries: -1, 7 and i32::MAX out of range; epoch 3 after 4 is stale; duplicates applied.
    assert_eq!(md.partition_count(t), Some(7), "the count is the number of entries");
    assert_eq!((up.ignored_partitions, up.stale_partitions), (3, 1));
    assert_eq!((leader(&md, t, 0), epoch(&md, t, 0)), (Some(1), 4));
    assert_eq!(leader(&md, t, 1), Some(2));
    assert_eq!(leader(&md, t, 5), None, "never described");
    assert_eq!(up.capacity_error, Some(MetadataError::TooManyPartitions));
    assert_eq!(md.topics().count(), 2, "unwanted and unnamed topics are skipped");
    let ids: Vec<_> = md.brokers().map(|b| (b.node_id, b.host.to_string())).collect();
    assert_eq!(ids, [(-1, "boot1".to_owned()), (-2, "boot2".to_owned()), (1, "dup".to_owned())]);

    // Stale indices from the engine.
    let gone = TopicIdx(2);
    assert_eq!((md.topic_slot(gone), md.topic_name(gone), md.partition_count(gone)), (None, None, None));
    assert_eq!((md.topic_state(gone), md.topic_id(gone), md.topic_by_id(&[0; 16])), (TopicState::Unused, None, None));
    assert_eq!(md.partition(gone, 0), None);
    assert_eq!(md.partition(t, u32::MAX), None);
    assert_eq!((md.leader(PartitionIdx(u16::MAX)), md.partition_location(PartitionIdx(7))), (None, None));
    assert!(md.sticky_mut(gone).is_none());
    md.remove_topic(gone);
    md.touch(TopicIdx(u16::MAX), at(2));

    // Every decodable prefix-mutation of a response applies or fails cleanly.
    let base = encode(12, &BROKERS, &[topic("t", ID_A, &[part(0, 1, 9), part(1, 2, 9)])]);
    for i in 0..base.len() {
        for v in [0u8, 1, 0x7f, 0x80, 0xff] {
            let mut bytes = base.clone();
            bytes[i] = v;
            if let Ok(resp) = MetadataResponse::decode(12, &bytes) {
                let _ = md.apply(&resp, at(3));
            }
        }
    }
}

#[test]
fn old_versions_and_sticky() {
    let mut md = cache(4, 1, 4);
    let t = md.add_topic("t", at(0)).unwrap();
    for v in [0, 1, 4, 9] {
        let bytes = encode(v, &BROKERS, &[topic("t", [0; 16], &[part(0, 2, 3), part(1, 1, 3)])]);
        let _ = apply_bytes(&mut md, v, &bytes, at(1)).unwrap();
        assert_eq!(leader(&md, t, 0), Some(2), "v{v}");
    }
    let mut rng = Rng::new(1);
    let sticky = md.sticky_mut(t).unwrap();
    let p = sticky.partition(2, &mut rng, |_| true, |_| Some(0));
    assert!(p < 2);
    assert_eq!(md.sticky_mut(t).unwrap().partition(2, &mut rng, |_| true, |_| Some(0)), p, "state is kept");
}

#[test]
#[cfg(target_pointer_width = "64")]
fn slot_sizes_match_the_module_docs() {
    assert_eq!(size_of::<BrokerSlot>(), 264);
    assert_eq!(size_of::<TopicSlot>(), 304);
    assert_eq!(size_of::<PartitionSlot>(), 16);
}

/// `partition_span` bounds the engine's scans over partitions: every partition with a topic
/// lies below it, and it follows topics as they come, grow and go.
#[test]
fn partition_span_covers_every_used_partition() {
    let mut md = cache(4, 4, 32);
    let span_ok = |md: &Metadata<'_>| {
        let used = (0..md.partition_capacity() as u16)
            .filter(|&i| md.partition_location(PartitionIdx(i)).is_some())
            .map(|i| usize::from(i) + 1)
            .max()
            .unwrap_or(0);
        assert_eq!(md.partition_span(), used);
    };
    assert_eq!(md.partition_span(), 0);
    let a = md.add_topic("a", at(0)).unwrap();
    let b = md.add_topic("b", at(0)).unwrap();
    let (pa, pb) = ([part(0, 1, 1), part(1, 1, 1)], [part(0, 1, 1), part(1, 1, 1), part(2, 1, 1)]);
    let _ = apply(&mut md, &[topic("a", ID_A, &pa), topic("b", [0xb; 16], &pb)], at(10));
    span_ok(&md);
    assert_eq!(md.partition_span(), 5);
    // "a" grows past the block it had: it moves behind "b", and the span follows.
    let pa4 = [part(0, 1, 1), part(1, 1, 1), part(2, 1, 1), part(3, 1, 1)];
    let _ = apply(&mut md, &[topic("a", ID_A, &pa4), topic("b", [0xb; 16], &pb)], at(20));
    span_ok(&md);
    assert!(md.partition_span() > 5);
    md.remove_topic(a);
    span_ok(&md);
    md.remove_topic(b);
    assert_eq!(md.partition_span(), 0);
}

/// Java's `PartitionInfo` sets: each partition keeps the replicas, ISR and offline replicas of the
/// last response that described it; a stale entry does not overwrite them, and a recreated topic
/// forgets the old ones.
#[test]
fn replica_sets_follow_the_accepted_entries() {
    let mut md = cache(4, 2, 8);
    let t = md.add_topic("t", at(0)).unwrap();
    let with_sets = |index, leader, epoch, replicas, isr, offline| MetadataResponsePartitionData {
        replica_nodes: replicas,
        isr_nodes: isr,
        offline_replicas: offline,
        ..part(index, leader, epoch)
    };
    let first =
        [with_sets(0, 1, 3, &[1, 2, 3][..], &[1, 2, 3][..], &[][..]), with_sets(1, 2, 3, &[2, 3, 1], &[2], &[3])];
    refresh(&mut md, &[topic("t", ID_A, &first)], at(1));
    let sets = md.replicas(t, 1).unwrap();
    assert_eq!((&sets.replicas[..], &sets.isr[..], &sets.offline[..]), (&[2, 3, 1][..], &[2][..], &[3][..]));
    assert_eq!(md.replicas(t, 0).unwrap().isr, [1, 2, 3]);
    // A lagging broker's older epoch changes nothing.
    let stale = [with_sets(0, 1, 2, &[1], &[1], &[]), with_sets(1, 2, 3, &[2, 3, 1], &[2, 3], &[])];
    refresh(&mut md, &[topic("t", ID_A, &stale)], at(2));
    assert_eq!(md.replicas(t, 0).unwrap().isr, [1, 2, 3]);
    assert_eq!(md.replicas(t, 1).unwrap().isr, [2, 3]);
    // Recreated with one partition: partition 1's sets are gone.
    refresh(&mut md, &[topic("t", [0xb; 16], &[with_sets(0, 3, 0, &[3], &[3], &[])])], at(3));
    assert_eq!(md.replicas(t, 0).unwrap().replicas, [3]);
    assert_eq!(md.replicas(t, 1), None);
}

/// `topic` finds every wanted topic by name (the by-name index with a heap follows adds and
/// removals), and no longer a removed one, whose slot a new topic then takes.
#[test]
fn topics_are_found_by_name_across_adds_and_removals() {
    let mut md = cache(2, 300, 300);
    let names: Vec<String> = (0..300).map(|i| format!("topic-{i}")).collect();
    let idx: Vec<TopicIdx> = names.iter().map(|n| md.add_topic(n, at(0)).unwrap()).collect();
    for (n, &t) in names.iter().zip(&idx) {
        assert_eq!(md.topic(n), Some(t), "{n}");
        assert_eq!(md.topic_name(t), Some(n.as_str()));
    }
    assert_eq!(md.topic("topic-300"), None);
    md.remove_topic(idx[7]);
    assert_eq!(md.topic("topic-7"), None);
    let other = md.add_topic("other", at(1)).unwrap();
    assert_eq!((other, md.topic("other")), (idx[7], Some(idx[7])), "the freed slot is reused");
    assert_eq!(md.add_topic("topic-8", at(2)), Ok(idx[8]), "an existing topic keeps its slot");
    assert_eq!(md.topics().count(), 300);
}

/// A refresh that only new topics ask for names just them (KIP-526) and leaves the age of the
/// last full refresh alone; an invalidation makes the next refresh full again.
#[test]
fn new_topics_get_a_partial_refresh_of_their_own() {
    const ID_B: [u8; 16] = [0xb; 16];
    let mut md = cache(4, 4, 16);
    let a = md.add_topic("a", at(0)).unwrap();
    assert!(!md.partial_refresh(at(0), MAX_AGE), "the first refresh is full");
    refresh(&mut md, &[topic("a", ID_A, &[part(0, 1, 5)])], at(1));
    let b = md.add_topic("b", at(2)).unwrap();
    assert!(md.partial_refresh(at(2), MAX_AGE));
    let names: Vec<_> = md.request_topics(true).collect();
    assert_eq!(names, [MetadataRequestTopic::named("b")]);
    assert_eq!(md.request_topics(false).count(), 2, "a full refresh names both");
    md.refresh_sent(0, at(3), true);
    let _ = apply_bytes(&mut md, 12, &encode(12, &BROKERS, &[topic("b", ID_B, &[part(0, 2, 5)])]), at(4)).unwrap();
    assert_eq!(md.topic_slot(b).unwrap().state(), TopicState::Known);
    assert_eq!(leader(&md, a, 0), Some(1), "a partial answer leaves the other topics alone");
    assert_eq!(md.next_refresh_at(MAX_AGE), Some(at(1) + MAX_AGE), "the age runs from the last full refresh");
    assert!(!md.partial_refresh(at(1) + MAX_AGE, MAX_AGE), "due by age: full");
    md.add_topic("c", at(5)).unwrap();
    md.invalidate_all();
    assert!(!md.partial_refresh(at(5), MAX_AGE), "an invalidation asks about every topic");
}
