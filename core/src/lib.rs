//! # kprod-core
//!
//! The sans-IO core of kprod, a Kafka producer.
//!
//! This crate performs **no IO, reads no clock and draws no hidden randomness**. It is a pure
//! library of encoders, decoders and (later) a deterministic producer state machine. Drivers in
//! `kprod-std` and `kprod-smoltcp` own the sockets and the clock and feed this crate bytes and
//! `now`.
//!
//! The crate is `#![no_std]`. Features:
//! - `alloc`: heap-backed conveniences (`Vec` sinks, decompression into `Vec`).
//! - `std` (default): implies `alloc`.
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
