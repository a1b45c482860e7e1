//! kprod-smoltcp: runs the sans-IO Kafka producer of `kprod-core` over smoltcp TCP sockets,
//! without a heap.
//!
//! [`Driver`] owns the engine ([`kprod_core::producer::Producer`]), a fixed set of socket
//! [`Slot`]s and a transmit frame buffer. The application owns the smoltcp `Interface`, its
//! `Device` and the `SocketSet`, and calls [`Driver::poll`] from its main loop after each
//! `Interface::poll`. Completions and connection news come back through a callback
//! ([`Report`]); [`Driver::poll_at`] says when to poll at the latest, for sleeping.
//!
//! # Why the application keeps the socket set
//! The socket set usually holds more than Kafka connections (DHCP, DNS, a debug shell), and
//! one `Interface::poll` serves them all. So the application creates the TCP sockets over
//! its own buffers, adds them to its set, and hands their handles to the driver, one
//! [`Slot`] each. The driver only touches those sockets.
//!
//! # Connections
//! - Engine connections ([`kprod_core::producer::conn::ConnId`]) are mapped to free slots when
//!   the engine asks to connect. With no free slot, the attempt fails at once with
//!   [`ConnectError::NoFreeSocket`] and the engine retries after its reconnect backoff: give
//!   the engine as many connection slots as the driver has sockets (a single broker uses two:
//!   the bootstrap connection, idle after the first metadata, and the leader's).
//! - Broker hosts must be IP literals, or names listed in [`DriverConfig::hosts`]. There is
//!   no DNS; any other name fails with [`ConnectError::UnresolvedHost`].
//! - Local ports come from a counter over 49152-65535 that starts at
//!   [`DriverConfig::port_seed`] (no hidden randomness: seed it per boot).
//! - A connect that is not established within [`DriverConfig::connect_timeout`] is aborted
//!   ([`ConnectError::Timeout`]); a reset or a refused SYN is [`ConnectError::Refused`].
//! - A broker that closes ([`LinkError::ClosedByPeer`]) or resets ([`LinkError::Reset`]) a
//!   connection: what it sent is handed to the engine first, then the engine learns the
//!   connection is gone and retries its requests in flight.
//! - A connection the engine drops for what the broker sent (a malformed or unexpected
//!   response, a refused handshake) or a request timeout is reported as
//!   [`Report::Disconnected`] with [`LinkError::Broker`], which names the cause.
//!
//! The engine's drain loop (`Producer::drain`) runs each `poll`'s outputs; the driver's part
//! is the links it drains into: a frame to its connection's socket, a connect to a free slot.
//!
//! # Buffers (all from the caller)
//! - **Transmit frame buffer** (`tx`, one for all connections): the engine writes each whole
//!   request frame into it. It must hold the largest request: `max.request.size` plus 1 KiB
//!   (a Produce request counts 512 bytes of framing against `max.request.size`; one that spans
//!   many partitions or topics needs ~10 bytes per partition and the topic names beyond that;
//!   Metadata requests list the topic names). [`Stats::max_request`] shows what was needed.
//!   A frame that does not fit is reported once as [`Report::TxBufferTooSmall`] and nothing
//!   more is sent until the configuration is fixed (its records fail at `delivery.timeout.ms`);
//!   with `alloc`, an owned (`Vec`) buffer grows instead.
//! - **Partial writes**: when a socket's send buffer takes only part of a frame, the rest
//!   stays in `tx` and is written first on the next polls; no other frame is produced until
//!   it is out (on any connection: `tx` is shared). A frame whose connection is lost is
//!   dropped and its batches are retried by the engine.
//! - **Receive buffer** per slot: response bytes wait there until they form whole frames (the
//!   engine consumes whole frames only). It must hold the largest response frame: Kafka 4.3's
//!   ApiVersions response is 724 bytes, Produce responses are small (~60 bytes plus ~40 per
//!   partition), Metadata grows with partitions (~40 bytes each plus ~30 per broker).
//!   2 KiB serves one topic of a dozen partitions; [`Stats::max_response`] shows what a
//!   deployment needs. A larger frame fails the connection with
//!   [`LinkError::ResponseTooLarge`] and its size.
//! - **smoltcp socket buffers**: the application's. The send buffer bounds how much of a
//!   request is in flight (throughput); the receive buffer sets the advertised window (smoltcp
//!   scales it past 64 KiB automatically). 2-4 KiB each work on a microcontroller.
//!
//! A firmware budget of 64 KiB for the producer's state, one 16 KiB batch buffer and two
//! connections fits with room to spare, as in the example below and checked by
//! `tests/budget.rs` (47.0 KiB counted with 64-bit struct sizes): `buffer.memory` 16 KiB in
//! 4 KiB batches, `max.request.size` 8 KiB with a 9 KiB `tx`, two 2 KiB receive buffers, two
//! sockets with 4 KiB send and 2 KiB receive buffers, and the engine's slots.
//!
//! # Bounded work
//! One [`Driver::poll`] does at most: one pass over the slots with at most
//! [`DriverConfig::max_read_per_poll`] bytes read per socket, one `handle_timeout`,
//! [`DriverConfig::max_frames_per_poll`] request frames and
//! [`DriverConfig::max_events_per_poll`] engine events. Work left over makes
//! [`Driver::poll_at`] return the current instant.
//!
//! # A main loop
//! ```no_run
//! use kprod_core::config::Config;
//! use kprod_core::producer::{chunk_map_words, Completion, Producer, ProducerRecord, StaticStorage};
//! use kprod_smoltcp::{to_core, Driver, DriverConfig, Report, Slot};
//! use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet, SocketStorage};
//! use smoltcp::phy::{Loopback, Medium};
//! use smoltcp::socket::tcp;
//! use smoltcp::time::Instant;
//! use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr};
//!
//! const MEMORY: usize = 16 * 1024; // buffer.memory: the batch buffer
//! const BATCH: usize = 4 * 1024;
//! fn clock() -> Instant { Instant::ZERO } // the board's monotonic clock
//!
//! // The network: the application's device, interface and socket set.
//! let mut device = Loopback::new(Medium::Ip); // the board's Ethernet driver
//! let mut iface = Interface::new(IfaceConfig::new(HardwareAddress::Ip), &mut device, clock());
//! iface.update_ip_addrs(|a| a.push(IpCidr::new(IpAddress::v4(10, 0, 0, 2), 24)).unwrap());
//! let mut storage: [SocketStorage; 2] = Default::default();
//! let mut sockets = SocketSet::new(&mut storage[..]);
//! let (mut s0rx, mut s0tx, mut s1rx, mut s1tx) = ([0u8; 2048], [0u8; 4096], [0u8; 2048], [0u8; 4096]);
//! let h0 = sockets.add(tcp::Socket::new(tcp::SocketBuffer::new(&mut s0rx[..]), tcp::SocketBuffer::new(&mut s0tx[..])));
//! let h1 = sockets.add(tcp::Socket::new(tcp::SocketBuffer::new(&mut s1rx[..]), tcp::SocketBuffer::new(&mut s1tx[..])));
//!
//! // The engine's storage in one value (a `static` on a real board): 2 brokers, 1 topic,
//! // 4 partitions, as many connections as sockets, 4 batches, the arena, no compression.
//! let mut engine_storage =
//!     StaticStorage::<2, 1, 4, 2, 4, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>::new();
//! let storage = engine_storage.storage();
//! let config = Config { buffer_memory: MEMORY, batch_size: BATCH, max_request_size: 8 * 1024, ..Config::default() };
//! let producer = Producer::new(config.validate().unwrap(), &[("10.0.0.1", 9092)], storage, to_core(clock())).unwrap();
//!
//! // The driver: one slot per socket, each with its response buffer, and the frame buffer.
//! let (mut rx0, mut rx1, mut tx) = ([0u8; 2048], [0u8; 2048], [0u8; 9 * 1024]);
//! let mut slots = [Slot::new(h0, &mut rx0[..]), Slot::new(h1, &mut rx1[..])];
//! let driver_config = DriverConfig { port_seed: 4711, ..DriverConfig::default() }; // seed per boot
//! let mut driver = Driver::new(producer, &mut slots[..], &mut tx[..], driver_config).unwrap();
//!
//! let record = ProducerRecord { topic: "events", partition: None, key: None, value: Some(b"hello"), headers: &[], timestamp: 0 };
//! let mut sent = false;
//! loop {
//!     let now = clock();
//!     if !sent {
//!         // A retriable error (metadata pending, buffer full): poll and send again later.
//!         sent = driver.send(&record, now).is_ok();
//!     }
//!     iface.poll(now, &mut device, &mut sockets);
//!     driver.poll(now, &mut iface, &mut sockets, |report| match report {
//!         Report::Completed(Completion::Delivered { topic, partition, base_offset, .. }) => { /* record at base_offset */ }
//!         Report::Completed(Completion::Failed { reason, .. }) => { /* the records failed for `reason` */ }
//!         _ => {}
//!     });
//!     // Sleep until the earlier of the two deadlines, or until the device has a frame.
//!     let _wake = [iface.poll_at(now, &sockets), driver.poll_at()].into_iter().flatten().min();
//! }
//! ```
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod config;
mod driver;
mod io;
mod net;
mod poll;
mod report;
mod slot;

pub use kprod_core as core;
pub use smoltcp;

pub use config::{DriverConfig, EPHEMERAL_COUNT, EPHEMERAL_FIRST};
pub use driver::{Driver, MIN_BUFFER};
pub use net::{resolve, to_core, to_net};
pub use report::{ConnectError, LinkError, NewError, Report, Stats};
pub use slot::Slot;

#[cfg(feature = "embedded-io")]
pub mod stream;
#[cfg(feature = "embedded-io-async")]
pub use stream::asynch;
