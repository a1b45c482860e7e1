//! # kprod-bench
//!
//! Workloads and a minimal record accumulator for kprod's criterion benchmarks
//! (`cargo bench -p kprod-bench`). Not published; see `BENCHMARKS.md` at the repository root
//! for results and the exact command.
//!
//! - [`Workload`]: a deterministic pool of records whose values are realistic, moderately
//!   compressible JSON-ish events of an exact size, with a small fixed-size key.
//! - [`Accumulator`]: appends records into one reused batch buffer and, when the batch is full,
//!   seals it (compression into one reused scratch buffer, header, CRC-32C), exactly as a
//!   producer's per-partition accumulator would.
//! - [`measure_ratio`]: a one-shot pass that also checks every batch decodes back.

use core::fmt::Write as _;

use kprod_core::compression::Compression;
use kprod_core::record::{AppendError, BatchBuilder, BatchConfig, ProducerState, Record, RecordBatch};

/// Timestamp of the first record of every workload (2023-11-14, CreateTime).
pub const BASE_TIMESTAMP: i64 = 1_700_000_000_000;

/// Length of every key: `user-` and six digits.
pub const KEY_LEN: usize = 11;

/// Words the free-text fields are made of: a small vocabulary, as real log and event text has.
const WORDS: [&str; 48] = [
    "order",
    "created",
    "shipped",
    "user",
    "session",
    "checkout",
    "cart",
    "payment",
    "accepted",
    "declined",
    "retry",
    "timeout",
    "warehouse",
    "eu-west-1",
    "us-east-2",
    "mobile",
    "desktop",
    "android",
    "ios",
    "web",
    "promo",
    "discount",
    "express",
    "standard",
    "returned",
    "refund",
    "customer",
    "support",
    "ticket",
    "opened",
    "closed",
    "the",
    "a",
    "of",
    "to",
    "and",
    "with",
    "for",
    "from",
    "new",
    "item",
    "items",
    "quantity",
    "price",
    "total",
    "status",
    "ok",
    "error",
];
const EVENTS: [&str; 6] = ["page_view", "add_to_cart", "checkout", "purchase", "search", "login"];
const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "JPY"];
const COUNTRIES: [&str; 8] = ["DE", "FR", "US", "GB", "JP", "BR", "IN", "NL"];

/// splitmix64: deterministic and good enough to vary numbers; no dependency.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }
}

