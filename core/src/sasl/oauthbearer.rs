//! OAUTHBEARER (RFC 7628) as Kafka speaks it: the client's initial response
//! `n,,\x01auth=Bearer <token>\x01<ext>=<value>\x01...\x01`, and the unsecured test token that
//! Java's `OAuthBearerUnsecuredLoginCallbackHandler` builds from `unsecuredLogin*` options.
//!
//! The core reads no clock, so the unsecured token is built by the driver (which has wall
//! time) with [`unsecured_token`] and handed in; a static token from the configuration needs
//! no clock.

use core::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine as _;

use super::jaas::JaasConfig;
use super::text::Text;
use crate::wire::{EncodeError, Sink};

/// The prefix of the JAAS options that become SASL extensions.
const EXTENSION_PREFIX: &str = "unsecuredLoginExtension_";

/// The SASL extensions in `jaas` (`unsecuredLoginExtension_<name>="value"`), as `(name, value)`.
pub fn extensions<'a>(jaas: &JaasConfig<'a>) -> impl Iterator<Item = (Text<'a>, Text<'a>)> + 'a {
    jaas.options().filter_map(|(k, v)| {
        let name = k.as_plain()?.strip_prefix(EXTENSION_PREFIX)?;
        Some((Text::new(name), v))
    })
}

/// Why an OAUTHBEARER setting is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthError {
    /// An extension name is not letters only, or is `auth` (RFC 7628 section 3.1).
    ExtensionName,
    /// An extension value holds characters outside `%x21-7E`, space, tab, CR and LF.
    ExtensionValue,
    /// `unsecuredLoginStringClaim_sub` (or the configured principal claim) is missing.
    MissingPrincipal,
    /// A number option (`unsecuredLoginLifetimeSeconds`, a number claim) does not parse.
    BadNumber,
    /// The token does not fit the buffer.
    BufferTooSmall,
}

impl fmt::Display for OAuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ExtensionName => {
                "an unsecuredLoginExtension_ name in sasl.jaas.config is not letters only, or is 'auth'"
            }
            Self::ExtensionValue => "an unsecuredLoginExtension_ value in sasl.jaas.config holds a control character",
            Self::MissingPrincipal => "sasl.jaas.config lacks unsecuredLoginStringClaim_sub (the principal)",
            Self::BadNumber => {
                "a number option in sasl.jaas.config (unsecuredLoginLifetimeSeconds or a number claim) does not parse"
            }
            Self::BufferTooSmall => "the unsecured token does not fit the buffer",
        })
    }
}

impl core::error::Error for OAuthError {}

/// Checks the extensions of `jaas` as Kafka's `SaslExtensions` does.
pub fn check_extensions(jaas: &JaasConfig<'_>) -> Result<(), OAuthError> {
    for (name, value) in extensions(jaas) {
        if name.is_empty() || name.eq_str("auth") || !name.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(OAuthError::ExtensionName);
        }
        if !value.chars().all(|c| matches!(c, '\x21'..='\x7e' | ' ' | '\t' | '\r' | '\n')) {
            return Err(OAuthError::ExtensionValue);
        }
    }
    Ok(())
}

/// Writes the client's initial response with `token` and the extensions of `jaas`.
pub fn write_initial_response(
    token: Text<'_>,
    jaas: Option<&JaasConfig<'_>>,
    out: &mut impl Sink,
) -> Result<(), EncodeError> {
    out.put(b"n,,\x01auth=Bearer ")?;
    token.for_each_piece(|p| out.put(p))?;
    for (name, value) in jaas.into_iter().flat_map(extensions) {
        out.put(b"\x01")?;
        name.for_each_piece(|p| out.put(p))?;
        out.put(b"=")?;
        value.for_each_piece(|p| out.put(p))?;
    }
    out.put(b"\x01\x01")
}

/// The client's answer to a server error challenge (RFC 7628 section 3.2.3): a lone `\x01`,
/// after which the server fails the exchange.
pub const ERROR_ACK: &[u8] = b"\x01";

