//! InitProducerId (key 22), versions 0-6, flexible from v2.
//!
//! v3 adds the current producer id and epoch, so a producer can bump its epoch instead of getting
//! a new id; v4 `PRODUCER_FENCED`; v5 `TRANSACTION_ABORTABLE`; v6 two-phase commit (KIP-939,
//! still unstable in Kafka 4.1, so kprod does not negotiate it).

use super::codec::{only_default, Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// InitProducerId request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdRequest<'a> {
    /// The transactional id, or `None` for an idempotent producer.
    pub transactional_id: Option<&'a str>,
    /// Transaction timeout in ms (relevant only with a transactional id).
    pub transaction_timeout_ms: i32,
    /// The current producer id to bump, or -1 (v3+).
    pub producer_id: i64,
    /// The current epoch, or -1 (v3+).
    pub producer_epoch: i16,
    /// Enable two-phase commit (v6+).
    pub enable_2pc: bool,
    /// Keep the prepared transaction instead of aborting it (v6+).
    pub keep_prepared_txn: bool,
}

impl<'a> InitProducerIdRequest<'a> {
    /// A request for a new producer id, with the schema defaults.
    pub const fn new(transactional_id: Option<&'a str>, transaction_timeout_ms: i32) -> Self {
        Self {
            transactional_id,
            transaction_timeout_ms,
            producer_id: -1,
            producer_epoch: -1,
            enable_2pc: false,
            keep_prepared_txn: false,
        }
    }
}

impl Encode for InitProducerIdRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_nullable_string(self.transactional_id, cx.flexible)?;
        out.put_i32(self.transaction_timeout_ms)?;
        if cx.version >= 3 {
            out.put_i64(self.producer_id)?;
            out.put_i16(self.producer_epoch)?;
        } else {
            only_default(self.producer_id == -1 && self.producer_epoch == -1, "producer_id")?;
        }
        if cx.version >= 6 {
            out.put_bool(self.enable_2pc)?;
            out.put_bool(self.keep_prepared_txn)?;
        } else {
            only_default(!self.enable_2pc && !self.keep_prepared_txn, "enable_2pc")?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for InitProducerIdRequest<'_> {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
}

/// Fields a version does not carry read as their defaults.
impl<'a> Decode<'a> for InitProducerIdRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let transactional_id = r.nullable_string_flex(cx.flexible)?;
        let transaction_timeout_ms = r.i32()?;
        let (producer_id, producer_epoch) = if cx.version >= 3 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        let (enable_2pc, keep_prepared_txn) = if cx.version >= 6 { (r.bool()?, r.bool()?) } else { (false, false) };
        cx.skip_tags(r)?;
        Ok(Self {
            transactional_id,
            transaction_timeout_ms,
            producer_id,
            producer_epoch,
            enable_2pc,
            keep_prepared_txn,
        })
    }
}

impl<'a> DecodeRequest<'a> for InitProducerIdRequest<'a> {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
}

/// InitProducerId response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitProducerIdResponse {
    /// Throttle time in ms.
    pub throttle_time_ms: i32,
    /// The error.
    pub error_code: ErrorCode,
    /// The producer id.
    pub producer_id: i64,
    /// The producer epoch.
    pub producer_epoch: i16,
    /// Producer id of the ongoing transaction kept with `keep_prepared_txn` (v6+, else -1).
    pub ongoing_txn_producer_id: i64,
    /// Its epoch (v6+, else -1).
    pub ongoing_txn_producer_epoch: i16,
}

impl Decode<'_> for InitProducerIdResponse {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = r.i32()?;
        let error_code = r.i16()?.into();
        let producer_id = r.i64()?;
        let producer_epoch = r.i16()?;
        let (ongoing_txn_producer_id, ongoing_txn_producer_epoch) =
            if cx.version >= 6 { (r.i64()?, r.i16()?) } else { (-1, -1) };
        cx.skip_tags(r)?;
        Ok(Self {
            throttle_time_ms,
            error_code,
            producer_id,
            producer_epoch,
            ongoing_txn_producer_id,
            ongoing_txn_producer_epoch,
        })
    }
}

impl Response<'_> for InitProducerIdResponse {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
}

/// The ongoing-transaction fields are sent from v6 only.
impl Encode for InitProducerIdResponse {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i32(self.throttle_time_ms)?;
        out.put_i16(self.error_code.code())?;
        out.put_i64(self.producer_id)?;
        out.put_i16(self.producer_epoch)?;
        if cx.version >= 6 {
            out.put_i64(self.ongoing_txn_producer_id)?;
            out.put_i16(self.ongoing_txn_producer_epoch)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for InitProducerIdResponse {
    const API_KEY: ApiKey = ApiKey::InitProducerId;
}
