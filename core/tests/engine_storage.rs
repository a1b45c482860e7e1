//! The engine on borrowed, caller-provided storage (no `with_capacity`, no `Vec` inside the
//! engine): the shape a no-heap firmware uses. It bootstraps, asks to connect, and takes records
//! into its fixed arena until the arena is full, then refuses with a retriable error.

use core::time::Duration;

use kprod_core::config::Config;
use kprod_core::producer::accumulator::{chunk_map_words, BatchSlot, PartitionQueue};
use kprod_core::producer::conn::Connection;
use kprod_core::producer::metadata::{BrokerSlot, PartitionSlot, TopicSlot};
use kprod_core::producer::{Event, PartitionSeq, Producer, ProducerRecord, SendError, Storage};
use kprod_core::time::Instant;

const MEMORY: usize = 8 * 1024;
const BATCH: usize = 1024;

#[test]
fn runs_on_borrowed_arrays() {
    let mut brokers = [BrokerSlot::EMPTY; 2];
    let mut topics = [TopicSlot::EMPTY; 1];
    let mut partitions = [PartitionSlot::EMPTY; 4];
    let mut queues = [PartitionQueue::EMPTY; 4];
    let mut sequences = [PartitionSeq::EMPTY; 4];
    let mut connections = [Connection::EMPTY, Connection::EMPTY];
    let mut batches = [BatchSlot::EMPTY; 8];
    let mut memory = [0u8; MEMORY];
    let mut chunk_map = [0u32; chunk_map_words(MEMORY, BATCH)];
    let mut scratch = [0u8; 0];
    let storage = Storage {
        brokers: (&mut brokers[..]).into(),
        topics: (&mut topics[..]).into(),
        partitions: (&mut partitions[..]).into(),
        queues: (&mut queues[..]).into(),
        sequences: (&mut sequences[..]).into(),
        connections: (&mut connections[..]).into(),
        batches: (&mut batches[..]).into(),
        memory: (&mut memory[..]).into(),
        chunk_map: (&mut chunk_map[..]).into(),
        scratch: (&mut scratch[..]).into(),
    };
    let config = Config { buffer_memory: MEMORY, batch_size: BATCH, max_request_size: 4096, ..Config::default() };
    let mut p = Producer::new(config.validate().unwrap(), &[("10.200.0.1", 9092)], storage, Instant::ZERO).unwrap();
    let rec = ProducerRecord { topic: "t", partition: None, key: None, value: Some(b"v"), headers: &[], timestamp: 0 };
    assert_eq!(p.send(&rec, Instant::ZERO), Err(SendError::MetadataPending));
    let mut tx = [0u8; 512];
    assert!(matches!(p.poll_transmit(Instant::ZERO, &mut tx), Ok(None)));
    let Some(Event::Connect(conn)) = p.poll_event() else { panic!("expected a connect request") };
    assert_eq!(p.address(conn), Some(("10.200.0.1", 9092)));
    // Waiting on the connection: no deadline in the past, so a driver sleeps instead of spinning.
    assert!(p.poll_timeout().is_none_or(|t| t > Instant::ZERO), "{:?}", p.poll_timeout());
    p.handle_connected(conn, Instant::ZERO);
    let t = p.poll_transmit(Instant::ZERO, &mut tx).unwrap().expect("ApiVersions goes first");
    assert_eq!(&tx[4..6], &18i16.to_be_bytes(), "api key 18 = ApiVersions");
    assert!(t.len > 8);
    // Without a broker answer the connection times out and closes; nothing panics, nothing is lost.
    p.handle_timeout(Instant::ZERO + Duration::from_secs(31));
    assert!(core::iter::from_fn(|| p.poll_event()).any(|e| e == Event::Close(conn)));
    assert_eq!(p.pending_batches(), 0);
    assert_eq!(p.free_buffer(), MEMORY);
}
