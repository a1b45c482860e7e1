//! Real-broker proof of kprod's record batches: batches built by kprod's
//! [`BatchBuilder`] with every codec go to a real Kafka broker in Produce
//! requests encoded by kprod-core (through the test-only
//! [`kprod_tests::wire_client`]), and the independent verifier (kafka-python)
//! reads them back. Every field is compared with what the test meant to send:
//! partition, offset, timestamp, timestamp type, key, value and headers.
//!
//! Expectations are computed here from the test's own inputs ([`Spec`]s);
//! the only thing taken from the broker is the base offset of each append,
//! which is itself checked against the count of records sent before.
//!
//! Covered, per codec (one 3-partition topic each): mixed content (null and
//! empty keys and values, a record with both null, duplicate header keys,
//! null and empty header values, UTF-8 header keys, distinct and
//! non-monotonic timestamps) at the newest Produce version the broker and
//! kprod share, at v3 (v7 for zstd, the first version allowed to carry it;
//! zstd at v3 must be refused with `UNSUPPORTED_COMPRESSION_TYPE`) and at v9
//! (the first flexible one); a single record (acks=1); empty values;
//! 10,000 records in 16 KiB batches over 3 partitions, several partitions per
//! request, versions and acks (all, 1) alternating; and acks=0, whose batch
//! must be in the log although no response comes. Separately: a 1 MiB value
//! with every codec (topic with `max.message.bytes` = 2 MiB; the default
//! limit must refuse it with `MESSAGE_TOO_LARGE`), "0 records" (an empty
//! batch, and a partition with no batch at all), and the ApiVersions
//! `UNSUPPORTED_VERSION` fallback of the wire client.

extern crate alloc;

use alloc::collections::BTreeMap;
use core::time::Duration;
use std::time::Instant;

use kprod_core::compression::Compression;
use kprod_core::protocol::{ApiKey, ErrorCode};
use kprod_core::record::{AppendError, BatchBuilder, BatchConfig, Header, ProducerState, Record};
use kprod_tests::wire_client::{Leaders, PartitionResult, TopicMetadata, WireClient};
use kprod_tests::{unique_topic, Broker, ConsumedRecord};

/// Base of every timestamp written here (2023-11-14), well inside the
/// broker's default timestamp bounds.
const BASE_TS: i64 = 1_700_000_000_000;

/// The first flexible Produce version.
const FLEXIBLE: i16 = 9;

const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// One record as the test means it: the input of kprod's builder and of the
/// expectation alike.
#[derive(Debug, Clone)]
struct Spec {
    timestamp: i64,
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
}

/// Record `i` of the mixed content; `seed` makes the content of each use
/// different.
fn mixed(seed: i64, i: usize) -> Spec {
    let n = i as i64;
    // Distinct (37 does not divide 1000 * k for 0 < |k| < 5) and not
    // monotonic, so timestamp deltas are negative too.
    let timestamp = BASE_TS + seed * 1_000_000 + n * 37 - (n % 5) * 1_000;
    let key = match i % 7 {
        0 => None,
        1 => Some(Vec::new()),
        2 => Some(vec![0x00, 0xff, i as u8, 0x80]),
        _ => Some(format!("key-{seed}-{i}").into_bytes()),
    };
    let value = match i % 11 {
        0 => None,
        1 => Some(Vec::new()),
        _ => Some(
            format!("value {seed}/{i}; ")
                .repeat(1 + (i * 13) % 40)
                .into_bytes(),
        ),
    };
    let headers = match i % 4 {
        0 => Vec::new(),
        1 => vec![("trace".to_owned(), Some(format!("t-{i}").into_bytes()))],
        2 => vec![
            ("dup".to_owned(), Some(b"1".to_vec())),
            ("dup".to_owned(), None),
            ("dup".to_owned(), Some(Vec::new())),
            ("other".to_owned(), Some(vec![0xff, 0x00])),
        ],
        _ => vec![
            ("ключ-ü-🦀".to_owned(), Some("значение".as_bytes().to_vec())),
            (String::new(), None),
            ("キー".to_owned(), Some(vec![0xc3, 0x28])),
        ],
    };
    Spec {
        timestamp,
        key,
        value,
        headers,
    }
}