/// Builds the unsecured JWT Java's `OAuthBearerUnsecuredLoginCallbackHandler` builds from the
/// `unsecuredLogin*` options of `jaas`, issued at `unix_ms` (wall time), into `out`; returns its
/// length. Header `{"alg":"none"}`; claims `exp`, `iat`, the string, number and list claims,
/// and an empty signature.
///
/// Up to Kafka 4.0 the broker's unsecured validator decodes with the standard base64 alphabet,
/// so a claims segment holding `-` or `_` is refused: the issue time moves back a second at a
/// time (and the JSON gains a leading space) until none appears.
pub fn unsecured_token(jaas: &JaasConfig<'_>, unix_ms: u64, out: &mut [u8]) -> Result<usize, OAuthError> {
    let principal = jaas.option("unsecuredLoginPrincipalClaimName").unwrap_or(Text::new("sub"));
    let has_principal = jaas
        .options()
        .any(|(k, _)| claim_name(k, "unsecuredLoginStringClaim_").is_some_and(|n| principal.chars().eq(n.chars())));
    if !has_principal {
        return Err(OAuthError::MissingPrincipal);
    }
    let lifetime = match jaas.option("unsecuredLoginLifetimeSeconds") {
        Some(v) => v.parse_u64().ok_or(OAuthError::BadNumber)?,
        None => 3600,
    };
    for (k, v) in jaas.options() {
        if claim_name(k, "unsecuredLoginNumberClaim_").is_some() && v.parse_u64().is_none() {
            return Err(OAuthError::BadNumber);
        }
    }
    let now = unix_ms / 1000;
    for attempt in 0..128u64 {
        let iat = now.saturating_sub(attempt / 2);
        let pad = if attempt % 2 == 1 { 1 } else { 0 };
        let len = encode_token(jaas, iat, iat.saturating_add(lifetime), pad, out)?;
        let claims = out[..len].split(|&b| b == b'.').nth(1).unwrap_or_default();
        if !claims.iter().any(|&b| b == b'-' || b == b'_') {
            return Ok(len);
        }
    }
    // No variant avoided the URL-safe characters (a claim value forces them): newer brokers
    // accept it as it is.
    let len = encode_token(jaas, now, now.saturating_add(lifetime), 0, out)?;
    Ok(len)
}

fn claim_name<'a>(key: Text<'a>, prefix: &str) -> Option<&'a str> {
    key.as_plain()?.strip_prefix(prefix).filter(|n| !n.is_empty())
}

/// `base64url({"alg":"none"}) "." base64url(claims) "."`.
fn encode_token(jaas: &JaasConfig<'_>, iat: u64, exp: u64, pad: usize, out: &mut [u8]) -> Result<usize, OAuthError> {
    let header = B64URL.encode_slice(br#"{"alg":"none"}"#, out).map_err(|_| OAuthError::BufferTooSmall)?;
    *out.get_mut(header).ok_or(OAuthError::BufferTooSmall)? = b'.';
    let mut claims = Base64Url::new(&mut out[header + 1..]);
    for _ in 0..pad {
        claims.put(b" ")?;
    }
    claims.put(b"{\"exp\":")?;
    claims.put_u64(exp)?;
    claims.put(b",\"iat\":")?;
    claims.put_u64(iat)?;
    for (k, v) in jaas.options() {
        if let Some(name) = claim_name(k, "unsecuredLoginStringClaim_") {
            claims.put_json_key(name)?;
            claims.put_json_string(v)?;
        } else if let Some(name) = claim_name(k, "unsecuredLoginNumberClaim_") {
            claims.put_json_key(name)?;
            v.for_each_piece(|p| claims.put(p))?;
        } else if let Some(name) = claim_name(k, "unsecuredLoginListClaim_") {
            // Java: the value's first character separates the items.
            claims.put_json_key(name)?;
            claims.put(b"[")?;
            let (raw, escaped) = v.raw();
            let mut chars = raw.chars();
            let sep = chars.next();
            let items = sep.map(|s| chars.as_str().split(s)).into_iter().flatten().filter(|i| !i.is_empty());
            for (n, item) in items.enumerate() {
                if n > 0 {
                    claims.put(b",")?;
                }
                claims.put_json_string(if escaped { Text::escaped(item) } else { Text::new(item) })?;
            }
            claims.put(b"]")?;
        }
    }
    claims.put(b"}")?;
    let n = claims.finish()?;
    let end = header + 1 + n;
    *out.get_mut(end).ok_or(OAuthError::BufferTooSmall)? = b'.';
    Ok(end + 1)
}

/// A base64url encoder that streams into a slice, three bytes at a time.
struct Base64Url<'o> {
    out: &'o mut [u8],
    len: usize,
    pending: [u8; 3],
    held: usize,
}