/// A JSON-ish event of exactly `size` bytes (`size` >= 64): an object of typical event fields,
/// line items while they fit (larger values), and a free-text `note` that fills the rest.
fn event_value(rng: &mut Rng, seq: u64, size: usize) -> Vec<u8> {
    assert!(size >= 64, "values shorter than 64 bytes are not supported");
    let mut s = String::with_capacity(size + 64);
    let _ = write!(
        s,
        r#"{{"id":{},"ev":"{}","ts":{},"amt":{}.{:02},"cur":"{}""#,
        1_000_000 + seq,
        rng.pick(&EVENTS),
        BASE_TIMESTAMP + seq as i64 * 7 + rng.below(5) as i64,
        rng.below(500),
        rng.below(100),
        rng.pick(&CURRENCIES),
    );
    let optional = [
        format!(r#","user":"user-{:06}""#, rng.below(100_000)),
        format!(r#","country":"{}""#, rng.pick(&COUNTRIES)),
        format!(r#","path":"/products/{}/reviews""#, rng.below(20_000)),
        format!(r#","ua":"Mozilla/5.0 ({})""#, rng.pick(&WORDS)),
    ];
    // Leave at least ~12 bytes for `,"note":""}` and a word.
    let budget = size - 12;
    for field in &optional {
        if s.len() + field.len() <= budget {
            s.push_str(field);
        }
    }
    let item = |rng: &mut Rng| {
        format!(
            r#"{{"sku":"SKU-{:05}","qty":{},"price":{}.{:02}}}"#,
            rng.below(100_000),
            1 + rng.below(9),
            rng.below(300),
            rng.below(100)
        )
    };
    let mut next = item(rng);
    if s.len() + r#","items":[]"#.len() + next.len() <= budget {
        s.push_str(r#","items":["#);
        loop {
            s.push_str(&next);
            next = item(rng);
            if s.len() + 1 + next.len() + 1 > budget {
                break;
            }
            s.push(',');
        }
        s.push(']');
    }
    s.push_str(r#","note":""#);
    // Free text up to `size - 2` (room for `"}`), the last word cut to fit.
    while s.len() < size - 2 {
        let word = rng.pick(&WORDS);
        let room = size - 2 - s.len();
        if !s.ends_with('"') {
            s.push(' ');
        }
        let room = room.min(size - 2 - s.len());
        s.push_str(&word[..word.len().min(room)]);
    }
    s.push_str("\"}");
    debug_assert_eq!(s.len(), size);
    s.into_bytes()
}

/// A deterministic pool of records with values of one exact size.
#[derive(Debug, Clone)]
pub struct Workload {
    keys: Vec<[u8; KEY_LEN]>,
    values: Vec<Vec<u8>>,
    timestamps: Vec<i64>,
    value_len: usize,
}

impl Workload {
    /// `count` records with `value_len`-byte values (at least 64) and [`KEY_LEN`]-byte keys.
    /// Timestamps start at [`BASE_TIMESTAMP`] and rise by about one millisecond per 8 records.
    pub fn new(count: usize, value_len: usize, seed: u64) -> Self {
        let mut rng = Rng(seed);
        let mut keys = Vec::with_capacity(count);
        let mut values = Vec::with_capacity(count);
        let mut timestamps = Vec::with_capacity(count);
        for seq in 0..count {
            let mut key = [0u8; KEY_LEN];
            let text = format!("user-{:06}", rng.below(100_000));
            key.copy_from_slice(text.as_bytes());
            keys.push(key);
            values.push(event_value(&mut rng, seq as u64, value_len));
            timestamps.push(BASE_TIMESTAMP + (seq / 8) as i64);
        }
        Self { keys, values, timestamps, value_len }
    }

    /// A pool of about `bytes` bytes of keys and values.
    pub fn with_pool_bytes(bytes: usize, value_len: usize, seed: u64) -> Self {
        Self::new(bytes.div_ceil(value_len + KEY_LEN).max(1), value_len, seed)
    }

    /// Records in the pool.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Bytes of each value.
    pub const fn value_len(&self) -> usize {
        self.value_len
    }

    /// Bytes of key and value of each record: the producer's input.
    pub const fn record_input_len(&self) -> usize {
        self.value_len + KEY_LEN
    }

    /// Record `i` of the pool (`i` taken modulo the pool size). Timestamps keep rising across
    /// passes over the pool.
    #[inline]
    pub fn record(&self, i: usize) -> Record<'_> {
        let n = self.values.len();
        let (pass, j) = (i / n, i % n);
        let ts = self.timestamps[j] + (pass * n / 8) as i64;
        Record::new(ts, Some(&self.keys[j]), Some(&self.values[j]))
    }
}

/// What an [`Accumulator`] has sealed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Batches sealed.
    pub batches: u64,
    /// Records in them.
    pub records: u64,
    /// Uncompressed batch bytes (header and records) before sealing.
    pub plain_bytes: u64,
    /// Sealed batch bytes, as sent.
    pub wire_bytes: u64,
    /// Batches sealed uncompressed because compression did not pay off (or had no room).
    pub fallbacks: u64,
}

/// One partition's accumulator: one batch buffer and one compression scratch buffer, both
/// allocated once and reused for every batch.
///
/// Every sealed batch is handed to `sink` (the bench passes one to `black_box`).
#[derive(Debug)]
pub struct Accumulator<F> {
    config: BatchConfig,
    builder: Option<BatchBuilder<Vec<u8>>>,
    scratch: Vec<u8>,
    producer: ProducerState,
    stats: Stats,
    sink: F,
}

impl<F: FnMut(&[u8])> Accumulator<F> {
    /// An accumulator with a `config.batch_size`-byte buffer and a scratch buffer large enough
    /// to compress a full batch. Idempotent producer state (id 1000, epoch 0, sequences from 0).
    pub fn new(config: BatchConfig, sink: F) -> Self {
        let buf = vec![0u8; config.batch_size];
        let scratch = vec![0u8; config.compression.max_compressed_len(config.batch_size)];
        let builder = BatchBuilder::new(buf, config).expect("codec compiled in, buffer >= header");
        Self {
            config,
            builder: Some(builder),
            scratch,
            producer: ProducerState { producer_id: 1000, producer_epoch: 0, base_sequence: 0 },
            stats: Stats::default(),
            sink,
        }
    }

    /// Appends `record`, sealing the current batch first if it is full.
    #[inline]
    pub fn append(&mut self, record: &Record<'_>) {
        loop {
            let builder = self.builder.as_mut().expect("always a builder");
            match builder.append(record) {
                Ok(()) => return,
                Err(AppendError::Full) => self.flush(),
                Err(e) => panic!("record does not fit a batch: {e}"),
            }
        }
    }

    /// Seals the current batch if it has records and starts the next one in the same buffer.
    pub fn flush(&mut self) {
        let builder = self.builder.take().expect("always a builder");
        if builder.is_empty() {
            self.builder = Some(builder);
            return;
        }
        let count = builder.record_count();
        let plain = builder.len();
        // Not empty: checked above.
        let batch = builder.finish(self.producer, &mut self.scratch).expect("non-empty builder");
        (self.sink)(batch.as_bytes());
        self.stats.batches += 1;
        self.stats.records += count as u64;
        self.stats.plain_bytes += plain as u64;
        self.stats.wire_bytes += batch.len() as u64;
        if batch.compression() != self.config.compression {
            self.stats.fallbacks += 1;
        }
        self.producer.base_sequence = self.producer.base_sequence.wrapping_add(count);
        let (buf, _) = batch.into_inner();
        self.builder = Some(BatchBuilder::new(buf, self.config).expect("same buffer as before"));
    }

    /// What was sealed so far.
    pub const fn stats(&self) -> Stats {
        self.stats
    }
}

/// Compression of one configuration over a whole workload, measured once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ratio {
    /// Totals over the pass.
    pub stats: Stats,
    /// Key and value bytes appended.
    pub input_bytes: u64,
}

impl Ratio {
    /// Uncompressed batch bytes over sealed batch bytes: what the codec saved.
    pub fn codec_ratio(&self) -> f64 {
        self.stats.plain_bytes as f64 / self.stats.wire_bytes as f64
    }

    /// Key and value bytes over sealed batch bytes: what goes on the wire per byte of input.
    pub fn input_ratio(&self) -> f64 {
        self.input_bytes as f64 / self.stats.wire_bytes as f64
    }
}

/// Encodes every record of `workload` once with `config`, checks that each sealed batch parses
/// (CRC included) and decodes back to the same records, and returns the sizes.
///
/// # Panics
/// If a batch does not decode back to what was appended.
pub fn measure_ratio(workload: &Workload, config: BatchConfig) -> Ratio {
    let mut next = 0usize;
    let check = |bytes: &[u8]| {
        let batch = RecordBatch::parse(bytes).expect("sealed batch parses");
        let owned = batch.decompress(64 << 20).expect("batch decompresses");
        for view in owned.iter() {
            let view = view.expect("record decodes");
            let want = workload.record(next);
            assert_eq!(view.key, want.key);
            assert_eq!(view.value, want.value);
            assert_eq!(view.timestamp, want.timestamp);
            next += 1;
        }
    };
    let mut acc = Accumulator::new(config, check);
    for i in 0..workload.len() {
        acc.append(&workload.record(i));
    }
    acc.flush();
    let stats = acc.stats();
    assert_eq!(stats.records, workload.len() as u64);
    Ratio { stats, input_bytes: (workload.len() * workload.record_input_len()) as u64 }
}

/// The codecs this build can compress with, `none` first.
pub fn codecs() -> impl Iterator<Item = Compression> {
    Compression::ALL.into_iter().filter(|c| c.can_compress())
}
