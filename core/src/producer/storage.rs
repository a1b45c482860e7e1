//! Where the engine keeps everything: [`Storage`], from the heap ([`Storage::with_capacity`],
//! feature `alloc`) or from one [`StaticStorage`] value (no_std, no heap), like embassy's
//! `StackResources`.
//!
//! On std every table grows as needed (topics, partitions, brokers, connections, batch slots), so
//! no capacity is one a user can hit; memory stays bounded by `buffer.memory` plus metadata.
//! Without `alloc` the capacities are the const parameters of [`StaticStorage`], and a full table
//! is a typed error ([`super::metadata::MetadataError`], [`super::SendError::BufferFull`]).

use managed::ManagedSlice;

use super::accumulator::{BatchSlot, PartitionQueue, StorageError};
use super::conn::Connection;
use super::idempotence::PartitionSeq;
use super::metadata::{BrokerSlot, MetadataError, PartitionSlot, TopicSlot};

/// Everything the engine stores. Build it with [`Storage::with_capacity`] (std) or
/// [`StaticStorage::storage`] (no_std).
#[derive(Debug)]
pub struct Storage<'s> {
    pub(super) brokers: ManagedSlice<'s, BrokerSlot>,
    pub(super) topics: ManagedSlice<'s, TopicSlot>,
    pub(super) partitions: ManagedSlice<'s, PartitionSlot>,
    /// One batch queue per partition slot.
    pub(super) queues: ManagedSlice<'s, PartitionQueue>,
    /// Batches in flight per partition slot (the ledger's).
    pub(super) in_flight: ManagedSlice<'s, u8>,
    /// Sequence state per partition slot (idempotence's).
    pub(super) sequences: ManagedSlice<'s, PartitionSeq>,
    pub(super) connections: ManagedSlice<'s, Connection>,
    pub(super) batches: ManagedSlice<'s, BatchSlot>,
    /// The record arena: `buffer.memory` bytes.
    pub(super) memory: ManagedSlice<'s, u8>,
    /// The arena's chunk bitmap: [`chunk_map_words`] words.
    pub(super) chunk_map: ManagedSlice<'s, u32>,
    /// Compression scratch: one batch's worst-case compressed size. Smaller sends batches that
    /// do not fit uncompressed.
    pub(super) scratch: ManagedSlice<'s, u8>,
    /// Gives the arena's empty memory back ([`Storage::with_release`]).
    #[cfg(feature = "alloc")]
    pub(super) release: Option<(super::accumulator::trim::Release, usize)>,
}

pub use super::accumulator::chunk_map_words;

/// The initial sizes for [`Storage::with_capacity`]. Every table grows past them as needed;
/// they only save the first reallocations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacities {
    /// Brokers, bootstrap addresses included.
    pub brokers: usize,
    /// Topics.
    pub topics: usize,
    /// Partitions over all topics.
    pub partitions: usize,
    /// Connections.
    pub connections: usize,
    /// Batches at once.
    pub batches: usize,
}

impl Default for Capacities {
    fn default() -> Self {
        Self { brokers: 8, topics: 8, partitions: 64, connections: 8, batches: 256 }
    }
}

