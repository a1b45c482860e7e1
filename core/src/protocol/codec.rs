//! Building blocks shared by the message modules: the version context, the element traits, lazy
//! arrays, and the broker node every API describes the same way.

use core::fmt;
use core::marker::PhantomData;

use super::ApiKey;
use crate::wire::{Counter, DecodeError, EncodeError, Limits, Reader, Sink};

/// The version of the message being read or written, and whether that version is flexible.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ctx {
    /// The API version.
    pub version: i16,
    /// Whether the version uses compact forms and tagged fields.
    pub flexible: bool,
    /// Caps on peer-announced lengths, applied to every nested reader and lazy array.
    pub limits: Limits,
}

impl Ctx {
    /// The context for `version` of `api`, or `None` outside [`ApiKey::schema_versions`].
    pub fn for_api(api: ApiKey, version: i16) -> Option<Self> {
        api.schema_versions()?.contains(version).then(|| Self {
            version,
            flexible: api.is_flexible(version),
            limits: Limits::DEFAULT,
        })
    }

    /// Skips a tagged-field section when flexible.
    pub(crate) fn skip_tags(self, r: &mut Reader<'_>) -> Result<(), DecodeError> {
        if self.flexible {
            r.skip_tagged_fields()
        } else {
            Ok(())
        }
    }
}

/// A protocol element (a message body or an array element) read at a given version.
pub trait Decode<'a>: Sized {
    /// Reads the element, validating every field it holds.
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError>;
}

/// A protocol element (a request body or an array element) written at a given version.
pub trait Encode {
    /// Writes the element.
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError>;
}

impl Decode<'_> for i32 {
    fn read(r: &mut Reader<'_>, _: Ctx) -> Result<Self, DecodeError> {
        r.i32()
    }
}

impl<'a> Decode<'a> for &'a str {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        r.string_flex(cx.flexible)
    }
}

impl Encode for i32 {
    fn write(&self, out: &mut impl Sink, _: Ctx) -> Result<(), EncodeError> {
        out.put_i32(*self)
    }
}

impl Encode for i64 {
    fn write(&self, out: &mut impl Sink, _: Ctx) -> Result<(), EncodeError> {
        out.put_i64(*self)
    }
}

impl Encode for bool {
    fn write(&self, out: &mut impl Sink, _: Ctx) -> Result<(), EncodeError> {
        out.put_bool(*self)
    }
}

impl Encode for &str {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self, cx.flexible)
    }
}

/// A slice is written as a non-null array.
impl<T: Encode> Encode for [T] {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        put_array(out, self, cx)
    }
}

/// Writes a message body at `version` of `api` (the shared half of `Request::encode` and
/// `EncodeResponse::encode`).
pub(crate) fn encode_body<T: Encode + ?Sized>(
    api: ApiKey,
    version: i16,
    body: &T,
    out: &mut impl Sink,
) -> Result<(), EncodeError> {
    let cx = Ctx::for_api(api, version).ok_or(EncodeError::UnsupportedVersion(version))?;
    body.write(out, cx)
}

/// Decodes a whole body: version check, the message, no trailing bytes.
pub(crate) fn decode_body<'a, T: Decode<'a>>(
    api: ApiKey,
    version: i16,
    body: &'a [u8],
    limits: Limits,
) -> Result<T, DecodeError> {
    let mut cx = Ctx::for_api(api, version).ok_or(DecodeError::UnsupportedVersion(version))?;
    cx.limits = limits;
    let mut r = Reader::with_limits(body, limits);
    let out = T::read(&mut r, cx)?;
    r.finish()?;
    Ok(out)
}

/// Parses the data of one tagged field, which must be consumed exactly.
pub(crate) fn tagged<'a, T>(
    data: &'a [u8],
    cx: Ctx,
    f: impl FnOnce(&mut Reader<'a>) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    let mut r = Reader::with_limits(data, cx.limits);
    let out = f(&mut r)?;
    r.finish()?;
    Ok(out)
}

/// Writes one tagged field: its tag, the size of its value, then the value. The value is written
/// twice, once into a [`Counter`] for the size.
pub(crate) fn put_tagged<T: Encode + ?Sized>(
    out: &mut impl Sink,
    tag: u32,
    value: &T,
    cx: Ctx,
) -> Result<(), EncodeError> {
    let mut size = Counter::default();
    value.write(&mut size, cx)?;
    out.put_uvarint(tag.into())?;
    out.put_uvarint(size.0 as u64)?;
    value.write(out, cx)
}

/// Writes the field count that opens a tagged-field section: how many of `present` are set.
pub(crate) fn put_tag_count(out: &mut impl Sink, present: &[bool]) -> Result<(), EncodeError> {
    out.put_uvarint(present.iter().filter(|&&p| p).count() as u64)
}

