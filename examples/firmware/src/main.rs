//! A Cortex-M4F firmware that produces to Kafka with kprod-smoltcp, without a heap, on QEMU's
//! `mps2-an386` board (its LAN9118 Ethernet controller on QEMU's user-mode network).
//!
//! It produces `records` records (10,000) with acks=all and idempotence to a topic, reports
//! progress and a summary on UART 0, and exits through semihosting with a status:
//!
//! | status | meaning |
//! | --- | --- |
//! | 0 | every record was delivered |
//! | 3 | every record completed, and each one not delivered failed with `delivery.timeout.ms` (the broker is gone) |
//! | 1 | a record failed for another reason, or the producer stopped (fatal error, blocked send) |
//! | 2 | bad command line or no network controller |
//! | 101 | a panic (a broken invariant of ours) or a hard fault |
//!
//! `scripts/qemu-test.sh` boots it against a real broker and reads the records back;
//! `scripts/firmware-size.sh` reports its flash and RAM. Every buffer is a `static`, so
//! `.data` + `.bss` is the RAM the producer, its batch buffer, its two connections and the
//! network take;
//! the stack is painted at boot and its high-water mark reported at exit (`memory.x` gives the
//! firmware exactly its 64 KiB budget: statics plus stack).
#![no_std]
#![no_main]
#![deny(unsafe_code)]

mod args;
mod board;
mod lan9118;
mod mmio;
mod run;
mod uart;

use core::fmt::Write;
use core::panic::PanicInfo;
use core::time::Duration;

use cortex_m_rt::entry;
use kprod_core::compression::Compression;
use kprod_core::config::{Acks, Config};
use kprod_core::producer::{chunk_map_words, Producer, StaticStorage};
use kprod_smoltcp::{to_core, Driver, DriverConfig, Slot};
use smoltcp::iface::{Config as IfaceConfig, Interface, SocketSet, SocketStorage};
use smoltcp::socket::tcp;
use smoltcp::wire::HardwareAddress;
use static_cell::{ConstStaticCell, StaticCell};

use crate::args::Args;
use crate::lan9118::{Lan9118, FRAME, RX_BUFFER};
use crate::run::{Net, Run, Tally};
use crate::uart::Uart;

/// `buffer.memory` and `batch.size`: a 12 KiB batch buffer in 4 KiB batches (the storage is a
/// const-initialised static, so its bytes count in flash too).
const MEMORY: usize = 12 * 1024;
const BATCH: usize = 4 * 1024;
/// `max.request.size`: one full batch plus the Produce request's framing.
const MAX_REQUEST: usize = BATCH + 1024;
/// The transmit frame buffer holds the largest request (the driver docs: + 1 KiB).
const TX: usize = MAX_REQUEST + 1024;
/// Per-connection response buffer (the largest response: Kafka 4.3's ApiVersions, 724 bytes;
/// Metadata for one topic of 3 partitions is ~300) and the smoltcp socket buffers (the
/// receive window and the bytes in flight per connection).
const RX: usize = 1024;
const SOCK_RX: usize = 1024;
const SOCK_TX: usize = 2048;
/// Engine slots: brokers, topics, partitions, batches.
const BROKERS: usize = 2;
const PARTITIONS: usize = 4;
const BATCHES: usize = 4;
/// The semihosting command line.
const CMDLINE: usize = 256;

const EXIT_DELIVERED: u8 = 0;
const EXIT_FAILED: u8 = 1;
const EXIT_SETUP: u8 = 2;
const EXIT_TIMED_OUT: u8 = 3;
const EXIT_PANIC: u8 = 101;

