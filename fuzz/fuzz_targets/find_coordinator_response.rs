//! FindCoordinator response body (`find_coordinator::FindCoordinatorResponse`).
//!
//! Input: 2 bytes big-endian version (folded into the schema range), then the body. Every
//! decoded array is walked.
#![no_main]

use kprod_core::protocol::ApiKey;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kprod_fuzz::response_target(ApiKey::FindCoordinator, data));
