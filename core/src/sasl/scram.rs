//! SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802, RFC 7677), the client side, as Kafka speaks it:
//! no channel binding (`n,,`), the raw UTF-8 password (no SASLprep, as Kafka's `ScramFormatter`),
//! `tokenauth=true` for delegation tokens, and iterations within Kafka's 4096..=16384.
//!
//! The hashes, HMAC and PBKDF2 come from the RustCrypto crates (`sha2`, `hmac`, `pbkdf2`), which
//! build without std. Every server message is checked before use: the nonce must extend ours,
//! the salt and nonce have bounded lengths, and the server's signature is verified.

use core::fmt;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256, Sha512};

use super::text::Text;
use crate::wire::{EncodeError, Sink};

/// Fewest iterations accepted (RFC 7677's minimum; Kafka's `ScramMechanism`).
pub const MIN_ITERATIONS: u32 = 4096;
/// Most iterations accepted (Kafka's `ScramMechanism` maximum): bounds the work a broker can ask.
pub const MAX_ITERATIONS: u32 = 16_384;
/// Length of the client nonce (base64 of 18 random bytes).
pub const NONCE_LEN: usize = 24;
/// The longest combined nonce accepted from the server.
pub const MAX_NONCE: usize = 128;
/// The longest salt accepted (decoded).
pub const MAX_SALT: usize = 128;
/// The longest password (UTF-8 bytes) kprod hashes.
pub const MAX_PASSWORD: usize = 256;

/// Longest client-final message: `c=biws,r=` + nonce + `,p=` + base64 of a 64-byte proof.
const MAX_CLIENT_FINAL: usize = 9 + MAX_NONCE + 3 + 88;

/// The hash of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramHash {
    /// SCRAM-SHA-256.
    Sha256,
    /// SCRAM-SHA-512.
    Sha512,
}

/// Why a SCRAM exchange failed on the client side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramError {
    /// A server message that is not valid SCRAM.
    Malformed,
    /// The server nonce does not start with the client nonce, or is too long.
    Nonce,
    /// Iterations outside 4096..=16384.
    Iterations,
    /// The salt does not decode, or is longer than [`MAX_SALT`].
    Salt,
    /// The server asked for a mandatory extension (`m=`).
    MandatoryExtension,
    /// The server sent `e=<error>` (the engine reports the text).
    ServerError,
    /// The server's signature (`v=`) is wrong: it does not know the password.
    ServerSignature,
    /// The password is longer than [`MAX_PASSWORD`] bytes.
    PasswordTooLong,
}

impl fmt::Display for ScramError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "the broker sent a malformed SCRAM message",
            Self::Nonce => "the broker's SCRAM nonce does not extend the client nonce",
            Self::Iterations => "the broker's SCRAM iteration count is outside 4096..=16384",
            Self::Salt => "the broker's SCRAM salt is malformed or too long",
            Self::MandatoryExtension => "the broker requires a SCRAM extension kprod does not know",
            Self::ServerError => "the broker ended the SCRAM exchange with an error",
            Self::ServerSignature => "the broker's SCRAM signature is wrong (it does not know the password)",
            Self::PasswordTooLong => "the password in sasl.jaas.config is longer than 256 bytes",
        })
    }
}

impl core::error::Error for ScramError {}

/// The user's side of SCRAM: who, the password, and whether it is a delegation token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramUser<'a> {
    /// `username`.
    pub username: Text<'a>,
    /// `password` (or the delegation token's HMAC).
    pub password: super::Secret<'a>,
    /// `tokenauth=true`: authenticate with a delegation token.
    pub tokenauth: bool,
}

impl ScramUser<'_> {
    /// Hands `client-first-message-bare` to `out` in pieces: `n=<saslname>,r=<nonce>`, then
    /// `,tokenauth=true` for a delegation token. The saslname escapes `=` as `=3D` and `,` as
    /// `=2C`.
    fn bare_pieces<E>(&self, nonce: &[u8], out: &mut impl FnMut(&[u8]) -> Result<(), E>) -> Result<(), E> {
        out(b"n=")?;
        let mut utf8 = [0u8; 4];
        for c in self.username.chars() {
            match c {
                '=' => out(b"=3D")?,
                ',' => out(b"=2C")?,
                c => out(c.encode_utf8(&mut utf8).as_bytes())?,
            }
        }
        out(b",r=")?;
        out(nonce)?;
        if self.tokenauth {
            out(b",tokenauth=true")?;
        }
        Ok(())
    }

    /// Writes `client-first-message`: `n,,` and the bare message.
    pub fn write_client_first(&self, nonce: &[u8], out: &mut impl Sink) -> Result<(), EncodeError> {
        out.put(b"n,,")?;
        self.bare_pieces(nonce, &mut |p| out.put(p))
    }
}

