//! The board's memory-mapped register blocks, and the only volatile accesses of the firmware.
//!
//! A [`Regs`] is a register block at a fixed address of the `mps2-an386` memory map (QEMU's
//! `hw/arm/mps2.c`); only this module creates them, from the constants below, so every
//! access goes to a device that exists on the board. Offsets are checked against the block's
//! length and alignment before the access.

/// A block of 32-bit device registers.
#[derive(Clone, Copy)]
pub struct Regs {
    base: usize,
    len: usize,
}

/// CMSDK APB UART 0 (the board's first serial port, QEMU's `-serial` 0).
pub const UART0: Regs = Regs {
    base: 0x4000_4000,
    len: 0x1000,
};
/// The SMSC LAN9118 Ethernet controller (32-bit mode, 256 bytes of registers).
pub const LAN9118: Regs = Regs {
    base: 0x4020_0000,
    len: 0x100,
};

impl Regs {
    /// The address of the register at `offset`, checked to lie in the block and be aligned.
    fn addr(self, offset: usize) -> *mut u32 {
        assert!(
            offset < self.len && offset.is_multiple_of(4),
            "register offset {offset:#x} outside its block"
        );
        (self.base + offset) as *mut u32
    }

    /// Reads the 32-bit register at `offset`.
    #[inline]
    pub fn read(self, offset: usize) -> u32 {
        let addr = self.addr(offset);
        // SAFETY: `addr` is an aligned register inside a device block of the board's memory map
        // (see `UART0`, `LAN9118`); device registers have no Rust aliasing, and reading them has
        // no effect on memory the program owns (FIFO pops only change device state).
        #[allow(unsafe_code)]
        unsafe {
            addr.read_volatile()
        }
    }

    /// Writes the 32-bit register at `offset`.
    #[inline]
    pub fn write(self, offset: usize, value: u32) {
        let addr = self.addr(offset);
        // SAFETY: as in `read`: an aligned device register, not memory the program owns.
        #[allow(unsafe_code)]
        unsafe {
            addr.write_volatile(value);
        }
    }
}
