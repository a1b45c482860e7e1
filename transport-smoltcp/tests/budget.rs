//! The firmware budget of the crate docs: 64 KiB for the producer's state, one 16 KiB batch
//! buffer and two connections. The documented configuration is built on borrowed arrays (no
//! heap inside), its memory is added up, and it delivers records to the simulated broker.

extern crate alloc;

mod support;

use core::mem::size_of;
use core::time::Duration;

use kprod_core::config::Config;
use kprod_core::producer::{chunk_map_words, StaticStorage, Storage};
use kprod_smoltcp::{Driver, Slot};
use smoltcp::iface::{Interface, SocketStorage};
use smoltcp::socket::tcp;
use support::{value, Lab, Spec};

const MEMORY: usize = 16 * 1024;
const BATCH: usize = 4 * 1024;
const MAX_REQUEST: usize = 8 * 1024;
const TX: usize = 9 * 1024;
const SLOT_RX: usize = 2048;
const SOCKET_TX: usize = 4096;
const SOCKET_RX: usize = 2048;
const CONNECTIONS: usize = 2;
const BROKERS: usize = 2;
const TOPICS: usize = 1;
const PARTITIONS: usize = 4;
const BATCHES: usize = 4;

/// The firmware's engine storage.
type FirmwareStorage =
    StaticStorage<BROKERS, TOPICS, PARTITIONS, CONNECTIONS, BATCHES, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>;

fn firmware_storage(_: &Config<'static>) -> Storage<'static> {
    Box::leak(Box::new(FirmwareStorage::new())).storage()
}

/// Every byte the producer side needs, structs included (64-bit sizes: a 32-bit MCU needs
/// less). The Ethernet driver's DMA rings are the board's, not counted.
fn firmware_bytes() -> usize {
    // Every slot table, the arena and the chunk bitmap, exactly as the engine stores them.
    let engine = size_of::<FirmwareStorage>();
    let driver = size_of::<Driver<'static>>() + CONNECTIONS * (size_of::<Slot<'static>>() + SLOT_RX) + TX;
    let sockets =
        CONNECTIONS * (size_of::<SocketStorage<'static>>() + size_of::<tcp::Socket<'static>>() + SOCKET_TX + SOCKET_RX);
    engine + driver + sockets + size_of::<Interface>()
}

#[test]
fn the_documented_firmware_budget_fits_64_kib_and_delivers() {
    let total = firmware_bytes();
    println!("firmware budget: {total} bytes ({:.1} KiB)", total as f64 / 1024.0);
    assert!(total <= 64 * 1024, "{total} bytes");
    let spec = Spec {
        brokers: 1,
        topics: vec![("t", PARTITIONS)],
        sockets: CONNECTIONS,
        connections: CONNECTIONS,
        socket_tx: SOCKET_TX,
        socket_rx: SOCKET_RX,
        slot_rx: SLOT_RX,
        tx: TX,
        config: Config {
            buffer_memory: MEMORY,
            batch_size: BATCH,
            max_request_size: MAX_REQUEST,
            linger: Duration::from_millis(5),
            ..Config::default()
        },
        storage: Some(firmware_storage),
        ..Spec::default()
    };
    let mut lab = Lab::new(spec);
    for i in 0..500 {
        let key = (i % 4 != 0).then(|| format!("device-{}", i % 13).into_bytes());
        lab.send("t", key, value(i, 60 + i % 150));
    }
    assert!(lab.finish(Duration::from_secs(60)));
    assert_eq!(lab.check_delivered_once("t"), 500);
    let stats = lab.driver.stats();
    assert!(stats.max_request <= TX && stats.max_response <= SLOT_RX, "{stats:?}");
    println!("largest request {} B, largest response {} B", stats.max_request, stats.max_response);
}