/// Record `i` of the 10,000-record run.
fn bulk(i: usize) -> Spec {
    let headers = if i % 10 == 0 {
        vec![("i".to_owned(), Some(i.to_string().into_bytes()))]
    } else {
        Vec::new()
    };
    Spec {
        timestamp: BASE_TS + i as i64,
        key: (i % 100 != 0).then(|| format!("k{i}").into_bytes()),
        value: Some(format!("value {i} ").repeat(1 + i % 8).into_bytes()),
        headers,
    }
}

/// A sealed batch and what went in.
struct Built {
    bytes: Vec<u8>,
    specs: Vec<Spec>,
    compression: Compression,
}

/// Batches of `specs` built by kprod's builder: a new batch whenever the
/// builder says `Full`.
fn build(codec: Compression, batch_size: usize, specs: &[Spec]) -> Vec<Built> {
    let largest = specs
        .iter()
        .map(|s| {
            let h: usize = s
                .headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, Vec::len) + 10)
                .sum();
            s.key.as_ref().map_or(0, Vec::len) + s.value.as_ref().map_or(0, Vec::len) + h + 64
        })
        .max()
        .unwrap_or(0);
    let buf_len = batch_size.max(largest + 61);
    let config = BatchConfig {
        compression: codec,
        ..BatchConfig::new(batch_size)
    };
    let new = || BatchBuilder::new(vec![0u8; buf_len], config).expect("builder");
    let mut scratch = Vec::new();
    let mut out = Vec::new();
    let mut builder = new();
    let mut taken: Vec<Spec> = Vec::new();
    for spec in specs {
        let headers: Vec<Header<'_>> = spec
            .headers
            .iter()
            .map(|(k, v)| Header {
                key: k,
                value: v.as_deref(),
            })
            .collect();
        let record = Record {
            timestamp: spec.timestamp,
            key: spec.key.as_deref(),
            value: spec.value.as_deref(),
            headers: &headers,
        };
        match builder.append(&record) {
            Ok(()) => {}
            Err(AppendError::Full) => {
                let full = core::mem::replace(&mut builder, new());
                let done = full.finish_with_vec(ProducerState::NONE, &mut scratch).expect("a full batch has records");
                out.push(Built {
                    bytes: done.as_bytes().to_vec(),
                    specs: core::mem::take(&mut taken),
                    compression: done.compression(),
                });
                builder
                    .append(&record)
                    .expect("a record fits an empty batch");
            }
            Err(e) => panic!("append: {e}"),
        }
        taken.push(spec.clone());
    }
    if !builder.is_empty() {
        let done = builder.finish_with_vec(ProducerState::NONE, &mut scratch).expect("checked non-empty");
        out.push(Built {
            bytes: done.as_bytes().to_vec(),
            specs: taken,
            compression: done.compression(),
        });
    }
    out
}

/// One batch holding all of `specs`, compressed with `codec` (checked: the
/// content is meant to compress).
fn one_batch(codec: Compression, specs: &[Spec]) -> Built {
    let mut batches = build(codec, 4 * 1024 * 1024, specs);
    assert_eq!(batches.len(), 1, "one batch");
    let b = batches.pop().expect("one batch");
    assert_eq!(
        b.compression, codec,
        "the content compresses, so the codec is used"
    );
    b
}

/// A topic under test: its metadata, connections to the leaders, and the
/// log the test expects, built as batches are acknowledged.
struct Log {
    topic: TopicMetadata,
    leaders: Leaders,
    next_offset: Vec<i64>,
    expected: Vec<ConsumedRecord>,
}

impl Log {
    fn new(bootstrap: &mut WireClient, topic: &str) -> Self {
        let topic = bootstrap.metadata(topic).expect("metadata");
        Self {
            next_offset: vec![0; topic.partitions.len()],
            topic,
            leaders: Leaders::new(),
            expected: Vec::new(),
        }
    }

