//! What one simulated run is made of: the producer configuration, the cluster, the workload and
//! the faults, either chosen by hand (targeted scenarios) or drawn from a seed
//! ([`Scenario::random`]).

use core::time::Duration;

use kprod_core::compression::Compression;
use kprod_core::config::{Acks, ApiVersionPolicy, Config};
use kprod_core::producer::Capacities;
use kprod_core::time::Instant;

use super::cluster::Versions;
use super::net::ClusterEvent;
use super::rng::SimRng;

/// Fault probabilities (per mille) and timings for one run.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// One-way network latency range, µs.
    pub latency: (u64, u64),
    /// Deliver responses in random pieces (split reads); pieces arriving together are read
    /// together (joined reads).
    pub split_reads: bool,
    /// Per request frame: the connection drops before the broker reads it.
    pub lose_request: u32,
    /// Per response: the connection drops after the broker processed the request.
    pub lose_response: u32,
    /// Per response: an extra delay of up to `slow_max` µs (may pass `request.timeout.ms`).
    pub slow_response: u32,
    /// The largest extra response delay, µs.
    pub slow_max: u64,
    /// Per Produce partition: an injected retriable error.
    pub partition_error: u32,
    /// Injected NOT_LEADER_OR_FOLLOWER errors carry a KIP-951 hint (naming the same leader).
    pub hints: bool,
    /// Per connect: it fails although the broker runs.
    pub connect_fail: u32,
    /// Per client close: bytes still on their way to the broker are lost (else they arrive and
    /// are processed, as after a graceful TCP close).
    pub close_loses: u32,
    /// Per Metadata answer: it reports the previous leaders and epochs (a lagging broker).
    pub stale_metadata: u32,
    /// Per InitProducerId answer: COORDINATOR_LOAD_IN_PROGRESS.
    pub init_error: u32,
    /// Scheduled cluster changes.
    pub events: Vec<(Instant, ClusterEvent)>,
}

impl Faults {
    /// No faults, a fixed small latency, whole reads.
    pub fn none() -> Self {
        Self { latency: (200, 200), ..Self::default() }
    }

    /// Whether anything can go wrong in this run.
    pub fn any(&self) -> bool {
        self.lose_request + self.lose_response + self.partition_error + self.connect_fail > 0
            || self.slow_response > 0
            || self.stale_metadata + self.init_error > 0
            || !self.events.is_empty()
    }
}

/// One record the application will send.
#[derive(Debug, Clone)]
pub struct Planned {
    /// The topic.
    pub topic: String,
    /// An explicit partition.
    pub partition: Option<u32>,
    /// The key.
    pub key: Option<Vec<u8>>,
    /// The value: the record's index (8 bytes LE) and filler, so the log can be mapped back.
    pub value: Vec<u8>,
    /// When the application calls `send` for it (it waits if an earlier one still blocks).
    pub at: Instant,
}

/// The value of planned record `i` with `filler` extra bytes.
pub fn value_for(i: usize, filler: usize) -> Vec<u8> {
    let mut v = (i as u64).to_le_bytes().to_vec();
    v.extend((0..filler).map(|k| (k % 251) as u8));
    v
}

/// The planned index a value carries.
pub fn index_of(value: &[u8]) -> Option<usize> {
    Some(u64::from_le_bytes(value.get(..8)?.try_into().ok()?) as usize)
}

/// What a run must achieve besides the safety properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expect {
    /// Every record sent to an existing topic is accepted and delivered (fault-free runs).
    pub all_delivered: bool,
}

/// Everything one run needs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The seed (also seeds the harness's fault generator).
    pub seed: u64,
    /// The producer configuration.
    pub config: Config<'static>,
    /// Engine capacities.
    pub caps: Capacities,
    /// Number of brokers.
    pub brokers: usize,
    /// Topics: name and partition count.
    pub topics: Vec<(&'static str, usize)>,
    /// The bootstrap brokers.
    pub bootstrap: Vec<i32>,
    /// What the brokers advertise.
    pub versions: Versions,
    /// Duplicates answered with DUPLICATE_SEQUENCE_NUMBER rather than NONE.
    pub duplicate_error: bool,
    /// The records.
    pub records: Vec<Planned>,
    /// The topics' `max.message.bytes`: a larger batch is refused with MESSAGE_TOO_LARGE.
    pub max_message_bytes: Option<usize>,
    /// The faults.
    pub faults: Faults,
    /// Liveness expectations.
    pub expect: Expect,
    /// How long `close` may take.
    pub close_timeout: Duration,
    /// Authenticating brokers (`sasl.rs`).
    pub sasl: Option<super::sasl::SimSasl>,
    /// A transactional run (`txn.rs`).
    pub txn: Option<super::txn::TxnPlan>,
    /// Whether and how the driver takes compression jobs (`Producer::take_compression_job`).
    pub jobs: JobMode,
}

