//! Kafka wire primitives: a bounds-checked reader over borrowed bytes and byte sinks for
//! encoding into caller memory.
//!
//! Every decoder in kprod is built on [`Reader`]. It never panics and never allocates: each
//! length read from the peer is checked against the bytes that remain *and* against the
//! configured [`Limits`] before anything is sliced.
//!
//! Encoders write into a [`Sink`]. [`SliceSink`] writes into a caller-provided buffer and fails
//! with [`EncodeError::BufferTooSmall`] instead of growing; [`Counter`] only counts, so a caller
//! can learn the exact size of a frame before writing it.

mod reader;
mod sink;
pub mod varint;

pub use reader::{Limits, Reader};
pub use sink::{Counter, Sink, SliceSink};

use core::fmt;

/// Why bytes could not be decoded. Small and `Copy`, as every per-operation error in kprod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a field was complete.
    Truncated {
        /// Bytes the field needed.
        needed: usize,
        /// Bytes that were left.
        remaining: usize,
    },
    /// A length or count field was negative where only `-1` (null) or `>= 0` is allowed.
    NegativeLength(i64),
    /// A length or count exceeded the configured [`Limits`].
    LimitExceeded {
        /// The length the peer announced.
        announced: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// A varint ran over its maximum encoded width.
    VarintTooLong,
    /// A string field was not valid UTF-8.
    InvalidUtf8,
    /// A null appeared where the schema forbids it.
    UnexpectedNull,
    /// A field had a value the protocol does not allow; the text names the field.
    InvalidValue(&'static str),
    /// The message was decoded but bytes were left over.
    TrailingBytes(usize),
    /// The API version is outside the range this decoder supports.
    UnsupportedVersion(i16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Truncated { needed, remaining } => {
                write!(f, "truncated input: needed {needed} bytes, {remaining} remaining")
            }
            Self::NegativeLength(n) => write!(f, "negative length {n}"),
            Self::LimitExceeded { announced, limit } => {
                write!(f, "length {announced} exceeds the limit {limit}")
            }
            Self::VarintTooLong => f.write_str("varint longer than its maximum width"),
            Self::InvalidUtf8 => f.write_str("string is not valid UTF-8"),
            Self::UnexpectedNull => f.write_str("null where the schema forbids it"),
            Self::InvalidValue(what) => write!(f, "invalid value for {what}"),
            Self::TrailingBytes(n) => write!(f, "{n} trailing bytes after the message"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported API version {v}"),
        }
    }
}

impl core::error::Error for DecodeError {}

/// Why an encoder could not write its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// The caller's buffer is too small. Nothing beyond `written` bytes was touched; encode into a
    /// [`Counter`] to learn the full size.
    BufferTooSmall {
        /// Bytes the write needed beyond what was already written.
        needed: usize,
        /// Bytes still free in the buffer.
        available: usize,
    },
    /// A value does not fit its wire field (for example a string longer than `i16::MAX`).
    ValueTooLarge(&'static str),
    /// The API version is outside the range this encoder supports.
    UnsupportedVersion(i16),
    /// A field that this version requires was not given (the text names it).
    MissingField(&'static str),
    /// A field holds a non-default value that this version cannot carry (the text names it), as
    /// the Java client refuses to silently drop such a field.
    UnsupportedField(&'static str),
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BufferTooSmall { needed, available } => {
                write!(f, "buffer too small: needed {needed} bytes, {available} available")
            }
            Self::ValueTooLarge(what) => write!(f, "{what} is too large for its wire field"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported API version {v}"),
            Self::MissingField(what) => write!(f, "missing field {what} for this version"),
            Self::UnsupportedField(what) => {
                write!(f, "field {what} cannot be sent at this version")
            }
        }
    }
}

impl core::error::Error for EncodeError {}
