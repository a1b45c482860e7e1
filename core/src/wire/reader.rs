//! [`Reader`]: a cursor over borrowed bytes that checks every length before slicing.

use super::varint::{unzigzag32, unzigzag64};
use super::DecodeError;

/// Caps on what a peer may announce. A length over a cap is an error even when the bytes are
/// there, so a hostile or broken broker cannot make a decoder walk (or a caller allocate) more
/// than the configuration allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest `bytes`/`records` field accepted.
    pub max_bytes: usize,
    /// Largest string accepted.
    pub max_string: usize,
    /// Largest element count of an array.
    pub max_array: usize,
}

impl Limits {
    /// Defaults suited to producer responses: 64 MiB blobs, 32 KiB strings, 1 M array elements.
    pub const DEFAULT: Self = Self { max_bytes: 64 * 1024 * 1024, max_string: i16::MAX as usize, max_array: 1 << 20 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// A cursor over a borrowed byte slice. All reads are bounds-checked and return
/// [`DecodeError`] instead of panicking.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    limits: Limits,
}

macro_rules! fixed {
    ($(#[$m:meta])* $name:ident, $t:ty) => {
        $(#[$m])*
        #[inline]
        pub fn $name(&mut self) -> Result<$t, DecodeError> {
            let bytes = self.array::<{ core::mem::size_of::<$t>() }>()?;
            Ok(<$t>::from_be_bytes(bytes))
        }
    };
}

impl<'a> Reader<'a> {
    /// A reader over `buf` with [`Limits::DEFAULT`].
    pub const fn new(buf: &'a [u8]) -> Self {
        Self::with_limits(buf, Limits::DEFAULT)
    }

    /// A reader over `buf` with the given limits.
    pub const fn with_limits(buf: &'a [u8], limits: Limits) -> Self {
        Self { buf, pos: 0, limits }
    }

    /// The limits in force.
    pub const fn limits(&self) -> Limits {
        self.limits
    }

    /// Bytes consumed so far.
    pub const fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet consumed.
    pub const fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Whether every byte was consumed.
    pub const fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unconsumed bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Fails with [`DecodeError::TrailingBytes`] unless every byte was consumed.
    pub fn finish(&self) -> Result<(), DecodeError> {
        match self.remaining() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }

    /// Consumes exactly `n` bytes.
    #[inline]
    pub fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(DecodeError::Truncated { needed: n, remaining });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Consumes `N` bytes into an array.
    #[inline]
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let s = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(s);
        Ok(out)
    }

    fixed!(
        /// Reads an `int8`.
        i8, i8
    );
    fixed!(
        /// Reads a big-endian `int16`.
        i16, i16
    );
    fixed!(
        /// Reads a big-endian `int32`.
        i32, i32
    );
    fixed!(
        /// Reads a big-endian `int64`.
        i64, i64
    );
    fixed!(
        /// Reads a big-endian `uint16`.
        u16, u16
    );
    fixed!(
        /// Reads a big-endian `uint32`.
        u32, u32
    );

    /// Reads a `boolean` (any non-zero byte is true, as the Java client reads it).
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.i8()? != 0)
    }

    /// Reads a 16-byte `uuid`.
    pub fn uuid(&mut self) -> Result<[u8; 16], DecodeError> {
        self.array::<16>()
    }

    /// Reads an unsigned varint of at most 5 bytes (`u32`).
    pub fn uvarint(&mut self) -> Result<u32, DecodeError> {
        let v = self.uvarint_max(5)?;
        u32::try_from(v).map_err(|_| DecodeError::VarintTooLong)
    }

    /// Reads an unsigned varlong of at most 10 bytes.
    pub fn uvarlong(&mut self) -> Result<u64, DecodeError> {
        self.uvarint_max(10)
    }