    /// Sends each `(partition, bytes)` to its leader, one Produce per
    /// leader, and returns the results in the order of `data` (none with
    /// acks=0).
    ///
    /// A partition answered with an error that means "not appended, ask
    /// again" (`NOT_LEADER_OR_FOLLOWER`, `LEADER_NOT_AVAILABLE`,
    /// `UNKNOWN_TOPIC_OR_PARTITION`) is sent again after a metadata refresh,
    /// for up to 15 s, as any producer would: a just-created topic can be in
    /// the broker's metadata a moment before its partitions are ready.
    fn request(&mut self, data: &[(i32, &[u8])], acks: i16, version: i16) -> Vec<PartitionResult> {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut done: Vec<Option<PartitionResult>> = vec![None; data.len()];
        let mut pending: Vec<usize> = (0..data.len()).collect();
        while !pending.is_empty() {
            let mut by_leader: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
            for &i in &pending {
                let leader = self.topic.leader(data[i].0).expect("leader").node_id;
                by_leader.entry(leader).or_default().push(i);
            }
            let mut again = Vec::new();
            for group in by_leader.values() {
                let part: Vec<(i32, &[u8])> = group.iter().map(|&i| data[i]).collect();
                let client = self
                    .leaders
                    .for_partition(&self.topic, part[0].0)
                    .expect("connect to the leader");
                let results = client
                    .produce_many(&self.topic, &part, acks, version)
                    .unwrap_or_else(|e| panic!("Produce v{version} acks={acks}: {e}"));
                if acks == 0 {
                    assert!(results.is_empty(), "no response with acks=0");
                    continue;
                }
                for (r, &i) in results.into_iter().zip(group) {
                    let not_appended = matches!(
                        r.error_code,
                        ErrorCode::NotLeaderOrFollower
                            | ErrorCode::LeaderNotAvailable
                            | ErrorCode::UnknownTopicOrPartition
                    );
                    if not_appended && Instant::now() < deadline {
                        eprintln!(
                            "{}-{}: {}, sending again",
                            self.topic.name, r.index, r.error_code
                        );
                        again.push(i);
                    } else {
                        done[i] = Some(r);
                    }
                }
            }
            if !again.is_empty() {
                std::thread::sleep(Duration::from_millis(100));
                let name = self.topic.name.clone();
                let p = data[again[0]].0;
                let client = self.leaders.for_partition(&self.topic, p).expect("leader");
                self.topic = client.metadata(&name).expect("metadata");
            }
            pending = again;
        }
        done.into_iter().flatten().collect()
    }

    /// Sends each `(partition, batch)` ([`Log::request`]) and checks that
    /// every batch was appended where the log ends. With acks=0 nothing is
    /// checked, but the records are expected all the same.
    fn send(&mut self, batches: &[(i32, &Built)], acks: i16, version: i16) {
        let data: Vec<(i32, &[u8])> = batches
            .iter()
            .map(|&(p, b)| (p, b.bytes.as_slice()))
            .collect();
        let results = self.request(&data, acks, version);
        if acks != 0 {
            assert_eq!(results.len(), batches.len());
            for (r, &(p, _)) in results.iter().zip(batches) {
                self.check_appended(r, p, version);
            }
        }
        for &(p, b) in batches {
            self.expect(p, &b.specs);
        }
    }

    /// [`Log::request`] for one partition with acks=all: the broker's answer.
    fn request_one(&mut self, partition: i32, bytes: &[u8], version: i16) -> PartitionResult {
        let mut r = self.request(&[(partition, bytes)], -1, version);
        assert_eq!(r.len(), 1);
        r.pop().expect("one result")
    }

    fn check_appended(&self, r: &PartitionResult, partition: i32, version: i16) {
        let at = format!("{}-{partition} (Produce v{version})", self.topic.name);
        assert_eq!(r.index, partition, "{at}");
        assert_eq!(r.error_code, ErrorCode::None, "{at}: {:?}", r.error_message);
        assert!(r.record_errors.is_empty(), "{at}: {:?}", r.record_errors);
        assert_eq!(r.error_message, None, "{at}");
        assert_eq!(
            r.base_offset, self.next_offset[partition as usize],
            "{at}: base offset"
        );
        assert_eq!(r.log_append_time_ms, -1, "{at}: CreateTime topic");
        if version >= 5 {
            assert_eq!(r.log_start_offset, 0, "{at}: log start offset");
        }
    }

