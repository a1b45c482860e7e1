//! Request and response headers, and size-prefixed frames.
//!
//! - Request header v1: api key, api version, correlation id, nullable client id. v2 (flexible
//!   APIs) adds a tagged-field section. The client id keeps the classic int16 length even in v2.
//! - Response header v0: correlation id. v1 adds a tagged-field section. The ApiVersions response
//!   header is always v0.
//!
//! The broker side reads request headers ([`RequestHeader::decode`]) and writes response frames
//! ([`encode_response`]).

use super::{ApiKey, EncodeResponse, Request};
use crate::wire::{Counter, DecodeError, EncodeError, Reader, Sink};

/// A request header. Its version follows from the API and version
/// ([`ApiKey::request_header_version`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestHeader<'a> {
    /// The API of the request.
    pub api_key: ApiKey,
    /// The API version of the request body.
    pub api_version: i16,
    /// Echoed in the response header to match it to this request.
    pub correlation_id: i32,
    /// The client id, or `None`.
    pub client_id: Option<&'a str>,
}

impl<'a> RequestHeader<'a> {
    /// Reads the header of `frame` (a request without its size prefix), returning it and the
    /// body that follows. The header version follows from the API key and version it holds, so an
    /// API or version kprod does not know still yields a header (read as v1 for an unknown key):
    /// a broker answers those with an error rather than dropping the connection.
    pub fn decode(frame: &'a [u8]) -> Result<(Self, &'a [u8]), DecodeError> {
        let mut r = Reader::new(frame);
        let api_key = ApiKey::from_code(r.i16()?);
        let api_version = r.i16()?;
        let correlation_id = r.i32()?;
        let client_id = r.nullable_string()?;
        let header = Self { api_key, api_version, correlation_id, client_id };
        if header.version() >= 2 {
            r.skip_tagged_fields()?;
        }
        Ok((header, r.rest()))
    }

    /// The header version: 2 for flexible API versions, else 1.
    pub const fn version(&self) -> i16 {
        self.api_key.request_header_version(self.api_version)
    }

    /// Writes the header.
    pub fn encode(&self, out: &mut impl Sink) -> Result<(), EncodeError> {
        out.put_i16(self.api_key.code())?;
        out.put_i16(self.api_version)?;
        out.put_i32(self.correlation_id)?;
        out.put_nullable_string(self.client_id, false)?;
        out.put_empty_tags(self.version() >= 2)
    }
}

/// A decoded response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The correlation id of the request this answers.
    pub correlation_id: i32,
}

impl ResponseHeader {
    /// Reads the header of `frame` (a response without its size prefix) for a request of
    /// `api_key` at `api_version`, returning it and the body that follows.
    pub fn decode(api_key: ApiKey, api_version: i16, frame: &[u8]) -> Result<(Self, &[u8]), DecodeError> {
        let mut r = Reader::new(frame);
        let correlation_id = r.i32()?;
        if api_key.response_header_version(api_version) >= 1 {
            r.skip_tagged_fields()?;
        }
        Ok((Self { correlation_id }, r.rest()))
    }

    /// Writes the header for a response of `api_key` at `api_version`
    /// ([`ApiKey::response_header_version`]).
    pub fn encode(&self, api_key: ApiKey, api_version: i16, out: &mut impl Sink) -> Result<(), EncodeError> {
        out.put_i32(self.correlation_id)?;
        out.put_empty_tags(api_key.response_header_version(api_version) >= 1)
    }

    /// The correlation id of `frame`, which every header version starts with. A driver reads it
    /// to find the request a response answers before decoding the rest.
    pub fn peek_correlation_id(frame: &[u8]) -> Result<i32, DecodeError> {
        Reader::new(frame).i32()
    }
}

/// Size of the frame [`encode_request`] writes, including the 4-byte size prefix.
pub fn request_frame_len<R: Request>(
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &R,
) -> Result<usize, EncodeError> {
    frame_len(&RequestFrame { version, correlation_id, client_id, body })
}

/// Writes a whole request frame: the int32 size, the request header and the body at `version`.
/// The size is counted first, so nothing is written if the body cannot be encoded at `version`.
/// Returns the bytes written. A [`crate::wire::SliceSink`] that is too small may hold a partial
/// frame afterwards; size it with [`request_frame_len`] to avoid that.
pub fn encode_request<R: Request>(
    out: &mut impl Sink,
    version: i16,
    correlation_id: i32,
    client_id: Option<&str>,
    body: &R,
) -> Result<usize, EncodeError> {
    write_frame(out, &RequestFrame { version, correlation_id, client_id, body }, "request frame")
}

