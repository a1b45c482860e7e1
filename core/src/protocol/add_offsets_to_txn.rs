//! AddOffsetsToTxn (key 25), versions 0-4, flexible from v3: tells the transaction coordinator
//! that the transaction will commit offsets of a consumer group (transactions V1; V2 skips it,
//! KIP-890). v2 `PRODUCER_FENCED`; v4 `TRANSACTION_ABORTABLE`.

use super::{ApiKey, Ctx, Decode, DecodeRequest, Encode, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// AddOffsetsToTxn request. One type both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOffsetsToTxnRequest<'a> {
    /// The transactional id.
    pub transactional_id: &'a str,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// The consumer group whose offsets the transaction commits.
    pub group_id: &'a str,
}

impl Encode for AddOffsetsToTxnRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.transactional_id, cx.flexible)?;
        out.put_i64(self.producer_id)?;
        out.put_i16(self.producer_epoch)?;
        out.put_string(self.group_id, cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for AddOffsetsToTxnRequest<'_> {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
}

impl<'a> Decode<'a> for AddOffsetsToTxnRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.string_flex(cx.flexible)?;
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let group_id = r.string_flex(cx.flexible)?;
        cx.skip_tags(r)?;
        Ok(Self { transactional_id, producer_id, producer_epoch, group_id })
    }
}

impl<'a> DecodeRequest<'a> for AddOffsetsToTxnRequest<'a> {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
}

/// AddOffsetsToTxn response. One type both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddOffsetsToTxnResponse {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// The error.
    pub error_code: ErrorCode,
}

impl Decode<'_> for AddOffsetsToTxnResponse {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?.into();
        cx.skip_tags(r)?;
        Ok(Self { throttle_time_ms, error_code })
    }
}

impl Response<'_> for AddOffsetsToTxnResponse {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
}

impl Encode for AddOffsetsToTxnResponse {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms)?;
        out.put_i16(self.error_code.code())?;
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for AddOffsetsToTxnResponse {
    const API_KEY: ApiKey = ApiKey::AddOffsetsToTxn;
}
