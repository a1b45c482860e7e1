//! `kprod produce`: one record per input line, like `kcat -P` and Kafka's console producer.
//!
//! # Input
//! - Lines come from the files given (in order), or from stdin when there are none (`-` also
//!   means stdin). A line ends at `\n`; a `\r` right before it is dropped (CRLF files), and a
//!   last line without `\n` still counts. Bytes need not be UTF-8.
//! - An empty line is a record with an empty value (as with Kafka's console producer).
//! - Records have no timestamp of their own: the producer stamps the wall clock at send.
//! - With `-K DELIM`, a line splits at the first `DELIM` into key and value. A line without
//!   the delimiter is sent whole as the value with a null key, like kcat (Kafka's console
//!   producer refuses such a line instead).
//! - A line longer than `max.request.size` can never be sent; it is read past (never held
//!   whole in memory), counted as an error, and the next lines go on.
//!
//! # Errors and the summary
//! While it runs, a failed connection to a broker prints one line on stderr (see
//! [`crate::logging`]: `-q` none, `-v` more). The summary counts the records delivered, their bytes (keys plus values), the errors and the
//! lines read.
//!
//! A record the producer refuses (too large) or fails to deliver is counted, and the next lines
//! go on. Anything that stops all records (configuration, an unreachable cluster after
//! `max.block.ms`, an unknown topic or partition, an unreadable file) ends the input at once.
//! Every record already accepted still completes (delivered or failed) before the command
//! exits. Then one summary line goes to stderr, and, if anything failed, one error line (the
//! first error) and exit status 1.

mod lines;

use std::cell::Cell;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use kprod_std::{Error, Header, Producer, Record, SendError};

use crate::config::{parse_key_value, KeyValue, Sources};
use crate::Failure;
use lines::{Line, LineReader};

/// `kprod produce` options.
#[derive(Debug, Args)]
pub(crate) struct ProduceArgs {
    /// Bootstrap servers, `host:port[,host:port...]` (or `bootstrap.servers` from -X/--config).
    #[arg(short = 'b', long = "bootstrap-server", value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// The topic to produce to.
    #[arg(short, long)]
    topic: String,
    /// Send every record to this partition; -1 (the default) lets the partitioner pick:
    /// murmur2 of the key like the Java client, sticky for null keys.
    #[arg(short, long, allow_negative_numbers = true, value_parser = clap::value_parser!(i64).range(-1..=i64::from(u32::MAX)))]
    partition: Option<i64>,
    /// Split each line at the first DELIM into key and value; a line without it has a null key.
    #[arg(short = 'K', long = "key-delimiter", value_name = "DELIM", value_parser = parse_delimiter)]
    key_delimiter: Option<String>,
    /// A header for every record, `key=value` (repeatable; `key=` is an empty value).
    #[arg(short = 'H', long = "header", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    headers: Vec<KeyValue>,
    /// Compression codec (`compression.type`).
    #[arg(short = 'z', long, value_enum)]
    compression: Option<Codec>,
    /// Acknowledgements to wait for (`acks`).
    #[arg(long, value_parser = ["0", "1", "all", "-1"])]
    acks: Option<String>,
    /// Any producer property, `key=value` (repeatable), e.g. `-X linger.ms=5`.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_key_value)]
    properties: Vec<KeyValue>,
    /// A Java `client.properties` file with producer properties (-X and the flags override it).
    #[arg(long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Produce in transactions with this `transactional.id`: a transaction commits every
    /// `--txn-records` records or once it is `--txn-ms` old (checked as lines are sent), and at
    /// the end. A failed record or commit aborts the transaction and ends the command (status 1).
    #[arg(long = "transactional-id", value_name = "ID")]
    transactional_id: Option<String>,
    /// Records per transaction.
    #[arg(long = "txn-records", value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    txn_records: u64,
    /// The longest a transaction stays open (ms).
    #[arg(long = "txn-ms", value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
    txn_ms: u64,
    /// Print the statistics snapshot (JSON: global, per-topic and per-node metrics by their
    /// Java names) to stderr every MS milliseconds (default 1000; `statistics.interval.ms`).
    #[arg(long, value_name = "MS", num_args = 0..=1, default_missing_value = "1000",
          value_parser = clap::value_parser!(u64).range(1..))]
    stats: Option<u64>,
    /// No summary line on success, and no connection messages.
    #[arg(short, long)]
    quiet: bool,
    /// More producer messages on stderr: `-v` connects and failed batches, `-vv` debug detail.
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Files to read, one record per line; none, or `-`, reads stdin.
    #[arg(value_name = "FILE")]
    files: Vec<PathBuf>,
}