#[cfg(feature = "alloc")]
impl Storage<'static> {
    /// Heap-backed storage for `config` (`buffer.memory`, `batch.size`), starting at `caps`.
    pub fn with_capacity(config: &crate::config::Config<'_>, caps: Capacities) -> Self {
        use alloc::vec;
        let words = chunk_map_words(config.buffer_memory, config.batch_size);
        let scratch = config.compression.max_compressed_len(config.batch_size.max(config.max_request_size));
        Self {
            brokers: vec![BrokerSlot::EMPTY; caps.brokers].into(),
            topics: vec![TopicSlot::EMPTY; caps.topics].into(),
            partitions: vec![PartitionSlot::EMPTY; caps.partitions].into(),
            queues: vec![PartitionQueue::EMPTY; caps.partitions].into(),
            in_flight: vec![0u8; caps.partitions].into(),
            sequences: vec![PartitionSeq::EMPTY; caps.partitions].into(),
            connections: vec![Connection::EMPTY; caps.connections.max(1)].into(),
            batches: vec![BatchSlot::EMPTY; caps.batches].into(),
            memory: vec![0u8; config.buffer_memory].into(),
            chunk_map: vec![0u32; words].into(),
            scratch: vec![0u8; scratch].into(),
            release: None,
        }
    }

    /// Lets the engine give the arena's memory back while no batch is in it: `release` is
    /// called with memory that holds no batch (at batch completion, never per record: the
    /// pages of `page_size` bytes past a completed batch's records that an earlier batch
    /// wrote, and whole chunks once more than 1/32 of the arena is free and was written), and
    /// may discard their bytes, as `madvise(MADV_DONTNEED)` does. The arena is allocated
    /// zeroed, so pages no batch wrote are never mapped; with this, pages whose batches are
    /// gone do not stay mapped either: `buffer.memory` is a bound, not an allocation.
    /// kprod-std passes one.
    #[must_use]
    pub fn with_release(mut self, release: fn(&mut [u8]), page_size: usize) -> Self {
        self.release = Some((release, page_size));
        self
    }
}

/// All of the engine's storage in one value, for no_std without a heap. Put it in a `static`
/// (for example with `static_cell`) and hand [`StaticStorage::storage`] to the producer.
///
/// - `BROKERS`, `TOPICS`, `PARTITIONS` (over all topics), `CONNECTIONS`, `BATCHES`: capacities;
/// - `MEMORY`: the record arena, `buffer.memory` bytes;
/// - `CHUNK_WORDS`: `chunk_map_words(MEMORY, batch_size)` (a const fn);
/// - `SCRATCH`: compression scratch, `config.compression.max_compressed_len(batch_size)` (0
///   without compression). `batch.size` counts estimated compressed bytes, so a batch of records
///   that compress well grows past `batch_size` uncompressed, up to what `SCRATCH` can compress
///   (`max_compressed_len(n)` for batches of `n` bytes; `MEMORY` bounds them too).
///
/// Budget (32-bit): 264 bytes a broker, 296 a topic, 24 a partition, about 900 a connection (its
/// in-flight table and SASL state) and 176 a batch slot, plus `MEMORY`, `4 * CHUNK_WORDS` and
/// `SCRATCH`.
///
/// ```
/// use kprod_core::producer::{chunk_map_words, StaticStorage};
/// const MEMORY: usize = 32 * 1024;
/// type Storage = StaticStorage<4, 2, 8, 3, 32, MEMORY, { chunk_map_words(MEMORY, 2048) }, 0>;
/// let mut storage = Storage::new();
/// let _ = storage.storage(); // for Producer::new
/// ```
#[derive(Debug)]
#[allow(clippy::large_stack_arrays)]
pub struct StaticStorage<
    const BROKERS: usize,
    const TOPICS: usize,
    const PARTITIONS: usize,
    const CONNECTIONS: usize,
    const BATCHES: usize,
    const MEMORY: usize,
    const CHUNK_WORDS: usize,
    const SCRATCH: usize,
> {
    brokers: [BrokerSlot; BROKERS],
    topics: [TopicSlot; TOPICS],
    partitions: [PartitionSlot; PARTITIONS],
    queues: [PartitionQueue; PARTITIONS],
    in_flight: [u8; PARTITIONS],
    sequences: [PartitionSeq; PARTITIONS],
    connections: [Connection; CONNECTIONS],
    batches: [BatchSlot; BATCHES],
    memory: [u8; MEMORY],
    chunk_map: [u32; CHUNK_WORDS],
    scratch: [u8; SCRATCH],
}

