//! What TLS would cost the example firmware: a stub stream (volatile reads and writes of a
//! register, so that nothing folds away) and, with feature `tls`, an embedded-tls TLS 1.3 client
//! (TLS_AES_128_GCM_SHA256, P-256 ECDHE, the server's P-256 chain verified against a CA, the
//! host name checked) opened over it, then one write, one flush and one read: the code a Kafka
//! connection would run. It is never run, only linked and measured:
//!
//! ```sh
//! cd examples/tls-size-probe
//! cargo build --release && readelf -SW target/thumbv7em-none-eabihf/release/kprod-tls-size-probe
//! cargo build --release --features tls && readelf -SW target/thumbv7em-none-eabihf/release/kprod-tls-size-probe
//! ```
//!
//! The difference in `.text` + `.rodata` is the flash TLS adds; `.bss` holds the two record
//! buffers. Feature `sizes` makes the compiler state the connection's and the provider's sizes.
//! The volatile accesses are the probe's only `unsafe`: it has no hardware to be wrong about.
#![no_std]
#![no_main]

use core::ptr::{read_volatile, write_volatile};
use cortex_m_rt::entry;

// The probe is only linked, never run: the "register" stands for a UART or TCP chip.
const DATA: *mut u32 = 0x4000_4000 as *mut u32;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

struct Uart;
#[derive(Debug)]
struct E;
impl core::fmt::Display for E {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("E")
    }
}
impl core::error::Error for E {}
impl embedded_io::Error for E {
    fn kind(&self) -> embedded_io::ErrorKind {
        embedded_io::ErrorKind::Other
    }
}
impl embedded_io::ErrorType for Uart {
    type Error = E;
}
impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, E> {
        for b in buf.iter_mut() {
            *b = unsafe { read_volatile(DATA) } as u8;
        }
        Ok(buf.len())
    }
}
impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, E> {
        for b in buf {
            unsafe { write_volatile(DATA, *b as u32) };
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(feature = "tls")]
mod tls {
    use super::*;
    use embedded_tls::blocking::*;
    use embedded_tls::pki::CertVerifier;

    pub struct Trng;
    impl rand_core::RngCore for Trng {
        fn next_u32(&mut self) -> u32 {
            unsafe { read_volatile(DATA.add(1)) }
        }
        fn next_u64(&mut self) -> u64 {
            (self.next_u32() as u64) << 32 | self.next_u32() as u64
        }
        fn fill_bytes(&mut self, d: &mut [u8]) {
            for b in d {
                *b = self.next_u32() as u8;
            }
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), rand_core::Error> {
            self.fill_bytes(d);
            Ok(())
        }
    }
    impl rand_core::CryptoRng for Trng {}

    pub struct Provider {
        pub rng: Trng,
        pub verifier: CertVerifier<'static, Aes128GcmSha256, NoClock, 2048>,
    }
    impl CryptoProvider for Provider {
        type CipherSuite = Aes128GcmSha256;
        type Signature = &'static [u8];
        fn rng(&mut self) -> impl rand_core::CryptoRngCore {
            &mut self.rng
        }
        fn verifier(&mut self) -> Result<&mut impl TlsVerifier<Aes128GcmSha256>, TlsError> {
            Ok(&mut self.verifier)
        }
    }

    /// A stand-in for the CA certificate (DER); its bytes do not change the code size.
    static CA: [u8; 8] = [0x30, 0x82, 0, 0, 0, 0, 0, 0];
    /// Record buffers: 16,640 bytes, the largest TLS record embedded-tls must take in (its
    /// docs); the write buffer could be smaller (large writes are split into records).
    pub static mut READ: [u8; 16640] = [0; 16640];
    pub static mut WRITE: [u8; 16640] = [0; 16640];

    #[allow(static_mut_refs)]
    pub fn run() -> u32 {
        // SAFETY: `run` is called once, from `main`, so these are the buffers' only references.
        let (r, w) = unsafe { (&mut READ, &mut WRITE) };
        let mut conn: TlsConnection<'_, Uart, Aes128GcmSha256> = TlsConnection::new(Uart, r, w);
        let config = TlsConfig::new().with_server_name("127.0.0.1");
        let provider = Provider { rng: Trng, verifier: CertVerifier::new(Certificate::X509(&CA)) };
        if conn.open(TlsContext::new(&config, provider)).is_err() {
            return 1;
        }
        let _ = conn.write(b"hello");
        let _ = conn.flush();
        let mut buf = [0u8; 64];
        let n = conn.read(&mut buf).unwrap_or(0);
        n as u32 + buf[0] as u32
    }
}

#[entry]
fn main() -> ! {
    let mut uart = Uart;
    let mut b = [0u8; 4];
    let _ = embedded_io::Read::read(&mut uart, &mut b);
    let _ = embedded_io::Write::write(&mut uart, &b);
    #[cfg(feature = "tls")]
    let x = tls::run();
    #[cfg(not(feature = "tls"))]
    let x = 0u32;
    unsafe { write_volatile(DATA.add(3), x) };
    loop {
        cortex_m::asm::wfi();
    }
}

/// `cargo build --release --features sizes` fails on purpose: its two errors name the sizes
/// of the connection and of the provider (its CA verifier holds one 2 KiB certificate).
#[cfg(feature = "sizes")]
const SIZES: ([(); 0], [(); 0]) = (
    [(); core::mem::size_of::<
        embedded_tls::blocking::TlsConnection<'static, Uart, embedded_tls::blocking::Aes128GcmSha256>,
    >()],
    [(); core::mem::size_of::<tls::Provider>()],
);