/// `-z` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Codec {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Codec {
    const fn property(self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Gzip => "gzip",
            Self::Snappy => "snappy",
            Self::Lz4 => "lz4",
            Self::Zstd => "zstd",
        }
    }
}

fn parse_delimiter(arg: &str) -> Result<String, String> {
    if arg.is_empty() {
        return Err("the key delimiter must not be empty".into());
    }
    Ok(arg.to_owned())
}

/// Runs `kprod produce`.
pub(crate) fn run(args: &ProduceArgs) -> Result<(), Failure> {
    crate::logging::init(args.quiet, args.verbose);
    let mut flags = Vec::new();
    if let Some(b) = &args.bootstrap {
        flags.push(("bootstrap.servers", b.clone(), "--bootstrap-server"));
    }
    if let Some(c) = args.compression {
        flags.push(("compression.type", c.property().to_owned(), "--compression"));
    }
    if let Some(a) = &args.acks {
        flags.push(("acks", a.clone(), "--acks"));
    }
    if let Some(id) = &args.transactional_id {
        flags.push(("transactional.id", id.clone(), "--transactional-id"));
    }
    if let Some(ms) = args.stats {
        flags.push(("statistics.interval.ms", ms.to_string(), "--stats"));
    }
    let sources = Sources {
        defaults: &[("client.id", "kprod-producer")],
        file: args.config.as_deref(),
        properties: &args.properties,
        properties_flag: "-X",
        flags,
    };
    let config = crate::config::statistics_to_stderr(sources.build()?);
    let max_line = config.engine().max_request_size;
    // `close` waits for what is buffered; no record can take longer than its delivery timeout.
    let close_timeout = config.engine().delivery_timeout + config.engine().request_timeout;
    let transactional = config.engine().transactions.transactional_id.is_some();
    let producer = Producer::new(config)?;
    let txn = if transactional {
        producer.init_transactions()?;
        Some(TxnBatch::new(args.txn_records, Duration::from_millis(args.txn_ms)))
    } else {
        None
    };

    let inputs = inputs(&args.files);
    let tally = Arc::new(Tally { names: inputs.iter().map(Input::name).collect(), ..Tally::default() });
    let headers: Vec<Header<'_>> =
        args.headers.iter().map(|h| Header { key: h.key.as_str(), value: Some(h.value.as_bytes()) }).collect();
    let sender = Sender {
        producer: &producer,
        topic: &args.topic,
        // -1 and none both mean the partitioner; the parser allows nothing else below 0.
        partition: args.partition.and_then(|p| u32::try_from(p).ok()),
        delimiter: args.key_delimiter.as_deref().map(str::as_bytes),
        headers: &headers,
        tally: &tally,
        txn: txn.as_ref(),
    };
    let mut fatal = None;
    for (index, input) in inputs.iter().enumerate() {
        if let Err(e) = sender.send_input(index, input, max_line) {
            fatal = Some(e);
            break;
        }
    }
    if fatal.is_none() && txn.as_ref().is_some_and(TxnBatch::is_open) {
        fatal = sender.end_transaction().err().map(|e| Failure::new(format!("commit_transaction: {e}")));
    }
    // Every accepted record completes here: delivered, failed, or failed at the deadline.
    let closed = producer.close(close_timeout);
    drop(producer);
    // The counters are final: `close` resolved every accepted record (a record it could not
    // finish in time failed at the deadline, and counts as an error).
    tally.report(args.quiet, fatal.or_else(|| closed.err().map(Failure::from)))
}

/// Where lines come from.
#[derive(Debug)]
enum Input {
    Stdin,
    File(PathBuf),
}

impl Input {
    fn name(&self) -> String {
        match self {
            Self::Stdin => "stdin".to_owned(),
            Self::File(p) => p.display().to_string(),
        }
    }
}

