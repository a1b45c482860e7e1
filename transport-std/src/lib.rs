//! # kprod-std
//!
//! Kafka producers for std: the sans-IO [`kprod_core`] engine driven by a background IO thread
//! over nonblocking std sockets ([`Producer`], blocking), and, with feature `tokio`,
//! `AsyncProducer`: the same engine driven by a tokio task, with awaitable, cancellation-safe
//! sends.
//!
//! ```no_run
//! use std::time::Duration;
//! use kprod_std::{Producer, ProducerConfig, Record};
//!
//! let config = ProducerConfig::new("localhost:9092")?.set("linger.ms", "10")?;
//! let producer = Producer::strings(config)?;
//! let delivery = producer.send(&Record::new("orders").key("customer-7").value("{\"qty\":2}"))?;
//! producer.send_with_callback(&Record::new("orders").value("no key"), |result| {
//!     if let Err(e) = result { eprintln!("lost: {e}") }
//! })?;
//! let meta = delivery.wait(Duration::from_secs(30))?;
//! println!("written to {}-{} at offset {}", meta.topic, meta.partition, meta.offset);
//! producer.close(Duration::from_secs(30))?;
//! # Ok::<(), kprod_std::Error>(())
//! ```
//!
//! # Design
//! - **Layout.** `blocking/` is [`Producer`] and its IO thread; `async_producer/` (feature
//!   `tokio`) is `AsyncProducer` and its driver task. What both drive the engine with is shared:
//!   the state behind the lock (`state.rs`), the drain loop's links and outboxes (`pump.rs`),
//!   events, causes and log lines (`events.rs`), completions (`delivery.rs`), the send path
//!   (`send.rs`), configuration and errors.
//! - **Threads.** `Producer::new` starts one IO thread (`kprod-io-<client.id>`). It owns every
//!   socket (`mio` over epoll/kqueue, nonblocking connects through `socket2` so socket options
//!   are set before the SYN) and runs the engine's drain order: inputs, `handle_timeout`, the
//!   core's drain loop (`Producer::drain` of `kprod_core`), then sleeps in `mio::Poll` until a
//!   socket is ready, exactly the engine's `poll_timeout`, or a wake-up. There is no busy loop.
//! - **Locking.** The engine and the completion registry sit behind one mutex. `send`
//!   serializes on the calling thread, then takes the lock just to copy the record into the
//!   engine's arena and register its handle; the IO thread takes it to feed the engine and to
//!   move request frames into per-connection outboxes. Socket IO, DNS, connects and callbacks
//!   run outside it. Sends that open a new batch wake the sleeping IO thread (one wake-up per
//!   batch, not per record).
//! - **Blocking.** `send` waits on a condvar (never spins) while the engine reports a full
//!   buffer or pending metadata, up to `max.block.ms`, then fails with [`Error::Timeout`]
//!   naming what it waited for (`topic T not present in metadata after N ms`, `buffer full
//!   ...`) and the root cause if a connection failed meanwhile ([`ConnectionError`]: `; last
//!   error: connection refused by 127.0.0.1:9092 (5 attempts)`, a failed DNS lookup, a broker
//!   that sent a malformed response).
//! - **Completions.** The engine reports whole batches; every record of a batch shares one
//!   cell, and its [`DeliveryHandle`] adds the record's index (offset = base offset + index).
//!   Each accepted record resolves exactly once: delivered, failed, failed at the `close`
//!   deadline, or failed with [`Error::Closed`] if the IO thread stops.
//! - **Hooks** (`hooks.rs`, set on [`ProducerConfig`]): a custom [`Partitioner`], run on the
//!   sending thread outside the lock; [`ProducerInterceptor`]s, whose `on_send` runs before
//!   partitioning and whose `on_acknowledgement` runs once per record (on the IO thread with
//!   the batch's completion, or in `send` for a refused record), every call under
//!   `catch_unwind`; and the statistics callback (`stats.rs`: JSON every
//!   `statistics.interval.ms`, on a thread or task of its own).
//! - **Logging** through the `log` crate. Connects (info), connection failures (warn the first
//!   time, debug while the same failure repeats for a broker, warn again after 30 s or a
//!   connect in between), connect attempts and closes (debug) log under the target
//!   `kprod_std::connection`; failed batches (warn), fatal errors (error) and retries (debug)
//!   under the modules' own.
//!
//! # Configuration
//! [`ProducerConfig`] takes typed settings and Kafka property names (`acks`, `linger.ms`,
//! `compression.type`, `bootstrap.servers`, `send.buffer.bytes`, ...), from code, a map or a
//! `client.properties` file; an unknown name is [`Error::UnknownProperty`].
// `deny`, not `forbid`: `release` (madvise) is the one module that allows it.
#![deny(unsafe_code)]
#![deny(missing_docs)]
// A std-only driver: std paths read more plainly here; the core keeps the no_std discipline.
#![allow(clippy::std_instead_of_core, clippy::std_instead_of_alloc, clippy::alloc_instead_of_core)]

#[cfg(feature = "tokio")]
mod async_producer;
mod blocking;
mod config;
mod delivery;
mod error;
mod events;
mod hooks;
mod partition_info;
pub mod properties;
mod pump;
mod record;
#[cfg(target_os = "linux")]
mod release;
mod security;
mod send;
mod serializer;
mod state;
mod stats;
mod tls;

#[cfg(feature = "tokio")]
pub use async_producer::{AsyncProducer, DeliveryFuture};
pub use blocking::Producer;
pub use config::{parse_bootstrap, parse_properties, ProducerConfig, SocketOptions, StandardSerializer, DEFAULT_PORT};
pub use delivery::{Callback, DeliveryHandle};
pub use error::{
    BlockedOn, ConfigError, ConnError, ConnectionError, DeliveryError, Error, FatalError, SendError, TxnError,
};
pub use hooks::{InterceptedRecord, Partitioner, PartitionerInput, ProducerInterceptor, StatisticsCallback};
pub use kprod_core as core;
pub use kprod_core::compression::Compression;
pub use kprod_core::config::Acks;
pub use kprod_core::producer::metrics::Metrics;
pub use kprod_core::producer::txn::{GroupMetadata, TopicPartitionOffset};
pub use kprod_core::producer::Capacities;
pub use kprod_core::protocol::ErrorCode;
pub use partition_info::{Node, PartitionInfo};
pub use record::{Header, Record, RecordMetadata};
pub use security::{
    is_secret_property, SaslSettings, Secret, SecurityProtocol, SecuritySettings, SslSettings, Store, StoreType,
    TlsVersions,
};
#[cfg(feature = "serde")]
pub use serializer::JsonSerializer;
pub use serializer::{BytesSerializer, Serializer, StringSerializer};
pub use tls::TlsError;