/// Size of the frame [`encode_response`] writes, including the 4-byte size prefix.
pub fn response_frame_len<R: EncodeResponse>(
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<usize, EncodeError> {
    frame_len(&ResponseFrame { version, correlation_id, body })
}

/// Writes a whole response frame: the int32 size, the response header (v0, or v1 for flexible
/// versions; always v0 for ApiVersions) and the body at `version`. Like [`encode_request`], it
/// counts first and writes nothing if the body cannot be encoded. Returns the bytes written.
pub fn encode_response<R: EncodeResponse>(
    out: &mut impl Sink,
    version: i16,
    correlation_id: i32,
    body: &R,
) -> Result<usize, EncodeError> {
    write_frame(out, &ResponseFrame { version, correlation_id, body }, "response frame")
}

/// What follows the size prefix of a frame.
trait FrameContents {
    fn write_contents(&self, out: &mut impl Sink) -> Result<(), EncodeError>;
}

struct RequestFrame<'r, R> {
    version: i16,
    correlation_id: i32,
    client_id: Option<&'r str>,
    body: &'r R,
}

impl<R: Request> FrameContents for RequestFrame<'_, R> {
    fn write_contents(&self, out: &mut impl Sink) -> Result<(), EncodeError> {
        let header = RequestHeader {
            api_key: R::API_KEY,
            api_version: self.version,
            correlation_id: self.correlation_id,
            client_id: self.client_id,
        };
        header.encode(out)?;
        self.body.encode(self.version, out)
    }
}

struct ResponseFrame<'r, R> {
    version: i16,
    correlation_id: i32,
    body: &'r R,
}

impl<R: EncodeResponse> FrameContents for ResponseFrame<'_, R> {
    fn write_contents(&self, out: &mut impl Sink) -> Result<(), EncodeError> {
        ResponseHeader { correlation_id: self.correlation_id }.encode(R::API_KEY, self.version, out)?;
        self.body.encode(self.version, out)
    }
}

fn frame_len(contents: &impl FrameContents) -> Result<usize, EncodeError> {
    let mut count = Counter::default();
    contents.write_contents(&mut count)?;
    Ok(count.0 + 4)
}

fn write_frame(out: &mut impl Sink, contents: &impl FrameContents, what: &'static str) -> Result<usize, EncodeError> {
    let len = frame_len(contents)?;
    let size = i32::try_from(len - 4).map_err(|_| EncodeError::ValueTooLarge(what))?;
    out.put_i32(size)?;
    contents.write_contents(out)?;
    Ok(len)
}

/// What a receive buffer holds at its start, as [`framing`] reads its length prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A whole frame of this many bytes, the 4-byte length prefix included.
    Frame(usize),
    /// Not a whole frame yet, and it fits the limit: read more.
    Partial,
    /// The frame announces this many bytes (prefix included), more than the limit allows.
    TooLarge(usize),
    /// A negative length prefix: the stream cannot be resynchronised.
    Malformed(i32),
}

/// Reads the Kafka length prefix at the start of `filled` (bytes received so far). `limit` is
/// the most bytes a whole frame may take, prefix included (a receive window, or
/// [`crate::producer::MAX_RESPONSE_FRAME`] + 4). Every driver and the engine frame responses
/// with this one function.
pub fn framing(filled: &[u8], limit: usize) -> Framing {
    let Some(prefix) = filled.first_chunk::<4>() else {
        return Framing::Partial;
    };
    let size = i32::from_be_bytes(*prefix);
    let Ok(len) = usize::try_from(size) else {
        return Framing::Malformed(size);
    };
    let total = len.saturating_add(4);
    if total > limit {
        Framing::TooLarge(total)
    } else if total > filled.len() {
        Framing::Partial
    } else {
        Framing::Frame(total)
    }
}

/// Splits the first size-prefixed frame off `buf`: `Ok(Some((frame, consumed)))` with the frame
/// (without its prefix) and the bytes it used, `Ok(None)` while the frame is incomplete. A negative
/// size or one above `max_frame` is an error: the connection cannot be resynchronised.
pub fn split_frame(buf: &[u8], max_frame: usize) -> Result<Option<(&[u8], usize)>, DecodeError> {
    match framing(buf, max_frame.saturating_add(4)) {
        Framing::Frame(total) => Ok(Some((&buf[4..total], total))),
        Framing::Partial => Ok(None),
        Framing::TooLarge(total) => Err(DecodeError::LimitExceeded { announced: total - 4, limit: max_frame }),
        Framing::Malformed(size) => Err(DecodeError::NegativeLength(size.into())),
    }
}