    /// Records the expectation for `specs` appended to `partition`.
    fn expect(&mut self, partition: i32, specs: &[Spec]) {
        let next = &mut self.next_offset[partition as usize];
        for s in specs {
            self.expected.push(ConsumedRecord {
                topic: self.topic.name.clone(),
                partition,
                offset: *next,
                timestamp: s.timestamp,
                timestamp_type: 0,
                key: s.key.clone(),
                value: s.value.clone(),
                headers: s.headers.clone(),
            });
            *next += 1;
        }
    }

    /// Reads the topic back with the verifier and compares every record.
    fn verify(mut self, broker: &Broker) {
        let got = broker.read_back(&self.topic.name, self.expected.len(), READ_TIMEOUT);
        self.expected.sort_by_key(|r| (r.partition, r.offset));
        compare(&got, &self.expected);
    }
}

fn compare(got: &[ConsumedRecord], want: &[ConsumedRecord]) {
    assert_eq!(
        got.len(),
        want.len(),
        "record count (no loss, no duplicates)"
    );
    for (g, w) in got.iter().zip(want) {
        let at = format!("{} partition {} offset {}", w.topic, w.partition, w.offset);
        assert_eq!(g.topic, w.topic, "topic at {at}");
        assert_eq!(
            (g.partition, g.offset),
            (w.partition, w.offset),
            "position at {at}"
        );
        assert_eq!(g.timestamp, w.timestamp, "timestamp at {at}");
        assert_eq!(g.timestamp_type, w.timestamp_type, "timestamp type at {at}");
        assert_eq!(g.key, w.key, "key at {at}");
        assert_eq!(g.value, w.value, "value at {at}");
        assert_eq!(g.headers, w.headers, "headers at {at}");
    }
}

fn bootstrap_client(broker: &Broker) -> WireClient {
    let first = broker
        .bootstrap()
        .split(',')
        .next()
        .expect("a bootstrap address");
    WireClient::connect(first).expect("connect")
}

/// The newest Produce version kprod and the broker share.
fn newest_produce(client: &WireClient) -> i16 {
    let v = client
        .choose(ApiKey::Produce)
        .expect("a common Produce version");
    assert!(v >= FLEXIBLE, "Kafka 4.x speaks flexible Produce, got v{v}");
    v
}

