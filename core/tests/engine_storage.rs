//! The engine on borrowed, caller-provided storage (no `with_capacity`, no `Vec` inside the
//! engine): the shape a no-heap firmware uses. It bootstraps, asks to connect, and takes records
//! into its fixed arena until the arena is full, then refuses with a retriable error.

use core::time::Duration;

use kprod_core::config::Config;
use kprod_core::producer::{chunk_map_words, Event, Producer, ProducerRecord, SendError, StaticStorage};
use kprod_core::time::Instant;

const MEMORY: usize = 8 * 1024;
const BATCH: usize = 1024;

#[test]
fn runs_on_borrowed_arrays() {
    let mut storage = StaticStorage::<2, 1, 4, 2, 8, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>::new();
    let storage = storage.storage();
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