impl<
        const BROKERS: usize,
        const TOPICS: usize,
        const PARTITIONS: usize,
        const CONNECTIONS: usize,
        const BATCHES: usize,
        const MEMORY: usize,
        const CHUNK_WORDS: usize,
        const SCRATCH: usize,
    > StaticStorage<BROKERS, TOPICS, PARTITIONS, CONNECTIONS, BATCHES, MEMORY, CHUNK_WORDS, SCRATCH>
{
    /// Empty storage; `const`, so it can initialise a `static`.
    pub const fn new() -> Self {
        Self {
            brokers: [BrokerSlot::EMPTY; BROKERS],
            topics: [TopicSlot::EMPTY; TOPICS],
            partitions: [PartitionSlot::EMPTY; PARTITIONS],
            queues: [PartitionQueue::EMPTY; PARTITIONS],
            in_flight: [0; PARTITIONS],
            sequences: [PartitionSeq::EMPTY; PARTITIONS],
            connections: [Connection::EMPTY; CONNECTIONS],
            batches: [BatchSlot::EMPTY; BATCHES],
            memory: [0; MEMORY],
            chunk_map: [0; CHUNK_WORDS],
            scratch: [0; SCRATCH],
        }
    }

    /// The engine's storage, borrowed from this value for the producer's life.
    pub fn storage(&mut self) -> Storage<'_> {
        Storage {
            brokers: (&mut self.brokers[..]).into(),
            topics: (&mut self.topics[..]).into(),
            partitions: (&mut self.partitions[..]).into(),
            queues: (&mut self.queues[..]).into(),
            in_flight: (&mut self.in_flight[..]).into(),
            sequences: (&mut self.sequences[..]).into(),
            connections: (&mut self.connections[..]).into(),
            batches: (&mut self.batches[..]).into(),
            memory: (&mut self.memory[..]).into(),
            chunk_map: (&mut self.chunk_map[..]).into(),
            scratch: (&mut self.scratch[..]).into(),
            #[cfg(feature = "alloc")]
            release: None,
        }
    }
}

impl<
        const BROKERS: usize,
        const TOPICS: usize,
        const PARTITIONS: usize,
        const CONNECTIONS: usize,
        const BATCHES: usize,
        const MEMORY: usize,
        const CHUNK_WORDS: usize,
        const SCRATCH: usize,
    > Default for StaticStorage<BROKERS, TOPICS, PARTITIONS, CONNECTIONS, BATCHES, MEMORY, CHUNK_WORDS, SCRATCH>
{
    fn default() -> Self {
        Self::new()
    }
}

/// Why the engine could not be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NewError {
    /// The accumulator's storage does not fit the configuration.
    Storage(StorageError),
    /// The metadata storage cannot hold the bootstrap list.
    Metadata(MetadataError),
    /// There is no connection slot.
    StorageMismatch,
}

impl core::fmt::Display for NewError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Storage(e) => write!(f, "the record arena does not fit the configuration: {e:?}"),
            Self::Metadata(e) => write!(f, "{e}"),
            Self::StorageMismatch => f.write_str("the storage has no connection slot"),
        }
    }
}

impl core::error::Error for NewError {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    /// The per-slot budget the docs state; a change that grows a slot must update them.
    #[test]
    fn slot_sizes_match_the_documented_budget() {
        assert!(size_of::<BatchSlot>() <= 176, "BatchSlot {}", size_of::<BatchSlot>());
        assert!(size_of::<BrokerSlot>() <= 280, "BrokerSlot {}", size_of::<BrokerSlot>());
        assert!(size_of::<TopicSlot>() <= 304, "TopicSlot {}", size_of::<TopicSlot>());
        let partition =
            size_of::<PartitionSlot>() + size_of::<PartitionQueue>() + size_of::<PartitionSeq>() + size_of::<u8>();
        assert!(partition <= 40, "partition {partition}");
        assert!(size_of::<Connection>() <= 968, "Connection {}", size_of::<Connection>());
        // 16 in-flight entries of 16 bytes each (a u16 batch count, an i8 version) are most of it.
        let in_flight = size_of::<super::super::conn::InFlight>();
        assert!(in_flight <= 16, "InFlight {in_flight}");
    }
}
