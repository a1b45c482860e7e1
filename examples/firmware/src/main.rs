//! A minimal Cortex-M4F firmware producing to Kafka with kprod-smoltcp, without a heap.
//!
//! It exists to measure what the producer costs on a microcontroller: `scripts/firmware-size.sh`
//! builds it for `thumbv7em-none-eabihf` and reports `.text`, `.rodata`, `.data` and `.bss`
//! (BENCHMARKS.md). Every buffer is a `static` (`ConstStaticCell`), so `.bss` is the RAM the
//! producer, its batch buffer and its two connections take; nothing is allocated at run time.
//!
//! What a board adds: its Ethernet MAC driver in place of [`Mac`] (a stand-in with one receive
//! and one transmit frame buffer; `black_box` keeps the compiler from assuming no frame ever
//! arrives, so the whole receive path is linked as it would be with real hardware), and a
//! clock (here SysTick at 1 kHz).
//!
//! The budget (issue 7): RAM for the producer state, one 16 KiB batch buffer and 2
//! connections at most 64 KiB; flash at most 160 KiB without compression.
#![no_std]
#![no_main]
#![deny(unsafe_code)]

use core::hint::black_box;
use core::sync::atomic::{AtomicU32, Ordering};
use core::time::Duration;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::{entry, exception};
use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::producer::{chunk_map_words, Completion, Producer, ProducerRecord, StaticStorage};
use kprod_smoltcp::{to_core, Driver, DriverConfig, Report, Slot};
use panic_halt as _;
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet, SocketStorage};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr, Ipv4Address};
use static_cell::{ConstStaticCell, StaticCell};

/// `buffer.memory` and `batch.size`: one 16 KiB batch buffer.
const MEMORY: usize = 16 * 1024;
const BATCH: usize = 16 * 1024;
/// `max.request.size`: one full batch plus the Produce request's framing.
const MAX_REQUEST: usize = BATCH + 1024;
/// The transmit frame buffer holds the largest request (the driver docs: + 1 KiB).
const TX: usize = MAX_REQUEST + 1024;
/// Per-connection response buffer and smoltcp socket buffers.
const RX: usize = 2048;
const SOCK_RX: usize = 2048;
const SOCK_TX: usize = 4096;
/// Ethernet MTU plus header.
const FRAME: usize = 1514;
/// Engine slots: brokers, topics, partitions, batches.
const BROKERS: usize = 2;
const PARTITIONS: usize = 8;
const BATCHES: usize = 4;

static MILLIS: AtomicU32 = AtomicU32::new(0);

// The long-lived state goes to .bss too (moved there once at start), so that the sizes
// report counts it; the stack holds only what one loop iteration needs.
static IFACE: StaticCell<Interface> = StaticCell::new();
static SOCKET_SET: StaticCell<SocketSet<'static>> = StaticCell::new();
static SLOTS: StaticCell<[Slot<'static>; 2]> = StaticCell::new();
static DRIVER: StaticCell<Driver<'static>> = StaticCell::new();
static MAC: StaticCell<Mac> = StaticCell::new();

/// The engine's storage: 2 brokers, 1 topic, 8 partitions, 2 connections, 4 batches, the arena,
/// and no compression scratch.
type EngineStorage = StaticStorage<BROKERS, 1, PARTITIONS, 2, BATCHES, MEMORY, { chunk_map_words(MEMORY, BATCH) }, 0>;
/// Filled at start (not a `const` initialiser): its empty slots are not all zero bytes, and a
/// static with any non-zero byte would be stored whole in flash (.data), arena included.
static STORAGE: StaticCell<EngineStorage> = StaticCell::new();
static TX_FRAME: ConstStaticCell<[u8; TX]> = ConstStaticCell::new([0; TX]);
static RX0: ConstStaticCell<[u8; RX]> = ConstStaticCell::new([0; RX]);
static RX1: ConstStaticCell<[u8; RX]> = ConstStaticCell::new([0; RX]);
static SOCK0_RX: ConstStaticCell<[u8; SOCK_RX]> = ConstStaticCell::new([0; SOCK_RX]);
static SOCK0_TX: ConstStaticCell<[u8; SOCK_TX]> = ConstStaticCell::new([0; SOCK_TX]);
static SOCK1_RX: ConstStaticCell<[u8; SOCK_RX]> = ConstStaticCell::new([0; SOCK_RX]);
static SOCK1_TX: ConstStaticCell<[u8; SOCK_TX]> = ConstStaticCell::new([0; SOCK_TX]);
static SOCKETS: ConstStaticCell<[SocketStorage<'static>; 2]> =
    ConstStaticCell::new([SocketStorage::EMPTY, SocketStorage::EMPTY]);
static MAC_RX: ConstStaticCell<[u8; FRAME]> = ConstStaticCell::new([0; FRAME]);
static MAC_TX: ConstStaticCell<[u8; FRAME]> = ConstStaticCell::new([0; FRAME]);

/// The board's monotonic clock.
fn now() -> Instant {
    Instant::from_millis(i64::from(MILLIS.load(Ordering::Relaxed)))
}

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// A stand-in for the board's Ethernet MAC: one frame buffer each way.
struct Mac {
    rx: &'static mut [u8; FRAME],
    tx: &'static mut [u8; FRAME],
}

struct MacRx<'a>(&'a [u8]);
struct MacTx<'a>(&'a mut [u8; FRAME]);

