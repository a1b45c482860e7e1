//! ApiVersions (key 18), versions 0-4, flexible from v3.
//!
//! The response header is always v0. A broker that does not support the requested version
//! answers with a v0 body carrying `UNSUPPORTED_VERSION` and its own ranges (KIP-511);
//! [`ApiVersionsResponse`]'s `decode` falls back to v0 as the Java client does, so the caller can
//! retry with a version the broker lists.
//!
//! A broker in that situation encodes its [`ApiVersionsResponseData`] at v0 (with
//! `UNSUPPORTED_VERSION`), which [`crate::protocol::encode_response`] frames with the v0 header
//! like every ApiVersions response.

use super::codec::{decode_body, put_array, put_tag_count, put_tagged, tagged, Array, Ctx, Decode, Encode};
use super::{choose_version, ApiKey, DecodeRequest, EncodeResponse, ErrorCode, Request, Response, VersionRange};
use crate::wire::{DecodeError, EncodeError, Limits, Reader, Sink};

/// ApiVersions request. The client software fields are sent from v3 on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionsRequest<'a> {
    /// The client's name (`ClientSoftwareName`, v3+).
    pub client_software_name: &'a str,
    /// The client's version (`ClientSoftwareVersion`, v3+).
    pub client_software_version: &'a str,
}

impl Encode for ApiVersionsRequest<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        if cx.version >= 3 {
            out.put_string(self.client_software_name, true)?;
            out.put_string(self.client_software_version, true)?;
        }
        out.put_empty_tags(cx.flexible)
    }
}

impl Request for ApiVersionsRequest<'_> {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
}

/// Below v3 both names read as empty.
impl<'a> Decode<'a> for ApiVersionsRequest<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let (client_software_name, client_software_version) =
            if cx.version >= 3 { (r.compact_string()?, r.compact_string()?) } else { ("", "") };
        cx.skip_tags(r)?;
        Ok(Self { client_software_name, client_software_version })
    }
}

impl<'a> DecodeRequest<'a> for ApiVersionsRequest<'a> {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
}

/// ApiVersions response.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ApiVersionsResponse<'a> {
    /// Top-level error; `UNSUPPORTED_VERSION` means retry with a lower version.
    pub error_code: ErrorCode,
    /// The APIs the broker supports.
    pub api_keys: Array<'a, ApiVersion>,
    /// Throttle time in ms (v1+, else 0).
    pub throttle_time_ms: i32,
    /// Features the broker supports (tag 0, v3+).
    pub supported_features: Array<'a, SupportedFeature<'a>>,
    /// Epoch of the finalized features, -1 if unknown (tag 1, v3+).
    pub finalized_features_epoch: i64,
    /// Cluster-wide finalized features (tag 2, v3+).
    pub finalized_features: Array<'a, FinalizedFeature<'a>>,
    /// Set by a KRaft controller ready for ZK migration (tag 3, v3+).
    pub zk_migration_ready: bool,
}

impl ApiVersionsResponse<'_> {
    /// The broker's range for `api`, if it lists it.
    pub fn range(&self, api: ApiKey) -> Option<VersionRange> {
        self.api_keys.iter().find(|k| k.api_key == api).map(|k| VersionRange::new(k.min_version, k.max_version))
    }

    /// The version kprod should use for `api` with this broker ([`choose_version`]).
    pub fn choose(&self, api: ApiKey) -> Option<i16> {
        choose_version(api, self.range(api)?)
    }

    /// The finalized max level of a cluster-wide feature (v3+), or `None` if not finalized.
    pub fn finalized_level(&self, feature: &str) -> Option<i16> {
        self.finalized_features.iter().find(|f| f.name == feature).map(|f| f.max_version_level)
    }

    /// Whether the cluster finalized transactions V2 (KIP-890: `transaction.version` >= 2):
    /// Produce v12+ adds partitions to the transaction and EndTxn v5+ bumps the epoch.
    pub fn transactions_v2(&self) -> bool {
        self.finalized_level("transaction.version").is_some_and(|level| level >= 2)
    }
}

impl<'a> Decode<'a> for ApiVersionsResponse<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let error_code = r.i16()?.into();
        let api_keys = Array::read(r, cx)?;
        let throttle_time_ms = if cx.version >= 1 { r.i32()? } else { 0 };
        let mut out = Self {
            error_code,
            api_keys,
            throttle_time_ms,
            supported_features: Array::empty(cx),
            finalized_features_epoch: -1,
            finalized_features: Array::empty(cx),
            zk_migration_ready: false,
        };
        if cx.flexible {
            r.tagged_fields(|tag, data| {
                match tag {
                    0 => out.supported_features = tagged(data, cx, |r| Array::read(r, cx))?,
                    1 => out.finalized_features_epoch = tagged(data, cx, Reader::i64)?,
                    2 => out.finalized_features = tagged(data, cx, |r| Array::read(r, cx))?,
                    3 => out.zk_migration_ready = tagged(data, cx, Reader::bool)?,
                    _ => {}
                }
                Ok(())
            })?;
        }
        Ok(out)
    }
}

impl<'a> Response<'a> for ApiVersionsResponse<'a> {
    const API_KEY: ApiKey = ApiKey::ApiVersions;

    /// Decodes at `version`, and if that fails, at v0: a broker that does not support `version`
    /// answers in v0 (KIP-511).
    fn decode_with_limits(version: i16, body: &'a [u8], limits: Limits) -> Result<Self, DecodeError> {
        match decode_body(Self::API_KEY, version, body, limits) {
            Err(e) if version != 0 => decode_body(Self::API_KEY, 0, body, limits).map_err(|_| e),
            result => result,
        }
    }
}

