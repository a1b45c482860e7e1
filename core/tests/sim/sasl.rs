//! Authenticating brokers: the broker side of SaslHandshake and SaslAuthenticate, per link,
//! written here from the RFCs (a SCRAM server on the RustCrypto crates, PLAIN, OAUTHBEARER with
//! its error challenge), independent of the engine's client code.
//!
//! Every request other than ApiVersions on a link that has not authenticated is a violation
//! (the engine must not send Metadata or Produce before). A session lifetime makes the engine
//! re-authenticate; a request arriving after the session ended closes the link, as Kafka does
//! (latency can make that happen legitimately). One broker may refuse every authentication,
//! as a broker without the user's SCRAM credentials does: records led by it fail with
//! `DeliveryError::Authentication`, the others are delivered.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{EagerHash, Hmac, KeyInit, Mac};
use kprod_core::protocol::sasl_authenticate::{SaslAuthenticateRequest, SaslAuthenticateResponse};
use kprod_core::protocol::sasl_handshake::{SaslHandshakeRequest, SaslHandshakeResponseData};
use kprod_core::protocol::{ApiKey, DecodeRequest, ErrorCode, RequestHeader};
use kprod_core::sasl::{JaasConfig, Mechanism, SaslConfig, Secret};
use kprod_core::time::Instant;
use sha2::{Digest, Sha256, Sha512};

use super::broker::{respond, Reply};
use super::rng::SimRng;

const USER: &str = "alice";
const PASSWORD: &str = "alice-secret";
const TOKEN: &str = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
const SALT: &[u8] = b"sim-salt";
const ITERATIONS: u32 = 4096;
pub const REFUSED: &str = "Authentication failed during authentication due to invalid credentials with SASL mechanism";

/// The SASL setup of a scenario.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimSasl {
    /// What the engine uses.
    pub mechanism: Mechanism,
    /// What the brokers enable.
    pub enabled: Vec<Mechanism>,
    /// The session lifetime the brokers give, ms (0: none).
    pub session_ms: i64,
    /// A broker that refuses every authentication.
    pub refuse_node: Option<i32>,
}

impl SimSasl {
    /// A draw: mostly PLAIN and OAUTHBEARER, 1 in 20 SCRAM (PBKDF2 is slow in debug builds), often
    /// with a short session, sometimes a refusing broker or a mechanism the brokers lack.
    pub fn random(rng: &mut SimRng, brokers: usize) -> Self {
        let mechanism = match rng.below(40) {
            0 => Mechanism::ScramSha256,
            1 => Mechanism::ScramSha512,
            2..=15 => Mechanism::OAuthBearer,
            _ => Mechanism::Plain,
        };
        let mut enabled =
            vec![Mechanism::Plain, Mechanism::ScramSha256, Mechanism::ScramSha512, Mechanism::OAuthBearer];
        if rng.chance(30) {
            enabled.retain(|&m| m != mechanism);
        }
        let session_ms = if rng.chance(500) { rng.range(20, 2000) as i64 } else { 0 };
        let refuse_node = rng.chance(150).then(|| rng.below(brokers as u64) as i32);
        Self { mechanism, enabled, session_ms, refuse_node }
    }

    /// The engine's settings: the Java client's JAAS lines.
    pub fn config(&self) -> SaslConfig<'static> {
        let jaas = match self.mechanism {
            Mechanism::Plain => {
                r#"org.apache.kafka.common.security.plain.PlainLoginModule required username="alice" password="alice-secret";"#
            }
            Mechanism::OAuthBearer => {
                "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub=\"alice\";"
            }
            _ => r#"org.apache.kafka.common.security.scram.ScramLoginModule required username="alice" password="alice-secret";"#,
        };
        let token = (self.mechanism == Mechanism::OAuthBearer).then_some(Secret::new(TOKEN));
        let jaas = Some(JaasConfig::parse(jaas).expect("the sim's JAAS line parses"));
        SaslConfig { enabled: true, mechanism: Some(self.mechanism), jaas, token, ..SaslConfig::default() }
    }

    /// Whether every broker refuses (then no record can be delivered).
    pub fn refuses_all(&self, brokers: usize) -> bool {
        !self.enabled.contains(&self.mechanism) || (brokers == 1 && self.refuse_node.is_some())
    }
}

