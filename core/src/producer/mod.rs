//! The producer engine: a deterministic, sans-IO state machine from `send` to delivery.
//!
//! [`Producer`] owns no socket, reads no clock and draws randomness only from the seed in its
//! [`crate::config::Config`]: the same inputs give the same outputs, so a run replays exactly.
//!
//! # Method groups
//! - getters: [`Producer::metrics`], [`Producer::address`], [`Producer::topic_name`],
//!   [`Producer::partition_count`], [`Producer::pending_batches`], [`Producer::free_buffer`],
//!   [`Producer::producer_id`], [`Producer::fatal_error`];
//! - inputs: [`Producer::handle_connected`], [`Producer::handle_disconnected`],
//!   [`Producer::handle_read`] (returns how many bytes it consumed: whole frames only),
//!   [`Producer::handle_timeout`] (early calls are harmless);
//! - commands: [`Producer::send`], [`Producer::flush`], [`Producer::close`];
//! - outputs: [`Producer::poll_transmit`], [`Producer::poll_event`], [`Producer::poll_timeout`].
//!
//! # Drain order
//! After every input or command: call `poll_transmit` until it returns `Ok(None)` (send each
//! frame on its connection), then `poll_event` until `None` (connect, close, report
//! completions), then `poll_timeout`, and sleep until that instant or until a socket is
//! readable. An `Event::Connect` answered at once with `handle_connected` is itself an input:
//! drain again.
//!
//! # Completions
//! `send` returns a [`accumulator::RecordId`] (batch, index). Exactly one [`Event::Delivered`]
//! or [`Event::Failed`] covers every accepted record: it names the batch and its record count,
//! and record `index` has offset `base_offset + index`. Retriable `send` errors
//! ([`SendError::is_retriable`]: metadata pending, buffer full) ask the driver to wait and call
//! again, up to `max.block.ms`.
//!
//! # Memory
//! Everything lives in a [`Storage`] the caller provides: fixed arrays of broker, topic,
//! partition, connection and batch slots, and the record arena of `buffer.memory` bytes. Without
//! the `alloc` feature the caller passes borrowed slices; with it, [`Storage::with_capacity`]
//! allocates them once. The engine never allocates afterwards. Budget (64-bit, checked by a
//! test): the arena, plus at most 168 bytes per batch slot, 280 per broker slot, 304 per topic
//! slot, 40 per partition (slot, queue and sequence), 600 per connection (its in-flight table),
//! and one compression scratch of a batch's worst-case compressed size.
//!
//! # A driver loop
//! ```no_run
//! # #[cfg(feature = "alloc")] {
//! use kprod_core::config::Config;
//! use kprod_core::producer::{Capacities, Event, Producer, ProducerRecord, Storage};
//! use kprod_core::time::Instant;
//!
//! let config = Config::default();
//! let storage = Storage::with_capacity(&config, Capacities::default());
//! let mut producer =
//!     Producer::new(config.validate().unwrap(), &[("127.0.0.1", 9092)], storage, Instant::ZERO).unwrap();
//! let mut tx = vec![0u8; 1 << 20];
//! let now = || Instant::ZERO; // the driver's monotonic clock
//! let record = ProducerRecord {
//!     topic: "events", partition: None, key: Some(b"k"), value: Some(b"v"), headers: &[], timestamp: 0,
//! };
//! let _ = producer.send(&record, now()); // on a retriable error: drive the loop, send again
//! loop {
//!     while let Ok(Some(t)) = producer.poll_transmit(now(), &mut tx) {
//!         // write tx[..t.len] to the socket of t.conn
//!     }
//!     while let Some(event) = producer.poll_event() {
//!         match event {
//!             Event::Connect(conn) => {
//!                 // connect to producer.address(conn), then:
//!                 producer.handle_connected(conn, now());
//!             }
//!             Event::Close(_conn) => {}
//!             Event::Delivered { .. } | Event::Failed { .. } | Event::ConnectionFailed { .. } | Event::Fatal(_) => {}
//!         }
//!     }
//!     // wait for readable sockets or producer.poll_timeout(); then for each read:
//!     //   let used = producer.handle_read(conn, &rx, now()); rx.drain(..used);
//!     producer.handle_timeout(now());
//!     if producer.pending_batches() == 0 {
//!         break;
//!     }
//! }
//! # }
//! ```
pub mod accumulator;
pub mod conn;
mod deadline;
pub mod drain;
mod engine;
mod idempotence;
mod ledger;
pub mod metadata;
pub mod metrics;
mod receive;
mod storage;
mod transmit;
pub mod types;

pub use drain::{Budget, Connecting, Drained, Links};
pub use conn::ConnError;
pub use engine::Producer;
pub use idempotence::PartitionSeq;
pub use storage::{chunk_map_words, Capacities, NewError, StaticStorage, Storage};
pub use receive::MAX_RESPONSE_FRAME;
pub use transmit::{Transmit, TransmitError, MAX_PARTITIONS_PER_REQUEST};
pub use types::{BatchId, DeliveryError, Event, FatalError, Outcome, ProducerRecord, RecordId, SendError};

/// Makes `slice` at least `len` long, filling with `fill`, when it owns a `Vec` (the `alloc`
/// feature; std storage grows as needed, within `limit` elements). Borrowed storage (no_std)
/// keeps its fixed capacity: returns whether `slice` is now long enough.
pub(crate) fn grow_slice<T: Clone>(slice: &mut managed::ManagedSlice<'_, T>, len: usize, limit: usize, fill: T) -> bool {
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