    #[inline]
    fn uvarint_max(&mut self, max_len: usize) -> Result<u64, DecodeError> {
        let mut v: u64 = 0;
        for i in 0..max_len {
            let Some(&b) = self.buf.get(self.pos) else {
                return Err(DecodeError::Truncated { needed: 1, remaining: 0 });
            };
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// Reads a zig-zag `varint` (record fields).
    pub fn varint(&mut self) -> Result<i32, DecodeError> {
        Ok(unzigzag32(self.uvarint()?))
    }

    /// Reads a zig-zag `varlong` (record fields).
    pub fn varlong(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag64(self.uvarlong()?))
    }

    /// Checks a peer-announced length against the remaining bytes and a limit.
    fn checked_len(&self, len: i64, limit: usize) -> Result<usize, DecodeError> {
        let len = usize::try_from(len).map_err(|_| DecodeError::NegativeLength(len))?;
        if len > limit {
            return Err(DecodeError::LimitExceeded { announced: len, limit });
        }
        Ok(len)
    }

    fn utf8(bytes: &'a [u8]) -> Result<&'a str, DecodeError> {
        core::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)
    }

    /// Reads a nullable `string` (int16 length, -1 = null).
    pub fn nullable_string(&mut self) -> Result<Option<&'a str>, DecodeError> {
        let len = self.i16()?;
        if len == -1 {
            return Ok(None);
        }
        let len = self.checked_len(len.into(), self.limits.max_string)?;
        Self::utf8(self.take(len)?).map(Some)
    }

