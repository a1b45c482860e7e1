//! A polled driver for the SMSC LAN9118 Ethernet controller (32-bit bus mode), as QEMU's
//! `mps2-an386` board has it at 0x4020_0000, implementing smoltcp's [`phy::Device`].
//!
//! Register map and behaviour from the LAN9118 datasheet and QEMU 7.2's `hw/net/lan9118.c`:
//! - `BYTE_TEST` reads 0x8765_4321 when the bus byte order is right; `ID_REV` names the chip.
//! - The MAC's registers sit behind `MAC_CSR_CMD`/`MAC_CSR_DATA` (busy bit 31, read bit 30).
//!   The MAC address is loaded from the EEPROM at reset into `ADDRL`/`ADDRH`.
//! - Receiving: `RX_FIFO_INF` counts waiting status words; each `RX_STATUS` word gives the
//!   frame length (with its 4-byte FCS) and an error bit; the frame is read from the RX data
//!   FIFO one little-endian word at a time, rounded up to whole words.
//! - Transmitting: TX command A (first and last segment, buffer size) and B (tag, frame
//!   length), then the frame as little-endian words. `TXSAO` lets the TX status FIFO overrun,
//!   so nobody has to read it.
//! - QEMU drops frames that arrive while the RX FIFO is full (TCP retransmits them), and sends
//!   a frame as soon as its last word is written.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use smoltcp::wire::EthernetAddress;

use crate::mmio::{Regs, LAN9118};

const RX_DATA: usize = 0x00;
const TX_DATA: usize = 0x20;
const RX_STATUS: usize = 0x40;
const ID_REV: usize = 0x50;
const INT_EN: usize = 0x5c;
const BYTE_TEST: usize = 0x64;
const RX_CFG: usize = 0x6c;
const TX_CFG: usize = 0x70;
const HW_CFG: usize = 0x74;
const RX_FIFO_INF: usize = 0x7c;
const TX_FIFO_INF: usize = 0x80;
const PMT_CTRL: usize = 0x84;
const MAC_CSR_CMD: usize = 0xa4;
const MAC_CSR_DATA: usize = 0xa8;

const BYTE_TEST_VALUE: u32 = 0x8765_4321;
const HW_CFG_SRST: u32 = 1;
const PMT_CTRL_READY: u32 = 1;
const TX_CFG_TX_ON: u32 = 1 << 1;
const TX_CFG_TXSAO: u32 = 1 << 2;
const CSR_BUSY: u32 = 1 << 31;
const CSR_READ: u32 = 1 << 30;
const MAC_CR: u32 = 1;
const MAC_ADDRH: u32 = 2;
const MAC_ADDRL: u32 = 3;
const MAC_CR_FDPX: u32 = 1 << 20;
const MAC_CR_TXEN: u32 = 1 << 3;
const MAC_CR_RXEN: u32 = 1 << 2;
const RX_STATUS_ERROR: u32 = 1 << 15;
const TX_CMD_A_FIRST: u32 = 1 << 13;
const TX_CMD_A_LAST: u32 = 1 << 12;

/// The largest Ethernet frame (without FCS) this driver sends or receives.
pub const FRAME: usize = 1514;
/// The receive buffer: a frame, its FCS, rounded up to whole words.
pub const RX_BUFFER: usize = (FRAME + 4 + 3) & !3;
/// Polls of a self-clearing bit before the chip is declared unresponsive.
const SPIN: u32 = 100_000;

/// Why the controller could not be brought up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitError {
    /// `BYTE_TEST` read something else than 0x87654321: no chip, or a wrong bus byte order.
    ByteTest(u32),
    /// `ID_REV` names another chip.
    Id(u32),
    /// A soft reset, the ready bit or a MAC register access did not complete.
    Timeout(&'static str),
}

/// Frame counters, reported at exit.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counters {
    /// Frames received and handed to smoltcp.
    pub rx: u32,
    /// Frames dropped: receive errors, or longer than [`FRAME`].
    pub rx_dropped: u32,
    /// Frames transmitted.
    pub tx: u32,
}

/// The controller, with one receive and one transmit frame buffer.
pub struct Lan9118 {
    regs: Regs,
    mac: EthernetAddress,
    rx: &'static mut [u8; RX_BUFFER],
    tx: &'static mut [u8; FRAME],
    counters: Counters,
}

fn spin_until(what: &'static str, mut done: impl FnMut() -> bool) -> Result<(), InitError> {
    (0..SPIN)
        .any(|_| done())
        .then_some(())
        .ok_or(InitError::Timeout(what))
}

