//! Byte sinks for encoders: write into caller memory, count, or (with `alloc`) grow a `Vec`.

use super::varint::{put_uvarint64, zigzag32, zigzag64, MAX_VARLONG_LEN};
use super::EncodeError;

/// Where encoders write. Implementors only provide [`Sink::put`]; the typed writers are
/// provided methods so every encoder spells fields the same way.
pub trait Sink {
    /// Appends `bytes`, or fails without writing any of them.
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError>;

    /// Writes an `int8`.
    fn put_i8(&mut self, v: i8) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a big-endian `int16`.
    fn put_i16(&mut self, v: i16) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a big-endian `int32`.
    fn put_i32(&mut self, v: i32) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a big-endian `int64`.
    fn put_i64(&mut self, v: i64) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a big-endian `uint16`.
    fn put_u16(&mut self, v: u16) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a big-endian `uint32`.
    fn put_u32(&mut self, v: u32) -> Result<(), EncodeError> {
        self.put(&v.to_be_bytes())
    }
    /// Writes a `boolean`.
    fn put_bool(&mut self, v: bool) -> Result<(), EncodeError> {
        self.put(&[u8::from(v)])
    }
    /// Writes a 16-byte `uuid`.
    fn put_uuid(&mut self, v: &[u8; 16]) -> Result<(), EncodeError> {
        self.put(v)
    }
    /// Writes an unsigned varint.
    fn put_uvarint(&mut self, v: u64) -> Result<(), EncodeError> {
        let mut b = [0u8; MAX_VARLONG_LEN];
        let n = put_uvarint64(&mut b, v);
        self.put(&b[..n])
    }
    /// Writes a zig-zag `varint`.
    fn put_varint(&mut self, v: i32) -> Result<(), EncodeError> {
        self.put_uvarint(u64::from(zigzag32(v)))
    }
    /// Writes a zig-zag `varlong`.
    fn put_varlong(&mut self, v: i64) -> Result<(), EncodeError> {
        self.put_uvarint(zigzag64(v))
    }

    /// Writes a nullable string in the classic (`flexible == false`) or compact form.
    fn put_nullable_string(&mut self, v: Option<&str>, flexible: bool) -> Result<(), EncodeError> {
        match v {
            None if flexible => self.put_uvarint(0),
            None => self.put_i16(-1),
            Some(s) => {
                if s.len() > i16::MAX as usize {
                    return Err(EncodeError::ValueTooLarge("string"));
                }
                self.put_len(s.len(), flexible)?;
                self.put(s.as_bytes())
            }
        }
    }
    /// Writes a non-null string in the classic or compact form.
    fn put_string(&mut self, v: &str, flexible: bool) -> Result<(), EncodeError> {
        self.put_nullable_string(Some(v), flexible)
    }
    /// Writes nullable bytes in the classic (int32 length) or compact form.
    fn put_nullable_bytes(&mut self, v: Option<&[u8]>, flexible: bool) -> Result<(), EncodeError> {
        match v {
            None if flexible => self.put_uvarint(0),
            None => self.put_i32(-1),
            Some(b) => {
                if b.len() > i32::MAX as usize - 1 {
                    return Err(EncodeError::ValueTooLarge("bytes"));
                }
                if flexible {
                    self.put_uvarint(b.len() as u64 + 1)?;
                } else {
                    self.put_i32(b.len() as i32)?;
                }
                self.put(b)
            }
        }
    }
    /// Writes an array length in the classic (int32) or compact (N+1) form.
    fn put_array_len(&mut self, n: usize, flexible: bool) -> Result<(), EncodeError> {
        if n > i32::MAX as usize - 1 {
            return Err(EncodeError::ValueTooLarge("array"));
        }
        if flexible {
            self.put_uvarint(n as u64 + 1)
        } else {
            self.put_i32(n as i32)
        }
    }
    /// Writes a null array in the classic or compact form.
    fn put_null_array(&mut self, flexible: bool) -> Result<(), EncodeError> {
        if flexible {
            self.put_uvarint(0)
        } else {
            self.put_i32(-1)
        }
    }
    /// Writes a string length: int16 classic, or compact N+1.
    #[doc(hidden)]
    fn put_len(&mut self, n: usize, flexible: bool) -> Result<(), EncodeError> {
        if flexible {
            self.put_uvarint(n as u64 + 1)
        } else {
            self.put_i16(n as i16)
        }
    }
    /// Writes an empty tagged-field section, when `flexible`.
    fn put_empty_tags(&mut self, flexible: bool) -> Result<(), EncodeError> {
        if flexible {
            self.put_uvarint(0)
        } else {
            Ok(())
        }
    }
}

/// Writes into a caller-provided slice and never grows.
#[derive(Debug)]
pub struct SliceSink<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> SliceSink<'a> {
    /// A sink over `buf`, starting empty.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, len: 0 }
    }
    /// Bytes written so far.
    pub const fn len(&self) -> usize {
        self.len
    }
    /// Whether nothing was written.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
    /// The bytes written so far.
    pub fn written(&self) -> &[u8] {
        &self.buf[..self.len]
    }
    /// Overwrites already-written bytes at `at` (used to patch length prefixes).
    pub fn patch(&mut self, at: usize, bytes: &[u8]) -> Result<(), EncodeError> {
        let end = at.checked_add(bytes.len()).filter(|&e| e <= self.len);
        let Some(end) = end else {
            return Err(EncodeError::BufferTooSmall { needed: bytes.len(), available: 0 });
        };
        self.buf[at..end].copy_from_slice(bytes);
        Ok(())
    }
}

impl Sink for SliceSink<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        let available = self.buf.len() - self.len;
        if bytes.len() > available {
            return Err(EncodeError::BufferTooSmall { needed: bytes.len(), available });
        }
        self.buf[self.len..self.len + bytes.len()].copy_from_slice(bytes);
        self.len += bytes.len();
        Ok(())
    }
}

/// Counts bytes instead of writing them: encode into a `Counter` to size a buffer exactly.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counter(pub usize);

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.0 += bytes.len();
        Ok(())
    }
}

#[cfg(any(feature = "alloc", test))]
impl Sink for alloc::vec::Vec<u8> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) -> Result<(), EncodeError> {
        self.extend_from_slice(bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slice_sink_refuses_overflow_without_writing() {
        let mut buf = [0u8; 3];
        let mut s = SliceSink::new(&mut buf);
        s.put_i16(0x0102).unwrap();
        assert_eq!(s.put_i16(7), Err(EncodeError::BufferTooSmall { needed: 2, available: 1 }));
        assert_eq!(s.written(), &[1, 2]);
    }

    #[test]
    fn compact_and_classic_forms() {
        let mut c = Counter::default();
        c.put_string("abc", true).unwrap();
        assert_eq!(c.0, 4);
        let mut buf = [0u8; 16];
        let mut s = SliceSink::new(&mut buf);
        s.put_nullable_string(None, false).unwrap();
        s.put_nullable_string(None, true).unwrap();
        s.put_string("a", false).unwrap();
        s.put_array_len(2, true).unwrap();
        assert_eq!(s.written(), &[0xff, 0xff, 0, 0, 1, b'a', 3]);
    }
}