    /// Reads a non-null `string`.
    pub fn string(&mut self) -> Result<&'a str, DecodeError> {
        self.nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// Reads a nullable `compact_string` (unsigned varint N+1, 0 = null).
    pub fn compact_nullable_string(&mut self) -> Result<Option<&'a str>, DecodeError> {
        match self.compact_len(self.limits.max_string)? {
            None => Ok(None),
            Some(len) => Self::utf8(self.take(len)?).map(Some),
        }
    }

    /// Reads a non-null `compact_string`.
    pub fn compact_string(&mut self) -> Result<&'a str, DecodeError> {
        self.compact_nullable_string()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// Reads a string in the flexible (compact) or classic form.
    pub fn string_flex(&mut self, flexible: bool) -> Result<&'a str, DecodeError> {
        if flexible {
            self.compact_string()
        } else {
            self.string()
        }
    }

    /// Reads a nullable string in the flexible (compact) or classic form.
    pub fn nullable_string_flex(&mut self, flexible: bool) -> Result<Option<&'a str>, DecodeError> {
        if flexible {
            self.compact_nullable_string()
        } else {
            self.nullable_string()
        }
    }

    /// Reads nullable `bytes` (int32 length, -1 = null).
    pub fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let len = self.i32()?;
        if len == -1 {
            return Ok(None);
        }
        let len = self.checked_len(len.into(), self.limits.max_bytes)?;
        self.take(len).map(Some)
    }

    /// Reads non-null `bytes`.
    pub fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        self.nullable_bytes()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// Reads nullable `compact_bytes`.
    pub fn compact_nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        match self.compact_len(self.limits.max_bytes)? {
            None => Ok(None),
            Some(len) => self.take(len).map(Some),
        }
    }

    /// Reads non-null `compact_bytes`.
    pub fn compact_bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        self.compact_nullable_bytes()?.ok_or(DecodeError::UnexpectedNull)
    }

    /// Reads nullable bytes in the flexible (compact) or classic form.
    pub fn nullable_bytes_flex(&mut self, flexible: bool) -> Result<Option<&'a [u8]>, DecodeError> {
        if flexible {
            self.compact_nullable_bytes()
        } else {
            self.nullable_bytes()
        }
    }

    /// Reads a compact length (unsigned varint N+1), `None` for null.
    fn compact_len(&mut self, limit: usize) -> Result<Option<usize>, DecodeError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        self.checked_len(i64::from(n) - 1, limit).map(Some)
    }

    /// Checks an element count: at most `max_array`, and at most one element per remaining byte
    /// (every Kafka array element encodes to at least one byte), so a lying count fails fast.
    fn checked_count(&self, n: usize) -> Result<usize, DecodeError> {
        let limit = self.limits.max_array;
        if n > limit {
            return Err(DecodeError::LimitExceeded { announced: n, limit });
        }
        if n > self.remaining() {
            return Err(DecodeError::Truncated { needed: n, remaining: self.remaining() });
        }
        Ok(n)
    }

    /// Reads a nullable classic array length (int32, -1 = null).
    pub fn nullable_array_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let n = self.i32()?;
        if n == -1 {
            return Ok(None);
        }
        let n = usize::try_from(n).map_err(|_| DecodeError::NegativeLength(n.into()))?;
        self.checked_count(n).map(Some)
    }

    /// Reads a nullable compact array length (unsigned varint N+1, 0 = null).
    pub fn compact_nullable_array_len(&mut self) -> Result<Option<usize>, DecodeError> {
        let n = self.uvarint()?;
        if n == 0 {
            return Ok(None);
        }
        self.checked_count(n as usize - 1).map(Some)
    }

    /// Reads a non-null array length in the flexible (compact) or classic form.
    pub fn array_len(&mut self, flexible: bool) -> Result<usize, DecodeError> {
        let n = if flexible { self.compact_nullable_array_len()? } else { self.nullable_array_len()? };
        n.ok_or(DecodeError::UnexpectedNull)
    }

    /// Reads a tagged-field section, calling `f(tag, data)` for each field. Unknown tags are the
    /// caller's to ignore, as the protocol requires.
    pub fn tagged_fields(
        &mut self,
        mut f: impl FnMut(u32, &'a [u8]) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let n = self.uvarint()? as usize;
        let n = self.checked_count(n)?;
        for _ in 0..n {
            let tag = self.uvarint()?;
            let size = self.uvarint()?;
            let size = self.checked_len(size.into(), self.limits.max_bytes)?;
            let data = self.take(size)?;
            f(tag, data)?;
        }
        Ok(())
    }

    /// Skips a tagged-field section.
    pub fn skip_tagged_fields(&mut self) -> Result<(), DecodeError> {
        self.tagged_fields(|_, _| Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_ints_are_big_endian() {
        let mut r = Reader::new(&[0x01, 0x02, 0xff, 0xff, 0xff, 0xfe]);
        assert_eq!(r.i16().unwrap(), 0x0102);
        assert_eq!(r.i32().unwrap(), -2);
        assert!(r.is_empty());
        assert_eq!(r.i8(), Err(DecodeError::Truncated { needed: 1, remaining: 0 }));
    }

    #[test]
    fn strings_and_nulls() {
        let mut r = Reader::new(&[0, 2, b'h', b'i', 0xff, 0xff, 3, b'y', b'o', 0]);
        assert_eq!(r.string().unwrap(), "hi");
        assert_eq!(r.nullable_string().unwrap(), None);
        assert_eq!(r.compact_string().unwrap(), "yo");
        assert_eq!(r.compact_nullable_string().unwrap(), None);
    }

    #[test]
    fn lying_lengths_are_rejected_without_slicing() {
        // bytes claiming 2 GiB with 1 byte present
        let mut r = Reader::new(&[0x7f, 0xff, 0xff, 0xff, 0]);
        assert!(matches!(r.bytes(), Err(DecodeError::LimitExceeded { .. })));
        // array claiming 1000 elements with 2 bytes present
        let mut r = Reader::new(&[0, 0, 0x03, 0xe8, 0, 0]);
        assert!(matches!(r.nullable_array_len(), Err(DecodeError::Truncated { .. })));
        // negative string length other than -1
        let mut r = Reader::new(&[0xff, 0xfe]);
        assert_eq!(r.string(), Err(DecodeError::NegativeLength(-2)));
        // overlong varint
        let mut r = Reader::new(&[0xff; 11]);
        assert_eq!(r.uvarint(), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn tagged_fields_walk() {
        let data = [2u8, 0, 1, 0xaa, 5, 2, 0xbb, 0xcc];
        let mut r = Reader::new(&data);
        let mut seen = [(0u32, 0usize); 2];
        let mut i = 0;
        r.tagged_fields(|t, d| {
            seen[i] = (t, d.len());
            i += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, [(0, 1), (5, 2)]);
        assert!(r.is_empty());
    }
}