/// One link's authentication, broker side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum LinkAuth {
    /// Nothing yet.
    #[default]
    Fresh,
    /// SaslHandshake named this mechanism.
    Handshaken(Mechanism),
    /// SCRAM server-first sent: the AuthMessage so far and the combined nonce.
    Scram { auth_message: String, nonce: String },
    /// OAUTHBEARER error challenge sent: the client must answer `\x01`.
    OAuthChallenged,
    /// Authenticated until this instant (`None`: no lifetime).
    Authed(Option<Instant>),
    /// Refused: only a new link can try again.
    Refused,
}

/// Handles a frame on a SASL link when it is SASL's business: SaslHandshake and
/// SaslAuthenticate, and any other request before authentication (a violation) or after the
/// session (the broker closes). `None`: the cluster handles it.
pub fn intercept(
    sasl: &Option<SimSasl>,
    auth: &mut LinkAuth,
    node: i32,
    frame: &[u8],
    now: Instant,
    violations: &mut Vec<String>,
) -> Option<(ApiKey, Reply)> {
    let sasl = sasl.as_ref()?;
    let (header, body) = RequestHeader::decode(frame).ok()?;
    let (api, v, corr) = (header.api_key, header.api_version, header.correlation_id);
    match api {
        ApiKey::ApiVersions => None,
        ApiKey::SaslHandshake => Some((api, handshake(sasl, auth, v, corr, body, violations))),
        ApiKey::SaslAuthenticate => Some((api, authenticate(sasl, auth, node, v, corr, body, now, violations))),
        _ => match auth {
            LinkAuth::Authed(Some(end)) if *end <= now => Some((api, Reply::Close)),
            LinkAuth::Authed(_) => None,
            _ => {
                violations.push(format!("{api:?} before authentication completed ({auth:?})"));
                Some((api, Reply::Close))
            }
        },
    }
}

fn handshake(
    sasl: &SimSasl,
    auth: &mut LinkAuth,
    v: i16,
    corr: i32,
    body: &[u8],
    violations: &mut Vec<String>,
) -> Reply {
    let Ok(req) = SaslHandshakeRequest::decode(v, body) else {
        violations.push("SaslHandshake does not decode".into());
        return Reply::Close;
    };
    if v < 1 {
        violations.push(format!("SaslHandshake v{v}: kprod must use v1 (KIP-152)"));
    }
    if !matches!(auth, LinkAuth::Fresh | LinkAuth::Authed(_)) {
        violations.push(format!("SaslHandshake in state {auth:?}"));
        return Reply::Close;
    }
    let names: Vec<&str> = sasl.enabled.iter().map(|m| m.name()).collect();
    let code = match Mechanism::from_name(req.mechanism).filter(|m| sasl.enabled.contains(m)) {
        Some(m) => {
            *auth = LinkAuth::Handshaken(m);
            ErrorCode::None
        }
        None => ErrorCode::UnsupportedSaslMechanism,
    };
    respond(v, corr, &SaslHandshakeResponseData { error_code: code, mechanisms: &names })
}