fn codec_round_trip(codec: Compression) {
    let broker = Broker::shared();
    let topic = unique_topic(&format!("codec-{}", codec.name()));
    broker.create_topic(&topic, 3, 1);
    let mut client = bootstrap_client(broker);
    let newest = newest_produce(&client);
    // zstd needs Produce v7.
    let oldest = codec.min_produce_version().max(3);
    let versions = [newest, oldest, FLEXIBLE];
    let mut log = Log::new(&mut client, &topic);

    // Mixed content, one batch per partition, one Produce version each.
    for (p, &version) in versions.iter().enumerate() {
        let specs: Vec<Spec> = (0..120).map(|i| mixed(p as i64, i)).collect();
        assert!(specs.iter().any(|s| s.key.is_none() && s.value.is_none()));
        let batch = one_batch(codec, &specs);
        log.send(&[(p as i32, &batch)], -1, version);
    }

    // zstd below v7: refused with a typed error, nothing appended (the next
    // append's base offset shows it).
    if codec == Compression::Zstd {
        let batch = one_batch(codec, &[mixed(9, 3), mixed(9, 4)]);
        let r = log.request_one(0, &batch.bytes, 3);
        assert_eq!(
            r.error_code,
            ErrorCode::UnsupportedCompressionType,
            "zstd at v3: {r:?}"
        );
    }

    // A single record, acks=1.
    let single = one_batch(
        codec,
        &[Spec {
            timestamp: BASE_TS - 1,
            key: Some(b"only".to_vec()),
            value: Some(b"the only record of its batch. ".repeat(8)),
            headers: vec![("h".into(), None)],
        }],
    );
    log.send(&[(0, &single)], 1, newest);

    // Empty values (empty and null keys too), flexible version.
    let empties: Vec<Spec> = (0..50)
        .map(|i| Spec {
            timestamp: BASE_TS + 5_000 + i as i64,
            key: match i % 3 {
                0 => None,
                1 => Some(Vec::new()),
                _ => Some(b"k".to_vec()),
            },
            value: Some(Vec::new()),
            headers: vec![("e".into(), Some(Vec::new()))],
        })
        .collect();
    let built = build(codec, 1024 * 1024, &empties);
    assert_eq!(built.len(), 1);
    log.send(&[(1, &built[0])], -1, FLEXIBLE);

    // 10,000 records, record i to partition i % 3, in 16 KiB batches; each
    // request carries the next batch of every partition that has one, with
    // the version and acks alternating.
    let per_partition: Vec<Vec<Built>> = (0..3)
        .map(|p| {
            let specs: Vec<Spec> = (p..10_000).step_by(3).map(bulk).collect();
            build(codec, 16 * 1024, &specs)
        })
        .collect();
    let rounds = per_partition
        .iter()
        .map(Vec::len)
        .max()
        .expect("3 partitions");
    assert!(
        per_partition.iter().all(|b| b.len() >= 2),
        "several batches per partition"
    );
    let sent: usize = per_partition.iter().flatten().map(|b| b.specs.len()).sum();
    assert_eq!(sent, 10_000);
    for round in 0..rounds {
        let batches: Vec<(i32, &Built)> = per_partition
            .iter()
            .enumerate()
            .filter_map(|(p, bs)| bs.get(round).map(|b| (p as i32, b)))
            .collect();
        let acks = if round % 2 == 0 { -1 } else { 1 };
        log.send(&batches, acks, versions[round % 3]);
    }
    if codec != Compression::None {
        assert!(
            per_partition
                .iter()
                .flatten()
                .all(|b| b.compression == codec),
            "every bulk batch compressed"
        );
    }

    // acks=0: no response; a later acknowledged append on the same
    // connection must start after it, and the verifier must see it.
    let quiet: Vec<Spec> = (0..25).map(|i| mixed(7, i)).collect();
    let quiet = one_batch(codec, &quiet);
    log.send(&[(2, &quiet)], 0, newest);
    let after = one_batch(codec, &[mixed(8, 5)]);
    log.send(&[(2, &after)], -1, newest);

    log.verify(broker);
}

#[test]
fn codec_none() {
    codec_round_trip(Compression::None);
}

#[test]
fn codec_gzip() {
    codec_round_trip(Compression::Gzip);
}

#[test]
fn codec_snappy() {
    codec_round_trip(Compression::Snappy);
}

#[test]
fn codec_lz4() {
    codec_round_trip(Compression::Lz4);
}

#[test]
fn codec_zstd() {
    codec_round_trip(Compression::Zstd);
}

/// `len` bytes from xorshift64 seeded with `seed`: random bytes when not
/// `compressible`, else random picks among 64 random 8-byte words (which
/// every codec, snappy and lz4 included, shrinks).
fn noise(seed: u64, len: usize, compressible: bool) -> Vec<u8> {
    let mut x = seed | 1;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    if !compressible {
        return (0..len).map(|_| (next() >> 32) as u8).collect();
    }
    let words: Vec<[u8; 8]> = (0..64).map(|_| next().to_le_bytes()).collect();
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&words[(next() >> 40) as usize % words.len()]);
    }
    out.truncate(len);
    out
}

