//! Drives the whole producer engine with arbitrary broker bytes, connection outcomes, sends and
//! ticks, and (scripts starting with 0xFF) the transactional calls; the interpreter is
//! `src/engine.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| kprod_fuzz::engine::run(kprod_fuzz::engine::config(), data, |_| {}));
