//! What the board and the emulator give the firmware: the SysTick clock, semihosting (the
//! command line, the host's wall clock, the exit status) and the stack high-water mark.

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use smoltcp::time::Instant;

/// The mps2 boards clock the CPU (and SysTick) at 25 MHz.
const CPU_HZ: u32 = 25_000_000;

static MILLIS: AtomicU32 = AtomicU32::new(0);

#[exception]
fn SysTick() {
    MILLIS.fetch_add(1, Ordering::Relaxed);
}

/// Starts SysTick at 1 kHz: the monotonic clock of [`now`].
pub fn start_clock(mut syst: SYST) {
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(CPU_HZ / 1000 - 1);
    syst.clear_current();
    syst.enable_counter();
    syst.enable_interrupt();
}

/// Milliseconds since boot.
pub fn now() -> Instant {
    Instant::from_millis(i64::from(MILLIS.load(Ordering::Relaxed)))
}

// ---------------------------------------------------------------- semihosting

/// `SYS_EXIT_EXTENDED`: exit with a status code (QEMU's exit status), ARM semihosting v2.
const SYS_EXIT_EXTENDED: usize = 0x20;
/// `ADP_Stopped_ApplicationExit`.
const APPLICATION_EXIT: usize = 0x20026;

/// The command line the emulator passes (`-semihosting-config arg=...`), read into `buf`.
pub fn cmdline(buf: &'static mut [u8]) -> Option<&'static str> {
    let mut block = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `block[1]` bytes to `block[0]`, which is `buf`,
    // a buffer we own exclusively, and updates `block[1]` to the length written; `block`
    // lives across the call and is passed as a pointer from a `&mut`, so the write is seen.
    #[allow(unsafe_code)]
    let status = unsafe {
        cortex_m_semihosting::syscall1(
            cortex_m_semihosting::nr::GET_CMDLINE,
            block.as_mut_ptr() as usize,
        )
    };
    let len = block[1].min(buf.len());
    (status == 0)
        .then(|| core::str::from_utf8(&buf[..len]).ok())
        .flatten()
}

/// The host's wall clock in seconds since the Unix epoch (`SYS_TIME`).
pub fn epoch_seconds() -> u64 {
    // SAFETY: SYS_TIME takes no argument block and only returns a number.
    #[allow(unsafe_code)]
    let secs = unsafe { cortex_m_semihosting::syscall1(cortex_m_semihosting::nr::TIME, 0) };
    secs as u64
}

/// Ends the emulation with `status` as QEMU's exit status.
pub fn exit(status: u8) -> ! {
    let block = [APPLICATION_EXIT, usize::from(status)];
    // SAFETY: SYS_EXIT_EXTENDED reads the two-word block (reason, status), which lives
    // across the call; it does not return under QEMU.
    #[allow(unsafe_code)]
    unsafe {
        cortex_m_semihosting::syscall(SYS_EXIT_EXTENDED, &block);
    }
    // A debugger may resume us: stay put.
    loop {
        cortex_m::asm::wfi();
    }
}

// ---------------------------------------------------------------- stack

/// What unused stack words hold.
const PAINT: u32 = 0xC0DE_57AC;
/// Bytes below the current stack pointer that painting leaves alone (`paint_stack`'s frame).
const PAINT_MARGIN: usize = 256;

#[allow(unsafe_code)]
extern "C" {
    /// The lowest address of the stack region (end of `.bss`/`.uninit`; cortex-m-rt's link.x).
    static _stack_end: u32;
    /// The initial stack pointer, the top of RAM (cortex-m-rt's link.x).
    static _stack_start: u32;
}

fn stack_bounds() -> (usize, usize) {
    (
        &raw const _stack_end as usize,
        &raw const _stack_start as usize,
    )
}

/// Fills the free stack below the current stack pointer with [`PAINT`]. Call it first thing
/// in `main`, while the stack is shallow.
pub fn paint_stack() {
    let (bottom, _) = stack_bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p + 4 <= sp - PAINT_MARGIN {
        // SAFETY: [bottom, sp - margin) is the unused part of the stack region: no object
        // lives there (statics end at `bottom`, the live stack is above `sp`), and `p` is
        // word-aligned (link.x aligns `_stack_end` to 4).
        #[allow(unsafe_code)]
        unsafe {
            (p as *mut u32).write_volatile(PAINT);
        }
        p += 4;
    }
}

/// The deepest the stack has been since [`paint_stack`] (bytes from the top), and the size
/// of the stack region. The mark is exact to a word unless a frame stored [`PAINT`] itself.
pub fn stack_high_water() -> (usize, usize) {
    let (bottom, top) = stack_bounds();
    let mut p = bottom;
    while p < top {
        // SAFETY: reads of aligned words of the stack region, below the live stack pointer
        // for the painted part; reading stack memory has no side effect.
        #[allow(unsafe_code)]
        let word = unsafe { (p as *const u32).read_volatile() };
        if word != PAINT {
            break;
        }
        p += 4;
    }
    (top - p, top - bottom)
}
