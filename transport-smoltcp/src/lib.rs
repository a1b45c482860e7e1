//! kprod-smoltcp: a no_std driver that runs `kprod-core` over smoltcp TCP sockets.
//!
//! The driver lands with the kprod-smoltcp issue; today this crate only re-exports the core so
//! the workspace layout (and the bare-metal build) is in place.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use kprod_core as core;