/// A 1 MiB value with every codec, on a topic whose `max.message.bytes` is
/// 2 MiB; the default limit (1 MiB + 12) refuses the uncompressed one.
#[test]
fn one_mebibyte_value() {
    const MIB: usize = 1024 * 1024;
    let broker = Broker::shared();
    let topic = unique_topic("codec-1mib");
    broker.create_topic_with_config(&topic, 1, 1, &[("max.message.bytes", "2097152")]);
    let mut client = bootstrap_client(broker);
    let newest = newest_produce(&client);
    let mut log = Log::new(&mut client, &topic);

    let big = |seed: u64, compressible: bool| Spec {
        timestamp: BASE_TS + seed as i64,
        key: Some(format!("big-{seed}").into_bytes()),
        value: Some(noise(seed, MIB, compressible)),
        headers: vec![("size".into(), Some(MIB.to_string().into_bytes()))],
    };
    // Uncompressed and incompressible: the batch itself is over 1 MiB.
    let plain = build(Compression::None, 16 * 1024, &[big(1, false)]);
    assert_eq!(plain.len(), 1);
    assert!(plain[0].bytes.len() > MIB);
    log.send(&[(0, &plain[0])], -1, newest);
    for (n, codec) in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
    .into_iter()
    .enumerate()
    {
        let batch = one_batch(codec, &[big(10 + n as u64, true)]);
        log.send(&[(0, &batch)], -1, newest);
    }
    log.verify(broker);

    // The same uncompressed batch on a topic with the default limit.
    let small = unique_topic("codec-1mib-default");
    broker.create_topic(&small, 1, 1);
    let r = Log::new(&mut client, &small).request_one(0, &plain[0].bytes, newest);
    assert_eq!(r.error_code, ErrorCode::MessageTooLarge, "{r:?}");
}

/// "0 records". Kafka refuses an empty batch (RecordCount 0) with `INVALID_RECORD` and no
/// error message (its log says "Batch has an invalid offset range: [0, -1]"), so kprod's builder
/// refuses to seal one, for every codec, with a typed error that returns the buffer. A partition
/// entry with no batch at all is refused by the broker the same way, and nothing is written: a
/// record sent afterwards lands at offset 0 and is all the verifier reads.
#[test]
fn zero_records() {
    let broker = Broker::shared();
    let topic = unique_topic("codec-empty");
    broker.create_topic(&topic, 1, 1);
    let mut client = bootstrap_client(broker);
    let newest = newest_produce(&client);
    let mut log = Log::new(&mut client, &topic);

    for codec in Compression::ALL {
        let builder = BatchBuilder::new(
            vec![0u8; 1024],
            BatchConfig {
                compression: codec,
                ..BatchConfig::new(1024)
            },
        )
        .expect("builder");
        assert!(builder.is_empty());
        let refused = builder.finish(ProducerState::NONE, &mut []).expect_err("an empty batch is refused");
        assert_eq!(refused.0.len(), 1024, "{codec}: the buffer comes back");
    }
    for version in [3, newest] {
        let r = log.request_one(0, &[], version);
        assert_eq!(
            r.error_code,
            ErrorCode::InvalidRecord,
            "no batch v{version}: {r:?}"
        );
    }

    // Nothing was written: the next record gets offset 0 (checked by send).
    let one = build(Compression::None, 1024, &[mixed(0, 3)]);
    log.send(&[(0, &one[0])], -1, newest);
    log.verify(broker);
}

/// The wire client's ApiVersions fallback: a version the broker does not
/// know gets `UNSUPPORTED_VERSION` and the broker's list, and the client
/// retries at the version kprod chooses from it.
#[test]
fn api_versions_fallback() {
    let broker = Broker::shared();
    let first = broker
        .bootstrap()
        .split(',')
        .next()
        .expect("a bootstrap address");
    let client = WireClient::connect_with_api_versions(first, 99).expect("connect with fallback");
    let want = kprod_core::protocol::choose_version(
        ApiKey::ApiVersions,
        client
            .broker_range(ApiKey::ApiVersions)
            .expect("ApiVersions listed"),
    )
    .expect("a common version");
    assert_eq!(client.api_versions_version(), want);
    assert!(client.choose(ApiKey::Produce).is_some() && client.choose(ApiKey::Metadata).is_some());
}
