//! The producer engine: a deterministic, sans-IO state machine from `send` to delivery.
//!
//! [`Producer`] owns no socket, reads no clock and draws randomness only from the seed in its
//! [`crate::config::Config`]: the same inputs give the same outputs, so a run replays exactly.
//! The crate docs carry a complete driver.
//!
//! # Who owns what
//! | state | owner | file |
//! |---|---|---|
//! | records, batches, their memory, each partition's queue, each batch's send state, the completion queue | `Accumulator` | `accumulator.rs` |
//! | which batch is in flight in which request on which connection, per-partition counts, the in-flight limit | `Ledger` | `ledger.rs` |
//! | producer id, epoch, InitProducerId progress, per-partition sequences, the dedup window | `Idempotence` | `idempotence.rs` |
//! | brokers, topics, partitions, leaders, and when to refresh (due time, backoff, the refresh's connection) | `Metadata` | `metadata.rs` |
//! | one broker connection: handshake state, negotiated versions, requests in flight, reconnect backoff | `Connection` | `conn.rs` |
//! | what storage exists and how it grows | [`Storage`], [`StaticStorage`] | `storage.rs` |
//! | transaction state, coordinators, the open transaction's partitions and offsets, which transaction request goes next | `Txn` | `txn/` |
//! | commands, inputs, expiry, completion bookkeeping and metrics, tying the owners together | [`Producer`] | `engine.rs` |
//! | which request goes out next (ApiVersions, Metadata, InitProducerId, Produce) | `Producer::poll_transmit` | `transmit.rs` |
//! | response frames in | `Producer::handle_read` | `receive.rs` |
//! | a batch the broker refused as too large: split in two, sent again in its place | `Producer::on_too_large` | `split.rs` |
//! | the next deadline, by the same predicates `poll_transmit` uses | `Producer::poll_timeout` | `deadline.rs` |
//! | SASL on each connection (handshake, rounds, re-authentication, failures), nonce entropy, OAUTHBEARER tokens | `Producer::send_handshake` and friends | `sasl.rs` |
//! | the drain loop every driver runs | [`Producer::drain`], [`Links`] | `drain.rs` |
//! | compression jobs: closed batches compressed outside the engine (optional for a driver) | [`Producer::take_compression_job`], [`CompressionJob`] | `jobs.rs`, `accumulator/jobs.rs` |
//!
//! Imports run one way: `types` and `conn` name the vocabulary; `accumulator`, `metadata`,
//! `idempotence` and `ledger` build on it; `engine` and its `impl` files use all of them.
//!
//! # Method groups
//! - getters: [`Producer::metrics`], [`Producer::address`], [`Producer::topic_name`],
//!   [`Producer::partition_count`], `Producer::partition_infos` and `Producer::broker_address`
//!   (feature `alloc`), [`Producer::pending_batches`], [`Producer::free_buffer`],
//!   [`Producer::producer_id`], [`Producer::fatal_error`], [`Producer::oauth_token_wanted`],
//!   [`Producer::auth_error`];
//! - inputs: [`Producer::handle_connected`], [`Producer::handle_disconnected`],
//!   [`Producer::handle_read`] (returns how many bytes it consumed: whole frames only),
//!   [`Producer::handle_timeout`] (early calls are harmless); for SASL,
//!   [`Producer::handle_entropy`] (the SCRAM nonce's entropy) and [`Producer::handle_oauth_token`]
//!   (when [`Producer::oauth_token_wanted`]);
//! - commands: [`Producer::send`], [`Producer::flush`], [`Producer::close`]; transactions:
//!   [`Producer::init_transactions`], [`Producer::begin_transaction`],
//!   [`Producer::send_offsets_to_transaction`], [`Producer::commit_transaction`],
//!   [`Producer::abort_transaction`], whose results [`Producer::poll_txn`] gives;
//! - outputs: [`Producer::poll_transmit`], [`Producer::poll_event`], [`Producer::poll_timeout`],
//!   and [`Producer::drain`], which runs the first two in order into a driver's [`Links`];
//! - optional: [`Producer::take_compression_job`] and [`Producer::finish_compression_job`], a
//!   closed batch's compression outside the engine (kprod-std: off its lock, on two threads).
//!
//! # Drain order
//! After every input or command: `poll_transmit` until it returns `Ok(None)` (send each frame
//! on its connection), then `poll_event` until `None` (connect, close, report completions), again
//! while an event was itself an input (a connect answered at once); then `poll_timeout`, and
//! sleep until that instant or until a socket is readable. [`Producer::drain`] does exactly
//! this, within a [`Budget`].
//!
//! # Deadlines
//! A deadline `poll_timeout` returns is one the engine acts on at that instant: calling
//! `handle_timeout` then and draining makes progress. Everything else waits for an input. So a
//! driver sleeps exactly until the deadline and never polls in a loop (the simulator counts
//! wake-ups that did nothing on every seed: 0).
//!
//! # Completions
//! `send` returns a [`RecordId`] (batch, index). Exactly one [`Event::Completed`] covers every
//! accepted record: its [`Completion`] (delivered or failed) names the batch and its record
//! count, and record `index` has offset `base_offset + index`. The engine names the topic by
//! index ([`Producer::topic_name`]); [`Producer::drain`] hands the links the completion with the
//! topic's name, and the drivers report that one. Completions of one partition come out in the
//! order its batches were created, as the Java client guarantees for callbacks; each
//! `poll_event` is O(1). Retriable `send` errors ([`SendError::is_retriable`]: metadata pending,
//! buffer full) ask the driver to wait and call again, up to `max.block.ms`.
//!
//! # Memory
//! Everything lives in a [`Storage`]: from the heap with [`Storage::with_capacity`] (feature
//! `alloc`), where every table grows as needed and memory stays bounded by `buffer.memory` plus
//! metadata; or from one [`StaticStorage`] value without a heap, whose const parameters are the
//! capacities (a full table is a typed error). Budget (64-bit, checked by a test): the arena,
//! plus at most 176 bytes per batch slot, 280 per broker slot, 304 per topic slot, 40 per
//! partition (slot, queue, in-flight count and sequence), 968 per connection (its in-flight
//! table and SASL state), and one compression scratch of a batch's worst-case compressed size.
pub(crate) mod accumulator;
pub mod conn;
mod deadline;
pub mod drain;
mod engine;
mod idempotence;
mod jobs;
mod ledger;
pub(crate) mod metadata;
pub mod metrics;
#[cfg(feature = "alloc")]
mod partition_info;
mod ratio;
#[cfg(all(test, feature = "alloc"))]
mod rebootstrap_tests;
mod receive;
mod sasl;
mod split;
mod storage;
mod transmit;
pub mod txn;
pub mod types;