/// The client-final message, ready to send, and the server signature that must come back.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientFinal {
    message: heapless::Vec<u8, MAX_CLIENT_FINAL>,
    server_signature: [u8; 64],
    signature_len: u8,
}

impl fmt::Debug for ClientFinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientFinal(<hidden>)")
    }
}

impl ClientFinal {
    /// `c=biws,r=<nonce>,p=<proof>`.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// Checks the server-final message: `v=<signature>` must match; `e=<error>` is
    /// [`ScramError::ServerError`].
    pub fn verify_server_final(&self, server_final: &[u8]) -> Result<(), ScramError> {
        let first = server_final.split(|&b| b == b',').next().unwrap_or_default();
        if first.starts_with(b"e=") {
            return Err(ScramError::ServerError);
        }
        let sig = first.strip_prefix(b"v=").ok_or(ScramError::Malformed)?;
        let mut decoded = [0u8; 64];
        let n = B64.decode_slice(sig, &mut decoded).map_err(|_| ScramError::ServerSignature)?;
        let expected = &self.server_signature[..usize::from(self.signature_len)];
        // Compare every byte: the time taken says nothing about where they differ.
        let differ = decoded[..n].len() != expected.len()
            || decoded[..n].iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) != 0;
        if differ {
            return Err(ScramError::ServerSignature);
        }
        Ok(())
    }
}

/// The text after `e=` in a server-final message, if it is one.
pub fn server_error(server_final: &[u8]) -> Option<&[u8]> {
    server_final.split(|&b| b == b',').next()?.strip_prefix(b"e=")
}

/// Answers the server-first message `r=<nonce>,s=<salt>,i=<iterations>`: derives the salted
/// password (PBKDF2), signs the exchange, and returns the client-final message with the
/// signature the server must prove.
pub fn client_final(
    hash: ScramHash,
    user: &ScramUser<'_>,
    client_nonce: &[u8],
    server_first: &[u8],
) -> Result<ClientFinal, ScramError> {
    let sf = ServerFirst::parse(server_first)?;
    if !sf.nonce.starts_with(client_nonce) || sf.nonce.len() <= client_nonce.len() || sf.nonce.len() > MAX_NONCE {
        return Err(ScramError::Nonce);
    }
    if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&sf.iterations) {
        return Err(ScramError::Iterations);
    }
    let mut salt = [0u8; MAX_SALT];
    let salt_len = B64.decode_slice(sf.salt, &mut salt).map_err(|_| ScramError::Salt)?;
    let mut password = [0u8; MAX_PASSWORD];
    let password = user.password.expose().copy_to(&mut password).ok_or(ScramError::PasswordTooLong)?;
    let exchange = Exchange { user, client_nonce, server_first, nonce: sf.nonce };
    Ok(match hash {
        ScramHash::Sha256 => exchange.sign::<Sha256>(password, &salt[..salt_len], sf.iterations),
        ScramHash::Sha512 => exchange.sign::<Sha512>(password, &salt[..salt_len], sf.iterations),
    })
}

struct ServerFirst<'a> {
    nonce: &'a [u8],
    salt: &'a [u8],
    iterations: u32,
}

impl<'a> ServerFirst<'a> {
    fn parse(msg: &'a [u8]) -> Result<Self, ScramError> {
        if msg.starts_with(b"m=") {
            return Err(ScramError::MandatoryExtension);
        }
        let mut parts = msg.split(|&b| b == b',');
        let mut attr = |name: &[u8]| parts.next().and_then(|p| p.strip_prefix(name)).ok_or(ScramError::Malformed);
        let nonce = attr(b"r=")?;
        let salt = attr(b"s=")?;
        let iterations = attr(b"i=")?;
        let iterations =
            core::str::from_utf8(iterations).ok().and_then(|s| s.parse().ok()).ok_or(ScramError::Iterations)?;
        // The nonce is printable ASCII without ',' (RFC 5802).
        if nonce.iter().any(|&b| !(0x21..=0x7e).contains(&b)) {
            return Err(ScramError::Nonce);
        }
        Ok(Self { nonce, salt, iterations })
    }
}

