//! The CMSDK APB UART: a blocking transmitter for progress lines (QEMU's `-serial`).

use core::fmt;

use crate::mmio::{Regs, UART0};

const DATA: usize = 0x00;
const STATE: usize = 0x04;
const CTRL: usize = 0x08;
const BAUDDIV: usize = 0x10;
const STATE_TX_FULL: u32 = 1;
const CTRL_TX_EN: u32 = 1;

/// UART 0, transmit only.
pub struct Uart(Regs);

impl Uart {
    /// Enables the transmitter of UART 0 (the divider is the smallest the UART accepts; QEMU
    /// does not pace by baud rate).
    pub fn init() -> Self {
        let regs = UART0;
        regs.write(BAUDDIV, 16);
        regs.write(CTRL, CTRL_TX_EN);
        Self(regs)
    }

    fn put(&self, byte: u8) {
        while self.0.read(STATE) & STATE_TX_FULL != 0 {}
        self.0.write(DATA, u32::from(byte));
    }
}

impl fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        s.bytes().for_each(|b| self.put(b));
        Ok(())
    }
}