impl Lan9118 {
    /// Resets the controller, reads its MAC address and enables the transmitter and receiver.
    pub fn new(
        rx: &'static mut [u8; RX_BUFFER],
        tx: &'static mut [u8; FRAME],
    ) -> Result<Self, InitError> {
        let regs = LAN9118;
        match regs.read(BYTE_TEST) {
            BYTE_TEST_VALUE => {}
            other => return Err(InitError::ByteTest(other)),
        }
        let id = regs.read(ID_REV);
        if id >> 16 != 0x0118 {
            return Err(InitError::Id(id));
        }
        regs.write(HW_CFG, HW_CFG_SRST);
        spin_until("HW_CFG.SRST", || regs.read(HW_CFG) & HW_CFG_SRST == 0)?;
        spin_until("PMT_CTRL.READY", || {
            regs.read(PMT_CTRL) & PMT_CTRL_READY != 0
        })?;
        regs.write(INT_EN, 0);
        regs.write(RX_CFG, 0); // no offset, 4-byte end alignment
        regs.write(TX_CFG, TX_CFG_TX_ON | TX_CFG_TXSAO);
        let mut dev = Self {
            regs,
            mac: EthernetAddress([0; 6]),
            rx,
            tx,
            counters: Counters::default(),
        };
        let [a0, a1, a2, a3] = dev.mac_read(MAC_ADDRL)?.to_le_bytes();
        let [a4, a5, ..] = dev.mac_read(MAC_ADDRH)?.to_le_bytes();
        dev.mac = EthernetAddress([a0, a1, a2, a3, a4, a5]);
        if !dev.mac.is_unicast() {
            // No EEPROM address: a locally administered one.
            dev.mac = EthernetAddress([0x02, 0, 0, 0x91, 0x18, 0x01]);
            let [b0, b1, b2, b3, b4, b5] = dev.mac.0;
            dev.mac_write(MAC_ADDRL, u32::from_le_bytes([b0, b1, b2, b3]))?;
            dev.mac_write(MAC_ADDRH, u32::from_le_bytes([b4, b5, 0, 0]))?;
        }
        // Exact address filter plus broadcast (PRMS off), full duplex.
        dev.mac_write(MAC_CR, MAC_CR_FDPX | MAC_CR_TXEN | MAC_CR_RXEN)?;
        Ok(dev)
    }

    /// The station address (from the EEPROM: QEMU's `-nic ...,mac=`).
    pub fn mac(&self) -> EthernetAddress {
        self.mac
    }

    /// Frame counters so far.
    pub fn counters(&self) -> Counters {
        self.counters
    }

    fn mac_read(&self, reg: u32) -> Result<u32, InitError> {
        self.regs.write(MAC_CSR_CMD, CSR_BUSY | CSR_READ | reg);
        spin_until("MAC_CSR_CMD.BUSY", || {
            self.regs.read(MAC_CSR_CMD) & CSR_BUSY == 0
        })?;
        Ok(self.regs.read(MAC_CSR_DATA))
    }

    fn mac_write(&self, reg: u32, value: u32) -> Result<(), InitError> {
        self.regs.write(MAC_CSR_DATA, value);
        self.regs.write(MAC_CSR_CMD, CSR_BUSY | reg);
        spin_until("MAC_CSR_CMD.BUSY", || {
            self.regs.read(MAC_CSR_CMD) & CSR_BUSY == 0
        })
    }

    /// Pops the next received frame into `rx`; its length without FCS, or `None` if none
    /// waits (frames with errors or too long are read out and dropped).
    fn pop_frame(&mut self) -> Option<usize> {
        loop {
            if (self.regs.read(RX_FIFO_INF) >> 16) & 0xff == 0 {
                return None;
            }
            let status = self.regs.read(RX_STATUS);
            let len = ((status >> 16) & 0x3fff) as usize;
            let words = len.div_ceil(4);
            let fits = status & RX_STATUS_ERROR == 0 && (14 + 4..=RX_BUFFER).contains(&len);
            for i in 0..words {
                let word = self.regs.read(RX_DATA).to_le_bytes();
                if fits {
                    self.rx[4 * i..4 * i + 4].copy_from_slice(&word);
                }
            }
            if fits {
                self.counters.rx = self.counters.rx.wrapping_add(1);
                return Some(len - 4);
            }
            self.counters.rx_dropped = self.counters.rx_dropped.wrapping_add(1);
        }
    }
}

/// A received frame.
pub struct RxToken<'a>(&'a [u8]);

/// Room for one frame to transmit.
pub struct TxToken<'a> {
    regs: Regs,
    buf: &'a mut [u8; FRAME],
    sent: &'a mut u32,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0)
    }
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let len = len.min(FRAME);
        let frame = &mut self.buf[..len];
        let r = f(frame);
        // The FIFO holds 4.5 KiB; wait (bounded) for room for the frame and its two command
        // words. QEMU sends every frame at once, so this only matters on hardware.
        let need = len.div_ceil(4) * 4 + 8;
        let room = (0..SPIN).any(|_| (self.regs.read(TX_FIFO_INF) & 0xffff) as usize >= need);
        if room {
            let len32 = len as u32; // at most FRAME
            self.regs
                .write(TX_DATA, TX_CMD_A_FIRST | TX_CMD_A_LAST | len32);
            self.regs.write(TX_DATA, (len32 << 16) | len32);
            for chunk in frame.chunks(4) {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                self.regs.write(TX_DATA, u32::from_le_bytes(word));
            }
            *self.sent = self.sent.wrapping_add(1);
        }
        r
    }
}

impl Device for Lan9118 {
    type RxToken<'a> = RxToken<'a>;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let len = self.pop_frame()?;
        let tx = TxToken {
            regs: self.regs,
            buf: self.tx,
            sent: &mut self.counters.tx,
        };
        Some((RxToken(&self.rx[..len]), tx))
    }

    fn transmit(&mut self, _timestamp: Instant) -> Option<Self::TxToken<'_>> {
        Some(TxToken {
            regs: self.regs,
            buf: self.tx,
            sent: &mut self.counters.tx,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = FRAME;
        caps
    }
}
