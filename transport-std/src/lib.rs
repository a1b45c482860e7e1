//! kprod-std: drivers that run the sans-IO `kprod-core` over std sockets.
//!
//! The blocking and tokio producers land with the kprod-std issue; today this crate only
//! re-exports the core so the workspace layout is in place.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub use kprod_core as core;
