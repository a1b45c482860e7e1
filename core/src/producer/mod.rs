//! The producer engine: a sans-IO state machine from `send` to delivery.
//!
//! Work in progress (issue 4): the modules below land one at a time, each tested on its own.
pub mod accumulator;