impl<'o> Base64Url<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Self { out, len: 0, pending: [0; 3], held: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), OAuthError> {
        for &b in bytes {
            self.pending[self.held] = b;
            self.held += 1;
            if self.held == 3 {
                self.flush()?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), OAuthError> {
        let n = B64URL
            .encode_slice(&self.pending[..self.held], &mut self.out[self.len..])
            .map_err(|_| OAuthError::BufferTooSmall)?;
        self.len += n;
        self.held = 0;
        Ok(())
    }

    fn put_u64(&mut self, v: u64) -> Result<(), OAuthError> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = v;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.put(&digits[i..])
    }

    fn put_json_key(&mut self, name: &str) -> Result<(), OAuthError> {
        self.put(b",")?;
        self.put_json_string(Text::new(name))?;
        self.put(b":")
    }

    fn put_json_string(&mut self, s: Text<'_>) -> Result<(), OAuthError> {
        self.put(b"\"")?;
        let mut utf8 = [0u8; 4];
        for c in s.chars() {
            match c {
                '"' => self.put(b"\\\"")?,
                '\\' => self.put(b"\\\\")?,
                c if (c as u32) < 0x20 => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let n = c as usize;
                    self.put(&[b'\\', b'u', b'0', b'0', HEX[n >> 4], HEX[n & 15]])?;
                }
                c => self.put(c.encode_utf8(&mut utf8).as_bytes())?,
            }
        }
        self.put(b"\"")
    }

    fn finish(mut self) -> Result<usize, OAuthError> {
        if self.held > 0 {
            self.flush()?;
        }
        Ok(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::SliceSink;

    const OPTS: &str = r#"org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="alice" unsecuredLoginListClaim_scope=",read,write" unsecuredLoginNumberClaim_n="7" unsecuredLoginExtension_traceId="abc" unsecuredLoginLifetimeSeconds="60";"#;

    #[test]
    fn initial_response_has_rfc7628_framing() {
        let jaas = JaasConfig::parse(OPTS).unwrap();
        let mut buf = [0u8; 128];
        let mut sink = SliceSink::new(&mut buf);
        write_initial_response(Text::new("tok.en."), Some(&jaas), &mut sink).unwrap();
        assert_eq!(sink.written(), b"n,,\x01auth=Bearer tok.en.\x01traceId=abc\x01\x01");
        check_extensions(&jaas).unwrap();
        let bad = JaasConfig::parse("m required unsecuredLoginExtension_auth=x;").unwrap();
        assert_eq!(check_extensions(&bad), Err(OAuthError::ExtensionName));
    }

    #[test]
    fn unsecured_token_decodes_to_the_claims() {
        let jaas = JaasConfig::parse(OPTS).unwrap();
        let mut buf = [0u8; 512];
        let n = unsecured_token(&jaas, 1_700_000_000_999, &mut buf).unwrap();
        let token = core::str::from_utf8(&buf[..n]).unwrap();
        let parts: alloc::vec::Vec<&str> = token.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[2], "");
        let decode = |s: &str| {
            let mut out = [0u8; 512];
            let n = B64URL.decode_slice(s, &mut out).unwrap();
            out[..n].to_vec()
        };
        assert_eq!(decode(parts[0]), br#"{"alg":"none"}"#);
        assert!(!parts[1].contains(['-', '_']));
        let claims: serde_json::Value = serde_json::from_slice(&decode(parts[1])).unwrap();
        let iat = claims["iat"].as_u64().unwrap();
        assert!((1_700_000_000 - 64..=1_700_000_000).contains(&iat));
        assert_eq!(claims["exp"].as_u64().unwrap(), iat + 60);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["scope"], serde_json::json!(["read", "write"]));
        assert_eq!(claims["n"], 7);
        let none = JaasConfig::parse("m required unsecuredLoginStringClaim_x=\"a\";").unwrap();
        assert_eq!(unsecured_token(&none, 0, &mut buf), Err(OAuthError::MissingPrincipal));
        assert_eq!(unsecured_token(&jaas, 0, &mut [0u8; 40]), Err(OAuthError::BufferTooSmall));
    }
}