/// How the simulated driver handles compression jobs: it takes every job the engine offers
/// after each drain, as kprod-std's IO thread does between rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobMode {
    /// Takes none: the seal compresses (every driver before jobs, and the no_std ones).
    Off,
    /// Hands each result back at once.
    AtOnce,
    /// Hands each result back this many µs later (a helper thread that takes a while).
    Later(u64),
    /// Never hands them back (a helper that died): the engine's timeout must take over.
    Lost,
}

const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

impl Scenario {
    /// A fault-free single broker with one topic of `partitions` partitions and `records`
    /// keyed and null-key records sent 1 ms apart.
    pub fn simple(seed: u64, partitions: usize, records: usize) -> Self {
        let config = Config {
            seed,
            request_timeout: ms(1000),
            delivery_timeout: ms(5000),
            max_block: ms(2000),
            ..Config::default()
        };
        let records = (0..records)
            .map(|i| Planned {
                topic: "t0".into(),
                partition: None,
                key: (i % 3 != 0).then(|| format!("k{}", i % 7).into_bytes()),
                value: value_for(i, i % 17),
                at: Instant::from_millis(i as u64),
            })
            .collect();
        Self {
            seed,
            config,
            caps: Capacities { brokers: 8, topics: 4, partitions: 16, connections: 8, batches: 64 },
            brokers: 1,
            topics: vec![("t0", partitions)],
            bootstrap: vec![0],
            versions: Versions::KAFKA_4_1,
            duplicate_error: false,
            records,
            max_message_bytes: None,
            faults: Faults::none(),
            expect: Expect { all_delivered: true },
            close_timeout: ms(5000),
            sasl: None,
            txn: None,
            jobs: JobMode::Off,
        }
    }

    /// Everything drawn from `seed`: cluster shape, configuration, workload and faults. About a
    /// third of the seeds are fault-free (and must deliver everything).
    pub fn random(seed: u64) -> Self {
        let mut rng = SimRng::new(seed);
        // Variations added later draw from their own stream, so older seeds keep their scenario.
        let mut extra = SimRng::new(seed ^ 0x00e7_7a5e);
        let faulty = rng.below(3) != 0;
        let brokers = rng.range(1, 3) as usize;
        let mut topics = vec![("t0", rng.range(1, 4) as usize)];
        if rng.chance(400) {
            topics.push(("t1", rng.range(1, 3) as usize));
        }
        let config = random_config(&mut rng, &mut extra, seed);
        let mut sc = Self::simple(seed, 1, 0);
        sc.brokers = brokers;
        sc.bootstrap = (0..brokers as i32).filter(|_| rng.chance(600)).collect();
        if sc.bootstrap.is_empty() {
            sc.bootstrap.push(rng.below(brokers as u64) as i32);
        }
        if extra.chance(100) {
            // A bootstrap address where no broker runs: connects to it fail.
            sc.bootstrap.insert(0, DEAD_NODE);
        }
        sc.versions = rng.pick(&[Versions::KAFKA_4_1, Versions::KAFKA_4_1, Versions::KAFKA_4_0, Versions::NO_HINTS]);
        sc.duplicate_error = rng.chance(200);
        sc.records = random_records(&mut rng, &topics, extra.chance(50));
        sc.topics = topics;
        sc.faults = if faulty { random_faults(&mut rng, brokers, &sc.topics, &config) } else { random_net(&mut rng) };
        sc.expect = Expect { all_delivered: !faulty };
        sc.config = config;
        if extra.chance(250) {
            let sasl = super::sasl::SimSasl::random(&mut extra, brokers);
            sc.config.sasl = sasl.config();
            sc.expect.all_delivered &= sasl.refuse_node.is_none() && !sasl.refuses_all(brokers);
            sc.sasl = Some(sasl);
        }
        // Transactions draw from a third stream, so the other seeds keep their scenario.
        let mut txn = SimRng::new(seed ^ 0x7a_5e_ed);
        if txn.chance(250) {
            sc.make_transactional(&mut txn, faulty);
        }
        // A topic limit below batch.size (a fourth stream): the broker refuses batches as too
        // large, the engine splits them.
        let mut small = SimRng::new(seed ^ 0x5_1177);
        // Not with acks=0 (the broker refuses silently and the records are lost, as Kafka's
        // acks=0 allows), nor in transactions (a refused first batch of a fresh producer lets
        // the broker take the next one out of order, the blind gap of `Partition::blind_gap`,
        // and a transaction cannot bump the epoch to recover: the residue, see
        // split.rs).
        if small.chance(100) && sc.config.acks != Acks::None && sc.txn.is_none() {
            sc.max_message_bytes = Some(sc.smallest_limit() + small.range(0, 400) as usize);
        }
        // Batches past batch.size while they wait (batch.max.size), from a fifth stream: the
        // default, Java's batches, or four times batch.size.
        let mut grow = SimRng::new(seed ^ 0x000b_a7c4);
        sc.config.batch_max_size = match grow.below(3) {
            0 => None,
            1 => Some(sc.config.batch_size),
            _ => Some(sc.config.batch_size * 4),
        };
        // Compression jobs, for compressed producers (a sixth stream).
        let mut jobs = SimRng::new(seed ^ 0x0006_0b5e);
        if sc.config.compression != Compression::None {
            sc.jobs = match jobs.below(10) {
                0..=3 => JobMode::Off,
                4..=6 => JobMode::AtOnce,
                7 | 8 => JobMode::Later(jobs.range(10, 3000)),
                _ => JobMode::Lost,
            };
            // A job never handed back is a fault (kprod-std's helpers always hand theirs
            // back): its batch waits for the engine's timeout, which a short
            // delivery.timeout.ms may not outlast. Safety is still checked.
            sc.expect.all_delivered &= sc.jobs != JobMode::Lost;
        }
        sc
    }

