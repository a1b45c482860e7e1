//! FindCoordinator (key 10), versions 0-6, flexible from v3.
//!
//! v1 adds the key type (0 group, 1 transaction; 2 share from v6); v4 batches keys in
//! `coordinator_keys` and answers one [`Coordinator`] per key (KIP-699); v5 allows
//! `TRANSACTION_ABORTABLE`. Before v4 the request carries one key and the response one node.

use super::codec::{only_default, put_array, Array, Ctx, Decode, Encode};
use super::{ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response};
use crate::wire::{DecodeError, EncodeError, Reader, Sink};

/// The key type of a group coordinator (the key is the group id).
pub const KEY_TYPE_GROUP: i8 = 0;
/// The key type of a transaction coordinator (the key is the transactional id).
pub const KEY_TYPE_TRANSACTION: i8 = 1;

/// FindCoordinator request. Before v4 exactly one key goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindCoordinatorRequest<'a> {
    /// [`KEY_TYPE_GROUP`] or [`KEY_TYPE_TRANSACTION`] (v1+; v0 knows groups only).
    pub key_type: i8,
    /// The keys: the group id or the transactional id.
    pub keys: &'a [&'a str],
}

impl Encode for FindCoordinatorRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        if cx.version < 4 {
            let [key] = self.keys else {
                return Err(if self.keys.is_empty() {
                    EncodeError::MissingField("key")
                } else {
                    EncodeError::UnsupportedField("coordinator_keys")
                });
            };
            out.put_string(key, cx.flexible)?;
        }
        if cx.version >= 1 {
            out.put_i8(self.key_type)?;
        } else {
            only_default(self.key_type == KEY_TYPE_GROUP, "key_type")?;
        }
        if cx.version >= 4 {
            put_array(out, self.keys, cx)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for FindCoordinatorRequest<'_> {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
}

/// A decoded [`FindCoordinatorRequest`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FindCoordinatorRequestView<'a> {
    /// The single key (up to v3, else empty).
    pub key: &'a str,
    /// The key type (v1+, else 0).
    pub key_type: i8,
    /// The keys (v4+, else empty).
    pub coordinator_keys: Array<'a, &'a str>,
}

impl<'a> Decode<'a> for FindCoordinatorRequestView<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let key = if cx.version < 4 { r.string_flex(cx.flexible)? } else { "" };
        let key_type = if cx.version >= 1 { r.i8()? } else { KEY_TYPE_GROUP };
        let coordinator_keys = if cx.version >= 4 { Array::read(r, cx)? } else { Array::empty(cx) };
        cx.skip_tags(r)?;
        Ok(Self { key, key_type, coordinator_keys })
    }
}

impl<'a> DecodeRequest<'a> for FindCoordinatorRequestView<'a> {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
}

/// One key's coordinator. Before v4 the response holds these fields at the top level, with no key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coordinator<'a> {
    /// The key it answers (v4+; empty before).
    pub key: &'a str,
    /// The coordinator's broker id.
    pub node_id: i32,
    /// Its host.
    pub host: &'a str,
    /// Its port.
    pub port: i32,
    /// The error.
    pub error_code: ErrorCode,
    /// The error message (v1+).
    pub error_message: Option<&'a str>,
}

impl<'a> Decode<'a> for Coordinator<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let key = r.string_flex(cx.flexible)?;
        let node_id = r.i32()?;
        let host = r.string_flex(cx.flexible)?;
        let port = r.i32()?;
        let error_code = r.i16()?.into();
        let error_message = r.nullable_string_flex(cx.flexible)?;
        cx.skip_tags(r)?;
        Ok(Self { key, node_id, host, port, error_code, error_message })
    }
}

impl Encode for Coordinator<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.key, cx.flexible)?;
        out.put_i32(self.node_id)?;
        out.put_string(self.host, cx.flexible)?;
        out.put_i32(self.port)?;
        out.put_i16(self.error_code.code())?;
        out.put_nullable_string(self.error_message, cx.flexible)?;
        out.put_empty_tags(cx.flexible)
    }
}

/// FindCoordinator response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FindCoordinatorResponse<'a> {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// The one answer of v0-v3 (its `key` empty), or `None` from v4.
    pub single: Option<Coordinator<'a>>,
    /// The answers of v4+, one per key (empty before v4).
    pub coordinators: Array<'a, Coordinator<'a>>,
}

impl<'a> FindCoordinatorResponse<'a> {
    /// The answer for `key`: the single answer before v4, else the entry that names `key`.
    pub fn coordinator(&self, key: &str) -> Option<Coordinator<'a>> {
        self.single.or_else(|| self.coordinators.iter().find(|c| c.key == key))
    }
}

impl<'a> Decode<'a> for FindCoordinatorResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let throttle_time_ms = if cx.version >= 1 { r.i32()? } else { 0 };
        let (single, coordinators) = if cx.version >= 4 {
            (None, Array::read(r, cx)?)
        } else {
            let error_code = r.i16()?.into();
            let error_message = if cx.version >= 1 { r.nullable_string_flex(cx.flexible)? } else { None };
            let node_id = r.i32()?;
            let host = r.string_flex(cx.flexible)?;
            let port = r.i32()?;
            (Some(Coordinator { key: "", node_id, host, port, error_code, error_message }), Array::empty(cx))
        };
        cx.skip_tags(r)?;
        Ok(Self { throttle_time_ms, single, coordinators })
    }
}

impl<'a> Response<'a> for FindCoordinatorResponse<'a> {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
}

/// A [`FindCoordinatorResponse`] built from a slice. Before v4 it needs exactly one coordinator
/// (its key is not sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindCoordinatorResponseData<'a> {
    /// Throttle time in ms (v1+).
    pub throttle_time_ms: i32,
    /// One answer per requested key.
    pub coordinators: &'a [Coordinator<'a>],
}

impl Encode for FindCoordinatorResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        if cx.version >= 1 {
            out.put_i32(self.throttle_time_ms)?;
        }
        if cx.version >= 4 {
            put_array(out, self.coordinators, cx)?;
        } else {
            let [c] = self.coordinators else {
                return Err(EncodeError::MissingField("node_id"));
            };
            out.put_i16(c.error_code.code())?;
            if cx.version >= 1 {
                out.put_nullable_string(c.error_message, cx.flexible)?;
            }
            out.put_i32(c.node_id)?;
            out.put_string(c.host, cx.flexible)?;
            out.put_i32(c.port)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl EncodeResponse for FindCoordinatorResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::FindCoordinator;
}
