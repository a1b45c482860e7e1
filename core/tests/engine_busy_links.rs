//! `Links::can_take_on`: a connection whose link still holds unwritten bytes gets no frame in
//! the drain, while the other connections do (one slow broker does not hold up the rest), and
//! the drain reports a backlog only when the connection passed over has a Produce request
//! ready or nothing in flight (acks=0). Two brokers answered here with the crate's own response
//! encoders; the engine is driven only through its public drain loop.
#![cfg(feature = "alloc")] // Storage::with_capacity

use core::time::Duration;

use kprod_core::config::{Acks, Config};
use kprod_core::producer::{
    Budget, Completion, ConnError, ConnId, Connecting, Drained, FatalError, Links, Producer, ProducerRecord, Storage,
    Transmit,
};
use kprod_core::protocol::api_versions::{ApiVersion, ApiVersionsResponseData};
use kprod_core::protocol::metadata::{MetadataResponseData, MetadataResponsePartitionData, MetadataResponseTopicData};
use kprod_core::protocol::{encode_response, split_frame, ApiKey, EncodeResponse, ErrorCode, Node, RequestHeader};
use kprod_core::time::Instant;

/// The driver side: every connect succeeds at once, frames are kept with their connection, and
/// the link of the connection to `busy_host` (if any) still holds bytes.
#[derive(Default)]
struct FakeLinks {
    tx: Vec<u8>,
    hosts: Vec<(ConnId, String)>,
    frames: Vec<(ConnId, Vec<u8>)>,
    busy_host: Option<&'static str>,
}

impl FakeLinks {
    fn host(&self, conn: ConnId) -> &str {
        self.hosts.iter().rev().find(|(c, _)| *c == conn).map_or("", |(_, h)| h)
    }

    /// The API of each frame taken since the last call, with its connection's host.
    fn taken(&mut self) -> Vec<(String, ApiKey)> {
        let frames = core::mem::take(&mut self.frames);
        frames.iter().map(|(c, f)| (self.host(*c).to_owned(), header(f).0)).collect()
    }
}

impl Links for FakeLinks {
    fn tx_buffer(&mut self) -> &mut [u8] {
        &mut self.tx
    }
    fn grow_tx(&mut self, needed: usize) -> bool {
        self.tx.resize(needed, 0);
        true
    }
    fn can_take(&self) -> bool {
        true
    }
    fn can_take_on(&self, conn: ConnId) -> bool {
        self.busy_host.is_none_or(|h| self.host(conn) != h)
    }
    fn take(&mut self, t: Transmit, _now: Instant) -> bool {
        self.frames.push((t.conn, self.tx[..t.len].to_vec()));
        true
    }
    fn connect(&mut self, conn: ConnId, host: &str, _port: u16, now: Instant) -> Connecting {
        self.hosts.push((conn, host.to_owned()));
        Connecting::Connected(now)
    }
    fn close(&mut self, _conn: ConnId) {}
    fn completed(&mut self, _completion: Completion<&str>) {}
    fn connection_failed(&mut self, conn: ConnId, error: ConnError) {
        panic!("connection {conn:?} failed: {error}");
    }
    fn fatal(&mut self, error: FatalError) {
        panic!("fatal: {error}");
    }
}

/// The API key, version and correlation id of a request frame.
fn header(frame: &[u8]) -> (ApiKey, i16, i32) {
    let (body, _) = split_frame(frame, usize::MAX).expect("a frame").expect("a whole frame");
    let (h, _) = RequestHeader::decode(body).expect("a request header");
    (h.api_key, h.api_version, h.correlation_id)
}

fn respond<R: EncodeResponse>(version: i16, corr: i32, body: &R) -> Vec<u8> {
    let mut out = Vec::new();
    encode_response(&mut out, version, corr, body).expect("encodes");
    out
}

/// Two brokers: `t`-0 is led by broker 1 (`b1`), `t`-1 by broker 2 (`b2`).
fn answer(frame: &[u8]) -> Option<Vec<u8>> {
    let (api, version, corr) = header(frame);
    match api {
        ApiKey::ApiVersions => {
            let keys = [
                ApiVersion { api_key: ApiKey::Produce, min_version: 3, max_version: 11 },
                ApiVersion { api_key: ApiKey::Metadata, min_version: 0, max_version: 12 },
                ApiVersion { api_key: ApiKey::ApiVersions, min_version: 0, max_version: 3 },
                ApiVersion { api_key: ApiKey::InitProducerId, min_version: 0, max_version: 5 },
            ];
            Some(respond(version, corr, &ApiVersionsResponseData::new(ErrorCode::None, &keys)))
        }
        ApiKey::Metadata => {
            let brokers = [
                Node { node_id: 1, host: "b1", port: 9092, rack: None },
                Node { node_id: 2, host: "b2", port: 9092, rack: None },
            ];
            let part = |index: i32, leader: i32| MetadataResponsePartitionData {
                error_code: ErrorCode::None,
                partition_index: index,
                leader_id: leader,
                leader_epoch: 1,
                replica_nodes: &[],
                isr_nodes: &[],
                offline_replicas: &[],
            };
            let partitions = [part(0, 1), part(1, 2)];
            let topics = [MetadataResponseTopicData {
                error_code: ErrorCode::None,
                name: Some("t"),
                topic_id: [7; 16],
                is_internal: false,
                partitions: &partitions,
                topic_authorized_operations: i32::MIN,
            }];
            let data = MetadataResponseData {
                throttle_time_ms: 0,
                brokers: &brokers,
                cluster_id: None,
                controller_id: 1,
                topics: &topics,
                cluster_authorized_operations: i32::MIN,
                error_code: ErrorCode::None,
            };
            Some(respond(version, corr, &data))
        }
        _ => None,
    }
}

