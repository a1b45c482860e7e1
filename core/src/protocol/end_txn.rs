//! EndTxn (key 26), versions 0-5, flexible from v3.
//!
//! v2 `PRODUCER_FENCED`; v4 `TRANSACTION_ABORTABLE`; v5 (transactions V2, KIP-890) bumps the
//! epoch on every transaction end and answers the producer id and epoch to use next.

use super::{ApiKey, Ctx, Decode, DecodeRequest, Encode, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// EndTxn request: commit or abort the producer's open transaction. One type both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnRequest<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Commit (`true`) or abort (`false`).
    pub committed: bool,
}

impl Encode for EndTxnRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.transactional_id, cx.flexible)?;
        out.put_i64(self.producer_id)?;
        out.put_i16(self.producer_epoch)?;
        out.put_bool(self.committed)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for EndTxnRequest<'_> {
    const API_KEY: ApiKey = ApiKey::EndTxn;
}

impl<'a> Decode<'a> for EndTxnRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.string_flex(cx.flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let committed = r.bool()?;
        cx.skip_tags(r)?;
        Ok(Self { transactional_id, producer_id, producer_epoch, committed })
    }
}

impl<'a> DecodeRequest<'a> for EndTxnRequest<'a> {
    const API_KEY: ApiKey = ApiKey::EndTxn;
}

/// EndTxn response. One type both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndTxnResponse {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// The error.
    pub error_code: ErrorCode,
    /// The producer id for the next transaction (v5+, else -1).
    pub producer_id: i64,
    /// Its epoch (v5+, else -1).
    pub producer_epoch: i16,
}

impl Decode<'_> for EndTxnResponse {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?.into();
        let (producer_id, producer_epoch) = if cx.version >= 5 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        cx.skip_tags(r)?;
        Ok(Self { throttle_time_ms, error_code, producer_id, producer_epoch })
    }
}

impl Response<'_> for EndTxnResponse {
    const API_KEY: ApiKey = ApiKey::EndTxn;
}

/// The producer id and epoch are sent from v5 only.
impl Encode for EndTxnResponse {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms)?;
        out.put_i16(self.error_code.code())?;
        if cx.version >= 5 {
            out.put_i64(self.producer_id)?;
            out.put_i16(self.producer_epoch)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for EndTxnResponse {
    const API_KEY: ApiKey = ApiKey::EndTxn;
}