    /// The smallest `max.message.bytes` that every record fits alone (a batch of one record,
    /// uncompressed: header, record framing, key, value).
    pub fn smallest_limit(&self) -> usize {
        let record = |r: &Planned| 61 + 24 + r.key.as_ref().map_or(0, Vec::len) + r.value.len();
        self.records.iter().map(record).max().unwrap_or(0)
    }

    /// Makes the run transactional: `transactional.id`, acks=all with idempotence, the records
    /// split into transactions, and the coordinator's faults.
    pub fn make_transactional(&mut self, rng: &mut SimRng, faulty: bool) {
        let c = &mut self.config;
        c.acks = Acks::All;
        c.enable_idempotence = None;
        c.api_version = ApiVersionPolicy::Auto;
        c.set_property("transactional.id", super::txn::TXN_ID).expect("a valid transactional.id");
        let v2_possible = self.versions.produce.1 >= 12;
        let plan = super::txn::TxnPlan::random(rng, self.records.len(), self.brokers, faulty, v2_possible);
        if faulty {
            self.faults.events.extend(super::txn::TxnPlan::random_moves(rng, self.brokers));
        }
        if let Some(at) = plan.fence_at {
            self.faults.events.push((at, ClusterEvent::Fence));
        }
        // Records of later transactions are due after the earlier ones end.
        self.txn = Some(plan);
    }
}

impl Scenario {
    /// A compact description for traces: configuration, cluster, faults, one line per record.
    pub fn describe(&self) -> String {
        let mut out = format!(
            "seed {}\nconfig {:?}\nbrokers {} topics {:?} bootstrap {:?} versions {:?} duplicate_error {} max_message_bytes {:?}\nfaults {:?}\nexpect {:?}\nsasl {:?}\ntxn {:?}\n",
            self.seed, self.config, self.brokers, self.topics, self.bootstrap, self.versions, self.duplicate_error, self.max_message_bytes, self.faults, self.expect, self.sasl, self.txn
        );
        for (i, r) in self.records.iter().enumerate() {
            let key = r.key.as_deref().map(String::from_utf8_lossy);
            out += &format!(
                "record #{i} at {:.3} ms: {} partition {:?} key {key:?} value {} bytes\n",
                r.at.as_micros() as f64 / 1000.0,
                r.topic,
                r.partition,
                r.value.len()
            );
        }
        out
    }
}

/// A node id no broker has (a dead bootstrap address).
pub const DEAD_NODE: i32 = 7;

