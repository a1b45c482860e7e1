//! SaslAuthenticate (key 36), versions 0-2, flexible from v2. v1 adds the session lifetime.

use super::codec::{Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// SaslAuthenticate request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslAuthenticateRequest<'a> {
    /// The client's SASL token.
    pub auth_bytes: &'a [u8],
}

impl Encode for SaslAuthenticateRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_nullable_bytes(Some(self.auth_bytes), cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for SaslAuthenticateRequest<'_> {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
}

impl<'a> Decode<'a> for SaslAuthenticateRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let auth_bytes = read_auth_bytes(r, cx)?;
        cx.skip_tags(r)?;
        Ok(Self { auth_bytes })
    }
}

impl<'a> DecodeRequest<'a> for SaslAuthenticateRequest<'a> {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
}

/// The non-null `AuthBytes` both directions carry.
fn read_auth_bytes<'a>(r: &mut Reader<'a>, cx: Ctx) -> Result<&'a [u8], DecodeError> {
    r.nullable_bytes_flex(cx.flexible)?.ok_or(DecodeError::UnexpectedNull)
}

/// SaslAuthenticate response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslAuthenticateResponse<'a> {
    /// The error, e.g. `SASL_AUTHENTICATION_FAILED`.
    pub error_code: ErrorCode,
    /// The error message.
    pub error_message: Option<&'a str>,
    /// The server's SASL token.
    pub auth_bytes: &'a [u8],
    /// Ms after which the session must re-authenticate, 0 for none (v1+).
    pub session_lifetime_ms: i64,
}

impl<'a> Decode<'a> for SaslAuthenticateResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let error_code = r.i16()?.into();
        let error_message = r.nullable_string_flex(cx.flexible)?;
        let auth_bytes = read_auth_bytes(r, cx)?;
        let session_lifetime_ms = if cx.version >= 1 { r.i64()? } else { 0 };
        cx.skip_tags(r)?;
        Ok(Self { error_code, error_message, auth_bytes, session_lifetime_ms })
    }
}

impl<'a> Response<'a> for SaslAuthenticateResponse<'a> {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
}

/// The session lifetime is sent from v1 only.
impl Encode for SaslAuthenticateResponse<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i16(self.error_code.code())?;
        out.put_nullable_string(self.error_message, cx.flexible)?;
        out.put_nullable_bytes(Some(self.auth_bytes), cx.flexible)?;
        if cx.version >= 1 {
            out.put_i64(self.session_lifetime_ms)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for SaslAuthenticateResponse<'_> {
    const API_KEY: ApiKey = ApiKey::SaslAuthenticate;
}
