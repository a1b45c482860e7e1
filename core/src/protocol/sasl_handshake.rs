//! SaslHandshake (key 17), versions 0-1, never flexible.
//!
//! v0 is followed by raw SASL tokens; v1 by SaslAuthenticate requests.

use super::codec::{put_array, Array, Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// SaslHandshake request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslHandshakeRequest<'a> {
    /// The chosen mechanism, e.g. `"SCRAM-SHA-256"`.
    pub mechanism: &'a str,
}

impl Encode for SaslHandshakeRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.mechanism, cx.flexible)
    }
}

impl Request for SaslHandshakeRequest<'_> {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
}

impl<'a> Decode<'a> for SaslHandshakeRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        Ok(Self { mechanism: r.string_flex(cx.flexible)? })
    }
}

impl<'a> DecodeRequest<'a> for SaslHandshakeRequest<'a> {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
}

/// SaslHandshake response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SaslHandshakeResponse<'a> {
    /// The error, e.g. `UNSUPPORTED_SASL_MECHANISM`.
    pub error_code: ErrorCode,
    /// The mechanisms the broker enables.
    pub mechanisms: Array<'a, &'a str>,
}

impl<'a> Decode<'a> for SaslHandshakeResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let error_code = r.i16()?.into();
        let mechanisms = Array::read(r, cx)?;
        Ok(Self { error_code, mechanisms })
    }
}

impl<'a> Response<'a> for SaslHandshakeResponse<'a> {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
}

/// SaslHandshake response as a broker builds it; [`SaslHandshakeResponse`] is its decoded form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslHandshakeResponseData<'a> {
    /// The error.
    pub error_code: ErrorCode,
    /// The mechanisms the broker enables.
    pub mechanisms: &'a [&'a str],
}

impl Encode for SaslHandshakeResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i16(self.error_code.code())?;
        put_array(out, self.mechanisms, cx)
    }
}

impl EncodeResponse for SaslHandshakeResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::SaslHandshake;
}