// The long-lived state goes to .bss too (moved there once at start), so that the sizes
// report counts it; the stack holds only what one loop iteration needs.
static IFACE: StaticCell<Interface> = StaticCell::new();
static SOCKET_SET: StaticCell<SocketSet<'static>> = StaticCell::new();
static SLOTS: StaticCell<[Slot<'static>; 2]> = StaticCell::new();
static DRIVER: StaticCell<Driver<'static>> = StaticCell::new();
static DEVICE: StaticCell<Lan9118> = StaticCell::new();

/// The engine's storage: 2 brokers, 1 topic, 4 partitions, 2 connections, 4 batches, the arena,
/// and no compression scratch.
type EngineStorage = StaticStorage<
    BROKERS,
    1,
    PARTITIONS,
    2,
    BATCHES,
    MEMORY,
    { chunk_map_words(MEMORY, BATCH) },
    0,
>;
/// A `const` initialiser: its empty slots are not all zero bytes, so the whole value, 16 KiB
/// arena included, is stored in flash (`.data`, 18 KiB) and copied to RAM at reset. The
/// alternative, `StaticCell::init_with(EngineStorage::new)`, keeps it in `.bss` but builds the
/// value on the stack first (a 20 KiB frame at boot, which the stack would have to hold): on a
/// microcontroller RAM is the scarcer of the two (BENCHMARKS.md, issue 13).
static STORAGE: ConstStaticCell<EngineStorage> = ConstStaticCell::new(EngineStorage::new());
static TX_FRAME: ConstStaticCell<[u8; TX]> = ConstStaticCell::new([0; TX]);
static RX0: ConstStaticCell<[u8; RX]> = ConstStaticCell::new([0; RX]);
static RX1: ConstStaticCell<[u8; RX]> = ConstStaticCell::new([0; RX]);
static SOCK0_RX: ConstStaticCell<[u8; SOCK_RX]> = ConstStaticCell::new([0; SOCK_RX]);
static SOCK0_TX: ConstStaticCell<[u8; SOCK_TX]> = ConstStaticCell::new([0; SOCK_TX]);
static SOCK1_RX: ConstStaticCell<[u8; SOCK_RX]> = ConstStaticCell::new([0; SOCK_RX]);
static SOCK1_TX: ConstStaticCell<[u8; SOCK_TX]> = ConstStaticCell::new([0; SOCK_TX]);
static SOCKETS: ConstStaticCell<[SocketStorage<'static>; 2]> =
    ConstStaticCell::new([SocketStorage::EMPTY, SocketStorage::EMPTY]);
static MAC_RX: ConstStaticCell<[u8; RX_BUFFER]> = ConstStaticCell::new([0; RX_BUFFER]);
static MAC_TX: ConstStaticCell<[u8; FRAME]> = ConstStaticCell::new([0; FRAME]);
static CMDLINE_BUF: ConstStaticCell<[u8; CMDLINE]> = ConstStaticCell::new([0; CMDLINE]);

/// Prints `msg` and exits with `status`.
fn fail(out: &mut Uart, status: u8, msg: core::fmt::Arguments<'_>) -> ! {
    let _ = writeln!(out, "firmware: error: {msg}");
    board::exit(status)
}

#[entry]
fn main() -> ! {
    // First, while the stack holds only this frame: everything after is measured.
    board::paint_stack();
    run()
}

/// Everything the firmware does after painting the stack: setup, the produce loop, the exit.
/// Not inlined, so that its frame is measured; setup runs in its own frame, which is gone
/// before the loop's frame is pushed.
#[inline(never)]
fn run() -> ! {
    let mut out = Uart::init();
    let (driver, net, args) = setup(&mut out);
    let result = run::produce(driver, net, &mut out, &args);
    let status = match result {
        Ok(tally) => summary(&mut out, &tally, args.records),
        Err(e) => {
            let _ = writeln!(out, "firmware: error: {e}");
            EXIT_FAILED
        }
    };
    let (high_water, region) = board::stack_high_water();
    let _ = writeln!(out, "stack: high-water {high_water} bytes of {region}");
    board::exit(status)
}

/// Brings up the clock, the network and the producer, all in statics.
#[inline(never)]
fn setup(out: &mut Uart) -> (&'static mut Driver<'static>, Net<'static>, Run) {
    let core = cortex_m::Peripherals::take().unwrap_or_else(|| panic!("peripherals taken twice"));
    board::start_clock(core.SYST);
    let epoch_ms =
        i64::try_from(board::epoch_seconds()).unwrap_or(0) * 1000 - board::now().total_millis();

    let mut config = Config {
        buffer_memory: MEMORY,
        batch_size: BATCH,
        max_request_size: MAX_REQUEST,
        linger: Duration::from_millis(20),
        acks: Acks::All,
        enable_idempotence: Some(true),
        compression: Compression::None,
        client_id: "kprod-firmware",
        seed: epoch_ms as u64,
        ..Config::default()
    };
    let cmdline = board::cmdline(CMDLINE_BUF.take()).unwrap_or("");
    let args = Args::parse(cmdline, &mut config)
        .unwrap_or_else(|e| fail(out, EXIT_SETUP, format_args!("{e}")));
    let max_block_ms = i64::try_from(config.max_block.as_millis()).unwrap_or(i64::MAX);

    // The network: the LAN9118, the interface on QEMU's user network, two TCP sockets.
    let device = Lan9118::new(MAC_RX.take(), MAC_TX.take())
        .unwrap_or_else(|e| fail(out, EXIT_SETUP, format_args!("LAN9118: {e:?}")));
    let device = DEVICE.init(device);
    let mut iface_config = IfaceConfig::new(HardwareAddress::Ethernet(device.mac()));
    iface_config.random_seed = epoch_ms as u64;
    let iface = IFACE.init(Interface::new(iface_config, device, board::now()));
    iface.update_ip_addrs(|a| {
        let _ = a.push(args.ip);
    });
    let _ = iface.routes_mut().add_default_ipv4_route(args.gateway);
    let sockets = SOCKET_SET.init(SocketSet::new(&mut SOCKETS.take()[..]));
    let socket = |rx: &'static mut [u8], tx: &'static mut [u8]| {
        tcp::Socket::new(tcp::SocketBuffer::new(rx), tcp::SocketBuffer::new(tx))
    };
    let h0 = sockets.add(socket(&mut SOCK0_RX.take()[..], &mut SOCK0_TX.take()[..]));
    let h1 = sockets.add(socket(&mut SOCK1_RX.take()[..], &mut SOCK1_TX.take()[..]));

    // The engine on static arrays, with as many connection slots as sockets.
    let storage = STORAGE.take().storage();
    let config = config
        .validate()
        .unwrap_or_else(|e| fail(out, EXIT_SETUP, format_args!("config: {e}")));
    let producer = Producer::new(config, &[args.broker], storage, to_core(board::now()))
        .unwrap_or_else(|e| fail(out, EXIT_SETUP, format_args!("producer: {e}")));
    let slots = SLOTS.init([
        Slot::new(h0, &mut RX0.take()[..]),
        Slot::new(h1, &mut RX1.take()[..]),
    ]);
    // Seeded per boot (here the host's clock), so ports differ after a reboot.
    let driver_config = DriverConfig {
        port_seed: epoch_ms as u16,
        ..DriverConfig::default()
    };
    let driver = Driver::new(
        producer,
        &mut slots[..],
        &mut TX_FRAME.take()[..],
        driver_config,
    )
    .unwrap_or_else(|e| fail(out, EXIT_SETUP, format_args!("driver: {e}")));
    let driver = DRIVER.init(driver);

    let (ip, (host, port)) = (args.ip, args.broker);
    let _ = writeln!(
        out,
        "firmware: mac {} ip {ip}, producing {} records to {} at {host}:{port} (acks=all, idempotent)",
        device.mac(),
        args.records,
        args.topic
    );
    let net = Net {
        iface,
        device,
        sockets,
    };
    (
        driver,
        net,
        Run {
            topic: args.topic,
            records: args.records,
            rate: args.rate,
            epoch_ms,
            max_block_ms,
        },
    )
}

/// Prints the summary line and picks the exit status.
fn summary(out: &mut Uart, t: &Tally, records: u32) -> u8 {
    let rate = i64::from(t.delivered) * 1000 / t.elapsed_ms.max(1);
    let c = t.frames;
    let _ = writeln!(
        out,
        "done: records={records} delivered={} timed_out={} failed_other={} ms={} records_per_s={rate} \
         frames_rx={} frames_tx={} frames_dropped={}",
        t.delivered, t.timed_out, t.failed_other, t.elapsed_ms, c.rx, c.tx, c.rx_dropped
    );
    match (t.failed_other, t.timed_out) {
        (0, 0) => EXIT_DELIVERED,
        (0, _) => EXIT_TIMED_OUT,
        _ => EXIT_FAILED,
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    let _ = writeln!(Uart::init(), "firmware: panic: {info}");
    board::exit(EXIT_PANIC)
}

/// A fault (a bad access, an undefined instruction, a stack overflow into a guard) is reported
/// like a panic, with where it happened.
// SAFETY (of the `unsafe fn` cortex-m-rt requires): the handler only reads the stacked frame
// cortex-m-rt passes and never returns.
#[allow(unsafe_code)]
#[cortex_m_rt::exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    let _ = writeln!(
        Uart::init(),
        "firmware: hard fault at pc {:#010x} (lr {:#010x})",
        frame.pc(),
        frame.lr()
    );
    board::exit(EXIT_PANIC)
}