pub use accumulator::StorageError;
pub use conn::{ConnError, ConnId};
pub use drain::{Budget, Connecting, Drained, Links};
pub use engine::Producer;
pub use jobs::CompressionJob;
pub use metadata::{MetadataError, MAX_HOST_LEN};
#[cfg(feature = "alloc")]
pub use partition_info::PartitionInfo;
pub use receive::MAX_RESPONSE_FRAME;
pub use storage::{chunk_map_words, Capacities, NewError, StaticStorage, Storage};
pub use transmit::{Transmit, TransmitError, MAX_PARTITIONS_PER_REQUEST, PRODUCE_PARTITIONS_PER_REQUEST};
pub use types::{BatchId, Completion, DeliveryError, Event, FatalError, Outcome, ProducerRecord, RecordId, SendError};

/// Makes `slice` at least `len` long, filling with `fill`, when it owns a `Vec` (the `alloc`
/// feature; std storage grows as needed, within `limit` elements). Borrowed storage (no_std)
/// keeps its fixed capacity: returns whether `slice` is now long enough.
pub(crate) fn grow_slice<T: Clone>(
    slice: &mut managed::ManagedSlice<'_, T>,
    len: usize,
    limit: usize,
    fill: T,
) -> bool {
    if slice.len() >= len {
        return true;
    }
    #[cfg(feature = "alloc")]
    if let managed::ManagedSlice::Owned(v) = slice {
        if len <= limit {
            // Grow geometrically, so a topic or batch at a time costs amortised O(1).
            let target = len.max(v.len() * 2).min(limit);
            v.resize(target, fill);
            return true;
        }
    }
    let _ = (limit, fill);
    false
}