impl phy::RxToken for MacRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for MacTx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let r = f(&mut self.0[..len.min(FRAME)]);
        // Hand the frame to the MAC's DMA.
        black_box(&self.0[..]);
        r
    }
}

impl Device for Mac {
    type RxToken<'a> = MacRx<'a>;
    type TxToken<'a> = MacTx<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        // A real MAC reports the length of a frame its DMA wrote; opaque to the optimizer here.
        let len = black_box(0usize).min(FRAME);
        (len > 0).then(|| (MacRx(black_box(&self.rx[..len])), MacTx(self.tx)))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(MacTx(self.tx))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}

#[entry]
fn main() -> ! {
    let mut core = cortex_m::Peripherals::take().unwrap_or_else(|| panic!("peripherals taken twice"));
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(168_000 - 1); // 1 ms at 168 MHz
    core.SYST.clear_current();
    core.SYST.enable_counter();
    core.SYST.enable_interrupt();

    // The network: the MAC, the interface at 10.200.0.2/24, two TCP sockets.
    let mac = MAC.init(Mac { rx: MAC_RX.take(), tx: MAC_TX.take() });
    let hw = HardwareAddress::Ethernet(EthernetAddress([0x02, 0, 0, 0, 0, 2]));
    let iface = IFACE.init(Interface::new(IfaceConfig::new(hw), mac, now()));
    iface.update_ip_addrs(|a| {
        let _ = a.push(IpCidr::new(IpAddress::v4(10, 200, 0, 2), 24));
    });
    let _ = iface.routes_mut().add_default_ipv4_route(Ipv4Address::new(10, 200, 0, 1));
    let sockets = SOCKET_SET.init(SocketSet::new(&mut SOCKETS.take()[..]));
    let socket = |rx: &'static mut [u8], tx: &'static mut [u8]| {
        tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx))
    };
    let h0 = sockets.add(socket(&mut SOCK0_RX.take()[..], &mut SOCK0_TX.take()[..]));
    let h1 = sockets.add(socket(&mut SOCK1_RX.take()[..], &mut SOCK1_TX.take()[..]));

    // The engine on static arrays, with as many connection slots as sockets.
    let storage = STORAGE.init_with(EngineStorage::new).storage();
    let config = Config {
        buffer_memory: MEMORY,
        batch_size: BATCH,
        max_request_size: MAX_REQUEST,
        linger: Duration::from_millis(20),
        acks: Acks::All,
        compression: Compression::None,
        ..Config::default()
    };
    let Ok(config) = config.validate() else { panic!("invalid producer config") };
    let Ok(producer) = Producer::new(config, &[("10.200.0.1", 9092)], storage, to_core(now())) else {
        panic!("producer storage too small")
    };
    let slots = SLOTS.init([Slot::new(h0, &mut RX0.take()[..]), Slot::new(h1, &mut RX1.take()[..])]);
    // Seed per boot (a hardware RNG or a boot counter) so ports differ after a reboot.
    let driver_config = DriverConfig { port_seed: black_box(4711), ..DriverConfig::default() };
    let Ok(driver) = Driver::new(producer, &mut slots[..], &mut TX_FRAME.take()[..], driver_config) else {
        panic!("driver buffers too small")
    };
    let driver = DRIVER.init(driver);

    // One reading every 100 ms; delivered and failed counts are what a device would report.
    let (mut next, mut reading, mut delivered, mut failed) = (0i64, 0u32, 0u32, 0u32);
    loop {
        let t = now();
        if t.total_millis() >= next {
            let value = black_box(reading).to_le_bytes();
            let record = ProducerRecord {
                topic: "telemetry",
                partition: None,
                key: Some(b"device-2"),
                value: Some(&value),
                headers: &[],
                timestamp: t.total_millis(),
            };
            // A retriable error (metadata pending, buffer full): try again next period.
            if driver.send(&record, t).is_ok() {
                reading = reading.wrapping_add(1);
            }
            next = t.total_millis() + 100;
        }
        iface.poll(t, mac, sockets);
        driver.poll(t, iface, sockets, |report| match report {
            Report::Completed(Completion::Delivered { records, .. }) => delivered = delivered.wrapping_add(records),
            Report::Completed(Completion::Failed { records, .. }) => failed = failed.wrapping_add(records),
            _ => {}
        });
        black_box((delivered, failed));
        // Sleep until the stack or the producer has work (the SysTick wakes us every 1 ms).
        let wake = [iface.poll_at(t, sockets), driver.poll_at()].into_iter().flatten().min();
        if wake.is_none_or(|w| w > now()) {
            cortex_m::asm::wfi();
        }
    }
}

