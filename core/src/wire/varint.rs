//! Variable-length integers as Kafka uses them.
//!
//! - Unsigned varints (compact lengths, tagged field tags and sizes): protobuf style, 7 bits per
//!   byte, at most 5 bytes for `u32`.
//! - Signed varints and varlongs (record fields): zig-zag mapped, then unsigned, at most 5 and
//!   10 bytes.

/// Maximum width of an encoded `u32`.
pub const MAX_VARINT_LEN: usize = 5;
/// Maximum width of an encoded `u64`.
pub const MAX_VARLONG_LEN: usize = 10;

/// Zig-zag maps a signed 32-bit value to unsigned.
#[inline]
pub const fn zigzag32(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)) as u32
}

/// Zig-zag maps a signed 64-bit value to unsigned.
#[inline]
pub const fn zigzag64(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag32`].
#[inline]
pub const fn unzigzag32(v: u32) -> i32 {
    ((v >> 1) as i32) ^ -((v & 1) as i32)
}

/// Inverse of [`zigzag64`].
#[inline]
pub const fn unzigzag64(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Encodes `v` as an unsigned varint into `out`, returning the number of bytes written.
#[inline]
pub fn put_uvarint64(out: &mut [u8; MAX_VARLONG_LEN], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

/// Number of bytes [`put_uvarint64`] writes for `v`.
#[inline]
pub const fn uvarint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits, and at least 1.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Number of bytes a zig-zag varint (record field) takes for `v`.
#[inline]
pub const fn varint_len(v: i32) -> usize {
    uvarint_len(zigzag32(v) as u64)
}

/// Number of bytes a zig-zag varlong takes for `v`.
#[inline]
pub const fn varlong_len(v: i64) -> usize {
    uvarint_len(zigzag64(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_matches_protobuf_table() {
        // Values from the protobuf encoding guide.
        assert_eq!(zigzag32(0), 0);
        assert_eq!(zigzag32(-1), 1);
        assert_eq!(zigzag32(1), 2);
        assert_eq!(zigzag32(-2), 3);
        assert_eq!(zigzag32(i32::MAX), 0xffff_fffe);
        assert_eq!(zigzag32(i32::MIN), 0xffff_ffff);
        assert_eq!(zigzag64(i64::MIN), u64::MAX);
        for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
            assert_eq!(unzigzag32(zigzag32(v)), v);
        }
        for v in [0, 1, -1, i64::MAX, i64::MIN] {
            assert_eq!(unzigzag64(zigzag64(v)), v);
        }
    }

    #[test]
    fn uvarint_bytes() {
        let mut b = [0u8; MAX_VARLONG_LEN];
        assert_eq!(put_uvarint64(&mut b, 0), 1);
        assert_eq!(b[0], 0);
        assert_eq!(put_uvarint64(&mut b, 300), 2);
        assert_eq!(&b[..2], &[0xac, 0x02]);
        assert_eq!(put_uvarint64(&mut b, u64::MAX), 10);
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX] {
            assert_eq!(uvarint_len(v), put_uvarint64(&mut b, v));
        }
    }
}
