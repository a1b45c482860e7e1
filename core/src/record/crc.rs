//! CRC-32C (Castagnoli), the checksum of record batch v2.
//!
//! Two implementations, chosen by feature, because no single crate is both fast and no_std:
//! - with `std`: the `crc32c` crate, which detects SSE4.2 (x86_64) or the ARMv8 CRC extension
//!   (aarch64) at run time and uses the CRC instructions three streams wide (tens of GB/s),
//!   falling back to a table elsewhere. Run-time detection needs std.
//! - without `std`: the `crc` crate's byte-at-a-time table (pure Rust, no_std, a 1 KiB table in
//!   flash). Slice-by-16 would be several times faster but costs a 16 KiB table, a tenth of the
//!   firmware's 160 KiB flash budget; one table lookup per byte still checksums a microcontroller's
//!   100 Mbit/s link with room to spare.
//!
//! Note `crc32fast` is IEEE CRC-32: right for gzip, wrong here.

/// CRC-32C of `data`, as Kafka's batch checksum.
#[cfg(feature = "std")]
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    ::crc32c::crc32c(data)
}

/// CRC-32C of `data`, as Kafka's batch checksum.
#[cfg(not(feature = "std"))]
#[inline]
pub fn crc32c(data: &[u8]) -> u32 {
    table_crc32c(data)
}

#[cfg(any(test, not(feature = "std")))]
fn table_crc32c(data: &[u8]) -> u32 {
    // A static, not a const: a const would copy the table at every use.
    static CASTAGNOLI: crc::Crc<u32, crc::Table<1>> = crc::Crc::<u32, crc::Table<1>>::new(&crc::CRC_32_ISCSI);
    CASTAGNOLI.checksum(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_values() {
        // The CRC catalogue's check value for CRC-32/ISCSI.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(table_crc32c(b"123456789"), 0xe306_9283);
        let data: [u8; 1000] = core::array::from_fn(|i| (i * 7) as u8);
        for n in [0, 1, 15, 16, 17, 63, 64, 999, 1000] {
            assert_eq!(crc32c(&data[..n]), table_crc32c(&data[..n]), "{n}");
        }
    }
}