/// Writes a non-null array: its length, then each element.
pub(crate) fn put_array<T: Encode>(out: &mut impl Sink, items: &[T], cx: Ctx) -> Result<(), EncodeError> {
    out.put_array_len(items.len(), cx.flexible)?;
    items.iter().try_for_each(|item| item.write(out, cx))
}

/// Fails with [`EncodeError::UnsupportedField`] unless the field holds its default: like the Java
/// client, an encoder refuses to drop a non-default value its version cannot carry.
pub(crate) fn only_default(is_default: bool, field: &'static str) -> Result<(), EncodeError> {
    if is_default {
        Ok(())
    } else {
        Err(EncodeError::UnsupportedField(field))
    }
}

/// An array from a decoded message. Its bytes were validated when the message was decoded;
/// iterating re-parses them without allocating.
pub struct Array<'a, T> {
    bytes: &'a [u8],
    len: usize,
    cx: Ctx,
    item: PhantomData<fn() -> T>,
}

impl<'a, T: Decode<'a>> Array<'a, T> {
    /// An empty array (the default of an absent field).
    pub(crate) const fn empty(cx: Ctx) -> Self {
        Self { bytes: &[], len: 0, cx, item: PhantomData }
    }

    /// Reads and validates a non-null array.
    pub(crate) fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let len = r.array_len(cx.flexible)?;
        Self::read_items(r, cx, len)
    }

    /// Reads and validates a nullable array (`None` for null).
    pub(crate) fn read_nullable(r: &mut Reader<'a>, cx: Ctx) -> Result<Option<Self>, DecodeError> {
        let len = if cx.flexible { r.compact_nullable_array_len()? } else { r.nullable_array_len()? };
        len.map(|len| Self::read_items(r, cx, len)).transpose()
    }

    fn read_items(r: &mut Reader<'a>, cx: Ctx, len: usize) -> Result<Self, DecodeError> {
        let rest = r.rest();
        let start = r.position();
        for _ in 0..len {
            T::read(r, cx)?;
        }
        // The reader only moves forward within `rest`, so the consumed length fits.
        let bytes = &rest[..r.position() - start];
        Ok(Self { bytes, len, cx, item: PhantomData })
    }

    /// Number of elements.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the array has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements, parsed on the fly.
    pub fn iter(&self) -> ArrayIter<'a, T> {
        ArrayIter {
            reader: Reader::with_limits(self.bytes, self.cx.limits),
            left: self.len,
            cx: self.cx,
            item: PhantomData,
        }
    }

    /// The element at `index`, parsing the elements before it.
    pub fn get(&self, index: usize) -> Option<T> {
        self.iter().nth(index)
    }
}

impl<T> Clone for Array<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for Array<'_, T> {}

impl<'a, T: Decode<'a> + fmt::Debug> fmt::Debug for Array<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Decode<'a> + PartialEq> PartialEq for Array<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<'a, T: Decode<'a>> IntoIterator for Array<'a, T> {
    type Item = T;
    type IntoIter = ArrayIter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T: Decode<'a>> IntoIterator for &Array<'a, T> {
    type Item = T;
    type IntoIter = ArrayIter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Iterator over an [`Array`].
pub struct ArrayIter<'a, T> {
    reader: Reader<'a>,
    left: usize,
    cx: Ctx,
    item: PhantomData<fn() -> T>,
}

impl<'a, T: Decode<'a>> Iterator for ArrayIter<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.left == 0 {
            return None;
        }
        // These bytes decoded when the message was validated, so this cannot fail; if it did, the
        // iteration ends instead of panicking.
        let Ok(item) = T::read(&mut self.reader, self.cx) else {
            self.left = 0;
            return None;
        };
        self.left -= 1;
        Some(item)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<T> fmt::Debug for ArrayIter<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayIter").field("left", &self.left).finish_non_exhaustive()
    }
}

/// A broker endpoint, as Metadata (`MetadataResponseBroker`) and Produce v10+ (`NodeEndpoint`)
/// describe it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node<'a> {
    /// The broker id.
    pub node_id: i32,
    /// The host name.
    pub host: &'a str,
    /// The port.
    pub port: i32,
    /// The rack, if assigned (Metadata v1+).
    pub rack: Option<&'a str>,
}

impl<'a> Decode<'a> for Node<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let node_id = r.i32()?;
        let host = r.string_flex(cx.flexible)?;
        let port = r.i32()?;
        let rack = if cx.version >= 1 { r.nullable_string_flex(cx.flexible)? } else { None };
        cx.skip_tags(r)?;
        Ok(Self { node_id, host, port, rack })
    }
}

/// Below Metadata v1 the rack is not sent.
impl Encode for Node<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.node_id)?;
        out.put_string(self.host, cx.flexible)?;
        out.put_i32(self.port)?;
        if cx.version >= 1 {
            out.put_nullable_string(self.rack, cx.flexible)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}