fn random_config(rng: &mut SimRng, extra: &mut SimRng, seed: u64) -> Config<'static> {
    let acks = match rng.below(10) {
        0 => Acks::None,
        1 => Acks::Leader,
        _ => Acks::All,
    };
    let batch_size = rng.pick(&[128, 256, 512, 1024, 16 * 1024]);
    let linger = ms(rng.pick(&[0, 0, 1, 5, 20]));
    let request_timeout = ms(rng.range(300, 3000));
    // A codec this build cannot compress (the no-std test build lacks snappy and zstd) gives
    // way to none without another draw: builds with every codec replay their seeds unchanged.
    let compression = Some(rng.pick(&Compression::ALL)).filter(|c| c.can_compress()).unwrap_or(Compression::None);
    let zstd = compression == Compression::Zstd;
    Config {
        acks,
        compression,
        batch_size,
        linger,
        buffer_memory: (batch_size * rng.pick(&[2, 4, 8, 64])).max(2048),
        max_block: ms(rng.range(1000, 5000)),
        max_request_size: 64 * 1024,
        metadata_max_age: ms(rng.pick(&[500, 5000, 300_000])),
        retry_backoff: ms(rng.range(5, 100)),
        retry_backoff_max: ms(rng.range(100, 1000)),
        reconnect_backoff: ms(rng.range(5, 50)),
        reconnect_backoff_max: ms(1000),
        request_timeout,
        max_in_flight: rng.range(1, 5) as u32,
        delivery_timeout: linger + request_timeout + ms(rng.range(0, 8000)),
        seed: seed.wrapping_mul(31).wrapping_add(7),
        // Some runs without idempotence at acks=all (retries may duplicate), some on an older
        // Produce version.
        enable_idempotence: (acks == Acks::All && extra.chance(100)).then_some(false),
        api_version: if extra.chance(50) {
            ApiVersionPolicy::PinProduce(extra.pick(&[3, 7, 8, 9, 10]).max(if zstd { 7 } else { 3 }))
        } else {
            ApiVersionPolicy::Auto
        },
        ..Config::default()
    }
}

fn random_records(rng: &mut SimRng, topics: &[(&'static str, usize)], big: bool) -> Vec<Planned> {
    let n = rng.range(1, 40) as usize;
    let n = if big { n * 8 } else { n };
    let unknown_topic = rng.chance(40);
    let spread = rng.pick(&[0, 10, 100, 1000]);
    let mut at = 0;
    (0..n)
        .map(|i| {
            at += rng.below(spread / n as u64 + 1) * 1000;
            let (topic, count) = if unknown_topic && i == n / 2 { ("missing", 1) } else { rng.pick(topics) };
            let partition = rng.chance(100).then(|| rng.below(count as u64) as u32);
            let key = rng.chance(500).then(|| format!("k{}", rng.below(12)).into_bytes());
            let filler = rng.pick(&[0, 10, 60, 200]);
            Planned { topic: topic.into(), partition, key, value: value_for(i, filler), at: Instant::from_micros(at) }
        })
        .collect()
}

fn random_net(rng: &mut SimRng) -> Faults {
    let lo = rng.range(10, 2000);
    Faults { latency: (lo, lo + rng.range(0, 3000)), split_reads: rng.chance(600), ..Faults::none() }
}

fn random_faults(rng: &mut SimRng, brokers: usize, topics: &[(&'static str, usize)], config: &Config<'_>) -> Faults {
    let heavy = rng.chance(300);
    let p = |rng: &mut SimRng, light: u64, hard: u64| rng.range(0, if heavy { hard } else { light }) as u32;
    let mut f = random_net(rng);
    f.lose_request = p(rng, 30, 150);
    f.lose_response = p(rng, 30, 150);
    f.slow_response = p(rng, 30, 100);
    f.slow_max = config.request_timeout.as_micros() as u64 * 2;
    f.partition_error = p(rng, 60, 250);
    f.hints = rng.chance(500);
    f.connect_fail = p(rng, 50, 300);
    f.close_loses = p(rng, 300, 1000);
    f.stale_metadata = p(rng, 50, 200);
    f.init_error = p(rng, 100, 500);
    let horizon = 2_000_000u64;
    for _ in 0..rng.range(0, 3) {
        let at = Instant::from_micros(rng.below(horizon));
        match rng.below(4) {
            3 => {
                let topic = rng.below(topics.len() as u64) as usize;
                let partitions = topics[topic].1 + rng.range(1, 2) as usize;
                f.events.push((at, ClusterEvent::GrowTopic { topic, partitions }));
            }
            0 if brokers > 0 => {
                let node = rng.below(brokers as u64) as i32;
                let down_for = rng.range(50_000, config.delivery_timeout.as_micros() as u64 * 3 / 2);
                f.events.push((at, ClusterEvent::BrokerDown(node)));
                f.events.push((Instant::from_micros(at.as_micros() + down_for), ClusterEvent::BrokerUp(node)));
            }
            _ => {
                let topic = rng.below(topics.len() as u64) as usize;
                let partition = rng.below(topics[topic].1 as u64) as usize;
                let to = rng.below(brokers as u64) as i32;
                f.events.push((at, ClusterEvent::LeaderMove { topic, partition, to }));
            }
        }
    }
    f
}