fn inputs(files: &[PathBuf]) -> Vec<Input> {
    if files.is_empty() {
        return vec![Input::Stdin];
    }
    files.iter().map(|f| if f.as_os_str() == "-" { Input::Stdin } else { Input::File(f.clone()) }).collect()
}

/// Sends the lines of the inputs.
struct Sender<'a> {
    producer: &'a Producer,
    topic: &'a str,
    partition: Option<u32>,
    delimiter: Option<&'a [u8]>,
    headers: &'a [Header<'a>],
    tally: &'a Arc<Tally>,
    txn: Option<&'a TxnBatch>,
}

/// The open transaction of `--transactional-id`: how many records it holds and since when.
#[derive(Debug)]
struct TxnBatch {
    records: u64,
    max_age: Duration,
    count: Cell<u64>,
    began: Cell<Option<Instant>>,
}

impl TxnBatch {
    const fn new(records: u64, max_age: Duration) -> Self {
        Self { records, max_age, count: Cell::new(0), began: Cell::new(None) }
    }

    fn is_open(&self) -> bool {
        self.began.get().is_some()
    }
}

impl Sender<'_> {
    /// Sends every line of `input` (number `index`); an error here stops the whole command.
    fn send_input(&self, index: usize, input: &Input, max_line: usize) -> Result<(), Failure> {
        let name = &self.tally.names[index];
        match input {
            Input::Stdin => self.send_lines(index, io::stdin().lock(), max_line),
            Input::File(path) => {
                let file = File::open(path).map_err(|e| Failure::new(format!("cannot open {name}: {e}")))?;
                self.send_lines(index, BufReader::with_capacity(64 * 1024, file), max_line)
            }
        }
        .map_err(|e| match e {
            Stop::Read(e) => Failure::new(format!("cannot read {name}: {e}")),
            Stop::Producer(line, e) => Failure::new(format!("{name}:{line}: {e}")),
        })
    }

    fn send_lines(&self, index: usize, reader: impl BufRead, max_line: usize) -> Result<(), Stop> {
        let mut lines = LineReader::new(reader, max_line);
        let mut buf = Vec::new();
        let mut number: u64 = 0;
        while let Some(line) = lines.next_line(&mut buf).map_err(Stop::Read)? {
            number += 1;
            self.tally.lines.fetch_add(1, Ordering::Relaxed);
            if let Line::TooLong { len } = line {
                let e =
                    format!("record refused: the line has {len} bytes, more than max.request.size allows ({max_line})");
                self.tally.fail(index, number, &e);
                continue;
            }
            self.send_line(index, number, &buf)?;
        }
        Ok(())
    }

    /// Commits the open transaction; a failure aborts it (unless the producer is fenced).
    fn end_transaction(&self) -> Result<(), Error> {
        let Some(txn) = self.txn else {
            return Ok(());
        };
        txn.began.set(None);
        txn.count.set(0);
        self.producer.commit_transaction().inspect_err(|e| {
            if !e.is_fatal() {
                let _ = self.producer.abort_transaction();
            }
        })
    }

    fn send_line(&self, index: usize, number: u64, line: &[u8]) -> Result<(), Stop> {
        if let Some(txn) = self.txn.filter(|t| !t.is_open()) {
            self.producer.begin_transaction().map_err(|e| Stop::Producer(number, e))?;
            txn.began.set(Some(Instant::now()));
        }
        self.send_record(index, number, line)?;
        if let Some(txn) = self.txn {
            txn.count.set(txn.count.get() + 1);
            let old = txn.began.get().is_some_and(|b| b.elapsed() >= txn.max_age);
            if txn.count.get() >= txn.records || old {
                self.end_transaction().map_err(|e| Stop::Producer(number, e))?;
            }
        }
        Ok(())
    }

    fn send_record(&self, index: usize, number: u64, line: &[u8]) -> Result<(), Stop> {
        let (key, value) = split(line, self.delimiter);
        let bytes = (key.map_or(0, <[u8]>::len) + value.len()) as u64;
        let mut record = Record::new(self.topic).value(value).headers(self.headers);
        record.key = key;
        record.partition = self.partition;
        let tally = Arc::clone(self.tally);
        let sent = self.producer.send_with_callback(&record, move |result| match result {
            Ok(_) => tally.deliver(bytes),
            Err(e) => tally.fail(index, number, &e),
        });
        match sent {
            Ok(()) => Ok(()),
            // Only this record is wrong; the next lines may fit.
            Err(e @ Error::Send(SendError::RecordTooLarge { .. })) => {
                self.tally.fail(index, number, &e);
                Ok(())
            }
            Err(e) => {
                // This line's record is lost too: count it (the error itself ends the command).
                self.tally.failed.fetch_add(1, Ordering::Relaxed);
                Err(Stop::Producer(number, e))
            }
        }
    }
}