#[allow(clippy::too_many_arguments)]
fn authenticate(
    sasl: &SimSasl,
    auth: &mut LinkAuth,
    node: i32,
    v: i16,
    corr: i32,
    body: &[u8],
    now: Instant,
    violations: &mut Vec<String>,
) -> Reply {
    let Ok(req) = SaslAuthenticateRequest::decode(v, body) else {
        violations.push("SaslAuthenticate does not decode".into());
        return Reply::Close;
    };
    let bytes = req.auth_bytes;
    let refused = sasl.refuse_node == Some(node);
    let fail = |auth: &mut LinkAuth, m: Mechanism| {
        *auth = LinkAuth::Refused;
        let message = format!("{REFUSED} {}", m.name());
        answer(v, corr, ErrorCode::SaslAuthenticationFailed, Some(&message), b"", 0)
    };
    let done = |auth: &mut LinkAuth, server_bytes: &[u8]| {
        let lifetime = sasl.session_ms;
        *auth = LinkAuth::Authed((lifetime > 0).then(|| now + core::time::Duration::from_millis(lifetime as u64)));
        answer(v, corr, ErrorCode::None, None, server_bytes, lifetime)
    };
    match core::mem::take(auth) {
        LinkAuth::Handshaken(m @ Mechanism::Plain) => {
            if refused || bytes != format!("\0{USER}\0{PASSWORD}").as_bytes() {
                return fail(auth, m);
            }
            done(auth, b"")
        }
        LinkAuth::Handshaken(m @ Mechanism::OAuthBearer) => {
            if bytes != format!("n,,\x01auth=Bearer {TOKEN}\x01\x01").as_bytes() {
                violations.push(format!("OAUTHBEARER initial response {:?}", String::from_utf8_lossy(bytes)));
            }
            if refused {
                *auth = LinkAuth::OAuthChallenged;
                return answer(v, corr, ErrorCode::None, None, br#"{"status":"invalid_token"}"#, 0);
            }
            let _ = m;
            done(auth, b"")
        }
        LinkAuth::OAuthChallenged => {
            if bytes != b"\x01" {
                violations.push("OAUTHBEARER error challenge not answered with \\x01".into());
            }
            fail(auth, Mechanism::OAuthBearer)
        }
        LinkAuth::Handshaken(m) => {
            let Some((bare, client_nonce)) = client_first(bytes) else {
                violations.push(format!("SCRAM client-first {:?}", String::from_utf8_lossy(bytes)));
                return Reply::Close;
            };
            let nonce = format!("{client_nonce}srv{}", now.as_micros());
            let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(SALT));
            let auth_message = format!("{bare},{server_first},c=biws,r={nonce}");
            *auth = LinkAuth::Scram { auth_message, nonce };
            let _ = m;
            answer(v, corr, ErrorCode::None, None, server_first.as_bytes(), 0)
        }
        LinkAuth::Scram { auth_message, nonce } => {
            let m = sasl.mechanism;
            let prefix = format!("c=biws,r={nonce},p=");
            let Some(proof) = bytes.strip_prefix(prefix.as_bytes()).and_then(|p| B64.decode(p).ok()) else {
                violations.push(format!("SCRAM client-final {:?}", String::from_utf8_lossy(bytes)));
                return Reply::Close;
            };
            let verified = match m {
                Mechanism::ScramSha512 => scram_verify::<Sha512>(&auth_message, &proof),
                _ => scram_verify::<Sha256>(&auth_message, &proof),
            };
            match verified {
                Some(signature) if !refused => done(auth, format!("v={}", B64.encode(signature)).as_bytes()),
                Some(_) => fail(auth, m),
                None => {
                    violations.push("SCRAM client proof does not verify".into());
                    fail(auth, m)
                }
            }
        }
        other => {
            violations.push(format!("SaslAuthenticate in state {other:?}"));
            Reply::Close
        }
    }
}

/// `n,,n=<user>,r=<nonce>` → (the bare message, the nonce).
fn client_first(bytes: &[u8]) -> Option<(String, String)> {
    let text = core::str::from_utf8(bytes).ok()?;
    let bare = text.strip_prefix("n,,")?;
    let nonce = bare.strip_prefix(&format!("n={USER},r="))?;
    (!nonce.is_empty() && !nonce.contains(',')).then(|| (bare.to_owned(), nonce.to_owned()))
}

/// Checks the client proof (RFC 5802: `H(proof XOR ClientSignature) == StoredKey`) and returns
/// the server signature.
fn scram_verify<D: EagerHash + Digest>(auth_message: &str, proof: &[u8]) -> Option<Vec<u8>> {
    // The broker stores the salted password once (Kafka keeps StoredKey and ServerKey).
    thread_local! {
        static SALTED: core::cell::RefCell<alloc::collections::BTreeMap<usize, Vec<u8>>> = Default::default();
    }
    let size = <D as Digest>::output_size();
    let salted = SALTED.with(|m| {
        m.borrow_mut()
            .entry(size)
            .or_insert_with(|| {
                let mut salted = vec![0u8; size];
                pbkdf2::pbkdf2_hmac::<D>(PASSWORD.as_bytes(), SALT, ITERATIONS, &mut salted);
                salted
            })
            .clone()
    });
    let hmac = |key: &[u8], data: &[u8]| {
        let mut mac = <Hmac<D> as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    };
    let stored_key = D::digest(hmac(&salted, b"Client Key")).to_vec();
    let client_signature = hmac(&stored_key, auth_message.as_bytes());
    if proof.len() != client_signature.len() {
        return None;
    }
    let client_key: Vec<u8> = proof.iter().zip(&client_signature).map(|(a, b)| a ^ b).collect();
    if D::digest(&client_key).to_vec() != stored_key {
        return None;
    }
    Some(hmac(&hmac(&salted, b"Server Key"), auth_message.as_bytes()))
}

fn answer(v: i16, corr: i32, error_code: ErrorCode, message: Option<&str>, auth_bytes: &[u8], lifetime: i64) -> Reply {
    let body =
        SaslAuthenticateResponse { error_code, error_message: message, auth_bytes, session_lifetime_ms: lifetime };
    respond(v, corr, &body)
}