/// Drains once, then answers every ApiVersions and Metadata request taken (Produce requests
/// stay unanswered), until a drain takes no frame. Returns the frames taken and the last drain.
fn settle(p: &mut Producer<'_>, links: &mut FakeLinks, now: Instant) -> (Vec<(String, ApiKey)>, Drained) {
    let mut taken = Vec::new();
    loop {
        let drained = p.drain(links, now, Budget::UNLIMITED);
        let frames = links.frames.clone();
        taken.extend(links.taken());
        if frames.is_empty() {
            return (taken, drained);
        }
        for (conn, frame) in frames {
            if let Some(mut response) = answer(&frame) {
                let used = p.handle_read(conn, &response, now);
                response.drain(..used);
                assert!(response.is_empty(), "the engine read the whole answer");
            }
        }
    }
}

fn record(partition: u32) -> ProducerRecord<'static> {
    ProducerRecord { topic: "t", partition: Some(partition), key: None, value: Some(b"v"), headers: &[], timestamp: 0 }
}

fn produced(taken: &[(String, ApiKey)], host: &str) -> usize {
    taken.iter().filter(|(h, api)| h == host && *api == ApiKey::Produce).count()
}

/// A producer with `acks` and linger 0 that knows the two brokers' metadata, and its links
/// (the link to `b1` busy).
fn producer(acks: Acks) -> (Producer<'static>, FakeLinks) {
    let config = Config { acks, enable_idempotence: Some(false), linger: Duration::ZERO, ..Config::default() };
    let storage = Storage::with_capacity(&config, Default::default());
    let mut p = Producer::new(config.validate().unwrap(), &[("boot", 9092)], storage, Instant::ZERO).unwrap();
    let mut links = FakeLinks { tx: vec![0; 4096], busy_host: Some("b1"), ..FakeLinks::default() };
    let now = Instant::from_millis(1);
    assert!(p.send(&record(0), now).is_err(), "no metadata yet");
    let _ = settle(&mut p, &mut links, now);
    (p, links)
}

#[test]
fn a_busy_link_holds_its_requests_and_not_the_other_brokers() {
    let (mut p, mut links) = producer(Acks::Leader);
    // The metadata is known: both partitions take a record, ready at once (linger 0), and
    // both brokers' connections come up and shake hands.
    let mut now = Instant::from_millis(2);
    p.send(&record(0), now).expect("t-0 takes the record");
    p.send(&record(1), now).expect("t-1 takes the record");
    let (taken, drained) = settle(&mut p, &mut links, now);
    assert_eq!(produced(&taken, "b2"), 1, "broker 2's request goes: {taken:?}");
    assert_eq!(produced(&taken, "b1"), 0, "broker 1's link is busy: its request waits: {taken:?}");
    assert!(drained.backlog, "a request waits on the busy link: the driver must call again");
    // Its link has written: the request goes, and nothing waits any more.
    links.busy_host = None;
    let (taken, drained) = settle(&mut p, &mut links, now);
    assert_eq!(produced(&taken, "b1"), 1, "{taken:?}");
    assert!(!drained.backlog);
    // A busy link with nothing ready for it is no backlog.
    links.busy_host = Some("b2");
    let (taken, drained) = settle(&mut p, &mut links, now);
    assert!(taken.is_empty() && !drained.backlog, "{taken:?} {drained:?}");
    // The busy marks last only as long as the drain: `poll_transmit` alone sees every link.
    now = Instant::from_millis(3);
    p.send(&record(1), now).expect("t-1 takes another record");
    let mut tx = vec![0; 4096];
    let t = p.poll_transmit(now, &mut tx).expect("fits").expect("broker 2's second request goes");
    assert_eq!(links.host(t.conn), "b2");
}

/// With acks=0 a Produce request is not in flight: no answer will call the drain again, so a busy
/// link is a backlog even with nothing ready for it (what else it may carry, a metadata refresh,
/// goes once it has written).
#[test]
fn a_busy_link_with_nothing_in_flight_is_a_backlog() {
    let (mut p, mut links) = producer(Acks::None);
    let now = Instant::from_millis(2);
    p.send(&record(0), now).expect("t-0 takes the record");
    links.busy_host = None;
    let (taken, _) = settle(&mut p, &mut links, now);
    assert_eq!(produced(&taken, "b1"), 1, "{taken:?}");
    links.busy_host = Some("b1");
    let (taken, drained) = settle(&mut p, &mut links, now);
    assert!(taken.is_empty(), "{taken:?}");
    assert!(drained.backlog, "nothing in flight on the busy link: the driver must call again once it has written");
}