/// Why reading an input stopped.
enum Stop {
    Read(io::Error),
    Producer(u64, Error),
}

/// Splits a line into key and value at the first `delimiter`; no delimiter (or none given) is
/// a null key and the whole line as the value.
fn split<'l>(line: &'l [u8], delimiter: Option<&[u8]>) -> (Option<&'l [u8]>, &'l [u8]) {
    let Some(d) = delimiter.filter(|d| !d.is_empty()) else {
        return (None, line);
    };
    match memchr::memmem::find(line, d) {
        Some(at) => (Some(&line[..at]), &line[at + d.len()..]),
        None => (None, line),
    }
}

/// The counts the summary reports; callbacks update them from the producer's IO thread.
#[derive(Debug, Default)]
struct Tally {
    /// Input names, by index.
    names: Vec<String>,
    lines: AtomicU64,
    delivered: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    /// The first error, with where its line was.
    first_error: Mutex<Option<String>>,
}

impl Tally {
    fn deliver(&self, bytes: u64) {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    fn fail(&self, input: usize, line: u64, error: &dyn fmt::Display) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut first = self.first_error.lock().unwrap_or_else(PoisonError::into_inner);
        if first.is_none() {
            let name = self.names.get(input).map_or("?", String::as_str);
            *first = Some(format!("{name}:{line}: {error}"));
        }
    }

    /// Prints the summary (and the error line, through the returned failure).
    fn report(&self, quiet: bool, fatal: Option<Failure>) -> Result<(), Failure> {
        let failed = self.failed.load(Ordering::Relaxed);
        let summary = format!(
            "kprod: {} records produced ({} bytes), {failed} errors, {} lines read",
            self.delivered.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed),
            self.lines.load(Ordering::Relaxed),
        );
        if !quiet || failed > 0 || fatal.is_some() {
            eprintln!("{summary}");
        }
        if let Some(f) = fatal {
            return Err(f);
        }
        let first = self.first_error.lock().unwrap_or_else(PoisonError::into_inner).clone();
        match first {
            Some(e) if failed > 1 => Err(Failure::new(format!("{e} (and {} more errors)", failed - 1))),
            Some(e) => Err(Failure::new(e)),
            None if failed > 0 => Err(Failure::new(format!("{failed} records failed"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_at_the_first_delimiter() {
        assert_eq!(split(b"k:v:w", Some(b":")), (Some(&b"k"[..]), &b"v:w"[..]));
        assert_eq!(split(b"k::v", Some(b"::")), (Some(&b"k"[..]), &b"v"[..]));
        assert_eq!(split(b":v", Some(b":")), (Some(&b""[..]), &b"v"[..]));
        assert_eq!(split(b"k:", Some(b":")), (Some(&b"k"[..]), &b""[..]));
        assert_eq!(split(b"no delimiter", Some(b":")), (None, &b"no delimiter"[..]));
        assert_eq!(split(b"", Some(b":")), (None, &b""[..]));
        assert_eq!(split(b"k:v", None), (None, &b"k:v"[..]));
    }

    #[test]
    fn the_report_names_the_first_error_and_counts_the_rest() {
        let t = Tally { names: vec!["in.txt".into()], ..Tally::default() };
        t.deliver(3);
        t.fail(0, 2, &Error::Closed);
        t.fail(0, 5, &Error::Closed);
        let e = t.report(true, None).unwrap_err();
        assert_eq!(e.to_string(), "in.txt:2: the producer is closed (and 1 more errors)");
        assert_eq!(Tally::default().report(true, None), Ok(()));
    }
}
