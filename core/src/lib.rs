//! # kprod-core
//!
//! The sans-IO core of kprod, a Kafka producer: the wire protocol, record batches, codecs,
//! partitioners, the configuration with Kafka's Java property names, and the producer engine
//! ([`producer::Producer`]), a deterministic state machine from `send` to delivery with
//! idempotence, retries and delivery timeouts.
//!
//! This crate performs **no IO, reads no clock and draws no hidden randomness** (the engine's
//! random choices come from a seed in its [`config::Config`]). A driver owns the sockets and the
//! clock: it gives the engine `now`, the bytes read from connection N and the application's
//! records, and takes out frames to write, connect and close requests, completions, and the next
//! deadline. The drivers are `kprod-std` (blocking threads and tokio) and `kprod-smoltcp`
//! (smoltcp and embedded-io, no heap); they share the engine's drain loop,
//! [`producer::Producer::drain`], so protocol logic lives here once.
//!
//! Modules mirror the domain: [`wire`] primitives, one [`protocol`] module per Kafka API,
//! [`record`] batches, [`compression`], the [`partitioner`], the [`config`], the engine in
//! [`producer`], and its building blocks ([`time`], [`rng`], [`backoff`]).
//!
//! The crate is `no_std`. Features:
//! - `alloc`: heap-backed storage that grows as needed ([`producer::Storage::with_capacity`]),
//!   `Vec` sinks, decompression into `Vec`, gzip compression.
//! - `std` (default): implies `alloc`; hardware CRC-32C and snappy.
//! - `zstd` (default): zstd through libzstd; needs `std` and a C compiler.
//!
//! Without any feature, storage comes from one [`producer::StaticStorage`] value, and `none`
//! and `lz4` compress and decompress and gzip decompresses, all without an allocator; see
//! [`compression`] for the full table.
//!
//! # A driver
//! A complete driver over blocking sockets, in the shape every kprod driver has: the engine's
//! outputs go through [`producer::Links`] (here: a socket per connection), inputs come from the
//! sockets, and the loop sleeps until [`producer::Producer::poll_timeout`]. A `send` refused
//! with a retriable error (the topic's metadata is still being fetched, the buffer is full)
//! waits for the loop to make progress and tries again, up to `max.block.ms`.
//!
//! ```no_run
//! # #[cfg(feature = "std")] {
//! use std::collections::HashMap;
//! use std::io::{ErrorKind, Read, Write};
//! use std::net::TcpStream;
//! use std::time::{Duration, Instant as StdInstant};
//!
//! use kprod_core::config::Config;
//! use kprod_core::producer::{
//!     Budget, Capacities, Completion, ConnError, ConnId, Connecting, FatalError, Links, Producer, ProducerRecord,
//!     Storage, Transmit,
//! };
//! use kprod_core::time::Instant;
//!
//! /// One socket per engine connection, and the frame buffer.
//! struct Sockets {
//!     open: HashMap<ConnId, TcpStream>,
//!     tx: Vec<u8>,
//!     delivered: u64,
//! }
//!
//! impl Links for Sockets {
//!     fn tx_buffer(&mut self) -> &mut [u8] {
//!         &mut self.tx
//!     }
//!     fn grow_tx(&mut self, needed: usize) -> bool {
//!         self.tx.resize(needed, 0);
//!         true
//!     }
//!     fn can_take(&self) -> bool {
//!         true // blocking writes: there is always room
//!     }
//!     fn take(&mut self, t: Transmit, _now: Instant) -> bool {
//!         let Some(socket) = self.open.get_mut(&t.conn) else { return false };
//!         socket.write_all(&self.tx[..t.len]).is_ok()
//!     }
//!     fn connect(&mut self, conn: ConnId, host: &str, port: u16, now: Instant) -> Connecting {
//!         match TcpStream::connect((host, port)) {
//!             Ok(socket) => {
//!                 socket.set_read_timeout(Some(Duration::from_millis(1))).unwrap();
//!                 self.open.insert(conn, socket);
//!                 Connecting::Connected(now)
//!             }
//!             Err(_) => Connecting::Failed(now),
//!         }
//!     }
//!     fn close(&mut self, conn: ConnId) {
//!         self.open.remove(&conn);
//!     }
//!     fn completed(&mut self, completion: Completion<&str>) {
//!         match completion {
//!             Completion::Delivered { topic, partition, base_offset, records, .. } => {
//!                 println!("{records} records in {topic}-{partition} from offset {base_offset}");
//!                 self.delivered += u64::from(records);
//!             }
//!             Completion::Failed { topic, records, reason, .. } => {
//!                 eprintln!("{records} records to {topic} failed: {reason}")
//!             }
//!         }
//!     }
//!     fn connection_failed(&mut self, _conn: ConnId, error: ConnError) {
//!         eprintln!("the broker {error}"); // a `close` of the connection follows
//!     }
//!     fn fatal(&mut self, error: FatalError) {
//!         eprintln!("fatal: {error}");
//!     }
//! }
//!
//! let start = StdInstant::now();
//! let now = || Instant::from_micros(start.elapsed().as_micros() as u64);
//! let config = Config::default();
//! let storage = Storage::with_capacity(&config, Capacities::default());
//! let bootstrap = [("127.0.0.1", 9092)];
//! let mut producer = Producer::new(config.validate().unwrap(), &bootstrap, storage, now()).unwrap();
//! let mut links = Sockets { open: HashMap::new(), tx: vec![0; 64 * 1024], delivered: 0 };
//! let mut rx: HashMap<ConnId, Vec<u8>> = HashMap::new();
//!
//! // One round: read what each socket has, hand it to the engine, time out, drain.
//! let mut round = |producer: &mut Producer<'_>, links: &mut Sockets| {
//!     let mut lost = Vec::new();
//!     for (&conn, socket) in &mut links.open {
//!         let buf = rx.entry(conn).or_default();
//!         let mut chunk = [0u8; 64 * 1024];
//!         match socket.read(&mut chunk) {
//!             Ok(0) => lost.push(conn),
//!             Ok(n) => {
//!                 buf.extend_from_slice(&chunk[..n]);
//!                 let used = producer.handle_read(conn, buf, now()); // whole frames only
//!                 buf.drain(..used);
//!             }
//!             Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
//!             Err(_) => lost.push(conn),
//!         }
//!     }
//!     for conn in lost {
//!         links.open.remove(&conn);
//!         rx.remove(&conn);
//!         producer.handle_disconnected(conn, now());
//!     }
//!     producer.handle_timeout(now());
//!     producer.drain(links, now(), Budget::UNLIMITED);
//!     // A real driver sleeps in poll/epoll until a socket is readable or this deadline.
//!     let _deadline = producer.poll_timeout();
//! };
//!
//! let record = ProducerRecord {
//!     topic: "events", partition: None, key: Some(b"k"), value: Some(b"v"), headers: &[], timestamp: 0,
//! };
//! let blocked_since = StdInstant::now();
//! loop {
//!     match producer.send(&record, now()) {
//!         Ok(_id) => break,
//!         // SendError::MetadataPending, SendError::BufferFull: the loop makes progress, then
//!         // the record is offered again, up to max.block.ms.
//!         Err(e) if e.is_retriable() && blocked_since.elapsed() < Duration::from_secs(60) => {
//!             round(&mut producer, &mut links)
//!         }
//!         Err(e) => panic!("not sent: {e}"),
//!     }
//! }
//! producer.flush(now());
//! while producer.pending_batches() > 0 {
//!     round(&mut producer, &mut links);
//! }
//! assert_eq!(links.delivered, 1);
//! # }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// Unit tests run on a host, which always has a heap: some format their `Debug` output or
// collect into a `Vec` even when the crate is built without `alloc`.
#[cfg(any(feature = "alloc", test))]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod backoff;
pub mod compression;
pub mod config;
pub mod partitioner;
pub mod producer;
pub mod protocol;
pub mod record;
pub mod rng;
pub mod sasl;
pub mod time;
pub mod wire;