/// One exchange's messages, which make up the AuthMessage both sides sign.
struct Exchange<'e, 'a> {
    user: &'e ScramUser<'a>,
    client_nonce: &'e [u8],
    server_first: &'e [u8],
    /// The combined nonce.
    nonce: &'e [u8],
}

impl Exchange<'_, '_> {
    /// `AuthMessage = client-first-bare "," server-first "," client-final-without-proof`.
    fn auth_message(&self, mac: &mut impl Mac) {
        let _ = self.user.bare_pieces::<()>(self.client_nonce, &mut |p| {
            mac.update(p);
            Ok(())
        });
        for p in [&b","[..], self.server_first, b",c=biws,r=", self.nonce] {
            mac.update(p);
        }
    }

    fn sign<D: EagerHash + Digest>(&self, password: &[u8], salt: &[u8], iterations: u32) -> ClientFinal {
        let n = <D as Digest>::output_size();
        let mut salted = [0u8; 64];
        pbkdf2::pbkdf2_hmac::<D>(password, salt, iterations, &mut salted[..n]);
        let client_key = hmac_of::<D>(&salted[..n], |m| m.update(b"Client Key"));
        let stored_key = D::digest(&client_key[..n]);
        let client_signature = hmac_of::<D>(&stored_key, |m| self.auth_message(m));
        let server_key = hmac_of::<D>(&salted[..n], |m| m.update(b"Server Key"));
        let server_signature = hmac_of::<D>(&server_key[..n], |m| self.auth_message(m));
        let mut proof = [0u8; 64];
        for (i, p) in proof[..n].iter_mut().enumerate() {
            *p = client_key[i] ^ client_signature[i];
        }
        let mut message = heapless::Vec::new();
        let mut proof_b64 = [0u8; 88];
        // 64 bytes encode to 88 base64 characters, and the nonce was capped: both fit.
        let proof_len = B64.encode_slice(&proof[..n], &mut proof_b64).unwrap_or(0);
        for p in [&b"c=biws,r="[..], self.nonce, b",p=", &proof_b64[..proof_len]] {
            let _ = message.extend_from_slice(p);
        }
        // `n` is 32 or 64.
        ClientFinal { message, server_signature, signature_len: n as u8 }
    }
}

/// HMAC-`D` keyed with `key` over what `feed` writes, in a 64-byte array (first
/// `output_size` bytes used).
fn hmac_of<D: EagerHash + Digest>(key: &[u8], feed: impl FnOnce(&mut Hmac<D>)) -> [u8; 64] {
    // HMAC takes a key of any length (longer keys are hashed first), so this cannot fail.
    let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).expect("HMAC accepts any key length");
    feed(&mut mac);
    let tag = mac.finalize().into_bytes();
    let mut out = [0u8; 64];
    out[..tag.len()].copy_from_slice(&tag);
    out
}

/// A client nonce: base64 of 18 bytes of HMAC-SHA-256 keyed with the driver's entropy over a
/// counter, so nonces never repeat and cannot be predicted without the key.
pub fn nonce(key: &[u8; 32], counter: u64) -> [u8; NONCE_LEN] {
    let tag = hmac_of::<Sha256>(key, |m| m.update(&counter.to_le_bytes()));
    let mut out = [0u8; NONCE_LEN];
    // 18 bytes encode to exactly 24 characters.
    let _ = B64.encode_slice(&tag[..18], &mut out);
    out
}

/// A new nonce key from the current one and more entropy: HMAC-SHA-256 keyed with the current
/// key over the new bytes, so entropy accumulates and none is lost.
pub fn mix_entropy(key: &[u8; 32], entropy: &[u8]) -> [u8; 32] {
    let tag = hmac_of::<Sha256>(key, |m| m.update(entropy));
    let mut out = [0u8; 32];
    out.copy_from_slice(&tag[..32]);
    out
}

#[cfg(test)]
mod tests;
