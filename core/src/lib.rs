//! # kprod-core
//!
//! The sans-IO core of kprod, a Kafka producer.
//!
//! This crate performs **no IO, reads no clock and draws no hidden randomness**. It is a pure
//! library of encoders, decoders and (later) a deterministic producer state machine. Drivers in
//! `kprod-std` and `kprod-smoltcp` own the sockets and the clock and feed this crate bytes and
//! `now`.
//!
//! Modules mirror the domain: [`wire`] primitives, one [`protocol`] module per Kafka API,
//! [`record`] batches, [`compression`], the [`partitioner`], and the engine's building blocks
//! ([`config`], [`time`], [`rng`], [`backoff`]).
//!
//! The crate is `#![no_std]`. Features:
//! - `alloc`: heap-backed conveniences (`Vec` sinks, decompression into `Vec`, gzip compression).
//! - `std` (default): implies `alloc`; hardware CRC-32C and snappy.
//! - `zstd` (default): zstd through libzstd; needs `std` and a C compiler.
//!
//! Without any feature, `none` and `lz4` compress and decompress and gzip decompresses, all
//! without an allocator; see [`compression`] for the full table.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod wire;
pub mod protocol;
pub mod record;
pub mod compression;
pub mod time;
pub mod rng;
pub mod backoff;
pub mod partitioner;
pub mod config;
pub mod producer;