/// ApiVersions response as a broker builds it; [`ApiVersionsResponse`] is its decoded form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersionsResponseData<'a> {
    /// Top-level error.
    pub error_code: ErrorCode,
    /// The APIs the broker supports.
    pub api_keys: &'a [ApiVersion],
    /// Throttle time in ms (sent from v1).
    pub throttle_time_ms: i32,
    /// Features the broker supports (tag 0, v3+, sent when not empty).
    pub supported_features: &'a [SupportedFeature<'a>],
    /// Epoch of the finalized features (tag 1, v3+, sent when not -1).
    pub finalized_features_epoch: i64,
    /// Cluster-wide finalized features (tag 2, v3+, sent when not empty).
    pub finalized_features: &'a [FinalizedFeature<'a>],
    /// Set by a KRaft controller ready for ZK migration (tag 3, v3+, sent when true).
    pub zk_migration_ready: bool,
}

impl<'a> ApiVersionsResponseData<'a> {
    /// A response listing `api_keys`, with the schema defaults (no features, no throttle).
    pub const fn new(error_code: ErrorCode, api_keys: &'a [ApiVersion]) -> Self {
        Self {
            error_code,
            api_keys,
            throttle_time_ms: 0,
            supported_features: &[],
            finalized_features_epoch: -1,
            finalized_features: &[],
            zk_migration_ready: false,
        }
    }
}

impl Encode for ApiVersionsResponseData<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i16(self.error_code.code())?;
        put_array(out, self.api_keys, cx)?;
        if cx.version >= 1 {
            out.put_i32(self.throttle_time_ms)?;
        }
        if !cx.flexible {
            return Ok(());
        }
        let present = [
            !self.supported_features.is_empty(),
            self.finalized_features_epoch != -1,
            !self.finalized_features.is_empty(),
            self.zk_migration_ready,
        ];
        put_tag_count(out, &present)?;
        if present[0] {
            put_tagged(out, 0, self.supported_features, cx)?;
        }
        if present[1] {
            put_tagged(out, 1, &self.finalized_features_epoch, cx)?;
        }
        if present[2] {
            put_tagged(out, 2, self.finalized_features, cx)?;
        }
        if present[3] {
            put_tagged(out, 3, &true, cx)?;
        }
        Ok(())
    }
}

impl EncodeResponse for ApiVersionsResponseData<'_> {
    const API_KEY: ApiKey = ApiKey::ApiVersions;
}

/// One API the broker supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiVersion {
    /// The API.
    pub api_key: ApiKey,
    /// Lowest supported version.
    pub min_version: i16,
    /// Highest supported version.
    pub max_version: i16,
}

impl Decode<'_> for ApiVersion {
    fn read(r: &mut Reader<'_>, cx: Ctx) -> Result<Self, DecodeError> {
        let api_key = ApiKey::from_code(r.i16()?);
        let min_version = r.i16()?;
        let max_version = r.i16()?;
        cx.skip_tags(r)?;
        Ok(Self { api_key, min_version, max_version })
    }
}

impl Encode for ApiVersion {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_i16(self.api_key.code())?;
        write_versions(out, cx, self.min_version, self.max_version)
    }
}

/// A feature the broker supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SupportedFeature<'a> {
    /// Feature name.
    pub name: &'a str,
    /// Lowest supported version.
    pub min_version: i16,
    /// Highest supported version.
    pub max_version: i16,
}

impl<'a> Decode<'a> for SupportedFeature<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let (name, min_version, max_version) = read_feature(r, cx)?;
        Ok(Self { name, min_version, max_version })
    }
}

impl Encode for SupportedFeature<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.name, true)?;
        write_versions(out, cx, self.min_version, self.max_version)
    }
}

/// Both feature lists hold a name and two `int16`s, then tags.
fn read_feature<'a>(r: &mut Reader<'a>, cx: Ctx) -> Result<(&'a str, i16, i16), DecodeError> {
    let name = r.compact_string()?;
    let (first, second) = (r.i16()?, r.i16()?);
    cx.skip_tags(r)?;
    Ok((name, first, second))
}

/// The two `int16`s and the tags that end every element of an ApiVersions response.
fn write_versions(out: &mut impl Sink, cx: Ctx, first: i16, second: i16) -> Result<(), EncodeError> {
    out.put_i16(first)?;
    out.put_i16(second)?;
    out.put_empty_tags(cx.flexible)
}

/// A cluster-wide finalized feature. Note the wire order: max before min.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FinalizedFeature<'a> {
    /// Feature name.
    pub name: &'a str,
    /// Finalized max version level.
    pub max_version_level: i16,
    /// Finalized min version level.
    pub min_version_level: i16,
}

impl<'a> Decode<'a> for FinalizedFeature<'a> {
    fn read(r: &mut Reader<'a>, cx: Ctx) -> Result<Self, DecodeError> {
        let (name, max_version_level, min_version_level) = read_feature(r, cx)?;
        Ok(Self { name, max_version_level, min_version_level })
    }
}

impl Encode for FinalizedFeature<'_> {
    fn write(&self, out: &mut impl Sink, cx: Ctx) -> Result<(), EncodeError> {
        out.put_string(self.name, true)?;
        write_versions(out, cx, self.max_version_level, self.min_version_level)
    }
}
